/* SPDX-License-Identifier: MIT */
/* `celeriac beat`: periodic tasks, fired once by the lease holder. */
#include "beat.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "beatfile.h"
#include "beatplan.h"
#include "conn.h"
#include "keys.h"
#include "log.h"
#include "scripts.h"
#include "submit.h"
#include "token.h"
#include "xmalloc.h"

#define BEAT_OPT_CHECK 0x1400
#define BEAT_OPT_LIST 0x1401
#define BEAT_OPT_COUNT 0x1402
#define BEAT_OPT_LEASE 0x1403

/* A fired tick's outcome (scripts_beat_fire). */
enum beat_fired { BEAT_FIRED, BEAT_DONE_BEFORE, BEAT_NOT_LEADER,
                  BEAT_ERROR };

struct beat {
    struct conn conn;
    struct beatfile bf;
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

/* clang-format off */
void
beat_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac beat [--lease S] [-q] FILE\n"
"       celeriac beat --check FILE\n"
"       celeriac beat --list FILE [--count N]\n"
"\n"
"Fires the periodic tasks of the schedule FILE: puts each task on its\n"
"queue at its times.  Run as many instances as you like: a lease in Redis\n"
"elects one to fire, another takes over within the lease time when it\n"
"dies, and every tick is fired once (task id beat:NAME:UNIXTIME).  Times\n"
"are Redis' clock (TIME), not this machine's.\n"
"\n"
"FILE has one task per line (blank lines and lines starting with # are\n"
"ignored):\n"
"  NAME SCHEDULE TASK [KEY=VALUE...] [ARGS-JSON]\n"
"  SCHEDULE  five cron fields (minute hour day month weekday), or @every N\n"
"            (30s, 5m, 1h, 2d), @hourly, @daily, @weekly, @monthly,\n"
"            @yearly\n"
"  KEY=VALUE queue=Q, tz=ZONE (IANA, default UTC), misfire=once|skip|all,\n"
"            max_catchup=N (100), grace=DURATION (60s), expires=DURATION\n"
"            (after the scheduled time), time_limit=S, max_retries=N\n"
"  ARGS-JSON the task's arguments, a JSON object\n"
"A tick later than grace (after downtime) is missed: misfire=once fires\n"
"the latest missed tick, skip none, all each of the latest max_catchup.\n"
"\n"
"  --check FILE   check the file and exit: errors as FILE:LINE: reason\n"
"  --list FILE    print each entry's next firing times (this machine's\n"
"                 clock), in UTC and in the entry's time zone\n"
"  --count N      with --list: how many times per entry (default 5)\n"
"  --lease S      the leader lease in seconds (default 5; 0.5 to 3600):\n"
"                 renewed every third of it; a dead leader is replaced\n"
"                 within about 4/3 of it\n"
"  -q, --quiet    do not log every task fired (leader changes still are)\n"
"\n%s"
"\n"
"Exit codes: 0 stopped by SIGINT/SIGTERM (or the file is good), 1 the file\n"
"has errors, 2 usage error, 4 Redis unreachable or refused a command.\n"
"\n"
"Example line:\n"
"  nightly 30 2 * * * hash tz=Europe/Berlin expires=1h {\"data\": \"abc\"}\n",
            cli_global_help);
}
/* clang-format on */

static int64_t
beat_wall_s(void)
{
    return (int64_t)time(NULL);
}

