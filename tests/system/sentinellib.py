# SPDX-License-Identifier: MIT
"""A Redis Sentinel set-up on loopback for the system tests: one master,
one replica and three sentinels (quorum 2), with short fail-over timings,
in a temporary directory; and the fixture `sentinels` that builds it and
tears it down (also when the test fails).  Needs Debian's redis-sentinel
(scripts/deps.sh test).  SentinelCluster(tls=pki) (test_tls.pki) makes
every node TLS-only: the plain ports are off (port 0), the data nodes
replicate over TLS and the sentinels reach them and each other over TLS."""

import itertools
import os
import shutil
import tempfile
import time

import pytest
import redis

from harness import ServerProcess, free_port, server_ready, wait_until

# Each set-up's master has a name of its own: sentinels find each other
# and their masters by name and address, so a sentinel of another set-up
# (another test, or another suite run at the same time) that monitors a
# port since reused here must not take part in this one's fail-overs.
MASTER_PREFIX = "celeriac-test"
_names = itertools.count()
DOWN_AFTER_MS = 1000
FAILOVER_TIMEOUT_MS = 5000


class Node(ServerProcess):
    """One redis-server or redis-sentinel process."""

    def __init__(self, cluster, name, sentinel=False):
        self.cluster = cluster
        self.name = name
        self.sentinel = sentinel
        self.dir = os.path.join(cluster.dir, name)
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "log")
        self.port = None
        self.proc = None

    def start(self, extra=(), port=None):
        for _ in range(5):
            self.port = port or free_port()
            if self.sentinel:
                conf = os.path.join(self.dir, "sentinel.conf")
                m = self.cluster.master_port
                name = self.cluster.name
                with open(conf, "w") as f:
                    f.write(self.cluster.sentinel_net(self.port))
                    f.write("bind 127.0.0.1\ndir %s\n"
                            "logfile %s\n"
                            "sentinel monitor %s 127.0.0.1 %d 2\n"
                            "sentinel down-after-milliseconds %s %d\n"
                            "sentinel failover-timeout %s %d\n"
                            "sentinel parallel-syncs %s 1\n"
                            % (self.dir, self.log_path,
                               name, m, name, DOWN_AFTER_MS,
                               name, FAILOVER_TIMEOUT_MS, name))
                    if self.cluster.password:
                        f.write("sentinel auth-pass %s %s\n"
                                % (name, self.cluster.password))
                    if self.cluster.sentinel_password:
                        f.write("requirepass %s\n"
                                % self.cluster.sentinel_password)
                argv = [shutil.which("redis-sentinel") or
                        "/usr/bin/redis-sentinel", conf]
            else:
                argv = ["redis-server"] + self.cluster.server_net(self.port) + [
                        "--bind", "127.0.0.1", "--save", "",
                        "--appendonly", "no", "--dir", self.dir,
                        "--logfile", self.log_path,
                        "--daemonize", "no"] + list(extra)
                if self.cluster.password:
                    argv += ["--requirepass", self.cluster.password,
                             "--masterauth", self.cluster.password]
            if self._spawn(argv):
                return
        raise RuntimeError("%s did not start; see %s"
                           % (self.name, self.log_path))

    def _ready(self, timeout=20):
        return server_ready(self.proc, self.client, timeout=timeout)

    def client(self, **kw):
        pw = self.cluster.sentinel_password if self.sentinel \
            else self.cluster.password
        if self.cluster.tls is not None:
            kw = dict(kw, ssl=True, ssl_ca_certs=self.cluster.tls("ca.crt"),
                      ssl_cert_reqs="required")
        return redis.Redis(host="127.0.0.1", port=self.port, password=pw,
                           **kw)

    def restart_as_replica(self, master_port):
        """Starts a killed server again on its port, as a replica of
        master_port (what an operator or an init system does), with
        replica-priority 0 so that the sentinels never promote it.  It
        comes back empty (no persistence here), and Sentinel would promote
        a replica that has not finished its first sync (Redis reports its
        link as never down; redis/redis#13533): a second fail-over in that
        window, after a stall of the loaded machine, lost every task
        (README: "A replica that restarts empty")."""
        self.start(["--replicaof", "127.0.0.1", str(master_port),
                    "--replica-priority", "0"], port=self.port)



