/* SPDX-License-Identifier: MIT */
/* The children's sandbox: secrets, seeds, limits, user, seccomp; see sandbox.h. */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "ipc.h"
#include "log.h"
#include "redisurl.h"
#include "xmalloc.h"

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define SANDBOX_HAVE_VALGRIND_H 1
#endif
#endif

/* Sanitizer runtimes need more system calls (and address space) than the
 * child itself: the Makefile defines CELERIAC_SANITIZED for `make asan`. */
#if defined(__SANITIZE_ADDRESS__) && !defined(CELERIAC_SANITIZED)
#define CELERIAC_SANITIZED 1
#endif
#if defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(CELERIAC_SANITIZED)
#define CELERIAC_SANITIZED 1
#endif
#endif

/* Copies of the password shorter than this are not searched for in the
 * whole memory (too many false matches); its known copies are wiped. */
#define SANDBOX_SCAN_MIN 8
/* Mappings larger than this are sanitizer reservations, not data. */
#define SANDBOX_SCAN_MAX_MAP (64ULL << 30)

static struct sandbox_conf sandbox_conf;
static int sandbox_filter_on;

static int sandbox_on_valgrind(void);
static void sandbox_scrub_env(void);
static void sandbox_scrub_argv(char **argv, const char *secret);
static void sandbox_scrub_memory(const char *secret);
static size_t sandbox_wipe(unsigned char *lo, unsigned char *hi,
                           const unsigned char *pat, size_t n);
static void sandbox_seed(void);
static int sandbox_limit(int resource, rlim_t want, const char *what);
static int sandbox_limits(int limit_as, int limit_nofile);
static int sandbox_change_user(const struct sandbox_conf *c);
static int sandbox_filter(int fd);

int
sandbox_resolve_user(const char *name, uid_t euid, struct sandbox_conf *c,
                     char **cause)
{
    c->change_user = 0;
    c->user[0] = '\0';
    if (euid != 0 && name == NULL)
        return 0;
    const char *who = name ? name : SANDBOX_DEFAULT_USER;
    errno = 0;
    struct passwd *pw = getpwnam(who);
    if (pw == NULL) {
        *cause = xasprintf("--user: there is no user '%s' on this system%s; "
                           "create it or name another one with --user",
                           who, name ? "" : " (the default when started as "
                                            "root)");
        return -1;
    }
    if (euid != 0) {
        if (pw->pw_uid != euid) {
            *cause = xasprintf("--user %s: only a worker started as root can "
                               "run its children as another user; start it "
                               "as %s, or as root, or leave --user out",
                               who, who);
            return -1;
        }
        return 0; /* already that user */
    }
    snprintf(c->user, sizeof(c->user), "%s", who);
    c->uid = pw->pw_uid;
    c->gid = pw->pw_gid;
    c->change_user = pw->pw_uid != 0;
    return 0;
}

int
sandbox_check(char **cause)
{
    if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0 && errno == EINVAL) {
        *cause = xasprintf("this kernel has no seccomp support, which the "
                           "children's sandbox needs; run with --sandbox off "
                           "(see docs/SECURITY.md)");
        return -1;
    }
    return 0;
}

void
sandbox_configure(const struct sandbox_conf *c)
{
    sandbox_conf = *c;
}

int
sandbox_filter_active(void)
{
    return sandbox_filter_on;
}

/* valgrind runs its own code in the process: a filter would kill it. */
static int
sandbox_on_valgrind(void)
{
#ifdef SANDBOX_HAVE_VALGRIND_H
    if (RUNNING_ON_VALGRIND)
        return 1;
#endif
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "/vgpreload_") != NULL;
}

/* Wipes the variables that may hold the password, in place: the strings
 * live in the block /proc/<pid>/environ shows, which unsetenv() leaves. */
static void
sandbox_scrub_env(void)
{
    extern char **environ;
    static const char *const names[] = {REDISURL_PASSWORD_ENV "=",
                                        REDISURL_ENV "="};
    size_t out = 0;
    if (environ == NULL)
        return;
    for (size_t i = 0; environ[i] != NULL; i++) {
        char *e = environ[i];
        int secret = 0;
        for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
            if (strncmp(e, names[k], strlen(names[k])) == 0)
                secret = 1;
        if (secret)
            explicit_bzero(e, strlen(e));
        else
            environ[out++] = e;
    }
    environ[out] = NULL;
}

/* Wipes arguments that hold the password or a URL with credentials. */
static void
sandbox_scrub_argv(char **argv, const char *secret)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        char *a = argv[i], *url = strstr(a, "redis://");
        if ((secret != NULL && *secret != '\0' && strstr(a, secret)) ||
            (url != NULL && strchr(url, '@') != NULL))
            explicit_bzero(a, strlen(a));
    }
}

/* Overwrites every copy of pat[0..n) in [lo, hi); returns how many.  It
 * reads freed and never-written memory on purpose: not for ASan's eyes. */
