/* SPDX-License-Identifier: MIT */
/* Prometheus metrics on evhttp; see metrics.h. */
#include "metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <hiredis/async.h>

#include "broker.h"
#include "keys.h"
#include "log.h"
#include "registry.h"
#include "scripts.h"
#include "xmalloc.h"

/* Histogram bounds, seconds (the same for every histogram). */
static const double metrics_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                        0.1,   0.25,   0.5,   1,    2.5,   5,
                                        10,    30,     60,    300};
#define METRICS_NBOUNDS (sizeof(metrics_bounds) / sizeof(metrics_bounds[0]))

static const char *const metrics_outcomes[] = {"succeeded", "failed", "retried",
                                               "expired"};

struct metrics_hist {
    unsigned long long b[METRICS_NBOUNDS]; /* not cumulative */
    unsigned long long count;
    double sum;
};

/* One (queue, task) pair's counters. */
struct metrics_series {
    int queue;
    char task[REGISTRY_NAME_MAX + 1];
    unsigned long long n[METRICS_NOUTCOMES];
};

/* A queue's gauges, as Redis last answered. */
struct metrics_queue {
    struct metrics *m;
    int index;
    int asking; /* an answer is due */
    int known;  /* answered at least once */
    int exporter; /* holds <prefix>metrics:<queue>: exports the gauges */
    long long length, pending, lag, oldest_ms;
    int lag_known;
    char last_delivered[48];
};

struct metrics {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    struct broker *b;
    const char *prefix, *worker;
    char *const *queues;
    int nqueues;
    struct metrics_queue *q;       /* owned, nqueues */
    struct metrics_series *series; /* owned */
    size_t nseries, series_cap;
    struct metrics_hist *runtime, *wait; /* owned, per queue */
    struct metrics_hist fetch;
    unsigned long long fetch_n[2]; /* failed, ok */
    unsigned long long refused;    /* connections turned away */
    long long window_s;            /* the second being counted */
    unsigned window_conns;         /* connections accepted in it */
    struct event *reopen_ev, *poll_ev;
    metrics_gauges_fn *gauges;
    void *arg;
};

int
metrics_parse_addr(const char *s, char *host, size_t hostlen, int *port)
{
    char h[128] = "127.0.0.1";
    const char *ps = s;
    const char *colon = strrchr(s, ':');
    if (colon != NULL) {
        size_t n = (size_t)(colon - s);
        const char *hs = s;
        if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
            hs = s + 1;
            n -= 2;
        }
        if (n == 0 || n >= sizeof(h))
            return -1;
        memcpy(h, hs, n);
        h[n] = '\0';
        ps = colon + 1;
    }
    char *end;
    long p = strtol(ps, &end, 10);
    if (end == ps || *end != '\0' || p < 1 || p > 65535)
        return -1;
    if (host != NULL) {
        snprintf(host, hostlen, "%s", h);
        *port = (int)p;
    }
    return 0;
}

static void
metrics_observe(struct metrics_hist *h, double v)
{
    size_t i = 0;
    while (i < METRICS_NBOUNDS && v > metrics_bounds[i])
        i++;
    if (i < METRICS_NBOUNDS)
        h->b[i]++;
    h->count++;
    h->sum += v;
}

void
metrics_task(struct metrics *m, int queue, const char *task,
             enum metrics_outcome outcome, double runtime_s)
{
    if (m == NULL || queue < 0 || queue >= m->nqueues)
        return;
    /* Only registered names: a message cannot make new series. */
    if (task == NULL || task[0] == '\0' || registry_find(task) == NULL)
        task = "unknown";
    struct metrics_series *s = NULL;
    for (size_t i = 0; i < m->nseries; i++)
        if (m->series[i].queue == queue &&
            strcmp(m->series[i].task, task) == 0) {
            s = &m->series[i];
            break;
        }
    if (s == NULL) {
        if (m->nseries == m->series_cap) {
            m->series_cap = m->series_cap ? 2 * m->series_cap : 8;
            m->series = xrealloc(m->series, m->series_cap * sizeof(*m->series));
        }
        s = &m->series[m->nseries++];
        memset(s, 0, sizeof(*s));
        s->queue = queue;
        snprintf(s->task, sizeof(s->task), "%s", task);
    }
    s->n[outcome]++;
    if (runtime_s >= 0)
        metrics_observe(&m->runtime[queue], runtime_s);
}

