/* SPDX-License-Identifier: MIT */
/* `celeriac purge`: drop the waiting tasks of a queue. */
#include "purge.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "keys.h"

/* Entries deleted per script call: each call is atomic and short. */
#define PURGE_CHUNK "1000"

/*
 * The purge script (PROTOCOL.md, "Purging a queue"): deletes up to ARGV[2]
 * entries of the queue stream KEYS[1] that the consumer group ARGV[1] has
 * not delivered (after its last-delivered-id; all of them when there is
 * no group), and answers {deleted, pending}.
 */
static const char purge_script[] =
    "local key, group, max = KEYS[1], ARGV[1], tonumber(ARGV[2])\n"
    "local t = redis.call('TYPE', key)['ok']\n"
    "if t == 'none' then return {0, 0} end\n"
    "if t ~= 'stream' then\n"
    "  return redis.error_reply('WRONGTYPE purge: ' .. key .. ' holds a ' "
    ".. t .. ', not a stream')\n"
    "end\n"
    "local start, pending = '-', 0\n"
    "for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do\n"
    "  local f = {}\n"
    "  for i = 1, #g, 2 do f[g[i]] = g[i + 1] end\n"
    "  if f['name'] == group then\n"
    "    start = '(' .. f['last-delivered-id']\n"
    "    pending = f['pending']\n"
    "  end\n"
    "end\n"
    "local e = redis.call('XRANGE', key, start, '+', 'COUNT', max)\n"
    "local n = 0\n"
    "for i = 1, #e, 500 do\n"
    "  local ids = {}\n"
    "  for j = i, math.min(i + 499, #e) do ids[#ids + 1] = e[j][1] end\n"
    "  n = n + redis.call('XDEL', key, unpack(ids))\n"
    "end\n"
    "return {n, pending}\n";

/* clang-format off */
void
purge_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac purge QUEUE --yes\n"
"\n"
"Deletes the tasks of QUEUE that no worker has taken yet, and says how\n"
"many.  Without --yes it only says how many it would delete.  Tasks a\n"
"worker has taken (pending: running, or prefetched by a worker) are left\n"
"alone and finish; delayed and retrying tasks of the queue wait in\n"
"<prefix>scheduled and are not touched (cancel them with 'celeriac\n"
"revoke ID').  Nothing is stored for a purged task: a producer waiting for\n"
"its result waits until its --timeout.\n"
"\n"
"  -y, --yes              really delete\n"
"\n%s"
"\n"
"Exit codes: 0 done, 2 usage error (or no --yes), 4 Redis unreachable or\n"
"refused a command.\n",
            cli_global_help);
}
/* clang-format on */

/* The undelivered entries of key: XLEN minus what the group has seen. */
static int
purge_count(struct conn *c, const char *key, long long *waiting)
{
    redisReply *r = conn_call(c, "XINFO", "GROUPS", key, (const char *)NULL);
    if (r == NULL)
        return -1;
    *waiting = -1;
    if (r->type == REDIS_REPLY_ERROR) {
        /* No such key: nothing waits. */
        *waiting = 0;
        freeReplyObject(r);
        return 0;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *g = r->element[i];
        int ours = 0;
        long long lag = -1;
        for (size_t k = 0; g->type == REDIS_REPLY_ARRAY && k + 1 < g->elements;
             k += 2) {
            const redisReply *f = g->element[k], *v = g->element[k + 1];
            if (f->type != REDIS_REPLY_STRING)
                continue;
            if (strcmp(f->str, "name") == 0 && v->type == REDIS_REPLY_STRING)
                ours = strcmp(v->str, KEYS_GROUP) == 0;
            else if (strcmp(f->str, "lag") == 0 &&
                     v->type == REDIS_REPLY_INTEGER)
                lag = v->integer;
        }
        if (ours)
            *waiting = lag;
    }
    freeReplyObject(r);
    if (*waiting < 0) { /* no group (or Redis < 7: no lag): all entries */
        r = conn_call(c, "XLEN", key, (const char *)NULL);
        if (r == NULL)
            return -1;
        *waiting = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
        freeReplyObject(r);
    }
    return 0;
}

int
purge_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"yes", no_argument, NULL, 'y'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    int opt, yes = 0, rc = CLI_EXIT_USAGE;
    char key[KEYS_MAX];

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "yr:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'y':
            yes = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            purge_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("purge", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind + 1 != argc)
        return cli_usage("purge", optind >= argc
                                      ? "no QUEUE given; e.g. celeriac purge "
                                        "default --yes"
                                      : "one QUEUE at a time");
    const char *queue = argv[optind];
    if (!keys_valid_name(queue) ||
        keys_queue(key, sizeof(key), cli->prefix, queue) < 0)
        return cli_usage("purge",
                         "'%s' is not a queue name (1 to 200 printable "
                         "bytes, no space or comma)",
                         queue);
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;
    if (!yes) {
        long long waiting;
        if (purge_count(&conn, key, &waiting) < 0)
            goto lost;
        cli_warnx("purge deletes the %lld task(s) waiting in queue '%s'; "
                  "run again with --yes to do it",
                  waiting, queue);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    long long total = 0, pending = 0;
    for (;;) {
        const char *args[] = {"EVAL",     purge_script, "1", key,
                              KEYS_GROUP, PURGE_CHUNK};
        redisReply *r = conn_command(&conn, 6, args, NULL);
        if (r == NULL)
            goto lost;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_INTEGER) {
            conn_report_error(&conn, "the purge script", r);
            freeReplyObject(r);
            goto done;
        }
        long long n = r->element[0]->integer;
        if (r->element[1]->type == REDIS_REPLY_INTEGER)
            pending = r->element[1]->integer;
        freeReplyObject(r);
        total += n;
        if (n < atoll(PURGE_CHUNK))
            break;
    }
    printf("purged %lld task(s) from queue %s; %lld taken by workers are "
           "left to finish\n",
           total, cli_safe(queue), pending);
    rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    goto done;
lost:
    if (conn_lost(&conn))
        conn_report_lost(&conn, "purging the queue");
done:
    conn_close(&conn);
    return rc;
}
