/* SPDX-License-Identifier: MIT */
/* The worker parent's event loop and task flow; see parent.h and slot.h. */
#include "parent.h"

#include <malloc.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/dns.h>
#include <event2/event.h>

#include "beatproc.h"
#include "broker.h"
#include "control.h"
#include "error.h"
#include "events.h"
#include "exec.h"
#include "failure.h"
#include "fetch.h"
#include "fetchq.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "pathsrc.h"
#include "pool.h"
#include "priority.h"
#include "recent.h"
#include "registry.h"
#include "result.h"
#include "revoked.h"
#include "scripts.h"
#include "slot.h"
#include "source.h"
#include "taskscan.h"
#include "throttle.h"
#include "tlsgate.h"
#include "upload.h"
#include "version.h"
#include "window.h"
#include "xmalloc.h"

/* Results finished in one script call at most. */
#define PARENT_FINISH_BATCH 256
_Static_assert(PARENT_FINISH_BATCH <= SCRIPTS_FINISH_MAX,
               "a finish batch must fit in one script call");
/* A read of large messages asks for about this many bytes: Redis builds a
 * whole XREADGROUP reply before sending it and hiredis hands it over only
 * once all of it has arrived, so a 16 MiB reply costs Redis more CPU per
 * entry and holds its first task back until the last byte is in
 * (docs/PERFORMANCE.md, "A tight W2 ceiling"). */
#define PARENT_READ_BYTES (1024L * 1024)
/* Entry ids refreshed in one script call at most. */
#define PARENT_TOUCH_BATCH 500
/* Scheduled tasks moved in one script call at most. */
#define PARENT_MOVE_BATCH 1000
/* After the loop, the beat process gets this long to hand its lease over
 * and exit (it had its SIGTERM when the warm shutdown began). */
#define PARENT_BEAT_STOP_MS 5000
/* The parent decodes a message itself (for a failure no child could
 * answer) only up to this size: decoding is never a long stall. */
#define PARENT_DECODE_MAX (64 * 1024)

enum parent_mode {
    PARENT_RUNNING = 0,
    PARENT_WARM,    /* stop reading, finish what is in flight */
    PARENT_CLOSING, /* everything finished: children and Redis closing */
};

/* Counters, logged at exit and published in the heartbeat record. */
struct parent_stats {
    unsigned long received;   /* entries read or taken over */
    unsigned long recovered;  /* of which taken over from another worker */
    unsigned long succeeded;
    unsigned long failed;
    unsigned long retried;    /* scheduled for another attempt */
    unsigned long expired;
    unsigned long dead;       /* moved to the dead-letter stream */
    unsigned long redelivered; /* run again after their child died */
    unsigned long duplicates; /* finished elsewhere first */
};

struct parent {
    const struct config *cfg;
    struct event_base *base;
    struct exec_env env;
    struct slot_table slots;
    struct recent finished; /* entries finished last (re-read check) */
    struct slot_list ready; /* READY: waiting for a child */
    struct slot_list *done; /* DONE, one list per queue */
    struct pool pool;
    struct broker broker;
    struct fetchq fetchq;     /* FETCH_WAIT, and the fetches' counts */
    int streams_waiting;      /* a slot in fetching may have want_stream */
    struct slot_list fetching; /* FETCHING before their stream opens */
    struct fetch_config fetch_cfg;
    struct throttle limits; /* cluster-wide limits: LIMIT_WAIT */
    struct priority prio;   /* --priority: which queue is read next */
    struct event *sem_ev; /* looks again when a lease may be free */
    long long sem_at;     /* when it fires (Unix ms), 0 when not armed */
    uint32_t sem_gen;     /* lease generations */
    struct event *pump_ev;  /* deferred: runs parent_pump once */
    struct event *hold_ev;  /* pause finishing after a Redis error */
    struct event *beat_ev, *maint_ev, *touch_ev;
    struct event *sigterm_ev, *sigint_ev;
    int hold;
    int registered; /* our heartbeat is in Redis: reading may start */
    int unblock_sent;
    int claim_queue; /* round robin of take-overs */
    long read_pending;  /* entries the read in flight may still bring */
    long msg_avg;       /* recent message size, bytes (0: none seen) */
    long msg_big;       /* largest recent message, decaying, bytes */
    long claim_pending; /* entries the take-over in flight may bring */
    struct window win;      /* tasks held at most now (window.h) */
    long long *child_last_us; /* per child: its last result, Unix us */
    pid_t *child_timed; /* per child: the process whose results are timed */
    long long read_sent_us; /* when the read in flight was sent, or 0 */
    long read_got;          /* entries it brought so far */
    char *queue_list; /* "a,b" for the heartbeat */
    char worker_name[1024]; /* the name results carry, valid UTF-8 */
    char started_at[32];
    enum parent_mode mode;
    int exit_code;
    struct parent_stats stats;
    struct revoked revoked; /* <prefix>revoked, refreshed per heartbeat */
    int revoked_again; /* a held task could not be checked: sweep again */
    /* Watching the worker (README.md, "Watching a cluster"). */
    struct events events;
    struct control control;
    int control_on;
    struct metrics *metrics;  /* --metrics, or NULL */
    double rate;              /* tasks finished a second, ~1 min average */
    unsigned long rate_done;  /* finished at the last beat */
    long long rate_ms;        /* when that was */
    char gone[8][128];        /* workers announced presumed dead lately */
    long long gone_ms[8];
    struct beatrun_conf beat_conf; /* --beat: what its process runs */
    struct beatproc beatp;         /* --beat: that process */
    char beat_shown[1024];         /* --beat FILE as valid UTF-8, or "" */
};

static void parent_task_event(struct parent *p, const struct slot *s,
                              const char *type, double runtime_s);
static void parent_presumed_dead(struct parent *p, const char *from);
static json_t *parent_on_control(void *arg, const struct control_req *rq,
                                 int *ok);

static void parent_kick(struct parent *p);
static void parent_pump_cb(evutil_socket_t fd, short what, void *arg);
static void parent_pump(struct parent *p);
static void parent_signal_cb(evutil_socket_t sig, short what, void *arg);
static void parent_hold_cb(evutil_socket_t fd, short what, void *arg);
static void parent_beat_cb(evutil_socket_t fd, short what, void *arg);
static void parent_maint_cb(evutil_socket_t fd, short what, void *arg);
static void parent_touch_cb(evutil_socket_t fd, short what, void *arg);
static void parent_store(struct parent *p, struct slot *s,
                         const struct exec_out *o);
static void parent_fail(struct parent *p, struct slot *s, const char *msg,
                        size_t len, const char *type, const char *why,
                        int may_retry);
static void parent_dead(struct parent *p, struct slot *s, const char *type,
                        const char *why);
static void parent_verdict(struct parent *p, struct slot *s,
                           const char *type, const char *why, int may_retry,
                           int dead);
static void parent_set_dead(struct parent *p, struct slot *s,
                            const struct exec_out *o, const char *type,
                            const char *why);
static struct slot *parent_find(struct parent *p, int queue,
                                const char *entry_id);
static long long parent_now_ms(void);
static long parent_room(const struct parent *p);
static long parent_free(const struct parent *p);
static long parent_claim_reserve(const struct config *cfg);
static void parent_on_claim_done(void *arg);

static void parent_on_ready(void *arg);
static void parent_on_entry(void *arg, int queue, const char *entry_id,
                            const char *msg, size_t len, unsigned deliveries,
                            const char *from);
static void parent_on_read_done(void *arg);
static void parent_on_finished(void *arg, struct slot *s, int applied);
static void parent_on_unfinished(void *arg, struct slot *s);
static void parent_on_refused(void *arg, struct slot *s, const char *why);
static void parent_on_beat(void *arg, int ok);
static void parent_on_taken(void *arg, int queue, const char *entry_id);
static void parent_on_moved(void *arg, long long n);
static void parent_on_fatal(void *arg);
static void parent_on_result(void *arg, struct slot *s,
                             const struct ipc_result *r);
static void parent_on_lost(void *arg, struct slot *s, int child, pid_t pid,
                           int wstatus, unsigned timed_out_ms);
static void parent_on_requeue(void *arg, struct slot *s);
static void parent_on_idle(void *arg);
static void parent_on_stopped(void *arg);
static void parent_on_drained(void *arg, struct pool_child *c);
static void parent_on_reaped(void *arg, pid_t pid, int st);
static void parent_route(struct parent *p, struct slot *s, int first);
static void parent_fetch_start(struct parent *p);
static void parent_fetch_stop(struct parent *p, struct slot *s);
static void parent_streams_open(struct parent *p);
static void parent_sem_renew(struct parent *p);
static void parent_upload_begin(struct parent *p, struct slot *s);
static void parent_revoked_refresh(struct parent *p);
static int parent_revoked_slot(struct parent *p, struct slot *s);
static void parent_revoked_sweep(struct parent *p);

static long long
parent_now_ms(void)
{
    return result_now_us() / 1000;
}

/*
 * Slots kept for take-overs: reads never use them, so tasks stranded by a
 * dead or cut-off worker are taken over even while this worker has a
 * backlog of its own.
 */
static long
parent_claim_reserve(const struct config *cfg)
{
    return cfg->prefetch / 4 > 4 ? cfg->prefetch / 4 : 4;
}

/* Free slots not promised to a read or a take-over still in flight. */
static long
parent_free(const struct parent *p)
{
    return (long)p->slots.count[SLOT_FREE] - p->read_pending -
           p->claim_pending;
}

/*
 * How many more tasks may be read.  The window (window.h, at most
 * --prefetch) bounds the tasks not yet computed (READY, RUNNING,
 * FETCH_WAIT and FETCHING), --prefetch-mib their messages' bytes,
 * counted at the size of the largest recent message (the first read asks
 * for one entry, to learn it); while fewer tasks than children are in
 * hand one more may always be read, however large.
 * Finished results waiting for Redis (DONE, FINISHING) have a bound of
 * their own, the rest of the table, so reading and computing go on while
 * earlier results are being stored.  A read may return `count` entries
 * from every queue: room for that is kept too.
 */
static long
parent_room(const struct parent *p)
{
    const struct config *cfg = p->cfg;
    const struct slot_table *t = &p->slots;
    /* Tasks waiting for a fetch or fetching count too: a backlog of URL
     * tasks never makes the worker read more. */
    long computing = (long)t->count[SLOT_READY] + t->count[SLOT_RUNNING] +
                     t->count[SLOT_FETCH_WAIT] + t->count[SLOT_FETCHING];
    long room = (long)cfg->prefetch - computing;
    /* The window sizes the children's work; URL and upload tasks, up to
     * the fetches --max-fetches allows, are the parent's I/O and do not
     * count against it; nor do as many again waiting for a fetch: a round
     * of read-ahead, so that a fetch that ends finds the next task in hand
     * rather than a Redis read away (with the window alone, W6 at C = 100
     * lost 5-8 ms per fetch, 10-15%, to that read). */
    long waiting = (long)t->count[SLOT_FETCH_WAIT];
    long fetching = waiting + t->count[SLOT_FETCHING] -
                    (long)cfg->max_fetches -
                    (waiting < (long)cfg->max_fetches ? waiting
                                                      : (long)cfg->max_fetches);
    long in_window = (long)t->count[SLOT_READY] + t->count[SLOT_RUNNING] +
                     (fetching > 0 ? fetching : 0);
    if ((long)p->win.size - in_window < room)
        room = (long)p->win.size - in_window;
    long bytes = (long)(t->bytes[SLOT_READY] + t->bytes[SLOT_RUNNING] +
                        t->bytes[SLOT_FETCH_WAIT] +
                        t->bytes[SLOT_FETCHING]);
    long size = p->msg_big > p->msg_avg ? p->msg_big : p->msg_avg;
    long fit = size > 0 ? (cfg->prefetch_bytes - bytes) / size : 0;
    /* A child with nothing to do gets a task, however large the ones in
     * hand: counting the bytes must not leave a child idle. */
    if (fit < 1 && computing < p->pool.active)
        fit = 1;
    if (fit < room)
        room = fit;
    /* Tasks held back by a limit have --prefetch slots of their own;
     * past those they count like the others. */
    if (t->count[SLOT_LIMIT_WAIT] > (uint32_t)cfg->prefetch)
        room -= (long)t->count[SLOT_LIMIT_WAIT] - cfg->prefetch;
    long spare = parent_free(p) - (cfg->nqueues - 1) -
                 parent_claim_reserve(cfg);
    return room < spare ? room : spare;
}

