/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/cron.c: parsing (fields, names, steps, @ forms,
 * errors), next and last firing times in UTC, the Vixie day rule, and
 * daylight-saving changes in Europe/Berlin and America/New_York.
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
#include <time.h>

#include "cron.h"

/* Unix time of a UTC date and time. */
static int64_t
utc(int y, int mo, int d, int h, int mi)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    return (int64_t)timegm(&tm);
}

static void
parse(struct cron *c, const char *spec, const char *tz)
{
    char why[256] = "";
    if (cron_parse(c, spec, why, sizeof(why)) != 0)
        fail_msg("'%s': %s", spec, why);
    if (tz != NULL && cron_set_tz(c, tz, why, sizeof(why)) != 0)
        fail_msg("'%s': %s", tz, why);
}

static void
test_parse_errors(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "60 * * * *", "* * * *",     "* * * * * *", "* 24 * * *",
        "* * 0 * *",  "* * * 13 *",  "* * * * 8",   "5-2 * * * *",
        "*/0 * * * *", "1- * * * *", "a * * * *",   "* * * foo *",
        "@every 0s",  "@every 5x",   "@every",      "@every 367d",
        "@foo",       "",            "1,,2 * * * *", "*/61 * * * *",
    };
    struct cron c;
    char why[256];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = '\0';
        if (cron_parse(&c, bad[i], why, sizeof(why)) == 0)
            fail_msg("'%s' was accepted", bad[i]);
        assert_true(why[0] != '\0');
    }
    assert_int_equal(cron_parse(&c, "* * * * *", why, sizeof(why)), 0);
    assert_int_equal(cron_set_tz(&c, "Mars/Olympus", why, sizeof(why)), -1);
    assert_non_null(strstr(why, "Mars/Olympus"));
    assert_int_equal(cron_set_tz(&c, "../../etc/passwd", why, sizeof(why)),
                     -1);
    assert_int_equal(cron_set_tz(&c, "UTC", why, sizeof(why)), 0);
}

static void
test_utc_basics(void **state)
{
    (void)state;
    struct cron c;
    parse(&c, "* * * * *", NULL);
    assert_int_equal(cron_next(&c, 0), 60);
    assert_int_equal(cron_next(&c, 59), 60);
    assert_int_equal(cron_next(&c, 60), 120);
    parse(&c, "*/15 * * * *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 7)),
                     utc(2026, 1, 1, 0, 15));
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 45)),
                     utc(2026, 1, 1, 1, 0));
    parse(&c, "10-50/20 3 * * *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 3, 30)),
                     utc(2026, 1, 1, 3, 50));
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 3, 50)),
                     utc(2026, 1, 2, 3, 10));
    parse(&c, "5/20 * * * *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 6)),
                     utc(2026, 1, 1, 0, 25));
    /* Names; 2026-01-01 is a Thursday. */
    parse(&c, "0 12 * JAN-mar mon-fri", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 2, 12, 0)),
                     utc(2026, 1, 5, 12, 0));
    assert_int_equal(cron_next(&c, utc(2026, 3, 31, 12, 0)),
                     utc(2027, 1, 1, 12, 0));
    parse(&c, "0 0 * * 7", NULL); /* Sunday */
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2026, 1, 4, 0, 0));
    parse(&c, "@hourly", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 1)),
                     utc(2026, 1, 1, 1, 0));
    parse(&c, "@yearly", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2027, 1, 1, 0, 0));
    parse(&c, "@monthly", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 31, 0, 0)),
                     utc(2026, 2, 1, 0, 0));
    parse(&c, "@weekly", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2026, 1, 4, 0, 0));
    parse(&c, "0 0 29 2 *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2028, 2, 29, 0, 0));
    parse(&c, "0 0 30 2 *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)), -1);
    assert_int_equal(cron_last(&c, utc(2026, 1, 1, 0, 0)), -1);
}

static void
test_vixie_days(void **state)
{
    (void)state;
    struct cron c;
    /* Both restricted: the 13th OR a Friday (2026-01-02 is a Friday). */
    parse(&c, "0 0 13 * fri", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2026, 1, 2, 0, 0));
    assert_int_equal(cron_next(&c, utc(2026, 1, 9, 0, 0)),
                     utc(2026, 1, 13, 0, 0));
    /* One starred: both must match (the star matches every day). */
    parse(&c, "0 0 13 * *", NULL);
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2026, 1, 13, 0, 0));
    parse(&c, "0 0 */2 * fri", NULL); /* dom starts with '*': AND */
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 0, 0)),
                     utc(2026, 1, 9, 0, 0));
}

static void
test_every(void **state)
{
    (void)state;
    struct cron c;
    parse(&c, "@every 30s", "Europe/Berlin");
    assert_int_equal(cron_next(&c, 100), 120);
    assert_int_equal(cron_next(&c, 120), 150);
    assert_int_equal(cron_last(&c, 149), 120);
    assert_int_equal(cron_last(&c, 150), 150);
    parse(&c, "@every 1s", NULL);
    assert_int_equal(cron_next(&c, 1000), 1001);
    assert_int_equal(cron_last(&c, 1000), 1000);
    parse(&c, "@every   5m", NULL);
    assert_int_equal(cron_next(&c, 1), 300);
    parse(&c, "@every 2d", NULL);
    assert_int_equal(cron_next(&c, 0), 172800);
}

