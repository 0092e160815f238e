/* SPDX-License-Identifier: MIT */
/* A large file hashed through an upload stream; see hashup.h. */
#include "hashup.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "build.h"
#include "cli.h"
#include "error.h"
#include "hashtask.h"
#include "keys.h"
#include "result.h"
#include "token.h"
#include "wait.h"
#include "xmalloc.h"

/* The upload stream's TTL, renewed with every entry: an abandoned one
 * disappears by itself even if no worker ever reads it. */
#define HASHUP_TTL_MS "3600000"
/* Looks at the reply stream this often while waiting for the window. */
#define HASHUP_LOOK_MS 200

/* One attempt's state. */
struct hashup {
    struct conn *c;
    const struct hashup_opts *o;
    struct wait w;
    char key[KEYS_MAX]; /* the upload stream */
    int done;           /* a result came */
    int lost;           /* ... and it was UploadLost */
    char *digest;       /* its digest (owned), on SUCCESS */
    char *error;        /* else why (owned) */
};

static void
hashup_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* wait_fn: the task's result. */
static void
hashup_result(const char *doc, size_t len, void *arg)
{
    struct hashup *u = arg;
    json_t *root = json_loadb(doc, len, 0, NULL);
    const char *status =
        json_string_value(json_object_get(root, RESULT_F_STATUS));
    if (u->done) {
        json_decref(root);
        return;
    }
    u->done = 1;
    if (status != NULL && strcmp(status, RESULT_SUCCESS) == 0) {
        json_t *res = json_object_get(root, RESULT_F_RESULT);
        const char *d =
            json_string_value(json_object_get(res, RESULT_F_DIGEST));
        if (d != NULL && strspn(d, "0123456789abcdef") == strlen(d) &&
            d[0] != '\0')
            u->digest = xstrdup(d);
        else
            u->error = xstrdup("the worker sent a result without a proper "
                               "hex digest");
    } else {
        json_t *e = json_object_get(root, RESULT_F_ERROR);
        const char *type =
            json_string_value(json_object_get(e, RESULT_F_ERROR_TYPE));
        const char *msg =
            json_string_value(json_object_get(e, RESULT_F_ERROR_MESSAGE));
        u->lost = type != NULL && strcmp(type, ERROR_UPLOAD_LOST) == 0;
        u->error = xasprintf("the hash task failed: %s: %s",
                             type ? type : "no error type",
                             msg ? msg : "no message");
    }
    json_decref(root);
}

