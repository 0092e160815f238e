# SPDX-License-Identifier: MIT
"""W6 hybrid: URLs of 64 KiB files served by nginx in the network lab
(tests/netlab) at 50 ms round-trip time, fetched and hashed (SHA-512) by

  celeriac  tasks {"task":"hash","args":{"url":...}} sent with redis-py
            (pipelined XADD) to one celeriac-worker --concurrency 2
            --allow-hosts 198.18.0.0/15 --max-fetches C --per-host C
            --prefetch 2C;
  asyncio   bench/peers/aio_pipeline.py: asyncio.Semaphore(C), aiohttp,
            an asyncio.Queue of bodies, SHA-512 in a 2-process
            ProcessPoolExecutor (the source pipeline's tutorial design);
  celery    a task doing requests.get + hashlib (bench/peers/celery_app.py
            fetch_hash), prefork with C processes or the threads pool
            with C threads, Redis broker and backend.

For each system and concurrency limit C: URLs/s from the first enqueue
(the pipeline's start) to the last result, peak RSS of the system's
processes (sampled every 50 ms: worker parent and children, or the
pipeline and its pool), CPU seconds, and every digest checked against
hashlib of the served files.  The ceiling is C / RTT (each fetch of a
kept-alive connection takes one round trip at least), and curl fetching
the same URLs C at a time shows what the lab gives a client that costs
almost nothing.
"""

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import datacache
import procs
import proctree
from procs import BenchError
from systems.streams import PREFIX, QUEUE

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "netlab"))
import netlab  # noqa: E402

RTT_MS = 50
SIZE = 64 * 1024
FULL_COUNT, QUICK_COUNT = 10_000, 1_000
STALL_SECONDS = 90
LAB_NET = "198.18.0.0/15"


def worker_help(ctx):
    """celeriac-worker --help, or "" when it is not built."""
    w = os.path.join(ctx.bin_dir, "celeriac-worker")
    if not os.access(w, os.X_OK):
        return ""
    r = subprocess.run([w, "--help"], capture_output=True, text=True,
                       timeout=30)
    return r.stdout + r.stderr


def wait_until(what, cond, roots_alive=None, stall=STALL_SECONDS):
    """Polls cond() -> (done, progress) until done; fails when progress has
    not moved for `stall` seconds or a watched process exited."""
    last, last_change = None, time.time()
    while True:
        ok, progress = cond()
        if ok:
            return time.time()
        for p in roots_alive or []:
            if p.poll() is not None:
                raise BenchError(f"{what}: a process exited with "
                                 f"{p.returncode}")
        now = time.time()
        if progress != last:
            last, last_change = progress, now
        elif now - last_change > stall:
            raise BenchError(f"{what}: stuck at {progress} for {stall} s")
        time.sleep(0.02)


class W6System:
    """One system at one concurrency limit."""
    name = "?"

    def __init__(self, ctx, conc, **cfg):
        self.ctx, self.conc, self.cfg = ctx, conc, cfg

    @property
    def label(self):
        return " ".join([f"C={self.conc}"] +
                        [f"{k}={v}" for k, v in self.cfg.items()])

    def log(self, what):
        return self.ctx.log_path(f"W6-{self.name}-{self.conc}-{what}.log")

    def url_file(self, urls, tag):
        path = os.path.join(self.ctx.tmp_dir, f"w6-{tag}.txt")
        with open(path, "w") as f:
            f.write("".join(u + "\n" for u in urls))
        return path


