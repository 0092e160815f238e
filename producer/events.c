/* SPDX-License-Identifier: MIT */
/* `celeriac events`; see events.h. */
#include "events.h"

#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "keys.h"

/* Default number of past events shown; the most one call reads. */
#define EVENTS_DEFAULT_COUNT 20
#define EVENTS_MAX_COUNT 10000
/* A --follow read's BLOCK, ms. */
#define EVENTS_FOLLOW_BLOCK_MS 5000

/* clang-format off */
void
events_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac events [--json] [--follow] [--count N]\n"
"\n"
"Prints the events stream <prefix>events, oldest first: workers coming\n"
"online and going offline (warm, cold, presumed-dead), and, from workers\n"
"started with --events, every task received, started, succeeded, failed,\n"
"retried, expired, dead-lettered or taken over (protocol/PROTOCOL.md,\n"
"\"Events\").\n"
"\n"
"  --count N      the last N events (default %d; at most %d)\n"
"  --follow       then wait for new events and print them as they come,\n"
"                 until interrupted\n"
"  --json         one JSON object a line: {\"event\": entry id, \"type\",\n"
"                 \"ts\" (Unix ms), \"worker\", ...}; attempt is a number,\n"
"                 runtime and queued are seconds\n"
"\n%s"
"\n"
"Exit codes: 0 shown, 2 usage error, 4 Redis unreachable or refused a "
"command.\n",
            EVENTS_DEFAULT_COUNT, EVENTS_MAX_COUNT, cli_global_help);
}
/* clang-format on */

/* One event as JSON: {"event": id, field: value...}. */
static json_t *
events_doc(const redisReply *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "event", json_string(e->element[0]->str));
    const redisReply *f = e->element[1];
    for (size_t k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements;
         k += 2) {
        const char *name = f->element[k]->str;
        const char *val = f->element[k + 1]->str;
        if (name == NULL || val == NULL)
            continue;
        json_t *v;
        if (strcmp(name, "ts") == 0 || strcmp(name, "attempt") == 0)
            v = json_integer(strtoll(val, NULL, 10));
        else if (strcmp(name, "runtime") == 0 || strcmp(name, "queued") == 0)
            v = json_real(strtod(val, NULL));
        else
            v = json_stringn(val, f->element[k + 1]->len);
        if (v == NULL) /* not UTF-8 */
            v = json_string(cli_safe(val));
        json_object_set_new(o, name, v);
    }
    return o;
}

static void
events_print(const redisReply *e, int as_json)
{
    json_t *o = events_doc(e);
    if (as_json) {
        char *text = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        printf("%s\n", text ? text : "{}");
        free(text);
        json_decref(o);
        return;
    }
    char when[40] = "?";
    json_t *ts = json_object_get(o, "ts");
    if (json_is_integer(ts)) {
        long long ms = json_integer_value(ts);
        time_t sec = (time_t)(ms / 1000);
        struct tm tm;
        gmtime_r(&sec, &tm);
        size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
        snprintf(when + n, sizeof(when) - n, ".%03lldZ", ms % 1000);
    }
    json_t *type = json_object_get(o, "type");
    printf("%s %s", when,
           cli_safe(json_is_string(type) ? json_string_value(type) : "?"));
    const char *name;
    json_t *v;
    json_object_foreach(o, name, v)
    {
        if (strcmp(name, "ts") == 0 || strcmp(name, "type") == 0 ||
            strcmp(name, "event") == 0)
            continue;
        if (json_is_string(v))
            printf(" %s=%s", cli_safe(name), cli_safe(json_string_value(v)));
        else if (json_is_integer(v))
            printf(" %s=%lld", cli_safe(name),
                   (long long)json_integer_value(v));
        else if (json_is_real(v))
            printf(" %s=%.6f", cli_safe(name), json_real_value(v));
    }
    printf("\n");
    json_decref(o);
}

/* 1 if e is a stream entry [id, [fields]]. */
static int
events_entry_ok(const redisReply *e)
{
    return e->type == REDIS_REPLY_ARRAY && e->elements == 2 &&
           e->element[0]->type == REDIS_REPLY_STRING &&
           e->element[1]->type == REDIS_REPLY_ARRAY;
}

