/* SPDX-License-Identifier: MIT */
/* Redis connections, reads and finish batches; see broker.h. */
#include "broker.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <hiredis/hiredis.h>

#include "keys.h"
#include "log.h"
#include "redisev.h"
#include "scripts.h"
#include "sentinel.h"
#include "tlsgate.h"
#include "unique_release.h"
#include "xmalloc.h"

#define BROKER_BACKOFF_MIN_MS 100
#define BROKER_BACKOFF_MAX_MS 5000
#define BROKER_COOL_MS 1000
/* --durable-results: how long WAIT waits for the replicas, at most. */
#define BROKER_WAIT_MS 1000

/* Set-up steps, passed as the privdata of their replies (with the queue
 * index above the low byte, for BROKER_STEP_GROUP). */
enum broker_step {
    BROKER_STEP_AUTH = 1,
    BROKER_STEP_SELECT,
    BROKER_STEP_CLIENT_ID,
    BROKER_STEP_GROUP,
    BROKER_STEP_SCRIPT,
    BROKER_STEP_ROLE,
    BROKER_STEP_LAST, /* a PING that ends the set-up */
};

/* A finish script in flight: its slots, in argument order. */
struct broker_batch {
    struct broker *b;
    int queue;
    unsigned n;
    int evaled; /* resent as EVAL after NOSCRIPT */
    struct slot_list slots;
    /* --durable-results: the script's answer per slot, kept until WAIT
     * answers (1 applied, 0 not pending any more, -1 refused: why[i]). */
    signed char *outcome;
    char **why;
};

static void broker_connect(struct broker_conn *c);
static void broker_found_cb(void *arg, const char *host, int port,
                            const char *why);
static void broker_role(struct broker_conn *c, const redisReply *reply);
static void broker_retry_cb(evutil_socket_t fd, short what, void *arg);
static void broker_schedule(struct broker_conn *c);
static void broker_connect_cb(const redisAsyncContext *ac, int status);
static void broker_disconnect_cb(const redisAsyncContext *ac, int status);
static void broker_setup(struct broker_conn *c);
static void broker_step_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_send_groups(struct broker_conn *c);
static int broker_push(struct broker_conn *c, redisCallbackFn *fn,
                       void *priv, long budget_ms, int argc,
                       const char **argv, const size_t *lens);
static int broker_send(struct broker_conn *c, redisCallbackFn *fn,
                       void *priv, int argc, const char **argv,
                       const size_t *lens);
static void broker_reply_cb(redisAsyncContext *ac, void *r, void *privdata);
static int broker_permanent(enum broker_step step, const char *err);
static int broker_rescan(struct broker *b, unsigned count);
static void broker_pend_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_rescanned(struct broker *b, const redisReply *reply);
static int broker_id_cmp(const char *a, const char *b);
static void broker_read_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_cool_cb(evutil_socket_t fd, short what, void *arg);
static int broker_send_batch(struct broker_batch *bb);
static void broker_finish_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_batch_fail(struct broker_batch *bb);
static void broker_batch_done(struct broker_batch *bb);
static void broker_wait_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_await(struct broker_batch *bb);
static void broker_send_wait(struct broker *b);
static void broker_ignore_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_deliver(struct broker *b, int q, const char *id,
                           redisReply *fields, unsigned deliveries,
                           const char *from);
static void broker_beat_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_claim_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_touch_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_move_cb(redisAsyncContext *ac, void *r, void *privdata);
static void broker_watch_cb(evutil_socket_t fd, short what, void *arg);
static void broker_watch(struct broker_conn *c, long long now);
static void broker_drop(struct broker_conn *c, const char *why);
static long long broker_now_ms(void);

int
broker_start(struct broker *b, struct event_base *base,
             const struct redisurl *url, const char *prefix,
             char *const *queues, int nqueues, const char *consumer,
             long result_ttl, long timeout_ms, long block_ms,
             struct slot_table *slots, const struct broker_cbs *cbs,
             void *arg)
{
    memset(b, 0, sizeof(*b));
    b->slots = slots;
    b->timeout_ms = timeout_ms;
    b->block_ms = block_ms;
    b->base = base;
    b->url = url;
    b->where = redisurl_describe(url);
    b->prefix = prefix;
    b->consumer = consumer;
    b->result_ttl = result_ttl;
    b->cbs = *cbs;
    b->arg = arg;
    b->nstreams = nqueues;
    b->streams = xcalloc((size_t)nqueues, sizeof(char *));
    for (int i = 0; i < nqueues; i++) {
        char key[KEYS_MAX];
        if (keys_queue(key, sizeof(key), prefix, queues[i]) < 0) {
            log_error("queue name '%s' is too long", queues[i]);
            return -1;
        }
        b->streams[i] = xstrdup(key);
    }
    b->rescan_from = xcalloc((size_t)nqueues, sizeof(*b->rescan_from));
    b->rescan_done = xcalloc((size_t)nqueues, 1);
    b->rescan_page = xcalloc((size_t)nqueues, 1);
    b->paused = xcalloc((size_t)nqueues, 1);
    b->rd.b = b->wr.b = b;
    b->rd.role = "read";
    b->wr.role = "write";
    b->rd.backoff_ms = b->wr.backoff_ms = BROKER_BACKOFF_MIN_MS;
    if (url->sentinel != NULL) {
        sentinel_query_init(&b->rd.sq, base, url->sentinel, broker_found_cb,
                            &b->rd);
        sentinel_query_init(&b->wr.sq, base, url->sentinel, broker_found_cb,
                            &b->wr);
    }
    b->rd.retry_ev = evtimer_new(base, broker_retry_cb, &b->rd);
    b->wr.retry_ev = evtimer_new(base, broker_retry_cb, &b->wr);
    b->cool_ev = evtimer_new(base, broker_cool_cb, b);
    b->watch_ev = event_new(base, -1, EV_PERSIST, broker_watch_cb, b);
    struct timeval tv = {1, 0};
    evtimer_add(b->watch_ev, &tv);
    broker_connect(&b->wr);
    broker_connect(&b->rd);
    return 0;
}

/* ---- connections ---- */

/* 1 if c's broker talks to a Redis Cluster (cluster://). */
static int
broker_cluster(const struct broker_conn *c)
{
    return c->b->url->sentinel != NULL && c->b->url->sentinel->cluster;
}

static void
broker_connect(struct broker_conn *c)
{
    struct broker *b = c->b;
    redisAsyncContext *ac;

    if (b->url->sentinel != NULL && c->master_host == NULL) {
        /* Ask the sentinels first; broker_found_cb() comes back here. */
        c->started_ms = broker_now_ms();
        sentinel_query_start(&c->sq);
        return;
    }
    if (c->master_host != NULL)
        ac = tlsgate_connect_addr(b->url->tls, c->master_host,
                                  c->master_port);
    else
        ac = tlsgate_connect(b->url); /* unix://, redis://, rediss:// */
    free(c->master_host); /* the next connect asks the sentinels again */
    c->master_host = NULL;
    if (ac == NULL || ac->err) {
        c->failures++;
        if (c->failures == 1 || (c->failures & (c->failures - 1)) == 0)
            log_warnx("cannot connect to Redis at %s (%s connection): %s; "
                      "retrying (attempt %u)",
                      b->where, c->role, ac ? ac->errstr : "out of memory",
                      c->failures);
        if (ac != NULL)
            redisAsyncFree(ac);
        broker_schedule(c);
        return;
    }
    ac->data = c;
    c->ac = ac;
    c->ready = 0;
    c->init_failed = 0;
    c->started_ms = broker_now_ms();
    c->last_reply_ms = c->started_ms;
    c->seen_buffered = 0;
    c->last_bytes_ms = c->started_ms;
    c->reqs_head = c->reqs_len = 0; /* hiredis answered every one */
    if (redisev_attach(ac, b->base) < 0) {
        log_warnx("cannot watch the Redis connection (%s connection): out "
                  "of memory; retrying", c->role);
        c->ac = NULL;
        redisAsyncFree(ac);
        broker_schedule(c);
        return;
    }
    redisAsyncSetConnectCallback(ac, broker_connect_cb);
    redisAsyncSetDisconnectCallback(ac, broker_disconnect_cb);
    broker_setup(c);
}

