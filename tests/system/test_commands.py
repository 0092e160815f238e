# SPDX-License-Identifier: MIT
"""The commands that replace raw redis-cli: `celeriac result`, `purge`
and `revoke`, and the CLI's "did you mean" for a mistyped command.

- result: a stored result (text and --json), an unknown id ('none', exit
  1), --wait until a task sent without --wait has run, --timeout (exit 3).
- purge: refuses without --yes (and counts), deletes only what no worker
  took, says how many.
- revoke: a queued task is not run (REVOKED result, acknowledged), also
  when its message is megabytes with the id after the payload, a
  delayed one is taken out of the scheduled set at once, a task already
  running runs to completion; ids are kept in celeriac:revoked.
"""

import json
import re
import time

from harness import (QUEUE, assert_success, enqueue, pending_count,
                     result_of, wait_result, wait_until)

REVOKED = "celeriac:revoked"
SCHEDULED = "celeriac:scheduled"


def test_result_text_json_and_missing(worker, celeriac, r):
    worker()
    sent = celeriac("send", "hash", "--arg", "data=abc", "--wait")
    assert sent.rc == 0, sent
    tid = json.loads(sent.stdout)["id"]
    got = celeriac("result", tid)
    assert got.rc == 0, got
    doc = result_of(r, tid)
    assert got.text() == "%s SUCCESS %s\n" % (tid, doc["result"]["digest"])
    got = celeriac("result", "--json", tid, "no-such-id")
    assert got.rc == 1, got
    lines = got.text().splitlines()
    assert json.loads(lines[0]) == doc
    assert json.loads(lines[1]) == {"id": "no-such-id", "status": None}
    got = celeriac("result", "no-such-id")
    assert got.rc == 1 and got.text() == "no-such-id none\n", got


def test_result_wait_and_timeout(worker, celeriac, r):
    got = celeriac("result", "--wait", "--timeout", "0.3", "later")
    assert got.rc == 3, got
    assert "timeout" in got.stderr.decode()
    sent = celeriac("send", "hash", "--arg", "data=abc", "--countdown", "1")
    assert sent.rc == 0, sent
    tid = sent.text().strip()
    worker()
    got = celeriac("result", "--wait", "--timeout", "60", "--json", tid)
    assert got.rc == 0, got
    assert_success(json.loads(got.stdout), "sha512", b"abc")


def test_result_usage(celeriac):
    assert celeriac("result").rc == 2
    assert celeriac("result", "--timeout", "1", "x").rc == 2
    assert celeriac("result", "x" * 201).rc == 2


def test_purge(worker, celeriac, r):
    for i in range(5):
        enqueue(r, {"task": "hash", "args": {"data": str(i)}, "id": "p%d" % i})
    got = celeriac("purge", QUEUE.split(":")[-1])
    assert got.rc == 2, got
    assert "5 task(s)" in got.stderr.decode() and "--yes" in got.stderr.decode()
    assert r.xlen(QUEUE) == 5
    got = celeriac("purge", "default", "--yes")
    assert got.rc == 0, got
    assert got.text().startswith("purged 5 task(s) from queue default"), got
    assert r.xlen(QUEUE) == 0
    # Nothing left for a worker; a new task still runs.
    worker()
    enqueue(r, {"task": "hash", "args": {"data": "abc"}, "id": "after"})
    assert_success(wait_result(r, "after"), "sha512", b"abc")
    for i in range(5):
        assert result_of(r, "p%d" % i) is None
    got = celeriac("purge", "nothing-here", "--yes")
    assert got.rc == 0 and got.text().startswith("purged 0 task(s)"), got


def test_purge_leaves_taken_tasks(worker, celeriac, r):
    w = worker(concurrency=1)
    enqueue(r, {"task": "hash", "args": {"data": "x", "iterations": 3000000},
                "id": "slow"})
    wait_until(lambda: pending_count(r) == 1, 30, what="the task taken")
    for i in range(3):
        enqueue(r, {"task": "hash", "args": {"data": "y"}, "id": "w%d" % i})
    got = celeriac("purge", "default", "--yes")
    assert got.rc == 0, got
    # The worker may have prefetched some of the three: those are left.
    n = int(got.text().split()[1])
    assert 0 <= n <= 3, got
    assert wait_result(r, "slow", 120)["status"] == "SUCCESS"
    assert w.alive()


