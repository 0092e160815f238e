/* SPDX-License-Identifier: MIT */
/* celeriac-worker: command line and configuration, then parent_main(). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "beatfile.h"
#include "beatrun.h"
#include "broker.h"
#include "config.h"
#include "cpus.h"
#include "escape.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "netguard.h"
#include "parent.h"
#include "pathsrc.h"
#include "priority.h"
#include "registry.h"
#include "sandbox.h"
#include "settings.h"
#include "shards.h"
#include "throttle.h"
#include "version.h"
#include "xmalloc.h"

#define WORKER_VERSION "0.1.0"

static void main_usage(FILE *f);
static int main_cpus(void);
static int main_number(const char *opt, const char *s, long min, long max,
                       long *out);
static int main_queues(const char *list, struct config *cfg);
static int main_seconds(const char *opt, const char *s, double min,
                        double max, long *out_ms);
static void main_libevent_log(int severity, const char *msg);
static int main_sandbox(struct config *cfg, char **argv);
static int main_tls(const struct config *cfg);

/* The --tls-* options, in the order of their getopt values 1100... */
static const char *const main_tls_names[] = {"tls-ca-file", "tls-ca-dir",
                                             "tls-cert", "tls-key"};
static int main_load(const char **paths, int n);
static int main_beat(struct config *cfg);

/* --concurrency's default: the cores this process may use (cpus.h). */
static int
main_cpus(void)
{
    struct cpus_info in;
    cpus_available(&in);
    return in.count;
}

