/* SPDX-License-Identifier: MIT */
/*
 * Which queue a worker reads next (--priority; README.md, "Unique tasks
 * and limits"; worker/README.md, "Priorities").  Pure bookkeeping, no
 * I/O: the broker asks it before every read.
 *
 *   (none)     every queue in one XREADGROUP, as many entries from each
 *   strict     the first queue of --queues that has entries: a later
 *              queue is read only when every earlier one is empty
 *   A:w,B:w..  weighted: under a backlog, queue A gets w / (sum of the
 *              weights) of the tasks read, whatever the size of each read
 *              (the queue read next is the one with the fewest tasks read
 *              per unit of weight among those that have entries, as in
 *              weighted fair queueing; a queue not named weighs 1)
 *
 * With a policy, a read takes entries from one queue, without blocking;
 * a queue that returned nothing is skipped until another read brings
 * entries; when every queue is empty the worker blocks on all of them at
 * once, as without a policy, and starts afresh.
 */
#ifndef CELERIAC_PRIORITY_H
#define CELERIAC_PRIORITY_H

#include <stddef.h>

enum priority_mode {
    PRIORITY_ALL = 0,
    PRIORITY_STRICT,
    PRIORITY_WEIGHTED,
};

/* The largest weight. */
#define PRIORITY_WEIGHT_MAX 1000

struct priority {
    enum priority_mode mode;
    int n;                 /* queues */
    unsigned *weight;      /* owned, per queue */
    double *vt;            /* owned: tasks read / weight ("virtual time") */
    unsigned char *empty;  /* owned: returned nothing since the last
                              read that brought entries */
};

/*
 * Parses --priority for the queues queues[0..nqueues): "strict", or
 * "NAME:W,..." (every NAME one of the queues, W from 1 to
 * PRIORITY_WEIGHT_MAX); spec NULL: PRIORITY_ALL.  Returns 0, or -1 with
 * a sentence in why[0..n).
 */
int priority_parse(struct priority *p, const char *spec,
                   char *const *queues, int nqueues, char *why, size_t n);
void priority_free(struct priority *p);
/* The queue to read next, or -1 when all are empty (read them all, and
 * block). */
int priority_next(struct priority *p);
/* The read of queue q brought got entries. */
void priority_result(struct priority *p, int q, unsigned long got);
/* A blocking read of all queues ended: start afresh. */
void priority_reset(struct priority *p);

#endif