class SentinelCluster:
    """Master, replica and three sentinels, all on 127.0.0.1."""

    def __init__(self, password=None, sentinel_password=None, tls=None,
                 data_cert="server"):
        self.password = password
        self.sentinel_password = sentinel_password
        self.tls = tls  # test_tls.pki: the files by name, or None
        self.data_cert = data_cert  # the data nodes' certificate, with tls
        self.name = "%s-%d-%d" % (MASTER_PREFIX, os.getpid(), next(_names))
        for exe in ("redis-server", "redis-sentinel"):
            if shutil.which(exe) is None and not os.path.exists(
                    "/usr/bin/" + exe):
                pytest.skip("%s is not installed (scripts/deps.sh test)"
                            % exe)
        self.dir = tempfile.mkdtemp(prefix="celeriac-sentinel-")
        self.master = Node(self, "redis0")
        self.replica = Node(self, "redis1")
        self.sentinels = [Node(self, "sentinel%d" % i, sentinel=True)
                          for i in range(3)]
        self.master_port = None

    def start(self):
        self.master.start()
        self.master_port = self.master.port
        self.replica.start(["--replicaof", "127.0.0.1",
                            str(self.master.port)])
        for s in self.sentinels:
            s.start()
        # Ready: the replica is in sync and every sentinel knows the
        # replica and the two other sentinels (needed for a fail-over).
        wait_until(lambda: self.master.client().info("replication")
                   .get("connected_slaves") == 1 and
                   self.replica.client().info("replication")
                   .get("master_link_status") == "up", 30,
                   what="the replica to sync")

        def sentinels_know():
            for s in self.sentinels:
                m = s.client().sentinel_master(self.name)
                if m.get("num-slaves") != 1 or \
                        m.get("num-other-sentinels") != 2:
                    return False
            return True
        wait_until(sentinels_know, 60, interval=0.1,
                   what="the sentinels to find the replica and each other")

    def server_net(self, port):
        """redis-server's options for its port: TLS only with self.tls."""
        if self.tls is None:
            return ["--port", str(port)]
        return ["--port", "0", "--tls-port", str(port),
                "--tls-cert-file", self.tls(self.data_cert + ".crt"),
                "--tls-key-file", self.tls(self.data_cert + ".key"),
                "--tls-ca-cert-file", self.tls("ca.crt"),
                "--tls-auth-clients", "no", "--tls-replication", "yes"]

    def sentinel_net(self, port):
        """sentinel.conf's lines for its port: TLS only with self.tls."""
        if self.tls is None:
            return "port %d\n" % port
        return ("port 0\ntls-port %d\ntls-cert-file %s\ntls-key-file %s\n"
                "tls-ca-cert-file %s\ntls-auth-clients no\n"
                "tls-replication yes\n"
                % (port, self.tls("server.crt"), self.tls("server.key"),
                   self.tls("ca.crt")))

    @property
    def url(self):
        if self.tls is not None:
            return "sentinel+tls://%s/%s" % (
                ",".join("127.0.0.1:%d" % s.port for s in self.sentinels),
                self.name)
        return "sentinel://%s/%s" % (
            ",".join("127.0.0.1:%d" % s.port for s in self.sentinels),
            self.name)

    def master_addr(self):
        """The master the first answering sentinel names, (host, port)."""
        for s in self.sentinels:
            try:
                h, p = s.client(socket_timeout=2) \
                    .sentinel_get_master_addr_by_name(self.name)
                return h, int(p)
            except (redis.RedisError, TypeError):
                continue
        return None

    def node_at(self, port):
        for n in (self.master, self.replica):
            if n.port == port:
                return n
        raise AssertionError("no node on port %d" % port)

    def current(self):
        """The node the sentinels name as master."""
        return self.node_at(self.master_addr()[1])

    def watch_switch(self):
        """A pubsub on the first sentinel subscribed to +switch-master."""
        ps = self.sentinels[0].client().pubsub()
        ps.subscribe("+switch-master")
        ps.get_message(timeout=5)  # the subscribe confirmation
        return ps

    def cleanup(self):
        for n in self.sentinels + [self.replica, self.master]:
            n.stop()
        # Shown by pytest only when the test failed: what the sentinels
        # decided and what the data nodes did (sync, role changes).
        for n in [self.master, self.replica] + self.sentinels:
            try:
                with open(n.log_path, errors="replace") as f:
                    tail = f.readlines()[-60:]
            except OSError:
                continue
            print("---- log of %s (port %s), last %d lines ----\n%s"
                  % (n.name, n.port, len(tail), "".join(tail)))
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_switch(ps, timeout=60):
    """Waits for the +switch-master event on ps; returns the new master's
    port and the time it arrived."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = ps.get_message(timeout=1)
        if m and m["type"] == "message":
            # "<name> <old-ip> <old-port> <new-ip> <new-port>"
            parts = m["data"].decode().split()
            return int(parts[4]), time.monotonic()
    raise AssertionError("no +switch-master within %ss" % timeout)


@pytest.fixture
def sentinels():
    c = SentinelCluster()
    try:
        c.start()
        yield c
    finally:
        c.cleanup()


@pytest.fixture
def sentinels_auth():
    """The same with requirepass on the Redis nodes and on the sentinels
    (different passwords)."""
    c = SentinelCluster(password="data-pw", sentinel_password="sent-pw")
    try:
        c.start()
        yield c
    finally:
        c.cleanup()
