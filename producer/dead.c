/* SPDX-License-Identifier: MIT */
/* `celeriac dead`: list, requeue or delete dead letters. */
#include "dead.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "conn.h"
#include "keys.h"
#include "result.h"
#include "xmalloc.h"

/* Entries shown by default, and requeued per transaction with --all. */
#define DEAD_DEFAULT_COUNT 100
#define DEAD_MAX_COUNT 1000000
#define DEAD_CHUNK 100
/* Transactions retried when the stream changed under WATCH. */
#define DEAD_MAX_ABORTS 50

/* The fields of one dead-letter entry, borrowed from an XRANGE reply. */
struct dead_entry {
    const redisReply *id;     /* the entry id in the dead stream */
    const redisReply *msg;    /* the original message; NULL if missing */
    const redisReply *reason; /* JSON; NULL if missing */
    const redisReply *queue;  /* the queue's stream key; NULL if missing */
    const redisReply *entry;  /* its entry id there; NULL if missing */
};

/* What a requeue run counts. */
struct dead_tally {
    unsigned long moved;   /* requeued */
    unsigned long skipped; /* could not be requeued (reported) */
};

static int dead_fields(const redisReply *e, struct dead_entry *d);
static json_t *dead_json_of(const redisReply *r);
static json_t *dead_entry_json(const struct dead_entry *d, const char *prefix);
static int dead_valid_id(const char *s);
static int dead_list(struct conn *c, const char *key, const char *prefix,
                     long count, int as_json);
static void dead_print(json_t *doc);
static int dead_ensure_group(struct conn *c, const char *queue_key);
static char *dead_message(const struct dead_entry *d, const char *qname,
                          size_t *len, char **tid);
static int dead_move(struct conn *c, const char *key, const char *prefix,
                     const redisReply *range, struct dead_tally *t);
static int dead_requeue_ids(struct conn *c, const char *key, const char *prefix,
                            char **ids, int n);
static int dead_requeue_all(struct conn *c, const char *key,
                            const char *prefix);
static int dead_purge(struct conn *c, const char *key, int yes);
static int dead_watch_range(struct conn *c, const char *key,
                            const char *start, const char *end,
                            const char *count, redisReply **out);

/* clang-format off */
void
dead_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac dead [--json] [--count N]\n"
"       celeriac dead --requeue ENTRY... | --requeue --all\n"
"       celeriac dead --purge --yes\n"
"\n"
"The dead-letter stream <prefix>dead holds the tasks workers gave up on\n"
"(WorkerLost after --max-deliveries crashed children, or\n"
"MaxDeliveriesExceeded), each with its original message, its queue and\n"
"the reason.  Without options, lists them, oldest first: entry id (in the\n"
"dead-letter stream), task id, queue and reason.\n"
"\n"
"  -j, --json             print one JSON document instead of text:\n"
"                         {\"key\", \"length\", \"entries\": [{\"entry\", \"id\",\n"
"                          \"task\", \"queue\", \"queue_key\", \"origin_entry\",\n"
"                          \"reason\", \"msg\"}]}; \"reason\" and \"msg\" are\n"
"                         the stored JSON (a string if it is not JSON)\n"
"  -n, --count N          list at most N entries (default 100)\n"
"  -r, --requeue ENTRY... put these dead letters back on their queues: XADD\n"
"                         of the original message to the stream named by the\n"
"                         entry's \"queue\" field and XDEL of the entry, in one\n"
"                         MULTI/EXEC; prints \"requeued ENTRY (task ID) to\n"
"                         STREAM as NEW-ENTRY\" for each.  The task runs\n"
"                         again with a fresh delivery count and keeps its\n"
"                         task id (a message without \"id\" gets the entry\n"
"                         id it had in its queue as \"id\"); its new result\n"
"                         replaces the FAILURE result.\n"
"  -a, --all              with --requeue: every entry that was in the stream\n"
"                         when the command started (100 per transaction)\n"
"  -p, --purge            delete the whole dead-letter stream (DEL); asks for\n"
"                         --yes, without which it only says how many entries\n"
"                         it would delete\n"
"  -y, --yes              with --purge: really delete\n"
"\n%s"
"\n"
"Exit codes: 0 done, 1 an entry was not found or could not be requeued,\n"
"2 usage error (also --purge without --yes), 4 Redis unreachable or\n"
"refused a command.\n"
"\n"
"Examples:\n"
"  celeriac dead\n"
"  celeriac dead --requeue 1795316254859-0\n"
"  celeriac dead --requeue --all\n"
"  celeriac dead --purge --yes\n",
            cli_global_help);
}
/* clang-format on */

