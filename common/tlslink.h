/* SPDX-License-Identifier: MIT */
/*
 * A TLS bridge for one Redis connection, on a libevent loop.
 *
 * Design.  hiredis 0.14 has no TLS and no way to plug in a transport: it
 * reads and writes a file descriptor itself.  So hiredis talks plain RESP
 * over a local stream socket (a socketpair in the CLI, an accepted
 * connection on a private unix socket in the worker: worker/tlsgate.h,
 * producer/tlspipe.h), and a tlslink copies the bytes between that local
 * end and a bufferevent_openssl connected to the server.  hiredis keeps
 * doing the protocol, its reply reader and its callbacks unchanged; the
 * link only moves bytes, so nothing of the wire contract changes.
 *
 *   hiredis <-- plain RESP --> local fd | tlslink | TLS <--> redis-server
 *
 * A link resolves the host (evdns when given, so the worker's loop never
 * waits), connects, and does the handshake with the checks of tlsconf.h,
 * connect_ms at most for each address; when an address refuses, is
 * unreachable or stays silent, the next address of the name is tried (as
 * hiredis does), but not after a TLS verdict (a refused certificate).  Bytes
 * hiredis writes before the handshake is done wait, bounded, in the local
 * socket.  Each direction holds at most TLSLINK_BUF_MAX bytes: past that, the
 * link stops reading the side that sends until the other side has taken half of
 * it (bufferevent watermarks), so a big reply or a long pipeline flows at the
 * pace of the slower side and never piles up in memory.
 *
 * The link owns itself: it ends (closing both ends, freeing everything)
 * when either side closes or fails.  Bytes the server sent before it
 * closed are delivered to hiredis first (so a "-ERR max clients" reaches
 * it).  The owner hears of the handshake's outcome, of the end, and of
 * the link being freed (struct tlslink_cbs); after a failed handshake the
 * local end is closed, so hiredis sees the connection end.
 */
#ifndef CELERIAC_TLSLINK_H
#define CELERIAC_TLSLINK_H

#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/ssl.h>

/* Bytes held in one direction before the sending side is paused. */
#define TLSLINK_BUF_MAX (256 * 1024)

struct tlslink;

/* What a link tells its owner; arg is tlslink_start()'s. */
struct tlslink_cbs {
    /*
     * The handshake's outcome, called once: err NULL when connected (then
     * version names the TLS version), else one line saying what went wrong
     * and what to do (owned by the link, valid during the call).
     */
    void (*ready)(void *arg, struct tlslink *l, const char *err,
                  const char *version);
    /*
     * The link ended after it was connected: err says why when the TLS
     * side failed (e.g. an alert: the server refused the client
     * certificate), NULL for an ordinary close.  May be NULL.
     */
    void (*ended)(void *arg, struct tlslink *l, const char *err);
    /* The link is about to be freed (always called, last).  May be NULL. */
    void (*gone)(void *arg, struct tlslink *l);
};

/*
 * Starts a link between local_fd (taken: closed by the link) and host:port
 * over TLS with ctx (borrowed; must outlive the link).  dns may be NULL
 * (then the name is resolved synchronously: the CLI only).  where names
 * the server in messages.  Returns the link, or NULL with local_fd closed
 * and *cause set (caller frees); ready is not called then.
 */
struct tlslink *tlslink_start(struct event_base *base, struct evdns_base *dns,
                              SSL_CTX *ctx, const char *host, int port,
                              const char *where, int local_fd, long connect_ms,
                              const struct tlslink_cbs *cbs, void *arg,
                              char **cause);
/* Ends a link now (both ends closed, nothing more delivered); gone is
 * called, ready and ended are not. */
void tlslink_free(struct tlslink *l);
/* Bytes the link holds now, both directions together (for tests: at most
 * about 2 x TLSLINK_BUF_MAX plus one read). */
size_t tlslink_buffered(const struct tlslink *l);

#endif
