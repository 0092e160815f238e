# SPDX-License-Identifier: MIT
"""Redis Cluster: the worker and the CLI given cluster://SEEDS and a
--prefix with a hash tag keep every key of the deployment in one slot,
find that slot's master through the seed nodes, and follow a fail-over.
Three masters with a replica each on loopback (clusterlib.py).

- functional: tasks sent with `celeriac send --batch` and run, digests
  checked; every key of the deployment is on the slot's master and in
  that slot; `status` names the master; a prefix without a hash tag and a
  redis:// address to a cluster node are refused with what to do.
- features: every script and key kind of a deployment through the
  cluster -- a delayed task (scheduled set, move script), a time limit
  retried through the scheduled set, a revoked delayed task, a unique
  task and its duplicate, a rate limit, a task taken over from a killed
  worker and dead-lettered (claim script, dead-letter stream), the
  control stream (inspect ping) and the events stream; afterwards every
  key is still on the slot's master and in its slot.
- fail-over under load: CELERIAC_CLUSTER_TASKS (default 6,000) small tasks
  sent in chunks, the slot's master killed with SIGKILL when a quarter of
  the results are in; its replica is promoted, the worker and the senders
  follow it, and the killed node comes back as a replica that may not be
  promoted (so that WAIT is answered again).  With --durable sends (and
  the worker's --durable-results) every task's result is there and right;
  without, the test reports how many acknowledged tasks were lost and
  asserts only that every task whose acknowledged chunk was sent after
  the kill was run.  Figures: tasks lost, time to the promotion and to the
  first result written on the new master, redeliveries.

Synchronised on CLUSTER SLOTS, CLUSTER INFO and counts in Redis, never on
sleeps."""

import json
import os
import time

from clusterlib import redis_cluster  # noqa: F401
from faultlib import FAST, HashBatch, assert_check, check_batch, report, \
    wait_drained
from harness import SLOW, hashlib_digest, wait_until
from test_fault_poison import LONG, busy_child
from test_sentinel import CHUNK, Sender, send_batch

PFX = "{cq}:"
QUEUE = PFX + "queue:default"
TASKS = int(os.environ.get("CELERIAC_CLUSTER_TASKS", "6000"))


def results_on(client):
    """How many result keys of the deployment the node holds (0 if it is
    down)."""
    try:
        return sum(1 for _ in client.scan_iter(PFX + "result:*", count=5000))
    except Exception:
        return 0


def assert_one_slot(c, master, slot):
    """Every key of the deployment is on master, in slot, and no other
    master holds any key."""
    m = master.client()
    keys = list(m.scan_iter("*", count=5000))
    assert keys and all(k.startswith(PFX.encode()) for k in keys), keys[:5]
    assert {m.execute_command("CLUSTER", "KEYSLOT", k)
            for k in keys} == {slot}
    for node in c.live_nodes():
        if node is not master and node.client().info("replication")[
                "role"] == "master":
            assert node.client().dbsize() == 0, node.port
    return keys


