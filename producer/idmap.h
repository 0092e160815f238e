/* SPDX-License-Identifier: MIT */
/*
 * The set of task ids whose results a command still waits for, so that
 * each result is counted once (a duplicate or a stranger's result on the
 * reply stream is ignored).  An id may be expected more than once (two
 * batch lines with the same "id"): each id keeps a count, and the
 * sequence numbers of its expected results, oldest first (so a result can
 * be traced to its input line).  Open addressing over one arena of id
 * bytes: no allocation per id.
 */
#ifndef CELERIAC_IDMAP_H
#define CELERIAC_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct idmap_slot {
    uint64_t hash; /* 0 marks an empty slot */
    size_t off;    /* the id's bytes are arena[off..off+len) */
    uint32_t len;
    uint32_t count; /* results still expected for this id */
    uint64_t first, last; /* their sequence numbers, linked by next[] */
};

struct idmap {
    struct idmap_slot *slots; /* owned; cap entries, a power of two */
    size_t cap;
    size_t used; /* slots in use */
    char *arena; /* owned */
    size_t arena_len, arena_cap;
    uint64_t *next; /* owned: next[seq], the id's next expected seq */
    size_t next_cap;
};

/* A zeroed struct idmap is empty and ready. */
void idmap_free(struct idmap *m);
/* Expects one more result for id[0..len), with sequence number seq
 * (each add a new one, counting up from 0). */
void idmap_add(struct idmap *m, const char *id, size_t len, uint64_t seq);
/*
 * Counts a result for id[0..len).  Returns 1 if one was expected (and now
 * is no longer) with the sequence number of the oldest such add in *seq,
 * 0 if it was not.
 */
int idmap_take(struct idmap *m, const char *id, size_t len, uint64_t *seq);

#endif
