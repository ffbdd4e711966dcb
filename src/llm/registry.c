/* The model registry, the llm_* entry points that dispatch to a model's
 * backend, and generation streams: the hand-off between a backend's scheduler
 * thread (producer) and the connection that reads the text (consumer).
 *
 * A stream's text passes through two buffers. `held` belongs to the producer
 * alone: it keeps back bytes that may still turn out to be the start of a stop
 * string or part of an unfinished UTF-8 character. `pending` is shared under
 * the stream's mutex: text the consumer may take. An eventfd is made readable
 * when pending goes from empty to non-empty and when the stream finishes, so
 * the consumer can poll() it with its socket and never spins. */
#include "llm/llm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "llm/backend.h"
#include "llm/llama_engine.h"
#include "llm/upstream.h"

#include "core/banned.h"

/* ---- streams ---- */

struct llm_stream {
    pthread_mutex_t mu;
    int refs; /* under mu: consumer + producer */
    int efd;
    atomic_bool cancelled;
    atomic_int used;       /* tokens processed so far (llm_stream_progress) */
    bool finished;         /* under mu: res is final */
    bool signalled;        /* under mu: efd counter is non-zero */
    bool producer;         /* under mu: producer attached, wake may be called */
    struct buf pending;    /* under mu */
    struct llm_result res; /* under mu */
    llm_stream_wake_fn wake;
    void *wake_arg;

    /* producer only */
    struct buf held;
    bool stopped;
    size_t n_stop;
    struct str *stop; /* points into stop_mem */
    char *stop_mem;
};

static void stream_destroy(struct llm_stream *s)
{
    if (s->efd >= 0)
        close(s->efd);
    buf_release(&s->pending);
    buf_release(&s->held);
    free(s->stop);
    free(s->stop_mem);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static bool stream_unref(struct llm_stream *s)
{
    pthread_mutex_lock(&s->mu);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    return last;
}

enum lair_err llm_stream_new(const struct str *stop, size_t n_stop, llm_stream_wake_fn wake,
                             void *wake_arg, struct llm_stream **out)
{
    struct llm_stream *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    buf_init(&s->pending, 0);
    buf_init(&s->held, 0);
    atomic_init(&s->cancelled, false);
    atomic_init(&s->used, 0);
    s->refs = 2;
    s->producer = true;
    s->wake = wake;
    s->wake_arg = wake_arg;
    s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->efd < 0) {
        stream_destroy(s);
        return LAIR_EIO;
    }
    size_t total = 0;
    for (size_t i = 0; i < n_stop; i++)
        total += stop[i].len;
    if (n_stop) {
        s->stop = calloc(n_stop, sizeof(*s->stop));
        s->stop_mem = malloc(total + 1);
        if (!s->stop || !s->stop_mem) {
            stream_destroy(s);
            return LAIR_ENOMEM;
        }
    }
    size_t off = 0;
    for (size_t i = 0; i < n_stop; i++) {
        if (stop[i].len == 0)
            continue; /* an empty stop string would match everywhere */
        memcpy(s->stop_mem + off, stop[i].ptr, stop[i].len);
        s->stop[s->n_stop++] = (struct str){s->stop_mem + off, stop[i].len};
        off += stop[i].len;
    }
    *out = s;
    return LAIR_OK;
}

static void stream_signal(struct llm_stream *s)
{
    if (s->signalled)
        return;
    uint64_t one = 1;
    /* Cannot fail short of a counter overflow, which signalled prevents. */
    if (write(s->efd, &one, sizeof(one)) == sizeof(one))
        s->signalled = true;
}

