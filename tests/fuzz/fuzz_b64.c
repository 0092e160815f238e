/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for protocol/b64.c, the decoder of the data_b64 and
 * hmac_key_b64 arguments.  Each input is used twice:
 *
 *   as base64 text: b64_decode() into a heap block of exactly
 *   b64_decoded_max() bytes (ASan reports any write past it); when it is
 *   accepted, encoding the bytes again must give the same text less its
 *   line breaks and padding, since the decoder is strict;
 *
 *   as bytes: b64_encode_into() must write b64_encoded_len() characters,
 *   and decoding them (padded, unpadded, or wrapped at 76 columns with
 *   CRLF as base64(1) and MIME do) must give the bytes back.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* Stops the run with the reason; libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Line length of wrapped base64, as in MIME (RFC 2045). */
#define FUZZ_WRAP 76

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_decode(const char *s, size_t n, unsigned char **out,
                       size_t *outlen, size_t *bad_at);
static size_t fuzz_strip(char *dst, const char *s, size_t n);
static void fuzz_as_text(const char *s, size_t n);
static void fuzz_round_trip(const char *text, size_t tn,
                            const unsigned char *want, size_t wn);
static void fuzz_as_bytes(const unsigned char *data, size_t size);

/*
 * Decodes s[0..n) into a new block of exactly b64_decoded_max(n) bytes
 * (the caller frees *out, also on failure).  Returns what b64_decode does.
 */
static int
fuzz_decode(const char *s, size_t n, unsigned char **out, size_t *outlen,
            size_t *bad_at)
{
    size_t max = b64_decoded_max(n);
    FUZZ_CHECK(max >= n / 4 * 3);
    *out = malloc(max);
    FUZZ_CHECK(*out != NULL);
    *outlen = SIZE_MAX;
    *bad_at = SIZE_MAX;
    int r = b64_decode(s, n, *out, outlen, bad_at);
    FUZZ_CHECK(r == 0 || r == -1);
    if (r == 0)
        FUZZ_CHECK(*outlen <= max);
    else
        FUZZ_CHECK(*bad_at <= n);
    return r;
}

/* Copies s[0..n) to dst without CR, LF and '='; returns the length. */
static size_t
fuzz_strip(char *dst, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '\r' && s[i] != '\n' && s[i] != '=')
            dst[o++] = s[i];
    return o;
}

static void
fuzz_as_text(const char *s, size_t n)
{
    unsigned char *out;
    size_t outlen, bad_at;

    if (fuzz_decode(s, n, &out, &outlen, &bad_at) < 0) {
        /* A bad character is reported where it is, and is one. */
        if (bad_at < n)
            FUZZ_CHECK(s[bad_at] != '\r' && s[bad_at] != '\n' &&
                       s[bad_at] != '=');
        free(out);
        return;
    }
    /* Accepted: the text is the canonical encoding of what it gave. */
    size_t en = b64_encoded_len(outlen);
    char *enc = malloc(en + 1);
    char *a = malloc(n + 1);
    char *b = malloc(en + 1);
    FUZZ_CHECK(enc != NULL && a != NULL && b != NULL);
    FUZZ_CHECK(b64_encode_into(enc, out, outlen) == en);
    size_t an = fuzz_strip(a, s, n);
    size_t bn = fuzz_strip(b, enc, en);
    FUZZ_CHECK(an == bn && memcmp(a, b, an) == 0);
    free(b);
    free(a);
    free(enc);
    free(out);
}

/* Decodes text[0..tn), which must succeed with exactly want[0..wn). */
static void
fuzz_round_trip(const char *text, size_t tn, const unsigned char *want,
                size_t wn)
{
    unsigned char *out;
    size_t outlen, bad_at;

    FUZZ_CHECK(fuzz_decode(text, tn, &out, &outlen, &bad_at) == 0);
    FUZZ_CHECK(outlen == wn);
    FUZZ_CHECK(wn == 0 || memcmp(out, want, wn) == 0);
    free(out);
}

static void
fuzz_as_bytes(const unsigned char *data, size_t size)
{
    size_t en = b64_encoded_len(size);
    FUZZ_CHECK(en % 4 == 0 && en / 4 * 3 >= size);
    char *enc = malloc(en); /* exact: b64_encode_into writes no NUL */
    FUZZ_CHECK(enc != NULL);
    FUZZ_CHECK(b64_encode_into(enc, data, size) == en);

    /* Padded, as encoded. */
    fuzz_round_trip(enc, en, data, size);

    /* Unpadded. */
    size_t un = en;
    while (un > 0 && enc[un - 1] == '=')
        un--;
    FUZZ_CHECK(en - un <= 2);
    fuzz_round_trip(enc, un, data, size);

    /* Wrapped with CRLF every FUZZ_WRAP characters, and a final CRLF. */
    size_t wn = en + 2 * (en / FUZZ_WRAP + 1);
    char *wrapped = malloc(wn);
    FUZZ_CHECK(wrapped != NULL);
    size_t w = 0;
    for (size_t i = 0; i < en; i++) {
        wrapped[w++] = enc[i];
        if ((i + 1) % FUZZ_WRAP == 0 || i + 1 == en) {
            wrapped[w++] = '\r';
            wrapped[w++] = '\n';
        }
    }
    FUZZ_CHECK(w <= wn);
    fuzz_round_trip(wrapped, w, data, size);
    free(wrapped);
    free(enc);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_as_text((const char *)data, size);
    fuzz_as_bytes(data, size);
    return 0;
}
