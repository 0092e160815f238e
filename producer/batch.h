/* SPDX-License-Identifier: MIT */
/*
 * `celeriac send --batch FILE`: tasks from JSON lines, sent with pipelined
 * XADDs in chunks of thousands per round trip; with --wait, all of them
 * name one reply stream whose results are printed as they arrive.  A
 * unique line ("unique_for", or --unique-for) is sent by the unique
 * script instead (unique_send.h), in the same pipeline.
 */
#ifndef CELERIAC_BATCH_H
#define CELERIAC_BATCH_H

#include <stdint.h>

#include "cli.h"
#include "delivery.h"

struct batch_opts {
    const char *file;     /* input path, "-" for stdin; borrowed */
    const char *queue;    /* queue name; borrowed */
    int wait;             /* --wait */
    int ordered;          /* --ordered: results in input order */
    int check;            /* check built-in tasks' arguments (validate.h) */
    int durable;          /* --durable=N: replicas to WAIT for; 0: none */
    int64_t timeout_us;   /* --timeout, 0 = none */
    long long unique_for; /* --unique-for: for lines without their own */
    /* The delivery options (--countdown, --expires, ...); borrowed. */
    const struct delivery *delivery;
};

/* Runs the batch; returns the exit code (CLI_EXIT_*). */
int batch_main(struct cli *cli, const struct batch_opts *o);

#endif
