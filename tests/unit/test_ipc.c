/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/ipc.c, the parent/child frames: header round trips,
 * reassembly from a byte stream fed in pieces, refused headers (version,
 * type, length), and task/result/started payloads with lengths that do not
 * add up.
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

#include "ipc.h"

/* ---- helpers ---- */

static void
put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

/*
 * Builds a whole task frame into a new buffer (caller frees); its length
 * goes to *len.
 */
static unsigned char *
task_frame(uint32_t seq, uint32_t attempts, const char *entry,
           const char *queue, const char *msg, size_t *len)
{
    size_t el = strlen(entry), ql = strlen(queue), ml = strlen(msg);
    size_t payload = IPC_TASK_FIXED + el + ql + ml;
    unsigned char *f = malloc(IPC_HDR_LEN + payload);
    assert_non_null(f);
    ipc_hdr_write(f, IPC_TASK, seq, payload);
    struct ipc_task t = {.attempts = attempts,
                         .claim = 0x1235,
                         .entry_id_len = (uint32_t)el,
                         .queue_len = (uint32_t)ql,
                         .msg_len = (uint32_t)ml};
    ipc_task_fixed(f + IPC_HDR_LEN, &t);
    unsigned char *p = f + IPC_HDR_LEN + IPC_TASK_FIXED;
    memcpy(p, entry, el);
    memcpy(p + el, queue, ql);
    memcpy(p + el + ql, msg, ml);
    *len = IPC_HDR_LEN + payload;
    return f;
}

/* Builds a result payload (no header) from r's strings; caller frees. */
static unsigned char *
result_payload(struct ipc_result *r, size_t *len)
{
    r->id_len = (uint32_t)strlen(r->id);
    r->reply_to_len = (uint32_t)strlen(r->reply_to);
    r->doc_len = (uint32_t)strlen(r->doc);
    r->sched_len = (uint32_t)strlen(r->sched);
    *len = IPC_RESULT_FIXED + r->id_len + r->reply_to_len + r->doc_len +
           r->sched_len;
    unsigned char *p = malloc(*len);
    assert_non_null(p);
    ipc_result_fixed(p, r);
    unsigned char *q = p + IPC_RESULT_FIXED;
    memcpy(q, r->id, r->id_len);
    q += r->id_len;
    memcpy(q, r->reply_to, r->reply_to_len);
    q += r->reply_to_len;
    memcpy(q, r->doc, r->doc_len);
    q += r->doc_len;
    memcpy(q, r->sched, r->sched_len);
    return p;
}

/* ---- headers ---- */

static void
test_header_round_trip(void **state)
{
    (void)state;
    unsigned char buf[IPC_HDR_LEN + 5];
    struct ipc_hdr h;
    const char *cause = NULL;

    ipc_hdr_write(buf, IPC_STARTED, 0xdeadbeef, 5);
    memset(buf + IPC_HDR_LEN, 'x', 5);
    assert_int_equal(ipc_frame_peek(buf, sizeof(buf), &h, &cause), 1);
    assert_int_equal(h.type, IPC_STARTED);
    assert_int_equal(h.len, IPC_HDR_LEN + 5);
    assert_int_equal(h.version, IPC_VERSION);
    assert_int_equal(h.seq, 0xdeadbeef);
    assert_null(cause);
}

static void
test_partial_frames(void **state)
{
    (void)state;
    size_t len;
    unsigned char *f = task_frame(7, 1, "1-0", "default", "{\"task\":1}", &len);
    struct ipc_hdr h;
    const char *cause = NULL;
    /* Every prefix short of the whole frame asks for more. */
    for (size_t avail = 0; avail < len; avail++)
        assert_int_equal(ipc_frame_peek(f, avail, &h, &cause), 0);
    assert_int_equal(ipc_frame_peek(f, len, &h, &cause), 1);
    assert_int_equal(h.len, len);
    /* Bytes of the next frame after it do not matter. */
    unsigned char *two = malloc(len * 2);
    assert_non_null(two);
    memcpy(two, f, len);
    memcpy(two + len, f, len);
    assert_int_equal(ipc_frame_peek(two, len * 2, &h, &cause), 1);
    assert_int_equal(h.len, len);
    assert_null(cause);
    free(two);
    free(f);
}

