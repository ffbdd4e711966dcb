/* The embedded llama.cpp backend (the only file that includes llama.h).
 *
 * A causal model gets one llama_context with n_seq = 2 * n_slots sequences
 * ("slots" below) sharing one unified KV cache, and one scheduler thread.
 * Each step the scheduler admits queued requests into idle slots (up to
 * n_slots running requests, plus one for each tenant with nothing running),
 * chooses the n_slots requests that take part in the step, round-robin across
 * fair keys, then builds one llama_batch: one token for every chosen
 * generating slot, then prompt chunks of chosen slots up to n_batch tokens,
 * decodes it, and samples every slot whose logits came out. A request not
 * chosen keeps its KV and simply skips the step. When no slot is active and
 * the queue is empty it sleeps on a condition variable.
 *
 * Each slot remembers the tokens its sequence holds in the KV cache, also
 * after its request finished. A new request goes to the idle slot whose
 * history shares the longest prefix with its prompt (least recently used on a
 * tie); if another slot, idle or busy, shares a longer one, that prefix is
 * shared into the chosen sequence with llama_memory_seq_cp (cells are shared,
 * not copied, in a unified cache) and only the rest of the prompt is decoded.
 * See docs/internals/llm.md. */
#include "llm/llama_engine.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <llama.h>
#include <sodium.h>

#include "llm/fairq.h"
#include "llm/prompt_cache.h"

#include "core/banned.h"

enum {
    DEFAULT_SLOTS = 4,
    DEFAULT_SLOT_CTX = 4096,
    DEFAULT_BATCH = 512,
    DEFAULT_QUEUE = 64,
    MAX_UBATCH = 512,
    EMBED_SEQ_MAX = 8, /* texts per embedding batch; n_ubatch is a multiple of it */
    EMBED_CTX_MAX = 8192,
    /* Tokens per embedding decode beyond a single text. An encoder attends
     * over the whole batch (masked per text), a cost that grows with the
     * square of the batch: passages go one per decode, short texts (search
     * queries) together (bench/upstream.mjs embeddings, before flash
     * attention: 256 gave 0.82 of llama-server, 512 0.46-0.66). */
    EMBED_TOKENS = 256,
    PIECE_SMALL = 128,
    DEFAULT_PCACHE_MIB = 1024,
    PCACHE_MIN_TOKENS = 64, /* shorter tails are not worth a host-memory entry */
    PCACHE_MIN_GAIN = 8,    /* restore only when it saves decoding this many tokens */
};

enum slot_state { SLOT_IDLE, SLOT_PROMPT, SLOT_GEN };

struct job {
    struct llm_stream *stream;
    llama_token *prompt; /* OWNED */
    int n_prompt;
    int max_tokens;
    bool ignore_eos;
    struct llm_sampling sampling;
    struct pcache_tag ctag; /* whose prefix this is: what it may reuse, who may reuse it */
    char *key;              /* OWNED: fairness key */
    size_t key_len;
    double t_submit;
    struct job *next; /* on a list of jobs to finish outside the lock */
};

struct slot {
    llama_seq_id id;
    enum slot_state state;
    struct job *job;   /* NULL when idle */
    llama_token *hist; /* tokens whose KV this sequence holds, at positions 0.. */
    int n_hist;
    struct pcache_tag ctag; /* of the request that computed hist (the last one to run here) */
    llama_token next; /* sampled, not yet decoded (SLOT_GEN) */
    int n_gen, n_cached;
    int n_chunk; /* prompt tokens in the current batch */
    int i_out;   /* batch index of this slot's logits, -1 when none */
    bool in_batch;
    bool chosen;     /* takes part in this step (plan_step) */
    uint64_t served; /* the last step this slot was in a batch */
    int order;       /* plan_step's scratch: round * n + key */
    struct llama_sampler *smpl;
    uint64_t last_used, admitted;
    double t_start, t_first;
};

struct engine {
    struct llm_backend base;
    struct llama_model *model;
    const struct llama_vocab *vocab;
    struct llm_model_info info;
    int n_vocab, n_threads, n_gpu_layers;
    char *tmpl; /* OWNED: the model's chat template, NULL when none */
    /* texts of the control tokens that special parsing turns into tokens
     * (defang_messages), and which bytes they start with */
    struct str *ctl;
    int n_ctl;
    uint8_t ctl_first[32];

    /* embedding models */
    struct llama_context *ectx;
    pthread_mutex_t emu;
    struct llama_batch ebatch;
    int e_batch, e_text_max, n_embd_out;

