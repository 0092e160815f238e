# SPDX-License-Identifier: MIT
"""What the Python producers (Celery, RQ) share: the command line, the
payloads (bench/workloads.py) and the JSON line they print when done.

    --mode bulk     enqueue count tasks as fast as the library allows
    --mode latency  one task at a time, wait for its result, record the time
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import workloads  # noqa: E402


def parse(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--count", type=int, required=True)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--iterations", type=int, default=1)
    p.add_argument("--start", type=int, default=0)
    p.add_argument("--filler", required=True)
    p.add_argument("--mode", choices=("bulk", "latency"), default="bulk")
    p.add_argument("--chunk", type=int, default=1000)
    if extra:
        extra(p)
    return p.parse_args()


def tasks(args):
    """(task id, payload) for every task, built before the clock starts."""
    with open(args.filler) as f:
        filler = f.read()
    return [(workloads.task_id(i), workloads.payload(filler, i, args.size))
            for i in range(args.start, args.start + args.count)]


def chunks(items, n):
    for k in range(0, len(items), n):
        yield items[k:k + n]


def report(t_start, t_end, count, latencies=None):
    out = {"t_start": t_start, "t_end": t_end, "count": count}
    if latencies is not None:
        out["latencies"] = latencies
    print(json.dumps(out), flush=True)


def now():
    return time.time()
