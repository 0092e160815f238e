/* SPDX-License-Identifier: MIT */
/* Task execution: message -> registered task -> result document. */
#include "exec.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hashtask.h"
#include "keys.h"
#include "log.h"
#include "message.h"
#include "policy.h"
#include "registry.h"
#include "result.h"
#include "throttle_conf.h"
#include "unique.h"
#include "xmalloc.h"

/* Where a run's bytes come from. */
enum exec_source_kind {
    EXEC_SRC_NONE = 0,
    EXEC_SRC_INLINE, /* "data" or "data_b64" */
    EXEC_SRC_URL,
    EXEC_SRC_PATH,
};

/* The source fields taken out of a message's arguments. */
struct exec_source {
    enum exec_source_kind kind;
    const char *name;          /* the argument that named it */
    const unsigned char *data; /* EXEC_SRC_INLINE: borrowed from held or
                                  data_owned */
    size_t len;
    unsigned char *data_owned; /* decoded base64 */
    const char *where;         /* the url or path, borrowed from held */
    json_t *held;              /* the source's value (a reference) */
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
    const json_t *source; /* "source" facts, or NULL */
    int http_status;      /* of a url source's response, 0 if none */
};

struct exec_stream {
    const struct exec_env *env;
    char *entry_id;  /* owned */
    char *queue;     /* owned */
    const char *msg; /* msg_owned, or the caller's (exec_run) */
    char *msg_owned;
    size_t len;
    unsigned attempts;
    int64_t started_us;
    struct message m;
    struct policy pol;
    int have_pol;
    const struct celeriac_task *task;
    struct exec_source src;
    void *state; /* the task's, once init succeeded */
    unsigned long long bytes;
};

/* The source arguments, in the order errors name them. */
static const char *const exec_source_names[] = {
    HASHTASK_DATA, HASHTASK_DATA_B64, "url", "path", "upload",
};
/* The size an upload source announces (with "upload" only). */
#define EXEC_UPLOAD_BYTES "upload_bytes"
#define EXEC_ACCEPT_STATUS "accept_status"

static int exec_reply_ok(const struct exec_env *env, const char *reply_to);
static void exec_finish(const struct exec_attempt *a, const json_t *value,
                        const struct proto_error *err, int may_retry,
                        int expired, struct exec_out *out);
static char *exec_reschedule(const struct exec_attempt *a,
                             const char *task_id,
                             const struct proto_error *err, int64_t now_us);
static void exec_too_large(struct result *r, size_t size, size_t limit,
                           struct exec_out *out);
static int exec_source_take(json_t *args, struct exec_source *src,
                            struct proto_error *err);
static void exec_source_clear(struct exec_source *src);
static void exec_task_error(struct proto_error *err,
                            const struct celeriac_task *task,
                            const struct celeriac_error *te);
static struct exec_stream *exec_stream_new(const struct exec_env *env,
                                           const char *entry_id,
                                           const char *queue, const char *msg,
                                           size_t len, int copy,
                                           unsigned attempts);
static int exec_stream_start(struct exec_stream *s, int feed,
                             struct exec_out *out);
static void exec_stream_outcome(struct exec_stream *s, const json_t *value,
                                const struct proto_error *err, int expired,
                                const json_t *source, int http_status,
                                struct exec_out *out);
