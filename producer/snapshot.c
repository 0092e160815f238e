/* SPDX-License-Identifier: MIT */
/*
 * One read of the cluster's state (snapshot.h).  Per queue one small
 * read-only script returns the numbers only (XINFO and XRANGE run inside
 * Redis, so no stored message crosses the network); the worker records and
 * the dead letters are read pipelined.
 */
#include "snapshot.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "keys.h"
#include "xmalloc.h"

/* Events looked through for the latest failures. */
#define SNAPSHOT_EVENTS_SCAN 1000
/* Stored strings of a dead letter longer than these are not shown. */
#define SNAPSHOT_DEAD_MSG_MAX 8192
#define SNAPSHOT_DEAD_REASON_MAX 4096

/*
 * KEYS[1] a queue stream, ARGV[1] the group.  Returns {TYPE} when it is
 * not a stream, else {"stream", length, entries added (-1 unknown), the
 * oldest entry's id or "", group exists 0|1, pending, lag (-1 unknown),
 * consumers}.  Stored messages are not copied when it can be helped: the
 * entries added are the group's entries-read + lag when Redis knows the
 * lag (XINFO STREAM, which copies the first and last entries, only when it
 * does not), and the oldest entry is the oldest pending one when there is
 * one (finished entries are deleted, unread ones come after it).
 */
static const char snapshot_queue_lua[] =
    "local k, g = KEYS[1], ARGV[1]\n"
    "local t = redis.call('TYPE', k)['ok']\n"
    "if t ~= 'stream' then return {t} end\n"
    "local function field(list, name)\n"
    "  for i = 1, #list, 2 do\n"
    "    if list[i] == name then return list[i + 1] end\n"
    "  end\n"
    "  return nil\n"
    "end\n"
    "local len = redis.call('XLEN', k)\n"
    "local out, read = {'stream', len, -1, '', 0, 0, -1, 0}, nil\n"
    "for _, gr in ipairs(redis.call('XINFO', 'GROUPS', k)) do\n"
    "  if field(gr, 'name') == g then\n"
    "    out[5] = 1\n"
    "    out[6] = field(gr, 'pending') or 0\n"
    "    local lag = field(gr, 'lag')\n"
    "    if type(lag) == 'number' then out[7] = lag end\n"
    "    read = field(gr, 'entries-read')\n"
    "    out[8] = field(gr, 'consumers') or 0\n"
    "  end\n"
    "end\n"
    "if out[7] >= 0 and type(read) == 'number' then\n"
    "  out[3] = read + out[7]\n"
    "else\n"
    "  out[3] = field(redis.call('XINFO', 'STREAM', k), 'entries-added') or -1\n"
    "end\n"
    "if len > 0 then\n"
    "  if out[6] > 0 then\n"
    "    out[4] = redis.call('XPENDING', k, g)[2] or ''\n"
    "  else\n"
    "    local first = redis.call('XRANGE', k, '-', '+', 'COUNT', 1)\n"
    "    out[4] = first[1] and first[1][1] or ''\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * KEYS[1] the dead-letter stream, ARGV[1] how many of the last entries.
 * Returns {-1} when it is not a stream, else {length, {entry id, reason,
 * queue key, origin entry, msg}...}, newest first; long strings are cut
 * (reason) or left out (msg).
 */
#define SNAPSHOT_STR_(x) #x
#define SNAPSHOT_STR(x) SNAPSHOT_STR_(x)
static const char snapshot_dead_lua[] =
    "local k = KEYS[1]\n"
    "if redis.call('TYPE', k)['ok'] ~= 'stream' then return {-1} end\n"
    "local out = {redis.call('XLEN', k)}\n"
    "for _, e in ipairs(redis.call('XREVRANGE', k, '+', '-', 'COUNT',"
    " ARGV[1])) do\n"
    "  local f, r = e[2], {e[1], '', '', '', ''}\n"
    "  for i = 1, #f, 2 do\n"
    "    local v = f[i + 1]\n"
    "    if f[i] == '" KEYS_DEAD_REASON "' then\n"
    "      r[2] = string.sub(v, 1, " SNAPSHOT_STR(SNAPSHOT_DEAD_REASON_MAX) ")\n"
    "    elseif f[i] == '" KEYS_DEAD_QUEUE "' then r[3] = string.sub(v, 1, 1024)\n"
    "    elseif f[i] == '" KEYS_DEAD_ENTRY "' then r[4] = string.sub(v, 1, 64)\n"
    "    elseif f[i] == '" KEYS_DEAD_MSG "' and #v <= "
    SNAPSHOT_STR(SNAPSHOT_DEAD_MSG_MAX) " then r[5] = v end\n"
    "  end\n"
    "  out[#out + 1] = r\n"
    "end\n"
    "return out\n";

