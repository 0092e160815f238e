# SPDX-License-Identifier: MIT
"""How one system is measured on one workload, the same way for every
system:

  end-to-end  flush; start the workers; warm up (2 tasks, waited for);
              run the producer; end when the last result is in Redis.
              Clock: from the producer's own start of enqueueing (or its
              process start for a CLI that does not report it).
  drain       flush; enqueue everything with no worker running; start the
              workers; end when the last result is in.  Clock: from the
              worker start.  Also gives the producer-only rate.
  latency     flush; start; warm up; the producer sends one task at a time
              and waits for its result; p50/p99 of those round trips.
  backlog     as drain, with RSS sampled while draining; a peer may drain
              for a limited time only (System.backlog).

Every run checks a sample of results against hashlib and fails loudly on
a wrong or missing result.
"""

import json
import os
import statistics
import time

import procs
import proctree
import workloads
from procs import BenchError

STALL_SECONDS = 90
QUIET_CORES = 0.3


class Runner:
    def __init__(self, ctx, system, wl):
        self.ctx, self.sys, self.wl = ctx, system, wl
        self.tag = f"{system.name}-{wl.key}"
        self.workers = []

    # -- pieces ------------------------------------------------------------

    def log(self, what):
        return self.ctx.log_path(f"{self.tag}-{what}.log")

    def start_workers(self):
        self.workers = [procs.spawn(cmd, cwd=self.sys.cwd, env=self.sys.env,
                                    log=self.log("worker"))
                        for cmd in self.sys.worker_cmds()]
        return [p.pid for p in self.workers]

    def stop_workers(self):
        procs.stop(self.workers, sig=self.sys.stop_signal)
        self.workers = []

    def start_producer(self, mode, count, start=0):
        cmd = self.sys.producer_cmd(self.wl, mode, count, start)
        return procs.Producer(cmd, cwd=self.sys.cwd, env=self.sys.env,
                              log=self.log("producer"))

    def report(self, producer):
        """The producer's JSON line, with its clock (its own, or its process
        lifetime for a CLI that prints none) and its CPU seconds."""
        out, cpu, t0, t1 = producer.finish()
        rep = {}
        for line in out.splitlines():
            if line.startswith("{"):
                rep = json.loads(line)
        if not rep.get("t_start"):
            rep["t_start"], rep["t_end"] = t0, t1
        rep["cpu_s"] = cpu
        return rep

    def produce(self, mode, count, start=0):
        return self.report(self.start_producer(mode, count, start))

    def warm_up(self):
        """Two tasks sent and waited for: the workers are connected and
        ready."""
        self.produce("latency", 2, workloads.WARMUP_INDEX)

    def wait_done(self, target, since, deadline=None, producer=None):
        """Polls until target tasks are done (or the deadline passes).
        Returns (time of the first done task seen, time of the last, done).
        A producer still running is not held against a stall."""
        # Once no producer adds tasks, the system may count them more
        # cheaply (StreamSystem: XLEN instead of XINFO STREAM); only while
        # this wait lasts.
        producing = producer is not None and producer.running()
        self.sys.producing(producing)
        try:
            return self.poll_done(target, since, deadline, producer,
                                  producing)
        finally:
            self.sys.producing(True)

    def poll_done(self, target, since, deadline, producer, producing):
        t_first, last, last_change = None, -1, time.time()
        while True:
            self.check_workers()
            if producing and not producer.running():
                producing = False
                self.sys.producing(False)
            if producer and not producer.running() and \
                    producer.proc.returncode != 0:
                self.report(producer)  # raises with the exit status
            now = time.time()
            n = self.sys.done()
            if n > 0 and t_first is None:
                t_first = now
            if n >= target or (deadline and now >= deadline):
                return t_first or now, now, n
            if n != last or (producer and producer.running()):
                last, last_change = n, now
            elif now - last_change > STALL_SECONDS:
                raise BenchError(f"{self.tag}: stuck at {n}/{target} tasks "
                                 f"for {STALL_SECONDS} s; see "
                                 f"{self.log('worker')}")
            time.sleep(min(0.05, max(0.0005, (now - since) / 1000)))

    def check_workers(self):
        for p in self.workers:
            if p.poll() is not None:
                raise BenchError(f"{self.tag}: a worker exited with "
                                 f"{p.returncode}; see {self.log('worker')}")

    def verify(self, count, start=0, partial=False):
        """Checks a sample of results; returns how many were checked.  With
        partial (a drain cut short) missing results are allowed, wrong ones
        are not."""
        fails = self.sys.failures()
        if fails:
            raise BenchError(f"{self.tag}: {fails} tasks failed")
        idx = [start + i for i in workloads.sample(count)]
        got = self.sys.results([workloads.task_id(i) for i in idx])
        if partial:
            idx = [i for i in idx if got.get(workloads.task_id(i))]
            if not idx:
                raise BenchError(f"{self.tag}: no result in the sample")
        for i in idx:
            tid = workloads.task_id(i)
            if got.get(tid) is None:
                raise BenchError(f"{self.tag}: no result for task {tid}")
            if not self.sys.verifies:
                continue
            want = workloads.digest(
                workloads.payload(self.ctx.filler, i, self.wl.size),
                self.wl.iterations)
            if got[tid] != want:
                raise BenchError(f"{self.tag}: wrong digest for task {tid}: "
                                 f"{got[tid]!r}, expected {want}")
        return len(idx)

    def settle(self):
        """Waits (up to ctx.quiet_wait seconds) until the rest of the machine
        uses less than QUIET_CORES, so that a burst of someone else's work
        does not land in the figures.  After a wait in vain (the machine is
        busy for good) the next waits are short.  Returns what it saw."""
        t0 = time.time()
        limit = self.ctx.quiet_wait
        while True:
            a = self.snapshot(None)
            time.sleep(0.25)
            b = self.snapshot(None)
            other = (b["machine"] - a["machine"] - (b["redis"] - a["redis"])
                     - (b["bench"] - a["bench"])) / (b["wall"] - a["wall"])
            waited = time.time() - t0
            if other < QUIET_CORES or waited >= limit:
                quiet = other < QUIET_CORES
                self.ctx.quiet_wait = self.ctx.quiet_max if quiet else \
                    min(1, self.ctx.quiet_max)
                return {"waited_s": round(waited, 1),
                        "other_cores": round(max(0.0, other), 2)}

    def snapshot(self, roots):
        """CPU counters at the start of a measured window."""
        t = os.times()
        return {"worker": proctree.cpu_seconds(roots) if roots else 0.0,
                "redis": self.ctx.redis.cpu_seconds(),
                "machine": proctree.machine_busy_seconds(),
                "bench": t.user + t.system,
                "wall": time.time()}

    def usage(self, roots, snap, seconds, count, sampler, producer_cpu=0.0):
        """What the window cost: CPU of the workers, Redis, the producer, and
        of everything else on the machine (other_cores: noise from outside
        this bench, which the run cannot control but reports)."""
        end = self.snapshot(roots)
        sampler.stop()
        d = {k: end[k] - snap[k] for k in snap}
        other = d["machine"] - d["worker"] - d["redis"] - d["bench"] - \
            producer_cpu
        # Cores used over the whole window measured (which may be a little
        # longer than `seconds`: it includes starting the producer).
        cores = (lambda x: x / d["wall"])
        return {
            "seconds": seconds,
            "tasks_per_s": count / seconds if seconds > 0 else None,
            "worker_cpu_s": d["worker"],
            "worker_cpu_s_per_1k": d["worker"] / count * 1000,
            "worker_cores": cores(d["worker"]),
            "redis_cpu_s": d["redis"],
            "redis_cores": cores(d["redis"]),
            "producer_cpu_s": producer_cpu,
            "producer_cores": cores(producer_cpu),
            "bench_cores": cores(d["bench"]),
            "other_cores": cores(max(0.0, other)),
            "peak_rss_bytes": sampler.peak(),
        }

    # -- flows ---------------------------------------------------------------

    def end_to_end(self, count):
        self.ctx.redis.flush()
        quiet = self.settle()
        roots = self.start_workers()
        try:
            self.warm_up()
            target = self.sys.done() + count
            snap = self.snapshot(roots)
            sampler = proctree.Sampler(roots)
            # Results are watched while the producer runs: the clock stops
            # at the last result even if the producer takes its time to exit.
            producer = self.start_producer("bulk", count)
            _, t_last, _ = self.wait_done(target, producer.t0,
                                          producer=producer)
            rep = self.report(producer)
            res = self.usage(roots, snap, t_last - rep["t_start"], count,
                             sampler, rep["cpu_s"])
            res["settle"] = quiet
            res["verified"] = self.verify(count)
        finally:
            self.stop_workers()
        return res

    def drain(self, count, timebox=None):
        self.ctx.redis.flush()
        rep = self.produce("bulk", count)
        enqueue = {"tasks_per_s": count / (rep["t_end"] - rep["t_start"]),
                   "producer_cpu_s": rep["cpu_s"]}
        quiet = self.settle()
        snap = self.snapshot(None)
        t0 = time.time()
        roots = self.start_workers()
        try:
            sampler = proctree.Sampler(roots)
            deadline = t0 + timebox if timebox else None
            t_first, t_last, n = self.wait_done(count, t0, deadline)
            res = self.usage(roots, snap, t_last - t0, n, sampler)
            res["settle"] = quiet
            res["first_result_s"] = t_first - t0
            steady = t_last - t_first
            res["steady_tasks_per_s"] = (n - 1) / steady if steady > 0 \
                else None
            res["done"] = n
            res["timeboxed"] = n < count
            res["rss_flat"] = sampler.flatness(t_first - sampler.t0,
                                               t_last - sampler.t0)
            res["verified"] = self.verify(count, partial=n < count)
        finally:
            self.stop_workers()
        return res, enqueue

    def latency(self, count):
        self.ctx.redis.flush()
        quiet = self.settle()
        roots = self.start_workers()
        try:
            self.warm_up()
            snap = self.snapshot(roots)
            sampler = proctree.Sampler(roots)
            t0 = time.time()
            rep = self.produce("latency", count)
            res = self.usage(roots, snap, time.time() - t0, count, sampler,
                             rep["cpu_s"])
            lat = sorted(rep["latencies"])
            res["settle"] = quiet
            res["p50_ms"] = statistics.median(lat) * 1000
            res["p99_ms"] = lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1000
            res["max_ms"] = lat[-1] * 1000
            res["verified"] = self.verify(count)
        finally:
            self.stop_workers()
        return res
