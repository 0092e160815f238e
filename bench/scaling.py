#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The scaling curve: how fast N celeriac workers drain a queue of small
tasks from one Redis, for N = 1..4, each worker on a "host" of its own (a
network namespace), and how busy the Redis server is at each point.

    bench/scaling.py [--tasks 200000] [--max-workers 4] [--repeat 3]
                     [--concurrency 1] [--png PATH] [--replot JSON]

`make bench-scaling` runs it (needs root, for `ip netns`).  Hosts:

  - Redis in a namespace of its own, listening on 127.0.0.1 and on its
    side of every pair (and on a Unix socket in a temporary directory,
    which is how this script, in the root namespace, reads it);
  - worker k in namespace k, joined to the Redis namespace by a veth pair
    (198.18.254.0 + 4k: .1 the Redis side, .2 the worker's), and running
    `celeriac-worker --concurrency C` against redis://198.18.254.(4k+1).

Nothing of it is in the root namespace: no address, no route, no rule.
Per point: the queue is flushed and filled with --tasks W1-like tasks
(64 B, one SHA-512 each) by `celeriac send --batch` inside the Redis
namespace, the script waits (briefly) for the rest of the machine to use
less than 0.3 cores, then the N workers start; the rate is taken over the
steady part of the drain (from 10% to 90% of the tasks done), and so are the CPU of
Redis, of the workers and of the rest of the machine (from /proc).  Points
run interleaved (1, 2, .., N, 1, 2, ..) --repeat times; the median rate is
reported, and its ratio to one worker's in the same run.  Every run checks
that every task has a result, nothing is pending, and a sample of digests
against hashlib.  Writes bench/out/scaling-<time>.json and a gnuplot PNG.
"""

import argparse
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
PREFIX = "celeriac:"
QUEUE = PREFIX + "queue:default"
WINDOW = (0.1, 0.9)  # the steady part of a drain, in fractions done
STALL_SECONDS = 60
QUIET_WAIT = [10]  # seconds to wait for the machine to go quiet


def run(*cmd, check=True):
    return netlab._run(*cmd, check=check)


class Hosts:
    """A Redis namespace and n worker namespaces, each worker joined to
    Redis by a veth pair; removed by close() (deleting a namespace deletes
    its ends of the pairs)."""

    def __init__(self, n):
        self.n = n
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
        except BaseException:
            self.close()
            raise
        return self

    def close(self):
        for ns in reversed(self.made):
            run("ip", "netns", "del", ns, check=False)
        self.made = []


class NsRedis:
    """redis-server in the Redis namespace: no persistence, port 6379 on
    127.0.0.1 and the pairs' Redis ends, and a Unix socket for us."""

    def __init__(self, hosts, tmp):
        self.dir = os.path.join(tmp, "redis")
        os.mkdir(self.dir, 0o700)
        self.sock = os.path.join(self.dir, "redis.sock")
        binds = ["127.0.0.1"] + [hosts.redis_ip(k)
                                 for k in range(1, hosts.n + 1)]
        self.proc = procs.spawn(
            ["ip", "netns", "exec", hosts.redis_ns, "redis-server",
             "--bind"] + binds + ["--port", "6379",
             # Reachable only from the worker namespaces' pairs.
             "--protected-mode", "no",
             "--unixsocket", self.sock, "--unixsocketperm", "700",
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning",
             "--logfile", os.path.join(self.dir, "redis.log")])
        self.client = redis.Redis(unix_socket_path=self.sock)
        deadline = time.time() + 10
        while True:
            try:
                self.client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                if self.proc.poll() is not None or time.time() > deadline:
                    raise BenchError("redis-server did not start in the "
                                     "namespace; see %s/redis.log" % self.dir)
                time.sleep(0.02)
        self.version = self.client.info("server")["redis_version"]

    def cpu_seconds(self):
        return proctree.cpu_seconds([self.proc.pid])

    def done(self):
        """Tasks finished: entries ever added to the stream minus those
        left (the finish script removes an entry with its result)."""
        try:
            info = self.client.execute_command("XINFO", "STREAM", QUEUE)
        except redis.ResponseError:
            return 0
        info = dict(zip(info[::2], info[1::2]))
        return info.get(b"entries-added", 0) - info.get(b"length", 0)


def write_batch(path, count, filler):
    with open(path, "w") as f:
        for i in range(count):
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


def point(args, hosts, rds, n, batch, filler, logdir):
    """One drain of args.tasks by n workers; returns its figures."""
    rds.client.flushall()
    enq_cpu = rds.cpu_seconds()
    p = subprocess.run(
        ["ip", "netns", "exec", hosts.redis_ns,
         os.path.join(args.bin, "celeriac"), "send", "--redis",
         "redis://127.0.0.1:6379/0", "--queue", "default", "--batch", batch],
        capture_output=True, text=True, stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise BenchError("celeriac send --batch failed: " + p.stderr[-2000:])
    enq_cpu = rds.cpu_seconds() - enq_cpu
    if rds.client.xlen(QUEUE) != args.tasks:
        raise BenchError("the queue holds %d entries, not %d"
                         % (rds.client.xlen(QUEUE), args.tasks))
    # A moment's quiet, if the shared machine gives it: up to 10 s, and
    # after a wait in vain (the machine is busy for good) 1 s.
    t = time.time()
    while other_cores(0.25, lambda: rds.cpu_seconds() + self_cpu()) > 0.3:
        if time.time() - t > QUIET_WAIT[0]:
            QUIET_WAIT[0] = 1
            break
    else:
        QUIET_WAIT[0] = 10
    log = os.path.join(logdir, "workers-%d.log" % n)
    workers = []
    marks = {}
    lo, hi = (int(args.tasks * f) for f in WINDOW)
    t0 = time.time()
    try:
        for k in range(1, n + 1):
            workers.append(procs.spawn(
                ["ip", "netns", "exec", hosts.worker_ns[k - 1],
                 os.path.join(args.bin, "celeriac-worker"),
                 "--redis", "redis://%s:6379/0" % hosts.redis_ip(k),
                 "--concurrency", str(args.concurrency),
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
                raise BenchError("stuck at %d/%d tasks with %d workers; see %s"
                                 % (d, args.tasks, n, log))
            time.sleep(0.005)
        t_end = time.time()
    finally:
        procs.stop(workers)
    check(rds, args.tasks, filler)
    a, b = marks["lo"], marks["hi"]
    dt = b["t"] - a["t"]
    tasks = b["done"] - a["done"]
    d = {k: b[k] - a[k] for k in ("redis", "workers", "machine", "bench")}
    return {
        "workers": n,
        "tasks_per_s": tasks / dt,
        "drain_tasks_per_s": args.tasks / (t_end - t0),
        "window_s": dt,
        "redis_cores": d["redis"] / dt,
        "redis_us_per_task": d["redis"] / tasks * 1e6,
        # Redis's CPU for the XADDs of `celeriac send --batch` (pipelined).
        "redis_us_per_task_enqueue": enq_cpu / args.tasks * 1e6,
        "worker_cores": d["workers"] / dt,
        "worker_us_per_task": d["workers"] / tasks * 1e6,
        "other_cores": max(0.0, d["machine"] - d["redis"] - d["workers"] -
                           d["bench"]) / dt,
    }


def check(rds, count, filler):
    """Every task has a result, nothing is pending or dead, and a sample
    of digests is right."""
    c = rds.client
    n = sum(1 for _ in c.scan_iter(match=PREFIX + "result:*", count=10000))
    pending = c.xpending(QUEUE, "celeriac")["pending"]
    dead = c.xlen(PREFIX + "dead") if c.exists(PREFIX + "dead") else 0
    if n != count or pending or dead:
        raise BenchError("%d results for %d tasks, %d pending, %d dead"
                         % (n, count, pending, dead))
    idx = workloads.sample(count)
    docs = c.mget([PREFIX + "result:" + workloads.task_id(i) for i in idx])
    for i, raw in zip(idx, docs):
        doc = json.loads(raw)
        want = workloads.digest(workloads.payload(filler, i, 64))
        if doc.get("status") != "SUCCESS" or \
                doc.get("result", {}).get("digest") != want:
            raise BenchError("task %s: %s, expected digest %s"
                             % (workloads.task_id(i), raw[:300], want))


def plot(png, data, rows, title):
    """The plot of the rows, through the data file `data`."""
    if shutil.which("gnuplot") is None:
        return None
    with open(data, "w") as f:
        f.write("# workers tasks/s min max redis_cores worker_cores "
                "other_cores redis_ceiling_per_core\n")
        for r in rows:
            f.write("%d %.1f %.1f %.1f %.3f %.3f %.3f %.1f\n" % (
                r["workers"], r["tasks_per_s"], r["min_tasks_per_s"],
                r["max_tasks_per_s"], r["redis_cores"], r["worker_cores"],
                r["other_cores"], r["redis_ceiling_per_core"]))
    script = """
set terminal pngcairo size 900,600 font ",11"
set output '%(png)s'
set title '%(title)s'
set xlabel 'worker hosts (network namespaces), one Redis'
set xtics 1
set xrange [0.5:%(xmax)s]
set ylabel 'tasks/s (steady drain; median, min-max)'
set yrange [0:*]
set y2label 'cores busy'
set y2range [0:2.2]
set y2tics
set ytics nomirror
set grid ytics
set key below
plot '%(data)s' using 1:2:3:4 with yerrorlines lw 2 pt 7 title 'tasks/s', \\
     '' using 1:8 with linespoints lw 2 pt 6 dt 4 title 'where one Redis core saturates: 1,000,000 / its CPU us per task', \\
     '' using 1:5 axes x1y2 with linespoints lw 2 pt 5 title 'Redis server CPU (cores)', \\
     '' using 1:6 axes x1y2 with linespoints lw 1 pt 4 dt 2 title 'worker processes CPU (cores)', \\
     '' using 1:7 axes x1y2 with linespoints lw 1 pt 1 dt 3 lc rgb 'gray40' title 'rest of the machine (cores)'
""" % {"png": png, "title": title, "xmax": len(rows) + 0.5, "data": data}
    r = subprocess.run(["gnuplot"], input=script, text=True,
                       capture_output=True)
    if r.returncode != 0 or not os.path.exists(png):
        print("gnuplot failed: " + r.stderr[-500:], file=sys.stderr)
        return None
    return png


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "bin"),
                    help="directory of celeriac-worker and celeriac")
    ap.add_argument("--tasks", type=int, default=200000,
                    help="small tasks per drain (default 200000)")
    ap.add_argument("--max-workers", type=int, default=4)
    ap.add_argument("--concurrency", type=int, default=1,
                    help="child processes per worker (default 1)")
    ap.add_argument("--repeat", type=int, default=3)
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
    if args.tasks < 1000 or not 1 <= args.max_workers <= 60:
        ap.error("--tasks must be at least 1000, --max-workers 1 to 60")
    args.bin = os.path.abspath(args.bin)
    for b in ("celeriac-worker", "celeriac"):
        if not os.access(os.path.join(args.bin, b), os.X_OK):
            ap.error("%s/%s is not built (make)" % (args.bin, b))
    if shutil.which("redis-server") is None:
        ap.error("redis-server is missing (apt-get install redis-server)")
    why = netlab.unavailable()
    if why:
        ap.error("the hosts are network namespaces: " + why)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    logdir = os.path.join(args.out, "scaling-" + stamp)
    os.makedirs(logdir, exist_ok=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmp = tempfile.mkdtemp(prefix="celeriac-scaling-")
    hosts = Hosts(args.max_workers)
    rds = None
    try:
        hosts.start()
        rds = NsRedis(hosts, tmp)
        fpath = os.path.join(tmp, "filler.txt")
        workloads.write_filler(fpath)
        with open(fpath) as f:
            filler = f.read()
        batch = os.path.join(tmp, "batch.jsonl")
        write_batch(batch, args.tasks, filler)
        runs = []
        for rep in range(args.repeat):
            for n in range(1, args.max_workers + 1):
                r = point(args, hosts, rds, n, batch, filler, logdir)
                r["round"] = rep + 1
                runs.append(r)
                print("round %d, %d worker(s): %8.0f tasks/s, Redis %.2f "
                      "cores (%.1f us/task), workers %.2f cores, other %.2f"
                      % (rep + 1, n, r["tasks_per_s"], r["redis_cores"],
                         r["redis_us_per_task"], r["worker_cores"],
                         r["other_cores"]), flush=True)
    finally:
        procs.stop_all()
        hosts.close()
        shutil.rmtree(tmp, ignore_errors=True)

    rows = []
    for n in range(1, args.max_workers + 1):
        mine = [r for r in runs if r["workers"] == n]
        med = sorted(mine, key=lambda r: r["tasks_per_s"])[len(mine) // 2]
        row = dict(med)
        row["min_tasks_per_s"] = min(r["tasks_per_s"] for r in mine)
        row["max_tasks_per_s"] = max(r["tasks_per_s"] for r in mine)
        rows.append(row)
    base = rows[0]["tasks_per_s"]
    print("\nworkers  tasks/s (min-max)          x1    Redis cores  "
          "Redis us/task  +enqueue  ceiling/core  worker cores  "
          "other cores")
    for r in rows:
        r["ratio_to_one"] = r["tasks_per_s"] / base
        # One Redis core's tasks/s at this cost, draining and enqueueing.
        r["redis_ceiling_per_core"] = 1e6 / (r["redis_us_per_task"] +
                                             r["redis_us_per_task_enqueue"])
        print("%7d  %7.0f (%6.0f-%6.0f)  %5.2f  %11.2f  %13.1f  %8.1f  "
              "%12.0f  %12.2f  %11.2f" % (
                  r["workers"], r["tasks_per_s"], r["min_tasks_per_s"],
                  r["max_tasks_per_s"], r["ratio_to_one"], r["redis_cores"],
                  r["redis_us_per_task"], r["redis_us_per_task_enqueue"],
                  r["redis_ceiling_per_core"],
                  r["worker_cores"], r["other_cores"]))
    doc = {"when": stamp, "host": platform.node(), "cores": os.cpu_count(),
           "redis_version": rds.version if rds else None,
           "tasks": args.tasks, "concurrency": args.concurrency,
           "repeat": args.repeat, "runs": runs, "rows": rows,
           "median_us_per_task_redis": statistics.median(
               r["redis_us_per_task"] for r in runs)}
    jpath = os.path.join(args.out, "scaling-%s.json" % stamp)
    with open(jpath, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=True)
    print("\nwrote %s" % jpath)
    return draw(args, doc, jpath)


def draw(args, doc, jpath):
    base = jpath[:-len(".json")]
    png = plot(args.png or base + ".png", base + ".dat", doc["rows"],
               "celeriac: %d small tasks drained from one Redis, %d cores"
               % (doc["tasks"], doc["cores"]))
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
