/* SPDX-License-Identifier: MIT */
/*
 * `celeriac send --batch`: JSON lines in, pipelined XADDs out, results
 * (with --wait) printed as they arrive.  Delayed lines (--countdown, --eta,
 * or a line's own "countdown" or "eta") are ZADDed to the scheduled set
 * instead, in the same pipeline.
 *
 * The input is sent in chunks of up to BATCH_CHUNK_TASKS XADDs.  While
 * Redis works through chunk k, the next chunk is parsed and sent, and only
 * then are the replies of chunk k read; so parsing and Redis overlap and a
 * round trip is paid per chunk, not per task.  With --wait, a chunk may end
 * with a non-blocking XREAD of the reply stream, so that results are
 * printed while the input is still being sent.
 *
 * With --shards N the lines are spread round robin over the shards
 * (shard.h), each with its own connection, queue stream and reply stream;
 * a chunk's commands go down every shard's pipeline before any reply is
 * read, and the replies are read per shard in the order the commands went.
 */
#include "batch.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "conn.h"
#include "delivery.h"
#include "durable.h"
#include "idmap.h"
#include "keys.h"
#include "lines.h"
#include "log.h"
#include "message.h"
#include "progress.h"
#include "result.h"
#include "shard.h"
#include "submit.h"
#include "token.h"
#include "unique.h"
#include "unique_send.h"
#include "validate.h"
#include "version.h"
#include "wait.h"
#include "xmalloc.h"

#define BATCH_CHUNK_TASKS 4096
#define BATCH_CHUNK_BYTES (4u << 20)
/* Results read per XREAD. */
#define BATCH_READ_COUNT 1000
/* With several shards owed results: how long one XREAD blocks on each
 * (after a round that read nothing), in milliseconds. */
#define BATCH_SHARD_BLOCK_MS 50
/* Bad lines reported one by one; the rest are only counted. */
#define BATCH_MAX_REPORTS 100
/* Longest input line: a message at the limit plus room for the wrapping. */
#define BATCH_MAX_LINE (PROTOCOL_MAX_MESSAGE + 4096)

/* One XADD (or ZADD) in a chunk, until its reply is read. */
struct batch_item {
    unsigned long lineno; /* input line it came from */
    char *user_id;        /* the message's "id", owned; NULL: the entry id */
    int64_t due_ms;       /* ZADDed with this due time; -1: XADDed */
    int unique;           /* sent by the unique script */
    int shard;            /* the shard it went to */
};

/* The XADDs sent together, whose replies are read together. */
struct batch_chunk {
    struct batch_item *items; /* owned; n used of cap */
    size_t n, cap;
    /* Bit i for shard i (KEYS_SHARDS_MAX is 64): */
    uint64_t has_poll; /* an XREAD of its reply stream follows the XADDs */
    uint64_t has_wait; /* --durable: a WAIT follows its XADDs */
};

/* One shard's key space and connection. */
struct batch_shard {
    char prefix[KEYS_MAX]; /* its key prefix */
    struct conn conn;
    struct submit sub;
    struct wait wait;  /* with --wait only */
    struct build fast; /* "v", "reply_to", delivery fields + a line */
    /* The ids whose results are awaited (--wait): per shard, since an
     * id-less task's id "<queue>/<entry id>" may be the same in two. */
    struct idmap ids;
    int poll_outstanding; /* an XREAD reply is still to be read */
    uint64_t sent;        /* tasks it accepted */
    uint64_t done;        /* results read from its reply stream */
};

/* The state of one `send --batch` run. */
struct batch {
    const struct batch_opts *o;
    struct batch_shard *shards; /* nshards of them; owned */
    int nshards;
    struct shard_rr rr; /* the shard of the next line */
    int cur;            /* the shard of the line being sent */
    int pinned;         /* it goes to shard 0 whatever the round robin */
    int reading;        /* the shard whose results are being read */
    /* By sequence number (the order tasks were queued, --wait): the
     * input line, and with --ordered the result held back until the
     * earlier ones are printed (owned; NULL: not here or printed). */
    unsigned long *seq_line;
    char **seq_doc;
    size_t seq_cap;
    uint64_t nseq;       /* tasks awaited so far */
    uint64_t print_next; /* --ordered: the next sequence number to print */
    struct progress prog;
    struct lines in;
    struct batch_chunk chunks[2];
    unsigned long bad;        /* input lines skipped, tasks Redis refused */
    unsigned long duplicates; /* unique lines refused as duplicates */
    uint64_t undurable;       /* queued, but not on --durable replicas */
    unsigned long reports;    /* messages printed about them */
    uint64_t sent;            /* tasks Redis accepted */
    unsigned long last_queued_line; /* input line of the last of them */
    uint64_t done;                  /* results received (--wait) */
    uint64_t failed;                /* of which FAILURE */
    int input_error;                /* the input could not be read to its end */
    struct build slow; /* a message encoded again */
    const char *msg;   /* the message just built: in fast or slow */
    int64_t now_us;    /* wall clock when the chunk being filled began */
};

