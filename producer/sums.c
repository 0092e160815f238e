/* SPDX-License-Identifier: MIT */
/* Writing and reading checksum lines in the coreutils formats. */
#include "sums.h"

#include <ctype.h>
#include <string.h>

#include "xmalloc.h"

static int sums_unescape(char *s, size_t len);
static int sums_hex(const char *s, size_t n);
static int sums_white(char c);

char *
sums_tag(const char *algorithm)
{
    if (strcmp(algorithm, "blake2b512") == 0)
        return xstrdup("BLAKE2b");
    char *t = xstrdup(algorithm);
    for (char *p = t; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    return t;
}

int
sums_needs_escape(const char *name)
{
    return strpbrk(name, "\\\n\r") != NULL;
}

void
sums_put_name(FILE *out, const char *name, int escape)
{
    if (!escape) {
        fputs(name, out);
        return;
    }
    for (const char *p = name; *p; p++) {
        switch (*p) {
        case '\\':
            fputs("\\\\", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        default:
            putc(*p, out);
            break;
        }
    }
}

char *
sums_quote(const char *name)
{
    /* Characters a shell leaves alone need no quotes. */
    static const char safe[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQ"
                               "RSTUVWXYZ0123456789_./-+,:=@%^";
    size_t n = strlen(name);
    if (n > 0 && strspn(name, safe) == n)
        return xstrdup(name);

    /* Worst case: every byte becomes '$'\ooo'' (8 bytes) plus quotes. */
    char *out = xmalloc(n * 8 + 3), *o = out;
    int open = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (*p >= 0x20 && *p != 0x7f) {
            if (!open) {
                *o++ = '\'';
                open = 1;
            }
            if (*p == '\'') {
                memcpy(o, "'\\''", 4);
                o += 4;
            } else {
                *o++ = (char)*p;
            }
            continue;
        }
        if (open) {
            *o++ = '\'';
            open = 0;
        }
        const char *esc = *p == '\n'   ? "\\n"
                          : *p == '\r' ? "\\r"
                          : *p == '\t' ? "\\t"
                                       : NULL;
        if (esc != NULL)
            o += sprintf(o, "$'%s'", esc);
        else
            o += sprintf(o, "$'\\%03o'", *p);
    }
    if (open)
        *o++ = '\'';
    if (o == out) {
        *o++ = '\'';
        *o++ = '\'';
    }
    *o = '\0';
    return out;
}

static int
sums_white(char c)
{
    return c == ' ' || c == '\t';
}

/* True if s[0..n) are all hex digits and s[n] ends the string. */
static int
sums_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return s[n] == '\0';
}

/* Undoes the escaping of s[0..len) in place.  Returns 0, or -1 if bad. */
static int
sums_unescape(char *s, size_t len)
{
    char *d = s;
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '\0')
            return -1;
        if (s[i] != '\\') {
            *d++ = s[i];
            continue;
        }
        if (++i == len)
            return -1;
        switch (s[i]) {
        case 'n':
            *d++ = '\n';
            break;
        case 'r':
            *d++ = '\r';
            break;
        case '\\':
            *d++ = '\\';
            break;
        default:
            return -1;
        }
    }
    *d = '\0';
    return 0;
}

int
sums_parse(struct sums_parser *p, char *s, size_t len, struct sums_line *out)
{
    size_t i = 0, taglen = strlen(p->tag);
    int escaped = 0;

    if (len > 0 && s[0] == '#')
        return 0;
    if (len > 0 && s[len - 1] == '\r')
        len--;
    s[len] = '\0';
    if (len == 0)
        return 0;

    while (sums_white(s[i]))
        i++;
    if (s[i] == '\\') {
        i++;
        escaped = 1;
    }

    /* "TAG (NAME) = HEX" */
    if (strncmp(s + i, p->tag, taglen) == 0) {
        i += taglen;
        if (s[i] == ' ')
            i++;
        if (s[i] != '(')
            return -1;
        i++;
        char *name = s + i;
        size_t n = len - i, j;
        if (n == 0)
            return -1;
        for (j = n - 1; j > 0 && name[j] != ')'; j--)
            ;
        if (name[j] != ')')
            return -1;
        /* Unescaped, the name ends at a NUL, as in coreutils. */
        if (escaped && sums_unescape(name, j) < 0)
            return -1;
        name[j++] = '\0';
        while (sums_white(name[j]))
            j++;
        if (name[j] != '=')
            return -1;
        j++;
        while (sums_white(name[j]))
            j++;
        if (!sums_hex(name + j, p->hexlen))
            return -1;
        out->hex = name + j;
        out->name = name;
        out->binary = 0;
        return 1;
    }

    /* "HEX  NAME", "HEX *NAME" or (BSD reversed) "HEX NAME" */
    if (len - i < p->hexlen + 2 + (s[i] == '\\'))
        return -1;
    out->hex = s + i;
    i += p->hexlen;
    if (!sums_white(s[i]))
        return -1;
    s[i++] = '\0';
    if (!sums_hex(out->hex, p->hexlen))
        return -1;
    out->binary = 0;
    if (len - i == 1 || (s[i] != ' ' && s[i] != '*')) {
        /* Do not mix the formats in one file (names with leading spaces). */
        if (p->reversed == 0)
            return -1;
        p->reversed = 1;
    } else if (p->reversed != 1) {
        p->reversed = 0;
        out->binary = s[i++] == '*';
    }
    out->name = s + i;
    /* Unescaped, the name ends at a NUL ("HEX  NAME\0" is accepted by
     * sha512sum -c); escaped, a NUL makes the line improper. */
    if (escaped)
        return sums_unescape(out->name, len - i) < 0 ? -1 : 1;
    return 1;
}
