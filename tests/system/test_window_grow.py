# SPDX-License-Identifier: MIT
"""The adaptive window follows `celeriac control grow/shrink`
(worker/window.h): its lower bound is one task per running child, so a
grown pool gets a task for every new child at once, and a shrunk one
holds no more than its children need.

The worker's heartbeat (every 0.2 s here) shows the window; the tasks'
own started_at/finished_at (stamped by the children) show what ran at
the same time.  Long tasks make the window as small as it gets: one
task per child."""

from datetime import datetime, timezone

from harness import enqueue_many, result_of, wait_until
from watchlib import ask, wait_answering

# About 0.5-1 s of SHA-512 on a quiet core; only the overlap matters.
LONG = 2000000


def stamp(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def long_task(tid):
    return {"task": "hash", "id": tid,
            "args": {"data": tid, "iterations": LONG}}


def window_of(r, name):
    v = r.hget("celeriac:worker:" + name, "window")
    return None if v is None else int(v)


def run_long(r, ids):
    enqueue_many(r, [long_task(t) for t in ids])
    docs = {}

    def done():
        for t in ids:
            if t not in docs:
                d = result_of(r, t)
                if d is None:
                    return False
                docs[t] = d
        return True
    wait_until(done, 300, interval=0.1,
               what="the results of %d long tasks" % len(ids))
    assert all(d["status"] == "SUCCESS" for d in docs.values()), docs
    return docs


def test_grown_children_get_tasks_at_once(r, worker, celeriac):
    """One child on long tasks holds one task; grown to four, the four
    tasks queued next run side by side (before, the window stayed at the
    starting child count and the new children sat idle)."""
    w = worker("--name", "wgrow", "--heartbeat", "0.2", concurrency=1)
    wait_answering(celeriac, "wgrow")
    run_long(r, ["warm"])
    wait_until(lambda: window_of(r, "wgrow") == 1, 30,
               what="a window of one task after a long one")
    rc, doc = ask(celeriac, "control", "grow", "3")
    assert rc == 0 and doc["replies"]["wgrow"]["result"]["concurrency"] == 4
    w.wait_children(4)
    wait_until(lambda: window_of(r, "wgrow") == 4, 30,
               what="the window to follow the grown pool to 4")
    docs = run_long(r, ["g%d" % i for i in range(4)])
    starts = sorted(stamp(d["started_at"]) for d in docs.values())
    first_end = min(stamp(d["finished_at"]) for d in docs.values())
    assert starts[-1] < first_end, (
        "the 4 tasks did not run at once on 4 children: starts %s, first "
        "end %s" % (starts, first_end))
    # Shrunk back to one child: one task again.
    rc, doc = ask(celeriac, "control", "shrink", "3")
    assert rc == 0 and doc["replies"]["wgrow"]["result"]["concurrency"] == 1
    wait_until(lambda: len(w.children()) == 1, 30,
               what="the pool to shrink to one child")
    wait_until(lambda: window_of(r, "wgrow") == 1, 30,
               what="the window to follow the shrunk pool to 1")
    assert w.alive()


def test_grown_children_run_short_tasks(r, worker, celeriac):
    """Results from children past the starting count are measured like
    the others (the worker kept a time per child for the starting
    children only and wrote past it for a grown one; the sanitizer build
    of this test caught it): a grown pool runs a stream of short tasks to
    the end, every result is a success, and the worker lives on."""
    w = worker("--name", "wshort", concurrency=1)
    wait_answering(celeriac, "wshort")
    rc, doc = ask(celeriac, "control", "grow", "3")
    assert rc == 0 and doc["replies"]["wshort"]["result"]["concurrency"] == 4
    w.wait_children(4)
    n = 2000
    ids = ["s%d" % i for i in range(n)]
    enqueue_many(r, [{"task": "hash", "id": t,
                      "args": {"data": t, "iterations": 200}} for t in ids])
    wait_until(lambda: r.exists(*("celeriac:result:" + t for t in ids))
               == n, 120, interval=0.1, what="the results of %d tasks" % n)
    for t in ids[::97] + ids[-1:]:
        assert result_of(r, t)["status"] == "SUCCESS", result_of(r, t)
    assert w.alive()
    assert len(w.children()) == 4
