# SPDX-License-Identifier: MIT
"""`celeriac send` of one task: the printed id, --wait with the result
document and exit status, --arg/--json arguments, --queue, --timeout
without a worker, and an unreachable Redis."""

import json
import re

from harness import (QUEUE, assert_failure, assert_success, free_port,
                     result_of, wait_result)


def one_doc(run):
    lines = run.stdout.decode().splitlines()
    assert len(lines) == 1, run
    return json.loads(lines[0])


def test_send_prints_id(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=abc")
    assert run.rc == 0, run
    tid = run.stdout.decode().strip()
    assert tid and "\n" not in tid
    assert_success(wait_result(r, tid), "sha512", b"abc")


def test_send_wait(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=hello", "--arg",
                   "algorithm=sha256", "--arg", "iterations:=3", "--wait",
                   "--timeout", "60")
    assert run.rc == 0, run
    doc = one_doc(run)
    assert_success(doc, "sha256", b"hello", iterations=3)
    assert result_of(r, doc["id"]) == doc


def test_send_json_args(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--json",
                   '{"data_b64": "AP8=", "algorithm": "md5"}', "--wait",
                   "--timeout", "60")
    assert run.rc == 0, run
    assert_success(one_doc(run), "md5", b"\x00\xff")


def test_send_wait_failure_exits_1(r, worker, celeriac):
    worker()
    run = celeriac("send", "hash", "--arg", "data=x", "--arg",
                   "algorithm=sha999", "--wait", "--timeout", "60",
                   "--no-check")
    assert run.rc == 1, run
    assert_failure(one_doc(run), "UnknownAlgorithm", "sha999")


def test_send_checks_arguments_first(r, celeriac):
    for args in (["-A", "data=x", "-A", "algorithm=sha999"],
                 ["-A", "data=x", "-A", "iterations:=0"],
                 ["-A", "data_b64=!!"],
                 ["-A", "algorithm=sha256"]):
        run = celeriac("send", "hash", *args, "--wait", "--timeout", "60")
        assert run.rc == 2, run
        assert b"task not sent" in run.stderr, run
    assert r.exists(QUEUE) == 0
    # Tasks it does not know (plug-ins) are sent as they are.
    run = celeriac("send", "wc", "-A", "anything=1")
    assert run.rc == 0 and r.xlen(QUEUE) == 1, run
    run = celeriac("send", "hash", "-a", "data=x")
    assert run.rc == 2 and b"-A or --arg" in run.stderr, run


def test_send_wait_prints_the_id_first(r, worker, celeriac):
    run = celeriac("send", "hash", "-A", "data=x", "--wait", "--timeout",
                   "0.5")
    assert run.rc == 3, run
    m = re.search(rb"sent task (default/[0-9]+-[0-9]+); waiting", run.stderr)
    assert m, run
    assert r.xrange(QUEUE)[0][0] == m.group(1).split(b"/")[1]


def test_send_to_queue(r, worker, celeriac):
    worker("--queues", "fast,default")
    run = celeriac("send", "hash", "--arg", "data=q", "--queue", "fast",
                   "--wait", "--timeout", "60")
    assert run.rc == 0, run
    assert_success(one_doc(run), "sha512", b"q")
    assert r.xlen("celeriac:queue:fast") == 0
    assert r.exists(QUEUE) == 1  # the worker made the default's group


def test_send_wait_timeout_without_worker(r, celeriac):
    run = celeriac("send", "hash", "--arg", "data=x", "--wait", "--timeout",
                   "0.5")
    assert run.rc == 3, run
    # The task is queued all the same, for a worker that comes later.
    assert r.xlen(QUEUE) == 1


def test_redis_unreachable(celeriac):
    url = "redis://127.0.0.1:%d/0" % free_port()
    run = celeriac("send", "hash", "--arg", "data=x", "--redis", url,
                   timeout=60)
    assert run.rc == 4, run
    assert b"127.0.0.1" in run.stderr, run


def test_help(celeriac):
    for args in (["--help"], ["send", "--help"], ["hash", "--help"],
                 ["status", "--help"]):
        run = celeriac(*args)
        assert run.rc == 0, run
        assert b"Usage" in run.stdout, run
