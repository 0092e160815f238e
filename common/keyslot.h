/* SPDX-License-Identifier: MIT */
/*
 * Redis Cluster's hash slot of a key: CRC16 (XMODEM) of the key, or of its
 * hash tag (the bytes between the first '{' and the first '}' after it,
 * when there is at least one), modulo 16384.  A deployment on a Redis
 * Cluster (cluster:// addresses, common/sentinelurl.h) keeps every key in
 * one slot by a --prefix with a hash tag, e.g. "{celeriac}:" (PROTOCOL.md,
 * "Redis Cluster").  Plain functions; nothing is owned.
 */
#ifndef CELERIAC_KEYSLOT_H
#define CELERIAC_KEYSLOT_H

#include <stddef.h>

#define KEYSLOT_COUNT 16384

/* The slot of key[0..len). */
int keyslot(const char *key, size_t len);
/*
 * 1 if key (a NUL-terminated prefix) has a hash tag, so that every key
 * that starts with it is in the same slot; 0 otherwise.
 */
int keyslot_has_tag(const char *key);

#endif
