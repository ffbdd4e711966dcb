/* Management of a tenant's assistants (docs/assistants.md): create, read,
 * edit (each edit a new draft version), publish, list versions, restore and
 * delete; and the list GET /v1/models shows (assistants_api.h). A chat
 * request resolves its assistant in the chat pipeline (chat_resolve,
 * assist/chat.h).
 *
 * Every handler reaches the assistants of the tenant whose key
 * authenticated the request, and nothing else: another tenant's assistant
 * answers exactly like a missing one. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/assistants_api.h"
#include "assist/assistant.h"
#include "assist/chat.h"
#include "core/json.h"
#include "store/assistants.h"
#include "store/kb.h"
#include "eval/gate.h"
#include "core/banned.h"

/* ---- helpers ---- */

static enum lair_err no_assistant(struct http_req *rq, const char *slug)
{
    if (!slug)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "assistant_not_found",
                         "no such assistant in this tenant");
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "assistant_not_found",
                     "no assistant '%s' in this tenant", slug);
}

/* The {} slug of the path; a 404 when it cannot be one. */
static enum lair_err path_slug(struct http_req *rq, char out[SLUG_MAX + 1])
{
    struct str p = http_param(rq, 0);
    if (p.len > SLUG_MAX || !slug_valid(p))
        return no_assistant(rq, NULL);
    memcpy(out, p.ptr, p.len);
    out[p.len] = 0;
    return LAIR_OK;
}

/* Audits a management action: the slug only, never content. */
static void audit(struct http_req *rq, const char *action, const char *slug)
{
    char target[SLUG_MAX + 16];
    snprintf(target, sizeof(target), "assistant:%s", slug);
    api_audit(rq, action, target, "ok");
}

/* A chat model of this server that the operator allows the caller's
 * tenant (allowed_models). */
static bool model_exists(void *arg, const char *name)
{
    struct app *app = http_app(arg);
    const struct principal *p = http_principal(arg);
    struct llm_model *m = llm_registry_find(app->models, str_c(name));
    if (!m)
        return false;
    struct tenant_row row;
    if (p->tenant[0] && (sysdb_tenant_get(app->sys, p->tenant, &row) ||
                         !tenant_model_allowed(row.allowed_models, str_c(name))))
        return false;
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    return (info.kind & LLM_CAN_CHAT) != 0;
}

/* A knowledge base of the caller's tenant (arg is the request). */
static bool kb_exists(void *arg, const char *slug)
{
    struct tenant_db *db;
    return api_tenant_db(arg, &db) == LAIR_OK && kb_find(db, slug, NULL) == LAIR_OK;
}

/* Validates spec against the server's models; on refusal records the 422
 * naming the field. OUT: *a OWNED (assistant_release). */
static enum lair_err validate(struct http_req *rq, json_t *spec, struct assistant *a,
                              const char *prefix)
{
    struct assistant_ctx ctx = {
        .model_exists = model_exists, .kb_exists = kb_exists, .arg = rq};
    struct assistant_error err;
    enum lair_err e = assistant_parse(spec, &ctx, a, &err);
    if (e != LAIR_EUNPROC)
        return e;
    /* http_fail keeps the pointer: the field's name lives in the arena */
    const char *param =
        err.field[0] ? arena_strndup(http_arena(rq), err.field, strlen(err.field)) : NULL;
    return http_fail(rq, e, param, err.code, "%s%s", prefix ? prefix : "", err.msg);
}

enum lair_err api_assistant_validate(struct http_req *rq, json_t *spec, struct assistant *a,
                                     const char *prefix)
{
    return validate(rq, spec, a, prefix);
}

/* Loads a stored spec (our own canonical text). OUT: OWNED. */
static enum lair_err load_spec(struct http_req *rq, const char *text, json_t **out)
{
    json_error_t je;
    *out = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    if (!*out)
        return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "a stored assistant is unreadable");
    return LAIR_OK;
}

/* spec + {"version","published_version"} (null when unpublished). Takes spec. */
static json_t *with_versions(json_t *spec, int version, int published)
{
    if (!spec)
        return NULL;
    json_object_set_new(spec, "version", json_integer(version));
    json_object_set_new(spec, "published_version",
                        published > 0 ? json_integer(published) : json_null());
    return spec;
}

static json_t *int_or_null(int v)
{
    return v > 0 ? json_integer(v) : json_null();
}

