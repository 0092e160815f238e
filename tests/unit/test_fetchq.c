/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/fetchq.c (fetch admission: --max-fetches,
 * --per-host, first come first served among hosts with room, the
 * semaphore's "try again at") and worker/source.c (the cheap pre-filter,
 * the URL's host, the decode of a message's source).
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
#include <string.h>

#include "fetchq.h"
#include "source.h"

#define N 8

static void
set_host(struct slot *s, const char *host)
{
    snprintf(s->src_host, sizeof(s->src_host), "%s", host);
}

static void
test_limits_and_order(void **state)
{
    (void)state;
    struct slot s[N];
    struct fetchq q;
    memset(s, 0, sizeof(s));
    fetchq_init(&q, 3, 2);
    const char *hosts[N] = {"a", "a", "a", "b", "a", "c", "b", "c"};
    for (int i = 0; i < N; i++) {
        s[i].index = (uint32_t)i;
        set_host(&s[i], hosts[i]);
        fetchq_push(&q, &s[i]);
    }
    assert_int_equal(q.nwaiting, N);
    /* a, a (per-host 2 reached), then b: the third "a" waits. */
    assert_ptr_equal(fetchq_admit(&q, 0), &s[0]);
    assert_ptr_equal(fetchq_admit(&q, 0), &s[1]);
    assert_ptr_equal(fetchq_admit(&q, 0), &s[3]);
    assert_null(fetchq_admit(&q, 0)); /* max 3 */
    assert_int_equal(fetchq_host_running(&q, "a"), 2);
    assert_int_equal(fetchq_host_running(&q, "b"), 1);
    /* One "a" ends: the oldest waiting "a" goes before the newer c. */
    fetchq_done(&q, &s[0]);
    assert_int_equal(s[0].fetch_admitted, 0);
    assert_ptr_equal(fetchq_admit(&q, 0), &s[2]);
    fetchq_done(&q, &s[0]); /* twice: no effect */
    assert_int_equal(q.running, 3);
    /* "b" ends: a is full, so c (s[5]) is next, not s[4]. */
    fetchq_done(&q, &s[3]);
    assert_ptr_equal(fetchq_admit(&q, 0), &s[5]);
    assert_int_equal(fetchq_host_running(&q, "b"), 0);
    assert_int_equal(q.nwaiting, 3);
    fetchq_free(&q);
}

static void
test_no_limits_and_wait(void **state)
{
    (void)state;
    struct slot s[3];
    struct fetchq q;
    memset(s, 0, sizeof(s));
    fetchq_init(&q, 0, 0);
    for (int i = 0; i < 3; i++) {
        set_host(&s[i], "h");
        fetchq_push(&q, &s[i]);
    }
    s[0].sem_wait_until = 1000; /* told to wait until 1000 */
    assert_ptr_equal(fetchq_admit(&q, 999), &s[1]);
    assert_ptr_equal(fetchq_admit(&q, 999), &s[2]);
    assert_null(fetchq_admit(&q, 999));
    assert_ptr_equal(fetchq_admit(&q, 1000), &s[0]);
    assert_int_equal(fetchq_host_running(&q, "h"), 3);
    /* Taken out of the line without running. */
    struct slot t;
    memset(&t, 0, sizeof(t));
    fetchq_push_front(&q, &t);
    fetchq_remove(&q, &t);
    assert_int_equal(q.nwaiting, 0);
    fetchq_free(&q);
}

static void
test_source_maybe(void **state)
{
    (void)state;
    const char *u = "{\"task\":\"hash\",\"args\":{\"url\":\"http://x/\"}}";
    assert_true(source_maybe(u, strlen(u)));
    const char *pa = "{\"args\":{\"path\":\"a\"}}";
    assert_true(source_maybe(pa, strlen(pa)));
    const char *d = "{\"args\":{\"data\":\"url path\"}}";
    assert_false(source_maybe(d, strlen(d)));
    static char big[SOURCE_DECODE_MAX + 2];
    memset(big, ' ', sizeof(big));
    memcpy(big, u, strlen(u));
    assert_false(source_maybe(big, sizeof(big))); /* over 64 KiB */
}

static void
test_source_url_host(void **state)
{
    (void)state;
    char h[SOURCE_HOST_MAX + 1];
    source_url_host("https://Files.Example.COM:8443/a?b", h, sizeof(h));
    assert_string_equal(h, "files.example.com");
    source_url_host("http://[2001:DB8::1]:80/", h, sizeof(h));
    assert_string_equal(h, "2001:db8::1");
    source_url_host("http://user@host/x", h, sizeof(h));
    assert_string_equal(h, "host");
    source_url_host("http://ho_st/x", h, sizeof(h));
    assert_string_equal(h, ""); /* outside [a-z0-9.:-] */
    source_url_host("no scheme", h, sizeof(h));
    assert_string_equal(h, "");
    source_url_host("http:///x", h, sizeof(h));
    assert_string_equal(h, "");
}

static void
test_source_parse(void **state)
{
    (void)state;
    struct source src;
    struct proto_error err;
    const char *m = "{\"task\":\"hash\",\"args\":{\"url\":\"http://A.b/x\","
                    "\"accept_status\":\"any\"}}";
    assert_int_equal(source_parse(m, strlen(m), &src, &err), 0);
    assert_int_equal(src.kind, SOURCE_URL);
    assert_string_equal(src.url, "http://A.b/x");
    assert_string_equal(src.host, "a.b");
    assert_int_equal(src.accept_any, 1);
    source_clear(&src);

    m = "{\"task\":\"hash\",\"args\":{\"path\":\"d/f\"}}";
    assert_int_equal(source_parse(m, strlen(m), &src, &err), 0);
    assert_int_equal(src.kind, SOURCE_PATH);
    assert_string_equal(src.path, "d/f");
    source_clear(&src);

    m = "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}";
    assert_int_equal(source_parse(m, strlen(m), &src, &err), 0);
    assert_int_equal(src.kind, SOURCE_INLINE);
    source_clear(&src);

    m = "not json \"url\"";
    assert_int_equal(source_parse(m, strlen(m), &src, &err), 0);
    assert_int_equal(src.kind, SOURCE_INLINE); /* the child says why */

    const char *bad[] = {
        "{\"task\":\"hash\",\"args\":{\"url\":1}}",
        "{\"task\":\"hash\",\"args\":{\"path\":[]}}",
        "{\"task\":\"hash\",\"args\":{\"url\":\"http://a/\",\"path\":\"b\"}}",
        "{\"task\":\"hash\",\"args\":{\"url\":\"http://a/\","
        "\"accept_status\":\"2xx\"}}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(source_parse(bad[i], strlen(bad[i]), &src, &err),
                         -1);
        assert_string_equal(err.type, "InvalidArgument");
        assert_null(src.url);
        assert_null(src.path);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits_and_order),
        cmocka_unit_test(test_no_limits_and_wait),
        cmocka_unit_test(test_source_maybe),
        cmocka_unit_test(test_source_url_host),
        cmocka_unit_test(test_source_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
