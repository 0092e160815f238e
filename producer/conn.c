/* SPDX-License-Identifier: MIT */
/* The producer's synchronous Redis connection: setup, pipelining, reconnect. */
#include "conn.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "connsentinel.h"
#include "sentinel.h"
#include "log.h"
#include "tlspipe.h"
#include "xmalloc.h"

#define CONN_BACKOFF_FIRST_MS 100
#define CONN_BACKOFF_MAX_MS 2000
#define CONN_MAX_ARGS 16

static int conn_try(struct conn *c, char **cause);
static const char *conn_reason(const redisContext *ctx);
static const char *conn_hint(const char *err);
static void conn_sleep_ms(int64_t ms);

int
conn_init(struct conn *c, const char *url_opt, const char *prefix)
{
    char *cause = NULL;
    const char *why = NULL;

    memset(c, 0, sizeof(*c));
    if (redisurl_resolve(url_opt, &c->url, &cause) < 0) {
        cli_warnx("%s — fix --redis or CELERIAC_REDIS_URL", cause);
        free(cause);
        return -1;
    }
    if (c->url.sentinel != NULL &&
        sentinelurl_set_prefix(c->url.sentinel, prefix, &why) < 0) {
        cli_warnx("%s", why);
        redisurl_clear(&c->url);
        return -1;
    }
    c->where = redisurl_describe(&c->url);
    return 0;
}

static char *
conn_dup(const char *s)
{
    return s != NULL ? xstrdup(s) : NULL;
}

int
conn_init_url(struct conn *c, const struct redisurl *u)
{
    memset(c, 0, sizeof(*c));
    c->url = *u;
    c->url.host = conn_dup(u->host);
    c->url.path = conn_dup(u->path);
    c->url.user = conn_dup(u->user);
    c->url.password = conn_dup(u->password);
    c->where = redisurl_describe(&c->url);
    return 0;
}

/* The reason a context failed, in words a person reads. */
static const char *
conn_reason(const redisContext *ctx)
{
    if (ctx == NULL)
        return "not connected";
    if (ctx->err == REDIS_ERR_IO &&
        (strcmp(ctx->errstr, strerror(EAGAIN)) == 0 ||
         strcmp(ctx->errstr, strerror(EWOULDBLOCK)) == 0))
        return "no answer in time (timed out)";
    if (ctx->err == REDIS_ERR_EOF)
        return "the server closed the connection";
    return ctx->errstr[0] != '\0' ? ctx->errstr : "unknown error";
}

/*
 * One attempt to connect, AUTH and SELECT.  Returns 0, or -1 with *cause
 * set to a message (owned by the caller) that ends with what to do.
 */
static int
conn_try(struct conn *c, char **cause)
{
    struct timeval tv = {CONN_CONNECT_TIMEOUT_MS / 1000,
                         (CONN_CONNECT_TIMEOUT_MS % 1000) * 1000};
    const char *argv[3];
    size_t lens[3];
    redisReply *r = NULL;
    char db[16];

    redisFree(c->ctx);
    c->ctx = NULL;
    if (c->url.sentinel != NULL && connsentinel_find(c, cause) < 0)
        return -1;
    if (c->url.path != NULL) {
        c->ctx = redisConnectUnixWithTimeout(c->url.path, tv);
    } else if (c->url.tls) {
        int fd = tlspipe_open(&c->url, c->where, CONN_CONNECT_TIMEOUT_MS,
                              cause);
        if (fd < 0)
            goto fail;
        c->ctx = redisConnectFd(fd);
    } else {
        c->ctx = redisConnectWithTimeout(c->url.host, c->url.port, tv);
    }
    if (c->ctx == NULL)
        fatalx("conn_try: out of memory");
    if (c->ctx->err) {
        *cause = xasprintf("cannot connect to Redis at %s: %s — is "
                           "redis-server running? set --redis or "
                           "CELERIAC_REDIS_URL",
                           c->where, conn_reason(c->ctx));
        goto fail;
    }
    if (c->url.path == NULL && !c->url.tls) /* TLS: on the link's socket */
        redisEnableKeepAlive(c->ctx);
    conn_set_timeout(c, CONN_IO_TIMEOUT_MS);

    /* AUTH (when needed) and SELECT in one round trip. */
    int auth = redisurl_auth_argv(&c->url, argv, lens);
    if (auth > 0)
        conn_append(c, auth, argv, lens);
    snprintf(db, sizeof(db), "%d", c->url.db);
    argv[0] = "SELECT";
    argv[1] = db;
    lens[0] = 6;
    lens[1] = strlen(db);
    conn_append(c, 2, argv, lens);

    for (int i = auth > 0 ? 0 : 1; i < 2; i++) {
        if ((r = conn_reply(c)) == NULL) {
            char *tls = c->url.tls ? tlspipe_last_error() : NULL;
            if (tls != NULL)
                *cause = xasprintf("cannot talk to Redis: %s", tls);
            else
                *cause = xasprintf("cannot talk to Redis at %s: %s — is it "
                                   "a Redis server%s? check --redis or "
                                   "CELERIAC_REDIS_URL",
                                   c->where, conn_reason(c->ctx),
                                   c->url.tls ? ""
                                   : c->url.sentinel != NULL
                                       ? c->url.sentinel->cluster
                                             ? " (TLS ports want "
                                               "cluster+tls://)"
                                             : " (TLS ports want "
                                               "sentinel+tls://)"
                                       : " (a TLS port wants rediss://)");
            free(tls);
            goto fail;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            if (i == 0)
                *cause = xasprintf("Redis at %s refused the password: %s — "
                                   "check the password in the URL or in "
                                   "CELERIAC_REDIS_PASSWORD",
                                   c->where, r->str);
            else if (strncmp(r->str, "NOAUTH", 6) == 0)
                *cause = xasprintf("Redis at %s wants a password (%s) — "
                                   "give it in the URL "
                                   "(redis://:PASSWORD@host:port) or in "
                                   "CELERIAC_REDIS_PASSWORD",
                                   c->where, r->str);
            else
                *cause = xasprintf("Redis at %s refused SELECT %d: %s — "
                                   "check the database number at the end "
                                   "of the URL",
                                   c->where, c->url.db, r->str);
            goto fail;
        }
        freeReplyObject(r);
        r = NULL;
    }
    if (c->url.sentinel != NULL && connsentinel_role(c, cause) < 0)
        goto fail;
    c->generation++;
    return 0;
fail:
    if (r != NULL)
        freeReplyObject(r);
    redisFree(c->ctx);
    c->ctx = NULL;
    return -1;
}

