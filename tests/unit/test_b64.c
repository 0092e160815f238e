/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/b64.c: the RFC 4648 vectors, round trips of every
 * length from 0 to 300, and the strict decoder's rejections (bad characters,
 * bad padding, data after padding, non-canonical trailing bits).
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdlib.h>
#include <string.h>

#include "b64.h"

/* Room for the encoding of n bytes plus a terminator. */
#define ENCODED_SIZE(n) (((n) + 2) / 3 * 4 + 1)

static void test_rfc4648_encode(void **state);
static void test_rfc4648_decode(void **state);
static void test_round_trip_every_length(void **state);
static void test_all_byte_values(void **state);
static void test_unpadded(void **state);
static void test_line_breaks(void **state);
static void test_bad_characters(void **state);
static void test_bad_padding(void **state);
static void test_data_after_padding(void **state);
static void test_noncanonical_bits(void **state);
static void test_decoded_max_bound(void **state);

/* The test vectors of RFC 4648 section 10. */
static const struct {
    const char *plain;
    const char *encoded;
} vectors[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

/*
 * Decodes s and checks that it succeeds with exactly want[0..wantlen).
 * The output buffer is sized by b64_decoded_max() and no larger, so an
 * overrun shows under ASan and valgrind.
 */
static void
expect_decode(const char *s, const void *want, size_t wantlen)
{
    size_t n = strlen(s), outlen = 12345, bad_at = 12345;
    unsigned char *out = malloc(b64_decoded_max(n));
    assert_non_null(out);
    int r = b64_decode(s, n, out, &outlen, &bad_at);
    if (r != 0)
        print_error("decoding '%s' failed at %zu\n", s, bad_at);
    assert_int_equal(r, 0);
    assert_int_equal(outlen, wantlen);
    if (wantlen > 0)
        assert_memory_equal(out, want, wantlen);
    free(out);
}

/* Decodes s and checks that it fails with *bad_at == want_bad_at. */
static void
expect_reject(const char *s, size_t want_bad_at)
{
    size_t n = strlen(s), outlen = 12345, bad_at = 12345;
    unsigned char *out = malloc(b64_decoded_max(n));
    assert_non_null(out);
    int r = b64_decode(s, n, out, &outlen, &bad_at);
    if (r != -1)
        print_error("decoding '%s' was accepted (%zu bytes)\n", s, outlen);
    assert_int_equal(r, -1);
    if (bad_at != want_bad_at)
        print_error("decoding '%s': bad_at %zu, expected %zu\n", s, bad_at,
                    want_bad_at);
    assert_int_equal(bad_at, want_bad_at);
    free(out);
}

/* A fixed pseudo-random byte sequence, so failures are reproducible. */
static void
fill_bytes(unsigned char *buf, size_t n, uint32_t seed)
{
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = (unsigned char)(x >> 11);
    }
}

static void
test_rfc4648_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        size_t n = strlen(vectors[i].plain);
        char buf[16];
        memset(buf, '#', sizeof(buf));
        assert_int_equal(b64_encoded_len(n), strlen(vectors[i].encoded));
        size_t w = b64_encode_into(buf, vectors[i].plain, n);
        assert_int_equal(w, strlen(vectors[i].encoded));
        assert_memory_equal(buf, vectors[i].encoded, w);
        assert_int_equal(buf[w], '#'); /* no terminator, no overrun */
    }
}

static void
test_rfc4648_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++)
        expect_decode(vectors[i].encoded, vectors[i].plain,
                      strlen(vectors[i].plain));
}

static void
test_round_trip_every_length(void **state)
{
    (void)state;
    for (size_t n = 0; n <= 300; n++) {
        unsigned char *src = malloc(n + 1);
        size_t elen = b64_encoded_len(n);
        char *enc = malloc(elen + 1);
        assert_non_null(src);
        assert_non_null(enc);
        fill_bytes(src, n, (uint32_t)n);

        assert_int_equal(elen, (n + 2) / 3 * 4);
        assert_int_equal(b64_encode_into(enc, src, n), elen);
        enc[elen] = '\0';
        /* Only the alphabet, and '=' only as padding at the end. */
        assert_int_equal(strspn(enc, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "abcdefghijklmnopqrstuvwxyz"
                                     "0123456789+/"),
                         elen - (n % 3 == 0 ? 0 : 3 - n % 3));
        expect_decode(enc, src, n);

        /* The same without the padding. */
        while (elen > 0 && enc[elen - 1] == '=')
            enc[--elen] = '\0';
        expect_decode(enc, src, n);
        free(src);
        free(enc);
    }
}

