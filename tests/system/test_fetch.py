# SPDX-License-Identifier: MIT
"""The URL fetcher (worker/fetch.c, worker/netguard.c) through its test
driver, bin/fetchget, against HTTP and HTTPS servers this file starts on
127.0.0.1: bodies of every size and framing checked against hashlib, flat
memory for a 20 MiB body, back-pressure, redirects, the SSRF guard on the
first hop and on redirects, and each failure: unknown host, connection
refused, a silent server, a trickling server, a body over the limit, a
non-2xx status, refused schemes and bad certificates.  With the connection
pool (--pool): connections counted at the server are reused, sequentially
and concurrently, over HTTP and TLS and across redirects; not after
"Connection: close", a body cut short or over the limit; a kept-alive
connection the server closed is replaced transparently.

The driver prints one JSON object; each test reads the error type, the
facts and the SHA-512 of the body from it.
"""

import hashlib
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from harness import BIN, PREFIX_CMD, SLOW, free_port

FETCHGET = os.path.join(BIN, "fetchget")
ALLOW = ["--allow-hosts", "127.0.0.1"]


# ---- bodies ------------------------------------------------------------------

_bodies = {}


def body(n):
    """n deterministic pseudo-random bytes (cached)."""
    if n not in _bodies:
        _bodies[n] = random.Random(n).randbytes(n)
    return _bodies[n]


def sha512(data):
    return hashlib.sha512(data).hexdigest()


# ---- the servers -------------------------------------------------------------


class Handler(BaseHTTPRequestHandler):
    """Routes:
      /size/N            N bytes with Content-Length
      /chunked/N         N bytes in chunks of varied sizes, with extensions
                         and a trailer
      /close/N           N bytes delimited by closing the connection
      /status/S          status S with a short body
      /redirect/K        K redirects (alternately absolute URL, absolute
                         path, relative path), then /size/1000
      /loop              redirects to itself
      /to?URL            redirects to URL
      /trickle/N         N bytes, Content-Length N, one byte a second
      /keepclose/N       N bytes, Content-Length N and "Connection: close",
                         yet the connection stays open for more requests
      /short/N           Content-Length N, N/2 bytes, then the connection
                         closes
      /extra/N[/MS]      N bytes with Content-Length, then, unasked (MS
                         milliseconds later), a second response
      /lateredirect      a redirect to /size/1000 whose body of 100 bytes
                         stops after 10, the connection held for 60 s
    The server counts the connections it accepted (server.connections).
    """
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        self.server.connections.append(self.client_address)

    def _send(self, status, data, ctype="application/octet-stream",
              extra=()):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        view = memoryview(data)
        for i in range(0, len(data), 65536):
            self.wfile.write(view[i:i + 65536])

    def _redirect(self, location):
        self._send(302, b"moved\n", "text/plain", [("Location", location)])

    def do_GET(self):
        self.server.requests.append(self.path)
        self.server.headers.append(dict(self.headers))
        parts = self.path.split("/")
        try:
            if parts[1] == "size":
                self._send(200, body(int(parts[2])))
            elif parts[1] == "chunked":
                self._chunked(body(int(parts[2])))
            elif parts[1] == "close":
                data = body(int(parts[2]))
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n"
                                 b"Connection: close\r\n\r\n" + data)
                self.close_connection = True
            elif parts[1] == "status":
                self._send(int(parts[2]), b"status body\n", "text/plain")
            elif parts[1] == "redirect":
                k = int(parts[2])
                nxt = "/redirect/%d" % (k - 1) if k > 1 else "/size/1000"
                if k % 3 == 1:
                    nxt = "http://127.0.0.1:%d%s" % (self.server.port, nxt)
                elif k % 3 == 2:
                    nxt = nxt.split("/", 2)[2]  # relative to /redirect/
                self._redirect(nxt)
            elif parts[1] == "loop":
                self._redirect("/loop")
            elif parts[1].startswith("to?"):
                self._redirect(self.path.split("?", 1)[1])
            elif parts[1] == "keepclose":
                data = body(int(parts[2]))
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                 b"Connection: close\r\n\r\n" % len(data) +
                                 data)
            elif parts[1] == "short":
                n = int(parts[2])
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                                 b"\r\n" % n + body(n)[:n // 2])
                self.close_connection = True
            elif parts[1] == "extra":
                self._send(200, body(int(parts[2])))
                self.wfile.flush()
                if len(parts) > 3:
                    self.server.stopping.wait(int(parts[3]) / 1000)
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n"
                                 b"\r\nWRONG")
            elif parts[1] == "lateredirect":
                self.wfile.write(b"HTTP/1.1 302 Found\r\nLocation: /size/1000"
                                 b"\r\nContent-Length: 100\r\n\r\n" +
                                 b"0123456789")
                self.wfile.flush()
                self.server.stopping.wait(60)
                self.close_connection = True
            elif parts[1] == "trickle":
                n = int(parts[2])
                self.send_response(200)
                self.send_header("Content-Length", str(n))
                self.end_headers()
                for i in range(n):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    if self.server.stopping.wait(1.0):
                        break
            else:
                self._send(404, b"no such route\n", "text/plain")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True

    def _chunked(self, data):
        self.send_response(200)
        self.send_header("Content-Type", "text/x-chunks")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sizes = [1, 7, 4096, 65539, 3, 100000]
        i = k = 0
        while i < len(data):
            n = min(sizes[k % len(sizes)], len(data) - i)
            ext = ";name=value" if k % 2 else ""
            self.wfile.write(b"%x%s\r\n" % (n, ext.encode()) +
                             data[i:i + n] + b"\r\n")
            i += n
            k += 1
        self.wfile.write(b"0\r\nX-Trailer: yes\r\n\r\n")


