/* SPDX-License-Identifier: MIT */
/* The worker's gate from hiredis to TLS (tlsgate.h). */
#include "tlsgate.h"

#include <errno.h>
#include <stdint.h>
#include <event2/dns.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "tlslink.h"
#include "xmalloc.h"

#define TLSGATE_MAX_LINKS 64 /* far more than the worker's connections */
/* Addresses with a socket of their own at once (sentinel+tls://: each
 * sentinel and each master named); the least recently used goes first. */
#define TLSGATE_MAX_ROUTES 32

/* Failed handshakes to one server, for logging them sparingly. */
struct tlsgate_fails {
    unsigned failures; /* handshakes failed in a row */
    char *last_err;    /* the last one logged; owned */
};

/* One server the gate reaches, and the unix socket that leads there. */
struct tlsgate_route {
    char *host;  /* owned; NULL: the slot is free */
    int port;
    unsigned long id; /* its links' argument: the route may go first */
    struct tlsgate_fails fails;
    char *path;  /* the socket in the private directory; owned */
    char *where; /* names the server in messages; owned */
    struct evconnlistener *listener;
    unsigned long used; /* gate.clock when last connected to */
};

static struct {
    const struct redisurl *url;
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ctx;
    struct evconnlistener *listener;
    char *dir;  /* the private directory; owned */
    char *path; /* the socket in it; owned */
    char *where;
    struct tlsgate_route routes[TLSGATE_MAX_ROUTES];
    unsigned long clock;  /* counts tlsgate_connect_addr() calls */
    unsigned long nroute; /* names the next route's socket */
    long connect_ms;
    struct tlslink *links[TLSGATE_MAX_LINKS];
    int nlinks;
    struct tlsgate_fails fails; /* the URL's server, or a route gone */
    unsigned ended;    /* links that ended with a TLS error, ever */
    char *last_ended;  /* the last such error logged; owned */
} gate;

static void tlsgate_accept(struct evconnlistener *lev, evutil_socket_t fd,
                           struct sockaddr *sa, int socklen, void *arg);
static struct evconnlistener *tlsgate_listen(const char *path, void *arg);
static struct tlsgate_route *tlsgate_route(const char *host, int port);
static void tlsgate_route_free(struct tlsgate_route *r);
static struct tlsgate_fails *tlsgate_fails_of(void *arg, const char **where);
static void tlsgate_ready(void *arg, struct tlslink *l, const char *err,
                          const char *version);
static void tlsgate_ended(void *arg, struct tlslink *l, const char *err);
static void tlsgate_gone(void *arg, struct tlslink *l);

static const struct tlslink_cbs tlsgate_cbs = {
    .ready = tlsgate_ready,
    .ended = tlsgate_ended,
    .gone = tlsgate_gone,
};

int
tlsgate_start(struct event_base *base, const struct redisurl *url,
              const struct tlsconf *t, long connect_ms)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    char *cause = NULL;

    if (!url->tls)
        return 0;
    gate.url = url;
    gate.base = base;
    gate.connect_ms = connect_ms;
    gate.where = redisurl_describe(url);
    gate.ctx = tlsconf_ctx_new(t, &cause);
    if (gate.ctx == NULL) {
        log_error("%s", cause);
        free(cause);
        goto fail;
    }
    gate.dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                        EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (gate.dns == NULL) /* no resolv.conf: /etc/hosts and literals */
        gate.dns = evdns_base_new(base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (gate.dns == NULL) {
        log_error("cannot set up name resolution for the Redis host");
        goto fail;
    }
    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] != '/')
        tmp = "/tmp";
    gate.dir = xasprintf("%s/celeriac-tls.XXXXXX", tmp);
    if (mkdtemp(gate.dir) == NULL) {
        log_error("cannot make a private directory in %s for the TLS "
                  "bridge: %s — set TMPDIR to a writable directory",
                  tmp, strerror(errno));
        free(gate.dir);
        gate.dir = NULL;
        goto fail;
    }
    gate.path = xasprintf("%s/redis.sock", gate.dir);
    /* With routes: the longest name a route's socket gets ("r99999.sock"
     * beside "redis.sock"), checked once here. */
    if (strlen(gate.path) + (url->sentinel != NULL ? 1 : 0) >=
        sizeof(sun.sun_path)) {
        log_error("the TLS bridge's socket path %s is too long — set "
                  "TMPDIR to a shorter directory",
                  gate.path);
        goto fail;
    }
    if (url->sentinel != NULL) { /* a socket per address, made on demand */
        log_debug("TLS bridge for %s in %s", gate.where, gate.dir);
        return 0;
    }
    gate.listener = tlsgate_listen(gate.path, NULL);
    if (gate.listener == NULL) {
        log_error("cannot listen on %s for the TLS bridge: %s", gate.path,
                  strerror(errno));
        goto fail;
    }
    log_debug("TLS bridge for %s on %s", gate.where, gate.path);
    return 0;
