/* Sign-in with OpenID Connect, sessions, CSRF and enrollment links (see
 * api/auth_api.h, docs/oidc.md). */
#include "api/auth_api.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/oidc.h"
#include "core/log.h"
#include "store/people.h"
#include "core/banned.h"

#define SESSION_COOKIE "__Host-lair_session"
#define LOGIN_COOKIE "__Host-lair_login"
#define RANDOM_LEN 43 /* base64url of 32 bytes */
#define MAX_GROUPS 64

/* ---- small helpers ---- */

static void random_text(char out[RANDOM_LEN + 1])
{
    unsigned char b[32];
    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, RANDOM_LEN + 1, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

/* The value of cookie name (base64url text only), or false. */
static bool cookie_get(struct http_req *rq, const char *name, char *out, size_t cap)
{
    const char *c = http_header(rq, "Cookie");
    size_t nl = strlen(name);
    for (const char *p = c; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        const char *end = strchr(p, ';');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nl + 1 && !strncmp(p, name, nl) && p[nl] == '=') {
            size_t vl = len - nl - 1;
            const char *v = p + nl + 1;
            if (vl == 0 || vl >= cap)
                return false;
            for (size_t i = 0; i < vl; i++) {
                char ch = v[i];
                if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                      (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
                    return false;
            }
            memcpy(out, v, vl);
            out[vl] = 0;
            return true;
        }
        p = end ? end + 1 : p + len;
    }
    return false;
}

static enum lair_err set_cookie(struct http_req *rq, const char *name, const char *value,
                                int max_age)
{
    char h[256];
    if (max_age >= 0)
        snprintf(h, sizeof(h), "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=%d", name,
                 value, max_age);
    else
        snprintf(h, sizeof(h), "%s=%s; Path=/; Secure; HttpOnly; SameSite=Lax", name, value);
    return http_set_header(rq, "Set-Cookie", h);
}

static enum lair_err redirect(struct http_req *rq, const char *location)
{
    enum lair_err e = http_set_header(rq, "Location", location);
    if (!e)
        e = http_set_header(rq, "Cache-Control", "no-store");
    return e ? e : http_respond(rq, 302, "text/plain; charset=utf-8", "", 0);
}

/* A server-rendered page in French and English (no script: the CSP
 * forbids inline code, and these pages need none). */
static enum lair_err page(struct http_req *rq, int status, const char *title_fr,
                          const char *title_en, const char *body_fr, const char *body_en,
                          const char *extra_html)
{
    struct buf b;
    buf_init(&b, 64 * 1024);
    buf_puts(&b, "<!doctype html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
                 "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                 "<link rel=\"stylesheet\" href=\"/assets/app.css\"><title>LibreAIr — ");
    buf_html(&b, title_fr);
    buf_puts(&b, "</title></head><body><main id=\"main\" class=\"card auth-page\"><h1>");
    buf_html(&b, title_fr);
    buf_puts(&b, "</h1><p>");
    buf_html(&b, body_fr);
    buf_puts(&b, "</p><section lang=\"en\"><h2>");
    buf_html(&b, title_en);
    buf_puts(&b, "</h2><p>");
    buf_html(&b, body_en);
    buf_puts(&b, "</p></section>");
    if (extra_html)
        buf_puts(&b, extra_html);
    buf_puts(&b, "<p><a href=\"/console\">Console</a> · <a href=\"/chat\">Chat</a></p>"
                 "</main></body></html>\n");
    if (!b.ptr)
        return LAIR_ENOMEM;
    http_set_header(rq, "Cache-Control", "no-store");
    enum lair_err e = http_respond(rq, status, "text/html; charset=utf-8", b.ptr, b.len);
    buf_release(&b);
    return e;
}

/* Audit tokens carry no spaces: "why" becomes one token. */
static void token_of(const char *in, char *out, size_t cap)
{
    size_t j = 0;
    for (size_t i = 0; in && in[i] && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)in[i];
        out[j++] = (c <= ' ' || c == 0x7f) ? '_' : (char)c;
    }
    out[j] = 0;
}