static void batch_bad(struct batch *b, unsigned long lineno, const char *fmt,
                      ...) __attribute__((format(printf, 3, 4)));
static int batch_parse(struct batch *b, const char *line, size_t len,
                       json_t **root, size_t *msglen, const char **id,
                       int64_t *due_ms);
static int batch_encode(struct batch *b, json_t *root, size_t *msglen,
                        const char **id, int64_t *due_ms);
static void batch_head(struct batch *b);
static void batch_fill(struct batch *b, struct batch_chunk *ch);
static int batch_collect(struct batch *b, struct batch_chunk *ch);
static void batch_result(const char *doc, size_t len, void *arg);
static void batch_expect(struct batch *b, struct batch_shard *sh,
                         const char *id, size_t idlen, unsigned long lineno);
static int batch_send_all(struct batch *b);
static int batch_wait_all(struct batch *b);

/* Reports a bad line (the first BATCH_MAX_REPORTS) and counts it. */
static void
batch_bad(struct batch *b, unsigned long lineno, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    b->bad++;
    if (b->reports++ >= BATCH_MAX_REPORTS)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    cli_warnx("line %lu: %s", lineno, msg);
    if (b->reports == BATCH_MAX_REPORTS)
        cli_warnx("further bad lines are counted but not shown");
}

/* A field value as a string of 1..PROTOCOL_MAX_NAME bytes, else NULL. */
static const char *
batch_name(json_t *v)
{
    if (!json_is_string(v))
        return NULL;
    size_t n = json_string_length(v);
    if (n == 0 || n > PROTOCOL_MAX_NAME)
        return NULL;
    return json_string_value(v);
}

/*
 * Turns one input line into a task message b->msg (*msglen bytes).
 * Returns 1 with *root (the parsed line, a new reference the caller drops),
 * *id (the message's "id" borrowed from *root, or NULL) and *due_ms (the
 * due time of a delayed task, else -1); 0 for a blank line; or -1 after
 * reporting the line as bad.  *root is NULL unless 1 is returned.
 *
 * The line is checked with jansson, but not encoded again: once it is
 * known to be an object holding only "task", "args" and "id" and the task
 * is not delayed, the builder puts the line's members, byte for byte,
 * after the head its shard keeps in fast ("v", "reply_to" and the fields of
 * the delivery options).  Lines with delivery fields of their own, and
 * delayed tasks, are completed and encoded again by batch_encode().
 */