static void
main_usage(FILE *f)
{
    fprintf(
        f,
        "Usage: celeriac-worker [OPTION]...\n"
        "Consume tasks from Redis queues and run them in a pool of child "
        "processes.\n"
        "\n"
        "  -r, --redis URL          Redis to use: "
        "redis://[user:password@]host:port/db\n"
        "                           (rediss:// for TLS, below) or\n"
        "                           unix:///path/to.sock[?db=N]; default: the\n"
        "                           CELERIAC_REDIS_URL environment variable, "
        "else\n"
        "                           %s.  A password can be given in\n"
        "                           CELERIAC_REDIS_PASSWORD instead of the "
        "URL.\n"
        "                           With Redis Sentinel:\n"
        "                           "
        "sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/db]\n"
        "                           (sentinels' password: "
        "CELERIAC_SENTINEL_PASSWORD);\n"
        "                           the master is asked of them at every "
        "connect\n"
        "                           and followed through a fail-over.\n"
        "                           sentinel+tls://... is the same over TLS "
        "(to the\n"
        "                           sentinels and the master; the master's\n"
        "                           certificate must hold its address as an IP "
        "SAN).\n"
        "                           With Redis Cluster:\n"
        "                           cluster://HOST:PORT[,HOST:PORT...] names "
        "seed\n"
        "                           nodes (cluster+tls:// over TLS); every key "
        "is\n"
        "                           kept in one slot, so --prefix must have a "
        "hash\n"
        "                           tag, e.g. '{celeriac}:'; the master of "
        "that\n"
        "                           slot is asked of the seeds at every "
        "connect.\n"
        "  -Q, --queues A,B         queues to consume, comma-separated "
        "(default %s)\n"
        "  -c, --concurrency N      child processes (default: usable cores, %d "
        "here:\n"
        "                           the online cores, CPU affinity and cgroup "
        "CPU\n"
        "                           quota, whichever is fewest)\n"
        "      --prefetch N         tasks in flight in this worker at most: "
        "the\n"
        "                           bound of a window sized to the tasks' "
        "service\n"
        "                           time (default 512, or 16 x concurrency)\n"
        "      --prefetch-mib N     their messages' size at most, MiB (default "
        "%ld;\n"
        "                           one task is taken however large it is)\n"
        "      --window MODE        adaptive (default): the window follows "
        "the\n"
        "                           tasks' service time, at most --prefetch;\n"
        "                           fixed: always --prefetch\n"
        "  -n, --name NAME          consumer name (default hostname:pid)\n"
        "      --prefix P           Redis key prefix (default %s)\n"
        "      --shards N           consume a deployment split into N shards "
        "(key\n"
        "                           spaces that a Redis Cluster keeps on "
        "different\n"
        "                           masters; default 1): one event loop and "
        "pool\n"
        "                           per shard.  --prefix needs a hash tag;\n"
        "                           shard i (from 1) uses '{tag.i}'.  Per "
        "shard:\n"
        "                           --concurrency, --prefetch and limits; "
        "shard i's\n"
        "                           --metrics is on the port + i; --beat runs "
        "in\n"
        "                           shard 0 only\n"
        "      --result-ttl S       seconds results are kept (default %ld)\n"
        "      --reply-maxlen N     keep about N results in a reply stream at "
        "most\n"
        "                           (default %ld)\n"
        "      --durable-results[=N]  after storing results, wait (Redis WAIT, "
        "up to\n"
        "                           1 s) until N replicas (default 1) have "
        "them\n"
        "                           before taking them as stored; if the "
        "master\n"
        "                           fails first, they are stored again on the "
        "new\n"
        "                           one instead of the tasks being run again\n"
        "\n"
        "Reliability (see docs/RELIABILITY.md):\n"
        "      --visibility-timeout S  a task held this long by a worker that "
        "does\n"
        "                           not refresh it is taken over (default "
        "%ld)\n"
        "      --max-deliveries N   deliveries before a task is dead-lettered\n"
        "                           (default %d)\n"
        "      --time-limit S       default time limit of a task; its child "
        "is\n"
        "                           killed past it (default none; a message's\n"
        "                           time_limit wins).  Without one, a hash "
        "task\n"
        "                           is still bounded: 32 MiB of data and 10^7\n"
        "                           rounds, about 10 s of one core at most\n"
        "      --max-tasks-per-child N    replace a child after N tasks\n"
        "      --max-memory-per-child KiB replace a child whose peak resident\n"
        "                           memory passed KiB, after its task\n"
        "      --heartbeat S        heartbeat interval; a worker silent for 5\n"
        "                           intervals is dead (default %g)\n"
        "      --redis-timeout S    drop a Redis connection silent this long\n"
        "                           (default %ld)\n"
        "\n"
        "TLS, for a rediss:// or sentinel+tls:// URL (the server's certificate "
        "is\n"
        "always verified, for the URL's host name or the master's address, TLS "
        "1.2\n"
        "or newer):\n"
        "      --tls-ca-file FILE   PEM CA certificates to trust for Redis "
        "(default:\n"
        "                           the system's store)\n"
        "      --tls-ca-dir DIR     a directory of CA certificates (c_rehash)\n"
        "      --tls-cert FILE      PEM client certificate, for a server that "
        "asks\n"
        "      --tls-key FILE       its PEM private key (default: in "
        "--tls-cert)\n"
        "\n"
        "Sources (see protocol/PROTOCOL.md, \"Sources\"):\n"
        "      --max-fetches N      URLs fetched at once by this worker "
        "(default %d)\n"
        "      --per-host N         of them from one host at most (default %d; "
        "0: no\n"
        "                           limit)\n"
        "      --cluster-per-host N fetches from one host by all workers of "
        "this\n"
        "                           Redis together (a semaphore in Redis; "
        "default\n"
        "                           0: off)\n"
        "      --allow-hosts LIST   host names, addresses and CIDR blocks that "
        "URLs\n"
        "                           may reach although private or local "
        "(commas)\n"
        "      --ca-file FILE       PEM certificates to trust for https "
        "(default:\n"
        "                           the system's store)\n"
        "      --max-redirects N    redirects followed at most (default %d)\n"
        "      --max-fetch-bytes N  largest body fetched, bytes (default "
        "%lld;\n"
        "                           0: no limit)\n"
        "      --connect-timeout S  to connect (and TLS handshake) to one "
        "address\n"
        "                           (default %ld; 0: none)\n"
        "      --first-byte-timeout S  from request to the first response "
        "byte\n"
        "                           (default %ld; 0: none)\n"
        "      --fetch-timeout S    a whole fetch, redirects included (default "
        "%ld;\n"
        "                           0: none)\n"
        "      --files-root DIR     path sources are files under DIR (default: "
        "none,\n"
        "                           path tasks fail with NoFilesRoot)\n"
        "      --upload-timeout S   an upload source with nothing new this "
        "long\n"
        "                           fails with UploadStalled (default %ld)\n"
        "Limits and priorities (see README.md, \"Unique tasks and limits\"):\n"
        "      --rate-limit [task:|queue:]NAME=N/s|N/m|N/h\n"
        "                           start at most N tasks NAME (or of queue "
        "NAME)\n"
        "                           a second, minute or hour, all workers "
        "together\n"
        "                           (a token bucket in Redis; repeatable)\n"
        "      --concurrency-limit [task:|queue:]NAME=N\n"
        "                           run at most N of them at once, all "
        "workers\n"
        "                           together (leases that expire with a dead\n"
        "                           worker; repeatable).  Give every worker "
        "the same\n"
        "                           limits\n"
        "      --priority strict|QUEUE:W,...\n"
        "                           the order --queues are read in: strict (a\n"
        "                           later queue only when the earlier ones "
        "are\n"
        "                           empty) or weighted (QUEUE gets W shares of "
        "the\n"
        "                           tasks read; others weigh 1).  Default: all "
        "at\n"
        "                           once\n"
        "\n"
        "Periodic tasks (see README.md, \"Periodic tasks: celeriac beat\"):\n"
        "      --beat FILE          also run a beat instance for the schedule "
        "FILE\n"
        "                           (as `celeriac beat FILE`, in a process of "
        "its\n"
        "                           own, restarted if it dies): safe on every\n"
        "                           worker, a lease in Redis elects the one "
        "that\n"
        "                           fires.  A bad FILE stops the worker at "
        "start-up\n"
        "                           (status 78, errors as FILE:LINE)\n"
        "      --beat-lease S       its leader lease in seconds (default %g; "
        "0.5 to\n"
        "                           3600)\n"
        "\n"
        "Tasks (see README.md, \"Writing a task\"):\n"
        "      --load PATH          load the task plug-in PATH (a shared "
        "object;\n"
        "                           repeatable), before the children start\n"
        "\n"
        "Children's sandbox (see docs/SECURITY.md):\n"
        "      --sandbox on|off     limits, no new privileges and a seccomp "
        "filter\n"
        "                           in each child (default on; off for "
        "debugging)\n"
        "      --user NAME          the user children run as when the worker "
        "is\n"
        "                           started as root (default %s then)\n"
        "\n"
        "Configuration (see README.md, \"Configuring a worker\"):\n"
        "      --config FILE        read settings from FILE (default: the file "
        "named\n"
        "                           by CELERIAC_CONFIG, else none): \"key = "
        "value\"\n"
        "                           lines, keys named like the long options\n"
        "                           (concurrency = 4), blank lines and lines\n"
        "                           starting with # skipped; \"yes\" or \"no\" "
        "for an\n"
        "                           option without argument\n"
        "  Every long option can also be set in the environment: CELERIAC_ and "
        "its\n"
        "  name in upper case with _ for - (CELERIAC_CONCURRENCY=4; "
        "CELERIAC_REDIS_URL\n"
        "  for --redis).  A flag wins over the environment, which wins over "
        "the file,\n"
        "  which wins over the default; --load and --allow-hosts add up.\n"
        "Watching (see README.md, \"Watching a cluster\"):\n"
        "      --events             write an event per task step to "
        "<prefix>events\n"
        "                           (worker events are always written)\n"
        "      --metrics ADDR:PORT  serve Prometheus metrics at /metrics "
        "(default\n"
        "                           off; a bare PORT listens on 127.0.0.1)\n"
        "\n"
        "  -l, --log-level LEVEL    error, warn, info or debug (default info)\n"
        "  -h, --help               show this help and exit\n"
        "  -V, --version            show the version and exit\n"
        "\n"
        "SIGTERM or SIGINT: warm shutdown (stop reading, finish the tasks in "
        "hand,\n"
        "store their results, exit 0).  A second signal stops at once; "
        "unfinished\n"
        "tasks stay pending in Redis.  See README.md and "
        "protocol/PROTOCOL.md.\n"
        "\n"
        "Exit status: 0 after a warm shutdown, 1 after a cold one, 2 for a "
        "bad\n"
        "command line, 78 when Redis refuses the configuration at start-up (a "
        "wrong\n"
        "or missing password, no such database, a queue key that is not a "
        "stream),\n"
        "a --load plug-in cannot be loaded, or --files-root, --ca-file or a\n"
        "--tls-* file cannot be used, the --beat FILE has errors, or a setting "
        "of\n"
        "the --config file or the environment is bad.\n",
        REDISURL_DEFAULT, KEYS_DEFAULT_QUEUE, main_cpus(),
        CONFIG_DEFAULT_PREFETCH_MIB, KEYS_DEFAULT_PREFIX,
        CONFIG_DEFAULT_RESULT_TTL, BROKER_REPLY_MAXLEN,
        CONFIG_DEFAULT_VISIBILITY_MS / 1000, CONFIG_DEFAULT_MAX_DELIVERIES,
        CONFIG_DEFAULT_HEARTBEAT_MS / 1000.0,
        CONFIG_DEFAULT_REDIS_TIMEOUT_MS / 1000, CONFIG_DEFAULT_MAX_FETCHES,
        CONFIG_DEFAULT_PER_HOST, CONFIG_DEFAULT_MAX_REDIRECTS,
        (long long)CONFIG_DEFAULT_MAX_FETCH_MIB << 20,
        CONFIG_DEFAULT_CONNECT_MS / 1000, CONFIG_DEFAULT_FIRST_BYTE_MS / 1000,
        CONFIG_DEFAULT_FETCH_MS / 1000, CONFIG_DEFAULT_UPLOAD_MS / 1000,
        BEATRUN_DEFAULT_LEASE_MS / 1000.0, SANDBOX_DEFAULT_USER);
}

