/* SPDX-License-Identifier: MIT */
/*
 * The events stream (PROTOCOL.md, "Events"): XADD <prefix>events MAXLEN ~
 * EVENTS_MAXLEN of worker events (online, offline, always written) and
 * per-task events (only with `celeriac-worker --events`).  Every event is
 * one XADD sent on the broker's write connection without waiting for its
 * answer: it goes out in the same write as the results and heartbeats
 * around it, never a round trip of its own.  It owns nothing but counters.
 */
#ifndef CELERIAC_EVENTS_H
#define CELERIAC_EVENTS_H

#include <stddef.h>

#include "keys.h"

struct broker;

/* The stream's approximate length bound (XADD MAXLEN ~). */
#define EVENTS_MAXLEN 10000
/* Longest task name and id an event carries (longer: cut). */
#define EVENTS_NAME_MAX 64
#define EVENTS_ID_MAX 200
/* Event types ("type" field). */
#define EVENTS_WORKER_ONLINE "worker-online"
#define EVENTS_WORKER_OFFLINE "worker-offline"
#define EVENTS_TASK_RECEIVED "task-received"
#define EVENTS_TASK_STARTED "task-started"
#define EVENTS_TASK_SUCCEEDED "task-succeeded"
#define EVENTS_TASK_FAILED "task-failed"
#define EVENTS_TASK_RETRIED "task-retried"
#define EVENTS_TASK_EXPIRED "task-expired"
#define EVENTS_TASK_DEAD "task-dead-lettered"
#define EVENTS_TASK_TAKEN_OVER "task-taken-over"

struct events {
    struct broker *b;           /* borrowed */
    char key[KEYS_MAX];         /* <prefix>events */
    const char *worker;         /* borrowed: this worker's name */
    int tasks;                  /* --events: per-task events too */
    unsigned long sent, unsent; /* XADDs queued / not sendable (Redis
                                   down) */
};

void events_init(struct events *ev, struct broker *b, const char *prefix,
                 const char *worker, int tasks);
/* A worker event: type EVENTS_WORKER_*, why ("" none), about the worker
 * named about (NULL: this one). */
void events_worker(struct events *ev, const char *type, const char *why,
                   const char *about);
/* A task event (only with --events).  runtime_s and queued_s < 0: none. */
void events_task(struct events *ev, const char *type, const char *id,
                 const char *task, const char *queue, unsigned attempt,
                 double runtime_s, double queued_s);
/* Tries to write what is queued now, without blocking (a cold stop). */
void events_flush(struct events *ev);
#endif
