/* The chat pipeline up to the model's first token: the target resolved,
 * the conversation continued, the prompt's messages built and grounded,
 * the cache key and the privacy filter set, the request submitted; or a
 * fixed answer (refusal, degraded mode). See chat.h, and
 * docs/internals/assist.md for the walk through. */
#include "assist/chat.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/chat_int.h"
#include "assist/grounding.h"
#include "assist/privacy.h"
#include "core/log.h"
#include "store/assistants.h"
#include "store/settings.h"

#include "core/banned.h"

enum lair_err chat_fail(struct chat_error *err, enum lair_err e, const char *param,
                        const char *code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof(err->message), fmt, ap);
    va_end(ap);
    err->param = param;
    err->code = code;
    return e;
}

enum lair_err chat_tenant_db(const struct chat_ctx *ctx, const struct principal *p,
                             struct tenant_db **out, struct chat_error *err)
{
    *out = NULL;
    if (tenants_get(ctx->tenants, p->tenant, out) != LAIR_OK)
        return chat_fail(err, LAIR_EAUTH, NULL, "invalid_api_key",
                         "invalid, revoked or expired API key");
    return LAIR_OK;
}

void chat_request_init(struct chat_request *r)
{
    memset(r, 0, sizeof(*r));
    llm_sampling_defaults(&r->sampling);
}

void chat_request_fixed(struct chat_request *r, const struct principal *who, struct str target,
                        const struct llm_message *messages, size_t n, int max_tokens)
{
    chat_request_init(r);
    r->who = who;
    r->target = target;
    r->ephemeral = true;
    r->messages = messages;
    r->n_messages = n;
    r->sampling.temperature = 0;
    r->has_temperature = true;
    r->sampling.has_seed = true;
    r->sampling.seed = 1;
    r->max_tokens = max_tokens;
}

/* ---- resolution ---- */

static bool models_ready(const struct chat_ctx *ctx)
{
    return !ctx->ready || __atomic_load_n(ctx->ready, __ATOMIC_ACQUIRE);
}

static enum lair_err not_ready(struct chat_error *err)
{
    err->retry_after = 2;
    return chat_fail(err, LAIR_EBUSY, NULL, "models_loading",
                     "models are still loading; retry shortly");
}

static enum lair_err model_not_found(struct chat_error *err, struct str name)
{
    return chat_fail(err, LAIR_ENOTFOUND, "model", "model_not_found",
                     "The model '%.*s' does not exist or you do not have access to it.",
                     (int)(name.len > 200 ? 200 : name.len), name.ptr);
}

/* A raw model by name, for the operator, a completion, or a tenant allowed
 * raw models. */
static enum lair_err resolve_model(const struct chat_ctx *ctx, const struct chat_request *req,
                                   struct chat_target *t, struct chat_error *err)
{
    if (!models_ready(ctx))
        return not_ready(err);
    bool raw = req->who->role == ROLE_OPERATOR || ctx->tenant_raw_models;
    t->model = raw ? llm_registry_find(ctx->models, req->target) : NULL;
    if (!t->model)
        return model_not_found(err, req->target);
    struct llm_model_info info;
    llm_model_get_info(t->model, &info);
    if (!(info.kind & LLM_CAN_CHAT))
        return chat_fail(err, LAIR_EINVAL, "model", "model_not_supported",
                         "the model '%s' is an embedding model and cannot generate text",
                         llm_model_name(t->model));
    return LAIR_OK;
}

bool chat_key_allows(const struct principal *p, const char *slug)
{
    if (!p->assistants[0])
        return true;
    size_t n = strlen(slug);
    for (const char *s = p->assistants;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == n && !memcmp(s, slug, n))
            return true;
        if (!comma)
            return false;
        s = comma + 1;
    }
}

/* After a version other than the published one was not found: the
 * assistant does not exist (404 model_not_found), or that version does
 * not. */
static enum lair_err version_missing(struct tenant_db *db, const char *slug, int version,
                                     struct str name, struct chat_error *err)
{
    char *spec = NULL;
    struct assistant_info info;
    enum lair_err e = assistants_get(db, slug, ASSISTANT_DRAFT, &spec, NULL, &info);
    free(spec);
    if (e == LAIR_ENOTFOUND || version == CHAT_DRAFT)
        return model_not_found(err, name);
    if (e)
        return e;
    return chat_fail(err, LAIR_ENOTFOUND, "version", "version_not_found",
                     "the assistant '%s' has no version %d (its draft is version %d)", slug,
                     version, info.version);
}

