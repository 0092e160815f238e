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
#define CONFIG_DEFAULT_VISIBILITY_MS 30000L
#define CONFIG_DEFAULT_MAX_DELIVERIES 5
#define CONFIG_DEFAULT_HEARTBEAT_MS 2000L
#define CONFIG_DEFAULT_REDIS_TIMEOUT_MS 10000L
#define CONFIG_DEFAULT_PREFETCH_MIB 16L

struct config {
    struct redisurl url; /* owned strings */
    char **queues;       /* owned array of owned names */
    int nqueues;
    int concurrency;  /* children */
    int prefetch;     /* tasks in flight in this worker at most */
    long prefetch_bytes; /* their message bytes at most (one always fits) */
    char *name;       /* owned consumer name: --name or host:pid */
    char *prefix;     /* owned key prefix */
    long result_ttl;  /* seconds */
    long reply_maxlen; /* approximate MAXLEN of reply streams; 0 default */
    long block_ms;    /* XREADGROUP BLOCK */
    long visibility_ms;     /* idle time after which others take a task */
    unsigned max_deliveries; /* then the task is dead-lettered */
    unsigned time_limit_ms; /* default per-task limit, 0 none */
    unsigned long max_tasks_per_child;   /* 0: never recycle */
    unsigned long max_memory_kb;         /* 0: never recycle */
    long heartbeat_ms;      /* heartbeat interval; the key lives 5x */
    long redis_timeout_ms;  /* a silent connection is dropped after */
    int sandbox;            /* --sandbox on|off: children sandboxed */
    const char *user;       /* --user, borrowed from argv; NULL: default */
};

#endif
