/* The OpenAI-compatible surface: /v1/models, /v1/chat/completions,
 * /v1/completions and /v1/embeddings, with and without streaming.
 *
 * Requests are validated strictly on the fields we use (type and range, with
 * the field named in the error) and leniently on the others, because real
 * clients send many optional fields we have no use for. */
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/assistants_api.h"
#include "api/conversations_api.h"
#include "api/gdpr_api.h"
#include "api/grounded.h"
#include "assist/privacy.h"
#include "core/json.h"
#include "core/banned.h"

#define MAX_STOP 4
#define MAX_EMBED_INPUTS 2048

/* ---- models ---- */

static json_t *model_object(struct app *app, struct llm_model *m)
{
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    return json_pack("{s:s, s:s, s:I, s:s, s:{s:I, s:b, s:b}}", "id", llm_model_name(m),
                     "object", "model", "created", (json_int_t)app->started, "owned_by",
                     "libreair", "meta", "n_ctx", (json_int_t)info.n_ctx_slot, "chat",
                     (info.kind & LLM_CAN_CHAT) != 0, "embeddings",
                     (info.kind & LLM_CAN_EMBED) != 0);
}

static enum lair_err respond_json_value(struct http_req *rq, int status, json_t *v)
{
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = v ? json_dump_buf(v, &b) : LAIR_ENOMEM;
    json_decref(v);
    if (!e)
        e = http_respond_json(rq, status, &b);
    buf_release(&b);
    return e;
}

static bool may_use_raw(struct http_req *rq)
{
    const struct principal *p = http_principal(rq);
    return p->role == ROLE_OPERATOR || ((struct app *)http_app(rq))->tenant_raw_models;
}

enum lair_err api_models_list(struct http_req *rq)
{
    struct app *app = http_app(rq);
    json_t *data = json_array();
    if (http_principal(rq)->role != ROLE_OPERATOR) {
        enum lair_err e = api_assistant_list_published(rq, data);
        if (e) {
            json_decref(data);
            return e;
        }
    }
    if (may_use_raw(rq) && __atomic_load_n(&app->ready, __ATOMIC_ACQUIRE))
        for (size_t i = 0; i < llm_registry_count(app->models); i++)
            json_array_append_new(data, model_object(app, llm_registry_at(app->models, i)));
    return respond_json_value(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

static enum lair_err model_not_found(struct http_req *rq, struct str name)
{
    return http_fail(rq, LAIR_ENOTFOUND, "model", "model_not_found",
                     "The model '%.*s' does not exist or you do not have access to it.",
                     (int)(name.len > 200 ? 200 : name.len), name.ptr);
}

enum lair_err api_models_get(struct http_req *rq)
{
    struct app *app = http_app(rq);
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    struct str name = http_param(rq, 0);
    struct llm_model *m = may_use_raw(rq) ? llm_registry_find(app->models, name) : NULL;
    if (!m)
        return model_not_found(rq, name);
    return respond_json_value(rq, 200, model_object(app, m));
}

/* ---- shared request parsing ---- */

struct gen_params {
    struct llm_request req;
    char cache_scope[SLUG_MAX + CONV_ASSISTANT_MAX + KEY_ID_LEN + 16];
    char cache_owner[CONV_SUBJECT_MAX + CONV_ID_LEN + 8];
    struct str stop[MAX_STOP];
    bool stream, include_usage;
    bool has_temperature, has_top_p;
    struct str user;
    struct str conversation_id;
};

static enum lair_err bad(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EINVAL, param, "invalid_value", "%s", msg);
}

static bool is_false(json_t *v) { return json_is_false(v); }
static bool is_zero(json_t *v) { return json_is_integer(v) && json_integer_value(v) == 0; }
static bool is_one(json_t *v) { return json_is_integer(v) && json_integer_value(v) == 1; }
static bool is_empty(json_t *v)
{
    return (json_is_array(v) && json_array_size(v) == 0) ||
           (json_is_object(v) && json_object_size(v) == 0) ||
           (json_is_string(v) && json_string_length(v) == 0);
}
static bool is_text_format(json_t *v)
{
    json_t *t = json_object_get(v, "type");
    return json_is_object(v) && json_is_string(t) && !strcmp(json_string_value(t), "text");
}
static bool is_no_tool(json_t *v)
{
    return json_is_string(v) &&
           (!strcmp(json_string_value(v), "none") || !strcmp(json_string_value(v), "auto"));
}
static bool is_text_only(json_t *v)
{
    json_t *m = json_array_get(v, 0);
    return json_is_array(v) && json_array_size(v) == 1 && json_is_string(m) &&
           !strcmp(json_string_value(m), "text");
}

/* OpenAI fields this server does not implement. A client that sends one
 * expects its effect (JSON output, a tool call, log probabilities…); silently
 * ignoring it would hand back something else as if it were that. So each is
 * refused with 400 naming it, unless its value asks for nothing (null, false,
 * empty, the default). */
static const struct unsupported_field {
    const char *name;
    bool (*harmless)(json_t *v); /* NULL: only null is */
    const char *what;
} unsupported_fields[] = {
    {"response_format", is_text_format, "structured output (response_format other than text)"},
    {"tools", is_empty, "tool calling"},
    {"tool_choice", is_no_tool, "tool calling"},
    {"functions", is_empty, "function calling"},
    {"function_call", is_no_tool, "function calling"},
    {"parallel_tool_calls", NULL, "tool calling"},
    {"logprobs", is_false, "log probabilities"},
    {"top_logprobs", is_zero, "log probabilities"},
    {"logit_bias", is_empty, "logit_bias"},
    {"audio", NULL, "audio output"},
    {"modalities", is_text_only, "output modalities other than text"},
    {"prediction", NULL, "predicted outputs"},
    {"web_search_options", NULL, "web search"},
    {"reasoning_effort", NULL, "reasoning_effort"},
    {"best_of", is_one, "best_of"},
    {"echo", is_false, "echo"},
    {"suffix", is_empty, "suffix (insertion)"},
};

static enum lair_err refuse_unsupported(struct http_req *rq, json_t *o)
{
    for (size_t i = 0; i < sizeof(unsupported_fields) / sizeof(unsupported_fields[0]); i++) {
        const struct unsupported_field *f = &unsupported_fields[i];
        json_t *v = json_object_get(o, f->name);
        if (!v || json_is_null(v) || (f->harmless && f->harmless(v)))
            continue;
        return http_fail(rq, LAIR_EINVAL, f->name, "unsupported_parameter",
                         "'%s' is not supported by this server (%s); remove it rather than get "
                         "an answer made without it",
                         f->name, f->what);
    }
    return LAIR_OK;
}

/* Reads the sampling and length fields common to both completion endpoints. */
static enum lair_err parse_gen(struct http_req *rq, json_t *o, struct gen_params *g)
{
    char msg[256];
    enum lair_err e;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, rep = 1.0, freq = 0, pres = 0;
    long long top_k = 0, max_tokens = -1, seed = 0, n = 1;
    bool has_seed = json_object_get(o, "seed") && !json_is_null(json_object_get(o, "seed"));

