/* SPDX-License-Identifier: MIT */
/*
 * What Redis Sentinel and a Redis node answer about roles, as plain
 * functions on hiredis replies, shared by the CLI's synchronous connection
 * (producer/conn.c) and the worker's asynchronous look-up
 * (worker/sentinel_query.c).  A client finds the master by asking each
 * sentinel in turn "SENTINEL get-master-addr-by-name NAME", then checks
 * with ROLE that the node it reached is a master (protocol/PROTOCOL.md,
 * "Sentinel").  For a Redis Cluster (cluster://) the seed nodes are asked
 * CLUSTER SLOTS instead, for the master of the deployment's slot.
 */
#ifndef CELERIAC_SENTINEL_H
#define CELERIAC_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

/*
 * The reply to SENTINEL get-master-addr-by-name: 0 with *host (owned by
 * the caller) and *port, or -1 with *why a static reason (an unknown master
 * name, an error).
 */
int sentinel_master_reply(const redisReply *r, char **host, int *port,
                          const char **why);
/*
 * The reply to ROLE: 1 for a master, 0 for a replica or a sentinel (what
 * it is written to what[n], e.g. "a replica of 10.0.0.1:6379"), -1 if the
 * reply is not understood (an old server, an ACL refusal).
 */
int sentinel_role_reply(const redisReply *r, char *what, size_t n);
/* 1 if r is the error of a node that stopped being the master
 * (READONLY), 0 otherwise. */
int sentinel_readonly(const redisReply *r);
/*
 * The reply to CLUSTER SLOTS asked of the seed node seed_host: 0 with the
 * address of the master serving slot in *host (owned by the caller) and
 * *port, or -1 with *why a static reason.  A master announced with no
 * address ("" or "?") is at seed_host, as Redis documents.
 */
int sentinel_cluster_reply(const redisReply *r, int slot, const char *seed_host,
                           char **host, int *port, const char **why);
/*
 * 1 if r is the error of a cluster node that does not serve the
 * deployment's slot now (MOVED, ASK: the slot moved, or is moving) or of
 * a cluster that is down (CLUSTERDOWN, e.g. during a fail-over): ask the
 * seeds again.  0 otherwise.
 */
int sentinel_moved(const redisReply *r);

#endif
