# SPDX-License-Identifier: MIT
"""`celeriac --shards N` on one Redis: the producer spreads `send` (one
task, --batch, --wait) over N key spaces '{cq}:', '{cq.1}:', '{cq.2}:',
each consumed here by an ordinary worker started with that --prefix.
Covers: every digest right, every shard's queue stream used (evenly for a
batch), `result --shards` finding a task in any shard, unique tasks on
shard 0, `hash --shards`, and the commands that refuse --shards N > 1.
Everything synchronises on results, never on sleeps."""

import hashlib
import json
import os
import subprocess

import pytest

from clusterlib import redis_cluster  # noqa: F401
from harness import consumer_group_exists, hashlib_digest, wait_until

SHARDS = 3
PREFIXES = ["{cq}:", "{cq.1}:", "{cq.2}:"]
N = 300


def queue_key(i):
    return PREFIXES[i] + "queue:default"


def results_in(r, i):
    """{task id: result document} of the result keys of shard i."""
    pat = PREFIXES[i] + "result:"
    out = {}
    for k in r.scan_iter(match=pat.replace("{", "\\{").replace("}", "\\}") +
                         "*", count=1000):
        out[k.decode()[len(pat):]] = json.loads(r.get(k))
    return out


def shard_of(r, task_id):
    """The shards whose result keys hold task_id."""
    return [i for i in range(SHARDS)
            if r.exists(PREFIXES[i] + "result:" + task_id)]


def entries_added(r, i):
    return r.xinfo_stream(queue_key(i))["entries-added"]


@pytest.fixture
def shard_workers(worker):
    """One ordinary worker per shard prefix."""
    return [worker("--prefix", PREFIXES[i], stream=queue_key(i))
            for i in range(SHARDS)]


def sharded(celeriac, *args, **kw):
    return celeriac("--prefix", PREFIXES[0], "--shards", SHARDS, *args, **kw)


