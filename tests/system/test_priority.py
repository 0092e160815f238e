# SPDX-License-Identifier: MIT
"""Queue priorities (worker --priority; worker/priority.h).

- strict: with a backlog in three queues, every task of the first queue
  starts before any task of the last one, and the middle one in between.
- weighted high:6,default:3,low:1: while every queue has a backlog, each
  queue's share of the tasks started stays within a few points of its
  weight's share (60%, 30%, 10%), and the low queue is never starved.
- A bad --priority is refused at start.
"""

import re
from datetime import datetime, timezone

import pytest

from harness import all_results, enqueue_many, wait_until

QUEUES = ["high", "default", "low"]


def ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def backlog(r, per_queue):
    for q in QUEUES:
        enqueue_many(r, [{"task": "hash", "id": "%s-%d" % (q, i),
                          "args": {"data": str(i)}}
                         for i in range(per_queue)],
                     stream="celeriac:queue:" + q)


def run_all(r, worker, n, *extra):
    worker("--queues", ",".join(QUEUES), *extra, concurrency=2)
    wait_until(lambda: sum(1 for _ in r.scan_iter(
        match="celeriac:result:*", count=1000)) >= n, 120, interval=0.2,
        what="%d results" % n)
    docs = sorted(all_results(r).values(), key=lambda d: ts(d["started_at"]))
    assert len(docs) == n
    return [d["id"].split("-")[0] for d in docs]


def test_strict_order(r, worker):
    n = 200
    backlog(r, n)
    # At most 8 tasks in hand, so that the start order below has a bound
    # (the adaptive window may hold hundreds).
    w = worker("--queues", ",".join(QUEUES), "--priority", "strict",
               "--window", "fixed", "--prefetch", 8,
               "--log-level", "debug", concurrency=2)
    wait_until(lambda: sum(1 for _ in r.scan_iter(
        match="celeriac:result:*", count=1000)) >= 3 * n, 120, interval=0.2,
        what="%d results" % (3 * n))
    # The reads: a queue is read only once every earlier one was empty.
    reads = re.findall(r"read (\d+) from queue celeriac:queue:(\w+)",
                       w.log())
    assert reads, w.log()[-2000:]
    got = [q for k, q in reads if int(k) > 0]
    assert sum(int(k) for k, _ in reads) == 3 * n
    for i, q in enumerate(QUEUES[1:], 1):
        first = got.index(q)
        assert all(QUEUES.index(x) >= i for x in got[first:]), (q, got)
    # The starts follow, but for the few tasks in hand when a queue ran
    # dry (at most --prefetch, 8).
    docs = sorted(all_results(r).values(), key=lambda d: ts(d["started_at"]))
    order = [d["id"].split("-")[0] for d in docs]
    for earlier, later in (("high", "default"), ("default", "low")):
        first = order.index(later)
        assert order[first:].count(earlier) <= 8, order


def test_weighted_shares(r, worker):
    n = 400
    backlog(r, n)
    # Reads of at most 8 tasks: the shares are of tasks read, so a read is
    # the unit of their error (one read of 100 would be 20% of 500).
    order = run_all(r, worker, 3 * n, "--priority", "high:6,default:3,low:1",
                    "--prefetch", "8")
    # While every queue still has a backlog: the first 500 started (high
    # has used about 300 of its 400 by then).
    head = order[:500]
    share = {q: head.count(q) / len(head) for q in QUEUES}
    print("shares of the first 500 started: %s" % share)
    assert abs(share["high"] - 0.6) <= 0.05, share
    assert abs(share["default"] - 0.3) <= 0.05, share
    assert abs(share["low"] - 0.1) <= 0.03, share
    # Not starved: low tasks start all along, at least one in every 50.
    lows = [i for i, q in enumerate(head) if q == "low"]
    gaps = [b - a for a, b in zip([0] + lows, lows + [len(head)])]
    assert max(gaps) <= 50, gaps


@pytest.mark.parametrize("spec", ["loose", "high:0", "high:x", "nope:2",
                                  "high:1001", "high"])
def test_bad_priority_is_refused(worker, spec):
    w = worker("--queues", "high,default", "--priority", spec,
               wait_ready=False)
    assert w.wait(30) == 2
    assert "--priority" in w.log()
