/* SPDX-License-Identifier: MIT */
/* `celeriac inspect` and `celeriac control`; see inspect.h. */
#include "inspect.h"

#include <getopt.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "conn.h"
#include "keys.h"
#include "token.h"
#include "xmalloc.h"

/* The commands each takes, and whether they take an argument. */
struct inspect_cmd {
    const char *name;
    const char *arg; /* its argument's name, or NULL */
};

static const struct inspect_cmd inspect_cmds[] = {
    {"ping", NULL},       {"stats", NULL}, {"active", NULL},
    {"registered", NULL}, {"conf", NULL},  {NULL, NULL},
};
static const struct inspect_cmd control_cmds[] = {
    {"shutdown", NULL}, {"pause", "QUEUE"}, {"resume", "QUEUE"},
    {"grow", "N"},      {"shrink", "N"},    {"loglevel", "LEVEL"},
    {NULL, NULL},
};

/* clang-format off */
static const char inspect_common_help[] =
"  --to WORKER    ask only the worker named WORKER (default: every live\n"
"                 worker of the registry <prefix>workers)\n"
"  --timeout SEC  wait this long for the answers (default 1)\n"
"  --json         print one JSON document: {\"request\", \"cmd\", \"arg\",\n"
"                 \"to\", \"replies\": {WORKER: {\"ok\", \"result\"}},\n"
"                 \"unanswered\": [WORKER...]}\n"
"\n"
"The request goes to the stream <prefix>control, which every worker reads;\n"
"the answers come on <prefix>reply:<request id> (protocol/PROTOCOL.md,\n"
"\"Control\").  Workers that do not answer in time are named, not waited\n"
"for.\n";

void
inspect_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac inspect [--to WORKER] [--timeout SEC] [--json] WHAT\n"
"\n"
"Asks running workers about themselves.  WHAT is one of:\n"
"  ping           are you there?\n"
"  stats          counters, children, tasks in hand, paused queues\n"
"  active         the tasks in hand with their state and runtime\n"
"  registered     the task types the worker runs (plug-ins included)\n"
"  conf           the worker's effective options\n"
"\n%s\n%s"
"\n"
"Exit codes: 0 every expected worker answered, 1 one did not (or refused),\n"
"2 usage error, 4 Redis unreachable or refused a command.\n",
            inspect_common_help, cli_global_help);
}

void
control_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac control [--to WORKER] [--timeout SEC] [--json] ACTION [ARG]\n"
"\n"
"Tells running workers to do something.  ACTION is one of:\n"
"  shutdown       warm shutdown: stop reading, finish the tasks in hand,\n"
"                 exit 0\n"
"  pause QUEUE    stop reading QUEUE (tasks in hand finish)\n"
"  resume QUEUE   read QUEUE again\n"
"  grow N         N more child processes (up to 4 x --concurrency, 256)\n"
"  shrink N       N fewer (at least one stays); a removed child finishes\n"
"                 its tasks first\n"
"  loglevel LEVEL error, warn, info or debug\n"
"\n%s\n%s"
"\n"
"Exit codes: 0 every expected worker answered ok, 1 one did not answer or\n"
"refused, 2 usage error, 4 Redis unreachable or refused a command.\n",
            inspect_common_help, cli_global_help);
}
/* clang-format on */

static const struct inspect_cmd *
inspect_find(const struct inspect_cmd *cmds, const char *name)
{
    for (size_t i = 0; cmds[i].name != NULL; i++)
        if (strcmp(cmds[i].name, name) == 0)
            return &cmds[i];
    return NULL;
}

static long long
inspect_now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (long long)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* The live workers: in the registry, with their heartbeat record. */
static int
inspect_live(struct conn *c, const char *prefix, json_t *names)
{
    char reg[KEYS_MAX], key[KEYS_MAX];
    keys_workers(reg, sizeof(reg), prefix);
    redisReply *z = conn_call(c, "ZRANGE", reg, "0", "-1", (const char *)NULL);
    if (z == NULL)
        return -1;
    if (z->type != REDIS_REPLY_ARRAY) {
        conn_report_error(c, "ZRANGE", z);
        freeReplyObject(z);
        return -1;
    }
    for (size_t i = 0; i < z->elements; i++) {
        if (z->element[i]->type != REDIS_REPLY_STRING ||
            keys_worker(key, sizeof(key), prefix, z->element[i]->str) < 0)
            continue;
        redisReply *e = conn_call(c, "EXISTS", key, (const char *)NULL);
        if (e == NULL) {
            freeReplyObject(z);
            return -1;
        }
        if (e->type == REDIS_REPLY_INTEGER && e->integer == 1)
            json_array_append_new(names, json_string(z->element[i]->str));
        freeReplyObject(e);
    }
    freeReplyObject(z);
    return 0;
}

