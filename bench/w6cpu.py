#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""CPU accounting of the W6 lab: who spends how much CPU per URL.

Runs W6's fetch (N URLs x 64 KiB from nginx in the network lab at 50 ms
RTT) with one client at a time -- celeriac (one celeriac-worker
--concurrency 2, tasks XADDed as bench/hybrid.py does) or curl -Z -- and
reads the CPU time of every party around the run:

  parent    the celeriac-worker parent (schedstat: exact, not ticks)
  children  its pool children (hashing)
  redis     the private redis-server
  nginx     nginx's master and workers in the lab's namespace
  delayer   nfqdelay, the NFQUEUE packet delayer
  curl      curl (when it is the client)
  sender    this script (XADDs the tasks through redis-py, then polls)
  softirq   the machine's irq + softirq time (/proc/stat), all cores
  other     the rest of the machine's busy time (/proc/stat user + nice +
            system + steal, minus the above): kernel threads, the sender
            (redis-py), and whatever else runs on this shared machine

and prints CPU-seconds per 1,000 URLs for each, and the lab's ceiling on
the machine's cores: cores / (CPU-seconds per URL of the parties that
belong to the lab).  Needs root (the lab) and `make`.

    /usr/bin/python3 bench/w6cpu.py [--count 10000] [--conc 100,200]
        [--clients celeriac,curl] [--https-every 10] [--repeat 1]
        [--attach 'perf record -g -o perf.data']  # on the parent, 1st run
        [--worker BIN] [--prefetch 2] [--worker-args '...'] [--json OUT]
"""

import argparse
import json
import os
import resource
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "netlab"))

import datacache  # noqa: E402
import netlab  # noqa: E402
import proctree  # noqa: E402
from redisd import PrivateRedis  # noqa: E402
from systems.streams import PREFIX, QUEUE  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")
RTT_MS = 50
LAB_NET = "198.18.0.0/15"


def proc_stat():
    """(busy user+nice+system+steal, irq+softirq, idle+iowait) seconds."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    user, nice, system, idle, iowait, irq, softirq, steal = v
    return ((user + nice + system + steal) / TICK, (irq + softirq) / TICK,
            (idle + iowait) / TICK)


def pid_cpu(pids):
    """{pid: cpu seconds} of live pids (schedstat of their threads)."""
    out = {}
    for p in pids:
        ns = proctree._threads_ns(p)
        if ns:
            out[p] = ns / 1e9
    return out


class Parties:
    """Named sets of pids whose CPU is read before and after a run."""

    def __init__(self):
        self.groups = {}

    def add(self, name, pids):
        self.groups.setdefault(name, set()).update(pids)

    def read(self):
        return {name: pid_cpu(pids) for name, pids in self.groups.items()}


def delta(before, after):
    """CPU seconds per party between two reads (pids present in both, or
    started in between: counted from 0)."""
    out = {}
    for name, now in after.items():
        was = before.get(name, {})
        out[name] = sum(v - was.get(p, 0.0) for p, v in now.items())
    return out


def urls_for(lab, names, https_every):
    return [lab.url("w6/" + x, https=bool(https_every) and i % https_every
                    == https_every - 1) for i, x in enumerate(names)]


def done_count(r):
    if not r.exists(QUEUE):
        return 0
    info = r.execute_command("XINFO", "STREAM", QUEUE)
    info = dict(zip(info[::2], info[1::2]))
    return info.get(b"entries-added", 0) - info.get(b"length", 0)


def send(r, urls, prefix):
    for k in range(0, len(urls), 1000):
        pipe = r.pipeline(transaction=False)
        for i, url in enumerate(urls[k:k + 1000], start=k):
            pipe.xadd(QUEUE, {"msg": json.dumps(
                {"v": 1, "task": "hash", "id": f"{prefix}{i}",
                 "args": {"url": url}})})
        pipe.execute()


def wait_for(r, target, proc, stall=90, every=None):
    last, t_last, t_every = -1, time.time(), time.time()
    while True:
        if every is not None and time.time() - t_every > 0.5:
            every()
            t_every = time.time()
        n = done_count(r)
        if n >= target:
            return time.time()
        if proc.poll() is not None:
            raise RuntimeError(f"the worker exited with {proc.returncode}")
        if n != last:
            last, t_last = n, time.time()
        elif time.time() - t_last > stall:
            raise RuntimeError(f"stuck at {n} of {target}")
        time.sleep(0.01)


