/* SPDX-License-Identifier: MIT */
/*
 * `celeriac beat`: fires the periodic tasks of a schedule file
 * (beatfile.h).  Any number of instances may run: a lease in Redis
 * (scripts_beat_lease), renewed every third of its time, elects the one
 * that fires, and every firing goes through scripts_beat_fire, which
 * checks the lease and its fencing token and fires each tick of an entry
 * at most once.  Every schedule decision uses Redis' clock (TIME), never
 * the local one.  Also `beat --check FILE` and `beat --list FILE`.
 */
#ifndef CELERIAC_BEAT_H
#define CELERIAC_BEAT_H

#include <stdio.h>

#include "cli.h"

#define BEAT_DEFAULT_LEASE_MS 5000

int beat_main(struct cli *cli, int argc, char **argv);
void beat_usage(FILE *out);

#endif
