# SPDX-License-Identifier: MIT
"""10,000 tasks through `celeriac send --batch - --wait`: one result line
per task on stdout, every digest right, 10,000 result keys in Redis that
match those lines, and the queue empty and fully acknowledged afterwards.
Also a mixed batch with ids, a batch without --wait, and bad lines."""

import json

from harness import (PREFIX_CMD, QUEUE, all_results, assert_success, b64,
                     hashlib_digest, pending_count, wait_results)

N = 1000 if PREFIX_CMD else 10000


def parse_lines(out):
    """stdout of --wait: one JSON document per line."""
    text = out.decode()
    assert text.endswith("\n"), text[-200:]
    return [json.loads(line) for line in text.splitlines()]


def test_batch_10000_wait(r, worker, celeriac):
    worker()
    datas = ["batch item %d \u00e9" % i for i in range(N)]
    lines = "".join(json.dumps({"task": "hash", "args": {"data": d}}) + "\n"
                    for d in datas)
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "240",
                   input=lines, timeout=300)
    assert run.rc == 0, run
    docs = parse_lines(run.stdout)
    assert len(docs) == N

    # No ids were given, so each result is matched by its digest: the
    # digests must be exactly the expected ones, each once.
    want = sorted(hashlib_digest("sha512", d.encode()) for d in datas)
    for doc in docs:
        assert doc["status"] == "SUCCESS", doc
        assert doc["task"] == "hash"
        assert doc["result"]["algorithm"] == "sha512"
    assert sorted(d["result"]["digest"] for d in docs) == want
    ids = [d["id"] for d in docs]
    assert len(set(ids)) == N

    # Redis holds the same 10,000 documents under those ids.
    stored = all_results(r)
    assert len(stored) == N
    assert set(stored) == set(ids)
    # Each printed document is the stored one with its input line last.
    for doc in docs:
        line = doc.pop("line")
        assert list(doc) + ["line"] == list(json.loads(
            json.dumps(doc)).keys()) + ["line"]
        assert doc["result"]["digest"] == hashlib_digest(
            "sha512", datas[line - 1].encode())
        assert stored[doc["id"]] == doc

    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0


def test_batch_ordered_with_line_numbers(r, worker, celeriac):
    """--ordered prints in input order; bad and blank lines keep their
    numbers out of the results; a duplicate id gets both its lines."""
    worker()
    lines = []
    for i in range(300):
        # Early lines are the slow ones, so results come out of order.
        it = 20000 if i < 10 else 1
        lines.append(json.dumps({"task": "hash", "id": "o%d" % i,
                                 "args": {"data": str(i), "iterations": it}}))
    lines[5] = "not json"
    lines[6] = ""
    lines.append(json.dumps({"task": "hash", "id": "o0",
                             "args": {"data": "0"}}))
    run = celeriac("send", "--batch", "-", "--wait", "--ordered",
                   "--timeout", "240", input="\n".join(lines) + "\n",
                   timeout=300)
    assert run.rc == 1, run  # the bad line
    assert b"line 6:" in run.stderr, run
    docs = parse_lines(run.stdout)
    want = [n for n in range(1, len(lines) + 1) if n not in (6, 7)]
    assert [d["line"] for d in docs] == want
    for d in docs:
        i = int(d["id"][1:])
        assert d["status"] == "SUCCESS"
        if d["line"] != len(lines):
            assert i == d["line"] - 1
    assert celeriac("send", "hash", "-A", "data=x", "--ordered").rc == 2


def test_batch_with_ids_mixed(r, worker, celeriac, tmp_dir):
    """Ids, algorithms, base64, HMAC and iterations; read from a file."""
    worker()
    cases = {}
    lines = []
    for i in range(500):
        data = bytes([i % 256]) * (i % 37) + b"\x00\xff"
        args = {"data_b64": b64(data),
                "algorithm": ["sha256", "sha3-512", "md5", "blake2b512"][i % 4]}
        key = None
        if i % 3 == 0:
            key = b"key %d" % i
            args["hmac_key"] = key.decode()
        if i % 5 == 0:
            args["iterations"] = 1 + i % 7
        tid = "mixed-%d" % i
        cases[tid] = (args["algorithm"], data, key, args.get("iterations", 1))
        lines.append(json.dumps({"task": "hash", "id": tid, "args": args}))
    path = tmp_dir + "/tasks.jsonl"
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")

    run = celeriac("send", "--batch", path, "--wait")
    assert run.rc == 0, run
    docs = {d["id"]: d for d in parse_lines(run.stdout)}
    assert set(docs) == set(cases)
    for tid, (alg, data, key, it) in cases.items():
        assert_success(docs[tid], alg, data, key, it,
                       digest=hashlib_digest(alg, data, key, it))
    assert r.xlen(QUEUE) == 0


def test_batch_without_wait_prints_ids(r, worker, celeriac):
    worker()
    lines = "".join(json.dumps({"task": "hash", "args": {"data": "n%d" % i}})
                    + "\n" for i in range(300))
    run = celeriac("send", "--batch", "-", input=lines)
    assert run.rc == 0, run
    ids = run.stdout.decode().split()
    assert len(ids) == 300 and len(set(ids)) == 300
    results = wait_results(r, 300, timeout=60)
    # In input order: line i became task ids[i].
    for i, tid in enumerate(ids):
        assert results[tid]["result"]["digest"] == \
            hashlib_digest("sha512", b"n%d" % i)


def test_batch_bad_lines_skipped(r, worker, celeriac):
    worker()
    lines = "\n".join([
        json.dumps({"task": "hash", "id": "ok1", "args": {"data": "a"}}),
        "this is not json",
        json.dumps({"task": "hash", "id": "ok2", "args": {"data": "b"}}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"task": "hash", "id": "ok3", "args": {"data": "c"}}),
    ]) + "\n"
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "60",
                   input=lines)
    # A bad line makes the run fail, but does not stop the good ones.
    assert run.rc == 1, run
    err = run.stderr.decode()
    assert "line 2" in err and "line 4" in err, err
    docs = {d["id"]: d for d in parse_lines(run.stdout)}
    assert set(docs) == {"ok1", "ok2", "ok3"}
    for tid, data in (("ok1", b"a"), ("ok2", b"b"), ("ok3", b"c")):
        assert_success(docs[tid], "sha512", data)


def test_batch_failed_task_exit_status(r, worker, celeriac):
    """A task that fails makes --wait exit 1; its document is printed."""
    worker()
    lines = "\n".join([
        json.dumps({"task": "hash", "id": "good", "args": {"data": "a"}}),
        json.dumps({"task": "hash", "id": "bad",
                    "args": {"data": "a", "algorithm": "nope"}}),
    ]) + "\n"
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "60",
                   "--no-check", input=lines)
    assert run.rc == 1, run
    docs = {d["id"]: d for d in parse_lines(run.stdout)}
    assert docs["good"]["status"] == "SUCCESS"
    assert docs["bad"]["status"] == "FAILURE"
    assert docs["bad"]["error"]["type"] == "UnknownAlgorithm"
    # Checked first (the default), the bad line is not sent at all.
    r.delete("celeriac:result:bad")
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", "60",
                   input=lines)
    assert run.rc == 1, run
    assert b"line 2: not sent: a worker would refuse it: UnknownAlgorithm" \
        in run.stderr, run
    assert [d["id"] for d in parse_lines(run.stdout)] == ["good"]
    assert r.get("celeriac:result:bad") is None
