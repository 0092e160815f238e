# SPDX-License-Identifier: MIT
"""sentinel+tls://: Redis Sentinel with TLS on every connection.

One master, one replica and three sentinels on 127.0.0.1, all TLS-only
(port 0: a plain-text connection cannot succeed), certificates made by
test_tls.pki (IP SAN 127.0.0.1, the address the sentinels give for the
master).

- tasks: the worker (read, write and control connections, and its beat
  process) and `celeriac send --wait` through sentinel+tls://, digests
  checked against hashlib; plain sentinel:// to the same sentinels fails.
- fail-over: the master killed with SIGKILL, the worker follows the
  sentinels to the replica over TLS, tasks sent after are done.
- a wrong CA: the CLI exits 4 and the worker logs and retries, both
  naming the certificate problem.

Synchronised on +switch-master and on what Redis holds, never on
sleeps."""

import json
import os

import pytest
import redis

from harness import QUEUE, hashlib_digest, wait_until
from sentinellib import SentinelCluster, wait_switch
from test_tls import pki  # noqa: F401  (the fixture)

TICKS = "celeriac:queue:ticks"


@pytest.fixture
def tls_sentinels(pki):  # noqa: F811
    c = SentinelCluster(tls=pki)
    try:
        c.start()
        yield c
    finally:
        c.cleanup()


def cli_env(c, pki, ca="ca.crt"):  # noqa: F811
    """The CLI's settings from the environment: URL and CA."""
    return {"CELERIAC_REDIS_URL": c.url, "CELERIAC_TLS_CA_FILE": pki(ca)}


def send_hash(celeriac, c, pki, data):  # noqa: F811
    """`celeriac send hash --wait`; returns the result's digest."""
    run = celeriac("send", "hash", "--arg", "data=" + data,
                   "--arg", "algorithm=sha512", "--wait", "--timeout", "60",
                   env=cli_env(c, pki))
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert doc["status"] == "SUCCESS", doc
    return doc["result"]["digest"]


def tls_worker(worker, c, pki, *extra, ca="ca.crt", **kw):  # noqa: F811
    return worker("--tls-ca-file", pki(ca), *extra, redis_url=c.url, **kw)


def test_tasks_over_sentinel_tls(tls_sentinels, pki, worker, celeriac,
                                 tmp_dir):  # noqa: F811
    c = tls_sentinels
    # The nodes speak TLS only: plain text gets nowhere.
    plain = redis.Redis(host="127.0.0.1", port=c.sentinels[0].port,
                        socket_timeout=5)
    with pytest.raises(redis.RedisError):
        plain.ping()
    plain.close()
    beat = os.path.join(tmp_dir, "s.beat")
    with open(beat, "w") as f:
        f.write("tick @every 1s hash queue=ticks {\"data\": \"t\"}\n")
    m = c.master.client()
    # (Its beat process is a child too: ready is seen in Redis here.)
    w = tls_worker(worker, c, pki, "--beat", beat, wait_ready=False)
    wait_until(lambda: not w.alive() or m.exists(QUEUE), 30,
               what="the worker to create its group on the master")
    assert w.alive(), w.log()
    for data in ("sentinel over tls", "x" * 5000):
        assert send_hash(celeriac, c, pki, data) == \
            hashlib_digest("sha512", data.encode())
    # The same with the CA as an option, a batch of tasks.
    lines = "".join(json.dumps({"task": "hash", "args":
                                {"data": "b%d" % i, "algorithm": "sha512"}})
                    + "\n" for i in range(50))
    run = celeriac("--tls-ca-file", pki("ca.crt"), "send", "--batch", "-",
                   "--wait", "--timeout", "60", input=lines,
                   env={"CELERIAC_REDIS_URL": c.url})
    assert run.rc == 0, run
    docs = [json.loads(x) for x in run.stdout.decode().splitlines()]
    assert len(docs) == 50, run
    want = {hashlib_digest("sha512", b"b%d" % i) for i in range(50)}
    assert {d["result"]["digest"] for d in docs} == want, docs[:3]
    # The beat process fires through the sentinels too.
    wait_until(lambda: m.xlen(TICKS) >= 2, 30,
               what="the beat process to fire over sentinel+tls://")
    # status names the master it reached.
    run = celeriac("status", env=cli_env(c, pki))
    assert run.rc == 0, run
    assert ("Redis 127.0.0.1:%d/0 (master '%s')" % (c.master.port, c.name)
            in run.text()), run
    # sentinel:// (plain) to the same sentinels: refused, the worker is
    # the only client that got anywhere.
    run = celeriac("status", env={"CELERIAC_REDIS_URL":
                                  c.url.replace("sentinel+tls://",
                                                "sentinel://")})
    assert run.rc == 4, run
    assert b"no sentinel named the master" in run.stderr, run
    assert w.alive()
    assert "the sentinels name 127.0.0.1:%d" % c.master.port in w.log()


