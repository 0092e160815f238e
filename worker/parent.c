/* SPDX-License-Identifier: MIT */
/* The worker parent's event loop and task flow; see parent.h and slot.h. */
#include "parent.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <event2/event.h>

#include "broker.h"
#include "error.h"
#include "exec.h"
#include "log.h"
#include "pool.h"
#include "result.h"
#include "slot.h"
#include "version.h"
#include "xmalloc.h"

/* Results finished in one script call at most. */
#define PARENT_FINISH_BATCH 256

enum parent_mode {
    PARENT_RUNNING = 0,
    PARENT_WARM,    /* stop reading, finish what is in flight */
    PARENT_CLOSING, /* everything finished: children and Redis closing */
};

/* Counters for the log and, later, the worker's heartbeat record. */
struct parent_stats {
    unsigned long received;
    unsigned long succeeded;
    unsigned long failed;
    unsigned long lost;       /* running in a child that died */
    unsigned long duplicates; /* finished elsewhere first */
};

struct parent {
    const struct config *cfg;
    struct event_base *base;
    struct slot_table slots;
    struct slot_list ready; /* READY: waiting for a child */
    struct slot_list *done; /* DONE, one list per queue */
    struct pool pool;
    struct broker broker;
    struct event *pump_ev;  /* deferred: runs parent_pump once */
    struct event *hold_ev;  /* pause finishing after a Redis error */
    struct event *sigterm_ev, *sigint_ev;
    int hold;
    int unblock_sent;
    enum parent_mode mode;
    int exit_code;
    struct parent_stats stats;
};

static void parent_kick(struct parent *p);
static void parent_pump_cb(evutil_socket_t fd, short what, void *arg);
static void parent_pump(struct parent *p);
static void parent_signal_cb(evutil_socket_t sig, short what, void *arg);
static void parent_hold_cb(evutil_socket_t fd, short what, void *arg);
static void parent_done(struct parent *p, struct slot *s, const char *id,
                        size_t id_len, const char *reply_to, size_t rt_len,
                        const char *doc, size_t doc_len, int success);
static void parent_fail(struct parent *p, struct slot *s, const char *msg,
                        size_t len, const char *type, const char *why);

/* Broker callbacks. */
static void parent_on_ready(void *arg);
static void parent_on_entry(void *arg, int queue, const char *entry_id,
                            const char *msg, size_t len);
static void parent_on_read_done(void *arg);
static void parent_on_finished(void *arg, struct slot *s, int applied);
static void parent_on_unfinished(void *arg, struct slot *s);
/* Pool callbacks. */
static void parent_on_result(void *arg, struct slot *s,
                             const struct ipc_result *r);
static void parent_on_lost(void *arg, struct slot *s, int child, pid_t pid,
                           int wstatus);
static void parent_on_requeue(void *arg, struct slot *s);
static void parent_on_idle(void *arg);
static void parent_on_stopped(void *arg);

/* ---- flow ---- */

/* Asks for one parent_pump() after the current callbacks. */
static void
parent_kick(struct parent *p)
{
    event_active(p->pump_ev, EV_TIMEOUT, 0);
}

static void
parent_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    parent_pump(arg);
}

/* Moves everything that can move: tasks to children, results to Redis,
 * and a new read when there is room. */
static void
parent_pump(struct parent *p)
{
    const struct config *cfg = p->cfg;
    struct slot *s;
    struct pool_child *c;

    while ((s = TAILQ_FIRST(&p->ready)) != NULL &&
           (c = pool_pick(&p->pool)) != NULL) {
        TAILQ_REMOVE(&p->ready, s, entry);
        s->started_us = 0;
        pool_send(&p->pool, c, s);
    }
    for (int q = 0; q < cfg->nqueues && !p->hold; q++) {
        while (!TAILQ_EMPTY(&p->done[q]) && broker_can_write(&p->broker))
            if (broker_finish(&p->broker, q, &p->done[q],
                              PARENT_FINISH_BATCH) < 0)
                break;
    }
    if (p->mode == PARENT_RUNNING) {
        long room = (long)cfg->prefetch - (long)p->slots.used;
        if (room > 0 && broker_can_read(&p->broker)) {
            long count = room / cfg->nqueues;
            broker_read(&p->broker, (unsigned)(count > 0 ? count : 1),
                        cfg->block_ms);
        }
        return;
    }
    if (p->mode == PARENT_WARM) {
        if (p->broker.reading) {
            if (!p->unblock_sent && broker_can_write(&p->broker)) {
                broker_unblock(&p->broker);
                p->unblock_sent = 1;
            }
            return;
        }
        if (p->slots.used > 0)
            return;
        log_info("all tasks in hand are finished; stopping the children");
        p->mode = PARENT_CLOSING;
        pool_stop(&p->pool);
    }
}

/* ---- signals ---- */

