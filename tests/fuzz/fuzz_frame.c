/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the parent/child frame decoder (worker/ipc.h).  The
 * input is read as a byte stream the way child_main() and pool_read_cb()
 * read a socket: ipc_frame_peek() at the current offset, and for each whole
 * frame every payload parser (task, result, started) on its payload, which
 * is copied to a heap block of exactly its size so that ASan sees any read
 * past it.  Every pointer and length a parser returns must stay inside the
 * payload, and a parser must refuse exactly the payloads whose lengths do
 * not add up.
 *
 * The same bytes also drive the parent's failure-path text (failure.h): as
 * a consumer name and an error message they must give valid UTF-8 that is
 * a fixed point of failure_text(), and a dead-letter reason that is JSON.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "failure.h"
#include "ipc.h"

/* Stops the run with the reason; libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t fuzz_get32(const unsigned char *p);
static unsigned fuzz_touch(const char *s, size_t n);
static void fuzz_check_span(const unsigned char *base, size_t len,
                            const char *s, size_t n);
static void fuzz_task(const unsigned char *p, size_t len);
static void fuzz_result(const unsigned char *p, size_t len);
static void fuzz_started(const unsigned char *p, size_t len);
static void fuzz_failure(const uint8_t *data, size_t size);

static uint32_t
fuzz_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/*
 * Reads every byte of s[0..n), so that ASan reports a span that is not
 * really inside the buffer.  The sum is returned only to keep the reads.
 */
static unsigned
fuzz_touch(const char *s, size_t n)
{
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += (unsigned char)s[i];
    return sum;
}

/* Checks that s[0..n) lies inside base[0..len), comparing addresses. */
static void
fuzz_check_span(const unsigned char *base, size_t len, const char *s, size_t n)
{
    uintptr_t b = (uintptr_t)base, e = b + len, a = (uintptr_t)s;
    FUZZ_CHECK(s != NULL);
    FUZZ_CHECK(a >= b && a <= e);
    FUZZ_CHECK(n <= e - a);
    (void)fuzz_touch(s, n);
}

/* Parses p[0..len) as a task payload and checks the outcome. */
static void
fuzz_task(const unsigned char *p, size_t len)
{
    struct ipc_task t;
    unsigned char fixed[IPC_TASK_FIXED];

    memset(&t, 0, sizeof(t));
    int r = ipc_task_parse(p, len, &t);
    if (len < IPC_TASK_FIXED) {
        FUZZ_CHECK(r == -1);
        return;
    }
    /* attempts, claim, flags, the five lengths, started, ring */
    uint64_t want = (uint64_t)IPC_TASK_FIXED + fuzz_get32(p + 12) +
                    fuzz_get32(p + 16) + fuzz_get32(p + 20) +
                    fuzz_get32(p + 24) + fuzz_get32(p + 28);
    /* A ring task (IPC_TASK_RING, alone) names its message by offset and
     * length and carries none of it. */
    uint32_t flags = fuzz_get32(p + 8);
    int ring_ok = !(flags & IPC_TASK_RING) ||
                  (flags == IPC_TASK_RING && fuzz_get32(p + 20) == 0 &&
                   fuzz_get32(p + 44) != 0);
    FUZZ_CHECK(r == (want == len && ring_ok ? 0 : -1));
    if (r < 0)
        return;
    if (flags & IPC_TASK_RING) {
        FUZZ_CHECK(t.msg == NULL && t.msg_len == 0 && t.ring_len > 0);
        FUZZ_CHECK(t.ring_off == fuzz_get32(p + 40));
        t.msg = t.queue + t.queue_len; /* for the layout checks below */
    }
    fuzz_check_span(p, len, t.entry_id, t.entry_id_len);
    fuzz_check_span(p, len, t.queue, t.queue_len);
    fuzz_check_span(p, len, t.msg, t.msg_len);
    fuzz_check_span(p, len, t.err_type, t.err_type_len);
    fuzz_check_span(p, len, t.err_msg, t.err_msg_len);
    /* Fields follow one another and fill the payload exactly. */
    FUZZ_CHECK((uintptr_t)t.entry_id == (uintptr_t)p + IPC_TASK_FIXED);
    FUZZ_CHECK((uintptr_t)t.queue == (uintptr_t)t.entry_id + t.entry_id_len);
    FUZZ_CHECK((uintptr_t)t.msg == (uintptr_t)t.queue + t.queue_len);
    FUZZ_CHECK((uintptr_t)t.err_type == (uintptr_t)t.msg + t.msg_len);
    FUZZ_CHECK((uintptr_t)t.err_msg == (uintptr_t)t.err_type + t.err_type_len);
    FUZZ_CHECK((uintptr_t)t.err_msg + t.err_msg_len == (uintptr_t)p + len);
    /* Encoding the parsed fields gives back the same bytes. */
    ipc_task_fixed(fixed, &t);
    FUZZ_CHECK(memcmp(fixed, p, IPC_TASK_FIXED) == 0);
}

