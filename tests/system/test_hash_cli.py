# SPDX-License-Identifier: MIT
"""`celeriac hash` is a drop-in for coreutils sha512sum/sha256sum: the same
bytes on stdout for the same files (empty, one byte, 5 MiB of random
bytes, names with a space, a backslash or a newline, standard input), and
-c check mode with the same OK and FAILED lines and exit status."""

import hashlib
import os
import subprocess
import threading
import time

import pytest

from harness import QUEUE, pending_count

NAMES = {
    "empty": b"",
    "one": b"x",
    "random.bin": os.urandom(5 * 1024 * 1024),
    "with space.txt": b"a file whose name has a space\n",
    "back\\slash.txt": b"a file whose name has a backslash\n",
    "new\nline.txt": b"a file whose name has a newline\n",
}


@pytest.fixture
def files(tmp_dir):
    for name, data in NAMES.items():
        with open(os.path.join(tmp_dir, name), "wb") as f:
            f.write(data)
    return sorted(NAMES)


def coreutils(tool, *args, cwd, input=None):
    return subprocess.run([tool] + list(args), cwd=cwd, input=input,
                          capture_output=True)


@pytest.mark.parametrize("algo,tool", [("sha512", "sha512sum"),
                                       ("sha256", "sha256sum")])
def test_same_output_as_coreutils(algo, tool, r, worker, celeriac, files,
                                  tmp_dir):
    worker()
    args = [] if algo == "sha512" else ["-a", algo]
    want = coreutils(tool, *files, cwd=tmp_dir)
    assert want.returncode == 0
    got = celeriac("hash", *(args + files), cwd=tmp_dir)
    assert got.rc == 0, got
    assert got.stdout == want.stdout, (got.stdout, want.stdout)
    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0


def test_one_file_at_a_time(r, worker, celeriac, files, tmp_dir):
    worker()
    for name in files:
        want = coreutils("sha512sum", name, cwd=tmp_dir)
        got = celeriac("hash", name, cwd=tmp_dir)
        assert got.rc == 0, got
        assert got.stdout == want.stdout, name


def test_paths_as_given(r, worker, celeriac, files, tmp_dir):
    """Absolute and ./ paths are printed as written."""
    worker()
    paths = ["./one", os.path.join(tmp_dir, "with space.txt")]
    want = coreutils("sha512sum", *paths, cwd=tmp_dir)
    got = celeriac("hash", *paths, cwd=tmp_dir)
    assert got.rc == 0, got
    assert got.stdout == want.stdout


def test_stdin(r, worker, celeriac, tmp_dir):
    worker()
    data = os.urandom(100000)
    want = coreutils("sha512sum", cwd=tmp_dir, input=data)
    got = celeriac("hash", input=data)
    assert got.rc == 0, got
    assert got.stdout == want.stdout  # "<hex>  -"
    got = celeriac("hash", "-", input=data)
    assert got.stdout == want.stdout
    empty = coreutils("sha256sum", cwd=tmp_dir, input=b"")
    got = celeriac("hash", "-a", "sha256", input=b"")
    assert got.rc == 0, got
    assert got.stdout == empty.stdout


def sums_file(tool, files, tmp_dir):
    out = coreutils(tool, *files, cwd=tmp_dir)
    assert out.returncode == 0
    path = os.path.join(tmp_dir, "SUMS")
    with open(path, "wb") as f:
        f.write(out.stdout)
    return "SUMS"


def test_check_ok(r, worker, celeriac, files, tmp_dir):
    worker()
    sums = sums_file("sha512sum", files, tmp_dir)
    want = coreutils("sha512sum", "-c", sums, cwd=tmp_dir)
    assert want.returncode == 0
    got = celeriac("hash", "-c", sums, cwd=tmp_dir)
    assert got.rc == 0, got
    assert got.stdout == want.stdout, (got.stdout, want.stdout)


def test_check_ok_sha256(r, worker, celeriac, files, tmp_dir):
    worker()
    sums = sums_file("sha256sum", files, tmp_dir)
    want = coreutils("sha256sum", "-c", sums, cwd=tmp_dir)
    got = celeriac("hash", "-a", "sha256", "-c", sums, cwd=tmp_dir)
    assert got.rc == 0, got
    assert got.stdout == want.stdout


