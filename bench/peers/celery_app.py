# SPDX-License-Identifier: MIT
"""The Celery peer: one task, SHA-512 of its payload, Redis broker on db 0
and Redis result backend on db 1 (so the bench counts results with DBSIZE).
Settings come from the environment the bench sets."""

import hashlib
import os

import requests
from celery import Celery

app = Celery("bench", broker=os.environ["BENCH_BROKER"],
             backend=os.environ["BENCH_BACKEND"])
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=86400,
    worker_disable_rate_limits=True,
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)


@app.task(name="hash")
def hash_task(data, iterations=1):
    d = data.encode()
    sha512 = hashlib.sha512
    for _ in range(iterations - 1):
        d = sha512(d).digest()
    return sha512(d).hexdigest()


@app.task(name="fetch_hash")
def fetch_hash(url):
    """W6: fetch a URL and hash the body, as Celery users write it
    (requests.get, then hashlib)."""
    r = requests.get(url, timeout=60)
    r.raise_for_status()
    return hashlib.sha512(r.content).hexdigest()
