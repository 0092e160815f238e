# SPDX-License-Identifier: MIT
"""The worker's options do what --help says: --prefix, --result-ttl,
--name and the default consumer name, --queues, --concurrency, the
address from CELERIAC_REDIS_URL, a password from CELERIAC_REDIS_PASSWORD
(never on the command line), and clear refusals of bad options."""

import json
import socket
import time

import pytest

from harness import (QUEUE, assert_success, enqueue, enqueue_many,
                     hashlib_digest, pending_count, wait_result, wait_until)


def task(tid, data="abc"):
    return {"task": "hash", "id": tid, "args": {"data": data}}


def test_prefix(r, worker):
    worker("--prefix", "app1:", stream="app1:queue:default")
    enqueue(r, task("p1"), stream="app1:queue:default")
    raw = wait_until(lambda: r.get("app1:result:p1"), 30,
                     what="app1:result:p1")
    assert_success(json.loads(raw), "sha512", b"abc")
    # Nothing under the default prefix.
    assert r.keys("celeriac:*") == []


def test_result_ttl(r, worker):
    worker("--result-ttl", "100")
    reply = "celeriac:reply:ttl"
    enqueue(r, dict(task("t1"), reply_to=reply))
    wait_result(r, "t1")
    assert 0 < r.ttl("celeriac:result:t1") <= 100
    assert 0 < r.ttl(reply) <= 100


def test_name(r, worker):
    worker("--name", "blue-7")
    enqueue(r, task("n1"))
    assert wait_result(r, "n1")["worker"] == "blue-7"
    names = [c["name"].decode() for c in r.xinfo_consumers(QUEUE, "celeriac")]
    assert names == ["blue-7"]


def test_default_name_is_host_and_pid(r, worker):
    w = worker()
    enqueue(r, task("n2"))
    assert wait_result(r, "n2")["worker"] == \
        "%s:%d" % (socket.gethostname(), w.pid)


def test_queues(r, worker):
    worker("--queues", "high,low", stream="celeriac:queue:low")
    enqueue(r, task("h1", "high"), stream="celeriac:queue:high")
    enqueue(r, task("l1", "low"), stream="celeriac:queue:low")
    enqueue(r, task("d1", "default"))  # not consumed by this worker
    assert_success(wait_result(r, "h1"), "sha512", b"high")
    assert_success(wait_result(r, "l1"), "sha512", b"low")
    assert r.xlen(QUEUE) == 1
    assert r.get("celeriac:result:d1") is None


@pytest.mark.parametrize("n", [1, 3])
def test_concurrency(r, worker, n):
    w = worker(concurrency=n)
    assert len(w.children()) == n
    for i in range(20):
        enqueue(r, task("c%d" % i, "c%d" % i))
    for i in range(20):
        assert_success(wait_result(r, "c%d" % i), "sha512", b"c%d" % i)
    assert pending_count(r) == 0


def test_url_from_environment(redis_server, r, worker):
    worker(redis_url="", env={"CELERIAC_REDIS_URL": redis_server.url})
    enqueue(r, task("e1"))
    assert_success(wait_result(r, "e1"), "sha512", b"abc")


def test_password_from_environment(make_redis, worker):
    """AUTH with a password that is not on the command line."""
    server = make_redis("--requirepass", "s3cret pass")
    c = server.client()
    w = worker(redis_url=server.url,
               env={"CELERIAC_REDIS_PASSWORD": "s3cret pass"}, client=c)
    assert "s3cret" not in " ".join(w.argv)
    enqueue(c, task("a1"))
    assert_success(wait_result(c, "a1"), "sha512", b"abc")
    c.close()


def test_password_in_url(make_redis, worker):
    server = make_redis("--requirepass", "p@ss:word")
    c = server.client()
    url = "redis://:p%%40ss%%3Aword@127.0.0.1:%d/0" % server.port
    worker(redis_url=url, client=c)
    enqueue(c, task("a2"))
    assert_success(wait_result(c, "a2"), "sha512", b"abc")
    c.close()


def test_database_number(redis_server, worker):
    c = redis_server.client(db=3)
    c.flushdb()
    worker(redis_url="redis://127.0.0.1:%d/3" % redis_server.port, client=c)
    enqueue(c, task("db3"))
    assert_success(wait_result(c, "db3"), "sha512", b"abc")
    c.flushdb()
    c.close()


@pytest.mark.parametrize("args,words", [
    (["--concurrency", "0"], ["--concurrency"]),
    (["--concurrency", "two"], ["--concurrency", "two"]),
    (["--prefetch", "-1"], ["--prefetch"]),
    (["--result-ttl", "0"], ["--result-ttl"]),
    (["--log-level", "loud"], ["--log-level", "loud"]),
    (["--queues", "a b"], ["a b"]),
    (["--name", "two words"], ["--name"]),
    (["--redis", "http://x"], ["http://x"]),
    (["--no-such-option"], ["no-such-option"]),
    (["stray"], ["stray"]),
])
def test_bad_options(worker, args, words):
    """Refused at once with exit status 2 and a message naming it."""
    w = worker(*args, wait_ready=False)
    assert w.wait(30) == 2, w.log()
    log = w.log()
    for word in words:
        assert word in log, log


def test_prefetch_mib_bounds_bytes_in_flight(r, worker):
    """--prefetch 100 alone would take all 12 tasks at once; with
    --prefetch-mib 2 at most two of the 1 MiB messages are being computed
    (plus results on their way to Redis), and a message larger than the
    bound is still taken, alone."""
    worker("--prefetch", "100", "--prefetch-mib", "2")
    data = "x" * (1 << 20)
    enqueue_many(r, [{"task": "hash", "id": "m%d" % i,
                      "args": {"data": data, "iterations": 100000}}
                     for i in range(12)])
    peak = 0
    for _ in range(120 * 100):
        peak = max(peak, pending_count(r))
        if r.exists(*["celeriac:result:m%d" % i for i in range(12)]) == 12:
            break
        time.sleep(0.01)
    want = hashlib_digest("sha512", data.encode(), iterations=100000)
    for i in range(12):
        doc = wait_result(r, "m%d" % i)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == want
    assert 1 <= peak <= 4, peak
    big = "y" * (3 << 20)
    enqueue(r, task("big", big))
    assert_success(wait_result(r, "big"), "sha512", big.encode())