/* ---- flow ---- */

/*
 * Sizes the window from the measurements (window.h): a child whose
 * current task has run longer than the horizon counts as busy with one
 * long task.  A child then holds at most its share of the window.
 */
static void
parent_window(struct parent *p)
{
    long long now = result_now_us();
    long long horizon = window_horizon_us(&p->win);
    int busy_long = 0;
    for (int i = 0; i < p->pool.n; i++) {
        struct slot *head = TAILQ_FIRST(&p->pool.children[i].running);
        if (head == NULL || head->fail_type != NULL)
            continue;
        long long start = head->started_us > p->child_last_us[i]
                              ? head->started_us
                              : p->child_last_us[i];
        if (now - start > horizon)
            busy_long++;
    }
    unsigned before = p->win.size;
    /* The children running now (celeriac control grow/shrink changes
     * them); pool.n counts the places a grow may fill. */
    int active = p->pool.active > 0 ? p->pool.active : 1;
    window_children(&p->win, active);
    unsigned size = window_update(&p->win, busy_long);
    unsigned n = (unsigned)active;
    p->pool.child_max = (size + n - 1) / n;
    if (size != before)
        log_debug("window %u tasks (service %.0f us, Redis round trip "
                  "%.0f us, %d child(ren) on a long task)",
                  size, p->win.svc_us, p->win.rtt_us, busy_long);
}

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

/*
 * Warm shutdown: tasks a limit still holds back are let go, not run (they
 * could wait long): they stay pending in Redis, and once this worker has
 * deregistered another one takes them over at once.
 */
static void
parent_drop_held(struct parent *p)
{
    if (p->slots.count[SLOT_LIMIT_WAIT] == 0)
        return;
    log_info("leaving %u task(s) held back by a limit to other workers",
             p->slots.count[SLOT_LIMIT_WAIT]);
    for (uint32_t i = 0; i < p->slots.n; i++) {
        struct slot *s = &p->slots.slots[i];
        if (s->state != SLOT_LIMIT_WAIT)
            continue;
        throttle_forget(&p->limits, s);
        slot_release(&p->slots, s);
    }
}

/* Moves everything that can move: tasks to children, results to Redis,
 * and a new read when there is room. */
static void
parent_pump(struct parent *p)
{
    const struct config *cfg = p->cfg;
    struct slot *s;
    struct pool_child *c;

    parent_window(p);
    /* Then, while a child is idle and another has tasks queued behind
     * the one it runs, those move to the idle child. */
    do {
        while ((s = TAILQ_FIRST(&p->ready)) != NULL &&
               (c = pool_pick(&p->pool)) != NULL) {
            TAILQ_REMOVE(&p->ready, s, entry);
            if (s->fail_type == NULL) {
                s->started_us = result_now_us();
                parent_task_event(p, s, EVENTS_TASK_STARTED, -1);
            }
            if (pool_send(&p->pool, c, s) < 0)
                parent_verdict(p, s, ERROR_INTERNAL,
                               "the worker could not pass the open file to "
                               "a child process; it will be retried",
                               1, 0);
        }
    } while (TAILQ_EMPTY(&p->ready) && pool_steal(&p->pool, &p->ready) > 0);
    /* URL tasks: streams waiting for a child, then new fetches. */
    parent_streams_open(p);
    parent_fetch_start(p);
    for (int q = 0; q < cfg->nqueues && !p->hold; q++) {
        while (!TAILQ_EMPTY(&p->done[q]) && broker_can_write(&p->broker))
            if (broker_finish(&p->broker, q, &p->done[q],
                              PARENT_FINISH_BATCH) < 0)
                break;
    }
    if (p->mode == PARENT_RUNNING) {
        long room = parent_room(p);
        if (room > 0 && p->registered && broker_can_read(&p->broker)) {
            long count = room / cfg->nqueues;
            long size = p->msg_big > p->msg_avg ? p->msg_big : p->msg_avg;
            if (size > 0 && count > PARENT_READ_BYTES / size)
                count = PARENT_READ_BYTES / size;
            if (count < 1)
                count = 1;
            if (broker_read(&p->broker, (unsigned)count, cfg->block_ms) ==
                0) {
                p->read_pending = count * cfg->nqueues;
                p->read_sent_us = result_now_us();
                p->read_got = 0;
            }
        }
        return;
    }
    if (p->mode == PARENT_WARM) {
        beatproc_stop(&p->beatp); /* it hands the beat lease over */
        parent_drop_held(p);
        if (p->broker.reading) {
            if (!p->unblock_sent && broker_can_write(&p->broker)) {
                broker_unblock(&p->broker);
                p->unblock_sent = 1;
            }
            return;
        }
        if (p->slots.used > 0 || p->broker.claiming)
            return;
        log_info("all tasks in hand are finished; stopping the children");
        p->mode = PARENT_CLOSING;
        events_worker(&p->events, EVENTS_WORKER_OFFLINE,
                      p->exit_code == 0 ? "warm" : "error", NULL);
        broker_deregister(&p->broker);
        pool_stop(&p->pool);
    }
}

/* ---- timers ---- */

/* Publishes the heartbeat record (PROTOCOL.md, "Workers"). */
static void
parent_beat_cb(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    const struct config *cfg = p->cfg;
    char host[256], pid[24], conc[24], pre[24], win[24], beat[32], used[24];
    char rate[32], paused[1024];
    /* In the order of keys_heartbeat_counters. */
    char nums[KEYS_HB_NCOUNTERS][24];
    unsigned long vals[KEYS_HB_NCOUNTERS] = {
        p->stats.received,   p->stats.succeeded, p->stats.failed,
        p->stats.retried,    p->stats.expired,   p->stats.dead,
        p->stats.recovered,  p->stats.duplicates, p->pool.deaths,
    };
    (void)fd;
    (void)what;
    if (p->mode == PARENT_CLOSING)
        return;
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "?");
    host[sizeof(host) - 1] = '\0';
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    snprintf(conc, sizeof(conc), "%d", cfg->concurrency);
    snprintf(pre, sizeof(pre), "%d", cfg->prefetch);
    snprintf(win, sizeof(win), "%u", p->win.size);
    snprintf(used, sizeof(used), "%u", p->slots.used);
    /* Tasks finished a second: an average over about a minute. */
    long long now = parent_now_ms();
    unsigned long done = p->stats.succeeded + p->stats.failed +
                         p->stats.retried + p->stats.expired;
    if (p->rate_ms > 0 && now > p->rate_ms) {
        double dt = (double)(now - p->rate_ms) / 1000.0;
        double inst = (double)(done - p->rate_done) / dt;
        p->rate += (1.0 - exp(-dt / 60.0)) * (inst - p->rate);
    }
    p->rate_done = done;
    p->rate_ms = now;
    snprintf(rate, sizeof(rate), "%.3f", p->rate);
    paused[0] = '\0';
    for (int q = 0, at = 0; q < cfg->nqueues; q++)
        if (p->broker.paused[q] && at < (int)sizeof(paused))
            at += snprintf(paused + at, sizeof(paused) - (size_t)at, "%s%s",
                           at ? "," : "", cfg->queues[q]);
    result_format_time(beat, result_now_us());
    for (int i = 0; i < KEYS_HB_NCOUNTERS; i++)
        snprintf(nums[i], sizeof(nums[i]), "%lu", vals[i]);
    const char *kv[] = {
        KEYS_HB_NAME,        cfg->name,
        KEYS_HB_HOST,        host,
        KEYS_HB_PID,         pid,
        KEYS_HB_STARTED_AT,  p->started_at,
        KEYS_HB_LAST_BEAT,   beat,
        KEYS_HB_VERSION,     "1",
        KEYS_HB_CONCURRENCY, conc,
        KEYS_HB_PREFETCH,    pre,
        KEYS_HB_WINDOW,      win,
        KEYS_HB_QUEUES,      p->queue_list,
        KEYS_HB_IN_FLIGHT,   used,
        KEYS_HB_STATE,       p->mode == PARENT_RUNNING ? "running" : "stopping",
        KEYS_HB_RATE,        rate,
        KEYS_HB_PAUSED,      paused,
        KEYS_HB_BEAT,        p->beat_shown,
        KEYS_HB_RECEIVED,    nums[0],
        KEYS_HB_SUCCEEDED,   nums[1],
        KEYS_HB_FAILED,      nums[2],
        KEYS_HB_RETRIED,     nums[3],
        KEYS_HB_EXPIRED,     nums[4],
        KEYS_HB_DEAD,        nums[5],
        KEYS_HB_RECOVERED,   nums[6],
        KEYS_HB_DUPLICATES,  nums[7],
        KEYS_HB_CHILD_DEATHS, nums[8],
    };
    /* Before the heartbeat: its answer comes first, so the first read
     * (after the first heartbeat) already checks revoked ids. */
    parent_revoked_refresh(p);
    broker_heartbeat(&p->broker, kv, (int)(sizeof(kv) / sizeof(kv[0]) / 2),
                     5 * cfg->heartbeat_ms, parent_now_ms());
    parent_sem_renew(p);
    throttle_renew(&p->limits);
}

static void
parent_on_beat(void *arg, int ok)
{
    struct parent *p = arg;
    if (ok && !p->registered) {
        p->registered = 1;
        log_info("registered in Redis; consuming");
        events_worker(&p->events, EVENTS_WORKER_ONLINE, "", NULL);
        /* Control requests, once Redis took the configuration. */
        if (!p->control_on &&
            control_start(&p->control, p->base, &p->cfg->url,
                          p->cfg->prefix, p->cfg->name,
                          p->cfg->redis_timeout_ms, parent_on_control,
                          p) == 0)
            p->control_on = 1;
        parent_kick(p);
    }
}

/* Moves due scheduled tasks and takes over tasks of dead workers. */
static void
parent_maint_cb(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    const struct config *cfg = p->cfg;
    (void)fd;
    (void)what;
    if (!p->registered || p->mode != PARENT_RUNNING)
        return;
    broker_move(&p->broker, parent_now_ms(), PARENT_MOVE_BATCH);
    /* At least the reserve, even when this worker is busy: stranded tasks
     * have waited long enough already. */
    const struct slot_table *t = &p->slots;
    long want = (long)p->win.size - t->count[SLOT_READY] -
                t->count[SLOT_RUNNING] - t->count[SLOT_FETCH_WAIT] -
                t->count[SLOT_FETCHING];
    if (want < parent_claim_reserve(cfg))
        want = parent_claim_reserve(cfg);
    long count = parent_free(p);
    if (want < count)
        count = want;
    if (count <= 0)
        return;
    int q = p->claim_queue++ % cfg->nqueues;
    if (broker_claim(&p->broker, q, (unsigned)count, cfg->visibility_ms) == 0)
        p->claim_pending = count;
}

static void
parent_on_claim_done(void *arg)
{
    struct parent *p = arg;
    p->claim_pending = 0;
    parent_kick(p);
}

/* Keeps every entry this worker holds fresh, so none is taken over while
 * this worker is alive. */
static void
parent_touch_cb(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    const char *ids[PARENT_TOUCH_BATCH];
    (void)fd;
    (void)what;
    for (int q = 0; q < p->cfg->nqueues; q++) {
        int n = 0;
        for (uint32_t i = 0; i < p->slots.n; i++) {
            struct slot *s = &p->slots.slots[i];
            if (s->state == SLOT_FREE || s->queue != q)
                continue;
            ids[n++] = s->entry_id;
            if (n == PARENT_TOUCH_BATCH) {
                broker_touch(&p->broker, q, ids, n);
                n = 0;
            }
        }
        broker_touch(&p->broker, q, ids, n);
    }
}

/* A full batch of due tasks was moved: more may be due, move again now
 * rather than a second later. */
static void
parent_on_moved(void *arg, long long n)
{
    struct parent *p = arg;
    if (n >= PARENT_MOVE_BATCH && p->mode == PARENT_RUNNING)
        broker_move(&p->broker, parent_now_ms(), PARENT_MOVE_BATCH);
}

