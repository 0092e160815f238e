# SPDX-License-Identifier: MIT
"""The finish script (protocol/scripts.c, scripts_finish) run directly with
redis-py, as any worker implementation would call it: the first finish of
an entry wins, a late or repeated one changes nothing, finished entries
leave the stream whether they are finished in order or not, unread entries
stay, the three record kinds (F, R, D) do what PROTOCOL.md says, and a
malformed call is refused before it changes anything."""

import json
import os
import re

import pytest
import redis

from harness import GROUP, ROOT

STREAM = "celeriac:queue:finish-test"
SCHED = "celeriac:scheduled"
DEAD = "celeriac:dead"
TTL = 600
REPLY_PREFIX = "celeriac:reply:"
REPLY = REPLY_PREFIX + "t1"
MAXLEN = 1000


def finish_script():
    src = open(os.path.join(ROOT, "protocol", "scripts.c")).read()
    body = re.search(r"scripts_finish\[\] =\n(.*?);\n", src, re.S).group(1)
    return "".join(json.loads(lit)
                   for lit in re.findall(r'"(?:[^"\\]|\\.)*"', body))


@pytest.fixture
def fin(r):
    """fin(records) -> the script's reply; records are lists of arguments,
    mode first."""
    sha = r.script_load(finish_script())

    def call(records):
        args = [GROUP, "tester", TTL, SCHED, DEAD, REPLY_PREFIX, MAXLEN]
        for rec in records:
            args += rec
        return r.evalsha(sha, 1, STREAM, *args)

    return call


def add(r, n):
    return [r.xadd(STREAM, {"msg": json.dumps({"task": "hash", "n": i})})
            .decode() for i in range(n)]


def read(r, n, consumer="tester"):
    got = r.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=n)
    return [e[0].decode() for e in got[0][1]] if got else []


def final(eid, doc="done", reply=""):
    return ["F", eid, "res:" + eid, doc, reply]


@pytest.fixture
def queue(r):
    r.xgroup_create(STREAM, GROUP, "0", mkstream=True)
    return r


def test_batch_finished_and_deleted(queue, fin):
    r = queue
    ids = add(r, 5)
    assert read(r, 5) == ids
    assert fin([final(e) for e in ids]) == [1] * 5
    assert r.xlen(STREAM) == 0
    assert r.xpending(STREAM, GROUP)["pending"] == 0
    for e in ids:
        assert r.get("res:" + e) == b"done"
        assert 0 < r.ttl("res:" + e) <= TTL


def test_late_and_repeated_finish_change_nothing(queue, fin):
    r = queue
    ids = add(r, 5)
    read(r, 5)
    assert fin([final(e, "first") for e in ids[:3]]) == [1, 1, 1]
    # The same entries again (a late worker, or a batch sent twice), with
    # two that are still pending: only those two are finished.
    assert fin([final(e, "late") for e in ids]) == [0, 0, 0, 1, 1]
    assert [r.get("res:" + e) for e in ids] == [b"first"] * 3 + [b"late"] * 2
    assert r.xlen(STREAM) == 0


def test_out_of_order_entries_leave_the_stream(queue, fin):
    """A long task holds the oldest entry: the ones after it that finish
    are deleted at once, so the stream holds only what is unfinished."""
    r = queue
    ids = add(r, 8)
    read(r, 8)
    assert fin([final(e) for e in ids[1:4]]) == [1, 1, 1]
    assert [e[0].decode() for e in r.xrange(STREAM)] == [ids[0]] + ids[4:]
    assert fin([final(e) for e in ids[5:]]) == [1, 1, 1]
    assert [e[0].decode() for e in r.xrange(STREAM)] == [ids[0], ids[4]]
    assert fin([final(ids[0]), final(ids[4])]) == [1, 1]
    assert r.xlen(STREAM) == 0


def test_unread_entries_stay(queue, fin):
    r = queue
    ids = add(r, 6)
    assert read(r, 3) == ids[:3]
    assert fin([final(e) for e in ids[:3]]) == [1, 1, 1]
    assert [e[0].decode() for e in r.xrange(STREAM)] == ids[3:]
    assert read(r, 10, consumer="other") == ids[3:]


def test_entries_of_another_consumer(queue, fin):
    """A taken-over entry is finished by whoever finishes it first."""
    r = queue
    ids = add(r, 2)
    read(r, 1, consumer="a")
    read(r, 1, consumer="b")
    assert fin([final(ids[1], "by-a")]) == [1]
    assert r.get("res:" + ids[1]) == b"by-a"
    assert r.xpending(STREAM, GROUP)["pending"] == 1


def test_reply_retry_and_dead_records(queue, fin):
    r = queue
    ids = add(r, 3)
    read(r, 3)
    out = fin([final(ids[0], "ok", reply=REPLY),
               ["R", ids[1], "res:" + ids[1], "retrying", "1700000000000",
                '{"task":"hash"}'],
               ["D", ids[2], "res:" + ids[2], "failed", REPLY,
                '{"task":"bad"}', '{"reason":"poison"}']])
    assert out == [1, 1, 1]
    replies = [f[b"result"] for _, f in r.xrange(REPLY)]
    assert replies == [b"ok", b"failed"]
    assert 0 < r.ttl(REPLY) <= TTL
    assert r.zrange(SCHED, 0, -1, withscores=True) == [
        (b'{"task":"hash"}', 1700000000000.0)]
    (_, dead), = r.xrange(DEAD)
    assert dead == {b"msg": b'{"task":"bad"}',
                    b"reason": b'{"reason":"poison"}',
                    b"queue": STREAM.encode(), b"entry": ids[2].encode()}
    assert r.get("res:" + ids[1]) == b"retrying"
    assert r.xlen(STREAM) == 0


