/* SPDX-License-Identifier: MIT */
/*
 * Cluster-wide limits on tasks (PROTOCOL.md, "Rate and concurrency
 * limits"), configured on every worker alike:
 *
 *   --rate-limit [task:|queue:]NAME=N/s|N/m|N/h   at most N tasks started
 *       per second (minute, hour) by all workers together: a token bucket
 *       in Redis (scripts_ratelimit), holding up to a tenth of a second's
 *       tokens (at least 1), on Redis' clock
 *   --concurrency-limit [task:|queue:]NAME=N       at most N running at
 *       once across the fleet: leases in the same semaphore script as the
 *       per-host fetch limit (scripts_hostsem), renewed with every
 *       heartbeat and lasting 3 heartbeats, so a dead worker's leases free
 *       themselves
 *
 * A bare NAME is a task name.  A task is subject to at most one rate limit
 * and one concurrency limit: its task's, else its queue's.  This module
 * owns the limits and their waiting lists: a task that a limit holds back
 * is LIMIT_WAIT (slot.h) on one list, holds no child, and is handed back
 * through the admit callback once it may start.  One request per limit is
 * in flight per worker at a time (the head of its list asks; a refused
 * rate asks again when the bucket says; a refused concurrency lease every
 * THROTTLE_POLL_MS), so Redis sees a few calls per limit, whatever the
 * backlog.  Never blocks: Redis is asked through the broker's write
 * connection.
 */
#ifndef CELERIAC_THROTTLE_H
#define CELERIAC_THROTTLE_H

#include <event2/event.h>
#include <stdint.h>

#include "broker.h"
#include "slot.h"

/* A held-back task asks again for a concurrency lease this often. */
#define THROTTLE_POLL_MS 50
/* How many limits a worker takes at most. */
#define THROTTLE_MAX 64

/* One --rate-limit or --concurrency-limit, as parsed. */
struct limit_conf {
    int queue_scope;  /* 1: NAME is a queue; 0: a task */
    char *name;       /* owned */
    int rate;         /* 1: a rate limit; 0: a concurrency limit */
    long n;           /* rate: tokens per per_ms; concurrency: at most */
    long per_ms;      /* rate: 1000, 60000 or 3600000 */
};

/* A slot's progress through its limits (slot->lim_state). */
enum {
    THROTTLE_SLOT_NEW = 0, /* not looked at yet */
    THROTTLE_SLOT_RATE,    /* waiting for a token */
    THROTTLE_SLOT_CONC,    /* waiting for a lease */
    THROTTLE_SLOT_PASSED,  /* may run (a lease held if lim_conc >= 0) */
};

/*
 * Parses "[task:|queue:]NAME=VALUE" (rate: VALUE is N/s, N/m or N/h;
 * concurrency: a whole N >= 1) into *out.  Returns 0, or -1 with a
 * sentence in why[0..n).
 */
int throttle_parse(const char *spec, int rate, struct limit_conf *out,
                 char *why, size_t n);
void throttle_conf_clear(struct limit_conf *c);

struct limit; /* one limit at run time */

struct throttle_cbs {
    /* s may start now: route it on (it is on no list, LIMIT_WAIT). */
    void (*admit)(void *arg, struct slot *s);
};

struct throttle {
    struct limit *v; /* owned array of n */
    int n;
    struct event_base *base;     /* borrowed */
    struct broker *broker;       /* borrowed */
    struct slot_table *slots;    /* borrowed */
    const char *worker;          /* borrowed: lease ids start with it */
    char *const *queues;         /* borrowed: queue names by index */
    long lease_ms;
    uint32_t gen;
    struct throttle_cbs cbs;
    void *arg;
};

/*
 * Sets up the limits of conf[0..n) (their key names under prefix).
 * Returns 0, or -1 after logging why (a key name too long).
 */
int throttle_init(struct throttle *L, const struct limit_conf *conf, int n,
                struct event_base *base, struct broker *broker,
                struct slot_table *slots, const char *prefix,
                const char *worker, char *const *queues, long lease_ms,
                const struct throttle_cbs *cbs, void *arg);
void throttle_free(struct throttle *L);
/*
 * Looks at s (just read, READY on no list) the first time: returns 0 when
 * it may go on (no limit applies, or it passed them already), 1 when a
 * limit holds it back (now LIMIT_WAIT, on a list; admit comes later).
 */
int throttle_hold(struct throttle *L, struct slot *s);
/* s's task ended (its result is stored, or it left): frees its lease. */
void throttle_done(struct throttle *L, struct slot *s);
/* s left while LIMIT_WAIT (taken over elsewhere): off its list, and its
 * lease (if any) freed.  s is then on no list. */
void throttle_forget(struct throttle *L, struct slot *s);
/* Renews the leases held (once per heartbeat). */
void throttle_renew(struct throttle *L);
/*
 * The "task" of the message text msg[0..len) into out[0..n): returns 1,
 * or 0 when it has none that fits (the child will say what is wrong).
 * Reads only the top level of the object; strings are skipped with
 * memchr, so a large payload costs little.
 */
int throttle_task_name(const char *msg, size_t len, char *out, size_t n);

#endif
