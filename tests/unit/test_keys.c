/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of protocol/keys.c: every Redis key name with the default and
 * a custom prefix, buffers that are too small, and queue name checks.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <string.h>

#include "keys.h"
#include "version.h"

static void
test_default_prefix(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    const char *p = KEYS_DEFAULT_PREFIX;

    assert_string_equal(p, "celeriac:");
    assert_int_equal(keys_queue(buf, sizeof(buf), p, KEYS_DEFAULT_QUEUE), 0);
    assert_string_equal(buf, "celeriac:queue:default");
    assert_int_equal(keys_result(buf, sizeof(buf), p, "1700000000000-0"), 0);
    assert_string_equal(buf, "celeriac:result:1700000000000-0");
    assert_int_equal(keys_reply(buf, sizeof(buf), p, "abc123"), 0);
    assert_string_equal(buf, "celeriac:reply:abc123");
    assert_int_equal(keys_dead(buf, sizeof(buf), p), 0);
    assert_string_equal(buf, "celeriac:dead");
    assert_int_equal(keys_scheduled(buf, sizeof(buf), p), 0);
    assert_string_equal(buf, "celeriac:scheduled");
    assert_int_equal(keys_workers(buf, sizeof(buf), p), 0);
    assert_string_equal(buf, "celeriac:workers");
    assert_int_equal(keys_worker(buf, sizeof(buf), p, "host:42"), 0);
    assert_string_equal(buf, "celeriac:worker:host:42");
}

static void
test_constants(void **state)
{
    (void)state;
    /* These names are the protocol: PROTOCOL.md spells them. */
    assert_string_equal(KEYS_GROUP, "celeriac");
    assert_string_equal(KEYS_MSG_FIELD, "msg");
    assert_string_equal(KEYS_RESULT_FIELD, "result");
    assert_string_equal(KEYS_DEFAULT_QUEUE, "default");
}

static void
test_custom_prefix(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    assert_int_equal(keys_queue(buf, sizeof(buf), "app1:", "emails"), 0);
    assert_string_equal(buf, "app1:queue:emails");
    assert_int_equal(keys_result(buf, sizeof(buf), "{tenant}:", "x"), 0);
    assert_string_equal(buf, "{tenant}:result:x");
    /* An empty prefix is allowed and used literally. */
    assert_int_equal(keys_result(buf, sizeof(buf), "", "x"), 0);
    assert_string_equal(buf, "result:x");
    assert_int_equal(keys_dead(buf, sizeof(buf), ""), 0);
    assert_string_equal(buf, "dead");
}

static void
test_too_small(void **state)
{
    (void)state;
    char buf[32];
    const char *want = "celeriac:result:abc"; /* 19 bytes + NUL */

    assert_int_equal(keys_result(buf, 20, "celeriac:", "abc"), 0);
    assert_string_equal(buf, want);
    assert_int_equal(keys_result(buf, 19, "celeriac:", "abc"), -1);
    assert_int_equal(keys_result(buf, 1, "celeriac:", "abc"), -1);
    assert_int_equal(keys_dead(buf, 13, "celeriac:"), -1);
    assert_int_equal(keys_dead(buf, 14, "celeriac:"), 0);
}

static void
test_longest_names_fit(void **state)
{
    (void)state;
    /* A maximal id under a long prefix still fits KEYS_MAX. */
    char id[PROTOCOL_MAX_NAME + 1], prefix[101], buf[KEYS_MAX];
    memset(id, 'i', PROTOCOL_MAX_NAME);
    id[PROTOCOL_MAX_NAME] = '\0';
    memset(prefix, 'p', 100);
    prefix[100] = '\0';
    assert_int_equal(keys_result(buf, sizeof(buf), prefix, id), 0);
    assert_int_equal(strlen(buf), 100 + strlen("result:") + PROTOCOL_MAX_NAME);
    assert_int_equal(keys_queue(buf, sizeof(buf), prefix, id), 0);
    assert_int_equal(keys_worker(buf, sizeof(buf), prefix, id), 0);
}

static void
test_valid_name(void **state)
{
    (void)state;
    char name[PROTOCOL_MAX_NAME + 2];

    assert_true(keys_valid_name("default"));
    assert_true(keys_valid_name("high-priority_2.x"));
    assert_true(keys_valid_name("q"));
    assert_true(keys_valid_name("caf\xc3\xa9"));
    memset(name, 'q', PROTOCOL_MAX_NAME);
    name[PROTOCOL_MAX_NAME] = '\0';
    assert_true(keys_valid_name(name));

    name[PROTOCOL_MAX_NAME] = 'q';
    name[PROTOCOL_MAX_NAME + 1] = '\0';
    assert_false(keys_valid_name(name));
    assert_false(keys_valid_name(""));
    assert_false(keys_valid_name("two words"));
    assert_false(keys_valid_name("tab\there"));
    assert_false(keys_valid_name("nl\n"));
    assert_false(keys_valid_name("del\x7f"));
    /* ',' separates names in --queues a,b */
    assert_false(keys_valid_name("a,b"));
}

