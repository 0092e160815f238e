# SPDX-License-Identifier: MIT
"""`celeriac hash` is a drop-in for coreutils sha512sum/sha256sum: the same
bytes on stdout for the same files (empty, one byte, 5 MiB of random
bytes, names with a space, a backslash or a newline, standard input), and
-c check mode with the same OK and FAILED lines and exit status."""

import os
import subprocess

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