static int snapshot_queues(struct conn *c, const char *prefix, json_t *names,
                           double now_ms, json_t *out);
static int snapshot_workers(struct conn *c, const char *prefix,
                            double now_ms, json_t *doc);
static int snapshot_dead(struct conn *c, const char *prefix, json_t *doc);
static json_t *snapshot_worker(const redisReply *name, const redisReply *score,
                               const redisReply *h, double now_ms);
static json_t *snapshot_dead_entry(const redisReply *e, const char *prefix);
static json_t *snapshot_num(const char *s);
static double snapshot_id_ms(const char *id);
static double snapshot_iso_ms(const char *s);
static int snapshot_cmp(const void *a, const void *b);

/* A decimal integer field as a JSON integer; null if absent or not one. */
static json_t *
snapshot_num(const char *s)
{
    char *end;
    if (s == NULL || *s < '0' || *s > '9')
        return json_null();
    errno = 0;
    unsigned long long n = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || n > (unsigned long long)INT64_MAX)
        return json_null();
    return json_integer((json_int_t)n);
}

/* The milliseconds part of a stream entry id "ms-seq"; 0 if not one. */
static double
snapshot_id_ms(const char *id)
{
    char *end;
    if (id == NULL || *id < '0' || *id > '9')
        return 0;
    double ms = strtod(id, &end);
    return *end == '-' ? ms : 0;
}

/* An ISO 8601 UTC time "2026-11-22T02:57:36.288701Z" in Unix ms; 0 if
 * it is not one. */
static double
snapshot_iso_ms(const char *s)
{
    struct tm tm;
    double frac = 0;
    char *end;

    if (s == NULL)
        return 0;
    memset(&tm, 0, sizeof(tm));
    end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (end == NULL)
        return 0;
    if (*end == '.')
        frac = strtod(end, NULL);
    time_t t = timegm(&tm);
    if (t == (time_t)-1)
        return 0;
    return ((double)t + frac) * 1000;
}

