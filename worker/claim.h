/* SPDX-License-Identifier: MIT */
/*
 * Claim words: who starts a task that was handed to a child ahead of time.
 *
 * A child is sent several tasks at once (one write per burst), but runs
 * them one after the other.  So that a task never waits behind a long one
 * while another child is idle, each child has a claim map: one 32-bit word
 * per slot in a MAP_SHARED anonymous mapping created by the parent before
 * that child is forked (and unmapped in every other child).  A word is
 * (gen << 2 | state), gen counting the tasks sent to that child:
 *
 *   parent sends slot i:  word[i] = gen << 2 | CLAIM_QUEUED  (the frame
 *                         carries the same word)
 *   child, before it starts the task:  CAS QUEUED -> RUNNING; if the word
 *                         is not the frame's any more, skip the task
 *   parent, to give a queued task to an idle child:  CAS QUEUED -> STOLEN;
 *                         only on success is the task taken back
 *
 * Exactly one side wins each task.  The parent trusts only its own
 * bookkeeping and the outcome of its CAS: a child that scribbles on its map
 * can only make its own tasks look started (then they count as run there).
 */
#ifndef CELERIAC_CLAIM_H
#define CELERIAC_CLAIM_H

#include <stdatomic.h>
#include <stdint.h>

enum claim_state {
    CLAIM_QUEUED = 1,
    CLAIM_RUNNING = 2,
    CLAIM_STOLEN = 3,
};

/* One child's claim map.  w is an owned shared mapping of n words. */
struct claim_map {
    _Atomic uint32_t *w;
    uint32_t n;
    uint32_t gen; /* parent side: tasks sent through this map */
};

/* Maps n words, all 0.  Returns 0, or -1 (errno set) if mmap failed. */
int claim_map_new(struct claim_map *m, uint32_t n);
void claim_map_free(struct claim_map *m);
/* Parent: marks slot i queued in this child; returns the word to send. */
uint32_t claim_offer(struct claim_map *m, uint32_t i);
/* Parent: takes back slot i sent with word if the child has not started
 * it.  Returns 1 if taken back (the child will skip it), else 0. */
int claim_steal(struct claim_map *m, uint32_t i, uint32_t word);

/* Child: the map this process claims from (set once after fork). */
void claim_child_set(struct claim_map *m);
/* Child: claims slot i sent with word.  Returns 1 if the task is ours to
 * run, 0 if the parent took it back (or no map is set: then 1). */
int claim_child_take(uint32_t i, uint32_t word);

#endif