/* `beat --list`. */
static int
beat_list(const struct beatfile *bf, int count)
{
    int64_t now = beat_wall_s();
    for (size_t i = 0; i < bf->n; i++) {
        const struct beatfile_entry *e = &bf->entries[i];
        int64_t t = now;
        for (int k = 0; k < count; k++) {
            char local[96], utc[32];
            t = cron_next(&e->cron, t);
            if (t < 0) {
                printf("%s\tnever\n", e->name);
                break;
            }
            time_t tt = (time_t)t;
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("%s\t%s\t%s\n", e->name, utc,
                   cron_format_local(&e->cron, t, local, sizeof(local)));
        }
    }
    return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
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
    for (size_t i = 0; i < b->bf.n; i++) {
        const char *q = b->bf.entries[i].queue;
        size_t j = 0;
        while (j < i && strcmp(b->bf.entries[j].queue, q) != 0)
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

/* Starts leading: each entry's next tick from <prefix>beat:last. */
static int
beat_lead(struct beat *b, int64_t now_s)
{
    const char *p = strrchr(b->held, ' ');
    snprintf(b->token, sizeof(b->token), "%s", p != NULL ? p + 1 : "");
    if (beat_groups(b) < 0)
        return -1;
    for (size_t i = 0; i < b->bf.n; i++) {
        const struct beatfile_entry *e = &b->bf.entries[i];
        redisReply *r = conn_call(&b->conn, "HGET", b->k_last, e->name, NULL);
        if (r == NULL)
            return -1;
        if (r->type == REDIS_REPLY_ERROR) {
            beat_error(b, "HGET of the last fired ticks", r);
            freeReplyObject(r);
            return -1;
        }
        int64_t last = -1;
        if (r->type == REDIS_REPLY_STRING)
            last = strtoll(r->str, NULL, 10);
        freeReplyObject(r);
        b->next[i] = cron_next(&e->cron, last >= 0 ? last : now_s - 1);
    }
    b->leader = 1;
    log_info("beat: leading as %s (fencing token %s), %zu entries",
             b->me, b->token, b->bf.n);
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
    const struct beatfile_entry *e = &b->bf.entries[i];
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
    const struct beatfile_entry *e = &b->bf.entries[i];
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
             b->me, b->bf.n, b->lease_ms);
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
        for (size_t i = 0; b->leader && i < b->bf.n; i++) {
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
beat_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"check", no_argument, NULL, BEAT_OPT_CHECK},
        {"list", no_argument, NULL, BEAT_OPT_LIST},
        {"count", required_argument, NULL, BEAT_OPT_COUNT},
        {"lease", required_argument, NULL, BEAT_OPT_LEASE},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct beat b;
    int opt, check = 0, list = 0, count = 5, rc = CLI_EXIT_USAGE;
    int64_t lease_us = BEAT_DEFAULT_LEASE_MS * 1000LL;

    memset(&b, 0, sizeof(b));
    while ((opt = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (opt) {
        case BEAT_OPT_CHECK:
            check = 1;
            break;
        case BEAT_OPT_LIST:
            list = 1;
            break;
        case BEAT_OPT_COUNT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 10000)
                return cli_usage("beat", "--count '%s': expected 1 to 10000",
                                 optarg);
            count = (int)v;
            break;
        }
        case BEAT_OPT_LEASE:
            if (cli_parse_seconds(optarg, &lease_us) < 0 ||
                lease_us < 500000 || lease_us > 3600000000LL)
                return cli_usage("beat",
                                 "--lease '%s': expected seconds from 0.5 "
                                 "to 3600",
                                 optarg);
            break;
        case 'q':
            b.quiet = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            beat_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("beat", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind + 1 != argc)
        return cli_usage("beat", optind >= argc
                                     ? "no schedule FILE given"
                                     : "one schedule FILE only");
    if (check && list)
        return cli_usage("beat", "give --check or --list, not both");
    const char *path = argv[optind];
    if (beatfile_load(&b.bf, path) < 0)
        return CLI_EXIT_FAILED;
    if (b.bf.errors > 0) {
        cli_warnx("%s: %d bad line%s", path, b.bf.errors,
                  b.bf.errors == 1 ? "" : "s");
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    if (check) {
        printf("%s: %zu entr%s, no errors\n", path, b.bf.n,
               b.bf.n == 1 ? "y" : "ies");
        rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        goto done;
    }
    if (list) {
        rc = beat_list(&b.bf, count);
        goto done;
    }
    if (b.bf.n == 0) {
        cli_warnx("%s has no entries: nothing to fire", path);
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    b.prefix = cli->prefix;
    b.lease_ms = lease_us / 1000;
    if (keys_beat_lease(b.k_lease, KEYS_MAX, b.prefix) < 0 ||
        keys_beat_token(b.k_token, KEYS_MAX, b.prefix) < 0 ||
        keys_beat_last(b.k_last, KEYS_MAX, b.prefix) < 0) {
        rc = cli_usage("beat", "--prefix is too long");
        goto done;
    }
    b.streams = xcalloc(b.bf.n, sizeof(*b.streams));
    b.next = xcalloc(b.bf.n, sizeof(*b.next));
    for (size_t i = 0; i < b.bf.n; i++)
        if (keys_queue(b.streams[i], KEYS_MAX, b.prefix,
                       b.bf.entries[i].queue) < 0) {
            rc = cli_usage("beat", "--prefix is too long");
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
    if (conn_init(&b.conn, cli->redis) < 0) {
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    rc = beat_run(&b);
    conn_close(&b.conn);
done:
    free(b.streams);
    free(b.next);
    beatfile_free(&b.bf);
    return rc;
}