    /* causal models: everything below but mu-guarded fields belongs to the
     * scheduler thread */
    struct llama_context *ctx;
    llama_memory_t mem;
    struct llama_batch batch;
    int n_batch, n_slots, n_ctx_slot;
    int n_seq;          /* resident sequences: n_slots, plus room for tenants let in early */
    bool can_reuse;     /* false for recurrent memories: no partial sequence removal */
    struct slot *slots; /* n_seq of them */
    struct slot **cand; /* plan_step's scratch, n_seq */
    int n_active;
    uint64_t clock, admissions, steps;
    llama_logit_bias *eog_bias;
    int n_eog;
    char *piece;
    int piece_cap;
    struct job **admit_buf;
    struct pcache *pc; /* host-memory prompt cache, NULL when off */

    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    /* under mu */
    bool stop, cancel_pending;
    struct fairq queue; /* jobs waiting for a slot */
    int queue_max;
    struct llm_stats st;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int imin(int a, int b)
{
    return a < b ? a : b;
}

/* ---- logging ---- */

static _Thread_local enum ggml_log_level last_level;
/* Set around a call whose failure is expected and handled (a prompt-cache
 * restore that finds no room): its error lines are not news. */
static _Thread_local bool quiet_llama_errors;

/* Keeps llama.cpp quiet except for errors; continuation lines follow the
 * level of the line they continue. */
static void log_filter(enum ggml_log_level level, const char *text, void *ud)
{
    if (level != GGML_LOG_LEVEL_CONT)
        last_level = level;
    if (last_level == GGML_LOG_LEVEL_ERROR && !quiet_llama_errors)
        fputs(text, stderr);
}

void llama_engine_global_init(void)
{
    const char *v = getenv("LIBREAIR_LLAMA_LOG");
    bool verbose = v && strcmp(v, "1") == 0;
    llama_log_set(verbose ? NULL : log_filter, NULL);
    llama_backend_init();
    if (sodium_init() < 0) /* cache tags are BLAKE2b digests */
        abort();
}

/* ---- tokens ---- */

static int common_prefix(const llama_token *a, int na, const llama_token *b, int nb)
{
    int n = imin(na, nb), i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* The prefix of b that a sequence holding a, computed under tag ta, may lend
 * to one under tb (pcache_tag_limit): the one rule by which cached cells are
 * reused, compared, spilled and kept. */
static int shared_prefix(const llama_token *a, int na, const struct pcache_tag *ta,
                         const llama_token *b, int nb, const struct pcache_tag *tb)
{
    int lim = pcache_tag_limit(ta, tb);
    return lim > 0 ? common_prefix(a, imin(na, lim), b, nb) : 0;
}

/* OUT: *out OWNED (free), *n tokens. */
static enum lair_err tokenize(const struct engine *e, struct str text, bool add_special,
                              llama_token **out, int *n)
{
    if (text.len > (size_t)INT32_MAX / 2)
        return LAIR_ETOOBIG;
    const char *p = text.ptr ? text.ptr : "";
    int cap = (int)text.len + 8;
    llama_token *t = malloc((size_t)cap * sizeof(*t));
    if (!t)
        return LAIR_ENOMEM;
    /* parse_special: prompts arrive templated, with the template's control
     * tokens written as text. */
    int r = llama_tokenize(e->vocab, p, (int32_t)text.len, t, cap, add_special, true);
    if (r < 0 && r != INT32_MIN) {
        cap = -r;
        llama_token *g = realloc(t, (size_t)cap * sizeof(*t));
        if (!g) {
            free(t);
            return LAIR_ENOMEM;
        }
        t = g;
        r = llama_tokenize(e->vocab, p, (int32_t)text.len, t, cap, add_special, true);
    }
    if (r < 0) {
        free(t);
        return LAIR_EINVAL;
    }
    *out = t;
    *n = r;
    return LAIR_OK;
}

static enum lair_err eng_count_tokens(struct llm_backend *b, struct str text, int *out)
{
    struct engine *e = (struct engine *)b;
    llama_token *t;
    enum lair_err err = tokenize(e, text, false, &t, out);
    if (!err)
        free(t);
    return err;
}

/* ---- chat templates ---- */

/* Remembers the text of every control (and unknown) token: a templated
 * prompt is tokenized with special parsing, so such a text in a message
 * would become the token itself. */
static enum lair_err collect_control_tokens(struct engine *e)
{
    for (int pass = 0; pass < 2; pass++) {
        e->n_ctl = 0;
        for (llama_token t = 0; t < e->n_vocab; t++) {
            enum llama_token_attr a = llama_vocab_get_attr(e->vocab, t);
            const char *text = llama_vocab_get_text(e->vocab, t);
            if (!(a & (LLAMA_TOKEN_ATTR_CONTROL | LLAMA_TOKEN_ATTR_UNKNOWN)) || !text || !*text)
                continue;
            if (pass == 1) {
                e->ctl[e->n_ctl] = str_c(text); /* lives as long as the model */
                e->ctl_first[(uint8_t)text[0] >> 3] |= (uint8_t)(1u << ((uint8_t)text[0] & 7));
            }
            e->n_ctl++;
        }
        if (pass == 0 && e->n_ctl && !(e->ctl = calloc((size_t)e->n_ctl, sizeof(*e->ctl))))
            return LAIR_ENOMEM;
        if (e->n_ctl == 0)
            break;
    }
    return LAIR_OK;
}

/* Length of the control-token text starting at p (of n bytes), 0 if none. */
static size_t control_at(const struct engine *e, const char *p, size_t n)
{
    uint8_t c = (uint8_t)p[0];
    if (!(e->ctl_first[c >> 3] & (1u << (c & 7))))
        return 0;
    for (int i = 0; i < e->n_ctl; i++)
        if (e->ctl[i].len <= n && memcmp(p, e->ctl[i].ptr, e->ctl[i].len) == 0)
            return e->ctl[i].len;
    return 0;
}

/* Appends content to out with a zero-width space (U+200B) after the first
 * character of every control-token text in it, so that a message cannot
 * forge the template's turn markers ("<|im_start|>system ..."): the text
 * stays readable, and is tokenized as the plain characters it is. Returns
 * the number of texts broken up. */
static int defang(const struct engine *e, struct str content, struct buf *out, enum lair_err *err)
{
    int hits = 0;
    size_t from = 0;
    for (size_t i = 0; i < content.len && !*err; i++) {
        if (!control_at(e, content.ptr + i, content.len - i))
            continue;
        size_t cl = 1; /* the whole first UTF-8 character */
        while (i + cl < content.len && ((uint8_t)content.ptr[i + cl] & 0xC0) == 0x80)
            cl++;
        *err = buf_append(out, content.ptr + from, i + cl - from);
        if (!*err)
            *err = buf_append(out, "\xE2\x80\x8B", 3);
        from = i + cl;
        i += cl - 1;
        hits++;
    }
    if (!*err)
        *err = buf_append(out, content.ptr + from, content.len - from);
    return hits;
}

static enum lair_err format_messages(struct engine *e, const struct llm_message *msgs, size_t n,
                                     bool add_assistant, struct buf *out);

/* Renders a chat with every message's content defanged (defang). The
 * rendered prompt is the same text as before for content without
 * control-token texts. */
static enum lair_err eng_chat_format(struct llm_backend *b, const struct llm_message *msgs,
                                     size_t n, bool add_assistant, struct buf *out)
{
    struct engine *e = (struct engine *)b;
    if (e->n_ctl == 0 || n == 0)
        return format_messages(e, msgs, n, add_assistant, out);
    struct buf safe;
    buf_init(&safe, 0);
    size_t *ends = calloc(n, sizeof(*ends));
    struct llm_message *m = calloc(n, sizeof(*m));
    enum lair_err err = ends && m ? LAIR_OK : LAIR_ENOMEM;
    int hits = 0;
    for (size_t i = 0; i < n && !err; i++) {
        hits += defang(e, msgs[i].content, &safe, &err);
        ends[i] = safe.len;
    }
    if (!err && hits == 0) {
        err = format_messages(e, msgs, n, add_assistant, out);
    } else if (!err) {
        for (size_t i = 0; i < n; i++) {
            size_t start = i ? ends[i - 1] : 0;
            m[i].role = msgs[i].role;
            m[i].content = (struct str){safe.ptr + start, ends[i] - start};
        }
        err = format_messages(e, m, n, add_assistant, out);
    }
    free(m);
    free(ends);
    buf_release(&safe);
    return err;
}

static enum lair_err format_messages(struct engine *e, const struct llm_message *msgs, size_t n,
                                     bool add_assistant, struct buf *out)
{
    if (!e->tmpl || n == 0)
        return llm_chatml_format(msgs, n, add_assistant, out);
    /* llama.cpp wants NUL-terminated strings: copy them into one block. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += msgs[i].role.len + msgs[i].content.len + 2;
    struct llama_chat_message *cm = calloc(n, sizeof(*cm));
    char *mem = malloc(total);
    char *fmt = NULL;
    enum lair_err err = LAIR_ENOMEM;
    if (!cm || !mem)
        goto out;
    char *p = mem;
    for (size_t i = 0; i < n; i++) {
        const struct str fields[2] = {msgs[i].role, msgs[i].content};
        const char **dst[2] = {&cm[i].role, &cm[i].content};
        for (int f = 0; f < 2; f++) {
            if (fields[f].len)
                memcpy(p, fields[f].ptr, fields[f].len);
            p[fields[f].len] = 0;
            *dst[f] = p;
            p += fields[f].len + 1;
        }
    }
    if (total > (size_t)INT32_MAX / 4) {
        err = LAIR_ETOOBIG;
        goto out;
    }
    int cap = (int)(total * 2 + 256);
    for (int tries = 0; tries < 2; tries++) {
        char *g = realloc(fmt, (size_t)cap);
        if (!g)
            goto out;
        fmt = g;
        int r = llama_chat_apply_template(e->tmpl, cm, n, add_assistant, fmt, cap);
        if (r < 0) {
            /* A template llama.cpp does not recognise: ChatML is what most
             * recent instruction models were trained on. */
            err = llm_chatml_format(msgs, n, add_assistant, out);
            goto out;
        }
        if (r <= cap) {
            err = buf_append(out, fmt, (size_t)r);
            goto out;
        }
        cap = r + 1;
    }
    err = LAIR_EINTERNAL;
out:
    free(fmt);
    free(mem);
    free(cm);
    return err;
}

/* ---- the queue (under e->mu) ---- */

static void job_free(struct job *j)
{
    if (!j)
        return;
    free(j->prompt);
    free(j->key);
    free(j);
}

static struct str job_key(const struct job *j)
{
    return (struct str){j->key, j->key_len};
}

static bool same_key(const struct job *a, const struct job *b)
{
    return fairq_same_key(job_key(a), job_key(b));
}

static struct job *queued(const struct engine *e, int i)
{
    return e->queue.v[i].item;
}

/* Moves the queued jobs whose stream was cancelled onto *drop, so that a
 * client who went away does not hold a queue place. */
static void queue_purge(struct engine *e, struct job **drop)
{
    for (int i = 0; i < e->queue.n;) {
        struct job *j = queued(e, i);
        if (llm_stream_cancelled(j->stream)) {
            fairq_take(&e->queue, i);
            j->next = *drop;
            *drop = j;
        } else {
            i++;
        }
    }
    e->st.queue_depth = e->queue.n;
}

/* ---- submission (caller's thread) ---- */

