/* SPDX-License-Identifier: MIT */
/* `celeriac send`: one task from the command line, optionally waited for. */
#include "send.h"

#include <getopt.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "build.h"
#include "conn.h"
#include "delivery.h"
#include "durable.h"
#include "keys.h"
#include "result.h"
#include "shard.h"
#include "submit.h"
#include "token.h"
#include "unique_send.h"
#include "validate.h"
#include "version.h"
#include "wait.h"
#include "xmalloc.h"

/* How long one XREAD blocks while waiting, in milliseconds (on a
 * terminal, the waiting line is redrawn that often). */
#define SEND_BLOCK_MS 5000
#define SEND_TTY_BLOCK_MS 1000
/* getopt_long values of send's own long options (clear of cli.h and
 * delivery.h). */
#define SEND_OPT_NO_CHECK 0x1200
#define SEND_OPT_ORDERED 0x1201
#define SEND_OPT_DURABLE 0x1202

/* What the result callback looks for and keeps. */
struct send_wait {
    const char *id; /* the task id; borrowed */
    char *doc;      /* the result document once found; owned */
    size_t len;
};

static int send_arg(json_t *args, const char *spec);
static int send_json(json_t *args, const char *text);
static int send_one(struct cli *cli, const char *task, const char *check,
                    json_t *args, const struct batch_opts *o,
                    struct unique_send *uq);
static void send_notes(const struct batch_opts *o, int64_t now_us);
static void send_result(const char *doc, size_t len, void *arg);
static void send_waiting(int tty, const char *id, int64_t t0, int clear);

