/* SPDX-License-Identifier: MIT */
/*
 * The children's sandbox (docs/SECURITY.md): what a child sheds and gives up
 * right after fork, before it reads its first task.
 *
 * - Secrets: every copy of the Redis password in the child's memory is
 *   overwritten (the parent keeps its own), and CELERIAC_REDIS_PASSWORD and
 *   CELERIAC_REDIS_URL are wiped from its environment block.
 * - A fresh seed for random() and jansson's hash tables, so that children
 *   forked from one parent do not draw the same retry jitter.
 * - With the sandbox on (the default): resource limits (no core dumps, a
 *   few open files, a bounded address space), the user given by --user when
 *   started as root, PR_SET_NO_NEW_PRIVS and a seccomp filter that allows
 *   only the system calls the child loop needs; any other call kills the
 *   child with SIGSYS.
 *
 * main.c fills a struct sandbox_conf and hands it over with
 * sandbox_configure() before the children are forked; each child calls
 * sandbox_child_enter() first thing.
 */
#ifndef CELERIAC_SANDBOX_H
#define CELERIAC_SANDBOX_H

#include <stddef.h>
#include <sys/types.h>

/* At most this many open files in a child (RLIMIT_NOFILE): stdio, its
 * socket, and room for descriptors passed to it later. */
#define SANDBOX_NOFILE 16
/*
 * A child's address space may grow by this much beyond what it inherited
 * (RLIMIT_AS): its input buffer (up to twice a 64 MiB message), jansson's
 * tree of the message (up to about 20 bytes per byte of JSON for a long
 * array of small numbers: 1.3 GiB for 64 MiB), the decoded data, the result
 * and OpenSSL — 32 x PROTOCOL_MAX_MESSAGE, 2 GiB.
 */
#define SANDBOX_AS_GROWTH (32ULL * 64 * 1024 * 1024)
/* The user children run as when the worker starts as root without --user. */
#define SANDBOX_DEFAULT_USER "nobody"

struct sandbox_conf {
    int enabled;       /* --sandbox on */
    int change_user;   /* started as root: children switch to uid/gid */
    uid_t uid;
    gid_t gid;
    char user[64];     /* its name, for messages */
    char *secret;      /* borrowed: the Redis password, NULL if none;
                          each child overwrites its copy */
    char **argv;       /* borrowed: the worker's argv, NULL-terminated */
};

/*
 * Fills c->change_user, uid, gid and user for --user name (NULL when not
 * given), as seen by a process with effective uid euid.  As root, name
 * defaults to SANDBOX_DEFAULT_USER; otherwise name may only be the current
 * user.  Returns 0, or -1 with *cause set to a message the caller frees.
 */
int sandbox_resolve_user(const char *name, uid_t euid, struct sandbox_conf *c,
                         char **cause);
/* Checks that this kernel can run the sandbox; -1 with *cause otherwise. */
int sandbox_check(char **cause);
/* Keeps a copy of *c for the children forked later (their one global). */
void sandbox_configure(const struct sandbox_conf *c);
/*
 * Run by a child right after fork, with its socket on fd: scrubs secrets,
 * seeds the PRNGs, then (sandbox on) calls warm() so that whatever the
 * child's work needs is loaded, sets the limits, changes user, and installs
 * the filter.  Returns 0, or -1 after logging what failed.
 */
int sandbox_child_enter(int fd, void (*warm)(void));
/* 1 when the seccomp filter is really installed by sandbox_child_enter
 * (0 under valgrind, where it is skipped). */
int sandbox_filter_active(void);

#endif