def test_functional(redis_cluster, worker, celeriac):
    c = redis_cluster
    url = c.url()
    slot = c.keyslot(QUEUE)
    master = c.master_for_slot(slot)
    m = master.client()
    w = worker("--prefix", PFX, redis_url=url, client=m, stream=QUEUE)
    batch = HashBatch("cfn-", 300, algorithm="sha512", distinct=30)
    rc, err = send_batch(url, [json.dumps(x) for x in batch.messages()],
                         "--prefix", PFX, "--wait", "--timeout", "60")
    assert rc == 0, err
    assert_check(check_batch(m, batch, result_prefix=PFX + "result:"))
    assert "the cluster names 127.0.0.1:%d as master of slot %d" \
        % (master.port, slot) in w.log()

    env = {"CELERIAC_REDIS_URL": url}
    run = celeriac("send", "--prefix", PFX, "hash", "--arg", "data=cluster",
                   "--arg", "algorithm=sha512", "--durable", "--wait",
                   "--timeout", "60", env=env)
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert doc["status"] == "SUCCESS"
    assert doc["result"]["digest"] == hashlib_digest("sha512", b"cluster")
    run = celeriac("status", "--prefix", PFX, env=env)
    assert run.rc == 0, run
    assert ("127.0.0.1:%d (master of cluster slot %d)"
            % (master.port, slot)) in run.text(), run

    # Every key the deployment made is on that master, in that slot, and
    # no other master holds any.
    assert_one_slot(c, master, slot)

    # A prefix without a hash tag would spread the keys over slots.
    run = celeriac("send", "hash", "--arg", "data=x", env=env)
    assert run.rc != 0, run
    assert b"--prefix with a hash tag" in run.stderr, run
    bad = worker(redis_url=url, wait_ready=False)
    assert bad.wait(30) != 0
    assert "--prefix with a hash tag" in bad.log()
    # redis:// to a cluster node: MOVED, and what to do about it.
    other = next(n for n in c.live_nodes() if n is not master)
    run = celeriac("send", "--prefix", PFX, "hash", "--arg", "data=x",
                   env={"CELERIAC_REDIS_URL":
                        "redis://127.0.0.1:%d/0" % other.port})
    assert run.rc != 0, run
    assert b"cluster://" in run.stderr, run


def test_features(redis_cluster, worker, celeriac):
    c = redis_cluster
    url = c.url()
    slot = c.keyslot(QUEUE)
    master = c.master_for_slot(slot)
    m = master.client()
    env = {"CELERIAC_REDIS_URL": url}

    def cli(*args, rc=0):
        run = celeriac("--prefix", PFX, *args, env=env)
        assert run.rc == rc, run
        return run

    def sent(*args, rc=0):
        doc = json.loads(cli("send", "hash", *args, "--wait",
                             "--timeout", "60", rc=rc).stdout)
        return doc

    holder = worker("--prefix", PFX, *FAST, "--name", "holder", "--events",
                    redis_url=url, client=m, stream=QUEUE, concurrency=1)
    # Delayed: the scheduled set and the move script.
    doc = sent("--arg", "data=later", "--countdown", "0.5")
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == hashlib_digest("sha512", b"later")
    # A time limit retried once through the scheduled set.
    doc = sent("--json", json.dumps(LONG), "--time-limit", "0.3",
               "--max-retries", "1", "--retry-backoff", "0.1", rc=1)
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "TimeLimitExceeded", doc
    assert doc["retries"] == 1, doc
    # A delayed task revoked: out of the scheduled set, REVOKED at once.
    tid = cli("send", "hash", "--arg", "data=never", "--countdown",
              "600").text().strip()
    cli("revoke", tid)
    doc = json.loads(cli("result", "--json", tid, rc=1).stdout)
    assert doc["status"] == "REVOKED", doc
    assert m.zcard(PFX + "scheduled") == 0
    # Unique: the second send is refused while the first is queued (the
    # queue paused so that it stays unfinished: once the pause is
    # answered, the worker's read in flight has been cut).
    run = cli("control", "--to", "holder", "--timeout", "60", "pause",
              "default")
    assert "holder" in run.text(), run
    first = cli("send", "hash", "--arg", "data=once", "--unique-for",
                "60").text().strip()
    run = cli("send", "hash", "--arg", "data=once", "--unique-for", "60",
              rc=5)
    assert ("duplicate of " + first) in run.text() + run.stderr.decode(), run
    cli("control", "--to", "holder", "--timeout", "60", "resume",
        "default")
    doc = json.loads(cli("result", "--json", "--wait", "--timeout",
                         "60", first).stdout)
    assert doc["status"] == "SUCCESS", doc
    assert cli("inspect", "--to", "holder", "--timeout", "60",
               "ping").text().count("holder") == 1

    # Taken over from a killed worker and dead-lettered: the claim script
    # and the dead-letter stream.  A rate limit on the taker runs the
    # limit script on its reads.
    msg = json.dumps({"task": "hash", "id": "c-poison", "args": LONG})
    m.xadd(QUEUE, {"msg": msg})
    wait_until(lambda: busy_child(holder) is not None, 30,
               what="the holder to run the long task")
    holder.kill()
    worker("--prefix", PFX, *FAST, "--name", "taker", "--events", "--max-deliveries",
           "1", "--rate-limit", "task:hash=1000/s", redis_url=url,
           client=m, stream=QUEUE, concurrency=1)
    doc = json.loads(cli("result", "--json", "--wait", "--timeout",
                         "60", "c-poison", rc=1).stdout)
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "MaxDeliveriesExceeded", doc
    dead = m.xrange(PFX + "dead")
    assert len(dead) == 1 and dead[0][1][b"msg"] == msg.encode(), dead
    doc = sent("--arg", "data=limited")
    assert doc["status"] == "SUCCESS", doc
    assert doc["worker"] == "taker", doc

    run = cli("events", "--count", "1000")
    for kind in ("task-succeeded", "task-failed", "worker-online"):
        assert kind in run.text(), (kind, run)
    assert_one_slot(c, master, slot)