/* clang-format off */
void
send_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac send TASK [--arg KEY=VALUE]... [--arg KEY:=JSON]...\n"
"                     [--json OBJECT] [--queue Q] [DELIVERY OPTIONS]\n"
"                     [--durable[=N]] [--wait [--timeout S]]\n"
"       celeriac send --batch FILE|- [--queue Q] [DELIVERY OPTIONS]\n"
"                     [--durable[=N]] [--wait [--timeout S]]\n"
"\n"
"Puts a task on a queue and prints its task id (QUEUE/ENTRY-ID, with the\n"
"stream entry id; for a delayed task, the id celeriac picked).\n"
"\n"
"  -A, --arg KEY=VALUE    an argument with a string value\n"
"  -A, --arg KEY:=JSON    an argument with a JSON value: n:=3, f:=true,\n"
"                         o:='{\"x\":1}'\n"
"  -j, --json OBJECT      arguments as one JSON object; options are applied\n"
"                         in order, so a later --arg overrides a key\n"
"  -q, --queue Q          the queue (default \"default\")\n"
"  --no-check             send a built-in task (hash) without first checking\n"
"                         its arguments and algorithm as a worker would\n"
"                         (the check uses this machine's OpenSSL); with a\n"
"                         check, a task a worker would refuse is not sent\n"
"                         (exit 2; with --batch, the line is reported as\n"
"                         bad and skipped)\n"
"  -w, --wait             wait for the result and print the result document\n"
"                         (one line of JSON) on stdout instead of the id;\n"
"                         for a delayed task, once it has run\n"
"  -t, --timeout S        with --wait: give up after S seconds (fractions\n"
"                         allowed) from the start; default: wait forever\n"
"  -b, --batch FILE       send the tasks in FILE (\"-\": stdin), one JSON\n"
"                         object per line: {\"task\": NAME, \"args\": {...}}\n"
"                         with an optional \"id\", and optionally the fields\n"
"                         of the delivery options below: \"countdown\"\n"
"                         (seconds) or \"eta\" (Unix seconds or ISO-8601 UTC),\n"
"                         and \"expires\" (Unix seconds or ISO-8601 UTC, as\n"
"                         in PROTOCOL.md), \"time_limit\", \"max_retries\",\n"
"                         \"retry_backoff\", \"retry_backoff_max\",\n"
"                         \"retry_jitter\" (true or false), and \"unique_for\"\n"
"                         and \"unique_key\" (below); a line's field\n"
"                         wins over the option.  Prints one task id per\n"
"                         line; with --wait, one result document per line\n"
"                         as results arrive (in any order), with the input\n"
"                         line number of its task as a last member\n"
"                         \"line\": N.  Bad lines are reported as\n"
"                         \"line N: ...\" and skipped.\n"
"  --durable[=N]          after queueing, wait (Redis WAIT, up to 5 s) until\n"
"                         N replicas (default 1) have the tasks too; if\n"
"                         fewer do, say so and exit with status 6: the\n"
"                         tasks are queued, but a fail-over now may lose\n"
"                         them, so send them again.  With --batch, one WAIT\n"
"                         per chunk of up to 4096 lines\n"
"  --ordered              with --batch --wait: print the results in input\n"
"                         order (a result is held back until those before\n"
"                         it came; after --timeout the rest in order)\n"
"\n"
"Delivery options (with --batch, for every line that does not set the\n"
"field itself):\n"
"  --countdown S          delay the task: due S seconds after it is sent\n"
"                         (0 to 3153600000, fractions allowed)\n"
"  --eta TIME             delay the task until TIME: ISO-8601 UTC such as\n"
"                         2026-11-22T10:00:00Z (fractions of a second\n"
"                         allowed) or a Unix time in seconds (1795316400 or\n"
"                         @1795316400).  A delayed task gets an \"id\" (32\n"
"                         random hex digits unless a batch line names one)\n"
"                         and a \"queue\", and is added to the sorted set\n"
"                         <prefix>scheduled (score: due time in Unix ms)\n"
"                         instead of the queue; any running worker moves it\n"
"                         to its queue when it is due.  Give one of\n"
"                         --countdown and --eta.\n"
"  --expires S|TIME       a worker that starts the task later does not run\n"
"                         it (result status EXPIRED, error Expired): S\n"
"                         seconds after it is sent (> 0), or at TIME\n"
"                         (ISO-8601 UTC, or @UNIXTIME).  The message carries\n"
"                         \"expires\" as a Unix time in seconds.\n"
"  --time-limit S         \"time_limit\": past S seconds (> 0, fractions\n"
"                         allowed) the task's child is killed and the\n"
"                         attempt fails with TimeLimitExceeded; default: the\n"
"                         worker's --time-limit\n"
"  --max-retries N        \"max_retries\" (0 to 1000, default 0): an attempt\n"
"                         that fails with TimeLimitExceeded or InternalError\n"
"                         is retried up to N times, through the scheduled\n"
"                         set; the result keeps \"retries\" and \"errors\"\n"
"  --retry-backoff S      \"retry_backoff\": the delay before the first retry\n"
"                         (default 1 s); it doubles for each further retry\n"
"  --retry-backoff-max S  \"retry_backoff_max\": the largest delay (default\n"
"                         600 s)\n"
"  --no-retry-jitter      \"retry_jitter\": false: wait each delay in full,\n"
"                         not a random time from half of it to all of it\n"
"\n"
"Unique tasks:\n"
"  --unique-for S         \"unique_for\": while a task with the same lock was\n"
"                         sent less than S seconds ago (1 to 315360000) and\n"
"                         has not finished, do not send this one: print\n"
"                         \"duplicate of <its id>\" and exit with status 5;\n"
"                         with --batch, for every line that does not set\n"
"                         \"unique_for\" itself, and a refused line is\n"
"                         reported as \"line N: duplicate of <its id>\"\n"
"  --unique-key K         \"unique_key\": the lock is named by K; default: by\n"
"                         the task name and its arguments (not with --batch:\n"
"                         a line sets its own \"unique_key\")\n"
"\n"
"With --shards N, tasks go to the shards in turn, starting at a random\n"
"one (with --wait, results are read from every shard's reply stream); a\n"
"unique task always goes to shard 0, where its lock is.  A task without\n"
"an \"id\" gets a random one (as a delayed task does): the shards' streams\n"
"hand out the same entry ids, so \"<queue>/<entry id>\" would not name one\n"
"task.\n"
"\n"
"Relative times count from when the task is sent (with --batch, when its\n"
"chunk of up to 4096 lines is sent), on this machine's clock; workers\n"
"compare due and expiry times with their own clocks.\n"
"\n%s"
"\n"
"Exit codes: 0 sent (with --wait: every task succeeded), 1 a task failed\n"
"or expired, or an input line was bad, 2 usage error, 3 --timeout elapsed,\n"
"4 Redis unreachable or refused a command, 5 a duplicate (--unique-for;\n"
"with --batch: some line was a duplicate and none was bad or failed),\n"
"6 fewer replicas than --durable asked acknowledged the tasks.\n"
"While waiting, a lost connection is retried (100 ms doubling to 2 s)\n"
"until the timeout.\n"
"\n"
"Examples:\n"
"  celeriac send hash --arg data=hello --arg algorithm=sha256 --wait\n"
"  celeriac send hash --arg data=abc --arg iterations:=1000 --queue fast\n"
"  celeriac send hash --arg data=abc --countdown 60 --expires 300\n"
"  celeriac send hash --arg data=abc --eta 2026-11-22T10:00:00Z\n"
"  celeriac send hash --arg data=abc --time-limit 2 --max-retries 3 --wait\n"
"  celeriac send --batch tasks.jsonl --wait --timeout 60 > results.jsonl\n",
            cli_global_help);
}
/* clang-format on */

