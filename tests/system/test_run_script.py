# SPDX-License-Identifier: MIT
"""`make run` (scripts/run.sh) promises a private Redis: a
CELERIAC_REDIS_URL left in the environment, pointing at another Redis, gets
none of its keys or tasks; only --redis URL sends the demo there."""

import os
import subprocess

from harness import BIN, ROOT, SLOW

RUN_SH = os.path.join(ROOT, "scripts", "run.sh")


def run_demo(tmp_dir, *args, env=None):
    path = os.path.join(tmp_dir, "data.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(100000))
    e = dict(os.environ)
    e["CELERIAC_BIN"] = BIN  # prebuilt: no make inside the test
    e.pop("CELERIAC_REDIS_PASSWORD", None)
    e.update(env or {})
    return subprocess.run([RUN_SH, "-c", "1"] + list(args) + [path], env=e,
                          capture_output=True, stdin=subprocess.DEVNULL,
                          timeout=300 * SLOW)


def test_environment_url_is_ignored(make_redis, tmp_dir):
    decoy = make_redis()
    p = run_demo(tmp_dir, env={"CELERIAC_REDIS_URL": decoy.url})
    assert p.returncode == 0, p
    c = decoy.client()
    try:
        assert c.dbsize() == 0, sorted(c.keys("*"))
    finally:
        c.close()
    assert b"ignoring CELERIAC_REDIS_URL" in p.stderr, p
    assert b"started a private redis-server" in p.stderr, p
    assert b"OK: the output is byte-identical" in p.stderr, p


def test_redis_option_is_used(make_redis, tmp_dir):
    target = make_redis()
    p = run_demo(tmp_dir, "--redis", target.url,
                 env={"CELERIAC_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert p.returncode == 0, p
    assert b"private redis-server" not in p.stderr, p
    assert b"OK: the output is byte-identical" in p.stderr, p
    c = target.client()
    try:
        # The worker's consumer group was made on the default queue.
        assert c.exists("celeriac:queue:default") == 1
    finally:
        c.close()
