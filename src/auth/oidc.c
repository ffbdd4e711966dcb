/* OpenID Connect relying party (see auth/oidc.h). */
#include "auth/oidc.h"

#include <cjose/cjose.h>
#include <curl/curl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/banned.h"

#define FETCH_MAX (1u << 20) /* bytes of any answer from a provider */
#define FETCH_TIMEOUT_S 10
#define DISCOVERY_TTL 3600 /* seconds a discovery document is kept */
#define JWKS_REFETCH_MIN 1 /* seconds between two JWKS fetches for an unknown kid */
#define SKEW 120           /* seconds of clock difference tolerated */

struct provider_state {
    struct oidc_provider cfg;
    pthread_mutex_t mu;
    json_t *discovery; /* OWNED */
    int64_t discovery_at;
    json_t *jwks; /* OWNED */
    int64_t jwks_at;
};

/* A logout token's jti, remembered (keyed hash of provider id and jti) until
 * its token would be refused as too old anyway. */
struct jti_seen {
    unsigned char h[16];
    int64_t until;
};

struct oidc_rp {
    char public_url[512];
    size_t n;
    struct provider_state *p;
    pthread_mutex_t jti_mu;
    struct jti_seen *jti; /* OIDC_JTI_MAX entries */
    size_t jti_n;
    int64_t jti_warned; /* when the set was last found full (logged once a minute) */
};

__attribute__((format(printf, 3, 4))) static void say(char *why, size_t cap, const char *fmt, ...)
{
    if (!why || !cap)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

/* ---- configuration ---- */

static bool id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n >= 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

/* http:// is accepted for loopback addresses only (a provider on the same
 * machine, or the tests'); anything else must be https. */
static bool url_acceptable(const char *u)
{
    if (!strncmp(u, "https://", 8))
        return strlen(u) > 8;
    static const char *const loop[] = {"http://127.0.0.1:", "http://127.0.0.1/",
                                       "http://localhost:", "http://localhost/",
                                       "http://[::1]:",     "http://[::1]/"};
    for (size_t i = 0; i < sizeof(loop) / sizeof(loop[0]); i++)
        if (!strncmp(u, loop[i], strlen(loop[i])))
            return true;
    return false;
}

static bool copy_field(const json_t *o, const char *k, char *out, size_t cap, const char *def)
{
    const json_t *v = json_object_get(o, k);
    if (!v) {
        snprintf(out, cap, "%s", def);
        return true;
    }
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return false;
    snprintf(out, cap, "%s", json_string_value(v));
    return true;
}

static bool read_secret_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(out, 1, cap - 1, f);
    bool full = !feof(f) && n == cap - 1;
    fclose(f);
    out[n] = 0;
    while (n && (out[n - 1] == '\n' || out[n - 1] == '\r' || out[n - 1] == ' '))
        out[--n] = 0;
    return !full && n > 0;
}

static enum lair_err provider_parse(const json_t *o, struct oidc_provider *p, char *why, size_t cap)
{
    memset(p, 0, sizeof(*p));
    if (!json_is_object(o)) {
        say(why, cap, "oidc.providers: each provider is an object");
        return LAIR_EINVAL;
    }
    static const char *const known[] = {"id",
                                        "name",
                                        "issuer",
                                        "client_id",
                                        "client_secret",
                                        "client_secret_file",
                                        "scopes",
                                        "acr_values",
                                        "required_acr",
                                        "claims",
                                        "require_email_verified"};
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        bool ok = false;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            ok |= !strcmp(k, known[i]);
        if (!ok) {
            say(why, cap, "oidc.providers: unknown field \"%s\"", k);
            return LAIR_EINVAL;
        }
    }
    const json_t *claims = json_object_get(o, "claims");
    if (claims && !json_is_object(claims)) {
        say(why, cap, "oidc.providers: \"claims\" is an object");
        return LAIR_EINVAL;
    }
    if (!copy_field(o, "id", p->id, sizeof(p->id), "") || !id_valid(p->id)) {
        say(why, cap, "oidc.providers: \"id\" is 1 to 63 characters a-z, 0-9 or '-'");
        return LAIR_EINVAL;
    }
    if (!copy_field(o, "name", p->name, sizeof(p->name), p->id) ||
        !copy_field(o, "issuer", p->issuer, sizeof(p->issuer), "") ||
        !copy_field(o, "client_id", p->client_id, sizeof(p->client_id), "") ||
        !copy_field(o, "client_secret", p->client_secret, sizeof(p->client_secret), "") ||
        !copy_field(o, "scopes", p->scopes, sizeof(p->scopes), "openid email profile") ||
        !copy_field(o, "acr_values", p->acr_values, sizeof(p->acr_values), "") ||
        !copy_field(o, "required_acr", p->required_acr, sizeof(p->required_acr), "") ||
        !copy_field(claims, "siret", p->claim_siret, sizeof(p->claim_siret), "siret") ||
        !copy_field(claims, "groups", p->claim_groups, sizeof(p->claim_groups), "groups") ||
        !copy_field(claims, "email", p->claim_email, sizeof(p->claim_email), "email")) {
        say(why, cap, "oidc provider %s: a field is not a string or is too long", p->id);
        return LAIR_EINVAL;
    }
    const json_t *ev = json_object_get(o, "require_email_verified");
    if (ev && !json_is_boolean(ev)) {
        say(why, cap, "oidc provider %s: \"require_email_verified\" is true or false", p->id);
        return LAIR_EINVAL;
    }
    p->require_email_verified = json_is_true(ev);
    size_t il = strlen(p->issuer);
    if (!il || !url_acceptable(p->issuer)) {
        say(why, cap,
            "oidc provider %s: \"issuer\" must be an https:// URL (http:// only on loopback)",
            p->id);
        return LAIR_EINVAL;
    }
    if (!p->client_id[0]) {
        say(why, cap, "oidc provider %s: \"client_id\" is required", p->id);
        return LAIR_EINVAL;
    }
    const json_t *sf = json_object_get(o, "client_secret_file");
    if (sf && (!json_is_string(sf) || !read_secret_file(json_string_value(sf), p->client_secret,
                                                        sizeof(p->client_secret)))) {
        say(why, cap, "oidc provider %s: cannot read \"client_secret_file\" %s", p->id,
            json_is_string(sf) ? json_string_value(sf) : "");
        return LAIR_EINVAL;
    }
    if (!p->client_secret[0]) {
        say(why, cap, "oidc provider %s: \"client_secret\" or \"client_secret_file\" is required",
            p->id);
        return LAIR_EINVAL;
    }
    if (!strstr(p->scopes, "openid")) {
        say(why, cap, "oidc provider %s: \"scopes\" must include openid", p->id);
        return LAIR_EINVAL;
    }
    return LAIR_OK;
}

