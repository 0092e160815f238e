# SPDX-License-Identifier: MIT
"""Fault 1: whole workers killed with kill -9 and restarted, one at a time,
every couple of seconds, while 50,000 tasks run through three of them.

A killed worker's tasks stay pending for its consumer name.  Its heartbeat
key expires (5 x --heartbeat), a live worker takes the entries over with
XCLAIM (one more delivery each) and runs them.  At the end every one of the
50,000 results is in Redis with the right digest, the queue stream is empty,
nothing is pending, scheduled or dead-lettered.  Duplicates are reported:
results with attempts > 1 (tasks delivered again after a kill: the upper
bound of double execution) and late finishes the finish script skipped."""

import random
import time

from faultlib import (FAST, BeatWatch, HashBatch, assert_check,
                      assert_drained, check_batch, enqueue_fast, report,
                      scaled, wait_drained)
from harness import SLOW

TASKS = scaled(50000)
# About 0.2 ms of CPU per task: the run lasts long enough for a kill
# every KILL_EVERY seconds to land on tasks in flight.
ITERATIONS = 5000
DISTINCT = 500
WORKERS = 3
KILL_EVERY = 2.0
# This test is about losses, not dead letters (test_fault_poison.py covers
# those): on a slow run (ASan on a loaded machine: 85 kills in 170 s) one
# task can be held by ten workers in turn, each killed before it finished,
# and must still get its SUCCESS.
MAX_DELIVERIES = 1000


def test_kill9_workers_in_turn(r, redis_server, worker, capsys):
    args = FAST + ["--max-deliveries", MAX_DELIVERIES]
    batch = HashBatch("k", TASKS, iterations=ITERATIONS, distinct=DISTINCT)
    workers = [worker(*args) for _ in range(WORKERS)]
    watch = BeatWatch(lambda: redis_server.client(socket_timeout=10)).start()

    t0 = time.monotonic()
    enqueue_fast(r, batch.messages())
    kills = 0
    turn = random.randrange(WORKERS)
    deadline = t0 + 600 * SLOW * max(1.0, TASKS / 50000)
    while time.monotonic() < deadline:
        time.sleep(KILL_EVERY)
        if r.xlen("celeriac:queue:default") == 0:
            break
        victim = workers[turn]
        victim.kill()  # SIGKILL: the parent and its children at once
        kills += 1
        workers[turn] = worker(*args)
        turn = (turn + 1) % WORKERS
    wait_drained(r, 300, what="all %d tasks to finish" % TASKS)
    elapsed = time.monotonic() - t0
    time.sleep(2 * 0.5)  # one more heartbeat from everyone
    watch.stop()

    c = check_batch(r, batch)
    report(capsys, "kill9_workers", tasks=TASKS, kills=kills,
           redelivered=c.redelivered, extra_runs=c.extra_runs,
           max_attempts=c.max_attempts,
           late_finishes_skipped=watch.total("duplicates"),
           taken_over=watch.total("recovered"), losses=c.losses,
           wrong=len(c.wrong), seconds="%.1f" % elapsed)
    assert_check(c)
    assert_drained(r)
    assert kills >= 3, "the run ended before three workers were killed"
    # Every kill left tasks in flight behind; they were taken over.
    assert c.redelivered >= 1
    assert c.max_attempts < MAX_DELIVERIES
    for w in workers:
        assert w.alive(), "a worker died by itself:\n" + w.log()[-3000:]
