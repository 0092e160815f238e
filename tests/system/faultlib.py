# SPDX-License-Identifier: MIT
"""Helpers of the fault tests (test_fault_*.py): hash tasks with known
digests, checking every result back from Redis, the state of the queue and
its side keys, sampling the workers' heartbeat records, a redis-server with
AOF that can be shut down and restarted on the same port, a network
namespace with a veth pair, and the summary line each test prints.

The fixtures of conftest.py (redis_server, r, worker, make_redis, tmp_dir,
celeriac) are used as they are; the fixtures defined here are imported by
the test files that need them.

CELERIAC_FAULT_SCALE (default 1) multiplies the number of tasks and the
length of the runs, for a longer soak: CELERIAC_FAULT_SCALE=10 make system
PYTEST_ARGS="-k fault".
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest
import redis

from conftest import Worker  # noqa: E402
from harness import (GROUP, PREFIX_CMD, QUEUE, RESULT_PREFIX, SLOW, WORKER_BIN,
                     child_pids, free_port, hashlib_digest, live_pids,
                     pid_alive, stop_pid, wait_until)

# Under valgrind (CELERIAC_TEST_PREFIX) everything is far slower: a tenth.
SCALE = float(os.environ.get("CELERIAC_FAULT_SCALE", "0.1" if PREFIX_CMD
                             else "1"))

PREFIX = "celeriac:"
SCHEDULED = PREFIX + "scheduled"
DEAD = PREFIX + "dead"
WORKERS = PREFIX + "workers"
WORKER_KEY = PREFIX + "worker:"

# Short reliability settings, so that faults are noticed within seconds.
HEARTBEAT = 0.5
VISIBILITY = 3.0
FAST = ["--heartbeat", HEARTBEAT, "--visibility-timeout", VISIBILITY]


def scaled(n, minimum=1):
    """n times CELERIAC_FAULT_SCALE, at least minimum."""
    return max(minimum, int(n * SCALE))


# ---- tasks with known digests --------------------------------------------------


class HashBatch:
    """n hash tasks with ids <prefix><i>.  The data of task i is one of
    `distinct` payloads (so that the expected digests, computed here with
    hashlib, cost `distinct` runs and not n), and names i's class, so a
    result stored under the wrong id is caught unless both ids fall in the
    same class."""

    def __init__(self, prefix, n, iterations=1, algorithm="sha256",
                 distinct=None, extra=None):
        self.prefix = prefix
        self.n = n
        self.iterations = iterations
        self.algorithm = algorithm
        self.distinct = distinct or n
        self.extra = extra or {}
        self._digests = {}

    def task_id(self, i):
        return "%s%d" % (self.prefix, i)

    def data(self, i):
        return "fault payload %s/%d" % (self.prefix, i % self.distinct)

    def message(self, i):
        args = {"data": self.data(i), "algorithm": self.algorithm}
        if self.iterations != 1:
            args["iterations"] = self.iterations
        m = {"task": "hash", "id": self.task_id(i), "args": args}
        m.update(self.extra)
        return m

    def messages(self):
        return [self.message(i) for i in range(self.n)]

    def ids(self):
        return [self.task_id(i) for i in range(self.n)]

    def digest(self, i):
        k = i % self.distinct
        if k not in self._digests:
            self._digests[k] = hashlib_digest(self.algorithm,
                                              self.data(i).encode(),
                                              iterations=self.iterations)
        return self._digests[k]


def enqueue_fast(client, msgs, stream=QUEUE, chunk=2000):
    """Pipelined XADDs of task messages (dicts); returns the entry ids."""
    ids = []
    for i in range(0, len(msgs), chunk):
        p = client.pipeline(transaction=False)
        for m in msgs[i:i + chunk]:
            p.xadd(stream, {"msg": json.dumps(m)})
        ids += [x.decode() for x in p.execute()]
    return ids


def fetch_results(client, ids, chunk=2000, result_prefix=RESULT_PREFIX):
    """{id: decoded result document or None} for the given task ids."""
    out = {}
    for i in range(0, len(ids), chunk):
        part = ids[i:i + chunk]
        for tid, raw in zip(part, client.mget([result_prefix + t
                                               for t in part])):
            out[tid] = None if raw is None else json.loads(raw)
    return out


class Check:
    """The outcome of checking a batch's results read back from Redis."""

    def __init__(self):
        self.missing = []     # ids without a result key
        self.wrong = []       # (id, why, document)
        self.failed = []      # documents with status FAILURE
        self.redelivered = 0  # results with attempts > 1
        self.extra_runs = 0   # sum of attempts - 1
        self.max_attempts = 0
        self.by_worker = {}   # worker name -> results it wrote
        self.docs = {}

    @property
    def losses(self):
        return len(self.missing)


