/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/unique.c and keys_unique(): the digest of a lock
 * (the documented bytes, checked against sha256sum), its key name, the
 * checks of the message fields, and the lock a worker finds in a
 * message's text.
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

#include "keys.h"
#include "unique.h"

static void
test_digest(void **state)
{
    (void)state;
    char hex[UNIQUE_HEX_LEN + 1];
    /* printf 'key\nk' | sha256sum */
    assert_int_equal(unique_digest("k", 1, "ignored", NULL, hex), 0);
    assert_string_equal(hex, "7717e69578cd00cb1597b1b1f2ce27d2"
                             "1bb2ff8b382a00048cf24bac09b58278");
    /* Keys sorted, compact, UTF-8 as it is. */
    json_t *args = json_loads("{\"b\": \"\\u00e9\", \"a\": [1, true, null]}",
                              0, NULL);
    assert_non_null(args);
    assert_int_equal(unique_digest(NULL, 0, "hash", args, hex), 0);
    assert_string_equal(hex, "66c7296689a6abc4406eeaecaf6d7f8d"
                             "87fd2d6eb1ea725b89a68231f9cd86d4");
    json_decref(args);
    assert_int_equal(unique_digest(NULL, 0, "hash", NULL, hex), 0);
    assert_string_equal(hex, "ba3017a5f35ceed71842ab04fd853ecf"
                             "c4a3aa522295c2a8883d48471a87629f");
}

static void
test_key_name(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    char hex[UNIQUE_HEX_LEN + 1];
    memset(hex, 'a', UNIQUE_HEX_LEN);
    hex[UNIQUE_HEX_LEN] = '\0';
    assert_int_equal(keys_unique(buf, sizeof(buf), "p:", hex), 0);
    assert_string_equal(buf, "p:unique:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    hex[3] = 'A';
    assert_int_equal(keys_unique(buf, sizeof(buf), "p:", hex), -1);
    hex[3] = ':';
    assert_int_equal(keys_unique(buf, sizeof(buf), "p:", hex), -1);
    assert_int_equal(keys_unique(buf, sizeof(buf), "p:", "abc"), -1);
    assert_int_equal(keys_unique(buf, 20, "p:", "aa"), -1);
}

static int
decode(const char *text, struct unique *u)
{
    json_t *root = json_loads(text, JSON_ALLOW_NUL, NULL);
    assert_non_null(root);
    struct proto_error err;
    int rc = unique_decode(root, strlen(text), u, &err);
    if (rc < 0)
        assert_string_equal(err.type, ERROR_INVALID_MESSAGE);
    json_decref(root);
    return rc;
}

static void
test_decode(void **state)
{
    (void)state;
    struct unique u;
    assert_int_equal(decode("{\"task\":\"t\"}", &u), 0);
    assert_int_equal(u.for_s, 0);
    assert_int_equal(decode("{\"unique_for\":null}", &u), 0);
    assert_int_equal(u.for_s, 0);
    assert_int_equal(decode("{\"unique_for\":30}", &u), 0);
    assert_int_equal(u.for_s, 30);
    assert_null(u.key);
    assert_int_equal(decode("{\"unique_for\":315360000}", &u), 0);
    assert_int_equal(decode("{\"unique_for\":315360001}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":0}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":1.0}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":\"5\"}", &u), -1);
    assert_int_equal(decode("{\"unique_key\":\"k\"}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":5,\"unique_key\":7}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":5,\"unique_key\":\"\"}", &u),
                     -1);
    assert_int_equal(
        decode("{\"unique_for\":5,\"unique_key\":\"a\\u0000b\"}", &u), -1);
    assert_int_equal(decode("{\"unique_for\":5,\"unique_key\":\"ab\"}", &u),
                     0);
    assert_int_equal(u.key_len, 2);
}

static void
test_lock_of(void **state)
{
    (void)state;
    char lock[KEYS_MAX];
    const char *plain = "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}";
    assert_int_equal(unique_lock_of(plain, strlen(plain), "c:", lock,
                                    sizeof(lock)),
                     0);
    const char *bad = "{\"task\":\"hash\",\"unique_for\":\"x\"}";
    assert_int_equal(unique_lock_of(bad, strlen(bad), "c:", lock,
                                    sizeof(lock)),
                     0);
    const char *noargs = "{\"task\":\"hash\",\"unique_for\":9}";
    assert_int_equal(unique_lock_of(noargs, strlen(noargs), "c:", lock,
                                    sizeof(lock)),
                     1);
    assert_string_equal(lock, "c:unique:ba3017a5f35ceed71842ab04fd853ecf"
                              "c4a3aa522295c2a8883d48471a87629f");
    const char *keyed = "{\"unique_key\":\"k\",\"task\":\"t\",\"unique_for\":9}";
    assert_int_equal(unique_lock_of(keyed, strlen(keyed), "c:", lock,
                                    sizeof(lock)),
                     1);
    assert_string_equal(lock, "c:unique:7717e69578cd00cb1597b1b1f2ce27d2"
                              "1bb2ff8b382a00048cf24bac09b58278");

    /* Over UNIQUE_MESSAGE_MAX: keyed only, its arguments never decoded. */
    size_t n = UNIQUE_MESSAGE_MAX + 100;
    char *big = malloc(n + 200);
    assert_non_null(big);
    int head = sprintf(big, "{\"task\":\"t\",\"unique_for\":9,\"args\":{"
                            "\"data\":\"");
    memset(big + head, 'z', n);
    strcpy(big + head + n, "\"},\"unique_key\":\"k\"}");
    assert_int_equal(unique_lock_of(big, strlen(big), "c:", lock,
                                    sizeof(lock)),
                     1);
    assert_string_equal(lock, "c:unique:7717e69578cd00cb1597b1b1f2ce27d2"
                              "1bb2ff8b382a00048cf24bac09b58278");
    strcpy(big + head + n, "\"}}");
    assert_int_equal(unique_lock_of(big, strlen(big), "c:", lock,
                                    sizeof(lock)),
                     0);
    free(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest),
        cmocka_unit_test(test_key_name),
        cmocka_unit_test(test_decode),
        cmocka_unit_test(test_lock_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