void
metrics_wait(struct metrics *m, int queue, double wait_s)
{
    if (m != NULL && queue >= 0 && queue < m->nqueues && wait_s >= 0)
        metrics_observe(&m->wait[queue], wait_s);
}

void
metrics_fetch(struct metrics *m, int ok, double seconds)
{
    if (m == NULL)
        return;
    m->fetch_n[ok ? 1 : 0]++;
    if (seconds >= 0)
        metrics_observe(&m->fetch, seconds);
}

/* ---- the queue gauges, from Redis ---- */

static long long
metrics_int(const redisReply *r)
{
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return strtoll(r->str, NULL, 10);
    return -1;
}

static void
metrics_oldest_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_queue *q = priv;
    redisReply *reply = r;
    (void)ac;
    q->asking = 0;
    q->oldest_ms = 0;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY &&
        reply->elements == 1 && reply->element[0]->type == REDIS_REPLY_ARRAY &&
        reply->element[0]->elements == 2) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        long long at = strtoll(reply->element[0]->element[0]->str, NULL, 10);
        q->oldest_ms = now > at ? now - at : 0;
    }
}

static void
metrics_groups_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_queue *q = priv;
    struct metrics *m = q->m;
    redisReply *reply = r;
    (void)ac;
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        q->asking = 0;
        return;
    }
    for (size_t g = 0; g < reply->elements; g++) {
        redisReply *f = reply->element[g];
        const char *name = NULL;
        long long pending = 0, lag = -1;
        const char *last = NULL;
        for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements;
             k += 2) {
            const char *key = f->element[k]->str;
            redisReply *v = f->element[k + 1];
            if (key == NULL)
                continue;
            if (strcmp(key, "name") == 0)
                name = v->str;
            else if (strcmp(key, "pending") == 0)
                pending = metrics_int(v);
            else if (strcmp(key, "lag") == 0)
                lag = metrics_int(v);
            else if (strcmp(key, "last-delivered-id") == 0)
                last = v->str;
        }
        if (name == NULL || strcmp(name, KEYS_GROUP) != 0)
            continue;
        q->pending = pending;
        q->lag = lag;
        q->lag_known = lag >= 0;
        snprintf(q->last_delivered, sizeof(q->last_delivered), "%s",
                 last ? last : "0-0");
        q->known = 1;
        /* The oldest entry not yet handed to a worker. */
        char key[KEYS_MAX], from[56];
        keys_queue(key, sizeof(key), m->prefix, m->queues[q->index]);
        snprintf(from, sizeof(from), "(%s", q->last_delivered);
        const char *argv[] = {"XRANGE", key, from, "+", "COUNT", "1"};
        if (broker_call(m->b, 6, argv, NULL, metrics_oldest_cb, q) == 0)
            return;
        break;
    }
    q->asking = 0;
}

static void
metrics_len_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_queue *q = priv;
    (void)ac;
    long long n = metrics_int(r);
    if (n >= 0)
        q->length = n;
}

/* The answer of scripts_metrics_lease: 1 while this worker exports the
 * queue's gauges; anything else (0, an error, a lost connection): not. */
static void
metrics_lease_cb(redisAsyncContext *ac, void *r, void *priv)
{
    struct metrics_queue *q = priv;
    const redisReply *rep = r;
    (void)ac;
    q->exporter = rep != NULL && rep->type == REDIS_REPLY_INTEGER &&
                  rep->integer == 1;
}

