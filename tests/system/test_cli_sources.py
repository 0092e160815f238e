# SPDX-License-Identifier: MIT
"""`celeriac hash --url / --urls / --remote / --unordered` (PROTOCOL.md,
"Sources").

The first tests need no worker: the producer's argument errors, the task
messages it writes (read back from Redis), and its output for results a
stand-in worker in this file writes to the reply stream — one that reads
the named files itself, so that the output can be compared byte for byte
with `sha512sum` run in the same directory, odd names included.

The end-to-end tests at the bottom run a real celeriac-worker with url and
path sources (`--allow-hosts`, `--files-root`); they skip, saying why, when
the worker binary does not have those options yet.
"""

import ctypes
import hashlib
import json
import os
import queue
import select
import struct
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import (PRODUCER_BIN, QUEUE, SLOW, WORKER_BIN,
                     assert_failure, assert_success, enqueue, wait_result,
                     wait_until)


# ---- running the producer in the background ---------------------------------


class Producer:
    """`celeriac ARGS` running while the test plays the worker.  Its stdout
    is read line by line as it comes (self.lines, a queue)."""

    def __init__(self, redis_server, args, cwd, input=None, stderr=None):
        env = dict(os.environ)
        env["CELERIAC_REDIS_URL"] = redis_server.url
        env.pop("CELERIAC_REDIS_PASSWORD", None)
        self.argv = [PRODUCER_BIN] + [a if isinstance(a, bytes) else str(a)
                                      for a in args]
        self.proc = subprocess.Popen(
            self.argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
            stderr=stderr if stderr is not None else subprocess.PIPE,
            stdin=subprocess.PIPE if input is not None
            else subprocess.DEVNULL)
        if input is not None:
            self.proc.stdin.write(input)
            self.proc.stdin.close()
        self.lines = queue.Queue()
        self.out = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line)
            self.lines.put(line)

    def next_line(self, timeout=30):
        return self.lines.get(timeout=timeout * SLOW)

    def finish(self, timeout=60):
        rc = self.proc.wait(timeout=timeout * SLOW)
        self.reader.join(timeout=10 * SLOW)
        err = self.proc.stderr.read() if self.proc.stderr else b""
        return rc, b"".join(self.out), err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def producer(redis_server, tmp_dir):
    started = []

    def start(*args, cwd=None, input=None, stderr=None):
        p = Producer(redis_server, args, cwd or tmp_dir, input, stderr)
        started.append(p)
        return p

    try:
        yield start
    finally:
        for p in started:
            p.kill()


# ---- a stand-in worker --------------------------------------------------------


def taken(r, n):
    """Waits for n task messages in the queue; returns them decoded."""
    def got():
        e = r.xrange(QUEUE)
        return e if len(e) >= n else None
    entries = wait_until(got, timeout=30, what="%d task messages" % n)
    assert len(entries) == n, entries
    return [json.loads(e[1][b"msg"]) for e in entries]


def answer(r, msg, digest=None, nbytes=0, error=None):
    """Writes the result of msg to its reply stream, as a worker would."""
    if error is None:
        doc = {"id": msg["id"], "task": "hash", "status": "SUCCESS",
               "result": {"algorithm": msg["args"]["algorithm"],
                          "digest": digest, "bytes": nbytes},
               "error": None}
    else:
        doc = {"id": msg["id"], "task": "hash", "status": "FAILURE",
               "result": None,
               "error": {"type": error[0], "message": error[1]}}
    r.xadd(msg["reply_to"], {"result": json.dumps(doc)})


def answer_from_files(r, msg, root):
    """Answers a path task by hashing root/path here (what a worker with
    --files-root root does)."""
    path = os.path.join(root.encode(), msg["args"]["path"].encode())
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return answer(r, msg, error=("FileNotFound", "no such file"))
    h = hashlib.new(msg["args"]["algorithm"], data)
    answer(r, msg, h.hexdigest(), len(data))


def fake_digest(text):
    return hashlib.sha512(text.encode()).hexdigest()


