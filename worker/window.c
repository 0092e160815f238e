/* SPDX-License-Identifier: MIT */
/* The adaptive in-flight window; see window.h. */
#include "window.h"

#include <math.h>

void
window_init(struct window *w, int children, unsigned max, int fixed)
{
    w->children = children > 0 ? children : 1;
    w->max = max > 0 ? max : 1;
    w->fixed = fixed;
    w->svc_us = 0;
    w->nsvc = 0;
    w->rtt_us = 0;
    w->size = (unsigned)w->children < w->max && !fixed
                  ? (unsigned)w->children
                  : w->max;
    w->cap = w->size;
}

void
window_children(struct window *w, int children)
{
    w->children = children > 0 ? children : 1;
    unsigned floor = (unsigned)w->children < w->max ? (unsigned)w->children
                                                    : w->max;
    if (w->cap < floor)
        w->cap = floor;
}

void
window_service(struct window *w, long long us)
{
    if (w->cap < w->max)
        w->cap++;
    double x = us > 0 ? (double)us : 0;
    if (w->nsvc < WINDOW_GAIN)
        w->nsvc++;
    if (w->svc_us <= 0)
        w->svc_us = x > 1 ? x : 1;
    else
        w->svc_us += (x - w->svc_us) / w->nsvc;
    if (w->svc_us < 1)
        w->svc_us = 1;
}

void
window_rtt(struct window *w, long long us)
{
    double x = us > 0 ? (double)us : 0;
    if (w->rtt_us <= 0) {
        w->rtt_us = x;
        return;
    }
    if (x > 2 * w->rtt_us)
        x = 2 * w->rtt_us;
    w->rtt_us += (x - w->rtt_us) / WINDOW_GAIN;
}

long long
window_horizon_us(const struct window *w)
{
    double h = WINDOW_RTT_FACTOR * w->rtt_us;
    return h > WINDOW_HORIZON_MIN_US ? (long long)h : WINDOW_HORIZON_MIN_US;
}

unsigned
window_update(struct window *w, int long_running)
{
    int n = w->children;
    if (w->fixed)
        return w->size = w->max;
    if (long_running < 0)
        long_running = 0;
    if (long_running > n)
        long_running = n;
    double size = n;
    if (w->svc_us > 0) {
        int free = n - long_running;
        size += round(free * (double)window_horizon_us(w) / w->svc_us);
    }
    if (size > w->max)
        size = w->max;
    /* Shrinks at once, grows by one a result (window_service).  A drop
     * to less than half (a long task) also restarts the growth from
     * there; smaller ones (the measurements' noise) do not. */
    if (size < w->cap / 2.0)
        w->cap = (unsigned)size;
    if (size > w->cap)
        size = w->cap;
    /* Never fewer than one task per child (within the bound). */
    if (size < n)
        size = (unsigned)n < w->max ? (double)n : (double)w->max;
    w->size = size < 1 ? 1 : (unsigned)size;
    return w->size;
}
