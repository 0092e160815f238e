# SPDX-License-Identifier: MIT
"""One deployment sharded across the masters of a Redis Cluster: the
prefixes {tag}:, {tag.1}:, {tag.2}: chosen so that each shard's slot is on
a different one of the three masters (clusterlib.py), and workers started
with `--shards 3` consuming all three.

- functional: two workers with --shards 3; tasks sent to every shard, each
  digest checked; every master holds the keys of its own shard only, all
  in that shard's slot; both workers are registered in, and read from,
  every shard.
- fail-over: `celeriac send --shards 3 --durable` spreads chunks of
  tasks over the shards while the master of one shard is killed with
  SIGKILL; its replica is promoted, that shard's worker parent follows it
  while the other shards go on, and every task has its right result in
  one of the shards (--durable sends, the workers' --durable-results).
  Figures: time to the promotion, send retries, redeliveries.

Synchronised on CLUSTER SLOTS and counts in Redis, never on sleeps."""

import json
import os
import time

from clusterlib import redis_cluster  # noqa: F401
from faultlib import HashBatch, assert_check, check_batch, report, \
    wait_drained
from harness import GROUP, SLOW, consumer_group_exists, wait_until
from test_sentinel import CHUNK, Sender, send_batch

SHARDS = 3
TASKS = int(os.environ.get("CELERIAC_CLUSTER_TASKS", "6000"))


def shard_prefixes(base, n=SHARDS):
    return ["{%s}:" % base] + ["{%s.%d}:" % (base, i) for i in range(1, n)]


def spread(c):
    """Prefixes of SHARDS shards whose slots are on different masters, and
    those masters (the first base name, sh0, sh1, ..., that has it)."""
    for k in range(500):
        prefixes = shard_prefixes("sh%d" % k)
        masters = [c.master_for_slot(c.keyslot(p + "queue:default"))
                   for p in prefixes]
        if len({m.port for m in masters}) == SHARDS:
            return prefixes, masters
    raise AssertionError("no base name puts the shards on distinct masters")


def start_workers(worker, c, prefixes, masters, names, *extra):
    url = c.url()
    ws = [worker("--prefix", prefixes[0], "--shards", str(SHARDS), "--name",
                 name, *extra, redis_url=url, concurrency=1,
                 wait_ready=False) for name in names]
    for p, m in zip(prefixes, masters):
        wait_until(lambda: consumer_group_exists(m.client(),
                                                 p + "queue:default") or
                   not all(w.alive() for w in ws), 60,
                   what="the group of shard " + p)
    for w in ws:
        assert w.alive(), w.log()
    return ws


def results_on(client, prefix):
    try:
        return sum(1 for _ in client.scan_iter(prefix + "result:*",
                                               count=5000))
    except Exception:
        return 0


def test_functional(redis_cluster, worker):
    c = redis_cluster
    prefixes, masters = spread(c)
    ws = start_workers(worker, c, prefixes, masters, ["w1", "w2"])
    batches = []
    for i, p in enumerate(prefixes):
        batch = HashBatch("sh%d-" % i, 200, algorithm="sha512", distinct=20)
        rc, err = send_batch(c.url(), [json.dumps(x) for x in
                                       batch.messages()],
                             "--prefix", p, "--wait", "--timeout", "60")
        assert rc == 0, err
        batches.append(batch)
    for p, m, batch in zip(prefixes, masters, batches):
        mc = m.client()
        assert_check(check_batch(mc, batch, result_prefix=p + "result:"))
        # Only this shard's keys on its master, all in its slot.
        keys = list(mc.scan_iter("*", count=5000))
        assert keys and all(k.startswith(p.encode()) for k in keys), \
            keys[:5]
        slot = c.keyslot(p + "queue:default")
        assert {mc.execute_command("CLUSTER", "KEYSLOT", k)
                for k in keys} == {slot}
        # Both workers are registered in and read from every shard.
        assert {x.decode() for x in mc.zrange(p + "workers", 0, -1)} == \
            {"w1", "w2"}
        consumers = {x["name"] for x in mc.xinfo_consumers(
            p + "queue:default", GROUP)}
        assert {"w1", "w2"} <= {n.decode() if isinstance(n, bytes) else n
                                for n in consumers}, consumers
    for w in ws:
        for i, p in enumerate(prefixes):
            assert "shard %d of 3: prefix %s" % (i, p) in w.log()


class AllShards:
    """The result keys of every shard, read as one (for check_batch with
    result_prefix ""): a task's result from whichever shard holds it; a
    task with results in two shards is recorded in .twice."""

    def __init__(self, prefixes, clients):
        self.shards = list(zip(prefixes, clients))
        self.twice = []

    def mget(self, ids):
        out = [None] * len(ids)
        for p, cl in self.shards:
            for i, v in enumerate(cl.mget([p + "result:" + t for t in ids])):
                if v is not None:
                    if out[i] is not None:
                        self.twice.append(ids[i])
                    out[i] = v
        return out


def test_failover_durable(redis_cluster, worker, capsys):
    """`celeriac send --shards 3 --durable` spreads the chunks' tasks over
    the three masters while the master of shard 1 is killed."""
    c = redis_cluster
    prefixes, masters = spread(c)
    start_workers(worker, c, prefixes, masters, ["f1"], "--durable-results")
    victim_shard = 1
    batch = HashBatch("shf-", TASKS, distinct=100)
    sender = Sender(c.url(), batch, True)
    sender.extra += ["--prefix", prefixes[0], "--shards", str(SHARDS)]
    sender.start()
    p1, old = prefixes[victim_shard], masters[victim_shard]
    wait_until(lambda: results_on(old.client(socket_timeout=2), p1) >=
               TASKS // SHARDS // 4, 300, interval=0.05,
               what="a quarter of shard 1's results")
    slot = c.keyslot(p1 + "queue:default")
    old.kill9()
    t_kill = time.monotonic()
    new = c.wait_promoted(slot, old, timeout=60 * SLOW)
    t_promoted = time.monotonic()
    old.start(port=old.port, extra=["--cluster-replica-no-failover", "yes"])
    masters[victim_shard] = new
    sender.join(600 * SLOW)
    assert not sender.is_alive(), "the sender did not finish"
    assert len(sender.acked) * CHUNK >= TASKS, sender.errors[-3:]
    clients = [m.client() for m in masters]
    for p, mc in zip(prefixes, clients):
        wait_drained(mc, 300, stream=p + "queue:default")
        assert results_on(mc, p) > TASKS // SHARDS // 2, p
    view = AllShards(prefixes, clients)
    check = check_batch(view, batch, result_prefix="")
    assert_check(check)
    # A chunk sent again after a lost connection may put a task on two
    # shards (both run it, each result right); nothing else may.
    assert len(view.twice) <= sender.retries * CHUNK, view.twice[:5]
    report(capsys, "cluster_shards_failover", tasks=TASKS, shards=SHARDS,
           lost=0, promoted_s="%.2f" % (t_promoted - t_kill),
           send_retries=sender.retries, on_two_shards=len(view.twice),
           redelivered=check.redelivered)
