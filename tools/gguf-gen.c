/* gguf-gen: writes random-weight GGUF models of a real architecture (llama,
 * qwen2, bert) and a chosen size, with a real tokenizer copied from one of
 * llama.cpp's models/ggml-vocab-*.gguf files. The text such a model writes is
 * meaningless, but loading, memory and speed are those of a trained model of
 * the same shape: the test suite uses the tiny presets so that it needs
 * nothing from outside the checkout, and the benchmarks use qwen2-0.5b.
 *
 * Weights are deterministic for a given seed (one generator per tensor, seeded
 * from the seed and the tensor's name), so the same command writes the same
 * bytes. The file is streamed: metadata first, then each tensor in chunks, so
 * a 1 GB model needs a few MB of memory. Tensor names and shapes follow what
 * the pinned llama.cpp creates in src/models/{llama,qwen2,bert}.cpp. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ggml.h>
#include <gguf.h>
#include <llama.h>

#include "core/banned.h"

#define WEIGHT_STD 0.02f
#define CHUNK_ELEMS ((size_t)1 << 20)
#define PROGRESS_MIN_BYTES ((uint64_t)64 << 20)

/* Plain ChatML, the format Qwen2 instruct models were trained on. */
static const char chatml_template[] =
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

enum arch { ARCH_LLAMA, ARCH_QWEN2, ARCH_BERT, ARCH_COUNT };

struct arch_info {
    const char *name;  /* general.architecture and the key prefix */
    const char *vocab; /* default vocabulary in llama.cpp's models/ */
    bool causal;
    float norm_eps; /* RMS norm (causal) or layer norm (bert) */
    float rope_base;
};

static const struct arch_info arches[ARCH_COUNT] = {
    [ARCH_LLAMA] = {"llama", "ggml-vocab-llama-spm.gguf", true, 1e-5f, 10000.0f},
    [ARCH_QWEN2] = {"qwen2", "ggml-vocab-qwen2.gguf", true, 1e-6f, 1000000.0f},
    [ARCH_BERT] = {"bert", "ggml-vocab-bert-bge.gguf", false, 1e-12f, 10000.0f},
};

enum tmpl_mode { TMPL_KEEP, TMPL_NONE, TMPL_CHATML, TMPL_FILE };

/* Everything that decides the model written. */
struct spec {
    const char *name; /* general.name */
    enum arch arch;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_base;
    enum ggml_type wtype; /* matrices; norms, biases and bert's small tables stay f32 */
    bool tied;            /* no output.weight: the output reuses token_embd */
    enum llama_pooling_type pooling;
    enum tmpl_mode tmpl;
    const char *tmpl_file;
    uint64_t seed;
};

struct preset {
    const char *name;
    const char *about;
    struct spec spec;
};

static const struct preset presets[] = {
    {"tiny-llama",
     "Llama, SentencePiece 32k vocab, 2 layers, ~5 MB",
     {.name = "tiny-llama",
      .arch = ARCH_LLAMA,
      .n_embd = 64,
      .n_layer = 2,
      .n_head = 4,
      .n_head_kv = 2,
      .n_ff = 192,
      .n_ctx = 2048,
      .rope_base = 10000.0f,
      .wtype = GGML_TYPE_F16,
      .tied = true,
      .seed = 1}},
    {"tiny-qwen2",
     "Qwen2, 152k BPE vocab, ChatML template, 2 layers, ~26 MB",
     {.name = "tiny-qwen2",
      .arch = ARCH_QWEN2,
      .n_embd = 64,
      .n_layer = 2,
      .n_head = 4,
      .n_head_kv = 2,
      .n_ff = 192,
      .n_ctx = 4096,
      .rope_base = 1000000.0f,
      .wtype = GGML_TYPE_F16,
      .tied = true,
      .tmpl = TMPL_CHATML,
      .seed = 1}},
    {"tiny-bert",
     "BERT embedding model, bge WordPiece vocab, mean pooling, 2 layers, ~5 MB",
     {.name = "tiny-bert",
      .arch = ARCH_BERT,
      .n_embd = 64,
      .n_layer = 2,
      .n_head = 4,
      .n_head_kv = 4,
      .n_ff = 256,
      .n_ctx = 512,
      .rope_base = 10000.0f,
      .wtype = GGML_TYPE_F16,
      .pooling = LLAMA_POOLING_TYPE_MEAN,
      .seed = 1}},
    {"qwen2-0.5b",
     "Qwen2-0.5B shape (494M parameters), ChatML template, f16 ~1 GB",
     {.name = "qwen2-0.5b",
      .arch = ARCH_QWEN2,
      .n_embd = 896,
      .n_layer = 24,
      .n_head = 14,
      .n_head_kv = 2,
      .n_ff = 4864,
      .n_ctx = 32768,
      .rope_base = 1000000.0f,
      .wtype = GGML_TYPE_F16,
      .tied = true,
      .tmpl = TMPL_CHATML,
      .seed = 1}},
};

#define N_PRESETS (sizeof(presets) / sizeof(presets[0]))

/* ---- the tensors a spec needs ------------------------------------------------ */

enum fill { FILL_RANDOM, FILL_ONES, FILL_ZEROS };

