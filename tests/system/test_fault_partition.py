# SPDX-License-Identifier: MIT
"""Fault 5: a network partition.  One worker runs in its own network
namespace, joined to the host by a veth pair; redis-server listens on the
host end of the pair (and on loopback, where a second worker connects).
In the middle of a run the link is cut (`ip link set <veth> down`) for
longer than the visibility timeout, then restored.

While cut, the partitioned worker cannot beat: its heartbeat expires and
the other worker takes its entries over.  Its own connections go silent;
its watchdog drops them and it keeps trying to reconnect.  When the link
is back it reconnects by itself, its late finishes are skipped (counted as
duplicates), and it serves again: with the other worker stopped, it alone
finishes a new batch.  Every result is present and correct.

Needs root and iproute2 (`ip netns`); skipped otherwise.  The namespace
and its links are removed at teardown, also when the test fails."""

import os
import time

from faultlib import (FAST, HEARTBEAT, VISIBILITY, BeatWatch, HashBatch, NsWorker,
                      assert_check, assert_drained, check_batch,
                      enqueue_fast, heartbeats, log_excerpt, pending_of,
                      report, scaled, wait_drained)
from faultlib import netns  # noqa: F401 (a fixture)
from harness import QUEUE, wait_until

TASKS = scaled(2000, 50)
ITERATIONS = 50000  # about 10 ms of CPU per task
DISTINCT = 20
CUT = VISIBILITY + 3.0
NS_NAME = "partitioned"
HOST_NAME = "connected"


def test_partition_longer_than_visibility_timeout(
        netns, make_redis, worker, tmp_dir, capsys):  # noqa: F811
    ns = netns
    srv = make_redis("--bind", "127.0.0.1", ns.host_ip,
                     "--protected-mode", "no")
    client = srv.client(socket_timeout=10)
    args = FAST + ["--redis-timeout", 2]
    inside = NsWorker(ns.prefix(),
                      ["--redis", "redis://%s:%d/0" % (ns.host_ip, srv.port),
                       "--concurrency", 2, "--name", NS_NAME] + args,
                      os.path.join(tmp_dir, "partitioned.stderr"))
    try:
        wait_until(lambda: not inside.alive() or
                   NS_NAME in heartbeats(client), 30,
                   what="the partitioned worker to register")
        assert inside.alive(), "worker in the namespace exited:\n" + \
            inside.log()
        outside = worker(*args, "--name", HOST_NAME, redis_url=srv.url,
                         client=client)
        watch = BeatWatch(lambda: srv.client(socket_timeout=2)).start()
        batch = HashBatch("np", TASKS, iterations=ITERATIONS,
                          distinct=DISTINCT)
        t0 = time.monotonic()
        enqueue_fast(client, batch.messages())

        wait_until(lambda: len(pending_of(client, NS_NAME)) >= 4 and
                   client.xlen(QUEUE) > TASKS // 2, 30, interval=0.01,
                   what="the partitioned worker to hold tasks")
        ns.link(False)
        time.sleep(0.3)
        stranded = pending_of(client, NS_NAME)
        time.sleep(CUT - 0.3)
        left = pending_of(client, NS_NAME)
        backlog = client.xlen(QUEUE)
        ns.link(True)
        up_at = time.monotonic()
        assert inside.alive(), "the partitioned worker exited:\n" + \
            inside.log()[-3000:]

        # It reconnects by itself: its heartbeat, expired during the cut,
        # is back.
        wait_until(lambda: NS_NAME in heartbeats(client), 30,
                   what="the partitioned worker to reconnect")
        reconnect = time.monotonic() - up_at
        wait_drained(client, 120, what="all %d tasks to finish" % TASKS)
        elapsed = time.monotonic() - t0
        time.sleep(1.0)
        watch.sample()
        dups = watch.of(NS_NAME, "duplicates")
        c = check_batch(client, batch)
        assert_check(c)
        assert_drained(client)

        # It serves again: alone, it finishes a new batch.
        assert outside.stop() == 0
        more = HashBatch("np2-", scaled(100, 20), iterations=1000,
                         distinct=10)
        enqueue_fast(client, more.messages())
        wait_drained(client, 60,
                     what="the partitioned worker to finish a new batch")
        c2 = check_batch(client, more)
        assert_check(c2, "results of the new batch")
        assert set(c2.by_worker) == {NS_NAME}, c2.by_worker
        watch.stop()
        report(capsys, "partition", tasks=TASKS + more.n,
               cut="%.1fs" % CUT, stranded=len(stranded),
               taken_over=watch.of(HOST_NAME, "recovered"),
               late_finishes_skipped=dups, redelivered=c.redelivered,
               reconnected_after="%.1fs" % reconnect,
               losses=c.losses + c2.losses,
               wrong=len(c.wrong) + len(c2.wrong),
               seconds="%.1f" % elapsed)
        assert stranded, "the partitioned worker held nothing when cut off"
        assert inside.alive()
        assert inside.stop() == 0, "the partitioned worker did not exit 0"
        assert not left, (
            "%d of the %d entries the partitioned worker held were still "
            "pending for it after %.1fs cut off (its heartbeat expired after "
            "%.1fs; %d tasks were still queued): the connected worker did "
            "not take them over" % (len(left), len(stranded), CUT,
                                    5 * HEARTBEAT, backlog))
        # Its late finishes of the tasks taken from it were skipped.
        assert dups >= len(stranded) - len(left)
    finally:
        if inside.alive():
            inside.kill()
        print("---- stderr of the partitioned worker (%s) ----\n%s"
              % (" ".join(inside.argv), inside.log()))
        print("---- its warnings ----\n" + log_excerpt(inside.log()))
        inside.close()
