/* SPDX-License-Identifier: MIT */
/* The events stream's writer; see events.h. */
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "result.h"

void
events_init(struct events *ev, struct broker *b, const char *prefix,
            const char *worker, int tasks)
{
    memset(ev, 0, sizeof(*ev));
    ev->b = b;
    ev->worker = worker;
    ev->tasks = tasks;
    keys_events(ev->key, sizeof(ev->key), prefix);
}

/* XADD <key> MAXLEN ~ EVENTS_MAXLEN * type T ts MS worker W <kv...>. */
static void
events_add(struct events *ev, const char *type, const char *const *kv,
           int nkv)
{
    char maxlen[24], ts[24];
    const char *argv[10 + 2 * 8];
    int argc = 0;
    snprintf(maxlen, sizeof(maxlen), "%d", EVENTS_MAXLEN);
    snprintf(ts, sizeof(ts), "%lld", (long long)(result_now_us() / 1000));
    argv[argc++] = "XADD";
    argv[argc++] = ev->key;
    argv[argc++] = "MAXLEN";
    argv[argc++] = "~";
    argv[argc++] = maxlen;
    argv[argc++] = "*";
    argv[argc++] = "type";
    argv[argc++] = type;
    argv[argc++] = "ts";
    argv[argc++] = ts;
    for (int i = 0; i < 2 * nkv && i < 16; i++)
        argv[argc++] = kv[i];
    if (broker_call(ev->b, argc, argv, NULL, NULL, NULL) == 0)
        ev->sent++;
    else
        ev->unsent++;
}

void
events_worker(struct events *ev, const char *type, const char *why,
              const char *about)
{
    const char *kv[] = {"worker", about ? about : ev->worker, "why", why,
                        "by", ev->worker};
    events_add(ev, type, kv, about ? 3 : 2);
}

void
events_task(struct events *ev, const char *type, const char *id,
            const char *task, const char *queue, unsigned attempt,
            double runtime_s, double queued_s)
{
    char att[16], rt[32], qt[32];
    const char *kv[16];
    int n = 0;
    if (!ev->tasks)
        return;
    snprintf(att, sizeof(att), "%u", attempt);
    kv[n++] = "worker", kv[n++] = ev->worker;
    kv[n++] = "id", kv[n++] = id;
    kv[n++] = "task", kv[n++] = task;
    kv[n++] = "queue", kv[n++] = queue;
    kv[n++] = "attempt", kv[n++] = att;
    if (runtime_s >= 0) {
        snprintf(rt, sizeof(rt), "%.6f", runtime_s);
        kv[n++] = "runtime", kv[n++] = rt;
    }
    if (queued_s >= 0) {
        snprintf(qt, sizeof(qt), "%.6f", queued_s);
        kv[n++] = "queued", kv[n++] = qt;
    }
    events_add(ev, type, kv, n / 2);
}

void
events_flush(struct events *ev)
{
    if (ev->b->wr.ac != NULL)
        redisAsyncHandleWrite(ev->b->wr.ac);
}

/* The index after the JSON string that starts at s[i] ('"'). */
static size_t
events_skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

static size_t
events_skip_space(const char *s, size_t i, size_t len)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' ||
                       s[i] == '\r'))
        i++;
    return i;
}

/* The index after the JSON value at s[i]. */
static size_t
events_skip_value(const char *s, size_t i, size_t len)
{
    int depth = 0;
    if (i < len && s[i] == '"')
        return events_skip_string(s, i, len);
    while (i < len) {
        char ch = s[i];
        if (ch == '"') {
            i = events_skip_string(s, i, len);
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (ch == ',' && depth == 0)
            return i;
        i++;
    }
    return len;
}

/* Copies the string value s[a..b) (quotes excluded) if it is plain. */
static void
events_copy(const char *s, size_t a, size_t b, char *out, size_t n)
{
    if (b <= a || b - a >= n)
        return;
    for (size_t k = a; k < b; k++)
        if ((unsigned char)s[k] < 0x20 || s[k] == '\\')
            return;
    memcpy(out, s + a, b - a);
    out[b - a] = '\0';
}

void
events_scan(const char *msg, size_t len, char *task, char *id, size_t n)
{
    task[0] = id[0] = '\0';
    if (len > EVENTS_SCAN_MAX)
        len = EVENTS_SCAN_MAX;
    size_t i = events_skip_space(msg, 0, len);
    if (i >= len || msg[i] != '{')
        return;
    i++;
    while (i < len) {
        i = events_skip_space(msg, i, len);
        if (i >= len || msg[i] == '}')
            return;
        if (msg[i] == ',') {
            i++;
            continue;
        }
        if (msg[i] != '"')
            return;
        size_t ks = i + 1, ke = events_skip_string(msg, i, len);
        if (ke >= len)
            return;
        i = events_skip_space(msg, ke, len);
        if (i >= len || msg[i] != ':')
            return;
        i = events_skip_space(msg, i + 1, len);
        size_t vs = i;
        i = events_skip_value(msg, i, len);
        if (vs < len && msg[vs] == '"' && i > vs + 1) {
            size_t klen = ke - 1 - ks;
            if (klen == 4 && memcmp(msg + ks, "task", 4) == 0)
                events_copy(msg, vs + 1, i - 1, task, n);
            else if (klen == 2 && memcmp(msg + ks, "id", 2) == 0)
                events_copy(msg, vs + 1, i - 1, id, n);
        }
        if (task[0] != '\0' && id[0] != '\0')
            return;
    }
}

long long
events_id_ms(const char *entry_id)
{
    return strtoll(entry_id, NULL, 10);
}