/* Parses p[0..len) as a result payload and checks the outcome. */
static void
fuzz_result(const unsigned char *p, size_t len)
{
    struct ipc_result r;
    unsigned char fixed[IPC_RESULT_FIXED];

    memset(&r, 0, sizeof(r));
    int rc = ipc_result_parse(p, len, &r);
    if (len < IPC_RESULT_FIXED) {
        FUZZ_CHECK(rc == -1);
        return;
    }
    /* status, rss_kb, due_hi, due_lo, id_len, reply_to_len, doc_len,
     * sched_len */
    uint32_t status = fuzz_get32(p);
    uint64_t want = (uint64_t)IPC_RESULT_FIXED + fuzz_get32(p + 16) +
                    fuzz_get32(p + 20) + fuzz_get32(p + 24) +
                    fuzz_get32(p + 28);
    int ok = want == len && status <= IPC_STATUS_EXPIRED;
    FUZZ_CHECK(rc == (ok ? 0 : -1));
    if (rc < 0)
        return;
    fuzz_check_span(p, len, r.id, r.id_len);
    fuzz_check_span(p, len, r.reply_to, r.reply_to_len);
    fuzz_check_span(p, len, r.doc, r.doc_len);
    fuzz_check_span(p, len, r.sched, r.sched_len);
    FUZZ_CHECK((uintptr_t)r.id == (uintptr_t)p + IPC_RESULT_FIXED);
    FUZZ_CHECK((uintptr_t)r.reply_to == (uintptr_t)r.id + r.id_len);
    FUZZ_CHECK((uintptr_t)r.doc == (uintptr_t)r.reply_to + r.reply_to_len);
    FUZZ_CHECK((uintptr_t)r.sched == (uintptr_t)r.doc + r.doc_len);
    FUZZ_CHECK((uintptr_t)r.sched + r.sched_len == (uintptr_t)p + len);
    /* Encoding the parsed numbers and lengths gives back the same bytes. */
    ipc_result_fixed(fixed, &r);
    FUZZ_CHECK(memcmp(fixed, p, IPC_RESULT_FIXED) == 0);
}

/*
 * A STARTED payload has no parser of its own: its reader checks the length
 * and calls ipc_started_read(), which must round-trip.
 */
static void
fuzz_started(const unsigned char *p, size_t len)
{
    unsigned char out[IPC_STARTED_LEN];

    if (len != IPC_STARTED_LEN)
        return;
    uint32_t ms = ipc_started_read(p);
    ipc_started_write(out, ms);
    FUZZ_CHECK(memcmp(out, p, IPC_STARTED_LEN) == 0);
}