/* The sentinels' answer for c: connect to the master they name, or try
 * again after the backoff. */
static void
broker_found_cb(void *arg, const char *host, int port, const char *why)
{
    struct broker_conn *c = arg;
    struct broker *b = c->b;

    if (b->stopping || c->ac != NULL)
        return;
    if (host == NULL) {
        c->failures++;
        if (c->failures == 1 || (c->failures & (c->failures - 1)) == 0)
            log_warnx("no %s of %s named the master (%s connection): "
                      "%sretrying (attempt %u)",
                      broker_cluster(c) ? "seed node" : "sentinel", b->where,
                      c->role, why, c->failures);
        broker_schedule(c);
        return;
    }
    char addr[sizeof(c->last_master)];
    snprintf(addr, sizeof(addr), "%s:%d", host, port);
    if (strcmp(addr, c->last_master) != 0) {
        if (broker_cluster(c))
            log_info("the cluster names %s as master of slot %d (%s "
                     "connection)",
                     addr, b->url->sentinel->slot, c->role);
        else
            log_info("the sentinels name %s as master '%s' (%s connection)",
                     addr, b->url->sentinel->master, c->role);
        memcpy(c->last_master, addr, sizeof(addr));
    }
    c->master_host = xstrdup(host);
    c->master_port = port;
    broker_connect(c);
}

/* ROLE's answer: a node that is not the master is never written to. */
static void
broker_role(struct broker_conn *c, const redisReply *reply)
{
    struct broker *b = c->b;
    char what[300];

    /* An error (ROLE refused by an ACL, say) leaves it to the writes. */
    if (sentinel_role_reply(reply, what, sizeof(what)) != 0)
        return;
    /* Once per attempt at first, then at 2, 4, 8, ... failed attempts. */
    if (!c->init_failed && (c->failures & (c->failures - 1)) == 0)
        log_warnx("Redis at %s%s%s is %s (%s connection); %s", b->where,
                  c->last_master[0] ? " " : "", c->last_master, what, c->role,
                  broker_cluster(c) ? "asking the seed nodes again"
                  : b->url->sentinel != NULL
                      ? "asking the sentinels again"
                      : "a worker writes only to the master: point --redis "
                        "at it, or use sentinel://; retrying");
    c->init_failed = 1;
}

/* Queues the set-up commands; hiredis sends them once connected. */
static void
broker_setup(struct broker_conn *c)
{
    struct broker *b = c->b;
    const char *argv[3];
    size_t lens[3];
    int argc = redisurl_auth_argv(b->url, argv, lens);

    if (argc > 0)
        broker_send(c, broker_step_cb, (void *)(intptr_t)BROKER_STEP_AUTH,
                    argc, argv, lens);
    if (b->url->db != 0) {
        char db[24];
        snprintf(db, sizeof(db), "%d", b->url->db);
        const char *sel[] = {"SELECT", db};
        broker_send(c, broker_step_cb, (void *)(intptr_t)BROKER_STEP_SELECT,
                    2, sel, NULL);
    }
    const char *role[] = {"ROLE"};
    broker_send(c, broker_step_cb, (void *)(intptr_t)BROKER_STEP_ROLE, 1,
                role, NULL);
    if (c == &b->rd) {
        const char *id[] = {"CLIENT", "ID"};
        broker_send(c, broker_step_cb,
                    (void *)(intptr_t)BROKER_STEP_CLIENT_ID, 2, id, NULL);
        broker_send_groups(c);
    } else {
        const char *load[] = {"SCRIPT", "LOAD", scripts_finish};
        broker_send(c, broker_step_cb, (void *)(intptr_t)BROKER_STEP_SCRIPT,
                    3, load, NULL);
    }
    const char *ping[] = {"PING"};
    broker_send(c, broker_step_cb, (void *)(intptr_t)BROKER_STEP_LAST, 1,
                ping, NULL);
}

/* Creates each queue's consumer group (from the start of the stream, so
 * tasks sent before any worker ran are not skipped). */
static void
broker_send_groups(struct broker_conn *c)
{
    struct broker *b = c->b;
    for (int i = 0; i < b->nstreams; i++) {
        const char *argv[] = {"XGROUP", "CREATE", b->streams[i], KEYS_GROUP,
                              "0", "MKSTREAM"};
        broker_send(c, broker_step_cb,
                    (void *)(intptr_t)(BROKER_STEP_GROUP | (i << 8)), 6, argv,
                    NULL);
    }
}

/* ---- commands: every one is queued with its send time and budget ---- */

/* Sends one command on c; fn (may be NULL) gets its reply, or NULL if the
 * connection is lost first.  budget_ms bounds how long Redis may take to
 * answer it once the commands before it are answered (the watchdog).
 * Returns 0, or -1 if it cannot be sent (fn is then not called). */
static int
broker_push(struct broker_conn *c, redisCallbackFn *fn, void *priv,
            long budget_ms, int argc, const char **argv, const size_t *lens)
{
    if (c->ac == NULL)
        return -1;
    if (redisAsyncCommandArgv(c->ac, broker_reply_cb, NULL, argc, argv,
                              lens) != REDIS_OK)
        return -1;
    if (c->reqs_len == c->reqs_cap) { /* grow the ring, keeping its order */
        unsigned cap = c->reqs_cap ? 2 * c->reqs_cap : 16;
        struct broker_req *q = xcalloc(cap, sizeof(*q));
        for (unsigned i = 0; i < c->reqs_len; i++)
            q[i] = c->reqs[(c->reqs_head + i) % c->reqs_cap];
        free(c->reqs);
        c->reqs = q;
        c->reqs_cap = cap;
        c->reqs_head = 0;
    }
    struct broker_req *rq =
        &c->reqs[(c->reqs_head + c->reqs_len) % c->reqs_cap];
    rq->fn = fn;
    rq->priv = priv;
    rq->sent_ms = broker_now_ms();
    rq->budget_ms = budget_ms;
    c->reqs_len++;
    return 0;
}

/* broker_push() with the usual budget, --redis-timeout. */
static int
broker_send(struct broker_conn *c, redisCallbackFn *fn, void *priv, int argc,
            const char **argv, const size_t *lens)
{
    return broker_push(c, fn, priv, c->b->timeout_ms, argc, argv, lens);
}

/* Every reply (or NULL for a lost connection) arrives here first, in send
 * order: it answers the head of the queue. */
static void
broker_reply_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker_conn *c = ac->data;
    (void)privdata;
    if (c == NULL || c->reqs_len == 0)
        return; /* cannot happen: every command is queued */
    struct broker_req rq = c->reqs[c->reqs_head];
    c->reqs_head = (c->reqs_head + 1) % c->reqs_cap;
    c->reqs_len--;
    if (r != NULL)
        c->last_reply_ms = broker_now_ms();
    if (rq.fn != NULL)
        rq.fn(ac, r, rq.priv);
    /* The master became a replica (a fail-over): find the new one.  In a
     * cluster, also when the node no longer serves the slot (MOVED, ASK)
     * or the cluster is down (CLUSTERDOWN): ask the seeds again. */
    if (sentinel_readonly(r) && c->ac == ac && !c->dropping)
        broker_drop(c, "is a replica now (READONLY)");
    else if (broker_cluster(c) && sentinel_moved(r) && c->ac == ac &&
             !c->dropping)
        broker_drop(c, "does not serve the deployment's slot now (MOVED, "
                       "ASK or CLUSTERDOWN)");
}