enum lair_err oidc_rp_new(const json_t *cfg, struct oidc_rp **out, char *why, size_t cap)
{
    *out = NULL;
    if (!json_is_object(cfg)) {
        say(why, cap, "\"oidc\" is an object");
        return LAIR_EINVAL;
    }
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)cfg, k, v)
    {
        if (strcmp(k, "public_url") && strcmp(k, "providers")) {
            say(why, cap, "oidc: unknown field \"%s\"", k);
            return LAIR_EINVAL;
        }
    }
    const json_t *pu = json_object_get(cfg, "public_url");
    const json_t *ps = json_object_get(cfg, "providers");
    if (!json_is_string(pu) || json_string_length(pu) >= 500 ||
        !(url_acceptable(json_string_value(pu)))) {
        say(why, cap,
            "oidc.public_url: the server's external URL, https:// (http:// only on loopback)");
        return LAIR_EINVAL;
    }
    if (!json_is_array(ps) || json_array_size(ps) == 0 || json_array_size(ps) > 16) {
        say(why, cap, "oidc.providers: an array of 1 to 16 providers");
        return LAIR_EINVAL;
    }
    struct oidc_rp *rp = calloc(1, sizeof(*rp));
    if (!rp)
        return LAIR_ENOMEM;
    rp->p = calloc(json_array_size(ps), sizeof(*rp->p));
    rp->jti = calloc(OIDC_JTI_MAX, sizeof(*rp->jti));
    if (!rp->p || !rp->jti) {
        free(rp->p);
        free(rp->jti);
        free(rp);
        return LAIR_ENOMEM;
    }
    pthread_mutex_init(&rp->jti_mu, NULL);
    snprintf(rp->public_url, sizeof(rp->public_url), "%s", json_string_value(pu));
    size_t ul = strlen(rp->public_url);
    while (ul && rp->public_url[ul - 1] == '/')
        rp->public_url[--ul] = 0;
    size_t i;
    const json_t *po;
    json_array_foreach(ps, i, po)
    {
        enum lair_err e = provider_parse(po, &rp->p[i].cfg, why, cap);
        for (size_t j = 0; !e && j < i; j++)
            if (!strcmp(rp->p[j].cfg.id, rp->p[i].cfg.id)) {
                say(why, cap, "oidc.providers: two providers have the id %s", rp->p[i].cfg.id);
                e = LAIR_EINVAL;
            }
        if (e) {
            rp->n = i;
            oidc_rp_free(rp);
            return e;
        }
        pthread_mutex_init(&rp->p[i].mu, NULL);
        rp->n = i + 1;
    }
    *out = rp;
    return LAIR_OK;
}

void oidc_rp_free(struct oidc_rp *rp)
{
    if (!rp)
        return;
    for (size_t i = 0; i < rp->n; i++) {
        json_decref(rp->p[i].discovery);
        json_decref(rp->p[i].jwks);
        sodium_memzero(rp->p[i].cfg.client_secret, sizeof(rp->p[i].cfg.client_secret));
        pthread_mutex_destroy(&rp->p[i].mu);
    }
    free(rp->p);
    free(rp->jti);
    pthread_mutex_destroy(&rp->jti_mu);
    free(rp);
}

size_t oidc_rp_count(const struct oidc_rp *rp)
{
    return rp ? rp->n : 0;
}
const struct oidc_provider *oidc_rp_at(const struct oidc_rp *rp, size_t i)
{
    return rp && i < rp->n ? &rp->p[i].cfg : NULL;
}
const struct oidc_provider *oidc_rp_find(const struct oidc_rp *rp, const char *id)
{
    for (size_t i = 0; rp && id && i < rp->n; i++)
        if (!strcmp(rp->p[i].cfg.id, id))
            return &rp->p[i].cfg;
    return NULL;
}
const char *oidc_rp_public_url(const struct oidc_rp *rp)
{
    return rp->public_url;
}

