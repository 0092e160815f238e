/* SPDX-License-Identifier: MIT */
/* Shared-memory rings for large task messages; see ring.h. */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "log.h"

/* The child's one read-only mapping (ring_child_map). */
static const unsigned char *ring_child_base;
static uint32_t ring_child_size;

void
ring_init(struct ring *r)
{
    r->fd = -1;
    r->map = NULL;
    r->size = 0;
    r->head = 0;
}

int
ring_new(struct ring *r, uint32_t size)
{
    ring_init(r);
    int fd = memfd_create("celeriac-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        log_warn("ring: memfd_create; large messages go through the "
                 "socket instead");
        return -1;
    }
    if (ftruncate(fd, size) < 0) {
        log_warn("ring: cannot size a %u-byte ring; large messages go "
                 "through the socket instead",
                 size);
        close(fd);
        return -1;
    }
    void *map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        log_warn("ring: cannot map a %u-byte ring; large messages go "
                 "through the socket instead",
                 size);
        close(fd);
        return -1;
    }
    /* Only this process writes: no child inherits this mapping, and after
     * the seals no mapping made later can be writable. */
    if (madvise(map, size, MADV_DONTFORK) < 0 ||
        fcntl(fd, F_ADD_SEALS,
              F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) <
            0) {
        log_warn("ring: cannot seal the ring (a kernel older than 5.1?); "
                 "large messages go through the socket instead");
        munmap(map, size);
        close(fd);
        return -1;
    }
    r->fd = fd;
    r->map = map;
    r->size = size;
    return 0;
}

void
ring_free(struct ring *r)
{
    if (r->map != NULL)
        munmap(r->map, r->size);
    if (r->fd >= 0)
        close(r->fd);
    ring_init(r);
}

long
ring_alloc(struct ring *r, long oldest, uint32_t len)
{
    long off = -1;
    if (r->map == NULL || len == 0 || len > r->size)
        return -1;
    if (oldest < 0) {
        r->head = 0; /* empty: start over */
        off = 0;
    } else if ((uint32_t)oldest < r->head) {
        /* In use: [oldest, head).  Free: [head, size) and [0, oldest). */
        if (len <= r->size - r->head)
            off = r->head;
        else if (len <= (uint32_t)oldest)
            off = 0;
    } else if ((uint32_t)oldest > r->head) {
        /* Wrapped; in use: [oldest, size) and [0, head). */
        if (len <= (uint32_t)oldest - r->head)
            off = r->head;
    } /* oldest == head with something in use: full */
    if (off >= 0)
        r->head = (uint32_t)off + len;
    return off;
}

int
ring_child_map(int fd, uint32_t size)
{
    void *map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED)
        return -1;
    ring_child_base = map;
    ring_child_size = size;
    return 0;
}

const unsigned char *
ring_child_get(uint32_t off, uint32_t len)
{
    if (ring_child_base == NULL || off > ring_child_size ||
        len > ring_child_size - off)
        return NULL;
    return ring_child_base + off;
}
