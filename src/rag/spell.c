/* The spelling suggester over an FTS5 index's vocabulary. See spell.h. */
#include "rag/spell.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"

#include <utf8proc.h>

#include "core/banned.h"

/* FTS5's structure record: the row of <table>_data that lists the index's
 * segments; FTS5 rewrites it on every change (fts5Int.h,
 * FTS5_STRUCTURE_ROWID). */
#define STRUCTURE_ROWID 10

struct entry {
    uint32_t off; /* in pool */
    uint32_t df;
    uint8_t len;
    bool digit; /* holds a digit: never offered as a correction */
};

struct spell {
    char *pool;
    size_t pool_len, pool_cap;
    struct entry *e; /* sorted by length once loaded */
    size_t n, cap;
    uint32_t *slots;                      /* hash table: entry index + 1, 0 when free */
    size_t nslots;                        /* power of two */
    size_t by_len[ANALYZER_TERM_MAX + 2]; /* entries of length l: [by_len[l], by_len[l + 1]) */
    unsigned char *stamp;                 /* the structure record the snapshot was read under */
    size_t stamp_len;
    bool loaded;
};

enum lair_err spell_new(struct spell **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? LAIR_OK : LAIR_ENOMEM;
}

static void clear(struct spell *sp)
{
    free(sp->pool);
    free(sp->e);
    free(sp->slots);
    free(sp->stamp);
    *sp = (struct spell){0};
}

void spell_free(struct spell *sp)
{
    if (!sp)
        return;
    clear(sp);
    free(sp);
}

size_t spell_size(const struct spell *sp)
{
    return sp->n;
}

static uint32_t hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h;
}

static bool add_term(struct spell *sp, const char *t, size_t n, uint32_t df)
{
    if (n == 0 || n > ANALYZER_TERM_MAX)
        return true; /* FTS5 may hold what another tokenizer wrote: skip it */
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 4096;
        struct entry *e = realloc(sp->e, cap * sizeof(*e));
        if (!e)
            return false;
        sp->e = e;
        sp->cap = cap;
    }
    if (sp->pool_len + n > sp->pool_cap) {
        size_t cap = sp->pool_cap ? sp->pool_cap * 2 : 65536;
        while (cap < sp->pool_len + n)
            cap *= 2;
        char *p = realloc(sp->pool, cap);
        if (!p)
            return false;
        sp->pool = p;
        sp->pool_cap = cap;
    }
    bool digit = false;
    for (size_t i = 0; i < n; i++)
        digit |= t[i] >= '0' && t[i] <= '9';
    memcpy(sp->pool + sp->pool_len, t, n);
    sp->e[sp->n++] = (struct entry){(uint32_t)sp->pool_len, df, (uint8_t)n, digit};
    sp->pool_len += n;
    return true;
}

static int cmp_len(const void *x, const void *y)
{
    const struct entry *a = x, *b = y;
    return (a->len > b->len) - (a->len < b->len);
}

/* Sorts the entries by length and builds the hash table. */
static bool index_terms(struct spell *sp)
{
    if (sp->n) /* an empty index: no array at all (qsort wants one) */
        qsort(sp->e, sp->n, sizeof(*sp->e), cmp_len);
    size_t l = 0;
    for (size_t i = 0; i <= sp->n; i++)
        while (l <= ANALYZER_TERM_MAX + 1 && (i == sp->n || l <= sp->e[i].len))
            sp->by_len[l++] = i;
    sp->nslots = 1024;
    while (sp->nslots < 2 * sp->n)
        sp->nslots *= 2;
    sp->slots = calloc(sp->nslots, sizeof(*sp->slots));
    if (!sp->slots)
        return false;
    for (size_t i = 0; i < sp->n; i++) {
        size_t s = hash(sp->pool + sp->e[i].off, sp->e[i].len) & (sp->nslots - 1);
        while (sp->slots[s])
            s = (s + 1) & (sp->nslots - 1);
        sp->slots[s] = (uint32_t)i + 1;
    }
    return true;
}

static bool plain_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && c != '_')
            return false;
    }
    return true;
}

/* Reads the index's structure record into *stamp (malloc'd). An index that
 * has never been written has none: an empty stamp. */
