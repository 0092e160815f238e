/* SPDX-License-Identifier: MIT */
/*
 * The adaptive in-flight window: how many tasks the worker holds (read,
 * not yet computed), sized from what it measures, in the spirit of a TCP
 * window sized to the bandwidth-delay product (worker/README.md, "Flow
 * control").  Pure arithmetic on the measurements the parent feeds it: no
 * I/O, no clock of its own.
 *
 * Each child keeps `horizon` worth of work in hand, counted at the recent
 * service time of a task:
 *
 *     window = long + free + round(free * horizon / service)
 *
 * where `long` is the children whose current task has run longer than the
 * horizon (they need no more than the task they run), `free` the others,
 * and horizon = max(WINDOW_HORIZON_MIN_US, WINDOW_RTT_FACTOR * Redis round
 * trip).  Short tasks: a large window, so reads and finishes go in big
 * batches; long tasks: one task per child, so other workers get the
 * queue's tasks.  Never below the number of children, never above the
 * bound (--prefetch).  Like TCP's slow start, it grows by at most one task
 * per result (it doubles per window's worth of results) and shrinks at
 * once; a drop to less than half restarts the growth from there: after a
 * long task, a worker reads ahead only as far as it has since finished,
 * and so rarely holds two long tasks.
 */
#ifndef CELERIAC_WINDOW_H
#define CELERIAC_WINDOW_H

/* Work each child keeps in hand beyond its running task, at least (us). */
#ifndef WINDOW_HORIZON_MIN_US
#define WINDOW_HORIZON_MIN_US 20000
#endif
/* ... and at least this many Redis round trips of it. */
#define WINDOW_RTT_FACTOR 4
/* Weight of a new sample in the averages: 1/WINDOW_GAIN. */
#ifndef WINDOW_GAIN
#define WINDOW_GAIN 256
#endif

struct window {
    int children;    /* child processes */
    unsigned max;    /* the bound: --prefetch */
    int fixed;       /* --window fixed: always max */
    double svc_us;   /* recent service time of one task; 0: none seen */
    unsigned nsvc;   /* service times seen, up to WINDOW_GAIN */
    double rtt_us;   /* recent Redis read round trip; 0: none seen */
    unsigned cap;    /* slow start: the window grows by one a result */
    unsigned size;   /* the window last computed by window_update() */
};

/* A window for `children` children bounded by `max` (>= 1).  Until a
 * service time is measured it is one task per child; `fixed`: it is
 * always `max`, whatever is measured. */
void window_init(struct window *w, int children, unsigned max, int fixed);
/* The children now running (celeriac control grow/shrink): the window's
 * lower bound follows them at once, and a grown pool gets a task for
 * each new child without waiting for the slow start. */
void window_children(struct window *w, int children);
/* One task's service time: from when its child could start it (it was
 * sent, or the child's previous result came, whichever is later) to its
 * result.  The first WINDOW_GAIN samples are averaged alike (a plain
 * mean), the later ones weighted 1/WINDOW_GAIN: one slow first sample
 * does not hold the window small for hundreds of results. */
void window_service(struct window *w, long long us);
/* One Redis read's round trip (a read that brought entries).  A sample
 * over twice the average counts as twice the average: a read that
 * blocked waiting for entries is not a slow network. */
void window_rtt(struct window *w, long long us);
/* The horizon, in us. */
long long window_horizon_us(const struct window *w);
/* Computes the window with `long_running` children busy with a task that
 * has run longer than the horizon; stores it in w->size and returns it. */
unsigned window_update(struct window *w, int long_running);

#endif
