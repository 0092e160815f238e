# SPDX-License-Identifier: MIT
"""The worker's settings beyond flags (worker/settings.h): every long option
from a --config FILE of "key = value" lines and from CELERIAC_* variables,
with flag > environment > file > default, and bad lines refused with
FILE:LINE and exit status 78."""

import os
import subprocess

from harness import (PREFIX_CMD, WORKER_BIN, assert_success, enqueue,
                     wait_result, wait_until)

EXIT_CONFIG = 78


def task(tid, data="abc"):
    return {"task": "hash", "id": tid, "args": {"data": data}}


def write(tmp_dir, text, name="w.conf"):
    path = os.path.join(tmp_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def run_worker(args, env=None, timeout=60):
    """Runs a worker expected to exit at once; returns (rc, stderr)."""
    e = dict(os.environ)
    for k in list(e):
        if k.startswith("CELERIAC_"):
            del e[k]
    e.update(env or {})
    p = subprocess.run(PREFIX_CMD + [WORKER_BIN] + args, env=e,
                       capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stderr


def test_file_then_environment_then_flag(r, worker, tmp_dir):
    conf = write(tmp_dir, "# a worker\n\n"
                 "name = from-file\n"
                 "  prefix   =   cfg:  \n"
                 "result_ttl = \"100\"\n"
                 "queues = one,two\n")
    worker("--config", conf, env={"CELERIAC_NAME": "from-env"},
           stream="cfg:queue:two")
    enqueue(r, task("f1"), stream="cfg:queue:two")
    raw = wait_until(lambda: r.get("cfg:result:f1"), 30,
                     what="cfg:result:f1")
    assert b'"worker":"from-env"' in raw.replace(b" ", b"")
    assert 0 < r.ttl("cfg:result:f1") <= 100
    assert r.keys("celeriac:*") == []


def test_flag_wins(r, worker, tmp_dir):
    conf = write(tmp_dir, "name = from-file\n")
    worker("--config", conf, "--name", "from-flag",
           env={"CELERIAC_NAME": "from-env"})
    enqueue(r, task("f2"))
    assert wait_result(r, "f2")["worker"] == "from-flag"


def test_environment_alone(r, worker):
    worker(env={"CELERIAC_NAME": "env-only", "CELERIAC_RESULT_TTL": "50"})
    enqueue(r, task("f3"))
    assert wait_result(r, "f3")["worker"] == "env-only"
    assert 0 < r.ttl("celeriac:result:f3") <= 50


def test_config_from_environment_and_redis_from_file(redis_server, r, worker,
                                                     tmp_dir):
    conf = write(tmp_dir, "redis = %s\nname = via-env-file\n"
                 % redis_server.url)
    worker(redis_url="", env={"CELERIAC_CONFIG": conf})
    enqueue(r, task("f4"))
    assert_success(wait_result(r, "f4"), "sha512", b"abc")
    assert wait_result(r, "f4")["worker"] == "via-env-file"


def test_redis_url_variable_beats_the_file(redis_server, r, worker, tmp_dir):
    # Nothing listens on port 1: the file's URL must not be used.
    conf = write(tmp_dir, "redis = redis://127.0.0.1:1/0\n")
    worker("--config", conf, redis_url="",
           env={"CELERIAC_REDIS_URL": redis_server.url})
    enqueue(r, task("f5"))
    assert_success(wait_result(r, "f5"), "sha512", b"abc")


def refused(args, words, env=None):
    rc, err = run_worker(args, env=env)
    assert rc == EXIT_CONFIG, (rc, err)
    for w in words:
        assert w in err, (w, err)
    return err


def test_bad_lines(tmp_dir):
    conf = write(tmp_dir, "# comment\nconcurrency = 2\nbogus = 1\n")
    refused(["--config", conf], [conf + ":3:", "unknown setting 'bogus'"])
    conf = write(tmp_dir, "\n\nconcurrency 2\n")
    refused(["--config", conf], [conf + ":3:", "key = value"])
    conf = write(tmp_dir, "name =\n")
    refused(["--config", conf], [conf + ":1:", "'name' has no value"])
    conf = write(tmp_dir, "help = yes\n")
    refused(["--config", conf], [conf + ":1:", "unknown setting 'help'"])
    conf = write(tmp_dir, "config = other.conf\n")
    refused(["--config", conf], [conf + ":1:", "unknown setting 'config'"])


def test_bad_values_name_their_line(tmp_dir):
    conf = write(tmp_dir, "name = ok\nconcurrency = lots\n")
    err = refused(["--config", conf],
                  ["--concurrency must be a whole number",
                   conf + ":2: the setting above"])
    assert len(err.strip().splitlines()) == 2, err
    # Values checked after the parse name their line too.
    conf = write(tmp_dir, "# queues\nqueues = a b\n")
    refused(["--config", conf], ["bad queue name 'a b'",
                                 conf + ":2: the setting above"])
    conf = write(tmp_dir, "redis = http://x\n")
    refused(["--config", conf], ["bad Redis URL",
                                 conf + ":1: the setting above"])
    refused(["--config", conf + ".missing"], ["--config: cannot read",
                                              "No such file"])
    refused([], ["CELERIAC_SANDBOX: the setting above"],
            env={"CELERIAC_SANDBOX": "maybe"})


def test_bad_flag_is_still_a_usage_error(tmp_dir):
    conf = write(tmp_dir, "name = fine\n")
    rc, err = run_worker(["--config", conf, "--concurrency", "lots"])
    assert rc == 2, (rc, err)
    assert "the setting above" not in err


def test_help_documents_the_sources():
    # --help and --version work whatever the settings say.
    for opt in ("--help", "-V"):
        rc, err = run_worker([opt], env={"CELERIAC_CONFIG": "/nonexistent",
                                         "CELERIAC_SANDBOX": "maybe"})
        assert rc == 0, (opt, err)
    p = subprocess.run([WORKER_BIN, "--help"], capture_output=True,
                       text=True)
    for w in ("--config FILE", "CELERIAC_CONCURRENCY",
              "A flag wins over the environment"):
        assert w in p.stdout, w
