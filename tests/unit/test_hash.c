/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/hash.c: digests against published test vectors
 * (FIPS 180-2, FIPS 202, RFC 1321, RFC 7693, GB/T 32905), HMAC against
 * RFC 2202 and RFC 4231, iterated digests, names in any case, refused
 * algorithms, and the per-process algorithm cache.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hash.h"

/* ---- helpers ---- */

/*
 * Hashes data[0..len) (HMAC when key is not NULL) and checks the lowercase
 * hex of the result against want.
 */
static void
expect_digest(const char *algorithm, const void *data, size_t len,
              const void *key, size_t key_len, unsigned long iterations,
              const char *want)
{
    unsigned char out[HASH_MAX_DIGEST];
    char hex[2 * HASH_MAX_DIGEST + 1];
    unsigned n = 0;
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = hash_compute(algorithm, data, len, key, key_len, iterations, out,
                         &n, &err);
    if (r != 0)
        print_error("%s: %s: %s\n", algorithm, err.type, err.message);
    assert_int_equal(r, 0);
    assert_int_equal(n * 2, strlen(want));
    hash_hex(hex, out, n);
    if (strcmp(hex, want) != 0)
        print_error("%s (%lu iterations%s): got %s\n", algorithm, iterations,
                    key ? ", hmac" : "", hex);
    assert_string_equal(hex, want);
}

#define ABC "abc", 3, NULL, 0, 1

static int
cleanup(void **state)
{
    (void)state;
    hash_cleanup();
    return 0;
}

/* ---- vectors ---- */

static void
test_digest_vectors(void **state)
{
    (void)state;
    /* FIPS 180-2 appendix C/B/A and FIPS 180-4 examples: "abc". */
    expect_digest("sha512", ABC,
                  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b"
                  "55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9a"
                  "c94fa54ca49f");
    expect_digest("sha384", ABC,
                  "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43"
                  "ff5bed8086072ba1e7cc2358baeca134c825a7");
    expect_digest("sha256", ABC,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
                  "0015ad");
    expect_digest("sha224", ABC,
                  "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7");
    expect_digest("sha1", ABC, "a9993e364706816aba3e25717850c26c9cd0d89d");
    expect_digest("sha512-256", ABC,
                  "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107"
                  "e7af23");
    /* RFC 1321 */
    expect_digest("md5", ABC, "900150983cd24fb0d6963f7d28e17f72");
    expect_digest("md5", "", 0, NULL, 0, 1, "d41d8cd98f00b204e9800998ecf8427e");
    /* FIPS 202 */
    expect_digest("sha3-256", ABC,
                  "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511"
                  "431532");
    expect_digest("sha3-512", ABC,
                  "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240"
                  "d2712e10e116e9192af3c91a7ec57647e3934057340b4cf408d5a56592"
                  "f8274eec53f0");
    /* RFC 7693 appendix A and B */
    expect_digest("blake2b512", ABC,
                  "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdb"
                  "ffa2d17d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab923"
                  "86edd4009923");
    expect_digest("blake2s256", ABC,
                  "508c5e8c327c14e2e1a72ba34eeb452f37458b209ed63a294d999b4c86"
                  "675982");
    /* GB/T 32905-2016 example 1 */
    expect_digest("sm3", ABC,
                  "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f"
                  "4ba8e0");
    /* The empty message */
    expect_digest("sha256", "", 0, NULL, 0, 1,
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b78"
                  "52b855");
}

static void
test_million_a(void **state)
{
    (void)state;
    /* FIPS 180-2: one million repetitions of 'a'. */
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    expect_digest("sha256", a, n, NULL, 0, 1,
                  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7"
                  "112cd0");
    expect_digest("sha512", a, n, NULL, 0, 1,
                  "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803af"
                  "a973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4ead"
                  "b217ad8cc09b");
    free(a);
}

