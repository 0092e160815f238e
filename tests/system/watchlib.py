# SPDX-License-Identifier: MIT
"""Helpers of the tests of events, inspect/control and metrics."""

import json

from harness import wait_until


def ask(celeriac, verb, *args, timeout=2):
    """Runs `celeriac VERB --json --timeout T ARGS...` -> (rc, document)."""
    run = celeriac(verb, "--json", "--timeout", timeout, *args)
    assert run.rc in (0, 1), run
    return run.rc, json.loads(run.stdout)


def wait_answering(celeriac, *names):
    """Waits until every named worker answers a ping: its control reader
    is up (requests sent before it is are not for it)."""
    def answered():
        rc, doc = ask(celeriac, "inspect", "ping", timeout=0.5)
        return all(n in doc["replies"] for n in names)
    wait_until(answered, 60, what="workers %s to answer a ping" % (names,))


def wait_registered(r, name):
    wait_until(lambda: r.zscore("celeriac:workers", name) is not None and
               r.exists("celeriac:worker:" + name), 30,
               what="worker %s to register" % name)


def events(celeriac, count=1000):
    """The events stream as a list of dicts (celeriac events --json)."""
    run = celeriac("events", "--json", "--count", count)
    assert run.rc == 0, run
    return [json.loads(line) for line in run.text().splitlines() if line]
