/* The OpenAI-compatible surface: /v1/models, /v1/chat/completions,
 * /v1/completions and /v1/embeddings, with and without streaming.
 *
 * The chat handlers are thin: JSON into a struct chat_request, the chat
 * pipeline (assist/chat.h) runs it, and its chat comes back out as JSON
 * here or as server-sent events (api/sse.c). docs/internals/assist.md
 * walks through one request.
 *
 * Requests are validated strictly on the fields we use (type and range, with
 * the field named in the error) and leniently on the others, because real
 * clients send many optional fields we have no use for. */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/assistants_api.h"
#include "api/conversations_api.h"
#include "api/sse.h"
#include "assist/chat.h"
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

/* The raw model called name, where the caller may use it: the operator
 * any, a tenant's key those the server lets tenants call (--tenant-raw-models)
 * among those the operator allows its tenant (allowed_models). */
static struct llm_model *raw_model(struct http_req *rq, struct str name)
{
    struct app *app = http_app(rq);
    const struct principal *p = http_principal(rq);
    if (!may_use_raw(rq))
        return NULL;
    if (p->role != ROLE_OPERATOR && p->tenant[0]) {
        struct tenant_row row;
        if (sysdb_tenant_get(app->sys, p->tenant, &row) ||
            !tenant_model_allowed(row.allowed_models, name))
            return NULL;
    }
    return llm_registry_find(app->models, name);
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
        for (size_t i = 0; i < llm_registry_count(app->models); i++) {
            struct llm_model *m = llm_registry_at(app->models, i);
            if (raw_model(rq, str_c(llm_model_name(m))) == m)
                json_array_append_new(data, model_object(app, m));
        }
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
    struct llm_model *m = raw_model(rq, name);
    if (!m)
        return model_not_found(rq, name);
    return respond_json_value(rq, 200, model_object(app, m));
}

/* ---- shared request parsing ---- */

/* A request of either completion endpoint, as the pipeline takes it, and
 * how its answer is written back. */
struct gen_params {
    struct chat_request req;
    struct str stop[MAX_STOP];
    bool stream, include_usage;
};

/* The request's "model" field; empty when it is not a string (the
 * pipeline then refuses it with 400 on param "model"). */
static struct str model_field(json_t *o)
{
    json_t *mv = json_object_get(o, "model");
    if (!json_is_string(mv))
        return (struct str){"", 0};
    return (struct str){json_string_value(mv), json_string_length(mv)};
}

/* What the target's resolution needs: who asks for what. */
static void gen_init(struct http_req *rq, json_t *o, bool completion, struct gen_params *g)
{
    memset(g, 0, sizeof(*g));
    chat_request_init(&g->req);
    g->req.who = http_principal(rq);
    g->req.target = model_field(o);
    g->req.completion = completion;
    g->req.max_tokens = -1;
    g->req.arena = http_arena(rq);
}

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

/* Reads the sampling and length fields common to both completion endpoints
 * into g (prepared by gen_init). */