def test_usage_errors_and_suggestions(celeriac):
    got = celeriac("purge")
    assert got.rc == 2
    got = celeriac("purge", "a b", "--yes")
    assert got.rc == 2
    got = celeriac("sned")
    assert got.rc == 2 and "did you mean 'send'?" in got.stderr.decode()
    got = celeriac("help", "revok")
    assert got.rc == 2 and "did you mean 'revoke'?" in got.stderr.decode()
    got = celeriac("zzzzzz")
    err = got.stderr.decode()
    assert got.rc == 2 and "the commands are send," in err, err
    assert " revoke, " in err and " and help" in err, err


def test_revoke_queued_task(worker, celeriac, r):
    got = celeriac("revoke", "r1", "default/1-1")
    assert got.rc == 0, got
    assert got.text() == "r1 revoked\ndefault/1-1 revoked\n"
    assert r.zscore(REVOKED, "r1") > time.time() * 1000 + 80000 * 1000
    assert 0 < r.pttl(REVOKED) <= 86400 * 1000
    enqueue(r, {"task": "hash", "args": {"data": "abc"}, "id": "r1"})
    enqueue(r, {"task": "hash", "args": {"data": "abc"}, "id": "r2"})
    worker()
    doc = wait_result(r, "r1")
    assert doc["status"] == "REVOKED", doc
    assert doc["error"]["type"] == "Revoked"
    assert doc["result"] is None
    assert_success(wait_result(r, "r2"), "sha512", b"abc")
    wait_until(lambda: pending_count(r) == 0, 30, what="entries acked")
    got = celeriac("result", "r1")
    assert got.rc == 1 and got.text().startswith("r1 REVOKED Revoked: "), got


def test_revoke_large_message_by_its_id(worker, celeriac, r):
    """A message of 2 MiB whose id comes after its payload (as celeriac's
    builder writes it) is matched by that id; its neighbour runs."""
    big = "b" * (2 * 1024 * 1024)
    got = celeriac("revoke", "big1")
    assert got.rc == 0, got
    for tid in ("big1", "big2"):
        # json.dumps keeps insertion order: the id after the payload.
        enqueue(r, '{"task":"hash","args":{"data":"%s"},"id":"%s"}'
                % (big, tid))
    worker()
    doc = wait_result(r, "big1")
    assert doc["status"] == "REVOKED", doc
    assert_success(wait_result(r, "big2"), "sha512", big.encode())


def test_revoke_delayed_task(worker, celeriac, r):
    sent = celeriac("send", "hash", "--arg", "data=abc", "--countdown", "600")
    assert sent.rc == 0, sent
    tid = sent.text().strip()
    assert r.zcard(SCHEDULED) == 1
    got = celeriac("revoke", tid)
    assert got.rc == 0 and got.text() == "%s revoked unscheduled\n" % tid, got
    assert r.zcard(SCHEDULED) == 0
    doc = result_of(r, tid)
    assert doc["status"] == "REVOKED" and doc["attempts"] == 0, doc


def test_revoke_running_task_runs_to_completion(worker, celeriac, r):
    worker(concurrency=1)
    enqueue(r, {"task": "hash", "args": {"data": "x", "iterations": 3000000},
                "id": "busy"})
    wait_until(lambda: pending_count(r) == 1, 30, what="the task taken")
    got = celeriac("revoke", "busy")
    assert got.rc == 0, got
    assert wait_result(r, "busy", 120)["status"] == "SUCCESS"


def test_revoke_usage(celeriac):
    assert celeriac("revoke").rc == 2
    assert celeriac("revoke", "--ttl", "0", "x").rc == 2
    assert celeriac("revoke", "").rc == 2


