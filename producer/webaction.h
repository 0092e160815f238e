/* SPDX-License-Identifier: MIT */
/*
 * The web dashboard's actions (requeue dead letters, pause or resume a
 * queue, shut a worker down), each run as a child process of the celeriac
 * CLI itself (`celeriac dead --requeue ...`, `celeriac control ...`) so
 * that the server's loop never waits on Redis.  The child's stdout and
 * stderr come back through a pipe (a bufferevent, at most
 * WEBACTION_MAX_OUTPUT bytes kept); its exit is learnt from SIGCHLD
 * (webaction_reaped).  The HTTP request is answered when both happened:
 * 200 with {"ok", "exit", "output", "command"}.  At most
 * WEBACTION_MAX_RUNNING run at once (503 beyond), each for at most
 * WEBACTION_TIMEOUT_S seconds (then killed).
 */
#ifndef CELERIAC_WEBACTION_H
#define CELERIAC_WEBACTION_H

#include <event2/event.h>
#include <event2/http.h>
#include <sys/types.h>

#define WEBACTION_MAX_RUNNING 4
#define WEBACTION_MAX_OUTPUT (64 * 1024)
#define WEBACTION_TIMEOUT_S 25 /* under the server's idle timeout (30 s) */
#define WEBACTION_MAX_ARGS 16

struct webaction; /* one running child */

struct webactions {
    struct event_base *base;
    char *cli;    /* the program to run; owned */
    char *redis;  /* the --redis value or NULL (given in the environment:
                     not in argv, which ps shows); owned */
    char *prefix; /* owned */
    struct webaction *running[WEBACTION_MAX_RUNNING];
};

/*
 * cli: the program, NULL for this one (/proc/self/exe).  Returns 0, or -1
 * after saying why.
 */
int webaction_init(struct webactions *a, struct event_base *base,
                   const char *cli, const char *redis, const char *prefix);
/*
 * Runs `CLI --prefix P args...` (args NULL-terminated, at most
 * WEBACTION_MAX_ARGS) for req and answers it when the child is done
 * (or 503 at once when too many run, 500 if it cannot start).
 */
void webaction_run(struct webactions *a, struct evhttp_request *req,
                   const char *const *args);
/* The client's connection is being freed: its action, if any, will
 * not be answered. */
void webaction_conn_gone(struct webactions *a, struct evhttp_connection *conn);
/* Called with every reaped child: 1 if it was an action's. */
int webaction_reaped(struct webactions *a, pid_t pid, int status);
/* Kills the running children, answers their requests, frees everything. */
void webaction_cleanup(struct webactions *a);

#endif
