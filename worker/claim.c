/* SPDX-License-Identifier: MIT */
/* Claim words shared by the parent and one child; see claim.h. */
#include "claim.h"

#include <string.h>
#include <sys/mman.h>

static struct claim_map *claim_mine; /* the child's own map */

int
claim_map_new(struct claim_map *m, uint32_t n)
{
    memset(m, 0, sizeof(*m));
    void *w = mmap(NULL, (size_t)n * sizeof(*m->w), PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED)
        return -1;
    m->w = w; /* anonymous mappings start zeroed */
    m->n = n;
    return 0;
}

void
claim_map_free(struct claim_map *m)
{
    if (m->w != NULL)
        munmap((void *)m->w, (size_t)m->n * sizeof(*m->w));
    memset(m, 0, sizeof(*m));
}

uint32_t
claim_offer(struct claim_map *m, uint32_t i)
{
    m->gen = (m->gen + 1) & 0x3fffffffu;
    uint32_t word = m->gen << 2 | CLAIM_QUEUED;
    if (i < m->n)
        atomic_store(&m->w[i], word);
    return word;
}

int
claim_steal(struct claim_map *m, uint32_t i, uint32_t word)
{
    if (i >= m->n || m->w == NULL)
        return 0;
    uint32_t expect = word;
    return atomic_compare_exchange_strong(&m->w[i], &expect,
                                          (word & ~3u) | CLAIM_STOLEN);
}

void
claim_child_set(struct claim_map *m)
{
    claim_mine = m;
}

int
claim_child_take(uint32_t i, uint32_t word)
{
    if (claim_mine == NULL || claim_mine->w == NULL)
        return 1;
    if (i >= claim_mine->n)
        return 0;
    uint32_t expect = word;
    return atomic_compare_exchange_strong(&claim_mine->w[i], &expect,
                                          (word & ~3u) | CLAIM_RUNNING);
}
