# SPDX-License-Identifier: MIT
"""`celeriac web`: the page in headless Chromium against a worker and
queues in a known state (DOM checked, screenshot kept under
build/artifacts/), /api/snapshot, the 4xx answers (unknown path, huge
headers, wrong method, foreign Host, read-only, missing or wrong token),
the requeue action end to end, the pause/resume/shutdown commands through
a stub program, the connection bound, and a loop that stays responsive
while an action runs."""

import http.client
import json
import os
import shutil
import signal
import subprocess
import tempfile

import pytest

from harness import (PRODUCER_BIN, SLOW, child_pids, free_port, live_pids,
                     pid_alive, wait_until)
from watchlib import wait_answering

DEAD = "celeriac:dead"
WORKER = "web-w1"
TOKEN = "0123456789abcdef0123456789abcdef"
ARTIFACTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                         "..", "build", "artifacts")


class Web:
    """A running `celeriac web` on a free loopback port."""

    def __init__(self, redis_url, tmp_dir, *extra, env=None):
        self.port = free_port()
        self.log_path = os.path.join(tmp_dir, "web%d.stderr" % self.port)
        e = dict(os.environ)
        e["CELERIAC_REDIS_URL"] = redis_url
        e.update(env or {})
        self._err = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [PRODUCER_BIN, "web", "--listen", "127.0.0.1:%d" % self.port,
             "--interval", "0.2"] + list(extra),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=self._err, env=e)
        live_pids.add(self.proc.pid)
        wait_until(lambda: self.proc.poll() is not None or
                   b"serving http://" in self.log(), 30,
                   what="celeriac web to listen")
        assert self.proc.poll() is None, self.log()

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.port,
                                          timeout=60 * SLOW)

    def request(self, method, path, headers=None):
        c = self.conn()
        try:
            c.request(method, path, headers=headers or {})
            resp = c.getresponse()
            return resp.status, resp.read(), resp
        finally:
            c.close()

    def snapshot(self):
        status, body, _ = self.request("GET", "/api/snapshot")
        return json.loads(body) if status == 200 else None

    def stop(self):
        helpers = child_pids(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(30 * SLOW)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("celeriac web did not stop on SIGTERM")
        finally:
            live_pids.discard(self.proc.pid)
            self._err.close()
        # Its snapshot process ends with it.
        wait_until(lambda: not any(pid_alive(p) for p in helpers), 30,
                   what="the snapshot process to end")
        return rc


@pytest.fixture
def web(redis_server, tmp_dir):
    started = []

    def start(*extra, env=None):
        w = Web(redis_server.url, tmp_dir, *extra, env=env)
        started.append(w)
        return w

    try:
        yield start
    finally:
        for w in started:
            if w.proc.returncode is None:
                rc = w.stop()
                print("---- stderr of celeriac web ----\n%s"
                      % w.log().decode(errors="replace"))
                assert rc == 0, "celeriac web exited %s" % rc
                # The snapshot process never died on the way.
                assert b"snapshot process ended" not in w.log()


def known_state(r, worker, celeriac):
    worker("--name", WORKER, "--queues", "default,fast", "--heartbeat",
           "0.2")
    run = celeriac("send", "hash", "--arg", "data=a", "--wait", "--timeout",
                   "60")
    assert run.rc == 0, run
    for i in range(3):
        run = celeriac("send", "hash", "--arg", "data=s%d" % i, "--queue",
                       "slow-queue")
        assert run.rc == 0, run
    return r.xadd(DEAD, {"msg": '{"id":"poison-9","task":"hash",'
                                '"args":{"data":"x"}}',
                         "reason": '{"error":{"type":"WorkerLost","message":'
                                   '"killed by signal 9"},"deliveries":2,'
                                   '"worker":"%s","at":"2026-11-22T02:57:36Z"}'
                                   % WORKER,
                         "queue": "celeriac:queue:default",
                         "entry": "1-0"}).decode()


def ready(web_server):
    """The snapshot has the worker with its counters, and rates."""
    def check():
        d = web_server.snapshot()
        if not d or not d.get("workers") or d.get("throughput") is None:
            return None
        w = d["workers"][0]
        return d if w["name"] == WORKER and w["processed"] == 1 else None
    return wait_until(check, 60, what="a snapshot with the worker")


def chromium(*args):
    binary = shutil.which("chromium")
    if binary is None:
        pytest.skip("chromium is not installed (scripts/deps.sh test)")
    profile = tempfile.mkdtemp(prefix="celeriac-chromium-")
    try:
        p = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
             "--user-data-dir=" + profile, "--virtual-time-budget=5000"] +
            list(args), capture_output=True, timeout=180 * SLOW)
        return p
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_web_page_in_chromium(r, worker, celeriac, web):
    entry = known_state(r, worker, celeriac)
    w = web()
    d = ready(w)
    assert d["control"] is False
    # Some throughput for the chart.
    batch = "".join('{"task": "hash", "args": {"data": "b%d"}}\n' % i
                    for i in range(300))
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "120",
                   input=batch)
    assert run.rc == 0, run
    wait_until(lambda: max((w.snapshot() or {}).get("history") or [0]) > 0,
               60, what="a throughput above 0 in the history")
    url = "http://127.0.0.1:%d/" % w.port
    p = chromium("--dump-dom", url)
    dom = p.stdout.decode(errors="replace")
    assert p.returncode == 0, p.stderr[-2000:]
    for name in ("slow-queue", "default", "fast", WORKER, "poison-9", entry,
                 "WorkerLost", "killed by signal 9"):
        assert "<td>%s</td>" % name in dom or ">%s<" % name in dom, \
            (name, dom[-4000:])
    # slow-queue: length 3, pending 0, lag 3, no consumer.
    assert "<td>slow-queue</td><td>3</td><td>0</td><td>3</td><td>0</td>" \
        in dom, dom
    # Read-only: no action buttons.
    assert "requeue</button>" not in dom and "shut down</button>" not in dom

    os.makedirs(ARTIFACTS, exist_ok=True)
    shot = os.path.join(ARTIFACTS, "web-dashboard.png")
    if os.path.exists(shot):
        os.unlink(shot)
    p = chromium("--window-size=1200,900", "--screenshot=" + shot, url)
    assert p.returncode == 0 and os.path.getsize(shot) > 1000, \
        p.stderr[-2000:]
    with open(shot, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_web_page_with_control_shows_actions(r, worker, celeriac, web,
                                             tmp_dir):
    known_state(r, worker, celeriac)
    path = os.path.join(tmp_dir, "token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    w = web("--allow-control", path)
    assert ready(w)["control"] is True
    p = chromium("--dump-dom", "http://127.0.0.1:%d/" % w.port)
    dom = p.stdout.decode(errors="replace")
    assert "requeue</button>" in dom and "shut down</button>" in dom, dom
    assert "pause</button>" in dom and "resume</button>" in dom, dom


def test_web_snapshot_api(r, worker, celeriac, web):
    entry = known_state(r, worker, celeriac)
    w = web()
    d = ready(w)
    q = {x["name"]: x for x in d["queues"]}
    assert set(q) == {"default", "fast", "slow-queue"}
    s = q["slow-queue"]
    assert (s["length"], s["pending"], s["lag"], s["consumers"]) == \
        (3, 0, 3, 0), s
    assert s["added"] == 3 and s["done"] == 0 and s["oldest_age_ms"] >= 0
    assert q["default"]["done"] == 1 and q["default"]["consumers"] == 1
    wk = d["workers"][0]
    assert (wk["busy"], wk["idle"], wk["concurrency"]) == (0, 2, 2), wk
    assert wk["succeeded"] == 1 and wk["failed"] == 0 and not wk["gone"]
    assert wk["up_s"] >= 0 and wk["host"]
    assert d["dead"]["length"] == 1
    last = d["dead"]["last"][0]
    assert last == {"entry": entry, "queue": "default", "task": "poison-9",
                    "name": "hash", "error": "WorkerLost",
                    "message": "killed by signal 9", "worker": WORKER,
                    "at": "2026-11-22T02:57:36Z"}, last
    assert isinstance(d["history"], list) and d["history"]
    _, _, resp = w.request("GET", "/api/snapshot")
    assert resp.getheader("Content-Type") == "application/json"
    status, body, resp = w.request("GET", "/")
    assert status == 200 and b"<canvas" in body
    csp = resp.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp
    # Self-contained: nothing loaded from elsewhere.
    assert b"src=\"http" not in body and b"href=\"http" not in body
    assert b"@import" not in body and b"url(" not in body


def test_web_bad_requests(r, web, tmp_dir):
    w = web()
    wait_until(w.snapshot, 30, what="a first snapshot")
    assert w.request("GET", "/nope")[0] == 404
    assert w.request("GET", "/api/nope")[0] == 404
    assert w.request("POST", "/api/nope")[0] == 404
    assert w.request("POST", "/api/snapshot")[0] == 405
    assert w.request("PUT", "/")[0] in (405, 501)
    # Huge headers: answered by evhttp's limit, not served.
    status = w.request("GET", "/", {"X-Big": "a" * 20000})[0]
    assert status in (400, 413, 431), status
    # A foreign Host (DNS rebinding) is refused.
    assert w.request("GET", "/api/snapshot",
                     {"Host": "evil.example:80"})[0] == 403
    # Read-only: every action is refused, token or not.
    for path in ("/api/requeue?all=1", "/api/pause?queue=default",
                 "/api/shutdown?worker=x"):
        status, body, _ = w.request("POST", path, {"X-Celeriac-Token": TOKEN})
        assert status == 403 and b"read-only" in body, (path, body)
    # The server still serves.
    assert w.request("GET", "/")[0] == 200


def test_web_token_required(r, web, tmp_dir):
    path = os.path.join(tmp_dir, "token")
    with open(path, "w") as f:
        f.write(TOKEN)
    w = web("--allow-control", path)
    for headers in ({}, {"X-Celeriac-Token": "wrong"},
                    {"X-Celeriac-Token": TOKEN[:-1] + "0"}):
        status, body, _ = w.request("POST", "/api/requeue?all=1", headers)
        assert status == 403 and b"token" in body, (headers, body)
    # Actions are POST only.
    assert w.request("GET", "/api/requeue?all=1",
                     {"X-Celeriac-Token": TOKEN})[0] == 405
    # Bad arguments are refused before anything runs.
    for path in ("/api/requeue", "/api/requeue?entry=1-0;rm",
                 "/api/pause?queue=--all", "/api/pause",
                 "/api/shutdown?worker=a%20b"):
        status, _, _ = w.request("POST", path, {"X-Celeriac-Token": TOKEN})
        assert status == 400, path
    assert b"running" not in w.log()


def test_web_bad_options(celeriac, tmp_dir):
    short = os.path.join(tmp_dir, "short")
    with open(short, "w") as f:
        f.write("abc\n")
    for args in (["--listen", "nope"], ["--allow-control", short],
                 ["--allow-control", os.path.join(tmp_dir, "missing")],
                 ["--allow-control", "env:CELERIAC_TEST_UNSET_VAR"],
                 ["--interval", "0"]):
        run = celeriac("web", *args)
        assert run.rc == 2, run
    run = celeriac("web", env={"CELERIAC_REDIS_URL": "bogus://x"})
    assert run.rc == 2 and b"bad Redis URL" in run.stderr, run


def test_web_requeue_action(r, worker, celeriac, web, tmp_dir):
    entry = known_state(r, worker, celeriac)
    w = web("--allow-control", "env:CELERIAC_TEST_TOKEN",
            env={"CELERIAC_TEST_TOKEN": TOKEN})
    status, body, _ = w.request("POST", "/api/requeue?entry=" + entry,
                                {"X-Celeriac-Token": TOKEN})
    doc = json.loads(body)
    assert status == 200 and doc["ok"] is True and doc["exit"] == 0, doc
    assert "dead --requeue " + entry in doc["command"], doc
    assert "poison-9" in doc["output"], doc
    assert r.xlen(DEAD) == 0
    # The worker ran it again (it succeeds this time).
    wait_until(lambda: r.exists("celeriac:result:poison-9"), 60,
               what="the requeued task's result")
    # An entry that is not there: the command fails, the answer says so.
    status, body, _ = w.request("POST", "/api/requeue?entry=1-1",
                                {"X-Celeriac-Token": TOKEN})
    doc = json.loads(body)
    assert status == 200 and doc["ok"] is False and doc["exit"] != 0, doc


def stub(tmp_dir, block=False):
    """A program standing in for celeriac: writes its arguments, one per
    line, to a file and exits 0 (with block, only once `go` exists)."""
    path = os.path.join(tmp_dir, "stub.sh")
    out = os.path.join(tmp_dir, "stub.args")
    go = os.path.join(tmp_dir, "go")
    with open(path, "w") as f:
        f.write("#!/bin/sh\n")
        if block:
            f.write("n=0; while [ ! -e %s ] && [ $n -lt 6000 ]; do "
                    "sleep 0.05; n=$((n+1)); done\n" % go)
        f.write("printf '%%s\\n' \"$@\" > %s.tmp; mv %s.tmp %s\n"
                "echo stub ran\n" % (out, out, out))
    os.chmod(path, 0o755)
    return path, out, go


def test_web_control_commands(r, web, tmp_dir):
    path, out, _ = stub(tmp_dir)
    w = web("--allow-control", "env:CELERIAC_TEST_TOKEN", "--prefix", "celeriac:",
            env={"CELERIAC_TEST_TOKEN": TOKEN, "CELERIAC_WEB_CLI": path})
    cases = [
        ("/api/pause?queue=fast", ["control", "pause", "fast"]),
        ("/api/resume?queue=fast", ["control", "resume", "fast"]),
        ("/api/shutdown?worker=" + WORKER,
         ["control", "--to", WORKER, "shutdown"]),
        ("/api/requeue?all=1", ["dead", "--requeue", "--all"]),
    ]
    for url, argv in cases:
        if os.path.exists(out):
            os.unlink(out)
        status, body, _ = w.request("POST", url, {"X-Celeriac-Token": TOKEN})
        doc = json.loads(body)
        assert status == 200 and doc["ok"] is True, doc
        assert doc["output"] == "stub ran\n", doc
        with open(out) as f:
            assert f.read().splitlines() == ["--prefix", "celeriac:"] + argv


def test_web_control_against_a_worker(r, worker, celeriac, web):
    """The dashboard's pause, resume and shutdown reach a real worker:
    the queue stops being read, is read again, and the worker stops with a
    warm shutdown."""
    wk = worker("--name", WORKER, "--queues", "default,fast", "--heartbeat",
                "0.2")
    wait_answering(celeriac, WORKER)
    w = web("--allow-control", "env:CELERIAC_TEST_TOKEN",
            env={"CELERIAC_TEST_TOKEN": TOKEN})
    hb = "celeriac:worker:" + WORKER

    def post(url):
        status, body, _ = w.request("POST", url, {"X-Celeriac-Token": TOKEN})
        doc = json.loads(body)
        assert status == 200 and doc["ok"] is True, doc
    post("/api/pause?queue=fast")
    wait_until(lambda: r.hget(hb, "paused") == b"fast", 30,
               what="the heartbeat to show fast paused")
    r.xadd("celeriac:queue:fast", {"msg": '{"task":"hash","id":"wf1",'
                                          '"args":{"data":"f"}}'})
    run = celeriac("send", "hash", "--arg", "data=d", "--wait", "--timeout",
                   "60")
    assert run.rc == 0, run
    assert r.get("celeriac:result:wf1") is None
    post("/api/resume?queue=fast")
    wait_until(lambda: r.get("celeriac:result:wf1"), 30,
               what="the paused queue's task after resume")
    post("/api/shutdown?worker=" + WORKER)
    assert wk.wait(60) == 0, wk.log()[-2000:]


def test_web_loop_serves_while_an_action_runs(r, web, tmp_dir):
    path, out, go = stub(tmp_dir, block=True)
    w = web("--allow-control", "env:CELERIAC_TEST_TOKEN",
            env={"CELERIAC_TEST_TOKEN": TOKEN, "CELERIAC_WEB_CLI": path})
    c = w.conn()
    c.request("POST", "/api/pause?queue=default",
              headers={"X-Celeriac-Token": TOKEN})
    wait_until(lambda: b"running" in w.log(), 30, what="the action to start")
    # The page and the snapshot are served meanwhile.
    assert w.request("GET", "/")[0] == 200
    wait_until(w.snapshot, 30, what="a snapshot while the action runs")
    open(go, "w").close()
    resp = c.getresponse()
    doc = json.loads(resp.read())
    c.close()
    assert resp.status == 200 and doc["ok"] is True, doc
    with open(out) as f:
        assert f.read().splitlines()[-2:] == ["pause", "default"]


def test_web_connections_are_bounded(r, web):
    w = web()
    wait_until(w.snapshot, 30, what="a first snapshot")
    held = []
    try:
        # 64 kept-alive connections, each having made a request.
        for _ in range(64):
            c = w.conn()
            c.request("GET", "/api/snapshot")
            resp = c.getresponse()
            resp.read()
            assert resp.status == 200
            held.append(c)
        status, body, _ = w.request("GET", "/api/snapshot")
        assert status == 503 and b"too many connections" in body, body
        held.pop().close()
        wait_until(lambda: w.request("GET", "/")[0] == 200, 30,
                   what="a connection slot to free up")
    finally:
        for c in held:
            c.close()


def test_web_survives_redis_going_away(make_redis, tmp_dir):
    """Redis stops: /api/snapshot says so (the page shows it) and the
    server keeps serving."""
    server = make_redis()
    server.client().xadd("celeriac:queue:before", {"msg": "{}"})
    w = Web(server.url, tmp_dir)
    try:
        wait_until(lambda: (w.snapshot() or {}).get("queues"), 30,
                   what="a first snapshot")
        server.stop()
        d = wait_until(lambda: (lambda d: d if d and d.get("error") else
                                None)(w.snapshot()), 60,
                       what="the snapshot to report Redis gone")
        assert "unreachable" in d["error"], d
        assert w.request("GET", "/")[0] == 200
    finally:
        rc = w.stop()
        assert rc == 0, w.log()


def test_web_recent_failures_from_events(r, celeriac, web):
    """task-failed events (workers started with --events) are the recent
    failures."""
    r.xadd("celeriac:events", {"type": "task-succeeded", "worker": "w",
                               "id": "ok-1"})
    r.xadd("celeriac:events", {"type": "task-failed", "worker": "w9",
                               "id": "bad-1", "task": "hash",
                               "queue": "default", "attempt": "2",
                               "runtime": "0.25"})
    r.xadd("celeriac:queue:default", {"msg": "{}"})
    w = web()
    d = wait_until(w.snapshot, 30, what="a first snapshot")
    assert len(d["failures"]) == 1, d["failures"]
    f = d["failures"][0]
    assert (f["id"], f["task"], f["queue"], f["worker"], f["attempt"],
            f["runtime"]) == ("bad-1", "hash", "default", "w9", "2", "0.25")
    run = celeriac("monitor", "--once")
    assert "RECENT FAILURES" in run.text() and "bad-1" in run.text(), run


def test_web_recent_failures_from_a_worker(r, worker, celeriac, web):
    """A worker started with --events: its failed task is a recent failure
    on the dashboard and in the monitor."""
    worker("--events", "--heartbeat", "0.2")
    bad = celeriac("send", "hash", "--arg", "data=b", "--arg",
                   "algorithm=sha999", "--wait", "--timeout", "60",
                   "--no-check")
    assert bad.rc == 1, bad
    tid = json.loads(bad.text().splitlines()[-1])["id"]
    w = web()
    d = wait_until(lambda: (w.snapshot() or {}).get("failures"), 30,
                   what="the failure on the dashboard")
    assert [f["id"] for f in d] == [tid], d
    assert d[0]["task"] == "hash" and d[0]["queue"] == "default", d
    run = celeriac("monitor", "--once")
    assert "RECENT FAILURES" in run.text() and tid in run.text(), run


def test_web_snapshot_lag_and_oldest(r, web):
    """Pending and unread entries: the lag and the entries added from the
    group when Redis knows the lag, from XINFO STREAM when a deletion made
    it unknown; the oldest task is the oldest pending one."""
    key = "celeriac:queue:lagq"
    for ms in (1000, 2000, 3000):
        r.xadd(key, {"msg": "{}"}, id="%d-0" % ms)
    r.xgroup_create(key, "celeriac", id="0")
    r.xreadgroup("celeriac", "c1", {key: ">"}, count=2)
    w = web()

    def lagq():
        d = w.snapshot()
        q = [x for x in (d or {}).get("queues", []) if x["name"] == "lagq"]
        return q[0] if q else None

    q = wait_until(lagq, 30, what="the queue in a snapshot")
    assert (q["length"], q["pending"], q["lag"], q["added"], q["done"]) == \
        (3, 2, 1, 3, 0), q
    now_ms = int(r.time()[0]) * 1000
    assert abs(q["oldest_age_ms"] - (now_ms - 1000)) < 60000, q
    # The unread entry deleted: Redis no longer knows the lag.
    r.xdel(key, "3000-0")
    q = wait_until(lambda: (lambda q: q if q and q["length"] == 2 else None)(
        lagq()), 30, what="the deletion in a snapshot")
    assert (q["pending"], q["lag"], q["added"], q["done"]) == (2, 0, 3, 1), q
