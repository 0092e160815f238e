# SPDX-License-Identifier: MIT
"""celeriac inspect and celeriac control against running workers
(protocol/PROTOCOL.md, "Control").

- Every live worker of the registry answers inspect (ping, stats, active,
  registered, conf); a worker that does not answer is named, and the exit
  status is 1.
- control pause stops a worker reading one queue while it reads the
  others; resume reads it again.
- control grow/shrink changes the number of children, within the bounds;
  control loglevel changes the log level; control shutdown is a warm
  shutdown (exit 0, an offline event).
"""

import json
import time

import pytest

from harness import QUEUE, enqueue, wait_result, wait_until
from watchlib import ask, events, wait_answering, wait_registered


def test_inspect_every_worker(r, worker, celeriac):
    worker("--name", "ins-a")
    worker("--name", "ins-b", "--heartbeat", "0.2")
    wait_answering(celeriac, "ins-a", "ins-b")

    rc, doc = ask(celeriac, "inspect", "ping")
    assert rc == 0 and doc["unanswered"] == [], doc
    assert set(doc["replies"]) == {"ins-a", "ins-b"}, doc
    assert all(v["ok"] and v["result"]["pong"] is True
               for v in doc["replies"].values()), doc

    enqueue(r, {"task": "hash", "id": "i1", "args": {"data": "x"}})
    wait_result(r, "i1")
    # The counters are those of the worker that ran it.
    rc, doc = ask(celeriac, "inspect", "stats")
    assert rc == 0, doc
    got = sum(v["result"]["counters"]["succeeded"]
              for v in doc["replies"].values())
    assert got == 1, doc
    b = doc["replies"]["ins-b"]["result"]
    assert b["concurrency"] == 2 and b["children_alive"] == 2, b
    assert b["queues"] == ["default"] and b["paused"] == [], b

    rc, doc = ask(celeriac, "inspect", "--to", "ins-a", "registered")
    assert rc == 0 and list(doc["replies"]) == ["ins-a"], doc
    assert "hash" in doc["replies"]["ins-a"]["result"]["tasks"], doc

    rc, doc = ask(celeriac, "inspect", "--to", "ins-b", "conf")
    conf = doc["replies"]["ins-b"]["result"]
    assert conf["heartbeat"] == 0.2 and conf["concurrency"] == 2, conf
    assert conf["prefix"] == "celeriac:" and conf["events"] is False, conf
    assert "password" not in str(conf), conf

    # A task in hand shows in active, with its runtime.
    enqueue(r, {"task": "hash", "id": "slow1",
                "args": {"data": "y", "iterations": 3000000}})

    def running():
        rc, doc = ask(celeriac, "inspect", "active")
        for v in doc["replies"].values():
            for t in v["result"]["tasks"]:
                if t["id"] == "slow1" and t["state"] == "running" \
                        and t["runtime"] > 0:
                    return t
        return None
    t = wait_until(running, 60, what="the slow task to show as active")
    assert t["task"] == "hash" and t["queue"] == "default", t
    assert t["attempt"] == 1, t
    wait_result(r, "slow1", timeout=120)

    # Text output: one line a worker.
    run = celeriac("inspect", "ping")
    assert run.rc == 0, run
    assert sorted(l.split(":")[0] for l in run.text().splitlines()) == \
        ["ins-a", "ins-b"], run.text()