struct tensor_plan {
    char name[GGML_MAX_NAME];
    int64_t ne[2];
    int n_dims;
    enum ggml_type type;
    enum fill fill;
};

struct plan {
    struct tensor_plan *t;
    size_t n, cap;
};

static void die_oom(void)
{
    fprintf(stderr, "gguf-gen: out of memory\n");
    exit(1);
}

static void plan_add(struct plan *p, enum fill fill, enum ggml_type type, int64_t ne0, int64_t ne1,
                     const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* ne1 == 0 means a vector; vectors (norms, biases) are always f32. */
static void plan_add(struct plan *p, enum fill fill, enum ggml_type type, int64_t ne0, int64_t ne1,
                     const char *fmt, ...)
{
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        struct tensor_plan *t = realloc(p->t, cap * sizeof(*t));
        if (!t)
            die_oom();
        p->t = t;
        p->cap = cap;
    }
    struct tensor_plan *t = &p->t[p->n++];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof(t->name), fmt, ap);
    va_end(ap);
    t->ne[0] = ne0;
    t->ne[1] = ne1 ? ne1 : 1;
    t->n_dims = ne1 ? 2 : 1;
    t->type = ne1 ? type : GGML_TYPE_F32;
    t->fill = fill;
}

static void plan_decoder(struct plan *p, const struct spec *s, int64_t n_vocab)
{
    const int64_t d = s->n_embd, ff = s->n_ff;
    const int64_t d_kv = d / s->n_head * s->n_head_kv;
    const enum ggml_type w = s->wtype;

    plan_add(p, FILL_RANDOM, w, d, n_vocab, "token_embd.weight");
    for (int i = 0; i < s->n_layer; i++) {
        plan_add(p, FILL_ONES, w, d, 0, "blk.%d.attn_norm.weight", i);
        plan_add(p, FILL_RANDOM, w, d, d, "blk.%d.attn_q.weight", i);
        plan_add(p, FILL_RANDOM, w, d, d_kv, "blk.%d.attn_k.weight", i);
        plan_add(p, FILL_RANDOM, w, d, d_kv, "blk.%d.attn_v.weight", i);
        if (s->arch == ARCH_QWEN2) {
            plan_add(p, FILL_RANDOM, w, d, 0, "blk.%d.attn_q.bias", i);
            plan_add(p, FILL_RANDOM, w, d_kv, 0, "blk.%d.attn_k.bias", i);
            plan_add(p, FILL_RANDOM, w, d_kv, 0, "blk.%d.attn_v.bias", i);
        }
        plan_add(p, FILL_RANDOM, w, d, d, "blk.%d.attn_output.weight", i);
        plan_add(p, FILL_ONES, w, d, 0, "blk.%d.ffn_norm.weight", i);
        plan_add(p, FILL_RANDOM, w, d, ff, "blk.%d.ffn_gate.weight", i);
        plan_add(p, FILL_RANDOM, w, ff, d, "blk.%d.ffn_down.weight", i);
        plan_add(p, FILL_RANDOM, w, d, ff, "blk.%d.ffn_up.weight", i);
    }
    plan_add(p, FILL_ONES, w, d, 0, "output_norm.weight");
    if (!s->tied)
        plan_add(p, FILL_RANDOM, w, d, n_vocab, "output.weight");
}

static void plan_bert(struct plan *p, const struct spec *s, int64_t n_vocab, int64_t n_types)
{
    const int64_t d = s->n_embd, ff = s->n_ff;
    const enum ggml_type w = s->wtype;

    plan_add(p, FILL_RANDOM, w, d, n_vocab, "token_embd.weight");
    /* Gathered by row and added to f32 activations: kept f32 like llama.cpp's
     * converter does. */
    plan_add(p, FILL_RANDOM, GGML_TYPE_F32, d, n_types, "token_types.weight");
    plan_add(p, FILL_RANDOM, GGML_TYPE_F32, d, s->n_ctx, "position_embd.weight");
    plan_add(p, FILL_ONES, w, d, 0, "token_embd_norm.weight");
    plan_add(p, FILL_ZEROS, w, d, 0, "token_embd_norm.bias");
    for (int i = 0; i < s->n_layer; i++) {
        static const char *const qkv[] = {"q", "k", "v"};
        for (int j = 0; j < 3; j++) {
            plan_add(p, FILL_RANDOM, w, d, d, "blk.%d.attn_%s.weight", i, qkv[j]);
            plan_add(p, FILL_RANDOM, w, d, 0, "blk.%d.attn_%s.bias", i, qkv[j]);
        }
        plan_add(p, FILL_RANDOM, w, d, d, "blk.%d.attn_output.weight", i);
        plan_add(p, FILL_RANDOM, w, d, 0, "blk.%d.attn_output.bias", i);
        plan_add(p, FILL_ONES, w, d, 0, "blk.%d.attn_output_norm.weight", i);
        plan_add(p, FILL_ZEROS, w, d, 0, "blk.%d.attn_output_norm.bias", i);
        plan_add(p, FILL_RANDOM, w, d, ff, "blk.%d.ffn_up.weight", i);
        plan_add(p, FILL_RANDOM, w, ff, 0, "blk.%d.ffn_up.bias", i);
        plan_add(p, FILL_RANDOM, w, ff, d, "blk.%d.ffn_down.weight", i);
        plan_add(p, FILL_RANDOM, w, d, 0, "blk.%d.ffn_down.bias", i);
        plan_add(p, FILL_ONES, w, d, 0, "blk.%d.layer_output_norm.weight", i);
        plan_add(p, FILL_ZEROS, w, d, 0, "blk.%d.layer_output_norm.bias", i);
    }
}