class Server:
    """A threading HTTP (or HTTPS, given an SSL context) server."""

    def __init__(self, host="127.0.0.1", context=None):
        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.requests = []
        self.httpd.headers = []
        self.httpd.connections = []
        self.httpd.stopping = threading.Event()
        self.port = self.httpd.server_address[1]
        self.httpd.port = self.port
        if context is not None:
            self.httpd.socket = context.wrap_socket(self.httpd.socket,
                                                    server_side=True)
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    @property
    def requests(self):
        return self.httpd.requests

    @property
    def connections(self):
        return self.httpd.connections

    def url(self, path, host="127.0.0.1", scheme="http"):
        return "%s://%s:%d%s" % (scheme, host, self.port, path)

    def stop(self):
        self.httpd.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)


@pytest.fixture(scope="module")
def server():
    s = Server()
    try:
        yield s
    finally:
        s.stop()


class Silent:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.05)
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
                self.held.append(conn)
            except (socket.timeout, OSError):
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        for c in self.held:
            c.close()
        self.sock.close()


class RawServer:
    """Answers every connection with the same bytes, then closes it."""

    def __init__(self, reply):
        self.reply = reply
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            with conn:
                conn.settimeout(5)
                try:
                    conn.recv(65536)
                    conn.sendall(self.reply)
                except OSError:
                    pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.sock.close()


class DNSServer:
    """A name server on 127.0.0.1 (UDP) that knows the names in records
    ({name: [IPv4 or IPv6 address, ...]}) and answers NXDOMAIN for any
    other, so the fetcher's evdns path runs without the network."""

    def __init__(self, records):
        self.records = records
        self.queries = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.addr = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _answer(self, q):
        qid, flags = q[0:2], int.from_bytes(q[2:4], "big")
        i, labels = 12, []
        while q[i] != 0:
            labels.append(q[i + 1:i + 1 + q[i]].decode("ascii").lower())
            i += 1 + q[i]
        qtype = int.from_bytes(q[i + 1:i + 3], "big")
        question = q[12:i + 5]
        name = ".".join(labels)
        self.queries.append((name, qtype))
        if name not in self.records:
            rflags = 0x8180 | (flags & 0x0100) | 3  # NXDOMAIN
            return qid + rflags.to_bytes(2, "big") + b"\0\1\0\0\0\0\0\0" + \
                question
        answers = []
        for a in self.records[name]:
            fam = socket.AF_INET6 if ":" in a else socket.AF_INET
            if (qtype, fam) in ((1, socket.AF_INET), (28, socket.AF_INET6)):
                rdata = socket.inet_pton(fam, a)
                answers.append(b"\xc0\x0c" + qtype.to_bytes(2, "big") +
                               b"\0\1\0\0\0\x3c" +
                               len(rdata).to_bytes(2, "big") + rdata)
        rflags = 0x8180 | (flags & 0x0100)
        return (qid + rflags.to_bytes(2, "big") + b"\0\1" +
                len(answers).to_bytes(2, "big") + b"\0\0\0\0" + question +
                b"".join(answers))

    def _run(self):
        while not self.stopping.is_set():
            try:
                q, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            try:
                self.sock.sendto(self._answer(q), peer)
            except (IndexError, UnicodeDecodeError, OSError):
                pass

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        self.sock.close()


def fetch(url, *args, timeout=120, env=None):
    """Runs the driver once; returns (exit status, its JSON)."""
    assert os.path.exists(FETCHGET), \
        "%s is missing: build it with `make all`" % FETCHGET
    r = subprocess.run(PREFIX_CMD + [FETCHGET] + [str(a) for a in args] +
                       [url], capture_output=True, text=True,
                       timeout=timeout * SLOW,
                       env=dict(os.environ, **(env or {})))
    assert r.returncode in (0, 1), \
        "fetchget exited %d: %s %s" % (r.returncode, r.stdout, r.stderr)
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1, "fetchget printed %r (stderr %r)" % (r.stdout,
                                                                 r.stderr)
    doc = json.loads(lines[0])
    assert doc["ok"] == (r.returncode == 0), doc
    return r.returncode, doc


def assert_ok(doc, data, status=200):
    assert doc["ok"] is True, doc
    assert doc["status"] == status, doc
    assert doc["bytes"] == len(data), doc
    assert doc["sha512"] == sha512(data), doc
    assert 0 <= doc["first_byte_ms"] <= doc["total_ms"], doc


def assert_error(doc, error, *words):
    assert doc["ok"] is False, doc
    assert doc["error"] == error, doc
    for w in words:
        assert w in doc["message"], (w, doc["message"])


# ---- bodies: sizes, framings, memory, back-pressure -----------------------------