static void finish_job(struct job *j, enum llm_finish f, enum lair_err err)
{
    struct llm_result res = {.finish = f, .err = err, .prompt_tokens = j->n_prompt};
    llm_stream_finish(j->stream, &res);
    job_free(j);
}

/* Finishes a list of jobs taken off the queue; never under e->mu, since a
 * stream's lock is taken before the engine's (see eng_wake). */
static void finish_list(struct job *list, enum llm_finish f, enum lair_err err)
{
    while (list) {
        struct job *next = list->next;
        finish_job(list, f, err);
        list = next;
    }
}

static void eng_wake(void *arg)
{
    struct engine *e = arg;
    pthread_mutex_lock(&e->mu);
    e->cancel_pending = true;
    pthread_cond_signal(&e->cv);
    pthread_mutex_unlock(&e->mu);
}

/* BLAKE2b-128 of a scope or owner name. */
static void tag_digest(struct str name, uint8_t out[16])
{
    crypto_generichash(out, 16, (const unsigned char *)(name.ptr ? name.ptr : ""), name.len,
                       NULL, 0);
}

/* The number of leading tokens of j's prompt (rendered from msgs) that render
 * msgs[0..n_lead): the bytes the two renderings share, tokenized alone, as
 * far as they tokenize like the prompt. */
static enum lair_err shared_tokens(struct engine *e, const struct llm_message *msgs,
                                   size_t n_lead, struct str prompt, struct job *j)
{
    struct buf lead;
    buf_init(&lead, 0);
    enum lair_err err = eng_chat_format(&e->base, msgs, n_lead, false, &lead);
    size_t bytes = 0;
    while (!err && bytes < lead.len && bytes < prompt.len && lead.ptr[bytes] == prompt.ptr[bytes])
        bytes++;
    llama_token *t = NULL;
    int n = 0;
    if (!err && bytes > 0)
        err = tokenize(e, (struct str){prompt.ptr, bytes}, false, &t, &n);
    if (!err)
        j->ctag.n_shared = common_prefix(t, n, j->prompt, j->n_prompt);
    free(t);
    buf_release(&lead);
    return err;
}

/* The job's prompt tokens: the chat rendered with the model's template, or
 * the raw prompt; and its cache tag. */
static enum lair_err job_prompt(struct engine *e, const struct llm_request *req, struct job *j)
{
    tag_digest(req->cache.scope, j->ctag.scope);
    tag_digest(req->cache.owner, j->ctag.owner);
    if (req->n_messages == 0)
        return tokenize(e, req->prompt, req->add_bos, &j->prompt, &j->n_prompt);
    struct buf text;
    buf_init(&text, 0);
    /* templates carry their own BOS when they want one */
    enum lair_err err = eng_chat_format(&e->base, req->messages, req->n_messages, true, &text);
    if (err && err != LAIR_ETOOBIG && err != LAIR_ENOMEM)
        err = LAIR_EINVAL;
    if (!err)
        err = tokenize(e, buf_str(&text), false, &j->prompt, &j->n_prompt);
    size_t n_lead = req->cache.n_shared;
    if (!err && n_lead > 0)
        err = shared_tokens(e, req->messages, n_lead < req->n_messages ? n_lead : req->n_messages,
                            buf_str(&text), j);
    buf_release(&text);
    return err;
}

static enum lair_err job_new(struct engine *e, const struct llm_request *req, struct job **out)
{
    struct job *j = calloc(1, sizeof(*j));
    if (!j)
        return LAIR_ENOMEM;
    enum lair_err err = job_prompt(e, req, j);
    if (!err && j->n_prompt == 0) {
        /* Decoding needs one token to sample from. */
        llama_token bos = llama_vocab_bos(e->vocab);
        if (bos == LLAMA_TOKEN_NULL)
            err = LAIR_EINVAL;
        else
            j->prompt[j->n_prompt++] = bos;
    }
    /* The prompt must leave room for one generated token. */
    if (!err && j->n_prompt >= e->n_ctx_slot)
        err = LAIR_ECTX;
    if (!err && req->fair_key.len) {
        j->key = malloc(req->fair_key.len);
        if (j->key) {
            memcpy(j->key, req->fair_key.ptr, req->fair_key.len);
            j->key_len = req->fair_key.len;
        } else {
            err = LAIR_ENOMEM;
        }
    }
    if (err) {
        job_free(j);
        return err;
    }
    j->max_tokens = req->max_tokens;
    j->ignore_eos = req->ignore_eos;
    j->sampling = req->sampling;
    j->t_submit = now_s();
    *out = j;
    return LAIR_OK;
}

static enum lair_err eng_submit(struct llm_backend *b, const struct llm_request *req,
                                struct llm_stream **out)
{
    struct engine *e = (struct engine *)b;
    /* nothing leaves the process: the privacy filter is not needed */
    struct llm_privacy privacy = req->privacy;
    llm_privacy_release(&privacy);
    if (!(e->info.kind & LLM_CAN_CHAT))
        return LAIR_EUNSUPPORTED;
    struct job *j;
    enum lair_err err = job_new(e, req, &j);
    if (err)
        return err;
    struct llm_stream *s;
    err = llm_stream_new(req->stop, req->n_stop, eng_wake, e, &s);
    if (err) {
        job_free(j);
        return err;
    }
    j->stream = s;
    struct job *dropped = NULL;
    pthread_mutex_lock(&e->mu);
    /* Jobs the scheduler has not yet moved into free slots wait in the same
     * array: they do not count against queue_max, which bounds only what
     * waits beyond the slots. */
    int limit = e->queue_max + (e->n_slots > e->n_active ? e->n_slots - e->n_active : 0);
    if (e->queue.n >= limit)
        queue_purge(e, &dropped);
    if (e->stop || e->queue.n >= limit || !fairq_push(&e->queue, j, s, job_key(j))) {
        err = LAIR_EBUSY;
    } else {
        e->st.queue_depth = e->queue.n;
        e->st.requests++;
        pthread_cond_signal(&e->cv);
    }
    pthread_mutex_unlock(&e->mu);
    finish_list(dropped, LLM_FINISH_CANCELLED, LAIR_OK);
    if (err) {
        struct llm_result res = {.finish = LLM_FINISH_ERROR, .err = err};
        llm_stream_finish(s, &res);
        llm_stream_free(s);
        job_free(j);
        return err;
    }
    *out = s;
    return LAIR_OK;
}

/* ---- slots (scheduler thread) ---- */

static bool has_penalties(const struct llm_sampling *sp)
{
    return (sp->repeat_penalty > 0 && sp->repeat_penalty != 1.0f) || sp->frequency_penalty != 0 ||
           sp->presence_penalty != 0;
}

static struct llama_sampler *sampler_new(const struct engine *e, const struct job *j)
{
    const struct llm_sampling *sp = &j->sampling;
    struct llama_sampler_chain_params cp = llama_sampler_chain_default_params();
    cp.no_perf = true;
    struct llama_sampler *c = llama_sampler_chain_init(cp);
    if (!c)
        return NULL;
    if (j->ignore_eos && e->n_eog)
        llama_sampler_chain_add(c,
                                llama_sampler_init_logit_bias(e->n_vocab, e->n_eog, e->eog_bias));
    int last_n = sp->repeat_last_n > 0 ? sp->repeat_last_n : 64;
    if (has_penalties(sp))
        llama_sampler_chain_add(c, llama_sampler_init_penalties(
                                       e->n_vocab, last_n,
                                       sp->repeat_penalty > 0 ? sp->repeat_penalty : 1.0f,
                                       sp->frequency_penalty, sp->presence_penalty));
    if (sp->temperature <= 0) {
        llama_sampler_chain_add(c, llama_sampler_init_greedy());
        return c;
    }
    if (sp->top_k > 0)
        llama_sampler_chain_add(c, llama_sampler_init_top_k(sp->top_k));
    if (sp->top_p > 0 && sp->top_p < 1)
        llama_sampler_chain_add(c, llama_sampler_init_top_p(sp->top_p, 1));
    if (sp->min_p > 0)
        llama_sampler_chain_add(c, llama_sampler_init_min_p(sp->min_p, 1));
    llama_sampler_chain_add(c, llama_sampler_init_temp(sp->temperature));
    uint32_t seed = LLAMA_DEFAULT_SEED; /* llama.cpp draws a random seed */
    if (sp->has_seed) {
        seed = (uint32_t)(sp->seed ^ (sp->seed >> 32));
        if (seed == LLAMA_DEFAULT_SEED)
            seed = 0x9E3779B9u;
    }
    llama_sampler_chain_add(c, llama_sampler_init_dist(seed));
    return c;
}

