# SPDX-License-Identifier: MIT
"""rediss://: the worker and the CLI against Debian's redis-server with
--tls-port only (--port 0), certificates made with openssl at test time.

Tasks run over TLS with the digests checked against sha512sum, also a
3 MiB file (through the bridges' bounded buffers) and 5,000 pipelined
tasks; Redis restarted on the same port (the worker reconnects over TLS
and goes on); and each thing that can be wrong gives its own message, the
worker staying up and retrying: a CA nobody gave, a certificate for
another host name, a plain server on a rediss:// URL, a TLS server on a
redis:// URL, a server that wants a client certificate, a bad
--tls-ca-file."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time

import pytest
import redis

from harness import (PREFIX_CMD, PRODUCER_BIN, QUEUE, SLOW, free_port,
                     live_pids, stop_pid, wait_until)

N_MANY = 500 if PREFIX_CMD else 5000


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True,
                   capture_output=True, timeout=60)


def make_cert(d, name, cn, san, ca="ca"):
    """name.key + name.crt for cn with subjectAltName san, signed by ca."""
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=d)
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("subjectAltName=%s\n" % san)
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt",
            "-CAkey", ca + ".key", "-CAcreateserial", "-out", name + ".crt",
            "-days", "2", "-extfile", name + ".ext", cwd=d)


@pytest.fixture(scope="module")
def pki():
    """A CA, a server certificate for localhost and 127.0.0.1, one for
    another name, a client certificate, and a second, unrelated CA."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    d = tempfile.mkdtemp(prefix="celeriac-pki-")
    try:
        for ca in ("ca", "otherca"):
            openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes",
                    "-keyout", ca + ".key", "-out", ca + ".crt", "-days", "2",
                    "-subj", "/CN=celeriac test " + ca, cwd=d)
        make_cert(d, "server", "localhost", "DNS:localhost,IP:127.0.0.1")
        make_cert(d, "wrongname", "other.example", "DNS:other.example")
        make_cert(d, "client", "celeriac-client", "DNS:celeriac-client")
        make_cert(d, "stranger", "stranger", "DNS:stranger", ca="otherca")
        yield lambda f: os.path.join(d, f)
    finally:
        shutil.rmtree(d, ignore_errors=True)


class TlsRedis:
    """redis-server with TLS on 127.0.0.1:port and no plain TCP port; the
    test's own checks go through its unix socket."""

    def __init__(self, pki, cert="server", auth_clients="no", plain=False,
                 password=None):
        self.binary = shutil.which("redis-server")
        if self.binary is None:
            pytest.skip("redis-server is not installed")
        self.pki = pki
        self.cert = cert
        self.auth_clients = auth_clients
        self.plain = plain
        self.password = password
        self.dir = tempfile.mkdtemp(prefix="celeriac-tlsredis-")
        self.sock = os.path.join(self.dir, "redis.sock")
        self.port = None
        self.proc = None

    def start(self, port=None):
        for _ in range(5):
            self.port = port or free_port()
            if self.plain:
                net = ["--port", str(self.port)]
            else:
                net = ["--port", "0", "--tls-port", str(self.port),
                       "--tls-cert-file", self.pki(self.cert + ".crt"),
                       "--tls-key-file", self.pki(self.cert + ".key"),
                       "--tls-ca-cert-file", self.pki("ca.crt"),
                       "--tls-auth-clients", self.auth_clients]
            self.proc = subprocess.Popen(
                [self.binary, "--bind", "127.0.0.1", "-::1",
                 "--unixsocket", self.sock, "--unixsocketperm", "700",
                 "--save", "", "--appendonly", "no", "--dir", self.dir,
                 "--logfile", os.path.join(self.dir, "redis.log")] + net +
                (["--requirepass", self.password] if self.password else []),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.STDOUT)
            live_pids.add(self.proc.pid)
            if self._ready():
                return
            self.stop()
            if port is not None:  # the same port is wanted: try again
                time.sleep(0.2)
        raise RuntimeError("redis-server with TLS did not start; see %s"
                           % os.path.join(self.dir, "redis.log"))

    def _ready(self):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                c = self.client(socket_timeout=1)
                if c.ping():
                    c.close()
                    return True
            except (redis.ConnectionError, redis.TimeoutError,
                    redis.ResponseError, FileNotFoundError):
                pass
            time.sleep(0.02)
        return False

    def client(self, **kw):
        return redis.Redis(unix_socket_path=self.sock,
                           password=self.password, **kw)

    def url(self, host="localhost", scheme="rediss", password=None):
        auth = ":%s@" % password if password else ""
        return "%s://%s%s:%d/0" % (scheme, auth, host, self.port)

    def stop(self):
        if self.proc is not None:
            stop_pid(self.proc.pid, self.proc, timeout=10)
            live_pids.discard(self.proc.pid)
            self.proc = None

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def tls_redis(pki):
    """tls_redis(cert="server", auth_clients="no", plain=False,
    password=None) ->
    TlsRedis, started; all stopped at teardown."""
    servers = []

    def make(**kw):
        s = TlsRedis(pki, **kw)
        servers.append(s)
        s.start()
        return s

    try:
        yield make
    finally:
        for s in servers:
            s.cleanup()