static enum lair_err parse_gen(struct http_req *rq, json_t *o, struct gen_params *g)
{
    char msg[256];
    enum lair_err e;
    double temperature = 1.0, top_p = 1.0, min_p = 0.0, rep = 1.0, freq = 0, pres = 0;
    long long top_k = 0, max_tokens = -1, seed = 0, n = 1;
    bool has_seed = json_object_get(o, "seed") && !json_is_null(json_object_get(o, "seed"));
    struct chat_request *r = &g->req;

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
    CHECK(json_opt_bool(o, "ignore_eos", &r->ignore_eos, msg, sizeof(msg)), "ignore_eos");
    CHECK(json_opt_string(o, "user", &r->user, msg, sizeof(msg)), "user");
    CHECK(json_opt_string(o, "conversation_id", &r->conversation_id, msg, sizeof(msg)),
          "conversation_id");
#undef CHECK
    if (http_via_session(rq)) {
        /* a person signed in: their conversations carry their subject id,
         * "member:<id>", whatever "user" says (GDPR export and erasure by
         * person, docs/oidc.md) */
        char *subject = arena_alloc(http_arena(rq), MEMBER_ID_LEN + 8);
        if (!subject)
            return LAIR_ENOMEM;
        snprintf(subject, MEMBER_ID_LEN + 8, "member:%s", http_principal(rq)->key_id);
        r->user = str_c(subject);
    }
    json_t *tv = json_object_get(o, "temperature"), *pv = json_object_get(o, "top_p");
    r->has_temperature = tv && !json_is_null(tv);
    r->has_top_p = pv && !json_is_null(pv);
    json_t *so = json_object_get(o, "stream_options");
    if (so && !json_is_null(so)) {
        if (!json_is_object(so))
            return bad(rq, "stream_options", "'stream_options' must be an object");
        if (json_opt_bool(so, "include_usage", &g->include_usage, msg, sizeof(msg)))
            return bad(rq, "stream_options.include_usage", msg);
    }
    json_t *stop = json_object_get(o, "stop");
    if (json_is_string(stop)) {
        g->stop[r->n_stop++] = (struct str){json_string_value(stop), json_string_length(stop)};
    } else if (json_is_array(stop)) {
        if (json_array_size(stop) > MAX_STOP)
            return bad(rq, "stop", "'stop' takes at most 4 strings");
        size_t i;
        json_t *s;
        json_array_foreach(stop, i, s)
        {
            if (!json_is_string(s))
                return bad(rq, "stop", "'stop' must be a string or an array of strings");
            g->stop[r->n_stop++] = (struct str){json_string_value(s), json_string_length(s)};
        }
    } else if (stop && !json_is_null(stop)) {
        return bad(rq, "stop", "'stop' must be a string or an array of strings");
    }
    for (size_t i = 0; i < r->n_stop; i++)
        if (g->stop[i].len == 0 || g->stop[i].len > 256)
            return bad(rq, "stop", "each stop string must have 1 to 256 bytes");
    r->stop = g->stop;
    r->max_tokens = (int)max_tokens;
    struct llm_sampling *s = &r->sampling;
    s->temperature = (float)temperature;
    s->top_p = (float)top_p;
    s->top_k = (int)top_k;
    s->min_p = (float)min_p;
    s->repeat_penalty = (float)rep;
    s->frequency_penalty = (float)freq;
    s->presence_penalty = (float)pres;
    s->has_seed = has_seed;
    s->seed = (uint64_t)seed;
    return LAIR_OK;
}

/* The embedding model the request names (raw models only). */
static enum lair_err find_embedder(struct http_req *rq, json_t *o, struct llm_model **m)
{
    struct str name = model_field(o);
    if (name.len == 0)
        return http_fail(rq, LAIR_EINVAL, "model", "invalid_value",
                         "'model' is required and must be a non-empty string");
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    *m = raw_model(rq, name);
    if (!*m)
        return model_not_found(rq, name);
    struct llm_model_info info;
    llm_model_get_info(*m, &info);
    if (!(info.kind & LLM_CAN_EMBED))
        return http_fail(rq, LAIR_EINVAL, "model", "model_not_supported",
                         "the model '%s' cannot produce embeddings", llm_model_name(*m));
    return LAIR_OK;
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

/* ---- the chat pipeline over HTTP ---- */

static void count_usage(void *app, const struct principal *p, int tokens)
{
    api_usage_add(app, p, tokens);
}

void api_chat_ctx(struct app *app, struct chat_ctx *out)
{
    *out = (struct chat_ctx){.tenants = app->tenants,
                             .models = app->models,
                             .ready = &app->ready,
                             .tenant_raw_models = app->tenant_raw_models,
                             .sys = app->sys,
                             .usage = count_usage,
                             .usage_arg = app};
}

enum lair_err api_chat_fail(struct http_req *rq, enum lair_err e, const struct chat_error *err)
{
    if (err->retry_after > 0)
        http_retry_after(rq, err->retry_after);
    if (err->message[0])
        return http_fail(rq, e, err->param, err->code, "%s", err->message);
    return e;
}

static void make_id(char *out, size_t n, const char *prefix)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    size_t p = (size_t)snprintf(out, n, "%s", prefix);
    for (; p + 1 < n && p < strlen(prefix) + 24; p++)
        out[p] = alphabet[randombytes_uniform(sizeof(alphabet) - 1)];
    out[p] = 0;
}

/* The chat.completion object of a fixed answer (refusal, degraded): the
 * text as the assistant's whole message, "answer_mode", zero usage. */
static enum lair_err fixed_json(struct http_req *rq, const struct chat *c, struct str text,
                                const struct api_sse_opts *so)
{
    struct buf body;
    buf_init(&body, 0);
    enum lair_err e;
    json_t *v = api_fixed_head(c, so->id, so->created, "chat.completion", true);
    json_t *choices = json_pack("[{s:i, s:{s:s, s:s%, s:n}, s:n, s:s}]", "index", 0, "message",
                                "role", "assistant", "content", text.ptr, text.len, "refusal",
                                "logprobs", "finish_reason", "stop");
    if (!v || !choices || json_object_set_new(v, "choices", json_incref(choices)) ||
        json_object_set_new(v, "usage", api_usage_object(&(struct llm_result){0})))
        e = LAIR_ENOMEM;
    else
        e = json_dump_buf(v, &body);
    json_decref(choices);
    json_decref(v);
    if (!e)
        e = http_respond_json(rq, 200, &body);
    buf_release(&body);
    return e;
}