def failover_run(c, worker, capsys, durable, tag):
    """Tasks sent in chunks while the slot's master is killed.  Without
    durable, tasks whose acknowledged send began before the kill may be
    lost (counted and reported); any other loss, and any wrong result,
    fails the test."""
    url = c.url()
    slot = c.keyslot(QUEUE)
    old = c.master_for_slot(slot)
    extra = ["--durable-results"] if durable else []
    w = worker("--prefix", PFX, *extra, redis_url=url, client=old.client(),
               stream=QUEUE, concurrency=2)
    batch = HashBatch(tag + "-", TASKS, distinct=100)
    sender = Sender(url, batch, durable)
    sender.extra += ["--prefix", PFX]
    sender.start()
    wait_until(lambda: results_on(old.client(socket_timeout=2)) >=
               TASKS // 4, 300, interval=0.05,
               what="a quarter of the results")
    sender.kill_at = time.monotonic()
    old.kill9()
    t_kill = time.monotonic()
    new = c.wait_promoted(slot, old, timeout=60 * SLOW)
    t_promoted = time.monotonic()
    # The killed node comes back (empty: no persistence) as the new
    # master's replica, so that WAIT can be answered again; never to be
    # promoted itself, or a spurious fail-over would hand the slot to an
    # empty node (the hazard README.md describes for Sentinel).
    old.start(port=old.port, extra=["--cluster-replica-no-failover", "yes"])
    nc = new.client()
    base = results_on(nc)
    wait_until(lambda: results_on(nc) > base, 120, interval=0.02,
               what="the worker to write results on the new master")
    t_consume = time.monotonic()
    sender.join(600 * SLOW)
    assert not sender.is_alive(), "the sender did not finish"
    assert len(sender.acked) * CHUNK >= TASKS, sender.errors[-3:]
    wait_drained(nc, 300, stream=QUEUE)
    check = check_batch(nc, batch, result_prefix=PFX + "result:")
    # Only chunks whose acknowledged send began before the kill may have
    # been taken by the killed master (test_sentinel.Sender).
    lossy = {s for s, t in sender.acked if sender.began[s] < t_kill}
    for tid in check.missing:
        i = int(tid.rsplit("-", 1)[1])
        assert (i // CHUNK) * CHUNK in lossy, \
            "task %s was lost but its chunk was sent after the kill" % tid
    assert not check.wrong, check.wrong[:3]
    if durable:
        assert_check(check)
    assert "the cluster names 127.0.0.1:%d as master of slot %d" \
        % (new.port, slot) in w.log()
    report(capsys, "cluster_failover_" + tag, tasks=TASKS,
           durable=int(durable), lost=len(check.missing),
           promoted_s="%.2f" % (t_promoted - t_kill),
           consuming_again_s="%.2f" % (t_consume - t_kill),
           send_retries=sender.retries, redelivered=check.redelivered)


def test_failover_durable(redis_cluster, worker, capsys):
    failover_run(redis_cluster, worker, capsys, True, "cdur")


def test_failover_plain(redis_cluster, worker, capsys):
    failover_run(redis_cluster, worker, capsys, False, "cplain")
