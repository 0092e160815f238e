# SPDX-License-Identifier: MIT
"""Large messages through the children's shared rings (worker/ring.h).

A message of 64 KiB or more is copied into its child's ring, a sealed
memfd the child maps read-only; the task frame names where it is.  These
tests check digests against sha512 for message sizes around the threshold
and up to the 64 MiB limit, that the bytes really skipped the socket (the
parent's write count, /proc/PID/io wchar), that a full ring falls back to the
socket, that the ring wraps around without corrupting a message, and that
a child killed while holding ring space has its task redone on a new ring.
"""

import json

from faultlib import FAST, cpu_seconds, kill9
from harness import (assert_success, enqueue, enqueue_many, hashlib_digest,
                     pending_count, wait_result, wait_until)

KIB = 1024
MIB = 1024 * KIB
RING_MIN = 64 * KIB       # POOL_RING_MIN
RING_SIZE = 16 * MIB      # RING_SIZE
# About two seconds of sha512 rounds in a child: a task that holds its ring
# space while others are sent.  Checked with hashlib (openssl dgst would
# take a process per round).
LONG_ROUNDS = 4000000


def assert_long(doc, data):
    assert_success(doc, "sha512", data, iterations=LONG_ROUNDS,
                   digest=hashlib_digest("sha512", data.encode(),
                                         iterations=LONG_ROUNDS))
MAX_MESSAGE = 64 * MIB    # PROTOCOL_MAX_MESSAGE
MAX_DATA = 32 * MIB       # the hash task's limit on "data"
# A child takes its share of --prefetch among the pool's places, which may
# be more than --concurrency (the most it can grow to): enough that the one
# child takes every task of these tests at once.
PREFETCH = 256


def message(task_id, msg_len, iterations=1, fill="r"):
    """A sha512 hash task whose message is exactly msg_len bytes; returns
    (message text, data)."""
    args = {"data": "", "algorithm": "sha512"}
    if iterations > 1:
        args["iterations"] = iterations
    empty = json.dumps({"task": "hash", "id": task_id, "args": args})
    n = msg_len - len(empty)
    assert n >= 10
    if n <= MAX_DATA:
        data = ("%-10s" % task_id)[:10] + fill * (n - 10)
    else:
        # over the data limit: newlines, two bytes each in the message
        lf = n - MAX_DATA
        data = ("%-10s" % task_id)[:10] + fill * (MAX_DATA - 10 - lf) + \
            "\n" * lf
    args["data"] = data
    text = json.dumps({"task": "hash", "id": task_id, "args": args})
    assert len(text) == msg_len
    return text, data


def wchar(pid):
    """Bytes pid has written with write()/writev() so far: for the
    worker's parent, what it sent its children (and its few small Redis
    commands)."""
    with open("/proc/%d/io" % pid) as f:
        for line in f:
            if line.startswith("wchar:"):
                return int(line.split()[1])
    raise AssertionError("no wchar for %d" % pid)


def ring_mappings(pid):
    """The permission strings of pid's mappings of its ring."""
    with open("/proc/%d/maps" % pid) as f:
        return [line.split()[1] for line in f if "celeriac-ring" in line]


def check_read_only_ring(pid):
    # mapped right after the fork, before the child's sandbox
    perms = wait_until(lambda: ring_mappings(pid), 10,
                       what="child %d to map its ring" % pid)
    assert perms == ["r--s"], (
        "child %d should map its ring once, read-only and shared: %s"
        % (pid, perms))


def test_sizes_around_threshold_and_limit(r, worker):
    """One task at a time (so every ring is empty when a task is sent):
    messages just under the threshold and over the ring go through the
    socket, the others through the ring; all digests are right."""
    w = worker(*FAST, "--window", "fixed", "--prefetch", 1,
               "--prefetch-mib", 128, concurrency=1)
    (kid,) = w.children()
    check_read_only_ring(kid)
    sizes = [RING_MIN - 1, RING_MIN, RING_MIN + 1, 256 * KIB, MIB + 7,
             RING_SIZE, RING_SIZE + 1, MAX_MESSAGE]
    socket_bytes = sum(s for s in sizes if s < RING_MIN or s > RING_SIZE)
    before = wchar(w.pid)
    tasks = []
    for i, size in enumerate(sizes):
        text, data = message("size-%d" % i, size)
        tasks.append(("size-%d" % i, data))
        enqueue(r, text)
    for tid, data in tasks:
        assert_success(wait_result(r, tid, 120), "sha512", data)
    read = wchar(w.pid) - before
    assert socket_bytes <= read < socket_bytes + MIB, (
        "the parent wrote %d bytes; the messages that had to "
        "go through it are %d bytes, the others (%d bytes) should have "
        "come through the ring" % (read, socket_bytes,
                                   sum(sizes) - socket_bytes))
    assert w.children() == [kid]