/* Applies one --arg.  Returns 0, or -1 after printing what is wrong. */
static int
send_arg(json_t *args, const char *spec)
{
    const char *eq = strchr(spec, '=');
    json_t *v = NULL;
    json_error_t err;

    if (eq == NULL || eq == spec || (eq == spec + 1 && spec[0] == ':')) {
        cli_warnx("--arg '%s': expected KEY=VALUE (a string) or KEY:=JSON",
                  spec);
        return -1;
    }
    int raw = eq[-1] == ':';
    char *key = xstrndup(spec, (size_t)(eq - spec) - (size_t)raw);
    if (raw) {
        v = json_loads(eq + 1, JSON_DECODE_ANY, &err);
        if (v == NULL)
            cli_warnx("--arg '%s': the value after ':=' is not JSON (%s); "
                      "use KEY=VALUE for a string",
                      spec, err.text);
    } else {
        v = json_string(eq + 1);
        if (v == NULL)
            cli_warnx("--arg '%s': the value is not valid UTF-8; pass "
                      "bytes as base64 (e.g. data_b64)",
                      spec);
    }
    if (v == NULL || json_object_set_new(args, key, v) < 0) {
        if (v != NULL)
            cli_warnx("--arg '%s': the key is not valid UTF-8", spec);
        free(key);
        return -1;
    }
    free(key);
    return 0;
}

/* Merges a --json object.  Returns 0, or -1 after printing why not. */
static int
send_json(json_t *args, const char *text)
{
    json_error_t err;
    json_t *o = json_loads(text, JSON_REJECT_DUPLICATES, &err);

    if (o == NULL) {
        cli_warnx("--json is not valid JSON: %s (column %d); quote it for "
                  "the shell, e.g. --json '{\"data\": \"abc\"}'",
                  err.text, err.column);
        return -1;
    }
    if (!json_is_object(o)) {
        cli_warnx("--json must be an object of named arguments, e.g. "
                  "'{\"data\": \"abc\"}'");
        json_decref(o);
        return -1;
    }
    json_object_update(args, o);
    json_decref(o);
    return 0;
}

