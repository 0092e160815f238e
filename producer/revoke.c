/* SPDX-License-Identifier: MIT */
/* `celeriac revoke`: cancel queued, delayed or retrying tasks. */
#include "revoke.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "error.h"
#include "keys.h"
#include "result.h"
#include "version.h"
#include "xmalloc.h"

#define REVOKE_DEFAULT_TTL_S 86400
#define REVOKE_MAX_IDS 10000
/* Members of the scheduled set looked at per ZSCAN. */
#define REVOKE_SCAN_COUNT "500"
/* Approximate MAXLEN of a reply stream the REVOKED result is added to
 * (the worker's default --reply-maxlen). */
#define REVOKE_REPLY_MAXLEN "100000"
/* The worker field of a result stored by this command. */
#define REVOKE_WORKER "celeriac revoke"

/* One id on the command line. */
struct revoke_item {
    const char *id; /* borrowed from argv */
    int unscheduled; /* taken out of the scheduled set */
};

/* clang-format off */
void
revoke_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac revoke [--ttl S] ID...\n"
"\n"
"Cancels tasks that have not run yet: queued, delayed (--countdown, --eta)\n"
"or waiting for a retry.  The ids go into the sorted set <prefix>revoked,\n"
"which every worker reads once per heartbeat (2 s by default): a worker\n"
"that takes a revoked task, or holds one it has not started yet (read\n"
"ahead, or queued in a child behind another task), does not run it but\n"
"stores a result with status REVOKED (error type Revoked), sends it to the\n"
"task's reply_to and acknowledges the entry.  A delayed or retrying task is\n"
"taken out of <prefix>scheduled at once and its REVOKED result stored now.\n"
"A task that has started is not stopped: it runs to completion and its\n"
"result stands.  A worker finds a message's \"id\" at any size; one it gives\n"
"up on (too deeply nested) is checked only by its QUEUE/ENTRY-ID id.\n"
"\n"
"  --ttl S                keep the revocation S seconds (default 86400,\n"
"                         one day); a task taken later runs\n"
"\n%s"
"\n"
"Prints one line per ID: 'ID revoked', with 'unscheduled' when it was\n"
"taken out of the scheduled set.\n"
"\n"
"Exit codes: 0 done, 2 usage error, 4 Redis unreachable or refused a\n"
"command.\n",
            cli_global_help);
}
/* clang-format on */

/* Redis' clock in Unix milliseconds, or -1 (conn.h convention). */
static int64_t
revoke_now_ms(struct conn *c)
{
    redisReply *t = conn_call(c, "TIME", (const char *)NULL);
    int64_t ms = -1;
    if (t == NULL)
        return -1;
    if (t->type == REDIS_REPLY_ARRAY && t->elements == 2)
        ms = strtoll(t->element[0]->str, NULL, 10) * 1000 +
             strtoll(t->element[1]->str, NULL, 10) / 1000;
    else
        conn_report_error(c, "TIME", t);
    freeReplyObject(t);
    return ms;
}

/* Runs one command whose error reply is reported.  Returns 0 or -1. */
static int
revoke_do(struct conn *c, const char *what, int argc, const char **argv)
{
    redisReply *r = conn_command(c, argc, argv, NULL);
    if (r == NULL)
        return -1;
    int bad = r->type == REDIS_REPLY_ERROR;
    if (bad)
        conn_report_error(c, what, r);
    freeReplyObject(r);
    return bad ? -1 : 0;
}

/* Adds the ids to the revoked set, drops lapsed ones, and keeps the key
 * as long as its latest revocation. */
