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
#include "throttle_conf.h"

/* A held-back task asks again for a concurrency lease this often. */
#define THROTTLE_POLL_MS 50
/* A slot's progress through its limits (slot->lim_state). */
enum {
    THROTTLE_SLOT_NEW = 0, /* not looked at yet */
    THROTTLE_SLOT_RATE,    /* waiting for a token */
    THROTTLE_SLOT_CONC,    /* waiting for a lease */
    THROTTLE_SLOT_PASSED,  /* may run (a lease held if lim_conc >= 0) */
};

struct limit; /* one limit at run time */

struct throttle_cbs {
    /* s may start now: route it on (it is on no list, LIMIT_WAIT). */
    void (*admit)(void *arg, struct slot *s);
};

struct throttle {
    struct limit *v; /* owned array of THROTTLE_MAX, n in use */
    int n;
    int nconf;       /* the first nconf are the worker's own */
    const char *prefix;          /* borrowed */
    int warned;      /* "too many limits" was logged */
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
 * Sets up the worker's limits conf[0..n) (their key names under prefix);
 * those messages name are added as they come (throttle_conf.h).
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
 * With no limit of its own, a worker looks only at messages that mention
 * "_limit" (one memmem).
 */
int throttle_hold(struct throttle *L, struct slot *s);
/* s's task ended (its result is stored, or it left): frees its lease. */
void throttle_done(struct throttle *L, struct slot *s);
/* s left while LIMIT_WAIT (taken over elsewhere): off its list, and its
 * lease (if any) freed.  s is then on no list. */
void throttle_forget(struct throttle *L, struct slot *s);
/* Renews the leases held (once per heartbeat). */
void throttle_renew(struct throttle *L);
#endif
