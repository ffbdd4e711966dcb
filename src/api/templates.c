/* The assistant generator and shared templates over HTTP (docs/templates.md):
 *   POST   /api/v1/assistants/generate       editor: a draft from knowledge bases, not stored
 *   POST   /api/v1/assistants/from-template  editor: a new draft (and its suite) from a template
 *   GET    /api/v1/templates[/{name}]        editor, admin or operator
 *   POST   /api/v1/templates                 operator: publish (create or replace)
 *   DELETE /api/v1/templates/{name}          operator */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "api/assistants_api.h"
#include "api/templates_api.h"
#include "assist/assistant.h"
#include "assist/chat.h"
#include "assist/generate.h"
#include "assist/templates.h"
#include "eval/suite.h"
#include "store/assistants.h"
#include "store/evals.h"
#include "core/banned.h"

/* ---- helpers ---- */

static const char *data_dir(struct http_req *rq)
{
    struct app *app = http_app(rq);
    return app->data_dir;
}

static enum lair_err unknown_field(struct http_req *rq, const char *key, const char *allowed)
{
    const char *param = arena_strndup(http_arena(rq), key, strnlen(key, 64));
    return http_fail(rq, LAIR_EUNPROC, param, "unknown_field", "unknown field '%.64s': %s", key,
                     allowed);
}

/* Every key of o is in allowed[] (NULL-terminated), else a 422 naming it. */
static enum lair_err only_keys(struct http_req *rq, json_t *o, const char *const *allowed,
                               const char *list)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok)
            return unknown_field(rq, key, list);
    }
    return LAIR_OK;
}

/* An optional string field of at most max bytes: *out NULL when absent or null. */
static enum lair_err opt_string(struct http_req *rq, json_t *o, const char *key, size_t max,
                                const char **out)
{
    json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return LAIR_OK;
    if (!json_is_string(v) || !json_string_length(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v))
        return http_fail(rq, LAIR_EUNPROC, key, "invalid_value",
                         "'%s' must be a string of 1 to %zu bytes", key, max);
    *out = json_string_value(v);
    return LAIR_OK;
}

/* "knowledge_bases": 1..16 distinct slugs (required) or, when !required,
 * absent. OUT: slugs[0..*n) BORROWED from o. */
static enum lair_err kb_array(struct http_req *rq, json_t *o, bool required,
                              const char *slugs[GEN_MAX_KBS], size_t *n)
{
    json_t *a = json_object_get(o, "knowledge_bases");
    *n = 0;
    if ((!a || json_is_null(a)) && !required)
        return LAIR_OK;
    if (!a || json_is_null(a))
        return http_fail(rq, LAIR_EUNPROC, "knowledge_bases", "missing_field",
                         "'knowledge_bases' is required: the knowledge bases to draw from");
    if (!json_is_array(a) || json_array_size(a) < (required ? 1 : 0) ||
        json_array_size(a) > GEN_MAX_KBS)
        return http_fail(rq, LAIR_EUNPROC, "knowledge_bases", "invalid_value",
                         "'knowledge_bases' must be an array of %s16 knowledge-base slugs",
                         required ? "1 to " : "at most ");
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        char field[48];
        snprintf(field, sizeof(field), "knowledge_bases[%zu]", i);
        const char *param = arena_strndup(http_arena(rq), field, strlen(field));
        const char *s = json_string_value(v);
        if (!s || !slug_valid(str_c(s)))
            return http_fail(rq, LAIR_EUNPROC, param, "invalid_value",
                             "'%s' must be a knowledge-base slug", field);
        for (size_t k = 0; k < i; k++)
            if (!strcmp(slugs[k], s))
                return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "'%s' repeats '%s'",
                                 field, s);
        slugs[(*n)++] = s;
    }
    return LAIR_OK;
}

