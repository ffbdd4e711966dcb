/* A tenant's live settings: the operator changes them with
 * PATCH /api/v1/tenants/{slug} (limits, retention, allowed models, name),
 * with effect on the next request (api/quota.c and assist/chat.c compare
 * sysdb_tenants_version; a shorter retention purges at once); the tenant
 * reads its own with GET /api/v1/usage. Every change is audited twice: in
 * the operator's log and in the tenant's, so that a tenant's admin sees who
 * changed its settings and when. docs/quotas.md is the user's view. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "audit/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "gdpr/retention.h"
#include "store/conversations.h"
#include "core/banned.h"

#define USAGE_DAYS 31 /* GET /api/v1/usage: today and the 30 days before */

static json_t *models_json(const char *models)
{
    if (!strcmp(models, TENANT_MODELS_ALL))
        return json_null();
    json_t *a = json_array();
    for (const char *p = models; a && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        json_array_append_new(a, json_stringn(p, n));
        p += n + (comma ? 1 : 0);
    }
    return a;
}

json_t *api_tenant_json(const struct tenant_row *t)
{
    return json_pack("{s:s, s:s, s:I, s:{s:I, s:I, s:I}, s:o}", "slug", t->slug, "name", t->name,
                     "created_at", (json_int_t)t->created_at, "limits", "rpm",
                     (json_int_t)t->rpm_limit, "tokens_per_day", (json_int_t)t->tokens_per_day,
                     "retention_days", (json_int_t)t->retention_days, "allowed_models",
                     models_json(t->allowed_models));
}

static enum lair_err unprocessable(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

/* "allowed_models": null (every model) or an array of names of models this
 * server serves; OUT: the stored form, comma-separated. */
static enum lair_err parse_models(struct http_req *rq, json_t *v, char out[TENANT_MODELS_MAX])
{
    struct app *app = http_app(rq);
    if (json_is_null(v)) {
        snprintf(out, TENANT_MODELS_MAX, "%s", TENANT_MODELS_ALL);
        return LAIR_OK;
    }
    if (!json_is_array(v))
        return unprocessable(rq, "allowed_models",
                             "'allowed_models' must be null (every model) or an array of model "
                             "names");
    size_t len = 0, i;
    json_t *m;
    out[0] = 0;
    json_array_foreach(v, i, m)
    {
        const char *name = json_string_value(m);
        if (!name || !llm_registry_find(app->models, str_c(name)))
            return http_fail(rq, LAIR_EUNPROC, "allowed_models", "unknown_model",
                             "allowed_models[%zu] must name a model this server serves "
                             "(GET /v1/models with an operator key lists them)",
                             i);
        if (tenant_model_allowed(out, str_c(name))) /* given twice */
            continue;
        size_t n = strlen(name);
        if (len + (len ? 1 : 0) + n >= TENANT_MODELS_MAX)
            return unprocessable(rq, "allowed_models", "'allowed_models' is too long");
        snprintf(out + len, TENANT_MODELS_MAX - len, "%s%s", len ? "," : "", name);
        len += (len ? 1 : 0) + n;
    }
    return tenant_models_valid(out)
               ? LAIR_OK
               : unprocessable(rq, "allowed_models", "a model name is not allowed in a list");
}

/* The request's body as a change; 422 naming the field otherwise. */
static enum lair_err parse_update(struct http_req *rq, json_t *o, struct tenant_update *u,
                                  char models[TENANT_MODELS_MAX])
{
    static const char *const fields[] = {"name", "limits", "allowed_models"};
    static const char *const limit_fields[] = {"rpm", "tokens_per_day", "retention_days"};
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        size_t i = 0;
        while (i < 3 && strcmp(key, fields[i]))
            i++;
        if (i == 3)
            return http_fail(rq, LAIR_EUNPROC, key, "unknown_field",
                             "unknown field '%s' (known: name, limits, allowed_models)", key);
    }
    if (json_object_size(o) == 0)
        return unprocessable(rq, NULL, "nothing to change: give name, limits or allowed_models");
    json_t *name = json_object_get(o, "name");
    if (name && (!json_is_string(name) || json_string_length(name) == 0 ||
                 json_string_length(name) > 200))
        return unprocessable(rq, "name", "'name' must be a string of 1 to 200 bytes");
    u->name = name ? json_string_value(name) : NULL;
    json_t *lim = json_object_get(o, "limits");
    if (lim) {
        if (!json_is_object(lim))
            return unprocessable(rq, "limits", "'limits' must be an object");
        json_object_foreach(lim, key, v)
        {
            size_t i = 0;
            while (i < 3 && strcmp(key, limit_fields[i]))
                i++;
            if (i == 3)
                return http_fail(rq, LAIR_EUNPROC, key, "unknown_field",
                                 "unknown limit '%s' (known: rpm, tokens_per_day, "
                                 "retention_days)",
                                 key);
        }
        const int64_t max[3] = {LIMIT_MAX, LIMIT_MAX, RETENTION_DAYS_MAX};
        int64_t *dst[3] = {&u->rpm, &u->tokens_per_day, &u->retention_days};
        for (size_t i = 0; i < 3; i++) {
            char msg[200];
            long long n = -1;
            json_t *f = json_object_get(lim, limit_fields[i]);
            if (f && json_is_null(f))
                return unprocessable(rq, limit_fields[i], "a limit is an integer (0: none)");
            if (json_opt_int(lim, limit_fields[i], 0, max[i], &n, msg, sizeof(msg)))
                return unprocessable(rq, limit_fields[i], msg);
            *dst[i] = n;
        }
    }
    json_t *am = json_object_get(o, "allowed_models");
    if (am) {
        enum lair_err e = parse_models(rq, am, models);
        if (e)
            return e;
        u->allowed_models = models;
    }
    return LAIR_OK;
}

