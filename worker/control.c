/* SPDX-License-Identifier: MIT */
/* Remote control: the control stream's reader and the replies; see
 * control.h and PROTOCOL.md, "Control". */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/adapters/libevent.h>

#include "escape.h"
#include "log.h"
#include "tlsgate.h"
#include "xmalloc.h"

#define CONTROL_BACKOFF_MIN_MS 100
#define CONTROL_BACKOFF_MAX_MS 5000

static void control_connect(struct control *c);
static void control_found_cb(void *arg, const char *host, int port,
                             const char *why);
static void control_schedule(struct control *c);
static void control_retry_cb(evutil_socket_t fd, short what, void *arg);
static void control_watch_cb(evutil_socket_t fd, short what, void *arg);
static void control_connect_cb(const redisAsyncContext *ac, int status);
static void control_disconnect_cb(const redisAsyncContext *ac, int status);
static void control_setup_cb(redisAsyncContext *ac, void *r, void *priv);
static void control_end_cb(redisAsyncContext *ac, void *r, void *priv);
static void control_read(struct control *c);
static void control_read_cb(redisAsyncContext *ac, void *r, void *priv);
static void control_entry(struct control *c, const redisReply *fields);
static void control_report(const struct control *c, const char *err);

int
control_start(struct control *c, struct event_base *base,
              const struct redisurl *url, const char *prefix, const char *name,
              long timeout_ms, control_handle_fn *handle, void *arg)
{
    memset(c, 0, sizeof(*c));
    c->base = base;
    c->url = url;
    c->prefix = prefix;
    c->name = name;
    c->timeout_ms = timeout_ms;
    c->handle = handle;
    c->arg = arg;
    c->backoff_ms = CONTROL_BACKOFF_MIN_MS;
    if (keys_control(c->key, sizeof(c->key), prefix) < 0)
        return -1;
    c->retry_ev = evtimer_new(base, control_retry_cb, c);
    c->watch_ev = evtimer_new(base, control_watch_cb, c);
    if (c->retry_ev == NULL || c->watch_ev == NULL)
        return -1;
    if (url->sentinel != NULL)
        sentinel_query_init(&c->sq, base, url->sentinel, control_found_cb, c);
    control_connect(c);
    return 0;
}

/* The sentinels' answer: connect to the master, or retry later. */
static void
control_found_cb(void *arg, const char *host, int port, const char *why)
{
    struct control *c = arg;
    if (c->stopping || c->ac != NULL)
        return;
    if (host == NULL) {
        log_debug("control: no sentinel named the master: %s", why);
        control_schedule(c);
        return;
    }
    c->master_host = xstrdup(host);
    c->master_port = port;
    control_connect(c);
}

static void
control_connect(struct control *c)
{
    if (c->url->sentinel != NULL && c->master_host == NULL) {
        sentinel_query_start(&c->sq);
        return;
    }
    redisAsyncContext *ac =
        c->master_host != NULL
            ? tlsgate_connect_addr(c->url->tls, c->master_host,
                                   c->master_port)
            : tlsgate_connect(c->url); /* unix://, redis://, rediss:// */
    free(c->master_host); /* the next connect asks the sentinels again */
    c->master_host = NULL;
    if (ac == NULL || ac->err) {
        log_debug("control: cannot connect to Redis: %s",
                  ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        control_schedule(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    redisLibeventAttach(ac, c->base);
    redisAsyncSetConnectCallback(ac, control_connect_cb);
    redisAsyncSetDisconnectCallback(ac, control_disconnect_cb);
    const char *argv[3];
    size_t lens[3];
    int argc = redisurl_auth_argv(c->url, argv, lens);
    if (argc > 0)
        redisAsyncCommandArgv(ac, control_setup_cb, NULL, argc, argv, lens);
    if (c->url->db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%d", c->url->db);
        const char *sel[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, control_setup_cb, NULL, 2, sel, NULL);
    }
    if (c->last_id[0] == '\0') {
        /* Requests sent from now on: the id of the stream's last entry. */
        const char *end[] = {"XREVRANGE", c->key, "+", "-", "COUNT", "1"};
        redisAsyncCommandArgv(ac, control_end_cb, NULL, 6, end, NULL);
    } else {
        control_read(c);
    }
}

static void
control_schedule(struct control *c)
{
    if (c->stopping || evtimer_pending(c->retry_ev, NULL))
        return;
    long ms = c->backoff_ms + random() % (c->backoff_ms / 2 + 1);
    c->backoff_ms *= 2;
    if (c->backoff_ms > CONTROL_BACKOFF_MAX_MS)
        c->backoff_ms = CONTROL_BACKOFF_MAX_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->retry_ev, &tv);
}

static void
control_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    control_connect(arg);
}

/* The read outlived its BLOCK time and --redis-timeout: the connection is
 * cut off somewhere; start again. */
static void
control_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct control *c = arg;
    (void)fd;
    (void)what;
    if (c->ac == NULL)
        return;
    log_warnx("control: Redis did not answer the control stream's read in "
              "time; reconnecting");
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    redisAsyncFree(ac);
    control_schedule(c);
}

