/* SPDX-License-Identifier: MIT */
#include "castore.h"

#include <ctype.h>
#include <dirent.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>

/* "5a7722fb.0": 8 hex digits, '.', one or more digits.  (CRLs are
 * "<hash>.r0" and do not count: they verify nothing by themselves.) */
static int
hashed_name(const char *name)
{
    for (int i = 0; i < 8; i++)
        if (!isxdigit((unsigned char)name[i]))
            return 0;
    if (name[8] != '.' || !isdigit((unsigned char)name[9]))
        return 0;
    for (const char *c = name + 10; *c != '\0'; c++)
        if (!isdigit((unsigned char)*c))
            return 0;
    return 1;
}

static int
one_dir_is_hashed(const char *dir, size_t len)
{
    char path[4096];
    if (len == 0 || len >= sizeof(path))
        return 0;
    memcpy(path, dir, len);
    path[len] = '\0';
    DIR *d = opendir(path);
    if (d == NULL)
        return 0;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL)
        found = hashed_name(e->d_name);
    closedir(d);
    return found;
}

int
castore_dir_is_hashed(const char *dirs)
{
    const char *p = dirs;
    while (p != NULL && *p != '\0') {
        size_t len = strcspn(p, ":");
        if (one_dir_is_hashed(p, len))
            return 1;
        p += len;
        if (*p == ':')
            p++;
    }
    return 0;
}

/* Whether SSL_CERT_FILE names OpenSSL's default bundle itself (often
 * exported as /etc/ssl/certs/ca-certificates.crt; the default is
 * /usr/lib/ssl/cert.pem, a link to it): the same certificates as the
 * hashed directory update-ca-certificates writes beside it. */
static int
file_is_default(const char *file)
{
    char *a = realpath(file, NULL),
         *b = realpath(X509_get_default_cert_file(), NULL);
    int same = a != NULL && b != NULL && strcmp(a, b) == 0;
    free(a);
    free(b);
    return same;
}

int
castore_use_system(SSL_CTX *ctx)
{
    const char *file = getenv(X509_get_default_cert_file_env());
    if (file != NULL && !file_is_default(file))
        return SSL_CTX_set_default_verify_paths(ctx);
    const char *dirs = getenv(X509_get_default_cert_dir_env());
    if (dirs == NULL)
        dirs = X509_get_default_cert_dir();
    if (!castore_dir_is_hashed(dirs))
        return SSL_CTX_set_default_verify_paths(ctx);
    return SSL_CTX_load_verify_dir(ctx, dirs);
}
