# SPDX-License-Identifier: MIT
"""The delivery options of `celeriac send` and `celeriac dead`.

- --countdown / --eta: the task goes to celeriac:scheduled with an id and
  its queue, is not run before it is due, and runs once when due (also
  with --wait, and for --batch lines with their own "countdown"/"eta").
- --expires (past, or before the task is due): EXPIRED, not run.
- --time-limit: TimeLimitExceeded; --max-retries with the backoff
  options: the attempts, retries and errors are in the result.
- The fields the options put in the message, and bad values (exit 2).
- `celeriac dead`: a real dead letter (its child killed with
  --max-deliveries 1) listed, requeued and then run to SUCCESS; --all
  and --purge.
"""

import json
import os
import re
import signal
import time
from datetime import datetime, timezone

import pytest

from harness import (QUEUE, assert_success, hashlib_digest, result_of,
                     wait_result, wait_until)

SCHEDULED = "celeriac:scheduled"
DEAD = "celeriac:dead"
SLOW_ARGS = ["--arg", "data=x", "--arg", "iterations:=5000000"]


def one_doc(run):
    lines = run.stdout.decode().splitlines()
    assert len(lines) == 1, run
    return json.loads(lines[0])


def parse_time(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def iso(t):
    return datetime.fromtimestamp(t, timezone.utc).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ")


def scheduled(r):
    """{message id: (message, due ms)} of the scheduled set."""
    out = {}
    for member, score in r.zrange(SCHEDULED, 0, -1, withscores=True):
        m = json.loads(member)
        out[m["id"]] = (m, score)
    return out


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- delayed tasks -------------------------------------------------------------


def test_countdown(r, worker, celeriac):
    worker()
    t0 = time.time()
    run = celeriac("send", "hash", "--arg", "data=later", "--countdown", "2")
    assert run.rc == 0, run
    tid = run.text().strip()
    assert re.fullmatch(r"[0-9a-f]{32}", tid), run
    msg, due = scheduled(r)[tid]
    assert msg["queue"] == "default" and msg["task"] == "hash", msg
    assert msg["args"] == {"data": "later"}, msg
    assert t0 * 1000 + 2000 <= due <= time.time() * 1000 + 2000, (t0, due)

    time.sleep(max(0, t0 + 1 - time.time()))
    assert result_of(r, tid) is None  # not before it is due
    doc = wait_result(r, tid, timeout=10)
    ran_at = time.time()
    assert_success(doc, "sha512", b"later")
    assert parse_time(doc["started_at"]) >= t0 + 2 - 0.01, doc
    assert ran_at - t0 < 4.5, "ran %.2f s after sending" % (ran_at - t0)
    assert doc["attempts"] == 1, doc
    assert r.zcard(SCHEDULED) == 0
    wait_until(lambda: r.xlen(QUEUE) == 0, 10, what="an empty queue")


def test_countdown_wait(r, worker, celeriac):
    worker()
    t0 = time.monotonic()
    run = celeriac("send", "hash", "--arg", "data=w", "--countdown", "1.5",
                   "--wait", "--timeout", "30")
    assert run.rc == 0, run
    assert time.monotonic() - t0 >= 1.5
    doc = one_doc(run)
    assert_success(doc, "sha512", b"w")
    assert re.fullmatch(r"[0-9a-f]{32}", doc["id"]), doc
    assert result_of(r, doc["id"]) == doc


@pytest.mark.parametrize("form", ["iso", "unix", "at"])
def test_eta(r, worker, celeriac, form):
    worker("--queues", "later,default")
    due = time.time() + 1.5
    eta = {"iso": iso(due), "unix": "%.3f" % due,
           "at": "@%.3f" % due}[form]
    run = celeriac("send", "hash", "--arg", "data=eta", "--eta", eta,
                   "--queue", "later", "--wait", "--timeout", "30")
    assert run.rc == 0, run
    doc = one_doc(run)
    assert_success(doc, "sha512", b"eta")
    assert parse_time(doc["started_at"]) >= due - 0.01, (due, doc)
    assert r.zcard(SCHEDULED) == 0


def test_batch_delays(r, worker, celeriac):
    """Lines with their own countdown/eta, lines delayed by --countdown,
    and ids kept: each runs once, when due."""
    worker()
    t0 = time.time()
    lines = [
        {"task": "hash", "id": "own-eta", "args": {"data": "1"},
         "eta": iso(t0 + 1)},
        {"task": "hash", "id": "own-countdown", "args": {"data": "2"},
         "countdown": 0.5},
        {"task": "hash", "id": "option", "args": {"data": "3"}},
        {"task": "hash", "args": {"data": "4"}, "eta": t0 + 1.2},
    ]
    run = celeriac("send", "--batch", "-", "--countdown", "2", "--wait",
                   "--timeout", "30",
                   input="".join(json.dumps(x) + "\n" for x in lines))
    assert run.rc == 0, run
    docs = {d["id"]: d for d in map(json.loads, run.text().splitlines())}
    assert len(docs) == 4, docs
    started = {tid: parse_time(d["started_at"]) for tid, d in docs.items()}
    assert started["own-eta"] >= t0 + 1 - 0.01
    assert started["own-countdown"] >= t0 + 0.5 - 0.01
    assert started["option"] >= t0 + 2 - 0.01
    anon = [t for t in docs if t not in ("own-eta", "own-countdown",
                                         "option")]
    assert len(anon) == 1 and re.fullmatch(r"[0-9a-f]{32}", anon[0])
    assert started[anon[0]] >= t0 + 1.2 - 0.01
    for tid, data in (("own-eta", b"1"), ("own-countdown", b"2"),
                      ("option", b"3"), (anon[0], b"4")):
        assert_success(docs[tid], "sha512", data)


# ---- expiry, time limits, retries -------------------------------------------


def test_expires_in_the_past(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=old", "--expires",
                   "2020-01-01T00:00:00Z", "--wait", "--timeout", "30")
    assert run.rc == 1, run
    doc = one_doc(run)
    assert doc["status"] == "EXPIRED", doc
    assert doc["error"]["type"] == "Expired", doc
    assert doc["result"] is None
    assert b"already past" in run.stderr, run


def test_expires_before_due(r, worker, celeriac):
    """Relative expiry shorter than the countdown: EXPIRED when moved."""
    worker()
    run = celeriac("send", "hash", "--arg", "data=late", "--expires", "0.5",
                   "--countdown", "1", "--wait", "--timeout", "30")
    assert run.rc == 1, run
    doc = one_doc(run)
    assert doc["status"] == "EXPIRED", doc
    assert b"expires before it is due" in run.stderr, run


def test_expires_in_the_future_runs(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=fresh", "--expires", "60",
                   "--wait", "--timeout", "30")
    assert run.rc == 0, run
    assert_success(one_doc(run), "sha512", b"fresh")


def test_time_limit(r, worker, celeriac):
    w = worker()
    run = celeriac("send", "hash", *SLOW_ARGS, "--time-limit", "0.2",
                   "--wait", "--timeout", "60")
    assert run.rc == 1, run
    doc = one_doc(run)
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    assert "200 ms" in doc["error"]["message"], doc
    assert doc["retries"] == 0 and doc["errors"] == [], doc
    assert b"TimeLimitExceeded" in run.stderr
    assert w.alive()


def test_max_retries(r, worker, celeriac):
    worker()
    t0 = time.time()
    run = celeriac("send", "hash", *SLOW_ARGS, "--time-limit", "0.2",
                   "--max-retries", "2", "--retry-backoff", "0.3",
                   "--retry-backoff-max", "0.5", "--no-retry-jitter",
                   "--wait", "--timeout", "60")
    assert run.rc == 1, run
    doc = one_doc(run)
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    assert doc["attempts"] >= 1, doc
    assert doc["retries"] == 2, doc
    assert len(doc["errors"]) == 2, doc
    for e in doc["errors"]:
        assert e["type"] == "TimeLimitExceeded", e
    # Backoff without jitter: 0.3 s, then min(0.6, 0.5) = 0.5 s.
    at = [parse_time(e["at"]) for e in doc["errors"]]
    assert at[0] >= t0
    assert at[1] - at[0] >= 0.3 + 0.2 - 0.05, at
    assert parse_time(doc["started_at"]) - at[1] >= 0.5 - 0.05, doc


# ---- the message -------------------------------------------------------------


def test_message_fields(r, celeriac):
    """What the options write, read back from Redis (no worker)."""
    t0 = time.time()
    run = celeriac("send", "hash", "--arg", "data=f", "--expires", "60",
                   "--time-limit", "3", "--max-retries", "1",
                   "--retry-backoff", "0.5", "--retry-backoff-max", "2",
                   "--no-retry-jitter")
    assert run.rc == 0, run
    [(eid, fields)] = r.xrange(QUEUE)
    assert run.text().strip() == "default/" + eid.decode()
    m = json.loads(fields[b"msg"])
    assert t0 + 60 <= m["expires"] <= time.time() + 60, m
    assert isinstance(m["expires"], float)
    assert m["time_limit"] == 3 and m["max_retries"] == 1, m
    assert m["retry_backoff"] == 0.5 and m["retry_backoff_max"] == 2, m
    assert m["retry_jitter"] is False, m
    assert "id" not in m and "queue" not in m, m

    run = celeriac("send", "hash", "--arg", "data=g", "--eta",
                   "2099-01-01T00:00:00Z", "--expires", "@4070908800.5",
                   "--queue", "q1")
    assert run.rc == 0, run
    tid = run.text().strip()
    msg, due = scheduled(r)[tid]
    assert due == 4070908800000, due
    assert msg["id"] == tid and msg["queue"] == "q1", msg
    assert msg["expires"] == 4070908800.5, msg
    assert r.xlen(QUEUE) == 1  # the delayed task is not on a stream


@pytest.mark.parametrize("args, words", [
    (["--countdown", "-1"], "--countdown"),
    (["--countdown", "soon"], "--countdown"),
    (["--countdown", "1", "--eta", "2030-01-01T00:00:00Z"], "one of them"),
    (["--eta", "2030-01-01T00:00:00"], "with the Z"),
    (["--eta", "1795316254859"], "milliseconds"),
    (["--eta", "tomorrow"], "--eta"),
    (["--expires", "0"], "--expires"),
    (["--expires", "1795316254"], "@1795316254"),
    (["--expires", "@x"], "--expires"),
    (["--time-limit", "0"], "--time-limit"),
    (["--time-limit", "nan"], "--time-limit"),
    (["--max-retries", "1.5"], "--max-retries"),
    (["--max-retries", "1001"], "--max-retries"),
    (["--retry-backoff", "-2"], "--retry-backoff"),
    (["--retry-backoff-max", "inf"], "--retry-backoff-max"),
])
def test_bad_values(r, celeriac, args, words):
    run = celeriac("send", "hash", "--arg", "data=x", *args)
    assert run.rc == 2, run
    assert words.encode() in run.stderr, run
    assert b"celeriac send --help" in run.stderr, run
    run = celeriac("send", "--batch", "-", *args,
                   input='{"task": "hash", "args": {}}\n')
    assert run.rc == 2, run
    assert r.exists(QUEUE, SCHEDULED) == 0


def test_batch_bad_delivery_fields(r, worker, celeriac):
    worker()
    lines = [
        {"task": "hash", "id": "ok", "args": {"data": "a"}, "time_limit": 5,
         "max_retries": 1, "retry_jitter": False},
        {"task": "hash", "id": "b1", "args": {}, "countdown": -1},
        {"task": "hash", "id": "b2", "args": {}, "countdown": 1, "eta": 2},
        {"task": "hash", "id": "b3", "args": {}, "eta": "next week"},
        {"task": "hash", "id": "b4", "args": {}, "time_limit": "5"},
        {"task": "hash", "id": "b5", "args": {}, "max_retries": 0.5},
        {"task": "hash", "id": "b6", "args": {}, "retries": 1},
        {"task": "hash", "id": "b7", "args": {}, "retry_jitter": "no"},
        {"task": "hash", "id": "b8", "args": {}, "expires": "soon"},
    ]
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "30",
                   input="".join(json.dumps(x) + "\n" for x in lines))
    assert run.rc == 1, run
    err = run.stderr.decode()
    for n in range(2, 10):
        assert "line %d:" % n in err, err
    assert "8 bad lines" in err, err
    [doc] = map(json.loads, run.text().splitlines())
    assert doc["id"] == "ok"
    assert_success(doc, "sha512", b"a")


