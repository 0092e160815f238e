/* SPDX-License-Identifier: MIT */
/* The progress line on stderr. */
#include "progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define PROGRESS_INTERVAL_US 100000
#define PROGRESS_DELAY_US 250000
#define PROGRESS_BAR 24

static void progress_draw(struct progress *p, uint64_t count, double frac,
                          int64_t now);
static void progress_duration(char *buf, size_t n, double secs);

void
progress_start(struct progress *p, const char *label, uint64_t total)
{
    if (p->drawn)
        fputc('\n', stderr);
    p->enabled = isatty(STDERR_FILENO) && !isatty(STDOUT_FILENO);
    p->drawn = 0;
    p->label = label;
    p->total = total;
    p->start_us = cli_now_us();
    p->last_us = p->start_us + PROGRESS_DELAY_US - PROGRESS_INTERVAL_US;
    p->frac = -1;
}

static void
progress_duration(char *buf, size_t n, double secs)
{
    unsigned long s = (unsigned long)(secs + 0.5);
    if (s >= 3600)
        snprintf(buf, n, "%lu:%02lu:%02lu", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(buf, n, "%lu:%02lu", s / 60, s % 60);
}

static void
progress_draw(struct progress *p, uint64_t count, double frac, int64_t now)
{
    char line[160], bar[PROGRESS_BAR + 1], eta[32], rate[32];
    double secs = (double)(now - p->start_us) / 1e6;
    int len;

    if (frac < 0 && p->total > 0)
        frac = (double)count / (double)p->total;
    if (frac > 1)
        frac = 1;
    double r = secs > 0 ? (double)count / secs : 0;
    if (r >= 10000)
        snprintf(rate, sizeof(rate), "%.0fk/s", r / 1000);
    else
        snprintf(rate, sizeof(rate), "%.0f/s", r);
    if (p->total > 0)
        len = snprintf(line, sizeof(line), "%s %llu/%llu", p->label,
                       (unsigned long long)count, (unsigned long long)p->total);
    else
        len = snprintf(line, sizeof(line), "%s %llu", p->label,
                       (unsigned long long)count);
    if (frac >= 0) {
        int fill = (int)(frac * PROGRESS_BAR);
        memset(bar, '#', (size_t)fill);
        memset(bar + fill, '.', (size_t)(PROGRESS_BAR - fill));
        bar[PROGRESS_BAR] = '\0';
        if (frac > 0.001 && frac < 1)
            progress_duration(eta, sizeof(eta), secs * (1 - frac) / frac);
        else
            snprintf(eta, sizeof(eta), "%s", frac >= 1 ? "0:00" : "-:--");
        snprintf(line + len, sizeof(line) - (size_t)len,
                 " %3d%% [%s] %s ETA %s", (int)(frac * 100), bar, rate, eta);
    } else {
        snprintf(line + len, sizeof(line) - (size_t)len, " %s", rate);
    }
    /* \r, the line, then clear to the end of the terminal line. */
    fprintf(stderr, "\r%s\033[K", line);
    fflush(stderr);
    p->drawn = 1;
    p->last_us = now;
}

void
progress_update(struct progress *p, uint64_t count, double frac)
{
    if (!p->enabled)
        return;
    p->frac = frac;
    int64_t now = cli_now_us();
    if (now - p->last_us < PROGRESS_INTERVAL_US)
        return;
    progress_draw(p, count, frac, now);
}

void
progress_end(struct progress *p, uint64_t count)
{
    if (!p->enabled || !p->drawn)
        return;
    progress_draw(p, count, p->frac >= 0 ? 1.0 : -1, cli_now_us());
    fputc('\n', stderr);
    p->drawn = 0;
}

void
progress_clear(struct progress *p)
{
    if (!p->enabled || !p->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    p->drawn = 0;
    p->last_us = cli_now_us() - PROGRESS_INTERVAL_US; /* redraw soon */
}
