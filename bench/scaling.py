#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The scaling curves: how fast N celeriac workers drain a queue of small
tasks, for N = 1..4, each worker on a "host" of its own (a network
namespace), from one Redis (the first curve) or from a Redis Cluster with
the queue split into shards on its masters (the second curve), and how
busy Redis is at each point.

    bench/scaling.py [--tasks 200000] [--max-workers 4] [--repeat 3]
                     [--concurrency 1] [--cluster [M]] [--shards S]
                     [--both] [--png PATH] [--replot JSON]
    bench/scaling.py --sweep-shards S1,S2,.. [--cluster M] [--workers N]
                     [--both] [--tasks ..] [--repeat ..] [--concurrency C]

`make bench-scaling` runs it (needs root, for `ip netns`).  Hosts:

  - Redis in a namespace of its own, listening on 127.0.0.1 and on its
    side of every pair (and on a Unix socket in a temporary directory,
    which is how this script, in the root namespace, reads it);
  - worker k in namespace k, joined to the Redis namespace by a veth pair
    (198.18.254.0 + 4k: .1 the Redis side, .2 the worker's), and running
    `celeriac-worker --concurrency C` against redis://198.18.254.(4k+1).

With --cluster M (3 if M is left out) the series is the sharded one
instead: the Redis namespace runs M cluster nodes, all masters (ports
7000 + j, no replicas, no persistence), made one cluster with
`redis-cli --cluster create`.  A cluster node announces one address in
CLUSTER SLOTS, which every worker must reach: the Redis namespace has
198.18.255.1/32 on lo, every worker namespace a route to it through its
pair (`via 198.18.254.(4k+1)`), and the nodes listen on it (and on
127.0.0.1 and a Unix socket of their own) with --cluster-announce-ip.
The deployment is split into --shards S (default M) key spaces, {tag}:,
{tag.1}:, .., whose base tag (sh0, sh1, ..) is chosen so that their
slots are on distinct masters (S <= M; on masters as even as can be
otherwise); each point puts tasks/S tasks on each shard's queue (one
`celeriac --prefix {tag.i}: send --batch` each) and starts N
`celeriac-worker --shards S --prefix {tag}: --redis cluster://..`.
--both measures both series in the same run, interleaved point by point
(1 worker: one Redis then the cluster, 2 workers: .., the order swapped
every round), so that both see the same machine.

--sweep-shards 1,2,3 measures instead the throughput against the number
of shards, on one cluster (--cluster M, default 3) made once: every
point has the same --workers N worker hosts (default 1; a fixed N, not
the curves' 1..--max-workers, which it does not take, nor --shards).
Each S of the list has its own prefixes, chosen as above (S = 1: one
shard, prefix {shK}:, on one master; `--shards 1`); every point flushes
every master.  Each round runs one point per S, plus one on one Redis
with --both, in an order rotated by one every round (1 2 3 one, 2 3 one
1, ..: over as many rounds as there are points each takes every place
once).  The table has per S the median tasks/s (min-max), its ratio to
S = 1 of the same run (to the smallest S if 1 is not swept; the one
Redis row too), Redis's cores (all masters; each master's last), its
CPU us per task draining and enqueueing, the workers' CPU us per task
and cores, and the rest of the machine's cores.  The JSON has "mode":
"sweep", "sweep_shards", "workers", each S's "layouts" (tag, prefixes,
masters' ports) and the rows; the plot shows tasks/s and cores busy
against S.

