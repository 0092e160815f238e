# SPDX-License-Identifier: MIT
"""URL and path sources handled by the worker parent on its loop
(worker/README.md, "Sources on the loop"; PROTOCOL.md, "Sources"):

- every bad case of issue 9 section 4 gives a clear FAILURE of its own type
  and the worker keeps serving (a good task after each);
- --max-fetches and --per-host, observed at the server as concurrent
  connections;
- CPU tasks keep flowing while 100 fetches wait on a silent server, and a
  backlog of URL tasks never makes the worker read past --prefetch;
- with the child side of streams (branch s2-task): bodies of every framing
  hashed and checked against hashlib, their "source" facts, path files, a
  256 MiB body with flat parent memory, and a worker SIGKILLed in the middle
  of a download whose task a second worker takes over.

The servers are the ones tests/system/test_fetch.py uses (127.0.0.1,
opened with --allow-hosts).
"""

import hashlib
import os
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import (PREFIX_CMD, assert_failure, enqueue, enqueue_many, pending_count,
                     result_of, wait_result, wait_until)
from test_fetch import Server, Silent, body, sha512
from test_fetch import tls  # noqa: F401  (a fixture)

ALLOW = ["--allow-hosts", "127.0.0.0/8"]


def url_task(tid, url, **args):
    a = {"algorithm": "sha512", "url": url}
    a.update(args)
    return {"task": "hash", "id": tid, "args": a}


def path_task(tid, path):
    return {"task": "hash", "id": tid,
            "args": {"algorithm": "sha512", "path": path}}


def good_task(tid):
    return {"task": "hash", "id": tid, "args": {"data": tid}}


def assert_good(r, tid):
    """The worker still serves: an inline task succeeds."""
    enqueue(r, good_task(tid))
    doc = wait_result(r, tid, timeout=60)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == hashlib.sha512(tid.encode()).hexdigest()


@pytest.fixture(scope="module")
def server():
    s = Server()
    try:
        yield s
    finally:
        s.stop()


# ---- bad cases: each a clear FAILURE, and the worker goes on -------------------


def test_url_failures(r, worker, server, tls):  # noqa: F811
    worker(*ALLOW, "--max-fetch-bytes", "100000", "--max-redirects", "3",
           "--first-byte-timeout", "1", "--connect-timeout", "2")
    silent = Silent()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, never listening: refused
    try:
        cases = [
            ("dns", "http://no-such-host.invalid/x", {}, "DNSError",
             ["no-such-host.invalid"]),
            ("refused", "http://127.0.0.1:%d/x" % closed.getsockname()[1],
             {}, "ConnectError", []),
            ("silent", "http://127.0.0.1:%d/x" % silent.port, {}, "Timeout",
             ["first-byte"]),
            ("big", server.url("/size/200000"), {}, "BodyTooLarge",
             ["100000"]),
            ("loop", server.url("/loop"), {}, "TooManyRedirects", []),
            ("to-metadata", server.url("/to?http://169.254.169.254/latest"),
             {}, "AddressRefused", ["169.254.169.254"]),
            ("literal-refused", "http://10.1.2.3/x", {}, "AddressRefused",
             ["10.1.2.3"]),
            ("untrusted", tls["good"].url("/size/10", scheme="https"), {},
             "TLSError", []),
            ("404", server.url("/status/404"), {}, "HTTPError", ["404"]),
            ("503", server.url("/status/503"), {}, "HTTPError", ["503"]),
            ("file", "file:///etc/passwd", {}, "SchemeRefused", []),
            ("ftp", "ftp://127.0.0.1/x", {}, "SchemeRefused", []),
            ("no-host", "http:///x", {}, "BadURL", []),
        ]
        for name, url, extra, etype, words in cases:
            tid = "bad-" + name
            enqueue(r, url_task(tid, url, **extra))
            doc = wait_result(r, tid, timeout=60)
            assert_failure(doc, etype, *words)
            assert_good(r, "after-" + name)
        # Argument errors are the parent's verdicts too.
        for name, args, words in [
            ("not-string", {"url": 5}, ["url"]),
            ("two-sources", {"url": server.url("/size/1"), "data": "x"},
             ["two sources"]),
            ("accept", {"url": server.url("/size/1"), "accept_status": "2xx"},
             ["accept_status"]),
        ]:
            tid = "arg-" + name
            enqueue(r, {"task": "hash", "id": tid, "args": args})
            assert_failure(wait_result(r, tid, timeout=60),
                           "InvalidArgument", *words)
        assert_good(r, "after-args")
        # Nothing is left pending: every task was acknowledged.
        wait_until(lambda: pending_count(r) == 0, 30, what="no pending")
    finally:
        silent.stop()
        closed.close()


