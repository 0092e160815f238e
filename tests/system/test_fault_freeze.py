# SPDX-License-Identifier: MIT
"""Fault 4: a worker frozen with SIGSTOP (its parent and its children, like
a paused VM) for longer than the visibility timeout while it holds tasks.

Its heartbeat expires and the other worker takes its entries over and runs
them.  After SIGCONT the frozen worker's children finish what they were
running and the parent tries to store those results: the finish script
sees the entries are no longer its own and skips them, and the worker
counts them as duplicates (its heartbeat's "duplicates" field).  Nothing is
corrupted: every result is the one the other worker wrote, with the right
digest.  Then the thawed worker serves alone and finishes a new batch."""

import signal
import time

from faultlib import (FAST, HEARTBEAT, VISIBILITY, BeatWatch, HashBatch, assert_check,
                      assert_drained, check_batch, enqueue_fast, freeze,
                      heartbeats, pending_of, report, scaled, wait_drained)
from harness import wait_until

TASKS = scaled(600, 50)
ITERATIONS = 50000  # about 10 ms of CPU per task
DISTINCT = 20
FROZEN = VISIBILITY + 2.0


def test_sigstop_past_visibility_timeout(r, redis_server, worker, capsys):
    a = worker(*FAST, "--name", "frozen-a")
    b = worker(*FAST, "--name", "thawed-b")
    watch = BeatWatch(lambda: redis_server.client(socket_timeout=10)).start()
    batch = HashBatch("fz", TASKS, iterations=ITERATIONS, distinct=DISTINCT)
    t0 = time.monotonic()
    enqueue_fast(r, batch.messages())

    # Freeze A while it holds tasks, early in the run.
    wait_until(lambda: len(pending_of(r, "frozen-a")) >= 4 and
               r.xlen("celeriac:queue:default") > TASKS // 2, 30,
               interval=0.01, what="worker A to hold tasks")
    freeze(a, signal.SIGSTOP)
    time.sleep(0.3)  # anything A had sent is answered by now
    stranded = pending_of(r, "frozen-a")
    assert stranded, "worker A held nothing when it was frozen"
    time.sleep(FROZEN)
    # B took them over while A was frozen (A's heartbeat expired).
    left = pending_of(r, "frozen-a")
    backlog = r.xlen("celeriac:queue:default")
    freeze(a, signal.SIGCONT)

    wait_drained(r, 120, what="all %d tasks to finish" % TASKS)
    elapsed = time.monotonic() - t0
    time.sleep(1.0)
    watch.sample()
    c = check_batch(r, batch)
    assert_check(c)
    assert_drained(r)

    # A notices that each task taken from it was finished elsewhere: its
    # late finish is skipped, or the task is dropped before it runs.
    taken = len(stranded) - len(left)
    if taken:
        wait_until(lambda: int(heartbeats(r).get("frozen-a", {}).get(
            "duplicates", "0")) >= taken, 15,
            what="worker A to count %d duplicates" % taken)
    watch.sample()
    dups_a = watch.of("frozen-a", "duplicates")
    taken_by_b = watch.of("thawed-b", "recovered")
    redone = [d for d in c.docs.values()
              if d["worker"] == "thawed-b" and d["attempts"] > 1]
    assert len(redone) >= taken, (len(redone), taken)
    # Each task taken from A costs A one skipped finish (or one dropped
    # task); more only if B took some right after SIGCONT, before A's
    # next heartbeat.
    assert taken <= dups_a <= len(stranded), \
        "worker A counted %d duplicates for %d tasks taken from it" % (
            dups_a, taken)

    # A keeps serving: with B gone, A alone finishes a new batch.
    assert b.stop() == 0
    more = HashBatch("fz2-", scaled(100, 20), iterations=1000, distinct=10)
    enqueue_fast(r, more.messages())
    wait_drained(r, 60, what="worker A to finish a new batch alone")
    c2 = check_batch(r, more)
    assert_check(c2, "results of the new batch")
    assert set(c2.by_worker) == {"frozen-a"}, c2.by_worker
    watch.stop()
    report(capsys, "sigstop", tasks=TASKS + more.n, frozen="%.1fs" % FROZEN,
           stranded=len(stranded), taken_over=taken_by_b,
           late_finishes_skipped=dups_a, redelivered=c.redelivered,
           losses=c.losses + c2.losses, wrong=len(c.wrong) + len(c2.wrong),
           seconds="%.1f" % elapsed)
    assert a.alive()
    assert not left, (
        "%d of the %d entries worker A held were still pending for it after "
        "%.1fs frozen (its heartbeat expired after %.1fs; %d tasks were "
        "still queued): the live worker did not take them over"
        % (len(left), len(stranded), FROZEN, 5 * HEARTBEAT, backlog))