static int
snapshot_cmp(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int
snapshot_queue_names(struct conn *c, const char *prefix, json_t *names)
{
    char pattern[2 * KEYS_MAX + 8], cursor[32] = "0";
    size_t o = 0, qlen = strlen(prefix) + strlen(KEYS_KIND_QUEUE ":");
    json_t *seen = json_object();
    int rc = -1;

    /* Glob characters in the prefix must match themselves. */
    for (const char *p = prefix; *p; p++) {
        if (strchr("*?[]\\", *p) != NULL)
            pattern[o++] = '\\';
        pattern[o++] = *p;
    }
    snprintf(pattern + o, sizeof(pattern) - o, KEYS_KIND_QUEUE ":*");
    do {
        redisReply *r = conn_call(c, "SCAN", cursor, "MATCH", pattern, "COUNT",
                                  "1000", (const char *)NULL);
        if (r == NULL)
            goto done;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            conn_report_error(c, "SCAN", r);
            freeReplyObject(r);
            goto done;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const redisReply *k = r->element[1]->element[i];
            if (k->type == REDIS_REPLY_STRING && k->len > qlen &&
                strlen(k->str) == k->len)
                json_object_set_new(seen, k->str + qlen, json_true());
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);

    size_t n = json_object_size(seen), i = 0;
    const char **sorted = xcalloc(n ? n : 1, sizeof(*sorted));
    const char *key;
    json_t *v;
    json_object_foreach(seen, key, v) sorted[i++] = key;
    qsort(sorted, n, sizeof(*sorted), snapshot_cmp);
    for (i = 0; i < n; i++)
        json_array_append_new(names, json_string(sorted[i]));
    free(sorted);
    rc = 0;
done:
    json_decref(seen);
    return rc;
}

static int
snapshot_queues(struct conn *c, const char *prefix, json_t *names,
                double now_ms, json_t *out)
{
    size_t n = json_array_size(names), i;
    char key[KEYS_MAX];

    for (i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(names, i));
        if (keys_queue(key, sizeof(key), prefix, name) < 0)
            snprintf(key, sizeof(key), "%s", prefix); /* cannot happen */
        const char *a[] = {"EVAL", snapshot_queue_lua, "1", key, KEYS_GROUP};
        size_t l[] = {4, strlen(snapshot_queue_lua), 1, strlen(key),
                      strlen(KEYS_GROUP)};
        conn_append(c, 5, a, l);
    }
    for (i = 0; i < n; i++) {
        redisReply *r = conn_reply(c);
        if (r == NULL)
            return -1;
        json_t *q = json_object();
        json_object_set(q, "name", json_array_get(names, i));
        if (r->type == REDIS_REPLY_ERROR) {
            json_object_set_new(q, "error", json_string(r->str));
        } else if (r->type != REDIS_REPLY_ARRAY || r->elements < 8) {
            json_object_set_new(
                q, "error",
                json_string(r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                                    r->element[0]->type == REDIS_REPLY_STRING
                                ? "not a stream"
                                : "unexpected reply"));
        } else {
            long long len = conn_reply_int(r->element[1]);
            long long added = conn_reply_int(r->element[2]);
            long long pending = conn_reply_int(r->element[5]);
            long long lag = conn_reply_int(r->element[6]);
            double first = r->element[3]->type == REDIS_REPLY_STRING
                               ? snapshot_id_ms(r->element[3]->str)
                               : 0;
            /* Finished entries are deleted, so what is not pending in
             * the stream is waiting when Redis cannot say the lag. */
            if (lag < 0)
                lag = len > pending ? len - pending : 0;
            json_object_set_new(q, "length", json_integer(len));
            json_object_set_new(q, "pending", json_integer(pending));
            json_object_set_new(q, "lag", json_integer(lag));
            json_object_set_new(q, "consumers",
                                json_integer(conn_reply_int(r->element[7])));
            json_object_set_new(q, "group",
                                json_boolean(conn_reply_int(r->element[4])));
            json_object_set_new(q, "added",
                                added >= 0 ? json_integer(added) : json_null());
            json_object_set_new(q, "done", added >= len
                                               ? json_integer(added - len)
                                               : json_null());
            json_object_set_new(
                q, "oldest_age_ms",
                len > 0 && first > 0
                    ? json_integer((json_int_t)(now_ms > first ? now_ms - first
                                                               : 0))
                    : json_null());
        }
        json_array_append_new(out, q);
        freeReplyObject(r);
    }
    return 0;
}

