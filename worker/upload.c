/* SPDX-License-Identifier: MIT */
/* The upload reader of the worker's parent; see upload.h. */
#include "upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <jansson.h>

#include "broker.h"
#include "error.h"
#include "keys.h"
#include "log.h"
#include "xmalloc.h"

/* Polls of an empty stream: 2 ms, doubling to 50 ms. */
#define UPLOAD_POLL_MIN_MS 2
#define UPLOAD_POLL_MAX_MS 50
/* Largest piece one entry may carry (a producer writes 1 MiB). */
#define UPLOAD_PIECE_MAX (4u << 20)

/*
 * Takes up to ARGV[1] entries from the head of the stream KEYS[1] and
 * deletes them; returns n, d, end of each ("" when absent), and deletes the
 * key after the end entry.  A key of another type is refused, untouched.
 */
static const char upload_script[] =
    "local key, count = KEYS[1], tonumber(ARGV[1])\n"
    "local t = redis.call('TYPE', key)['ok']\n"
    "if t == 'none' then return {} end\n"
    "if t ~= 'stream' then\n"
    "  return redis.error_reply('WRONGTYPE upload: ' .. key .. ' holds a ' "
    ".. t .. ', not a stream')\n"
    "end\n"
    "local es = redis.call('XRANGE', key, '-', '+', 'COUNT', count)\n"
    "local out = {}\n"
    "for _, e in ipairs(es) do\n"
    "  local f, kv = {}, e[2]\n"
    "  for i = 1, #kv, 2 do f[kv[i]] = kv[i + 1] end\n"
    "  redis.call('XDEL', key, e[1])\n"
    "  out[#out + 1] = f['n'] or ''\n"
    "  out[#out + 1] = f['d'] or ''\n"
    "  out[#out + 1] = f['end'] or ''\n"
    "  if f['end'] then\n"
    "    redis.call('DEL', key)\n"
    "    break\n"
    "  end\n"
    "end\n"
    "return out\n";

/* A script call in flight; outlives a cancelled upload. */
struct upload_req {
    struct upload *u; /* NULL once cancelled */
};

struct upload {
    struct event_base *base;
    struct broker *b;
    char *key;      /* owned */
    uint64_t total; /* upload_bytes */
    uint64_t off;   /* bytes handed on */
    long stall_ms;
    long poll_ms;
    long long last_ms; /* monotonic: when something last came */
    int paused;
    int first;         /* no entry seen yet by this attempt */
    struct upload_req *req; /* in flight, or NULL */
    struct event *timer;
    struct upload_callbacks cbs;
    void *arg;
};

static void upload_ask(struct upload *u);

static long long
upload_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
upload_key_ok(const char *prefix, const char *key)
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0 ||
        strncmp(key + pl, KEYS_KIND_UPLOAD ":", 7) != 0)
        return 0;
    const char *tok = key + pl + 7;
    size_t n = strlen(tok);
    return n >= 1 && n <= 200 &&
           strspn(tok, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                       "0123456789-_") == n;
}

static void
upload_free(struct upload *u)
{
    if (u->req != NULL)
        u->req->u = NULL; /* its reply is ignored */
    if (u->timer != NULL)
        event_free(u->timer);
    free(u->key);
    free(u);
}

/* Ends u with the outcome; deletes the key after a failure unless
 * keep_key (a key of another type is never written). */
static void
upload_end(struct upload *u, const char *type, const char *msg, int keep_key)
{
    json_t *o = json_pack("{s:s, s:I}", "upload", u->key, "bytes",
                          (json_int_t)u->off);
    char *facts = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (type != NULL && !keep_key) {
        const char *argv[] = {"DEL", u->key};
        broker_call(u->b, 2, argv, NULL, NULL, NULL);
    }
    u->cbs.on_done(u, type, msg, facts != NULL ? facts : "{}", u->arg);
    free(facts);
    upload_free(u);
}

static void
upload_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    upload_ask(arg);
}

static void
upload_later(struct upload *u, long ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    evtimer_add(u->timer, &tv);
}

/* Parses a decimal byte count; -1 if it is not one. */
static long long
upload_num(const redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 19)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < r->len; i++) {
        if (r->str[i] < '0' || r->str[i] > '9')
            return -1;
        v = v * 10 + (r->str[i] - '0');
    }
    return v;
}

