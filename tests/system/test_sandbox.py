# SPDX-License-Identifier: MIT
"""The children's sandbox (docs/SECURITY.md), seen from outside through
/proc: each child has the seccomp filter (Seccomp: 2), no new privileges,
no core dumps, a few open files and a bounded address space, and runs as
`nobody` when the worker was started as root; sandboxed children still
compute correct digests.  The Redis password given in
CELERIAC_REDIS_PASSWORD is neither in a child's environment nor anywhere
in its memory — also in a child forked after the parent authenticated —
while the parent still has it.  --sandbox off and --user are checked too.
(That a forbidden system call kills a child with SIGSYS is tested in
tests/unit/test_sandbox.c: no task message can make a child do one.)"""

import os
import pwd
import re
import signal
import subprocess
import uuid

import pytest

from harness import (PREFIX_CMD, WORKER_BIN, assert_success, enqueue,
                     wait_result, wait_until)

# valgrind runs its own code in the process: the filter is left out there.
UNDER_VALGRIND = any("valgrind" in os.path.basename(a) for a in PREFIX_CMD)
IS_ROOT = os.geteuid() == 0
NOFILE = 16  # SANDBOX_NOFILE


def status(pid):
    """The fields of /proc/<pid>/status as {name: value}."""
    out = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = v.strip()
    return out


def limits(pid):
    """{limit name: (soft, hard)} from /proc/<pid>/limits."""
    out = {}
    with open("/proc/%d/limits" % pid) as f:
        next(f)
        for line in f:
            m = re.match(r"(.+?)\s{2,}(\S+)\s+(\S+)", line)
            if m:
                out[m.group(1)] = (m.group(2), m.group(3))
    return out


def memory_has(pid, needle):
    """The mappings of pid whose memory contains needle (bytes)."""
    hits = []
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read().splitlines()
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            m = re.match(r"([0-9a-f]+)-([0-9a-f]+) (\S+)", line)
            lo, hi = int(m.group(1), 16), int(m.group(2), 16)
            # Readable, and not a sanitizer's terabyte reservation.
            if m.group(3)[0] != "r" or hi - lo > (16 << 30):
                continue
            try:
                mem.seek(lo)
                data = mem.read(hi - lo)
            except (OSError, ValueError, OverflowError):
                continue
            if needle in data:
                hits.append(line)
    return hits


def sanitized(pid):
    """A `make asan` build (no address-space limit there: ASan reserves
    terabytes of shadow memory)."""
    with open("/proc/%d/maps" % pid) as f:
        return re.search(r"lib(asan|ubsan|tsan)", f.read()) is not None


def environ(pid):
    with open("/proc/%d/environ" % pid, "rb") as f:
        return f.read()


def set_up(w, n=2):
    """The n children of w, once each has finished setting itself up
    (no new privileges is its last step but the filter, which follows at
    once: the filter is in place before the child reads a task)."""
    def ready():
        kids = w.children()
        try:
            return len(kids) == n and all(
                status(k)["NoNewPrivs"] == "1" for k in kids) and kids
        except (FileNotFoundError, ProcessLookupError):
            return False
    return wait_until(ready, 30, what="%d sandboxed children" % n)


def test_children_are_sandboxed(r, worker):
    w = worker()
    kids = set_up(w)
    # The filter follows no-new-privileges at once.
    wait_until(lambda: UNDER_VALGRIND or
               all(status(k)["Seccomp"] == "2" for k in kids), 30,
               what="the filter in each child")
    for pid in kids:
        st = status(pid)
        assert st["NoNewPrivs"] == "1", st
        assert st["Seccomp"] == ("0" if UNDER_VALGRIND else "2"), st
        if IS_ROOT:
            nobody = pwd.getpwnam("nobody")
            assert st["Uid"].split() == [str(nobody.pw_uid)] * 4, st
            assert st["Gid"].split() == [str(nobody.pw_gid)] * 4, st
            assert st["Groups"].split() == [str(nobody.pw_gid)], st
        lim = limits(pid)
        assert lim["Max core file size"] == ("0", "0"), lim
        assert lim["Max open files"] == (str(NOFILE), str(NOFILE)), lim
        if not UNDER_VALGRIND and not sanitized(pid):
            soft, hard = lim["Max address space"]
            assert soft == hard != "unlimited", lim
            assert 2 << 30 <= int(soft) < 3 << 30, lim
    # The parent is none of this.
    assert status(w.pid)["Seccomp"] == "0"
    # Sandboxed children still do their work, every digest checked.
    for alg in ("sha512", "sha3-256", "blake2b512", "md5"):
        tid = "sb-" + alg
        enqueue(r, {"task": "hash", "id": tid,
                    "args": {"data": "sandboxed " + alg, "algorithm": alg,
                             "hmac_key": "k", "iterations": 3}})
        assert_success(wait_result(r, tid), alg, "sandboxed " + alg, key="k",
                       iterations=3)
    assert sorted(w.children()) == sorted(kids), "a child died:\n" + w.log()