def run_celeriac(args, lab, redis, urls, want, conc, perf_out):
    redis.flush()
    r = redis.client
    ca = ["--ca-file", lab.ca_file]
    cmd = [args.worker, "--redis", redis.url, "--concurrency", "2",
           "--log-level", "warn", "--allow-hosts", LAB_NET,
           "--max-fetches", str(conc), "--per-host", str(conc),
           "--prefetch", str(args.prefetch * conc)] + ca + \
        shlex.split(args.worker_args)
    w = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
    perf, rtts, times = None, [], []
    try:
        send(r, [urls[0], urls[-1]], "warm")
        wait_for(r, 2, w)
        parties = Parties()
        parties.add("parent", [w.pid])
        parties.add("children", [p for p in proctree.tree([w.pid])
                                 if p != w.pid])
        parties.add("redis", [redis.proc.pid])
        lab_parties(parties, lab)
        if perf_out:
            perf = subprocess.Popen(
                shlex.split(perf_out) + ["-p", str(w.pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        base = done_count(r)
        b0, s0 = parties.read(), proc_stat()
        me0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.time()
        send(r, urls, "u")
        t1 = wait_for(r, base + len(urls), w,
                      every=lambda: sample_rtt(lab, rtts))
        b1, s1 = parties.read(), proc_stat()
        me1 = resource.getrusage(resource.RUSAGE_SELF)
    finally:
        if perf is not None:
            perf.send_signal(2)
            perf.wait(60)
        w.terminate()
        w.wait(30)
    bad = check(r, urls, want, times)
    d = delta(b0, b1)
    # This script: XADDs through redis-py, polls for the end.
    d["sender"] = (me1.ru_utime + me1.ru_stime) - (me0.ru_utime +
                                                  me0.ru_stime)
    return t1 - t0, d, (s0, s1), bad, rtts, times


def check(r, urls, want, times):
    """Counts wrong or missing digests; appends each result's (ttfb_ms,
    fetch_ms) to times."""
    bad = 0
    for k in range(0, len(urls), 1000):
        docs = r.mget([f"{PREFIX}result:u{i}"
                       for i in range(k, min(len(urls), k + 1000))])
        for i, d in enumerate(docs, start=k):
            d = json.loads(d) if d else {}
            if (d.get("result") or {}).get("digest") != want[i]:
                bad += 1
            src = d.get("source") or {}
            if "fetch_ms" in src:
                times.append((src.get("ttfb_ms", 0), src["fetch_ms"]))
    return bad


def sample_rtt(lab, out):
    """The kernel's smoothed RTT (ms) of every established connection of
    nginx in the namespace (ss -ti), appended to out."""
    r = lab.exec_("ss", "-tin", "state", "established", check=False)
    for word in r.stdout.split():
        if word.startswith("rtt:"):
            out.append(float(word[4:].split("/")[0]))


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * q))] if xs else 0.0


def run_curl(args, lab, urls, conc):
    cfg = os.path.join(lab.dir, "w6cpu-curl.cfg")
    with open(cfg, "w") as f:
        for u in urls:
            f.write(f'url = "{u}"\noutput = "/dev/null"\n')
    parties = Parties()
    lab_parties(parties, lab)
    argv = ["curl", "-sS", "--fail", "--cacert", lab.ca_file, "-K", cfg,
            "-Z", "--parallel-max", str(conc), "--parallel-immediate"]
    b0, s0 = parties.read(), proc_stat()
    t0 = time.time()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    parties.add("curl", [p.pid])
    # curl's own CPU: read from its rusage when it is reaped.
    _, status, ru = os.wait4(p.pid, 0)
    t1 = time.time()
    b1, s1 = parties.read(), proc_stat()
    d = delta(b0, b1)
    d["curl"] = ru.ru_utime + ru.ru_stime
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode != 0:
        raise RuntimeError(f"curl failed with {p.returncode}")
    return t1 - t0, d, (s0, s1), 0, [], []


def lab_parties(parties, lab):
    for p in lab.procs:
        pids = [p.pid] + proctree.tree([p.pid])
        name = "delayer" if "nfqdelay" in " ".join(map(str, p.args)) \
            else "nginx"
        parties.add(name, pids)


