/* SPDX-License-Identifier: MIT */
/*
 * The worker's configuration, filled from the command line and the
 * environment by main.c and read-only afterwards.
 */
#ifndef CELERIAC_CONFIG_H
#define CELERIAC_CONFIG_H

#include "redisurl.h"
#include "tlsconf.h"

#define CONFIG_DEFAULT_RESULT_TTL 86400L
#define CONFIG_DEFAULT_BLOCK_MS 5000L
#define CONFIG_DEFAULT_VISIBILITY_MS 30000L
#define CONFIG_DEFAULT_MAX_DELIVERIES 5
#define CONFIG_DEFAULT_HEARTBEAT_MS 2000L
#define CONFIG_DEFAULT_REDIS_TIMEOUT_MS 10000L
#define CONFIG_DEFAULT_PREFETCH_MIB 16L
/* The window's bound (window.h): this, or 16 x concurrency if larger. */
#define CONFIG_DEFAULT_PREFETCH 512
/* URL sources (worker/README.md, "Sources on the loop"). */
#define CONFIG_DEFAULT_MAX_FETCHES 100
#define CONFIG_DEFAULT_PER_HOST 8
#define CONFIG_DEFAULT_MAX_REDIRECTS 5
#define CONFIG_DEFAULT_MAX_FETCH_MIB 4096L
#define CONFIG_DEFAULT_CONNECT_MS 10000L
#define CONFIG_DEFAULT_FIRST_BYTE_MS 30000L
#define CONFIG_DEFAULT_FETCH_MS 600000L
/* An upload stream silent this long fails its task (--upload-timeout). */
#define CONFIG_DEFAULT_UPLOAD_MS 60000L

struct netguard;
struct limit_conf;
struct beatfile;

struct config {
    struct redisurl url; /* owned strings */
    struct tlsconf tls;  /* --tls-*: for a rediss:// url; owned */
    char **queues;       /* owned array of owned names */
    int nqueues;
    int concurrency;  /* children */
    int prefetch;     /* tasks in flight in this worker at most */
    long prefetch_bytes; /* their message bytes at most (one always fits) */
    int window_fixed; /* --window fixed: the window is always prefetch */
    int shard, nshards; /* --shards (shards.h): this process's, how many */
    char *name;       /* owned consumer name: --name or host:pid */
    char *prefix;     /* owned key prefix */
    long result_ttl;  /* seconds */
    long reply_maxlen; /* approximate MAXLEN of reply streams; 0 default */
    int durable_results; /* --durable-results: replicas to WAIT for */
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

    /* Sources on the loop. */
    unsigned max_fetches;   /* fetches running in this worker at most */
    unsigned per_host;      /* of them to one host at most; 0 no limit */
    unsigned cluster_per_host; /* to one host by all workers; 0 off */
    unsigned max_redirects;
    unsigned long long max_fetch_bytes; /* body limit; 0 none */
    long connect_ms;        /* per hop; 0 none */
    long first_byte_ms;     /* per hop; 0 none */
    long fetch_ms;          /* whole fetch; 0 none */
    const char *ca_file;    /* --ca-file, borrowed; NULL: system store */
    struct netguard *guard; /* owned by main: --allow-hosts */
    const char *files_root; /* --files-root, borrowed; NULL: none */
    int files_root_fd;      /* owned by main: the root opened, or -1 */
    long upload_ms;         /* an upload with nothing new this long fails */

    /* Watching (README.md, "Watching a cluster"). */
    int events;               /* --events: per-task events */
    const char *metrics_addr; /* --metrics ADDR:PORT, borrowed; NULL off */
    /* Cluster-wide limits (worker/throttle.h): --rate-limit and
     * --concurrency-limit, in the order given. */
    struct limit_conf *limits; /* owned array */
    int nlimits;
    /* --priority (worker/priority.h), borrowed from argv; NULL: none. */
    const char *priority;
    /* --beat FILE (worker/beatproc.h): borrowed from argv; NULL: none. */
    const char *beat;
    struct beatfile *beat_file; /* owned by main: FILE, loaded and checked */
    long beat_lease_ms;         /* --beat-lease */
};

#endif
