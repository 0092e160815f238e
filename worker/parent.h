/* SPDX-License-Identifier: MIT */
/*
 * The worker parent: one libevent loop joining the broker (Redis), the slot
 * table (tasks in flight) and the pool (children).  It decides what moves
 * when: how much to read (never more than --prefetch in flight), which task
 * goes to which child, when results are finished in Redis, and the warm and
 * cold shutdown.  It never blocks: no synchronous Redis call, no sleep, no
 * hashing.
 */
#ifndef CELERIAC_PARENT_H
#define CELERIAC_PARENT_H

#include "config.h"

/* Runs the worker until it is told to stop.  Returns the exit status. */
int parent_main(const struct config *cfg);

#endif