static void
parent_on_taken(void *arg, int queue, const char *entry_id)
{
    struct parent *p = arg;
    struct slot *s = parent_find(p, queue, entry_id);
    if (s == NULL)
        return;
    log_warnx("task %s was taken over by another worker while this one "
              "held it (was this worker paused or cut off?)",
              entry_id);
    if (s->state == SLOT_READY || s->state == SLOT_LIMIT_WAIT ||
        (s->state == SLOT_FETCH_WAIT && s->sem_state == SLOT_SEM_NONE)) {
        /* not started: leave it to the other */
        if (s->state == SLOT_READY)
            TAILQ_REMOVE(&p->ready, s, entry);
        else if (s->state == SLOT_FETCH_WAIT)
            fetchq_remove(&p->fetchq, s);
        throttle_forget(&p->limits, s);
        p->stats.duplicates++;
        slot_release(&p->slots, s);
        parent_kick(p);
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
    events_worker(&p->events, EVENTS_WORKER_OFFLINE, "cold", NULL);
    events_flush(&p->events);
    event_base_loopbreak(p->base);
}

/* ---- broker callbacks ---- */

static void
parent_on_ready(void *arg)
{
    struct parent *p = arg;
    if (!p->registered)
        parent_beat_cb(-1, 0, p); /* register before the first read */
    parent_kick(p);
}

/* The slot holding entry_id of queue, or NULL. */
static struct slot *
parent_find(struct parent *p, int queue, const char *entry_id)
{
    for (uint32_t i = 0; i < p->slots.n; i++) {
        struct slot *s = &p->slots.slots[i];
        if (s->state != SLOT_FREE && s->queue == queue &&
            strcmp(s->entry_id, entry_id) == 0)
            return s;
    }
    return NULL;
}

static void
parent_on_entry(void *arg, int queue, const char *entry_id, const char *msg,
                size_t len, unsigned deliveries, const char *from)
{
    struct parent *p = arg;
    struct slot *held;
    if (from == NULL)
        p->read_got++;
    if (from != NULL && (held = parent_find(p, queue, entry_id)) != NULL) {
        /* We hold it already.  Taken over from another worker, it has
         * been delivered that often; re-read from our own name (after a
         * reconnect), it has not run again. */
        if (strcmp(from, p->cfg->name) != 0 && held->attempts < deliveries)
            held->attempts = deliveries;
        return;
    }
    if (from != NULL && strcmp(from, p->cfg->name) == 0 &&
        recent_has(&p->finished, queue, entry_id)) {
        /* Re-read from our own name just before its finish reached
         * Redis, and the finish's answer came first (recent.h): done. */
        log_debug("task %s was re-read but this worker has finished it",
                  entry_id);
        return;
    }
    struct slot *s = slot_alloc(&p->slots);
    if (s == NULL) {
        /* Cannot happen: reads ask for no more than the free slots.  The
         * entry stays pending in Redis and will be taken over. */
        log_error("no free slot for entry %s; it stays pending", entry_id);
        return;
    }
    p->stats.received++;
    s->queue = queue;
    s->attempts = deliveries;
    size_t idlen = strlen(entry_id);
    if (idlen >= sizeof(s->entry_id))
        idlen = sizeof(s->entry_id) - 1; /* cannot happen: ids are short */
    memcpy(s->entry_id, entry_id, idlen);
    s->entry_id[idlen] = '\0';
    if (from != NULL && strcmp(from, p->cfg->name) == 0) {
        /* Pending for this very name: a read whose reply was lost, or
         * handed to this worker before it was restarted. */
        log_debug("task %s was still pending for this worker; running it "
                  "(delivery %u)",
                  entry_id, deliveries);
    } else if (from != NULL) {
        p->stats.recovered++;
        log_info("took over task %s from %s (delivery %u)", entry_id, from,
                 deliveries);
        parent_presumed_dead(p, from);
    }
    if (msg == NULL) {
        parent_fail(p, s, NULL, 0, ERROR_INVALID_MESSAGE,
                    "the stream entry has no 'msg' field; put the task "
                    "message JSON in a field named msg",
                    0);
        return;
    }
    if (len > PROTOCOL_MAX_MESSAGE) {
        char why[128];
        snprintf(why, sizeof(why), "message is %zu bytes; the limit is %u",
                 len, PROTOCOL_MAX_MESSAGE);
        parent_fail(p, s, NULL, 0, ERROR_PAYLOAD_TOO_LARGE, why, 0);
        return;
    }
    char *owned = len >= SLOT_ADOPT_BYTES ? broker_msg_take(&p->broker) : NULL;
    if (owned != NULL)
        slot_adopt_msg(&p->slots, s, owned, len); /* no copy of a big one */
    else
        slot_set_msg(&p->slots, s, msg, len);
    p->msg_avg = p->msg_avg ? (7 * p->msg_avg + (long)len) / 8 : (long)len;
    p->msg_big -= p->msg_big / 8;
    if ((long)len > p->msg_big)
        p->msg_big = (long)len;
    if (deliveries > p->cfg->max_deliveries) {
        char why[300];
        snprintf(why, sizeof(why),
                 "delivered %u times without a result (the last worker "
                 "holding it was %s); --max-deliveries is %u",
                 deliveries, from ? from : "this one",
                 p->cfg->max_deliveries);
        parent_verdict(p, s, ERROR_MAX_DELIVERIES, why, 0, 1);
        return;
    }
    if (parent_revoked_slot(p, s))
        return;
    log_debug("received %s (%zu bytes, delivery %u)", entry_id, len,
              deliveries);
    parent_task_event(p, s,
                      from != NULL && strcmp(from, p->cfg->name) != 0
                          ? EVENTS_TASK_TAKEN_OVER
                          : EVENTS_TASK_RECEIVED,
                      -1);
    parent_route(p, s, 0);
}

static void
parent_on_read_done(void *arg)
{
    struct parent *p = arg;
    /* A read that brought entries measures the round trip to Redis. */
    if (p->read_sent_us != 0 && p->read_got > 0)
        window_rtt(&p->win, result_now_us() - p->read_sent_us);
    p->read_sent_us = 0;
    p->read_pending = 0;
    parent_kick(p);
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
    recent_add(&p->finished, s->queue, s->entry_id);
    throttle_done(&p->limits, s);
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

/*
 * The finish script refused the record of s and did nothing for it (a key
 * it writes has the wrong type; PROTOCOL.md, "What a worker writes"): the
 * task gets a FAILURE result of type StoreFailed saying why, stored
 * without the part that failed, so it poisons only itself.  A final record
 * with no reply_to is never refused; the chain ends there.
 */
static void
parent_on_refused(void *arg, struct slot *s, const char *why)
{
    struct parent *p = arg;
    int reply_bad = strncmp(why, "reply_to", 8) == 0;
    char text[480], before[300] = "";
    struct exec_out out;

    if (s->res_mode[0] == SCRIPTS_FINAL[0] && s->res_reply_to[0] == '\0') {
        log_error("Redis refused the result of task %s: %s", s->entry_id,
                  why);
        parent_on_unfinished(p, s);
        return;
    }
    json_t *doc = json_loadb(s->res_doc, s->res_doc_len, 0, NULL);
    json_t *e = json_object_get(doc, "error");
    if (json_is_string(json_object_get(e, "type")))
        snprintf(before, sizeof(before), "; the attempt had ended with %s: %s",
                 json_string_value(json_object_get(e, "type")),
                 json_is_string(json_object_get(e, "message"))
                     ? json_string_value(json_object_get(e, "message"))
                     : "");
    snprintf(text, sizeof(text), "%s: %.200s%s",
             reply_bad ? "the result could not be sent to its reply stream"
             : s->res_mode[0] == SCRIPTS_RETRY[0]
                 ? "the retry could not be scheduled"
                 : "the task could not be dead-lettered",
             why, before);
    json_decref(doc);
    /* Decoded only when small, like every failure path of the parent's:
     * a larger one is addressed by its entry id (PROTOCOL.md). */
    int small = s->msg_len <= PARENT_DECODE_MAX;
    exec_failure(&p->env, s->entry_id, p->cfg->queues[s->queue],
                 small ? s->msg : NULL, small ? s->msg_len : 0, s->attempts,
                 ERROR_STORE_FAILED, text,
                 s->started_us ? s->started_us : result_now_us(), 0, &out);
    if (reply_bad) {
        free(out.reply_to);
        out.reply_to = NULL;
    }
    log_error("task %s failed: %s; fix or delete that key", out.id, text);
    parent_store(p, s, &out);
    exec_out_clear(&out);
    parent_kick(p);
}

/* ---- outcomes ---- */

/* Stores an outcome in s and queues it for finishing. */
static void
parent_store(struct parent *p, struct slot *s, const struct exec_out *o)
{
    char due[24] = "";
    struct slot_bytes id = {o->id, strlen(o->id)};
    struct slot_bytes rt = {o->reply_to, o->reply_to ? strlen(o->reply_to)
                                                     : 0};
    struct slot_bytes doc = {o->doc, o->doc_len};
    struct slot_bytes none = {NULL, 0};

    switch (o->status) {
    case EXEC_SUCCESS:
        p->stats.succeeded++;
        parent_task_event(p, s, EVENTS_TASK_SUCCEEDED, -1);
        break;
    case EXEC_FAILURE:
        p->stats.failed++;
        parent_task_event(p, s, EVENTS_TASK_FAILED, -1);
        break;
    case EXEC_EXPIRED:
        p->stats.expired++;
        parent_task_event(p, s, EVENTS_TASK_EXPIRED, -1);
        break;
    case EXEC_RETRY:
        p->stats.retried++;
        parent_task_event(p, s, EVENTS_TASK_RETRIED, -1);
        break;
    }
    if (o->status == EXEC_RETRY) {
        snprintf(due, sizeof(due), "%lld", (long long)o->due_ms);
        struct slot_bytes a1 = {due, strlen(due)};
        struct slot_bytes a2 = {o->sched, strlen(o->sched)};
        slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_RETRY, a1,
                        a2);
    } else {
        slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_FINAL, none,
                        none);
    }
    throttle_done(&p->limits, s);
    slot_move(&p->slots, s, SLOT_DONE);
    TAILQ_INSERT_TAIL(&p->done[s->queue], s, entry);
}

/* Answers for a task the parent cannot run, with a FAILURE result (or a
 * RETRY, when may_retry and the task's policy allows). */
static void
parent_fail(struct parent *p, struct slot *s, const char *msg, size_t len,
            const char *type, const char *why, int may_retry)
{
    struct exec_out out;
    char safe[sizeof(s->fail_why)];
    failure_text(safe, sizeof(safe), why);
    if (len > PARENT_DECODE_MAX) /* addressed by its entry id only */
        msg = NULL;
    exec_failure(&p->env, s->entry_id, p->cfg->queues[s->queue], msg, len,
                 s->attempts, type, safe,
                 s->started_us ? s->started_us : result_now_us(), may_retry,
                 &out);
    log_warnx("task %s %s: %s: %s", out.id,
              out.status == EXEC_RETRY ? "will be retried" : "failed", type,
              safe);
    parent_store(p, s, &out);
    exec_out_clear(&out);
}

/*
 * Stores o (a FAILURE) as s's result and moves its message to the
 * dead-letter stream with the reason.  Nothing here can fail: the reason
 * is built from text made valid UTF-8 first (failure.h).
 */
static void
parent_set_dead(struct parent *p, struct slot *s, const struct exec_out *o,
                const char *type, const char *why)
{
    char at[32];
    result_format_time(at, result_now_us());
    char *rs = failure_reason_new(type, why, s->attempts, p->cfg->name, at);
    p->stats.dead++;
    parent_task_event(p, s, EVENTS_TASK_DEAD, -1);
    struct slot_bytes id = {o->id, strlen(o->id)};
    struct slot_bytes rt = {o->reply_to, o->reply_to ? strlen(o->reply_to)
                                                     : 0};
    struct slot_bytes doc = {o->doc, o->doc_len};
    struct slot_bytes a1 = {s->msg, s->msg_len};
    struct slot_bytes a2 = {rs, strlen(rs)};
    slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_DEAD, a1, a2);
    free(rs);
    throttle_done(&p->limits, s);
    slot_move(&p->slots, s, SLOT_DONE);
    TAILQ_INSERT_TAIL(&p->done[s->queue], s, entry);
}

/* Gives up on a task without a child: FAILURE result (the message decoded
 * only when small), and a dead letter. */
