/* A tenant's members and access rules, managed by its admins (see
 * api/members_api.h). The rules and rows live in system.db (store/people.h);
 * here are the checks of what a client sends and the audit of each change. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/members_api.h"
#include "auth/oidc.h"
#include "core/banned.h"

static enum lair_err unprocessable(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

/* The only fields allowed in o (a NULL-terminated list); 422 unknown_field
 * naming prefix + the field otherwise. */
static enum lair_err only_fields(struct http_req *rq, json_t *o, const char *prefix,
                                 const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (const char *const *a = allowed; *a && !ok; a++)
            ok = !strcmp(key, *a);
        if (!ok) {
            char param[128];
            snprintf(param, sizeof(param), "%s%.80s", prefix, key);
            return http_fail(rq, LAIR_EUNPROC, param, "unknown_field", "unknown field '%s'", param);
        }
    }
    return LAIR_OK;
}

/* A member's or a rule's role: "user", "editor" or "admin". */
static bool role_parse(json_t *v, enum key_role *out)
{
    const char *r = json_is_string(v) ? json_string_value(v) : "";
    if (!strcmp(r, "admin"))
        *out = ROLE_ADMIN;
    else if (!strcmp(r, "editor"))
        *out = ROLE_EDITOR;
    else if (!strcmp(r, "user"))
        *out = ROLE_USER;
    else
        return false;
    return true;
}

/* A JSON string without NUL bytes, copied lowercased (ASCII) into out. */
static bool lower_copy(json_t *v, char *out, size_t cap)
{
    if (!json_is_string(v))
        return false;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n >= cap || strlen(s) != n)
        return false;
    for (size_t i = 0; i <= n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
    return true;
}

static json_t *member_json(const struct member_row *m)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s?, s:I, s:I}", "id", m->id, "email", m->email,
                     "name", m->name, "role", key_role_name(m->role), "source", m->source,
                     "provider", m->provider[0] ? m->provider : NULL, "created_at",
                     (json_int_t)m->created_at, "last_login", (json_int_t)m->last_login);
}

static const char *tenant_of(struct http_req *rq)
{
    return http_principal(rq)->tenant;
}

static void member_target(const char *id, char out[MEMBER_ID_LEN + 8])
{
    snprintf(out, MEMBER_ID_LEN + 8, "member:%s", id);
}

/* ---- members ---- */

enum lair_err api_members_list(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct member_row *rows = malloc((API_MEMBERS_MAX + 1) * sizeof(*rows));
    if (!rows)
        return LAIR_ENOMEM;
    size_t n = 0;
    enum lair_err e = people_member_list(app->sys, tenant_of(rq), rows, API_MEMBERS_MAX + 1, &n);
    if (!e) {
        json_t *data = json_array();
        for (size_t i = 0; data && i < n && i < API_MEMBERS_MAX; i++)
            json_array_append_new(data, member_json(&rows[i]));
        e = api_respond_json(rq, 200,
                             json_pack("{s:s, s:o, s:b}", "object", "list", "data", data,
                                       "has_more", n > API_MEMBERS_MAX));
    }
    free(rows);
    return e;
}

static enum lair_err member_not_found(struct http_req *rq)
{
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "member_not_found",
                     "no member of that id in this organisation (GET /api/v1/members lists them)");
}

static enum lair_err last_admin(struct http_req *rq, const char *id)
{
    return http_fail(rq, LAIR_ECONFLICT, NULL, "last_admin",
                     "member %s is the organisation's last admin: without them nobody could "
                     "manage its members and keys; make another person admin first",
                     id);
}