    memset(g, 0, sizeof(*g));
    llm_sampling_defaults(&g->req.sampling);
    if ((e = refuse_unsupported(rq, o)))
        return e;
#define CHECK(call, field)                                                                         \
    if ((e = (call)) != LAIR_OK)                                                                   \
        return bad(rq, field, msg);
    CHECK(json_opt_number(o, "temperature", 0, 2, &temperature, msg, sizeof(msg)), "temperature");
    CHECK(json_opt_number(o, "top_p", 0, 1, &top_p, msg, sizeof(msg)), "top_p");
    CHECK(json_opt_number(o, "min_p", 0, 1, &min_p, msg, sizeof(msg)), "min_p");
    CHECK(json_opt_int(o, "top_k", 0, 1000000, &top_k, msg, sizeof(msg)), "top_k");
    CHECK(json_opt_number(o, "repeat_penalty", 0.5, 2, &rep, msg, sizeof(msg)), "repeat_penalty");
    CHECK(json_opt_number(o, "frequency_penalty", -2, 2, &freq, msg, sizeof(msg)),
          "frequency_penalty");
    CHECK(json_opt_number(o, "presence_penalty", -2, 2, &pres, msg, sizeof(msg)),
          "presence_penalty");
    CHECK(json_opt_int(o, "max_tokens", 1, 1 << 20, &max_tokens, msg, sizeof(msg)), "max_tokens");
    CHECK(json_opt_int(o, "max_completion_tokens", 1, 1 << 20, &max_tokens, msg, sizeof(msg)),
          "max_completion_tokens");
    CHECK(json_opt_int(o, "seed", -(1LL << 62), 1LL << 62, &seed, msg, sizeof(msg)), "seed");
    CHECK(json_opt_int(o, "n", 1, 1, &n, msg, sizeof(msg)), "n");
    CHECK(json_opt_bool(o, "stream", &g->stream, msg, sizeof(msg)), "stream");
    CHECK(json_opt_bool(o, "ignore_eos", &g->req.ignore_eos, msg, sizeof(msg)), "ignore_eos");
    CHECK(json_opt_string(o, "user", &g->user, msg, sizeof(msg)), "user");
    CHECK(json_opt_string(o, "conversation_id", &g->conversation_id, msg, sizeof(msg)),
          "conversation_id");
#undef CHECK
    json_t *tv = json_object_get(o, "temperature"), *pv = json_object_get(o, "top_p");
    g->has_temperature = tv && !json_is_null(tv);
    g->has_top_p = pv && !json_is_null(pv);
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(rq, "stream_options", "'stream_options' must be an object");
        if (json_opt_bool(so, "include_usage", &g->include_usage, msg, sizeof(msg)))
            return bad(rq, "stream_options.include_usage", msg);
    }
    json_t *stop = json_object_get(o, "stop");
    if (json_is_string(stop)) {
        g->stop[g->req.n_stop++] = (struct str){json_string_value(stop), json_string_length(stop)};
    } else if (json_is_array(stop)) {
        if (json_array_size(stop) > MAX_STOP)
            return bad(rq, "stop", "'stop' takes at most 4 strings");
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s))
                return bad(rq, "stop", "'stop' must be a string or an array of strings");
            g->stop[g->req.n_stop++] = (struct str){json_string_value(s), json_string_length(s)};
        }
    } else if (stop && !json_is_null(stop)) {
        return bad(rq, "stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < g->req.n_stop; i++)
        if (g->stop[i].len == 0 || g->stop[i].len > 256)
            return bad(rq, "stop", "each stop string must have 1 to 256 bytes");
    g->req.stop = g->stop;
    g->req.max_tokens = (int)max_tokens;
    struct llm_sampling *s = &g->req.sampling;
    s->temperature = (float)temperature;
    s->top_p = (float)top_p;
    s->top_k = (int)top_k;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)rep;
    s->frequency_penalty = (float)freq;
    s->presence_penalty = (float)pres;
    s->has_seed = has_seed;
    s->seed = (uint64_t)seed;
    g->req.fair_key = str_c(http_principal(rq)->tenant);
    return LAIR_OK;
}