#if defined(__clang__) || __GNUC__ >= 8
__attribute__((no_sanitize("address")))
#endif
static size_t
sandbox_wipe(unsigned char *lo, unsigned char *hi, const unsigned char *pat,
             size_t n)
{
    size_t found = 0;
    for (volatile unsigned char *p = lo; p + n <= hi; p++) {
        if (p[0] != pat[0])
            continue;
        size_t i = 1;
        while (i < n && p[i] == pat[i])
            i++;
        if (i < n)
            continue;
        for (i = 0; i < n; i++)
            p[i] = 0;
        found++;
        p += n - 1;
    }
    return found;
}

/*
 * Overwrites every copy of secret in the private writable mappings: the
 * parent's configuration, and whatever the parent's heap held at fork
 * (hiredis' AUTH command in a freed buffer, for a child forked later).
 * The pattern sits in a mapping of its own that the scan skips.
 */
static void
sandbox_scrub_memory(const char *secret)
{
    size_t n = strlen(secret);
    size_t plen = (n + 4095) & ~(size_t)4095;
    unsigned char *pat = mmap(NULL, plen, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pat == MAP_FAILED)
        return;
    memcpy(pat, secret, n);
    FILE *f = fopen("/proc/self/maps", "re");
    if (f != NULL) {
        char line[512];
        while (fgets(line, sizeof(line), f) != NULL) {
            unsigned long long lo, hi;
            char perms[8];
            if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) != 3 ||
                strlen(perms) < 4 || perms[0] != 'r' || perms[1] != 'w' ||
                perms[3] != 'p' || hi - lo > SANDBOX_SCAN_MAX_MAP ||
                ((uintptr_t)pat >= lo && (uintptr_t)pat < hi))
                continue;
            sandbox_wipe((unsigned char *)(uintptr_t)lo,
                         (unsigned char *)(uintptr_t)hi, pat, n);
        }
        fclose(f);
    }
    explicit_bzero(pat, n);
    munmap(pat, plen);
}

/* Children are forked from one parent: each needs its own random state,
 * or they all draw the same retry jitter and hash-table seeds. */
static void
sandbox_seed(void)
{
    uint64_t seed = 0;
    if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t)sizeof(seed)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        seed = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^
               ((uint64_t)ts.tv_sec << 20);
    }
    srandom((unsigned)(seed ^ (seed >> 32)));
    /* Also keeps jansson from opening /dev/urandom on its first object,
     * which the filter would not allow.  Ignored if it is seeded already. */
    json_object_seed((size_t)(seed | 1));
}

/* Lowers both limits of resource to want (never raises them). */
static int
sandbox_limit(int resource, rlim_t want, const char *what)
{
    struct rlimit rl;
    if (getrlimit(resource, &rl) == 0 && rl.rlim_max != RLIM_INFINITY &&
        rl.rlim_max < want)
        want = rl.rlim_max;
    rl.rlim_cur = rl.rlim_max = want;
    if (setrlimit(resource, &rl) < 0) {
        log_warn("sandbox: cannot limit %s to %llu", what,
                 (unsigned long long)want);
        return -1;
    }
    return 0;
}

static int
sandbox_limits(int limit_as, int limit_nofile)
{
    if (sandbox_limit(RLIMIT_CORE, 0, "core dumps") < 0)
        return -1;
    if (limit_nofile &&
        sandbox_limit(RLIMIT_NOFILE, SANDBOX_NOFILE, "open files") < 0)
        return -1;
    if (!limit_as)
        return 0;
    unsigned long long pages = 0;
    FILE *f = fopen("/proc/self/statm", "re");
    if (f == NULL || fscanf(f, "%llu", &pages) != 1) {
        log_warn("sandbox: cannot read /proc/self/statm");
        if (f != NULL)
            fclose(f);
        return -1;
    }
    fclose(f);
    unsigned long long now = pages * (unsigned long long)sysconf(_SC_PAGESIZE);
    return sandbox_limit(RLIMIT_AS, (rlim_t)(now + SANDBOX_AS_GROWTH),
                         "address space");
}

static int
sandbox_change_user(const struct sandbox_conf *c)
{
    if (setgroups(1, &c->gid) < 0 || setgid(c->gid) < 0 ||
        setuid(c->uid) < 0) {
        log_warn("sandbox: cannot switch to user %s (uid %ld, gid %ld)",
                 c->user, (long)c->uid, (long)c->gid);
        return -1;
    }
    if (setuid(0) == 0) {
        log_warnx("sandbox: user %s could switch back to root; giving up",
                  c->user);
        return -1;
    }
    return 0;
}

