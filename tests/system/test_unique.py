# SPDX-License-Identifier: MIT
"""Unique tasks (PROTOCOL.md, "Unique tasks"; protocol/unique.h).

- `celeriac send --unique-for S` (and `--batch`, per line): the lock <prefix>unique:<sha256> holds
  the first task's id with a TTL of S; a second send within the window
  adds nothing, prints "duplicate of <id>" and exits 5; other arguments,
  or another --unique-key, make another lock.
- The lock's name is the documented digest (checked from Python, as a
  producer in another language would compute it).
- The worker releases the lock when the task finishes (then the same task
  can be sent again), deletes only a lock holding that task's id, keeps
  it while a retry is scheduled, and a lock whose worker was killed ends
  with its TTL.
- The worker checks the fields: wrong types are FAILURE InvalidMessage;
  a hostile unique_key never names a key outside the prefix.
"""

import hashlib
import json

import pytest

from harness import (QUEUE, assert_failure, assert_success, enqueue,
                     wait_result, wait_until)

LOCK_PREFIX = "celeriac:unique:"
EXIT_DUPLICATE = 5
SLOW_ARGS = ["--arg", "data=x", "--arg", "iterations:=5000000"]


def lock_for_args(task, args):
    canon = json.dumps(args, separators=(",", ":"), sort_keys=True,
                       ensure_ascii=False)
    material = ("task\n%s\n%s" % (task, canon)).encode()
    return LOCK_PREFIX + hashlib.sha256(material).hexdigest()


def lock_for_key(key):
    return LOCK_PREFIX + hashlib.sha256(b"key\n" + key.encode()).hexdigest()


def sent_id(run):
    assert run.rc == 0, run
    return run.stdout.decode().strip()


def locks(r):
    return sorted(k.decode() for k in r.scan_iter(match=LOCK_PREFIX + "*"))


def test_second_send_is_refused_with_the_first_id(r, celeriac):
    first = sent_id(celeriac("send", "hash", "--arg", "data=abc",
                             "--arg", "n:=1", "--unique-for", 60))
    lock = lock_for_args("hash", {"data": "abc", "n": 1})
    assert locks(r) == [lock]
    assert r.get(lock).decode() == first
    assert 0 < r.ttl(lock) <= 60

    again = celeriac("send", "hash", "--arg", "n:=1", "--arg", "data=abc",
                     "--unique-for", 60)
    assert again.rc == EXIT_DUPLICATE, again
    assert again.stdout.decode() == "duplicate of %s\n" % first
    assert r.xlen(QUEUE) == 1

    # Other arguments: another lock, another task.
    other = sent_id(celeriac("send", "hash", "--arg", "data=abd",
                             "--arg", "n:=1", "--unique-for", 60))
    assert other != first
    assert r.xlen(QUEUE) == 2

    # The message carries the field; a plain send is never refused.
    msgs = [json.loads(e[1][b"msg"]) for e in r.xrange(QUEUE)]
    assert msgs[0]["unique_for"] == 60 and "unique_key" not in msgs[0]
    sent_id(celeriac("send", "hash", "--arg", "data=abc", "--arg", "n:=1"))
    assert r.xlen(QUEUE) == 3


def test_unique_key_names_the_lock(r, celeriac):
    first = sent_id(celeriac("send", "hash", "--arg", "data=1",
                             "--unique-for", 60, "--unique-key", "report:7"))
    assert locks(r) == [lock_for_key("report:7")]
    dup = celeriac("send", "hash", "--arg", "data=2", "--unique-for", 60,
                   "--unique-key", "report:7")
    assert dup.rc == EXIT_DUPLICATE, dup
    assert dup.stdout.decode() == "duplicate of %s\n" % first
    msg = json.loads(r.xrange(QUEUE)[0][1][b"msg"])
    assert msg["unique_key"] == "report:7"

    # A delayed unique task: its lock holds the id celeriac picked.
    run = celeriac("send", "hash", "--arg", "data=3", "--unique-for", 60,
                   "--unique-key", "later", "--countdown", 600)
    tid = sent_id(run)
    assert r.get(lock_for_key("later")).decode() == tid
    assert r.zcard("celeriac:scheduled") == 1


def test_window_ends_with_its_ttl(r, celeriac):
    sent_id(celeriac("send", "hash", "--arg", "data=t", "--unique-for", 1))
    lock = lock_for_args("hash", {"data": "t"})
    wait_until(lambda: not r.exists(lock), 30, what="the lock to expire")
    sent_id(celeriac("send", "hash", "--arg", "data=t", "--unique-for", 1))
    assert r.xlen(QUEUE) == 2


