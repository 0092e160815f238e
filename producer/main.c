/* SPDX-License-Identifier: MIT */
/*
 * celeriac, the producer CLI: global options, then dispatch to one command
 * (send, hash, status, dead, help).  Each command parses its own options, which
 * may also include the global ones.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "beat.h"
#include "cli.h"
#include "dead.h"
#include "events.h"
#include "hashcmd.h"
#include "inspect.h"
#include "log.h"
#include "purge.h"
#include "monitor.h"
#include "redisurl.h"
#include "resultcmd.h"
#include "revoke.h"
#include "send.h"
#include "status.h"
#include "version.h"
#include "web.h"

struct main_cmd {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    void (*usage)(FILE *out);
    const char *summary;
    int shards; /* supports --shards N > 1 */
};

static void main_usage(FILE *out);
static const struct main_cmd *main_find(const char *name);
static int main_help(const char *name);
static const char *main_suggest(const char *name);

static const struct main_cmd main_cmds[] = {
    {"send", send_main, send_usage,
     "put a task or a batch of tasks on a queue; --wait for results", 1},
    {"hash", hashcmd_main, hashcmd_usage,
     "checksum files on the workers, like sha512sum (and -c)", 1},
    {"status", status_main, status_usage,
     "show queues, pending tasks, consumers and workers", 0},
    {"dead", dead_main, dead_usage,
     "list dead letters; --requeue them, or --purge", 0},
    {"result", resultcmd_main, resultcmd_usage,
     "print the results of tasks by id; --wait for them", 1},
    {"purge", purge_main, purge_usage,
     "delete the tasks waiting in a queue (--yes)", 0},
    {"revoke", revoke_main, revoke_usage, "cancel tasks by id before they run",
     0},
    {"events", events_main, events_usage,
     "print worker and task events; --follow them", 0},
    {"inspect", inspect_main, inspect_usage,
     "ask running workers: ping, stats, active, registered, conf", 0},
    {"control", control_main, control_usage,
     "tell running workers: shutdown, pause/resume, grow/shrink, loglevel", 0},
    {"monitor", monitor_main, monitor_usage,
     "the queues and workers live in the terminal (--once: as text)", 0},
    {"web", web_main, web_usage,
     "the web dashboard (read-only unless --allow-control)", 0},
    {"beat", beat_main, beat_usage,
     "fire periodic tasks from a schedule file (cron lines)", 0},
};

static void
main_usage(FILE *out)
{
    fprintf(out, "Usage: celeriac [-r|--redis URL] [--prefix P] [--shards N] "
                 "COMMAND [ARGS...]\n"
                 "       celeriac help COMMAND | --help | --version\n"
                 "\n"
                 "Producer for the celeriac task queue: puts tasks on Redis "
                 "streams for\n"
                 "celeriac-worker and reads their results.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
        fprintf(out, "  %-8s %s\n", main_cmds[i].name, main_cmds[i].summary);
    fprintf(out, "  %-8s %s\n", "help", "show the help of a command");
    fprintf(out, "\n%s", cli_global_help);
    fprintf(out, "  --version      show the version and exit\n"
                 "\n"
                 "Exit codes: 0 success, 1 a task failed (or a file/line was "
                 "bad),\n"
                 "2 usage error, 3 timeout, 4 Redis unreachable or refused a "
                 "command.\n"
                 "Run 'celeriac help COMMAND' for the options of a command.\n");
}

static const struct main_cmd *
main_find(const char *name)
{
    for (size_t i = 0; i < sizeof(main_cmds) / sizeof(main_cmds[0]); i++)
        if (strcmp(main_cmds[i].name, name) == 0)
            return &main_cmds[i];
    return NULL;
}

/*
 * "; did you mean 'X'?" for the command nearest to name (edit distance
 * at most 2), else the list of commands.  A static string.
 */
static const char *
main_suggest(const char *name)
{
    static char buf[256];
    const char *names[sizeof(main_cmds) / sizeof(main_cmds[0]) + 2];
    size_t n = 0;
    for (; n < sizeof(main_cmds) / sizeof(main_cmds[0]); n++)
        names[n] = main_cmds[n].name;
    names[n++] = "help";
    names[n] = NULL;
    const char *best = cli_nearest(name, names, 2);
    if (best != NULL) {
        snprintf(buf, sizeof(buf), "; did you mean '%s'?", best);
        return buf;
    }
    size_t off = (size_t)snprintf(buf, sizeof(buf), "; the commands are");
    for (size_t i = 0; i < n && off < sizeof(buf); i++)
        off += (size_t)snprintf(buf + off, sizeof(buf) - off, "%s %s",
                                i == 0 ? "" : i + 1 == n ? " and" : ",",
                                names[i]);
    return buf;
}

static int
main_help(const char *name)
{
    if (name == NULL || strcmp(name, "help") == 0) {
        main_usage(stdout);
        return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    const struct main_cmd *cmd = main_find(name);
    if (cmd == NULL)
        return cli_usage(NULL, "no command '%s'%s", name,
                         main_suggest(name));
    cmd->usage(stdout);
    return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

int
main(int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static struct cli cli; /* static: what it owns stays reachable */
    int opt;

    log_set_role("celeriac");
    /* A dead Redis socket must give an error, not kill the process. */
    signal(SIGPIPE, SIG_IGN);
    cli_init(&cli);

    /* "+": stop at the command name; its options are its own. */
    while ((opt = getopt_long(argc, argv, "+hVr:", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
        case CLI_OPT_HELP:
            return main_help(NULL);
        case 'V':
            printf("celeriac %s (protocol %d)\n", CLI_VERSION,
                   PROTOCOL_VERSION);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage(NULL, "bad option (see above)");
        default:
            if (cli_global_option(&cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind >= argc) {
        main_usage(stderr);
        return CLI_EXIT_USAGE;
    }
    const char *name = argv[optind];
    if (strcmp(name, "help") == 0)
        return main_help(optind + 1 < argc ? argv[optind + 1] : NULL);
    const struct main_cmd *cmd = main_find(name);
    if (cmd == NULL) {
        /* It may be a URL with a password given without --redis. */
        char *shown = redisurl_redact(name);
        cli_usage(NULL, "no command '%s'%s", shown, main_suggest(name));
        free(shown);
        return CLI_EXIT_USAGE;
    }
    if (!cmd->shards) {
        if (cli.shards > 1)
            return cli_refuse_shards(&cli, cmd->name);
        cli.no_shards_cmd = cmd->name;
    }
    argc -= optind;
    argv += optind;
    optind = 0; /* glibc: start the command's getopt afresh */
    int rc = cmd->run(&cli, argc, argv);
    cli_cleanup(&cli);
    return rc;
}
