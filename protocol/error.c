/* SPDX-License-Identifier: MIT */
/* Filling struct proto_error. */
#include "error.h"

#include <stdarg.h>
#include <stdio.h>

int
proto_error_set(struct proto_error *err, const char *type, const char *fmt,
                ...)
{
    if (err == NULL)
        return -1;
    snprintf(err->type, sizeof(err->type), "%s", type);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    return -1;
}