def test_tls_wrong_name(r, worker, tls):  # noqa: F811
    """A certificate from a trusted CA for another name is refused."""
    worker(*ALLOW, "--ca-file", tls["ca"])
    enqueue(r, url_task("tls-name", tls["wrong"].url("/size/10",
                                                     scheme="https")))
    doc = wait_result(r, "tls-name", timeout=60)
    assert_failure(doc, "TLSError")
    assert "issuer" not in doc["error"]["message"], doc
    assert_good(r, "after-tls-name")


def test_path_failures(r, worker, tmp_dir):
    root = os.path.join(tmp_dir, "root")
    os.mkdir(root)
    os.mkdir(os.path.join(root, "dir"))
    os.mkfifo(os.path.join(root, "fifo"))
    with open(os.path.join(tmp_dir, "outside"), "w") as f:
        f.write("secret")
    os.symlink(os.path.join(tmp_dir, "outside"), os.path.join(root, "link"))
    os.symlink("../outside", os.path.join(root, "rel-link"))
    worker("--files-root", root)
    cases = [
        ("dotdot", "../outside", "PathOutsideRoot"),
        ("absolute", os.path.join(tmp_dir, "outside"), "PathOutsideRoot"),
        ("symlink", "link", "PathOutsideRoot"),
        ("rel-symlink", "rel-link", "PathOutsideRoot"),
        ("dir", "dir", "NotAFile"),
        ("fifo", "fifo", "NotAFile"),
        ("missing", "no-such-file", "FileNotFound"),
    ]
    for name, path, etype in cases:
        tid = "p-" + name
        enqueue(r, path_task(tid, path))
        assert_failure(wait_result(r, tid, timeout=60), etype)
        assert_good(r, "after-" + name)
    wait_until(lambda: pending_count(r) == 0, 30, what="no pending")


def test_path_without_files_root(r, worker):
    worker()
    enqueue(r, path_task("nr", "a.txt"))
    assert_failure(wait_result(r, "nr", timeout=60), "NoFilesRoot",
                   "--files-root")
    assert_good(r, "after-nr")


def test_files_root_bad_dir_is_a_startup_error(worker, tmp_dir):
    w = worker("--files-root", os.path.join(tmp_dir, "nope"),
               wait_ready=False)
    assert w.wait(timeout=30) == 78
    assert "--files-root" in w.log()


# ---- throttling, observed at the server ---------------------------------------