def check_batch(client, batch, allow_failure=None,
                result_prefix=RESULT_PREFIX):
    """Reads the result of every task of batch and checks it: present, the
    id it is stored under, SUCCESS with the right digest and length.  A
    FAILURE is accepted (and listed in .failed) only if allow_failure(doc)
    says so; anything else is listed in .wrong.  result_prefix: where the
    results are, for a worker with another --prefix."""
    c = Check()
    c.docs = fetch_results(client, batch.ids(), result_prefix=result_prefix)
    for i in range(batch.n):
        tid = batch.task_id(i)
        doc = c.docs[tid]
        if doc is None:
            c.missing.append(tid)
            continue
        attempts = doc.get("attempts")
        if not isinstance(attempts, int) or attempts < 1:
            c.wrong.append((tid, "bad attempts", doc))
            continue
        c.max_attempts = max(c.max_attempts, attempts)
        if attempts > 1:
            c.redelivered += 1
            c.extra_runs += attempts - 1
        c.by_worker[doc.get("worker")] = c.by_worker.get(doc.get("worker"),
                                                         0) + 1
        if doc.get("id") != tid:
            c.wrong.append((tid, "stored under the wrong id", doc))
        elif doc.get("status") == "FAILURE" and allow_failure is not None \
                and allow_failure(doc):
            c.failed.append(doc)
        elif doc.get("status") != "SUCCESS":
            c.wrong.append((tid, "status %s" % doc.get("status"), doc))
        elif doc.get("error") is not None:
            c.wrong.append((tid, "SUCCESS with an error", doc))
        elif doc["result"].get("digest") != batch.digest(i):
            c.wrong.append((tid, "wrong digest", doc))
        elif doc["result"].get("bytes") != len(batch.data(i).encode()):
            c.wrong.append((tid, "wrong byte count", doc))
        elif doc["result"].get("algorithm") != batch.algorithm:
            c.wrong.append((tid, "wrong algorithm", doc))
    return c


def assert_check(c, what="results"):
    """Fails with the first few problems of a Check, if any."""
    assert not c.missing, "%d %s missing (lost tasks), e.g. %s" % (
        len(c.missing), what, c.missing[:10])
    assert not c.wrong, "%d %s wrong, e.g. %s" % (
        len(c.wrong), what, c.wrong[:5])


# ---- the queue and its side keys ------------------------------------------------


def xpending(client, stream=QUEUE, group=GROUP):
    """Entries delivered to the group and not acknowledged (0 if none)."""
    try:
        return client.xpending(stream, group)["pending"]
    except redis.ResponseError:
        return 0


def pending_of(client, consumer, stream=QUEUE, group=GROUP):
    """Entries pending for one consumer."""
    try:
        rows = client.xpending_range(stream, group, "-", "+", 100000,
                                     consumername=consumer)
    except redis.ResponseError:
        return []
    return [r["message_id"].decode() for r in rows]


def queue_state(client, stream=QUEUE):
    """What is left in Redis after a run: every figure must be 0 at the
    end of a run that lost nothing."""
    return {
        "xlen": client.xlen(stream),
        "xpending": xpending(client, stream),
        "scheduled": client.zcard(SCHEDULED),
        "dead": client.xlen(DEAD),
    }


