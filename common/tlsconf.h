/* SPDX-License-Identifier: MIT */
/*
 * TLS settings for rediss:// connections, shared by the worker and the CLI:
 * which CAs to trust (the system store unless --tls-ca-file/--tls-ca-dir),
 * the client certificate and key (--tls-cert/--tls-key), and the rules
 * every connection follows: TLS 1.2 or newer, the server's certificate
 * verified against the CAs and against the host name of the URL (or its IP
 * address), SNI set to that name.  There is no switch to turn verification
 * off: a server with a private CA is trusted with --tls-ca-file.
 *
 * Each setting may come from the environment too: CELERIAC_TLS_CA_FILE,
 * CELERIAC_TLS_CA_DIR, CELERIAC_TLS_CERT, CELERIAC_TLS_KEY.
 */
#ifndef CELERIAC_TLSCONF_H
#define CELERIAC_TLSCONF_H

#include <openssl/ssl.h>

/* Every string is owned by the struct; NULL when not set. */
struct tlsconf {
    char *ca_file; /* PEM file of trusted CAs */
    char *ca_dir;  /* directory of hashed CA certificates (c_rehash) */
    char *cert;    /* PEM client certificate (chain) */
    char *key;     /* PEM private key; NULL: in the cert file */
};

/*
 * Sets the setting named name ("tls-ca-file", "tls-ca-dir", "tls-cert",
 * "tls-key") to a copy of value.  Returns 0, or -1 for an unknown name.
 */
int tlsconf_set(struct tlsconf *t, const char *name, const char *value);
/* Fills every setting not yet set from its CELERIAC_TLS_* variable. */
void tlsconf_env(struct tlsconf *t);
void tlsconf_clear(struct tlsconf *t);

/*
 * A client SSL_CTX with t's CAs and certificate.  Returns it (the caller
 * frees it with SSL_CTX_free()), or NULL with *cause set to a message the
 * caller frees, saying which file is wrong and what to give instead.
 */
SSL_CTX *tlsconf_ctx_new(const struct tlsconf *t, char **cause);
/*
 * A new SSL for a connection to host: SNI (for a name, not an address)
 * and the name or address the certificate must show.  NULL on failure
 * with *cause set (caller frees).
 */
SSL *tlsconf_ssl_new(SSL_CTX *ctx, const char *host, char **cause);
/*
 * Why a handshake with ssl failed, as one line that says what to do
 * (verification result, OpenSSL's error queue, which is emptied).  where
 * names the server.  Caller frees.
 */
char *tlsconf_explain(SSL *ssl, unsigned long ssl_err, const char *where);

#endif
