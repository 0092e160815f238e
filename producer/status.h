/* SPDX-License-Identifier: MIT */
/*
 * `celeriac status`: what is in Redis under the prefix — each queue stream
 * (length, pending count, consumers), the dead-letter stream, the
 * scheduled set and the worker registry — as text or as one JSON document.
 */
#ifndef CELERIAC_STATUS_H
#define CELERIAC_STATUS_H

#include <stdio.h>

#include "cli.h"

int status_main(struct cli *cli, int argc, char **argv);
void status_usage(FILE *out);

#endif
