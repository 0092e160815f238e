/* SPDX-License-Identifier: MIT */
/*
 * `celeriac result ID...`: reads the result documents of tasks from their
 * result keys (<prefix>result:<id>), at once or --wait until each is
 * final.  Owns nothing beyond one command run.
 */
#ifndef CELERIAC_RESULTCMD_H
#define CELERIAC_RESULTCMD_H

#include <stdio.h>

#include "cli.h"

int resultcmd_main(struct cli *cli, int argc, char **argv);
void resultcmd_usage(FILE *out);

#endif
