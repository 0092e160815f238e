/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of worker/pathsrc.c: a tree in a temporary directory with a
 * file, a directory, a FIFO, a socket, a device, symbolic links in and out
 * of the root, and each name that must be refused, with its error type.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pathsrc.h"

/* The test tree: <top>/outside.txt and <top>/root/... */
struct tree {
    char top[64];
    char root[96];
    int root_fd;
};

static char *
tree_path(const struct tree *t, const char *rel)
{
    static char buf[256];
    snprintf(buf, sizeof(buf), "%s/%s", t->top, rel);
    return buf;
}

static void
tree_write(const struct tree *t, const char *rel, const char *text)
{
    FILE *f = fopen(tree_path(t, rel), "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
}

static int
tree_setup(void **state)
{
    struct tree *t = calloc(1, sizeof(*t));
    struct sockaddr_un sa;
    struct proto_error err;

    snprintf(t->top, sizeof(t->top), "/tmp/celeriac-pathsrc-XXXXXX");
    if (mkdtemp(t->top) == NULL)
        return -1;
    chmod(t->top, 0755);
    snprintf(t->root, sizeof(t->root), "%s/root", t->top);
    mkdir(t->root, 0755);
    mkdir(tree_path(t, "root/sub"), 0755);
    mkdir(tree_path(t, "root/dir"), 0755);
    tree_write(t, "outside.txt", "secret\n");
    tree_write(t, "root/a.txt", "hello\n");
    tree_write(t, "root/sub/b.txt", "inner file\n");
    tree_write(t, "root/empty", "");
    tree_write(t, "root/locked", "no\n");
    chmod(tree_path(t, "root/locked"), 0);
    symlink("../outside.txt", tree_path(t, "root/out-rel"));
    char target[256];
    snprintf(target, sizeof(target), "%s", tree_path(t, "outside.txt"));
    symlink(target, tree_path(t, "root/out-abs"));
    symlink("sub/b.txt", tree_path(t, "root/in-link"));
    symlink("../a.txt", tree_path(t, "root/sub/up-link"));
    symlink("loop2", tree_path(t, "root/loop1"));
    symlink("loop1", tree_path(t, "root/loop2"));
    symlink("/proc/self/root/etc/passwd", tree_path(t, "root/magic"));
    mkfifo(tree_path(t, "root/fifo"), 0644);
    mknod(tree_path(t, "root/null"), S_IFCHR | 0666, makedev(1, 3));

    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/root/sock", t->top);
    if (s < 0 || bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
        return -1;
    close(s);

    *state = t;
    t->root_fd = pathsrc_root_open(t->root, &err);
    if (t->root_fd < 0) {
        fprintf(stderr, "%s: %s\n", err.type, err.message);
        /* valgrind does not know openat2(): nothing can be tested. */
        return strcmp(err.type, ERROR_INTERNAL) == 0 ? 0 : -1;
    }
    return 0;
}

static int
tree_teardown(void **state)
{
    struct tree *t = *state;
    char cmd[128];
    if (t == NULL)
        return 0;
    if (t->root_fd >= 0)
        close(t->root_fd);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", t->top);
    if (system(cmd) != 0)
        return -1;
    free(t);
    return 0;
}

/* Opens rel and checks it is refused with type (the message non-empty). */
static void
expect_refused(const struct tree *t, const char *rel, const char *type)
{
    struct proto_error err;
    uint64_t size = 12345;
    memset(&err, 0, sizeof(err));
    int fd = pathsrc_open(t->root_fd, rel, &size, &err);
    if (fd >= 0)
        fail_msg("'%s' was opened, expected %s", rel, type);
    if (strcmp(err.type, type) != 0)
        fail_msg("'%s': %s (%s), expected %s", rel, err.type, err.message,
                 type);
    assert_true(strlen(err.message) > 20);
    assert_int_equal(size, 12345);
}

/* Opens rel and checks the descriptor reads text. */
static void
expect_file(const struct tree *t, const char *rel, const char *text)
{
    struct proto_error err;
    uint64_t size = 0;
    char buf[64];
    int fd = pathsrc_open(t->root_fd, rel, &size, &err);
    if (fd < 0)
        fail_msg("'%s': %s: %s", rel, err.type, err.message);
    assert_int_equal(size, strlen(text));
    ssize_t n = read(fd, buf, sizeof(buf));
    assert_int_equal(n, (ssize_t)strlen(text));
    assert_memory_equal(buf, text, strlen(text));
    int fl = fcntl(fd, F_GETFD);
    assert_true(fl & FD_CLOEXEC);
    close(fd);
}

static void
test_regular_files(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    expect_file(t, "a.txt", "hello\n");
    expect_file(t, "./a.txt", "hello\n");
    expect_file(t, "sub/b.txt", "inner file\n");
    expect_file(t, "sub/../a.txt", "hello\n"); /* ".." that stays inside */
    expect_file(t, "sub//b.txt", "inner file\n");
    expect_file(t, "empty", "");
}

static void
test_symlinks_inside_root(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    expect_file(t, "in-link", "inner file\n");
    expect_file(t, "sub/up-link", "hello\n");
}

static void
test_escapes(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    char abs[160];
    expect_refused(t, "..", ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "../outside.txt", ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "sub/../../outside.txt", ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "/etc/passwd", ERROR_PATH_OUTSIDE_ROOT);
    snprintf(abs, sizeof(abs), "%s/a.txt", t->root); /* absolute, inside */
    expect_refused(t, abs, ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "out-rel", ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "out-abs", ERROR_PATH_OUTSIDE_ROOT);
    expect_refused(t, "magic", ERROR_PATH_OUTSIDE_ROOT);
}

static void
test_not_files(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    struct timespec a, b;
    expect_refused(t, "dir", ERROR_NOT_A_FILE);
    expect_refused(t, ".", ERROR_NOT_A_FILE);
    expect_refused(t, "sub/", ERROR_NOT_A_FILE);
    /* A FIFO nobody writes to: refused at once, not waited on. */
    clock_gettime(CLOCK_MONOTONIC, &a);
    expect_refused(t, "fifo", ERROR_NOT_A_FILE);
    clock_gettime(CLOCK_MONOTONIC, &b);
    assert_true(b.tv_sec - a.tv_sec < 2);
    expect_refused(t, "sock", ERROR_NOT_A_FILE);
    expect_refused(t, "null", ERROR_NOT_A_FILE);
}

static void
test_missing(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    expect_refused(t, "nope", ERROR_FILE_NOT_FOUND);
    expect_refused(t, "sub/nope", ERROR_FILE_NOT_FOUND);
    expect_refused(t, "a.txt/x", ERROR_FILE_NOT_FOUND); /* not a dir */
    expect_refused(t, "nodir/x", ERROR_FILE_NOT_FOUND);
    expect_refused(t, "loop1", ERROR_INVALID_ARGUMENT);
}

/* Root can read anything: the check runs in a child as nobody. */
static void
test_permission(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct proto_error err;
        if (geteuid() == 0 && setresuid(65534, 65534, 65534) < 0)
            _exit(2);
        int fd = pathsrc_open(t->root_fd, "locked", NULL, &err);
        if (fd >= 0 || strcmp(err.type, ERROR_PERMISSION_DENIED) != 0)
            _exit(1);
        fd = pathsrc_open(t->root_fd, "a.txt", NULL, &err);
        _exit(fd >= 0 ? 0 : 3);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_bad_names(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    char *longname = malloc(PATHSRC_MAX_NAME + 2);
    expect_refused(t, "", ERROR_INVALID_ARGUMENT);
    expect_refused(t, "\0a.txt", ERROR_INVALID_ARGUMENT); /* NUL first */
    memset(longname, 'a', PATHSRC_MAX_NAME + 1);
    longname[PATHSRC_MAX_NAME + 1] = '\0';
    expect_refused(t, longname, ERROR_INVALID_ARGUMENT);
    /* One component over NAME_MAX, the whole within PATHSRC_MAX_NAME. */
    longname[300] = '\0';
    expect_refused(t, longname, ERROR_INVALID_ARGUMENT);
    free(longname);
    expect_refused(t, NULL, ERROR_INVALID_ARGUMENT);
}

static void
test_no_root(void **state)
{
    struct tree *t = *state;
    if (t->root_fd < 0)
        skip();
    struct proto_error err;
    assert_int_equal(pathsrc_open(-1, "a.txt", NULL, &err), -1);
    assert_string_equal(err.type, ERROR_NO_FILES_ROOT);
    assert_int_equal(pathsrc_root_open(tree_path(t, "nonexistent"), &err),
                     -1);
    assert_string_equal(err.type, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "nonexistent"));
    assert_int_equal(pathsrc_root_open(tree_path(t, "outside.txt"), &err),
                     -1);
    assert_string_equal(err.type, ERROR_INVALID_ARGUMENT);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_regular_files),
        cmocka_unit_test(test_symlinks_inside_root),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_not_files),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_permission),
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_no_root),
    };
    return cmocka_run_group_tests(tests, tree_setup, tree_teardown);
}
