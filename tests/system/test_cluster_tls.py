# SPDX-License-Identifier: MIT
"""cluster+tls://: Redis Cluster with TLS on every connection (clients,
the cluster bus, replication), three masters and their replicas on
127.0.0.1 (clusterlib.py), certificates made by test_tls.pki (IP SAN
127.0.0.1, the address CLUSTER SLOTS gives).

- the worker (read, write and control connections) and `celeriac send
  --wait` through cluster+tls://, digests checked against hashlib; every
  key of the deployment on the slot's master;
- plain cluster:// to the same seeds, and cluster+tls:// with a CA that
  did not sign the nodes' certificate, are refused by the CLI with exit
  status 4 and by the worker with a log line naming the problem.

Synchronised on what Redis holds, never on sleeps."""

import json

import pytest

from clusterlib import cluster_fixture
from harness import hashlib_digest, wait_until
from test_cluster import PFX, QUEUE, assert_one_slot
from test_tls import pki  # noqa: F401  (the fixture)


@pytest.fixture
def tls_cluster(pki):  # noqa: F811
    yield from cluster_fixture(tls=pki)


def test_tasks_over_cluster_tls(tls_cluster, pki, worker,
                                celeriac):  # noqa: F811
    c = tls_cluster
    slot = c.keyslot(QUEUE)
    master = c.master_for_slot(slot)
    m = master.client()
    w = worker("--prefix", PFX, "--name", "tlsw", "--tls-ca-file",
               pki("ca.crt"),
               redis_url=c.url(), client=m, stream=QUEUE)
    env = {"CELERIAC_REDIS_URL": c.url(),
           "CELERIAC_TLS_CA_FILE": pki("ca.crt")}
    for data in ("one", "two", "three"):
        run = celeriac("send", "--prefix", PFX, "hash", "--arg",
                       "data=" + data, "--wait", "--timeout", "60", env=env)
        assert run.rc == 0, run
        doc = json.loads(run.stdout)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == \
            hashlib_digest("sha512", data.encode())
    assert "the cluster names 127.0.0.1:%d as master of slot %d" \
        % (master.port, slot) in w.log()
    run = celeriac("inspect", "--prefix", PFX, "--timeout", "30", "ping",
                   env=env)
    assert run.rc == 0 and "tlsw" in run.text(), run
    assert_one_slot(c, master, slot)

    # Plain text to TLS-only nodes, and a CA that did not sign them.
    for bad_env, what in (
            ({"CELERIAC_REDIS_URL": c.url("cluster")}, b"cluster+tls://"),
            (dict(env, CELERIAC_TLS_CA_FILE=pki("otherca.crt")),
             b"TLS certificate of seed node 127.0.0.1:")):
        run = celeriac("send", "--prefix", PFX, "hash", "--arg", "data=x",
                       env=bad_env)
        assert run.rc == 4, run
        assert what in run.stderr, run
    bad = worker("--prefix", PFX, "--tls-ca-file", pki("otherca.crt"),
                 redis_url=c.url(), wait_ready=False)
    wait_until(lambda: "certificate" in bad.log(), 60,
               what="the worker to name the certificate problem")
    assert bad.alive()