/* Reads and parses the stored version of slug that req asks for. */
static enum lair_err load_version(struct tenant_db *db, const char *slug,
                                  const struct chat_request *req, struct assistant *out,
                                  struct chat_error *err)
{
    int want = req->version == CHAT_PUBLISHED ? ASSISTANT_PUBLISHED
               : req->version == CHAT_DRAFT   ? ASSISTANT_DRAFT
                                              : req->version;
    char *text = NULL;
    int got = 0;
    enum lair_err e = assistants_get(db, slug, want, &text, &got, NULL);
    if (e == LAIR_ENOTFOUND && req->version != CHAT_PUBLISHED)
        return version_missing(db, slug, req->version, req->target, err);
    if (e)
        return e == LAIR_ENOTFOUND ? model_not_found(err, req->target) : e;
    json_error_t je;
    json_t *spec = json_loads(text, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!spec)
        return chat_fail(err, LAIR_EINTERNAL, NULL, NULL, "a stored assistant is unreadable");
    struct assistant_error aerr;
    e = assistant_parse(spec, NULL, out, &aerr);
    json_decref(spec);
    if (e)
        return chat_fail(err, LAIR_EINTERNAL, NULL, NULL, "a stored assistant is invalid");
    out->version = got;
    return LAIR_OK;
}

/* The assistant req->target of the caller's tenant, in the version asked
 * for; every kind of absence answers 404 model_not_found. */
static enum lair_err resolve_assistant(const struct chat_ctx *ctx, const struct chat_request *req,
                                       struct assistant *out, struct chat_error *err)
{
    const struct principal *p = req->who;
    struct str slug = req->target;
    char s[SLUG_MAX + 1];
    if (!p->tenant[0] || slug.len > SLUG_MAX || !slug_valid(slug))
        return model_not_found(err, slug);
    memcpy(s, slug.ptr, slug.len);
    s[slug.len] = 0;
    if (!chat_key_allows(p, s))
        return model_not_found(err, slug);
    if (req->version != CHAT_PUBLISHED && p->role < ROLE_EDITOR)
        return chat_fail(err, LAIR_EPERM, "version", "forbidden",
                         "only editor and admin keys may chat with a draft or an earlier version");
    struct tenant_db *db;
    enum lair_err e = chat_tenant_db(ctx, p, &db, err);
    if (e)
        return e;
    e = load_version(db, s, req, out, err);
    tenant_db_put(db);
    return e;
}

/* The assistant's model; none loaded is fine for an assistant with
 * knowledge bases (they answer in degraded mode). */
static enum lair_err assistant_model(const struct chat_ctx *ctx, struct chat_target *t,
                                     struct chat_error *err)
{
    const struct assistant *a = &t->assistant;
    t->model = models_ready(ctx) ? llm_registry_find(ctx->models, str_c(a->model)) : NULL;
    if (!t->model && a->n_knowledge_bases > 0)
        return LAIR_OK;
    if (!models_ready(ctx))
        return not_ready(err);
    if (!t->model) {
        err->retry_after = 30;
        return chat_fail(err, LAIR_EBUSY, "model", "model_unavailable",
                         "the model of this assistant is not loaded on this server");
    }
    return LAIR_OK;
}

/* The operator's restriction of the tenant's models (PATCH
 * /api/v1/tenants/{slug} "allowed_models"): a raw model the tenant may not
 * use does not exist for it (404); an assistant whose model it may no
 * longer use is refused with 403 model_not_allowed. */
static enum lair_err tenant_model_check(const struct chat_ctx *ctx, const struct principal *p,
                                        const struct chat_target *t, struct str name,
                                        struct chat_error *err)
{
    if (!ctx->sys || p->role == ROLE_OPERATOR || !p->tenant[0])
        return LAIR_OK;
    struct tenant_row row;
    enum lair_err e = sysdb_tenant_get(ctx->sys, p->tenant, &row);
    if (e == LAIR_ENOTFOUND) /* deleted since the key was checked */
        return chat_fail(err, LAIR_EAUTH, NULL, "invalid_api_key",
                         "invalid, revoked or expired API key");
    if (e)
        return e;
    if (tenant_model_allowed(row.allowed_models, name))
        return LAIR_OK;
    if (!t->is_assistant)
        return model_not_found(err, name);
    return chat_fail(err, LAIR_EPERM, "model", "model_not_allowed",
                     "the model '%.*s' of this assistant is not among the models the operator "
                     "allows tenant %s",
                     (int)(name.len > 200 ? 200 : name.len), name.ptr, p->tenant);
}

