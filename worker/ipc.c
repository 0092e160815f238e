/* SPDX-License-Identifier: MIT */
/* Parent/child frame encoding and decoding; see ipc.h. */
#include "ipc.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static void ipc_put32(unsigned char *p, uint32_t v);
static uint32_t ipc_get32(const unsigned char *p);

static void
ipc_put32(unsigned char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t
ipc_get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

void
ipc_hdr_write(unsigned char out[IPC_HDR_LEN], uint32_t type, uint32_t seq,
              size_t payload_len)
{
    ipc_put32(out, type);
    ipc_put32(out + 4, (uint32_t)(IPC_HDR_LEN + payload_len));
    ipc_put32(out + 8, IPC_VERSION);
    ipc_put32(out + 12, seq);
}

int
ipc_frame_peek(const unsigned char *buf, size_t avail, struct ipc_hdr *hdr,
               const char **cause)
{
    if (avail < IPC_HDR_LEN)
        return 0;
    hdr->type = ipc_get32(buf);
    hdr->len = ipc_get32(buf + 4);
    hdr->version = ipc_get32(buf + 8);
    hdr->seq = ipc_get32(buf + 12);
    if (hdr->version != IPC_VERSION) {
        *cause = "frame of another protocol version";
        return -1;
    }
    if (hdr->type != IPC_TASK && hdr->type != IPC_CHUNK &&
        hdr->type != IPC_END && hdr->type != IPC_STARTED &&
        hdr->type != IPC_RESULT) {
        *cause = "frame of unknown type";
        return -1;
    }
    if (hdr->len < IPC_HDR_LEN || hdr->len > IPC_MAX_FRAME) {
        *cause = "frame length out of bounds";
        return -1;
    }
    return avail >= hdr->len ? 1 : 0;
}

void
ipc_task_fixed(unsigned char out[IPC_TASK_FIXED], const struct ipc_task *t)
{
    ipc_put32(out, t->attempts);
    ipc_put32(out + 4, t->claim);
    ipc_put32(out + 8, t->flags);
    ipc_put32(out + 12, t->entry_id_len);
    ipc_put32(out + 16, t->queue_len);
    ipc_put32(out + 20, t->msg_len);
    ipc_put32(out + 24, t->err_type_len);
    ipc_put32(out + 28, t->err_msg_len);
    ipc_put32(out + 32, (uint32_t)(t->started_us >> 32));
    ipc_put32(out + 36, (uint32_t)t->started_us);
    ipc_put32(out + 40, t->ring_off);
    ipc_put32(out + 44, t->ring_len);
}

int
ipc_task_parse(const unsigned char *p, size_t len, struct ipc_task *t)
{
    if (len < IPC_TASK_FIXED)
        return -1;
    t->attempts = ipc_get32(p);
    t->claim = ipc_get32(p + 4);
    t->flags = ipc_get32(p + 8);
    t->entry_id_len = ipc_get32(p + 12);
    t->queue_len = ipc_get32(p + 16);
    t->msg_len = ipc_get32(p + 20);
    t->err_type_len = ipc_get32(p + 24);
    t->err_msg_len = ipc_get32(p + 28);
    t->started_us = (uint64_t)ipc_get32(p + 32) << 32 | ipc_get32(p + 36);
    t->ring_off = ipc_get32(p + 40);
    t->ring_len = ipc_get32(p + 44);
    /* 64-bit sum: five 32-bit lengths cannot overflow it. */
    if ((uint64_t)IPC_TASK_FIXED + t->entry_id_len + t->queue_len +
            t->msg_len + t->err_type_len + t->err_msg_len !=
        len)
        return -1;
    t->entry_id = (const char *)p + IPC_TASK_FIXED;
    t->queue = t->entry_id + t->entry_id_len;
    t->msg = t->queue + t->queue_len;
    t->err_type = t->msg + t->msg_len;
    t->err_msg = t->err_type + t->err_type_len;
    if (t->flags & IPC_TASK_RING) {
        if (t->msg_len != 0 || t->ring_len == 0 ||
            (t->flags & ~(uint32_t)IPC_TASK_RING) != 0)
            return -1;
        t->msg = NULL;
    }
    return 0;
}

void
ipc_result_fixed(unsigned char out[IPC_RESULT_FIXED],
                 const struct ipc_result *r)
{
    ipc_put32(out, r->status);
    ipc_put32(out + 4, r->rss_kb);
    ipc_put32(out + 8, (uint32_t)(r->due_ms >> 32));
    ipc_put32(out + 12, (uint32_t)r->due_ms);
    ipc_put32(out + 16, r->id_len);
    ipc_put32(out + 20, r->reply_to_len);
    ipc_put32(out + 24, r->doc_len);
    ipc_put32(out + 28, r->sched_len);
}

int
ipc_result_parse(const unsigned char *p, size_t len, struct ipc_result *r)
{
    if (len < IPC_RESULT_FIXED)
        return -1;
    r->status = ipc_get32(p);
    r->rss_kb = ipc_get32(p + 4);
    r->due_ms = (uint64_t)ipc_get32(p + 8) << 32 | ipc_get32(p + 12);
    r->id_len = ipc_get32(p + 16);
    r->reply_to_len = ipc_get32(p + 20);
    r->doc_len = ipc_get32(p + 24);
    r->sched_len = ipc_get32(p + 28);
    if ((uint64_t)IPC_RESULT_FIXED + r->id_len + r->reply_to_len +
            r->doc_len + r->sched_len !=
        len)
        return -1;
    if (r->status > IPC_STATUS_EXPIRED)
        return -1;
    r->id = (const char *)p + IPC_RESULT_FIXED;
    r->reply_to = r->id + r->id_len;
    r->doc = r->reply_to + r->reply_to_len;
    r->sched = r->doc + r->doc_len;
    return 0;
}

void
ipc_started_write(unsigned char out[IPC_STARTED_LEN], uint32_t time_limit_ms)
{
    ipc_put32(out, time_limit_ms);
}

uint32_t
ipc_started_read(const unsigned char p[IPC_STARTED_LEN])
{
    return ipc_get32(p);
}

void
ipc_end_fixed(unsigned char out[IPC_END_FIXED], const struct ipc_end *e)
{
    ipc_put32(out, e->err_type_len);
    ipc_put32(out + 4, e->err_msg_len);
    ipc_put32(out + 8, e->facts_len);
}

int
ipc_end_parse(const unsigned char *p, size_t len, struct ipc_end *e)
{
    if (len < IPC_END_FIXED)
        return -1;
    e->err_type_len = ipc_get32(p);
    e->err_msg_len = ipc_get32(p + 4);
    e->facts_len = ipc_get32(p + 8);
    if ((uint64_t)IPC_END_FIXED + e->err_type_len + e->err_msg_len +
            e->facts_len !=
        len)
        return -1;
    e->err_type = e->err_type_len > 0 ? (const char *)p + IPC_END_FIXED
                                      : NULL;
    e->err_msg = (const char *)p + IPC_END_FIXED + e->err_type_len;
    e->facts = e->err_msg + e->err_msg_len;
    return 0;
}

/* The control buffer of a message carrying one descriptor. */
union ipc_fd_ctl {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
};

/* Points mh at the 4-byte data and the control buffer of an fd message. */
static void
ipc_fd_msg(struct msghdr *mh, struct iovec *iov, unsigned char data[4],
           union ipc_fd_ctl *ctl)
{
    memset(mh, 0, sizeof(*mh));
    memset(ctl, 0, sizeof(*ctl));
    iov->iov_base = data;
    iov->iov_len = 4;
    mh->msg_iov = iov;
    mh->msg_iovlen = 1;
    mh->msg_control = ctl->buf;
    mh->msg_controllen = sizeof(ctl->buf);
}

int
ipc_fd_send(int chan, uint32_t seq, int fd)
{
    unsigned char data[4];
    union ipc_fd_ctl ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cm;

    ipc_put32(data, seq);
    ipc_fd_msg(&mh, &iov, data, &ctl);
    cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    for (;;) {
        ssize_t n = sendmsg(chan, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(data))
            return 0;
        if (n < 0 && errno == EINTR)
            continue;
        if (n >= 0)
            errno = EPROTO;
        return -1;
    }
}

int
ipc_fd_recv(int chan, uint32_t seq)
{
    unsigned char data[4];
    union ipc_fd_ctl ctl;
    struct iovec iov;
    struct msghdr mh;
    struct cmsghdr *cm;
    ssize_t n;
    int fd = -1;

    ipc_fd_msg(&mh, &iov, data, &ctl);
    do
        n = recvmsg(chan, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return -1;
    for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
            cm->cmsg_len == CMSG_LEN(sizeof(int)))
            memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    if (n != (ssize_t)sizeof(data) || ipc_get32(data) != seq ||
        (mh.msg_flags & MSG_CTRUNC)) {
        if (fd >= 0)
            close(fd);
        errno = EPROTO;
        return -1;
    }
    if (fd < 0) {
        errno = EPROTO;
        return -1;
    }
    return fd;
}