int
events_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"json", no_argument, NULL, 'j'},
        {"follow", no_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {NULL, 0, NULL, 0},
    };
    struct conn conn;
    int opt, as_json = 0, follow = 0, rc = CLI_EXIT_USAGE;
    long count = EVENTS_DEFAULT_COUNT;
    char *end;

    memset(&conn, 0, sizeof(conn));
    while ((opt = getopt_long(argc, argv, "jfn:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'j':
            as_json = 1;
            break;
        case 'f':
            follow = 1;
            break;
        case 'n':
            errno = 0;
            count = strtol(optarg, &end, 10);
            if (errno || end == optarg || *end || count < 0 ||
                count > EVENTS_MAX_COUNT)
                return cli_usage("events",
                                 "--count needs a number from 0 to %d, not "
                                 "'%s'",
                                 EVENTS_MAX_COUNT, cli_safe(optarg));
            break;
        case 'h':
        case CLI_OPT_HELP:
            events_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("events", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind < argc)
        return cli_usage("events", "events takes no arguments ('%s')",
                         cli_safe(argv[optind]));
    if (conn_init(&conn, cli->redis, cli->prefix) < 0)
        goto done;
    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;
    char key[KEYS_MAX], cnt[24], last[64] = "0-0";
    keys_events(key, sizeof(key), cli->prefix);
    snprintf(cnt, sizeof(cnt), "%ld", count);
    redisReply *r = conn_call(&conn, "XREVRANGE", key, "+", "-", "COUNT",
                              count > 0 ? cnt : "1", (const char *)NULL);
    if (r == NULL)
        goto lost;
    if (r->type != REDIS_REPLY_ARRAY) {
        conn_report_error(&conn, "XREVRANGE", r);
        freeReplyObject(r);
        goto done;
    }
    for (size_t i = r->elements; count > 0 && i-- > 0;)
        if (events_entry_ok(r->element[i]))
            events_print(r->element[i], as_json);
    /* --follow goes on after the newest entry there is now. */
    redisReply *top = conn_call(&conn, "XREVRANGE", key, "+", "-", "COUNT", "1",
                                (const char *)NULL);
    if (top != NULL && top->type == REDIS_REPLY_ARRAY && top->elements == 1 &&
        events_entry_ok(top->element[0]))
        snprintf(last, sizeof(last), "%s", top->element[0]->element[0]->str);
    freeReplyObject(top);
    freeReplyObject(r);
    if (cli_flush_stdout() < 0) {
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    while (follow) {
        char blk[24];
        snprintf(blk, sizeof(blk), "%d", EVENTS_FOLLOW_BLOCK_MS);
        conn_set_timeout(&conn, EVENTS_FOLLOW_BLOCK_MS + CONN_IO_TIMEOUT_MS);
        r = conn_call(&conn, "XREAD", "COUNT", "1000", "BLOCK", blk, "STREAMS",
                      key, last, (const char *)NULL);
        if (r == NULL) {
            if (conn_reconnect(&conn, 0) < 0)
                goto done;
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            conn_report_error(&conn, "XREAD", r);
            freeReplyObject(r);
            goto done;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
            r->element[0]->type == REDIS_REPLY_ARRAY &&
            r->element[0]->elements == 2) {
            const redisReply *ents = r->element[0]->element[1];
            for (size_t i = 0; i < ents->elements; i++) {
                if (!events_entry_ok(ents->element[i]))
                    continue;
                snprintf(last, sizeof(last), "%s",
                         ents->element[i]->element[0]->str);
                events_print(ents->element[i], as_json);
            }
        }
        freeReplyObject(r);
        if (cli_flush_stdout() < 0) {
            rc = CLI_EXIT_FAILED;
            goto done;
        }
    }
    rc = CLI_EXIT_OK;
    goto done;
lost:
    if (conn_lost(&conn))
        conn_report_lost(&conn, "reading the events");
done:
    conn_close(&conn);
    return rc;
}