Nothing of it is in the root namespace: no address, no route, no rule.
Per point: the queue(s) are flushed and filled with --tasks W1-like tasks
(64 B, one SHA-512 each) by `celeriac send --batch` inside the Redis
namespace, the script waits (briefly) for the rest of the machine to use
less than 0.3 cores, then the N workers start; the rate is taken over the
steady part of the drain (from 10% to 90% of the tasks done, summed over
the shards), and so are the CPU of Redis (all masters together), of the
workers and of the rest of the machine (from /proc).  Points run
interleaved (1, 2, .., N, 1, 2, ..) --repeat times; the median rate is
reported, and its ratio to one worker's of the same series.  Every run
checks that every task has a result (in its shard), nothing is pending,
and a sample of digests against hashlib.  Writes
bench/out/scaling-<time>.json and a gnuplot PNG.
"""

import argparse
import copy
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "netlab"))

import netlab  # noqa: E402  (namespaces: the test lab's checks and runner)
import procs  # noqa: E402
import proctree  # noqa: E402
import workloads  # noqa: E402
from procs import BenchError  # noqa: E402

NET = "198.18.254"  # the /30 blocks of the pairs, 198.18.254.4k
CLUSTER_IP = "198.18.255.1"  # the cluster nodes' address, on the Redis lo
CLUSTER_PORT = 7000  # node j listens on 7000 + j (its bus on + 10000)
PREFIX = "celeriac:"
QUEUE_SUFFIX = "queue:default"
GROUP = "celeriac"
WINDOW = (0.1, 0.9)  # the steady part of a drain, in fractions done
STALL_SECONDS = 60
QUIET_WAIT = [10]  # seconds to wait for the machine to go quiet
ONE, CLUSTER = "one", "cluster"  # the two series


def run(*cmd, check=True):
    return netlab._run(*cmd, check=check)


class Hosts:
    """A Redis namespace and n worker namespaces, each worker joined to
    Redis by a veth pair; with cluster, also CLUSTER_IP on the Redis
    namespace's lo and a route to it from every worker namespace through
    its pair.  Removed by close() (deleting a namespace deletes its ends
    of the pairs, its addresses and routes)."""

    def __init__(self, n, cluster=False):
        self.n = n
        self.cluster = cluster
        tag = os.getpid()
        self.redis_ns = "celeriac-scale-r-%d" % tag
        self.worker_ns = ["celeriac-scale-w%d-%d" % (k, tag)
                          for k in range(1, n + 1)]
        self.made = []

    def redis_ip(self, k):
        return "%s.%d" % (NET, 4 * k + 1)

    def start(self):
        why = netlab.unavailable()
        if why:
            raise BenchError(why)
        try:
            for ns in [self.redis_ns] + self.worker_ns:
                run("ip", "netns", "add", ns)
                self.made.append(ns)
                run("ip", "-n", ns, "link", "set", "lo", "up")
                run("ip", "netns", "exec", ns, "sysctl", "-q", "-w",
                    "net.ipv6.conf.all.disable_ipv6=1", check=False)
            if self.cluster:
                run("ip", "-n", self.redis_ns, "addr", "add",
                    CLUSTER_IP + "/32", "dev", "lo")
            tag = os.getpid() % 100000
            for k, ns in enumerate(self.worker_ns, 1):
                w, r = "csw%d-%d" % (k, tag), "csr%d-%d" % (k, tag)
                run("ip", "link", "add", w, "netns", ns, "type", "veth",
                    "peer", "name", r, "netns", self.redis_ns)
                run("ip", "-n", self.redis_ns, "addr", "add",
                    self.redis_ip(k) + "/30", "dev", r)
                run("ip", "-n", ns, "addr", "add",
                    "%s.%d/30" % (NET, 4 * k + 2), "dev", w)
                run("ip", "-n", self.redis_ns, "link", "set", r, "up")
                run("ip", "-n", ns, "link", "set", w, "up")
                if self.cluster:
                    run("ip", "-n", ns, "route", "add", CLUSTER_IP + "/32",
                        "via", self.redis_ip(k))
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        for ns in reversed(self.made):
            run("ip", "netns", "del", ns, check=False)
        self.made = []


def redis_server(hosts, d, port, binds, extra, what):
    """redis-server in the Redis namespace, without persistence, in the
    directory d, with a Unix socket there for us; returns (process,
    client)."""
    sock = os.path.join(d, "redis.sock")
    proc = procs.spawn(
        ["ip", "netns", "exec", hosts.redis_ns, "redis-server",
         "--bind"] + binds + ["--port", str(port),
         # Reachable only from the worker namespaces' pairs.
         "--protected-mode", "no",
         "--unixsocket", sock, "--unixsocketperm", "700",
         "--dir", d, "--save", "", "--appendonly", "no",
         "--daemonize", "no", "--loglevel", "warning",
         "--logfile", os.path.join(d, "redis.log")] + extra)
    client = redis.Redis(unix_socket_path=sock)
    deadline = time.time() + 10
    while True:
        try:
            client.ping()
            return proc, client
        except (redis.ConnectionError, FileNotFoundError):
            if proc.poll() is not None or time.time() > deadline:
                raise BenchError("%s did not start in the namespace; see "
                                 "%s/redis.log" % (what, d))
            time.sleep(0.02)


def stream_done(client, queue):
    """Tasks finished on one stream: entries ever added minus those left
    (the finish script removes an entry with its result)."""
    try:
        info = client.execute_command("XINFO", "STREAM", queue)
    except redis.ResponseError:
        return 0
    info = dict(zip(info[::2], info[1::2]))
    return info.get(b"entries-added", 0) - info.get(b"length", 0)


class NsRedis:
    """The first series' Redis: one redis-server in the Redis namespace,
    port 6379 on 127.0.0.1 and the pairs' Redis ends."""

    mode = ONE

    def __init__(self, hosts, tmp):
        self.hosts = hosts
        self.dir = os.path.join(tmp, "redis")
        os.mkdir(self.dir, 0o700)
        binds = ["127.0.0.1"] + [hosts.redis_ip(k)
                                 for k in range(1, hosts.n + 1)]
        self.proc, self.client = redis_server(hosts, self.dir, 6379, binds,
                                              [], "redis-server")
        self.version = self.client.info("server")["redis_version"]
        self.prefixes = [PREFIX]
        self.owners = [6379]

    def cpu_seconds(self):
        return proctree.cpu_seconds([self.proc.pid])

    def cpu_by_node(self):
        return [self.cpu_seconds()]

    def flush(self):
        self.client.flushall()

    def client_of(self, shard):
        return self.client

    def send_args(self, shard):
        return ["--redis", "redis://127.0.0.1:6379/0"]

    def worker_args(self, k):
        return ["--redis", "redis://%s:6379/0" % self.hosts.redis_ip(k)]

    def done(self):
        return stream_done(self.client, PREFIX + QUEUE_SUFFIX)


