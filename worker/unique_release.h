/* SPDX-License-Identifier: MIT */
/*
 * The worker's side of unique tasks (protocol/unique.h): when a batch of
 * results goes to Redis, the locks of the unique tasks in it that are
 * finished for good (records F and D; a retried task keeps its lock) are
 * released by one scripts_unique_release call sent right behind the
 * finish script, on the same connection (the same pipeline).  A worker
 * that dies before it leaves the lock to its unique_for.
 */
#ifndef CELERIAC_UNIQUE_RELEASE_H
#define CELERIAC_UNIQUE_RELEASE_H

#include "broker.h"
#include "slot.h"

/*
 * Sends the release for the slots on list (just sent in one finish
 * batch), if any of them holds a lock.  Never blocks: a message that does
 * not mention unique_for costs one memmem; one that does is decoded
 * (its arguments only up to UNIQUE_MESSAGE_MAX bytes).
 */
void unique_release_batch(struct broker *b, const struct slot_list *list);

#endif