/* "draft" / "published" / N; 0 when absent. */
static enum lair_err version_arg(struct http_req *rq, const char *s, int *out)
{
    if (!s || !strcmp(s, "draft")) {
        *out = ASSISTANT_DRAFT;
        return LAIR_OK;
    }
    if (!strcmp(s, "published")) {
        *out = ASSISTANT_PUBLISHED;
        return LAIR_OK;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < 1 || v > INT_MAX)
        return http_fail(rq, LAIR_EUNPROC, "version", "invalid_value",
                         "'version' must be a version number, \"draft\" or \"published\"");
    *out = (int)v;
    return LAIR_OK;
}

/* After a lookup of one version failed: 404 for the assistant, or for the
 * version of an assistant that exists. */
static enum lair_err version_missing(struct http_req *rq, struct tenant_db *db, const char *slug,
                                     int version, enum lair_err e)
{
    if (e != LAIR_ENOTFOUND)
        return e;
    char *spec = NULL;
    struct assistant_info info;
    e = assistants_get(db, slug, ASSISTANT_DRAFT, &spec, NULL, &info);
    free(spec);
    if (e == LAIR_ENOTFOUND || version == ASSISTANT_DRAFT)
        return no_assistant(rq, slug);
    if (e)
        return e;
    if (version == ASSISTANT_PUBLISHED)
        return http_fail(rq, LAIR_ENOTFOUND, "version", "not_published",
                         "the assistant '%s' has no published version yet", slug);
    return http_fail(rq, LAIR_ENOTFOUND, "version", "version_not_found",
                     "the assistant '%s' has no version %d (its draft is version %d)", slug,
                     version, info.version);
}

/* ---- list, create ---- */

static void list_one(void *arg, const struct assistant_info *a)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:i, s:o, s:I, s:I}", "slug", a->slug, "name",
                                         a->name, "version", a->version, "published_version",
                                         int_or_null(a->published_version), "created_at",
                                         (json_int_t)a->created_at, "updated_at",
                                         (json_int_t)a->updated_at));
}

/* GET /api/v1/assistant-models (editors): the chat models an assistant of
 * the caller's tenant may use (the server's, less those its allowed_models
 * withholds), for the console's model choice. */
enum lair_err api_assistant_models(struct http_req *rq)
{
    struct app *app = http_app(rq);
    const struct principal *p = http_principal(rq);
    struct tenant_row row;
    enum lair_err e = sysdb_tenant_get(app->sys, p->tenant, &row);
    if (e)
        return e == LAIR_ENOTFOUND ? LAIR_EAUTH : e;
    json_t *data = json_array();
    for (size_t i = 0; data && app->models; i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        if (!m)
            break;
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        const char *name = llm_model_name(m);
        if (!(info.kind & LLM_CAN_CHAT) || !tenant_model_allowed(row.allowed_models, str_c(name)))
            continue;
        json_array_append_new(data, json_pack("{s:s, s:I}", "id", name, "n_ctx",
                                              (json_int_t)info.n_ctx_slot));
    }
    return api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum lair_err api_assistants_list(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    if ((e = assistants_list(db, false, list_one, data))) {
        json_decref(data);
        return e;
    }
    return api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum lair_err api_assistants_create(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    /* what GET returned may be posted again (to copy an assistant): its
     * read-only version fields mean nothing for a new assistant */
    json_object_del(o, "version");
    json_object_del(o, "published_version");
    struct assistant a;
    e = validate(rq, o, &a, NULL);
    json_decref(o);
    if (e)
        return e;
    char *text = assistant_dump(&a);
    int version = 0;
    e = text ? assistants_create(db, a.slug, text, http_principal(rq)->key_id, &version)
             : LAIR_ENOMEM;
    free(text);
    if (e == LAIR_ECONFLICT)
        e = http_fail(rq, e, "slug", "assistant_exists",
                      "an assistant '%s' already exists; change it with PUT "
                      "/api/v1/assistants/%s",
                      a.slug, a.slug);
    if (!e) {
        audit(rq, "assistant.create", a.slug);
        e = api_respond_json(rq, 201, with_versions(json_deep_copy(a.spec), version, 0));
    }
    assistant_release(&a);
    return e;
}

/* ---- one assistant ---- */

enum lair_err api_assistant_get(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    int version = 0;
    enum lair_err e;
    if ((e = path_slug(rq, slug)) || (e = version_arg(rq, http_query(rq, "version"), &version)) ||
        (e = api_tenant_db(rq, &db)))
        return e;
    char *text = NULL;
    int got = 0;
    struct assistant_info info;
    e = assistants_get(db, slug, version, &text, &got, &info);
    if (e)
        return version_missing(rq, db, slug, version, e);
    json_t *spec;
    e = load_spec(rq, text, &spec);
    free(text);
    if (e)
        return e;
    return api_respond_json(rq, 200, with_versions(spec, got, info.published_version));
}

/* The version an edit was based on: the If-Match header ("3", 3 or W/"3";
 * "*" = any) and/or the "version" field that GET returned. Removes "version"
 * and the read-only "published_version" from the body. 0 = unchecked. */
static enum lair_err base_version(struct http_req *rq, json_t *o, int *base)
{
    *base = 0;
    const char *h = http_header(rq, "If-Match");
    if (h) {
        struct str s = str_trim(str_c(h));
        if (str_starts(s, S("W/")))
            s.ptr += 2, s.len -= 2;
        if (s.len >= 2 && s.ptr[0] == '"' && s.ptr[s.len - 1] == '"')
            s.ptr++, s.len -= 2;
        if (!str_eq(s, S("*"))) {
            long v = 0;
            size_t i = 0;
            for (; i < s.len && i < 10 && s.ptr[i] >= '0' && s.ptr[i] <= '9'; i++)
                v = v * 10 + (s.ptr[i] - '0');
            if (i == 0 || i != s.len || v < 1 || v > INT_MAX)
                return http_fail(rq, LAIR_EINVAL, "If-Match", "invalid_value",
                                 "If-Match must be the version the edit is based on, like "
                                 "If-Match: \"3\"");
            *base = (int)v;
        }
    }
    json_t *v = json_object_get(o, "version");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > INT_MAX)
            return http_fail(rq, LAIR_EUNPROC, "version", "invalid_value",
                             "'version' must be the version number this edit is based on");
        int bv = (int)json_integer_value(v);
        if (*base && *base != bv)
            return http_fail(rq, LAIR_EUNPROC, "version", "invalid_value",
                             "'version' (%d) and If-Match (%d) disagree", bv, *base);
        *base = bv;
    }
    json_object_del(o, "version");
    json_object_del(o, "published_version");
    return LAIR_OK;
}