static int
batch_parse(struct batch *b, const char *line, size_t len, json_t **rootp,
            size_t *msglen, const char **id, int64_t *due_ms)
{
    unsigned long lineno = b->in.lineno;
    json_error_t err;
    json_t *root = NULL;
    size_t i;
    int own_fields = 0; /* the line has delivery fields */

    *rootp = NULL;
    *id = NULL;
    *due_ms = -1;
    for (i = 0; i < len; i++)
        if (line[i] != ' ' && line[i] != '\t' && line[i] != '\r')
            break;
    if (i == len)
        return 0;
    root = message_load(line, len, &err); /* fast for large payloads */
    if (root == NULL) {
        batch_bad(b, lineno, "not valid JSON: %s (column %d)", err.text,
                  err.column);
        return -1;
    }
    if (!json_is_object(root)) {
        batch_bad(b, lineno,
                  "expected a JSON object like {\"task\": "
                  "\"hash\", \"args\": {\"data\": \"abc\"}}");
        goto bad;
    }
    json_t *task = json_object_get(root, BUILD_F_TASK);
    json_t *args = json_object_get(root, BUILD_F_ARGS);
    json_t *idv = json_object_get(root, BUILD_F_ID);
    size_t known = (task != NULL) + (args != NULL) + (idv != NULL);
    if (json_object_size(root) != known) {
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v)
        {
            if (strcmp(key, BUILD_F_TASK) == 0 ||
                strcmp(key, BUILD_F_ARGS) == 0 || strcmp(key, BUILD_F_ID) == 0)
                continue;
            if (strcmp(key, BUILD_F_RETRIES) == 0 ||
                strcmp(key, BUILD_F_ERRORS) == 0 ||
                strcmp(key, BUILD_F_QUEUE) == 0) {
                batch_bad(b, lineno,
                          "field \"%s\" is set by celeriac, not in "
                          "the input%s",
                          key,
                          strcmp(key, BUILD_F_QUEUE) == 0 ? " (use --queue)"
                                                          : "");
                goto bad;
            }
            if (strcmp(key, UNIQUE_F_FOR) == 0 ||
                strcmp(key, UNIQUE_F_KEY) == 0) {
                own_fields = 1;
                continue;
            }
            if (!delivery_line_field(key)) {
                batch_bad(b, lineno,
                          "unknown field \"%s\"; a line has "
                          "\"task\", \"args\", optionally \"id\", "
                          "the delivery fields of 'celeriac send "
                          "--help', \"unique_for\" and \"unique_key\"",
                          key);
                goto bad;
            }
            own_fields = 1;
        }
    }
    if (batch_name(task) == NULL) {
        batch_bad(b, lineno,
                  "\"task\" must be the task name, a string of "
                  "1 to %d bytes",
                  PROTOCOL_MAX_NAME);
        goto bad;
    }
    if (json_is_null(args))
        args = NULL;
    if (args != NULL && !json_is_object(args)) {
        batch_bad(b, lineno,
                  "\"args\" must be an object of named "
                  "arguments, e.g. {\"data\": \"abc\"}");
        goto bad;
    }
    struct proto_error perr;
    if (b->o->check &&
        validate_task(json_string_value(task), args, 0, &perr) < 0) {
        batch_bad(b, lineno, "not sent: a worker would refuse it: %s: %s",
                  perr.type, perr.message);
        goto bad;
    }
    if (json_is_null(idv))
        idv = NULL;
    if (idv != NULL && batch_name(idv) == NULL) {
        batch_bad(b, lineno, "\"id\" must be a string of 1 to %d bytes",
                  PROTOCOL_MAX_NAME);
        goto bad;
    }
    if (idv != NULL &&
        strlen(json_string_value(idv)) != json_string_length(idv)) {
        batch_bad(b, lineno, "\"id\" must not contain NUL");
        goto bad;
    }
    if (b->o->unique_for > 0 && json_object_get(root, UNIQUE_F_FOR) == NULL) {
        json_object_set_new(root, UNIQUE_F_FOR, json_integer(b->o->unique_for));
        own_fields = 1;
    }
    /* A unique task goes to shard 0, where its lock is (shard.h). */
    if (json_object_get(root, UNIQUE_F_FOR) != NULL ||
        json_object_get(root, UNIQUE_F_KEY) != NULL) {
        b->cur = 0;
        b->pinned = 1;
    }
    struct build *fast = &b->shards[b->cur].fast;
    /* Several shards hand out the same entry ids: an id-less task gets
     * one of the CLI's (PROTOCOL.md, "Shards"). */
    if (own_fields || delivery_delayed(b->o->delivery) ||
        (idv == NULL && b->nshards > 1)) {
        if (batch_encode(b, root, msglen, id, due_ms) < 0)
            goto bad;
        *rootp = root;
        return 1;
    }
    /* The line's members follow the head, after a comma. */
    const char *open = memchr(line, '{', len);
    size_t rest = len - (size_t)(open + 1 - line);
    *msglen = fast->head_len + 1 + rest;
    if (*msglen > PROTOCOL_MAX_MESSAGE) {
        batch_bad(b, lineno,
                  "the task message is %zu bytes; workers take "
                  "at most %u (64 MiB)",
                  *msglen, PROTOCOL_MAX_MESSAGE);
        goto bad;
    }
    int br = build_finish(fast, line, len);
    if (br < 0) {
        batch_bad(b, lineno, "%s", build_strerror(br));
        goto bad;
    }
    *msglen = fast->len;
    b->msg = fast->buf;
    *id = idv ? json_string_value(idv) : NULL;
    *rootp = root;
    return 1;
bad:
    json_decref(root);
    return -1;
}

/*
 * The slow way of batch_parse(): completes the line root (checked but for
 * its delivery fields) into the message and encodes it into b->msg.
 * Returns 0, or -1 after reporting the line as bad.
 */
