#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""celeriac benchmark: every workload on every system in turn, on one
private Redis, with 2 worker processes each; prints one table and writes
bench/out/results-<timestamp>.json and .png.

    bench/run.py [--quick] [--systems celeriac,celery,...] [--workloads W1,..]

W6 (URLs through the network lab) and W7 (1 GiB files through the path
source) have systems of their own: celeriac, asyncio and celery (W6),
celeriac and sha512sum (W7); see hybrid.py and bigfiles.py.

`make bench` / `make bench-quick` build what it needs first.  See
bench/README.md for what is measured and how.
"""

import argparse
import os
import platform
import shutil
import signal
import sys
import tempfile
import time

import bigfiles
import ceilings
import defaults
import hybrid
import procs
import redisd
import report
import systems
import workloads
from measure import Runner
from procs import BenchError

HERE = os.path.dirname(os.path.abspath(__file__))
SWEEP_COUNT = 4000


class Context:
    """What every part of a run needs: Redis, paths, the filler."""

    def __init__(self, args, redis, tmp):
        self.redis, self.tmp_dir = redis, tmp
        self.quick = args.quick
        self.celeriac_sweep = getattr(args, "celeriac_sweep", False)
        # Longest wait for the rest of the machine to go quiet before a run
        # (--quick only looks).
        self.quiet_max = self.quiet_wait = 0 if args.quick else 20
        self.bin_dir = os.path.abspath(args.bin)
        self.raw = os.path.abspath(args.raw) if args.raw else None
        self.python = "/usr/bin/python3"
        self.peers_dir = os.path.join(HERE, "peers")
        self.log_dir = os.path.join(args.out, "logs")
        os.makedirs(self.log_dir, exist_ok=True)
        self.filler_path = os.path.join(tmp, "filler.txt")
        workloads.write_filler(self.filler_path)
        with open(self.filler_path) as f:
            self.filler = f.read()

    def log_path(self, name):
        return os.path.join(self.log_dir, name)


def say(msg):
    print(msg, flush=True)


def pick_config(ctx, cls, wl1, sweeps):
    """--quick: the default configuration.  Otherwise W1 end-to-end with
    SWEEP_COUNT tasks for each configuration of the sweep; the fastest wins.
    celeriac runs at its defaults, as users run it, unless --celeriac-sweep
    (--defaults-vs-tuned compares them with tuned settings)."""
    configs = cls.sweep(ctx)
    if ctx.quick or len(configs) == 1 or \
            (cls.kind == "celeriac" and not ctx.celeriac_sweep):
        return cls.default(ctx)
    trial = workloads.Workload("W1", "sweep", "throughput",
                               min(SWEEP_COUNT, wl1.count))
    best, best_tps, tried = None, -1, []
    for cfg in configs:
        s = cls(ctx, **cfg)
        try:
            tps = Runner(ctx, s, trial).end_to_end(trial.count)["tasks_per_s"]
        except BenchError as e:
            say(f"  sweep {s.name} {s.label}: FAILED {e}")
            tried.append({"config": cfg, "error": str(e)})
            continue
        say(f"  sweep {s.name} {s.label:<24} {tps:10,.0f} tasks/s e2e")
        tried.append({"config": cfg, "tasks_per_s": tps})
        if tps > best_tps:
            best, best_tps = cfg, tps
    sweeps[cls.name] = {"count": trial.count, "tried": tried, "best": best}
    if best is None:
        raise BenchError(f"{cls.name}: every configuration failed")
    return best


def goodness(rec):
    """The figure --repeat takes the median of."""
    if rec.get("latency"):
        return -rec["latency"]["p50_ms"]
    return (rec.get("e2e") or rec["drain"])["tasks_per_s"]


def run_repeated(ctx, s, wl, repeat):
    """run_one `repeat` times; the median run by goodness(), with the
    others' main figure kept in "repeats"."""
    recs = sorted((run_one(ctx, s, wl) for _ in range(repeat)), key=goodness)
    rec = recs[len(recs) // 2]
    if repeat > 1:
        rec["repeats"] = [abs(goodness(r)) for r in recs]
    return rec


def run_one(ctx, s, wl):
    """All phases of one workload on one system; returns the record."""
    rec = {"workload": wl.key, "system": s.name, "kind": s.kind,
           "config": s.label}
    r = Runner(ctx, s, wl)
    t0 = time.time()
    if wl.kind == "throughput":
        rec["e2e"] = r.end_to_end(wl.count)
        rec["drain"], rec["enqueue"] = r.drain(wl.count)
    elif wl.kind == "latency":
        rec["latency"] = r.latency(wl.count)
    else:
        count, timebox = s.backlog(wl)
        rec["backlog_count"] = count
        rec["drain"], rec["enqueue"] = r.drain(count, timebox)
    rec["wall_s"] = time.time() - t0
    return rec


def line(rec):
    parts = [f"{rec['workload']} {rec['system']:<10}"]
    for k in ("e2e", "drain", "enqueue"):
        if rec.get(k):
            parts.append(f"{k} {rec[k]['tasks_per_s']:,.0f}/s")
    if rec.get("latency"):
        parts.append(f"p50 {rec['latency']['p50_ms']:.3f} ms "
                     f"p99 {rec['latency']['p99_ms']:.3f} ms")
    return "  ".join(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="small counts, no sweep: about 5 minutes")
    ap.add_argument("--systems", default="",
                    help="comma-separated subset of: " +
                    ",".join(c.name for c in systems.ALL))
    ap.add_argument("--workloads", default="",
                    help="e.g. W1,W4 (W1-W7; all by default)")
    ap.add_argument("--w6-count", type=int, default=None,
                    help="W6: URLs per run (10,000; --quick 1,000)")
    ap.add_argument("--w6-conc", default="",
                    help="W6: concurrency limits to try, e.g. 100,400 "
                    "(default: 100 and larger ones for each system's best)")
    ap.add_argument("--w7-size-mib", type=int, default=None,
                    help="W7: size of each of the 4 files (1024; --quick "
                    "256)")
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "bin"))
    ap.add_argument("--raw", default=None, help="the built rawredis")
    ap.add_argument("--out", default=os.path.join(HERE, "out"))
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per workload and system; the median is kept")
    ap.add_argument("--no-ceilings", action="store_true")
    ap.add_argument("--celeriac-sweep", action="store_true",
                    help="sweep celeriac's settings too and run the "
                    "fastest (by default it runs at its defaults)")
    ap.add_argument("--defaults-vs-tuned", action="store_true",
                    help="celeriac only: its defaults against --tuned, "
                    "alternated --repeat times on each workload, plus the "
                    "fairness row; prints the ratios (bench/defaults.py)")
    ap.add_argument("--tuned", default=defaults.TUNED,
                    help="with --defaults-vs-tuned: tuned configurations, "
                    "';'-separated (default %(default)s)")
    ap.add_argument("--no-fairness", action="store_true",
                    help="with --defaults-vs-tuned: leave the fairness row "
                    "out")
    args = ap.parse_args()
    if args.defaults_vs_tuned:
        return compare(args)

    want_sys = set(filter(None, args.systems.split(",")))
    want_wl = set(filter(None, args.workloads.split(",")))
    wls = [w for w in workloads.workloads(args.quick)
           if not want_wl or w.key in want_wl]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    args.out = os.path.join(args.out, stamp)
    # Ctrl-C and SIGTERM both end the run through the cleanup below (SIGINT
    # explicitly: a shell may have started us with it ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    tmp = tempfile.mkdtemp(prefix="celeriac-bench-data-")
    redis = None
    errors = []
    t_begin = time.time()
    try:
        redis = redisd.PrivateRedis()
        ctx = Context(args, redis, tmp)
        doc = {"started": stamp, "quick": args.quick, "repeat": args.repeat,
               "machine": {"cpus": os.cpu_count(),
                           "kernel": platform.release(),
                           "redis": redis.version},
               "workloads": [w.__dict__ for w in wls],
               "ceilings": {}, "sweeps": {}, "runs": [], "skipped": {}}
        say(f"celeriac bench ({'quick' if args.quick else 'full'}): "
            f"redis-server {redis.version} on 127.0.0.1:{redis.port}, "
            f"logs in {ctx.log_dir}")
        if not args.no_ceilings and wls:
            say("ceilings:")
            doc["ceilings"] = ceilings.measure(redis, args.quick, say)

        chosen = []
        for cls in systems.ALL if wls else []:
            if want_sys and cls.name not in want_sys:
                continue
            why = cls.available(ctx)
            if why:
                say(f"{cls.name}: SKIPPED ({why})")
                doc["skipped"][cls.name] = why
                if cls.kind == "celeriac":
                    errors.append(f"celeriac did not run: {why}")
                continue
            try:
                cfg = pick_config(ctx, cls, wls[0], doc["sweeps"])
            except BenchError as e:
                errors.append(str(e))
                continue
            chosen.append(cls(ctx, **cfg))

        for wl in wls:
            say(f"{wl.key} {wl.title}: {wl.count:,} tasks x {wl.size:,} B"
                + (f", {wl.iterations:,} iterations" if wl.iterations > 1
                   else ""))
            if not args.no_ceilings and wl.key in ("W2", "W3"):
                # The machine's speed drifts within minutes: the hashing
                # ceiling this workload is compared with is measured again
                # just before it (the figure from the start stays in the
                # JSON as "openssl_at_start").
                start = doc["ceilings"].setdefault("openssl_at_start", {})
                now = ceilings.openssl_ceilings(wl.size, args.quick, say)
                for k, v in now.items():
                    start.setdefault(k, doc["ceilings"]["openssl"].get(k))
                doc["ceilings"]["openssl"].update(now)
            for s in chosen:
                if not s.supports(wl):
                    continue
                try:
                    rec = run_repeated(ctx, s, wl, args.repeat)
                    say("  " + line(rec))
                except BenchError as e:
                    rec = {"workload": wl.key, "system": s.name,
                           "kind": s.kind, "config": s.label,
                           "error": str(e)}
                    errors.append(str(e))
                    say(f"  {wl.key} {s.name}: FAILED {e}")
                doc["runs"].append(rec)

        if not want_wl or "W6" in want_wl:
            concs = [int(c) for c in args.w6_conc.split(",") if c]
            doc["w6"], errs = hybrid.run(ctx, args.quick, want_sys, say,
                                         args.w6_count, concs)
            errors += errs
        if not want_wl or "W7" in want_wl:
            doc["w7"], errs = bigfiles.run(ctx, args.quick, want_sys, say,
                                           args.w7_size_mib)
            errors += errs

        doc["seconds"] = time.time() - t_begin
        wl_dicts = doc["workloads"]
        print()
        if doc["runs"]:
            print(report.table(wl_dicts, doc["runs"], doc["ceilings"]))
        base = os.path.join(os.path.dirname(args.out), f"results-{stamp}")
        report.write_json(base + ".json", doc)
        png = report.plot(base + ".png", wl_dicts, doc["runs"])
        say(f"\nwrote {base}.json" + (f" and {png}" if png else "") +
            f" in {doc['seconds']:.0f} s")
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
        procs.stop_all()
        if redis:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if errors:
        say("\nbench FAILED:\n  " + "\n  ".join(errors))
        return 1
    return 0