/* Picks the fields out of an XRANGE entry.  Returns 0, or -1 if malformed. */
static int
dead_fields(const redisReply *e, struct dead_entry *d)
{
    memset(d, 0, sizeof(*d));
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY)
        return -1;
    d->id = e->element[0];
    const redisReply *f = e->element[1];
    for (size_t i = 0; i + 1 < f->elements; i += 2) {
        const redisReply *k = f->element[i], *v = f->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            continue;
        if (strcmp(k->str, KEYS_DEAD_MSG) == 0)
            d->msg = v;
        else if (strcmp(k->str, KEYS_DEAD_REASON) == 0)
            d->reason = v;
        else if (strcmp(k->str, KEYS_DEAD_QUEUE) == 0)
            d->queue = v;
        else if (strcmp(k->str, KEYS_DEAD_ENTRY) == 0)
            d->entry = v;
    }
    return 0;
}

/* A stored JSON string as a new JSON value: the parsed JSON, else the
 * string itself (else null, if it is not even UTF-8). */
static json_t *
dead_json_of(const redisReply *r)
{
    if (r == NULL)
        return json_null();
    json_t *v = json_loadb(r->str, r->len, JSON_DECODE_ANY, NULL);
    if (v == NULL)
        v = json_stringn(r->str, r->len);
    return v != NULL ? v : json_null();
}


/* One entry as listed by --json. */
static json_t *
dead_entry_json(const struct dead_entry *d, const char *prefix)
{
    json_t *o = json_object();
    json_t *msg = dead_json_of(d->msg);
    json_t *idv = json_object_get(msg, BUILD_F_ID);
    const char *qname = NULL;

    json_object_set_new(o, "entry", json_stringn(d->id->str, d->id->len));
    if (d->queue != NULL)
        qname = keys_queue_name(d->queue->str, prefix);
    /* Without an "id", the task id was "<queue>/<entry id in it>". */
    char tid[KEYS_MAX];
    if (json_is_string(idv))
        json_object_set(o, "id", idv);
    else if (d->entry != NULL && qname != NULL &&
             keys_task_id(tid, sizeof(tid), qname, d->entry->str) == 0)
        json_object_set_new(o, "id", json_string(tid));
    else
        json_object_set_new(o, "id", json_null());
    json_t *task = json_object_get(msg, BUILD_F_TASK);
    json_object_set(o, "task", json_is_string(task) ? task : json_null());
    json_object_set_new(o, "queue", qname ? json_string(qname) : json_null());
    json_object_set_new(o, "queue_key",
                        d->queue ? json_stringn(d->queue->str, d->queue->len)
                                 : json_null());
    json_object_set_new(o, "origin_entry",
                        d->entry ? json_stringn(d->entry->str, d->entry->len)
                                 : json_null());
    json_object_set_new(o, "reason", dead_json_of(d->reason));
    json_object_set_new(o, "msg", msg);
    return o;
}

/* 1 if s is a full stream entry id "MS-SEQ". */
static int
dead_valid_id(const char *s)
{
    const char *p = s;
    if (*p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p++ != '-' || *p < '0' || *p > '9')
        return 0;
    while (*p >= '0' && *p <= '9')
        p++;
    return *p == '\0' && p - s < 44;
}

