# SPDX-License-Identifier: MIT
"""A task produced with nothing but redis-cli, as PROTOCOL.md shows it:
XADD the message to the queue stream, GET the result key.  Also with an
explicit "id", with a reply_to stream read by XREAD, over the unix socket,
with redis-py, and the two examples of PROTOCOL.md run as they are printed
there (the redis-cli session and the Python producer), their output
compared with the output the document shows."""

import json
import os
import re
import subprocess

from harness import (GROUP, QUEUE, RESULT_PREFIX, ROOT, expected_digest,
                     pending_count, wait_until)

PROTOCOL_MD = os.path.join(ROOT, "protocol", "PROTOCOL.md")
ENTRY_ID = re.compile(r"\b\d{10,}-\d+\b")
# Fields of a result document that differ from run to run.
VOLATILE = ("worker", "started_at", "finished_at", "runtime_us")

SHA512_ABC = ("ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d3"
              "9a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54c"
              "a49f")


def cli_get(redis_server, key):
    """GET via redis-cli, as a person would type it; None when absent."""
    out = redis_server.cli("GET", key)
    return None if out.strip() == "" else out


def test_xadd_then_get(redis_server, r, worker):
    worker()
    msg = '{"task":"hash","args":{"data":"abc"}}'
    entry = redis_server.cli("XADD", QUEUE, "*", "msg", msg).strip()
    assert entry.count("-") == 1, entry  # e.g. 1700000000000-0

    tid = "default/" + entry
    out = wait_until(lambda: cli_get(redis_server, RESULT_PREFIX + tid),
                     30, what="redis-cli GET of the result")
    doc = json.loads(out)
    # The id is "<queue>/<stream entry id>" when the message names none.
    assert doc["id"] == tid
    assert doc["task"] == "hash"
    assert doc["status"] == "SUCCESS"
    assert doc["error"] is None
    assert doc["result"] == {"algorithm": "sha512", "digest": SHA512_ABC,
                             "bytes": 3}
    assert SHA512_ABC == expected_digest("sha512", b"abc")
    assert isinstance(doc["worker"], str) and doc["worker"]
    assert doc["attempts"] == 1
    assert doc["started_at"] <= doc["finished_at"]
    assert isinstance(doc["runtime_us"], int) and doc["runtime_us"] >= 0

    # Acknowledged and deleted from the stream with the result written.
    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0
    # Kept for the default result TTL of one day.
    ttl = int(redis_server.cli("TTL", RESULT_PREFIX + tid))
    assert 86400 - 60 <= ttl <= 86400


def test_explicit_id(redis_server, r, worker):
    worker()
    msg = json.dumps({"v": 1, "task": "hash", "id": "my-task-1",
                      "args": {"data": "hello", "algorithm": "sha256"}})
    redis_server.cli("XADD", QUEUE, "*", "msg", msg)
    out = wait_until(
        lambda: cli_get(redis_server, RESULT_PREFIX + "my-task-1"), 30,
        what="the result of my-task-1")
    doc = json.loads(out)
    assert doc["id"] == "my-task-1"
    assert doc["status"] == "SUCCESS"
    assert doc["result"]["algorithm"] == "sha256"
    assert doc["result"]["digest"] == expected_digest("sha256", b"hello")
    assert doc["result"]["bytes"] == 5
    # Only the result under the given id, none under the entry id.
    assert [k.decode() for k in r.keys(RESULT_PREFIX + "*")] == \
        [RESULT_PREFIX + "my-task-1"]


def test_reply_to_stream(redis_server, r, worker):
    worker()
    reply = "celeriac:reply:cli-test"
    msg = json.dumps({"task": "hash", "id": "r1", "reply_to": reply,
                      "args": {"data": "abc"}})
    redis_server.cli("XADD", QUEUE, "*", "msg", msg)
    # As PROTOCOL.md has it: block on the reply stream, no polling.
    out = redis_server.cli("XREAD", "COUNT", "10", "BLOCK", "30000",
                           "STREAMS", reply, "0")
    lines = out.split("\n")
    # redis-cli prints: stream name, entry id, "result", the document.
    assert lines[0] == reply, out
    assert "result" in lines, out
    doc = json.loads(lines[lines.index("result") + 1])
    assert doc["id"] == "r1"
    assert doc["status"] == "SUCCESS"
    assert doc["result"]["digest"] == SHA512_ABC

    # The same document is in the result key, and the stream expires.
    assert json.loads(cli_get(redis_server, RESULT_PREFIX + "r1")) == doc
    assert r.xlen(reply) == 1
    assert 0 < r.ttl(reply) <= 86400


def test_unix_socket(redis_server, r, worker):
    worker(redis_url=redis_server.unix_url)
    entry = redis_server.cli("XADD", QUEUE, "*", "msg",
                             '{"task":"hash","args":{"data":"abc"}}').strip()
    out = wait_until(lambda: cli_get(redis_server,
                                     RESULT_PREFIX + "default/" + entry),
                     30, what="the result via the unix socket worker")
    assert json.loads(out)["result"]["digest"] == SHA512_ABC


def test_redis_py_example(redis_server, r, worker):
    """The few lines of redis-py a Python producer writes."""
    worker()
    entry = r.xadd("celeriac:queue:default",
                   {"msg": json.dumps({"task": "hash",
                                       "args": {"data": "abc",
                                                "algorithm": "md5"}})})
    entry = entry.decode()
    raw = wait_until(lambda: r.get("celeriac:result:default/" + entry), 30,
                     what="the result")
    doc = json.loads(raw)
    assert doc["result"]["digest"] == "900150983cd24fb0d6963f7d28e17f72"
    # The group exists under its documented name and is fully acked.
    assert any(g["name"].decode() == GROUP for g in r.xinfo_groups(QUEUE))
    assert pending_count(r) == 0