/* ---- metadata -------------------------------------------------------------- */

static void set_u32(struct gguf_context *g, const struct spec *s, const char *key, uint32_t v)
{
    char k[128];
    snprintf(k, sizeof(k), "%s.%s", arches[s->arch].name, key);
    gguf_set_val_u32(g, k, v);
}

static void set_f32(struct gguf_context *g, const struct spec *s, const char *key, float v)
{
    char k[128];
    snprintf(k, sizeof(k), "%s.%s", arches[s->arch].name, key);
    gguf_set_val_f32(g, k, v);
}

static void set_hparams(struct gguf_context *g, const struct spec *s, uint32_t n_vocab)
{
    const struct arch_info *a = &arches[s->arch];

    gguf_set_val_str(g, "general.architecture", a->name);
    gguf_set_val_str(g, "general.name", s->name);
    gguf_set_val_u32(g, "general.file_type",
                     s->wtype == GGML_TYPE_F16 ? LLAMA_FTYPE_MOSTLY_F16 : LLAMA_FTYPE_ALL_F32);
    set_u32(g, s, "vocab_size", n_vocab);
    set_u32(g, s, "context_length", (uint32_t)s->n_ctx);
    set_u32(g, s, "embedding_length", (uint32_t)s->n_embd);
    set_u32(g, s, "block_count", (uint32_t)s->n_layer);
    set_u32(g, s, "feed_forward_length", (uint32_t)s->n_ff);
    set_u32(g, s, "attention.head_count", (uint32_t)s->n_head);
    set_u32(g, s, "attention.head_count_kv", (uint32_t)s->n_head_kv);
    if (a->causal) {
        set_f32(g, s, "attention.layer_norm_rms_epsilon", a->norm_eps);
        set_f32(g, s, "rope.freq_base", s->rope_base);
        set_u32(g, s, "rope.dimension_count", (uint32_t)(s->n_embd / s->n_head));
    } else {
        set_f32(g, s, "attention.layer_norm_epsilon", a->norm_eps);
        char k[128];
        snprintf(k, sizeof(k), "%s.attention.causal", a->name);
        gguf_set_val_bool(g, k, false);
        set_u32(g, s, "pooling_type", (uint32_t)s->pooling);
    }
}

/* Copies one scalar or array key; returns false for types it cannot copy
 * (arrays of arrays, which no tokenizer uses). */
static bool copy_kv(struct gguf_context *dst, const struct gguf_context *src, int64_t i)
{
    const char *key = gguf_get_key(src, i);

    switch (gguf_get_kv_type(src, i)) {
    case GGUF_TYPE_UINT8:
        gguf_set_val_u8(dst, key, gguf_get_val_u8(src, i));
        break;
    case GGUF_TYPE_INT8:
        gguf_set_val_i8(dst, key, gguf_get_val_i8(src, i));
        break;
    case GGUF_TYPE_UINT16:
        gguf_set_val_u16(dst, key, gguf_get_val_u16(src, i));
        break;
    case GGUF_TYPE_INT16:
        gguf_set_val_i16(dst, key, gguf_get_val_i16(src, i));
        break;
    case GGUF_TYPE_UINT32:
        gguf_set_val_u32(dst, key, gguf_get_val_u32(src, i));
        break;
    case GGUF_TYPE_INT32:
        gguf_set_val_i32(dst, key, gguf_get_val_i32(src, i));
        break;
    case GGUF_TYPE_FLOAT32:
        gguf_set_val_f32(dst, key, gguf_get_val_f32(src, i));
        break;
    case GGUF_TYPE_UINT64:
        gguf_set_val_u64(dst, key, gguf_get_val_u64(src, i));
        break;
    case GGUF_TYPE_INT64:
        gguf_set_val_i64(dst, key, gguf_get_val_i64(src, i));
        break;
    case GGUF_TYPE_FLOAT64:
        gguf_set_val_f64(dst, key, gguf_get_val_f64(src, i));
        break;
    case GGUF_TYPE_BOOL:
        gguf_set_val_bool(dst, key, gguf_get_val_bool(src, i));
        break;
    case GGUF_TYPE_STRING:
        gguf_set_val_str(dst, key, gguf_get_val_str(src, i));
        break;
    case GGUF_TYPE_ARRAY: {
        enum gguf_type at = gguf_get_arr_type(src, i);
        size_t n = gguf_get_arr_n(src, i);
        if (at == GGUF_TYPE_ARRAY)
            return false;
        if (at != GGUF_TYPE_STRING) {
            gguf_set_arr_data(dst, key, at, gguf_get_arr_data(src, i), n);
            break;
        }
        const char **strs = malloc((n ? n : 1) * sizeof(*strs));
        if (!strs)
            die_oom();
        for (size_t j = 0; j < n; j++)
            strs[j] = gguf_get_arr_str(src, i, j);
        gguf_set_arr_str(dst, key, strs, n);
        free(strs);
        break;
    }
    default:
        return false;
    }
    return true;
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (cap - len < 4096) {
            cap = cap ? cap * 2 : 8192;
            char *b = realloc(buf, cap);
            if (!b)
                die_oom();
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0)
            break;
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return NULL;
    }
    buf[len] = '\0';
    return buf;
}

