/* SPDX-License-Identifier: MIT */
/*
 * The optional delivery fields of a task message (PROTOCOL.md, "Time
 * limits, expiry and retries"):
 *
 *   time_limit         seconds (number > 0) the task may run; the worker
 *                      kills it past that (TimeLimitExceeded)
 *   expires            Unix time in seconds (number) or ISO-8601 UTC string;
 *                      a task taken later is not run (status EXPIRED)
 *   max_retries        retries allowed after a retryable failure (default 0)
 *   retry_backoff      first retry delay in seconds (default 1)
 *   retry_backoff_max  largest delay in seconds (default 600)
 *   retry_jitter       true (default): each delay is drawn uniformly from
 *                      [delay/2, delay]
 *   retries            retries done so far; set by workers when they
 *                      reschedule a task (0 when absent)
 *   errors             the errors of earlier attempts; set by workers
 *   queue              the queue a scheduled task is moved to
 *
 * Retryable failures are TimeLimitExceeded and InternalError, and the
 * transient failures of a url source: Timeout, DNSError, ConnectError,
 * BadResponse, and HTTPError for a status 5xx or 429; bad input never is.  The n-th retry waits min(backoff * 2^(n-1), backoff_max), and
 * never less than POLICY_MIN_BACKOFF_MS.
 */
#ifndef CELERIAC_POLICY_H
#define CELERIAC_POLICY_H

#include <jansson.h>
#include <stdint.h>

#include "error.h"

#define POLICY_MAX_RETRIES 1000
/* Largest time_limit in seconds: its milliseconds fit in a uint32. */
#define POLICY_MAX_TIME_LIMIT 4294967.0
/* Largest Unix time accepted for "expires" (the year 10000). */
#define POLICY_MAX_UNIX_TIME 253402300800.0
#define POLICY_DEFAULT_BACKOFF 1.0
#define POLICY_DEFAULT_BACKOFF_MAX 600.0
/* No retry is due sooner than this after its failure, whatever the
 * message says (retry_backoff 0 would retry a failing task in a loop). */
#define POLICY_MIN_BACKOFF_MS 100

struct policy {
    double time_limit;      /* seconds, 0 = none */
    int64_t expires_us;     /* Unix microseconds, 0 = never */
    unsigned max_retries;
    double backoff;         /* seconds */
    double backoff_max;     /* seconds */
    int jitter;
    unsigned retries;       /* retries done before this attempt */
};

/* Reads the policy fields of a message object (borrowed).  Returns 0, or -1
 * with *err filled (InvalidMessage) for a field of the wrong type. */
int policy_decode(const json_t *msg, struct policy *p,
                  struct proto_error *err);
/* The fetcher's error names that policy_retryable_status() knows
 * (worker/fetch.h, fetch_error_name()). */
#define POLICY_E_TIMEOUT "Timeout"
#define POLICY_E_DNS "DNSError"
#define POLICY_E_CONNECT "ConnectError"
#define POLICY_E_BAD_RESPONSE "BadResponse"
#define POLICY_E_HTTP "HTTPError"

/* 1 if an error of this type may be retried at all (HTTPError never:
 * without its status it is taken as final). */
int policy_retryable(const char *err_type);
/* The same for the failure of a url source whose response had status
 * http_status (0: none): HTTPError is retryable for 5xx and 429. */
int policy_retryable_status(const char *err_type, int http_status);
/* Delay before retry number p->retries + 1, in ms, at least
 * POLICY_MIN_BACKOFF_MS; rnd in [0, 1). */
int64_t policy_backoff_ms(const struct policy *p, double rnd);
/*
 * The message to schedule for the next attempt: a copy of msg (borrowed)
 * with "id" = task_id, "queue" = queue, "retries" + 1 and this attempt's
 * error appended to "errors".  Returns an owned string (free()).
 */
char *policy_reschedule(const json_t *msg, const char *task_id,
                        const char *queue, const char *err_type,
                        const char *err_msg, int64_t now_us);
/* Parses "2026-11-22T02:33:48[.123456]Z" into Unix us; -1 if malformed. */
int64_t policy_parse_time(const char *s);

#endif
