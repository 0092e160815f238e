/* SPDX-License-Identifier: MIT */
/* Result document encoding. */
#include "result.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void
result_format_time(char buf[32], int64_t unix_us)
{
    time_t secs = (time_t)(unix_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, 32, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, 32 - n, ".%06ldZ", (long)(unix_us % 1000000));
}

int64_t
result_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * A JSON string of s (new reference).  Bytes that are not valid UTF-8 are
 * replaced by '?', so that a message quoting bad input is never dropped.
 */
static json_t *
result_string(const char *s)
{
    json_t *v = json_string(s);
    if (v != NULL)
        return v;
    char *copy = strdup(s);
    if (copy == NULL)
        return json_string("?");
    for (char *p = copy; *p; p++)
        if ((unsigned char)*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

char *
result_encode(const struct result *r, size_t *len)
{
    char started[32], finished[32];
    json_t *o = json_object();

    result_format_time(started, r->started_us);
    result_format_time(finished, r->finished_us);
    json_object_set_new(o, "id", json_string(r->id));
    json_object_set_new(o, "task", r->task ? json_string(r->task)
                                           : json_null());
    json_object_set_new(o, "status", json_string(r->status));
    json_object_set_new(o, "result",
                        r->value ? json_deep_copy(r->value) : json_null());
    if (r->err_type != NULL) {
        json_t *e = json_object();
        json_object_set_new(e, "type", json_string(r->err_type));
        json_object_set_new(e, "message",
                            result_string(r->err_msg ? r->err_msg : ""));
        json_object_set_new(o, "error", e);
    } else {
        json_object_set_new(o, "error", json_null());
    }
    json_object_set_new(o, "worker", json_string(r->worker));
    json_object_set_new(o, "attempts", json_integer(r->attempts));
    json_object_set_new(o, "retries", json_integer(r->retries));
    json_object_set_new(o, "errors", json_is_array(r->errors)
                                         ? json_deep_copy(r->errors)
                                         : json_array());
    json_object_set_new(o, "started_at", json_string(started));
    json_object_set_new(o, "finished_at", json_string(finished));
    json_object_set_new(o, "runtime_us",
                        json_integer(r->finished_us - r->started_us));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (len != NULL)
        *len = s ? strlen(s) : 0;
    return s;
}