static void
parent_signal_cb(evutil_socket_t sig, short what, void *arg)
{
    struct parent *p = arg;
    (void)what;
    if (p->mode == PARENT_RUNNING) {
        log_info("got %s: warm shutdown — no new tasks, finishing %u in "
                 "hand (send it again to stop at once)",
                 sig == SIGINT ? "SIGINT" : "SIGTERM", p->slots.used);
        p->mode = PARENT_WARM;
        parent_kick(p);
        return;
    }
    log_warnx("got %s again: cold shutdown — %u unfinished task(s) stay "
              "pending in Redis for another worker",
              sig == SIGINT ? "SIGINT" : "SIGTERM", p->slots.used);
    pool_kill(&p->pool);
    p->exit_code = 1;
    event_base_loopbreak(p->base);
}

/* ---- broker callbacks ---- */

static void
parent_on_ready(void *arg)
{
    parent_kick(arg);
}

static void
parent_on_entry(void *arg, int queue, const char *entry_id, const char *msg,
                size_t len)
{
    struct parent *p = arg;
    struct slot *s = slot_alloc(&p->slots);
    if (s == NULL) {
        /* Cannot happen: reads ask for no more than the free slots.  The
         * entry stays pending in Redis and will be claimed. */
        log_error("no free slot for entry %s; it stays pending", entry_id);
        return;
    }
    p->stats.received++;
    s->queue = queue;
    snprintf(s->entry_id, sizeof(s->entry_id), "%s", entry_id);
    if (msg == NULL) {
        parent_fail(p, s, NULL, 0, ERROR_INVALID_MESSAGE,
                    "the stream entry has no 'msg' field; put the task "
                    "message JSON in a field named msg");
        return;
    }
    if (len > PROTOCOL_MAX_MESSAGE) {
        char why[128];
        snprintf(why, sizeof(why),
                 "message is %zu bytes; the limit is %u", len,
                 PROTOCOL_MAX_MESSAGE);
        parent_fail(p, s, NULL, 0, ERROR_PAYLOAD_TOO_LARGE, why);
        return;
    }
    slot_set_msg(s, msg, len);
    TAILQ_INSERT_TAIL(&p->ready, s, entry);
    log_debug("received %s (%zu bytes)", entry_id, len);
}

static void
parent_on_read_done(void *arg)
{
    parent_kick(arg);
}

static void
parent_on_finished(void *arg, struct slot *s, int applied)
{
    struct parent *p = arg;
    if (!applied) {
        p->stats.duplicates++;
        log_warnx("task %s was finished by another worker first; this "
                  "result was not stored",
                  s->entry_id);
    }
    slot_release(&p->slots, s);
    parent_kick(p);
}

static void
parent_on_unfinished(void *arg, struct slot *s)
{
    struct parent *p = arg;
    TAILQ_INSERT_TAIL(&p->done[s->queue], s, entry);
    if (p->broker.wr.ready && !p->hold) {
        /* Redis answered with an error: wait a moment before retrying. */
        struct timeval tv = {1, 0};
        p->hold = 1;
        evtimer_add(p->hold_ev, &tv);
    }
}

static void
parent_hold_cb(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)fd;
    (void)what;
    p->hold = 0;
    parent_kick(p);
}

/* ---- pool callbacks ---- */

/* Stores a result in s and queues it for finishing. */
static void
parent_done(struct parent *p, struct slot *s, const char *id, size_t id_len,
            const char *reply_to, size_t rt_len, const char *doc,
            size_t doc_len, int success)
{
    slot_set_result(s, p->cfg->prefix, id, id_len, rt_len ? reply_to : NULL,
                    rt_len, doc, doc_len, success);
    if (success)
        p->stats.succeeded++;
    else
        p->stats.failed++;
    s->state = SLOT_DONE;
    TAILQ_INSERT_TAIL(&p->done[s->queue], s, entry);
}

/* Answers for a task the parent cannot run, with a FAILURE result. */
static void
parent_fail(struct parent *p, struct slot *s, const char *msg, size_t len,
            const char *type, const char *why)
{
    struct exec_out out;
    exec_failure(s->entry_id, msg, len, s->attempts, p->cfg->name, type, why,
                 s->started_us ? s->started_us : result_now_us(), &out);
    log_warnx("task %s failed: %s: %s", out.id, type, why);
    parent_done(p, s, out.id, strlen(out.id), out.reply_to,
                out.reply_to ? strlen(out.reply_to) : 0, out.doc, out.doc_len,
                0);
    exec_out_clear(&out);
}

static void
parent_on_result(void *arg, struct slot *s, const struct ipc_result *r)
{
    struct parent *p = arg;
    if (r->status != IPC_STATUS_SUCCESS && log_get_level() >= LOG_LEVEL_INFO)
        log_info("task %.*s failed: %.*s", (int)r->id_len, r->id,
                 (int)(r->doc_len > 300 ? 300 : r->doc_len), r->doc);
    parent_done(p, s, r->id, r->id_len, r->reply_to, r->reply_to_len, r->doc,
                r->doc_len, r->status == IPC_STATUS_SUCCESS);
}

