/* What a model backend provides to the registry, and the producer side of a
 * generation stream. Private to src/llm/: the rest of the program sees only
 * llm.h.
 *
 * A backend is an object whose first member is struct llm_backend; the
 * registry calls it through its ops table and never looks further. The
 * embedded llama.cpp engine (llama_engine.c) is one backend; a remote
 * OpenAI-compatible upstream can be another, producing the same streams.
 *
 * A stream has two owners: the consumer (the HTTP connection, through
 * llm_stream_take/_cancel/_free) and the producer (the backend's scheduler,
 * through the functions below). Each holds one reference; the last one to let
 * go frees it, so either side may finish first. */
#ifndef LAIR_LLM_BACKEND_H
#define LAIR_LLM_BACKEND_H

#include "llm/llm.h"

struct llm_backend;

struct llm_backend_ops {
    /* Queues a generation (see llm_submit). */
    enum lair_err (*submit)(struct llm_backend *b, const struct llm_request *req,
                            struct llm_stream **out);
    /* Embeds texts (see llm_embed). NULL: LAIR_EUNSUPPORTED. */
    enum lair_err (*embed)(struct llm_backend *b, const struct str *texts, size_t n, float *out,
                           int *n_tokens);
    /* Renders a chat (see llm_chat_format). NULL: the registry uses ChatML. */
    enum lair_err (*chat_format)(struct llm_backend *b, const struct llm_message *msgs, size_t n,
                                 bool add_assistant, struct buf *out);
    enum lair_err (*count_tokens)(struct llm_backend *b, struct str text, int *out);
    void (*info)(struct llm_backend *b, struct llm_model_info *out);
    /* llm_model_metrics and llm_model_upstreams_json; NULL: nothing. */
    void (*metrics)(struct llm_backend *b, const char *name, struct buf *out);
    void (*describe)(struct llm_backend *b, struct buf *out);
    /* llm_registry_reload; NULL: LAIR_EUNSUPPORTED. */
    enum lair_err (*reload)(struct llm_backend *b, const struct llm_model_opts *o);
    /* Where s waits (see llm_queue_position). NULL: 0. */
    int (*queue_position)(struct llm_backend *b, const struct llm_stream *s);
    void (*stats)(struct llm_backend *b, struct llm_stats *out);
    /* Stops the backend's threads, finishes its pending streams (cancelled)
     * and frees it. */
    void (*free)(struct llm_backend *b);
};

struct llm_backend {
    const struct llm_backend_ops *ops;
};

/* Runs a privacy filter's free (when there is one): for a backend that
 * owns a request's filter and does not need it, or has finished with it. */
void llm_privacy_release(struct llm_privacy *p);

/* Adds a model served by b under name (unique: LAIR_ECONFLICT). On success
 * the registry owns b; on error the caller still does. */
enum lair_err llm_registry_add(struct llm_registry *r, const char *name, struct llm_backend *b);

/* Writes the ChatML rendering of msgs ("<|im_start|>role\ncontent<|im_end|>\n"
 * per message, then "<|im_start|>assistant\n" when add_assistant). */
enum lair_err llm_chatml_format(const struct llm_message *msgs, size_t n, bool add_assistant,
                                struct buf *out);

/* ---- producer side of a stream ---- */

/* Called (from any thread, with no backend lock held) when the consumer
 * cancels or frees the stream, so that a sleeping scheduler notices. It is not
 * called once the producer has finished the stream. */
typedef void (*llm_stream_wake_fn)(void *arg);

/* A new stream with two references (consumer and producer). The stop strings
 * are copied. OUT: *out. Errors: LAIR_ENOMEM, LAIR_EIO (no eventfd). */
enum lair_err llm_stream_new(const struct str *stop, size_t n_stop, llm_stream_wake_fn wake,
                             void *wake_arg, struct llm_stream **out);

/* Producer: appends generated text. Only whole UTF-8 characters that cannot
 * be the start of a stop string reach the consumer; the rest is held back
 * until the next call decides. Returns true when a stop string was completed:
 * the text before it has been delivered, the stop string and anything after
 * it dropped, and the producer should finish with LLM_FINISH_STOP. */
bool llm_stream_feed(struct llm_stream *s, const char *text, size_t len);

/* Producer: true once the consumer cancelled or freed the stream. Lock-free. */
bool llm_stream_cancelled(const struct llm_stream *s);

/* Producer: what the model has processed for s so far, for
 * llm_stream_tokens_used: the prompt once the request has left the queue, and
 * the tokens generated. Lock-free. */
void llm_stream_progress(struct llm_stream *s, int prompt_tokens, int completion_tokens);

/* Producer: delivers held-back text (unless a stop string matched), records
 * the result, wakes the consumer and drops the producer's reference: s must
 * not be used afterwards. */
void llm_stream_finish(struct llm_stream *s, const struct llm_result *res);

#endif
