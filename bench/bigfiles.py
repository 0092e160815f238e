# SPDX-License-Identifier: MIT
"""W7 big files through the `path` source: 4 files of 1 GiB (random bytes,
generated once into build/bench-cache/) hashed by

  celeriac   one celeriac-worker --concurrency 2 --files-root DIR, four
             tasks {"task":"hash","args":{"path":"bigK.bin"}} sent with
             redis-py;
  sha512sum  the same 4 files with two sha512sum processes at once, two
             files each (both cores): the reference of the issue's target;
  openssl    the same with `openssl dgst -sha512` (coreutils' sha512sum
             has its own SHA-512, slower than OpenSSL's, which celeriac's
             children use).

The files are read once before the runs, so every run reads them from the
page cache.  Figures: MB/s (bytes of the 4 files / seconds from the first
send to the last result), celeriac's MB/s against sha512sum's, and the
peak RSS of the worker parent and of its largest child (memory must stay
flat however large the file).  celeriac's digests are checked against
sha512sum's.  Every system runs 3 times (--quick: 2) and the fastest run
is kept (a ceiling is a capacity, and the machine is shared).
"""

import json
import os
import time

import datacache
import hybrid
import procs
import proctree
from procs import BenchError
from systems.streams import PREFIX, QUEUE

FILES = 4
FULL_MIB, QUICK_MIB = 1024, 256


# The reference (the target is against sha512sum), and OpenSSL's
# command line for comparison: coreutils' sha512sum does not use OpenSSL.
HASHERS = {"sha512sum": ["sha512sum"],
           "openssl": ["openssl", "dgst", "-sha512", "-r"]}


def sha512sum_run(ctx, d, names, tool="sha512sum"):
    """Two processes of the tool, half the files each; (seconds, {name:
    digest})."""
    halves = [names[0::2], names[1::2]]
    outs = [open(os.path.join(ctx.tmp_dir, f"w7-sum{k}.txt"), "w+b")
            for k in range(2)]
    t0 = time.time()
    ps = [procs.spawn(HASHERS[tool] + half, cwd=d, stdout=out,
                      log=ctx.log_path(f"W7-{tool}.log"))
          for half, out in zip(halves, outs)]
    for p in ps:
        p.wait()
    secs = time.time() - t0
    procs.stop(ps)
    digests = {}
    for p, out in zip(ps, outs):
        if p.returncode != 0:
            raise BenchError(f"W7: {tool} exited {p.returncode}; see "
                             f"{ctx.log_path(f'W7-{tool}.log')}")
        out.seek(0)
        for line in out.read().decode().splitlines():
            hexd, name = line.split(None, 1)
            digests[name.lstrip("*")] = hexd
        out.close()
    return secs, digests


def celeriac_available(ctx):
    if "--files-root" not in hybrid.worker_help(ctx):
        return ("this celeriac-worker has no path source yet (--help "
                "shows no --files-root)")
    return None


def celeriac_run(ctx, d, names):
    r = ctx.redis.client
    ctx.redis.flush()
    cmd = [os.path.join(ctx.bin_dir, "celeriac-worker"), "--redis",
           ctx.redis.url, "--concurrency", "2", "--log-level", "warn",
           "--files-root", d]
    w = procs.spawn(cmd, log=ctx.log_path("W7-celeriac-worker.log"))

    def send(items):
        pipe = r.pipeline(transaction=False)
        for tid, path in items:
            pipe.xadd(QUEUE, {"msg": json.dumps(
                {"v": 1, "task": "hash", "id": tid, "args": {"path": path}})})
        pipe.execute()

    def done():
        keys = r.keys(f"{PREFIX}result:*")
        return len(keys)

    try:
        send([("warm", "warm.bin")])
        hybrid.wait_until("celeriac W7 warm-up", lambda: (done() >= 1, 0),
                          [w])
        sampler = proctree.Sampler([w.pid])
        cpu0 = proctree.cpu_seconds([w.pid])
        t0 = time.time()
        send([(f"f{k}", n) for k, n in enumerate(names)])
        t1 = hybrid.wait_until("celeriac W7", lambda: (
            done() >= 1 + len(names), done()), [w])
        sampler.stop()
        cpu = proctree.cpu_seconds([w.pid]) - cpu0
    finally:
        procs.stop([w])
    digests, errors = {}, []
    for k, n in enumerate(names):
        raw = r.get(f"{PREFIX}result:f{k}")
        doc = json.loads(raw) if raw else {}
        if doc.get("status") == "SUCCESS":
            digests[n] = (doc.get("result") or {}).get("digest")
        else:
            errors.append(f"{n}: {doc.get('status')} {doc.get('error')}")
    children = [rss for pid, rss in sampler.peak_by_pid.items()
                if pid != w.pid]
    return {"seconds": t1 - t0, "cpu_s": cpu, "digests": digests,
            "errors": errors, "peak_rss_bytes": sampler.peak(),
            "parent_peak_rss_bytes": sampler.peak_by_pid.get(w.pid, 0),
            "child_peak_rss_bytes": max(children, default=0)}


