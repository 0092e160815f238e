/* SPDX-License-Identifier: MIT */
/*
 * rediss:// in the CLI.  The CLI's connection (conn.h) is synchronous
 * hiredis on a file descriptor, and hiredis 0.14 has no TLS, so each TLS
 * connection is a socketpair: hiredis gets one end (redisConnectFd()), a
 * tlslink (common/tlslink.h) bridges the other end to the server.
 *
 * The connection and the handshake run in the calling thread, on an
 * event_base of the connection's own (the CLI may wait; the name is
 * resolved with getaddrinfo), so every failure is known and reported by
 * tlspipe_open() itself.  Once the handshake is done, a thread takes that
 * event_base over and moves the bytes until hiredis closes its end
 * (redisFree()); then the link ends, the loop runs out of events and the
 * thread returns.  Nothing is shared between the threads after the
 * hand-over but the socketpair, a stop pipe, and the last error (under a
 * mutex).  At exit every thread is stopped through its pipe and joined,
 * so none outlives main() (an atexit handler).
 *
 * The TLS settings are process-wide: the --tls-* options of every command
 * (tlspipe_set()) and the CELERIAC_TLS_* variables (tlsconf.h).
 */
#ifndef CELERIAC_TLSPIPE_H
#define CELERIAC_TLSPIPE_H

#include "redisurl.h"
#include "tlsconf.h"

/* Stores a --tls-* option (name without the dashes); 0, or -1 if unknown. */
int tlspipe_set(const char *name, const char *value);
/* Stores every setting t has (the worker's, for its beat process). */
void tlspipe_use(const struct tlsconf *t);
/*
 * Connects to u's host and port over TLS within connect_ms and returns the
 * plain end for redisConnectFd(), or -1 with *cause set (caller frees) to
 * a line saying what went wrong and what to do.  where names the server.
 */
int tlspipe_open(const struct redisurl *u, const char *where, long connect_ms,
                 char **cause);
/*
 * Why the last TLS connection that was set up ended, if its TLS side
 * failed after the handshake (e.g. the server refused the client
 * certificate); NULL if none did.  Caller frees.
 */
char *tlspipe_last_error(void);

#endif