/*
 * 1 if a set-up error means the configuration is wrong (a wrong or missing
 * password, a database the server does not have, a queue key that is not a
 * stream), 0 if trying again may help (LOADING, too many clients, ...).
 */
static int
broker_permanent(enum broker_step step, const char *err)
{
    if (strncmp(err, "WRONGPASS", 9) == 0 || strncmp(err, "NOAUTH", 6) == 0 ||
        strncmp(err, "NOPERM", 6) == 0)
        return 1;
    switch (step) {
    case BROKER_STEP_AUTH: /* "ERR invalid password", "ERR AUTH <password>
                            * called without any password configured" */
        return strncmp(err, "ERR", 3) == 0 && strcasestr(err, "password");
    case BROKER_STEP_SELECT: /* "ERR DB index is out of range" */
        return strncmp(err, "ERR", 3) == 0 && strcasestr(err, "DB index");
    case BROKER_STEP_GROUP:
        return strncmp(err, "WRONGTYPE", 9) == 0;
    default:
        return 0;
    }
}

static void
broker_step_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker_conn *c = ac->data;
    struct broker *b = c->b;
    redisReply *reply = r;
    enum broker_step step = (enum broker_step)((intptr_t)privdata & 0xff);
    int queue = (int)((intptr_t)privdata >> 8);

    if (reply == NULL) /* disconnected before the reply */
        return;
    if (step == BROKER_STEP_ROLE) {
        broker_role(c, reply);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (step == BROKER_STEP_GROUP &&
            strncmp(reply->str, "BUSYGROUP", 9) == 0)
            return; /* the group exists: fine */
        /* One line per attempt: the commands queued behind a failed one
         * fail for the same reason (NOAUTH after a refused AUTH). */
        int first = !c->init_failed;
        c->init_failed = 1;
        if (step == BROKER_STEP_LAST) {
            /* Even the closing PING failed (a Redis still LOADING its
             * data, say): start over after the backoff. */
            if (first && !b->fatal)
                log_warnx("Redis at %s is not ready (%s connection): %s; "
                          "retrying",
                          b->where, c->role, reply->str);
            redisAsyncDisconnect(ac);
            return;
        }
        int permanent = broker_permanent(step, reply->str);
        if (b->fatal) { /* reported already: just stop */
            c->fatal = c->fatal || permanent;
            return;
        }
        if (!first)
            return;
        if (strncmp(reply->str, "LOADING", 7) == 0) {
            log_warnx("Redis at %s is still loading its data (%s "
                      "connection); retrying",
                      b->where, c->role);
            return;
        }
        /* At start-up a permanent error stops the worker; once it has
         * run, it may be a password being rotated: keep trying. */
        int fatal = permanent && !b->connected_once;
        const char *then =
            fatal ? "; exiting with status 78 (retrying cannot help)"
                  : "; retrying";
        switch (step) {
        case BROKER_STEP_AUTH:
            log_error("Redis at %s refused AUTH: %s; check the user and "
                      "password in the URL or in CELERIAC_REDIS_PASSWORD%s",
                      b->where, reply->str, then);
            break;
        case BROKER_STEP_SELECT:
            log_error("Redis at %s refused SELECT %d: %s; check the database "
                      "number in the URL%s",
                      b->where, b->url->db, reply->str, then);
            break;
        case BROKER_STEP_GROUP:
            if (strncmp(reply->str, "WRONGTYPE", 9) == 0)
                log_error("cannot create consumer group '%s' on %s in Redis "
                          "at %s: %s; that key holds something other than a "
                          "stream: rename or delete it, or use another "
                          "--prefix%s",
                          KEYS_GROUP, b->streams[queue], b->where,
                          reply->str, then);
            else
                log_error("cannot create consumer group '%s' on %s in Redis "
                          "at %s: %s%s",
                          KEYS_GROUP, b->streams[queue], b->where,
                          reply->str, then);
            break;
        default:
            if (strncmp(reply->str, "NOAUTH", 6) == 0)
                log_error("Redis at %s needs a password (%s connection): %s; "
                          "give it in the URL or in "
                          "CELERIAC_REDIS_PASSWORD%s",
                          b->where, c->role, reply->str, then);
            else
                log_error("Redis at %s refused a set-up command (%s "
                          "connection): %s%s",
                          b->where, c->role, reply->str, then);
            break;
        }
        if (fatal) {
            b->fatal = 1;
            c->fatal = 1;
            if (b->cbs.fatal)
                b->cbs.fatal(b->arg);
        }
        return;
    }
    switch (step) {
    case BROKER_STEP_CLIENT_ID:
        if (reply->type == REDIS_REPLY_INTEGER)
            b->rd_client_id = reply->integer;
        break;
    case BROKER_STEP_SCRIPT:
        if (reply->type == REDIS_REPLY_STRING && reply->len == 40)
            memcpy(b->sha, reply->str, 41);
        break;
    case BROKER_STEP_LAST:
        if (c->init_failed) {
            /* Try again later: maybe someone fixes the configuration. */
            redisAsyncDisconnect(ac);
            return;
        }
        if (c->failures > 0)
            log_info("connected to Redis at %s again (%s connection)",
                     b->where, c->role);
        else
            log_debug("connected to Redis at %s (%s connection)", b->where,
                      c->role);
        if (b->connected_once)
            b->reconnects++;
        c->ready = 1;
        c->failures = 0;
        c->backoff_ms = BROKER_BACKOFF_MIN_MS;
        if (b->rd.ready && b->wr.ready)
            b->connected_once = 1;
        if (c == &b->rd) {
            /* First hand out again what is still pending for this
             * consumer: a read whose reply was lost, or tasks held by a
             * worker of the same name that was restarted. */
            b->rescan = 1;
            b->rescanned = 0;
            for (int i = 0; i < b->nstreams; i++) {
                b->rescan_from[i][0] = '\0';
                b->rescan_done[i] = 0;
            }
        }
        if (b->cbs.ready)
            b->cbs.ready(b->arg);
        break;
    default:
        break;
    }
}

static void
broker_connect_cb(const redisAsyncContext *ac, int status)
{
    struct broker_conn *c = ac->data;
    if (status == REDIS_OK) {
        /* TCP only: a unix socket refuses SO_KEEPALIVE, and hiredis would
         * treat that as a broken connection.  (For rediss:// hiredis is on
         * the TLS gate's unix socket; the gate sets it on its TCP end.) */
        if (c->b->url->path == NULL && !c->b->url->tls)
            redisEnableKeepAlive((redisContext *)&ac->c);
        return;
    }
    /* hiredis frees the context after this callback. */
    c->ac = NULL;
    c->ready = 0;
    c->failures++;
    if (c->failures == 1 || (c->failures & (c->failures - 1)) == 0)
        log_warnx("cannot connect to Redis at %s (%s connection): %s; "
                  "retrying (attempt %u)",
                  c->b->where, c->role, ac->errstr, c->failures);
    broker_schedule(c);
}