class Celeriac(W6System):
    name = "celeriac"

    @classmethod
    def available(cls, ctx):
        for b in ("celeriac-worker", "celeriac"):
            if not os.access(os.path.join(ctx.bin_dir, b), os.X_OK):
                return f"{ctx.bin_dir}/{b} is not built"
        if "--max-fetches" not in worker_help(ctx):
            return ("this celeriac-worker has no url source yet "
                    "(--help shows no --max-fetches)")
        return None

    def send(self, urls, id_prefix):
        r = self.ctx.redis.client
        for k in range(0, len(urls), 1000):
            pipe = r.pipeline(transaction=False)
            for i, url in enumerate(urls[k:k + 1000], start=k):
                msg = {"v": 1, "task": "hash", "id": f"{id_prefix}{i}",
                       "args": {"url": url}}
                pipe.xadd(QUEUE, {"msg": json.dumps(msg)})
            pipe.execute()

    def done(self):
        r = self.ctx.redis.client
        if not r.exists(QUEUE):
            return 0
        info = r.execute_command("XINFO", "STREAM", QUEUE)
        info = dict(zip(info[::2], info[1::2]))
        return info.get(b"entries-added", 0) - info.get(b"length", 0)

    def run(self, lab, urls):
        c = self.conc
        cmd = [os.path.join(self.ctx.bin_dir, "celeriac-worker"),
               "--redis", self.ctx.redis.url, "--concurrency", "2",
               "--log-level", "warn", "--allow-hosts", LAB_NET,
               "--max-fetches", str(c), "--per-host", str(c),
               "--prefetch", str(2 * c)]
        w = procs.spawn(cmd, log=self.log("worker"))
        try:
            self.send([urls[0]], "warm")
            wait_until("celeriac W6 warm-up", lambda: (self.done() >= 1, 0),
                       [w])
            base = self.done()
            cpu0 = proctree.cpu_seconds([w.pid])
            sampler = proctree.Sampler([w.pid], pss_every=10)
            t0 = time.time()
            self.send(urls, "u")
            target = base + len(urls)
            t1 = wait_until("celeriac W6", lambda: (
                self.done() >= target, self.done()), [w])
            sampler.stop()
            cpu = proctree.cpu_seconds([w.pid]) - cpu0
        finally:
            procs.stop([w])
        digests, errors = [], []
        raw = []
        r = self.ctx.redis.client
        for k in range(0, len(urls), 1000):
            raw += r.mget([f"{PREFIX}result:u{i}"
                           for i in range(k, min(len(urls), k + 1000))])
        for doc in raw:
            doc = json.loads(doc) if doc else {}
            if doc.get("status") == "SUCCESS":
                digests.append((doc.get("result") or {}).get("digest"))
            else:
                digests.append(None)
                if doc:
                    errors.append(json.dumps(doc.get("error")))
        return {"t_start": t0, "t_end": t1, "cpu_s": cpu,
                "peak_rss_bytes": sampler.peak(),
                "peak_pss_bytes": sampler.pss_peak, "digests": digests,
                "errors": errors[:5], "failed": len(errors)}


class Asyncio(W6System):
    name = "asyncio"

    @classmethod
    def available(cls, ctx):
        if importlib.util.find_spec("aiohttp") is None:
            return "python3-aiohttp is not installed (bench/setup.sh)"
        return None

    def run(self, lab, urls):
        out = os.path.join(self.ctx.tmp_dir, "w6-aio-results.json")
        p = procs.Producer(
            [self.ctx.python, os.path.join(self.ctx.peers_dir,
                                           "aio_pipeline.py"),
             "--urls", self.url_file(urls, "aio"), "--concurrency",
             str(self.conc), "--procs", "2", "--out", out],
            cwd=self.ctx.peers_dir, log=self.log("pipeline"))
        sampler = proctree.Sampler([p.proc.pid], pss_every=10)
        try:
            text, cpu, _, _ = p.finish(timeout=3600)
        finally:
            sampler.stop()
        rep = json.loads(text.strip().splitlines()[-1])
        with open(out) as f:
            res = json.load(f)
        digests = [res["results"].get(str(i)) for i in range(len(urls))]
        return {"t_start": rep["t_start"], "t_end": rep["t_end"],
                "cpu_s": cpu, "peak_rss_bytes": sampler.peak(),
                "peak_pss_bytes": sampler.pss_peak,
                "digests": digests, "errors": res["errors"][:5],
                "failed": rep["failed"]}


