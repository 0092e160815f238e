/* SPDX-License-Identifier: MIT */
/*
 * Random tokens: the names of reply streams and the task ids the producer
 * picks for scheduled tasks (a sorted set member must be unique, and such
 * a task has no stream entry id to go by).
 */
#ifndef CELERIAC_TOKEN_H
#define CELERIAC_TOKEN_H

#include <stddef.h>

/* Hex characters of a task id picked by the producer (128 random bits). */
#define TOKEN_ID_LEN 32

/* Fills buf with n random bytes (getrandom, else /dev/urandom). */
void token_bytes(unsigned char *buf, size_t n);
/* Writes nhex random lowercase hex characters and a NUL (nhex even). */
void token_hex(char *out, size_t nhex);

#endif
