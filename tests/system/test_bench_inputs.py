# SPDX-License-Identifier: MIT
"""What the W6/W7 benchmarks stand on (bench/README.md):

- the network lab serves a directory in place (NetLab(serve_dirs=...)):
  every file of it fetched over http and https, digests checked against
  hashlib of the files; a directory nginx's workers (user nobody) cannot
  read is refused before anything starts, with the directory to fix named,
  and nothing is left behind;
- bench/peers/package-lock.json is in sync with package.json, so the
  bench's `npm ci` installs from it (checked offline: `npm ci --dry-run
  --offline` checks the lock before it would fetch anything).

The lab test needs root and `ip netns` (skipped with the reason
otherwise); the lock test needs npm."""

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "netlab"))
import netlab  # noqa: E402


@pytest.fixture
def served_dir():
    """A directory of 40 files (one in a subdirectory), readable by
    others, removed afterwards."""
    d = tempfile.mkdtemp(prefix="celeriac-test-serve-")
    os.chmod(d, 0o755)
    files = {"f%02d.bin" % i: os.urandom(1000 + 997 * i) for i in range(40)}
    files["sub/deep.bin"] = os.urandom(70000)
    os.mkdir(os.path.join(d, "sub"), 0o755)
    for name, data in files.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
        os.chmod(os.path.join(d, name), 0o644)
    yield d, files
    shutil.rmtree(d, ignore_errors=True)


def _fetch(url, context=None):
    with urllib.request.urlopen(url, timeout=60, context=context) as resp:
        assert resp.status == 200, (url, resp.status)
        return resp.read()


def test_lab_serves_a_directory_in_place(served_dir):
    why = netlab.unavailable()
    if why:
        pytest.skip(why)
    d, files = served_dir
    try:
        lab = netlab.NetLab(rtt_ms=0, serve_dirs={"w6": d}).start()
    except netlab.NetLabUnavailable as e:
        pytest.skip(str(e))
    with lab:
        name, host_if = lab.name, lab.host_if
        ctx = lab.ssl_context()
        for path in files:
            with open(os.path.join(d, path), "rb") as f:
                want = hashlib.sha512(f.read()).hexdigest()
            for url, c in ((lab.url("w6/" + path), None),
                           (lab.url("w6/" + path, https=True), ctx)):
                got = hashlib.sha512(_fetch(url, c)).hexdigest()
                assert got == want, "%s: %s, file %s" % (url, got[:16],
                                                          want[:16])
        # Served in place: a file written there now is served at once.
        with open(os.path.join(d, "late.bin"), "wb") as f:
            f.write(b"late")
        os.chmod(os.path.join(d, "late.bin"), 0o644)
        assert _fetch(lab.url("w6/late.bin")) == b"late"
    assert name not in subprocess.run(["ip", "netns", "list"],
                                      capture_output=True,
                                      text=True).stdout.split()
    assert subprocess.run(["ip", "link", "show", host_if],
                          capture_output=True).returncode != 0


def test_lab_refuses_a_directory_nobody_cannot_read(served_dir):
    why = netlab.unavailable()
    if why:
        pytest.skip(why)
    d, _ = served_dir
    os.chmod(d, 0o700)
    lab = netlab.NetLab(rtt_ms=0, serve_dirs={"w6": d})
    with pytest.raises(netlab.NetLabError) as e:
        lab.start()
    assert d in str(e.value) and "chmod o+rx" in str(e.value), e.value
    assert lab.dir is None and lab.name is None, "the lab was set up"
    # No namespace of this process (other labs may run at the same time).
    mine = "-%d" % os.getpid()
    left = subprocess.run(["ip", "netns", "list"], capture_output=True,
                          text=True).stdout.split()
    assert not [n for n in left if n.startswith(netlab.NS_PREFIX)
                and n.endswith(mine)], left


def test_bench_npm_lock_is_in_sync(tmp_path):
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (bench/setup.sh installs it)")
    for f in ("package.json", "package-lock.json"):
        shutil.copy(os.path.join(ROOT, "bench", "peers", f), tmp_path / f)
    r = subprocess.run(["npm", "ci", "--dry-run", "--offline", "--no-audit",
                        "--no-fund", "--loglevel=error"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, "npm ci refuses bench/peers/package-lock." \
        "json:\n" + (r.stdout + r.stderr)[:1500]
    assert not (tmp_path / "node_modules").exists()
