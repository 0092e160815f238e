# SPDX-License-Identifier: MIT
"""Starting and stopping the processes of a run (workers, producers).

Every process is started in a session of its own and remembered, so that
stop_all() can end exactly the processes this bench started (by pid, and
their descendants found under them) on success, failure or Ctrl-C.
"""

import os
import resource
import signal
import subprocess
import tempfile
import time

import proctree

_live = []


class BenchError(Exception):
    pass


def spawn(argv, cwd=None, env=None, log=None, stdout=None):
    err = open(log, "ab") if log else subprocess.DEVNULL
    try:
        p = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                             stdout=stdout or err, stderr=err,
                             start_new_session=True)
    finally:
        if log:
            err.close()
    _live.append(p)
    return p


def stop(procs, timeout=15, sig=signal.SIGTERM):
    """Signal the roots, wait, then SIGKILL whatever of their trees is left."""
    procs = [p for p in procs if p.poll() is None]
    pids = proctree.tree([p.pid for p in procs])
    for p in procs:
        _signal(p.pid, sig)
    deadline = time.time() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            pass
    for pid in pids:
        if os.path.exists(f"/proc/{pid}"):
            _signal(pid, signal.SIGKILL)
    for p in procs:
        p.wait()
        if p in _live:
            _live.remove(p)


def stop_all():
    stop(list(_live), timeout=5)


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


class Producer:
    """A producer run: started at once, its output kept in a file (it may
    print more than a pipe holds), finished with finish()."""

    def __init__(self, argv, cwd=None, env=None, log=None):
        self.argv, self.log = argv, log
        self.out = tempfile.TemporaryFile()
        self.before = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.t0 = time.time()
        self.proc = spawn(argv, cwd=cwd, env=env, log=log, stdout=self.out)

    def running(self):
        return self.proc.poll() is None

    def finish(self, timeout=3600):
        """Waits for the exit.  Returns (stdout text, CPU seconds from
        getrusage(RUSAGE_CHILDREN), wall start, wall end)."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            stop([self.proc])
            raise BenchError(f"{self.argv[0]} took more than {timeout} s")
        t1 = time.time()
        _live.remove(self.proc)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - self.before.ru_utime) + \
            (after.ru_stime - self.before.ru_stime)
        if self.proc.returncode != 0:
            raise BenchError(f"{' '.join(map(str, self.argv[:3]))} ... "
                             f"exited with {self.proc.returncode}; see "
                             f"{self.log}")
        self.out.seek(0)
        text = self.out.read().decode()
        self.out.close()
        return text, cpu, self.t0, t1