/* The body's slug must be the path's; absent, it is the path's. */
static enum lair_err same_slug(struct http_req *rq, json_t *o, const char *slug)
{
    json_t *s = json_object_get(o, "slug");
    if (!s || json_is_null(s))
        return json_object_set_new(o, "slug", json_string(slug)) ? LAIR_ENOMEM : LAIR_OK;
    if (!json_is_string(s) || strcmp(json_string_value(s), slug))
        return http_fail(rq, LAIR_EUNPROC, "slug", "invalid_value",
                         "the body's 'slug' must be the path's ('%s'): an assistant cannot be "
                         "renamed; create a new one and delete this one",
                         slug);
    return LAIR_OK;
}

static enum lair_err update_conflict(struct http_req *rq, const char *slug, int draft, int base)
{
    return http_fail(rq, LAIR_ECONFLICT, "version", "version_conflict",
                     "the draft of '%s' is now version %d but this edit was based on version %d: "
                     "GET it again and reapply the change (or send no If-Match and no 'version' "
                     "to overwrite)",
                     slug, draft, base);
}

enum lair_err api_assistant_put(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e;
    if ((e = path_slug(rq, slug)))
        return e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    char *cur = NULL;
    struct assistant_info info;
    e = assistants_get(db, slug, ASSISTANT_DRAFT, &cur, NULL, &info);
    free(cur);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq, slug) : e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    int base = 0;
    struct assistant a = {0};
    if (!(e = base_version(rq, o, &base)) && !(e = same_slug(rq, o, slug)))
        e = validate(rq, o, &a, NULL);
    json_decref(o);
    if (e)
        return e;
    char *text = assistant_dump(&a);
    int version = 0;
    e = text ? assistants_update(db, slug, text, http_principal(rq)->key_id, base, &version)
             : LAIR_ENOMEM;
    free(text);
    if (e == LAIR_ECONFLICT)
        e = update_conflict(rq, slug, version, base);
    else if (e == LAIR_ENOTFOUND)
        e = no_assistant(rq, slug);
    if (!e) {
        audit(rq, "assistant.update", slug);
        e = api_respond_json(
            rq, 200, with_versions(json_deep_copy(a.spec), version, info.published_version));
    }
    assistant_release(&a);
    return e;
}

enum lair_err api_assistant_delete(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e;
    if ((e = path_slug(rq, slug)) || (e = api_tenant_db(rq, &db)))
        return e;
    e = assistants_delete(db, slug);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq, slug) : e;
    audit(rq, "assistant.delete", slug);
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "slug", slug, "deleted", 1));
}

