/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for a task message, the bytes a producer puts in the
 * "msg" field of a stream entry.  Each input goes through the decoders one
 * by one (message_decode, policy_decode, hashtask_decode), then through the
 * child's whole path exec_run() (decode, expiry, task, hash, result) and the
 * parent's exec_failure() (a lost child, a time limit with a retry).
 *
 * Besides the sanitizers it checks what PROTOCOL.md promises: every result
 * document is JSON of the documented shape, carries a non-empty id, and has
 * the status and error type the decoders predict; a SUCCESS has the digest
 * OpenSSL computes directly; a RETRY carries a message the worker will
 * accept again, with one more retry counted.
 */
#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "exec.h"
#include "hashtask.h"
#include "keys.h"
#include "message.h"
#include "policy.h"
#include "result.h"
#include "version.h"

/*
 * Inputs above this size are refused: they add nothing a smaller input
 * cannot reach and slow every run.
 */
#define FUZZ_MAX_INPUT (64 * 1024)
/*
 * A hash task with more iterations than this is decoded but not run: the
 * protocol allows 10,000,000, which takes seconds under ASan, and rounds
 * 2..n all run the same code.  The check reads "iterations" from the tree
 * message_decode() built, so no spelling of the key or the number (escapes,
 * exponent, duplicates) can slip past it.
 */
#define FUZZ_MAX_ITERATIONS 1000
#define FUZZ_ENTRY_ID "1700000000000-0"
#define FUZZ_QUEUE "celeriac:queue:default"
#define FUZZ_WORKER "fuzzhost:4242"
#define FUZZ_ATTEMPTS 2u
/* An expiry this far ahead cannot pass during one run (microseconds). */
#define FUZZ_EXPIRY_MARGIN_US (3600LL * 1000000)

/* Stops the run with the reason; libFuzzer keeps the input as a crash. */
#define FUZZ_CHECK(cond)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* What the harness predicts for the result of one run. */
struct fuzz_expect {
    const char *id;       /* the task id the result must carry */
    const char *task;     /* "task" or NULL */
    const char *reply_to; /* "reply_to" or NULL */
    const char *status;   /* RESULT_*, or NULL when it cannot be told */
    const char *err_type; /* for a failure; NULL when it cannot be told */
    char err_buf[32];     /* storage err_type may point to */
    const char *algorithm;
    size_t bytes;
    char digest[2 * EVP_MAX_MD_SIZE + 1]; /* "": not computed */
};