/* Length of one well-formed UTF-8 character at p (n bytes available), or 0. */
static size_t utf8_char_len(const unsigned char *p, size_t n)
{
    unsigned c = p[0];
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned min;
    if (c >= 0xC2 && c <= 0xDF)
        need = 2, min = 0x80;
    else if ((c & 0xF0) == 0xE0)
        need = 3, min = 0x800;
    else if (c >= 0xF0 && c <= 0xF4)
        need = 4, min = 0x10000;
    else
        return 0;
    if (n < need)
        return 0;
    unsigned cp = c & (0x7F >> need);
    for (size_t i = 1; i < need; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return need;
}

/* Appends text to pending, each ill-formed byte replaced by U+FFFD so the
 * consumer always gets valid UTF-8 (a model can emit any byte sequence). */
static void pending_append(struct llm_stream *s, const char *text, size_t len)
{
    const unsigned char *p = (const unsigned char *)text;
    size_t start = 0, i = 0;
    while (i < len) {
        size_t n = utf8_char_len(p + i, len - i);
        if (n) {
            i += n;
            continue;
        }
        buf_append(&s->pending, text + start, i - start);
        buf_append(&s->pending, "\xEF\xBF\xBD", 3);
        i++;
        start = i;
    }
    buf_append(&s->pending, text + start, len - start);
}

static void stream_publish(struct llm_stream *s, const char *text, size_t len)
{
    if (len == 0)
        return;
    pthread_mutex_lock(&s->mu);
    pending_append(s, text, len);
    stream_signal(s);
    pthread_mutex_unlock(&s->mu);
}

static void held_consume(struct llm_stream *s, size_t n)
{
    memmove(s->held.ptr, s->held.ptr + n, s->held.len - n);
    s->held.len -= n;
    s->held.ptr[s->held.len] = 0;
}

/* Earliest start of a stop string in held; only matches that end in the bytes
 * added after `old` are new, since older text was already searched. */
static long find_stop(const struct llm_stream *s, size_t old)
{
    long best = -1;
    for (size_t k = 0; k < s->n_stop; k++) {
        size_t len = s->stop[k].len;
        size_t from = old >= len - 1 ? old - (len - 1) : 0;
        struct str hay = {s->held.ptr + from, s->held.len - from};
        long at = str_find(hay, s->stop[k]);
        if (at >= 0 && (best < 0 || (long)from + at < best))
            best = (long)from + at;
    }
    return best;
}

/* Length of the longest suffix of held that is a proper prefix of a stop
 * string: those bytes must wait for the next token. */
static size_t stop_prefix_suffix(const struct llm_stream *s)
{
    size_t keep = 0;
    const char *end = s->held.ptr + s->held.len;
    for (size_t k = 0; k < s->n_stop; k++) {
        size_t l = s->stop[k].len - 1;
        if (l > s->held.len)
            l = s->held.len;
        for (; l > keep; l--) {
            if (memcmp(end - l, s->stop[k].ptr, l) == 0) {
                keep = l;
                break;
            }
        }
    }
    return keep;
}

bool llm_stream_feed(struct llm_stream *s, const char *text, size_t len)
{
    if (s->stopped)
        return true;
    size_t old = s->held.len;
    if (buf_append(&s->held, text, len) != LAIR_OK)
        return false; /* out of memory: drop this piece rather than abort */
    long at = find_stop(s, old);
    if (at >= 0) {
        stream_publish(s, s->held.ptr, (size_t)at);
        buf_reset(&s->held);
        s->stopped = true;
        return true;
    }
    size_t ready = s->held.len - stop_prefix_suffix(s);
    ready = utf8_complete_prefix(s->held.ptr, ready);
    if (ready) {
        stream_publish(s, s->held.ptr, ready);
        held_consume(s, ready);
    }
    return false;
}

bool llm_stream_cancelled(const struct llm_stream *s)
{
    return atomic_load_explicit(&s->cancelled, memory_order_relaxed);
}

void llm_stream_progress(struct llm_stream *s, int prompt_tokens, int completion_tokens)
{
    atomic_store_explicit(&s->used, prompt_tokens + completion_tokens, memory_order_relaxed);
}

int llm_stream_tokens_used(const struct llm_stream *s)
{
    return atomic_load_explicit(&s->used, memory_order_relaxed);
}

void llm_stream_finish(struct llm_stream *s, const struct llm_result *res)
{
    pthread_mutex_lock(&s->mu);
    if (!s->stopped && s->held.len)
        pending_append(s, s->held.ptr, utf8_complete_prefix(s->held.ptr, s->held.len));
    buf_release(&s->held);
    s->res = *res;
    s->finished = true;
    s->producer = false;
    stream_signal(s);
    bool last = --s->refs == 0;
    pthread_mutex_unlock(&s->mu);
    if (last)
        stream_destroy(s);
}

int llm_stream_fd(struct llm_stream *s)
{
    return s->efd;
}

bool llm_stream_take(struct llm_stream *s, struct buf *out, struct llm_result *res)
{
    pthread_mutex_lock(&s->mu);
    bool all = true;
    if (s->pending.len) {
        if (buf_append(out, s->pending.ptr, s->pending.len) == LAIR_OK)
            buf_reset(&s->pending);
        else
            all = false; /* out is full: leave the text for a later call */
    }
    bool done = s->finished && all;
    if (!s->finished && all && s->signalled) {
        uint64_t v;
        /* Non-blocking: resets the counter so poll() sleeps until the next signal. */
        if (read(s->efd, &v, sizeof(v)) == sizeof(v) || errno == EAGAIN)
            s->signalled = false;
    }
    if (done && res)
        *res = s->res;
    pthread_mutex_unlock(&s->mu);
    return done;
}

void llm_stream_cancel(struct llm_stream *s)
{
    pthread_mutex_lock(&s->mu);
    if (!s->finished && !atomic_load(&s->cancelled)) {
        atomic_store(&s->cancelled, true);
        /* Called under the stream lock: the producer cannot finish (and so the
         * backend cannot go away) while the wake runs. */
        if (s->producer && s->wake)
            s->wake(s->wake_arg);
    }
    pthread_mutex_unlock(&s->mu);
}

void llm_stream_free(struct llm_stream *s)
{
    if (!s)
        return;
    llm_stream_cancel(s);
    if (stream_unref(s))
        stream_destroy(s);
}

/* ---- registry ---- */

struct llm_model {
    char *name;
    struct llm_backend *b;
};

struct llm_registry {
    pthread_mutex_t mu;
    struct llm_model **models;
    size_t n, cap;
};

struct llm_registry *llm_registry_new(void)
{
    llm_global_init();
    struct llm_registry *r = calloc(1, sizeof(*r));
    if (r)
        pthread_mutex_init(&r->mu, NULL);
    return r;
}

void llm_registry_free(struct llm_registry *r)
{
    if (!r)
        return;
    /* Newest first: nothing depends on load order, but it mirrors loading. */
    for (size_t i = r->n; i-- > 0;) {
        struct llm_model *m = r->models[i];
        m->b->ops->free(m->b);
        free(m->name);
        free(m);
    }
    free(r->models);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static struct llm_model *find_locked(struct llm_registry *r, struct str name)
{
    for (size_t i = 0; i < r->n; i++)
        if (str_eq_c(name, r->models[i]->name))
            return r->models[i];
    return NULL;
}

enum lair_err llm_registry_add(struct llm_registry *r, const char *name, struct llm_backend *b)
{
    struct llm_model *m = calloc(1, sizeof(*m));
    char *copy = strdup(name);
    if (!m || !copy) {
        free(m);
        free(copy);
        return LAIR_ENOMEM;
    }
    m->name = copy;
    m->b = b;
    enum lair_err err = LAIR_OK;
    pthread_mutex_lock(&r->mu);
    if (find_locked(r, str_c(name))) {
        err = LAIR_ECONFLICT;
    } else if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4;
        struct llm_model **p = realloc(r->models, cap * sizeof(*p));
        if (p) {
            r->models = p;
            r->cap = cap;
        } else {
            err = LAIR_ENOMEM;
        }
    }
    if (!err)
        r->models[r->n++] = m;
    pthread_mutex_unlock(&r->mu);
    if (err) {
        free(m->name);
        free(m);
    }
    return err;
}

static enum lair_err open_gguf(struct llm_registry *r, const struct llm_model_opts *o,
                               struct llm_backend **out)
{
    (void)r;
    return o->path ? llama_engine_open(o, out) : LAIR_EINVAL;
}

static enum lair_err open_upstream(struct llm_registry *r, const struct llm_model_opts *o,
                                   struct llm_backend **out)
{
    return o->n_upstreams ? upstream_pool_open(r, o, out) : LAIR_EINVAL;
}

/* The backends by kind: the only place that names one. */
static const struct {
    const char *kind;
    enum lair_err (*open)(struct llm_registry *r, const struct llm_model_opts *o,
                          struct llm_backend **out);
} backends[] = {
    {"gguf", open_gguf},
    {"upstream", open_upstream},
};

enum lair_err llm_registry_load(struct llm_registry *r, const struct llm_model_opts *o)
{
    if (!o || !o->name || !o->name[0])
        return LAIR_EINVAL;
    const char *kind = o->kind ? o->kind : o->n_upstreams ? "upstream" : "gguf";
    size_t k = 0;
    while (k < sizeof(backends) / sizeof(backends[0]) && strcmp(backends[k].kind, kind))
        k++;
    if (k == sizeof(backends) / sizeof(backends[0]))
        return LAIR_EINVAL;
    pthread_mutex_lock(&r->mu);
    bool taken = find_locked(r, str_c(o->name)) != NULL;
    pthread_mutex_unlock(&r->mu);
    if (taken)
        return LAIR_ECONFLICT; /* before spending seconds loading weights */
    struct llm_backend *b;
    enum lair_err err = backends[k].open(r, o, &b);
    if (err)
        return err;
    err = llm_registry_add(r, o->name, b);
    if (err)
        b->ops->free(b);
    return err;
}

enum lair_err llm_registry_reload(struct llm_registry *r, const struct llm_model_opts *o)
{
    struct llm_model *m = o && o->name ? llm_registry_find(r, str_c(o->name)) : NULL;
    if (!m)
        return LAIR_ENOTFOUND;
    return m->b->ops->reload ? m->b->ops->reload(m->b, o) : LAIR_EUNSUPPORTED;
}

struct llm_model *llm_registry_find(struct llm_registry *r, struct str name)
{
    pthread_mutex_lock(&r->mu);
    struct llm_model *m = find_locked(r, name);
    pthread_mutex_unlock(&r->mu);
    return m;
}

size_t llm_registry_count(struct llm_registry *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

struct llm_model *llm_registry_at(struct llm_registry *r, size_t i)
{
    pthread_mutex_lock(&r->mu);
    struct llm_model *m = i < r->n ? r->models[i] : NULL;
    pthread_mutex_unlock(&r->mu);
    return m;
}

/* ---- one model ---- */

const char *llm_model_name(const struct llm_model *m)
{
    return m->name;
}

void llm_model_get_info(const struct llm_model *m, struct llm_model_info *out)
{
    memset(out, 0, sizeof(*out));
    m->b->ops->info(m->b, out);
}

void llm_model_get_stats(struct llm_model *m, struct llm_stats *out)
{
    memset(out, 0, sizeof(*out));
    m->b->ops->stats(m->b, out);
}

enum lair_err llm_chatml_format(const struct llm_message *msgs, size_t n, bool add_assistant,
                                struct buf *out)
{
    enum lair_err err = LAIR_OK;
    for (size_t i = 0; i < n && !err; i++)
        err = buf_printf(out, "<|im_start|>" STR_FMT "\n" STR_FMT "<|im_end|>\n",
                         STR_ARG(msgs[i].role), STR_ARG(msgs[i].content));
    if (!err && add_assistant)
        err = buf_puts(out, "<|im_start|>assistant\n");
    return err;
}

enum lair_err llm_chat_format(struct llm_model *m, const struct llm_message *msgs, size_t n,
                              bool add_assistant, struct buf *out)
{
    if (m->b->ops->chat_format)
        return m->b->ops->chat_format(m->b, msgs, n, add_assistant, out);
    return llm_chatml_format(msgs, n, add_assistant, out);
}

enum lair_err llm_count_tokens(struct llm_model *m, struct str text, int *out)
{
    return m->b->ops->count_tokens(m->b, text, out);
}

void llm_privacy_release(struct llm_privacy *p)
{
    if (p->ops && p->ops->free)
        p->ops->free(p->ctx);
    p->ops = NULL;
    p->ctx = NULL;
}

void llm_model_metrics(struct llm_model *m, struct buf *out)
{
    if (m->b->ops->metrics)
        m->b->ops->metrics(m->b, m->name, out);
}

void llm_model_upstreams_json(struct llm_model *m, struct buf *out)
{
    if (m->b->ops->describe)
        m->b->ops->describe(m->b, out);
    else
        buf_puts(out, "[]");
}

int llm_queue_position(struct llm_model *m, const struct llm_stream *s)
{
    return m->b->ops->queue_position ? m->b->ops->queue_position(m->b, s) : 0;
}

enum lair_err llm_submit(struct llm_model *m, const struct llm_request *req,
                         struct llm_stream **out)
{
    *out = NULL;
    return m->b->ops->submit(m->b, req, out);
}

enum lair_err llm_embed(struct llm_model *m, const struct str *texts, size_t n, float *out,
                        int *n_tokens)
{
    if (n_tokens)
        *n_tokens = 0;
    if (!m->b->ops->embed)
        return LAIR_EUNSUPPORTED;
    return m->b->ops->embed(m->b, texts, n, out, n_tokens);
}

void llm_sampling_defaults(struct llm_sampling *s)
{
    *s = (struct llm_sampling){
        .temperature = 0.8f,
        .top_p = 0.95f,
        .top_k = 40,
        .min_p = 0.05f,
        .repeat_penalty = 1.0f,
        .repeat_last_n = 64,
        .has_seed = false,
        .seed = 0,
    };
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;

static void global_init_once(void)
{
    llama_engine_global_init();
}

void llm_global_init(void)
{
    pthread_once(&global_once, global_init_once);
}
