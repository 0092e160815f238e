/* SPDX-License-Identifier: MIT */
/*
 * Integration tests of worker/child.c: a real child_main() forked on a
 * socketpair, with a SOCK_SEQPACKET descriptor channel at fd 4 (as the
 * pool sets it up), driven with IPC frames as the parent sends them.
 * Inline tasks, streamed tasks fed in odd chunk sizes with other tasks in
 * between, results out of order, a task refusing at once or mid-stream,
 * source failures (retryable per policy), file tasks checked against
 * sha512sum, and files that change size while read.  Every case runs with
 * the sandbox off and on (the seccomp filter must allow what file tasks
 * need).
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
#include <fcntl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "child.h"
#include "exec.h"
#include "hash.h"
#include "ipc.h"
#include "registry.h"
#include "ring.h"
#include "sandbox.h"

/* The child under test, from the parent's side. */
struct kid {
    pid_t pid;
    int sock; /* the task socket */
    int chan; /* the descriptor channel */
};

static int sandbox_on;
/* A ring the next kid maps read-only before its sandbox, as the pool does
 * (none when its map is NULL). */
static struct ring kid_ring = {.fd = -1};

/* ---- a test task that refuses its bytes after a limit ---- */

struct limit_run {
    long left;
};

static void *
limit_init(const json_t *args, struct celeriac_error *err)
{
    json_t *n = json_object_get(args, "limit");
    if (!json_is_integer(n)) {
        celeriac_error_set(err, "InvalidArgument", "'limit' is required");
        return NULL;
    }
    struct limit_run *r = malloc(sizeof(*r));
    r->left = (long)json_integer_value(n);
    return r;
}

static int
limit_update(void *state, const unsigned char *p, size_t len,
             struct celeriac_error *err)
{
    struct limit_run *r = state;
    (void)p;
    r->left -= (long)len;
    if (r->left < 0) {
        celeriac_error_set(err, "TooMuch", "more than the limit");
        return -1;
    }
    return 0;
}

static json_t *
limit_final(void *state, struct celeriac_error *err)
{
    (void)err;
    return json_integer(((struct limit_run *)state)->left);
}

static const struct celeriac_task limit_task = {
    .api_version = CELERIAC_TASK_API_VERSION,
    .name = "test.limit",
    .input = CELERIAC_INPUT_BYTES,
    .init = limit_init,
    .update = limit_update,
    .final = limit_final,
    .free = free,
};

/* ---- driving the child ---- */

static void
kid_start(struct kid *k)
{
    int sv[2], cv[2];
    static int registered;
    char why[256];
    if (!registered) {
        assert_int_equal(registry_add(&limit_task, why, sizeof(why)), 0);
        registered = 1;
    }
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, cv), 0);
    tzset(); /* as the worker's parent has, before the filter is on */
    fflush(NULL);
    k->pid = fork();
    assert_true(k->pid >= 0);
    if (k->pid == 0) {
        close(sv[0]);
        close(cv[0]);
        /* Out of the channel's way (the first socketpair may be 3, 4). */
        int sock = fcntl(sv[1], F_DUPFD, IPC_FD_CHANNEL + 1);
        close(sv[1]);
        sv[1] = sock;
        if (sock < 0 || dup2(cv[1], IPC_FD_CHANNEL) < 0)
            _exit(3);
        if (cv[1] != IPC_FD_CHANNEL)
            close(cv[1]);
        if (kid_ring.map != NULL &&
            ring_child_map(kid_ring.fd, kid_ring.size) < 0)
            _exit(4);
        struct sandbox_conf c = {.enabled = sandbox_on};
        sandbox_configure(&c);
        struct exec_env env = {.worker = "test:1"};
        _exit(child_main(sv[1], &env));
    }
    close(sv[1]);
    close(cv[1]);
    k->sock = sv[0];
    k->chan = cv[0];
}

