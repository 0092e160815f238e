/* SPDX-License-Identifier: MIT */
/* Finding the master through Redis Sentinel for the CLI; see connsentinel.h. */
#include "connsentinel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sentinel.h"
#include "tlspipe.h"
#include "xmalloc.h"

static redisReply *connsentinel_ask(const struct sentinelurl *s, int i,
                                    const char **why);
static redisContext *connsentinel_tls(const struct sentinelurl *s, int i,
                                      const char **why);

/* sentinel+tls://: a connection to sentinel i through a TLS pipe
 * (tlspipe.h), the certificate checked against the address in the URL.
 * NULL with *why (static) if the TLS side cannot be set up. */
static redisContext *
connsentinel_tls(const struct sentinelurl *s, int i, const char **why)
{
    static char err[600];
    struct redisurl u = {.host = s->addrs[i].host, .port = s->addrs[i].port,
                         .tls = 1};
    char *where = xasprintf("%s %s:%d", s->cluster ? "seed node" : "sentinel",
                            s->addrs[i].host, s->addrs[i].port);
    char *cause = NULL;
    int fd = tlspipe_open(&u, where, CONNSENTINEL_TIMEOUT_MS, &cause);

    free(where);
    if (fd < 0) {
        snprintf(err, sizeof(err), "cannot connect over TLS: %s", cause);
        free(cause);
        *why = err;
        return NULL;
    }
    return redisConnectFd(fd);
}

/* Asks sentinel i for the master; NULL with *why if it cannot be asked. */
static redisReply *
connsentinel_ask(const struct sentinelurl *s, int i, const char **why)
{
    struct timeval tv = {CONNSENTINEL_TIMEOUT_MS / 1000,
                         (CONNSENTINEL_TIMEOUT_MS % 1000) * 1000};
    redisContext *ctx = NULL;
    redisReply *r = NULL;

    if (s->tls) {
        ctx = connsentinel_tls(s, i, why);
        if (ctx == NULL && *why != NULL)
            return NULL;
    } else {
        ctx = redisConnectWithTimeout(s->addrs[i].host, s->addrs[i].port, tv);
    }
    if (ctx == NULL || ctx->err) {
        static char err[160];
        snprintf(err, sizeof(err), "cannot connect: %s",
                 ctx ? ctx->errstr : "out of memory");
        *why = err;
        goto done;
    }
    redisSetTimeout(ctx, tv);
    if (s->password != NULL) {
        r = s->user != NULL
                ? redisCommand(ctx, "AUTH %s %s", s->user, s->password)
                : redisCommand(ctx, "AUTH %s", s->password);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            *why = s->cluster ? "it refused the URL's user and password"
                              : "it refused CELERIAC_SENTINEL_PASSWORD";
            if (r != NULL)
                freeReplyObject(r);
            r = NULL;
            goto done;
        }
        freeReplyObject(r);
    }
    r = s->cluster ? redisCommand(ctx, "CLUSTER SLOTS")
                   : redisCommand(ctx, "SENTINEL get-master-addr-by-name %s",
                                  s->master);
    if (r == NULL && s->tls) {
        /* E.g. the sentinel refused the client certificate after the
         * handshake (TLS 1.3): the pipe knows why. */
        static char err[600];
        char *tls = tlspipe_last_error();
        snprintf(err, sizeof(err), "no answer%s%s", tls ? ": " : "",
                 tls ? tls : "");
        free(tls);
        *why = err;
    } else if (r == NULL) {
        *why = "no answer";
    }
done:
    redisFree(ctx);
    return r;
}

int
connsentinel_find(struct conn *c, char **cause)
{
    const struct sentinelurl *s = c->url.sentinel;
    size_t cap = 256, len = 0;
    char *tried = xmalloc(cap);

    tried[0] = '\0';
    for (int i = 0; i < s->naddrs; i++) {
        const char *why = NULL;
        char *host = NULL;
        int port;
        redisReply *r = connsentinel_ask(s, i, &why);
        int ok =
            r != NULL &&
            (s->cluster ? sentinel_cluster_reply(r, s->slot, s->addrs[i].host,
                                                 &host, &port, &why)
                        : sentinel_master_reply(r, &host, &port, &why)) == 0;
        char err[160];
        if (!ok && r != NULL && r->type == REDIS_REPLY_ERROR) {
            snprintf(err, sizeof(err), "%s", r->str);
            why = err;
        }
        if (r != NULL)
            freeReplyObject(r);
        if (ok) {
            free(tried);
            free(c->url.host);
            c->url.host = host;
            c->url.port = port;
            free(c->where);
            c->where = s->cluster
                           ? xasprintf("%s:%d (master of cluster slot %d)",
                                       host, port, s->slot)
                           : xasprintf("%s:%d/%d (master '%s')", host, port,
                                       c->url.db, s->master);
            return 0;
        }
        int n = snprintf(NULL, 0, "%s:%d: %s; ", s->addrs[i].host,
                         s->addrs[i].port, why);
        if (len + (size_t)n + 1 > cap) {
            cap = 2 * (len + (size_t)n + 1);
            tried = xrealloc(tried, cap);
        }
        len += (size_t)snprintf(tried + len, cap - len, "%s:%d: %s; ",
                                s->addrs[i].host, s->addrs[i].port, why);
    }
    if (len >= 2)
        tried[len - 2] = '\0'; /* the last "; " */
    if (s->cluster) {
        *cause = xasprintf("no seed node named the master of cluster slot "
                           "%d (%s) — are the nodes running in cluster mode "
                           "with every slot assigned%s?",
                           s->slot, tried,
                           s->tls ? ", with TLS on those ports, do the "
                                    "--tls-* files fit their certificates"
                                  : " (nodes that take TLS only answer "
                                    "nothing here: cluster+tls://)");
        free(tried);
        return -1;
    }
    *cause = xasprintf("no sentinel named the master '%s' (%s) — are the "
                       "sentinels running%s, and is the master name in the "
                       "URL the one in their configuration?",
                       s->master, tried,
                       s->tls ? " with TLS on those ports, do the --tls-* "
                                "files fit their certificates"
                              : "");
    free(tried);
    return -1;
}

int
connsentinel_role(struct conn *c, char **cause)
{
    char what[300];
    redisReply *r = redisCommand(c->ctx, "ROLE");
    int role = sentinel_role_reply(r, what, sizeof(what));
    if (r != NULL)
        freeReplyObject(r);
    if (role != 0)
        return 0;
    if (c->url.sentinel->cluster)
        *cause = xasprintf("the cluster named %s, but it is %s (a fail-over "
                           "in progress?) — retrying",
                           c->where, what);
    else
        *cause = xasprintf("the sentinels named %s as master '%s', but it "
                           "is %s (a fail-over in progress?) — retrying",
                           c->where, c->url.sentinel->master, what);
    return -1;
}