int
conn_connect(struct conn *c)
{
    char *cause = NULL;

    if (conn_try(c, &cause) < 0) {
        cli_warnx("%s", cause);
        free(cause);
        return -1;
    }
    return 0;
}

static void
conn_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

int
conn_reconnect(struct conn *c, int64_t deadline_us)
{
    int64_t delay = CONN_BACKOFF_FIRST_MS;
    char *cause = NULL;

    cli_warnx("lost connection to Redis at %s: %s; reconnecting %s", c->where,
              conn_reason(c->ctx),
              deadline_us ? "until the --timeout" : "(no --timeout: forever)");
    redisFree(c->ctx);
    c->ctx = NULL;
    for (;;) {
        free(cause);
        cause = NULL;
        if (conn_try(c, &cause) == 0) {
            cli_warnx("reconnected to Redis at %s", c->where);
            return 0;
        }
        int64_t now = cli_now_us();
        if (deadline_us != 0 && now >= deadline_us)
            break;
        int64_t ms = delay;
        if (deadline_us != 0 && (deadline_us - now) / 1000 + 1 < ms)
            ms = (deadline_us - now) / 1000 + 1;
        conn_sleep_ms(ms);
        delay =
            delay * 2 > CONN_BACKOFF_MAX_MS ? CONN_BACKOFF_MAX_MS : delay * 2;
    }
    cli_warnx("gave up reconnecting: %s", cause);
    free(cause);
    return -1;
}

int
conn_transient(const redisReply *r)
{
    return r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL &&
           (strncmp(r->str, "LOADING", 7) == 0 ||
            strncmp(r->str, "BUSY", 4) == 0);
}

int
conn_pause(int64_t *delay_ms, int64_t deadline_us)
{
    int64_t ms = *delay_ms, now = cli_now_us();
    if (deadline_us != 0) {
        if (now >= deadline_us)
            return -1;
        if ((deadline_us - now) / 1000 + 1 < ms)
            ms = (deadline_us - now) / 1000 + 1;
    }
    conn_sleep_ms(ms);
    *delay_ms = *delay_ms * 2 > 1000 ? 1000 : *delay_ms * 2;
    return 0;
}

void
conn_close(struct conn *c)
{
    redisFree(c->ctx);
    redisurl_clear(&c->url);
    free(c->where);
    memset(c, 0, sizeof(*c));
}

int
conn_lost(const struct conn *c)
{
    return c->ctx == NULL || c->ctx->err != 0;
}

void
conn_report_lost(const struct conn *c, const char *doing)
{
    cli_warnx("lost connection to Redis at %s while %s: %s — is "
              "redis-server still running?",
              c->where, doing, conn_reason(c->ctx));
}

