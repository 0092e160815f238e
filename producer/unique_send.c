/* SPDX-License-Identifier: MIT */
/* `celeriac send --unique-for`: see unique_send.h. */
#include "unique_send.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "keys.h"
#include "scripts.h"
#include "unique.h"
#include "xmalloc.h"

void
unique_send_init(struct unique_send *u)
{
    memset(u, 0, sizeof(*u));
}

int
unique_send_option(struct unique_send *u, int opt, const char *arg)
{
    char *end;
    switch (opt) {
    case UNIQUE_SEND_OPT_FOR: {
        long long v = strtoll(arg, &end, 10);
        if (end == arg || *end != '\0' || v < 1 || v > UNIQUE_FOR_MAX) {
            cli_usage("send",
                      "--unique-for '%s': expected a whole number of "
                      "seconds from 1 to %lld",
                      arg, UNIQUE_FOR_MAX);
            return -1;
        }
        u->for_s = v;
        return 1;
    }
    case UNIQUE_SEND_OPT_KEY: {
        size_t n = strlen(arg);
        if (n == 0 || n > UNIQUE_KEY_MAX) {
            cli_usage("send", "--unique-key: expected 1 to %d bytes",
                      UNIQUE_KEY_MAX);
            return -1;
        }
        u->key = arg;
        return 1;
    }
    default:
        return 0;
    }
}

int
unique_send_check(const struct unique_send *u)
{
    if (u->key != NULL && u->for_s == 0) {
        cli_usage("send", "--unique-key needs --unique-for S (how long the "
                          "task stays unique)");
        return -1;
    }
    return 0;
}

int
unique_send_prepare(struct unique_send *u, const char *prefix, const char *task,
                    const json_t *args, json_t *extra)
{
    char hex[UNIQUE_HEX_LEN + 1];
    json_t *key = NULL;
    if (u->key != NULL) {
        key = json_string(u->key);
        if (key == NULL) {
            cli_warnx("--unique-key is not valid UTF-8");
            return -1;
        }
    }
    if (unique_digest(u->key, u->key ? strlen(u->key) : 0, task, args, hex) <
            0 ||
        keys_unique(u->lock, sizeof(u->lock), prefix, hex) < 0) {
        json_decref(key);
        cli_warnx("the lock of this unique task could not be named (is "
                  "--prefix too long?)");
        return -1;
    }
    json_object_set_new(extra, UNIQUE_F_FOR, json_integer(u->for_s));
    if (key != NULL)
        json_object_set_new(extra, UNIQUE_F_KEY, key);
    return 0;
}

void
unique_send_append(struct unique_send *u, struct submit *s, const char *msg,
                   size_t len, const char *id, int64_t due_ms)
{
    unique_send_append_lock(s, u->lock, u->for_s, msg, len, id, due_ms);
}

void
unique_send_append_lock(struct submit *s, const char *lock, long long for_s,
                        const char *msg, size_t len, const char *id,
                        int64_t due_ms)
{
    char secs[24], due[24] = "";
    snprintf(secs, sizeof(secs), "%lld", for_s);
    if (due_ms >= 0)
        snprintf(due, sizeof(due), "%" PRId64, due_ms);
    const char *target = due_ms >= 0 ? s->scheduled : s->stream;
    const char *argv[10] = {
        "EVAL", scripts_unique_send, "2",      target, lock, msg,
        secs,   id ? id : "",        s->queue, due};
    size_t lens[10];
    for (int i = 0; i < 10; i++)
        lens[i] = strlen(argv[i]);
    lens[5] = len;
    conn_append(s->conn, 10, argv, lens);
}

int
unique_send_reply(struct conn *c, char **id)
{
    redisReply *r = conn_reply(c);
    int rc = -1;
    if (r == NULL) {
        conn_report_lost(c, "sending the unique task; it may or may not "
                            "have been queued");
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_INTEGER &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        *id = xstrndup(r->element[1]->str, r->element[1]->len);
        rc = r->element[0]->integer == 1 ? 1 : 0;
    } else {
        conn_report_error(c, "the unique task (its lock and XADD)", r);
    }
    freeReplyObject(r);
    return rc;
}