static void
test_binary_data(void **state)
{
    (void)state;
    /* NUL bytes are data, not terminators. */
    unsigned char a[3] = {'a', 0, 'c'};
    unsigned char out1[HASH_MAX_DIGEST], out2[HASH_MAX_DIGEST];
    unsigned n1, n2;
    struct proto_error err;
    assert_int_equal(hash_compute("sha256", a, 3, NULL, 0, 1, out1, &n1, &err),
                     0);
    assert_int_equal(hash_compute("sha256", (const unsigned char *)"a", 1, NULL,
                                  0, 1, out2, &n2, &err),
                     0);
    assert_int_equal(n1, 32);
    assert_memory_not_equal(out1, out2, 32);
}

static void
test_hmac_vectors(void **state)
{
    (void)state;
    unsigned char key20[20];
    memset(key20, 0x0b, sizeof(key20));
    /* RFC 4231 test case 1 */
    expect_digest("sha256", "Hi There", 8, key20, 20, 1,
                  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e"
                  "32cff7");
    /* RFC 4231 test case 2 */
    expect_digest("sha512", "what do ya want for nothing?", 28, "Jefe", 4, 1,
                  "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea"
                  "2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e"
                  "070a38bce737");
    /* RFC 4231 test case 6: a key longer than the block */
    unsigned char key131[131];
    memset(key131, 0xaa, sizeof(key131));
    const char *tc6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    expect_digest("sha256", tc6, strlen(tc6), key131, 131, 1,
                  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0e"
                  "e37f54");
    /* RFC 2202 test case 2 */
    expect_digest("md5", "what do ya want for nothing?", 28, "Jefe", 4, 1,
                  "750c783e6ab0b503eaa86e310a5db738");
    /* An empty key is a key: HMAC, not the plain digest. */
    expect_digest("sha256", "abc", 3, "", 0, 1,
                  "fd7adb152c05ef80dccf50a1fa4c05d5a3ec6da95575fc312ae7c5d091"
                  "836351");
}

static void
test_iterations(void **state)
{
    (void)state;
    /* d2 = H(d1) over the raw digest bytes. */
    expect_digest("sha512", "abc", 3, NULL, 0, 2,
                  "373a9f3a902cf561003b513c94c5164ba4af135cbc4eb4d856b89ea560"
                  "9523f130bbe5e453e6c645b2765a265aaeb1390c82c913130870636cd0"
                  "c8ecf980d851");
    expect_digest("sha256", "abc", 3, NULL, 0, 1000,
                  "fc8a6b86a13f71cd9a67f558ab6fd82a3dd89186163a017ed8051acf6d"
                  "3f8f99");
    /* With a key, every round is an HMAC with that key. */
    expect_digest("sha256", "abc", 3, "key", 3, 3,
                  "3950e733290d5d83935d401a58f2df3ef21c929ae261845b64fea58b5a"
                  "dfd345");
    /* The largest key (4 KiB, hashed first) keyed once for all rounds;
     * the values are Python's hmac applied 3 and 1000 times. */
    unsigned char key4k[4096];
    for (size_t i = 0; i < sizeof(key4k); i++)
        key4k[i] = (unsigned char)(i * 7);
    expect_digest("sha512", "abc", 3, key4k, sizeof(key4k), 3,
                  "4c41f2ff96e1a5ad4f05b7186bae0c79333bc65459b86471c6ae36c6bd"
                  "e7a13a40c4b1b78674bfd639ee009cd34a84d603ccd6de21b2444ffa7d"
                  "22b35917d138");
    expect_digest("sha256", "abc", 3, key4k, sizeof(key4k), 1000,
                  "c03667b69827b67621ce7128ec2c0580bc09ea9a068a360ad07b9d718f"
                  "e29f8e");
}

