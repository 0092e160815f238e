/* SPDX-License-Identifier: MIT */
/*
 * The path opener (pathsrc.h).  A name is resolved twice with openat2()
 * and RESOLVE_BENEATH: first as O_PATH, which opens nothing (a FIFO does
 * not block, a device is not touched), to learn what it names; then, if it
 * is a regular file, for reading, checking that the second open found the
 * same file.  Whatever the name holds, the kernel resolves it without
 * leaving the root.
 */
#include "pathsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

/* openat2() may answer EAGAIN when a rename or mount races the lookup. */
#define PATHSRC_RETRIES 8
/* How much of a name an error message quotes. */
#define PATHSRC_QUOTE "%.200s"

static int pathsrc_openat2(int dirfd, const char *name, int flags);
static int pathsrc_fail(const char *rel, int errnum, struct proto_error *err);

/* openat2(dirfd, name, flags) beneath dirfd; the descriptor or -1/errno. */
static int
pathsrc_openat2(int dirfd, const char *name, int flags)
{
    struct open_how how;
    memset(&how, 0, sizeof(how));
    /* O_PATH takes no other flags but O_CLOEXEC (EINVAL). */
    if (!(flags & O_PATH))
        flags |= O_NOCTTY;
    how.flags = (uint64_t)(flags | O_CLOEXEC);
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    for (int i = 0;; i++) {
        long fd = syscall(SYS_openat2, dirfd, name, &how, sizeof(how));
        if (fd >= 0)
            return (int)fd;
        if ((errno != EAGAIN && errno != EINTR) || i >= PATHSRC_RETRIES)
            return -1;
    }
}

/* Fills *err for an open of rel that failed with errnum; returns -1. */
static int
pathsrc_fail(const char *rel, int errnum, struct proto_error *err)
{
    switch (errnum) {
    case EXDEV:
        return proto_error_set(err, ERROR_PATH_OUTSIDE_ROOT,
                               "path '" PATHSRC_QUOTE "' leads outside the "
                               "worker's --files-root (an absolute name, "
                               "'..' or a symbolic link out of it): name a "
                               "file inside the root, relative to it",
                               rel);
    case ENOENT:
    case ENOTDIR:
        return proto_error_set(err, ERROR_FILE_NOT_FOUND,
                               "path '" PATHSRC_QUOTE "' does not exist "
                               "under the worker's --files-root: check the "
                               "name and that the worker sees the same "
                               "files as the producer",
                               rel);
    case EACCES:
    case EPERM:
        return proto_error_set(err, ERROR_PERMISSION_DENIED,
                               "path '" PATHSRC_QUOTE "' cannot be read by "
                               "the worker's user: make it readable (and "
                               "its directories searchable) for that user",
                               rel);
    case ENXIO:
    case ENODEV:
        return proto_error_set(err, ERROR_NOT_A_FILE,
                               "path '" PATHSRC_QUOTE "' is not a regular "
                               "file: only regular files can be hashed",
                               rel);
    case ELOOP:
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "path '" PATHSRC_QUOTE "' goes through too "
                               "many symbolic links (a loop?): fix the "
                               "links or name the file itself",
                               rel);
    case ENAMETOOLONG:
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "path '" PATHSRC_QUOTE "...' has a component "
                               "too long for the file system: shorten it",
                               rel);
    case ENOSYS:
        return proto_error_set(err, ERROR_INTERNAL,
                               "this kernel has no openat2(): path sources "
                               "need Linux 5.6 or later");
    default:
        return proto_error_set(err, ERROR_INTERNAL,
                               "path '" PATHSRC_QUOTE "' could not be "
                               "opened: %s",
                               rel, strerror(errnum));
    }
}

int
pathsrc_root_open(const char *dir, struct proto_error *err)
{
    struct stat st;
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "--files-root '" PATHSRC_QUOTE "': %s: give "
                               "an existing directory the worker can "
                               "search",
                               dir, strerror(e));
    }
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
        close(fd);
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "--files-root '" PATHSRC_QUOTE "' is not a "
                               "directory",
                               dir);
    }
    /* Fail at start, not on the first task, on a kernel without
     * openat2(). */
    int probe = pathsrc_openat2(fd, ".", O_PATH);
    if (probe < 0) {
        int e = errno;
        close(fd);
        if (e == ENOSYS)
            return pathsrc_fail(dir, e, err);
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "--files-root '" PATHSRC_QUOTE "': %s",
                               dir, strerror(e));
    }
    close(probe);
    return fd;
}

int
pathsrc_open(int root_fd, const char *rel, uint64_t *size,
             struct proto_error *err)
{
    struct stat st, st2;
    int pfd, fd;

    if (root_fd < 0)
        return proto_error_set(err, ERROR_NO_FILES_ROOT,
                               "this worker serves no files: start it with "
                               "--files-root DIR to hash path sources, or "
                               "send the data itself");
    if (rel == NULL || rel[0] == '\0')
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "the path is empty: name a file relative to "
                               "the worker's --files-root");
    if (strnlen(rel, PATHSRC_MAX_NAME + 1) > PATHSRC_MAX_NAME)
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "the path is longer than %d bytes: name a "
                               "file with a shorter path",
                               PATHSRC_MAX_NAME);

    /* What does the name lead to?  O_PATH opens nothing. */
    pfd = pathsrc_openat2(root_fd, rel, O_PATH);
    if (pfd < 0)
        return pathsrc_fail(rel, errno, err);
    if (fstat(pfd, &st) < 0) {
        int e = errno;
        close(pfd);
        return pathsrc_fail(rel, e, err);
    }
    close(pfd);
    if (!S_ISREG(st.st_mode))
        return proto_error_set(err, ERROR_NOT_A_FILE,
                               "path '" PATHSRC_QUOTE "' is %s, not a "
                               "regular file: only regular files can be "
                               "hashed",
                               rel,
                               S_ISDIR(st.st_mode)    ? "a directory"
                               : S_ISFIFO(st.st_mode) ? "a FIFO"
                               : S_ISSOCK(st.st_mode) ? "a socket"
                               : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)
                                   ? "a device"
                                   : "something else");

    /* Now open it for reading (non-blocking: if it was swapped for a FIFO
     * in between, the open does not wait for a writer). */
    fd = pathsrc_openat2(root_fd, rel, O_RDONLY | O_NONBLOCK);
    if (fd < 0)
        return pathsrc_fail(rel, errno, err);
    if (fstat(fd, &st2) < 0) {
        int e = errno;
        close(fd);
        return pathsrc_fail(rel, e, err);
    }
    if (!S_ISREG(st2.st_mode) || st2.st_dev != st.st_dev ||
        st2.st_ino != st.st_ino) {
        close(fd);
        return proto_error_set(err, ERROR_FILE_CHANGED,
                               "path '" PATHSRC_QUOTE "' was replaced while "
                               "it was being opened: send the task again "
                               "once the file is in place",
                               rel);
    }
    /* O_NONBLOCK stays: it changes nothing for a regular file. */
    if (size != NULL)
        *size = (uint64_t)st2.st_size;
    return fd;
}
