/* llm_gguf_info_json: what `libreair model info` shows, read from a GGUF
 * file's header with ggml's gguf parser (no tensor data is loaded, so a
 * 10 GB model is described in milliseconds). The parser validates the
 * structure; this file must still not trust the values: every key may be
 * missing or hold another type than expected (gguf_get_val_* abort on a type
 * mismatch), and every string may be invalid UTF-8. */
#include "llm/llm.h"

#include <errno.h>
#include <fcntl.h>
#include <gguf.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/banned.h"

/* general.file_type values: llama.h's enum llama_ftype. */
static const char *const ftype_names[] = {
    [0] = "F32",      [1] = "F16",      [2] = "Q4_0",       [3] = "Q4_1",    [7] = "Q8_0",
    [8] = "Q5_0",     [9] = "Q5_1",     [10] = "Q2_K",      [11] = "Q3_K_S", [12] = "Q3_K_M",
    [13] = "Q3_K_L",  [14] = "Q4_K_S",  [15] = "Q4_K_M",    [16] = "Q5_K_S", [17] = "Q5_K_M",
    [18] = "Q6_K",    [19] = "IQ2_XXS", [20] = "IQ2_XS",    [21] = "Q2_K_S", [22] = "IQ3_XS",
    [23] = "IQ3_XXS", [24] = "IQ1_S",   [25] = "IQ4_NL",    [26] = "IQ3_S",  [27] = "IQ3_M",
    [28] = "IQ2_S",   [29] = "IQ2_M",   [30] = "IQ4_XS",    [31] = "IQ1_M",  [32] = "BF16",
    [36] = "TQ1_0",   [37] = "TQ2_0",   [38] = "MXFP4_MOE", [39] = "NVFP4",  [40] = "Q1_0",
    [41] = "Q2_0",
};

/* llama.h's enum llama_pooling_type. */
static const char *const pooling_names[] = {"none", "mean", "cls", "last", "rank"};

/* A JSON string of s, with every byte that is not part of well-formed UTF-8
 * replaced by U+FFFD: jansson refuses invalid UTF-8, and a model's metadata
 * is whatever its author wrote. NULL only when out of memory. */
static json_t *json_text(const char *s)
{
    size_t len = strlen(s);
    if (utf8_valid(s, len))
        return json_stringn(s, len);
    struct buf b;
    buf_init(&b, 0);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (n && i + n <= len && utf8_valid(s + i, n)) {
            buf_append(&b, s + i, n);
            i += n;
        } else {
            buf_append(&b, "\xef\xbf\xbd", 3);
            i++;
        }
    }
    json_t *j = b.ptr ? json_stringn(b.ptr, b.len) : NULL;
    buf_release(&b);
    return j;
}

static size_t int_size(enum gguf_type t)
{
    switch (t) {
    case GGUF_TYPE_UINT8:
    case GGUF_TYPE_INT8: return 1;
    case GGUF_TYPE_UINT16:
    case GGUF_TYPE_INT16: return 2;
    case GGUF_TYPE_UINT32:
    case GGUF_TYPE_INT32: return 4;
    case GGUF_TYPE_UINT64:
    case GGUF_TYPE_INT64: return 8;
    default: return 0;
    }
}

/* One integer of any GGUF integer type at p (which need not be aligned). */
static bool int_at(enum gguf_type t, const void *p, int64_t *out)
{
    union {
        uint8_t u8;
        int8_t i8;
        uint16_t u16;
        int16_t i16;
        uint32_t u32;
        int32_t i32;
        uint64_t u64;
        int64_t i64;
    } v;
    size_t n = int_size(t);
    if (!n)
        return false;
    memcpy(&v, p, n);
    switch (t) {
    case GGUF_TYPE_UINT8: *out = v.u8; return true;
    case GGUF_TYPE_INT8: *out = v.i8; return true;
    case GGUF_TYPE_UINT16: *out = v.u16; return true;
    case GGUF_TYPE_INT16: *out = v.i16; return true;
    case GGUF_TYPE_UINT32: *out = v.u32; return true;
    case GGUF_TYPE_INT32: *out = v.i32; return true;
    case GGUF_TYPE_INT64: *out = v.i64; return true;
    case GGUF_TYPE_UINT64: *out = (int64_t)v.u64; return v.u64 <= INT64_MAX;
    default: return false;
    }
}

/* An integer key. Some architectures store per-layer values (an array, e.g.
 * head counts that vary by layer): the largest one stands for the model. */
static bool kv_int(const struct gguf_context *g, const char *key, int64_t *out)
{
    int64_t id = gguf_find_key(g, key);
    if (id < 0)
        return false;
    enum gguf_type t = gguf_get_kv_type(g, id);
    if (t != GGUF_TYPE_ARRAY)
        return int_size(t) && int_at(t, gguf_get_val_data(g, id), out);
    enum gguf_type at = gguf_get_arr_type(g, id);
    size_t sz = int_size(at), n = gguf_get_arr_n(g, id);
    if (!sz || n == 0)
        return false;
    const char *p = gguf_get_arr_data(g, id);
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        int64_t v;
        if (int_at(at, p + i * sz, &v) && (!any || v > *out)) {
            *out = v;
            any = true;
        }
    }
    return any;
}