static enum lair_err read_stamp(sqlite3 *db, const char *table, unsigned char **stamp, size_t *len)
{
    char sql[160];
    sqlite3_stmt *st;
    *stamp = NULL;
    *len = 0;
    snprintf(sql, sizeof(sql), "SELECT block FROM \"%s_data\" WHERE id = %d", table,
             STRUCTURE_ROWID);
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    enum lair_err e = LAIR_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const void *blob = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        *stamp = malloc(n ? n : 1);
        if (*stamp && (blob || !n)) { /* NULL with bytes: SQLite had no memory */
            if (n)
                memcpy(*stamp, blob, n);
            *len = n;
        } else {
            free(*stamp);
            *stamp = NULL;
            e = LAIR_ENOMEM;
        }
    } else if (rc != SQLITE_DONE) {
        e = LAIR_EDB;
    }
    sqlite3_finalize(st);
    return e;
}

static enum lair_err load(struct spell *sp, sqlite3 *db, const char *table)
{
    char sql[256];
    snprintf(sql, sizeof(sql),
             "CREATE VIRTUAL TABLE IF NOT EXISTS temp.\"%s_lair_vocab\" USING fts5vocab(main, "
             "\"%s\", row)",
             table, table);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return LAIR_EDB;
    snprintf(sql, sizeof(sql), "SELECT term, doc FROM temp.\"%s_lair_vocab\"", table);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    int rc;
    bool ok = true;
    while (ok && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 df = sqlite3_column_int64(st, 1);
        const char *term = (const char *)sqlite3_column_text(st, 0);
        /* NULL: SQLite had no memory to give the text (a term is never empty) */
        ok = term && add_term(sp, term, (size_t)sqlite3_column_bytes(st, 0),
                              df > UINT32_MAX ? UINT32_MAX : (uint32_t)df);
    }
    sqlite3_finalize(st);
    if (!ok)
        return LAIR_ENOMEM;
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    return index_terms(sp) ? LAIR_OK : LAIR_ENOMEM;
}

enum lair_err spell_sync(struct spell *sp, sqlite3 *db, const char *table)
{
    if (!plain_name(table)) {
        clear(sp);
        return LAIR_EINVAL;
    }
    /* The connection is shared by threads (a server's ingestion writes on
     * it): between two steps of the vocabulary's scan, another thread's
     * commit would change the index under it (FTS5 then ends the scan with
     * SQLITE_ABORT, and every search failed while documents were being
     * indexed). Holding the connection's (recursive) mutex makes the
     * stamp and the scan one consistent read. */
    sqlite3_mutex *m = sqlite3_db_mutex(db);
    sqlite3_mutex_enter(m);
    unsigned char *stamp;
    size_t len;
    enum lair_err e = read_stamp(db, table, &stamp, &len);
    if (e) {
        clear(sp);
        sqlite3_mutex_leave(m);
        return e;
    }
    if (sp->loaded && len == sp->stamp_len && (len == 0 || memcmp(stamp, sp->stamp, len) == 0)) {
        free(stamp);
        sqlite3_mutex_leave(m);
        return LAIR_OK;
    }
    clear(sp);
    e = load(sp, db, table);
    sqlite3_mutex_leave(m);
    if (e) {
        clear(sp);
        free(stamp);
        return e;
    }
    sp->stamp = stamp;
    sp->stamp_len = len;
    sp->loaded = true;
    return LAIR_OK;
}

static const struct entry *find(const struct spell *sp, const char *t, size_t n)
{
    if (!sp->nslots)
        return NULL;
    for (size_t s = hash(t, n) & (sp->nslots - 1); sp->slots[s]; s = (s + 1) & (sp->nslots - 1)) {
        const struct entry *e = &sp->e[sp->slots[s] - 1];
        if (e->len == n && memcmp(sp->pool + e->off, t, n) == 0)
            return e;
    }
    return NULL;
}

uint32_t spell_df(const struct spell *sp, const char *term, size_t len)
{
    const struct entry *e = find(sp, term, len);
    return e ? e->df : 0;
}

unsigned spell_max_dist(size_t chars)
{
    return chars < SPELL_MIN_CHARS ? 0 : chars < SPELL_LONG_CHARS ? 1 : 2;
}

