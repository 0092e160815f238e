/* SPDX-License-Identifier: MIT */
/*
 * What every celeriac subcommand shares: the global options (--redis,
 * --prefix), the exit codes, and how messages for the person at the terminal
 * are written ("celeriac: ..." on stderr, one line, saying what to do).
 */
#ifndef CELERIAC_CLI_H
#define CELERIAC_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_VERSION "0.1.0"

/* Exit codes of every command (documented in `celeriac --help`). */
#define CLI_EXIT_OK 0      /* success */
#define CLI_EXIT_FAILED 1  /* a task failed, a file or line was bad */
#define CLI_EXIT_USAGE 2   /* bad command line */
#define CLI_EXIT_TIMEOUT 3 /* --timeout elapsed before all results came */
#define CLI_EXIT_REDIS 4   /* Redis unreachable or refused a command */

/*
 * The global options.  They may be given before the command name or among
 * the command's own options; --prefix is borrowed from argv.
 */
struct cli {
    char *redis;        /* --redis URL (a copy: argv's is scrubbed); owned;
                           NULL: environment or default */
    const char *prefix; /* --prefix; KEYS_DEFAULT_PREFIX unless given */
    int shards;         /* --shards N: key spaces of the deployment; 1 */
    /* Set by main before running a command that does not support
     * --shards N > 1: its name, for cli_global_option() to refuse it. */
    const char *no_shards_cmd;
};

/* getopt_long values of the global options, shared by every command. */
#define CLI_OPT_REDIS 0x1000
#define CLI_OPT_PREFIX 0x1001
#define CLI_OPT_HELP 0x1002
#define CLI_OPT_TLS_CA_FILE 0x1003 /* the --tls-* options: tlspipe.h */
#define CLI_OPT_TLS_CA_DIR 0x1004
#define CLI_OPT_TLS_CERT 0x1005
#define CLI_OPT_TLS_KEY 0x1006
#define CLI_OPT_SHARDS 0x1007
/* clang-format off */
#define CLI_LONG_OPTIONS                                                       \
    {"redis", required_argument, NULL, CLI_OPT_REDIS},                         \
    {"prefix", required_argument, NULL, CLI_OPT_PREFIX},                       \
    {"shards", required_argument, NULL, CLI_OPT_SHARDS},                       \
    {"tls-ca-file", required_argument, NULL, CLI_OPT_TLS_CA_FILE},             \
    {"tls-ca-dir", required_argument, NULL, CLI_OPT_TLS_CA_DIR},               \
    {"tls-cert", required_argument, NULL, CLI_OPT_TLS_CERT},                   \
    {"tls-key", required_argument, NULL, CLI_OPT_TLS_KEY},                     \
    {"help", no_argument, NULL, CLI_OPT_HELP}
/* clang-format on */

/* The text describing the global options, for every --help. */
extern const char cli_global_help[];

void cli_init(struct cli *cli);
/* Frees what cli owns. */
void cli_cleanup(struct cli *cli);
/*
 * Handles a global option returned by getopt_long.  Returns 1 if opt was
 * one (and stores it), 0 if it is not a global option, -1 if its value is
 * bad (after printing why).  A --redis value is copied and the password in
 * argv is overwritten, so that ps does not show it.
 */
int cli_global_option(struct cli *cli, int opt, char *arg);

/*
 * Sharding (keys.h, keys_shard_prefix): with --shards N > 1 a deployment
 * is N key spaces, shard 0 being --prefix itself.  cli_check_shards()
 * checks, once the options are read, that --prefix can be sharded (it has
 * a hash tag); it returns 0, or CLI_EXIT_USAGE after saying why not.
 * cli_shard_prefix() writes shard i's prefix into buf (KEYS_MAX bytes);
 * 0, or -1 if it does not fit (cli_check_shards() rules that out).
 */
int cli_check_shards(const struct cli *cli, const char *cmd);
int cli_shard_prefix(const struct cli *cli, int i, char *buf, size_t n);
/*
 * Refuses --shards N > 1 for a command that works on one key space only:
 * says to run it once per shard with --prefix, listing the shards'
 * prefixes, and returns CLI_EXIT_USAGE.
 */
int cli_refuse_shards(const struct cli *cli, const char *cmd);

/*
 * s with control characters, invalid UTF-8 and backslashes escaped
 * (escape.h), for printing untrusted ids, key names and reasons on a
 * terminal.  The string is owned by a ring of CLI_SAFE_RING buffers: it
 * stays valid until CLI_SAFE_RING more calls, enough for one printf.
 */
#define CLI_SAFE_RING 8
const char *cli_safe(const char *s);

/* "celeriac: <message>\n" on stderr. */
void cli_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Same, followed by ": strerror(errno)". */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* From now on cli_warnx() and cli_warn() write through log_error() (a
 * timestamped line with the process' role, log.h): for the beat engine run
 * inside the worker (worker/beatproc.h). */
void cli_warn_to_log(void);
/*
 * Prints the message and a pointer to `celeriac CMD --help`; returns
 * CLI_EXIT_USAGE so that callers can `return cli_usage(...)`.
 */
/*
 * Checks the task ids ids[0..n) given to command cmd (result, revoke): at
 * least one, at most max, each 1 to PROTOCOL_MAX_NAME bytes and a valid
 * result key under prefix.  Returns 0, or CLI_EXIT_USAGE after saying
 * which is wrong.
 */
int cli_check_ids(const char *cmd, const char *prefix, int n,
                  char *const *ids, int max);

/* Writes s[0..n) to fd whole, again after EINTR; 0, or -1 (errno set). */
int cli_write_all(int fd, const char *s, size_t n);

int cli_usage(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Parses a --timeout value: seconds, fractions allowed ("2.5"), > 0.
 * Stores microseconds in *us.  Returns 0, or -1 if s is not such a number.
 */
int cli_parse_seconds(const char *s, int64_t *us);
/*
 * The name in names (NULL-terminated) nearest to word, if its edit
 * distance is at most max (for "did you mean"); else NULL.
 */
const char *cli_nearest(const char *word, const char *const *names,
                        size_t max);
/* A monotonic clock in microseconds, for deadlines. */
int64_t cli_now_us(void);
/* The deadline for a timeout in microseconds from now; 0 (none) stays 0. */
int64_t cli_deadline(int64_t timeout_us);
/*
 * Flushes stdout.  Returns 0, or -1 after saying why (a closed pipe is
 * not reported: whoever closed it did not want more output).
 */
int cli_flush_stdout(void);

#endif
