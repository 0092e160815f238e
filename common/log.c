/* SPDX-License-Identifier: MIT */
/* Line-oriented logging to stderr with timestamps, levels and roles. */
#include "log.h"

#include "escape.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static enum log_level log_level = LOG_LEVEL_INFO;
static char log_role[64] = "celeriac";

static void log_vwrite(const char *level, int with_errno, const char *fmt,
                       va_list ap) LOG_PRINTF(3, 0);

void
log_set_role(const char *role)
{
    snprintf(log_role, sizeof(log_role), "%s", role);
}

void
log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level
log_get_level(void)
{
    return log_level;
}

int
log_parse_level(const char *name)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    for (int i = 0; i < 4; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    if (strcmp(name, "warning") == 0)
        return LOG_LEVEL_WARN;
    return -1;
}

static void
log_vwrite(const char *level, int with_errno, const char *fmt, va_list ap)
{
    int saved = errno;
    char msg[1024], stamp[32];
    struct timeval tv;
    struct tm tm;

    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    int mlen = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (mlen < 0)
        mlen = 0;
    else if ((size_t)mlen >= sizeof(msg))
        mlen = sizeof(msg) - 1;
    /*
     * Messages carry untrusted values (task ids, key names, reasons): a
     * newline in one must not forge a line, nor an escape sequence drive
     * a terminal.  Escaping the whole message covers every call site.
     */
    char safe[sizeof(msg) * 2];
    escape_buf(safe, sizeof(safe), msg, (size_t)mlen, ESCAPE_BACKSLASH);
    /* One write per line so that lines of concurrent processes do not mix. */
    char line[sizeof(safe) + 400];
    int n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s %s[%ld] %s%s%s\n",
                     stamp, (long)tv.tv_usec / 1000, level, log_role,
                     (long)getpid(), safe, with_errno ? ": " : "",
                     with_errno ? strerror(saved) : "");
    if (n >= (int)sizeof(line)) { /* keep the newline */
        n = sizeof(line);
        line[n - 1] = '\n';
    }
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* Nowhere left to report this. */
    }
    errno = saved;
}

#define LOG_DEFINE(name, lvl, tag, err)                                        \
    void name(const char *fmt, ...)                                            \
    {                                                                          \
        if (log_level < (lvl))                                                 \
            return;                                                            \
        va_list ap;                                                            \
        va_start(ap, fmt);                                                     \
        log_vwrite(tag, err, fmt, ap);                                         \
        va_end(ap);                                                            \
    }

LOG_DEFINE(log_error, LOG_LEVEL_ERROR, "ERROR", 0)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN, "WARN", 1)
LOG_DEFINE(log_warnx, LOG_LEVEL_WARN, "WARN", 0)
LOG_DEFINE(log_info, LOG_LEVEL_INFO, "INFO", 0)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG, "DEBUG", 0)

void
fatal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite("FATAL", 1, fmt, ap);
    va_end(ap);
    exit(1);
}

void
fatalx(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite("FATAL", 0, fmt, ap);
    va_end(ap);
    exit(1);
}