static struct provider_state *state_of(struct oidc_rp *rp, const struct oidc_provider *p)
{
    for (size_t i = 0; i < rp->n; i++)
        if (&rp->p[i].cfg == p)
            return &rp->p[i];
    return NULL;
}

/* ---- HTTP ---- */

struct fetch_buf {
    char *data;
    size_t len;
    bool over;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *arg)
{
    struct fetch_buf *b = arg;
    size_t add = size * n;
    if (b->len + add > FETCH_MAX) {
        b->over = true;
        return 0;
    }
    char *d = realloc(b->data, b->len + add + 1);
    if (!d)
        return 0;
    memcpy(d + b->len, ptr, add);
    b->len += add;
    d[b->len] = 0;
    b->data = d;
    return add;
}

/* GET (form NULL) or POST form to url. OUT: body (OWNED), status, content
 * type (may be NULL). LAIR_ENET when the provider cannot be reached. */
static enum lair_err fetch(const char *url, const char *form, const char *bearer,
                           const char *basic_user, const char *basic_pass, char **body,
                           long *status, char *ctype, size_t ctype_cap)
{
    *body = NULL;
    *status = 0;
    if (ctype_cap)
        ctype[0] = 0;
    if (!url_acceptable(url))
        return LAIR_ENET;
    CURL *c = curl_easy_init();
    if (!c)
        return LAIR_ENOMEM;
    struct fetch_buf b = {0};
    struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json, application/jwt");
    char auth[4200];
    if (bearer) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", bearer);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)FETCH_TIMEOUT_S);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "LibreAIr-OIDC");
    if (basic_user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, basic_user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, basic_pass);
    }
    if (form)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
    CURLcode rc = curl_easy_perform(c);
    enum lair_err e = LAIR_OK;
    if (rc != CURLE_OK) {
        log_warn("oidc", "%s: %s", url, curl_easy_strerror(rc));
        e = b.over ? LAIR_ETOOBIG : LAIR_ENET;
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        char *ct = NULL;
        curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct);
        if (ct && ctype_cap)
            snprintf(ctype, ctype_cap, "%s", ct);
    }
    curl_slist_free_all(h);
    sodium_memzero(auth, sizeof(auth));
    curl_easy_cleanup(c);
    if (e)
        free(b.data);
    else
        *body = b.data ? b.data : strdup("");
    return e || *body ? e : LAIR_ENOMEM;
}

static json_t *fetch_json(const char *url, char *why, size_t cap)
{
    char *body;
    long status;
    if (fetch(url, NULL, NULL, NULL, NULL, &body, &status, NULL, 0)) {
        say(why, cap, "the identity provider cannot be reached (%s)", url);
        return NULL;
    }
    json_t *j = status == 200 ? json_loads(body, JSON_REJECT_DUPLICATES, NULL) : NULL;
    free(body);
    if (!json_is_object(j)) {
        json_decref(j);
        say(why, cap, "the identity provider answered %s with no JSON document", url);
        return NULL;
    }
    return j;
}

static const json_t *discovery(struct provider_state *ps, char *why, size_t cap);

/* The discovery document as a reference of the caller's own (json_decref),
 * usable without ps->mu; NULL when it cannot be had. */
static json_t *discovery_ref(struct provider_state *ps, char *why, size_t cap)
{
    pthread_mutex_lock(&ps->mu);
    const json_t *d = discovery(ps, why, cap);
    json_t *dj = d ? json_incref((json_t *)d) : NULL;
    pthread_mutex_unlock(&ps->mu);
    return dj;
}

/* The discovery document, fetched or from the cache. BORROWED under ps->mu. */
static const json_t *discovery(struct provider_state *ps, char *why, size_t cap)
{
    int64_t now = (int64_t)time(NULL);
    if (ps->discovery && now - ps->discovery_at < DISCOVERY_TTL)
        return ps->discovery;
    char url[640];
    size_t il = strlen(ps->cfg.issuer);
    snprintf(url, sizeof(url), "%s%s.well-known/openid-configuration", ps->cfg.issuer,
             il && ps->cfg.issuer[il - 1] == '/' ? "" : "/");
    json_t *d = fetch_json(url, why, cap);
    if (!d)
        return ps->discovery; /* a stale one beats none while the provider is away */
    const char *iss = json_string_value(json_object_get(d, "issuer"));
    static const char *const need[] = {"authorization_endpoint", "token_endpoint", "jwks_uri"};
    bool ok = iss && !strcmp(iss, ps->cfg.issuer);
    for (size_t i = 0; ok && i < 3; i++) {
        const char *u = json_string_value(json_object_get(d, need[i]));
        ok = u && url_acceptable(u);
    }
    const char *ui = json_string_value(json_object_get(d, "userinfo_endpoint"));
    if (ok && ui && !url_acceptable(ui))
        ok = false;
    if (!ok) {
        say(why, cap,
            "the discovery document of %s names another issuer or lacks an endpoint "
            "(https required)",
            ps->cfg.issuer);
        json_decref(d);
        return NULL;
    }
    json_decref(ps->discovery);
    ps->discovery = d;
    ps->discovery_at = now;
    return d;
}

static const char *disc_str(const json_t *d, const char *k)
{
    return json_string_value(json_object_get(d, k));
}

