/* SPDX-License-Identifier: MIT */
/*
 * The stream entries this worker finished last: a ring of the last `cap`
 * (queue, entry id) pairs whose finish Redis answered.
 *
 * Why: after a reconnect the worker re-reads the entries still pending
 * under its own name (broker.c) and skips the ones it holds.  Its finishes
 * go on the other connection, so Redis may run the re-read just before a
 * finish, and the parent may then see the finish's answer (and free the
 * slot) before the re-read's: the entry, finished already, would look new
 * and run a second time.  The ring remembers it.  At most every slot's
 * finish can be answered while one re-read page is in flight, so a ring
 * of twice the slots is enough.
 *
 * This module owns the ring's arrays and nothing else.
 */
#ifndef CELERIAC_RECENT_H
#define CELERIAC_RECENT_H

#include <stddef.h>

#include "slot.h"

struct recent {
    size_t cap;                    /* pairs kept */
    size_t head;                   /* where the next one goes */
    size_t n;                      /* pairs stored, up to cap */
    int *queue;                    /* owned: cap queue indexes */
    char (*id)[SLOT_ENTRY_ID_MAX]; /* owned: cap entry ids */
};

/* A ring of cap (>= 1) pairs. */
void recent_init(struct recent *r, size_t cap);
void recent_free(struct recent *r);
/* Remembers that the entry id of queue was finished. */
void recent_add(struct recent *r, int queue, const char *id);
/* Whether it is among the last cap finished. */
int recent_has(const struct recent *r, int queue, const char *id);

#endif
