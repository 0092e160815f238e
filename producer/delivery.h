/* SPDX-License-Identifier: MIT */
/*
 * The delivery options of `celeriac send` (and of every line of
 * `send --batch`): when the task is due (--countdown, --eta) and the
 * policy fields of protocol/policy.h the message carries (--expires,
 * --time-limit, --max-retries, --retry-backoff, --retry-backoff-max,
 * --no-retry-jitter).
 *
 * A delayed task is not XADDed: it gets an "id" and a "queue" and goes to
 * the sorted set <prefix>scheduled with its due time in Unix ms as score;
 * workers move it to its queue when due (PROTOCOL.md, "Scheduled tasks").
 * Times are the producer's wall clock (CLOCK_REALTIME), as the workers'
 * are theirs: keep the machines' clocks in step.
 */
#ifndef CELERIAC_DELIVERY_H
#define CELERIAC_DELIVERY_H

#include <getopt.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* getopt_long values of the delivery options. */
#define DELIVERY_OPT_COUNTDOWN 0x1100
#define DELIVERY_OPT_ETA 0x1101
#define DELIVERY_OPT_EXPIRES 0x1102
#define DELIVERY_OPT_TIME_LIMIT 0x1103
#define DELIVERY_OPT_MAX_RETRIES 0x1104
#define DELIVERY_OPT_BACKOFF 0x1105
#define DELIVERY_OPT_BACKOFF_MAX 0x1106
#define DELIVERY_OPT_NO_JITTER 0x1107
/* clang-format off */
#define DELIVERY_LONG_OPTIONS                                                  \
    {"countdown", required_argument, NULL, DELIVERY_OPT_COUNTDOWN},            \
    {"eta", required_argument, NULL, DELIVERY_OPT_ETA},                        \
    {"expires", required_argument, NULL, DELIVERY_OPT_EXPIRES},                \
    {"time-limit", required_argument, NULL, DELIVERY_OPT_TIME_LIMIT},          \
    {"max-retries", required_argument, NULL, DELIVERY_OPT_MAX_RETRIES},        \
    {"retry-backoff", required_argument, NULL, DELIVERY_OPT_BACKOFF},          \
    {"retry-backoff-max", required_argument, NULL, DELIVERY_OPT_BACKOFF_MAX},  \
    {"no-retry-jitter", no_argument, NULL, DELIVERY_OPT_NO_JITTER}
/* clang-format on */

/* Longest --countdown and relative --expires: 100 years, in seconds. */
#define DELIVERY_MAX_SECONDS (100.0 * 365 * 86400)
/* Largest Unix time accepted (in seconds; about the year 5138): a larger
 * number is taken for milliseconds by mistake. */
#define DELIVERY_MAX_UNIX 1e11

enum delivery_when {
    DELIVERY_NOW,       /* XADD at once */
    DELIVERY_COUNTDOWN, /* due countdown_us after it is sent */
    DELIVERY_ETA        /* due at eta_us */
};

enum delivery_expiry {
    DELIVERY_NEVER,
    DELIVERY_EXPIRES_IN, /* expires_us after it is sent */
    DELIVERY_EXPIRES_AT  /* at expires_us (Unix time) */
};

/* What the options asked for.  Lifecycle: delivery_init(), options. */
struct delivery {
    enum delivery_when when;
    int64_t countdown_us;
    int64_t eta_us; /* Unix microseconds */
    enum delivery_expiry expiry;
    int64_t expires_us; /* a duration or a Unix time, per expiry */
    double time_limit;  /* seconds; 0 = not given */
    int max_retries;    /* -1 = not given */
    double backoff;     /* seconds; < 0 = not given */
    double backoff_max; /* seconds; < 0 = not given */
    int no_jitter;      /* --no-retry-jitter */
};

void delivery_init(struct delivery *d);
/*
 * Handles an option returned by getopt_long.  Returns 1 if it was a
 * delivery option (stored), 0 if it is not one, -1 if its value is bad
 * (after printing why, with a pointer to `celeriac CMD --help`).
 */
int delivery_option(struct delivery *d, const char *cmd, int opt,
                    const char *arg);
/* 1 if the options delay the task (--countdown or --eta). */
int delivery_delayed(const struct delivery *d);
/* 1 if the options put any policy field in the message. */
int delivery_has_fields(const struct delivery *d);
/* The wall clock in Unix microseconds. */
int64_t delivery_clock_us(void);
/* The due time in Unix ms of a task sent at now_us; -1 if not delayed. */
int64_t delivery_due_ms(const struct delivery *d, int64_t now_us);
/*
 * Sets the policy fields of the options on the message object msg, for a
 * message sent at now_us; fields msg already has are left as they are.
 */
void delivery_apply(const struct delivery *d, json_t *msg, int64_t now_us);
/* The "expires" the options give to a task sent at now_us, Unix us (0:
 * none). */
int64_t delivery_expires_us(const struct delivery *d, int64_t now_us);

/* 1 if key is a delivery field a batch line may carry. */
int delivery_line_field(const char *key);
/*
 * Checks and completes the delivery fields of a batch line (an object):
 * "countdown" (seconds >= 0) or "eta" (Unix seconds or ISO-8601 UTC) are
 * taken out and turned into *due_ms (-1: not delayed unless the options
 * delay it); the policy fields must have the types of protocol/policy.h;
 * the options' fields fill in what the line lacks.  Returns 0, or -1 with
 * a sentence in why[0..n).
 */
int delivery_line(const struct delivery *d, json_t *line, int64_t now_us,
                  int64_t *due_ms, char *why, size_t n);

#endif
