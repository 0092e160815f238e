/* SPDX-License-Identifier: MIT */
/*
 * `celeriac hash`: a drop-in for coreutils sha512sum whose hashing is done
 * by the workers.  Options, the output of checksum lines, and check mode
 * (-c) with coreutils' messages and exit status; the sending and waiting
 * is hashrun.c.
 */
#ifndef CELERIAC_HASHCMD_H
#define CELERIAC_HASHCMD_H

#include <stdio.h>

#include "cli.h"

int hashcmd_main(struct cli *cli, int argc, char **argv);
void hashcmd_usage(FILE *out);

#endif
