/* SPDX-License-Identifier: MIT */
/*
 * `celeriac monitor`: the cluster live in a terminal — a full screen
 * (ANSI escapes, the alternate screen) redrawn every --interval seconds
 * from a snapshot (snapshot.h), until q, SIGINT, SIGTERM or SIGHUP; the
 * terminal's modes and screen are restored on every way out.  When stdout
 * is not a terminal, or with --once, prints one snapshot as plain text.
 */
#ifndef CELERIAC_MONITOR_H
#define CELERIAC_MONITOR_H

#include <stdio.h>

#include "cli.h"

int monitor_main(struct cli *cli, int argc, char **argv);
void monitor_usage(FILE *out);

#endif
