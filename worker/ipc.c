/* SPDX-License-Identifier: MIT */
/* Parent/child frame encoding and decoding; see ipc.h. */
#include "ipc.h"

#include <string.h>

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
    if (hdr->type != IPC_TASK && hdr->type != IPC_STARTED &&
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
