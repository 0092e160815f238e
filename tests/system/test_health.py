# SPDX-License-Identifier: MIT
"""Containers that behave: `celeriac status --alive NAME` (the compose
workers' health check) is 0 for a running worker and 1 once it stopped or
for an unknown name; --concurrency's default follows the CPU affinity
(taskset), as it follows a container's cgroup CPU quota (unit-tested on
fake cgroup files in tests/unit/test_cpus.c)."""

import os
import shutil
import subprocess

import pytest

from harness import wait_until


def test_alive_follows_the_heartbeat_record(worker, celeriac, r):
    w = worker("--name", "health:1", "--heartbeat", "0.5")
    wait_until(lambda: r.hget("celeriac:worker:health:1", "state") == b"running"
               or r.hget("celeriac:worker:health:1", "state") == "running",
               30, what="the worker's first heartbeat")
    run = celeriac("status", "--alive", "health:1")
    assert run.rc == 0, run
    assert run.stdout == b"", run
    run = celeriac("status", "--alive", "nobody:1")
    assert run.rc == 1, run
    assert b"nobody:1 is not alive" in run.stderr, run
    assert w.stop() == 0
    run = celeriac("status", "--alive", "health:1")
    assert run.rc == 1, run


def test_alive_usage_errors(celeriac):
    run = celeriac("status", "--alive", "two words")
    assert run.rc == 2, run
    run = celeriac("status", "--alive", "x:1", "--json")
    assert run.rc == 2, run


@pytest.mark.skipif(shutil.which("taskset") is None or os.cpu_count() < 2,
                    reason="needs taskset and two cores")
def test_concurrency_default_follows_affinity(worker, r):
    from conftest import WORKER_BIN
    out = subprocess.run(["taskset", "-c", "0", WORKER_BIN, "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "usable cores, 1 here" in out, out
    out = subprocess.run([WORKER_BIN, "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "usable cores, %d here" % len(os.sched_getaffinity(0)) in out, out
