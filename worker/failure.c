/* SPDX-License-Identifier: MIT */
/* Failure-path text that cannot fail; see failure.h. */
#include "failure.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmalloc.h"

/* Longest text failure_reason_new() keeps of each string. */
#define FAILURE_FIELD_MAX 1024

static size_t failure_utf8_len(const unsigned char *s);

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t
failure_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0; /* also stops at the terminating NUL */
    return n;
}

size_t
failure_text(char *dst, size_t cap, const char *src)
{
    const unsigned char *s = (const unsigned char *)src;
    size_t o = 0;
    while (*s) {
        size_t n = failure_utf8_len(s);
        if (n > 0) {
            if (o + n >= cap)
                break;
            memcpy(dst + o, s, n);
            o += n;
            s += n;
        } else {
            if (o + 4 >= cap)
                break;
            snprintf(dst + o, 5, "\\x%02X", *s);
            o += 4;
            s++;
        }
    }
    dst[o] = '\0';
    return o;
}

char *
failure_reason_new(const char *type, const char *why, unsigned deliveries,
                   const char *worker, const char *at)
{
    char t[128], w[FAILURE_FIELD_MAX], n[FAILURE_FIELD_MAX], a[64];
    failure_text(t, sizeof(t), type ? type : "");
    failure_text(w, sizeof(w), why ? why : "");
    failure_text(n, sizeof(n), worker ? worker : "");
    failure_text(a, sizeof(a), at ? at : "");
    json_t *reason = json_pack("{s:{s:s, s:s}, s:I, s:s, s:s}", "error",
                               "type", t, "message", w, "deliveries",
                               (json_int_t)deliveries, "worker", n, "at", a);
    char *rs = reason ? json_dumps(reason, JSON_COMPACT) : NULL;
    json_decref(reason);
    if (rs == NULL) /* out of memory inside jansson: still a valid reason */
        rs = xstrdup("{\"error\":{\"type\":\"InternalError\",\"message\":"
                     "\"the dead-letter reason could not be encoded\"}}");
    return rs;
}
