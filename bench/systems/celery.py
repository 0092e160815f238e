# SPDX-License-Identifier: MIT
"""Celery 5.2 (Debian python3-celery): prefork pool, concurrency 2, Redis
broker on db 0 and Redis result backend on db 1.  The sweep tries prefetch
multipliers with and without -O fair; gossip, mingle and heartbeat are off
(they only add broker traffic for clusters)."""

import importlib.util
import json
import os
import signal

from .base import System


class Celery(System):
    name = "celery"
    # Warm or cold shutdown takes ~2 s (the consumer sits in BRPOP); the run
    # is measured and checked by then, so the tree is simply killed.
    stop_signal = signal.SIGKILL

    @classmethod
    def available(cls, ctx):
        if importlib.util.find_spec("celery") is None:
            return "python3-celery is not installed"
        return None

    @classmethod
    def sweep(cls, ctx):
        return [{"prefetch": p, "fair": f} for f in (True, False)
                for p in (1, 4, 16, 64)]

    @classmethod
    def default(cls, ctx):
        return {"prefetch": 4, "fair": True}

    @property
    def env(self):
        return dict(os.environ, BENCH_BROKER=self.ctx.redis.url_db(0),
                    BENCH_BACKEND=self.ctx.redis.url_db(1))

    @property
    def cwd(self):
        return self.ctx.peers_dir

    def worker_cmds(self):
        cmd = [self.ctx.python, "-m", "celery", "-A", "celery_app", "worker",
               "--pool", "prefork", "--concurrency", "2",
               "--loglevel", "WARNING", "--without-gossip",
               "--without-mingle", "--without-heartbeat",
               "--prefetch-multiplier", str(self.cfg["prefetch"])]
        if self.cfg["fair"]:
            cmd += ["-O", "fair"]
        return [cmd]

    def producer_cmd(self, wl, mode, count, start):
        return [self.ctx.python, "celery_produce.py",
                "--mode", mode, *self.task_args(wl, count, start)]

    def done(self):
        return self.ctx.redis.db(1).dbsize()

    def results(self, ids):
        raw = self.ctx.redis.db(1).mget([f"celery-task-meta-{i}" for i in ids])
        out = {}
        for tid, doc in zip(ids, raw):
            doc = json.loads(doc) if doc else {}
            out[tid] = doc.get("result") if doc.get("status") == "SUCCESS" \
                else None
        return out
