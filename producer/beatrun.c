/* SPDX-License-Identifier: MIT */
/* The beat engine: lease, ticks, firing; see beatrun.h. */
#include "beatrun.h"

#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beatplan.h"
#include "cli.h"
#include "conn.h"
#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "submit.h"
#include "token.h"
#include "xmalloc.h"

/* A fired tick's outcome (scripts_beat_fire). */
enum beat_fired { BEAT_FIRED, BEAT_DONE_BEFORE, BEAT_NOT_LEADER,
                  BEAT_ERROR };

struct beat {
    struct conn conn;
    const struct beatfile *bf; /* borrowed */
    const char *prefix;
    char k_lease[KEYS_MAX], k_token[KEYS_MAX], k_last[KEYS_MAX];
    char (*streams)[KEYS_MAX]; /* per entry; owned */
    int64_t *next;             /* per entry: next tick not yet handled */
    char me[128];              /* this instance's id */
    char held[192];            /* the lease value held; "" none */
    char token[32];            /* its fencing token */
    int leader;
    int64_t lease_ms;
    int quiet;
    int transient; /* the last error was LOADING or BUSY */
    int64_t renewed_us; /* cli_now_us() of the last lease call */
    uint64_t fired;
};

static volatile sig_atomic_t beat_stop;

static void
beat_on_signal(int sig)
{
    (void)sig;
    beat_stop = 1;
}

/*
 * Reports an error reply; one Redis gives only for a while (LOADING after
 * a restart, BUSY) is noted instead, to be waited out.
 */
static void
beat_error(struct beat *b, const char *what, const redisReply *r)
{
    if (conn_transient(r)) {
        b->transient = 1;
        log_info("beat: Redis answered %s with %.80s; trying again", what,
                 r->str);
        return;
    }
    conn_report_error(&b->conn, what, r);
}

/* Redis' clock in ms, or -1 (see the conn.h error convention). */
static int64_t
beat_redis_ms(struct beat *b)
{
    redisReply *r = conn_call(&b->conn, "TIME", NULL);
    int64_t ms = -1;
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING)
        ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
             strtoll(r->element[1]->str, NULL, 10) / 1000;
    else
        beat_error(b, "TIME", r);
    freeReplyObject(r);
    return ms;
}

/* Creates the consumer group of every queue named (once per queue). */
static int
beat_groups(struct beat *b)
{
    for (size_t i = 0; i < b->bf->n; i++) {
        const char *q = b->bf->entries[i].queue;
        size_t j = 0;
        while (j < i && strcmp(b->bf->entries[j].queue, q) != 0)
            j++;
        if (j < i)
            continue;
        struct submit s;
        if (submit_init(&s, &b->conn, b->prefix, q) < 0 ||
            submit_ensure_group(&s) < 0)
            return -1;
    }
    return 0;
}

/*
 * Starts leading at now_s: each entry's next tick from <prefix>beat:last,
 * where scripts_beat_start marks each entry never fired as handled up to
 * now_s - 1 (so that if this leader dies, the next one owes the ticks
 * from there: none is skipped).  Returns 0 (b->leader is 0 if the lease
 * was lost meanwhile), or -1.
 */
static int
beat_lead(struct beat *b, int64_t now_s)
{
    const char *p = strrchr(b->held, ' ');
    snprintf(b->token, sizeof(b->token), "%s", p != NULL ? p + 1 : "");
    if (beat_groups(b) < 0)
        return -1;
    char since[32];
    snprintf(since, sizeof(since), "%" PRId64, now_s - 1);
    size_t argc = 9 + b->bf->n;
    const char **argv = xcalloc(argc, sizeof(*argv));
    size_t *lens = xcalloc(argc, sizeof(*lens));
    argv[0] = "EVAL";
    argv[1] = scripts_beat_start;
    argv[2] = "3";
    argv[3] = b->k_lease;
    argv[4] = b->k_token;
    argv[5] = b->k_last;
    argv[6] = b->held;
    argv[7] = b->token;
    argv[8] = since;
    for (size_t i = 0; i < b->bf->n; i++)
        argv[9 + i] = b->bf->entries[i].name;
    for (size_t i = 0; i < argc; i++)
        lens[i] = strlen(argv[i]);
    redisReply *r = conn_command(&b->conn, (int)argc, argv, lens);
    free(argv);
    free(lens);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) {
        log_info("beat: the lease was lost (%s) before leading; following",
                 r->str);
        b->held[0] = '\0';
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != b->bf->n) {
        beat_error(b, "the beat start script", r);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < b->bf->n; i++) {
        const struct beatfile_entry *e = &b->bf->entries[i];
        const redisReply *v = r->element[i];
        int64_t last = v->type == REDIS_REPLY_STRING
                           ? strtoll(v->str, NULL, 10)
                           : now_s - 1;
        b->next[i] = cron_next(&e->cron, last);
    }
    freeReplyObject(r);
    b->leader = 1;
    log_info("beat: leading as %s (fencing token %s), %zu entries",
             b->me, b->token, b->bf->n);
    return 0;
}

