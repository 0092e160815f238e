# SPDX-License-Identifier: MIT
"""W6 Celery producer: one fetch_hash task per line of --urls, task ids
<id-prefix><line index>, all through one producer connection.  Prints the
JSON line the bench reads (t_start, t_end)."""

import argparse
import json
import time

from celery_app import app, fetch_hash


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--urls", required=True)
    ap.add_argument("--id-prefix", default="u")
    a = ap.parse_args()
    with open(a.urls) as f:
        urls = [u.strip() for u in f if u.strip()]
    t0 = time.time()
    with app.producer_or_acquire() as producer:
        for i, url in enumerate(urls):
            fetch_hash.apply_async((url,), task_id=f"{a.id_prefix}{i}",
                                   producer=producer)
    print(json.dumps({"t_start": t0, "t_end": time.time(),
                      "count": len(urls)}), flush=True)


if __name__ == "__main__":
    main()
