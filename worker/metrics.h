/* SPDX-License-Identifier: MIT */
/*
 * Prometheus metrics (`celeriac-worker --metrics ADDR:PORT`): the counters
 * and histograms the parent feeds as tasks end, gauges asked of the parent
 * at each scrape, and the gauges of this worker's queues, asked of Redis
 * every METRICS_QUEUE_POLL_MS on the broker's write connection (never at
 * scrape time).  /metrics is served by libevent's evhttp on the parent's
 * loop, bounded: METRICS_ACCEPT_PER_S new connections a second, headers
 * of METRICS_MAX_HEADERS bytes, no body, METRICS_TIMEOUT_S of silence.
 * Names and labels: README.md, "Watching a cluster".  It owns the server,
 * its timers and its tables.
 */
#ifndef CELERIAC_METRICS_H
#define CELERIAC_METRICS_H

#include <event2/event.h>
#include <stddef.h>

struct broker;
struct metrics;

#define METRICS_ACCEPT_PER_S 64
#define METRICS_MAX_HEADERS 8192
#define METRICS_TIMEOUT_S 10
#define METRICS_QUEUE_POLL_MS 5000

/* How a task's attempt ended (the "outcome" label). */
enum metrics_outcome {
    METRICS_SUCCEEDED = 0,
    METRICS_FAILED,
    METRICS_RETRIED,
    METRICS_EXPIRED,
    METRICS_NOUTCOMES
};

/* What the parent reports at each scrape. */
struct metrics_gauges {
    long held;                    /* tasks in hand */
    long window;                  /* --prefetch */
    long children;                /* child processes alive */
    long children_target;         /* the pool's size (control grow/shrink) */
    unsigned long child_restarts; /* children that died unasked */
    unsigned long redis_reconnects;
    unsigned long takeovers; /* tasks taken over from other workers */
    unsigned long dead_letters;
};
typedef void metrics_gauges_fn(void *arg, struct metrics_gauges *g);

/*
 * Checks "ADDR:PORT", "[V6ADDR]:PORT" or "PORT" (then 127.0.0.1).  With
 * host non-NULL, copies the address there and the port to *port.
 * Returns 0 or -1.
 */
int metrics_parse_addr(const char *s, char *host, size_t hostlen, int *port);
/* Starts serving on addr.  Returns NULL after logging why. */
struct metrics *metrics_start(struct event_base *base, const char *addr,
                              struct broker *b, const char *prefix,
                              const char *worker, char *const *queues,
                              int nqueues, metrics_gauges_fn *gauges,
                              void *arg);
/* A task's attempt ended; task is its registered name (else "unknown");
 * runtime_s < 0: it never ran in a child. */
void metrics_task(struct metrics *m, int queue, const char *task,
                  enum metrics_outcome outcome, double runtime_s);
/* A task was received after waiting wait_s in its queue. */
void metrics_wait(struct metrics *m, int queue, double wait_s);
/* A URL fetch ended. */
void metrics_fetch(struct metrics *m, int ok, double seconds);
/* Stops serving and frees m (after the broker: its answers may come). */
void metrics_free(struct metrics *m);

#endif
