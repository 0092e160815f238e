# SPDX-License-Identifier: MIT
"""Issue 8, classes 1 to 3, with a running worker:

- a task message cannot make a worker write outside celeriac's own keys:
  a reply_to that is not "<prefix>reply:<token>" gets an InvalidMessage
  FAILURE and the key it named is left exactly as it was (no entry, no
  TTL) — another application's keys, the queue, the scheduled set, the
  registry and the dead-letter stream;
- a key the scripts write that holds the wrong type (the scheduled set,
  the dead-letter stream, a reply stream, a result key, a queue) poisons
  only the tasks that need it: they get a StoreFailed FAILURE (or wait in
  the scheduled set), every other task gets its result, nothing is lost,
  the wrong key is not touched, and the worker does not retry a failing
  batch forever;
- id-less tasks added to two queues with the same entry id get two task
  ids ("<queue>/<entry id>") and two results."""

import json

import pytest

from harness import (GROUP, QUEUE, RESULT_PREFIX, hashlib_digest,
                     pending_count, result_of, wait_until)

SCHED = "celeriac:scheduled"
DEAD = "celeriac:dead"
GOOD_REPLY = "celeriac:reply:good"
# sha512 ten million times: seconds, far past the time limits used here.
LONG = {"data": "slow", "algorithm": "sha512", "iterations": 10000000}


def task(tid, data, **extra):
    msg = {"v": 1, "task": "hash", "id": tid, "args": {"data": data}}
    msg.update(extra)
    return json.dumps(msg)


def final_result(r, tid):
    doc = result_of(r, tid)
    return doc if doc is not None and doc["status"] != "RETRY" else None


def snapshot(r, key):
    """What a key holds, in a form that compares equal while untouched."""
    kind = r.type(key).decode()
    value = {"string": lambda: r.get(key),
             "hash": lambda: r.hgetall(key),
             "zset": lambda: r.zrange(key, 0, -1, withscores=True),
             "stream": lambda: [e[0] for e in r.xrange(key)],
             "none": lambda: None}[kind]()
    return kind, value, r.ttl(key)


# ---- class 1: reply_to outside the namespace --------------------------------


def test_reply_to_outside_the_namespace_is_refused(r, worker):
    r.set("app:string", "precious")
    r.hset("app:hash", "field", "value")
    r.zadd(SCHED, {task("far-future", "x"): 4102444800000})
    r.xadd(DEAD, {"msg": "{}", "reason": "{}"})
    w = worker("--result-ttl", "3")
    targets = ["app:string", "app:hash", "app:new", QUEUE, SCHED,
               "celeriac:workers", DEAD, "celeriac:reply:", "other:reply:x"]
    before = {k: snapshot(r, k) for k in targets if k != QUEUE}
    for i, key in enumerate(targets):
        r.xadd(QUEUE, {"msg": task("bad-%d" % i, "x", reply_to=key)})
    r.xadd(QUEUE, {"msg": task("ok", "abc", reply_to=GOOD_REPLY)})
    docs = {i: wait_until(lambda i=i: final_result(r, "bad-%d" % i), 30,
                          what="result of bad-%d" % i)
            for i in range(len(targets))}
    ok = wait_until(lambda: final_result(r, "ok"), 30)
    for i, key in enumerate(targets):
        d = docs[i]
        assert d["status"] == "FAILURE", d
        assert d["error"]["type"] == "InvalidMessage", d
        assert "reply_to" in d["error"]["message"], d
        assert "celeriac:reply:" in d["error"]["message"], d
    assert ok["status"] == "SUCCESS"
    assert ok["result"]["digest"] == hashlib_digest("sha512", b"abc")
    (_, fields), = r.xrange(GOOD_REPLY)
    assert json.loads(fields[b"result"])["id"] == "ok"
    # Every key named is exactly as it was: no entry appended, no TTL set.
    for key, snap in before.items():
        if key == "celeriac:workers":  # the worker's beat updates scores
            assert r.type(key) == b"zset" and r.ttl(key) == -1
            continue
        assert snapshot(r, key) == snap, key
    # The queue is not expired under the worker: with --result-ttl 3 a TTL
    # on it would remove it and its group within seconds.
    assert r.ttl(QUEUE) == -1
    assert r.exists(QUEUE) and r.xinfo_groups(QUEUE)
    assert r.xlen(QUEUE) == 0 and pending_count(r) == 0
    assert w.alive()


# ---- class 2: a key of the wrong type poisons only what needs it ------------

KINDS = ["scheduled", "dead", "reply", "result", "queue"]


