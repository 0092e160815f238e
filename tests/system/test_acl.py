# SPDX-License-Identifier: MIT
"""The Redis ACL users of docs/SECURITY.md, exactly as written there: a
worker and a producer that each log in as their own restricted user do the
whole round (send and wait, a delayed task moved by the worker, a retry, a
dead letter, status and dead listings, periodic tasks fired by the
worker's --beat process) without one NOPERM, and the
producer's user cannot run the commands a worker needs."""

import json
import os
import re
import urllib.request

import redis

from harness import (QUEUE, assert_success, consumer_group_exists,
                     free_port, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
SECURITY_MD = os.path.join(HERE, "..", "..", "docs", "SECURITY.md")


def acl_rules():
    """The ACL SETUSER lines of docs/SECURITY.md, by user name."""
    with open(SECURITY_MD) as f:
        text = f.read()
    rules = {}
    for line in text.splitlines():
        m = re.match(r"\s+ACL SETUSER (celeriac-\w+) (.*)$", line)
        if m:
            rules[m.group(1)] = m.group(2).split()
    assert {"celeriac-worker", "celeriac-producer"} <= set(rules), rules
    return rules


def setup_users(client):
    passwords = {}
    for user, words in acl_rules().items():
        pw = "pw-%s-%s" % (user, os.urandom(4).hex())
        words = [">" + pw if w.startswith(">") else w for w in words]
        client.execute_command("ACL", "SETUSER", user, *words)
        passwords[user] = pw
    return passwords


def test_documented_acl_users_do_the_whole_round(make_redis, worker,
                                                 celeriac, tmp_dir):
    srv = make_redis()
    admin = srv.client(socket_timeout=60)
    pw = setup_users(admin)
    url_w = "redis://celeriac-worker:@127.0.0.1:%d/0" % srv.port
    url_p = "redis://celeriac-producer:@127.0.0.1:%d/0" % srv.port
    # With the features whose scripts call commands of their own: the
    # cluster-wide limits, the metrics' queue gauges (their lease) and
    # the beat process (its lease, start and fire scripts).
    mport = free_port()
    beat = os.path.join(tmp_dir, "acl.beat")
    with open(beat, "w") as f:
        f.write("tick @every 1s hash {\"data\": \"tick\"}\n")
    w = worker("--heartbeat", "0.2", "--rate-limit", "hash=1000/s",
               "--concurrency-limit", "hash=8", "--metrics",
               "127.0.0.1:%d" % mport, "--beat", beat, redis_url=url_w,
               wait_ready=False,
               env={"CELERIAC_REDIS_PASSWORD": pw["celeriac-worker"]})
    wait_until(lambda: not w.alive() or consumer_group_exists(admin), 30,
               what="the worker to create its group")
    assert w.alive(), w.log()
    penv = {"CELERIAC_REDIS_URL": url_p,
            "CELERIAC_REDIS_PASSWORD": pw["celeriac-producer"]}

    run = celeriac("send", "hash", "--arg", "data=acl", "--wait",
                   "--timeout", "60", env=penv)
    assert run.rc == 0, run
    assert_success(json.loads(run.stdout), "sha512", b"acl")

    run = celeriac("send", "hash", "--arg", "data=later", "--countdown",
                   "0.3", "--wait", "--timeout", "60", env=penv)
    assert run.rc == 0, run
    assert_success(json.loads(run.stdout), "sha512", b"later")

    # A poison message: dead-lettered, so the worker writes the dead stream.
    admin.xadd(QUEUE, {"msg": "{not json"})
    wait_until(lambda: admin.exists("celeriac:dead") or
               admin.xlen(QUEUE) == 0, 60, what="the bad message to end")

    for args in (("status",), ("status", "--json"), ("dead",)):
        run = celeriac(*args, env=penv)
        assert run.rc == 0, run
        assert b"NOPERM" not in run.stderr, run

    def gauges():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % mport,
                                        timeout=10) as resp:
                text = resp.read().decode()
        except OSError:
            return None
        return 'celeriac_queue_length{queue="default"' in text
    wait_until(gauges, 60, what="the queue gauges under the worker's ACL")

    wait_until(lambda: len(admin.keys("celeriac:result:beat:tick:*")) >= 2,
               60, what="two periodic tasks fired by the beat process, run")
    log = w.log()
    assert "NOPERM" not in log, log[-3000:]

    # The producer's user is not a worker's: it cannot read as a consumer
    # group nor acknowledge.
    p = redis.Redis(host="127.0.0.1", port=srv.port,
                    username="celeriac-producer",
                    password=pw["celeriac-producer"])
    for cmd in (("XREADGROUP", "GROUP", "celeriac", "x", "STREAMS", QUEUE,
                 ">"), ("XACK", QUEUE, "celeriac", "0-1")):
        try:
            p.execute_command(*cmd)
        except redis.exceptions.NoPermissionError:
            continue
        except redis.ResponseError as e:
            assert "NOPERM" in str(e), e
            continue
        raise AssertionError("the producer's user may run %s" % cmd[0])
    p.close()
