/* SPDX-License-Identifier: MIT */
/*
 * The child role: a blocking loop that reads IPC_TASK frames from the parent,
 * runs them (exec.h) and writes IPC_RESULT frames back, in order.  A child
 * never talks to Redis and never touches the parent's event loop.  It exits
 * when the parent closes the socket (or dies: PR_SET_PDEATHSIG).
 */
#ifndef CELERIAC_CHILD_H
#define CELERIAC_CHILD_H

#include "exec.h"

/*
 * Runs the child on socket fd.  env gives the consumer name results carry
 * and the default time limit (its callback fields are the child's own).
 * Returns the exit status for _exit(): 0 after the parent closed the socket,
 * 1 on a broken frame or I/O error.
 */
int child_main(int fd, const struct exec_env *env);

#endif
