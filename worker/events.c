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
events_add(struct events *ev, const char *type, const char *const *kv, int nkv)
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
    const char *kv[] = {"worker",  about ? about : ev->worker, "why", why, "by",
                        ev->worker};
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