def test_ring_is_read_only_in_sandboxed_children(r, worker):
    """Each child maps its message ring once, read-only (worker/ring.h),
    holds no descriptor of it, and runs a large message from it under the
    filter."""
    w = worker()
    kids = set_up(w)
    for pid in kids:
        with open("/proc/%d/maps" % pid) as f:
            perms = [line.split()[1] for line in f if "celeriac-ring" in line]
        assert perms == ["r--s"], (pid, perms)
        fds = [os.readlink("/proc/%d/fd/%s" % (pid, fd))
               for fd in os.listdir("/proc/%d/fd" % pid)]
        assert not [x for x in fds if "celeriac-ring" in x], (pid, fds)
    data = "ring " * 100000  # 500 kB: through the ring
    enqueue(r, {"task": "hash", "id": "sb-ring",
                "args": {"data": data, "algorithm": "sha512"}})
    assert_success(wait_result(r, "sb-ring"), "sha512", data)
    assert sorted(w.children()) == sorted(kids), "a child died:\n" + w.log()


@pytest.mark.skipif(not IS_ROOT, reason="reading another user's "
                    "/proc/<pid>/mem needs root")
def test_password_not_in_children(make_redis, worker):
    pw = "h4-" + uuid.uuid4().hex  # found nowhere else
    server = make_redis("--requirepass", pw)
    client = server.client(socket_timeout=30)
    w = worker(redis_url=server.url, client=client,
               env={"CELERIAC_REDIS_PASSWORD": pw})
    # It authenticated: a task runs.
    enqueue(client, {"task": "hash", "id": "pw1", "args": {"data": "a"}})
    assert_success(wait_result(client, "pw1"), "sha512", "a")
    # The scan finds the password where it is: in the parent.
    assert memory_has(w.pid, pw.encode()), "the memory scan is broken"
    assert b"CELERIAC_REDIS_PASSWORD" in environ(w.pid)

    def check(kids):
        set_up(w)
        for pid in kids:
            env = environ(pid)
            assert b"CELERIAC_REDIS_PASSWORD" not in env, env
            assert pw.encode() not in env
            hits = memory_has(pid, pw.encode())
            assert not hits, "child %d holds the password in %s" % (pid, hits)

    check(w.children())
    # A child forked after the parent sent AUTH (its buffers were freed,
    # not cleared) has none either.
    victim = w.children()[0]
    os.kill(victim, signal.SIGKILL)
    kids = wait_until(lambda: len(w.children()) == 2 and
                      victim not in w.children() and w.children(), 30,
                      what="a child in place of %d" % victim)
    check([k for k in kids if k != victim])
    enqueue(client, {"task": "hash", "id": "pw2", "args": {"data": "b"}})
    assert_success(wait_result(client, "pw2"), "sha512", "b")
    client.close()


def test_sandbox_off(r, worker):
    w = worker("--sandbox", "off")
    for pid in w.children():
        st = status(pid)
        assert st["Seccomp"] == "0", st
        assert st["NoNewPrivs"] == "0", st
    enqueue(r, {"task": "hash", "id": "off1", "args": {"data": "off"}})
    assert_success(wait_result(r, "off1"), "sha512", "off")


def run_worker(*args):
    return subprocess.run(PREFIX_CMD + [WORKER_BIN] + list(args),
                          capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def test_bad_sandbox_options():
    p = run_worker("--sandbox", "maybe")
    assert p.returncode == 2, p
    assert "--sandbox must be on or off" in p.stderr
    p = run_worker("--user", "celeriac-no-such-user")
    assert p.returncode == 2, p
    assert "no user 'celeriac-no-such-user'" in p.stderr, p.stderr


@pytest.mark.skipif(not IS_ROOT, reason="needs root to change user")
def test_user_option(r, worker):
    """--user names the children's user; not root, only oneself."""
    daemon = pwd.getpwnam("daemon")
    w = worker("--user", "daemon")
    for pid in set_up(w):
        assert status(pid)["Uid"].split() == [str(daemon.pw_uid)] * 4
    enqueue(r, {"task": "hash", "id": "u1", "args": {"data": "user"}})
    assert_success(wait_result(r, "u1"), "sha512", "user")
    # A worker that is not root may not name another user.
    p = subprocess.run(PREFIX_CMD + [WORKER_BIN, "--user", "daemon"],
                       capture_output=True, text=True, timeout=60,
                       stdin=subprocess.DEVNULL,
                       user=pwd.getpwnam("nobody").pw_uid)
    assert p.returncode == 2, p
    assert "only a worker started as root" in p.stderr, p.stderr