class Celery(W6System):
    name = "celery"

    @classmethod
    def available(cls, ctx):
        for mod, pkg in (("celery", "python3-celery"),
                         ("requests", "python3-requests")):
            if importlib.util.find_spec(mod) is None:
                return f"{pkg} is not installed (bench/setup.sh)"
        return None

    @property
    def env(self):
        return dict(os.environ, BENCH_BROKER=self.ctx.redis.url_db(0),
                    BENCH_BACKEND=self.ctx.redis.url_db(1))

    def produce(self, urls, tag, id_prefix):
        p = procs.Producer(
            [self.ctx.python, "celery_urls.py", "--urls",
             self.url_file(urls, tag), "--id-prefix", id_prefix],
            cwd=self.ctx.peers_dir, env=self.env, log=self.log("producer"))
        return p

    def run(self, lab, urls):
        pool = self.cfg.get("pool", "prefork")
        cmd = [self.ctx.python, "-m", "celery", "-A", "celery_app", "worker",
               "--pool", pool, "--concurrency", str(self.conc),
               "--loglevel", "WARNING", "--without-gossip",
               "--without-mingle", "--without-heartbeat"]
        if pool == "prefork":
            cmd += ["-O", "fair"]
        self.ctx.redis.flush()
        w = procs.spawn(cmd, cwd=self.ctx.peers_dir, env=self.env,
                        log=self.log("worker"))
        db1 = self.ctx.redis.db(1)
        try:
            self.produce([urls[0]], "celery-warm", "warm").finish()
            wait_until("celery W6 warm-up", lambda: (db1.dbsize() >= 1, 0),
                       [w], stall=180)
            base = db1.dbsize()
            cpu0 = proctree.cpu_seconds([w.pid])
            sampler = proctree.Sampler([w.pid], pss_every=10)
            prod = self.produce(urls, "celery", "u")
            t0 = prod.t0
            target = base + len(urls)
            t1 = wait_until("celery W6", lambda: (
                db1.dbsize() >= target, db1.dbsize()), [w])
            sampler.stop()
            cpu = proctree.cpu_seconds([w.pid]) - cpu0
            text, _, _, _ = prod.finish()
            rep = json.loads(text.strip().splitlines()[-1])
            t0 = rep.get("t_start", t0)
        finally:
            procs.stop([w], sig=signal.SIGKILL)  # as systems/celery.py
        digests, errors = [], []
        raw = []
        for k in range(0, len(urls), 1000):
            raw += db1.mget([f"celery-task-meta-u{i}"
                             for i in range(k, min(len(urls), k + 1000))])
        for doc in raw:
            doc = json.loads(doc) if doc else {}
            if doc.get("status") == "SUCCESS":
                digests.append(doc.get("result"))
            else:
                digests.append(None)
                if doc:
                    errors.append(str(doc.get("result"))[:200])
        return {"t_start": t0, "t_end": t1, "cpu_s": cpu,
                "peak_rss_bytes": sampler.peak(),
                "peak_pss_bytes": sampler.pss_peak, "digests": digests,
                "errors": errors[:5], "failed": len(errors)}


SYSTEMS = [Celeriac, Asyncio, Celery]


def configs(name, quick, concs):
    """(concurrency, extra config) pairs tried for one system: C = 100
    first (the equal-limits row), then larger limits for its best."""
    if name == "celery":
        if concs:
            return [(c, {"pool": p}) for c in concs
                    for p in ("prefork", "threads")]
        if quick:
            return [(100, {"pool": "prefork"}), (100, {"pool": "threads"})]
        # Past 100 prefork processes the 2 cores thrash (C=200: 62 URLs/s
        # against 103 at C=100, 9 GB of RSS); fewer may do better.
        return [(100, {"pool": "prefork"}), (100, {"pool": "threads"}),
                (20, {"pool": "prefork"}), (50, {"pool": "threads"}),
                (200, {"pool": "threads"})]
    if concs:
        return [(c, {}) for c in concs]
    return [(100, {}), (400, {})] if quick else \
        [(100, {}), (200, {}), (400, {}), (800, {})]


def verify(rec, want, what):
    """Every digest against hashlib of the served files."""
    wrong = [i for i, (g, w) in enumerate(zip(rec["digests"], want))
             if g != w]
    if rec["failed"] or wrong:
        raise BenchError(
            f"{what}: {rec['failed']} failed, {len(wrong)} of {len(want)} "
            f"digests missing or wrong (first: {wrong[:3]}); errors: "
            f"{rec['errors'][:2]}")
    return len(want)


def _ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "-"


