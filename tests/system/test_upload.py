# SPDX-License-Identifier: MIT
"""`celeriac hash FILE` of a file larger than a message may carry: the file
goes to one worker through an upload stream (PROTOCOL.md, "Uploads").

- A 300 MiB file, then a 2 GiB one: the digest equals sha512sum's line
  byte for byte; the upload stream never holds more than the producer's
  window (8 entries of 1 MiB), Redis' memory stays within a bound, the CLI
  stays under 32 MiB, and the worker's parent's peak RSS is flat from the
  first file to the second.
- A producer that stops mid-upload: the task fails with UploadStalled once
  --upload-timeout passed with nothing new, and the stream is deleted.
- An upload key outside <prefix>upload:, or one that is not a stream:
  InvalidMessage, and the key is left as it was.
- A worker SIGKILLed mid-upload: the attempt that takes the task over finds
  the head of the file gone (UploadLost); the CLI sends the file again and
  prints the right digest.
"""

import hashlib
import os
import subprocess
import threading
import time

import pytest

from harness import (PREFIX_CMD, PRODUCER_BIN, SLOW, assert_failure, enqueue,
                     wait_result, wait_until)

MIB = 1 << 20
WINDOW = 8  # entries; producer/hashup.h HASHUP_WINDOW


def make_file(path, mib):
    """Writes mib MiB of random bytes; returns sha512sum's hex digest."""
    h = hashlib.sha512()
    with open(path, "wb") as f:
        for _ in range(mib):
            block = os.urandom(MIB)
            h.update(block)
            f.write(block)
    return h.hexdigest()


def upload_keys(r):
    return list(r.scan_iter(match="celeriac:upload:*", count=1000))


