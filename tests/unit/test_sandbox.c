/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/sandbox.c, each in a forked process like a real
 * child: a forbidden system call (socket, open, execve) kills it with
 * SIGSYS; what a child does after the filter (memory, hashing, its socket,
 * logging, rusage, JSON) still works; the limits are set; two children
 * forked from one parent draw different random numbers (the retry jitter);
 * the Redis password is wiped from the environment, argv and memory.
 */
/* cmocka needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "sandbox.h"

/* A child's exit status meaning "no filter here (valgrind): skip". */
#define NO_FILTER 77

static int
on_valgrind(void)
{
    const char *pre = getenv("LD_PRELOAD");
    return pre != NULL && strstr(pre, "/vgpreload_") != NULL;
}

/* What the worker's children warm up, in short: OpenSSL with the digests
 * the tests below use after the filter. */
static void
warm(void)
{
    static const char *const names[] = {"sha512", "sha256", "sha3-256",
                                        "blake2b512", "md5"};
    unsigned char out[HASH_MAX_DIGEST];
    unsigned n;
    struct proto_error err;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        hash_compute(names[i], (const unsigned char *)"", 0, NULL, 0, 1, out,
                     &n, &err);
        hash_compute(names[i], (const unsigned char *)"", 0,
                     (const unsigned char *)"k", 1, 1, out, &n, &err);
    }
}

/* Forks a sandboxed child on one end of a socketpair that runs body(fd)
 * and exits with its return value; returns the wait status.  The other
 * end is left in *peer (closed by the caller). */
static int
run_sandboxed(int (*body)(int fd), int enabled, int *peer)
{
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        struct sandbox_conf c = {.enabled = enabled};
        sandbox_configure(&c);
        if (sandbox_child_enter(sv[1], warm) < 0)
            _exit(2);
        if (enabled && !sandbox_filter_active())
            _exit(NO_FILTER);
        _exit(body(sv[1]));
    }
    close(sv[1]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (peer != NULL)
        *peer = sv[0];
    else
        close(sv[0]);
    return st;
}

static void
expect_sigsys(int (*body)(int fd))
{
    int st = run_sandboxed(body, 1, NULL);
    if (WIFEXITED(st) && WEXITSTATUS(st) == NO_FILTER)
        skip();
    if (!WIFSIGNALED(st))
        fail_msg("the child was not killed: it exited with %d",
                 WEXITSTATUS(st));
    assert_int_equal(WTERMSIG(st), SIGSYS);
}

/* ---- forbidden calls ---- */

static int
body_socket(int fd)
{
    (void)fd;
    return socket(AF_INET, SOCK_STREAM, 0) >= 0 ? 0 : 3;
}

static int
body_open(int fd)
{
    (void)fd;
    return open("/etc/hostname", O_RDONLY) >= 0 ? 0 : 3;
}

static int
body_exec(int fd)
{
    (void)fd;
    char *const argv[] = {(char *)"/bin/true", NULL};
    execv("/bin/true", argv);
    return 3;
}

static int
body_exec_mmap(int fd)
{
    (void)fd;
    void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE | PROT_EXEC,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? 3 : 0;
}

static void
test_forbidden_socket(void **state)
{
    (void)state;
    expect_sigsys(body_socket);
}

static void
test_forbidden_open(void **state)
{
    (void)state;
#ifdef CELERIAC_SANITIZED
    /* ASan's runtime reads files to report: allowed there. */
    (void)body_open;
    skip();
#else
    expect_sigsys(body_open);
#endif
}

static void
test_forbidden_exec(void **state)
{
    (void)state;
    expect_sigsys(body_exec);
}

static void
test_forbidden_exec_memory(void **state)
{
    (void)state;
    expect_sigsys(body_exec_mmap);
}

/* ---- what a child does still works ---- */