def test_bad_options(celeriac):
    for args in (["--unique-for", "0"], ["--unique-for", "1.5"],
                 ["--unique-for", "x"], ["--unique-key", "k"]):
        run = celeriac("send", "hash", "--arg", "data=a", *args, input="")
        assert run.rc == 2, run
    # One --unique-key would give every line of a batch the same lock.
    run = celeriac("send", "--batch", "-", "--unique-for", "5",
                   "--unique-key", "k", input="")
    assert run.rc == 2 and b"own \"unique_key\"" in run.stderr, run


def test_batch_lines_take_their_locks(r, celeriac):
    """send --batch: --unique-for for every line, a line's own unique_for
    and unique_key, duplicates within the batch and of an earlier send
    reported by line; the rest sent, in one pipeline."""
    first = sent_id(celeriac("send", "hash", "--arg", "data=0",
                             "--unique-for", 60))
    lines = [{"task": "hash", "args": {"data": "0"}},             # dup of first
             {"task": "hash", "args": {"data": "1"}},
             {"task": "hash", "args": {"data": "1"}},             # dup of line 2
             {"task": "hash", "args": {"data": "2"}, "id": "own-2",
              "unique_key": "k2"},
             {"task": "hash", "args": {"data": "3"}, "unique_key": "k2"},
             {"task": "hash", "args": {"data": "4"}, "unique_for": 5},
             {"task": "hash", "args": {"data": "5"}, "countdown": 600,
              "unique_key": "later"}]
    text = "".join(json.dumps(l) + "\n" for l in lines)
    run = celeriac("send", "--batch", "-", "--unique-for", 60, input=text)
    assert run.rc == EXIT_DUPLICATE, run
    err = run.stderr.decode()
    ids = run.stdout.decode().split()
    assert len(ids) == 4, run
    assert "line 1: duplicate of %s" % first in err
    assert "line 3: duplicate of %s" % ids[0] in err
    assert "line 5: duplicate of own-2" in err
    assert ids[1] == "own-2"
    assert r.get(lock_for_args("hash", {"data": "1"})).decode() == ids[0]
    assert r.get(lock_for_key("k2")).decode() == "own-2"
    lock4 = lock_for_args("hash", {"data": "4"})
    assert r.get(lock4).decode() == ids[2] and 0 < r.ttl(lock4) <= 5
    assert r.get(lock_for_key("later")).decode() == ids[3]
    assert r.xlen(QUEUE) == 1 + 3 and r.zcard("celeriac:scheduled") == 1
    msgs = [json.loads(e[1][b"msg"]) for e in r.xrange(QUEUE)]
    assert [m.get("unique_for") for m in msgs] == [60, 60, 60, 5]
    # A bad unique field is a bad line (exit 1), not a duplicate.
    run = celeriac("send", "--batch", "-", input=json.dumps(
        {"task": "hash", "args": {"data": "6"}, "unique_for": "x"}) + "\n")
    assert run.rc == 1 and b"line 1: " in run.stderr, run


def test_worker_releases_the_lock_when_the_task_finishes(r, worker,
                                                         celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=abc", "--unique-for", 600,
                   "--wait", "--timeout", 60)
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert_success(doc, "sha512", b"abc")
    lock = lock_for_args("hash", {"data": "abc"})
    wait_until(lambda: not r.exists(lock), 30, what="the lock's release")
    # The same task can be sent again at once.
    run = celeriac("send", "hash", "--arg", "data=abc", "--unique-for", 600,
                   "--wait", "--timeout", 60)
    assert run.rc == 0, run
    assert json.loads(run.stdout)["id"] != doc["id"]


def test_worker_releases_a_failed_task_and_only_its_own_lock(r, worker):
    worker()
    # A producer in another language: SET NX EX, then XADD.
    mine = lock_for_key("mine")
    r.set(mine, "t-mine", nx=True, ex=600)
    enqueue(r, {"task": "hash", "id": "t-mine", "unique_for": 600,
                "unique_key": "mine", "args": {"data": "x"}})
    # A lock now held by a later task is not the finishing task's to free.
    other = lock_for_key("other")
    r.set(other, "t-later", ex=600)
    enqueue(r, {"task": "hash", "id": "t-old", "unique_for": 600,
                "unique_key": "other", "args": {"data": "x"}})
    # A failure (unknown algorithm) finishes the task too.
    failed = lock_for_key("failed")
    r.set(failed, "t-failed", ex=600)
    enqueue(r, {"task": "hash", "id": "t-failed", "unique_for": 600,
                "unique_key": "failed",
                "args": {"data": "x", "algorithm": "nope"}})
    assert_success(wait_result(r, "t-mine"), "sha512", b"x")
    assert_success(wait_result(r, "t-old"), "sha512", b"x")
    assert wait_result(r, "t-failed")["status"] == "FAILURE"
    wait_until(lambda: not r.exists(mine) and not r.exists(failed), 30,
               what="the locks' release")
    assert r.get(other) == b"t-later"