static int
revoke_add(struct conn *c, const char *key, struct revoke_item *items,
           int n, int64_t now_ms, long ttl_s)
{
    char score[32], now[32];
    snprintf(score, sizeof(score), "%" PRId64, now_ms + ttl_s * 1000);
    snprintf(now, sizeof(now), "(%" PRId64, now_ms);
    const char *zr[] = {"ZREMRANGEBYSCORE", key, "-inf", now};
    if (revoke_do(c, "ZREMRANGEBYSCORE of the revoked set", 4, zr) < 0)
        return -1;
    const char **argv = xmalloc(sizeof(*argv) * (2 + 2 * (size_t)n));
    int k = 0;
    argv[k++] = "ZADD";
    argv[k++] = key;
    for (int i = 0; i < n; i++) {
        argv[k++] = score;
        argv[k++] = items[i].id;
    }
    int rc = revoke_do(c, "ZADD to the revoked set", k, argv);
    free(argv);
    if (rc < 0)
        return -1;
    redisReply *r = conn_call(c, "ZRANGE", key, "-1", "-1", "WITHSCORES",
                              (const char *)NULL);
    if (r == NULL)
        return -1;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        const char *ex[] = {"PEXPIREAT", key, r->element[1]->str};
        rc = revoke_do(c, "PEXPIREAT of the revoked set", 3, ex);
    }
    freeReplyObject(r);
    return rc;
}

/* The item whose id is id, or NULL. */
static struct revoke_item *
revoke_find(struct revoke_item *items, int n, const char *id)
{
    for (int i = 0; i < n; i++)
        if (strcmp(items[i].id, id) == 0)
            return &items[i];
    return NULL;
}

/* Stores the REVOKED result of a message taken out of the scheduled set,
 * and sends it to the message's reply_to. */
static int
revoke_store(struct conn *c, const char *prefix, json_t *msg, const char *id,
             long ttl_s)
{
    char key[KEYS_MAX], ttl[24];
    int64_t now = result_now_us();
    json_t *retries = json_object_get(msg, "retries");
    struct result r = {
        .id = id,
        .task = json_string_value(json_object_get(msg, "task")),
        .status = RESULT_REVOKED,
        .err_type = ERROR_REVOKED,
        .err_msg = "the task was revoked (celeriac revoke) while it waited "
                   "in the scheduled set",
        .worker = REVOKE_WORKER,
        .attempts = 0,
        .retries = json_is_integer(retries) && json_integer_value(retries) > 0
                       ? (unsigned)json_integer_value(retries)
                       : 0,
        .errors = json_object_get(msg, "errors"),
        .started_us = now,
        .finished_us = now,
    };
    size_t len;
    char *doc = result_encode(&r, &len);
    if (doc == NULL || keys_result(key, sizeof(key), prefix, id) < 0) {
        free(doc);
        return 0; /* cannot happen: ids are checked; the worker answers */
    }
    snprintf(ttl, sizeof(ttl), "%ld", ttl_s);
    const char *set[] = {"SET", key, doc, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, strlen(ttl)};
    redisReply *rr = conn_command(c, 5, set, lens);
    int rc = rr == NULL ? -1 : 0;
    if (rr != NULL && rr->type == REDIS_REPLY_ERROR) {
        conn_report_error(c, "SET of a REVOKED result", rr);
        rc = -1;
    }
    freeReplyObject(rr);
    const char *rt = json_string_value(json_object_get(msg, "reply_to"));
    if (rc == 0 && rt != NULL && keys_is_reply(prefix, rt)) {
        const char *xa[] = {"XADD", rt, "MAXLEN", "~", REVOKE_REPLY_MAXLEN,
                            "*", KEYS_RESULT_FIELD, doc};
        size_t xl[] = {4, strlen(rt), 6, 1, strlen(REVOKE_REPLY_MAXLEN),
                       1, strlen(KEYS_RESULT_FIELD), len};
        rr = conn_command(c, 8, xa, xl);
        if (rr == NULL)
            rc = -1;
        else if (rr->type == REDIS_REPLY_ERROR) /* the result is stored */
            cli_warnx("could not send the REVOKED result of %s to %s: %s",
                      id, rt, rr->str);
        freeReplyObject(rr);
        const char *ex[] = {"EXPIRE", rt, ttl};
        if (rc == 0 && revoke_do(c, "EXPIRE of a reply stream", 3, ex) < 0)
            rc = -1;
    }
    free(doc);
    return rc;
}