/* Closes the socket and checks the child exits 0. */
static void
kid_stop(struct kid *k)
{
    int st;
    close(k->sock);
    close(k->chan);
    assert_int_equal(waitpid(k->pid, &st, 0), k->pid);
    if (!WIFEXITED(st))
        fail_msg("child killed by signal %d", WTERMSIG(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void
write_all(int fd, const void *p, size_t n)
{
    const unsigned char *b = p;
    while (n > 0) {
        ssize_t w = write(fd, b, n);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        b += w;
        n -= (size_t)w;
    }
}

static void
read_all(int fd, void *p, size_t n)
{
    unsigned char *b = p;
    while (n > 0) {
        ssize_t r = read(fd, b, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            fail_msg("the child closed its socket (read gave %zd: %s)", r,
                     r < 0 ? strerror(errno) : "end of file");
        b += r;
        n -= (size_t)r;
    }
}

static void
send_task(struct kid *k, uint32_t seq, uint32_t flags, const char *msg)
{
    struct ipc_task t = {
        .attempts = 1,
        .flags = flags,
        .entry_id_len = 3,
        .queue_len = 7,
        .msg_len = (uint32_t)strlen(msg),
    };
    size_t plen = IPC_TASK_FIXED + 3 + 7 + t.msg_len;
    unsigned char *f = malloc(IPC_HDR_LEN + plen);
    ipc_hdr_write(f, IPC_TASK, seq, plen);
    ipc_task_fixed(f + IPC_HDR_LEN, &t);
    memcpy(f + IPC_HDR_LEN + IPC_TASK_FIXED, "1-0default", 10);
    memcpy(f + IPC_HDR_LEN + IPC_TASK_FIXED + 10, msg, t.msg_len);
    write_all(k->sock, f, IPC_HDR_LEN + plen);
    free(f);
}

/* An IPC_TASK_RING frame: the message is in kid_ring at [off, off+len). */
static void
send_ring_task(struct kid *k, uint32_t seq, uint32_t off, uint32_t len)
{
    struct ipc_task t = {
        .attempts = 1,
        .flags = IPC_TASK_RING,
        .entry_id_len = 3,
        .queue_len = 7,
        .ring_off = off,
        .ring_len = len,
    };
    unsigned char f[IPC_HDR_LEN + IPC_TASK_FIXED + 10];
    ipc_hdr_write(f, IPC_TASK, seq, IPC_TASK_FIXED + 10);
    ipc_task_fixed(f + IPC_HDR_LEN, &t);
    memcpy(f + IPC_HDR_LEN + IPC_TASK_FIXED, "1-0default", 10);
    write_all(k->sock, f, sizeof(f));
}

/* An IPC_TASK_FAIL frame: the parent's verdict err_type/err_msg. */
static void
send_verdict(struct kid *k, uint32_t seq, uint32_t flags, const char *msg,
             const char *type, const char *why)
{
    struct ipc_task t = {
        .attempts = 1,
        .flags = flags,
        .entry_id_len = 3,
        .queue_len = 7,
        .msg_len = (uint32_t)strlen(msg),
        .err_type_len = (uint32_t)strlen(type),
        .err_msg_len = (uint32_t)strlen(why),
    };
    size_t plen = IPC_TASK_FIXED + 10 + t.msg_len + t.err_type_len +
                  t.err_msg_len;
    unsigned char *f = malloc(IPC_HDR_LEN + plen), *p;
    ipc_hdr_write(f, IPC_TASK, seq, plen);
    ipc_task_fixed(f + IPC_HDR_LEN, &t);
    p = f + IPC_HDR_LEN + IPC_TASK_FIXED;
    memcpy(p, "1-0default", 10);
    memcpy(p + 10, msg, t.msg_len);
    memcpy(p + 10 + t.msg_len, type, t.err_type_len);
    memcpy(p + 10 + t.msg_len + t.err_type_len, why, t.err_msg_len);
    write_all(k->sock, f, IPC_HDR_LEN + plen);
    free(f);
}

static void
send_chunk(struct kid *k, uint32_t seq, const unsigned char *p, size_t n)
{
    unsigned char h[IPC_HDR_LEN];
    ipc_hdr_write(h, IPC_CHUNK, seq, n);
    write_all(k->sock, h, sizeof(h));
    write_all(k->sock, p, n);
}

static void
send_end(struct kid *k, uint32_t seq, const char *type, const char *why,
         const char *facts)
{
    struct ipc_end e = {
        .err_type_len = (uint32_t)strlen(type),
        .err_msg_len = (uint32_t)strlen(why),
        .facts_len = (uint32_t)strlen(facts),
    };
    size_t plen = IPC_END_FIXED + e.err_type_len + e.err_msg_len +
                  e.facts_len;
    unsigned char h[IPC_HDR_LEN + IPC_END_FIXED];
    ipc_hdr_write(h, IPC_END, seq, plen);
    ipc_end_fixed(h + IPC_HDR_LEN, &e);
    write_all(k->sock, h, sizeof(h));
    write_all(k->sock, type, e.err_type_len);
    write_all(k->sock, why, e.err_msg_len);
    write_all(k->sock, facts, e.facts_len);
}

/* Reads the next result (skipping STARTED frames); returns its document
 * (owned) and stores its seq. */
static json_t *
recv_result(struct kid *k, uint32_t *seq)
{
    for (;;) {
        unsigned char h[IPC_HDR_LEN];
        struct ipc_hdr hdr;
        const char *cause;
        read_all(k->sock, h, sizeof(h));
        /* The header alone: peek needs the whole frame, so read on. */
        memcpy(&hdr.type, h, 4);
        memcpy(&hdr.len, h + 4, 4);
        unsigned char *f = malloc(hdr.len);
        memcpy(f, h, IPC_HDR_LEN);
        read_all(k->sock, f + IPC_HDR_LEN, hdr.len - IPC_HDR_LEN);
        assert_int_equal(ipc_frame_peek(f, hdr.len, &hdr, &cause), 1);
        if (hdr.type == IPC_STARTED) {
            free(f);
            continue;
        }
        assert_int_equal(hdr.type, IPC_RESULT);
        struct ipc_result r;
        assert_int_equal(
            ipc_result_parse(f + IPC_HDR_LEN, hdr.len - IPC_HDR_LEN, &r), 0);
        json_t *doc = json_loadb(r.doc, r.doc_len, 0, NULL);
        assert_non_null(doc);
        if (r.status == IPC_STATUS_RETRY)
            assert_true(r.sched_len > 0);
        *seq = hdr.seq;
        free(f);
        return doc;
    }
}

static const char *
status_of(const json_t *doc)
{
    return json_string_value(json_object_get(doc, "status"));
}

static const char *
error_type(const json_t *doc)
{
    return json_string_value(
        json_object_get(json_object_get(doc, "error"), "type"));
}

static void
sha512_hex(const unsigned char *p, size_t n, char hex[129])
{
    unsigned char d[64];
    unsigned dl;
    assert_int_equal(EVP_Digest(p, n, d, &dl, EVP_sha512(), NULL), 1);
    hash_hex(hex, d, dl);
}

static const char *
digest_of(const json_t *doc)
{
    return json_string_value(
        json_object_get(json_object_get(doc, "result"), "digest"));
}

/* ---- tests ---- */

static void
test_inline(void **state)
{
    (void)state;
    struct kid k;
    uint32_t seq;
    char want[129];
    kid_start(&k);
    send_task(&k, 3, 0, "{\"task\":\"hash\",\"args\":{\"data\":\"abc\"}}");
    json_t *doc = recv_result(&k, &seq);
    assert_int_equal(seq, 3);
    assert_string_equal(status_of(doc), "SUCCESS");
    sha512_hex((const unsigned char *)"abc", 3, want);
    assert_string_equal(digest_of(doc), want);
    assert_null(json_object_get(doc, "source"));
    json_decref(doc);
    kid_stop(&k);
}

/* The length of a ring_put_task message of n bytes of data. */
#define RING_MSG_LEN(n)                                                        \
    (sizeof("{\"task\":\"hash\",\"args\":{\"data\":\"\"}}") - 1 + (n))

/* Writes a hash task of n bytes of data c into kid_ring at off; returns
 * the message's length and the data's sha512 in want. */
static uint32_t
ring_put_task(uint32_t off, size_t n, char c, char want[129])
{
    static const char head[] = "{\"task\":\"hash\",\"args\":{\"data\":\"";
    static const char tail[] = "\"}}";
    unsigned char *p = kid_ring.map + off;
    assert_true(off + RING_MSG_LEN(n) <= kid_ring.size);
    memcpy(p, head, sizeof(head) - 1);
    memset(p + sizeof(head) - 1, c, n);
    memcpy(p + sizeof(head) - 1 + n, tail, sizeof(tail) - 1);
    sha512_hex(p + sizeof(head) - 1, n, want);
    return (uint32_t)(sizeof(head) - 1 + n + sizeof(tail) - 1);
}

/* Messages in the ring, at its start, in its middle and ending at its
 * very end, between frame tasks: each digest is right. */
static void
test_ring_task(void **state)
{
    (void)state;
    struct kid k;
    uint32_t seq;
    char want[3][129], want_inline[129];
    const uint32_t size = 1024 * 1024;
    assert_int_equal(ring_new(&kid_ring, size), 0);
    uint32_t len0 = ring_put_task(0, 300000, 'a', want[0]);
    uint32_t len1 = ring_put_task(len0, 200000, 'b', want[1]);
    uint32_t len2 = (uint32_t)RING_MSG_LEN(100000);
    assert_int_equal(ring_put_task(size - len2, 100000, 'c', want[2]), len2);
    kid_start(&k);
    send_ring_task(&k, 1, 0, len0);
    send_task(&k, 2, 0, "{\"task\":\"hash\",\"args\":{\"data\":\"abc\"}}");
    send_ring_task(&k, 3, len0, len1);
    send_ring_task(&k, 4, size - len2, len2);
    sha512_hex((const unsigned char *)"abc", 3, want_inline);
    const char *wants[] = {want[0], want_inline, want[1], want[2]};
    for (uint32_t i = 0; i < 4; i++) {
        json_t *doc = recv_result(&k, &seq);
        assert_int_equal(seq, i + 1);
        assert_string_equal(status_of(doc), "SUCCESS");
        assert_string_equal(digest_of(doc), wants[i]);
        json_decref(doc);
    }
    kid_stop(&k);
    ring_free(&kid_ring);
}

/* A ring frame naming bytes outside the ring is a parent bug: the child
 * stops (the pool would replace it) rather than read past its mapping. */
static void
test_ring_out_of_bounds(void **state)
{
    (void)state;
    struct kid k;
    int st;
    assert_int_equal(ring_new(&kid_ring, 64 * 1024), 0);
    kid_start(&k);
    send_ring_task(&k, 1, 60 * 1024, 8 * 1024);
    assert_int_equal(waitpid(k.pid, &st, 0), k.pid);
    /* fatalx: status 1 (a sanitizer's exit under the filter may be
     * killed instead) */
    assert_true(WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != 0));
    close(k.sock);
    close(k.chan);
    ring_free(&kid_ring);
}

/* Two streams fed in odd chunk sizes, interleaved, with inline tasks in
 * between; results come as each ends. */
static void
test_streams_interleaved(void **state)
{
    (void)state;
    struct kid k;
    uint32_t seq;
    size_t n = 3 * 1024 * 1024 + 17;
    unsigned char *a = malloc(n), *b = malloc(n);
    char wa[129], wb[129], wi[129];
    for (size_t i = 0; i < n; i++) {
        a[i] = (unsigned char)(i * 7 + 3);
        b[i] = (unsigned char)(i * 13 + (i >> 9));
    }
    sha512_hex(a, n, wa);
    sha512_hex(b, n, wb);
    sha512_hex((const unsigned char *)"between", 7, wi);
    kid_start(&k);
    send_task(&k, 10, IPC_TASK_STREAM,
              "{\"task\":\"hash\",\"id\":\"A\",\"args\":{\"url\":"
              "\"http://a.test/x\"}}");
    send_task(&k, 11, IPC_TASK_STREAM,
              "{\"task\":\"hash\",\"id\":\"B\",\"args\":{\"url\":"
              "\"http://b.test/y\",\"accept_status\":\"any\"}}");
    static const size_t sizes[] = {1, 7, 1000, 65537, 3, IPC_CHUNK_MAX,
                                   4095, 12345};
    size_t oa = 0, ob = 0;
    for (unsigned i = 0; oa < n || ob < n; i++) {
        size_t sa = sizes[i % 8], sb = sizes[(i + 3) % 8];
        if (sa > n - oa)
            sa = n - oa;
        if (sb > n - ob)
            sb = n - ob;
        if (sa)
            send_chunk(&k, 10, a + oa, sa);
        if (sb)
            send_chunk(&k, 11, b + ob, sb);
        oa += sa;
        ob += sb;
        if (i == 5) { /* an ordinary task meanwhile, answered at once */
            send_task(&k, 1, 0,
                      "{\"task\":\"hash\",\"args\":{\"data\":\"between\"}}");
            json_t *doc = recv_result(&k, &seq);
            assert_int_equal(seq, 1);
            assert_string_equal(digest_of(doc), wi);
            json_decref(doc);
        }
    }
    /* B ends first. */
    send_end(&k, 11, "", "", "{\"url\":\"http://b.test/y\",\"status\":404}");
    json_t *doc = recv_result(&k, &seq);
    assert_int_equal(seq, 11);
    assert_string_equal(status_of(doc), "SUCCESS");
    assert_string_equal(digest_of(doc), wb);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "result"), "bytes")),
                     n);
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "source"), "status")),
                     404);
    json_decref(doc);
    send_end(&k, 10, "", "", "{\"url\":\"http://a.test/x\",\"status\":200}");
    doc = recv_result(&k, &seq);
    assert_int_equal(seq, 10);
    assert_string_equal(digest_of(doc), wa);
    assert_string_equal(json_string_value(json_object_get(
                            json_object_get(doc, "source"), "url")),
                        "http://a.test/x");
    json_decref(doc);
    free(a);
    free(b);
    kid_stop(&k);
}