/* Handles one script reply; returns 1 when u ended (freed). */
static int
upload_take(struct upload *u, const redisReply *r)
{
    char why[400];
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "WRONGTYPE", 9) == 0) {
            snprintf(why, sizeof(why),
                     "the upload key %.200s does not hold a stream; nothing "
                     "was written to it (send the file again under a new "
                     "key)",
                     u->key);
            upload_end(u, ERROR_INVALID_MESSAGE, why, 1);
            return 1;
        }
        log_warnx("reading upload %s: %s; trying again", u->key, r->str);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 3 != 0)
        return 0;
    for (size_t i = 0; i < r->elements; i += 3) {
        const redisReply *n = r->element[i], *d = r->element[i + 1],
                         *e = r->element[i + 2];
        long long at = upload_num(n);
        if (at < 0 || d->type != REDIS_REPLY_STRING ||
            e->type != REDIS_REPLY_STRING) {
            upload_end(u, ERROR_UPLOAD_INCOMPLETE,
                       "an entry of the upload stream has no valid 'n' "
                       "(its offset); send the file again",
                       0);
            return 1;
        }
        if ((uint64_t)at != u->off) {
            if (u->first && u->off == 0)
                snprintf(why, sizeof(why),
                         "the upload stream starts at byte %lld, not at 0: "
                         "an earlier attempt of this task (a worker that "
                         "died) consumed the bytes before it; send the "
                         "file again",
                         at);
            else
                snprintf(why, sizeof(why),
                         "the upload stream jumps from byte %llu to %lld: "
                         "entries are missing; send the file again",
                         (unsigned long long)u->off, at);
            upload_end(u,
                       u->first && u->off == 0 ? ERROR_UPLOAD_LOST
                                               : ERROR_UPLOAD_INCOMPLETE,
                       why, 0);
            return 1;
        }
        u->first = 0;
        if (d->len > UPLOAD_PIECE_MAX ||
            u->off + d->len > u->total) {
            snprintf(why, sizeof(why),
                     "the upload holds more than the %llu bytes its message "
                     "announced (upload_bytes)%s",
                     (unsigned long long)u->total,
                     d->len > UPLOAD_PIECE_MAX
                         ? ", or an entry over 4 MiB"
                         : "");
            upload_end(u, ERROR_UPLOAD_INCOMPLETE, why, 0);
            return 1;
        }
        if (e->len > 0) {
            long long end = upload_num(e);
            if (d->len > 0 || end < 0 || (uint64_t)end != u->total ||
                u->off != u->total) {
                snprintf(why, sizeof(why),
                         "the upload ended after %llu bytes, but its message "
                         "announced %llu (upload_bytes); send the file "
                         "again",
                         (unsigned long long)u->off,
                         (unsigned long long)u->total);
                upload_end(u, ERROR_UPLOAD_INCOMPLETE, why, 1);
                return 1;
            }
            upload_end(u, NULL, NULL, 1); /* the script deleted the key */
            return 1;
        }
        u->off += d->len;
        u->last_ms = upload_now_ms();
        if (d->len > 0 &&
            u->cbs.on_chunk(u, (const unsigned char *)d->str, d->len,
                            u->arg))
            u->paused = 1;
    }
    return 0;
}

static void
upload_reply_cb(redisAsyncContext *ac, void *reply, void *priv)
{
    struct upload_req *rq = priv;
    struct upload *u = rq->u;
    const redisReply *r = reply;
    (void)ac;
    free(rq);
    if (u == NULL)
        return; /* cancelled meanwhile */
    u->req = NULL;
    long long now = upload_now_ms();
    size_t got = 0;
    if (r != NULL) {
        got = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
        if (upload_take(u, r))
            return;
    }
    if (u->paused)
        return;
    if (got > 0) {
        u->poll_ms = UPLOAD_POLL_MIN_MS;
        upload_ask(u);
        return;
    }
    if (u->stall_ms > 0 && now - u->last_ms > u->stall_ms) {
        char why[400];
        snprintf(why, sizeof(why),
                 "nothing new arrived in the upload stream %.200s for %ld "
                 "ms after %llu of %llu bytes (--upload-timeout): its "
                 "producer stopped; the stream is deleted",
                 u->key, u->stall_ms, (unsigned long long)u->off,
                 (unsigned long long)u->total);
        upload_end(u, ERROR_UPLOAD_STALLED, why, 0);
        return;
    }
    upload_later(u, u->poll_ms);
    u->poll_ms = u->poll_ms * 2 > UPLOAD_POLL_MAX_MS ? UPLOAD_POLL_MAX_MS
                                                      : u->poll_ms * 2;
}

/* Sends the next script call (or tries again soon if Redis is away). */
static void
upload_ask(struct upload *u)
{
    if (u->paused || u->req != NULL)
        return;
    char count[16];
    snprintf(count, sizeof(count), "%d", UPLOAD_BATCH);
    const char *argv[] = {"EVAL", upload_script, "1", u->key, count};
    struct upload_req *rq = xmalloc(sizeof(*rq));
    rq->u = u;
    if (broker_call(u->b, 5, argv, NULL, upload_reply_cb, rq) < 0) {
        free(rq);
        upload_later(u, UPLOAD_POLL_MAX_MS);
        return;
    }
    u->req = rq;
}

struct upload *
upload_start(struct event_base *base, struct broker *b, const char *key,
             uint64_t total, long stall_ms, int paused,
             const struct upload_callbacks *cbs, void *arg)
{
    struct upload *u = xcalloc(1, sizeof(*u));
    u->base = base;
    u->b = b;
    u->key = xstrdup(key);
    u->total = total;
    u->stall_ms = stall_ms;
    u->poll_ms = UPLOAD_POLL_MIN_MS;
    u->last_ms = upload_now_ms();
    u->first = 1;
    u->paused = paused;
    u->cbs = *cbs;
    u->arg = arg;
    u->timer = evtimer_new(base, upload_timer_cb, u);
    if (!paused)
        upload_ask(u);
    return u;
}

void
upload_pause(struct upload *u)
{
    u->paused = 1;
}

void
upload_resume(struct upload *u)
{
    if (!u->paused)
        return;
    u->paused = 0;
    u->last_ms = upload_now_ms();
    upload_ask(u);
}

void
upload_cancel(struct upload *u)
{
    upload_free(u);
}