static void
control_connect_cb(const redisAsyncContext *ac, int status)
{
    struct control *c = ac->data;
    if (status != REDIS_OK) {
        log_debug("control: cannot connect to Redis: %s", ac->errstr);
        c->ac = NULL; /* hiredis frees it */
        control_schedule(c);
    }
}

static void
control_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct control *c = ac->data;
    (void)status;
    if (c->ac == ac)
        c->ac = NULL;
    evtimer_del(c->watch_ev);
    control_schedule(c);
}

static void
control_setup_cb(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)priv;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR) {
        /* The broker's connections report a refused set-up. */
        log_debug("control: Redis refused the connection's set-up: %s",
                  reply->str);
        redisAsyncDisconnect(ac);
    }
}

static void
control_end_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct control *c = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (reply == NULL || c->ac != ac)
        return;
    if (reply->type == REDIS_REPLY_ERROR) {
        control_report(c, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    snprintf(c->last_id, sizeof(c->last_id), "0-0");
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1 &&
        reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements == 2 &&
        reply->element[0]->element[0]->type == REDIS_REPLY_STRING)
        snprintf(c->last_id, sizeof(c->last_id), "%s",
                 reply->element[0]->element[0]->str);
    c->backoff_ms = CONTROL_BACKOFF_MIN_MS;
    control_read(c);
}

static void
control_read(struct control *c)
{
    char cnt[24], blk[24];
    if (c->ac == NULL || c->stopping)
        return;
    snprintf(cnt, sizeof(cnt), "%d", CONTROL_READ_COUNT);
    snprintf(blk, sizeof(blk), "%d", CONTROL_BLOCK_MS);
    const char *argv[] = {"XREAD", "COUNT",   cnt,    "BLOCK",
                          blk,     "STREAMS", c->key, c->last_id};
    if (redisAsyncCommandArgv(c->ac, control_read_cb, NULL, 8, argv, NULL) !=
        REDIS_OK)
        return;
    long ms = CONTROL_BLOCK_MS + c->timeout_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->watch_ev, &tv);
}

static void
control_read_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct control *c = ac->data;
    redisReply *reply = r;
    (void)priv;
    if (reply == NULL || c->ac != ac)
        return; /* disconnected: the retry follows */
    evtimer_del(c->watch_ev);
    if (reply->type == REDIS_REPLY_ERROR) {
        control_report(c, reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    c->backoff_ms = CONTROL_BACKOFF_MIN_MS;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 1) {
        redisReply *st = reply->element[0];
        if (st->type == REDIS_REPLY_ARRAY && st->elements == 2 &&
            st->element[1]->type == REDIS_REPLY_ARRAY) {
            redisReply *ents = st->element[1];
            for (size_t i = 0; i < ents->elements; i++) {
                redisReply *e = ents->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
                    e->element[0]->type != REDIS_REPLY_STRING)
                    continue;
                snprintf(c->last_id, sizeof(c->last_id), "%s",
                         e->element[0]->str);
                if (e->element[1]->type == REDIS_REPLY_ARRAY)
                    control_entry(c, e->element[1]);
                if (c->ac != ac)
                    return;
            }
        }
    }
    control_read(c);
}