/* An event in the log of tenant (NULL: the operator's). */
static void audit(struct http_req *rq, const char *tenant, const char *actor, const char *action,
                  const char *target, const char *outcome, const char *detail)
{
    struct audit_event ev = {.actor = actor,
                             .action = action,
                             .target = target,
                             .outcome = outcome,
                             .detail = detail ? detail : ""};
    api_audit_to(rq, tenant, &ev);
}

static bool next_valid(const char *n)
{
    if (!n || n[0] != '/' || n[1] == '/' || n[1] == '\\' || strlen(n) > 200)
        return false;
    for (const char *p = n; *p; p++)
        if ((unsigned char)*p < 0x21 || *p == 0x7f || *p == '\\')
            return false;
    return true;
}

/* ---- the session hook ---- */

static bool safe_method(const char *m)
{
    return !strcmp(m, "GET") || !strcmp(m, "HEAD") || !strcmp(m, "OPTIONS");
}

/* CSRF: a state-changing request made with the cookie carries the token. */
static enum lair_err csrf_check(struct http_req *rq, const struct session_view *v)
{
    if (safe_method(http_method(rq)))
        return LAIR_OK;
    const char *site = http_header(rq, "Sec-Fetch-Site");
    if (site && !strcasecmp(site, "cross-site"))
        return http_fail(rq, LAIR_EPERM, NULL, "csrf", "cross-site request refused");
    const char *tok = http_header(rq, "X-CSRF-Token");
    size_t n = strlen(v->csrf);
    if (!tok || strlen(tok) != n || n == 0 || sodium_memcmp(tok, v->csrf, n) != 0)
        return http_fail(rq, LAIR_EPERM, NULL, "csrf",
                         "missing or wrong X-CSRF-Token for a request made with the session "
                         "cookie (GET /auth/me gives it)");
    return LAIR_OK;
}

enum lair_err api_session_auth(void *p, struct http_req *rq, struct principal *who)
{
    struct app *app = p;
    char token[SESSION_TOKEN_LEN + 8];
    if (!cookie_get(rq, SESSION_COOKIE, token, sizeof(token)))
        return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                         "missing API key: send 'Authorization: Bearer <key>' or sign in");
    struct session_view v;
    enum lair_err e = people_session_get(app->sys, token, &app->sessions, &v);
    sodium_memzero(token, sizeof(token));
    if (e == LAIR_EAUTH)
        return http_fail(rq, LAIR_EAUTH, NULL, "session_expired",
                         "your session has ended (signed out, timed out or membership removed): "
                         "sign in again");
    if (e)
        return e;
    if (!v.chosen)
        return http_fail(rq, LAIR_EPERM, NULL, "tenant_not_chosen",
                         "choose the organisation to work in first (POST /auth/choose)");
    e = csrf_check(rq, &v);
    if (e)
        return e;
    *who = v.who;
    sodium_memzero(v.csrf, sizeof(v.csrf));
    return LAIR_OK;
}

/* ---- routes ---- */

static enum lair_err need_oidc(struct http_req *rq, struct app *app)
{
    if (app->oidc)
        return LAIR_OK;
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "oidc_not_configured",
                     "no identity provider is configured on this server: sign in with a key");
}

enum lair_err api_auth_providers(struct http_req *rq)
{
    struct app *app = http_app(rq);
    json_t *list = json_array();
    for (size_t i = 0; list && i < oidc_rp_count(app->oidc); i++) {
        const struct oidc_provider *pr = oidc_rp_at(app->oidc, i);
        char url[128];
        snprintf(url, sizeof(url), "/auth/login?provider=%s", pr->id);
        json_array_append_new(
            list, json_pack("{s:s, s:s, s:s}", "id", pr->id, "name", pr->name, "login_url", url));
    }
    return api_respond_json(rq, 200, json_pack("{s:o, s:b}", "providers", list, "keys", 1));
}

