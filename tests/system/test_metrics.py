# SPDX-License-Identifier: MIT
"""`celeriac-worker --metrics ADDR:PORT`: Prometheus metrics on the
worker's own loop (README.md, "Watching a cluster").

- /metrics passes `promtool check metrics`; its task counters match the
  tasks run; bad requests get 4xx answers and the worker goes on.
- A real Prometheus server scrapes two workers; a query through its HTTP
  API sums celeriac_tasks_total to the number of tasks sent.
- Every metric docker/grafana-dashboard.json queries exists in a
  worker's /metrics.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import urllib.error
import urllib.parse
import urllib.request

import pytest

from harness import enqueue, free_port, wait_result, wait_until
from watchlib import wait_registered

DASHBOARD = os.path.join(os.path.dirname(__file__), "..", "..", "docker",
                         "grafana-dashboard.json")


def scrape(port, path="/metrics"):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                timeout=30) as resp:
        assert resp.status == 200
        ctype = resp.headers["Content-Type"]
        assert ctype.startswith("text/plain; version=0.0.4"), ctype
        return resp.read().decode()


def samples(text):
    """{series (name and labels): value} of an exposition."""
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            series, value = line.rsplit(" ", 1)
            out[series] = float(value)
    return out


def names(text):
    return {re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", s).group(0)
            for s in samples(text)}


def http_status(port, raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(raw)
        head = s.recv(64)
    finally:
        s.close()
    return int(head.split()[1]) if head.startswith(b"HTTP/1.") else None


def test_metrics_pass_promtool(r, worker):
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool is not installed (Debian package prometheus)")
    port = free_port()
    w = worker("--name", "m1", "--metrics", port)
    wait_registered(r, "m1")
    for i in range(5):
        enqueue(r, {"task": "hash", "id": "m%d" % i, "args": {"data": "x"}})
    enqueue(r, {"task": "hash", "id": "mbad",
                "args": {"algorithm": "nope", "data": "x"}})
    enqueue(r, {"task": "nosuchtask", "id": "mnone", "args": {}})
    for tid in ["m%d" % i for i in range(5)] + ["mbad", "mnone"]:
        wait_result(r, tid)

    def counted():
        s = samples(scrape(port))
        ok = s.get('celeriac_tasks_total{queue="default",task="hash",'
                   'outcome="succeeded"}')
        return s if ok == 5 and "celeriac_queue_length{queue=\"default\"," \
            "worker=\"m1\"}" in s else None
    s = wait_until(counted, 60, what="the counters and queue gauges")
    text = scrape(port)
    run = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                         capture_output=True, timeout=60)
    assert run.returncode == 0, (run.stdout, run.stderr, text)
    assert s['celeriac_tasks_total{queue="default",task="hash",'
             'outcome="failed"}'] == 1
    # A task name no registered task has is counted as "unknown".
    assert s['celeriac_tasks_total{queue="default",task="unknown",'
             'outcome="failed"}'] == 1
    assert s['celeriac_task_runtime_seconds_count{queue="default"}'] >= 5
    assert s['celeriac_task_queue_wait_seconds_count{queue="default"}'] == 7
    assert s["celeriac_children_alive"] == 2
    # The adaptive window: one task a child at least, --prefetch at most.
    assert 2 <= s["celeriac_prefetch_window"] <= 512
    assert s['celeriac_worker_info{worker="m1"}'] == 1

    # Bad requests: 4xx, and the worker serves on.
    assert http_status(port, b"GET /nothing HTTP/1.0\r\n\r\n") == 404
    assert http_status(port, b"POST /metrics HTTP/1.0\r\n"
                       b"Content-Length: 0\r\n\r\n") == 405
    assert http_status(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       b"a" * 20000 + b"\r\n\r\n") in (400, 413, 431, None)
    assert http_status(port, b"GARBAGE\r\n\r\n") in (400, 405, 501, None)
    assert "celeriac_tasks_total" in scrape(port)
    assert w.alive()


def test_metrics_lease_of_the_wrong_type(r, worker):
    """A lease key holding something else: no queue gauges (and an error
    reply, not a crash); the rest is served."""
    r.hset("celeriac:metrics:default", "x", "1")
    port = free_port()
    w = worker("--name", "m2", "--metrics", port)
    wait_registered(r, "m2")
    enqueue(r, {"task": "hash", "id": "wt1", "args": {"data": "x"}})
    wait_result(r, "wt1")
    wait_until(lambda: 'celeriac_tasks_total{queue="default"' in scrape(port),
               60, what="the task counted")
    text = scrape(port)
    assert "celeriac_queue_length{" not in text, text
    assert r.type("celeriac:metrics:default") == b"hash"
    assert w.alive()


def test_metrics_address_is_checked(worker, r):
    run = subprocess.run([os.environ.get("CELERIAC_BIN", "bin") +
                          "/celeriac-worker", "--metrics", "host:"],
                         capture_output=True, timeout=60)
    assert run.returncode == 2 and b"--metrics" in run.stderr, run


def test_prometheus_scrapes_two_workers(r, worker, tmp_dir):
    prom = shutil.which("prometheus")
    if prom is None:
        pytest.skip("prometheus is not installed (Debian package prometheus)")
    ports = [free_port(), free_port()]
    worker("--name", "pa", "--metrics", "127.0.0.1:%d" % ports[0])
    worker("--name", "pb", "--metrics", "127.0.0.1:%d" % ports[1])
    wait_registered(r, "pa")
    wait_registered(r, "pb")
    n = 40
    for i in range(n):
        enqueue(r, {"task": "hash", "id": "p%d" % i,
                    "args": {"data": "x%d" % i}})
    for i in range(n):
        wait_result(r, "p%d" % i)

    web = free_port()
    conf = os.path.join(tmp_dir, "prometheus.yml")
    with open(conf, "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: celeriac\n"
                "    static_configs:\n      - targets: [%s]\n"
                % ", ".join("'127.0.0.1:%d'" % p for p in ports))
    log = open(os.path.join(tmp_dir, "prometheus.log"), "wb")
    proc = subprocess.Popen(
        [prom, "--config.file=" + conf,
         "--storage.tsdb.path=" + os.path.join(tmp_dir, "tsdb"),
         "--web.listen-address=127.0.0.1:%d" % web],
        stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        def query(q):
            url = "http://127.0.0.1:%d/api/v1/query?%s" % (
                web, urllib.parse.urlencode({"query": q}))
            try:
                with urllib.request.urlopen(url, timeout=10) as resp:
                    doc = json.load(resp)
            except (urllib.error.URLError, ConnectionError, OSError):
                return None
            assert doc["status"] == "success", doc
            return doc["data"]["result"]

        def total():
            assert proc.poll() is None, "prometheus exited"
            res = query("sum(celeriac_tasks_total)")
            return res and float(res[0]["value"][1]) == n
        wait_until(total, 120, interval=0.5,
                   what="Prometheus to sum celeriac_tasks_total to %d" % n)
        up = query("count(up{job=\"celeriac\"} == 1)")
        assert float(up[0]["value"][1]) == 2, up
        per = query("sum by (instance) (celeriac_tasks_total)")
        assert len(per) == 2 and sum(float(x["value"][1]) for x in per) == n
        # A queue's gauges come from one worker (a lease in Redis), so
        # that a sum over the workers is the queue's figure.
        def exporters():
            return [p for p in ports if 'celeriac_queue_length{queue="default"'
                    in scrape(p)]
        wait_until(lambda: len(exporters()) == 1, 60,
                   what="one worker to export the queue's gauges")

        def one_series():
            res = query('count(celeriac_queue_length{queue="default"})')
            return res and float(res[0]["value"][1]) == 1
        wait_until(one_series, 60, interval=0.5,
                   what="Prometheus to hold one series of the queue length")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def test_dashboard_queries_existing_metrics(r, worker):
    with open(DASHBOARD) as f:
        dash = json.load(f)
    exprs = [t["expr"] for p in dash["panels"] for t in p.get("targets", [])]
    assert exprs
    wanted = set()
    for e in exprs:
        wanted.update(re.findall(r"\bceleriac_[a-z0-9_]+", e))
    port = free_port()
    worker("--name", "dash", "--metrics", port)
    wait_registered(r, "dash")
    enqueue(r, {"task": "hash", "id": "d1", "args": {"data": "x"}})
    wait_result(r, "d1")
    # The queue gauges come with the first poll of the queues.
    have = wait_until(lambda: (lambda n: n if "celeriac_queue_lag" in n
                               else None)(names(scrape(port))), 60,
                      what="the queue gauges")
    missing = sorted(m for m in wanted if m not in have)
    assert not missing, (missing, sorted(have))
