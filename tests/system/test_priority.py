# SPDX-License-Identifier: MIT
"""Queue priorities (worker --priority; worker/priority.h).

- strict: with a backlog in three queues, every task of the first queue
  starts before any task of the last one, and the middle one in between.
- weighted high:6,default:3,low:1: while every queue has a backlog, each
  queue's share of the tasks started stays within a few points of its
  weight's share (60%, 30%, 10%), and the low queue is never starved.
- A bad --priority is refused at start.
"""

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
    order = run_all(r, worker, 3 * n, "--priority", "strict")
    first_low = order.index("low")
    last_high = len(order) - 1 - order[::-1].index("high")
    last_default = len(order) - 1 - order[::-1].index("default")
    # Two children may start the queues' last and first tasks together.
    assert last_high < order.index("default") + 3, (last_high, order[:20])
    assert last_default < first_low + 3
    assert order[:n].count("high") >= n - 2


def test_weighted_shares(r, worker):
    n = 400
    backlog(r, n)
    order = run_all(r, worker, 3 * n, "--priority", "high:6,default:3,low:1")
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