/* The {id} of the path, when it has the shape of a member id. */
static bool path_id(struct http_req *rq, char id[MEMBER_ID_LEN + 1])
{
    struct str p = http_param(rq, 0);
    if (p.len != MEMBER_ID_LEN)
        return false;
    for (size_t i = 0; i < p.len; i++) {
        char c = p.ptr[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    memcpy(id, p.ptr, MEMBER_ID_LEN);
    id[MEMBER_ID_LEN] = 0;
    return true;
}

enum lair_err api_members_add(struct http_req *rq)
{
    struct app *app = http_app(rq);
    static const char *const fields[] = {"email", "role", "provider", "sub", NULL};
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    char email[PEOPLE_EMAIL_MAX + 1];
    enum key_role role;
    if ((e = only_fields(rq, o, "", fields)))
        goto out;
    /* by subject: {"provider", "sub"}, for providers without stable emails */
    const char *prov = json_string_value(json_object_get(o, "provider"));
    const char *sub = json_string_value(json_object_get(o, "sub"));
    bool by_subject = json_object_get(o, "provider") || json_object_get(o, "sub");
    if (by_subject && json_object_get(o, "email")) {
        e = unprocessable(rq, "email",
                          "name a person by 'email' or by 'provider' and 'sub', not both");
        goto out;
    }
    bool prov_ok = prov && prov[0] && strlen(prov) <= PEOPLE_PROVIDER_MAX;
    for (const char *c = prov; prov_ok && *c; c++)
        prov_ok = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '-';
    if (by_subject && (!prov_ok || (app->oidc && !oidc_rp_find(app->oidc, prov)))) {
        e = unprocessable(rq, "provider",
                          "'provider' must be the id of an identity provider this server uses "
                          "(GET /auth/providers)");
        goto out;
    }
    if (by_subject && (!sub || !sub[0] || strlen(sub) > PEOPLE_SUB_MAX)) {
        e = unprocessable(rq, "sub",
                          "'sub' must be the person's subject at that provider (1 to 255 bytes)");
        goto out;
    }
    if (!by_subject && (!lower_copy(json_object_get(o, "email"), email, sizeof(email)) ||
                        !people_email_valid(email))) {
        e = unprocessable(rq, "email",
                          "'email' must be the person's email address, as their identity "
                          "provider gives it (at most 254 bytes)");
        goto out;
    }
    if (!role_parse(json_object_get(o, "role"), &role)) {
        e = unprocessable(rq, "role", "'role' must be 'user', 'editor' or 'admin'");
        goto out;
    }
    char id[MEMBER_ID_LEN + 1];
    e = by_subject ? people_member_add_subject(app->sys, tenant_of(rq), prov, sub, role,
                                               http_principal(rq)->key_id, id)
                   : people_member_add(app->sys, tenant_of(rq), email, role,
                                       http_principal(rq)->key_id, id);
    if (e == LAIR_EINVAL) {
        e = unprocessable(rq, "sub", "'sub' must be printable text of 1 to 255 bytes");
        goto out;
    }
    if (e == LAIR_ECONFLICT) {
        e = http_fail(rq, e, by_subject ? "sub" : "email", "member_exists",
                      "this person is already a member: change their role instead");
        goto out;
    }
    struct member_row m;
    if (!e)
        e = people_member_get(app->sys, tenant_of(rq), id, &m);
    if (e)
        goto out;
    char target[MEMBER_ID_LEN + 8], detail[32];
    member_target(id, target);
    snprintf(detail, sizeof(detail), "role:%s", key_role_name(role));
    api_audit_detail(rq, "member.add", target, detail);
    e = api_respond_json(rq, 201, member_json(&m));
out:
    json_decref(o);
    return e;
}

enum lair_err api_member_patch(struct http_req *rq)
{
    struct app *app = http_app(rq);
    static const char *const fields[] = {"role", NULL};
    char id[MEMBER_ID_LEN + 1];
    if (!path_id(rq, id))
        return member_not_found(rq);
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    enum key_role role;
    struct member_row before, m;
    if ((e = only_fields(rq, o, "", fields)))
        goto out;
    if (!role_parse(json_object_get(o, "role"), &role)) {
        e = unprocessable(rq, "role", "'role' must be 'user', 'editor' or 'admin'");
        goto out;
    }
    e = people_member_get(app->sys, tenant_of(rq), id, &before);
    if (!e)
        e = people_member_set_role(app->sys, tenant_of(rq), id, role);
    if (e == LAIR_ENOTFOUND) {
        e = member_not_found(rq);
        goto out;
    }
    if (e == LAIR_ECONFLICT) {
        e = last_admin(rq, id);
        goto out;
    }
    if (!e)
        e = people_member_get(app->sys, tenant_of(rq), id, &m);
    if (e)
        goto out;
    char target[MEMBER_ID_LEN + 8], detail[48];
    member_target(id, target);
    snprintf(detail, sizeof(detail), "role:%s from:%s", key_role_name(role),
             key_role_name(before.role));
    api_audit_detail(rq, "member.role", target, detail);
    e = api_respond_json(rq, 200, member_json(&m));
out:
    json_decref(o);
    return e;
}

enum lair_err api_member_delete(struct http_req *rq)
{
    struct app *app = http_app(rq);
    char id[MEMBER_ID_LEN + 1];
    if (!path_id(rq, id))
        return member_not_found(rq);
    struct member_row before;
    enum lair_err e = people_member_get(app->sys, tenant_of(rq), id, &before);
    if (!e)
        e = people_member_remove(app->sys, tenant_of(rq), id);
    if (e == LAIR_ENOTFOUND)
        return member_not_found(rq);
    if (e == LAIR_ECONFLICT)
        return last_admin(rq, id);
    if (e)
        return e;
    char target[MEMBER_ID_LEN + 8], detail[32];
    member_target(id, target);
    snprintf(detail, sizeof(detail), "role:%s", key_role_name(before.role));
    api_audit_detail(rq, "member.remove", target, detail);
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "id", id, "removed", 1));
}