/* Answers a chat that did not generate: the refusal, or the degraded
 * answer (the best cited excerpts), recorded like a generated answer.
 * Frees c. */
static enum lair_err respond_fixed(struct http_req *rq, struct chat *c, bool stream,
                                   const struct api_sse_opts *so)
{
    struct buf text;
    struct chat_result res;
    buf_init(&text, 0);
    chat_take(c, &text, &res);
    enum lair_err e =
        stream ? api_sse_fixed(rq, c, buf_str(&text), so) : fixed_json(rq, c, buf_str(&text), so);
    buf_release(&text);
    chat_free(c);
    return e;
}

/* Waits for c's end as long as the client stays and the server's drain
 * allows: 1 when it ended (*res), else what http_wait said (0: the client
 * left, -1: the drain ran out of time). */
static int wait_end(struct http_req *rq, struct chat *c, struct chat_result *res)
{
    struct buf piece;
    buf_init(&piece, 0);
    int w = 1;
    for (;;) {
        buf_reset(&piece);
        if (chat_take(c, &piece, res) || (w = http_wait(rq, chat_fd(c))) <= 0)
            break;
    }
    buf_release(&piece);
    return w;
}

static const char *finish_name(enum llm_finish f)
{
    return f == LLM_FINISH_LENGTH ? "length" : "stop";
}

/* The chat.completion (or text_completion) object of a generated answer. */
static json_t *whole_object(const struct chat *c, const struct api_sse_opts *so,
                            const struct llm_result *res)
{
    struct str text = chat_answer(c);
    json_t *content = json_stringn(text.ptr, text.len);
    json_t *choice = !so->text
                         ? json_pack("{s:i, s:{s:s, s:o, s:n}, s:n, s:s}", "index", 0, "message",
                                     "role", "assistant", "content", content, "refusal", "logprobs",
                                     "finish_reason", finish_name(res->finish))
                         : json_pack("{s:i, s:o, s:n, s:s}", "index", 0, "text", content,
                                     "logprobs", "finish_reason", finish_name(res->finish));
    json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o], s:o}", "id", so->id, "object",
                          so->text ? "text_completion" : "chat.completion", "created",
                          (json_int_t)so->created, "model", chat_model(c), "system_fingerprint",
                          "libreair", "choices", choice, "usage", api_usage_object(res));
    if (v && chat_conversation_id(c)[0])
        json_object_set_new(v, "conversation_id", json_string(chat_conversation_id(c)));
    if (v && chat_sources(c))
        json_object_set(v, "sources", chat_sources(c));
    return v;
}

/* Answers a generated chat as one JSON object once it has ended. Frees c. */
static enum lair_err respond_whole(struct http_req *rq, struct chat *c,
                                   const struct api_sse_opts *so)
{
    struct chat_result res;
    int w = wait_end(rq, c, &res);
    if (w <= 0) { /* client gone, or the server going: the slot is freed now */
        chat_free(c);
        if (w < 0) {
            http_retry_after(rq, 5);
            return http_fail(rq, LAIR_EBUSY, NULL, "shutting_down",
                             "the server is shutting down; retry shortly");
        }
        return http_fail(rq, LAIR_ECANCEL, NULL, NULL, "client disconnected");
    }
    if (res.fallback.len) { /* nothing generated (every upstream failed): the excerpts answer */
        char id[48];
        make_id(id, sizeof(id), "chatcmpl-");
        struct api_sse_opts f = {.id = id, .created = time(NULL)};
        enum lair_err e = fixed_json(rq, c, res.fallback, &f);
        chat_free(c);
        return e;
    }
    if (res.llm.finish == LLM_FINISH_ERROR) {
        struct chat_error err;
        chat_generation_error(c, res.llm.err, &err);
        chat_free(c);
        return api_chat_fail(rq, res.llm.err, &err);
    }
    json_t *v = whole_object(c, so, &res.llm);
    chat_free(c);
    return api_respond_json(rq, 200, v);
}