/* A stream refused at open and one refused mid-stream are answered at
 * once; their later CHUNK and END frames are ignored. */
static void
test_stream_early_failure(void **state)
{
    (void)state;
    struct kid k;
    uint32_t seq;
    unsigned char buf[4096] = {0};
    kid_start(&k);
    send_task(&k, 20, IPC_TASK_STREAM,
              "{\"task\":\"hash\",\"args\":{\"url\":\"http://a.test/\","
              "\"algorithm\":\"sha999\"}}");
    json_t *doc = recv_result(&k, &seq);
    assert_int_equal(seq, 20);
    assert_string_equal(error_type(doc), "UnknownAlgorithm");
    json_decref(doc);
    send_task(&k, 21, IPC_TASK_STREAM,
              "{\"task\":\"test.limit\",\"args\":{\"url\":\"http://a.test/\","
              "\"limit\":5000}}");
    send_chunk(&k, 20, buf, sizeof(buf)); /* not open: ignored */
    send_chunk(&k, 21, buf, sizeof(buf));
    send_chunk(&k, 21, buf, sizeof(buf)); /* refused here */
    doc = recv_result(&k, &seq);
    assert_int_equal(seq, 21);
    assert_string_equal(error_type(doc), "TooMuch");
    json_decref(doc);
    send_chunk(&k, 21, buf, sizeof(buf));
    send_end(&k, 21, "", "", "{}");
    send_end(&k, 20, "", "", "{}");
    /* The next answer is the next task's: nothing came for 20 or 21. */
    send_task(&k, 2, 0, "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}");
    doc = recv_result(&k, &seq);
    assert_int_equal(seq, 2);
    assert_string_equal(status_of(doc), "SUCCESS");
    json_decref(doc);
    kid_stop(&k);
}

