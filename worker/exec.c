/* SPDX-License-Identifier: MIT */
/* Task execution: message -> task function -> result document. */
#include "exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hash.h"
#include "hashtask.h"
#include "keys.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "result.h"
#include "xmalloc.h"

/*
 * A task function: runs with its arguments (borrowed) and returns 0 with
 * *value_json set (owned JSON text, the "result" field), or -1 with *err
 * set.
 */
typedef int (*exec_task_fn)(json_t *args, char **value_json,
                            struct proto_error *err);

struct exec_task {
    const char *name;
    exec_task_fn run;
};

/* One attempt's facts, gathered for the result document. */
struct exec_attempt {
    const struct exec_env *env;
    const char *entry_id;
    const char *queue;
    const struct message *m;
    const struct policy *pol; /* NULL when the message did not decode */
    unsigned attempts;
    int64_t started_us;
    const char *msg; /* the message text, NULL when there is none */
    size_t len;
};

static int exec_hash(json_t *args, char **value_json,
                     struct proto_error *err);
static int exec_reply_ok(const struct exec_env *env, const char *reply_to);
static void exec_finish(const struct exec_attempt *a, const char *value,
                        const struct proto_error *err, int may_retry,
                        int expired, struct exec_out *out);
static char *exec_reschedule(const struct exec_attempt *a,
                             const char *task_id,
                             const struct proto_error *err, int64_t now_us);
static void exec_too_large(struct result *r, size_t size, size_t limit,
                           struct exec_out *out);

/* The task registry.  Add new built-in tasks here. */
static const struct exec_task exec_tasks[] = {
    {HASHTASK_NAME, exec_hash},
};

static int
exec_hash(json_t *args, char **value_json, struct proto_error *err)
{
    struct hashtask t;
    unsigned char digest[HASH_MAX_DIGEST];
    char hex[2 * HASH_MAX_DIGEST + 1];
    unsigned n;

    if (hashtask_decode(args, &t, err) < 0)
        return -1;
    if (hash_compute(t.algorithm, t.data, t.len, t.key, t.key_len,
                     t.iterations, digest, &n, err) < 0) {
        hashtask_clear(&t);
        return -1;
    }
    hash_hex(hex, digest, n);
    /* The algorithm name has only [A-Za-z0-9._/-] (hashtask_decode). */
    *value_json = xasprintf("{\"algorithm\":\"%s\",\"digest\":\"%s\","
                            "\"bytes\":%zu}",
                            t.algorithm, hex, t.len);
    hashtask_clear(&t);
    return 0;
}

/* 1 if reply_to names a reply stream of this worker's prefix: a task
 * message must never make a worker write outside celeriac's own keys. */
static int
exec_reply_ok(const struct exec_env *env, const char *reply_to)
{
    return reply_to != NULL &&
           keys_is_reply(env->prefix ? env->prefix : KEYS_DEFAULT_PREFIX,
                         reply_to);
}

/*
 * The message to schedule for the next attempt: the message text as
 * given, its members copied byte for byte, with the worker's bookkeeping
 * ("id", "queue", "retries", "errors") written by the worker.  Owned, or
 * NULL when out of memory.
 */
static char *
exec_reschedule(const struct exec_attempt *a, const char *task_id,
                const struct proto_error *err, int64_t now_us)
{
    static const char *const drop[] = {"id", "queue", "retries", "errors",
                                       NULL};
    size_t n;
    char *add = result_retry_members(
        task_id, a->queue, a->pol->retries + 1,
        json_object_get(a->m->root, "errors"), err->type, err->message,
        now_us);
    char *s = add ? message_with_members(a->msg, a->len, drop, add, &n)
                  : NULL;
    free(add);
    return s;
}

/*
 * Replaces an outcome of size bytes, over limit, by a FAILURE that says so
 * (final: the same message would give the same outcome again).
 */
static void
exec_too_large(struct result *r, size_t size, size_t limit,
               struct exec_out *out)
{
    char why[256];
    snprintf(why, sizeof(why),
             "the result of this task would be %zu bytes with the message "
             "to schedule, over the %zu-byte limit of a result; send a "
             "smaller message (or fewer fields in it)",
             size, limit);
    free(out->doc);
    free(out->sched);
    out->sched = NULL;
    out->due_ms = 0;
    out->status = EXEC_FAILURE;
    r->status = RESULT_FAILURE;
    r->value_json = NULL;
    r->value = NULL;
    r->err_type = ERROR_RESULT_TOO_LARGE;
    r->err_msg = why;
    r->errors = NULL; /* bounded already; dropped to be sure it fits */
    out->doc = result_encode(r, &out->doc_len);
}