# ---- dead letters ------------------------------------------------------------


def test_dead_requeue_real_dead_letter(r, worker, celeriac):
    """A task whose child is killed with --max-deliveries 1 is dead-
    lettered; `celeriac dead` lists it, --requeue puts it back, and it then
    runs to SUCCESS."""
    iterations = 3000000
    w = worker("--max-deliveries", "1", concurrency=1)
    run = celeriac("send", "hash", "--arg", "data=poison", "--arg",
                   "iterations:=%d" % iterations)
    assert run.rc == 0, run
    tid = run.text().strip()

    def busy():
        return [k for k in w.children() if cpu_seconds(k) >= 0.1]
    [child] = wait_until(busy, 30, interval=0.01, what="the busy child")
    os.kill(child, signal.SIGKILL)
    doc = wait_result(r, tid, timeout=30)
    assert doc["status"] == "FAILURE" and \
        doc["error"]["type"] == "WorkerLost", doc
    assert r.xlen(DEAD) == 1

    run = celeriac("dead")
    assert run.rc == 0, run
    out = run.text()
    [(entry, _)] = r.xrange(DEAD)
    entry = entry.decode()
    assert "1 dead letter in celeriac:dead" in out, out
    row = [line for line in out.splitlines() if line.startswith(entry)]
    assert len(row) == 1 and tid in row[0] and "default" in row[0] and \
        "WorkerLost" in row[0], out

    run = celeriac("dead", "--json")
    assert run.rc == 0, run
    listing = json.loads(run.stdout)
    assert listing["length"] == 1
    [e] = listing["entries"]
    assert e["entry"] == entry and e["id"] == tid and e["task"] == "hash"
    assert e["queue"] == "default" and e["queue_key"] == QUEUE
    assert e["reason"]["error"]["type"] == "WorkerLost", e
    assert e["msg"]["args"]["iterations"] == iterations

    run = celeriac("dead", "--requeue", entry)
    assert run.rc == 0, run
    assert run.text().startswith("requeued %s (task %s) to %s as "
                                 % (entry, tid, QUEUE)), run
    assert r.xlen(DEAD) == 0
    doc = wait_until(lambda: (result_of(r, tid) or {}).get("status") ==
                     "SUCCESS" and result_of(r, tid), 60,
                     what="the requeued task's SUCCESS")
    assert_success(doc, "sha512", b"poison", iterations=iterations,
                   digest=hashlib_digest("sha512", b"poison",
                                         iterations=iterations))
    # Requeued once: asking again finds nothing.
    run = celeriac("dead", "--requeue", entry)
    assert run.rc == 1 and b"no dead letter" in run.stderr, run