static void
metrics_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct metrics *m = arg;
    (void)fd;
    (void)what;
    for (int i = 0; i < m->nqueues; i++) {
        struct metrics_queue *q = &m->q[i];
        char key[KEYS_MAX], lkey[KEYS_MAX];
        if (q->asking || !broker_can_write(m->b) ||
            keys_queue(key, sizeof(key), m->prefix, m->queues[i]) < 0)
            continue;
        /* One worker exports a queue's gauges (a lease of 3 polls). */
        if (keys_metrics_queue(lkey, sizeof(lkey), m->prefix,
                               m->queues[i]) == 0) {
            char ms[24];
            snprintf(ms, sizeof(ms), "%d", 3 * METRICS_QUEUE_POLL_MS);
            const char *lease[] = {"EVAL", scripts_metrics_lease, "1", lkey,
                                   m->worker, ms};
            if (broker_call(m->b, 6, lease, NULL, metrics_lease_cb, q) < 0)
                q->exporter = 0;
        }
        const char *len[] = {"XLEN", key};
        const char *groups[] = {"XINFO", "GROUPS", key};
        if (broker_call(m->b, 2, len, NULL, metrics_len_cb, q) < 0)
            continue;
        if (broker_call(m->b, 3, groups, NULL, metrics_groups_cb, q) == 0)
            q->asking = 1;
    }
}

/* ---- the HTTP side ---- */

/* Writes s as a label value (backslash, quote and newline escaped). */
static void
metrics_label(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            evbuffer_add_printf(out, "\\%c", *s);
        else if (*s == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, s, 1);
    }
}

static void
metrics_head(struct evbuffer *out, const char *name, const char *type,
             const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        type);
}

static void
metrics_hist_out(struct evbuffer *out, const char *name, const char *qlabel,
                 const struct metrics_hist *h)
{
    unsigned long long cum = 0;
    for (size_t i = 0; i < METRICS_NBOUNDS; i++) {
        cum += h->b[i];
        evbuffer_add_printf(out, "%s_bucket{", name);
        if (qlabel != NULL) {
            evbuffer_add_printf(out, "queue=\"");
            metrics_label(out, qlabel);
            evbuffer_add_printf(out, "\",");
        }
        evbuffer_add_printf(out, "le=\"%g\"} %llu\n", metrics_bounds[i], cum);
    }
    evbuffer_add_printf(out, "%s_bucket{", name);
    if (qlabel != NULL) {
        evbuffer_add_printf(out, "queue=\"");
        metrics_label(out, qlabel);
        evbuffer_add_printf(out, "\",");
    }
    evbuffer_add_printf(out, "le=\"+Inf\"} %llu\n", h->count);
    const char *parts[] = {"_sum", "_count"};
    for (int k = 0; k < 2; k++) {
        evbuffer_add_printf(out, "%s%s", name, parts[k]);
        if (qlabel != NULL) {
            evbuffer_add_printf(out, "{queue=\"");
            metrics_label(out, qlabel);
            evbuffer_add_printf(out, "\"}");
        }
        if (k == 0)
            evbuffer_add_printf(out, " %.6f\n", h->sum);
        else
            evbuffer_add_printf(out, " %llu\n", h->count);
    }
}

/* A gauge or counter of one queue, labelled with queue and worker. */
static void
metrics_qvalue(struct evbuffer *out, const struct metrics *m, const char *name,
               int q, double v)
{
    evbuffer_add_printf(out, "%s{queue=\"", name);
    metrics_label(out, m->queues[q]);
    evbuffer_add_printf(out, "\",worker=\"");
    metrics_label(out, m->worker);
    evbuffer_add_printf(out, "\"} %.17g\n", v);
}

