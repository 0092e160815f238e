/* SPDX-License-Identifier: MIT */
/*
 * Checks the arguments of a built-in task before `celeriac send` sends
 * it, with the code the worker runs (protocol/hashtask.c for the
 * arguments, worker/hash.c for the algorithm), so that a typo is
 * reported at once instead of as a FAILURE result.  Tasks the CLI does
 * not know (plug-ins) are not checked.  Owns nothing.
 */
#ifndef CELERIAC_VALIDATE_H
#define CELERIAC_VALIDATE_H

#include <jansson.h>

#include "error.h"

/*
 * Returns 0 when task with args (borrowed; NULL: none) would be accepted
 * by a worker, or is not a built-in task; -1 with *err filled (the error
 * type and message the worker would answer).  With check_data, inline
 * data ('data', 'data_b64') is decoded too (its size, its base64);
 * without, only the task's own arguments and the count of sources are
 * checked (cheap enough for every line of a batch).
 */
int validate_task(const char *task, const json_t *args, int check_data,
                  struct proto_error *err);

#endif