/* Fetches the JWKS (again). Under ps->mu. */
static bool jwks_refresh(struct provider_state *ps, const json_t *d, char *why, size_t cap)
{
    int64_t now = (int64_t)time(NULL);
    if (ps->jwks && now - ps->jwks_at < JWKS_REFETCH_MIN)
        return false;
    json_t *j = fetch_json(disc_str(d, "jwks_uri"), why, cap);
    if (!j || !json_is_array(json_object_get(j, "keys"))) {
        json_decref(j);
        return false;
    }
    json_decref(ps->jwks);
    ps->jwks = j;
    ps->jwks_at = now;
    return true;
}

/* ---- tokens ---- */

void oidc_pkce_challenge(const char *verifier, char out[64])
{
    unsigned char h[32];
    crypto_hash_sha256(h, (const unsigned char *)verifier, strlen(verifier));
    sodium_bin2base64(out, 64, h, sizeof(h), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

static bool alg_accepted(const char *alg, const char **kty)
{
    static const char *const rsa[] = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"};
    static const char *const ec[] = {"ES256", "ES384", "ES512"};
    for (size_t i = 0; alg && i < 6; i++)
        if (!strcmp(alg, rsa[i])) {
            *kty = "RSA";
            return true;
        }
    for (size_t i = 0; alg && i < 3; i++)
        if (!strcmp(alg, ec[i])) {
            *kty = "EC";
            return true;
        }
    return false; /* "none", HS256 and anything unknown */
}

static bool aud_has(const json_t *aud, const char *client_id)
{
    if (json_is_string(aud))
        return !strcmp(json_string_value(aud), client_id);
    size_t i;
    const json_t *v;
    json_array_foreach(aud, i, v) if (json_is_string(v) &&
                                      !strcmp(json_string_value(v), client_id)) return true;
    return false;
}

static bool in_list(const char *list, const char *v)
{
    size_t vl = strlen(v);
    for (const char *p = list; p && *p;) {
        const char *c = strchr(p, ',');
        size_t n = c ? (size_t)(c - p) : strlen(p);
        while (n && *p == ' ')
            p++, n--;
        while (n && p[n - 1] == ' ')
            n--;
        if (n == vl && !memcmp(p, v, n))
            return true;
        p = c ? c + 1 : p + strlen(p);
    }
    return false;
}

/* A string claim of 1 to 255 bytes, or absent (*ok false when present and
 * malformed). */
static const char *short_string(const json_t *c, const char *k, bool *ok)
{
    const json_t *v = json_object_get(c, k);
    if (!v)
        return NULL;
    if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > 255) {
        *ok = false;
        return NULL;
    }
    return json_string_value(v);
}

/* The claims only a logout token has (Back-Channel Logout 1.0, 2.6): iss,
 * aud and the times are checked by claims_check first. */
static enum lair_err logout_claims_check(const json_t *c, const struct oidc_expect *x, char *why,
                                         size_t cap)
{
    const json_t *iat = json_object_get(c, "iat");
    if (!json_is_integer(iat) || json_integer_value(iat) + x->max_age + x->skew < x->now) {
        say(why, cap, "logout token without iat or issued more than %lld seconds ago",
            (long long)(x->max_age + x->skew));
        return LAIR_EAUTH;
    }
    if (json_object_get(c, "nonce")) {
        say(why, cap, "a logout token has no nonce (an ID token is not a logout token)");
        return LAIR_EAUTH;
    }
    bool ok = true;
    if (!short_string(c, "jti", &ok) || !ok) {
        say(why, cap, "logout token without a valid jti");
        return LAIR_EAUTH;
    }
    const json_t *ev = json_object_get(c, "events");
    if (!json_is_object(ev) || !json_is_object(json_object_get(ev, OIDC_LOGOUT_EVENT))) {
        say(why, cap, "logout token without the back-channel logout event");
        return LAIR_EAUTH;
    }
    const char *sub = short_string(c, "sub", &ok), *sid = short_string(c, "sid", &ok);
    if (!ok || (!sub && !sid)) {
        say(why, cap, "logout token without a valid sub or sid");
        return LAIR_EAUTH;
    }
    return LAIR_OK;
}

/* Checks the claims of a verified token against x. */
static enum lair_err claims_check(const json_t *c, const struct oidc_expect *x, char *why,
                                  size_t cap)
{
    const char *iss = json_string_value(json_object_get(c, "iss"));
    if (!iss || strcmp(iss, x->issuer)) {
        say(why, cap, "token from another issuer (%s)", iss ? iss : "none");
        return LAIR_EAUTH;
    }
    const json_t *aud = json_object_get(c, "aud");
    if (!aud_has(aud, x->client_id)) {
        say(why, cap, "token for another client");
        return LAIR_EAUTH;
    }
    const char *azp = json_string_value(json_object_get(c, "azp"));
    if ((json_is_array(aud) && json_array_size(aud) > 1 && !azp) ||
        (azp && strcmp(azp, x->client_id))) {
        say(why, cap, "token authorized for another client (azp)");
        return LAIR_EAUTH;
    }
    const json_t *exp = json_object_get(c, "exp"), *iat = json_object_get(c, "iat");
    if (x->need_exp && (!json_is_integer(exp) || !json_is_integer(iat))) {
        say(why, cap, "token without exp or iat");
        return LAIR_EAUTH;
    }
    if (exp && (!json_is_integer(exp) || json_integer_value(exp) + x->skew <= x->now)) {
        say(why, cap, "token expired");
        return LAIR_EAUTH;
    }
    if (iat && (!json_is_integer(iat) || json_integer_value(iat) > x->now + x->skew)) {
        say(why, cap, "token issued in the future");
        return LAIR_EAUTH;
    }
    if (x->logout)
        return logout_claims_check(c, x, why, cap);
    if (x->nonce) {
        const char *n = json_string_value(json_object_get(c, "nonce"));
        if (!n || strlen(n) != strlen(x->nonce) || sodium_memcmp(n, x->nonce, strlen(n)) != 0) {
            say(why, cap, "wrong or missing nonce");
            return LAIR_EAUTH;
        }
    }
    if (x->required_acr && x->required_acr[0]) {
        const char *acr = json_string_value(json_object_get(c, "acr"));
        if (!acr || !in_list(x->required_acr, acr)) {
            say(why, cap, "authentication level (acr) %s not accepted", acr ? acr : "missing");
            return LAIR_EAUTH;
        }
    }
    const json_t *sub = json_object_get(c, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0 || json_string_length(sub) > 255) {
        say(why, cap, "token without a valid sub");
        return LAIR_EAUTH;
    }
    return LAIR_OK;
}

enum lair_err oidc_verify_jwt(const json_t *jwks, const char *compact, const struct oidc_expect *x,
                              json_t **claims, bool *unknown_kid, char *why, size_t cap)
{
    *claims = NULL;
    *unknown_kid = false;
    cjose_err err;
    cjose_jws_t *jws = cjose_jws_import(compact, strlen(compact), &err);
    if (!jws) {
        say(why, cap, "not a signed JWT (%s)", err.message);
        return LAIR_EAUTH;
    }
    cjose_header_t *hdr = cjose_jws_get_protected(jws);
    const char *alg = hdr ? cjose_header_get(hdr, "alg", &err) : NULL;
    const char *kid = hdr ? cjose_header_get(hdr, "kid", &err) : NULL;
    const char *kty = NULL;
    if (!alg_accepted(alg, &kty)) {
        say(why, cap, "signature algorithm %s refused (RS256, ES256 and siblings only)",
            alg ? alg : "missing");
        cjose_jws_release(jws);
        return LAIR_EAUTH;
    }
    bool verified = false, kid_seen = false;
    size_t i;
    const json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *kk = json_string_value(json_object_get(k, "kid"));
        const char *kt = json_string_value(json_object_get(k, "kty"));
        const char *use = json_string_value(json_object_get(k, "use"));
        const char *ka = json_string_value(json_object_get(k, "alg"));
        if (kid && (!kk || strcmp(kk, kid)))
            continue;
        kid_seen = true;
        if (!kt || strcmp(kt, kty) || (use && strcmp(use, "sig")) || (ka && strcmp(ka, alg)))
            continue;
        char *text = json_dumps(k, JSON_COMPACT);
        cjose_jwk_t *jwk = text ? cjose_jwk_import(text, strlen(text), &err) : NULL;
        free(text);
        if (jwk) {
            verified = cjose_jws_verify(jws, jwk, &err);
            cjose_jwk_release(jwk);
        }
        if (verified)
            break;
    }
    if (!verified) {
        *unknown_kid = kid && !kid_seen;
        say(why, cap, "%s",
            *unknown_kid ? "token signed by a key the provider does not publish"
                         : "bad token signature");
        cjose_jws_release(jws);
        return LAIR_EAUTH;
    }
    uint8_t *pt = NULL;
    size_t pl = 0;
    json_t *c = NULL;
    if (cjose_jws_get_plaintext(jws, &pt, &pl, &err))
        c = json_loadb((const char *)pt, pl, JSON_REJECT_DUPLICATES, NULL);
    cjose_jws_release(jws);
    if (!json_is_object(c)) {
        json_decref(c);
        say(why, cap, "token payload is not a JSON object");
        return LAIR_EAUTH;
    }
    enum lair_err e = claims_check(c, x, why, cap);
    if (e) {
        json_decref(c);
        return e;
    }
    *claims = c;
    return LAIR_OK;
}

