/* SPDX-License-Identifier: MIT */
/*
 * rawredis: the Redis ceiling of the benchmark.  It does exactly the Redis
 * work celeriac does for each task, pipelined, and nothing else: no JSON
 * parsing, no hashing, no child processes.  What it reaches is the best any
 * worker could do on the same Redis.
 *
 *   rawredis send     pipelined XADD of protocol v1 task messages
 *   rawredis work     XREADGROUP COUNT n, then one EVALSHA of scripts_finish
 *                     per batch (mode F: one XACK, a SET per task, XTRIM or
 *                     XDEL of the finished entries),
 *                     sent with the next XREADGROUP; --reads N
 *                     XREADGROUPs in flight (default 1: with 2, Redis held
 *                     two large replies and spent twice the CPU on W2);
 *                     COUNT is cut so that a read brings about --read-kib
 *                     of messages (default 1024: Redis's CPU per 256 KiB
 *                     task was lowest there; the first read asks for one
 *                     entry, whose size sets the next COUNT); runs until
 *                     SIGTERM
 *   rawredis latency  one task at a time with reply_to: XADD and XREAD BLOCK
 *                     on the reply stream in one write, time to the reply
 *
 * Task i carries the payload of bench/workloads.py: i as 10 digits, then
 * the filler file.  send and latency print one JSON line like the peers'
 * producers: {"t_start", "t_end", "count"[, "latencies"]}.
 */
#include <errno.h>
#include <getopt.h>
#include <hiredis/hiredis.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "redisurl.h"
#include "scripts.h"
#include "version.h"
#include "xmalloc.h"

#define RAWREDIS_RESULT_TTL "86400"
#define RAWREDIS_REPLY_MAXLEN "100000" /* the worker's --reply-maxlen default */

struct rawredis_opts {
    const char *url;
    const char *filler_path;
    const char *queue;
    long count;
    long start;
    long size;
    long iterations;
    long pipeline; /* XADDs per write (send) */
    long batch;    /* XREADGROUP COUNT (work) */
    long reads;    /* XREADGROUPs in flight (work) */
    long read_kib; /* bytes of messages per XREADGROUP, about (work) */
};

struct rawredis {
    struct rawredis_opts o;
    redisContext *c;
    char stream[KEYS_MAX];
    char *filler;
    size_t filler_len;
    char *msg; /* room for one task message */
    size_t msg_size;
    char *rbuf; /* rawredis_get_reply's reads (work) */
};

static volatile sig_atomic_t rawredis_stop;

static void rawredis_usage(void) __attribute__((noreturn));
static double rawredis_now(void);
static double rawredis_mono(void);
static int rawredis_connect(struct rawredis *r);
static redisReply *rawredis_cmd(struct rawredis *r, int argc, const char **argv,
                                const size_t *lens);
static int rawredis_read_filler(struct rawredis *r);
static size_t rawredis_message(struct rawredis *r, long i,
                               const char *reply_to);
static int rawredis_send(struct rawredis *r);
static int rawredis_latency(struct rawredis *r);
static void rawredis_field(const char *msg, const char *key, char *out,
                           size_t n);
static int rawredis_work(struct rawredis *r);
static int rawredis_get_reply(struct rawredis *r, redisReply **out);
static void rawredis_on_signal(int sig);

static void
rawredis_usage(void)
{
    fprintf(stderr,
            "usage: rawredis send|work|latency --redis URL [--count N] "
            "[--start I]\n"
            "       [--size BYTES] [--iterations N] [--filler FILE] "
            "[--queue NAME]\n"
            "       [--pipeline N] [--batch N] [--reads N] [--read-kib N]\n");
    exit(2);
}

