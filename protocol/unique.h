/* SPDX-License-Identifier: MIT */
/*
 * Unique tasks (PROTOCOL.md, "Unique tasks"): a message may carry
 *
 *   unique_for  whole seconds, 1 to UNIQUE_FOR_MAX: while a task with the
 *               same lock is queued or running (at most this long), a
 *               producer refuses to send another one
 *   unique_key  string, 1 to UNIQUE_KEY_MAX bytes: what makes two tasks
 *               "the same"; when absent, the task name and its arguments
 *
 * The lock is the key "<prefix>unique:<SHA-256 hex>" (keys_unique()),
 * holding the task id of the task that took it.  Its name is a digest, so
 * no unique_key can name a key outside celeriac's prefix.  The digest is
 * of the bytes
 *
 *   "key\n" <unique_key>                          with unique_key
 *   "task\n" <task> "\n" <canonical args>         without
 *
 * where the canonical args are the "args" object (absent: {}) as compact
 * JSON with object keys sorted, strings in UTF-8 (what jansson's
 * json_dumps(JSON_COMPACT | JSON_SORT_KEYS) writes, and Python's
 * json.dumps(args, separators=(",", ":"), sort_keys=True,
 * ensure_ascii=False) for arguments without fractional numbers).
 *
 * Producers take the lock together with the XADD (scripts_unique_send);
 * the worker that finishes the task releases it (scripts_unique_release)
 * right behind its finish script, so a dead worker's lock ends with its
 * unique_for.  A message without unique_key whose text is over
 * UNIQUE_MESSAGE_MAX bytes is refused (InvalidMessage): hashing its
 * arguments would cost the worker's parent too much.
 */
#ifndef CELERIAC_UNIQUE_H
#define CELERIAC_UNIQUE_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

#define UNIQUE_F_FOR "unique_for"
#define UNIQUE_F_KEY "unique_key"
/* Longest window: 10 years, in seconds. */
#define UNIQUE_FOR_MAX 315360000LL
#define UNIQUE_KEY_MAX 1024
/* Largest message keyed by its arguments (without unique_key). */
#define UNIQUE_MESSAGE_MAX (64 * 1024)
/* SHA-256 in hex, and its NUL. */
#define UNIQUE_HEX_LEN 64

/* The unique fields of one message. */
struct unique {
    long long for_s;  /* unique_for; 0 when the message has none */
    const char *key;  /* unique_key, borrowed from the message; or NULL */
    size_t key_len;
};

/*
 * Reads and checks the unique fields of a decoded message (root, an
 * object) whose text was msg_len bytes long.  Returns 0 (u->for_s 0 when
 * the message is not unique), or -1 with *err filled (InvalidMessage):
 * unique_for not a whole number in range, unique_key not a string of 1 to
 * UNIQUE_KEY_MAX bytes without NUL, unique_key without unique_for, or a
 * message over UNIQUE_MESSAGE_MAX without unique_key.
 */
int unique_decode(const json_t *root, size_t msg_len, struct unique *u,
                  struct proto_error *err);

/*
 * The digest of a lock, as 64 lower-case hex digits and a NUL in hex:
 * from key[0..key_len) when key is not NULL, else from task and args
 * (NULL: {}).  Returns 0, or -1 if args cannot be encoded.
 */
int unique_digest(const char *key, size_t key_len, const char *task,
                  const json_t *args, char hex[UNIQUE_HEX_LEN + 1]);

/*
 * The lock key of the message text msg[0..len) into buf[0..n): returns 1
 * when it is a valid unique task (buf holds "<prefix>unique:<hex>"), 0 when
 * it is not unique or not valid (its worker fails it; there is nothing to
 * release).  Cheap for a message that does not mention unique_for (one
 * memmem); a message over UNIQUE_MESSAGE_MAX is not decoded whole (its
 * arguments are left out first).
 */
int unique_lock_of(const char *msg, size_t len, const char *prefix,
                   char *buf, size_t n);

#endif
