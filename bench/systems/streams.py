# SPDX-License-Identifier: MIT
"""What celeriac and the raw-Redis ceiling share: protocol v1 keys.  A task
is finished when its stream entry is removed (the finish script does
XACK + SET result + XTRIM/XDEL atomically), so done = entries ever added (XINFO
STREAM entries-added, Redis 7) - entries left (length)."""

import redis

from .base import System, json_field

PREFIX = "celeriac:"
QUEUE = PREFIX + "queue:default"


class StreamSystem(System):
    # entries-added, read once no producer adds entries any more: XINFO
    # STREAM sends the stream's first and last entries back with it (in W2
    # two 256 KiB messages a poll, ~2,000 polls/s: 0.2 cores of the bench
    # and Redis work the measured system did not ask for), XLEN does not.
    added = None

    def producing(self, running):
        self.added = None if running else self.entries_added()

    def info(self):
        r = self.ctx.redis.client
        try:
            info = r.execute_command("XINFO", "STREAM", QUEUE)
        except redis.exceptions.ResponseError:  # no such key: none yet
            return {}
        return dict(zip(info[::2], info[1::2]))

    def entries_added(self):
        return self.info().get(b"entries-added", 0)

    def done(self):
        if self.added is not None:
            return self.added - self.ctx.redis.client.xlen(QUEUE)
        info = self.info()
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