static void
test_names_any_case(void **state)
{
    (void)state;
    expect_digest("SHA512", ABC,
                  "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b"
                  "55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9a"
                  "c94fa54ca49f");
    expect_digest("Sha-256", ABC,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
                  "0015ad");
    expect_digest("MD5", ABC, "900150983cd24fb0d6963f7d28e17f72");
}

/* Checks that algorithm is refused with UnknownAlgorithm naming it. */
static void
expect_unknown(const char *algorithm)
{
    unsigned char out[HASH_MAX_DIGEST];
    unsigned n = 0;
    struct proto_error err;
    memset(&err, 0, sizeof(err));
    int r = hash_compute(algorithm, (const unsigned char *)"abc", 3, NULL, 0, 1,
                         out, &n, &err);
    if (r != -1)
        print_error("'%s' was accepted\n", algorithm);
    assert_int_equal(r, -1);
    assert_string_equal(err.type, ERROR_UNKNOWN_ALGORITHM);
    if (strstr(err.message, algorithm) == NULL)
        print_error("\"%s\" does not name '%s'\n", err.message, algorithm);
    assert_non_null(strstr(err.message, algorithm));
}

static void
test_unknown_algorithms(void **state)
{
    (void)state;
    expect_unknown("sha999");
    expect_unknown("no-such-digest");
    /* Extendable-output functions have no fixed digest: refused. */
    expect_unknown("shake128");
    expect_unknown("shake256");
    /* A known name still works after refusals (nothing was cached). */
    expect_digest("sha1", ABC, "a9993e364706816aba3e25717850c26c9cd0d89d");
    expect_unknown("sha999");
}

static void
test_cache_many_algorithms(void **state)
{
    (void)state;
    /* More names than the cache holds, twice round, in any case. */
    static const char *const names[] = {
        "sha1",       "sha224",     "sha256",     "sha384",     "sha512",
        "sha512-224", "sha512-256", "sha3-224",   "sha3-256",   "sha3-384",
        "sha3-512",   "md5",        "blake2b512", "blake2s256", "sm3",
        "ripemd160",  "md5-sha1",   "SHA256",     "SHA1",       "MD5",
    };
    static const unsigned sizes[] = {20, 28, 32, 48, 64, 28, 32, 28, 32, 48,
                                     64, 16, 64, 32, 32, 20, 36, 32, 20, 16};
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
            unsigned char out[HASH_MAX_DIGEST];
            unsigned n = 0;
            struct proto_error err;
            int r = hash_compute(names[i], (const unsigned char *)"abc", 3,
                                 NULL, 0, 1, out, &n, &err);
            if (r != 0) {
                /* Some names may be absent from a minimal OpenSSL. */
                assert_string_equal(err.type, ERROR_UNKNOWN_ALGORITHM);
                continue;
            }
            assert_int_equal(n, sizes[i]);
        }
    }
    /* Still right after the cache turned over. */
    expect_digest("sha256", ABC,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
                  "0015ad");
    hash_cleanup();
    expect_digest("sha256", ABC,
                  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f2"
                  "0015ad");
}

static void
test_hex(void **state)
{
    (void)state;
    unsigned char bin[] = {0x00, 0x01, 0xab, 0xcd, 0xef, 0xff, 0x10};
    char hex[2 * sizeof(bin) + 1];
    memset(hex, '#', sizeof(hex));
    hash_hex(hex, bin, sizeof(bin));
    assert_string_equal(hex, "0001abcdefff10");
    hash_hex(hex, bin, 0);
    assert_string_equal(hex, "");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_binary_data),
        cmocka_unit_test(test_hmac_vectors),
        cmocka_unit_test(test_iterations),
        cmocka_unit_test(test_names_any_case),
        cmocka_unit_test(test_unknown_algorithms),
        cmocka_unit_test(test_cache_many_algorithms),
        cmocka_unit_test(test_hex),
    };
    /* The group teardown releases the fetched algorithms for valgrind. */
    return cmocka_run_group_tests(tests, NULL, cleanup);
}