/* BORROWED from g: a string key, NULL when missing or not a string. */
static const char *kv_str(const struct gguf_context *g, const char *key)
{
    int64_t id = gguf_find_key(g, key);
    if (id < 0 || gguf_get_kv_type(g, id) != GGUF_TYPE_STRING)
        return NULL;
    return gguf_get_val_str(g, id);
}

struct builder {
    json_t *obj;
    bool ok; /* false once an allocation failed */
};

static void put(struct builder *b, const char *key, json_t *v)
{
    if (!v || json_object_set_new(b->obj, key, v) != 0)
        b->ok = false;
}

static void put_str(struct builder *b, const char *key, const char *s)
{
    put(b, key, s ? json_text(s) : json_null());
}

static void put_int_key(struct builder *b, const char *key, const struct gguf_context *g,
                        const char *arch, const char *suffix)
{
    char full[160];
    int64_t v;
    int n = arch ? snprintf(full, sizeof(full), "%s.%s", arch, suffix) : -1;
    if (n > 0 && (size_t)n < sizeof(full) && kv_int(g, full, &v))
        put(b, key, json_integer(v));
    else
        put(b, key, json_null());
}

struct tensor_stats {
    uint64_t params; /* elements over all tensors, saturated */
    uint64_t end;    /* where the last tensor's data ends in the file */
    int64_t count[GGML_TYPE_COUNT];
    uint64_t elems[GGML_TYPE_COUNT];
    bool overflow;
};

static void tensor_stats(const struct gguf_context *g, struct tensor_stats *ts)
{
    memset(ts, 0, sizeof(*ts));
    int64_t n = gguf_get_n_tensors(g);
    uint64_t data = gguf_get_data_offset(g);
    ts->end = data;
    for (int64_t i = 0; i < n; i++) {
        const int64_t *ne = gguf_get_tensor_ne(g, i);
        uint64_t el = 1;
        for (int d = 0; d < GGML_MAX_DIMS; d++)
            if (ne[d] < 0 || __builtin_mul_overflow(el, (uint64_t)ne[d], &el))
                ts->overflow = true;
        if (__builtin_add_overflow(ts->params, el, &ts->params))
            ts->params = UINT64_MAX;
        uint64_t end;
        if (__builtin_add_overflow(data, (uint64_t)gguf_get_tensor_offset(g, i), &end) ||
            __builtin_add_overflow(end, (uint64_t)gguf_get_tensor_size(g, i), &end))
            ts->overflow = true;
        else if (end > ts->end)
            ts->end = end;
        enum ggml_type t = gguf_get_tensor_type(g, i);
        if ((unsigned)t < GGML_TYPE_COUNT) {
            ts->count[t]++;
            ts->elems[t] += el;
        }
    }
}

static const char *type_name(enum ggml_type t, char *tmp, size_t n)
{
    const char *s = ggml_type_name(t);
    if (s && *s)
        return s;
    snprintf(tmp, n, "type%d", (int)t);
    return tmp;
}

/* The quantisation a person would name the file by: general.file_type when
 * present, else the type holding most of the weights. */
static void put_quant(struct builder *b, const struct gguf_context *g,
                      const struct tensor_stats *ts)
{
    int64_t ft;
    char tmp[32];
    if (kv_int(g, "general.file_type", &ft)) {
        put(b, "file_type", json_integer(ft));
        const char *name = NULL;
        if (ft >= 0 && (uint64_t)ft < sizeof(ftype_names) / sizeof(ftype_names[0]))
            name = ftype_names[ft];
        if (!name) {
            snprintf(tmp, sizeof(tmp), "unknown (%lld)", (long long)ft);
            name = tmp;
        }
        put_str(b, "quantisation", name);
        return;
    }
    put(b, "file_type", json_null());
    int best = -1;
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (ts->elems[t] && (best < 0 || ts->elems[t] > ts->elems[best]))
            best = t;
    if (best < 0) {
        put(b, "quantisation", json_null());
        return;
    }
    char up[40];
    const char *s = type_name((enum ggml_type)best, tmp, sizeof(tmp));
    size_t i = 0;
    for (; s[i] && i < 20; i++)
        up[i] = s[i] >= 'a' && s[i] <= 'z' ? (char)(s[i] - 'a' + 'A') : s[i];
    snprintf(up + i, sizeof(up) - i, " (guessed)");
    put_str(b, "quantisation", up);
}

static void put_tensor_types(struct builder *b, const struct tensor_stats *ts)
{
    json_t *types = json_object();
    if (!types) {
        b->ok = false;
        return;
    }
    char tmp[32];
    for (int t = 0; t < GGML_TYPE_COUNT; t++)
        if (ts->count[t] &&
            json_object_set_new(types, type_name((enum ggml_type)t, tmp, sizeof(tmp)),
                                json_integer(ts->count[t])) != 0)
            b->ok = false;
    put(b, "tensor_types", types);
}

