# SPDX-License-Identifier: MIT
"""A celeriac producer on redis-py: send tasks, wait for and read their
results (protocol/PROTOCOL.md)."""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime, timezone
from typing import (Any, Dict, Iterable, List, Mapping, Optional, Sequence,
                    Union)

import redis

from .message import DELIVERY_FIELDS, build_message

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PREFIX = "celeriac:"
DEFAULT_QUEUE = "default"
#: Final statuses: any but RETRY.
FINAL = ("SUCCESS", "FAILURE", "EXPIRED", "REVOKED")
#: How long one XREAD blocks while waiting, in milliseconds.
_BLOCK_MS = 1000
#: A message's inline data is at most this many bytes (PROTOCOL_MAX_DATA).
MAX_DATA = 32 * 1024 * 1024

Doc = Dict[str, Any]


class TaskFailed(Exception):
    """A task ended with a status other than SUCCESS; ``doc`` is its
    result document, ``type`` its error type."""

    def __init__(self, doc: Doc) -> None:
        err = doc.get("error") or {}
        self.doc = doc
        self.type: str = err.get("type", "")
        super().__init__("task %s: %s: %s: %s" % (
            doc.get("id"), doc.get("status"), self.type, err.get("message")))


class Timeout(Exception):
    """Results did not come in time."""


def _due_ms(countdown: Optional[float], eta: Union[None, float, datetime]
            ) -> Optional[int]:
    if countdown is not None and eta is not None:
        raise ValueError("give countdown or eta, not both")
    if countdown is not None:
        if countdown < 0:
            raise ValueError("countdown must be >= 0")
        return int((time.time() + countdown) * 1000)
    if isinstance(eta, datetime):
        if eta.tzinfo is None:
            eta = eta.replace(tzinfo=timezone.utc)
        return int(eta.timestamp() * 1000)
    if eta is not None:
        return int(float(eta) * 1000)
    return None


class AsyncResult:
    """A handle on one task: its ``id``, and its result once there."""

    def __init__(self, client: "Client", id: str,
                 reply_to: Optional[str] = None) -> None:
        self.client = client
        self.id = id
        self.reply_to = reply_to
        self._doc: Optional[Doc] = None

    def __repr__(self) -> str:
        return "<AsyncResult %s %s>" % (self.id, self.status)

    def doc(self) -> Optional[Doc]:
        """The result document stored now (None: no result yet)."""
        if self._doc is None or self._doc.get("status") not in FINAL:
            self._doc = self.client.result(self.id)
        return self._doc

    @property
    def status(self) -> Optional[str]:
        """SUCCESS, FAILURE, RETRY, EXPIRED, REVOKED, or None."""
        d = self.doc()
        return d.get("status") if d else None

    def ready(self) -> bool:
        """True once the result is final."""
        return self.status in FINAL

    def wait(self, timeout: Optional[float] = None) -> Doc:
        """Waits for the final result document."""
        if self._doc is None or self._doc.get("status") not in FINAL:
            self._doc = self.client.wait([self], timeout)[0]
        return self._doc

    def get(self, timeout: Optional[float] = None) -> Any:
        """Waits and returns the task's value; raises TaskFailed unless
        it succeeded, Timeout when timeout seconds pass."""
        d = self.wait(timeout)
        if d.get("status") != "SUCCESS":
            raise TaskFailed(d)
        return d.get("result")