static void
test_stream_reassembly(void **state)
{
    (void)state;
    /* Three frames fed 1, 2, 3, ... bytes at a time come out whole. */
    size_t l1, l2, l3;
    unsigned char *a = task_frame(1, 1, "1-0", "q", "{}", &l1);
    unsigned char *b = task_frame(2, 3, "22-1", "queue", "{\"x\":[1,2]}", &l2);
    unsigned char *c = task_frame(3, 2, "", "", "", &l3);
    size_t total = l1 + l2 + l3;
    unsigned char *stream = malloc(total);
    assert_non_null(stream);
    memcpy(stream, a, l1);
    memcpy(stream + l1, b, l2);
    memcpy(stream + l1 + l2, c, l3);

    unsigned char *buf = malloc(total);
    assert_non_null(buf);
    size_t have = 0, fed = 0, chunk = 1;
    uint32_t seqs[3];
    int nframes = 0;
    while (fed < total || have > 0) {
        size_t n = chunk < total - fed ? chunk : total - fed;
        memcpy(buf + have, stream + fed, n);
        have += n;
        fed += n;
        chunk++;
        struct ipc_hdr h;
        const char *cause = NULL;
        int r;
        while ((r = ipc_frame_peek(buf, have, &h, &cause)) == 1) {
            struct ipc_task t;
            assert_int_equal(h.type, IPC_TASK);
            assert_int_equal(
                ipc_task_parse(buf + IPC_HDR_LEN, h.len - IPC_HDR_LEN, &t), 0);
            assert_true(nframes < 3);
            seqs[nframes++] = h.seq;
            memmove(buf, buf + h.len, have - h.len);
            have -= h.len;
        }
        assert_int_equal(r, 0);
        if (fed == total && have > 0)
            fail_msg("%zu bytes left over", have);
    }
    assert_int_equal(nframes, 3);
    assert_int_equal(seqs[0], 1);
    assert_int_equal(seqs[1], 2);
    assert_int_equal(seqs[2], 3);
    free(buf);
    free(stream);
    free(a);
    free(b);
    free(c);
}

/* Checks that a 16-byte header with these fields is refused. */
static void
expect_refused(uint32_t type, uint32_t len, uint32_t version, const char *why)
{
    unsigned char buf[IPC_HDR_LEN];
    put32(buf, type);
    put32(buf + 4, len);
    put32(buf + 8, version);
    put32(buf + 12, 1);
    struct ipc_hdr h;
    const char *cause = NULL;
    /* Refused from the header alone, before the payload arrives. */
    assert_int_equal(ipc_frame_peek(buf, sizeof(buf), &h, &cause), -1);
    assert_non_null(cause);
    if (strstr(cause, why) == NULL)
        print_error("cause \"%s\" does not say \"%s\"\n", cause, why);
    assert_non_null(strstr(cause, why));
}

static void
test_refused_headers(void **state)
{
    (void)state;
    expect_refused(IPC_TASK, 100, IPC_VERSION + 1, "version");
    expect_refused(IPC_TASK, 100, 0, "version");
    expect_refused(0, 100, IPC_VERSION, "type");
    expect_refused(IPC_END + 1, 100, IPC_VERSION, "type");
    expect_refused(0xffffffff, 100, IPC_VERSION, "type");
    expect_refused(IPC_RESULT, 0, IPC_VERSION, "length");
    expect_refused(IPC_RESULT, IPC_HDR_LEN - 1, IPC_VERSION, "length");
    expect_refused(IPC_TASK, IPC_MAX_FRAME + 1, IPC_VERSION, "length");
    expect_refused(IPC_TASK, 0xffffffff, IPC_VERSION, "length");
}

