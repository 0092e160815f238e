# SPDX-License-Identifier: MIT
"""Celery producer.  Bulk: every task through one producer connection
(apply_async with producer=, the path group().apply_async also takes), or
group().apply_async with --variant group.  Latency: apply_async + get()."""

import time

import pyproducer
from celery import group

from celery_app import app, hash_task


def main():
    args = pyproducer.parse(lambda p: p.add_argument(
        "--variant", choices=("producer", "group"), default="producer"))
    todo = pyproducer.tasks(args)
    kw = {"iterations": args.iterations} if args.iterations > 1 else None
    if args.mode == "latency":
        lat = []
        for tid, data in todo:
            t = time.perf_counter()
            hash_task.apply_async((data,), kw, task_id=tid).get(timeout=60)
            lat.append(time.perf_counter() - t)
        pyproducer.report(0, 0, len(todo), lat)
        return
    t0 = pyproducer.now()
    if args.variant == "group":
        for part in pyproducer.chunks(todo, args.chunk):
            group(hash_task.signature((data,), kw, task_id=tid)
                  for tid, data in part).apply_async()
    else:
        with app.producer_or_acquire() as producer:
            for tid, data in todo:
                hash_task.apply_async((data,), kw, task_id=tid,
                                      producer=producer)
    pyproducer.report(t0, pyproducer.now(), len(todo))


if __name__ == "__main__":
    main()