class Client:
    """A connection to a celeriac deployment.

    ``url`` defaults to $CELERIAC_REDIS_URL, else redis://127.0.0.1:6379/0;
    ``redis_client`` may be given instead (a ``redis.Redis``)."""

    def __init__(self, url: Optional[str] = None, *,
                 prefix: str = DEFAULT_PREFIX,
                 redis_client: Optional[redis.Redis] = None) -> None:
        if redis_client is None:
            url = url or os.environ.get("CELERIAC_REDIS_URL") or DEFAULT_URL
            pw = os.environ.get("CELERIAC_REDIS_PASSWORD")
            redis_client = redis.Redis.from_url(url)
            if pw and not redis_client.connection_pool.connection_kwargs.get(
                    "password"):
                redis_client = redis.Redis.from_url(url, password=pw)
        self.redis = redis_client
        self.prefix = prefix

    # ---- keys (protocol/keys.c) ----

    def queue_key(self, queue: str) -> str:
        return self.prefix + "queue:" + queue

    def result_key(self, task_id: str) -> str:
        return self.prefix + "result:" + task_id

    def new_reply_to(self) -> str:
        return self.prefix + "reply:" + uuid.uuid4().hex

    # ---- sending ----

    def _message(self, task: str, args: Optional[Mapping[str, Any]],
                 queue: str, id: Optional[str], reply_to: Optional[str],
                 due_ms: Optional[int], delivery: Mapping[str, Any],
                 payload: Optional[bytes] = None) -> tuple:
        unknown = set(delivery) - set(DELIVERY_FIELDS)
        if unknown:
            raise TypeError("unknown delivery options: %s"
                            % ", ".join(sorted(unknown)))
        extra = {k: delivery[k] for k in DELIVERY_FIELDS
                 if delivery.get(k) is not None}
        if due_ms is not None and id is None:
            id = uuid.uuid4().hex
        msg = build_message(
            task, args, id=id, reply_to=reply_to,
            queue=queue if due_ms is not None else None,
            extra=extra or None,
            payload_field="data_b64" if payload is not None else None,
            payload=payload)
        return msg, id

    def send(self, task: str, args: Optional[Mapping[str, Any]] = None, *,
             queue: str = DEFAULT_QUEUE, id: Optional[str] = None,
             reply_to: Optional[str] = None,
             countdown: Optional[float] = None,
             eta: Union[None, float, datetime] = None,
             **delivery: Any) -> AsyncResult:
        """Puts one task on ``queue``.  ``countdown`` (seconds) or ``eta``
        (Unix seconds or a datetime) delay it; ``delivery`` takes the
        message's delivery fields: expires (Unix seconds), time_limit,
        max_retries, retry_backoff, retry_backoff_max, retry_jitter."""
        return self.send_many([dict(task=task, args=args, id=id,
                                    countdown=countdown, eta=eta,
                                    **delivery)],
                              queue=queue, reply_to=reply_to)[0]

    def send_many(self, tasks: Iterable[Mapping[str, Any]], *,
                  queue: str = DEFAULT_QUEUE,
                  reply_to: Optional[str] = None) -> List[AsyncResult]:
        """Sends many tasks in one pipelined round trip.  Each task is a
        mapping with ``task`` and optionally ``args``, ``id``, ``queue``,
        ``countdown``, ``eta`` and delivery fields.  All results also go
        to one reply stream (``reply_to``, a new one by default), which
        ``wait`` reads."""
        reply_to = reply_to or self.new_reply_to()
        pipe = self.redis.pipeline(transaction=False)
        plan = []
        for t in tasks:
            t = dict(t)
            name = t.pop("task")
            args = t.pop("args", None)
            q = t.pop("queue", None) or queue
            tid = t.pop("id", None)
            payload = t.pop("payload", None)
            due = _due_ms(t.pop("countdown", None), t.pop("eta", None))
            msg, tid = self._message(name, args, q, tid, reply_to, due, t,
                                     payload)
            if due is not None:
                pipe.zadd(self.prefix + "scheduled", {msg: due})
            else:
                pipe.xadd(self.queue_key(q), {"msg": msg})
            plan.append((q, tid))
        out = []
        for (q, tid), answer in zip(plan, pipe.execute()):
            if tid is None:
                entry = answer.decode() if isinstance(answer, bytes) \
                    else str(answer)
                tid = q + "/" + entry
            out.append(AsyncResult(self, tid, reply_to))
        return out

    # ---- results ----

    def result(self, task_id: str) -> Optional[Doc]:
        """The result document stored for task_id now, or None."""
        raw = self.redis.get(self.result_key(task_id))
        return json.loads(raw) if raw is not None else None

    def wait(self, handles: Sequence[Union[AsyncResult, str]],
             timeout: Optional[float] = None) -> List[Doc]:
        """Waits until every task has a final result; returns their
        documents in the order given.  Reads the handles' reply streams
        (no polling while results come), and the result keys."""
        hs = [h if isinstance(h, AsyncResult) else AsyncResult(self, h)
              for h in handles]
        deadline = None if timeout is None else time.monotonic() + timeout
        docs: Dict[str, Doc] = {}
        streams = {h.reply_to: "0" for h in hs if h.reply_to}
        want = {h.id for h in hs}
        poll = 0.02
        while True:
            missing = [i for i in want if i not in docs]
            for k in range(0, len(missing), 500):
                chunk = missing[k:k + 500]
                raws = self.redis.mget([self.result_key(i) for i in chunk])
                for i, raw in zip(chunk, raws):
                    d = json.loads(raw) if raw is not None else None
                    if d is not None and d.get("status") in FINAL:
                        docs[i] = d
            if want <= set(docs):
                return [docs[h.id] for h in hs]
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise Timeout("%d of %d tasks have no final result"
                              % (len(want - set(docs)), len(want)))
            if streams:
                block = _BLOCK_MS if left is None else \
                    max(1, min(_BLOCK_MS, int(left * 1000)))
                answer = self.redis.xread(streams, block=block)
                for key, entries in answer or []:
                    key = key.decode() if isinstance(key, bytes) else key
                    for entry_id, fields in entries:
                        streams[key] = entry_id
                        raw = fields.get(b"result") or fields.get("result")
                        if raw is None:
                            continue
                        d = json.loads(raw)
                        if d.get("id") in want and d.get("status") in FINAL:
                            docs[d["id"]] = d
            else:
                time.sleep(poll if left is None else min(poll, left))
                poll = min(poll * 2, 1.0)

    def revoke(self, task_ids: Iterable[str], ttl: int = 86400) -> List[str]:
        """Cancels tasks that have not run, as ``celeriac revoke`` does:
        adds the ids to <prefix>revoked (a worker answers them REVOKED
        instead of running them; one already running finishes), and takes
        delayed or retrying ones out of <prefix>scheduled at once, storing
        their REVOKED result.  Returns the ids taken out of the scheduled
        set."""
        ids = set(task_ids)
        now_ms = int(time.time() * 1000)
        key = self.prefix + "revoked"
        pipe = self.redis.pipeline(transaction=False)
        pipe.zremrangebyscore(key, "-inf", "(%d" % now_ms)
        pipe.zadd(key, {i: now_ms + ttl * 1000 for i in ids})
        pipe.execute()
        top = self.redis.zrange(key, -1, -1, withscores=True)
        if top:
            self.redis.pexpireat(key, int(top[0][1]))
        sched = self.prefix + "scheduled"
        out = []
        for member, _ in self.redis.zscan_iter(sched, count=500):
            try:
                msg = json.loads(member)
            except ValueError:
                continue
            tid = msg.get("id") if isinstance(msg, dict) else None
            if tid not in ids or not self.redis.zrem(sched, member):
                continue
            now = datetime.now(timezone.utc).strftime(
                "%Y-%m-%dT%H:%M:%S.%fZ")
            doc = {"id": tid, "task": msg.get("task"), "status": "REVOKED",
                   "result": None,
                   "error": {"type": "Revoked", "message":
                             "the task was revoked (celeriac revoke) while "
                             "it waited in the scheduled set"},
                   "worker": "celeriac revoke", "attempts": 0,
                   "retries": msg.get("retries", 0)
                   if isinstance(msg.get("retries"), int) else 0,
                   "errors": [], "started_at": now, "finished_at": now,
                   "runtime_us": 0}
            text = json.dumps(doc, separators=(",", ":"),
                              ensure_ascii=False)
            self.redis.set(self.result_key(tid), text, ex=ttl)
            rt = msg.get("reply_to")
            if isinstance(rt, str) and rt.startswith(self.prefix + "reply:") \
                    and len(rt) > len(self.prefix + "reply:"):
                self.redis.xadd(rt, {"result": text}, maxlen=100000,
                                approximate=True)
                self.redis.expire(rt, ttl)
            out.append(tid)
        return out

    # ---- hashing ----

    def hash_files(self, paths: Iterable[Union[str, os.PathLike]], *,
                   algorithm: str = "sha512", queue: str = DEFAULT_QUEUE,
                   timeout: Optional[float] = None) -> Dict[str, str]:
        """Hashes files (each at most 32 MiB, sent inline) on the workers;
        returns {path: hex digest}.  Raises TaskFailed for a failure."""
        paths = [os.fspath(p) for p in paths]
        tasks = []
        for p in paths:
            with open(p, "rb") as f:
                data = f.read(MAX_DATA + 1)
            if len(data) > MAX_DATA:
                raise ValueError("%s is over 32 MiB; use celeriac hash, "
                                 "which streams large files" % p)
            tasks.append({"task": "hash", "args": {"algorithm": algorithm},
                          "payload": data})
        handles = self.send_many(tasks, queue=queue)
        docs = self.wait(handles, timeout)
        out = {}
        for p, d in zip(paths, docs):
            if d.get("status") != "SUCCESS":
                raise TaskFailed(d)
            out[p] = d["result"]["digest"]
        if handles:
            self.redis.delete(handles[0].reply_to)
        return out
