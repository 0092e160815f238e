#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keeps the documentation true of the code: the man pages in man/ must be
# what scripts/mkman.py makes of today's --help of celeriac-worker and of
# every celeriac command (and of PROTOCOL.md), protocol/PROTOCOL.md must
# quote the finish, beat lease and beat fire scripts of protocol/scripts.c
# and the purge script verbatim, and README.md must
# have its tour (which tests/system/test_readme_tour.py runs) and its
# install-and-systemd section (which make systemd-test runs).  Usage:
# scripts/check-docs.sh [BIN_DIR] (default bin/, built
# with make first).  Prints "check-docs: N passed, N failed".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/bin}
if [ ! -x "$BIN/celeriac-worker" ] || [ ! -x "$BIN/celeriac" ]; then
    echo "check-docs: no binaries in $BIN; run make first" >&2
    exit 2
fi

/usr/bin/python3 - "$ROOT" "$BIN" <<'EOF'
import difflib
import os
import re
import subprocess
import sys
import tempfile

root, bindir = sys.argv[1], sys.argv[2]
passed = failed = 0


def check(ok, what):
    global passed, failed
    print(("ok   " if ok else "FAIL ") + what)
    if ok:
        passed += 1
    else:
        failed += 1


def blocks(text):
    """The contents of every ``` fenced block."""
    return re.findall(r"^```[a-z]*\n(.*?)^```", text, re.S | re.M)


# The man pages are generated from --help (scripts/mkman.py, which finds
# every command in `celeriac --help`): regenerate them and compare.
with tempfile.TemporaryDirectory() as tmp:
    p = subprocess.run([sys.executable, root + "/scripts/mkman.py",
                        "--bin", bindir, "--out", tmp],
                       capture_output=True, text=True)
    check(p.returncode == 0, "scripts/mkman.py runs" +
          ("" if p.returncode == 0 else ":\n" + p.stderr))
    for name in sorted(os.listdir(tmp)):
        path = os.path.join(root, "man", name)
        have = open(path).read() if os.path.exists(path) else None
        new = open(os.path.join(tmp, name)).read()
        diff = "" if have == new else "".join(list(difflib.unified_diff(
            (have or "").splitlines(True), new.splitlines(True),
            "man/" + name, "generated"))[:40])
        check(have == new, "man/%s is in step with its source%s" % (
            name, "" if have == new else
            " (run `make man` and commit it):\n" + diff))

# The README's tour (run by tests/system/test_readme_tour.py).
readme = open(root + "/README.md").read()
tour = re.search(r"^<!-- tour: begin -->\n(.*?)^<!-- tour: end -->",
                 readme, re.S | re.M)
check(tour is not None and "```sh" in tour.group(1),
      "README.md has the tour between <!-- tour: begin --> and "
      "<!-- tour: end -->")
# Its install-and-systemd section (run by tests/systemd/check.sh, make
# systemd-test): its markers, its ```sh blocks, and the systemctl and
# journalctl steps the test relies on.
inst = re.search(r"^<!-- tour-install: begin -->\n(.*?)^<!-- tour-install: end -->",
                 readme, re.S | re.M)
check(inst is not None and "```sh" in inst.group(1) and
      all(w in inst.group(1) for w in ("make install", "systemctl enable --now",
                                       "journalctl -u")),
      "README.md has the install-and-systemd section between "
      "<!-- tour-install: begin --> and <!-- tour-install: end -->, with "
      "make install, systemctl enable --now and journalctl -u")

src = open(root + "/protocol/scripts.c").read()
m = re.search(r"const char scripts_finish\[\] =\n(.*?);\n", src, re.S)
lua = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
lua = lua.encode().decode("unicode_escape")
proto = open(root + "/protocol/PROTOCOL.md").read()
check(lua in blocks(proto), "PROTOCOL.md quotes scripts_finish verbatim")
for name in ("scripts_beat_lease", "scripts_beat_start",
             "scripts_beat_fire"):
    m = re.search(r"const char %s\[\] =\n(.*?);\n" % name, src, re.S)
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    text = text.encode().decode("unicode_escape")
    check(text in blocks(proto), "PROTOCOL.md quotes %s verbatim" % name)

src = open(root + "/producer/purge.c").read()
m = re.search(r"static const char purge_script\[\] =\n(.*?);\n", src, re.S)
lua = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
lua = lua.encode().decode("unicode_escape")
check(lua in blocks(proto), "PROTOCOL.md quotes the purge script verbatim")

print("check-docs: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
