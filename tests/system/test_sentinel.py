# SPDX-License-Identifier: MIT
"""Redis Sentinel: the worker and the CLI given
sentinel://SENTINELS/MASTER-NAME find the master through three sentinels
(quorum 2) and follow a fail-over.

- functional: tasks sent and run through sentinel://, digests checked;
  `send --durable` waits for the replica.
- fail-over under load: CELERIAC_SENTINEL_TASKS (default 20,000) small
  tasks sent in batches by `celeriac send --batch`, the master killed with
  SIGKILL when a quarter of the results are in; the sentinels promote the
  replica, the worker follows it and finishes.  With --durable sends (and
  the worker's --durable-results) every task's result is there and right;
  without, the test prints how many acknowledged tasks were lost and
  asserts only that every task whose acknowledged batch was sent after the
  kill was run.  Figures: time from the kill to the first result
  written on the new master, tasks lost, send rate with and without
  --durable (same run, ratio).
- a worker started while there is no master waits, and starts once one
  is elected.
- a replica given directly as redis:// is not written to: the worker says
  it is a replica, the CLI says READONLY and what to do.

Synchronised on +switch-master, ROLE and counts in Redis, never on
sleeps."""

import json
import os
import subprocess
import threading
import time

import pytest

from faultlib import (HashBatch, assert_check, check_batch, report,
                      wait_drained)
from harness import PRODUCER_BIN, QUEUE, SLOW, hashlib_digest, wait_until
from sentinellib import (sentinels,  # noqa: F401
                         sentinels_auth, wait_switch)

TASKS = int(os.environ.get("CELERIAC_SENTINEL_TASKS", "20000"))
CHUNK = 500  # tasks per `celeriac send --batch` run


def env_for(url):
    e = dict(os.environ)
    e["CELERIAC_REDIS_URL"] = url
    e.pop("CELERIAC_REDIS_PASSWORD", None)
    return e


def send_batch(url, lines, *extra, timeout=120):
    """One `celeriac send --batch -` run; returns (rc, stderr text)."""
    p = subprocess.run([PRODUCER_BIN, "send", "--batch", "-"] + list(extra),
                       input="".join(l + "\n" for l in lines).encode(),
                       capture_output=True, env=env_for(url),
                       timeout=timeout * SLOW)
    return p.returncode, p.stderr.decode(errors="replace")


def results_on(node):
    """How many result keys the node holds (0 if it is down)."""
    try:
        return sum(1 for _ in node.client(socket_timeout=2)
                   .scan_iter("celeriac:result:*", count=5000))
    except Exception:
        return 0


def test_functional(sentinels, worker, celeriac):
    m = sentinels.master.client()
    worker(redis_url=sentinels.url, client=m)
    batch = HashBatch("sfn-", 300, algorithm="sha512", distinct=30)
    rc, err = send_batch(sentinels.url,
                         [json.dumps(x) for x in batch.messages()],
                         "--wait", "--timeout", "60")
    assert rc == 0, err
    assert_check(check_batch(m, batch))

    run = celeriac("send", "hash", "--arg", "data=sentinel",
                   "--arg", "algorithm=sha512", "--durable", "--wait",
                   "--timeout", "60", env={"CELERIAC_REDIS_URL":
                                           sentinels.url})
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert doc["status"] == "SUCCESS"
    assert doc["result"]["digest"] == hashlib_digest("sha512", b"sentinel")
    # status names the master it talks to.
    run = celeriac("status", env={"CELERIAC_REDIS_URL": sentinels.url})
    assert run.rc == 0, run
    assert ("Redis 127.0.0.1:%d/0 (master '%s')"
            % (sentinels.master.port, sentinels.name)) in run.text(), run
    # --durable=2 asks for more replicas than there are: the task is
    # queued, the CLI says so and exits 6.
    run = celeriac("send", "hash", "--arg", "data=x", "--durable=2",
                   env={"CELERIAC_REDIS_URL": sentinels.url})
    assert run.rc == 6, run
    assert b"1 of 2 replica(s)" in run.stderr, run
    # A master name the sentinels do not know: a clear message, status 4.
    bad = sentinels.url.rsplit("/", 1)[0] + "/no-such-master"
    run = celeriac("send", "hash", "--arg", "data=x",
                   env={"CELERIAC_REDIS_URL": bad})
    assert run.rc == 4, run
    assert b"no sentinel named the master 'no-such-master'" in run.stderr


