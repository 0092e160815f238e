# SPDX-License-Identifier: MIT
"""Helpers of the system tests: polling, processes, expected digests and
reading celeriac's results back from Redis.  The fixtures that use them
live in conftest.py; test files import what they need from here.
"""

import atexit
import base64
import glob
import hashlib
import hmac
import json
import os
import shlex
import signal
import socket
import subprocess
import time

import redis

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.environ.get("CELERIAC_BIN") or os.path.join(ROOT, "bin")
PREFIX_CMD = shlex.split(os.environ.get("CELERIAC_TEST_PREFIX", ""))
# Watchdog timeouts are multiplied by this when the worker runs wrapped
# (valgrind is 20-50 times slower).  They bound hangs; they never measure
# speed.
SLOW = 10 if PREFIX_CMD else 1

WORKER_BIN = os.path.join(BIN, "celeriac-worker")
PRODUCER_BIN = os.path.join(BIN, "celeriac")

QUEUE = "celeriac:queue:default"
GROUP = "celeriac"
RESULT_PREFIX = "celeriac:result:"

# PIDs still to kill if the interpreter exits without running teardowns.
live_pids = set()


def _kill_leftovers():
    for pid in list(live_pids):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


atexit.register(_kill_leftovers)


# ---- small helpers ----------------------------------------------------------


def wait_until(predicate, timeout=30, interval=0.05, what=None):
    """Polls predicate() until it returns a true value, which is returned.
    Fails the test after timeout seconds (times SLOW), naming what was
    awaited and the last value seen."""
    deadline = time.monotonic() + timeout * SLOW
    last = None
    while True:
        last = predicate()
        if last:
            return last
        if time.monotonic() > deadline:
            desc = what or getattr(predicate, "__name__", "condition")
            raise AssertionError(
                "timed out after %ss waiting for %s (last value: %r)"
                % (timeout * SLOW, desc, last))
        time.sleep(interval)


def server_ready(proc, client, check=lambda c: c.ping(), timeout=20,
                 interval=0.02):
    """Polls a Redis server process just started until check(a client from
    client(socket_timeout=1)) is true: True, or False if the process exits
    or timeout seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        c = client(socket_timeout=1)
        try:
            if check(c):
                return True
        except redis.RedisError:
            pass
        finally:
            c.close()
        time.sleep(interval)
    return False


class ServerProcess:
    """kill9() and stop() for a server process a test started, held in
    self.proc (None when not running); its PID is in live_pids while it
    runs.  A subclass provides _ready()."""

    def _spawn(self, argv):
        """Starts argv as self.proc: True once _ready(), else it is
        stopped and False (e.g. another process took the port)."""
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        live_pids.add(self.proc.pid)
        if self._ready():
            return True
        self.stop()
        return False

    def kill9(self):
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            live_pids.discard(self.proc.pid)
            self.proc = None

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.proc, timeout=10)
            live_pids.discard(self.proc.pid)
            self.proc = None


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pid_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        # Gone, or exiting between the open and the read (ESRCH).
        return False
    # The state follows the parenthesised command name.
    return stat[stat.rindex(")") + 2] not in "ZX"


def child_pids(pid):
    """PIDs of the live direct children of pid, sorted."""
    kids = set()
    paths = glob.glob("/proc/%d/task/*/children" % pid)
    if paths:
        for path in paths:
            try:
                with open(path) as f:
                    kids.update(int(x) for x in f.read().split())
            except (FileNotFoundError, ProcessLookupError):
                pass
    else:  # kernels without CONFIG_PROC_CHILDREN
        out = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid="],
                             capture_output=True, text=True).stdout
        kids.update(int(x) for x in out.split())
    return sorted(k for k in kids if pid_alive(k))


def tcp_ports_of(pid):
    """Local ports of the TCP sockets that process pid holds open."""
    inodes = set()
    for fd in glob.glob("/proc/%d/fd/*" % pid):
        try:
            target = os.readlink(fd)
        except OSError:  # closed meanwhile, or the process is gone
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/%d/net/tcp" % pid, "/proc/%d/net/tcp6" % pid):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if len(cols) > 9 and cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


def redis_clients_of(client, ports):
    """CLIENT LIST entries of the connections whose client side is one of
    these local ports (on this machine): those of one process, picked out
    from any other test's connections to the shared server."""
    return [c for c in client.client_list()
            if int(c.get("addr", ":0").rsplit(":", 1)[1]) in ports]