def test_batch_wait_spreads_over_shards(r, shard_workers, celeriac):
    # Even lines name their ids; odd ones get "default/<entry id>".
    datas = ["shard item %d" % i for i in range(N)]
    lines = "".join(json.dumps({"task": "hash", "args": {"data": d},
                                **({} if i % 2 else {"id": "t%d" % i})}) +
                    "\n" for i, d in enumerate(datas))
    run = sharded(celeriac, "send", "--batch", "-", "--wait", "--timeout",
                  "120", input=lines)
    assert run.rc == 0, run
    docs = [json.loads(x) for x in run.text().splitlines()]
    assert len(docs) == N
    for doc in docs:
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == hashlib_digest(
            "sha512", datas[doc["line"] - 1].encode())
    assert {d["id"] for d in docs if d["line"] % 2} == \
        {"t%d" % i for i in range(0, N, 2)}
    # An id-less task gets a random id from the CLI: the shards' streams
    # hand out the same entry ids, so "default/<entry id>" would not name
    # one task.
    made = [d["id"] for d in docs if d["line"] % 2 == 0]
    assert len(set(made)) == N // 2
    assert all(len(t) == 32 and int(t, 16) >= 0 for t in made), made[:3]

    # Round robin: each shard got a third of the tasks, and holds their
    # results; nothing landed in the unsharded default prefix.
    per_shard = [results_in(r, i) for i in range(SHARDS)]
    assert [len(p) for p in per_shard] == [N // SHARDS] * SHARDS
    assert set().union(*per_shard) == {d["id"] for d in docs}
    assert [entries_added(r, i) for i in range(SHARDS)] == \
        [N // SHARDS] * SHARDS
    assert not list(r.scan_iter(match="celeriac:*"))

    # `result --shards` finds a task of shard 2; without --shards only
    # shard 0 is looked at.
    tid = next(t for t in per_shard[2] if t.startswith("t"))
    made_in_2 = next(t for t in per_shard[2] if t in made)
    run = sharded(celeriac, "result", made_in_2)
    assert run.rc == 0, run
    assert run.text() == "%s SUCCESS %s\n" % (
        made_in_2, per_shard[2][made_in_2]["result"]["digest"])
    run = sharded(celeriac, "result", tid)
    assert run.rc == 0, run
    assert run.text() == "%s SUCCESS %s\n" % (
        tid, per_shard[2][tid]["result"]["digest"])
    run = celeriac("--prefix", PREFIXES[0], "result", tid)
    assert run.rc == 1 and run.text() == tid + " none\n", run
    # Several ids from different shards, and one unknown, in order.
    ids = [next(t for t in per_shard[i] if t.startswith("t"))
           for i in (1, 0)] + ["default/0-1"]
    run = sharded(celeriac, "result", *ids)
    assert run.rc == 1, run
    out = run.text().splitlines()
    assert [x.split()[:2] for x in out] == [[ids[0], "SUCCESS"],
                                           [ids[1], "SUCCESS"],
                                           [ids[2], "none"]]


def test_send_one_and_result_wait(r, shard_workers, celeriac):
    seen = set()
    for i in range(12):
        data = "single %d" % i
        run = sharded(celeriac, "send", "hash", "--arg", "data=" + data)
        assert run.rc == 0, run
        tid = run.text().strip()
        run = sharded(celeriac, "result", "--wait", "--timeout", "60", tid)
        assert run.rc == 0, run
        assert run.text() == "%s SUCCESS %s\n" % (
            tid, hashlib_digest("sha512", data.encode()))
        where = shard_of(r, tid)
        assert len(where) == 1
        seen.add(where[0])
    # A random shard per run: 12 runs on one shard would be a 1 in 3^11
    # chance.
    assert len(seen) > 1

    # --wait on a single task reads its shard's reply stream.
    run = sharded(celeriac, "send", "hash", "--arg", "data=waited", "--wait",
                  "--timeout", "60")
    assert run.rc == 0, run
    doc = json.loads(run.text())
    assert doc["status"] == "SUCCESS"
    assert doc["result"]["digest"] == hashlib_digest("sha512", b"waited")


def test_unique_tasks_go_to_shard_0(r, shard_workers, celeriac):
    for i in range(6):
        run = sharded(celeriac, "send", "hash", "--arg", "data=u%d" % i,
                      "--unique-for", "60", "--wait", "--timeout", "60")
        assert run.rc == 0, run
        doc = json.loads(run.text())
        assert shard_of(r, doc["id"]) == [0]
    # A duplicate of a task not finished (delayed by an hour) is refused:
    # its lock and the delayed task are in shard 0.
    run = sharded(celeriac, "send", "hash", "--arg", "data=dup",
                  "--unique-for", "600", "--countdown", "3600")
    assert run.rc == 0, run
    first = run.text().strip()
    assert r.zcard(PREFIXES[0] + "scheduled") == 1
    run = sharded(celeriac, "send", "hash", "--arg", "data=dup",
                  "--unique-for", "600", "--countdown", "3600")
    assert run.rc == 5, run
    assert run.text() == "duplicate of %s\n" % first
    assert list(r.scan_iter(match="\\{cq\\}:unique:*"))
    assert not list(r.scan_iter(match="\\{cq.*\\}:unique:*"))

    # In a batch, unique lines go to shard 0, the others round robin.
    lines = "".join(
        json.dumps({"task": "hash", "args": {"data": "b%d" % i},
                    "id": "b%d" % i,
                    **({"unique_for": 60} if i % 2 else {})}) + "\n"
        for i in range(12))
    run = sharded(celeriac, "send", "--batch", "-", "--wait", "--timeout",
                  "60", input=lines)
    assert run.rc == 0, run
    assert len(run.text().splitlines()) == 12
    for i in range(1, 12, 2):
        assert shard_of(r, "b%d" % i) == [0]
    assert {shard_of(r, "b%d" % i)[0] for i in range(0, 12, 2)} == \
        {0, 1, 2}


def test_hash_command(r, shard_workers, celeriac, tmp_dir):
    names = []
    for i in range(5):
        p = os.path.join(tmp_dir, "f%d" % i)
        with open(p, "wb") as f:
            f.write(b"file %d\n" % i * 100)
        names.append("f%d" % i)
    run = sharded(celeriac, "hash", "--timeout", "60", *names)
    assert run.rc == 0, run
    want = "".join("%s  %s\n" % (hashlib.sha512(
        open(os.path.join(tmp_dir, n), "rb").read()).hexdigest(), n)
        for n in names)
    assert run.text() == want


@pytest.mark.parametrize("cmd", [
    ["status"], ["dead"], ["purge", "--yes"], ["revoke", "x/1-0"],
    ["events"], ["inspect", "ping"], ["monitor", "--once"], ["beat"],
])
def test_other_commands_refuse(celeriac, cmd):
    for argv in (["--prefix", "{cq}:", "--shards", "3"] + cmd,
                 ["--prefix", "{cq}:"] + cmd[:1] + ["--shards", "3"] +
                 cmd[1:]):
        run = celeriac(*argv)
        assert run.rc == 2, run
        err = run.stderr.decode()
        assert "--shards is not supported here yet" in err, err
        assert "'{cq}:' '{cq.1}:' '{cq.2}:'" in err, err
    # --shards 1 is the plain deployment: no refusal.
    if cmd == ["status"]:
        run = celeriac("--prefix", "{cq}:", "--shards", "1", "status")
        assert run.rc == 0, run


def test_bad_shards_options(celeriac):
    run = celeriac("send", "--shards", "2", "hash", "--arg", "data=x")
    assert run.rc == 2, run
    assert "hash tag" in run.stderr.decode(), run
    for bad in ("0", "65", "x", "2x"):
        run = celeriac("--prefix", "{cq}:", "--shards", bad, "send", "hash",
                       "--arg", "data=x")
        assert run.rc == 2, run
        assert "--shards '%s'" % bad in run.stderr.decode(), run
    run = celeriac("--prefix", "{cq}:", "result", "--shards", "2", "x/1-0")
    assert run.rc == 1 and run.text() == "x/1-0 none\n", run


def test_cluster_shards_on_their_masters(redis_cluster, worker, celeriac):
    """On a Redis Cluster each shard's keys live on the master of its own
    hash slot, and the CLI reaches every one of them."""
    c = redis_cluster
    url = c.url()
    masters = [c.master_for_slot(c.keyslot(queue_key(i)))
               for i in range(SHARDS)]
    for i in range(SHARDS):
        worker("--prefix", PREFIXES[i], redis_url=url,
               client=masters[i].client(), stream=queue_key(i))
    datas = ["cluster shard %d" % i for i in range(60)]
    lines = "".join(json.dumps({"task": "hash", "args": {"data": d},
                                "id": "c%d" % i}) + "\n"
                    for i, d in enumerate(datas))
    env = {"CELERIAC_REDIS_URL": url}
    run = sharded(celeriac, "send", "--batch", "-", "--wait", "--timeout",
                  "60", input=lines, env=env)
    assert run.rc == 0, run
    docs = [json.loads(x) for x in run.text().splitlines()]
    assert sorted(d["id"] for d in docs) == sorted("c%d" % i
                                                   for i in range(60))
    for doc in docs:
        assert doc["result"]["digest"] == hashlib_digest(
            "sha512", datas[doc["line"] - 1].encode())
    for i in range(SHARDS):
        m = masters[i].client()
        assert len(results_in(m, i)) == 20
    run = sharded(celeriac, "result", "c7", "c8", "c9", env=env)
    assert run.rc == 0, run
    assert [x.split()[:2] for x in run.text().splitlines()] == \
        [["c7", "SUCCESS"], ["c8", "SUCCESS"], ["c9", "SUCCESS"]]


def worker_has_shards():
    from harness import WORKER_BIN
    p = subprocess.run([WORKER_BIN, "--help"], capture_output=True,
                       text=True, timeout=30)
    return "--shards" in p.stdout + p.stderr


def test_with_worker_shards(r, worker, celeriac):
    """The same through one `celeriac-worker --shards 3`, if it has it."""
    if not worker_has_shards():
        pytest.skip("celeriac-worker has no --shards yet")
    # One supervisor with a parent per shard: ready once every shard's
    # consumer group exists.
    w = worker("--prefix", PREFIXES[0], "--shards", SHARDS, wait_ready=False)
    for i in range(SHARDS):
        wait_until(lambda: not w.alive() or
                   consumer_group_exists(r, queue_key(i)), 30,
                   what="the worker to consume shard %d" % i)
        assert w.alive(), w.log()
    datas = ["worker shards %d" % i for i in range(90)]
    lines = "".join(json.dumps({"task": "hash", "args": {"data": d}}) + "\n"
                    for d in datas)
    run = sharded(celeriac, "send", "--batch", "-", "--wait", "--timeout",
                  "60", input=lines)
    assert run.rc == 0, run
    docs = [json.loads(x) for x in run.text().splitlines()]
    assert len(docs) == 90
    for doc in docs:
        assert doc["result"]["digest"] == hashlib_digest(
            "sha512", datas[doc["line"] - 1].encode())
    assert [len(results_in(r, i)) for i in range(SHARDS)] == [30] * SHARDS
