# SPDX-License-Identifier: MIT
"""`celeriac monitor`: the full screen under tmux (80x24) against a worker
and queues in a known state, q and SIGTERM restoring the terminal, and the
plain text when stdout is not a terminal (--once)."""

import os
import re
import shutil
import signal
import subprocess
import uuid

import pytest

from harness import PRODUCER_BIN, child_pids, wait_until

DEAD = "celeriac:dead"
WORKER = "mon-w1"


def known_state(r, worker, celeriac):
    """A worker on default,fast that has run two tasks (one failed), three
    tasks waiting on a queue nobody reads, and one dead letter."""
    worker("--name", WORKER, "--queues", "default,fast",
           "--heartbeat", "0.2")
    ok = celeriac("send", "hash", "--arg", "data=a", "--wait", "--timeout",
                  "60")
    assert ok.rc == 0, ok
    bad = celeriac("send", "hash", "--arg", "data=b", "--arg",
                   "algorithm=sha999", "--wait", "--timeout", "60",
                   "--no-check")
    assert bad.rc == 1, bad
    for i in range(3):
        run = celeriac("send", "hash", "--arg", "data=s%d" % i, "--queue",
                       "slow")
        assert run.rc == 0, run
    r.xadd(DEAD, {"msg": '{"id":"poison-7","task":"hash"}',
                  "reason": '{"error":{"type":"WorkerLost","message":'
                            '"killed by signal 9"},"deliveries":2,'
                            '"worker":"%s","at":"2026-11-22T02:57:36Z"}'
                            % WORKER,
                  "queue": "celeriac:queue:default", "entry": "1-0"})
    # The heartbeat has counted both tasks.
    wait_until(lambda: r.hget("celeriac:worker:" + WORKER, "succeeded") ==
               b"1" and r.hget("celeriac:worker:" + WORKER, "failed") ==
               b"1", 30, what="the worker's counters")


class Tmux:
    """A private tmux server with one 80x24 session running a command."""

    def __init__(self, command, env):
        self.binary = shutil.which("tmux")
        if self.binary is None:
            pytest.skip("tmux is not installed (scripts/deps.sh test)")
        self.sock = "celeriac-test-%s" % uuid.uuid4().hex[:12]
        self.env = dict(os.environ)
        self.env.update(env)
        self.env.pop("TMUX", None)
        self.tmux("new-session", "-d", "-x", "80", "-y", "24", "-s", "mon",
                  command)

    def tmux(self, *args):
        return subprocess.run([self.binary, "-L", self.sock, "-f",
                               "/dev/null"] + list(args),
                              capture_output=True, env=self.env, timeout=60,
                              check=True).stdout.decode(errors="replace")

    def screen(self):
        return self.tmux("capture-pane", "-p", "-t", "mon")

    def pane_pid(self):
        return int(self.tmux("display-message", "-p", "-t", "mon",
                             "#{pane_pid}").strip())

    def kill(self):
        try:
            self.tmux("kill-server")
        except subprocess.CalledProcessError:
            pass


def start_monitor(redis_server):
    # After the monitor: its exit status, and whether the terminal is
    # back in canonical mode with echo.
    shell = ("%s monitor --interval 0.2; echo EXITED=$?; "
             "stty -a | tr ' ' '\\n' | grep -x -e '-\\?icanon' -e '-\\?echo' "
             "| tr '\\n' ' '; echo; sleep 600" % PRODUCER_BIN)
    return Tmux("sh -c \"%s\"" % shell.replace('"', '\\"'),
                {"CELERIAC_REDIS_URL": redis_server.url, "LANG": "C.UTF-8"})


def row(screen, first):
    for line in screen.splitlines():
        fields = line.split()
        if fields and fields[0] == first:
            return fields
    return None


