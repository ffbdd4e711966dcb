/* Unit tests for src/auth/oidc.c: the verification of ID tokens and signed
 * userinfo (keys made here with cjose: RS256 and ES256, and the forgeries a
 * relying party must refuse), PKCE, and the providers' configuration. The
 * flow against real providers is tests/e2e/t_oidc.mjs. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjose/cjose.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/oidc.h"

#define ISS "https://idp.example.gouv.fr"
#define CLIENT "libreair"

static cjose_jwk_t *rsa, *rsa_other, *ec;
static json_t *jwks; /* rsa as "k-rsa", ec as "k-ec" */

static json_t *public_jwk(cjose_jwk_t *k, const char *kid)
{
    cjose_err err;
    char *text = cjose_jwk_to_json(k, false, &err);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    json_object_set_new(j, "kid", json_string(kid));
    json_object_set_new(j, "use", json_string("sig"));
    return j;
}

static int setup(void **state)
{
    (void)state;
    cjose_err err;
    static const uint8_t e[] = {1, 0, 1};
    rsa = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err);
    rsa_other = cjose_jwk_create_RSA_random(2048, e, sizeof(e), &err);
    ec = cjose_jwk_create_EC_random(CJOSE_JWK_EC_P_256, &err);
    jwks = json_pack("{s:[o,o]}", "keys", public_jwk(rsa, "k-rsa"), public_jwk(ec, "k-ec"));
    return rsa && rsa_other && ec && jwks ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cjose_jwk_release(rsa);
    cjose_jwk_release(rsa_other);
    cjose_jwk_release(ec);
    json_decref(jwks);
    return 0;
}

/* Signs claims with key under alg and kid (NULL: no kid). OWNED. */
static char *sign(cjose_jwk_t *key, const char *alg, const char *kid, json_t *claims)
{
    cjose_err err;
    cjose_header_t *h = cjose_header_new(&err);
    cjose_header_set(h, CJOSE_HDR_ALG, alg, &err);
    if (kid)
        cjose_header_set(h, CJOSE_HDR_KID, kid, &err);
    char *body = json_dumps(claims, JSON_COMPACT);
    cjose_jws_t *jws = cjose_jws_sign(key, h, (const uint8_t *)body, strlen(body), &err);
    const char *compact = NULL;
    char *out = NULL;
    if (jws && cjose_jws_export(jws, &compact, &err))
        out = strdup(compact);
    cjose_jws_release(jws);
    cjose_header_release(h);
    free(body);
    json_decref(claims);
    return out;
}

static json_t *good_claims(void)
{
    int64_t now = (int64_t)time(NULL);
    return json_pack("{s:s, s:s, s:s, s:I, s:I, s:s, s:s}", "iss", ISS, "sub", "agent-1", "aud",
                     CLIENT, "iat", (json_int_t)now, "exp", (json_int_t)(now + 300), "nonce",
                     "n-123", "acr", "eidas1");
}

static const struct oidc_expect *expect(void)
{
    static struct oidc_expect x;
    x = (struct oidc_expect){.issuer = ISS,
                             .client_id = CLIENT,
                             .nonce = "n-123",
                             .required_acr = "eidas1, eidas2",
                             .now = (int64_t)time(NULL),
                             .skew = 120,
                             .need_exp = true};
    return &x;
}

/* Verifies token; returns the outcome, with *unknown set. */
static enum lair_err check(char *token, const struct oidc_expect *x, bool *unknown)
{
    json_t *claims = NULL;
    char why[256] = "";
    bool u = false;
    enum lair_err e = oidc_verify_jwt(jwks, token, x, &claims, &u, why, sizeof(why));
    if (unknown)
        *unknown = u;
    if (e == LAIR_OK)
        assert_string_equal(json_string_value(json_object_get(claims, "sub")), "agent-1");
    else
        assert_true(why[0] != 0); /* every refusal says why */
    json_decref(claims);
    free(token);
    return e;
}

