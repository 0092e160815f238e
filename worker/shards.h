/* SPDX-License-Identifier: MIT */
/*
 * --shards N: one worker consumes a deployment split into N key spaces
 * (protocol/keys.h keys_shard_prefix(), PROTOCOL.md "Shards"), which a
 * Redis Cluster keeps on different masters.  The worker process becomes a
 * supervisor of N shard processes, each an ordinary event-loop parent with
 * its own pool of --concurrency children on one shard's prefix: the
 * shards' Redis I/O runs on as many cores as there are shards, and a busy
 * shard's children use every core while the others are idle.
 *
 * The supervisor only forks, forwards signals and reaps: SIGTERM and SIGINT
 * go to every shard (each in its own process group, so that Ctrl-C reaches
 * it once); when one shard exits, the others get SIGTERM (a warm
 * shutdown), so that the service manager sees the worker stop and restarts
 * it whole.  A shard gets SIGTERM if the supervisor dies.  Owns nothing
 * after it returns.
 */
#ifndef CELERIAC_SHARDS_H
#define CELERIAC_SHARDS_H

#include "config.h"

/*
 * Checks that the shards' prefixes and metrics ports can be made for n
 * shards of cfg; 0, or -1 with the reason in why (static text).
 */
int shards_check(const struct config *cfg, int n, const char **why);
/*
 * Forks the n shard processes.  Returns in each shard process with its
 * index (0..n-1) after setting cfg for it: the shard's prefix (cfg->prefix
 * replaced, owned as before), the metrics port + index, --beat only in
 * shard 0, and the log role "parent <index>".  In the supervisor it
 * returns -1 once every shard has exited, with *rc the worker's exit
 * status: that of the first shard to exit by itself (1 if it was killed),
 * or 0 after a forwarded SIGTERM/SIGINT ended them all cleanly.  -2 if no
 * shard could be started (*rc 1, the reason logged).
 */
int shards_fork(struct config *cfg, int n, int *rc);

#endif
