# SPDX-License-Identifier: MIT
"""Resident memory and CPU time of a process tree, read from /proc.

A worker is a set of root processes (the ones the bench started) and all
their descendants.  CPU time counts utime+stime of every live process plus
cutime+cstime (children already reaped), so a tree whose members come and
go (RQ forks one work horse per job) is still counted in full, as long as
the difference of two readings is taken while the roots are alive.
"""

import os
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out


def tree(roots):
    """Every live pid under (and including) the roots."""
    seen, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        if pid in seen or not os.path.exists(f"/proc/{pid}"):
            continue
        seen.append(pid)
        todo.extend(_children(pid))
    return seen


def _threads_ns(pid):
    """Nanoseconds on CPU of the live threads (schedstat), which is exact
    where stat's clock ticks are 10 ms coarse."""
    ns = 0
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                ns += int(f.read().split()[0])
    except (OSError, ValueError):
        pass
    return ns


def _stat(pid):
    """(cpu seconds incl. reaped children, rss bytes) of one process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0
    # fields[0] is the state (field 3); utime, stime, cutime, cstime are
    # fields 14..17, rss (pages) is field 24.  Threads that have exited are
    # only in utime+stime, hence the max.
    own = max((int(fields[11]) + int(fields[12])) / TICK,
              _threads_ns(pid) / 1e9)
    reaped = (int(fields[13]) + int(fields[14])) / TICK
    return own + reaped, int(fields[21]) * PAGE


def machine_busy_seconds():
    """CPU seconds all cores spent running processes (user, nice, system)
    or stolen by the hypervisor, since boot.  Interrupt time is left out:
    the kernel does not charge it to the processes that cause it."""
    with open("/proc/stat") as f:
        user, nice, system, _, _, _, _, steal = \
            (int(x) for x in f.readline().split()[1:9])
    return (user + nice + system + steal) / TICK


def _pss(pid):
    """Proportional set size in bytes (pages shared by n processes count
    1/n each), from smaps_rollup; 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def cpu_seconds(roots):
    return sum(_stat(p)[0] for p in tree(roots))


def rss_bytes(roots):
    return sum(_stat(p)[1] for p in tree(roots))


class Sampler:
    """Samples the RSS of a tree in a thread until stop(); keeps the series."""

    def __init__(self, roots, interval=0.05, pss_every=0):
        """pss_every=n: every n-th sample also sums the tree's PSS (dearer
        to read than RSS; a sum of RSS counts shared pages once per
        process, which overstates a tree of many forked processes)."""
        self.roots, self.interval = list(roots), interval
        self.samples = []  # (seconds since start, rss bytes)
        self.peak_by_pid = {}  # pid: its largest rss seen
        self.pss_every, self.pss_peak, self._n = pss_every, 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.t0 = time.time()
        self._thread.start()

    def _sample(self):
        total = 0
        pids = tree(self.roots)
        for pid in pids:
            rss = _stat(pid)[1]
            total += rss
            if rss > self.peak_by_pid.get(pid, 0):
                self.peak_by_pid[pid] = rss
        self.samples.append((time.time() - self.t0, total))
        if self.pss_every and self._n % self.pss_every == 0:
            self.pss_peak = max(self.pss_peak, sum(_pss(p) for p in pids))
        self._n += 1

    def _run(self):
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval)

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        return self

    def peak(self):
        return max((r for _, r in self.samples), default=0)

    def flatness(self, t_from, t_to):
        """RSS growth over [t_from, t_to]: the peak in the later 80% against
        the median of the first 20% (the tree settles after start-up)."""
        window = [(t, r) for t, r in self.samples if t_from <= t <= t_to]
        if len(window) < 5:
            return None
        cut = t_from + (t_to - t_from) * 0.2
        early = sorted(r for t, r in window if t <= cut) or [window[0][1]]
        base = early[len(early) // 2]
        late = max(r for t, r in window if t > cut)
        growth = late - base
        return {
            "base_bytes": base,
            "peak_bytes": max(r for _, r in window),
            "growth_bytes": growth,
            "flat": growth <= max(1 << 20, base // 20),
        }
