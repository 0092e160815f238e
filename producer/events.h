/* SPDX-License-Identifier: MIT */
/* `celeriac events`: prints the events stream <prefix>events (PROTOCOL.md,
 * "Events"), the last entries, then new ones with --follow. */
#ifndef CELERIAC_PRODUCER_EVENTS_H
#define CELERIAC_PRODUCER_EVENTS_H

#include <stdio.h>

#include "cli.h"

int events_main(struct cli *cli, int argc, char **argv);
void events_usage(FILE *out);

#endif
