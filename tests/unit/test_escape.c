/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/escape.c: control characters, DEL, C1 controls and
 * invalid UTF-8 become \xNN, valid UTF-8 passes, backslashes are doubled on
 * request, and a full buffer never cuts an escape in two.
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

#include "escape.h"

/* Escapes s[0..n) with flags and compares with want. */
static void
check(const char *s, size_t n, int flags, const char *want)
{
    char out[256];
    size_t used = escape_buf(out, sizeof(out), s, n, flags);
    if (strcmp(out, want) != 0)
        print_error("escape(%zu bytes) = \"%s\", want \"%s\"\n", n, out, want);
    assert_string_equal(out, want);
    assert_int_equal(used, n);
}

#define CHECK(lit, flags, want) check(lit, sizeof(lit) - 1, flags, want)

static void
test_plain_text_unchanged(void **state)
{
    (void)state;
    CHECK("", 0, "");
    CHECK("celeriac:queue:default 1700000000000-0", 0,
          "celeriac:queue:default 1700000000000-0");
    CHECK("~ !\"#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}", ESCAPE_BACKSLASH,
          "~ !\"#$%&'()*+,-./09:;<=>?@AZ[]^_`az{|}");
}

static void
test_controls(void **state)
{
    (void)state;
    CHECK("a\nb", 0, "a\\x0ab");
    CHECK("id\r\n2024-01-01 INFO forged", 0,
          "id\\x0d\\x0a2024-01-01 INFO forged");
    CHECK("\x1b[2J\x1b[H", 0, "\\x1b[2J\\x1b[H");
    CHECK("\t\x7f", 0, "\\x09\\x7f");
    CHECK("a\0b", 0, "a\\x00b");
}

static void
test_backslash(void **state)
{
    (void)state;
    CHECK("a\\x0ab", 0, "a\\x0ab");
    CHECK("a\\x0ab", ESCAPE_BACKSLASH, "a\\\\x0ab");
}

static void
test_utf8(void **state)
{
    (void)state;
    /* valid: é, €, 𝄞, U+10FFFF, U+00A0 */
    CHECK("\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf \xc2\xa0", 0,
          "\xc3\xa9 \xe2\x82\xac \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf \xc2\xa0");
    /* C1 controls: U+009B (CSI), U+0085 (NEL) */
    CHECK("\xc2\x9b"
          "2J\xc2\x85",
          0, "\\xc2\\x9b2J\\xc2\\x85");
    /* invalid: lone continuation, truncated, overlong, surrogate, too big */
    CHECK("\x80", 0, "\\x80");
    CHECK("\xc3", 0, "\\xc3");
    CHECK("\xe2\x82", 0, "\\xe2\\x82");
    CHECK("\xc0\xaf", 0, "\\xc0\\xaf");
    CHECK("\xe0\x80\xaf", 0, "\\xe0\\x80\\xaf");
    CHECK("\xed\xa0\x80", 0, "\\xed\\xa0\\x80");
    CHECK("\xf4\x90\x80\x80", 0, "\\xf4\\x90\\x80\\x80");
    CHECK("\xff\xfe", 0, "\\xff\\xfe");
    /* a bad byte does not swallow the valid one after it */
    CHECK("\xc3\xc3\xa9", 0, "\\xc3\xc3\xa9");
}

/* A full buffer stops before an escape or a UTF-8 character, not inside. */
static void
test_truncation(void **state)
{
    (void)state;
    char out[6];
    size_t used = escape_buf(out, sizeof(out), "ab\ncd", 5, 0);
    assert_string_equal(out, "ab");
    assert_int_equal(used, 2);
    used = escape_buf(out, sizeof(out), "abcd\xe2\x82\xac", 7, 0);
    assert_string_equal(out, "abcd");
    assert_int_equal(used, 4);
    used = escape_buf(out, 1, "x", 1, 0);
    assert_string_equal(out, "");
    assert_int_equal(used, 0);
}

static void
test_dup(void **state)
{
    (void)state;
    char *s = escape_dup("\x1b\\\xff", ESCAPE_BACKSLASH);
    assert_string_equal(s, "\\x1b\\\\\\xff");
    free(s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_text_unchanged),
        cmocka_unit_test(test_controls),
        cmocka_unit_test(test_backslash),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_dup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
