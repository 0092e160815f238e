/* SPDX-License-Identifier: MIT */
/* Random bytes and hex tokens. */
#include "token.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

void
token_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    if (got == n)
        return;
    /* No getrandom(): fall back to /dev/urandom, which must work. */
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, buf, n) != (ssize_t)n)
        fatal("token_bytes: no source of random bytes");
    close(fd);
}

void
token_hex(char *out, size_t nhex)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[64];
    size_t i = 0;

    while (i < nhex) {
        size_t n = (nhex - i + 1) / 2;
        if (n > sizeof(raw))
            n = sizeof(raw);
        token_bytes(raw, n);
        for (size_t j = 0; j < n && i < nhex; j++) {
            out[i++] = hex[raw[j] >> 4];
            if (i < nhex)
                out[i++] = hex[raw[j] & 15];
        }
    }
    out[nhex] = '\0';
}