static double
rawredis_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
rawredis_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rawredis_connect(struct rawredis *r)
{
    struct redisurl u;
    char *cause = NULL;
    const char *argv[3];
    size_t lens[3];
    redisReply *rep;
    char db[16];
    int n;

    if (redisurl_resolve(r->o.url, &u, &cause) < 0) {
        fprintf(stderr, "rawredis: %s\n", cause);
        free(cause);
        return -1;
    }
    if (u.sentinel != NULL) {
        fprintf(stderr, "rawredis: give the master as redis://, not "
                        "sentinel://\n");
        redisurl_clear(&u);
        return -1;
    }
    r->c = u.path != NULL ? redisConnectUnix(u.path)
                          : redisConnect(u.host, u.port);
    if (r->c == NULL || r->c->err) {
        fprintf(stderr, "rawredis: cannot connect: %s\n",
                r->c != NULL ? r->c->errstr : "out of memory");
        goto fail;
    }
    if ((n = redisurl_auth_argv(&u, argv, lens)) > 0) {
        if ((rep = rawredis_cmd(r, n, argv, lens)) == NULL)
            goto fail;
        freeReplyObject(rep);
    }
    snprintf(db, sizeof db, "%d", u.db);
    argv[0] = "SELECT";
    argv[1] = db;
    if ((rep = rawredis_cmd(r, 2, argv, NULL)) == NULL)
        goto fail;
    freeReplyObject(rep);
    redisurl_clear(&u);
    return 0;

fail:
    redisurl_clear(&u);
    return -1;
}

