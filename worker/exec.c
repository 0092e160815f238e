/* SPDX-License-Identifier: MIT */
/* Task execution: message -> task function -> result document. */
#include "exec.h"

#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "hash.h"
#include "hashtask.h"
#include "log.h"
#include "message.h"
#include "result.h"
#include "version.h"
#include "xmalloc.h"

/*
 * A task function: runs with its arguments (borrowed) and returns 0 with
 * *value set (a new reference, the "result" field), or -1 with *err set.
 */
typedef int (*exec_task_fn)(json_t *args, json_t **value,
                            struct proto_error *err);

struct exec_task {
    const char *name;
    exec_task_fn run;
};

static int exec_hash(json_t *args, json_t **value, struct proto_error *err);
static void exec_finish(const struct message *m, const char *entry_id,
                        unsigned attempts, const char *worker,
                        const json_t *value, const struct proto_error *err,
                        long long started_us, struct exec_out *out);

/* The task registry.  Add new built-in tasks here. */
static const struct exec_task exec_tasks[] = {
    {HASHTASK_NAME, exec_hash},
};

static int
exec_hash(json_t *args, json_t **value, struct proto_error *err)
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
    *value = json_pack("{s:s, s:s, s:I}", "algorithm", t.algorithm, "digest",
                       hex, "bytes", (json_int_t)t.len);
    hashtask_clear(&t);
    return 0;
}

/* Encodes the result of one attempt into *out. */
static void
exec_finish(const struct message *m, const char *entry_id, unsigned attempts,
            const char *worker, const json_t *value,
            const struct proto_error *err, long long started_us,
            struct exec_out *out)
{
    struct result r = {
        .id = m->id ? m->id : entry_id,
        .task = m->task,
        .status = err ? RESULT_FAILURE : RESULT_SUCCESS,
        .value = value,
        .err_type = err ? err->type : NULL,
        .err_msg = err ? err->message : NULL,
        .worker = worker,
        .attempts = attempts,
        .started_us = started_us,
        .finished_us = result_now_us(),
    };
    memset(out, 0, sizeof(*out));
    out->id = xstrdup(r.id);
    out->reply_to = m->reply_to ? xstrdup(m->reply_to) : NULL;
    out->doc = result_encode(&r, &out->doc_len);
    if (out->doc == NULL)
        fatalx("%s: cannot encode the result of task %s", __func__, r.id);
    out->success = err == NULL;
}

void
exec_run(const char *entry_id, const char *msg, size_t len, unsigned attempts,
         const char *worker, struct exec_out *out)
{
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    json_t *value = NULL;
    long long started = result_now_us();
    int failed = 1;

    if (message_decode(msg, len, &m, &err) < 0)
        goto done;
    const struct exec_task *task = NULL;
    for (size_t i = 0; i < sizeof(exec_tasks) / sizeof(exec_tasks[0]); i++)
        if (strcmp(exec_tasks[i].name, m.task) == 0)
            task = &exec_tasks[i];
    if (task == NULL) {
        proto_error_set(&err, ERROR_UNKNOWN_TASK,
                        "unknown task '%s'; this worker runs: hash", m.task);
        goto done;
    }
    failed = task->run(m.args, &value, &err) < 0;
done:
    exec_finish(&m, entry_id, attempts, worker, value, failed ? &err : NULL,
                started, out);
    json_decref(value);
    message_clear(&m);
}

void
exec_failure(const char *entry_id, const char *msg, size_t len,
             unsigned attempts, const char *worker, const char *err_type,
             const char *err_msg, long long started_us, struct exec_out *out)
{
    struct message m = MESSAGE_INIT;
    struct proto_error err;

    /* Best effort: the id and reply_to still address the producer. */
    if (msg != NULL)
        (void)message_decode(msg, len, &m, NULL);
    proto_error_set(&err, err_type, "%s", err_msg);
    exec_finish(&m, entry_id, attempts, worker, NULL, &err, started_us, out);
    message_clear(&m);
}

void
exec_out_clear(struct exec_out *out)
{
    free(out->id);
    free(out->reply_to);
    free(out->doc);
    memset(out, 0, sizeof(*out));
}
