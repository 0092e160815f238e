/* SPDX-License-Identifier: MIT */
/*
 * `celeriac status`.  Everything is first gathered into one JSON document
 * (the --json output); the text output is rendered from that document, so
 * both always show the same facts.
 */
#include "status.h"

#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "keys.h"
#include "snapshot.h"
#include "xmalloc.h"

/* A queue that is empty, has nothing pending and got no entry for this
 * long is hidden unless --all. */
#define STATUS_OLD_QUEUE_MS (24LL * 3600 * 1000)
/* A gone worker whose last beat is older than this is removed from the
 * registry. */
#define STATUS_PRUNE_MS (3600LL * 1000)


static int status_queues(struct conn *c, const char *prefix, json_t *names,
                         json_t *out, double now_ms);
static void status_stream(json_t *q, const redisReply *info,
                          const redisReply *groups, double now_ms);
static const redisReply *status_field(const redisReply *r, const char *name);
static long long status_id_ms(const char *id);
static json_t *status_number(const char *s);
static double status_iso_ms(const char *s);
static int status_extra(struct conn *c, const char *prefix, json_t *doc);
static int status_workers(struct conn *c, const char *prefix, json_t *out,
                          double now_ms, long long *pruned);
static json_t *status_counters(json_t *fields);
static json_t *status_consumers(const redisReply *r);
static void status_print(json_t *doc, double now_ms, int verbose);
static int status_cmp(const void *a, const void *b);

/* clang-format off */
void
status_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac status [--all] [--verbose] [--json]\n"
"       celeriac status --alive NAME\n"
"\n"
"Shows, for the key prefix, one line per queue stream <prefix>queue:*:\n"
"its length (entries not yet finished), waiting (not yet taken by any\n"
"worker: the consumer group's lag, Redis 7+), pending (taken by a worker,\n"
"not yet acknowledged), consumers, and the age of its oldest entry; the\n"
"dead-letter stream <prefix>dead and the scheduled set <prefix>scheduled\n"
"when they exist; and one line per worker of the registry\n"
"<prefix>workers: state, tasks in hand, tasks done and failed since it\n"
"started, its rate (tasks done per second since it started) and its last\n"
"heartbeat.  A worker whose record <prefix>worker:<name> expired shows as\n"
"\"gone\"; one gone for over an hour is removed from the registry.  A\n"
"queue that is empty, has nothing pending, no consumers and got no task\n"
"for a day is hidden unless --all.\n"
"\n"
"  -a, --all      also show old empty queues\n"
"  -v, --verbose  also show each queue's consumers and each worker's\n"
"                 whole record\n"
"  -j, --json     print one JSON document instead of text:\n"
"                 {\"redis\", \"prefix\", \"time_ms\", \"hidden_queues\",\n"
"                  \"pruned_workers\",\n"
"                  \"queues\": [{\"name\", \"key\", \"length\", \"pending\",\n"
"                              \"lag\", \"oldest_age_ms\", \"last_added_ms\",\n"
"                              \"group\", \"consumers\": [{\"name\",\n"
"                              \"pending\", \"idle_ms\"}]}],\n"
"                  \"dead\": {\"key\", \"length\"} or null,\n"
"                  \"scheduled\": {\"key\", \"size\"} or null,\n"
"                  \"workers\": [{\"name\", \"last_beat\", \"age_ms\",\n"
"                               \"gone\", \"rate\", \"fields\": {...},\n"
"                               \"counters\": {...}}]}\n"
"                 Numbers are JSON numbers (null when unknown): in\n"
"                 \"fields\" (the worker's record) every decimal value;\n"
"                 \"counters\" holds the task counters (received,\n"
"                 succeeded, failed, retried, expired, dead, recovered,\n"
"                 duplicates, child_deaths), absent for a gone worker\n"
"  --alive NAME   print nothing; exit 0 if the worker NAME has a heartbeat\n"
"                 record in state \"running\", else 1 (one HGET: cheap\n"
"                 enough for a container health check; a worker in a\n"
"                 container is named <hostname>:1)\n"
"\n%s"
"\n"
"Exit codes: 0 shown (or alive), 1 not alive, 2 usage error, 4 Redis\n"
"unreachable or refused a command.\n",
            cli_global_help);
}
/* clang-format on */

