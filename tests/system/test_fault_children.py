# SPDX-License-Identifier: MIT
"""Fault 2: children killed with kill -9 at random moments while a few
thousand CPU-heavy tasks run on two workers.

The task a killed child was running is run again in another child (one
more delivery, counted in the result's "attempts"); the tasks queued behind
it had not started and simply move to another child.  Only a task whose
child was killed --max-deliveries times may end as FAILURE (WorkerLost,
dead-lettered).  At the end every result is in Redis with the right
digest, and the queue is empty."""

import random
import time

from faultlib import (FAST, BeatWatch, HashBatch, assert_check,
                      assert_drained, check_batch, dead_letters,
                      enqueue_fast, kill9, report, scaled, wait_drained)
from harness import QUEUE, SLOW

TASKS = scaled(3000, 100)
ITERATIONS = 30000  # about 6 ms of CPU per task
DISTINCT = 50
MAX_DELIVERIES = 5


def test_kill9_children_at_random(r, redis_server, worker, capsys):
    args = FAST + ["--max-deliveries", MAX_DELIVERIES]
    batch = HashBatch("ch", TASKS, iterations=ITERATIONS, distinct=DISTINCT)
    workers = [worker(*args), worker(*args)]
    watch = BeatWatch(lambda: redis_server.client(socket_timeout=10)).start()

    t0 = time.monotonic()
    enqueue_fast(r, batch.messages())
    kills = 0
    deadline = t0 + 300 * SLOW
    time.sleep(0.5)
    while r.xlen(QUEUE) > 0 and time.monotonic() < deadline:
        kids = [k for w in workers for k in w.children()]
        if kids:
            victim = random.choice(kids)
            if kill9(victim):
                kills += 1
        time.sleep(random.uniform(0.15, 0.6))
    wait_drained(r, 120, what="all %d tasks to finish" % TASKS)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    watch.stop()

    def killed_too_often(doc):
        return (doc["error"]["type"] == "WorkerLost" and
                doc["attempts"] >= MAX_DELIVERIES)

    c = check_batch(r, batch, allow_failure=killed_too_often)
    dead = dead_letters(r)
    report(capsys, "kill9_children", tasks=TASKS, kills=kills,
           redelivered=c.redelivered, extra_runs=c.extra_runs,
           max_attempts=c.max_attempts, failed=len(c.failed),
           dead_lettered=len(dead),
           late_finishes_skipped=watch.total("duplicates"),
           child_deaths=watch.total("child_deaths"), losses=c.losses,
           wrong=len(c.wrong), seconds="%.1f" % elapsed)
    assert_check(c)
    assert_drained(r, dead_ok=len(c.failed))
    assert kills >= 5, "the run ended before five children were killed"
    # Each kill re-runs at most the one task its child was running; the
    # children are busy all the time, so kills did hit tasks.
    assert 1 <= c.extra_runs <= kills, (c.extra_runs, kills)
    assert watch.total("child_deaths") <= kills
    for doc in c.failed:
        assert any(d["reason"]["error"]["type"] == "WorkerLost" and
                   doc["id"] in d["msg"] for d in dead), doc
    for w in workers:
        assert w.alive(), "a worker died with its children:\n" + \
            w.log()[-3000:]
        assert len(w.wait_children(2)) == 2