enum lair_err chat_resolve(const struct chat_ctx *ctx, const struct chat_request *req,
                           struct chat_target *out, struct chat_error *err)
{
    memset(out, 0, sizeof(*out));
    *err = (struct chat_error){0};
    if (req->target.len == 0)
        return chat_fail(err, LAIR_EINVAL, "model", "invalid_value",
                         "'model' is required and must be a non-empty string");
    if (req->completion || req->who->role == ROLE_OPERATOR) {
        enum lair_err e = resolve_model(ctx, req, out, err);
        if (!e)
            e = tenant_model_check(ctx, req->who, out, req->target, err);
        return e;
    }
    enum lair_err e = resolve_assistant(ctx, req, &out->assistant, err);
    if (e == LAIR_ENOTFOUND && ctx->tenant_raw_models && req->version == CHAT_PUBLISHED) {
        *err = (struct chat_error){0};
        e = resolve_model(ctx, req, out, err);
        if (!e)
            e = tenant_model_check(ctx, req->who, out, req->target, err);
        return e;
    }
    if (e)
        return e;
    out->is_assistant = true;
    e = tenant_model_check(ctx, req->who, out, str_c(out->assistant.model), err);
    if (!e)
        e = assistant_model(ctx, out, err);
    if (e)
        chat_target_release(out);
    return e;
}

void chat_target_release(struct chat_target *t)
{
    if (t->is_assistant)
        assistant_release(&t->assistant);
    memset(t, 0, sizeof(*t));
}

/* ---- the prompt ---- */

/* What chat_start works with, so that each step is a function of it. */
struct start {
    const struct chat_ctx *ctx;
    const struct chat_request *req;
    const struct chat_target *t;
    struct chat *c;
    struct arena *ar;
    struct chat_error *err;
    struct llm_request lr;
    struct chat_conversation conv;
    struct llm_message *msgs; /* ARENA: the prompt's messages */
    size_t n;
    struct grounding gr;
};

/* An assistant's parameters are limits: a request may lower them, never
 * exceed them; absent from the request, the assistant's values apply. */
static void apply_assistant_params(const struct assistant *a, const struct chat_request *req,
                                   struct llm_request *lr)
{
    struct llm_sampling *s = &lr->sampling;
    if (!isnan(a->temperature))
        s->temperature = req->has_temperature && s->temperature < a->temperature
                             ? s->temperature
                             : (float)a->temperature;
    if (!isnan(a->top_p))
        s->top_p = req->has_top_p && s->top_p < a->top_p ? s->top_p : (float)a->top_p;
    if (a->max_tokens > 0 && (lr->max_tokens <= 0 || lr->max_tokens > a->max_tokens))
        lr->max_tokens = (int)a->max_tokens;
}

/* The conversation: continued (its history goes into the prompt) or new.
 * The operator keeps none; an ephemeral request stores nothing. */
static enum lair_err begin_conversation(struct start *s)
{
    struct chat *c = s->c;
    if (c->who.role == ROLE_OPERATOR)
        return LAIR_OK;
    enum lair_err e = chat_conversation_begin(s->ctx, &c->who, s->req->conversation_id,
                                              c->model_name, s->req->user, s->ar, &s->conv, s->err);
    if (e)
        return e;
    if (s->req->ephemeral && s->conv.is_new)
        s->conv.id[0] = 0;
    c->conv = s->conv;
    c->conv.history = NULL;
    c->conv.n_history = 0;
    c->keep = c->conv.id[0] != 0 && !s->req->ephemeral;
    return LAIR_OK;
}

/* The prompt's messages: the assistant's instructions first (the client's
 * own system messages are dropped: they must not override guardrails), then
 * the stored history of a continued conversation, then the request's turns. */
