/* SPDX-License-Identifier: MIT */
/* Time limits, expiry and retry policy of a task message. */
#include "policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "result.h"

static int policy_number(const json_t *msg, const char *field, double min,
                         double max, double *out, struct proto_error *err);

/* Reads an optional number field into *out (unchanged when absent). */
static int
policy_number(const json_t *msg, const char *field, double min, double max,
              double *out, struct proto_error *err)
{
    json_t *v = json_object_get(msg, field);
    if (v == NULL || json_is_null(v))
        return 0;
    if (!json_is_number(v) || json_number_value(v) < min ||
        json_number_value(v) > max || isnan(json_number_value(v)))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '%s' must be a number from %g to %g",
                               field, min, max);
    *out = json_number_value(v);
    return 0;
}

int64_t
policy_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    const char *rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (rest == NULL)
        return -1;
    long us = 0;
    if (*rest == '.') {
        rest++;
        int digits = 0;
        while (*rest >= '0' && *rest <= '9') {
            if (digits < 6) {
                us = us * 10 + (*rest - '0');
                digits++;
            }
            rest++;
        }
        while (digits++ < 6)
            us *= 10;
    }
    if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
        return -1;
    return (int64_t)timegm(&tm) * 1000000 + us;
}

int
policy_decode(const json_t *msg, struct policy *p, struct proto_error *err)
{
    double v;
    memset(p, 0, sizeof(*p));
    p->backoff = POLICY_DEFAULT_BACKOFF;
    p->backoff_max = POLICY_DEFAULT_BACKOFF_MAX;
    p->jitter = 1;

    /* time_limit travels to the parent as uint32 milliseconds. */
    if (policy_number(msg, "time_limit", 0, POLICY_MAX_TIME_LIMIT,
                      &p->time_limit, err) < 0 ||
        policy_number(msg, "retry_backoff", 0, 1e7, &p->backoff, err) < 0 ||
        policy_number(msg, "retry_backoff_max", 0, 1e7, &p->backoff_max,
                      err) < 0)
        return -1;
    /* Counts must be whole numbers: 2.5 retries has no meaning, and
     * policy_reschedule counts on integers. */
    v = 0;
    if (policy_number(msg, "max_retries", 0, POLICY_MAX_RETRIES, &v, err) < 0)
        return -1;
    if (v != (double)(unsigned)v)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field 'max_retries' must be a whole number");
    p->max_retries = (unsigned)v;
    v = 0;
    if (policy_number(msg, "retries", 0, 1e9, &v, err) < 0)
        return -1;
    if (v != (double)(unsigned)v)
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field 'retries' must be a whole number");
    p->retries = (unsigned)v;
    json_t *j = json_object_get(msg, "retry_jitter");
    if (j != NULL && !json_is_null(j)) {
        if (!json_is_boolean(j))
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "field 'retry_jitter' must be true or "
                                   "false");
        p->jitter = json_is_true(j);
    }
    json_t *e = json_object_get(msg, "expires");
    if (e != NULL && !json_is_null(e)) {
        /* Bounded before the conversion: past the year 10000 it would not
         * fit in int64 microseconds. */
        if (json_is_number(e) && json_number_value(e) > 0 &&
            json_number_value(e) < POLICY_MAX_UNIX_TIME)
            p->expires_us = (int64_t)(json_number_value(e) * 1e6);
        else if (json_is_string(e) &&
                 (p->expires_us = policy_parse_time(json_string_value(e))) >
                     0)
            ;
        else
            return proto_error_set(err, ERROR_INVALID_MESSAGE,
                                   "field 'expires' must be a Unix time in "
                                   "seconds or an ISO-8601 UTC time such as "
                                   "2026-11-22T10:00:00Z");
    }
    return 0;
}

int
policy_retryable(const char *err_type)
{
    return policy_retryable_status(err_type, 0);
}

int
policy_retryable_status(const char *err_type, int http_status)
{
    /* Transient failures of a source: the same fetch may work later. */
    static const char *const transient[] = {
        ERROR_TIME_LIMIT, ERROR_INTERNAL, POLICY_E_TIMEOUT, POLICY_E_DNS,
        POLICY_E_CONNECT, POLICY_E_BAD_RESPONSE,
    };
    for (size_t i = 0; i < sizeof(transient) / sizeof(transient[0]); i++)
        if (strcmp(err_type, transient[i]) == 0)
            return 1;
    return strcmp(err_type, POLICY_E_HTTP) == 0 &&
           ((http_status >= 500 && http_status <= 599) || http_status == 429);
}

int64_t
policy_backoff_ms(const struct policy *p, double rnd)
{
    double d = p->backoff * pow(2.0, p->retries < 60 ? p->retries : 60);
    if (d > p->backoff_max)
        d = p->backoff_max;
    if (p->jitter)
        d = d / 2 + d / 2 * rnd;
    int64_t ms = (int64_t)(d * 1000);
    return ms < POLICY_MIN_BACKOFF_MS ? POLICY_MIN_BACKOFF_MS : ms;
}

char *
policy_reschedule(const json_t *msg, const char *task_id, const char *queue,
                  const char *err_type, const char *err_msg, int64_t now_us)
{
    char at[32];
    json_t *m = json_deep_copy(msg);
    json_t *r = json_object_get(m, "retries");
    json_int_t retries = json_is_integer(r) ? json_integer_value(r) : 0;

    result_format_time(at, now_us);
    json_object_set_new(m, "id", json_string(task_id));
    json_object_set_new(m, "queue", json_string(queue));
    json_object_set_new(m, "retries", json_integer(retries + 1));
    json_t *errors = json_object_get(m, "errors");
    if (!json_is_array(errors)) {
        errors = json_array();
        json_object_set_new(m, "errors", errors);
    }
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", err_type, "at", at,
                          "message", "");
    json_t *msgv = json_string(err_msg);
    if (msgv != NULL)
        json_object_set_new(e, "message", msgv);
    json_array_append_new(errors, e);
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return s;
}
