/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/recent.c: the ring of the entries a worker finished
 * last, which keeps a re-read after a reconnect from running a finished
 * task again.
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

#include "recent.h"

static void
test_remembers_by_queue_and_id(void **state)
{
    (void)state;
    struct recent r;
    recent_init(&r, 4);
    assert_false(recent_has(&r, 0, "1-0"));
    recent_add(&r, 0, "1-0");
    recent_add(&r, 1, "1-1");
    assert_true(recent_has(&r, 0, "1-0"));
    assert_true(recent_has(&r, 1, "1-1"));
    assert_false(recent_has(&r, 1, "1-0")); /* another queue */
    assert_false(recent_has(&r, 0, "1-1"));
    assert_false(recent_has(&r, 0, NULL));
    recent_free(&r);
}

static void
test_keeps_the_last_cap(void **state)
{
    (void)state;
    struct recent r;
    char id[32];
    recent_init(&r, 3);
    for (int i = 0; i < 5; i++) {
        snprintf(id, sizeof(id), "%d-0", i);
        recent_add(&r, 0, id);
    }
    assert_false(recent_has(&r, 0, "0-0"));
    assert_false(recent_has(&r, 0, "1-0"));
    assert_true(recent_has(&r, 0, "2-0"));
    assert_true(recent_has(&r, 0, "3-0"));
    assert_true(recent_has(&r, 0, "4-0"));
    recent_free(&r);
}

static void
test_long_id_is_cut_not_overrun(void **state)
{
    (void)state;
    struct recent r;
    char id[SLOT_ENTRY_ID_MAX * 2];
    memset(id, '7', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    recent_init(&r, 1);
    recent_add(&r, 0, id);
    assert_false(recent_has(&r, 0, id)); /* stored cut, so not equal */
    assert_int_equal(strlen(r.id[0]), SLOT_ENTRY_ID_MAX - 1);
    recent_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remembers_by_queue_and_id),
        cmocka_unit_test(test_keeps_the_last_cap),
        cmocka_unit_test(test_long_id_is_cut_not_overrun),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
