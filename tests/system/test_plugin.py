# SPDX-License-Identifier: MIT
"""Task plug-ins (README.md, "Writing a task"): the example plug-in
examples/wc is built with its own Makefile, loaded with
`celeriac-worker --load`, and runs tasks beside the built-in hash: counts
checked against Python's own, arguments refused with the plug-in's error,
a source refused for a task that takes none.  A plug-in that cannot be
loaded (no such file, no entry point, another task API version, a task
name already taken) stops the worker at start with status 78 and a
message naming the file and the cause."""

import os
import subprocess
import textwrap

import pytest

from harness import (assert_failure, assert_success, b64, enqueue,
                     wait_result)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXIT_CONFIG = 78
PROMPT = 10  # seconds: loading fails at once


@pytest.fixture(scope="module")
def wc_so(tmp_path_factory):
    """examples/wc built by its Makefile into a temporary directory."""
    out = tmp_path_factory.mktemp("wc")
    subprocess.run(["make", "-s", "-C", os.path.join(ROOT, "examples", "wc"),
                    "O=%s" % out], check=True)
    path = out / "wc.so"
    assert path.exists()
    return str(path)


def build_plugin(tmp_path, name, source):
    """Compiles a one-file plug-in against include/; returns its path."""
    src = tmp_path / (name + ".c")
    src.write_text(textwrap.dedent(source))
    so = tmp_path / (name + ".so")
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "jansson"],
                           check=True, capture_output=True,
                           text=True).stdout.split()
    subprocess.run(["cc", "-std=c11", "-fPIC", "-shared", "-Wall",
                    "-I" + os.path.join(ROOT, "include"), "-o", str(so),
                    str(src)] + flags, check=True)
    return str(so)


def wc_counts(data):
    return {"bytes": len(data), "lines": data.count(b"\n"),
            "words": len(data.split())}


def test_wc_plugin_runs_beside_hash(r, worker, wc_so):
    w = worker("--load", wc_so)
    texts = {
        "t1": b"two words\n",
        "t2": b"",
        "t3": b"  lead and trail  \n\n\tx\ty\r\nz",
        "t4": bytes(range(256)) * 40,
    }
    for tid, data in texts.items():
        enqueue(r, {"task": "wc", "id": tid, "args": {"data_b64": b64(data)}})
    enqueue(r, {"task": "wc", "id": "sep",
                "args": {"data": "a,b;;c d", "separators": ",;"}})
    enqueue(r, {"task": "hash", "id": "h", "args": {"data": "still hash"}})
    for tid, data in texts.items():
        doc = wait_result(r, tid)
        assert doc["status"] == "SUCCESS", doc
        assert doc["result"] == wc_counts(data), (tid, doc)
    doc = wait_result(r, "sep")
    assert doc["result"] == {"bytes": 8, "lines": 0, "words": 3}, doc
    assert_success(wait_result(r, "h"), "sha512", b"still hash")
    assert "loaded the plug-in" in w.log()


def test_wc_plugin_errors(r, worker, wc_so):
    w = worker("--load", wc_so)
    kids = w.children()
    enqueue(r, {"task": "wc", "id": "bad",
                "args": {"data": "x", "separators": 7}})
    enqueue(r, {"task": "wc", "id": "none", "args": {}})
    enqueue(r, {"task": "nope", "id": "unknown", "args": {}})
    assert_failure(wait_result(r, "bad"), "InvalidArgument", "separators")
    assert_failure(wait_result(r, "none"), "InvalidArgument", "source")
    # The unknown-task error lists what this worker runs.
    assert_failure(wait_result(r, "unknown"), "UnknownTask", "hash", "wc")
    enqueue(r, {"task": "wc", "id": "good", "args": {"data": "a b"}})
    assert wait_result(r, "good")["result"]["words"] == 2
    assert w.children() == kids, "a child died"


def test_task_without_input_refuses_a_source(r, worker, tmp_path):
    so = build_plugin(tmp_path, "answer", """
        #include <celeriac/task.h>
        static void *init(const json_t *a, struct celeriac_error *e)
        { (void)a; (void)e; static int s; return &s; }
        static json_t *fin(void *s, struct celeriac_error *e)
        { (void)s; (void)e; return json_integer(42); }
        static void rel(void *s) { (void)s; }
        static const struct celeriac_task t = {
            .api_version = CELERIAC_TASK_API_VERSION, .name = "answer",
            .input = CELERIAC_INPUT_NONE, .init = init, .final = fin,
            .free = rel };
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx);
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx)
        { (void)v; return reg(ctx, &t); }
        """)
    worker("--load", so)
    enqueue(r, {"task": "answer", "id": "a", "args": {}})
    enqueue(r, {"task": "answer", "id": "b", "args": {"data": "x"}})
    doc = wait_result(r, "a")
    assert doc["status"] == "SUCCESS" and doc["result"] == 42, doc
    assert_failure(wait_result(r, "b"), "InvalidArgument", "answer", "data")


def refused_at_start(worker, *words, load):
    """The worker exits 78 at once; its stderr names each of words."""
    w = worker(*sum((["--load", p] for p in load), []), wait_ready=False)
    rc = w.wait(PROMPT)
    log = w.log()
    assert rc == EXIT_CONFIG, "exit status %s:\n%s" % (rc, log)
    for word in words:
        assert word in log, "%r not in:\n%s" % (word, log)
    assert "Traceback" not in log and "Segmentation" not in log


def test_missing_file(worker, tmp_path):
    path = str(tmp_path / "nothere.so")
    refused_at_start(worker, path, "No such file", load=[path])


def test_missing_entry_point(worker, tmp_path):
    so = build_plugin(tmp_path, "nosym", "int unrelated(void); "
                                         "int unrelated(void) { return 1; }")
    refused_at_start(worker, so, "celeriac_plugin_init", load=[so])


def test_wrong_api_version(worker, tmp_path):
    so = build_plugin(tmp_path, "v99", """
        #include <celeriac/task.h>
        static void *init(const json_t *a, struct celeriac_error *e)
        { (void)a; (void)e; return NULL; }
        static json_t *fin(void *s, struct celeriac_error *e)
        { (void)s; (void)e; return NULL; }
        static void rel(void *s) { (void)s; }
        static const struct celeriac_task t = {
            .api_version = 99, .name = "future", .input = CELERIAC_INPUT_NONE,
            .init = init, .final = fin, .free = rel };
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx);
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx)
        { (void)v; return reg(ctx, &t); }
        """)
    refused_at_start(worker, so, "future", "version 99", load=[so])


def test_duplicate_name(worker, wc_so, tmp_path):
    # A second task named "hash" may not replace the built-in one.
    so = build_plugin(tmp_path, "hash2", """
        #include <celeriac/task.h>
        static void *init(const json_t *a, struct celeriac_error *e)
        { (void)a; (void)e; return NULL; }
        static json_t *fin(void *s, struct celeriac_error *e)
        { (void)s; (void)e; return NULL; }
        static void rel(void *s) { (void)s; }
        static const struct celeriac_task t = {
            .api_version = CELERIAC_TASK_API_VERSION, .name = "hash",
            .input = CELERIAC_INPUT_NONE, .init = init, .final = fin,
            .free = rel };
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx);
        int celeriac_plugin_init(unsigned v, celeriac_register_fn reg,
                                 void *ctx)
        { (void)v; (void)reg(ctx, &t); return 0; }
        """)
    refused_at_start(worker, so, "'hash' is already registered", load=[so])
    # And the same plug-in twice.
    refused_at_start(worker, "'wc' is already registered",
                     load=[wc_so, wc_so])
