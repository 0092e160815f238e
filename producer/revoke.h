/* SPDX-License-Identifier: MIT */
/*
 * `celeriac revoke ID...`: cancels tasks that have not run yet.  Adds the
 * ids to <prefix>revoked, which workers check before they run a task, and
 * takes delayed and retrying tasks with those ids out of <prefix>scheduled
 * at once, storing their REVOKED result.  Owns nothing beyond one run.
 */
#ifndef CELERIAC_REVOKE_H
#define CELERIAC_REVOKE_H

#include <stdio.h>

#include "cli.h"

int revoke_main(struct cli *cli, int argc, char **argv);
void revoke_usage(FILE *out);

#endif
