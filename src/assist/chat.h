/* The chat pipeline: one request to an assistant (or a raw model), from the
 * caller's principal to the answer's text and its recording, without HTTP.
 * The OpenAI handler, the public widget, `libreair chat --tenant` and the
 * evaluation runner call the same code (DESIGN.md: "a request is
 * authenticated, resolved to an assistant, enriched by retrieval, scheduled
 * on a model, streamed back, then recorded").
 *
 *   chat_resolve   the target: the assistant's published version (or the
 *                  draft, or version N), and its model; or a raw model
 *   chat_start     conversation (history) -> the prompt's messages ->
 *                  grounding (retrieval, packing, refusal, degraded mode) ->
 *                  cache key and privacy filter -> llm_submit
 *   chat_run       both
 *   chat_take      the answer's text as it comes (chat_stream.c), then the
 *                  recording: the conversation (with the PII policy) and
 *                  the usage
 *   chat_cut       the server's drain: what was generated is kept and stored
 *   chat_free      a chat abandoned before its end is charged what the model
 *                  did
 *
 * Errors come back as a code (its HTTP status is lair_err_status) with a
 * struct chat_error that says what the client sees: the API turns the two
 * into the OpenAI error shape. docs/internals/assist.md walks through one
 * request in file order. */
#ifndef LAIR_ASSIST_CHAT_H
#define LAIR_ASSIST_CHAT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "assist/assistant.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "llm/llm.h"
#include "store/conversations.h"
#include "store/system.h"
#include "store/tenant.h"

struct chat;

/* What the pipeline needs from the application. BORROWED for as long as
 * any chat made with it lives (the end of a stream records through it). */
struct chat_ctx {
    struct tenants *tenants;     /* the tenants' databases */
    struct llm_registry *models; /* the models the server serves */
    const int *ready;            /* non-zero (read atomically) once every configured model is
                                    loaded; NULL: ready */
    bool tenant_raw_models;      /* tenant keys may call raw models by name */
    struct sysdb *sys; /* the tenants' settings (allowed models); NULL: no restriction */
    /* Counts one request and tokens against p's quotas (the API's
     * api_usage_add); NULL: nothing is counted. Called from the thread that
     * ends the chat. */
    void (*usage)(void *arg, const struct principal *p, int tokens);
    void *usage_arg;
};

/* Versions a request may address (chat_request.version); > 0 is that
 * version. Other than the published one, for editor and admin keys only. */
#define CHAT_PUBLISHED 0
#define CHAT_DRAFT (-1)

struct chat_request {
    const struct principal *who; /* BORROWED: whose request (the key, the widget's principal) */
    struct str target;           /* an assistant slug of who's tenant, or a raw model's name */
    int version;                 /* CHAT_PUBLISHED (default), CHAT_DRAFT or a version number */
    bool completion;   /* a raw text completion of prompt (raw models only): no assistant, no
                          conversation, never sent to the remote zone */
    struct str prompt; /* BORROWED: the completion's text */
    const struct llm_message *messages; /* BORROWED: the request's turns ("system" messages are
                                           dropped for an assistant: its instructions rule) */
    size_t n_messages;
    struct llm_sampling sampling;    /* chat_request_init's defaults, then the client's values */
    bool has_temperature, has_top_p; /* the client set them (an assistant's values cap them) */
    int max_tokens;                  /* <= 0: none (an assistant's max_tokens caps it) */
    const struct str *stop;          /* BORROWED */
    size_t n_stop;
    bool ignore_eos;
    struct str user;            /* the subject (OpenAI "user"); empty: none */
    struct str conversation_id; /* continue this conversation; empty: a new one */
    bool ephemeral;             /* store no conversation (evaluation runs, the CLI): a
                                   conversation_id is read for its history, left unchanged */
    struct arena *arena;        /* BORROWED scratch for chat_start (the HTTP request's); NULL:
                                   the pipeline's own */
};

/* Zeroes r and sets the sampling defaults (llm_sampling_defaults). */
void chat_request_init(struct chat_request *r);

/* A request the server makes for itself (an evaluation's judge, the
 * generator's phrasing): chat_request_init, then who, the model target, the
 * messages, at most max_tokens, greedy (temperature 0) with seed 1 so that
 * it is reproducible, and ephemeral (no conversation stored). */