/* Prints the document of dead_list() as text. */
static void
dead_print(json_t *doc)
{
    json_t *entries = json_object_get(doc, "entries");
    const char *key = json_string_value(json_object_get(doc, "key"));
    json_int_t length = json_integer_value(json_object_get(doc, "length"));
    int we = 5, wi = 7, wq = 5; /* column widths: ENTRY, TASK ID, QUEUE */
    size_t i;
    json_t *e;

    if (length == 0) {
        printf("No dead letters in %s.\n", cli_safe(key));
        return;
    }
    printf("%lld dead letter%s in %s, oldest first:\n\n", (long long)length,
           length == 1 ? "" : "s", cli_safe(key));
    json_array_foreach(entries, i, e)
    {
        const char *v;
        /* Widths of the values as printed, escaped. */
        if ((v = json_string_value(json_object_get(e, "entry"))) != NULL &&
            (int)strlen(cli_safe(v)) > we)
            we = (int)strlen(cli_safe(v));
        if ((v = json_string_value(json_object_get(e, "id"))) != NULL &&
            (int)strlen(cli_safe(v)) > wi)
            wi = (int)strlen(cli_safe(v));
        v = json_string_value(json_object_get(e, "queue"));
        if (v == NULL)
            v = json_string_value(json_object_get(e, "queue_key"));
        if (v != NULL && (int)strlen(cli_safe(v)) > wq)
            wq = (int)strlen(cli_safe(v));
    }
    printf("%-*s  %-*s  %-*s  %s\n", we, "ENTRY", wi, "TASK ID", wq, "QUEUE",
           "REASON");
    json_array_foreach(entries, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        const char *q = json_string_value(json_object_get(e, "queue"));
        json_t *reason = json_object_get(e, "reason");
        json_t *err = json_object_get(reason, RESULT_F_ERROR);
        const char *type = json_string_value(json_object_get(err, RESULT_F_ERROR_TYPE));
        const char *text = json_string_value(json_object_get(err, RESULT_F_ERROR_MESSAGE));
        json_t *deliveries = json_object_get(reason, "deliveries");
        const char *at = json_string_value(json_object_get(reason, "at"));

        if (q == NULL)
            q = json_string_value(json_object_get(e, "queue_key"));
        printf("%-*s  %-*s  %-*s  ", we,
               cli_safe(json_string_value(json_object_get(e, "entry"))), wi,
               id ? cli_safe(id) : "?", wq, q ? cli_safe(q) : "?");
        if (type != NULL) {
            printf("%s", cli_safe(type));
            if (json_is_integer(deliveries))
                printf(" after %lld deliver%s",
                       (long long)json_integer_value(deliveries),
                       json_integer_value(deliveries) == 1 ? "y" : "ies");
            if (at != NULL)
                printf(", %s", cli_safe(at));
            printf(": %s\n", text ? cli_safe(text) : "");
        } else if (json_is_string(reason)) {
            printf("%s\n", cli_safe(json_string_value(reason)));
        } else {
            printf("(no reason given)\n");
        }
    }
    if ((json_int_t)json_array_size(entries) < length)
        printf("\n(the first %zu of %lld; --count N shows more)\n",
               json_array_size(entries), (long long)length);
    printf("\nRequeue with 'celeriac dead --requeue ENTRY' (or --all); delete "
           "all with\n'celeriac dead --purge --yes'.\n");
}

/* Lists up to count entries.  Returns an exit code. */
static int
dead_list(struct conn *c, const char *key, const char *prefix, long count,
          int as_json)
{
    char countbuf[24];
    const char *a1[] = {"XLEN", key};
    const char *a2[] = {"XRANGE", key, "-", "+", "COUNT", countbuf};
    size_t l1[2], l2[6];
    redisReply *len = NULL, *range = NULL;
    json_t *doc = NULL;
    int rc = CLI_EXIT_REDIS;

    snprintf(countbuf, sizeof(countbuf), "%ld", count);
    for (int i = 0; i < 2; i++)
        l1[i] = strlen(a1[i]);
    for (int i = 0; i < 6; i++)
        l2[i] = strlen(a2[i]);
    conn_append(c, 2, a1, l1);
    conn_append(c, 6, a2, l2);
    if ((len = conn_reply(c)) == NULL || (range = conn_reply(c)) == NULL) {
        conn_report_lost(c, "reading the dead-letter stream");
        goto done;
    }
    if (len->type != REDIS_REPLY_INTEGER) {
        conn_report_error(c, "XLEN of the dead-letter stream", len);
        goto done;
    }
    if (range->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "XRANGE of the dead-letter stream", range);
        goto done;
    }
    doc = json_object();
    json_t *entries = json_array();
    json_object_set_new(doc, "key", json_string(key));
    json_object_set_new(doc, "length", json_integer(len->integer));
    json_object_set_new(doc, "entries", entries);
    for (size_t i = 0; i < range->elements; i++) {
        struct dead_entry d;
        if (dead_fields(range->element[i], &d) == 0)
            json_array_append_new(entries, dead_entry_json(&d, prefix));
    }
    if (as_json) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        dead_print(doc);
    }
    rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
done:
    if (len != NULL)
        freeReplyObject(len);
    if (range != NULL)
        freeReplyObject(range);
    json_decref(doc);
    return rc;
}

