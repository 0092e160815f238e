/* SPDX-License-Identifier: MIT */
/*
 * The worker's configuration, filled from the command line and the
 * environment by main.c and read-only afterwards.
 */
#ifndef CELERIAC_CONFIG_H
#define CELERIAC_CONFIG_H

#include "redisurl.h"

#define CONFIG_DEFAULT_RESULT_TTL 86400L
#define CONFIG_DEFAULT_BLOCK_MS 5000L

struct config {
    struct redisurl url; /* owned strings */
    char **queues;       /* owned array of owned names */
    int nqueues;
    int concurrency;  /* children */
    int prefetch;     /* tasks in flight in this worker at most */
    char *name;       /* owned consumer name: --name or host:pid */
    char *prefix;     /* owned key prefix */
    long result_ttl;  /* seconds */
    long block_ms;    /* XREADGROUP BLOCK */
};

#endif