static enum lair_err find_model(struct http_req *rq, json_t *o, int need, struct llm_model **m)
{
    struct app *app = http_app(rq);
    json_t *mv = json_object_get(o, "model");
    if (!json_is_string(mv) || json_string_length(mv) == 0)
        return http_fail(rq, LAIR_EINVAL, "model", "invalid_value",
                         "'model' is required and must be a non-empty string");
    struct str name = {json_string_value(mv), json_string_length(mv)};
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    *m = may_use_raw(rq) ? llm_registry_find(app->models, name) : NULL;
    if (!*m)
        return model_not_found(rq, name);
    struct llm_model_info info;
    llm_model_get_info(*m, &info);
    if (!(info.kind & need))
        return http_fail(rq, LAIR_EINVAL, "model", "model_not_supported",
                         need == LLM_CAN_EMBED
                             ? "the model '%s' cannot produce embeddings"
                             : "the model '%s' is an embedding model and cannot generate text",
                         llm_model_name(*m));
    return LAIR_OK;
}

static enum lair_err submit_error(struct http_req *rq, enum lair_err e, struct llm_model *m)
{
    if (e == LAIR_ECTX) {
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        return http_fail(rq, e, "messages", "context_length_exceeded",
                         "the prompt does not fit the model's context of %d tokens per request; "
                         "shorten the messages",
                         info.n_ctx_slot);
    }
    if (e == LAIR_EINVAL)
        return http_fail(rq, e, "messages", NULL, "cannot apply the model's chat template");
    if (e == LAIR_EBUSY) {
        http_retry_after(rq, 2);
        return http_fail(rq, e, NULL, "server_busy",
                         "every slot and queue place for this model is taken; retry shortly");
    }
    return http_fail(rq, e, NULL, NULL, "generation failed: %s", lair_err_msg(e));
}

static void make_id(char *out, size_t n, const char *prefix)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t p = (size_t)snprintf(out, n, "%s", prefix);
    for (; p + 1 < n && p < strlen(prefix) + 24; p++)
        out[p] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[p] = 0;
}

static const char *finish_name(enum llm_finish f)
{
    return f == LLM_FINISH_LENGTH ? "length" : "stop";
}

static json_t *usage_object(const struct llm_result *r)
{
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", r->prompt_tokens,
                     "completion_tokens", r->completion_tokens, "total_tokens",
                     r->prompt_tokens + r->completion_tokens, "prompt_tokens_details",
                     "cached_tokens", r->cached_tokens);
}

/* Sets the request's prompt-cache key (llm_cache_key): whose computed
 * prefixes it may reuse. The scope is the tenant and the assistant, or, for a
 * raw model, the key (its client wrote the whole prompt); the operator's own
 * requests have a scope of their own. The owner is the conversation, else
 * the subject named in "user". The leading system messages (an assistant's
 * instructions and sources, a raw client's own system prompt) are shared
 * across the scope's owners; nothing else is. */
static void set_cache_key(struct http_req *rq, struct gen_params *g, const char *assistant,
                          const struct api_conversation *c, const struct llm_message *msgs,
                          size_t n)
{
    const struct principal *p = http_principal(rq);
    if (!p->tenant[0])
        snprintf(g->cache_scope, sizeof(g->cache_scope), "op");
    else if (assistant)
        snprintf(g->cache_scope, sizeof(g->cache_scope), "t/%s/a/%s", p->tenant, assistant);
    else
        snprintf(g->cache_scope, sizeof(g->cache_scope), "t/%s/k/%s", p->tenant, p->key_id);
    if (c && c->id[0])
        snprintf(g->cache_owner, sizeof(g->cache_owner), "c/%s", c->id);
    else
        snprintf(g->cache_owner, sizeof(g->cache_owner), "u/%.*s", (int)g->user.len, g->user.ptr);
    size_t lead = 0;
    while (lead < n && str_eq(msgs[lead].role, S("system")))
        lead++;
    g->req.cache = (struct llm_cache_key){
        .scope = str_c(g->cache_scope), .owner = str_c(g->cache_owner), .n_shared = lead};
}

/* ---- streaming (SSE) ---- */

enum gen_kind { GEN_CHAT, GEN_TEXT };

/* What is recorded once a generation ends: the conversation, the user's
 * turn and the usage. Copied out of the request so that the end of a stream
 * can record it even though the handler returned long ago. */
struct record {
    struct app *app;
    struct principal who;
    struct api_conversation conv; /* history is not kept (it lives in the request's arena) */
    char *user_text;              /* OWNED */
    size_t user_len;
    bool keep;                    /* record the exchange */
    enum pii_mode pii;            /* the assistant's policy for what is stored */
};

static void record_release(struct record *r)
{
    free(r->user_text);
    r->user_text = NULL;
}

/* Stores the exchange and counts the tokens; failures are logged, never
 * reported to a client who already has the answer. */
