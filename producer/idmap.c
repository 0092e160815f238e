/* SPDX-License-Identifier: MIT */
/* A counting hash set of task ids. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

static uint64_t idmap_hash(const char *s, size_t n);
static struct idmap_slot *idmap_find(struct idmap *m, const char *id,
                                     size_t len, uint64_t h);
static void idmap_grow(struct idmap *m);

/* FNV-1a, never 0 (0 marks empty slots). */
static uint64_t
idmap_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h ? h : 1;
}

/* The slot holding id, or the empty slot where it would go. */
static struct idmap_slot *
idmap_find(struct idmap *m, const char *id, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        struct idmap_slot *s = &m->slots[i];
        if (s->hash == 0)
            return s;
        if (s->hash == h && s->len == len &&
            memcmp(m->arena + s->off, id, len) == 0)
            return s;
    }
}

static void
idmap_grow(struct idmap *m)
{
    struct idmap_slot *old = m->slots;
    size_t oldcap = m->cap;

    m->cap = oldcap ? oldcap * 2 : 1024;
    m->slots = xcalloc(m->cap, sizeof(*m->slots));
    for (size_t i = 0; i < oldcap; i++) {
        if (old[i].hash == 0)
            continue;
        size_t mask = m->cap - 1, j = (size_t)old[i].hash & mask;
        while (m->slots[j].hash != 0)
            j = (j + 1) & mask;
        m->slots[j] = old[i];
    }
    free(old);
}

void
idmap_add(struct idmap *m, const char *id, size_t len, uint64_t seq)
{
    uint64_t h = idmap_hash(id, len);

    if (seq >= m->next_cap) {
        size_t cap = m->next_cap ? m->next_cap : 4096;
        while (cap <= seq)
            cap *= 2;
        m->next = xrealloc(m->next, cap * sizeof(*m->next));
        m->next_cap = cap;
    }
    m->next[seq] = UINT64_MAX;
    /* Keep the load under 1/2 so that probes stay short. */
    if ((m->used + 1) * 2 > m->cap)
        idmap_grow(m);
    struct idmap_slot *s = idmap_find(m, id, len, h);
    if (s->hash != 0) {
        if (s->count++ == 0)
            s->first = seq;
        else
            m->next[s->last] = seq;
        s->last = seq;
        return;
    }
    if (m->arena_len + len > m->arena_cap) {
        m->arena_cap = m->arena_cap ? m->arena_cap * 2 : 65536;
        while (m->arena_cap < m->arena_len + len)
            m->arena_cap *= 2;
        m->arena = xrealloc(m->arena, m->arena_cap);
    }
    memcpy(m->arena + m->arena_len, id, len);
    s->hash = h;
    s->off = m->arena_len;
    s->len = (uint32_t)len;
    s->count = 1;
    s->first = s->last = seq;
    m->arena_len += len;
    m->used++;
}

int
idmap_take(struct idmap *m, const char *id, size_t len, uint64_t *seq)
{
    if (m->cap == 0)
        return 0;
    struct idmap_slot *s = idmap_find(m, id, len, idmap_hash(id, len));
    if (s->hash == 0 || s->count == 0)
        return 0;
    s->count--;
    *seq = s->first;
    s->first = m->next[s->first];
    return 1;
}

void
idmap_free(struct idmap *m)
{
    free(m->slots);
    free(m->arena);
    free(m->next);
    memset(m, 0, sizeof(*m));
}
