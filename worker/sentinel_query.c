/* SPDX-License-Identifier: MIT */
/* Asking the sentinels for the master, asynchronously; see sentinel_query.h. */
#include "sentinel_query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "sentinel.h"
#include "tlsgate.h"

static void sentinel_query_ask(struct sentinel_query *q);
static void sentinel_query_note(struct sentinel_query *q, const char *why);
static void sentinel_query_abandon(struct sentinel_query *q);
static void sentinel_query_connect_cb(const redisAsyncContext *ac, int status);
static void sentinel_query_disconnect_cb(const redisAsyncContext *ac,
                                         int status);
static void sentinel_query_reply_cb(redisAsyncContext *ac, void *r,
                                    void *privdata);
static void sentinel_query_timer_cb(evutil_socket_t fd, short what,
                                    void *arg);

void
sentinel_query_init(struct sentinel_query *q, struct event_base *base,
                    const struct sentinelurl *s, sentinel_query_cb *cb,
                    void *arg)
{
    memset(q, 0, sizeof(*q));
    q->base = base;
    q->s = s;
    q->cb = cb;
    q->arg = arg;
    q->timer = evtimer_new(base, sentinel_query_timer_cb, q);
}

void
sentinel_query_start(struct sentinel_query *q)
{
    if (q->active)
        return;
    q->active = 1;
    q->next = 0;
    q->tried[0] = '\0';
    sentinel_query_ask(q);
}

/* Appends "host:port: why; " for the sentinel being asked and moves on. */
static void
sentinel_query_note(struct sentinel_query *q, const char *why)
{
    size_t len = strlen(q->tried);
    const struct sentinelurl_addr *a = &q->s->addrs[q->next];
    snprintf(q->tried + len, sizeof(q->tried) - len, "%s:%d: %s; ", a->host,
             a->port, why);
    q->next++;
}

/* Lets go of the sentinel connection; its callbacks see data NULL. */
static void
sentinel_query_abandon(struct sentinel_query *q)
{
    redisAsyncContext *ac = q->ac;
    if (q->timer != NULL)
        evtimer_del(q->timer);
    if (ac == NULL)
        return;
    q->ac = NULL;
    ac->data = NULL;
    redisAsyncFree(ac); /* deferred by hiredis inside its callbacks */
}

/* Asks the next sentinel, or reports that none answered. */
static void
sentinel_query_ask(struct sentinel_query *q)
{
    while (q->next < q->s->naddrs) {
        const struct sentinelurl_addr *a = &q->s->addrs[q->next];
        redisAsyncContext *ac =
            tlsgate_connect_addr(q->s->tls, a->host, a->port);
        if (ac == NULL || ac->err) {
            sentinel_query_note(q, ac ? ac->errstr
                                   : q->s->tls ? "no TLS bridge (see above)"
                                               : "out of memory");
            if (ac != NULL)
                redisAsyncFree(ac);
            continue;
        }
        ac->data = q;
        q->ac = ac;
        redisLibeventAttach(ac, q->base);
        redisAsyncSetConnectCallback(ac, sentinel_query_connect_cb);
        redisAsyncSetDisconnectCallback(ac, sentinel_query_disconnect_cb);
        if (q->s->password != NULL) {
            const char *auth[3] = {"AUTH"};
            int n = 1;
            if (q->s->user != NULL) /* cluster:// with an ACL user */
                auth[n++] = q->s->user;
            auth[n++] = q->s->password;
            /* A refusal shows in the answer to the next command. */
            redisAsyncCommandArgv(ac, NULL, NULL, n, auth, NULL);
        }
        if (q->s->cluster) {
            const char *argv[] = {"CLUSTER", "SLOTS"};
            redisAsyncCommandArgv(ac, sentinel_query_reply_cb, NULL, 2, argv,
                                  NULL);
        } else {
            const char *argv[] = {"SENTINEL", "get-master-addr-by-name",
                                  q->s->master};
            redisAsyncCommandArgv(ac, sentinel_query_reply_cb, NULL, 3, argv,
                                  NULL);
        }
        struct timeval tv = {SENTINEL_QUERY_TIMEOUT_MS / 1000,
                             (SENTINEL_QUERY_TIMEOUT_MS % 1000) * 1000};
        evtimer_add(q->timer, &tv);
        return;
    }
    q->active = 0;
    q->cb(q->arg, NULL, 0, q->tried);
}

static void
sentinel_query_connect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = ac->data;
    if (q == NULL || status == REDIS_OK)
        return;
    /* hiredis frees ac after this callback. */
    q->ac = NULL;
    evtimer_del(q->timer);
    sentinel_query_note(q, ac->errstr[0] ? ac->errstr : "cannot connect");
    sentinel_query_ask(q);
}

static void
sentinel_query_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct sentinel_query *q = ac->data;
    (void)status;
    if (q == NULL)
        return;
    q->ac = NULL;
    evtimer_del(q->timer);
    sentinel_query_note(q, q->s->tls ? "closed the connection before "
                                       "answering (a TLS failure is logged "
                                       "above)"
                                     : "closed the connection before "
                                       "answering");
    sentinel_query_ask(q);
}

static void
sentinel_query_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct sentinel_query *q = ac->data;
    const char *why = NULL;
    char *host = NULL;
    int port = 0;
    (void)privdata;

    if (q == NULL || r == NULL)
        return; /* abandoned, or the disconnect callback follows */
    int ok = q->s->cluster ? sentinel_cluster_reply(r, q->s->slot,
                                                    q->s->addrs[q->next].host,
                                                    &host, &port, &why) == 0
                           : sentinel_master_reply(r, &host, &port, &why) == 0;
    const redisReply *reply = r;
    char err[160];
    if (!ok && reply->type == REDIS_REPLY_ERROR) {
        snprintf(err, sizeof(err), "%s", reply->str);
        why = err;
    }
    sentinel_query_abandon(q);
    if (ok) {
        q->active = 0;
        q->cb(q->arg, host, port, NULL);
        free(host);
        return;
    }
    sentinel_query_note(q, why);
    sentinel_query_ask(q);
}

static void
sentinel_query_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sentinel_query *q = arg;
    (void)fd;
    (void)what;
    if (q->ac == NULL)
        return;
    sentinel_query_abandon(q);
    sentinel_query_note(q, "no answer in time");
    sentinel_query_ask(q);
}

void
sentinel_query_cancel(struct sentinel_query *q)
{
    sentinel_query_abandon(q);
    q->active = 0;
}

void
sentinel_query_free(struct sentinel_query *q)
{
    sentinel_query_cancel(q);
    if (q->timer != NULL)
        event_free(q->timer);
    q->timer = NULL;
}