static void record_finish(struct record *r, struct str answer, const struct llm_result *res)
{
    if (res->finish == LLM_FINISH_ERROR || res->finish == LLM_FINISH_CANCELLED)
        return;
    if (r->keep && r->conv.id[0])
        api_gdpr_record_exchange(r->app, &r->who, r->pii, &r->conv,
                                 (struct str){r->user_text ? r->user_text : "", r->user_len},
                                 answer, res);
    api_usage_add(r->app, &r->who, res->prompt_tokens + res->completion_tokens);
}

/* Counts what the model processed for a request whose client left before
 * the end (or whose stream broke): without this a client could stop reading
 * just before each answer ends and never use up its daily quota. Nothing is
 * stored: the exchange was not delivered. */
static void record_abandoned(struct record *r, const struct llm_stream *st)
{
    int used = llm_stream_tokens_used(st);
    if (used > 0)
        api_usage_add(r->app, &r->who, used);
}

struct sse_ctx {
    struct llm_stream *stream;
    struct llm_model *model_ptr; /* for the queue position */
    enum gen_kind kind;
    bool include_usage, sent_role, sent_first, finished, told_queue;
    char id[48];
    char model[128];
    time_t created;
    struct buf text;
    struct buf answer; /* the whole answer, for the conversation */
    struct record rec;
    json_t *sources; /* OWNED reference: a grounded answer's sources, on the first chunk */
    char *degraded;  /* OWNED: the excerpts answer, when the model fails before any text */
};

static int sse_fd(void *p) { return llm_stream_fd(((struct sse_ctx *)p)->stream); }

static json_t *chunk_object(struct sse_ctx *c, json_t *choice)
{
    json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o]}", "id", c->id, "object",
                          c->kind == GEN_CHAT ? "chat.completion.chunk" : "text_completion",
                          "created", (json_int_t)c->created, "model", c->model,
                          "system_fingerprint", "libreair", "choices", choice);
    /* the conversation id rides on the first chunk, like the sources */
    if (v && !c->sent_first && c->rec.conv.id[0])
        json_object_set_new(v, "conversation_id", json_string(c->rec.conv.id));
    if (v && !c->sent_first && c->sources)
        json_object_set(v, "sources", c->sources);
    c->sent_first = true;
    return v;
}

static enum lair_err sse_event(struct buf *out, json_t *v)
{
    if (!v)
        return LAIR_ENOMEM;
    buf_puts(out, "data: ");
    enum lair_err e = json_dump_buf(v, out);
    json_decref(v);
    buf_puts(out, "\n\n");
    return e;
}

static json_t *delta_choice(struct sse_ctx *c, const char *text, size_t len, const char *finish)
{
    json_t *content = json_stringn(text, len);
    if (c->kind == GEN_TEXT)
        return json_pack("{s:i, s:o, s:n, s:s?}", "index", 0, "text", content, "logprobs",
                         "finish_reason", finish);
    json_t *delta = json_object();
    if (!c->sent_role) {
        json_object_set_new(delta, "role", json_string("assistant"));
        c->sent_role = true;
    }
    if (len || !finish)
        json_object_set_new(delta, "content", content);
    else
        json_decref(content);
    return json_pack("{s:i, s:o, s:n, s:s?}", "index", 0, "delta", delta, "logprobs",
                     "finish_reason", finish);
}

/* An SSE comment (ignored by clients) saying where a waiting request
 * stands, so that neither the client nor a proxy gives up on a stream that
 * has said nothing yet; false when it is not waiting. */
static bool sse_queue_comment(struct sse_ctx *c, struct buf *out)
{
    int pos = llm_queue_position(c->model_ptr, c->stream);
    if (pos > 0)
        buf_printf(out, ": queued, position %d\n\n", pos);
    return pos > 0;
}

static void sse_idle(void *p, struct buf *out)
{
    struct sse_ctx *c = p;
    if (!sse_queue_comment(c, out))
        buf_puts(out, ": keep-alive\n\n");
}

static enum lair_err sse_produce(void *p, struct buf *out, bool *done)
{
    struct sse_ctx *c = p;
    struct llm_result res;
    buf_reset(&c->text);
    bool fin = llm_stream_take(c->stream, &c->text, &res);
    enum lair_err e = LAIR_OK;
    if (c->text.len)
        buf_append(&c->answer, c->text.ptr, c->text.len);
    if (c->text.len || (!c->sent_role && c->kind == GEN_CHAT))
        e = sse_event(out, chunk_object(c, delta_choice(c, c->text.ptr ? c->text.ptr : "",
                                                        c->text.len, NULL)));
    if (!e && !fin && !c->told_queue) {
        c->told_queue = true;
        sse_queue_comment(c, out);
    }
    if (e || !fin)
        return e;
    if (res.finish == LLM_FINISH_ERROR && c->answer.len == 0 && c->degraded) {
        /* the model failed before any text (every upstream and fallback):
         * the assistant's cited excerpts answer, as in degraded mode */
        buf_puts(&c->answer, c->degraded);
        e = sse_event(out, chunk_object(c, delta_choice(c, c->degraded, strlen(c->degraded),
                                                        NULL)));
        res = (struct llm_result){.finish = LLM_FINISH_STOP};
    }
    if (res.finish == LLM_FINISH_ERROR) {
        struct buf err;
        buf_init(&err, 0);
        http_error_json(res.err, NULL, NULL, NULL, &err);
        buf_printf(out, "data: %s\n\n", err.ptr);
        buf_release(&err);
    } else {
        e = sse_event(out, chunk_object(c, delta_choice(c, "", 0, finish_name(res.finish))));
        if (!e && c->include_usage) {
            json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", c->id, "object",
                                  c->kind == GEN_CHAT ? "chat.completion.chunk" : "text_completion",
                                  "created", (json_int_t)c->created, "model", c->model, "choices",
                                  "usage", usage_object(&res));
            e = sse_event(out, u);
        }
    }
    buf_puts(out, "data: [DONE]\n\n");
    *done = true;
    c->finished = true;
    record_finish(&c->rec, buf_str(&c->answer), &res);
    return e;
}