def cli(*args, env=None, input=None, timeout=120, cwd=None):
    """Runs the CLI with the environment cleaned of Redis and TLS
    settings (then env added)."""
    e = {k: v for k, v in os.environ.items()
         if not k.startswith(("CELERIAC_REDIS", "CELERIAC_TLS"))}
    e.update(env or {})
    if isinstance(input, str):
        input = input.encode()
    return subprocess.run([PRODUCER_BIN] + [str(a) for a in args],
                          input=input, capture_output=True, env=e, cwd=cwd,
                          timeout=timeout * SLOW)


def sha512sum(paths, cwd):
    return subprocess.run(["sha512sum"] + paths, cwd=cwd, check=True,
                          capture_output=True).stdout


def tls_worker(worker, srv, pki, *extra, ready=True, **kw):
    args = ["--tls-ca-file", pki("ca.crt")] + list(extra)
    return worker(*args, redis_url=srv.url(), wait_ready=ready,
                  client=srv.client() if ready else None, **kw)


def log_has(w, text, count=1):
    return w.log().count(text) >= count


def test_tasks_and_a_large_file_over_tls(tls_redis, pki, worker, tmp_dir):
    """hash over rediss://, byte-identical to sha512sum, including a 3 MiB
    file (4 MiB of base64 each way through both bridges)."""
    srv = tls_redis()
    w = tls_worker(worker, srv, pki)
    names = []
    for i, size in enumerate([0, 1, 1000, 70000, 3 * 1024 * 1024 + 7]):
        name = "f%d.bin" % i
        with open(os.path.join(tmp_dir, name), "wb") as f:
            f.write(os.urandom(size))
        names.append(name)
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "hash",
              "--timeout", "120", *names, cwd=tmp_dir)
    assert run.returncode == 0, run
    assert run.stdout == sha512sum(names, tmp_dir)
    # The same through the environment, to 127.0.0.1 (an address SAN).
    run = cli("hash", "--timeout", "120", names[2], cwd=tmp_dir,
              env={"CELERIAC_REDIS_URL": srv.url("127.0.0.1"),
                   "CELERIAC_TLS_CA_FILE": pki("ca.crt")})
    assert run.returncode == 0, run
    assert run.stdout == sha512sum([names[2]], tmp_dir)
    c = srv.client()
    assert c.xlen(QUEUE) == 0  # acknowledged and deleted
    assert len(c.keys("celeriac:result:*")) == 6
    assert "Redis localhost:%d/0 (TLS)" % srv.port in w.log()
    assert w.alive()