static void
broker_disconnect_cb(const redisAsyncContext *ac, int status)
{
    struct broker_conn *c = ac->data;
    struct broker *b = c->b;
    int was_ready = c->ready;

    c->ac = NULL;
    c->ready = 0;
    if (c == &b->rd)
        b->reading = 0;
    else
        b->claiming = 0;
    if (b->stopping || c->dropping)
        return;
    c->failures++;
    /* Lost before it was ready (a TLS bridge that could not reach the
     * server, a server that hangs up): logged like a failed connect. */
    if ((status != REDIS_OK || !c->init_failed) &&
        (was_ready || (c->failures & (c->failures - 1)) == 0))
        log_warnx("lost the %s connection to Redis at %s: %s; reconnecting%s",
                  c->role, b->where,
                  ac->errstr[0] ? ac->errstr : "closed by the server",
                  !was_ready && b->url->path == NULL && !b->url->tls
                      ? (b->url->sentinel == NULL
                             ? " (if that port wants TLS, use rediss://)"
                         : b->url->sentinel->cluster
                             ? " (if that port wants TLS, use "
                               "cluster+tls://)"
                             : " (if that port wants TLS, use "
                               "sentinel+tls://)")
                      : "");
    broker_schedule(c);
}

/* Arms the reconnect timer: exponential backoff with +-25% jitter. */
static void
broker_schedule(struct broker_conn *c)
{
    if (c->b->stopping || c->fatal)
        return;
    long ms = c->backoff_ms;
    long jitter = ms / 4;
    if (jitter > 0)
        ms += (long)(random() % (2 * jitter + 1)) - jitter;
    c->backoff_ms *= 2;
    if (c->backoff_ms > BROKER_BACKOFF_MAX_MS)
        c->backoff_ms = BROKER_BACKOFF_MAX_MS;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(c->retry_ev, &tv);
}

static void
broker_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct broker_conn *c = arg;
    (void)fd;
    (void)what;
    if (c->ac == NULL && !c->b->stopping)
        broker_connect(c);
}

/* ---- reading ---- */

int
broker_can_read(const struct broker *b)
{
    return b->rd.ready && !b->reading && !b->cooling && !b->stopping;
}

/* --priority: reads up to count entries of queue q alone, without
 * blocking (the read callback tells the policy what it brought). */
static int
broker_read_one(struct broker *b, int q, unsigned count)
{
    char cnt[24];
    snprintf(cnt, sizeof(cnt), "%u", count);
    const char *argv[] = {"XREADGROUP", "GROUP", KEYS_GROUP, b->consumer,
                          "COUNT",      cnt,     "STREAMS",  b->streams[q],
                          ">"};
    if (broker_push(&b->rd, broker_read_cb, (void *)(intptr_t)2,
                    b->timeout_ms, 9, argv, NULL) < 0)
        return -1;
    b->prio_q = q;
    b->reading = 1;
    return 0;
}

int
broker_read(struct broker *b, unsigned count, long block_ms)
{
    if (!broker_can_read(b))
        return -1;
    if (b->rescan && broker_rescan(b, count) == 0)
        return 0;
    if (b->prio != NULL && b->prio->mode != PRIORITY_ALL) {
        int q = priority_next(b->prio);
        while (q >= 0 && b->paused[q]) { /* paused: as if empty */
            priority_result(b->prio, q, 0);
            q = priority_next(b->prio);
        }
        if (q >= 0)
            return broker_read_one(b, q, count);
    }
    int argc = 0, n = b->nstreams;
    const char **argv = xcalloc((size_t)(9 + 2 * n), sizeof(char *));
    char cnt[24], blk[24];
    snprintf(cnt, sizeof(cnt), "%u", count);
    snprintf(blk, sizeof(blk), "%ld", block_ms);
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = KEYS_GROUP;
    argv[argc++] = b->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    argv[argc++] = "BLOCK";
    argv[argc++] = blk;
    argv[argc++] = "STREAMS";
    int nread = 0;
    for (int i = 0; i < n; i++)
        if (!b->paused[i]) {
            argv[argc++] = b->streams[i];
            nread++;
        }
    for (int i = 0; i < nread; i++)
        argv[argc++] = ">";
    if (nread == 0) { /* every queue is paused */
        free(argv);
        return -1;
    }
    /* A blocked read answers after its BLOCK time at the latest. */
    int rc = broker_push(&b->rd, broker_read_cb, NULL, b->timeout_ms + block_ms,
                         argc, argv, NULL);
    free(argv);
    if (rc < 0)
        return -1;
    b->reading = 1;
    return 0;
}

void
broker_pause(struct broker *b, int q, int on)
{
    if (q >= 0 && q < b->nstreams)
        b->paused[q] = on ? 1 : 0;
}

/*
 * Sends one page of the re-read of this consumer's pending entries: for
 * every queue not yet done, XPENDING of the next count entries (their
 * delivery counts), then one XREADGROUP ... <last id> for all of them,
 * which hands them out again without blocking.  Returns 0, or -1 when
 * there is nothing left to re-read (b->rescan is then cleared).
 */
static int
broker_rescan(struct broker *b, unsigned count)
{
    int n = 0;
    for (int i = 0; i < b->nstreams; i++) {
        b->rescan_page[i] = !b->rescan_done[i];
        n += b->rescan_page[i];
    }
    if (n == 0) {
        b->rescan = 0;
        if (b->rescanned > 0)
            log_info("re-read %lu entries still pending for this worker "
                     "(%s); the ones it holds already are not run again",
                     b->rescanned, b->consumer);
        return -1;
    }
    char cnt[24], start[64];
    snprintf(cnt, sizeof(cnt), "%u", count);
    b->npend = 0;
    b->rescan_count = count;
    for (int i = 0; i < b->nstreams; i++) {
        if (!b->rescan_page[i])
            continue;
        if (b->rescan_from[i][0] == '\0')
            snprintf(start, sizeof(start), "-");
        else
            snprintf(start, sizeof(start), "(%s", b->rescan_from[i]);
        const char *argv[] = {"XPENDING", b->streams[i], KEYS_GROUP, start,
                              "+",        cnt,           b->consumer};
        broker_send(&b->rd, broker_pend_cb, (void *)(intptr_t)i, 7, argv,
                    NULL);
    }
    const char **argv = xcalloc((size_t)(7 + 2 * n), sizeof(char *));
    int argc = 0;
    argv[argc++] = "XREADGROUP";
    argv[argc++] = "GROUP";
    argv[argc++] = KEYS_GROUP;
    argv[argc++] = b->consumer;
    argv[argc++] = "COUNT";
    argv[argc++] = cnt;
    argv[argc++] = "STREAMS";
    for (int i = 0; i < b->nstreams; i++)
        if (b->rescan_page[i])
            argv[argc++] = b->streams[i];
    for (int i = 0; i < b->nstreams; i++)
        if (b->rescan_page[i])
            argv[argc++] = b->rescan_from[i][0] ? b->rescan_from[i] : "0";
    int rc = broker_send(&b->rd, broker_read_cb, (void *)(intptr_t)1, argc,
                         argv, NULL);
    free(argv);
    if (rc < 0)
        return -1;
    b->reading = 1;
    return 0;
}

/* Keeps the XPENDING rows of a re-read page: id and delivery count. */
static void
broker_pend_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = ((struct broker_conn *)ac->data)->b;
    redisReply *reply = r;
    int q = (int)(intptr_t)privdata;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return; /* an error (NOGROUP) shows in the XREADGROUP too */
    for (size_t i = 0; i < reply->elements; i++) {
        redisReply *row = reply->element[i];
        if (row->type != REDIS_REPLY_ARRAY || row->elements < 4 ||
            row->element[0]->type != REDIS_REPLY_STRING ||
            row->element[0]->len >= sizeof(b->pend[0].id) ||
            row->element[3]->type != REDIS_REPLY_INTEGER)
            continue;
        if (b->npend == b->pend_cap) {
            b->pend_cap = b->pend_cap ? 2 * b->pend_cap : 16;
            b->pend = xrealloc(b->pend, b->pend_cap * sizeof(*b->pend));
        }
        struct broker_pend *p = &b->pend[b->npend++];
        p->queue = q;
        memcpy(p->id, row->element[0]->str, row->element[0]->len + 1);
        p->deliveries = (unsigned)row->element[3]->integer;
    }
}

