/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/slot.c's message buffers: a small message is copied
 * into the slot's kept buffer, a large one is adopted without a copy, and
 * the byte counts per state follow both (run under ASan and valgrind:
 * every buffer handed over is freed exactly once).
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

#include "slot.h"

/* A heap buffer of len bytes of c, NUL-terminated, as hiredis makes one. */
static char *
big(size_t len, char c)
{
    char *b = malloc(len + 1);
    assert_non_null(b);
    memset(b, c, len);
    b[len] = '\0';
    return b;
}

static void
test_adopt_keeps_the_buffer_itself(void **state)
{
    (void)state;
    struct slot_table t;
    slot_table_init(&t, 2);
    struct slot *s = slot_alloc(&t);
    assert_non_null(s);
    size_t n = SLOT_ADOPT_BYTES + 5;
    char *b = big(n, 'a');
    slot_adopt_msg(&t, s, b, n);
    assert_ptr_equal(s->msg, b); /* no copy */
    assert_int_equal(s->msg_len, n);
    assert_int_equal(t.bytes[SLOT_READY], n);
    /* A small message next: copied; the adopted buffer is freed. */
    slot_set_msg(&t, s, "{}", 2);
    assert_string_equal(s->msg, "{}");
    assert_int_equal(t.bytes[SLOT_READY], 2);
    /* Adopted again, then released: freed by the release. */
    slot_adopt_msg(&t, s, big(n, 'b'), n);
    assert_int_equal(t.bytes[SLOT_READY], n);
    slot_release(&t, s);
    assert_int_equal(t.bytes[SLOT_READY], 0);
    assert_int_equal(t.bytes[SLOT_FREE], 0);
    assert_null(s->msg);
    slot_table_free(&t);
}

static void
test_adopted_buffer_freed_with_the_table(void **state)
{
    (void)state;
    struct slot_table t;
    slot_table_init(&t, 1);
    struct slot *s = slot_alloc(&t);
    size_t n = 3 * SLOT_ADOPT_BYTES;
    slot_adopt_msg(&t, s, big(n, 'c'), n);
    slot_table_free(&t); /* valgrind/ASan: nothing leaked */
}

static void
test_small_messages_reuse_the_kept_buffer(void **state)
{
    (void)state;
    struct slot_table t;
    slot_table_init(&t, 1);
    struct slot *s = slot_alloc(&t);
    slot_set_msg(&t, s, "{\"a\":1}", 7);
    char *kept = s->msg;
    slot_release(&t, s);
    s = slot_alloc(&t);
    slot_set_msg(&t, s, "{\"b\":2}", 7);
    assert_ptr_equal(s->msg, kept);
    assert_string_equal(s->msg, "{\"b\":2}");
    slot_release(&t, s);
    slot_table_free(&t);
}

/* The keys a message names are found when it is set, copied or adopted,
 * and forgotten with the next message. */
static void
test_mentions_found_when_set(void **state)
{
    (void)state;
    struct slot_table t;
    slot_table_init(&t, 1);
    struct slot *s = slot_alloc(&t);
    const char *both = "{\"task\":\"hash\",\"rate_limit\":\"5/s\","
                       "\"unique_for\":60}";
    slot_set_msg(&t, s, both, strlen(both));
    assert_int_equal(s->mentions, SLOT_MENTIONS_LIMIT | SLOT_MENTIONS_UNIQUE);
    slot_set_msg(&t, s, "{\"task\":\"hash\"}", 15);
    assert_int_equal(s->mentions, 0);
    /* An adopted payload: the key after it, and one inside it that is no
     * key (an escaped quote ends it). */
    size_t n = SLOT_ADOPT_BYTES + 64;
    char *b = big(n, 'a');
    memcpy(b, "{\"d\":\"x_limit\\\"", 15);
    memcpy(b + n - 17, "\",\"unique_for\":1}", 17);
    slot_adopt_msg(&t, s, b, n);
    assert_int_equal(s->mentions, SLOT_MENTIONS_UNIQUE);
    slot_release(&t, s);
    assert_int_equal(s->mentions, 0); /* none stale for the next task */
    slot_table_free(&t);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_adopt_keeps_the_buffer_itself),
        cmocka_unit_test(test_adopted_buffer_freed_with_the_table),
        cmocka_unit_test(test_small_messages_reuse_the_kept_buffer),
        cmocka_unit_test(test_mentions_found_when_set),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