unsigned spell_distance(const char *a, size_t na, const char *b, size_t nb, unsigned bound)
{
    if (na > ANALYZER_TERM_MAX || nb > ANALYZER_TERM_MAX)
        return bound + 1;
    if ((na > nb ? na - nb : nb - na) > bound)
        return bound + 1;
    /* three rows of the dynamic programme: two back (for transpositions),
     * one back, this one */
    unsigned r0[ANALYZER_TERM_MAX + 1], r1[ANALYZER_TERM_MAX + 1], r2[ANALYZER_TERM_MAX + 1];
    unsigned *pp = r0, *p = r1, *c = r2;
    for (size_t j = 0; j <= nb; j++)
        p[j] = (unsigned)j;
    for (size_t i = 1; i <= na; i++) {
        unsigned low = c[0] = (unsigned)i;
        for (size_t j = 1; j <= nb; j++) {
            unsigned cost = a[i - 1] != b[j - 1];
            unsigned v = p[j - 1] + cost;
            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
            if (v < low)
                low = v;
        }
        if (low > bound)
            return bound + 1;
        unsigned *t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[nb] <= bound ? p[nb] : bound + 1;
}

/* Whether x ranks before y: closer, then more frequent, then bytes. */
static bool better(const struct spell_cand *x, const struct spell_cand *y)
{
    if (x->dist != y->dist)
        return x->dist < y->dist;
    if (x->df != y->df)
        return x->df > y->df;
    int c = memcmp(x->term, y->term, x->len < y->len ? x->len : y->len);
    return c ? c < 0 : x->len < y->len;
}

size_t spell_suggest(const struct spell *sp, const char *term, size_t len, unsigned max_dist,
                     struct spell_cand *out, size_t max)
{
    size_t n = 0;
    if (max == 0 || len == 0 || len > ANALYZER_TERM_MAX || !sp->n)
        return 0;
    if (max_dist > SPELL_MAX_DIST)
        max_dist = SPELL_MAX_DIST;
    size_t lo = len > max_dist ? len - max_dist : 1;
    size_t hi = len + max_dist <= ANALYZER_TERM_MAX ? len + max_dist : ANALYZER_TERM_MAX;
    for (size_t l = lo; l <= hi; l++)
        for (size_t i = sp->by_len[l]; i < sp->by_len[l + 1]; i++) {
            const struct entry *e = &sp->e[i];
            const char *t = sp->pool + e->off;
            /* the first letter is kept: people rarely mistype it (Pollock and
             * Zamora, 1983: in 93 % of misspellings it is right), and a
             * different one mostly makes another word ("tarte", "carte") */
            if (e->digit || t[0] != term[0] || (e->len == len && memcmp(t, term, len) == 0))
                continue;
            unsigned d = spell_distance(term, len, t, e->len, max_dist);
            if (d > max_dist)
                continue;
            struct spell_cand c = {.len = e->len, .dist = d, .df = e->df};
            memcpy(c.term, t, e->len);
            c.term[e->len] = 0;
            if (n == max && !better(&c, &out[n - 1]))
                continue;
            size_t k = n < max ? n++ : max - 1;
            while (k > 0 && better(&c, &out[k - 1])) {
                out[k] = out[k - 1];
                k--;
            }
            out[k] = c;
        }
    return n;
}

/* The letters tried where one is inserted or replaced: French's, with its
 * accents (œ and æ are expanded by the analyzer: not needed). */
static const utf8proc_int32_t ALPHABET[] = {
    'a',  'b',  'c',  'd',  'e',  'f',  'g',  'h',  'i',  'j',  'k',  'l',  'm',
    'n',  'o',  'p',  'q',  'r',  's',  't',  'u',  'v',  'w',  'x',  'y',  'z',
    0xe0, 0xe2, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xee, 0xef, 0xf4, 0xf9, 0xfb, 0xfc};
#define N_ALPHABET (sizeof(ALPHABET) / sizeof(ALPHABET[0]))

/* Keeps cand in out[0..*n) (at most max, most frequent first), unless it
 * is there already. */
static void keep_cand(struct spell_cand *out, size_t *n, size_t max, const struct spell_cand *c)
{
    for (size_t i = 0; i < *n; i++)
        if (out[i].len == c->len && memcmp(out[i].term, c->term, c->len) == 0)
            return;
    if (*n == max && !better(c, &out[*n - 1]))
        return;
    size_t k = *n < max ? (*n)++ : max - 1;
    while (k > 0 && better(c, &out[k - 1])) {
        out[k] = out[k - 1];
        k--;
    }
    out[k] = *c;
}

struct variants {
    const struct spell *sp;
    struct analyzer *a;
    const char *own; /* the word's own term */
    size_t own_len;
    struct spell_cand *out;
    size_t n, max;
};

/* Tries one variant (n code points). */
static void try_variant(struct variants *v, const utf8proc_int32_t *cp, size_t n)
{
    char word[SPELL_WORD_MAX * 4 + 8], term[ANALYZER_TERM_MAX + 1];
    size_t len = 0;
    for (size_t i = 0; i < n; i++)
        len += (size_t)utf8proc_encode_char(cp[i], (utf8proc_uint8_t *)word + len);
    size_t tl = analyzer_term_of(v->a, (struct str){word, len}, 0, term, sizeof(term));
    if (!tl || (tl == v->own_len && memcmp(term, v->own, tl) == 0))
        return;
    const struct entry *e = find(v->sp, term, tl);
    if (!e || e->digit)
        return;
    struct spell_cand c = {.len = tl, .dist = 1, .df = e->df};
    memcpy(c.term, term, tl + 1);
    keep_cand(v->out, &v->n, v->max, &c);
}

size_t spell_suggest_word(const struct spell *sp, struct analyzer *a, struct str word,
                          struct spell_cand *out, size_t max)
{
    utf8proc_int32_t cp[SPELL_WORD_MAX + 1], var[SPELL_WORD_MAX + 2];
    size_t n = 0;
    if (max == 0 || !sp->n)
        return 0;
    for (size_t i = 0; i < word.len;) {
        utf8proc_int32_t c;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)word.ptr + i,
                                              (utf8proc_ssize_t)(word.len - i), &c);
        if (k <= 0 || n == SPELL_WORD_MAX)
            return 0;
        cp[n++] = utf8proc_tolower(c);
        i += (size_t)k;
    }
    if (n < 2)
        return 0;
    char own[ANALYZER_TERM_MAX + 1];
    struct variants v = {.sp = sp, .a = a, .own = own, .out = out, .max = max};
    v.own_len = analyzer_term_of(a, word, 0, own, sizeof(own));
    /* each edit leaves cp[0] alone (see spell_suggest) and falls in the
     * word's last SPELL_WORD_TAIL characters */
    size_t from = n > SPELL_WORD_TAIL + 1 ? n - SPELL_WORD_TAIL : 1;
    for (size_t i = from; i < n; i++) { /* drop cp[i] */
        memcpy(var, cp, i * sizeof(*cp));
        memcpy(var + i, cp + i + 1, (n - i - 1) * sizeof(*cp));
        try_variant(&v, var, n - 1);
    }
    for (size_t i = from > 1 ? from - 1 : 1; i + 1 < n; i++) { /* swap cp[i], cp[i + 1] */
        if (cp[i] == cp[i + 1])
            continue;
        memcpy(var, cp, n * sizeof(*cp));
        var[i] = cp[i + 1];
        var[i + 1] = cp[i];
        try_variant(&v, var, n);
    }
    for (size_t i = from; i <= n; i++) /* insert before cp[i] */
        for (size_t l = 0; l < N_ALPHABET; l++) {
            memcpy(var, cp, i * sizeof(*cp));
            var[i] = ALPHABET[l];
            memcpy(var + i + 1, cp + i, (n - i) * sizeof(*cp));
            try_variant(&v, var, n + 1);
        }
    for (size_t i = from; i < n; i++) /* replace cp[i] */
        for (size_t l = 0; l < N_ALPHABET; l++) {
            if (ALPHABET[l] == cp[i])
                continue;
            memcpy(var, cp, n * sizeof(*cp));
            var[i] = ALPHABET[l];
            try_variant(&v, var, n);
        }
    return v.n;
}