/*
 * One lease call (acquire/renew).  A new leader starts leading at now_s
 * (Redis' clock); with now_s < 0 it only renews (b->leader is then 0 if
 * the lease is not held as it was).  Returns 0, or -1 (lost connection,
 * or an error already printed).
 */
static int
beat_lease(struct beat *b, int64_t now_s)
{
    char ms[32];
    snprintf(ms, sizeof(ms), "%" PRId64, b->lease_ms);
    redisReply *r = conn_call(&b->conn, "EVAL", scripts_beat_lease, "2",
                              b->k_lease, b->k_token, SCRIPTS_BEAT_ACQUIRE,
                              b->held, ms, b->me, NULL);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        beat_error(b, "the beat lease script", r);
        freeReplyObject(r);
        return -1;
    }
    long long state = r->element[0]->integer;
    if (state == 0) {
        if (b->leader)
            log_info("beat: the lease is held by %s now; following",
                     r->element[1]->str);
        b->leader = 0;
        b->held[0] = '\0';
        freeReplyObject(r);
        return 0;
    }
    snprintf(b->held, sizeof(b->held), "%s", r->element[1]->str);
    freeReplyObject(r);
    b->renewed_us = cli_now_us();
    if (state == 2 && b->leader) {
        /* The lease had expired: a new token, so start afresh. */
        log_info("beat: the lease had expired; leading again");
        b->leader = 0;
    }
    if (!b->leader && now_s >= 0)
        return beat_lead(b, now_s);
    return 0;
}

/* Fires entry i's tick at t. */
static enum beat_fired
beat_fire(struct beat *b, size_t i, int64_t t)
{
    const struct beatfile_entry *e = &b->bf->entries[i];
    char at[32];
    size_t len;
    char *msg = beatfile_message(e, t, &len);
    if (msg == NULL) {
        log_error("beat: %s: cannot build the task message (out of memory?)",
                  e->name);
        return BEAT_ERROR;
    }
    snprintf(at, sizeof(at), "%" PRId64, t);
    const char *argv[] = {"EVAL",    scripts_beat_fire, "4",      b->k_lease,
                          b->k_token, b->k_last,        b->streams[i],
                          b->held,   b->token,          e->name,  at,
                          msg};
    size_t lens[sizeof(argv) / sizeof(argv[0])];
    for (size_t k = 0; k < sizeof(argv) / sizeof(argv[0]); k++)
        lens[k] = strlen(argv[k]);
    lens[11] = len;
    redisReply *r = conn_command(&b->conn, 12, argv, lens);
    free(msg);
    if (r == NULL)
        return BEAT_ERROR;
    enum beat_fired out = BEAT_ERROR;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        out = BEAT_FIRED;
        b->fired++;
        if (!b->quiet)
            log_info("beat: fired %s at %s (task id beat:%s:%s) to %s",
                     e->name, at, e->name, at, e->queue);
    } else if (r->type == REDIS_REPLY_INTEGER && r->integer == 0) {
        out = BEAT_DONE_BEFORE;
    } else if (r->type == REDIS_REPLY_STRING ||
               r->type == REDIS_REPLY_STATUS) {
        log_info("beat: the lease was lost (%s) before %s at %s; following",
                 r->str, e->name, at);
        b->leader = 0;
        b->held[0] = '\0';
        out = BEAT_NOT_LEADER;
    } else {
        beat_error(b, "the beat fire script", r);
    }
    freeReplyObject(r);
    /* A long catch-up keeps the lease: renewed as often as the loop does
     * (durations on the local monotonic clock only). */
    if ((out == BEAT_FIRED || out == BEAT_DONE_BEFORE) &&
        cli_now_us() - b->renewed_us > b->lease_ms * 1000 / 3) {
        if (beat_lease(b, -1) < 0)
            return BEAT_ERROR;
        if (!b->leader)
            return BEAT_NOT_LEADER;
    }
    return out;
}

/*
 * Fires entry i's ticks due at now_s (beatplan.h).  Returns 0, 1 when the
 * lease was lost, -1 on an error.
 */
static int
beat_due(struct beat *b, size_t i, int64_t now_s)
{
    const struct beatfile_entry *e = &b->bf->entries[i];
    struct beatplan p;
    int rc = 0;

    beatplan_due(&e->cron, e->misfire, e->max_catchup, e->grace, b->next[i],
                 now_s, &p);
    if (p.missed) {
        size_t old = 0;
        while (old < p.n && p.ticks[old] < p.edge)
            old++;
        log_info("beat: %s missed ticks from %" PRId64 " to before %" PRId64
                 " (misfire=%s): firing %zu of them",
                 e->name, b->next[i], p.edge,
                 beatfile_misfire_name(e->misfire), old);
    }
    for (size_t k = 0; k < p.n && rc == 0; k++) {
        enum beat_fired f = beat_fire(b, i, p.ticks[k]);
        rc = f == BEAT_ERROR ? -1 : f == BEAT_NOT_LEADER ? 1 : 0;
    }
    free(p.ticks);
    if (rc == 0)
        b->next[i] = p.next;
    return rc;
}

