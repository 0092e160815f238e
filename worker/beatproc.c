/* SPDX-License-Identifier: MIT */
/* The worker's beat process (beatproc.h). */
#include "beatproc.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "log.h"
#include "tlspipe.h"

static void beatproc_restart_cb(evutil_socket_t fd, short what, void *arg);

static long long
beatproc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* In the new process: sheds the parent's state, then runs the engine. */
static void __attribute__((noreturn))
beatproc_child(const struct beatrun_conf *conf, pid_t parent)
{
    /* The loop, the Redis sockets and the children's sockets are the
     * parent's; the engine makes its own connection. */
    close_range(3, ~0U, 0);
    signal(SIGINT, SIG_DFL);  /* the engine's handlers come next */
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    /* SIGTERM, not SIGKILL: it still hands the lease over. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent)
        _exit(0);
    log_set_role("beat");
    cli_warn_to_log();
    if (conf->tls != NULL) /* rediss://, sentinel+tls://: the same CAs */
        tlspipe_use(conf->tls);
    _exit(beatrun_serve(conf));
}

static int
beatproc_spawn(struct beatproc *b)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        log_warn("cannot fork the beat process; trying again in %ld ms",
                 b->backoff_ms);
        return -1;
    }
    if (pid == 0)
        beatproc_child(b->conf, parent);
    b->pid = pid;
    b->started_ms = beatproc_now_ms();
    log_info("beat process %ld started: %zu periodic task%s, lease %.1f s",
             (long)pid, b->conf->bf->n, b->conf->bf->n == 1 ? "" : "s",
             (double)b->conf->lease_ms / 1000);
    return 0;
}

/* Starts another after the back-off (which then grows). */
static void
beatproc_schedule(struct beatproc *b)
{
    struct timeval tv = {b->backoff_ms / 1000, (b->backoff_ms % 1000) * 1000};
    evtimer_add(b->restart_ev, &tv);
    b->backoff_ms = b->backoff_ms * 2 > BEATPROC_BACKOFF_MAX_MS
                        ? BEATPROC_BACKOFF_MAX_MS
                        : b->backoff_ms * 2;
}

static void
beatproc_restart_cb(evutil_socket_t fd, short what, void *arg)
{
    struct beatproc *b = arg;
    (void)fd;
    (void)what;
    if (b->stopping || b->pid > 0)
        return;
    b->restarts++;
    if (beatproc_spawn(b) < 0)
        beatproc_schedule(b);
}

int
beatproc_start(struct beatproc *b, struct event_base *base,
               const struct beatrun_conf *conf)
{
    memset(b, 0, sizeof(*b));
    b->base = base;
    b->conf = conf;
    b->backoff_ms = BEATPROC_BACKOFF_MIN_MS;
    b->restart_ev = evtimer_new(base, beatproc_restart_cb, b);
    if (b->restart_ev == NULL) {
        log_error("cannot create the beat process' timer (out of memory?)");
        return -1;
    }
    if (beatproc_spawn(b) < 0)
        beatproc_schedule(b);
    return 0;
}

int
beatproc_reaped(struct beatproc *b, pid_t pid, int st)
{
    if (b->conf == NULL || pid <= 0 || pid != b->pid)
        return 0;
    b->pid = 0;
    if (b->stopping) {
        log_debug("beat process %ld exited", (long)pid);
        return 1;
    }
    if (beatproc_now_ms() - b->started_ms >= BEATPROC_STABLE_MS)
        b->backoff_ms = BEATPROC_BACKOFF_MIN_MS;
    if (WIFSIGNALED(st))
        log_error("beat process %ld was killed by signal %d (%s); another "
                  "starts in %.1f s",
                  (long)pid, WTERMSIG(st), strsignal(WTERMSIG(st)),
                  (double)b->backoff_ms / 1000);
    else
        log_error("beat process %ld exited with status %d (see its lines "
                  "above); another starts in %.1f s",
                  (long)pid, WEXITSTATUS(st), (double)b->backoff_ms / 1000);
    beatproc_schedule(b);
    return 1;
}

void
beatproc_stop(struct beatproc *b)
{
    if (b->conf == NULL || b->stopping)
        return;
    b->stopping = 1;
    evtimer_del(b->restart_ev);
    if (b->pid > 0) {
        log_info("stopping the beat process %ld", (long)b->pid);
        kill(b->pid, SIGTERM);
    }
}

void
beatproc_finish(struct beatproc *b, long timeout_ms)
{
    if (b->conf == NULL)
        return;
    beatproc_stop(b);
    if (b->pid <= 0)
        return;
    long long deadline = beatproc_now_ms() + timeout_ms;
    int st;
    for (;;) {
        pid_t r = waitpid(b->pid, &st, WNOHANG);
        if (r == b->pid || (r < 0 && errno != EINTR))
            break;
        if (beatproc_now_ms() >= deadline) {
            log_warnx("the beat process %ld did not stop within %.1f s; "
                      "killing it",
                      (long)b->pid, (double)timeout_ms / 1000);
            kill(b->pid, SIGKILL);
            while (waitpid(b->pid, &st, 0) < 0 && errno == EINTR)
                ;
            break;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    b->pid = 0;
}

void
beatproc_free(struct beatproc *b)
{
    if (b->restart_ev != NULL)
        event_free(b->restart_ev);
    memset(b, 0, sizeof(*b));
}