def report(client, conc, n, secs, d, stat, bad, rtts, times, cores):
    (busy0, irq0, idle0), (busy1, irq1, idle1) = stat
    busy, irq = busy1 - busy0, irq1 - irq0
    own = sum(d.values())
    d = dict(d)
    d["softirq"] = irq
    d["other"] = max(0.0, busy - own)
    lab = sum(v for k, v in d.items() if k != "other")
    per_k = {k: v / n * 1000 for k, v in d.items()}
    ceiling = cores / (lab / n)
    rate = n / secs
    print(f"{client:<8} C={conc:<4} {rate:7,.0f} URLs/s "
          f"({rate / (conc / (RTT_MS / 1000)):4.0%} of C/RTT), "
          f"{bad} bad digests; CPU s per 1k URLs: " +
          ", ".join(f"{k} {v:.3f}" for k, v in per_k.items()) +
          f"; lab total {lab / n * 1000:.3f} -> ceiling on {cores} cores "
          f"{ceiling:,.0f} URLs/s; machine idle "
          f"{(idle1 - idle0) / secs:.2f} cores", flush=True)
    extra = {}
    if rtts:
        extra["rtt_ms"] = {"n": len(rtts), "p10": pct(rtts, .1), "median":
                           pct(rtts, .5), "p90": pct(rtts, .9)}
        print(f"         lab RTT (ss -ti of nginx's connections, {len(rtts)}"
              f" samples): p10 {pct(rtts, .1):.1f} ms, median "
              f"{pct(rtts, .5):.1f}, p90 {pct(rtts, .9):.1f}")
    if times:
        ttfb = [a for a, _ in times]
        fetch = [b for _, b in times]
        mean = sum(fetch) / len(fetch)
        cycle = conc / rate * 1000
        extra["fetch_ms"] = {"mean": mean, "median": pct(fetch, .5),
                             "p99": pct(fetch, .99), "ttfb_median":
                             pct(ttfb, .5), "cycle_ms": cycle}
        print(f"         per fetch (result's source): ttfb median "
              f"{pct(ttfb, .5):.1f} ms; fetch median {pct(fetch, .5):.1f}, "
              f"mean {mean:.1f}, p99 {pct(fetch, .99):.1f}; one slot's "
              f"cycle C/rate = {cycle:.1f} ms, so {cycle - mean:.1f} ms "
              f"per URL between fetches (queue, child, result)", flush=True)
    return {**extra, "client": client, "conc": conc, "count": n,
            "seconds": secs,
            "urls_per_s": rate, "cpu_s_per_1k": per_k,
            "lab_cpu_s_per_1k": lab / n * 1000, "ceiling_urls_per_s":
            ceiling, "bad": bad, "idle_cores": (idle1 - idle0) / secs}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--conc", default="100,200")
    ap.add_argument("--clients", default="celeriac,curl")
    ap.add_argument("--https-every", type=int, default=0,
                    help="every N-th URL over https (0: none, as W6)")
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--attach", help="a command run on the parent during "
                    "the first celeriac run, given -p PID (e.g. 'perf "
                    "record -g -o perf.data', 'strace -c -o st.txt')")
    ap.add_argument("--worker", default=os.path.join(
        ROOT, "bin", "celeriac-worker"))
    ap.add_argument("--prefetch", type=int, default=2,
                    help="--prefetch is this times C (2, as W6)")
    ap.add_argument("--worker-args", default="",
                    help="more celeriac-worker options")
    ap.add_argument("--json", help="write every figure here")
    args = ap.parse_args()
    why = netlab.unavailable()
    if why:
        sys.exit(f"w6cpu: {why}")
    cores = os.cpu_count()
    d, names = datacache.url_files(args.count, 64 * 1024)
    want = [datacache.sha512_file(os.path.join(d, x)) for x in names]
    out = []
    redis = PrivateRedis()
    try:
        with netlab.NetLab(rtt_ms=RTT_MS, serve_dirs={"w6": d},
                           nginx_workers=2) as lab:
            urls = urls_for(lab, names, args.https_every)
            perf = args.attach
            for _ in range(args.repeat):
                for conc in [int(c) for c in args.conc.split(",")]:
                    for client in args.clients.split(","):
                        if client == "celeriac":
                            res = run_celeriac(args, lab, redis, urls, want,
                                               conc, perf)
                            perf = None
                        else:
                            res = run_curl(args, lab, urls, conc)
                        out.append(report(client, conc, args.count, *res,
                                          cores))
    finally:
        redis.stop()
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