void chat_request_fixed(struct chat_request *r, const struct principal *who, struct str target,
                        const struct llm_message *messages, size_t n, int max_tokens);

/* Why a request was refused, as the client is to read it. */
struct chat_error {
    const char *param; /* static: the request field at fault; NULL */
    const char *code;  /* static: machine-readable code ("model_not_found"); NULL */
    int retry_after;   /* seconds the client should wait (429, 503); 0: none */
    char message[512]; /* "": lair_err_msg of the code */
};

/* What a request addresses, resolved. */
struct chat_target {
    bool is_assistant;
    struct assistant assistant; /* OWNED when is_assistant */
    struct llm_model *model;    /* BORROWED; NULL: the assistant's model is not loaded and its
                                   knowledge bases answer (degraded mode) */
};

/* Resolves req->target for req->who: an assistant of who's tenant (the
 * key's assistant restriction applies; unknown, unpublished and forbidden
 * all answer 404 model_not_found), else, for the operator, for tenants
 * allowed raw models and for completions, a raw model. Errors: LAIR_EINVAL
 * (param "model": empty, or an embedding model), LAIR_ENOTFOUND
 * (model_not_found; version_not_found), LAIR_EBUSY (models_loading,
 * model_unavailable, with retry_after), LAIR_EAUTH (the tenant is gone),
 * LAIR_EINTERNAL (a stored assistant is unreadable). OUT: *out (release
 * with chat_target_release), *err on error. */
enum lair_err chat_resolve(const struct chat_ctx *ctx, const struct chat_request *req,
                           struct chat_target *out, struct chat_error *err);
void chat_target_release(struct chat_target *t);

/* Runs the request to t (taken over: released in every case) up to the
 * model's first token: the conversation, the prompt, grounding, the cache
 * key and the privacy filter, llm_submit. A refusal (citations required,
 * nothing found) and a degraded answer (no model, or the model refused the
 * request) are chats too, whose text is there at once. Errors: LAIR_EUNPROC
 * ("user" or "model" too long for a conversation), LAIR_ENOTFOUND
 * (conversation_not_found), LAIR_ECTX (context_length_exceeded), LAIR_EBUSY
 * (server_busy), LAIR_EINVAL (the chat template), LAIR_EDB, LAIR_ENOMEM;
 * nothing is recorded then. OUT: *out OWNED (chat_free), *err. */
enum lair_err chat_start(const struct chat_ctx *ctx, const struct chat_request *req,
                         struct chat_target *t, struct chat **out, struct chat_error *err);

/* chat_resolve, then chat_start. */
enum lair_err chat_run(const struct chat_ctx *ctx, const struct chat_request *req,
                       struct chat **out, struct chat_error *err);

/* True when p (a tenant key) may use the assistant slug: its restriction
 * is empty or names it. */
bool chat_key_allows(const struct principal *p, const char *slug);

/* ---- reading a chat (chat_stream.c) ---- */

enum chat_mode {
    CHAT_GENERATED, /* the model's answer */
    CHAT_REFUSAL,   /* the assistant's refusal text: nothing relevant was found */
    CHAT_DEGRADED,  /* the best cited excerpts: no model could answer */
};

struct chat_result {
    struct llm_result llm; /* how it ended and the usage (zero for a fixed answer) */
    /* Not empty when the model failed before any text and the assistant's
     * cited excerpts answer instead (degraded mode; not when the prompt was
     * too long or could not be rendered: that error is the client's to
     * fix): that text, which is not in out; llm then says LLM_FINISH_STOP
     * with zero usage. BORROWED. */
    struct str fallback;
};

/* Readable (POLLIN) when chat_take has news; -1 when it never waits (a
 * fixed answer). */
int chat_fd(struct chat *c);
/* Appends the text that is ready to out. True once the chat has ended (its
 * text all taken; *res filled): the exchange is then recorded — the
 * conversation, with the assistant's PII policy, and the usage — unless
 * the generation failed (res->llm.finish == LLM_FINISH_ERROR). */
