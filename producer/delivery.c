/* SPDX-License-Identifier: MIT */
/* The delivery options of `send`: scheduling, expiry, limits, retries. */
#include "delivery.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "build.h"
#include "cli.h"
#include "error.h"
#include "policy.h"

/* Largest time limit and backoff the workers accept (policy.c). */
#define DELIVERY_MAX_POLICY_SECONDS 1e7
/* A bare --expires number at least this big is a Unix time by mistake. */
#define DELIVERY_MAX_EXPIRES_IN 1e9

static int delivery_number(const char *s, double *v);
static int delivery_unix(double v, int64_t *us);
static int delivery_time(const char *s, int bare_unix, int64_t *us);
static int delivery_unset(const json_t *msg, const char *key);

/* Parses a whole string as a finite number.  Returns 0 or -1. */
static int
delivery_number(const char *s, double *v)
{
    char *end;

    errno = 0;
    *v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !isfinite(*v))
        return -1;
    return 0;
}

/* A Unix time in seconds to microseconds, if plausible.  0 or -1. */
static int
delivery_unix(double v, int64_t *us)
{
    if (!(v > 0) || v > DELIVERY_MAX_UNIX)
        return -1;
    *us = (int64_t)llround(v * 1e6);
    return 0;
}

/*
 * An absolute time: "@SECONDS" (Unix time, fractions allowed), ISO-8601
 * UTC ("2026-11-22T10:00:00Z", fractions allowed), or with bare_unix also
 * a bare Unix time.  Returns 0 with *us (Unix microseconds), or -1.
 */
static int
delivery_time(const char *s, int bare_unix, int64_t *us)
{
    double v;

    if (s[0] == '@' || bare_unix) {
        const char *num = s[0] == '@' ? s + 1 : s;
        if (delivery_number(num, &v) == 0)
            return delivery_unix(v, us);
        if (s[0] == '@')
            return -1;
    }
    *us = policy_parse_time(s);
    return *us > 0 ? 0 : -1;
}

void
delivery_init(struct delivery *d)
{
    memset(d, 0, sizeof(*d));
    d->when = DELIVERY_NOW;
    d->expiry = DELIVERY_NEVER;
    d->max_retries = -1;
    d->backoff = -1;
    d->backoff_max = -1;
}