def test_5000_tasks_pipelined(tls_redis, pki, worker):
    srv = tls_redis()
    tls_worker(worker, srv, pki, concurrency=2)
    datas = ["tls item %d" % i for i in range(N_MANY)]
    lines = "".join(json.dumps({"task": "hash", "args": {"data": d}}) + "\n"
                    for d in datas)
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "send",
              "--batch", "-", "--wait", "--timeout", "240", input=lines,
              timeout=300)
    assert run.returncode == 0, run
    docs = [json.loads(x) for x in run.stdout.decode().splitlines()]
    assert len(docs) == N_MANY
    assert all(d["status"] == "SUCCESS" for d in docs)
    assert sorted(d["result"]["digest"] for d in docs) == sorted(
        hashlib.sha512(d.encode()).hexdigest() for d in datas)
    c = srv.client()
    assert len(c.keys("celeriac:result:*")) == N_MANY
    assert c.xpending(QUEUE, "celeriac")["pending"] == 0


def test_redis_restart_worker_reconnects_over_tls(tls_redis, pki, worker,
                                                  tmp_dir):
    srv = tls_redis()
    w = tls_worker(worker, srv, pki)
    with open(os.path.join(tmp_dir, "a"), "wb") as f:
        f.write(b"before")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "hash",
              "--timeout", "60", "a", cwd=tmp_dir)
    assert run.returncode == 0, run
    port = srv.port
    srv.stop()
    wait_until(lambda: "lost the read connection" in w.log(), 30,
               what="the worker to see Redis go")
    srv.start(port=port)
    wait_until(lambda: "connected to Redis at localhost:%d/0 (TLS) again "
               "(read connection)" % port in w.log(), 30,
               what="the worker to reconnect over TLS")
    with open(os.path.join(tmp_dir, "b"), "wb") as f:
        f.write(b"after")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "hash",
              "--timeout", "60", "b", cwd=tmp_dir)
    assert run.returncode == 0, run
    assert run.stdout == sha512sum(["b"], tmp_dir)
    assert w.alive()


def retrying(w, text):
    """The worker logged text for two attempts and is still running."""
    wait_until(lambda: not w.alive() or log_has(w, text, 2), 60,
               what="the worker to log %r twice" % text)
    assert w.alive(), w.log()


def test_untrusted_ca(tls_redis, pki, worker):
    srv = tls_redis()
    # No --tls-ca-file: the system store does not know the test CA.
    w = worker(redis_url=srv.url(), wait_ready=False)
    retrying(w, "was refused: self-signed certificate in certificate chain "
             "— give the CA that signed it with --tls-ca-file")
    run = cli("--redis", srv.url(), "status")
    assert run.returncode == 4, run
    assert b"give the CA that signed it with --tls-ca-file" in run.stderr
    # A CA that did not sign it.
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("otherca.crt"),
              "status")
    assert run.returncode == 4, run
    assert b"give the CA that signed it with --tls-ca-file" in run.stderr


def test_certificate_for_another_name_refused(tls_redis, pki, worker):
    srv = tls_redis(cert="wrongname")
    w = tls_worker(worker, srv, pki, ready=False)
    retrying(w, "is not valid for that host name")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "status")
    assert run.returncode == 4, run
    assert b"is not valid for that host name" in run.stderr
    run = cli("--redis", srv.url("127.0.0.1"), "--tls-ca-file",
              pki("ca.crt"), "status")
    assert run.returncode == 4, run
    assert b"is not valid for that host name" in run.stderr


def test_plain_server_on_a_tls_url(tls_redis, pki, worker):
    srv = tls_redis(plain=True)
    w = tls_worker(worker, srv, pki, "--redis-timeout", "2", ready=False)
    retrying(w, "use redis:// for")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "status")
    assert run.returncode == 4, run
    assert b"use redis:// for" in run.stderr


def test_tls_server_on_a_plain_url(tls_redis, pki, worker):
    srv = tls_redis()
    url = srv.url(scheme="redis")
    w = worker(redis_url=url, wait_ready=False)
    retrying(w, "(if that port wants TLS, use rediss://)")
    run = cli("--redis", url, "status")
    assert run.returncode == 4, run
    assert b"a TLS port wants rediss://" in run.stderr