/* The server is shutting down and the stream ran past the grace period:
 * what was generated is sent, then an error event and [DONE], so that the
 * client knows the answer was cut; the exchange is stored as it stands. */
static void sse_abort(void *p, struct buf *out)
{
    struct sse_ctx *c = p;
    struct llm_result res;
    llm_stream_cancel(c->stream);
    buf_reset(&c->text);
    llm_stream_take(c->stream, &c->text, &res);
    if (c->text.len) {
        buf_append(&c->answer, c->text.ptr, c->text.len);
        sse_event(out, chunk_object(c, delta_choice(c, c->text.ptr, c->text.len, NULL)));
    }
    struct buf err;
    buf_init(&err, 0);
    http_error_json(LAIR_EBUSY, "the server is shutting down: this answer was cut short", NULL,
                    "shutting_down", &err);
    buf_printf(out, "data: %s\n\ndata: [DONE]\n\n", err.ptr);
    buf_release(&err);
    struct llm_result cut = {.finish = LLM_FINISH_LENGTH,
                             .prompt_tokens = llm_stream_tokens_used(c->stream)};
    c->finished = true;
    record_finish(&c->rec, buf_str(&c->answer), &cut);
}

static void sse_release(void *p, bool client_gone)
{
    struct sse_ctx *c = p;
    if (!c->finished)
        record_abandoned(&c->rec, c->stream);
    llm_stream_free(c->stream); /* cancels if still running: the slot is freed at once */
    buf_release(&c->text);
    buf_release(&c->answer);
    record_release(&c->rec);
    json_decref(c->sources);
    free(c->degraded);
    free(c);
}

static const struct http_stream_ops sse_ops = {
    .fd = sse_fd,
    .produce = sse_produce,
    .release = sse_release,
    .idle = sse_idle,
    .abort = sse_abort,
};

/* ---- completion endpoints ---- */

/* Answers a grounded request without generating: the refusal, or the
 * degraded answer (the best cited excerpts), recorded like a generated
 * answer. Takes rec over. */
static enum lair_err answer_fixed(struct http_req *rq, const struct grounding *gr,
                                  enum api_answer_mode mode, const struct gen_params *g,
                                  struct record *rec, const char *shown_model)
{
    struct str text;
    enum lair_err e = api_ground_answer_text(rq, gr, mode, &text);
    if (!e) {
        char id[48];
        make_id(id, sizeof(id), "chatcmpl-");
        struct api_fixed_answer f = {.id = id,
                                     .created = time(NULL),
                                     .model = shown_model,
                                     .conversation_id = rec->conv.id,
                                     .stream = g->stream,
                                     .include_usage = g->include_usage,
                                     .mode = mode};
        e = api_ground_respond(rq, gr, text, &f);
        struct llm_result res = {.finish = LLM_FINISH_STOP};
        if (!e)
            record_finish(rec, text, &res);
    }
    record_release(rec);
    return e;
}

/* Submits the request and answers it, streamed or whole. Takes rec over.
 * gr: the grounding of an assistant's answer (NULL otherwise): its sources
 * go into the response, and when the engine cannot take the request, its
 * excerpts answer instead (degraded mode). */
