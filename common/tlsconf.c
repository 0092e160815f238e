/* SPDX-License-Identifier: MIT */
/* TLS settings and the checks every rediss:// connection makes (tlsconf.h). */
#include "tlsconf.h"

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "castore.h"
#include "xmalloc.h"

static char *tlsconf_ssl_reason(void);

/* The settings by name, with their environment variables. */
static const struct {
    const char *name;
    const char *env;
    size_t off;
} tlsconf_fields[] = {
    {"tls-ca-file", "CELERIAC_TLS_CA_FILE", offsetof(struct tlsconf, ca_file)},
    {"tls-ca-dir", "CELERIAC_TLS_CA_DIR", offsetof(struct tlsconf, ca_dir)},
    {"tls-cert", "CELERIAC_TLS_CERT", offsetof(struct tlsconf, cert)},
    {"tls-key", "CELERIAC_TLS_KEY", offsetof(struct tlsconf, key)},
};
#define TLSCONF_NFIELDS (sizeof(tlsconf_fields) / sizeof(tlsconf_fields[0]))

int
tlsconf_set(struct tlsconf *t, const char *name, const char *value)
{
    for (size_t i = 0; i < TLSCONF_NFIELDS; i++) {
        if (strcmp(name, tlsconf_fields[i].name) != 0)
            continue;
        char **slot = (char **)((char *)t + tlsconf_fields[i].off);
        free(*slot);
        *slot = xstrdup(value);
        return 0;
    }
    return -1;
}

void
tlsconf_env(struct tlsconf *t)
{
    for (size_t i = 0; i < TLSCONF_NFIELDS; i++) {
        char **slot = (char **)((char *)t + tlsconf_fields[i].off);
        const char *v = getenv(tlsconf_fields[i].env);
        if (*slot == NULL && v != NULL && *v != '\0')
            *slot = xstrdup(v);
    }
}

void
tlsconf_clear(struct tlsconf *t)
{
    free(t->ca_file);
    free(t->ca_dir);
    free(t->cert);
    free(t->key);
    memset(t, 0, sizeof(*t));
}

/* OpenSSL's first queued error as text (the queue is emptied); owned. */
static char *
tlsconf_ssl_reason(void)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    ERR_clear_error();
    if (e == 0)
        return xstrdup("unknown error");
    if (ERR_SYSTEM_ERROR(e))
        return xstrdup(strerror(ERR_GET_REASON(e)));
    ERR_error_string_n(e, buf, sizeof(buf));
    const char *r = ERR_reason_error_string(e);
    return xstrdup(r != NULL ? r : buf);
}

SSL_CTX *
tlsconf_ctx_new(const struct tlsconf *t, char **cause)
{
    char *why = NULL;
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL) {
        why = tlsconf_ssl_reason();
        *cause = xasprintf("cannot set up TLS: %s", why);
        free(why);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (t->ca_file != NULL || t->ca_dir != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, t->ca_file, t->ca_dir) != 1) {
            why = tlsconf_ssl_reason();
            *cause = xasprintf("cannot load the CA certificates from %s "
                               "'%s': %s — give a PEM file of CA "
                               "certificates (--tls-ca-file) or a directory "
                               "prepared with c_rehash (--tls-ca-dir)",
                               t->ca_file ? "--tls-ca-file" : "--tls-ca-dir",
                               t->ca_file ? t->ca_file : t->ca_dir, why);
            goto fail;
        }
    } else if (castore_use_system(ctx) != 1) {
        why = tlsconf_ssl_reason();
        *cause = xasprintf("cannot load the system's CA certificates: %s — "
                           "install ca-certificates or give --tls-ca-file",
                           why);
        goto fail;
    }
    if (t->key != NULL && t->cert == NULL) {
        *cause = xstrdup("--tls-key was given without --tls-cert — give the "
                         "client certificate too");
        goto fail;
    }
    if (t->cert != NULL) {
        const char *key = t->key != NULL ? t->key : t->cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1) {
            why = tlsconf_ssl_reason();
            *cause = xasprintf("cannot load the client certificate "
                               "--tls-cert '%s': %s — give a PEM "
                               "certificate file",
                               t->cert, why);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
            why = tlsconf_ssl_reason();
            *cause =
                xasprintf("cannot load the private key %s '%s': %s — "
                          "give the certificate's PEM key file "
                          "(unencrypted) with --tls-key",
                          t->key ? "--tls-key" : "from --tls-cert", key, why);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            why = tlsconf_ssl_reason();
            *cause = xasprintf("the key '%s' does not belong to the "
                               "certificate '%s': %s — give the matching "
                               "--tls-key",
                               key, t->cert, why);
            goto fail;
        }
    }
    return ctx;
