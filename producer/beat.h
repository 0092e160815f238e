/* SPDX-License-Identifier: MIT */
/*
 * `celeriac beat`: the command line of the beat engine (beatrun.h), which
 * fires the periodic tasks of a schedule file (beatfile.h), once across
 * any number of instances.  Also `beat --check FILE` and `beat --list
 * FILE`.
 */
#ifndef CELERIAC_BEAT_H
#define CELERIAC_BEAT_H

#include <stdio.h>

#include "beatrun.h"
#include "cli.h"

#define BEAT_DEFAULT_LEASE_MS BEATRUN_DEFAULT_LEASE_MS

int beat_main(struct cli *cli, int argc, char **argv);
void beat_usage(FILE *out);

#endif
