# SPDX-License-Identifier: MIT
"""The W6 peer "asyncio pipeline", written the way the source pipeline's
tutorial recommends: an asyncio.Semaphore(C) bounds the fetches (aiohttp,
one ClientSession), fetched bodies go through an asyncio.Queue to hasher
coroutines, which compute SHA-512 in a ProcessPoolExecutor.

    aio_pipeline.py --urls FILE --concurrency C --procs 2 --out RESULTS

The pool is started and warmed before the clock starts (as the bench
warms every system's workers up).  Prints one JSON line: t_start, t_end
(Unix seconds), done, failed; RESULTS gets {"<line index>": hex digest}
and the first errors.
"""

import argparse
import asyncio
import hashlib
import json
import time
from concurrent.futures import ProcessPoolExecutor

import aiohttp


def sha512_hex(body):
    return hashlib.sha512(body).hexdigest()


async def fetcher(session, sem, queue, i, url, errors):
    # The body is handed to the queue before the semaphore is released:
    # put outside it, every fetcher whose put waits on a full queue would
    # let another fetch start, and bodies would pile up without bound
    # whenever hashing is slower than fetching.
    async with sem:
        try:
            async with session.get(url) as resp:
                resp.raise_for_status()
                body = await resp.read()
        except Exception as e:  # recorded; the run then fails
            errors.append(f"{url}: {type(e).__name__}: {e}")
            return
        await queue.put((i, body))


async def hasher(loop, pool, queue, results):
    while True:
        i, body = await queue.get()
        try:
            results[i] = await loop.run_in_executor(pool, sha512_hex, body)
        finally:
            queue.task_done()


async def pipeline(urls, conc, pool, procs):
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(conc)
    queue = asyncio.Queue(maxsize=conc)
    results, errors = {}, []
    connector = aiohttp.TCPConnector(limit=conc, limit_per_host=conc)
    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.time()
        hashers = [asyncio.create_task(hasher(loop, pool, queue, results))
                   for _ in range(2 * procs)]
        await asyncio.gather(*(fetcher(session, sem, queue, i, u, errors)
                               for i, u in enumerate(urls)))
        await queue.join()
        t1 = time.time()
        for h in hashers:
            h.cancel()
    return t0, t1, results, errors


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", required=True)
    ap.add_argument("--concurrency", type=int, default=100)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    with open(a.urls) as f:
        urls = [u.strip() for u in f if u.strip()]
    with ProcessPoolExecutor(a.procs) as pool:
        # Warm: every pool process started and has hashed once.
        list(pool.map(sha512_hex, [b"warm"] * (4 * a.procs)))
        t0, t1, results, errors = asyncio.run(
            pipeline(urls, a.concurrency, pool, a.procs))
    with open(a.out, "w") as f:
        json.dump({"results": results, "errors": errors[:20]}, f)
    print(json.dumps({"t_start": t0, "t_end": t1, "done": len(results),
                      "failed": len(errors)}), flush=True)


if __name__ == "__main__":
    main()
