/* SPDX-License-Identifier: MIT */
/*
 * Every Redis key name celeriac uses, in one place.  Each starts with a
 * configurable prefix (KEYS_DEFAULT_PREFIX unless --prefix is given) so that
 * several deployments can share one Redis.  The functions write into a
 * caller's buffer of KEYS_MAX bytes and return 0, or -1 if the name would not
 * fit.  A worker writes only to the kinds of keys listed here (PROTOCOL.md,
 * "What a worker writes").
 */
#ifndef CELERIAC_KEYS_H
#define CELERIAC_KEYS_H

#include <stddef.h>

#define KEYS_DEFAULT_PREFIX "celeriac:"
#define KEYS_DEFAULT_QUEUE "default"
/* The consumer group every worker reads queues through. */
#define KEYS_GROUP "celeriac"
/* The stream field that carries the task message. */
#define KEYS_MSG_FIELD "msg"
/* The reply stream field that carries a result document. */
#define KEYS_RESULT_FIELD "result"
/* The kinds of key: "<prefix><kind>" or "<prefix><kind>:<name>". */
#define KEYS_KIND_QUEUE "queue"
#define KEYS_KIND_RESULT "result"
#define KEYS_KIND_REPLY "reply"
#define KEYS_KIND_UPLOAD "upload"
#define KEYS_KIND_DEAD "dead"
#define KEYS_KIND_SCHEDULED "scheduled"
#define KEYS_KIND_WORKERS "workers"
#define KEYS_KIND_WORKER "worker"
#define KEYS_KIND_HOSTSEM "hostsem"

/*
 * The fields of a dead-letter stream entry (PROTOCOL.md, "Dead letters"),
 * written by the finish script (scripts.c) and read by `celeriac dead`.
 */
#define KEYS_DEAD_MSG KEYS_MSG_FIELD /* the original message */
#define KEYS_DEAD_REASON "reason"    /* JSON: error, deliveries, worker, at */
#define KEYS_DEAD_QUEUE "queue"      /* the queue's stream key */
#define KEYS_DEAD_ENTRY "entry"      /* the entry id in that stream */

/*
 * The fields of a worker's heartbeat hash <prefix>worker:<name>
 * (PROTOCOL.md, "Workers"), written by the worker and read by `celeriac
 * status`.  All values are strings.
 */
#define KEYS_HB_NAME "name"
#define KEYS_HB_HOST "host"
#define KEYS_HB_PID "pid"
#define KEYS_HB_STARTED_AT "started_at"
#define KEYS_HB_LAST_BEAT "last_beat"
#define KEYS_HB_VERSION "version"
#define KEYS_HB_CONCURRENCY "concurrency"
#define KEYS_HB_PREFETCH "prefetch"
/* The adaptive window: tasks the worker may hold now (<= prefetch). */
#define KEYS_HB_WINDOW "window"
#define KEYS_HB_QUEUES "queues"
#define KEYS_HB_IN_FLIGHT "in_flight"
#define KEYS_HB_STATE "state"
/* Tasks finished a second, averaged over about a minute; the queues not
 * read (celeriac control pause), comma-separated. */
#define KEYS_HB_RATE "rate_1m"
#define KEYS_HB_PAUSED "paused"
/* The --beat schedule file of the worker's beat process; empty: none. */
#define KEYS_HB_BEAT "beat"
/* The counters, since the worker started, in this order. */
#define KEYS_HB_RECEIVED "received"
#define KEYS_HB_SUCCEEDED "succeeded"
#define KEYS_HB_FAILED "failed"
#define KEYS_HB_RETRIED "retried"
#define KEYS_HB_EXPIRED "expired"
#define KEYS_HB_DEAD "dead"
#define KEYS_HB_RECOVERED "recovered"
#define KEYS_HB_DUPLICATES "duplicates"
#define KEYS_HB_CHILD_DEATHS "child_deaths"
/* How many counters there are, and every field, in the order a worker
 * writes them (the counters last): NULL-terminated lists. */
#define KEYS_HB_NCOUNTERS 9
extern const char *const keys_heartbeat_fields[];
extern const char *const keys_heartbeat_counters[];

#define KEYS_MAX 512
/* Longest --prefix: with it, every key name fits in KEYS_MAX (the longest
 * is "<prefix>worker:<name>" and "<prefix>result:<queue>/<entry id>"). */
#define KEYS_PREFIX_MAX 128

/* <prefix>queue:<name> — the stream a queue lives in. */
int keys_queue(char *buf, size_t n, const char *prefix, const char *name);
/* <prefix>result:<id> — the result document of a task. */
int keys_result(char *buf, size_t n, const char *prefix, const char *id);
/* <prefix>reply:<token> — a reply stream made by a producer. */
int keys_reply(char *buf, size_t n, const char *prefix, const char *token);
/* <prefix>upload:<token> — a file a producer streams to a worker. */
int keys_upload(char *buf, size_t n, const char *prefix, const char *token);
/* <prefix>dead — the dead-letter stream. */
int keys_dead(char *buf, size_t n, const char *prefix);
/* <prefix>scheduled — delayed and retried tasks (sorted set). */
int keys_scheduled(char *buf, size_t n, const char *prefix);
/* <prefix>workers — the registry of workers (sorted set by last beat). */
int keys_workers(char *buf, size_t n, const char *prefix);
/* <prefix>worker:<name> — one worker's heartbeat record (hash with TTL). */
int keys_worker(char *buf, size_t n, const char *prefix, const char *name);
/*
 * <prefix>hostsem:<host> — the cluster-wide fetch semaphore of one host
 * (sorted set of leases; scripts.h, scripts_hostsem).  host is the host
 * name or address of a parsed URL (an IPv6 address without brackets); it
 * is written lower-cased, and refused (-1) unless it is 1 to
 * KEYS_HOST_MAX bytes of [A-Za-z0-9.:-], so that no name a task message
 * carries can make a key of another kind or another prefix.
 */
