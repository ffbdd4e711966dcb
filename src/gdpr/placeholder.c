/* Placeholders for personal data sent to a remote upstream, and their
 * restoration in the answer, whole or streamed (placeholder.h). The vault is
 * a small table searched linearly: a request holds a few dozen values, and
 * at most 9999 of a kind. */
#include "gdpr/placeholder.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "gdpr/pii.h"

#include "core/banned.h"

/* ---- the placeholder form ------------------------------------------------------------ */

/* Kinds: the detector's types, then one for text that read as a placeholder. */
enum { KIND_TEXT = PII_TYPE_COUNT, KIND_COUNT };

_Static_assert(PII_TYPE_COUNT == 11, "a new PII type needs a label in labels[]");

/* Short French labels a French prompt reads naturally, upper-case ASCII
 * letters only. The longest, with "_9999", makes PLACEHOLDER_MAX_LEN. */
static const char *const labels[KIND_COUNT] = {
    [PII_NIR] = "NIR",      [PII_IBAN] = "IBAN",           [PII_RIB] = "RIB",
    [PII_SIREN] = "SIREN",  [PII_SIRET] = "SIRET",         [PII_VAT] = "TVA",
    [PII_CARD] = "CARTE",   [PII_PHONE] = "TEL",           [PII_EMAIL] = "EMAIL",
    [PII_PLATE] = "PLAQUE", [PII_BIRTHDATE] = "NAISSANCE", [KIND_TEXT] = "TEXTE",
};

#define NUM_DIGITS 4
#define NUM_MAX 9999u
_Static_assert(PLACEHOLDER_MAX_LEN == sizeof "[NAISSANCE_]" - 1 + NUM_DIGITS,
               "PLACEHOLDER_MAX_LEN is the longest label's placeholder");

enum shape {
    NOT_ONE,     /* not a placeholder */
    PART_OF_ONE, /* the text ends inside what could still be one */
    WHOLE        /* a placeholder */
};

struct ph {
    unsigned kind, n;
    size_t len; /* bytes, brackets included */
};

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}
static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}
static struct str str_from(struct str s, size_t i)
{
    return (struct str){s.ptr + i, s.len - i};
}

static bool label_starts(struct str start)
{
    for (unsigned k = 0; k < KIND_COUNT; k++)
        if (str_starts(str_c(labels[k]), start))
            return true;
    return false;
}

static int label_find(struct str label)
{
    for (unsigned k = 0; k < KIND_COUNT; k++)
        if (str_eq_c(label, labels[k]))
            return (int)k;
    return -1;
}

/* Reads the number and closing bracket of a placeholder, s.ptr[i] being the
 * first byte after "[LABEL_": 1 to 9999 without a leading zero. */
static enum shape number_read(struct str s, size_t i, struct ph *ph)
{
    size_t start = i;
    unsigned n = 0;
    while (i < s.len && is_digit(s.ptr[i]) && i - start < NUM_DIGITS)
        n = n * 10 + (unsigned)(s.ptr[i++] - '0');
    if (i > start && s.ptr[start] == '0')
        return NOT_ONE;
    if (i == s.len)
        return PART_OF_ONE;
    if (i == start || s.ptr[i] != ']')
        return NOT_ONE;
    ph->n = n;
    ph->len = i + 1;
    return WHOLE;
}

/* Reads "[LABEL_n]" at the start of s. OUT: *ph when WHOLE. */
static enum shape ph_read(struct str s, struct ph *ph)
{
    if (s.len == 0 || s.ptr[0] != '[')
        return NOT_ONE;
    size_t i = 1;
    while (i < s.len && is_upper(s.ptr[i]))
        i++;
    struct str label = {s.ptr + 1, i - 1};
    if (i == s.len)
        return label_starts(label) ? PART_OF_ONE : NOT_ONE;
    int kind = label_find(label);
    if (kind < 0 || s.ptr[i] != '_')
        return NOT_ONE;
    ph->kind = (unsigned)kind;
    return number_read(s, i + 1, ph);
}

/* The offset of the next '[' in s from i, or s.len. */
static size_t next_bracket(struct str s, size_t i)
{
    const char *p = i < s.len ? memchr(s.ptr + i, '[', s.len - i) : NULL;
    return p ? (size_t)(p - s.ptr) : s.len;
}

/* ---- the vault ----------------------------------------------------------------------- */

struct entry {
    unsigned kind, n;
    size_t key, key_len; /* in store: what identifies the value (its canonical form) */
    size_t val, val_len; /* in store: the value as first typed, which unmask puts back */
};

struct placeholder_vault {
    struct entry *items; /* OWNED */
    size_t count, cap;
    char *store; /* OWNED: keys and values back to back, wiped before it is freed */
    size_t store_len, store_cap;
    size_t max;                /* most bytes of store_len and items */
    unsigned next[KIND_COUNT]; /* the last number given, per kind */
    char scratch[512];         /* the canonical form of the value being masked */
};

struct placeholder_vault *placeholder_vault_new(size_t max)
{
    struct placeholder_vault *v = calloc(1, sizeof *v);
    if (v)
        v->max = max ? max : (size_t)1 << 20;
    return v;
}