@pytest.mark.parametrize("size", [0, 65536, 1000003])
def test_content_length_bodies(server, size):
    rc, doc = fetch(server.url("/size/%d" % size), *ALLOW)
    assert rc == 0
    assert_ok(doc, body(size))
    assert doc["content_length"] == size
    assert doc["content_type"] == "application/octet-stream"
    assert doc["url"] == server.url("/size/%d" % size)
    assert doc["redirects"] == 0


def test_request_headers(server):
    """The request names the host and asks for the bytes as served."""
    before = len(server.httpd.headers)
    rc, doc = fetch(server.url("/size/10"), *ALLOW)
    assert rc == 0, doc
    h = server.httpd.headers[before]
    assert h["Host"] == "127.0.0.1:%d" % server.port
    assert h["Accept-Encoding"] == "identity"


def test_large_body_flat_memory(server):
    """A 20 MiB body streams through: the driver's peak RSS grows by far
    less than the body over that of an empty fetch."""
    size = 20 << 20
    # Under `make asan`, freed blocks would sit in ASan's quarantine and
    # count as resident: measure live memory instead.
    env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") +
                            ":quarantine_size_mb=0").lstrip(":")}
    rc, small = fetch(server.url("/size/0"), *ALLOW, env=env)
    assert rc == 0, small
    rc, doc = fetch(server.url("/size/%d" % size), *ALLOW, env=env)
    assert rc == 0
    assert_ok(doc, body(size))
    assert doc["max_chunk"] <= 64 * 1024
    if PREFIX_CMD:
        pytest.skip("peak RSS is the wrapper's (%s), not the fetcher's"
                    % PREFIX_CMD[0])
    grown_kib = doc["vmhwm_kb"] - small["vmhwm_kb"]
    print("VmHWM: empty fetch %d KiB, 20 MiB fetch %d KiB (+%d KiB)"
          % (small["vmhwm_kb"], doc["vmhwm_kb"], grown_kib))
    assert grown_kib < 4096, (small["vmhwm_kb"], doc["vmhwm_kb"])


@pytest.mark.parametrize("size", [0, 1, 300000])
def test_chunked_body(server, size):
    rc, doc = fetch(server.url("/chunked/%d" % size), *ALLOW)
    assert rc == 0, doc
    assert_ok(doc, body(size))
    assert doc["content_length"] == -1
    assert doc["content_type"] == "text/x-chunks"


def test_close_delimited_body(server):
    rc, doc = fetch(server.url("/close/200000"), *ALLOW)
    assert rc == 0, doc
    assert_ok(doc, body(200000))
    assert doc["content_type"] == "a/b"


def test_pause_resume(server):
    """With the caller pausing after every chunk, no chunk comes while it
    is paused, and the body is whole."""
    for path in ("/size/300000", "/chunked/300000"):
        rc, doc = fetch(server.url(path), *ALLOW, "--pause-ms", 1)
        assert rc == 0, doc
        assert_ok(doc, body(300000))
        assert doc["pauses"] == doc["chunks"] > 1, doc
        assert doc["while_paused"] == 0, doc


# ---- redirects -----------------------------------------------------------------


def test_redirect_chain_within_limit(server):
    for k in (1, 3, 5):
        rc, doc = fetch(server.url("/redirect/%d" % k), *ALLOW,
                        "--max-redirects", 5)
        assert rc == 0, doc
        assert_ok(doc, body(1000))
        assert doc["redirects"] == k
        assert doc["url"] == server.url("/size/1000")


def test_redirect_over_limit_and_loop(server):
    rc, doc = fetch(server.url("/redirect/6"), *ALLOW, "--max-redirects", 5)
    assert rc == 1
    assert_error(doc, "TooManyRedirects", "--max-redirects")
    assert doc["redirects"] == 5
    before = len(server.requests)
    rc, doc = fetch(server.url("/loop"), *ALLOW, "--max-redirects", 4)
    assert rc == 1
    assert_error(doc, "TooManyRedirects", "/loop", "limit 4")
    assert server.requests[before:] == ["/loop"] * 5


def _listener_on(host):
    """A Server on host, or None when this machine cannot bind it."""
    try:
        return Server(host)
    except OSError:
        return None


def test_redirect_to_refused_address(server):
    """A redirect to 127.0.0.2 (not in --allow-hosts) is refused before
    connecting, even though a server listens there."""
    other = _listener_on("127.0.0.2")
    port = other.port if other else free_port()
    try:
        target = "http://127.0.0.2:%d/size/10" % port
        rc, doc = fetch(server.url("/to?" + target), *ALLOW)
        assert rc == 1
        assert_error(doc, "AddressRefused", "127.0.0.2 is loopback",
                     "--allow-hosts")
        assert doc["redirects"] == 1
        assert doc["url"] == target
        if other:
            assert other.requests == []
            # Allowed, the same redirect reaches it: the refusal was the
            # guard's, not a network failure.
            rc, doc = fetch(server.url("/to?" + target), "--allow-hosts",
                            "127.0.0.1,127.0.0.2")
            assert rc == 0, doc
            assert_ok(doc, body(10))
            assert other.requests == ["/size/10"]
        # Other refused forms of a redirect target.
        for bad in ("http://169.254.169.254/latest/meta-data/",
                    "http://[::1]:%d/" % port,
                    "http://[::ffff:127.0.0.2]:%d/" % port,
                    "http://10.0.0.1/"):
            rc, doc = fetch(server.url("/to?" + bad), *ALLOW)
            assert rc == 1
            assert_error(doc, "AddressRefused")
    finally:
        if other:
            other.stop()