def hwm_kib(pid):
    """VmHWM of pid in KiB, or None if it is gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# Under `make asan`, freed blocks would sit in ASan's quarantine and count
# as resident: measure live memory instead.
ASAN_ENV = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                             ":quarantine_size_mb=0").lstrip(":")}


def start_cli(redis_server, tmp_dir, *args):
    e = dict(os.environ)
    e["CELERIAC_REDIS_URL"] = redis_server.url
    e.pop("CELERIAC_REDIS_PASSWORD", None)
    e.update(ASAN_ENV)
    return subprocess.Popen([PRODUCER_BIN] + list(args), cwd=tmp_dir,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=e)


def hash_sampled(r, redis_server, tmp_dir, name, want):
    """Runs `celeriac hash name` and samples, while it runs, the longest
    upload stream, Redis' memory above its level at the start, and the
    CLI's peak RSS (KiB); checks each against its bound."""
    base = r.info("memory")["used_memory"]
    p = start_cli(redis_server, tmp_dir, "hash", name)
    samples = {"xlen": 0, "mem": 0, "cli": 0}

    def sample():
        while p.poll() is None:
            for k in upload_keys(r):
                try:
                    samples["xlen"] = max(samples["xlen"], r.xlen(k))
                except Exception:
                    pass
            samples["mem"] = max(samples["mem"],
                                 r.info("memory")["used_memory"] - base)
            h = hwm_kib(p.pid)
            if h is not None:
                samples["cli"] = max(samples["cli"], h)
            time.sleep(0.01)

    t = threading.Thread(target=sample)
    t.start()
    try:
        out, err = p.communicate(timeout=900 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        t.join()
    assert p.returncode == 0, err
    assert out == ("%s  %s\n" % (want, name)).encode(), (out, err)
    # Redis held at most the window.
    assert 1 <= samples["xlen"] <= WINDOW, samples
    assert samples["mem"] < 48 * MIB, samples
    assert upload_keys(r) == []
    # The CLI reads 1 MiB at a time.
    assert samples["cli"] < 32 * 1024, samples
    return samples


def test_big_files_bounded_everywhere(r, redis_server, worker, tmp_dir):
    """300 MiB, then 2 GiB: digests right, Redis and the CLI bounded, and
    the worker's parent's peak RSS flat from one to the other."""
    if PREFIX_CMD:
        pytest.skip("peak RSS would be the wrapper's (%s), not the worker's"
                    % PREFIX_CMD[0])
    small, large = "big file.bin", "huge.bin"
    want_small = make_file(os.path.join(tmp_dir, small), 300)
    w = worker(env=ASAN_ENV)
    kids = w.children()
    hash_sampled(r, redis_server, tmp_dir, small, want_small)
    after_small = hwm_kib(w.pid)
    os.unlink(os.path.join(tmp_dir, small))
    want_large = make_file(os.path.join(tmp_dir, large), 2048)
    hash_sampled(r, redis_server, tmp_dir, large, want_large)
    after_large = hwm_kib(w.pid)
    assert after_large < 64 * 1024, (after_small, after_large)
    assert after_large - after_small < 8 * 1024, (after_small, after_large)
    for k in kids:
        h = hwm_kib(k)
        assert h is None or h < 64 * 1024, (k, h)


def upload_msg(key, size, tid):
    return {"task": "hash", "id": tid,
            "args": {"algorithm": "sha512", "upload": key,
                     "upload_bytes": size}}


def test_producer_stops_mid_upload(r, worker):
    """A producer that sent the message and two of four pieces and died."""
    timeout = 1.0
    worker("--upload-timeout", timeout)
    key = "celeriac:upload:stopped"
    enqueue(r, upload_msg(key, 4 * MIB, "stopped"))
    r.xadd(key, {"n": 0, "d": os.urandom(MIB)})
    r.xadd(key, {"n": MIB, "d": os.urandom(MIB)})
    started = time.monotonic()
    doc = wait_result(r, "stopped", timeout=30 + 10 * timeout)
    assert_failure(doc, "UploadStalled", "--upload-timeout")
    assert time.monotonic() - started >= timeout * 0.9
    assert doc["source"]["bytes"] == 2 * MIB, doc
    assert not r.exists(key)


def test_hostile_upload_keys(r, worker):
    worker()
    # Outside the namespace: never read nor written.
    r.set("victim", "keep me")
    r.xadd("stream-victim", {"n": 0, "d": "x"})
    enqueue(r, upload_msg("victim", 1, "out1"))
    enqueue(r, upload_msg("stream-victim", 1, "out2"))
    enqueue(r, upload_msg("celeriac:upload:../x", 1, "out3"))
    enqueue(r, upload_msg("celeriac:reply:abc", 1, "out4"))
    # In the namespace but of another type: refused, left as it was.
    r.set("celeriac:upload:notastream", "keep me too")
    enqueue(r, upload_msg("celeriac:upload:notastream", 1, "wrongtype"))
    for tid in ("out1", "out2", "out3", "out4"):
        assert_failure(wait_result(r, tid), "InvalidMessage", "upload")
    assert_failure(wait_result(r, "wrongtype"), "InvalidMessage",
                   "not hold a stream")
    assert r.get("victim") == b"keep me"
    assert r.xlen("stream-victim") == 1
    assert r.get("celeriac:upload:notastream") == b"keep me too"


def test_inline_check_of_upload_fields(r, worker):
    """upload_bytes missing or not a number: InvalidArgument at once."""
    worker()
    enqueue(r, {"task": "hash", "id": "nobytes",
                "args": {"upload": "celeriac:upload:a"}})
    assert_failure(wait_result(r, "nobytes"), "InvalidArgument",
                   "upload_bytes")


def test_worker_killed_mid_upload_cli_resends(r, redis_server, worker,
                                             tmp_dir):
    name = "resent.bin"
    want = make_file(os.path.join(tmp_dir, name), 200)
    first = worker("--heartbeat", 0.5, "--visibility-timeout", 2)
    p = start_cli(redis_server, tmp_dir, "hash", name)
    try:
        # Wait until the first worker has consumed part of the file.
        def consumed():
            for k in upload_keys(r):
                try:
                    e = r.xrange(k, count=1)
                except Exception:
                    continue
                if e and int(e[0][1].get(b"n", b"0")) >= 2 * MIB:
                    return True
            return False
        wait_until(consumed, 120, interval=0.005,
                   what="the first worker to consume part of the upload")
        first.kill()
        worker("--heartbeat", 0.5, "--visibility-timeout", 2)
        out, err = p.communicate(timeout=600 * SLOW)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 0, err
    assert out == ("%s  %s\n" % (want, name)).encode(), (out, err)
    assert b"UploadLost" in err and b"sending the file again" in err, err
    wait_until(lambda: upload_keys(r) == [], 30,
               what="the upload streams to be gone")
