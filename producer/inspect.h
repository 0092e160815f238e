/* SPDX-License-Identifier: MIT */
/*
 * `celeriac inspect` and `celeriac control`: a request on the broadcast
 * stream <prefix>control, answers collected from its reply stream until
 * every expected worker answered or the timeout (PROTOCOL.md, "Control").
 */
#ifndef CELERIAC_INSPECT_H
#define CELERIAC_INSPECT_H

#include <stdio.h>

#include "cli.h"

/* Requests kept in the control stream (XADD MAXLEN ~). */
#define INSPECT_CONTROL_MAXLEN 1000

int inspect_main(struct cli *cli, int argc, char **argv);
void inspect_usage(FILE *out);
int control_main(struct cli *cli, int argc, char **argv);
void control_usage(FILE *out);

#endif
