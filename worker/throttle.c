/* SPDX-License-Identifier: MIT */
/* Cluster-wide rate and concurrency limits; see throttle.h. */
#include "throttle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "log.h"
#include "message.h"
#include "scripts.h"
#include "version.h"
#include "xmalloc.h"

struct limit {
    struct throttle *L;
    int index;
    struct limit_conf c; /* name borrowed from the configuration */
    char key[KEYS_MAX];
    char n[24], per[24], size[32]; /* the script's arguments */
    struct slot_list waiting;      /* LIMIT_WAIT, oldest first */
    int asking;                    /* a request is in flight */
    struct event *timer;           /* asks again */
};

/* One request in flight. */
struct throttle_req {
    struct limit *lim;
    uint32_t index, gen;
};

static void throttle_ask(struct limit *lim);
static void throttle_pass(struct throttle *L, struct slot *s);

static void
throttle_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    throttle_ask(arg);
}

/* The script's arguments for N per per_ms. */
static void
throttle_figures(struct limit *lim, long n, long per_ms)
{
    lim->c.n = n;
    lim->c.per_ms = per_ms;
    snprintf(lim->n, sizeof(lim->n), "%ld", n);
    snprintf(lim->per, sizeof(lim->per), "%ld", per_ms);
    if (lim->c.rate) {
        /* A tenth of a second's tokens, at least one. */
        double size = (double)n * 100.0 / (double)per_ms;
        snprintf(lim->size, sizeof(lim->size), "%.3f", size < 1 ? 1.0 : size);
    }
}

/* Sets up v[i] for conf (copied; its name owned by the caller). */
static int
throttle_setup(struct throttle *L, int i, const struct limit_conf *conf)
{
    struct limit *lim = &L->v[i];
    lim->L = L;
    lim->index = i;
    lim->c = *conf;
    TAILQ_INIT(&lim->waiting);
    if (keys_limit(lim->key, sizeof(lim->key), L->prefix,
                   conf->rate ? KEYS_KIND_RATELIMIT : KEYS_KIND_CONCLIMIT,
                   conf->queue_scope ? "queue" : "task", conf->name) < 0)
        return -1;
    lim->timer = evtimer_new(L->base, throttle_timer_cb, lim);
    throttle_figures(lim, conf->n, conf->per_ms);
    return 0;
}

int
throttle_init(struct throttle *L, const struct limit_conf *conf, int n,
              struct event_base *base, struct broker *broker,
              struct slot_table *slots, const char *prefix,
              const char *worker, char *const *queues, long lease_ms,
              const struct throttle_cbs *cbs, void *arg)
{
    memset(L, 0, sizeof(*L));
    L->base = base;
    L->broker = broker;
    L->slots = slots;
    L->prefix = prefix;
    L->worker = worker;
    L->queues = queues;
    L->lease_ms = lease_ms;
    L->cbs = *cbs;
    L->arg = arg;
    L->v = xcalloc(THROTTLE_MAX, sizeof(*L->v));
    for (int i = 0; i < n && i < THROTTLE_MAX; i++) {
        if (throttle_setup(L, i, &conf[i]) < 0) {
            log_error("the key of the limit on %s is too long; use a "
                      "shorter --prefix or name",
                      conf[i].name);
            return -1;
        }
        L->n = L->nconf = i + 1;
    }
    return 0;
}

void
throttle_free(struct throttle *L)
{
    for (int i = 0; i < L->n; i++) {
        if (L->v[i].timer != NULL)
            event_free(L->v[i].timer);
        if (i >= L->nconf)
            free(L->v[i].c.name);
    }
    free(L->v);
    L->v = NULL;
    L->n = 0;
}

/* The limit of s's kind (rate or not) that applies: its task's, else its
 * queue's; -1 for none. */
static int
throttle_find(const struct throttle *L, int rate, const char *task,
            const char *queue)
{
    int found = -1;
    for (int i = 0; i < L->nconf; i++) {
        const struct limit_conf *c = &L->v[i].c;
        if (c->rate != rate)
            continue;
        if (!c->queue_scope && task != NULL && strcmp(c->name, task) == 0)
            return i;
        if (c->queue_scope && found < 0 && strcmp(c->name, queue) == 0)
            found = i;
    }
    return found;
}

static void
throttle_wait_on(struct throttle *L, struct slot *s, int li, int state)
{
    struct limit *lim = &L->v[li];
    if (s->state != SLOT_LIMIT_WAIT)
        slot_move(L->slots, s, SLOT_LIMIT_WAIT);
    s->lim_state = state;
    TAILQ_INSERT_TAIL(&lim->waiting, s, entry);
    throttle_ask(lim);
}

