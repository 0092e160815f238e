/* SPDX-License-Identifier: MIT */
/*
 * Spreading tasks over the shards of a deployment (`--shards N`, cli.h):
 * round robin from a random first shard, so that many short runs of the
 * CLI do not all start on shard 0.  A unique task always goes to shard 0,
 * so that its lock and its queue stream share a hash slot.
 */
#ifndef CELERIAC_SHARD_H
#define CELERIAC_SHARD_H

struct shard_rr {
    int n;    /* shards, 1..KEYS_SHARDS_MAX */
    int next; /* the shard of the next task */
};

/* Starts the round robin over n shards at a random one (0 if n is 1). */
void shard_rr_init(struct shard_rr *rr, int n);
/* The shard of the next task, and moves on. */
int shard_rr_next(struct shard_rr *rr);

#endif
