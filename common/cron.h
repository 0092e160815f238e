/* SPDX-License-Identifier: MIT */
/*
 * Schedules of periodic tasks (`celeriac beat`): five-field cron
 * expressions and the @ forms, with a time zone per schedule, and the next
 * firing time after a given instant.
 *
 *   minute hour day-of-month month day-of-week
 *
 * Each field is a list of items separated by commas; an item is "*", a
 * value or a range "a-b", optionally followed by "/step" ("*" + "/15",
 * "10-50/20"; "5/15" means 5 to the field's end by 15).  Months may be
 * named jan..dec and days sun..sat (any case); day-of-week 0 and 7 are
 * Sunday.  When both day fields are restricted (neither starts with "*")
 * a day matches if either matches (Vixie cron); otherwise both must.
 *
 *   @hourly @daily (@midnight) @weekly @monthly @yearly (@annually)
 *   @every N   N seconds, with a unit: 30s, 5m, 1h, 2d (1 s to 366 d)
 *
 * "@every N" fires at the Unix times that are multiples of N seconds, in
 * every time zone, so that every process computes the same instants.
 *
 * Time zones (cron_set_tz, an IANA name such as Europe/Berlin; UTC when
 * none) follow Vixie cron around daylight-saving changes.  A "wildcard"
 * schedule is one whose minute or hour field starts with "*"; the others
 * are "fixed-time".
 *   - Spring forward (local times that do not exist): a fixed-time
 *     schedule due in the gap fires once, at the first instant after it;
 *     a wildcard schedule fires only at local times that exist.
 *   - Fall back (local times that occur twice): a fixed-time schedule fires
 *     at the first occurrence only; a wildcard schedule fires at both.
 *
 * Local times come from localtime_r() with TZ set in the environment
 * (setenv + tzset when the zone changes): not thread-safe, which the
 * single-threaded beat loop does not need.
 */
#ifndef CELERIAC_CRON_H
#define CELERIAC_CRON_H

#include <stddef.h>
#include <stdint.h>

/* Longest time zone name. */
#define CRON_TZ_MAX 64
/* cron_next() looks this far ahead before answering "never". */
#define CRON_HORIZON_S (9LL * 366 * 86400)
/* Longest @every period, in seconds. */
#define CRON_EVERY_MAX (366LL * 86400)

struct cron {
    uint64_t minute;  /* bit m: minute m (0-59) */
    uint32_t hour;    /* bit h (0-23) */
    uint32_t dom;     /* bit d (1-31) */
    uint32_t month;   /* bit m (1-12) */
    uint32_t dow;     /* bit d (0-6, Sunday 0) */
    int dom_star;     /* the day-of-month field starts with '*' */
    int dow_star;     /* the day-of-week field starts with '*' */
    int wildcard;     /* the minute or hour field starts with '*' */
    int64_t every;    /* @every period in seconds; 0: a cron expression */
    char tz[CRON_TZ_MAX + 1]; /* "" : UTC */
};

/*
 * Parses a schedule: five fields separated by blanks, or one @ form
 * ("@every" and its period separated by blanks).  The time zone is reset
 * to UTC.  Returns 0, or -1 with a sentence in why[0..n).
 */
int cron_parse(struct cron *c, const char *spec, char *why, size_t n);
/*
 * Sets the time zone: "UTC", or an IANA name whose file exists under
 * $TZDIR or /usr/share/zoneinfo.  Returns 0, or -1 with why filled.
 */
int cron_set_tz(struct cron *c, const char *tz, char *why, size_t n);
/* The first firing time strictly after `after` (Unix seconds), or -1 if
 * there is none within CRON_HORIZON_S (e.g. "0 0 30 2 *"). */
int64_t cron_next(const struct cron *c, int64_t after);
/*
 * The last firing time at or before `at`, or -1 if none within
 * CRON_HORIZON_S before it.
 */
int64_t cron_last(const struct cron *c, int64_t at);
/*
 * Writes t as local time in the schedule's zone, "YYYY-MM-DD HH:MM:SS ZZZ"
 * (ZZZ the zone's abbreviation).  Returns buf.
 */
const char *cron_format_local(const struct cron *c, int64_t t, char *buf,
                              size_t n);

#endif