def test_failover_over_tls(tls_sentinels, pki, worker, celeriac):  # noqa: F811
    c = tls_sentinels
    w = tls_worker(worker, c, pki, client=c.master.client())
    assert send_hash(celeriac, c, pki, "before") == \
        hashlib_digest("sha512", b"before")
    ps = c.watch_switch()
    c.master.kill9()
    new_port, _ = wait_switch(ps)
    ps.close()
    assert new_port == c.replica.port
    new = c.replica.client()
    wait_until(lambda: new.exists(QUEUE), 60,
               what="the worker to create its group on the new master")
    for i in range(5):
        data = "after-%d" % i
        assert send_hash(celeriac, c, pki, data) == \
            hashlib_digest("sha512", data.encode())
    assert "the sentinels name 127.0.0.1:%d" % new_port in w.log()
    assert w.alive()


def test_wrong_ca(tls_sentinels, pki, worker, celeriac):  # noqa: F811
    c = tls_sentinels
    run = celeriac("send", "hash", "--arg", "data=x",
                   env=cli_env(c, pki, ca="otherca.crt"))
    assert run.rc == 4, run
    err = run.stderr.decode(errors="replace")
    assert "no sentinel named the master" in err, run
    # Each sentinel's TLS verdict, with what to do about it.
    assert err.count("certificate") >= 3, run
    assert "give the CA that signed it with --tls-ca-file" in err, run
    assert "sentinel 127.0.0.1:%d" % c.sentinels[0].port in err, run
    w = tls_worker(worker, c, pki, ca="otherca.crt", wait_ready=False)
    text = "give the CA that signed it with --tls-ca-file"
    wait_until(lambda: not w.alive() or w.log().count(text) >= 2, 60,
               what="the worker to log the certificate problem twice")
    assert w.alive(), w.log()
    assert ("the TLS certificate of 127.0.0.1:%d was refused"
            % c.sentinels[0].port) in w.log()
    assert not c.master.client().exists(QUEUE)


def test_master_certificate_checked_against_its_address(
        pki, worker, celeriac):  # noqa: F811
    """The data nodes show a certificate for another name (the sentinels,
    which check no names, are content with it): the master the sentinels
    name, 127.0.0.1, is refused by its address."""
    c = SentinelCluster(tls=pki, data_cert="wrongname")
    try:
        c.start()
        run = celeriac("send", "hash", "--arg", "data=x",
                       env=cli_env(c, pki))
        assert run.rc == 4, run
        assert b"is not valid for that host name" in run.stderr, run
        assert (b"127.0.0.1:%d" % c.master.port) in run.stderr, run
        w = tls_worker(worker, c, pki, wait_ready=False)
        text = ("the TLS certificate of 127.0.0.1:%d" % c.master.port)
        wait_until(lambda: not w.alive() or
                   w.log().count("is not valid for that host name") >= 2,
                   60, what="the worker to refuse the master's certificate")
        assert w.alive(), w.log()
        assert text in w.log(), w.log()
        assert not c.master.client().exists(QUEUE)
    finally:
        c.cleanup()

