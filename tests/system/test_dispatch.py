# SPDX-License-Identifier: MIT
"""Dispatch: a task never waits behind another task while a child is idle.

Each child is handed several tasks ahead of time (one write per burst),
but an idle child takes back the tasks queued behind a long one in a busy
child (worker/claim.h).  And counting the bytes of messages in hand
(--prefetch-mib) never stops the reading while a child is idle.

Both tests assert an order of events read back from Redis (the results'
finished_at), not a duration."""

import json
from datetime import datetime, timezone

from faultlib import FAST, cpu_seconds
from harness import enqueue, enqueue_many, wait_result, wait_until

# About 3 s of sha512 on this kind of machine; only the order matters.
LONG = {"data": "long", "algorithm": "sha512", "iterations": 8000000}


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def busy_child_pid(w, cpu=0.2):
    """The worker's child that has used cpu seconds (running the long
    task), or None."""
    for k in w.children():
        if cpu_seconds(k) >= cpu:
            return k
    return None


def small(i):
    return {"task": "hash", "id": "small-%d" % i,
            "args": {"data": "small %d" % i, "algorithm": "sha256"}}


def finished(client, task_id):
    return parse_time(wait_result(client, task_id, 120)["finished_at"])


def test_small_tasks_do_not_wait_behind_a_long_one(r, worker):
    """2 children, one long task then 50 small ones: every small task
    finishes before the long one, although some were queued behind it."""
    w = worker(*FAST)
    enqueue(r, json.dumps({"task": "hash", "id": "long", "args": LONG}))
    wait_until(lambda: busy_child_pid(w) is not None, 30,
               what="a child to run the long task")
    enqueue_many(r, [small(i) for i in range(50)])
    ends = [finished(r, "small-%d" % i) for i in range(50)]
    long_doc = wait_result(r, "long", 120)
    assert long_doc["status"] == "SUCCESS", long_doc
    long_end = parse_time(long_doc["finished_at"])
    late = [i for i, t in enumerate(ends) if t >= long_end]
    assert not late, ("small tasks %s finished after the long task, while "
                      "the other child was idle" % late)
    for i in range(50):
        assert wait_result(r, "small-%d" % i)["status"] == "SUCCESS"


def test_reading_goes_on_after_large_messages(r, worker):
    """Large messages (over --prefetch-mib) pass, then a long task runs
    with a small message: the other child is idle, so tasks sent now must
    be read and run before the long task ends (the byte count of the
    large ones must not hold the reading back)."""
    w = worker(*FAST, "--prefetch-mib", 1)
    big = "b" * (3 * 1024 * 1024)
    enqueue_many(r, [{"task": "hash", "id": "big-%d" % i,
                      "args": {"data": big + str(i), "algorithm": "sha256"}}
                     for i in range(3)])
    for i in range(3):
        assert wait_result(r, "big-%d" % i, 60)["status"] == "SUCCESS"
    enqueue(r, json.dumps({"task": "hash", "id": "long", "args": LONG}))
    wait_until(lambda: busy_child_pid(w) is not None, 30,
               what="a child to run the long task")
    enqueue_many(r, [small(i) for i in range(5)])
    ends = [finished(r, "small-%d" % i) for i in range(5)]
    long_end = finished(r, "long")
    late = [i for i, t in enumerate(ends) if t >= long_end]
    assert not late, ("small tasks %s were read only after the long task "
                      "ended: the reading stalled" % late)