def assert_drained(client, stream=QUEUE, dead_ok=0):
    """The queue stream is empty, nothing is pending or scheduled, and the
    dead-letter stream holds exactly dead_ok entries."""
    st = queue_state(client, stream)
    assert st == {"xlen": 0, "xpending": 0, "scheduled": 0,
                  "dead": dead_ok}, st


def wait_drained(client, timeout, stream=QUEUE, what="the queue to drain"):
    """Waits until the queue stream is empty (every entry was finished: the
    finish script deletes it together with writing its result)."""
    def empty():
        try:
            return client.xlen(stream) == 0 and xpending(client, stream) == 0
        except redis.RedisError:
            return False
    wait_until(empty, timeout, interval=0.1, what=what)


def dead_letters(client):
    """The entries of the dead-letter stream, decoded:
    [{"entry", "msg", "reason" (decoded), "queue", "id"}]."""
    out = []
    for eid, f in client.xrange(DEAD):
        d = {k.decode(): v.decode() for k, v in f.items()}
        d["reason"] = json.loads(d["reason"])
        d["id"] = eid.decode()
        out.append(d)
    return out


# ---- heartbeats -----------------------------------------------------------------

COUNTERS = ("received", "succeeded", "failed", "retried", "expired", "dead",
            "recovered", "duplicates", "child_deaths")


def heartbeats(client):
    """{worker name: heartbeat record (str -> str)} of the live workers."""
    out = {}
    for key in client.scan_iter(match=WORKER_KEY + "*", count=1000):
        h = client.hgetall(key)
        if h:
            out[key.decode()[len(WORKER_KEY):]] = {
                k.decode(): v.decode() for k, v in h.items()}
    return out


class BeatWatch:
    """Samples every worker's heartbeat record in the background and keeps
    the largest value of each counter per worker name, so that workers
    killed during a run still count.  totals() sums a counter over every
    worker seen."""

    def __init__(self, client_factory, interval=0.25):
        self.client_factory = client_factory
        self.interval = interval
        self.best = {}
        self.seen = {}  # name -> last record
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def sample(self, client=None):
        """Reads every record once.  With a client given, a Redis error is
        raised; without, it is ignored (Redis may be down for a moment)."""
        c = client or self.client_factory()
        try:
            beats = heartbeats(c)
        except redis.RedisError:
            if client is not None:
                raise
            return
        finally:
            if client is None:
                c.close()
        with self._lock:
            for name, rec in beats.items():
                self.seen[name] = rec
                b = self.best.setdefault(name, {})
                for k in COUNTERS:
                    try:
                        v = int(rec.get(k, "0"))
                    except ValueError:
                        continue
                    b[k] = max(b.get(k, 0), v)

    def _run(self):
        # A test that fails never calls stop(): give up on our own after
        # 10 minutes, or after 20 s without an answer from Redis.
        c = None
        end = time.monotonic() + 600 * SLOW
        answered = time.monotonic()
        while not self._stop.is_set() and time.monotonic() < end and \
                time.monotonic() - answered < 20 * SLOW:
            try:
                if c is None:
                    c = self.client_factory()
                self.sample(c)
                answered = time.monotonic()
            except redis.RedisError:
                if c is not None:
                    c.close()
                c = None
            self._stop.wait(self.interval)
        if c is not None:
            c.close()

    def stop(self):
        self._stop.set()
        self._thread.join(10)
        self.sample()

    def total(self, counter):
        with self._lock:
            return sum(b.get(counter, 0) for b in self.best.values())

    def of(self, name, counter):
        with self._lock:
            return self.best.get(name, {}).get(counter, 0)


# ---- processes ------------------------------------------------------------------


