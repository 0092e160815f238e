# SPDX-License-Identifier: MIT
"""celeriac-worker --shards N: one worker consumes a deployment split into
N key spaces ({tag}:, {tag.1}:, ...), one event-loop parent and pool per
shard under a supervisor.  On one Redis (the supervisor's behaviour):

- a prefix without a hash tag is refused at start-up, with what to do;
- every shard consumes its own key space (a task sent to each shard's
  prefix runs, its digest checked, its result in that shard);
- `control shutdown` sent to one shard ends the worker with status 0,
  the other shards shut down warm;
- a shard parent killed with SIGKILL ends the worker with status 1 (so
  that a service manager restarts it whole), the others warm, and no
  process of the worker is left.

The Redis Cluster side (shards on different masters, a master lost) is
tests/system/test_cluster_shards.py.  Synchronised on processes, groups
and results, never on sleeps."""

import json
import os
import signal

from harness import child_pids, consumer_group_exists, hashlib_digest, \
    pid_alive, wait_until

TAG = "{sq}:"
PREFIXES = [TAG, "{sq.1}:", "{sq.2}:"]


def start_sharded(worker, r, *extra, n=3):
    """A worker with --shards n on TAG, one child per shard; returns it
    once every shard's group exists."""
    w = worker("--prefix", TAG, "--shards", str(n), *extra, concurrency=1,
               wait_ready=False)
    wait_until(lambda: not w.alive() or all(
        consumer_group_exists(r, p + "queue:default")
        for p in PREFIXES[:n]), 30, what="every shard's consumer group")
    assert w.alive(), w.log()
    wait_until(lambda: len(w.children()) == n, 30, what="the shard parents")
    return w


def send_wait(celeriac, prefix, data):
    run = celeriac("--prefix", prefix, "send", "hash", "--arg",
                   "data=" + data, "--wait", "--timeout", "60")
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == hashlib_digest("sha512",
                                                     data.encode()), doc
    return doc


def test_refused_without_tag(worker):
    w = worker("--shards", "2", wait_ready=False)
    assert w.wait(30) == 2
    assert "--shards needs a --prefix with a hash tag" in w.log()
    w = worker("--prefix", TAG, "--shards", "2", "--metrics",
               "127.0.0.1:65535", wait_ready=False)
    assert w.wait(30) == 2
    assert "port + i" in w.log()


def test_each_shard_consumed(worker, r, celeriac):
    w = start_sharded(worker, r)
    for i, p in enumerate(PREFIXES):
        doc = send_wait(celeriac, p, "shard %d" % i)
        assert r.exists(p + "result:" + doc["id"])
        for other in PREFIXES:
            if other != p:
                assert not r.exists(other + "result:" + doc["id"])
    log = w.log()
    for i, p in enumerate(PREFIXES):
        assert "shard %d of 3: prefix %s" % (i, p) in log
    # Every shard registered the worker in its own key space.
    for p in PREFIXES:
        assert r.zcard(p + "workers") == 1
    run = celeriac("--prefix", PREFIXES[2], "inspect", "--timeout", "30",
                   "conf")
    assert run.rc == 0, run
    assert '"prefix":"{sq.2}:"' in run.text(), run
    assert '"shard":2,"shards":3' in run.text(), run
    # control shutdown reaches one shard; the supervisor ends the rest.
    run = celeriac("--prefix", PREFIXES[1], "control", "--timeout", "30",
                   "shutdown")
    assert run.rc == 0, run
    assert w.wait(60) == 0, w.log()
    log = w.log()
    assert "stopping the other 2 shards (warm shutdown)" in log, log
    assert not w.leftover_children()


def test_shard_killed(worker, r, celeriac):
    w = start_sharded(worker, r)
    send_wait(celeriac, PREFIXES[2], "before")
    victim = sorted(w.children())[1]
    grandchildren = set()
    for kid in w.children():
        grandchildren |= set(child_pids(kid))
    assert len(grandchildren) == 3, "one pool child per shard"
    os.kill(victim, signal.SIGKILL)
    assert w.wait(60) == 1, w.log()
    log = w.log()
    assert "was killed by signal 9" in log, log
    assert "stopping the other 2 shards (warm shutdown)" in log, log
    # Nothing of the worker is left: the victim's pool children die with
    # it (PDEATHSIG), the others' with their warm shutdown.
    wait_until(lambda: not any(pid_alive(p) for p in grandchildren), 30,
               what="the shards' children to exit")
    assert not w.leftover_children()
