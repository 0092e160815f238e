# SPDX-License-Identifier: MIT
"""BullMQ (npm, bench/peers/package.json): two Node processes, each a
Worker with --concurrency jobs in flight; the sweep finds the best
concurrency.  Jobs are added with Queue.addBulk."""

import json
import os
import shutil

from .base import System


class BullMQ(System):
    name = "bullmq"

    @classmethod
    def available(cls, ctx):
        if shutil.which("node") is None:
            return "node is not installed"
        if not os.path.isdir(os.path.join(ctx.peers_dir, "node_modules",
                                          "bullmq")):
            return "bench/peers/node_modules is missing (npm ci)"
        return None

    @classmethod
    def sweep(cls, ctx):
        return [{"concurrency": c} for c in (1, 4, 16, 64)]

    @classmethod
    def default(cls, ctx):
        return {"concurrency": 16}

    @property
    def env(self):
        return dict(os.environ, BENCH_REDIS=self.ctx.redis.url)

    @property
    def cwd(self):
        return self.ctx.peers_dir

    def worker_cmds(self):
        cmd = ["node", "bullmq_worker.js",
               "--concurrency", str(self.cfg["concurrency"])]
        return [cmd, cmd]

    def producer_cmd(self, wl, mode, count, start):
        return ["node", "bullmq_produce.js",
                "--mode", mode, *self.task_args(wl, count, start)]

    def done(self):
        return self.ctx.redis.client.zcard("bull:bench:completed")

    def failures(self):
        return self.ctx.redis.client.zcard("bull:bench:failed")

    def results(self, ids):
        r = self.ctx.redis.client
        with r.pipeline(transaction=False) as p:
            for tid in ids:
                p.hget(f"bull:bench:{tid}", "returnvalue")
            raw = p.execute()
        return {tid: json.loads(v) if v else None for tid, v in zip(ids, raw)}