def cpu_seconds(pid):
    """User + system CPU time pid has used, in seconds (0 if gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        return True
    except ProcessLookupError:
        return False


def freeze(w, sig):
    """SIGSTOP or SIGCONT a worker and its children (the parent first on
    the way down, last on the way up), like a paused VM."""
    kids = w.children()
    if sig == signal.SIGSTOP:
        os.kill(w.pid, sig)
        for k in kids:
            os.kill(k, sig)
    else:
        for k in kids:
            os.kill(k, sig)
        os.kill(w.pid, sig)


# ---- the summary line -------------------------------------------------------------


def report(capsys, test, **figures):
    """Prints one line of figures, past pytest's capture, so that `make
    test` shows it, e.g. FAULT kill_workers tasks=50000 kills=11 ...;
    CELERIAC_FAULT_REPORT=FILE also appends it to FILE."""
    line = "FAULT %s %s" % (test, " ".join("%s=%s" % kv
                                          for kv in figures.items()))
    with capsys.disabled():
        sys.stdout.write("\n" + line + "\n")
        sys.stdout.flush()
    path = os.environ.get("CELERIAC_FAULT_REPORT")
    if path:
        with open(path, "a") as f:
            f.write(line + "\n")


# ---- a redis-server that can be shut down and restarted -------------------------


class AofRedis:
    """A private redis-server with AOF on (appendonly yes, appendfsync
    always) in its own temporary directory, restartable on the same port,
    listening on 127.0.0.1 and on any extra addresses given."""

    def __init__(self, bind=("127.0.0.1",), extra=()):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        self.bind = list(bind)
        self.extra = [str(a) for a in extra]
        self.dir = tempfile.mkdtemp(prefix="celeriac-aof-")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.port = None
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    def client(self, **kw):
        kw.setdefault("socket_timeout", 30 * SLOW)
        return redis.Redis(host="127.0.0.1", port=self.port, **kw)

    def start(self):
        """Starts it (on the same port after the first start)."""
        for _ in range(5 if self.port is None else 1):
            port = self.port or free_port()
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(port),
                 "--bind"] + self.bind + [
                 "--save", "", "--appendonly", "yes",
                 "--appendfsync", "always", "--dir", self.dir,
                 "--logfile", self.log_path, "--daemonize", "no",
                 "--protected-mode", "yes" if self.bind == ["127.0.0.1"]
                 else "no"] + self.extra,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT)
            live_pids.add(self.proc.pid)
            self.port = port
            if self._wait_ready():
                self.starts += 1
                return
            self.kill()
            if self.starts:
                break
            self.port = None
        raise RuntimeError("redis-server did not start; see %s:\n%s"
                           % (self.log_path, self.log()[-3000:]))

    def _wait_ready(self, timeout=20):
        deadline = time.monotonic() + timeout * SLOW
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            c = self.client(socket_timeout=1)
            try:
                # Loading the AOF answers LOADING: wait for real answers.
                if c.ping() and c.dbsize() >= 0:
                    return True
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.ResponseError, redis.BusyLoadingError):
                pass
            finally:
                c.close()
            time.sleep(0.02)
        return False

    def shutdown(self, how="command"):
        """Stops it the polite way: the SHUTDOWN command, or SIGTERM.
        Either way redis-server fsyncs the AOF and exits 0."""
        assert self.proc is not None
        if how == "command":
            c = self.client(socket_timeout=10)
            try:
                c.shutdown()
            except redis.ConnectionError:
                pass  # it went away while answering: expected
            finally:
                c.close()
        else:
            os.kill(self.proc.pid, signal.SIGTERM)
        rc = self.proc.wait(timeout=30)
        live_pids.discard(self.proc.pid)
        self.proc = None
        return rc

    def kill(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.proc, sig=signal.SIGKILL)
            live_pids.discard(self.proc.pid)
            self.proc = None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def cleanup(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.proc, timeout=10)
            live_pids.discard(self.proc.pid)
            self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def aof_redis():
    """make(bind=(...), extra=(...)) -> a started AofRedis, removed at
    teardown."""
    servers = []

    def make(**kw):
        s = AofRedis(**kw)
        servers.append(s)
        s.start()
        return s

    try:
        yield make
    finally:
        for s in servers:
            s.cleanup()


# ---- a network namespace joined by a veth pair -------------------------------------


def _run(*cmd, check=True):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True,
                       timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(map(str, cmd)),
                                                   r.returncode, r.stderr))
    return r


class NetNs:
    """A network namespace with a veth pair to the host: host side
    `host_if` with `host_ip`/30, namespace side `ns_if` with `ns_ip`/30.
    Only these private addresses, made here, are ever used."""

    def __init__(self):
        tag = os.getpid() % 100000
        self.name = "celeriac-fault-%d" % tag
        self.host_if = "cfh%d" % tag
        self.ns_if = "cfn%d" % tag
        used = _run("ip", "-o", "-4", "addr", "show", check=False).stdout
        for k in range(250):
            third = (tag + k) % 250 + 1
            net = "10.213.%d." % third
            if net not in used:
                break
        else:
            pytest.skip("no free 10.213.x.0/30 network for the veth pair")
        self.host_ip = net + "1"
        self.ns_ip = net + "2"
        self.made = False

    def create(self):
        self.made = True
        _run("ip", "netns", "add", self.name)
        _run("ip", "link", "add", self.host_if, "type", "veth", "peer",
             "name", self.ns_if)
        _run("ip", "link", "set", self.ns_if, "netns", self.name)
        _run("ip", "addr", "add", self.host_ip + "/30", "dev", self.host_if)
        _run("ip", "link", "set", self.host_if, "up")
        self.exec_("ip", "addr", "add", self.ns_ip + "/30", "dev",
                   self.ns_if)
        self.exec_("ip", "link", "set", self.ns_if, "up")
        self.exec_("ip", "link", "set", "lo", "up")

    def exec_(self, *cmd, check=True):
        return _run("ip", "netns", "exec", self.name, *cmd, check=check)

    def prefix(self):
        """The argv prefix that runs a command inside the namespace."""
        return ["ip", "netns", "exec", self.name]

    def link(self, up):
        """Cuts (up=False) or restores the link, from the host side."""
        _run("ip", "link", "set", self.host_if, "up" if up else "down")

    def destroy(self):
        if not self.made:
            return
        _run("ip", "netns", "del", self.name, check=False)
        # Deleting the namespace deletes its end of the pair, and with it
        # the host end; make sure of it.
        if _run("ip", "link", "show", self.host_if, check=False).returncode \
                == 0:
            _run("ip", "link", "del", self.host_if, check=False)
        self.made = False


def netns_unavailable():
    """Why network namespaces cannot be used here, or None."""
    if os.geteuid() != 0:
        return "network namespaces need root (running as uid %d)" % \
            os.geteuid()
    if shutil.which("ip") is None:
        return "the ip command (iproute2) is not installed"
    r = _run("ip", "netns", "list", check=False)
    if r.returncode != 0:
        return "`ip netns` is not available: %s" % r.stderr.strip()
    return None


@pytest.fixture
def netns():
    """A NetNs, created; deleted with its links at teardown, also when the
    test fails.  Skips with the reason when namespaces are not available."""
    why = netns_unavailable()
    if why:
        pytest.skip(why)
    ns = NetNs()
    try:
        try:
            ns.create()
        except RuntimeError as e:
            pytest.skip("cannot create a network namespace with a veth "
                        "pair here: %s" % e)
        yield ns
    finally:
        ns.destroy()


class NsWorker(Worker):
    """A celeriac-worker started under a command prefix (ip netns exec);
    otherwise conftest's Worker.  `ip netns exec` execs the command, so the
    pid is the worker's."""

    def __init__(self, prefix, args, stderr_path, env=None):
        argv = list(prefix) + PREFIX_CMD + [WORKER_BIN] + \
            [str(a) for a in args]
        e = dict(os.environ)
        e.pop("CELERIAC_REDIS_URL", None)
        e.pop("CELERIAC_REDIS_PASSWORD", None)
        e.update(env or {})
        super().__init__(argv, stderr_path, e)


def log_excerpt(text, words=("ERROR", "WARN"), limit=40):
    """The last `limit` log lines that contain one of words."""
    lines = [l for l in text.splitlines() if any(w in l for w in words)]
    return "\n".join(lines[-limit:])