enum lair_err api_auth_login(struct http_req *rq)
{
    struct app *app = http_app(rq);
    enum lair_err e = need_oidc(rq, app);
    if (e)
        return e;
    const struct oidc_provider *pr = oidc_rp_find(app->oidc, http_query(rq, "provider"));
    if (!pr)
        return http_fail(rq, LAIR_ENOTFOUND, "provider", "provider_not_found",
                         "no identity provider of that id (GET /auth/providers lists them)");
    const char *next = http_query(rq, "next");
    struct pending_login pl = {0};
    snprintf(pl.provider, sizeof(pl.provider), "%s", pr->id);
    snprintf(pl.next, sizeof(pl.next), "%s", next_valid(next) ? next : "/console");
    char state[RANDOM_LEN + 1], binding[RANDOM_LEN + 1];
    random_text(state);
    random_text(binding);
    random_text(pl.nonce);
    random_text(pl.verifier); /* 43 characters: RFC 7636's minimum */
    e = people_login_put(app->sys, state, binding, &pl);
    if (e)
        return e;
    char *url = NULL, why[256] = "";
    e = oidc_authorize_url(app->oidc, pr, state, pl.nonce, pl.verifier, &url, why, sizeof(why));
    sodium_memzero(&pl, sizeof(pl));
    if (e) {
        log_warn("auth", "sign-in with %s: %s", pr->id, why);
        return page(rq, 502, "Fournisseur d'identité injoignable", "Identity provider unreachable",
                    "Le fournisseur d'identité ne répond pas. Réessayez dans un instant.",
                    "The identity provider does not answer. Try again in a moment.", NULL);
    }
    e = set_cookie(rq, LOGIN_COOKIE, binding, 600);
    if (!e)
        e = redirect(rq, url);
    free(url);
    return e;
}

static enum lair_err refuse(struct http_req *rq, const char *provider, const char *reason,
                            const char *why)
{
    char d[512], w[256];
    token_of(why, w, sizeof(w));
    snprintf(d, sizeof(d), "provider:%s reason:%s%s%s", provider ? provider : "-", reason,
             w[0] ? " why:" : "", w);
    audit(rq, NULL, "anonymous", "auth.refused", "route:auth_callback", "denied", d);
    set_cookie(rq, LOGIN_COOKIE, "x", 0);
    return page(rq, 403, "Connexion refusée", "Sign-in refused",
                "La connexion n'a pas pu être vérifiée. Recommencez depuis la console ; si cela "
                "se reproduit, contactez l'administrateur de votre organisation.",
                "The sign-in could not be verified. Start again from the console; if it happens "
                "again, contact your organisation's administrator.",
                NULL);
}

/* The identity in claims, as the provider's settings name them. Strings
 * borrowed from claims (or names, for the composed display name). */