def test_reply_to_not_a_stream(r, worker):
    """PROTOCOL.md: a reply_to naming a key of another type is not
    touched; the task gets a StoreFailed FAILURE in its result key and is
    acknowledged."""
    worker()
    r.set("celeriac:reply:taken", "a string")
    r.xadd(QUEUE, {"msg": json.dumps({"task": "hash", "id": "rs",
                                      "reply_to": "celeriac:reply:taken",
                                      "args": {"data": "abc"}})})
    doc = json.loads(wait_until(lambda: r.get(RESULT_PREFIX + "rs"), 30,
                                what="the result of rs"))
    assert doc["status"] == "FAILURE", doc
    assert doc["error"]["type"] == "StoreFailed", doc
    assert "celeriac:reply:taken" in doc["error"]["message"], doc
    assert r.get("celeriac:reply:taken") == b"a string"
    assert r.ttl("celeriac:reply:taken") == -1
    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0


# ---- the examples of PROTOCOL.md, as printed ---------------------------------


def md_section(title):
    """The text of the PROTOCOL.md section whose heading is title."""
    with open(PROTOCOL_MD) as f:
        text = f.read()
    start = text.index("\n## " + title + "\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else len(text)]


def md_blocks(section):
    """The fenced code blocks of a section: [(language, body)]."""
    return re.findall(r"^```(\w*)\n(.*?)^```", section, re.M | re.S)


def session_steps(section):
    """[(command, expected output lines)] of the "$ redis-cli" blocks."""
    steps = []
    for _, body in md_blocks(section):
        for line in body.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return steps


def normalized(lines):
    """Output lines with entry ids and run-dependent fields masked."""
    out = []
    for line in lines:
        if line.startswith("{"):
            doc = json.loads(line)
            for k in VOLATILE:
                assert k in doc, line
                doc[k] = "*"
            line = json.dumps(doc, sort_keys=True)
        out.append(ENTRY_ID.sub("<entry id>", line))
    return out


def test_protocol_md_xadd_quotes_the_star():
    """The documented commands are pasted into shells: an unquoted * in
    "XADD key * msg ..." expands to the file names of the current
    directory, so PROTOCOL.md must quote it."""
    steps = session_steps(md_section("A complete exchange with redis-cli"))
    xadds = [c for c, _ in steps if " XADD " in " " + c]
    assert xadds
    for cmd in xadds:
        assert " * " not in cmd, "unquoted * in PROTOCOL.md: " + cmd


def test_protocol_md_redis_cli_session(redis_server, r, worker, tmp_dir):
    """Each "$ redis-cli ..." line of PROTOCOL.md, run by the shell with
    "-p PORT" added, prints what the document shows (up to entry ids,
    times and the worker name)."""
    worker()
    steps = session_steps(md_section("A complete exchange with redis-cli"))
    assert len(steps) >= 5
    entry_ids = []
    for cmd, want in steps:
        assert cmd.startswith("redis-cli "), cmd
        full = "redis-cli -p %d %s" % (redis_server.port,
                                       cmd[len("redis-cli "):])
        # A result is written asynchronously: a GET may need a moment.
        def run():
            p = subprocess.run(["bash", "-c", full], cwd=tmp_dir,
                               capture_output=True, text=True, timeout=30)
            assert p.returncode == 0, (full, p.stderr)
            return p.stdout.splitlines()
        if " GET " in cmd:
            got = wait_until(lambda: [x for x in run() if x], 30,
                             what="output of " + cmd)
        else:
            got = run()
        if " XADD " in cmd:
            entry_ids.append(got[0])
        if " TTL " in cmd:
            assert len(got) == 1 and 86390 <= int(got[0]) <= 86400, got
            continue
        assert normalized(got) == normalized(want), (cmd, got, want)
        # Where the doc shows "<queue>/<entry id>" as a task id, the entry
        # id is the one that the XADD before it returned.
        for line in got:
            if line.startswith("{"):
                doc = json.loads(line)
                q, _, e = doc["id"].rpartition("/")
                if q and ENTRY_ID.fullmatch(e):
                    assert q == "default" and e in entry_ids, \
                        (doc["id"], entry_ids)


def test_protocol_md_python_example(redis_server, r, worker, tmp_dir):
    """The redis-py producer of PROTOCOL.md prints what it shows."""
    worker()
    blocks = md_blocks(md_section("A producer in Python (redis-py)"))
    code = [b for lang, b in blocks if lang == "python"]
    assert len(code) == 1
    outputs = [b for lang, b in blocks if lang == ""]
    assert outputs, "no output block"
    path = os.path.join(tmp_dir, "producer.py")
    with open(path, "w") as f:
        f.write(code[0])
    env = dict(os.environ, CELERIAC_REDIS_URL=redis_server.url)
    p = subprocess.run(["/usr/bin/python3", path], cwd=tmp_dir, env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    # "Results arrive in the order the tasks finish": compare as sets.
    assert sorted(p.stdout.splitlines()) == \
        sorted(outputs[0].splitlines()), p.stdout
    assert r.keys("celeriac:reply:*") == []  # it deletes its stream
