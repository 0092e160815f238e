/* SPDX-License-Identifier: MIT */
/*
 * The task message builder: the one place that writes the JSON text of a
 * task message (PROTOCOL.md, "Task message").  Every producer path uses it
 * (`celeriac send`, `send --batch`, `celeriac hash`), so that what goes into
 * a queue is written one way.  protocol/vectors/messages.json holds inputs
 * and the exact bytes this builder makes of them; tests/unit/test_build.c
 * checks the builder against them, and a client in another language can
 * check itself against the same file.
 *
 * A message is written member by member in this order, each only when set:
 *
 *   {"v":1, "task", "args" (a JSON object, with a base64 payload or a
 *    source and its accept_status appended to it), "id", "queue", "reply_to", the members of "extra" (delivery
 *    fields) in their order, the members of "line" (pre-encoded object
 *    text, copied byte for byte)}
 *
 * Nothing large is encoded twice: a payload is base64-encoded straight into
 * the message, and a line's members are copied as they are.
 */
#ifndef CELERIAC_BUILD_H
#define CELERIAC_BUILD_H

#include <jansson.h>
#include <stddef.h>

/* Message field names (PROTOCOL.md, "Task message"). */
#define BUILD_F_VERSION "v"
#define BUILD_F_TASK "task"
#define BUILD_F_ARGS "args"
#define BUILD_F_ID "id"
#define BUILD_F_QUEUE "queue"
#define BUILD_F_REPLY_TO "reply_to"
/* Delivery fields, in the order producers write them. */
#define BUILD_F_EXPIRES "expires"
#define BUILD_F_TIME_LIMIT "time_limit"
#define BUILD_F_MAX_RETRIES "max_retries"
#define BUILD_F_RETRY_BACKOFF "retry_backoff"
#define BUILD_F_RETRY_BACKOFF_MAX "retry_backoff_max"
#define BUILD_F_RETRY_JITTER "retry_jitter"
/*
 * Sources: the members of "args" that say where a task's bytes come from
 * (PROTOCOL.md, "Sources"); a message names at most one.
 */
#define BUILD_F_DATA "data"         /* UTF-8 string, hashed as its bytes */
#define BUILD_F_DATA_B64 "data_b64" /* base64 */
#define BUILD_F_URL "url"           /* http:// or https:// */
#define BUILD_F_PATH "path"         /* relative to the worker's --files-root */
/* With "url" only: "any" hashes a non-2xx body instead of failing. */
#define BUILD_F_ACCEPT_STATUS "accept_status"
#define BUILD_ACCEPT_ANY "any"
/* Fields of a send --batch line only: the delay, turned into a due time. */
#define BUILD_F_COUNTDOWN "countdown"
#define BUILD_F_ETA "eta"
/* A worker's bookkeeping in a retried message (producers leave it out). */
#define BUILD_F_RETRIES "retries"
#define BUILD_F_ERRORS "errors"

/* What goes into a message; every pointer is borrowed, NULL: not set. */
struct build_spec {
    const char *task;   /* "task" (UTF-8) */
    const json_t *args; /* "args": an object; NULL with no payload: none */
    const char *payload_field;    /* a member appended to "args"... */
    const unsigned char *payload; /* ...holding these bytes as base64 */
    size_t payload_len;
    const char *source_field;  /* BUILD_F_URL or BUILD_F_PATH, appended to */
    const char *source;        /* "args" with this value (UTF-8) */
    const char *accept_status; /* BUILD_ACCEPT_ANY, after the url */
    const char *id;       /* "id" */
    const char *queue;    /* "queue" (delayed tasks) */
    const char *reply_to; /* "reply_to" */
    const json_t *extra;  /* an object whose members follow, in order */
    const char *line;     /* the text of a JSON object (already checked) */
    size_t line_len;      /* whose members come last, byte for byte */
};

/*
 * A message being built in one growing buffer.  Lifecycle: BUILD_INIT (or
 * zeroed), build_message() or build_head() + build_finish(), use buf/len
 * or build_take(), build_free().  A buffer is reused across messages.
 */
struct build {
    char *buf; /* owned; NUL-terminated when a message is complete */
    size_t len, cap;
    size_t head_len; /* bytes of the head kept by build_finish() */
};

#define BUILD_INIT                                                             \
    {                                                                          \
        NULL, 0, 0, 0                                                          \
    }

/* Errors of the build functions (returned negated: -BUILD_E_...). */
enum build_error {
    BUILD_E_UTF8 = 1, /* a string or a field name is not valid UTF-8 */
    BUILD_E_ARGS,     /* args or extra is not an object */
    BUILD_E_LINE,     /* line is not the text of an object */
    BUILD_E_NOMEM,    /* out of memory */
    BUILD_E_SOURCE,   /* two sources, or accept_status without a url */
};

/*
 * Writes the whole message of s into b (replacing what b held).  Returns
 * 0 with the message in b->buf[0..b->len), or a negative -BUILD_E_ code.
 */
int build_message(struct build *b, const struct build_spec *s);
/*
 * The same in two steps, for many messages that differ only in their line:
 * build_head() writes everything of s but its line and remembers where it
 * ends; each build_finish() puts a line's members after that head (the
 * head is kept, so it is written once for all of them).
 */
int build_head(struct build *b, const struct build_spec *s);
int build_finish(struct build *b, const char *line, size_t line_len);
/* The message, handed over (free()); b is empty afterwards. */
char *build_take(struct build *b, size_t *len);
void build_free(struct build *b);
/* What an error code means, for messages to a person. */
const char *build_strerror(int code);

#endif