/* The first chat model the caller's tenant may use; "default" when none. */
static const char *first_model(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct tenant_row row;
    if (sysdb_tenant_get(app->sys, http_principal(rq)->tenant, &row))
        return "default";
    for (size_t i = 0; app->models; i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        if (!m)
            break;
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        const char *name = llm_model_name(m);
        if ((info.kind & LLM_CAN_CHAT) && tenant_model_allowed(row.allowed_models, str_c(name)))
            return arena_strndup(http_arena(rq), name, strlen(name));
    }
    return "default";
}

static enum lair_err no_template(struct http_req *rq, const char *param, const char *name)
{
    return http_fail(rq, LAIR_ENOTFOUND, param, "template_not_found",
                     "no template '%.63s' (GET /api/v1/templates lists them)", name);
}

/* A template name of a request: a-z 0-9 -, 1..63. */
static bool name_ok(const char *s)
{
    return s && strlen(s) <= TEMPLATE_NAME_MAX && eval_name_valid(s) && !strchr(s, '_');
}

/* ---- the generator ---- */

/* Starters rephrased by the model the draft names, when the server serves
 * it and the tenant may use it (gen_opts.phrase). The model is asked for
 * one question as a resident would ask it; anything else (several lines,
 * no question mark, too short or too long, a duplicate) keeps the
 * structural question. */
struct phrase_ctx {
    struct app *app;
    const char *model;
    int rephrased;
    char seen[GEN_MAX_STARTERS][GEN_QUESTION_MAX];
};

#define PHRASE_MAX_TOKENS 60

static const char phrase_system[] =
    "Tu aides une mairie à préparer les questions d'exemple de son assistant. On te donne le "
    "titre d'un document et une question. Réécris la question comme un habitant la poserait, "
    "en français, en une seule phrase terminée par un point d'interrogation. Réponds par la "
    "question seule.";

static bool phrase_ok(const char *t, size_t n)
{
    if (n < 8 || n >= GEN_QUESTION_MAX || t[n - 1] != '?' || !utf8_valid(t, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)t[i] < 0x20 || t[i] == '<' || t[i] == '>' || t[i] == '{')
            return false;
    return true;
}

static bool phrase_starter(void *arg, const char *q, const char *doc, char *out, size_t cap)
{
    struct phrase_ctx *pc = arg;
    char user[GEN_QUESTION_MAX + 400];
    snprintf(user, sizeof(user), "Document : « %.300s »\nQuestion : %s", doc ? doc : "", q);
    struct llm_message msgs[2] = {{S("system"), str_c(phrase_system)}, {S("user"), str_c(user)}};
    /* the server asks, as the operator, with a model the tenant may use
     * (checked by the caller): a raw model, which tenant keys may not call */
    struct principal op = {.role = ROLE_OPERATOR};
    struct chat_ctx ctx;
    api_chat_ctx(pc->app, &ctx);
    struct chat_request req;
    chat_request_fixed(&req, &op, str_c(pc->model), msgs, 2, PHRASE_MAX_TOKENS);
    struct chat_error err;
    memset(&err, 0, sizeof(err));
    struct chat *ch = NULL;
    if (chat_run(&ctx, &req, &ch, &err) != LAIR_OK)
        return false;
    struct buf text;
    buf_init(&text, 0);
    struct chat_result res;
    chat_collect(ch, &text, &res);
    chat_free(ch);
    struct str t = str_trim(buf_str(&text));
    bool ok = res.llm.finish != LLM_FINISH_ERROR && t.len < cap && phrase_ok(t.ptr, t.len);
    for (int i = 0; ok && i < pc->rephrased; i++)
        ok = !(strlen(pc->seen[i]) == t.len && !memcmp(pc->seen[i], t.ptr, t.len));
    if (ok) {
        memcpy(out, t.ptr, t.len);
        out[t.len] = 0;
        if (pc->rephrased < GEN_MAX_STARTERS)
            snprintf(pc->seen[pc->rephrased++], GEN_QUESTION_MAX, "%s", out);
    }
    buf_release(&text);
    return ok;
}

/* The model that rephrases starters: the draft's model when the server
 * serves it for chat and the tenant may use it; NULL otherwise. */