class Counting:
    """An HTTP server on host whose answers take `hold` seconds (503, so
    no body goes to a child) and that records the most connections it
    held open at once."""

    def __init__(self, host="127.0.0.1", hold=0.4, status=503):
        outer = self
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.served = 0
        self.hold = hold
        self.stopping = threading.Event()

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with outer.lock:
                    outer.now += 1
                    outer.peak = max(outer.peak, outer.now)
                outer.stopping.wait(outer.hold)
                # Counted down before the answer goes out: the worker's
                # fetch surely runs over the whole counted interval, so
                # the peak never overstates its concurrency.
                with outer.lock:
                    outer.now -= 1
                    outer.served += 1
                try:
                    data = b"busy\n"
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer((host, 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = host
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://%s:%d%s" % (self.host, self.port, path)

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


def test_per_host_and_max_fetches(r, worker):
    a = Counting("127.0.0.1")
    b = Counting("127.0.0.2")
    try:
        # Two hosts, 2 each at most, 3 in all: neither host reaches more
        # than 2, and the worker as a whole 3.
        worker(*ALLOW, "--max-fetches", "3", "--per-host", "2",
               "--prefetch", "40")
        n = 16
        msgs = []
        for i in range(n):
            msgs.append(url_task("a%d" % i, a.url("/x%d" % i)))
            msgs.append(url_task("b%d" % i, b.url("/x%d" % i)))
        enqueue_many(r, msgs)
        for i in range(n):
            for h in "ab":
                assert_failure(wait_result(r, "%s%d" % (h, i), timeout=120),
                               "HTTPError", "503")
        assert a.served == n and b.served == n
        assert a.peak == 2 and b.peak == 2, (a.peak, b.peak)
    finally:
        a.stop()
        b.stop()


def test_max_fetches_one_host(r, worker):
    a = Counting("127.0.0.1", hold=0.3)
    try:
        worker(*ALLOW, "--max-fetches", "5", "--per-host", "0",
               "--prefetch", "40")
        enqueue_many(r, [url_task("m%d" % i, a.url("/m%d" % i))
                         for i in range(30)])
        for i in range(30):
            assert_failure(wait_result(r, "m%d" % i, timeout=120),
                           "HTTPError")
        assert a.served == 30
        assert a.peak == 5, a.peak
    finally:
        a.stop()


def test_cpu_tasks_flow_while_fetches_wait(r, worker):
    """100 fetches wait on a server that never answers; inline tasks go
    through the children meanwhile, and the worker holds no more than its
    prefetch."""
    silent = Silent()
    try:
        worker(*ALLOW, "--max-fetches", "100", "--per-host", "0",
               "--prefetch", "150",
               "--first-byte-timeout", "600", "--fetch-timeout", "600")
        enqueue_many(r, [url_task("slow%d" % i,
                                  "http://127.0.0.1:%d/s%d" % (silent.port, i))
                         for i in range(100)])
        wait_until(lambda: len(silent.held) >= 100, 60,
                   what="100 connections at the silent server")
        t0 = time.monotonic()
        enqueue_many(r, [good_task("cpu%d" % i) for i in range(50)])
        for i in range(50):
            doc = wait_result(r, "cpu%d" % i, timeout=60)
            assert doc["status"] == "SUCCESS", doc
        took = time.monotonic() - t0
        # None of the waiting ones has a result; they are all held.
        assert all(result_of(r, "slow%d" % i) is None for i in range(100))
        assert pending_count(r) == 100
        print("50 inline tasks beside 100 waiting fetches: %.2f s" % took)
    finally:
        silent.stop()


def test_url_backlog_stays_within_prefetch(r, worker):
    silent = Silent()
    try:
        # A fixed window: the worker holds exactly --prefetch (the
        # adaptive one would hold the 5 fetches and one task per child).
        worker(*ALLOW, "--max-fetches", "5", "--prefetch", "20",
               "--window", "fixed",
               "--first-byte-timeout", "600", "--fetch-timeout", "600")
        enqueue_many(r, [url_task("bl%d" % i,
                                  "http://127.0.0.1:%d/b%d" % (silent.port, i))
                         for i in range(200)])
        wait_until(lambda: len(silent.held) >= 5, 60,
                   what="5 connections at the silent server")
        # Several read rounds' time: the worker reads no further.
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert pending_count(r) <= 20
            time.sleep(0.1)
        assert len(silent.held) == 5
        assert pending_count(r) == 20
    finally:
        silent.stop()


# ---- end to end: bodies streamed into a child ---------------------------------
#
# These need the child side of streams and descriptor tasks (IPC_CHUNK,
# IPC_END, IPC_TASK_FD; branch s2-task).  A child without it cannot parse a
# chunk frame, exits with "malformed frame from parent", and the task ends
# WorkerLost: only then is a test skipped, saying so.


def old_child(doc, w):
    """Whether doc is what a child without streams and descriptor tasks
    answers: it runs the task on the message alone (no 'data'), or dies
    on the first chunk frame."""
    err = doc.get("error") or {}
    return (doc["status"] != "SUCCESS" and
            ((err.get("type") == "InvalidArgument" and
              "'data'" in err.get("message", "")) or
             "malformed frame from parent" in w.log()))


def need_streams(r, w, url):
    enqueue(r, url_task("probe", url))
    doc = wait_result(r, "probe", timeout=120)
    if old_child(doc, w):
        pytest.skip("the children do not take streamed tasks yet (the "
                    "child side is on branch s2-task)")
    assert doc["status"] == "SUCCESS", doc


class Pattern:
    """Serves /pattern/N (N bytes, a repeated 1 MiB block, with
    Content-Length) and /slow/N (the same bytes, 64 KiB every 50 ms);
    counts requests and the bytes sent of each."""

    BLOCK = None

    def __init__(self):
        outer = self
        self.requests = 0
        self.sent = 0
        self.ended = 0  # requests whose handler returned
        self.stopping = threading.Event()
        if Pattern.BLOCK is None:
            Pattern.BLOCK = body(1 << 20)

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.requests += 1
                kind, n = self.path.split("/")[1:3]
                n = int(n)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-test")
                self.send_header("Content-Length", str(n))
                self.end_headers()
                step = 65536 if kind == "slow" else 1 << 20
                try:
                    off = 0
                    while off < n and not outer.stopping.is_set():
                        k = min(step, n - off)
                        i = off % len(Pattern.BLOCK)
                        piece = (Pattern.BLOCK[i:] + Pattern.BLOCK)[:k]
                        self.wfile.write(piece)
                        off += k
                        outer.sent += k
                        if kind == "slow":
                            outer.stopping.wait(0.05)
                except OSError:
                    pass
                finally:
                    outer.ended += 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    @staticmethod
    def digest(n):
        h = hashlib.sha512()
        blk = Pattern.BLOCK
        full, rest = divmod(n, len(blk))
        for _ in range(full):
            h.update(blk)
        h.update(blk[:rest])
        return h.hexdigest()

    def stop(self):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture
def pattern():
    p = Pattern()
    try:
        yield p
    finally:
        p.stop()


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM for %d" % pid)


def test_url_digests_and_facts(r, worker, server):
    w = worker(*ALLOW)
    need_streams(r, w, server.url("/size/10"))
    cases = [
        ("empty", "/size/0", body(0), {}),
        ("one", "/size/1", body(1), {}),
        ("64k", "/size/65536", body(65536), {}),
        ("3m", "/size/3000000", body(3000000), {}),
        ("chunked", "/chunked/300000", body(300000), {}),
        ("close", "/close/100000", body(100000), {}),
        ("redirect", "/redirect/2", body(1000), {}),
        ("any-status", "/status/404", b"status body\n",
         {"accept_status": "any"}),
    ]
    msgs = [url_task("d-" + name, server.url(path), **extra)
            for name, path, _, extra in cases]
    enqueue_many(r, msgs)
    for name, path, data, extra in cases:
        doc = wait_result(r, "d-" + name, timeout=120)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == sha512(data), (name, doc)
        assert doc["result"]["bytes"] == len(data), (name, doc)
        src = doc["source"]
        assert src["url"] == server.url(path)
        assert src["bytes"] == len(data)
        assert src["status"] == (404 if name == "any-status" else 200)
        assert src["redirects"] == (2 if name == "redirect" else 0)
        if name == "redirect":
            assert src["final_url"].endswith("/size/1000"), src
        assert src["fetch_ms"] >= src["ttfb_ms"] >= 0, src
    assert_good(r, "after-digests")


def test_large_body_flat_parent_memory(r, worker, pattern):
    n = 1 << 30
    # Under `make asan`, freed blocks would sit in ASan's quarantine and
    # count as resident: measure live memory instead.
    env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                            ":quarantine_size_mb=0").lstrip(":")}
    w = worker(*ALLOW, "--max-fetch-bytes", str(n), env=env)
    if PREFIX_CMD:
        pytest.skip("peak RSS would be the wrapper's (%s), not the worker's"
                    % PREFIX_CMD[0])
    need_streams(r, w, pattern.url("/pattern/1000"))
    before = vm_hwm_kb(w.pid)
    enqueue(r, url_task("big", pattern.url("/pattern/%d" % n)))
    doc = wait_result(r, "big", timeout=600)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == Pattern.digest(n)
    after = vm_hwm_kb(w.pid)
    print("parent VmHWM %d KiB before, %d KiB after a %d MiB body"
          % (before, after, n >> 20))
    # Back-pressure holds about 1 MiB in the parent: 16 MiB is generous.
    assert after - before < 16 * 1024, (before, after)