static void put_vocab(struct builder *b, const struct gguf_context *g)
{
    put_str(b, "vocab_type", kv_str(g, "tokenizer.ggml.model"));
    int64_t id = gguf_find_key(g, "tokenizer.ggml.tokens");
    if (id >= 0 && gguf_get_kv_type(g, id) == GGUF_TYPE_ARRAY)
        put(b, "vocab_size", json_integer((json_int_t)gguf_get_arr_n(g, id)));
    else
        put(b, "vocab_size", json_null());
}

static void put_pooling(struct builder *b, const struct gguf_context *g, const char *arch)
{
    char key[160];
    int64_t v;
    int n = arch ? snprintf(key, sizeof(key), "%s.pooling_type", arch) : -1;
    if (n <= 0 || (size_t)n >= sizeof(key) || !kv_int(g, key, &v))
        return;
    put(b, "pooling_type", json_integer(v));
    if (v >= 0 && (uint64_t)v < sizeof(pooling_names) / sizeof(pooling_names[0]))
        put_str(b, "pooling", pooling_names[v]);
}

static enum lair_err build(const struct gguf_context *g, uint64_t file_size, json_t *obj)
{
    struct builder b = {.obj = obj, .ok = true};
    struct tensor_stats ts;
    tensor_stats(g, &ts);
    /* The header may be intact while the weights are cut short (an interrupted
     * copy): such a file would fail to load, so it is not a model. */
    if (ts.overflow || ts.end > file_size)
        return LAIR_EMODEL;
    const char *arch = kv_str(g, "general.architecture");
    put_str(&b, "architecture", arch);
    put_str(&b, "name", kv_str(g, "general.name"));
    const char *type = kv_str(g, "general.type");
    if (type)
        put_str(&b, "type", type);
    put(&b, "parameters", json_integer(ts.params > INT64_MAX ? INT64_MAX : (json_int_t)ts.params));
    put_int_key(&b, "context_length", g, arch, "context_length");
    put_int_key(&b, "embedding_length", g, arch, "embedding_length");
    put_int_key(&b, "block_count", g, arch, "block_count");
    put_int_key(&b, "head_count", g, arch, "attention.head_count");
    put_int_key(&b, "head_count_kv", g, arch, "attention.head_count_kv");
    put_quant(&b, g, &ts);
    put_tensor_types(&b, &ts);
    put_pooling(&b, g, arch);
    put_vocab(&b, g);
    put_str(&b, "chat_template", kv_str(g, "tokenizer.chat_template"));
    put(&b, "file_size", json_integer((json_int_t)file_size));
    put(&b, "tensor_count", json_integer(gguf_get_n_tensors(g)));
    put(&b, "gguf_version", json_integer(gguf_get_version(g)));
    return b.ok ? LAIR_OK : LAIR_ENOMEM;
}

static int dump_to_buf(const char *s, size_t len, void *ud)
{
    return buf_append(ud, s, len) == LAIR_OK ? 0 : -1;
}

/* Opens path and checks that it starts like a GGUF file. OUT: *fp, *size. */
static enum lair_err open_gguf(const char *path, FILE **fp, uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return LAIR_EIO;
    }
    char magic[4];
    ssize_t r = pread(fd, magic, sizeof(magic), 0);
    if (r < 0) {
        close(fd);
        return LAIR_EIO;
    }
    if (r != (ssize_t)sizeof(magic) || memcmp(magic, GGUF_MAGIC, sizeof(magic)) != 0) {
        close(fd);
        return LAIR_EMODEL;
    }
    *fp = fdopen(fd, "rb");
    if (!*fp) {
        close(fd);
        return LAIR_ENOMEM;
    }
    *size = (uint64_t)sb.st_size;
    return LAIR_OK;
}

enum lair_err llm_gguf_info_json(const char *path, struct buf *out)
{
    FILE *fp = NULL;
    uint64_t size = 0;
    enum lair_err e = open_gguf(path, &fp, &size);
    if (e)
        return e;
    struct gguf_init_params params = {.no_alloc = true, .ctx = NULL};
    struct gguf_context *g = gguf_init_from_file_ptr(fp, params);
    fclose(fp);
    if (!g)
        return LAIR_EMODEL;
    json_t *obj = json_object();
    e = obj ? build(g, size, obj) : LAIR_ENOMEM;
    gguf_free(g);
    size_t mark = out->len;
    if (e == LAIR_OK && json_dump_callback(obj, dump_to_buf, out, JSON_COMPACT) != 0) {
        out->len = mark; /* no half-written object */
        if (out->ptr)
            out->ptr[mark] = 0;
        e = LAIR_ENOMEM;
    }
    json_decref(obj);
    return e;
}
