/* SPDX-License-Identifier: MIT */
/* `celeriac result`: read results later, optionally waiting for them. */
#include "resultcmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "keys.h"
#include "result.h"
#include "version.h"
#include "xmalloc.h"

/* Polling of --wait: 20 ms doubling to 1 s between reads. */
#define RESULTCMD_POLL_MIN_MS 20
#define RESULTCMD_POLL_MAX_MS 1000
/* Ids read per MGET. */
#define RESULTCMD_CHUNK 500
#define RESULTCMD_MAX_IDS 100000

/* One id on the command line and what was found for it. */
struct resultcmd_item {
    const char *id; /* borrowed from argv */
    char *doc;      /* the stored document; owned; NULL: none yet */
    size_t len;
    int final;      /* doc holds a status other than RETRY */
};

/* One shard's key space (--shards N; just --prefix without). */
struct resultcmd_shard {
    char prefix[KEYS_MAX];
    struct conn conn;
};

static int resultcmd_read(struct conn *c, const char *prefix,
                          struct resultcmd_item *items, int n);
static int resultcmd_print(const struct resultcmd_item *it, int as_json);
static int resultcmd_is_final(const char *doc, size_t len);

/* clang-format off */
void
resultcmd_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac result [--wait [--timeout S]] [--json] ID...\n"
"\n"
"Prints the results of tasks, read from their result keys\n"
"<prefix>result:ID (kept for the worker's --result-ttl, one day by\n"
"default).  ID is what 'celeriac send' printed.  One line per ID, in the\n"
"order given: ID, status and the result (for a hash task its digest) or\n"
"the error type and message.  A task with no result yet (queued, running,\n"
"or an unknown or expired id) shows 'none'; a RETRY result is not final.\n"
"With --shards N, each ID is looked up in every shard (the one it was\n"
"sent to has it).\n"
"\n"
"  -w, --wait             wait until every ID has a final result (any\n"
"                         status but RETRY)\n"
"  -t, --timeout S        with --wait: give up after S seconds (fractions\n"
"                         allowed); default: wait forever\n"
"  -j, --json             print each stored result document (one line of\n"
"                         JSON) instead; an ID without one prints\n"
"                         {\"id\": ID, \"status\": null}\n"
"\n%s"
"\n"
"Exit codes: 0 every task succeeded, 1 a task failed, expired, was revoked\n"
"or has no final result, 2 usage error, 3 --timeout elapsed, 4 Redis\n"
"unreachable or refused a command.\n"
"\n"
"Examples:\n"
"  celeriac result default/1732240000000-0\n"
"  celeriac result --wait --timeout 30 job-1 job-2\n",
            cli_global_help);
}
/* clang-format on */

/* 1 when doc is a result document with a final status. */
static int
resultcmd_is_final(const char *doc, size_t len)
{
    json_t *root = json_loadb(doc, len, 0, NULL);
    const char *st =
        json_string_value(json_object_get(root, RESULT_F_STATUS));
    int final = st != NULL && strcmp(st, RESULT_RETRY) != 0;
    json_decref(root);
    return final;
}

/*
 * Reads the result keys of the items not final yet, RESULTCMD_CHUNK per
 * MGET.  Returns 0, or -1 (conn.h convention).
 */
static int
resultcmd_read(struct conn *c, const char *prefix,
               struct resultcmd_item *items, int n)
{
    const char **argv = xmalloc(sizeof(*argv) * (RESULTCMD_CHUNK + 1));
    char (*keys)[KEYS_MAX] = xmalloc(sizeof(*keys) * RESULTCMD_CHUNK);
    int *which = xmalloc(sizeof(*which) * RESULTCMD_CHUNK);
    int rc = 0, i = 0;

