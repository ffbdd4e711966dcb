/* Server-sent events for the OpenAI surface: a chat's answer streamed as
 * it is generated (chat.completion.chunk, or text_completion for
 * /v1/completions), and the whole SSE body of a fixed answer (refusal,
 * degraded mode). The JSON form of answers is openai.c's. */
#ifndef LAIR_API_SSE_H
#define LAIR_API_SSE_H

#include <jansson.h>
#include <stdbool.h>
#include <time.h>

#include "assist/chat.h"
#include "http/http.h"

struct api_sse_opts {
    const char *id; /* the response's id: "chatcmpl-…", "cmpl-…" */
    time_t created;
    bool text;          /* a text completion: "text_completion" objects with "text" */
    bool include_usage; /* a last chunk with the usage, before [DONE] */
};

/* Streams c's answer on rq: a first chunk with the role (and, on it,
 * "conversation_id" and "sources"), a chunk per piece of text, the finish
 * chunk, the usage chunk when asked, then "data: [DONE]". While the
 * request waits for the model, SSE comments say so (": queued, position
 * N", then ": keep-alive" every HTTP_STREAM_IDLE_MS of silence). A model
 * that fails before any text gives the degraded answer (chat_take's
 * fallback) when the assistant has sources, else an error event; the
 * server's drain ends the stream with what was generated, an error event
 * "shutting_down" and [DONE], and the exchange stored (chat_cut). Takes c
 * over: freed when the response ends, in every case. */
enum lair_err api_sse_stream(struct http_req *rq, struct chat *c, const struct api_sse_opts *o);

/* Answers rq with text, c's fixed answer, as a complete SSE body: a first
 * chunk with the role, the text, "sources", "conversation_id" and
 * "answer_mode", then the finish chunk, the usage chunk (zero) when asked,
 * and [DONE]. */
enum lair_err api_sse_fixed(struct http_req *rq, const struct chat *c, struct str text,
                            const struct api_sse_opts *o);

/* The fields every object of a fixed answer has (id, object, created,
 * model, system_fingerprint) and, when first, "sources",
 * "conversation_id" and "answer_mode" ("refusal" or "degraded"). OWNED;
 * NULL when out of memory. */
json_t *api_fixed_head(const struct chat *c, const char *id, time_t created, const char *object,
                       bool first);

/* The "usage" object of a response: prompt, completion and total tokens,
 * and the cached ones (zero for a fixed answer). OWNED; NULL when out of
 * memory. */
json_t *api_usage_object(const struct llm_result *r);

#endif
