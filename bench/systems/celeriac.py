# SPDX-License-Identifier: MIT
"""celeriac: bin/celeriac-worker with --concurrency 2; tasks enqueued by the
project's own CLI (bin/celeriac send --batch FILE), W4 by rawredis latency
(a minimal protocol client, so the figure is the worker's round trip and
not a process start per task)."""

import json
import os
import shlex

import workloads

from .streams import StreamSystem


class Celeriac(StreamSystem):
    name = "celeriac"
    kind = "celeriac"

    @classmethod
    def available(cls, ctx):
        for b in ("celeriac-worker", "celeriac"):
            if not os.access(os.path.join(ctx.bin_dir, b), os.X_OK):
                return f"{ctx.bin_dir}/{b} is not built"
        if not os.access(ctx.raw or "", os.X_OK):
            return f"{ctx.raw} is not built (W4 uses it)"
        return None

    @classmethod
    def sweep(cls, ctx):
        """The worker's default (an adaptive window bounded by 512), other
        bounds, and fixed windows (`--window fixed`: always --prefetch
        tasks in hand, the tuned setting before the adaptive window)."""
        return [{}, {"prefetch": 32}, {"prefetch": 128}, {"prefetch": 512},
                {"prefetch": 128, "window": "fixed"},
                {"prefetch": 512, "window": "fixed"}]

    @classmethod
    def default(cls, ctx):
        return {}

    def worker_cmds(self):
        cmd = [os.path.join(self.ctx.bin_dir, "celeriac-worker"),
               "--redis", self.ctx.redis.url, "--concurrency", "2",
               "--log-level", "warn"]
        if "prefetch" in self.cfg:
            cmd += ["--prefetch", str(self.cfg["prefetch"])]
        if "window" in self.cfg:
            cmd += ["--window", self.cfg["window"]]
        # More worker options, e.g. --events to measure what it costs.
        cmd += shlex.split(os.environ.get("CELERIAC_BENCH_WORKER_ARGS", ""))
        return [cmd]

    def producer_cmd(self, wl, mode, count, start):
        if mode == "latency":
            return self.latency_cmd(wl, count, start)
        return [os.path.join(self.ctx.bin_dir, "celeriac"), "send",
                "--redis", self.ctx.redis.url, "--queue", "default",
                "--batch", self.batch_file(wl, count, start)]

    def batch_file(self, wl, count, start):
        """The JSON lines `celeriac send --batch` reads, written once."""
        path = os.path.join(self.ctx.tmp_dir,
                            f"batch-{wl.key}-{count}-{start}.jsonl")
        if os.path.exists(path):
            return path
        filler = self.ctx.filler
        args = {"iterations": wl.iterations} if wl.iterations > 1 else {}
        with open(path + ".tmp", "w") as f:
            for i in range(start, start + count):
                args["data"] = workloads.payload(filler, i, wl.size)
                f.write(json.dumps({"task": "hash", "id": workloads.task_id(i),
                                    "args": args}, separators=(",", ":")))
                f.write("\n")
        os.rename(path + ".tmp", path)
        return path
