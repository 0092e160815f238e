/* SPDX-License-Identifier: MIT */
/* Unit tests of worker/taskscan.c: a message's task name and id without
 * decoding it. */
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

#include "taskscan.h"

static void
scan(const char *msg, char *task, char *id)
{
    taskscan_message(msg, strlen(msg), task, id, 65);
}

static void
test_top_level_only(void **state)
{
    char task[65], id[65];
    (void)state;
    scan("{\"v\":1,\"task\":\"hash\",\"args\":{\"data\":\"x\"}}", task, id);
    assert_string_equal(task, "hash");
    assert_string_equal(id, "");
    /* Nested "task" and "id" keys are not the message's. */
    scan("{\"args\":{\"task\":\"no\",\"id\":\"no\",\"l\":[1,{\"id\":\"x\"}]},"
         " \"id\" : \"a-1\" , \"task\":\"wc\"}",
         task, id);
    assert_string_equal(task, "wc");
    assert_string_equal(id, "a-1");
    /* Braces and quotes inside strings do not count. */
    scan("{\"args\":{\"data\":\"}{\\\"task\\\":\\\"no\\\"\"},\"task\":\"ok\"}",
         task, id);
    assert_string_equal(task, "ok");
}

static void
test_refused_values(void **state)
{
    char task[65], id[65];
    (void)state;
    scan("{\"task\":\"a\\\"b\",\"id\":7}", task, id); /* escaped; a number */
    assert_string_equal(task, "");
    assert_string_equal(id, "");
    char big[200];
    memset(big, 'x', sizeof(big));
    memcpy(big, "{\"task\":\"", 9);
    memcpy(big + 150, "\"}", 3);
    scan(big, task, id); /* longer than the buffer */
    assert_string_equal(task, "");
    scan("[\"task\",\"x\"]", task, id);
    assert_string_equal(task, "");
    scan("{\"task\":\"unterminated", task, id);
    assert_string_equal(task, "");
    scan("", task, id);
    assert_string_equal(task, "");
    taskscan_message("{\"task\":\"hash\"}", 9, task, id, 65); /* cut */
    assert_string_equal(task, "");
}

static void
test_entry_ms(void **state)
{
    (void)state;
    assert_int_equal(taskscan_entry_ms("1700000000123-4"), 1700000000123LL);
    assert_int_equal(taskscan_entry_ms("junk"), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_top_level_only),
        cmocka_unit_test(test_refused_values),
        cmocka_unit_test(test_entry_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
