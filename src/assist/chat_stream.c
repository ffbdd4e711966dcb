/* Reading a chat: the answer's text as the model produces it (or a fixed
 * answer at once), the degraded fallback when the model fails before any
 * text, and the recording that ends every chat — the exchange stored with
 * the assistant's PII policy and the usage counted — whether it ends
 * normally, is cut by the server's drain, or is abandoned by its client.
 * See chat.h. */
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "assist/chat.h"
#include "assist/chat_int.h"

#include "core/banned.h"

/* ---- recording ---- */

static void count_usage(struct chat *c, int tokens)
{
    if (c->ctx.usage)
        c->ctx.usage(c->ctx.usage_arg, &c->who, tokens);
}

/* Stores the exchange and counts the tokens; failures are logged (by
 * chat_conversation_record), never reported to a client who already has
 * the answer. */
static void record_finish(struct chat *c, const struct llm_result *res)
{
    if (res->finish == LLM_FINISH_ERROR || res->finish == LLM_FINISH_CANCELLED)
        return;
    static const char *const modes[] = {[CHAT_GENERATED] = "generated",
                                        [CHAT_REFUSAL] = "refused",
                                        [CHAT_DEGRADED] = "degraded"};
    c->conv.answer_mode = (unsigned)c->mode < sizeof(modes) / sizeof(modes[0]) ? modes[c->mode]
                                                                                 : NULL;
    if (c->keep && c->conv.id[0])
        chat_conversation_record(&c->ctx, &c->who, c->pii, &c->conv,
                                 (struct str){c->question ? c->question : "", c->question_len},
                                 buf_str(&c->answer), res);
    count_usage(c, res->prompt_tokens + res->completion_tokens);
}

/* Counts what the model processed for a chat whose client left before the
 * end: without this a client could stop reading just before each answer
 * ends and never use up its daily quota. Nothing is stored: the exchange
 * was not delivered. */
static void record_abandoned(struct chat *c)
{
    int used = c->stream ? llm_stream_tokens_used(c->stream) : 0;
    if (used > 0)
        count_usage(c, used);
}

static void end(struct chat *c, const struct chat_result *res)
{
    c->ended = true;
    c->end = *res;
    record_finish(c, &res->llm);
}

/* ---- reading ---- */

int chat_fd(struct chat *c)
{
    return c->stream ? llm_stream_fd(c->stream) : -1;
}

/* Moves what the model produced to out, keeping the answer. */
static bool take_stream(struct chat *c, struct buf *out, struct llm_result *res)
{
    size_t from = out->len;
    bool fin = llm_stream_take(c->stream, out, res);
    if (out->len > from)
        buf_append(&c->answer, out->ptr + from, out->len - from);
    return fin;
}

/* The model failed before any text: the assistant's cited excerpts answer
 * instead, as in degraded mode, unless the prompt itself was at fault. */
static bool falls_back(const struct chat *c, const struct llm_result *res)
{
    return res->finish == LLM_FINISH_ERROR && c->answer.len == 0 && c->degraded &&
           res->err != LAIR_ECTX && res->err != LAIR_EINVAL;
}

bool chat_take(struct chat *c, struct buf *out, struct chat_result *res)
{
    if (c->ended) {
        *res = c->end;
        return true;
    }
    *res = (struct chat_result){0};
    if (!c->stream) { /* a fixed answer, whole at once */
        buf_append(out, c->fixed, c->fixed_len);
        buf_append(&c->answer, c->fixed, c->fixed_len);
        res->llm.finish = LLM_FINISH_STOP;
        end(c, res);
        return true;
    }
    if (!take_stream(c, out, &res->llm))
        return false;
    if (falls_back(c, &res->llm)) {
        c->mode = CHAT_DEGRADED;
        buf_append(&c->answer, c->degraded, c->degraded_len);
        res->fallback = (struct str){c->degraded, c->degraded_len};
        res->llm = (struct llm_result){.finish = LLM_FINISH_STOP};
    }
    end(c, res);
    return true;
}

void chat_collect(struct chat *c, struct buf *out, struct chat_result *res)
{
    while (!chat_take(c, out, res)) {
        struct pollfd p = {.fd = chat_fd(c), .events = POLLIN};
        poll(&p, 1, -1); /* EINTR: take again */
    }
    if (res->fallback.len)
        buf_append(out, res->fallback.ptr, res->fallback.len);
}

void chat_cut(struct chat *c, struct buf *out)
{
    if (c->ended)
        return;
    if (!c->stream) {
        struct chat_result res;
        chat_take(c, out, &res);
        return;
    }
    llm_stream_cancel(c->stream);
    struct llm_result res;
    take_stream(c, out, &res);
    struct chat_result cut = {
        .llm = {.finish = LLM_FINISH_LENGTH, .prompt_tokens = llm_stream_tokens_used(c->stream)}};
    end(c, &cut);
}

void chat_free(struct chat *c)
{
    if (!c)
        return;
    if (!c->ended)
        record_abandoned(c);
    llm_stream_free(c->stream); /* cancels if still running: the slot is freed at once */
    buf_release(&c->answer);
    json_decref(c->sources);
    free(c->question);
    free(c->model_name);
    free(c->fixed);
    free(c->degraded);
    free(c);
}

/* ---- what the caller shows ---- */

int chat_queue_position(const struct chat *c)
{
    return c->stream ? llm_queue_position(c->model, c->stream) : 0;
}

enum chat_mode chat_mode(const struct chat *c)
{
    return c->mode;
}

const char *chat_model(const struct chat *c)
{
    return c->model_name;
}

const char *chat_conversation_id(const struct chat *c)
{
    return c->conv.id;
}

json_t *chat_sources(const struct chat *c)
{
    return c->sources;
}

struct str chat_answer(const struct chat *c)
{
    return buf_str(&c->answer);
}
