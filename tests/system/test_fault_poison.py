# SPDX-License-Identifier: MIT
"""Fault 6: tasks that cannot finish normally end as documented, and the
worker keeps serving.

- Poison: a task whose child is killed every time it runs is run exactly
  --max-deliveries times, then moves to the dead-letter stream
  (celeriac:dead: the original message, the reason as JSON, the queue and
  the entry) and gets a FAILURE result.  The same when the whole worker
  holding it is killed each time and the task is taken over.
- A task running for several visibility timeouts on a live worker is
  never taken over: its worker keeps it fresh.
- Time limits: a task past its time_limit (or the worker's --time-limit)
  has its child killed and fails with TimeLimitExceeded, or is retried per
  max_retries with attempts, retries and errors in the result.
- Expiry: a task taken after its "expires" time is not run: EXPIRED.
- Delays: a task put into celeriac:scheduled runs once it is due, not
  before, and once.
- Recycling: --max-tasks-per-child and --max-memory-per-child replace
  children between tasks without failing any task."""

import json
import threading
import time
from datetime import datetime, timezone

from faultlib import (FAST, SCHEDULED, BeatWatch, HashBatch,
                      assert_check, assert_drained, check_batch, cpu_seconds,
                      dead_letters, enqueue_fast, heartbeats, kill9,
                      pending_of, report, wait_drained)
from harness import (QUEUE, enqueue, hashlib_digest, result_of, wait_result,
                     wait_until)

# sha512 applied 10 million times: several seconds, longer than any
# limit below; the test ends it by killing its child.
LONG = {"data": "poison", "algorithm": "sha512", "iterations": 10000000}


def serves(client, prefix, n=20, worker_name=None):
    """Sends n small tasks and checks they all succeed: the worker still
    serves.  Returns the Check."""
    batch = HashBatch(prefix, n, iterations=100)
    enqueue_fast(client, batch.messages())
    wait_drained(client, 60, what="%d tasks after the fault" % n)
    c = check_batch(client, batch)
    assert_check(c, "results after the fault")
    if worker_name is not None:
        assert set(c.by_worker) == {worker_name}, c.by_worker
    return c


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def busy_child(w, cpu=0.1):
    """The worker's child that has used at least cpu seconds (running the
    long task), or None."""
    for k in w.children():
        if cpu_seconds(k) >= cpu:
            return k
    return None


# ---- poison ------------------------------------------------------------------


def test_poison_child_killed_every_time(r, worker, capsys):
    max_del = 3
    w = worker(*FAST, "--max-deliveries", max_del, concurrency=1)
    msg = json.dumps({"task": "hash", "id": "poison-1", "args": LONG})
    entry = enqueue(r, msg)

    kills = 0
    deadline = time.monotonic() + 60
    while result_of(r, "poison-1") is None and time.monotonic() < deadline:
        k = busy_child(w)
        if k is not None and kill9(k):
            kills += 1
            wait_until(lambda: k not in w.children(), 10,
                       what="child %d to go" % k)
        time.sleep(0.02)
    doc = wait_result(r, "poison-1", 10)
    # Not run again: the new child stays idle.
    time.sleep(1.0)
    assert busy_child(w, 0.05) is None, "the poison task runs again"

    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "WorkerLost", doc
    assert doc["attempts"] == max_del, doc
    dead = dead_letters(r)
    report(capsys, "poison_child", tasks=1, kills=kills,
           attempts=doc["attempts"], dead_lettered=len(dead),
           reason=dead[0]["reason"]["error"]["type"] if dead else None)
    assert kills == max_del, "the child was killed %d times" % kills
    assert len(dead) == 1, dead
    d = dead[0]
    assert d["msg"] == msg, "the dead letter does not hold the original " \
        "message: %r" % d["msg"]
    assert d["queue"] == QUEUE and d["entry"] == entry, d
    assert d["reason"]["error"]["type"] == "WorkerLost", d
    assert d["reason"]["deliveries"] == max_del, d
    assert d["reason"]["error"]["message"], d
    assert_drained(r, dead_ok=1)
    serves(r, "after-poison-")
    assert w.alive() and len(w.wait_children(1)) == 1