static void exec_stream_free(struct exec_stream *s);

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
exec_finish(const struct exec_attempt *a, const json_t *value,
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
        .value = value,
        .worker = a->env->worker,
        .attempts = a->attempts,
        .retries = a->pol ? a->pol->retries : 0,
        .errors = m->root ? json_object_get(m->root, "errors") : NULL,
        .started_us = a->started_us,
        .finished_us = now,
        .source = a->source,
    };
    memset(out, 0, sizeof(*out));
    out->status = EXEC_SUCCESS;
    if (err != NULL) {
        r.status = expired ? RESULT_EXPIRED : RESULT_FAILURE;
        if (strcmp(err->type, ERROR_REVOKED) == 0)
            r.status = RESULT_REVOKED; /* not retried: may_retry is 0 */
        r.err_type = err->type;
        r.err_msg = err->message;
        out->status = expired ? EXEC_EXPIRED : EXEC_FAILURE;
        if (may_retry && a->pol != NULL && m->root != NULL &&
            policy_retryable_status(err->type, a->http_status) &&
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


/* What kind of JSON value v is, for error messages. */
static const char *
exec_kind(const json_t *v)
{
    return json_is_object(v)    ? "an object"
           : json_is_array(v)   ? "an array"
           : json_is_string(v)  ? "a string"
           : json_is_number(v)  ? "a number"
           : json_is_boolean(v) ? "a boolean"
                                : "null";
}

/*
 * Takes the source fields (and accept_status) out of args into *src.
 * Returns 0 (kind EXEC_SRC_NONE when there is none), or -1 with *err set
 * for more than one source or a malformed one.
 */
static int
exec_source_take(json_t *args, struct exec_source *src,
                 struct proto_error *err)
{
    const size_t n = sizeof(exec_source_names) / sizeof(exec_source_names[0]);
    const char *first = NULL;
    memset(src, 0, sizeof(*src));
    for (size_t i = 0; i < n; i++) {
        if (json_object_get(args, exec_source_names[i]) == NULL)
            continue;
        if (first != NULL)
            return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                                   "give exactly one source of bytes among "
                                   "'data', 'data_b64', 'url' and 'path', "
                                   "not both '%s' and '%s'",
                                   first, exec_source_names[i]);
        first = exec_source_names[i];
    }
    json_t *accept = json_object_get(args, EXEC_ACCEPT_STATUS);
    if (accept != NULL &&
        (!json_is_string(accept) ||
         strcmp(json_string_value(accept), "any") != 0))
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "argument 'accept_status' must be the string "
                               "\"any\" (hash the body of a non-2xx "
                               "response), not %s%.40s%s",
                               json_is_string(accept) ? "\"" : "",
                               json_is_string(accept)
                                   ? json_string_value(accept)
                                   : exec_kind(accept),
                               json_is_string(accept) ? "\"" : "");
    if (accept != NULL && (first == NULL || strcmp(first, "url") != 0))
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "argument 'accept_status' applies to a 'url' "
                               "source only; remove it");
    if (first == NULL)
        return 0;
    src->name = first;
    src->held = json_incref(json_object_get(args, first));
    if (strcmp(first, "url") == 0 || strcmp(first, "path") == 0 ||
        strcmp(first, "upload") == 0) {
        /* An upload reaches the child as a stream, like a url's body. */
        src->kind = first[0] == 'p' ? EXEC_SRC_PATH : EXEC_SRC_URL;
        if (!json_is_string(src->held) ||
            json_string_length(src->held) == 0) {
            proto_error_set(err, ERROR_INVALID_ARGUMENT,
                            "argument '%s' must be a non-empty string, not "
                            "%s",
                            first,
                            json_is_string(src->held) ? "an empty one"
                                                      : exec_kind(src->held));
            goto fail;
        }
        src->where = json_string_value(src->held);
    } else {
        int present;
        src->kind = EXEC_SRC_INLINE;
        if (hashtask_inline(args, &src->data, &src->len, &src->data_owned,
                            &present, err) < 0)
            goto fail;
    }
    /* The task sees its own arguments only.  held keeps the bytes alive. */
    for (size_t i = 0; i < n; i++)
        json_object_del(args, exec_source_names[i]);
    json_object_del(args, EXEC_ACCEPT_STATUS);
    json_object_del(args, EXEC_UPLOAD_BYTES);
    return 0;
fail:
    exec_source_clear(src);
    return -1;
}

static void
exec_source_clear(struct exec_source *src)
{
    free(src->data_owned);
    json_decref(src->held);
    memset(src, 0, sizeof(*src));
}

/* A task's error as the result's, with a type word a program can match. */
static void
exec_task_error(struct proto_error *err, const struct celeriac_task *task,
                const struct celeriac_error *te)
{
    size_t n = strnlen(te->type, sizeof(te->type));
    int ok = n > 0 && n < sizeof(te->type) &&
             strspn(te->type, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                              "abcdefghijklmnopqrstuvwxyz0123456789") == n;
    if (!ok) {
        proto_error_set(err, ERROR_INTERNAL,
                        "task '%s' failed without a valid error type (a "
                        "word of [A-Za-z0-9]); its message: %.*s",
                        task->name, (int)strnlen(te->message, 300),
                        te->message);
        return;
    }
    proto_error_set(err, te->type, "%.*s",
                    (int)strnlen(te->message, sizeof(te->message) - 1),
                    te->message);
}

static struct exec_stream *
exec_stream_new(const struct exec_env *env, const char *entry_id,
                const char *queue, const char *msg, size_t len, int copy,
                unsigned attempts)
{
    struct exec_stream *s = xcalloc(1, sizeof(*s));
    s->env = env;
    s->entry_id = xstrdup(entry_id);
    s->queue = xstrdup(queue);
    if (copy) {
        s->msg_owned = xmalloc(len + 1);
        memcpy(s->msg_owned, msg, len);
        s->msg_owned[len] = '\0';
        s->msg = s->msg_owned;
    } else {
        s->msg = msg;
    }
    s->len = len;
    s->attempts = attempts;
    s->started_us = result_now_us();
    return s;
}