/* Compares two stream entry ids ("ms-seq") as numbers. */
static int
broker_id_cmp(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    if (am != bm)
        return am < bm ? -1 : 1;
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
    unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;
    return as < bs ? -1 : as > bs;
}

/*
 * Hands out the entries of a re-read page.  An entry deleted from its
 * stream while pending has no fields: nobody can run it, so it is
 * acknowledged.  A queue that returned less than a full page is done.
 */
static void
broker_rescanned(struct broker *b, const redisReply *reply)
{
    for (int i = 0; i < b->nstreams; i++)
        if (b->rescan_page[i])
            b->rescan_done[i] = 1; /* unless a full page says otherwise */
    for (size_t i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements;
         i++) {
        redisReply *st = reply->element[i];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
            st->element[0]->type != REDIS_REPLY_STRING)
            continue;
        int q = -1;
        for (int k = 0; k < b->nstreams; k++)
            if (strcmp(b->streams[k], st->element[0]->str) == 0)
                q = k;
        redisReply *entries = st->element[1];
        if (q < 0 || !b->rescan_page[q] ||
            entries->type != REDIS_REPLY_ARRAY)
            continue;
        size_t p = 0; /* XPENDING rows and entries are both in id order */
        for (size_t e = 0; e < entries->elements; e++) {
            redisReply *ent = entries->element[e];
            if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
                ent->element[0]->type != REDIS_REPLY_STRING ||
                ent->element[0]->len >= sizeof(b->rescan_from[q]))
                continue;
            const char *id = ent->element[0]->str;
            memcpy(b->rescan_from[q], id, ent->element[0]->len + 1);
            if (ent->element[1]->type != REDIS_REPLY_ARRAY) {
                log_warnx("entry %s of %s was pending for this worker but "
                          "has been deleted from the stream; acknowledging "
                          "it",
                          id, b->streams[q]);
                const char *ack[] = {"XACK", b->streams[q], KEYS_GROUP, id};
                broker_send(&b->rd, NULL, NULL, 4, ack, NULL);
                continue;
            }
            while (p < b->npend && (b->pend[p].queue != q ||
                                    broker_id_cmp(b->pend[p].id, id) < 0))
                p++;
            /* The re-read counts a delivery; an entry XPENDING did not
             * list had been delivered at least once before. */
            unsigned dels = p < b->npend && strcmp(b->pend[p].id, id) == 0
                                ? b->pend[p].deliveries + 1
                                : 2;
            b->rescanned++;
            broker_deliver(b, q, id, ent->element[1], dels, b->consumer);
        }
        if (entries->elements >= b->rescan_count)
            b->rescan_done[q] = 0; /* a full page: there may be more */
    }
    b->npend = 0;
}

static void
broker_read_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker_conn *c = ac->data;
    struct broker *b = c->b;
    redisReply *reply = r;
    unsigned long got = 0;

    b->reading = 0;
    if (reply == NULL)
        goto done; /* disconnected: reconnect follows */
    if (reply->type == REDIS_REPLY_ERROR) {
        log_warnx("reading the queues failed: %s", reply->str);
        if (strncmp(reply->str, "NOGROUP", 7) == 0)
            broker_send_groups(c); /* a stream was deleted */
        b->cooling = 1;
        struct timeval tv = {0, BROKER_COOL_MS * 1000};
        evtimer_add(b->cool_ev, &tv);
        goto done;
    }
    if (privdata == (void *)(intptr_t)1) { /* a page of the re-read */
        broker_rescanned(b, reply);
        goto done;
    }
    if (reply->type != REDIS_REPLY_ARRAY)
        goto told; /* NIL: the block timed out or was cut short */
    for (size_t i = 0; i < reply->elements; i++) {
        redisReply *st = reply->element[i];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2)
            continue;
        int q = -1;
        for (int k = 0; k < b->nstreams; k++)
            if (strcmp(b->streams[k], st->element[0]->str) == 0)
                q = k;
        redisReply *entries = st->element[1];
        if (q < 0 || entries->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t e = 0; e < entries->elements; e++) {
            redisReply *ent = entries->element[e];
            if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2)
                continue;
            broker_deliver(b, q, ent->element[0]->str, ent->element[1], 1,
                           NULL);
            got++;
        }
    }
told:
    if (b->prio != NULL && privdata == (void *)(intptr_t)2) {
        log_debug("read %lu from queue %s", got, b->streams[b->prio_q]);
        priority_result(b->prio, b->prio_q, got);
    }
    else if (b->prio != NULL)
        priority_reset(b->prio);
done:
    if (b->cbs.read_done)
        b->cbs.read_done(b->arg);
}

/* Hands one entry (its field/value array is fields) to the owner; while
 * the callback runs, broker_msg_take() may take the message's buffer. */
static void
broker_deliver(struct broker *b, int q, const char *id, redisReply *fields,
               unsigned deliveries, const char *from)
{
    redisReply *val = NULL;
    if (fields->type == REDIS_REPLY_ARRAY)
        for (size_t f = 0; f + 1 < fields->elements; f += 2) {
            const redisReply *k = fields->element[f];
            if (k->type == REDIS_REPLY_STRING &&
                k->len == strlen(KEYS_MSG_FIELD) &&
                memcmp(k->str, KEYS_MSG_FIELD, k->len) == 0) {
                val = fields->element[f + 1];
                break;
            }
        }
    if (val != NULL && val->type != REDIS_REPLY_STRING)
        val = NULL;
    b->msg_val = val;
    b->cbs.entry(b->arg, q, id, val ? val->str : NULL, val ? val->len : 0,
                 deliveries, from);
    b->msg_val = NULL;
}

char *
broker_msg_take(struct broker *b)
{
    redisReply *val = b->msg_val;
    if (val == NULL || val->str == NULL)
        return NULL;
    char *msg = val->str; /* hiredis allocated len + 1 bytes, NUL-ended */
    val->str = NULL;      /* freeReplyObject frees NULL: nothing */
    val->len = 0;
    b->msg_val = NULL;
    return msg;
}

static void
broker_cool_cb(evutil_socket_t fd, short what, void *arg)
{
    struct broker *b = arg;
    (void)fd;
    (void)what;
    b->cooling = 0;
    if (b->cbs.ready)
        b->cbs.ready(b->arg);
}

void
broker_unblock(struct broker *b)
{
    if (!b->reading || !b->wr.ready || b->rd_client_id == 0)
        return;
    char id[24];
    snprintf(id, sizeof(id), "%lld", b->rd_client_id);
    const char *argv[] = {"CLIENT", "UNBLOCK", id};
    /* The read first, if it is still in hiredis's buffer, then the
     * unblock: both onto their sockets now, ahead of anything another
     * connection sends after this (a control answer saying a queue is
     * paused), so that a task sent once that answer is seen does not
     * reach the read this cuts. */
    if (b->rd.ac != NULL)
        redisAsyncHandleWrite(b->rd.ac);
    broker_send(&b->wr, broker_ignore_cb, NULL, 3, argv, NULL);
    if (b->wr.ac != NULL)
        redisAsyncHandleWrite(b->wr.ac);
}

static void
broker_ignore_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    (void)ac;
    (void)r;
    (void)privdata;
}

/* ---- finishing ---- */

int
broker_can_write(const struct broker *b)
{
    return b->wr.ready;
}

