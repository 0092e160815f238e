/* SPDX-License-Identifier: MIT */
/*
 * The child's read -> compute -> write loop.  Results are buffered and
 * written together before the last task already received runs, so a burst
 * of small tasks costs one or two writes, while a long task's result is
 * sent at once and no result waits for a task that runs long.
 *
 * Beside the ordinary tasks, run one at a time, the child holds a table of
 * open streamed tasks (IPC_TASK_STREAM, keyed by seq): each IPC_CHUNK goes
 * to its task's update as it arrives, IPC_END ends it, and their results
 * go out in whatever order they finish.  A file task (IPC_TASK_FD) takes
 * its descriptor from the channel on fd IPC_FD_CHANNEL and reads the file
 * in CHILD_READ_CHUNK pieces.
 */
#include "child.h"

#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "claim.h"
#include "exec.h"
#include "hash.h"
#include "ipc.h"
#include "log.h"
#include "ring.h"
#include "sandbox.h"
#include "xmalloc.h"

/* Flush buffered results at this size, or after a task this slow. */
#define CHILD_FLUSH_BYTES (64 * 1024)
#define CHILD_FLUSH_AFTER_NS (200 * 1000)
#define CHILD_INBUF_MIN (256 * 1024)
/* A file is read this much at a time. */
#define CHILD_READ_CHUNK (1024 * 1024)
/* More open streams than this is a parent bug: the child gives up (the
 * parent bounds them by --max-fetches, far lower). */
#define CHILD_MAX_STREAMS 4096

/* An open streamed task. */
struct child_stream {
    uint32_t seq;
    struct exec_stream *run; /* owned */
};

/* A growable byte buffer; data is owned. */
struct child_buf {
    unsigned char *data;
    size_t len; /* bytes in use */
    size_t cap;
};

/* The child's state: what the STARTED callback needs. */
struct child {
    int fd;
    struct child_buf out; /* results not yet written */
    uint32_t seq;         /* the task being run */
    int broken;           /* writing to the parent failed */
    struct child_stream *streams; /* open streamed tasks; owned */
    size_t nstreams, cap_streams;
    unsigned char *readbuf; /* CHILD_READ_CHUNK bytes for files; owned */
};

static void child_buf_reserve(struct child_buf *b, size_t need);
static int child_flush(int fd, struct child_buf *out);
static void child_started(void *arg, unsigned time_limit_ms);
static void child_run_frame(struct child *c, const struct ipc_hdr *hdr,
                            const unsigned char *payload,
                            const struct exec_env *env);
static void child_put_result(struct child *c, uint32_t seq,
                             const struct exec_env *env,
                             struct exec_out *r);
static struct child_stream *child_stream_find(struct child *c,
                                              uint32_t seq);
static void child_stream_drop(struct child *c, struct child_stream *cs);
static void child_stream_open(struct child *c, uint32_t seq,
                              const struct ipc_task *t, const char *entry_id,
                              const char *queue, const struct exec_env *env);
static void child_stream_frame(struct child *c, const struct ipc_hdr *hdr,
                               const unsigned char *payload,
                               const struct exec_env *env);
static void child_run_file(struct child *c, uint32_t seq,
                           const struct ipc_task *t, const char *entry_id,
                           const char *queue, const struct exec_env *env,
                           struct exec_out *r);
static long long child_now_ns(void);
static void child_warm_one(EVP_MD *md, void *arg);
static void child_warm(void);

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

/* Tells the parent at once that a task with a time limit starts now. */
static void
child_started(void *arg, unsigned time_limit_ms)
{
    struct child *c = arg;
    child_buf_reserve(&c->out, IPC_HDR_LEN + IPC_STARTED_LEN);
    unsigned char *p = c->out.data + c->out.len;
    ipc_hdr_write(p, IPC_STARTED, c->seq, IPC_STARTED_LEN);
    ipc_started_write(p + IPC_HDR_LEN, time_limit_ms);
    c->out.len += IPC_HDR_LEN + IPC_STARTED_LEN;
    if (child_flush(c->fd, &c->out) < 0)
        c->broken = 1;
}