void placeholder_vault_free(struct placeholder_vault *v)
{
    if (!v)
        return;
    if (v->store)
        sodium_memzero(v->store, v->store_cap);
    free(v->store);
    free(v->items);
    sodium_memzero(v, sizeof *v);
    free(v);
}

size_t placeholder_count(const struct placeholder_vault *v)
{
    return v->count;
}

static struct str entry_key(const struct placeholder_vault *v, const struct entry *e)
{
    return (struct str){v->store + e->key, e->key_len};
}

static const struct entry *find_key(const struct placeholder_vault *v, unsigned kind,
                                    struct str key)
{
    for (size_t i = 0; i < v->count; i++)
        if (v->items[i].kind == kind && str_eq(entry_key(v, &v->items[i]), key))
            return &v->items[i];
    return NULL;
}

static const struct entry *find_number(const struct placeholder_vault *v, unsigned kind, unsigned n)
{
    for (size_t i = 0; i < v->count; i++)
        if (v->items[i].kind == kind && v->items[i].n == n)
            return &v->items[i];
    return NULL;
}

/* Grows the store by copying, then wiping the old block: realloc would
 * leave a copy of the values in freed memory. */
static enum lair_err store_reserve(struct placeholder_vault *v, size_t extra)
{
    size_t need = v->store_len + extra;
    if (need <= v->store_cap)
        return LAIR_OK;
    size_t cap = v->store_cap ? v->store_cap : 256;
    while (cap < need)
        cap *= 2;
    char *p = malloc(cap);
    if (!p)
        return LAIR_ENOMEM;
    if (v->store) {
        memcpy(p, v->store, v->store_len);
        sodium_memzero(v->store, v->store_cap);
        free(v->store);
    }
    v->store = p;
    v->store_cap = cap;
    return LAIR_OK;
}

static enum lair_err items_reserve(struct placeholder_vault *v)
{
    if (v->count < v->cap)
        return LAIR_OK;
    size_t cap = v->cap ? v->cap * 2 : 16;
    struct entry *items = realloc(v->items, cap * sizeof *items);
    if (!items)
        return LAIR_ENOMEM;
    v->items = items;
    v->cap = cap;
    return LAIR_OK;
}

static size_t store_put(struct placeholder_vault *v, struct str s)
{
    size_t off = v->store_len;
    if (s.len)
        memcpy(v->store + off, s.ptr, s.len);
    v->store_len += s.len;
    return off;
}

/* Adds value, known by key, as the next placeholder of its kind. */
static enum lair_err vault_add(struct placeholder_vault *v, unsigned kind, struct str key,
                               struct str value, const struct entry **added)
{
    size_t need = key.len + value.len + sizeof(struct entry);
    size_t used = v->store_len + v->count * sizeof(struct entry);
    if (v->next[kind] == NUM_MAX || need > v->max || used > v->max - need)
        return LAIR_ELIMIT;
    enum lair_err e = items_reserve(v);
    if (!e)
        e = store_reserve(v, key.len + value.len);
    if (e)
        return e;
    struct entry *it = &v->items[v->count++];
    it->kind = kind;
    it->n = ++v->next[kind];
    it->key_len = key.len;
    it->key = store_put(v, key);
    it->val_len = value.len;
    it->val = store_put(v, value);
    *added = it;
    return LAIR_OK;
}

/* What identifies a value: its canonical form (one person's number typed two
 * ways is one value), written into the vault's scratch array through a buf
 * that cannot grow (max below its size), so that no copy is left behind by a
 * realloc; the value itself when it has no canonical form or that does not
 * fit. A placeholder-like text is its own key. */
static struct str value_key(struct placeholder_vault *v, unsigned kind, struct str value)
{
    if (kind == KIND_TEXT)
        return value;
    struct buf b = {v->scratch, 0, sizeof v->scratch, sizeof v->scratch - 1};
    if (pii_canonical((enum pii_type)kind, value, &b) != LAIR_OK)
        return value;
    return (struct str){b.ptr, b.len};
}

/* Appends the placeholder of value, adding it to the vault when it is new. */
static enum lair_err put_placeholder(struct placeholder_vault *v, unsigned kind, struct str value,
                                     struct buf *out)
{
    struct str key = value_key(v, kind, value);
    const struct entry *it = find_key(v, kind, key);
    if (!it) {
        enum lair_err e = vault_add(v, kind, key, value, &it);
        if (e)
            return e;
    }
    return buf_printf(out, "[%s_%u]", labels[kind], it->n);
}

/* ---- masking ------------------------------------------------------------------------- */

/* Copies s, in which the detector found nothing, to out, each piece of it
 * that reads as a placeholder replaced by a [TEXTE_n] of its own. */
