/* The model layer as the rest of the program sees it: a registry of named
 * models, each served by a backend (the embedded llama.cpp engine today, a
 * remote OpenAI-compatible upstream later). Nothing above src/llm/ knows which
 * backend serves a model, nor includes llama.h.
 *
 * Generation is asynchronous: llm_submit() queues a request on the model's
 * scheduler and returns a stream. The scheduler thread appends text to the
 * stream as tokens are sampled and signals a file descriptor, so that a waiting
 * HTTP connection can poll() it together with its socket and costs no CPU.
 * Text delivered through a stream is always whole UTF-8 characters and never
 * contains (a prefix of) a stop string. */
#ifndef LAIR_LLM_H
#define LAIR_LLM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"

struct llm_registry;
struct llm_model;
struct llm_stream;

/* One OpenAI-compatible server a pool sends requests to (vLLM,
 * llama-server, TGI, Ollama, another LibreAIr). Strings BORROWED until
 * llm_registry_load returns (the pool copies them). */
struct llm_upstream_opts {
    const char *url;     /* base URL, up to and including the API version: ".../v1" */
    const char *model;   /* the model's name over there; NULL = the pool's name */
    const char *api_key; /* the secret itself (read from its file or the environment by the
                            caller); never logged, never in /metrics; NULL = none */
    bool remote;         /* trust zone "remote": personal data is masked before a prompt goes
                            there (llm_request.privacy), and a request that forbids remote
                            inference never goes there */
    int weight;          /* share of the traffic against the others; 0 = 1 */
    int max_concurrent;  /* requests in flight at once; 0 = 16 */
    int connect_timeout_ms, first_byte_timeout_ms, idle_timeout_ms; /* 0: 5 s, 120 s, 60 s */
    const char *ca_file;       /* verify the server against this CA bundle; NULL = system's */
    const char *pinned_pubkey; /* "sha256//BASE64…" (curl's CURLOPT_PINNEDPUBLICKEY); NULL = none */
    const char *client_cert, *client_key; /* mTLS; NULL = none */
};

struct llm_model_opts {
    const char *name; /* BORROWED: name clients use, e.g. "default" */
    /* What serves it (the registry's table of backends by kind): "gguf" (the
     * embedded engine, path) or "upstream" (a pool of upstreams); NULL =
     * "upstream" when n_upstreams > 0, else "gguf". */
    const char *kind;
    const char *path; /* BORROWED: GGUF file */
    const struct llm_upstream_opts *upstreams; /* BORROWED until the load returns */
    size_t n_upstreams;
    /* Models to try, in order, when this one cannot take or serve a request
     * before its first token (another pool, the embedded model); names
     * BORROWED until the load returns. Past them, the API's degraded mode. */
    const char *const *fallback;
    size_t n_fallback;
    int health_interval_s; /* upstream pools: active health checks; 0 = 10 */
    bool embeddings;       /* upstream pools: the model over there embeds (and does not chat) */
    int n_embd;            /* upstream embedding pools: the vectors' size (required) */
    bool no_affinity;      /* upstream pools: least busy only (no prefix affinity) */
    int n_ctx;             /* total KV cells shared by all slots; 0 = 4096 * n_slots capped at
                              the model's training context * n_slots */
    int n_slots;           /* sequences decoded together; 0 = 4 */
    int n_threads;         /* 0 = number of online CPUs */
    int n_batch;           /* logical batch for prompt processing; 0 = 512 */
    int queue_max;         /* requests waiting beyond the slots; 0 = 64. Full queue: LAIR_EBUSY */
    int n_gpu_layers;      /* 0 on CPU-only builds */
    long prompt_cache_mib; /* host memory for prompt prefixes evicted from the KV cache:
                              0 = 1024 MiB, < 0 = off */
};

enum llm_kind_flags {
    LLM_CAN_CHAT = 1 << 0,  /* causal model: completions and chat */
    LLM_CAN_EMBED = 1 << 1, /* pooled embeddings */
};

struct llm_sampling {
    float temperature;    /* 0 = greedy */
    float top_p;          /* 1 = off */
    int top_k;            /* 0 = off */
    float min_p;          /* 0 = off */
    float repeat_penalty;    /* 1 = off */
    float frequency_penalty; /* OpenAI's: minus this times a token's count so far; 0 = off */
    float presence_penalty;  /* OpenAI's: minus this once a token appeared; 0 = off */
    int repeat_last_n;       /* the penalties look back this far; 0 = 64 */
    bool has_seed;
    uint64_t seed;
};

/* Sensible defaults: temperature 0.8, top_p 0.95, top_k 40, min_p 0.05,
 * no penalties, random seed. */
void llm_sampling_defaults(struct llm_sampling *s);

