/* SPDX-License-Identifier: MIT */
/*
 * `celeriac purge QUEUE --yes`: deletes the tasks of a queue that no
 * worker has taken yet, with one bounded script call at a time.  Owns
 * nothing beyond one command run.
 */
#ifndef CELERIAC_PURGE_H
#define CELERIAC_PURGE_H

#include <stdio.h>

#include "cli.h"

int purge_main(struct cli *cli, int argc, char **argv);
void purge_usage(FILE *out);

#endif