def test_passwords(sentinels_auth, worker, celeriac):
    """CELERIAC_REDIS_PASSWORD for the Redis nodes, CELERIAC_SENTINEL_PASSWORD
    for the sentinels; without the latter, a clear message."""
    c = sentinels_auth
    env = {"CELERIAC_REDIS_URL": c.url, "CELERIAC_REDIS_PASSWORD": "data-pw",
           "CELERIAC_SENTINEL_PASSWORD": "sent-pw"}
    worker(redis_url=c.url, client=c.master.client(), env=env)
    run = celeriac("send", "hash", "--arg", "data=pw", "--durable",
                   "--wait", "--timeout", "60", env=env)
    assert run.rc == 0, run
    assert json.loads(run.stdout)["result"]["digest"] == \
        hashlib_digest("sha512", b"pw")
    env.pop("CELERIAC_SENTINEL_PASSWORD")
    run = celeriac("send", "hash", "--arg", "data=pw", env=env)
    assert run.rc == 4, run
    assert b"no sentinel named the master" in run.stderr, run
    assert b"NOAUTH" in run.stderr, run
    assert b"sent-pw" not in run.stderr and b"data-pw" not in run.stderr


def test_replica_refused(sentinels, worker, celeriac):
    rep = sentinels.replica
    url = "redis://127.0.0.1:%d/0" % rep.port
    run = celeriac("send", "hash", "--arg", "data=x",
                   env={"CELERIAC_REDIS_URL": url})
    assert run.rc == 4, run
    assert b"READONLY" in run.stderr and b"point --redis at the primary" \
        in run.stderr, run
    w = worker(redis_url=url, wait_ready=False)
    wait_until(lambda: "is a replica of 127.0.0.1:%d" % sentinels.master.port
               in w.log(), 30, what="the worker to say it is a replica")
    assert w.alive()
    assert not rep.client().exists(QUEUE)
    assert not sentinels.master.client().exists(QUEUE)


def test_worker_waits_for_a_master(sentinels, worker, celeriac):
    ps = sentinels.watch_switch()
    sentinels.master.kill9()
    w = worker(redis_url=sentinels.url, wait_ready=False)
    new_port, _ = wait_switch(ps)
    assert new_port == sentinels.replica.port
    new = sentinels.replica.client()
    wait_until(lambda: new.exists(QUEUE), 60,
               what="the worker to create its group on the new master")
    run = celeriac("send", "hash", "--arg", "data=late", "--wait",
                   "--timeout", "60",
                   env={"CELERIAC_REDIS_URL": sentinels.url})
    assert run.rc == 0, run
    assert json.loads(run.stdout)["result"]["digest"] == \
        hashlib_digest("sha512", b"late")
    assert "the sentinels name 127.0.0.1:%d" % new_port in w.log()


class Sender(threading.Thread):
    """Sends the batch in runs of CHUNK tasks, one after the other; a run
    that fails (the connection lost, --durable not confirmed) is sent
    again, as the CLI's exit status asks.  Records which chunks were
    acknowledged (exit 0) and when, and when the send that was acknowledged
    began: a chunk whose successful send began before a kill may have been
    accepted by the killed master even if the CLI exited after it."""

    def __init__(self, url, batch, durable):
        super().__init__(daemon=True)
        self.url = url
        self.batch = batch
        self.extra = ["--durable"] if durable else []
        self.acked = []  # (chunk start, monotonic time of the ack)
        self.began = {}  # chunk start -> when its acknowledged send began
        self.retries = 0
        self.errors = []
        self.rate_before_kill = None
        self.kill_at = None

    def run(self):
        t0 = time.monotonic()
        for start in range(0, self.batch.n, CHUNK):
            lines = [json.dumps(self.batch.message(i)) for i in
                     range(start, min(start + CHUNK, self.batch.n))]
            for attempt in range(300):
                t_try = time.monotonic()
                rc, err = send_batch(self.url, lines, *self.extra)
                if rc == 0:
                    self.began[start] = t_try
                    break
                self.retries += 1
                self.errors.append(err[-300:])
                time.sleep(0.2)  # the caller's retry policy, not a sync
            else:
                return
            now = time.monotonic()
            self.acked.append((start, now))
            if self.kill_at is None:
                self.rate_before_kill = (start + CHUNK) / (now - t0)