/* oidc_verify_jwt with the provider's JWKS, fetched again once when the
 * token names a key id it does not know (the provider rotated its keys). */
static enum lair_err verify_with(struct provider_state *ps, const json_t *d, const char *compact,
                                 const struct oidc_expect *x, json_t **claims, char *why,
                                 size_t cap)
{
    if (!ps->jwks && !jwks_refresh(ps, d, why, cap))
        return LAIR_EAUTH;
    bool unknown = false;
    enum lair_err e = oidc_verify_jwt(ps->jwks, compact, x, claims, &unknown, why, cap);
    if (e && unknown && jwks_refresh(ps, d, NULL, 0))
        e = oidc_verify_jwt(ps->jwks, compact, x, claims, &unknown, why, cap);
    return e;
}

/* ---- back-channel logout ---- */

bool oidc_rp_jti_claim(struct oidc_rp *rp, const char *provider_id, const char *jti, int64_t until,
                       int64_t now)
{
    unsigned char h[16];
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, sizeof(h));
    crypto_generichash_update(&st, (const unsigned char *)provider_id, strlen(provider_id) + 1);
    crypto_generichash_update(&st, (const unsigned char *)jti, strlen(jti));
    crypto_generichash_final(&st, h, sizeof(h));
    pthread_mutex_lock(&rp->jti_mu);
    bool fresh = true;
    size_t j = 0, first = 0;
    for (size_t i = 0; i < rp->jti_n; i++) { /* drops the expired ones as it goes */
        if (rp->jti[i].until < now)
            continue;
        if (!memcmp(rp->jti[i].h, h, sizeof(h)))
            fresh = false;
        rp->jti[j] = rp->jti[i];
        if (rp->jti[j].until < rp->jti[first].until)
            first = j;
        j++;
    }
    rp->jti_n = j;
    if (fresh) {
        if (rp->jti_n == OIDC_JTI_MAX) {
            /* more logouts in OIDC_LOGOUT_MAX_AGE than the set holds: losing
             * a replay check beats refusing a real logout */
            if (now - rp->jti_warned >= 60) {
                log_warn("oidc",
                         "back-channel logout: %d token ids remembered, the oldest forgotten",
                         OIDC_JTI_MAX);
                rp->jti_warned = now;
            }
            rp->jti[first] = rp->jti[--rp->jti_n];
        }
        memcpy(rp->jti[rp->jti_n].h, h, sizeof(h));
        rp->jti[rp->jti_n++].until = until;
    }
    pthread_mutex_unlock(&rp->jti_mu);
    return fresh;
}