int
broker_finish(struct broker *b, int queue, struct slot_list *done,
              unsigned max)
{
    if (!b->wr.ready)
        return -1;
    struct broker_batch *bb = xcalloc(1, sizeof(*bb));
    bb->b = b;
    bb->queue = queue;
    TAILQ_INIT(&bb->slots);
    struct slot *s;
    while (bb->n < max && (s = TAILQ_FIRST(done)) != NULL) {
        TAILQ_REMOVE(done, s, entry);
        slot_move(b->slots, s, SLOT_FINISHING);
        TAILQ_INSERT_TAIL(&bb->slots, s, entry);
        bb->n++;
    }
    int n = (int)bb->n;
    if (broker_send_batch(bb) < 0) {
        broker_batch_fail(bb);
        return -1;
    }
    unique_release_batch(b, &bb->slots);
    return n;
}

/* Sends the batch as EVALSHA (or EVAL after NOSCRIPT). */
static int
broker_send_batch(struct broker_batch *bb)
{
    struct broker *b = bb->b;
    size_t argc = 0, max = 11 + SCRIPTS_RECORD_MAX * (size_t)bb->n;
    char ttl[24], rmax[24], sched[KEYS_MAX], dead[KEYS_MAX], rpre[KEYS_MAX];
    struct slot *s;

    snprintf(ttl, sizeof(ttl), "%ld", b->result_ttl);
    snprintf(rmax, sizeof(rmax), "%ld",
             b->reply_maxlen > 0 ? b->reply_maxlen : BROKER_REPLY_MAXLEN);
    if (keys_scheduled(sched, sizeof(sched), b->prefix) < 0 ||
        keys_dead(dead, sizeof(dead), b->prefix) < 0 ||
        keys_reply_prefix(rpre, sizeof(rpre), b->prefix) < 0) {
        log_error("--prefix '%s' is too long for celeriac's key names",
                  b->prefix);
        return -1;
    }
    const char **argv = xcalloc(max, sizeof(char *));
    size_t *lens = xcalloc(max, sizeof(size_t));
#define BROKER_ARG(p, l) (argv[argc] = (p), lens[argc++] = (l))
    if (bb->evaled || b->sha[0] == '\0') {
        BROKER_ARG("EVAL", 4);
        BROKER_ARG(scripts_finish, strlen(scripts_finish));
    } else {
        BROKER_ARG("EVALSHA", 7);
        BROKER_ARG(b->sha, 40);
    }
    BROKER_ARG("1", 1);
    BROKER_ARG(b->streams[bb->queue], strlen(b->streams[bb->queue]));
    BROKER_ARG(KEYS_GROUP, strlen(KEYS_GROUP));
    BROKER_ARG(b->consumer, strlen(b->consumer));
    BROKER_ARG(ttl, strlen(ttl));
    BROKER_ARG(sched, strlen(sched));
    BROKER_ARG(dead, strlen(dead));
    BROKER_ARG(rpre, strlen(rpre));
    BROKER_ARG(rmax, strlen(rmax));
    TAILQ_FOREACH(s, &bb->slots, entry)
    {
        /* One record (scripts.h): mode, entry, key, document, then the
         * mode's own arguments. */
        int retry = s->res_mode[0] == SCRIPTS_RETRY[0];
        BROKER_ARG(s->res_mode, 1);
        BROKER_ARG(s->entry_id, strlen(s->entry_id));
        BROKER_ARG(s->res_key, strlen(s->res_key));
        BROKER_ARG(s->res_doc, s->res_doc_len);
        if (!retry)
            BROKER_ARG(s->res_reply_to, strlen(s->res_reply_to));
        if (retry || s->res_mode[0] == SCRIPTS_DEAD[0]) {
            BROKER_ARG(s->res_arg1, s->res_arg1_len);
            BROKER_ARG(s->res_arg2, s->res_arg2_len);
        }
    }
#undef BROKER_ARG
    int rc = broker_send(&b->wr, broker_finish_cb, bb, (int)argc, argv, lens);
    free(argv);
    free(lens);
    return rc;
}

static void
broker_finish_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker_batch *bb = privdata;
    struct broker *b = bb->b;
    redisReply *reply = r;
    (void)ac;

    if (reply == NULL) { /* connection lost: finish again after reconnect */
        broker_batch_fail(bb);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR) {
        if (!bb->evaled && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
            b->wr.ready) {
            bb->evaled = 1; /* script cache flushed: send the text */
            if (broker_send_batch(bb) == 0)
                return;
        }
        log_error("Redis refused to store %u result(s): %s; will retry",
                  bb->n, reply->str);
        broker_batch_fail(bb);
        return;
    }
    bb->outcome = xcalloc(bb->n ? bb->n : 1, 1);
    bb->why = xcalloc(bb->n ? bb->n : 1, sizeof(char *));
    for (size_t i = 0; i < bb->n; i++) {
        const redisReply *e = reply->type == REDIS_REPLY_ARRAY &&
                                      i < reply->elements
                                  ? reply->element[i]
                                  : NULL;
        bb->outcome[i] = 1;
        if (e != NULL && e->type == REDIS_REPLY_STRING && b->cbs.refused) {
            bb->outcome[i] = -1;
            bb->why[i] = xstrdup(e->str);
        } else if (e != NULL && e->type == REDIS_REPLY_INTEGER) {
            bb->outcome[i] = e->integer != 0;
        }
    }
    if (b->durable > 0) {
        /* Hold the slots (and their results) until the replicas have the
         * finish too: if the master dies first, they are finished again
         * on the new one rather than run again. */
        broker_await(bb);
        return;
    }
    broker_batch_done(bb);
}

/*
 * --durable-results: one WAIT at a time covers every batch answered before
 * it was sent (WAIT blocks the connection, so one per batch would cost its
 * timeout per batch while a replica is down).
 */
static void
broker_await(struct broker_batch *bb)
{
    struct broker *b = bb->b;
    if (b->nawait == b->await_cap) {
        b->await_cap = b->await_cap ? 2 * b->await_cap : 16;
        b->await = xrealloc(b->await, b->await_cap * sizeof(*b->await));
        b->covered = xrealloc(b->covered, b->await_cap * sizeof(*b->covered));
    }
    b->await[b->nawait++] = bb;
    if (!b->waiting)
        broker_send_wait(b);
}

/* Sends WAIT for the batches awaiting it. */
static void
broker_send_wait(struct broker *b)
{
    char n[16], ms[24];
    snprintf(n, sizeof(n), "%d", b->durable);
    snprintf(ms, sizeof(ms), "%ld",
             b->timeout_ms / 2 < BROKER_WAIT_MS ? b->timeout_ms / 2
                                                : BROKER_WAIT_MS);
    const char *wait[] = {"WAIT", n, ms};
    struct broker_batch **t = b->covered;
    b->covered = b->await;
    b->ncovered = b->nawait;
    b->await = t;
    b->nawait = 0;
    if (broker_send(&b->wr, broker_wait_cb, b, 3, wait, NULL) == 0) {
        b->waiting = 1;
        return;
    }
    /* The connection is gone: finish them again after the reconnect. */
    for (size_t i = 0; i < b->ncovered; i++)
        broker_batch_fail(b->covered[i]);
    b->ncovered = 0;
}