static void
parent_on_lost(void *arg, struct slot *s, int child, pid_t pid, int wstatus)
{
    struct parent *p = arg;
    char why[256];
    if (WIFSIGNALED(wstatus))
        snprintf(why, sizeof(why),
                 "the child process running this task (child %d, pid %ld) "
                 "was killed by signal %d (%s)",
                 child, (long)pid, WTERMSIG(wstatus),
                 strsignal(WTERMSIG(wstatus)));
    else
        snprintf(why, sizeof(why),
                 "the child process running this task (child %d, pid %ld) "
                 "exited with status %d",
                 child, (long)pid, WEXITSTATUS(wstatus));
    p->stats.lost++;
    parent_fail(p, s, s->msg, s->msg_len, ERROR_WORKER_LOST, why);
    parent_kick(p);
}

static void
parent_on_requeue(void *arg, struct slot *s)
{
    struct parent *p = arg;
    s->state = SLOT_READY;
    s->child = -1;
    TAILQ_INSERT_HEAD(&p->ready, s, entry);
}

static void
parent_on_idle(void *arg)
{
    parent_kick(arg);
}

static void
parent_on_stopped(void *arg)
{
    struct parent *p = arg;
    log_debug("all children have exited");
    broker_stop(&p->broker);
    event_base_loopexit(p->base, NULL);
}

/* ---- main ---- */

int
parent_main(const struct config *cfg)
{
    struct parent *p = xcalloc(1, sizeof(*p));
    int rc = 1;

    p->cfg = cfg;
    p->base = event_base_new();
    if (p->base == NULL) {
        log_error("cannot create the event loop");
        free(p);
        return 1;
    }
    /* Room for a read that returns `count` entries from every queue. */
    slot_table_init(&p->slots,
                    (uint32_t)(cfg->prefetch + cfg->nqueues - 1));
    TAILQ_INIT(&p->ready);
    p->done = xcalloc((size_t)cfg->nqueues, sizeof(*p->done));
    for (int q = 0; q < cfg->nqueues; q++)
        TAILQ_INIT(&p->done[q]);
    p->pump_ev = event_new(p->base, -1, 0, parent_pump_cb, p);
    p->hold_ev = evtimer_new(p->base, parent_hold_cb, p);
    p->sigterm_ev = evsignal_new(p->base, SIGTERM, parent_signal_cb, p);
    p->sigint_ev = evsignal_new(p->base, SIGINT, parent_signal_cb, p);
    evsignal_add(p->sigterm_ev, NULL);
    evsignal_add(p->sigint_ev, NULL);

    /* Children first: they are forked before any Redis socket exists. */
    unsigned child_max =
        (unsigned)((cfg->prefetch + cfg->concurrency - 1) / cfg->concurrency);
    const struct pool_cbs pcbs = {
        .result = parent_on_result,
        .lost = parent_on_lost,
        .requeue = parent_on_requeue,
        .idle = parent_on_idle,
        .stopped = parent_on_stopped,
    };
    if (pool_start(&p->pool, p->base, cfg->concurrency, child_max, &p->slots,
                   cfg->name, &pcbs, p) < 0) {
        log_error("no child process could be started");
        goto out;
    }
    const struct broker_cbs bcbs = {
        .ready = parent_on_ready,
        .entry = parent_on_entry,
        .read_done = parent_on_read_done,
        .finished = parent_on_finished,
        .unfinished = parent_on_unfinished,
    };
    if (broker_start(&p->broker, p->base, &cfg->url, cfg->prefix, cfg->queues,
                     cfg->nqueues, cfg->name, cfg->result_ttl, &bcbs,
                     p) < 0)
        goto out;
    char *where = redisurl_describe(&cfg->url);
    log_info("celeriac-worker %s: %d children, prefetch %d, queues %s%s, "
             "Redis %s",
             cfg->name, cfg->concurrency, cfg->prefetch, cfg->queues[0],
             cfg->nqueues > 1 ? " and more" : "", where);
    free(where);

    event_base_dispatch(p->base);
    rc = p->exit_code;
    log_info("stopped: %lu received, %lu succeeded, %lu failed (%lu lost "
             "with a crashed child), %lu duplicates",
             p->stats.received, p->stats.succeeded, p->stats.failed,
             p->stats.lost, p->stats.duplicates);
out:
    p->broker.stopping = 1;
    broker_free(&p->broker);
    pool_kill(&p->pool);
    pool_reap(&p->pool); /* no zombie outlives us */
    pool_free(&p->pool);
    event_free(p->pump_ev);
    event_free(p->hold_ev);
    event_free(p->sigterm_ev);
    event_free(p->sigint_ev);
    event_base_free(p->base);
    slot_table_free(&p->slots);
    free(p->done);
    free(p);
    return rc;
}
