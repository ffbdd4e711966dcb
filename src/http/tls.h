/* HTTPS for the server (GnuTLS, through libmicrohttpd): the certificate and
 * key are read from PEM files and can be read again (SIGHUP) without a
 * restart: connections already open keep the credentials they began with,
 * new handshakes get the new ones. Private to src/http/. */
#ifndef LAIR_HTTP_TLS_H
#define LAIR_HTTP_TLS_H

#include <stdbool.h>

#include "core/err.h"

/* TLS 1.2 and 1.3 only, AEAD ciphers with forward secrecy, the server's
 * order (GnuTLS priority string, for MHD_OPTION_HTTPS_PRIORITIES). */
#define HTTP_TLS_PRIORITIES                                                                        \
    "SECURE192:+SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-CIPHER-ALL:+CHACHA20-POLY1305" \
    ":+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE"

struct http_tls;

/* Reads cert_file (the certificate chain, PEM) and key_file (PEM).
 * OUT: *out OWNED (http_tls_free). Errors: LAIR_EIO (unreadable),
 * LAIR_EINVAL (not a certificate and key that belong together; the
 * message is logged). */
enum lair_err http_tls_new(const char *cert_file, const char *key_file, struct http_tls **out);
/* Reads the files again; on error the credentials in use stay. */
enum lair_err http_tls_reload(struct http_tls *t);
void http_tls_free(struct http_tls *t);

/* The GnuTLS certificate callback for MHD_OPTION_HTTPS_CERT_CALLBACK; it
 * serves the credentials of the one http_tls of the process (set by
 * http_tls_new). */
void *http_tls_callback(void);

#endif