def test_redirect_to_refused_scheme(server):
    rc, doc = fetch(server.url("/to?file:///etc/passwd"), *ALLOW)
    assert rc == 1
    assert_error(doc, "SchemeRefused", "file", "only http and https")


# ---- the SSRF guard, names and connections ----------------------------------------


def test_name_resolving_to_refused_address(server):
    """localhost resolves to loopback: refused without an exception, and
    nothing reaches the server; allowed by name, it is fetched."""
    before = len(server.requests)
    rc, doc = fetch(server.url("/size/10", host="localhost"))
    assert rc == 1
    assert_error(doc, "AddressRefused", "'localhost'", "loopback")
    rc, doc = fetch(server.url("/size/10"))  # the literal, no exception
    assert rc == 1
    assert_error(doc, "AddressRefused", "127.0.0.1 is loopback")
    assert len(server.requests) == before
    rc, doc = fetch(server.url("/size/10", host="localhost"),
                    "--allow-hosts", "localhost")
    assert rc == 0, doc
    assert_ok(doc, body(10))


@pytest.fixture
def dns():
    d = DNSServer({"loop.test": ["127.0.0.1"],
                   "meta.test": ["169.254.169.254"],
                   "six.test": ["::1"],
                   "mixed.test": ["10.1.2.3", "127.0.0.1"],
                   "files.test": ["127.0.0.1"],
                   "two.test": ["127.0.0.3", "127.0.0.1"]})
    try:
        yield d
    finally:
        d.stop()


def test_dns_names_checked_after_resolution(server, dns):
    """Names resolved by a name server (through evdns) are judged by the
    addresses they resolve to; a name in --allow-hosts opens its
    addresses; the connection goes to the address resolved once."""
    before = len(server.requests)
    for name, word in (("loop.test", "127.0.0.1 is loopback"),
                       ("meta.test", "metadata"),
                       ("six.test", "::1 is loopback"),
                       ("mixed.test", "10.1.2.3 is private")):
        rc, doc = fetch(server.url("/size/10", host=name), "--dns-server",
                        dns.addr)
        assert rc == 1, doc
        assert_error(doc, "AddressRefused", "'%s'" % name, word)
    assert len(server.requests) == before
    assert ("loop.test", 1) in dns.queries
    # Allowed by name, or by the address it resolves to.
    for allow in ("files.test", "127.0.0.1"):
        rc, doc = fetch(server.url("/size/10", host="files.test"),
                        "--dns-server", dns.addr, "--allow-hosts", allow)
        assert rc == 0, doc
        assert_ok(doc, body(10))
    assert server.httpd.headers[-1]["Host"] == "files.test:%d" % server.port
    # A redirect to a name that resolves to a refused address.
    rc, doc = fetch(server.url("/to?http://meta.test/latest/"),
                    "--dns-server", dns.addr, *ALLOW)
    assert rc == 1
    assert_error(doc, "AddressRefused", "meta.test", "169.254.169.254")


def test_dns_unknown_name(dns):
    rc, doc = fetch("http://nosuch.test/x", "--dns-server", dns.addr, *ALLOW)
    assert rc == 1
    assert_error(doc, "DNSError", "nosuch.test")
    assert ("nosuch.test", 1) in dns.queries


def test_next_address_after_connect_failure(server, dns):
    """two.test resolves to 127.0.0.3 (nothing listens there) then to
    127.0.0.1: the fetch goes on to the second address."""
    rc, doc = fetch(server.url("/size/1000", host="two.test"),
                    "--dns-server", dns.addr, "--allow-hosts", "two.test")
    assert rc == 0, doc
    assert_ok(doc, body(1000))


@pytest.mark.parametrize("reply,words", [
    (b"garbage\r\n\r\n", ["not HTTP/1.x"]),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
     ["after 5 of 100 body bytes"]),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabc",
     ["closed in the middle"]),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
     ["chunk size"]),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", ["coding"]),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n",
     ["two different Content-Lengths"]),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000 + b"\r\n\r\n", ["64 KiB"]),
    (b"", ["without answering"]),
])
def test_bad_responses(reply, words):
    raw = RawServer(reply)
    try:
        rc, doc = fetch("http://127.0.0.1:%d/" % raw.port, *ALLOW)
        assert rc == 1
        assert_error(doc, "BadResponse", *words)
    finally:
        raw.stop()


def test_unknown_host():
    rc, doc = fetch("http://no-such-host.invalid/x", *ALLOW)
    assert rc == 1
    assert_error(doc, "DNSError", "no-such-host.invalid")


def test_connection_refused():
    port = free_port()
    rc, doc = fetch("http://127.0.0.1:%d/x" % port, *ALLOW)
    assert rc == 1
    assert_error(doc, "ConnectError", "127.0.0.1:%d" % port)


