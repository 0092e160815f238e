/* SPDX-License-Identifier: MIT */
/* The task message builder. */
#include "build.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "version.h"

/* Room left after a large piece, for the members after it. */
#define BUILD_SLACK 2048

#define BUILD_DUMP_FLAGS (JSON_COMPACT | JSON_ENCODE_ANY)

static int build_grow(struct build *b, size_t extra);
static int build_put(struct build *b, const char *s, size_t n);
static int build_dump(struct build *b, const json_t *v);
static int build_string(struct build *b, const char *s, size_t n);
static int build_field(struct build *b, const char *name);
static int build_args(struct build *b, const struct build_spec *s);
static int build_check_source(const struct build_spec *s);
static int build_member(struct build *b, const char *name, const char *value);

/* Makes room for extra more bytes and a NUL.  0 or -BUILD_E_NOMEM. */
static int
build_grow(struct build *b, size_t extra)
{
    if (b->cap - b->len > extra)
        return 0;
    /* Double, or when that is not enough (a payload), take what is
     * needed and room for the members that usually follow. */
    size_t cap = b->cap ? 2 * b->cap : 256;
    if (cap - b->len <= extra)
        cap = b->len + extra + 1 + BUILD_SLACK;
    char *p = realloc(b->buf, cap);
    if (p == NULL)
        return -BUILD_E_NOMEM;
    b->buf = p;
    b->cap = cap;
    return 0;
}

static int
build_put(struct build *b, const char *s, size_t n)
{
    if (build_grow(b, n) < 0)
        return -BUILD_E_NOMEM;
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    return 0;
}

/* Appends v as compact JSON, exactly as json_dumps() writes it. */
static int
build_dump(struct build *b, const json_t *v)
{
    size_t room = b->cap - b->len;
    size_t n = json_dumpb(v, b->buf ? b->buf + b->len : NULL, b->buf ? room : 0,
                          BUILD_DUMP_FLAGS);
    if (n == 0)
        return -BUILD_E_NOMEM;
    if (n >= room) { /* did not fit (or left no room for the NUL) */
        if (build_grow(b, n) < 0)
            return -BUILD_E_NOMEM;
        n = json_dumpb(v, b->buf + b->len, b->cap - b->len, BUILD_DUMP_FLAGS);
        if (n == 0)
            return -BUILD_E_NOMEM;
    }
    b->len += n;
    return 0;
}

/* Appends s[0..n) as a JSON string.  -BUILD_E_UTF8 if it is not UTF-8. */
static int
build_string(struct build *b, const char *s, size_t n)
{
    json_t *v = json_stringn(s, n);
    if (v == NULL)
        return -BUILD_E_UTF8;
    int r = build_dump(b, v);
    json_decref(v);
    return r;
}

/* Appends ,"name": */
static int
build_field(struct build *b, const char *name)
{
    int r;
    if ((r = build_put(b, ",", 1)) < 0 ||
        (r = build_string(b, name, strlen(name))) < 0)
        return r;
    return build_put(b, ":", 1);
}

/* Names of the members that are sources (PROTOCOL.md, "Sources"). */
static const char *const build_sources[] = {
    BUILD_F_DATA, BUILD_F_DATA_B64, BUILD_F_URL, BUILD_F_PATH, NULL,
};

/*
 * Checks that s names at most one source (among args, the payload and the
 * source) and accept_status only with a url.  0 or -BUILD_E_SOURCE.
 */
static int
build_check_source(const struct build_spec *s)
{
    int n = (s->payload_field != NULL) + (s->source_field != NULL);
    if (s->payload_field == NULL && s->source_field == NULL)
        return s->accept_status != NULL ? -BUILD_E_SOURCE : 0;
    if (s->args != NULL)
        for (size_t i = 0; build_sources[i] != NULL; i++)
            n += json_object_get(s->args, build_sources[i]) != NULL;
    if (s->accept_status != NULL &&
        (s->source_field == NULL || strcmp(s->source_field, BUILD_F_URL) != 0))
        return -BUILD_E_SOURCE;
    if (s->accept_status != NULL && s->args != NULL &&
        json_object_get(s->args, BUILD_F_ACCEPT_STATUS) != NULL)
        return -BUILD_E_SOURCE;
    return n > 1 ? -BUILD_E_SOURCE : 0;
}

/* Appends "name":"value" (no comma). */
static int
build_member(struct build *b, const char *name, const char *value)
{
    int r;
    if ((r = build_string(b, name, strlen(name))) < 0 ||
        (r = build_put(b, ":", 1)) < 0)
        return r;
    return build_string(b, value, strlen(value));
}

/*
 * Appends ,"args":{...} with the payload, or the source and its
 * accept_status, as its last members.
 */
