/* SPDX-License-Identifier: MIT */
/* Global options, exit codes and user-facing messages of the celeriac CLI. */
#include "cli.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "escape.h"
#include "keys.h"
#include "log.h"
#include "redisurl.h"
#include "tlspipe.h"
#include "version.h"
#include "xmalloc.h"

const char cli_global_help[] =
    "Global options (before or after the command):\n"
    "  --redis URL    Redis to use: redis://[user:password@]host[:port][/db]\n"
    "                 or unix:///path/to.sock[?db=N]; default: "
    "$CELERIAC_REDIS_URL,\n"
    "                 else redis://127.0.0.1:6379/0.  The password may come "
    "from\n"
    "                 $CELERIAC_REDIS_PASSWORD instead of the URL.  With\n"
    "                 Redis Sentinel: "
    "sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/db]\n"
    "                 (the sentinels' password: "
    "$CELERIAC_SENTINEL_PASSWORD).\n"
    "                 rediss://... is Redis over TLS: the certificate is\n"
    "                 checked against the system's CAs and the host name;\n"
    "                 sentinel+tls://... is Sentinel over TLS (the master's\n"
    "                 certificate is checked against its IP address).\n"
    "                 Redis Cluster: cluster://HOST:PORT[,HOST:PORT...]\n"
    "                 (seed nodes; cluster+tls:// over TLS) with a --prefix\n"
    "                 that has a hash tag, e.g. '{celeriac}:'.\n"
    "  --tls-ca-file FILE, --tls-ca-dir DIR, --tls-cert FILE, --tls-key FILE\n"
    "                 CAs to trust instead (PEM file, c_rehash directory);\n"
    "                 a client certificate and its key.  Also\n"
    "                 $CELERIAC_TLS_CA_FILE, _CA_DIR, _CERT and _KEY.\n"
    "  --prefix P     prefix of every Redis key (default \"celeriac:\")\n"
    "  --shards N     the deployment is N shards (1 to 64, default 1): key\n"
    "                 spaces whose prefixes add \".1\" ... to the hash tag of\n"
    "                 --prefix ('{cq}:' then '{cq.1}:', '{cq.2}:' ...), which\n"
    "                 a Redis Cluster keeps on different masters; workers\n"
    "                 consume every shard.  send spreads tasks over them,\n"
    "                 result looks in each, hash uses one per run; other\n"
    "                 commands refuse N > 1 (run them with --prefix per\n"
    "                 shard).  Needs a --prefix with a hash tag.\n"
    "  --help         show help and exit\n";

void
cli_init(struct cli *cli)
{
    cli->redis = NULL;
    cli->prefix = KEYS_DEFAULT_PREFIX;
    cli->shards = 1;
    cli->no_shards_cmd = NULL;
}

void
cli_cleanup(struct cli *cli)
{
    free(cli->redis);
    cli->redis = NULL;
}

const char *
cli_safe(const char *s)
{
    static char *ring[CLI_SAFE_RING];
    static unsigned next;

    if (s == NULL)
        return "(null)";
    char **slot = &ring[next++ % CLI_SAFE_RING];
    free(*slot);
    *slot = escape_dup(s, ESCAPE_BACKSLASH);
    return *slot;
}

/* --shards N: 1 stored, -1 bad or not supported here (printed). */
static int
cli_shards_option(struct cli *cli, const char *arg)
{
    char *end;
    long v = strtol(arg, &end, 10);

    if (end == arg || *end != '\0' || v < 1 || v > KEYS_SHARDS_MAX) {
        cli_usage(cli->no_shards_cmd,
                  "--shards '%s': expected a number of shards from 1 to %d",
                  arg, KEYS_SHARDS_MAX);
        return -1;
    }
    cli->shards = (int)v;
    if (cli->shards > 1 && cli->no_shards_cmd != NULL) {
        cli_refuse_shards(cli, cli->no_shards_cmd);
        return -1;
    }
    return 1;
}

int
cli_shard_prefix(const struct cli *cli, int i, char *buf, size_t n)
{
    if (cli->shards <= 1 && i == 0) {
        int r = snprintf(buf, n, "%s", cli->prefix);
        return r < 0 || (size_t)r >= n ? -1 : 0;
    }
    return keys_shard_prefix(buf, n, cli->prefix, i);
}

int
cli_check_shards(const struct cli *cli, const char *cmd)
{
    char buf[KEYS_MAX];

    if (cli->shards <= 1)
        return 0;
    if (keys_shard_prefix(buf, sizeof(buf), cli->prefix, 0) < 0)
        return cli_usage(cmd,
                         "--shards %d needs a --prefix with a Redis hash tag, "
                         "such as '{cq}:' ('%s' has none): each shard's "
                         "prefix changes the tag, '{cq.1}:', '{cq.2}:' ...",
                         cli->shards, cli->prefix);
    if (keys_shard_prefix(buf, sizeof(buf), cli->prefix, cli->shards - 1) < 0)
        return cli_usage(cmd,
                         "--prefix '%s' is too long for %d shards; keep it "
                         "under %d bytes",
                         cli->prefix, cli->shards, KEYS_PREFIX_MAX - 4);
    return 0;
}