def break_key(r, kind):
    """Makes the key of this kind hold the wrong type; returns its name."""
    if kind == "scheduled":
        r.set(SCHED, "stray")
        return SCHED
    if kind == "dead":
        r.set(DEAD, "stray")
        return DEAD
    if kind == "reply":
        r.hset("celeriac:reply:bad", "not", "a stream")
        return "celeriac:reply:bad"
    if kind == "result":
        r.hset(RESULT_PREFIX + "clobbered", "not", "a string")
        return RESULT_PREFIX + "clobbered"
    r.set("celeriac:queue:other", "stray")
    return "celeriac:queue:other"


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_type_key_poisons_only_its_tasks(r, worker, kind):
    bad = break_key(r, kind)
    bad_before = snapshot(r, bad)
    # Held by a consumer with no heartbeat after one delivery: taken over
    # past --max-deliveries 1, so dead-lettered.
    r.xgroup_create(QUEUE, GROUP, "0", mkstream=True)
    r.xadd(QUEUE, {"msg": task("ghost", "g")})
    assert r.xreadgroup(GROUP, "ghost", {QUEUE: ">"}, count=1)
    w = worker("--max-deliveries", "1", "--visibility-timeout", "1")
    tasks = {"t%d" % i: "data %d" % i for i in range(30)}
    for tid, data in tasks.items():
        r.xadd(QUEUE, {"msg": task(tid, data, reply_to=GOOD_REPLY)})
    # Retried once (TimeLimitExceeded), then a final failure.
    for tid in ("retry-1", "retry-2"):
        r.xadd(QUEUE, {"msg": json.dumps({
            "task": "hash", "id": tid, "args": LONG, "time_limit": 0.05,
            "max_retries": 1, "retry_backoff": 0.05})})
    if kind == "reply":
        r.xadd(QUEUE, {"msg": task("to-bad-reply", "b",
                                   reply_to="celeriac:reply:bad")})
    if kind == "result":
        r.xadd(QUEUE, {"msg": task("clobbered", "c")})
    if kind == "queue":
        r.zadd(SCHED, {task("for-other", "o", queue="other"): 1,
                       task("for-default", "d", queue="default"): 2})
    ids = list(tasks) + ["retry-1", "retry-2", "ghost"] + {
        "reply": ["to-bad-reply"], "result": ["clobbered"],
        "queue": ["for-default"]}.get(kind, [])
    docs = {t: wait_until(lambda t=t: final_result(r, t), 60,
                          what="the final result of " + t) for t in ids}

    for tid, data in tasks.items():
        d = docs[tid]
        assert d["status"] == "SUCCESS", d
        assert d["result"]["digest"] == hashlib_digest("sha512",
                                                       data.encode())
    replies = {json.loads(f[b"result"])["id"]
               for _, f in r.xrange(GOOD_REPLY)}
    assert set(tasks) <= replies

    for tid in ("retry-1", "retry-2"):
        d = docs[tid]
        assert d["status"] == "FAILURE", d
        if kind == "scheduled":
            assert d["error"]["type"] == "StoreFailed", d
            assert "retry could not be scheduled" in d["error"]["message"]
            assert SCHED in d["error"]["message"]
            assert "TimeLimitExceeded" in d["error"]["message"]
        else:
            assert d["error"]["type"] == "TimeLimitExceeded", d
            assert d["retries"] == 1, d

    d = docs["ghost"]
    assert d["status"] == "FAILURE", d
    if kind == "dead":
        assert d["error"]["type"] == "StoreFailed", d
        assert "dead-lettered" in d["error"]["message"], d
        assert "MaxDeliveriesExceeded" in d["error"]["message"], d
    else:
        assert d["error"]["type"] == "MaxDeliveriesExceeded", d
        (_, dl), = r.xrange(DEAD)
        assert json.loads(dl[b"msg"])["id"] == "ghost"

    if kind == "reply":
        d = docs["to-bad-reply"]
        assert d["status"] == "FAILURE", d
        assert d["error"]["type"] == "StoreFailed", d
        assert "celeriac:reply:bad" in d["error"]["message"], d
    if kind == "result":
        # The result key is celeriac's: the stray hash is replaced.
        d = docs["clobbered"]
        assert d["status"] == "SUCCESS", d
        assert d["result"]["digest"] == hashlib_digest("sha512", b"c")
    else:
        # The wrong key is exactly as it was: no write, no TTL.
        assert snapshot(r, bad) == bad_before
    if kind == "queue":
        assert docs["for-default"]["status"] == "SUCCESS"
        # The task for the broken queue waits in the scheduled set.
        assert [json.loads(m)["id"] for m in r.zrange(SCHED, 0, -1)] == \
            ["for-other"]

    # Nothing lost: every entry finished, acknowledged and deleted.
    wait_until(lambda: r.xlen(QUEUE) == 0 and pending_count(r) == 0, 30,
               what="the queue to be empty")
    log = w.log()
    assert "Redis refused to store" not in log, log
    assert w.alive()


# ---- class 3: task ids unique across queues --------------------------------


def test_idless_tasks_with_equal_entry_ids_get_their_own_results(r, worker):
    w = worker("--queues", "q1,q2", stream="celeriac:queue:q2")
    pipe = r.pipeline(transaction=True)
    for q in ("q1", "q2"):
        pipe.xadd("celeriac:queue:" + q,
                  {"msg": json.dumps({"task": "hash",
                                      "args": {"data": "from " + q}})},
                  id="1700000000000-7")
    assert pipe.execute() == [b"1700000000000-7"] * 2
    for q in ("q1", "q2"):
        tid = q + "/1700000000000-7"
        d = wait_until(lambda: result_of(r, tid), 30,
                       what="the result of " + tid)
        assert d["id"] == tid
        assert d["status"] == "SUCCESS", d
        assert d["result"]["digest"] == hashlib_digest(
            "sha512", ("from " + q).encode())
    assert result_of(r, "1700000000000-7") is None
    assert w.alive()
