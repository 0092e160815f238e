#!/bin/sh
# SPDX-License-Identifier: MIT
# Run in the producer container by tests/cluster/scenario.py: sends the
# batches /tasks/part-*.jsonl one after the other, a few seconds apart so
# that the tasks keep coming while the cluster is broken.  A batch that
# fails (Redis restarting) is sent again whole: its lines carry task ids,
# so a task sent twice has one result.
set -u
pace=${CLUSTER_PACE:-3}
for f in /tasks/part-*.jsonl; do
    n=0
    until celeriac send --batch "$f" >/dev/null; do
        n=$((n + 1))
        [ "$n" -lt 120 ] || { echo "produce: $f not sent after $n tries" >&2; exit 1; }
        echo "produce: $f failed; again in 1 s" >&2
        sleep 1
    done
    echo "produce: sent $f" >&2
    sleep "$pace"
done
echo "produce: done" >&2