static void
test_reply_namespace(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    assert_int_equal(keys_reply_prefix(buf, sizeof(buf), "app1:"), 0);
    assert_string_equal(buf, "app1:reply:");
    assert_true(keys_is_reply("celeriac:", "celeriac:reply:x"));
    assert_true(keys_is_reply("app1:", "app1:reply:abc:def"));
    assert_false(keys_is_reply("celeriac:", "celeriac:reply:"));
    assert_false(keys_is_reply("celeriac:", "celeriac:queue:default"));
    assert_false(keys_is_reply("celeriac:", "celeriac:replyx"));
    assert_false(keys_is_reply("celeriac:", "other:reply:x"));
    assert_false(keys_is_reply("app1:", "celeriac:reply:x"));
    assert_false(keys_is_reply("celeriac:", "celeriac:scheduled"));
}

static void
test_task_id(void **state)
{
    (void)state;
    char buf[KEYS_MAX], small[8];
    assert_int_equal(keys_task_id(buf, sizeof(buf), "default",
                                  "1700000000000-7"),
                     0);
    assert_string_equal(buf, "default/1700000000000-7");
    assert_int_equal(keys_task_id(buf, sizeof(buf), "a/b", "5-1"), 0);
    assert_string_equal(buf, "a/b/5-1");
    assert_int_equal(keys_task_id(small, sizeof(small), "default", "5-1"),
                     -1);
    /* The longest queue name and entry id fit, with the longest prefix,
     * in a result key. */
    char q[PROTOCOL_MAX_NAME + 1], pre[KEYS_PREFIX_MAX + 1], id[KEYS_MAX];
    memset(q, 'q', PROTOCOL_MAX_NAME);
    q[PROTOCOL_MAX_NAME] = '\0';
    memset(pre, 'p', KEYS_PREFIX_MAX);
    pre[KEYS_PREFIX_MAX] = '\0';
    assert_int_equal(keys_task_id(id, sizeof(id), q,
                                  "18446744073709551615-18446744073709551615"),
                     0);
    assert_int_equal(keys_result(buf, sizeof(buf), pre, id), 0);
}

static void
test_valid_prefix(void **state)
{
    (void)state;
    char longest[KEYS_PREFIX_MAX + 2];
    assert_true(keys_valid_prefix("celeriac:"));
    assert_true(keys_valid_prefix("a"));
    assert_false(keys_valid_prefix(""));
    assert_false(keys_valid_prefix("with space:"));
    assert_false(keys_valid_prefix("tab\t"));
    assert_false(keys_valid_prefix("caf\xc3\xa9:"));
    assert_false(keys_valid_prefix("del\x7f"));
    memset(longest, 'p', KEYS_PREFIX_MAX);
    longest[KEYS_PREFIX_MAX] = '\0';
    assert_true(keys_valid_prefix(longest));
    longest[KEYS_PREFIX_MAX] = 'p';
    longest[KEYS_PREFIX_MAX + 1] = '\0';
    assert_false(keys_valid_prefix(longest));
}

static void
test_shard_prefix(void **state)
{
    (void)state;
    char b[KEYS_PREFIX_MAX + 8], longest[KEYS_PREFIX_MAX + 1];
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{cq}:", 0), 0);
    assert_string_equal(b, "{cq}:");
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{cq}:", 2), 0);
    assert_string_equal(b, "{cq.2}:");
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "app:{q}x}:", 11), 0);
    assert_string_equal(b, "app:{q.11}x}:");
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "celeriac:", 1), -1);
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{}:", 1), -1);
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{open:", 1), -1);
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{cq}:", -1), -1);
    assert_int_equal(keys_shard_prefix(b, sizeof(b), "{cq}:", KEYS_SHARDS_MAX),
                     -1);
    assert_int_equal(keys_shard_prefix(b, 6, "{cq}:", 2), -1);
    memset(longest, 'p', KEYS_PREFIX_MAX);
    longest[0] = '{', longest[2] = '}';
    longest[KEYS_PREFIX_MAX] = '\0';
    assert_int_equal(keys_shard_prefix(b, sizeof(b), longest, 0), 0);
    assert_int_equal(keys_shard_prefix(b, sizeof(b), longest, 1), -1);
}

