/* SPDX-License-Identifier: MIT */
/*
 * The "path" source: opening a file named by a task message under the
 * worker's --files-root so that nothing in the name can leave the root.
 * The parent opens it (openat2 with RESOLVE_BENEATH: "..", absolute names
 * and symbolic links that point outside the root are refused by the
 * kernel, with no window between check and use) and hands the descriptor
 * to a child, which reads the file; the parent never reads contents.
 */
#ifndef CELERIAC_PATHSRC_H
#define CELERIAC_PATHSRC_H

#include <stdint.h>

#include "error.h"

/* Opens the root directory (O_PATH | O_DIRECTORY).  Returns the descriptor,
 * or -1 with *err set to a sentence naming dir and what is wrong. */
int pathsrc_root_open(const char *dir, struct proto_error *err);

/*
 * Opens rel, a name relative to the root root_fd, read-only and
 * non-blocking (so a FIFO cannot block the caller), and checks that it is
 * a regular file.  Returns the descriptor (the caller owns it) and its
 * size in *size, or -1 with *err set: PathOutsideRoot (absolute, "..",
 * a symlink out of the root), FileNotFound, NotAFile (a directory, FIFO,
 * device or socket), PermissionDenied, or InvalidArgument (empty, over
 * PATHSRC_MAX_NAME bytes, a NUL inside).  root_fd < 0 (no --files-root):
 * NoFilesRoot.
 */
#define PATHSRC_MAX_NAME 4096
int pathsrc_open(int root_fd, const char *rel, uint64_t *size,
                 struct proto_error *err);

#endif
