# SPDX-License-Identifier: MIT
"""RQ producer.  Bulk: Queue.enqueue_many in pipelines of --chunk jobs.
Latency: enqueue one job, poll its status until finished (RQ 1.13 has no
blocking wait for a result)."""

import os
import time

import pyproducer
from redis import Redis
from rq import Queue
from rq.job import JobStatus

from rq_tasks import hash_task

RESULT_TTL = 86400


def main():
    args = pyproducer.parse()
    conn = Redis.from_url(os.environ["BENCH_REDIS"])
    queue = Queue("bench", connection=conn)
    todo = pyproducer.tasks(args)
    kw = {"iterations": args.iterations} if args.iterations > 1 else None
    if args.mode == "latency":
        lat = []
        for tid, data in todo:
            t = time.perf_counter()
            job = queue.enqueue(hash_task, args=(data,), kwargs=kw,
                                job_id=tid, result_ttl=RESULT_TTL)
            while (status := job.get_status(refresh=True)) \
                    != JobStatus.FINISHED:
                if status == JobStatus.FAILED:
                    raise SystemExit(f"rq: job {tid} failed")
                time.sleep(0.0002)
            lat.append(time.perf_counter() - t)
        pyproducer.report(0, 0, len(todo), lat)
        return
    t0 = pyproducer.now()
    for part in pyproducer.chunks(todo, args.chunk):
        with conn.pipeline() as pipe:
            queue.enqueue_many(
                [Queue.prepare_data(hash_task, args=(data,), kwargs=kw,
                                    job_id=tid, result_ttl=RESULT_TTL)
                 for tid, data in part], pipeline=pipe)
            pipe.execute()
    pyproducer.report(t0, pyproducer.now(), len(todo))


if __name__ == "__main__":
    main()
