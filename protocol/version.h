/* SPDX-License-Identifier: MIT */
/*
 * The protocol version carried in every task message ("v") and limits every
 * part of celeriac agrees on.  Bump PROTOCOL_VERSION if the meaning of any
 * field, key or script in PROTOCOL.md changes incompatibly; new optional
 * fields do not need a bump (unknown fields are ignored).
 */
#ifndef CELERIAC_PROTOCOL_VERSION_H
#define CELERIAC_PROTOCOL_VERSION_H

#define PROTOCOL_VERSION 1

/* Largest task message (the "msg" field) a worker accepts, in bytes. */
#define PROTOCOL_MAX_MESSAGE (64u * 1024 * 1024)
/* Largest payload the hash task hashes, in bytes after base64 decoding. */
#define PROTOCOL_MAX_DATA (32u * 1024 * 1024)
/* Largest "iterations" of the hash task. */
#define PROTOCOL_MAX_ITERATIONS 10000000ul
/* Longest task id, task name or queue name, in bytes. */
#define PROTOCOL_MAX_NAME 200
/* Longest hmac key, in bytes. */
#define PROTOCOL_MAX_HMAC_KEY 4096

#endif