static void
parent_dead(struct parent *p, struct slot *s, const char *type,
            const char *why)
{
    struct exec_out out;
    char safe[sizeof(s->fail_why)];
    failure_text(safe, sizeof(safe), why);
    int small = s->msg_len <= PARENT_DECODE_MAX;
    exec_failure(&p->env, s->entry_id, p->cfg->queues[s->queue],
                 small ? s->msg : NULL, small ? s->msg_len : 0, s->attempts,
                 type, safe, result_now_us(), 0, &out);
    log_error("task %s is dead-lettered: %s", out.id, safe);
    p->stats.failed++;
    parent_task_event(p, s, EVENTS_TASK_FAILED, -1);
    parent_set_dead(p, s, &out, type, safe);
    exec_out_clear(&out);
}

/*
 * Decides that s fails with type/why (a RETRY when may_retry and its policy
 * allow; dead-lettered when dead) and hands it, first in line, to a child
 * to answer (IPC_TASK_FAIL): the child decodes the message to address the
 * result, so the parent's loop never parses a message, however large.  If
 * a child already died answering such a verdict, the parent answers
 * itself.
 */
static void
parent_verdict(struct parent *p, struct slot *s, const char *type,
               const char *why, int may_retry, int dead)
{
    if (s->fail_type != NULL) {
        char twice[sizeof(s->fail_why) + 64];
        snprintf(twice, sizeof(twice), "%s (a child died answering it too)",
                 s->fail_why);
        if (s->fail_dead)
            parent_dead(p, s, s->fail_type, twice);
        else
            parent_fail(p, s, s->msg, s->msg_len, s->fail_type, twice, 0);
        return;
    }
    if (s->src_fd >= 0) { /* answered without its file */
        close(s->src_fd);
        s->src_fd = -1;
    }
    snprintf(s->fail_type_buf, sizeof(s->fail_type_buf), "%s", type);
    s->fail_type = s->fail_type_buf;
    failure_text(s->fail_why, sizeof(s->fail_why), why);
    s->fail_retry = may_retry;
    s->fail_dead = dead;
    if (s->started_us == 0)
        s->started_us = result_now_us();
    if (dead)
        log_error("task %s is dead-lettered: %s", s->entry_id, s->fail_why);
    slot_move(&p->slots, s, SLOT_READY);
    s->child = -1;
    TAILQ_INSERT_HEAD(&p->ready, s, entry);
}

/* ---- pool callbacks ---- */

/*
 * Logs the outcome of a task: a success at debug level, anything else at
 * info level with the error's type and message (read from the document,
 * which is small: a few KiB, PROTOCOL.md "Result").
 */
static void
parent_log_result(const struct ipc_result *r)
{
    if (r->status == IPC_STATUS_SUCCESS) {
        log_debug("task %.*s succeeded", (int)r->id_len, r->id);
        return;
    }
    json_t *doc = r->doc_len <= PARENT_DECODE_MAX
                      ? json_loadb(r->doc, r->doc_len, 0, NULL)
                      : NULL;
    json_t *e = json_object_get(doc, RESULT_F_ERROR);
    const char *st = json_string_value(json_object_get(doc, RESULT_F_STATUS));
    const char *type = json_string_value(json_object_get(e,
                                         RESULT_F_ERROR_TYPE));
    const char *msg = json_string_value(json_object_get(e,
                                        RESULT_F_ERROR_MESSAGE));
    const char *what = r->status == IPC_STATUS_RETRY ? "will be retried"
                       : st != NULL && strcmp(st, RESULT_FAILURE) != 0
                           ? st
                           : "failed";
    log_info("task %.*s %s: %s: %s", (int)r->id_len, r->id, what,
             type ? type : "(no error type)", msg ? msg : "(no message)");
    json_decref(doc);
}

static void
parent_on_result(void *arg, struct slot *s, const struct ipc_result *r)
{
    struct parent *p = arg;
    struct slot_bytes id = {r->id, r->id_len};
    struct slot_bytes rt = {r->reply_to, r->reply_to_len};
    struct slot_bytes doc = {r->doc, r->doc_len};
    struct slot_bytes none = {NULL, 0};
    char due[24];

    if (s->state == SLOT_RUNNING && s->fail_type == NULL && s->child >= 0 &&
        s->child < p->pool.n) {
        /* Its service time: from when its child could start it.  Not
         * the first result of a process: its start-up (page faults,
         * OpenSSL's first fetch) made it 10-100 times a later one. */
        long long now = result_now_us();
        long long *last = &p->child_last_us[s->child];
        pid_t pid = p->pool.children[s->child].pid;
        if (p->child_timed[s->child] == pid)
            window_service(&p->win, now - (s->started_us > *last
                                               ? s->started_us
                                               : *last));
        p->child_timed[s->child] = pid;
        *last = now;
    }
    /* A streamed task answered before its source ended (a FAILURE: it
     * refused its arguments or a chunk): the fetch is of no use now. */
    parent_fetch_stop(p, s);
    double runtime = s->started_us
                         ? (double)(result_now_us() - s->started_us) / 1e6
                         : -1;
    parent_task_event(p, s,
                      r->status == IPC_STATUS_SUCCESS ? EVENTS_TASK_SUCCEEDED
                      : r->status == IPC_STATUS_RETRY ? EVENTS_TASK_RETRIED
                      : r->status == IPC_STATUS_EXPIRED
                          ? EVENTS_TASK_EXPIRED
                          : EVENTS_TASK_FAILED,
                      runtime);
    switch (r->status) {
    case IPC_STATUS_SUCCESS:
        p->stats.succeeded++;
        slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_FINAL, none,
                        none);
        break;
    case IPC_STATUS_RETRY:
        p->stats.retried++;
        snprintf(due, sizeof(due), "%llu", (unsigned long long)r->due_ms);
        slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_RETRY,
                        (struct slot_bytes){due, strlen(due)},
                        (struct slot_bytes){r->sched, r->sched_len});
        break;
    default:
        if (r->status == IPC_STATUS_EXPIRED)
            p->stats.expired++;
        else
            p->stats.failed++;
        slot_set_result(s, p->cfg->prefix, id, rt, doc, SCRIPTS_FINAL, none,
                        none);
        break;
    }
    parent_log_result(r);
    if (s->fail_dead && r->status == IPC_STATUS_FAILURE) {
        /* The answer to a dead-letter verdict: its result doc, then the
         * message and the reason go to the dead-letter stream. */
        char *rid = xstrndup(r->id, r->id_len);
        char *rrt = xstrndup(r->reply_to, r->reply_to_len);
        struct exec_out o = {.status = EXEC_FAILURE,
                             .id = rid,
                             .reply_to = rrt,
                             .doc = (char *)r->doc,
                             .doc_len = r->doc_len};
        parent_set_dead(p, s, &o, s->fail_type, s->fail_why);
        free(rid);
        free(rrt);
        return;
    }
    slot_move(&p->slots, s, SLOT_DONE);
    TAILQ_INSERT_TAIL(&p->done[s->queue], s, entry);
}

static void
parent_on_lost(void *arg, struct slot *s, int child, pid_t pid, int wstatus,
               unsigned timed_out_ms)
{
    struct parent *p = arg;
    char why[300];
    parent_fetch_stop(p, s);
    if (timed_out_ms) {
        snprintf(why, sizeof(why),
                 "the task ran longer than its time limit of %u ms and its "
                 "child process (child %d, pid %ld) was killed",
                 timed_out_ms, child, (long)pid);
        parent_verdict(p, s, ERROR_TIME_LIMIT, why, 1, 0);
    } else {
        if (WIFSIGNALED(wstatus))
            snprintf(why, sizeof(why),
                     "the child process running this task (child %d, pid "
                     "%ld) was killed by signal %d (%s)",
                     child, (long)pid, WTERMSIG(wstatus),
                     strsignal(WTERMSIG(wstatus)));
        else
            snprintf(why, sizeof(why),
                     "the child process running this task (child %d, pid "
                     "%ld) exited with status %d",
                     child, (long)pid, WEXITSTATUS(wstatus));
        if (s->fail_type != NULL || s->attempts >= p->cfg->max_deliveries) {
            parent_verdict(p, s, ERROR_WORKER_LOST, why, 0, 1);
        } else {
            /* Run it again in another child: a delivery, as if another
             * worker had taken it over. */
            s->attempts++;
            p->stats.redelivered++;
            log_warnx("task %s: %s; running it again (delivery %u of %u)",
                      s->entry_id, why, s->attempts, p->cfg->max_deliveries);
            parent_route(p, s, 1);
        }
    }
    parent_kick(p);
}

static void
parent_on_requeue(void *arg, struct slot *s)
{
    struct parent *p = arg;
    slot_move(&p->slots, s, SLOT_READY);
    s->child = -1;
    TAILQ_INSERT_HEAD(&p->ready, s, entry);
}

/* Redis refused the configuration at start-up (logged by the broker):
 * stop, with a status that tells systemd and Docker. */
static void
parent_on_fatal(void *arg)
{
    struct parent *p = arg;
    p->exit_code = BROKER_EXIT_CONFIG;
    if (p->mode == PARENT_RUNNING) {
        p->mode = PARENT_WARM;
        parent_kick(p);
    }
}

static void
parent_on_idle(void *arg)
{
    parent_kick(arg);
}

static void
parent_on_reaped(void *arg, pid_t pid, int st)
{
    struct parent *p = arg;
    beatproc_reaped(&p->beatp, pid, st);
}

static void
parent_on_stopped(void *arg)
{
    struct parent *p = arg;
    log_debug("all children have exited");
    broker_stop(&p->broker);
    event_base_loopexit(p->base, NULL);
}

/* ---- sources on the loop ---- */

/* The fetch callbacks find their parent here: one parent per process. */
static struct parent *parent_self;

static void parent_fetch_headers(struct fetch *f,
                                 const struct fetch_facts *facts, void *arg);
static int parent_fetch_chunk(struct fetch *f, const unsigned char *data,
                              size_t len, void *arg);
static void parent_fetch_done(struct fetch *f, const struct fetch_facts *facts,
                              const struct fetch_error *err, void *arg);

static const struct fetch_callbacks parent_fetch_cbs = {
    .on_headers = parent_fetch_headers,
    .on_chunk = parent_fetch_chunk,
    .on_done = parent_fetch_done,
};

/* Failures worth another attempt when the message's policy allows
 * (PROTOCOL.md, "Sources"). */
static int
parent_fetch_retryable(const struct fetch_error *e)
{
    switch (e->type) {
    case FETCH_TIMEOUT:
    case FETCH_DNS_ERROR:
    case FETCH_CONNECT_ERROR:
    case FETCH_BAD_RESPONSE:
        return 1;
    case FETCH_HTTP_ERROR:
        return e->status >= 500 || e->status == 429;
    default:
        return 0;
    }
}

/* The "source" object of a url task's result, as JSON text (owned). */
static char *
parent_url_facts(const struct slot *s, const struct fetch_facts *f)
{
    char final[2048];
    failure_text(final, sizeof(final), f->url ? f->url : s->src_url);
    json_t *o = json_pack(
        "{s:s, s:s, s:i, s:s, s:I, s:i, s:f, s:f}", "url", s->src_url,
        "final_url", final, "status", f->status, "content_type",
        f->content_type ? f->content_type : "", "bytes",
        (json_int_t)f->bytes, "redirects", (int)f->redirects, "ttfb_ms",
        f->first_byte_ms, "fetch_ms", f->total_ms);
    char *txt = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return txt != NULL ? txt : xstrdup("{}");
}

/* A limit lets s start (throttle.h): on to its source and a child. */
static void
parent_on_admit(void *arg, struct slot *s)
{
    struct parent *p = arg;
    parent_route(p, s, 0);
    parent_kick(p);
}

/*
 * Sends s where its source says: a url task to the fetch queue, a path
 * task (its file opened now) or any other to the ready queue; first puts
 * it at the head (a task run again).  A message naming its source wrongly,
 * or a path that cannot be opened, becomes a verdict.  Only small messages
 * that mention "url" or "path" are decoded (source.h).
 */