static void identity_of(const struct oidc_provider *pr, const json_t *claims, struct identity *id,
                        char *email, size_t email_cap, char *name, size_t name_cap,
                        const char **groups, size_t *n_groups)
{
    memset(id, 0, sizeof(*id));
    id->provider = pr->id;
    id->sub = json_string_value(json_object_get(claims, "sub"));
    const char *em = json_string_value(json_object_get(claims, pr->claim_email));
    snprintf(email, email_cap, "%s", em ? em : "");
    for (char *c = email; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');
    if (!people_email_valid(email))
        email[0] = 0;
    id->email = email;
    const char *given = json_string_value(json_object_get(claims, "given_name"));
    const char *family = json_string_value(json_object_get(claims, "usual_name"));
    if (!family)
        family = json_string_value(json_object_get(claims, "family_name"));
    const char *full = json_string_value(json_object_get(claims, "name"));
    if (given || family)
        snprintf(name, name_cap, "%s%s%s", given ? given : "", given && family ? " " : "",
                 family ? family : "");
    else
        snprintf(name, name_cap, "%s", full ? full : email);
    id->name = name;
    const char *siret = json_string_value(json_object_get(claims, pr->claim_siret));
    id->siret = siret && access_value_valid(ACCESS_SIRET, siret) ? siret : "";
    *n_groups = 0;
    const json_t *g = json_object_get(claims, pr->claim_groups);
    size_t i;
    const json_t *v;
    json_array_foreach(g, i, v) if (json_is_string(v) && *n_groups < MAX_GROUPS)
        groups[(*n_groups)++] = json_string_value(v);
    if (json_is_string(g))
        groups[(*n_groups)++] = json_string_value(g);
    id->groups = groups;
    id->n_groups = *n_groups;
    id->sid = json_string_value(json_object_get(claims, "sid")); /* the ID token's */
}

/* The claims kept with a session to choose a tenant later: siret, groups. */
static char *session_claims(const struct identity *id)
{
    json_t *g = json_array();
    for (size_t i = 0; g && i < id->n_groups; i++)
        json_array_append_new(g, json_string(id->groups[i]));
    json_t *o = json_pack("{s:s, s:o}", "siret", id->siret ? id->siret : "", "groups", g);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

static enum lair_err start_session(struct http_req *rq, const struct identity *id,
                                   const char *member, const char *id_token, const char *next)
{
    struct app *app = http_app(rq);
    char token[SESSION_TOKEN_LEN + 1], csrf[CSRF_TOKEN_LEN + 1];
    char *claims = session_claims(id);
    if (!claims)
        return LAIR_ENOMEM;
    enum lair_err e = people_session_create(app->sys, id, member, id_token, claims, token, csrf);
    free(claims);
    if (e)
        return e;
    e = set_cookie(rq, SESSION_COOKIE, token, -1);
    sodium_memzero(token, sizeof(token));
    if (!e)
        e = set_cookie(rq, LOGIN_COOKIE, "x", 0);
    return e ? e : redirect(rq, next);
}

enum lair_err api_auth_callback(struct http_req *rq)
{
    struct app *app = http_app(rq);
    enum lair_err e = need_oidc(rq, app);
    if (e)
        return e;
    const char *state = http_query(rq, "state"), *authz_code = http_query(rq, "code");
    const char *err = http_query(rq, "error");
    char binding[RANDOM_LEN + 8] = "";
    cookie_get(rq, LOGIN_COOKIE, binding, sizeof(binding));
    if (!state || strlen(state) > 128)
        return refuse(rq, NULL, "state", "no state");
    struct pending_login pl;
    e = people_login_take(app->sys, state, binding, &pl);
    if (e == LAIR_ENOTFOUND)
        return refuse(rq, NULL, "state", "unknown, expired or already used state");
    if (e == LAIR_EAUTH)
        return refuse(rq, NULL, "state", "the sign-in was started by another browser");
    if (e)
        return e;
    const struct oidc_provider *pr = oidc_rp_find(app->oidc, pl.provider);
    if (!pr)
        return refuse(rq, pl.provider, "provider", "provider no longer configured");
    const char *iss = http_query(rq, "iss"); /* RFC 9207: which provider answered */
    if (iss && strcmp(iss, pr->issuer))
        return refuse(rq, pr->id, "issuer", "the answer names another issuer (mix-up)");
    if (err) {
        char w[160];
        snprintf(w, sizeof(w), "provider answered %.100s", err);
        return refuse(rq, pr->id, "provider_error", w);
    }
    struct oidc_result res;
    char why[256] = "";
    e = oidc_finish(app->oidc, pr, authz_code, pl.nonce, pl.verifier, &res, why, sizeof(why));
    sodium_memzero(pl.verifier, sizeof(pl.verifier));
    if (e)
        return refuse(rq, pr->id, "token", why);
    struct identity id;
    char email[PEOPLE_EMAIL_MAX + 1], name[PEOPLE_NAME_MAX + 1];
    const char *groups[MAX_GROUPS + 1];
    size_t ng;
    identity_of(pr, res.claims, &id, email, sizeof(email), name, sizeof(name), groups, &ng);
    struct entry entries[PEOPLE_MAX_ENTRIES];
    size_t n = 0;
    e = people_entries(app->sys, &id, entries, PEOPLE_MAX_ENTRIES, &n);
    if (!e && n == 0) {
        /* nobody declared this person: a clear page, and the operator's log
         * says which organisation tried (no personal data: SIRET, domain) */
        const char *at = strchr(email, '@');
        char d[400];
        snprintf(d, sizeof(d), "provider:%s reason:no_tenant siret:%s domain:%s", pr->id,
                 id.siret[0] ? id.siret : "-", at ? at + 1 : "-");
        audit(rq, NULL, "anonymous", "auth.refused", "route:auth_callback", "denied", d);
        oidc_result_clear(&res);
        set_cookie(rq, LOGIN_COOKIE, "x", 0);
        return page(rq, 403, "Accès non autorisé", "No access",
                    "Votre identité est vérifiée, mais aucune organisation de ce service ne vous "
                    "a donné accès. Demandez à l'administrateur de votre collectivité de vous "
                    "ajouter comme membre, ou de déclarer votre organisation (SIRET).",
                    "Your identity is verified, but no organisation on this service has given "
                    "you access. Ask your organisation's administrator to add you as a member, "
                    "or to declare your organisation (SIRET).",
                    NULL);
    }
    char member[MEMBER_ID_LEN + 1] = "";
    if (!e && n == 1) {
        e = people_enter(app->sys, &id, entries[0].tenant, member);
        if (!e)
            audit(rq, entries[0].tenant, member, "auth.signin", "provider", "ok", pr->id);
    }
    if (!e)
        e = start_session(rq, &id, member, res.id_token, n == 1 ? pl.next : "/console?choose=1");
    oidc_result_clear(&res);
    return e;
}

/* The session of rq's cookie, chosen or not. LAIR_EAUTH recorded when none. */
static enum lair_err any_session(struct http_req *rq, struct session_view *v, char *token,
                                 size_t cap)
{
    struct app *app = http_app(rq);
    if (!cookie_get(rq, SESSION_COOKIE, token, cap))
        return http_fail(rq, LAIR_EAUTH, NULL, "not_signed_in", "not signed in");
    enum lair_err e = people_session_get(app->sys, token, &app->sessions, v);
    if (e == LAIR_EAUTH)
        return http_fail(rq, LAIR_EAUTH, NULL, "session_expired",
                         "your session has ended: sign in again");
    return e;
}

static void identity_from_session(const struct session_view *v, json_t *claims, struct identity *id,
                                  const char **groups)
{
    memset(id, 0, sizeof(*id));
    id->provider = v->provider;
    id->sub = v->sub;
    id->email = v->email;
    id->name = v->name;
    id->siret = json_string_value(json_object_get(claims, "siret"));
    size_t i;
    const json_t *g;
    json_array_foreach(json_object_get(claims, "groups"), i,
                       g) if (json_is_string(g) && id->n_groups < MAX_GROUPS)
        groups[id->n_groups++] = json_string_value(g);
    id->groups = groups;
}

enum lair_err api_auth_me(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct session_view v;
    char token[SESSION_TOKEN_LEN + 8];
    enum lair_err e = any_session(rq, &v, token, sizeof(token));
    sodium_memzero(token, sizeof(token));
    if (e)
        return e;
    json_t *claims = json_loads(v.claims, 0, NULL);
    struct identity id;
    const char *groups[MAX_GROUPS];
    identity_from_session(&v, claims, &id, groups);
    struct entry entries[PEOPLE_MAX_ENTRIES];
    size_t n = 0;
    e = people_entries(app->sys, &id, entries, PEOPLE_MAX_ENTRIES, &n);
    json_t *list = json_array();
    for (size_t i = 0; !e && list && i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s}", "tenant", entries[i].tenant,
                                              "name", entries[i].tenant_name, "role",
                                              key_role_name(entries[i].role)));
    json_decref(claims);
    if (e) {
        json_decref(list);
        return e;
    }
    const struct oidc_provider *pr = oidc_rp_find(app->oidc, v.provider);
    json_t *o = json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:o, s:I, s:b}", "signed_in", 1,
                          "provider", v.provider, "provider_name", pr ? pr->name : v.provider,
                          "name", v.name, "email", v.email, "csrf_token", v.csrf, "tenants", list,
                          "signed_in_at", (json_int_t)v.created_at, "chosen", v.chosen);
    if (o && v.chosen) {
        json_object_set_new(o, "tenant", json_string(v.who.tenant));
        json_object_set_new(o, "role", json_string(key_role_name(v.who.role)));
        json_object_set_new(o, "member", json_string(v.who.key_id));
    }
    http_set_header(rq, "Cache-Control", "no-store");
    return api_respond_json(rq, 200, o);
}

