# SPDX-License-Identifier: MIT
"""A private redis-server for one bench run: no persistence, 127.0.0.1 on a
free port, files in a temporary directory, stopped by its pid."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import redis

import proctree


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    def __init__(self, server="redis-server"):
        self.dir = tempfile.mkdtemp(prefix="celeriac-bench-")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [server, "--bind", "127.0.0.1", "--port", str(self.port),
             "--dir", self.dir, "--save", "", "--appendonly", "no",
             "--daemonize", "no", "--loglevel", "warning",
             "--logfile", os.path.join(self.dir, "redis.log")],
            stdin=subprocess.DEVNULL)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.client = redis.Redis(host="127.0.0.1", port=self.port)
        deadline = time.time() + 10
        while True:
            try:
                self.client.ping()
                break
            except redis.ConnectionError:
                if self.proc.poll() is not None or time.time() > deadline:
                    self.stop()
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.02)
        self.version = self.client.info("server")["redis_version"]

    def db(self, n):
        return redis.Redis(host="127.0.0.1", port=self.port, db=n)

    def url_db(self, n):
        return f"redis://127.0.0.1:{self.port}/{n}"

    def flush(self):
        self.client.flushall()

    def cpu_seconds(self):
        return proctree.cpu_seconds([self.proc.pid])

    def rss_bytes(self):
        return proctree.rss_bytes([self.proc.pid])

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)
