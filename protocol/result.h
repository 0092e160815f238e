/* SPDX-License-Identifier: MIT */
/*
 * The result document (PROTOCOL.md, "Result"): what a worker stores under
 * <prefix>result:<id> and appends to the reply_to stream.
 *
 *   {"id": "...", "task": "hash", "status": "SUCCESS",
 *    "result": {"algorithm": "sha512", "digest": "ddaf...", "bytes": 3},
 *    "error": null, "worker": "host:123", "attempts": 1, "retries": 0,
 *    "errors": [],
 *    ["source": {...} when the bytes came from a url or a path,]
 *    "started_at": "2026-11-22T02:33:48.123456Z",
 *    "finished_at": "2026-11-22T02:33:48.123470Z", "runtime_us": 14}
 */
#ifndef CELERIAC_RESULT_H
#define CELERIAC_RESULT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Field names of the result document that clients read. */
#define RESULT_F_ID "id"
#define RESULT_F_STATUS "status"
#define RESULT_F_RESULT "result"
#define RESULT_F_ERROR "error"
#define RESULT_F_ERROR_TYPE "type"       /* in "error" */
#define RESULT_F_ERROR_MESSAGE "message" /* in "error" */
#define RESULT_F_DIGEST "digest"         /* in "result" of a hash task */

#define RESULT_SUCCESS "SUCCESS"
#define RESULT_FAILURE "FAILURE"
#define RESULT_RETRY "RETRY"     /* failed; another attempt is scheduled */
#define RESULT_EXPIRED "EXPIRED" /* taken after its "expires" time */
#define RESULT_REVOKED "REVOKED" /* not run: revoked (celeriac revoke) */

/* What goes into one document; every pointer is borrowed. */
struct result {
    const char *id;       /* task id; required */
    const char *task;     /* task name; NULL when the message had none */
    const char *status;   /* RESULT_SUCCESS or RESULT_FAILURE */
    const json_t *value;  /* "result" on success (may be NULL) */
    const char *value_json; /* or the same already encoded as JSON text */
    const char *err_type; /* "error.type" on failure */
    const char *err_msg;  /* "error.message" on failure */
    const char *worker;   /* the worker's consumer name */
    unsigned attempts;    /* runs of this task so far, >= 1 */
    unsigned retries;     /* scheduled retries before this attempt */
    const json_t *errors; /* the message's "errors" (any JSON) or NULL:
                             only its worker-written entries are kept */
    int64_t started_us;   /* Unix time in microseconds */
    int64_t finished_us;
    const json_t *source; /* "source": the facts of a url or path source
                             (PROTOCOL.md, "Sources"); NULL: no member */
};

/*
 * The history of earlier attempts that a worker writes into the "errors"
 * field of a message it schedules for a retry, and copies into results:
 * at most RESULT_MAX_ERRORS entries (the latest), each exactly
 * {"type": 1-31 letters, "at": "YYYY-MM-DDTHH:MM:SS.ffffffZ",
 *  "message": at most RESULT_MAX_ERROR_MESSAGE bytes}.  Anything else a
 * message carries there (it comes from producers too) is left out, so it
 * can never make a result or a retry larger than these bounds.
 */
#define RESULT_MAX_ERRORS 10
#define RESULT_MAX_ERROR_MESSAGE 511

/* 1 if e (borrowed) is an entry of that form. */
int result_history_entry(const json_t *e);
/*
 * A new array holding copies of the last keep entries of errors (borrowed;
 * any JSON, or NULL) that result_history_entry accepts, with only their
 * three fields.
 */
json_t *result_history(const json_t *errors, size_t keep);

/*
 * The members a worker sets in a message it schedules for a retry, as JSON
 * text for message_with_members: "id", "queue", "retries" and "errors"
 * (the history of errors, with this attempt's err_type, err_msg and at_us
 * last).  Returns an owned string (free()), or NULL when out of memory.
 */
char *result_retry_members(const char *id, const char *queue,
                           unsigned retries, const json_t *errors,
                           const char *err_type, const char *err_msg,
                           int64_t at_us);

/*
 * Encodes r as compact JSON.  Returns a string the caller frees with free()
 * and stores its length in *len (if len is not NULL).
 */
char *result_encode(const struct result *r, size_t *len);
/* Formats Unix microseconds as ISO-8601 UTC with microseconds into buf[32]. */
void result_format_time(char buf[32], int64_t unix_us);
/* The current Unix time in microseconds. */
int64_t result_now_us(void);

#endif