enum lair_err api_auth_choose(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct session_view v;
    char token[SESSION_TOKEN_LEN + 8];
    enum lair_err e = any_session(rq, &v, token, sizeof(token));
    if (!e)
        e = csrf_check(rq, &v);
    json_t *body = NULL;
    if (!e)
        e = api_parse_body(rq, &body);
    const char *tenant = json_string_value(json_object_get(body, "tenant"));
    if (!e && !tenant)
        e = http_fail(rq, LAIR_EUNPROC, "tenant", "invalid_value", "'tenant' is required");
    json_t *claims = e ? NULL : json_loads(v.claims, 0, NULL);
    struct identity id;
    const char *groups[MAX_GROUPS];
    char member[MEMBER_ID_LEN + 1];
    if (!e) {
        identity_from_session(&v, claims, &id, groups);
        e = people_enter(app->sys, &id, tenant, member);
        if (e == LAIR_EPERM)
            e = http_fail(rq, LAIR_EPERM, "tenant", "not_a_member",
                          "you are not a member of that organisation");
    }
    if (!e)
        e = people_session_choose(app->sys, token, member);
    sodium_memzero(token, sizeof(token));
    if (!e) {
        audit(rq, tenant, member, "auth.signin", "provider", "ok", v.provider);
        e = api_respond_json(rq, 200, json_pack("{s:s, s:s}", "tenant", tenant, "member", member));
    }
    json_decref(claims);
    json_decref(body);
    return e;
}

