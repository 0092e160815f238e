/* SPDX-License-Identifier: MIT */
/*
 * `celeriac-worker --beat FILE`: the worker's own instance of the beat
 * engine (producer/beatrun.h), which fires FILE's periodic tasks once
 * across every beat instance of the Redis (the lease elects one).
 *
 * The engine is synchronous (producer/conn.h) and the parent's loop must
 * never block, so it runs in a process of its own: forked by the parent
 * after the children (it is none of them: no sandbox, no seccomp filter;
 * it talks to Redis with the worker's address, password and --prefix),
 * logging as "beat[PID]" on the worker's stderr, restarted with back-off
 * when it dies, stopped with SIGTERM (it hands the lease over) when the
 * worker shuts down, and by PR_SET_PDEATHSIG if the parent dies first.
 *
 * This module owns that process, its restart timer and nothing else; the
 * pool reaps it (waitpid(-1)) and hands its status to beatproc_reaped().
 */
#ifndef CELERIAC_BEATPROC_H
#define CELERIAC_BEATPROC_H

#include <sys/types.h>

#include "beatrun.h"

struct event_base;
struct event;

/* Restart back-off: from BEATPROC_BACKOFF_MIN_MS, doubling to the max;
 * back to the minimum after a run of BEATPROC_STABLE_MS. */
#define BEATPROC_BACKOFF_MIN_MS 1000
#define BEATPROC_BACKOFF_MAX_MS 30000
#define BEATPROC_STABLE_MS 60000

struct beatproc {
    struct event_base *base;         /* borrowed */
    const struct beatrun_conf *conf; /* borrowed: what the process runs */
    struct event *restart_ev;        /* owned timer */
    pid_t pid;                       /* the process, or 0 */
    int stopping;                    /* beatproc_stop() was called */
    long backoff_ms;                 /* the next restart's delay */
    long long started_ms;            /* when the process was forked */
    unsigned long restarts;          /* processes started after the first */
};

/* Forks the beat process.  Returns 0, or -1 after logging why. */
int beatproc_start(struct beatproc *b, struct event_base *base,
                   const struct beatrun_conf *conf);
/* A process was reaped with status st: if it was the beat process, logs
 * how it ended and, unless stopping, starts another after the back-off.
 * Returns 1 if it was, 0 if not. */
int beatproc_reaped(struct beatproc *b, pid_t pid, int st);
/* Warm stop: SIGTERM to the process, no more restarts.  Idempotent. */
void beatproc_stop(struct beatproc *b);
/* After the loop has ended (it blocks): stops the process, waits up to
 * timeout_ms for it to exit, then kills it; it is reaped either way. */
void beatproc_finish(struct beatproc *b, long timeout_ms);
void beatproc_free(struct beatproc *b);

#endif