enum lair_err api_chat_answer(struct http_req *rq, const struct chat_request *req,
                              struct chat_target *t, const struct api_answer_opts *o)
{
    struct chat_ctx ctx;
    api_chat_ctx(http_app(rq), &ctx);
    struct chat *c;
    struct chat_error err;
    enum lair_err e = t ? chat_start(&ctx, req, t, &c, &err) : chat_run(&ctx, req, &c, &err);
    if (e)
        return api_chat_fail(rq, e, &err);
    char id[48];
    make_id(id, sizeof(id), req->completion ? "cmpl-" : "chatcmpl-");
    struct api_sse_opts so = {.id = id,
                              .created = time(NULL),
                              .text = req->completion,
                              .include_usage = o->include_usage};
    if (chat_mode(c) != CHAT_GENERATED)
        return respond_fixed(rq, c, o->stream, &so);
    if (o->stream)
        return api_sse_stream(rq, c, &so);
    return respond_whole(rq, c, &so);
}

/* ---- completion endpoints ---- */

/* model = an assistant of the caller's tenant (published version), else,
 * where allowed, a raw model; resolved before the rest of the body is
 * read, so that an unknown model is what a request hears first. */
/* LibreAIr's extension: "assistant_version": "draft" or N lets an editor
 * try the draft, or an earlier version, of an assistant before citizens see
 * it (chat_resolve checks the role). Read before the target is resolved. */
static enum lair_err parse_version(struct http_req *rq, json_t *o, struct chat_request *r)
{
    json_t *av = json_object_get(o, "assistant_version");
    if (!av || json_is_null(av))
        return LAIR_OK;
    if (json_is_string(av) && !strcmp(json_string_value(av), "draft"))
        r->version = CHAT_DRAFT;
    else if (json_is_integer(av) && json_integer_value(av) >= 1 &&
             json_integer_value(av) <= 1 << 30)
        r->version = (int)json_integer_value(av);
    else
        return bad(rq, "assistant_version",
                   "'assistant_version' is \"draft\" or a version number (1 or more)");
    return LAIR_OK;
}

enum lair_err api_chat_completions(struct http_req *rq)
{
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    struct chat_ctx ctx;
    api_chat_ctx(http_app(rq), &ctx);
    struct gen_params g;
    gen_init(rq, o, false, &g);
    struct chat_target t;
    struct chat_error err;
    struct llm_message *msgs = NULL;
    size_t n = 0;
    if ((e = parse_version(rq, o, &g.req))) {
        /* answered */
    } else if ((e = chat_resolve(&ctx, &g.req, &t, &err))) {
        e = api_chat_fail(rq, e, &err);
    } else if ((e = parse_gen(rq, o, &g)) || (e = parse_messages(rq, o, &msgs, &n))) {
        chat_target_release(&t);
    } else {
        g.req.messages = msgs;
        g.req.n_messages = n;
        struct api_answer_opts ao = {.stream = g.stream, .include_usage = g.include_usage};
        e = api_chat_answer(rq, &g.req, &t, &ao);
    }
    json_decref(o);
    return e;
}

/* The prompt: a string, or an array of one string. */
static enum lair_err parse_prompt(struct http_req *rq, json_t *o, struct str *out)
{
    json_t *p = json_object_get(o, "prompt");
    if (json_is_array(p) && json_array_size(p) == 1)
        p = json_array_get(p, 0);
    if (!json_is_string(p))
        return http_fail(rq, LAIR_EINVAL, "prompt", "invalid_value",
                         "'prompt' must be a string (or an array of one string)");
    *out = (struct str){json_string_value(p), json_string_length(p)};
    return LAIR_OK;
}

enum lair_err api_completions(struct http_req *rq)
{
    char msg[256];
    json_t *o;
    enum lair_err e = json_parse_object(http_body(rq), &o, msg, sizeof(msg));
    if (e)
        return http_fail(rq, e, NULL, "invalid_json", "%s", msg);
    struct chat_ctx ctx;
    api_chat_ctx(http_app(rq), &ctx);
    struct gen_params g;
    gen_init(rq, o, true, &g);
    struct chat_target t;
    struct chat_error err;
    if ((e = chat_resolve(&ctx, &g.req, &t, &err))) {
        e = api_chat_fail(rq, e, &err);
    } else if ((e = parse_gen(rq, o, &g)) || (e = parse_prompt(rq, o, &g.req.prompt))) {
        chat_target_release(&t);
    } else {
        struct api_answer_opts ao = {.stream = g.stream, .include_usage = g.include_usage};
        e = api_chat_answer(rq, &g.req, &t, &ao);
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
    struct llm_model *m = NULL;
    struct str *texts = NULL;
    float *vec = NULL;
    size_t n = 0;
    bool base64 = false;
    if ((e = find_embedder(rq, o, &m)))
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
