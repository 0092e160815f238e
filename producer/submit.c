/* SPDX-License-Identifier: MIT */
/* Queue streams, their consumer group and pipelined XADD. */
#include "submit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "version.h"

int
submit_init(struct submit *s, struct conn *c, const char *prefix,
            const char *queue)
{
    memset(s, 0, sizeof(*s));
    s->conn = c;
    s->queue = queue;
    if (!keys_valid_name(queue)) {
        cli_warnx("bad queue name '%s': use 1 to %d printable characters "
                  "without spaces or commas",
                  queue, PROTOCOL_MAX_NAME);
        return -1;
    }
    if (keys_queue(s->stream, sizeof(s->stream), prefix, queue) < 0 ||
        keys_scheduled(s->scheduled, sizeof(s->scheduled), prefix) < 0) {
        cli_warnx("the key for queue '%s' with prefix '%s' is too long; "
                  "use a shorter --prefix or queue name",
                  queue, prefix);
        return -1;
    }
    return 0;
}

int
submit_ensure_group(struct submit *s)
{
    struct conn *c = s->conn;

    if (s->group_generation == c->generation && c->generation != 0)
        return 0;
    redisReply *r = conn_call(c, "XGROUP", "CREATE", s->stream, KEYS_GROUP, "0",
                              "MKSTREAM", (const char *)NULL);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        char what[KEYS_MAX + 64];
        snprintf(what, sizeof(what), "to create consumer group '%s' on %s",
                 KEYS_GROUP, s->stream);
        conn_report_error(c, what, r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    s->group_generation = c->generation;
    return 0;
}

void
submit_append(struct submit *s, const char *msg, size_t len)
{
    const char *argv[5] = {"XADD", s->stream, "*", KEYS_MSG_FIELD, msg};
    size_t lens[5] = {4, strlen(s->stream), 1, sizeof(KEYS_MSG_FIELD) - 1, len};
    conn_append(s->conn, 5, argv, lens);
}

void
submit_append_scheduled(struct submit *s, int64_t due_ms, const char *msg,
                        size_t len)
{
    char score[24];
    snprintf(score, sizeof(score), "%" PRId64, due_ms);
    const char *argv[4] = {"ZADD", s->scheduled, score, msg};
    size_t lens[4] = {4, strlen(s->scheduled), strlen(score), len};
    conn_append(s->conn, 4, argv, lens);
}
