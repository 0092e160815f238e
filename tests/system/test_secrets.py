# SPDX-License-Identifier: MIT
"""Redis passwords stay secret: no message of the worker or of the CLI
shows one (bad URLs from --redis or CELERIAC_REDIS_URL, refused or failed
connections), and a running worker or `celeriac send --wait` has the
password of --redis overwritten in /proc/PID/cmdline, which ps shows."""

import json
import os
import subprocess

import pytest

from harness import (PRODUCER_BIN, QUEUE, SLOW, WORKER_BIN, assert_success,
                     free_port, live_pids, stop_pid, wait_until)

PASSWORD = "s3cret-Pw-4711"


def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read()


def run(argv, env=None, timeout=60):
    e = dict(os.environ)
    e.pop("CELERIAC_REDIS_URL", None)
    e.pop("CELERIAC_REDIS_PASSWORD", None)
    e.update(env or {})
    return subprocess.run(argv, env=e, capture_output=True,
                          stdin=subprocess.DEVNULL, timeout=timeout * SLOW)


@pytest.fixture
def secured(make_redis):
    return make_redis("--requirepass", PASSWORD)


def url_of(server, password=PASSWORD):
    return "redis://:%s@127.0.0.1:%d/0" % (password, server.port)


# ---- bad URLs ------------------------------------------------------------------

BAD_URLS = [
    "redis://user:%s@127.0.0.1:99999/0" % PASSWORD,   # port out of range
    "redis://user:%s@127.0.0.1:6379/x" % PASSWORD,    # bad database
    "redis://user:%s@[::1:6379" % PASSWORD,           # unclosed '['
    "redis://:%s/x@host:1/0" % PASSWORD,              # '/' in the password
    "redisx://user:%s@127.0.0.1" % PASSWORD,          # unknown scheme
    "redis://user:%s@" % PASSWORD,                    # no host
]


@pytest.mark.parametrize("url", BAD_URLS)
@pytest.mark.parametrize("how", ["option", "environment"])
def test_bad_url_hides_password(url, how):
    for argv in ([WORKER_BIN], [PRODUCER_BIN, "status"]):
        if how == "option":
            p = run(argv + ["--redis", url])
        else:
            p = run(argv, env={"CELERIAC_REDIS_URL": url})
        assert p.returncode != 0, p
        err = p.stderr.decode(errors="replace")
        assert "bad Redis URL" in err, p
        assert "***@" in err, p
        assert PASSWORD.encode() not in p.stderr + p.stdout, p
        assert PASSWORD[:6].encode() not in p.stderr, p


def test_url_given_as_argument_hides_password():
    """A URL typed without --redis is quoted redacted too."""
    url = "redis://:%s@127.0.0.1:1/0" % PASSWORD
    for argv in ([WORKER_BIN, url], [PRODUCER_BIN, url]):
        p = run(argv)
        assert p.returncode == 2, p
        assert PASSWORD.encode() not in p.stderr, p
        assert b"***@" in p.stderr, p


# ---- connections that fail -------------------------------------------------------


def test_cli_connection_errors_hide_password(secured):
    down = "redis://:%s@127.0.0.1:%d/0" % (PASSWORD, free_port())
    p = run([PRODUCER_BIN, "--redis", down, "status"])
    assert p.returncode == 4, p
    assert b"cannot connect" in p.stderr, p
    assert PASSWORD.encode() not in p.stderr, p
    wrong = url_of(secured, "not-" + PASSWORD)
    p = run([PRODUCER_BIN, "--redis", wrong, "status"])
    assert p.returncode == 4, p
    assert b"password" in p.stderr, p
    assert PASSWORD.encode() not in p.stderr, p


def test_worker_connection_errors_hide_password(worker, secured):
    down = "redis://:%s@127.0.0.1:%d/0" % (PASSWORD, free_port())
    w = worker(redis_url=down, wait_ready=False, concurrency=1)
    wait_until(lambda: "cannot connect" in w.log(), 30,
               what="the worker to report the failed connection")
    assert w.stop() == 0
    assert PASSWORD not in w.log(), w.log()
    assert "127.0.0.1" in w.log()


# ---- argv ----------------------------------------------------------------------


@pytest.mark.parametrize("form", ["separate", "equals", "short"])
def test_worker_argv_has_no_password(form, worker, secured):
    url = url_of(secured)
    args = {"separate": ["--redis", url], "equals": ["--redis=" + url],
            "short": ["-r" + url]}[form]
    client = secured.client()
    try:
        w = worker(*args, redis_url="", client=client, concurrency=1)
        line = cmdline(w.pid)
        assert PASSWORD.encode() not in line, line
        assert b"127.0.0.1:%d" % secured.port in line, line
        # It works with the password it kept.
        client.xadd(QUEUE, {"msg": '{"task": "hash", "id": "pw-1", '
                                   '"args": {"data": "x"}}'})
        wait_until(lambda: client.get("celeriac:result:pw-1"), 30,
                   what="the result of pw-1")
        assert PASSWORD not in w.log()
    finally:
        client.close()


@pytest.mark.parametrize("form", ["separate", "equals"])
def test_send_wait_argv_has_no_password(form, worker, secured, tmp_dir):
    """A `celeriac send --wait` waiting for its result does not show the
    password; it gets the result once a worker comes."""
    url = url_of(secured)
    args = ["--redis", url] if form == "separate" else ["--redis=" + url]
    client = secured.client()
    out_path = os.path.join(tmp_dir, "send.out")
    e = dict(os.environ)
    e.pop("CELERIAC_REDIS_URL", None)
    e.pop("CELERIAC_REDIS_PASSWORD", None)
    with open(out_path, "wb") as out:
        p = subprocess.Popen([PRODUCER_BIN, "send", "hash"] + args +
                             ["--arg", "data=secret-test", "--wait",
                              "--timeout", str(120 * SLOW)],
                             stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=e)
    live_pids.add(p.pid)
    try:
        # Queued: it has parsed its options and is waiting.
        wait_until(lambda: client.exists(QUEUE) and client.xlen(QUEUE) == 1,
                   30, what="the task of celeriac send")
        line = cmdline(p.pid)
        assert PASSWORD.encode() not in line, line
        assert b"127.0.0.1:%d" % secured.port in line, line
        worker(redis_url=url, client=client, concurrency=1)
        assert p.wait(timeout=60 * SLOW) == 0
    finally:
        if p.poll() is None:
            stop_pid(p.pid, p)
        live_pids.discard(p.pid)
        client.close()
    with open(out_path, "rb") as f:
        text = f.read()
    # The id goes to stderr first (merged here); the document is last.
    assert_success(json.loads(text.splitlines()[-1]), "sha512",
                   b"secret-test")
    assert PASSWORD.encode() not in text
