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
    struct bufferevent *local;  /* hiredis's plain end */
    struct bufferevent *remote; /* TLS to the server; owns its SSL */
    char *where;                /* the server, for messages; owned */
    long connect_ms;
    int connected;              /* handshake done */
    int starting;               /* inside tlslink_start() */
    short early;                /* an event while starting: failed at once */
    int sockerr;                /* errno when the connection failed */
    int draining;               /* the server closed: flushing to hiredis */
    const struct tlslink_cbs *cbs;
    void *arg;
};

static void tlslink_remote_event(struct bufferevent *bev, short what,
                                 void *arg);
static void tlslink_local_event(struct bufferevent *bev, short what,
                                void *arg);
static void tlslink_read(struct bufferevent *bev, void *arg);
static void tlslink_write(struct bufferevent *bev, void *arg);
static char *tlslink_failure(struct tlslink *l, short what);
static void tlslink_tcp_options(struct bufferevent *bev);

struct tlslink *
tlslink_start(struct event_base *base, struct evdns_base *dns, SSL_CTX *ctx,
              const char *host, int port, const char *where, int local_fd,
              long connect_ms, const struct tlslink_cbs *cbs, void *arg,
              char **cause)
{
    struct tlslink *l = xcalloc(1, sizeof(*l));
    SSL *ssl = tlsconf_ssl_new(ctx, host, cause);

    l->where = xstrdup(where);
    l->connect_ms = connect_ms;
    l->cbs = cbs;
    l->arg = arg;
    if (ssl == NULL) {
        close(local_fd);
        goto fail;
    }
    evutil_make_socket_nonblocking(local_fd);
    l->local = bufferevent_socket_new(base, local_fd, BEV_OPT_CLOSE_ON_FREE);
    if (l->local == NULL) {
        close(local_fd);
        SSL_free(ssl);
        *cause = xstrdup("cannot set up a TLS bridge: out of memory");
        goto fail;
    }
    /* Not deferred, so that errno still tells why a connect failed. */
    l->remote = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (l->remote == NULL) {
        SSL_free(ssl);
        *cause = xstrdup("cannot set up a TLS bridge: out of memory");
        goto fail;
    }
    bufferevent_openssl_set_allow_dirty_shutdown(l->remote, 1);
    /* Until the handshake is done only the server's end is watched: what
     * hiredis writes meanwhile waits in the local socket. */
    bufferevent_setcb(l->local, tlslink_read, tlslink_write,
                      tlslink_local_event, l);
    bufferevent_setcb(l->remote, NULL, NULL, tlslink_remote_event, l);
    bufferevent_setwatermark(l->local, EV_READ, 0, TLSLINK_BUF_MAX);
    bufferevent_setwatermark(l->remote, EV_READ, 0, TLSLINK_BUF_MAX);
    if (connect_ms > 0) {
        struct timeval tv = {connect_ms / 1000, (connect_ms % 1000) * 1000};
        bufferevent_set_timeouts(l->remote, &tv, &tv);
    }
    /* A failure found at once (a name that does not resolve, without
     * evdns) comes back through tlslink_remote_event() before this
     * returns: it is reported by the return value instead. */
    l->starting = 1;
    int rc = bufferevent_socket_connect_hostname(l->remote, dns, AF_UNSPEC,
                                                 host, port);
    l->starting = 0;
    if (l->early != 0) {
        *cause = tlslink_failure(l, l->early);
        goto fail;
    }
    if (rc < 0) {
        *cause = xasprintf("cannot connect to %s: %s — check the host name "
                           "and port in the URL",
                           where, strerror(errno));
        goto fail;
    }
    return l;
fail:
    if (l->local != NULL)
        bufferevent_free(l->local);
    if (l->remote != NULL)
        bufferevent_free(l->remote);
    free(l->where);
    free(l);
    return NULL;
}

void
tlslink_free(struct tlslink *l)
{
    if (l->cbs->gone != NULL)
        l->cbs->gone(l->arg, l);
    bufferevent_free(l->local);
    bufferevent_free(l->remote);
    free(l->where);
    free(l);
}

size_t
tlslink_buffered(const struct tlslink *l)
{
    return evbuffer_get_length(bufferevent_get_input(l->local)) +
           evbuffer_get_length(bufferevent_get_output(l->local)) +
           evbuffer_get_length(bufferevent_get_input(l->remote)) +
           evbuffer_get_length(bufferevent_get_output(l->remote));
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

/* Why the connection or handshake failed, with what to do; owned. */
static char *
tlslink_failure(struct tlslink *l, short what)
{
    int dnserr = bufferevent_socket_get_dns_error(l->remote);
    unsigned long sslerr = bufferevent_get_openssl_error(l->remote);
    int sockerr = l->sockerr;

    while (bufferevent_get_openssl_error(l->remote) != 0)
        ;
    if (dnserr != 0)
        return xasprintf("cannot resolve the host of %s: %s — check the "
                         "host name in the URL",
                         l->where, evutil_gai_strerror(dnserr));
    if (sslerr != 0 && ERR_SYSTEM_ERROR(sslerr)) { /* errno, queued */
        sockerr = ERR_GET_REASON(sslerr);
        sslerr = 0;
    } else if (sslerr != 0 && ERR_GET_LIB(sslerr) == 0) {
        sslerr = 0; /* libevent's SSL_ERROR_SYSCALL: see sockerr */
    }
    if (sslerr != 0)
        return tlsconf_explain(bufferevent_openssl_get_ssl(l->remote),
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
        if (l->starting) {
            l->early = what;
            return;
        }
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
        char *why = tlslink_failure(l, what);
        l->cbs->ready(l->arg, l, why, NULL);
        free(why);
        tlslink_free(l);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)))
        return;
    if (l->cbs->ended != NULL) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char *why = NULL;
        if (e != 0)
            why = tlsconf_explain(bufferevent_openssl_get_ssl(bev), e,
                                  l->where);
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
