# SPDX-License-Identifier: MIT
"""Untrusted bytes are escaped before they reach a log line or a terminal:
a task id with a newline does not forge a worker log line, and key, queue,
consumer names, task ids and reasons holding ANSI escape sequences or
newlines show as \\xNN in `celeriac status`, `celeriac dead` and `celeriac
send --batch`; their --json output stays plain JSON."""

import json
import re

from harness import QUEUE, wait_result, wait_until

ESC_QUEUE = "evil\x1b[2J\x1b[H"          # clears the screen
FORGED = "2026-01-01T00:00:00.000Z ERROR parent[1] FORGED"
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (ERROR|WARN |"
                      r"INFO |DEBUG|FATAL) \S+\[\d+\] ")


def controls(data):
    """The control bytes in data other than newline."""
    return sorted(set(c for c in data if (c < 0x20 and c != 0x0a) or
                      c == 0x7f))


def test_task_id_cannot_forge_a_log_line(r, worker):
    """The worker logs the id of a task that failed: a newline and an
    escape sequence in that id come out escaped."""
    w = worker(concurrency=1)
    tid = "forge\x1b[2J\n" + FORGED
    r.xadd(QUEUE, {"msg": json.dumps({
        "task": "hash", "id": tid,
        "args": {"data": "x", "algorithm": "sha999"}})})
    doc = wait_result(r, tid, 60)
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "UnknownAlgorithm", doc
    log = wait_until(lambda: "FORGED" in w.log() and w.log(), 30,
                     what="the worker to log the failed task")
    lines = log.splitlines()
    hits = [ln for ln in lines if "FORGED" in ln]
    assert hits, log
    for ln in hits:
        assert LOG_LINE.match(ln), "forged log line: %r" % ln
        assert "forge\\x1b[2J\\x0a" + FORGED in ln, ln
    assert "\x1b" not in log


def setup_evil_keys(r):
    stream = "celeriac:queue:" + ESC_QUEUE
    r.xadd(stream, {"msg": "{}"})
    r.xgroup_create(stream, "celeriac", id="0")
    r.xreadgroup("celeriac", "consumer\x1b[31m\nFORGED", {stream: ">"},
                 count=1)
    msg = {"task": "hash", "id": "dead\x1b]0;pwned\x07\nFORGED id",
           "args": {"data": "x"}}
    reason = {"error": {"type": "Boom\x1b[31m", "message":
                        "first\r\nFORGED reason \\x0a"},
              "deliveries": 3, "at": "2026-01-01T00:00:00Z"}
    r.xadd("celeriac:dead", {"msg": json.dumps(msg),
                             "reason": json.dumps(reason),
                             "queue": stream, "entry": "1-0"})


def test_status_escapes_names(r, celeriac):
    setup_evil_keys(r)
    run = celeriac("status", "--verbose")
    assert run.rc == 0, run
    assert controls(run.stdout) == [], run
    text = run.text()
    assert "evil\\x1b[2J\\x1b[H" in text, text
    assert "consumer\\x1b[31m\\x0aFORGED" in text, text
    assert not any(ln.startswith("FORGED") for ln in text.splitlines())
    # --json is JSON: the names come back exactly.
    run = celeriac("status", "--json")
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    names = [q["name"] for q in doc["queues"]]
    assert ESC_QUEUE in names, doc


def test_dead_escapes_ids_and_reasons(r, celeriac):
    setup_evil_keys(r)
    run = celeriac("dead")
    assert run.rc == 0, run
    assert controls(run.stdout) == [], run
    text = run.text()
    assert "dead\\x1b]0;pwned\\x07\\x0aFORGED id" in text, text
    assert "Boom\\x1b[31m" in text, text
    # A backslash in the data is escaped too, so it cannot fake an escape.
    assert "first\\x0d\\x0aFORGED reason \\\\x0a" in text, text
    assert "evil\\x1b[2J\\x1b[H" in text, text
    assert not any(ln.startswith("FORGED") for ln in text.splitlines())
    run = celeriac("dead", "--json")
    assert run.rc == 0, run
    doc = json.loads(run.stdout)
    assert doc["entries"][0]["id"] == "dead\x1b]0;pwned\x07\nFORGED id"


def test_batch_prints_ids_escaped(r, celeriac):
    lines = [json.dumps({"task": "hash", "id": "b1\nFORGED\x1b[2J",
                         "args": {"data": "x"}}),
             json.dumps({"task": "hash", "id": "b2", "args": {"data": "y"}})]
    run = celeriac("send", "--batch", "-", input="\n".join(lines) + "\n")
    assert run.rc == 0, run
    assert controls(run.stdout) == [], run
    assert run.text().splitlines() == ["b1\\x0aFORGED\\x1b[2J", "b2"], run
    assert r.xlen(QUEUE) == 2