static int
body_work(int fd)
{
    /* Large and small allocations, grown and given back. */
    size_t big = 48u << 20;
    unsigned char *p = malloc(big);
    if (p == NULL)
        return 10;
    memset(p, 'a', big);
    p = realloc(p, 2 * big);
    if (p == NULL)
        return 11;
    memset(p + big, 'b', big);
    /* Hashing with the warmed digests, an HMAC, and an unknown name. */
    unsigned char out[HASH_MAX_DIGEST];
    unsigned n;
    struct proto_error err;
    if (hash_compute("sha512", p, 2 * big, NULL, 0, 1, out, &n, &err) < 0 ||
        hash_compute("sha3-256", p, 1000, (const unsigned char *)"key", 3, 5,
                     out, &n, &err) < 0 ||
        hash_compute("no-such-digest", p, 1, NULL, 0, 1, out, &n, &err) == 0)
        return 12;
    free(p);
    /* JSON (jansson's hash tables are seeded already). */
    json_t *j = json_loads("{\"a\":[1,2,3],\"b\":\"x\"}", 0, NULL);
    if (j == NULL || json_object_size(j) != 2)
        return 13;
    json_decref(j);
    /* Clocks, rusage, logging, the socket both ways. */
    struct timespec ts;
    struct rusage ru;
    if (clock_gettime(CLOCK_REALTIME, &ts) < 0 ||
        clock_gettime(CLOCK_MONOTONIC, &ts) < 0 ||
        getrusage(RUSAGE_SELF, &ru) < 0 || ru.ru_maxrss <= 0)
        return 14;
    log_debug("sandboxed child at work");
    char buf[8];
    if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) != -1 || errno != EAGAIN)
        return 15;
    if (write(fd, "ok", 2) != 2)
        return 16;
    return 0;
}

