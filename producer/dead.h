/* SPDX-License-Identifier: MIT */
/*
 * `celeriac dead`: the dead-letter stream <prefix>dead (PROTOCOL.md, "Dead
 * letters"), where workers put the tasks they gave up on.  Lists its
 * entries, puts them back on their queues (XADD of the original message
 * and XDEL of the dead entry in one MULTI/EXEC, under WATCH, so that two
 * people requeueing at once cannot both requeue an entry), or deletes it.
 */
#ifndef CELERIAC_DEAD_H
#define CELERIAC_DEAD_H

#include <stdio.h>

#include "cli.h"

int dead_main(struct cli *cli, int argc, char **argv);
void dead_usage(FILE *out);

#endif
