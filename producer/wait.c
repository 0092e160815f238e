/* SPDX-License-Identifier: MIT */
/* Reading result documents from a reply stream, across reconnects. */
#include "wait.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "token.h"

/* Extra socket time on top of BLOCK before a read counts as lost. */
#define WAIT_IO_SLACK_MS 10000

static int wait_parse_id(const char *s, uint64_t *ms, uint64_t *seq);
static void wait_xread_argv(struct wait *w, size_t count, int block_ms,
                            const char **argv, size_t *lens, int *argc,
                            char *countbuf, char *blockbuf);

int
wait_init(struct wait *w, struct conn *c, const char *prefix,
          int64_t deadline_us)
{
    memset(w, 0, sizeof(*w));
    w->conn = c;
    w->deadline_us = deadline_us;
    token_hex(w->token, WAIT_TOKEN_LEN);
    strcpy(w->last_id, "0-0");
    if (keys_reply(w->key, sizeof(w->key), prefix, w->token) < 0) {
        cli_warnx("--prefix '%s' is too long for a reply stream key", prefix);
        return -1;
    }
    return 0;
}

/* Parses "ms-seq".  Returns 0, or -1 if s is not a stream id. */
static int
wait_parse_id(const char *s, uint64_t *ms, uint64_t *seq)
{
    char *end;
    errno = 0;
    *ms = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '-')
        return -1;
    s = end + 1;
    *seq = strtoull(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    return 0;
}

static void
wait_xread_argv(struct wait *w, size_t count, int block_ms, const char **argv,
                size_t *lens, int *argc, char *countbuf, char *blockbuf)
{
    int n = 0;
    snprintf(countbuf, 24, "%zu", count);
    argv[n++] = "XREAD";
    argv[n++] = "COUNT";
    argv[n++] = countbuf;
    if (block_ms > 0) {
        snprintf(blockbuf, 24, "%d", block_ms);
        argv[n++] = "BLOCK";
        argv[n++] = blockbuf;
    }
    argv[n++] = "STREAMS";
    argv[n++] = w->key;
    argv[n++] = w->last_id;
    for (int i = 0; i < n; i++)
        lens[i] = strlen(argv[i]);
    *argc = n;
}

void
wait_append_poll(struct wait *w, size_t count)
{
    const char *argv[8];
    size_t lens[8];
    char countbuf[24], blockbuf[24];
    int argc;

    wait_xread_argv(w, count, 0, argv, lens, &argc, countbuf, blockbuf);
    conn_append(w->conn, argc, argv, lens);
}

int
wait_take(struct wait *w, const redisReply *r, wait_fn *fn, void *arg)
{
    int n = 0;

    if (r->type == REDIS_REPLY_NIL)
        return 0;
    if (r->type != REDIS_REPLY_ARRAY) {
        conn_report_error(w->conn, "to read the reply stream", r);
        return -1;
    }
    /* [[key, [[id, [field, value, ...]], ...]], ...] */
    for (size_t s = 0; s < r->elements; s++) {
        const redisReply *st = r->element[s];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *entries = st->element[1];
        for (size_t e = 0; e < entries->elements; e++) {
            const redisReply *ent = entries->element[e];
            uint64_t ms, seq;
            if (ent->type != REDIS_REPLY_ARRAY || ent->elements != 2 ||
                ent->element[0]->type != REDIS_REPLY_STRING ||
                ent->element[0]->len >= sizeof(w->last_id) ||
                wait_parse_id(ent->element[0]->str, &ms, &seq) < 0)
                continue;
            /* Overlapping reads may return an entry twice: skip it. */
            if (ms < w->last_ms || (ms == w->last_ms && seq <= w->last_seq))
                continue;
            w->last_ms = ms;
            w->last_seq = seq;
            memcpy(w->last_id, ent->element[0]->str, ent->element[0]->len + 1);
            const redisReply *fields = ent->element[1];
            if (fields->type != REDIS_REPLY_ARRAY)
                continue;
            for (size_t f = 0; f + 1 < fields->elements; f += 2) {
                const redisReply *k = fields->element[f];
                const redisReply *v = fields->element[f + 1];
                if (k->type == REDIS_REPLY_STRING &&
                    v->type == REDIS_REPLY_STRING &&
                    k->len == sizeof(KEYS_RESULT_FIELD) - 1 &&
                    memcmp(k->str, KEYS_RESULT_FIELD, k->len) == 0) {
                    fn(v->str, v->len, arg);
                    n++;
                }
            }
        }
    }
    return n;
}

int
wait_next(struct wait *w, size_t count, int block_ms, wait_fn *fn, void *arg)
{
    const char *argv[8];
    size_t lens[8];
    char countbuf[24], blockbuf[24];
    int argc;
    int64_t pause_ms = 100; /* first pause after LOADING */

    for (;;) {
        if (conn_lost(w->conn) && conn_reconnect(w->conn, w->deadline_us) < 0) {
            w->timed_out = 1;
            return -1;
        }
        int64_t now = cli_now_us();
        if (w->deadline_us != 0 && now >= w->deadline_us) {
            w->timed_out = 1;
            return -1;
        }
        int ms = block_ms;
        if (w->deadline_us != 0 && (w->deadline_us - now + 999) / 1000 < ms)
            ms = (int)((w->deadline_us - now + 999) / 1000);
        if (ms < 1)
            ms = 1;
        wait_xread_argv(w, count, ms, argv, lens, &argc, countbuf, blockbuf);
        conn_set_timeout(w->conn, ms + WAIT_IO_SLACK_MS);
        redisReply *r = conn_command(w->conn, argc, argv, lens);
        conn_set_timeout(w->conn, CONN_IO_TIMEOUT_MS);
        if (r == NULL)
            continue; /* lost: reconnect above and read on */
        if (conn_transient(r)) {
            /* LOADING after a restart: the stream is being read back from
             * the append-only file; ask again shortly. */
            freeReplyObject(r);
            if (conn_pause(&pause_ms, w->deadline_us) < 0) {
                w->timed_out = 1;
                return -1;
            }
            continue;
        }
        int n = wait_take(w, r, fn, arg);
        freeReplyObject(r);
        return n;
    }
}

void
wait_cleanup(struct wait *w)
{
    if (conn_lost(w->conn))
        return;
    redisReply *r = conn_call(w->conn, "DEL", w->key, (const char *)NULL);
    if (r != NULL)
        freeReplyObject(r);
}