/* A source failure: retried for a 503 when the message allows, final for
 * a 404. */
static void
test_stream_source_error(void **state)
{
    (void)state;
    struct kid k;
    uint32_t seq;
    kid_start(&k);
    const char *msg = "{\"task\":\"hash\",\"max_retries\":2,\"args\":{\"url\":"
                      "\"http://a.test/\"}}";
    send_task(&k, 30, IPC_TASK_STREAM, msg);
    send_end(&k, 30, "HTTPError", "the server answered 503",
             "{\"url\":\"http://a.test/\",\"status\":503}");
    json_t *doc = recv_result(&k, &seq);
    assert_string_equal(status_of(doc), "RETRY");
    assert_string_equal(error_type(doc), "HTTPError");
    json_decref(doc);
    send_task(&k, 31, IPC_TASK_STREAM, msg);
    send_end(&k, 31, "HTTPError", "the server answered 404",
             "{\"url\":\"http://a.test/\",\"status\":404}");
    doc = recv_result(&k, &seq);
    assert_string_equal(status_of(doc), "FAILURE");
    assert_int_equal(json_integer_value(json_object_get(
                         json_object_get(doc, "source"), "status")),
                     404);
    json_decref(doc);
    send_task(&k, 32, IPC_TASK_STREAM, msg);
    send_end(&k, 32, "Timeout", "no first byte in 10 s", "");
    doc = recv_result(&k, &seq);
    assert_string_equal(status_of(doc), "RETRY");
    json_decref(doc);
    /* The parent's verdict on an open stream: answered, the run closed
     * (its END is then ignored). */
    send_task(&k, 33, IPC_TASK_STREAM, msg);
    send_verdict(&k, 33, IPC_TASK_STREAM | IPC_TASK_FAIL, msg, "WorkerLost",
                 "the child died");
    doc = recv_result(&k, &seq);
    assert_int_equal(seq, 33);
    assert_string_equal(error_type(doc), "WorkerLost");
    json_decref(doc);
    send_end(&k, 33, "", "", "{}");
    send_task(&k, 3, 0, "{\"task\":\"hash\",\"args\":{\"data\":\"x\"}}");
    doc = recv_result(&k, &seq);
    assert_int_equal(seq, 3);
    json_decref(doc);
    kid_stop(&k);
}