/*
 * Makes sure the queue's stream and consumer group exist before a message
 * goes back to it (and that the key is a stream: XADD on another type
 * would fail inside the transaction while XDEL went through).  Returns 0,
 * 1 if Redis refused (printed), -1 if the connection was lost.
 */
static int
dead_ensure_group(struct conn *c, const char *queue_key)
{
    redisReply *r = conn_call(c, "XGROUP", "CREATE", queue_key, KEYS_GROUP, "0",
                              "MKSTREAM", (const char *)NULL);
    if (r == NULL)
        return -1;
    int rc = 0;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        char what[KEYS_MAX + 64];
        snprintf(what, sizeof(what), "to create consumer group '%s' on %s",
                 KEYS_GROUP, queue_key);
        conn_report_error(c, what, r);
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}

/*
 * The message to put back on the queue: the stored one, but with "id" set
 * to "<queue>/<entry id>" (the id it had in its queue qname) when it has no
 * "id" of its own, so that the task keeps its task id (and its result key).
 * Returns an owned string of *len bytes, and in *tid the task id (owned;
 * NULL if unknown).
 */
static char *
dead_message(const struct dead_entry *d, const char *qname, size_t *len,
             char **tid)
{
    json_t *m =
        json_loadb(d->msg->str, d->msg->len, JSON_REJECT_DUPLICATES, NULL);
    json_t *idv = json_object_get(m, BUILD_F_ID);
    char *out = NULL, id[KEYS_MAX];

    *tid = NULL;
    if (json_is_string(idv)) {
        *tid = xstrdup(json_string_value(idv));
    } else if (json_is_object(m) && d->entry != NULL &&
               keys_task_id(id, sizeof(id), qname, d->entry->str) == 0 &&
               (idv = json_string(id)) != NULL) {
        *tid = xstrdup(id);
        json_object_set_new(m, BUILD_F_ID, idv);
        out = json_dumps(m, JSON_COMPACT);
    }
    json_decref(m);
    if (out == NULL)
        out = xstrndup(d->msg->str, d->msg->len);
    *len = strlen(out);
    return out;
}

/*
 * Requeues the entries of an XRANGE reply (borrowed) read under WATCH of
 * the dead stream: one MULTI with an XADD and an XDEL per entry, then
 * EXEC (the message as dead_message() gives it).  Entries that cannot go back
 * (no message, a key that is not a queue of this prefix, a queue Redis refuses)
 * are reported and counted in t->skipped.  Returns 1 when EXEC ran (t->moved
 * counts the entries requeued), 0 when it was aborted because the stream
 * changed (nothing was done: read again), -1 when the connection was lost or
 * Redis refused the transaction (printed unless lost).
 */