static void
test_all_byte_values(void **state)
{
    (void)state;
    unsigned char src[256];
    char enc[ENCODED_SIZE(256)];
    for (int i = 0; i < 256; i++)
        src[i] = (unsigned char)i;
    size_t w = b64_encode_into(enc, src, sizeof(src));
    enc[w] = '\0';
    /* base64(1) of bytes 0..255, cut at the well known start and end. */
    assert_true(strncmp(enc, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd", 40) ==
                0);
    assert_string_equal(enc + w - 8, "/P3+/w==");
    expect_decode(enc, src, sizeof(src));
}

static void
test_unpadded(void **state)
{
    (void)state;
    expect_decode("Zg", "f", 1);
    expect_decode("Zm8", "fo", 2);
    expect_decode("Zm9vYg", "foob", 4);
    expect_decode("Zm9vYmE", "fooba", 5);
    /* One leftover character is never a whole byte. */
    expect_reject("Z", 1);
    expect_reject("Zm9vY", 5);
}

static void
test_line_breaks(void **state)
{
    (void)state;
    /* base64(1) wraps at 76 columns with LF; CRLF must work too. */
    expect_decode("Zm9v\nYmFy\n", "foobar", 6);
    expect_decode("Zm9v\r\nYmFy\r\n", "foobar", 6);
    expect_decode("Zm\n9vYg==\n", "foob", 4);
    expect_decode("Zm9vYg=\n=", "foob", 4);
    expect_decode("\n\n", "", 0);

    /* A real base64(1) wrap of 100 bytes. */
    unsigned char src[100];
    char enc[ENCODED_SIZE(100)], wrapped[200];
    fill_bytes(src, sizeof(src), 7);
    size_t w = b64_encode_into(enc, src, sizeof(src)), o = 0;
    for (size_t i = 0; i < w; i++) {
        wrapped[o++] = enc[i];
        if (i % 76 == 75)
            wrapped[o++] = '\n';
    }
    wrapped[o++] = '\n';
    wrapped[o] = '\0';
    expect_decode(wrapped, src, sizeof(src));
}

static void
test_bad_characters(void **state)
{
    (void)state;
    /* bad_at is the offset of the first character outside the alphabet. */
    expect_reject("Zm9v!mFy", 4);
    expect_reject(" Zm9v", 0);
    expect_reject("Zm9v YmFy", 4);
    expect_reject("Zm9v\tYmFy", 4);
    expect_reject("Zm-v", 2); /* the URL-safe alphabet is not accepted */
    expect_reject("Zm_v", 2);
    expect_reject("Zm9v.", 4);
    expect_reject("\xc3\xa9Zm9", 0);

    /* Every byte that is neither alphabet, '=', CR nor LF. */
    for (int c = 1; c < 256; c++) {
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '+' || c == '/' || c == '=' ||
            c == '\n' || c == '\r')
            continue;
        char s[] = "Zm9vX";
        s[4] = (char)c;
        expect_reject(s, 4);
    }

    /* An embedded NUL is a bad character, not the end of the input. */
    size_t outlen, bad_at = 99;
    unsigned char out[16];
    assert_int_equal(b64_decode("Zm\0v", 4, out, &outlen, &bad_at), -1);
    assert_int_equal(bad_at, 2);
}

static void
test_bad_padding(void **state)
{
    (void)state;
    /* bad_at is the input length for length and padding faults. */
    expect_reject("=", 1);
    expect_reject("==", 2);
    expect_reject("====", 4);
    expect_reject("Zg=", 3);   /* one '=' where two belong */
    expect_reject("Zg===", 5); /* three */
    expect_reject("Zm8==", 5); /* two '=' where one belongs */
    expect_reject("Zm9v=", 5); /* padding after a whole group */
    expect_reject("Zm9v==", 6);
    expect_reject("Z===", 4); /* six bits and padding */
    expect_reject("Zm9vY===", 8);
}

static void
test_data_after_padding(void **state)
{
    (void)state;
    expect_reject("Zg==Zg==", 4);
    expect_reject("Zm8=Zm9v", 4);
    expect_reject("Zg=a=", 3);
    expect_reject("Zg==\nZg", 5);
}

static void
test_noncanonical_bits(void **state)
{
    (void)state;
    /* "Zg==" is 'f'; "Zh==" has the same byte but non-zero unused bits. */
    expect_reject("Zh==", 4);
    expect_reject("Zv==", 4);
    expect_reject("Zm9=", 4); /* "Zm8=" is canonical */
    expect_reject("Zh", 2);
    expect_reject("Zm9", 3); /* the canonical form is "Zm8" */
    expect_decode("Zm8", "fo", 2);
}

static void
test_decoded_max_bound(void **state)
{
    (void)state;
    /* The bound holds for every length, including unpadded input. */
    for (size_t n = 0; n <= 64; n++)
        assert_true(b64_decoded_max(n) >= n * 3 / 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_encode),
        cmocka_unit_test(test_rfc4648_decode),
        cmocka_unit_test(test_round_trip_every_length),
        cmocka_unit_test(test_all_byte_values),
        cmocka_unit_test(test_unpadded),
        cmocka_unit_test(test_line_breaks),
        cmocka_unit_test(test_bad_characters),
        cmocka_unit_test(test_bad_padding),
        cmocka_unit_test(test_data_after_padding),
        cmocka_unit_test(test_noncanonical_bits),
        cmocka_unit_test(test_decoded_max_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