def test_monitor_full_screen(r, redis_server, worker, celeriac):
    known_state(r, worker, celeriac)
    t = start_monitor(redis_server)
    try:
        # Rates need two snapshots: wait until they show.
        screen = wait_until(
            lambda: (lambda s: s if row(s, "slow") and row(s, WORKER) and
                     row(s, "slow")[5] != "-" else None)(t.screen()),
            60, what="the monitor's screen")
        lines = screen.splitlines()
        assert lines[0].startswith("celeriac monitor (q quits)"), screen
        assert "prefix celeriac:" in lines[0], screen
        assert re.match(r"throughput +[0-9.]+/s", lines[1]), screen
        assert "queues 3  workers 1  dead letters 1" in lines[2], screen
        # QUEUE LENGTH PENDING LAG CONS IN/s OUT/s OLDEST
        assert row(screen, "slow")[:5] == ["slow", "3", "0", "3", "0"], screen
        assert row(screen, "default")[:5] == ["default", "0", "0", "0",
                                              "1"], screen
        assert row(screen, "fast")[:5] == ["fast", "0", "0", "0", "1"], screen
        # WORKER HOST UP BUSY WIN DONE FAILED /s BEAT
        w = row(screen, WORKER)
        assert w[3] == "0/2" and w[5] == "2" and w[6] == "1", screen
        assert "DEAD LETTERS 1" in screen, screen
        assert "poison-7 WorkerLost: killed by signal 9" in screen, screen
        assert len(lines) <= 24

        t.tmux("send-keys", "-t", "mon", "q")
        after = wait_until(lambda: (lambda s: s if re.search(r"-?icanon -?echo", s) else None)(
            t.screen()), 30, what="the monitor to quit on q")
        assert "EXITED=0" in after, after
        # The alternate screen is gone and the modes are back.
        assert "celeriac monitor" not in after, after
        assert "icanon echo" in after, after
    finally:
        t.kill()


def test_monitor_sigterm_restores_terminal(r, redis_server, worker,
                                           celeriac):
    known_state(r, worker, celeriac)
    t = start_monitor(redis_server)
    try:
        wait_until(lambda: row(t.screen(), WORKER), 60,
                   what="the monitor's screen")
        shell = t.pane_pid()
        pids = wait_until(lambda: child_pids(shell), 30,
                          what="the monitor's pid")
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        after = wait_until(lambda: (lambda s: s if re.search(r"-?icanon -?echo", s) else None)(
            t.screen()), 30, what="the monitor to stop on SIGTERM")
        assert "EXITED=0" in after, after
        assert "celeriac monitor" not in after, after
        assert "icanon echo" in after, after
    finally:
        t.kill()


def test_monitor_small_terminal_keeps_to_its_size(r, redis_server, worker,
                                                  celeriac):
    """Many queues in 80x24: the list is cut with a count of the rest."""
    worker("--name", WORKER)
    for i in range(30):
        r.xadd("celeriac:queue:q%02d" % i, {"msg": "{}"})
    t = start_monitor(redis_server)
    try:
        screen = wait_until(
            lambda: (lambda s: s if "more queues" in s and WORKER in s
                     else None)(t.screen()), 60, what="a cut queue list")
        assert "queues 31" in screen, screen
        assert "DEAD LETTERS 0" in screen, screen
        t.tmux("send-keys", "-t", "mon", "q")
        wait_until(lambda: "EXITED=0" in t.screen(), 30, what="quit")
    finally:
        t.kill()


def test_monitor_once_plain_text(r, worker, celeriac):
    known_state(r, worker, celeriac)
    for args in (["monitor"], ["monitor", "--once"]):
        run = celeriac(*args)  # stdout is a pipe: plain text
        assert run.rc == 0, run
        text = run.text()
        assert "\x1b" not in text, run
        assert row(text, "slow")[:5] == ["slow", "3", "0", "3", "0"], run
        w = row(text, WORKER)
        assert w[5] == "2" and w[6] == "1", run
        assert "poison-7" in text and "DEAD LETTERS 1" in text, run


def test_monitor_bad_usage_and_unreachable_redis(celeriac):
    run = celeriac("monitor", "--interval", "0")
    assert run.rc == 2 and b"--interval" in run.stderr, run
    run = celeriac("monitor", "extra")
    assert run.rc == 2, run
    run = celeriac("monitor", "--once",
                   env={"CELERIAC_REDIS_URL": "redis://127.0.0.1:1/0"})
    assert run.rc == 4, run