/* Scheduler thread, when the prompt cache changed: the prompt cache's figures for
 * eng_stats (the cache itself is the scheduler's alone). */
static void publish_pcache_stats(struct engine *e)
{
    if (!e->pc)
        return;
    struct pcache_stats ps;
    pcache_get_stats(e->pc, &ps);
    pthread_mutex_lock(&e->mu);
    e->st.pcache_entries = ps.entries;
    e->st.pcache_bytes = ps.bytes;
    e->st.pcache_cap = ps.cap;
    e->st.pcache_saves = ps.saves;
    e->st.pcache_restores = ps.restores;
    e->st.pcache_evictions = ps.evictions;
    pthread_mutex_unlock(&e->mu);
}

static void slot_clear_kv(struct engine *e, struct slot *s)
{
    llama_memory_seq_rm(e->mem, s->id, -1, -1);
    s->n_hist = 0;
}

static void slot_finish(struct engine *e, struct slot *s, enum llm_finish f, enum lair_err err)
{
    struct job *j = s->job;
    double now = now_s();
    double t_first = s->t_first > 0 ? s->t_first : now;
    struct llm_result res = {
        .finish = f,
        .err = err,
        .prompt_tokens = j->n_prompt,
        .cached_tokens = s->n_cached,
        .completion_tokens = s->n_gen,
        .queue_ms = (s->t_start - j->t_submit) * 1e3,
        .prompt_ms = (t_first - s->t_start) * 1e3,
        .gen_ms = s->t_first > 0 ? (now - s->t_first) * 1e3 : 0,
    };
    llama_sampler_free(s->smpl);
    s->smpl = NULL;
    s->job = NULL;
    s->state = SLOT_IDLE;
    s->in_batch = false;
    s->chosen = false;
    s->last_used = ++e->clock;
    e->n_active--;
    pthread_mutex_lock(&e->mu);
    e->st.busy_slots--;
    e->st.prompt_tokens += (uint64_t)j->n_prompt;
    e->st.cached_tokens += (uint64_t)s->n_cached;
    e->st.generated_tokens += (uint64_t)s->n_gen;
    e->st.prompt_seconds += res.prompt_ms / 1e3;
    e->st.gen_seconds += res.gen_ms / 1e3;
    pthread_mutex_unlock(&e->mu);
    /* Stats first: whoever sees the stream finish also sees the slot free. */
    llm_stream_finish(j->stream, &res);
    job_free(j);
}

static void slot_fail(struct engine *e, struct slot *s, enum lair_err err)
{
    slot_finish(e, s, LLM_FINISH_ERROR, err);
    slot_clear_kv(e, s);
}

/* How many of s's history tokens no other sequence and no host-memory entry
 * holds beyond the first keep: what giving s to another prompt loses. */
static int slot_unique_tail(const struct engine *e, const struct slot *s, int keep)
{
    int covered = keep;
    for (int i = 0; i < e->n_seq && covered < s->n_hist; i++) {
        const struct slot *t = &e->slots[i];
        if (t != s && t->n_hist > covered) {
            int l = shared_prefix(s->hist, s->n_hist, &s->ctag, t->hist, t->n_hist, &t->ctag);
            covered = l > covered ? l : covered;
        }
    }
    if (e->pc && covered < s->n_hist) {
        int l = pcache_cover(e->pc, &s->ctag, s->hist, s->n_hist);
        covered = l > covered ? l : covered;
    }
    return s->n_hist - covered;
}

/* Before s's KV past keep is dropped: when that tail is held nowhere else and
 * long enough to be worth it, saves the whole sequence to host memory. A
 * failure only costs the cache entry. */
static void slot_save(struct engine *e, struct slot *s, int keep)
{
    if (!e->pc || s->n_hist - keep < PCACHE_MIN_TOKENS ||
        slot_unique_tail(e, s, keep) < PCACHE_MIN_TOKENS)
        return;
    size_t size = llama_state_seq_get_size(e->ctx, s->id);
    void *state = size ? malloc(size) : NULL;
    if (!state)
        return;
    if (llama_state_seq_get_data(e->ctx, state, size, s->id) != size) {
        free(state);
        return;
    }
    pcache_put(e->pc, &s->ctag, s->hist, s->n_hist, state, size); /* takes state */
    publish_pcache_stats(e);
}

static void slot_drop_tail(struct engine *e, struct slot *s, int keep)
{
    slot_save(e, s, keep);
    if (keep > 0 && llama_memory_seq_rm(e->mem, s->id, keep, -1))
        s->n_hist = keep;
    else
        slot_clear_kv(e, s);
}

/* Restores the host-memory entry pe sharing `common` tokens with the prompt
 * into t's sequence, trimmed to that prefix. False when the cells for it
 * cannot be found (t is left empty); llama.cpp's error line for that is
 * expected here and kept out of the log. */
static bool slot_restore(struct engine *e, struct slot *t, const struct pcache_entry *pe,
                         int common)
{
    slot_clear_kv(e, t);
    quiet_llama_errors = true;
    size_t got = llama_state_seq_set_data(e->ctx, pe->state, pe->size, t->id);
    quiet_llama_errors = false;
    if (got != pe->size) {
        llama_memory_seq_rm(e->mem, t->id, -1, -1);
        return false;
    }
    if (common < pe->n_toks && !llama_memory_seq_rm(e->mem, t->id, common, -1)) {
        slot_clear_kv(e, t);
        return false;
    }
    memcpy(t->hist, pe->toks, (size_t)common * sizeof(*t->hist));
    t->n_hist = common;
    pcache_note_restore(e->pc);
    publish_pcache_stats(e);
    return true;
}

static bool evict_idle(struct engine *e, const struct slot *keep);

/* Restores into t the host-memory entry sharing the longest prefix with the
 * prompt (at most limit tokens) when it beats what the KV cache holds by
 * PCACHE_MIN_GAIN tokens, evicting idle sequences (least recently used
 * first) until it fits. The entry is looked up again after each eviction,
 * since saving the evicted sequence may replace it. */
static bool slot_reuse_saved(struct engine *e, struct slot *t, const struct job *j, int limit,
                             int resident)
{
    if (!e->pc)
        return false;
    bool saved_t = false;
    for (;;) {
        int common;
        const struct pcache_entry *pe = pcache_best(e->pc, &j->ctag, j->prompt, limit, &common);
        if (!pe || common < resident + PCACHE_MIN_GAIN)
            return false;
        if (!saved_t) {
            slot_save(e, t, 0);
            saved_t = true;
            continue; /* the save may have replaced pe */
        }
        if (slot_restore(e, t, pe, common))
            return true;
        if (!evict_idle(e, t))
            return false;
    }
}

/* The prefix of j's prompt that slot s holds and may lend to j. */
static int slot_shares(const struct slot *s, const struct job *j)
{
    return shared_prefix(s->hist, s->n_hist, &s->ctag, j->prompt, j->n_prompt, &j->ctag);
}

/* The longest prefix of the prompt (at most limit tokens) a resident
 * sequence other than t holds; OUT: *src that sequence (NULL when none). */
static int resident_prefix(struct engine *e, const struct slot *t, const struct job *j, int limit,
                           struct slot **src)
{
    int best = 0;
    *src = NULL;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s == t)
            continue;
        int l = imin(slot_shares(s, j), limit);
        if (l > best)
            *src = s, best = l;
    }
    return best;
}

