/* SPDX-License-Identifier: MIT */
/* `celeriac beat`: periodic tasks, fired once by the lease holder. */
#include "beat.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "beatfile.h"
#include "beatrun.h"

#define BEAT_OPT_CHECK 0x1400
#define BEAT_OPT_LIST 0x1401
#define BEAT_OPT_COUNT 0x1402
#define BEAT_OPT_LEASE 0x1403

/* clang-format off */
void
beat_usage(FILE *out)
{
    fprintf(out,
"Usage: celeriac beat [--lease S] [-q] FILE\n"
"       celeriac beat --check FILE\n"
"       celeriac beat --list FILE [--count N]\n"
"\n"
"Fires the periodic tasks of the schedule FILE: puts each task on its\n"
"queue at its times.  Run as many instances as you like: a lease in Redis\n"
"elects one to fire, another takes over within the lease time when it\n"
"dies, and every tick is fired once (task id beat:NAME:UNIXTIME).  Times\n"
"are Redis' clock (TIME), not this machine's.  `celeriac-worker --beat\n"
"FILE` runs an instance inside a worker instead.\n"
"\n"
"FILE has one task per line (blank lines and lines starting with # are\n"
"ignored):\n"
"  NAME SCHEDULE TASK [KEY=VALUE...] [ARGS-JSON]\n"
"  SCHEDULE  five cron fields (minute hour day month weekday), or @every N\n"
"            (30s, 5m, 1h, 2d), @hourly, @daily, @weekly, @monthly,\n"
"            @yearly\n"
"  KEY=VALUE queue=Q, tz=ZONE (IANA, default UTC), misfire=once|skip|all,\n"
"            max_catchup=N (100), grace=DURATION (60s), expires=DURATION\n"
"            (after the scheduled time), time_limit=S, max_retries=N\n"
"  ARGS-JSON the task's arguments, a JSON object\n"
"A tick later than grace (after downtime) is missed: misfire=once fires\n"
"the latest missed tick, skip none, all each of the latest max_catchup.\n"
"\n"
"  --check FILE   check the file and exit: errors as FILE:LINE: reason\n"
"  --list FILE    print each entry's next firing times (this machine's\n"
"                 clock), in UTC and in the entry's time zone\n"
"  --count N      with --list: how many times per entry (default 5)\n"
"  --lease S      the leader lease in seconds (default 5; 0.5 to 3600):\n"
"                 renewed every third of it; a dead leader is replaced\n"
"                 within about 4/3 of it\n"
"  -q, --quiet    do not log every task fired (leader changes still are)\n"
"\n%s"
"\n"
"Exit codes: 0 stopped by SIGINT/SIGTERM (or the file is good), 1 the file\n"
"has errors, 2 usage error, 4 Redis unreachable or refused a command.\n"
"\n"
"Example line:\n"
"  nightly 30 2 * * * hash tz=Europe/Berlin expires=1h {\"data\": \"abc\"}\n",
            cli_global_help);
}
/* clang-format on */

static int64_t
beat_wall_s(void)
{
    return (int64_t)time(NULL);
}

/* `beat --list`. */
static int
beat_list(const struct beatfile *bf, int count)
{
    int64_t now = beat_wall_s();
    for (size_t i = 0; i < bf->n; i++) {
        const struct beatfile_entry *e = &bf->entries[i];
        int64_t t = now;
        for (int k = 0; k < count; k++) {
            char local[96], utc[32];
            t = cron_next(&e->cron, t);
            if (t < 0) {
                printf("%s\tnever\n", e->name);
                break;
            }
            time_t tt = (time_t)t;
            struct tm tm;
            gmtime_r(&tt, &tm);
            strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%SZ", &tm);
            printf("%s\t%s\t%s\n", e->name, utc,
                   cron_format_local(&e->cron, t, local, sizeof(local)));
        }
    }
    return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
}

int
beat_main(struct cli *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_LONG_OPTIONS,
        {"check", no_argument, NULL, BEAT_OPT_CHECK},
        {"list", no_argument, NULL, BEAT_OPT_LIST},
        {"count", required_argument, NULL, BEAT_OPT_COUNT},
        {"lease", required_argument, NULL, BEAT_OPT_LEASE},
        {"quiet", no_argument, NULL, 'q'},
        {NULL, 0, NULL, 0},
    };
    struct beatfile bf;
    struct beatrun_conf bc;
    int quiet = 0;
    int opt, check = 0, list = 0, count = 5, rc = CLI_EXIT_USAGE;
    int64_t lease_us = BEAT_DEFAULT_LEASE_MS * 1000LL;

    while ((opt = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
        switch (opt) {
        case BEAT_OPT_CHECK:
            check = 1;
            break;
        case BEAT_OPT_LIST:
            list = 1;
            break;
        case BEAT_OPT_COUNT: {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (end == optarg || *end != '\0' || v < 1 || v > 10000)
                return cli_usage("beat", "--count '%s': expected 1 to 10000",
                                 optarg);
            count = (int)v;
            break;
        }
        case BEAT_OPT_LEASE:
            if (cli_parse_seconds(optarg, &lease_us) < 0 ||
                lease_us < 500000 || lease_us > 3600000000LL)
                return cli_usage("beat",
                                 "--lease '%s': expected seconds from 0.5 "
                                 "to 3600",
                                 optarg);
            break;
        case 'q':
            quiet = 1;
            break;
        case 'h':
        case CLI_OPT_HELP:
            beat_usage(stdout);
            return cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        case '?':
            return cli_usage("beat", "bad option (see above)");
        default:
            if (cli_global_option(cli, opt, optarg) < 0)
                return CLI_EXIT_USAGE;
            break;
        }
    }
    if (optind + 1 != argc)
        return cli_usage("beat", optind >= argc
                                     ? "no schedule FILE given"
                                     : "one schedule FILE only");
    if (check && list)
        return cli_usage("beat", "give --check or --list, not both");
    const char *path = argv[optind];
    if (beatfile_load(&bf, path) < 0)
        return CLI_EXIT_FAILED;
    if (bf.errors > 0) {
        cli_warnx("%s: %d bad line%s", path, bf.errors,
                  bf.errors == 1 ? "" : "s");
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    if (check) {
        printf("%s: %zu entr%s, no errors\n", path, bf.n,
               bf.n == 1 ? "y" : "ies");
        rc = cli_flush_stdout() < 0 ? CLI_EXIT_FAILED : CLI_EXIT_OK;
        goto done;
    }
    if (list) {
        rc = beat_list(&bf, count);
        goto done;
    }
    if (bf.n == 0) {
        cli_warnx("%s has no entries: nothing to fire", path);
        rc = CLI_EXIT_FAILED;
        goto done;
    }
    memset(&bc, 0, sizeof(bc));
    bc.bf = &bf;
    bc.redis = cli->redis;
    bc.prefix = cli->prefix;
    bc.lease_ms = lease_us / 1000;
    bc.quiet = quiet;
    rc = beatrun_serve(&bc);
done:
    beatfile_free(&bf);
    return rc;
}
