# SPDX-License-Identifier: MIT
"""Malformed and refused tasks: each gets a FAILURE result with the right
error.type and a message naming the problem, under the task's id (or the
stream entry id when the message has none), and the worker keeps serving:
a good task sent right after succeeds, the worker and both children are
still the same processes, and the queue is empty and fully acknowledged."""

import json

import pytest

from harness import (QUEUE, assert_failure, assert_success, b64,
                     pending_count, result_of, wait_result, wait_until)

MAX_DATA = 32 * 1024 * 1024
MAX_MESSAGE = 64 * 1024 * 1024
MAX_ITERATIONS = 10000000


def msg(args, **extra):
    d = {"v": 1, "task": "hash", "args": args}
    d.update(extra)
    return json.dumps(d)


# (case name, stream entry fields, error type, words the message contains)
CASES = [
    ("invalid-json", {"msg": '{"task": "hash", "args": {'},
     "InvalidMessage", ["JSON"]),
    ("invalid-json-garbage", {"msg": "hello world"},
     "InvalidMessage", ["JSON"]),
    ("empty-msg", {"msg": ""}, "InvalidMessage", []),
    ("invalid-utf8", {"msg": b'{"task":"hash","args":{"data":"\xff\xfe"}}'},
     "InvalidMessage", []),
    ("not-object-array", {"msg": '[{"task":"hash"}]'},
     "InvalidMessage", ["object"]),
    ("not-object-string", {"msg": '"hash"'}, "InvalidMessage", []),
    ("not-object-number", {"msg": "42"}, "InvalidMessage", []),
    ("no-msg-field", {"message": msg({"data": "x"})},
     "InvalidMessage", ["msg"]),
    ("missing-task", {"msg": json.dumps({"args": {"data": "x"}})},
     "InvalidMessage", ["task"]),
    ("task-not-string", {"msg": json.dumps({"task": 5})},
     "InvalidMessage", ["task"]),
    ("unknown-task", {"msg": json.dumps({"task": "no_such_task"})},
     "UnknownTask", ["no_such_task"]),
    ("future-version", {"msg": json.dumps({"v": 2, "task": "hash",
                                           "args": {"data": "x"}})},
     "InvalidMessage", ["version"]),
    ("args-not-object", {"msg": json.dumps({"task": "hash",
                                            "args": ["x"]})},
     "InvalidMessage", ["args"]),
    ("data-number", {"msg": msg({"data": 42})},
     "InvalidArgument", ["data"]),
    ("data-b64-object", {"msg": msg({"data_b64": {}})},
     "InvalidArgument", ["data_b64"]),
    ("algorithm-number", {"msg": msg({"data": "x", "algorithm": 256})},
     "InvalidArgument", ["algorithm"]),
    ("iterations-string", {"msg": msg({"data": "x", "iterations": "5"})},
     "InvalidArgument", ["iterations"]),
    ("iterations-float", {"msg": msg({"data": "x", "iterations": 2.5})},
     "InvalidArgument", ["iterations"]),
    ("iterations-zero", {"msg": msg({"data": "x", "iterations": 0})},
     "InvalidArgument", ["iterations"]),
    ("iterations-too-many",
     {"msg": msg({"data": "x", "iterations": MAX_ITERATIONS + 1})},
     "InvalidArgument", ["iterations", str(MAX_ITERATIONS)]),
    ("hmac-key-array", {"msg": msg({"data": "x", "hmac_key": ["k"]})},
     "InvalidArgument", ["hmac_key"]),
    ("both-data", {"msg": msg({"data": "x", "data_b64": "eA=="})},
     "InvalidArgument", ["data", "data_b64"]),
    ("neither-data", {"msg": msg({"algorithm": "sha256"})},
     "InvalidArgument", ["data"]),
    ("bad-base64", {"msg": msg({"data_b64": "not*base64"})},
     "InvalidArgument", ["data_b64", "base64"]),
    ("bad-base64-padding", {"msg": msg({"data_b64": "Zg="})},
     "InvalidArgument", ["data_b64", "base64"]),
    ("unknown-algorithm", {"msg": msg({"data": "x",
                                       "algorithm": "sha999"})},
     "UnknownAlgorithm", ["sha999"]),
    ("xof-algorithm", {"msg": msg({"data": "x", "algorithm": "shake256"})},
     "UnknownAlgorithm", []),
    ("algorithm-with-space", {"msg": msg({"data": "x",
                                          "algorithm": "sha 256"})},
     "UnknownAlgorithm", ["algorithm"]),
    ("algorithm-empty", {"msg": msg({"data": "x", "algorithm": ""})},
     "UnknownAlgorithm", ["algorithm"]),
    ("both-hmac-keys", {"msg": msg({"data": "x", "hmac_key": "k",
                                    "hmac_key_b64": "aw=="})},
     "InvalidArgument", ["hmac_key", "hmac_key_b64"]),
    ("hmac-key-too-long", {"msg": msg({"data": "x",
                                       "hmac_key": "k" * 4097})},
     "PayloadTooLarge", ["hmac_key", "4096"]),
    ("nul-in-string", {"msg": '{"task":"hash","args":{"data":"a\\u0000b"}}'},
     "InvalidMessage", []),
    ("duplicate-keys", {"msg": '{"task":"hash","task":"hash",'
                               '"args":{"data":"x"}}'},
     "InvalidMessage", ["duplicate"]),
    ("id-too-long", {"msg": msg({"data": "x"}, id="i" * 201)},
     "InvalidMessage", ["'id'"]),
]