struct llm_message {
    struct str role; /* "system", "user", "assistant" */
    struct str content;
};

/* How a backend keeps personal data from a remote upstream (the caller's
 * filter: llm knows nothing of personal data). The backend owns ctx from
 * llm_submit on and calls free once, whatever happens. */
struct llm_privacy_ops {
    /* The messages to send instead of in[0..n): personal data replaced by
     * placeholders. OUT: *out, valid until free. */
    enum lair_err (*mask)(void *ctx, const struct llm_message *in, size_t n,
                          const struct llm_message **out);
    /* Appends to out the answer's text with placeholders restored; may hold
     * back the start of one until more text or final. */
    enum lair_err (*unmask)(void *ctx, const char *text, size_t len, bool final, struct buf *out);
    void (*free)(void *ctx);
};

struct llm_privacy {
    const struct llm_privacy_ops *ops; /* NULL: the request never goes to a remote upstream */
    void *ctx;
    bool forbid_remote; /* the tenant or assistant forbids remote inference */
};

/* Which requests may reuse each other's computed prompt prefixes (vLLM's
 * cache_salt, refined): nothing computed for one scope is ever reused for
 * another, and within a scope what follows the first n_shared messages is
 * reused only by the same owner. The API sets the scope to the tenant and
 * its assistant (or key), and the owner to the conversation, so that an
 * assistant's instructions and sources are computed once for all its
 * conversations while nobody's turns speed up anybody else's request (which
 * would tell a guesser, through usage.cached_tokens or merely the time to the
 * first token, that the guess was right). Requests that leave it empty share
 * one scope and one owner. */
struct llm_cache_key {
    struct str scope; /* BORROWED until llm_submit returns */
    struct str owner; /* BORROWED until llm_submit returns */
    size_t n_shared;  /* leading messages the whole scope shares; 0 for a raw prompt */
};

struct llm_request {
    /* A chat, rendered by the backend that serves the model (the model's
     * template in process; an upstream receives the messages as they are),
     * or, when n_messages is 0, a raw prompt taken as it is. */
    const struct llm_message *messages; /* BORROWED until llm_submit returns */
    size_t n_messages;
    struct str prompt; /* BORROWED until llm_submit returns: raw text */
    struct llm_cache_key cache;
    struct llm_privacy privacy; /* its ctx is the backend's from llm_submit on */
    int max_tokens; /* <= 0: until the context is full or end of sequence */
    struct llm_sampling sampling;
    const struct str *stop; /* BORROWED until llm_submit returns */
    size_t n_stop;
    bool ignore_eos;     /* benchmarks: keep generating past end-of-sequence */
    bool add_bos;        /* raw prompt: prepend BOS when the model wants one */
    struct str fair_key; /* who to be fair between (the tenant); BORROWED until return */
};

enum llm_finish {
    LLM_RUNNING = 0,
    LLM_FINISH_STOP,      /* end of sequence or a stop string */
    LLM_FINISH_LENGTH,    /* max_tokens or context full */
    LLM_FINISH_CANCELLED, /* llm_stream_cancel */
    LLM_FINISH_ERROR,     /* see llm_result.err */
};

struct llm_result {
    enum llm_finish finish;
    enum lair_err err;
    int prompt_tokens;
    int cached_tokens; /* prompt tokens reused from the prefix cache */
    int completion_tokens;
    double queue_ms, prompt_ms, gen_ms;
};

struct llm_stats {
    uint64_t prompt_tokens, cached_tokens, generated_tokens, requests;
    double prompt_seconds, gen_seconds;
    int queue_depth, busy_slots, n_slots;
    /* host-memory prompt cache (all 0 when off) */
    uint64_t pcache_entries, pcache_bytes, pcache_cap;
    uint64_t pcache_saves, pcache_restores, pcache_evictions;
};

struct llm_model_info {
    int kind;    /* enum llm_kind_flags */
    bool remote; /* some of its requests may be served in the remote zone */
    bool upstream; /* served by a pool of upstreams (the counts below are estimates) */
    int n_ctx_train;
    int n_ctx_slot; /* the most tokens one request may use (prompt + output) */
    int n_embd;     /* embedding size */
    uint64_t n_params;
    char arch[32];
    char desc[128];
};

/* ---- registry ---- */

/* OWNED: free with llm_registry_free (which stops every scheduler). */
struct llm_registry *llm_registry_new(void);
void llm_registry_free(struct llm_registry *r);
/* Loads a model and starts its scheduler. Names are unique (LAIR_ECONFLICT).
 * Errors: LAIR_EIO (cannot read), LAIR_EMODEL (not a usable GGUF). */
