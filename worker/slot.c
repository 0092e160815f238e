/* SPDX-License-Identifier: MIT */
/* The table of tasks in flight; see slot.h for the state machine. */
#include "slot.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "message.h"
#include "unique.h"
#include "xmalloc.h"

/* Buffers above this are given back when a task finishes, so the worker's
 * memory returns to its resting size after a burst of large tasks.  Every
 * slot would otherwise keep the largest message it ever held: at 1 MiB,
 * --prefetch 512 with 256 KiB messages kept 297 MB resident. */
#define SLOT_KEEP_BYTES SLOT_ADOPT_BYTES

static void slot_reserve(char **buf, size_t *cap, size_t need);
static const char *slot_put(char **p, struct slot_bytes b);

static void
slot_reserve(char **buf, size_t *cap, size_t need)
{
    if (*cap >= need)
        return;
    size_t c = *cap ? *cap : 512;
    while (c < need)
        c *= 2;
    free(*buf); /* contents are not kept */
    *buf = xmalloc(c);
    *cap = c;
}

void
slot_table_init(struct slot_table *t, uint32_t n)
{
    t->slots = xcalloc(n, sizeof(*t->slots));
    t->n = n;
    t->used = 0;
    memset(t->count, 0, sizeof(t->count));
    memset(t->bytes, 0, sizeof(t->bytes));
    t->count[SLOT_FREE] = n;
    TAILQ_INIT(&t->free);
    for (uint32_t i = 0; i < n; i++) {
        t->slots[i].index = i;
        t->slots[i].src_fd = -1;
        t->slots[i].state = SLOT_FREE;
        TAILQ_INSERT_TAIL(&t->free, &t->slots[i], entry);
    }
}

void
slot_table_free(struct slot_table *t)
{
    for (uint32_t i = 0; i < t->n; i++) {
        slot_clear_source(&t->slots[i]);
        free(t->slots[i].msg);
        free(t->slots[i].res);
    }
    free(t->slots);
    memset(t, 0, sizeof(*t));
}

struct slot *
slot_alloc(struct slot_table *t)
{
    struct slot *s = TAILQ_FIRST(&t->free);
    if (s == NULL)
        return NULL;
    TAILQ_REMOVE(&t->free, s, entry);
    slot_move(t, s, SLOT_READY);
    s->queue = 0;
    s->entry_id[0] = '\0';
    s->attempts = 1;
    s->child = -1;
    s->started_us = 0;
    s->claim = 0;
    s->fail_type = NULL;
    s->fail_why[0] = '\0';
    s->fail_retry = 0;
    s->fail_dead = 0;
    s->msg_len = 0;
    s->res_doc_len = 0;
    s->src_kind = 0;
    s->src_fd = -1;
    s->src_size = 0;
    s->src_url = NULL;
    s->src_path = NULL;
    s->src_host[0] = '\0';
    s->src_accept_any = 0;
    s->fetch = NULL;
    s->fetch_paused = 0;
    s->fetch_admitted = 0;
    s->streaming = 0;
    s->want_stream = 0;
    s->end_facts = NULL;
    s->sem_state = SLOT_SEM_NONE;
    s->sem_wait_until = 0;
    s->lim_state = 0;
    s->lim_rate = s->lim_conc = -1;
    s->lim_held = 0;
    t->used++;
    return s;
}

void
slot_release(struct slot_table *t, struct slot *s)
{
    if (s->msg_cap > SLOT_KEEP_BYTES) {
        free(s->msg);
        s->msg = NULL;
        s->msg_cap = 0;
    }
    if (s->res_cap > SLOT_KEEP_BYTES) {
        free(s->res);
        s->res = NULL;
        s->res_cap = 0;
    }
    slot_clear_source(s);
    t->bytes[s->state] -= s->msg_len;
    s->msg_len = 0;
    s->mentions = 0;
    slot_move(t, s, SLOT_FREE);
    TAILQ_INSERT_TAIL(&t->free, s, entry);
    t->used--;
}

