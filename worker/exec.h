/* SPDX-License-Identifier: MIT */
/*
 * Running one task message to its result document: decode the message,
 * find the task, run it, encode the result.  Pure computation with no I/O,
 * used by the children; the parent uses exec_failure() to answer for a task
 * it could not run (a crashed child, an entry without a message).
 */
#ifndef CELERIAC_EXEC_H
#define CELERIAC_EXEC_H

#include <stddef.h>

/* Where a result goes.  Every pointer is owned; exec_out_clear() frees. */
struct exec_out {
    char *id;       /* task id: the message's "id", else the entry id */
    char *reply_to; /* reply stream, NULL when none */
    char *doc;      /* the result document (JSON) */
    size_t doc_len;
    int success; /* 1 for SUCCESS, 0 for FAILURE */
};

/*
 * Runs the message msg[0..len) delivered as stream entry entry_id for the
 * attempts-th time and fills *out (always; a bad message yields a FAILURE
 * document).  worker is the consumer name recorded in the result.
 */
void exec_run(const char *entry_id, const char *msg, size_t len,
              unsigned attempts, const char *worker, struct exec_out *out);
/*
 * Fills *out with a FAILURE document of err_type/err_msg for the message
 * msg[0..len) (which may be NULL or undecodable: then the entry id is the
 * task id).  started_us is when the attempt began.
 */
void exec_failure(const char *entry_id, const char *msg, size_t len,
                  unsigned attempts, const char *worker, const char *err_type,
                  const char *err_msg, long long started_us,
                  struct exec_out *out);
void exec_out_clear(struct exec_out *out);

#endif