static int
main_number(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr,
                "celeriac-worker: %s must be a whole number from %ld to %ld, "
                "not '%s'\n",
                opt, min, max, s);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses seconds (a decimal number) into milliseconds. */
static int
main_seconds(const char *opt, const char *s, double min, double max,
             long *out_ms)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min && v <= max)) {
        fprintf(stderr,
                "celeriac-worker: %s must be a number of seconds from %g to "
                "%g, not '%s'\n",
                opt, min, max, s);
        return -1;
    }
    *out_ms = (long)(v * 1000 + 0.5);
    return 0;
}

/* Splits "a,b" into cfg->queues; returns 0 or -1 with a message. */
static int
main_queues(const char *list, struct config *cfg)
{
    char *copy = xstrdup(list), *save = NULL;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL;
         tok = strtok_r(NULL, ",", &save)) {
        if (!keys_valid_name(tok)) {
            fprintf(stderr,
                    "celeriac-worker: bad queue name '%s': use 1 to %d "
                    "printable characters without spaces or commas\n",
                    tok, PROTOCOL_MAX_NAME);
            free(copy);
            return -1;
        }
        for (int i = 0; i < cfg->nqueues; i++)
            if (strcmp(cfg->queues[i], tok) == 0)
                goto next;
        cfg->queues = xrealloc(cfg->queues,
                               sizeof(char *) * (size_t)(cfg->nqueues + 1));
        cfg->queues[cfg->nqueues++] = xstrdup(tok);
    next:;
    }
    free(copy);
    if (cfg->nqueues == 0) {
        fprintf(stderr, "celeriac-worker: --queues needs at least one "
                        "queue name\n");
        return -1;
    }
    return 0;
}