def test_worker_killed_mid_download(r, worker, pattern):
    """A worker SIGKILLed while it streams a body loses nothing: a second
    worker takes the task over and hashes the whole body."""
    n = 4 << 20
    a = worker(*ALLOW, "--visibility-timeout", "2")
    need_streams(r, a, pattern.url("/pattern/1000"))
    pattern.requests = 0
    enqueue(r, url_task("killed", pattern.url("/slow/%d" % n)))
    wait_until(lambda: pattern.sent >= 1000 + (512 << 10), 60,
               what="the download to be under way")
    a.kill()
    assert result_of(r, "killed") is None
    worker(*ALLOW, "--visibility-timeout", "2")
    doc = wait_result(r, "killed", timeout=120)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == Pattern.digest(n)
    assert pattern.requests == 2
    wait_until(lambda: pending_count(r) == 0, 30, what="no pending")


def test_child_killed_with_a_stream_open(r, worker, pattern):
    """The child taking a body dies: the fetch is aborted and the task is
    run again, from a new fetch."""
    n = 4 << 20
    w = worker(*ALLOW, concurrency=1)
    need_streams(r, w, pattern.url("/pattern/1000"))
    pattern.requests = 0
    kid = w.children()[0]
    enqueue(r, url_task("kid", pattern.url("/slow/%d" % n)))
    wait_until(lambda: pattern.sent >= 1000 + (512 << 10), 60,
               what="the download to be under way")
    os.kill(kid, 9)
    doc = wait_result(r, "kid", timeout=120)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == Pattern.digest(n)
    assert pattern.requests == 2