/* Adds the replies in r (an XREAD answer) to replies; keeps the last id. */
static void
inspect_collect(const redisReply *r, json_t *replies, char *last, size_t n)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1)
        return;
    const redisReply *st = r->element[0];
    if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
        st->element[1]->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < st->element[1]->elements; i++) {
        const redisReply *e = st->element[1]->element[i];
        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
            continue;
        snprintf(last, n, "%s", e->element[0]->str);
        const redisReply *f = e->element[1];
        const char *worker = NULL, *ok = NULL, *result = NULL;
        for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements;
             k += 2) {
            const char *name = f->element[k]->str;
            if (strcmp(name, "worker") == 0)
                worker = f->element[k + 1]->str;
            else if (strcmp(name, "ok") == 0)
                ok = f->element[k + 1]->str;
            else if (strcmp(name, "result") == 0)
                result = f->element[k + 1]->str;
        }
        if (worker == NULL)
            continue;
        json_t *res = result ? json_loads(result, 0, NULL) : NULL;
        if (res == NULL)
            res = result ? json_string(result) : json_null();
        json_object_set_new(replies, worker,
                            json_pack("{s:b,s:o}", "ok",
                                      ok != NULL && strcmp(ok, "1") == 0,
                                      "result", res));
    }
}

/* 1 when every expected worker has answered. */
static int
inspect_all_in(json_t *expected, json_t *replies)
{
    size_t i;
    json_t *v;
    for (i = 0; i < json_array_size(expected); i++) {
        v = json_array_get(expected, i);
        if (json_object_get(replies, json_string_value(v)) == NULL)
            return 0;
    }
    return 1;
}

static void
inspect_print(json_t *doc)
{
    const char *name;
    json_t *v;
    json_t *replies = json_object_get(doc, "replies");
    json_object_foreach(replies, name, v)
    {
        char *text = json_dumps(json_object_get(v, "result"),
                                JSON_COMPACT | JSON_ENSURE_ASCII);
        printf("%s: %s %s\n", cli_safe(name),
               json_is_true(json_object_get(v, "ok")) ? "ok" : "refused",
               text ? text : "null");
        free(text);
    }
    json_t *unanswered = json_object_get(doc, "unanswered");
    for (size_t i = 0; i < json_array_size(unanswered); i++)
        printf("%s: no answer within the timeout\n",
               cli_safe(json_string_value(json_array_get(unanswered, i))));
}