# ---- argument errors ----------------------------------------------------------


@pytest.mark.parametrize("args,words", [
    (["--url"], "at least one URL"),
    (["--remote"], "at least one PATH"),
    (["--url", "--remote", "x"], "cannot be combined"),
    (["--urls", "list.txt", "--remote", "x"], "cannot be combined"),
    (["--url", "--accept-status", "2xx", "http://a/"], "only value is 'any'"),
    (["--accept-status", "any", "file.txt"], "only applies with --url"),
    (["--remote", "-"], "standard input cannot be hashed"),
    (["-c", "--urls", "list.txt", "SUMS"], "makes no sense with --check"),
])
def test_argument_errors(r, celeriac, args, words):
    run = celeriac("hash", *args)
    assert run.rc == 2, run
    assert words.encode() in run.stderr, run
    assert b"celeriac hash --help" in run.stderr, run
    assert r.exists(QUEUE) == 0  # nothing was sent


def test_help_names_the_source_options(celeriac):
    run = celeriac("hash", "--help")
    assert run.rc == 0, run
    for opt in (b"--url", b"--urls LIST", b"--remote", b"--unordered",
                b"--accept-status any"):
        assert opt in run.stdout, opt


# ---- the messages -------------------------------------------------------------


def test_url_messages(r, producer, tmp_dir):
    """--url and --urls: one task per URL, the URL as the source of a hash
    task, list comments and blank lines skipped, URLs the workers would
    refuse for their form reported here and not sent."""
    with open(os.path.join(tmp_dir, "list.txt"), "wb") as f:
        f.write(b"# the mirror list\n\n   \n"
                b"  https://example.org/a?x=1&y=%20  \n"
                b"\t# an indented comment\n"
                b"ftp://example.org/file\n"
                b"http://example.org/bad-\xff\n"
                b"HTTP://EXAMPLE.ORG/upper\r\n")
    p = producer("hash", "-a", "sha256", "--accept-status", "any",
                 "--url", "http://127.0.0.1:1/first", "--urls", "list.txt")
    urls = ["http://127.0.0.1:1/first", "https://example.org/a?x=1&y=%20",
            "HTTP://EXAMPLE.ORG/upper"]
    msgs = taken(r, len(urls))
    for msg, url in zip(msgs, urls):
        assert msg["task"] == "hash", msg
        assert msg["args"] == {"algorithm": "sha256", "url": url,
                               "accept_status": "any"}, msg
        assert msg["reply_to"].startswith("celeriac:reply:"), msg
        answer(r, msg, hashlib.sha256(url.encode()).hexdigest())
    rc, out, err = p.finish()
    assert rc == 1, (out, err)  # two lines were refused
    assert out.decode() == "".join(
        "%s  %s\n" % (hashlib.sha256(u.encode()).hexdigest(), u)
        for u in urls)
    assert b"ftp://example.org/file: not an http:// or https:// URL" in err
    assert b"not valid UTF-8" in err
    assert len(r.xrange(QUEUE)) == len(urls)


def test_urls_from_stdin_and_failures(r, producer):
    p = producer("hash", "--urls", "-",
                 input=b"http://a.example/ok\nhttp://a.example/404\n")
    msgs = taken(r, 2)
    assert [m["args"] for m in msgs] == [
        {"algorithm": "sha512", "url": "http://a.example/ok"},
        {"algorithm": "sha512", "url": "http://a.example/404"}]
    answer(r, msgs[0], fake_digest("ok"))
    answer(r, msgs[1], error=("HTTPError", "the server answered 404"))
    rc, out, err = p.finish()
    assert rc == 1, err
    assert out.decode() == "%s  http://a.example/ok\n" % fake_digest("ok")
    assert b"HTTPError: the server answered 404" in err, err


# ---- --remote: output byte-identical to sha512sum run in the root -------------

ODD_NAMES = [
    "plain.txt", "with space", "back\\slash", "new\nline", "car\rriage",
    "tab\there", "quote'd\"", "caf\u00e9", "-dash", "sub/dir/deep.bin",
    "sub/..dots..", "#hash", "*star", "  lead", "trail  ",
]