/*
 * The limit a message names for its task (rate or not), added the first
 * time (its figures updated by every message that names it); -1 for none.
 */
static int
throttle_from_message(struct throttle *L, int rate, const char *task,
                      long n, long per_ms)
{
    if (n <= 0 || !keys_valid_name(task))
        return -1;
    for (int i = L->nconf; i < L->n; i++) {
        struct limit *lim = &L->v[i];
        if (lim->c.rate == rate && strcmp(lim->c.name, task) == 0) {
            if (lim->c.n != n || lim->c.per_ms != per_ms)
                throttle_figures(lim, n, per_ms);
            return i;
        }
    }
    if (L->n >= THROTTLE_MAX) {
        if (!L->warned)
            log_warnx("messages name more than %d limits: task %s runs "
                      "without its %s limit",
                      THROTTLE_MAX, task, rate ? "rate" : "concurrency");
        L->warned = 1;
        return -1;
    }
    struct limit_conf c = {.queue_scope = 0, .name = xstrdup(task),
                           .rate = rate, .n = n, .per_ms = per_ms};
    if (throttle_setup(L, L->n, &c) < 0) {
        free(c.name);
        return -1;
    }
    return L->n++;
}

int
throttle_hold(struct throttle *L, struct slot *s)
{
    struct throttle_msg m;
    if (s->lim_state == THROTTLE_SLOT_PASSED)
        return 0;
    if (s->lim_state != THROTTLE_SLOT_NEW)
        return 1; /* cannot happen: it is on a list already */
    if (L->nconf == 0 && !(s->mentions & SLOT_MENTIONS_LIMIT)) {
        s->lim_state = THROTTLE_SLOT_PASSED;
        return 0;
    }
    int have = throttle_scan(s->msg, s->msg_len, &m);
    const char *queue = L->queues[s->queue];
    s->lim_rate = throttle_find(L, 1, have ? m.task : NULL, queue);
    s->lim_conc = throttle_find(L, 0, have ? m.task : NULL, queue);
    if (s->lim_rate < 0 && have)
        s->lim_rate = throttle_from_message(L, 1, m.task, m.rate_n,
                                            m.rate_per_ms);
    if (s->lim_conc < 0 && have)
        s->lim_conc = throttle_from_message(L, 0, m.task, m.conc_n, 0);
    if (s->lim_rate >= 0) {
        throttle_wait_on(L, s, s->lim_rate, THROTTLE_SLOT_RATE);
        return 1;
    }
    if (s->lim_conc >= 0) {
        throttle_wait_on(L, s, s->lim_conc, THROTTLE_SLOT_CONC);
        return 1;
    }
    s->lim_state = THROTTLE_SLOT_PASSED;
    return 0;
}

/* s got its token or its lease: on to the next limit, or admitted. */
static void
throttle_pass(struct throttle *L, struct slot *s)
{
    if (s->lim_state == THROTTLE_SLOT_RATE && s->lim_conc >= 0) {
        throttle_wait_on(L, s, s->lim_conc, THROTTLE_SLOT_CONC);
        return;
    }
    s->lim_state = THROTTLE_SLOT_PASSED;
    L->cbs.admit(L->arg, s);
}

static void
throttle_lease_id(const struct throttle *L, uint32_t index, uint32_t gen,
                char *out, size_t n)
{
    snprintf(out, n, "%s/L%u/%u", L->worker, index, gen);
}

static void
throttle_sem(struct limit *lim, const char *op, const char *lease,
           redisCallbackFn *fn, void *priv)
{
    char ms[24];
    snprintf(ms, sizeof(ms), "%ld", lim->L->lease_ms);
    const char *argv[] = {"EVAL", scripts_hostsem, "1", lim->key,
                          op,     lease,           ms,  lim->n};
    if (broker_call(lim->L->broker, 8, argv, NULL, fn, priv) < 0 &&
        fn != NULL)
        fn(NULL, NULL, priv); /* the write side is down: as if lost */
}

/* Waits ms, then the head asks again. */
static void
throttle_later(struct limit *lim, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(lim->timer, &tv);
}