def compare(args):
    """--defaults-vs-tuned: celeriac's defaults against tuned settings
    (bench/defaults.py), W1-W4 by default."""
    want_wl = set(filter(None, args.workloads.split(","))) or \
        {"W1", "W2", "W3", "W4"}
    wls = [w for w in workloads.workloads(args.quick) if w.key in want_wl
           and w.kind != "backlog"]
    stamp = time.strftime("%Y%m%d-%H%M%S")
    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, f"defaults-{stamp}")
    args.out = os.path.join(args.out, stamp)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    tmp = tempfile.mkdtemp(prefix="celeriac-bench-data-")
    redis, errors = None, []
    t_begin = time.time()
    try:
        redis = redisd.PrivateRedis()
        ctx = Context(args, redis, tmp)
        why = systems.celeriac.Celeriac.available(ctx)
        if why:
            raise BenchError(f"celeriac did not run: {why}")
        say(f"celeriac defaults vs tuned: redis-server {redis.version} on "
            f"127.0.0.1:{redis.port}, logs in {ctx.log_dir}")
        doc, errors, text = defaults.run(
            ctx, wls, args.repeat, defaults.parse_configs(args.tuned),
            run_one, say, with_fairness=not args.no_fairness)
        doc["started"], doc["seconds"] = stamp, time.time() - t_begin
        print()
        print(text)
        report.write_json(base + ".json", doc)
        say(f"\nwrote {base}.json in {doc['seconds']:.0f} s")
    except BenchError as e:
        errors.append(str(e))
    except KeyboardInterrupt:
        errors.append("interrupted")
    finally:
        procs.stop_all()
        if redis:
            redis.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if errors:
        say("\nbench FAILED:\n  " + "\n  ".join(errors))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