static enum lair_err run_generation(struct http_req *rq, struct llm_model *m, struct gen_params *g,
                                    enum gen_kind kind, struct record *rec, const char *shown_model,
                                    const struct grounding *gr)
{
    struct llm_stream *st;
    enum lair_err e = llm_submit(m, &g->req, &st);
    if (e && gr && gr->active && e != LAIR_ECTX && e != LAIR_EINVAL)
        return answer_fixed(rq, gr, API_ANSWER_DEGRADED, g, rec, shown_model);
    if (e) {
        record_release(rec);
        return submit_error(rq, e, m);
    }
    char id[48];
    make_id(id, sizeof(id), kind == GEN_CHAT ? "chatcmpl-" : "cmpl-");
    time_t created = time(NULL);

    if (g->stream) {
        struct sse_ctx *c = calloc(1, sizeof(*c));
        if (!c) {
            llm_stream_free(st);
            record_release(rec);
            return LAIR_ENOMEM;
        }
        c->stream = st;
        c->model_ptr = m;
        c->kind = kind;
        c->include_usage = g->include_usage;
        c->created = created;
        c->rec = *rec;
        c->sources = gr && gr->sources ? json_incref(gr->sources) : NULL;
        struct str deg;
        if (gr && gr->active && !api_ground_answer_text(rq, gr, API_ANSWER_DEGRADED, &deg))
            c->degraded = strndup(deg.ptr, deg.len);
        snprintf(c->id, sizeof(c->id), "%s", id);
        snprintf(c->model, sizeof(c->model), "%s", shown_model);
        buf_init(&c->text, 0);
        buf_init(&c->answer, 0);
        return http_respond_stream(rq, "text/event-stream; charset=utf-8", &sse_ops, c);
    }

    struct buf text;
    struct llm_result res;
    buf_init(&text, 0);
    for (;;) {
        if (llm_stream_take(st, &text, &res))
            break;
        int w = http_wait(rq, llm_stream_fd(st));
        if (w <= 0) { /* client gone, or the server going: free the slot now */
            record_abandoned(rec, st);
            llm_stream_free(st);
            buf_release(&text);
            record_release(rec);
            if (w < 0) {
                http_retry_after(rq, 5);
                return http_fail(rq, LAIR_EBUSY, NULL, "shutting_down",
                                 "the server is shutting down; retry shortly");
            }
            return http_fail(rq, LAIR_ECANCEL, NULL, NULL, "client disconnected");
        }
    }
    llm_stream_free(st);
    if (res.finish == LLM_FINISH_ERROR && text.len == 0 && gr && gr->active &&
        res.err != LAIR_ECTX && res.err != LAIR_EINVAL) {
        buf_release(&text); /* nothing generated (every upstream failed): the excerpts answer */
        return answer_fixed(rq, gr, API_ANSWER_DEGRADED, g, rec, shown_model);
    }
    if (res.finish == LLM_FINISH_ERROR) {
        buf_release(&text);
        record_release(rec);
        return submit_error(rq, res.err, m);
    }
    record_finish(rec, buf_str(&text), &res);
    record_release(rec);
    json_t *content = json_stringn(text.ptr ? text.ptr : "", text.len);
    buf_release(&text);
    json_t *choice =
        kind == GEN_CHAT
            ? json_pack("{s:i, s:{s:s, s:o, s:n}, s:n, s:s}", "index", 0, "message", "role",
                        "assistant", "content", content, "refusal", "logprobs", "finish_reason",
                        finish_name(res.finish))
            : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", content, "logprobs",
                        "finish_reason", finish_name(res.finish));
    json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o], s:o}", "id", id, "object",
                          kind == GEN_CHAT ? "chat.completion" : "text_completion", "created",
                          (json_int_t)created, "model", shown_model, "system_fingerprint",
                          "libreair", "choices", choice, "usage", usage_object(&res));
    if (v && rec->conv.id[0])
        json_object_set_new(v, "conversation_id", json_string(rec->conv.id));
    if (v && gr && gr->sources)
        json_object_set(v, "sources", gr->sources);
    return respond_json_value(rq, 200, v);
}

/* Message content is a string or an array of {"type":"text","text":…} parts. */
static enum lair_err message_text(struct http_req *rq, json_t *content, size_t idx,
                                  struct arena *a, struct str *out)
{
    if (!content || json_is_null(content)) {
        *out = (struct str){"", 0};
        return LAIR_OK;
    }
    if (json_is_string(content)) {
        *out = (struct str){json_string_value(content), json_string_length(content)};
        return LAIR_OK;
    }
    if (!json_is_array(content))
        return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value",
                         "messages[%zu].content must be a string or an array of text parts", idx);
    struct buf b;
    buf_init(&b, 0);
    size_t i;
    json_t *part;
    json_array_foreach(content, i, part)
    {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") != 0 ||
            !json_is_string(text)) {
            buf_release(&b);
            return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value",
                             "messages[%zu].content[%zu]: only parts of type 'text' are supported",
                             idx, i);
        }
        buf_append(&b, json_string_value(text), json_string_length(text));
    }
    char *p = arena_strndup(a, b.ptr ? b.ptr : "", b.len);
    *out = (struct str){p, b.len};
    buf_release(&b);
    return p ? LAIR_OK : LAIR_ENOMEM;
}

static enum lair_err parse_messages(struct http_req *rq, json_t *o, struct llm_message **out,
                                    size_t *n_out)
{
    json_t *msgs = json_object_get(o, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value",
                         "'messages' is required and must be a non-empty array");
    size_t n = json_array_size(msgs);
    if (n > 4096)
        return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value", "too many messages");
    struct llm_message *m = arena_alloc(http_arena(rq), n * sizeof(*m));
    if (!m)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *msg = json_array_get(msgs, i);
        json_t *role = json_object_get(msg, "role");
        if (!json_is_object(msg) || !json_is_string(role))
            return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value",
                             "messages[%zu] must be an object with a string 'role'", i);
        const char *r = json_string_value(role);
        if (!strcmp(r, "developer"))
            r = "system";
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant") &&
            strcmp(r, "tool"))
            return http_fail(rq, LAIR_EINVAL, "messages", "invalid_value",
                             "messages[%zu].role must be system, developer, user, assistant or "
                             "tool",
                             i);
        m[i].role = str_c(r);
        enum lair_err e = message_text(rq, json_object_get(msg, "content"), i, http_arena(rq),
                                       &m[i].content);
        if (e)
            return e;
    }
    *out = m;
    *n_out = n;
    return LAIR_OK;
}

/* An assistant's parameters are limits: a request may lower them, never
 * exceed them; absent from the request, the assistant's values apply. */
static void apply_assistant_params(const struct assistant *a, struct gen_params *g)
{
    struct llm_sampling *s = &g->req.sampling;
    if (!isnan(a->temperature))
        s->temperature = g->has_temperature && s->temperature < a->temperature
                             ? s->temperature
                             : (float)a->temperature;
    if (!isnan(a->top_p))
        s->top_p = g->has_top_p && s->top_p < a->top_p ? s->top_p : (float)a->top_p;
    if (a->max_tokens > 0 && (g->req.max_tokens <= 0 || g->req.max_tokens > a->max_tokens))
        g->req.max_tokens = (int)a->max_tokens;
}