int
send_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"arg", required_argument, NULL, 'A'},
        {"json", required_argument, NULL, 'j'},
        {"queue", required_argument, NULL, 'q'},
        {"wait", no_argument, NULL, 'w'},
        {"timeout", required_argument, NULL, 't'},
        {"batch", required_argument, NULL, 'b'},
        {"no-check", no_argument, NULL, SEND_OPT_NO_CHECK},
        {"ordered", no_argument, NULL, SEND_OPT_ORDERED},
        {"durable", optional_argument, NULL, SEND_OPT_DURABLE},
        DELIVERY_LONG_OPTIONS,
        UNIQUE_SEND_LONG_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    struct delivery dl;
    struct unique_send uq;
    struct batch_opts bo = {
        .queue = KEYS_DEFAULT_QUEUE, .check = 1, .delivery = &dl};
    json_t *args = json_object();
    int opt, rc = CLI_EXIT_USAGE, nargs = 0, no_check = 0;

    delivery_init(&dl);
    unique_send_init(&uq);

    while ((opt = getopt_long(argc, argv, "A:aj:q:wt:b:r:h", longopts, NULL)) !=
           -1) {
        switch (opt) {
        case 'a':
            rc = cli_usage("send", "-a is --algorithm in 'celeriac hash'; "
                                   "give an argument with -A or --arg");
            goto done;
        case 'A':
            nargs++;
            if (send_arg(args, optarg) < 0)
                goto done;
            break;
        case 'j':
            nargs++;
            if (send_json(args, optarg) < 0)
                goto done;
            break;
        case 'q':
            bo.queue = optarg;
            break;
        case 'w':
            bo.wait = 1;
            break;
        case 't':
            if (cli_parse_seconds(optarg, &bo.timeout_us) < 0) {
                rc = cli_usage("send",
                               "--timeout '%s': expected a number "
                               "of seconds greater than 0",
                               optarg);
                goto done;
            }
            break;
        case 'b':
            bo.file = optarg;
            break;
        case SEND_OPT_NO_CHECK:
            no_check = 1;
            break;
        case SEND_OPT_ORDERED:
            bo.ordered = 1;
            break;
        case SEND_OPT_DURABLE:
            if ((bo.durable = durable_parse(optarg)) < 0) {
                rc = cli_usage("send",
                               "--durable=%s: expected a number of replicas "
                               "from 1 to %d",
                               optarg, DURABLE_MAX);
                goto done;
            }
            break;
        case 'h':
        case CLI_OPT_HELP:
            send_usage(stdout);
            rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
            goto done;
        case '?':
            rc = cli_usage("send", "bad option (see above)");
            goto done;
        case UNIQUE_SEND_OPT_FOR:
        case UNIQUE_SEND_OPT_KEY:
            if (unique_send_option(&uq, opt, optarg) < 0)
                goto done;
            break;
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                goto done;
            if (delivery_option(&dl, "send", opt, optarg) < 0)
                goto done;
            break;
        }
    }
    if (bo.timeout_us != 0 && !bo.wait) {
        rc = cli_usage("send", "--timeout only applies with --wait");
        goto done;
    }
    if (bo.ordered && (bo.file == NULL || !bo.wait)) {
        rc = cli_usage("send", "--ordered only applies with --batch and "
                               "--wait");
        goto done;
    }
    if (unique_send_check(&uq) < 0 || cli_check_shards(cli, "send") != 0)
        goto done;
    if (bo.file != NULL && uq.key != NULL) {
        rc = cli_usage("send", "--unique-key would give every line of "
                               "--batch the same lock; give each line its "
                               "own \"unique_key\"");
        goto done;
    }
    bo.unique_for = uq.for_s;
    bo.check = !no_check;
    if (bo.file != NULL) {
        if (optind < argc || nargs > 0) {
            rc = cli_usage("send", "--batch takes the tasks from the file; "
                                   "do not give TASK, --arg or --json");
            goto done;
        }
        rc = batch_main(cli, &bo);
        goto done;
    }
    if (optind >= argc) {
        rc = cli_usage("send", "no TASK given; e.g. celeriac send hash "
                               "--arg data=hello");
        goto done;
    }
    if (optind + 1 < argc) {
        rc = cli_usage("send",
                       "one TASK at a time ('%s' is extra); use "
                       "--batch for many",
                       argv[optind + 1]);
        goto done;
    }
    rc = send_one(cli, argv[optind], no_check ? NULL : argv[optind], args,
                  &bo, &uq);
done:
    json_decref(args);
    return rc;
}

/* wait_fn: keeps the first result document for our task id. */
static void
send_result(const char *doc, size_t len, void *arg)
{
    struct send_wait *sw = arg;
    json_t *root = json_loadb(doc, len, 0, NULL);
    const char *id = json_string_value(json_object_get(root, RESULT_F_ID));

    if (sw->doc == NULL && id != NULL && strcmp(id, sw->id) == 0) {
        sw->doc = xstrndup(doc, len);
        sw->len = len;
    }
    json_decref(root);
}

/* On a terminal: draws (or clears) the line that says we are waiting. */
static void
send_waiting(int tty, const char *id, int64_t t0, int clear)
{
    if (!tty)
        return;
    if (clear)
        fputs("\r\033[K", stderr);
    else
        fprintf(stderr, "\r\033[Kwaiting for %s ... %llds", cli_safe(id),
                (long long)((cli_now_us() - t0) / 1000000));
    fflush(stderr);
}