/* The failure-path text built from arbitrary bytes. */
static void
fuzz_failure(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 1), out[512], again[512];
    FUZZ_CHECK(in != NULL);
    memcpy(in, data, size);
    in[size] = '\0';
    size_t n = failure_text(out, sizeof(out), in);
    FUZZ_CHECK(n < sizeof(out) && out[n] == '\0');
    FUZZ_CHECK(failure_text(again, sizeof(again), out) == n);
    FUZZ_CHECK(memcmp(out, again, n) == 0);
    char *rs = failure_reason_new(in, in, 3, in, in);
    json_error_t jerr;
    json_t *j = json_loads(rs, 0, &jerr);
    FUZZ_CHECK(j != NULL && json_is_object(j));
    json_decref(j);
    free(rs);
    free(in);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_failure(data, size);
    size_t pos = 0;

    while (pos < size) {
        const unsigned char *buf = data + pos;
        size_t avail = size - pos;
        struct ipc_hdr hdr;
        const char *cause = NULL;

        /*
         * Peek first at an exact-size copy of at most a header's bytes: it
         * must read nothing past what it is given.
         */
        size_t hn = avail < IPC_HDR_LEN ? avail : IPC_HDR_LEN;
        unsigned char *head_copy = malloc(hn);
        FUZZ_CHECK(head_copy != NULL);
        if (hn > 0)
            memcpy(head_copy, buf, hn);
        int r0 = ipc_frame_peek(head_copy, hn, &hdr, &cause);
        free(head_copy);
        FUZZ_CHECK(hn == IPC_HDR_LEN || r0 == 0);

        memset(&hdr, 0, sizeof(hdr));
        cause = NULL;
        int r = ipc_frame_peek(buf, avail, &hdr, &cause);
        /* Whether a frame is refused depends on its header alone. */
        if (r0 < 0 || r < 0)
            FUZZ_CHECK(r0 == r);
        FUZZ_CHECK(r >= -1 && r <= 1);
        if (r < 0) {
            FUZZ_CHECK(cause != NULL && cause[0] != '\0');
            FUZZ_CHECK(avail >= IPC_HDR_LEN);
            break;
        }
        if (avail < IPC_HDR_LEN) {
            FUZZ_CHECK(r == 0);
            break;
        }
        /* The header is whole: it must be a valid one. */
        FUZZ_CHECK(hdr.type == fuzz_get32(buf) &&
                   hdr.len == fuzz_get32(buf + 4) &&
                   hdr.version == fuzz_get32(buf + 8) &&
                   hdr.seq == fuzz_get32(buf + 12));
        FUZZ_CHECK(hdr.version == IPC_VERSION);
        FUZZ_CHECK(hdr.type == IPC_TASK || hdr.type == IPC_CHUNK ||
                   hdr.type == IPC_END || hdr.type == IPC_STARTED ||
                   hdr.type == IPC_RESULT);
        FUZZ_CHECK(hdr.len >= IPC_HDR_LEN && hdr.len <= IPC_MAX_FRAME);
        if (r == 0) {
            FUZZ_CHECK(hdr.len > avail);
            break;
        }
        FUZZ_CHECK(hdr.len <= avail);
        /* One byte short of the frame is "need more", never a frame. */
        if (hdr.len > IPC_HDR_LEN) {
            struct ipc_hdr h2;
            const char *c2 = NULL;
            FUZZ_CHECK(ipc_frame_peek(buf, hdr.len - 1, &h2, &c2) == 0);
        }
        /* The header a writer would produce for this frame is the same. */
        size_t plen = hdr.len - IPC_HDR_LEN;
        unsigned char head[IPC_HDR_LEN];
        ipc_hdr_write(head, hdr.type, hdr.seq, plen);
        FUZZ_CHECK(memcmp(head, buf, IPC_HDR_LEN) == 0);

        /*
         * An exact-size copy of the payload.  ASan gives malloc(0) a block
         * of zero usable bytes, so an empty payload is checked too.
         */
        unsigned char *payload = malloc(plen);
        FUZZ_CHECK(payload != NULL);
        if (plen > 0)
            memcpy(payload, buf + IPC_HDR_LEN, plen);
        /* Every parser on every payload: each must cope with any bytes. */
        fuzz_task(payload, plen);
        fuzz_result(payload, plen);
        fuzz_started(payload, plen);
        free(payload);
        pos += hdr.len;
    }
    return 0;
}
