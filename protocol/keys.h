/* SPDX-License-Identifier: MIT */
/*
 * Every Redis key name celeriac uses, in one place.  Each starts with a
 * configurable prefix (KEYS_DEFAULT_PREFIX unless --prefix is given) so that
 * several deployments can share one Redis.  The functions write into a
 * caller's buffer of KEYS_MAX bytes and return 0, or -1 if the name would not
 * fit.
 */
#ifndef CELERIAC_KEYS_H
#define CELERIAC_KEYS_H

#include <stddef.h>

#define KEYS_DEFAULT_PREFIX "celeriac:"
#define KEYS_DEFAULT_QUEUE "default"
/* The consumer group every worker reads queues through. */
#define KEYS_GROUP "celeriac"
/* The stream field that carries the task message. */
#define KEYS_MSG_FIELD "msg"
/* The reply stream field that carries a result document. */
#define KEYS_RESULT_FIELD "result"
#define KEYS_MAX 512

/* <prefix>queue:<name> — the stream a queue lives in. */
int keys_queue(char *buf, size_t n, const char *prefix, const char *name);
/* <prefix>result:<id> — the result document of a task. */
int keys_result(char *buf, size_t n, const char *prefix, const char *id);
/* <prefix>reply:<token> — a reply stream made by a producer. */
int keys_reply(char *buf, size_t n, const char *prefix, const char *token);
/* <prefix>dead — the dead-letter stream. */
int keys_dead(char *buf, size_t n, const char *prefix);
/* <prefix>scheduled — delayed and retried tasks (sorted set). */
int keys_scheduled(char *buf, size_t n, const char *prefix);
/* <prefix>workers — the registry of workers (sorted set by last beat). */
int keys_workers(char *buf, size_t n, const char *prefix);
/* <prefix>worker:<name> — one worker's heartbeat record (hash with TTL). */
int keys_worker(char *buf, size_t n, const char *prefix, const char *name);
/* Checks a queue name: 1..PROTOCOL_MAX_NAME printable bytes, no spaces. */
int keys_valid_name(const char *name);

#endif