/* What changed, for the audit detail: names and numbers, no free text. */
static void change_detail(const struct tenant_row *before, const struct tenant_row *after,
                          char *out, size_t n)
{
    size_t len = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w = snprintf(out + len, n - len, __VA_ARGS__);                                         \
        if (w > 0 && (size_t)w < n - len)                                                          \
            len += (size_t)w;                                                                      \
    } while (0)
    out[0] = 0;
    if (before->rpm_limit != after->rpm_limit)
        ADD("%srpm:%lld", len ? " " : "", (long long)after->rpm_limit);
    if (before->tokens_per_day != after->tokens_per_day)
        ADD("%stokens_per_day:%lld", len ? " " : "", (long long)after->tokens_per_day);
    if (before->retention_days != after->retention_days)
        ADD("%sretention_days:%lld", len ? " " : "", (long long)after->retention_days);
    if (strcmp(before->name, after->name))
        ADD("%sname", len ? " " : "");
    if (strcmp(before->allowed_models, after->allowed_models))
        ADD("%sallowed_models:%s", len ? " " : "", after->allowed_models);
#undef ADD
    if (!len)
        snprintf(out, n, "unchanged");
}

/* A shorter retention rules at once: the tenant's conversations now past
 * it are deleted before the answer (and the database scrubbed). */
static json_t *purge_now(struct http_req *rq, const struct tenant_row *t)
{
    struct app *app = http_app(rq);
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
    struct gdpr_purge_report r = {0};
    enum lair_err e = tenants_get(app->tenants, t->slug, &db);
    if (!e) {
        if (!(e = api_audit_key(app, key)))
            e = gdpr_purge_tenant(db, t->retention_days, key, gdpr_now(), &r);
        sodium_memzero(key, sizeof(key));
        tenant_db_put(db);
    }
    if (e) {
        /* the change stands; the background purge retries */
        log_warn("limits", "tenant %s: purge after a shorter retention failed: %s", t->slug,
                 lair_err_msg(e));
        return json_pack("{s:s}", "error", lair_err_msg(e));
    }
    return json_pack("{s:I, s:I}", "conversations", (json_int_t)r.counts.conversations,
                     "messages", (json_int_t)r.counts.messages);
}