static int
dead_move(struct conn *c, const char *key, const char *prefix,
          const redisReply *range, struct dead_tally *t)
{
    size_t n = range->elements, queued = 0, i;
    struct dead_entry *ds = xcalloc(n ? n : 1, sizeof(*ds));
    char **msgs = xcalloc(n ? n : 1, sizeof(*msgs)); /* NULL: skipped */
    char **tids = xcalloc(n ? n : 1, sizeof(*tids));
    size_t *lens = xcalloc(n ? n : 1, sizeof(*lens));
    const char *last_group = NULL;
    int rc = -1;
    redisReply *r = NULL;

    for (i = 0; i < n; i++) {
        struct dead_entry *d = &ds[i];
        if (dead_fields(range->element[i], d) < 0)
            continue;
        if (d->msg == NULL || d->queue == NULL) {
            cli_warnx("dead letter %s has no %s field; not requeued",
                      d->id->str,
                      d->msg == NULL ? KEYS_DEAD_MSG : KEYS_DEAD_QUEUE);
            t->skipped++;
            continue;
        }
        if (keys_queue_name(d->queue->str, prefix) == NULL) {
            cli_warnx("dead letter %s names '%s', which is not a queue "
                      "stream %s" KEYS_KIND_QUEUE ":NAME; not requeued",
                      d->id->str, d->queue->str, prefix);
            t->skipped++;
            continue;
        }
        if (last_group == NULL || strcmp(last_group, d->queue->str) != 0) {
            int g = dead_ensure_group(c, d->queue->str);
            if (g < 0)
                goto done;
            if (g > 0) {
                cli_warnx("dead letter %s not requeued (see above)",
                          d->id->str);
                t->skipped++;
                continue;
            }
            last_group = d->queue->str;
        }
        msgs[i] = dead_message(d, keys_queue_name(d->queue->str, prefix),
                               &lens[i], &tids[i]);
    }

    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    size_t lmulti[] = {5}, lexec[] = {4};
    conn_append(c, 1, multi, lmulti);
    for (i = 0; i < n; i++) {
        if (msgs[i] == NULL)
            continue;
        const char *xadd[] = {"XADD", ds[i].queue->str, "*", KEYS_MSG_FIELD,
                              msgs[i]};
        size_t lxadd[] = {4, ds[i].queue->len, 1, strlen(KEYS_MSG_FIELD),
                          lens[i]};
        const char *xdel[] = {"XDEL", key, ds[i].id->str};
        size_t lxdel[] = {4, strlen(key), ds[i].id->len};
        conn_append(c, 5, xadd, lxadd);
        conn_append(c, 3, xdel, lxdel);
        queued++;
    }
    conn_append(c, 1, exec, lexec);
    /* MULTI's OK and a QUEUED per command; a refusal shows in EXEC. */
    for (i = 0; i < 1 + 2 * queued; i++) {
        if ((r = conn_reply(c)) == NULL)
            goto done;
        freeReplyObject(r);
    }
    if ((r = conn_reply(c)) == NULL)
        goto done;
    if (r->type == REDIS_REPLY_NIL) {
        rc = 0; /* WATCH saw a change: nothing ran */
        goto done;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 * queued) {
        conn_report_error(c, "the requeue transaction (MULTI/EXEC)", r);
        goto done;
    }
    size_t k = 0;
    for (i = 0; i < n; i++) {
        if (msgs[i] == NULL)
            continue;
        const redisReply *added = r->element[2 * k];
        if (added->type == REDIS_REPLY_STRING) {
            printf("requeued %s (task %s) to %s as %s\n",
                   cli_safe(ds[i].id->str), tids[i] ? cli_safe(tids[i]) : "?",
                   cli_safe(ds[i].queue->str), cli_safe(added->str));
            t->moved++;
        } else {
            /* Cannot happen after dead_ensure_group(); say it if it does. */
            char what[128];
            snprintf(what, sizeof(what),
                     "XADD of dead letter %s (it was deleted from the "
                     "dead-letter stream; its message is in the line below)",
                     ds[i].id->str);
            conn_report_error(c, what, added);
            cli_warnx("message of %s: %s", ds[i].id->str, msgs[i]);
            t->skipped++;
        }
        k++;
    }
    rc = 1;
done:
    if (r != NULL)
        freeReplyObject(r);
    for (i = 0; i < n; i++) {
        free(msgs[i]);
        free(tids[i]);
    }
    free(msgs);
    free(tids);
    free(lens);
    free(ds);
    return rc;
}

/* Requeues the named entries.  Returns an exit code. */
/*
 * WATCHes the dead-letter stream and reads entries start..end (at most
 * count, 0 for no limit).  Returns 1 with *out set (the caller frees it),
 * 0 when there are none (the WATCH is dropped), -1 when the connection was
 * lost, or -2 after reporting a Redis error.
 */
static int
dead_watch_range(struct conn *c, const char *key, const char *start,
                 const char *end, const char *count, redisReply **out)
{
    redisReply *w = conn_call(c, "WATCH", key, (const char *)NULL);
    if (w == NULL)
        return -1;
    freeReplyObject(w);
    redisReply *r = count ? conn_call(c, "XRANGE", key, start, end, "COUNT",
                                      count, (const char *)NULL)
                          : conn_call(c, "XRANGE", key, start, end,
                                      (const char *)NULL);
    if (r == NULL)
        return -1;
    if (r->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "XRANGE of the dead-letter stream", r);
        freeReplyObject(r);
        return -2;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        w = conn_call(c, "UNWATCH", (const char *)NULL);
        if (w == NULL)
            return -1;
        freeReplyObject(w);
        return 0;
    }
    *out = r;
    return 1;
}