def test_large_message_needs_a_unique_key(r, worker):
    worker()
    data = "y" * (100 * 1024)
    lock = lock_for_key("big")
    r.set(lock, "t-big", ex=600)
    enqueue(r, {"task": "hash", "id": "t-big", "unique_for": 600,
                "unique_key": "big", "args": {"data": data}})
    enqueue(r, {"task": "hash", "id": "t-big-nokey", "unique_for": 600,
                "args": {"data": data}})
    assert_success(wait_result(r, "t-big"), "sha512", data.encode())
    assert_failure(wait_result(r, "t-big-nokey"), "InvalidMessage",
                   "unique_key")
    wait_until(lambda: not r.exists(lock), 30, what="the lock's release")


@pytest.mark.parametrize("fields,words", [
    ({"unique_for": "10"}, ["unique_for", "whole number"]),
    ({"unique_for": 0}, ["unique_for"]),
    ({"unique_for": -5}, ["unique_for"]),
    ({"unique_for": 1.5}, ["unique_for"]),
    ({"unique_for": True}, ["unique_for"]),
    ({"unique_for": 10 ** 12}, ["unique_for"]),
    ({"unique_for": 10, "unique_key": 5}, ["unique_key"]),
    ({"unique_for": 10, "unique_key": ""}, ["unique_key"]),
    ({"unique_for": 10, "unique_key": "k" * 1025}, ["unique_key"]),
    ({"unique_key": "k"}, ["unique_key", "unique_for"]),
])
def test_bad_fields_are_invalid_message(r, worker, fields, words):
    worker()
    msg = {"task": "hash", "id": "bad", "args": {"data": "x"}}
    msg.update(fields)
    enqueue(r, msg)
    assert_failure(wait_result(r, "bad"), "InvalidMessage", *words)


def test_hostile_unique_key_stays_inside_the_prefix(r, worker):
    worker()
    hostile = ["celeriac:result:victim", "../../x", "other:key\r\nDEL x",
               "k" * 1024, "\u00e9\u4e2d"]
    for i, key in enumerate(hostile):
        enqueue(r, {"task": "hash", "id": "h%d" % i, "unique_for": 600,
                    "unique_key": key, "args": {"data": "x"}})
    for i in range(len(hostile)):
        assert_success(wait_result(r, "h%d" % i), "sha512", b"x")
    keys = [k.decode() for k in r.keys("*")]
    assert all(k.startswith("celeriac:") for k in keys), keys
    assert "celeriac:result:victim" not in keys


def test_retry_keeps_the_lock(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", *SLOW_ARGS, "--unique-for", 600,
                   "--time-limit", "0.05", "--max-retries", 1,
                   "--retry-backoff", 600)
    tid = sent_id(run)
    lock = lock_for_args("hash", {"data": "x", "iterations": 5000000})
    wait_until(lambda: r.zcard("celeriac:scheduled") == 1, 60,
               what="the retry to be scheduled")
    assert r.get(lock).decode() == tid
    assert wait_result(r, tid)["status"] == "RETRY"


def test_lock_of_a_killed_worker_ends_with_its_ttl(r, worker, celeriac):
    w = worker()
    tid = sent_id(celeriac("send", "hash", *SLOW_ARGS, "--unique-for", 3))
    lock = lock_for_args("hash", {"data": "x", "iterations": 5000000})
    wait_until(lambda: r.xpending(QUEUE, "celeriac")["pending"] == 1, 30,
               what="the task to be taken")
    w.kill()
    assert r.get(lock).decode() == tid
    assert 0 < r.ttl(lock) <= 3
    wait_until(lambda: not r.exists(lock), 30, what="the lock to expire")
    dup = celeriac("send", "hash", *SLOW_ARGS, "--unique-for", 3)
    assert dup.rc == 0, dup
