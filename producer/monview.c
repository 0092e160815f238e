/* SPDX-License-Identifier: MIT */
/* The monitor's screen as text lines (monview.h). */
#include "monview.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "xmalloc.h"

/* Rows a full screen always uses besides the lists: title, throughput,
 * totals, and a blank line and a header before each of the three lists. */
#define MONVIEW_FIXED_ROWS 9

static void monview_add(struct monview *v, int cols, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void monview_cut(char *s, int cols);
static const char *monview_int(char *buf, size_t n, const json_t *x);
static const char *monview_rate(char *buf, size_t n, const json_t *x);
static void monview_spark(char *buf, size_t n, const struct snapshot_history *h,
                          int width, int utf8);
static void monview_share(size_t want[4], size_t avail);

void
monview_clear(struct monview *v)
{
    for (size_t i = 0; i < v->n; i++)
        free(v->line[i]);
    free(v->line);
    memset(v, 0, sizeof(*v));
}

/* Cuts s to cols columns (a column per UTF-8 character); 0: no limit. */
static void
monview_cut(char *s, int cols)
{
    int w = 0;
    if (cols <= 0)
        return;
    for (char *p = s; *p; p++) {
        if (((unsigned char)*p & 0xc0) == 0x80)
            continue;
        if (w++ == cols) {
            *p = '\0';
            return;
        }
    }
}

static void
monview_add(struct monview *v, int cols, const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = xstrdup("");
    va_end(ap);
    monview_cut(s, cols);
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 32;
        v->line = xrealloc(v->line, v->cap * sizeof(*v->line));
    }
    v->line[v->n++] = s;
}

static const char *
monview_int(char *buf, size_t n, const json_t *x)
{
    if (!json_is_integer(x))
        return "-";
    snprintf(buf, n, "%lld", (long long)json_integer_value(x));
    return buf;
}

static const char *
monview_rate(char *buf, size_t n, const json_t *x)
{
    if (!json_is_number(x))
        return "-";
    double r = json_number_value(x);
    snprintf(buf, n, r >= 100 ? "%.0f" : "%.1f", r);
    return buf;
}

/* The last `width` values of h as a bar per value, scaled to their max. */
static void
monview_spark(char *buf, size_t n, const struct snapshot_history *h,
              int width, int utf8)
{
    static const char *const bars[] = {"\u2581", "\u2582", "\u2583",
                                       "\u2584", "\u2585", "\u2586",
                                       "\u2587", "\u2588"};
    static const char ascii[] = "_.-:=+*#";
    size_t o = 0, from = h->n > (size_t)width ? h->n - (size_t)width : 0;
    double max = 0;

    buf[0] = '\0';
    for (size_t i = from; i < h->n; i++)
        if (snapshot_history_at(h, i) > max)
            max = snapshot_history_at(h, i);
    for (size_t i = from; i < h->n && o + 4 < n; i++) {
        double x = snapshot_history_at(h, i);
        int level = max > 0 ? (int)(x / max * 7 + 0.5) : 0;
        if (level > 7)
            level = 7;
        if (utf8) {
            memcpy(buf + o, bars[level], 3);
            o += 3;
        } else {
            buf[o++] = ascii[level];
        }
    }
    buf[o] = '\0';
}

/*
 * Shares avail rows among four lists that want want[i] rows each: each
 * gets what it wants if everything fits, else a fair share (what one
 * does not need goes to the others).  Rewrites want with the shares.
 */
static void
monview_share(size_t want[4], size_t avail)
{
    size_t got[4] = {0, 0, 0, 0};
    int progress = 1;
    while (avail > 0 && progress) {
        progress = 0;
        for (int i = 0; i < 4 && avail > 0; i++)
            if (got[i] < want[i]) {
                got[i]++;
                avail--;
                progress = 1;
            }
    }
    memcpy(want, got, sizeof(got));
}

