/* SPDX-License-Identifier: MIT */
/* Fetch admission; see fetchq.h. */
#include "fetchq.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

struct fetchq_host {
    struct fetchq_host *next;
    unsigned running;
    char name[]; /* lower-case host */
};

#define FETCHQ_BUCKETS 256

static size_t
fetchq_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 16777619u;
    }
    return h;
}

/* The entry of host, created with create, else NULL if none. */
static struct fetchq_host *
fetchq_host_get(const struct fetchq *q, const char *host, int create)
{
    size_t b = fetchq_hash(host) % q->nbuckets;
    struct fetchq_host *h;
    for (h = q->buckets[b]; h != NULL; h = h->next)
        if (strcmp(h->name, host) == 0)
            return h;
    if (!create)
        return NULL;
    size_t n = strlen(host) + 1;
    h = xmalloc(sizeof(*h) + n);
    memcpy(h->name, host, n);
    h->running = 0;
    h->next = q->buckets[b];
    q->buckets[b] = h;
    return h;
}

/* Forgets host when nothing runs there any more: the table stays as
 * small as the hosts being fetched. */
static void
fetchq_host_put(struct fetchq *q, struct fetchq_host *gone)
{
    size_t b = fetchq_hash(gone->name) % q->nbuckets;
    struct fetchq_host **pp;
    for (pp = &q->buckets[b]; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == gone) {
            *pp = gone->next;
            free(gone);
            return;
        }
    }
}

void
fetchq_init(struct fetchq *q, unsigned max_running, unsigned per_host)
{
    memset(q, 0, sizeof(*q));
    TAILQ_INIT(&q->waiting);
    q->max_running = max_running;
    q->per_host = per_host;
    q->nbuckets = FETCHQ_BUCKETS;
    q->buckets = xcalloc(q->nbuckets, sizeof(*q->buckets));
}

void
fetchq_free(struct fetchq *q)
{
    for (size_t b = 0; q->buckets != NULL && b < q->nbuckets; b++) {
        struct fetchq_host *h = q->buckets[b], *next;
        for (; h != NULL; h = next) {
            next = h->next;
            free(h);
        }
    }
    free(q->buckets);
    memset(q, 0, sizeof(*q));
}

void
fetchq_push(struct fetchq *q, struct slot *s)
{
    TAILQ_INSERT_TAIL(&q->waiting, s, entry);
    q->nwaiting++;
}

void
fetchq_push_front(struct fetchq *q, struct slot *s)
{
    TAILQ_INSERT_HEAD(&q->waiting, s, entry);
    q->nwaiting++;
}

void
fetchq_remove(struct fetchq *q, struct slot *s)
{
    TAILQ_REMOVE(&q->waiting, s, entry);
    q->nwaiting--;
}

unsigned
fetchq_host_running(const struct fetchq *q, const char *host)
{
    struct fetchq_host *h = fetchq_host_get(q, host, 0);
    return h != NULL ? h->running : 0;
}

struct slot *
fetchq_admit(struct fetchq *q, long long now_ms)
{
    struct slot *s;
    if (q->max_running && q->running >= q->max_running)
        return NULL;
    TAILQ_FOREACH(s, &q->waiting, entry) {
        if (s->sem_wait_until > now_ms)
            continue;
        struct fetchq_host *h = fetchq_host_get(q, s->src_host, 0);
        if (q->per_host && h != NULL && h->running >= q->per_host)
            continue;
        if (h == NULL)
            h = fetchq_host_get(q, s->src_host, 1);
        h->running++;
        q->running++;
        fetchq_remove(q, s);
        s->fetch_admitted = 1;
        return s;
    }
    return NULL;
}

void
fetchq_done(struct fetchq *q, struct slot *s)
{
    if (!s->fetch_admitted)
        return;
    s->fetch_admitted = 0;
    q->running--;
    struct fetchq_host *h = fetchq_host_get(q, s->src_host, 0);
    if (h != NULL && --h->running == 0)
        fetchq_host_put(q, h);
}
