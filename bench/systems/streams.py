# SPDX-License-Identifier: MIT
"""What celeriac and the raw-Redis ceiling share: protocol v1 keys.  A task
is finished when its stream entry is removed (the finish script does
XACK + SET result + XTRIM/XDEL atomically), so done = entries ever added (XINFO
STREAM entries-added, Redis 7) - entries left (length)."""

from .base import System, json_field

PREFIX = "celeriac:"
QUEUE = PREFIX + "queue:default"


class StreamSystem(System):
    def done(self):
        info = self.ctx.redis.client.execute_command("XINFO", "STREAM", QUEUE) \
            if self.ctx.redis.client.exists(QUEUE) else []
        info = dict(zip(info[::2], info[1::2]))
        return info.get(b"entries-added", 0) - info.get(b"length", 0)

    def results(self, ids):
        raw = self.ctx.redis.client.mget([f"{PREFIX}result:{i}" for i in ids])
        out = {}
        for tid, doc in zip(ids, raw):
            ok = json_field(doc, "status") == "SUCCESS"
            out[tid] = json_field(doc, "result", "digest") if ok else None
        return out

    def latency_cmd(self, wl, count, start):
        """rawredis latency: a minimal protocol client, one task at a time
        with reply_to, XADD and XREAD BLOCK in one write."""
        return [self.ctx.raw, "latency", "--redis", self.ctx.redis.url,
                *self.task_args(wl, count, start)]
