/* SPDX-License-Identifier: MIT */
/* A task message's name and id without decoding it; see taskscan.h. */
#include "taskscan.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/*
 * The work a scan may do apart from running memchr over long strings:
 * structural bytes looked at one by one, and quotes hopped to.  A message
 * shaped to make the scan slow (deep nesting, many tiny strings, many
 * escaped quotes) gives up after this many steps; a long plain string (a
 * base64 payload) costs one memchr whatever its length.
 */
#define TASKSCAN_STEPS (64 * 1024)

struct taskscan {
    const char *s;
    size_t len;
    size_t steps; /* left; at 0 the scan gives up */
};

/* Spends one step; 0 when none is left. */
static int
taskscan_step(struct taskscan *t)
{
    if (t->steps == 0)
        return 0;
    t->steps--;
    return 1;
}

/*
 * The index after the JSON string that starts at s[i] ('"'), or 0 when it
 * does not end within len or the steps ran out.  Hops from quote to quote
 * with memchr; a quote after an odd run of backslashes is escaped.
 */
static size_t
taskscan_skip_string(struct taskscan *t, size_t i)
{
    const char *s = t->s;
    for (i++; i < t->len;) {
        if (!taskscan_step(t))
            return 0;
        const char *q = memchr(s + i, '"', t->len - i);
        if (q == NULL)
            return 0;
        size_t at = (size_t)(q - s), back = 0;
        while (at - back > i && s[at - back - 1] == '\\')
            back++;
        if (back % 2 == 0)
            return at + 1;
        i = at + 1;
    }
    return 0;
}

static size_t
taskscan_skip_space(const struct taskscan *t, size_t i)
{
    const char *s = t->s;
    while (i < t->len &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The index after the JSON value at s[i]; len when it does not end or
 * the steps ran out. */
static size_t
taskscan_skip_value(struct taskscan *t, size_t i)
{
    const char *s = t->s;
    int depth = 0;
    while (i < t->len) {
        if (!taskscan_step(t))
            return t->len;
        char ch = s[i];
        if (ch == '"') {
            i = taskscan_skip_string(t, i);
            if (i == 0)
                return t->len;
            continue;
        }
        if (ch == '{' || ch == '[')
            depth++;
        else if (ch == '}' || ch == ']') {
            if (depth == 0)
                return i;
            if (--depth == 0)
                return i + 1;
        } else if (ch == ',' && depth == 0)
            return i;
        i++;
    }
    return t->len;
}

/*
 * Copies the JSON string token s[a..b) (quotes included) into out (n
 * bytes, terminated) if its value fits and holds no control character.
 * A token with escapes is decoded by jansson (it is short: at most 6 × n
 * bytes, since every escape stands for at least one byte).
 */
static void
taskscan_copy(const char *s, size_t a, size_t b, char *out, size_t n)
{
    const char *v = s + a + 1;
    size_t vlen = b - a - 2;
    json_t *decoded = NULL;
    if (memchr(v, '\\', vlen) != NULL) {
        if (vlen > 6 * n)
            return;
        decoded = json_loadb(s + a, b - a, JSON_DECODE_ANY, NULL);
        if (!json_is_string(decoded)) {
            json_decref(decoded);
            return;
        }
        v = json_string_value(decoded);
        vlen = json_string_length(decoded);
    }
    int ok = vlen > 0 && vlen < n;
    for (size_t k = 0; ok && k < vlen; k++)
        if ((unsigned char)v[k] < 0x20)
            ok = 0;
    if (ok) {
        memcpy(out, v, vlen);
        out[vlen] = '\0';
    }
    json_decref(decoded);
}

void
taskscan_message(const char *msg, size_t len, char *task, char *id, size_t n)
{
    struct taskscan t = {msg, len, TASKSCAN_STEPS};
    int have_task = 0, have_id = 0;
    task[0] = id[0] = '\0';
    size_t i = taskscan_skip_space(&t, 0);
    if (i >= len || msg[i] != '{')
        return;
    i++;
    while (i < len && !(have_task && have_id)) {
        i = taskscan_skip_space(&t, i);
        if (i >= len || msg[i] == '}')
            return;
        if (msg[i] == ',') {
            i++;
            continue;
        }
        if (msg[i] != '"')
            return;
        size_t ks = i + 1, ke = taskscan_skip_string(&t, i);
        if (ke == 0 || ke >= len)
            return;
        i = taskscan_skip_space(&t, ke);
        if (i >= len || msg[i] != ':')
            return;
        i = taskscan_skip_space(&t, i + 1);
        size_t vs = i;
        if (vs >= len || msg[vs] != '"') { /* not a string: skipped */
            i = taskscan_skip_value(&t, vs);
            continue;
        }
        i = taskscan_skip_string(&t, vs);
        if (i == 0)
            return;
        /* The first of duplicate keys counts (the worker refuses such a
         * message anyway: InvalidMessage). */
        size_t klen = ke - 1 - ks;
        if (klen == 4 && memcmp(msg + ks, "task", 4) == 0 && !have_task) {
            taskscan_copy(msg, vs, i, task, n);
            have_task = 1;
        } else if (klen == 2 && memcmp(msg + ks, "id", 2) == 0 && !have_id) {
            taskscan_copy(msg, vs, i, id, n);
            have_id = 1;
        }
    }
}

long long
taskscan_entry_ms(const char *entry_id)
{
    return strtoll(entry_id, NULL, 10);
}
