/* SPDX-License-Identifier: MIT */
/*
 * The task message: the JSON object in the "msg" field of a queue stream
 * entry (PROTOCOL.md, "Task message").
 *
 *   {"v": 1, "task": "hash", "args": {...}, "id": "...", "reply_to": "..."}
 *
 * "task" is required; "args" defaults to {}; "id" defaults to the stream
 * entry id; "reply_to" names a stream that also receives the result.
 * Unknown fields are ignored so that later versions can add fields.
 */
#ifndef CELERIAC_MESSAGE_H
#define CELERIAC_MESSAGE_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

/*
 * A decoded message.  Lifecycle: zero it (or MESSAGE_INIT), message_decode(),
 * use, message_clear().  The strings point into the "root" JSON tree and live
 * as long as it does.
 */
struct message {
    json_t *root;         /* new reference to the whole document */
    const char *task;     /* borrowed from root; never NULL after decode */
    const char *id;       /* borrowed from root; NULL when absent */
    const char *reply_to; /* borrowed from root; NULL when absent */
    json_t *args;         /* borrowed from root; an object, never NULL */
    int version;          /* "v", 1 when absent */
};

#define MESSAGE_INIT {NULL, NULL, NULL, NULL, NULL, 0}

/*
 * Decodes buf[0..len).  Returns 0, or -1 with *err filled; in both cases
 * message_clear() releases what *m holds.  When decoding fails after the
 * "id", "task" or "reply_to" fields were read, they stay set so that the
 * FAILURE result can still be addressed to the producer.
 */
int message_decode(const char *buf, size_t len, struct message *m,
                   struct proto_error *err);
void message_clear(struct message *m);

/*
 * Parses JSON text exactly as json_loadb(buf, len, JSON_REJECT_DUPLICATES,
 * jerr) would, faster for large messages (their payload string is not run
 * through jansson's lexer).  Returns a new reference, or NULL with *jerr
 * filled.
 */
json_t *message_load(const char *buf, size_t len, json_error_t *jerr);

/*
 * The text of the JSON object buf[0..len) (which message_load accepted)
 * with its top-level members whose key is in drop (a NULL-terminated list)
 * left out and the members in add (JSON text such as "\"k\":1,\"j\":2",
 * or "") appended.  Every other member is copied byte for byte, so nothing
 * is re-encoded (a number keeps its spelling).  Returns an owned string
 * (free()) with its length in *out_len, or NULL if buf is not an object.
 */
char *message_with_members(const char *buf, size_t len,
                           const char *const *drop, const char *add,
                           size_t *out_len);

/*
 * Whether the text buf[0..len) contains needle (nlen >= 1 bytes) whose
 * last byte is a double quote, as memmem() would say.  It steps from one
 * '"' to the next with memchr(), so a message's payload string (no quote
 * in it, or a few escaped ones) is passed at memchr's speed: memmem() of
 * a key over a 256 KiB message cost the parent ~40 us a lookup.
 */
int message_mentions(const char *buf, size_t len, const char *needle,
                     size_t nlen);
/*
 * The same for up to 32 NUL-terminated needles at once, in one pass over
 * buf: bit i of the result is set when needles[i] occurs.  A needle whose
 * last byte is not a double quote is looked for with memmem().
 */
unsigned message_mentions_any(const char *buf, size_t len,
                              const char *const *needles, size_t n);

/*
 * Encodes a message.  args may be NULL (then {}); id and reply_to may be
 * NULL.  Returns a string the caller frees with free(), or NULL if args is
 * not an object.
 */
char *message_encode(const char *task, const json_t *args, const char *id,
                     const char *reply_to);

#endif
