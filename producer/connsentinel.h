/* SPDX-License-Identifier: MIT */
/*
 * The CLI's side of sentinel:// addresses (common/sentinelurl.h): before
 * each connect, ask the sentinels in turn where the master is; after it,
 * check with ROLE that the node is the master.  Synchronous, like the rest
 * of producer/conn.c.  cluster:// addresses the same way: the seed nodes
 * are asked CLUSTER SLOTS for the master of the deployment's slot.
 */
#ifndef CELERIAC_CONNSENTINEL_H
#define CELERIAC_CONNSENTINEL_H

#include "conn.h"

/* Time allowed to connect to and hear from one sentinel, milliseconds. */
#define CONNSENTINEL_TIMEOUT_MS 2000

/*
 * Sets c->url.host and c->url.port to the master the first sentinel that
 * answers names, and c->where to describe it.  Returns 0, or -1 with
 * *cause (owned by the caller) saying what each sentinel answered.
 */
int connsentinel_find(struct conn *c, char **cause);
/* Asks ROLE on the new connection.  Returns 0 if it is a master (or the
 * server does not say), -1 with *cause if it is a replica. */
int connsentinel_role(struct conn *c, char **cause);

#endif