def test_unanswered_workers_are_named(r, worker, celeriac):
    worker("--name", "alive")
    wait_answering(celeriac, "alive")
    # A worker that registered and then hung: live in the registry, silent.
    r.zadd("celeriac:workers", {"hung": int(time.time() * 1000)})
    r.hset("celeriac:worker:hung", mapping={"name": "hung"})
    r.expire("celeriac:worker:hung", 60)
    t0 = time.monotonic()
    rc, doc = ask(celeriac, "inspect", "ping", timeout=0.5)
    assert rc == 1, doc
    assert doc["unanswered"] == ["hung"], doc
    assert doc["replies"]["alive"]["ok"], doc
    assert time.monotonic() - t0 < 30  # bounded by --timeout, not forever

    run = celeriac("inspect", "--to", "ghost", "--timeout", "0.2", "ping")
    assert run.rc == 1 and "ghost: no answer" in run.text(), run

    # A refused request: exit 1, the reason in the answer.
    rc, doc = ask(celeriac, "control", "--to", "alive", "pause", "nosuch")
    assert rc == 1, doc
    assert "nosuch" in doc["replies"]["alive"]["result"]["error"], doc


def test_usage_errors(celeriac):
    for args in (["inspect"], ["inspect", "nothing"], ["control", "pause"],
                 ["control", "grow", "1", "2"], ["inspect", "ping", "x"],
                 ["control", "--timeout", "soon", "shutdown"]):
        run = celeriac(*args)
        assert run.rc == 2, run


@pytest.mark.parametrize("prio", [[], ["--priority", "strict"],
                                  ["--priority", "qa:3,qb:1"]],
                         ids=["all", "strict", "weighted"])
def test_pause_and_resume_a_queue(r, worker, celeriac, prio):
    # With --priority the worker reads one queue at a time: a paused queue
    # is skipped as if it were empty.
    w = worker("--name", "pauser", "-Q", "qa,qb", "--heartbeat", "0.2",
               *prio, stream="celeriac:queue:qb")
    wait_answering(celeriac, "pauser")
    rc, doc = ask(celeriac, "control", "pause", "qa")
    assert rc == 0, doc
    assert doc["replies"]["pauser"]["result"]["paused"] == ["qa"], doc
    wait_until(lambda: r.hget("celeriac:worker:pauser", "paused") == b"qa",
               30, what="the heartbeat to show qa paused")

    enqueue(r, {"task": "hash", "id": "pa", "args": {"data": "a"}},
            stream="celeriac:queue:qa")
    enqueue(r, {"task": "hash", "id": "pb", "args": {"data": "b"}},
            stream="celeriac:queue:qb")
    wait_result(r, "pb")
    # qb was read after qa's task was sent: qa's is still undelivered.
    # One more read of qb, later still, to be sure of it.
    enqueue(r, {"task": "hash", "id": "pb2", "args": {"data": "b2"}},
            stream="celeriac:queue:qb")
    wait_result(r, "pb2")
    group = r.xinfo_groups("celeriac:queue:qa")[0]
    assert group["pending"] == 0 and group["lag"] == 1, group
    assert r.get("celeriac:result:pa") is None

    rc, doc = ask(celeriac, "control", "resume", "qa")
    assert rc == 0 and doc["replies"]["pauser"]["result"]["paused"] == [], \
        doc
    wait_result(r, "pa")
    assert w.alive()


def test_grow_shrink_and_loglevel(r, worker, celeriac):
    w = worker("--name", "sizer", concurrency=2)
    wait_answering(celeriac, "sizer")
    rc, doc = ask(celeriac, "control", "grow", "2")
    assert rc == 0 and doc["replies"]["sizer"]["result"]["concurrency"] == 4
    w.wait_children(4)
    rc, doc = ask(celeriac, "control", "shrink", "3")
    assert rc == 0 and doc["replies"]["sizer"]["result"]["concurrency"] == 1
    wait_until(lambda: len(w.children()) == 1, 30,
               what="the pool to shrink to one child")
    # Bounded: 4 x --concurrency at most, one child at least.
    rc, doc = ask(celeriac, "control", "grow", "100")
    res = doc["replies"]["sizer"]["result"]
    assert rc == 0 and res["concurrency"] == 8 and "limited" in res, res
    w.wait_children(8)
    rc, doc = ask(celeriac, "control", "shrink", "100")
    assert doc["replies"]["sizer"]["result"]["concurrency"] == 1, doc
    wait_until(lambda: len(w.children()) == 1, 30,
               what="the pool to shrink to one child again")
    rc, doc = ask(celeriac, "control", "grow", "x")
    assert rc == 1, doc

    # Tasks still run on the one child.
    enqueue(r, {"task": "hash", "id": "g1", "args": {"data": "g"}})
    wait_result(r, "g1")

    assert "DEBUG" not in w.log()
    rc, doc = ask(celeriac, "control", "loglevel", "debug")
    assert rc == 0, doc
    enqueue(r, {"task": "hash", "id": "g2", "args": {"data": "g2"}})
    wait_result(r, "g2")
    wait_until(lambda: "DEBUG" in w.log(), 30, what="debug lines")
    rc, doc = ask(celeriac, "control", "loglevel", "loud")
    assert rc == 1, doc
    assert w.alive()