static enum lair_err build_messages(struct start *s)
{
    const struct assistant *a = s->t->is_assistant ? &s->t->assistant : NULL;
    const struct chat_request *req = s->req;
    size_t cap = 1 + s->conv.n_history + req->n_messages, n = 0;
    struct llm_message *m = arena_alloc(s->ar, cap * sizeof(*m));
    if (!m)
        return LAIR_ENOMEM;
    if (a && a->instructions && *a->instructions)
        m[n++] = (struct llm_message){S("system"), str_c(a->instructions)};
    for (size_t i = 0; i < s->conv.n_history; i++)
        m[n++] = s->conv.history[i];
    for (size_t i = 0; i < req->n_messages; i++) {
        if (a && str_eq(req->messages[i].role, S("system")))
            continue;
        m[n++] = req->messages[i];
    }
    s->msgs = m;
    s->n = n;
    return LAIR_OK;
}

/* A NUL-terminated copy of text, as long as text even if it holds NULs.
 * OUT: *out OWNED, *len. */
static enum lair_err copy_text(struct str text, char **out, size_t *len)
{
    *out = malloc(text.len + 1);
    if (!*out)
        return LAIR_ENOMEM;
    memcpy(*out, text.ptr, text.len);
    (*out)[text.len] = 0;
    *len = text.len;
    return LAIR_OK;
}

/* The text of the last user turn of the request, recorded with the answer. */
static enum lair_err keep_question(struct start *s)
{
    struct str q = {"", 0};
    for (size_t i = s->req->n_messages; i-- > 0;)
        if (str_eq(s->req->messages[i].role, S("user"))) {
            q = s->req->messages[i].content;
            break;
        }
    return copy_text(q, &s->c->question, &s->c->question_len);
}

/* The embedding model searches use: the first loaded model that can embed
 * (the one ingestion embeds chunks with); NULL while models load. */
static struct llm_model *embedder(const struct chat_ctx *ctx)
{
    if (!models_ready(ctx))
        return NULL;
    for (size_t i = 0; i < llm_registry_count(ctx->models); i++) {
        struct llm_model *m = llm_registry_at(ctx->models, i);
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        if (info.kind & LLM_CAN_EMBED)
            return m;
    }
    return NULL;
}

/* Retrieval and packing for an assistant with knowledge bases
 * (grounding_prepare); s->gr.active stays false without. */
static enum lair_err ground(struct start *s)
{
    const struct assistant *a = &s->t->assistant;
    if (a->n_knowledge_bases <= 0)
        return LAIR_OK;
    struct tenant_db *db;
    enum lair_err e = chat_tenant_db(s->ctx, &s->c->who, &db, s->err);
    if (e)
        return e;
    e = grounding_prepare(db, a, s->msgs, s->n, s->t->model, embedder(s->ctx), s->lr.max_tokens,
                          s->ar, &s->gr);
    tenant_db_put(db);
    if (e == LAIR_ECTX)
        return chat_fail(s->err, e, "messages", "context_length_exceeded",
                         "the conversation leaves no room in the model's context for the "
                         "knowledge-base sources; shorten the messages or start a new "
                         "conversation");
    if (e) {
        log_error("grounding", "assistant %s: retrieval failed: %s", a->slug, lair_err_name(e));
        return chat_fail(s->err, e, NULL, NULL, "searching the assistant's knowledge bases failed");
    }
    return LAIR_OK;
}

/* The request's prompt-cache key (llm_cache_key): whose computed prefixes it
 * may reuse. The scope is the tenant and the assistant, or, for a raw model,
 * the key (its client wrote the whole prompt); the operator's own requests
 * have a scope of their own. The owner is the conversation, else the
 * subject named in "user". The leading system messages (an assistant's
 * instructions and sources, a raw client's own system prompt) are shared
 * across the scope's owners; nothing else is. docs/internals/llm.md, "cache
 * isolation": a security rule, not a tuning. */
static void set_cache_key(struct start *s, char *scope, size_t scope_n, char *owner, size_t owner_n)
{
    const struct principal *p = &s->c->who;
    if (!p->tenant[0])
        snprintf(scope, scope_n, "op");
    else if (s->t->is_assistant)
        snprintf(scope, scope_n, "t/%s/a/%s", p->tenant, s->t->assistant.slug);
    else
        snprintf(scope, scope_n, "t/%s/k/%s", p->tenant, p->key_id);
    if (s->conv.id[0])
        snprintf(owner, owner_n, "c/%s", s->conv.id);
    else
        snprintf(owner, owner_n, "u/%.*s", (int)s->req->user.len, s->req->user.ptr);
    size_t lead = 0;
    while (lead < s->lr.n_messages && str_eq(s->lr.messages[lead].role, S("system")))
        lead++;
    s->lr.cache =
        (struct llm_cache_key){.scope = str_c(scope), .owner = str_c(owner), .n_shared = lead};
}

