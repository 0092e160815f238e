#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Keeps the documentation true of the code: README.md must quote the --help
# of celeriac-worker and of every celeriac command verbatim, and
# protocol/PROTOCOL.md must quote the finish script of protocol/scripts.c
# (and the beat lease and fire scripts)
# verbatim.  Usage: scripts/check-docs.sh [BIN_DIR] (default bin/, built
# with make first).  Prints "check-docs: N passed, N failed".
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${1:-$ROOT/bin}
if [ ! -x "$BIN/celeriac-worker" ] || [ ! -x "$BIN/celeriac" ]; then
    echo "check-docs: no binaries in $BIN; run make first" >&2
    exit 2
fi

/usr/bin/python3 - "$ROOT" "$BIN" <<'EOF'
import re
import subprocess
import sys

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


def cores(text):
    """The worker's help names this machine's core count; ignore it."""
    return re.sub(r"online cores, \d+ here", "online cores, N here", text)


readme = open(root + "/README.md").read()
quoted = [cores(b) for b in blocks(readme)]
for argv in (["celeriac-worker", "--help"], ["celeriac", "--help"],
             ["celeriac", "send", "--help"], ["celeriac", "hash", "--help"],
             ["celeriac", "status", "--help"], ["celeriac", "dead", "--help"],
             ["celeriac", "beat", "--help"]):
    out = subprocess.run([bindir + "/" + argv[0]] + argv[1:],
                         capture_output=True, text=True).stdout
    check(cores(out) in quoted, "README.md quotes `%s` verbatim" % " ".join(argv))

src = open(root + "/protocol/scripts.c").read()
m = re.search(r"const char scripts_finish\[\] =\n(.*?);\n", src, re.S)
lua = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
lua = lua.encode().decode("unicode_escape")
proto = open(root + "/protocol/PROTOCOL.md").read()
check(lua in blocks(proto), "PROTOCOL.md quotes scripts_finish verbatim")
for name in ("scripts_beat_lease", "scripts_beat_fire"):
    m = re.search(r"const char %s\[\] =\n(.*?);\n" % name, src, re.S)
    text = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1)))
    text = text.encode().decode("unicode_escape")
    check(text in blocks(proto), "PROTOCOL.md quotes %s verbatim" % name)

print("check-docs: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
EOF
