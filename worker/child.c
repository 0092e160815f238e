/* SPDX-License-Identifier: MIT */
/*
 * The child's read -> compute -> write loop.  Results are buffered and
 * written together when no further task is already waiting, so a burst of
 * small tasks costs one write, while a long task's result is sent at once.
 */
#include "child.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "hash.h"
#include "ipc.h"
#include "log.h"
#include "xmalloc.h"

/* Flush buffered results at this size, or after a task this slow. */
#define CHILD_FLUSH_BYTES (64 * 1024)
#define CHILD_FLUSH_AFTER_NS (200 * 1000)
#define CHILD_INBUF_MIN (256 * 1024)

/* A growable byte buffer; data is owned. */
struct child_buf {
    unsigned char *data;
    size_t len; /* bytes in use */
    size_t cap;
};

static void child_buf_reserve(struct child_buf *b, size_t need);
static int child_flush(int fd, struct child_buf *out);
static void child_run_frame(const struct ipc_hdr *hdr,
                            const unsigned char *payload, const char *worker,
                            struct child_buf *out);
static long long child_now_ns(void);

static void
child_buf_reserve(struct child_buf *b, size_t need)
{
    if (b->cap - b->len >= need)
        return;
    size_t cap = b->cap ? b->cap : CHILD_INBUF_MIN;
    while (cap - b->len < need)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static long long
child_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Writes out all of out; returns 0 or -1 if the parent is gone. */
static int
child_flush(int fd, struct child_buf *out)
{
    size_t off = 0;
    while (off < out->len) {
        ssize_t n = write(fd, out->data + off, out->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("%s: write to parent", __func__);
            return -1;
        }
        off += (size_t)n;
    }
    out->len = 0;
    return 0;
}

/* Runs one task frame and appends its result frame to out. */
static void
child_run_frame(const struct ipc_hdr *hdr, const unsigned char *payload,
                const char *worker, struct child_buf *out)
{
    struct ipc_task t;
    struct exec_out r;
    size_t plen = hdr->len - IPC_HDR_LEN;

    if (hdr->type != IPC_TASK || ipc_task_parse(payload, plen, &t) < 0) {
        /* The parent and child are the same binary: this is a bug. */
        fatalx("%s: malformed frame from parent (type %u, %zu bytes)",
               __func__, hdr->type, plen);
    }
    char entry_id[64];
    snprintf(entry_id, sizeof(entry_id), "%.*s", (int)t.entry_id_len,
             t.entry_id);
    exec_run(entry_id, t.msg, t.msg_len, t.attempts, worker, &r);

    size_t id_len = strlen(r.id);
    size_t rt_len = r.reply_to ? strlen(r.reply_to) : 0;
    size_t payload_len = IPC_RESULT_FIXED + id_len + rt_len + r.doc_len;
    child_buf_reserve(out, IPC_HDR_LEN + payload_len);
    unsigned char *p = out->data + out->len;
    ipc_hdr_write(p, IPC_RESULT, hdr->seq, payload_len);
    p += IPC_HDR_LEN;
    ipc_result_fixed(p, r.success ? IPC_STATUS_SUCCESS : IPC_STATUS_FAILURE,
                     (uint32_t)id_len, (uint32_t)rt_len, (uint32_t)r.doc_len);
    p += IPC_RESULT_FIXED;
    memcpy(p, r.id, id_len);
    p += id_len;
    if (rt_len)
        memcpy(p, r.reply_to, rt_len);
    p += rt_len;
    memcpy(p, r.doc, r.doc_len);
    out->len += IPC_HDR_LEN + payload_len;
    exec_out_clear(&r);
}

int
child_main(int fd, const char *worker)
{
    struct child_buf in = {0}, out = {0};
    size_t rpos = 0; /* start of unprocessed input */
    int status = 1;

    child_buf_reserve(&in, CHILD_INBUF_MIN);
    for (;;) {
        struct ipc_hdr hdr;
        const char *cause;
        int r = ipc_frame_peek(in.data + rpos, in.len - rpos, &hdr, &cause);
        if (r < 0) {
            log_warnx("%s: bad frame from parent: %s", __func__, cause);
            goto done;
        }
        if (r == 1) {
            long long t0 = child_now_ns();
            child_run_frame(&hdr, in.data + rpos + IPC_HDR_LEN, worker, &out);
            rpos += hdr.len;
            if (out.len >= CHILD_FLUSH_BYTES ||
                child_now_ns() - t0 >= CHILD_FLUSH_AFTER_NS) {
                if (child_flush(fd, &out) < 0)
                    goto done;
            }
            continue;
        }
        /* Need more input: keep the partial frame, make room for all of it. */
        if (rpos > 0) {
            memmove(in.data, in.data + rpos, in.len - rpos);
            in.len -= rpos;
            rpos = 0;
        }
        if (in.len == 0 && in.cap > 4 * CHILD_INBUF_MIN) {
            free(in.data); /* give back memory after a huge task */
            in.data = NULL;
            in.cap = 0;
            child_buf_reserve(&in, CHILD_INBUF_MIN);
        }
        size_t want = in.len >= IPC_HDR_LEN ? hdr.len - in.len : 0;
        child_buf_reserve(&in, want > 65536 ? want : 65536);
        /* Take what is already there without blocking; flush before we wait. */
        ssize_t n = recv(fd, in.data + in.len, in.cap - in.len, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (child_flush(fd, &out) < 0)
                goto done;
            n = read(fd, in.data + in.len, in.cap - in.len);
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_warn("%s: read from parent", __func__);
            goto done;
        }
        if (n == 0) { /* the parent closed: we are done */
            status = child_flush(fd, &out) < 0 ? 1 : 0;
            goto done;
        }
        in.len += (size_t)n;
    }
done:
    free(in.data);
    free(out.data);
    hash_cleanup();
    return status;
}