/* Appends the result frame of task seq to c->out and clears *r. */
static void
child_put_result(struct child *c, uint32_t seq, const struct exec_env *env,
                 struct exec_out *r)
{
    struct rusage ru;
    struct child_buf *out = &c->out;
    static const uint32_t codes[] = {
        [EXEC_SUCCESS] = IPC_STATUS_SUCCESS,
        [EXEC_FAILURE] = IPC_STATUS_FAILURE,
        [EXEC_RETRY] = IPC_STATUS_RETRY,
        [EXEC_EXPIRED] = IPC_STATUS_EXPIRED,
    };
    struct ipc_result f = {
        .status = codes[r->status],
        .due_ms = (uint64_t)r->due_ms,
        .id_len = (uint32_t)strlen(r->id),
        .reply_to_len = r->reply_to ? (uint32_t)strlen(r->reply_to) : 0,
        .doc_len = (uint32_t)r->doc_len,
        .sched_len = r->sched ? (uint32_t)strlen(r->sched) : 0,
    };
    if (env->report_rss && getrusage(RUSAGE_SELF, &ru) == 0)
        f.rss_kb = (uint32_t)ru.ru_maxrss;
    size_t payload_len = IPC_RESULT_FIXED + f.id_len + f.reply_to_len +
                         f.doc_len + f.sched_len;
    child_buf_reserve(out, IPC_HDR_LEN + payload_len);
    unsigned char *p = out->data + out->len;
    ipc_hdr_write(p, IPC_RESULT, seq, payload_len);
    p += IPC_HDR_LEN;
    ipc_result_fixed(p, &f);
    p += IPC_RESULT_FIXED;
    memcpy(p, r->id, f.id_len);
    p += f.id_len;
    if (f.reply_to_len)
        memcpy(p, r->reply_to, f.reply_to_len);
    p += f.reply_to_len;
    memcpy(p, r->doc, f.doc_len);
    p += f.doc_len;
    if (f.sched_len)
        memcpy(p, r->sched, f.sched_len);
    out->len += IPC_HDR_LEN + payload_len;
    exec_out_clear(r);
}

static struct child_stream *
child_stream_find(struct child *c, uint32_t seq)
{
    for (size_t i = 0; i < c->nstreams; i++)
        if (c->streams[i].seq == seq)
            return &c->streams[i];
    return NULL;
}

/* Forgets cs (its run is already ended or freed). */
static void
child_stream_drop(struct child *c, struct child_stream *cs)
{
    *cs = c->streams[--c->nstreams];
}

/* Opens streamed task seq; a task refused at once is answered at once. */
static void
child_stream_open(struct child *c, uint32_t seq, const struct ipc_task *t,
                  const char *entry_id, const char *queue,
                  const struct exec_env *env)
{
    struct exec_out r;
    struct exec_stream *run;
    struct child_stream *cs = child_stream_find(c, seq);
    if (cs != NULL) { /* the slot was reused: the old run is over */
        exec_stream_abort(cs->run);
        child_stream_drop(c, cs);
    }
    if (exec_stream_open(env, entry_id, queue, t->msg, t->msg_len,
                         t->attempts, EXEC_FEED_STREAM, &run, &r) != 0) {
        child_put_result(c, seq, env, &r);
        return;
    }
    if (c->nstreams == CHILD_MAX_STREAMS)
        fatalx("%s: the parent opened more than %d streamed tasks in this "
               "child; this is a worker bug",
               __func__, CHILD_MAX_STREAMS);
    if (c->nstreams == c->cap_streams) {
        c->cap_streams = c->cap_streams ? 2 * c->cap_streams : 16;
        c->streams =
            xrealloc(c->streams, c->cap_streams * sizeof(*c->streams));
    }
    c->streams[c->nstreams++] = (struct child_stream){seq, run};
}

/* An IPC_CHUNK or IPC_END frame: fed to its open run, else ignored. */
static void
child_stream_frame(struct child *c, const struct ipc_hdr *hdr,
                   const unsigned char *payload, const struct exec_env *env)
{
    struct exec_out r;
    size_t plen = hdr->len - IPC_HDR_LEN;
    struct child_stream *cs = child_stream_find(c, hdr->seq);
    if (hdr->type == IPC_CHUNK) {
        if (plen > IPC_CHUNK_MAX)
            fatalx("%s: a chunk of %zu bytes from the parent, over %d",
                   __func__, plen, IPC_CHUNK_MAX);
        if (cs != NULL && exec_stream_update(cs->run, payload, plen, &r)) {
            /* Refused: the parent aborts the fetch on this early result. */
            child_stream_drop(c, cs);
            child_put_result(c, hdr->seq, env, &r);
        }
        return;
    }
    struct ipc_end e;
    if (ipc_end_parse(payload, plen, &e) < 0)
        fatalx("%s: malformed end frame from parent (%zu bytes)", __func__,
               plen);
    if (cs == NULL)
        return;
    char type[64], why[1024];
    snprintf(type, sizeof(type), "%.*s", (int)e.err_type_len,
             e.err_type ? e.err_type : "");
    snprintf(why, sizeof(why), "%.*s", (int)e.err_msg_len,
             e.err_msg ? e.err_msg : "");
    struct exec_stream *run = cs->run;
    child_stream_drop(c, cs);
    exec_stream_end(run, type[0] ? type : NULL, why, e.facts, e.facts_len,
                    &r);
    child_put_result(c, hdr->seq, env, &r);
}