static void test_good_tokens(void **state)
{
    (void)state;
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", good_claims()), expect(), NULL), LAIR_OK);
    assert_int_equal(check(sign(ec, "ES256", "k-ec", good_claims()), expect(), NULL), LAIR_OK);
    /* no kid: the keys of the right type are tried */
    assert_int_equal(check(sign(rsa, "RS256", NULL, good_claims()), expect(), NULL), LAIR_OK);
    /* aud as an array with azp = us */
    json_t *c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "autre"));
    json_object_set_new(c, "azp", json_string(CLIENT));
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_OK);
}

static void test_forged_signatures(void **state)
{
    (void)state;
    bool unknown = false;
    /* a key the provider does not publish: the caller fetches the JWKS again */
    assert_int_equal(check(sign(rsa_other, "RS256", "k-new", good_claims()), expect(), &unknown),
                     LAIR_EAUTH);
    assert_true(unknown);
    /* another key under a published kid: a bad signature, not a rotation */
    assert_int_equal(check(sign(rsa_other, "RS256", "k-rsa", good_claims()), expect(), &unknown),
                     LAIR_EAUTH);
    assert_false(unknown);
    /* an RSA-signed token claiming the EC key's kid */
    assert_int_equal(check(sign(rsa, "RS256", "k-ec", good_claims()), expect(), NULL), LAIR_EAUTH);
    /* HS256 keyed with something the attacker knows */
    cjose_err err;
    static const uint8_t secret[32] = "secret-partage-avec-le-client!!";
    cjose_jwk_t *oct = cjose_jwk_create_oct_spec(secret, sizeof(secret), &err);
    assert_int_equal(check(sign(oct, "HS256", "k-rsa", good_claims()), expect(), NULL), LAIR_EAUTH);
    cjose_jwk_release(oct);
    /* alg none: header, payload, empty signature */
    json_t *claims = good_claims();
    char *body = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    char h64[64], p64[1024], token[1200];
    static const char hdr[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
    sodium_bin2base64(h64, sizeof(h64), (const unsigned char *)hdr, strlen(hdr),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_bin2base64(p64, sizeof(p64), (const unsigned char *)body, strlen(body),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(token, sizeof(token), "%s.%s.", h64, p64);
    free(body);
    assert_int_equal(check(strdup(token), expect(), NULL), LAIR_EAUTH);
    /* a signed token whose payload was changed afterwards */
    char *t = sign(rsa, "RS256", "k-rsa", good_claims());
    char *dot1 = strchr(t, '.'), *dot2 = strchr(dot1 + 1, '.');
    json_t *evil = good_claims();
    json_object_set_new(evil, "sub", json_string("admin"));
    char *eb = json_dumps(evil, JSON_COMPACT);
    json_decref(evil);
    char e64[1024];
    sodium_bin2base64(e64, sizeof(e64), (const unsigned char *)eb, strlen(eb),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    free(eb);
    *dot1 = 0;
    snprintf(token, sizeof(token), "%s.%s%s", t, e64, dot2);
    free(t);
    assert_int_equal(check(strdup(token), expect(), NULL), LAIR_EAUTH);
    /* not a JWT at all */
    assert_int_equal(check(strdup("pas.un.jeton"), expect(), NULL), LAIR_EAUTH);
    assert_int_equal(check(strdup(""), expect(), NULL), LAIR_EAUTH);
}

/* A good token with one claim changed (value NULL: removed) is refused. */
static void refused_with(const char *claim, json_t *value)
{
    json_t *c = good_claims();
    if (value)
        json_object_set_new(c, claim, value);
    else
        json_object_del(c, claim);
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_EAUTH);
}

static void test_claims(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    refused_with("iss", json_string("https://idp.attaquant.example"));
    refused_with("iss", NULL);
    refused_with("aud", json_string("un-autre-client"));
    refused_with("aud", json_pack("[s,s]", "autre", "encore"));
    refused_with("exp", json_integer(now - 600));
    refused_with("exp", json_string("demain"));
    refused_with("exp", NULL);
    refused_with("iat", json_integer(now + 3600));
    refused_with("nonce", json_string("n-124"));
    refused_with("nonce", json_string("n-12"));
    refused_with("nonce", NULL);
    refused_with("acr", json_string("eidas0"));
    refused_with("acr", NULL);
    refused_with("sub", NULL);
    refused_with("sub", json_integer(7));
    /* aud with several values and azp another client, or no azp */
    json_t *c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "autre"));
    json_object_set_new(c, "azp", json_string("autre"));
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_EAUTH);
    c = good_claims();
    json_object_set_new(c, "aud", json_pack("[s,s]", CLIENT, "autre"));
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_EAUTH);
    /* the clock skew is tolerated, no more */
    c = good_claims();
    json_object_set_new(c, "exp", json_integer(now - 60));
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_OK);
    /* the second acceptable acr of the list */
    c = good_claims();
    json_object_set_new(c, "acr", json_string("eidas2"));
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", c), expect(), NULL), LAIR_OK);
}