static const char *phrasing_model(struct http_req *rq, const char *model)
{
    struct app *app = http_app(rq);
    struct tenant_row row;
    if (!app->models || sysdb_tenant_get(app->sys, http_principal(rq)->tenant, &row) ||
        !tenant_model_allowed(row.allowed_models, str_c(model)))
        return NULL;
    for (size_t i = 0;; i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        if (!m)
            return NULL;
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        if ((info.kind & LLM_CAN_CHAT) && !strcmp(llm_model_name(m), model))
            return model;
    }
}

enum lair_err api_assistants_generate(struct http_req *rq)
{
    static const char *const keys[] = {"knowledge_bases", "name", "template", "model", NULL};
    struct tenant_db *db;
    enum lair_err e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    const char *kbs[GEN_MAX_KBS], *name, *tname, *model;
    size_t n = 0;
    json_t *tmpl = NULL, *spec = NULL, *suite = NULL;
    if ((e = only_keys(rq, o, keys, "the body has knowledge_bases, name, template and model")) ||
        (e = kb_array(rq, o, true, kbs, &n)) || (e = opt_string(rq, o, "name", 200, &name)) ||
        (e = opt_string(rq, o, "template", TEMPLATE_NAME_MAX, &tname)) ||
        (e = opt_string(rq, o, "model", 200, &model)))
        goto out;
    if (tname && (!name_ok(tname) || template_get(data_dir(rq), tname, &tmpl, NULL) != LAIR_OK)) {
        e = no_template(rq, "template", tname);
        goto out;
    }
    struct gen_opts go = {.kbs = kbs,
                          .n_kbs = n,
                          .name = name,
                          .model = model ? model : first_model(rq),
                          .tmpl = tmpl ? json_object_get(tmpl, "assistant") : NULL};
    struct phrase_ctx pc = {.app = http_app(rq), .model = phrasing_model(rq, go.model)};
    if (pc.model) {
        go.phrase = phrase_starter;
        go.arg = &pc;
    }
    struct gen_error gerr;
    e = gen_assistant(db, &go, &spec, &suite, &gerr);
    if (e == LAIR_EUNPROC) {
        const char *param = arena_strndup(http_arena(rq), gerr.field, strlen(gerr.field));
        e = http_fail(rq, e, param, gerr.code, "%s", gerr.msg);
        goto out;
    }
    if (e)
        goto out;
    struct assistant a;
    if ((e = api_assistant_validate(rq, spec, &a, "the generated draft: ")))
        goto out;
    struct eval_suite s;
    struct eval_error ee;
    if ((e = eval_suite_parse(suite, &s, &ee))) {
        assistant_release(&a);
        if (e == LAIR_EUNPROC)
            e = LAIR_EINTERNAL; /* our own construction: a bug, logged by the caller */
        goto out;
    }
    e = api_respond_json(rq, 200,
                         json_pack("{s:O, s:O, s:o, s:{s:o, s:i}}", "assistant", a.spec, "suite",
                                   s.spec, "template", tname ? json_string(tname) : json_null(),
                                   "starters", "model",
                                   pc.model ? json_string(pc.model) : json_null(), "rephrased",
                                   pc.rephrased));
    assistant_release(&a);
    eval_suite_release(&s);
out:
    json_decref(spec);
    json_decref(suite);
    json_decref(tmpl);
    json_decref(o);
    return e;
}

/* ---- templates ---- */

/* Editors and admins of a tenant, and the operator. */
static enum lair_err may_read(struct http_req *rq)
{
    enum key_role r = http_principal(rq)->role;
    if (r == ROLE_EDITOR || r == ROLE_ADMIN || r == ROLE_OPERATOR)
        return LAIR_OK;
    return http_fail(rq, LAIR_EPERM, NULL, NULL, "templates need an editor, admin or operator key");
}

static void list_one(void *arg, const struct template_info *t)
{
    json_array_append_new(arg, json_pack("{s:s, s:s, s:s, s:i, s:i, s:b}", "name", t->name, "title",
                                         t->title, "description", t->description, "revision",
                                         t->revision, "cases", t->cases, "shipped", t->shipped));
}

