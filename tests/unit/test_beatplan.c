/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of common/beatplan.c: which ticks `celeriac beat` fires when
 * it is on time, late within the grace time, and after downtime with each
 * misfire policy, for @every and cron schedules.
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

#include "beatplan.h"
#include "cron.h"

/* 2026-01-01T00:00:00Z */
#define T0 1767225600LL

static void
parse(struct cron *c, const char *spec)
{
    char why[256];
    if (cron_parse(c, spec, why, sizeof(why)) != 0)
        fail_msg("'%s': %s", spec, why);
}

/* Checks p's ticks against want[0..n), then frees them. */
static void
expect(struct beatplan *p, const int64_t *want, size_t n)
{
    if (p->n != n)
        fail_msg("%zu ticks planned, %zu expected (first %lld)", p->n, n,
                 p->n ? (long long)p->ticks[0] : -1LL);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(p->ticks[i], want[i]);
    free(p->ticks);
}

static void
test_on_time(void **state)
{
    (void)state;
    struct cron c;
    struct beatplan p;
    parse(&c, "@every 1s");
    beatplan_due(&c, BEATPLAN_ONCE, 100, 60, 101, 100, &p);
    expect(&p, NULL, 0);
    assert_int_equal(p.next, 101);
    beatplan_due(&c, BEATPLAN_ONCE, 100, 60, 100, 102, &p);
    assert_int_equal(p.next, 103);
    assert_int_equal(p.missed, 0);
    expect(&p, (const int64_t[]){100, 101, 102}, 3);
    beatplan_due(&c, BEATPLAN_SKIP, 100, 60, -1, 102, &p);
    expect(&p, NULL, 0);
}

static void
test_every_after_downtime(void **state)
{
    (void)state;
    struct cron c;
    struct beatplan p;
    int64_t want[16];
    parse(&c, "@every 1s");
    /* Down from 100 to 1000, grace 10: ticks before 990 are missed. */
    beatplan_due(&c, BEATPLAN_ONCE, 100, 10, 100, 1000, &p);
    assert_int_equal(p.missed, 1);
    assert_int_equal(p.edge, 990);
    assert_int_equal(p.next, 1001);
    want[0] = 989;
    for (int i = 0; i <= 10; i++)
        want[1 + i] = 990 + i;
    expect(&p, want, 12);
    beatplan_due(&c, BEATPLAN_SKIP, 100, 10, 100, 1000, &p);
    expect(&p, want + 1, 11);
    beatplan_due(&c, BEATPLAN_ALL, 5, 10, 100, 1000, &p);
    int64_t all[16] = {985, 986, 987, 988, 989};
    memcpy(all + 5, want + 1, 11 * sizeof(int64_t));
    expect(&p, all, 16);
    /* Fewer missed ticks than max_catchup: all of them. */
    beatplan_due(&c, BEATPLAN_ALL, 100, 10, 987, 1000, &p);
    expect(&p, all + 2, 14);
}

static void
test_cron_after_downtime(void **state)
{
    (void)state;
    struct cron c;
    struct beatplan p;
    parse(&c, "*/5 * * * *");
    /* Missed: T0 .. T0+3300 (every 300 s); in grace: T0+3600. */
    beatplan_due(&c, BEATPLAN_ALL, 3, 60, T0, T0 + 3600, &p);
    assert_int_equal(p.next, T0 + 3900);
    expect(&p,
           (const int64_t[]){T0 + 2700, T0 + 3000, T0 + 3300, T0 + 3600}, 4);
    beatplan_due(&c, BEATPLAN_ONCE, 3, 60, T0, T0 + 3600, &p);
    expect(&p, (const int64_t[]){T0 + 3300, T0 + 3600}, 2);
    beatplan_due(&c, BEATPLAN_SKIP, 3, 60, T0, T0 + 3600, &p);
    expect(&p, (const int64_t[]){T0 + 3600}, 1);
    /* Two years down: the catch-up looks back a bounded time only. */
    parse(&c, "* * * * *");
    beatplan_due(&c, BEATPLAN_ALL, 2, 60, T0 - 2 * 366 * 86400LL, T0, &p);
    expect(&p, (const int64_t[]){T0 - 180, T0 - 120, T0 - 60, T0}, 4);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_on_time),
        cmocka_unit_test(test_every_after_downtime),
        cmocka_unit_test(test_cron_after_downtime),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