static void
exec_stream_free(struct exec_stream *s)
{
    if (s == NULL)
        return;
    if (s->state != NULL)
        s->task->free(s->state);
    exec_source_clear(&s->src);
    message_clear(&s->m);
    free(s->msg_owned);
    free(s->entry_id);
    free(s->queue);
    free(s);
}

/* Fills *out with the outcome of s (value on success, else err). */
static void
exec_stream_outcome(struct exec_stream *s, const json_t *value,
                    const struct proto_error *err, int expired,
                    const json_t *source, int http_status,
                    struct exec_out *out)
{
    struct exec_attempt a = {
        .env = s->env,
        .entry_id = s->entry_id,
        .queue = s->queue,
        .m = &s->m,
        .pol = s->have_pol ? &s->pol : NULL,
        .attempts = s->attempts,
        .started_us = s->started_us,
        .msg = s->msg,
        .len = s->len,
        .source = source,
        .http_status = http_status,
    };
    exec_finish(&a, value, err, 1, expired, out);
}

/*
 * Everything up to the task's init.  Returns 0 when the run is open, 1
 * when it ended with *out filled.  feed: 0 for inline bytes (exec_run),
 * else an enum exec_feed.
 */
static int
exec_stream_start(struct exec_stream *s, int feed, struct exec_out *out)
{
    const struct exec_env *env = s->env;
    struct proto_error err;
    struct celeriac_error te = {{0}, {0}};
    int expired = 0;

    if (message_decode(s->msg, s->len, &s->m, &err) < 0 ||
        policy_decode(s->m.root, &s->pol, &err) < 0)
        goto fail;
    s->have_pol = 1;
    struct unique uq;
    if (unique_decode(s->m.root, s->len, &uq, &err) < 0 ||
        throttle_check_message(s->m.root, &err) < 0)
        goto fail;
    if (s->m.reply_to != NULL && !exec_reply_ok(env, s->m.reply_to)) {
        const char *pre = env->prefix ? env->prefix : KEYS_DEFAULT_PREFIX;
        proto_error_set(&err, ERROR_INVALID_MESSAGE,
                        "field 'reply_to' must name a reply stream "
                        "'%sreply:<token>', not '%.200s'; a worker writes "
                        "only to celeriac's own keys",
                        pre, s->m.reply_to);
        goto fail;
    }
    if (s->pol.expires_us > 0 && s->started_us > s->pol.expires_us) {
        char at[32];
        result_format_time(at, s->pol.expires_us);
        proto_error_set(&err, ERROR_EXPIRED,
                        "the task expired at %s before a worker took it", at);
        expired = 1;
        goto fail;
    }
    s->task = registry_find(s->m.task);
    if (s->task == NULL) {
        char names[512];
        registry_names(names, sizeof(names));
        proto_error_set(&err, ERROR_UNKNOWN_TASK,
                        "unknown task '%s'; this worker runs: %s", s->m.task,
                        names);
        goto fail;
    }
    /* The limit covers the task from here, its arguments included. */
    if (feed != EXEC_FEED_STREAM) {
        /* Rounded up: a tiny limit is still a limit (0 would mean none). */
        unsigned limit_ms = s->pol.time_limit > 0
                                ? (unsigned)ceil(s->pol.time_limit * 1000)
                                : env->default_time_limit_ms;
        if (limit_ms > 0 && env->started != NULL)
            env->started(env->arg, limit_ms);
    }
    if (exec_source_take(s->m.args, &s->src, &err) < 0)
        goto fail;
    if (s->task->input == CELERIAC_INPUT_NONE && s->src.kind != EXEC_SRC_NONE) {
        proto_error_set(&err, ERROR_INVALID_ARGUMENT,
                        "task '%s' takes no bytes; remove the argument '%s'",
                        s->task->name, s->src.name);
        goto fail;
    }
    if (s->task->input == CELERIAC_INPUT_BYTES &&
        s->src.kind == EXEC_SRC_NONE) {
        proto_error_set(&err, ERROR_INVALID_ARGUMENT,
                        "task '%s' needs its bytes from exactly one source: "
                        "'data' (a string), 'data_b64' (base64), 'url' or "
                        "'path'",
                        s->task->name);
        goto fail;
    }
    int want_url = s->src.kind == EXEC_SRC_URL,
        want_path = s->src.kind == EXEC_SRC_PATH;
    if ((feed == 0 && (want_url || want_path)) ||
        (feed == EXEC_FEED_STREAM && !want_url && !want_path) ||
        (feed == EXEC_FEED_FILE && !want_path)) {
        if (feed == 0)
            proto_error_set(&err, ERROR_INVALID_MESSAGE,
                            "this message names a '%s' source, which the "
                            "worker's parent opens, but it reached a child "
                            "as it is: the parent looks for url, path and "
                            "upload sources only in messages of at most 64 "
                            "KiB whose key is spelt plainly; send a smaller "
                            "message with a plain \"%s\" key",
                            s->src.name, s->src.name);
        else
            proto_error_set(&err, ERROR_INVALID_MESSAGE,
                            "the worker's parent sent this task's bytes as "
                            "a %s, but its message names %s%s%s; this is a "
                            "worker bug: report it with the message",
                            feed == EXEC_FEED_FILE ? "file" : "stream",
                            s->src.name ? "the source '" : "no source",
                            s->src.name ? s->src.name : "",
                            s->src.name ? "'" : "");
        goto fail;
    }
    if (s->task->validate != NULL && s->task->validate(s->m.args, &te) < 0) {
        exec_task_error(&err, s->task, &te);
        goto fail;
    }
    s->state = s->task->init(s->m.args, &te);
    if (s->state == NULL) {
        exec_task_error(&err, s->task, &te);
        goto fail;
    }
    return 0;
fail:
    exec_stream_outcome(s, NULL, &err, expired, NULL, 0, out);
    return 1;
}

