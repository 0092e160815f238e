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
    /* The seconds part changes once a second: format it once. */
    static time_t last_secs = -1;
    static char last[24];
    time_t secs = (time_t)(unix_us / 1000000);
    if (secs != last_secs) {
        struct tm tm;
        gmtime_r(&secs, &tm);
        strftime(last, sizeof(last), "%Y-%m-%dT%H:%M:%S", &tm);
        last_secs = secs;
    }
    long us = (long)(unix_us % 1000000);
    memcpy(buf, last, 19);
    buf[19] = '.';
    for (int i = 25; i >= 20; i--) {
        buf[i] = (char)('0' + us % 10);
        us /= 10;
    }
    buf[26] = 'Z';
    buf[27] = '\0';
}

int64_t
result_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* A growable output buffer; data is owned until handed to the caller. */
struct result_buf {
    char *data;
    size_t len;
    size_t cap;
    int oom;
};

static void result_put(struct result_buf *b, const char *s, size_t n);
static void result_puts(struct result_buf *b, const char *s);
static void result_str(struct result_buf *b, const char *s);
static void result_json(struct result_buf *b, const json_t *v);
static void result_json_at(struct result_buf *b, const json_t *v, int depth);
/* Deeper values are written by json_dumps (which refuses cycles). */
#define RESULT_JSON_DEPTH 32
static void result_history_put(struct result_buf *b, const json_t *errors,
                               const char *type, const char *at,
                               const char *message);

static void
result_put(struct result_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 512;
        while (cap - b->len < n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL) {
            b->oom = 1;
            return;
        }
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

static void
result_puts(struct result_buf *b, const char *s)
{
    result_put(b, s, strlen(s));
}

/*
 * Writes s as a JSON string.  Control characters are escaped; bytes that
 * are not valid UTF-8 become '?', so a message quoting bad input is never
 * dropped and the document is always valid JSON.
 */
static void
result_str(struct result_buf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    result_put(b, "\"", 1);
    while (*p) {
        const unsigned char *run = p;
        while (*p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
            p++;
        result_put(b, (const char *)run, (size_t)(p - run));
        if (*p == 0)
            break;
        if (*p == '"' || *p == '\\') {
            char esc[2] = {'\\', (char)*p++};
            result_put(b, esc, 2);
        } else if (*p < 0x20) {
            char esc[8];
            snprintf(esc, sizeof(esc), "\\u%04x", *p++);
            result_puts(b, esc);
        } else { /* a multi-byte sequence: copy it if valid */
            int n = (*p & 0xe0) == 0xc0 ? 2 : (*p & 0xf0) == 0xe0 ? 3
                    : (*p & 0xf8) == 0xf0                      ? 4
                                                               : 0;
            int ok = n > 0 && !(n == 2 && *p < 0xc2) && *p <= 0xf4;
            for (int k = 1; ok && k < n; k++)
                ok = (p[k] & 0xc0) == 0x80;
            /* No overlong forms, surrogates or code points past U+10FFFF. */
            if (ok && ((*p == 0xe0 && p[1] < 0xa0) ||
                       (*p == 0xed && p[1] >= 0xa0) ||
                       (*p == 0xf0 && p[1] < 0x90) ||
                       (*p == 0xf4 && p[1] >= 0x90)))
                ok = 0;
            if (ok) {
                result_put(b, (const char *)p, (size_t)n);
                p += n;
            } else {
                result_put(b, "?", 1);
                p++;
            }
        }
    }
    result_put(b, "\"", 1);
}

/* Writes a JSON value (borrowed), or null. */
static void
result_json(struct result_buf *b, const json_t *v)
{
    result_json_at(b, v, 0);
}

/*
 * Writes v (borrowed) as compact JSON, directly for the common kinds (a
 * task's result is built anew for every task: json_dumps costs more than
 * the rest of a small task); reals, strings with a NUL and values nested
 * deeper than RESULT_JSON_DEPTH go through json_dumps.
 */
static void
result_json_at(struct result_buf *b, const json_t *v, int depth)
{
    char num[32];
    const char *key;
    json_t *x;
    size_t i;
    int first = 1;

    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_NULL:
        result_put(b, "null", 4);
        return;
    case JSON_TRUE:
        result_put(b, "true", 4);
        return;
    case JSON_FALSE:
        result_put(b, "false", 5);
        return;
    case JSON_INTEGER:
        snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT,
                 json_integer_value(v));
        result_puts(b, num);
        return;
    case JSON_STRING:
        if (strlen(json_string_value(v)) != json_string_length(v))
            break;
        result_str(b, json_string_value(v));
        return;
    case JSON_OBJECT:
        if (depth >= RESULT_JSON_DEPTH)
            break;
        result_put(b, "{", 1);
        json_object_foreach((json_t *)v, key, x) {
            if (!first)
                result_put(b, ",", 1);
            first = 0;
            result_str(b, key);
            result_put(b, ":", 1);
            result_json_at(b, x, depth + 1);
        }
        result_put(b, "}", 1);
        return;
    case JSON_ARRAY:
        if (depth >= RESULT_JSON_DEPTH)
            break;
        result_put(b, "[", 1);
        json_array_foreach(v, i, x) {
            if (i > 0)
                result_put(b, ",", 1);
            result_json_at(b, x, depth + 1);
        }
        result_put(b, "]", 1);
        return;
    default:
        break;
    }
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    result_puts(b, s ? s : "null");
    free(s);
}