/* ---- fixed answers ---- */

/* The degraded answer's text (the best cited excerpts). OUT: OWNED. */
static enum lair_err degraded_text(const struct grounding *g, char **out, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = grounding_degraded_answer(g, &b);
    if (!e)
        e = copy_text(buf_str(&b), out, len);
    buf_release(&b);
    return e;
}

/* Makes c a fixed answer: the refusal, or the degraded answer. */
static enum lair_err answer_fixed(struct start *s, enum chat_mode mode)
{
    struct chat *c = s->c;
    c->mode = mode;
    if (mode == CHAT_DEGRADED)
        return degraded_text(&s->gr, &c->fixed, &c->fixed_len);
    return copy_text(s->gr.refusal, &c->fixed, &c->fixed_len);
}

/* What the client is told when the model refuses a request or fails. */
static enum lair_err generation_error(struct llm_model *m, enum lair_err e, struct chat_error *err)
{
    if (e == LAIR_ECTX) {
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        return chat_fail(err, e, "messages", "context_length_exceeded",
                         "the prompt does not fit the model's context of %d tokens per request; "
                         "shorten the messages",
                         info.n_ctx_slot);
    }
    if (e == LAIR_EINVAL)
        return chat_fail(err, e, "messages", NULL, "cannot apply the model's chat template");
    if (e == LAIR_EBUSY) {
        err->retry_after = 2;
        return chat_fail(err, e, NULL, "server_busy",
                         "every slot and queue place for this model is taken; retry shortly");
    }
    return chat_fail(err, e, NULL, NULL, "generation failed: %s", lair_err_msg(e));
}

void chat_generation_error(const struct chat *c, enum lair_err e, struct chat_error *err)
{
    *err = (struct chat_error){0};
    generation_error(c->model, e, err);
}

/* A model that refuses a grounded request, or fails before any text, is an
 * outage the excerpts stand in for; a prompt too long or a template that
 * cannot render it is the client's to fix. */
static bool degrades(const struct grounding *g, enum lair_err e)
{
    return g->active && e != LAIR_ECTX && e != LAIR_EINVAL;
}

/* ---- submission ---- */

static enum lair_err submit(struct start *s)
{
    struct chat *c = s->c;
    enum lair_err e = llm_submit(c->model, &s->lr, &c->stream);
    if (e)
        c->stream = NULL; /* a fixed answer, or none */
    if (e && degrades(&s->gr, e))
        return answer_fixed(s, CHAT_DEGRADED);
    if (e)
        return generation_error(c->model, e, s->err);
    if (s->gr.active) /* for a model that fails before any text; without it, the error */
        (void)degraded_text(&s->gr, &c->degraded, &c->degraded_len);
    return LAIR_OK;
}

/* A chat: the grounded prompt, its cache key and privacy filter, then
 * llm_submit. */
static enum lair_err generate(struct start *s)
{
    enum lair_err e = grounding_messages(&s->gr, s->msgs, s->n, s->ar, &s->msgs, &s->n);
    if (e)
        return e;
    s->lr.messages = s->msgs;
    s->lr.n_messages = s->n;
    char scope[SLUG_MAX + CONV_ASSISTANT_MAX + KEY_ID_LEN + 16];
    char owner[CONV_SUBJECT_MAX + CONV_ID_LEN + 8];
    set_cache_key(s, scope, sizeof(scope), owner, sizeof(owner));
    /* the model layer owns the filter from llm_submit on; the assistant or
     * the tenant may forbid the remote zone altogether */
    bool forbid = s->t->is_assistant && s->t->assistant.forbid_remote;
    struct tenant_db *db;
    if (!forbid && s->c->who.tenant[0] &&
        chat_tenant_db(s->ctx, &s->c->who, &db, s->err) == LAIR_OK) {
        forbid = tenant_forbids_remote(db);
        tenant_db_put(db);
    }
    if ((e = assist_privacy_new(forbid, &s->lr.privacy)))
        return e;
    return submit(s);
}