enum lair_err api_templates_list(struct http_req *rq)
{
    enum lair_err e = may_read(rq);
    if (e)
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    template_list(data_dir(rq), list_one, data);
    return api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static enum lair_err path_name(struct http_req *rq, char out[TEMPLATE_NAME_MAX + 1])
{
    struct str p = http_param(rq, 0);
    if (!p.len || p.len > TEMPLATE_NAME_MAX)
        return no_template(rq, NULL, "");
    memcpy(out, p.ptr, p.len);
    out[p.len] = 0;
    return name_ok(out) ? LAIR_OK : no_template(rq, NULL, out);
}

enum lair_err api_template_get(struct http_req *rq)
{
    char name[TEMPLATE_NAME_MAX + 1];
    enum lair_err e;
    if ((e = may_read(rq)) || (e = path_name(rq, name)))
        return e;
    json_t *t;
    bool shipped;
    if (template_get(data_dir(rq), name, &t, &shipped))
        return no_template(rq, NULL, name);
    json_object_set_new(t, "shipped", json_boolean(shipped));
    return api_respond_json(rq, 200, t);
}

enum lair_err api_templates_publish(struct http_req *rq)
{
    json_t *o, *t;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    struct template_error err;
    e = template_parse(o, &t, &err);
    json_decref(o);
    if (e == LAIR_EUNPROC) {
        const char *param =
            err.field[0] ? arena_strndup(http_arena(rq), err.field, strlen(err.field)) : NULL;
        return http_fail(rq, e, param, err.code, "%s", err.msg);
    }
    if (e)
        return e;
    const char *name = json_string_value(json_object_get(t, "name"));
    char target[TEMPLATE_NAME_MAX + 16];
    snprintf(target, sizeof(target), "template:%s", name);
    bool replaced = false;
    e = template_publish(data_dir(rq), t, &replaced);
    if (e == LAIR_ECONFLICT)
        e = http_fail(rq, e, "name", "template_shipped",
                      "'%s' is a template shipped with LibreAIr: publish yours under another name",
                      name);
    else if (e == LAIR_ELIMIT)
        e = http_fail(rq, e, NULL, NULL, "at most %d operator templates: delete one first",
                      TEMPLATE_MAX_OPERATOR);
    if (!e) {
        api_audit_detail(rq, "template.publish", target, replaced ? "replaced" : "created");
        e = api_respond_json(
            rq, replaced ? 200 : 201,
            json_pack("{s:s, s:s}", "name", name, "outcome", replaced ? "replaced" : "created"));
    }
    json_decref(t);
    return e;
}

enum lair_err api_template_delete(struct http_req *rq)
{
    char name[TEMPLATE_NAME_MAX + 1];
    enum lair_err e = path_name(rq, name);
    if (e)
        return e;
    e = template_delete(data_dir(rq), name);
    if (e == LAIR_ENOTFOUND)
        return no_template(rq, NULL, name);
    if (e == LAIR_ECONFLICT)
        return http_fail(rq, e, NULL, "template_shipped",
                         "'%s' is shipped with LibreAIr and cannot be deleted", name);
    if (e)
        return e;
    char target[TEMPLATE_NAME_MAX + 16];
    snprintf(target, sizeof(target), "template:%s", name);
    api_audit(rq, "template.delete", target, "ok");
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "name", name, "deleted", 1));
}

/* ---- instantiation ---- */

/* Applies the template's suite to the new assistant. OUT: *info (NULL when
 * the template has none). */
