/* Structure-aware chunking of extracted documents. See chunk.h.
 *
 * A block becomes one unit of text when it fits a chunk, else one unit per
 * sentence (and per run of words for a sentence too long). Units are packed
 * in order into the chunk being built until the next one would pass the
 * target; a change of heading path closes the chunk. */
#include "rag/chunk.h"

#include <limits.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

/* A table header is repeated in continuation chunks only when it is short. */
#define HEADER_SHARE 3 /* at most target / HEADER_SHARE tokens */
/* Deepest list nesting shown by indentation. */
#define LIST_INDENT_MAX 8

struct unit {
    struct str text;
    const char *heading;
    unsigned page;
    int tokens;
    char sep;          /* joins it to the previous unit of the chunk: '\n' or ' ' */
    struct str header; /* the header row of its table, for a later row; else empty */
    int header_tokens;
};

struct chunker {
    chunk_count_fn count;
    void *arg;
    int target, overlap, budget; /* budget: most tokens of one unit */
    struct arena *out;
    struct chunk *v;
    size_t n, cap;
    struct buf cur; /* text of the chunk being built */
    int cur_tokens;
    bool has_body; /* cur holds at least one unit (not only overlap or header) */
    const char *heading;
    unsigned page;
    struct buf carry; /* overlap for the next chunk */
    int carry_tokens;
    struct buf scratch;
};

static size_t codepoints(const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += ((unsigned char)s[i] & 0xC0) != 0x80;
    return k;
}

int chunk_estimate_tokens(struct str text)
{
    size_t cp = codepoints(text.ptr, text.len);
    if (cp == 0)
        return 0;
    size_t k = (cp + 3) / 4;
    return k > INT_MAX ? INT_MAX : (int)k;
}

void chunk_hash(struct str heading_path, struct str text, unsigned char out[CHUNK_HASH_BYTES])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)heading_path.ptr, heading_path.len);
    crypto_hash_sha256_update(&st, (const unsigned char *)"", 1);
    crypto_hash_sha256_update(&st, (const unsigned char *)text.ptr, text.len);
    crypto_hash_sha256_final(&st, out);
}

static int count(const struct chunker *c, struct str t)
{
    if (t.len == 0)
        return 0;
    if (c->count) {
        int k = c->count(c->arg, t);
        if (k >= 0)
            return k;
    }
    return chunk_estimate_tokens(t);
}

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t';
}

/* Byte offset of the start of the last `cps` code points of s[0..n). */
static size_t back_codepoints(const char *s, size_t n, size_t cps)
{
    size_t i = n;
    while (i > 0 && cps > 0) {
        i--;
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            cps--;
    }
    return i;
}

/* Byte offset after the first `cps` code points of s[0..n). */
static size_t fwd_codepoints(const char *s, size_t n, size_t cps)
{
    size_t i = 0;
    while (i < n && cps > 0) {
        i++;
        while (i < n && ((unsigned char)s[i] & 0xC0) == 0x80)
            i++;
        cps--;
    }
    return i;
}

/* Length of the sentence-ending punctuation at s[i] ('.', '!', '?', '…'),
 * or 0. */
static size_t stop_len(const char *s, size_t n, size_t i)
{
    if (s[i] == '.' || s[i] == '!' || s[i] == '?')
        return 1;
    if (i + 2 < n && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x80 &&
        (unsigned char)s[i + 2] == 0xA6)
        return 3;
    return 0;
}

/* End of the sentence that starts at pos: just after its final punctuation
 * when a space or a line break follows it, or at a line break, else n. */
static size_t sentence_end(const char *s, size_t n, size_t pos)
{
    for (size_t i = pos; i < n; i++) {
        if (s[i] == '\n')
            return i;
        size_t k = stop_len(s, n, i);
        if (k && (i + k == n || is_space(s[i + k])))
            return i + k;
    }
    return n;
}

static enum lair_err push_chunk(struct chunker *c)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        struct chunk *v = realloc(c->v, cap * sizeof(*v));
        if (!v)
            return LAIR_ENOMEM;
        c->v = v;
        c->cap = cap;
    }
    struct str text = buf_str(&c->cur);
    char *copy = arena_strndup(c->out, text.ptr, text.len);
    if (!copy)
        return LAIR_ENOMEM;
    struct chunk *k = &c->v[c->n++];
    k->text = copy;
    k->len = text.len;
    k->heading_path = c->heading;
    k->page = c->page;
    k->tokens = count(c, text);
    chunk_hash(str_c(c->heading), text, k->hash);
    return LAIR_OK;
}

/* The end of the chunk just closed that opens the next one: about `overlap`
 * tokens, from a word start, from a sentence start when one is near. */