static void
test_valid_worker(void **state)
{
    (void)state;
    assert_true(keys_valid_worker("host:42"));
    assert_true(keys_valid_worker("w\xc3\xa9-\xe2\x82\xac-\xf0\x9f\x98\x80"));
    assert_false(keys_valid_worker(""));
    assert_false(keys_valid_worker("a b"));
    assert_false(keys_valid_worker("a,b"));
    assert_false(keys_valid_worker("bell\x07"));
    assert_false(keys_valid_worker("bad\xff"));       /* not UTF-8 */
    assert_false(keys_valid_worker("cut\xc3"));       /* truncated */
    assert_false(keys_valid_worker("over\xc0\xaf"));  /* overlong '/' */
    assert_false(keys_valid_worker("sur\xed\xa0\x80")); /* surrogate */
    assert_false(keys_valid_worker("big\xf4\x90\x80\x80")); /* > U+10FFFF */
}

static void
test_hostsem(void **state)
{
    (void)state;
    char buf[KEYS_MAX], host[KEYS_HOST_MAX + 2];
    const char *p = KEYS_DEFAULT_PREFIX;

    assert_int_equal(keys_hostsem(buf, sizeof(buf), p, "example.org"), 0);
    assert_string_equal(buf, "celeriac:hostsem:example.org");
    assert_int_equal(keys_hostsem(buf, sizeof(buf), "app:", "WWW.Ex-1.ORG"),
                     0);
    assert_string_equal(buf, "app:hostsem:www.ex-1.org");
    assert_int_equal(keys_hostsem(buf, sizeof(buf), p, "198.18.0.1"), 0);
    assert_string_equal(buf, "celeriac:hostsem:198.18.0.1");
    assert_int_equal(keys_hostsem(buf, sizeof(buf), p, "fd00::1"), 0);
    assert_string_equal(buf, "celeriac:hostsem:fd00::1");

    /* Nothing that could name another key, pattern or prefix. */
    static const char *const bad[] = {
        "",  "a b", "a/b", "../queue:default", "host*", "h?st", "[::1]",
        "fe80::1%eth0", "a\nb", "a\r", "x}y", "{x}", "a_b", "caf\xc3\xa9",
        "user@host", "a\\b", "\x7f", "a,b",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        strcpy(buf, "untouched");
        if (keys_hostsem(buf, sizeof(buf), p, bad[i]) != -1)
            fail_msg("host '%s' was accepted", bad[i]);
    }
    /* 255 bytes fit, 256 do not; a small buffer is refused. */
    memset(host, 'a', KEYS_HOST_MAX);
    host[KEYS_HOST_MAX] = '\0';
    assert_int_equal(keys_hostsem(buf, sizeof(buf), p, host), 0);
    host[KEYS_HOST_MAX] = 'a';
    host[KEYS_HOST_MAX + 1] = '\0';
    assert_int_equal(keys_hostsem(buf, sizeof(buf), p, host), -1);
    assert_int_equal(keys_hostsem(buf, 20, p, "example.org"), -1);
    /* The longest prefix and host fit in KEYS_MAX. */
    char prefix[KEYS_PREFIX_MAX + 1];
    memset(prefix, 'p', KEYS_PREFIX_MAX);
    prefix[KEYS_PREFIX_MAX] = '\0';
    host[KEYS_HOST_MAX] = '\0';
    assert_int_equal(keys_hostsem(buf, sizeof(buf), prefix, host), 0);
}

/* The keys of `celeriac beat`. */
static void
test_beat(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    assert_int_equal(keys_beat_lease(buf, sizeof(buf), "celeriac:"), 0);
    assert_string_equal(buf, "celeriac:beat:lease");
    assert_int_equal(keys_beat_token(buf, sizeof(buf), "p:"), 0);
    assert_string_equal(buf, "p:beat:token");
    assert_int_equal(keys_beat_last(buf, sizeof(buf), "celeriac:"), 0);
    assert_string_equal(buf, "celeriac:beat:last");
    assert_int_equal(keys_beat_last(buf, 10, "celeriac:"), -1);
}

static void
test_metrics_queue(void **state)
{
    (void)state;
    char buf[KEYS_MAX];
    assert_int_equal(keys_metrics_queue(buf, sizeof(buf), "celeriac:",
                                        "default"),
                     0);
    assert_string_equal(buf, "celeriac:metrics:default");
    /* A name that is not a queue's names no key. */
    assert_int_equal(keys_metrics_queue(buf, sizeof(buf), "celeriac:", ""),
                     -1);
    assert_int_equal(keys_metrics_queue(buf, sizeof(buf), "celeriac:",
                                        "a b"),
                     -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_prefix),
        cmocka_unit_test(test_constants),
        cmocka_unit_test(test_custom_prefix),
        cmocka_unit_test(test_too_small),
        cmocka_unit_test(test_longest_names_fit),
        cmocka_unit_test(test_valid_name),
        cmocka_unit_test(test_reply_namespace),
        cmocka_unit_test(test_task_id),
        cmocka_unit_test(test_valid_prefix),
        cmocka_unit_test(test_valid_worker),
        cmocka_unit_test(test_hostsem),
        cmocka_unit_test(test_beat),
        cmocka_unit_test(test_metrics_queue),
        cmocka_unit_test(test_shard_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