static int
dead_requeue_ids(struct conn *c, const char *key, const char *prefix,
                 char **ids, int n)
{
    struct dead_tally t = {0, 0};
    unsigned long missing = 0;

    for (int i = 0; i < n; i++) {
        int aborts = 0, done = 0;
        while (!done) {
            redisReply *r = NULL;
            int got = dead_watch_range(c, key, ids[i], ids[i], NULL, &r);
            if (got == -1)
                goto lost;
            if (got == -2)
                return CLI_EXIT_REDIS;
            if (got == 0) {
                cli_warnx("no dead letter %s in %s (see 'celeriac dead')",
                          ids[i], key);
                missing++;
                break;
            }
            int m = dead_move(c, key, prefix, r, &t);
            freeReplyObject(r);
            if (m < 0) {
                if (conn_lost(c))
                    goto lost;
                return CLI_EXIT_REDIS;
            }
            if (m == 0 && ++aborts >= DEAD_MAX_ABORTS) {
                cli_warnx("%s kept changing; %s was not requeued: try "
                          "again",
                          key, ids[i]);
                missing++;
                break;
            }
            done = m == 1;
        }
    }
    if (cli_flush_stdout() < 0)
        return CLI_EXIT_FAILED;
    return missing > 0 || t.skipped > 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
lost:
    conn_report_lost(c, "requeueing dead letters (each one is either "
                        "requeued or still dead, never both)");
    return CLI_EXIT_REDIS;
}

/* Requeues every entry there when it starts.  Returns an exit code. */
static int
dead_requeue_all(struct conn *c, const char *key, const char *prefix)
{
    struct dead_tally t = {0, 0};
    char end[64], start[68] = "-";
    int aborts = 0;

    redisReply *r = conn_call(c, "XREVRANGE", key, "+", "-", "COUNT", "1",
                              (const char *)NULL);
    if (r == NULL)
        goto lost;
    if (r->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "XREVRANGE of the dead-letter stream", r);
        freeReplyObject(r);
        return CLI_EXIT_REDIS;
    }
    if (r->elements == 0 || r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements < 1 ||
        r->element[0]->element[0]->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        printf("No dead letters in %s.\n", cli_safe(key));
        return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    snprintf(end, sizeof(end), "%s", r->element[0]->element[0]->str);
    freeReplyObject(r);

    for (;;) {
        int got = dead_watch_range(c, key, start, end, "100", &r);
        if (got == -1)
            goto lost;
        if (got == -2)
            return CLI_EXIT_REDIS;
        if (got == 0)
            break;
        int m = dead_move(c, key, prefix, r, &t);
        if (m == 1) {
            const redisReply *lastent = r->element[r->elements - 1];
            if (lastent->type == REDIS_REPLY_ARRAY && lastent->elements > 0 &&
                lastent->element[0]->type == REDIS_REPLY_STRING)
                snprintf(start, sizeof(start), "(%s", lastent->element[0]->str);
            aborts = 0;
        }
        freeReplyObject(r);
        if (m < 0) {
            if (conn_lost(c))
                goto lost;
            return CLI_EXIT_REDIS;
        }
        if (m == 0 && ++aborts >= DEAD_MAX_ABORTS) {
            cli_warnx("%s kept changing; %lu requeued so far: run again", key,
                      t.moved);
            return CLI_EXIT_FAILED;
        }
    }
    printf("%lu dead letter%s requeued", t.moved, t.moved == 1 ? "" : "s");
    if (t.skipped > 0)
        printf(", %lu left in %s (see above)", t.skipped, cli_safe(key));
    printf("\n");
    if (cli_flush_stdout() < 0)
        return CLI_EXIT_FAILED;
    return t.skipped > 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
lost:
    conn_report_lost(c, "requeueing dead letters (each one is either "
                        "requeued or still dead, never both)");
    return CLI_EXIT_REDIS;
}