int
exec_stream_open(const struct exec_env *env, const char *entry_id,
                 const char *queue, const char *msg, size_t len,
                 unsigned attempts, enum exec_feed feed,
                 struct exec_stream **stream, struct exec_out *out)
{
    struct exec_stream *s =
        exec_stream_new(env, entry_id, queue, msg, len, 1, attempts);
    *stream = NULL;
    if (exec_stream_start(s, (int)feed, out) != 0) {
        exec_stream_free(s);
        return 1;
    }
    *stream = s;
    return 0;
}

int
exec_stream_update(struct exec_stream *s, const unsigned char *p, size_t n,
                   struct exec_out *out)
{
    struct celeriac_error te = {{0}, {0}};
    struct proto_error err;
    if (s->task->input != CELERIAC_INPUT_BYTES || n == 0) {
        s->bytes += n;
        return 0;
    }
    if (s->task->update(s->state, p, n, &te) < 0) {
        exec_task_error(&err, s->task, &te);
        exec_stream_outcome(s, NULL, &err, 0, NULL, 0, out);
        exec_stream_free(s);
        return 1;
    }
    s->bytes += n;
    return 0;
}

unsigned long long
exec_stream_bytes(const struct exec_stream *s)
{
    return s->bytes;
}

void
exec_stream_end(struct exec_stream *s, const char *err_type,
                const char *err_msg, const char *facts, size_t facts_len,
                struct exec_out *out)
{
    struct celeriac_error te = {{0}, {0}};
    struct proto_error err;
    json_t *source = NULL, *value = NULL;
    int http_status = 0, failed = 1;

    if (facts != NULL && facts_len > 0) {
        source = json_loadb(facts, facts_len, JSON_REJECT_DUPLICATES, NULL);
        if (source != NULL && !json_is_object(source)) {
            json_decref(source);
            source = NULL;
        }
        if (source == NULL)
            log_warnx("%s: the source facts of a task are not a JSON "
                      "object; left out of its result",
                      __func__);
        json_t *st = json_object_get(source, "status");
        if (json_is_integer(st))
            http_status = (int)json_integer_value(st);
    } else if (s->src.kind == EXEC_SRC_PATH) {
        source = json_pack("{s:s, s:I}", "path", s->src.where, "bytes",
                           (json_int_t)s->bytes);
    }
    if (err_type != NULL && err_type[0] != '\0') {
        proto_error_set(&err, err_type, "%s", err_msg ? err_msg : "");
    } else if ((value = s->task->final(s->state, &te)) == NULL) {
        if (te.type[0] == '\0')
            celeriac_error_set(&te, ERROR_INTERNAL,
                               "task '%s' returned no result and no error",
                               s->task->name);
        exec_task_error(&err, s->task, &te);
    } else {
        failed = 0;
    }
    exec_stream_outcome(s, value, failed ? &err : NULL, 0, source,
                        http_status, out);
    json_decref(value);
    json_decref(source);
    exec_stream_free(s);
}

void
exec_stream_abort(struct exec_stream *s)
{
    exec_stream_free(s);
}

void
exec_run(const struct exec_env *env, const char *entry_id, const char *queue,
         const char *msg, size_t len, unsigned attempts, struct exec_out *out)
{
    struct exec_stream *s =
        exec_stream_new(env, entry_id, queue, msg, len, 0, attempts);
    if (exec_stream_start(s, 0, out) != 0) {
        exec_stream_free(s);
        return;
    }
    if (s->src.kind == EXEC_SRC_INLINE &&
        exec_stream_update(s, s->src.data, s->src.len, out) != 0)
        return; /* s is freed */
    exec_stream_end(s, NULL, NULL, NULL, 0, out);
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
    struct exec_attempt a = {env,      entry_id,   queue, &m,   NULL,
                             attempts, started_us, msg,   len, NULL, 0};

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