static void
test_limits(void **state)
{
    (void)state;
    /* The largest frame carries a whole message of the largest size. */
    assert_true(IPC_MAX_FRAME >= IPC_HDR_LEN + IPC_TASK_FIXED +
                                     2 * PROTOCOL_MAX_NAME +
                                     PROTOCOL_MAX_MESSAGE);
    unsigned char buf[IPC_HDR_LEN];
    struct ipc_hdr h;
    const char *cause = NULL;
    ipc_hdr_write(buf, IPC_TASK, 1, IPC_MAX_FRAME - IPC_HDR_LEN);
    assert_int_equal(ipc_frame_peek(buf, sizeof(buf), &h, &cause), 0);
    ipc_hdr_write(buf, IPC_RESULT, 1, 0); /* empty payload: a header */
    assert_int_equal(ipc_frame_peek(buf, sizeof(buf), &h, &cause), 1);
}

/* ---- payloads ---- */

static void
test_task_round_trip(void **state)
{
    (void)state;
    size_t len;
    const char *msg = "{\"task\":\"hash\",\"args\":{\"data\":\"a\\u00e9\"}}";
    unsigned char *f =
        task_frame(9, 4, "1795316242007-0", "celeriac:queue:q", msg, &len);
    struct ipc_task t;
    assert_int_equal(ipc_task_parse(f + IPC_HDR_LEN, len - IPC_HDR_LEN, &t), 0);
    assert_int_equal(t.attempts, 4);
    assert_int_equal(t.entry_id_len, 15);
    assert_memory_equal(t.entry_id, "1795316242007-0", 15);
    assert_int_equal(t.queue_len, strlen("celeriac:queue:q"));
    assert_memory_equal(t.queue, "celeriac:queue:q", t.queue_len);
    assert_int_equal(t.msg_len, strlen(msg));
    assert_memory_equal(t.msg, msg, t.msg_len);
    assert_int_equal(t.claim, 0x1235);
    assert_int_equal(t.flags, 0);
    assert_int_equal(t.err_type_len, 0);
    assert_int_equal(t.err_msg_len, 0);
    free(f);
}

/* A failure to answer: flags, start time and the two error strings. */
static void
test_task_fail_round_trip(void **state)
{
    (void)state;
    static const char entry[] = "5-1", queue[] = "q", msg[] = "{}",
                      type[] = "TimeLimitExceeded", why[] = "killed";
    struct ipc_task in = {.attempts = 2,
                          .claim = 0xfffffffd,
                          .flags = IPC_TASK_FAIL | IPC_TASK_MAY_RETRY,
                          .started_us = 0x123456789abcdefULL,
                          .entry_id_len = 3,
                          .queue_len = 1,
                          .msg_len = 2,
                          .err_type_len = (uint32_t)strlen(type),
                          .err_msg_len = (uint32_t)strlen(why)};
    unsigned char buf[IPC_TASK_FIXED + 64];
    size_t plen = IPC_TASK_FIXED + 3 + 1 + 2 + strlen(type) + strlen(why);
    ipc_task_fixed(buf, &in);
    unsigned char *p = buf + IPC_TASK_FIXED;
    memcpy(p, entry, 3);
    memcpy(p + 3, queue, 1);
    memcpy(p + 4, msg, 2);
    memcpy(p + 6, type, strlen(type));
    memcpy(p + 6 + strlen(type), why, strlen(why));
    struct ipc_task t;
    assert_int_equal(ipc_task_parse(buf, plen, &t), 0);
    assert_int_equal(t.flags, IPC_TASK_FAIL | IPC_TASK_MAY_RETRY);
    assert_int_equal(t.claim, 0xfffffffd);
    assert_true(t.started_us == 0x123456789abcdefULL);
    assert_memory_equal(t.err_type, type, strlen(type));
    assert_int_equal(t.err_type_len, strlen(type));
    assert_memory_equal(t.err_msg, why, strlen(why));
    assert_int_equal(t.err_msg_len, strlen(why));
    assert_memory_equal(t.msg, msg, 2);
    assert_int_equal(ipc_task_parse(buf, plen - 1, &t), -1);
}

