/* SPDX-License-Identifier: MIT */
/* Redis Cluster hash slots; see keyslot.h. */
#include "keyslot.h"

#include <stdint.h>
#include <string.h>

static uint16_t keyslot_crc16(const unsigned char *p, size_t n);
static int keyslot_tag(const char *key, size_t len, size_t *off, size_t *n);

/* CRC-16/XMODEM: polynomial 0x1021, initial value 0, no reflection. */
static uint16_t
keyslot_crc16(const unsigned char *p, size_t n)
{
    uint16_t crc = 0;
    for (size_t i = 0; i < n; i++) {
        crc ^= (uint16_t)(p[i] << 8);
        for (int bit = 0; bit < 8; bit++)
            crc = (crc & 0x8000) ? (uint16_t)((crc << 1) ^ 0x1021)
                                 : (uint16_t)(crc << 1);
    }
    return crc;
}

/* The hash tag of key[0..len) as *off and *n: 1, or 0 if it has none. */
static int
keyslot_tag(const char *key, size_t len, size_t *off, size_t *n)
{
    const char *open = memchr(key, '{', len);
    if (open == NULL)
        return 0;
    size_t start = (size_t)(open - key) + 1;
    const char *close = memchr(open + 1, '}', len - start);
    if (close == NULL || close == open + 1)
        return 0; /* no '}', or "{}": the whole key is hashed */
    *off = start;
    *n = (size_t)(close - open) - 1;
    return 1;
}

int
keyslot(const char *key, size_t len)
{
    size_t off = 0, n = len;
    (void)keyslot_tag(key, len, &off, &n);
    return keyslot_crc16((const unsigned char *)key + off, n) % KEYSLOT_COUNT;
}

int
keyslot_has_tag(const char *key)
{
    size_t off, n;
    return keyslot_tag(key, strlen(key), &off, &n);
}
