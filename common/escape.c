/* SPDX-License-Identifier: MIT */
/* Escaping of control characters and invalid UTF-8 for logs and terminals. */
#include "escape.h"

#include <string.h>

#include "xmalloc.h"

static size_t escape_utf8_len(const unsigned char *s, size_t n);

/*
 * The length of the valid UTF-8 sequence of 2 to 4 bytes at s[0..n) that
 * a person may see as is, or 0 if s does not start with one (an invalid or
 * overlong sequence, a surrogate, a code point past U+10FFFF, or a C1
 * control character).
 */
static size_t
escape_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xbf; /* range of the second byte */

    if (c >= 0xc2 && c <= 0xdf)
        len = 2;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4;
    else
        return 0;
    if (c == 0xc2)
        lo = 0xa0; /* U+0080-U+009F are the C1 controls */
    else if (c == 0xe0)
        lo = 0xa0; /* overlong */
    else if (c == 0xed)
        hi = 0x9f; /* surrogates */
    else if (c == 0xf0)
        lo = 0x90; /* overlong */
    else if (c == 0xf4)
        hi = 0x8f; /* past U+10FFFF */
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

size_t
escape_buf(char *out, size_t cap, const char *s, size_t n, int flags)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, o = 0;

    while (i < n) {
        unsigned char c = p[i];
        size_t run = 1;
        char tmp[4];
        const char *emit = (const char *)p + i;

        if (c == '\\' && (flags & ESCAPE_BACKSLASH)) {
            tmp[0] = tmp[1] = '\\';
            emit = tmp;
            run = 2;
        } else if (c < 0x20 || c == 0x7f ||
                   (c >= 0x80 && (run = escape_utf8_len(p + i, n - i)) == 0)) {
            tmp[0] = '\\';
            tmp[1] = 'x';
            tmp[2] = hex[c >> 4];
            tmp[3] = hex[c & 15];
            emit = tmp;
            run = 4;
        }
        if (o + run >= cap)
            break;
        memcpy(out + o, emit, run);
        o += run;
        /* An escape stands for one input byte; UTF-8 passes as a whole. */
        i += emit == tmp ? 1 : run;
    }
    out[o] = '\0';
    return i;
}

char *
escape_dup(const char *s, int flags)
{
    size_t n = strlen(s);
    char *out = xmalloc(n * 4 + 1);
    escape_buf(out, n * 4 + 1, s, n, flags);
    return out;
}