def run(ctx, quick, want_sys, say, size_mib=None):
    """The whole W7; returns (its JSON record, [errors])."""
    mib = size_mib or (QUICK_MIB if quick else FULL_MIB)
    size = mib << 20
    total = FILES * size
    doc = {"workload": "W7", "files": FILES, "size": size, "runs": [],
           "skipped": {}}
    errors = []
    say(f"W7 big files: {FILES} x {mib:,} MiB through the path source "
        "(files in build/bench-cache)")
    t = time.time()
    d, names = datacache.big_files(FILES, size)
    datacache.read_through([os.path.join(d, n) for n in names])
    say(f"  files ready and read into the page cache in "
        f"{time.time() - t:.1f} s")
    want = None
    tries = 2 if quick else 3
    for tool in HASHERS:
        best = None
        for _ in range(tries):
            secs, got = sha512sum_run(ctx, d, names, tool)
            best = secs if best is None else min(best, secs)
        if want is None:
            want = got
        elif got != want:
            errors.append(f"W7: {tool} and sha512sum disagree: {got} {want}")
        doc[tool] = {"seconds": best, "mb_per_s": total / best / 1e6}
        say(f"  {tool} x2 processes: {total / best / 1e6:8,.0f} MB/s "
            f"({best:.2f} s, best of {tries})")
    if want_sys and "celeriac" not in want_sys:
        return doc, errors
    why = celeriac_available(ctx)
    if why:
        say(f"  celeriac: SKIPPED ({why})")
        doc["skipped"]["celeriac"] = why
        return doc, errors
    try:
        r = None
        for _ in range(tries):  # the best, as for the tools
            one = celeriac_run(ctx, d, names)
            wrong = [n for n in names if one["digests"].get(n) != want[n]]
            if one["errors"] or wrong:
                raise BenchError(f"W7 celeriac: {len(wrong)} of {FILES} "
                                 f"digests missing or wrong against "
                                 f"sha512sum; errors: {one['errors'][:2]}")
            if r is None or one["seconds"] < r["seconds"]:
                r = one
        mbs = total / r["seconds"] / 1e6
        rec = {"system": "celeriac", "seconds": r["seconds"],
               "mb_per_s": mbs, "of_sha512sum": mbs /
               doc["sha512sum"]["mb_per_s"], "of_openssl": mbs /
               doc["openssl"]["mb_per_s"], "cpu_s": r["cpu_s"],
               "peak_rss_bytes": r["peak_rss_bytes"],
               "parent_peak_rss_bytes": r["parent_peak_rss_bytes"],
               "child_peak_rss_bytes": r["child_peak_rss_bytes"],
               "verified": FILES}
        doc["runs"].append(rec)
        say(f"  celeriac --concurrency 2: {mbs:8,.0f} MB/s (best of {tries}) "
            f"({rec['of_sha512sum']:.0%} of sha512sum x2, "
            f"{rec['of_openssl']:.0%} of openssl x2); peak RSS parent "
            f"{rec['parent_peak_rss_bytes'] / 1e6:.1f} MB, largest child "
            f"{rec['child_peak_rss_bytes'] / 1e6:.1f} MB, all "
            f"{rec['peak_rss_bytes'] / 1e6:.1f} MB; digests = sha512sum's")
    except BenchError as e:
        doc["runs"].append({"system": "celeriac", "error": str(e)})
        errors.append(str(e))
        say(f"  celeriac: FAILED {e}")
    return doc, errors