    while (rc == 0 && i < n) {
        int k = 0;
        argv[0] = "MGET";
        for (; i < n && k < RESULTCMD_CHUNK; i++) {
            if (items[i].final)
                continue;
            /* Checked in resultcmd_main: every id makes a key. */
            keys_result(keys[k], KEYS_MAX, prefix, items[i].id);
            argv[k + 1] = keys[k];
            which[k++] = i;
        }
        if (k == 0)
            break;
        redisReply *r = conn_command(c, k + 1, argv, NULL);
        if (r == NULL) {
            rc = -1;
            break;
        }
        if (r->type != REDIS_REPLY_ARRAY || r->elements != (size_t)k) {
            conn_report_error(c, "MGET of result keys", r);
            freeReplyObject(r);
            rc = -1;
            break;
        }
        for (int j = 0; j < k; j++) {
            const redisReply *e = r->element[j];
            struct resultcmd_item *it = &items[which[j]];
            if (e->type != REDIS_REPLY_STRING)
                continue;
            free(it->doc);
            it->doc = xstrndup(e->str, e->len);
            it->len = e->len;
            it->final = resultcmd_is_final(e->str, e->len);
        }
        freeReplyObject(r);
    }
    free(which);
    free(keys);
    free(argv);
    return rc;
}

/*
 * Reads the items not final yet from every shard; with wait, a lost
 * connection is made again until deadline.  Returns 0; -1 when a shard
 * could not be read (*bad: which; its loss not yet reported); or -2 when
 * the deadline passed while reconnecting.
 */
static int
resultcmd_read_shards(struct resultcmd_shard *sh, int nsh,
                      struct resultcmd_item *items, int n, int wait,
                      int64_t deadline, int *bad)
{
    for (int s = 0; s < nsh; s++) {
        while (resultcmd_read(&sh[s].conn, sh[s].prefix, items, n) < 0) {
            if (!conn_lost(&sh[s].conn) || !wait) {
                *bad = s;
                return -1;
            }
            if (conn_reconnect(&sh[s].conn, deadline) < 0)
                return -2;
        }
    }
    return 0;
}

/*
 * Names and connects to every shard.  Returns 0, or an exit code after
 * printing why not.
 */
static int
resultcmd_connect(struct cli *cli, struct resultcmd_shard *sh, int nsh)
{
    for (int s = 0; s < nsh; s++) {
        if (cli_shard_prefix(cli, s, sh[s].prefix, sizeof(sh[s].prefix)) < 0 ||
            conn_init(&sh[s].conn, cli->redis, sh[s].prefix) < 0)
            return CLI_EXIT_USAGE;
    }
    for (int s = 0; s < nsh; s++)
        if (conn_connect(&sh[s].conn) < 0)
            return CLI_EXIT_REDIS;
    return 0;
}

/* Prints one item.  Returns 1 when it is a final SUCCESS, else 0. */
static int
resultcmd_print(const struct resultcmd_item *it, int as_json)
{
    if (it->doc == NULL) {
        if (as_json) {
            json_t *o = json_pack("{s:s, s:n}", RESULT_F_ID, it->id,
                                  RESULT_F_STATUS);
            char *s = json_dumps(o, JSON_COMPACT);
            printf("%s\n", s);
            free(s);
            json_decref(o);
        } else {
            printf("%s none\n", cli_safe(it->id));
        }
        return 0;
    }
    json_t *root = json_loadb(it->doc, it->len, 0, NULL);
    const char *st =
        json_string_value(json_object_get(root, RESULT_F_STATUS));
    int ok = st != NULL && strcmp(st, RESULT_SUCCESS) == 0;
    if (as_json) {
        fwrite(it->doc, 1, it->len, stdout);
        putchar('\n');
    } else if (ok) {
        json_t *v = json_object_get(root, RESULT_F_RESULT);
        const char *dg = json_string_value(json_object_get(v, RESULT_F_DIGEST));
        char *s = dg ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        printf("%s %s %s\n", cli_safe(it->id), st,
               dg ? cli_safe(dg) : cli_safe(s ? s : "null"));
        free(s);
    } else {
        json_t *e = json_object_get(root, RESULT_F_ERROR);
        const char *t = json_string_value(json_object_get(e,
                                          RESULT_F_ERROR_TYPE));
        const char *m = json_string_value(json_object_get(e,
                                          RESULT_F_ERROR_MESSAGE));
        printf("%s %s %s: %s\n", cli_safe(it->id),
               cli_safe(st ? st : "(no status)"),
               cli_safe(t ? t : "(no type)"), cli_safe(m ? m : ""));
    }
    json_decref(root);
    return ok;
}

