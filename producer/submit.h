/* SPDX-License-Identifier: MIT */
/*
 * Putting task messages on a queue: the queue's stream and consumer group
 * (XGROUP CREATE ... MKSTREAM, BUSYGROUP ignored) and pipelined
 * "XADD <stream> * msg <json>", or for a delayed task
 * "ZADD <prefix>scheduled <due ms> <json>".  Callers append as many as they
 * like, then read one reply per command with conn_reply(), in order; an
 * XADD's reply is the new entry id (the task id unless the message names
 * one), a ZADD's is 1 (added) or 0 (an identical member was already there).
 */
#ifndef CELERIAC_SUBMIT_H
#define CELERIAC_SUBMIT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "keys.h"

struct submit {
    struct conn *conn;         /* borrowed */
    const char *queue;         /* queue name; borrowed */
    char stream[KEYS_MAX];     /* <prefix>queue:<queue> */
    char scheduled[KEYS_MAX];  /* <prefix>scheduled */
    unsigned group_generation; /* conn generation the group was made in */
};

/*
 * Names the queue's stream.  Returns 0, or -1 after printing why the queue
 * name is not acceptable (a usage error).
 */
int submit_init(struct submit *s, struct conn *c, const char *prefix,
                const char *queue);
/*
 * Makes sure the stream and the consumer group exist, once per connection
 * (a Redis that restarted empty needs them again).  Returns 0 or -1 (see
 * the conn.h error convention).
 */
int submit_ensure_group(struct submit *s);
/* Appends "XADD <stream> * msg <msg>" to the pipeline. */
void submit_append(struct submit *s, const char *msg, size_t len);
/*
 * Appends "ZADD <prefix>scheduled <due_ms> <msg>" to the pipeline.  The
 * message must carry its own "id" (unique: identical members are one) and
 * "queue".
 */
void submit_append_scheduled(struct submit *s, int64_t due_ms, const char *msg,
                             size_t len);

#endif