int
delivery_option(struct delivery *d, const char *cmd, int opt, const char *arg)
{
    double v;
    char *end;

    switch (opt) {
    case DELIVERY_OPT_COUNTDOWN:
        if (d->when == DELIVERY_ETA)
            goto both;
        if (delivery_number(arg, &v) < 0 || v < 0 || v > DELIVERY_MAX_SECONDS) {
            cli_usage(cmd,
                      "--countdown '%s': expected a number of seconds "
                      "(fractions allowed) from 0 to %.0f",
                      arg, DELIVERY_MAX_SECONDS);
            return -1;
        }
        d->when = DELIVERY_COUNTDOWN;
        d->countdown_us = (int64_t)llround(v * 1e6);
        return 1;
    case DELIVERY_OPT_ETA:
        if (d->when == DELIVERY_COUNTDOWN)
            goto both;
        if (delivery_time(arg, 1, &d->eta_us) < 0) {
            if (delivery_number(arg[0] == '@' ? arg + 1 : arg, &v) == 0 &&
                v > DELIVERY_MAX_UNIX)
                cli_usage(cmd,
                          "--eta '%s': too far ahead; is it in "
                          "milliseconds? Give a Unix time in seconds",
                          arg);
            else
                cli_usage(cmd,
                          "--eta '%s': expected an ISO-8601 UTC time such "
                          "as 2026-11-22T10:00:00Z (with the Z; fractions "
                          "of a second allowed) or a Unix time in seconds",
                          arg);
            return -1;
        }
        d->when = DELIVERY_ETA;
        return 1;
    case DELIVERY_OPT_EXPIRES:
        if (arg[0] == '@' || strchr(arg, 'T') != NULL) {
            if (delivery_time(arg, 0, &d->expires_us) < 0) {
                cli_usage(cmd,
                          "--expires '%s': expected seconds from now, an "
                          "ISO-8601 UTC time such as 2026-11-22T10:00:00Z "
                          "(with the Z) or @UNIXTIME in seconds",
                          arg);
                return -1;
            }
            d->expiry = DELIVERY_EXPIRES_AT;
            return 1;
        }
        if (delivery_number(arg, &v) < 0 || !(v > 0)) {
            cli_usage(cmd,
                      "--expires '%s': expected a number of seconds from "
                      "now greater than 0 (fractions allowed), an ISO-8601 "
                      "UTC time such as 2026-11-22T10:00:00Z or @UNIXTIME",
                      arg);
            return -1;
        }
        if (v >= DELIVERY_MAX_EXPIRES_IN) {
            cli_usage(cmd,
                      "--expires '%s': that many seconds from now is "
                      "decades; for an absolute Unix time write @%s",
                      arg, arg);
            return -1;
        }
        d->expiry = DELIVERY_EXPIRES_IN;
        d->expires_us = (int64_t)llround(v * 1e6);
        return 1;
    case DELIVERY_OPT_TIME_LIMIT:
        if (delivery_number(arg, &v) < 0 || !(v > 0) ||
            v > DELIVERY_MAX_POLICY_SECONDS) {
            cli_usage(cmd,
                      "--time-limit '%s': expected a number of seconds "
                      "greater than 0 and at most %.0f (fractions "
                      "allowed); leave it out for the worker's default",
                      arg, DELIVERY_MAX_POLICY_SECONDS);
            return -1;
        }
        d->time_limit = v;
        return 1;
    case DELIVERY_OPT_MAX_RETRIES: {
        errno = 0;
        long n = strtol(arg, &end, 10);
        if (errno != 0 || end == arg || *end != '\0' || n < 0 ||
            n > POLICY_MAX_RETRIES) {
            cli_usage(cmd,
                      "--max-retries '%s': expected a whole number from 0 "
                      "to %d",
                      arg, POLICY_MAX_RETRIES);
            return -1;
        }
        d->max_retries = (int)n;
        return 1;
    }
    case DELIVERY_OPT_BACKOFF:
    case DELIVERY_OPT_BACKOFF_MAX:
        if (delivery_number(arg, &v) < 0 || v < 0 ||
            v > DELIVERY_MAX_POLICY_SECONDS) {
            cli_usage(cmd,
                      "%s '%s': expected a number of seconds from 0 to "
                      "%.0f (fractions allowed)",
                      opt == DELIVERY_OPT_BACKOFF ? "--retry-backoff"
                                                  : "--retry-backoff-max",
                      arg, DELIVERY_MAX_POLICY_SECONDS);
            return -1;
        }
        if (opt == DELIVERY_OPT_BACKOFF)
            d->backoff = v;
        else
            d->backoff_max = v;
        return 1;
    case DELIVERY_OPT_NO_JITTER:
        d->no_jitter = 1;
        return 1;
    default:
        return 0;
    }
both:
    cli_usage(cmd, "--countdown and --eta both say when the task is due; "
                   "give one of them");
    return -1;
}

int
delivery_delayed(const struct delivery *d)
{
    return d->when != DELIVERY_NOW;
}

int
delivery_has_fields(const struct delivery *d)
{
    return d->expiry != DELIVERY_NEVER || d->time_limit > 0 ||
           d->max_retries >= 0 || d->backoff >= 0 || d->backoff_max >= 0 ||
           d->no_jitter;
}

int64_t
delivery_clock_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
delivery_due_ms(const struct delivery *d, int64_t now_us)
{
    switch (d->when) {
    case DELIVERY_COUNTDOWN:
        return (now_us + d->countdown_us) / 1000;
    case DELIVERY_ETA:
        return d->eta_us / 1000;
    default:
        return -1;
    }
}

int64_t
delivery_expires_us(const struct delivery *d, int64_t now_us)
{
    switch (d->expiry) {
    case DELIVERY_EXPIRES_IN:
        return now_us + d->expires_us;
    case DELIVERY_EXPIRES_AT:
        return d->expires_us;
    default:
        return 0;
    }
}

/* 1 if msg lacks key (null counts as absent, as in the protocol). */
static int
delivery_unset(const json_t *msg, const char *key)
{
    json_t *v = json_object_get(msg, key);
    return v == NULL || json_is_null(v);
}