int
resultcmd_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    struct resultcmd_shard *sh = NULL;
    struct resultcmd_item *items = NULL;
    int opt, wait = 0, as_json = 0, rc = CLI_EXIT_USAGE, n = 0, nsh, bad = 0;
    int64_t timeout_us = 0;
    char last[KEYS_MAX]; /* the longest shard prefix */

    while ((opt = getopt_long(argc, argv, "wt:jr:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'w':
            wait = 1;
            break;
        case 't':
            if (cli_parse_seconds(optarg, &timeout_us) < 0)
                return cli_usage("result",
                                 "--timeout '%s': expected a number of "
                                 "seconds greater than 0",
                                 optarg);
            break;
        case 'j':
            as_json = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            resultcmd_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("result", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (timeout_us != 0 && !wait)
        return cli_usage("result", "--timeout only applies with --wait");
    n = argc - optind;
    nsh = cli->shards > 1 ? cli->shards : 1;
    if (cli_check_shards(cli, "result") != 0 ||
        cli_shard_prefix(cli, nsh - 1, last, sizeof(last)) < 0 ||
        cli_check_ids("result", last, n, argv + optind, RESULTCMD_MAX_IDS) != 0)
        return CLI_EXIT_USAGE;
    items = xcalloc((size_t)n, sizeof(*items));
    for (int i = 0; i < n; i++)
        items[i].id = argv[optind + i];
    sh = xcalloc((size_t)nsh, sizeof(*sh));
    if ((rc = resultcmd_connect(cli, sh, nsh)) != 0)
        goto done;
    rc = CLI_EXIT_REDIS;

    int64_t deadline = cli_deadline(timeout_us), delay = RESULTCMD_POLL_MIN_MS;
    int timed_out = 0;
    for (;;) {
        int rr = resultcmd_read_shards(sh, nsh, items, n, wait, deadline, &bad);
        if (rr == -1)
            goto lost;
        if (rr == -2) {
            rc = CLI_EXIT_TIMEOUT;
            goto done;
        }
        int open = 0;
        for (int i = 0; i < n; i++)
            open += !items[i].final;
        if (!wait || open == 0)
            break;
        int64_t now = cli_now_us();
        if (deadline != 0 && now >= deadline) {
            timed_out = open;
            break;
        }
        int64_t sleep_us = delay * 1000;
        if (deadline != 0 && now + sleep_us > deadline)
            sleep_us = deadline - now;
        struct timespec ts = {sleep_us / 1000000, (sleep_us % 1000000) * 1000};
        nanosleep(&ts, NULL);
        delay = delay * 2 > RESULTCMD_POLL_MAX_MS ? RESULTCMD_POLL_MAX_MS
                                                  : delay * 2;
    }
    int good = 0;
    for (int i = 0; i < n; i++)
        good += resultcmd_print(&items[i], as_json);
    if (cli_flush_stdout() < 0) {
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    if (timed_out) {
        cli_warnx("--timeout elapsed: %d of %d tasks have no final result; "
                  "%s",
                  timed_out, n, conn_timeout_hint(&sh[0].conn));
        rc = CLI_EXIT_TIMEOUT;
    } else {
        rc = good == n ? CLI_EXIT_OK : CLI_EXIT_FAILED;
    }
    goto done;
lost:
    if (conn_lost(&sh[bad].conn))
        conn_report_lost(&sh[bad].conn, "reading results");
done:
    if (items != NULL)
        for (int i = 0; i < n; i++)
            free(items[i].doc);
    free(items);
    if (sh != NULL)
        for (int s = 0; s < nsh; s++)
            conn_close(&sh[s].conn);
    free(sh);
    return rc;
}