/* Positions the chosen slot's sequence on the longest cached prefix of the
 * prompt: its own history, another sequence's shared into it, or a
 * host-memory entry restored into it. At least the last prompt token is
 * always decoded again, for its logits. */
static void slot_reuse_prefix(struct engine *e, struct slot *t, const struct job *j)
{
    int limit = j->n_prompt - 1;
    struct slot *src;
    if (!e->can_reuse) {
        slot_clear_kv(e, t);
        return;
    }
    int own = imin(slot_shares(t, j), limit);
    int other = resident_prefix(e, t, j, limit, &src);
    if (slot_reuse_saved(e, t, j, limit, own > other ? own : other))
        return;
    /* a failed restore may have evicted sequences and emptied t: look again */
    own = imin(slot_shares(t, j), limit);
    other = resident_prefix(e, t, j, limit, &src);
    if (src && other > own) {
        slot_save(e, t, 0);
        slot_clear_kv(e, t);
        llama_memory_seq_cp(e->mem, src->id, t->id, 0, other);
        memcpy(t->hist, j->prompt, (size_t)other * sizeof(*t->hist));
        t->n_hist = other;
    } else {
        slot_drop_tail(e, t, own);
    }
}

/* The idle slot to give a new request: the one whose reuse loses the fewest
 * cached tokens held nowhere else (an empty slot loses none); among equals
 * the one sharing the longest prefix with the prompt, then the least recently
 * used. So a new conversation does not cut the long system prompt another
 * one left in its slot down to the one template token they share. */
static struct slot *slot_pick(struct engine *e, const struct job *j)
{
    struct slot *best = NULL;
    int best_loss = 0, best_l = 0;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s->state != SLOT_IDLE)
            continue;
        int l = slot_shares(s, j);
        int loss = slot_unique_tail(e, s, l);
        if (!best || loss < best_loss || (loss == best_loss && l > best_l) ||
            (loss == best_loss && l == best_l && s->last_used < best->last_used))
            best = s, best_loss = loss, best_l = l;
    }
    return best;
}

/* Moves idle sequences out of the KV cache, to host memory when worth it.
 * In a unified cache every decode step attends over all cells up to the
 * highest one in use, so an idle sequence's cells slow down every request
 * running (llama-bench on the Qwen2-0.5B-shaped Q8_0 model here: 45 tok/s
 * with an empty cache, 33 with 1,024 cells in use, 25 with 4,096). A
 * sequence whose every cell an active one also holds costs nothing and
 * stays. Without a host cache, idle sequences stay resident as before.
 *
 * Called twice per admission. Before the admitted jobs start (jobs, n_jobs)
 * it keeps the sequences one of them may reuse a prefix of: so the new
 * prompts and any restored prefix take the low cells freed here, instead of
 * landing above sequences about to leave (which would keep the highest cell
 * in use, and every step's cost, up after they left). After they start
 * (n_jobs 0) it moves the rest. */
static void spill_idle(struct engine *e, struct job *const *jobs, int n_jobs)
{
    if (!e->pc)
        return;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s->state != SLOT_IDLE || s->n_hist == 0)
            continue;
        int shared = 0, useful = 0;
        for (int k = 0; k < e->n_seq && shared < s->n_hist; k++) {
            const struct slot *t = &e->slots[k];
            if (t->job) {
                int l = shared_prefix(s->hist, s->n_hist, &s->ctag, t->hist, t->n_hist, &t->ctag);
                shared = l > shared ? l : shared;
            }
        }
        for (int k = 0; k < n_jobs; k++) {
            int l = slot_shares(s, jobs[k]);
            useful = l > useful ? l : useful;
        }
        if (shared < s->n_hist && useful < PCACHE_MIN_GAIN)
            slot_drop_tail(e, s, 0);
    }
}

static void slot_start(struct engine *e, struct job *j, double now)
{
    struct slot *s = slot_pick(e, j);
    s->job = j;
    s->state = SLOT_PROMPT;
    s->n_gen = 0;
    s->t_start = now;
    s->t_first = 0;
    s->served = 0; /* never served: first in its key's turn */
    s->admitted = ++e->admissions;
    s->last_used = ++e->clock;
    e->n_active++;
    slot_reuse_prefix(e, s, j);
    s->ctag = j->ctag; /* what s holds beyond the reused prefix is j's */
    s->n_cached = s->n_hist;
    llm_stream_progress(j->stream, j->n_prompt, 0);
    s->smpl = sampler_new(e, j);
    if (!s->smpl) {
        slot_fail(e, s, LAIR_ENOMEM);
        return;
    }
    /* The repetition penalty also looks at the end of the prompt. */
    if (has_penalties(&j->sampling)) {
        int last_n = j->sampling.repeat_last_n > 0 ? j->sampling.repeat_last_n : 64;
        for (int i = j->n_prompt > last_n ? j->n_prompt - last_n : 0; i < j->n_prompt; i++)
            llama_sampler_accept(s->smpl, j->prompt[i]);
    }
}

/* ---- one step ---- */

static int batch_add(struct llama_batch *b, llama_token t, llama_pos pos, llama_seq_id seq,
                     bool logits)
{
    int i = b->n_tokens++;
    b->token[i] = t;
    b->pos[i] = pos;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = seq;
    b->logits[i] = logits;
    return i;
}

/* Sorts n candidates in before()'s order. Insertion sort: n is a handful of
 * sequences, and the order is usually almost right already. */
static void sort_cand(struct slot **c, int n,
                      bool (*before)(const struct slot *, const struct slot *))
{
    for (int i = 1; i < n; i++) {
        struct slot *x = c[i];
        int k = i;
        for (; k > 0 && before(x, c[k - 1]); k--)
            c[k] = c[k - 1];
        c[k] = x;
    }
}

static bool served_before(const struct slot *a, const struct slot *b)
{
    return a->served < b->served || (a->served == b->served && a->admitted < b->admitted);
}

static bool order_before(const struct slot *a, const struct slot *b)
{
    return a->order < b->order;
}

/* Chooses the active slots that take part in this step: all of them when
 * they are no more than n_slots. Otherwise (a tenant was let in ahead of its
 * turn) the n_slots places go round-robin across fair keys: keys in the order
 * of their least recently served job, one place each per round, and within a
 * key to its least recently served jobs. The others keep their KV and skip
 * the step; since a skipped job is served first next time, every key gets an
 * equal share of the steps and every job of a key an equal share of its key's. */
static void plan_step(struct engine *e)
{
    int n = 0;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        s->chosen = s->job != NULL;
        if (s->chosen)
            e->cand[n++] = s;
    }
    if (n <= e->n_slots)
        return;
    sort_cand(e->cand, n, served_before);
    for (int i = 0; i < n; i++) {
        struct slot *s = e->cand[i];
        int key = i, round = 0;
        /* key: where the key's first job stands; round: its jobs before s */
        for (int k = 0; k < i; k++)
            if (same_key(e->cand[k]->job, s->job) && round++ == 0)
                key = k;
        s->order = round * n + key;
    }
    sort_cand(e->cand, n, order_before);
    for (int i = e->n_slots; i < n; i++)
        e->cand[i]->chosen = false;
}

/* The oldest admitted chosen slot still decoding its prompt and not yet
 * batched. */
static struct slot *next_prompt_slot(struct engine *e)
{
    struct slot *best = NULL;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s->state == SLOT_PROMPT && s->chosen && !s->in_batch &&
            (!best || s->admitted < best->admitted))
            best = s;
    }
    return best;
}

/* Chosen generating slots first (one token each, so streams never stall
 * behind a long prompt), then prompt chunks in admission order up to n_batch. */
