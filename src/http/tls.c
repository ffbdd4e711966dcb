/* HTTPS credentials (tls.h). libmicrohttpd asks for the certificate at each
 * handshake through GnuTLS's retrieve callback, so that a reload swaps the
 * credentials under a lock; the previous ones are kept until the server
 * stops, since a session that began with them may still refer to them. */
#include "http/tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#include "core/banned.h"

#define MAX_CHAIN 16

struct cred {
    gnutls_pcert_st certs[MAX_CHAIN];
    unsigned n_certs;
    gnutls_privkey_t key;
    struct cred *older; /* retired by a reload, freed with the server */
};

struct http_tls {
    char *cert_file, *key_file;
    pthread_mutex_t mu;
    struct cred *cur; /* under mu */
};

/* The callback has no user argument: one server per process. */
static struct http_tls *the_tls;

static void cred_free(struct cred *c)
{
    while (c) {
        struct cred *older = c->older;
        for (unsigned i = 0; i < c->n_certs; i++)
            gnutls_pcert_deinit(&c->certs[i]);
        if (c->key)
            gnutls_privkey_deinit(c->key);
        free(c);
        c = older;
    }
}

/* Reads a certificate chain and its key; checks that they belong together
 * by signing and verifying a probe. */
static enum lair_err cred_load(const char *cert_file, const char *key_file, struct cred **out)
{
    gnutls_datum_t cert = {0}, key = {0};
    struct cred *c = calloc(1, sizeof(*c));
    enum lair_err e = c ? LAIR_OK : LAIR_ENOMEM;
    int rc;
    if (!e && (gnutls_load_file(cert_file, &cert) < 0 || gnutls_load_file(key_file, &key) < 0)) {
        log_error("tls", "cannot read %s or %s", cert_file, key_file);
        e = LAIR_EIO;
    }
    if (c)
        c->n_certs = MAX_CHAIN;
    if (!e && (rc = gnutls_pcert_list_import_x509_raw(c->certs, &c->n_certs, &cert,
                                                      GNUTLS_X509_FMT_PEM, 0)) < 0) {
        log_error("tls", "%s: not a PEM certificate chain: %s", cert_file, gnutls_strerror(rc));
        c->n_certs = 0;
        e = LAIR_EINVAL;
    }
    if (!e && ((rc = gnutls_privkey_init(&c->key)) < 0 ||
               (rc = gnutls_privkey_import_x509_raw(c->key, &key, GNUTLS_X509_FMT_PEM, NULL,
                                                    0)) < 0)) {
        log_error("tls", "%s: not a PEM private key: %s", key_file, gnutls_strerror(rc));
        e = LAIR_EINVAL;
    }
    if (!e) {
        gnutls_datum_t probe = {(unsigned char *)"libreair", 8}, sig = {0};
        rc = gnutls_privkey_sign_data(c->key, GNUTLS_DIG_SHA256, 0, &probe, &sig);
        if (rc >= 0) {
            gnutls_sign_algorithm_t algo = gnutls_pk_to_sign(
                gnutls_pubkey_get_pk_algorithm(c->certs[0].pubkey, NULL), GNUTLS_DIG_SHA256);
            rc = gnutls_pubkey_verify_data2(c->certs[0].pubkey, algo, 0, &probe, &sig);
        }
        gnutls_free(sig.data);
        if (rc < 0) {
            log_error("tls", "%s does not belong to the certificate of %s", key_file, cert_file);
            e = LAIR_EINVAL;
        }
    }
    if (key.data)
        gnutls_memset(key.data, 0, key.size);
    gnutls_free(cert.data);
    gnutls_free(key.data);
    if (e) {
        cred_free(c);
        return e;
    }
    *out = c;
    return LAIR_OK;
}

static int retrieve(gnutls_session_t session, const gnutls_datum_t *req_ca_rdn, int nreqs,
                    const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                    gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_privkey_t *privkey)
{
    (void)session, (void)req_ca_rdn, (void)nreqs, (void)pk_algos, (void)pk_algos_length;
    struct http_tls *t = the_tls;
    if (!t)
        return -1;
    pthread_mutex_lock(&t->mu);
    *pcert = t->cur->certs;
    *pcert_length = t->cur->n_certs;
    *privkey = t->cur->key;
    pthread_mutex_unlock(&t->mu);
    return 0;
}

void *http_tls_callback(void)
{
    return (void *)&retrieve;
}

enum lair_err http_tls_new(const char *cert_file, const char *key_file, struct http_tls **out)
{
    struct http_tls *t = calloc(1, sizeof(*t));
    if (!t)
        return LAIR_ENOMEM;
    pthread_mutex_init(&t->mu, NULL);
    t->cert_file = strdup(cert_file);
    t->key_file = strdup(key_file);
    enum lair_err e = t->cert_file && t->key_file ? cred_load(cert_file, key_file, &t->cur)
                                                  : LAIR_ENOMEM;
    if (e) {
        http_tls_free(t);
        return e;
    }
    the_tls = t;
    *out = t;
    return LAIR_OK;
}

enum lair_err http_tls_reload(struct http_tls *t)
{
    struct cred *c;
    enum lair_err e = cred_load(t->cert_file, t->key_file, &c);
    if (e)
        return e;
    pthread_mutex_lock(&t->mu);
    c->older = t->cur;
    t->cur = c;
    pthread_mutex_unlock(&t->mu);
    log_info("tls", "certificate read again from %s", t->cert_file);
    return LAIR_OK;
}

void http_tls_free(struct http_tls *t)
{
    if (!t)
        return;
    if (the_tls == t)
        the_tls = NULL;
    cred_free(t->cur);
    free(t->cert_file);
    free(t->key_file);
    pthread_mutex_destroy(&t->mu);
    free(t);
}
