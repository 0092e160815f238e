# SPDX-License-Identifier: MIT
"""Warm shutdown loses nothing.  SIGTERM (or SIGINT) in the middle of a run:
the worker stops reading, finishes and acknowledges every task delivered
to it, and exits 0 with its children gone; the tasks it never read stay
in the stream, and a second worker finishes them.  A second signal stops
at once, leaving unfinished entries pending in the group."""

import json
import signal

from harness import (GROUP, PREFIX_CMD, QUEUE, all_results, count_results,
                     enqueue_many, hashlib_digest, pending_count, pid_alive,
                     wait_until)

TASKS = 200 if PREFIX_CMD else 2000
ITERATIONS = 500 if PREFIX_CMD else 5000
DISTINCT = 16


def payload(i):
    return "shutdown test %d" % (i % DISTINCT)


def tasks(n, prefix="s"):
    return [{"task": "hash", "id": "%s%d" % (prefix, i),
             "args": {"data": payload(i), "iterations": ITERATIONS,
                      "algorithm": "sha256"}} for i in range(n)]


def check_all(results, n, prefix="s"):
    expect = {j: hashlib_digest("sha256", payload(j).encode(),
                                iterations=ITERATIONS)
              for j in range(DISTINCT)}
    for i in range(n):
        doc = results.get("%s%d" % (prefix, i))
        assert doc is not None, "no result for %s%d" % (prefix, i)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == expect[i % DISTINCT], doc


def consumers(r):
    """{consumer name: pending count} of the group."""
    return {c["name"].decode(): c["pending"]
            for c in r.xinfo_consumers(QUEUE, GROUP)}


def test_sigterm_mid_run_then_second_worker(r, worker):
    a = worker("--name", "first")
    kids = a.children()
    enqueue_many(r, tasks(TASKS))
    wait_until(lambda: count_results(r) >= TASKS // 10, 120,
               what="some results before SIGTERM")

    a.signal(signal.SIGTERM)
    assert a.wait(60) == 0, a.log()
    for k in kids:
        assert not pid_alive(k), "child %d outlived the worker" % k

    # Every entry delivered to the first worker was finished and acked;
    # the rest is still in the stream, untouched.
    done = all_results(r)
    assert pending_count(r) == 0
    assert consumers(r).get("first", 0) == 0
    assert 0 < len(done) < TASKS, "SIGTERM came too late to test anything"
    assert r.xlen(QUEUE) == TASKS - len(done)
    assert {d["worker"] for d in done.values()} == {"first"}
    check_all(done, 0)
    for doc in done.values():
        assert doc["status"] == "SUCCESS", doc

    # Which ids are still queued: exactly those without a result.
    left = {json.loads(f[b"msg"])["id"] for _, f in r.xrange(QUEUE)}
    assert left.isdisjoint(done)
    assert left | set(done) == {"s%d" % i for i in range(TASKS)}

    b = worker("--name", "second")
    wait_until(lambda: count_results(r) >= TASKS, 300, interval=0.2,
               what="all %d results after the second worker" % TASKS)
    results = all_results(r)
    assert len(results) == TASKS
    check_all(results, TASKS)
    for tid in left:
        assert results[tid]["worker"] == "second"
    for tid in done:
        assert results[tid]["worker"] == "first"
        assert results[tid] == done[tid]  # not run again
    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0
    assert b.stop() == 0


def test_sigint_is_warm_too(r, worker):
    a = worker()
    enqueue_many(r, tasks(TASKS // 4, "i"))
    wait_until(lambda: count_results(r) >= 10, 120, what="some results")
    a.signal(signal.SIGINT)
    assert a.wait(60) == 0, a.log()
    assert pending_count(r) == 0
    assert r.xlen(QUEUE) + count_results(r) == TASKS // 4


def test_idle_worker_stops_at_once(r, worker):
    """SIGTERM while blocked in XREADGROUP with nothing to do."""
    a = worker()
    kids = a.children()
    a.signal(signal.SIGTERM)
    assert a.wait(20) == 0, a.log()
    for k in kids:
        assert not pid_alive(k)


def test_second_signal_stops_now(r, worker):
    """Two signals: exit without finishing; what was read and not done
    stays pending in the group, nothing is lost or half-written."""
    a = worker("--name", "cold")
    kids = a.children()
    heavy = [{"task": "hash", "id": "h%d" % i,
              "args": {"data": "x", "iterations": 1000000}}
             for i in range(8)]
    enqueue_many(r, heavy)
    wait_until(lambda: pending_count(r) > 0, 30, what="tasks delivered")
    a.signal(signal.SIGTERM)
    a.signal(signal.SIGTERM)
    a.wait(30)  # any status: it was told to stop at once
    wait_until(lambda: not any(pid_alive(k) for k in kids), 30,
               what="the children to exit too")
    # Each task is either finished (result, acked, deleted) or still an
    # entry of the stream; delivered and unfinished ones are pending.
    results = all_results(r)
    assert r.xlen(QUEUE) + len(results) == 8
    assert pending_count(r) <= r.xlen(QUEUE)
    assert consumers(r).get("cold", 0) == pending_count(r)
