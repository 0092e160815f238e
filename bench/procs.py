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


def stop(procs, timeout=15):
    """SIGTERM the roots, wait, then SIGKILL whatever of their trees is left."""
    procs = [p for p in procs if p.poll() is None]
    pids = proctree.tree([p.pid for p in procs])
    for p in procs:
        _signal(p.pid, signal.SIGTERM)
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


def run(argv, cwd=None, env=None, log=None, timeout=3600):
    """Runs a producer to completion.  Returns (stdout text, its CPU seconds
    from getrusage(RUSAGE_CHILDREN), wall start, wall end)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.time()
    p = spawn(argv, cwd=cwd, env=env, log=log, stdout=subprocess.PIPE)
    try:
        out, _ = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stop([p])
        raise BenchError(f"{argv[0]} took more than {timeout} s")
    t1 = time.time()
    _live.remove(p)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime -
                                                before.ru_stime)
    if p.returncode != 0:
        raise BenchError(f"{' '.join(map(str, argv[:3]))} ... exited with "
                         f"{p.returncode}; see {log}")
    return out.decode(), cpu, t0, t1