/* Opens a vocabulary file (metadata only). OUT: *n_vocab, *n_types (BERT
 * token types, 0 when the file does not say). OWNED (free with gguf_free). */
static struct gguf_context *open_vocab(const char *path, uint32_t *n_vocab, uint32_t *n_types)
{
    struct gguf_init_params ip = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *v = gguf_init_from_file(path, ip);
    if (!v) {
        fprintf(stderr, "gguf-gen: cannot read vocabulary %s\n", path);
        return NULL;
    }
    int64_t tok = gguf_find_key(v, "tokenizer.ggml.tokens");
    if (tok < 0 || gguf_get_kv_type(v, tok) != GGUF_TYPE_ARRAY) {
        fprintf(stderr, "gguf-gen: %s has no tokenizer.ggml.tokens\n", path);
        gguf_free(v);
        return NULL;
    }
    *n_vocab = (uint32_t)gguf_get_arr_n(v, tok);
    int64_t tt = gguf_find_key(v, "tokenizer.ggml.token_type_count");
    *n_types = tt >= 0 && gguf_get_kv_type(v, tt) == GGUF_TYPE_UINT32 ? gguf_get_val_u32(v, tt) : 0;
    return v;
}

/* Copies every tokenizer.* key from the vocabulary, then applies the chat
 * template choice. */
static int copy_tokenizer(struct gguf_context *g, const struct gguf_context *v,
                          const struct spec *s, uint32_t n_types)
{
    for (int64_t i = 0; i < gguf_get_n_kv(v); i++) {
        const char *key = gguf_get_key(v, i);
        if (strncmp(key, "tokenizer.", 10) != 0)
            continue;
        if (!copy_kv(g, v, i))
            fprintf(stderr, "gguf-gen: skipping %s (unsupported type)\n", key);
    }
    if (s->arch == ARCH_BERT && gguf_find_key(g, "tokenizer.ggml.token_type_count") < 0)
        gguf_set_val_u32(g, "tokenizer.ggml.token_type_count", n_types);

    switch (s->tmpl) {
    case TMPL_KEEP:
        break;
    case TMPL_NONE:
        gguf_remove_key(g, "tokenizer.chat_template");
        break;
    case TMPL_CHATML:
        gguf_set_val_str(g, "tokenizer.chat_template", chatml_template);
        break;
    case TMPL_FILE: {
        char *text = read_file(s->tmpl_file);
        if (!text) {
            fprintf(stderr, "gguf-gen: cannot read chat template %s: %s\n", s->tmpl_file,
                    strerror(errno));
            return 1;
        }
        gguf_set_val_str(g, "tokenizer.chat_template", text);
        free(text);
        break;
    }
    }
    return 0;
}

/* ---- weights ------------------------------------------------------------------ */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t name_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

struct rng {
    uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
    /* xorshift64* */
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dULL;
}

/* Near-normal with the given std: the sum of four 16-bit uniforms (Irwin-Hall),
 * centred and scaled. Bounded to ±3.46 std, which keeps activations tame. */
static void fill_random(struct rng *r, float *out, size_t n, float std)
{
    const float scale = std * 1.7320508f / 65536.0f; /* sqrt(12 / 4) */
    for (size_t i = 0; i < n; i++) {
        uint64_t x = rng_next(r);
        float sum = (float)(x & 0xffff) + (float)((x >> 16) & 0xffff) +
                    (float)((x >> 32) & 0xffff) + (float)(x >> 48);
        out[i] = (sum - 2.0f * 65535.5f) * scale;
    }
}

struct writer {
    FILE *f;
    const char *path;
    float *f32;
    ggml_fp16_t *f16;
    uint64_t total, done;
    int last_pct;
    bool progress, tty;
};

static int write_bytes(struct writer *w, const void *p, size_t n)
{
    if (n && fwrite(p, 1, n, w->f) != n) {
        fprintf(stderr, "gguf-gen: write %s: %s\n", w->path, strerror(errno));
        return 1;
    }
    w->done += n;
    if (w->progress && w->total) {
        int pct = (int)(w->done * 100 / w->total);
        if (pct != w->last_pct && (w->tty || pct % 10 == 0)) {
            fprintf(stderr, "%sgguf-gen: %3d%% (%" PRIu64 " / %" PRIu64 " MB)%s",
                    w->tty ? "\r" : "", pct, w->done >> 20, w->total >> 20, w->tty ? "" : "\n");
            w->last_pct = pct;
        }
    }
    return 0;
}

