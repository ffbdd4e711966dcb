/* Grounded chat on the OpenAI surface: retrieval for a chat request, the
 * sources block in the prompt, and answers that are not generated (refusal,
 * degraded mode). See grounded.h. */
#include "api/grounded.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "core/json.h"
#include "core/log.h"

#include "core/banned.h"

struct llm_model *api_ground_embedder(struct http_req *rq)
{
    struct app *app = http_app(rq);
    if (!__atomic_load_n(&app->ready, __ATOMIC_ACQUIRE))
        return NULL;
    for (size_t i = 0; i < llm_registry_count(app->models); i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        if (info.kind & LLM_CAN_EMBED)
            return m;
    }
    return NULL;
}

enum lair_err api_ground(struct http_req *rq, const struct assistant *a,
                         const struct llm_message *msgs, size_t n, struct llm_model *m,
                         int max_tokens, struct grounding *out)
{
    *out = (struct grounding){0};
    if (a->n_knowledge_bases <= 0)
        return LAIR_OK;
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    e = grounding_prepare(db, a, msgs, n, m, api_ground_embedder(rq), max_tokens, http_arena(rq),
                          out);
    if (e == LAIR_ECTX) {
        grounding_release(out);
        return http_fail(rq, e, "messages", "context_length_exceeded",
                         "the conversation leaves no room in the model's context for the "
                         "knowledge-base sources; shorten the messages or start a new "
                         "conversation");
    }
    if (e) {
        grounding_release(out);
        log_error("grounding", "assistant %s: retrieval failed: %s", a->slug, lair_err_name(e));
        return http_fail(rq, e, NULL, NULL, "searching the assistant's knowledge bases failed");
    }
    return LAIR_OK;
}

enum lair_err api_ground_messages(struct http_req *rq, const struct grounding *g,
                                  const struct llm_message *msgs, size_t n,
                                  struct llm_message **out, size_t *n_out)
{
    *out = (struct llm_message *)msgs;
    *n_out = n;
    if (g->block.len == 0)
        return LAIR_OK;
    struct arena *ar = http_arena(rq);
    size_t sys = n;
    for (size_t i = 0; i < n && sys == n; i++)
        if (str_eq(msgs[i].role, S("system")))
            sys = i;
    struct llm_message *m = arena_alloc(ar, (n + 1) * sizeof(*m));
    if (!m)
        return LAIR_ENOMEM;
    if (sys < n) {
        memcpy(m, msgs, n * sizeof(*m));
        struct str ins = msgs[sys].content;
        char *p = arena_printf(ar, STR_FMT "\n\n" STR_FMT, STR_ARG(ins), STR_ARG(g->block));
        if (!p)
            return LAIR_ENOMEM;
        m[sys].content = (struct str){p, ins.len + 2 + g->block.len};
        *n_out = n;
    } else {
        m[0] = (struct llm_message){S("system"), g->block};
        memcpy(m + 1, msgs, n * sizeof(*m));
        *n_out = n + 1;
    }
    *out = m;
    return LAIR_OK;
}

enum lair_err api_ground_answer_text(struct http_req *rq, const struct grounding *g,
                                     enum api_answer_mode mode, struct str *out)
{
    if (mode == API_ANSWER_REFUSAL) {
        *out = g->refusal;
        return LAIR_OK;
    }
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = grounding_degraded_answer(g, &b);
    char *p = e ? NULL : arena_strndup(http_arena(rq), b.ptr ? b.ptr : "", b.len);
    *out = (struct str){p ? p : "", p ? b.len : 0};
    buf_release(&b);
    return e ? e : p ? LAIR_OK : LAIR_ENOMEM;
}

static const char *mode_name(enum api_answer_mode m)
{
    return m == API_ANSWER_REFUSAL ? "refusal" : "degraded";
}

/* The fields every response object shares; sources and conversation id
 * when first. */
static json_t *base_object(const struct grounding *g, const struct api_fixed_answer *f,
                           const char *object, bool first)
{
    json_t *v =
        json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", f->id, "object", object, "created",
                  (json_int_t)f->created, "model", f->model, "system_fingerprint", "libreair");
    if (v && first) {
        if (g->sources)
            json_object_set(v, "sources", g->sources);
        if (f->conversation_id && *f->conversation_id)
            json_object_set_new(v, "conversation_id", json_string(f->conversation_id));
        json_object_set_new(v, "answer_mode", json_string(mode_name(f->mode)));
    }
    return v;
}

static json_t *zero_usage(void)
{
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", 0, "completion_tokens", 0,
                     "total_tokens", 0, "prompt_tokens_details", "cached_tokens", 0);
}

static enum lair_err sse_append(struct buf *out, json_t *v)
{
    if (!v)
        return LAIR_ENOMEM;
    enum lair_err e = buf_puts(out, "data: ");
    if (!e)
        e = json_dump_buf(v, out);
    if (!e)
        e = buf_puts(out, "\n\n");
    json_decref(v);
    return e;
}

static enum lair_err stream_body(const struct grounding *g, struct str text,
                                 const struct api_fixed_answer *f, struct buf *out)
{
    const char *obj = "chat.completion.chunk";
    json_t *first = base_object(g, f, obj, true);
    json_t *choice =
        json_pack("{s:i, s:{s:s, s:s%}, s:n, s:n}", "index", 0, "delta", "role", "assistant",
                  "content", text.ptr, text.len, "logprobs", "finish_reason");
    if (!first || !choice) {
        json_decref(first);
        json_decref(choice);
        return LAIR_ENOMEM;
    }
    if (json_object_set_new(first, "choices", json_pack("[o]", choice))) {
        json_decref(first);
        return LAIR_ENOMEM;
    }
    enum lair_err e = sse_append(out, first);
    if (e)
        return e;
    json_t *last = base_object(g, f, obj, false);
    if (last)
        json_object_set_new(last, "choices",
                            json_pack("[{s:i, s:{}, s:n, s:s}]", "index", 0, "delta", "logprobs",
                                      "finish_reason", "stop"));
    if ((e = sse_append(out, last)))
        return e;
    if (f->include_usage) {
        json_t *u = base_object(g, f, obj, false);
        if (u) {
            json_object_set_new(u, "choices", json_array());
            json_object_set_new(u, "usage", zero_usage());
        }
        if ((e = sse_append(out, u)))
            return e;
    }
    return buf_puts(out, "data: [DONE]\n\n");
}

enum lair_err api_ground_respond(struct http_req *rq, const struct grounding *g, struct str text,
                                 const struct api_fixed_answer *f)
{
    struct buf body;
    buf_init(&body, 0);
    enum lair_err e;
    if (f->stream) {
        e = stream_body(g, text, f, &body);
        if (!e)
            e = http_respond(rq, 200, "text/event-stream; charset=utf-8", body.ptr, body.len);
    } else {
        json_t *v = base_object(g, f, "chat.completion", true);
        json_t *choices = json_pack("[{s:i, s:{s:s, s:s%, s:n}, s:n, s:s}]", "index", 0, "message",
                                    "role", "assistant", "content", text.ptr, text.len, "refusal",
                                    "logprobs", "finish_reason", "stop");
        if (!v || !choices || json_object_set_new(v, "choices", json_incref(choices)) ||
            json_object_set_new(v, "usage", zero_usage()))
            e = LAIR_ENOMEM;
        else
            e = json_dump_buf(v, &body);
        json_decref(choices);
        json_decref(v);
        if (!e)
            e = http_respond_json(rq, 200, &body);
    }
    buf_release(&body);
    return e;
}
