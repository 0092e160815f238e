/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of the cluster-wide limits (throttle.h): the options'
 * values, the limit fields a message may carry, and a scan of a message's
 * top level for them.  No I/O: the children use the check, the unit tests
 * link all of it.
 *
 * A message may carry, for its task name:
 *
 *   rate_limit         "N/s", "N/m" or "N/h" (N from 1 to 1000000)
 *   concurrency_limit  a whole number from 1 to 1000000
 *
 * They apply like --rate-limit NAME=... and --concurrency-limit NAME=...
 * on every worker that reads the message, unless the worker has a limit
 * of that kind for the task or its queue itself (the worker's wins).  The
 * latest message read sets the figures of its task's limit.
 */
#ifndef CELERIAC_THROTTLE_CONF_H
#define CELERIAC_THROTTLE_CONF_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

/* How many limits a worker takes at most: its own, and those messages
 * name (a message naming more is run without its limit, with a
 * warning). */
#define THROTTLE_MAX 64
/* The largest N of a limit. */
#define THROTTLE_N_MAX 1000000L
#define THROTTLE_F_RATE "rate_limit"
#define THROTTLE_F_CONC "concurrency_limit"

/* One --rate-limit or --concurrency-limit, as parsed. */
struct limit_conf {
    int queue_scope;  /* 1: NAME is a queue; 0: a task */
    char *name;       /* owned */
    int rate;         /* 1: a rate limit; 0: a concurrency limit */
    long n;           /* rate: tokens per per_ms; concurrency: at most */
    long per_ms;      /* rate: 1000, 60000 or 3600000 */
};

/*
 * Parses "[task:|queue:]NAME=VALUE" (rate: VALUE is N/s, N/m or N/h;
 * concurrency: a whole N >= 1) into *out.  Returns 0, or -1 with a
 * sentence in why[0..n).
 */
int throttle_parse(const char *spec, int rate, struct limit_conf *out,
                   char *why, size_t n);
void throttle_conf_clear(struct limit_conf *c);
/* Parses a rate "N/s", "N/m" or "N/h": 0 with *n and *per_ms, or -1. */
int throttle_parse_rate(const char *v, long *n, long *per_ms);

/* What the scan of a message finds (0 / "" when absent or unusable). */
struct throttle_msg {
    char task[201];   /* "task" */
    long rate_n;      /* "rate_limit" */
    long rate_per_ms;
    long conc_n;      /* "concurrency_limit" */
};

/*
 * Scans the top level of the JSON object msg[0..len) for "task",
 * "rate_limit" and "concurrency_limit" (strings are skipped with memchr,
 * so a large payload costs little; escapes are decoded).  Returns 1 when
 * it found a task name, else 0.  A limit field of a bad type or value is
 * left out (the child fails the task).
 */
int throttle_scan(const char *msg, size_t len, struct throttle_msg *out);
/* The "task" alone, into out[0..n): 1, or 0 when there is none. */
int throttle_task_name(const char *msg, size_t len, char *out, size_t n);
/*
 * Checks the limit fields of a decoded message: 0, or -1 with *err
 * (InvalidMessage) for a rate_limit that is not "N/s", "N/m" or "N/h" or
 * a concurrency_limit that is not a whole number, N from 1 to
 * THROTTLE_N_MAX.
 */
int throttle_check_message(const json_t *root, struct proto_error *err);

#endif