static void
test_task_bad_lengths(void **state)
{
    (void)state;
    size_t len;
    unsigned char *f = task_frame(1, 1, "1-0", "default", "{}", &len);
    unsigned char *p = f + IPC_HDR_LEN;
    size_t plen = len - IPC_HDR_LEN;
    struct ipc_task t;

    assert_int_equal(ipc_task_parse(p, plen - 1, &t), -1); /* cut short */
    assert_int_equal(ipc_task_parse(p, IPC_TASK_FIXED - 1, &t), -1);
    assert_int_equal(ipc_task_parse(p, 0, &t), -1);

    unsigned char *big = malloc(plen + 1);
    assert_non_null(big);
    memcpy(big, p, plen);
    big[plen] = 'x';
    assert_int_equal(ipc_task_parse(big, plen + 1, &t), -1); /* extra */

    /* Lengths whose 32-bit sum wraps around to the right total. */
    unsigned char evil[IPC_TASK_FIXED + 4];
    memset(evil, 'e', sizeof(evil));
    memset(evil, 0, IPC_TASK_FIXED);
    put32(evil, 1);
    put32(evil + 12, 0xffffffff);
    put32(evil + 16, 5);
    assert_int_equal(ipc_task_parse(evil, sizeof(evil), &t), -1);
    put32(evil + 12, 0x80000002);
    put32(evil + 16, 0x80000002);
    assert_int_equal(ipc_task_parse(evil, sizeof(evil), &t), -1);
    put32(evil + 12, 0);
    put32(evil + 16, 0);
    put32(evil + 28, 0xfffffffe); /* the error lengths count too */
    put32(evil + 24, 6);
    assert_int_equal(ipc_task_parse(evil, sizeof(evil), &t), -1);
    put32(evil + 28, 4);
    put32(evil + 24, 0);
    assert_int_equal(ipc_task_parse(evil, sizeof(evil), &t), 0);
    free(big);
    free(f);
}

/* IPC_TASK_RING: the message is named, not carried; anything else with
 * it is refused. */
static void
test_task_ring(void **state)
{
    (void)state;
    struct ipc_task in = {.attempts = 2, .claim = 9, .flags = IPC_TASK_RING,
                          .entry_id_len = 3, .queue_len = 1,
                          .ring_off = 4096, .ring_len = 262144};
    unsigned char buf[IPC_TASK_FIXED + 4];
    struct ipc_task t;
    ipc_task_fixed(buf, &in);
    memcpy(buf + IPC_TASK_FIXED, "1-0q", 4);
    assert_int_equal(ipc_task_parse(buf, sizeof(buf), &t), 0);
    assert_int_equal(t.flags, IPC_TASK_RING);
    assert_int_equal(t.ring_off, 4096);
    assert_int_equal(t.ring_len, 262144);
    assert_int_equal(t.msg_len, 0);
    assert_null(t.msg);
    assert_memory_equal(t.entry_id, "1-0", 3);
    assert_memory_equal(t.queue, "q", 1);

    /* No ring length. */
    in.ring_len = 0;
    ipc_task_fixed(buf, &in);
    assert_int_equal(ipc_task_parse(buf, sizeof(buf), &t), -1);
    /* Bytes in the frame as well. */
    in.ring_len = 10;
    in.queue_len = 0;
    in.msg_len = 1;
    ipc_task_fixed(buf, &in);
    assert_int_equal(ipc_task_parse(buf, sizeof(buf), &t), -1);
    /* With another flag. */
    static const uint32_t other[] = {IPC_TASK_FAIL, IPC_TASK_MAY_RETRY,
                                     IPC_TASK_STREAM, IPC_TASK_FD, 32};
    in.queue_len = 1;
    in.msg_len = 0;
    for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
        in.flags = IPC_TASK_RING | other[i];
        ipc_task_fixed(buf, &in);
        assert_int_equal(ipc_task_parse(buf, sizeof(buf), &t), -1);
    }
    /* Without the flag the ring fields are carried but mean nothing. */
    in.flags = 0;
    ipc_task_fixed(buf, &in);
    assert_int_equal(ipc_task_parse(buf, sizeof(buf), &t), 0);
    assert_non_null(t.msg);
}