/* One worker's object from its registry entry and HGETALL reply. */
static json_t *
snapshot_worker(const redisReply *name, const redisReply *score,
                const redisReply *h, double now_ms)
{
    json_t *w = json_object(), *f = json_object();
    double beat = score->type == REDIS_REPLY_STRING ? strtod(score->str, NULL)
                                                    : 0;
    /* The score is the time of the last beat, in s or ms. */
    if (beat > 0 && beat < 1e11)
        beat *= 1000;

    if (h->type == REDIS_REPLY_ARRAY)
        for (size_t e = 0; e + 1 < h->elements; e += 2)
            if (h->element[e]->type == REDIS_REPLY_STRING &&
                h->element[e + 1]->type == REDIS_REPLY_STRING)
                json_object_set_new(f, h->element[e]->str,
                                    json_stringn(h->element[e + 1]->str,
                                                 h->element[e + 1]->len));
#define FIELD(k) json_string_value(json_object_get(f, (k)))
    int gone = json_object_size(f) == 0;
    json_object_set_new(w, "name", json_stringn(name->str, name->len));
    json_object_set_new(w, "gone", json_boolean(gone));
    json_object_set_new(w, "beat_age_ms",
                        json_integer((json_int_t)(now_ms > beat ? now_ms - beat
                                                                : 0)));
    json_object_set_new(w, "host", json_string(FIELD(KEYS_HB_HOST) ? FIELD(KEYS_HB_HOST) : ""));
    json_object_set_new(w, "pid", snapshot_num(FIELD(KEYS_HB_PID)));
    json_object_set_new(w, "state", json_string(FIELD(KEYS_HB_STATE) ? FIELD(KEYS_HB_STATE) : (gone ? "gone" : "")));
    json_object_set_new(w, "started_at", json_string(FIELD(KEYS_HB_STARTED_AT) ? FIELD(KEYS_HB_STARTED_AT) : ""));
    double started = snapshot_iso_ms(FIELD(KEYS_HB_STARTED_AT));
    json_object_set_new(w, "up_s", started > 0 && now_ms >= started
                                       ? json_integer((json_int_t)((now_ms - started) / 1000))
                                       : json_null());

    /* Tolerant: newer workers may write the children and the window
     * themselves; older ones have only concurrency and in_flight. */
    json_t *conc = snapshot_num(FIELD("children") ? FIELD("children")
                                                  : FIELD(KEYS_HB_CONCURRENCY));
    json_t *held = snapshot_num(FIELD(KEYS_HB_IN_FLIGHT));
    json_t *busy = snapshot_num(FIELD("children_busy"));
    if (json_is_null(busy) && json_is_integer(held) && json_is_integer(conc)) {
        json_decref(busy);
        json_int_t b = json_integer_value(held);
        if (b > json_integer_value(conc))
            b = json_integer_value(conc);
        busy = json_integer(b);
    }
    json_t *idle = snapshot_num(FIELD("children_idle"));
    if (json_is_null(idle) && json_is_integer(busy) && json_is_integer(conc)) {
        json_decref(idle);
        idle = json_integer(json_integer_value(conc) - json_integer_value(busy));
    }
    json_object_set_new(w, "concurrency", conc);
    json_object_set_new(w, "in_flight", held);
    json_object_set_new(w, "busy", busy);
    json_object_set_new(w, "idle", idle);
    json_object_set_new(w, "window", snapshot_num(FIELD("window") ? FIELD("window") : FIELD(KEYS_HB_PREFETCH)));

    json_t *ok = snapshot_num(FIELD(KEYS_HB_SUCCEEDED));
    json_t *failed = snapshot_num(FIELD(KEYS_HB_FAILED));
    json_t *processed = snapshot_num(FIELD("processed"));
    if (json_is_null(processed) && json_is_integer(ok) &&
        json_is_integer(failed)) {
        json_decref(processed);
        processed = json_integer(json_integer_value(ok) +
                                 json_integer_value(failed));
    }
    json_object_set_new(w, "processed", processed);
    /* Written by workers that keep a rate and can pause queues. */
    const char *r1 = FIELD("rate_1m");
    char *end = NULL;
    double rate = r1 ? strtod(r1, &end) : 0;
    json_object_set_new(w, "rate_1m", r1 && end != r1 && *end == '\0' &&
                                          rate >= 0
                                          ? json_real(rate)
                                          : json_null());
    json_object_set_new(w, "paused", json_string(FIELD("paused") ? FIELD("paused") : ""));
    json_object_set_new(w, "succeeded", ok);
    json_object_set_new(w, "failed", failed);
#undef FIELD
    json_decref(f);
    return w;
}

/*
 * The registry, most recent beats first (ZREVRANGE, at most
 * SNAPSHOT_MAX_WORKERS), then HGETALL of each record, pipelined; the
 * workers are listed by name.
 */
static int
snapshot_workers(struct conn *c, const char *prefix, double now_ms,
                 json_t *doc)
{
    char zkey[KEYS_MAX], hkey[KEYS_MAX], stop[24];
    json_t *list = json_array();
    redisReply *z = NULL, *card = NULL;
    int rc = -1;

    json_object_set_new(doc, "workers", list);
    if (keys_workers(zkey, sizeof(zkey), prefix) < 0)
        return -1;
    snprintf(stop, sizeof(stop), "%d", SNAPSHOT_MAX_WORKERS - 1);
    const char *a1[] = {"ZCARD", zkey};
    size_t l1[] = {5, strlen(zkey)};
    conn_append(c, 2, a1, l1);
    const char *a2[] = {"ZREVRANGE", zkey, "0", stop, "WITHSCORES"};
    size_t l2[] = {9, strlen(zkey), 1, strlen(stop), 10};
    conn_append(c, 5, a2, l2);
    if ((card = conn_reply(c)) == NULL || (z = conn_reply(c)) == NULL)
        goto done;
    if (z->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "ZREVRANGE of the worker registry", z);
        goto done;
    }
    /* Sorted by name: the registry names' order. */
    size_t n = z->elements / 2;
    size_t *order = xcalloc(n ? n : 1, sizeof(*order));
    for (size_t i = 0; i < n; i++) {
        size_t j = i;
        order[i] = i;
        while (j > 0 && strcmp(z->element[2 * order[j - 1]]->str,
                               z->element[2 * i]->str) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *nm = z->element[2 * order[i]];
        if (nm->type != REDIS_REPLY_STRING ||
            keys_worker(hkey, sizeof(hkey), prefix, nm->str) < 0)
            snprintf(hkey, sizeof(hkey), "%s", zkey); /* never a hash */
        const char *a[] = {"HGETALL", hkey};
        size_t l[] = {7, strlen(hkey)};
        conn_append(c, 2, a, l);
    }
    json_int_t failed_total = 0;
    for (size_t i = 0; i < n; i++) {
        redisReply *h = conn_reply(c);
        if (h == NULL) {
            free(order);
            goto done;
        }
        const redisReply *nm = z->element[2 * order[i]];
        if (nm->type == REDIS_REPLY_STRING) {
            json_t *w = snapshot_worker(nm, z->element[2 * order[i] + 1], h,
                                        now_ms);
            failed_total += json_integer_value(json_object_get(w, "failed"));
            json_array_append_new(list, w);
        }
        freeReplyObject(h);
    }
    free(order);
    long long total = conn_reply_int(card);
    json_object_set_new(doc, "workers_more",
                        json_integer(total > (long long)n ? total - (long long)n
                                                          : 0));
    json_object_set_new(doc, "failed_total", json_integer(failed_total));
    rc = 0;
done:
    if (card != NULL)
        freeReplyObject(card);
    if (z != NULL)
        freeReplyObject(z);
    return rc;
}