def test_monitor_bad_data_in_redis(r, celeriac):
    """Keys of the wrong type, garbage in a worker record and control
    characters in names are shown (escaped), never obeyed or fatal."""
    r.set("celeriac:queue:notastream", "x")
    r.xadd("celeriac:queue:evil\x1b[2J", {"msg": "{}"})
    r.hset("celeriac:worker:odd\x1b]0;x\x07", mapping={
        "host": "h\x1b[31m", "started_at": "yesterday", "in_flight": "-5",
        "concurrency": "99999999999999999999999", "succeeded": "abc"})
    r.zadd("celeriac:workers", {"odd\x1b]0;x\x07": 1, "ghost": 2})
    r.set(DEAD, "not a stream")
    r.set("celeriac:scheduled", "not a set")
    run = celeriac("monitor", "--once")
    assert run.rc == 0, run
    text = run.text()
    assert "\x1b" not in text and "\x07" not in text, run
    assert "notastream" in text and "not a stream" in text, run
    assert "evil\\x1b[2J" in text, run
    assert "odd\\x1b]0;x\\x07" in text and "ghost" in text, run
    assert "gone" in text, run


def test_monitor_survives_redis_going_away(make_redis):
    """Redis stops under the full screen: the monitor says so, keeps
    trying, and still quits on q."""
    server = make_redis()
    server.client().xadd("celeriac:queue:before", {"msg": "{}"})
    t = start_monitor(server)
    try:
        wait_until(lambda: row(t.screen(), "before"), 60,
                   what="the monitor's screen")
        server.stop()
        wait_until(lambda: "Redis unreachable" in t.screen() or
                   "lost the connection" in t.screen(), 60,
                   what="the monitor to report Redis gone")
        t.tmux("send-keys", "-t", "mon", "q")
        after = wait_until(lambda: (lambda s: s if re.search(
            r"-?icanon -?echo", s) else None)(t.screen()), 60,
            what="the monitor to quit")
        assert "EXITED=0" in after, after
    finally:
        t.kill()


def test_monitor_ctrl_z_and_fg(r, redis_server, worker):
    """Ctrl-Z in an interactive shell: the shell's screen is back while
    the monitor is stopped; fg takes the full screen again; q quits."""
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    worker("--name", WORKER)
    t = Tmux("bash --norc --noprofile -i",
             {"CELERIAC_REDIS_URL": redis_server.url, "LANG": "C.UTF-8"})
    try:
        t.tmux("send-keys", "-t", "mon",
               "%s monitor --interval 0.2" % PRODUCER_BIN, "Enter")
        wait_until(lambda: row(t.screen(), WORKER), 60,
                   what="the monitor's screen")
        t.tmux("send-keys", "-t", "mon", "C-z")
        wait_until(lambda: "Stopped" in t.screen(), 30,
                   what="the shell to report the monitor stopped")
        assert "celeriac monitor (q quits)" not in t.screen()
        t.tmux("send-keys", "-t", "mon", "fg", "Enter")
        wait_until(lambda: t.screen().startswith(
            "celeriac monitor (q quits)"), 30, what="the screen again")
        t.tmux("send-keys", "-t", "mon", "q")
        # The shell's prompt is back (keys typed before would go to the
        # monitor).
        wait_until(lambda: re.search(r"\n[^\n]*[#$] *\n*$", t.screen()) and
                   "(q quits)" not in t.screen(), 30,
                   what="the shell's prompt after q")
        t.tmux("send-keys", "-t", "mon", "echo EXITED=$?", "Enter")
        wait_until(lambda: "EXITED=0" in t.screen(), 30,
                   what="the monitor to quit after fg")
    finally:
        t.kill()


def test_monitor_follows_a_resized_terminal(r, redis_server, worker):
    """30 queues are cut at 80x24 and all shown once the window grows."""
    worker("--name", WORKER)
    for i in range(30):
        r.xadd("celeriac:queue:q%02d" % i, {"msg": "{}"})
    t = start_monitor(redis_server)
    try:
        wait_until(lambda: "more queues" in t.screen(), 60,
                   what="a cut queue list")
        t.tmux("resize-window", "-t", "mon", "-x", "120", "-y", "60")
        screen = wait_until(
            lambda: (lambda s: s if row(s, "q29") and "more queues" not in s
                     else None)(t.screen()), 60, what="the whole list")
        assert row(screen, "q00") and row(screen, WORKER), screen
        t.tmux("send-keys", "-t", "mon", "q")
        wait_until(lambda: "EXITED=0" in t.screen(), 30, what="quit")
    finally:
        t.kill()
