/* SPDX-License-Identifier: MIT */
/*
 * The engine of `celeriac beat` (beat.h) and of `celeriac-worker --beat`
 * (worker/beatproc.h): fires the periodic tasks of a loaded schedule
 * file until SIGINT or SIGTERM.  A lease in Redis (scripts_beat_lease),
 * renewed every third of its time, elects the instance that fires, and
 * every firing goes through scripts_beat_fire, which checks the lease and
 * its fencing token and fires each tick of an entry at most once.  Every
 * schedule decision uses Redis' clock (TIME), never the local one.
 * Synchronous (conn.h): it runs in a process of its own.
 */
#ifndef CELERIAC_BEATRUN_H
#define CELERIAC_BEATRUN_H

#include <stdint.h>

#include "beatfile.h"
#include "redisurl.h"
#include "tlsconf.h"

/* The leader lease unless told otherwise (`beat --lease`, --beat-lease). */
#define BEATRUN_DEFAULT_LEASE_MS 5000

struct beatrun_conf {
    const struct beatfile *bf;  /* borrowed: loaded without errors, n > 0 */
    const char *redis;          /* --redis, or NULL (redisurl_choose()) */
    const struct redisurl *url; /* or this address (copied), if not NULL */
    const char *prefix;         /* key prefix */
    int64_t lease_ms;           /* the leader lease */
    int quiet;                  /* do not log every task fired */
    const struct tlsconf *tls;  /* --tls-* of the worker, or NULL */
};

/*
 * Installs SIGINT and SIGTERM handlers and fires c's ticks until one of
 * them arrives.  Returns a CLI_EXIT_* code: OK when stopped by a signal,
 * USAGE for a bad address or a prefix too long, REDIS when Redis refused
 * a command (printed).
 */
int beatrun_serve(const struct beatrun_conf *c);

#endif
