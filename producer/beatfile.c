/* SPDX-License-Identifier: MIT */
/* The schedule file of `celeriac beat`; see beatfile.h. */
#include "beatfile.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build.h"
#include "hashtask.h"
#include "keys.h"
#include "message.h"
#include "policy.h"
#include "version.h"
#include "xmalloc.h"

/* Longest line read. */
#define BEATFILE_LINE_MAX (1024 * 1024)

static void beatfile_err(const char *path, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
beatfile_err(const char *path, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%s:%d: ", path, line);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

const char *
beatfile_misfire_name(enum beatplan_misfire m)
{
    switch (m) {
    case BEATPLAN_SKIP: return "skip";
    case BEATPLAN_ALL: return "all";
    default: return "once";
    }
}

/* A DURATION: seconds with an optional unit.  0, or -1. */
static int
beatfile_duration(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    long long v = strtoll(s, &end, 10);
    long long mul = 1;
    if (*end != '\0') {
        if (end[1] != '\0')
            return -1;
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: return -1;
        }
    }
    if (errno != 0 || v < 0 || v > 100LL * 366 * 86400 / mul)
        return -1;
    *out = v * mul;
    return 0;
}

/* A whole number lo..hi.  0, or -1. */
static int
beatfile_int(const char *s, long lo, long hi, int *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || errno != 0 || v < lo || v > hi ||
        !isdigit((unsigned char)*s))
        return -1;
    *out = (int)v;
    return 0;
}

/* Applies one KEY=VALUE.  0, or -1 with why. */
static int
beatfile_option(struct beatfile_entry *e, char *opt, char *why, size_t n)
{
    char *eq = strchr(opt, '=');
    if (eq == NULL || eq == opt) {
        snprintf(why, n,
                 "'%s' is not KEY=VALUE (the arguments, a JSON object, "
                 "must start with '{')",
                 opt);
        return -1;
    }
    *eq = '\0';
    const char *k = opt, *v = eq + 1;
    if (strcmp(k, "queue") == 0) {
        if (!keys_valid_name(v)) {
            snprintf(why, n, "queue=%s: a queue name is 1 to %d printable "
                     "bytes without spaces", v, PROTOCOL_MAX_NAME);
            return -1;
        }
        free(e->queue);
        e->queue = xstrdup(v);
    } else if (strcmp(k, "tz") == 0) {
        if (cron_set_tz(&e->cron, v, why, n) < 0)
            return -1;
    } else if (strcmp(k, "misfire") == 0) {
        if (strcmp(v, "once") == 0)
            e->misfire = BEATPLAN_ONCE;
        else if (strcmp(v, "skip") == 0)
            e->misfire = BEATPLAN_SKIP;
        else if (strcmp(v, "all") == 0)
            e->misfire = BEATPLAN_ALL;
        else {
            snprintf(why, n, "misfire=%s: expected once, skip or all", v);
            return -1;
        }
    } else if (strcmp(k, "max_catchup") == 0) {
        if (beatfile_int(v, 1, BEATFILE_MAX_CATCHUP, &e->max_catchup) < 0) {
            snprintf(why, n, "max_catchup=%s: expected 1 to %d", v,
                     BEATFILE_MAX_CATCHUP);
            return -1;
        }
    } else if (strcmp(k, "grace") == 0) {
        if (beatfile_duration(v, &e->grace) < 0 ||
            e->grace > BEATFILE_MAX_GRACE) {
            snprintf(why, n, "grace=%s: expected a duration such as 30s or "
                     "5m, at most 1d", v);
            return -1;
        }
    } else if (strcmp(k, "expires") == 0) {
        if (beatfile_duration(v, &e->expires) < 0 || e->expires == 0) {
            snprintf(why, n, "expires=%s: expected a duration after the "
                     "scheduled time such as 30s or 1h (> 0)", v);
            return -1;
        }
    } else if (strcmp(k, "time_limit") == 0) {
        char *end;
        double d = strtod(v, &end);
        if (end == v || *end != '\0' || !(d > 0) ||
            d > POLICY_MAX_TIME_LIMIT) {
            snprintf(why, n, "time_limit=%s: expected seconds > 0 (fractions "
                     "allowed)", v);
            return -1;
        }
        e->time_limit = d;
    } else if (strcmp(k, "max_retries") == 0) {
        if (beatfile_int(v, 0, POLICY_MAX_RETRIES, &e->max_retries) < 0) {
            snprintf(why, n, "max_retries=%s: expected 0 to %d", v,
                     POLICY_MAX_RETRIES);
            return -1;
        }
    } else {
        snprintf(why, n,
                 "unknown option '%s': the options are queue, tz, misfire, "
                 "max_catchup, grace, expires, time_limit and max_retries",
                 k);
        return -1;
    }
    return 0;
}

