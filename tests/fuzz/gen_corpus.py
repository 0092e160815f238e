#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Writes the seed corpus of the fuzz targets to tests/fuzz/corpus/<target>/.

Run it again after a change to the message format or to worker/ipc.h (the
frame layout below mirrors that header) and commit what changes:

    /usr/bin/python3 tests/fuzz/gen_corpus.py

Each seed is small and names what it covers: valid messages of every kind,
then one file per way a message, a frame or a base64 string can be bad.
"""

import base64
import json
import os
import shutil
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# worker/ipc.h (IPC_VERSION 5)
IPC_VERSION = 5
IPC_TASK, IPC_STARTED, IPC_RESULT = 100, 200, 201
IPC_TASK_FIXED = 48
IPC_TASK_FAIL, IPC_TASK_RING = 1, 16
STATUS_SUCCESS, STATUS_FAILURE, STATUS_RETRY, STATUS_EXPIRED = 0, 1, 2, 3
IPC_MAX_FRAME = 64 * 1024 * 1024 + 64 * 1024


def j(obj):
    return json.dumps(obj, separators=(",", ":")).encode()


def hashmsg(args, **extra):
    msg = {"v": 1, "task": "hash", "args": args}
    msg.update(extra)
    return j(msg)


def b64(data):
    return base64.b64encode(data).decode()


MESSAGES = {
    # valid
    "ok-minimal": j({"task": "hash", "args": {"data": "hello"}}),
    "ok-full": hashmsg({"algorithm": "sha256", "data": "hello"},
                       id="task-1", reply_to="celeriac:reply:1"),
    "ok-default-args": j({"task": "hash", "args": None}),
    "ok-data-b64": hashmsg({"algorithm": "sha512",
                            "data_b64": b64(bytes(range(256)))}),
    "ok-data-b64-wrapped": hashmsg(
        {"data_b64": base64.encodebytes(b"x" * 100).decode()}),
    "ok-data-b64-unpadded": hashmsg({"data_b64": "aGVsbG8"}),
    "ok-hmac": hashmsg({"algorithm": "sha256", "data": "msg",
                        "hmac_key": "secret"}),
    "ok-hmac-b64": hashmsg({"algorithm": "sha1", "data": "msg",
                            "hmac_key_b64": b64(b"\x00\x01\x02" * 30)}),
    "ok-hmac-empty-key": hashmsg({"data": "msg", "hmac_key": ""}),
    "ok-iterations": hashmsg({"algorithm": "md5", "data": "a",
                              "iterations": 1000}),
    "ok-sha3": hashmsg({"algorithm": "sha3-256", "data": ""}),
    "ok-blake2": hashmsg({"algorithm": "BLAKE2b512", "data": "x"}),
    "ok-sha512-224": hashmsg({"algorithm": "sha512-224", "data": "x"}),
    "ok-unicode": hashmsg({"data": "caf\u00e9 \u2603 \U0001f600"}),
    "ok-escapes": b'{"task":"hash","args":{"d\\u0061ta":"a\\u0000b\\n"}}',
    "ok-unknown-fields": hashmsg({"data": "x", "extra": [1, 2]},
                                 future={"a": None}),
    "ok-big-data": hashmsg(
        {"data_b64": b64(bytes((i * 131 + 7) & 255 for i in range(12000)))}),
    "ok-policy": hashmsg({"data": "x"}, time_limit=2.5, max_retries=3,
                         retry_backoff=0.5, retry_backoff_max=10,
                         retry_jitter=False, retries=1),
    "ok-expires-future": hashmsg({"data": "x"},
                                 expires="2099-01-01T00:00:00.5Z"),
    "ok-expires-number": hashmsg({"data": "x"}, expires=4102444800.25),
    "ok-rescheduled": hashmsg({"data": "x"}, id="t-9", queue="default",
                              retries=2, max_retries=5,
                              errors=[{"type": "TimeLimitExceeded",
                                       "at": "2026-11-22T02:33:48.000000Z",
                                       "message": "too slow"}]),
    # bad messages
    "bad-empty": b"",
    "bad-not-json": b"hash hello",
    "bad-truncated": b'{"task":"hash","args":{"data":"hel',
    "bad-trailing": hashmsg({"data": "x"}) + b" {}",
    "bad-array": b'["hash",{"data":"x"}]',
    "bad-invalid-utf8": b'{"task":"hash","args":{"data":"\xff\xfe"}}',
    "bad-duplicate-key": b'{"task":"hash","task":"hash","args":{}}',
    "bad-no-task": j({"args": {"data": "x"}}),
    "bad-task-number": j({"task": 7}),
    "bad-task-empty": j({"task": ""}),
    "bad-task-long": j({"task": "t" * 201}),
    "bad-task-nul": b'{"task":"ha\\u0000sh"}',
    "bad-unknown-task": j({"task": "add", "args": {"x": 1}, "id": "u1"}),
    "bad-id-object": j({"task": "hash", "id": {}}),
    "bad-id-long": j({"task": "hash", "id": "i" * 201}),
    "bad-reply-to-bool": j({"task": "hash", "reply_to": True}),
    "bad-version-2": hashmsg({"data": "x"}, v=2),
    "bad-version-0": hashmsg({"data": "x"}, v=0),
    "bad-version-string": hashmsg({"data": "x"}, v="1"),
    "bad-args-array": j({"task": "hash", "args": ["x"]}),
    "bad-no-data": hashmsg({"algorithm": "sha256"}),
    "bad-both-data": hashmsg({"data": "x", "data_b64": "eA=="}),
    "bad-data-number": hashmsg({"data": 12}),
    "bad-b64-char": hashmsg({"data_b64": "aGV*bG8="}),
    "bad-b64-padding": hashmsg({"data_b64": "aGVsbG8=="}),
    "bad-b64-after-pad": hashmsg({"data_b64": "aA==aA=="}),
    "bad-b64-bits": hashmsg({"data_b64": "aGVsbG9="}),
    "bad-both-keys": hashmsg({"data": "x", "hmac_key": "k",
                              "hmac_key_b64": "aw=="}),
    "bad-key-long": hashmsg({"data": "x", "hmac_key": "k" * 4097}),
    "bad-iterations-0": hashmsg({"data": "x", "iterations": 0}),
    "bad-iterations-max": hashmsg({"data": "x", "iterations": 10000001}),
    "bad-iterations-real": hashmsg({"data": "x", "iterations": 1.5}),
    "bad-iterations-huge": b'{"task":"hash","args":{"data":"x",'
                           b'"iterations":99999999999999999999}}',
    "bad-algorithm-unknown": hashmsg({"algorithm": "nope", "data": "x"}),
    "bad-algorithm-xof": hashmsg({"algorithm": "shake128", "data": "x"}),
    "bad-algorithm-empty": hashmsg({"algorithm": "", "data": "x"}),
    "bad-algorithm-long": hashmsg({"algorithm": "a" * 65, "data": "x"}),
    "bad-algorithm-number": hashmsg({"algorithm": 256, "data": "x"}),
    "bad-time-limit": hashmsg({"data": "x"}, time_limit=-1),
    "bad-max-retries": hashmsg({"data": "x"}, max_retries="3"),
    "bad-jitter": hashmsg({"data": "x"}, retry_jitter=1),
    "bad-expires-past": hashmsg({"data": "x"}, expires=1000),
    "bad-expires-string": hashmsg({"data": "x"}, expires="tomorrow"),
    "bad-deep": b'{"task":"hash","args":{"data":"x","n":' + b"[" * 3000
                + b"]" * 3000 + b"}}",
}

# fuzz_splice: '@' and a digit d expand to 4090 + 3d letters (the target's
# header says why), so these seeds reach message_load's fast path.
SPLICE = {
    "long-data": b'{"task":"hash","args":{"data":"@9"}}',
    "long-data-below-min": b'{"task":"hash","args":{"data":"@1"}}',
    "long-two-runs": b'{"task":"hash","args":{"data":"@9","b":"@5x"}}',
    "long-in-array": b'{"args":["@7",1,{"k":"@8"}]}',
    # The longest string is a key and a value spells the splice marker:
    # the worker once hashed the key's 4117 bytes instead of those 17.
    "marker-key": b'{"task":"hash","args":{"@9":1,"data":'
                  b'"\\u0001celeriac-splice\\u0002"}}',
    "marker-value": b'{"task":"\\u0001celeriac-splice\\u0002",'
                    b'"args":{"data":"@9"}}',
    "key-space-colon": b'{"@9" \t: "@3"}',
    "escape-in-long": b'{"data":"@9\\n"}',
    "quote-escaped": b'{"data":"@9\\\\","x":"\\"@9"}',
    "control-in-long": b'{"data":"@9\x01"}',
    "high-in-long": b'{"data":"\xc3\xa9@9"}',
    "duplicate-keys": b'{"a":"@9","a":1}',
    "unterminated": b'{"data":"@9',
    "trailing-comma": b'{"data":"@9",}',
    "top-level-string": b'"@9"',
}

SPLICE_DICT = ["@9", "@0", '"', ":", ",", "{", "}", "[", "]", "\\",
               "\\u0001celeriac-splice\\u0002", "\\u0000", "\\ud800",
               "null", "1e300"]

# Bytes that mean something to the message decoders, for -dict.
MESSAGE_DICT = [
    '"task"', '"hash"', '"args"', '"id"', '"reply_to"', '"v"', '"data"',
    '"data_b64"', '"hmac_key"', '"hmac_key_b64"', '"algorithm"',
    '"iterations"', '"sha256"', '"sha512"', '"md5"', '"sha3-256"',
    '"time_limit"', '"expires"', '"max_retries"', '"retry_backoff"',
    '"retry_backoff_max"', '"retry_jitter"', '"retries"', '"errors"',
    '"queue"', '"2026-11-22T02:33:48.123456Z"', '"+00:00"', "null", "true",
    "false", "1e300", "-0", "\\u0000", "\\ud800", "==",
]


def hdr(typ, payload_len, seq=0, version=IPC_VERSION, length=None):
    if length is None:
        length = 16 + payload_len
    return struct.pack("=IIII", typ, length, version, seq)


def task_frame(entry_id, queue, msg, attempts=1, seq=0, flags=0,
               ring=(0, 0), claim=1):
    # attempts, claim, flags, the five lengths, started (2), ring off, len
    payload = struct.pack("=IIIIIIIIIIII", attempts, claim, flags,
                          len(entry_id), len(queue), len(msg), 0, 0, 0, 0,
                          ring[0], ring[1]) + entry_id + queue + msg
    return hdr(IPC_TASK, len(payload), seq) + payload


def result_frame(status, tid, reply_to, doc, sched=b"", rss_kb=2048,
                 due_ms=0, seq=0):
    payload = struct.pack("=IIIIIIII", status, rss_kb, due_ms >> 32,
                          due_ms & 0xFFFFFFFF, len(tid), len(reply_to),
                          len(doc), len(sched)) + tid + reply_to + doc + sched
    return hdr(IPC_RESULT, len(payload), seq) + payload


def started_frame(ms, seq=0):
    return hdr(IPC_STARTED, 4, seq) + struct.pack("=I", ms)


DOC = (b'{"id":"t1","task":"hash","status":"SUCCESS","result":'
       b'{"algorithm":"sha256","digest":"2cf2","bytes":5},"error":null}')
MSG = MESSAGES["ok-full"]
TASK = task_frame(b"1700000000000-0", b"celeriac:queue:default", MSG, 1, 3)
RESULT = result_frame(STATUS_SUCCESS, b"t1", b"celeriac:reply:1", DOC, seq=3)

FRAMES = {
    "task": TASK,
    "task-empty-fields": task_frame(b"", b"", b""),
    "task-attempts-max": task_frame(b"1-1", b"q", b"{}", 0xFFFFFFFF, 0xFFFF),
    "task-ring": task_frame(b"1-1", b"q", b"", flags=IPC_TASK_RING,
                            ring=(4096, 262144)),
    "task-ring-with-bytes": task_frame(b"1-1", b"q", b"{}",
                                       flags=IPC_TASK_RING, ring=(0, 2)),
    "task-ring-no-length": task_frame(b"1-1", b"q", b"",
                                      flags=IPC_TASK_RING, ring=(0, 0)),
    "task-ring-and-fail": task_frame(b"1-1", b"q", b"",
                                     flags=IPC_TASK_RING | IPC_TASK_FAIL,
                                     ring=(0, 9)),
    "result-success": RESULT,
    "result-failure-no-reply": result_frame(STATUS_FAILURE, b"t2", b"",
                                            b'{"status":"FAILURE"}'),
    "result-retry": result_frame(STATUS_RETRY, b"t3", b"", b"{}",
                                 sched=MSG, due_ms=1763778828123),
    "result-expired": result_frame(STATUS_EXPIRED, b"t4", b"r", b"{}"),
    "started": started_frame(30000, seq=7),
    "stream-three-frames": TASK + started_frame(5000, 3) + RESULT,
    "stream-partial-second": TASK + TASK[:40],
    "partial-header": TASK[:10],
    "partial-payload": TASK[:30],
    "header-only-task": hdr(IPC_TASK, 0),
    "bad-version": hdr(IPC_TASK, 0, version=1),
    "bad-type": hdr(300, 0),
    "bad-len-short": hdr(IPC_TASK, 0, length=15),
    "bad-len-huge": hdr(IPC_RESULT, 0, length=IPC_MAX_FRAME + 1),
    "len-max-incomplete": hdr(IPC_TASK, 0, length=IPC_MAX_FRAME) + b"x" * 64,
    "task-lengths-short": hdr(IPC_TASK, IPC_TASK_FIXED + 4) + struct.pack(
        "=12I", 1, 0, 0, 2, 2, 1, 0, 0, 0, 0, 0, 0) + b"abcd",
    "task-lengths-overflow": hdr(IPC_TASK, IPC_TASK_FIXED) + struct.pack(
        "=12I", 1, 0, 0, 0xFFFFFFFF, 0xFFFFFFFF, 2, 0, 0, 0, 0, 0, 0),
    "result-bad-status": result_frame(4, b"t", b"", b"{}"),
    "result-lengths-long": hdr(IPC_RESULT, 34) + struct.pack(
        "=IIIIIIII", 0, 0, 0, 0, 1, 1, 1, 0) + b"ab",
    "started-long": hdr(IPC_STARTED, 8) + b"\x01" * 8,
    "started-short": hdr(IPC_STARTED, 2) + b"\x01\x02",
}

FRAME_DICT = [
    struct.pack("=I", IPC_VERSION), struct.pack("=I", IPC_TASK),
    struct.pack("=I", IPC_STARTED), struct.pack("=I", IPC_RESULT),
    struct.pack("=I", 16), struct.pack("=I", 32),
    struct.pack("=I", IPC_TASK_FIXED), struct.pack("=I", IPC_TASK_RING),
    struct.pack("=I", 0xFFFFFFFF), struct.pack("=I", IPC_MAX_FRAME),
]

B64 = {
    "empty": b"",
    "rfc-f": b"Zg==",
    "rfc-fo": b"Zm8=",
    "rfc-foobar": b"Zm9vYmFy",
    "unpadded": b"Zm9vYg",
    "wrapped-lf": base64.encodebytes(bytes(range(120))),
    "wrapped-crlf": base64.encodebytes(bytes(range(120))).replace(
        b"\n", b"\r\n"),
    "pad-split-by-newline": b"Zg=\n=",
    "all-chars": b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                 b"0123456789+/",
    "bad-char": b"Zm9v!mFy",
    "bad-urlsafe": b"-_-_",
    "bad-too-much-pad": b"Zg===",
    "bad-one-pad-needs-two": b"Zg=",
    "bad-data-after-pad": b"Zg==Zg==",
    "bad-pad-only": b"====",
    "bad-single-char": b"Z",
    "bad-trailing-bits": b"Zh==",
    "binary": bytes(range(256)),
}

B64_DICT = ["==", "=", "\r\n", "\n", "+/", "A", "/"]


def write_dir(target, seeds):
    d = os.path.join(CORPUS, target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for name, data in sorted(seeds.items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def dict_entry(token):
    if isinstance(token, str):
        token = token.encode()
    return '"' + "".join(
        chr(b) if 0x20 <= b < 0x7F and b not in (0x22, 0x5C)
        else "\\x%02X" % b for b in token) + '"'


def write_dict(target, tokens):
    with open(os.path.join(HERE, target + ".dict"), "w") as f:
        f.write("# Tokens for %s; written by gen_corpus.py.\n" % target)
        for i, t in enumerate(tokens):
            f.write("t%d=%s\n" % (i, dict_entry(t)))


def main():
    write_dir("fuzz_message", MESSAGES)
    write_dir("fuzz_frame", FRAMES)
    write_dir("fuzz_b64", B64)
    write_dict("fuzz_message", MESSAGE_DICT)
    write_dict("fuzz_frame", FRAME_DICT)
    write_dict("fuzz_b64", B64_DICT)
    write_dir("fuzz_splice", SPLICE)
    write_dict("fuzz_splice", SPLICE_DICT)
    n = len(MESSAGES) + len(FRAMES) + len(B64) + len(SPLICE)
    print("wrote %d seeds under %s" % (n, os.path.relpath(CORPUS)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