static void
parent_route(struct parent *p, struct slot *s, int first)
{
    struct proto_error err;
    if (s->fail_type == NULL && throttle_hold(&p->limits, s))
        return; /* held back by a limit: parent_on_admit goes on */
    if (s->src_kind == SOURCE_INLINE && s->fail_type == NULL &&
        source_maybe(s->msg, s->msg_len)) {
        struct source src;
        if (source_parse(s->msg, s->msg_len, &src, &err) < 0) {
            parent_verdict(p, s, err.type, err.message, 0, 0);
            return;
        }
        s->src_kind = (int)src.kind;
        s->src_url = src.url;
        s->src_path = src.path;
        src.url = src.path = NULL;
        s->src_accept_any = src.accept_any;
        s->upload_bytes = src.upload_bytes;
        memcpy(s->src_host, src.host, sizeof(s->src_host));
        source_clear(&src);
    }
    s->child = -1;
    if (s->src_kind == SOURCE_UPLOAD && s->fail_type == NULL) {
        parent_upload_begin(p, s);
        return;
    }
    if (s->src_kind == SOURCE_URL && s->fail_type == NULL) {
        slot_move(&p->slots, s, SLOT_FETCH_WAIT);
        if (first)
            fetchq_push_front(&p->fetchq, s);
        else
            fetchq_push(&p->fetchq, s);
        parent_kick(p);
        return;
    }
    if (s->src_kind == SOURCE_PATH && s->fail_type == NULL) {
        /* Opened again for every attempt: a child that died reading it
         * moved the shared file offset. */
        if (s->src_fd >= 0)
            close(s->src_fd);
        s->src_fd = pathsrc_open(p->cfg->files_root_fd, s->src_path,
                                 &s->src_size, &err);
        if (s->src_fd < 0) {
            parent_verdict(p, s, err.type, err.message, 0, 0);
            return;
        }
    }
    slot_move(&p->slots, s, SLOT_READY);
    if (first)
        TAILQ_INSERT_HEAD(&p->ready, s, entry);
    else
        TAILQ_INSERT_TAIL(&p->ready, s, entry);
}

/* ---- revoked tasks (revoked.h) ---- */

static void
parent_revoked_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct parent *p = priv;
    redisReply *r = reply;
    (void)ac;
    if (r == NULL) /* connection lost or closing: keep the old copy */
        return;
    if (r->type != REDIS_REPLY_ARRAY) {
        if (r->type == REDIS_REPLY_ERROR)
            log_warnx("reading the revoked tasks failed: %s; checking the "
                      "ids read before",
                      r->str);
        return;
    }
    const char **ids = xmalloc((r->elements + 1) * sizeof(*ids));
    size_t *lens = xmalloc((r->elements + 1) * sizeof(*lens));
    size_t n = 0;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING)
            continue;
        ids[n] = e->str;
        lens[n++] = e->len;
    }
    size_t before = p->revoked.n;
    size_t added = revoked_load(&p->revoked, ids, lens, n);
    if (p->revoked.n != before)
        log_debug("%zu revoked task ids", p->revoked.n);
    free(ids);
    free(lens);
    /* Every task held was checked against the old copy (on arrival or
     * by the last sweep): only new ids can revoke one of them. */
    if (added > 0 || (p->revoked_again && p->revoked.n > 0))
        parent_revoked_sweep(p);
}

/*
 * When the entry just received in s is a revoked task, makes its verdict
 * (a child answers REVOKED) and returns 1.  Checked on arrival; a task
 * held when a later refresh brings its id is caught by
 * parent_revoked_sweep, unless it has started by then.
 */
static int
parent_revoked_slot(struct parent *p, struct slot *s)
{
    if (p->revoked.n == 0 || s->fail_type != NULL || s->msg == NULL ||
        !revoked_message(&p->revoked, s->msg, s->msg_len,
                         p->cfg->queues[s->queue], s->entry_id))
        return 0;
    log_info("entry %s is a revoked task; not running it", s->entry_id);
    parent_verdict(p, s, ERROR_REVOKED,
                   "the task was revoked (celeriac revoke) before it ran", 0,
                   0);
    return 1;
}

/*
 * After a refresh brought new revoked ids: every task this worker holds
 * and has not started gets the verdict of parent_revoked_slot when it is
 * revoked — one waiting for a child (READY), for a limit (LIMIT_WAIT) or
 * for a fetch (FETCH_WAIT) leaves its list first; one queued in a child
 * is taken back with the claim CAS (pool_withdraw), and runs if its child
 * started it already.  A running task is never interrupted.  One pass
 * over the slot table (--prefetch slots), revoked_message() per task.
 * A task that could not be looked at now (its child's frames still being
 * written, or its per-host lease being asked for) is looked at again
 * after the next refresh.
 */
static void
parent_revoked_sweep(struct parent *p)
{
    unsigned n = 0;
    int again = 0;
    for (uint32_t i = 0; i < p->slots.n; i++) {
        struct slot *s = &p->slots.slots[i];
        if (s->fail_type != NULL || s->msg == NULL ||
            (s->state != SLOT_READY && s->state != SLOT_LIMIT_WAIT &&
             s->state != SLOT_FETCH_WAIT && s->state != SLOT_RUNNING) ||
            !revoked_message(&p->revoked, s->msg, s->msg_len,
                             p->cfg->queues[s->queue], s->entry_id))
            continue;
        if (s->state == SLOT_READY) {
            TAILQ_REMOVE(&p->ready, s, entry);
        } else if (s->state == SLOT_LIMIT_WAIT) {
            throttle_forget(&p->limits, s);
        } else if (s->state == SLOT_FETCH_WAIT) {
            if (s->sem_state != SLOT_SEM_NONE) {
                again = 1;
                continue;
            }
            fetchq_remove(&p->fetchq, s);
        } else {
            int got = pool_withdraw(&p->pool, s);
            if (got < 0)
                again = 1;
            if (got <= 0)
                continue; /* started: it runs to completion */
        }
        log_info("task %s was revoked while this worker held it; not "
                 "running it",
                 s->entry_id);
        parent_verdict(p, s, ERROR_REVOKED,
                       "the task was revoked (celeriac revoke) before it ran",
                       0, 0);
        n++;
    }
    p->revoked_again = again;
    if (n > 0)
        parent_kick(p);
}

/* Reads the revocations still in force (score >= now), bounded; with
 * ZRANGEBYSCORE, which the worker's ACL (docs/SECURITY.md) allows. */
static void
parent_revoked_refresh(struct parent *p)
{
    char key[KEYS_MAX], now[24], max[24];
    if (keys_revoked(key, sizeof(key), p->cfg->prefix) < 0)
        return;
    snprintf(now, sizeof(now), "%lld", (long long)(result_now_us() / 1000));
    snprintf(max, sizeof(max), "%d", REVOKED_MAX);
    const char *argv[] = {"ZRANGEBYSCORE", key, now, "+inf",
                          "LIMIT",         "0", max};
    broker_call(&p->broker, 7, argv, NULL, parent_revoked_cb, p);
}

/* ---- the cluster-wide per-host semaphore (--cluster-per-host) ---- */

/* A lease lives 3 heartbeats and is renewed with every heartbeat. */
static long
parent_lease_ms(const struct parent *p)
{
    return 3 * p->cfg->heartbeat_ms;
}

/* The lease id of s: "<worker name>/<slot>/<generation>". */
static void
parent_lease_id(const struct parent *p, uint32_t index, uint32_t gen,
                char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%u/%u", p->cfg->name, index, gen);
}

static void
parent_sem_release(struct parent *p, struct slot *s)
{
    char lease[320];
    if (s->sem_state != SLOT_SEM_HELD)
        return;
    s->sem_state = SLOT_SEM_NONE;
    parent_lease_id(p, s->index, s->sem_gen, lease, sizeof(lease));
    /* If it cannot be sent, the lease expires by itself. */
    broker_hostsem(&p->broker, SCRIPTS_HOSTSEM_RELEASE, s->src_host, lease,
                   parent_lease_ms(p), p->cfg->cluster_per_host, NULL, NULL,
                   0);
}

/* Puts an admitted s back first in line, not to be admitted before
 * until_ms (Unix ms), and arms the timer that looks again. */
static void
parent_sem_wait(struct parent *p, struct slot *s, long long until_ms)
{
    long long now = parent_now_ms();
    /* Redis' clock against ours: never sooner than 10 ms, never later
     * than a lease (by then every holder renewed or its lease expired). */
    if (until_ms < now + 10)
        until_ms = now + 10;
    if (until_ms > now + parent_lease_ms(p))
        until_ms = now + parent_lease_ms(p);
    s->sem_state = SLOT_SEM_NONE;
    s->sem_wait_until = until_ms;
    fetchq_done(&p->fetchq, s);
    fetchq_push_front(&p->fetchq, s);
    if (p->sem_at == 0 || until_ms < p->sem_at ||
        !evtimer_pending(p->sem_ev, NULL)) {
        long ms = (long)(until_ms - now);
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        p->sem_at = until_ms;
        evtimer_add(p->sem_ev, &tv);
    }
}

static void
parent_sem_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct parent *p = arg;
    (void)fd;
    (void)what;
    p->sem_at = 0;
    parent_kick(p);
}

static void parent_fetch_begin(struct parent *p, struct slot *s);

/* Redis answered an acquire. */
static void
parent_sem_acquired(void *arg, uint64_t token, long long answer,
                    const char *why)
{
    struct parent *p = arg;
    uint32_t index = (uint32_t)(token >> 32), gen = (uint32_t)token;
    struct slot *s = slot_get(&p->slots, index);
    if (s == NULL || s->sem_gen != gen || s->sem_state != SLOT_SEM_ACQUIRING) {
        if (answer == 1 && p->mode != PARENT_CLOSING) { /* not wanted now */
            char lease[320];
            parent_lease_id(p, index, gen, lease, sizeof(lease));
            broker_hostsem(&p->broker, SCRIPTS_HOSTSEM_RELEASE,
                           s ? s->src_host : "", lease, parent_lease_ms(p),
                           p->cfg->cluster_per_host, NULL, NULL, 0);
        }
        return;
    }
    if (answer == 1) {
        s->sem_state = SLOT_SEM_HELD;
        parent_fetch_begin(p, s);
    } else if (answer > 1) {
        parent_sem_wait(p, s, answer);
    } else if (why != NULL && strncmp(why, "WRONGTYPE", 9) == 0) {
        char text[640];
        snprintf(text, sizeof(text),
                 "the cluster-wide limit of fetches to %s could not be "
                 "checked: %.200s; delete that key (celeriac keeps its "
                 "semaphores there)",
                 s->src_host, why);
        s->sem_state = SLOT_SEM_NONE;
        fetchq_done(&p->fetchq, s);
        parent_verdict(p, s, ERROR_INTERNAL, text, 1, 0);
    } else {
        if (why != NULL)
            log_warnx("the cluster-wide fetch limit of %s could not be "
                      "checked (%s); trying again in a second",
                      s->src_host, why);
        parent_sem_wait(p, s, parent_now_ms() + 1000);
    }
    parent_kick(p);
}

static void
parent_sem_renewed(void *arg, uint64_t token, long long answer,
                   const char *why)
{
    struct parent *p = arg;
    struct slot *s = slot_get(&p->slots, (uint32_t)(token >> 32));
    if (answer == 0 && s != NULL && s->sem_gen == (uint32_t)token &&
        s->sem_state == SLOT_SEM_HELD)
        log_warnx("task %s lost its place in the cluster-wide fetch limit "
                  "of %s (its lease expired: was this worker paused?); the "
                  "fetch goes on",
                  s->entry_id, s->src_host);
    else if (answer < 0 && why != NULL)
        log_warnx("renewing a cluster-wide fetch lease failed: %s", why);
}

/* Renews every lease this worker holds (once per heartbeat). */
static void
parent_sem_renew(struct parent *p)
{
    char lease[320];
    for (uint32_t i = 0; i < p->slots.n && p->cfg->cluster_per_host; i++) {
        struct slot *s = &p->slots.slots[i];
        if (s->state == SLOT_FREE || s->sem_state != SLOT_SEM_HELD)
            continue;
        parent_lease_id(p, s->index, s->sem_gen, lease, sizeof(lease));
        broker_hostsem(&p->broker, SCRIPTS_HOSTSEM_RENEW, s->src_host, lease,
                       parent_lease_ms(p), p->cfg->cluster_per_host,
                       parent_sem_renewed, p,
                       ((uint64_t)s->index << 32) | s->sem_gen);
    }
}

/* Starts the fetches the fetch queue admits: at once, or once the cluster
 * semaphore of their host gives them a lease. */