/* Runs one command; returns its reply, or NULL (reported) on any error. */
static redisReply *
rawredis_cmd(struct rawredis *r, int argc, const char **argv,
             const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);

    if (rep == NULL) {
        fprintf(stderr, "rawredis: %s: %s\n", argv[0], r->c->errstr);
        return NULL;
    }
    if (rep->type == REDIS_REPLY_ERROR) {
        fprintf(stderr, "rawredis: %s: %s\n", argv[0], rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static int
rawredis_read_filler(struct rawredis *r)
{
    FILE *f;
    long n;

    if (r->o.filler_path == NULL) {
        fprintf(stderr, "rawredis: --filler is required\n");
        return -1;
    }
    if ((f = fopen(r->o.filler_path, "rb")) == NULL) {
        fprintf(stderr, "rawredis: %s: %s\n", r->o.filler_path,
                strerror(errno));
        return -1;
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    rewind(f);
    r->filler = xmalloc((size_t)n + 1);
    r->filler_len = fread(r->filler, 1, (size_t)n, f);
    fclose(f);
    if (r->o.size < 10 || (size_t)r->o.size - 10 > r->filler_len) {
        fprintf(stderr, "rawredis: --size must be 10..%zu\n",
                r->filler_len + 10);
        return -1;
    }
    r->msg_size = (size_t)r->o.size + KEYS_MAX + 256;
    r->msg = xmalloc(r->msg_size);
    return 0;
}

/* Writes the message of task i to r->msg and returns its length. */
static size_t
rawredis_message(struct rawredis *r, long i, const char *reply_to)
{
    char *p = r->msg;
    size_t left = r->msg_size;
    int n;

    n = snprintf(p, left, "{\"v\":1,\"task\":\"hash\",\"id\":\"t%ld\",", i);
    p += n;
    left -= (size_t)n;
    if (reply_to != NULL) {
        n = snprintf(p, left, "\"reply_to\":\"%s\",", reply_to);
        p += n;
        left -= (size_t)n;
    }
    if (r->o.iterations > 1) {
        n = snprintf(p, left, "\"args\":{\"iterations\":%ld,", r->o.iterations);
    } else {
        n = snprintf(p, left, "\"args\":{");
    }
    p += n;
    left -= (size_t)n;
    n = snprintf(p, left, "\"data\":\"%010ld", i % 10000000000L);
    p += n;
    memcpy(p, r->filler, (size_t)r->o.size - 10);
    p += r->o.size - 10;
    memcpy(p, "\"}}", 3);
    p += 3;
    return (size_t)(p - r->msg);
}

static int
rawredis_send(struct rawredis *r)
{
    const char *argv[5] = {"XADD", r->stream, "*", KEYS_MSG_FIELD, NULL};
    size_t lens[5];
    redisReply *rep;
    double t0, t1;
    long i, j, end = r->o.start + r->o.count;

    for (j = 0; j < 4; j++)
        lens[j] = strlen(argv[j]);
    argv[4] = r->msg;
    t0 = rawredis_now();
    for (i = r->o.start; i < end; i += r->o.pipeline) {
        long n = end - i < r->o.pipeline ? end - i : r->o.pipeline;

        for (j = 0; j < n; j++) {
            lens[4] = rawredis_message(r, i + j, NULL);
            redisAppendCommandArgv(r->c, 5, argv, lens);
        }
        for (j = 0; j < n; j++) {
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
                fprintf(stderr, "rawredis: XADD: %s\n", r->c->errstr);
                return -1;
            }
            if (rep->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "rawredis: XADD: %s\n", rep->str);
                freeReplyObject(rep);
                return -1;
            }
            freeReplyObject(rep);
        }
    }
    t1 = rawredis_now();
    printf("{\"t_start\": %.6f, \"t_end\": %.6f, \"count\": %ld}\n", t0, t1,
           r->o.count);
    return 0;
}

static int
rawredis_latency(struct rawredis *r)
{
    char reply_to[KEYS_MAX], token[64], last[64] = "0-0";
    const char *xadd[5] = {"XADD", r->stream, "*", KEYS_MSG_FIELD, NULL};
    size_t xadd_lens[5];
    const char *xread[6] = {"XREAD",   "BLOCK",  "10000",
                            "STREAMS", reply_to, last};
    double *lat = xcalloc((size_t)r->o.count, sizeof *lat);
    redisReply *rep;
    long i;
    int j, rc = -1;

    snprintf(token, sizeof token, "rawredis-%ld-%ld", (long)getpid(),
             (long)time(NULL));
    if (keys_reply(reply_to, sizeof reply_to, KEYS_DEFAULT_PREFIX, token) < 0)
        goto out;
    for (j = 0; j < 4; j++)
        xadd_lens[j] = strlen(xadd[j]);
    xadd[4] = r->msg;
    for (i = 0; i < r->o.count; i++) {
        double t = rawredis_mono();

        xadd_lens[4] = rawredis_message(r, r->o.start + i, reply_to);
        redisAppendCommandArgv(r->c, 5, xadd, xadd_lens);
        /* The XREAD waits for the entry after the last reply seen. */
        redisAppendCommandArgv(r->c, 6, xread, NULL);
        for (j = 0; j < 2; j++) {
            if (redisGetReply(r->c, (void **)&rep) != REDIS_OK) {
                fprintf(stderr, "rawredis: %s\n", r->c->errstr);
                goto out;
            }
            if (rep->type == REDIS_REPLY_ERROR ||
                rep->type == REDIS_REPLY_NIL) {
                fprintf(stderr, "rawredis: task t%ld: %s\n", r->o.start + i,
                        rep->type == REDIS_REPLY_NIL ? "no reply in 10 s"
                                                     : rep->str);
                freeReplyObject(rep);
                goto out;
            }
            if (j == 1) {
                /* [[stream, [[id, [field, value]], ...]]] */
                redisReply *entries = rep->element[0]->element[1];
                redisReply *entry = entries->element[entries->elements - 1];

                snprintf(last, sizeof last, "%s", entry->element[0]->str);
            }
            freeReplyObject(rep);
        }
        lat[i] = rawredis_mono() - t;
    }
    printf("{\"t_start\": 0, \"t_end\": 0, \"count\": %ld, \"latencies\": [",
           r->o.count);
    for (i = 0; i < r->o.count; i++)
        printf("%s%.9f", i ? ", " : "", lat[i]);
    printf("]}\n");
    rc = 0;
out:
    free(lat);
    return rc;
}

/* Copies the string value of "key":"..." in msg, or "" when absent. */
static void
rawredis_field(const char *msg, const char *key, char *out, size_t n)
{
    const char *p = strstr(msg, key), *q;

    out[0] = '\0';
    if (p == NULL)
        return;
    p += strlen(key);
    if ((q = strchr(p, '"')) == NULL || (size_t)(q - p) >= n)
        return;
    memcpy(out, p, (size_t)(q - p));
    out[q - p] = '\0';
}

/*
 * The per-batch state of work: the EVALSHA argument vector, and the
 * strings its pointers refer to (entry id, result key, reply_to, document).
 */
#define RAWREDIS_FINISH_HEAD 11 /* EVALSHA sha 1 stream, then ARGV[1..7] */

struct rawredis_batch {
    const char **argv;
    size_t *lens;
    char (*ids)[64];
    char (*keys)[KEYS_MAX];
    char (*replies)[KEYS_MAX];
    char (*docs)[1280]; /* fits the longest id and name */
    int argc;
};

static int
rawredis_work(struct rawredis *r)
{
    char me[64], sha[64], batch_s[24], id[PROTOCOL_MAX_NAME + 1];
    char sched[KEYS_MAX], dead[KEYS_MAX], reply_prefix[KEYS_MAX];
    const char *group[6] = {"XGROUP",   "CREATE", r->stream,
                            KEYS_GROUP, "0",      "MKSTREAM"};
    const char *load[3] = {"SCRIPT", "LOAD", scripts_finish};
    const char *xread[10] = {"XREADGROUP", "GROUP",  KEYS_GROUP, me,
                             "COUNT",      batch_s,  "BLOCK",    "100",
                             "STREAMS",    r->stream};
    const char *xread_argv[11];
    struct rawredis_batch b;
    size_t max = (size_t)r->o.batch, k;
    redisReply *rep;
    /* What the replies in flight answer, oldest first: 'R' an XREADGROUP,
     * 'F' a finish.  At most `reads` of each. */
    char *fifo = xcalloc(2 * (size_t)r->o.reads, 1);
    size_t head = 0, inflight = 0, cap = 2 * (size_t)r->o.reads;
    int rc = -1;

    snprintf(me, sizeof me, "rawredis:%ld", (long)getpid());
    if (keys_scheduled(sched, sizeof sched, KEYS_DEFAULT_PREFIX) < 0 ||
        keys_dead(dead, sizeof dead, KEYS_DEFAULT_PREFIX) < 0 ||
        keys_reply_prefix(reply_prefix, sizeof reply_prefix,
                          KEYS_DEFAULT_PREFIX) < 0)
        return -1;
    /* The first read asks for one entry when reads are cut to --read-kib:
     * the entries' size is not known yet, and COUNT 100 of 256 KiB entries
     * is a 25 MiB reply that Redis builds whole before anything can finish
     * (the first result came 180-195 ms into a 0.34 s W2 drain). */
    snprintf(batch_s, sizeof batch_s, "%ld",
             r->o.read_kib > 0 ? 1L : r->o.batch);
    memcpy(xread_argv, xread, sizeof xread);
    xread_argv[10] = ">";
    rep = redisCommandArgv(r->c, 6, group, NULL);
    if (rep == NULL || (rep->type == REDIS_REPLY_ERROR &&
                        strncmp(rep->str, "BUSYGROUP", 9) != 0)) {
        fprintf(stderr, "rawredis: XGROUP: %s\n",
                rep != NULL ? rep->str : r->c->errstr);
        freeReplyObject(rep);
        return -1;
    }
    freeReplyObject(rep);
    if ((rep = rawredis_cmd(r, 3, load, NULL)) == NULL)
        return -1;
    snprintf(sha, sizeof sha, "%s", rep->str);
    freeReplyObject(rep);

    b.argv = xcalloc(RAWREDIS_FINISH_HEAD + SCRIPTS_FINAL_ARGS * max,
                     sizeof *b.argv);
    b.lens = xcalloc(RAWREDIS_FINISH_HEAD + SCRIPTS_FINAL_ARGS * max,
                     sizeof *b.lens);
    b.ids = xcalloc(max, sizeof *b.ids);
    b.keys = xcalloc(max, sizeof *b.keys);
    b.replies = xcalloc(max, sizeof *b.replies);
    b.docs = xcalloc(max, sizeof *b.docs);
    b.argv[0] = "EVALSHA";
    b.argv[1] = sha;
    b.argv[2] = "1";
    b.argv[3] = r->stream;
    b.argv[4] = KEYS_GROUP;
    b.argv[5] = me;
    b.argv[6] = RAWREDIS_RESULT_TTL;
    b.argv[7] = sched;
    b.argv[8] = dead;
    b.argv[9] = reply_prefix;
    b.argv[10] = RAWREDIS_REPLY_MAXLEN;

#define RAWREDIS_EXPECT(kind) (fifo[(head + inflight++) % cap] = (kind))
    for (long i = 0; i < r->o.reads; i++) {
        redisAppendCommandArgv(r->c, 11, xread_argv, NULL);
        RAWREDIS_EXPECT('R');
    }
    while (!rawredis_stop) {
        char kind = fifo[head];
        head = (head + 1) % cap;
        inflight--;
        if (rawredis_get_reply(r, &rep) < 0)
            goto io_fail;
        if (kind == 'F' || rep->type == REDIS_REPLY_ERROR) {
            if (rep->type == REDIS_REPLY_ERROR) {
                fprintf(stderr, "rawredis: %s: %s\n",
                        kind == 'F' ? "EVALSHA" : "XREADGROUP", rep->str);
                freeReplyObject(rep);
                goto out;
            }
            freeReplyObject(rep);
            continue;
        }
        if (rep->type != REDIS_REPLY_ARRAY) {
            /* NIL: nothing within BLOCK; ask again. */
            freeReplyObject(rep);
            redisAppendCommandArgv(r->c, 11, xread_argv, NULL);
            RAWREDIS_EXPECT('R');
            continue;
        }
        redisReply *entries = rep->element[0]->element[1];
        double now = rawredis_now();
        size_t bytes = 0;

        for (k = 0; k < entries->elements; k++)
            bytes += entries->element[k]->element[1]->element[1]->len;
        if (r->o.read_kib > 0 && entries->elements > 0) {
            size_t each = bytes / entries->elements + 1;
            size_t n = ((size_t)r->o.read_kib << 10) / each;
            snprintf(batch_s, sizeof batch_s, "%zu",
                     n < 1     ? 1
                     : n > max ? max
                               : n);
        }

        b.argc = RAWREDIS_FINISH_HEAD;
        for (k = 0; k < entries->elements && k < max; k++) {
            redisReply *e = entries->element[k];
            const char *msg = e->element[1]->element[1]->str;

            snprintf(b.ids[k], sizeof b.ids[k], "%s", e->element[0]->str);
            rawredis_field(msg, "\"id\":\"", id, sizeof id);
            rawredis_field(msg, "\"reply_to\":\"", b.replies[k],
                           sizeof b.replies[k]);
            keys_result(b.keys[k], sizeof b.keys[k], KEYS_DEFAULT_PREFIX,
                        id[0] ? id : b.ids[k]);
            snprintf(b.docs[k], sizeof b.docs[k],
                     "{\"id\":\"%s\",\"task\":\"hash\",\"status\":"
                     "\"SUCCESS\",\"result\":{\"algorithm\":\"sha512\","
                     "\"digest\":\"%0128d\",\"bytes\":%ld},\"error\":null,"
                     "\"worker\":\"%s\",\"attempts\":1,\"started_at\":%.6f,"
                     "\"finished_at\":%.6f,\"runtime_us\":0}",
                     id[0] ? id : b.ids[k], 0, r->o.size, me, now, now);
            b.argv[b.argc] = SCRIPTS_FINAL;
            b.argv[b.argc + 1] = b.ids[k];
            b.argv[b.argc + 2] = b.keys[k];
            b.argv[b.argc + 3] = b.docs[k];
            b.argv[b.argc + 4] = b.replies[k];
            b.argc += SCRIPTS_FINAL_ARGS;
        }
        freeReplyObject(rep);
        for (int a = 0; a < b.argc; a++)
            b.lens[a] = strlen(b.argv[a]);
        /* Finish this batch and ask for the next in one write. */
        redisAppendCommandArgv(r->c, b.argc, b.argv, b.lens);
        RAWREDIS_EXPECT('F');
        redisAppendCommandArgv(r->c, 11, xread_argv, NULL);
        RAWREDIS_EXPECT('R');
    }
#undef RAWREDIS_EXPECT
    rc = 0;
    goto out;

io_fail:
    fprintf(stderr, "rawredis: %s\n", r->c->errstr);
out:
    free(fifo);
    free(b.argv);
    free(b.lens);
    free(b.ids);
    free(b.keys);
    free(b.replies);
    free(b.docs);
    return rc;
}

/*
 * redisGetReply with reads of up to RAWREDIS_READ bytes: hiredis 0.14
 * reads 16 KiB at a time, 16 system calls per 256 KiB entry, which made
 * this client, not Redis, the limit for large messages.
 */
#define RAWREDIS_READ (1 << 20)
static int
rawredis_get_reply(struct rawredis *r, redisReply **out)
{
    void *reply = NULL;
    int done = 0;

    if (redisReaderGetReply(r->c->reader, &reply) != REDIS_OK) {
        snprintf(r->c->errstr, sizeof r->c->errstr, "%s", r->c->reader->errstr);
        return -1;
    }
    if (reply != NULL) {
        *out = reply;
        return 0;
    }
    while (!done)
        if (redisBufferWrite(r->c, &done) != REDIS_OK)
            return -1;
    if (r->rbuf == NULL)
        r->rbuf = xmalloc(RAWREDIS_READ);
    r->c->reader->maxbuf = 0; /* keep the reader's buffer between replies */
    while (reply == NULL) {
        ssize_t n = read(r->c->fd, r->rbuf, RAWREDIS_READ);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            snprintf(r->c->errstr, sizeof r->c->errstr, "%s",
                     n == 0 ? "Server closed the connection" : strerror(errno));
            return -1;
        }
        if (redisReaderFeed(r->c->reader, r->rbuf, (size_t)n) != REDIS_OK ||
            redisReaderGetReply(r->c->reader, &reply) != REDIS_OK) {
            snprintf(r->c->errstr, sizeof r->c->errstr, "%s",
                     r->c->reader->errstr);
            return -1;
        }
    }
    *out = reply;
    return 0;
}