def make_tree(root):
    for i, name in enumerate(ODD_NAMES):
        path = os.path.join(root, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(os.urandom(i * 1000 + 1))
    return ["./" + n if n.startswith("-") else n for n in ODD_NAMES]


@pytest.mark.parametrize("flags", [[], ["--tag"], ["-b"], ["-z"],
                                   ["-a", "sha256"]])
def test_remote_output_matches_sha512sum(r, producer, tmp_dir, flags):
    root = os.path.join(tmp_dir, "root")
    names = make_tree(root)
    p = producer("hash", "--remote", *flags, *names)
    msgs = taken(r, len(names))
    alg = "sha256" if "sha256" in flags else "sha512"
    for msg, name in zip(msgs, names):
        assert msg["args"] == {"algorithm": alg, "path": name}, msg
        answer_from_files(r, msg, root)
    rc, out, err = p.finish()
    assert rc == 0, err
    tool = "sha256sum" if alg == "sha256" else "sha512sum"
    want = subprocess.run([tool] + [f for f in flags if f != "sha256" and
                                    f != "-a"] + ["--"] + names,
                          cwd=root, capture_output=True, check=True).stdout
    assert out == want


def test_remote_check_mode(r, producer, tmp_dir):
    """-c --remote checks a SHA512SUMS made where the files are; with
    --ignore-missing a file the worker does not find is skipped."""
    root = os.path.join(tmp_dir, "root")
    names = make_tree(root)
    sums = subprocess.run(["sha512sum", "--"] + names, cwd=root,
                          capture_output=True, check=True).stdout
    sums += b"%s  gone.txt\n" % (b"0" * 128)
    with open(os.path.join(tmp_dir, "SUMS"), "wb") as f:
        f.write(sums)
    p = producer("hash", "-c", "--remote", "--ignore-missing", "SUMS")
    for msg in taken(r, len(names) + 1):
        answer_from_files(r, msg, root)
    rc, out, err = p.finish()
    assert rc == 0, err
    want = subprocess.run(["sha512sum", "-c", "--ignore-missing",
                           os.path.join(tmp_dir, "SUMS")], cwd=root,
                          capture_output=True).stdout
    assert out == want


def test_remote_name_not_utf8_reported(r, producer):
    """A name that is not UTF-8 cannot travel in a JSON message: it is
    reported and not sent; the others are."""
    p = producer("hash", "--remote", b"bad-\xff", "good")
    msg, = taken(r, 1)
    assert msg["args"]["path"] == "good", msg
    answer(r, msg, fake_digest("good"), 4)
    rc, out, err = p.finish()
    assert rc == 1, err
    assert out.decode() == "%s  good\n" % fake_digest("good")
    assert b"not valid UTF-8" in err and b"rename the file" in err, err


def test_check_mode_with_urls(r, producer, tmp_dir):
    """-c --url reads HEX  URL lines (what hash --url printed) and checks
    each URL again."""
    urls = ["http://a.example/1", "http://a.example/2"]
    with open(os.path.join(tmp_dir, "URLSUMS"), "w") as f:
        f.write("%s  %s\n" % (fake_digest(urls[0]), urls[0]))
        f.write("%s  %s\n" % ("0" * 128, urls[1]))
    p = producer("hash", "-c", "--url", "URLSUMS")
    msgs = taken(r, 2)
    assert [m["args"]["url"] for m in msgs] == urls
    for m in msgs:
        answer(r, m, fake_digest(m["args"]["url"]))
    rc, out, err = p.finish()
    assert rc == 1, err
    assert out.decode() == "%s: OK\n%s: FAILED\n" % tuple(urls)
    assert b"1 computed checksum did NOT match" in err, err


# ---- --unordered and the progress line -----------------------------------------


def test_unordered_prints_each_result_as_it_arrives(r, producer):
    urls = ["http://a.example/%d" % i for i in range(4)]
    p = producer("hash", "--unordered", "--url", *urls)
    msgs = taken(r, len(urls))
    # The last task finishes first: its line comes out alone, at once.
    answer(r, msgs[3], fake_digest(urls[3]))
    assert p.next_line() == ("%s  %s\n" % (fake_digest(urls[3]),
                                           urls[3])).encode()
    for i in (1, 0, 2):
        answer(r, msgs[i], fake_digest(urls[i]))
        assert p.next_line() == ("%s  %s\n" % (fake_digest(urls[i]),
                                               urls[i])).encode()
    rc, out, err = p.finish()
    assert rc == 0, err


def test_ordered_output_keeps_the_list_order(r, producer):
    urls = ["http://a.example/%d" % i for i in range(5)]
    p = producer("hash", "--url", *urls)
    for msg in reversed(taken(r, len(urls))):
        answer(r, msg, fake_digest(msg["args"]["url"]))
    rc, out, err = p.finish()
    assert rc == 0, err
    assert out.decode() == "".join("%s  %s\n" % (fake_digest(u), u)
                                   for u in urls)


def test_progress_line_shows_rate_and_eta(r, producer):
    """With stderr on a terminal (and stdout not), a progress line counts
    the results in, with a rate and the time left."""
    master, slave = os.openpty()
    try:
        urls = ["http://a.example/%d" % i for i in range(2)]
        p = producer("hash", "--url", *urls, stderr=slave)
        os.close(slave)
        slave = None
        msgs = taken(r, 2)
        answer(r, msgs[0], fake_digest(urls[0]))
        seen = b""

        def drawn():
            nonlocal seen
            seen += os.read(master, 4096)
            return b"hashed 1/2" in seen

        def readable_then_drawn():
            rd, _, _ = select.select([master], [], [], 0.1)
            return rd and drawn()
        wait_until(readable_then_drawn, timeout=60,
                   what="the progress line for 1 of 2")
        line = seen[seen.rindex(b"hashed 1/2"):]
        assert b"50%" in line and b"/s" in line and b"ETA" in line, seen
        answer(r, msgs[1], fake_digest(urls[1]))
        rc, out, _ = p.finish()
        assert rc == 0
        while select.select([master], [], [], 0.5)[0]:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert b"hashed 2/2 100%" in seen, seen
        assert len(out.splitlines()) == 2
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)


