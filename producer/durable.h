/* SPDX-License-Identifier: MIT */
/*
 * `celeriac send --durable[=N]`: after the XADDs, "WAIT N 5000", so that a
 * task is reported as sent only once N replicas have it too.  Redis
 * replication is asynchronous: without this, a task the master accepted
 * just before it died is lost with it (README, "A Redis for a real
 * cluster").
 */
#ifndef CELERIAC_DURABLE_H
#define CELERIAC_DURABLE_H

#include "conn.h"

/* WAIT's timeout, milliseconds. */
#define DURABLE_WAIT_MS 5000
/* Exit status when fewer replicas than asked acknowledged the tasks. */
#define DURABLE_EXIT 6
#define DURABLE_MAX 16

/* Parses --durable's optional N (1 to DURABLE_MAX; NULL: 1).  Returns N,
 * or -1 if arg is not such a number. */
int durable_parse(const char *arg);
/* Appends WAIT n DURABLE_WAIT_MS (pipelined, nothing sent yet). */
void durable_append(struct conn *c, int n);
/*
 * Reads WAIT's answer: returns how many replicas acknowledged, or -1 if
 * the connection is lost (conn_lost()) or Redis refused WAIT (printed).
 */
long long durable_reply(struct conn *c);

#endif
