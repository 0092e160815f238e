/* SPDX-License-Identifier: MIT */
/*
 * The worker's look-up of the Redis master through Redis Sentinel
 * (sentinel:// addresses, common/sentinelurl.h), on the parent's event loop:
 * it asks each sentinel in turn "SENTINEL get-master-addr-by-name", each
 * within SENTINEL_QUERY_TIMEOUT_MS (a libevent timer: hiredis 0.14 has no
 * async timeouts), and reports the first address named, or that none was.
 * Sentinel host names are resolved by hiredis when it connects, as the
 * worker's Redis host always was: give literal IP addresses to keep DNS off
 * the event loop.  With sentinel+tls:// each sentinel is reached through
 * the worker's TLS gate (tlsgate.h), whose socket hiredis connects to.
 * One look-up per connection that needs the master.
 */
#ifndef CELERIAC_SENTINEL_QUERY_H
#define CELERIAC_SENTINEL_QUERY_H

#include <event2/event.h>
#include <hiredis/async.h>

#include "sentinelurl.h"

#define SENTINEL_QUERY_TIMEOUT_MS 2000

/* The answer: host and port of the master (borrowed for the call), or
 * host NULL and why saying what each sentinel answered. */
typedef void sentinel_query_cb(void *arg, const char *host, int port,
                               const char *why);

struct sentinel_query {
    struct event_base *base;     /* borrowed */
    const struct sentinelurl *s; /* borrowed */
    redisAsyncContext *ac;       /* the sentinel being asked, or NULL */
    struct event *timer;         /* owned */
    int next;                    /* index of the sentinel being asked */
    int active;                  /* a look-up is under way */
    char tried[512];             /* what the sentinels answered so far */
    sentinel_query_cb *cb;
    void *arg;
};

/* Prepares q; nothing is sent yet. */
void sentinel_query_init(struct sentinel_query *q, struct event_base *base,
                         const struct sentinelurl *s, sentinel_query_cb *cb,
                         void *arg);
/* Starts a look-up unless one is under way; cb is called once, later. */
void sentinel_query_start(struct sentinel_query *q);
/* Abandons a look-up under way (cb is not called). */
void sentinel_query_cancel(struct sentinel_query *q);
/* Cancels and frees what q owns. */
void sentinel_query_free(struct sentinel_query *q);

#endif