static int
beatfile_valid_name(const char *s, size_t len)
{
    if (len == 0 || len > BEATFILE_NAME_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)s[i]) && strchr("_.-", s[i]) == NULL)
            return 0;
    return 1;
}

/* The next blank-separated word of *p (NUL-terminated in place), or
 * NULL at the end. */
static char *
beatfile_word(char **p)
{
    char *s = *p;
    while (*s == ' ' || *s == '\t')
        s++;
    if (*s == '\0')
        return NULL;
    char *w = s;
    while (*s != '\0' && *s != ' ' && *s != '\t')
        s++;
    if (*s != '\0')
        *s++ = '\0';
    *p = s;
    return w;
}

void
beatfile_task_id(const struct beatfile_entry *e, int64_t t, char *buf,
                 size_t n)
{
    snprintf(buf, n, "beat:%s:%" PRId64, e->name, t);
}

char *
beatfile_message(const struct beatfile_entry *e, int64_t t, size_t *len)
{
    char id[BEATFILE_NAME_MAX + 32];
    struct build b = BUILD_INIT;
    json_t *extra = json_object();

    beatfile_task_id(e, t, id, sizeof(id));
    if (e->expires > 0)
        json_object_set_new(extra, BUILD_F_EXPIRES,
                            json_integer(t + e->expires));
    if (e->time_limit > 0)
        json_object_set_new(extra, BUILD_F_TIME_LIMIT,
                            json_real(e->time_limit));
    if (e->max_retries >= 0)
        json_object_set_new(extra, BUILD_F_MAX_RETRIES,
                            json_integer(e->max_retries));
    struct build_spec spec = {
        .task = e->task, .args = e->args, .id = id, .extra = extra};
    int r = build_message(&b, &spec);
    json_decref(extra);
    if (r < 0) {
        build_free(&b);
        return NULL;
    }
    return build_take(&b, len);
}

/*
 * Checks that the message of e decodes as a worker decodes it.  0, or -1
 * with why.
 */
static int
beatfile_verify(const struct beatfile_entry *e, char *why, size_t n)
{
    size_t len;
    char *msg = beatfile_message(e, 1800000000, &len);
    struct message m = MESSAGE_INIT;
    struct proto_error err;
    struct policy pol;
    int rc = -1;

    if (msg == NULL) {
        snprintf(why, n, "the task name or the arguments are not valid "
                 "UTF-8");
        return -1;
    }
    if (len > PROTOCOL_MAX_MESSAGE)
        snprintf(why, n, "the task message is %zu bytes; workers take at "
                 "most %u", len, PROTOCOL_MAX_MESSAGE);
    else if (message_decode(msg, len, &m, &err) < 0 ||
             policy_decode(m.root, &pol, &err) < 0)
        snprintf(why, n, "a worker would refuse the task: %s: %s", err.type,
                 err.message);
    else
        rc = 0;
    if (rc == 0 && strcmp(e->task, HASHTASK_NAME) == 0) {
        struct hashtask ht;
        memset(&ht, 0, sizeof(ht));
        const unsigned char *data;
        unsigned char *owned = NULL;
        size_t dlen;
        int present;
        if (hashtask_decode_params(m.args, &ht, &err) < 0 ||
            hashtask_inline(m.args, &data, &dlen, &owned, &present, &err) <
                0) {
            snprintf(why, n, "a worker would fail the task: %s: %s",
                     err.type, err.message);
            rc = -1;
        }
        free(owned);
        hashtask_clear(&ht);
    }
    message_clear(&m);
    free(msg);
    return rc;
}