def test_first_byte_timeout():
    silent = Silent()
    try:
        rc, doc = fetch("http://127.0.0.1:%d/x" % silent.port, *ALLOW,
                        "--first-byte-timeout", 1000,
                        "--total-timeout", 60000)
        assert rc == 1
        assert_error(doc, "Timeout", "first-byte timeout of 1000 ms")
        assert 1000 - 20 <= doc["total_ms"] < 60000, doc
        # Over https the silence is in the TLS handshake, which the
        # connect timeout covers.
        rc, doc = fetch("https://127.0.0.1:%d/x" % silent.port, *ALLOW,
                        "--connect-timeout", 1000,
                        "--first-byte-timeout", 60000,
                        "--total-timeout", 60000)
        assert rc == 1
        assert_error(doc, "Timeout", "with TLS", "connect timeout of 1000")
        assert 1000 - 20 <= doc["total_ms"] < 60000, doc
    finally:
        silent.stop()


def test_total_timeout(server):
    """A server that sends a byte a second: the total timeout ends it
    after some bytes came (so it is not the first-byte timeout)."""
    rc, doc = fetch(server.url("/trickle/100"), *ALLOW,
                    "--first-byte-timeout", 30000, "--total-timeout", 3000)
    assert rc == 1
    assert_error(doc, "Timeout", "total timeout of 3000 ms")
    assert 1 <= doc["bytes"] < 100, doc
    # libevent's clock is coarse: its timers may fire a few ms early.
    assert 3000 - 20 <= doc["total_ms"] < 30000, doc


def test_body_over_limit(server):
    # Announced by Content-Length: refused before any byte is handed out.
    rc, doc = fetch(server.url("/size/100000"), *ALLOW, "--max-bytes", 50000)
    assert rc == 1
    assert_error(doc, "BodyTooLarge", "100000", "50000", "--max-fetch-bytes")
    assert doc["bytes"] == 0
    # Chunked: found while streaming, never more than the limit handed out.
    rc, doc = fetch(server.url("/chunked/100000"), *ALLOW,
                    "--max-bytes", 50000)
    assert rc == 1
    assert_error(doc, "BodyTooLarge", "50000")
    assert doc["bytes"] <= 50000
    # Exactly at the limit is fine.
    rc, doc = fetch(server.url("/chunked/50000"), *ALLOW, "--max-bytes", 50000)
    assert rc == 0, doc
    assert_ok(doc, body(50000))


def test_non_2xx(server):
    rc, doc = fetch(server.url("/status/404"), *ALLOW)
    assert rc == 1
    assert_error(doc, "HTTPError", "404")
    assert doc["error_status"] == 404 and doc["bytes"] == 0
    rc, doc = fetch(server.url("/status/503"), *ALLOW)
    assert_error(doc, "HTTPError", "503")
    # Asked to, the body of a 404 is handed out.
    rc, doc = fetch(server.url("/status/404"), *ALLOW, "--accept-any-status")
    assert rc == 0, doc
    assert_ok(doc, b"status body\n", status=404)


@pytest.mark.parametrize("url,error", [
    ("file:///etc/passwd", "SchemeRefused"),
    ("ftp://127.0.0.1/pub/x", "SchemeRefused"),
    ("gopher://127.0.0.1/", "SchemeRefused"),
    ("/etc/passwd", "BadURL"),
    ("http//127.0.0.1/", "BadURL"),
    ("http://user:pw@127.0.0.1/", "BadURL"),
    ("http://127.0.0.1:99999/", "BadURL"),
    ("http://127.0.0.1/a b", "BadURL"),
    ("http:///path", "BadURL"),
])
def test_refused_urls(url, error):
    rc, doc = fetch(url, *ALLOW)
    assert rc == 1
    assert_error(doc, error)


# ---- https ---------------------------------------------------------------------


def _openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def tls():
    """A CA made here, a server whose certificate names localhost and
    127.0.0.1, and one whose certificate names only wrong.example."""
    if shutil.which("openssl") is None:
        pytest.fail("openssl is not installed (scripts/deps.sh test)")
    d = tempfile.mkdtemp(prefix="celeriac-tls-")
    servers = []
    try:
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                 "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                 "-subj", "/CN=celeriac test CA", cwd=d)
        for name, san in (("good", "DNS:localhost,IP:127.0.0.1"),
                          ("wrong", "DNS:wrong.example")):
            _openssl("req", "-newkey", "rsa:2048", "-nodes",
                     "-keyout", name + ".key", "-out", name + ".csr",
                     "-subj", "/CN=" + name, cwd=d)
            with open(os.path.join(d, name + ".ext"), "w") as f:
                f.write("subjectAltName=%s\n" % san)
            _openssl("x509", "-req", "-in", name + ".csr", "-CA", "ca.pem",
                     "-CAkey", "ca.key", "-CAcreateserial", "-days", "2",
                     "-extfile", name + ".ext", "-out", name + ".pem", cwd=d)
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(d, name + ".pem"),
                                os.path.join(d, name + ".key"))
            servers.append(Server(context=ctx))
        yield {"ca": os.path.join(d, "ca.pem"), "good": servers[0],
               "wrong": servers[1], "dir": d}
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(d, ignore_errors=True)


