/* SPDX-License-Identifier: MIT */
/*
 * Reading a reply stream: the <prefix>reply:<16 random hex> stream named in
 * reply_to, where workers XADD each result document as field "result".
 * Entries are read with XREAD from the last id seen, so a lost connection
 * costs nothing: wait_next() reconnects with backoff and goes on from
 * there until the deadline.
 */
#ifndef CELERIAC_WAIT_H
#define CELERIAC_WAIT_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "keys.h"

#define WAIT_TOKEN_LEN 16

/*
 * Lifecycle: wait_init() (picks the token), put w->key in reply_to of the
 * messages, wait_next() until every result came, wait_cleanup() (DEL).
 */
struct wait {
    struct conn *conn;              /* borrowed */
    char token[WAIT_TOKEN_LEN + 1]; /* random lowercase hex */
    char key[KEYS_MAX];             /* <prefix>reply:<token> */
    char last_id[48];               /* last entry id read; "0-0" first */
    uint64_t last_ms, last_seq;     /* last_id as numbers */
    int64_t deadline_us;            /* cli_now_us() clock; 0 = none */
    int timed_out;                  /* wait_next gave up at the deadline */
};

/* Called for each result document, in stream order; doc is NUL-ended. */
typedef void wait_fn(const char *doc, size_t len, void *arg);

/*
 * Picks a random token and names the stream.  Returns 0, or -1 after
 * printing that the key would be too long for the prefix.
 */
int wait_init(struct wait *w, struct conn *c, const char *prefix,
              int64_t deadline_us);
/*
 * Blocks up to block_ms (and never past the deadline) for up to count new
 * entries and hands each result to fn.  Returns the number handed out (0
 * when the time passed with none), or -1: w->timed_out is set if the
 * deadline passed (also while reconnecting), otherwise Redis refused the
 * read and that was printed.
 */
int wait_next(struct wait *w, size_t count, int block_ms, wait_fn *fn,
              void *arg);
/*
 * Appends a non-blocking "XREAD COUNT count" from the last id to the
 * pipeline; its reply goes to wait_take().  Only one may be outstanding.
 */
void wait_append_poll(struct wait *w, size_t count);
/*
 * Hands the entries of an XREAD reply (borrowed) to fn, skipping those at
 * or before the last id seen.  Returns their number, or -1 if r is an
 * error (printed).
 */
int wait_take(struct wait *w, const redisReply *r, wait_fn *fn, void *arg);
/* Deletes the reply stream if connected (workers also give it a TTL). */
void wait_cleanup(struct wait *w);

#endif