static void
rawredis_on_signal(int sig)
{
    (void)sig;
    rawredis_stop = 1;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"count", required_argument, NULL, 'n'},
        {"start", required_argument, NULL, 's'},
        {"size", required_argument, NULL, 'b'},
        {"iterations", required_argument, NULL, 'i'},
        {"filler", required_argument, NULL, 'f'},
        {"queue", required_argument, NULL, 'q'},
        {"pipeline", required_argument, NULL, 'p'},
        {"batch", required_argument, NULL, 'c'},
        {"reads", required_argument, NULL, 'R'},
        {"read-kib", required_argument, NULL, 'K'},
        {NULL, 0, NULL, 0},
    };
    struct rawredis r;
    struct sigaction sa;
    const char *mode;
    int ch, rc;

    memset(&r, 0, sizeof r);
    r.o.queue = KEYS_DEFAULT_QUEUE;
    r.o.size = 64;
    r.o.iterations = 1;
    r.o.pipeline = 1000;
    r.o.batch = 100;
    r.o.reads = 1;
    r.o.read_kib = 1024;
    if (argc < 2)
        rawredis_usage();
    mode = argv[1];
    optind = 2;
    while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        switch (ch) {
        case 'r':
            r.o.url = optarg;
            break;
        case 'n':
            r.o.count = strtol(optarg, NULL, 10);
            break;
        case 's':
            r.o.start = strtol(optarg, NULL, 10);
            break;
        case 'b':
            r.o.size = strtol(optarg, NULL, 10);
            break;
        case 'i':
            r.o.iterations = strtol(optarg, NULL, 10);
            break;
        case 'f':
            r.o.filler_path = optarg;
            break;
        case 'q':
            r.o.queue = optarg;
            break;
        case 'p':
            r.o.pipeline = strtol(optarg, NULL, 10);
            break;
        case 'c':
            r.o.batch = strtol(optarg, NULL, 10);
            break;
        case 'R':
            r.o.reads = strtol(optarg, NULL, 10);
            break;
        case 'K':
            r.o.read_kib = strtol(optarg, NULL, 10);
            break;
        default:
            rawredis_usage();
        }
    }
    if (r.o.pipeline < 1 || r.o.batch < 1 || r.o.reads < 1 || r.o.reads > 64 ||
        r.o.read_kib < 0 || r.o.batch > SCRIPTS_FINISH_MAX || r.o.count < 0)
        rawredis_usage();
    if (keys_queue(r.stream, sizeof r.stream, KEYS_DEFAULT_PREFIX, r.o.queue) <
        0)
        rawredis_usage();
    /* Large replies: hiredis allocates every bulk string and grows its
     * buffer; keep freed memory for reuse instead of returning it to the
     * kernel and faulting it in again (a third of the time at 256 KiB). */
    mallopt(M_MMAP_THRESHOLD, 64 << 20);
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    if (rawredis_connect(&r) < 0)
        return 1;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = rawredis_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);

    if (strcmp(mode, "work") == 0) {
        rc = rawredis_work(&r);
    } else if (strcmp(mode, "send") == 0 || strcmp(mode, "latency") == 0) {
        rc = rawredis_read_filler(&r);
        if (rc == 0)
            rc = mode[0] == 's' ? rawredis_send(&r) : rawredis_latency(&r);
    } else {
        rawredis_usage();
    }
    redisFree(r.c);
    free(r.filler);
    free(r.msg);
    free(r.rbuf);
    return rc == 0 ? 0 : 1;
}