static enum lair_err copy_escaped(struct placeholder_vault *v, struct str s, struct buf *out)
{
    size_t from = 0, i = next_bracket(s, 0);
    while (i < s.len) {
        struct ph ph;
        if (ph_read(str_from(s, i), &ph) != WHOLE) {
            i = next_bracket(s, i + 1);
            continue;
        }
        enum lair_err e = buf_append(out, s.ptr + from, i - from);
        if (!e)
            e = put_placeholder(v, KIND_TEXT, (struct str){s.ptr + i, ph.len}, out);
        if (e)
            return e;
        from = i + ph.len;
        i = next_bracket(s, from);
    }
    return buf_append(out, s.ptr + from, s.len - from);
}

enum lair_err placeholder_mask(struct placeholder_vault *v, struct str text, struct buf *out)
{
    struct pii_scanner sc;
    struct pii_match m;
    size_t pos = 0;
    pii_scanner_init(&sc, text);
    while (pii_next(&sc, &m)) {
        enum lair_err e = copy_escaped(v, (struct str){text.ptr + pos, m.off - pos}, out);
        if (!e)
            e = put_placeholder(v, m.type, (struct str){text.ptr + m.off, m.len}, out);
        if (e)
            return e;
        pos = m.off + m.len;
    }
    return copy_escaped(v, str_from(text, pos), out);
}

/* ---- restoring ----------------------------------------------------------------------- */

/* Appends the value of a placeholder read in an answer, or the placeholder
 * as it is when this vault did not issue it. */
static enum lair_err put_back(const struct placeholder_vault *v, struct str text,
                              const struct ph *ph, struct buf *out)
{
    const struct entry *it = find_number(v, ph->kind, ph->n);
    if (!it)
        return buf_append(out, text.ptr, text.len);
    return buf_append(out, v->store + it->val, it->val_len);
}

/* Appends the restored text of s to out. Unless final, stops before a tail
 * that could be the start of a placeholder or that ends inside a UTF-8
 * character. OUT: *used, the bytes of s done with (the rest is to be held). */
static enum lair_err restore(const struct placeholder_vault *v, struct str s, bool final,
                             struct buf *out, size_t *used)
{
    size_t from = 0, i = next_bracket(s, 0);
    while (i < s.len) {
        struct ph ph;
        enum shape sh = ph_read(str_from(s, i), &ph);
        if (sh == NOT_ONE || (sh == PART_OF_ONE && final)) {
            i = next_bracket(s, i + 1);
            continue;
        }
        enum lair_err e = buf_append(out, s.ptr + from, i - from);
        if (e || sh == PART_OF_ONE) {
            *used = i;
            return e;
        }
        if ((e = put_back(v, (struct str){s.ptr + i, ph.len}, &ph, out)) != LAIR_OK)
            return e;
        from = i + ph.len;
        i = next_bracket(s, from);
    }
    size_t end = final ? s.len : from + utf8_complete_prefix(s.ptr + from, s.len - from);
    *used = end;
    return buf_append(out, s.ptr + from, end - from);
}

enum lair_err placeholder_unmask(const struct placeholder_vault *v, struct str text,
                                 struct buf *out)
{
    size_t used;
    return restore(v, text, true, out, &used);
}

void placeholder_stream_init(struct placeholder_stream *st, const struct placeholder_vault *v)
{
    st->vault = v;
    st->held_len = 0;
}

static void hold(struct placeholder_stream *st, const char *tail, size_t len)
{
    assert(len < sizeof st->held);
    memmove(st->held, tail, len);
    st->held_len = len;
}

/* Restores the held tail followed by the first bytes of the chunk, enough
 * to decide about the tail, and moves *chunk past the bytes that used. */
static enum lair_err feed_held(struct placeholder_stream *st, struct str *chunk, struct buf *out)
{
    char joined[2 * PLACEHOLDER_MAX_LEN];
    size_t take = chunk->len < PLACEHOLDER_MAX_LEN ? chunk->len : PLACEHOLDER_MAX_LEN;
    memcpy(joined, st->held, st->held_len);
    memcpy(joined + st->held_len, chunk->ptr, take);
    size_t len = st->held_len + take, used;
    enum lair_err e = restore(st->vault, (struct str){joined, len}, false, out, &used);
    if (e)
        return e;
    if (take == chunk->len) {
        hold(st, joined + used, len - used);
        *chunk = str_from(*chunk, chunk->len);
        return LAIR_OK;
    }
    /* A tail left now is shorter than take: it lies in the chunk's bytes. */
    assert(used > st->held_len);
    *chunk = str_from(*chunk, used - st->held_len);
    st->held_len = 0;
    return LAIR_OK;
}

enum lair_err placeholder_stream_feed(struct placeholder_stream *st, struct str chunk,
                                      struct buf *out)
{
    if (st->held_len) {
        enum lair_err e = feed_held(st, &chunk, out);
        if (e || chunk.len == 0)
            return e;
    }
    size_t used;
    enum lair_err e = restore(st->vault, chunk, false, out, &used);
    if (!e)
        hold(st, chunk.ptr + used, chunk.len - used);
    return e;
}

enum lair_err placeholder_stream_finish(struct placeholder_stream *st, struct buf *out)
{
    size_t used;
    enum lair_err e = restore(st->vault, (struct str){st->held, st->held_len}, true, out, &used);
    st->held_len = 0;
    return e;
}
