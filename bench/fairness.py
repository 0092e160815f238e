# SPDX-License-Identifier: MIT
"""The fairness rows: long and short tasks on two workers, makespan
against the ideal (issue 10; the scenarios of tests/system/
test_fairness.py as a benchmark).

Two celeriac workers of one child each share one queue.

- mixed: both workers connected (their consumers exist), then the queue
  filled: 300 tasks of about 0.1 ms (SHA-256, 300 iterations), then 8
  times one task of about 2 s (SHA-512, 5,000,000 iterations) followed by
  300 short ones, then 600 short ones.
- late: the queue filled first with 16 tasks of about 0.5 s each
  followed by 20 short ones; one worker started, the other 1 s after the
  first one's first result.

From the results (the children stamp started_at, finished_at and
runtime_us): the makespan (first start to last finish), the ideal
makespan (all service time spread evenly over the two children; late:
the first worker alone until the second started) and the longest task.
The target: makespan <= ideal + one longest task.  A worker that reads
many tasks at once (a fixed window of 512) takes several long tasks and
runs them one after the other while the other worker sits idle.
"""

import json
import os
import time
from datetime import datetime, timezone

import procs
from procs import BenchError

QUEUE = "celeriac:queue:default"
GROUP = "celeriac"
RESULT = "celeriac:result:"
LONG_ITERATIONS = 5_000_000
SHORT_ITERATIONS = 300
LEAD, N_LONG, GAP, TAIL = 300, 8, 300, 600
TIMEOUT_S = 300
# The late scenario: 16 tasks of ~0.5 s, each followed by 20 short ones.
LATE_LONG, LATE_GAP, LATE_AFTER_S = 16, 20, 1.0