enum lair_err api_auth_logout(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct session_view v;
    char token[SESSION_TOKEN_LEN + 8];
    enum lair_err e = any_session(rq, &v, token, sizeof(token));
    if (e == LAIR_EAUTH) { /* already over: the cookie goes all the same */
        set_cookie(rq, SESSION_COOKIE, "x", 0);
        return e;
    }
    if (!e)
        e = csrf_check(rq, &v);
    if (e)
        return e;
    char id_token[4096];
    e = people_session_end(app->sys, token, id_token, sizeof(id_token));
    sodium_memzero(token, sizeof(token));
    if (e)
        return e;
    if (v.chosen)
        audit(rq, v.who.tenant, v.who.key_id, "auth.signout", "provider", "ok", v.provider);
    char *url = NULL;
    const struct oidc_provider *pr = oidc_rp_find(app->oidc, v.provider);
    if (pr && id_token[0]) {
        char state[RANDOM_LEN + 1];
        random_text(state);
        oidc_logout_url(app->oidc, pr, id_token, state, &url);
    }
    set_cookie(rq, SESSION_COOKIE, "x", 0);
    json_t *o = json_pack("{s:b, s:s?}", "signed_out", 1, "logout_url", url);
    free(url);
    return api_respond_json(rq, 200, o);
}

enum lair_err api_auth_logout_all(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct session_view v;
    char token[SESSION_TOKEN_LEN + 8];
    enum lair_err e = any_session(rq, &v, token, sizeof(token));
    sodium_memzero(token, sizeof(token));
    if (!e)
        e = csrf_check(rq, &v);
    int n = 0;
    if (!e)
        e = people_session_end_all(app->sys, v.provider, v.sub, &n);
    if (e)
        return e;
    if (v.chosen) {
        char d[64];
        snprintf(d, sizeof(d), "sessions:%d", n);
        audit(rq, v.who.tenant, v.who.key_id, "auth.signout_everywhere", "provider", "ok", d);
    }
    set_cookie(rq, SESSION_COOKIE, "x", 0);
    return api_respond_json(rq, 200, json_pack("{s:b, s:i}", "signed_out", 1, "sessions", n));
}

enum lair_err api_auth_signed_out(struct http_req *rq)
{
    return redirect(rq, "/console");
}

/* ---- back-channel logout (OpenID Connect Back-Channel Logout 1.0) ---- */

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* The value of key in an application/x-www-form-urlencoded body, decoded.
 * False when it is absent, given twice, badly escaped, or longer than
 * cap - 1. */