/* What the harness learnt of the input from the decoders. */
struct fuzz_input {
    struct message m;
    int msg_ok; /* message_decode accepted it */
    struct policy pol;
    int pol_ok;         /* ... and policy_decode too */
    int retries_is_int; /* "retries" is absent or an integer */
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fuzz_known_error(const char *type);
static void fuzz_check_error(const struct proto_error *err);
static void fuzz_check_name(const char *s);
static int fuzz_digest(const struct hashtask *t, char *hex);
static const char *fuzz_get_string(json_t *o, const char *field);
static void fuzz_check_doc(const struct exec_out *out,
                           const struct fuzz_expect *want);
static void fuzz_check_sched(const struct exec_out *out,
                             const struct fuzz_input *in);
static int fuzz_too_slow(json_t *args);
static void fuzz_policy(struct fuzz_input *in, struct fuzz_expect *want);
static int fuzz_hash(size_t size, struct fuzz_input *in,
                     struct fuzz_expect *want);
static void fuzz_started(void *arg, unsigned time_limit_ms);

/* ---- checks ---- */

/* Returns 1 if type is one of the error types of protocol/error.h. */
static int
fuzz_known_error(const char *type)
{
    static const char *const types[] = {
        ERROR_INVALID_MESSAGE,   ERROR_UNKNOWN_TASK,
        ERROR_INVALID_ARGUMENT,  ERROR_PAYLOAD_TOO_LARGE,
        ERROR_UNKNOWN_ALGORITHM, ERROR_WORKER_LOST,
        ERROR_TIME_LIMIT,        ERROR_EXPIRED,
        ERROR_MAX_DELIVERIES,    ERROR_INTERNAL,
    };
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return 1;
    return 0;
}

/* A filled proto_error: a known type and a terminated, non-empty message. */
static void
fuzz_check_error(const struct proto_error *err)
{
    FUZZ_CHECK(memchr(err->type, '\0', sizeof(err->type)) != NULL);
    FUZZ_CHECK(memchr(err->message, '\0', sizeof(err->message)) != NULL);
    FUZZ_CHECK(fuzz_known_error(err->type));
    FUZZ_CHECK(err->message[0] != '\0');
}

/* A decoded id, task or reply_to: 1..PROTOCOL_MAX_NAME bytes. */
static void
fuzz_check_name(const char *s)
{
    size_t n = strlen(s);
    FUZZ_CHECK(n >= 1 && n <= PROTOCOL_MAX_NAME);
}

/*
 * Computes the lowercase hex digest of *t with OpenSSL, independently of
 * worker/hash.c, into hex.  Returns 0; -1 when OpenSSL has no fixed-size
 * digest of that name (the worker must answer UnknownAlgorithm); -2 when
 * OpenSSL itself failed (nothing is predicted).
 */
static int
fuzz_digest(const struct hashtask *t, char *hex)
{
    unsigned char buf[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    int rc = 0;
    EVP_MD *md = EVP_MD_fetch(NULL, t->algorithm, NULL);

    if (md == NULL) {
        ERR_clear_error();
        return -1;
    }
    int size = EVP_MD_get_size(md);
    if (size <= 0 || size > 64 || (EVP_MD_get_flags(md) & EVP_MD_FLAG_XOF)) {
        rc = -1;
        goto done;
    }
    const unsigned char *in = t->data;
    size_t in_len = t->len;
    for (unsigned long i = 0; i < t->iterations; i++) {
        int ok;
        if (t->key != NULL)
            ok = HMAC(md, t->key, (int)t->key_len, in, in_len, buf, &n) != NULL;
        else
            ok = EVP_Digest(in, in_len, buf, &n, md, NULL);
        if (!ok) {
            ERR_clear_error();
            rc = -2;
            goto done;
        }
        in = buf;
        in_len = n;
    }
    for (unsigned i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", buf[i]);
    hex[2 * n] = '\0';
done:
    EVP_MD_free(md);
    return rc;
}

/* The string o[field] (borrowed), or NULL if missing or not a string. */
static const char *
fuzz_get_string(json_t *o, const char *field)
{
    json_t *v = json_object_get(o, field);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * Checks a result document against PROTOCOL.md ("Result") and against what
 * the harness predicted.
 */
static void
fuzz_check_doc(const struct exec_out *out, const struct fuzz_expect *want)
{
    json_error_t jerr;

    FUZZ_CHECK(out->doc != NULL && out->id != NULL);
    FUZZ_CHECK(strlen(out->doc) == out->doc_len);
    FUZZ_CHECK(strcmp(out->id, want->id) == 0);
    if (want->reply_to != NULL)
        FUZZ_CHECK(out->reply_to != NULL &&
                   strcmp(out->reply_to, want->reply_to) == 0);
    else
        FUZZ_CHECK(out->reply_to == NULL);

    json_t *doc =
        json_loadb(out->doc, out->doc_len, JSON_REJECT_DUPLICATES, &jerr);
    if (doc == NULL)
        fprintf(stderr, "result is not JSON jansson reads (%s): %.300s\n",
                jerr.text, out->doc);
    FUZZ_CHECK(doc != NULL);
    FUZZ_CHECK(json_is_object(doc));

    const char *id = fuzz_get_string(doc, "id");
    FUZZ_CHECK(id != NULL && id[0] != '\0' && strcmp(id, out->id) == 0);
    json_t *task = json_object_get(doc, "task");
    if (want->task != NULL)
        FUZZ_CHECK(json_is_string(task) &&
                   strcmp(json_string_value(task), want->task) == 0);
    else
        FUZZ_CHECK(json_is_null(task));
    const char *worker = fuzz_get_string(doc, "worker");
    FUZZ_CHECK(worker != NULL && strcmp(worker, FUZZ_WORKER) == 0);
    json_t *attempts = json_object_get(doc, "attempts");
    FUZZ_CHECK(json_is_integer(attempts) &&
               json_integer_value(attempts) == FUZZ_ATTEMPTS);
    FUZZ_CHECK(fuzz_get_string(doc, "started_at") != NULL);
    FUZZ_CHECK(fuzz_get_string(doc, "finished_at") != NULL);
    FUZZ_CHECK(json_is_integer(json_object_get(doc, "runtime_us")));

    const char *status = fuzz_get_string(doc, "status");
    FUZZ_CHECK(status != NULL);
    if (want->status != NULL && strcmp(status, want->status) != 0)
        fprintf(stderr, "status %s, expected %s: %.300s\n", status,
                want->status, out->doc);
    FUZZ_CHECK(want->status == NULL || strcmp(status, want->status) == 0);
    json_t *result = json_object_get(doc, "result");
    json_t *error = json_object_get(doc, "error");
    FUZZ_CHECK(result != NULL && error != NULL);
    if (strcmp(status, RESULT_SUCCESS) == 0) {
        FUZZ_CHECK(out->status == EXEC_SUCCESS);
        FUZZ_CHECK(json_is_null(error));
        FUZZ_CHECK(json_is_object(result));
        const char *alg = fuzz_get_string(result, "algorithm");
        const char *digest = fuzz_get_string(result, "digest");
        json_t *bytes = json_object_get(result, "bytes");
        FUZZ_CHECK(want->algorithm != NULL);
        FUZZ_CHECK(alg != NULL && strcmp(alg, want->algorithm) == 0);
        FUZZ_CHECK(json_is_integer(bytes) &&
                   (size_t)json_integer_value(bytes) == want->bytes);
        FUZZ_CHECK(digest != NULL);
        size_t n = strlen(digest);
        FUZZ_CHECK(n >= 2 && n % 2 == 0 && n <= 2 * EVP_MAX_MD_SIZE);
        FUZZ_CHECK(strspn(digest, "0123456789abcdef") == n);
        if (want->digest[0] != '\0')
            FUZZ_CHECK(strcmp(digest, want->digest) == 0);
    } else {
        if (strcmp(status, RESULT_FAILURE) == 0)
            FUZZ_CHECK(out->status == EXEC_FAILURE);
        else if (strcmp(status, RESULT_RETRY) == 0)
            FUZZ_CHECK(out->status == EXEC_RETRY);
        else if (strcmp(status, RESULT_EXPIRED) == 0)
            FUZZ_CHECK(out->status == EXEC_EXPIRED);
        else
            FUZZ_CHECK(!"status is one of SUCCESS FAILURE RETRY EXPIRED");
        FUZZ_CHECK(json_is_null(result));
        FUZZ_CHECK(json_is_object(error));
        const char *type = fuzz_get_string(error, "type");
        const char *message = fuzz_get_string(error, "message");
        FUZZ_CHECK(type != NULL && fuzz_known_error(type));
        FUZZ_CHECK(message != NULL && message[0] != '\0');
        if (want->err_type != NULL && strcmp(type, want->err_type) != 0)
            fprintf(stderr, "error %s, expected %s: %.300s\n", type,
                    want->err_type, out->doc);
        FUZZ_CHECK(want->err_type == NULL || strcmp(type, want->err_type) == 0);
    }
    FUZZ_CHECK((out->status == EXEC_RETRY) == (out->sched != NULL));
    json_decref(doc);
}

/*
 * Checks the message a RETRY schedules: the worker must accept it again,
 * addressed to the same task id and queue, with one more retry counted and
 * this attempt's error appended.
 */
static void
fuzz_check_sched(const struct exec_out *out, const struct fuzz_input *in)
{
    struct message m = MESSAGE_INIT;
    struct policy pol;
    struct proto_error err;

    FUZZ_CHECK(out->sched != NULL);
    if (message_decode(out->sched, strlen(out->sched), &m, &err) < 0)
        fprintf(stderr, "scheduled message refused (%s: %s): %.300s\n",
                err.type, err.message, out->sched);
    FUZZ_CHECK(m.root != NULL && m.task != NULL);
    FUZZ_CHECK(strcmp(m.task, in->m.task) == 0);
    FUZZ_CHECK(m.id != NULL && strcmp(m.id, out->id) == 0);
    if (policy_decode(m.root, &pol, &err) < 0)
        fprintf(stderr, "scheduled message refused (%s: %s): %.300s\n",
                err.type, err.message, out->sched);
    FUZZ_CHECK(policy_decode(m.root, &pol, NULL) == 0);
    FUZZ_CHECK(pol.max_retries == in->pol.max_retries);
    /*
     * policy_decode takes "retries": 2.5 as 2, but policy_reschedule counts
     * only an integer and writes 1; not checked here until one of them
     * changes.
     */
    if (in->retries_is_int)
        FUZZ_CHECK(pol.retries == in->pol.retries + 1);
    const char *queue = fuzz_get_string(m.root, "queue");
    FUZZ_CHECK(queue != NULL && strcmp(queue, FUZZ_QUEUE) == 0);
    json_t *errors = json_object_get(m.root, "errors");
    FUZZ_CHECK(json_is_array(errors) && json_array_size(errors) > 0);
    json_t *last = json_array_get(errors, json_array_size(errors) - 1);
    FUZZ_CHECK(json_is_object(last) && fuzz_get_string(last, "type") != NULL);
    message_clear(&m);
}

/* Returns 1 if args asks for more hash iterations than a run can afford. */
static int
fuzz_too_slow(json_t *args)
{
    json_t *it = json_object_get(args, "iterations");
    return json_is_integer(it) && json_integer_value(it) > FUZZ_MAX_ITERATIONS;
}

/* ---- predictions ---- */

/* Runs policy_decode on a decoded message and predicts expiry. */
static void
fuzz_policy(struct fuzz_input *in, struct fuzz_expect *want)
{
    struct proto_error err;

    memset(&err, 0, sizeof(err));
    json_t *r = json_object_get(in->m.root, "retries");
    in->retries_is_int = r == NULL || json_is_null(r) || json_is_integer(r);
    if (policy_decode(in->m.root, &in->pol, &err) < 0) {
        fuzz_check_error(&err);
        FUZZ_CHECK(strcmp(err.type, ERROR_INVALID_MESSAGE) == 0);
        want->status = RESULT_FAILURE;
        want->err_type = ERROR_INVALID_MESSAGE;
        return;
    }
    in->pol_ok = 1;
    const struct policy *p = &in->pol;
    /* reply_to outside the reply namespace: refused before expiry. */
    int reply_bad = in->m.reply_to != NULL &&
                    !keys_is_reply(KEYS_DEFAULT_PREFIX, in->m.reply_to);
    if (reply_bad) {
        want->status = RESULT_FAILURE;
        want->err_type = ERROR_INVALID_MESSAGE;
    }
    FUZZ_CHECK(p->time_limit >= 0 && p->backoff >= 0 && p->backoff_max >= 0);
    FUZZ_CHECK(p->max_retries <= POLICY_MAX_RETRIES);
    FUZZ_CHECK(p->expires_us >= 0);
    for (int i = 0; i < 3; i++) {
        int64_t ms = policy_backoff_ms(p, i * 0.4999);
        FUZZ_CHECK(ms >= POLICY_MIN_BACKOFF_MS &&
                   (ms == POLICY_MIN_BACKOFF_MS ||
                    ms <= (int64_t)(p->backoff_max * 1000) + 1));
    }
    if (p->expires_us > 0 && !reply_bad) {
        int64_t now = result_now_us();
        if (p->expires_us < now) {
            want->status = RESULT_EXPIRED;
            want->err_type = ERROR_EXPIRED;
        } else if (p->expires_us - now < FUZZ_EXPIRY_MARGIN_US) {
            want->status = NULL; /* may expire while we run */
            want->err_type = NULL;
        }
    }
}

/*
 * Runs hashtask_decode on the arguments of a decoded message and predicts
 * what exec_run answers when the message is not expired.  Returns 1 when
 * the task would run too long to be run here.
 */
static int
fuzz_hash(size_t size, struct fuzz_input *in, struct fuzz_expect *want)
{
    struct hashtask t;
    struct proto_error err;
    int is_hash = strcmp(in->m.task, HASHTASK_NAME) == 0;
    int slow = fuzz_too_slow(in->m.args);

    memset(&err, 0, sizeof(err));
    if (!is_hash) {
        want->status = RESULT_FAILURE;
        want->err_type = ERROR_UNKNOWN_TASK;
    }
    /* exec_run takes the source out first (data, data_b64, url, path,
     * accept_status), then the task checks the rest: the same order. */
    static const char *const sources[] = {"data", "data_b64", "url", "path"};
    int nsources = 0;
    for (size_t i = 0; i < sizeof(sources) / sizeof(sources[0]); i++)
        nsources += json_object_get(in->m.args, sources[i]) != NULL;
    if (is_hash && (nsources > 1 ||
                    json_object_get(in->m.args, "url") != NULL ||
                    json_object_get(in->m.args, "path") != NULL ||
                    json_object_get(in->m.args, "accept_status") != NULL)) {
        /* Refused: InvalidArgument or InvalidMessage (a url or path
         * reaching a child as it is), depending on which fault is first. */
        want->status = RESULT_FAILURE;
        want->err_type = NULL;
        return slow;
    }
    if (is_hash && nsources == 0) { /* no bytes: refused before the rest */
        want->status = RESULT_FAILURE;
        want->err_type = ERROR_INVALID_ARGUMENT;
        return slow;
    }
    if (is_hash && nsources == 1) {
        const unsigned char *data;
        size_t len;
        unsigned char *owned;
        int present;
        if (hashtask_inline(in->m.args, &data, &len, &owned, &present,
                            &err) < 0) {
            fuzz_check_error(&err);
            FUZZ_CHECK(owned == NULL);
            snprintf(want->err_buf, sizeof(want->err_buf), "%s", err.type);
            want->status = RESULT_FAILURE;
            want->err_type = want->err_buf;
            return slow;
        }
        free(owned);
    }
    if (hashtask_decode(in->m.args, &t, &err) < 0) {
        fuzz_check_error(&err);
        FUZZ_CHECK(t.data_owned == NULL && t.key_owned == NULL);
        if (is_hash) {
            snprintf(want->err_buf, sizeof(want->err_buf), "%s", err.type);
            want->status = RESULT_FAILURE;
            want->err_type = want->err_buf;
        }
        return slow;
    }
    FUZZ_CHECK(t.algorithm != NULL && t.data != NULL);
    FUZZ_CHECK(t.len <= PROTOCOL_MAX_DATA);
    FUZZ_CHECK(t.iterations >= 1 && t.iterations <= PROTOCOL_MAX_ITERATIONS);
    FUZZ_CHECK(t.key != NULL || t.key_len == 0);
    FUZZ_CHECK(t.key_len <= PROTOCOL_MAX_HMAC_KEY);
    /* Decoded bytes of a small message cannot outgrow it. */
    FUZZ_CHECK(t.len <= size && t.key_len <= size);
    if (is_hash) {
        want->status = RESULT_SUCCESS;
        want->err_type = NULL;
        want->algorithm = t.algorithm;
        want->bytes = t.len;
        if (!slow) {
            int rc = fuzz_digest(&t, want->digest);
            if (rc == -1) {
                want->status = RESULT_FAILURE;
                want->err_type = ERROR_UNKNOWN_ALGORITHM;
            } else if (rc == -2) {
                want->status = NULL; /* InternalError, may be retried */
            }
        }
    }
    /* The algorithm name outlives t: it borrows from the message. */
    hashtask_clear(&t);
    return slow;
}

/* env->started: the time limit exec_run announces must be positive. */
static void
fuzz_started(void *arg, unsigned time_limit_ms)
{
    unsigned *seen = arg;
    FUZZ_CHECK(time_limit_ms > 0);
    *seen = time_limit_ms;
}

/* ---- the target ---- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *msg = (const char *)data;
    struct fuzz_input in;
    struct proto_error err;
    struct exec_out out;
    struct fuzz_expect want;
    unsigned started_ms = 0;
    struct exec_env env = {
        .worker = FUZZ_WORKER,
        .started = fuzz_started,
        .arg = &started_ms,
    };
    int slow = 0;

    if (size > FUZZ_MAX_INPUT)
        return -1; /* not added to the corpus */
    memset(&in, 0, sizeof(in));
    memset(&want, 0, sizeof(want));
    memset(&err, 0, sizeof(err));

    /* ---- the decoders ---- */
    if (message_decode(msg, size, &in.m, &err) < 0) {
        fuzz_check_error(&err);
        want.status = RESULT_FAILURE;
        want.err_type = err.type;
    } else {
        in.msg_ok = 1;
        FUZZ_CHECK(in.m.root != NULL && in.m.task != NULL);
        FUZZ_CHECK(json_is_object(in.m.args));
        FUZZ_CHECK(in.m.version >= 1 && in.m.version <= PROTOCOL_VERSION);
        fuzz_check_name(in.m.task);
    }
    /* Set even on failure, as long as they were read. */
    if (in.m.id != NULL)
        fuzz_check_name(in.m.id);
    if (in.m.reply_to != NULL)
        fuzz_check_name(in.m.reply_to);
    char derived[KEYS_MAX];
    FUZZ_CHECK(keys_task_id(derived, sizeof(derived), FUZZ_QUEUE,
                            FUZZ_ENTRY_ID) == 0);
    want.id = in.m.id ? in.m.id : derived;
    want.task = in.m.task;
    want.reply_to = in.m.reply_to != NULL &&
                            keys_is_reply(KEYS_DEFAULT_PREFIX, in.m.reply_to)
                        ? in.m.reply_to
                        : NULL;
    if (in.msg_ok) {
        /* hashtask first: policy and expiry come before the task. */
        slow = fuzz_hash(size, &in, &want);
        fuzz_policy(&in, &want);
    }

    /* ---- exec_run: the child's whole path ---- */
    if (!slow) {
        exec_run(&env, FUZZ_ENTRY_ID, FUZZ_QUEUE, msg, size, FUZZ_ATTEMPTS,
                 &out);
        fuzz_check_doc(&out, &want);
        if (out.status == EXEC_RETRY)
            fuzz_check_sched(&out, &in);
        /* A time limit is never shorter than the message asked for. */
        if (started_ms != 0 && in.pol_ok && in.pol.time_limit > 0) {
            double asked = in.pol.time_limit * 1000;
            if (asked > 4294967295.0)
                asked = 4294967295.0;
            FUZZ_CHECK(started_ms >= asked - 1);
        }
        exec_out_clear(&out);
        FUZZ_CHECK(out.id == NULL && out.doc == NULL && out.sched == NULL);
    }

    /* ---- exec_failure: a lost child is never retried here ---- */
    want.status = RESULT_FAILURE;
    want.err_type = ERROR_WORKER_LOST;
    exec_failure(&env, FUZZ_ENTRY_ID, FUZZ_QUEUE, msg, size, FUZZ_ATTEMPTS,
                 ERROR_WORKER_LOST, "the child running this task died",
                 result_now_us(), 0, &out);
    fuzz_check_doc(&out, &want);
    exec_out_clear(&out);

    /* ---- exec_failure: a time limit, retried while retries remain ---- */
    int retry = in.pol_ok && in.pol.retries < in.pol.max_retries;
    want.status = retry ? RESULT_RETRY : RESULT_FAILURE;
    want.err_type = ERROR_TIME_LIMIT;
    exec_failure(&env, FUZZ_ENTRY_ID, FUZZ_QUEUE, msg, size, FUZZ_ATTEMPTS,
                 ERROR_TIME_LIMIT, "the task ran past its time limit",
                 result_now_us(), 1, &out);
    fuzz_check_doc(&out, &want);
    if (retry) {
        FUZZ_CHECK(out.due_ms > 0);
        fuzz_check_sched(&out, &in);
    }
    exec_out_clear(&out);

    message_clear(&in.m);
    return 0;
}
