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

#include <stdio.h>
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
    scan("{\"task\":\"a\\u0001b\",\"id\":7}", task, id); /* control; a number */
    assert_string_equal(task, "");
    assert_string_equal(id, "");
    scan("{\"task\":\"a\\u0000b\",\"id\":\"\"}", task, id); /* NUL; empty */
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
test_escapes_and_duplicates(void **state)
{
    char task[65], id[65];
    (void)state;
    scan("{\"task\":\"a\\\"b\",\"id\":\"x\\\\\"}", task, id);
    assert_string_equal(task, "a\"b");
    assert_string_equal(id, "x\\");
    scan("{\"id\":\"first\",\"id\":\"second\",\"task\":\"t\"}", task, id);
    assert_string_equal(id, "first");
    /* Escaped quotes and backslash runs inside a skipped value. */
    scan("{\"args\":{\"s\":\"\\\\\\\"}\\\\\"},\"id\":\"ok\"}", task, id);
    assert_string_equal(id, "ok");
}

/* A payload of megabytes is skipped with memchr; a message shaped to
 * cost many steps is given up on, not scanned to its end. */
static void
test_bounded_work(void **state)
{
    char task[65], id[65];
    (void)state;
    size_t n = 8 * 1024 * 1024;
    char *big = malloc(n + 64);
    assert_non_null(big);
    size_t h = (size_t)sprintf(big, "{\"args\":{\"data_b64\":\"");
    memset(big + h, 'Q', n);
    strcpy(big + h + n, "\"},\"id\":\"late\",\"task\":\"hash\"}");
    taskscan_message(big, strlen(big), task, id, 65);
    assert_string_equal(id, "late");
    assert_string_equal(task, "hash");
    /* 100,000 nested arrays before the id: more steps than allowed. */
    size_t depth = 100000, k = 0;
    k += (size_t)sprintf(big, "{\"args\":");
    memset(big + k, '[', depth);
    k += depth;
    memset(big + k, ']', depth);
    k += depth;
    strcpy(big + k, ",\"id\":\"deep\"}");
    taskscan_message(big, strlen(big), task, id, 65);
    assert_string_equal(id, "");
    /* As many tiny strings: the same. */
    k = (size_t)sprintf(big, "{\"args\":[");
    for (size_t i = 0; i < 70000; i++)
        k += (size_t)sprintf(big + k, "\"\",");
    strcpy(big + k, "1],\"id\":\"many\"}");
    taskscan_message(big, strlen(big), task, id, 65);
    assert_string_equal(id, "");
    free(big);
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
        cmocka_unit_test(test_escapes_and_duplicates),
        cmocka_unit_test(test_bounded_work),
        cmocka_unit_test(test_entry_ms),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