#define KEYS_HOST_MAX 255
int keys_hostsem(char *buf, size_t n, const char *prefix, const char *host);
/* The queue name of a queue stream key "<prefix>queue:<name>" (a pointer
 * into key), or NULL if key is not one. */
const char *keys_queue_name(const char *key, const char *prefix);
/* <prefix>reply: — every reply stream's name starts with this. */
int keys_reply_prefix(char *buf, size_t n, const char *prefix);
/* 1 if key is a reply stream name of this prefix: "<prefix>reply:" and at
 * least one more byte (PROTOCOL.md, "Reply streams"). */
int keys_is_reply(const char *prefix, const char *key);
/*
 * The task id of a message without "id": "<queue name>/<entry id>", unique
 * across queues (entry ids are unique only within one stream).  A client
 * computes it from the queue name and the id XADD returned.
 */
int keys_task_id(char *buf, size_t n, const char *queue,
                 const char *entry_id);
/* Checks a queue name: 1..PROTOCOL_MAX_NAME printable bytes, no spaces. */
int keys_valid_name(const char *name);
/* Checks a key prefix: 1..KEYS_PREFIX_MAX printable ASCII bytes, no
 * spaces. */
int keys_valid_prefix(const char *prefix);
/*
 * Sharding (PROTOCOL.md, "Shards"): one deployment split into n key spaces
 * that a Redis Cluster can keep on different masters.  Shard 0 is prefix
 * itself; shard i (1..KEYS_SHARDS_MAX-1) inserts ".<i>" before the end of
 * prefix's hash tag: "{cq}:" -> "{cq.2}:".  -1 if prefix has no hash tag
 * ('{', at least one byte, '}'), i is out of range, or the result does not
 * fit in n bytes or KEYS_PREFIX_MAX.
 */
#define KEYS_SHARDS_MAX 64
int keys_shard_prefix(char *buf, size_t n, const char *prefix, int i);
/* Checks a worker (consumer) name: 1..PROTOCOL_MAX_NAME bytes of valid
 * UTF-8 with no spaces, commas or control characters. */
int keys_valid_worker(const char *name);

/*
 * <prefix>revoked — revoked task ids (sorted set: member = task id, score
 * = Unix ms until which the revocation holds), written by `celeriac
 * revoke` and read by workers (PROTOCOL.md, "Revoked tasks").
 */
#define KEYS_KIND_REVOKED "revoked"
int keys_revoked(char *buf, size_t n, const char *prefix);
/* <prefix>events — the capped stream of worker and task events
 * (PROTOCOL.md, "Events"). */
int keys_events(char *buf, size_t n, const char *prefix);
/* <prefix>control — the broadcast stream of inspect and control requests
 * (PROTOCOL.md, "Control"). */
int keys_control(char *buf, size_t n, const char *prefix);
/*
 * The keys of `celeriac beat` (PROTOCOL.md, "Periodic tasks (beat)"):
 * <prefix>beat:lease (string: the leader's "<instance> <token>", with a
 * TTL), <prefix>beat:token (string: the fencing counter, INCR'd on every
 * new lease) and <prefix>beat:last (hash: entry name -> the scheduled Unix
 * time of its last tick fired).
 */
#define KEYS_KIND_BEAT "beat"
int keys_beat_lease(char *buf, size_t n, const char *prefix);
int keys_beat_token(char *buf, size_t n, const char *prefix);
int keys_beat_last(char *buf, size_t n, const char *prefix);

/*
 * <prefix>unique:<digest> — the lock of a unique task (string holding the
 * task id, with a TTL; protocol/unique.h).  digest must be 64 lower-case
 * hex digits (refused, -1, otherwise), so that nothing a message carries
 * names another kind of key.
 */
#define KEYS_KIND_UNIQUE "unique"
int keys_unique(char *buf, size_t n, const char *prefix, const char *digest);

/*
 * <prefix>ratelimit:<scope>:<name> — a rate limit's token bucket (hash),
 * <prefix>conclimit:<scope>:<name> — a concurrency limit's leases (sorted
 * set, scripts_hostsem); scope is "task" or "queue" and name a task or
 * queue name the worker was configured with (keys_valid_name()); -1
 * otherwise (worker/limits.h).
 */
#define KEYS_KIND_RATELIMIT "ratelimit"
#define KEYS_KIND_CONCLIMIT "conclimit"
int keys_limit(char *buf, size_t n, const char *prefix, const char *kind,
               const char *scope, const char *name);

/*
 * <prefix>metrics:<queue> — which worker exports the queue's gauges to
 * Prometheus (string: the worker's name, with a TTL; scripts_metrics_lease
 * and PROTOCOL.md, "Metrics"), so that a queue's series comes from one
 * worker and sums over workers are right.  -1 for a queue name that is
 * not valid (keys_valid_name()).
 */
int keys_metrics_queue(char *buf, size_t n, const char *prefix,
                       const char *queue);

#endif