static void build_batch(struct engine *e)
{
    struct llama_batch *b = &e->batch;
    b->n_tokens = 0;
    plan_step(e);
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        s->in_batch = s->state == SLOT_GEN && s->chosen;
        s->n_chunk = 0;
        s->i_out = s->in_batch ? batch_add(b, s->next, s->n_hist, s->id, true) : -1;
    }
    struct slot *s;
    while (b->n_tokens < e->n_batch && (s = next_prompt_slot(e))) {
        const struct job *j = s->job;
        int left = j->n_prompt - s->n_hist;
        int n = imin(left, e->n_batch - b->n_tokens);
        for (int k = 0; k < n; k++)
            batch_add(b, j->prompt[s->n_hist + k], s->n_hist + k, s->id, k == left - 1);
        s->in_batch = true;
        s->n_chunk = n;
        s->i_out = n == left ? b->n_tokens - 1 : -1;
    }
}

/* Drops the KV of the least recently used idle slot that still has some
 * (but keep), saving it to host memory first when worth it. */
static bool evict_idle(struct engine *e, const struct slot *keep)
{
    struct slot *v = NULL;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s != keep && s->state == SLOT_IDLE && s->n_hist > 0 &&
            (!v || s->last_used < v->last_used))
            v = s;
    }
    if (v)
        slot_drop_tail(e, v, 0);
    return v != NULL;
}

/* The request to fail when the cells run out: the newest of the key running
 * the most requests, so that a tenant let in ahead of its turn is not the one
 * to pay for another's load. */
static struct slot *kv_victim(struct engine *e)
{
    struct slot *v = NULL;
    int v_count = 0;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (!s->job)
            continue;
        int count = 0;
        for (int k = 0; k < e->n_seq; k++)
            count += e->slots[k].job && same_key(e->slots[k].job, s->job);
        if (count > v_count || (count == v_count && s->admitted > v->admitted))
            v = s, v_count = count;
    }
    return v;
}

/* Decodes this step's batch. When the KV cache is full, idle sequences are
 * evicted (least recently used first), then the newest request of the busiest
 * key is failed, until the batch fits. Returns false when there is nothing to
 * sample. */
static bool decode_step(struct engine *e)
{
    for (;;) {
        build_batch(e);
        if (e->batch.n_tokens == 0)
            return false;
        int r = llama_decode(e->ctx, e->batch);
        if (r == 0) {
            e->steps++;
            return true;
        }
        if (r == 1) {
            if (!evict_idle(e, NULL))
                slot_fail(e, kv_victim(e), LAIR_EBUSY);
            continue;
        }
        for (int i = 0; i < e->n_seq; i++)
            if (e->slots[i].in_batch)
                slot_fail(e, &e->slots[i], LAIR_EMODEL);
        return false;
    }
}

static const char *token_piece(struct engine *e, llama_token t, char *small, int *len)
{
    int n = llama_token_to_piece(e->vocab, t, small, PIECE_SMALL, 0, false);
    if (n >= 0) {
        *len = n;
        return small;
    }
    if (-n > e->piece_cap) {
        char *p = realloc(e->piece, (size_t)-n);
        if (!p) {
            *len = 0;
            return small;
        }
        e->piece = p;
        e->piece_cap = -n;
    }
    n = llama_token_to_piece(e->vocab, t, e->piece, e->piece_cap, 0, false);
    *len = n > 0 ? n : 0;
    return e->piece;
}

static void on_token(struct engine *e, struct slot *s, llama_token t)
{
    struct job *j = s->job;
    s->n_gen++;
    llm_stream_progress(j->stream, j->n_prompt, s->n_gen);
    if (!j->ignore_eos && llama_vocab_is_eog(e->vocab, t)) {
        slot_finish(e, s, LLM_FINISH_STOP, LAIR_OK);
        return;
    }
    char small[PIECE_SMALL];
    int len;
    const char *piece = token_piece(e, t, small, &len);
    if (len > 0 && llm_stream_feed(j->stream, piece, (size_t)len)) {
        slot_finish(e, s, LLM_FINISH_STOP, LAIR_OK);
        return;
    }
    /* n_ctx_slot bounds prompt + output; the last token is never decoded. */
    if ((j->max_tokens > 0 && s->n_gen >= j->max_tokens) ||
        j->n_prompt + s->n_gen >= e->n_ctx_slot) {
        slot_finish(e, s, LLM_FINISH_LENGTH, LAIR_OK);
        return;
    }
    s->next = t;
}

static void after_decode(struct engine *e)
{
    double now = 0;
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (!s->in_batch)
            continue;
        s->in_batch = false;
        s->served = e->steps;
        if (s->state == SLOT_GEN) {
            s->hist[s->n_hist++] = s->next;
        } else {
            memcpy(s->hist + s->n_hist, s->job->prompt + s->n_hist,
                   (size_t)s->n_chunk * sizeof(*s->hist));
            s->n_hist += s->n_chunk;
            if (s->i_out < 0)
                continue;
            s->state = SLOT_GEN;
            s->t_first = now > 0 ? now : (now = now_s());
        }
        on_token(e, s, llama_sampler_sample(s->smpl, e->ctx, s->i_out));
    }
}

static void reap_cancelled(struct engine *e)
{
    for (int i = 0; i < e->n_seq; i++) {
        struct slot *s = &e->slots[i];
        if (s->job && llm_stream_cancelled(s->job->stream))
            slot_finish(e, s, LLM_FINISH_CANCELLED, LAIR_OK);
    }
}

/* True when j's key has a request running or about to start. */
static bool key_running(const struct engine *e, const struct job *j, int n_admit)
{
    for (int i = 0; i < e->n_seq; i++)
        if (e->slots[i].job && same_key(e->slots[i].job, j))
            return true;
    for (int i = 0; i < n_admit; i++)
        if (same_key(e->admit_buf[i], j))
            return true;
    return false;
}

/* The first queued job, in fair order, of a key with nothing running; -1
 * when none. */
static int queue_find_idle_key(const struct engine *e, int n_admit)
{
    int best = -1;
    for (int i = 0; i < e->queue.n; i++) {
        const struct fairq_entry *a = &e->queue.v[i], *b = best >= 0 ? &e->queue.v[best] : NULL;
        if (b && (a->tag > b->tag || (a->tag == b->tag && a->arrival > b->arrival)))
            continue;
        if (!key_running(e, a->item, n_admit))
            best = i;
    }
    return best;
}

static void admit(struct engine *e, struct job *j, int *n_admit, struct job **drop)
{
    if (llm_stream_cancelled(j->stream)) {
        j->next = *drop;
        *drop = j;
    } else {
        e->admit_buf[(*n_admit)++] = j;
    }
}

/* Under e->mu: takes the jobs to start now and the queued jobs whose stream
 * was cancelled. Up to n_slots requests run in turn of the fair queue; beyond
 * that, a key with nothing running is let in at once while a sequence is
 * free, and plan_step makes over-share keys skip steps for it. */
static void take_jobs(struct engine *e, int *n_admit, struct job **drop)
{
    *n_admit = 0;
    if (e->cancel_pending) {
        e->cancel_pending = false;
        queue_purge(e, drop);
    }
    while (e->queue.n > 0 && e->n_active + *n_admit < e->n_slots)
        admit(e, fairq_pop(&e->queue), n_admit, drop);
    int i;
    while (e->n_active + *n_admit < e->n_seq && (i = queue_find_idle_key(e, *n_admit)) >= 0)
        admit(e, fairq_take(&e->queue, i), n_admit, drop);
    e->st.busy_slots += *n_admit;
    e->st.queue_depth = e->queue.n;
}

static void shutdown_all(struct engine *e)
{
    for (int i = 0; i < e->n_seq; i++)
        if (e->slots[i].job)
            slot_finish(e, &e->slots[i], LLM_FINISH_CANCELLED, LAIR_ECANCEL);
    struct job *all = NULL;
    pthread_mutex_lock(&e->mu);
    while (e->queue.n > 0) {
        struct job *j = fairq_take(&e->queue, e->queue.n - 1);
        j->next = all;
        all = j;
    }
    e->st.queue_depth = 0;
    pthread_mutex_unlock(&e->mu);
    finish_list(all, LLM_FINISH_CANCELLED, LAIR_ECANCEL);
}