def test_https_trusted(tls):
    good = tls["good"]
    for host, allow in (("localhost", "localhost"), ("127.0.0.1", "127.0.0.1")):
        url = good.url("/size/65536", host=host, scheme="https")
        rc, doc = fetch(url, "--allow-hosts", allow, "--ca-file", tls["ca"])
        assert rc == 0, doc
        assert_ok(doc, body(65536))
    rc, doc = fetch(good.url("/chunked/300000", host="localhost",
                             scheme="https"),
                    "--allow-hosts", "localhost", "--ca-file", tls["ca"])
    assert rc == 0, doc
    assert_ok(doc, body(300000))
    # Back-pressure over TLS: no chunk while paused, the body whole.
    rc, doc = fetch(good.url("/size/300000", host="localhost",
                             scheme="https"),
                    "--allow-hosts", "localhost", "--ca-file", tls["ca"],
                    "--pause-ms", 1)
    assert rc == 0, doc
    assert_ok(doc, body(300000))
    assert doc["pauses"] == doc["chunks"] > 1, doc
    assert doc["while_paused"] == 0, doc


def test_https_untrusted(tls):
    """Without --ca-file the system store does not know the test CA."""
    url = tls["good"].url("/size/10", host="localhost", scheme="https")
    rc, doc = fetch(url, "--allow-hosts", "localhost")
    assert rc == 1
    assert_error(doc, "TLSError", "certificate", "--ca-file")


def test_https_system_store_hashed_dir(tls, tmp_path):
    """The system store is read lazily from a hashed directory: with
    SSL_CERT_DIR naming one that holds the test CA (`openssl rehash`), the
    server is trusted without --ca-file; without the CA in it, it is not."""
    shutil.copy(tls["ca"], tmp_path / "test-ca.pem")
    _openssl("rehash", str(tmp_path), cwd=tmp_path)
    assert any(n.endswith(".0") for n in os.listdir(tmp_path))
    url = tls["good"].url("/size/4096", host="localhost", scheme="https")
    env = {"SSL_CERT_DIR": str(tmp_path)}
    rc, doc = fetch(url, "--allow-hosts", "localhost", env=env)
    assert rc == 0, doc
    assert_ok(doc, body(4096))
    other = tmp_path / "other"
    other.mkdir()
    (other / "0badcafe.0").write_text("not a certificate\n")
    rc, doc = fetch(url, "--allow-hosts", "localhost",
                    env={"SSL_CERT_DIR": str(other)})
    assert rc == 1
    assert_error(doc, "TLSError", "certificate")


def test_https_system_store_cert_file(tls, tmp_path):
    """SSL_CERT_FILE is honoured as OpenSSL honours it: the file is the
    store (here with a hashed directory that does not hold the CA)."""
    (tmp_path / "0badcafe.0").write_text("not a certificate\n")
    url = tls["good"].url("/size/4096", host="localhost", scheme="https")
    rc, doc = fetch(url, "--allow-hosts", "localhost",
                    env={"SSL_CERT_FILE": tls["ca"],
                         "SSL_CERT_DIR": str(tmp_path)})
    assert rc == 0, doc
    assert_ok(doc, body(4096))


def test_https_wrong_host_name(tls):
    url = tls["wrong"].url("/size/10", host="localhost", scheme="https")
    rc, doc = fetch(url, "--allow-hosts", "localhost", "--ca-file", tls["ca"])
    assert rc == 1
    assert_error(doc, "TLSError", "mismatch")
    assert tls["wrong"].requests == []


def test_https_bad_ca_file(tls, tmp_path):
    bogus = tmp_path / "bogus.pem"
    bogus.write_text("not a certificate\n")
    url = tls["good"].url("/size/10", host="localhost", scheme="https")
    rc, doc = fetch(url, "--allow-hosts", "localhost", "--ca-file", bogus)
    assert rc == 1
    assert_error(doc, "TLSError", str(bogus), "PEM")


# ---- kept-alive connections (--pool) -----------------------------------------


# Idle connections kept far longer than any test's gap between fetches, so
# that counts of connections do not depend on the machine's load.
KEEP = ["--pool-idle-ms", 600000]


def fetch_many(urls, *args, timeout=120):
    """Runs the driver over several fetches (--count, --parallel, several
    URLs); returns (exit status, its JSON)."""
    assert os.path.exists(FETCHGET), \
        "%s is missing: build it with `make testtools`" % FETCHGET
    r = subprocess.run(PREFIX_CMD + [FETCHGET] + [str(a) for a in args] +
                       list(urls), capture_output=True, text=True,
                       timeout=timeout * SLOW)
    assert r.returncode in (0, 1), \
        "fetchget exited %d: %s %s" % (r.returncode, r.stdout, r.stderr)
    doc = json.loads(r.stdout)
    assert doc["ok"] == (r.returncode == 0), doc
    return r.returncode, doc


def assert_fetched(doc, want):
    """Each fetch of doc succeeded with the body want[url] gives."""
    for f in doc["fetches"]:
        assert f["ok"], f
        path = "/" + f["url"].split("/", 3)[3]
        assert f["sha512"] == sha512(want[path]), f