def stop_pid(pid, proc=None, sig=signal.SIGTERM, timeout=10):
    """Sends sig, waits up to timeout, then SIGKILLs.  Returns the exit
    status from proc.wait() if proc is given."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
    if proc is not None:
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return None


# ---- digests -----------------------------------------------------------------

# OpenSSL digest name -> hashlib constructor name.
_HASHLIB_NAMES = {
    "sha512": "sha512", "sha384": "sha384", "sha256": "sha256",
    "sha224": "sha224", "sha1": "sha1", "md5": "md5",
    "sha3-224": "sha3_224", "sha3-256": "sha3_256", "sha3-384": "sha3_384",
    "sha3-512": "sha3_512", "blake2b512": "blake2b", "blake2s256": "blake2s",
    "sha512-256": "sha512_256", "sha512-224": "sha512_224", "sm3": "sm3",
    "ripemd160": "ripemd160",
}

_openssl_has = {}


def openssl_has(algorithm):
    """True if `openssl dgst` knows the algorithm."""
    if algorithm not in _openssl_has:
        r = subprocess.run(["openssl", "dgst", "-" + algorithm, "-binary"],
                           input=b"", capture_output=True)
        _openssl_has[algorithm] = r.returncode == 0 and len(r.stdout) > 0
    return _openssl_has[algorithm]


def _openssl_once(algorithm, data, key):
    cmd = ["openssl", "dgst", "-" + algorithm, "-binary"]
    if key is not None:
        cmd += ["-mac", "HMAC", "-macopt", "hexkey:" + key.hex()]
    r = subprocess.run(cmd, input=data, capture_output=True, check=True)
    return r.stdout


def hashlib_digest(algorithm, data, key=None, iterations=1):
    """The digest (or HMAC) applied `iterations` times, as lowercase hex,
    computed in-process with hashlib (fast; used for bulk checks)."""
    name = _HASHLIB_NAMES.get(algorithm, algorithm)
    out = data
    for _ in range(iterations):
        if key is None:
            out = hashlib.new(name, out).digest()
        else:
            out = hmac.new(key, out, name).digest()
    return out.hex()


def openssl_digest(algorithm, data, key=None, iterations=1):
    """The same, computed by running `openssl dgst` once per iteration."""
    out = data
    for _ in range(iterations):
        out = _openssl_once(algorithm, out, key)
    return out.hex()


def expected_digest(algorithm, data, key=None, iterations=1):
    """The digest celeriac must return for the hash task, as lowercase hex.

    data and key are bytes (str is taken as UTF-8).  Computed by `openssl
    dgst` (one process per iteration, so keep iterations small) and
    cross-checked with hashlib where hashlib knows the algorithm.  An
    empty HMAC key cannot be passed to `openssl dgst`; hashlib alone
    answers then."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(key, str):
        key = key.encode()
    try:
        ref = hashlib_digest(algorithm, data, key, iterations)
    except ValueError:  # hashlib lacks it
        ref = None
    if key == b"":
        assert ref is not None, "no way to compute HMAC with an empty key"
        return ref
    got = openssl_digest(algorithm, data, key, iterations)
    if ref is not None:
        assert got == ref, "openssl and hashlib disagree on %s" % algorithm
    return got


# ---- reading results back ----------------------------------------------------


def consumer_group_exists(client, stream=QUEUE):
    try:
        groups = client.xinfo_groups(stream)
    except redis.ResponseError:
        return False
    return any(g["name"] in (GROUP, GROUP.encode()) for g in groups)


def result_of(client, task_id):
    """The decoded result document of task_id, or None if absent."""
    raw = client.get(RESULT_PREFIX + task_id)
    return None if raw is None else json.loads(raw)


def all_results(client):
    """{task id: result document} of every result key in Redis."""
    out = {}
    keys = list(client.scan_iter(match=RESULT_PREFIX + "*", count=1000))
    for i in range(0, len(keys), 1000):
        chunk = keys[i:i + 1000]
        for k, v in zip(chunk, client.mget(chunk)):
            if v is not None:
                out[k.decode()[len(RESULT_PREFIX):]] = json.loads(v)
    return out


def pending_count(client, stream=QUEUE, group=GROUP):
    """Entries delivered to the group and not yet acknowledged."""
    try:
        return client.xpending(stream, group)["pending"]
    except redis.ResponseError:  # no such stream or group
        return 0


def enqueue(client, msg, stream=QUEUE):
    """XADDs a task message (a dict, or a str sent as is); returns the
    stream entry id as str."""
    body = msg if isinstance(msg, (str, bytes)) else json.dumps(msg)
    return client.xadd(stream, {"msg": body}).decode()


def enqueue_many(client, msgs, stream=QUEUE):
    """Pipelined XADDs; returns the entry ids in order."""
    ids = []
    for i in range(0, len(msgs), 1000):
        p = client.pipeline(transaction=False)
        for m in msgs[i:i + 1000]:
            body = m if isinstance(m, (str, bytes)) else json.dumps(m)
            p.xadd(stream, {"msg": body})
        ids += [x.decode() for x in p.execute()]
    return ids


def wait_result(client, task_id, timeout=30):
    """Waits for and returns the result document of task_id."""
    return wait_until(lambda: result_of(client, task_id), timeout,
                      what="the result of task %s" % task_id)


def wait_results(client, n, timeout=120):
    """Waits until n result keys exist; returns all_results()."""
    wait_until(lambda: count_results(client) >= n, timeout,
               interval=0.2, what="%d results" % n)
    return all_results(client)


def count_results(client):
    return sum(1 for _ in client.scan_iter(match=RESULT_PREFIX + "*",
                                           count=1000))


def b64(data):
    return base64.b64encode(data).decode()


def assert_success(doc, algorithm, data, key=None, iterations=1,
                   digest=None):
    """Checks a SUCCESS document of the hash task against the expected
    digest (computed unless given)."""
    assert doc is not None, "no result"
    assert doc["status"] == "SUCCESS", doc
    assert doc["error"] is None, doc
    if isinstance(data, str):
        data = data.encode()
    want = digest or expected_digest(algorithm, data, key, iterations)
    res = doc["result"]
    assert res["algorithm"] == algorithm, doc
    assert res["digest"] == want, doc
    assert res["bytes"] == len(data), doc


def assert_failure(doc, error_type, *words):
    """Checks a FAILURE document: its error type, and that its message
    mentions each of words (case-insensitive)."""
    assert doc is not None, "no result"
    assert doc["status"] == "FAILURE", doc
    assert doc["result"] is None, doc
    err = doc["error"]
    assert isinstance(err, dict), doc
    assert err["type"] == error_type, doc
    msg = err["message"]
    assert isinstance(msg, str) and msg, doc
    for w in words:
        assert w.lower() in msg.lower(), \
            "error message %r does not mention %r" % (msg, w)