static int write_tensor(struct writer *w, const struct tensor_plan *t, uint64_t seed,
                        size_t alignment)
{
    struct rng r;
    uint64_t sm = seed ^ name_hash(t->name);
    r.s = splitmix64(&sm) | 1;

    size_t total = (size_t)(t->ne[0] * t->ne[1]);
    for (size_t off = 0; off < total; off += CHUNK_ELEMS) {
        size_t n = total - off < CHUNK_ELEMS ? total - off : CHUNK_ELEMS;
        switch (t->fill) {
        case FILL_RANDOM:
            fill_random(&r, w->f32, n, WEIGHT_STD);
            break;
        case FILL_ONES:
            for (size_t i = 0; i < n; i++)
                w->f32[i] = 1.0f;
            break;
        case FILL_ZEROS:
            memset(w->f32, 0, n * sizeof(float));
            break;
        }
        int rc;
        if (t->type == GGML_TYPE_F16) {
            ggml_fp32_to_fp16_row(w->f32, w->f16, (int64_t)n);
            rc = write_bytes(w, w->f16, n * sizeof(ggml_fp16_t));
        } else {
            rc = write_bytes(w, w->f32, n * sizeof(float));
        }
        if (rc)
            return rc;
    }
    size_t nbytes = total * ggml_type_size(t->type);
    static const char zeros[64];
    size_t pad = (alignment - nbytes % alignment) % alignment;
    while (pad) {
        size_t k = pad < sizeof(zeros) ? pad : sizeof(zeros);
        if (write_bytes(w, zeros, k))
            return 1;
        pad -= k;
    }
    return 0;
}

/* ---- the whole file ------------------------------------------------------------- */

/* Registers each planned tensor's name, type and shape with the GGUF writer
 * (no data: ggml tensors in a no_alloc context). */
static void add_tensor_infos(struct gguf_context *g, const struct plan *p)
{
    struct ggml_init_params cp = {
        .mem_size = (p->n + 1) * ggml_tensor_overhead(),
        .mem_buffer = NULL,
        .no_alloc = true,
    };
    struct ggml_context *ctx = ggml_init(cp);
    if (!ctx)
        die_oom();
    for (size_t i = 0; i < p->n; i++) {
        const struct tensor_plan *t = &p->t[i];
        struct ggml_tensor *x = t->n_dims == 1
                                    ? ggml_new_tensor_1d(ctx, t->type, t->ne[0])
                                    : ggml_new_tensor_2d(ctx, t->type, t->ne[0], t->ne[1]);
        ggml_set_name(x, t->name);
        gguf_add_tensor(g, x);
    }
    ggml_free(ctx);
}

/* Fills G with the metadata and tensor infos for S, and P with the tensors to
 * write. OUT: *n_vocab. */
static int build_meta(const struct spec *s, const char *vocab_path, struct gguf_context *g,
                      struct plan *p, uint32_t *n_vocab)
{
    uint32_t n_types = 0;
    struct gguf_context *v = open_vocab(vocab_path, n_vocab, &n_types);
    if (!v)
        return 1;
    if (s->arch == ARCH_BERT && n_types == 0)
        n_types = 2; /* BERT loading needs a token type count: sentence A and B */
    set_hparams(g, s, *n_vocab);
    int rc = copy_tokenizer(g, v, s, n_types);
    gguf_free(v);
    if (rc)
        return rc;

    if (s->arch == ARCH_BERT)
        plan_bert(p, s, *n_vocab, n_types);
    else
        plan_decoder(p, s, *n_vocab);
    add_tensor_infos(g, p);
    return 0;
}

static uint64_t file_size(const struct gguf_context *g, const struct plan *p)
{
    size_t alignment = gguf_get_alignment(g);
    uint64_t total = gguf_get_meta_size(g);
    for (size_t i = 0; i < p->n; i++) {
        size_t nb = (size_t)(p->t[i].ne[0] * p->t[i].ne[1]) * ggml_type_size(p->t[i].type);
        total += (nb + alignment - 1) / alignment * alignment;
    }
    return total;
}

/* Writes the metadata, then every tensor's data, to F. */
static int stream_file(FILE *f, const char *path, const struct gguf_context *g,
                       const struct plan *p, uint64_t seed, bool quiet)
{
    if (!gguf_write_to_file_ptr(g, f, true)) {
        fprintf(stderr, "gguf-gen: cannot write metadata to %s\n", path);
        return 1;
    }
    uint64_t total = file_size(g, p);
    struct writer w = {
        .f = f,
        .path = path,
        .f32 = malloc(CHUNK_ELEMS * sizeof(float)),
        .f16 = malloc(CHUNK_ELEMS * sizeof(ggml_fp16_t)),
        .total = total,
        .done = gguf_get_meta_size(g),
        .last_pct = -1,
        .progress = !quiet && total >= PROGRESS_MIN_BYTES,
        .tty = isatty(STDERR_FILENO),
    };
    if (!w.f32 || !w.f16)
        die_oom();
    int rc = 0;
    for (size_t i = 0; i < p->n && !rc; i++)
        rc = write_tensor(&w, &p->t[i], seed, gguf_get_alignment(g));
    if (w.progress && w.tty)
        fputc('\n', stderr);
    free(w.f32);
    free(w.f16);
    return rc;
}

