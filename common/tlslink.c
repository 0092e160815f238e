/* SPDX-License-Identifier: MIT */
/* One hiredis connection bridged to TLS on a libevent loop (tlslink.h). */
#include "tlslink.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/util.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tlsconf.h"
#include "xmalloc.h"

struct tlslink {
    struct event_base *base;
    SSL_CTX *ctx; /* borrowed */
    char *host;   /* owned */
    char *where;  /* the server, for messages; owned */
    long connect_ms;
    struct bufferevent *local;  /* hiredis's plain end */
    struct bufferevent *remote; /* TLS to the server; owns its SSL */
    struct evdns_getaddrinfo_request *dns_req; /* resolving */
    int in_dns;                                /* inside evdns_getaddrinfo() */
    int resolved; /* dns_result and addrs are set */
    int dns_result;
    struct evutil_addrinfo *addrs; /* owned */
    struct evutil_addrinfo *addr;  /* being tried; NULL before the first */
    int connected;                 /* handshake done */
    int sockerr;                   /* errno when a connection failed */
    int draining;                  /* the server closed: flushing to hiredis */
    const struct tlslink_cbs *cbs;
    void *arg;
};

static void tlslink_dns_cb(int result, struct evutil_addrinfo *ai, void *arg);
static int tlslink_next(struct tlslink *l);
static void tlslink_fail(struct tlslink *l, char *why);
static void tlslink_remote_event(struct bufferevent *bev, short what,
                                 void *arg);
static void tlslink_local_event(struct bufferevent *bev, short what, void *arg);
static void tlslink_read(struct bufferevent *bev, void *arg);
static void tlslink_write(struct bufferevent *bev, void *arg);
static char *tlslink_failure(struct tlslink *l, short what,
                             unsigned long sslerr);
static char *tlslink_unresolved(const struct tlslink *l);
static void tlslink_tcp_options(struct bufferevent *bev);

static const struct tlslink_cbs tlslink_no_cbs;

struct tlslink *
tlslink_start(struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
              const char *host, int port, const char *where, int local_fd,
              long connect_ms, const struct tlslink_cbs *cbs, void *arg,
              char **cause)
{
    struct tlslink *l = xcalloc(1, sizeof(*l));
    struct evutil_addrinfo hints = {.ai_family = AF_UNSPEC,
                                    .ai_socktype = SOCK_STREAM,
                                    .ai_protocol = IPPROTO_TCP};
    char portstr[16];

    l->base = base;
    l->ctx = ctx;
    l->host = xstrdup(host);
    l->where = xstrdup(where);
    l->connect_ms = connect_ms;
    l->cbs = cbs;
    l->arg = arg;
    evutil_make_socket_nonblocking(local_fd);
    l->local = bufferevent_socket_new(base, local_fd, BEV_OPT_CLOSE_ON_FREE);
    if (l->local == NULL) {
        close(local_fd);
        *cause = xstrdup("cannot set up a TLS bridge: out of memory");
        goto fail;
    }
    /* Until the handshake is done only the server's end is watched: what
     * hiredis writes meanwhile waits in the local socket. */
    bufferevent_setcb(l->local, tlslink_read, tlslink_write,
                      tlslink_local_event, l);
    bufferevent_setwatermark(l->local, EV_READ, 0, TLSLINK_BUF_MAX);
    snprintf(portstr, sizeof(portstr), "%d", port);
    if (dns != NULL) {
        /* The answer may come at once (an address, /etc/hosts). */
        l->in_dns = 1;
        l->dns_req =
            evdns_getaddrinfo(dns, host, portstr, &hints, tlslink_dns_cb, l);
        l->in_dns = 0;
        if (l->resolved)
            l->dns_req = NULL;
    } else {
        l->dns_result = evutil_getaddrinfo(host, portstr, &hints, &l->addrs);
        l->resolved = 1;
    }
    if (l->resolved) {
        if (l->dns_result != 0) {
            *cause = tlslink_unresolved(l);
            goto fail;
        }
        if (tlslink_next(l) < 0) {
            *cause = tlslink_failure(l, BEV_EVENT_ERROR, 0);
            goto fail;
        }
    }
    return l;
fail:
    l->cbs = &tlslink_no_cbs; /* no gone(): it never started */
    tlslink_free(l);
    return NULL;
}

/* The name's addresses, or why there are none. */
static void
tlslink_dns_cb(int result, struct evutil_addrinfo *ai, void *arg)
{
    struct tlslink *l = arg;

    if (result == EVUTIL_EAI_CANCEL)
        return; /* tlslink_free(): l is gone */
    l->dns_req = NULL;
    l->dns_result = result;
    l->addrs = ai;
    l->resolved = 1;
    if (l->in_dns)
        return; /* tlslink_start() goes on */
    if (result != 0)
        tlslink_fail(l, tlslink_unresolved(l));
    else if (tlslink_next(l) < 0)
        tlslink_fail(l, tlslink_failure(l, BEV_EVENT_ERROR, 0));
}

