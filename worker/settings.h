/* SPDX-License-Identifier: MIT */
/*
 * The worker's settings from outside its command line: a --config FILE of
 * "key = value" lines and CELERIAC_* environment variables, both named
 * after the long options of the worker's getopt_long table, so that an
 * option added to the table is settable everywhere with no more code.
 *
 * settings_expand() turns them into command-line options placed before the
 * real ones: argv[0], then the file's, then the environment's, then the
 * command line's.  The option parser takes the last value it sees, so a
 * flag wins over the environment, which wins over the file, which wins
 * over the default.  Repeatable options (--load, --allow-hosts) collect
 * the values of every source.
 *
 * Environment names: "CELERIAC_" and the long option in upper case with
 * '_' for '-' (CELERIAC_CONCURRENCY for --concurrency), except --redis,
 * whose variable CELERIAC_REDIS_URL the Redis URL code reads itself (it
 * only makes the file's "redis" line yield here).  An empty variable is
 * unset.  CELERIAC_CONFIG names the file when --config does not.  With
 * --help or --version on the command line neither is read.
 *
 * This module owns the expanded argument vector and the origin of every
 * option it added; the command line's strings stay the caller's.
 */
#ifndef CELERIAC_SETTINGS_H
#define CELERIAC_SETTINGS_H

#include <getopt.h>

/* The largest --config file read, bytes. */
#define SETTINGS_FILE_MAX (1L << 20)
/* The option that names the file, and its environment variable. */
#define SETTINGS_CONFIG_OPTION "config"
#define SETTINGS_CONFIG_ENV "CELERIAC_CONFIG"
#define SETTINGS_ENV_PREFIX "CELERIAC_"

struct settings {
    int argc;       /* of argv */
    char **argv;    /* NULL-terminated; owned array */
    int nadded;     /* argv[1..nadded] came from the file or environment */
    char **added;   /* owned "--name=value" strings, nadded of them */
    char **origin;  /* owned "FILE:LINE" or "CELERIAC_X", per added one */
};

/*
 * Builds s from the command line (argc, argv), its option table opts and
 * short options shortopts (as given to getopt_long), the --config file
 * and the environment.  Returns 0, or -1 with *err an owned sentence to
 * print after "celeriac-worker: " (for a file, "FILE:LINE: ..."): an
 * unreadable file, a line that is not "key = value", a key that is no
 * long option, a value missing or not a boolean for an option without
 * argument.  Leaves getopt to start afresh (optind = 0, which glibc
 * reads as a full reset) on s->argv.
 */
int settings_expand(struct settings *s, int argc, char **argv,
                    const struct option *opts, const char *shortopts,
                    char **err);
/* Where s->argv[index] came from ("FILE:LINE", "CELERIAC_X"), or NULL for
 * the command line. */
const char *settings_origin(const struct settings *s, int index);
/* The index in s->argv of the option whose string holds p (a pointer
 * into it, such as getopt's optarg), or 0. */
int settings_holding(const struct settings *s, const char *p);
/* The environment variable of long option name (owned; free()). */
char *settings_env_name(const char *name);
void settings_free(struct settings *s);

#endif