enum lair_err api_tenants_update(struct http_req *rq)
{
    struct app *app = http_app(rq);
    char slug[SLUG_MAX + 1];
    struct str p = http_param(rq, 0);
    struct tenant_row before, after;
    if (p.len > SLUG_MAX || !slug_valid(p))
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "not_found", "no such tenant");
    snprintf(slug, sizeof(slug), "%.*s", (int)p.len, p.ptr);
    enum lair_err e = sysdb_tenant_get(app->sys, slug, &before);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "not_found", "no such tenant");
    if (e)
        return e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    struct tenant_update u = TENANT_UPDATE_NONE;
    char models[TENANT_MODELS_MAX];
    if ((e = parse_update(rq, o, &u, models)))
        goto out;
    if (u.allowed_models && strcmp(u.allowed_models, TENANT_MODELS_ALL)) {
        /* withdrawing a model that a published assistant answers with */
        struct tenant_db *db;
        bool answered = false;
        if ((e = tenants_get(app->tenants, slug, &db)))
            goto out;
        char target[100];
        snprintf(target, sizeof(target), "tenant:%s", slug);
        e = api_refuse_in_use(rq, db, NULL, u.allowed_models, "tenant.update", target,
                              &answered);
        tenant_db_put(db);
        if (e || answered)
            goto out;
    }
    e = sysdb_tenant_update(app->sys, slug, &u, &after);
    if (e == LAIR_ENOTFOUND) { /* deleted meanwhile */
        e = http_fail(rq, e, NULL, "not_found", "no such tenant");
        goto out;
    }
    if (e)
        goto out;
    char target[100], detail[AUDIT_DETAIL_MAX - 32];
    snprintf(target, sizeof(target), "tenant:%s", slug);
    change_detail(&before, &after, detail, sizeof(detail));
    api_audit_detail(rq, "tenant.update", target, detail);
    api_audit_for_tenant(rq, slug, "tenant.update", target, detail);
    json_t *body = api_tenant_json(&after);
    bool shorter = after.retention_days > 0 &&
                   (before.retention_days == 0 || after.retention_days < before.retention_days);
    if (body && shorter)
        json_object_set_new(body, "purged", purge_now(rq, &after));
    e = api_respond_json(rq, 200, body);
out:
    json_decref(o);
    return e;
}

/* ---- the tenant's view ---- */

static json_t *day_json(const char *day, int64_t requests, int64_t tokens)
{
    return json_pack("{s:s, s:I, s:I}", "date", day, "requests", (json_int_t)requests, "tokens",
                     (json_int_t)tokens);
}

enum lair_err api_usage_get(struct http_req *rq)
{
    struct app *app = http_app(rq);
    const struct principal *p = http_principal(rq);
    if (!p->tenant[0])
        return http_fail(rq, LAIR_EINVAL, NULL, "invalid_request",
                         "usage is per tenant: the operator reads GET /api/v1/tenants");
    struct tenant_row t;
    enum lair_err e = sysdb_tenant_get(app->sys, p->tenant, &t);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                         "invalid, revoked or expired API key");
    if (e)
        return e;
    struct tenant_db *db;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    time_t now = time(NULL);
    char today[11], since[11];
    conv_usage_day(now, today);
    conv_usage_day(now - (time_t)(USAGE_DAYS - 1) * 86400, since);
    int64_t kr = 0, kt = 0, tr = 0, tt = 0;
    if ((e = conv_usage_get(db, today, p->key_id, &kr, &kt)) ||
        (e = conv_usage_get(db, today, CONV_USAGE_TENANT, &tr, &tt)))
        return e;
    json_t *body = json_pack(
        "{s:s, s:s, s:{s:I, s:I, s:I}, s:o, s:{s:s, s:{s:I, s:I}, s:o}, s:o}", "object", "usage",
        "tenant", t.slug, "limits", "rpm", (json_int_t)t.rpm_limit, "tokens_per_day",
        (json_int_t)t.tokens_per_day, "retention_days", (json_int_t)t.retention_days,
        "allowed_models", models_json(t.allowed_models), "key", "id", p->key_id, "limits", "rpm",
        (json_int_t)p->rpm_limit, "tokens_per_day", (json_int_t)p->tokens_per_day, "today",
        day_json(today, kr, kt), "today", day_json(today, tr, tt));
    if (!body)
        return LAIR_ENOMEM;
    /* the tenant's history: for those who manage it */
    if (p->role >= ROLE_EDITOR) {
        struct conv_usage_day days[USAGE_DAYS];
        size_t n = 0;
        if ((e = conv_usage_since(db, since, CONV_USAGE_TENANT, days, USAGE_DAYS, &n))) {
            json_decref(body);
            return e;
        }
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(a, day_json(days[i].day, days[i].requests, days[i].tokens));
        json_object_set_new(body, "days", a);
    }
    return api_respond_json(rq, 200, body);
}