static void
test_last(void **state)
{
    (void)state;
    struct cron c;
    parse(&c, "*/5 * * * *", NULL);
    assert_int_equal(cron_last(&c, utc(2026, 1, 1, 0, 7)),
                     utc(2026, 1, 1, 0, 5));
    assert_int_equal(cron_last(&c, utc(2026, 1, 1, 0, 5)),
                     utc(2026, 1, 1, 0, 5));
    parse(&c, "0 0 1 1 *", NULL);
    assert_int_equal(cron_last(&c, utc(2026, 6, 1, 0, 0)),
                     utc(2026, 1, 1, 0, 0));
}

/*
 * Europe/Berlin 2026: spring forward on 29 March at 01:00 UTC (02:00 CET
 * becomes 03:00 CEST), fall back on 25 October at 01:00 UTC (03:00 CEST
 * becomes 02:00 CET).
 */
static void
test_berlin(void **state)
{
    (void)state;
    struct cron c;
    char buf[64];
    /* Fixed time in the gap: once, at the first instant after it. */
    parse(&c, "30 2 * * *", "Europe/Berlin");
    assert_int_equal(cron_next(&c, utc(2026, 3, 28, 12, 0)),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(cron_next(&c, utc(2026, 3, 29, 1, 0)),
                     utc(2026, 3, 30, 0, 30));
    assert_string_equal(cron_format_local(&c, utc(2026, 3, 29, 1, 0), buf,
                                          sizeof(buf)),
                        "2026-03-29 03:00:00 CEST");
    /* Two fixed times in the gap: still one firing. */
    parse(&c, "0,30 2 * * *", "Europe/Berlin");
    assert_int_equal(cron_next(&c, utc(2026, 3, 29, 0, 30)),
                     utc(2026, 3, 29, 1, 0));
    assert_int_equal(cron_next(&c, utc(2026, 3, 29, 1, 0)),
                     utc(2026, 3, 30, 0, 0));
    /* Wildcard hour: the skipped 02:30 does not fire. */
    parse(&c, "30 * * * *", "Europe/Berlin");
    assert_int_equal(cron_next(&c, utc(2026, 3, 29, 0, 0)),
                     utc(2026, 3, 29, 0, 30));
    assert_int_equal(cron_next(&c, utc(2026, 3, 29, 0, 30)),
                     utc(2026, 3, 29, 1, 30));
    /* Fall back, fixed time: the first 02:30 (CEST) only. */
    parse(&c, "30 2 * * *", "Europe/Berlin");
    assert_int_equal(cron_next(&c, utc(2026, 10, 24, 12, 0)),
                     utc(2026, 10, 25, 0, 30));
    assert_int_equal(cron_next(&c, utc(2026, 10, 25, 0, 30)),
                     utc(2026, 10, 26, 1, 30));
    /* Fall back, wildcard hour: both 02:30s. */
    parse(&c, "30 * * * *", "Europe/Berlin");
    int64_t t = utc(2026, 10, 24, 23, 0);
    static const int hours[] = {23, 0, 1, 2};
    for (size_t i = 0; i < 4; i++) {
        t = cron_next(&c, t);
        assert_int_equal(t, utc(2026, 10, hours[i] == 23 ? 24 : 25, hours[i],
                                30));
    }
    /* Outside the changes, local midnight is 23:00 UTC in winter. */
    parse(&c, "@daily", "Europe/Berlin");
    assert_int_equal(cron_next(&c, utc(2026, 1, 1, 12, 0)),
                     utc(2026, 1, 1, 23, 0));
    assert_int_equal(cron_last(&c, utc(2026, 1, 1, 12, 0)),
                     utc(2025, 12, 31, 23, 0));
}

/*
 * America/New_York 2026: spring forward on 8 March at 07:00 UTC (02:00 EST
 * becomes 03:00 EDT), fall back on 1 November at 06:00 UTC (02:00 EDT
 * becomes 01:00 EST).
 */
static void
test_new_york(void **state)
{
    (void)state;
    struct cron c;
    parse(&c, "0 2 * * *", "America/New_York");
    assert_int_equal(cron_next(&c, utc(2026, 3, 7, 12, 0)),
                     utc(2026, 3, 8, 7, 0));
    assert_int_equal(cron_next(&c, utc(2026, 3, 8, 7, 0)),
                     utc(2026, 3, 9, 6, 0));
    parse(&c, "30 1 * * *", "America/New_York");
    assert_int_equal(cron_next(&c, utc(2026, 10, 31, 12, 0)),
                     utc(2026, 11, 1, 5, 30));
    assert_int_equal(cron_next(&c, utc(2026, 11, 1, 5, 30)),
                     utc(2026, 11, 2, 6, 30));
    /* Wildcard minute: both passes through 01:xx. */
    parse(&c, "*/30 1 * * *", "America/New_York");
    int64_t t = utc(2026, 11, 1, 4, 59);
    static const int mins[][2] = {{5, 0}, {5, 30}, {6, 0}, {6, 30}};
    for (size_t i = 0; i < 4; i++) {
        t = cron_next(&c, t);
        assert_int_equal(t, utc(2026, 11, 1, mins[i][0], mins[i][1]));
    }
    assert_int_equal(cron_next(&c, t), utc(2026, 11, 2, 6, 0));
    /* The zone is switched back and forth between schedules. */
    struct cron u;
    parse(&u, "0 2 * * *", NULL);
    assert_int_equal(cron_next(&u, utc(2026, 3, 7, 12, 0)),
                     utc(2026, 3, 8, 2, 0));
    assert_int_equal(cron_next(&c, utc(2026, 11, 1, 6, 30)),
                     utc(2026, 11, 2, 6, 0));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_errors), cmocka_unit_test(test_utc_basics),
        cmocka_unit_test(test_vixie_days),   cmocka_unit_test(test_every),
        cmocka_unit_test(test_last),         cmocka_unit_test(test_berlin),
        cmocka_unit_test(test_new_york),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
