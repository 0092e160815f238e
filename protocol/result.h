/* SPDX-License-Identifier: MIT */
/*
 * The result document (PROTOCOL.md, "Result"): what a worker stores under
 * <prefix>result:<id> and appends to the reply_to stream.
 *
 *   {"id": "...", "task": "hash", "status": "SUCCESS",
 *    "result": {"algorithm": "sha512", "digest": "ddaf...", "bytes": 3},
 *    "error": null, "worker": "host:123", "attempts": 1, "retries": 0,
 *    "errors": [],
 *    "started_at": "2026-11-22T02:33:48.123456Z",
 *    "finished_at": "2026-11-22T02:33:48.123470Z", "runtime_us": 14}
 */
#ifndef CELERIAC_RESULT_H
#define CELERIAC_RESULT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define RESULT_SUCCESS "SUCCESS"
#define RESULT_FAILURE "FAILURE"
#define RESULT_RETRY "RETRY"     /* failed; another attempt is scheduled */
#define RESULT_EXPIRED "EXPIRED" /* taken after its "expires" time */

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
    const json_t *errors; /* errors of earlier attempts (array) or NULL */
    int64_t started_us;   /* Unix time in microseconds */
    int64_t finished_us;
};

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