static bool form_value(struct str body, const char *key, char *out, size_t cap)
{
    size_t kl = strlen(key);
    bool found = false;
    for (size_t i = 0; i < body.len;) {
        const char *p = body.ptr + i;
        const char *amp = memchr(p, '&', body.len - i);
        size_t len = amp ? (size_t)(amp - p) : body.len - i;
        i += len + 1;
        if (len <= kl || memcmp(p, key, kl) || p[kl] != '=')
            continue;
        if (found)
            return false;
        found = true;
        size_t n = 0;
        for (size_t j = kl + 1; j < len; j++) {
            char c = p[j];
            if (c == '%') {
                int hi = j + 2 < len ? hex_digit(p[j + 1]) : -1;
                int lo = hi >= 0 ? hex_digit(p[j + 2]) : -1;
                if (lo < 0)
                    return false;
                c = (char)(hi * 16 + lo);
                j += 2;
            } else if (c == '+')
                c = ' ';
            if (c == 0 || n + 1 >= cap)
                return false;
            out[n++] = c;
        }
        out[n] = 0;
    }
    return found;
}

/* The spec's answer to a logout that failed: 400 with an OAuth error (and,
 * like every answer, Cache-Control: no-store), the reason in the operator's
 * log. */
static enum lair_err logout_refuse(struct http_req *rq, const char *provider, const char *why)
{
    char d[512], w[256];
    token_of(why, w, sizeof(w));
    snprintf(d, sizeof(d), "provider:%s reason:%s", provider[0] ? provider : "-", w);
    audit(rq, NULL, "anonymous", "auth.backchannel_logout", "route:auth_backchannel_logout",
          "denied", d);
    return api_respond_json(
        rq, 400, json_pack("{s:s, s:s}", "error", "invalid_request", "error_description", why));
}

#define LOGOUT_TOKEN_MAX 16384
#define LOGOUT_MEMBERS_AUDITED 64

enum lair_err api_auth_backchannel_logout(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct str pid = http_param(rq, 0);
    char provider[PEOPLE_PROVIDER_MAX + 1] = "";
    if (pid.len < sizeof(provider))
        snprintf(provider, sizeof(provider), "%.*s", (int)pid.len, pid.ptr);
    const struct oidc_provider *pr = oidc_rp_find(app->oidc, provider);
    if (!pr)
        return logout_refuse(rq, "", "no identity provider of that id on this server");
    char *token = arena_alloc(http_arena(rq), LOGOUT_TOKEN_MAX);
    if (!token)
        return LAIR_ENOMEM;
    if (!form_value(http_body(rq), "logout_token", token, LOGOUT_TOKEN_MAX))
        return logout_refuse(rq, pr->id, "the body must be logout_token=<JWT>, once");
    struct oidc_logout lo;
    char why[256] = "";
    enum lair_err e = oidc_verify_logout_token(app->oidc, pr, token, &lo, why, sizeof(why));
    if (e == LAIR_ENET && !why[0])
        snprintf(why, sizeof(why), "the identity provider cannot be reached for its keys");
    if (e == LAIR_EAUTH || e == LAIR_ENET)
        return logout_refuse(rq, pr->id, why);
    if (e)
        return e;
    struct session_ended ended[LOGOUT_MEMBERS_AUDITED];
    size_t nm = 0;
    int n = 0;
    e = people_session_end_logout(app->sys, pr->id, lo.sub, lo.sid, ended, LOGOUT_MEMBERS_AUDITED,
                                  &nm, &n);
    if (e)
        return e;
    char actor[PEOPLE_PROVIDER_MAX + 16], d[128];
    snprintf(actor, sizeof(actor), "provider:%s", pr->id);
    snprintf(d, sizeof(d), "provider:%s by:%s sessions:%d", pr->id, lo.sub[0] ? "sub" : "sid", n);
    audit(rq, NULL, actor, "auth.backchannel_logout", "route:auth_backchannel_logout", "ok", d);
    for (size_t i = 0; i < nm; i++)
        audit(rq, ended[i].tenant, ended[i].member, "auth.backchannel_logout", "provider", "ok", d);
    return api_respond_json(rq, 200, json_pack("{s:i}", "sessions", n));
}

/* ---- enrollment links ---- */