def test_ring_full_falls_back_and_wraps(r, worker):
    """A long task holds 6 MiB of the 16 MiB ring while more 6 MiB tasks
    are sent: one fits, the next ones go through the socket.  Then 24
    tasks of 5 MiB: as many as fit go through the ring, which wraps around
    as the child keeps up (how often depends on the timing: the unit tests
    check the arithmetic), the others through the socket.  Every digest is
    right."""
    w = worker(*FAST, "--window", "fixed", "--prefetch", PREFETCH,
               "--prefetch-mib", 1024, concurrency=1)
    (kid,) = w.children()
    before = wchar(w.pid)
    long_text, long_data = message("long", 6 * MIB, iterations=LONG_ROUNDS)
    enqueue(r, long_text)
    wait_until(lambda: cpu_seconds(kid) >= 0.3, 60,
               what="the child to run the long task")
    # read with the long task in hand: 1 fits beside it, 2 do not
    held = [message("held-%d" % i, 6 * MIB, fill="h") for i in range(3)]
    enqueue_many(r, [t for t, _ in held])
    wrap = [message("wrap-%d" % i, 5 * MIB + 4099 * i, fill="w")
            for i in range(24)]
    enqueue_many(r, [t for t, _ in wrap])
    assert_long(wait_result(r, "long", 120), long_data)
    for i, (_, data) in enumerate(held):
        assert_success(wait_result(r, "held-%d" % i, 120), "sha512", data)
    for i, (_, data) in enumerate(wrap):
        assert_success(wait_result(r, "wrap-%d" % i, 120), "sha512", data)
    read = wchar(w.pid) - before
    total = sum(len(t) for t, _ in [(long_text, 0)] + held + wrap)
    assert read >= 12 * MIB, (
        "the parent wrote only %d bytes: the two 6 MiB tasks "
        "that did not fit beside the long one should have come that way"
        % read)
    # the long task and the first held one went through the ring whatever
    # the timing (1 MiB: the parent's own writes to Redis)
    assert read <= total - 12 * MIB + MIB, (
        "the parent wrote %d bytes for %d bytes of messages: the ring was not "
        "used" % (read, total))
    assert w.children() == [kid]


def test_child_killed_holding_ring_space(r, worker):
    """The child is killed while a task in its ring runs and others wait
    there: the task is redone by the new child (its second delivery), the
    others run too, and tasks after it come through the new child's ring
    with right digests."""
    w = worker(*FAST, "--window", "fixed", "--prefetch", PREFETCH,
               "--prefetch-mib", 1024, concurrency=1)
    (kid,) = w.children()
    long_text, long_data = message("long", 3 * MIB, iterations=LONG_ROUNDS)
    enqueue(r, long_text)
    wait_until(lambda: cpu_seconds(kid) >= 0.3, 60,
               what="the child to run the long task")
    queued = [message("queued-%d" % i, 3 * MIB + i, fill="q")
              for i in range(3)]
    enqueue_many(r, [t for t, _ in queued])
    # all four delivered to this worker (so sent to the child, in its ring)
    wait_until(lambda: pending_count(r) == 4, 30,
               what="the worker to read the queued tasks")
    kill9(kid)
    (new,) = wait_until(lambda: [k for k in w.children() if k != kid], 30,
                        what="a new child")
    check_read_only_ring(new)
    doc = wait_result(r, "long", 120)
    assert_long(doc, long_data)
    for i, (_, data) in enumerate(queued):
        assert_success(wait_result(r, "queued-%d" % i, 120), "sha512", data)
    before = wchar(w.pid)
    # one at a time: each finds room in the new ring
    for i in range(10):
        text, data = message("after-%d" % i, 2 * MIB + i, fill="a")
        enqueue(r, text)
        assert_success(wait_result(r, "after-%d" % i, 120), "sha512", data)
    read = wchar(w.pid) - before
    assert read < 2 * MIB, (
        "the parent wrote %d bytes to the new child: its ring was not "
        "used" % read)
