/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the monitor's arithmetic and screen (producer/snapshot.c,
 * producer/monview.c): rates from two snapshots, the throughput history
 * ring, and a screen that keeps to 80x24 however many queues and workers
 * there are, with control characters escaped.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monview.h"
#include "snapshot.h"

/* A snapshot at time_ms with n queues and n workers. */
static json_t *
doc_with(long long time_ms, int n, long long added, long long done)
{
    json_t *d = json_pack("{s:s, s:s, s:I, s:[], s:[], s:{s:i, s:[]}, s:i}",
                          "redis", "127.0.0.1:6379/0", "prefix", "celeriac:",
                          "time_ms", (json_int_t)time_ms, "queues", "workers",
                          "dead", "length", 0, "last", "scheduled", 0);
    for (int i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof(name), "q%02d", i);
        json_array_append_new(
            json_object_get(d, "queues"),
            json_pack("{s:s, s:I, s:I, s:I, s:i, s:i, s:i}", "name", name,
                      "added", (json_int_t)added, "done", (json_int_t)done,
                      "length", (json_int_t)(added - done), "pending", 0,
                      "lag", 0, "consumers", 1));
        snprintf(name, sizeof(name), "w%02d", i);
        json_array_append_new(
            json_object_get(d, "workers"),
            json_pack("{s:s, s:s, s:b, s:I, s:i, s:i, s:i, s:i}", "name",
                      name, "host", "h", "gone", 0, "processed",
                      (json_int_t)done, "busy", 1, "concurrency", 2,
                      "beat_age_ms", 100, "up_s", 3600));
    }
    return d;
}

static void
test_rates_from_two_snapshots(void **state)
{
    (void)state;
    json_t *a = doc_with(1000, 2, 100, 40);
    json_t *b = doc_with(3000, 2, 130, 60);

    snapshot_rates(a, NULL);
    assert_true(json_is_null(json_object_get(a, "throughput")));
    snapshot_rates(b, a);
    json_t *q = json_array_get(json_object_get(b, "queues"), 0);
    assert_true(json_real_value(json_object_get(q, "rate_in")) == 15.0);
    assert_true(json_real_value(json_object_get(q, "rate_out")) == 10.0);
    json_t *w = json_array_get(json_object_get(b, "workers"), 1);
    assert_true(json_real_value(json_object_get(w, "rate")) == 10.0);
    assert_true(json_real_value(json_object_get(b, "throughput")) == 20.0);

    /* A counter that went back (a worker restarted): no rate, not < 0. */
    json_t *c = doc_with(4000, 2, 10, 5);
    snapshot_rates(c, b);
    q = json_array_get(json_object_get(c, "queues"), 0);
    assert_true(json_is_null(json_object_get(q, "rate_out")));
    json_decref(a);
    json_decref(b);
    json_decref(c);
}

static void
test_history_ring(void **state)
{
    (void)state;
    struct snapshot_history h;
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < SNAPSHOT_HISTORY + 10; i++)
        snapshot_history_push(&h, i);
    assert_int_equal(h.n, SNAPSHOT_HISTORY);
    assert_true(snapshot_history_at(&h, 0) == 10);
    assert_true(snapshot_history_at(&h, SNAPSHOT_HISTORY - 1) ==
                SNAPSHOT_HISTORY + 9);
    json_t *a = snapshot_history_json(&h);
    assert_int_equal(json_array_size(a), SNAPSHOT_HISTORY);
    json_decref(a);
}

/* Counts UTF-8 characters. */
static int
width(const char *s)
{
    int w = 0;
    for (; *s; s++)
        if (((unsigned char)*s & 0xc0) != 0x80)
            w++;
    return w;
}

static void
test_screen_fits_80x24(void **state)
{
    (void)state;
    struct monview v;
    struct snapshot_history h;
    memset(&v, 0, sizeof(v));
    memset(&h, 0, sizeof(h));
    for (int i = 0; i < 500; i++)
        snapshot_history_push(&h, i % 7);

    for (int n = 0; n <= 40; n += 5) {
        json_t *d = doc_with(5000, n, 10, 5);
        json_t *fails = json_array();
        for (int i = 0; i < n / 5; i++)
            json_array_append_new(
                fails, json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "id", "t",
                                 "task", "hash", "queue", "q", "worker", "w",
                                 "attempt", "1", "age_ms", 1000));
        json_object_set_new(d, "failures", fails);
        monview_render(&v, d, &h, NULL, 80, 24, 1, 1);
        assert_true(v.n <= 24);
        for (size_t i = 0; i < v.n; i++)
            assert_true(width(v.line[i]) <= 80);
        if (n >= 10) {
            int cut = 0;
            for (size_t i = 0; i < v.n; i++)
                cut += strstr(v.line[i], "more queues") != NULL ||
                       strstr(v.line[i], "more workers") != NULL;
            assert_int_equal(cut, 2);
        }
        /* No limit (--once): everything. */
        monview_render(&v, d, &h, NULL, 0, 0, 0, 0);
        assert_int_equal(v.n, (size_t)(2 * (n ? n : 1) + 9 +
                                       (n ? n / 5 + 2 : 0)));
        json_decref(d);
    }
    monview_clear(&v);
}

static void
test_names_are_escaped(void **state)
{
    (void)state;
    struct monview v;
    struct snapshot_history h;
    memset(&v, 0, sizeof(v));
    memset(&h, 0, sizeof(h));
    json_t *d = doc_with(5000, 1, 1, 1);
    json_object_set_new(json_array_get(json_object_get(d, "queues"), 0),
                        "name", json_string("bad\033[2J\a"));
    monview_render(&v, d, &h, "err\033[31m", 80, 24, 0, 0);
    for (size_t i = 0; i < v.n; i++)
        for (const char *p = v.line[i]; *p; p++)
            assert_true((unsigned char)*p >= 0x20);
    monview_clear(&v);
    json_decref(d);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rates_from_two_snapshots),
        cmocka_unit_test(test_history_ring),
        cmocka_unit_test(test_screen_fits_80x24),
        cmocka_unit_test(test_names_are_escaped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
