# SPDX-License-Identifier: MIT
"""Input files of W6 and W7, generated once into build/bench-cache/ and
kept there (random bytes from os.urandom: real data, not zeros).

The digests the bench checks results against are always computed again
from the files as they are at the time of the run (hashlib), never taken
from a manifest: what is verified is what was served or read.

Everything is world-readable (directories 0755, files 0644): the network
lab's nginx workers run as nobody.
"""

import hashlib
import os

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(os.path.dirname(HERE), "build", "bench-cache")
BLOCK = 16 << 20


def _dir(name):
    d = os.path.join(CACHE, name)
    os.makedirs(d, mode=0o755, exist_ok=True)
    for p in (os.path.dirname(CACHE), CACHE, d):
        os.chmod(p, os.stat(p).st_mode | 0o055)
    return d


def _write(path, size):
    """A file of `size` random bytes, written under a temporary name and
    renamed, so an interrupted run never leaves a short file behind."""
    if os.path.exists(path) and os.path.getsize(path) == size:
        return
    tmp = path + ".part"
    with open(tmp, "wb") as f:
        left = size
        while left:
            n = min(BLOCK, left)
            f.write(os.urandom(n))
            left -= n
    os.chmod(tmp, 0o644)
    os.rename(tmp, path)


def url_files(count, size):
    """W6: `count` files of `size` bytes, DIR/00000.bin ...; returns
    (DIR, [relative names])."""
    d = _dir(f"w6-{size}")
    names = [f"{i:05d}.bin" for i in range(count)]
    for n in names:
        _write(os.path.join(d, n), size)
    return d, names


def big_files(count, size):
    """W7: `count` files of `size` bytes, DIR/big0.bin ..., and a small
    DIR/warm.bin for warming a worker up; returns (DIR, [names])."""
    d = _dir(f"w7-{size}")
    names = [f"big{i}.bin" for i in range(count)]
    for n in names:
        _write(os.path.join(d, n), size)
    _write(os.path.join(d, "warm.bin"), 4096)
    return d, names


def sha512_file(path):
    h = hashlib.sha512()
    with open(path, "rb") as f:
        while True:
            b = f.read(BLOCK)
            if not b:
                return h.hexdigest()
            h.update(b)


def read_through(paths):
    """Reads the files once (into the page cache) so that no timed run
    pays for the disk and every run reads from memory alike."""
    for p in paths:
        with open(p, "rb") as f:
            while f.readinto(bytearray(BLOCK)):
                pass