/* Reads version (> 0 or ASSISTANT_DRAFT) and checks that it can go live
 * today (its model still served). OUT: *got the version number, *info. */
static enum lair_err checked_version(struct http_req *rq, struct tenant_db *db, const char *slug,
                                     int version, int *got, struct assistant_info *info,
                                     const char *what, json_t **gate)
{
    char *text = NULL;
    enum lair_err e = assistants_get(db, slug, version, &text, got, info);
    if (e)
        return version_missing(rq, db, slug, version, e);
    json_t *spec;
    e = load_spec(rq, text, &spec);
    free(text);
    if (e)
        return e;
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "version %d cannot be %s: ", *got, what);
    struct assistant a;
    e = validate(rq, spec, &a, prefix);
    if (!e && gate && a.publish_gate)
        *gate = json_incref(a.publish_gate);
    json_decref(spec);
    assistant_release(&a);
    return e;
}

/* The publish gate (eval/gate.h): the assistant's own and the operator's.
 * Refuses with 409 (evaluation_required when a run is missing,
 * evaluation_failed otherwise) and the failing cases; OUT: *answered, and
 * runs "1,4" (the runs that allowed the publication) for the audit. */
static enum lair_err gate_check(struct http_req *rq, struct tenant_db *db, const char *slug,
                                int version, json_t *gate, bool *answered, char *runs, size_t n)
{
    struct app *app = http_app(rq);
    *answered = false;
    runs[0] = 0;
    if (json_array_size(gate) == 0 && json_array_size(app->publish_gate) == 0)
        return LAIR_OK;
    bool passed;
    json_t *report;
    enum lair_err e =
        eval_gate_check(db, slug, version, gate, app->publish_gate, &passed, &report);
    if (e)
        return e;
    size_t i, len = 0;
    json_t *v;
    json_array_foreach(json_object_get(report, "runs"), i, v)
    {
        int w = snprintf(runs + len, n - len, "%s%lld", len ? "," : "",
                         (long long)json_integer_value(v));
        if (w > 0 && (size_t)w < n - len)
            len += (size_t)w;
    }
    if (passed) {
        json_decref(report);
        return LAIR_OK;
    }
    json_t *failures = json_object_get(report, "failures"), *first = json_array_get(failures, 0);
    bool missing = false;
    json_array_foreach(failures, i, v) missing |= json_is_null(json_object_get(v, "run"));
    char msg[600];
    snprintf(msg, sizeof(msg),
             "version %d cannot be published: %zu requirement(s) of the publish gate not met; "
             "first: %s: %s",
             version, json_array_size(failures),
             json_string_value(json_object_get(first, "requirement")),
             json_string_value(json_object_get(first, "reason")));
    char target[SLUG_MAX + 16];
    snprintf(target, sizeof(target), "assistant:%s", slug);
    api_audit(rq, "assistant.publish", target, "denied");
    *answered = true;
    const char *code = missing ? "evaluation_required" : "evaluation_failed";
    e = api_respond_json(rq, 409,
                         json_pack("{s:{s:s, s:s, s:n, s:s, s:O}}", "error", "message", msg,
                                   "type", lair_err_type(LAIR_ECONFLICT), "param", "code", code,
                                   "gate", failures));
    json_decref(report);
    return e;
}

enum lair_err api_assistant_publish(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e;
    if ((e = path_slug(rq, slug)))
        return e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    long long version = ASSISTANT_DRAFT;
    if (http_body(rq).len > 0) {
        json_t *o;
        if ((e = api_parse_body(rq, &o)))
            return e;
        const char *key;
        json_t *v;
        char msg[160];
        json_object_foreach(o, key, v)
        {
            if (strcmp(key, "version")) {
                const char *param = arena_strndup(http_arena(rq), key, strlen(key));
                json_decref(o);
                return http_fail(rq, LAIR_EUNPROC, param, "unknown_field",
                                 "unknown field; the body of publish is {\"version\": N} or "
                                 "empty (the current draft)");
            }
        }
        e = json_opt_int(o, "version", 1, INT_MAX, &version, msg, sizeof(msg));
        json_decref(o);
        if (e)
            return http_fail(rq, LAIR_EUNPROC, "version", "invalid_value", "%s", msg);
    }
    int got = 0, published = 0;
    struct assistant_info info;
    json_t *gate = NULL;
    bool answered;
    char runs[200];
    if ((e = checked_version(rq, db, slug, (int)version, &got, &info, "published", &gate)))
        return e;
    e = gate_check(rq, db, slug, got, gate, &answered, runs, sizeof(runs));
    json_decref(gate);
    if (e || answered)
        return e;
    e = assistants_publish(db, slug, got, &published);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq, slug) : e;
    if (runs[0]) { /* which runs allowed it */
        char target[SLUG_MAX + 16], detail[260];
        snprintf(target, sizeof(target), "assistant:%s", slug);
        snprintf(detail, sizeof(detail), "version:%d eval_runs:%s", got, runs);
        api_audit_detail(rq, "assistant.publish", target, detail);
    } else {
        audit(rq, "assistant.publish", slug);
    }
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:i, s:i}", "slug", slug, "version", info.version,
                                      "published_version", published));
}

