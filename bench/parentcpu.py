#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The worker parent's CPU time per task, for one or more worker binaries.

    bench/parentcpu.py [--count N] [--size BYTES] [--repeat R]
        [--worker-args 'OPTIONS'] BIN_DIR...

For each binary directory, R times and interleaved with the others: a
private redis-server, N hash tasks of BYTES bytes queued first, then
`celeriac-worker --concurrency 2` drains them; the parent's user+system
CPU (/proc/PID/stat) and the children's are read when the last result is
stored, and how busy redis-server was meanwhile.  Prints the median per task for each directory: the parent's CPU
is a steadier measure than throughput on a shared machine."""

import argparse
import json
import os
import statistics
import subprocess
import time

import redis

import redisd

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        st = f.read()
    fields = st[st.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid):
    with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
        return [int(x) for x in f.read().split()]


def one_run(bindir, count, size, extra):
    srv = redisd.PrivateRedis()
    try:
        r = redis.Redis(port=srv.port)
        body = "x" * (size - 10)
        p = r.pipeline(transaction=False)
        for i in range(count):
            msg = {"task": "hash", "id": "t%d" % i,
                   "args": {"data": "%010d" % i + body,
                            "algorithm": "sha512"}}
            p.xadd("celeriac:queue:default", {"msg": json.dumps(msg)})
            if i % 200 == 199:
                p.execute()
        p.execute()
        keys0 = r.dbsize()
        redis0 = srv.cpu_seconds()
        w = subprocess.Popen([os.path.join(bindir, "celeriac-worker"),
                              "--redis", srv.url, "--concurrency", "2",
                              "--log-level", "warn"] + extra)
        try:
            t0 = time.monotonic()
            kids = []
            while (r.dbsize() < keys0 + count or
                   r.xpending("celeriac:queue:default",
                              "celeriac")["pending"] > 0):
                if not kids:
                    try:
                        kids = children(w.pid)
                    except OSError:
                        pass
                time.sleep(0.01)
            wall = time.monotonic() - t0
            parent = cpu_s(w.pid)
            kid = sum(cpu_s(k) for k in kids)
            red = srv.cpu_seconds() - redis0
        finally:
            w.terminate()
            w.wait()
        return parent / count, kid / count, wall, red / wall
    finally:
        srv.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("--size", type=int, default=256 * 1024)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--worker-args", default="",
                    help="more worker options, e.g. '--prefetch-mib 64'")
    ap.add_argument("bindirs", nargs="+")
    a = ap.parse_args()
    runs = {b: [] for b in a.bindirs}
    for i in range(a.repeat):
        for b in a.bindirs:
            pc, kc, wall, busy = one_run(b, a.count, a.size,
                                            a.worker_args.split())
            runs[b].append((pc, kc, wall))
            print("run %d %-30s parent %7.1f us/task  children %7.1f "
                  "us/task  drain %.2f s  redis-server busy %.0f%%"
                  % (i + 1, b, pc * 1e6, kc * 1e6, wall, busy * 100),
                  flush=True)
    for b, rs in runs.items():
        print("median %-30s parent %7.1f us/task  children %7.1f us/task  "
              "drain %.2f s (%d runs)"
              % (b, statistics.median(x[0] for x in rs) * 1e6,
                 statistics.median(x[1] for x in rs) * 1e6,
                 statistics.median(x[2] for x in rs), len(rs)))


if __name__ == "__main__":
    main()