/* ---- access rules ---- */

static json_t *rules_json(const struct access_rule *r, size_t n)
{
    json_t *list = json_array();
    for (size_t i = 0; list && i < n; i++)
        json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:s?}", "kind",
                                              access_kind_name(r[i].kind), "value", r[i].value,
                                              "role", key_role_name(r[i].role), "provider",
                                              r[i].provider[0] ? r[i].provider : NULL));
    return json_pack("{s:o}", "rules", list);
}

static enum lair_err rules_respond(struct http_req *rq, int status)
{
    struct app *app = http_app(rq);
    struct access_rule *rules = malloc((API_RULES_MAX + 1) * sizeof(*rules));
    if (!rules)
        return LAIR_ENOMEM;
    size_t n = 0;
    enum lair_err e = people_rules_list(app->sys, tenant_of(rq), rules, API_RULES_MAX + 1, &n);
    if (!e)
        e = api_respond_json(rq, status, rules_json(rules, n));
    free(rules);
    return e;
}

enum lair_err api_access_get(struct http_req *rq)
{
    return rules_respond(rq, 200);
}

/* A provider's id as auth/oidc.h names them: 1 to 63 of [a-z0-9-]. */
static bool provider_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > PEOPLE_PROVIDER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
            return false;
    return true;
}

static const char *const value_help[] = {
    [ACCESS_SIRET] = "a SIRET is 14 digits whose last one is the Luhn check digit (as the "
                     "INSEE directory gives it, without spaces)",
    [ACCESS_DOMAIN] = "an email domain is a DNS name such as mairie-exemple.fr, without '@'",
    [ACCESS_GROUP] = "a group is 1 to 200 printable characters, as the provider's groups claim "
                     "sends it",
};