static void
metrics_render(struct metrics *m, struct evbuffer *out)
{
    struct metrics_gauges g;
    memset(&g, 0, sizeof(g));
    m->gauges(m->arg, &g);

    metrics_head(out, "celeriac_worker_info", "gauge",
                 "This worker (always 1), by name.");
    evbuffer_add_printf(out, "celeriac_worker_info{worker=\"");
    metrics_label(out, m->worker);
    evbuffer_add_printf(out, "\"} 1\n");

    metrics_head(out, "celeriac_tasks_total", "counter",
                 "Task attempts that ended here, by queue, task and "
                 "outcome.");
    for (size_t i = 0; i < m->nseries; i++)
        for (int o = 0; o < METRICS_NOUTCOMES; o++) {
            evbuffer_add_printf(out, "celeriac_tasks_total{queue=\"");
            metrics_label(out, m->queues[m->series[i].queue]);
            evbuffer_add_printf(out, "\",task=\"");
            metrics_label(out, m->series[i].task);
            evbuffer_add_printf(out, "\",outcome=\"%s\"} %llu\n",
                                metrics_outcomes[o], m->series[i].n[o]);
        }

    metrics_head(out, "celeriac_task_runtime_seconds", "histogram",
                 "Time a task ran in a child process, by queue.");
    for (int q = 0; q < m->nqueues; q++)
        metrics_hist_out(out, "celeriac_task_runtime_seconds", m->queues[q],
                         &m->runtime[q]);
    metrics_head(out, "celeriac_task_queue_wait_seconds", "histogram",
                 "Time a task waited in its queue before this worker "
                 "received it, by queue.");
    for (int q = 0; q < m->nqueues; q++)
        metrics_hist_out(out, "celeriac_task_queue_wait_seconds", m->queues[q],
                         &m->wait[q]);

    struct {
        const char *name, *type, *help;
        double v;
    } plain[] = {
        {"celeriac_tasks_held", "gauge",
         "Tasks in hand: read, running or waiting to be stored.",
         (double)g.held},
        {"celeriac_prefetch_window", "gauge",
         "Tasks this worker may hold now: its adaptive window (at most --prefetch).", (double)g.window},
        {"celeriac_children_alive", "gauge", "Child processes running.",
         (double)g.children},
        {"celeriac_children_target", "gauge",
         "Child processes wanted (--concurrency, control grow/shrink).",
         (double)g.children_target},
        {"celeriac_child_restarts_total", "counter",
         "Child processes that died unasked and were replaced.",
         (double)g.child_restarts},
        {"celeriac_redis_reconnects_total", "counter",
         "Redis connections set up again after a loss.",
         (double)g.redis_reconnects},
        {"celeriac_takeovers_total", "counter",
         "Tasks taken over from dead or stalled workers.", (double)g.takeovers},
        {"celeriac_dead_letters_total", "counter",
         "Tasks this worker moved to the dead-letter stream.",
         (double)g.dead_letters},
        {"celeriac_metrics_accept_pauses_total", "counter",
         "Times this endpoint stopped accepting connections for the rest "
         "of a second (too many new ones).",
         (double)m->refused},
    };
    for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
        metrics_head(out, plain[i].name, plain[i].type, plain[i].help);
        evbuffer_add_printf(out, "%s %.17g\n", plain[i].name, plain[i].v);
    }

    metrics_head(out, "celeriac_fetches_total", "counter",
                 "URL fetches of url tasks that ended, by outcome.");
    evbuffer_add_printf(out, "celeriac_fetches_total{outcome=\"ok\"} %llu\n",
                        m->fetch_n[1]);
    evbuffer_add_printf(out,
                        "celeriac_fetches_total{outcome=\"failed\"} %llu\n",
                        m->fetch_n[0]);
    metrics_head(out, "celeriac_fetch_duration_seconds", "histogram",
                 "Time a URL fetch took, redirects included.");
    metrics_hist_out(out, "celeriac_fetch_duration_seconds", NULL, &m->fetch);

    static const struct {
        const char *name, *help;
    } qg[] = {
        {"celeriac_queue_length",
         "Entries in the queue stream (XLEN), as seen by this worker."},
        {"celeriac_queue_pending",
         "Entries handed to a worker and not yet acknowledged."},
        {"celeriac_queue_lag",
         "Entries not yet handed to any worker (consumer group lag)."},
        {"celeriac_queue_oldest_age_seconds",
         "Age of the oldest entry not yet handed to any worker."},
    };
    for (int k = 0; k < 4; k++) {
        metrics_head(out, qg[k].name, "gauge", qg[k].help);
        for (int q = 0; q < m->nqueues; q++) {
            const struct metrics_queue *mq = &m->q[q];
            if (!mq->known || !mq->exporter || (k == 2 && !mq->lag_known))
                continue;
            double v = k == 0   ? (double)mq->length
                       : k == 1 ? (double)mq->pending
                       : k == 2 ? (double)mq->lag
                                : (double)mq->oldest_ms / 1000.0;
            metrics_qvalue(out, m, qg[k].name, q, v);
        }
    }
}

