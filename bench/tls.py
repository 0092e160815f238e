#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""rediss:// against redis:// in the same run: W1's tasks (64-byte
payloads, SHA-512) end to end, `celeriac send --batch FILE --wait` with a
2-child worker started before, both over the same scheme, against one
redis-server that has a plain port and a TLS port.  Plain and TLS runs
alternate (--repeat times each); the table gives each run's tasks/s and the
ratio of the medians, with the CPU time the worker's parent spent per
task (the bridge runs in it; /proc/PID/stat, steadier than the rate on a
shared machine).  Every result is checked (each digest).

    /usr/bin/python3 bench/tls.py [--tasks 20000] [--repeat 3]

Needs `make` first (bin/celeriac, bin/celeriac-worker), redis-server built
with TLS (Debian's is) and openssl.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "bin")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def openssl(d, *args):
    subprocess.run(["openssl"] + list(args), cwd=d, check=True,
                   capture_output=True)


def make_pki(d):
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout",
            "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=bench ca")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-keyout",
            "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt",
            "-CAkey", "ca.key", "-CAcreateserial", "-out", "server.crt",
            "-days", "2", "-extfile", "san.ext")


def payload(i):
    return ("%010d" % i) + "x" * 54


def parent_cpu(pid):
    """CPU seconds (user + system) the worker's parent has used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_once(url, env, batch, n, client, logdir, tag):
    client.flushall()
    log = open(os.path.join(logdir, "worker-%s.log" % tag), "wb")
    w = subprocess.Popen([os.path.join(BIN, "celeriac-worker"), "--redis",
                          url, "--concurrency", "2", "--log-level", "warn"],
                         env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while not client.exists("celeriac:queue:default"):
            if time.monotonic() > deadline or w.poll() is not None:
                raise RuntimeError("worker did not start; see " + log.name)
            time.sleep(0.02)
        t0 = time.monotonic()
        p = subprocess.run([os.path.join(BIN, "celeriac"), "--redis", url,
                            "send", "--batch", batch, "--wait", "--timeout",
                            "600"], env=env, capture_output=True)
        dt = time.monotonic() - t0
        if p.returncode != 0:
            raise RuntimeError("send failed: %s" % p.stderr.decode()[-2000:])
        docs = [json.loads(x) for x in p.stdout.decode().splitlines()]
        assert len(docs) == n, len(docs)
        want = {hashlib.sha512(payload(i).encode()).hexdigest()
                for i in range(n)}
        got = {d["result"]["digest"] for d in docs
               if d["status"] == "SUCCESS"}
        assert got == want, "wrong or missing digests"
        return n / dt, parent_cpu(w.pid) / n * 1e6
    finally:
        w.send_signal(signal.SIGTERM)
        w.wait(60)
        log.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="celeriac-bench-tls-")
    srv = None
    try:
        make_pki(d)
        plain, tls = free_port(), free_port()
        sock = os.path.join(d, "redis.sock")
        srv = subprocess.Popen(
            ["redis-server", "--bind", "127.0.0.1", "::1", "--port",
             str(plain), "--tls-port", str(tls), "--tls-cert-file",
             os.path.join(d, "server.crt"), "--tls-key-file",
             os.path.join(d, "server.key"), "--tls-ca-cert-file",
             os.path.join(d, "ca.crt"), "--tls-auth-clients", "no",
             "--unixsocket", sock, "--save", "", "--appendonly", "no",
             "--dir", d, "--logfile", os.path.join(d, "redis.log")])
        client = redis.Redis(unix_socket_path=sock)
        for _ in range(200):
            try:
                client.ping()
                break
            except (redis.ConnectionError, FileNotFoundError):
                time.sleep(0.05)
        batch = os.path.join(d, "w1.jsonl")
        with open(batch, "w") as f:
            for i in range(a.tasks):
                f.write(json.dumps({"task": "hash",
                                    "args": {"data": payload(i)}}) + "\n")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CELERIAC_REDIS", "CELERIAC_TLS"))}
        env["CELERIAC_TLS_CA_FILE"] = os.path.join(d, "ca.crt")
        urls = {"redis://": "redis://127.0.0.1:%d/0" % plain,
                "rediss://": "rediss://localhost:%d/0" % tls}
        rates = {k: [] for k in urls}
        cpus = {k: [] for k in urls}
        for r in range(a.repeat):
            for k, url in urls.items():
                rate, cpu = run_once(url, env, batch, a.tasks, client, d,
                                     "%s%d" % (k.rstrip(":/"), r))
                rates[k].append(rate)
                cpus[k].append(cpu)
                print("%-10s run %d: %8.0f tasks/s, worker parent %5.1f "
                      "us CPU/task" % (k, r + 1, rate, cpu), flush=True)
        med = {k: statistics.median(v) for k, v in rates.items()}
        cpu = {k: statistics.median(v) for k, v in cpus.items()}
        print("\n%d tasks x %d runs each, medians: redis:// %.0f tasks/s, "
              "%.1f us parent CPU/task; rediss:// %.0f tasks/s, %.1f us; "
              "TLS/plain: rate %.2f, parent CPU %.2f"
              % (a.tasks, a.repeat, med["redis://"], cpu["redis://"],
                 med["rediss://"], cpu["rediss://"],
                 med["rediss://"] / med["redis://"],
                 cpu["rediss://"] / cpu["redis://"]))
    finally:
        if srv is not None:
            srv.terminate()
            srv.wait(30)
        shutil.rmtree(d, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
