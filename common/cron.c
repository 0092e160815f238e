/* SPDX-License-Identifier: MIT */
/* Cron schedules and their next firing times; see cron.h. */
#include "cron.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* The zone whose rules TZ holds now ("" : none set by this file). */
static char cron_cur_tz[CRON_TZ_MAX + 2];

static const char *const cron_months[] = {"jan", "feb", "mar", "apr",
                                          "may", "jun", "jul", "aug",
                                          "sep", "oct", "nov", "dec"};
static const char *const cron_days[] = {"sun", "mon", "tue", "wed",
                                        "thu", "fri", "sat"};

struct cron_field {
    const char *what; /* for messages */
    int lo, hi;       /* values allowed */
    const char *const *names; /* names of lo..; NULL: none */
    int nnames;
};

static const struct cron_field cron_fields[5] = {
    {"minute", 0, 59, NULL, 0},
    {"hour", 0, 23, NULL, 0},
    {"day of month", 1, 31, NULL, 0},
    {"month", 1, 12, cron_months, 12},
    {"day of week", 0, 7, cron_days, 7},
};

static void cron_why(char *why, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
cron_why(char *why, size_t n, const char *fmt, ...)
{
    va_list ap;
    if (why == NULL || n == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* A value of field f at *p (number or name); advances *p.  -1 if none. */
static int
cron_value(const struct cron_field *f, const char **p)
{
    const char *s = *p;
    if (isdigit((unsigned char)*s)) {
        long v = 0;
        while (isdigit((unsigned char)*s) && v < 1000)
            v = v * 10 + (*s++ - '0');
        if (v < f->lo || v > f->hi)
            return -1;
        *p = s;
        return (int)v;
    }
    for (int i = 0; i < f->nnames; i++)
        if (strncasecmp(s, f->names[i], 3) == 0 &&
            !isalpha((unsigned char)s[3])) {
            *p = s + 3;
            return f->lo + i;
        }
    return -1;
}

/* Parses one field (text[0..len)) into *bits.  0, or -1 with why. */
static int
cron_field_parse(const struct cron_field *f, const char *text, size_t len,
                 uint64_t *bits, char *why, size_t n)
{
    char buf[128];
    if (len == 0 || len >= sizeof(buf)) {
        cron_why(why, n, "the %s field is empty or too long", f->what);
        return -1;
    }
    memcpy(buf, text, len);
    buf[len] = '\0';
    *bits = 0;
    if (buf[0] == ',' || buf[len - 1] == ',' || strstr(buf, ",,") != NULL) {
        cron_why(why, n, "the %s field '%s' has an empty item", f->what, buf);
        return -1;
    }
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item != NULL;
         item = strtok_r(NULL, ",", &save)) {
        const char *p = item;
        int lo, hi, step = 1;
        if (*p == '*') {
            lo = f->lo, hi = f->hi;
            p++;
        } else {
            if ((lo = cron_value(f, &p)) < 0)
                goto bad;
            hi = lo;
            if (*p == '-') {
                p++;
                if ((hi = cron_value(f, &p)) < 0 || hi < lo)
                    goto bad;
            } else if (*p == '/') {
                hi = f->hi;
            }
        }
        if (*p == '/') {
            p++;
            char *end;
            errno = 0;
            long s = strtol(p, &end, 10);
            if (end == p || !isdigit((unsigned char)*p) || s < 1 ||
                s > f->hi - f->lo + 1 || errno != 0)
                goto bad;
            step = (int)s;
            p = end;
        }
        if (*p != '\0')
            goto bad;
        for (int v = lo; v <= hi; v += step)
            *bits |= 1ULL << v;
        continue;
    bad:
        snprintf(why, n,
                 "the %s field has a bad item '%s' (values %d-%d%s%s)",
                 f->what, item, f->lo, f->hi, f->names ? ", or names such as " : "",
                 f->names ? f->names[0] : "");
        return -1;
    }
    if (*bits == 0) {
        cron_why(why, n, "the %s field '%s' selects nothing", f->what, text);
        return -1;
    }
    return 0;
}

/* Parses "@every N<unit>".  0, or -1 with why. */
static int
cron_every(struct cron *c, const char *arg, char *why, size_t n)
{
    while (*arg == ' ' || *arg == '\t')
        arg++;
    char *end;
    errno = 0;
    long long v = strtoll(arg, &end, 10);
    long long mul = 0;
    if (end != arg && isdigit((unsigned char)*arg) && errno == 0 &&
        end[0] != '\0' && end[1] == '\0') {
        switch (*end) {
        case 's': mul = 1; break;
        case 'm': mul = 60; break;
        case 'h': mul = 3600; break;
        case 'd': mul = 86400; break;
        default: break;
        }
    }
    if (mul == 0 || v < 1 || v > CRON_EVERY_MAX / mul) {
        cron_why(why, n,
                 "'@every %s': expected a period such as 30s, 5m, 1h or 2d "
                 "(1 s to 366 days)",
                 arg);
        return -1;
    }
    c->every = v * mul;
    return 0;
}

int
cron_parse(struct cron *c, const char *spec, char *why, size_t n)
{
    static const char *const aliases[][2] = {
        {"@hourly", "0 * * * *"},   {"@daily", "0 0 * * *"},
        {"@midnight", "0 0 * * *"}, {"@weekly", "0 0 * * 0"},
        {"@monthly", "0 0 1 * *"},  {"@yearly", "0 0 1 1 *"},
        {"@annually", "0 0 1 1 *"},
    };
    memset(c, 0, sizeof(*c));
    while (*spec == ' ' || *spec == '\t')
        spec++;
    if (*spec == '@') {
        if (strncmp(spec, "@every", 6) == 0 &&
            (spec[6] == ' ' || spec[6] == '\t'))
            return cron_every(c, spec + 6, why, n);
        for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
            if (strcmp(spec, aliases[i][0]) == 0)
                return cron_parse(c, aliases[i][1], why, n);
        cron_why(why, n,
                 "unknown schedule '%s': the @ forms are @every N, @hourly, "
                 "@daily, @weekly, @monthly and @yearly",
                 spec);
        return -1;
    }
    const char *p = spec;
    uint64_t bits[5];
    for (int i = 0; i < 5; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        const char *start = p;
        while (*p != '\0' && *p != ' ' && *p != '\t')
            p++;
        if (p == start) {
            cron_why(why, n,
                     "'%s': a schedule has five fields (minute hour "
                     "day-of-month month day-of-week) or is an @ form",
                     spec);
            return -1;
        }
        if (cron_field_parse(&cron_fields[i], start, (size_t)(p - start),
                             &bits[i], why, n) < 0)
            return -1;
        if (i == 0 || i == 1)
            c->wildcard |= *start == '*';
        if (i == 2)
            c->dom_star = *start == '*';
        if (i == 4)
            c->dow_star = *start == '*';
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '\0') {
        cron_why(why, n, "'%s': more than five fields (at '%s')", spec, p);
        return -1;
    }
    c->minute = bits[0];
    c->hour = (uint32_t)bits[1];
    c->dom = (uint32_t)bits[2];
    c->month = (uint32_t)bits[3];
    c->dow = (uint32_t)bits[4];
    if (c->dow & (1u << 7))
        c->dow = (c->dow | 1u) & 0x7f; /* 7 is Sunday too */
    return 0;
}

int
cron_set_tz(struct cron *c, const char *tz, char *why, size_t n)
{
    if (strcmp(tz, "UTC") == 0 || strcmp(tz, "Etc/UTC") == 0) {
        c->tz[0] = '\0';
        return 0;
    }
    size_t len = strlen(tz);
    int ok = len > 0 && len <= CRON_TZ_MAX && tz[0] != '/' &&
             strstr(tz, "..") == NULL;
    for (size_t i = 0; ok && i < len; i++)
        ok = isalnum((unsigned char)tz[i]) || strchr("/_+-", tz[i]) != NULL;
    if (ok) {
        const char *dir = getenv("TZDIR");
        char path[512];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s",
                 dir != NULL && *dir != '\0' ? dir : "/usr/share/zoneinfo",
                 tz);
        ok = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    }
    if (!ok) {
        cron_why(why, n,
                 "unknown time zone '%s': give an IANA name such as "
                 "Europe/Berlin or UTC (is the tzdata package "
                 "installed?)",
                 tz);
        return -1;
    }
    memcpy(c->tz, tz, len + 1);
    return 0;
}

/* Local broken-down time of t in the zone of c. */
static void
cron_local(const struct cron *c, int64_t t, struct tm *tm)
{
    time_t tt = (time_t)t;
    if (c->tz[0] == '\0') {
        gmtime_r(&tt, tm);
        return;
    }
    if (strcmp(cron_cur_tz + 1, c->tz) != 0 || cron_cur_tz[0] != ':') {
        cron_cur_tz[0] = ':';
        memcpy(cron_cur_tz + 1, c->tz, strlen(c->tz) + 1);
        setenv("TZ", cron_cur_tz, 1);
        tzset();
    }
    localtime_r(&tt, tm);
}

static long
cron_offset(const struct cron *c, int64_t t)
{
    struct tm tm;
    cron_local(c, t, &tm);
    return tm.tm_gmtoff;
}

static int
cron_day_matches(const struct cron *c, const struct tm *tm)
{
    if (!(c->month & (1u << (tm->tm_mon + 1))))
        return 0;
    int dom = (c->dom >> tm->tm_mday) & 1;
    int dow = (c->dow >> tm->tm_wday) & 1;
    if (c->dom_star || c->dow_star)
        return dom && dow;
    return dom || dow;
}

static int
cron_matches(const struct cron *c, const struct tm *tm)
{
    return cron_day_matches(c, tm) && ((c->hour >> tm->tm_hour) & 1) &&
           ((c->minute >> tm->tm_min) & 1);
}

/*
 * 1 if the local time at t also occurred earlier (the second pass through
 * a fall-back overlap).
 */
static int
cron_second_pass(const struct cron *c, int64_t t, long off)
{
    long before = cron_offset(c, t - 3 * 3600);
    if (before <= off)
        return 0;
    return cron_offset(c, t - (before - off)) == before;
}

/*
 * 1 if t is the first instant after a spring-forward gap in which a local
 * time matching c was skipped.
 */
static int
cron_gap_fires(const struct cron *c, int64_t t, long off)
{
    long prev = cron_offset(c, t - 60);
    if (prev >= off)
        return 0;
    /* The skipped local minutes: (local(t - 60), local(t)) exclusive,
     * walked as UTC arithmetic on the wall clock. */
    struct tm tm;
    cron_local(c, t - 60, &tm);
    int64_t wall = (int64_t)timegm(&tm);
    for (int64_t w = wall + 60; w < t + off; w += 60) {
        time_t tw = (time_t)w;
        struct tm wt;
        gmtime_r(&tw, &wt);
        if (cron_matches(c, &wt))
            return 1;
    }
    return 0;
}

int64_t
cron_next(const struct cron *c, int64_t after)
{
    if (c->every > 0) {
        int64_t q = after >= 0 ? after / c->every : -((-after + c->every - 1) / c->every);
        return (q + 1) * c->every;
    }
    int64_t t = (after >= 0 ? after / 60 : (after - 59) / 60) * 60 + 60;
    int64_t limit = after + CRON_HORIZON_S;
    while (t <= limit) {
        struct tm tm;
        cron_local(c, t, &tm);
        long off = tm.tm_gmtoff;
        if (cron_matches(c, &tm) &&
            (c->wildcard || !cron_second_pass(c, t, off)))
            return t;
        if (!c->wildcard && cron_gap_fires(c, t, off))
            return t;
        /* Jump over a local day or hour that cannot match, unless the
         * offset changes on the way (then walk minute by minute). */
        int64_t target = t + 60;
        if (!cron_day_matches(c, &tm))
            target = t + ((int64_t)(23 - tm.tm_hour) * 60 + 60 - tm.tm_min) * 60;
        else if (!((c->hour >> tm.tm_hour) & 1))
            target = t + (int64_t)(60 - tm.tm_min) * 60;
        if (target > t + 60 && cron_offset(c, target) != off)
            target = t + 60;
        t = target;
    }
    return -1;
}

int64_t
cron_last(const struct cron *c, int64_t at)
{
    static const int64_t windows[] = {3600, 86400, 32LL * 86400,
                                      367LL * 86400, CRON_HORIZON_S};
    if (c->every > 0) {
        int64_t q = at >= 0 ? at / c->every : -((-at + c->every - 1) / c->every);
        return q * c->every;
    }
    for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
        int64_t t = cron_next(c, at - windows[i]);
        if (t < 0 || t > at)
            continue;
        for (int64_t n; (n = cron_next(c, t)) >= 0 && n <= at;)
            t = n;
        return t;
    }
    return -1;
}

const char *
cron_format_local(const struct cron *c, int64_t t, char *buf, size_t n)
{
    struct tm tm;
    cron_local(c, t, &tm);
    if (strftime(buf, n, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0 && n > 0)
        buf[0] = '\0';
    if (c->tz[0] == '\0' && n > 0)
        snprintf(buf, n, "%04d-%02d-%02d %02d:%02d:%02d UTC",
                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                 tm.tm_min, tm.tm_sec);
    return buf;
}
