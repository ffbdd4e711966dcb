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

/* ---- back-channel logout (OpenID Connect Back-Channel Logout 1.0) ---- */

#define OIDC_LOGOUT_EVENT "http://schemas.openid.net/event/backchannel-logout"
#define OIDC_LOGOUT_MAX_AGE 300 /* seconds a logout token's iat may be old (beyond the skew) */

/* Whom a verified logout token signs out: the person (sub), one of their
 * sessions at the provider (sid), or both. One may be "", never both. */
struct oidc_logout {
    char sub[256];
    char sid[256];
};

/* Verifies the logout token the provider POSTed to
 * <public_url>/auth/backchannel-logout/<id>: the signature with the
 * provider's JWKS (fetched again once for an unknown kid; algorithms as for
 * ID tokens), iss, aud (azp), exp when present, iat present and at most
 * OIDC_LOGOUT_MAX_AGE seconds old, jti, the back-channel logout member of
 * events (an object), sub and/or sid, and no nonce (an ID token is not a
 * logout token). A jti already accepted from this provider is refused: the
 * relying party remembers each one (in memory, bounded) for as long as its
 * token would be accepted. LAIR_EAUTH with why on any refusal, LAIR_ENET
 * when the provider's discovery document cannot be had. */
enum lair_err oidc_verify_logout_token(struct oidc_rp *rp, const struct oidc_provider *p,
                                       const char *token, struct oidc_logout *out, char *why,
                                       size_t cap);

/* ---- exposed for the unit tests ---- */

/* What a JWT must satisfy. */
struct oidc_expect {
    const char *issuer, *client_id;
    const char *nonce;        /* NULL: not checked (userinfo) */
    const char *required_acr; /* comma list; NULL or "": not checked */
    int64_t now;
    int64_t skew;  /* seconds of clock skew allowed */
    bool need_exp; /* ID tokens: exp and iat required */
    bool logout;   /* a logout token: iat at most max_age old, jti, events, sub or sid, no
                      nonce (nonce and required_acr are not used) */
    int64_t max_age;
};
/* Outcome of a verification: LAIR_OK, or LAIR_EAUTH with why. *unknown_kid
 * is set when no key of jwks has the token's kid (the caller fetches the
 * JWKS again). OUT: *claims OWNED. */
enum lair_err oidc_verify_jwt(const json_t *jwks, const char *compact, const struct oidc_expect *x,
                              json_t **claims, bool *unknown_kid, char *why, size_t cap);
/* Remembers that provider_id's token jti was accepted, until the time
 * until. False when it was already remembered and has not expired (a
 * replay). The set holds OIDC_JTI_MAX entries: when it is full of unexpired
 * ones, the one that expires first is forgotten (logged). */
#define OIDC_JTI_MAX 4096
bool oidc_rp_jti_claim(struct oidc_rp *rp, const char *provider_id, const char *jti, int64_t until,
                       int64_t now);
/* base64url(SHA-256(verifier)), the S256 code challenge. */
void oidc_pkce_challenge(const char *verifier, char out[64]);

#endif