fail:
    free(why);
    SSL_CTX_free(ctx);
    return NULL;
}

SSL *
tlsconf_ssl_new(SSL_CTX *ctx, const char *host, char **cause)
{
    unsigned char addr[16];
    SSL *ssl = SSL_new(ctx);
    int ok;

    if (ssl == NULL) {
        char *why = tlsconf_ssl_reason();
        *cause = xasprintf("cannot set up TLS: %s", why);
        free(why);
        return NULL;
    }
    if (inet_pton(AF_INET, host, addr) == 1 ||
        inet_pton(AF_INET6, host, addr) == 1) {
        /* An address: the certificate must list it; no SNI (RFC 6066). */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host) == 1;
    } else {
        ok = SSL_set1_host(ssl, host) == 1 &&
             SSL_set_tlsext_host_name(ssl, host) == 1;
    }
    if (!ok) {
        char *why = tlsconf_ssl_reason();
        *cause = xasprintf("cannot check TLS certificates for the host "
                           "'%s': %s",
                           host, why);
        free(why);
        SSL_free(ssl);
        return NULL;
    }
    return ssl;
}

char *
tlsconf_explain(SSL *ssl, unsigned long ssl_err, const char *where)
{
    long v = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
    int lib = ssl_err != 0 ? ERR_GET_LIB(ssl_err) : 0;
    int reason = ssl_err != 0 ? ERR_GET_REASON(ssl_err) : 0;
    const char *what = ssl_err != 0 ? ERR_reason_error_string(ssl_err) : NULL;

    ERR_clear_error();
    if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED &&
        v != X509_V_OK) {
        const char *vs = X509_verify_cert_error_string(v);
        if (v == X509_V_ERR_HOSTNAME_MISMATCH ||
            v == X509_V_ERR_IP_ADDRESS_MISMATCH)
            return xasprintf("the TLS certificate of %s is not valid for "
                             "that host name (%s) — connect with the name "
                             "the certificate was issued for, or fix the "
                             "server's certificate",
                             where, vs);
        return xasprintf("the TLS certificate of %s was refused: %s — give "
                         "the CA that signed it with --tls-ca-file, or fix "
                         "the server's certificate",
                         where, vs);
    }
    if (lib == ERR_LIB_SSL && (reason == SSL_R_WRONG_VERSION_NUMBER ||
                               reason == SSL_R_PACKET_LENGTH_TOO_LONG ||
                               reason == SSL_R_UNEXPECTED_EOF_WHILE_READING))
        return xasprintf("%s does not speak TLS (%s) — is it a plain Redis "
                         "port? use redis:// (or sentinel://) for a "
                         "server without TLS",
                         where, what ? what : "bad handshake");
    if (lib == ERR_LIB_SSL &&
        (reason == SSL_R_TLSV1_ALERT_UNKNOWN_CA ||
         reason == SSL_R_SSLV3_ALERT_BAD_CERTIFICATE ||
         reason == SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED ||
         reason == SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE))
        return xasprintf("%s refused the TLS handshake (%s) — it may want a "
                         "client certificate it trusts: give --tls-cert and "
                         "--tls-key",
                         where, what ? what : "alert");
    if (lib == ERR_LIB_SSL && (reason == SSL_R_UNSUPPORTED_PROTOCOL ||
                               reason == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION))
        return xasprintf("%s offers no TLS version this client accepts "
                         "(%s) — the server must allow TLS 1.2 or newer",
                         where, what ? what : "protocol version");
    if (what == NULL) /* no alert read: the server closed the link (with
                       * TLS 1.3 also when it refused a client's
                       * missing certificate) */
        return xasprintf("TLS handshake with %s failed: the server closed "
                         "the connection — check that the port is its TLS "
                         "port, and whether it wants a client certificate "
                         "(--tls-cert and --tls-key)",
                         where);
    return xasprintf("TLS handshake with %s failed: %s — check that the "
                     "port is the server's TLS port and the TLS settings",
                     where, what);
}