/* A raw text completion: the prompt as it is, never masked (its
 * placeholders could not be told apart from the text), so never sent to
 * the remote zone; usage is counted, nothing stored. */
static enum lair_err complete(struct start *s)
{
    s->lr.prompt = s->req->prompt;
    s->lr.add_bos = true;
    char scope[SLUG_MAX + CONV_ASSISTANT_MAX + KEY_ID_LEN + 16];
    char owner[CONV_SUBJECT_MAX + CONV_ID_LEN + 8];
    set_cache_key(s, scope, sizeof(scope), owner, sizeof(owner));
    s->lr.privacy = (struct llm_privacy){0};
    return submit(s);
}

/* Conversation, messages, grounding; then the refusal, the degraded answer
 * or the generation. */
static enum lair_err chat_steps(struct start *s)
{
    enum lair_err e;
    if (s->req->completion)
        return complete(s);
    if (s->t->is_assistant)
        apply_assistant_params(&s->t->assistant, s->req, &s->lr);
    if ((e = begin_conversation(s)) || (e = build_messages(s)))
        return e;
    if (s->t->is_assistant && (e = ground(s)))
        return e;
    if (s->t->is_assistant)
        s->c->pii = s->t->assistant.pii;
    if ((e = keep_question(s)))
        return e;
    if (s->gr.refuse) /* nothing relevant, citations required */
        return answer_fixed(s, CHAT_REFUSAL);
    if (!s->t->model) /* no model: the knowledge bases answer */
        return answer_fixed(s, CHAT_DEGRADED);
    return generate(s);
}

/* The chat the steps fill in, with what it keeps of the request. */
static struct chat *chat_new(const struct chat_ctx *ctx, const struct chat_request *req,
                             const struct chat_target *t)
{
    struct chat *c = calloc(1, sizeof(*c));
    const char *name = t->is_assistant ? t->assistant.slug : llm_model_name(t->model);
    if (c && !(c->model_name = strdup(name))) {
        free(c);
        c = NULL;
    }
    if (!c)
        return NULL;
    c->ctx = *ctx;
    c->who = *req->who;
    c->model = t->model;
    buf_init(&c->answer, 0);
    return c;
}

/* The llm_request fields that come from the request as they are. */
static void request_fields(struct start *s)
{
    const struct chat_request *req = s->req;
    s->lr.sampling = req->sampling;
    s->lr.max_tokens = req->max_tokens;
    s->lr.stop = req->stop;
    s->lr.n_stop = req->n_stop;
    s->lr.ignore_eos = req->ignore_eos;
    s->lr.fair_key = str_c(s->c->who.tenant);
}

enum lair_err chat_start(const struct chat_ctx *ctx, const struct chat_request *req,
                         struct chat_target *t, struct chat **out, struct chat_error *err)
{
    *out = NULL;
    *err = (struct chat_error){0};
    struct arena own;
    arena_init(&own, 0);
    struct start s = {.ctx = ctx, .req = req, .t = t, .err = err};
    s.ar = req->arena ? req->arena : &own;
    s.c = chat_new(ctx, req, t);
    enum lair_err e = s.c ? LAIR_OK : LAIR_ENOMEM;
    if (!e) {
        request_fields(&s);
        e = chat_steps(&s);
    }
    if (!e && s.gr.sources)
        s.c->sources = json_incref(s.gr.sources);
    if (!e) { /* what the dashboard reads of the answer (its gaps) */
        s.c->conv.grounded = s.gr.active;
        s.c->conv.sources = (int)s.gr.n_src;
    }
    grounding_release(&s.gr);
    arena_release(&own);
    chat_target_release(t);
    if (e) {
        if (s.c)
            s.c->ended = true; /* nothing to record */
        chat_free(s.c);
        return e;
    }
    *out = s.c;
    return LAIR_OK;
}

enum lair_err chat_run(const struct chat_ctx *ctx, const struct chat_request *req,
                       struct chat **out, struct chat_error *err)
{
    struct chat_target t;
    *out = NULL;
    enum lair_err e = chat_resolve(ctx, req, &t, err);
    return e ? e : chat_start(ctx, req, &t, out, err);
}
