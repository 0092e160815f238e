/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of the cluster-wide limits (throttle.h): parsing the
 * options and finding a message's task name.  No I/O, so the unit tests
 * link them as they are.
 */
#include "throttle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "keys.h"
#include "xmalloc.h"

int
throttle_parse(const char *spec, int rate, struct limit_conf *out, char *why,
             size_t n)
{
    memset(out, 0, sizeof(*out));
    const char *eq = strrchr(spec, '=');
    const char *name = spec;
    if (strncmp(spec, "queue:", 6) == 0) {
        out->queue_scope = 1;
        name += 6;
    } else if (strncmp(spec, "task:", 5) == 0) {
        name += 5;
    }
    if (eq == NULL || eq <= name) {
        snprintf(why, n, "'%s': expected [task:|queue:]NAME=%s", spec,
                 rate ? "N/s (or N/m, N/h)" : "N");
        return -1;
    }
    out->name = xstrndup(name, (size_t)(eq - name));
    if (!keys_valid_name(out->name)) {
        snprintf(why, n, "'%s': a task or queue name is 1 to 200 printable "
                         "bytes with no space or comma", spec);
        throttle_conf_clear(out);
        return -1;
    }
    out->rate = rate;
    char *end;
    errno = 0;
    long v = strtol(eq + 1, &end, 10);
    if (errno != 0 || end == eq + 1 || v < 1 || v > 1000000) {
        snprintf(why, n, "'%s': the limit must be a whole number from 1 to "
                         "1000000", spec);
        throttle_conf_clear(out);
        return -1;
    }
    out->n = v;
    if (rate) {
        if (strcmp(end, "/s") == 0)
            out->per_ms = 1000;
        else if (strcmp(end, "/m") == 0)
            out->per_ms = 60000;
        else if (strcmp(end, "/h") == 0)
            out->per_ms = 3600000;
        else
            end = NULL;
    }
    if (end == NULL || (!rate && *end != '\0')) {
        snprintf(why, n, "'%s': expected %s after '='", spec,
                 rate ? "N/s, N/m or N/h" : "a whole number");
        throttle_conf_clear(out);
        return -1;
    }
    return 0;
}

void
throttle_conf_clear(struct limit_conf *c)
{
    free(c->name);
    c->name = NULL;
}

static const char *
throttle_skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at an opening quote: the byte after the closing one, or NULL. */
static const char *
throttle_skip_string(const char *p, const char *end)
{
    const char *q = p + 1;
    for (;;) {
        q = memchr(q, '"', (size_t)(end - q));
        if (q == NULL)
            return NULL;
        size_t bs = 0;
        while (q - bs > p + 1 && q[-1 - (ptrdiff_t)bs] == '\\')
            bs++;
        if (bs % 2 == 0)
            return q + 1;
        q++;
    }
}

/* p at a value: the byte after it, or NULL. */
static const char *
throttle_skip_value(const char *p, const char *end)
{
    int depth = 0;
    while (p < end) {
        char c = *p;
        if (c == '"') {
            p = throttle_skip_string(p, end);
            if (p == NULL)
                return NULL;
            if (depth == 0)
                return p;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
        } else if (depth == 0 && (c == ',' || c == ' ' || c == '\t' ||
                                  c == '\n' || c == '\r')) {
            return p;
        }
        p++;
    }
    return depth == 0 ? p : NULL;
}

/* The string token tok[0..n) (quotes included), decoded into out. */
static int
throttle_string(const char *tok, size_t n, char *out, size_t outlen)
{
    if (memchr(tok, '\\', n) == NULL) {
        if (n - 2 >= outlen || memchr(tok + 1, '\0', n - 2) != NULL)
            return 0;
        memcpy(out, tok + 1, n - 2);
        out[n - 2] = '\0';
        return 1;
    }
    json_t *v = json_loadb(tok, n, JSON_DECODE_ANY, NULL);
    int ok = json_is_string(v) && json_string_length(v) < outlen &&
             strlen(json_string_value(v)) == json_string_length(v);
    if (ok)
        memcpy(out, json_string_value(v), json_string_length(v) + 1);
    json_decref(v);
    return ok;
}

int
throttle_task_name(const char *msg, size_t len, char *out, size_t n)
{
    const char *end = msg + len, *p = throttle_skip_ws(msg, end);
    char key[8];
    if (p == end || *p != '{')
        return 0;
    p = throttle_skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p;
        p = throttle_skip_string(p, end);
        if (p == NULL)
            return 0;
        int is_task = (size_t)(p - k) <= 12 &&
                      throttle_string(k, (size_t)(p - k), key, sizeof(key)) &&
                      strcmp(key, "task") == 0;
        p = throttle_skip_ws(p, end);
        if (p == end || *p != ':')
            return 0;
        p = throttle_skip_ws(p + 1, end);
        const char *v = p;
        p = throttle_skip_value(p, end);
        if (p == NULL)
            return 0;
        if (is_task)
            return *v == '"' && throttle_string(v, (size_t)(p - v), out, n) &&
                   out[0] != '\0';
        p = throttle_skip_ws(p, end);
        if (p < end && *p == ',')
            p = throttle_skip_ws(p + 1, end);
        else
            break;
    }
    return 0;
}