static void
beat_sleep_ms(int64_t ms)
{
    if (ms <= 0 || beat_stop)
        return;
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL); /* a signal ends it early: fine */
}

/*
 * Handles a failed step: waits out a transient error, reconnects after a
 * loss (until it works or a signal stops beat), else gives up (-1).
 */
static int
beat_recover(struct beat *b, const char *doing)
{
    if (b->transient) {
        b->transient = 0;
        beat_sleep_ms(500);
        return 0;
    }
    if (!conn_lost(&b->conn))
        return -1;
    if (b->leader)
        log_info("beat: not leading while disconnected");
    b->leader = 0;
    conn_report_lost(&b->conn, doing);
    redisFree(b->conn.ctx);
    b->conn.ctx = NULL;
    for (int64_t ms = 100; !beat_stop; ms = ms * 2 > 2000 ? 2000 : ms * 2) {
        if (conn_connect(&b->conn) == 0) {
            log_info("beat: reconnected to Redis");
            return 0;
        }
        beat_sleep_ms(ms);
    }
    return 0;
}

static int
beat_run(struct beat *b)
{
    int64_t renew_at = 0; /* Redis ms of the next lease call */

    if (conn_connect(&b->conn) < 0)
        return CLI_EXIT_REDIS;
    log_info("beat: %s started with %zu entries, lease %" PRId64 " ms",
             b->me, b->bf->n, b->lease_ms);
    while (!beat_stop) {
        int64_t now_ms = beat_redis_ms(b);
        if (now_ms < 0) {
            if (beat_recover(b, "asking for the time") < 0)
                return CLI_EXIT_REDIS;
            continue;
        }
        int64_t now_s = now_ms / 1000;
        if (now_ms >= renew_at) {
            if (beat_lease(b, now_s) < 0) {
                if (beat_recover(b, "renewing the lease") < 0)
                    return CLI_EXIT_REDIS;
                continue;
            }
            renew_at = now_ms + b->lease_ms / 3;
        }
        int64_t wake = renew_at;
        for (size_t i = 0; b->leader && i < b->bf->n; i++) {
            int r = beat_due(b, i, now_s);
            if (r < 0) {
                if (beat_recover(b, "firing a task") < 0)
                    return CLI_EXIT_REDIS;
                break;
            }
            if (r > 0)
                break;
            if (b->next[i] >= 0 && b->next[i] * 1000 < wake)
                wake = b->next[i] * 1000;
        }
        if (!b->leader)
            wake = renew_at;
        beat_sleep_ms(wake - now_ms);
    }
    if (b->held[0] != '\0' && !conn_lost(&b->conn)) {
        redisReply *r = conn_call(&b->conn, "EVAL", scripts_beat_lease, "2",
                                  b->k_lease, b->k_token,
                                  SCRIPTS_BEAT_RELEASE, b->held, "1", b->me,
                                  NULL);
        if (r != NULL)
            freeReplyObject(r);
    }
    log_info("beat: stopped; %" PRIu64 " tasks fired here", b->fired);
    return CLI_EXIT_OK;
}

int
beatrun_serve(const struct beatrun_conf *c)
{
    struct beat b;
    int rc;

    memset(&b, 0, sizeof(b));
    b.bf = c->bf;
    b.prefix = c->prefix;
    b.lease_ms = c->lease_ms;
    b.quiet = c->quiet;
    if (keys_beat_lease(b.k_lease, KEYS_MAX, b.prefix) < 0 ||
        keys_beat_token(b.k_token, KEYS_MAX, b.prefix) < 0 ||
        keys_beat_last(b.k_last, KEYS_MAX, b.prefix) < 0) {
        cli_warnx("beat: --prefix is too long");
        return CLI_EXIT_USAGE;
    }
    b.streams = xcalloc(b.bf->n, sizeof(*b.streams));
    b.next = xcalloc(b.bf->n, sizeof(*b.next));
    for (size_t i = 0; i < b.bf->n; i++)
        if (keys_queue(b.streams[i], KEYS_MAX, b.prefix,
                       b.bf->entries[i].queue) < 0) {
            cli_warnx("beat: --prefix is too long");
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    char host[64] = "", rnd[9];
    gethostname(host, sizeof(host) - 1);
    token_hex(rnd, 8);
    snprintf(b.me, sizeof(b.me), "%s:%ld:%s", host[0] ? host : "host",
             (long)getpid(), rnd);
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = beat_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    if ((c->url != NULL ? conn_init_url(&b.conn, c->url)
                        : conn_init(&b.conn, c->redis, c->prefix)) < 0) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    rc = beat_run(&b);
    conn_close(&b.conn);
done:
    free(b.streams);
    free(b.next);
    return rc;
}
