/* SPDX-License-Identifier: MIT */
/*
 * The pure parts of the cluster-wide limits (throttle.h): parsing the
 * options and finding a message's task name.  No I/O, so the unit tests
 * link them as they are.
 */
#include "throttle_conf.h"

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
    if (errno != 0 || end == eq + 1 || v < 1 || v > THROTTLE_N_MAX) {
        snprintf(why, n, "'%s': the limit must be a whole number from 1 to "
                         "1000000", spec);
        throttle_conf_clear(out);
        return -1;
    }
    out->n = v;
    if (rate && throttle_parse_rate(eq + 1, &out->n, &out->per_ms) < 0)
        end = NULL;
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
    struct throttle_msg m;
    if (!throttle_scan(msg, len, &m) || strlen(m.task) >= n)
        return 0;
    memcpy(out, m.task, strlen(m.task) + 1);
    return 1;
}

int
throttle_parse_rate(const char *v, long *n, long *per_ms)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno != 0 || end == v || x < 1 || x > THROTTLE_N_MAX ||
        (*v < '0' || *v > '9'))
        return -1;
    if (strcmp(end, "/s") == 0)
        *per_ms = 1000;
    else if (strcmp(end, "/m") == 0)
        *per_ms = 60000;
    else if (strcmp(end, "/h") == 0)
        *per_ms = 3600000;
    else
        return -1;
    *n = x;
    return 0;
}

int
throttle_scan(const char *msg, size_t len, struct throttle_msg *out)
{
    const char *end = msg + len, *p = throttle_skip_ws(msg, end);
    char key[32], val[32];
    memset(out, 0, sizeof(*out));
    if (p == end || *p != '{')
        return 0;
    p = throttle_skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        const char *k = p;
        p = throttle_skip_string(p, end);
        if (p == NULL)
            break;
        if ((size_t)(p - k) > 64 ||
            !throttle_string(k, (size_t)(p - k), key, sizeof(key)))
            key[0] = '\0';
        p = throttle_skip_ws(p, end);
        if (p == end || *p != ':')
            break;
        p = throttle_skip_ws(p + 1, end);
        const char *v = p;
        p = throttle_skip_value(p, end);
        if (p == NULL)
            break;
        size_t vn = (size_t)(p - v);
        if (strcmp(key, "task") == 0 && *v == '"') {
            if (!throttle_string(v, vn, out->task, sizeof(out->task)))
                out->task[0] = '\0';
        } else if (strcmp(key, THROTTLE_F_RATE) == 0 && *v == '"' &&
                   vn < 40 && throttle_string(v, vn, val, sizeof(val))) {
            if (throttle_parse_rate(val, &out->rate_n, &out->rate_per_ms) <
                0)
                out->rate_n = out->rate_per_ms = 0;
        } else if (strcmp(key, THROTTLE_F_CONC) == 0 && vn < 16 &&
                   *v >= '1' && *v <= '9') {
            memcpy(val, v, vn);
            val[vn] = '\0';
            char *e;
            long x = strtol(val, &e, 10);
            out->conc_n = *e == '\0' && x <= THROTTLE_N_MAX ? x : 0;
        }
        p = throttle_skip_ws(p, end);
        if (p < end && *p == ',')
            p = throttle_skip_ws(p + 1, end);
        else
            break;
    }
    return out->task[0] != '\0';
}

int
throttle_check_message(const json_t *root, struct proto_error *err)
{
    const json_t *r = json_object_get(root, THROTTLE_F_RATE);
    const json_t *c = json_object_get(root, THROTTLE_F_CONC);
    long n, per;
    if (r != NULL && !json_is_null(r) &&
        (!json_is_string(r) ||
         throttle_parse_rate(json_string_value(r), &n, &per) < 0))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '" THROTTLE_F_RATE "' must be a "
                               "string \"N/s\", \"N/m\" or \"N/h\" with "
                               "N from 1 to %ld",
                               THROTTLE_N_MAX);
    if (c != NULL && !json_is_null(c) &&
        (!json_is_integer(c) || json_integer_value(c) < 1 ||
         json_integer_value(c) > THROTTLE_N_MAX))
        return proto_error_set(err, ERROR_INVALID_MESSAGE,
                               "field '" THROTTLE_F_CONC "' must be a whole "
                               "number from 1 to %ld",
                               THROTTLE_N_MAX);
    return 0;
}