static void
metrics_request_cb(struct evhttp_request *req, void *arg)
{
    struct metrics *m = arg;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          "GET, HEAD");
        evhttp_send_error(req, 405, "only GET and HEAD");
        return;
    }
    if (path == NULL || strcmp(path, "/metrics") != 0) {
        evhttp_send_error(req, 404, "see /metrics");
        return;
    }
    struct evbuffer *out = evbuffer_new();
    if (out == NULL) {
        evhttp_send_error(req, 503, "out of memory");
        return;
    }
    metrics_render(m, out);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

static void
metrics_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
    struct metrics *m = arg;
    (void)fd;
    (void)what;
    evconnlistener_enable(evhttp_bound_socket_get_listener(m->sock));
}

/* Every new connection: counted per second; past the bound, the listener
 * rests until the next second (the kernel's backlog holds the rest). */
static struct bufferevent *
metrics_bev_cb(struct event_base *base, void *arg)
{
    struct metrics *m = arg;
    long long now = (long long)time(NULL);
    if (now != m->window_s) {
        m->window_s = now;
        m->window_conns = 0;
    }
    if (++m->window_conns >= METRICS_ACCEPT_PER_S) {
        m->refused++;
        evconnlistener_disable(evhttp_bound_socket_get_listener(m->sock));
        struct timeval tv = {1, 0};
        evtimer_add(m->reopen_ev, &tv);
    }
    return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

struct metrics *
metrics_start(struct event_base *base, const char *addr, struct broker *b,
              const char *prefix, const char *worker, char *const *queues,
              int nqueues, metrics_gauges_fn *gauges, void *arg)
{
    char host[128];
    int port;
    if (metrics_parse_addr(addr, host, sizeof(host), &port) < 0) {
        log_error("--metrics %s: give ADDR:PORT or PORT", addr);
        return NULL;
    }
    struct metrics *m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->b = b;
    m->prefix = prefix;
    m->worker = worker;
    m->queues = queues;
    m->nqueues = nqueues;
    m->gauges = gauges;
    m->arg = arg;
    m->q = xcalloc((size_t)nqueues, sizeof(*m->q));
    m->runtime = xcalloc((size_t)nqueues, sizeof(*m->runtime));
    m->wait = xcalloc((size_t)nqueues, sizeof(*m->wait));
    for (int i = 0; i < nqueues; i++) {
        m->q[i].m = m;
        m->q[i].index = i;
    }
    m->http = evhttp_new(base);
    m->reopen_ev = evtimer_new(base, metrics_reopen_cb, m);
    m->poll_ev = event_new(base, -1, EV_PERSIST, metrics_poll_cb, m);
    if (m->http == NULL || m->reopen_ev == NULL || m->poll_ev == NULL) {
        log_error("--metrics: cannot set up the HTTP server");
        metrics_free(m);
        return NULL;
    }
    evhttp_set_max_headers_size(m->http, METRICS_MAX_HEADERS);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_timeout(m->http, METRICS_TIMEOUT_S);
    evhttp_set_bevcb(m->http, metrics_bev_cb, m);
    evhttp_set_gencb(m->http, metrics_request_cb, m);
    m->sock = evhttp_bind_socket_with_handle(m->http, host, (ev_uint16_t)port);
    if (m->sock == NULL) {
        log_error("--metrics %s: cannot listen on %s port %d (in use, or "
                  "not an address of this host?)",
                  addr, host, port);
        metrics_free(m);
        return NULL;
    }
    struct timeval tv = {METRICS_QUEUE_POLL_MS / 1000,
                         (METRICS_QUEUE_POLL_MS % 1000) * 1000};
    evtimer_add(m->poll_ev, &tv);
    event_active(m->poll_ev, EV_TIMEOUT, 0);
    log_info("metrics at http://%s%s%s:%d/metrics",
             strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "",
             port);
    return m;
}

void
metrics_free(struct metrics *m)
{
    if (m == NULL)
        return;
    if (m->http != NULL)
        evhttp_free(m->http);
    if (m->reopen_ev != NULL)
        event_free(m->reopen_ev);
    if (m->poll_ev != NULL)
        event_free(m->poll_ev);
    free(m->q);
    free(m->series);
    free(m->runtime);
    free(m->wait);
    free(m);
}