fail:
    tlsgate_stop();
    return -1;
}

/* A listening unix socket at path whose connections go to arg's server
 * (a route; NULL: the URL's).  NULL with errno set. */
static struct evconnlistener *
tlsgate_listen(const char *path, void *arg)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};

    strcpy(sun.sun_path, path); /* its length was checked at the start */
    struct evconnlistener *lev =
        evconnlistener_new_bind(gate.base, tlsgate_accept, arg,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                16, (struct sockaddr *)&sun, sizeof(sun));
    return lev;
}

static void
tlsgate_route_free(struct tlsgate_route *r)
{
    if (r->listener != NULL)
        evconnlistener_free(r->listener);
    if (r->path != NULL)
        unlink(r->path);
    free(r->host);
    free(r->path);
    free(r->where);
    free(r->fails.last_err);
    memset(r, 0, sizeof(*r));
}

/*
 * The route to host:port: the one there is, or a new one in a free slot,
 * else in the least recently used one (a connection still waiting on that
 * socket ends, and its owner retries).  NULL after logging why.
 */
static struct tlsgate_route *
tlsgate_route(const char *host, int port)
{
    struct tlsgate_route *r = NULL;

    for (int i = 0; i < TLSGATE_MAX_ROUTES; i++) {
        struct tlsgate_route *x = &gate.routes[i];
        if (x->host != NULL && x->port == port && strcmp(x->host, host) == 0)
            return x;
        if (r == NULL || (r->host != NULL &&
                          (x->host == NULL || x->used < r->used)))
            r = x;
    }
    tlsgate_route_free(r);
    r->host = xstrdup(host);
    r->port = port;
    r->id = ++gate.nroute;
    r->path = xasprintf("%s/r%lu.sock", gate.dir, r->id % 100000);
    r->where = strchr(host, ':') != NULL ? xasprintf("[%s]:%d", host, port)
                                         : xasprintf("%s:%d", host, port);
    unlink(r->path); /* a socket of a route freed before */
    r->listener = tlsgate_listen(r->path, r);
    if (r->listener == NULL) {
        log_warnx("cannot listen on %s for the TLS bridge to %s: %s", r->path,
                  r->where, strerror(errno));
        tlsgate_route_free(r);
        return NULL;
    }
    log_debug("TLS bridge for %s on %s", r->where, r->path);
    return r;
}

redisAsyncContext *
tlsgate_connect(const struct redisurl *url)
{
    if (url->path != NULL)
        return redisAsyncConnectUnix(url->path);
    if (url->tls) /* never in plain text, even if the gate is missing */
        return gate.listener != NULL ? redisAsyncConnectUnix(gate.path)
                                     : NULL;
    return redisAsyncConnect(url->host, url->port);
}

redisAsyncContext *
tlsgate_connect_addr(int tls, const char *host, int port)
{
    if (!tls)
        return redisAsyncConnect(host, port);
    if (gate.dir == NULL) /* never in plain text instead */
        return NULL;
    struct tlsgate_route *r = tlsgate_route(host, port);
    if (r == NULL)
        return NULL;
    r->used = ++gate.clock;
    return redisAsyncConnectUnix(r->path);
}