def test_control_shutdown_is_warm(r, worker, celeriac):
    w = worker("--name", "stopper")
    other = worker("--name", "stays")
    wait_answering(celeriac, "stopper", "stays")
    enqueue(r, {"task": "hash", "id": "s1",
                "args": {"data": "s", "iterations": 500000}})
    rc, doc = ask(celeriac, "control", "--to", "stopper", "shutdown")
    assert rc == 0, doc
    assert doc["replies"]["stopper"]["result"]["shutdown"] == "warm", doc
    assert w.wait() == 0, w.log()
    wait_result(r, "s1", timeout=120)
    offline = [e for e in events(celeriac)
               if e["type"] == "worker-offline" and e["worker"] == "stopper"]
    assert offline and offline[-1]["why"] == "warm", offline
    assert other.alive()
    wait_until(lambda: r.zscore("celeriac:workers", "stopper") is None, 30,
               what="the stopped worker to leave the registry")
    rc, doc = ask(celeriac, "inspect", "ping")
    assert rc == 0 and list(doc["replies"]) == ["stays"], doc


def test_bad_requests_never_hurt(r, worker, celeriac):
    w = worker("--name", "tough")
    wait_answering(celeriac, "tough")
    ctl = "celeriac:control"
    # No fields the worker needs; a reply stream outside the prefix; a
    # huge argument; an unknown command; binary junk.
    r.xadd(ctl, {"junk": "1"})
    r.xadd(ctl, {"to": "*", "cmd": "ping", "reply": "other:reply:x"})
    r.xadd(ctl, {"to": "*", "cmd": "ping", "reply": "celeriac:queue:default"})
    r.xadd(ctl, {"to": "*", "cmd": "pause", "arg": "q" * 100000,
                 "reply": "celeriac:reply:big"})
    r.xadd(ctl, {"to": "*", "cmd": "selfdestruct",
                 "reply": "celeriac:reply:unknown"})
    r.xadd(ctl, {"to": "*", "cmd": b"\xff\x00", "reply": "celeriac:reply:bin"})
    r.xadd(ctl, {"to": "*", "reply": "celeriac:reply:nocmd"})
    wait_until(lambda: all(r.exists("celeriac:reply:" + k)
                           for k in ("big", "unknown", "bin", "nocmd")), 30,
               what="the refusals")
    for k in ("big", "unknown", "bin", "nocmd"):
        entries = r.xrange("celeriac:reply:" + k)
        assert len(entries) == 1, (k, entries)
        f = entries[0][1]
        assert f[b"worker"] == b"tough" and f[b"ok"] == b"0", (k, f)
        assert "error" in json.loads(f[b"result"]), (k, f)
        assert 0 < r.ttl("celeriac:reply:" + k) <= 60
    assert not r.exists("other:reply:x")
    assert r.xlen("celeriac:queue:default") == 0  # nothing written there
    rc, doc = ask(celeriac, "inspect", "ping")
    assert rc == 0 and doc["replies"]["tough"]["ok"], doc
    assert w.alive()
