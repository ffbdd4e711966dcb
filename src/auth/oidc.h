/* OpenID Connect relying party: the authorization code flow with PKCE, state
 * and nonce, against providers the operator configures (ProConnect, a
 * collectivité's Keycloak…). Discovery documents and JWKS are fetched with
 * libcurl and cached (a token signed by an unknown key id fetches the JWKS
 * again: key rotation); signatures are verified with cjose (RS256, ES256 and
 * their siblings; "none" and HMAC are refused). docs/oidc.md.
 *
 * Nothing here knows about tenants or sessions: it turns a provider's answer
 * into verified claims (api/auth.c does the rest). */
#ifndef LAIR_AUTH_OIDC_H
#define LAIR_AUTH_OIDC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"

struct oidc_rp;

/* One provider, as configured ("oidc.providers" in the configuration). */
struct oidc_provider {
    char id[64];    /* [a-z0-9-], used in URLs and stored with members */
    char name[128]; /* shown on the sign-in page */
    char issuer[512];
    char client_id[256];
    char client_secret[256];
    char scopes[256];            /* default "openid email profile" */
    char acr_values[128];        /* asked for ("eidas1"); "" none */
    char required_acr[256];      /* comma-separated acr accepted; "" = not checked */
    char claim_siret[64];        /* default "siret" */
    char claim_groups[64];       /* default "groups" */
    char claim_email[64];        /* default "email" */
    bool require_email_verified; /* default false: ProConnect's emails are verified by construction
                                  */
};

/* Parses cfg (the "oidc" object: {"public_url": "...", "providers": [...]})
 * and creates the relying party. A provider's client_secret may be given as
 * "client_secret_file" (read once, trimmed). On error, why says what is
 * wrong (field and provider). public_url is the server's external URL
 * ("https://assistant.mairie.fr"), from which redirect URIs are made. */
enum lair_err oidc_rp_new(const json_t *cfg, struct oidc_rp **out, char *why, size_t cap);
void oidc_rp_free(struct oidc_rp *rp);

size_t oidc_rp_count(const struct oidc_rp *rp);
const struct oidc_provider *oidc_rp_at(const struct oidc_rp *rp, size_t i);
const struct oidc_provider *oidc_rp_find(const struct oidc_rp *rp, const char *id);
const char *oidc_rp_public_url(const struct oidc_rp *rp);

/* The provider's authorization URL for this sign-in (fetches the discovery
 * document if needed). OUT: *url OWNED (free()). */
enum lair_err oidc_authorize_url(struct oidc_rp *rp, const struct oidc_provider *p,
                                 const char *state, const char *nonce, const char *verifier,
                                 char **url, char *why, size_t cap);

/* What a finished sign-in proved. */
struct oidc_result {
    json_t *claims; /* ID token claims, merged with the (verified) userinfo's */
    char *id_token; /* OWNED, for RP-initiated logout */
};
void oidc_result_clear(struct oidc_result *r);

/* Exchanges code (with the PKCE verifier), verifies the ID token (signature,
 * iss, aud, azp, exp, iat, nonce, acr) and the userinfo (signed or plain;
 * its sub must be the ID token's). LAIR_EAUTH with why on any refusal. */
enum lair_err oidc_finish(struct oidc_rp *rp, const struct oidc_provider *p, const char *code,
                          const char *nonce, const char *verifier, struct oidc_result *out,
                          char *why, size_t cap);

/* The provider's end-session URL (RP-initiated logout), or *url NULL when it
 * has none. */
enum lair_err oidc_logout_url(struct oidc_rp *rp, const struct oidc_provider *p,
                              const char *id_token, const char *state, char **url);

/* ---- exposed for the unit tests ---- */

/* What a JWT must satisfy. */
struct oidc_expect {
    const char *issuer, *client_id;
    const char *nonce;        /* NULL: not checked (userinfo) */
    const char *required_acr; /* comma list; NULL or "": not checked */
    int64_t now;
    int64_t skew;  /* seconds of clock skew allowed */
    bool need_exp; /* ID tokens: exp and iat required */
};
/* Outcome of a verification: LAIR_OK, or LAIR_EAUTH with why. *unknown_kid
 * is set when no key of jwks has the token's kid (the caller fetches the
 * JWKS again). OUT: *claims OWNED. */
enum lair_err oidc_verify_jwt(const json_t *jwks, const char *compact, const struct oidc_expect *x,
                              json_t **claims, bool *unknown_kid, char *why, size_t cap);
/* base64url(SHA-256(verifier)), the S256 code challenge. */
void oidc_pkce_challenge(const char *verifier, char out[64]);

#endif