/* WAIT's answer (--durable-results). */
static void
broker_wait_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = privdata;
    const redisReply *reply = r;
    size_t n = b->ncovered;
    (void)ac;

    b->waiting = 0;
    b->ncovered = 0;
    if (reply == NULL) { /* lost before the replicas confirmed */
        for (size_t i = 0; i < n; i++)
            broker_batch_fail(b->covered[i]);
        for (size_t i = 0; i < b->nawait; i++)
            broker_batch_fail(b->await[i]);
        b->nawait = 0;
        return;
    }
    if (reply->type != REDIS_REPLY_INTEGER || reply->integer < b->durable) {
        unsigned long long k = ++b->undurable_batches, results = 0;
        for (size_t i = 0; i < n; i++)
            results += b->covered[i]->n;
        b->undurable += results;
        if ((k & (k - 1)) == 0) /* 1, 2, 4, 8, ... times */
            log_warnx("%lld of %d replica(s) confirmed %llu result(s) in "
                      "time (--durable-results; %llu results so far): a "
                      "fail-over now may lose them, and the tasks would run "
                      "again — are the replicas up?",
                      reply->type == REDIS_REPLY_INTEGER ? reply->integer
                                                         : 0LL,
                      b->durable, results, b->undurable);
    }
    for (size_t i = 0; i < n; i++)
        broker_batch_done(b->covered[i]);
    if (b->nawait > 0)
        broker_send_wait(b);
}

/* Tells the owner the outcome of each slot of an answered batch. */
static void
broker_batch_done(struct broker_batch *bb)
{
    struct broker *b = bb->b;
    struct slot *s;
    size_t i = 0;
    while ((s = TAILQ_FIRST(&bb->slots)) != NULL) {
        TAILQ_REMOVE(&bb->slots, s, entry);
        if (bb->outcome[i] < 0) {
            /* Nothing was done for this record: it is still pending. */
            slot_move(b->slots, s, SLOT_DONE);
            b->cbs.refused(b->arg, s, bb->why[i]);
        } else {
            b->cbs.finished(b->arg, s, bb->outcome[i]);
        }
        free(bb->why[i]);
        i++;
    }
    free(bb->outcome);
    free(bb->why);
    free(bb);
}

/* Hands every slot of a failed batch back as unfinished. */
static void
broker_batch_fail(struct broker_batch *bb)
{
    struct broker *b = bb->b;
    struct slot *s;
    while ((s = TAILQ_FIRST(&bb->slots)) != NULL) {
        TAILQ_REMOVE(&bb->slots, s, entry);
        slot_move(b->slots, s, SLOT_DONE);
        b->cbs.unfinished(b->arg, s);
    }
    if (bb->why != NULL)
        for (unsigned i = 0; i < bb->n; i++)
            free(bb->why[i]);
    free(bb->outcome);
    free(bb->why);
    free(bb);
}

/* ---- heartbeat, take-over, refresh, schedule ---- */

int
broker_heartbeat(struct broker *b, const char *const *kv, int nfields,
                 long ttl_ms, long long now_ms)
{
    if (!b->wr.ready)
        return -1;
    char key[KEYS_MAX], reg[KEYS_MAX], ttl[24], score[24];
    keys_worker(key, sizeof(key), b->prefix, b->consumer);
    keys_workers(reg, sizeof(reg), b->prefix);
    snprintf(ttl, sizeof(ttl), "%ld", ttl_ms);
    snprintf(score, sizeof(score), "%lld", now_ms);
    const char **argv = xcalloc((size_t)(2 + 2 * nfields), sizeof(char *));
    argv[0] = "HSET";
    argv[1] = key;
    for (int i = 0; i < 2 * nfields; i++)
        argv[2 + i] = kv[i];
    broker_send(&b->wr, NULL, NULL, 2 + 2 * nfields, argv, NULL);
    free(argv);
    const char *pexp[] = {"PEXPIRE", key, ttl};
    broker_send(&b->wr, NULL, NULL, 3, pexp, NULL);
    const char *zadd[] = {"ZADD", reg, score, b->consumer};
    broker_send(&b->wr, broker_beat_cb, NULL, 4, zadd, NULL);
    return 0;
}

static void
broker_beat_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = ((struct broker_conn *)ac->data)->b;
    redisReply *reply = r;
    (void)privdata;
    int ok = reply != NULL && reply->type != REDIS_REPLY_ERROR;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_warnx("storing the heartbeat failed: %s", reply->str);
    if (b->cbs.beat)
        b->cbs.beat(b->arg, ok);
}

void
broker_deregister(struct broker *b)
{
    char key[KEYS_MAX], reg[KEYS_MAX];
    if (!b->wr.ready)
        return;
    keys_worker(key, sizeof(key), b->prefix, b->consumer);
    keys_workers(reg, sizeof(reg), b->prefix);
    const char *del[] = {"DEL", key};
    broker_send(&b->wr, NULL, NULL, 2, del, NULL);
    const char *zrem[] = {"ZREM", reg, b->consumer};
    broker_send(&b->wr, NULL, NULL, 3, zrem, NULL);
}

int
broker_claim(struct broker *b, int queue, unsigned count, long visibility_ms)
{
    if (!b->wr.ready || b->claiming || b->stopping)
        return -1;
    char cnt[24], vis[24], wprefix[KEYS_MAX];
    snprintf(cnt, sizeof(cnt), "%u", count);
    snprintf(vis, sizeof(vis), "%ld", visibility_ms);
    if (keys_worker(wprefix, sizeof(wprefix), b->prefix, "") < 0)
        return -1;
    const char *argv[] = {"EVAL",     scripts_claim, "1",    b->streams[queue],
                          KEYS_GROUP, b->consumer,   vis,    cnt,
                          wprefix};
    if (broker_send(&b->wr, broker_claim_cb, (void *)(intptr_t)queue, 9, argv,
                    NULL) < 0)
        return -1;
    b->claiming = 1;
    return 0;
}

static void
broker_claim_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = ((struct broker_conn *)ac->data)->b;
    redisReply *reply = r;
    int q = (int)(intptr_t)privdata;

    b->claiming = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
        strncmp(reply->str, "NOGROUP", 7) != 0)
        log_warnx("taking over stalled tasks failed: %s", reply->str);
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements; i++) {
            redisReply *e = reply->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements != 4 ||
                e->element[0]->type != REDIS_REPLY_STRING)
                continue;
            unsigned dels = e->element[2]->type == REDIS_REPLY_INTEGER
                                ? (unsigned)e->element[2]->integer
                                : 1;
            const char *from = e->element[3]->type == REDIS_REPLY_STRING
                                   ? e->element[3]->str
                                   : NULL;
            broker_deliver(b, q, e->element[0]->str, e->element[1], dels, from);
        }
    }
    if (b->cbs.claim_done)
        b->cbs.claim_done(b->arg);
}

void
broker_touch(struct broker *b, int queue, const char *const *ids, int n)
{
    if (!b->wr.ready || n == 0)
        return;
    const char **argv = xcalloc((size_t)(6 + n), sizeof(char *));
    argv[0] = "EVAL";
    argv[1] = scripts_touch;
    argv[2] = "1";
    argv[3] = b->streams[queue];
    argv[4] = KEYS_GROUP;
    argv[5] = b->consumer;
    for (int i = 0; i < n; i++)
        argv[6 + i] = ids[i];
    broker_send(&b->wr, broker_touch_cb, (void *)(intptr_t)queue, 6 + n, argv,
                NULL);
    free(argv);
}

static void
broker_touch_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = ((struct broker_conn *)ac->data)->b;
    redisReply *reply = r;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING && b->cbs.taken)
            b->cbs.taken(b->arg, (int)(intptr_t)privdata,
                         reply->element[i]->str);
}

void
broker_move(struct broker *b, long long now_ms, unsigned max)
{
    char sched[KEYS_MAX], qprefix[KEYS_MAX], now[24], cnt[24];
    if (!b->wr.ready)
        return;
    if (keys_scheduled(sched, sizeof(sched), b->prefix) < 0 ||
        keys_queue(qprefix, sizeof(qprefix), b->prefix, "") < 0)
        return;
    snprintf(now, sizeof(now), "%lld", now_ms);
    snprintf(cnt, sizeof(cnt), "%u", max);
    const char *argv[] = {"EVAL", scripts_move, "1", sched, now, cnt, qprefix};
    broker_send(&b->wr, broker_move_cb, NULL, 7, argv, NULL);
}