static void *scheduler(void *arg)
{
    struct engine *e = arg;
    for (;;) {
        int n_admit;
        struct job *dropped = NULL;
        pthread_mutex_lock(&e->mu);
        while (!e->stop && e->n_active == 0 && e->queue.n == 0)
            pthread_cond_wait(&e->cv, &e->mu);
        if (e->stop) {
            pthread_mutex_unlock(&e->mu);
            break;
        }
        take_jobs(e, &n_admit, &dropped);
        pthread_mutex_unlock(&e->mu);

        finish_list(dropped, LLM_FINISH_CANCELLED, LAIR_OK);
        double now = now_s();
        if (n_admit > 0)
            spill_idle(e, e->admit_buf, n_admit);
        for (int i = 0; i < n_admit; i++)
            slot_start(e, e->admit_buf[i], now);
        if (n_admit > 0)
            spill_idle(e, NULL, 0);
        reap_cancelled(e);
        if (e->n_active > 0 && decode_step(e))
            after_decode(e);
    }
    shutdown_all(e);
    return NULL;
}

/* ---- embeddings ---- */

static void l2_normalise(const float *in, float *out, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)in[i] * in[i];
    float scale = sum > 0 ? (float)(1.0 / sqrt(sum)) : 0.0f;
    for (int i = 0; i < n; i++)
        out[i] = in[i] * scale;
}

/* Decodes texts [first, first + count) as one batch, one sequence each. */
static enum lair_err embed_batch(struct engine *e, llama_token **toks, const int *lens,
                                 size_t first, size_t count, float *out)
{
    struct llama_batch *b = &e->ebatch;
    b->n_tokens = 0;
    for (size_t i = 0; i < count; i++)
        for (int k = 0; k < lens[first + i]; k++)
            batch_add(b, toks[first + i][k], k, (llama_seq_id)i, true);
    llama_memory_t mem = llama_get_memory(e->ectx);
    if (mem)
        llama_memory_clear(mem, true);
    if (llama_decode(e->ectx, *b) != 0)
        return LAIR_EMODEL;
    for (size_t i = 0; i < count; i++) {
        const float *v = llama_get_embeddings_seq(e->ectx, (llama_seq_id)i);
        if (!v)
            return LAIR_EMODEL;
        l2_normalise(v, out + (first + i) * (size_t)e->n_embd_out, e->n_embd_out);
    }
    return LAIR_OK;
}

static enum lair_err eng_embed(struct llm_backend *bk, const struct str *texts, size_t n,
                               float *out, int *n_tokens)
{
    struct engine *e = (struct engine *)bk;
    if (!(e->info.kind & LLM_CAN_EMBED))
        return LAIR_EUNSUPPORTED;
    if (n == 0)
        return LAIR_OK;
    llama_token **toks = calloc(n, sizeof(*toks));
    int *lens = calloc(n, sizeof(*lens));
    enum lair_err err = toks && lens ? LAIR_OK : LAIR_ENOMEM;
    int total = 0;
    /* Tokenize outside the lock: only the decode needs the context. */
    for (size_t i = 0; i < n && !err; i++) {
        err = tokenize(e, texts[i], true, &toks[i], &lens[i]);
        if (!err && (lens[i] > e->e_text_max || lens[i] == 0))
            err = lens[i] ? LAIR_ECTX : LAIR_EINVAL;
        total += err ? 0 : lens[i];
    }
    if (!err) {
        pthread_mutex_lock(&e->emu);
        for (size_t i = 0; i < n && !err;) {
            size_t count = 0;
            int used = 0;
            /* a text alone, or short texts together up to EMBED_TOKENS */
            while (i + count < n && count < EMBED_SEQ_MAX && used + lens[i + count] <= e->e_batch &&
                   (count == 0 || used + lens[i + count] <= EMBED_TOKENS))
                used += lens[i + count++];
            err = embed_batch(e, toks, lens, i, count, out);
            i += count;
        }
        pthread_mutex_unlock(&e->emu);
    }
    if (!err && n_tokens)
        *n_tokens = total;
    for (size_t i = 0; toks && i < n; i++)
        free(toks[i]);
    free(toks);
    free(lens);
    return err;
}

/* ---- info, stats, lifecycle ---- */

static void eng_info(struct llm_backend *b, struct llm_model_info *out)
{
    *out = ((struct engine *)b)->info;
}

static int eng_queue_position(struct llm_backend *b, const struct llm_stream *s)
{
    struct engine *e = (struct engine *)b;
    pthread_mutex_lock(&e->mu);
    int pos = fairq_position(&e->queue, s);
    pthread_mutex_unlock(&e->mu);
    return pos;
}

static void eng_stats(struct llm_backend *b, struct llm_stats *out)
{
    struct engine *e = (struct engine *)b;
    pthread_mutex_lock(&e->mu);
    *out = e->st;
    pthread_mutex_unlock(&e->mu);
}

static void eng_free(struct llm_backend *b)
{
    struct engine *e = (struct engine *)b;
    if (e->thread_started) {
        pthread_mutex_lock(&e->mu);
        e->stop = true;
        pthread_cond_signal(&e->cv);
        pthread_mutex_unlock(&e->mu);
        pthread_join(e->thread, NULL);
    }
    for (int i = 0; e->slots && i < e->n_seq; i++) {
        free(e->slots[i].hist);
        llama_sampler_free(e->slots[i].smpl);
    }
    free(e->slots);
    free(e->cand);
    if (e->batch.token)
        llama_batch_free(e->batch);
    if (e->ebatch.token)
        llama_batch_free(e->ebatch);
    if (e->ctx)
        llama_free(e->ctx);
    if (e->ectx)
        llama_free(e->ectx);
    if (e->model)
        llama_model_free(e->model);
    fairq_release(&e->queue);
    free(e->admit_buf);
    free(e->eog_bias);
    free(e->piece);
    free(e->tmpl);
    free(e->ctl);
    pcache_free(e->pc);
    pthread_cond_destroy(&e->cv);
    pthread_mutex_destroy(&e->mu);
    pthread_mutex_destroy(&e->emu);
    free(e);
}

static const struct llm_backend_ops engine_ops = {
    .submit = eng_submit,
    .embed = eng_embed,
    .chat_format = eng_chat_format,
    .count_tokens = eng_count_tokens,
    .info = eng_info,
    .queue_position = eng_queue_position,
    .stats = eng_stats,
    .free = eng_free,
};

static int online_cpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* The GGUF's pooling type ("<arch>.pooling_type"), 0 when absent. */
static int model_pooling(const struct engine *e)
{
    char key[64], val[32];
    if (snprintf(key, sizeof(key), "%s.pooling_type", e->info.arch) >= (int)sizeof(key))
        return 0;
    if (llama_model_meta_val_str(e->model, key, val, sizeof(val)) < 0)
        return 0;
    return (int)strtol(val, NULL, 10);
}

static struct llama_context_params base_params(const struct engine *e)
{
    struct llama_context_params cp = llama_context_default_params();
    cp.n_threads = e->n_threads;
    cp.n_threads_batch = e->n_threads;
    /* Measured slower than the plain attention path on our CPUs; on a GPU
     * llama.cpp decides (it is the faster path there). */
    cp.flash_attn_type = e->n_gpu_layers > 0 ? LLAMA_FLASH_ATTN_TYPE_AUTO
                                             : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    cp.no_perf = true;
    /* One cell pool for all sequences, so that seq_cp shares a prefix. */
    cp.kv_unified = true;
    return cp;
}