/* Parses one line into e (already zeroed).  0, or -1 with why. */
static int
beatfile_parse(struct beatfile_entry *e, char *line, char *why, size_t n)
{
    char *p = line;
    char *name = beatfile_word(&p);
    char sched[256];

    e->max_catchup = BEATFILE_DEFAULT_CATCHUP;
    e->grace = BEATFILE_DEFAULT_GRACE;
    e->max_retries = -1;
    e->misfire = BEATPLAN_ONCE;
    if (!beatfile_valid_name(name, strlen(name))) {
        snprintf(why, n, "the name '%.80s' must be 1 to %d bytes of letters, "
                 "digits, '_', '.' and '-'", name, BEATFILE_NAME_MAX);
        return -1;
    }
    memcpy(e->name, name, strlen(name) + 1);
    char *w = beatfile_word(&p);
    if (w == NULL) {
        snprintf(why, n, "no schedule: expected NAME SCHEDULE TASK "
                 "[KEY=VALUE...] [ARGS-JSON]");
        return -1;
    }
    int nf = w[0] == '@' ? (strcmp(w, "@every") == 0 ? 2 : 1) : 5;
    snprintf(sched, sizeof(sched), "%s", w);
    for (int i = 1; i < nf; i++) {
        if ((w = beatfile_word(&p)) == NULL) {
            snprintf(why, n, "the schedule '%s' is incomplete: five fields "
                     "or an @ form, then the task name", sched);
            return -1;
        }
        size_t l = strlen(sched);
        snprintf(sched + l, sizeof(sched) - l, " %s", w);
    }
    if (cron_parse(&e->cron, sched, why, n) < 0)
        return -1;
    char *task = beatfile_word(&p);
    if (task == NULL || task[0] == '{' || strchr(task, '=') != NULL) {
        snprintf(why, n, "no task name after the schedule '%s'", sched);
        return -1;
    }
    if (strlen(task) > PROTOCOL_MAX_NAME) {
        snprintf(why, n, "the task name is longer than %d bytes",
                 PROTOCOL_MAX_NAME);
        return -1;
    }
    e->task = xstrdup(task);
    e->queue = xstrdup(KEYS_DEFAULT_QUEUE);
    for (;;) {
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '{')
            break;
        if (beatfile_option(e, beatfile_word(&p), why, n) < 0)
            return -1;
    }
    if (*p == '{') {
        json_error_t jerr;
        e->args = json_loads(p, JSON_REJECT_DUPLICATES, &jerr);
        if (e->args == NULL || !json_is_object(e->args)) {
            snprintf(why, n, "the arguments are not a JSON object: %s",
                     e->args == NULL ? jerr.text : "not an object");
            return -1;
        }
    } else {
        e->args = json_object();
    }
    if (e->cron.every > 0 && e->cron.tz[0] != '\0')
        e->cron.tz[0] = '\0'; /* @every ignores the zone (cron.h) */
    return beatfile_verify(e, why, n);
}

static void
beatfile_entry_free(struct beatfile_entry *e)
{
    free(e->task);
    free(e->queue);
    json_decref(e->args);
    memset(e, 0, sizeof(*e));
}

int
beatfile_load(struct beatfile *bf, const char *path)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t len;
    int lineno = 0;
    char why[768];

    memset(bf, 0, sizeof(*bf));
    if (f == NULL) {
        fprintf(stderr, "celeriac: cannot open the schedule file %s: %s\n",
                path, strerror(errno));
        return -1;
    }
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        char *p = line;
        while (*p == ' ' || *p == '\t')
            p++;
        if (*p == '\0' || *p == '#')
            continue;
        if (len > BEATFILE_LINE_MAX || strlen(line) != (size_t)len) {
            beatfile_err(path, lineno, "the line is longer than %d bytes or "
                         "holds a NUL byte", BEATFILE_LINE_MAX);
            bf->errors++;
            continue;
        }
        if (bf->n >= BEATFILE_MAX_ENTRIES) {
            beatfile_err(path, lineno, "more than %d entries in one file",
                         BEATFILE_MAX_ENTRIES);
            bf->errors++;
            break;
        }
        if (bf->n == alloc) {
            alloc = alloc ? 2 * alloc : 16;
            bf->entries = xrealloc(bf->entries, alloc * sizeof(*bf->entries));
        }
        struct beatfile_entry *e = &bf->entries[bf->n];
        memset(e, 0, sizeof(*e));
        e->line = lineno;
        why[0] = '\0';
        if (beatfile_parse(e, p, why, sizeof(why)) < 0) {
            beatfile_err(path, lineno, "%s", why);
            bf->errors++;
            beatfile_entry_free(e);
            continue;
        }
        for (size_t i = 0; i < bf->n; i++)
            if (strcmp(bf->entries[i].name, e->name) == 0) {
                beatfile_err(path, lineno, "the name '%s' is already used on "
                             "line %d", e->name, bf->entries[i].line);
                bf->errors++;
                beatfile_entry_free(e);
                e = NULL;
                break;
            }
        if (e != NULL)
            bf->n++;
    }
    int rerr = ferror(f);
    free(line);
    if (f != stdin)
        fclose(f);
    if (rerr) {
        fprintf(stderr, "celeriac: cannot read the schedule file %s\n", path);
        return -1;
    }
    return 0;
}

void
beatfile_free(struct beatfile *bf)
{
    for (size_t i = 0; i < bf->n; i++)
        beatfile_entry_free(&bf->entries[i]);
    free(bf->entries);
    memset(bf, 0, sizeof(*bf));
}
