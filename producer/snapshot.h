/* SPDX-License-Identifier: MIT */
/*
 * The cluster's state as Redis holds it, read in one pass for `celeriac
 * monitor` and `celeriac web`: every queue (length, pending, lag, oldest
 * task's age, tasks added and finished), every worker in the registry
 * (host, up since, busy and idle children, window, processed, failed, last
 * beat), the dead letters (count and the last few) and the scheduled set.
 * A snapshot is one JSON document (its shape is in snapshot_take()'s
 * comment and in the README); rates come from two snapshots
 * (snapshot_rates()), and a throughput history from many
 * (struct snapshot_history).
 *
 * Everything read is bounded: at most SNAPSHOT_MAX_QUEUES queues and
 * SNAPSHOT_MAX_WORKERS workers (the rest are counted, not read), and the
 * stored messages of the last SNAPSHOT_DEAD_LAST dead letters are read only
 * when they are small.  Read-only: a snapshot never writes to Redis.
 */
#ifndef CELERIAC_SNAPSHOT_H
#define CELERIAC_SNAPSHOT_H

#include <jansson.h>
#include <stddef.h>

#include "conn.h"

#define SNAPSHOT_MAX_QUEUES 200
#define SNAPSHOT_MAX_WORKERS 500
#define SNAPSHOT_DEAD_LAST 5
/* Throughput samples kept: one per refresh, 4 minutes at 1 s. */
#define SNAPSHOT_HISTORY 240

/*
 * Reads the state under prefix.  Returns a new JSON document:
 *   {"redis", "prefix", "time_ms",
 *    "queues": [{"name", "length", "pending", "lag", "consumers",
 *                "group", "added", "done", "oldest_age_ms" (null when
 *                empty), "error" (only when the key is not a stream)}],
 *    "queues_more": queues not read (over SNAPSHOT_MAX_QUEUES),
 *    "workers": [{"name", "host", "pid", "state", "started_at", "up_s",
 *                 "beat_age_ms", "gone", "concurrency", "in_flight",
 *                 "busy", "idle", "window", "processed", "succeeded",
 *                 "failed", "rate_1m", "paused"}],
 *    "workers_more", "dead": {"length", "last": [{"entry", "task",
 *    "name", "queue", "error", "message", "worker", "at"}]},
 *    "failures": [{"entry", "id", "task", "queue", "worker", "attempt",
 *                  "runtime", "age_ms"}] (the latest task-failed events,
 *                  when workers write events; else empty),
 *    "scheduled": count, "failed_total": sum of the workers' failed}
 * Numbers a worker did not write are null.  Returns NULL on failure
 * (conn.h convention: lost connection, or an error already printed).
 */
json_t *snapshot_take(struct conn *c, const char *prefix);

/*
 * Appends the names of the queue streams (SCAN MATCH <prefix>queue:*,
 * glob characters of the prefix escaped) to the array names, sorted.
 * Returns 0, or -1 (conn.h convention).  `celeriac status` uses it too.
 */
int snapshot_queue_names(struct conn *c, const char *prefix, json_t *names);

/*
 * Adds the rates per second to cur from the earlier snapshot prev (NULL:
 * the rates are null): per queue "rate_in" (tasks added) and "rate_out"
 * (tasks finished), per worker "rate" (tasks processed), and in total
 * "throughput" (tasks finished in every queue).
 */
void snapshot_rates(json_t *cur, const json_t *prev);

/* The last SNAPSHOT_HISTORY throughput values, oldest first. */
struct snapshot_history {
    double v[SNAPSHOT_HISTORY];
    size_t n;    /* values held */
    size_t next; /* where the next one goes */
};

void snapshot_history_push(struct snapshot_history *h, double v);
/* The i-th value held, oldest first (i < h->n). */
double snapshot_history_at(const struct snapshot_history *h, size_t i);
/* The values as a new JSON array, oldest first. */
json_t *snapshot_history_json(const struct snapshot_history *h);

/* "3.2s", "4m05s", "2h10m", "3d04h" for a duration in milliseconds. */
void snapshot_age(char *buf, size_t n, double ms);

#endif