def test_poison_worker_killed_every_time(r, worker, capsys):
    """The task is taken over after each kill -9 of the worker holding it;
    each take-over is a delivery.  Once it has run --max-deliveries times
    the next worker to take it over dead-letters it without running it."""
    max_del = 2
    args = FAST + ["--max-deliveries", max_del]
    msg = json.dumps({"task": "hash", "id": "poison-2", "args": LONG})
    w = worker(*args, "--name", "holder-0", concurrency=1)
    entry = enqueue(r, msg)
    runs = 0
    for n in range(max_del):
        name = "holder-%d" % n
        # It runs here: pending for this worker, and a child is hashing.
        wait_until(lambda: pending_of(r, name) == [entry] and
                   busy_child(w) is not None, 30,
                   what="worker %s to run the poison task" % name)
        runs += 1
        w.kill()
        w = worker(*args, "--name", "holder-%d" % (n + 1), concurrency=1)
    doc = wait_result(r, "poison-2", 30)
    time.sleep(0.5)
    assert busy_child(w, 0.05) is None, "the poison task runs again"
    dead = dead_letters(r)
    report(capsys, "poison_worker", tasks=1, worker_kills=runs,
           attempts=doc["attempts"], dead_lettered=len(dead),
           reason=dead[0]["reason"]["error"]["type"] if dead else None)
    assert runs == max_del
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "MaxDeliveriesExceeded", doc
    assert len(dead) == 1, dead
    d = dead[0]
    assert d["msg"] == msg and d["queue"] == QUEUE and d["entry"] == entry, d
    assert d["reason"]["error"]["type"] == "MaxDeliveriesExceeded", d
    # Delivered max_del times and run each time; the delivery that finds
    # the count exhausted is the one that dead-letters it.
    assert d["reason"]["deliveries"] in (max_del, max_del + 1), d
    assert doc["attempts"] == d["reason"]["deliveries"], (doc, d)
    assert_drained(r, dead_ok=1)
    serves(r, "after-poison2-", worker_name="holder-%d" % max_del)


# ---- a long task on a live worker ----------------------------------------------


def test_long_task_not_taken_from_live_worker(r, redis_server, worker,
                                              capsys):
    """A task that runs for several visibility timeouts on a live worker
    is refreshed by it and never taken over by the other worker.  The
    visibility timeout is 1.5 s, not shorter: on a loaded machine a worker
    paused for longer than a 0.5 s timeout is rightly taken over."""
    vt = 1.5
    args = ["--heartbeat", 0.2, "--visibility-timeout", vt]
    worker(*args, "--name", "long-runner", concurrency=1)
    watch = BeatWatch(lambda: redis_server.client(socket_timeout=10)).start()
    # 10^7 keyed rounds: about 5 s of one core or more.
    enqueue(r, {"task": "hash", "id": "long-1",
                "args": {"data": "long", "algorithm": "sha512",
                         "hmac_key": "k", "iterations": 10000000}})
    wait_until(lambda: pending_of(r, "long-runner"), 10,
               what="the long task to start")
    worker(*args, "--name", "idle-peer", concurrency=1)
    doc = wait_result(r, "long-1", 60)
    time.sleep(0.5)
    watch.stop()
    report(capsys, "long_task", tasks=1,
           runtime="%.1fs" % (doc["runtime_us"] / 1e6),
           attempts=doc["attempts"],
           taken_over=watch.total("recovered"))
    assert doc["status"] == "SUCCESS", doc
    assert doc["runtime_us"] > 2 * vt * 1e6, \
        "the task was too short to prove anything: %s" % doc
    assert doc["worker"] == "long-runner", doc
    assert doc["attempts"] == 1, doc
    assert watch.total("recovered") == 0
    assert watch.total("duplicates") == 0
    assert_drained(r)


# ---- time limits ---------------------------------------------------------------