/*
 * Runs file task seq: takes its descriptor from the channel, reads the
 * file whole into the task and checks it read as many bytes as fstat gave
 * at the start (FileChanged otherwise).  Fills *r.
 */
static void
child_run_file(struct child *c, uint32_t seq, const struct ipc_task *t,
               const char *entry_id, const char *queue,
               const struct exec_env *env, struct exec_out *r)
{
    struct exec_stream *run;
    struct stat st;
    int fd = ipc_fd_recv(IPC_FD_CHANNEL, seq);
    if (fd < 0) {
        char why[256];
        snprintf(why, sizeof(why),
                 "the worker's child received no file descriptor for this "
                 "task (%s); the worker's descriptor channel is broken: "
                 "restart the worker",
                 strerror(errno));
        exec_failure(env, entry_id, queue, t->msg, t->msg_len, t->attempts,
                     ERROR_INTERNAL, why, (int64_t)t->started_us, 1, r);
        return;
    }
    if (exec_stream_open(env, entry_id, queue, t->msg, t->msg_len,
                         t->attempts, EXEC_FEED_FILE, &run, r) != 0) {
        close(fd);
        return;
    }
    if (fstat(fd, &st) < 0) {
        char why[256];
        snprintf(why, sizeof(why), "cannot read the file: fstat: %s",
                 strerror(errno));
        close(fd);
        exec_stream_end(run, ERROR_INTERNAL, why, NULL, 0, r);
        return;
    }
    if (c->readbuf == NULL)
        c->readbuf = xmalloc(CHILD_READ_CHUNK);
    unsigned long long size = (unsigned long long)st.st_size, got = 0;
    for (;;) {
        /* One byte past the size is enough to know it grew. */
        size_t want = CHILD_READ_CHUNK;
        if (size + 1 - got < want)
            want = (size_t)(size + 1 - got);
        ssize_t n = read(fd, c->readbuf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            char why[256];
            snprintf(why, sizeof(why),
                     "reading the file failed after %llu bytes: %s", got,
                     strerror(errno));
            close(fd);
            exec_stream_end(run, ERROR_INTERNAL, why, NULL, 0, r);
            return;
        }
        if (n == 0 || got + (size_t)n > size) {
            if (n > 0)
                got += (size_t)n;
            break;
        }
        got += (size_t)n;
        if (exec_stream_update(run, c->readbuf, (size_t)n, r) != 0) {
            close(fd);
            return; /* the task refused the bytes: run is freed */
        }
    }
    close(fd);
    if (got != size) {
        char why[320];
        snprintf(why, sizeof(why),
                 "the file %s while it was read: %llu bytes when it was "
                 "opened, %s%llu read; hash it again once it is no longer "
                 "being written",
                 got < size ? "shrank" : "grew", size,
                 got > size ? "more than " : "", got > size ? size : got);
        exec_stream_end(run, ERROR_FILE_CHANGED, why, NULL, 0, r);
        return;
    }
    exec_stream_end(run, NULL, NULL, NULL, 0, r);
}

