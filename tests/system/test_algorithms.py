# SPDX-License-Identifier: MIT
"""Every digest algorithm of the hash task, checked against `openssl dgst`:
plain data (UTF-8 and empty), binary data in data_b64, HMAC keys given as
text and as base64, and iterations > 1.  Algorithms this machine's openssl
does not know are skipped."""

import os

import pytest

from harness import (QUEUE, assert_success, b64, enqueue_many,
                     expected_digest, openssl_has, pending_count,
                     wait_results)

ALGORITHMS = ["sha512", "sha256", "sha384", "sha224", "sha1", "md5",
              "sha3-256", "sha3-512", "blake2b512", "blake2s256", "sm3"]

TEXT = "The quick brown fox jumps over the lazy dog, h\u00e9llo w\u00f6rld \u2713"
BINARY = bytes(range(256)) + os.urandom(1000) + b"\x00" * 7
KEY = "k\u00eby with spaces"
BINARY_KEY = b"\x00\xff\x10binary\x80key" * 3


def cases(algorithm):
    """(task id suffix, args, data bytes, key bytes or None, iterations)."""
    big = os.urandom(1 << 20)
    return [
        ("text", {"data": TEXT}, TEXT.encode(), None, 1),
        ("empty", {"data": ""}, b"", None, 1),
        ("b64", {"data_b64": b64(BINARY)}, BINARY, None, 1),
        ("b64-empty", {"data_b64": ""}, b"", None, 1),
        ("big", {"data_b64": b64(big)}, big, None, 1),
        ("hmac", {"data": TEXT, "hmac_key": KEY}, TEXT.encode(),
         KEY.encode(), 1),
        ("hmac-b64", {"data_b64": b64(BINARY),
                      "hmac_key_b64": b64(BINARY_KEY)},
         BINARY, BINARY_KEY, 1),
        ("iter", {"data": TEXT, "iterations": 5}, TEXT.encode(), None, 5),
        ("iter-hmac", {"data_b64": b64(BINARY), "hmac_key": KEY,
                       "iterations": 3}, BINARY, KEY.encode(), 3),
    ]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_algorithm(algorithm, r, worker):
    if not openssl_has(algorithm):
        pytest.skip("openssl dgst has no %s here" % algorithm)
    worker()
    todo = cases(algorithm)
    msgs = []
    for name, args, _, _, _ in todo:
        a = dict(args, algorithm=algorithm)
        msgs.append({"v": 1, "task": "hash", "id": "%s-%s" % (algorithm, name),
                     "args": a})
    enqueue_many(r, msgs)
    results = wait_results(r, len(msgs), timeout=60)
    assert len(results) == len(msgs)
    for name, _, data, key, iterations in todo:
        doc = results["%s-%s" % (algorithm, name)]
        assert doc["task"] == "hash"
        assert_success(doc, algorithm, data, key, iterations)
    assert r.xlen(QUEUE) == 0
    assert pending_count(r) == 0


def test_default_is_sha512(r, worker):
    worker()
    enqueue_many(r, [{"task": "hash", "id": "d", "args": {"data": "abc"}}])
    doc = wait_results(r, 1)["d"]
    assert_success(doc, "sha512", b"abc")


def test_algorithm_names_any_case(r, worker):
    """OpenSSL names are case-insensitive; the result echoes the name as
    the producer wrote it."""
    worker()
    enqueue_many(r, [{"task": "hash", "id": "u",
                      "args": {"data": "abc", "algorithm": "SHA256"}}])
    doc = wait_results(r, 1)["u"]
    assert doc["status"] == "SUCCESS", doc
    assert doc["result"]["algorithm"] == "SHA256"
    assert doc["result"]["digest"] == expected_digest("sha256", b"abc")
