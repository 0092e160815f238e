# SPDX-License-Identifier: MIT
"""RQ 1.13 (Debian python3-rq): two `rq worker` processes, either the
default forking Worker (one work horse per job) or SimpleWorker (jobs run
in the worker process)."""

import importlib.util
import os

from .base import System


class RQ(System):
    name = "rq"

    @classmethod
    def available(cls, ctx):
        if importlib.util.find_spec("rq") is None:
            return "python3-rq is not installed"
        return None

    @classmethod
    def sweep(cls, ctx):
        return [{"worker": "simple"}, {"worker": "fork"}]

    @property
    def env(self):
        return dict(os.environ, BENCH_REDIS=self.ctx.redis.url)

    @property
    def cwd(self):
        return self.ctx.peers_dir

    def worker_cmds(self):
        cmd = [self.ctx.python, "-m", "rq.cli", "worker",
               "--url", self.ctx.redis.url, "--logging_level", "WARNING",
               "--quiet", "--disable-job-desc-logging"]
        if self.cfg["worker"] == "simple":
            cmd += ["--worker-class", "rq.worker.SimpleWorker"]
        return [cmd + ["bench"], cmd + ["bench"]]

    def producer_cmd(self, wl, mode, count, start):
        return [self.ctx.python, "rq_produce.py",
                "--mode", mode, *self.task_args(wl, count, start)]

    def done(self):
        return self.ctx.redis.client.zcard("rq:finished:bench")

    def failures(self):
        return self.ctx.redis.client.zcard("rq:failed:bench")

    def results(self, ids):
        from rq.job import Job
        jobs = Job.fetch_many(ids, connection=self.ctx.redis.client)
        return {tid: (job.return_value() if job is not None else None)
                for tid, job in zip(ids, jobs)}