static enum lair_err take_overlap(struct chunker *c, int tokens)
{
    buf_reset(&c->carry);
    c->carry_tokens = 0;
    const char *t = c->cur.ptr;
    size_t len = c->cur.len, cps = codepoints(t, len);
    if (c->overlap <= 0 || tokens <= 0 || len == 0)
        return LAIR_OK;
    size_t want = (size_t)((double)c->overlap * (double)cps / (double)tokens);
    if (want == 0 || want >= cps)
        return LAIR_OK;
    size_t s = back_codepoints(t, len, want);
    if (s > 0 && !is_space(t[s - 1])) /* to the start of the next word */
        while (s < len && !is_space(t[s]))
            s++;
    while (s < len && is_space(t[s]))
        s++;
    if (s == 0 || s >= len)
        return LAIR_OK;
    /* a sentence start in the first two thirds of the window */
    size_t limit = len - (len - s) / 3;
    for (size_t i = s; i < limit; i++) {
        size_t k = t[i] == '\n' ? 1 : stop_len(t, len, i);
        if (k && i + k < len && is_space(t[i + k])) {
            size_t p = i + k;
            while (p < len && is_space(t[p]))
                p++;
            if (p < limit)
                s = p;
            break;
        }
    }
    struct str tail = {t + s, len - s};
    c->carry_tokens = count(c, tail);
    return buf_append(&c->carry, tail.ptr, tail.len);
}

/* Closes the chunk being built; keep_overlap: the next one continues the
 * same section. */
static enum lair_err flush(struct chunker *c, bool keep_overlap)
{
    enum lair_err e = LAIR_OK;
    if (c->has_body) {
        e = push_chunk(c);
        if (!e && keep_overlap)
            e = take_overlap(c, c->v[c->n - 1].tokens);
        else
            buf_reset(&c->carry);
    }
    buf_reset(&c->cur);
    c->cur_tokens = 0;
    c->has_body = false;
    return e;
}

/* Opens a chunk with u as its first unit: behind the table's header row, or
 * behind the overlap taken from the previous chunk. */
static enum lair_err start(struct chunker *c, const struct unit *u)
{
    enum lair_err e = LAIR_OK;
    buf_reset(&c->cur);
    c->cur_tokens = 0;
    c->heading = u->heading;
    c->page = u->page;
    if (u->header.len && u->header_tokens <= c->target / HEADER_SHARE) {
        e = buf_append(&c->cur, u->header.ptr, u->header.len);
        if (!e)
            e = buf_append(&c->cur, "\n", 1);
        c->cur_tokens = u->header_tokens;
    } else if (c->carry.len) {
        e = buf_append(&c->cur, c->carry.ptr, c->carry.len);
        if (!e)
            e = buf_append(&c->cur, &u->sep, 1);
        c->cur_tokens = c->carry_tokens;
    }
    buf_reset(&c->carry);
    c->carry_tokens = 0;
    return e;
}

static enum lair_err add_unit(struct chunker *c, const struct unit *u)
{
    enum lair_err e = LAIR_OK;
    if (c->has_body && strcmp(c->heading, u->heading) != 0)
        e = flush(c, false);
    else if (c->has_body && c->cur_tokens + u->tokens > c->target)
        e = flush(c, true);
    if (e)
        return e;
    if (!c->has_body)
        e = start(c, u);
    else
        e = buf_append(&c->cur, &u->sep, 1);
    if (!e)
        e = buf_append(&c->cur, u->text.ptr, u->text.len);
    c->cur_tokens += u->tokens;
    c->has_body = true;
    return e;
}

/* Adds a sentence longer than the budget as runs of whole words (a word
 * longer than a chunk is cut on a character boundary). */
static enum lair_err add_words(struct chunker *c, struct unit u, int tokens)
{
    struct str s = u.text;
    size_t cps = codepoints(s.ptr, s.len);
    double per_token = (double)cps / (double)(tokens > 0 ? tokens : 1);
    size_t run = (size_t)((double)c->budget * per_token * 0.9);
    size_t pos = 0;
    while (pos < s.len) {
        size_t most = run > 0 ? run : 1, end = 0;
        int t = 0;
        for (int tries = 0; tries < 8; tries++) {
            end = pos + fwd_codepoints(s.ptr + pos, s.len - pos, most);
            if (end < s.len) {
                size_t sp = end;
                while (sp > pos && !is_space(s.ptr[sp]))
                    sp--;
                if (sp > pos)
                    end = sp;
            }
            t = count(c, (struct str){s.ptr + pos, end - pos});
            if (t <= c->budget || most <= 1)
                break;
            most = most * 3 / 4;
        }
        u.text = (struct str){s.ptr + pos, end - pos};
        u.tokens = t;
        enum lair_err e = add_unit(c, &u);
        if (e)
            return e;
        u.sep = ' ';
        u.header = (struct str){NULL, 0};
        for (pos = end; pos < s.len && is_space(s.ptr[pos]); pos++)
            u.sep = s.ptr[pos];
    }
    return LAIR_OK;
}