static void
parent_fetch_start(struct parent *p)
{
    struct slot *s;
    char lease[320];
    while ((s = fetchq_admit(&p->fetchq, parent_now_ms())) != NULL) {
        s->sem_wait_until = 0;
        if (p->cfg->cluster_per_host == 0 || s->src_host[0] == '\0') {
            parent_fetch_begin(p, s);
            continue;
        }
        s->sem_gen = ++p->sem_gen;
        parent_lease_id(p, s->index, s->sem_gen, lease, sizeof(lease));
        s->sem_state = SLOT_SEM_ACQUIRING;
        if (broker_hostsem(&p->broker, SCRIPTS_HOSTSEM_ACQUIRE, s->src_host,
                           lease, parent_lease_ms(p),
                           p->cfg->cluster_per_host, parent_sem_acquired, p,
                           ((uint64_t)s->index << 32) | s->sem_gen) < 0)
            parent_sem_wait(p, s, parent_now_ms() + 1000); /* Redis down */
    }
}

/* Starts s's fetch (admitted, and holding a lease if one is needed). */
static void
parent_fetch_begin(struct parent *p, struct slot *s)
{
    {
        struct fetch_error err = {.type = FETCH_OK};
        slot_move(&p->slots, s, SLOT_FETCHING);
        s->started_us = result_now_us();
        s->fetch = fetch_start(&p->fetch_cfg, s->src_url,
                               s->src_accept_any ? FETCH_ACCEPT_ANY_STATUS
                                                 : 0,
                               &parent_fetch_cbs, s, &err);
        if (s->fetch == NULL) {
            fetchq_done(&p->fetchq, s);
            parent_sem_release(p, s);
            parent_verdict(p, s, fetch_error_name(err.type), err.message,
                           parent_fetch_retryable(&err), 0);
            return;
        }
        TAILQ_INSERT_TAIL(&p->fetching, s, entry);
    }
}

/* Ends s's fetch, if one runs (the task's result came, or its child died),
 * and gives its place back.  Not from the fetch's own callbacks. */
static void
parent_fetch_stop(struct parent *p, struct slot *s)
{
    if (s->fetch != NULL) {
        fetch_cancel(s->fetch);
        s->fetch = NULL;
    }
    if (s->upload != NULL) {
        upload_cancel(s->upload);
        s->upload = NULL;
    }
    fetchq_done(&p->fetchq, s);
    parent_sem_release(p, s);
    s->fetch_paused = 0;
    if (s->want_stream) {
        TAILQ_REMOVE(&p->fetching, s, entry);
        s->want_stream = 0;
    }
    free(s->end_facts);
    s->end_facts = NULL;
}

/* Opens s's stream on the child with the fewest, or leaves it waiting
 * (its fetch paused) while no child runs.  s is on the fetching list. */
static int
parent_stream_open(struct parent *p, struct slot *s)
{
    struct pool_child *c = pool_pick_stream(&p->pool);
    if (c == NULL)
        return -1;
    TAILQ_REMOVE(&p->fetching, s, entry);
    s->want_stream = 0;
    pool_stream_open(&p->pool, c, s);
    return 0;
}

/* Streams whose head came while no child could take them. */

/* Reads a paused source (a URL's body, an upload) again. */
static void
parent_source_resume(struct slot *s)
{
    if (!s->fetch_paused)
        return;
    s->fetch_paused = 0;
    if (s->fetch != NULL)
        fetch_resume(s->fetch);
    else if (s->upload != NULL)
        upload_resume(s->upload);
}

static void
parent_streams_open(struct parent *p)
{
    struct slot *s, *next;
    /* Runs at every pump: the walk of all fetches (up to --max-fetches)
     * only when one may be waiting. */
    if (!p->streams_waiting)
        return;
    p->streams_waiting = 0;
    for (s = TAILQ_FIRST(&p->fetching); s != NULL; s = next) {
        next = TAILQ_NEXT(s, entry);
        if (!s->want_stream)
            continue;
        if (parent_stream_open(p, s) < 0) {
            p->streams_waiting = 1; /* walked again next time */
            return;
        }
        if (s->end_facts != NULL) {
            pool_stream_end(&p->pool, s, NULL, NULL, s->end_facts);
            free(s->end_facts);
            s->end_facts = NULL;
        } else {
            parent_source_resume(s);
        }
    }
}

/* The response head is accepted: the body goes to a child from now on. */
static void
parent_fetch_headers(struct fetch *f, const struct fetch_facts *facts,
                     void *arg)
{
    struct slot *s = arg;
    (void)facts;
    if (parent_stream_open(parent_self, s) < 0) {
        log_warnx("task %s: no child process is running to take the body "
                  "of %s; the fetch waits for one",
                  s->entry_id, s->src_host);
        s->want_stream = 1;
        parent_self->streams_waiting = 1;
        s->fetch_paused = 1;
        fetch_pause(f);
    }
}

static int
parent_fetch_chunk(struct fetch *f, const unsigned char *data, size_t len,
                   void *arg)
{
    struct slot *s = arg;
    if (pool_stream_chunk(&parent_self->pool, s, data, len)) {
        /* Back-pressure: resumed by parent_on_drained. */
        s->fetch_paused = 1;
        fetch_pause(f);
    }
    return 0;
}

static void
parent_fetch_done(struct fetch *f, const struct fetch_facts *facts,
                  const struct fetch_error *err, void *arg)
{
    struct parent *p = parent_self;
    struct slot *s = arg;
    (void)f;
    s->fetch = NULL; /* freed when this returns */
    s->fetch_paused = 0;
    metrics_fetch(p->metrics, err->type == FETCH_OK,
                  s->started_us
                      ? (double)(result_now_us() - s->started_us) / 1e6
                      : -1);
    fetchq_done(&p->fetchq, s);
    parent_sem_release(p, s);
    if (s->streaming) {
        char *txt = parent_url_facts(s, facts);
        pool_stream_end(&p->pool, s,
                        err->type == FETCH_OK ? NULL
                                              : fetch_error_name(err->type),
                        err->message, txt);
        free(txt);
    } else if (err->type == FETCH_OK && s->want_stream) {
        /* Whole before a child could take it: sent when one can. */
        s->end_facts = parent_url_facts(s, facts);
    } else {
        TAILQ_REMOVE(&p->fetching, s, entry);
        s->want_stream = 0;
        parent_verdict(p, s, fetch_error_name(err->type), err->message,
                       parent_fetch_retryable(err), 0);
    }
    parent_kick(p);
}

/* A child's output buffer drained: its paused fetches go on. */
static void
parent_on_drained(void *arg, struct pool_child *c)
{
    struct slot *s;
    (void)arg;
    TAILQ_FOREACH(s, &c->streams, entry)
        parent_source_resume(s);
}

/* ---- upload sources (worker/upload.h) ---- */

static int
parent_upload_chunk(struct upload *u, const unsigned char *data, size_t len,
                    void *arg)
{
    struct slot *s = arg;
    (void)u;
    if (pool_stream_chunk(&parent_self->pool, s, data, len)) {
        s->fetch_paused = 1; /* resumed by parent_on_drained */
        return 1;
    }
    return 0;
}

static void
parent_upload_done(struct upload *u, const char *err_type,
                   const char *err_msg, const char *facts, void *arg)
{
    struct parent *p = parent_self;
    struct slot *s = arg;
    (void)u;
    s->upload = NULL; /* freed when this returns */
    s->fetch_paused = 0;
    if (s->streaming) {
        pool_stream_end(&p->pool, s, err_type, err_msg, facts);
    } else {
        /* Still waiting for a child: the answer is a verdict. */
        TAILQ_REMOVE(&p->fetching, s, entry);
        s->want_stream = 0;
        parent_verdict(p, s, err_type ? err_type : ERROR_INTERNAL,
                       err_msg ? err_msg : "the upload ended before a child "
                                           "could take it",
                       0, 0);
    }
    parent_kick(p);
}

static const struct upload_callbacks parent_upload_cbs = {
    .on_chunk = parent_upload_chunk,
    .on_done = parent_upload_done,
};

/*
 * An upload task: its key must be in this prefix's upload namespace (like
 * reply_to); it goes straight to FETCHING and its stream opens on a child
 * as soon as one can take it; the reader starts paused until then.
 */
static void
parent_upload_begin(struct parent *p, struct slot *s)
{
    if (!upload_key_ok(p->cfg->prefix, s->src_path)) {
        char why[400];
        snprintf(why, sizeof(why),
                 "'upload' must name a key %supload:<token> (a token of "
                 "letters, digits, '-' and '_'), not '%.200s'; nothing was "
                 "read or written",
                 p->cfg->prefix, s->src_path);
        parent_verdict(p, s, ERROR_INVALID_MESSAGE, why, 0, 0);
        return;
    }
    slot_move(&p->slots, s, SLOT_FETCHING);
    s->started_us = result_now_us();
    TAILQ_INSERT_TAIL(&p->fetching, s, entry);
    s->want_stream = 1;
    p->streams_waiting = 1;
    s->fetch_paused = 1;
    s->upload = upload_start(p->base, &p->broker, s->src_path,
                             s->upload_bytes, p->cfg->upload_ms, 1,
                             &parent_upload_cbs, s);
    parent_kick(p);
}