def test_path_digests(r, worker, tmp_dir):
    root = os.path.join(tmp_dir, "files")
    os.makedirs(os.path.join(root, "sub"))
    files = {"empty": b"", "one": b"x", "sub/three-mib": body(3 << 20)}
    for name, data in files.items():
        with open(os.path.join(root, name), "wb") as f:
            f.write(data)
    w = worker("--files-root", root, *ALLOW)
    enqueue(r, path_task("pprobe", "one"))
    doc = wait_result(r, "pprobe", timeout=120)
    if old_child(doc, w):
        pytest.skip("the children do not take descriptor tasks yet (the "
                    "child side is on branch s2-task)")
    enqueue_many(r, [path_task("f-" + n, n) for n in files])
    for name, data in files.items():
        doc = wait_result(r, "f-" + name, timeout=120)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"]["digest"] == sha512(data), (name, doc)
    assert_good(r, "after-paths")


def test_cluster_per_host_across_workers(r, worker):
    """Two workers, each allowed 8 fetches to the host, share a limit of 2
    held in Redis: the server never sees more than 2 at once, and every
    lease is released at the end."""
    a = Counting("127.0.0.1", hold=0.4)
    try:
        for _ in range(2):
            worker(*ALLOW, "--cluster-per-host", "2", "--per-host", "8",
                   "--prefetch", "20", "--heartbeat", "0.5")
        n = 24
        enqueue_many(r, [url_task("c%d" % i, a.url("/c%d" % i))
                         for i in range(n)])
        for i in range(n):
            assert_failure(wait_result(r, "c%d" % i, timeout=120),
                           "HTTPError", "503")
        assert a.served == n
        assert a.peak == 2, a.peak
        key = "celeriac:hostsem:127.0.0.1"
        wait_until(lambda: r.zcard(key) == 0, 30,
                   what="every lease of %s released" % key)
    finally:
        a.stop()


def test_cluster_semaphore_key_of_another_type(r, worker, server):
    """A semaphore key holding something else is refused (the script checks
    the type first): the task fails saying which key, and is not fetched."""
    r.set("celeriac:hostsem:127.0.0.1", "not a zset")
    try:
        worker(*ALLOW, "--cluster-per-host", "2")
        before = len(server.requests)
        enqueue(r, url_task("wt", server.url("/size/10")))
        assert_failure(wait_result(r, "wt", timeout=60), "InternalError",
                       "celeriac:hostsem:127.0.0.1")
        assert len(server.requests) == before
        assert r.get("celeriac:hostsem:127.0.0.1") == b"not a zset"
        assert_good(r, "after-wrongtype")
    finally:
        r.delete("celeriac:hostsem:127.0.0.1")


def test_long_fetch_is_kept_alive(r, worker, pattern):
    """A download that lasts several visibility timeouts is not taken over
    by another worker: the touch keeps a fetching task's entry fresh."""
    n = 4 << 20  # 64 KiB every 50 ms: over 3 s
    a = worker(*ALLOW, "--visibility-timeout", "1")
    need_streams(r, a, pattern.url("/pattern/1000"))
    worker(*ALLOW, "--visibility-timeout", "1")
    pattern.requests = 0
    enqueue(r, url_task("long", pattern.url("/slow/%d" % n)))
    doc = wait_result(r, "long", timeout=120)
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == Pattern.digest(n)
    assert pattern.requests == 1


