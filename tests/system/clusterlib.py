# SPDX-License-Identifier: MIT
"""A Redis Cluster on loopback for the system tests: three masters with
one replica each (by default), a short node timeout and a replica
validity factor of 0 (a replica may always be promoted), in a temporary
directory; and the fixture `redis_cluster` that builds it and tears it
down (also when the test fails).  Needs redis-server and redis-cli
(scripts/deps.sh test).

Every node is a redis-server child of the test, stopped by PID at
teardown.  A node's cluster bus listens on its port + 10000, so ports
are picked below 55536 with that port free as well; a clash between the
check and the bind is retried with another port."""

import os
import shutil
import socket
import subprocess
import tempfile

import pytest
import redis

from harness import ServerProcess, free_port, server_ready, wait_until

# 2 s: a loaded CI machine can stall a node for most of a second, and a
# spurious fail-over would promote whichever replica is left.
NODE_TIMEOUT_MS = 2000
SLOTS = 16384
BUS_OFFSET = 10000  # the cluster bus port is the data port + this


def _cluster_port():
    """A port P whose bus port P + 10000 is valid and free as well."""
    for _ in range(100):
        p = free_port()
        if p + BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", p + BUS_OFFSET))
            except OSError:
                continue
        return p
    raise RuntimeError("no free port pair for a cluster node")


def _info_dict(raw):
    """CLUSTER INFO as a dict of str, whether redis-py parsed it or not."""
    if isinstance(raw, dict):
        return {str(k): v.decode() if isinstance(v, bytes) else str(v)
                for k, v in raw.items()}
    if isinstance(raw, bytes):
        raw = raw.decode()
    return dict(ln.split(":", 1) for ln in raw.splitlines() if ":" in ln)


class ClusterNode(ServerProcess):
    """One redis-server process with cluster-enabled yes."""

    def __init__(self, cluster, name):
        self.cluster = cluster
        self.name = name
        self.dir = os.path.join(cluster.dir, name)
        os.makedirs(self.dir)
        self.log_path = os.path.join(self.dir, "log")
        self.port = None
        self.proc = None

    def start(self, port=None, extra=()):
        """Starts the node on a new port, or on port (a restart: it then
        keeps its nodes.conf and rejoins the cluster as it knew it); extra:
        more redis-server options."""
        for _ in range(5):
            if port is None:
                self.port = _cluster_port()
                # A failed attempt may have written it with another port.
                try:
                    os.unlink(os.path.join(self.dir, "nodes.conf"))
                except FileNotFoundError:
                    pass
            else:
                self.port = port
            argv = [self.cluster.binary] + self.cluster.port_args(self.port) + [
                    "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", str(NODE_TIMEOUT_MS),
                    "--dir", self.dir, "--logfile", self.log_path,
                    "--appendonly", "no", "--save", "",
                    "--daemonize", "no",
                    "--cluster-replica-validity-factor", "0"] + list(extra)
            if self._spawn(argv):
                return
        raise RuntimeError("%s did not start; see %s"
                           % (self.name, self.log_path))

    def _ready(self, timeout=20):
        # Ours, not another server that took the port first.
        return server_ready(
            self.proc, self.client, timeout=timeout, interval=0.05,
            check=lambda c: c.info("server").get("process_id") ==
            self.proc.pid)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, **kw):
        kw.setdefault("decode_responses", False)
        if self.cluster.tls is not None:
            kw = dict(kw, ssl=True, ssl_ca_certs=self.cluster.tls("ca.crt"))
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def cluster_info(self):
        """CLUSTER INFO as a dict of str; None if it does not answer."""
        if not self.alive():
            return None
        c = self.client(socket_timeout=1)
        try:
            return _info_dict(c.execute_command("CLUSTER INFO"))
        except redis.RedisError:
            return None
        finally:
            c.close()