/* Loads the --load plug-ins (before the children fork); -1 on the first
 * that fails, with a message. */
static int
main_load(const char **paths, int n)
{
    for (int i = 0; i < n; i++) {
        char *err = NULL;
        if (registry_load(paths[i], &err) < 0) {
            fprintf(stderr, "celeriac-worker: %s\n", err);
            free(err);
            return -1;
        }
        log_info("loaded the plug-in %s", paths[i]);
    }
    if (n > 0) {
        char names[1024];
        registry_names(names, sizeof(names));
        log_info("tasks: %s", names);
    }
    return 0;
}

/* Loads and checks the --beat FILE; -1 after saying what is wrong (each
 * bad line as FILE:LINE: reason, by beatfile_load()). */
static int
main_beat(struct config *cfg)
{
    cfg->beat_file = xcalloc(1, sizeof(*cfg->beat_file));
    if (beatfile_load(cfg->beat_file, cfg->beat) < 0) {
        fprintf(stderr, "celeriac-worker: --beat %s: the schedule file "
                        "cannot be read (see above)\n",
                cfg->beat);
        return -1;
    }
    if (cfg->beat_file->errors > 0) {
        fprintf(stderr,
                "celeriac-worker: --beat %s: %d bad line%s (above); fix "
                "them (celeriac beat --check FILE checks a file)\n",
                cfg->beat, cfg->beat_file->errors,
                cfg->beat_file->errors == 1 ? "" : "s");
        return -1;
    }
    if (cfg->beat_file->n == 0) {
        fprintf(stderr, "celeriac-worker: --beat %s has no entries: add "
                        "one, or leave --beat out\n",
                cfg->beat);
        return -1;
    }
    return 0;
}

/*
 * Checks the --tls-* files now, so that a bad one stops the worker at
 * start-up instead of failing every connection.  0, or -1 after saying why.
 */
static int
main_tls(const struct config *cfg)
{
    const struct tlsconf *t = &cfg->tls;
    char *cause = NULL;

    if (!cfg->url.tls) {
        if (t->ca_file || t->ca_dir || t->cert || t->key)
            log_warnx("the --tls-* settings are not used: the Redis URL is "
                      "not rediss:// or sentinel+tls://");
        return 0;
    }
    SSL_CTX *ctx = tlsconf_ctx_new(t, &cause);
    if (ctx == NULL) {
        char *safe = escape_dup(cause, 0);
        fprintf(stderr, "celeriac-worker: %s\n", safe);
        free(safe);
        free(cause);
        return -1;
    }
    SSL_CTX_free(ctx);
    return 0;
}

/* Resolves --user and hands the children's sandbox its settings. */
static int
main_sandbox(struct config *cfg, char **argv)
{
    struct sandbox_conf sc = {.enabled = cfg->sandbox,
                              .secret = cfg->url.password,
                              .argv = argv};
    char *cause = NULL;
    if (sandbox_resolve_user(cfg->user, geteuid(), &sc, &cause) < 0 ||
        (cfg->sandbox && sandbox_check(&cause) < 0)) {
        fprintf(stderr, "celeriac-worker: %s\n", cause);
        free(cause);
        return -1;
    }
    if (sc.change_user)
        log_info("children run as user %s (uid %ld)", sc.user, (long)sc.uid);
    sandbox_configure(&sc);
    return 0;
}