def test_time_limit_failure_and_retries(r, redis_server, worker, capsys):
    w = worker(*FAST)
    watch = BeatWatch(lambda: redis_server.client(socket_timeout=10)).start()
    t0 = time.time()
    enqueue(r, {"task": "hash", "id": "tl-fail", "args": LONG,
                "time_limit": 0.5})
    enqueue(r, {"task": "hash", "id": "tl-retry", "args": LONG,
                "time_limit": 0.5, "max_retries": 2, "retry_backoff": 0.5,
                "retry_jitter": False})
    enqueue(r, {"task": "hash", "id": "tl-ok", "time_limit": 30,
                "args": {"data": "quick", "iterations": 1000}})

    # The retried task shows RETRY while it waits for its next attempt.
    seen = set()

    def final():
        d = result_of(r, "tl-retry")
        if d is not None:
            seen.add((d["status"], d["retries"]))
            return d["status"] != "RETRY" and d
        return None
    doc = wait_until(final, 60, interval=0.02,
                     what="the final result of tl-retry")
    fail = wait_result(r, "tl-fail", 30)
    ok = wait_result(r, "tl-ok", 30)
    wait_drained(r, 30)
    watch.stop()
    report(capsys, "time_limit", tasks=3, retries=doc["retries"],
           attempts=doc["attempts"], statuses_seen=sorted(seen),
           retried=watch.total("retried"), child_deaths=watch.total(
               "child_deaths"))

    assert fail["status"] == "FAILURE", fail
    assert fail["error"]["type"] == "TimeLimitExceeded", fail
    assert fail["attempts"] == 1 and fail["retries"] == 0, fail
    assert fail["errors"] == [], fail
    assert 0.4 <= fail["runtime_us"] / 1e6 < 5, fail

    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    assert doc["retries"] == 2, doc
    assert len(doc["errors"]) == 2, doc
    assert all(e["type"] == "TimeLimitExceeded" for e in doc["errors"]), doc
    assert ("RETRY", 0) in seen or ("RETRY", 1) in seen, seen
    # Backoff: 0.5 s, then 1 s, after attempts of 0.5 s each.
    assert parse_time(doc["started_at"]) - t0 >= 0.5 + 0.5 + 0.5 + 1.0 - 0.2

    assert ok["status"] == "SUCCESS", ok
    assert ok["result"]["digest"] == hashlib_digest("sha512", b"quick",
                                                    iterations=1000)
    assert watch.total("retried") == 2
    assert_drained(r)
    assert w.alive() and len(w.wait_children(2)) == 2
    serves(r, "after-tl-")


def test_worker_default_time_limit(r, worker):
    w = worker(*FAST, "--time-limit", "0.3")
    enqueue(r, {"task": "hash", "id": "dtl-1", "args": LONG})
    # A message's own time_limit wins over the worker's default.
    enqueue(r, {"task": "hash", "id": "dtl-2", "time_limit": 60,
                "args": {"data": "x", "algorithm": "sha512",
                         "iterations": 3000000}})
    d1 = wait_result(r, "dtl-1", 30)
    d2 = wait_result(r, "dtl-2", 60)
    assert d1["status"] == "FAILURE", d1
    assert d1["error"]["type"] == "TimeLimitExceeded", d1
    assert d2["status"] == "SUCCESS", d2
    assert d2["runtime_us"] > 300000, d2  # it did run past 0.3 s
    assert d2["result"]["digest"] == hashlib_digest("sha512", b"x",
                                                    iterations=3000000)
    wait_drained(r, 10)
    assert_drained(r)
    assert w.alive()
    serves(r, "after-dtl-")


# ---- expiry --------------------------------------------------------------------