static char *
tlslink_unresolved(const struct tlslink *l)
{
    return xasprintf("cannot resolve the host of %s: %s — check the host "
                     "name in the URL",
                     l->where, evutil_gai_strerror(l->dns_result));
}

/*
 * Connects to the next address of the name (the first on the first
 * call): a new SSL each time.  Returns 0 when a connection is under way,
 * -1 when no address is left (l->sockerr says why the last one failed).
 */
static int
tlslink_next(struct tlslink *l)
{
    struct evutil_addrinfo *ai = l->addr ? l->addr->ai_next : l->addrs;

    for (; ai != NULL; ai = ai->ai_next) {
        char *cause = NULL;
        l->addr = ai;
        if (l->remote != NULL) {
            bufferevent_free(l->remote);
            l->remote = NULL;
        }
        SSL *ssl = tlsconf_ssl_new(l->ctx, l->host, &cause);
        if (ssl == NULL) {
            free(cause);
            l->sockerr = ENOMEM;
            return -1;
        }
        /* Not deferred, so that errno still tells why a connect failed. */
        l->remote = bufferevent_openssl_socket_new(l->base, -1, ssl,
                                                   BUFFEREVENT_SSL_CONNECTING,
                                                   BEV_OPT_CLOSE_ON_FREE);
        if (l->remote == NULL) {
            SSL_free(ssl);
            l->sockerr = ENOMEM;
            return -1;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(l->remote, 1);
        bufferevent_setcb(l->remote, NULL, NULL, tlslink_remote_event, l);
        bufferevent_setwatermark(l->remote, EV_READ, 0, TLSLINK_BUF_MAX);
        if (l->connect_ms > 0) {
            struct timeval tv = {l->connect_ms / 1000,
                                 (l->connect_ms % 1000) * 1000};
            bufferevent_set_timeouts(l->remote, &tv, &tv);
        }
        if (bufferevent_socket_connect(l->remote, ai->ai_addr,
                                       (int)ai->ai_addrlen) == 0)
            return 0;
        l->sockerr = EVUTIL_SOCKET_ERROR();
    }
    return -1;
}

/* The handshake failed for good: tell the owner (takes why), end. */
static void
tlslink_fail(struct tlslink *l, char *why)
{
    l->cbs->ready(l->arg, l, why, NULL);
    free(why);
    tlslink_free(l);
}

void
tlslink_free(struct tlslink *l)
{
    if (l->cbs->gone != NULL)
        l->cbs->gone(l->arg, l);
    if (l->dns_req != NULL) {
        struct evdns_getaddrinfo_request *r = l->dns_req;
        l->dns_req = NULL;
        evdns_getaddrinfo_cancel(r);
    }
    if (l->addrs != NULL)
        evutil_freeaddrinfo(l->addrs);
    if (l->local != NULL)
        bufferevent_free(l->local);
    if (l->remote != NULL)
        bufferevent_free(l->remote);
    free(l->host);
    free(l->where);
    free(l);
}

size_t
tlslink_buffered(const struct tlslink *l)
{
    size_t n = evbuffer_get_length(bufferevent_get_input(l->local)) +
               evbuffer_get_length(bufferevent_get_output(l->local));
    if (l->remote != NULL)
        n += evbuffer_get_length(bufferevent_get_input(l->remote)) +
             evbuffer_get_length(bufferevent_get_output(l->remote));
    return n;
}

/* Like hiredis's own TCP sockets: no Nagle delay, keep-alive probes. */
static void
tlslink_tcp_options(struct bufferevent *bev)
{
    evutil_socket_t fd = bufferevent_getfd(bev);
    int on = 1;
    if (fd < 0)
        return;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
}

/* Why the connection or handshake failed, with what to do; owned.
 * sslerr: the link's first OpenSSL error (0: none). */
static char *
tlslink_failure(struct tlslink *l, short what, unsigned long sslerr)
{
    int sockerr = l->sockerr;

    if (sslerr != 0 && ERR_SYSTEM_ERROR(sslerr)) { /* errno, queued */
        sockerr = ERR_GET_REASON(sslerr);
        sslerr = 0;
    } else if (sslerr != 0 && ERR_GET_LIB(sslerr) == 0) {
        sslerr = 0; /* libevent's SSL_ERROR_SYSCALL: see sockerr */
    }
    if (sslerr != 0)
        return tlsconf_explain(
            l->remote != NULL ? bufferevent_openssl_get_ssl(l->remote) : NULL,
            sslerr, l->where);
    if (what & BEV_EVENT_TIMEOUT)
        return xasprintf("no TLS handshake with %s within %ld ms — is it "
                         "the server's TLS port? (a plain Redis port does "
                         "not answer TLS: use redis:// for it)",
                         l->where, l->connect_ms);
    if (sockerr == 0)
        return xasprintf("%s closed the connection during the TLS handshake "
                         "— is it a plain Redis port (then use redis://), "
                         "or does it want a client certificate "
                         "(--tls-cert, --tls-key)?",
                         l->where);
    return xasprintf("cannot connect to %s: %s — is redis-server running "
                     "with TLS on that port?",
                     l->where, evutil_socket_error_to_string(sockerr));
}

static void
tlslink_remote_event(struct bufferevent *bev, short what, void *arg)
{
    struct tlslink *l = arg;

    if (!l->connected) {
        if (!(what & BEV_EVENT_CONNECTED))
            l->sockerr = EVUTIL_SOCKET_ERROR();
        if (what & BEV_EVENT_CONNECTED) {
            l->connected = 1;
            bufferevent_set_timeouts(bev, NULL, NULL);
            tlslink_tcp_options(bev);
            bufferevent_setcb(bev, tlslink_read, tlslink_write,
                              tlslink_remote_event, l);
            bufferevent_enable(l->local, EV_READ | EV_WRITE);
            bufferevent_enable(bev, EV_READ | EV_WRITE);
            SSL *ssl = bufferevent_openssl_get_ssl(bev);
            l->cbs->ready(l->arg, l, NULL, SSL_get_version(ssl));
            return;
        }
        unsigned long sslerr = bufferevent_get_openssl_error(bev);
        while (bufferevent_get_openssl_error(bev) != 0)
            ;
        char *why = tlslink_failure(l, what, sslerr);
        /* Not a verdict of TLS (refused, unreachable, silent): the name's
         * next address, if it has one. */
        int tls_said = sslerr != 0 && !ERR_SYSTEM_ERROR(sslerr) &&
                       ERR_GET_LIB(sslerr) != 0;
        if (!tls_said && l->addr != NULL && l->addr->ai_next != NULL) {
            if (tlslink_next(l) == 0) {
                free(why);
                return;
            }
            free(why);
            why = tlslink_failure(l, BEV_EVENT_ERROR, 0);
        }
        tlslink_fail(l, why);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (l->cbs->ended != NULL) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char *why = NULL;
        if (e != 0)
            why =
                tlsconf_explain(bufferevent_openssl_get_ssl(bev), e, l->where);
        while (bufferevent_get_openssl_error(bev) != 0)
            ;
        l->cbs->ended(l->arg, l, why);
        free(why);
    }
    /* Deliver what the server said last (an error reply), then close. */
    tlslink_read(bev, l);
    if (evbuffer_get_length(bufferevent_get_output(l->local)) == 0) {
        tlslink_free(l);
        return;
    }
    l->draining = 1;
    bufferevent_disable(bev, EV_READ | EV_WRITE);
    bufferevent_disable(l->local, EV_READ);
    bufferevent_setwatermark(l->local, EV_WRITE, 0, 0);
}

/* hiredis closed its end (or it failed): nothing more is wanted. */
static void
tlslink_local_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        tlslink_free(arg);
}

