/* SPDX-License-Identifier: MIT */
/* The worker's gate from hiredis to TLS (tlsgate.h). */
#include "tlsgate.h"

#include <errno.h>
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

static struct {
    const struct redisurl *url;
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *ctx;
    struct evconnlistener *listener;
    char *dir;  /* the private directory; owned */
    char *path; /* the socket in it; owned */
    char *where;
    long connect_ms;
    struct tlslink *links[TLSGATE_MAX_LINKS];
    int nlinks;
    unsigned failures; /* handshakes failed in a row */
    char *last_err;    /* the last one logged; owned */
    unsigned ended;    /* links that ended with a TLS error, ever */
    char *last_ended;  /* the last such error logged; owned */
} gate;

static void tlsgate_accept(struct evconnlistener *lev, evutil_socket_t fd,
                           struct sockaddr *sa, int socklen, void *arg);
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
    if (strlen(gate.path) >= sizeof(sun.sun_path)) {
        log_error("the TLS bridge's socket path %s is too long — set "
                  "TMPDIR to a shorter directory",
                  gate.path);
        goto fail;
    }
    strcpy(sun.sun_path, gate.path);
    gate.listener =
        evconnlistener_new_bind(base, tlsgate_accept, NULL,
                                LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
                                16, (struct sockaddr *)&sun, sizeof(sun));
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

redisAsyncContext *
tlsgate_connect(const struct redisurl *url)
{
    if (url->path != NULL)
        return redisAsyncConnectUnix(url->path);
    if (url->tls) /* never in plain text, even if the gate is missing */
        return gate.path != NULL ? redisAsyncConnectUnix(gate.path) : NULL;
    return redisAsyncConnect(url->host, url->port);
}

void
tlsgate_stop(void)
{
    while (gate.nlinks > 0)
        tlslink_free(gate.links[gate.nlinks - 1]); /* gone() drops it */
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
    free(gate.last_err);
    free(gate.last_ended);
    memset(&gate, 0, sizeof(gate));
}

static void
tlsgate_accept(struct evconnlistener *lev, evutil_socket_t fd,
               struct sockaddr *sa, int socklen, void *arg)
{
    char *cause = NULL;

    (void)lev;
    (void)sa;
    (void)socklen;
    (void)arg;
    if (gate.nlinks == TLSGATE_MAX_LINKS) {
        log_warnx("TLS bridge: %d connections already; refusing one more",
                  TLSGATE_MAX_LINKS);
        close(fd);
        return;
    }
    struct tlslink *l = tlslink_start(
        gate.base, gate.dns, gate.ctx, gate.url->host, gate.url->port,
        gate.where, fd, gate.connect_ms, &tlsgate_cbs, NULL, &cause);
    if (l == NULL) {
        log_warnx("%s", cause);
        free(cause);
        return;
    }
    gate.links[gate.nlinks++] = l;
}

static void
tlsgate_ready(void *arg, struct tlslink *l, const char *err,
              const char *version)
{
    (void)arg;
    (void)l;
    if (err == NULL) {
        if (gate.failures > 0)
            log_info("TLS to %s works again (%s)", gate.where, version);
        else
            log_debug("TLS to %s (%s)", gate.where, version);
        gate.failures = 0;
        free(gate.last_err);
        gate.last_err = NULL;
        return;
    }
    gate.failures++;
    int changed = gate.last_err == NULL || strcmp(gate.last_err, err) != 0;
    if (changed || (gate.failures & (gate.failures - 1)) == 0)
        log_warnx("%s (attempt %u; retrying)", err, gate.failures);
    if (changed) {
        free(gate.last_err);
        gate.last_err = xstrdup(err);
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