static void
test_child_work_allowed(void **state)
{
    (void)state;
    int peer;
    int st = run_sandboxed(body_work, 1, &peer);
    if (WIFEXITED(st) && WEXITSTATUS(st) == NO_FILTER) {
        close(peer);
        skip();
    }
    if (WIFSIGNALED(st))
        fail_msg("the child was killed by signal %d", WTERMSIG(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    char buf[4] = {0};
    assert_int_equal(read(peer, buf, sizeof(buf)), 2);
    assert_string_equal(buf, "ok");
    close(peer);
}

/* ---- limits ---- */

/* Waits for the parent to close the socket.  (getrlimit and prctl are
 * not allowed in a child: the parent reads /proc instead.) */
static int
body_wait(int fd)
{
    char c;
    if (write(fd, "r", 1) != 1)
        return 30;
    return read(fd, &c, 1) == 0 ? 0 : 31;
}

/* The value of the line of /proc/<pid>/<file> that starts with key. */
static void
proc_line(pid_t pid, const char *file, const char *key, char *out,
          size_t len)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%ld/%s", (long)pid, file);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    out[0] = '\0';
    while (fgets(line, sizeof(line), f) != NULL)
        if (strncmp(line, key, strlen(key)) == 0)
            snprintf(out, len, "%s", line + strlen(key));
    fclose(f);
}

static void
test_limits(void **state)
{
    (void)state;
    int sv[2];
    char v[256];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(sv[0]);
        struct sandbox_conf c = {.enabled = 1};
        sandbox_configure(&c);
        if (sandbox_child_enter(sv[1], warm) < 0)
            _exit(2);
        _exit(body_wait(sv[1]));
    }
    close(sv[1]);
    char c;
    assert_int_equal(read(sv[0], &c, 1), 1); /* it is sandboxed now */
    proc_line(pid, "status", "NoNewPrivs:", v, sizeof(v));
    assert_int_equal(atoi(v), 1);
    proc_line(pid, "status", "Seccomp:", v, sizeof(v));
    assert_int_equal(atoi(v), on_valgrind() ? 0 : 2);
    proc_line(pid, "limits", "Max core file size", v, sizeof(v));
    assert_int_equal(strtoull(v, NULL, 10), 0);
    proc_line(pid, "limits", "Max open files", v, sizeof(v));
    if (!on_valgrind())
        assert_int_equal(strtoull(v, NULL, 10), SANDBOX_NOFILE);
    proc_line(pid, "limits", "Max address space", v, sizeof(v));
#ifndef CELERIAC_SANITIZED
    if (!on_valgrind()) {
        unsigned long long as = strtoull(v, NULL, 10);
        assert_true(as >= SANDBOX_AS_GROWTH &&
                    as < SANDBOX_AS_GROWTH + (1ULL << 30));
    }
#endif
    close(sv[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

/* ---- per-child seed ---- */

/* Forks a child that (with enter) sets itself up like a worker child, and
 * writes its first random() draws to a pipe; returns them in out. */
static void
draws(int enter, long out[4])
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (enter) {
            struct sandbox_conf c = {.enabled = 0};
            sandbox_configure(&c);
            if (sandbox_child_enter(-1, NULL) < 0)
                _exit(2);
        }
        long v[4];
        for (int i = 0; i < 4; i++)
            v[i] = random();
        _exit(write(fds[1], v, sizeof(v)) == (ssize_t)sizeof(v) ? 0 : 1);
    }
    close(fds[1]);
    assert_int_equal(read(fds[0], out, 4 * sizeof(long)),
                     (ssize_t)(4 * sizeof(long)));
    close(fds[0]);
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void
test_children_draw_differently(void **state)
{
    (void)state;
    long a[4], b[4];
    /* The parent seeds once, then forks (main.c does so). */
    srandom(12345);
    /* Without a seed of their own, children repeat each other: the retry
     * jitter of two children was the same. */
    draws(0, a);
    draws(0, b);
    assert_memory_equal(a, b, sizeof(a));
    /* With it, they differ. */
    draws(1, a);
    draws(1, b);
    assert_memory_not_equal(a, b, sizeof(a));
}

/* ---- secrets ---- */

static void
test_secret_wiped(void **state)
{
    (void)state;
    static const char pw[] = "unit-Secret-7f3a9c";
    char *secret = strdup(pw);
    /* A stale copy, as a freed hiredis buffer would leave it. */
    char *stale = malloc(64);
    snprintf(stale, 64, "AUTH %s\r\n", pw);
    char arg0[] = "celeriac-worker";
    char arg1[] = "--redis=redis://u:unit-Secret-7f3a9c@127.0.0.1:6379/0";
    char arg2[] = "--concurrency";
    char *argv[] = {arg0, arg1, arg2, NULL};
    setenv("CELERIAC_REDIS_PASSWORD", pw, 1);
    setenv("CELERIAC_REDIS_URL", "redis://:unit-Secret-7f3a9c@localhost", 1);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct sandbox_conf c = {.enabled = 0, .secret = secret,
                                 .argv = argv};
        sandbox_configure(&c);
        if (sandbox_child_enter(-1, NULL) < 0)
            _exit(2);
        if (getenv("CELERIAC_REDIS_PASSWORD") != NULL ||
            getenv("CELERIAC_REDIS_URL") != NULL)
            _exit(3);
        if (secret[0] != '\0')
            _exit(4);
        if (arg1[0] != '\0' || strcmp(arg2, "--concurrency") != 0)
            _exit(5);
        if (!on_valgrind() && strstr(stale, "unit-") != NULL)
            _exit(6);
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    /* The parent keeps its own. */
    assert_string_equal(secret, pw);
    assert_string_equal(getenv("CELERIAC_REDIS_PASSWORD"), pw);
    unsetenv("CELERIAC_REDIS_PASSWORD");
    unsetenv("CELERIAC_REDIS_URL");
    free(stale);
    free(secret);
}

/* ---- --user ---- */

static void
test_resolve_user(void **state)
{
    (void)state;
    struct sandbox_conf c;
    char *cause = NULL;
    /* Not root, no --user: nothing changes. */
    memset(&c, 0, sizeof(c));
    assert_int_equal(sandbox_resolve_user(NULL, 1000, &c, &cause), 0);
    assert_false(c.change_user);
    /* Root without --user: nobody. */
    assert_int_equal(sandbox_resolve_user(NULL, 0, &c, &cause), 0);
    assert_true(c.change_user);
    assert_string_equal(c.user, SANDBOX_DEFAULT_USER);
    assert_true(c.uid != 0);
    /* Root naming root: explicitly kept. */
    assert_int_equal(sandbox_resolve_user("root", 0, &c, &cause), 0);
    assert_false(c.change_user);
    /* Not root, naming another user: refused, saying what to do. */
    assert_int_equal(sandbox_resolve_user("root", 1000, &c, &cause), -1);
    assert_non_null(strstr(cause, "root"));
    free(cause);
    cause = NULL;
    /* An unknown user. */
    assert_int_equal(
        sandbox_resolve_user("celeriac-no-such-user", 0, &c, &cause), -1);
    assert_non_null(strstr(cause, "celeriac-no-such-user"));
    free(cause);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forbidden_socket),
        cmocka_unit_test(test_forbidden_open),
        cmocka_unit_test(test_forbidden_exec),
        cmocka_unit_test(test_forbidden_exec_memory),
        cmocka_unit_test(test_child_work_allowed),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_children_draw_differently),
        cmocka_unit_test(test_secret_wiped),
        cmocka_unit_test(test_resolve_user),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