static int
batch_encode(struct batch *b, json_t *root, size_t *msglen, const char **id,
             int64_t *due_ms)
{
    unsigned long lineno = b->in.lineno;
    char why[600];

    if (delivery_line(b->o->delivery, root, b->now_us, due_ms, why,
                      sizeof(why)) < 0) {
        batch_bad(b, lineno, "%s", why);
        return -1;
    }
    char token[TOKEN_ID_LEN + 1];
    struct build_spec spec = {.extra = root};
    if (b->o->wait)
        spec.reply_to = b->shards[b->cur].wait.key;
    if (*due_ms >= 0)
        spec.queue = b->o->queue;
    if ((*due_ms >= 0 || b->nshards > 1) &&
        json_object_get(root, BUILD_F_ID) == NULL) {
        token_hex(token, TOKEN_ID_LEN);
        json_object_set_new(root, BUILD_F_ID, json_string(token));
    }
    json_t *idv = json_object_get(root, BUILD_F_ID);
    *id = json_is_string(idv) ? json_string_value(idv) : NULL;
    int br = build_message(&b->slow, &spec);
    if (br < 0) {
        batch_bad(b, lineno, "%s%s", build_strerror(br),
                  br == -BUILD_E_UTF8 && *due_ms >= 0
                      ? " (the queue name of a delayed task must be "
                        "valid UTF-8)"
                      : "");
        return -1;
    }
    *msglen = b->slow.len;
    b->msg = b->slow.buf;
    if (*msglen > PROTOCOL_MAX_MESSAGE) {
        batch_bad(b, lineno,
                  "the task message is %zu bytes; workers take "
                  "at most %u (64 MiB)",
                  *msglen, PROTOCOL_MAX_MESSAGE);
        return -1;
    }
    return 0;
}

/*
 * Builds the heads of the messages of lines sent as they are, kept in
 * each shard's fast: "v", "reply_to" (--wait; the shard's reply stream)
 * and the fields of the delivery options for a task sent at b->now_us.
 */
static void
batch_head(struct batch *b)
{
    json_t *h = json_object();
    struct build_spec spec = {.extra = h};

    delivery_apply(b->o->delivery, h, b->now_us);
    for (int i = 0; i < b->nshards; i++) {
        if (b->o->wait)
            spec.reply_to = b->shards[i].wait.key;
        int r = build_head(&b->shards[i].fast, &spec);
        if (r < 0)
            fatalx("batch_head: %s", build_strerror(r));
    }
    json_decref(h);
}

/*
 * When the line root (whose message is msglen bytes) is a unique task,
 * names its lock in lock[0..n) and returns 1; 0 when it is not unique; -1
 * after reporting the line as bad (the worker would refuse the message).
 */
static int
batch_unique_lock(struct batch *b, json_t *root, size_t msglen, char *lock,
                  size_t n)
{
    struct unique u;
    struct proto_error perr;
    char hex[UNIQUE_HEX_LEN + 1];

    if (json_object_get(root, UNIQUE_F_FOR) == NULL &&
        json_object_get(root, UNIQUE_F_KEY) == NULL)
        return 0;
    if (unique_decode(root, msglen, &u, &perr) < 0) {
        batch_bad(b, b->in.lineno, "%s", perr.message);
        return -1;
    }
    if (u.for_s == 0)
        return 0;
    const char *task = json_string_value(json_object_get(root, BUILD_F_TASK));
    if (unique_digest(u.key, u.key_len, task,
                      json_object_get(root, BUILD_F_ARGS), hex) < 0 ||
        keys_unique(lock, n, b->shards[0].prefix, hex) < 0) {
        batch_bad(b, b->in.lineno,
                  "the lock of this unique task could not be named (is "
                  "--prefix too long?)");
        return -1;
    }
    return 1;
}

