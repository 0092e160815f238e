# SPDX-License-Identifier: MIT
"""Entries pending for a worker's own consumer name are handed out again
at once, not after the visibility timeout.

1. A worker restarted under the same --name (a container that keeps its
   host name, a systemd unit with a fixed name) while it held tasks of two
   queues: the old incarnation's heartbeat is refreshed by the new one, so
   nobody takes them over, and before the fix they waited the full
   visibility timeout (30 s).  Now the new incarnation re-reads its own
   pending entries (XREADGROUP ... 0) first, page by page within its
   --prefetch.  The test measures the time from the restart until every
   stranded entry is delivered again.

2. A read whose reply is lost with the connection (Redis handed the
   entries to this consumer, the worker never saw them): a proxy between
   the worker and Redis cuts the read connection the moment a reply with
   entries passes.  The worker reconnects and re-reads them at once.

3. A re-read that reaches Redis just before the finish of a task the
   worker is running, and whose reply comes after the finish's answer
   freed the task's slot: the worker's children are stopped (SIGSTOP)
   so that the tasks cannot finish before the re-read has run in Redis,
   and a proxy holds the re-read's reply until the tasks' results are
   stored and the worker no longer has them in hand; they must not run a
   second time (worker/recent.h).

The first two use the default visibility timeout (30 s) and require the
tasks back within a third of it; the measured figures are printed."""

import os
import signal
import socket
import threading
import time

from faultlib import (HashBatch, assert_check, assert_drained, check_batch,
                      enqueue_fast, pending_of, report, scaled, wait_drained)
from harness import (GROUP, SLOW, free_port, redis_clients_of, tcp_ports_of,
                     wait_until)
from watchlib import ask

VISIBILITY = 30.0  # the default --visibility-timeout
BOUND = VISIBILITY / 3  # well before a take-over could happen
QUEUES = ("ra", "rb")
STREAMS = ["celeriac:queue:" + q for q in QUEUES]


def deliveries(client, stream, ids):
    """{entry id: delivery count} of those ids still pending."""
    out = {}
    for i in ids:
        rows = client.xpending_range(stream, GROUP, i, i, 1)
        if rows:
            out[i] = rows[0]["times_delivered"]
    return out


