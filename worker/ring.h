/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory rings: how a large task message reaches a child without
 * the socketpair (worker/README.md, "Large messages").
 *
 * Each child has one ring, a memfd of RING_SIZE bytes.  The parent maps it
 * read-write (MADV_DONTFORK: no child inherits that mapping) and then seals
 * it (F_SEAL_SHRINK, F_SEAL_GROW, F_SEAL_FUTURE_WRITE, F_SEAL_SEAL), so the
 * only mapping anyone can make of it from then on is read-only: the child
 * maps it read-only right after fork, before its sandbox, and closes the
 * descriptor.  A child therefore cannot write a byte the parent or another
 * child reads.  A ring lives as long as its child process: a replaced
 * child gets a new one.
 *
 * The parent copies a message into its child's ring and sends a task frame
 * that names (offset, length) instead of carrying the bytes.  Space is
 * allocated in send order and given back in the same order: the parent
 * frees a task's space when the child's result for it arrives (or the task
 * is taken back, or the child dies), so the release is implied by the
 * result and the child never names an offset the parent has to trust.
 *
 * The parent side (struct ring) does the allocation arithmetic; the child
 * side (ring_child_*) holds the one read-only mapping of the process.
 */
#ifndef CELERIAC_RING_H
#define CELERIAC_RING_H

#include <stddef.h>
#include <stdint.h>

/* Bytes in one child's ring: messages larger than this take the frame
 * path.  16 MiB holds 64 messages of 256 KiB. */
#ifndef RING_SIZE
#define RING_SIZE (16u * 1024 * 1024)
#endif

/* One ring, parent side. */
struct ring {
    int fd;             /* the memfd, sealed; -1 when none */
    unsigned char *map; /* owned read-write mapping of size bytes, or NULL */
    uint32_t size;
    uint32_t head; /* where the next allocation starts */
};

/* A ring with nothing: call before ring_new or ring_free. */
void ring_init(struct ring *r);
/* Creates, maps and seals a ring of size bytes (a multiple of the page
 * size).  Returns 0, or -1 (logged, *r empty). */
int ring_new(struct ring *r, uint32_t size);
/* Unmaps and closes r (which stays usable with ring_init's state). */
void ring_free(struct ring *r);
/*
 * Allocates len (> 0) contiguous bytes.  oldest is the offset of the
 * oldest allocation still in use, or -1 when none is: everything from
 * there to head is taken.  Returns the offset, or -1 when the ring has no
 * room (the caller uses the frame path).
 */
long ring_alloc(struct ring *r, long oldest, uint32_t len);

/* Child side.  Maps fd read-only as this process's ring (size bytes);
 * the caller closes fd.  Returns 0 or -1 with errno set. */
int ring_child_map(int fd, uint32_t size);
/* The bytes [off, off + len) of this process's ring, or NULL when there is
 * no ring or they lie outside it. */
const unsigned char *ring_child_get(uint32_t off, uint32_t len);

#endif