static void
throttle_reply_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct throttle_req *rq = priv;
    struct limit *lim = rq->lim;
    struct throttle *L = lim->L;
    redisReply *reply = r;
    (void)ac;
    lim->asking = 0;
    struct slot *s = slot_get(L->slots, rq->index);
    int current = s != NULL && s->state == SLOT_LIMIT_WAIT &&
                  s->lim_gen == rq->gen && TAILQ_FIRST(&lim->waiting) == s;
    long long answer = -1;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER)
        answer = reply->integer;
    int granted = lim->c.rate ? answer == 0 : answer == 1;
    if (!current) {
        if (granted && !lim->c.rate) { /* a lease nobody wants now */
            char lease[320];
            throttle_lease_id(L, rq->index, rq->gen, lease, sizeof(lease));
            throttle_sem(lim, SCRIPTS_HOSTSEM_RELEASE, lease, NULL, NULL);
        }
        free(rq);
        throttle_ask(lim);
        return;
    }
    free(rq);
    if (granted) {
        TAILQ_REMOVE(&lim->waiting, s, entry);
        if (!lim->c.rate)
            s->lim_held = 1;
        throttle_pass(L, s);
        throttle_ask(lim);
        return;
    }
    if (answer < 0) {
        if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
            log_warnx("the cluster-wide limit on %s could not be checked: "
                      "%s; trying again in a second",
                      lim->c.name, reply->str);
        throttle_later(lim, 1000);
        return;
    }
    long ms = THROTTLE_POLL_MS;
    if (lim->c.rate)
        ms = answer > 60000 ? 60000 : (long)answer;
    throttle_later(lim, ms);
}

/* The head of lim's list asks Redis, unless a request is in flight or
 * the limit is waiting for its timer. */
static void
throttle_ask(struct limit *lim)
{
    struct throttle *L = lim->L;
    struct slot *s = TAILQ_FIRST(&lim->waiting);
    if (s == NULL || lim->asking || evtimer_pending(lim->timer, NULL))
        return;
    struct throttle_req *rq = xcalloc(1, sizeof(*rq));
    rq->lim = lim;
    rq->index = s->index;
    lim->asking = 1;
    if (lim->c.rate) {
        rq->gen = s->lim_gen;
        const char *argv[] = {"EVAL",  scripts_ratelimit, "1",
                              lim->key, lim->n,          lim->per,
                              lim->size};
        if (broker_call(L->broker, 7, argv, NULL, throttle_reply_cb, rq) < 0)
            throttle_reply_cb(NULL, NULL, rq);
        return;
    }
    char lease[320];
    s->lim_gen = ++L->gen;
    rq->gen = s->lim_gen;
    throttle_lease_id(L, s->index, s->lim_gen, lease, sizeof(lease));
    throttle_sem(lim, SCRIPTS_HOSTSEM_ACQUIRE, lease, throttle_reply_cb, rq);
}

void
throttle_done(struct throttle *L, struct slot *s)
{
    char lease[320];
    if (!s->lim_held || s->lim_conc < 0 || s->lim_conc >= L->n)
        return;
    s->lim_held = 0;
    throttle_lease_id(L, s->index, s->lim_gen, lease, sizeof(lease));
    /* If it cannot be sent, the lease expires by itself. */
    throttle_sem(&L->v[s->lim_conc], SCRIPTS_HOSTSEM_RELEASE, lease, NULL,
               NULL);
}

void
throttle_forget(struct throttle *L, struct slot *s)
{
    int li = s->lim_state == THROTTLE_SLOT_RATE   ? s->lim_rate
             : s->lim_state == THROTTLE_SLOT_CONC ? s->lim_conc
                                                : -1;
    if (s->state == SLOT_LIMIT_WAIT && li >= 0) {
        TAILQ_REMOVE(&L->v[li].waiting, s, entry);
        s->lim_gen = ++L->gen; /* a reply in flight is for nobody now */
    }
    throttle_done(L, s);
    s->lim_state = THROTTLE_SLOT_PASSED;
}

static void
throttle_renewed_cb(redisAsyncContext *ac, void *r, void *priv)
{
    redisReply *reply = r;
    (void)ac;
    (void)priv;
    if (reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
        reply->integer == 0)
        log_warnx("a task lost its lease of a cluster-wide concurrency "
                  "limit (it expired: was this worker paused?); the task "
                  "goes on");
    else if (reply != NULL && reply->type == REDIS_REPLY_ERROR)
        log_warnx("renewing a concurrency lease failed: %s", reply->str);
}

void
throttle_renew(struct throttle *L)
{
    char lease[320];
    for (uint32_t i = 0; i < L->slots->n && L->n > 0; i++) {
        struct slot *s = &L->slots->slots[i];
        if (s->state == SLOT_FREE || !s->lim_held || s->lim_conc < 0)
            continue;
        throttle_lease_id(L, s->index, s->lim_gen, lease, sizeof(lease));
        throttle_sem(&L->v[s->lim_conc], SCRIPTS_HOSTSEM_RENEW, lease,
                   throttle_renewed_cb, NULL);
    }
}
