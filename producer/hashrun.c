/* SPDX-License-Identifier: MIT */
/* Files to hash tasks and back, pipelined, in order, in bounded memory. */
#include "hashrun.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "build.h"
#include "cli.h"
#include "hashtask.h"
#include "hashup.h"
#include "result.h"
#include "submit.h"
#include "version.h"
#include "wait.h"
#include "xmalloc.h"

/* A chunk is sent in one round trip: this many tasks or bytes at most. */
#define HASHRUN_CHUNK_TASKS 1000
#define HASHRUN_CHUNK_BYTES (8u << 20)
/* Longest remote path (the workers' PATHSRC_MAX_NAME). */
#define HASHRUN_MAX_PATH 4096
/* At most this many tasks in flight, however small the files. */
#define HASHRUN_MAX_INFLIGHT 100000
#define HASHRUN_READ_COUNT 1000
#define HASHRUN_BLOCK_MS 5000

/* A task message built but not yet confirmed by Redis. */
struct hashrun_msg {
    size_t job; /* index into jobs */
    char *text; /* the message; owned */
    size_t len;
};

struct hashrun {
    struct conn *conn;            /* borrowed */
    const struct hashrun_opts *o; /* borrowed */
    struct submit sub;
    struct wait wait;
    struct hashjob *jobs; /* borrowed */
    size_t n;
    struct hashrun_msg chunk[HASHRUN_CHUNK_TASKS];
    size_t nchunk;
    uint64_t inflight_bytes; /* sizes of SENT and QUEUED jobs */
    size_t inflight;         /* their number */
    json_t *args;            /* {"algorithm": A}; owned */
    int failed;              /* a Redis error ended the run */
    size_t *order;           /* indexes of jobs in the order they were
                                DONE; owned */
    size_t order_head, order_tail; /* handed out / DONE so far */
};

static int hashrun_readable(int fd, int64_t deadline_us);
static int hashrun_load(struct hashjob *j, int64_t deadline_us,
                        unsigned char **data, size_t *len);
static char *hashrun_message(struct hashrun *h, size_t index,
                             const unsigned char *data, size_t len,
                             size_t *msglen);
static void hashrun_finish(struct hashrun *h, struct hashjob *j, int outcome,
                           char *error);
static void hashrun_done(struct hashrun *h, struct hashjob *j);
static int hashrun_check_source(struct hashrun *h, struct hashjob *j);
static int hashrun_send_chunk(struct hashrun *h);
static void hashrun_result(const char *doc, size_t len, void *arg);

/*
 * Waits until fd has bytes (or end of file) to read, or deadline_us
 * passes (0: no deadline).  Returns 1 when readable, 0 at the deadline, -1
 * on a poll() error (errno set).
 */
static int
hashrun_readable(int fd, int64_t deadline_us)
{
    struct pollfd pfd = {fd, POLLIN, 0};
    for (;;) {
        int ms = -1;
        if (deadline_us != 0) {
            int64_t left = deadline_us - cli_now_us();
            ms = left <= 0         ? 0
                 : left >= INT_MAX ? INT_MAX
                                   : (int)((left + 999) / 1000);
        }
        int r = poll(&pfd, 1, ms);
        if (r < 0 && errno == EINTR)
            continue;
        return r < 0 ? -1 : r > 0;
    }
}

/*
 * Reads a whole file (at most PROTOCOL_MAX_DATA bytes).  A FIFO, device
 * or standard input is read only while deadline_us (0: none) has not
 * passed: a FIFO is opened without waiting for a writer (O_NONBLOCK), then
 * polled.  Returns 0 with *data (owned by the caller) and *len, or -1 with
 * j finished as UNREADABLE, or TIMEOUT at the deadline.
 */