def test_client_certificate(tls_redis, pki, worker, tmp_dir):
    srv = tls_redis(auth_clients="yes")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"), "status")
    assert run.returncode == 4, run
    assert b"--tls-cert" in run.stderr
    w = tls_worker(worker, srv, pki, ready=False)
    retrying(w, "--tls-cert")
    w.stop()
    # A certificate from a CA the server does not trust.
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"),
              "--tls-cert", pki("stranger.crt"), "--tls-key",
              pki("stranger.key"), "status")
    assert run.returncode == 4, run
    assert b"--tls-cert" in run.stderr
    # The right one: the worker from its environment, the CLI by option.
    tls_worker(worker, srv, pki, env={
        "CELERIAC_TLS_CERT": pki("client.crt"),
        "CELERIAC_TLS_KEY": pki("client.key")})
    with open(os.path.join(tmp_dir, "c"), "wb") as f:
        f.write(b"client cert")
    run = cli("--redis", srv.url(), "--tls-ca-file", pki("ca.crt"),
              "--tls-cert", pki("client.crt"), "--tls-key", pki("client.key"),
              "hash", "--timeout", "60", "c", cwd=tmp_dir)
    assert run.returncode == 0, run
    assert run.stdout == sha512sum(["c"], tmp_dir)


def test_bad_tls_files_stop_the_worker_at_start(tls_redis, pki, worker,
                                                tmp_dir):
    srv = tls_redis()
    missing = os.path.join(tmp_dir, "nope.pem")
    w = worker("--tls-ca-file", missing, redis_url=srv.url(),
               wait_ready=False)
    assert w.wait(30) == 78
    assert "cannot load the CA certificates from --tls-ca-file" in w.log()
    w = worker("--tls-ca-file", pki("ca.crt"), "--tls-cert",
               pki("client.crt"), "--tls-key", pki("server.key"),
               redis_url=srv.url(), wait_ready=False)
    assert w.wait(30) == 78
    assert "does not belong to the certificate" in w.log() or \
        "give the certificate's PEM key file" in w.log()
    run = cli("--redis", srv.url(), "--tls-ca-file", missing, "status")
    assert run.returncode == 4, run
    assert b"--tls-ca-file" in run.stderr


def test_password_over_tls(tls_redis, pki, worker, tmp_dir):
    """AUTH goes through the bridge; the password is in no message."""
    pw = "tls-Secret-9931"
    srv = tls_redis(password=pw)
    w = worker("--tls-ca-file", pki("ca.crt"), redis_url=srv.url(password=pw),
               client=srv.client())
    with open(os.path.join(tmp_dir, "p"), "wb") as f:
        f.write(b"with a password")
    run = cli("hash", "--timeout", "60", "p", cwd=tmp_dir,
              env={"CELERIAC_REDIS_URL": srv.url(),
                   "CELERIAC_REDIS_PASSWORD": pw,
                   "CELERIAC_TLS_CA_FILE": pki("ca.crt")})
    assert run.returncode == 0, run
    assert run.stdout == sha512sum(["p"], tmp_dir)
    run = cli("--redis", srv.url(password="not-" + pw), "--tls-ca-file",
              pki("ca.crt"), "status")
    assert run.returncode == 4, run
    assert b"refused the password" in run.stderr, run
    assert pw.encode() not in run.stderr
    assert pw not in w.log()


def test_tls_settings_from_the_config_file(tls_redis, pki, worker, tmp_dir):
    """rediss:// and tls-ca-file from --config, like every worker option."""
    srv = tls_redis()
    conf = os.path.join(tmp_dir, "worker.conf")
    with open(conf, "w") as f:
        f.write("redis = %s\ntls-ca-file = %s\n" % (srv.url(), pki("ca.crt")))
    w = worker("--config", conf, redis_url="", client=srv.client())
    srv.client().xadd(QUEUE, {"msg": json.dumps(
        {"task": "hash", "id": "conf-1", "args": {"data": "from the file"}})})
    doc = wait_until(lambda: srv.client().get("celeriac:result:conf-1"), 30,
                     what="the result of conf-1")
    assert json.loads(doc)["result"]["digest"] == hashlib.sha512(
        b"from the file").hexdigest()
    assert "Redis localhost:%d/0 (TLS)" % srv.port in w.log()