def test_check_failed(r, worker, celeriac, files, tmp_dir):
    worker()
    sums = sums_file("sha512sum", files, tmp_dir)
    with open(os.path.join(tmp_dir, "one"), "wb") as f:
        f.write(b"y")  # changed after the sums were taken
    want = coreutils("sha512sum", "-c", sums, cwd=tmp_dir)
    assert want.returncode == 1
    got = celeriac("hash", "-c", sums, cwd=tmp_dir)
    assert got.rc == 1, got
    assert got.stdout == want.stdout, (got.stdout, want.stdout)
    assert b"one: FAILED\n" in got.stdout
    assert b"did NOT match" in got.stderr, got


def test_missing_file(r, worker, celeriac, files, tmp_dir):
    """A file that cannot be read is reported; the others are hashed."""
    worker()
    want = coreutils("sha512sum", "one", "no-such-file", "empty",
                     cwd=tmp_dir)
    got = celeriac("hash", "one", "no-such-file", "empty", cwd=tmp_dir)
    assert got.rc == 1, got
    assert got.stdout == want.stdout
    assert b"no-such-file" in got.stderr


# ---- check mode against the real sha512sum -c, line format by line format ----

# {H}: the digest of "f", {B}: of "a\b", {N}: of "new\nline", {U}: {H}
# in upper case, {X}: a wrong digest.  Each case is a checksum file; the
# installed sha512sum -c is the reference for stdout, stderr and status.
CHECK_CASES = {
    "plain": b"{H}  f\n",
    "binary": b"{H} *f\n",
    "no final newline": b"{H}  f",
    "crlf": b"{H}  f\r\n",
    "cr without newline": b"{H}  f\r",
    "two crs": b"{H}  f\r\r\n",
    "nul ends the line": b"{H}  f\0\n",
    "nul then junk": b"{H}  f\0junk\n",
    "nul without newline": b"{H}  f\0",
    "nul then crlf": b"{H}  f\0\r\n",
    "empty name before nul": b"{H}  \0\n",
    "nul after the digest": b"{H}\0 f\n",
    "tag": b"SHA512 (f) = {H}\n",
    "tag nul after digest": b"SHA512 (f) = {H}\0\n",
    "tag nul then junk": b"SHA512 (f) = {H}\0zz\n",
    "tag nul in name": b"SHA512 (f\0x) = {H}\n",
    "tag without spaces": b"SHA512(f)= {H}\n",
    "tag crlf": b"SHA512 (f) = {H}\r\n",
    "escaped backslash": b"\\{B}  a\\\\b\n",
    "escaped newline": b"\\{N}  new\\nline\n",
    "escaped tag": b"\\SHA512 (a\\\\b) = {B}\n",
    "escaped name with nul": b"\\{H}  f\0\n",
    "escaped tag with nul": b"\\SHA512 (f\0x) = {H}\n",
    "bad escape": b"\\{H}  f\\t\n",
    "leading blanks": b"  \t{H}  f\n",
    "bsd reversed": b"{H} f\n",
    "mixed formats": b"{H}  f\n{H} f\n",
    "comments and blank lines": b"# sums\n\n{H}  f\n\r\n",
    "upper-case digest": b"{U}  f\n",
    "wrong digest": b"{X}  f\n",
    "missing file": b"{H}  nope\n",
    "no proper line": b"junk\n",
    "short digest": b"{H}"[:-1] + b"0  f\n",
}