static int
status_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The value of field name in a flat [name, value, ...] reply, or NULL. */
static const redisReply *
status_field(const redisReply *r, const char *name)
{
    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

/* The milliseconds part of a stream entry id "ms-seq", or -1. */
static long long
status_id_ms(const char *id)
{
    char *end;
    if (id == NULL || *id < '0' || *id > '9')
        return -1;
    errno = 0;
    long long ms = strtoll(id, &end, 10);
    return errno == 0 && *end == '-' ? ms : -1;
}

/*
 * From XINFO STREAM and XINFO GROUPS (either may be an error reply, e.g.
 * NOPERM: then those members are null): "lag" (entries the group has not
 * delivered; Redis 7+), "oldest_age_ms" (age of the first entry) and
 * "last_added_ms" (Unix ms of the last entry ever added).
 */
static void
status_stream(json_t *q, const redisReply *info, const redisReply *groups,
              double now_ms)
{
    json_t *lag = json_null(), *oldest = json_null(), *last = json_null();
    const redisReply *first = status_field(info, "first-entry");
    if (first != NULL && first->type == REDIS_REPLY_ARRAY &&
        first->elements > 0 && first->element[0]->type == REDIS_REPLY_STRING) {
        long long ms = status_id_ms(first->element[0]->str);
        if (ms >= 0)
            oldest = json_integer(now_ms > ms ? (json_int_t)(now_ms - ms) : 0);
    }
    const redisReply *lid = status_field(info, "last-generated-id");
    if (lid != NULL && lid->type == REDIS_REPLY_STRING) {
        long long ms = status_id_ms(lid->str);
        if (ms > 0)
            last = json_integer(ms);
    }
    for (size_t i = 0; groups != NULL && groups->type == REDIS_REPLY_ARRAY &&
                       i < groups->elements;
         i++) {
        const redisReply *name = status_field(groups->element[i], "name");
        const redisReply *l = status_field(groups->element[i], "lag");
        if (name != NULL && name->type == REDIS_REPLY_STRING &&
            strcmp(name->str, KEYS_GROUP) == 0 && l != NULL &&
            l->type == REDIS_REPLY_INTEGER) {
            json_decref(lag);
            lag = json_integer(l->integer);
        }
    }
    /* No group yet: nothing was delivered, every entry waits. */
    if (json_is_null(lag) && json_is_false(json_object_get(q, "group")))
        lag = json_integer(json_integer_value(json_object_get(q, "length")));
    json_object_set_new(q, "lag", lag);
    json_object_set_new(q, "oldest_age_ms", oldest);
    json_object_set_new(q, "last_added_ms", last);
}

/* A decimal integer string as a JSON integer, anything else as a string. */
static json_t *
status_number(const char *s)
{
    char *end;
    if (s != NULL && ((*s >= '0' && *s <= '9') || (*s == '-' && s[1]))) {
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (errno == 0 && *end == '\0' && (s[0] != '0' || s[1] == '\0'))
            return json_integer(v);
    }
    return json_string(s ? s : "");
}

/* Unix ms of "YYYY-MM-DDTHH:MM:SS[.ffffff]Z", or -1. */
static double
status_iso_ms(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (rest == NULL)
        return -1;
    double frac = 0;
    if (*rest == '.')
        frac = strtod(rest, NULL);
    return ((double)timegm(&tm) + frac) * 1000;
}

/* The consumers of an XINFO CONSUMERS reply, as a new JSON array. */
static json_t *
status_consumers(const redisReply *r)
{
    json_t *list = json_array();
    if (r->type != REDIS_REPLY_ARRAY)
        return list;
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *c = r->element[i];
        if (c->type != REDIS_REPLY_ARRAY)
            continue;
        json_t *o = json_object();
        for (size_t f = 0; f + 1 < c->elements; f += 2) {
            const redisReply *k = c->element[f], *v = c->element[f + 1];
            if (k->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(k->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                json_object_set_new(o, "name", json_stringn(v->str, v->len));
            else if (strcmp(k->str, "pending") == 0)
                json_object_set_new(o, "pending", json_integer(conn_reply_int(v)));
            else if (strcmp(k->str, "idle") == 0)
                json_object_set_new(o, "idle_ms", json_integer(conn_reply_int(v)));
        }
        json_array_append_new(list, o);
    }
    return list;
}

/*
 * For each queue: XLEN, XPENDING summary and XINFO CONSUMERS, pipelined.
 * Appends one object per queue to out.  Returns 0 or -1.
 */
static int
status_queues(struct conn *c, const char *prefix, json_t *names, json_t *out,
              double now_ms)
{
    size_t n = json_array_size(names);
    char(*keys)[KEYS_MAX] = xcalloc(n ? n : 1, KEYS_MAX);
    int rc = -1;
    size_t i;

    for (i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        if (keys_queue(keys[i], KEYS_MAX, prefix, name) < 0)
            continue; /* cannot happen: Redis returned it */
        const char *a1[] = {"XLEN", keys[i]};
        const char *a2[] = {"XPENDING", keys[i], KEYS_GROUP};
        const char *a3[] = {"XINFO", "CONSUMERS", keys[i], KEYS_GROUP};
        const char *a4[] = {"XINFO", "STREAM", keys[i]};
        const char *a5[] = {"XINFO", "GROUPS", keys[i]};
        size_t l[4];
        l[0] = 4;
        l[1] = strlen(keys[i]);
        conn_append(c, 2, a1, l);
        l[0] = 8;
        l[2] = strlen(KEYS_GROUP);
        conn_append(c, 3, a2, l);
        l[0] = 5;
        l[1] = 9;
        l[2] = strlen(keys[i]);
        l[3] = strlen(KEYS_GROUP);
        conn_append(c, 4, a3, l);
        l[1] = 6;
        conn_append(c, 3, a4, l);
        conn_append(c, 3, a5, l);
    }
    for (i = 0; i < n; i++) {
        redisReply *r[5] = {NULL, NULL, NULL, NULL, NULL};
        int j;
        for (j = 0; j < 5; j++)
            if ((r[j] = conn_reply(c)) == NULL)
                break;
        if (j < 5) {
            for (j = 0; j < 5; j++)
                if (r[j] != NULL)
                    freeReplyObject(r[j]);
            goto done;
        }
        json_t *q = json_object();
        json_object_set(q, "name", json_array_get(names, i));
        json_object_set_new(q, "key", json_string(keys[i]));
        if (r[0]->type == REDIS_REPLY_ERROR) {
            /* Not a stream: say so rather than fail the whole status. */
            json_object_set_new(q, "error", json_string(r[0]->str));
        } else {
            json_object_set_new(q, "length", json_integer(conn_reply_int(r[0])));
            int group = r[1]->type == REDIS_REPLY_ARRAY;
            json_object_set_new(q, "group", json_boolean(group));
            json_object_set_new(q, "pending",
                                json_integer(group && r[1]->elements > 0
                                                 ? conn_reply_int(r[1]->element[0])
                                                 : 0));
            status_stream(q, r[3], r[4], now_ms);
            json_object_set_new(q, "consumers", status_consumers(r[2]));
        }
        json_array_append_new(out, q);
        for (j = 0; j < 5; j++)
            freeReplyObject(r[j]);
    }
    rc = 0;
done:
    free(keys);
    return rc;
}

/* The dead-letter stream and the scheduled set, when present. */
static int
status_extra(struct conn *c, const char *prefix, json_t *doc)
{
    char dead[KEYS_MAX], sched[KEYS_MAX];
    redisReply *r[4] = {NULL, NULL, NULL, NULL};
    int rc = -1, j;

    if (keys_dead(dead, sizeof(dead), prefix) < 0 ||
        keys_scheduled(sched, sizeof(sched), prefix) < 0)
        return -1;
    const char *a[4][2] = {
        {"TYPE", dead}, {"XLEN", dead}, {"TYPE", sched}, {"ZCARD", sched}};
    for (j = 0; j < 4; j++) {
        size_t l[2] = {strlen(a[j][0]), strlen(a[j][1])};
        conn_append(c, 2, a[j], l);
    }
    for (j = 0; j < 4; j++)
        if ((r[j] = conn_reply(c)) == NULL)
            goto done;
    json_t *d = json_null(), *s = json_null();
    if (r[0]->type == REDIS_REPLY_STATUS && strcmp(r[0]->str, "none") != 0)
        d = json_pack("{s:s, s:I}", "key", dead, "length",
                      (json_int_t)conn_reply_int(r[1]));
    if (r[2]->type == REDIS_REPLY_STATUS && strcmp(r[2]->str, "none") != 0)
        s = json_pack("{s:s, s:I}", "key", sched, "size",
                      (json_int_t)conn_reply_int(r[3]));
    json_object_set_new(doc, "dead", d);
    json_object_set_new(doc, "scheduled", s);
    rc = 0;
done:
    for (j = 0; j < 4; j++)
        if (r[j] != NULL)
            freeReplyObject(r[j]);
    return rc;
}

/*
 * The worker registry: ZRANGE <prefix>workers WITHSCORES, then HGETALL of
 * each <prefix>worker:<name>, pipelined.  Returns 0 or -1.
 */
static int
status_workers(struct conn *c, const char *prefix, json_t *out, double now_ms,
               long long *pruned)
{
    char zkey[KEYS_MAX], hkey[KEYS_MAX];
    redisReply *z = NULL;
    json_t *prune = json_array();
    int rc = -1;

    if (keys_workers(zkey, sizeof(zkey), prefix) < 0) {
        json_decref(prune);
        return -1;
    }
    z = conn_call(c, "ZRANGE", zkey, "0", "-1", "WITHSCORES",
                  (const char *)NULL);
    if (z == NULL)
        goto done;
    if (z->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "ZRANGE of the worker registry", z);
        goto done;
    }
    for (size_t i = 0; i + 1 < z->elements; i += 2) {
        if (keys_worker(hkey, sizeof(hkey), prefix, z->element[i]->str) < 0)
            snprintf(hkey, sizeof(hkey), "%s", zkey); /* never matches */
        const char *a[2] = {"HGETALL", hkey};
        size_t l[2] = {7, strlen(hkey)};
        conn_append(c, 2, a, l);
    }
    for (size_t i = 0; i + 1 < z->elements; i += 2) {
        redisReply *h = conn_reply(c);
        if (h == NULL)
            goto done;
        json_t *fields = json_object(), *w = json_object();
        json_object_set_new(
            w, "name", json_stringn(z->element[i]->str, z->element[i]->len));
        double beat = strtod(z->element[i + 1]->str, NULL);
        json_object_set_new(w, "last_beat",
                            beat == (double)(json_int_t)beat
                                ? json_integer((json_int_t)beat)
                                : json_real(beat));
        int gone = h->type != REDIS_REPLY_ARRAY || h->elements == 0;
        /* The score is the time of the last beat, in s or ms. */
        double beat_ms = beat > 1e11 ? beat : beat * 1000;
        if (gone && now_ms - beat_ms > STATUS_PRUNE_MS) {
            /* Removed after the pipelined replies are read. */
            json_array_append_new(prune, json_stringn(z->element[i]->str,
                                                      z->element[i]->len));
            freeReplyObject(h);
            json_decref(fields);
            json_decref(w);
            continue;
        }
        json_object_set_new(w, "age_ms",
                            json_integer((json_int_t)(now_ms - beat_ms)));
        json_object_set_new(w, "gone", json_boolean(gone));
        if (!gone) {
            /* Known fields first, in their order; then the rest sorted. */
            size_t nf = h->elements / 2, k = 0;
            const char **rest = xcalloc(nf ? nf : 1, sizeof(*rest));
            /* The fields a worker writes, in its order (keys.h). */
            for (size_t f = 0; keys_heartbeat_fields[f] != NULL; f++)
                for (size_t e = 0; e + 1 < h->elements; e += 2)
                    if (strcmp(h->element[e]->str, keys_heartbeat_fields[f]) ==
                        0)
                        json_object_set_new(
                            fields, h->element[e]->str,
                            status_number(h->element[e + 1]->str));
            for (size_t e = 0; e + 1 < h->elements; e += 2)
                if (json_object_get(fields, h->element[e]->str) == NULL)
                    rest[k++] = h->element[e]->str;
            qsort(rest, k, sizeof(*rest), status_cmp);
            for (size_t f = 0; f < k; f++)
                for (size_t e = 0; e + 1 < h->elements; e += 2)
                    if (h->element[e]->str == rest[f])
                        json_object_set_new(
                            fields, rest[f],
                            status_number(h->element[e + 1]->str));
            free(rest);
            json_t *cnt = status_counters(fields);
            json_object_set_new(w, "counters", cnt);
            /* Tasks done per second since it started. */
            double t0 = status_iso_ms(json_string_value(
                json_object_get(fields, KEYS_HB_STARTED_AT)));
            double t1 = status_iso_ms(json_string_value(
                json_object_get(fields, KEYS_HB_LAST_BEAT)));
            json_int_t done =
                json_integer_value(json_object_get(cnt, KEYS_HB_SUCCEEDED)) +
                json_integer_value(json_object_get(cnt, KEYS_HB_FAILED)) +
                json_integer_value(json_object_get(cnt, KEYS_HB_EXPIRED));
            json_object_set_new(w, "rate",
                                t0 > 0 && t1 > t0
                                    ? json_real((double)done * 1000 / (t1 - t0))
                                    : json_null());
        }
        json_object_set_new(w, "fields", fields);
        json_array_append_new(out, w);
        freeReplyObject(h);
    }
    /* Best effort: a user without ZREM (docs/SECURITY.md) sees them again
     * next time. */
    size_t k;
    json_t *name;
    json_array_foreach(prune, k, name)
    {
        redisReply *zr = conn_call(c, "ZREM", zkey, json_string_value(name),
                                   (const char *)NULL);
        if (zr == NULL)
            goto done;
        if (zr->type == REDIS_REPLY_INTEGER && zr->integer == 1)
            (*pruned)++;
        freeReplyObject(zr);
    }
    rc = 0;
done:
    json_decref(prune);
    freeReplyObject(z);
    return rc;
}

/*
 * The counters of a worker's record (keys_heartbeat_counters) as numbers:
 * each one present and written as a decimal integer, in the worker's order.
 */
static json_t *
status_counters(json_t *fields)
{
    json_t *out = json_object();
    for (size_t f = 0; keys_heartbeat_counters[f] != NULL; f++) {
        const char *k = keys_heartbeat_counters[f];
        json_t *v = json_object_get(fields, k);
        if (json_is_integer(v) && json_integer_value(v) >= 0)
            json_object_set_new(out, k, json_integer(json_integer_value(v)));
    }
    return out;
}

/* A JSON integer as text, "-" when it is not one. */
static const char *
status_num(char *buf, size_t n, const json_t *v)
{
    if (!json_is_integer(v))
        return "-";
    snprintf(buf, n, "%lld", (long long)json_integer_value(v));
    return buf;
}

static void
status_print_queues(json_t *doc, int verbose)
{
    json_t *queues = json_object_get(doc, "queues");
    const char *prefix = json_string_value(json_object_get(doc, "prefix"));
    long long hidden = json_integer_value(json_object_get(doc,
                                                          "hidden_queues"));
    char age[32], n1[24], n2[24];
    size_t i, j;
    json_t *q, *c;

    if (json_array_size(queues) == 0 && hidden == 0) {
        printf("No queues (no %s" KEYS_KIND_QUEUE ":* keys): nothing was "
               "sent with this prefix yet.\n",
               cli_safe(prefix));
        return;
    }
    if (json_array_size(queues) > 0)
        printf("%-24s %9s %9s %9s %9s  %s\n", "QUEUE", "LENGTH", "WAITING",
               "PENDING", "CONSUMERS", "OLDEST");
    json_array_foreach(queues, i, q)
    {
        const char *name = json_string_value(json_object_get(q, "name"));
        json_t *err = json_object_get(q, "error");
        if (err != NULL) {
            printf("%-24s (not a stream: %s)\n", cli_safe(name),
                   cli_safe(json_string_value(err)));
            continue;
        }
        json_t *cs = json_object_get(q, "consumers");
        json_t *old = json_object_get(q, "oldest_age_ms");
        if (json_is_integer(old))
            snapshot_age(age, sizeof(age), (double)json_integer_value(old));
        else
            snprintf(age, sizeof(age), "-");
        printf("%-24s %9lld %9s %9lld %9zu  %s%s\n", cli_safe(name),
               json_integer_value(json_object_get(q, "length")),
               status_num(n1, sizeof(n1), json_object_get(q, "lag")),
               json_integer_value(json_object_get(q, "pending")),
               json_array_size(cs), age,
               json_is_true(json_object_get(q, "group"))
                   ? ""
                   : "  (no consumer group yet)");
        if (!verbose)
            continue;
        json_array_foreach(cs, j, c)
        {
            snapshot_age(age, sizeof(age),
                       (double)json_integer_value(json_object_get(c,
                                                                  "idle_ms")));
            printf("  consumer %-30s pending %-8s idle %s\n",
                   cli_safe(json_string_value(json_object_get(c, "name"))),
                   status_num(n2, sizeof(n2), json_object_get(c, "pending")),
                   age);
        }
    }
    if (hidden > 0)
        printf("(%lld old empty queue%s hidden; --all shows them)\n", hidden,
               hidden == 1 ? "" : "s");
}

static void
status_print(json_t *doc, double now_ms, int verbose)
{
    json_t *workers = json_object_get(doc, "workers");
    json_t *dead = json_object_get(doc, "dead");
    json_t *sched = json_object_get(doc, "scheduled");
    const char *prefix = json_string_value(json_object_get(doc, "prefix"));
    char age[32], n1[24], n2[24], n3[24], busy[48], rate[32];
    size_t i;
    json_t *w;

    (void)now_ms;
    printf("Redis %s, prefix \"%s\"\n\n",
           cli_safe(json_string_value(json_object_get(doc, "redis"))),
           cli_safe(prefix));
    status_print_queues(doc, verbose);
    if (json_is_object(dead))
        printf("\nDead letters: %lld in %s (see them with: celeriac dead)\n",
               json_integer_value(json_object_get(dead, "length")),
               cli_safe(json_string_value(json_object_get(dead, "key"))));
    if (json_is_object(sched))
        printf("%sScheduled: %lld in %s\n", json_is_object(dead) ? "" : "\n",
               json_integer_value(json_object_get(sched, "size")),
               cli_safe(json_string_value(json_object_get(sched, "key"))));

    printf("\n");
    if (json_array_size(workers) == 0) {
        printf("No workers registered in %s" KEYS_KIND_WORKERS ".\n",
               cli_safe(prefix));
        return;
    }
    printf("%-28s %-8s %9s %9s %9s %8s  %s\n", "WORKER", "STATE", "IN-HAND",
           "DONE", "FAILED", "DONE/S", "LAST BEAT");
    json_array_foreach(workers, i, w)
    {
        json_t *fields = json_object_get(w, "fields");
        json_t *cnt = json_object_get(w, "counters");
        int gone = json_is_true(json_object_get(w, "gone"));
        snapshot_age(age, sizeof(age),
                   (double)json_integer_value(json_object_get(w, "age_ms")));
        const char *state =
            gone ? "gone"
                 : json_string_value(json_object_get(fields, KEYS_HB_STATE));
        json_t *inf = json_object_get(fields, KEYS_HB_IN_FLIGHT);
        json_t *conc = json_object_get(fields, KEYS_HB_CONCURRENCY);
        if (json_is_integer(inf) && json_is_integer(conc))
            snprintf(busy, sizeof(busy), "%lld/%lld",
                     (long long)json_integer_value(inf),
                     (long long)json_integer_value(conc));
        else
            snprintf(busy, sizeof(busy), "-");
        json_t *rt = json_object_get(w, "rate");
        if (json_is_number(rt))
            snprintf(rate, sizeof(rate), "%.1f", json_number_value(rt));
        else
            snprintf(rate, sizeof(rate), "-");
        printf("%-28s %-8s %9s %9s %9s %8s  %s ago\n",
               cli_safe(json_string_value(json_object_get(w, "name"))),
               cli_safe(state ? state : "?"), busy,
               status_num(n1, sizeof(n1),
                          json_object_get(cnt, KEYS_HB_SUCCEEDED)),
               status_num(n2, sizeof(n2), json_object_get(cnt, KEYS_HB_FAILED)),
               rate, age);
        if (!verbose || gone)
            continue;
        const char *k;
        json_t *v;
        json_object_foreach(fields, k, v)
        {
            printf("    %-12s %s\n", cli_safe(k),
                   json_is_string(v) ? cli_safe(json_string_value(v))
                                     : status_num(n3, sizeof(n3), v));
        }
    }
    long long pruned = json_integer_value(json_object_get(doc,
                                                          "pruned_workers"));
    if (pruned > 0)
        printf("(%lld worker%s gone for over an hour removed from the "
               "registry)\n",
               pruned, pruned == 1 ? "" : "s");
}

/* Drops the old empty queues from the list (unless all); counts them. */
static void
status_hide(json_t *doc, double now_ms, int all)
{
    json_t *queues = json_object_get(doc, "queues");
    long long hidden = 0;
    for (size_t i = 0; !all && i < json_array_size(queues);) {
        json_t *q = json_array_get(queues, i);
        json_t *last = json_object_get(q, "last_added_ms");
        int old = json_object_get(q, "error") == NULL &&
                  json_integer_value(json_object_get(q, "length")) == 0 &&
                  json_integer_value(json_object_get(q, "pending")) == 0 &&
                  json_array_size(json_object_get(q, "consumers")) == 0 &&
                  (!json_is_integer(last) ||
                   now_ms - (double)json_integer_value(last) >
                       STATUS_OLD_QUEUE_MS);
        if (old) {
            json_array_remove(queues, i);
            hidden++;
        } else {
            i++;
        }
    }
    json_object_set_new(doc, "hidden_queues", json_integer(hidden));
}

/*
 * --alive NAME: the worker's record <prefix>worker:<name> says "running".
 * Its TTL (5 heartbeats) makes a stalled or dead worker's record vanish.
 */
static int
status_alive(struct cli *cli, const char *name)
{
    struct conn conn;
    char key[KEYS_MAX];
    int rc = CLI_EXIT_REDIS;

    if (!keys_valid_worker(name) ||
        keys_worker(key, sizeof(key), cli->prefix, name) < 0)
        return cli_usage("status", "--alive: '%s' is not a worker name",
                         cli_safe(name));
    memset(&conn, 0, sizeof(conn));
    if (conn_init(&conn, cli->redis, cli->prefix) < 0 ||
        conn_connect(&conn) < 0)
        goto done;
    redisReply *r =
        conn_call(&conn, "HGET", key, KEYS_HB_STATE, (const char *)NULL);
    if (r == NULL) {
        if (conn_lost(&conn))
            conn_report_lost(&conn, "reading the worker's record");
        goto done;
    }
    rc = r->type == REDIS_REPLY_STRING && strcmp(r->str, "running") == 0
             ? CLI_EXIT_OK
             : CLI_EXIT_FAILED;
    if (rc != CLI_EXIT_OK)
        fprintf(stderr,
                "celeriac status: worker %s is not alive (no "
                "heartbeat record in state running)\n",
                cli_safe(name));
    freeReplyObject(r);
done:
    conn_close(&conn);
    return rc;
}

int
status_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"all", no_argument, NULL, 'a'},
        {"verbose", no_argument, NULL, 'v'},
        {"alive", required_argument, NULL, 'A'},
        {NULL, 0, NULL, 0},
    };
    const char *alive = NULL;
    struct conn conn;
    json_t *doc = NULL, *names = NULL;
    int opt, as_json = 0, all = 0, verbose = 0, rc = CLI_EXIT_USAGE;
    long long pruned = 0;
    double now_ms = 0;

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "javr:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
            as_json = 1;
            break;
        case 'a':
            all = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'A':
            alive = optarg;
            break;
        case 'h':
        case CLI_OPT_HELP:
            status_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("status", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage("status", "status takes no arguments ('%s')",
                         argv[optind]);
    if (alive != NULL)
        return as_json ? cli_usage("status", "--alive and --json exclude "
                                             "each other")
                       : status_alive(cli, alive);
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;

    redisReply *t = conn_call(&conn, "TIME", (const char *)NULL);
    if (t == NULL)
        goto lost;
    if (t->type == REDIS_REPLY_ARRAY && t->elements == 2)
        now_ms = strtod(t->element[0]->str, NULL) * 1000 +
                 strtod(t->element[1]->str, NULL) / 1000;
    freeReplyObject(t);

    doc = json_object();
    names = json_array();
    json_object_set_new(doc, "redis", json_string(conn.where));
    json_object_set_new(doc, "prefix", json_string(cli->prefix));
    json_object_set_new(doc, "time_ms", json_integer((json_int_t)now_ms));
    json_t *queues = json_array(), *workers = json_array();
    json_object_set_new(doc, "queues", queues);
    json_object_set_new(doc, "dead", json_null());
    json_object_set_new(doc, "scheduled", json_null());
    json_object_set_new(doc, "workers", workers);
    if (snapshot_queue_names(&conn, cli->prefix, names) < 0 ||
        status_queues(&conn, cli->prefix, names, queues, now_ms) < 0 ||
        status_extra(&conn, cli->prefix, doc) < 0)
        goto lost;
    if (status_workers(&conn, cli->prefix, workers, now_ms, &pruned) < 0)
        goto lost;
    status_hide(doc, now_ms, all);
    json_object_set_new(doc, "pruned_workers", json_integer(pruned));

    if (as_json) {
        json_dumpf(doc, stdout, JSON_INDENT(2));
        putchar('\n');
    } else {
        status_print(doc, now_ms, verbose);
    }
    rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    goto done;
lost:
    if (conn_lost(&conn))
        conn_report_lost(&conn, "reading the status");
done:
    json_decref(names);
    json_decref(doc);
    conn_close(&conn);
    return rc;
}