/* Reads lines into XADDs until the chunk is full or the input ends. */
static void
batch_fill(struct batch *b, struct batch_chunk *ch)
{
    size_t bytes = 0;
    char *line;
    size_t len, msglen;
    const char *id;
    json_t *root;
    int64_t due_ms;

    uint64_t used = 0; /* the shards this chunk's lines went to */

    ch->n = 0;
    ch->has_poll = 0;
    ch->has_wait = 0;
    b->now_us = delivery_clock_us();
    if (b->o->delivery->expiry == DELIVERY_EXPIRES_IN)
        batch_head(b); /* "expires" counts from now */
    while (!b->in.eof || b->in.start < b->in.end) {
        if (ch->n == BATCH_CHUNK_TASKS || bytes >= BATCH_CHUNK_BYTES)
            break;
        int r = lines_next(&b->in, &line, &len);
        if (r == LINES_EOF)
            break;
        if (r < 0) {
            b->input_error = 1;
            break;
        }
        if (r == LINES_TOO_LONG) {
            batch_bad(b, b->in.lineno,
                      "longer than %u bytes; a task "
                      "message is at most 64 MiB",
                      BATCH_MAX_LINE);
            continue;
        }
        b->cur = b->rr.next; /* batch_parse may pin it to shard 0 */
        b->pinned = 0;
        if (batch_parse(b, line, len, &root, &msglen, &id, &due_ms) <= 0)
            continue;
        char lock[KEYS_MAX];
        int unique = batch_unique_lock(b, root, msglen, lock, sizeof(lock));
        if (unique < 0) {
            json_decref(root);
            continue;
        }
        struct submit *sub = &b->shards[b->cur].sub;
        if (unique)
            unique_send_append_lock(
                sub, lock,
                json_integer_value(json_object_get(root, UNIQUE_F_FOR)), b->msg,
                msglen, id, due_ms);
        else if (due_ms >= 0)
            submit_append_scheduled(sub, due_ms, b->msg, msglen);
        else
            submit_append(sub, b->msg, msglen);
        if (!b->pinned)
            shard_rr_next(&b->rr);
        used |= UINT64_C(1) << b->cur;
        if (ch->n == ch->cap) {
            ch->cap = ch->cap ? ch->cap * 2 : 256;
            ch->items = xrealloc(ch->items, ch->cap * sizeof(*ch->items));
        }
        ch->items[ch->n].lineno = b->in.lineno;
        ch->items[ch->n].user_id = id ? xstrdup(id) : NULL;
        ch->items[ch->n].due_ms = due_ms;
        ch->items[ch->n].unique = unique;
        ch->items[ch->n].shard = b->cur;
        json_decref(root);
        ch->n++;
        bytes += msglen;
    }
    for (int i = 0; i < b->nshards; i++) {
        struct batch_shard *sh = &b->shards[i];
        if (b->o->durable > 0 && (used >> i & 1)) {
            durable_append(&sh->conn, b->o->durable);
            ch->has_wait |= UINT64_C(1) << i;
        }
        /* Pick up results already there, one XREAD at a time. */
        if (b->o->wait && !sh->poll_outstanding && sh->sent > sh->done) {
            wait_append_poll(&sh->wait, BATCH_READ_COUNT);
            ch->has_poll |= UINT64_C(1) << i;
            sh->poll_outstanding = 1;
        }
    }
}

/*
 * Reads the WAIT replies of a chunk's shards (--durable) and reports the
 * tasks fewer replicas than asked acknowledged.  Returns 0, or -1 if a
 * connection was lost.
 */
static int
batch_collect_durable(struct batch *b, struct batch_chunk *ch, uint64_t sent0,
                      unsigned long first, unsigned long last)
{
    long long least = -1;
    int rc = 0;

    for (int i = 0; i < b->nshards; i++) {
        if (!(ch->has_wait >> i & 1))
            continue;
        long long acked = durable_reply(&b->shards[i].conn);
        if (acked < 0)
            rc = -1;
        else if (least < 0 || acked < least)
            least = acked;
    }
    ch->has_wait = 0;
    if (rc == 0 && least < b->o->durable && b->sent > sent0) {
        b->undurable += b->sent - sent0;
        cli_warnx("lines %lu to %lu: %llu task(s) queued, but %lld of %d "
                  "replica(s) acknowledged them within %d ms: they are "
                  "lost if the master fails now",
                  first, last, (unsigned long long)(b->sent - sent0), least,
                  b->o->durable, DURABLE_WAIT_MS);
    }
    return rc;
}

/*
 * Reads the replies of a chunk's XREADs of the reply streams and hands
 * the results on.  Returns 0, or -1 if a connection was lost or Redis
 * refused an XREAD (printed).
 */
static int
batch_collect_polls(struct batch *b, struct batch_chunk *ch)
{
    int rc = 0;

    for (int i = 0; i < b->nshards; i++) {
        struct batch_shard *sh = &b->shards[i];
        if (!(ch->has_poll >> i & 1))
            continue;
        redisReply *r = conn_reply(&sh->conn);
        if (r == NULL) {
            rc = -1;
            continue;
        }
        b->reading = i;
        if (wait_take(&sh->wait, r, batch_result, b) < 0)
            rc = -1;
        freeReplyObject(r);
        sh->poll_outstanding = 0;
    }
    ch->has_poll = 0;
    return rc;
}

/*
 * Reads the replies of a chunk: prints task ids (or records them for
 * --wait), reports refused tasks, hands polled results on.  Returns 0, or
 * -1 if the connection was lost or Redis refused the XREAD (printed).
 */
