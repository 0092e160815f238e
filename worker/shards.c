/* SPDX-License-Identifier: MIT */
/* --shards N: the supervisor of one event-loop parent per shard. */
#include "shards.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "beatfile.h"
#include "keys.h"
#include "log.h"
#include "metrics.h"
#include "sentinelurl.h"
#include "xmalloc.h"

/* The signals the supervisor passes on to every shard (a warm shutdown,
 * and a second one a cold shutdown, as for a single worker). */
static const int shards_forwarded[] = {SIGTERM, SIGINT};
#define SHARDS_NFORWARDED                                                      \
    ((int)(sizeof(shards_forwarded) / sizeof(shards_forwarded[0])))

/* A shard's --metrics address (the shard process's cfg borrows it). */
static char shards_metrics[300];

static int shards_metrics_addr(const char *addr, int i, char *out, size_t cap);
static int shards_setup(struct config *cfg, int i, int n);
static int shards_supervise(pid_t *pids, int n, const sigset_t *wait_set);

/* addr's port + i into out; -1 if addr is bad or the port runs past
 * 65535. */
static int
shards_metrics_addr(const char *addr, int i, char *out, size_t cap)
{
    char host[128];
    int port, r;

    if (metrics_parse_addr(addr, host, sizeof(host), &port) < 0 ||
        port + i > 65535)
        return -1;
    if (strchr(host, ':') != NULL)
        r = snprintf(out, cap, "[%s]:%d", host, port + i);
    else
        r = snprintf(out, cap, "%s:%d", host, port + i);
    return r < 0 || (size_t)r >= cap ? -1 : 0;
}

int
shards_check(const struct config *cfg, int n, const char **why)
{
    char buf[KEYS_PREFIX_MAX + 1];

    if (keys_shard_prefix(buf, sizeof(buf), cfg->prefix, n - 1) < 0) {
        *why = "--shards needs a --prefix with a hash tag (e.g. --prefix "
               "'{celeriac}:'; shard i uses '{celeriac.i}:') that stays "
               "within the prefix length limit";
        return -1;
    }
    if (cfg->metrics_addr != NULL &&
        shards_metrics_addr(cfg->metrics_addr, n - 1, shards_metrics,
                            sizeof(shards_metrics)) < 0) {
        *why = "--metrics: shard i listens on the port + i, which must "
               "stay at most 65535";
        return -1;
    }
    return 0;
}

/* Makes cfg shard i's (in the shard process); 0, or -1 logged. */
static int
shards_setup(struct config *cfg, int i, int n)
{
    char prefix[KEYS_PREFIX_MAX + 1], role[32];
    const char *why = NULL;

    snprintf(role, sizeof(role), "parent %d", i);
    cfg->shard = i;
    log_set_role(role);
    if (keys_shard_prefix(prefix, sizeof(prefix), cfg->prefix, i) < 0)
        return -1; /* checked by shards_check() */
    free(cfg->prefix);
    cfg->prefix = xstrdup(prefix);
    if (cfg->url.sentinel != NULL &&
        sentinelurl_set_prefix(cfg->url.sentinel, cfg->prefix, &why) < 0) {
        log_warnx("%s", why);
        return -1;
    }
    if (cfg->metrics_addr != NULL) {
        if (shards_metrics_addr(cfg->metrics_addr, i, shards_metrics,
                                sizeof(shards_metrics)) < 0)
            return -1;
        cfg->metrics_addr = shards_metrics;
    }
    if (i > 0 && cfg->beat_file != NULL) {
        /* Periodic tasks fire once per deployment: from shard 0. */
        beatfile_free(cfg->beat_file);
        free(cfg->beat_file);
        cfg->beat_file = NULL;
        cfg->beat = NULL;
    }
    log_info("shard %d of %d: prefix %s", i, n, cfg->prefix);
    return 0;
}

/* Forwards signals and reaps until every shard is gone; the exit status. */
static int
shards_supervise(pid_t *pids, int n, const sigset_t *wait_set)
{
    int live = n, stopping = 0, rc = 0;

    while (live > 0) {
        siginfo_t si;
        int sig = sigwaitinfo(wait_set, &si);
        if (sig < 0) {
            if (errno != EINTR)
                log_warn("sigwaitinfo");
            continue;
        }
        if (sig != SIGCHLD) {
            if (sig == SIGTERM || sig == SIGINT)
                stopping = 1;
            for (int i = 0; i < n; i++)
                if (pids[i] > 0)
                    kill(pids[i], sig);
            continue;
        }
        pid_t pid;
        int st;
        while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
            int i = 0;
            while (i < n && pids[i] != pid)
                i++;
            if (i == n)
                continue;
            pids[i] = 0;
            live--;
            int code = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
            if (WIFSIGNALED(st))
                log_warnx("shard %d (pid %ld) was killed by signal %d (%s)", i,
                          (long)pid, WTERMSIG(st), strsignal(WTERMSIG(st)));
            else
                log_info("shard %d (pid %ld) exited with status %d", i,
                         (long)pid, code);
            if (!stopping) {
                /* One shard ended by itself: end the worker, so that it
                 * is restarted whole. */
                stopping = 1;
                rc = code;
                if (live > 0)
                    log_info("stopping the other %d shard%s (warm shutdown)",
                             live, live == 1 ? "" : "s");
                for (int j = 0; j < n; j++)
                    if (pids[j] > 0)
                        kill(pids[j], SIGTERM);
            } else if (rc == 0 && code != 0) {
                rc = code;
            }
        }
    }
    return rc;
}

int
shards_fork(struct config *cfg, int n, int *rc)
{
    sigset_t set, old;
    pid_t parent = getpid();
    pid_t *pids = xcalloc((size_t)n, sizeof(*pids));
    int started = 0;

    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    for (int i = 0; i < SHARDS_NFORWARDED; i++)
        sigaddset(&set, shards_forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, &old);
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            log_warn("--shards: cannot start shard %d", i);
            break;
        }
        if (pid == 0) {
            free(pids);
            sigprocmask(SIG_SETMASK, &old, NULL);
            prctl(PR_SET_PDEATHSIG, SIGTERM);
            /* Out of the terminal's process group: Ctrl-C reaches the
             * shard once, through the supervisor. */
            setpgid(0, 0);
            if (getppid() != parent || shards_setup(cfg, i, n) < 0)
                _exit(1);
            return i;
        }
        pids[i] = pid;
        started++;
    }
    log_set_role("shards");
    if (started == 0) {
        sigprocmask(SIG_SETMASK, &old, NULL);
        free(pids);
        *rc = 1;
        return -2;
    }
    if (started < n) {
        /* Not all shards run: stop those that do. */
        for (int i = 0; i < started; i++)
            kill(pids[i], SIGTERM);
    } else {
        log_info("supervising %d shards (pid %ld)", n, (long)parent);
    }
    *rc = shards_supervise(pids, started, &set);
    if (started < n && *rc == 0)
        *rc = 1;
    sigprocmask(SIG_SETMASK, &old, NULL);
    free(pids);
    return -1;
}
