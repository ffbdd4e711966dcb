/* Management of tenants (operator) and API keys (a tenant's admin for its
 * tenant, the operator for operator keys). Secrets are returned once, in the
 * creation response, and never again. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "core/json.h"
#include "core/banned.h"

#define MAX_LIST 1000

enum lair_err api_tenants_list(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct tenant_row *rows = malloc(MAX_LIST * sizeof(*rows));
    size_t n = 0;
    if (!rows)
        return LAIR_ENOMEM;
    enum lair_err e = sysdb_tenant_list(app->sys, rows, MAX_LIST, &n);
    if (!e) {
        json_t *data = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(data, api_tenant_json(&rows[i]));
        e = api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    free(rows);
    return e;
}

static enum lair_err unprocessable(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

/* Optional integer field from 0 to max. */
static enum lair_err opt_count(struct http_req *rq, json_t *o, const char *key, int64_t max,
                               int64_t *out)
{
    char msg[200];
    long long v = *out;
    if (json_opt_int(o, key, 0, max, &v, msg, sizeof(msg)))
        return unprocessable(rq, key, msg);
    *out = v;
    return LAIR_OK;
}

enum lair_err api_tenants_create(struct http_req *rq)
{
    struct app *app = http_app(rq);
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "slug") && strcmp(key, "name") && strcmp(key, "limits") &&
            strcmp(key, "admin_email") && strcmp(key, "admin_key") &&
            strcmp(key, "enrollment_expires_in")) {
            e = http_fail(rq, LAIR_EUNPROC, key, "unknown_field", "unknown field '%s'", key);
            goto out;
        }
    }
    json_t *slug = json_object_get(o, "slug"), *name = json_object_get(o, "name");
    if (!json_is_string(slug) || !slug_valid(str_c(json_string_value(slug)))) {
        e = unprocessable(rq, "slug",
                          "'slug' must be 1 to 63 characters among a-z, 0-9 and '-' (not first)");
        goto out;
    }
    if (name && (!json_is_string(name) || json_string_length(name) > 200)) {
        e = unprocessable(rq, "name", "'name' must be a string of at most 200 bytes");
        goto out;
    }
    int64_t rpm = 0, tpd = 0, ret = 0;
    json_t *lim = json_object_get(o, "limits");
    if (lim && (!json_is_object(lim) || (e = opt_count(rq, lim, "rpm", LIMIT_MAX, &rpm)) ||
                (e = opt_count(rq, lim, "tokens_per_day", LIMIT_MAX, &tpd)) ||
                (e = opt_count(rq, lim, "retention_days", RETENTION_DAYS_MAX, &ret)))) {
        if (!e)
            e = unprocessable(rq, "limits", "'limits' must be an object");
        goto out;
    }
    /* the first admin: named by email (OpenID Connect), or a one-time
     * enrollment link; the operator gets no secret of the tenant unless it
     * asks for an emergency key ("admin_key": true), which the tenant's log
     * shows to its admins (docs/oidc.md) */
    json_t *email = json_object_get(o, "admin_email"), *mint = json_object_get(o, "admin_key");
    json_t *ttl_j = json_object_get(o, "enrollment_expires_in");
    char admin_email[PEOPLE_EMAIL_MAX + 1] = "";
    if (email) {
        const char *ev = json_string_value(email);
        size_t el = ev ? strlen(ev) : 0;
        for (size_t i = 0; ev && i < el && i < PEOPLE_EMAIL_MAX; i++)
            admin_email[i] = (char)(ev[i] >= 'A' && ev[i] <= 'Z' ? ev[i] - 'A' + 'a' : ev[i]);
        if (!ev || el > PEOPLE_EMAIL_MAX || !people_email_valid(admin_email)) {
            e = unprocessable(rq, "admin_email", "'admin_email' must be an email address");
            goto out;
        }
    }
    if (mint && !json_is_boolean(mint)) {
        e = unprocessable(rq, "admin_key", "'admin_key' is true or false");
        goto out;
    }
    int64_t ttl = 72 * 3600;
    if (ttl_j && (!json_is_string(ttl_j) || key_duration_parse(json_string_value(ttl_j), &ttl) ||
                  ttl > 30 * 86400)) {
        e = unprocessable(rq, "enrollment_expires_in",
                          "'enrollment_expires_in' is a duration like \"72h\" or \"7d\", at most "
                          "30 days");
        goto out;
    }
    const char *s = json_string_value(slug);
    e = tenants_create(app->tenants, s, name ? json_string_value(name) : NULL);
    if (e == LAIR_ECONFLICT) {
        e = http_fail(rq, e, "slug", "tenant_exists", "a tenant '%s' already exists", s);
        goto out;
    }
    if (e)
        goto out;
    char k[KEY_TEXT_MAX] = "", id[KEY_ID_LEN + 1] = "", member[MEMBER_ID_LEN + 1] = "";
    char link[ENROLL_TOKEN_LEN + 1] = "", link_id[MEMBER_ID_LEN + 1] = "";
    int64_t link_expires = 0;
    struct key_spec spec = {.role = ROLE_ADMIN, .tenant = s, .name = "emergency admin key (operator)"};
    e = sysdb_tenant_set_limits(app->sys, s, rpm, tpd, ret);
    if (!e && json_is_true(mint))
        e = sysdb_key_create_spec(app->sys, &spec, k, id);
    if (!e && admin_email[0])
        e = people_member_add(app->sys, s, admin_email, ROLE_ADMIN, "operator", member);
    if (!e && !json_is_true(mint) && !admin_email[0])
        e = people_enroll_create(app->sys, s, http_principal(rq)->key_id, ttl, link, link_id,
                                 &link_expires);
    if (e) {
        tenants_delete(app->tenants, s);
        goto out;
    }
    char target[100];
    snprintf(target, sizeof(target), "tenant:%s", s);
    api_audit(rq, "tenant.create", target, "ok");
    json_t *r = json_pack("{s:s, s:s}", "slug", s, "name", name ? json_string_value(name) : s);
    if (r && k[0]) {
        char t[KEY_ID_LEN + 8];
        snprintf(t, sizeof(t), "key:%s", id);
        api_audit_for_tenant(rq, s, "operator.key_mint", t, "role:admin");
        json_object_set_new(r, "admin_key", json_string(k));
        json_object_set_new(r, "admin_key_id", json_string(id));
    }
    if (r && member[0]) {
        char t[MEMBER_ID_LEN + 8];
        snprintf(t, sizeof(t), "member:%s", member);
        api_audit_for_tenant(rq, s, "member.add", t, "role:admin");
        json_object_set_new(r, "admin", json_pack("{s:s, s:s, s:s}", "id", member, "email",
                                                  admin_email, "role", "admin"));
    }
    if (r && link[0]) {
        char t[MEMBER_ID_LEN + 16], url[700];
        snprintf(t, sizeof(t), "enrollment:%s", link_id);
        api_audit_for_tenant(rq, s, "enrollment.create", t, "role:admin");
        snprintf(url, sizeof(url), "%s/enroll/%s", app->public_url ? app->public_url : "", link);
        json_object_set_new(r, "enrollment", json_pack("{s:s, s:s, s:I}", "id", link_id, "url", url,
                                                       "expires_at", (json_int_t)link_expires));
    }
    sodium_memzero(k, sizeof(k));
    sodium_memzero(link, sizeof(link));
    e = api_respond_json(rq, 201, r);