void
tlsgate_stop(void)
{
    while (gate.nlinks > 0)
        tlslink_free(gate.links[gate.nlinks - 1]); /* gone() drops it */
    for (int i = 0; i < TLSGATE_MAX_ROUTES; i++)
        tlsgate_route_free(&gate.routes[i]);
    if (gate.listener != NULL)
        evconnlistener_free(gate.listener);
    if (gate.path != NULL)
        unlink(gate.path);
    if (gate.dir != NULL)
        rmdir(gate.dir);
    if (gate.dns != NULL)
        evdns_base_free(gate.dns, 0);
    SSL_CTX_free(gate.ctx);
    free(gate.path);
    free(gate.dir);
    free(gate.where);
    free(gate.fails.last_err);
    free(gate.last_ended);
    memset(&gate, 0, sizeof(gate));
}

static void
tlsgate_accept(struct evconnlistener *lev, evutil_socket_t fd,
               struct sockaddr *sa, int socklen, void *arg)
{
    struct tlsgate_route *r = arg; /* NULL: the URL's server */
    char *cause = NULL;

    (void)lev;
    (void)sa;
    (void)socklen;
    if (gate.nlinks == TLSGATE_MAX_LINKS) {
        log_warnx("TLS bridge: %d connections already; refusing one more",
                  TLSGATE_MAX_LINKS);
        close(fd);
        return;
    }
    /* The link copies what it needs: the route may go before it ends. */
    struct tlslink *l = tlslink_start(
        gate.base, gate.dns, gate.ctx, r ? r->host : gate.url->host,
        r ? r->port : gate.url->port, r ? r->where : gate.where, fd,
        gate.connect_ms, &tlsgate_cbs, r ? (void *)(uintptr_t)r->id : NULL,
        &cause);
    if (l == NULL) {
        log_warnx("%s", cause);
        free(cause);
        return;
    }
    gate.links[gate.nlinks++] = l;
}

/* The failure count of a link's server and its name: its route's (arg is
 * the route's id), or the gate's for the URL's server or a route since
 * replaced. */
static struct tlsgate_fails *
tlsgate_fails_of(void *arg, const char **where)
{
    unsigned long id = (unsigned long)(uintptr_t)arg;
    for (int i = 0; id != 0 && i < TLSGATE_MAX_ROUTES; i++)
        if (gate.routes[i].host != NULL && gate.routes[i].id == id) {
            *where = gate.routes[i].where;
            return &gate.routes[i].fails;
        }
    *where = gate.where;
    return &gate.fails;
}

static void
tlsgate_ready(void *arg, struct tlslink *l, const char *err,
              const char *version)
{
    const char *where;
    struct tlsgate_fails *f = tlsgate_fails_of(arg, &where);

    (void)l;
    if (err == NULL) {
        if (f->failures > 0)
            log_info("TLS to %s works again (%s)", where, version);
        else
            log_debug("TLS to %s (%s)", where, version);
        f->failures = 0;
        free(f->last_err);
        f->last_err = NULL;
        return;
    }
    /* Once per new reason, then at 2, 4, 8, ... failures in a row (per
     * server: with sentinel+tls:// each sentinel and master counts apart). */
    f->failures++;
    int changed = f->last_err == NULL || strcmp(f->last_err, err) != 0;
    if (changed || (f->failures & (f->failures - 1)) == 0)
        log_warnx("%s (attempt %u; retrying)", err, f->failures);
    if (changed) {
        free(f->last_err);
        f->last_err = xstrdup(err);
    }
}

static void
tlsgate_ended(void *arg, struct tlslink *l, const char *err)
{
    (void)arg;
    (void)l;
    if (err == NULL)
        return;
    /* E.g. TLS 1.3: the server refuses the client certificate after the
     * handshake, on every connection.  Logged at 1, 2, 4, ... times. */
    gate.ended++;
    int changed = gate.last_ended == NULL || strcmp(gate.last_ended, err);
    if (changed || (gate.ended & (gate.ended - 1)) == 0)
        log_warnx("TLS connection to %s ended: %s (%u times)", gate.where, err,
                  gate.ended);
    if (changed) {
        free(gate.last_ended);
        gate.last_ended = xstrdup(err);
    }
}

static void
tlsgate_gone(void *arg, struct tlslink *l)
{
    (void)arg;
    for (int i = 0; i < gate.nlinks; i++) {
        if (gate.links[i] == l) {
            gate.links[i] = gate.links[--gate.nlinks];
            return;
        }
    }
}
