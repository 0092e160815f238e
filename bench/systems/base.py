# SPDX-License-Identifier: MIT
"""What the bench needs from each system.

A System is one configuration of one task queue.  The bench starts its
workers (worker_cmds), runs its producer (producer_cmd, the shared command
line of bench/peers/pyproducer.py), watches how many tasks are finished
(done) and reads back results for the sample it verifies (results).
"""

import json
import signal

PEER_BACKLOG = 200_000
PEER_DRAIN_SECONDS = 30


class System:
    name = "?"
    kind = "peer"  # "celeriac", "ceiling" or "peer"
    verifies = True  # False: results are placeholders (no hashing)

    def __init__(self, ctx, **cfg):
        self.ctx, self.cfg = ctx, cfg

    @property
    def label(self):
        return " ".join(f"{k}={v}" for k, v in self.cfg.items()) or "-"

    @classmethod
    def available(cls, ctx):
        """None when the system can run, else why not."""
        return None

    @classmethod
    def sweep(cls, ctx):
        """Configurations worth trying; the best of them runs everything."""
        return [{}]

    @classmethod
    def default(cls, ctx):
        """The configuration --quick uses without a sweep."""
        return cls.sweep(ctx)[0]

    def supports(self, wl):
        # A peer drains the W5 backlog at a few hundred tasks/s: --quick
        # leaves it out.
        return not (wl.kind == "backlog" and self.kind == "peer" and
                    self.ctx.quick)

    def backlog(self, wl):
        """(tasks queued, seconds the drain may last or None) for W5.  A
        peer queues at most PEER_BACKLOG tasks (Celery enqueues ~3,000/s)
        and drains for at most PEER_DRAIN_SECONDS."""
        if self.kind == "peer":
            return min(wl.count, PEER_BACKLOG), PEER_DRAIN_SECONDS
        return wl.count, None

    env = None
    cwd = None
    # How the bench stops the workers once a run is measured and checked.
    stop_signal = signal.SIGTERM

    def worker_cmds(self):
        raise NotImplementedError

    def producer_cmd(self, wl, mode, count, start):
        raise NotImplementedError

    def task_args(self, wl, count, start):
        """Which tasks to make, as every producer takes them."""
        return ["--count", str(count), "--start", str(start),
                "--size", str(wl.size), "--iterations", str(wl.iterations),
                "--filler", self.ctx.filler_path]

    def done(self):
        """Tasks finished since the last flush, read from Redis."""
        raise NotImplementedError

    def producing(self, running):
        """Whether a producer may still add tasks (the measurement says so
        before it polls done(), and again when its producer has exited): a
        system may then count finished tasks more cheaply."""

    def failures(self):
        return 0

    def results(self, ids):
        """{id: hex digest or None} for the given task ids."""
        raise NotImplementedError


def json_field(raw, *path):
    if raw is None:
        return None
    doc = json.loads(raw)
    for p in path:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(p)
    return doc