out:
    json_decref(o);
    return e;
}

enum lair_err api_tenants_delete(struct http_req *rq)
{
    struct app *app = http_app(rq);
    char slug[SLUG_MAX + 1];
    struct str p = http_param(rq, 0);
    if (p.len > SLUG_MAX || !slug_valid(p))
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "not_found", "no such tenant");
    snprintf(slug, sizeof(slug), "%.*s", (int)p.len, p.ptr);
    enum lair_err e = tenants_delete(app->tenants, slug);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "not_found", "no such tenant");
    if (e)
        return e;
    char target[100];
    snprintf(target, sizeof(target), "tenant:%s", slug);
    api_audit(rq, "tenant.delete", target, "ok");
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "slug", slug, "deleted", 1));
}

/* ---- keys ---- */

/* Operators manage operator keys; a tenant's admin its tenant's keys. */
static enum lair_err key_scope(struct http_req *rq, const char **tenant)
{
    const struct principal *p = http_principal(rq);
    if (p->role == ROLE_OPERATOR) {
        *tenant = NULL;
        return LAIR_OK;
    }
    if (p->role != ROLE_ADMIN)
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden", "managing keys needs an admin key");
    *tenant = p->tenant;
    return LAIR_OK;
}

static json_t *key_json(const struct key_row *k)
{
    json_t *assistants = json_array();
    if (k->assistants[0]) {
        char tmp[sizeof(k->assistants)];
        snprintf(tmp, sizeof(tmp), "%s", k->assistants);
        char *save = NULL;
        for (char *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
            json_array_append_new(assistants, json_string(t));
    }
    json_t *v = json_pack("{s:s, s:s, s:s, s:o, s:I, s:I, s:I, s:{s:I, s:I}, s:b}", "id", k->id,
                          "role", k->role, "name", k->name, "assistants", assistants,
                          "created_at", (json_int_t)k->created_at, "expires_at",
                          (json_int_t)k->expires_at, "last_used_at", (json_int_t)k->last_used_at,
                          "limits", "rpm", (json_int_t)k->rpm_limit, "tokens_per_day",
                          (json_int_t)k->tokens_per_day, "revoked", k->revoked_at != 0);
    return v;
}

enum lair_err api_keys_list(struct http_req *rq)
{
    struct app *app = http_app(rq);
    const char *tenant = NULL;
    enum lair_err e = key_scope(rq, &tenant);
    if (e)
        return e;
    struct key_row *rows = malloc(MAX_LIST * sizeof(*rows));
    if (!rows)
        return LAIR_ENOMEM;
    size_t n = 0;
    e = sysdb_key_list(app->sys, tenant, rows, MAX_LIST, &n);
    if (!e) {
        json_t *data = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(data, key_json(&rows[i]));
        e = api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
    }
    free(rows);
    return e;
}

/* expires_in: "30d", "12h", "15m", "90s" or seconds (a string or an
 * integer), 1 s to KEY_EXPIRES_IN_MAX; 0 on error. */
static int64_t parse_duration(json_t *v)
{
    int64_t secs = 0;
    if (json_is_integer(v)) {
        json_int_t n = json_integer_value(v);
        return n >= 1 && n <= KEY_EXPIRES_IN_MAX ? (int64_t)n : 0;
    }
    if (json_is_string(v) && key_duration_parse(json_string_value(v), &secs) == LAIR_OK)
        return secs;
    return 0;
}

enum lair_err api_keys_create(struct http_req *rq)
{
    struct app *app = http_app(rq);
    const char *tenant = NULL;
    /* a person signed in creates personal keys, of at most their own role,
     * that die with their membership (store/people.h) */
    bool personal = http_via_session(rq);
    if (personal)
        tenant = http_principal(rq)->tenant;
    enum lair_err e = personal ? LAIR_OK : key_scope(rq, &tenant);
    if (e)
        return e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    struct key_spec spec = {0};
    char assistants[512] = "";
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "role") && strcmp(key, "assistants") && strcmp(key, "expires_in") &&
            strcmp(key, "name") && strcmp(key, "limits")) {
            e = http_fail(rq, LAIR_EUNPROC, key, "unknown_field", "unknown field '%s'", key);
            goto out;
        }
    }
    json_t *role = json_object_get(o, "role");
    const char *r = json_is_string(role) ? json_string_value(role) : "";
    if (tenant && !strcmp(r, "admin"))
        spec.role = ROLE_ADMIN;
    else if (tenant && !strcmp(r, "editor"))
        spec.role = ROLE_EDITOR;
    else if (tenant && !strcmp(r, "user"))
        spec.role = ROLE_USER;
    else if (!tenant && !strcmp(r, "operator"))
        spec.role = ROLE_OPERATOR;
    else {
        e = unprocessable(rq, "role",
                          tenant ? "'role' must be 'admin', 'editor' or 'user'"
                                 : "the operator creates only 'operator' keys here; tenant keys "
                                   "come from the tenant's admin");
        goto out;
    }
    if (personal && spec.role > http_principal(rq)->role) {
        e = http_fail(rq, LAIR_EPERM, "role", "forbidden",
                      "a personal key cannot have a higher role than its owner's (%s)",
                      key_role_name(http_principal(rq)->role));
        goto out;
    }
    if (personal)
        spec.member = http_principal(rq)->key_id;
    json_t *as = json_object_get(o, "assistants");
    if (as && !json_is_null(as) && json_is_array(as) && json_array_size(as) > 0 &&
        !key_role_restrictable(spec.role)) {
        e = unprocessable(rq, "assistants",
                          "'assistants' restricts only 'user' keys: an editor or admin key "
                          "manages every assistant, knowledge base and conversation of the "
                          "tenant; give a 'user' key for chat with some assistants only "
                          "(docs/roles.md)");
        goto out;
    }
    if (as && !json_is_null(as)) {
        if (!json_is_array(as) || json_array_size(as) > 32) {
            e = unprocessable(rq, "assistants", "'assistants' must be an array of assistant slugs");
            goto out;
        }
        size_t i, len = 0;
        json_t *a;
        json_array_foreach(as, i, a)
        {
            if (!json_is_string(a) || !slug_valid(str_c(json_string_value(a))) ||
                len + json_string_length(a) + 2 > sizeof(assistants)) {
                e = unprocessable(rq, "assistants", "each assistant must be a valid slug");
                goto out;
            }
            len += (size_t)snprintf(assistants + len, sizeof(assistants) - len, "%s%s",
                                    i ? "," : "", json_string_value(a));
        }
    }
    json_t *exp = json_object_get(o, "expires_in");
    if (exp && !json_is_null(exp)) {
        int64_t secs = parse_duration(exp);
        if (!secs) {
            e = unprocessable(rq, "expires_in",
                              "'expires_in' must be like \"30d\", \"12h\", \"15m\", \"90s\" or a "
                              "number of seconds, from 1 second to 36500 days (100 years); leave "
                              "it out for a key that does not expire");
            goto out;
        }
        spec.expires_at = (int64_t)time(NULL) + secs;
    }
    json_t *name = json_object_get(o, "name");
    if (name && (!json_is_string(name) || json_string_length(name) > 100)) {
        e = unprocessable(rq, "name", "'name' must be a string of at most 100 bytes");
        goto out;
    }
    json_t *lim = json_object_get(o, "limits");
    if (lim &&
        (!json_is_object(lim) || (e = opt_count(rq, lim, "rpm", LIMIT_MAX, &spec.rpm_limit)) ||
         (e = opt_count(rq, lim, "tokens_per_day", LIMIT_MAX, &spec.tokens_per_day)))) {
        if (!e)
            e = unprocessable(rq, "limits", "'limits' must be an object");
        goto out;
    }
    spec.tenant = tenant;
    spec.name = name ? json_string_value(name) : NULL;
    spec.assistants = assistants;
    char k[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    if ((e = sysdb_key_create_spec(app->sys, &spec, k, id)))
        goto out;
    char target[64];
    snprintf(target, sizeof(target), "key:%s", id);
    api_audit(rq, "key.create", target, "ok");
    e = api_respond_json(rq, 201,
                         json_pack("{s:s, s:s, s:s, s:I}", "id", id, "key", k, "role",
                                   key_role_name(spec.role), "expires_at",
                                   (json_int_t)spec.expires_at));
out:
    json_decref(o);
    return e;
}

