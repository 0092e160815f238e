# SPDX-License-Identifier: MIT
"""An idle worker at default settings keeps its two Redis connections.

The watchdog once compared the address of hiredis's pending-reply node
between ticks; hiredis frees and reallocates that node at the same
address, so an idle worker dropped its read connection every 16-17 s (and
a drop that hit a read in flight lost entries until the visibility
timeout).  Here a worker with default settings is left idle for
IDLE_SECONDS (150 by default, CELERIAC_IDLE_SECONDS to change it) on a
private redis-server: Redis must accept no new connection meanwhile (INFO
stats total_connections_received; this test's own client keeps its one
connection), the worker's client ids must be the same at the end, and its
log must not mention a lost or dropped connection.  Then it still runs a
task, with the digest hashlib computes."""

import os
import time

from harness import (QUEUE, assert_success, enqueue, hashlib_digest,
                     wait_result, wait_until)

IDLE_SECONDS = float(os.environ.get("CELERIAC_IDLE_SECONDS", "150"))
DROP_WORDS = ("reconnecting", "stopped answering", "lost the",
              "connected to Redis at")


def other_clients(client):
    """{id: client info} of every connection but this client's own."""
    me = int(client.client_id())
    return {int(c["id"]): c for c in client.client_list()
            if int(c["id"]) != me}


def connections_received(client):
    return int(client.info("stats")["total_connections_received"])


def drops(log):
    return [l for l in log.splitlines() if any(w in l for w in DROP_WORDS)]


def test_idle_worker_keeps_its_connections(make_redis, worker, capsys):
    srv = make_redis()
    client = srv.client(socket_timeout=30)
    w = worker(redis_url=srv.url, client=client)  # default settings
    # Consuming: one connection blocked in XREADGROUP, one writing
    # heartbeats, one blocked in XREAD on the control stream.  (The
    # server's readiness probe may still be connected, idle since its
    # PING: not the worker's.)
    def worker_clients():
        return {i: c for i, c in other_clients(client).items()
                if c.get("cmd") != "ping"}

    def consuming():
        cmds = sorted(c.get("cmd") for c in worker_clients().values())
        return len(cmds) == 3 and "xreadgroup" in cmds and "xread" in cmds

    wait_until(consuming, 30, what="the worker's 3 connections, one of "
               "them blocked in XREADGROUP, one in XREAD")
    before = worker_clients()
    received = connections_received(client)

    # Fail as soon as a drop shows: the old watchdog dropped every ~17 s.
    t0 = time.monotonic()
    while time.monotonic() - t0 < IDLE_SECONDS:
        assert w.alive(), "the worker exited:\n" + w.log()[-3000:]
        seen = drops(w.log())
        new = connections_received(client) - received
        assert not seen and new == 0, (
            "after %.0f s idle the worker dropped or lost a connection "
            "(%d new connection(s) to Redis):\n%s"
            % (time.monotonic() - t0, new, "\n".join(seen[-10:])))
        time.sleep(1.0)
    idle = time.monotonic() - t0

    after = worker_clients()
    assert set(after) == set(before), (
        "the worker's connections changed while it was idle: %s -> %s"
        % (sorted(before), sorted(after)))
    assert connections_received(client) == received

    # And it still serves.
    enqueue(client, {"task": "hash", "id": "idle-1",
                     "args": {"data": "still here", "algorithm": "sha256"}},
            stream=QUEUE)
    doc = wait_result(client, "idle-1", 30)
    assert_success(doc, "sha256", "still here",
                   digest=hashlib_digest("sha256", b"still here"))
    with capsys.disabled():
        print("\nIDLE idle=%.0fs new_connections=0 drops=0" % idle)
