/* SPDX-License-Identifier: MIT */
/*
 * The schedule file of `celeriac beat`: one periodic task per line,
 *
 *   NAME SCHEDULE TASK [KEY=VALUE...] [ARGS-JSON]
 *
 * NAME     1..BEATFILE_NAME_MAX bytes of [A-Za-z0-9_.-], unique in the file
 * SCHEDULE five cron fields, or one @ form (common/cron.h)
 * TASK     the task name
 * options  queue=Q (default "default"), tz=ZONE (default UTC),
 *          misfire=once|skip|all (default once), max_catchup=N (100),
 *          grace=DURATION (60s), expires=DURATION (after the scheduled
 *          time), time_limit=SECONDS, max_retries=N
 * ARGS     a JSON object, the task's arguments: the rest of the line from
 *          the first word that starts with '{'
 *
 * A DURATION is a number of seconds with an optional unit s, m, h or d.
 * Lines that are blank or start with '#' (after blanks) are ignored.  Every
 * entry's message is built with the producer's message builder and decoded
 * again with the worker's decoder (protocol/message.c, policy.c, and for
 * the hash task hashtask.c) when the file is read, so an entry a worker
 * would refuse is an error of the file.
 */
#ifndef CELERIAC_BEATFILE_H
#define CELERIAC_BEATFILE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "beatplan.h"
#include "cron.h"

#define BEATFILE_NAME_MAX 64
/* Most entries in one file. */
#define BEATFILE_MAX_ENTRIES 10000
#define BEATFILE_DEFAULT_CATCHUP 100
#define BEATFILE_MAX_CATCHUP 10000
#define BEATFILE_DEFAULT_GRACE 60
/* Longest grace: one day. */
#define BEATFILE_MAX_GRACE 86400

struct beatfile_entry {
    char name[BEATFILE_NAME_MAX + 1];
    char *task;  /* owned */
    char *queue; /* owned */
    struct cron cron;
    enum beatplan_misfire misfire;
    int max_catchup;
    int64_t grace;   /* seconds */
    int64_t expires; /* seconds after the scheduled time; 0: none */
    double time_limit; /* 0: none */
    int max_retries;   /* -1: none */
    json_t *args;      /* owned; an object */
    int line;          /* line number in the file */
};

struct beatfile {
    struct beatfile_entry *entries; /* owned */
    size_t n;
    int errors; /* lines with errors (each printed) */
};

/*
 * Reads path ("-": stdin).  Every bad line is printed as
 * "FILE:LINE: what is wrong" on stderr and counted in bf->errors (the
 * good lines are kept).  Returns 0 if the file could be read (check
 * bf->errors), or -1 after printing why it could not.
 */
int beatfile_load(struct beatfile *bf, const char *path);
void beatfile_free(struct beatfile *bf);

/*
 * The task message of entry e for the scheduled time t (Unix seconds),
 * with the id "beat:NAME:T".  Returns an owned string (free()) with its
 * length in *len, or NULL (out of memory, or input beatfile_load checked).
 */
char *beatfile_message(const struct beatfile_entry *e, int64_t t,
                       size_t *len);
/* "beat:NAME:T", the task id of entry e's tick at t. */
void beatfile_task_id(const struct beatfile_entry *e, int64_t t, char *buf,
                      size_t n);
/* The name of a misfire policy. */
const char *beatfile_misfire_name(enum beatplan_misfire m);

#endif