/* Allows what the child loop needs; anything else kills it (SIGSYS). */
static int
sandbox_filter(int fd)
{
    /* Everything the child does after warm-up: its socket (fd), memory,
     * clocks, rusage for --max-memory-per-child, logging, exit, abort(). */
    static const int allow[] = {
        SCMP_SYS(read),         SCMP_SYS(write),
        SCMP_SYS(readv),        SCMP_SYS(writev),
        SCMP_SYS(brk),          SCMP_SYS(munmap),
        SCMP_SYS(mremap),       SCMP_SYS(madvise),
        SCMP_SYS(getrusage),    SCMP_SYS(clock_gettime),
        SCMP_SYS(gettimeofday), SCMP_SYS(time),
        SCMP_SYS(getpid),       SCMP_SYS(gettid),
        SCMP_SYS(futex),        SCMP_SYS(getrandom),
        SCMP_SYS(rt_sigreturn), SCMP_SYS(rt_sigprocmask),
        SCMP_SYS(exit),         SCMP_SYS(exit_group),
    };
#ifdef CELERIAC_SANITIZED
    /* ASan/UBSan's runtime: its allocator, and reading its own maps and
     * binary to print a report.  Still no sockets, no exec. */
    static const int allow_san[] = {
        SCMP_SYS(openat),      SCMP_SYS(open),       SCMP_SYS(close),
        SCMP_SYS(fstat),       SCMP_SYS(newfstatat), SCMP_SYS(lseek),
        SCMP_SYS(readlink),    SCMP_SYS(readlinkat), SCMP_SYS(sched_yield),
        SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(prctl),
        SCMP_SYS(getppid),     SCMP_SYS(kill),       SCMP_SYS(tgkill),
        SCMP_SYS(nanosleep),   SCMP_SYS(clock_nanosleep),
        SCMP_SYS(pread64),     SCMP_SYS(getrlimit),  SCMP_SYS(prlimit64),
    };
#endif
    scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_KILL_PROCESS);
    int rc = ctx == NULL ? -ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < sizeof(allow) / sizeof(allow[0]); i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow[i], 0);
#ifdef CELERIAC_SANITIZED
    for (size_t i = 0; rc == 0 && i < sizeof(allow_san) / sizeof(allow_san[0]);
         i++)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, allow_san[i], 0);
#endif
    /* recv(MSG_DONTWAIT) on the socket only; recvmsg too, for the
     * descriptors a later version passes to children (SCM_RIGHTS). */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvfrom), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd, 0));
    /* File tasks: the descriptor comes by recvmsg on the channel (fd
     * IPC_FD_CHANNEL), then fstat (glibc's is newfstatat with an empty
     * path) for its size, read, and close.  No open: a child reads only
     * the files the parent opened for it. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(recvmsg), 1,
                              SCMP_A0(SCMP_CMP_EQ,
                                      (scmp_datum_t)IPC_FD_CHANNEL, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(fstat), 0);
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(newfstatat), 1,
                              SCMP_A3(SCMP_CMP_MASKED_EQ, AT_EMPTY_PATH,
                                      AT_EMPTY_PATH));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(close), 0);
    /* Memory for malloc, never executable. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1,
                              SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
    /* abort() signals itself. */
    if (rc == 0)
        rc = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1,
                              SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0));
    if (rc == 0)
        rc = seccomp_load(ctx);
    seccomp_release(ctx);
    if (rc != 0) {
        log_warnx("sandbox: cannot install the seccomp filter: %s; run with "
                  "--sandbox off if this kernel cannot",
                  strerror(-rc));
        return -1;
    }
    return 0;
}

int
sandbox_child_enter(int fd, void (*warm)(void))
{
    const struct sandbox_conf *c = &sandbox_conf;
    int valgrind = sandbox_on_valgrind();

    /* Secrets go whether or not the sandbox is on. */
    sandbox_scrub_env();
    sandbox_scrub_argv(c->argv, c->secret);
    if (c->secret != NULL) {
        if (!valgrind && strlen(c->secret) >= SANDBOX_SCAN_MIN)
            sandbox_scrub_memory(c->secret);
        explicit_bzero(c->secret, strlen(c->secret));
    }
    sandbox_seed();
    if (!c->enabled)
        return 0;
    if (warm != NULL)
        warm();
#ifdef CELERIAC_SANITIZED
    int limit_as = 0; /* ASan reserves terabytes of shadow memory */
#else
    int limit_as = !valgrind;
#endif
    /* valgrind keeps descriptors of its own above the limit and refuses
     * to lower it. */
    if (sandbox_limits(limit_as, !valgrind) < 0)
        return -1;
    if (c->change_user && sandbox_change_user(c) < 0)
        return -1;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
        log_warn("sandbox: PR_SET_NO_NEW_PRIVS");
        return -1;
    }
    if (valgrind) {
        log_debug("sandbox: running under valgrind; no seccomp filter");
        return 0;
    }
    if (sandbox_filter(fd) < 0)
        return -1;
    sandbox_filter_on = 1;
    return 0;
}