# ---- end to end, with a worker that has url and path sources -------------------


def worker_help():
    try:
        return subprocess.run([WORKER_BIN, "--help"], capture_output=True,
                              timeout=30).stdout.decode()
    except OSError:
        return ""


_HELP = worker_help()
needs_url = pytest.mark.skipif(
    "--allow-hosts" not in _HELP,
    reason="celeriac-worker has no url sources (--allow-hosts) yet: these "
           "run once the worker side of issue 9 is merged")
needs_path = pytest.mark.skipif(
    "--files-root" not in _HELP,
    reason="celeriac-worker has no path sources (--files-root) yet: these "
           "run once the worker side of issue 9 is merged")


def need_child_side(r, w, args):
    """Runs a probe task with these args: skips the test when the worker's
    children cannot take streamed or descriptor tasks yet (a child without
    them runs hash on the message alone and asks for 'data', or dies on
    the first chunk frame)."""
    tid = "probe-%d" % len(r.keys("celeriac:result:probe-*"))
    enqueue(r, {"task": "hash", "id": tid, "args": args})
    doc = wait_result(r, tid, timeout=120)
    err = doc.get("error") or {}
    if doc["status"] != "SUCCESS" and (
            (err.get("type") == "InvalidArgument" and
             "'data'" in err.get("message", "")) or
            "malformed frame from parent" in w.log()):
        pytest.skip("the worker's children do not take url or path "
                    "sources yet (the child side of issue 9)")
    assert doc["status"] == "SUCCESS", doc


class Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def http_dir(tmp_dir):
    """A directory served over HTTP on 127.0.0.1: (dir, base URL)."""
    d = os.path.join(tmp_dir, "www")
    os.makedirs(d)
    srv = ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a, **k: Quiet(*a, directory=d, **k))
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    try:
        yield d, "http://127.0.0.1:%d/" % srv.server_address[1]
    finally:
        srv.shutdown()
        srv.server_close()


@needs_url
def test_e2e_url_digests_match_sha512sum(r, worker, celeriac, http_dir):
    d, base = http_dir
    sizes = {"empty": 0, "small": 1000, "mib": 1 << 20, "big": 5 << 20}
    for name, n in sizes.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(os.urandom(n))
    w = worker("--allow-hosts", "127.0.0.1")
    need_child_side(r, w, {"url": base + "small"})
    urls = [base + n for n in sizes]
    run = celeriac("hash", "--url", *urls)
    assert run.rc == 0, run
    sums = subprocess.run(["sha512sum"] + list(sizes), cwd=d,
                          capture_output=True, check=True).stdout.decode()
    want = "".join("%s  %s\n" % (line.split()[0], base + line.split()[1])
                   for line in sums.splitlines())
    assert run.text() == want
    # Each result carries the facts of its fetch.
    docs = [json.loads(r.get(k)) for k in r.keys("celeriac:result:*")
            if not k.startswith(b"celeriac:result:probe")]
    assert len(docs) == len(sizes), docs
    for doc in docs:
        src = doc["source"]
        name = src["url"][len(base):]
        assert src["final_url"] == src["url"] and src["status"] == 200, doc
        assert src["bytes"] == sizes[name] == doc["result"]["bytes"], doc
        assert src["redirects"] == 0 and src["fetch_ms"] >= 0, doc

    # A missing page is a failure, unless any status is accepted.
    run = celeriac("hash", "--url", base + "nope")
    assert run.rc == 1, run
    assert b"HTTPError" in run.stderr, run
    run = celeriac("hash", "--url", "--accept-status", "any", base + "nope")
    assert run.rc == 0, run
    assert len(run.stdout.split()[0]) == 128, run


@needs_path
def test_e2e_remote_tree_matches_sha512sum(r, worker, celeriac, tmp_dir):
    root = os.path.join(tmp_dir, "root")
    names = make_tree(root)
    w = worker("--files-root", root)
    need_child_side(r, w, {"path": "plain.txt"})
    run = celeriac("hash", "--remote", *names)
    assert run.rc == 0, run
    want = subprocess.run(["sha512sum", "--"] + names, cwd=root,
                          capture_output=True, check=True).stdout
    assert run.stdout == want


@needs_path
def test_e2e_path_escapes_fail_clearly(r, worker, tmp_dir):
    root = os.path.join(tmp_dir, "root")
    os.makedirs(os.path.join(root, "dir"))
    with open(os.path.join(tmp_dir, "secret"), "wb") as f:
        f.write(b"outside the root")
    with open(os.path.join(root, "good"), "wb") as f:
        f.write(b"inside")
    os.symlink("../secret", os.path.join(root, "link-out"))
    os.mkfifo(os.path.join(root, "fifo"))
    w = worker("--files-root", root)
    cases = {
        "dotdot": ("../secret", "PathOutsideRoot", "--files-root"),
        "absolute": (os.path.join(tmp_dir, "secret"), "PathOutsideRoot",
                     "--files-root"),
        "link": ("link-out", "PathOutsideRoot", "symbolic link"),
        "dir": ("dir", "NotAFile", "a directory"),
        "fifo": ("fifo", "NotAFile", "a FIFO"),
        "missing": ("missing", "FileNotFound", "does not exist"),
    }
    for tid, (path, _, _) in cases.items():
        enqueue(r, {"task": "hash", "id": tid, "args": {"path": path}})
    for tid, (path, kind, words) in cases.items():
        assert_failure(wait_result(r, tid, timeout=60), kind, path, words)
    # The worker keeps serving.
    need_child_side(r, w, {"path": "good"})
    enqueue(r, {"task": "hash", "id": "good", "args": {"path": "good"}})
    doc = wait_result(r, "good", timeout=60)
    assert_success(doc, "sha512", b"inside")
    assert doc["source"] == {"path": "good", "bytes": 6}, doc
    assert w.alive()


