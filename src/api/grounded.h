/* Grounded chat on the OpenAI surface: what api_chat_completions (openai.c)
 * calls for an assistant with knowledge bases, once it has resolved the
 * assistant and built the prompt's messages.
 *
 * The flow of one chat request to such an assistant:
 *   api_ground(rq, &a, all, n_all, m, max_tokens, &g)
 *       -> g.block (the sources, to go into the system message with
 *          api_ground_messages), g.sources (the response's "sources"),
 *          g.refuse (answer with g.refusal, generate nothing);
 *   then either generation as usual, with g.sources put top-level in the
 *   response (on the first chunk of a stream), or a fixed answer written
 *   by api_ground_respond: the refusal, or the degraded answer
 *   (grounding_degraded_answer) when there is no model to generate with
 *   (not loaded, failing, or its queue full).
 * docs/grounding.md describes the whole path. */
#ifndef LAIR_API_GROUNDED_H
#define LAIR_API_GROUNDED_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "api/app.h"
#include "assist/assistant.h"
#include "assist/grounding.h"

/* Retrieval for the request rq (a tenant key) to assistant a. msgs[0..n) are
 * the prompt's messages (instructions, history, request turns) whose tokens
 * count against the context budget; m the generation model (NULL when none
 * can generate: every source found is kept for a degraded answer);
 * max_tokens the answer's limit (<= 0: none). OUT: *out (release with
 * grounding_release), parts in the request's arena. An assistant without
 * knowledge bases gives out->active == false. Errors are recorded with
 * http_fail: LAIR_ECTX (400 context_length_exceeded) when sources were
 * found but the conversation leaves no room for them. */
enum lair_err api_ground(struct http_req *rq, const struct assistant *a,
                         const struct llm_message *msgs, size_t n, struct llm_model *m,
                         int max_tokens, struct grounding *out);

/* The embedding model searches use: the first loaded model that can embed,
 * the one ingestion embeds chunks with (src/rag/ingest.h); NULL when there
 * is none (or models are still loading): search is lexical only. A base
 * whose vectors another model made is searched lexically (search.h).
 * BORROWED. For api_ground and the search API, so that both search alike;
 * it reads no database. */
struct llm_model *api_ground_embedder(struct http_req *rq);

/* The prompt's messages with the sources block: appended (after a blank
 * line) to the first system message (the assistant's instructions), or
 * as a system message of its own in front when there is none. One system
 * message, because several chat templates accept only one. msgs is not
 * changed. OUT: *out (ARENA: the request's), *n_out; the same array as msgs
 * when the block is empty. */
enum lair_err api_ground_messages(struct http_req *rq, const struct grounding *g,
                                  const struct llm_message *msgs, size_t n,
                                  struct llm_message **out, size_t *n_out);

enum api_answer_mode { API_ANSWER_REFUSAL, API_ANSWER_DEGRADED };

/* What the response of a fixed (not generated) answer shows. */
struct api_fixed_answer {
    const char *id; /* "chatcmpl-…" */
    time_t created;
    const char *model;           /* the model shown: the assistant's slug */
    const char *conversation_id; /* "" when none */
    bool stream, include_usage;
    enum api_answer_mode mode;
};

/* Answers rq with text as the assistant's whole message, without a model:
 * a chat.completion object, or, when stream, a complete SSE body (a first
 * chunk with the role, the text, "sources" and "conversation_id", then the
 * finish chunk, the usage chunk when asked, and [DONE]). The response also
 * carries "answer_mode": "refusal" or "degraded". Usage is zero: nothing
 * was generated. */
enum lair_err api_ground_respond(struct http_req *rq, const struct grounding *g, struct str text,
                                 const struct api_fixed_answer *f);

/* The text of the fixed answer for g in mode: the refusal, or the degraded
 * answer. OUT: *out (ARENA: the request's). */
enum lair_err api_ground_answer_text(struct http_req *rq, const struct grounding *g,
                                     enum api_answer_mode mode, struct str *out);

#endif