/* Runs one frame; a task's result frame is appended to c->out. */
static void
child_run_frame(struct child *c, const struct ipc_hdr *hdr,
                const unsigned char *payload, const struct exec_env *env)
{
    struct ipc_task t;
    struct exec_out r;
    size_t plen = hdr->len - IPC_HDR_LEN;

    if (hdr->type == IPC_CHUNK || hdr->type == IPC_END) {
        child_stream_frame(c, hdr, payload, env);
        return;
    }
    if (hdr->type != IPC_TASK || ipc_task_parse(payload, plen, &t) < 0) {
        /* The parent and child are the same binary: this is a bug. */
        fatalx("%s: malformed frame from parent (type %u, %zu bytes)",
               __func__, hdr->type, plen);
    }
    if (t.flags & IPC_TASK_RING) {
        /* The message is in our ring (ring.h), read-only. */
        t.msg = (const char *)ring_child_get(t.ring_off, t.ring_len);
        if (t.msg == NULL)
            fatalx("%s: the parent named ring bytes %u+%u outside this "
                   "child's ring; this is a worker bug",
                   __func__, t.ring_off, t.ring_len);
        t.msg_len = t.ring_len;
    }
    char entry_id[64], queue[256];
    snprintf(entry_id, sizeof(entry_id), "%.*s", (int)t.entry_id_len,
             t.entry_id);
    snprintf(queue, sizeof(queue), "%.*s", (int)t.queue_len, t.queue);
    if ((t.flags & (IPC_TASK_STREAM | IPC_TASK_FAIL)) == IPC_TASK_STREAM) {
        /* No claim: a streamed task is never taken back. */
        child_stream_open(c, hdr->seq, &t, entry_id, queue, env);
        return;
    }
    if (t.flags & IPC_TASK_STREAM) {
        /* The parent's verdict on a streamed task (its fetch failed before
         * it began, say): no claim either; an open run of it is over. */
        struct child_stream *cs = child_stream_find(c, hdr->seq);
        if (cs != NULL) {
            exec_stream_abort(cs->run);
            child_stream_drop(c, cs);
        }
    } else if (!claim_child_take(hdr->seq, t.claim)) {
        /* A task the parent took back for an idle child is not ours. */
        if (t.flags & IPC_TASK_FD) { /* its descriptor is queued for us */
            int fd = ipc_fd_recv(IPC_FD_CHANNEL, hdr->seq);
            if (fd >= 0)
                close(fd);
        }
        return;
    }
    c->seq = hdr->seq;
    if (t.flags & IPC_TASK_FAIL) {
        char type[64], why[1024];
        snprintf(type, sizeof(type), "%.*s", (int)t.err_type_len, t.err_type);
        snprintf(why, sizeof(why), "%.*s", (int)t.err_msg_len, t.err_msg);
        exec_failure(env, entry_id, queue, t.msg, t.msg_len, t.attempts, type,
                     why, (int64_t)t.started_us,
                     (t.flags & IPC_TASK_MAY_RETRY) != 0, &r);
    } else if (t.flags & IPC_TASK_FD) {
        /* Reading a file takes long: what is done goes out first. */
        if (child_flush(c->fd, &c->out) < 0) {
            c->broken = 1;
            int fd = ipc_fd_recv(IPC_FD_CHANNEL, hdr->seq);
            if (fd >= 0)
                close(fd);
            return;
        }
        child_run_file(c, hdr->seq, &t, entry_id, queue, env, &r);
    } else {
        exec_run(env, entry_id, queue, t.msg, t.msg_len, t.attempts, &r);
    }
    child_put_result(c, hdr->seq, env, &r);
}

/* Computes a digest and an HMAC with md, loading all it needs. */
static void
child_warm_one(EVP_MD *md, void *arg)
{
    unsigned char out[HASH_MAX_DIGEST];
    unsigned outlen;
    struct proto_error err;
    const char *name = md ? EVP_MD_get0_name(md) : arg;
    /* Unsupported ones (XOFs) fail after the look-up: fine. */
    hash_compute(name, (const unsigned char *)"", 0, NULL, 0, 1, out, &outlen,
                 &err);
    hash_compute(name, (const unsigned char *)"", 0,
                 (const unsigned char *)"k", 1, 1, out, &outlen, &err);
}

/*
 * Before the seccomp filter: OpenSSL reads its configuration and sets up
 * its providers on first use, which needs files.  Every digest it offers is
 * fetched and run once, so no task can be the first to need them.
 */
static void
child_warm(void)
{
    EVP_MD_do_all_provided(NULL, child_warm_one, NULL);
    /* And an unknown name, which walks the providers' tables. */
    static char unknown[] = "celeriac-no-such-digest";
    child_warm_one(NULL, unknown);
}

int
child_main(int fd, const struct exec_env *env_in)
{
    struct child_buf in = {0};
    struct child c = {.fd = fd};
    struct child_buf *out = &c.out;
    struct exec_env env = *env_in;
    size_t rpos = 0; /* start of unprocessed input */
    int status = 1;

    if (sandbox_child_enter(fd, child_warm) < 0) {
        log_error("cannot set up the sandbox (see the messages above); "
                  "run with --sandbox off to work without it");
        return 1;
    }
    env.started = child_started;
    env.arg = &c;
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
            /* Results already computed do not wait behind the last task
             * in hand, which may run long (or crash, when the parent would
             * count them as unfinished). */
            struct ipc_hdr next;
            size_t after = rpos + hdr.len;
            if (out->len > 0 &&
                ipc_frame_peek(in.data + after, in.len - after, &next,
                               &cause) != 1 &&
                child_flush(fd, out) < 0)
                goto done;
            long long t0 = child_now_ns();
            child_run_frame(&c, &hdr, in.data + rpos + IPC_HDR_LEN, &env);
            rpos += hdr.len;
            if (c.broken)
                goto done;
            if (out->len >= CHILD_FLUSH_BYTES ||
                child_now_ns() - t0 >= CHILD_FLUSH_AFTER_NS) {
                if (child_flush(fd, out) < 0)
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
            if (child_flush(fd, out) < 0)
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
            status = child_flush(fd, out) < 0 ? 1 : 0;
            goto done;
        }
        in.len += (size_t)n;
    }
done:
    for (size_t i = 0; i < c.nstreams; i++)
        exec_stream_abort(c.streams[i].run);
    free(c.streams);
    free(c.readbuf);
    free(in.data);
    free(out->data);
    hash_cleanup();
    return status;
}