@pytest.mark.parametrize("case", sorted(CHECK_CASES))
@pytest.mark.parametrize("flags", [[], ["--strict", "-w"]])
def test_check_like_sha512sum(case, flags, r, worker, celeriac, tmp_dir):
    worker()
    data = {"f": b"hello\n", "a\\b": b"x", "new\nline": b"y"}
    for name, content in data.items():
        with open(os.path.join(tmp_dir, name), "wb") as f:
            f.write(content)
    digest = {k: hashlib.sha512(v).hexdigest().encode()
              for k, v in data.items()}
    sums = CHECK_CASES[case]
    for key, value in ((b"{H}", digest["f"]), (b"{B}", digest["a\\b"]),
                       (b"{N}", digest["new\nline"]),
                       (b"{U}", digest["f"].upper()),
                       (b"{X}", hashlib.sha512(b"other").hexdigest().encode())):
        sums = sums.replace(key, value)
    with open(os.path.join(tmp_dir, "sums"), "wb") as f:
        f.write(sums)
    want = coreutils("sha512sum", "-c", *flags, "sums", cwd=tmp_dir)
    got = celeriac("hash", "-c", *flags, "sums", cwd=tmp_dir, timeout=60)
    assert (got.rc, got.stdout) == (want.returncode, want.stdout), \
        (case, got, want)
    # The messages are the same but for the program name.
    assert got.stderr.replace(b"celeriac: ", b"") == \
        want.stderr.replace(b"sha512sum: ", b""), (case, got, want)


@pytest.mark.parametrize("flags", [["--tag"], ["-z"], ["-b"], ["--tag", "-z"],
                                   ["-b", "-z"]])
def test_generate_like_sha512sum(flags, r, worker, celeriac, files, tmp_dir):
    """--tag, --zero and --binary lines, also for names holding a
    backslash or a newline, and reading them back with -c."""
    worker()
    want = coreutils("sha512sum", *flags, *files, cwd=tmp_dir)
    assert want.returncode == 0
    got = celeriac("hash", *flags, *files, cwd=tmp_dir)
    assert got.rc == 0, got
    assert got.stdout == want.stdout, (got.stdout, want.stdout)
    if "-z" not in flags:
        with open(os.path.join(tmp_dir, "SUMS"), "wb") as f:
            f.write(got.stdout)
        want = coreutils("sha512sum", "-c", "SUMS", cwd=tmp_dir)
        got = celeriac("hash", "-c", "SUMS", cwd=tmp_dir)
        assert (got.rc, got.stdout) == (want.returncode, want.stdout)


# ---- --timeout bounds reading a FIFO -------------------------------------------


def timed_hash(celeriac, *args, cwd):
    """Runs celeriac hash; returns (Run, seconds).  A hang (beyond 60 s)
    fails the test instead of blocking it."""
    t0 = time.monotonic()
    try:
        run = celeriac("hash", *args, cwd=cwd, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("celeriac hash %s hung past 60 s" % " ".join(args))
    return run, time.monotonic() - t0


@pytest.mark.parametrize("writer", ["none", "silent"])
def test_timeout_bounds_fifo(writer, r, worker, celeriac, tmp_dir):
    """A FIFO nobody opens for writing (open() would block), or whose
    writer never writes, times out with exit 3, in check mode too."""
    worker()
    fifo = os.path.join(tmp_dir, "fifo")
    os.mkfifo(fifo)
    with open(os.path.join(tmp_dir, "SUMS"), "w") as f:
        f.write("%s  fifo\n" % hashlib.sha512(b"").hexdigest())
    fd = os.open(fifo, os.O_RDWR) if writer == "silent" else None
    try:
        for args in (["fifo"], ["-c", "SUMS"]):
            run, took = timed_hash(celeriac, "--timeout", "1", *args,
                                   cwd=tmp_dir)
            assert run.rc == 3, run
            assert took < 30, took
            assert b"fifo: nothing to read before the --timeout" in \
                run.stderr, run
    finally:
        if fd is not None:
            os.close(fd)


def test_fifo_with_a_writer(r, worker, celeriac, tmp_dir):
    """A FIFO whose writer comes late is read whole, with or without
    --timeout."""
    worker()
    fifo = os.path.join(tmp_dir, "fifo")
    os.mkfifo(fifo)
    data = os.urandom(300000)
    for args in (["--timeout", "60"], []):
        def write():
            time.sleep(0.3)  # let the reader wait for its writer
            with open(fifo, "wb") as f:
                f.write(data[:1000])
                f.flush()
                time.sleep(0.2)
                f.write(data[1000:])
        t = threading.Thread(target=write)
        t.start()
        try:
            run, _ = timed_hash(celeriac, *args, "fifo", cwd=tmp_dir)
        finally:
            t.join(timeout=60)
        assert run.rc == 0, run
        assert run.stdout == (hashlib.sha512(data).hexdigest() +
                              "  fifo\n").encode(), run
