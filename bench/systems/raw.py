# SPDX-License-Identifier: MIT
"""The raw-Redis ceiling: bench/rawredis.c does celeriac's Redis work per
task (XADD; XREADGROUP; EVALSHA of the finish script: XACK, SET result,
XTRIM/XDEL) pipelined, with no hashing and no JSON parsing.  Its results carry a
placeholder digest, so they are checked for presence only."""

import os

from .streams import StreamSystem


class Raw(StreamSystem):
    name = "raw-redis"
    kind = "ceiling"
    verifies = False

    @classmethod
    def available(cls, ctx):
        if not os.access(ctx.raw or "", os.X_OK):
            return f"{ctx.raw} is not built (make bench builds it)"
        return None

    @classmethod
    def sweep(cls, ctx):
        return [{"batch": 100}]

    def supports(self, wl):
        return wl.iterations == 1  # no hashing: W3 would repeat W1

    def worker_cmds(self):
        return [[self.ctx.raw, "work", "--redis", self.ctx.redis.url,
                 "--batch", str(self.cfg["batch"])]]

    def producer_cmd(self, wl, mode, count, start):
        if mode == "latency":
            return self.latency_cmd(wl, count, start)
        return [self.ctx.raw, "send", "--redis", self.ctx.redis.url,
                *self.task_args(wl, count, start)]