/* Takes the members of the scheduled set with one of the ids out. */
static int
revoke_unschedule(struct conn *c, const char *prefix,
                  struct revoke_item *items, int n, long ttl_s)
{
    char key[KEYS_MAX], cursor[32] = "0";
    if (keys_scheduled(key, sizeof(key), prefix) < 0)
        return 0;
    do {
        redisReply *r = conn_call(c, "ZSCAN", key, cursor, "COUNT",
                                  REVOKE_SCAN_COUNT, (const char *)NULL);
        if (r == NULL)
            return -1;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            conn_report_error(c, "ZSCAN of the scheduled set", r);
            freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        const redisReply *m = r->element[1];
        for (size_t i = 0; i + 1 < m->elements; i += 2) {
            const redisReply *e = m->element[i];
            if (e->type != REDIS_REPLY_STRING)
                continue;
            json_t *msg = json_loadb(e->str, e->len, 0, NULL);
            const char *id = json_string_value(json_object_get(msg, "id"));
            struct revoke_item *it = id ? revoke_find(items, n, id) : NULL;
            if (it == NULL) {
                json_decref(msg);
                continue;
            }
            const char *zrem[] = {"ZREM", key, e->str};
            size_t zl[] = {4, strlen(key), e->len};
            redisReply *z = conn_command(c, 3, zrem, zl);
            int gone = z != NULL && z->type == REDIS_REPLY_INTEGER &&
                       z->integer == 1;
            if (z == NULL || (gone && revoke_store(c, prefix, msg, it->id,
                                                   ttl_s) < 0)) {
                freeReplyObject(z);
                json_decref(msg);
                freeReplyObject(r);
                return -1;
            }
            it->unscheduled |= gone;
            freeReplyObject(z);
            json_decref(msg);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

int
revoke_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"ttl", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    struct revoke_item *items = NULL;
    int opt, rc = CLI_EXIT_USAGE, n;
    long ttl_s = REVOKE_DEFAULT_TTL_S;
    char key[KEYS_MAX];

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "r:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'T': {
            char *end;
            ttl_s = strtol(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || ttl_s < 1 ||
                ttl_s > 100L * 365 * 86400)
                return cli_usage("revoke",
                                 "--ttl '%s': expected whole seconds, "
                                 "at least 1",
                                 optarg);
            break;
        }
        case 'h':
        case CLI_OPT_HELP:
            revoke_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("revoke", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    n = argc - optind;
    if (cli_check_ids("revoke", cli->prefix, n, argv + optind,
                      REVOKE_MAX_IDS) != 0)
        return CLI_EXIT_USAGE;
    items = xcalloc((size_t)n, sizeof(*items));
    for (int i = 0; i < n; i++)
        items[i].id = argv[optind + i];
    if (keys_revoked(key, sizeof(key), cli->prefix) < 0)
        goto done;
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;
    int64_t now_ms = revoke_now_ms(&conn);
    if (now_ms < 0)
        goto lost;
    /* First the set, so that a task moved from the scheduled set to its
     * queue while we look is caught by the worker. */
    if (revoke_add(&conn, key, items, n, now_ms, ttl_s) < 0 ||
        revoke_unschedule(&conn, cli->prefix, items, n, ttl_s) < 0)
        goto lost;
    for (int i = 0; i < n; i++)
        printf("%s revoked%s\n", cli_safe(items[i].id),
               items[i].unscheduled ? " unscheduled" : "");
    rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    goto done;
lost:
    if (conn_lost(&conn))
        conn_report_lost(&conn, "revoking tasks");
done:
    free(items);
    conn_close(&conn);
    return rc;
}
