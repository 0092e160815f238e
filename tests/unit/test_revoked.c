/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/revoked.c: the local copy of revoked ids (loading,
 * the count of new ids, bounds, bad ids skipped) and the check of a
 * message by its "id" or by "<queue>/<entry id>", also for a message of
 * megabytes.
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
#include <stdlib.h>
#include <string.h>

#include "revoked.h"

static size_t
load(struct revoked *r, const char *const *ids, size_t n)
{
    size_t lens[16];
    for (size_t i = 0; i < n; i++)
        lens[i] = strlen(ids[i]);
    return revoked_load(r, ids, lens, n);
}

static void
test_empty_checks_nothing(void **state)
{
    (void)state;
    struct revoked r;
    revoked_init(&r);
    assert_int_equal(revoked_has(&r, "x"), 0);
    assert_int_equal(revoked_message(&r, "not even json", 13, "q", "1-1"), 0);
    revoked_clear(&r);
}

static void
test_ids_and_messages(void **state)
{
    (void)state;
    struct revoked r;
    const char *ids[] = {"job-2", "default/5-0", "job-1", "\xc3\xa9t\xc3\xa9"};
    revoked_init(&r);
    load(&r, ids, 4);
    assert_int_equal(r.n, 4);
    assert_int_equal(revoked_has(&r, "job-1"), 1);
    assert_int_equal(revoked_has(&r, "job-3"), 0);
    assert_int_equal(revoked_has(&r, NULL), 0);
    const char *m1 = "{\"task\":\"hash\",\"id\":\"job-2\"}";
    assert_int_equal(revoked_message(&r, m1, strlen(m1), "default", "9-9"), 1);
    const char *m2 = "{\"task\":\"hash\",\"id\":\"job-9\"}";
    assert_int_equal(revoked_message(&r, m2, strlen(m2), "default", "5-0"), 0);
    /* Without an id (or undecodable): "<queue>/<entry id>". */
    const char *m3 = "{\"task\":\"hash\"}";
    assert_int_equal(revoked_message(&r, m3, strlen(m3), "default", "5-0"), 1);
    assert_int_equal(revoked_message(&r, "{bad", 4, "default", "5-0"), 1);
    assert_int_equal(revoked_message(&r, NULL, 0, "default", "5-0"), 1);
    assert_int_equal(revoked_message(&r, m3, strlen(m3), "other", "5-0"), 0);
    /* A reload replaces the copy. */
    load(&r, ids, 1);
    assert_int_equal(r.n, 1);
    assert_int_equal(revoked_has(&r, "job-1"), 0);
    revoked_clear(&r);
    assert_int_equal(r.n, 0);
}

/* A message far over 64 KiB is checked by its own id, which celeriac's
 * builder writes after the payload, and else by "<queue>/<entry id>". */
static void
test_large_message_by_its_id(void **state)
{
    (void)state;
    struct revoked r;
    const char *ids[] = {"big", "q/1-0"};
    size_t n = 4 * 1024 * 1024;
    char *msg = malloc(n + 1);
    assert_non_null(msg);
    int h = snprintf(msg, n + 1, "{\"task\":\"hash\",\"args\":{\"data\":\"");
    memset(msg + h, 'a', n - (size_t)h);
    const char *tail = "\"},\"id\":\"big\"}";
    size_t tl = strlen(tail);
    memcpy(msg + n - tl, tail, tl);
    revoked_init(&r);
    load(&r, ids, 2);
    assert_int_equal(revoked_message(&r, msg, n, "q", "2-0"), 1);
    /* Without an id of its own: by entry id. */
    memcpy(msg + n - tl, "\"},\"xx\":\"big\"}", tl);
    assert_int_equal(revoked_message(&r, msg, n, "q", "2-0"), 0);
    assert_int_equal(revoked_message(&r, msg, n, "q", "1-0"), 1);
    revoked_clear(&r);
    free(msg);
}

/* An id written with escapes is the id it decodes to. */
static void
test_escaped_id(void **state)
{
    (void)state;
    struct revoked r;
    const char *ids[] = {"job/1", "\xc3\xa9t\xc3\xa9"};
    revoked_init(&r);
    load(&r, ids, 2);
    const char *m1 = "{\"id\":\"job\\/1\",\"task\":\"hash\"}";
    assert_int_equal(revoked_message(&r, m1, strlen(m1), "q", "1-0"), 1);
    const char *m2 = "{\"id\":\"\\u00e9t\\u00e9\"}";
    assert_int_equal(revoked_message(&r, m2, strlen(m2), "q", "1-0"), 1);
    revoked_clear(&r);
}

/* A reload says how many ids are new to the copy: the worker looks at
 * the tasks it holds again only then. */
static void
test_load_counts_new_ids(void **state)
{
    (void)state;
    struct revoked r;
    const char *a[] = {"b", "d", "a"};
    const char *same[] = {"d", "a", "b"};
    const char *more[] = {"c", "a", "e", "c", "b"};
    const char *fewer[] = {"e"};
    revoked_init(&r);
    assert_int_equal(load(&r, a, 0), 0);
    assert_int_equal(load(&r, a, 3), 3);
    assert_int_equal(load(&r, same, 3), 0);
    /* c (given twice) and e are new; d lapsed. */
    assert_int_equal(load(&r, more, 5), 2);
    assert_int_equal(revoked_has(&r, "d"), 0);
    assert_int_equal(load(&r, fewer, 1), 0);
    assert_int_equal(load(&r, a, 3), 3);
    assert_int_equal(load(&r, a, 0), 0);
    assert_int_equal(r.n, 0);
    revoked_clear(&r);
}

static void
test_bad_ids_skipped_and_bounded(void **state)
{
    (void)state;
    struct revoked r;
    char longid[300];
    memset(longid, 'x', sizeof(longid) - 1);
    longid[sizeof(longid) - 1] = '\0';
    const char *ids[] = {"", longid, "ok"};
    size_t lens[] = {0, strlen(longid), 2};
    revoked_init(&r);
    revoked_load(&r, ids, lens, 3);
    assert_int_equal(r.n, 1);
    assert_int_equal(revoked_has(&r, "ok"), 1);
    /* A NUL inside an id: skipped. */
    const char *nul[] = {"a\0b"};
    size_t nlen[] = {3};
    revoked_load(&r, nul, nlen, 1);
    assert_int_equal(r.n, 0);
    /* At most REVOKED_MAX kept. */
    size_t many = REVOKED_MAX + 5;
    char(*buf)[16] = malloc(many * sizeof(*buf));
    const char **mids = malloc(many * sizeof(*mids));
    size_t *mlens = malloc(many * sizeof(*mlens));
    assert_true(buf && mids && mlens);
    for (size_t i = 0; i < many; i++) {
        mlens[i] = (size_t)snprintf(buf[i], sizeof(buf[i]), "id%zu", i);
        mids[i] = buf[i];
    }
    revoked_load(&r, mids, mlens, many);
    assert_int_equal(r.n, REVOKED_MAX);
    revoked_clear(&r);
    free(buf);
    free(mids);
    free(mlens);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_checks_nothing),
        cmocka_unit_test(test_ids_and_messages),
        cmocka_unit_test(test_large_message_by_its_id),
        cmocka_unit_test(test_escaped_id),
        cmocka_unit_test(test_load_counts_new_ids),
        cmocka_unit_test(test_bad_ids_skipped_and_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