/* Tells about a task that cannot run as the options say (not an error). */
static void
send_notes(const struct batch_opts *o, int64_t now_us)
{
    int64_t due_ms = delivery_due_ms(o->delivery, now_us);
    int64_t exp_us = delivery_expires_us(o->delivery, now_us);

    if (due_ms >= 0 && due_ms * 1000 < now_us - 1000000)
        cli_warnx("note: --eta is in the past: the task is due at once");
    if (exp_us != 0 && exp_us <= now_us)
        cli_warnx("note: --expires is already past: workers will not run "
                  "the task (status EXPIRED)");
    else if (exp_us != 0 && due_ms >= 0 && exp_us <= due_ms * 1000)
        cli_warnx("note: the task expires before it is due: workers will "
                  "not run it (status EXPIRED)");
    if (o->wait && o->timeout_us != 0 && due_ms >= 0 &&
        due_ms * 1000 > now_us + o->timeout_us)
        cli_warnx("note: --timeout ends before the task is due");
}

/* check: the task name to check the arguments of (validate.h), or NULL. */
static int
send_one(struct cli *cli, const char *task, const char *check, json_t *args,
         const struct batch_opts *o, struct unique_send *uq)
{
    struct conn conn;
    struct submit sub;
    struct wait w;
    struct send_wait sw = {NULL, NULL, 0};
    redisReply *r = NULL;
    json_t *extra = NULL;
    struct build bm = BUILD_INIT;
    const char *msg = NULL; /* the message, in bm */
    char *id = NULL;
    char token[TOKEN_ID_LEN + 1];
    int rc = CLI_EXIT_USAGE;
    int64_t deadline = cli_deadline(o->timeout_us);
    int64_t now_us = delivery_clock_us();
    int64_t due_ms = delivery_due_ms(o->delivery, now_us);
    struct shard_rr rr;
    char prefix[KEYS_MAX]; /* of the shard the task goes to */

    memset(&conn, 0, sizeof(conn));
    /* A unique task goes to shard 0, where its lock is (shard.h). */
    shard_rr_init(&rr, uq->for_s > 0 ? 1 : cli->shards);
    if (cli_shard_prefix(cli, shard_rr_next(&rr), prefix, sizeof(prefix)) < 0) {
        cli_warnx("--prefix '%s' is too long", cli->prefix);
        goto done;
    }
    size_t tlen = strlen(task);
    if (tlen == 0 || tlen > PROTOCOL_MAX_NAME) {
        cli_warnx("the task name must be 1 to %d bytes", PROTOCOL_MAX_NAME);
        goto done;
    }
    struct proto_error perr;
    if (check != NULL && validate_task(check, args, 1, &perr) < 0) {
        cli_warnx("task not sent: a worker would refuse it: %s: %s",
                  perr.type, perr.message);
        goto done;
    }
    if (conn_init(&conn, cli->redis, prefix) < 0 ||
        submit_init(&sub, &conn, prefix, o->queue) < 0 ||
        (o->wait && wait_init(&w, &conn, prefix, deadline) < 0))
        goto done;
    struct build_spec spec = {.task = task, .args = args};
    if (due_ms >= 0 || cli->shards > 1) {
        /* A delayed task needs its id before its entry exists; so does a
         * task on one of several shards, whose streams hand out the same
         * entry ids (PROTOCOL.md, "Shards"). */
        token_hex(token, TOKEN_ID_LEN);
        spec.id = token;
        if (due_ms >= 0)
            spec.queue = o->queue;
    }
    if (o->wait)
        spec.reply_to = w.key;
    extra = json_object();
    delivery_apply(o->delivery, extra, now_us);
    if (uq->for_s > 0 && unique_send_prepare(uq, prefix, task, args, extra) < 0)
        goto done;
    spec.extra = extra;
    int br = build_message(&bm, &spec);
    if (br < 0) {
        cli_warnx("%s: the task name, the queue name and --prefix must be "
                  "valid UTF-8",
                  build_strerror(br));
        goto done;
    }
    size_t len = bm.len;
    msg = bm.buf;
    if (len > PROTOCOL_MAX_MESSAGE) {
        cli_warnx("the task message is %zu bytes; workers take at most %u "
                  "(64 MiB): send less data per task",
                  len, PROTOCOL_MAX_MESSAGE);
        goto done;
    }
    send_notes(o, now_us);

    rc = CLI_EXIT_REDIS;
    if (conn_connect(&conn) < 0)
        goto done;
    if (submit_ensure_group(&sub) < 0) {
        if (conn_lost(&conn))
            conn_report_lost(&conn, "creating the consumer group");
        goto done;
    }
    if (uq->for_s > 0) {
        unique_send_append(uq, &sub, msg, len, spec.id, due_ms);
        int ur = unique_send_reply(&conn, &id);
        if (ur < 0)
            goto done;
        if (ur == 0) {
            printf("duplicate of %s\n", id);
            rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED
                                        : UNIQUE_SEND_EXIT_DUPLICATE;
            goto done;
        }
    } else if (due_ms >= 0)
        submit_append_scheduled(&sub, due_ms, msg, len);
    else
        submit_append(&sub, msg, len);
    if (id != NULL) {
        /* sent by the unique script, which named the task id */
    } else if ((r = conn_reply(&conn)) == NULL) {
        conn_report_lost(&conn, "sending the task; it may or may not "
                                "have been queued");
        goto done;
    } else if (due_ms >= 0 && r->type == REDIS_REPLY_INTEGER) {
        id = xstrdup(token);
    } else if (due_ms < 0 && r->type == REDIS_REPLY_STRING) {
        /* An id-less task's id: "<queue>/<entry id>" (keys_task_id). */
        id = spec.id != NULL
                 ? xstrdup(spec.id)
                 : xasprintf("%s/%.*s", o->queue, (int)r->len, r->str);
    } else {
        conn_report_error(
            &conn, due_ms >= 0 ? "the delayed task (ZADD)" : "the task (XADD)",
            r);
        goto done;
    }
    if (o->durable > 0) {
        durable_append(&conn, o->durable);
        long long acked = durable_reply(&conn);
        if (acked < 0 && conn_lost(&conn))
            conn_report_lost(&conn, "waiting for replicas (--durable); the "
                                    "task was queued on the master");
        if (acked < o->durable) {
            if (acked >= 0)
                cli_warnx("task %s was queued, but %lld of %d replica(s) "
                          "acknowledged it within %d ms: it is lost if the "
                          "master fails now — send it again, or check the "
                          "replicas ('INFO replication')",
                          id, acked, o->durable, DURABLE_WAIT_MS);
            printf("%s\n", id);
            rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED
                 : acked < 0            ? CLI_EXIT_REDIS
                                        : DURABLE_EXIT;
            goto done;
        }
    }
    if (!o->wait) {
        printf("%s\n", id);
        rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        goto done;
    }

    sw.id = id;
    /* The id first, so that an interrupted wait does not lose it. */
    cli_warnx("sent task %s; waiting for its result (read it later with "
              "'celeriac result %s')",
              id, id);
    int tty = isatty(STDERR_FILENO);
    int64_t t0 = cli_now_us();
    while (sw.doc == NULL) {
        send_waiting(tty, id, t0, 0);
        if (wait_next(&w, 16, tty ? SEND_TTY_BLOCK_MS : SEND_BLOCK_MS,
                      send_result, &sw) >= 0)
            continue;
        send_waiting(tty, id, t0, 1);
        if (w.timed_out) {
            cli_warnx("no result for task %s within %.3g s: %s", id,
                      (double)o->timeout_us / 1e6, conn_timeout_hint(&conn));
            rc = CLI_EXIT_TIMEOUT;
        }
        goto done;
    }
    send_waiting(tty, id, t0, 1);
    fwrite(sw.doc, 1, sw.len, stdout);
    fputc('\n', stdout);
    rc = CLI_EXIT_OK;
    json_t *res = json_loadb(sw.doc, sw.len, 0, NULL);
    const char *status = json_string_value(json_object_get(res, RESULT_F_STATUS));
    if (status == NULL || strcmp(status, RESULT_SUCCESS) != 0) {
        json_t *e = json_object_get(res, RESULT_F_ERROR);
        const char *type = json_string_value(json_object_get(e, RESULT_F_ERROR_TYPE));
        const char *text = json_string_value(json_object_get(e, RESULT_F_ERROR_MESSAGE));
        cli_warnx("task %s %s: %s: %s", id,
                  status != NULL && strcmp(status, RESULT_EXPIRED) == 0
                      ? "was not run"
                      : "failed",
                  type != NULL ? type : "no error type",
                  text != NULL ? text : "no message");
        rc = CLI_EXIT_FAILED;
    }
    json_decref(res);
    if (cli_flush_stdout() < 0)
        rc = CLI_EXIT_FAILED;
    wait_cleanup(&w);
done:
    if (r != NULL)
        freeReplyObject(r);
    free(sw.doc);
    free(id);
    build_free(&bm);
    json_decref(extra);
    conn_close(&conn);
    return rc;
}