/* sha512sum's digest of path. */
static void
sha512sum(const char *path, char hex[129])
{
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "sha512sum '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%128s", hex), 1);
    pclose(p);
}

/* Sends the file at path as file task seq; returns its result. */
static json_t *
file_task(struct kid *k, uint32_t seq, const char *path, const char *rel)
{
    uint32_t got;
    char msg[512];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(ipc_fd_send(k->chan, seq, fd), 0);
    close(fd);
    snprintf(msg, sizeof(msg),
             "{\"task\":\"hash\",\"args\":{\"path\":\"%s\"}}", rel);
    send_task(k, seq, IPC_TASK_FD, msg);
    json_t *doc = recv_result(k, &got);
    assert_int_equal(got, seq);
    return doc;
}

static void
test_file(void **state)
{
    (void)state;
    struct kid k;
    char path[] = "/tmp/celeriac-test-child-XXXXXX", want[129];
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    size_t n = 5 * 1024 * 1024 + 333;
    unsigned char *b = malloc(n);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 31 + (i >> 11));
    write_all(fd, b, n);
    close(fd);
    free(b);
    sha512sum(path, want);
    kid_start(&k);
    json_t *doc = file_task(&k, 40, path, "dir/big.bin");
    assert_string_equal(status_of(doc), "SUCCESS");
    assert_string_equal(digest_of(doc), want);
    json_t *src = json_object_get(doc, "source");
    assert_string_equal(json_string_value(json_object_get(src, "path")),
                        "dir/big.bin");
    assert_int_equal(json_integer_value(json_object_get(src, "bytes")), n);
    json_decref(doc);
    /* An empty file too. */
    assert_int_equal(truncate(path, 0), 0);
    sha512sum(path, want);
    doc = file_task(&k, 41, path, "empty");
    assert_string_equal(digest_of(doc), want);
    json_decref(doc);
    unlink(path);
    kid_stop(&k);
}