def test_pool_reuses_one_connection_sequentially(server):
    """Fetches one after another, with Content-Length, chunked, empty
    bodies and redirects (whose bodies are read to keep the connection),
    go over one connection; each body is right; without the pool each
    request said "Connection: close"."""
    paths = ["/size/70000", "/chunked/100000", "/size/0", "/redirect/3"]
    want = {"/size/70000": body(70000), "/chunked/100000": body(100000),
            "/size/0": b"", "/redirect/3": body(1000)}
    before, hbefore = len(server.connections), len(server.httpd.headers)
    rc, doc = fetch_many([server.url(p) for p in paths], *ALLOW,
                         "--count", 10, "--pool", *KEEP)
    assert rc == 0, doc
    assert len(doc["fetches"]) == 40
    assert_fetched(doc, want)
    assert len(server.connections) - before == 1, doc["pool"]
    assert doc["pool"]["opened"] == 1, doc["pool"]
    assert doc["pool"]["reused"] == 40 + 30 - 1, doc["pool"]
    assert all("Connection" not in h
               for h in server.httpd.headers[hbefore:]), \
        server.httpd.headers[hbefore:]
    # Without the pool: a connection per request, each says close.
    before, hbefore = len(server.connections), len(server.httpd.headers)
    rc, doc = fetch_many([server.url(p) for p in paths], *ALLOW,
                         "--count", 2)
    assert rc == 0, doc
    assert_fetched(doc, want)
    assert len(server.connections) - before == 2 * (3 + 4)
    assert all(h.get("Connection") == "close"
               for h in server.httpd.headers[hbefore:])


def test_pool_concurrent_fetches_share_connections(server):
    """60 fetches, 6 at once: at most 6 connections, every body right."""
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/size/70000")], *ALLOW, "--count", 60,
                         "--parallel", 6, "--pool", "--pool-max-idle", 6,
                         *KEEP)
    assert rc == 0, doc
    assert len(doc["fetches"]) == 60
    assert_fetched(doc, {"/size/70000": body(70000)})
    opened = len(server.connections) - before
    assert opened <= 6 and doc["pool"]["opened"] == opened, doc["pool"]
    assert doc["pool"]["reused"] == 60 - opened, doc["pool"]


def test_pool_over_tls(tls):
    """Sequential HTTPS fetches reuse one verified TLS connection."""
    good = tls["good"]
    before = len(good.connections)
    urls = [good.url("/size/65536", host="localhost", scheme="https"),
            good.url("/chunked/300000", host="localhost", scheme="https")]
    rc, doc = fetch_many(urls, "--allow-hosts", "localhost", "--ca-file",
                         tls["ca"], "--count", 5, "--pool", *KEEP)
    assert rc == 0, doc
    assert_fetched(doc, {"/size/65536": body(65536),
                         "/chunked/300000": body(300000)})
    assert len(good.connections) - before == 1, doc["pool"]
    assert doc["pool"]["reused"] == 9, doc["pool"]


def test_pool_not_after_connection_close(server):
    """A response saying "Connection: close" ends its connection, even
    when the server would serve more on it."""
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/keepclose/5000")], *ALLOW,
                         "--count", 5, "--pool")
    assert rc == 0, doc
    assert_fetched(doc, {"/keepclose/5000": body(5000)})
    assert len(server.connections) - before == 5
    assert doc["pool"]["reused"] == 0, doc["pool"]


def test_pool_not_after_short_body_or_limit(server):
    """A body cut short fails with a clear error and the next fetch is
    right on a new connection; so does one after a body over the limit
    (whose unread rest would otherwise be taken for the next response)."""
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/short/100000"),
                          server.url("/size/1000")], *ALLOW, "--pool")
    assert rc == 1, doc
    cut, nxt = doc["fetches"]
    assert not cut["ok"] and cut["error"] == "BadResponse", cut
    assert "closed the connection after 50000 of 100000" in cut["message"]
    assert nxt["ok"] and nxt["sha512"] == sha512(body(1000)), nxt
    assert len(server.connections) - before == 2
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/size/300000"),
                          server.url("/size/1000")], *ALLOW, "--pool",
                         "--max-bytes", 100000)
    assert rc == 1, doc
    big, nxt = doc["fetches"]
    assert big["error"] == "BodyTooLarge", big
    assert nxt["ok"] and nxt["sha512"] == sha512(body(1000)), nxt
    assert len(server.connections) - before == 2
    assert doc["pool"]["reused"] == 0, doc["pool"]