/* Adds a block's text: whole when it fits, else sentence by sentence. */
static enum lair_err add_text(struct chunker *c, struct unit u)
{
    u.tokens = count(c, u.text);
    if (u.tokens <= c->budget)
        return add_unit(c, &u);
    struct str s = u.text;
    size_t pos = 0;
    while (pos < s.len) {
        size_t end = sentence_end(s.ptr, s.len, pos);
        struct unit v = u;
        v.text = (struct str){s.ptr + pos, end - pos};
        while (v.text.len && is_space(v.text.ptr[v.text.len - 1]))
            v.text.len--;
        enum lair_err e = LAIR_OK;
        if (v.text.len) {
            v.tokens = count(c, v.text);
            e = v.tokens <= c->budget ? add_unit(c, &v) : add_words(c, v, v.tokens);
            u.sep = ' ';
            u.header = (struct str){NULL, 0};
        }
        if (e)
            return e;
        for (pos = end; pos < s.len && is_space(s.ptr[pos]); pos++)
            if (s.ptr[pos] == '\n')
                u.sep = '\n';
    }
    return LAIR_OK;
}

/* The text a block contributes: list items get "- " and an indent. */
static enum lair_err block_text(struct chunker *c, const struct doc_block *b, struct str *out)
{
    if (b->kind != DOC_LIST_ITEM) {
        *out = (struct str){b->text, b->len};
        return LAIR_OK;
    }
    buf_reset(&c->scratch);
    unsigned depth = b->level > 1 ? b->level - 1 : 0;
    enum lair_err e = LAIR_OK;
    for (unsigned i = 0; i < depth && i < LIST_INDENT_MAX && !e; i++)
        e = buf_append(&c->scratch, "  ", 2);
    if (!e)
        e = buf_append(&c->scratch, "- ", 2);
    if (!e)
        e = buf_append(&c->scratch, b->text, b->len);
    *out = buf_str(&c->scratch);
    return e;
}

static enum lair_err run(struct chunker *c, const struct doc *doc, bool headings_as_text)
{
    struct str header = {NULL, 0};
    int header_tokens = 0;
    for (size_t i = 0; i < doc->nblocks; i++) {
        const struct doc_block *b = &doc->blocks[i];
        if (b->kind == DOC_HEADING && !headings_as_text)
            continue;
        struct unit u = {
            .heading = b->heading_path ? b->heading_path : "", .page = b->page, .sep = '\n'};
        if (b->kind == DOC_TABLE_ROW && b->level == 1) {
            header = (struct str){b->text, b->len};
            header_tokens = count(c, header);
        } else if (b->kind == DOC_TABLE_ROW && header.len) {
            u.header = header;
            u.header_tokens = header_tokens;
        } else {
            header = (struct str){NULL, 0};
        }
        enum lair_err e = block_text(c, b, &u.text);
        if (!e && u.text.len)
            e = add_text(c, u);
        if (e)
            return e;
    }
    return flush(c, false);
}

enum lair_err chunk_doc(const struct doc *doc, const struct chunk_opts *opts, struct arena *out,
                        struct chunk **chunks, size_t *n)
{
    *chunks = NULL;
    *n = 0;
    struct chunk_opts o = opts ? *opts : (struct chunk_opts){0};
    struct chunker c = {.count = o.count, .arg = o.arg, .out = out};
    c.target = o.target_tokens > 0 ? o.target_tokens : CHUNK_TARGET_TOKENS;
    c.overlap = o.overlap_tokens < 0    ? 0
                : o.overlap_tokens == 0 ? c.target * CHUNK_OVERLAP_PERCENT / 100
                                        : o.overlap_tokens;
    if (c.overlap > c.target / 2)
        c.overlap = c.target / 2;
    c.budget = c.target - c.overlap;
    if (c.budget < 1)
        c.budget = 1;
    buf_init(&c.cur, 0);
    buf_init(&c.carry, 0);
    buf_init(&c.scratch, 0);
    enum lair_err e = run(&c, doc, false);
    if (!e && c.n == 0)
        e = run(&c, doc, true);
    buf_release(&c.cur);
    buf_release(&c.carry);
    buf_release(&c.scratch);
    if (e) {
        free(c.v);
        return e;
    }
    *chunks = c.v;
    *n = c.n;
    return LAIR_OK;
}