/* Writes OUT.part, then renames it to OUT: a reader never sees half a model. */
static int write_model(const struct spec *s, const char *vocab_path, const char *out, bool quiet)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.part", out) >= sizeof(tmp)) {
        fprintf(stderr, "gguf-gen: output path too long\n");
        return 1;
    }
    struct gguf_context *g = gguf_init_empty();
    struct plan p = {0};
    uint32_t n_vocab = 0;
    int rc = build_meta(s, vocab_path, g, &p, &n_vocab);
    FILE *f = rc ? NULL : fopen(tmp, "wb");
    if (!rc && !f) {
        fprintf(stderr, "gguf-gen: cannot create %s: %s\n", tmp, strerror(errno));
        rc = 1;
    }
    if (f) {
        rc = stream_file(f, tmp, g, &p, s->seed, quiet);
        if (fclose(f) != 0 && !rc) {
            fprintf(stderr, "gguf-gen: write %s: %s\n", tmp, strerror(errno));
            rc = 1;
        }
        if (!rc && rename(tmp, out) != 0) {
            fprintf(stderr, "gguf-gen: rename %s to %s: %s\n", tmp, out, strerror(errno));
            rc = 1;
        }
        if (rc)
            remove(tmp);
    }
    if (!rc && !quiet)
        fprintf(stderr,
                "gguf-gen: wrote %s: %s, n_embd %d, %d layers, %d/%d heads, n_ff %d, "
                "ctx %d, vocab %" PRIu32 ", %zu tensors, %" PRIu64 " bytes\n",
                out, arches[s->arch].name, s->n_embd, s->n_layer, s->n_head, s->n_head_kv, s->n_ff,
                s->n_ctx, n_vocab, p.n, file_size(g, &p));
    free(p.t);
    gguf_free(g);
    return rc;
}

/* ---- command line ---------------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(out, "usage: gguf-gen [PRESET] [options] -o OUT.gguf\n"
                 "\n"
                 "Writes a random-weight GGUF model with a real tokenizer. The text it\n"
                 "writes is meaningless; loading, memory use and speed are real.\n"
                 "\n"
                 "presets:\n");
    for (size_t i = 0; i < N_PRESETS; i++)
        fprintf(out, "  %-12s %s\n", presets[i].name, presets[i].about);
    fprintf(out,
            "\n"
            "options (override the preset; without a preset --arch is required and\n"
            "starts from that architecture's tiny preset):\n"
            "  -o, --output FILE      the model to write (written to FILE.part, then renamed)\n"
            "  --arch llama|qwen2|bert\n"
            "  --vocab FILE           tokenizer source: a llama.cpp ggml-vocab-*.gguf\n"
            "  --vocab-dir DIR        where the default vocabularies are (default\n"
            "                         $LAIR_VOCAB_DIR): llama ggml-vocab-llama-spm.gguf,\n"
            "                         qwen2 ggml-vocab-qwen2.gguf, bert ggml-vocab-bert-bge.gguf\n"
            "  --n-embd N --n-layer N --n-head N --n-head-kv N --n-ff N --n-ctx N\n"
            "  --rope-base F          RoPE frequency base (llama, qwen2)\n"
            "  --type f32|f16         matrix type (norms and biases stay f32)\n"
            "  --tied | --untied      omit output.weight (reuse token_embd) or write it\n"
            "  --pooling none|mean|cls|last   bert pooling\n"
            "  --chat-template chatml|none|@FILE\n"
            "                         embed ChatML, drop the vocabulary's template, or\n"
            "                         embed FILE (default: the preset's choice, else\n"
            "                         whatever the vocabulary carries)\n"
            "  --name NAME            general.name\n"
            "  --seed N               weights are a function of the seed (default 1)\n"
            "  -q, --quiet            no summary or progress on stderr\n"
            "  -h, --help\n");
}

static int parse_long(const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi) {
        fprintf(stderr, "gguf-gen: %s wants an integer in [%ld, %ld], got '%s'\n", opt, lo, hi, s);
        return 1;
    }
    *out = v;
    return 0;
}

static int parse_int(const char *opt, const char *s, int *out)
{
    long v;
    if (parse_long(opt, s, 1, 1L << 20, &v))
        return 1;
    *out = (int)v;
    return 0;
}

static int find_arch(const char *name)
{
    for (int i = 0; i < ARCH_COUNT; i++)
        if (strcmp(arches[i].name, name) == 0)
            return i;
    return -1;
}

static const struct preset *find_preset(const char *name)
{
    for (size_t i = 0; i < N_PRESETS; i++)
        if (strcmp(presets[i].name, name) == 0)
            return &presets[i];
    return NULL;
}

/* Flags given on the command line, as given; NULL or 0 when absent. */
struct overrides {
    const char *preset, *out, *arch, *vocab, *vocab_dir, *name, *tmpl, *type, *pooling;
    const char *rope_base, *seed;
    int n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    int tied; /* 1 --tied, 0 --untied, -1 absent */
    bool quiet;
};

enum opt_kind { OPT_STR, OPT_INT, OPT_TRUE, OPT_SET1, OPT_SET0 };