/* What to do about an error reply, by its code. */
static const char *
conn_hint(const char *err)
{
    static const struct {
        const char *code;
        const char *hint;
    } hints[] = {
        {"NOAUTH", "give the password in the URL or CELERIAC_REDIS_PASSWORD"},
        {"WRONGPASS", "check the password in the URL or "
                      "CELERIAC_REDIS_PASSWORD"},
        {"NOPERM", "the ACL user lacks the permission Redis names; "
                   "docs/SECURITY.md lists the rules each program needs "
                   "(ACL SETUSER ... +<command>)"},
        {"OOM", "Redis is at maxmemory; free memory, raise maxmemory or "
                "start a worker to drain the queue"},
        {"WRONGTYPE", "a key under --prefix is not what celeriac expects; "
                      "another application may use the same prefix"},
        {"READONLY", "this is a replica; point --redis at the primary"},
        {"MOVED", "this Redis is a node of a Redis Cluster: use --redis "
                  "cluster://HOST:PORT[,HOST:PORT...] and a --prefix with a "
                  "hash tag, e.g. '{celeriac}:'"},
        {"CROSSSLOT", "on a Redis Cluster the --prefix needs a hash tag, "
                      "e.g. '{celeriac}:', so that every key is in one slot"},
        {"CLUSTERDOWN", "the Redis Cluster is down or failing over; try "
                        "again shortly"},
        {"LOADING", "Redis is loading its data set; try again shortly"},
        {"MISCONF", "Redis cannot save to disk; see its log"},
        {"BUSY", "Redis is busy running a script; try again shortly"},
    };
    for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
        size_t n = strlen(hints[i].code);
        if (strncmp(err, hints[i].code, n) == 0 &&
            (err[n] == ' ' || err[n] == '\0'))
            return hints[i].hint;
    }
    return "see the Redis log; is this Redis 5.0 or newer (streams)?";
}

void
conn_report_error(const struct conn *c, const char *what, const redisReply *r)
{
    const char *err = "unexpected reply";
    if (r != NULL && r->type == REDIS_REPLY_ERROR && r->str != NULL)
        err = r->str;
    cli_warnx("Redis at %s refused %s: %s — %s", c->where, what, err,
              conn_hint(err));
}

const char *
conn_timeout_hint(const struct conn *c)
{
    if (conn_lost(c))
        return "Redis is unreachable, so the tasks may still be queued, or "
               "lost if Redis restarted without persistence";
    return "the tasks are still queued or running — is a worker running? "
           "see 'celeriac status'";
}

void
conn_set_timeout(struct conn *c, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    if (c->ctx != NULL && c->ctx->err == 0)
        redisSetTimeout(c->ctx, tv);
}

void
conn_append(struct conn *c, int argc, const char **argv, const size_t *lens)
{
    /* Appending only fails when out of memory (or without a context). */
    if (c->ctx == NULL)
        return;
    if (redisAppendCommandArgv(c->ctx, argc, argv, lens) != REDIS_OK &&
        c->ctx->err == REDIS_ERR_OOM)
        fatalx("conn_append: out of memory");
}

int
conn_flush(struct conn *c)
{
    int done = 0;
    if (conn_lost(c))
        return -1;
    while (!done)
        if (redisBufferWrite(c->ctx, &done) != REDIS_OK)
            return -1;
    return 0;
}

redisReply *
conn_reply(struct conn *c)
{
    void *r = NULL;
    if (conn_lost(c))
        return NULL;
    if (redisGetReply(c->ctx, &r) != REDIS_OK) {
        if (r != NULL)
            freeReplyObject(r);
        return NULL;
    }
    if (c->url.sentinel != NULL &&
        (sentinel_readonly(r) ||
         (c->url.sentinel->cluster && sentinel_moved(r)))) {
        /* The master became a replica (a fail-over), or in a cluster no
         * longer serves the slot: treat it as a lost connection, so that
         * the caller reconnects to the new master. */
        char why[80];
        snprintf(why, sizeof(why), "%s",
                 sentinel_readonly(r) ? "it is a replica now (READONLY)"
                                      : ((redisReply *)r)->str);
        freeReplyObject(r);
        c->ctx->err = REDIS_ERR_OTHER;
        snprintf(c->ctx->errstr, sizeof(c->ctx->errstr), "%s", why);
        return NULL;
    }
    return r;
}

redisReply *
conn_command(struct conn *c, int argc, const char **argv, const size_t *lens)
{
    if (conn_lost(c))
        return NULL;
    conn_append(c, argc, argv, lens);
    return conn_reply(c);
}

redisReply *
conn_call(struct conn *c, const char *arg0, ...)
{
    const char *argv[CONN_MAX_ARGS];
    size_t lens[CONN_MAX_ARGS];
    int argc = 0;
    va_list ap;

    va_start(ap, arg0);
    for (const char *a = arg0; a != NULL; a = va_arg(ap, const char *)) {
        if (argc == CONN_MAX_ARGS)
            fatalx("conn_call: more than %d arguments", CONN_MAX_ARGS);
        argv[argc] = a;
        lens[argc++] = strlen(a);
    }
    va_end(ap);
    return conn_command(c, argc, argv, lens);
}

long long
conn_reply_int(const redisReply *r)
{
    if (r == NULL)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return strtoll(r->str, NULL, 10);
    return 0;
}
