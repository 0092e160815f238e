/* SPDX-License-Identifier: MIT */
/*
 * The framed protocol between the worker parent and its children, over one
 * SOCK_STREAM socketpair per child.  Pure functions on buffers: no I/O.
 *
 * Every frame is a 16-byte header followed by the payload:
 *
 *   uint32 type     IPC_TASK, IPC_STARTED, IPC_RESULT
 *   uint32 len      header + payload, in bytes, <= IPC_MAX_FRAME
 *   uint32 version  IPC_VERSION; a frame of another version is refused
 *   uint32 seq      the parent's slot number of the task the frame is about
 *
 * Integers are in native byte order: both ends are the same binary on the
 * same host.  Payloads are fixed uint32 fields followed by the bytes they
 * count, never raw structs.
 *
 *   IPC_TASK    parent -> child: uint32 attempts, claim (the word the
 *               child must find in its claim map before it starts the task,
 *               claim.h), flags (IPC_TASK_*), entry_id_len, queue_len,
 *               msg_len, err_type_len, err_msg_len, started_hi, started_lo
 *               (Unix us the attempt began, for IPC_TASK_FAIL), ring_off,
 *               ring_len (IPC_TASK_RING only, else 0); then the entry id,
 *               the queue name, the message (empty with IPC_TASK_RING),
 *               the error type and the error message (both empty unless
 *               IPC_TASK_FAIL).
 *   IPC_STARTED child -> parent, only for a task with a time limit, just
 *               before it runs: uint32 time_limit_ms.
 *   IPC_CHUNK   parent -> child: the next bytes of a streamed task's source
 *               (IPC_TASK_STREAM), at most IPC_CHUNK_MAX of them.
 *   IPC_END     parent -> child: a streamed task's source is complete (or
 *               failed): uint32 err_type_len, err_msg_len, facts_len; then
 *               the error type and message (both empty when the source was
 *               read whole) and the source facts, a JSON object the child
 *               puts in the result document as "source" (may be empty).
 *   IPC_RESULT  child -> parent: uint32 status (IPC_STATUS_*), rss_kb (the
 *               child's resident memory after the task), due_hi, due_lo
 *               (Unix ms of the retry, for IPC_STATUS_RETRY), id_len,
 *               reply_to_len, doc_len, sched_len; then the task id, the
 *               reply_to stream (may be empty), the result document and
 *               the message to schedule (IPC_STATUS_RETRY only).
 *
 * A child answers every task it claims with exactly one IPC_RESULT, in the
 * order the tasks were sent; a task whose claim it cannot take (the parent
 * took it back for an idle child) is skipped without an answer.
 *
 * Streamed tasks (IPC_TASK_STREAM) are the exception: a child holds many
 * of them open at once, beside its ordinary tasks, keyed by seq.  It starts
 * one when its IPC_TASK arrives (no claim, no IPC_STARTED), feeds it each
 * IPC_CHUNK of that seq as it arrives, and answers with its IPC_RESULT
 * after the IPC_END — or at once with a FAILURE if the task refuses its
 * arguments or a chunk, after which it ignores that seq's IPC_CHUNK and
 * IPC_END frames until an IPC_TASK opens the seq again.  So results of
 * streamed tasks come in any order; the parent matches them by seq.
 *
 * File sources (IPC_TASK_FD): before it queues such a task frame, the
 * parent sends the open file on the child's descriptor channel (fd 4 in
 * the child, a SOCK_SEQPACKET socketpair): one message per task carrying
 * the uint32 seq as data and the descriptor as SCM_RIGHTS.  The child
 * takes it with ipc_fd_recv() when it reaches the task (in the same order)
 * and reads the file itself; the parent never reads file contents.
 *
 * Ring messages (IPC_TASK_RING): a large message is not in the frame but
 * in the child's shared ring (ring.h) at [ring_off, ring_off + ring_len).
 * The parent gives that space back when the task's IPC_RESULT arrives (or
 * the task is taken back, or the child dies): the result carries no
 * offset, so nothing a child sends names ring memory.
 */
#ifndef CELERIAC_IPC_H
#define CELERIAC_IPC_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

/* Bump if anything in this header changes. */
#define IPC_VERSION 5
#define IPC_HDR_LEN 16
/* A task frame carries at most one whole message plus small fields. */
#define IPC_MAX_FRAME (PROTOCOL_MAX_MESSAGE + 64 * 1024)

enum ipc_type {
    IPC_TASK = 100,
    IPC_CHUNK = 101,
    IPC_END = 102,
    IPC_STARTED = 200,
    IPC_RESULT = 201,
};

enum ipc_status {
    IPC_STATUS_SUCCESS = 0,
    IPC_STATUS_FAILURE = 1,
    IPC_STATUS_RETRY = 2,   /* failed; schedule the message in sched */
    IPC_STATUS_EXPIRED = 3, /* not run: past its "expires" time */
};

struct ipc_hdr {
    uint32_t type;
    uint32_t len; /* header + payload */
    uint32_t version;
    uint32_t seq;
};

