# SPDX-License-Identifier: MIT
"""`celeriac revoke` reaches the tasks a worker already holds but has not
started (PROTOCOL.md, "Revoked tasks").

- --concurrency 1: one long task runs; short tasks the worker took into
  its hands meanwhile (pending for it in Redis, before the revocation)
  are revoked: those finish REVOKED, the others SUCCESS with the right
  digests, nothing stays pending, the counters say so.
- a cluster-wide concurrency limit holds the short tasks back
  (limit_wait): the revoked ones leave the limit's list, REVOKED.
- --concurrency 2: both children run a long task and the short ones are
  queued inside them (sent ahead, state "running" in `inspect active`);
  the revoked ones are taken back from the children (claim CAS) and end
  REVOKED, the others run.
- a revoked task that is already running is not interrupted: SUCCESS.

Every wait is for an observed event with a deadline; the long tasks
(about 3 s) only have to outlast one heartbeat (0.2 s) after the revoke.
"""

import functools

from faultlib import cpu_seconds
from harness import (SLOW, assert_success, enqueue, hashlib_digest,
                     pending_count, wait_result, wait_until)
from watchlib import ask, wait_answering

HEARTBEAT = 0.2
LONG_DATA = "long"
LONG_ITERATIONS = 10000000  # sha512: about 3 s of one core here


@functools.lru_cache(maxsize=None)
def long_digest():
    """Computed once per session: every long task hashes the same data."""
    return hashlib_digest("sha512", LONG_DATA.encode(), None,
                          LONG_ITERATIONS)


def long_task(tid):
    return {"task": "hash", "id": tid,
            "args": {"data": LONG_DATA, "iterations": LONG_ITERATIONS}}


def short_task(tid):
    return {"task": "hash", "id": tid, "args": {"data": "short " + tid}}


def held(celeriac):
    """{task id: state} of the tasks the one worker holds, or {}."""
    rc, doc = ask(celeriac, "inspect", "active")
    if rc != 0:
        return {}
    return {t["id"]: t["state"] for v in doc["replies"].values()
            for t in v["result"]["tasks"]}


def counters(celeriac):
    rc, doc = ask(celeriac, "inspect", "stats")
    assert rc == 0, doc
    (reply,) = doc["replies"].values()
    return reply["result"]["counters"]


def revoke(celeriac, *ids):
    got = celeriac("revoke", *ids)
    assert got.rc == 0, got
    assert got.text() == "".join("%s revoked\n" % i for i in ids), got


def check_outcome(r, celeriac, longs, shorts, revoked):
    for tid in revoked:
        doc = wait_result(r, tid, 120 * SLOW)
        assert doc["status"] == "REVOKED", doc
        assert doc["error"]["type"] == "Revoked" and doc["result"] is None
    for tid in shorts:
        if tid not in revoked:
            assert_success(wait_result(r, tid, 120 * SLOW), "sha512",
                           "short " + tid)
    for tid in longs:
        assert_success(wait_result(r, tid, 120 * SLOW), "sha512", LONG_DATA,
                       iterations=LONG_ITERATIONS, digest=long_digest())
    wait_until(lambda: pending_count(r) == 0, 30 * SLOW,
               what="every entry acknowledged")
    n = len(longs) + len(shorts)
    want = {"received": n, "succeeded": n - len(revoked),
            "failed": len(revoked), "retried": 0, "dead": 0,
            "duplicates": 0, "redelivered": 0}
    got = counters(celeriac)
    assert {k: got[k] for k in want} == want, got


def start(worker, celeriac, concurrency, *extra):
    # A fixed window: the worker reads ahead while a long task runs (the
    # adaptive one holds one task per child then) and sends the tasks
    # ahead into its children.
    w = worker("--heartbeat", HEARTBEAT, "--name", "rv", "--window", "fixed",
               "--prefetch", 16, *extra, concurrency=concurrency)
    wait_answering(celeriac, "rv")
    return w


def test_revoke_tasks_held_behind_a_long_one(worker, celeriac, r):
    """--concurrency 1: the short tasks are queued in the one child."""
    w = start(worker, celeriac, 1)
    enqueue(r, long_task("long"))
    wait_until(lambda: held(celeriac).get("long") == "running", 30 * SLOW,
               what="the long task to start")
    shorts = ["s%d" % i for i in range(5)]
    for tid in shorts:
        enqueue(r, short_task(tid))
    # Delivered to this worker (pending for it) and in its hands.
    wait_until(lambda: pending_count(r) == 6 and
               set(shorts) <= set(held(celeriac)), 30 * SLOW,
               what="the short tasks taken by the worker")
    revoke(celeriac, "s1", "s3")
    check_outcome(r, celeriac, ["long"], shorts, {"s1", "s3"})
    assert w.log().count("revoked while this worker held it") == 2


def test_revoke_tasks_held_back_by_a_limit(worker, celeriac, r):
    """A cluster-wide concurrency limit of 1 holds the short tasks back
    (limit_wait) while the long one runs."""
    w = start(worker, celeriac, 2, "--concurrency-limit", "hash=1")
    enqueue(r, long_task("long"))
    wait_until(lambda: held(celeriac).get("long") == "running", 30 * SLOW,
               what="the long task to start")
    shorts = ["w%d" % i for i in range(4)]
    for tid in shorts:
        enqueue(r, short_task(tid))
    wait_until(lambda: pending_count(r) == 5 and
               all(held(celeriac).get(t) == "limit_wait" for t in shorts),
               30 * SLOW, what="the short tasks held back by the limit")
    revoke(celeriac, "w0", "w2")
    check_outcome(r, celeriac, ["long"], shorts, {"w0", "w2"})
    assert w.log().count("revoked while this worker held it") == 2


def test_revoke_tasks_queued_inside_children(worker, celeriac, r):
    w = start(worker, celeriac, 2)
    longs = ["long-a", "long-b"]
    for tid in longs:
        enqueue(r, long_task(tid))
    wait_until(lambda: all(held(celeriac).get(t) == "running"
                           for t in longs), 30 * SLOW,
               what="both children to run a long task")
    shorts = ["q%d" % i for i in range(6)]
    for tid in shorts:
        enqueue(r, short_task(tid))
    # Sent ahead into the busy children: "running" although only the two
    # long tasks run (neither child is idle, so none is taken back).
    wait_until(lambda: all(held(celeriac).get(t) == "running"
                           for t in shorts), 30 * SLOW,
               what="the short tasks queued in the children")
    assert pending_count(r) == 8
    revoke(celeriac, "q2", "q5")
    check_outcome(r, celeriac, longs, shorts, {"q2", "q5"})
    assert w.log().count("revoked while this worker held it") == 2


def test_revoked_running_task_finishes(worker, celeriac, r):
    w = start(worker, celeriac, 1)
    enqueue(r, long_task("run"))
    enqueue(r, short_task("after"))
    # Started for sure: its child has used CPU time on it.
    wait_until(lambda: any(cpu_seconds(k) >= 0.1 for k in w.children()),
               30 * SLOW, what="a child to run the long task")
    wait_until(lambda: held(celeriac).get("run") == "running" and
               pending_count(r) == 2, 30 * SLOW,
               what="the long task to run, the short one held")
    revoke(celeriac, "run")
    # The revocation reached the worker (a later revoke of the held task
    # is answered) while the long task still runs; it runs to the end.
    revoke(celeriac, "after")
    check_outcome(r, celeriac, ["run"], ["after"], {"after"})
    assert w.log().count("revoked while this worker held it") == 1
