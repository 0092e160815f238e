/* SPDX-License-Identifier: MIT */
/*
 * `celeriac send`: one task built from the command line (--arg, --json),
 * put on a queue, and optionally its result waited for.  `send --batch`
 * is handed to batch.c.
 */
#ifndef CELERIAC_SEND_H
#define CELERIAC_SEND_H

#include <stdio.h>

#include "cli.h"

int send_main(struct cli *cli, int argc, char **argv);
void send_usage(FILE *out);

#endif
