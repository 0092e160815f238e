/* SPDX-License-Identifier: MIT */
/*
 * The system's CA store for a client TLS context, without reading all of it
 * at start-up.  OpenSSL's SSL_CTX_set_default_verify_paths() parses the
 * whole bundle (Debian's ca-certificates.crt: ~150 certificates, 30 ms of a
 * worker's 40 ms start-up); the hashed directory next to it
 * (/etc/ssl/certs/<subject hash>.0, made by update-ca-certificates) lets
 * OpenSSL read only the CA a handshake needs, once, and keep it.
 *
 * castore_use_system() uses that directory when it has hashed names in it,
 * and otherwise falls back to OpenSSL's defaults.  SSL_CERT_FILE, when set
 * to another file than the default bundle, is honoured as OpenSSL honours
 * it (the whole file is loaded); set to the default bundle itself (as
 * many environments export it) it is the directory's certificates.
 * SSL_CERT_DIR names the directory (a ':'-separated list) instead of the
 * built-in one.  Owns nothing: it only configures the context it is given.
 */
#ifndef CELERIAC_CASTORE_H
#define CELERIAC_CASTORE_H

#include <openssl/ssl.h>

/* 1 when the store is set up, 0 with OpenSSL's error queue filled (as
 * SSL_CTX_set_default_verify_paths()). */
int castore_use_system(SSL_CTX *ctx);

/* 1 when one of the ':'-separated directories in `dirs` holds a name that
 * looks like OpenSSL's hashed certificate links (8 hex digits, '.',
 * digits), 0 otherwise (missing, unreadable, or not rehashed). */
int castore_dir_is_hashed(const char *dirs);

#endif