bool chat_take(struct chat *c, struct buf *out, struct chat_result *res);
/* Blocks until the end, appending the whole answer (the fallback
 * included) to out. For callers without a client to watch (the CLI, the
 * evaluation runner). */
void chat_collect(struct chat *c, struct buf *out, struct chat_result *res);
/* The server is shutting down: stops generating, appends what was
 * generated and not yet taken to out, and stores the exchange as it stands
 * (usage: the tokens the model processed). */
void chat_cut(struct chat *c, struct buf *out);
/* Frees c (NULL is fine). A chat not ended (its client left) is cancelled
 * and charged the tokens the model processed; nothing is stored. */
void chat_free(struct chat *c);

/* 1 + the requests the model starts before this one while it waits in the
 * model's queue; 0 otherwise. */
int chat_queue_position(const struct chat *c);
enum chat_mode chat_mode(const struct chat *c);
/* The model shown to the client: the assistant's slug, or the raw model's
 * name. BORROWED. */
const char *chat_model(const struct chat *c);
/* The conversation's id; "" when none is kept (operator, completion,
 * ephemeral). BORROWED. */
const char *chat_conversation_id(const struct chat *c);
/* The response's "sources" (grounding_sources_json); NULL without
 * grounding or with citations "off". BORROWED. */
json_t *chat_sources(const struct chat *c);
/* The whole answer taken so far. BORROWED until the next call on c. */
struct str chat_answer(const struct chat *c);
/* What the client is told when c's generation ended with e
 * (res.llm.err): the same messages as chat_start's. OUT: *err. */
void chat_generation_error(const struct chat *c, enum lair_err e, struct chat_error *err);

/* ---- conversations (chat_conv.c) ---- */

/* The most earlier messages chat_conversation_begin hands back (the newest
 * ones); grounding then fits them into the model's context. */
#define CHAT_HISTORY_MAX 200

struct chat_conversation {
    char id[CONV_ID_LEN + 1]; /* "" for the operator: no conversation is kept */
    char assistant[CONV_ASSISTANT_MAX + 1];
    char subject[CONV_SUBJECT_MAX + 1];
    bool is_new;                       /* created by its first chat_conversation_record */
    const struct llm_message *history; /* ARENA: oldest first */
    size_t n_history;
    /* The answer, as recorded for the dashboard (conv_exchange's fields of
     * the same names): set by the pipeline before recording. */
    const char *answer_mode; /* static; NULL: "" */
    bool grounded;           /* retrieval ran */
    int sources;             /* sources of the answer when grounded */
};

/* Starts or continues a conversation for p (docs/roles.md: a `user` key
 * continues only the conversations it created, editors and admins the
 * tenant's; a request naming a subject only that subject's). id: the
 * request's conversation_id (empty: a new one); assistant: the slug or raw
 * model it addresses; subject: the "user" field (empty: none; when
 * continuing, the conversation's is kept). Errors: LAIR_EUNPROC (param
 * "user" or "model" too long), LAIR_ENOTFOUND (conversation_not_found:
 * unknown, another tenant's, assistant's, key's or subject's, all alike),
 * LAIR_EAUTH (the tenant is gone). OUT: *out, its history in a; *err. */
enum lair_err chat_conversation_begin(const struct chat_ctx *ctx, const struct principal *p,
                                      struct str id, const char *assistant, struct str subject,
                                      struct arena *a, struct chat_conversation *out,
                                      struct chat_error *err);

/* Stores one exchange of c for p in one transaction (creating c when
 * is_new), the user's text and the answer passed through pii first
 * (gdpr_apply_policy: keep, mask, or pseudonymise with the mapping kept for
 * the conversation); res's token counts and timings go on the answer (res
 * may be NULL). Nothing for an empty c->id or the operator. Nothing is
 * stored when the policy step fails (never unmasked against the policy).
 * LAIR_ENOTFOUND when the conversation was deleted since begin. Failures
 * are logged without content. */
enum lair_err chat_conversation_record(const struct chat_ctx *ctx, const struct principal *p,
                                       enum pii_mode pii, const struct chat_conversation *c,
                                       struct str user_text, struct str answer_text,
                                       const struct llm_result *res);

#endif
