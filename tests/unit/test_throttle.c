/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/throttle_conf.c: the --rate-limit and
 * --concurrency-limit values, and the task name a held-back check finds
 * in a message's text (the top level only, escapes decoded, large strings
 * skipped), and keys_limit().
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

#include "keys.h"
#include "throttle.h"

static void
test_parse(void **state)
{
    (void)state;
    struct limit_conf c;
    char why[400];
    assert_int_equal(throttle_parse("hash=50/s", 1, &c, why, sizeof(why)),
                     0);
    assert_string_equal(c.name, "hash");
    assert_int_equal(c.queue_scope, 0);
    assert_int_equal(c.rate, 1);
    assert_int_equal(c.n, 50);
    assert_int_equal(c.per_ms, 1000);
    throttle_conf_clear(&c);
    assert_int_equal(
        throttle_parse("queue:fast=1000/m", 1, &c, why, sizeof(why)), 0);
    assert_string_equal(c.name, "fast");
    assert_int_equal(c.queue_scope, 1);
    assert_int_equal(c.per_ms, 60000);
    throttle_conf_clear(&c);
    assert_int_equal(throttle_parse("task:a=b=7/h", 1, &c, why, sizeof(why)),
                     0);
    assert_string_equal(c.name, "a=b");
    assert_int_equal(c.per_ms, 3600000);
    throttle_conf_clear(&c);
    assert_int_equal(throttle_parse("hash=3", 0, &c, why, sizeof(why)), 0);
    assert_int_equal(c.rate, 0);
    assert_int_equal(c.n, 3);
    throttle_conf_clear(&c);

    const char *bad_rate[] = {"hash", "hash=", "=5/s", "hash=0/s",
                              "hash=5", "hash=5/d", "hash=-1/s",
                              "a b=5/s", "queue:=5/s", "hash=5/s ",
                              "hash=99999999999/s", NULL};
    for (int i = 0; bad_rate[i] != NULL; i++) {
        why[0] = '\0';
        assert_int_equal(
            throttle_parse(bad_rate[i], 1, &c, why, sizeof(why)), -1);
        assert_non_null(strstr(why, bad_rate[i]));
        assert_null(c.name);
    }
    const char *bad_conc[] = {"hash=0", "hash=x", "hash=2/s", "hash=1.5",
                              NULL};
    for (int i = 0; bad_conc[i] != NULL; i++)
        assert_int_equal(
            throttle_parse(bad_conc[i], 0, &c, why, sizeof(why)), -1);
}

static int
name_of(const char *msg, char *out, size_t n)
{
    return throttle_task_name(msg, strlen(msg), out, n);
}

static void
test_task_name(void **state)
{
    (void)state;
    char out[201];
    assert_int_equal(name_of("{\"v\":1,\"task\":\"hash\",\"args\":{}}", out,
                             sizeof(out)),
                     1);
    assert_string_equal(out, "hash");
    /* After nested values, strings with quotes and brackets. */
    assert_int_equal(
        name_of(" { \"args\" : {\"task\":\"no\",\"x\":[1,\"]}\\\"\",{}]},"
                " \"n\": -1.5e3, \"b\":true, \"task\" : \"wc\" }",
                out, sizeof(out)),
        1);
    assert_string_equal(out, "wc");
    /* An escaped key or value is decoded. */
    assert_int_equal(name_of("{\"t\\u0061sk\":\"h\\u00e9\"}", out,
                             sizeof(out)),
                     1);
    assert_string_equal(out, "h\xc3\xa9");
    /* None, or not a string, or not an object, or cut off. */
    assert_int_equal(name_of("{\"args\":{\"task\":\"x\"}}", out, sizeof(out)),
                     0);
    assert_int_equal(name_of("{\"task\":5}", out, sizeof(out)), 0);
    assert_int_equal(name_of("{\"task\":\"\"}", out, sizeof(out)), 0);
    assert_int_equal(name_of("[\"task\",\"x\"]", out, sizeof(out)), 0);
    assert_int_equal(name_of("{\"args\":\"unterminated", out, sizeof(out)),
                     0);
    assert_int_equal(name_of("{\"task\":\"a\\u0000b\"}", out, sizeof(out)),
                     0);
    assert_int_equal(name_of("{\"task\":\"toolong\"}", out, 4), 0);

    /* A large payload before the name is skipped. */
    size_t big = 8 << 20;
    char *msg = malloc(big + 64);
    assert_non_null(msg);
    int head = sprintf(msg, "{\"args\":{\"data\":\"");
    memset(msg + head, 'a', big);
    strcpy(msg + head + big, "\"},\"task\":\"hash\"}");
    assert_int_equal(name_of(msg, out, sizeof(out)), 1);
    assert_string_equal(out, "hash");
    free(msg);
}