/* Moves what one side sent to the other; pauses it at TLSLINK_BUF_MAX. */
static void
tlslink_read(struct bufferevent *from, void *arg)
{
    struct tlslink *l = arg;
    struct bufferevent *to = from == l->local ? l->remote : l->local;
    struct evbuffer *out = bufferevent_get_output(to);

    evbuffer_add_buffer(out, bufferevent_get_input(from));
    if (!l->draining && evbuffer_get_length(out) >= TLSLINK_BUF_MAX) {
        bufferevent_disable(from, EV_READ);
        bufferevent_setwatermark(to, EV_WRITE, TLSLINK_BUF_MAX / 2, 0);
    }
}

/* to's output fell to its low watermark: resume the side that fills it. */
static void
tlslink_write(struct bufferevent *to, void *arg)
{
    struct tlslink *l = arg;
    struct bufferevent *from = to == l->local ? l->remote : l->local;

    if (l->draining) {
        if (to == l->local &&
            evbuffer_get_length(bufferevent_get_output(to)) == 0)
            tlslink_free(l);
        return;
    }
    if (!(bufferevent_get_enabled(from) & EV_READ)) {
        bufferevent_setwatermark(to, EV_WRITE, 0, 0);
        bufferevent_enable(from, EV_READ);
    }
}
