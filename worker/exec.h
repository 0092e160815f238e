/* SPDX-License-Identifier: MIT */
/*
 * Running one task message to its result document: decode the message,
 * check its expiry, find the task (registry.h), take the source fields
 * out of its arguments, run it (validate, init, update, final), and
 * encode the result — or, for
 * a retryable failure with retries left, the RETRY document and the message
 * to schedule.  Pure computation with no I/O, used by the children; the
 * parent uses exec_failure() to answer for a task it could not run (a
 * crashed or time-limited child, an entry without a message).
 */
#ifndef CELERIAC_EXEC_H
#define CELERIAC_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "ipc.h"

enum exec_status {
    EXEC_SUCCESS = 0,
    EXEC_FAILURE,
    EXEC_RETRY,   /* failed; sched is to be scheduled at due_ms */
    EXEC_EXPIRED, /* not run: past its expiry */
};

/* Where a result goes.  Every pointer is owned; exec_out_clear() frees. */
struct exec_out {
    enum exec_status status;
    char *id;       /* task id: the message's "id", else
                       "<queue>/<entry id>" (keys_task_id) */
    char *reply_to; /* reply stream, NULL when none or not a reply stream
                       of env->prefix */
    char *doc;      /* the result document (JSON) */
    size_t doc_len;
    char *sched;    /* EXEC_RETRY: the message to schedule */
    int64_t due_ms; /* EXEC_RETRY: Unix ms of the next attempt */
};

/*
 * The most bytes of an outcome (id, reply_to, document and message to
 * schedule together): what fits in one result frame to the parent.  An
 * outcome over it is replaced by a small ResultTooLarge FAILURE, so a
 * child never builds a frame the parent would refuse.
 */
#define EXEC_MAX_OUT (IPC_MAX_FRAME - IPC_HDR_LEN - IPC_RESULT_FIXED)

/* What a run needs from its surroundings; pointers are borrowed. */
struct exec_env {
    const char *worker;          /* consumer name recorded in results */
    const char *prefix;          /* key prefix; reply_to must name a key
                                    "<prefix>reply:..." (NULL: default) */
    size_t max_out;              /* 0: EXEC_MAX_OUT (tests set less) */
    unsigned default_time_limit_ms; /* when the message has none; 0 none */
    int report_rss;              /* children report their peak memory */
    /* Called just before a task with a time limit runs. */
    void (*started)(void *arg, unsigned time_limit_ms);
    void *arg;
};

/*
 * Runs the message msg[0..len), delivered from stream entry entry_id of
 * queue (its name), for the attempts-th time, and fills *out (always: bad
 * input, including a reply_to outside "<prefix>reply:", yields a FAILURE
 * document).
 */
void exec_run(const struct exec_env *env, const char *entry_id,
              const char *queue, const char *msg, size_t len,
              unsigned attempts, struct exec_out *out);
/*
 * Fills *out for an attempt that failed outside the task with err_type and
 * err_msg.  msg may be NULL or undecodable: then the task id is
 * "<queue>/<entry id>".  With may_retry, a retryable error with retries left becomes
 * EXEC_RETRY.  started_us is when the attempt began (Unix us).
 */
void exec_failure(const struct exec_env *env, const char *entry_id,
                  const char *queue, const char *msg, size_t len,
                  unsigned attempts, const char *err_type,
                  const char *err_msg, int64_t started_us, int may_retry,
                  struct exec_out *out);
void exec_out_clear(struct exec_out *out);

/*
 * Streamed runs: a task whose bytes arrive after it starts (a url the
 * parent fetches, a file the child reads).  How the bytes come:
 */
enum exec_feed {
    /* From IPC_CHUNK frames: the message must name a 'url' or a 'path'
     * source.  No time-limit callback (the parent times the fetch). */
    EXEC_FEED_STREAM = 1,
    /* From a file descriptor the child reads: the message must name a
     * 'path'.  env->started is called as for exec_run. */
    EXEC_FEED_FILE = 2,
};

/* One open run: the decoded message, the task and its state.  Owned by
 * whoever opened it until exec_stream_end() or exec_stream_abort(). */
struct exec_stream;

/*
 * Starts a run of the message msg[0..len) (copied), as exec_run does up to
 * the task's init.  Returns 0 with *stream set when the run is open and
 * waits for its bytes, or 1 when it ended at once (bad message, expired,
 * unknown task, refused arguments, the wrong source for feed): then
 * *stream is NULL and *out is filled.
 */
int exec_stream_open(const struct exec_env *env, const char *entry_id,
                     const char *queue, const char *msg, size_t len,
                     unsigned attempts, enum exec_feed feed,
                     struct exec_stream **stream, struct exec_out *out);
/*
 * Feeds the next n bytes to the task.  Returns 0, or 1 when the task
 * refused them: then the run is over, s is freed and *out filled (the
 * FAILURE to send at once).
 */
int exec_stream_update(struct exec_stream *s, const unsigned char *p,
                       size_t n, struct exec_out *out);
/* The bytes fed so far. */
unsigned long long exec_stream_bytes(const struct exec_stream *s);
/*
 * Ends the run and frees s, filling *out.  err_type NULL (or empty): the
 * source was read whole, the task's final() gives the result.  Otherwise
 * the source failed: FAILURE err_type/err_msg, or RETRY when the
 * message's policy allows (an HTTPError only for a status 5xx or 429, read
 * from the facts).  facts[0..facts_len) is a JSON object put in the
 * document as "source"; for a path source with no facts the run's own,
 * {"path", "bytes"}, are used.
 */
void exec_stream_end(struct exec_stream *s, const char *err_type,
                     const char *err_msg, const char *facts,
                     size_t facts_len, struct exec_out *out);
/* Ends the run without an outcome (its task is answered elsewhere). */
void exec_stream_abort(struct exec_stream *s);

#endif