void
monview_render(struct monview *v, const json_t *doc,
               const struct snapshot_history *h, const char *error, int cols,
               int rows, int utf8, int interactive)
{
    char a[32], b[32], c[32], d[32], e[32], f[32], g[32], spark[4 * 256];
    char when[32] = "";
    size_t i;
    json_t *x;

    monview_clear(v);
    if (doc != NULL) {
        time_t t = (time_t)(json_integer_value(json_object_get(doc, "time_ms")) /
                            1000);
        struct tm tm;
        if (gmtime_r(&t, &tm) != NULL)
            strftime(when, sizeof(when), "%H:%M:%S UTC", &tm);
    }
    /* The address last: a long one is what the width cuts. */
    monview_add(v, cols, "celeriac monitor%s  %s  prefix %s  %s",
                interactive ? " (q quits)" : "", when,
                doc ? cli_safe(json_string_value(json_object_get(doc, "prefix")))
                    : "",
                doc ? cli_safe(json_string_value(json_object_get(doc, "redis")))
                    : "");
    if (error != NULL)
        monview_add(v, cols, "! %s", cli_safe(error));
    if (doc == NULL) {
        monview_add(v, cols, "waiting for the first snapshot...");
        return;
    }

    json_t *queues = json_object_get(doc, "queues");
    json_t *workers = json_object_get(doc, "workers");
    json_t *dead = json_object_get(doc, "dead");
    json_t *last = json_object_get(dead, "last");
    int width = cols > 0 ? cols - 24 : 60;
    if (width > 240)
        width = 240;
    if (width < 0)
        width = 0;
    monview_spark(spark, sizeof(spark), h, width, utf8);
    monview_add(v, cols, "throughput %8s/s  %s",
                monview_rate(a, sizeof(a), json_object_get(doc, "throughput")),
                spark);
    monview_add(v, cols,
                "queues %zu  workers %zu  dead letters %s  scheduled %s  "
                "failed %s",
                json_array_size(queues) +
                    (size_t)json_integer_value(json_object_get(doc, "queues_more")),
                json_array_size(workers) +
                    (size_t)json_integer_value(json_object_get(doc, "workers_more")),
                monview_int(b, sizeof(b), json_object_get(dead, "length")),
                monview_int(c, sizeof(c), json_object_get(doc, "scheduled")),
                monview_int(d, sizeof(d), json_object_get(doc, "failed_total")));

    /* The rows each list may use: all when there is no limit. */
    json_t *failures = json_object_get(doc, "failures");
    size_t share[4] = {json_array_size(queues), json_array_size(workers),
                       json_array_size(last), json_array_size(failures)};
    if (rows > 0) {
        /* The failures' blank line and header only when there are some. */
        size_t used = v->n + MONVIEW_FIXED_ROWS - 3 +
                      (json_array_size(failures) > 0 ? 2 : 0);
        monview_share(share, (size_t)rows > used ? (size_t)rows - used : 0);
    }

    monview_add(v, cols, "%s", "");
    monview_add(v, cols, "%-20s %7s %7s %7s %5s %6s %6s %7s", "QUEUE", "LENGTH",
                "PENDING", "LAG", "CONS", "IN/s", "OUT/s", "OLDEST");
    json_array_foreach(queues, i, x)
    {
        size_t left = json_array_size(queues) - i;
        if (i + 1 == share[0] && left > 1) {
            monview_add(v, cols, "... and %zu more queues", left);
            break;
        }
        if (i >= share[0])
            break;
        const char *name = cli_safe(json_string_value(json_object_get(x, "name")));
        json_t *err = json_object_get(x, "error");
        if (err != NULL) {
            monview_add(v, cols, "%-20s (%s)", name,
                        cli_safe(json_string_value(err)));
            continue;
        }
        json_t *old = json_object_get(x, "oldest_age_ms");
        if (json_is_integer(old))
            snapshot_age(g, sizeof(g), (double)json_integer_value(old));
        else
            snprintf(g, sizeof(g), "-");
        monview_add(v, cols, "%-20s %7s %7s %7s %5s %6s %6s %7s", name,
                    monview_int(a, sizeof(a), json_object_get(x, "length")),
                    monview_int(b, sizeof(b), json_object_get(x, "pending")),
                    monview_int(c, sizeof(c), json_object_get(x, "lag")),
                    monview_int(d, sizeof(d), json_object_get(x, "consumers")),
                    monview_rate(e, sizeof(e), json_object_get(x, "rate_in")),
                    monview_rate(f, sizeof(f), json_object_get(x, "rate_out")),
                    g);
    }
    if (json_array_size(queues) == 0 && (rows <= 0 || share[0] > 0))
        monview_add(v, cols, "(no queues under this prefix yet)");

    monview_add(v, cols, "%s", "");
    monview_add(v, cols, "%-16s %-12s %6s %5s %4s %8s %6s %5s %5s", "WORKER",
                "HOST", "UP", "BUSY", "WIN", "DONE", "FAILED", "/s", "BEAT");
    json_array_foreach(workers, i, x)
    {
        size_t left = json_array_size(workers) - i;
        if (i + 1 == share[1] && left > 1) {
            monview_add(v, cols, "... and %zu more workers", left);
            break;
        }
        if (i >= share[1])
            break;
        const char *name = cli_safe(json_string_value(json_object_get(x, "name")));
        snapshot_age(g, sizeof(g),
                     (double)json_integer_value(json_object_get(x, "beat_age_ms")));
        if (json_is_true(json_object_get(x, "gone"))) {
            monview_add(v, cols, "%-16s gone (record expired; last beat %s ago)",
                        name, g);
            continue;
        }
        json_t *up = json_object_get(x, "up_s");
        char upbuf[32] = "-", busy[72];
        if (json_is_integer(up))
            snapshot_age(upbuf, sizeof(upbuf),
                         1000.0 * (double)json_integer_value(up));
        snprintf(busy, sizeof(busy), "%s/%s",
                 monview_int(a, sizeof(a), json_object_get(x, "busy")),
                 monview_int(b, sizeof(b), json_object_get(x, "concurrency")));
        monview_add(v, cols, "%-16s %-12.12s %6s %5s %4s %8s %6s %5s %5s", name,
                    cli_safe(json_string_value(json_object_get(x, "host"))),
                    upbuf, busy,
                    monview_int(c, sizeof(c), json_object_get(x, "window")),
                    monview_int(d, sizeof(d), json_object_get(x, "processed")),
                    monview_int(e, sizeof(e), json_object_get(x, "failed")),
                    monview_rate(f, sizeof(f),
                                 json_is_number(json_object_get(x, "rate"))
                                     ? json_object_get(x, "rate")
                                     : json_object_get(x, "rate_1m")),
                    g);
    }
    if (json_array_size(workers) == 0 && (rows <= 0 || share[1] > 0))
        monview_add(v, cols, "(no workers in the registry)");

    monview_add(v, cols, "%s", "");
    monview_add(v, cols, "DEAD LETTERS %s (latest first; see: celeriac dead)",
                monview_int(a, sizeof(a), json_object_get(dead, "length")));
    json_array_foreach(last, i, x)
    {
        if (i >= share[2])
            break;
        const char *err = json_string_value(json_object_get(x, "error"));
        monview_add(v, cols, "%s %s %s %s: %s",
                    cli_safe(json_string_value(json_object_get(x, "entry"))),
                    cli_safe(json_string_value(json_object_get(x, "queue"))),
                    cli_safe(json_string_value(json_object_get(x, "task"))),
                    cli_safe(err && *err ? err : "failed"),
                    cli_safe(json_string_value(json_object_get(x, "message"))));
    }
    if (json_array_size(failures) == 0)
        return;
    monview_add(v, cols, "%s", "");
    monview_add(v, cols, "RECENT FAILURES (latest first; from the events)");
    json_array_foreach(failures, i, x)
    {
        if (i >= share[3])
            break;
        snapshot_age(g, sizeof(g),
                     (double)json_integer_value(json_object_get(x, "age_ms")));
        monview_add(v, cols, "%s ago %s %s %s on %s attempt %s",
                    g, cli_safe(json_string_value(json_object_get(x, "queue"))),
                    cli_safe(json_string_value(json_object_get(x, "id"))),
                    cli_safe(json_string_value(json_object_get(x, "task"))),
                    cli_safe(json_string_value(json_object_get(x, "worker"))),
                    cli_safe(json_string_value(json_object_get(x, "attempt"))));
    }
}