enum lair_err oidc_verify_logout_token(struct oidc_rp *rp, const struct oidc_provider *p,
                                       const char *token, struct oidc_logout *out, char *why,
                                       size_t cap)
{
    memset(out, 0, sizeof(*out));
    struct provider_state *ps = state_of(rp, p);
    if (!ps)
        return LAIR_ENOTFOUND;
    if (!token || !token[0] || strlen(token) > 16384) {
        say(why, cap, "no logout_token, or one too long");
        return LAIR_EAUTH;
    }
    json_t *dj = discovery_ref(ps, why, cap);
    if (!dj)
        return LAIR_ENET;
    int64_t now = (int64_t)time(NULL);
    struct oidc_expect x = {.issuer = p->issuer,
                            .client_id = p->client_id,
                            .now = now,
                            .skew = SKEW,
                            .logout = true,
                            .max_age = OIDC_LOGOUT_MAX_AGE};
    json_t *claims = NULL;
    pthread_mutex_lock(&ps->mu);
    enum lair_err e = verify_with(ps, dj, token, &x, &claims, why, cap);
    pthread_mutex_unlock(&ps->mu);
    json_decref(dj);
    if (e)
        return e;
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    const char *sid = json_string_value(json_object_get(claims, "sid"));
    snprintf(out->sub, sizeof(out->sub), "%s", sub ? sub : "");
    snprintf(out->sid, sizeof(out->sid), "%s", sid ? sid : "");
    /* kept until the token would be refused as too old: a replay after that
     * fails on iat, before it on the jti */
    int64_t iat = json_integer_value(json_object_get(claims, "iat"));
    const char *jti = json_string_value(json_object_get(claims, "jti"));
    if (!oidc_rp_jti_claim(rp, p->id, jti, iat + OIDC_LOGOUT_MAX_AGE + SKEW, now)) {
        say(why, cap, "logout token already used (its jti was seen)");
        e = LAIR_EAUTH;
    }
    json_decref(claims);
    return e;
}

/* ---- the flow ---- */

static char *esc(CURL *c, const char *s)
{
    return curl_easy_escape(c, s ? s : "", 0);
}

enum lair_err oidc_authorize_url(struct oidc_rp *rp, const struct oidc_provider *p,
                                 const char *state, const char *nonce, const char *verifier,
                                 char **url, char *why, size_t cap)
{
    *url = NULL;
    struct provider_state *ps = state_of(rp, p);
    if (!ps)
        return LAIR_ENOTFOUND;
    char challenge[64];
    oidc_pkce_challenge(verifier, challenge);
    char redirect[600];
    snprintf(redirect, sizeof(redirect), "%s/auth/callback", rp->public_url);
    pthread_mutex_lock(&ps->mu);
    const json_t *d = discovery(ps, why, cap);
    char *authz = d ? strdup(disc_str(d, "authorization_endpoint")) : NULL;
    pthread_mutex_unlock(&ps->mu);
    if (!authz)
        return d ? LAIR_ENOMEM : LAIR_ENET;
    CURL *c = curl_easy_init();
    char *e_client = c ? esc(c, p->client_id) : NULL, *e_redirect = c ? esc(c, redirect) : NULL;
    char *e_scope = c ? esc(c, p->scopes) : NULL, *e_state = c ? esc(c, state) : NULL;
    char *e_nonce = c ? esc(c, nonce) : NULL, *e_acr = c ? esc(c, p->acr_values) : NULL;
    enum lair_err e = LAIR_ENOMEM;
    if (e_client && e_redirect && e_scope && e_state && e_nonce && e_acr) {
        size_t n = strlen(authz) + strlen(e_client) + strlen(e_redirect) + strlen(e_scope) +
                   strlen(e_state) + strlen(e_nonce) + strlen(e_acr) + 256;
        *url = malloc(n);
        if (*url) {
            snprintf(*url, n,
                     "%s%sresponse_type=code&client_id=%s&redirect_uri=%s&scope=%s&state=%s"
                     "&nonce=%s&code_challenge=%s&code_challenge_method=S256%s%s",
                     authz, strchr(authz, '?') ? "&" : "?", e_client, e_redirect, e_scope, e_state,
                     e_nonce, challenge, p->acr_values[0] ? "&acr_values=" : "",
                     p->acr_values[0] ? e_acr : "");
            e = LAIR_OK;
        }
    }
    curl_free(e_client), curl_free(e_redirect), curl_free(e_scope), curl_free(e_state);
    curl_free(e_nonce), curl_free(e_acr);
    if (c)
        curl_easy_cleanup(c);
    free(authz);
    return e;
}

