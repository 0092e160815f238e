/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/priority.c: --priority values, the strict order,
 * the weighted round robin's shares and spread, and queues found empty.
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

#include "priority.h"

static char q_high[] = "high", q_default[] = "default", q_low[] = "low";
static char *queues[] = {q_high, q_default, q_low};

static void
test_parse(void **state)
{
    (void)state;
    struct priority p;
    char why[400];
    assert_int_equal(priority_parse(&p, NULL, queues, 3, why, sizeof(why)),
                     0);
    assert_int_equal(p.mode, PRIORITY_ALL);
    priority_free(&p);
    assert_int_equal(
        priority_parse(&p, "strict", queues, 3, why, sizeof(why)), 0);
    assert_int_equal(p.mode, PRIORITY_STRICT);
    priority_free(&p);
    assert_int_equal(
        priority_parse(&p, "high:6,low:2", queues, 3, why, sizeof(why)), 0);
    assert_int_equal(p.mode, PRIORITY_WEIGHTED);
    assert_int_equal(p.weight[0], 6);
    assert_int_equal(p.weight[1], 1);
    assert_int_equal(p.weight[2], 2);
    priority_free(&p);
    const char *bad[] = {"loose", "high", "high:0", "high:1001", "x:2",
                         "high:2x", "high:", NULL};
    for (int i = 0; bad[i] != NULL; i++)
        assert_int_equal(
            priority_parse(&p, bad[i], queues, 3, why, sizeof(why)), -1);
}

static void
test_strict(void **state)
{
    (void)state;
    struct priority p;
    char why[64];
    assert_int_equal(
        priority_parse(&p, "strict", queues, 3, why, sizeof(why)), 0);
    assert_int_equal(priority_next(&p), 0);
    priority_result(&p, 0, 5);
    assert_int_equal(priority_next(&p), 0);
    priority_result(&p, 0, 0);
    assert_int_equal(priority_next(&p), 1);
    priority_result(&p, 1, 0);
    assert_int_equal(priority_next(&p), 2);
    priority_result(&p, 2, 0);
    assert_int_equal(priority_next(&p), -1);
    priority_reset(&p);
    assert_int_equal(priority_next(&p), 0);
    priority_result(&p, 0, 0);
    assert_int_equal(priority_next(&p), 1);
    priority_result(&p, 1, 3); /* entries: the first queue again */
    assert_int_equal(priority_next(&p), 0);
    priority_free(&p);
}

static void
test_weighted(void **state)
{
    (void)state;
    struct priority p;
    char why[64];
    int count[3] = {0, 0, 0};
    assert_int_equal(priority_parse(&p, "high:6,default:3,low:1", queues, 3,
                                    why, sizeof(why)),
                     0);
    /* Every window of 10 picks has exactly the weights. */
    for (int round = 0; round < 10; round++) {
        int w[3] = {0, 0, 0};
        for (int i = 0; i < 10; i++) {
            int q = priority_next(&p);
            assert_true(q >= 0 && q < 3);
            priority_result(&p, q, 1);
            w[q]++;
            count[q]++;
        }
        assert_int_equal(w[0], 6);
        assert_int_equal(w[1], 3);
        assert_int_equal(w[2], 1);
    }
    /* A queue found empty is skipped until entries come again. */
    priority_result(&p, 0, 0);
    for (int i = 0; i < 8; i++) {
        int q = priority_next(&p);
        assert_int_not_equal(q, 0);
        priority_result(&p, q, 0);
        if (priority_next(&p) == -1)
            break;
    }
    priority_free(&p);
}

/* Shares are of tasks, whatever each read brings: the low queue's reads
 * bring 10 tasks each, the others' one. */
static void
test_weighted_by_tasks(void **state)
{
    (void)state;
    struct priority p;
    char why[64];
    unsigned long tasks[3] = {0, 0, 0}, size[3] = {1, 1, 10};
    assert_int_equal(priority_parse(&p, "high:6,default:3,low:1", queues, 3,
                                    why, sizeof(why)),
                     0);
    for (int i = 0; i < 1000; i++) {
        int q = priority_next(&p);
        assert_true(q >= 0 && q < 3);
        priority_result(&p, q, size[q]);
        tasks[q] += size[q];
    }
    double all = (double)(tasks[0] + tasks[1] + tasks[2]);
    assert_true(tasks[0] / all > 0.58 && tasks[0] / all < 0.62);
    assert_true(tasks[1] / all > 0.28 && tasks[1] / all < 0.32);
    assert_true(tasks[2] / all > 0.08 && tasks[2] / all < 0.12);
    /* A queue that was empty for a while comes back level, not ahead:
     * it does not take every read until it has caught up. */
    for (int i = 0; i < 3000; i++) {
        int q = priority_next(&p);
        assert_true(q >= 0 && q < 3);
        priority_result(&p, q, q == 2 ? 0 : 1); /* low is empty */
    }
    memset(tasks, 0, sizeof(tasks));
    for (int i = 0; i < 100; i++) {
        int q = priority_next(&p);
        priority_result(&p, q, size[q]);
        tasks[q] += size[q];
    }
    all = (double)(tasks[0] + tasks[1] + tasks[2]);
    assert_true(tasks[2] / all < 0.2);
    priority_free(&p);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_strict),
        cmocka_unit_test(test_weighted),
        cmocka_unit_test(test_weighted_by_tasks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
