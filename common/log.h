/* SPDX-License-Identifier: MIT */
/*
 * Logging for every celeriac process: one line per event on stderr with a
 * UTC timestamp, the level and the role of the process ("parent[123]",
 * "child 2[130]", "celeriac[140]").  fatal()/fatalx() are for bad startup
 * configuration, broken invariants and out-of-memory only.
 */
#ifndef CELERIAC_LOG_H
#define CELERIAC_LOG_H

#include <stdarg.h>

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Sets the role tag ("parent", "child 3") and the pid shown in each line. */
void log_set_role(const char *role);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parses "error", "warn", "info" or "debug"; returns -1 for anything else. */
int log_parse_level(const char *name);

void log_error(const char *fmt, ...) LOG_PRINTF(1, 2);
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_warnx(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_info(const char *fmt, ...) LOG_PRINTF(1, 2);
void log_debug(const char *fmt, ...) LOG_PRINTF(1, 2);
void fatal(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));
void fatalx(const char *fmt, ...) LOG_PRINTF(1, 2) __attribute__((noreturn));

#endif