void oidc_result_clear(struct oidc_result *r)
{
    json_decref(r->claims);
    free(r->id_token);
    r->claims = NULL;
    r->id_token = NULL;
}

static bool token_auth_basic(const json_t *d)
{
    const json_t *m = json_object_get(d, "token_endpoint_auth_methods_supported");
    if (!json_is_array(m))
        return true; /* the specification's default */
    size_t i;
    const json_t *v;
    json_array_foreach(m, i,
                       v) if (json_is_string(v) &&
                              !strcmp(json_string_value(v), "client_secret_basic")) return true;
    return false;
}

/* POSTs the code to the token endpoint. OUT: the token response. */
static enum lair_err exchange(struct oidc_rp *rp, const struct oidc_provider *p, const json_t *d,
                              const char *code, const char *verifier, json_t **out, char *why,
                              size_t cap)
{
    *out = NULL;
    char redirect[600];
    snprintf(redirect, sizeof(redirect), "%s/auth/callback", rp->public_url);
    bool basic = token_auth_basic(d);
    CURL *c = curl_easy_init();
    if (!c)
        return LAIR_ENOMEM;
    char *e_code = esc(c, code), *e_redirect = esc(c, redirect), *e_ver = esc(c, verifier);
    char *e_id = esc(c, p->client_id), *e_secret = esc(c, p->client_secret);
    char form[4096];
    enum lair_err e = LAIR_ENOMEM;
    if (e_code && e_redirect && e_ver && e_id && e_secret) {
        int n = basic ? snprintf(form, sizeof(form),
                                 "grant_type=authorization_code&code=%s&redirect_uri=%s"
                                 "&code_verifier=%s",
                                 e_code, e_redirect, e_ver)
                      : snprintf(form, sizeof(form),
                                 "grant_type=authorization_code&code=%s&redirect_uri=%s"
                                 "&code_verifier=%s&client_id=%s&client_secret=%s",
                                 e_code, e_redirect, e_ver, e_id, e_secret);
        e = n > 0 && (size_t)n < sizeof(form) ? LAIR_OK : LAIR_EINVAL;
    }
    char *body = NULL;
    long status = 0;
    if (!e) {
        /* client_secret_basic: id and secret form-encoded, then Basic (RFC 6749 2.3.1) */
        e = fetch(disc_str(d, "token_endpoint"), form, NULL, basic ? e_id : NULL,
                  basic ? e_secret : NULL, &body, &status, NULL, 0);
        if (e)
            say(why, cap, "the identity provider's token endpoint cannot be reached");
    }
    sodium_memzero(form, sizeof(form));
    curl_free(e_code), curl_free(e_redirect), curl_free(e_ver), curl_free(e_id);
    if (e_secret) {
        sodium_memzero(e_secret, strlen(e_secret));
        curl_free(e_secret);
    }
    curl_easy_cleanup(c);
    if (e)
        return e;
    json_t *t = json_loads(body, 0, NULL);
    free(body);
    if (status != 200 || !json_is_object(t) || !json_is_string(json_object_get(t, "id_token"))) {
        const char *err = json_string_value(json_object_get(t, "error"));
        say(why, cap, "the identity provider refused the code (%s)", err ? err : "no id_token");
        json_decref(t);
        return LAIR_EAUTH;
    }
    *out = t;
    return LAIR_OK;
}

/* Fetches the userinfo and merges its claims into claims (the ID token's
 * win for iss, aud, sub, nonce). A signed answer (application/jwt) is
 * verified like the ID token, without nonce. */