/* A refused read: a key of the wrong type is worth a warning; the rest
 * (a password, a database) the broker's connections report. */
static void
control_report(const struct control *c, const char *err)
{
    if (strncmp(err, "WRONGTYPE", 9) == 0)
        log_warnx("control: %s is not a stream (%s); inspect and control "
                  "cannot reach this worker until it is deleted",
                  c->key, err);
    else
        log_debug("control: reading %s failed: %s", c->key, err);
}

/* The value of field name in a stream entry's field list, or NULL. */
static const char *
control_field(const redisReply *fields, const char *name)
{
    for (size_t i = 0; i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            fields->element[i + 1]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

/* Answers one request if it is addressed to this worker. */
static void
control_entry(struct control *c, const redisReply *fields)
{
    const char *to = control_field(fields, "to");
    const char *reply = control_field(fields, "reply");
    const char *cmd = control_field(fields, "cmd");
    const char *arg = control_field(fields, "arg");
    const char *id = control_field(fields, "id");
    if (to == NULL || (strcmp(to, "*") != 0 && strcmp(to, c->name) != 0))
        return;
    if (reply == NULL || !keys_is_reply(c->prefix, reply) ||
        strlen(reply) >= KEYS_MAX) {
        char *safe = escape_dup(reply ? reply : "(none)", 0);
        log_warnx("control: a request's reply stream '%.200s' is not a "
                  "reply stream of this prefix; ignored",
                  safe);
        free(safe);
        return;
    }
    struct control_req rq = {id ? id : "", cmd ? cmd : "", arg ? arg : ""};
    json_t *res;
    int ok = 0;
    if (cmd == NULL || cmd[0] == '\0')
        res = json_pack("{s:s}", "error", "the request has no cmd field");
    else if (strlen(rq.arg) > CONTROL_ARG_MAX)
        res = json_pack("{s:s}", "error", "the argument is too long");
    else
        res = c->handle(c->arg, &rq, &ok);
    if (res == NULL) {
        ok = 0;
        res = json_pack("{s:s}", "error", "the answer could not be encoded");
    }
    char *text = res ? json_dumps(res, JSON_COMPACT | JSON_ENSURE_ASCII) : NULL;
    json_decref(res);
    char ttl[24];
    snprintf(ttl, sizeof(ttl), "%d", CONTROL_REPLY_TTL);
    const char *xadd[] = {"XADD",         reply,    "*",
                          "worker",       c->name,  "ok",
                          ok ? "1" : "0", "result", text ? text : "{}"};
    redisAsyncCommandArgv(c->ac, NULL, NULL, 9, xadd, NULL);
    const char *exp[] = {"EXPIRE", reply, ttl};
    redisAsyncCommandArgv(c->ac, NULL, NULL, 3, exp, NULL);
    free(text);
    c->handled++;
    char *safe = escape_dup(rq.cmd, 0);
    log_debug("control: answered '%.64s'%s", safe, ok ? "" : " (refused)");
    free(safe);
}

void
control_stop(struct control *c)
{
    c->stopping = 1;
    if (c->ac != NULL) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncHandleWrite(ac); /* queued replies, if the socket takes
                                      them now */
        redisAsyncFree(ac);
    }
    if (c->retry_ev != NULL)
        event_free(c->retry_ev);
    if (c->watch_ev != NULL)
        event_free(c->watch_ev);
    c->retry_ev = c->watch_ev = NULL;
    if (c->url != NULL && c->url->sentinel != NULL)
        sentinel_query_free(&c->sq);
    free(c->master_host);
    c->master_host = NULL;
}