def dead_letter(r, tid, queue=QUEUE, data="d"):
    reason = {"error": {"type": "WorkerLost", "message": "killed"},
              "deliveries": 5, "worker": "w", "at": iso(time.time())}
    fields = {"reason": json.dumps(reason), "queue": queue,
              "entry": "1-%d" % len(tid)}
    if data is not None:
        fields["msg"] = json.dumps({"task": "hash", "id": tid,
                                    "args": {"data": data}})
    return r.xadd(DEAD, fields).decode()


def test_dead_requeue_all_and_purge(r, worker, celeriac):
    worker()
    for i in range(250):
        dead_letter(r, "all-%d" % i, data="all %d" % i)
    dead_letter(r, "elsewhere", queue="other:queue:default")
    dead_letter(r, "nomsg", data=None)

    run = celeriac("dead", "--count", "3")
    assert run.rc == 0, run
    assert "252 dead letters" in run.text() and "the first 3 of 252" in \
        run.text(), run

    run = celeriac("dead", "--requeue", "--all")
    assert run.rc == 1, run  # two could not go back
    assert "250 dead letters requeued, 2 left" in run.text(), run
    assert b"other:queue:default" in run.stderr and b"no msg" in \
        run.stderr, run
    for i in range(250):
        doc = wait_result(r, "all-%d" % i, timeout=60)
        assert doc["result"]["digest"] == hashlib_digest(
            "sha512", b"all %d" % i), doc
    assert r.xlen(DEAD) == 2

    run = celeriac("dead", "--purge")
    assert run.rc == 2 and b"--yes" in run.stderr, run
    assert r.xlen(DEAD) == 2
    run = celeriac("dead", "--purge", "--yes")
    assert run.rc == 0, run
    assert "2 dead letters" in run.text(), run
    assert r.exists(DEAD) == 0
    run = celeriac("dead")
    assert run.rc == 0 and "No dead letters" in run.text(), run


@pytest.mark.parametrize("args", [
    ["--requeue"], ["--requeue", "12"], ["--all"], ["--yes"],
    ["--requeue", "--purge"], ["--requeue", "--all", "1-0"],
    ["--count", "0"], ["1-0"], ["--purge", "--json"],
])
def test_dead_usage(r, celeriac, args):
    run = celeriac("dead", *args)
    assert run.rc == 2, run
    assert b"celeriac dead --help" in run.stderr, run


def test_help_mentions_new_options(celeriac):
    run = celeriac("send", "--help")
    assert run.rc == 0
    for opt in (b"--countdown", b"--eta", b"--expires", b"--time-limit",
                b"--max-retries", b"--retry-backoff", b"--retry-backoff-max",
                b"--no-retry-jitter"):
        assert opt in run.stdout, opt
    run = celeriac("dead", "--help")
    assert run.rc == 0 and b"Usage: celeriac dead" in run.stdout
    run = celeriac("help", "dead")
    assert run.rc == 0 and b"--requeue" in run.stdout