/* Checks rule i of the body into out; 422 naming "rules[i].<field>". */
static enum lair_err rule_parse(struct http_req *rq, json_t *r, size_t i, struct access_rule *out)
{
    static const char *const fields[] = {"kind", "value", "role", "provider", NULL};
    char prefix[32], param[48];
    snprintf(prefix, sizeof(prefix), "rules[%zu].", i);
    if (!json_is_object(r)) {
        snprintf(param, sizeof(param), "rules[%zu]", i);
        return unprocessable(rq, param,
                             "each rule must be an object {\"kind\", \"value\", \"role\"} with an "
                             "optional \"provider\"");
    }
    enum lair_err e = only_fields(rq, r, prefix, fields);
    if (e)
        return e;
    memset(out, 0, sizeof(*out));
    json_t *kind = json_object_get(r, "kind");
    if (!json_is_string(kind) || access_kind_parse(json_string_value(kind), &out->kind)) {
        snprintf(param, sizeof(param), "%skind", prefix);
        return unprocessable(rq, param, "'kind' must be 'siret', 'domain' or 'group'");
    }
    json_t *value = json_object_get(r, "value");
    bool ok;
    if (out->kind == ACCESS_GROUP) { /* a group is the provider's word, case kept */
        const char *s = json_string_value(value);
        ok = s && json_string_length(value) == strlen(s) && strlen(s) <= ACCESS_VALUE_MAX;
        if (ok)
            snprintf(out->value, sizeof(out->value), "%s", s);
    } else {
        ok = lower_copy(value, out->value, sizeof(out->value));
    }
    if (!ok || !access_value_valid(out->kind, out->value)) {
        snprintf(param, sizeof(param), "%svalue", prefix);
        return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "'value' is not valid: %s",
                         value_help[out->kind]);
    }
    if (!role_parse(json_object_get(r, "role"), &out->role)) {
        snprintf(param, sizeof(param), "%srole", prefix);
        return unprocessable(rq, param, "'role' must be 'user', 'editor' or 'admin'");
    }
    json_t *pr = json_object_get(r, "provider");
    if (pr && !json_is_null(pr) && !(json_is_string(pr) && !json_string_length(pr))) {
        if (!json_is_string(pr) || !provider_valid(json_string_value(pr))) {
            snprintf(param, sizeof(param), "%sprovider", prefix);
            return unprocessable(rq, param,
                                 "'provider' must be the id of an identity provider (1 to 63 of "
                                 "a-z, 0-9 and '-'; GET /auth/providers lists them), or be left "
                                 "out for any provider");
        }
        snprintf(out->provider, sizeof(out->provider), "%s", json_string_value(pr));
    }
    return LAIR_OK;
}

enum lair_err api_access_put(struct http_req *rq)
{
    struct app *app = http_app(rq);
    static const char *const fields[] = {"rules", NULL};
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    struct access_rule *rules = NULL;
    if ((e = only_fields(rq, o, "", fields)))
        goto out;
    json_t *list = json_object_get(o, "rules");
    if (!json_is_array(list) || json_array_size(list) > API_RULES_MAX) {
        e = unprocessable(rq, "rules",
                          "'rules' must be an array of at most 100 rules (an empty array: "
                          "only named members may enter)");
        goto out;
    }
    size_t n = json_array_size(list), i, per_kind[3] = {0};
    rules = calloc(n ? n : 1, sizeof(*rules));
    if (!rules) {
        e = LAIR_ENOMEM;
        goto out;
    }
    json_t *r;
    json_array_foreach(list, i, r)
    {
        if ((e = rule_parse(rq, r, i, &rules[i])))
            goto out;
        for (size_t j = 0; j < i; j++)
            if (rules[j].kind == rules[i].kind && !strcmp(rules[j].value, rules[i].value) &&
                !strcmp(rules[j].provider, rules[i].provider)) {
                char param[48];
                snprintf(param, sizeof(param), "rules[%zu].value", i);
                e = http_fail(rq, LAIR_EUNPROC, param, "invalid_value",
                              "rules[%zu] has the same kind, value and provider as rules[%zu]: "
                              "keep one",
                              i, j);
                goto out;
            }
        per_kind[rules[i].kind]++;
    }
    if ((e = people_rules_set(app->sys, tenant_of(rq), rules, n)))
        goto out;
    /* counts only: a group's name may say something about a person */
    char detail[96];
    snprintf(detail, sizeof(detail), "rules:%zu siret:%zu domain:%zu group:%zu", n,
             per_kind[ACCESS_SIRET], per_kind[ACCESS_DOMAIN], per_kind[ACCESS_GROUP]);
    api_audit_detail(rq, "access.rules", "access_rules", detail);
    e = rules_respond(rq, 200);
out:
    free(rules);
    json_decref(o);
    return e;
}
