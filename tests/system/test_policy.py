# SPDX-License-Identifier: MIT
"""The delivery fields of PROTOCOL.md ("Time limits, expiry and retries",
"Scheduled tasks"): a task past its time limit is killed with its child
and fails with TimeLimitExceeded, or is retried max_retries times with
every error kept; bad input is never retried; an expired task is not run;
a task put on the scheduled set runs when due, not before."""

import calendar
import json
import time

from harness import (QUEUE, assert_success, enqueue, pending_count,
                     result_of, wait_until)

SLOW_ARGS = {"data": "x", "iterations": 10000000}  # seconds of CPU


def final_result(r, tid, timeout=60):
    """Waits for a result that is not RETRY."""
    return wait_until(lambda: (result_of(r, tid) or {}).get("status")
                      not in (None, "RETRY") and result_of(r, tid),
                      timeout, what="the final result of " + tid)


def drained(r):
    wait_until(lambda: r.xlen(QUEUE) == 0 and pending_count(r) == 0 and
               r.zcard("celeriac:scheduled") == 0, 30,
               what="an empty queue and scheduled set")


def test_time_limit(r, worker):
    w = worker()
    enqueue(r, {"task": "hash", "id": "tl", "time_limit": 0.2,
                "args": SLOW_ARGS})
    enqueue(r, {"task": "hash", "id": "quick", "time_limit": 30,
                "args": {"data": "quick"}})
    doc = final_result(r, "tl")
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    assert "200 ms" in doc["error"]["message"], doc
    assert doc["retries"] == 0 and doc["errors"] == []
    assert_success(final_result(r, "quick"), "sha512", b"quick")
    assert w.alive()
    w.wait_children(2)
    drained(r)


def test_worker_default_time_limit(r, worker):
    w = worker("--time-limit", "0.3")
    enqueue(r, {"task": "hash", "id": "d", "args": SLOW_ARGS})
    doc = final_result(r, "d")
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    # The message's own limit wins over the worker's.
    enqueue(r, {"task": "hash", "id": "own", "time_limit": 60,
                "args": {"data": "x", "iterations": 300000}})
    doc = final_result(r, "own")
    assert doc["status"] == "SUCCESS", doc
    assert w.alive()
    drained(r)


def test_retries_then_failure(r, worker):
    worker()
    reply = "celeriac:reply:retry"
    enqueue(r, {"task": "hash", "id": "rt", "time_limit": 0.2,
                "max_retries": 2, "retry_backoff": 0.1,
                "retry_jitter": False, "reply_to": reply,
                "args": SLOW_ARGS})
    doc = final_result(r, "rt")
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded"
    assert doc["retries"] == 2, doc
    assert len(doc["errors"]) == 2, doc
    for e in doc["errors"]:
        assert e["type"] == "TimeLimitExceeded", e
        assert e["at"] <= doc["started_at"]
    assert doc["errors"][0]["at"] < doc["errors"][1]["at"]
    # Only the final result goes to the reply stream.
    entries = r.xrange(reply)
    assert len(entries) == 1, entries
    assert json.loads(entries[0][1][b"result"]) == doc
    drained(r)


def test_bad_input_not_retried(r, worker):
    worker()
    enqueue(r, {"task": "hash", "id": "bad", "max_retries": 5,
                "args": {"data": "x", "algorithm": "nope"}})
    doc = final_result(r, "bad")
    assert doc["status"] == "FAILURE"
    assert doc["error"]["type"] == "UnknownAlgorithm"
    assert doc["retries"] == 0 and doc["errors"] == []
    drained(r)


def test_expired(r, worker):
    worker()
    reply = "celeriac:reply:exp"
    enqueue(r, {"task": "hash", "id": "e1", "expires": 1000000000,
                "reply_to": reply, "args": {"data": "x"}})
    enqueue(r, {"task": "hash", "id": "e2",
                "expires": "2020-01-01T00:00:00Z", "args": {"data": "x"}})
    enqueue(r, {"task": "hash", "id": "fresh", "expires": time.time() + 3600,
                "args": {"data": "x"}})
    for tid in ("e1", "e2"):
        doc = final_result(r, tid)
        assert doc["status"] == "EXPIRED", doc
        assert doc["result"] is None
        assert doc["error"]["type"] == "Expired", doc
    assert "2020-01-01T00:00:00" in result_of(r, "e2")["error"]["message"]
    assert json.loads(r.xrange(reply)[0][1][b"result"])["status"] == \
        "EXPIRED"
    assert_success(final_result(r, "fresh"), "sha512", b"x")
    drained(r)


def test_bad_policy_field(r, worker):
    worker()
    enqueue(r, {"task": "hash", "id": "bp", "time_limit": "soon",
                "args": {"data": "x"}})
    doc = final_result(r, "bp")
    assert doc["status"] == "FAILURE"
    assert doc["error"]["type"] == "InvalidMessage"
    assert "time_limit" in doc["error"]["message"]
    drained(r)


def test_scheduled_task(r, worker):
    """A producer's delayed task: ZADD to the scheduled set, with its
    due time; it runs when due, not before, and exactly once."""
    worker()
    due_ms = int(time.time() * 1000) + 1500
    msg = {"v": 1, "task": "hash", "id": "later-1", "queue": "default",
           "args": {"data": "abc"}}
    r.zadd("celeriac:scheduled", {json.dumps(msg): due_ms})
    doc = final_result(r, "later-1", timeout=30)
    assert_success(doc, "sha512", b"abc")
    started_ms = calendar.timegm(time.strptime(
        doc["started_at"][:19], "%Y-%m-%dT%H:%M:%S")) * 1000 + \
        int(doc["started_at"][20:26]) // 1000
    assert started_ms >= due_ms - 1, (doc["started_at"], due_ms)
    assert r.zcard("celeriac:scheduled") == 0
    drained(r)