enum lair_err api_keys_delete(struct http_req *rq)
{
    struct app *app = http_app(rq);
    const char *tenant = NULL;
    enum lair_err e = key_scope(rq, &tenant);
    if (e)
        return e;
    char id[KEY_ID_LEN + 1];
    struct str p = http_param(rq, 0);
    if (p.len != KEY_ID_LEN)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "not_found", "no such key");
    memcpy(id, p.ptr, KEY_ID_LEN);
    id[KEY_ID_LEN] = 0;
    e = sysdb_key_revoke(app->sys, tenant, id);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "not_found", "no such key");
    if (e == LAIR_ECONFLICT && tenant)
        return http_fail(rq, e, NULL, "last_admin_key",
                         "key %s is the last usable admin key of tenant %s: revoking it would "
                         "leave nobody able to manage the tenant's keys; create another admin "
                         "key first, then revoke this one",
                         id, tenant);
    if (e == LAIR_ECONFLICT)
        return http_fail(rq, e, NULL, "last_operator_key",
                         "key %s is the last usable operator key: create another operator key "
                         "first, then revoke this one",
                         id);
    if (e)
        return e;
    char target[64];
    snprintf(target, sizeof(target), "key:%s", id);
    api_audit(rq, "key.revoke", target, "ok");
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "id", id, "revoked", 1));
}