def messages(scenario="mixed"):
    """(task messages, ids) of the queue, in queue order."""
    msgs = []
    if scenario == "late":
        for k in range(LATE_LONG):
            msgs.append({"task": "hash", "id": f"long-{k}",
                         "args": {"data": f"long {k}", "algorithm": "sha512",
                                  "iterations": LONG_ITERATIONS // 4}})
            for j in range(LATE_GAP):
                i = k * LATE_GAP + j
                msgs.append({"task": "hash", "id": f"short-{i}",
                             "args": {"data": f"short {i}",
                                      "algorithm": "sha256",
                                      "iterations": SHORT_ITERATIONS}})
        return msgs, [m["id"] for m in msgs]

    def short(i):
        msgs.append({"task": "hash", "id": f"short-{i}",
                     "args": {"data": f"short {i}", "algorithm": "sha256",
                              "iterations": SHORT_ITERATIONS}})

    for i in range(LEAD):
        short(i)
    for k in range(N_LONG):
        msgs.append({"task": "hash", "id": f"long-{k}",
                     "args": {"data": f"long {k}", "algorithm": "sha512",
                              "iterations": LONG_ITERATIONS}})
        for j in range(GAP):
            short(LEAD + k * GAP + j)
    for j in range(TAIL):
        short(LEAD + N_LONG * GAP + j)
    return msgs, [m["id"] for m in msgs]


def _stamp(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=timezone.utc).timestamp()


def _consumers(client):
    try:
        return {c["name"].decode() for c in
                client.xinfo_consumers(QUEUE, GROUP)}
    except Exception:  # no stream or group yet
        return set()


def _spawn(ctx, system, name, tag):
    cmd = system.worker_cmds()[0]
    cmd[cmd.index("--concurrency") + 1] = "1"
    cmd += ["--name", name]
    return procs.spawn(cmd, log=ctx.log_path(f"fairness-{tag}-{name}.log"))


def _fill(client, scenario):
    msgs, ids = messages(scenario)
    pipe = client.pipeline(transaction=False)
    for m in msgs:
        pipe.xadd(QUEUE, {"msg": json.dumps(m)})
    pipe.execute()
    return ids


def run_once(ctx, system, tag, scenario="mixed"):
    """One fairness run of `system` (its worker options, with
    --concurrency 1 and names of its own); returns the record.
    scenario "mixed": both workers connected, then the queue filled;
    "late": the queue filled, one worker started, the other
    LATE_AFTER_S after the first one's first result."""
    client = ctx.redis.client
    ctx.redis.flush()
    names = [f"fair-a-{tag}", f"fair-b-{tag}"]
    workers = []
    try:
        if scenario == "late":
            ids = _fill(client, scenario)
            workers.append(_spawn(ctx, system, names[0], tag))
            t0 = time.time()
            while not client.keys(RESULT + "*"):
                if workers[0].poll() is not None or \
                        time.time() - t0 > TIMEOUT_S:
                    raise BenchError("fairness: the first worker ran "
                                     f"nothing; see {ctx.log_dir}")
                time.sleep(0.05)
            time.sleep(LATE_AFTER_S)
            workers.append(_spawn(ctx, system, names[1], tag))
            t_late = time.time()
        else:
            for name in names:
                workers.append(_spawn(ctx, system, name, tag))
            t_late = None
        deadline = time.time() + 30
        while _consumers(client) != set(names):
            for w in workers:
                if w.poll() is not None:
                    raise BenchError(f"fairness: worker exited with "
                                     f"{w.returncode}; see {ctx.log_dir}")
            if time.time() > deadline:
                raise BenchError("fairness: the workers did not connect "
                                 f"within 30 s; see {ctx.log_dir}")
            time.sleep(0.05)
        if scenario != "late":
            ids = _fill(client, scenario)
        t0 = time.time()
        docs = {}
        while len(docs) < len(ids):
            if time.time() - t0 > TIMEOUT_S:
                raise BenchError(f"fairness: {len(docs)}/{len(ids)} results "
                                 f"after {TIMEOUT_S} s; see {ctx.log_dir}")
            for w in workers:
                if w.poll() is not None:
                    raise BenchError(f"fairness: worker exited with "
                                     f"{w.returncode}; see {ctx.log_dir}")
            missing = [i for i in ids if i not in docs]
            for i, raw in zip(missing, client.mget(
                    [RESULT + i for i in missing])):
                if raw is not None:
                    docs[i] = json.loads(raw)
            time.sleep(0.2)
    finally:
        procs.stop(workers)
    bad = [i for i, d in docs.items() if d.get("status") != "SUCCESS"]
    if bad:
        raise BenchError(f"fairness: {len(bad)} tasks failed, e.g. "
                         f"{docs[bad[0]]}")
    starts = [_stamp(d["started_at"]) for d in docs.values()]
    ends = [_stamp(d["finished_at"]) for d in docs.values()]
    service = [d["runtime_us"] / 1e6 for d in docs.values()]
    per_worker = {}
    for tid, d in docs.items():
        w = per_worker.setdefault(d["worker"], {"tasks": 0, "long": 0})
        w["tasks"] += 1
        w["long"] += tid.startswith("long-")
    makespan = max(ends) - min(starts)
    # Late: one worker alone until the other started.
    alone = max(0.0, t_late - min(starts)) if t_late else 0.0
    ideal = (sum(service) + alone) / 2
    longest = max(service)
    return {"scenario": scenario, "makespan_s": makespan, "ideal_s": ideal, "longest_s": longest,
            "over_ideal_in_longest": (makespan - ideal) / longest,
            "met": makespan <= ideal + longest,
            "long_per_worker": sorted(w["long"] for w in
                                      per_worker.values()),
            "workers": per_worker}


def line(rec):
    return (f"makespan {rec['makespan_s']:.2f} s, ideal {rec['ideal_s']:.2f}"
            f" s, longest task {rec['longest_s']:.2f} s: ideal + "
            f"{rec['over_ideal_in_longest']:.2f} x longest "
            f"({'met' if rec['met'] else 'NOT met'}), long tasks per worker "
            f"{rec['long_per_worker']}")