static int
batch_collect(struct batch *b, struct batch_chunk *ch)
{
    int rc = 0;
    size_t i;
    uint64_t sent0 = b->sent;
    unsigned long first = ch->n ? ch->items[0].lineno : 0;
    unsigned long last = ch->n ? ch->items[ch->n - 1].lineno : 0;

    for (i = 0; i < ch->n; i++) {
        struct batch_item *it = &ch->items[i];
        struct batch_shard *sh = &b->shards[it->shard];
        redisReply *r = conn_reply(&sh->conn);
        if (r == NULL) {
            /* Lost: read on the other shards' replies, in step. */
            rc = -1;
            free(it->user_id);
            it->user_id = NULL;
            continue;
        }
        /* 1 queued (id: the task id, or NULL: "<queue>/<entry id>" from
         * an XADD's reply), 0 refused, 2 a unique line's duplicate. */
        int verdict = 0;
        char id[KEYS_MAX];
        const char *uid = it->user_id;
        if (it->unique && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[0]->type == REDIS_REPLY_INTEGER &&
            r->element[1]->type == REDIS_REPLY_STRING) {
            /* The script names the task id, or the lock holder's. */
            snprintf(id, sizeof(id), "%.*s", (int)r->element[1]->len,
                     r->element[1]->str);
            uid = id;
            verdict = r->element[0]->integer == 1 ? 1 : 2;
        } else if (!it->unique && it->due_ms >= 0 &&
                   r->type == REDIS_REPLY_INTEGER) {
            verdict = r->integer == 0 ? 3 : 1;
        } else if (!it->unique && it->due_ms < 0 &&
                   r->type == REDIS_REPLY_STRING) {
            verdict = 1;
            if (uid == NULL) { /* an id-less task's id */
                snprintf(id, sizeof(id), "%s/%.*s", b->o->queue, (int)r->len,
                         r->str);
                uid = id;
            }
        }
        if (verdict == 1) {
            b->sent++;
            sh->sent++;
            b->last_queued_line = it->lineno;
            if (b->o->wait)
                batch_expect(b, sh, uid, strlen(uid), it->lineno);
            else
                puts(cli_safe(uid)); /* a user's id may hold control
                                        characters */
        } else if (verdict == 2) {
            b->duplicates++;
            cli_warnx("line %lu: duplicate of %s", it->lineno, cli_safe(uid));
        } else if (verdict == 3) {
            batch_bad(b, it->lineno,
                      "not scheduled: the same message (same \"id\") is "
                      "already waiting in %s",
                      sh->sub.scheduled);
        } else if (b->reports < BATCH_MAX_REPORTS) {
            char what[64];
            snprintf(what, sizeof(what), "the task of line %lu", it->lineno);
            conn_report_error(&sh->conn, what, r);
            batch_bad(b, it->lineno, "not queued (see above)");
        } else {
            batch_bad(b, it->lineno, "not queued");
        }
        freeReplyObject(r);
        free(it->user_id);
        it->user_id = NULL;
    }
    ch->n = 0;
    if (ch->has_wait && batch_collect_durable(b, ch, sent0, first, last) < 0)
        rc = -1;
    if (ch->has_poll && batch_collect_polls(b, ch) < 0)
        rc = -1;
    return rc;
}

/* Expects the result of the task of input line lineno, sent to sh. */
static void
batch_expect(struct batch *b, struct batch_shard *sh, const char *id,
             size_t idlen, unsigned long lineno)
{
    uint64_t seq = b->nseq++;
    if (seq >= b->seq_cap) {
        size_t cap = b->seq_cap ? b->seq_cap * 2 : 4096;
        b->seq_line = xrealloc(b->seq_line, cap * sizeof(*b->seq_line));
        if (b->o->ordered) {
            b->seq_doc = xrealloc(b->seq_doc, cap * sizeof(*b->seq_doc));
            memset(b->seq_doc + b->seq_cap, 0,
                   (cap - b->seq_cap) * sizeof(*b->seq_doc));
        }
        b->seq_cap = cap;
    }
    b->seq_line[seq] = lineno;
    idmap_add(&sh->ids, id, idlen, seq);
}

/* Prints the held-back results from print_next on, up to the first one
 * missing (all of them, skipping the missing, when all is set). */
static void
batch_flush_ordered(struct batch *b, int all)
{
    for (; b->print_next < b->nseq; b->print_next++) {
        char *d = b->seq_doc[b->print_next];
        if (d == NULL) {
            if (all)
                continue;
            break;
        }
        puts(d);
        free(d);
        b->seq_doc[b->print_next] = NULL;
    }
}

/* wait_fn: prints a result of ours the first time it comes, with the
 * input line of its task as a last member "line". */
static void
batch_result(const char *doc, size_t len, void *arg)
{
    struct batch *b = arg;
    json_t *root = json_loadb(doc, len, 0, NULL);
    json_t *idv = json_object_get(root, BUILD_F_ID);
    uint64_t seq;

    if (json_is_object(root) && json_is_string(idv) && len > 0 &&
        doc[len - 1] == '}' &&
        idmap_take(&b->shards[b->reading].ids, json_string_value(idv),
                   json_string_length(idv), &seq)) {
        const char *st =
            json_string_value(json_object_get(root, RESULT_F_STATUS));
        b->done++;
        b->shards[b->reading].done++;
        if (st == NULL || strcmp(st, RESULT_SUCCESS) != 0)
            b->failed++;
        char *out =
            xasprintf("%.*s%s\"line\":%lu}", (int)(len - 1), doc,
                      json_object_size(root) > 0 ? "," : "", b->seq_line[seq]);
        if (b->o->ordered) {
            b->seq_doc[seq] = out;
            batch_flush_ordered(b, 0);
        } else {
            puts(out);
            free(out);
        }
    }
    json_decref(root);
}