/*
 * Files whose reading does not match their size at the start: /sys files
 * say 4096 bytes and give fewer (as a file that shrank), /proc files say
 * 0 and give more (as one that grew).
 */
static void
test_file_changed(void **state)
{
    (void)state;
    struct kid k;
    static const char shrinks[] = "/sys/kernel/mm/transparent_hugepage/enabled";
    static const char grows[] = "/proc/self/status";
    kid_start(&k);
    if (access(shrinks, R_OK) == 0) {
        json_t *doc = file_task(&k, 50, shrinks, "s");
        assert_string_equal(error_type(doc), "FileChanged");
        assert_non_null(strstr(json_string_value(json_object_get(
                                   json_object_get(doc, "error"), "message")),
                               "shrank"));
        json_decref(doc);
    }
    json_t *doc = file_task(&k, 51, grows, "g");
    assert_string_equal(error_type(doc), "FileChanged");
    assert_non_null(strstr(json_string_value(json_object_get(
                               json_object_get(doc, "error"), "message")),
                           "grew"));
    assert_non_null(json_object_get(doc, "source"));
    json_decref(doc);
    /* A path message sent as an ordinary task: refused, not read. */
    send_task(&k, 52, 0, "{\"task\":\"hash\",\"args\":{\"path\":\"x\"}}");
    uint32_t seq;
    doc = recv_result(&k, &seq);
    assert_string_equal(error_type(doc), "InvalidMessage");
    json_decref(doc);
    kid_stop(&k);
}

static int
with_sandbox(void **state)
{
    (void)state;
    sandbox_on = 1;
    return 0;
}

static int
without_sandbox(void **state)
{
    (void)state;
    sandbox_on = 0;
    return 0;
}

#define BOTH(f)                                                               \
    cmocka_unit_test_setup(f, without_sandbox),                               \
        cmocka_unit_test_setup(f, with_sandbox)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_inline),
        BOTH(test_streams_interleaved),
        BOTH(test_stream_early_failure),
        BOTH(test_stream_source_error),
        BOTH(test_file),
        BOTH(test_file_changed),
        BOTH(test_ring_task),
        BOTH(test_ring_out_of_bounds),
    };
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