/* Sets up what fetches share: name resolution and TLS.  0 or -1. */
static int
parent_fetch_init(struct parent *p)
{
    const struct config *cfg = p->cfg;
    struct fetch_config *fc = &p->fetch_cfg;
    struct fetch_error err = {.type = FETCH_OK};
    fc->base = p->base;
    fc->dns = evdns_base_new(p->base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
                                          EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (fc->dns == NULL) /* no resolv.conf: /etc/hosts and literals */
        fc->dns = evdns_base_new(p->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
    if (fc->dns == NULL) {
        log_error("cannot set up name resolution for URL sources");
        return -1;
    }
    fc->ssl_ctx = fetch_ssl_ctx_new(cfg->ca_file, &err);
    if (fc->ssl_ctx == NULL) {
        log_error("--ca-file: %s", err.message);
        return -1;
    }
    fc->guard = cfg->guard;
    fc->max_redirects = cfg->max_redirects;
    fc->max_body = cfg->max_fetch_bytes;
    fc->connect_ms = (unsigned)cfg->connect_ms;
    fc->first_byte_ms = (unsigned)cfg->first_byte_ms;
    fc->total_ms = (unsigned)cfg->fetch_ms;
    /* Kept-alive connections: as many idle per host as may run at once
     * (--per-host), so a steady stream of URLs of one site costs one
     * round trip each, not a connection each. */
    fc->pool = fetch_pool_new(p->base,
                              cfg->per_host > 0 ? (unsigned)cfg->per_host
                                                : (unsigned)cfg->max_fetches,
                              0);
    if (fc->pool == NULL) {
        log_error("out of memory setting up URL sources");
        return -1;
    }
    fetchq_init(&p->fetchq, cfg->max_fetches, cfg->per_host);
    p->sem_ev = evtimer_new(p->base, parent_sem_timer_cb, p);
    TAILQ_INIT(&p->fetching);
    return 0;
}

/* Ends every fetch (a cold stop) and frees what fetches share. */
static void
parent_fetch_free(struct parent *p)
{
    for (uint32_t i = 0; i < p->slots.n; i++) {
        struct slot *s = &p->slots.slots[i];
        if (s->fetch != NULL) {
            fetch_cancel(s->fetch);
            s->fetch = NULL;
        }
        if (s->upload != NULL) {
            upload_cancel(s->upload);
            s->upload = NULL;
        }
    }
    if (p->fetch_cfg.pool != NULL)
        fetch_pool_free(p->fetch_cfg.pool);
    if (p->fetch_cfg.ssl_ctx != NULL)
        SSL_CTX_free(p->fetch_cfg.ssl_ctx);
    if (p->fetch_cfg.dns != NULL)
        evdns_base_free(p->fetch_cfg.dns, 0);
    fetchq_free(&p->fetchq);
    if (p->sem_ev != NULL)
        event_free(p->sem_ev);
}

/* ---- main ---- */

/* ---- watching: events and remote control ---- */

/* A task event (--events) for s: its name and id read from its message
 * without decoding it (events_scan); the time it was queued for, from its
 * entry id, when it is received or started. */
static void
parent_task_event(struct parent *p, const struct slot *s, const char *type,
                  double runtime_s)
{
    char task[EVENTS_ID_MAX + 1], id[EVENTS_ID_MAX + 1];
    if (!p->events.tasks && p->metrics == NULL)
        return;
    const char *queue = p->cfg->queues[s->queue];
    taskscan_message(s->msg, s->msg_len, task, id, sizeof(id));
    if (id[0] == '\0' &&
        keys_task_id(id, sizeof(id), queue, s->entry_id) < 0)
        snprintf(id, sizeof(id), "%s", s->entry_id);
    double queued = -1;
    if (strcmp(type, EVENTS_TASK_RECEIVED) == 0 ||
        strcmp(type, EVENTS_TASK_TAKEN_OVER) == 0 ||
        strcmp(type, EVENTS_TASK_STARTED) == 0) {
        long long at = taskscan_entry_ms(s->entry_id);
        long long now = result_now_us() / 1000;
        if (at > 0)
            queued = now > at ? (double)(now - at) / 1000.0 : 0.0;
    }
    if (p->metrics != NULL) {
        static const char *const outcomes[METRICS_NOUTCOMES] = {
            [METRICS_SUCCEEDED] = EVENTS_TASK_SUCCEEDED,
            [METRICS_FAILED] = EVENTS_TASK_FAILED,
            [METRICS_RETRIED] = EVENTS_TASK_RETRIED,
            [METRICS_EXPIRED] = EVENTS_TASK_EXPIRED,
        };
        if (strcmp(type, EVENTS_TASK_RECEIVED) == 0 ||
            strcmp(type, EVENTS_TASK_TAKEN_OVER) == 0)
            metrics_wait(p->metrics, s->queue, queued);
        for (int o = 0; o < METRICS_NOUTCOMES; o++)
            if (strcmp(type, outcomes[o]) == 0)
                metrics_task(p->metrics, s->queue, task,
                             (enum metrics_outcome)o, runtime_s);
    }
    if (!p->events.tasks)
        return;
    events_task(&p->events, type, id, task, queue, s->attempts, runtime_s,
                queued);
}

/* Tasks of worker `from` were taken over: it is presumed dead (once per
 * visibility timeout and worker). */
static void
parent_presumed_dead(struct parent *p, const char *from)
{
    long long now = parent_now_ms();
    int oldest = 0;
    for (int i = 0; i < 8; i++) {
        if (strcmp(p->gone[i], from) == 0 &&
            now - p->gone_ms[i] < p->cfg->visibility_ms)
            return;
        if (p->gone_ms[i] < p->gone_ms[oldest])
            oldest = i;
    }
    snprintf(p->gone[oldest], sizeof(p->gone[oldest]), "%s", from);
    p->gone_ms[oldest] = now;
    events_worker(&p->events, EVENTS_WORKER_OFFLINE, "presumed-dead", from);
}

/* The parent's gauges at a scrape of /metrics. */
static void
parent_metrics_gauges(void *arg, struct metrics_gauges *g)
{
    struct parent *p = arg;
    g->held = (long)p->slots.used;
    g->window = p->win.size;
    g->children = pool_alive(&p->pool);
    g->children_target = p->pool.active;
    g->child_restarts = p->pool.deaths;
    g->redis_reconnects = p->broker.reconnects;
    g->takeovers = p->stats.recovered;
    g->dead_letters = p->stats.dead;
}

/* The index of queue name in --queues, or -1. */
static int
parent_queue_index(const struct parent *p, const char *name)
{
    for (int q = 0; q < p->cfg->nqueues; q++)
        if (strcmp(p->cfg->queues[q], name) == 0)
            return q;
    return -1;
}

static json_t *parent_ctl_error(int *ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static json_t *
parent_ctl_error(int *ok, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    *ok = 0;
    json_t *r = json_pack("{s:s}", "error", buf);
    /* The request's own bytes may not be UTF-8. */
    return r ? r
             : json_pack("{s:s}", "error",
                         "the request is not valid UTF-8 text");
}

static json_t *
parent_ctl_paused(const struct parent *p)
{
    json_t *a = json_array();
    for (int q = 0; q < p->cfg->nqueues; q++)
        if (p->broker.paused[q])
            json_array_append_new(a, json_string(p->cfg->queues[q]));
    return a;
}

static json_t *
parent_ctl_stats(struct parent *p)
{
    const struct config *cfg = p->cfg;
    char host[256];
    if (gethostname(host, sizeof(host)) < 0)
        snprintf(host, sizeof(host), "?");
    host[sizeof(host) - 1] = '\0';
    json_t *queues = json_array();
    for (int q = 0; q < cfg->nqueues; q++)
        json_array_append_new(queues, json_string(cfg->queues[q]));
    json_t *counters = json_pack(
        "{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "received",
        (json_int_t)p->stats.received, "succeeded",
        (json_int_t)p->stats.succeeded, "failed", (json_int_t)p->stats.failed,
        "retried", (json_int_t)p->stats.retried, "expired",
        (json_int_t)p->stats.expired, "dead", (json_int_t)p->stats.dead,
        "recovered", (json_int_t)p->stats.recovered, "duplicates",
        (json_int_t)p->stats.duplicates, "child_deaths",
        (json_int_t)p->pool.deaths, "redelivered",
        (json_int_t)p->stats.redelivered);
    return json_pack(
        "{s:s,s:s,s:I,s:s,s:s,s:i,s:i,s:i,s:i,s:o,s:o,s:o,s:f,s:I}", "name",
        p->worker_name, "host", host, "pid", (json_int_t)getpid(),
        "started_at", p->started_at, "state",
        p->mode == PARENT_RUNNING ? "running" : "stopping", "concurrency",
        p->pool.active, "children_alive", pool_alive(&p->pool), "prefetch",
        cfg->prefetch, "in_flight", (int)p->slots.used, "queues", queues,
        "paused", parent_ctl_paused(p), "counters", counters, "rate_1m",
        p->rate, "redis_reconnects", (json_int_t)p->broker.reconnects);
}

/* The most tasks `inspect active` lists (the rest are counted). */
#define PARENT_ACTIVE_MAX 1000

/* The tasks in hand, not yet finished: id, queue, task, state, runtime. */
static json_t *
parent_ctl_active(struct parent *p)
{
    json_t *a = json_array();
    long long now = result_now_us();
    long more = 0;
    for (uint32_t i = 0; i < p->slots.n; i++) {
        const struct slot *s = &p->slots.slots[i];
        if (s->state == SLOT_FREE || s->state == SLOT_DONE ||
            s->state == SLOT_FINISHING)
            continue;
        if (json_array_size(a) >= PARENT_ACTIVE_MAX) {
            more++;
            continue;
        }
        char task[EVENTS_ID_MAX + 1], id[EVENTS_ID_MAX + 1];
        const char *queue = p->cfg->queues[s->queue];
        taskscan_message(s->msg, s->msg_len, task, id, sizeof(id));
        if (id[0] == '\0' &&
            keys_task_id(id, sizeof(id), queue, s->entry_id) < 0)
            snprintf(id, sizeof(id), "%s", s->entry_id);
        int started = s->started_us > 0 && (s->state == SLOT_RUNNING ||
                                            s->state == SLOT_FETCHING);
        json_array_append_new(
            a, json_pack("{s:s,s:s,s:s,s:s,s:s,s:i,s:f}", "id", id, "entry",
                         s->entry_id, "queue", queue, "task", task, "state",
                         slot_state_name(s->state), "attempt",
                         (int)s->attempts, "runtime",
                         started ? (double)(now - s->started_us) / 1e6
                                 : 0.0));
    }
    return json_pack("{s:o,s:I}", "tasks", a, "more", (json_int_t)more);
}

static json_t *
parent_ctl_registered(void)
{
    char names[REGISTRY_MAX * (REGISTRY_NAME_MAX + 2) + 1], *save = NULL;
    json_t *a = json_array();
    registry_names(names, sizeof(names));
    for (char *t = strtok_r(names, ", ", &save); t != NULL;
         t = strtok_r(NULL, ", ", &save))
        json_array_append_new(a, json_string(t));
    return json_pack("{s:o}", "tasks", a);
}

/* The effective options, as celeriac-worker --help names them. */
static json_t *
parent_ctl_conf(struct parent *p)
{
    const struct config *cfg = p->cfg;
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    int lv = (int)log_get_level();
    char *where = redisurl_describe(&cfg->url);
    json_t *queues = json_array();
    for (int q = 0; q < cfg->nqueues; q++)
        json_array_append_new(queues, json_string(cfg->queues[q]));
    json_t *o = json_pack(
        "{s:s,s:o,s:i,s:i,s:I,s:s,s:s,s:I,s:I}", "redis", where, "queues",
        queues, "concurrency", p->pool.active, "prefetch", cfg->prefetch,
        "prefetch_mib", (json_int_t)(cfg->prefetch_bytes >> 20), "name",
        p->worker_name, "prefix", cfg->prefix, "result_ttl",
        (json_int_t)cfg->result_ttl, "reply_maxlen",
        (json_int_t)(cfg->reply_maxlen ? cfg->reply_maxlen
                                       : BROKER_REPLY_MAXLEN));
    free(where);
    json_object_set_new(o, "visibility_timeout",
                        json_real(cfg->visibility_ms / 1000.0));
    json_object_set_new(o, "max_deliveries",
                        json_integer(cfg->max_deliveries));
    json_object_set_new(o, "time_limit",
                        json_real(cfg->time_limit_ms / 1000.0));
    json_object_set_new(o, "max_tasks_per_child",
                        json_integer((json_int_t)cfg->max_tasks_per_child));
    json_object_set_new(o, "max_memory_per_child",
                        json_integer((json_int_t)cfg->max_memory_kb));
    json_object_set_new(o, "heartbeat", json_real(cfg->heartbeat_ms / 1000.0));
    json_object_set_new(o, "redis_timeout",
                        json_real(cfg->redis_timeout_ms / 1000.0));
    json_object_set_new(o, "max_fetches", json_integer(cfg->max_fetches));
    json_object_set_new(o, "per_host", json_integer(cfg->per_host));
    json_object_set_new(o, "cluster_per_host",
                        json_integer(cfg->cluster_per_host));
    json_object_set_new(o, "max_redirects", json_integer(cfg->max_redirects));
    json_object_set_new(o, "max_fetch_bytes",
                        json_integer((json_int_t)cfg->max_fetch_bytes));
    json_object_set_new(o, "connect_timeout",
                        json_real(cfg->connect_ms / 1000.0));
    json_object_set_new(o, "first_byte_timeout",
                        json_real(cfg->first_byte_ms / 1000.0));
    json_object_set_new(o, "fetch_timeout", json_real(cfg->fetch_ms / 1000.0));
    json_object_set_new(o, "upload_timeout",
                        json_real(cfg->upload_ms / 1000.0));
    json_object_set_new(o, "files_root", cfg->files_root
                                             ? json_string(cfg->files_root)
                                             : json_null());
    json_object_set_new(o, "sandbox", json_string(cfg->sandbox ? "on" : "off"));
    json_object_set_new(o, "log_level",
                        json_string(lv >= 0 && lv < 4 ? levels[lv] : "?"));
    json_object_set_new(o, "events", json_boolean(cfg->events));
    json_object_set_new(o, "metrics", cfg->metrics_addr
                                          ? json_string(cfg->metrics_addr)
                                          : json_null());
    json_object_set_new(o, "shard", json_integer(cfg->shard));
    json_object_set_new(o, "shards", json_integer(cfg->nshards));
    return o;
}

/* Parses the N of grow N / shrink N: 1 to 256. */
static int
parent_ctl_count(const char *arg)
{
    char *end;
    long n = strtol(arg, &end, 10);
    if (end == arg || *end != '\0' || n < 1 || n > 256)
        return -1;
    return (int)n;
}

/* Answers a control request (control.h; PROTOCOL.md, "Control"). */
static json_t *
parent_on_control(void *arg, const struct control_req *rq, int *ok)
{
    struct parent *p = arg;
    const char *cmd = rq->cmd;
    *ok = 1;
    if (strcmp(cmd, "ping") == 0)
        return json_pack("{s:b,s:s}", "pong", 1, "state",
                         p->mode == PARENT_RUNNING ? "running" : "stopping");
    if (strcmp(cmd, "stats") == 0)
        return parent_ctl_stats(p);
    if (strcmp(cmd, "active") == 0)
        return parent_ctl_active(p);
    if (strcmp(cmd, "registered") == 0)
        return parent_ctl_registered();
    if (strcmp(cmd, "conf") == 0)
        return parent_ctl_conf(p);
    if (strcmp(cmd, "shutdown") == 0) {
        if (p->mode == PARENT_RUNNING) {
            log_info("control: warm shutdown — no new tasks, finishing %u "
                     "in hand",
                     p->slots.used);
            p->mode = PARENT_WARM;
            parent_kick(p);
        }
        return json_pack("{s:s,s:i}", "shutdown", "warm", "in_flight",
                         (int)p->slots.used);
    }
    if (strcmp(cmd, "pause") == 0 || strcmp(cmd, "resume") == 0) {
        int on = cmd[0] == 'p';
        int q = parent_queue_index(p, rq->arg);
        if (q < 0)
            return parent_ctl_error(ok, "this worker does not consume a "
                                        "queue named '%.100s'",
                                    rq->arg);
        if (p->broker.paused[q] != on) {
            broker_pause(&p->broker, q, on);
            log_info("control: %s queue %s", on ? "paused" : "resumed",
                     rq->arg);
            /* The read in flight names the old set of queues. */
            broker_unblock(&p->broker);
            parent_kick(p);
        }
        return json_pack("{s:o}", "paused", parent_ctl_paused(p));
    }
    if (strcmp(cmd, "grow") == 0 || strcmp(cmd, "shrink") == 0) {
        int n = parent_ctl_count(rq->arg);
        if (n < 0)
            return parent_ctl_error(ok, "%s needs a number of children "
                                        "from 1 to 256, not '%.40s'",
                                    cmd, rq->arg);
        int want = cmd[0] == 'g' ? p->pool.active + n : p->pool.active - n;
        int got = pool_resize(&p->pool, want);
        json_t *r = json_pack("{s:i,s:i}", "concurrency", got, "max",
                              p->pool.n);
        if (got != want)
            json_object_set_new(r, "limited",
                                json_string(got < want
                                                ? "at most the --concurrency "
                                                  "given times 4 (up to 256)"
                                                : "at least one child"));
        return r;
    }
    if (strcmp(cmd, "loglevel") == 0) {
        int lv = log_parse_level(rq->arg);
        if (lv < 0)
            return parent_ctl_error(ok, "the log level must be error, warn, "
                                        "info or debug, not '%.40s'",
                                    rq->arg);
        log_set_level((enum log_level)lv);
        log_info("control: log level set to %s", rq->arg);
        return json_pack("{s:s}", "loglevel", rq->arg);
    }
    return parent_ctl_error(ok, "unknown command '%.64s'; see celeriac "
                                "inspect --help and celeriac control --help",
                            cmd);
}

int
parent_main(const struct config *cfg)
{
    struct parent *p = xcalloc(1, sizeof(*p));
    int rc = 1;

    /* Upload entries and fetched pieces (1 to 4 MiB, in hiredis replies
     * and frame buffers) come from the heap and are reused, not mapped
     * and faulted in afresh each time (that tripled the parent's CPU per
     * uploaded byte); a buffer over 8 MiB is still mapped on its own. */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    p->cfg = cfg;
    parent_self = p;
    /* Results are JSON: a name that is not UTF-8 would make every
     * result fail to encode. */
    failure_text(p->worker_name, sizeof(p->worker_name), cfg->name);
    p->env.worker = p->worker_name;
    p->env.prefix = cfg->prefix;
    p->env.default_time_limit_ms = cfg->time_limit_ms;
    p->env.report_rss = cfg->max_memory_kb > 0;
    result_format_time(p->started_at, result_now_us());
    size_t ql = 1;
    for (int q = 0; q < cfg->nqueues; q++)
        ql += strlen(cfg->queues[q]) + 1;
    p->queue_list = xcalloc(1, ql);
    for (int q = 0; q < cfg->nqueues; q++) {
        if (q)
            strcat(p->queue_list, ",");
        strcat(p->queue_list, cfg->queues[q]);
    }
    p->base = event_base_new();
    if (p->base == NULL) {
        log_error("cannot create the event loop");
        free(p->queue_list);
        free(p);
        return 1;
    }
    /* Room for --prefetch tasks being computed, as many results being
     * stored, a read that returns `count` from every queue, the
     * take-over reserve, and as many tasks held back by limits. */
    slot_table_init(&p->slots,
                    (uint32_t)(2 * cfg->prefetch + cfg->nqueues - 1 +
                               parent_claim_reserve(cfg) + cfg->prefetch));
    recent_init(&p->finished, 2 * (size_t)p->slots.n);
    TAILQ_INIT(&p->ready);
    p->done = xcalloc((size_t)cfg->nqueues, sizeof(*p->done));
    for (int q = 0; q < cfg->nqueues; q++)
        TAILQ_INIT(&p->done[q]);
    p->pump_ev = event_new(p->base, -1, 0, parent_pump_cb, p);
    p->hold_ev = evtimer_new(p->base, parent_hold_cb, p);
    p->beat_ev = event_new(p->base, -1, EV_PERSIST, parent_beat_cb, p);
    p->maint_ev = event_new(p->base, -1, EV_PERSIST, parent_maint_cb, p);
    p->touch_ev = event_new(p->base, -1, EV_PERSIST, parent_touch_cb, p);
    p->sigterm_ev = evsignal_new(p->base, SIGTERM, parent_signal_cb, p);
    p->sigint_ev = evsignal_new(p->base, SIGINT, parent_signal_cb, p);
    evsignal_add(p->sigterm_ev, NULL);
    evsignal_add(p->sigint_ev, NULL);
    if (parent_fetch_init(p) < 0) {
        rc = BROKER_EXIT_CONFIG;
        goto out;
    }
    long ms = cfg->heartbeat_ms;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->beat_ev, &tv);
    ms = cfg->visibility_ms / 4 < 1000 ? cfg->visibility_ms / 4 : 1000;
    tv = (struct timeval){ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->maint_ev, &tv);
    ms = cfg->visibility_ms / 3;
    tv = (struct timeval){ms / 1000, (ms % 1000) * 1000};
    evtimer_add(p->touch_ev, &tv);

    /* Children first: they are forked before any Redis socket exists. */
    unsigned child_max =
        (unsigned)((cfg->prefetch + cfg->concurrency - 1) / cfg->concurrency);
    const struct pool_cbs pcbs = {
        .result = parent_on_result,
        .lost = parent_on_lost,
        .requeue = parent_on_requeue,
        .idle = parent_on_idle,
        .stopped = parent_on_stopped,
        .drained = parent_on_drained,
        .reaped = parent_on_reaped,
    };
    window_init(&p->win, cfg->concurrency, (unsigned)cfg->prefetch,
                cfg->window_fixed);
    p->pool.max_tasks = cfg->max_tasks_per_child;
    /* celeriac control grow: up to 4 x --concurrency children, 256 at
     * most (the --concurrency limit). */
    p->pool.grow_max = 4 * cfg->concurrency < 256 ? 4 * cfg->concurrency
                                                  : 256;
    if (p->pool.grow_max < cfg->concurrency)
        p->pool.grow_max = cfg->concurrency;
    /* One for every place of the pool (pool.n), grown children too. */
    p->child_last_us =
        xcalloc((size_t)p->pool.grow_max, sizeof(*p->child_last_us));
    p->child_timed =
        xcalloc((size_t)p->pool.grow_max, sizeof(*p->child_timed));
    p->pool.max_rss_kb = cfg->max_memory_kb;
    if (pool_start(&p->pool, p->base, cfg->concurrency, child_max, &p->slots,
                   cfg->queues, &p->env, &pcbs, p) < 0) {
        log_error("no child process could be started");
        goto out;
    }
    /* The beat process too, before any Redis socket exists. */
    if (cfg->beat_file != NULL) {
        failure_text(p->beat_shown, sizeof(p->beat_shown), cfg->beat);
        p->beat_conf = (struct beatrun_conf){.bf = cfg->beat_file,
                                             .url = &cfg->url,
                                             .prefix = cfg->prefix,
                                             .lease_ms = cfg->beat_lease_ms,
                                             .quiet = log_get_level() <
                                                      LOG_LEVEL_DEBUG,
                                             .tls = &cfg->tls};
        if (beatproc_start(&p->beatp, p->base, &p->beat_conf) < 0)
            goto out;
    }
    const struct broker_cbs bcbs = {
        .ready = parent_on_ready,
        .entry = parent_on_entry,
        .read_done = parent_on_read_done,
        .finished = parent_on_finished,
        .unfinished = parent_on_unfinished,
        .refused = parent_on_refused,
        .beat = parent_on_beat,
        .taken = parent_on_taken,
        .claim_done = parent_on_claim_done,
        .moved = parent_on_moved,
        .fatal = parent_on_fatal,
    };
    if (tlsgate_start(p->base, &cfg->url, &cfg->tls,
                      cfg->redis_timeout_ms) < 0) {
        rc = BROKER_EXIT_CONFIG; /* TMPDIR or the --tls-* files */
        goto out;
    }
    if (broker_start(&p->broker, p->base, &cfg->url, cfg->prefix, cfg->queues,
                     cfg->nqueues, cfg->name, cfg->result_ttl,
                     cfg->redis_timeout_ms, cfg->block_ms, &p->slots, &bcbs,
                     p) < 0)
        goto out;
    p->broker.reply_maxlen = cfg->reply_maxlen;
    p->broker.durable = cfg->durable_results;
    events_init(&p->events, &p->broker, cfg->prefix, cfg->name, cfg->events);
    if (cfg->metrics_addr != NULL) {
        p->metrics = metrics_start(p->base, cfg->metrics_addr, &p->broker,
                                   cfg->prefix, p->worker_name, cfg->queues,
                                   cfg->nqueues, parent_metrics_gauges, p);
        if (p->metrics == NULL) {
            rc = BROKER_EXIT_CONFIG;
            goto out;
        }
    }
    char pwhy[8];
    if (priority_parse(&p->prio, cfg->priority, cfg->queues, cfg->nqueues,
                       pwhy, sizeof(pwhy)) == 0) /* checked by main */
        p->broker.prio = &p->prio;
    const struct throttle_cbs tcbs = {.admit = parent_on_admit};
    if (throttle_init(&p->limits, cfg->limits, cfg->nlimits, p->base,
                      &p->broker, &p->slots, cfg->prefix, cfg->name,
                      cfg->queues, parent_lease_ms(p), &tcbs, p) < 0)
        goto out;
    char *where = redisurl_describe(&cfg->url);
    log_info("celeriac-worker %s: %d children, prefetch %d, queues %s, "
             "Redis %s",
             cfg->name, cfg->concurrency, cfg->prefetch, p->queue_list, where);
    free(where);

    event_base_dispatch(p->base);
    rc = p->exit_code;
    log_info("stopped: %lu received (%lu taken over), %lu succeeded, %lu "
             "failed, %lu retried, %lu expired, %lu dead-lettered, %lu run "
             "again after a child died, %lu duplicates",
             p->stats.received, p->stats.recovered, p->stats.succeeded,
             p->stats.failed, p->stats.retried, p->stats.expired,
             p->stats.dead, p->stats.redelivered, p->stats.duplicates);
out:
    if (p->control_on)
        control_stop(&p->control);
    p->broker.stopping = 1;
    broker_free(&p->broker);
    tlsgate_stop(); /* after every Redis connection */
    metrics_free(p->metrics); /* after the broker: it may answer it */
    throttle_free(&p->limits);
    priority_free(&p->prio);
    beatproc_finish(&p->beatp, PARENT_BEAT_STOP_MS);
    beatproc_free(&p->beatp);
    pool_kill(&p->pool);
    pool_reap(&p->pool); /* no zombie outlives us */
    pool_free(&p->pool);
    free(p->child_last_us);
    free(p->child_timed);
    parent_fetch_free(p);
    event_free(p->pump_ev);
    event_free(p->hold_ev);
    event_free(p->beat_ev);
    event_free(p->maint_ev);
    event_free(p->touch_ev);
    event_free(p->sigterm_ev);
    event_free(p->sigint_ev);
    event_base_free(p->base);
    slot_table_free(&p->slots);
    recent_free(&p->finished);
    revoked_clear(&p->revoked);
    free(p->done);
    free(p->queue_list);
    free(p);
    return rc;
}
