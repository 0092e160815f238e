/* SPDX-License-Identifier: MIT */
/*
 * Fetch admission: which url task may open a connection now.  Owns the
 * waiting line (slots in FETCH_WAIT, in arrival order) and the counts of
 * fetches running in this worker, in total (--max-fetches) and per host
 * (--per-host).  Fairness is first come, first served among the tasks
 * whose host has room: a busy host never holds up a task for another one.
 * Pure bookkeeping, no I/O; the slots stay owned by the slot table.
 */
#ifndef CELERIAC_FETCHQ_H
#define CELERIAC_FETCHQ_H

#include <stddef.h>

#include "slot.h"

struct fetchq_host; /* a host with running fetches */

struct fetchq {
    struct slot_list waiting; /* FETCH_WAIT, oldest first */
    unsigned nwaiting;
    unsigned running;        /* admitted, not yet done */
    unsigned max_running;    /* --max-fetches; 0: no limit */
    unsigned per_host;       /* --per-host; 0: no limit */
    struct fetchq_host **buckets; /* owned hash table of hosts */
    size_t nbuckets;
};

void fetchq_init(struct fetchq *q, unsigned max_running, unsigned per_host);
void fetchq_free(struct fetchq *q);
/* Queues s (moved to FETCH_WAIT by the caller, on no list) last. */
void fetchq_push(struct fetchq *q, struct slot *s);
/* Puts s back first in line (a fetch that could not start yet). */
void fetchq_push_front(struct fetchq *q, struct slot *s);
/* Takes s out of the line (its task ended while waiting). */
void fetchq_remove(struct fetchq *q, struct slot *s);
/*
 * The oldest waiting slot whose host has room and that is not told to wait
 * (s->sem_wait_until after now_ms, Unix ms: the cluster semaphore's "try
 * again at"), taken out of the line and counted as running
 * (s->fetch_admitted set); NULL when none may start.
 */
struct slot *fetchq_admit(struct fetchq *q, long long now_ms);
/* s's fetch ended (or never started): its place is free again. */
void fetchq_done(struct fetchq *q, struct slot *s);
/* Fetches running to host now. */
unsigned fetchq_host_running(const struct fetchq *q, const char *host);

#endif
