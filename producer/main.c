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
#include "hashcmd.h"
#include "log.h"
#include "redisurl.h"
#include "send.h"
#include "status.h"
#include "version.h"

struct main_cmd {
    const char *name;
    int (*run)(struct cli *cli, int argc, char **argv);
    void (*usage)(FILE *out);
    const char *summary;
};

static void main_usage(FILE *out);
static const struct main_cmd *main_find(const char *name);
static int main_help(const char *name);

static const struct main_cmd main_cmds[] = {
    {"send", send_main, send_usage,
     "put a task or a batch of tasks on a queue; --wait for results"},
    {"hash", hashcmd_main, hashcmd_usage,
     "checksum files on the workers, like sha512sum (and -c)"},
    {"status", status_main, status_usage,
     "show queues, pending tasks, consumers and workers"},
    {"dead", dead_main, dead_usage,
     "list dead letters; --requeue them, or --purge"},
    {"beat", beat_main, beat_usage,
     "fire periodic tasks from a schedule file (cron lines)"},
};

static void
main_usage(FILE *out)
{
    fprintf(out,
            "Usage: celeriac [--redis URL] [--prefix P] COMMAND [ARGS...]\n"
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

static int
main_help(const char *name)
{
    if (name == NULL || strcmp(name, "help") == 0) {
        main_usage(stdout);
        return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
    }
    const struct main_cmd *cmd = main_find(name);
    if (cmd == NULL)
        return cli_usage(NULL,
                         "no command '%s'; the commands are send, "
                         "hash, status, dead, beat and help",
                         name);
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
    while ((opt = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
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
        cli_usage(NULL,
                  "no command '%s'; the commands are send, hash, status, "
                  "dead, beat and help",
                  shown);
        free(shown);
        return CLI_EXIT_USAGE;
    }
    argc -= optind;
    argv += optind;
    optind = 0; /* glibc: start the command's getopt afresh */
    int rc = cmd->run(&cli, argc, argv);
    cli_cleanup(&cli);
    return rc;
}