/* Sends every shard's pipeline.  Returns 0, or -1 if a link is lost. */
static int
batch_flush(struct batch *b)
{
    for (int i = 0; i < b->nshards; i++)
        if (conn_flush(&b->shards[i].conn) < 0)
            return -1;
    return 0;
}

/* The first shard whose connection is lost, or NULL. */
static struct batch_shard *
batch_lost(struct batch *b)
{
    for (int i = 0; i < b->nshards; i++)
        if (conn_lost(&b->shards[i].conn))
            return &b->shards[i];
    return NULL;
}

/*
 * Sends the whole input.  Returns 0, or -1 if a connection was lost or
 * Redis refused a command (printed).
 */
static int
batch_send_all(struct batch *b)
{
    struct batch_chunk *prev = &b->chunks[0], *cur = &b->chunks[1];
    struct batch_shard *lost;

    progress_start(&b->prog, "sent", 0);
    for (;;) {
        batch_fill(b, cur);
        if ((cur->n > 0 || cur->has_poll) && batch_flush(b) < 0)
            goto lost;
        if (batch_collect(b, prev) < 0)
            goto lost;
        if (cur->n == 0 && !cur->has_poll)
            break;
        struct batch_chunk *t = prev;
        prev = cur;
        cur = t;
        progress_update(&b->prog, b->sent,
                        b->in.size ? (double)b->in.offset / b->in.size : -1);
    }
    progress_end(&b->prog, b->sent);
    return 0;
lost:
    progress_end(&b->prog, b->sent);
    if ((lost = batch_lost(b)) != NULL) {
        char doing[160];
        snprintf(doing, sizeof(doing),
                 "sending tasks (%llu queued, up to input line %lu; later "
                 "lines may or may not have been queued)",
                 (unsigned long long)b->sent, b->last_queued_line);
        conn_report_lost(&lost->conn, doing);
    }
    batch_collect(b, prev); /* frees what is left */
    batch_collect(b, cur);
    return -1;
}

/*
 * Reads the results there are on the shards still owed some, blocking on
 * each for up to block_ms.  Returns how many were read, or -1 with
 * *failed the shard whose wait_next() failed.
 */
static int
batch_wait_round(struct batch *b, int block_ms, int *failed)
{
    int n = 0;

    for (int i = 0; i < b->nshards; i++) {
        struct batch_shard *sh = &b->shards[i];
        if (sh->done >= sh->sent)
            continue;
        b->reading = i;
        int r =
            wait_next(&sh->wait, BATCH_READ_COUNT, block_ms, batch_result, b);
        if (r < 0) {
            *failed = i;
            return -1;
        }
        n += r;
    }
    return n;
}

/*
 * Waits for every result.  Returns an exit code.  With one shard owed
 * results, reads block on it as long as block; with several, briefly on
 * each in turn.
 */
static int
batch_wait_all(struct batch *b)
{
    int block = b->prog.enabled ? 200 : 5000;
    int idle = 1, failed = 0;

    progress_start(&b->prog, "done", b->sent);
    while (b->done < b->sent) {
        progress_update(&b->prog, b->done, -1);
        int owed = 0;
        for (int i = 0; i < b->nshards; i++)
            owed += b->shards[i].done < b->shards[i].sent;
        int ms = owed <= 1 ? block : idle ? BATCH_SHARD_BLOCK_MS : 1;
        int r = batch_wait_round(b, ms, &failed);
        if (r >= 0) {
            idle = r == 0;
            continue;
        }
        struct batch_shard *sh = &b->shards[failed];
        progress_end(&b->prog, b->done);
        if (!sh->wait.timed_out)
            return CLI_EXIT_REDIS;
        cli_warnx("%llu of %llu results did not arrive within %.3g s: %s",
                  (unsigned long long)(b->sent - b->done),
                  (unsigned long long)b->sent, (double)b->o->timeout_us / 1e6,
                  conn_timeout_hint(&sh->conn));
        return CLI_EXIT_TIMEOUT;
    }
    progress_end(&b->prog, b->done);
    return CLI_EXIT_OK;
}

/*
 * Names shard i's keys and reply stream.  Returns 0, or -1 after printing
 * why not (a usage error).
 */
