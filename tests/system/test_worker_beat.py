# SPDX-License-Identifier: MIT
"""System tests of `celeriac-worker --beat FILE`: the worker's own beat
process.  Two workers on one schedule fire every tick once, also when the
one holding the lease is killed with SIGKILL; a beat process killed alone
is restarted by its worker; a worker's shutdown, or its death, stops its
beat process; a bad schedule file keeps the worker from starting, from
the command line, the environment or the --config file.
"""

import json
import os
import re
import signal
import subprocess

from harness import QUEUE, WORKER_BIN, pid_alive, result_of, wait_until

LEASE = "celeriac:beat:lease"
# The ticks go to a queue no worker reads, where they stay to be counted;
# "run" goes to the workers' queue.
TICKS = "celeriac:queue:ticks"
TEXT = ("tick @every 1s hash queue=ticks {\"data\": \"t\"}\n"
        "run @every 1s hash {\"data\": \"r\"}\n")


def redis_now(r):
    s, us = r.time()
    return s + us / 1e6


def ticks(r, name="tick"):
    """[(scheduled second, XADD ms)] of entry name's tasks in its queue."""
    out = []
    for entry_id, fields in r.xrange(TICKS, "-", "+"):
        msg = json.loads(fields[b"msg"])
        if msg.get("id", "").startswith("beat:%s:" % name):
            out.append((int(msg["id"].rsplit(":", 1)[1]),
                        int(entry_id.split(b"-")[0])))
    return out


def seconds(r):
    return [t for t, _ in ticks(r)]


def assert_once_each(r):
    """Every tick once, none missing, none early (by Redis' clock)."""
    got = ticks(r)
    secs = [t for t, _ in got]
    dupes = sorted({t for t in secs if secs.count(t) > 1})
    assert not dupes, "fired more than once: %s" % dupes
    assert secs == sorted(secs), secs
    missing = sorted(set(range(secs[0], secs[-1] + 1)) - set(secs))
    assert not missing, "ticks missing: %s" % missing
    early = [(t, ms) for t, ms in got if ms < t * 1000]
    assert not early, early
    return secs


def beat_pids(w):
    """The beat processes the worker has started, in order (its log)."""
    return [int(p) for p in
            re.findall(r"beat process (\d+) started", w.log())]


def schedule(tmp_dir, text=TEXT, name="s.beat"):
    path = os.path.join(tmp_dir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def start(worker, path, *extra, **kw):
    """A worker with --beat, once its beat process has started."""
    w = worker("--beat", path, *extra, wait_ready=False, **kw)
    wait_until(lambda: not w.alive() or beat_pids(w), 30,
               what="the beat process of worker %d" % w.pid)
    assert w.alive(), w.log()
    return w


def holder_pid(r):
    """The pid in the lease value "host:pid:random token", or None."""
    v = r.get(LEASE)
    return int(v.decode().split(" ")[0].split(":")[-2]) if v else None


def test_two_workers_each_tick_once_through_a_kill(worker, r, tmp_dir):
    path = schedule(tmp_dir)
    ws = [start(worker, path, "--beat-lease", "2") for _ in range(2)]
    wait_until(lambda: len(seconds(r)) >= 5, 30, what="five ticks")
    # Both beat processes are alive, and one of them holds the lease.
    for w in ws:
        assert pid_alive(beat_pids(w)[-1]), w.log()
    holder = wait_until(lambda: r.get(LEASE), 30, what="a lease holder")
    pid = int(holder.decode().split(" ")[0].split(":")[-2])
    leader = [w for w in ws if beat_pids(w)[-1] == pid]
    assert len(leader) == 1, (pid, [beat_pids(w) for w in ws])
    leader = leader[0]
    other = ws[1 - ws.index(leader)]
    # The worker holding the lease dies with its beat process, at once.
    os.kill(pid, signal.SIGKILL)
    killed_at = redis_now(r)
    leader.kill()
    took = wait_until(
        lambda: r.get(LEASE) not in (None, holder) and
        redis_now(r) - killed_at, 30, interval=0.02,
        what="the other worker's beat process to take the lease")
    assert holder_pid(r) == beat_pids(other)[-1]
    t = int(redis_now(r))
    wait_until(lambda: max(seconds(r)) >= t + 3, 30, what="ticks after it")
    # The survivor runs the tasks fired after the take-over (the dead
    # worker's own wait for the visibility timeout).
    docs = wait_until(lambda: all(result_of(r, "beat:run:%d" % s)
                                  for s in range(t + 1, t + 3)) and
                      [result_of(r, "beat:run:%d" % s)
                       for s in range(t + 1, t + 3)], 30,
                      what="the results of the tasks fired after it")
    assert all(d["status"] == "SUCCESS" for d in docs), docs
    assert other.stop() == 0, other.log()
    secs = assert_once_each(r)
    assert not pid_alive(pid)
    print("worker --beat: %d ticks once each; take-over %.2f s after the "
          "kill (lease 2 s)" % (len(secs), took))
    assert took < 2 * 4 / 3 + 3, took


def test_beat_process_killed_alone_is_restarted(worker, r, tmp_dir):
    w = start(worker, schedule(tmp_dir), "--beat-lease", "1")
    wait_until(lambda: len(seconds(r)) >= 3, 30, what="three ticks")
    first = beat_pids(w)[0]
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(beat_pids(w)) >= 2, 30,
               what="a new beat process")
    assert "beat process %d was killed by signal 9" % first in w.log()
    second = beat_pids(w)[1]
    assert pid_alive(second) and not pid_alive(first)
    assert w.alive()
    # The new process takes the lease once the dead one's expires, and
    # fires the ticks due meanwhile (late, within their grace time).
    wait_until(lambda: holder_pid(r) == second, 30,
               what="the new beat process to lead")
    t = int(redis_now(r))
    wait_until(lambda: max(seconds(r)) >= t + 2, 30, what="ticks after it")
    assert w.stop() == 0, w.log()
    assert_once_each(r)


