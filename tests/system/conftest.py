# SPDX-License-Identifier: MIT
"""System test fixtures: a private redis-server for the whole run, the
celeriac-worker processes of each test, and the celeriac producer.

Environment (set by `make system`):
  CELERIAC_BIN          directory holding celeriac-worker and celeriac
  CELERIAC_TEST_PREFIX  optional command that wraps the worker, e.g.
                        "valgrind -q --error-exitcode=100"; watchdog
                        timeouts are then stretched (harness.SLOW)

Everything started here is stopped by PID at teardown, also when a test
fails, and temporary directories are removed.  Servers listen on
127.0.0.1 and on a unix socket in their temporary directory only.
"""

import os
import shutil
import signal
import subprocess
import tempfile

import pytest
import redis

from harness import (PREFIX_CMD, PRODUCER_BIN, QUEUE, SLOW, WORKER_BIN,
                     child_pids, consumer_group_exists, free_port, live_pids,
                     pid_alive, server_ready, stop_pid, wait_until)


# ---- redis-server ------------------------------------------------------------


class RedisServer:
    """A private redis-server in a temporary directory."""

    def __init__(self, *extra_args):
        self.extra_args = [str(a) for a in extra_args]
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        self.dir = tempfile.mkdtemp(prefix="celeriac-redis-")
        self.unix_path = os.path.join(self.dir, "redis.sock")
        self.log_path = os.path.join(self.dir, "redis.log")
        self.proc = None
        self.port = None

    def start(self):
        # A free port can be taken between the check and the bind: retry.
        for _ in range(5):
            self.port = free_port()
            self.proc = subprocess.Popen(
                [self.binary, "--port", str(self.port),
                 "--bind", "127.0.0.1", "--unixsocket", self.unix_path,
                 "--unixsocketperm", "700", "--save", "",
                 "--appendonly", "no", "--dir", self.dir,
                 "--logfile", self.log_path, "--daemonize", "no",
                 "--protected-mode", "yes"] + self.extra_args,
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT)
            live_pids.add(self.proc.pid)
            if self._wait_ready():
                return
            self.stop()
        raise RuntimeError("redis-server did not start; see " + self.log_path)

    def _wait_ready(self, timeout=20):
        return server_ready(self.proc, self.client, timeout=timeout)

    @property
    def url(self):
        return "redis://127.0.0.1:%d/0" % self.port

    @property
    def unix_url(self):
        return "unix://" + self.unix_path

    def client(self, **kw):
        return redis.Redis(host="127.0.0.1", port=self.port,
                           password=self.password, **kw)

    @property
    def password(self):
        if "--requirepass" in self.extra_args:
            return self.extra_args[self.extra_args.index("--requirepass") + 1]
        return None

    def cli(self, *args, input=None, check=True):
        """Runs redis-cli against this server; returns its stdout (str)."""
        exe = shutil.which("redis-cli")
        if exe is None:
            pytest.skip("redis-cli is not installed")
        env = dict(os.environ)
        if self.password is not None:
            env["REDISCLI_AUTH"] = self.password
        r = subprocess.run([exe, "-h", "127.0.0.1", "-p", str(self.port)] +
                           [str(a) for a in args], input=input,
                           capture_output=True, text=True, timeout=30,
                           env=env)
        if check:
            assert r.returncode == 0, "redis-cli %s: %s" % (args, r.stderr)
        return r.stdout

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.proc, timeout=10)
            live_pids.discard(self.proc.pid)
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server():
    """The private redis-server of the whole run (port, url, unix_url,
    client(), cli())."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def make_redis():
    """Starts more private redis-servers for one test:
    make_redis(*extra_server_args) -> RedisServer, stopped at teardown."""
    servers = []

    def make(*extra):
        s = RedisServer(*extra)
        servers.append(s)
        s.start()
        return s

    try:
        yield make
    finally:
        for s in servers:
            s.cleanup()


@pytest.fixture
def r(redis_server):
    """A redis-py client of the private server, on an empty database."""
    c = redis_server.client(socket_timeout=60 * SLOW)
    c.flushall()
    try:
        yield c
    finally:
        c.close()


# ---- celeriac-worker ---------------------------------------------------------


def need_binary(path):
    if not os.access(path, os.X_OK):
        pytest.fail("%s is missing: run `make` first" % path)


class Worker:
    """One celeriac-worker process started by the `worker` fixture."""

    def __init__(self, argv, stderr_path, env):
        self.argv = argv
        self.stderr_path = stderr_path
        self._err = open(stderr_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                     stdout=self._err, stderr=self._err,
                                     env=env)
        self.pid = self.proc.pid
        live_pids.add(self.pid)
        self.returncode = None
        self.seen_children = set()

    def alive(self):
        return self.proc.poll() is None

    def children(self):
        """PIDs of its live child processes."""
        kids = child_pids(self.pid)
        self.seen_children.update(kids)
        return kids

    def wait_children(self, n, timeout=30):
        """Waits until the worker has exactly n children; returns them."""
        return wait_until(lambda: len(self.children()) == n and
                          self.children(), timeout,
                          what="%d children of worker %d" % (n, self.pid))

    def signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=60):
        """Waits for the worker to exit and returns its exit status
        (negative: killed by that signal).  Fails the test on timeout,
        after killing it."""
        try:
            self.returncode = self.proc.wait(timeout=timeout * SLOW)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError("worker %d did not exit within %ss"
                                 % (self.pid, timeout * SLOW))
        live_pids.discard(self.pid)
        return self.returncode

    def stop(self, timeout=60):
        """SIGTERM (warm shutdown), then waits; returns the exit status."""
        if self.alive():
            self.children()  # remember them, to check they go too
            self.signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        """SIGKILL the worker and every child it had."""
        kids = self.children() if self.alive() else []
        if self.alive():
            self.proc.kill()
        self.returncode = self.proc.wait()
        live_pids.discard(self.pid)
        for k in set(kids) | self.seen_children:
            if pid_alive(k):
                try:
                    os.kill(k, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def leftover_children(self):
        """Children that outlived the worker (they must not)."""
        return sorted(k for k in self.seen_children if pid_alive(k))

    def log(self):
        self._err.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode(errors="replace")

    def close(self):
        self._err.close()


@pytest.fixture
def tmp_dir():
    """A temporary directory removed after the test."""
    d = tempfile.mkdtemp(prefix="celeriac-test-")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def worker(redis_server, r, tmp_dir):
    """Starts celeriac-worker processes: worker(*extra_args, redis_url=...,
    concurrency=2, env=None, wait_ready=True, stream=QUEUE, client=None)
    -> Worker.  redis_url="" leaves --redis out.  With wait_ready it
    returns once the children are forked and the consumer group of
    `stream` exists (looked up through `client`, default the `r` fixture).

    At teardown every worker still running gets SIGTERM and must exit 0;
    its children must be gone afterwards.  Its stderr is printed, which
    pytest shows when the test failed."""
    need_binary(WORKER_BIN)
    started = []

    def start(*extra, redis_url=None, concurrency=2, env=None,
              wait_ready=True, stream=QUEUE, client=None):
        argv = PREFIX_CMD + [WORKER_BIN]
        if redis_url != "":
            argv += ["--redis", redis_url or redis_server.url]
        argv += ["--concurrency", str(concurrency)]
        argv += [str(a) for a in extra]
        e = dict(os.environ)
        e.pop("CELERIAC_REDIS_URL", None)
        e.pop("CELERIAC_REDIS_PASSWORD", None)
        e.update(env or {})
        path = os.path.join(tmp_dir, "worker%d.stderr" % len(started))
        w = Worker(argv, path, e)
        started.append(w)
        if wait_ready:
            # Ready: its children are forked and its group exists (it has
            # connected to Redis and is about to read).
            w.wait_children(concurrency)
            wait_until(lambda: not w.alive() or
                       consumer_group_exists(client or r, stream), 30,
                       what="the worker to create the group on " + stream)
            assert w.alive(), "worker exited at start:\n" + w.log()
        return w

    try:
        yield start
    finally:
        problems = []
        for w in started:
            try:
                if w.returncode is None:
                    rc = w.stop()
                    if rc != 0:
                        problems.append("worker %d exited %s at teardown"
                                        % (w.pid, rc))
            except AssertionError as e:  # it hung and was killed
                problems.append(str(e))
            left = w.leftover_children()
            if left:
                problems.append("worker %d left children %s running"
                                % (w.pid, left))
                w.kill()
            print("---- stderr of worker %d (%s) ----\n%s"
                  % (w.pid, " ".join(w.argv), w.log()))
            w.close()
        assert not problems, "; ".join(problems)


# ---- the producer ------------------------------------------------------------


class Run:
    """What a finished command printed and returned."""

    def __init__(self, argv, proc):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr

    def text(self):
        return self.stdout.decode(errors="replace")

    def __repr__(self):
        return "<%s: rc=%s stdout=%r stderr=%r>" % (
            " ".join(self.argv), self.rc, self.stdout[:2000],
            self.stderr[:2000])


@pytest.fixture
def celeriac(redis_server, tmp_dir):
    """Runs the producer: celeriac(*args, input=bytes|str, timeout=120,
    env=None, cwd=tmp_dir) -> Run (rc, stdout, stderr as bytes).  The
    Redis address is passed in CELERIAC_REDIS_URL."""
    need_binary(PRODUCER_BIN)

    def run(*args, input=None, timeout=120, env=None, cwd=None):
        argv = [PRODUCER_BIN] + [str(a) for a in args]
        e = dict(os.environ)
        e["CELERIAC_REDIS_URL"] = redis_server.url
        e.pop("CELERIAC_REDIS_PASSWORD", None)
        e.update(env or {})
        if isinstance(input, str):
            input = input.encode()
        p = subprocess.run(argv, input=input, capture_output=True, env=e,
                           cwd=cwd or tmp_dir, timeout=timeout * SLOW)
        return Run(argv, p)

    return run