static int
inspect_run(struct cli *cli, int argc, char **argv, const char *verb,
            const struct inspect_cmd *cmds)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"to", required_argument, NULL, 't'},
        {"timeout", required_argument, NULL, 'T'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    const char *to = "*";
    int64_t timeout_us = 1000000;
    int opt, as_json = 0, rc = CLI_EXIT_USAGE;
    json_t *expected = NULL, *replies = NULL, *doc = NULL;
    int is_inspect = cmds == inspect_cmds;
    void (*usage)(FILE *) = is_inspect ? inspect_usage : control_usage;

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            if (!keys_valid_worker(optarg))
                return cli_usage(verb, "--to needs a worker name, not '%s'",
                                 cli_safe(optarg));
            to = optarg;
            break;
        case 'T':
            if (cli_parse_seconds(optarg, &timeout_us) < 0)
                return cli_usage(verb,
                                 "--timeout needs a number of seconds, not "
                                 "'%s'",
                                 cli_safe(optarg));
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage(verb, "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind >= argc)
        return cli_usage(verb, "say what to %s", verb);
    const struct inspect_cmd *cmd = inspect_find(cmds, argv[optind]);
    if (cmd == NULL)
        return cli_usage(verb, "'%s' is not something to %s",
                         cli_safe(argv[optind]), verb);
    const char *arg = "";
    if (cmd->arg != NULL) {
        if (optind + 1 >= argc)
            return cli_usage(verb, "%s needs %s", cmd->name, cmd->arg);
        arg = argv[optind + 1];
        if (optind + 2 < argc)
            return cli_usage(verb, "too many arguments ('%s')",
                             cli_safe(argv[optind + 2]));
    } else if (optind + 1 < argc) {
        return cli_usage(verb, "%s takes no argument ('%s')", cmd->name,
                         cli_safe(argv[optind + 1]));
    }
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;

    expected = json_array();
    if (strcmp(to, "*") == 0) {
        if (inspect_live(&conn, cli->prefix, expected) < 0)
            goto lost;
    } else {
        json_array_append_new(expected, json_string(to));
    }
    char id[33], reply[KEYS_MAX], ctl[KEYS_MAX], ts[24], maxlen[24];
    token_hex(id, 32);
    if (keys_reply(reply, sizeof(reply), cli->prefix, id) < 0 ||
        keys_control(ctl, sizeof(ctl), cli->prefix) < 0) {
        cli_warnx("the prefix is too long for a key name");
        goto done;
    }
    snprintf(ts, sizeof(ts), "%lld", inspect_now_ms());
    snprintf(maxlen, sizeof(maxlen), "%d", INSPECT_CONTROL_MAXLEN);
    const char *xadd[] = {"XADD", ctl, "MAXLEN", "~",       maxlen, "*",
                          "id",   id,  "cmd",    cmd->name, "to",   to,
                          "arg",  arg, "reply",  reply,     "ts",   ts};
    redisReply *x = conn_command(&conn, 18, xadd, NULL);
    if (x == NULL)
        goto lost;
    if (x->type == REDIS_REPLY_ERROR) {
        conn_report_error(&conn, "XADD", x);
        freeReplyObject(x);
        goto done;
    }
    freeReplyObject(x);

    /* Answers until every expected worker's is in, or the deadline. */
    replies = json_object();
    char last[64] = "0-0";
    int64_t deadline = cli_deadline(timeout_us);
    while (json_array_size(expected) == 0 ||
           !inspect_all_in(expected, replies)) {
        int64_t left_ms = (deadline - cli_now_us()) / 1000;
        if (left_ms <= 0)
            break;
        char blk[24];
        snprintf(blk, sizeof(blk), "%lld", (long long)left_ms);
        conn_set_timeout(&conn, (int)left_ms + CONN_IO_TIMEOUT_MS);
        redisReply *r = conn_call(&conn, "XREAD", "BLOCK", blk, "STREAMS",
                                  reply, last, (const char *)NULL);
        if (r == NULL)
            goto lost;
        if (r->type == REDIS_REPLY_ERROR) {
            conn_report_error(&conn, "XREAD", r);
            freeReplyObject(r);
            goto done;
        }
        inspect_collect(r, replies, last, sizeof(last));
        freeReplyObject(r);
    }
    redisReply *d = conn_call(&conn, "DEL", reply, (const char *)NULL);
    freeReplyObject(d);

    json_t *unanswered = json_array();
    size_t i;
    json_t *v;
    int all_ok = json_array_size(expected) > 0;
    json_array_foreach(expected, i, v)
    {
        json_t *got = json_object_get(replies, json_string_value(v));
        if (got == NULL) {
            json_array_append(unanswered, v);
            all_ok = 0;
        } else if (!json_is_true(json_object_get(got, "ok"))) {
            all_ok = 0;
        }
    }
    doc = json_pack("{s:s,s:s,s:s,s:s,s:O,s:o}", "request", id, "cmd",
                    cmd->name, "arg", arg, "to", to, "replies", replies,
                    "unanswered", unanswered);
    if (as_json) {
        char *text = json_dumps(doc, JSON_INDENT(2) | JSON_ENSURE_ASCII);
        printf("%s\n", text ? text : "{}");
        free(text);
    } else {
        inspect_print(doc);
    }
    if (json_array_size(expected) == 0)
        cli_warnx("no live worker in the registry answered (none is "
                  "registered under this prefix)");
    rc = all_ok ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    if (cli_flush_stdout() < 0)
        rc = CLI_EXIT_FAILED;
    goto done;
lost:
    if (conn_lost(&conn))
        conn_report_lost(&conn, verb);
done:
    json_decref(doc);
    json_decref(replies);
    json_decref(expected);
    conn_close(&conn);
    return rc;
}

int
inspect_main(struct cli *cli, int argc, char **argv)
{
    return inspect_run(cli, argc, argv, "inspect", inspect_cmds);
}

int
control_main(struct cli *cli, int argc, char **argv)
{
    return inspect_run(cli, argc, argv, "control", control_cmds);
}