def test_warm_shutdown_finishes_a_fetch(r, worker, pattern):
    """SIGTERM while a body streams: the fetch finishes, the result is
    stored, the worker exits 0."""
    n = 2 << 20
    w = worker(*ALLOW)
    need_streams(r, w, pattern.url("/pattern/1000"))
    pattern.requests = 0
    enqueue(r, url_task("warm", pattern.url("/slow/%d" % n)))
    wait_until(lambda: pattern.sent >= 1000 + (256 << 10), 60,
               what="the download to be under way")
    w.stop()
    assert w.returncode == 0
    doc = result_of(r, "warm")
    assert doc is not None and doc["status"] == "SUCCESS", doc
    assert doc["result"]["digest"] == Pattern.digest(n)
    assert pending_count(r) == 0


STOP_AFTER = """
    #include <celeriac/task.h>
    #include <stdlib.h>
    /* Refuses its stream once it has seen more than 100,000 bytes. */
    struct run { size_t n; };
    static void *init(const json_t *a, struct celeriac_error *e)
    { (void)a; (void)e; return calloc(1, sizeof(struct run)); }
    static int update(void *s, const unsigned char *p, size_t n,
                      struct celeriac_error *e)
    {
        struct run *r = s;
        (void)p;
        r->n += n;
        if (r->n <= 100000)
            return 0;
        celeriac_error_set(e, "TooLong", "more than 100000 bytes");
        return -1;
    }
    static json_t *final(void *s, struct celeriac_error *e)
    { (void)e; return json_integer((json_int_t)((struct run *)s)->n); }
    static const struct celeriac_task t = {
        CELERIAC_TASK_API_VERSION, "stopafter", NULL, CELERIAC_INPUT_BYTES,
        NULL, init, update, final, free};
    int celeriac_plugin_init(unsigned v, celeriac_register_fn reg, void *c);
    int celeriac_plugin_init(unsigned v, celeriac_register_fn reg, void *c)
    { return v == CELERIAC_TASK_API_VERSION ? reg(c, &t) : -1; }
"""


def test_early_failure_aborts_the_fetch(r, worker, pattern, tmp_path):
    """A task that refuses its stream part-way (here a plug-in whose
    update() fails past 100,000 bytes) answers at once; the parent stops
    the download.  (An unknown algorithm is refused before any fetch, by
    the task's validate(): test_refused_arguments_are_not_fetched.)"""
    from test_plugin import build_plugin
    so = build_plugin(tmp_path, "stopafter", STOP_AFTER)
    n = 64 << 20  # 64 KiB every 50 ms: 50 s if it were read whole
    w = worker(*ALLOW, "--load", so)
    need_streams(r, w, pattern.url("/pattern/1000"))
    pattern.sent = 0
    enqueue(r, {"task": "stopafter", "id": "early",
                "args": {"url": pattern.url("/slow/%d" % n)}})
    doc = wait_result(r, "early", timeout=60)
    assert_failure(doc, "TooLong", "100000")
    # The connection is closed: the server's writes fail long before the
    # body's end (which would take 50 s).
    wait_until(lambda: pattern.ended >= 2, 30,
               what="the server to see the download dropped")
    assert pattern.sent < n // 4, pattern.sent
    assert_good(r, "after-early")


def test_refused_arguments_are_not_fetched(r, worker, pattern):
    """The parent runs the task's validate() before it fetches: a url task
    whose arguments its task refuses, or of an unknown task, fails without
    a request to the server."""
    w = worker(*ALLOW)
    need_streams(r, w, pattern.url("/pattern/1000"))
    pattern.requests = 0
    enqueue(r, {"task": "hash", "id": "bad-iter",
                "args": {"iterations": "many",
                         "url": pattern.url("/pattern/1000")}})
    assert_failure(wait_result(r, "bad-iter", timeout=60), "InvalidArgument",
                   "iterations")
    enqueue(r, {"task": "hash", "id": "bad-algo",
                "args": {"algorithm": "no-such-algorithm",
                         "url": pattern.url("/pattern/1000")}})
    assert_failure(wait_result(r, "bad-algo", timeout=60),
                   "UnknownAlgorithm", "no-such-algorithm")
    enqueue(r, {"task": "no-such-task", "id": "bad-task",
                "args": {"url": pattern.url("/pattern/1000")}})
    assert_failure(wait_result(r, "bad-task", timeout=60), "UnknownTask",
                   "no-such-task", "hash")
    assert pattern.requests == 0
    assert_good(r, "after-refused")