/* One dead letter from the script's {entry, reason, queue, origin, msg}. */
static json_t *
snapshot_dead_entry(const redisReply *e, const char *prefix)
{
    json_t *d = json_object();
    const char *s[5] = {"", "", "", "", ""};
    for (size_t i = 0; i < 5 && i < e->elements; i++)
        if (e->element[i]->type == REDIS_REPLY_STRING)
            s[i] = e->element[i]->str;
    json_object_set_new(d, "entry", json_string(s[0]));
    const char *qname = keys_queue_name(s[2], prefix);
    json_object_set_new(d, "queue", json_string(qname ? qname : s[2]));

    json_t *reason = json_loads(s[1], 0, NULL);
    json_t *err = json_object_get(reason, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    const char *worker = json_string_value(json_object_get(reason, "worker"));
    const char *at = json_string_value(json_object_get(reason, "at"));
    json_object_set_new(d, "error", json_string(type ? type : ""));
    json_object_set_new(d, "message", json_string(msg ? msg : s[1]));
    json_object_set_new(d, "worker", json_string(worker ? worker : ""));
    json_object_set_new(d, "at", json_string(at ? at : ""));
    json_decref(reason);

    json_t *m = json_loads(s[4], 0, NULL);
    const char *id = json_string_value(json_object_get(m, "id"));
    const char *name = json_string_value(json_object_get(m, "task"));
    char tid[KEYS_MAX];
    if (id == NULL && qname != NULL && *s[3] != '\0' &&
        keys_task_id(tid, sizeof(tid), qname, s[3]) == 0)
        id = tid;
    json_object_set_new(d, "task", json_string(id ? id : ""));
    json_object_set_new(d, "name", json_string(name ? name : ""));
    json_decref(m);
    return d;
}

static int
snapshot_dead(struct conn *c, const char *prefix, json_t *doc)
{
    char key[KEYS_MAX], count[16];
    json_t *dead = json_object(), *last = json_array();

    json_object_set_new(doc, "dead", dead);
    json_object_set_new(dead, "length", json_integer(0));
    json_object_set_new(dead, "last", last);
    if (keys_dead(key, sizeof(key), prefix) < 0)
        return -1;
    snprintf(count, sizeof(count), "%d", SNAPSHOT_DEAD_LAST);
    redisReply *r = conn_call(c, "EVAL", snapshot_dead_lua, "1", key, count,
                              (const char *)NULL);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR) {
        conn_report_error(c, "the dead-letter read", r);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        conn_reply_int(r->element[0]) >= 0) {
        json_object_set_new(dead, "length",
                            json_integer(conn_reply_int(r->element[0])));
        for (size_t i = 1; i < r->elements; i++)
            if (r->element[i]->type == REDIS_REPLY_ARRAY)
                json_array_append_new(
                    last, snapshot_dead_entry(r->element[i], prefix));
    }
    freeReplyObject(r);
    return 0;
}