def test_restart_same_name_gets_its_tasks_back(r, worker, capsys):
    name = "same-name"
    args = ["--name", name, "-Q", ",".join(QUEUES)]
    # About 60 ms of CPU per task (a tenth of that under valgrind, which
    # makes it 20-50 times slower): long enough to be caught in flight.
    batches = [HashBatch("rr%s-" % q, scaled(24, 12),
                         iterations=300000 // SLOW, distinct=4)
               for q in QUEUES]
    # A fixed window of 8: it holds queued tasks beside the running ones
    # (the adaptive window starts at one a child, and a result between the
    # check below and the kill could leave one of each).
    a = worker(*args, "--window", "fixed", "--prefetch", 8,
               stream=STREAMS[-1])
    for s, b in zip(STREAMS, batches):
        enqueue_fast(r, b.messages(), stream=s)
    # It holds entries of both queues (the rest wait in the streams).
    def holding():
        n = [len(pending_of(r, name, s)) for s in STREAMS]
        return min(n) >= 1 and max(n) >= 2
    wait_until(holding, 30, interval=0.01,
               what="the worker to hold tasks of both queues, 2 of one")
    a.kill()  # kill -9 of the parent and its children
    stranded = {s: pending_of(r, name, s) for s in STREAMS}
    assert all(stranded.values()), stranded
    n = sum(len(v) for v in stranded.values())

    # Restarted with --prefetch 2, it re-reads one entry per queue and
    # page: the stranded entries take several pages.
    assert max(len(v) for v in stranded.values()) >= 2, stranded
    t0 = time.monotonic()
    worker(*args, "--prefetch", 2, stream=STREAMS[-1])

    def back():
        # Delivered again (count 2), or finished already (gone).
        return all(all(c >= 2 for c in deliveries(r, s, ids).values())
                   for s, ids in stranded.items())
    wait_until(back, BOUND / SLOW, interval=0.02,
               what="the %d tasks held before the restart to be delivered "
               "again (a take-over would take the visibility timeout, "
               "%.0f s)" % (n, VISIBILITY))
    took = time.monotonic() - t0

    for s in STREAMS:
        wait_drained(r, 120, stream=s, what="queue %s to drain" % s)
    for b in batches:
        assert_check(check_batch(r, b))
    for s in STREAMS:
        assert_drained(r, stream=s)
    report(capsys, "restart_same_name", stranded=n, queues=len(STREAMS),
           back_after="%.2fs" % took, visibility="%.0fs" % VISIBILITY)


class CuttingProxy:
    """A TCP proxy to Redis that, once armed, cuts the first connection
    that sent an XREADGROUP the moment a reply naming a queue stream comes
    back: the reply is lost with the connection, as with a watchdog drop
    or a network fault.  marker: only a reply that holds it is cut (the
    batch's own payload, so that an empty reply to the worker's start-up
    re-read, in flight when the proxy is armed, is not the one cut)."""

    def __init__(self, port, marker=b"celeriac:queue:"):
        self.upstream = ("127.0.0.1", port)
        self.marker = marker
        self.port = free_port()
        self.armed = threading.Event()
        self.cut = threading.Event()
        self.released = threading.Event()  # HoldingProxy's
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", self.port))
        self.lsock.listen(16)
        self.socks = []
        self.ups = []  # its connections to Redis
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                down, _ = self.lsock.accept()
            except OSError:
                return
            up = socket.create_connection(self.upstream)
            self.socks += [down, up]
            self.ups.append(up)
            conn = {"reader": False}
            threading.Thread(target=self._pump, args=(down, up, conn, False),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(up, down, conn, True),
                             daemon=True).start()

    def _pump(self, src, dst, conn, replies):
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if not replies and b"XREADGROUP" in data:
                conn["reader"] = True
            if replies and conn["reader"] and self.armed.is_set() and \
                    self.marker in data:
                self.armed.clear()
                if not self._trigger(conn):
                    break  # drop this reply and the connection
            if replies and conn.get("held"):
                self.released.wait(120)
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _trigger(self, conn):
        """The armed reply came: cut it (False) or pass it on (True)."""
        self.cut.set()
        return False

    def redis_clients(self, client):
        """CLIENT LIST entries of this proxy's connections to Redis (the
        worker's, through it), not those of other tests."""
        ports = set()
        for up in list(self.ups):
            try:
                ports.add(up.getsockname()[1])
            except OSError:  # closed
                pass
        return redis_clients_of(client, ports)

    def close(self):
        """Ends every connection now.  A shutdown wakes the pump threads
        blocked in recv on them; a close alone would leave the sockets
        open in the kernel until those calls return, and a connection to
        Redis blocked in XREADGROUP would outlive the test."""
        self.closed = True
        for s in [self.lsock] + self.socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


class HoldingProxy(CuttingProxy):
    """The same proxy, but once armed it holds (instead of cutting) the
    first reply of a reading connection that names a queue stream, and
    everything after it on that connection, until release() is called."""

    def __init__(self, port):
        super().__init__(port, marker=b"celeriac:queue:")
        self.holding = threading.Event()

    def release(self):
        self.released.set()

    def _trigger(self, conn):
        conn["held"] = True
        self.holding.set()
        return True


def test_reread_after_finish_is_not_run_again(r, redis_server, worker,
                                              celeriac, capsys):
    """The re-read after a reconnect lists a running task as pending; the
    task finishes, its finish's answer frees its slot, and only then does
    the re-read's reply arrive: the task is finished, not new."""
    name = "finishes-first"
    proxy = HoldingProxy(redis_server.port)
    kids = []

    def resume():
        for k in kids:
            try:
                os.kill(k, signal.SIGCONT)
            except ProcessLookupError:
                pass
        del kids[:]

    def in_hand():
        rc, doc = ask(celeriac, "inspect", "--to", name, "stats")
        if rc != 0:
            return None
        (reply,) = doc["replies"].values()
        return reply["result"]["in_flight"]

    try:
        w = worker("--name", name, "--concurrency", 2, "--window", "fixed",
                   "--prefetch", 8,
                   redis_url="redis://127.0.0.1:%d/0" % proxy.port)
        short = HashBatch("fin-short", 1, iterations=1000)
        long = HashBatch("fin-long", 2, iterations=scaled(200000),
                         distinct=1)
        enqueue_fast(r, short.messages())
        wait_until(lambda: r.exists("celeriac:result:fin-short0"), 30,
                   interval=0.01, what="the short task's result")
        # The children stop: the long tasks are handed to them but cannot
        # finish before the re-read has run in Redis, however long the
        # worker's reconnect takes (its backoff is about 100 ms, as long
        # as a task of this size).
        kids.extend(w.children())
        for k in kids:
            os.kill(k, signal.SIGSTOP)
        enqueue_fast(r, long.messages())
        # In the worker's hands, not only pending in Redis: the replies
        # that carried them have passed the proxy (arming it while one is
        # on its way would hold that reply instead of the re-read's).
        wait_until(lambda: in_hand() == 2, 30, interval=0.02,
                   what="both long tasks in the worker's hands")
        assert len(pending_of(r, name)) == 2
        proxy.armed.set()
        ids = [int(c["id"]) for c in proxy.redis_clients(r)
               if c.get("cmd") == "xreadgroup"]
        assert len(ids) == 1, "not one blocking read of the worker's: %r" \
            % proxy.redis_clients(r)
        r.client_kill_filter(_id=ids[0])
        wait_until(lambda: "lost the read connection" in w.log(), 30,
                   what="the worker to see its read connection cut")
        wait_until(proxy.holding.is_set, 30,
                   what="the re-read's reply to reach the proxy")
        # The re-read has run in Redis and listed both long tasks (they
        # could not finish); now they finish and the worker frees their
        # slots (their finishes answered) while the reply is held.
        assert not any(r.exists("celeriac:result:" + t) for t in long.ids())
        resume()
        wait_until(lambda: all(r.exists("celeriac:result:" + t)
                               for t in long.ids()), 120, interval=0.02,
                   what="both long tasks to finish")
        wait_until(lambda: in_hand() == 0, 60, interval=0.05,
                   what="the worker to have nothing in hand")
        proxy.release()
        # Logged only when the re-read listed entries: both long tasks.
        wait_until(lambda: "re-read 2 entries" in w.log(), 30,
                   what="the re-read's reply to be handled")
        # The re-read's entries are handed out before that line: a task run
        # again is in flight now, and its duplicate finish is logged before
        # its slot is freed.
        wait_until(lambda: in_hand() == 0, 120, interval=0.05,
                   what="anything the re-read started to finish")
        for batch in (short, long):
            c = check_batch(r, batch)
            assert_check(c)
            assert c.redelivered == 0, sorted(
                (t, d["attempts"]) for t, d in c.docs.items())
        assert "was finished by another worker first" not in w.log(), \
            w.log()[-2000:]
        assert_drained(r)
        # Stopped while the proxy still passes its connections (once the
        # proxy is gone, the warm shutdown waits out its reads' deadline).
        assert w.stop() == 0, w.log()[-2000:]
    finally:
        resume()
        proxy.release()
        proxy.close()


def test_lost_read_reply_is_read_again(r, redis_server, worker, capsys):
    proxy = CuttingProxy(redis_server.port, marker=b"fault payload lost/")
    try:
        w = worker("--name", "cut-reader",
                   redis_url="redis://127.0.0.1:%d/0" % proxy.port)
        wait_until(lambda: any(c.get("cmd") == "xreadgroup"
                               for c in proxy.redis_clients(r)), 30,
                   what="the worker's blocking read")
        batch = HashBatch("lost", 8, iterations=1000)
        proxy.armed.set()
        t0 = time.monotonic()
        enqueue_fast(r, batch.messages())
        wait_until(proxy.cut.is_set, 30, what="the proxy to cut the read")
        wait_drained(r, BOUND / SLOW,
                     what="the %d tasks whose read reply was lost (a "
                     "take-over would take the visibility timeout, %.0f s)"
                     % (batch.n, VISIBILITY))
        took = time.monotonic() - t0
        c = check_batch(r, batch)
        assert_check(c)
        assert_drained(r)
        assert w.alive()
        assert "lost the read connection" in w.log(), w.log()[-2000:]
        # The lost entries were delivered twice: by the lost read and again.
        assert c.redelivered >= 1, c.redelivered
        report(capsys, "lost_read_reply", tasks=batch.n,
               done_after="%.2fs" % took, redelivered=c.redelivered)
    finally:
        proxy.close()


def test_reconnect_does_not_rerun_held_tasks(r, worker, capsys):
    """The re-read after a reconnect hands back the entries this worker is
    still computing too: it must not run them a second time."""
    name = "keeps-its-own"
    # A fixed window of 8: it holds tasks queued behind the running ones
    # (the adaptive window would hold one per child of these long tasks).
    w = worker("--name", name, "--window", "fixed", "--prefetch", 8)
    batch = HashBatch("held", 16, iterations=1500000 // SLOW, distinct=2)
    enqueue_fast(r, batch.messages())
    wait_until(lambda: len(pending_of(r, name)) >= 6, 30, interval=0.01,
               what="the worker to hold tasks")
    held = pending_of(r, name)

    def read_conn():
        # The worker's own: a connection left by another test may be
        # blocked in XREADGROUP on the same server too.
        return [int(c["id"]) for c in redis_clients_of(r, tcp_ports_of(w.pid))
                if c.get("cmd") == "xreadgroup"]
    ids = wait_until(read_conn, 30, what="the worker's read connection")
    r.client_kill_filter(_id=ids[0])
    wait_until(lambda: "connected to Redis at" in w.log() and
               "(read connection)" in w.log(), 30,
               what="the read connection to come back")
    wait_drained(r, 120, what="all %d tasks to finish" % batch.n)
    c = check_batch(r, batch)
    assert_check(c)
    assert_drained(r)
    assert c.redelivered == 0, "tasks run twice: %s" % sorted(
        (t, d["attempts"]) for t, d in c.docs.items() if d["attempts"] > 1)
    assert "was finished by another worker first" not in w.log()
    # The re-read did return what the worker held.
    assert "entries still pending for this worker" in w.log(), w.log()
    report(capsys, "reconnect_held", tasks=batch.n, held=len(held),
           redelivered=c.redelivered)