static const struct option_def {
    const char *name, *alias;
    enum opt_kind kind;
    size_t off;
} options[] = {
    {"--output", "-o", OPT_STR, offsetof(struct overrides, out)},
    {"--arch", NULL, OPT_STR, offsetof(struct overrides, arch)},
    {"--vocab", NULL, OPT_STR, offsetof(struct overrides, vocab)},
    {"--vocab-dir", NULL, OPT_STR, offsetof(struct overrides, vocab_dir)},
    {"--name", NULL, OPT_STR, offsetof(struct overrides, name)},
    {"--chat-template", NULL, OPT_STR, offsetof(struct overrides, tmpl)},
    {"--type", NULL, OPT_STR, offsetof(struct overrides, type)},
    {"--pooling", NULL, OPT_STR, offsetof(struct overrides, pooling)},
    {"--rope-base", NULL, OPT_STR, offsetof(struct overrides, rope_base)},
    {"--seed", NULL, OPT_STR, offsetof(struct overrides, seed)},
    {"--n-embd", NULL, OPT_INT, offsetof(struct overrides, n_embd)},
    {"--n-layer", NULL, OPT_INT, offsetof(struct overrides, n_layer)},
    {"--n-head", NULL, OPT_INT, offsetof(struct overrides, n_head)},
    {"--n-head-kv", NULL, OPT_INT, offsetof(struct overrides, n_head_kv)},
    {"--n-ff", NULL, OPT_INT, offsetof(struct overrides, n_ff)},
    {"--n-ctx", NULL, OPT_INT, offsetof(struct overrides, n_ctx)},
    {"--tied", NULL, OPT_SET1, offsetof(struct overrides, tied)},
    {"--untied", NULL, OPT_SET0, offsetof(struct overrides, tied)},
    {"--quiet", "-q", OPT_TRUE, offsetof(struct overrides, quiet)},
};

static const struct option_def *find_option(const char *arg)
{
    for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
        if (!strcmp(arg, options[i].name) || (options[i].alias && !strcmp(arg, options[i].alias)))
            return &options[i];
    return NULL;
}

/* Fills O from ARGV; returns 0, or 2 after printing what is wrong. */
static int parse_args(int argc, char **argv, struct overrides *o)
{
    *o = (struct overrides){.tied = -1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            exit(0);
        }
        if (a[0] != '-') {
            if (o->preset) {
                fprintf(stderr, "gguf-gen: unexpected argument '%s'\n", a);
                return 2;
            }
            o->preset = a;
            continue;
        }
        const struct option_def *opt = find_option(a);
        if (!opt) {
            fprintf(stderr, "gguf-gen: unknown option '%s' (see --help)\n", a);
            return 2;
        }
        char *field = (char *)o + opt->off;
        if (opt->kind == OPT_TRUE || opt->kind == OPT_SET1 || opt->kind == OPT_SET0) {
            if (opt->kind == OPT_TRUE)
                *(bool *)field = true;
            else
                *(int *)field = opt->kind == OPT_SET1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "gguf-gen: %s needs a value\n", a);
            return 2;
        }
        const char *v = argv[++i];
        if (opt->kind == OPT_STR)
            *(const char **)field = v;
        else if (parse_int(a, v, (int *)field))
            return 2;
    }
    return 0;
}

/* The spec the flags start from: the named preset, or the tiny preset of
 * --arch (then named after the architecture). */
static int resolve_base(const struct overrides *o, struct spec *s)
{
    int arch = -1;
    if (o->arch) {
        arch = find_arch(o->arch);
        if (arch < 0) {
            fprintf(stderr, "gguf-gen: unknown --arch '%s' (llama, qwen2, bert)\n", o->arch);
            return 2;
        }
    }
    const struct preset *base = NULL;
    if (o->preset) {
        base = find_preset(o->preset);
        if (!base) {
            fprintf(stderr, "gguf-gen: unknown preset '%s' (see --help)\n", o->preset);
            return 2;
        }
    } else if (arch >= 0) {
        for (size_t i = 0; i < N_PRESETS && !base; i++)
            if (presets[i].spec.arch == (enum arch)arch)
                base = &presets[i];
    } else {
        fprintf(stderr, "gguf-gen: give a preset or --arch (see --help)\n");
        return 2;
    }
    *s = base->spec;
    if (!o->preset)
        s->name = arches[arch].name;
    if (arch >= 0 && (enum arch)arch != s->arch) {
        s->arch = (enum arch)arch;
        s->rope_base = arches[arch].rope_base;
    }
    return 0;
}

static int apply_numbers(const struct overrides *o, struct spec *s)
{
    if (o->n_embd)
        s->n_embd = o->n_embd;
    if (o->n_layer)
        s->n_layer = o->n_layer;
    if (o->n_head)
        s->n_head = o->n_head;
    if (o->n_head_kv)
        s->n_head_kv = o->n_head_kv;
    else if (s->arch == ARCH_BERT || s->n_head_kv > s->n_head)
        s->n_head_kv = s->n_head;
    if (o->n_ff)
        s->n_ff = o->n_ff;
    if (o->n_ctx)
        s->n_ctx = o->n_ctx;
    if (o->tied >= 0)
        s->tied = o->tied;
    if (o->seed) {
        long seed;
        if (parse_long("--seed", o->seed, 0, LONG_MAX, &seed))
            return 2;
        s->seed = (uint64_t)seed;
    }
    if (o->rope_base) {
        char *end;
        double v = strtod(o->rope_base, &end);
        if (end == o->rope_base || *end || !(v > 0) || !isfinite(v)) {
            fprintf(stderr, "gguf-gen: --rope-base wants a positive number, got '%s'\n",
                    o->rope_base);
            return 2;
        }
        s->rope_base = (float)v;
    }
    return 0;
}