int
cli_refuse_shards(const struct cli *cli, const char *cmd)
{
    char list[400], p[KEYS_MAX], one[KEYS_MAX];
    size_t off = 0;
    int i;

    if (keys_shard_prefix(one, sizeof(one), cli->prefix, 1) < 0) {
        cli_warnx("%s: --shards is not supported here yet; run it once per "
                  "shard with --prefix (and --shards needs a --prefix with "
                  "a hash tag, such as '{cq}:')",
                  cmd);
        return CLI_EXIT_USAGE;
    }
    list[0] = '\0';
    for (i = 0; i < cli->shards; i++) {
        if (keys_shard_prefix(p, sizeof(p), cli->prefix, i) < 0)
            break;
        int r =
            snprintf(list + off, sizeof(list) - off, "%s'%s'", i ? " " : "", p);
        if (r < 0 || (size_t)r >= sizeof(list) - off) {
            list[off] = '\0';
            break;
        }
        off += (size_t)r;
    }
    cli_warnx("%s: --shards is not supported here yet; run it once per "
              "shard, e.g. with --prefix '%s' (shard prefixes: %s%s)",
              cmd, one, list, i < cli->shards ? " ..." : "");
    return CLI_EXIT_USAGE;
}

int
cli_global_option(struct cli *cli, int opt, char *arg)
{
    switch (opt) {
    case 'r': /* -r: the worker's short option too */
    case CLI_OPT_REDIS:
        /* Keep a copy, then hide the password from ps. */
        free(cli->redis);
        cli->redis = xstrdup(arg);
        redisurl_scrub(arg);
        return 1;
    case CLI_OPT_PREFIX:
        if (strlen(arg) > PROTOCOL_MAX_NAME) {
            cli_warnx("--prefix is %zu bytes; keep it under %d", strlen(arg),
                      PROTOCOL_MAX_NAME);
            return -1;
        }
        cli->prefix = arg;
        return 1;
    case CLI_OPT_SHARDS:
        return cli_shards_option(cli, arg);
    case CLI_OPT_TLS_CA_FILE:
    case CLI_OPT_TLS_CA_DIR:
    case CLI_OPT_TLS_CERT:
    case CLI_OPT_TLS_KEY: {
        static const char *const names[] = {"tls-ca-file", "tls-ca-dir",
                                            "tls-cert", "tls-key"};
        tlspipe_set(names[opt - CLI_OPT_TLS_CA_FILE], arg);
        return 1;
    }
    default:
        return 0;
    }
}

static int cli_to_log; /* cli_warn_to_log() */

void
cli_warn_to_log(void)
{
    cli_to_log = 1;
}

static void cli_vwarn(int with_errno, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
cli_vwarn(int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[2048];

    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (mlen < 0)
        mlen = 0;
    else if ((size_t)mlen >= sizeof(msg))
        mlen = sizeof(msg) - 1;
    /*
     * Messages quote untrusted names and reasons: control characters and
     * invalid UTF-8 in them are escaped.  Backslashes are left alone: file
     * names are already quoted the coreutils way (sums_quote()).
     */
    char safe[sizeof(msg) * 4];
    escape_buf(safe, sizeof(safe), msg, (size_t)mlen, 0);
    /* Let what was printed so far come first, as it was produced first. */
    fflush(stdout);
    if (cli_to_log && with_errno)
        log_error("%s: %s", safe, strerror(saved));
    else if (cli_to_log)
        log_error("%s", safe);
    else if (with_errno)
        fprintf(stderr, "celeriac: %s: %s\n", safe, strerror(saved));
    else
        fprintf(stderr, "celeriac: %s\n", safe);
    errno = saved;
}

void
cli_warnx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vwarn(0, fmt, ap);
    va_end(ap);
}

void
cli_warn(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vwarn(1, fmt, ap);
    va_end(ap);
}

int
cli_usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    cli_vwarn(0, fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "Try 'celeriac %s --help'.\n", cmd);
    else
        fprintf(stderr, "Try 'celeriac --help'.\n");
    return CLI_EXIT_USAGE;
}

int
cli_parse_seconds(const char *s, int64_t *us)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) ||
        v > 100.0 * 365 * 86400)
        return -1;
    *us = (int64_t)(v * 1e6);
    if (*us < 1)
        *us = 1;
    return 0;
}

int64_t
cli_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
cli_deadline(int64_t timeout_us)
{
    return timeout_us > 0 ? cli_now_us() + timeout_us : 0;
}

int
cli_flush_stdout(void)
{
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    if (errno != EPIPE)
        cli_warn("cannot write to standard output");
    return -1;
}

/* Levenshtein distance of a and b, or more than max when it is. */
static size_t
cli_distance(const char *a, const char *b, size_t max)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return max + 1;
    size_t row[65];
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t diag = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t up = row[j];
            size_t best = diag + (a[i - 1] != b[j - 1]);
            if (row[j] + 1 < best)
                best = row[j] + 1;
            if (row[j - 1] + 1 < best)
                best = row[j - 1] + 1;
            row[j] = best;
            diag = up;
        }
    }
    return row[lb];
}

const char *
cli_nearest(const char *word, const char *const *names, size_t max)
{
    const char *best = NULL;
    size_t bestd = max + 1;
    for (size_t i = 0; names[i] != NULL; i++) {
        size_t d = cli_distance(word, names[i], max);
        if (d < bestd) {
            bestd = d;
            best = names[i];
        }
    }
    return best;
}

int
cli_write_all(int fd, const char *s, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, s, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        s += w;
        n -= (size_t)w;
    }
    return 0;
}

int
cli_check_ids(const char *cmd, const char *prefix, int n, char *const *ids,
              int max)
{
    char key[KEYS_MAX];
    if (n <= 0)
        return cli_usage(cmd, "no task ID given; e.g. celeriac %s "
                              "default/1732240000000-0", cmd);
    if (n > max)
        return cli_usage(cmd, "%d ids; give at most %d at a time", n, max);
    for (int i = 0; i < n; i++)
        if (ids[i][0] == '\0' || strlen(ids[i]) > PROTOCOL_MAX_NAME ||
            keys_result(key, sizeof(key), prefix, ids[i]) < 0)
            return cli_usage(cmd, "'%s' is not a task id (1 to %d bytes)",
                             ids[i], PROTOCOL_MAX_NAME);
    return 0;
}
