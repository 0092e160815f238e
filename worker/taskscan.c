/* SPDX-License-Identifier: MIT */
/* A task message's name and id without decoding it; see taskscan.h. */
#include "taskscan.h"

#include <stdlib.h>
#include <string.h>

/* The index after the JSON string that starts at s[i] ('"'), or 0 when
 * it does not end within len. */
static size_t
taskscan_skip_string(const char *s, size_t i, size_t len)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return 0;
}

static size_t
taskscan_skip_space(const char *s, size_t i, size_t len)
{
    while (i < len &&
           (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* The index after the JSON value at s[i]. */
static size_t
taskscan_skip_value(const char *s, size_t i, size_t len)
{
    int depth = 0;
    if (i < len && s[i] == '"') {
        size_t e = taskscan_skip_string(s, i, len);
        return e ? e : len;
    }
    while (i < len) {
        char ch = s[i];
        if (ch == '"') {
            i = taskscan_skip_string(s, i, len);
            if (i == 0)
                return len;
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
    return len;
}

/* Copies the string value s[a..b) (quotes excluded) if it is plain. */
static void
taskscan_copy(const char *s, size_t a, size_t b, char *out, size_t n)
{
    if (b <= a || b - a >= n)
        return;
    for (size_t k = a; k < b; k++)
        if ((unsigned char)s[k] < 0x20 || s[k] == '\\')
            return;
    memcpy(out, s + a, b - a);
    out[b - a] = '\0';
}

void
taskscan_message(const char *msg, size_t len, char *task, char *id, size_t n)
{
    task[0] = id[0] = '\0';
    if (len > TASKSCAN_MAX)
        len = TASKSCAN_MAX;
    size_t i = taskscan_skip_space(msg, 0, len);
    if (i >= len || msg[i] != '{')
        return;
    i++;
    while (i < len) {
        i = taskscan_skip_space(msg, i, len);
        if (i >= len || msg[i] == '}')
            return;
        if (msg[i] == ',') {
            i++;
            continue;
        }
        if (msg[i] != '"')
            return;
        size_t ks = i + 1, ke = taskscan_skip_string(msg, i, len);
        if (ke == 0 || ke >= len)
            return;
        i = taskscan_skip_space(msg, ke, len);
        if (i >= len || msg[i] != ':')
            return;
        i = taskscan_skip_space(msg, i + 1, len);
        size_t vs = i;
        i = taskscan_skip_value(msg, i, len);
        if (vs < len && msg[vs] == '"' && i > vs + 1 &&
            taskscan_skip_string(msg, vs, len) == i) {
            size_t klen = ke - 1 - ks;
            if (klen == 4 && memcmp(msg + ks, "task", 4) == 0)
                taskscan_copy(msg, vs + 1, i - 1, task, n);
            else if (klen == 2 && memcmp(msg + ks, "id", 2) == 0)
                taskscan_copy(msg, vs + 1, i - 1, id, n);
        }
        if (task[0] != '\0' && id[0] != '\0')
            return;
    }
}

long long
taskscan_entry_ms(const char *entry_id)
{
    return strtoll(entry_id, NULL, 10);
}