static int
build_args(struct build *b, const struct build_spec *s)
{
    int r;
    if (s->args != NULL && !json_is_object(s->args))
        return -BUILD_E_ARGS;
    if ((r = build_check_source(s)) < 0)
        return r;
    if ((r = build_field(b, BUILD_F_ARGS)) < 0)
        return r;
    if (s->payload_field == NULL && s->source_field == NULL)
        return s->args ? build_dump(b, s->args) : build_put(b, "{}", 2);
    if (s->args != NULL && json_object_size(s->args) > 0) {
        if ((r = build_dump(b, s->args)) < 0)
            return r;
        b->buf[b->len - 1] = ','; /* "{...}" becomes "{...," */
    } else if ((r = build_put(b, "{", 1)) < 0) {
        return r;
    }
    if (s->source_field != NULL) {
        if ((r = build_member(b, s->source_field, s->source ? s->source : ""))
            < 0)
            return r;
        if (s->accept_status != NULL &&
            ((r = build_put(b, ",", 1)) < 0 ||
             (r = build_member(b, BUILD_F_ACCEPT_STATUS, s->accept_status)) <
                 0))
            return r;
        return build_put(b, "}", 1);
    }
    if ((r = build_string(b, s->payload_field, strlen(s->payload_field))) < 0 ||
        (r = build_put(b, ":\"", 2)) < 0)
        return r;
    size_t n = b64_encoded_len(s->payload_len);
    if (build_grow(b, n + 2) < 0)
        return -BUILD_E_NOMEM;
    b->len += b64_encode_into(b->buf + b->len, s->payload, s->payload_len);
    return build_put(b, "\"}", 2);
}

int
build_head(struct build *b, const struct build_spec *s)
{
    char v[32];
    int r, n = snprintf(v, sizeof(v), "{\"" BUILD_F_VERSION "\":%d",
                        PROTOCOL_VERSION);
    const char *const strs[][2] = {
        {BUILD_F_ID, s->id},
        {BUILD_F_QUEUE, s->queue},
        {BUILD_F_REPLY_TO, s->reply_to},
    };

    b->len = b->head_len = 0;
    if ((r = build_put(b, v, (size_t)n)) < 0)
        return r;
    if (s->task != NULL &&
        ((r = build_field(b, BUILD_F_TASK)) < 0 ||
         (r = build_string(b, s->task, strlen(s->task))) < 0))
        return r;
    if ((s->args != NULL || s->payload_field != NULL ||
         s->source_field != NULL || s->accept_status != NULL) &&
        (r = build_args(b, s)) < 0)
        return r;
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++)
        if (strs[i][1] != NULL &&
            ((r = build_field(b, strs[i][0])) < 0 ||
             (r = build_string(b, strs[i][1], strlen(strs[i][1]))) < 0))
            return r;
    if (s->extra != NULL) {
        const char *key;
        json_t *val;
        if (!json_is_object(s->extra))
            return -BUILD_E_ARGS;
        json_object_foreach((json_t *)s->extra, key, val)
        {
            if ((r = build_field(b, key)) < 0 || (r = build_dump(b, val)) < 0)
                return r;
        }
    }
    b->head_len = b->len;
    return 0;
}

int
build_finish(struct build *b, const char *line, size_t line_len)
{
    const char *p = line, *end = line + line_len;
    int r;

    b->len = b->head_len;
    if (line != NULL) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
            p++;
        const char *last = end;
        while (last > p && (last[-1] == ' ' || last[-1] == '\t' ||
                            last[-1] == '\n' || last[-1] == '\r'))
            last--;
        if (p == end || *p != '{' || last - p < 2 || last[-1] != '}')
            return -BUILD_E_LINE;
        const char *q = p + 1;
        while (q < last - 1 &&
               (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r'))
            q++;
        if (q < last - 1) {
            /* The line's members, and its '}' (and what follows it),
             * byte for byte. */
            if ((r = build_put(b, ",", 1)) < 0 ||
                (r = build_put(b, p + 1, (size_t)(end - p - 1))) < 0)
                return r;
            b->buf[b->len] = '\0';
            return 0;
        }
    }
    if ((r = build_put(b, "}", 1)) < 0)
        return r;
    b->buf[b->len] = '\0';
    return 0;
}

int
build_message(struct build *b, const struct build_spec *s)
{
    int r = build_head(b, s);
    return r < 0 ? r : build_finish(b, s->line, s->line_len);
}

char *
build_take(struct build *b, size_t *len)
{
    char *p = b->buf;
    if (len != NULL)
        *len = b->len;
    memset(b, 0, sizeof(*b));
    return p;
}

void
build_free(struct build *b)
{
    free(b->buf);
    memset(b, 0, sizeof(*b));
}

const char *
build_strerror(int code)
{
    switch (code < 0 ? -code : code) {
    case BUILD_E_UTF8:
        return "a string in the message is not valid UTF-8";
    case BUILD_E_ARGS:
        return "the arguments must be a JSON object of named arguments";
    case BUILD_E_LINE:
        return "the line is not a JSON object";
    case BUILD_E_NOMEM:
        return "out of memory building the task message";
    case BUILD_E_SOURCE:
        return "a task message names one source at most (data, data_b64, "
               "url or path), and accept_status only with a url";
    default:
        return "the task message could not be built";
    }
}
