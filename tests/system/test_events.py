# SPDX-License-Identifier: MIT
"""The events stream <prefix>events (protocol/PROTOCOL.md, "Events") and
`celeriac events`.

- A worker writes worker-online when it registers and worker-offline with
  why warm or cold when it stops; a worker that takes over a dead worker's
  tasks writes worker-offline presumed-dead for it.
- With --events, every task step: received, started, then succeeded,
  failed, retried, expired or dead-lettered, with the task id, name,
  queue, worker, attempt, runtime and time spent queued; taken-over for a
  task taken from another worker.  Without --events, none.
- The stream is capped (MAXLEN ~); `celeriac events --follow` prints new
  events as they come.
- The heartbeat record carries rate_1m and paused.
"""

import json
import os
import signal
import subprocess
import time

from harness import PRODUCER_BIN, enqueue, wait_result, wait_until
from watchlib import events, wait_registered


def by_id(evs, tid):
    return [e for e in evs if e.get("id") == tid]


def test_task_events_with_events_flag(r, worker, celeriac):
    w = worker("--name", "ev1", "--events", "--max-deliveries", "1")
    wait_registered(r, "ev1")
    enqueue(r, {"task": "hash", "id": "ok1", "args": {"data": "x"}})
    enqueue(r, {"task": "hash", "id": "bad1",
                "args": {"algorithm": "no-such", "data": "x"}})
    # Killed at its time limit, retried once, then failed.
    enqueue(r, {"task": "hash", "id": "retry1", "max_retries": 1,
                "retry_delay": 0.1, "time_limit": 0.05,
                "args": {"iterations": 10 ** 7, "data": "x"}})
    enqueue(r, {"task": "hash", "id": "old1", "expires": "2000-01-01T00:00:00Z",
                "args": {"data": "x"}})
    for tid in ("ok1", "bad1", "old1"):
        wait_result(r, tid)
    wait_result(r, "retry1", timeout=120)

    def complete():
        evs = events(celeriac)
        return evs if by_id(evs, "retry1") and \
            by_id(evs, "retry1")[-1]["type"] == "task-failed" else None
    evs = wait_until(complete, 60, what="the retried task's last event")

    types = [e["type"] for e in by_id(evs, "ok1")]
    assert types == ["task-received", "task-started", "task-succeeded"], evs
    rec, start, done = by_id(evs, "ok1")
    for e in (rec, start, done):
        assert e["worker"] == "ev1" and e["task"] == "hash", e
        assert e["queue"] == "default" and e["attempt"] == 1, e
        assert isinstance(e["ts"], int), e
    assert rec["queued"] >= 0 and start["queued"] >= rec["queued"], evs
    assert done["runtime"] > 0, done
    assert [e["type"] for e in by_id(evs, "bad1")][-1] == "task-failed"
    assert [e["type"] for e in by_id(evs, "old1")][-1] == "task-expired"
    rt = [e["type"] for e in by_id(evs, "retry1")]
    assert "task-retried" in rt and rt[-1] == "task-failed", rt
    assert rt.count("task-received") == 2, rt  # the retry is a new entry
    online = [e for e in evs if e["type"] == "worker-online"]
    assert online and online[0]["worker"] == "ev1", evs

    # Text output: time, type, then the fields.
    run = celeriac("events", "--count", "3")
    assert run.rc == 0 and len(run.text().splitlines()) == 3, run
    assert all(" task-" in l or " worker-" in l
               for l in run.text().splitlines()), run.text()

    # The heartbeat record's rate and paused fields.
    rec = r.hgetall("celeriac:worker:ev1")
    assert b"rate_1m" in rec and rec[b"paused"] == b"", rec
    assert w.alive()


def test_worker_events_only_without_flag(r, worker, celeriac):
    w = worker("--name", "quiet", "--heartbeat", "0.2")
    wait_registered(r, "quiet")
    enqueue(r, {"task": "hash", "id": "q1", "args": {"data": "x"}})
    wait_result(r, "q1")
    # The rate follows the tasks finished (a beat after the result).
    wait_until(lambda: float(r.hget("celeriac:worker:quiet", "rate_1m")
                             or 0) > 0, 30, what="a rate above 0")
    # A cold stop: two signals.
    w.signal(signal.SIGTERM)
    w.signal(signal.SIGTERM)
    w.wait()
    evs = events(celeriac)
    assert not [e for e in evs if e["type"].startswith("task-")], evs
    assert [(e["type"], e["worker"]) for e in evs][0] == \
        ("worker-online", "quiet"), evs
    off = [e for e in evs if e["type"] == "worker-offline"]
    assert off and off[-1]["why"] in ("cold", "warm"), evs


def test_presumed_dead_and_taken_over(r, worker, celeriac):
    dead = worker("--name", "doomed", "--visibility-timeout", "1",
                  concurrency=1)
    wait_registered(r, "doomed")
    enqueue(r, {"task": "hash", "id": "t1",
                "args": {"data": "x", "iterations": 2000000}})
    wait_until(lambda: r.xpending("celeriac:queue:default",
                                  "celeriac")["pending"] == 1, 30,
               what="the doomed worker to hold the task")
    dead.kill()
    worker("--name", "heir", "--events", "--visibility-timeout", "1")
    wait_result(r, "t1", timeout=120)

    def seen():
        evs = events(celeriac)
        off = [e for e in evs if e["type"] == "worker-offline" and
               e["worker"] == "doomed"]
        return evs if off else None
    evs = wait_until(seen, 30, what="the presumed-dead event")
    off = [e for e in evs if e["type"] == "worker-offline"
           and e["worker"] == "doomed"]
    assert off[0]["why"] == "presumed-dead" and off[0]["by"] == "heir", off
    types = [e["type"] for e in by_id(evs, "t1")]
    assert types[0] == "task-taken-over", evs
    assert by_id(evs, "t1")[0]["attempt"] == 2, evs
    assert types[-1] == "task-succeeded", evs


def test_events_follow_and_cap(r, worker, celeriac, redis_server):
    # The stream is capped: old events go (approximately) past 10000.
    pipe = r.pipeline(transaction=False)
    for i in range(10500):
        pipe.xadd("celeriac:events", {"type": "filler", "ts": "0"})
    pipe.execute()
    proc = subprocess.Popen(
        [PRODUCER_BIN, "events", "--follow", "--json", "--count", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=dict(os.environ, CELERIAC_REDIS_URL=redis_server.url))
    try:
        # No worker yet: the one XREAD is the follower's, blocked.
        wait_until(lambda: proc.poll() is not None or any(
            c.get("cmd") == "xread" for c in r.client_list()), 30,
            what="celeriac events --follow to wait for events")
        assert proc.poll() is None, proc.stderr.read()
        worker("--name", "followed", "--events")
        enqueue(r, {"task": "hash", "id": "f1", "args": {"data": "x"}})
        wait_result(r, "f1")
        got = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            got.append(json.loads(line))
            if got[-1].get("type") == "task-succeeded":
                break
        assert [e["type"] for e in got if e.get("worker") == "followed"] == \
            ["worker-online", "task-received", "task-started",
             "task-succeeded"], got
        assert not [e for e in got if e["type"] == "filler"], got
    finally:
        proc.kill()
        proc.wait()
    assert r.xlen("celeriac:events") < 10500