static void version_one(void *arg, const struct assistant_version_info *v)
{
    json_array_append_new(arg,
                          json_pack("{s:i, s:s, s:I, s:s, s:b, s:b}", "version", v->version, "name",
                                    v->name, "created_at", (json_int_t)v->created_at, "author",
                                    v->author, "draft", v->draft, "published", v->published));
}

enum lair_err api_assistant_versions(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e;
    if ((e = path_slug(rq, slug)) || (e = api_tenant_db(rq, &db)))
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    if ((e = assistants_versions(db, slug, version_one, data))) {
        json_decref(data);
        return e == LAIR_ENOTFOUND ? no_assistant(rq, slug) : e;
    }
    return api_respond_json(
        rq, 200, json_pack("{s:s, s:s, s:o}", "object", "list", "slug", slug, "data", data));
}

enum lair_err api_assistant_restore(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e;
    if ((e = path_slug(rq, slug)))
        return e;
    struct str n = http_param(rq, 1);
    long from = 0;
    size_t i = 0;
    for (; i < n.len && i < 10 && n.ptr[i] >= '0' && n.ptr[i] <= '9'; i++)
        from = from * 10 + (n.ptr[i] - '0');
    if (i == 0 || i != n.len || from < 1 || from > INT_MAX)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "version_not_found", "no such version");
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    int got = 0, version = 0;
    struct assistant_info info;
    if ((e = checked_version(rq, db, slug, (int)from, &got, &info, "restored", NULL)))
        return e;
    e = assistants_restore(db, slug, got, http_principal(rq)->key_id, &version);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq, slug) : e;
    audit(rq, "assistant.restore", slug);
    char *text = NULL;
    if ((e = assistants_get(db, slug, version, &text, NULL, &info)))
        return version_missing(rq, db, slug, version, e);
    json_t *spec;
    e = load_spec(rq, text, &spec);
    free(text);
    if (e)
        return e;
    spec = with_versions(spec, version, info.published_version);
    json_object_set_new(spec, "restored_from", json_integer(got));
    return api_respond_json(rq, 200, spec);
}

/* ---- for the OpenAI surface ---- */

struct published_list {
    json_t *data;
    const struct principal *who;
};

static void published_one(void *arg, const struct assistant_info *a)
{
    struct published_list *l = arg;
    if (!chat_key_allows(l->who, a->slug))
        return;
    json_array_append_new(l->data, json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", a->slug, "object",
                                             "model", "created", (json_int_t)a->created_at,
                                             "owned_by", l->who->tenant, "name", a->name));
}

enum lair_err api_assistant_list_published(struct http_req *rq, json_t *data_array)
{
    const struct principal *p = http_principal(rq);
    if (!http_authenticated(rq) || !p->tenant[0])
        return LAIR_OK;
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    struct published_list l = {.data = data_array, .who = p};
    size_t from = json_array_size(data_array);
    if ((e = assistants_list(db, true, published_one, &l)))
        return e;
    /* what a chat page shows on a new conversation: the published welcome
     * text and starter questions (extra fields OpenAI clients ignore) */
    for (size_t i = from; i < json_array_size(data_array); i++) {
        json_t *m = json_array_get(data_array, i);
        char *text = NULL;
        if (assistants_get(db, json_string_value(json_object_get(m, "id")), ASSISTANT_PUBLISHED,
                           &text, NULL, NULL))
            continue;
        json_t *spec = json_loads(text, 0, NULL);
        free(text);
        json_t *w = json_object_get(spec, "welcome"), *st = json_object_get(spec, "starters");
        json_object_set_new(m, "welcome",
                            json_string(json_is_string(w) ? json_string_value(w) : ""));
        json_object_set_new(m, "starters", json_is_array(st) ? json_incref(st) : json_array());
        json_decref(spec);
    }
    return LAIR_OK;
}
