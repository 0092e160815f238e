/* SPDX-License-Identifier: MIT */
/*
 * Tests of worker/ring.c: the allocation arithmetic (in order, wrap-around,
 * full, reset when empty), and that a child's read-only mapping of a
 * sealed ring cannot be made writable: a write through it faults, and
 * mprotect, a new writable shared mapping, write() and ftruncate on the
 * descriptor are all refused, while the parent's own writes show through.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ring.h"

#define KIB 1024u
#define SZ (64 * KIB)

static void
test_alloc_in_order(void **state)
{
    struct ring r;
    (void)state;
    assert_int_equal(ring_new(&r, SZ), 0);
    /* Empty: from 0. */
    assert_int_equal(ring_alloc(&r, -1, 20 * KIB), 0);
    assert_int_equal(ring_alloc(&r, 0, 20 * KIB), 20 * KIB);
    assert_int_equal(ring_alloc(&r, 0, 20 * KIB), 40 * KIB);
    /* 4 KiB left at the end, none at the front: full for 5 KiB. */
    assert_int_equal(ring_alloc(&r, 0, 5 * KIB), -1);
    assert_int_equal(ring_alloc(&r, 0, 4 * KIB), 60 * KIB);
    assert_int_equal(ring_alloc(&r, 0, 1), -1); /* exactly full */
    /* The first two are done: wraps to the front, up to the oldest. */
    assert_int_equal(ring_alloc(&r, 40 * KIB, 30 * KIB), 0);
    assert_int_equal(ring_alloc(&r, 40 * KIB, 10 * KIB), 30 * KIB);
    assert_int_equal(ring_alloc(&r, 40 * KIB, 1), -1);
    /* The oldest moves on to the wrapped part: [0, 40) in use. */
    assert_int_equal(ring_alloc(&r, 0, 24 * KIB), 40 * KIB);
    /* Nothing in use: starts over at 0 whatever head was. */
    assert_int_equal(ring_alloc(&r, -1, SZ), 0);
    assert_int_equal(ring_alloc(&r, 0, 1), -1);
    /* Too large for the ring, or empty: never. */
    assert_int_equal(ring_alloc(&r, -1, SZ + 1), -1);
    assert_int_equal(ring_alloc(&r, -1, 0), -1);
    ring_free(&r);
    assert_null(r.map);
    assert_int_equal(r.fd, -1);
    /* A ring that could not be made hands out nothing. */
    assert_int_equal(ring_alloc(&r, -1, 1), -1);
}

/* Wrap-around with odd sizes, freed in order: offsets never overlap a
 * live allocation and stay inside the ring. */
static void
test_alloc_wraps_without_overlap(void **state)
{
    struct ring r;
    enum { LIVE = 8 };
    long off[LIVE];
    uint32_t len[LIVE];
    int first = 0, n = 0;
    (void)state;
    assert_int_equal(ring_new(&r, SZ), 0);
    unsigned seed = 7;
    for (int i = 0; i < 20000; i++) {
        seed = seed * 1103515245u + 12345u;
        uint32_t want = 1 + (seed >> 8) % (20 * KIB);
        long oldest = n > 0 ? off[first] : -1;
        long o = ring_alloc(&r, oldest, want);
        if (o < 0 || n == LIVE) {
            /* Full: the oldest finishes. */
            assert_true(n > 0);
            first = (first + 1) % LIVE;
            n--;
            if (o >= 0) { /* had room but no bookkeeping room: undo */
                continue;
            }
            continue;
        }
        assert_true((uint64_t)o + want <= SZ);
        for (int k = 0; k < n; k++) {
            int j = (first + k) % LIVE;
            int apart = (uint64_t)o + want <= (uint64_t)off[j] ||
                        (uint64_t)off[j] + len[j] <= (uint64_t)o;
            assert_true(apart);
        }
        int slot = (first + n) % LIVE;
        off[slot] = o;
        len[slot] = want;
        n++;
    }
    ring_free(&r);
}

/* In a forked process: the child's view of the ring is read-only for
 * good.  Exits 0 when every way to write is refused and the parent's
 * bytes are visible; the final write through the mapping must fault. */
static void
kid_tries_to_write(const struct ring *r)
{
    signal(SIGSEGV, SIG_DFL); /* cmocka's handler would catch the fault */
    if (ring_child_map(r->fd, r->size) < 0)
        _exit(10);
    const unsigned char *p = ring_child_get(0, r->size);
    if (p == NULL || memcmp(p, "parent", 6) != 0)
        _exit(11);
    if (ring_child_get(r->size, 1) != NULL ||
        ring_child_get(1, r->size) != NULL ||
        ring_child_get(0xffffffffu, 2) == p)
        _exit(12);
    if (mprotect((void *)p, r->size, PROT_READ | PROT_WRITE) == 0)
        _exit(13);
    void *w = mmap(NULL, r->size, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
    if (w != MAP_FAILED)
        _exit(14);
    if (pwrite(r->fd, "x", 1, 0) >= 0)
        _exit(15);
    if (ftruncate(r->fd, 0) == 0 || ftruncate(r->fd, 2 * r->size) == 0)
        _exit(16);
    /* The write itself. */
    *(volatile unsigned char *)p = 'X';
    _exit(17); /* not reached: the write faults */
}

static void
test_child_cannot_write(void **state)
{
    struct ring r;
    (void)state;
    assert_int_equal(ring_new(&r, SZ), 0);
    memcpy(r.map, "parent", 6);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        kid_tries_to_write(&r);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st))
        fail_msg("the child exited with %d instead of faulting",
                 WEXITSTATUS(st));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    assert_memory_equal(r.map, "parent", 6);
    /* The parent still writes, and a child sees it. */
    memcpy(r.map + SZ - 4, "tail", 4);
    assert_memory_equal(r.map + SZ - 4, "tail", 4);
    ring_free(&r);
}

/* The parent's writable mapping is not inherited by a fork. */
static void
test_parent_mapping_not_inherited(void **state)
{
    struct ring r;
    (void)state;
    assert_int_equal(ring_new(&r, SZ), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGSEGV, SIG_DFL);
        r.map[0] = 1; /* must fault: not mapped here */
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGSEGV);
    ring_free(&r);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_alloc_in_order),
        cmocka_unit_test(test_alloc_wraps_without_overlap),
        cmocka_unit_test(test_child_cannot_write),
        cmocka_unit_test(test_parent_mapping_not_inherited),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
