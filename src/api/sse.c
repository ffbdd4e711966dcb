/* Server-sent events for chat answers: the stream of a generated answer
 * (http_stream_ops over a chat of the pipeline) and the complete body of a
 * fixed one. See sse.h. */
#include "api/sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json.h"

#include "core/banned.h"

/* ---- a generated answer ---- */

struct sse_ctx {
    struct chat *chat; /* OWNED */
    bool text, include_usage, sent_role, sent_first, told_queue;
    char id[48];
    char model[128];
    time_t created;
    struct buf piece; /* what one produce() took */
};

static const char *object_name(const struct sse_ctx *c)
{
    return c->text ? "text_completion" : "chat.completion.chunk";
}

static const char *finish_name(enum llm_finish f)
{
    return f == LLM_FINISH_LENGTH ? "length" : "stop";
}

json_t *api_usage_object(const struct llm_result *r)
{
    return json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", r->prompt_tokens,
                     "completion_tokens", r->completion_tokens, "total_tokens",
                     r->prompt_tokens + r->completion_tokens, "prompt_tokens_details",
                     "cached_tokens", r->cached_tokens);
}

static json_t *chunk_object(struct sse_ctx *c, json_t *choice)
{
    json_t *v = json_pack("{s:s, s:s, s:I, s:s, s:s, s:[o]}", "id", c->id, "object", object_name(c),
                          "created", (json_int_t)c->created, "model", c->model,
                          "system_fingerprint", "libreair", "choices", choice);
    /* the conversation id rides on the first chunk, like the sources */
    const char *conv = chat_conversation_id(c->chat);
    if (v && !c->sent_first && conv[0])
        json_object_set_new(v, "conversation_id", json_string(conv));
    if (v && !c->sent_first && chat_sources(c->chat))
        json_object_set(v, "sources", chat_sources(c->chat));
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
    if (c->text)
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

static enum lair_err text_event(struct sse_ctx *c, struct buf *out, const char *text, size_t len)
{
    return sse_event(out, chunk_object(c, delta_choice(c, text ? text : "", len, NULL)));
}

/* An SSE comment (ignored by clients) saying where a waiting request
 * stands, so that neither the client nor a proxy gives up on a stream that
 * has said nothing yet; false when it is not waiting. */
static bool sse_queue_comment(struct sse_ctx *c, struct buf *out)
{
    int pos = chat_queue_position(c->chat);
    if (pos > 0)
        buf_printf(out, ": queued, position %d\n\n", pos);
    return pos > 0;
}

static int sse_fd(void *p)
{
    return chat_fd(((struct sse_ctx *)p)->chat);
}

static void sse_idle(void *p, struct buf *out)
{
    struct sse_ctx *c = p;
    if (!sse_queue_comment(c, out))
        buf_puts(out, ": keep-alive\n\n");
}

/* The last events: the finish chunk and the usage, or the error. */
static enum lair_err sse_end(struct sse_ctx *c, struct buf *out, const struct llm_result *res)
{
    enum lair_err e = LAIR_OK;
    if (res->finish == LLM_FINISH_ERROR) {
        struct buf err;
        buf_init(&err, 0);
        http_error_json(res->err, NULL, NULL, NULL, &err);
        buf_printf(out, "data: %s\n\n", err.ptr);
        buf_release(&err);
    } else {
        e = sse_event(out, chunk_object(c, delta_choice(c, "", 0, finish_name(res->finish))));
        if (!e && c->include_usage) {
            json_t *u = json_pack("{s:s, s:s, s:I, s:s, s:[], s:o}", "id", c->id, "object",
                                  object_name(c), "created", (json_int_t)c->created, "model",
                                  c->model, "choices", "usage", api_usage_object(res));
            e = sse_event(out, u);
        }
    }
    buf_puts(out, "data: [DONE]\n\n");
    return e;
}

static enum lair_err sse_produce(void *p, struct buf *out, bool *done)
{
    struct sse_ctx *c = p;
    struct chat_result res;
    buf_reset(&c->piece);
    bool fin = chat_take(c->chat, &c->piece, &res);
    enum lair_err e = LAIR_OK;
    if (c->piece.len || (!c->sent_role && !c->text))
        e = text_event(c, out, c->piece.ptr, c->piece.len);
    if (!e && !fin && !c->told_queue) {
        c->told_queue = true;
        sse_queue_comment(c, out);
    }
    if (e || !fin)
        return e;
    /* the model failed before any text: the assistant's cited excerpts
     * answer, as in degraded mode (res.llm then says stop) */
    if (res.fallback.len)
        e = text_event(c, out, res.fallback.ptr, res.fallback.len);
    enum lair_err e2 = sse_end(c, out, &res.llm);
    *done = true;
    return e ? e : e2;
}

/* The server is shutting down and the stream ran past the grace period:
 * what was generated is sent, then an error event and [DONE], so that the
 * client knows the answer was cut; the exchange is stored as it stands. */
static void sse_abort(void *p, struct buf *out)
{
    struct sse_ctx *c = p;
    buf_reset(&c->piece);
    chat_cut(c->chat, &c->piece);
    if (c->piece.len)
        text_event(c, out, c->piece.ptr, c->piece.len);
    struct buf err;
    buf_init(&err, 0);
    http_error_json(LAIR_EBUSY, "the server is shutting down: this answer was cut short", NULL,
                    "shutting_down", &err);
    buf_printf(out, "data: %s\n\ndata: [DONE]\n\n", err.ptr);
    buf_release(&err);
}

static void sse_release(void *p, bool client_gone)
{
    struct sse_ctx *c = p;
    chat_free(c->chat); /* an unfinished chat is cancelled and charged: its slot is freed */
    buf_release(&c->piece);
    free(c);
}

static const struct http_stream_ops sse_ops = {
    .fd = sse_fd,
    .produce = sse_produce,
    .release = sse_release,
    .idle = sse_idle,
    .abort = sse_abort,
};

enum lair_err api_sse_stream(struct http_req *rq, struct chat *chat, const struct api_sse_opts *o)
{
    struct sse_ctx *c = calloc(1, sizeof(*c));
    if (!c) {
        chat_free(chat);
        return LAIR_ENOMEM;
    }
    c->chat = chat;
    c->text = o->text;
    c->include_usage = o->include_usage;
    c->created = o->created;
    snprintf(c->id, sizeof(c->id), "%s", o->id);
    snprintf(c->model, sizeof(c->model), "%s", chat_model(chat));
    buf_init(&c->piece, 0);
    return http_respond_stream(rq, "text/event-stream; charset=utf-8", &sse_ops, c);
}

/* ---- a fixed answer ---- */

json_t *api_fixed_head(const struct chat *c, const char *id, time_t created, const char *object,
                       bool first)
{
    json_t *v =
        json_pack("{s:s, s:s, s:I, s:s, s:s}", "id", id, "object", object, "created",
                  (json_int_t)created, "model", chat_model(c), "system_fingerprint", "libreair");
    if (v && first) {
        if (chat_sources(c))
            json_object_set(v, "sources", chat_sources(c));
        if (chat_conversation_id(c)[0])
            json_object_set_new(v, "conversation_id", json_string(chat_conversation_id(c)));
        json_object_set_new(v, "answer_mode",
                            json_string(chat_mode(c) == CHAT_REFUSAL ? "refusal" : "degraded"));
    }
    return v;
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

/* The first chunk: the role and the whole text, with the head's extras. */
static json_t *fixed_first(const struct chat *c, struct str text, const struct api_sse_opts *o)
{
    json_t *first = api_fixed_head(c, o->id, o->created, "chat.completion.chunk", true);
    json_t *choice =
        json_pack("{s:i, s:{s:s, s:s%}, s:n, s:n}", "index", 0, "delta", "role", "assistant",
                  "content", text.ptr, text.len, "logprobs", "finish_reason");
    if (!first || !choice || json_object_set_new(first, "choices", json_pack("[o]", choice))) {
        json_decref(first);
        if (!first)
            json_decref(choice);
        return NULL;
    }
    return first;
}

static enum lair_err fixed_body(const struct chat *c, struct str text, const struct api_sse_opts *o,
                                struct buf *out)
{
    const char *obj = "chat.completion.chunk";
    enum lair_err e = sse_append(out, fixed_first(c, text, o));
    if (e)
        return e;
    json_t *last = api_fixed_head(c, o->id, o->created, obj, false);
    if (last)
        json_object_set_new(last, "choices",
                            json_pack("[{s:i, s:{}, s:n, s:s}]", "index", 0, "delta", "logprobs",
                                      "finish_reason", "stop"));
    if ((e = sse_append(out, last)))
        return e;
    if (o->include_usage) {
        json_t *u = api_fixed_head(c, o->id, o->created, obj, false);
        if (u) {
            json_object_set_new(u, "choices", json_array());
            json_object_set_new(u, "usage", api_usage_object(&(struct llm_result){0}));
        }
        if ((e = sse_append(out, u)))
            return e;
    }
    return buf_puts(out, "data: [DONE]\n\n");
}

enum lair_err api_sse_fixed(struct http_req *rq, const struct chat *c, struct str text,
                            const struct api_sse_opts *o)
{
    struct buf body;
    buf_init(&body, 0);
    enum lair_err e = fixed_body(c, text, o, &body);
    if (!e)
        e = http_respond(rq, 200, "text/event-stream; charset=utf-8", body.ptr, body.len);
    buf_release(&body);
    return e;
}
