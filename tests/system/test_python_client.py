# SPDX-License-Identifier: MIT
"""The Python client (clients/python/celeriac) against a real worker.

- Its message builder writes the exact bytes of every protocol test
  vector (protocol/vectors/messages.json), and refuses the error ones.
- send / AsyncResult.get, send_many (pipelined, one reply stream), wait,
  result, delayed tasks, a failure (TaskFailed), hash_files (digests equal
  to hashlib's), revoke, and the timeout.
"""

import hashlib
import json
import os
import sys

import pytest

from harness import QUEUE, wait_until

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "clients", "python"))

import celeriac  # noqa: E402
from celeriac.message import BuildError, build_message  # noqa: E402

VECTORS = os.path.join(ROOT, "protocol", "vectors", "messages.json")


def _vectors(kind):
    with open(VECTORS, encoding="utf-8") as f:
        return json.load(f)[kind]


def _kwargs(inp):
    k = dict(inp)
    if "payload_hex" in k:
        k["payload"] = bytes.fromhex(k.pop("payload_hex"))
    return k


@pytest.mark.parametrize("vec", _vectors("vectors"), ids=lambda v: v["name"])
def test_builder_matches_vectors(vec):
    assert build_message(**_kwargs(vec["input"])) == vec["message"]


@pytest.mark.parametrize("vec", _vectors("errors"), ids=lambda v: v["name"])
def test_builder_refuses_error_vectors(vec):
    with pytest.raises(BuildError) as e:
        build_message(**_kwargs(vec["input"]))
    assert e.value.what == vec["error"]


@pytest.fixture
def client(redis_server, r):
    c = celeriac.Client(redis_server.url)
    try:
        yield c
    finally:
        c.redis.close()


def test_send_get_and_result(worker, client, r):
    worker()
    h = client.send("hash", {"data": "abc", "algorithm": "sha256"})
    assert h.id.startswith("default/")
    value = h.get(timeout=60)
    assert value["digest"] == hashlib.sha256(b"abc").hexdigest()
    assert h.ready() and h.status == "SUCCESS"
    assert client.result(h.id)["result"] == value
    assert client.result("no-such-id") is None
    # The message on the queue is what the builder writes.
    h2 = client.send("hash", {"data": "x"}, id="py-1", max_retries=2)
    assert h2.id == "py-1"
    assert h2.wait(60)["status"] == "SUCCESS"


def test_send_many_wait_in_order(worker, client, r):
    worker()
    tasks = [{"task": "hash", "args": {"data": str(i)}, "id": "m%d" % i}
             for i in range(50)]
    hs = client.send_many(tasks)
    assert len({h.reply_to for h in hs}) == 1
    docs = client.wait(hs, timeout=120)
    assert [d["id"] for d in docs] == ["m%d" % i for i in range(50)]
    for i, d in enumerate(docs):
        assert d["result"]["digest"] == hashlib.sha512(
            str(i).encode()).hexdigest()
    # By id too, without reply streams (result keys only).
    assert client.wait(["m3"], timeout=10)[0]["id"] == "m3"


def test_failure_delayed_and_timeout(worker, client, r):
    h = client.send("hash", {"data": "abc"}, countdown=0.5)
    assert len(h.id) == 32
    assert r.zcard("celeriac:scheduled") == 1
    with pytest.raises(celeriac.Timeout):
        h.wait(timeout=0.2)
    worker()
    assert h.get(timeout=60)["digest"] == hashlib.sha512(b"abc").hexdigest()
    bad = client.send("hash", {"data": "abc", "algorithm": "nope"})
    with pytest.raises(celeriac.TaskFailed) as e:
        bad.get(timeout=60)
    assert e.value.type == "UnknownAlgorithm"
    assert bad.status == "FAILURE"


def test_hash_files(worker, client, tmp_dir):
    worker()
    files = {}
    for name, data in (("a.txt", b"hello\n"), ("b.bin", bytes(range(256))),
                       ("empty", b"")):
        p = os.path.join(tmp_dir, name)
        with open(p, "wb") as f:
            f.write(data)
        files[p] = hashlib.sha256(data).hexdigest()
    got = client.hash_files(list(files), algorithm="sha256", timeout=120)
    assert got == files


def test_revoke(worker, client, r):
    client.revoke(["py-revoked"])
    client.redis.xadd(QUEUE, {"msg": build_message(
        "hash", {"data": "abc"}, id="py-revoked")})
    worker()
    h = celeriac.AsyncResult(client, "py-revoked")
    doc = h.wait(60)
    assert doc["status"] == "REVOKED"
    with pytest.raises(celeriac.TaskFailed):
        h.get(1)
    wait_until(lambda: r.xpending(QUEUE, "celeriac")["pending"] == 0, 30)


def test_revoke_delayed(client, r):
    h = client.send("hash", {"data": "abc"}, countdown=600)
    other = client.send("hash", {"data": "abc"}, countdown=600)
    assert client.revoke([h.id]) == [h.id]
    assert r.zcard("celeriac:scheduled") == 1
    doc = h.wait(5)   # from the reply stream or the result key, no worker
    assert doc["status"] == "REVOKED" and doc["attempts"] == 0, doc
    assert other.status is None
