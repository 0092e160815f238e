# SPDX-License-Identifier: MIT
"""System tests of `celeriac beat` (periodic tasks): the schedule file's
checks, ticks run by a worker, the misfire policies after downtime, keys
of the wrong type, and several instances (one with a skewed clock under
libfaketime, the leader killed mid-run) firing every tick exactly once.

CELERIAC_BEAT_SECONDS sets the length of the multi-instance run (default
45 s; the issue's full run is 120).
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from faultlib import aof_redis  # noqa: F401 (a fixture)
from harness import (PRODUCER_BIN, QUEUE, all_results, live_pids,
                     result_of, stop_pid, wait_until)

FAKETIME_LIB = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1"
LEASE = "celeriac:beat:lease"
LAST = "celeriac:beat:last"


class Beat:
    """One `celeriac beat` process; stderr goes to a file."""

    def __init__(self, url, path, log_path, *extra, env=None):
        e = dict(os.environ)
        e["CELERIAC_REDIS_URL"] = url
        e.pop("CELERIAC_REDIS_PASSWORD", None)
        e.update(env or {})
        self.log_path = log_path
        self._f = open(log_path, "wb")
        self.argv = [PRODUCER_BIN, "beat"] + [str(a) for a in extra] + [path]
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=self._f, stderr=self._f, env=e)
        self.pid = self.proc.pid
        live_pids.add(self.pid)

    def log(self):
        self._f.flush()
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def wait(self, timeout=30):
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
            raise AssertionError("beat %d did not exit:\n%s"
                                 % (self.pid, self.log()))
        live_pids.discard(self.pid)
        return rc

    def stop(self):
        rc = stop_pid(self.pid, self.proc, signal.SIGTERM, timeout=20)
        live_pids.discard(self.pid)
        return rc

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        live_pids.discard(self.pid)

    def close(self):
        if self.proc.poll() is None:
            self.kill()
        self._f.close()


@pytest.fixture
def beat(redis_server, r, tmp_dir):
    """beat(schedule_text, *args, env=None) -> Beat; every one is stopped
    at teardown and its log printed."""
    started = []

    def start(text, *extra, env=None):
        path = os.path.join(tmp_dir, "schedule%d.beat" % len(started))
        with open(path, "w") as f:
            f.write(text)
        b = Beat(redis_server.url, path,
                 os.path.join(tmp_dir, "beat%d.log" % len(started)),
                 *extra, env=env)
        started.append(b)
        return b

    try:
        yield start
    finally:
        for b in started:
            if b.proc.poll() is None:
                b.stop()
            print("---- beat %d (%s) ----\n%s"
                  % (b.pid, " ".join(b.argv), b.log()))
            b.close()


def redis_now(r):
    s, us = r.time()
    return s + us / 1e6


def stream_ticks(r, stream=QUEUE):
    """[(task id, XADD time in ms)] of the beat tasks in the stream."""
    out = []
    for entry_id, fields in r.xrange(stream, "-", "+"):
        msg = json.loads(fields[b"msg"])
        if msg.get("id", "").startswith("beat:"):
            out.append((msg["id"], int(entry_id.split(b"-")[0])))
    return out


def ticks_of(ticks, name):
    return [int(i.rsplit(":", 1)[1]) for i, _ in ticks
            if i.startswith("beat:%s:" % name)]


def test_check_reports_line_numbers(celeriac, tmp_dir):
    text = ("# periodic tasks\n"
            "\n"
            "ok @every 10s hash {\"data\": \"x\"}\n"
            "badmin 61 * * * * hash\n"
            "notask @every 1s\n"
            "ok @hourly hash\n"
            "badtz @daily hash tz=Mars/Olympus\n"
            "badarg @daily hash {\"data\": 3}\n"
            "badopt @daily hash misfire=sometimes\n"
            "berlin 30 2 * * * hash tz=Europe/Berlin expires=1h "
            "time_limit=2.5 max_retries=2 {\"data\": \"abc\"}\n")
    path = os.path.join(tmp_dir, "s.beat")
    with open(path, "w") as f:
        f.write(text)
    run = celeriac("beat", "--check", path)
    assert run.rc == 1, run
    err = run.stderr.decode()
    for line in (4, 5, 6, 7, 8, 9):
        assert "%s:%d: " % (path, line) in err, (line, err)
    for line in (3, 10):
        assert "%s:%d: " % (path, line) not in err, (line, err)
    assert "already used on line 3" in err
    assert "Mars/Olympus" in err and "must be a string" in err

    good = "\n".join(text.splitlines()[i] for i in (2, 9)) + "\n"
    with open(path, "w") as f:
        f.write(good)
    run = celeriac("beat", "--check", path)
    assert run.rc == 0, run
    run = celeriac("beat", "--list", path, "--count", "3")
    assert run.rc == 0, run
    lines = run.text().splitlines()
    assert len(lines) == 6, lines
    assert all(re.match(r"^ok\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d0Z\t.* UTC$", x)
               for x in lines[:3]), lines
    assert all(re.match(r"^berlin\t.*T\d\d:30:00Z\t.* 02:30:00 CES?T$", x)
               for x in lines[3:]), lines


def test_every_second_runs_on_a_worker(beat, worker, r):
    worker()
    b = beat("tick @every 1s hash {\"data\": \"tick\"}\n")

    def done():
        ids = sorted(i for i in all_results(r) if i.startswith("beat:tick:"))
        return len(ids) >= 3 and ids

    ids = wait_until(done, 60, what="the results of three ticks")
    secs = [int(i.rsplit(":", 1)[1]) for i in ids]
    # Every tick between the first and the last seen has run too.
    ids = ["beat:tick:%d" % t for t in range(secs[0], secs[-1] + 1)]
    wait_until(lambda: all(result_of(r, i) for i in ids), 60,
               what="the results of ticks %d to %d" % (secs[0], secs[-1]))
    for i in ids:
        doc = result_of(r, i)
        assert doc["status"] == "SUCCESS" and doc["id"] == i, doc
    assert b.stop() == 0


def test_misfire_policies_after_downtime(beat, r):
    now = int(redis_now(r))
    for name in ("once", "skip", "all"):
        r.hset(LAST, name, now - 100)
    b = beat("once @every 1s hash misfire=once grace=3s {\"data\": \"o\"}\n"
             "skip @every 1s hash misfire=skip grace=3s {\"data\": \"s\"}\n"
             "all @every 1s hash misfire=all max_catchup=5 grace=3s "
             "{\"data\": \"a\"}\n")
    edges = {}

    def seen():
        for m in re.finditer(r"beat: (\w+) missed ticks from (\d+) to before "
                             r"(\d+) \(misfire=(\w+)\)", b.log()):
            assert int(m.group(2)) == now - 99, m.group(0)
            edges[m.group(1)] = int(m.group(3))
        if len(edges) < 3:
            return False
        ticks = stream_ticks(r)
        return all(max(ticks_of(ticks, n) or [0]) >= edges[n] + 3
                   for n in edges)

    wait_until(seen, 60, what="the catch-up and then live ticks")
    assert b.stop() == 0
    ticks = stream_ticks(r)
    ids = [i for i, _ in ticks]
    assert len(ids) == len(set(ids)), "a tick fired twice"
    expect_old = {"once": [edges["once"] - 1], "skip": [],
                  "all": list(range(edges["all"] - 5, edges["all"]))}
    for name, old in expect_old.items():
        got = ticks_of(ticks, name)
        edge = edges[name]
        assert [t for t in got if t < edge] == old, (name, got)
        live = [t for t in got if t >= edge]
        assert live == list(range(edge, edge + len(live))), (name, live)
        assert int(r.hget(LAST, name)) == live[-1]


@pytest.mark.parametrize("key,kind", [
    (LEASE, "list"), ("celeriac:beat:token", "hash"), (LAST, "string"),
    (QUEUE, "hash")])
def test_wrong_type_keys_exit_cleanly(beat, r, key, kind):
    if kind == "list":
        r.rpush(key, "x")
    elif kind == "hash":
        r.hset(key, "x", "y")
    else:
        r.set(key, "x")
    b = beat("tick @every 1s hash {\"data\": \"x\"}\n")
    rc = b.wait(30)
    log = b.log()
    assert rc == 4, log
    assert "WRONGTYPE" in log, log
    assert r.type(key).decode() == kind
    assert not r.exists(LAST) or kind == "string"


def test_instances_fire_each_tick_once(beat, r):
    """Three instances, one with its clock 30 s ahead; the leader is
    killed with SIGKILL half way."""
    seconds = float(os.environ.get("CELERIAC_BEAT_SECONDS", "45"))
    if not os.path.exists(FAKETIME_LIB):
        pytest.skip("libfaketime is not installed (scripts/deps.sh test)")
    lease = 3.0
    # (An ASan build accepts a preloaded library only with the check off.)
    skew = {"LD_PRELOAD": FAKETIME_LIB, "FAKETIME": "+30s",
            "FAKETIME_DONT_RESET": "1",
            "ASAN_OPTIONS": "verify_asan_link_order=0"}
    out = subprocess.run(["date", "+%s"], env=dict(os.environ, **skew),
                         capture_output=True, text=True).stdout
    assert int(out) >= time.time() + 25, "libfaketime did not skew the clock"
    text = ("tick @every 1s hash {\"data\": \"t\"}\n"
            "minute * * * * * hash {\"data\": \"m\"}\n")
    start = redis_now(r)
    # The skewed instance starts first, so that it leads the first half.
    first = beat(text, "--lease", lease, env=skew)
    wait_until(lambda: "leading as" in first.log(), 30,
               what="the first instance to lead")
    led_at = redis_now(r)
    others = [beat(text, "--lease", lease) for _ in range(2)]
    wait_until(lambda: all("started with" in b.log() for b in others), 30,
               what="the other instances to start")
    wait_until(lambda: redis_now(r) >= start + seconds / 2, seconds + 30,
               interval=0.2)
    holder = r.get(LEASE).decode()
    leader = [b for b in [first] + others
              if (":%d:" % b.pid) in holder]
    assert len(leader) == 1, holder
    leader = leader[0]
    killed_at = redis_now(r)
    leader.kill()
    takeover = wait_until(
        lambda: (r.get(LEASE) or b"").decode() not in ("", holder) and
        redis_now(r) - killed_at, 30, interval=0.02,
        what="another instance to take the lease")
    wait_until(lambda: redis_now(r) >= start + seconds, seconds + 30,
               interval=0.2)
    end = redis_now(r)
    # The minute ticks owed: from the first leader's first look at the
    # clock, at led_at at the latest (a new schedule owes nothing from
    # before it; that look may come seconds after `start` on a loaded
    # machine).  One between start and led_at may have fired too.
    want = list(range(-(-int(led_at) // 60) * 60, int(end) - 2, 60))
    # The ticks due by now have been fired (a loaded leader may be late).
    wait_until(lambda: int(end) - 1 in ticks_of(stream_ticks(r), "tick") and
               set(want) <= set(ticks_of(stream_ticks(r), "minute")), 30,
               interval=0.2, what="the ticks due before the end")
    for b in [first] + others:
        if b is not leader:
            assert b.stop() == 0, b.log()

    ticks = stream_ticks(r)
    ids = [i for i, _ in ticks]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    assert not dupes, "fired more than once: %s" % dupes
    # Nothing fired before its time (by Redis' clock), whoever fired it.
    early = [(i, ms) for i, ms in ticks
             if ms < int(i.rsplit(":", 1)[1]) * 1000]
    assert not early, early
    secs = ticks_of(ticks, "tick")
    assert secs == sorted(secs)
    assert start - 1 <= secs[0] <= led_at, (start, led_at, secs[:3])
    assert secs[-1] >= int(end) - 1, (end, secs[-3:])
    missing = sorted(set(range(secs[0], secs[-1] + 1)) - set(secs))
    assert not missing, "ticks missing: %s" % missing
    minutes = ticks_of(ticks, "minute")
    fired = [m for m in minutes if m < int(end) - 2]
    assert [m for m in fired if m >= int(led_at)] == want, (minutes, want)
    assert all(m % 60 == 0 and int(start) <= m for m in fired), fired
    assert len(fired) - len(want) <= 1, (fired, want)
    late = max(ms / 1000 - int(i.rsplit(":", 1)[1]) for i, ms in ticks)
    print("beat: %.0f s, %d @every 1s ticks and %d minute ticks, each once; "
          "leader %d killed, lease taken over after %.2f s (lease %.1f s); "
          "latest tick fired %.2f s after its time"
          % (end - start, len(secs), len(minutes), leader.pid, takeover,
             lease, late))
    assert takeover <= lease * 4 / 3 + 3, takeover


def test_takeover_fires_the_first_tick_the_dead_leader_owed(beat, r):
    """The leader dies just before an entry's first tick: the next leader
    fires that tick, late, rather than start afresh after it (the first
    leader marked where the schedule began in beat:last)."""
    text = "ten @every 10s hash {\"data\": \"t\"}\n"
    # Start just after a tick, so that none is due before the kill.
    wait_until(lambda: 1.2 <= redis_now(r) % 10 <= 2.5, 30, interval=0.02)
    a = beat(text, "--lease", 3)
    wait_until(lambda: "leading as" in a.log(), 30, what="a to lead")
    t = (int(redis_now(r)) // 10 + 1) * 10
    assert int(r.hget(LAST, "ten")) < t
    # (Its lease expires 1.4 s to 2.4 s after t: b leads in a later
    # second, where a leader starting afresh would not fire t.)
    b = beat(text, "--lease", 3)
    wait_until(lambda: "started with" in b.log(), 30, what="b to start")
    wait_until(lambda: redis_now(r) >= t - 0.6, 30, interval=0.02)
    assert not ticks_of(stream_ticks(r), "ten")
    a.kill()
    wait_until(lambda: "leading as" in b.log(), 30, what="b to lead")
    wait_until(lambda: ticks_of(stream_ticks(r), "ten"), 30,
               what="the first tick")
    assert ticks_of(stream_ticks(r), "ten")[0] == t, b.log()
    assert b.stop() == 0


def test_sigterm_hands_the_lease_over(beat, r):
    """A leader stopped with SIGTERM deletes its lease: another instance
    leads at its next lease call, well within the lease time."""
    text = "tick @every 1s hash {\"data\": \"t\"}\n"
    a = beat(text, "--lease", 30)
    wait_until(lambda: "leading as" in a.log(), 30, what="a to lead")
    b = beat(text, "--lease", 30)
    wait_until(lambda: "started with" in b.log(), 30, what="b to start")
    first = max(ticks_of(stream_ticks(r), "tick"))
    stopped = redis_now(r)
    assert a.stop() == 0
    wait_until(lambda: "leading as" in b.log(), 30, what="b to lead")
    took = redis_now(r) - stopped
    wait_until(lambda: max(ticks_of(stream_ticks(r), "tick")) >= first + 15,
               60, what="more ticks")
    assert b.stop() == 0
    secs = ticks_of(stream_ticks(r), "tick")
    assert secs == list(range(secs[0], secs[0] + len(secs))), secs
    print("beat: SIGTERM hand-over after %.2f s (lease 30 s)" % took)
    assert took < 15, took


def test_redis_restart_keeps_ticks_once(beat, aof_redis):
    """Redis is killed and restarted (AOF): the instances reconnect, and
    the ticks due while it was down are fired late, once each."""
    srv = aof_redis()
    c = srv.client()
    text = "tick @every 1s hash {\"data\": \"t\"}\n"
    env = {"CELERIAC_REDIS_URL": srv.url}
    a = beat(text, "--lease", 3, env=env)
    wait_until(lambda: "leading as" in a.log(), 30, what="a to lead")
    b = beat(text, "--lease", 3, env=env)
    wait_until(lambda: len(ticks_of(stream_ticks(c), "tick")) >= 3, 30,
               what="three ticks")
    srv.kill()
    srv.start()
    c = srv.client()
    t0 = int(redis_now(c))
    wait_until(lambda: max(ticks_of(stream_ticks(c), "tick")) >= t0 + 5, 60,
               what="ticks after the restart")
    assert a.stop() == 0 and b.stop() == 0
    secs = ticks_of(stream_ticks(c), "tick")
    ids = [i for i, _ in stream_ticks(c)]
    assert len(ids) == len(set(ids)), "a tick fired twice"
    assert secs == list(range(secs[0], secs[0] + len(secs))), secs


def test_sigterm_while_redis_is_down(beat, aof_redis):
    """An instance waiting for Redis to come back still stops on SIGTERM."""
    srv = aof_redis()
    b = beat("tick @every 1s hash {\"data\": \"t\"}\n",
             env={"CELERIAC_REDIS_URL": srv.url})
    wait_until(lambda: "leading as" in b.log(), 30, what="beat to lead")
    srv.kill()
    wait_until(lambda: "lost connection" in b.log(), 30,
               what="beat to notice")
    assert b.stop() == 0, b.log()


def test_frozen_leader_does_not_fire_twice(beat, r):
    """The leader is frozen (SIGSTOP) past its lease: another leads; the
    old one, thawed, finds its lease gone and follows."""
    text = "tick @every 1s hash {\"data\": \"t\"}\n"
    a = beat(text, "--lease", 2)
    wait_until(lambda: "leading as" in a.log(), 30, what="a to lead")
    b = beat(text, "--lease", 2)
    wait_until(lambda: "started with" in b.log(), 30, what="b to start")
    a.proc.send_signal(signal.SIGSTOP)
    try:
        wait_until(lambda: "leading as" in b.log(), 30, what="b to lead")
        t = int(redis_now(r))
        wait_until(lambda: max(ticks_of(stream_ticks(r), "tick")) >= t + 2,
                   30, what="b's ticks")
    finally:
        a.proc.send_signal(signal.SIGCONT)
    wait_until(lambda: "following" in a.log(), 30, what="a to follow")
    t = int(redis_now(r))
    wait_until(lambda: max(ticks_of(stream_ticks(r), "tick")) >= t + 3, 30,
               what="more ticks")
    assert a.stop() == 0 and b.stop() == 0
    ids = [i for i, _ in stream_ticks(r)]
    assert len(ids) == len(set(ids)), "a tick fired twice"
    secs = ticks_of(stream_ticks(r), "tick")
    assert secs == list(range(secs[0], secs[0] + len(secs))), secs
