# SPDX-License-Identifier: MIT
"""The Redis contract between the worker and the CLI (protocol/keys.h,
protocol/build.h).

- `celeriac status` reports the counters a worker writes into its heartbeat
  record, as numbers that match what the worker did: N tasks received, S
  succeeded, F failed.  (It once listed a `processed` field that no worker
  writes, and showed the counters only as unordered strings.)
- Every field of the worker's record reaches `status`, in the worker's
  order.
- The messages `celeriac send` writes are the builder's, byte for byte, as
  protocol/vectors/messages.json describes them.
"""

import json
import os

from harness import (QUEUE, SLOW, assert_failure, assert_success, enqueue,
                     wait_results, wait_until)

HEARTBEAT = 0.2  # seconds; the record is rewritten this often
COUNTERS = ["received", "succeeded", "failed", "retried", "expired", "dead",
            "recovered", "duplicates", "child_deaths"]
VECTORS = os.path.join(os.path.dirname(__file__), "..", "..", "protocol",
                       "vectors", "messages.json")


def status_worker(celeriac):
    run = celeriac("status", "--json")
    assert run.rc == 0, run
    workers = json.loads(run.stdout)["workers"]
    assert len(workers) == 1, workers
    return workers[0]


def test_status_counters_match_the_worker(r, worker, celeriac):
    w = worker("--heartbeat", HEARTBEAT, "--name", "counted")
    good, bad = 7, 3
    for i in range(good):
        enqueue(r, {"task": "hash", "id": "ok%d" % i,
                    "args": {"data": "x%d" % i}})
    for i in range(bad):
        enqueue(r, {"task": "hash", "id": "bad%d" % i,
                    "args": {"algorithm": "no-such-digest", "data": "x"}})
    docs = wait_results(r, good + bad, timeout=60 * SLOW)
    for i in range(good):
        assert_success(docs["ok%d" % i], "sha512", b"x%d" % i)
    for i in range(bad):
        assert_failure(docs["bad%d" % i], "UnknownAlgorithm")

    want = dict.fromkeys(COUNTERS, 0)
    want.update(received=good + bad, succeeded=good, failed=bad)
    # The record is rewritten every HEARTBEAT s: wait for a beat that
    # follows the last result (generously: the machine may be loaded).
    wait_until(lambda: status_worker(celeriac).get("counters") == want,
               timeout=max(30, 50 * HEARTBEAT) * SLOW,
               what="status to show the counters %s" % want)
    doc = status_worker(celeriac)
    assert doc["name"] == "counted" and not doc["gone"], doc
    assert doc["counters"] == want, doc
    # The record says the same, as JSON numbers.
    for k, v in want.items():
        assert doc["fields"][k] == v, doc
    assert "processed" not in doc["fields"], doc

    # Every field the worker wrote reaches status, in the worker's order:
    # the configuration first, the counters last.
    record = {k.decode(): v.decode()
              for k, v in r.hgetall("celeriac:worker:counted").items()}
    assert set(doc["fields"]) == set(record), (doc, record)
    names = list(doc["fields"])
    assert names[:3] == ["name", "host", "pid"], names
    assert names[-len(COUNTERS):] == COUNTERS, names

    # The text output (--verbose) shows the same counters, in that order.
    run = celeriac("status", "--verbose")
    assert run.rc == 0, run
    lines = [ln.split() for ln in run.text().splitlines()]
    shown = [ln[0] for ln in lines if ln and ln[0] in COUNTERS]
    assert shown == COUNTERS, run.text()
    values = {ln[0]: ln[1] for ln in lines if ln and ln[0] in COUNTERS}
    assert values == {k: str(v) for k, v in want.items()}, run.text()
    assert w.alive()


def test_send_writes_the_vector_bytes(r, celeriac):
    with open(VECTORS) as f:
        vectors = {v["name"]: v for v in json.load(f)["vectors"]}
    want = vectors["minimal: a task and its arguments"]["message"]
    run = celeriac("send", "hash", "--arg", "data=abc")
    assert run.rc == 0, run
    entries = r.xrange(QUEUE)
    assert len(entries) == 1, entries
    assert entries[0][1][b"msg"].decode() == want

    run = celeriac("send", "hash", "--arg", "data=hello", "--arg",
                   "algorithm=sha256", "--arg", "iterations:=1000",
                   "--max-retries", "3", "--time-limit", "2.5")
    assert run.rc == 0, run
    msg = r.xrange(QUEUE)[-1][1][b"msg"].decode()
    assert msg == ('{"v":1,"task":"hash","args":{"data":"hello",'
                   '"algorithm":"sha256","iterations":1000},'
                   '"time_limit":2.5,"max_retries":3}'), msg