static enum lair_err apply_suite(struct http_req *rq, struct tenant_db *db, const char *slug,
                                 json_t *suite, json_t **info)
{
    *info = json_null();
    if (!suite || json_is_null(suite))
        return LAIR_OK;
    struct eval_suite s;
    struct eval_error ee;
    enum lair_err e = eval_suite_parse(suite, &s, &ee);
    if (e)
        return e == LAIR_EUNPROC ? LAIR_EINTERNAL : e;
    char *text = eval_suite_dump(&s);
    int version = 0;
    enum eval_apply_outcome outcome;
    e = text ? evals_suite_apply(db, slug, s.name, text, http_principal(rq)->key_id, &version,
                                 &outcome)
             : LAIR_ENOMEM;
    free(text);
    if (!e) {
        char target[SLUG_MAX + 16], detail[96];
        snprintf(target, sizeof(target), "assistant:%s", slug);
        snprintf(detail, sizeof(detail), "suite:%s version:%d", s.name, version);
        api_audit_detail(rq, "eval.suite.apply", target, detail);
        *info = json_pack("{s:s, s:i, s:i}", "name", s.name, "version", version, "cases",
                          (int)s.n_cases);
    }
    eval_suite_release(&s);
    return e;
}

enum lair_err api_assistants_from_template(struct http_req *rq)
{
    static const char *const keys[] = {"template",        "slug", "name", "model",
                                       "knowledge_bases", NULL};
    struct tenant_db *db;
    enum lair_err e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if ((e = api_tenant_db(rq, &db)))
        return e;
    json_t *o;
    if ((e = api_parse_body(rq, &o)))
        return e;
    const char *kbs[GEN_MAX_KBS], *tname, *slug, *name, *model;
    size_t n = 0;
    json_t *t = NULL, *spec = NULL;
    if ((e = only_keys(rq, o, keys,
                       "the body has template, slug, name, model and knowledge_bases")) ||
        (e = opt_string(rq, o, "template", TEMPLATE_NAME_MAX, &tname)) ||
        (e = opt_string(rq, o, "slug", SLUG_MAX, &slug)) ||
        (e = opt_string(rq, o, "name", 200, &name)) ||
        (e = opt_string(rq, o, "model", 200, &model)) || (e = kb_array(rq, o, false, kbs, &n)))
        goto out;
    if (!tname) {
        e = http_fail(rq, LAIR_EUNPROC, "template", "missing_field",
                      "'template' is required: the name of a template (GET /api/v1/templates)");
        goto out;
    }
    if (!slug) {
        e = http_fail(rq, LAIR_EUNPROC, "slug", "missing_field",
                      "'slug' is required: the new assistant's slug");
        goto out;
    }
    if (!name_ok(tname) || template_get(data_dir(rq), tname, &t, NULL)) {
        e = no_template(rq, "template", tname);
        goto out;
    }
    spec = template_instantiate(t, slug, name, model ? model : first_model(rq),
                                json_object_get(o, "knowledge_bases"));
    if (!spec) {
        e = LAIR_ENOMEM;
        goto out;
    }
    struct assistant a;
    if ((e = api_assistant_validate(rq, spec, &a, NULL)))
        goto out;
    char *text = assistant_dump(&a);
    int version = 0;
    e = text ? assistants_create(db, a.slug, text, http_principal(rq)->key_id, &version)
             : LAIR_ENOMEM;
    free(text);
    if (e == LAIR_ECONFLICT)
        e = http_fail(rq, e, "slug", "assistant_exists",
                      "an assistant '%s' already exists: choose another slug", a.slug);
    json_t *suite_info = NULL;
    if (!e) {
        char target[SLUG_MAX + 16], detail[96];
        snprintf(target, sizeof(target), "assistant:%s", a.slug);
        snprintf(detail, sizeof(detail), "template:%s", tname);
        api_audit_detail(rq, "assistant.create", target, detail);
        e = apply_suite(rq, db, a.slug, json_object_get(t, "suite"), &suite_info);
    }
    if (!e) {
        json_t *as = json_deep_copy(a.spec);
        json_object_set_new(as, "version", json_integer(version));
        json_object_set_new(as, "published_version", json_null());
        e = api_respond_json(
            rq, 201,
            json_pack("{s:o, s:o, s:s}", "assistant", as, "suite", suite_info, "template", tname));
    } else {
        json_decref(suite_info);
    }
    assistant_release(&a);
out:
    json_decref(spec);
    json_decref(t);
    json_decref(o);
    return e;
}
