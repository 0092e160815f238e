/* SPDX-License-Identifier: MIT */
/* Base64 encoding and strict decoding. */
#include "b64.h"

#include <stdint.h>
#include <string.h>

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
b64_encoded_len(size_t n)
{
    return (n + 2) / 3 * 4;
}

size_t
b64_encode_into(char *dst, const void *src, size_t n)
{
    const unsigned char *s = src;
    char *d = dst;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = b64_alphabet[v >> 18];
        *d++ = b64_alphabet[(v >> 12) & 63];
        *d++ = b64_alphabet[(v >> 6) & 63];
        *d++ = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)s[i] << 16;
        if (i + 1 < n)
            v |= (uint32_t)s[i + 1] << 8;
        *d++ = b64_alphabet[v >> 18];
        *d++ = b64_alphabet[(v >> 12) & 63];
        *d++ = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        *d++ = '=';
    }
    return (size_t)(d - dst);
}

size_t
b64_decoded_max(size_t n)
{
    return n / 4 * 3 + 3;
}

/* Decoding table: the value of each alphabet byte, B64_SKIP for line
 * breaks, B64_PAD for '=', B64_BAD for everything else.  Built on first
 * use. */
#define B64_BAD 64
#define B64_SKIP 65
#define B64_PAD 66
static unsigned char b64_table[256];

static void
b64_init(void)
{
    memset(b64_table, B64_BAD, sizeof(b64_table));
    for (int k = 0; k < 64; k++)
        b64_table[(unsigned char)b64_alphabet[k]] = (unsigned char)k;
    b64_table['\n'] = b64_table['\r'] = B64_SKIP;
    b64_table['='] = B64_PAD;
}

int
b64_decode(const char *s, size_t n, unsigned char *out, size_t *outlen,
           size_t *bad_at)
{
    uint32_t acc = 0;
    size_t nbits = 0, o = 0, pad = 0, i = 0;
    if (b64_table[0] == 0)
        b64_init();
    /* Whole groups of four alphabet bytes first: the common case. */
    while (i + 4 <= n) {
        unsigned a = b64_table[(unsigned char)s[i]];
        unsigned b = b64_table[(unsigned char)s[i + 1]];
        unsigned c = b64_table[(unsigned char)s[i + 2]];
        unsigned d = b64_table[(unsigned char)s[i + 3]];
        if ((a | b | c | d) >= 64)
            break;
        uint32_t v = a << 18 | b << 12 | c << 6 | d;
        out[o++] = (unsigned char)(v >> 16);
        out[o++] = (unsigned char)(v >> 8);
        out[o++] = (unsigned char)v;
        i += 4;
    }
    /* The rest one byte at a time: line breaks, padding, errors. */
    for (; i < n; i++) {
        unsigned char v = b64_table[(unsigned char)s[i]];
        if (v == B64_SKIP)
            continue;
        if (v == B64_PAD) {
            pad++;
            continue;
        }
        if (v == B64_BAD || pad > 0) { /* data after padding: an error too */
            *bad_at = i;
            return -1;
        }
        acc = acc << 6 | v;
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out[o++] = (unsigned char)(acc >> nbits);
            acc &= (1u << nbits) - 1;
        }
    }
    /* Leftover bits: 0 (complete), 2 (one byte + "=="), 4 (two + "="). */
    if (nbits == 6 || pad > 2 || (pad > 0 && (nbits / 2 != pad)) || acc != 0) {
        *bad_at = n;
        return -1;
    }
    *outlen = o;
    return 0;
}