/*
 * KEYS[1] the events stream (PROTOCOL.md, "Events"), ARGV[1] how many
 * failures, ARGV[2] how many events to look through.  Returns the latest
 * task-failed events, newest first, each {entry id, id, task, queue,
 * worker, attempt, runtime}.
 */
static const char snapshot_failed_lua[] =
    "local k = KEYS[1]\n"
    "if redis.call('TYPE', k)['ok'] ~= 'stream' then return {} end\n"
    "local out, want = {}, tonumber(ARGV[1])\n"
    "for _, e in ipairs(redis.call('XREVRANGE', k, '+', '-', 'COUNT',"
    " ARGV[2])) do\n"
    "  local f, r, failed = e[2], {e[1], '', '', '', '', '', ''}, false\n"
    "  for i = 1, #f, 2 do\n"
    "    local v = string.sub(f[i + 1], 1, 512)\n"
    "    if f[i] == 'type' then failed = v == 'task-failed'\n"
    "    elseif f[i] == 'id' then r[2] = v\n"
    "    elseif f[i] == 'task' then r[3] = v\n"
    "    elseif f[i] == 'queue' then r[4] = v\n"
    "    elseif f[i] == 'worker' then r[5] = v\n"
    "    elseif f[i] == 'attempt' then r[6] = v\n"
    "    elseif f[i] == 'runtime' then r[7] = v end\n"
    "  end\n"
    "  if failed then out[#out + 1] = r end\n"
    "  if #out >= want then break end\n"
    "end\n"
    "return out\n";

/* The latest task failures from the events stream, when workers write
 * one (--events); an empty list otherwise. */
static int
snapshot_failures(struct conn *c, const char *prefix, double now_ms,
                  json_t *doc)
{
    char key[KEYS_MAX], want[16], look[16];
    json_t *list = json_array();
    static const char *const names[] = {"entry", "id", "task", "queue",
                                        "worker", "attempt", "runtime"};

    json_object_set_new(doc, "failures", list);
    if (keys_events(key, sizeof(key), prefix) < 0)
        return -1;
    snprintf(want, sizeof(want), "%d", SNAPSHOT_DEAD_LAST);
    snprintf(look, sizeof(look), "%d", SNAPSHOT_EVENTS_SCAN);
    redisReply *r = conn_call(c, "EVAL", snapshot_failed_lua, "1", key, want,
                              look, (const char *)NULL);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (e->type != REDIS_REPLY_ARRAY || e->elements < 7)
                continue;
            json_t *f = json_object();
            for (size_t j = 0; j < 7; j++)
                json_object_set_new(f, names[j],
                                    json_string(e->element[j]->type ==
                                                        REDIS_REPLY_STRING
                                                    ? e->element[j]->str
                                                    : ""));
            double at = e->element[0]->type == REDIS_REPLY_STRING
                            ? snapshot_id_ms(e->element[0]->str)
                            : 0;
            json_object_set_new(f, "age_ms",
                                json_integer((json_int_t)(now_ms > at
                                                              ? now_ms - at
                                                              : 0)));
            json_array_append_new(list, f);
        }
    freeReplyObject(r);
    return 0;
}

json_t *
snapshot_take(struct conn *c, const char *prefix)
{
    char sched[KEYS_MAX];
    double now_ms = 0;
    json_t *doc = NULL, *names = json_array(), *queues = json_array();

    redisReply *t = conn_call(c, "TIME", (const char *)NULL);
    if (t == NULL)
        goto fail;
    if (t->type == REDIS_REPLY_ARRAY && t->elements == 2)
        now_ms = strtod(t->element[0]->str, NULL) * 1000 +
                 strtod(t->element[1]->str, NULL) / 1000;
    freeReplyObject(t);

    doc = json_object();
    json_object_set_new(doc, "redis", json_string(c->where));
    json_object_set_new(doc, "prefix", json_string(prefix));
    json_object_set_new(doc, "time_ms", json_integer((json_int_t)now_ms));
    if (snapshot_queue_names(c, prefix, names) < 0)
        goto fail;
    size_t nq = json_array_size(names);
    json_object_set_new(doc, "queues_more",
                        json_integer(nq > SNAPSHOT_MAX_QUEUES
                                         ? (json_int_t)(nq - SNAPSHOT_MAX_QUEUES)
                                         : 0));
    while (json_array_size(names) > SNAPSHOT_MAX_QUEUES)
        json_array_remove(names, json_array_size(names) - 1);
    json_object_set(doc, "queues", queues);
    if (snapshot_queues(c, prefix, names, now_ms, queues) < 0 ||
        snapshot_workers(c, prefix, now_ms, doc) < 0 ||
        snapshot_dead(c, prefix, doc) < 0)
        goto fail;
    if (snapshot_failures(c, prefix, now_ms, doc) < 0)
        goto fail;
    if (keys_scheduled(sched, sizeof(sched), prefix) < 0)
        goto fail;
    redisReply *z = conn_call(c, "ZCARD", sched, (const char *)NULL);
    if (z == NULL)
        goto fail;
    json_object_set_new(doc, "scheduled",
                        json_integer(z->type == REDIS_REPLY_INTEGER
                                         ? z->integer
                                         : 0));
    freeReplyObject(z);
    json_decref(names);
    json_decref(queues);
    return doc;
fail:
    json_decref(names);
    json_decref(queues);
    json_decref(doc);
    return NULL;
}

