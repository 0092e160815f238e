/* SPDX-License-Identifier: MIT */
/*
 * rediss:// in the worker: the gate between hiredis and TLS.
 *
 * hiredis 0.14 can connect only by itself (TCP or a unix socket path; no
 * redisAsyncConnectFd), so with a rediss:// URL the gate listens on a unix
 * socket in a private directory (mode 0700, under $TMPDIR or /tmp), and
 * every Redis connection of the worker (broker.c, control.c) connects
 * there with redisAsyncConnectUnix().  Each accepted connection gets a
 * tlslink (common/tlslink.h) to the server on the worker's own loop: the
 * name is resolved with evdns, the handshake is non-blocking, buffers are
 * bounded.  When the TLS side cannot be set up, the gate logs why (bad
 * certificate, wrong host name, a plain server, ...) and closes the local
 * connection: hiredis sees it end, and the owner reconnects with its usual
 * backoff.  Repeated identical failures are logged at 1, 2, 4, 8, ...
 * attempts.
 *
 * With sentinel+tls:// the servers are many and change (each sentinel,
 * and whichever node the sentinels name as master), so the gate has a
 * socket per address ("route"), made when a connection to that address is
 * first wanted (tlsgate_connect_addr()); the certificate is checked against
 * that address as given (the sentinel's from the URL, the master's as the
 * sentinels name it).  At most TLSGATE_MAX_ROUTES exist at once; the least
 * recently used one is replaced.
 *
 * One gate per worker process; with a redis://, unix:// or sentinel:// URL
 * there is none and the connect functions connect directly.
 */
#ifndef CELERIAC_TLSGATE_H
#define CELERIAC_TLSGATE_H

#include <event2/event.h>
#include <hiredis/async.h>

#include "redisurl.h"
#include "tlsconf.h"

/*
 * Starts the gate for url (borrowed; must outlive the gate) on base,
 * with the TLS settings t.  Does nothing for a URL without TLS.  Returns
 * 0, or -1 after logging why (a bad certificate file, no temporary
 * directory).
 */
int tlsgate_start(struct event_base *base, const struct redisurl *url,
                  const struct tlsconf *t, long connect_ms);
/* A new async connection to url: through the gate for rediss:// (NULL
 * if the gate is not running: never a plain connection instead). */
redisAsyncContext *tlsgate_connect(const struct redisurl *url);
/* A new async connection to host:port: through the gate over TLS when tls
 * is set (NULL if the gate is not running or has no socket for it: never a
 * plain connection instead), else plain TCP. */
redisAsyncContext *tlsgate_connect_addr(int tls, const char *host, int port);
/* Closes every bridged connection and the socket, removes the directory. */
void tlsgate_stop(void);

#endif