static bool enroll_token(struct http_req *rq, char out[ENROLL_TOKEN_LEN + 1])
{
    struct str t = http_param(rq, 0);
    if (t.len != ENROLL_TOKEN_LEN)
        return false;
    for (size_t i = 0; i < t.len; i++) {
        char c = t.ptr[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    memcpy(out, t.ptr, t.len);
    out[t.len] = 0;
    return true;
}

enum lair_err api_enroll_page(struct http_req *rq)
{
    char tok[ENROLL_TOKEN_LEN + 1];
    if (!enroll_token(rq, tok))
        return page(rq, 404, "Lien inconnu", "Unknown link", "Ce lien d'activation n'existe pas.",
                    "This enrollment link does not exist.", NULL);
    char form[256];
    snprintf(form, sizeof(form),
             "<form method=\"post\" action=\"/enroll/%s\"><button type=\"submit\">"
             "Créer ma clé d'administration / Create my admin key</button></form>",
             tok);
    sodium_memzero(tok, sizeof(tok));
    return page(rq, 200, "Activer l'administration de votre organisation",
                "Enroll as your organisation's administrator",
                "Ce lien, à usage unique, crée la clé d'administration de votre organisation. "
                "Elle ne sera affichée qu'une fois : conservez-la dans un coffre-fort de mots de "
                "passe. L'opérateur du service ne la connaît pas.",
                "This one-time link creates your organisation's admin key. It is shown once: "
                "keep it in a password manager. The service's operator does not know it.",
                form);
}

enum lair_err api_enroll_use(struct http_req *rq)
{
    struct app *app = http_app(rq);
    char tok[ENROLL_TOKEN_LEN + 1];
    if (!enroll_token(rq, tok))
        return page(rq, 404, "Lien inconnu", "Unknown link", "Ce lien d'activation n'existe pas.",
                    "This enrollment link does not exist.", NULL);
    char tenant[SLUG_MAX + 1], id[MEMBER_ID_LEN + 1], key[KEY_TEXT_MAX], key_id[KEY_ID_LEN + 1];
    enum lair_err e = people_enroll_use(app->sys, tok, tenant, id, key, key_id);
    sodium_memzero(tok, sizeof(tok));
    char actor[MEMBER_ID_LEN + 16], target[KEY_ID_LEN + 8];
    snprintf(actor, sizeof(actor), "enrollment:%s", id);
    if (e == LAIR_ECONFLICT || e == LAIR_EPERM) {
        /* reported: the tenant's admins and the operator see the attempt */
        const char *why = e == LAIR_ECONFLICT ? "reason:already_used" : "reason:expired";
        audit(rq, tenant, actor, "enrollment.refused", "route:enroll", "denied", why);
        audit(rq, NULL, actor, "enrollment.refused", "route:enroll", "denied", why);
        return e == LAIR_ECONFLICT
                   ? page(rq, 409, "Lien déjà utilisé", "Link already used",
                          "Ce lien a déjà servi. Si ce n'est pas vous qui l'avez utilisé, "
                          "prévenez immédiatement l'opérateur : la tentative est enregistrée.",
                          "This link was already used. If you did not use it, tell the operator "
                          "at once: the attempt is recorded.",
                          NULL)
                   : page(rq, 410, "Lien expiré", "Link expired",
                          "Ce lien a expiré. Demandez-en un nouveau à l'opérateur du service.",
                          "This link has expired. Ask the service's operator for a new one.", NULL);
    }
    if (e == LAIR_ENOTFOUND)
        return page(rq, 404, "Lien inconnu", "Unknown link", "Ce lien d'activation n'existe pas.",
                    "This enrollment link does not exist.", NULL);
    if (e)
        return e;
    snprintf(target, sizeof(target), "key:%s", key_id);
    audit(rq, tenant, actor, "enrollment.use", target, "ok", "role:admin");
    char extra[512];
    snprintf(extra, sizeof(extra),
             "<p><label for=\"key\">Clé / Key</label> <input id=\"key\" readonly "
             "value=\"%s\" size=\"70\"></p>",
             key);
    sodium_memzero(key, sizeof(key));
    enum lair_err r = page(rq, 201, "Votre clé d'administration", "Your admin key",
                           "Voici la clé d'administration de votre organisation, affichée une "
                           "seule fois. Connectez-vous à la console avec elle, puis invitez vos "
                           "collègues (page Membres).",
                           "Here is your organisation's admin key, shown once. Sign in to the "
                           "console with it, then invite your colleagues (Members page).",
                           extra);
    sodium_memzero(extra, sizeof(extra));
    return r;
}