class OneShotServer:
    """Answers the first request of each connection (Content-Length, no
    "Connection: close") with body(size), then, by mode:
      "close"  reads the next request and closes without answering
      "reset"  reads the next request and resets the connection
      "idle"   closes the connection at once, as a server whose keep-alive
               time is up
    Counts connections and requests."""

    def __init__(self, mode, size=20000, context=None):
        self.mode, self.size, self.context = mode, size, context
        self.connections = 0
        self.requests = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.05)
        self.port = self.sock.getsockname()[1]
        self.stopping = threading.Event()
        self.threads = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def url(self, path="/", host="127.0.0.1"):
        return "%s://%s:%d%s" % ("https" if self.context else "http", host,
                                 self.port, path)

    def _request(self, conn, buf):
        while b"\r\n\r\n" not in buf:
            d = conn.recv(65536)
            if not d:
                return None
            buf += d
        self.requests += 1
        return buf.split(b"\r\n\r\n", 1)[1]

    def _serve(self, conn):
        with conn:
            conn.settimeout(10)
            try:
                if self.context is not None:
                    conn = self.context.wrap_socket(conn, server_side=True)
                buf = self._request(conn, b"")
                if buf is None:
                    return
                data = body(self.size)
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n"
                             b"\r\n" % len(data) + data)
                if self.mode == "idle":
                    return
                if self._request(conn, buf) is None:
                    return
                if self.mode == "reset":
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                    b"\1\0\0\0\0\0\0\0")
            except OSError:
                pass

    def _run(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            t = threading.Thread(target=self._serve, args=(conn,),
                                 daemon=True)
            t.start()
            self.threads.append(t)

    def stop(self):
        self.stopping.set()
        self.thread.join(timeout=10)
        for t in self.threads:
            t.join(timeout=10)
        self.sock.close()


@pytest.mark.parametrize("mode", ["close", "reset"])
def test_pool_request_sent_again_when_kept_connection_closed(mode):
    """The server closes (or resets) each kept-alive connection when the
    next request arrives on it: that request goes again, once, on a new
    connection, and every fetch succeeds."""
    s = OneShotServer(mode)
    try:
        rc, doc = fetch_many([s.url("/a")], *ALLOW, "--count", 5, "--pool")
        assert rc == 0, doc
        assert_fetched(doc, {"/a": body(s.size)})
        assert doc["pool"]["retried"] == 4, doc["pool"]
        assert s.connections == 5
        assert s.requests == 9
    finally:
        s.stop()


def test_pool_server_closes_idle_connections():
    """The server closes each connection after its response: the pool
    drops it when it sees the close, or the request goes again; every
    fetch succeeds."""
    s = OneShotServer("idle")
    try:
        rc, doc = fetch_many([s.url("/a")], *ALLOW, "--count", 8, "--pool",
                             *KEEP)
        assert rc == 0, doc
        assert_fetched(doc, {"/a": body(s.size)})
        p = doc["pool"]
        assert s.connections == 8, p
        assert p["dropped"] + p["retried"] >= 7, p
    finally:
        s.stop()


def test_pool_idle_connections_expire(server):
    """An idle connection is closed after --pool-idle-ms: with fetches
    spaced by ten times that, none is reused; with a long idle time, all
    go over one connection."""
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/size/1000")], *ALLOW, "--count", 3,
                         "--pool", "--pool-idle-ms", 100,
                         "--interval-ms", 1000)
    assert rc == 0, doc
    assert_fetched(doc, {"/size/1000": body(1000)})
    assert len(server.connections) - before == 3
    assert doc["pool"]["expired"] == 2 and doc["pool"]["reused"] == 0, \
        doc["pool"]
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/size/1000")], *ALLOW, "--count", 3,
                         "--pool", *KEEP, "--interval-ms", 300)
    assert rc == 0, doc
    assert len(server.connections) - before == 1, doc["pool"]


@pytest.mark.parametrize("delay_ms", [0, 100])
def test_pool_not_after_unasked_bytes(server, delay_ms):
    """A server that sends more than the response (here a second, unasked
    response, at once or while the connection is idle: the next fetch
    starts 50 times later) does not get its connection reused: the next
    fetch goes on a new connection and gets its own body, not those
    bytes."""
    before = len(server.connections)
    rc, doc = fetch_many([server.url("/extra/3000/%d" % delay_ms),
                          server.url("/size/2000")], *ALLOW, "--pool",
                         *KEEP, "--interval-ms", 5000)
    assert rc == 0, doc
    assert_fetched(doc, {"/extra/3000/%d" % delay_ms: body(3000),
                         "/size/2000": body(2000)})
    assert len(server.connections) - before == 2
    assert doc["pool"]["reused"] == 0, doc["pool"]


def test_pool_tls_request_sent_again_when_kept_connection_closed(tls):
    """Over TLS too, a request on a kept connection the server closes
    goes again on a new, verified connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(tls["dir"], "good.pem"),
                        os.path.join(tls["dir"], "good.key"))
    s = OneShotServer("close", context=ctx)
    try:
        rc, doc = fetch_many([s.url("/a", host="localhost")],
                             "--allow-hosts", "localhost", "--ca-file",
                             tls["ca"], "--count", 4, "--pool", *KEEP)
        assert rc == 0, doc
        assert_fetched(doc, {"/a": body(s.size)})
        assert doc["pool"]["retried"] == 3, doc["pool"]
        assert s.connections == 4
    finally:
        s.stop()


def test_pool_redirect_body_late(server):
    """A redirect whose body does not come is followed after the
    first-byte timeout (not the server's 60 s), on a new connection."""
    rc, doc = fetch_many([server.url("/lateredirect")], *ALLOW, "--pool",
                         "--count", 1,
                         "--first-byte-timeout", 300)
    assert rc == 0, doc
    assert_fetched(doc, {"/lateredirect": body(1000)})
    assert doc["fetches"][0]["redirects"] == 1
    assert doc["elapsed_ms"] < 30000, doc
    assert doc["pool"]["opened"] == 2, doc["pool"]