def test_shutdown_stops_the_beat_process(worker, r, tmp_dir):
    w = start(worker, schedule(tmp_dir))
    pid = beat_pids(w)[0]
    wait_until(lambda: holder_pid(r) == pid, 30, what="it to lead")
    assert pid in w.children()
    # Its heartbeat says it runs beat, and with which file.
    rec = wait_until(lambda: [r.hget(k, "beat") for k in
                              r.keys("celeriac:worker:*")], 30,
                     what="the heartbeat record")
    assert rec == [os.path.join(tmp_dir, "s.beat").encode()], rec
    assert w.stop() == 0, w.log()
    assert not pid_alive(pid)
    # It handed the lease over: deleted, not left to expire.
    assert r.get(LEASE) is None
    assert re.search(r"beat\[%d\] .*beat: stopped; \d+ tasks fired" % pid,
                     w.log()), w.log()


def test_worker_killed_its_beat_process_goes(worker, r, tmp_dir):
    """No orphan: SIGKILL of the worker alone ends its beat process
    (PR_SET_PDEATHSIG), which still hands its lease over."""
    w = start(worker, schedule(tmp_dir))
    pid = beat_pids(w)[0]
    wait_until(lambda: holder_pid(r) == pid, 30, what="it to lead")
    os.kill(w.pid, signal.SIGKILL)
    w.wait()
    wait_until(lambda: not pid_alive(pid), 30,
               what="the beat process to go with its worker")
    assert r.get(LEASE) is None


def test_bad_schedule_refused_at_start(worker, tmp_dir):
    path = schedule(tmp_dir, TEXT + "bad 61 * * * * hash\n", "bad.beat")
    w = worker("--beat", path, wait_ready=False)
    assert w.wait(30) == 78, w.log()
    assert "%s:3: " % path in w.log(), w.log()
    assert "celeriac beat --check" in w.log()
    assert not re.search(r"beat process \d+ started", w.log())
    # From the environment and from the --config file alike.
    w = worker(wait_ready=False, env={"CELERIAC_BEAT": path})
    assert w.wait(30) == 78, w.log()
    assert "%s:3: " % path in w.log(), w.log()
    conf = schedule(tmp_dir, "beat = %s\n" % path, "w.conf")
    w = worker("--config", conf, wait_ready=False)
    assert w.wait(30) == 78, w.log()
    assert "%s:3: " % path in w.log(), w.log()
    # An empty file and a missing one too.
    for p in (schedule(tmp_dir, "# nothing\n", "empty.beat"),
              os.path.join(tmp_dir, "missing.beat")):
        w = worker("--beat", p, wait_ready=False)
        assert w.wait(30) == 78, w.log()
        assert p in w.log(), w.log()


def test_a_file_name_not_utf8_in_the_heartbeat(worker, r, tmp_dir,
                                                celeriac):
    """The heartbeat shows the file's name as valid UTF-8, and celeriac
    status still reads the record."""
    d = os.fsencode(tmp_dir)
    path = os.path.join(d, b"s\xff.beat")
    with open(path, "wb") as f:
        f.write(TEXT.encode())
    w = start(worker, os.fsdecode(path))
    shown = d + b"/s\\xFF.beat"  # (failure_text(): "\\xNN")
    wait_until(lambda: [r.hget(k, "beat") for k in
                        r.keys("celeriac:worker:*")] == [shown], 30,
               what="the heartbeat record")
    run = celeriac("status", "--json")
    assert run.rc == 0, run
    ws = json.loads(run.stdout)["workers"]
    assert [x["fields"]["beat"] for x in ws] == [shown.decode()], ws
    assert w.stop() == 0, w.log()


def test_beat_settings_from_the_config_file(worker, r, tmp_dir):
    """`beat = FILE` and `beat-lease` in the --config file, and --prefix:
    the beat process uses the worker's prefix for its keys and queue."""
    path = schedule(tmp_dir)
    conf = schedule(tmp_dir, "beat = %s\nbeat-lease = 1.5\nprefix = bp:\n"
                    % path, "w.conf")
    w = worker("--config", conf, wait_ready=False)
    wait_until(lambda: not w.alive() or beat_pids(w), 30,
               what="the beat process")
    assert "lease 1.5 s" in w.log(), w.log()
    wait_until(lambda: r.xlen("bp:queue:ticks") >= 2, 30,
               what="ticks on bp:queue:ticks")
    assert r.get("bp:beat:lease") is not None
    assert not r.exists(LEASE) and not r.exists(TICKS) and not r.exists(QUEUE)
    assert w.stop() == 0, w.log()


def test_help_names_beat():
    out = subprocess.run([WORKER_BIN, "--help"], capture_output=True,
                         text=True).stdout
    assert "--beat FILE" in out and "--beat-lease S" in out