enum lair_err llm_registry_load(struct llm_registry *r, const struct llm_model_opts *o);
/* Replaces the upstreams and fallbacks of the pool o->name with o's (SIGHUP):
 * requests in flight finish where they are; an upstream kept (same URL and
 * model) keeps its health and figures. Errors: LAIR_ENOTFOUND (no such
 * model), LAIR_EUNSUPPORTED (not a pool), LAIR_EINVAL, LAIR_ENOMEM (the
 * pool is unchanged then). */
enum lair_err llm_registry_reload(struct llm_registry *r, const struct llm_model_opts *o);
/* BORROWED: lives as long as the registry. NULL when unknown. */
struct llm_model *llm_registry_find(struct llm_registry *r, struct str name);
size_t llm_registry_count(struct llm_registry *r);
/* BORROWED: the i-th model in load order, NULL past the end. */
struct llm_model *llm_registry_at(struct llm_registry *r, size_t i);

/* ---- one model ---- */

const char *llm_model_name(const struct llm_model *m); /* BORROWED */
void llm_model_get_info(const struct llm_model *m, struct llm_model_info *out);
void llm_model_get_stats(struct llm_model *m, struct llm_stats *out);

/* Renders messages with the model's chat template (GGUF metadata) and appends
 * the assistant turn opener when add_assistant. Falls back to ChatML when the
 * model has no template or llama.cpp does not know it (docs/internals/llm.md). */
enum lair_err llm_chat_format(struct llm_model *m, const struct llm_message *msgs, size_t n,
                              bool add_assistant, struct buf *out);

/* Number of tokens text makes with this model's tokenizer (no BOS). */
enum lair_err llm_count_tokens(struct llm_model *m, struct str text, int *out);

/* Appends the Prometheus lines of m's backend that the registry's generic
 * ones do not cover (an upstream pool's per-upstream series). */
void llm_model_metrics(struct llm_model *m, struct buf *out);

/* Appends a JSON array describing m's upstreams and their health ([] for
 * other backends): for `libreair upstream list` and the console. */
void llm_model_upstreams_json(struct llm_model *m, struct buf *out);

/* Queues a generation. OUT: *out is OWNED (free with llm_stream_free).
 * Errors: LAIR_ECTX when the prompt does not fit n_ctx_slot (prompt alone),
 * LAIR_EINVAL when a chat cannot be rendered with the model's template,
 * LAIR_EBUSY when the queue is full, LAIR_EUNSUPPORTED for an embedding-only
 * model. */
enum lair_err llm_submit(struct llm_model *m, const struct llm_request *req,
                         struct llm_stream **out);

/* 1 + the number of requests that m will start before s when s is waiting
 * in m's queue; 0 once it has started (or finished, or m keeps no queue).
 * For telling a waiting client where it stands. */
int llm_queue_position(struct llm_model *m, const struct llm_stream *s);

/* Readable (POLLIN) whenever new text is pending or the stream has finished. */
int llm_stream_fd(struct llm_stream *s);
/* Moves pending text into out (appending) and clears the fd's readiness.
 * Returns true once the stream has finished and all its text was taken; then
 * *res is filled. */
bool llm_stream_take(struct llm_stream *s, struct buf *out, struct llm_result *res);
/* Tokens the model has processed for s so far: its prompt once it left the
 * queue, plus the tokens generated. For charging a request that is abandoned
 * before it finishes (the step in flight may add one more token). Lock-free. */
int llm_stream_tokens_used(const struct llm_stream *s);
/* Stops generation; the slot is freed at the scheduler's next step. */
void llm_stream_cancel(struct llm_stream *s);
/* Cancels if still running and frees. NULL is fine. */
void llm_stream_free(struct llm_stream *s);

/* Embeds n texts with the model's pooling, L2-normalised. out receives n * n_embd
 * floats (caller-allocated; n_embd from llm_model_get_info). *n_tokens (may be
 * NULL) gets the total input tokens. Errors: LAIR_ECTX when one text is longer
 * than the context, LAIR_EUNSUPPORTED for a model that cannot embed. Blocking;
 * thread-safe. */
enum lair_err llm_embed(struct llm_model *m, const struct str *texts, size_t n, float *out,
                        int *n_tokens);

/* Reads a GGUF file's metadata without loading weights and writes a JSON object:
 * architecture, name, parameters, context length, embedding size, layers, heads,
 * file type / quantisation, tensor type counts, vocabulary type and size,
 * chat template (or null), file size. Errors: LAIR_EIO, LAIR_EMODEL. */
enum lair_err llm_gguf_info_json(const char *path, struct buf *out);

/* Silences llama.cpp's own logging unless verbose (LIBREAIR_LLAMA_LOG=1). */
void llm_global_init(void);

#endif
