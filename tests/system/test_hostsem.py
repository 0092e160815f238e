# SPDX-License-Identifier: MIT
"""The cluster-wide per-host semaphore (protocol/scripts.c, scripts_hostsem)
run directly with redis-py, exactly as a worker calls it: at most N leases
at a time, an expired lease (its holder died) frees its place, renew keeps a
lease, release gives it back, and a key holding something else is refused
and left as it was.  Host names that could leave the prefix are refused by
keys_hostsem() before any key is built (tests/unit/test_keys.c)."""

import json
import os
import re
import time

import pytest
import redis

from harness import ROOT, SLOW

KEY = "celeriac:hostsem:example.org"


def hostsem_script():
    src = open(os.path.join(ROOT, "protocol", "scripts.c")).read()
    body = re.search(r"scripts_hostsem\[\] =\n(.*?);\n", src, re.S).group(1)
    return "".join(json.loads(lit)
                   for lit in re.findall(r'"(?:[^"\\]|\\.)*"', body))


@pytest.fixture
def sem(r):
    """sem(op, lease, *more) -> the script's reply on KEY."""
    sha = r.script_load(hostsem_script())

    def call(op, lease, *more, key=KEY):
        return r.evalsha(sha, 1, key, op, lease, *more)

    return call


def redis_ms(r):
    s, us = r.time()
    return s * 1000 + us // 1000


def test_at_most_n_leases(r, sem):
    for i in range(3):
        assert sem("acquire", "w1/%d/1" % i, 60000, 3) == 1
    assert r.zcard(KEY) == 3
    before = redis_ms(r)
    again = sem("acquire", "w2/0/1", 60000, 3)
    # Refused: the answer is when the earliest lease expires.
    first = min(s for _, s in r.zrange(KEY, 0, -1, withscores=True))
    assert again == int(first)
    assert again >= before + 60000 - 5000 * SLOW
    assert r.zcard(KEY) == 3
    assert r.zscore(KEY, "w2/0/1") is None
    # A lease already held is kept (a repeated acquire is harmless)...
    assert sem("acquire", "w1/1/1", 60000, 3) == 1
    assert r.zcard(KEY) == 3
    # ...and a lower limit, from another worker's option, is obeyed.
    assert sem("acquire", "w3/0/1", 60000, 2) > 1
    # The key lives for two lease times, not forever.
    ttl = r.pttl(KEY)
    assert 0 < ttl <= 120000


def test_dead_holders_lease_expires(r, sem):
    """A holder that stops renewing loses its place once its lease time
    has passed, measured on Redis' clock."""
    assert sem("acquire", "dead/0/1", 60000, 1) == 1
    assert sem("acquire", "live/0/1", 60000, 1) > 1
    # Its lease ran out: as if 60 s had passed without a renew.
    r.zadd(KEY, {"dead/0/1": redis_ms(r) - 1}, xx=True)
    assert sem("acquire", "live/0/1", 60000, 1) == 1
    assert r.zrange(KEY, 0, -1) == [b"live/0/1"]

    # The same in real time, with a short lease nobody renews.
    r.delete(KEY)
    lease_ms = 300
    assert sem("acquire", "dead/1/1", lease_ms, 1) == 1
    expiry = r.zscore(KEY, "dead/1/1")
    deadline = time.monotonic() + 30 * SLOW
    while True:
        got = sem("acquire", "live/1/1", 60000, 1)
        if got == 1:
            break
        # Refused only while the dead lease has not expired.
        assert got == int(expiry)
        assert time.monotonic() < deadline, "the dead lease never expired"
        time.sleep(0.02)
    assert redis_ms(r) >= expiry
    assert r.zrange(KEY, 0, -1) == [b"live/1/1"]


def test_renew(r, sem):
    assert sem("acquire", "w/0/1", 1000, 1) == 1
    old = r.zscore(KEY, "w/0/1")
    assert sem("renew", "w/0/1", 60000) == 1
    new = r.zscore(KEY, "w/0/1")
    assert new >= old + 59000 - 5000 * SLOW
    assert r.pttl(KEY) > 60000
    # A renewed lease keeps others out past its first expiry.
    assert sem("acquire", "other/0/1", 60000, 1) == int(new)
    # A lease that is gone is not brought back by a renew.
    assert sem("renew", "nobody/0/1", 60000) == 0
    assert r.zscore(KEY, "nobody/0/1") is None
    assert r.zcard(KEY) == 1
    # Nor on a key that does not exist (nothing is created).
    assert sem("renew", "w/0/1", 60000,
               key="celeriac:hostsem:gone.example") == 0
    assert r.exists("celeriac:hostsem:gone.example") == 0


def test_release(r, sem):
    assert sem("acquire", "a/0/1", 60000, 1) == 1
    assert sem("acquire", "b/0/1", 60000, 1) > 1
    assert sem("release", "a/0/1") == 1
    assert sem("release", "a/0/1") == 0
    assert sem("acquire", "b/0/1", 60000, 1) == 1
    assert sem("release", "b/0/1") == 1
    assert r.exists(KEY) == 0


@pytest.mark.parametrize("kind", ["string", "list", "hash", "stream"])
def test_wrong_type_refused_and_untouched(r, sem, kind):
    if kind == "string":
        r.set(KEY, "precious")
    elif kind == "list":
        r.rpush(KEY, "a", "b")
    elif kind == "hash":
        r.hset(KEY, "f", "v")
    else:
        r.xadd(KEY, {"f": "v"})
    r.persist(KEY)
    before = r.dump(KEY)
    for args in (("acquire", "w/0/1", 60000, 5), ("renew", "w/0/1", 60000),
                 ("release", "w/0/1")):
        with pytest.raises(redis.ResponseError) as e:
            sem(*args)
        assert str(e.value).startswith("WRONGTYPE hostsem: %s holds a" % KEY)
    assert r.dump(KEY) == before
    assert r.ttl(KEY) == -1


@pytest.mark.parametrize("args", [
    ("acquire", "w/0/1", 60000),          # no limit
    ("acquire", "w/0/1", 60000, 0),       # limit 0
    ("acquire", "w/0/1", 0, 1),           # lease time 0
    ("acquire", "w/0/1", "1e3", 1),       # not a whole number
    ("acquire", "", 60000, 1),            # no lease id
    ("renew", "w/0/1", -5),
    ("take", "w/0/1", 60000, 1),          # unknown operation
])
def test_bad_calls_change_nothing(r, sem, args):
    with pytest.raises(redis.ResponseError) as e:
        sem(*args)
    assert "hostsem" in str(e.value)
    assert r.exists(KEY) == 0