static enum lair_err open_embed(struct engine *e)
{
    int train = e->info.n_ctx_train > 0 ? e->info.n_ctx_train : 512;
    int n = imin(train, EMBED_CTX_MAX);
    /* llama.cpp aborts with MEAN pooling unless n_ubatch is a multiple of
     * n_seq_max; and non-causal models need the whole batch in one ubatch. */
    n = (n + EMBED_SEQ_MAX - 1) / EMBED_SEQ_MAX * EMBED_SEQ_MAX;
    struct llama_context_params cp = base_params(e);
    cp.embeddings = true;
    /* An encoder's attention over a whole passage: the flash-attention path
     * is the fast one here (perf: without it 27% of the time went to
     * ggml_vec_dot_f32 for the attention products, and llama-server, which
     * leaves it on auto, embedded 1.5x faster). */
    cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_AUTO;
    cp.n_ctx = (uint32_t)n;
    cp.n_batch = cp.n_ubatch = (uint32_t)n;
    cp.n_seq_max = EMBED_SEQ_MAX;
    e->ectx = llama_init_from_model(e->model, cp);
    if (!e->ectx)
        return LAIR_EMODEL;
    enum llama_pooling_type pt = llama_pooling_type(e->ectx);
    if (pt == LLAMA_POOLING_TYPE_NONE || pt == LLAMA_POOLING_TYPE_RANK)
        return LAIR_EMODEL;
    e->ebatch = llama_batch_init(n, 0, 1);
    e->e_batch = n;
    e->e_text_max = imin(n, train);
    e->n_embd_out = llama_model_n_embd_out(e->model);
    e->info.n_embd = e->n_embd_out;
    e->info.n_ctx_slot = e->e_text_max;
    e->info.kind = LLM_CAN_EMBED;
    return LAIR_OK;
}

static enum lair_err open_generation(struct engine *e, const struct llm_model_opts *o)
{
    int max_seq = (int)llama_max_parallel_sequences();
    e->n_slots = o->n_slots > 0 ? imin(o->n_slots, max_seq) : DEFAULT_SLOTS;
    /* As many sequences again as slots, for tenants let in ahead of their
     * turn (take_jobs); they cost no KV until they hold tokens. */
    e->n_seq = imin(2 * e->n_slots, max_seq);
    e->n_batch = o->n_batch > 0 ? o->n_batch : DEFAULT_BATCH;
    if (e->n_batch < e->n_slots)
        e->n_batch = e->n_slots; /* every generating slot gets its token each step */
    e->queue_max = o->queue_max > 0 ? o->queue_max : DEFAULT_QUEUE;
    int n_ctx;
    if (o->n_ctx > 0) {
        n_ctx = o->n_ctx;
        e->n_ctx_slot = n_ctx / e->n_slots;
    } else {
        int train = e->info.n_ctx_train > 0 ? e->info.n_ctx_train : DEFAULT_SLOT_CTX;
        e->n_ctx_slot = imin(DEFAULT_SLOT_CTX, train);
        n_ctx = e->n_ctx_slot * e->n_slots;
    }
    if (e->n_ctx_slot < 2)
        return LAIR_EINVAL;

    struct llama_context_params cp = base_params(e);
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_batch = (uint32_t)e->n_batch;
    cp.n_ubatch = (uint32_t)imin(e->n_batch, MAX_UBATCH);
    cp.n_seq_max = (uint32_t)e->n_seq;
    e->ctx = llama_init_from_model(e->model, cp);
    if (!e->ctx)
        return LAIR_EMODEL;
    e->mem = llama_get_memory(e->ctx);
    e->can_reuse = !llama_model_is_recurrent(e->model) && !llama_model_is_hybrid(e->model);
    e->batch = llama_batch_init(e->n_batch, 0, 1);

    e->slots = calloc((size_t)e->n_seq, sizeof(*e->slots));
    e->cand = calloc((size_t)e->n_seq, sizeof(*e->cand));
    if (fairq_init(&e->queue, e->queue_max + e->n_slots) != LAIR_OK)
        return LAIR_ENOMEM;
    e->admit_buf = calloc((size_t)e->n_seq, sizeof(*e->admit_buf));
    int n_eog = 0;
    for (llama_token t = 0; t < e->n_vocab; t++)
        n_eog += llama_vocab_is_eog(e->vocab, t);
    e->eog_bias = calloc((size_t)n_eog + 1, sizeof(*e->eog_bias));
    if (!e->slots || !e->cand || !e->admit_buf || !e->eog_bias || !e->batch.token)
        return LAIR_ENOMEM;
    for (int i = 0; i < e->n_seq; i++) {
        e->slots[i].id = i;
        e->slots[i].hist = malloc((size_t)e->n_ctx_slot * sizeof(llama_token));
        if (!e->slots[i].hist)
            return LAIR_ENOMEM;
    }
    /* ignore_eos masks every end-of-generation token rather than letting the
     * model emit one and continue after it. */
    for (llama_token t = 0; t < e->n_vocab; t++)
        if (llama_vocab_is_eog(e->vocab, t))
            e->eog_bias[e->n_eog++] = (llama_logit_bias){t, -INFINITY};

    if (collect_control_tokens(e) != LAIR_OK)
        return LAIR_ENOMEM;
    if (e->can_reuse && o->prompt_cache_mib >= 0) {
        long mib = o->prompt_cache_mib > 0 ? o->prompt_cache_mib : DEFAULT_PCACHE_MIB;
        if (!(e->pc = pcache_new((size_t)mib << 20)))
            return LAIR_ENOMEM;
    }
    e->info.kind = LLM_CAN_CHAT;
    e->info.n_ctx_slot = e->n_ctx_slot;
    e->info.n_embd = llama_model_n_embd(e->model);
    e->st.n_slots = e->n_slots;
    if (pthread_create(&e->thread, NULL, scheduler, e) != 0)
        return LAIR_ENOMEM;
    e->thread_started = true;
    return LAIR_OK;
}

static enum lair_err check_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return LAIR_EIO;
    char magic[4];
    size_t n = fread(magic, 1, sizeof(magic), f);
    fclose(f);
    return n == 4 && memcmp(magic, "GGUF", 4) == 0 ? LAIR_OK : LAIR_EMODEL;
}

static void fill_info(struct engine *e)
{
    struct llm_model_info *in = &e->info;
    in->n_ctx_train = llama_model_n_ctx_train(e->model);
    in->n_params = llama_model_n_params(e->model);
    if (llama_model_meta_val_str(e->model, "general.architecture", in->arch, sizeof(in->arch)) < 0)
        in->arch[0] = 0;
    if (llama_model_desc(e->model, in->desc, sizeof(in->desc)) < 0)
        in->desc[0] = 0;
}

enum lair_err llama_engine_open(const struct llm_model_opts *o, struct llm_backend **out)
{
    enum lair_err err = check_file(o->path);
    if (err)
        return err;
    struct engine *e = calloc(1, sizeof(*e));
    if (!e)
        return LAIR_ENOMEM;
    e->base.ops = &engine_ops;
    pthread_mutex_init(&e->mu, NULL);
    pthread_mutex_init(&e->emu, NULL);
    pthread_cond_init(&e->cv, NULL);
    e->n_threads = o->n_threads > 0 ? o->n_threads : online_cpus();
    e->n_gpu_layers = o->n_gpu_layers;

    struct llama_model_params mp = llama_model_default_params();
    mp.n_gpu_layers = o->n_gpu_layers;
    if (o->n_gpu_layers > 0 && !llama_supports_gpu_offload())
        fprintf(stderr, "libreair: model '%s': this build has no GPU backend (make GPU=cuda); "
                        "its %d GPU layers run on the CPU\n",
                o->name, o->n_gpu_layers);
    e->model = llama_model_load_from_file(o->path, mp);
    if (!e->model) {
        eng_free(&e->base);
        return LAIR_EMODEL;
    }
    e->vocab = llama_model_get_vocab(e->model);
    e->n_vocab = llama_vocab_n_tokens(e->vocab);
    fill_info(e);
    const char *tmpl = llama_model_chat_template(e->model, NULL);
    if (tmpl && !(e->tmpl = strdup(tmpl))) {
        eng_free(&e->base);
        return LAIR_ENOMEM;
    }
    if (model_pooling(e) > 0)
        err = open_embed(e);
    else if (llama_model_has_encoder(e->model) || !llama_model_has_decoder(e->model))
        err = LAIR_EMODEL; /* encoder-decoder generation is not supported */
    else
        err = open_generation(e, o);
    if (err) {
        eng_free(&e->base);
        return err;
    }
    *out = &e->base;
    return LAIR_OK;
}