# A file that changes while a child reads it.  To make it deterministic,
# fanotify (FAN_ACCESS_PERM) holds each read() of the file until the test
# answers: the first read is let through, then the file is truncated (or
# grown) before the second is allowed.  The parent has opened the file and
# taken its size long before the child's first read.

FAN_CLASS_CONTENT = 0x4
FAN_CLOEXEC = 0x1
FAN_MARK_ADD = 0x1
FAN_ACCESS_PERM = 0x20000
FAN_ALLOW = 0x1
AT_FDCWD = -100


class ReadGate:
    """Holds every read() of one file; on_read(n) runs before the n-th
    (from 1) is allowed."""

    def __init__(self, path, on_read):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fanotify_mark.argtypes = [ctypes.c_int, ctypes.c_uint,
                                       ctypes.c_uint64, ctypes.c_int,
                                       ctypes.c_char_p]
        self.fd = libc.fanotify_init(FAN_CLASS_CONTENT | FAN_CLOEXEC,
                                     os.O_RDONLY)
        if self.fd < 0:
            raise OSError(ctypes.get_errno(), "fanotify_init")
        if libc.fanotify_mark(self.fd, FAN_MARK_ADD, FAN_ACCESS_PERM,
                              AT_FDCWD, path.encode()) < 0:
            e = ctypes.get_errno()
            os.close(self.fd)
            raise OSError(e, "fanotify_mark")
        self.on_read = on_read
        self.reads = 0
        self.stop_r, self.stop_w = os.pipe()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        import select
        while True:
            rd, _, _ = select.select([self.fd, self.stop_r], [], [])
            if self.stop_r in rd:
                return
            buf = os.read(self.fd, 4096)
            off = 0
            while off < len(buf):
                ev_len, _, _, _, _, efd, _ = struct.unpack_from(
                    "=IBBHQii", buf, off)
                off += ev_len
                self.reads += 1
                try:
                    self.on_read(self.reads)
                finally:
                    os.write(self.fd, struct.pack("=iI", efd, FAN_ALLOW))
                    os.close(efd)

    def close(self):
        os.write(self.stop_w, b"x")
        self.thread.join(timeout=10)
        os.close(self.fd)  # answers anything still held: allowed
        os.close(self.stop_r)
        os.close(self.stop_w)


@needs_path
@pytest.mark.parametrize("change", ["shrinks", "grows", "disappears"])
def test_e2e_file_changed_while_read(r, worker, tmp_dir, change):
    root = os.path.join(tmp_dir, "root")
    os.makedirs(root)
    path = os.path.join(root, "moving")
    size = 8 << 20  # 8 reads of 1 MiB
    with open(path, "wb") as f:
        f.write(os.urandom(size))

    def on_read(n):
        if n != 2:
            return
        if change == "shrinks":
            os.truncate(path, size // 2)
        elif change == "disappears":
            os.truncate(path, 0)
            os.unlink(path)
        else:
            with open(path, "ab") as f:
                f.write(b"more" * 1000)

    try:
        gate = ReadGate(path, on_read)
    except OSError as e:
        pytest.skip("fanotify permission events unavailable (%s): cannot "
                    "change the file at a known point of the read" % e)
    with open(os.path.join(root, "still"), "wb") as f:
        f.write(b"a file nobody changes")
    try:
        w = worker("--files-root", root)
        need_child_side(r, w, {"path": "still"})
        enqueue(r, {"task": "hash", "id": "moving",
                    "args": {"path": "moving"}})
        doc = wait_result(r, "moving", timeout=60)
    finally:
        gate.close()
    assert gate.reads >= 2, "the child read the file in one go"
    assert_failure(doc, "FileChanged")
    assert doc["source"]["path"] == "moving", doc