static void test_pkce(void **state)
{
    (void)state;
    /* RFC 7636, appendix B */
    char out[64];
    oidc_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", out);
    assert_string_equal(out, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static enum lair_err config(const char *text, char *why, size_t cap)
{
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    struct oidc_rp *rp = NULL;
    enum lair_err e = oidc_rp_new(j, &rp, why, cap);
    if (!e) {
        assert_int_equal(oidc_rp_count(rp), 1);
        assert_non_null(oidc_rp_find(rp, "pc"));
        assert_null(oidc_rp_find(rp, "autre"));
        assert_string_equal(oidc_rp_public_url(rp), "https://ia.ville.fr");
    }
    oidc_rp_free(rp);
    json_decref(j);
    return e;
}

static void test_config(void **state)
{
    (void)state;
    char why[300];
#define P(x) "{\"public_url\":\"https://ia.ville.fr/\",\"providers\":[" x "]}"
#define OK_PROVIDER                                                                                \
    "{\"id\":\"pc\",\"issuer\":\"https://"                                                         \
    "idp.gouv.fr\",\"client_id\":\"c\",\"client_secret\":\"s\"}"
    assert_int_equal(config(P(OK_PROVIDER), why, sizeof(why)), LAIR_OK);
    static const struct {
        const char *cfg, *why;
    } bad[] = {
        {P("{\"id\":\"pc\",\"issuer\":\"http://idp.gouv.fr\",\"client_id\":\"c\",\"client_secret\":"
           "\"s\"}"),
         "https"},
        {P("{\"id\":\"pc\",\"issuer\":\"https://idp.gouv.fr\",\"client_secret\":\"s\"}"),
         "client_id"},
        {P("{\"id\":\"pc\",\"issuer\":\"https://idp.gouv.fr\",\"client_id\":\"c\"}"),
         "client_secret"},
        {P("{\"id\":\"PC!\",\"issuer\":\"https://"
           "idp.gouv.fr\",\"client_id\":\"c\",\"client_secret\":"
           "\"s\"}"),
         "id"},
        {P(OK_PROVIDER "," OK_PROVIDER), "two providers"},
        {P("{\"id\":\"pc\",\"issuer\":\"https://"
           "idp.gouv.fr\",\"client_id\":\"c\",\"client_secret\":"
           "\"s\",\"scopes\":\"email\"}"),
         "openid"},
        {P("{\"id\":\"pc\",\"issuer\":\"https://"
           "idp.gouv.fr\",\"client_id\":\"c\",\"client_secret\":"
           "\"s\",\"secret\":1}"),
         "unknown field"},
        {P("{\"id\":\"pc\",\"issuer\":\"https://idp.gouv.fr\",\"client_id\":\"c\","
           "\"client_secret_file\":\"/nonexistent\"}"),
         "client_secret_file"},
        {"{\"public_url\":\"http://ia.ville.fr\",\"providers\":[" OK_PROVIDER "]}", "public_url"},
        {"{\"public_url\":\"https://ia.ville.fr\",\"providers\":[]}", "providers"},
        {"{\"public_url\":\"https://ia.ville.fr\",\"providers\":[" OK_PROVIDER "],\"x\":1}",
         "unknown field"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        why[0] = 0;
        assert_int_equal(config(bad[i].cfg, why, sizeof(why)), LAIR_EINVAL);
        if (!strstr(why, bad[i].why))
            fail_msg("case %zu: '%s' does not mention '%s'", i, why, bad[i].why);
    }
    /* http on loopback is accepted (a provider on the same machine, tests) */
    assert_int_equal(config("{\"public_url\":\"https://ia.ville.fr\",\"providers\":[{\"id\":\"pc\","
                            "\"issuer\":\"http://127.0.0.1:9400\",\"client_id\":\"c\","
                            "\"client_secret\":\"s\"}]}",
                            why, sizeof(why)),
                     LAIR_OK);
}

/* ---- back-channel logout tokens ---- */

static json_t *logout_claims(void)
{
    int64_t now = (int64_t)time(NULL);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:{s:{}}, s:s}", "iss", ISS, "sub", "agent-1",
                     "aud", CLIENT, "iat", (json_int_t)now, "jti", "jti-1", "events",
                     OIDC_LOGOUT_EVENT, "sid", "sid-1");
}

static const struct oidc_expect *logout_expect(void)
{
    static struct oidc_expect x;
    x = (struct oidc_expect){.issuer = ISS,
                             .client_id = CLIENT,
                             .now = (int64_t)time(NULL),
                             .skew = 120,
                             .logout = true,
                             .max_age = OIDC_LOGOUT_MAX_AGE};
    return &x;
}

/* Verifies token as a logout token; every refusal says why. */
static enum lair_err check_logout(char *token)
{
    json_t *claims = NULL;
    char why[256] = "";
    bool u = false;
    enum lair_err e = oidc_verify_jwt(jwks, token, logout_expect(), &claims, &u, why, sizeof(why));
    if (e == LAIR_OK)
        assert_non_null(json_object_get(json_object_get(claims, "events"), OIDC_LOGOUT_EVENT));
    else
        assert_true(why[0] != 0);
    json_decref(claims);
    free(token);
    return e;
}

/* The good logout token with one claim changed (value NULL: removed). */
static enum lair_err logout_with(const char *claim, json_t *value)
{
    json_t *c = logout_claims();
    if (value)
        json_object_set_new(c, claim, value);
    else
        json_object_del(c, claim);
    return check_logout(sign(rsa, "RS256", "k-rsa", c));
}

static void test_logout_tokens(void **state)
{
    (void)state;
    int64_t now = (int64_t)time(NULL);
    assert_int_equal(check_logout(sign(rsa, "RS256", "k-rsa", logout_claims())), LAIR_OK);
    assert_int_equal(check_logout(sign(ec, "ES256", "k-ec", logout_claims())), LAIR_OK);
    /* sub alone, sid alone, an exp in the future, iat within the skew */
    assert_int_equal(logout_with("sid", NULL), LAIR_OK);
    assert_int_equal(logout_with("sub", NULL), LAIR_OK);
    assert_int_equal(logout_with("exp", json_integer(now + 120)), LAIR_OK);
    assert_int_equal(logout_with("iat", json_integer(now - OIDC_LOGOUT_MAX_AGE - 60)), LAIR_OK);
    /* events missing, without the logout member, or not objects */
    assert_int_equal(logout_with("events", NULL), LAIR_EAUTH);
    assert_int_equal(logout_with("events", json_pack("{s:{}}", "http://example.org/other")),
                     LAIR_EAUTH);
    assert_int_equal(logout_with("events", json_pack("{s:s}", OIDC_LOGOUT_EVENT, "oui")),
                     LAIR_EAUTH);
    assert_int_equal(logout_with("events", json_pack("[s]", OIDC_LOGOUT_EVENT)), LAIR_EAUTH);
    /* a nonce: an ID token is not a logout token */
    assert_int_equal(logout_with("nonce", json_string("n-123")), LAIR_EAUTH);
    /* another audience, another issuer */
    assert_int_equal(logout_with("aud", json_string("un-autre-client")), LAIR_EAUTH);
    assert_int_equal(logout_with("iss", json_string("https://idp.attaquant.example")), LAIR_EAUTH);
    /* too old, without iat, in the future, expired */
    assert_int_equal(logout_with("iat", json_integer(now - OIDC_LOGOUT_MAX_AGE - 121)), LAIR_EAUTH);
    assert_int_equal(logout_with("iat", NULL), LAIR_EAUTH);
    assert_int_equal(logout_with("iat", json_string("maintenant")), LAIR_EAUTH);
    assert_int_equal(logout_with("iat", json_integer(now + 3600)), LAIR_EAUTH);
    assert_int_equal(logout_with("exp", json_integer(now - 600)), LAIR_EAUTH);
    /* jti missing, empty, not a string */
    assert_int_equal(logout_with("jti", NULL), LAIR_EAUTH);
    assert_int_equal(logout_with("jti", json_string("")), LAIR_EAUTH);
    assert_int_equal(logout_with("jti", json_integer(12)), LAIR_EAUTH);
    /* neither sub nor sid; a malformed one */
    json_t *c = logout_claims();
    json_object_del(c, "sub");
    json_object_del(c, "sid");
    assert_int_equal(check_logout(sign(rsa, "RS256", "k-rsa", c)), LAIR_EAUTH);
    assert_int_equal(logout_with("sid", json_integer(3)), LAIR_EAUTH);
    assert_int_equal(logout_with("sub", json_string("")), LAIR_EAUTH);
    /* signatures as for ID tokens: another key under the published kid, HS256 */
    assert_int_equal(check_logout(sign(rsa_other, "RS256", "k-rsa", logout_claims())), LAIR_EAUTH);
    cjose_err err;
    static const uint8_t secret[32] = "secret-partage-avec-le-client!!";
    cjose_jwk_t *oct = cjose_jwk_create_oct_spec(secret, sizeof(secret), &err);
    assert_int_equal(check_logout(sign(oct, "HS256", "k-rsa", logout_claims())), LAIR_EAUTH);
    cjose_jwk_release(oct);
    /* an ID token (nonce, no events) offered as a logout token */
    assert_int_equal(check_logout(sign(rsa, "RS256", "k-rsa", good_claims())), LAIR_EAUTH);
    /* and a logout token is no ID token */
    assert_int_equal(check(sign(rsa, "RS256", "k-rsa", logout_claims()), expect(), NULL),
                     LAIR_EAUTH);
}

static void test_logout_replay(void **state)
{
    (void)state;
    json_t *j = json_loads(P(OK_PROVIDER), 0, NULL);
    struct oidc_rp *rp = NULL;
    assert_int_equal(oidc_rp_new(j, &rp, NULL, 0), LAIR_OK);
    json_decref(j);
    int64_t t = 1700000000;
    assert_true(oidc_rp_jti_claim(rp, "pc", "j-1", t + 420, t));
    assert_false(oidc_rp_jti_claim(rp, "pc", "j-1", t + 420, t + 10)); /* replayed */
    assert_true(oidc_rp_jti_claim(rp, "autre", "j-1", t + 420, t));    /* another provider's */
    assert_true(oidc_rp_jti_claim(rp, "pc", "j-2", t + 420, t));
    /* forgotten once expired (its token is then refused as too old) */
    assert_true(oidc_rp_jti_claim(rp, "pc", "j-1", t + 900, t + 421));
    assert_false(oidc_rp_jti_claim(rp, "pc", "j-1", t + 900, t + 422));
    /* bounded: past OIDC_JTI_MAX, the ones that expire first are forgotten */
    char jti[32];
    for (int i = 0; i < OIDC_JTI_MAX + 100; i++) {
        snprintf(jti, sizeof(jti), "bulk-%d", i);
        assert_true(oidc_rp_jti_claim(rp, "pc", jti, t + 1000 + i, t + 500));
    }
    snprintf(jti, sizeof(jti), "bulk-%d", OIDC_JTI_MAX + 99);
    assert_false(oidc_rp_jti_claim(rp, "pc", jti, t + 2000, t + 500));
    assert_false(oidc_rp_jti_claim(rp, "pc", "bulk-200", t + 2000, t + 500));
    assert_true(oidc_rp_jti_claim(rp, "pc", "bulk-0", t + 2000, t + 500));
    oidc_rp_free(rp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_tokens),   cmocka_unit_test(test_forged_signatures),
        cmocka_unit_test(test_claims),        cmocka_unit_test(test_pkce),
        cmocka_unit_test(test_config),        cmocka_unit_test(test_logout_tokens),
        cmocka_unit_test(test_logout_replay),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
