/* SPDX-License-Identifier: MIT */
/*
 * `celeriac send --unique-for S [--unique-key K]`: a unique task
 * (protocol/unique.h).  The message carries "unique_for" (and
 * "unique_key"), and instead of a plain XADD (or ZADD for a delayed task)
 * the producer runs scripts_unique_send, which takes the task's lock and
 * adds the message in one step — or, when a task with the same lock was
 * sent within its window and is not finished, adds nothing and answers
 * with that task's id.
 */
#ifndef CELERIAC_UNIQUE_SEND_H
#define CELERIAC_UNIQUE_SEND_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "submit.h"

/* getopt_long values of the options. */
#define UNIQUE_SEND_OPT_FOR 0x1210
#define UNIQUE_SEND_OPT_KEY 0x1211
/* clang-format off */
#define UNIQUE_SEND_LONG_OPTIONS                                               \
    {"unique-for", required_argument, NULL, UNIQUE_SEND_OPT_FOR},              \
    {"unique-key", required_argument, NULL, UNIQUE_SEND_OPT_KEY}
/* clang-format on */

/* The exit status of `celeriac send` when the task was refused as a
 * duplicate (it prints "duplicate of <id>"). */
#define UNIQUE_SEND_EXIT_DUPLICATE 5

struct unique_send {
    long long for_s; /* 0: not unique */
    const char *key; /* borrowed from argv, or NULL */
    char lock[512];  /* the lock key, once prepared */
};

void unique_send_init(struct unique_send *u);
/* Handles an option: 1 stored, 0 not one of ours, -1 bad (printed). */
int unique_send_option(struct unique_send *u, int opt, const char *arg);
/* -1 after printing why the options do not go together (--unique-key
 * without --unique-for), else 0. */
int unique_send_check(const struct unique_send *u);
/*
 * Adds the message fields to extra and names the lock of task/args (the
 * same digest a worker computes from the message).  Returns 0, or -1
 * after printing why.
 */
int unique_send_prepare(struct unique_send *u, const char *prefix,
                        const char *task, const json_t *args, json_t *extra);
/*
 * Appends the script call that sends msg[0..len) to s's queue (or, with
 * due_ms >= 0, to the scheduled set), id the message's "id" or NULL.
 */
void unique_send_append(struct unique_send *u, struct submit *s,
                        const char *msg, size_t len, const char *id,
                        int64_t due_ms);
/* The same with the lock key and window given (send --batch: per line). */
void unique_send_append_lock(struct submit *s, const char *lock,
                             long long for_s, const char *msg, size_t len,
                             const char *id, int64_t due_ms);
/*
 * Reads its answer: returns 1 sent (*id the task id, owned), 0 refused as
 * a duplicate (*id the id of the task holding the lock, owned), or -1
 * after printing the error (Redis lost or refused).
 */
int unique_send_reply(struct conn *c, char **id);

#endif