def failover_run(sentinels, worker, capsys, durable, tag):
    m = sentinels.master.client()
    extra = ["--durable-results"] if durable else []
    w = worker(*extra, redis_url=sentinels.url, client=m, concurrency=2)
    batch = HashBatch(tag + "-", TASKS, distinct=100)
    ps = sentinels.watch_switch()
    sender = Sender(sentinels.url, batch, durable)
    sender.start()
    wait_until(lambda: results_on(sentinels.master) >= TASKS // 4, 300,
               interval=0.05, what="a quarter of the results")
    sender.kill_at = time.monotonic()
    before = len(sender.acked)
    sentinels.master.kill9()
    t_kill = time.monotonic()
    new_port, t_switch = wait_switch(ps)
    new = sentinels.node_at(new_port)
    base = results_on(new)
    # The killed server comes back as the new master's replica, so that
    # --durable can be confirmed again.
    sentinels.master.restart_as_replica(new_port)
    wait_until(lambda: results_on(new) > base, 120, interval=0.02,
               what="the worker to write results on the new master")
    t_consume = time.monotonic()
    sender.join(600 * SLOW)
    assert not sender.is_alive(), "the sender did not finish"
    assert len(sender.acked) * CHUNK >= TASKS, sender.errors[-3:]
    c = new.client()
    wait_drained(c, 300)
    check = check_batch(c, batch)
    missing = set(check.missing)
    # Chunks whose acknowledged send began before the kill may be lost
    # without --durable; the others were sent to the new master.
    lossy = {s for s, t in sender.acked if sender.began[s] < t_kill}
    for tid in missing:
        i = int(tid.rsplit("-", 1)[1])
        assert (i // CHUNK) * CHUNK in lossy, \
            "task %s was lost but its batch was sent after the kill" % tid
    assert not check.wrong, check.wrong[:3]
    if durable:
        assert_check(check)
    report(capsys, "sentinel_failover_" + tag, tasks=TASKS,
           durable=int(durable), lost=len(missing),
           acked_chunks_before_kill=before,
           switch_s="%.2f" % (t_switch - t_kill),
           consuming_again_s="%.2f" % (t_consume - t_kill),
           send_retries=sender.retries,
           send_rate="%.0f" % (sender.rate_before_kill or 0),
           redelivered=check.redelivered)
    return sender.rate_before_kill or 0


def test_failover_durable(sentinels, worker, capsys):
    failover_run(sentinels, worker, capsys, True, "dur")


def test_failover_plain(sentinels, worker, capsys):
    failover_run(sentinels, worker, capsys, False, "plain")


def test_durable_send_cost(sentinels, capsys):
    """The cost of --durable on the send rate: the same tasks sent with
    and without it, in alternating pairs, in the same run (no worker); one
    `send --batch` of all of them each time (a WAIT per 4096 lines).  The
    machine is shared, so the figure is the median of the pairs' ratios."""
    n = max(CHUNK, TASKS // 4)
    batch = HashBatch("cost-", n, distinct=10)
    lines = [json.dumps(batch.message(i)) for i in range(n)]
    ratios, rates = [], {False: [], True: []}
    for rnd in range(5):
        took = {}
        for durable in ((False, True) if rnd % 2 == 0 else (True, False)):
            t0 = time.monotonic()
            rc, err = send_batch(sentinels.url, lines,
                                 *(["--durable"] if durable else []))
            took[durable] = time.monotonic() - t0
            assert rc == 0, err
            rates[durable].append(n / took[durable])
        ratios.append(took[False] / took[True])
    ratios.sort()
    report(capsys, "sentinel_durable_cost", tasks=10 * n,
           plain_rate="%.0f" % sorted(rates[False])[2],
           durable_rate="%.0f" % sorted(rates[True])[2],
           durable_over_plain_median="%.2f" % ratios[2],
           ratios=",".join("%.2f" % r for r in ratios))