/* Task flags. */
enum ipc_task_flags {
    /* Do not run the task: answer with the failure err_type/err_msg (the
     * parent's verdict after a crash, a time limit or too many deliveries),
     * decoding the message only to address and, with IPC_TASK_MAY_RETRY,
     * reschedule it.  The parent never parses a message itself. */
    IPC_TASK_FAIL = 1,
    IPC_TASK_MAY_RETRY = 2,
    /* The task's bytes follow in IPC_CHUNK frames of its seq, then an
     * IPC_END; see above. */
    IPC_TASK_STREAM = 4,
    /* The task's bytes are a file whose descriptor comes on fd 4. */
    IPC_TASK_FD = 8,
    /* The message is in the child's ring at ring_off, ring_len bytes
     * (msg_len is 0); never with the flags above. */
    IPC_TASK_RING = 16,
};

/* The most bytes one IPC_CHUNK carries. */
#define IPC_CHUNK_MAX (256 * 1024)
/* The descriptor channel's number in a child. */
#define IPC_FD_CHANNEL 4

/* A task frame's payload; pointers borrow from the frame buffer. */
struct ipc_task {
    uint32_t attempts;
    uint32_t claim;
    uint32_t flags;
    uint64_t started_us;
    const char *entry_id;
    uint32_t entry_id_len;
    const char *queue;
    uint32_t queue_len;
    const char *msg;
    uint32_t msg_len;
    const char *err_type;
    uint32_t err_type_len;
    const char *err_msg;
    uint32_t err_msg_len;
    uint32_t ring_off; /* IPC_TASK_RING: where the message is */
    uint32_t ring_len;
};

/* A result frame's payload; pointers borrow from the frame buffer. */
struct ipc_result {
    uint32_t status;
    uint32_t rss_kb;
    uint64_t due_ms;
    const char *id;
    uint32_t id_len;
    const char *reply_to;
    uint32_t reply_to_len;
    const char *doc;
    uint32_t doc_len;
    const char *sched;
    uint32_t sched_len;
};

/* An IPC_END payload; pointers borrow from the frame buffer. */
struct ipc_end {
    const char *err_type; /* NULL when the source was read whole */
    uint32_t err_type_len;
    const char *err_msg;
    uint32_t err_msg_len;
    const char *facts; /* JSON object text; may be empty */
    uint32_t facts_len;
};

#define IPC_TASK_FIXED 48
#define IPC_END_FIXED 12
#define IPC_STARTED_LEN 4
#define IPC_RESULT_FIXED 32

/* Writes a header for a frame of type/seq with payload_len bytes. */
void ipc_hdr_write(unsigned char out[IPC_HDR_LEN], uint32_t type,
                   uint32_t seq, size_t payload_len);
/*
 * Looks at the first avail bytes of a stream.  Returns 1 and fills *hdr when
 * a whole frame is there, 0 when more bytes are needed, or -1 when the bytes
 * cannot be a valid frame (*cause says why; the peer must be dropped).
 */
int ipc_frame_peek(const unsigned char *buf, size_t avail,
                   struct ipc_hdr *hdr, const char **cause);

/* Writes the fixed part of a task payload into out[IPC_TASK_FIXED]: t's
 * numbers and lengths (its pointers are not used). */
void ipc_task_fixed(unsigned char out[IPC_TASK_FIXED],
                    const struct ipc_task *t);
/* Parses a task payload; returns 0 or -1 if its lengths do not add up
 * (or IPC_TASK_RING comes with message bytes, no ring length or another
 * flag).  With IPC_TASK_RING, msg is NULL: the caller looks the message up
 * in its ring. */
int ipc_task_parse(const unsigned char *p, size_t len, struct ipc_task *t);
/* Writes the fixed part of a result payload: r's numbers and lengths (its
 * pointers are not used). */
void ipc_result_fixed(unsigned char out[IPC_RESULT_FIXED],
                      const struct ipc_result *r);
/* Writes / reads a STARTED payload. */
void ipc_started_write(unsigned char out[IPC_STARTED_LEN],
                       uint32_t time_limit_ms);
uint32_t ipc_started_read(const unsigned char p[IPC_STARTED_LEN]);
/* Parses a result payload; returns 0 or -1 if its lengths do not add up. */
int ipc_result_parse(const unsigned char *p, size_t len,
                     struct ipc_result *r);
/* Writes the fixed part of an END payload: e's lengths. */
void ipc_end_fixed(unsigned char out[IPC_END_FIXED], const struct ipc_end *e);
/* Parses an END payload; returns 0 or -1 if its lengths do not add up. */
int ipc_end_parse(const unsigned char *p, size_t len, struct ipc_end *e);
/* Sends fd for task seq on a descriptor channel.  Returns 0, or -1 with
 * errno set (EAGAIN when the channel is full). */
int ipc_fd_send(int chan, uint32_t seq, int fd);
/* Receives the next descriptor from a channel (blocking) and checks it is
 * for seq.  Returns the descriptor (the caller owns it), or -1 with errno
 * set (EPROTO for a message without one or for another seq). */
int ipc_fd_recv(int chan, uint32_t seq);

#endif
