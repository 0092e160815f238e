# SPDX-License-Identifier: MIT
"""Fault 3: redis-server (AOF on, appendfsync always) shut down and started
again on the same port in the middle of a run, twice: once with the
SHUTDOWN command, once with SIGTERM.  Redis holds a million other keys, so after each restart it
spends a moment (about 0.7 s) loading its AOF and answers LOADING to
every command meanwhile.

Nobody is told: the workers reconnect with backoff, keep their children,
hold the results they finish meanwhile and write them afterwards; the
producer (`celeriac send --batch - --wait`) reconnects and reads on from
the last reply it saw.  Every task's result is in Redis and was printed by
the producer exactly once; the queue is empty.  The producer's longest
silence (the gap around the restarts) is reported."""

import json
import os
import subprocess
import threading
import time

import redis

from faultlib import (FAST, BeatWatch, HashBatch, assert_check,
                      assert_drained, check_batch, heartbeats, report,
                      scaled, wait_drained)
from faultlib import aof_redis  # noqa: F401 (a fixture)
from harness import PRODUCER_BIN, QUEUE, SLOW, wait_until

TASKS = scaled(3000, 100)
ITERATIONS = 20000
DISTINCT = 50
DOWN = 1.5  # seconds Redis stays down each time
PADDING = 1000000  # keys besides celeriac's: about 0.7 s to load
BACKOFF_MAX = 5.0 * 1.25  # the workers' longest reconnect delay, s
REDIS_TIMEOUT = 2.0  # --redis-timeout below
BLOCK = 5.0  # the workers' XREADGROUP BLOCK, s


class Producer:
    """`celeriac send --batch - --wait` in the background; records when
    each result line arrives."""

    def __init__(self, url, lines, tmp_dir):
        env = dict(os.environ)
        env["CELERIAC_REDIS_URL"] = url
        env.pop("CELERIAC_REDIS_PASSWORD", None)
        self.err_path = os.path.join(tmp_dir, "producer.stderr")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(
            [PRODUCER_BIN, "send", "--batch", "-", "--wait", "--timeout",
             str(300 * SLOW)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
            env=env, cwd=tmp_dir)
        self.results = []  # (monotonic time, line)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        feeder = threading.Thread(target=self._feed, args=(lines,),
                                  daemon=True)
        feeder.start()

    def _feed(self, lines):
        try:
            self.proc.stdin.write("".join(l + "\n" for l in lines).encode())
            self.proc.stdin.close()
        except BrokenPipeError:
            pass

    def _read(self):
        for line in self.proc.stdout:
            self.results.append((time.monotonic(), line.decode()))

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self._reader.join(10)
        self._err.close()
        return rc

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def longest_gap(self, start):
        times = [start] + [t for t, _ in self.results]
        return max(b - a for a, b in zip(times, times[1:])) if \
            len(times) > 1 else 0.0


def entries_added(client):
    try:
        return client.xinfo_stream(QUEUE)["entries-added"]
    except Exception:
        return 0