def run(ctx, quick, want_sys, say, count=None, concs=None):
    """The whole W6; returns (its JSON record, [errors])."""
    n = count or (QUICK_COUNT if quick else FULL_COUNT)
    doc = {"workload": "W6", "count": n, "size": SIZE, "rtt_ms": RTT_MS,
           "runs": [], "skipped": {}}
    errors = []
    why = netlab.unavailable()
    if why is None and shutil.which("curl") is None:
        why = "curl is not installed (Debian package curl)"
    if why:
        say(f"W6 hybrid: SKIPPED ({why})")
        doc["skipped"]["all"] = why
        return doc, []
    say(f"W6 hybrid: {n:,} URLs x {SIZE // 1024} KiB at {RTT_MS} ms RTT "
        "(files in build/bench-cache)")
    d, names = datacache.url_files(n, SIZE)
    t = time.time()
    want = [datacache.sha512_file(os.path.join(d, x)) for x in names]
    say(f"  {n:,} reference digests (hashlib) in {time.time() - t:.1f} s")
    with netlab.NetLab(rtt_ms=RTT_MS, serve_dirs={"w6": d},
                       nginx_workers=2) as lab:
        doc["delay"] = lab.delay_method
        urls = [lab.url("w6/" + x) for x in names]
        secs, _ = netlab.curl_fetch(lab, ["w6/" + x for x in names], n, 100)
        doc["curl_c100_urls_per_s"] = n / secs
        say(f"  lab {lab.name} (delay by {lab.delay_method}); ceiling at "
            f"C=100: C/RTT = {100 / (RTT_MS / 1000):,.0f} URLs/s; curl "
            f"-Z --parallel-max 100: {n / secs:,.0f} URLs/s")
        for cls in SYSTEMS:
            if want_sys and cls.name not in want_sys:
                continue
            why = cls.available(ctx)
            if why:
                say(f"  {cls.name}: SKIPPED ({why})")
                doc["skipped"][cls.name] = why
                continue
            for conc, cfg in configs(cls.name, quick, concs):
                s = cls(ctx, conc, **cfg)
                ctx.redis.flush()
                rec = {"system": s.name, "conc": conc, "config": s.label}
                try:
                    r = s.run(lab, urls)
                    rec["verified"] = verify(r, want, f"W6 {s.name} "
                                             f"{s.label}")
                    secs = r["t_end"] - r["t_start"]
                    rec.update({
                        "seconds": secs, "urls_per_s": n / secs,
                        "of_c_rtt": n / secs / (conc / (RTT_MS / 1000)),
                        "peak_rss_bytes": r["peak_rss_bytes"],
                        "peak_pss_bytes": r["peak_pss_bytes"],
                        "cpu_s": r["cpu_s"]})
                    say(f"  {s.name:<9} {s.label:<22} "
                        f"{rec['urls_per_s']:8,.0f} URLs/s "
                        f"({rec['of_c_rtt']:4.0%} of C/RTT)  peak RSS "
                        f"{r['peak_rss_bytes'] / 1e6:7.1f} MB (PSS "
                        f"{r['peak_pss_bytes'] / 1e6:6.1f})  CPU "
                        f"{r['cpu_s']:6.1f} s  all {n:,} digests checked")
                except BenchError as e:
                    rec["error"] = str(e)
                    errors.append(str(e))
                    say(f"  {s.name} {s.label}: FAILED {e}")
                doc["runs"].append(rec)
    doc["delay_stats"] = lab.delay_stats
    summary(doc, say)
    return doc, errors


def summary(doc, say):
    """At C = 100 and at each system's best; celeriac against the peers."""
    ok = [r for r in doc["runs"] if "urls_per_s" in r]
    at100, best = {}, {}
    for r in ok:
        s = r["system"]
        if r["conc"] == 100 and r["urls_per_s"] > at100.get(
                s, {}).get("urls_per_s", 0):
            at100[s] = r
        if r["urls_per_s"] > best.get(s, {}).get("urls_per_s", 0):
            best[s] = r
    doc["at_c100"], doc["best"] = at100, best
    if not ok:
        return
    say("  W6 summary (URLs/s; peak RSS / PSS, MB):")

    def fig(r):
        return (f"{r['urls_per_s']:7,.0f} ({r['peak_rss_bytes'] / 1e6:.0f} /"
                f" {r['peak_pss_bytes'] / 1e6:.0f} MB, {r['config']})")
    for s in best:
        a = at100.get(s)
        say(f"    {s:<9} C=100: {fig(a) if a else '-'}   best: "
            f"{fig(best[s])}")

    def rate(d, s):
        return (d.get(s) or {}).get("urls_per_s")
    for a, b in (("celeriac", "asyncio"), ("celeriac", "celery"),
                 ("asyncio", "celery")):
        if a in best and b in best:
            say(f"    {a} / {b}: at C=100 "
                f"{_ratio(rate(at100, a), rate(at100, b))}, best against "
                f"best {_ratio(rate(best, a), rate(best, b))}")