/* Encodes the outcome of one attempt into *out. */
static void
exec_finish(const struct exec_attempt *a, const char *value,
            const struct proto_error *err, int may_retry, int expired,
            struct exec_out *out)
{
    const struct message *m = a->m;
    int64_t now = result_now_us();
    char tid[KEYS_MAX];
    if (m->id == NULL &&
        keys_task_id(tid, sizeof(tid), a->queue, a->entry_id) < 0)
        fatalx("%s: task id of entry %s is too long", __func__, a->entry_id);
    struct result r = {
        .id = m->id ? m->id : tid,
        .task = m->task,
        .status = RESULT_SUCCESS,
        .value_json = value,
        .worker = a->env->worker,
        .attempts = a->attempts,
        .retries = a->pol ? a->pol->retries : 0,
        .errors = m->root ? json_object_get(m->root, "errors") : NULL,
        .started_us = a->started_us,
        .finished_us = now,
    };
    memset(out, 0, sizeof(*out));
    out->status = EXEC_SUCCESS;
    if (err != NULL) {
        r.status = expired ? RESULT_EXPIRED : RESULT_FAILURE;
        r.err_type = err->type;
        r.err_msg = err->message;
        out->status = expired ? EXEC_EXPIRED : EXEC_FAILURE;
        if (may_retry && a->pol != NULL && m->root != NULL &&
            policy_retryable(err->type) &&
            a->pol->retries < a->pol->max_retries) {
            r.status = RESULT_RETRY;
            out->status = EXEC_RETRY;
            out->sched = exec_reschedule(a, r.id, err, now);
            out->due_ms = now / 1000 +
                          policy_backoff_ms(a->pol, random() / (RAND_MAX + 1.0));
        }
    }
    out->id = xstrdup(r.id);
    out->reply_to = exec_reply_ok(a->env, m->reply_to)
                        ? xstrdup(m->reply_to)
                        : NULL;
    out->doc = result_encode(&r, &out->doc_len);
    if (out->doc == NULL || (out->status == EXEC_RETRY && out->sched == NULL))
        fatalx("%s: cannot encode the result of task %s", __func__, r.id);
    size_t limit = a->env->max_out ? a->env->max_out : EXEC_MAX_OUT;
    size_t size = strlen(out->id) +
                  (out->reply_to ? strlen(out->reply_to) : 0) +
                  out->doc_len + (out->sched ? strlen(out->sched) : 0);
    if (size > limit) {
        exec_too_large(&r, size, limit, out);
        if (out->doc == NULL)
            fatalx("%s: cannot encode the result of task %s", __func__,
                   r.id);
    }
}

void
exec_run(const struct exec_env *env, const char *entry_id, const char *queue,
         const char *msg, size_t len, unsigned attempts, struct exec_out *out)
{
    struct message m = MESSAGE_INIT;
    struct policy pol;
    struct proto_error err;
    char *value = NULL;
    struct exec_attempt a = {env,      entry_id, queue, &m, NULL,
                             attempts, result_now_us(), msg, len};
    int failed = 1, expired = 0;

    if (message_decode(msg, len, &m, &err) < 0 ||
        policy_decode(m.root, &pol, &err) < 0)
        goto done;
    a.pol = &pol;
    if (m.reply_to != NULL && !exec_reply_ok(env, m.reply_to)) {
        const char *pre = env->prefix ? env->prefix : KEYS_DEFAULT_PREFIX;
        proto_error_set(&err, ERROR_INVALID_MESSAGE,
                        "field 'reply_to' must name a reply stream "
                        "'%sreply:<token>', not '%.200s'; a worker writes "
                        "only to celeriac's own keys",
                        pre, m.reply_to);
        goto done;
    }
    if (pol.expires_us > 0 && a.started_us > pol.expires_us) {
        char at[32];
        result_format_time(at, pol.expires_us);
        proto_error_set(&err, ERROR_EXPIRED,
                        "the task expired at %s before a worker took it", at);
        expired = 1;
        goto done;
    }
    const struct exec_task *task = NULL;
    for (size_t i = 0; i < sizeof(exec_tasks) / sizeof(exec_tasks[0]); i++)
        if (strcmp(exec_tasks[i].name, m.task) == 0)
            task = &exec_tasks[i];
    if (task == NULL) {
        proto_error_set(&err, ERROR_UNKNOWN_TASK,
                        "unknown task '%s'; this worker runs: hash", m.task);
        goto done;
    }
    /* Rounded up: a tiny limit is still a limit (0 would mean none). */
    unsigned limit_ms = pol.time_limit > 0
                            ? (unsigned)ceil(pol.time_limit * 1000)
                            : env->default_time_limit_ms;
    if (limit_ms > 0 && env->started != NULL)
        env->started(env->arg, limit_ms);
    failed = task->run(m.args, &value, &err) < 0;
done:
    exec_finish(&a, value, failed ? &err : NULL, 1, expired, out);
    free(value);
    message_clear(&m);
}

void
exec_failure(const struct exec_env *env, const char *entry_id,
             const char *queue, const char *msg, size_t len,
             unsigned attempts, const char *err_type, const char *err_msg,
             int64_t started_us, int may_retry, struct exec_out *out)
{
    struct message m = MESSAGE_INIT;
    struct policy pol;
    struct proto_error err;
    struct exec_attempt a = {env,      entry_id,   queue, &m, NULL,
                             attempts, started_us, msg,   len};

    /* Best effort: the id and reply_to still address the producer. */
    if (msg != NULL && message_decode(msg, len, &m, NULL) == 0 &&
        policy_decode(m.root, &pol, NULL) == 0)
        a.pol = &pol;
    proto_error_set(&err, err_type, "%s", err_msg);
    exec_finish(&a, NULL, &err, may_retry, 0, out);
    message_clear(&m);
}

void
exec_out_clear(struct exec_out *out)
{
    free(out->id);
    free(out->reply_to);
    free(out->doc);
    free(out->sched);
    memset(out, 0, sizeof(*out));
}