void
slot_move(struct slot_table *t, struct slot *s, enum slot_state st)
{
    t->count[s->state]--;
    t->count[st]++;
    t->bytes[s->state] -= s->msg_len;
    t->bytes[st] += s->msg_len;
    s->state = st;
}

void
slot_clear_source(struct slot *s)
{
    if (s->src_fd >= 0)
        close(s->src_fd);
    s->src_fd = -1;
    free(s->src_url);
    s->src_url = NULL;
    free(s->src_path);
    s->src_path = NULL;
    free(s->end_facts);
    s->end_facts = NULL;
}

struct slot *
slot_get(struct slot_table *t, uint32_t index)
{
    if (index >= t->n || t->slots[index].state == SLOT_FREE)
        return NULL;
    return &t->slots[index];
}

static unsigned
slot_mentions(const char *msg, size_t len)
{
    static const char *const needles[] = {"_limit\"", "\"" UNIQUE_F_FOR "\""};
    unsigned found = message_mentions_any(msg, len, needles, 2);
    return ((found & 1u) ? SLOT_MENTIONS_LIMIT : 0) |
           ((found & 2u) ? SLOT_MENTIONS_UNIQUE : 0);
}

void
slot_set_msg(struct slot_table *t, struct slot *s, const char *msg,
             size_t len)
{
    slot_reserve(&s->msg, &s->msg_cap, len + 1);
    memcpy(s->msg, msg, len);
    s->msg[len] = '\0';
    s->mentions = slot_mentions(msg, len);
    t->bytes[s->state] -= s->msg_len;
    t->bytes[s->state] += len;
    s->msg_len = len;
}

void
slot_adopt_msg(struct slot_table *t, struct slot *s, char *msg_owned,
               size_t len)
{
    free(s->msg);
    s->msg = msg_owned;
    s->msg_cap = len + 1;
    s->mentions = slot_mentions(msg_owned, len);
    t->bytes[s->state] -= s->msg_len;
    t->bytes[s->state] += len;
    s->msg_len = len;
}

/* Appends b and a NUL at *p; returns where b starts. */
static const char *
slot_put(char **p, struct slot_bytes b)
{
    char *at = *p;
    if (b.len)
        memcpy(at, b.p, b.len);
    at[b.len] = '\0';
    *p += b.len + 1;
    return at;
}

void
slot_set_result(struct slot *s, const char *prefix, struct slot_bytes id,
                struct slot_bytes reply_to, struct slot_bytes doc,
                const char *mode, struct slot_bytes arg1,
                struct slot_bytes arg2)
{
    static const char kind[] = KEYS_KIND_RESULT ":";
    size_t plen = strlen(prefix), klen = plen + sizeof(kind) - 1;
    slot_reserve(&s->res, &s->res_cap,
                 klen + id.len + reply_to.len + doc.len + arg1.len +
                     arg2.len + 5);
    char *p = s->res;
    memcpy(p, prefix, plen);
    memcpy(p + plen, kind, sizeof(kind) - 1);
    p += klen;
    s->res_key = s->res;
    slot_put(&p, id);
    s->res_reply_to = slot_put(&p, reply_to);
    s->res_doc = slot_put(&p, doc);
    s->res_doc_len = doc.len;
    s->res_mode = mode;
    s->res_arg1 = slot_put(&p, arg1);
    s->res_arg1_len = arg1.len;
    s->res_arg2 = slot_put(&p, arg2);
    s->res_arg2_len = arg2.len;
}

const char *
slot_state_name(enum slot_state st)
{
    static const char *const names[] = {"free",      "ready",
                                        "running",   "done",
                                        "finishing", "fetch_wait",
                                        "fetching",  "limit_wait"};
    return (unsigned)st < SLOT_NSTATES ? names[st] : "?";
}