/* Deletes the dead-letter stream (with yes).  Returns an exit code. */
static int
dead_purge(struct conn *c, const char *key, int yes)
{
    redisReply *r = conn_call(c, "TYPE", key, (const char *)NULL);
    if (r == NULL)
        goto lost;
    int is_stream =
        r->type == REDIS_REPLY_STATUS && strcmp(r->str, "stream") == 0;
    int is_none = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "none") == 0;
    if (!is_stream && !is_none) {
        cli_warnx("%s is a %s, not a stream: not deleting it", key,
                  r->type == REDIS_REPLY_STATUS ? r->str
                                                : "key of unknown type");
        freeReplyObject(r);
        return CLI_EXIT_FAILED;
    }
    freeReplyObject(r);
    if (is_none) {
        printf("No dead letters in %s.\n", cli_safe(key));
        return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    if (!yes) {
        r = conn_call(c, "XLEN", key, (const char *)NULL);
        if (r == NULL)
            goto lost;
        long long n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
        freeReplyObject(r);
        return cli_usage("dead",
                         "--purge would delete %s (%lld dead letter%s); "
                         "add --yes to delete it",
                         key, n, n == 1 ? "" : "s");
    }
    /* Count and delete together, so that the count is what went. */
    const char *multi[] = {"MULTI"}, *xlen[] = {"XLEN", key},
               *del[] = {"DEL", key}, *exec[] = {"EXEC"};
    size_t l1[] = {5}, l2[] = {4, strlen(key)}, l3[] = {3, strlen(key)},
           l4[] = {4};
    conn_append(c, 1, multi, l1);
    conn_append(c, 2, xlen, l2);
    conn_append(c, 2, del, l3);
    conn_append(c, 1, exec, l4);
    for (int i = 0; i < 3; i++) {
        if ((r = conn_reply(c)) == NULL)
            goto lost;
        freeReplyObject(r);
    }
    if ((r = conn_reply(c)) == NULL)
        goto lost;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER) {
        conn_report_error(c, "deleting the dead-letter stream", r);
        freeReplyObject(r);
        return CLI_EXIT_REDIS;
    }
    printf("deleted %s (%lld dead letter%s)\n", cli_safe(key),
           r->element[0]->integer, r->element[0]->integer == 1 ? "" : "s");
    freeReplyObject(r);
    return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
lost:
    conn_report_lost(c, "deleting the dead-letter stream");
    return CLI_EXIT_REDIS;
}

int
dead_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"count", required_argument, NULL, 'n'},
        {"requeue", no_argument, NULL, 'r'},
        {"all", no_argument, NULL, 'a'},
        {"purge", no_argument, NULL, 'p'},
        {"yes", no_argument, NULL, 'y'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    char key[KEYS_MAX], *end;
    int opt, as_json = 0, requeue = 0, all = 0, purge = 0, yes = 0;
    long count = DEAD_DEFAULT_COUNT;
    int count_given = 0, rc = CLI_EXIT_USAGE;

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "jn:rapyh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
            as_json = 1;
            break;
        case 'n':
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || count < 1 ||
                count > DEAD_MAX_COUNT)
                return cli_usage("dead",
                                 "--count '%s': expected a whole number "
                                 "from 1 to %d",
                                 optarg, DEAD_MAX_COUNT);
            count_given = 1;
            break;
        case 'r':
            requeue = 1;
            break;
        case 'a':
            all = 1;
            break;
        case 'p':
            purge = 1;
            break;
        case 'y':
            yes = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            dead_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("dead", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    int nids = argc - optind;
    if (requeue && purge)
        return cli_usage("dead", "give --requeue or --purge, not both");
    if ((requeue || purge) && (as_json || count_given))
        return cli_usage("dead", "--json and --count only apply to the list");
    if (all && !requeue)
        return cli_usage("dead", "--all only applies with --requeue");
    if (yes && !purge)
        return cli_usage("dead", "--yes only applies with --purge");
    if (requeue && all && nids > 0)
        return cli_usage("dead", "give ENTRY ids or --all, not both");
    if (requeue && !all && nids == 0)
        return cli_usage("dead", "--requeue needs ENTRY ids (from 'celeriac "
                                 "dead') or --all");
    if (!requeue && nids > 0)
        return cli_usage("dead",
                         "unexpected argument '%s'; to requeue it, use "
                         "--requeue ENTRY",
                         argv[optind]);
    for (int i = optind; i < argc; i++)
        if (!dead_valid_id(argv[i]))
            return cli_usage("dead",
                             "'%s' is not a stream entry id such as "
                             "1795316254859-0",
                             argv[i]);
    if (keys_dead(key, sizeof(key), cli->prefix) < 0)
        return cli_usage("dead", "--prefix is too long");
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;
    if (purge)
        rc = dead_purge(&conn, key, yes);
    else if (requeue && all)
        rc = dead_requeue_all(&conn, key, cli->prefix);
    else if (requeue)
        rc = dead_requeue_ids(&conn, key, cli->prefix, argv + optind, nids);
    else
        rc = dead_list(&conn, key, cli->prefix, count, as_json);
done:
    conn_close(&conn);
    return rc;
}
