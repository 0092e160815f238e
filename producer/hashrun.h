/* SPDX-License-Identifier: MIT */
/*
 * The engine under `celeriac hash`: turns a list of files into "hash"
 * tasks (data_b64 + algorithm) that all name one reply stream, sends them
 * pipelined, and hands the outcomes back strictly in list order.
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

struct hashrun_opts {
    const char *prefix;    /* key prefix; borrowed */
    const char *queue;     /* queue name; borrowed */
    const char *algorithm; /* digest name sent to the workers; borrowed */
    size_t hexlen;         /* expected digest length in hex characters */
    size_t window;         /* in-flight bytes; 0 = HASHRUN_WINDOW */
    int64_t deadline_us;   /* cli_now_us() clock; 0 = none */
};

/*
 * Called once per job, in list order, as soon as it and every job before
 * it are DONE.  job->error is freed after the call.
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
