/* SPDX-License-Identifier: MIT */
/*
 * The path opener; see pathsrc.h.  A minimal version for the parent's
 * tests (branch s2-parent): the one on branch s2-cli replaces it.
 */
#include "pathsrc.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int
pathsrc_root_open(const char *dir, struct proto_error *err)
{
    int fd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        proto_error_set(err, ERROR_NO_FILES_ROOT,
                        "cannot open '%.200s' as the files root: %s; give "
                        "an existing directory",
                        dir, strerror(errno));
    return fd;
}

int
pathsrc_open(int root_fd, const char *rel, uint64_t *size,
             struct proto_error *err)
{
    if (root_fd < 0)
        return proto_error_set(err, ERROR_NO_FILES_ROOT,
                               "this worker has no --files-root, so it "
                               "cannot read path sources; start it with "
                               "--files-root DIR or send the data inline");
    size_t n = strlen(rel);
    if (n == 0 || n > PATHSRC_MAX_NAME)
        return proto_error_set(err, ERROR_INVALID_ARGUMENT,
                               "'path' must be 1 to %d bytes",
                               PATHSRC_MAX_NAME);
    struct open_how how = {
        .flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY,
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS,
    };
    int fd = (int)syscall(SYS_openat2, root_fd, rel, &how, sizeof(how));
    if (fd < 0) {
        int e = errno;
        if (e == EXDEV)
            return proto_error_set(err, ERROR_PATH_OUTSIDE_ROOT,
                                   "'%.200s' leads outside the files root "
                                   "(absolute, '..' or a symbolic link out); "
                                   "name a file under it",
                                   rel);
        if (e == ENOENT || e == ENOTDIR)
            return proto_error_set(err, ERROR_FILE_NOT_FOUND,
                                   "'%.200s' does not exist under the files "
                                   "root",
                                   rel);
        if (e == EACCES || e == EPERM)
            return proto_error_set(err, ERROR_PERMISSION_DENIED,
                                   "the worker may not read '%.200s'", rel);
        return proto_error_set(err, ERROR_FILE_NOT_FOUND,
                               "cannot open '%.200s': %s", rel, strerror(e));
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return proto_error_set(err, ERROR_NOT_A_FILE,
                               "'%.200s' is not a regular file (a directory, "
                               "FIFO, device or socket); name a file",
                               rel);
    }
    *size = (uint64_t)st.st_size;
    return fd;
}