class NsCluster:
    """The second series' Redis: a cluster of `masters` nodes (no
    replicas) in the Redis namespace, on CLUSTER_IP and 127.0.0.1, ports
    CLUSTER_PORT + j, announcing CLUSTER_IP; and the prefixes of `shards`
    shards spread over its masters."""

    mode = CLUSTER

    def __init__(self, hosts, tmp, masters, shards):
        self.hosts = hosts
        self.masters = masters
        self.procs, self.clients = [], {}
        self.ports = [CLUSTER_PORT + j for j in range(masters)]
        for port in self.ports:
            d = os.path.join(tmp, "cluster-%d" % port)
            os.mkdir(d, 0o700)
            p, c = redis_server(
                hosts, d, port, [CLUSTER_IP, "127.0.0.1"],
                ["--cluster-enabled", "yes",
                 "--cluster-config-file", os.path.join(d, "nodes.conf"),
                 "--cluster-announce-ip", CLUSTER_IP,
                 "--cluster-node-timeout", "15000"],
                "cluster node %d" % port)
            self.procs.append(p)
            self.clients[port] = c
        r = subprocess.run(
            ["ip", "netns", "exec", hosts.redis_ns, "redis-cli",
             "--cluster", "create"] +
            ["%s:%d" % (CLUSTER_IP, p) for p in self.ports] +
            ["--cluster-replicas", "0", "--cluster-yes"],
            capture_output=True, text=True, stdin=subprocess.DEVNULL,
            timeout=120)
        if r.returncode != 0:
            raise BenchError("redis-cli --cluster create failed: " +
                             (r.stdout + r.stderr)[-2000:])
        self._wait_ok()
        any_c = self.clients[self.ports[0]]
        self.version = any_c.info("server")["redis_version"]
        self.tag, self.prefixes, self.owners = self._spread(shards)

    def _slot_owners(self, client):
        """CLUSTER SLOTS as sorted (start, end, master's port); "CLUSTER",
        "SLOTS" as two words, so that redis-py leaves the reply raw."""
        return sorted((int(e[0]), int(e[1]), int(e[2][1]))
                      for e in client.execute_command("CLUSTER", "SLOTS"))

    def _wait_ok(self):
        """Every node sees the cluster ok, all slots covered, and the same
        owners of the slots."""
        deadline = time.time() + 60
        while True:
            views = []
            ok = True
            for c in self.clients.values():
                raw = c.execute_command("CLUSTER", "INFO").decode()
                info = dict(ln.strip().split(":", 1)
                            for ln in raw.splitlines() if ":" in ln)
                ok = ok and info.get("cluster_state") == "ok" and \
                    info.get("cluster_slots_ok") == "16384"
                views.append(self._slot_owners(c))
            if ok and all(v == views[0] for v in views) and \
                    len({o[2] for o in views[0]}) == self.masters:
                self.slots = views[0]
                return
            if time.time() > deadline:
                raise BenchError("the cluster did not become ok in 60 s: "
                                 "%r" % views)
            time.sleep(0.1)

    def owner(self, slot):
        for start, end, port in self.slots:
            if start <= slot <= end:
                return port
        raise BenchError("slot %d has no owner" % slot)

    def _spread(self, shards):
        """The first base tag sh0, sh1, .. whose shards' queues are on
        distinct masters (S <= M), or on masters as even as can be: the
        tag, the prefixes and each shard's master's port."""
        c = self.clients[self.ports[0]]
        even = -(-shards // self.masters)  # at most this many on a master
        for k in range(1000):
            base = "sh%d" % k
            prefixes = ["{%s}:" % base] + ["{%s.%d}:" % (base, i)
                                           for i in range(1, shards)]
            owners = [self.owner(c.execute_command(
                "CLUSTER", "KEYSLOT", p + QUEUE_SUFFIX)) for p in prefixes]
            if max(owners.count(p) for p in set(owners)) <= even and \
                    len(set(owners)) == min(shards, self.masters):
                return base, prefixes, owners
        raise BenchError("no base tag sh0..sh999 spreads %d shards over %d "
                         "masters" % (shards, self.masters))

    def with_shards(self, shards):
        """The same cluster (same nodes, clients and CPU counters) with
        the deployment split into `shards` shards instead: for
        --sweep-shards, one view per S."""
        view = copy.copy(self)
        view.tag, view.prefixes, view.owners = self._spread(shards)
        view.log_tag = "%s-s%d" % (CLUSTER, shards)
        return view

    def cpu_seconds(self):
        return proctree.cpu_seconds([p.pid for p in self.procs])

    def cpu_by_node(self):
        """Each master's CPU seconds, in the order of self.ports."""
        return [proctree.cpu_seconds([p.pid]) for p in self.procs]

    def flush(self):
        for c in self.clients.values():
            c.flushall()

    def client_of(self, shard):
        return self.clients[self.owners[shard]]

    def seeds(self):
        return ",".join("%s:%d" % (CLUSTER_IP, p) for p in self.ports)

    def send_args(self, shard):
        return ["--redis", "cluster://127.0.0.1:%d" % self.ports[0],
                "--prefix", self.prefixes[shard]]

    def worker_args(self, k):
        return ["--redis", "cluster://" + self.seeds(),
                "--shards", str(len(self.prefixes)),
                "--prefix", self.prefixes[0]]

    def done(self):
        return sum(stream_done(self.client_of(i), p + QUEUE_SUFFIX)
                   for i, p in enumerate(self.prefixes))


def shard_ranges(count, shards):
    """The task indexes of each shard: contiguous, as even as can be."""
    cuts = [count * i // shards for i in range(shards + 1)]
    return [range(cuts[i], cuts[i + 1]) for i in range(shards)]


def write_batch(path, indexes, filler):
    with open(path, "w") as f:
        for i in indexes:
            f.write(json.dumps({"task": "hash", "id": workloads.task_id(i),
                                "args": {"data": workloads.payload(
                                    filler, i, 64)}},
                               separators=(",", ":")) + "\n")


def other_cores(seconds, own):
    """Cores busy outside `own` (callable: CPU seconds of this bench's
    processes) over a short look."""
    m0, o0, t0 = proctree.machine_busy_seconds(), own(), time.time()
    time.sleep(seconds)
    m1, o1, t1 = proctree.machine_busy_seconds(), own(), time.time()
    return max(0.0, (m1 - m0) - (o1 - o0)) / (t1 - t0)


def self_cpu():
    t = os.times()
    return t.user + t.system


def point(args, hosts, rds, idle, n, batches, filler, logdir):
    """One drain of args.tasks by n workers from rds (NsRedis or
    NsCluster; idle: the other, or None, whose CPU counts as this
    bench's while waiting for quiet); batches: one file per shard of
    rds, with its indexes.  Returns the point's figures."""
    rds.flush()
    enq_cpu = rds.cpu_seconds()
    for shard, (batch, idx) in enumerate(batches):
        p = subprocess.run(
            ["ip", "netns", "exec", hosts.redis_ns,
             os.path.join(args.bin, "celeriac")] + rds.send_args(shard) +
            ["send", "--queue", "default", "--batch", batch],
            capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if p.returncode != 0:
            raise BenchError("celeriac send --batch failed: " +
                             p.stderr[-2000:])
        q = rds.prefixes[shard] + QUEUE_SUFFIX
        if rds.client_of(shard).xlen(q) != len(idx):
            raise BenchError("%s holds %d entries, not %d"
                             % (q, rds.client_of(shard).xlen(q), len(idx)))
    enq_cpu = rds.cpu_seconds() - enq_cpu
    # A moment's quiet, if the shared machine gives it: up to 10 s, and
    # after a wait in vain (the machine is busy for good) 1 s.
    t = time.time()
    while other_cores(0.25, lambda: rds.cpu_seconds() + self_cpu() +
                      (idle.cpu_seconds() if idle else 0)) > 0.3:
        if time.time() - t > QUIET_WAIT[0]:
            QUIET_WAIT[0] = 1
            break
    else:
        QUIET_WAIT[0] = 10
    log = os.path.join(logdir, "workers-%s-%d.log"
                       % (getattr(rds, "log_tag", rds.mode), n))
    workers = []
    marks = {}
    lo, hi = (int(args.tasks * f) for f in WINDOW)
    t0 = time.time()
    try:
        for k in range(1, n + 1):
            workers.append(procs.spawn(
                ["ip", "netns", "exec", hosts.worker_ns[k - 1],
                 os.path.join(args.bin, "celeriac-worker")] +
                rds.worker_args(k) +
                ["--concurrency", str(args.concurrency),
                 "--log-level", "warn"], log=log))
        roots = [w.pid for w in workers]
        last, last_change = -1, time.time()
        while True:
            d = rds.done()
            now = time.time()
            for name, at in (("lo", lo), ("hi", hi)):
                if name not in marks and d >= at:
                    marks[name] = {"t": now, "done": d,
                                   "redis": rds.cpu_seconds(),
                                   "nodes": rds.cpu_by_node(),
                                   "workers": proctree.cpu_seconds(roots),
                                   "machine": proctree.machine_busy_seconds(),
                                   "bench": self_cpu()}
            if d >= args.tasks:
                break
            for w in workers:
                if w.poll() is not None:
                    raise BenchError("a worker exited with %d; see %s"
                                     % (w.returncode, log))
            if d != last:
                last, last_change = d, now
            elif now - last_change > STALL_SECONDS:
                raise BenchError("stuck at %d/%d tasks with %d workers "
                                 "(%s); see %s"
                                 % (d, args.tasks, n, rds.mode, log))
            time.sleep(0.005)
        t_end = time.time()
    finally:
        procs.stop(workers)
    check(rds, batches, filler)
    a, b = marks["lo"], marks["hi"]
    dt = b["t"] - a["t"]
    tasks = b["done"] - a["done"]
    d = {k: b[k] - a[k] for k in ("redis", "workers", "machine", "bench")}
    return {
        "mode": rds.mode,
        "shards": len(rds.prefixes),
        "masters": getattr(rds, "masters", 1),
        # Shards on the master that holds the most of them: the ceiling is
        # its core's (shards / this of them, at even shards).
        "busiest_master_shards": max(rds.owners.count(o)
                                     for o in rds.owners),
        "workers": n,
        "tasks_per_s": tasks / dt,
        "drain_tasks_per_s": args.tasks / (t_end - t0),
        "window_s": dt,
        # All masters together in the cluster series.
        "redis_cores": d["redis"] / dt,
        "redis_us_per_task": d["redis"] / tasks * 1e6,
        # Each Redis server's share (the cluster's masters by port).
        "redis_cores_by_server": [(y - x) / dt for x, y in
                                  zip(a["nodes"], b["nodes"])],
        # Redis's CPU for the XADDs of `celeriac send --batch` (pipelined).
        "redis_us_per_task_enqueue": enq_cpu / args.tasks * 1e6,
        "worker_cores": d["workers"] / dt,
        "worker_us_per_task": d["workers"] / tasks * 1e6,
        "other_cores": max(0.0, d["machine"] - d["redis"] - d["workers"] -
                           d["bench"]) / dt,
    }


def check(rds, batches, filler):
    """Every task has a result in its shard, nothing is pending or dead,
    and a sample of digests is right."""
    total = sum(len(idx) for _, idx in batches)
    picks = workloads.sample(total)
    for shard, (_, idx) in enumerate(batches):
        c, p = rds.client_of(shard), rds.prefixes[shard]
        n = sum(1 for _ in c.scan_iter(match=p + "result:*", count=10000))
        pending = c.xpending(p + QUEUE_SUFFIX, GROUP)["pending"]
        dead = c.xlen(p + "dead") if c.exists(p + "dead") else 0
        if n != len(idx) or pending or dead:
            raise BenchError("shard %s: %d results for %d tasks, %d pending, "
                             "%d dead" % (p, n, len(idx), pending, dead))
        sample = sorted({i for i in picks if i in idx} | {idx[0], idx[-1]})
        docs = c.mget([p + "result:" + workloads.task_id(i) for i in sample])
        for i, raw in zip(sample, docs):
            doc = json.loads(raw) if raw else {}
            want = workloads.digest(workloads.payload(filler, i, 64))
            if doc.get("status") != "SUCCESS" or \
                    doc.get("result", {}).get("digest") != want:
                raise BenchError("task %s (shard %s): %s, expected digest %s"
                                 % (workloads.task_id(i), p, raw and
                                    raw[:300], want))


SERIES_TITLE = {ONE: "one Redis",
                CLUSTER: "cluster, %(shards)d shards on %(used)d of "
                         "%(masters)d masters"}


def series_title(row):
    return SERIES_TITLE[row.get("mode", ONE)] % {
        "shards": row.get("shards", 1), "masters": row.get("masters", 1),
        "used": min(row.get("shards", 1), row.get("masters", 1))}


def gnuplot_panels(png, title, height, xrange, xlabel, measured, ceiling,
                   cores, top, bottom):
    """Draws the two panels every plot here has: tasks/s above (on a log
    scale when the Redis ceiling is far above the measured rates), the
    cores busy below; top and bottom are gnuplot plot clauses.  Returns
    png, or None if gnuplot failed (said on stderr)."""
    log = ceiling > 4 * measured
    script = """
set terminal pngcairo size 900,%(height)d font ",11"
set output '%(png)s'
set multiplot layout 2,1 title '%(title)s'
set xtics 1
set xrange [%(xmin)s:%(xmax)s]
# Tick labels of one width: the panels' x axes line up.
set format y '%%8.0f'
set grid ytics
set key below
%(logscale)s
set ylabel 'tasks/s (steady drain; median, min-max)%(lognote)s'
plot %(top)s
unset logscale y
set yrange [0:%(cores)s]
set format y '%%8.1f'
set xlabel '%(xlabel)s'
set ylabel 'cores busy (median point)'
plot %(bottom)s
unset multiplot
""" % {"png": png, "title": title, "height": height,
       "xmin": xrange[0], "xmax": xrange[1], "xlabel": xlabel,
       "logscale": "set logscale y\nset yrange [*:*]" if log
       else "set yrange [0:*]",
       "lognote": ", log scale" if log else "",
       "cores": cores + 0.2,
       "top": ", \\\n     ".join(top),
       "bottom": ", \\\n     ".join(bottom)}
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0 or not os.path.exists(png):
        print("gnuplot failed: " + r.stderr[-500:], file=sys.stderr)
        return None
    return png


def plot(png, base, rows, title, cores):
    """The plot of the rows (of one or two series), through the data
    files base-<series>.dat: tasks/s and the Redis ceilings above, cores
    busy below."""
    if shutil.which("gnuplot") is None:
        return None
    modes = [m for m in (ONE, CLUSTER)
             if any(r.get("mode", ONE) == m for r in rows)]
    top, bottom = [], []
    style = {ONE: ("rgb '#1f77b4'", 7, 5), CLUSTER: ("rgb '#d62728'", 9, 13)}
    for m in modes:
        mine = [r for r in rows if r.get("mode", ONE) == m]
        data = "%s-%s.dat" % (base, m)
        with open(data, "w") as f:
            f.write("# workers tasks/s min max redis_cores worker_cores "
                    "other_cores redis_ceiling\n")
            for r in mine:
                f.write("%d %.1f %.1f %.1f %.3f %.3f %.3f %.1f\n" % (
                    r["workers"], r["tasks_per_s"], r["min_tasks_per_s"],
                    r["max_tasks_per_s"], r["redis_cores"],
                    r["worker_cores"], r["other_cores"],
                    r.get("redis_ceiling", r["redis_ceiling_per_core"])))
        name = series_title(mine[0])
        lc, pt, pt2 = style[m]
        used = mine[0].get("shards", 1) / \
            mine[0].get("busiest_master_shards", 1)
        top.append("'%s' using 1:2:3:4 with yerrorlines lw 2 pt %d lc %s "
                   "title '%s: tasks/s'" % (data, pt, lc, name))
        top.append("'%s' using 1:8 with linespoints lw 2 pt %d dt 4 lc %s "
                   "title '%s: Redis saturates at %s1,000,000 / its CPU us "
                   "per task'" % (data, pt2 - 1, lc, name,
                                  "%g x " % used if used > 1 else ""))
        bottom.append("'%s' using 1:5 with linespoints lw 2 pt %d lc %s "
                      "title '%s: Redis'" % (data, pt, lc, name))
        bottom.append("'%s' using 1:6 with linespoints lw 1 pt %d dt 2 "
                      "lc %s title '%s: workers'" % (data, pt2, lc, name))
        bottom.append("'%s' using 1:7 with linespoints lw 1 pt 1 dt 3 "
                      "lc %s title '%s: rest of the machine'"
                      % (data, lc, name))
    ceiling = max(r.get("redis_ceiling", r["redis_ceiling_per_core"])
                  for r in rows)
    return gnuplot_panels(png, title, 1000 if len(modes) > 1 else 900,
                          (0.5, max(r["workers"] for r in rows) + 0.5),
                          "worker hosts (network namespaces)",
                          max(r["max_tasks_per_s"] for r in rows), ceiling,
                          cores, top, bottom)


def summarize(runs, mode):
    """The rows of one series: each N's median point, with the min-max."""
    rows = []
    for n in sorted({r["workers"] for r in runs if r["mode"] == mode}):
        mine = [r for r in runs if r["workers"] == n and r["mode"] == mode]
        med = sorted(mine, key=lambda r: r["tasks_per_s"])[len(mine) // 2]
        row = dict(med)
        row["min_tasks_per_s"] = min(r["tasks_per_s"] for r in mine)
        row["max_tasks_per_s"] = max(r["tasks_per_s"] for r in mine)
        rows.append(row)
    base = rows[0]["tasks_per_s"]
    print("\n%s\nworkers  tasks/s (min-max)          x1    Redis cores  "
          "Redis us/task  +enqueue  ceiling/core  ceiling  worker cores  "
          "other cores" % series_title(rows[0]))
    for r in rows:
        r["ratio_to_one"] = r["tasks_per_s"] / base
        # One Redis core's tasks/s at this cost, draining and enqueueing;
        # and the series': one core per master, the busiest master's full
        # first (S shards on S masters: S cores).
        r["redis_ceiling_per_core"] = 1e6 / (r["redis_us_per_task"] +
                                             r["redis_us_per_task_enqueue"])
        r["redis_ceiling"] = r["redis_ceiling_per_core"] * \
            r["shards"] / r["busiest_master_shards"]
        print("%7d  %7.0f (%6.0f-%6.0f)  %5.2f  %11.2f  %13.1f  %8.1f  "
              "%12.0f  %7.0f  %12.2f  %11.2f" % (
                  r["workers"], r["tasks_per_s"], r["min_tasks_per_s"],
                  r["max_tasks_per_s"], r["ratio_to_one"], r["redis_cores"],
                  r["redis_us_per_task"], r["redis_us_per_task_enqueue"],
                  r["redis_ceiling_per_core"], r["redis_ceiling"],
                  r["worker_cores"], r["other_cores"]))
    return rows


def median_row(mine):
    """The median point of some runs, with the min-max of the rate."""
    med = sorted(mine, key=lambda r: r["tasks_per_s"])[len(mine) // 2]
    row = dict(med)
    row["min_tasks_per_s"] = min(r["tasks_per_s"] for r in mine)
    row["max_tasks_per_s"] = max(r["tasks_per_s"] for r in mine)
    row["points"] = len(mine)
    # One Redis core's tasks/s at this cost, and the deployment's (as in
    # summarize()).
    row["redis_ceiling_per_core"] = 1e6 / (row["redis_us_per_task"] +
                                           row["redis_us_per_task_enqueue"])
    row["redis_ceiling"] = row["redis_ceiling_per_core"] * \
        row["shards"] / row["busiest_master_shards"]
    return row


def summarize_sweep(runs, masters, workers):
    """The rows of a shard sweep: each S's median point (cluster), then
    the one-Redis point if measured; each with its ratio to S = 1 (or to
    the smallest S swept) of the same run."""
    rows = [median_row([r for r in runs if r["mode"] == CLUSTER and
                        r["shards"] == s])
            for s in sorted({r["shards"] for r in runs
                             if r["mode"] == CLUSTER})]
    if any(r["mode"] == ONE for r in runs):
        rows.append(median_row([r for r in runs if r["mode"] == ONE]))
    base = rows[0]
    print("\ncluster of %d masters, %d worker host(s), shards swept; x%d: "
          "ratio to %d shard(s) of the same run\n"
          "shards  tasks/s (min-max)          x%-4d Redis cores  "
          "Redis us/task  +enqueue  ceiling  worker us/task  worker cores  "
          "other cores  Redis cores per master"
          % (masters, workers, base["shards"], base["shards"],
             base["shards"]))
    for r in rows:
        r["ratio_to_base"] = r["tasks_per_s"] / base["tasks_per_s"]
        r["ratio_base_shards"] = base["shards"]
        print("%6s  %7.0f (%6.0f-%6.0f)  %5.2f  %11.2f  %13.1f  %8.1f  "
              "%7.0f  %14.1f  %12.2f  %11.2f  %s" % (
                  r["shards"] if r["mode"] == CLUSTER else "one",
                  r["tasks_per_s"], r["min_tasks_per_s"],
                  r["max_tasks_per_s"], r["ratio_to_base"],
                  r["redis_cores"], r["redis_us_per_task"],
                  r["redis_us_per_task_enqueue"], r["redis_ceiling"],
                  r["worker_us_per_task"], r["worker_cores"],
                  r["other_cores"], " + ".join(
                      "%.2f" % x for x in r["redis_cores_by_server"])))
    if rows[-1]["mode"] == ONE:
        print("(one: one redis-server, not the cluster, same workers)")
    return rows


def plot_sweep(png, base, rows, title, cores):
    """The plot of a shard sweep, through base-sweep.dat: tasks/s and the
    Redis ceiling against S above (one Redis as a level line), cores busy
    below."""
    if shutil.which("gnuplot") is None:
        return None
    data = base + "-sweep.dat"
    mine = [r for r in rows if r["mode"] == CLUSTER]
    with open(data, "w") as f:
        f.write("# shards tasks/s min max redis_cores busiest_master_cores "
                "worker_cores other_cores redis_ceiling\n")
        for r in mine:
            f.write("%d %.1f %.1f %.1f %.3f %.3f %.3f %.3f %.1f\n" % (
                r["shards"], r["tasks_per_s"], r["min_tasks_per_s"],
                r["max_tasks_per_s"], r["redis_cores"],
                max(r["redis_cores_by_server"]), r["worker_cores"],
                r["other_cores"], r["redis_ceiling"]))
    lc, one_lc = "rgb '#d62728'", "rgb '#1f77b4'"
    top = ["'%s' using 1:2:3:4 with yerrorlines lw 2 pt 9 lc %s "
           "title 'cluster: tasks/s'" % (data, lc),
           "'%s' using 1:9 with linespoints lw 2 pt 12 dt 4 lc %s "
           "title 'cluster: Redis saturates at S x 1,000,000 / its CPU us "
           "per task (S <= masters)'" % (data, lc)]
    bottom = ["'%s' using 1:5 with linespoints lw 2 pt 9 lc %s "
              "title 'Redis (all masters)'" % (data, lc),
              "'%s' using 1:6 with linespoints lw 1 pt 8 dt 4 lc %s "
              "title 'Redis (busiest master)'" % (data, lc),
              "'%s' using 1:7 with linespoints lw 1 pt 13 dt 2 lc %s "
              "title 'workers'" % (data, lc),
              "'%s' using 1:8 with linespoints lw 1 pt 1 dt 3 lc %s "
              "title 'rest of the machine'" % (data, lc)]
    for r in rows:
        if r["mode"] == ONE:
            top.append("%.1f with lines lw 2 dt 1 lc %s title 'one Redis: "
                       "tasks/s (median)'" % (r["tasks_per_s"], one_lc))
            top.append("%.1f with lines lw 1 dt 2 lc %s notitle, %.1f with "
                       "lines lw 1 dt 2 lc %s title 'one Redis: min, max'"
                       % (r["min_tasks_per_s"], one_lc, r["max_tasks_per_s"],
                          one_lc))
            bottom.append("%.3f with lines lw 1 dt 1 lc %s title 'one "
                          "Redis: Redis'" % (r["redis_cores"], one_lc))
    return gnuplot_panels(
        png, title, 900,
        (min(r["shards"] for r in mine) - 0.5,
         max(r["shards"] for r in mine) + 0.5),
        "shards S of the deployment (on min(S, masters) masters)",
        max(r["max_tasks_per_s"] for r in rows),
        max(r["redis_ceiling"] for r in rows), cores, top, bottom)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"),
                    help="directory of celeriac-worker and celeriac")
    ap.add_argument("--tasks", type=int, default=200000,
                    help="small tasks per drain (default 200000)")
    ap.add_argument("--max-workers", type=int,
                    help="the curves' last point: 1..N worker hosts "
                    "(default 4; not with --sweep-shards)")
    ap.add_argument("--concurrency", type=int, default=1,
                    help="child processes per worker (per shard with "
                    "--cluster; default 1)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cluster", type=int, nargs="?", const=3, metavar="M",
                    help="the sharded series instead: a Redis Cluster of M "
                    "masters (3 if M is left out), no replicas")
    ap.add_argument("--shards", type=int, metavar="S",
                    help="shards of the deployment with --cluster or --both "
                    "(default M)")
    ap.add_argument("--both", action="store_true",
                    help="both series in the same run, interleaved: one "
                    "Redis and the cluster (--cluster M, default 3)")
    ap.add_argument("--sweep-shards", metavar="S1,S2,..",
                    help="a shard sweep instead of the curves: tasks/s "
                    "against the deployment's shards S1, S2, .. on one "
                    "cluster (--cluster M, default 3), with --workers "
                    "worker hosts, one point per S (and one Redis with "
                    "--both) each round, the order rotated every round")
    ap.add_argument("--workers", type=int, metavar="N",
                    help="worker hosts of every point of --sweep-shards "
                    "(default 1)")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--png", help="the plot's path (default "
                    "OUT/scaling-<time>.png)")
    ap.add_argument("--replot", metavar="JSON",
                    help="only draw the plot of an earlier run's "
                    "scaling-<time>.json")
    args = ap.parse_args()
    if args.replot:
        with open(args.replot) as f:
            return draw(args, json.load(f), os.path.abspath(args.replot))
    sweep = None
    if args.sweep_shards is not None:
        try:
            sweep = [int(x) for x in args.sweep_shards.split(",")]
        except ValueError:
            ap.error("--sweep-shards: shard counts separated by commas, "
                     "e.g. 1,2,3")
        if not all(1 <= x <= 16 for x in sweep) or \
                len(set(sweep)) != len(sweep):
            ap.error("--sweep-shards: distinct shard counts, 1 to 16")
        if args.shards is not None or args.max_workers is not None:
            ap.error("--sweep-shards sets the shards of every point and "
                     "takes --workers N, not --shards or --max-workers")
        if args.workers is None:
            args.workers = 1
        if not 1 <= args.workers <= 60:
            ap.error("--workers: 1 to 60")
        if args.cluster is None:
            args.cluster = 3
        args.max_workers = args.workers
    elif args.workers is not None:
        ap.error("--workers goes with --sweep-shards (the curves take "
                 "--max-workers)")
    if args.max_workers is None:
        args.max_workers = 4
    if args.tasks < 1000 or not 1 <= args.max_workers <= 60:
        ap.error("--tasks must be at least 1000, --max-workers 1 to 60")
    if args.both and args.cluster is None:
        args.cluster = 3
    if args.shards is not None and args.cluster is None:
        ap.error("--shards goes with --cluster or --both")
    if args.cluster is not None:
        if not 3 <= args.cluster <= 16:
            ap.error("--cluster: 3 to 16 masters (redis-cli --cluster "
                     "create wants at least 3)")
        if args.shards is None:
            args.shards = sweep[0] if sweep else args.cluster
        if not 1 <= args.shards <= 16:
            ap.error("--shards: 1 to 16")
    modes = [ONE, CLUSTER] if args.both else \
        [CLUSTER] if args.cluster is not None else [ONE]
    args.bin = os.path.abspath(args.bin)
    for b in ("celeriac-worker", "celeriac"):
        if not os.access(os.path.join(args.bin, b), os.X_OK):
            ap.error("%s/%s is not built (make)" % (args.bin, b))
    for b in ("redis-server",) + (("redis-cli",) if CLUSTER in modes else ()):
        if shutil.which(b) is None:
            ap.error("%s is missing (apt-get install redis-server "
                     "redis-tools)" % b)
    why = netlab.unavailable()
    if why:
        ap.error("the hosts are network namespaces: " + why)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    logdir = os.path.join(args.out, "scaling-" + stamp)
    os.makedirs(logdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="celeriac-scaling-")
    hosts = Hosts(args.max_workers, cluster=CLUSTER in modes)
    servers = {}
    views = {}  # --sweep-shards: the cluster with S shards, by log_tag
    runs = []
    try:
        hosts.start()
        if ONE in modes:
            servers[ONE] = NsRedis(hosts, tmp)
        if CLUSTER in modes:
            servers[CLUSTER] = NsCluster(hosts, tmp, args.cluster,
                                         args.shards)
            cl = servers[CLUSTER]
            for v in [cl.with_shards(x) for x in sweep] if sweep else [cl]:
                print("cluster: %d masters on %s:%d..%d; shards %s on the "
                      "masters at ports %s" % (
                          v.masters, CLUSTER_IP, v.ports[0], v.ports[-1],
                          " ".join(v.prefixes),
                          " ".join(map(str, v.owners))), flush=True)
                if sweep:
                    views[v.log_tag] = v
        fpath = os.path.join(tmp, "filler.txt")
        workloads.write_filler(fpath)
        with open(fpath) as f:
            filler = f.read()
        if sweep:
            runs = run_sweep(args, hosts, servers, views, filler, tmp,
                             logdir)
        batches = {}
        for m, s in servers.items() if not sweep else ():
            batches[m] = []
            for i, idx in enumerate(shard_ranges(args.tasks,
                                                 len(s.prefixes))):
                path = os.path.join(tmp, "batch-%s-%d.jsonl" % (m, i))
                write_batch(path, idx, filler)
                batches[m].append((path, idx))
        for rep in range(args.repeat if not sweep else 0):
            for n in range(1, args.max_workers + 1):
                # Both series at each point, the first of them swapped
                # every round.
                order = modes if rep % 2 == 0 else modes[::-1]
                for m in order:
                    idle = [s for k, s in servers.items() if k != m]
                    r = point(args, hosts, servers[m],
                              idle[0] if idle else None, n, batches[m],
                              filler, logdir)
                    r["round"] = rep + 1
                    runs.append(r)
                    print("round %d, %d worker(s), %s: %8.0f tasks/s, Redis "
                          "%.2f cores (%s; %.1f us/task), workers %.2f "
                          "cores, other %.2f"
                          % (rep + 1, n, m, r["tasks_per_s"],
                             r["redis_cores"], " + ".join(
                                 "%.2f" % x
                                 for x in r["redis_cores_by_server"]),
                             r["redis_us_per_task"], r["worker_cores"],
                             r["other_cores"]), flush=True)
    finally:
        procs.stop_all()
        hosts.close()
        shutil.rmtree(tmp, ignore_errors=True)

    version = next(iter(servers.values())).version if servers else None
    if sweep:
        return finish_sweep(args, sweep, modes, servers, views, runs,
                            version, stamp)
    rows = []
    for m in modes:
        rows += summarize(runs, m)
    doc = {"when": stamp, "host": platform.node(), "cores": os.cpu_count(),
           "redis_version": version, "bin": args.bin,
           "tasks": args.tasks, "concurrency": args.concurrency,
           "mode": "workers", "max_workers": args.max_workers,
           "repeat": args.repeat, "modes": modes, "runs": runs, "rows": rows,
           "median_us_per_task_redis": statistics.median(
               r["redis_us_per_task"] for r in runs if r["mode"] == modes[0])}
    if CLUSTER in servers:
        cl = servers[CLUSTER]
        doc.update({"masters": cl.masters, "shards": len(cl.prefixes),
                    "shard_tag": cl.tag, "shard_prefixes": cl.prefixes,
                    "shard_master_ports": cl.owners,
                    "median_us_per_task_redis_by_mode": {
                        m: statistics.median(r["redis_us_per_task"]
                                             for r in runs
                                             if r["mode"] == m)
                        for m in modes}})
    jpath = os.path.join(args.out, "scaling-%s.json" % stamp)
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    print("\nwrote %s" % jpath)
    return draw(args, doc, jpath)


def run_sweep(args, hosts, servers, views, filler, tmp, logdir):
    """The rounds of --sweep-shards: each round one point per S (the
    cluster's view with S shards) and, with --both, one on one Redis,
    args.workers worker hosts each; the order rotated by one every round
    (S1 S2 S3 one, S2 S3 one S1, ..), so that every point takes every
    place as often over as many rounds as there are points."""
    targets = list(views.values())
    if ONE in servers:
        targets.append(servers[ONE])
    batches = {}
    for t in targets:
        key = getattr(t, "log_tag", t.mode)
        batches[key] = []
        for i, idx in enumerate(shard_ranges(args.tasks, len(t.prefixes))):
            path = os.path.join(tmp, "batch-%s-%d.jsonl" % (key, i))
            write_batch(path, idx, filler)
            batches[key].append((path, idx))
    runs = []
    n = args.workers
    for rep in range(args.repeat):
        k = rep % len(targets)
        for t in targets[k:] + targets[:k]:
            key = getattr(t, "log_tag", t.mode)
            # The other server's CPU is the bench's while waiting for
            # quiet (the cluster's views share its nodes: not twice).
            idle = servers[CLUSTER] if t.mode == ONE else servers.get(ONE)
            r = point(args, hosts, t, idle, n, batches[key], filler, logdir)
            r["round"] = rep + 1
            runs.append(r)
            print("round %d, %d worker(s), %s: %8.0f tasks/s, Redis %.2f "
                  "cores (%s; %.1f us/task), workers %.2f cores (%.1f "
                  "us/task), other %.2f"
                  % (rep + 1, n, "%d shard(s)" % r["shards"]
                     if t.mode == CLUSTER else "one Redis",
                     r["tasks_per_s"], r["redis_cores"], " + ".join(
                         "%.2f" % x for x in r["redis_cores_by_server"]),
                     r["redis_us_per_task"], r["worker_cores"],
                     r["worker_us_per_task"], r["other_cores"]), flush=True)
    return runs


def finish_sweep(args, sweep, modes, servers, views, runs, version, stamp):
    """The table, JSON (mode "sweep") and plot of --sweep-shards."""
    cl = servers[CLUSTER]
    rows = summarize_sweep(runs, cl.masters, args.workers)
    doc = {"when": stamp, "host": platform.node(), "cores": os.cpu_count(),
           "redis_version": version, "bin": args.bin,
           "tasks": args.tasks, "concurrency": args.concurrency,
           "repeat": args.repeat, "mode": "sweep", "modes": modes,
           "workers": args.workers, "masters": cl.masters,
           "sweep_shards": sweep,
           "ratio_base_shards": rows[0]["ratio_base_shards"],
           # Each S's layout: base tag, prefixes, their masters' ports.
           "layouts": {str(len(v.prefixes)): {
               "shard_tag": v.tag, "shard_prefixes": v.prefixes,
               "shard_master_ports": v.owners} for v in views.values()},
           "runs": runs, "rows": rows}
    jpath = os.path.join(args.out, "scaling-%s.json" % stamp)
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    print("\nwrote %s" % jpath)
    return draw(args, doc, jpath)


def draw(args, doc, jpath):
    base = jpath[:-len(".json")]
    if doc.get("mode") == "sweep":
        png = plot_sweep(
            args.png or base + ".png", base, doc["rows"],
            "celeriac: %d small tasks, %d worker host(s), against the shards "
            "on a %d-master cluster%s, %d cores" % (
                doc["tasks"], doc["workers"], doc["masters"],
                " (and one Redis)" if ONE in doc["modes"] else "",
                doc["cores"]), doc["cores"])
        print("plot: %s" % (png or "none (gnuplot missing or failed)"))
        return 0 if png else 1
    modes = doc.get("modes", [ONE])
    if modes == [ONE]:
        what = "drained from one Redis"
    elif modes == [CLUSTER]:
        what = "drained from %d shards of a %d-master Redis Cluster" % (
            doc["shards"], doc["masters"])
    else:
        what = "from one Redis and from %d shards on a %d-master cluster" \
            % (doc["shards"], doc["masters"])
    png = plot(args.png or base + ".png", base, doc["rows"],
               "celeriac: %d small tasks %s, %d cores"
               % (doc["tasks"], what, doc["cores"]), doc["cores"])
    print("plot: %s" % (png or "none (gnuplot missing or failed)"))
    return 0 if png else 1


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print("bench/scaling.py: %s" % e, file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