/* (b - a) / dt of two integer members, or null. */
static json_t *
snapshot_rate(const json_t *cur, const json_t *prev, const char *k, double dt)
{
    json_t *a = json_object_get(prev, k), *b = json_object_get(cur, k);
    if (dt <= 0 || !json_is_integer(a) || !json_is_integer(b) ||
        json_integer_value(b) < json_integer_value(a))
        return json_null();
    return json_real((double)(json_integer_value(b) - json_integer_value(a)) /
                     dt);
}

/* The member of list whose "name" is name, or NULL. */
static json_t *
snapshot_find(const json_t *list, const char *name)
{
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        const char *n = json_string_value(json_object_get(x, "name"));
        if (n != NULL && strcmp(n, name) == 0)
            return x;
    }
    return NULL;
}

void
snapshot_rates(json_t *cur, const json_t *prev)
{
    double dt = 0, total = 0;
    int any = 0;
    size_t i;
    json_t *x;

    if (prev != NULL)
        dt = (double)(json_integer_value(json_object_get(cur, "time_ms")) -
                      json_integer_value(json_object_get(prev, "time_ms"))) /
             1000;
    json_array_foreach(json_object_get(cur, "queues"), i, x)
    {
        const char *n = json_string_value(json_object_get(x, "name"));
        json_t *p = prev ? snapshot_find(json_object_get(prev, "queues"), n)
                         : NULL;
        json_t *in = snapshot_rate(x, p, "added", dt);
        json_t *out = snapshot_rate(x, p, "done", dt);
        if (json_is_real(out)) {
            total += json_real_value(out);
            any = 1;
        }
        json_object_set_new(x, "rate_in", in);
        json_object_set_new(x, "rate_out", out);
    }
    json_array_foreach(json_object_get(cur, "workers"), i, x)
    {
        const char *n = json_string_value(json_object_get(x, "name"));
        json_t *p = prev ? snapshot_find(json_object_get(prev, "workers"), n)
                         : NULL;
        json_object_set_new(x, "rate", snapshot_rate(x, p, "processed", dt));
    }
    json_object_set_new(cur, "throughput",
                        any || (prev != NULL && dt > 0) ? json_real(total)
                                                        : json_null());
}

void
snapshot_history_push(struct snapshot_history *h, double v)
{
    h->v[h->next] = v;
    h->next = (h->next + 1) % SNAPSHOT_HISTORY;
    if (h->n < SNAPSHOT_HISTORY)
        h->n++;
}

double
snapshot_history_at(const struct snapshot_history *h, size_t i)
{
    size_t start = (h->next + SNAPSHOT_HISTORY - h->n) % SNAPSHOT_HISTORY;
    return h->v[(start + i) % SNAPSHOT_HISTORY];
}

json_t *
snapshot_history_json(const struct snapshot_history *h)
{
    json_t *a = json_array();
    for (size_t i = 0; i < h->n; i++)
        json_array_append_new(a, json_real(snapshot_history_at(h, i)));
    return a;
}

void
snapshot_age(char *buf, size_t n, double ms)
{
    double s = ms / 1000;
    if (s < 0)
        s = 0;
    if (s < 60)
        snprintf(buf, n, "%.1fs", s);
    else if (s < 3600)
        snprintf(buf, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%dh%02dm", (int)s / 3600, (int)s / 60 % 60);
    else
        snprintf(buf, n, "%dd%02dh", (int)(s / 86400), (int)s / 3600 % 24);
}