class RedisCluster:
    """masters * (1 + replicas_per_master) cluster nodes on 127.0.0.1;
    with tls (test_tls.pki: the files by name) every node, its cluster bus
    and its replication speak TLS only."""

    def __init__(self, masters=3, replicas_per_master=1, tls=None):
        self.tls = tls
        self.binary = shutil.which("redis-server")
        self.cli = shutil.which("redis-cli")
        if self.binary is None or self.cli is None:
            pytest.skip("redis-server or redis-cli is not installed "
                        "(scripts/deps.sh test)")
        self.masters = masters
        self.replicas_per_master = replicas_per_master
        self.dir = tempfile.mkdtemp(prefix="celeriac-cluster-")
        self.nodes = [ClusterNode(self, "node%d" % i)
                      for i in range(masters * (1 + replicas_per_master))]

    def port_args(self, port):
        """redis-server's options for its port: TLS only with self.tls."""
        if self.tls is None:
            return ["--port", str(port)]
        return ["--port", "0", "--tls-port", str(port),
                "--tls-cert-file", self.tls("server.crt"),
                "--tls-key-file", self.tls("server.key"),
                "--tls-ca-cert-file", self.tls("ca.crt"),
                "--tls-auth-clients", "no", "--tls-replication", "yes",
                "--tls-cluster", "yes"]

    def start(self):
        for n in self.nodes:
            n.start()
        tls = [] if self.tls is None else ["--tls", "--cacert",
                                           self.tls("ca.crt")]
        argv = [self.cli] + tls + ["--cluster", "create"] + \
            ["127.0.0.1:%d" % n.port for n in self.nodes] + \
            ["--cluster-replicas", str(self.replicas_per_master),
             "--cluster-yes"]
        r = subprocess.run(argv, stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("%s failed (%d):\n%s%s" % (
                " ".join(argv), r.returncode, r.stdout, r.stderr))
        wait_until(self._ready, 30, interval=0.1,
                   what="the cluster to be ok with every replica in sync")

    def _ready(self):
        for n in self.nodes:
            info = n.cluster_info()
            if info is None or info.get("cluster_state") != "ok" or \
                    info.get("cluster_slots_assigned") != str(SLOTS) or \
                    info.get("cluster_known_nodes") != str(len(self.nodes)):
                return False
            c = n.client(socket_timeout=1)
            try:
                rep = c.info("replication")
            except redis.RedisError:
                return False
            finally:
                c.close()
            if rep.get("role") == "slave" and \
                    rep.get("master_link_status") != "up":
                return False
        return True

    def url(self, scheme=None):
        """The seeds: the first three nodes, e.g. cluster://h:p,h:p,h:p
        (cluster+tls:// with tls)."""
        if scheme is None:
            scheme = "cluster" if self.tls is None else "cluster+tls"
        return "%s://%s" % (scheme, ",".join(
            "127.0.0.1:%d" % n.port for n in self.nodes[:3]))

    def live_nodes(self):
        return [n for n in self.nodes if n.alive()]

    def node_at(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        raise AssertionError("no cluster node on port %d" % port)

    @staticmethod
    def _node_cmd(node, *cmd):
        """cmd's answer from node, or None if it does not answer."""
        c = node.client(socket_timeout=2)
        try:
            return c.execute_command(*cmd)
        except redis.RedisError:
            return None
        finally:
            c.close()

    def _ask(self, *cmd):
        """cmd's answer from the first live node that answers."""
        for n in self.live_nodes():
            answer = self._node_cmd(n, *cmd)
            if answer is not None:
                return answer
        raise AssertionError("no cluster node answers %s" % (cmd,))

    def keyslot(self, key):
        return int(self._ask("CLUSTER KEYSLOT", key))

    def _slot_owner(self, node, slot):
        """The master of slot as node sees it (None: no answer/no owner)."""
        for r in self._node_cmd(node, "CLUSTER SLOTS") or []:
            if int(r[0]) <= slot <= int(r[1]):
                return self.node_at(int(r[2][1]))
        return None

    def master_for_slot(self, slot):
        """The node a live node names as master of slot (CLUSTER SLOTS)."""
        for n in self.live_nodes():
            owner = self._slot_owner(n, slot)
            if owner is not None:
                return owner
        raise AssertionError("no live node names a master for slot %d"
                             % slot)

    def client_for_key(self, key, **kw):
        """A redis.Redis to the master of key's slot."""
        return self.master_for_slot(self.keyslot(key)).client(**kw)

    def wait_promoted(self, slot, old_master, timeout=60):
        """Waits until every live node names the same node, not
        old_master, as master of slot, that node is alive and a master,
        and every live node reports cluster_state:ok; returns it."""
        def promoted():
            live = self.live_nodes()
            owners = {self._slot_owner(n, slot) for n in live}
            if len(owners) != 1:
                return None
            new = owners.pop()
            if new is None or new is old_master or not new.alive():
                return None
            for n in live:
                info = n.cluster_info()
                if info is None or info.get("cluster_state") != "ok":
                    return None
            c = new.client(socket_timeout=2)
            try:
                if c.info("replication").get("role") != "master":
                    return None
            except redis.RedisError:
                return None
            finally:
                c.close()
            return new
        return wait_until(promoted, timeout, interval=0.1,
                          what="a replica to take over slot %d from port %s"
                          % (slot, old_master.port))

    def print_logs(self, lines=60):
        """Prints the last lines of every node's log."""
        for n in self.nodes:
            try:
                with open(n.log_path, errors="replace") as f:
                    tail = f.readlines()[-lines:]
            except OSError:
                continue
            print("---- log of %s (port %s), last %d lines ----\n%s"
                  % (n.name, n.port, len(tail), "".join(tail)))

    def cleanup(self):
        for n in self.nodes:
            n.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def cluster_fixture(**kw):
    """Builds a RedisCluster(**kw), yields it, tears it down."""
    c = RedisCluster(**kw)
    try:
        c.start()
        yield c
    finally:
        # Shown by pytest only when the test failed (captured output),
        # as in sentinellib: what each node saw (failure reports,
        # elections, promotions).
        try:
            c.print_logs()
        finally:
            c.cleanup()


@pytest.fixture
def redis_cluster():
    yield from cluster_fixture()
