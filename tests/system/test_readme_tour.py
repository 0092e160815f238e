# SPDX-License-Identifier: MIT
"""README.md's five-minute tour, run as written: every ```sh block between
<!-- tour: begin --> and <!-- tour: end --> in order, as one bash script
(set -euo pipefail) in a scratch directory whose bin/ is the binaries
under test.  The tour starts its own private redis-server (a unix socket,
no port) and worker, so a command or an option the binaries no longer
accept, or output that changed, fails this test.  The README's --batch
lines and its worker configuration file are run too."""

import glob
import hashlib
import json
import os
import re
import signal
import subprocess

from harness import BIN, ROOT, SLOW, pid_alive, stop_pid, wait_until


def tour_blocks():
    readme = open(os.path.join(ROOT, "README.md")).read()
    m = re.search(r"^<!-- tour: begin -->\n(.*?)^<!-- tour: end -->",
                  readme, re.S | re.M)
    assert m, "README.md has no <!-- tour: begin --> ... <!-- tour: end -->"
    blocks = re.findall(r"^```sh\n(.*?)^```", m.group(1), re.S | re.M)
    assert blocks, "the README's tour has no ```sh blocks"
    return blocks


def test_tour_runs_as_written(tmp_dir):
    blocks = tour_blocks()
    os.symlink(BIN, os.path.join(tmp_dir, "bin"))
    # The tour's PYTHONPATH is $PWD/clients/python of the clone.
    os.symlink(os.path.join(ROOT, "clients"), os.path.join(tmp_dir, "clients"))
    script = "set -euo pipefail\n" + "".join(blocks)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CELERIAC_")}
    env["TMPDIR"] = tmp_dir  # where the tour's mktemp -d goes
    env["LC_ALL"] = "C"
    # The tour's `python3` is Debian's, which sees python3-redis (as on a
    # fresh Debian 12; another python3 first on PATH may not).
    env["PATH"] = "/usr/bin:" + env.get("PATH", "/bin")
    # Files, not pipes: the worker the tour leaves in the background on a
    # failure would keep a pipe open.
    out_path = os.path.join(tmp_dir, "tour.stdout")
    err_path = os.path.join(tmp_dir, "tour.stderr")
    with open(out_path, "w") as o, open(err_path, "w") as e:
        proc = subprocess.Popen(["bash", "-c", script], cwd=tmp_dir,
                                env=env, stdout=o, stderr=e,
                                start_new_session=True)
    try:
        proc.wait(timeout=300 * SLOW)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        # Whatever the tour left running: its worker (in the script's
        # process group) and its daemonized redis-server (by its pid file).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        for pidfile in glob.glob(os.path.join(tmp_dir, "*", "redis.pid")):
            try:
                pid = int(open(pidfile).read().strip() or 0)
            except (OSError, ValueError):
                continue
            if pid > 0 and pid_alive(pid):
                stop_pid(pid)
    out = open(out_path, errors="replace").read()
    err = open(err_path, errors="replace").read()
    logs = "".join("---- %s ----\n%s\n" % (p, open(p, errors="replace")
                                            .read()[-4000:])
                   for p in glob.glob(os.path.join(tmp_dir, "*", "*.log")))
    what = "stdout:\n%s\nstderr:\n%s\n%s" % (out, err, logs)
    assert proc.returncode == 0, "the tour failed (exit %s)\n%s" % (
        proc.returncode, what)

    docs = [json.loads(line) for line in out.splitlines()
            if line.startswith("{")]
    # The task waited for, and the one read later with celeriac result.
    digests = {d["result"]["digest"] for d in docs
               if d.get("status") == "SUCCESS"}
    assert hashlib.sha256(b"hello").hexdigest() in digests, what
    assert hashlib.sha512(b"later").hexdigest() in digests, what
    # The task sent from Python, its digest printed by the client.
    assert "python: %s\n" % hashlib.sha256(b"from python").hexdigest() \
        in out, what
    # hash, then sha512sum -c and celeriac hash -c agreeing with it.
    assert out.count("numbers.txt: OK") == 2, what
    assert out.count("hello.txt: OK") == 2, what
    # status saw both workers: its header, and a running worker's line
    # each; the monitor's text shows the queue.
    assert re.search(r"^WORKER +STATE", out, re.M), what
    assert len(re.findall(r"^\S+ +running +", out, re.M)) == 2, what
    assert re.search(r"^default +", out, re.M), what
    # The delayed task was revoked before it ran.
    assert re.search(r"^\S+ REVOKED", out, re.M), what
    # The worker stopped with a warm shutdown (wait returned its 0) and
    # redis-server is gone.
    scratch = glob.glob(os.path.join(tmp_dir, "tmp.*"))
    assert len(scratch) == 1, scratch
    pidfile = os.path.join(scratch[0], "redis.pid")
    wait_until(lambda: not os.path.exists(pidfile) or
               not pid_alive(int(open(pidfile).read().strip() or 0)),
               30, what="the tour's redis-server to exit")


def readme_block(after, indent=""):
    """The first ``` block after the heading `after` in README.md."""
    readme = open(os.path.join(ROOT, "README.md")).read()
    i = readme.index(after)
    m = re.search(r"^%s```\n(.*?)^%s```" % (indent, indent), readme[i:],
                  re.S | re.M)
    assert m, "no ``` block after %r in README.md" % after
    return "".join(line[len(indent):] + "\n"
                   for line in m.group(1).splitlines())


def test_batch_lines_of_the_readme(worker, celeriac):
    lines = readme_block("### Many tasks at once")
    worker()
    run = celeriac("send", "--batch", "-", "--wait", "--timeout", 120,
                   input=lines)
    assert run.rc == 0, run
    docs = [json.loads(l) for l in run.stdout.decode().splitlines()]
    assert len(docs) == len(lines.splitlines()) == 3, run
    assert {d["status"] for d in docs} == {"SUCCESS"}, run
    assert "job-2" in {d["id"] for d in docs}, run


def test_config_file_of_the_readme(redis_server, r, worker, tmp_dir):
    conf = os.path.join(tmp_dir, "default.conf")
    with open(conf, "w") as f:
        f.write(readme_block("### Configuring a worker", indent="  "))
    # CELERIAC_REDIS_URL wins over the file's redis.example, and the
    # fixture's --concurrency over its concurrency.
    worker("--config", conf, redis_url="",
           env={"CELERIAC_REDIS_URL": redis_server.url})
    r.xadd("celeriac:queue:fast", {"msg": json.dumps(
        {"task": "hash", "id": "fast1", "args": {"data": "abc"}})})
    raw = wait_until(lambda: r.get("celeriac:result:fast1"), 30,
                     what="the result of a task on the queue fast")
    assert json.loads(raw)["status"] == "SUCCESS"