@pytest.mark.parametrize("records", [
    [["X", "1-1", "k", "d", ""]],             # unknown mode
    [["F", "1-1", "k", "d"]],                  # record cut short
    [["F", "1-1", "k", "d", ""], ["R", "1-2"]],
])
def test_malformed_call_changes_nothing(queue, fin, records):
    r = queue
    ids = add(r, 2)
    read(r, 2)
    records = [[ids[0] if a == "1-1" else a for a in rec] for rec in records]
    with pytest.raises(redis.ResponseError, match="bad record"):
        fin(records)
    assert r.xpending(STREAM, GROUP)["pending"] == 2
    assert r.xlen(STREAM) == 2
    assert r.keys("res:*") == []


def test_too_many_tasks_refused(queue, fin):
    with pytest.raises(redis.ResponseError, match="over 1000 tasks"):
        fin([final("%d-0" % (i + 1)) for i in range(1001)])


def test_missing_group_or_stream_skips(r, fin):
    assert fin([final("1-1")]) == [0]
    eid = r.xadd(STREAM, {"msg": "{}"}).decode()
    assert fin([final("1-1"), final(eid)]) == [0, 0]
    assert r.keys("res:*") == []
    assert r.xlen(STREAM) == 1
    r.delete(STREAM)
    r.set(STREAM, "not a stream")
    assert fin([final("1-1")]) == [0]


def test_bad_ttl_refused(queue, fin, r):
    sha = r.script_load(finish_script())
    ids = add(r, 1)
    read(r, 1)
    with pytest.raises(redis.ResponseError, match="bad TTL"):
        r.evalsha(sha, 1, STREAM, GROUP, "tester", "1.5", SCHED, DEAD,
                  REPLY_PREFIX, MAXLEN, *final(ids[0]))
    assert r.xpending(STREAM, GROUP)["pending"] == 1


@pytest.mark.parametrize("key,setup,record", [
    (SCHED, "set", lambda e: ["R", e, "res:" + e, "retrying", "1700000000000",
                              '{"task":"hash"}']),
    (DEAD, "set", lambda e: ["D", e, "res:" + e, "failed", "",
                             '{"task":"bad"}', '{"reason":"poison"}']),
    (REPLY, "hset", lambda e: final(e, "ok", reply=REPLY)),
    ("app:key", "set", lambda e: final(e, "ok", reply="app:key")),
])
def test_wrong_type_refuses_only_that_record(queue, fin, key, setup, record):
    """All or nothing: a record whose key has the wrong type (or whose
    reply_to is outside the reply namespace) is refused before any write:
    its entry stays pending and in the stream, its result is not stored,
    the key keeps its value and gets no TTL; the others finish, and no
    trim removes the refused entry although newer ones are finished."""
    r = queue
    if setup == "set":
        r.set(key, "stray")
    else:
        r.hset(key, "not", "a stream")
    ids = add(r, 3)
    read(r, 3)
    out = fin([record(ids[0]), final(ids[1]), final(ids[2])])
    assert out[1:] == [1, 1]
    assert isinstance(out[0], bytes) and key.encode() in out[0], out
    assert r.get("res:" + ids[0]) is None
    assert [e[0].decode() for e in r.xrange(STREAM)] == [ids[0]]
    assert r.xpending(STREAM, GROUP)["pending"] == 1
    assert r.type(key) == (b"string" if setup == "set" else b"hash")
    assert r.ttl(key) == -1
    # The worker's fallback, a final record without the failing part.
    assert fin([final(ids[0], "StoreFailed")]) == [1]
    assert r.xlen(STREAM) == 0


def test_reply_stream_is_bounded(queue, r):
    """Each append trims the reply stream to about MAXLEN entries (whole
    nodes of 100 entries at a time)."""
    sha = r.script_load(finish_script())
    ids = add(r, 600)
    read(r, 600)
    for k in range(0, 600, 200):
        out = r.evalsha(sha, 1, STREAM, GROUP, "tester", TTL, SCHED, DEAD,
                        REPLY_PREFIX, 100,
                        *[a for e in ids[k:k + 200]
                          for a in final(e, "ok", reply=REPLY)])
        assert out == [1] * 200
    assert 100 <= r.xlen(REPLY) < 300
    assert r.xlen(STREAM) == 0


def test_move_leaves_members_for_a_broken_queue(r):
    src = open(os.path.join(ROOT, "protocol", "scripts.c")).read()
    body = re.search(r"scripts_move\[\] =\n(.*?);\n", src, re.S).group(1)
    move = "".join(json.loads(lit)
                   for lit in re.findall(r'"(?:[^"\\]|\\.)*"', body))
    r.set("celeriac:queue:broken", "stray")
    r.zadd(SCHED, {'{"id":"a","queue":"broken"}': 1,
                   '{"id":"b","queue":"ok"}': 2, '{"id":"c"}': 3})
    out = r.eval(move, 1, SCHED, 10, 100, "celeriac:queue:")
    assert out[0] == 2
    assert b"celeriac:queue:broken holds a string" in out[1]
    assert r.zrange(SCHED, 0, -1) == [b'{"id":"a","queue":"broken"}']
    assert r.get("celeriac:queue:broken") == b"stray"
    assert r.ttl("celeriac:queue:broken") == -1
    assert r.xlen("celeriac:queue:ok") == 1
    assert r.xlen("celeriac:queue:default") == 1