void
delivery_apply(const struct delivery *d, json_t *msg, int64_t now_us)
{
    if (d->expiry != DELIVERY_NEVER && delivery_unset(msg, BUILD_F_EXPIRES))
        json_object_set_new(
            msg, BUILD_F_EXPIRES,
            json_real((double)delivery_expires_us(d, now_us) / 1e6));
    if (d->time_limit > 0 && delivery_unset(msg, BUILD_F_TIME_LIMIT))
        json_object_set_new(msg, BUILD_F_TIME_LIMIT, json_real(d->time_limit));
    if (d->max_retries >= 0 && delivery_unset(msg, BUILD_F_MAX_RETRIES))
        json_object_set_new(msg, BUILD_F_MAX_RETRIES, json_integer(d->max_retries));
    if (d->backoff >= 0 && delivery_unset(msg, BUILD_F_RETRY_BACKOFF))
        json_object_set_new(msg, BUILD_F_RETRY_BACKOFF, json_real(d->backoff));
    if (d->backoff_max >= 0 && delivery_unset(msg, BUILD_F_RETRY_BACKOFF_MAX))
        json_object_set_new(msg, BUILD_F_RETRY_BACKOFF_MAX,
                            json_real(d->backoff_max));
    if (d->no_jitter && delivery_unset(msg, BUILD_F_RETRY_JITTER))
        json_object_set_new(msg, BUILD_F_RETRY_JITTER, json_false());
}

int
delivery_line_field(const char *key)
{
    static const char *const fields[] = {
        BUILD_F_COUNTDOWN,   BUILD_F_ETA,           BUILD_F_EXPIRES,           BUILD_F_TIME_LIMIT,
        BUILD_F_MAX_RETRIES, BUILD_F_RETRY_BACKOFF, BUILD_F_RETRY_BACKOFF_MAX, BUILD_F_RETRY_JITTER,
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(key, fields[i]) == 0)
            return 1;
    return 0;
}

int
delivery_line(const struct delivery *d, json_t *line, int64_t now_us,
              int64_t *due_ms, char *why, size_t n)
{
    json_t *cd = json_object_get(line, BUILD_F_COUNTDOWN);
    json_t *eta = json_object_get(line, BUILD_F_ETA);
    struct proto_error err;
    struct policy p;
    int64_t us;

    if (json_is_null(cd))
        cd = NULL;
    if (json_is_null(eta))
        eta = NULL;
    *due_ms = delivery_due_ms(d, now_us);
    if (cd != NULL && eta != NULL) {
        snprintf(why, n, "give \"countdown\" or \"eta\", not both");
        return -1;
    }
    if (cd != NULL) {
        double v = json_number_value(cd);
        if (!json_is_number(cd) || v < 0 || v > DELIVERY_MAX_SECONDS) {
            snprintf(why, n,
                     "\"countdown\" must be a number of seconds from 0 "
                     "to %.0f",
                     DELIVERY_MAX_SECONDS);
            return -1;
        }
        *due_ms = (now_us + (int64_t)llround(v * 1e6)) / 1000;
    } else if (eta != NULL) {
        if (json_is_number(eta)
                ? delivery_unix(json_number_value(eta), &us) < 0
                : (!json_is_string(eta) ||
                   (us = policy_parse_time(json_string_value(eta))) <= 0)) {
            snprintf(why, n,
                     "\"eta\" must be a Unix time in seconds or an "
                     "ISO-8601 UTC time such as \"2026-11-22T10:00:00Z\"");
            return -1;
        }
        *due_ms = us / 1000;
    }
    json_object_del(line, BUILD_F_COUNTDOWN);
    json_object_del(line, BUILD_F_ETA);

    if (policy_decode(line, &p, &err) < 0) {
        snprintf(why, n, "%s", err.message);
        return -1;
    }
    json_t *mr = json_object_get(line, BUILD_F_MAX_RETRIES);
    if (mr != NULL && !json_is_null(mr) && !json_is_integer(mr)) {
        snprintf(why, n, "\"max_retries\" must be a whole number from 0 to %d",
                 POLICY_MAX_RETRIES);
        return -1;
    }
    delivery_apply(d, line, now_us);
    return 0;
}