static enum lair_err userinfo(struct provider_state *ps, const json_t *d, const char *access,
                              json_t *claims, char *why, size_t cap)
{
    const char *url = disc_str(d, "userinfo_endpoint");
    if (!url || !access)
        return LAIR_OK;
    char *body;
    long status;
    char ctype[128];
    if (fetch(url, NULL, access, NULL, NULL, &body, &status, ctype, sizeof(ctype))) {
        say(why, cap, "the identity provider's userinfo cannot be reached");
        return LAIR_ENET;
    }
    json_t *u = NULL;
    enum lair_err e = LAIR_OK;
    if (status != 200) {
        say(why, cap, "the identity provider refused the userinfo request");
        e = LAIR_EAUTH;
    } else if (!strncmp(ctype, "application/jwt", 15)) {
        size_t bl = strlen(body);
        while (bl && (body[bl - 1] == '\n' || body[bl - 1] == '\r' || body[bl - 1] == ' '))
            body[--bl] = 0;
        struct oidc_expect x = {.issuer = ps->cfg.issuer,
                                .client_id = ps->cfg.client_id,
                                .now = (int64_t)time(NULL),
                                .skew = SKEW};
        e = verify_with(ps, d, body, &x, &u, why, cap);
        if (e && why && cap) {
            char tmp[256];
            snprintf(tmp, sizeof(tmp), "signed userinfo: %s", why);
            snprintf(why, cap, "%s", tmp);
        }
    } else {
        u = json_loads(body, JSON_REJECT_DUPLICATES, NULL);
        if (!json_is_object(u)) {
            say(why, cap, "the userinfo answer is not JSON");
            e = LAIR_EAUTH;
        }
    }
    free(body);
    if (!e) {
        const char *s1 = json_string_value(json_object_get(claims, "sub"));
        const char *s2 = json_string_value(json_object_get(u, "sub"));
        if (!s1 || !s2 || strcmp(s1, s2)) {
            say(why, cap, "the userinfo is about another person (sub)");
            e = LAIR_EAUTH;
        }
    }
    if (!e) {
        const char *k;
        json_t *v;
        json_object_foreach(u, k, v)
        {
            if (strcmp(k, "iss") && strcmp(k, "aud") && strcmp(k, "sub") && strcmp(k, "nonce") &&
                strcmp(k, "exp") && strcmp(k, "iat") && strcmp(k, "sid") &&
                !json_object_get(claims, k))
                json_object_set(claims, k, v);
        }
    }
    json_decref(u);
    return e;
}

enum lair_err oidc_finish(struct oidc_rp *rp, const struct oidc_provider *p, const char *code,
                          const char *nonce, const char *verifier, struct oidc_result *out,
                          char *why, size_t cap)
{
    memset(out, 0, sizeof(*out));
    struct provider_state *ps = state_of(rp, p);
    if (!ps || !code || !code[0] || strlen(code) > 2048)
        return LAIR_EAUTH;
    json_t *dj = discovery_ref(ps, why, cap);
    if (!dj)
        return LAIR_ENET;
    json_t *tok = NULL;
    enum lair_err e = exchange(rp, p, dj, code, verifier, &tok, why, cap);
    if (!e) {
        struct oidc_expect x = {.issuer = p->issuer,
                                .client_id = p->client_id,
                                .nonce = nonce,
                                .required_acr = p->required_acr,
                                .now = (int64_t)time(NULL),
                                .skew = SKEW,
                                .need_exp = true};
        const char *idt = json_string_value(json_object_get(tok, "id_token"));
        pthread_mutex_lock(&ps->mu);
        e = verify_with(ps, dj, idt, &x, &out->claims, why, cap);
        pthread_mutex_unlock(&ps->mu);
        if (!e) {
            out->id_token = strdup(idt);
            if (!out->id_token)
                e = LAIR_ENOMEM;
        }
    }
    if (!e) {
        /* under the provider's lock (its JWKS may be fetched again): the
         * sign-ins through one provider wait for each other's userinfo, at
         * most FETCH_TIMEOUT_S each */
        const char *access = json_string_value(json_object_get(tok, "access_token"));
        pthread_mutex_lock(&ps->mu);
        e = userinfo(ps, dj, access, out->claims, why, cap);
        pthread_mutex_unlock(&ps->mu);
    }
    if (!e && p->require_email_verified) {
        const json_t *ev = json_object_get(out->claims, "email_verified");
        if (!json_is_true(ev)) {
            say(why, cap, "the provider does not vouch for the email address");
            e = LAIR_EAUTH;
        }
    }
    json_decref(tok);
    json_decref(dj);
    if (e)
        oidc_result_clear(out);
    return e;
}

enum lair_err oidc_logout_url(struct oidc_rp *rp, const struct oidc_provider *p,
                              const char *id_token, const char *state, char **url)
{
    *url = NULL;
    struct provider_state *ps = state_of(rp, p);
    if (!ps)
        return LAIR_ENOTFOUND;
    pthread_mutex_lock(&ps->mu);
    const json_t *d = discovery(ps, NULL, 0);
    const char *es = d ? disc_str(d, "end_session_endpoint") : NULL;
    char *end = es && url_acceptable(es) ? strdup(es) : NULL;
    pthread_mutex_unlock(&ps->mu);
    if (!end)
        return LAIR_OK;
    char back[600];
    snprintf(back, sizeof(back), "%s/auth/signed-out", rp->public_url);
    CURL *c = curl_easy_init();
    char *e_hint = c ? esc(c, id_token) : NULL, *e_back = c ? esc(c, back) : NULL;
    char *e_state = c ? esc(c, state) : NULL, *e_id = c ? esc(c, p->client_id) : NULL;
    enum lair_err e = LAIR_ENOMEM;
    if (e_hint && e_back && e_state && e_id) {
        size_t n =
            strlen(end) + strlen(e_hint) + strlen(e_back) + strlen(e_state) + strlen(e_id) + 128;
        *url = malloc(n);
        if (*url) {
            snprintf(*url, n,
                     "%s%sid_token_hint=%s&post_logout_redirect_uri=%s&state=%s&client_id=%s", end,
                     strchr(end, '?') ? "&" : "?", e_hint, e_back, e_state, e_id);
            e = LAIR_OK;
        }
    }
    curl_free(e_hint), curl_free(e_back), curl_free(e_state), curl_free(e_id);
    if (c)
        curl_easy_cleanup(c);
    free(end);
    return e;
}