static int
hashrun_load(struct hashjob *j, int64_t deadline_us, unsigned char **data,
             size_t *len)
{
    int stdin_ = strcmp(j->path, "-") == 0;
    int fd = stdin_ ? STDIN_FILENO
                    : open(j->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    unsigned char *buf = NULL;
    size_t cap = 65536, n = 0;
    struct stat st;
    int regular = 0;

    if (fd < 0)
        goto fail_errno;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        regular = 1;
        if ((uint64_t)st.st_size > PROTOCOL_MAX_DATA) {
            j->error =
                xasprintf("file is %llu bytes; a hash task takes at "
                          "most %u bytes (32 MiB) — hash it locally "
                          "with sha512sum",
                          (unsigned long long)st.st_size, PROTOCOL_MAX_DATA);
            goto fail;
        }
        cap = (size_t)st.st_size + 1; /* +1: see EOF in one read */
    }
    buf = xmalloc(cap);
    for (;;) {
        if (n == cap) {
            if (cap > PROTOCOL_MAX_DATA) {
                j->error = xasprintf("more than %u bytes (32 MiB), the most "
                                     "a hash task takes — hash it locally "
                                     "with sha512sum",
                                     PROTOCOL_MAX_DATA);
                goto fail;
            }
            cap = cap * 2 > PROTOCOL_MAX_DATA + 1 ? PROTOCOL_MAX_DATA + 1
                                                  : cap * 2;
            buf = xrealloc(buf, cap);
        }
        if (!regular) {
            int ready = hashrun_readable(fd, deadline_us);
            if (ready < 0)
                goto fail_errno;
            if (ready == 0) {
                j->error = xstrdup("nothing to read before the --timeout "
                                   "(a FIFO nobody writes to?)");
                j->outcome = HASHJOB_TIMEOUT;
                goto fail_outcome;
            }
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0)
            goto fail_errno;
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if (n > PROTOCOL_MAX_DATA) {
        j->error = xasprintf("file is more than %u bytes (32 MiB), the most "
                             "a hash task takes — hash it locally with "
                             "sha512sum",
                             PROTOCOL_MAX_DATA);
        goto fail;
    }
    if (!stdin_)
        close(fd);
    *data = buf;
    *len = n;
    return 0;
fail_errno:
    j->missing = errno == ENOENT;
    j->error = xstrdup(strerror(errno));
fail:
    j->outcome = HASHJOB_UNREADABLE;
fail_outcome:
    if (fd >= 0 && !stdin_)
        close(fd);
    free(buf);
    j->state = HASHJOB_DONE;
    return -1;
}

/* 1 when path names a regular file too large to go in a message. */
static int
hashrun_big(const char *path)
{
    struct stat st;
    return strcmp(path, "-") != 0 && stat(path, &st) == 0 &&
           S_ISREG(st.st_mode) && (uint64_t)st.st_size > PROTOCOL_MAX_DATA;
}

/*
 * Hashes j, a large regular file, through an upload stream (hashup.h)
 * and marks it DONE.  Blocks until its result is in (the results of the
 * tasks sent before it wait in the reply stream meanwhile).
 */
static void
hashrun_upload(struct hashrun *h, struct hashjob *j)
{
    struct hashup_opts uo = {
        .prefix = h->o->prefix,
        .queue = h->o->queue,
        .algorithm = h->o->algorithm,
        .deadline_us = h->o->deadline_us,
    };
    struct stat st;
    char *error = NULL;
    int fd = open(j->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        j->missing = fd < 0 && errno == ENOENT;
        hashrun_finish(h, j, HASHJOB_UNREADABLE,
                       xstrdup(fd < 0 ? strerror(errno)
                                      : "not a regular file any more"));
        if (fd >= 0)
            close(fd);
        return;
    }
    int r = hashup_file(h->conn, &uo, fd, (uint64_t)st.st_size, j->digest,
                        sizeof(j->digest), &error);
    close(fd);
    j->size = (uint64_t)st.st_size;
    if (r == HASHUP_OK && h->o->hexlen != 0 &&
        strlen(j->digest) != h->o->hexlen) {
        r = HASHUP_FAILED;
        error = xstrdup("the worker sent a digest of the wrong length");
    }
    hashrun_finish(h, j,
                   r == HASHUP_OK          ? HASHJOB_OK
                   : r == HASHUP_TIMEOUT   ? HASHJOB_TIMEOUT
                   : r == HASHUP_UNREADABLE ? HASHJOB_UNREADABLE
                                           : HASHJOB_FAILED,
                   error);
}

/*
 * Checks a URL or remote path before it is sent: one the workers would
 * refuse for its form alone fails here, with the reason.  Returns 0, or
 * -1 with j DONE (UNREADABLE).
 */
static int
hashrun_check_source(struct hashrun *h, struct hashjob *j)
{
    const char *s = j->path;
    size_t len = strlen(s);
    const char *what = h->o->source == HASHRUN_SRC_URL ? "URL" : "path";
    size_t max = h->o->source == HASHRUN_SRC_URL ? HASHRUN_MAX_SOURCE
                                                 : HASHRUN_MAX_PATH;
    json_t *v;

    if (len == 0) {
        j->error = xasprintf("empty %s", what);
    } else if (len > max) {
        j->error = xasprintf("%s of %zu bytes: the most a task takes is %zu",
                             what, len, max);
    } else if ((v = json_string(s)) == NULL) {
        j->error = xasprintf("the %s is not valid UTF-8 (a task message "
                             "carries it as a JSON string): %s",
                             what,
                             h->o->source == HASHRUN_SRC_URL
                                 ? "percent-encode it"
                                 : "rename the file or hash it locally");
    } else {
        json_decref(v);
        if (h->o->source != HASHRUN_SRC_URL ||
            strncasecmp(s, "http://", 7) == 0 ||
            strncasecmp(s, "https://", 8) == 0)
            return 0;
        j->error = xstrdup("not an http:// or https:// URL: workers fetch "
                           "only those");
    }
    j->outcome = HASHJOB_UNREADABLE;
    hashrun_done(h, j);
    return -1;
}

/*
 * Builds the task message for job index: "hash" with {"algorithm": A,
 * "data_b64": B}, its id and reply_to, the data base64-encoded straight
 * into the message (for a 32 MiB file this saves several copies of 43 MiB
 * of base64); or, with a url or path source, {"algorithm": A, "url": U}
 * or {..., "path": P}.  Returns the message (owned by the caller) and its
 * length in *msglen, or NULL (printed).
 */
static char *
hashrun_message(struct hashrun *h, size_t index, const unsigned char *data,
                size_t len, size_t *msglen)
{
    char id[WAIT_TOKEN_LEN + 32];
    struct build b = BUILD_INIT;
    snprintf(id, sizeof(id), "%s:%zu", h->wait.token, index);
    struct build_spec spec = {
        .task = HASHTASK_NAME,
        .args = h->args,
        .id = id,
        .reply_to = h->wait.key,
    };
    if (h->o->source == HASHRUN_SRC_FILE) {
        spec.payload_field = HASHTASK_DATA_B64;
        spec.payload = data;
        spec.payload_len = len;
    } else {
        spec.source_field =
            h->o->source == HASHRUN_SRC_URL ? BUILD_F_URL : BUILD_F_PATH;
        spec.source = h->jobs[index].path;
        if (h->o->source == HASHRUN_SRC_URL)
            spec.accept_status = h->o->accept_status;
    }
    int r = build_message(&b, &spec);
    if (r < 0) {
        cli_warnx("%s", build_strerror(r));
        build_free(&b);
        return NULL;
    }
    return build_take(&b, msglen);
}

/* Marks j DONE and queues it to be handed out (once per job). */
static void
hashrun_done(struct hashrun *h, struct hashjob *j)
{
    j->state = HASHJOB_DONE;
    h->order[h->order_tail++] = (size_t)(j - h->jobs);
}

/* Marks j DONE (taking error) and gives back its window share. */
static void
hashrun_finish(struct hashrun *h, struct hashjob *j, int outcome, char *error)
{
    if (j->state == HASHJOB_SENT || j->state == HASHJOB_QUEUED) {
        h->inflight_bytes -= j->size;
        h->inflight--;
    }
    j->outcome = outcome;
    free(j->error);
    j->error = error;
    hashrun_done(h, j);
}

/*
 * Sends the chunk and reads Redis' confirmations.  When the connection is
 * lost it reconnects and sends again what was not confirmed.  Returns 0,
 * or -1 with h->failed set (Redis error, printed) or not (deadline passed
 * while reconnecting).
 */
static int
hashrun_send_chunk(struct hashrun *h)
{
    size_t first = 0; /* chunk[first..] are not confirmed yet */

    while (first < h->nchunk) {
        if (conn_lost(h->conn) &&
            conn_reconnect(h->conn, h->o->deadline_us) < 0)
            return -1;
        if (submit_ensure_group(&h->sub) < 0) {
            if (conn_lost(h->conn))
                continue;
            h->failed = 1;
            return -1;
        }
        for (size_t i = first; i < h->nchunk; i++)
            submit_append(&h->sub, h->chunk[i].text, h->chunk[i].len);
        if (conn_flush(h->conn) < 0)
            continue;
        for (; first < h->nchunk; first++) {
            struct hashrun_msg *m = &h->chunk[first];
            struct hashjob *j = &h->jobs[m->job];
            redisReply *r = conn_reply(h->conn);
            if (r == NULL)
                break;
            if (r->type == REDIS_REPLY_STRING) {
                if (j->state == HASHJOB_SENT)
                    j->state = HASHJOB_QUEUED;
            } else if (j->state != HASHJOB_DONE) {
                char *why = xasprintf(
                    "Redis refused the task: %s",
                    r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
                hashrun_finish(h, j, HASHJOB_FAILED, why);
            }
            freeReplyObject(r);
            free(m->text);
            m->text = NULL;
        }
    }
    h->nchunk = 0;
    return 0;
}

/* wait_fn: records the outcome of one of our tasks. */
static void
hashrun_result(const char *doc, size_t len, void *arg)
{
    struct hashrun *h = arg;
    json_t *root = json_loadb(doc, len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, RESULT_F_ID));
    const char *status;
    char *end;

    if (id == NULL || strncmp(id, h->wait.token, WAIT_TOKEN_LEN) != 0 ||
        id[WAIT_TOKEN_LEN] != ':')
        goto done;
    errno = 0;
    unsigned long long index = strtoull(id + WAIT_TOKEN_LEN + 1, &end, 10);
    if (errno != 0 || *end != '\0' || index >= h->n)
        goto done;
    struct hashjob *j = &h->jobs[index];
    if (j->state != HASHJOB_SENT && j->state != HASHJOB_QUEUED)
        goto done; /* a duplicate */

    status = json_string_value(json_object_get(root, RESULT_F_STATUS));
    if (status != NULL && strcmp(status, RESULT_SUCCESS) == 0) {
        json_t *res = json_object_get(root, RESULT_F_RESULT);
        const char *digest = json_string_value(json_object_get(res, RESULT_F_DIGEST));
        size_t dlen = digest ? strlen(digest) : 0;
        if (digest == NULL || dlen >= sizeof(j->digest) ||
            (h->o->hexlen != 0 && dlen != h->o->hexlen) ||
            strspn(digest, "0123456789abcdef") != dlen) {
            hashrun_finish(h, j, HASHJOB_FAILED,
                           xstrdup("the worker sent a result without a "
                                   "proper hex digest"));
            goto done;
        }
        memcpy(j->digest, digest, dlen + 1);
        hashrun_finish(h, j, HASHJOB_OK, NULL);
    } else {
        json_t *e = json_object_get(root, RESULT_F_ERROR);
        const char *type = json_string_value(json_object_get(e, RESULT_F_ERROR_TYPE));
        const char *msg = json_string_value(json_object_get(e, RESULT_F_ERROR_MESSAGE));
        /* A remote file that is not there counts as missing (-c
         * --ignore-missing skips it). */
        j->missing = type != NULL && strcmp(type, ERROR_FILE_NOT_FOUND) == 0;
        hashrun_finish(h, j, HASHJOB_FAILED,
                       xasprintf("the hash task failed: %s: %s",
                                 type ? type : "no error type",
                                 msg ? msg : "no message"));
    }
done:
    json_decref(root);
}

/* Hands job index to fn and drops its error. */
static void
hashrun_emit(struct hashjob *jobs, size_t index, hashrun_fn *fn, void *arg)
{
    fn(&jobs[index], index, arg);
    free(jobs[index].error);
    jobs[index].error = NULL;
}

int
hashrun_run(struct conn *c, const struct hashrun_opts *o, struct hashjob *jobs,
            size_t n, hashrun_fn *fn, void *arg, int *timed_out)
{
    struct hashrun *h = xcalloc(1, sizeof(*h));
    size_t window = o->window ? o->window : HASHRUN_WINDOW;
    size_t next_send = 0, next_emit = 0, emitted = 0;
    unsigned char *held = NULL; /* data of jobs[next_send], read already */
    size_t held_len = 0;
    int rc = -1;

    *timed_out = 0;
    h->conn = c;
    h->o = o;
    h->jobs = jobs;
    h->n = n;
    h->order = xcalloc(n ? n : 1, sizeof(*h->order));
    if (submit_init(&h->sub, c, o->prefix, o->queue) < 0 ||
        wait_init(&h->wait, c, o->prefix, o->deadline_us) < 0)
        goto done;
    json_t *alg = json_string(o->algorithm), *key = json_string(h->wait.key);
    json_decref(key);
    if (alg == NULL || key == NULL) {
        json_decref(alg);
        cli_warnx("the algorithm name or --prefix is not valid UTF-8");
        goto done;
    }
    h->args = json_object();
    json_object_set_new(h->args, HASHTASK_ALGORITHM, alg);

    while (emitted < n) {
        if (o->progress != NULL)
            progress_update(o->progress, h->order_tail, -1);
        /* Hand out every job whose outcome is known: in list order, or
         * in the order they finished. */
        if (o->unordered) {
            while (h->order_head < h->order_tail) {
                hashrun_emit(jobs, h->order[h->order_head++], fn, arg);
                emitted++;
            }
        } else {
            while (next_emit < n && jobs[next_emit].state == HASHJOB_DONE) {
                hashrun_emit(jobs, next_emit++, fn, arg);
                emitted++;
            }
        }
        if (emitted == n)
            break;

        /* Send what the window allows, one chunk per round trip. */
        size_t chunk_bytes = 0;
        while (next_send < n && h->nchunk < HASHRUN_CHUNK_TASKS &&
               chunk_bytes < HASHRUN_CHUNK_BYTES &&
               h->inflight < HASHRUN_MAX_INFLIGHT) {
            struct hashjob *j = &jobs[next_send];
            if (o->source != HASHRUN_SRC_FILE) {
                if (hashrun_check_source(h, j) < 0) {
                    next_send++;
                    continue;
                }
            } else if (held == NULL && hashrun_big(j->path)) {
                /* Too large for a message: through an upload stream, once
                 * the tasks gathered so far are sent. */
                if (h->nchunk > 0)
                    break;
                hashrun_upload(h, j);
                next_send++;
                continue;
            } else if (held == NULL) {
                if (hashrun_load(j, o->deadline_us, &held, &held_len) < 0) {
                    hashrun_done(h, j);
                    next_send++;
                    continue;
                }
            }
            if (h->inflight_bytes > 0 && h->inflight_bytes + held_len > window)
                break;
            struct hashrun_msg *m = &h->chunk[h->nchunk++];
            m->job = next_send;
            m->text = hashrun_message(h, next_send, held, held_len, &m->len);
            if (m->text == NULL) {
                h->nchunk--;
                goto done;
            }
            free(held);
            held = NULL;
            j->state = HASHJOB_SENT;
            j->size = held_len;
            h->inflight_bytes += held_len;
            h->inflight++;
            chunk_bytes += m->len;
            held_len = 0;
            next_send++;
        }
        if (h->nchunk > 0) {
            if (hashrun_send_chunk(h) < 0) {
                if (h->failed)
                    goto done; /* Redis refused: printed */
                break;         /* the deadline passed */
            }
            continue;
        }
        if (h->inflight == 0)
            continue; /* only local failures to hand out */

        /* Wait for results to free the window. */
        if (wait_next(&h->wait, HASHRUN_READ_COUNT, HASHRUN_BLOCK_MS,
                      hashrun_result, h) < 0) {
            if (!h->wait.timed_out)
                goto done; /* XREAD refused: printed */
            break;
        }
    }

    /* Done, or the deadline passed: what is not done timed out. */
    for (size_t i = 0; i < n; i++) {
        if (jobs[i].state != HASHJOB_DONE) {
            hashrun_finish(h, &jobs[i], HASHJOB_TIMEOUT,
                           xstrdup("no result before the --timeout"));
            *timed_out = 1;
        }
    }
    if (o->unordered) {
        while (h->order_head < h->order_tail)
            hashrun_emit(jobs, h->order[h->order_head++], fn, arg);
    } else {
        while (next_emit < n)
            hashrun_emit(jobs, next_emit++, fn, arg);
    }
    if (o->progress != NULL)
        progress_update(o->progress, h->order_tail, -1);
    rc = 0;
    wait_cleanup(&h->wait);
done:
    for (size_t i = 0; i < h->nchunk; i++)
        free(h->chunk[i].text);
    for (size_t i = 0; i < n; i++) {
        free(jobs[i].error);
        jobs[i].error = NULL;
    }
    free(held);
    free(h->order);
    json_decref(h->args);
    free(h);
    return rc;
}