int
result_history_entry(const json_t *e)
{
    const json_t *type = json_object_get(e, "type");
    const json_t *at = json_object_get(e, "at");
    const json_t *msg = json_object_get(e, "message");
    if (!json_is_string(type) || !json_is_string(at) || !json_is_string(msg))
        return 0;
    size_t tn = json_string_length(type);
    if (tn == 0 || tn > 31 ||
        strspn(json_string_value(type), "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "abcdefghijklmnopqrstuvwxyz") != tn)
        return 0;
    /* What result_format_time writes, and nothing else. */
    static const char form[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    const char *a = json_string_value(at);
    if (json_string_length(at) != sizeof(form) - 1)
        return 0;
    for (size_t i = 0; i < sizeof(form) - 1; i++)
        if (form[i] == 'd' ? a[i] < '0' || a[i] > '9' : a[i] != form[i])
            return 0;
    return json_string_length(msg) <= RESULT_MAX_ERROR_MESSAGE;
}

json_t *
result_history(const json_t *errors, size_t keep)
{
    json_t *out = json_array();
    size_t n = json_is_array(errors) ? json_array_size(errors) : 0, skip = 0;
    for (size_t i = 0; i < n; i++)
        skip += result_history_entry(json_array_get(errors, i));
    skip = skip > keep ? skip - keep : 0;
    for (size_t i = 0; i < n && out != NULL; i++) {
        const json_t *e = json_array_get(errors, i);
        if (!result_history_entry(e) || (skip > 0 && skip--))
            continue;
        json_t *c = json_object();
        json_object_set(c, "type", json_object_get(e, "type"));
        json_object_set(c, "at", json_object_get(e, "at"));
        json_object_set(c, "message", json_object_get(e, "message"));
        json_array_append_new(out, c);
    }
    return out;
}

/*
 * Writes the history array: the last entries of errors that
 * result_history_entry accepts, then {type, at, message} when type is not
 * NULL, RESULT_MAX_ERRORS in all at most.  Field by field: never the
 * message's own JSON, so nothing in it is re-encoded longer.
 */
static void
result_history_put(struct result_buf *b, const json_t *errors,
                   const char *type, const char *at, const char *message)
{
    size_t extra = type != NULL;
    json_t *h = result_history(errors, RESULT_MAX_ERRORS - extra);
    result_puts(b, "[");
    for (size_t i = 0; i < json_array_size(h) + extra; i++) {
        const json_t *e = json_array_get(h, i);
        const char *t = e ? json_string_value(json_object_get(e, "type"))
                          : type;
        const char *a = e ? json_string_value(json_object_get(e, "at")) : at;
        const char *m = e ? json_string_value(json_object_get(e, "message"))
                          : message;
        char cut[RESULT_MAX_ERROR_MESSAGE + 1];
        snprintf(cut, sizeof(cut), "%s", m); /* result_str keeps its length */
        result_puts(b, i ? ",{\"type\":" : "{\"type\":");
        result_str(b, t);
        result_puts(b, ",\"at\":");
        result_str(b, a);
        result_puts(b, ",\"message\":");
        result_str(b, cut);
        result_puts(b, "}");
    }
    json_decref(h);
    result_puts(b, "]");
}

char *
result_retry_members(const char *id, const char *queue, unsigned retries,
                     const json_t *errors, const char *err_type,
                     const char *err_msg, int64_t at_us)
{
    char at[32], num[32];
    struct result_buf b = {0};

    result_format_time(at, at_us);
    result_puts(&b, "\"id\":");
    result_str(&b, id);
    result_puts(&b, ",\"queue\":");
    result_str(&b, queue);
    snprintf(num, sizeof(num), ",\"retries\":%u,\"errors\":", retries);
    result_puts(&b, num);
    result_history_put(&b, errors, err_type, at, err_msg);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

char *
result_encode(const struct result *r, size_t *len)
{
    char started[32], finished[32], num[64];
    struct result_buf b = {0};

    result_format_time(started, r->started_us);
    result_format_time(finished, r->finished_us);
    result_puts(&b, "{\"id\":");
    result_str(&b, r->id);
    result_puts(&b, ",\"task\":");
    if (r->task)
        result_str(&b, r->task);
    else
        result_puts(&b, "null");
    result_puts(&b, ",\"status\":");
    result_str(&b, r->status);
    result_puts(&b, ",\"result\":");
    if (r->value_json)
        result_puts(&b, r->value_json);
    else
        result_json(&b, r->value);
    result_puts(&b, ",\"error\":");
    if (r->err_type != NULL) {
        result_puts(&b, "{\"type\":");
        result_str(&b, r->err_type);
        result_puts(&b, ",\"message\":");
        result_str(&b, r->err_msg ? r->err_msg : "");
        result_puts(&b, "}");
    } else {
        result_puts(&b, "null");
    }
    if (r->source != NULL) {
        result_puts(&b, ",\"source\":");
        result_json(&b, r->source);
    }
    result_puts(&b, ",\"worker\":");
    result_str(&b, r->worker);
    snprintf(num, sizeof(num), ",\"attempts\":%u,\"retries\":%u",
             r->attempts, r->retries);
    result_puts(&b, num);
    result_puts(&b, ",\"errors\":");
    result_history_put(&b, r->errors, NULL, NULL, NULL);
    result_puts(&b, ",\"started_at\":\"");
    result_puts(&b, started);
    result_puts(&b, "\",\"finished_at\":\"");
    result_puts(&b, finished);
    snprintf(num, sizeof(num), "\",\"runtime_us\":%lld}",
             (long long)(r->finished_us - r->started_us));
    result_puts(&b, num);
    if (b.oom) {
        free(b.data);
        return NULL;
    }
    if (len != NULL)
        *len = b.len;
    return b.data;
}
