/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/window.c: the adaptive in-flight window sized from
 * the service time, the Redis round trip and the children busy with a
 * long task; its bounds (the children, --prefetch); how fast it follows
 * a change of the tasks' length.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "window.h"

static void
test_starts_at_one_task_per_child(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 4, 512, 0);
    assert_int_equal(w.size, 4);
    assert_int_equal(window_update(&w, 0), 4);
    /* A bound below the children wins. */
    window_init(&w, 4, 2, 0);
    assert_int_equal(window_update(&w, 0), 2);
}

static void
test_short_tasks_open_it_to_the_bound(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 2, 512, 0);
    for (int i = 0; i < 100; i++)
        window_service(&w, 20);
    /* Slow start: one more task per result so far. */
    assert_int_equal(window_update(&w, 0), 2 + 100);
    for (int i = 0; i < 500; i++)
        window_service(&w, 20);
    assert_int_equal(window_update(&w, 0), 512);
    /* 1 ms tasks: each child keeps the horizon's worth. */
    window_init(&w, 2, 512, 0);
    for (int i = 0; i < 100; i++)
        window_service(&w, 1000);
    assert_int_equal(window_update(&w, 0),
                     2 + 2 * WINDOW_HORIZON_MIN_US / 1000);
}

static void
test_one_slow_first_sample_does_not_hold_it(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 2, 512, 0);
    /* A cold start (13 ms, as measured), then 100 us tasks: averaged
     * alike, the first sample weighs 1/101 after 100 more; weighted
     * 1/WINDOW_GAIN it still held two thirds of the average and the
     * window at 6 tasks. */
    window_service(&w, 13000);
    for (int i = 0; i < 100; i++)
        window_service(&w, 100);
    assert_true(w.svc_us < 250);
    /* Only the slow start (one task a result) bounds it now. */
    assert_int_equal(window_update(&w, 0), 2 + 101);
}

static void
test_long_tasks_close_it_to_the_children(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 2, 512, 0);
    for (int i = 0; i < 1000; i++)
        window_service(&w, 20);
    assert_int_equal(window_update(&w, 0), 512);
    /* One 2 s task is enough: the average jumps (by 2 s / WINDOW_GAIN),
     * the window closes to a few tasks at once. */
    window_service(&w, 2000000);
    assert_true(window_update(&w, 0) <= 8);
    /* And a child busy with it for longer than the horizon needs nothing
     * more than its task. */
    assert_true(window_update(&w, 2) == 2);
    /* Every task long: one per child, none waiting. */
    for (int i = 0; i < 100; i++)
        window_service(&w, 2000000);
    assert_int_equal(window_update(&w, 0), 2);
}

static void
test_children_on_a_long_task_need_no_more(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 4, 100000, 0);
    for (int i = 0; i < 100; i++)
        window_service(&w, 1000);
    unsigned all = window_update(&w, 0);
    unsigned per = (all - 4) / 4;
    /* Counts out of range are clamped. */
    assert_int_equal(window_update(&w, -1), all);
    assert_int_equal(window_update(&w, 1), 4 + 3 * per);
    assert_int_equal(window_update(&w, 4), 4);
    assert_int_equal(window_update(&w, 9), 4);
    /* Shrunk at once; it grows back one task a result. */
    window_service(&w, 1000);
    assert_int_equal(window_update(&w, 0), 5);
}

static void
test_reopens_quickly_after_long_tasks(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 2, 512, 0);
    for (int i = 0; i < 10; i++)
        window_service(&w, 2000000);
    assert_int_equal(window_update(&w, 0), 2);
    /* Short tasks again: the average comes down by 1/WINDOW_GAIN a result
     * (about 2,600 results from 2 s to 80 us, 0.13 s of 50 us tasks)
     * while the slow start adds one task a result. */
    int n = 0;
    while (window_update(&w, 0) < 512 && n < 100000) {
        window_service(&w, 50);
        n++;
    }
    assert_true(n <= 4000);
}

static void
test_round_trip_widens_the_horizon(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 1, 100000, 0);
    assert_int_equal(window_horizon_us(&w), WINDOW_HORIZON_MIN_US);
    /* A remote Redis 50 ms away: 4 round trips of work per child. */
    window_rtt(&w, 50000);
    assert_int_equal(window_horizon_us(&w), WINDOW_RTT_FACTOR * 50000);
    for (int i = 0; i < 100; i++)
        window_service(&w, 10000);
    assert_int_equal(window_update(&w, 0), 1 + WINDOW_RTT_FACTOR * 5);
    /* A read that blocked (10 s) counts as at most twice the average. */
    window_rtt(&w, 10000000);
    assert_true(w.rtt_us <= 50000.0 * (1 + 1.0 / WINDOW_GAIN) + 1);
}

static void
test_fixed_is_always_the_bound(void **state)
{
    (void)state;
    struct window w;
    window_init(&w, 2, 8, 1);
    assert_int_equal(w.size, 8);
    for (int i = 0; i < 10; i++)
        window_service(&w, 2000000);
    assert_int_equal(window_update(&w, 2), 8);
}

static void
test_follows_the_children(void **state)
{
    (void)state;
    struct window w;
    /* One child on long tasks: one task. */
    window_init(&w, 1, 512, 0);
    for (int i = 0; i < 10; i++)
        window_service(&w, 2000000);
    assert_int_equal(window_update(&w, 0), 1);
    /* Grown to 4 (celeriac control grow 3): a task for each child at
     * once, not one more per result as the slow start would give. */
    window_children(&w, 4);
    assert_int_equal(window_update(&w, 0), 4);
    assert_int_equal(window_update(&w, 1), 4);
    /* Shrunk to 1: back to one task. */
    window_children(&w, 1);
    assert_int_equal(window_update(&w, 0), 1);
    /* Out of range: at least one child; never above the bound. */
    window_children(&w, 0);
    assert_int_equal(w.children, 1);
    window_init(&w, 2, 3, 0);
    window_children(&w, 8);
    assert_int_equal(window_update(&w, 0), 3);
    /* Short tasks on the grown pool: it still opens to the bound. */
    window_init(&w, 2, 512, 0);
    window_children(&w, 6);
    for (int i = 0; i < 600; i++)
        window_service(&w, 20);
    assert_int_equal(window_update(&w, 0), 512);
    /* Fixed stays fixed. */
    window_init(&w, 2, 8, 1);
    window_children(&w, 6);
    assert_int_equal(window_update(&w, 0), 8);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_starts_at_one_task_per_child),
        cmocka_unit_test(test_short_tasks_open_it_to_the_bound),
        cmocka_unit_test(test_one_slow_first_sample_does_not_hold_it),
        cmocka_unit_test(test_long_tasks_close_it_to_the_children),
        cmocka_unit_test(test_children_on_a_long_task_need_no_more),
        cmocka_unit_test(test_reopens_quickly_after_long_tasks),
        cmocka_unit_test(test_round_trip_widens_the_horizon),
        cmocka_unit_test(test_fixed_is_always_the_bound),
        cmocka_unit_test(test_follows_the_children),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