def test_expired_tasks_are_not_run(r, worker):
    w = worker(*FAST)
    past = time.time() - 60
    iso = datetime.fromtimestamp(past, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    enqueue(r, {"task": "hash", "id": "ex-num", "expires": past,
                "args": {"data": "a"}})
    enqueue(r, {"task": "hash", "id": "ex-iso", "expires": iso,
                "args": {"data": "b"}})
    enqueue(r, {"task": "hash", "id": "ex-future",
                "expires": time.time() + 3600, "args": {"data": "c"}})
    for tid in ("ex-num", "ex-iso"):
        d = wait_result(r, tid, 30)
        assert d["status"] == "EXPIRED", d
        assert d["result"] is None, d
        assert d["error"]["type"] == "Expired", d
    d = wait_result(r, "ex-future", 30)
    assert d["status"] == "SUCCESS", d
    wait_drained(r, 10)
    assert_drained(r)
    assert w.alive()
    serves(r, "after-ex-")


# ---- delayed tasks ---------------------------------------------------------------


def test_delayed_task_runs_when_due(r, worker, capsys):
    # Two workers: both try to move due tasks; each moves at most once.
    worker(*FAST)
    worker(*FAST)
    enqueue(r, {"task": "hash", "args": {"data": "warm-up"}})
    wait_drained(r, 30)
    added0 = r.xinfo_stream(QUEUE)["entries-added"]

    now_ms = int(time.time() * 1000)
    due = {"delay-1": now_ms + 1500, "delay-2": now_ms + 3000}
    for tid, at in due.items():
        m = {"task": "hash", "id": tid, "queue": "default",
             "args": {"data": tid}}
        r.zadd(SCHEDULED, {json.dumps(m): at})

    early = []
    while time.time() * 1000 < due["delay-1"] - 100:
        for tid in due:
            if result_of(r, tid) is not None:
                early.append(tid)
        time.sleep(0.02)
    docs = {tid: wait_result(r, tid, 15) for tid in due}
    wait_drained(r, 10)
    added = r.xinfo_stream(QUEUE)["entries-added"] - added0
    lateness = {tid: parse_time(d["started_at"]) * 1000 - due[tid]
                for tid, d in docs.items()}
    report(capsys, "delayed", tasks=2, moved=added,
           late_ms=",".join("%.0f" % v for v in lateness.values()))
    assert not early, "ran before it was due: %s" % early
    for tid, d in docs.items():
        assert d["status"] == "SUCCESS", d
        assert d["attempts"] == 1, d
        assert d["result"]["digest"] == hashlib_digest("sha512",
                                                       tid.encode())
        assert lateness[tid] >= 0, "%s started %.0f ms before it was due" % (
            tid, -lateness[tid])
        assert lateness[tid] < 3000, "%s started %.0f ms late" % (
            tid, lateness[tid])
    assert added == 2, "the scheduled tasks were queued %d times" % added
    assert_drained(r)


# ---- recycling ---------------------------------------------------------------------


def drain_watching_children(r, w, batch):
    """Enqueues the batch and waits until it is drained; returns the child
    pids seen meanwhile (sampled every 2 ms, so short-lived children can
    be missed: the tests count recyclings in the worker's log)."""
    seen = set(w.children())
    stop = threading.Event()

    def watch():
        while not stop.is_set():
            seen.update(w.children())
            time.sleep(0.002)

    t = threading.Thread(target=watch, daemon=True)
    t.start()
    enqueue_fast(r, batch.messages())
    wait_drained(r, 60)
    stop.set()
    t.join()
    return seen


def test_max_tasks_per_child_recycles(r, redis_server, worker, capsys):
    w = worker(*FAST, "--max-tasks-per-child", 5)
    first = set(w.children())
    batch = HashBatch("mt", 60, iterations=20000, distinct=10)
    seen = drain_watching_children(r, w, batch)
    time.sleep(0.6)
    beat = heartbeats(r)
    c = check_batch(r, batch)
    deaths = sum(int(b.get("child_deaths", "0")) for b in beat.values())
    report(capsys, "max_tasks_per_child", tasks=batch.n,
           children_seen=len(seen), child_deaths=deaths,
           redelivered=c.redelivered)
    assert_check(c)
    assert c.redelivered == 0, "a recycled child cost a task a delivery"
    assert deaths == 0, "recycling counted as child deaths"
    # 60 tasks, 5 per child (and the few a retiring child still holds):
    # about 10 recyclings, as the worker's log counts them.
    recycled = w.log().count("tasks; recycling it")
    assert recycled >= 6, (recycled, seen)
    assert not (set(w.wait_children(2)) & first), "never recycled"
    assert_drained(r)
    serves(r, "after-mt-")


def test_max_memory_per_child_recycles(r, worker):
    w = worker(*FAST, "--max-memory-per-child", 1)  # KiB: always over
    batch = HashBatch("mm", 20, iterations=20000, distinct=5)
    seen = drain_watching_children(r, w, batch)
    c = check_batch(r, batch)
    assert_check(c)
    assert c.redelivered == 0
    # Every child passes the limit with its first task and retires after
    # the tasks it holds (at most 4 of the 20): at least 4 recyclings, as
    # the worker's log counts them.
    recycled = w.log().count("limit; recycling it")
    assert recycled >= 4, (recycled, seen)
    assert w.alive()
    assert_drained(r)