def test_redis_restart_mid_run(aof_redis, worker, tmp_dir,  # noqa: F811
                               capsys):
    srv = aof_redis(extra=("--enable-debug-command", "local"))
    client = srv.client()
    # A real dataset: after each restart Redis spends a moment loading its
    # AOF, answering LOADING to every command, and the workers and the
    # producer reconnect into that too.
    client.execute_command("DEBUG", "POPULATE", PADDING, "padding:", 16)
    client.bgrewriteaof()
    wait_until(lambda: client.info("persistence")[
        "aof_rewrite_in_progress"] == 0 and client.info("persistence")[
        "aof_rewrite_scheduled"] == 0, 60, interval=0.1,
        what="the AOF rewrite")
    args = FAST + ["--redis-timeout", REDIS_TIMEOUT]
    names = ["restart-%d" % i for i in range(2)]
    workers = [worker(*args, "--name", n, redis_url=srv.url, client=client)
               for n in names]
    watch = BeatWatch(lambda: srv.client(socket_timeout=2)).start()

    batch = HashBatch("rr", TASKS, iterations=ITERATIONS, distinct=DISTINCT)
    t0 = time.monotonic()
    prod = Producer(srv.url, [json.dumps(m) for m in batch.messages()],
                    tmp_dir)
    try:
        def done():
            try:
                return TASKS - client.xlen(QUEUE) if \
                    entries_added(client) == TASKS else 0
            except Exception:
                return 0

        restarts = []
        for how, at in (("command", 0.25), ("sigterm", 0.55)):
            wait_until(lambda: done() >= at * TASKS, 60,
                       what="%d%% of the tasks done" % (at * 100))
            client.close()
            down = time.monotonic()
            rc = srv.shutdown(how)
            assert rc == 0, "redis-server exited %s on %s" % (rc, how)
            time.sleep(DOWN)
            srv.start()
            restarts.append("%s:%.1fs" % (how, time.monotonic() - down))
            for w in workers:
                assert w.alive(), "a worker exited while Redis was down:\n" \
                    + w.log()[-3000:]
        back = time.monotonic()

        wait_drained(client, 90, what="all %d tasks to finish" % TASKS)
        rc = prod.wait(60 * SLOW)
        elapsed = time.monotonic() - t0
    finally:
        if prod.proc.poll() is None:
            prod.proc.kill()
            prod.wait(10)
    time.sleep(1.0)
    watch.stop()

    c = check_batch(client, batch)
    printed = [json.loads(l) for _, l in prod.results]
    ids = [d["id"] for d in printed]
    report(capsys, "redis_restart", tasks=TASKS, restarts=len(restarts),
           downtimes=",".join(restarts),
           producer_results=len(printed),
           producer_gap="%.1fs" % prod.longest_gap(t0),
           redelivered=c.redelivered,
           late_finishes_skipped=watch.total("duplicates"),
           losses=c.losses, wrong=len(c.wrong),
           seconds="%.1f" % elapsed)
    assert_check(c)
    assert_drained(client)
    assert rc == 0, "producer exited %d:\n%s" % (rc, prod.stderr()[-3000:])
    assert len(ids) == TASKS and set(ids) == set(batch.ids()), \
        "the producer printed %d results for %d distinct ids" % (
            len(ids), len(set(ids)))
    assert all(d["status"] == "SUCCESS" for d in printed)

    # Both workers serve again on both connections: each beats (write
    # connection) and reads (read connection: a blocked XREADGROUP is sent
    # again every BLOCK, so a consumer that reads is never idle much
    # longer).  Wait for that event rather than a fixed time: a connection
    # may come back up to one full backoff step (5 s + 25 %) after Redis
    # answers again, and a step more if it first hit LOADING; meanwhile a
    # worker whose heartbeat expired may have had its idle consumer
    # removed, which its next read creates again.
    reconnect = 2 * (BACKOFF_MAX + REDIS_TIMEOUT + BLOCK)

    late = {}

    def serving():
        # Reading again: the consumer was active lately, or (Redis 7.0 does
        # not refresh a consumer's idle time for a blocked read that
        # returns nothing, so on an empty queue) every worker's read
        # connection sits blocked in XREADGROUP.
        try:
            beats = heartbeats(client)
            idle = {c["name"].decode(): c["idle"]
                    for c in client.xinfo_consumers(QUEUE, "celeriac")}
            blocked = sum(1 for c in client.client_list()
                          if c.get("cmd") == "xreadgroup" and
                          "b" in c.get("flags", ""))
        except redis.RedisError as e:
            late["error"] = str(e)
            return False
        late.clear()
        late.update({n: {"beats": n in beats, "idle_ms": idle.get(n)}
                     for n in names if n not in beats or
                     (idle.get(n, 10 ** 9) >= (BLOCK + 1.5) * 1000 and
                      blocked < len(names))})
        if late:
            late["blocked_reads"] = blocked
        return not late
    try:
        wait_until(serving, reconnect, interval=0.2,
                   what="both workers to beat and read again after the "
                   "restarts")
    except AssertionError as e:
        raise AssertionError("%s; not serving: %s" % (e, late))
    for w in workers:
        assert w.alive()
