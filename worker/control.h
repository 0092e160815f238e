/* SPDX-License-Identifier: MIT */
/*
 * Remote control of a worker (PROTOCOL.md, "Control"): a connection of its
 * own that reads the broadcast stream <prefix>control with a plain
 * blocking XREAD (no consumer group) from the last entry it saw (the
 * stream's end when the worker comes up), hands every request addressed
 * to this worker (its name or "*") to its owner, and writes the answer to
 * the request's reply stream: XADD <reply> * worker NAME ok 1|0 result
 * JSON, then EXPIRE <reply> 60.  It reconnects by itself with backoff; a
 * read silent past its BLOCK time and --redis-timeout drops the
 * connection.  It owns the connection and nothing else.
 */
#ifndef CELERIAC_CONTROL_H
#define CELERIAC_CONTROL_H

#include <event2/event.h>
#include <hiredis/async.h>
#include <jansson.h>

#include "keys.h"
#include "redisurl.h"
#include "sentinel_query.h"

/* Requests read at once at most, and a request's argument's length. */
#define CONTROL_READ_COUNT 16
#define CONTROL_ARG_MAX 256
/* The read's BLOCK, ms, and how long a reply stream lives, s. */
#define CONTROL_BLOCK_MS 5000
#define CONTROL_REPLY_TTL 60

/* One request, borrowed for the handler's call. */
struct control_req {
    const char *id;  /* request id (hex) */
    const char *cmd; /* "ping", "stats", ..., "shutdown", "pause", ... */
    const char *arg; /* "" when none */
};

/*
 * Answers rq: returns a new JSON value (the result) and sets *ok to 1, or
 * to 0 with the result saying why ({"error": "..."}).  Never NULL.
 */
typedef json_t *control_handle_fn(void *arg, const struct control_req *rq,
                                  int *ok);

struct control {
    struct event_base *base;    /* borrowed */
    const struct redisurl *url; /* borrowed */
    const char *prefix, *name;  /* borrowed */
    long timeout_ms;            /* --redis-timeout */
    char key[KEYS_MAX];         /* <prefix>control */
    char last_id[48];           /* the last entry seen; "" before the end
                                   of the stream is known */
    redisAsyncContext *ac;      /* NULL while disconnected */
    struct event *retry_ev;     /* owned: reconnect timer */
    struct event *watch_ev;     /* owned: the read's deadline */
    long backoff_ms;
    int stopping;
    unsigned long handled; /* requests answered */
    control_handle_fn *handle;
    void *arg;
    /* sentinel:// only: the master's look-up before each connect and the
     * address it gave (owned; NULL once used). */
    struct sentinel_query sq;
    char *master_host;
    int master_port;
};

/* Starts connecting; handle answers requests.  Returns 0 or -1. */
int control_start(struct control *c, struct event_base *base,
                  const struct redisurl *url, const char *prefix,
                  const char *name, long timeout_ms, control_handle_fn *handle,
                  void *arg);
/* Closes the connection (replies already queued are flushed first, as far
 * as the socket takes them without blocking) and frees what c owns. */
void control_stop(struct control *c);

#endif