static void
main_libevent_log(int severity, const char *msg)
{
    if (severity >= EVENT_LOG_WARN)
        log_warnx("libevent: %s", msg);
    else
        log_debug("libevent: %s", msg);
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"redis", required_argument, NULL, 'r'},
        {"queues", required_argument, NULL, 'Q'},
        {"concurrency", required_argument, NULL, 'c'},
        {"prefetch", required_argument, NULL, 'p'},
        {"name", required_argument, NULL, 'n'},
        {"prefix", required_argument, NULL, 'P'},
        {"result-ttl", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'l'},
        {"visibility-timeout", required_argument, NULL, 1000},
        {"max-deliveries", required_argument, NULL, 1001},
        {"time-limit", required_argument, NULL, 1002},
        {"max-tasks-per-child", required_argument, NULL, 1003},
        {"max-memory-per-child", required_argument, NULL, 1004},
        {"heartbeat", required_argument, NULL, 1005},
        {"redis-timeout", required_argument, NULL, 1006},
        {"prefetch-mib", required_argument, NULL, 1007},
        {"reply-maxlen", required_argument, NULL, 1008},
        {"durable-results", optional_argument, NULL, 1009},
        {"sandbox", required_argument, NULL, 1010},
        {"user", required_argument, NULL, 1011},
        {"max-fetches", required_argument, NULL, 1020},
        {"per-host", required_argument, NULL, 1021},
        {"allow-hosts", required_argument, NULL, 1022},
        {"cluster-per-host", required_argument, NULL, 1030},
        {"ca-file", required_argument, NULL, 1023},
        {"tls-ca-file", required_argument, NULL, 1100},
        {"tls-ca-dir", required_argument, NULL, 1101},
        {"tls-cert", required_argument, NULL, 1102},
        {"tls-key", required_argument, NULL, 1103},
        {"max-redirects", required_argument, NULL, 1024},
        {"max-fetch-bytes", required_argument, NULL, 1025},
        {"connect-timeout", required_argument, NULL, 1026},
        {"first-byte-timeout", required_argument, NULL, 1027},
        {"fetch-timeout", required_argument, NULL, 1028},
        {"files-root", required_argument, NULL, 1029},
        {"upload-timeout", required_argument, NULL, 1060},
        {"rate-limit", required_argument, NULL, 1090},
        {"concurrency-limit", required_argument, NULL, 1091},
        {"priority", required_argument, NULL, 1092},
        {"load", required_argument, NULL, 1012},
        {"beat", required_argument, NULL, 1094},
        {"beat-lease", required_argument, NULL, 1095},
        {"config", required_argument, NULL, 1070},
        {"events", no_argument, NULL, 1080},
        {"metrics", required_argument, NULL, 1081},
        {"window", required_argument, NULL, 1093},
        {"shards", required_argument, NULL, 1096},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    struct config cfg;
    const char *queues = KEYS_DEFAULT_QUEUE;
    /* The argument of a value refused after the parse (settings.h). */
    const char *redis_arg = NULL, *suspect = NULL;
    char *redis = NULL; /* a copy of --redis: argv's is scrubbed; owned */
    long v, shards = 1; /* --shards */
    int ch = -1, rc = 2;
    const char **loads = NULL; /* --load paths, borrowed from argv */
    struct cpus_info cpus;     /* --concurrency's default */
    int nloads = 0;

    memset(&cfg, 0, sizeof(cfg));
    cpus_available(&cpus);
    cfg.concurrency = cpus.count;
    cfg.prefetch_bytes = CONFIG_DEFAULT_PREFETCH_MIB << 20;
    cfg.result_ttl = CONFIG_DEFAULT_RESULT_TTL;
    cfg.block_ms = CONFIG_DEFAULT_BLOCK_MS;
    cfg.visibility_ms = CONFIG_DEFAULT_VISIBILITY_MS;
    cfg.max_deliveries = CONFIG_DEFAULT_MAX_DELIVERIES;
    cfg.heartbeat_ms = CONFIG_DEFAULT_HEARTBEAT_MS;
    cfg.redis_timeout_ms = CONFIG_DEFAULT_REDIS_TIMEOUT_MS;
    cfg.sandbox = 1;
    cfg.max_fetches = CONFIG_DEFAULT_MAX_FETCHES;
    cfg.per_host = CONFIG_DEFAULT_PER_HOST;
    cfg.max_redirects = CONFIG_DEFAULT_MAX_REDIRECTS;
    cfg.max_fetch_bytes = (unsigned long long)CONFIG_DEFAULT_MAX_FETCH_MIB
                          << 20;
    cfg.connect_ms = CONFIG_DEFAULT_CONNECT_MS;
    cfg.first_byte_ms = CONFIG_DEFAULT_FIRST_BYTE_MS;
    cfg.fetch_ms = CONFIG_DEFAULT_FETCH_MS;
    cfg.upload_ms = CONFIG_DEFAULT_UPLOAD_MS;
    cfg.files_root_fd = -1;
    cfg.beat_lease_ms = BEATRUN_DEFAULT_LEASE_MS;
    cfg.guard = netguard_new();
    log_set_role("parent");

    /* Settings from --config FILE and CELERIAC_* (settings.h) come first
     * in st.argv, so that a flag wins; a bad one is a configuration error. */
    static const char shortopts[] = "r:Q:c:n:l:hV";
    struct settings st;
    char *st_err = NULL;
    if (settings_expand(&st, argc, argv, longopts, shortopts, &st_err) < 0) {
        fprintf(stderr, "celeriac-worker: %s\n", st_err);
        free(st_err);
        rc = BROKER_EXIT_CONFIG;
        goto out;
    }
    while ((ch = getopt_long(st.argc, st.argv, shortopts, longopts, NULL)) !=
           -1) {
        switch (ch) {
        case 'r':
            /* Keep a copy, then hide the password from ps. */
            free(redis);
            redis = xstrdup(optarg);
            redis_arg = optarg;
            redisurl_scrub(optarg);
            break;
        case 'Q':
            queues = optarg;
            break;
        case 'c':
            if (main_number("--concurrency", optarg, 1, 256, &v) < 0)
                goto out;
            cfg.concurrency = (int)v;
            break;
        case 'p':
            if (main_number("--prefetch", optarg, 1, 100000, &v) < 0)
                goto out;
            cfg.prefetch = (int)v;
            break;
        case 1007:
            if (main_number("--prefetch-mib", optarg, 1, 1L << 20, &v) < 0)
                goto out;
            cfg.prefetch_bytes = v << 20;
            break;
        case 'n':
            if (!keys_valid_worker(optarg)) {
                fprintf(stderr, "celeriac-worker: bad --name: use 1 to %d "
                                "bytes of printable ASCII or UTF-8 without "
                                "spaces, commas or control characters\n",
                        PROTOCOL_MAX_NAME);
                goto out;
            }
            free(cfg.name);
            cfg.name = xstrdup(optarg);
            break;
        case 'P':
            if (!keys_valid_prefix(optarg)) {
                fprintf(stderr, "celeriac-worker: bad --prefix: use 1 to %d "
                                "printable ASCII characters without spaces\n",
                        KEYS_PREFIX_MAX);
                goto out;
            }
            free(cfg.prefix);
            cfg.prefix = xstrdup(optarg);
            break;
        case 't':
            if (main_number("--result-ttl", optarg, 1, 10L * 365 * 86400,
                            &v) < 0)
                goto out;
            cfg.result_ttl = v;
            break;
        case 1008:
            if (main_number("--reply-maxlen", optarg, 1, 1000000000L, &v) < 0)
                goto out;
            cfg.reply_maxlen = v;
            break;
        case 1009:
            v = 1;
            if (optarg != NULL &&
                main_number("--durable-results", optarg, 1, 16, &v) < 0)
                goto out;
            cfg.durable_results = (int)v;
            break;
        case 'l':
            if (log_parse_level(optarg) < 0) {
                fprintf(stderr, "celeriac-worker: --log-level must be error, "
                                "warn, info or debug, not '%s'\n",
                        optarg);
                goto out;
            }
            log_set_level((enum log_level)log_parse_level(optarg));
            break;
        case 1000:
            if (main_seconds("--visibility-timeout", optarg, 0.5, 86400,
                             &cfg.visibility_ms) < 0)
                goto out;
            break;
        case 1001:
            if (main_number("--max-deliveries", optarg, 1, 1000, &v) < 0)
                goto out;
            cfg.max_deliveries = (unsigned)v;
            break;
        case 1002:
            if (main_seconds("--time-limit", optarg, 0, 86400 * 7, &v) < 0)
                goto out;
            cfg.time_limit_ms = (unsigned)v;
            break;
        case 1003:
            if (main_number("--max-tasks-per-child", optarg, 0, LONG_MAX,
                            &v) < 0)
                goto out;
            cfg.max_tasks_per_child = (unsigned long)v;
            break;
        case 1004:
            if (main_number("--max-memory-per-child", optarg, 0, LONG_MAX,
                            &v) < 0)
                goto out;
            cfg.max_memory_kb = (unsigned long)v;
            break;
        case 1005:
            if (main_seconds("--heartbeat", optarg, 0.1, 3600,
                             &cfg.heartbeat_ms) < 0)
                goto out;
            break;
        case 1006:
            if (main_seconds("--redis-timeout", optarg, 1, 3600,
                             &cfg.redis_timeout_ms) < 0)
                goto out;
            break;
        case 1010:
            if (strcmp(optarg, "on") != 0 && strcmp(optarg, "off") != 0) {
                fprintf(stderr, "celeriac-worker: --sandbox must be on or "
                                "off, not '%s'\n",
                        optarg);
                goto out;
            }
            cfg.sandbox = strcmp(optarg, "on") == 0;
            break;
        case 1011:
            cfg.user = optarg;
            break;
        case 1020:
            if (main_number("--max-fetches", optarg, 1, 100000, &v) < 0)
                goto out;
            cfg.max_fetches = (unsigned)v;
            break;
        case 1021:
            if (main_number("--per-host", optarg, 0, 100000, &v) < 0)
                goto out;
            cfg.per_host = (unsigned)v;
            break;
        case 1022: {
            char *why = NULL;
            if (cfg.guard == NULL || netguard_allow(cfg.guard, optarg, &why)) {
                char *safe = escape_dup(why ? why : "out of memory", 0);
                fprintf(stderr, "celeriac-worker: --allow-hosts: %s; give "
                                "host names, addresses or CIDR blocks such "
                                "as 10.0.0.0/8, separated by commas\n",
                        safe);
                free(safe);
                free(why);
                goto out;
            }
            break;
        }
        case 1030:
            if (main_number("--cluster-per-host", optarg, 0, 100000, &v) < 0)
                goto out;
            cfg.cluster_per_host = (unsigned)v;
            break;
        case 1023:
            cfg.ca_file = optarg;
            break;
        case 1100:
        case 1101:
        case 1102:
        case 1103:
            tlsconf_set(&cfg.tls, main_tls_names[ch - 1100], optarg);
            break;
        case 1024:
            if (main_number("--max-redirects", optarg, 0, 100, &v) < 0)
                goto out;
            cfg.max_redirects = (unsigned)v;
            break;
        case 1025:
            if (main_number("--max-fetch-bytes", optarg, 0, LONG_MAX, &v) <
                0)
                goto out;
            cfg.max_fetch_bytes = (unsigned long long)v;
            break;
        case 1026:
            if (main_seconds("--connect-timeout", optarg, 0, 3600,
                             &cfg.connect_ms) < 0)
                goto out;
            break;
        case 1027:
            if (main_seconds("--first-byte-timeout", optarg, 0, 86400,
                             &cfg.first_byte_ms) < 0)
                goto out;
            break;
        case 1028:
            if (main_seconds("--fetch-timeout", optarg, 0, 7 * 86400,
                             &cfg.fetch_ms) < 0)
                goto out;
            break;
        case 1060:
            if (main_seconds("--upload-timeout", optarg, 0.1, 86400,
                             &cfg.upload_ms) < 0)
                goto out;
            break;
        case 1029:
            cfg.files_root = optarg;
            break;
        case 1070: /* --config: read by settings_expand() */
            break;
        case 1090:
        case 1091: {
            char why[400];
            if (cfg.nlimits >= THROTTLE_MAX) {
                fprintf(stderr, "celeriac-worker: at most %d limits\n",
                        THROTTLE_MAX);
                goto out;
            }
            cfg.limits = xrealloc(cfg.limits, sizeof(*cfg.limits) *
                                                  (size_t)(cfg.nlimits + 1));
            if (throttle_parse(optarg, ch == 1090, &cfg.limits[cfg.nlimits],
                               why, sizeof(why)) < 0) {
                fprintf(stderr, "celeriac-worker: --%s %s\n",
                        ch == 1090 ? "rate-limit" : "concurrency-limit", why);
                goto out;
            }
            cfg.nlimits++;
            break;
        }
        case 1092:
            cfg.priority = optarg;
            break;
        case 1093:
            if (strcmp(optarg, "adaptive") == 0)
                cfg.window_fixed = 0;
            else if (strcmp(optarg, "fixed") == 0)
                cfg.window_fixed = 1;
            else {
                fprintf(stderr, "celeriac-worker: bad --window '%s': use "
                                "adaptive or fixed\n", optarg);
                goto out;
            }
            break;
        case 1096:
            if (main_number("--shards", optarg, 1, KEYS_SHARDS_MAX, &shards) <
                0)
                goto out;
            break;
        case 1094:
            cfg.beat = optarg;
            break;
        case 1095:
            if (main_seconds("--beat-lease", optarg, 0.5, 3600,
                             &cfg.beat_lease_ms) < 0)
                goto out;
            break;
        case 1012:
            loads = xrealloc(loads, sizeof(*loads) * (size_t)(nloads + 1));
            loads[nloads++] = optarg;
            break;
        case 1080:
            cfg.events = 1;
            break;
        case 1081:
            if (metrics_parse_addr(optarg, NULL, 0, NULL) < 0) {
                fprintf(stderr, "celeriac-worker: --metrics needs ADDR:PORT "
                                "or PORT (e.g. 127.0.0.1:9808), not '%s'\n",
                        optarg);
                goto out;
            }
            cfg.metrics_addr = optarg;
            break;
        case 'h':
            main_usage(stdout);
            rc = 0;
            goto out;
        case 'V':
            printf("celeriac-worker %s (protocol %d)\n", WORKER_VERSION,
                   PROTOCOL_VERSION);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "Try 'celeriac-worker --help'.\n");
            goto out;
        }
    }
    if (optind < argc) {
        /* It may be a URL with a password given without --redis. */
        char *shown = redisurl_redact(st.argv[optind]);
        fprintf(stderr, "celeriac-worker: unexpected argument '%s'; try "
                        "'celeriac-worker --help'\n",
                shown);
        free(shown);
        goto out;
    }
    if (main_queues(queues, &cfg) < 0) {
        suspect = queues;
        goto out;
    }
    if (cfg.priority != NULL) {
        struct priority prio;
        char why[400];
        if (priority_parse(&prio, cfg.priority, cfg.queues, cfg.nqueues, why,
                           sizeof(why)) < 0) {
            fprintf(stderr, "celeriac-worker: --priority %s\n", why);
            goto out;
        }
        priority_free(&prio);
    }
    if (cfg.prefetch == 0)
        cfg.prefetch = CONFIG_DEFAULT_PREFETCH > 16 * cfg.concurrency
                           ? CONFIG_DEFAULT_PREFETCH
                           : 16 * cfg.concurrency;
    if (cfg.prefix == NULL)
        cfg.prefix = xstrdup(KEYS_DEFAULT_PREFIX);
    if (cfg.name == NULL) {
        char host[256];
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "localhost");
        host[sizeof(host) - 1] = '\0';
        cfg.name = xasprintf("%s:%ld", host, (long)getpid());
    }
    char *cause = NULL;
    if (redisurl_resolve(redis, &cfg.url, &cause) < 0) {
        /* The URL in it is redacted; CELERIAC_REDIS_URL may hold controls. */
        char *safe = escape_dup(cause, 0);
        fprintf(stderr, "celeriac-worker: %s\n", safe);
        free(safe);
        free(cause);
        suspect = redis_arg;
        goto out;
    }
    const char *why = NULL;
    if (shards > 1 && shards_check(&cfg, (int)shards, &why) < 0) {
        fprintf(stderr, "celeriac-worker: %s\n", why);
        goto out;
    }
    if (cfg.url.sentinel != NULL &&
        sentinelurl_set_prefix(cfg.url.sentinel, cfg.prefix, &why) < 0) {
        fprintf(stderr, "celeriac-worker: %s\n", why);
        goto out;
    }
    if (main_tls(&cfg) < 0) {
        rc = BROKER_EXIT_CONFIG;
        goto out;
    }
    if (cfg.files_root != NULL) {
        struct proto_error perr;
        cfg.files_root_fd = pathsrc_root_open(cfg.files_root, &perr);
        if (cfg.files_root_fd < 0) {
            char *safe = escape_dup(perr.message, 0);
            fprintf(stderr, "celeriac-worker: --files-root: %s\n", safe);
            free(safe);
            rc = BROKER_EXIT_CONFIG;
            goto out;
        }
    }
    if (cfg.beat != NULL && main_beat(&cfg) < 0) {
        rc = BROKER_EXIT_CONFIG;
        goto out;
    }
    if (main_load(loads, nloads) < 0) {
        rc = 78;
        goto out;
    }
    if (main_sandbox(&cfg, argv) < 0)
        goto out;
    if (cpus.by != CPUS_BY_ONLINE && cfg.concurrency == cpus.count)
        log_info("concurrency %d: the %s allows no more (%ld online cores)",
                 cpus.count, cpus_limit_name(cpus.by),
                 sysconf(_SC_NPROCESSORS_ONLN));
    signal(SIGPIPE, SIG_IGN);
    srandom((unsigned)time(NULL) ^ (unsigned)getpid());
    event_set_log_callback(main_libevent_log);
    cfg.nshards = (int)shards;
    if (shards > 1) {
        if (shards_fork(&cfg, (int)shards, &rc) < 0)
            goto out; /* the supervisor, after every shard ended */
    }
    rc = parent_main(&cfg);
out:
    if (rc == 2) {
        /* The value refused came from the file or environment. */
        int at = ch != -1 ? optind - 1 : settings_holding(&st, suspect);
        if (settings_origin(&st, at) != NULL) {
            fprintf(stderr, "celeriac-worker: %s: the setting above\n",
                    settings_origin(&st, at));
            rc = BROKER_EXIT_CONFIG;
        }
    }
    settings_free(&st);
    free(loads);
    free(redis);
    redisurl_clear(&cfg.url);
    tlsconf_clear(&cfg.tls);
    for (int i = 0; i < cfg.nqueues; i++)
        free(cfg.queues[i]);
    free(cfg.queues);
    free(cfg.name);
    free(cfg.prefix);
    netguard_free(cfg.guard);
    for (int i = 0; i < cfg.nlimits; i++)
        throttle_conf_clear(&cfg.limits[i]);
    free(cfg.limits);
    if (cfg.files_root_fd >= 0)
        close(cfg.files_root_fd);
    if (cfg.beat_file != NULL)
        beatfile_free(cfg.beat_file);
    free(cfg.beat_file);
    return rc;
}