static void
broker_move_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker *b = ((struct broker_conn *)ac->data)->b;
    redisReply *reply = r;
    (void)privdata;
    if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_warnx("moving due scheduled tasks failed: %s", reply->str);
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
        reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER)
        return;
    /* {moved, reasons for the due tasks left in place...} */
    for (size_t i = 1; i < reply->elements; i++)
        if (reply->element[i]->type == REDIS_REPLY_STRING)
            log_warnx("a due scheduled task stays in the scheduled set: %s; "
                      "make that key a stream (or delete it) so it can be "
                      "delivered",
                      reply->element[i]->str);
    if (b->cbs.moved)
        b->cbs.moved(b->arg, reply->element[0]->integer);
}

/* ---- the cluster-wide per-host semaphore ---- */

/* What a semaphore call's reply goes to (owned by the call). */
struct broker_semreq {
    broker_hostsem_fn *fn;
    void *arg;
    uint64_t token;
};

static void
broker_hostsem_cb(redisAsyncContext *ac, void *r, void *privdata)
{
    struct broker_semreq *rq = privdata;
    redisReply *reply = r;
    (void)ac;
    if (rq->fn != NULL) {
        if (reply == NULL)
            rq->fn(rq->arg, rq->token, -1, NULL);
        else if (reply->type == REDIS_REPLY_INTEGER)
            rq->fn(rq->arg, rq->token, reply->integer, NULL);
        else
            rq->fn(rq->arg, rq->token, -1,
                   reply->type == REDIS_REPLY_ERROR ? reply->str
                                                    : "unexpected reply");
    }
    free(rq);
}

int
broker_hostsem(struct broker *b, const char *op, const char *host,
               const char *lease, long lease_ms, unsigned limit,
               broker_hostsem_fn *fn, void *arg, uint64_t token)
{
    char key[KEYS_MAX], ms[24], n[24];
    if (!b->wr.ready || keys_hostsem(key, sizeof(key), b->prefix, host) < 0)
        return -1;
    snprintf(ms, sizeof(ms), "%ld", lease_ms);
    snprintf(n, sizeof(n), "%u", limit);
    struct broker_semreq *rq = xmalloc(sizeof(*rq));
    rq->fn = fn;
    rq->arg = arg;
    rq->token = token;
    const char *argv[] = {"EVAL", scripts_hostsem, "1", key, op, lease, ms, n};
    if (broker_send(&b->wr, broker_hostsem_cb, rq, 8, argv, NULL) < 0) {
        free(rq);
        return -1;
    }
    return 0;
}

int
broker_call(struct broker *b, int argc, const char **argv,
            const size_t *lens, redisCallbackFn *fn, void *priv)
{
    if (!b->wr.ready)
        return -1;
    return broker_send(&b->wr, fn, priv, argc, argv, lens);
}

/* ---- watchdog ---- */

static long long
broker_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Drops a connection that stopped answering; hiredis calls the pending
 * callbacks with no reply, and the reconnect timer takes over. */
static void
broker_drop(struct broker_conn *c, const char *why)
{
    redisAsyncContext *ac = c->ac;
    log_warnx("Redis at %s %s (%s connection); reconnecting", c->b->where,
              why, c->role);
    c->ac = NULL;
    c->ready = 0;
    if (c == &c->b->rd)
        c->b->reading = 0;
    else
        c->b->claiming = 0;
    c->failures++;
    c->dropping = 1;
    /* Reset, not close: nothing still unsent may reach Redis later. */
    struct linger lg = {1, 0};
    setsockopt(ac->c.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
    redisAsyncFree(ac);
    c->dropping = 0;
    broker_schedule(c);
}

/*
 * Checks one connection: its oldest unanswered command has had its budget
 * (--redis-timeout; a blocking read its BLOCK time on top) since it was
 * sent, since the answer before it arrived, or since bytes of a reply last
 * arrived, whichever is latest, or a connect takes longer than
 * --redis-timeout: drop it.  Commands, not hiredis's internals, are
 * counted, so an idle connection is never mistaken for a stalled one; and
 * a large reply still arriving (tens of MiB on a loaded machine) is not
 * mistaken for silence: the count of bytes hiredis holds unparsed changes
 * from tick to tick while it arrives.
 */
static void
broker_watch(struct broker_conn *c, long long now)
{
    if (c->ac == NULL)
        return;
    if (!(c->ac->c.flags & REDIS_CONNECTED)) {
        if (now - c->started_ms > c->b->timeout_ms)
            broker_drop(c, "did not accept the connection in time");
        return;
    }
    size_t buffered = c->ac->c.reader != NULL ? c->ac->c.reader->len : 0;
    if (buffered != c->seen_buffered) {
        c->seen_buffered = buffered;
        c->last_bytes_ms = now;
    }
    if (c->reqs_len == 0)
        return;
    const struct broker_req *rq = &c->reqs[c->reqs_head];
    long long since =
        rq->sent_ms > c->last_reply_ms ? rq->sent_ms : c->last_reply_ms;
    if (c->last_bytes_ms > since)
        since = c->last_bytes_ms;
    if (now - since > rq->budget_ms)
        broker_drop(c, "stopped answering");
}

static void
broker_watch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct broker *b = arg;
    long long now = broker_now_ms();
    (void)fd;
    (void)what;
    if (b->stopping)
        return;
    broker_watch(&b->wr, now);
    broker_watch(&b->rd, now);
}

/* ---- stopping ---- */

void
broker_stop(struct broker *b)
{
    b->stopping = 1;
    evtimer_del(b->rd.retry_ev);
    evtimer_del(b->wr.retry_ev);
    evtimer_del(b->cool_ev);
    if (b->url->sentinel != NULL) {
        sentinel_query_cancel(&b->rd.sq);
        sentinel_query_cancel(&b->wr.sq);
    }
    if (b->watch_ev)
        evtimer_del(b->watch_ev);
    if (b->rd.ac != NULL)
        redisAsyncDisconnect(b->rd.ac);
    if (b->wr.ac != NULL)
        redisAsyncDisconnect(b->wr.ac);
}

int
broker_open(const struct broker *b)
{
    return b->rd.ac != NULL || b->wr.ac != NULL;
}

void
broker_free(struct broker *b)
{
    if (b->rd.ac != NULL)
        redisAsyncFree(b->rd.ac);
    if (b->wr.ac != NULL)
        redisAsyncFree(b->wr.ac);
    if (b->url != NULL && b->url->sentinel != NULL) {
        sentinel_query_free(&b->rd.sq);
        sentinel_query_free(&b->wr.sq);
    }
    free(b->rd.master_host);
    free(b->wr.master_host);
    free(b->await);
    free(b->covered);
    if (b->rd.retry_ev)
        event_free(b->rd.retry_ev);
    if (b->wr.retry_ev)
        event_free(b->wr.retry_ev);
    if (b->cool_ev)
        event_free(b->cool_ev);
    if (b->watch_ev)
        event_free(b->watch_ev);
    for (int i = 0; i < b->nstreams; i++)
        free(b->streams[i]);
    free(b->streams);
    free(b->rd.reqs);
    free(b->wr.reqs);
    free(b->rescan_from);
    free(b->rescan_done);
    free(b->rescan_page);
    free(b->paused);
    free(b->pend);
    free(b->where);
    memset(b, 0, sizeof(*b));
}
