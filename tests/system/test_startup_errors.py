# SPDX-License-Identifier: MIT
"""A configuration Redis refuses at start-up (a wrong or missing password,
a database number the server does not have, a queue key that is not a
stream) makes the worker exit promptly with status 78 (EX_CONFIG) and one
clear ERROR line, so that systemd and Docker see the failure; before, it
retried forever with four lines per attempt, one of them claiming the queue
key had the wrong type.  A transient error (nothing listening yet) is
retried as before, and so is a password rotated while the worker runs:
one line per connection and backoff step, and it serves again once the
password is back."""

import threading
import time

import redis

from faultlib import AofRedis
from harness import (QUEUE, assert_success, enqueue, free_port,
                     hashlib_digest, wait_result, wait_until)

EXIT_CONFIG = 78
PROMPT = 10  # seconds: the set-up answers in milliseconds
LOAD_KEYS = 30000
LOAD_DELAY_US = 100  # per key: Redis loads for about 3 s


def problem_lines(log):
    return [l for l in log.splitlines() if " ERROR " in l or " WARN " in l]


def exits_with_one_line(w, *words):
    """The worker exits 78 within PROMPT s with exactly one ERROR/WARN
    line, which mentions each of words; returns that line."""
    rc = w.wait(PROMPT)
    log = w.log()
    assert rc == EXIT_CONFIG, "exit status %s, not %d:\n%s" % (
        rc, EXIT_CONFIG, log)
    lines = problem_lines(log)
    assert len(lines) == 1, "expected one error line:\n" + log
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert "status 78" in lines[0], lines[0]
    return lines[0]


def test_wrong_password_exits_78(make_redis, worker):
    srv = make_redis("--requirepass", "right-one")
    w = worker(redis_url="redis://:wrong-one@127.0.0.1:%d/0" % srv.port,
               wait_ready=False)
    exits_with_one_line(w, "AUTH", "WRONGPASS", "password")


def test_missing_password_exits_78(make_redis, worker):
    srv = make_redis("--requirepass", "right-one")
    w = worker(redis_url=srv.url, wait_ready=False)
    exits_with_one_line(w, "NOAUTH", "password")


def test_database_out_of_range_exits_78(redis_server, worker):
    w = worker(redis_url="redis://127.0.0.1:%d/99" % redis_server.port,
               wait_ready=False)
    exits_with_one_line(w, "SELECT 99", "database number")


def test_queue_key_of_wrong_type_exits_78(r, worker):
    r.set(QUEUE, "not a stream")
    w = worker("-Q", "fine,default", wait_ready=False)
    exits_with_one_line(w, "WRONGTYPE", "celeriac:queue:default ",
                        "other than a stream")
    assert r.get(QUEUE) == b"not a stream"  # left alone


def test_nothing_listening_yet_is_retried(worker, tmp_dir):
    srv = AofRedis()
    srv.port = free_port()
    try:
        w = worker(redis_url=srv.url, wait_ready=False)
        # Backoff 0.1, 0.2, 0.4, 0.8 s...: several attempts fail meanwhile.
        wait_until(lambda: w.log().count("cannot connect") >= 2 or
                   not w.alive(), 30, what="two failed connection attempts")
        assert w.alive(), w.log()
        srv.start()
        client = srv.client(socket_timeout=10)
        wait_until(lambda: client.zcard("celeriac:workers") == 1, 30,
                   what="the worker to register once Redis is up")
        enqueue(client, {"task": "hash", "id": "late-1",
                         "args": {"data": "late", "algorithm": "sha256"}})
        assert_success(wait_result(client, "late-1", 30), "sha256", "late",
                       digest=hashlib_digest("sha256", b"late"))
        assert w.stop() == 0
    finally:
        srv.cleanup()