def test_status_lines_lag_age_hidden_and_pruned(worker, celeriac, r):
    # A queue nobody reads: 3 waiting, the oldest 5 s old.
    old_ms = int(time.time() * 1000) - 5000
    for i in range(3):
        r.xadd("celeriac:queue:idle", {"msg": "{}"}, id="%d-%d" % (old_ms, i))
    # An old empty queue: its last entry was added long ago.
    r.xadd("celeriac:queue:ancient", {"msg": "{}"}, id="1000-0")
    r.xdel("celeriac:queue:ancient", "1000-0")
    # A worker gone two hours ago, and one gone a minute ago.
    now = int(time.time() * 1000)
    r.zadd("celeriac:workers", {"long-gone": now - 7200 * 1000,
                                "just-gone": now - 60 * 1000})
    worker("--name", "alive")

    got = celeriac("status", "--json")
    assert got.rc == 0, got
    doc = json.loads(got.stdout)
    queues = {q["name"]: q for q in doc["queues"]}
    # (default too, if the worker has not read yet: no consumer so far)
    assert "ancient" not in queues and doc["hidden_queues"] >= 1, doc
    idle = queues["idle"]
    assert idle["length"] == 3 and idle["pending"] == 0
    assert idle["lag"] == 3, idle
    assert idle["oldest_age_ms"] >= 4000, idle
    assert idle["last_added_ms"] == old_ms, idle
    assert doc["pruned_workers"] == 1
    assert r.zscore("celeriac:workers", "long-gone") is None
    assert r.zscore("celeriac:workers", "just-gone") is not None
    workers = {w["name"]: w for w in doc["workers"]}
    assert set(workers) == {"alive", "just-gone"}, workers
    assert workers["just-gone"]["gone"] is True
    alive = workers["alive"]
    assert isinstance(alive["fields"]["pid"], int)
    assert isinstance(alive["fields"]["concurrency"], int)
    assert isinstance(alive["counters"]["received"], int)
    assert alive["age_ms"] >= 0

    got = celeriac("status", "--all", "--json")
    assert "ancient" in {q["name"] for q in json.loads(got.stdout)["queues"]}

    text = celeriac("status").text()
    lines = text.splitlines()
    assert any(ln.split()[:5] == ["idle", "3", "3", "0", "0"]
               for ln in lines), text
    assert re.search(r"\d old empty queues? hidden", text), text
    worker_lines = [ln for ln in lines if ln.startswith(("alive ",
                                                         "just-gone "))]
    assert len(worker_lines) == 2, text
    assert worker_lines[0].split()[1] in ("running", "gone"), text
    # One line per worker: no record fields without --verbose.
    assert "started_at" not in text
    assert "started_at" in celeriac("status", "--verbose").text()


def test_short_redis_option_before_any_command(redis_server, celeriac, r):
    bad = {"CELERIAC_REDIS_URL": "redis://127.0.0.1:1/0"}
    got = celeriac("-r", redis_server.url, "revoke", "x", env=bad)
    assert got.rc == 0, got
    got = celeriac("result", "-r", redis_server.url, "x", env=bad)
    assert got.rc == 1 and got.text() == "x none\n", got
    got = celeriac("status", "-r", redis_server.url, env=bad)
    assert got.rc == 0, got


def test_log_lines_of_outcomes(worker, r):
    w = worker("--log-level", "debug")
    enqueue(r, {"task": "hash", "args": {"data": "abc"}, "id": "log-ok"})
    enqueue(r, {"task": "hash", "args": {"data": "abc", "algorithm": "nope"},
                "id": "log-bad"})
    wait_result(r, "log-ok")
    wait_result(r, "log-bad")
    log = wait_until(lambda: "task log-bad failed" in w.log() and
                     "task log-ok succeeded" in w.log() and w.log(), 30,
                     what="the outcome log lines")
    ok = [ln for ln in log.splitlines() if "task log-ok succeeded" in ln]
    assert all(" DEBUG " in ln for ln in ok), ok
    bad = [ln for ln in log.splitlines() if "task log-bad failed" in ln]
    assert len(bad) == 1 and " INFO " in bad[0], bad
    assert "failed: UnknownAlgorithm: unknown digest algorithm 'nope'" in \
        bad[0], bad
    assert "{" not in bad[0], bad  # the error, not the raw document