def send(r, fields):
    """XADDs an entry with the given fields; returns the task id of a
    message without "id": "default/<entry id>"."""
    return "default/" + r.xadd(QUEUE, fields).decode()


def assert_still_serving(r, w, children_before):
    """A good task succeeds after the bad ones, served by the same
    worker and the same children, and nothing is left in the queue."""
    good = send(r, {"msg": msg({"data": "still here"}, id="good")})
    assert good
    doc = wait_result(r, "good")
    assert_success(doc, "sha512", b"still here")
    assert w.alive()
    assert w.children() == children_before, "a child died or was replaced"
    wait_until(lambda: r.xlen(QUEUE) == 0 and pending_count(r) == 0, 30,
               what="an empty, fully acknowledged queue")


@pytest.mark.parametrize("name,fields,error_type,words", CASES,
                         ids=[c[0] for c in CASES])
def test_bad_message(name, fields, error_type, words, r, worker):
    w = worker()
    kids = w.children()
    entry = send(r, fields)
    doc = wait_result(r, entry)
    assert doc["id"] == entry
    assert_failure(doc, error_type, *words)
    assert_still_serving(r, w, kids)


def test_failure_goes_to_given_id_and_reply_to(r, worker):
    """A refused task with an id and a reply_to is answered there."""
    w = worker()
    kids = w.children()
    reply = "celeriac:reply:bad"
    send(r, {"msg": msg({"data_b64": "!!"}, id="mine", reply_to=reply)})
    doc = wait_result(r, "mine")
    assert_failure(doc, "InvalidArgument", "data_b64")
    assert doc["task"] == "hash"
    out = r.xread({reply: "0"}, count=10, block=30000)
    assert out, "nothing on the reply stream"
    entries = out[0][1]
    assert len(entries) == 1
    assert json.loads(entries[0][1][b"result"]) == doc
    # No result under the stream entry id.
    assert len(r.keys("celeriac:result:*")) == 1
    assert_still_serving(r, w, kids)


def test_missing_task_keeps_id(r, worker):
    """A message without a task but with an id is answered under it."""
    w = worker()
    kids = w.children()
    send(r, {"msg": json.dumps({"id": "no-task", "args": {}})})
    doc = wait_result(r, "no-task")
    assert_failure(doc, "InvalidMessage", "task")
    assert doc["task"] is None
    assert_still_serving(r, w, kids)


def test_oversize_data(r, worker):
    """data one byte beyond 32 MiB: PayloadTooLarge naming the argument."""
    w = worker()
    kids = w.children()
    entry = send(r, {"msg": msg({"data": "a" * (MAX_DATA + 1)})})
    doc = wait_result(r, entry, timeout=60)
    assert_failure(doc, "PayloadTooLarge", "data", str(MAX_DATA))
    assert_still_serving(r, w, kids)


def test_oversize_data_b64(r, worker):
    w = worker()
    kids = w.children()
    entry = send(r, {"msg": msg({"data_b64": b64(b"\0" * (MAX_DATA + 3))})})
    doc = wait_result(r, entry, timeout=60)
    assert_failure(doc, "PayloadTooLarge", "data_b64")
    assert_still_serving(r, w, kids)


def test_data_at_limit(r, worker):
    """Exactly 32 MiB is accepted and hashed."""
    w = worker()
    kids = w.children()
    data = b"z" * MAX_DATA
    entry = send(r, {"msg": msg({"data": data.decode(),
                                 "algorithm": "sha256"})})
    doc = wait_result(r, entry, timeout=120)
    assert_success(doc, "sha256", data)
    assert_still_serving(r, w, kids)


def test_oversize_message(r, worker):
    """A message beyond 64 MiB is refused as a whole."""
    w = worker()
    kids = w.children()
    body = msg({"data": "x", "padding": "p" * MAX_MESSAGE})
    entry = send(r, {"msg": body})
    del body
    doc = wait_result(r, entry, timeout=120)
    assert_failure(doc, "PayloadTooLarge", "message")
    assert_still_serving(r, w, kids)


def test_all_bad_then_good_one_worker(r, worker):
    """Every bad case in one stream, interleaved with good tasks, through
    a single worker: every bad one fails, every good one succeeds."""
    w = worker()
    kids = w.children()
    expect = {}
    for i, (name, fields, error_type, words) in enumerate(CASES):
        entry = send(r, fields)
        expect[entry] = (error_type, words)
        send(r, {"msg": msg({"data": "good %d" % i}, id="good-%d" % i)})
    for entry, (error_type, words) in expect.items():
        assert_failure(wait_result(r, entry), error_type, *words)
    for i in range(len(CASES)):
        assert_success(wait_result(r, "good-%d" % i), "sha512",
                       b"good %d" % i)
    assert result_of(r, "nonexistent") is None
    assert_still_serving(r, w, kids)