def test_loading_at_start_is_retried(worker, tmp_dir):
    """Redis still loading its data when the worker starts: every set-up
    command but AUTH and SELECT answers LOADING, which is transient."""
    srv = AofRedis(extra=("--enable-debug-command", "local",
                          "--key-load-delay", LOAD_DELAY_US,
                          "--loading-process-events-interval-bytes", 1024))
    starter = None
    try:
        srv.start()
        client = srv.client(socket_timeout=10)
        client.execute_command("DEBUG", "POPULATE", LOAD_KEYS, "pad:", 8)
        client.bgrewriteaof()
        wait_until(lambda: client.info("persistence")[
            "aof_rewrite_in_progress"] == 0 and client.info("persistence")[
            "aof_rewrite_scheduled"] == 0, 60, interval=0.1,
            what="the AOF rewrite")
        client.close()
        assert srv.shutdown() == 0
        # Start Redis (start() returns once it has loaded, LOAD_KEYS times
        # the delay), and the worker as soon as Redis answers LOADING.
        starter = threading.Thread(target=srv.start, daemon=True)
        starter.start()
        probe = srv.client(socket_timeout=1)

        def loading():
            try:
                probe.dbsize()
            except redis.BusyLoadingError:
                return True
            except (redis.ConnectionError, redis.TimeoutError):
                return False
            raise AssertionError("Redis loaded before the worker started; "
                                 "raise LOAD_KEYS")
        wait_until(loading, 30, interval=0.01, what="Redis to be loading")
        probe.close()
        w = worker("--name", "early", redis_url=srv.url, wait_ready=False)
        starter.join(60)
        client = srv.client(socket_timeout=10)
        wait_until(lambda: client.zscore("celeriac:workers", "early"), 30,
                   what="the worker to register once Redis has loaded")
        assert w.alive(), w.log()
        assert "still loading its data" in w.log(), \
            "the worker never met LOADING:\n" + w.log()
        assert "status 78" not in w.log()
        enqueue(client, {"task": "hash", "id": "loaded-1",
                         "args": {"data": "loaded", "algorithm": "sha256"}})
        assert_success(wait_result(client, "loaded-1", 30), "sha256",
                       "loaded", digest=hashlib_digest("sha256", b"loaded"))
        assert w.stop() == 0
    finally:
        if starter is not None:
            starter.join(60)
        srv.cleanup()


def test_password_rotated_while_running_keeps_retrying(make_redis, worker):
    srv = make_redis("--requirepass", "first")
    client = srv.client(socket_timeout=10)
    w = worker("--name", "rotated",
               redis_url="redis://:first@127.0.0.1:%d/0" % srv.port,
               client=client)
    wait_until(lambda: client.zscore("celeriac:workers", "rotated"), 30,
               what="the worker to register")
    client.config_set("requirepass", "second")
    me = int(client.client_id())
    t0 = time.monotonic()
    for c in client.client_list():
        if int(c["id"]) != me:
            client.client_kill_filter(_id=c["id"])
    # Each connection fails its AUTH, once per attempt; the backoff grows
    # from 0.1 s to 5 s (+-25 %).
    wait_until(lambda: w.log().count("refused AUTH") >= 6, 60,
               what="several refused attempts")
    assert w.alive(), "the worker exited on a rotated password:\n" + w.log()
    client.config_set("requirepass", "first")
    wait_until(lambda: w.log().count("connected to Redis at") >= 2, 30,
               what="both connections to come back")
    elapsed = time.monotonic() - t0
    log = w.log()
    refused = log.count("refused AUTH")
    # Attempts per connection in `elapsed` s at most: the doubling steps
    # (0.075 s and up) plus one per 3.75 s (5 s - 25 %) after them.
    bound = 2 * (8 + elapsed / 3.75)
    assert refused <= bound, "%d refused-AUTH lines in %.1f s" % (
        refused, elapsed)
    after = log[log.index("lost the"):]
    others = [l for l in problem_lines(after)
              if "refused AUTH" not in l and "lost the" not in l]
    assert not others, "more than one line per attempt:\n" + "\n".join(
        others)
    assert "status 78" not in log
    enqueue(client, {"task": "hash", "id": "rotated-1",
                     "args": {"data": "again", "algorithm": "sha256"}})
    assert_success(wait_result(client, "rotated-1", 30), "sha256", "again",
                   digest=hashlib_digest("sha256", b"again"))