/* The prompt's messages: the assistant's instructions first (the client's
 * own system messages are dropped: they must not override guardrails), then
 * the stored history of a continued conversation, then the request's turns. */
static enum lair_err build_messages(struct http_req *rq, const struct assistant *a,
                                    const struct api_conversation *c, struct llm_message *req,
                                    size_t n_req, struct llm_message **out, size_t *n_out)
{
    size_t cap = 1 + c->n_history + n_req, n = 0;
    struct llm_message *m = arena_alloc(http_arena(rq), cap * sizeof(*m));
    if (!m)
        return LAIR_ENOMEM;
    if (a && a->instructions && *a->instructions)
        m[n++] = (struct llm_message){S("system"), str_c(a->instructions)};
    for (size_t i = 0; i < c->n_history; i++)
        m[n++] = c->history[i];
    for (size_t i = 0; i < n_req; i++) {
        if (a && str_eq(req[i].role, S("system")))
            continue;
        m[n++] = req[i];
    }
    *out = m;
    *n_out = n;
    return LAIR_OK;
}

/* The text of the last user turn, recorded with the answer. */
static struct str last_user_text(const struct llm_message *m, size_t n)
{
    for (size_t i = n; i-- > 0;)
        if (str_eq(m[i].role, S("user")))
            return m[i].content;
    return (struct str){"", 0};
}

/* model = an assistant of the caller's tenant, else (where allowed) a raw
 * model. Sets *a (owned; released by the caller) when an assistant. */
static enum lair_err resolve_chat_target(struct http_req *rq, json_t *o, struct llm_model **m,
                                         struct assistant *a, bool *is_assistant)
{
    struct app *app = http_app(rq);
    *is_assistant = false;
    if (http_principal(rq)->role == ROLE_OPERATOR)
        return find_model(rq, o, LLM_CAN_CHAT, m);
    json_t *mv = json_object_get(o, "model");
    if (!json_is_string(mv) || json_string_length(mv) == 0)
        return http_fail(rq, LAIR_EINVAL, "model", "invalid_value",
                         "'model' is required and must be a non-empty string");
    struct str name = {json_string_value(mv), json_string_length(mv)};
    enum lair_err e = api_assistant_resolve(rq, name, a);
    if (e == LAIR_ENOTFOUND && app->tenant_raw_models)
        return find_model(rq, o, LLM_CAN_CHAT, m);
    if (e)
        return e;
    *is_assistant = true;
    *m = __atomic_load_n(&app->ready, __ATOMIC_ACQUIRE)
             ? llm_registry_find(app->models, str_c(a->model))
             : NULL;
    if (!*m && a->n_knowledge_bases > 0)
        return LAIR_OK; /* no model: its knowledge bases answer (degraded mode) */
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    if (!*m) {
        http_retry_after(rq, 30);
        return http_fail(rq, LAIR_EBUSY, "model", "model_unavailable",
                         "the model of this assistant is not loaded on this server");
    }
    return LAIR_OK;
}

enum lair_err api_chat_completions(struct http_req *rq)
{
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    struct llm_model *m = NULL;
    struct gen_params g;
    struct llm_message *msgs = NULL, *all = NULL;
    size_t n = 0, n_all = 0;
    struct assistant a = {0};
    bool is_assistant = false;
    struct api_conversation conv = {0};
    struct record rec = {0};
    struct grounding gr = {0};
    if ((e = resolve_chat_target(rq, o, &m, &a, &is_assistant)) || (e = parse_gen(rq, o, &g)) ||
        (e = parse_messages(rq, o, &msgs, &n)))
        goto out;
    if (is_assistant)
        apply_assistant_params(&a, &g);
    const char *target = is_assistant ? a.slug : llm_model_name(m);
    if (http_principal(rq)->role != ROLE_OPERATOR &&
        (e = api_conversation_begin(rq, g.conversation_id, target, g.user, &conv)))
        goto out;
    if ((e = build_messages(rq, is_assistant ? &a : NULL, &conv, msgs, n, &all, &n_all)))
        goto out;
    if (is_assistant && (e = api_ground(rq, &a, all, n_all, m, g.req.max_tokens, &gr)))
        goto out;
    rec.app = http_app(rq);
    rec.who = *http_principal(rq);
    rec.conv = conv;
    rec.conv.history = NULL;
    rec.conv.n_history = 0;
    rec.keep = conv.id[0] != 0;
    rec.pii = is_assistant ? a.pii : PII_KEEP;
    struct str user = last_user_text(msgs, n);
    rec.user_text = strndup(user.ptr, user.len);
    rec.user_len = user.len;
    if (gr.refuse || !m) { /* nothing relevant with citations required, or no model */
        e = answer_fixed(rq, &gr, gr.refuse ? API_ANSWER_REFUSAL : API_ANSWER_DEGRADED, &g, &rec,
                         target);
        goto out;
    }
    if ((e = api_ground_messages(rq, &gr, all, n_all, &all, &n_all))) {
        record_release(&rec);
        goto out;
    }
    g.req.messages = all;
    g.req.n_messages = n_all;
    set_cache_key(rq, &g, is_assistant ? a.slug : NULL, &conv, all, n_all);
    /* the model layer owns the filter from llm_submit (run_generation) on */
    if ((e = assist_privacy_new(is_assistant && a.forbid_remote, &g.req.privacy))) {
        record_release(&rec);
        goto out;
    }
    e = run_generation(rq, m, &g, GEN_CHAT, &rec, target, &gr);
out:
    grounding_release(&gr);
    assistant_release(&a);
    json_decref(o);
    return e;
}

