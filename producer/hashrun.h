/* SPDX-License-Identifier: MIT */
/*
 * The engine under `celeriac hash`: turns a list of files into "hash"
 * tasks (data_b64 + algorithm) that all name one reply stream, sends them
 * pipelined, and hands the outcomes back in list order (or, unordered, as
 * they come).  With a url or path source the list holds URLs or names
 * under the workers' --files-root instead, sent as they are (PROTOCOL.md,
 * "Sources"): nothing is read here.
 *
 * Memory stays bounded whatever the number and size of the files: a file
 * is read only when it is about to be sent, its bytes are dropped once
 * Redis has the task, and no more than a window of bytes (default 64 MiB)
 * is in flight (sent, result not yet back) at a time.  A lost connection
 * is survived: the engine reconnects with backoff, sends again the tasks
 * Redis had not confirmed (task ids are chosen here, so a task that
 * arrives twice is harmless) and reads on from the last result seen.
 */
#ifndef CELERIAC_HASHRUN_H
#define CELERIAC_HASHRUN_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "progress.h"

/* Default in-flight window in bytes. */
#define HASHRUN_WINDOW (64u << 20)

enum hashjob_state {
    HASHJOB_TODO = 0, /* not sent yet */
    HASHJOB_SENT,     /* XADD in the pipeline, not confirmed */
    HASHJOB_QUEUED,   /* Redis has the task; waiting for its result */
    HASHJOB_DONE,     /* outcome known */
};

enum hashjob_outcome {
    HASHJOB_OK = 0,     /* digest is set */
    HASHJOB_UNREADABLE, /* cannot open/read, or too large: error is set */
    HASHJOB_FAILED,     /* the task failed or Redis refused it: error set */
    HASHJOB_TIMEOUT,    /* no result (or, from a FIFO, no data) before
                           the deadline: error is set */
};

/*
 * One file to hash.  The caller fills path (and any fields of its own
 * beside this struct); the engine fills the rest.
 */
struct hashjob {
    const char *path;        /* "-" for stdin; borrowed */
    int state;               /* enum hashjob_state */
    int outcome;             /* enum hashjob_outcome, once DONE */
    int missing;             /* UNREADABLE because it does not exist */
    uint64_t size;           /* bytes sent */
    char digest[2 * 64 + 1]; /* lowercase hex, when OK */
    char *error;             /* why not OK, for a person; owned by the engine */
};

/* What a job's path names. */
enum hashrun_source {
    HASHRUN_SRC_FILE = 0, /* a local file (or "-"), sent as data_b64 */
    HASHRUN_SRC_URL,      /* a URL, sent as "url" (http:// or https://) */
    HASHRUN_SRC_PATH,     /* a name under the workers' --files-root */
};

/* Longest URL or remote path sent (a worker looks for sources only in
 * messages up to 64 KiB). */
#define HASHRUN_MAX_SOURCE 8192

struct hashrun_opts {
    const char *prefix;    /* key prefix; borrowed */
    const char *queue;     /* queue name; borrowed */
    const char *algorithm; /* digest name sent to the workers; borrowed */
    size_t hexlen;         /* expected digest length in hex characters */
    size_t window;         /* in-flight bytes; 0 = HASHRUN_WINDOW */
    int64_t deadline_us;   /* cli_now_us() clock; 0 = none */
    int source;            /* enum hashrun_source */
    const char *accept_status; /* with HASHRUN_SRC_URL: "any" or NULL */
    int unordered;         /* hand jobs out as they finish */
    struct progress *progress; /* started by the caller, updated with the
                                  number of jobs done; NULL: none */
};

/*
 * Called once per job, in list order, as soon as it and every job before
 * it are DONE (unordered: as soon as it is DONE).  job->error is freed
 * after the call.
 */
typedef void hashrun_fn(struct hashjob *job, size_t index, void *arg);

/*
 * Runs jobs[0..n) on a connected conn.  Returns 0 when every job was
 * handed to fn (some may be TIMEOUT: then *timed_out is set), or -1 after
 * printing a Redis error that ended the run (jobs not handed out yet are
 * dropped).
 */
int hashrun_run(struct conn *c, const struct hashrun_opts *o,
                struct hashjob *jobs, size_t n, hashrun_fn *fn, void *arg,
                int *timed_out);

#endif