/* Reads Redis' answer to a command; -1 (error set) if it failed. */
static int
hashup_check(struct hashup *u, redisReply *r, const char *what)
{
    if (r == NULL) {
        conn_report_lost(u->c, what);
        u->error = xasprintf("the connection to Redis was lost while %s",
                             what);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        conn_report_error(u->c, what, r);
        u->error = xasprintf("Redis refused %s: %s", what, r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Sends the task message.  0 or -1 (error set). */
static int
hashup_send_task(struct hashup *u, uint64_t size)
{
    char qkey[KEYS_MAX];
    struct build b = BUILD_INIT;
    json_t *args = json_pack("{s:s, s:s, s:I}", HASHTASK_ALGORITHM,
                             u->o->algorithm, "upload", u->key,
                             "upload_bytes", (json_int_t)size);
    char id[WAIT_TOKEN_LEN + 16];
    snprintf(id, sizeof(id), "%s:upload", u->w.token);
    struct build_spec spec = {
        .task = HASHTASK_NAME,
        .args = args,
        .id = id,
        .reply_to = u->w.key,
    };
    if (args == NULL || keys_queue(qkey, sizeof(qkey), u->o->prefix,
                                   u->o->queue) < 0) {
        json_decref(args);
        u->error = xstrdup("the algorithm name or the queue name cannot be "
                           "put in a message");
        return -1;
    }
    int r = build_message(&b, &spec);
    json_decref(args);
    if (r < 0) {
        u->error = xstrdup(build_strerror(r));
        build_free(&b);
        return -1;
    }
    size_t len;
    char *msg = build_take(&b, &len);
    const char *argv[] = {"XADD", qkey, "*", "msg", msg};
    size_t lens[] = {4, strlen(qkey), 1, 3, len};
    int rc = hashup_check(u, conn_command(u->c, 5, argv, lens),
                          "sending the task");
    free(msg);
    return rc;
}

/*
 * Waits until the stream holds fewer than HASHUP_WINDOW entries, looking
 * for the task's result meanwhile.  0 to go on, 1 when a result came, -1
 * on an error or the deadline (error set).
 */
static int
hashup_window(struct hashup *u)
{
    long sleep_ms = 1, since_look = 0;
    for (;;) {
        redisReply *r = conn_call(u->c, "XLEN", u->key, NULL);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            hashup_check(u, r, "reading the upload's length");
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER) {
            freeReplyObject(r);
            u->error = xstrdup("Redis answered XLEN with something other "
                               "than a number");
            return -1;
        }
        long long len = r->integer;
        freeReplyObject(r);
        if (len < HASHUP_WINDOW)
            return 0;
        if (since_look >= HASHUP_LOOK_MS) {
            since_look = 0;
            if (wait_next(&u->w, 1, 1, hashup_result, u) < 0) {
                u->error = xstrdup(u->w.timed_out
                                       ? "no result before the --timeout"
                                       : "reading the result failed");
                return -1;
            }
            if (u->done)
                return 1;
        }
        if (u->o->deadline_us && cli_now_us() > u->o->deadline_us) {
            u->error = xstrdup("no result before the --timeout (the upload "
                               "was not taken by a worker)");
            return -1;
        }
        hashup_sleep_ms(sleep_ms);
        since_look += sleep_ms;
        sleep_ms = sleep_ms * 2 > 2 ? 2 : sleep_ms * 2;
    }
}

/* Appends one entry: n=off plus d=data, or end=off when data is NULL. */
static int
hashup_append(struct hashup *u, uint64_t off, const unsigned char *data,
              size_t len)
{
    char n[24];
    snprintf(n, sizeof(n), "%llu", (unsigned long long)off);
    const char *argv[] = {"XADD", u->key, "*", "n", n,
                          data ? "d" : "end", data ? (const char *)data : n};
    size_t lens[] = {4, strlen(u->key), 1, 1, strlen(n), data ? 1 : 3,
                     data ? len : strlen(n)};
    const char *exp[] = {"PEXPIRE", u->key, HASHUP_TTL_MS};
    conn_append(u->c, 7, argv, lens);
    conn_append(u->c, 3, exp, NULL);
    int rc = hashup_check(u, conn_reply(u->c), "adding to the upload");
    if (hashup_check(u, conn_reply(u->c), "setting the upload's TTL") < 0)
        rc = -1;
    return rc;
}

/* One attempt: HASHUP_OK etc., or -2 to send again (UploadLost). */
static int
hashup_attempt(struct hashup *u, int fd, uint64_t size, unsigned char *buf)
{
    char token[33];
    token_hex(token, 32);
    if (keys_upload(u->key, sizeof(u->key), u->o->prefix, token) < 0) {
        u->error = xstrdup("--prefix is too long for an upload key");
        return HASHUP_FAILED;
    }
    if (hashup_send_task(u, size) < 0)
        return HASHUP_FAILED;
    uint64_t off = 0;
    for (;;) {
        ssize_t got = 0;
        if (off < size) {
            size_t want = size - off < HASHUP_PIECE ? (size_t)(size - off)
                                                    : HASHUP_PIECE;
            got = pread(fd, buf, want, (off_t)off);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0) {
                u->error = xasprintf("cannot read: %s", strerror(errno));
                return HASHUP_UNREADABLE;
            }
            if (got == 0) {
                u->error = xasprintf("the file shrank while it was sent "
                                     "(%llu of %llu bytes read)",
                                     (unsigned long long)off,
                                     (unsigned long long)size);
                return HASHUP_UNREADABLE;
            }
        }
        int w = hashup_window(u);
        if (w < 0)
            return u->w.timed_out || (u->o->deadline_us &&
                                      cli_now_us() > u->o->deadline_us)
                       ? HASHUP_TIMEOUT
                       : HASHUP_FAILED;
        if (w > 0)
            break; /* a result came early: a failure */
        if (off >= size) {
            if (hashup_append(u, off, NULL, 0) < 0)
                return HASHUP_FAILED;
            break;
        }
        if (hashup_append(u, off, buf, (size_t)got) < 0)
            return HASHUP_FAILED;
        off += (uint64_t)got;
    }
    while (!u->done) {
        if (wait_next(&u->w, 1, 1000, hashup_result, u) < 0) {
            u->error = xstrdup(u->w.timed_out ? "no result before the "
                                                "--timeout"
                                              : "reading the result failed");
            return u->w.timed_out ? HASHUP_TIMEOUT : HASHUP_FAILED;
        }
    }
    if (u->lost)
        return -2;
    return u->digest != NULL ? HASHUP_OK : HASHUP_FAILED;
}

int
hashup_file(struct conn *c, const struct hashup_opts *o, int fd,
            uint64_t size, char *digest, size_t digest_len, char **error)
{
    /* hiredis formats each 1 MiB XADD into a fresh buffer: from the heap,
     * reused, instead of a new mapping faulted in page by page each time
     * (that cost the CLI ten times the CPU per byte). */
    mallopt(M_MMAP_THRESHOLD, 8 << 20);
    mallopt(M_TRIM_THRESHOLD, 16 << 20);
    unsigned char *buf = xmalloc(HASHUP_PIECE);
    int rc = HASHUP_FAILED;
    *error = NULL;
    for (int sends = 0; sends <= HASHUP_RESENDS; sends++) {
        struct hashup u = {.c = c, .o = o};
        if (wait_init(&u.w, c, o->prefix, o->deadline_us) < 0) {
            *error = xstrdup("--prefix is too long for a reply stream");
            break;
        }
        rc = hashup_attempt(&u, fd, size, buf);
        if (!conn_lost(c)) {
            redisReply *r = conn_call(c, "DEL", u.key, NULL);
            freeReplyObject(r);
        }
        wait_cleanup(&u.w);
        if (rc == -2 && sends < HASHUP_RESENDS) {
            cli_warnx("%s; sending the file again", u.error);
            free(u.error);
            continue;
        }
        if (rc == -2)
            rc = HASHUP_FAILED;
        if (rc == HASHUP_OK) {
            if (strlen(u.digest) < digest_len)
                memcpy(digest, u.digest, strlen(u.digest) + 1);
            else {
                rc = HASHUP_FAILED;
                u.error = xstrdup("the worker sent a digest too long");
            }
        }
        free(u.digest);
        *error = u.error;
        break;
    }
    free(buf);
    return rc;
}