static int
batch_shard_init(struct batch *b, struct cli *cli, int i)
{
    struct batch_shard *sh = &b->shards[i];

    if (cli_shard_prefix(cli, i, sh->prefix, sizeof(sh->prefix)) < 0) {
        cli_warnx("--prefix '%s' is too long", cli->prefix);
        return -1;
    }
    if (conn_init(&sh->conn, cli->redis, sh->prefix) < 0 ||
        submit_init(&sh->sub, &sh->conn, sh->prefix, b->o->queue) < 0 ||
        (b->o->wait && wait_init(&sh->wait, &sh->conn, sh->prefix,
                                 cli_deadline(b->o->timeout_us)) < 0))
        return -1;
    if (b->o->wait) {
        json_t *key = json_string(sh->wait.key);
        if (key == NULL) {
            cli_warnx("--prefix must be valid UTF-8");
            return -1;
        }
        json_decref(key);
    }
    return 0;
}

/* Connects to every shard and makes its queue's consumer group.  Returns
 * 0, or -1 after printing why not. */
static int
batch_connect(struct batch *b)
{
    for (int i = 0; i < b->nshards; i++) {
        struct batch_shard *sh = &b->shards[i];
        if (conn_connect(&sh->conn) < 0)
            return -1;
        if (submit_ensure_group(&sh->sub) < 0) {
            if (conn_lost(&sh->conn))
                conn_report_lost(&sh->conn, "creating the consumer group");
            return -1;
        }
    }
    return 0;
}

int
batch_main(struct cli *cli, const struct batch_opts *o)
{
    struct batch *b = xcalloc(1, sizeof(*b));
    int rc = CLI_EXIT_USAGE;

    b->o = o;
    b->in.fd = -1;
    b->nshards = cli->shards > 1 ? cli->shards : 1;
    b->shards = xcalloc((size_t)b->nshards, sizeof(*b->shards));
    shard_rr_init(&b->rr, b->nshards);
    for (int i = 0; i < b->nshards; i++)
        if (batch_shard_init(b, cli, i) < 0)
            goto done;
    b->now_us = delivery_clock_us();
    batch_head(b);
    rc = CLI_EXIT_FAILED;
    if (lines_open(&b->in, o->file, BATCH_MAX_LINE) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (batch_connect(b) < 0)
        goto done;
    if (batch_send_all(b) < 0)
        goto done;
    rc = CLI_EXIT_OK;
    if (o->wait) {
        rc = batch_wait_all(b);
        if (o->ordered) /* after a timeout, the others in order */
            batch_flush_ordered(b, 1);
        for (int i = 0; i < b->nshards; i++)
            wait_cleanup(&b->shards[i].wait);
    }
    if (rc == CLI_EXIT_OK && (b->bad > 0 || b->failed > 0 || b->input_error))
        rc = CLI_EXIT_FAILED;
    else if (rc == CLI_EXIT_OK && b->duplicates > 0)
        rc = UNIQUE_SEND_EXIT_DUPLICATE;
    if (b->duplicates > 0)
        cli_warnx("%lu line%s not sent: a duplicate of a unique task sent "
                  "before",
                  b->duplicates, b->duplicates == 1 ? "" : "s");
    if (b->undurable > 0) {
        cli_warnx("%llu of %llu tasks were not acknowledged by %d replica(s) "
                  "(--durable, lines above): send them again",
                  (unsigned long long)b->undurable,
                  (unsigned long long)b->sent, o->durable);
        if (rc == CLI_EXIT_OK)
            rc = DURABLE_EXIT;
    }
    if (b->bad > 0)
        cli_warnx("%lu bad line%s skipped (or refused by Redis); fix and "
                  "send them again",
                  b->bad, b->bad == 1 ? "" : "s");
    if (b->failed > 0)
        cli_warnx("%llu of %llu tasks did not succeed (status FAILURE or "
                  "EXPIRED)",
                  (unsigned long long)b->failed, (unsigned long long)b->done);
done:
    if (cli_flush_stdout() < 0 && rc == CLI_EXIT_OK)
        rc = CLI_EXIT_FAILED;
    if (b->in.buf != NULL)
        lines_close(&b->in);
    for (int i = 0; i < 2; i++)
        free(b->chunks[i].items);
    if (b->seq_doc != NULL)
        for (uint64_t i = 0; i < b->nseq; i++)
            free(b->seq_doc[i]);
    free(b->seq_doc);
    free(b->seq_line);
    for (int i = 0; i < b->nshards; i++) {
        idmap_free(&b->shards[i].ids);
        conn_close(&b->shards[i].conn);
        build_free(&b->shards[i].fast);
    }
    free(b->shards);
    build_free(&b->slow);
    free(b);
    return rc;
}