enum lair_err api_completions(struct http_req *rq)
{
    char msg[256];
    json_t *o;
    enum lair_err e = json_parse_object(http_body(rq), &o, msg, sizeof(msg));
    if (e)
        return http_fail(rq, e, NULL, "invalid_json", "%s", msg);
    struct llm_model *m;
    struct gen_params g;
    if (!(e = find_model(rq, o, LLM_CAN_CHAT, &m)) && !(e = parse_gen(rq, o, &g))) {
        json_t *p = json_object_get(o, "prompt");
        if (json_is_array(p) && json_array_size(p) == 1)
            p = json_array_get(p, 0);
        if (!json_is_string(p)) {
            e = http_fail(rq, LAIR_EINVAL, "prompt", "invalid_value",
                          "'prompt' must be a string (or an array of one string)");
        } else {
            g.req.prompt = (struct str){json_string_value(p), json_string_length(p)};
            g.req.add_bos = true;
            set_cache_key(rq, &g, NULL, NULL, NULL, 0);
            /* a raw prompt is not masked (its placeholders could not be told
             * apart from the text): it never goes to the remote zone */
            g.req.privacy = (struct llm_privacy){0};
            struct record rec = {.app = http_app(rq), .who = *http_principal(rq)};
            e = run_generation(rq, m, &g, GEN_TEXT, &rec, llm_model_name(m), NULL);
        }
    }
    json_decref(o);
    return e;
}

/* ---- embeddings ---- */

static json_t *embedding_value(const float *v, int dim, bool base64)
{
    if (!base64) {
        json_t *a = json_array();
        for (int i = 0; i < dim; i++)
            json_array_append_new(a, json_real(v[i]));
        return a;
    }
    /* little-endian float32, as OpenAI's base64 format */
    size_t raw = (size_t)dim * sizeof(float);
    size_t len = sodium_base64_ENCODED_LEN(raw, sodium_base64_VARIANT_ORIGINAL);
    char *b64 = malloc(len);
    if (!b64)
        return NULL;
    sodium_bin2base64(b64, len, (const unsigned char *)v, raw, sodium_base64_VARIANT_ORIGINAL);
    json_t *s = json_string(b64);
    free(b64);
    return s;
}

enum lair_err api_embeddings(struct http_req *rq)
{
    char msg[256];
    json_t *o;
    enum lair_err e = json_parse_object(http_body(rq), &o, msg, sizeof(msg));
    if (e)
        return http_fail(rq, e, NULL, "invalid_json", "%s", msg);
    struct llm_model *m;
    struct str *texts = NULL;
    float *vec = NULL;
    size_t n = 0;
    bool base64 = false;
    if ((e = find_model(rq, o, LLM_CAN_EMBED, &m)))
        goto out;
    json_t *fmt = json_object_get(o, "encoding_format");
    if (fmt && !json_is_null(fmt)) {
        if (json_is_string(fmt) && !strcmp(json_string_value(fmt), "base64"))
            base64 = true;
        else if (!json_is_string(fmt) || strcmp(json_string_value(fmt), "float") != 0) {
            e = bad(rq, "encoding_format", "'encoding_format' must be 'float' or 'base64'");
            goto out;
        }
    }
    json_t *in = json_object_get(o, "input");
    if (json_is_string(in)) {
        n = 1;
    } else if (json_is_array(in) && json_array_size(in) > 0 &&
               json_array_size(in) <= MAX_EMBED_INPUTS) {
        n = json_array_size(in);
    } else {
        e = bad(rq, "input", "'input' must be a string or an array of 1 to 2048 strings");
        goto out;
    }
    texts = arena_alloc(http_arena(rq), n * sizeof(*texts));
    if (!texts) {
        e = LAIR_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_is_string(in) ? in : json_array_get(in, i);
        if (!json_is_string(s) || json_string_length(s) == 0) {
            e = http_fail(rq, LAIR_EINVAL, "input", "invalid_value",
                          "input[%zu] must be a non-empty string", i);
            goto out;
        }
        texts[i] = (struct str){json_string_value(s), json_string_length(s)};
    }
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    vec = malloc(n * (size_t)info.n_embd * sizeof(float));
    if (!vec) {
        e = LAIR_ENOMEM;
        goto out;
    }
    int n_tokens = 0;
    e = llm_embed(m, texts, n, vec, &n_tokens);
    if (!e)
        api_usage_add(http_app(rq), http_principal(rq), n_tokens);
    if (e) {
        if (e == LAIR_ECTX)
            e = http_fail(rq, e, "input", "context_length_exceeded",
                          "an input is longer than the model's context of %d tokens",
                          info.n_ctx_slot);
        goto out;
    }
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(
            data, json_pack("{s:s, s:I, s:o}", "object", "embedding", "index", (json_int_t)i,
                            "embedding", embedding_value(vec + i * (size_t)info.n_embd,
                                                         info.n_embd, base64)));
    e = respond_json_value(rq, 200,
                           json_pack("{s:s, s:o, s:s, s:{s:i, s:i}}", "object", "list", "data",
                                     data, "model", llm_model_name(m), "usage", "prompt_tokens",
                                     n_tokens, "total_tokens", n_tokens));
out:
    free(vec);
    json_decref(o);
    return e;
}