static int apply_pooling(const char *name, struct spec *s)
{
    static const struct {
        const char *name;
        enum llama_pooling_type type;
    } pools[] = {{"none", LLAMA_POOLING_TYPE_NONE},
                 {"mean", LLAMA_POOLING_TYPE_MEAN},
                 {"cls", LLAMA_POOLING_TYPE_CLS},
                 {"last", LLAMA_POOLING_TYPE_LAST}};
    for (size_t i = 0; i < sizeof(pools) / sizeof(pools[0]); i++) {
        if (!strcmp(pools[i].name, name)) {
            s->pooling = pools[i].type;
            return 0;
        }
    }
    fprintf(stderr, "gguf-gen: --pooling is none, mean, cls or last, got '%s'\n", name);
    return 2;
}

static int apply_template(const char *v, struct spec *s)
{
    if (!strcmp(v, "chatml")) {
        s->tmpl = TMPL_CHATML;
    } else if (!strcmp(v, "none")) {
        s->tmpl = TMPL_NONE;
    } else if (v[0] == '@' && v[1]) {
        s->tmpl = TMPL_FILE;
        s->tmpl_file = v + 1;
    } else {
        fprintf(stderr, "gguf-gen: --chat-template is chatml, none or @FILE, got '%s'\n", v);
        return 2;
    }
    return 0;
}

static int apply_overrides(const struct overrides *o, struct spec *s)
{
    if (resolve_base(o, s) || apply_numbers(o, s))
        return 2;
    if (o->name)
        s->name = o->name;
    if (o->type) {
        if (!strcmp(o->type, "f16")) {
            s->wtype = GGML_TYPE_F16;
        } else if (!strcmp(o->type, "f32")) {
            s->wtype = GGML_TYPE_F32;
        } else {
            fprintf(stderr, "gguf-gen: --type is f32 or f16, got '%s'\n", o->type);
            return 2;
        }
    }
    if (o->pooling && apply_pooling(o->pooling, s))
        return 2;
    if (o->tmpl && apply_template(o->tmpl, s))
        return 2;
    return 0;
}

/* Rejects shapes llama.cpp would refuse or mis-handle. */
static int check_spec(const struct spec *s)
{
    if (s->arch == ARCH_BERT && s->n_head_kv != s->n_head) {
        fprintf(stderr,
                "gguf-gen: bert has no grouped-query attention: n_head_kv must equal "
                "n_head (%d)\n",
                s->n_head);
        return 2;
    }
    if (s->n_embd % s->n_head) {
        fprintf(stderr, "gguf-gen: n_embd (%d) must be a multiple of n_head (%d)\n", s->n_embd,
                s->n_head);
        return 2;
    }
    if (s->n_head % s->n_head_kv) {
        fprintf(stderr, "gguf-gen: n_head (%d) must be a multiple of n_head_kv (%d)\n", s->n_head,
                s->n_head_kv);
        return 2;
    }
    if ((s->n_embd / s->n_head) % 2) {
        fprintf(stderr, "gguf-gen: the head size n_embd/n_head (%d) must be even\n",
                s->n_embd / s->n_head);
        return 2;
    }
    if (s->arch != ARCH_BERT && s->pooling != LLAMA_POOLING_TYPE_NONE) {
        fprintf(stderr, "gguf-gen: --pooling is for bert only\n");
        return 2;
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct overrides o;
    struct spec s;
    int rc = parse_args(argc, argv, &o);
    if (!rc)
        rc = apply_overrides(&o, &s);
    if (!rc)
        rc = check_spec(&s);
    if (!rc && !o.out) {
        fprintf(stderr, "gguf-gen: -o OUT.gguf is required\n");
        rc = 2;
    }
    if (rc)
        return rc;

    char vocab[4096];
    if (o.vocab) {
        snprintf(vocab, sizeof(vocab), "%s", o.vocab);
    } else {
        const char *dir = o.vocab_dir ? o.vocab_dir : getenv("LAIR_VOCAB_DIR");
        if (!dir || !*dir) {
            fprintf(stderr,
                    "gguf-gen: no vocabulary: give --vocab FILE or --vocab-dir DIR (llama.cpp's\n"
                    "  models/ folder; scripts/gen-model.sh finds it for you)\n");
            return 2;
        }
        if ((size_t)snprintf(vocab, sizeof(vocab), "%s/%s", dir, arches[s.arch].vocab) >=
            sizeof(vocab)) {
            fprintf(stderr, "gguf-gen: --vocab-dir path too long\n");
            return 2;
        }
    }
    return write_model(&s, vocab, o.out, o.quiet);
}
