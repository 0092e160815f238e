/* SPDX-License-Identifier: MIT */
/*
 * The producer's one Redis connection: connect, AUTH and SELECT from a
 * struct redisurl, pipelined commands on the synchronous hiredis API, and
 * reconnecting with backoff (100 ms doubling to 2 s) when the connection is
 * lost while a command waits for results.
 *
 * Error convention of this file and of the modules built on it: a function
 * that fails returns -1 (or NULL).  If conn_lost() is then true, the
 * connection is gone and nothing was printed, so the caller may reconnect
 * or report it with conn_report_lost(); otherwise the error was already
 * printed.
 */
#ifndef CELERIAC_CONN_H
#define CELERIAC_CONN_H

#include <hiredis/hiredis.h>
#include <stdint.h>

#include "redisurl.h"

/* Default socket timeout of a command, in milliseconds. */
#define CONN_IO_TIMEOUT_MS 30000
/* Time allowed to set up a TCP or unix connection, in milliseconds. */
#define CONN_CONNECT_TIMEOUT_MS 5000

/*
 * Lifecycle: conn_init(), conn_connect(), commands (with conn_reconnect()
 * after a loss if the caller wants to go on), conn_close().
 */
struct conn {
    struct redisurl url; /* where to connect; owned */
    char *where;         /* url without credentials, for messages; owned */
    redisContext *ctx;   /* NULL while disconnected */
    unsigned generation; /* counts successful connects; starts at 0 */
};

/*
 * Picks and parses the address (--redis value, environment or default);
 * prefix is the deployment's key prefix (--prefix), which a cluster://
 * address needs to find the master of its slot.  Returns 0, or -1 after
 * printing why the URL (or the prefix, for a cluster) is bad.
 */
int conn_init(struct conn *c, const char *url_opt, const char *prefix);
/* The same with an address already parsed (copied into c).  Returns 0. */
int conn_init_url(struct conn *c, const struct redisurl *u);
/* Connects, AUTHs and SELECTs.  Returns 0, or -1 after printing why. */
int conn_connect(struct conn *c);
/*
 * Reports the lost connection, then tries to connect again: at once, then
 * after 100 ms, 200 ms, ... up to 2 s between tries, until deadline_us
 * (cli_now_us() clock; 0 = forever).  Returns 0 when connected again, or
 * -1 when the deadline passed (after printing that it gave up).
 */
int conn_reconnect(struct conn *c, int64_t deadline_us);
/*
 * 1 if r is an error Redis gives only for a while (LOADING after a restart,
 * BUSY while a script runs): the caller waits with conn_pause() and asks
 * again instead of failing.
 */
int conn_transient(const redisReply *r);
/*
 * Sleeps before asking again after a transient error: *delay_ms (doubled
 * up to 1 s for the next call), never past deadline_us (0: none).  Returns
 * -1 when the deadline has passed.
 */
int conn_pause(int64_t *delay_ms, int64_t deadline_us);
/* Disconnects and frees everything; c may be reused with conn_init(). */
void conn_close(struct conn *c);

/* True when there is no usable connection (never made, or lost). */
int conn_lost(const struct conn *c);
/* Prints "lost connection to Redis at X while DOING: reason — hint". */
void conn_report_lost(const struct conn *c, const char *doing);
/*
 * Prints that Redis answered WHAT with the error reply r, with a hint for
 * the common causes (NOAUTH, OOM, WRONGTYPE, READONLY, ...).
 */
void conn_report_error(const struct conn *c, const char *what,
                       const redisReply *r);

/*
 * The advice for a wait that timed out: whether Redis is unreachable, or
 * the tasks are still queued (no worker?).  A static string.
 */
const char *conn_timeout_hint(const struct conn *c);

/* Sets the socket timeout for the following commands, in milliseconds. */
void conn_set_timeout(struct conn *c, int ms);
/* Adds a command to the output buffer (pipelining); nothing is sent yet. */
void conn_append(struct conn *c, int argc, const char **argv,
                 const size_t *lens);
/* Writes the whole output buffer.  Returns 0, or -1 if the link is lost. */
int conn_flush(struct conn *c);
/*
 * Reads the reply to the oldest command not yet answered, sending the
 * output buffer first if needed.  Returns a reply the caller frees with
 * freeReplyObject(), or NULL if the connection is lost.
 */
redisReply *conn_reply(struct conn *c);
/* An integer reply, or a string or status holding a decimal integer, as a
 * number; 0 for anything else (NULL included). */
long long conn_reply_int(const redisReply *r);
/* conn_append() + conn_reply() for one command. */
redisReply *conn_command(struct conn *c, int argc, const char **argv,
                         const size_t *lens);
/* The same with NUL-terminated arguments ending with NULL. */
redisReply *conn_call(struct conn *c, const char *arg0, ...)
    __attribute__((sentinel));

#endif