static void
test_scan(void **state)
{
    (void)state;
    struct throttle_msg m;
    const char *msg = "{\"task\":\"hash\",\"args\":{\"rate_limit\":\"9/s\"},"
                      "\"rate_limit\":\"50/m\",\"concurrency_limit\":3}";
    assert_int_equal(throttle_scan(msg, strlen(msg), &m), 1);
    assert_string_equal(m.task, "hash");
    assert_int_equal(m.rate_n, 50);
    assert_int_equal(m.rate_per_ms, 60000);
    assert_int_equal(m.conc_n, 3);
    const char *bad = "{\"rate_limit\":5,\"concurrency_limit\":1.5,"
                      "\"task\":\"t\"}";
    assert_int_equal(throttle_scan(bad, strlen(bad), &m), 1);
    assert_int_equal(m.rate_n, 0);
    assert_int_equal(m.conc_n, 0);
    const char *big = "{\"task\":\"t\",\"concurrency_limit\":10000000}";
    assert_int_equal(throttle_scan(big, strlen(big), &m), 1);
    assert_int_equal(m.conc_n, 0);
}

static int
check(const char *text)
{
    json_t *root = json_loads(text, 0, NULL);
    assert_non_null(root);
    struct proto_error err;
    int rc = throttle_check_message(root, &err);
    if (rc < 0)
        assert_string_equal(err.type, ERROR_INVALID_MESSAGE);
    json_decref(root);
    return rc;
}

static void
test_check_message(void **state)
{
    (void)state;
    assert_int_equal(check("{}"), 0);
    assert_int_equal(check("{\"rate_limit\":null}"), 0);
    assert_int_equal(check("{\"rate_limit\":\"1/h\"}"), 0);
    assert_int_equal(check("{\"concurrency_limit\":1000000}"), 0);
    assert_int_equal(check("{\"rate_limit\":\"1/d\"}"), -1);
    assert_int_equal(check("{\"rate_limit\":\" 1/s\"}"), -1);
    assert_int_equal(check("{\"rate_limit\":60}"), -1);
    assert_int_equal(check("{\"concurrency_limit\":1000001}"), -1);
    assert_int_equal(check("{\"concurrency_limit\":\"2\"}"), -1);
    assert_int_equal(check("{\"concurrency_limit\":true}"), -1);
}

static void
test_keys(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    assert_int_equal(keys_limit(buf, sizeof(buf), "c:", KEYS_KIND_RATELIMIT,
                                "task", "hash"),
                     0);
    assert_string_equal(buf, "c:ratelimit:task:hash");
    assert_int_equal(keys_limit(buf, sizeof(buf), "c:", KEYS_KIND_CONCLIMIT,
                                "queue", "q"),
                     0);
    assert_string_equal(buf, "c:conclimit:queue:q");
    assert_int_equal(keys_limit(buf, sizeof(buf), "c:", "result", "task",
                                "hash"),
                     -1);
    assert_int_equal(keys_limit(buf, sizeof(buf), "c:", KEYS_KIND_RATELIMIT,
                                "other", "hash"),
                     -1);
    assert_int_equal(keys_limit(buf, sizeof(buf), "c:", KEYS_KIND_RATELIMIT,
                                "task", "a b"),
                     -1);
    assert_int_equal(keys_limit(buf, 10, "c:", KEYS_KIND_RATELIMIT, "task",
                                "hash"),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_task_name),
        cmocka_unit_test(test_scan),
        cmocka_unit_test(test_check_message),
        cmocka_unit_test(test_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
