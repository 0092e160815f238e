/* SPDX-License-Identifier: MIT */
/*
 * The web dashboard's source of snapshots.  Reading Redis (snapshot.h)
 * uses the synchronous connection, which must not run in the server's
 * event loop, so a child process (forked, not exec'd) takes a snapshot
 * every interval and writes it, rates and throughput history included, as
 * one line of JSON to a pipe; the server reads the pipe with a bufferevent
 * and keeps the latest line.  A child that dies is started again a second
 * later; it exits when the server does (PR_SET_PDEATHSIG, and a closed
 * pipe).
 */
#ifndef CELERIAC_WEBPOLL_H
#define CELERIAC_WEBPOLL_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The longest snapshot line kept; a longer one is dropped (reported). */
#define WEBPOLL_MAX_LINE (16u << 20)

struct webpoll {
    struct event_base *base;
    char *redis;          /* the --redis value or NULL; owned */
    char *prefix;         /* owned */
    int64_t interval_us;  /* between two snapshots */
    int control;          /* the snapshots say "control": true */
    pid_t pid;            /* the child, 0 when none runs */
    struct bufferevent *bev; /* the pipe's read end */
    struct event *again;  /* restarts the child after it died */
    char *latest;         /* the latest snapshot line; owned */
    size_t latest_len;
};

/* Starts the first child.  Returns 0, or -1 after saying why. */
int webpoll_start(struct webpoll *p, struct event_base *base,
                  const char *redis, const char *prefix, int64_t interval_us,
                  int control);
/* The latest snapshot (JSON, no newline) or NULL before the first one. */
const char *webpoll_latest(const struct webpoll *p, size_t *len);
/* Called with every reaped child: 1 if it was the poller (it is then
 * started again later), 0 if not. */
int webpoll_reaped(struct webpoll *p, pid_t pid, int status);
/* Stops the child and frees everything. */
void webpoll_stop(struct webpoll *p);

#endif