static void
test_result_round_trip(void **state)
{
    (void)state;
    struct ipc_result r = {
        .status = IPC_STATUS_RETRY,
        .rss_kb = 123456,
        .due_ms = 1795316242007ull, /* past 2^32: both halves carried */
        .id = "task-1",
        .reply_to = "celeriac:reply:x",
        .doc = "{\"status\":\"RETRY\"}",
        .sched = "{\"task\":\"hash\",\"retries\":1}",
    };
    size_t len;
    unsigned char *p = result_payload(&r, &len);
    struct ipc_result got;
    assert_int_equal(ipc_result_parse(p, len, &got), 0);
    assert_int_equal(got.status, IPC_STATUS_RETRY);
    assert_int_equal(got.rss_kb, 123456);
    assert_true(got.due_ms == 1795316242007ull);
    assert_int_equal(got.id_len, 6);
    assert_memory_equal(got.id, "task-1", 6);
    assert_memory_equal(got.reply_to, r.reply_to, got.reply_to_len);
    assert_memory_equal(got.doc, r.doc, got.doc_len);
    assert_memory_equal(got.sched, r.sched, got.sched_len);
    free(p);

    /* Empty reply_to and sched, every status. */
    for (uint32_t s = IPC_STATUS_SUCCESS; s <= IPC_STATUS_EXPIRED; s++) {
        struct ipc_result e = {
            .status = s, .id = "i", .reply_to = "", .doc = "{}", .sched = ""};
        p = result_payload(&e, &len);
        assert_int_equal(ipc_result_parse(p, len, &got), 0);
        assert_int_equal(got.status, s);
        assert_int_equal(got.reply_to_len, 0);
        assert_int_equal(got.sched_len, 0);
        assert_true(got.due_ms == 0);
        free(p);
    }
}

static void
test_result_bad(void **state)
{
    (void)state;
    struct ipc_result r = {.status = IPC_STATUS_SUCCESS,
                           .id = "id",
                           .reply_to = "",
                           .doc = "{}",
                           .sched = ""};
    size_t len;
    unsigned char *p = result_payload(&r, &len);
    struct ipc_result got;
    assert_int_equal(ipc_result_parse(p, len - 1, &got), -1);
    assert_int_equal(ipc_result_parse(p, IPC_RESULT_FIXED - 1, &got), -1);
    free(p);

    /* An unknown status. */
    r.status = IPC_STATUS_EXPIRED + 1;
    p = result_payload(&r, &len);
    assert_int_equal(ipc_result_parse(p, len, &got), -1);
    free(p);

    /* Four lengths whose 32-bit sum wraps. */
    unsigned char evil[IPC_RESULT_FIXED + 8];
    memset(evil, 0, sizeof(evil));
    put32(evil + 16, 0x40000002);
    put32(evil + 20, 0x40000002);
    put32(evil + 24, 0x40000002);
    put32(evil + 28, 0x40000002);
    assert_int_equal(ipc_result_parse(evil, sizeof(evil), &got), -1);
}

static void
test_started(void **state)
{
    (void)state;
    unsigned char p[IPC_STARTED_LEN];
    ipc_started_write(p, 0);
    assert_int_equal(ipc_started_read(p), 0);
    ipc_started_write(p, 200);
    assert_int_equal(ipc_started_read(p), 200);
    ipc_started_write(p, 0xffffffff);
    assert_int_equal(ipc_started_read(p), 0xffffffff);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_round_trip),
        cmocka_unit_test(test_partial_frames),
        cmocka_unit_test(test_stream_reassembly),
        cmocka_unit_test(test_refused_headers),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_task_round_trip),
        cmocka_unit_test(test_task_fail_round_trip),
        cmocka_unit_test(test_task_bad_lengths),
        cmocka_unit_test(test_task_ring),
        cmocka_unit_test(test_result_round_trip),
        cmocka_unit_test(test_result_bad),
        cmocka_unit_test(test_started),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
