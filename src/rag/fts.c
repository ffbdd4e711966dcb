/* The "lair_fr" FTS5 tokenizer and the BM25 search helper. See fts.h. */
#include "rag/fts.h"

#include <math.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rag/spell.h"
#include "rag/synonyms.h"

#include "core/banned.h"

double fts_knob(const char *name, double def)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return def;
    if (!strcmp(v, "off"))
        return 0;
    char *end;
    double d = strtod(v, &end);
    return *end ? def : d;
}

struct tokenizer {
    struct analyzer *an;
};

static int tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
    *out = NULL;
    if (argc != 0)
        return SQLITE_ERROR; /* lair_fr takes no options */
    struct tokenizer *t = calloc(1, sizeof(*t));
    if (!t)
        return SQLITE_NOMEM;
    if (analyzer_new(&t->an) != LAIR_OK) {
        free(t);
        return SQLITE_NOMEM;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *p)
{
    struct tokenizer *t = (struct tokenizer *)p;
    if (!t)
        return;
    analyzer_free(t->an);
    free(t);
}

/* Documents and query phrases go through the same pipeline, so that a
 * quoted question word finds the document words it stems like; only the
 * last word of a prefix query stays whole. */
static int tok_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int len,
                        int (*emit)(void *, int, const char *, int, int, int))
{
    struct tokenizer *t = (struct tokenizer *)p;
    unsigned af = ANALYZER_ALTERNATIVES;
    if ((flags & FTS5_TOKENIZE_QUERY) && (flags & FTS5_TOKENIZE_PREFIX))
        af |= ANALYZER_PREFIX;
    struct str s = {text ? text : "", text && len > 0 ? (size_t)len : 0};
    struct analyzer_term term;
    /* a correction (fts_query_build): already a term of the index */
    if ((flags & FTS5_TOKENIZE_QUERY) && s.len > 1 && s.ptr[0] == FTS_VERBATIM[0])
        return s.len - 1 <= ANALYZER_TERM_MAX ? emit(ctx, 0, s.ptr + 1, (int)s.len - 1, 0, len)
                                              : SQLITE_OK;
    analyzer_start(t->an, s, af);
    while (analyzer_next(t->an, &term)) {
        int rc = emit(ctx, term.colocated ? FTS5_TOKEN_COLOCATED : 0, term.ptr, (int)term.len,
                      (int)term.start, (int)term.end);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

/* Score of a row that cannot reach the top k: below any real score. */
#define SCORE_PRUNED -1e300
/* Positions kept per phrase and row to find adjacent pairs. */
#define POS_MAX 128

/* What lair_bm25 keeps for one MATCH query: the phrases' IDF, the mean
 * document length, the k best scores so far (a min-heap) and, per row, the
 * phrases' frequencies and first positions. */
struct rank_state {
    int nphrase, k, nheap, window;
    double k1, b, pair, avgdl, head, reverse, coord, lead;
    int lead_n;
    double *idf;  /* [nphrase], times the phrase's weight */
    double *w;    /* [nphrase]: weight (1 for the question's own words) */
    int *slot;    /* [nphrase]: the question word it stands for, nondecreasing */
    double *heap; /* [k] */
    int *tf;      /* [nphrase]: positions in the row */
    double *tfw;  /* [nphrase]: frequency with heading positions weighing head */
    int *npos;    /* [nphrase] */
    int64_t *pos; /* [nphrase][POS_MAX]: column << 32 | offset */
};

static int count_row(const Fts5ExtensionApi *api, Fts5Context *fts, void *user)
{
    (*(sqlite3_int64 *)user)++;
    return SQLITE_OK;
}

/* Reads the weights argument (fts.h: FTS_RANK) into rs->w and rs->slot:
 * each phrase's weight and slot, or 1 and its own index when the argument is
 * missing or does not fit the query. */
static void read_weights(struct rank_state *rs, sqlite3_value *arg)
{
    const unsigned char *blob = arg ? sqlite3_value_blob(arg) : NULL;
    int n = arg ? sqlite3_value_bytes(arg) : 0;
    bool ok = blob && n == rs->nphrase * (int)(2 * sizeof(double));
    for (int i = 0; i < rs->nphrase; i++) {
        double v[2] = {1, (double)i};
        if (ok)
            memcpy(v, blob + (size_t)i * sizeof(v), sizeof(v));
        rs->w[i] = v[0] > 0 && v[0] <= 1 ? v[0] : 1;
        rs->slot[i] = (int)v[1];
        if (i > 0 && rs->slot[i] < rs->slot[i - 1])
            ok = false, rs->slot[i] = rs->slot[i - 1] + 1;
    }
}

static struct rank_state *rank_state_new(const Fts5ExtensionApi *api, Fts5Context *fts, int k,
                                         double k1, double b, double pair, sqlite3_value *weights)
{
    int np = api->xPhraseCount(fts);
    size_t size = sizeof(struct rank_state) + (size_t)np * (3 * sizeof(double) + 3 * sizeof(int)) +
                  (size_t)k * sizeof(double) + (size_t)np * POS_MAX * sizeof(int64_t);
    struct rank_state *rs = sqlite3_malloc64(size);
    if (!rs)
        return NULL;
    *rs = (struct rank_state){.nphrase = np,
                              .k = k,
                              .k1 = k1,
                              .b = b,
                              .pair = pair,
                              .head = fts_knob("LIBREAIR_HEAD_WEIGHT", FTS_HEAD_WEIGHT),
                              .window = (int)fts_knob("LIBREAIR_PROX_WINDOW", FTS_PROX_WINDOW)};
    if (rs->head < 0 || rs->head > 10)
        rs->head = FTS_HEAD_WEIGHT;
    if (rs->window < 1 || rs->window > 16)
        rs->window = FTS_PROX_WINDOW;
    rs->reverse = fts_knob("LIBREAIR_PROX_REVERSE", 0);
    /* measured and left neutral (fts.h) */
    rs->coord = fts_knob("LIBREAIR_COORD", 0);
    if (rs->coord < 0 || rs->coord > 4)
        rs->coord = 0;
    rs->lead = fts_knob("LIBREAIR_LEAD", 1);
    if (rs->lead < 0 || rs->lead > 10)
        rs->lead = 1;
    rs->lead_n = (int)fts_knob("LIBREAIR_LEAD_N", 30);
    if (rs->lead_n < 1 || rs->lead_n > 10000)
        rs->lead_n = 30;
    double idf_pow = fts_knob("LIBREAIR_IDF_POW", 1);
    if (idf_pow < 0.1 || idf_pow > 4)
        idf_pow = 1;
    if (rs->reverse < 0 || rs->reverse > 1)
        rs->reverse = 0;
    rs->pos = (int64_t *)(rs + 1);
    rs->idf = (double *)(rs->pos + (size_t)np * POS_MAX);
    rs->w = rs->idf + np;
    rs->tfw = rs->w + np;
    rs->heap = rs->tfw + np;
    rs->tf = (int *)(rs->heap + k);
    rs->npos = rs->tf + np;
    rs->slot = rs->npos + np;
    read_weights(rs, weights);
    sqlite3_int64 nrow = 0, ntok = 0;
    if (api->xRowCount(fts, &nrow) != SQLITE_OK ||
        api->xColumnTotalSize(fts, -1, &ntok) != SQLITE_OK)
        nrow = ntok = 0;
    rs->avgdl = nrow > 0 && ntok > 0 ? (double)ntok / (double)nrow : 1.0;
    for (int i = 0; i < np; i++) {
        sqlite3_int64 df = 0;
        if (api->xQueryPhrase(fts, i, &df, count_row) != SQLITE_OK) {
            sqlite3_free(rs);
            return NULL;
        }
        double idf = log(((double)nrow - (double)df + 0.5) / ((double)df + 0.5));
        idf = idf > 1e-6 ? idf : 1e-6;
        if (idf_pow != 1)
            idf = pow(idf, idf_pow);
        rs->idf[i] = idf * rs->w[i];
    }
    return rs;
}

/* Adds score to the heap of the k best. */
static void heap_push(struct rank_state *rs, double score)
{
    double *h = rs->heap;
    int i;
    if (rs->nheap < rs->k) {
        for (i = rs->nheap++; i > 0 && h[(i - 1) / 2] > score; i = (i - 1) / 2)
            h[i] = h[(i - 1) / 2];
        h[i] = score;
        return;
    }
    if (score <= h[0])
        return;
    for (i = 0;;) {
        int c = 2 * i + 1;
        if (c >= rs->k)
            break;
        if (c + 1 < rs->k && h[c + 1] < h[c])
            c++;
        if (h[c] >= score)
            break;
        h[i] = h[c];
        i = c;
    }
    h[i] = score;
}

/* BM25's saturating term frequency: tf (k1 + 1) / (tf + norm). */
static double saturate(double tf, double k1, double norm)
{
    return tf * (k1 + 1) / (tf + norm);
}

/* How closely phrase j follows phrase i in the row: each position of i
 * counts 1 when j starts right after it and, with a window over 1, 1 / (1 +
 * d) when the nearest position of j in the same column is d words away
 * (either side, d at most the window); the sum is capped at the smaller
 * frequency, so that read_row's bound holds. Window 1 is the plain count of
 * "i j" side by side, plus reverse for each "j i". */
static double pair_count(const struct rank_state *rs, int i, int j)
{
    const int64_t *a = rs->pos + (size_t)i * POS_MAX, *b = rs->pos + (size_t)j * POS_MAX;
    int na = rs->npos[i], nb = rs->npos[j], y = 0;
    double n = 0;
    for (int x = 0; x < na; x++) {
        while (y < nb && b[y] < a[x] - rs->window)
            y++;
        double best = 0;
        for (int z = y; z < nb && b[z] <= a[x] + rs->window; z++) {
            int64_t d = b[z] - a[x];
            double v = d == 1                       ? 1
                       : d == -1 && rs->window == 1 ? rs->reverse
                       : d == 0 || rs->window == 1  ? 0
                                                    : 1.0 / (1.0 + (double)(d < 0 ? -d : d));
            best = v > best ? v : best;
        }
        n += best;
    }
    double most = na < nb ? na : nb;
    return n < most ? n : most;
}

/* Reads the frequency and first positions of each phrase in the row; returns
 * the best score the row could have, whatever its length. */
static double read_row(struct rank_state *rs, const Fts5ExtensionApi *api, Fts5Context *fts)
{
    double bound = 0, k1 = rs->k1, low = k1 * (1 - rs->b);
    for (int i = 0; i < rs->nphrase; i++) {
        Fts5PhraseIter it;
        int col, off, tf = 0;
        int64_t *pos = rs->pos + (size_t)i * POS_MAX;
        if (api->xPhraseFirst(fts, i, &it, &col, &off) == SQLITE_OK)
            for (; col >= 0; api->xPhraseNext(fts, &it, &col, &off)) {
                if (tf < POS_MAX)
                    pos[tf] = (int64_t)col << 32 | (uint32_t)off;
                tf++;
            }
        rs->tf[i] = tf;
        rs->npos[i] = tf < POS_MAX ? tf : POS_MAX;
        if (!tf)
            continue;
        /* BM25F: a heading word (column 1) counts head times; a body word
         * among the first lead_n, lead times */
        double tfw = tf;
        for (int x = 0; x < rs->npos[i] && rs->head != 1; x++)
            tfw += (pos[x] >> 32) == 1 ? rs->head - 1 : 0;
        for (int x = 0; x < rs->npos[i] && rs->lead != 1; x++)
            tfw += (pos[x] >> 32) == 0 && (pos[x] & 0xffffffff) < rs->lead_n ? rs->lead - 1 : 0;
        rs->tfw[i] = tfw;
        bound += rs->idf[i] * saturate(tfw, k1, low);
        for (int p = i - 1; rs->pair > 0 && p >= 0 && rs->slot[p] >= rs->slot[i] - 1; p--) {
            if (rs->slot[p] != rs->slot[i] - 1 || !rs->tf[p])
                continue;
            int most = tf < rs->tf[p] ? tf : rs->tf[p];
            double w = rs->idf[i] < rs->idf[p] ? rs->idf[i] : rs->idf[p];
            bound += rs->pair * w * saturate(most, k1, low);
        }
    }
    return bound;
}

static double row_score(const struct rank_state *rs, int dl)
{
    double k1 = rs->k1, norm = k1 * (1 - rs->b + rs->b * (double)dl / rs->avgdl), score = 0;
    for (int i = 0; i < rs->nphrase; i++) {
        if (!rs->tf[i])
            continue;
        score += rs->idf[i] * saturate(rs->tfw[i], k1, norm);
        for (int p = i - 1; rs->pair > 0 && p >= 0 && rs->slot[p] >= rs->slot[i] - 1; p--) {
            if (rs->slot[p] != rs->slot[i] - 1 || !rs->tf[p])
                continue;
            double n = pair_count(rs, p, i);
            double w = rs->idf[i] < rs->idf[p] ? rs->idf[i] : rs->idf[p];
            if (n)
                score += rs->pair * w * saturate(n, k1, norm);
        }
    }
    /* coordination: times (the question's IDF that the row matches, each
     * word counted once at its best phrase / all of it) ^ coord; at most 1,
     * so read_row's bound holds */
    if (rs->coord > 0) {
        double all = 0, got = 0, best_all = 0, best_got = 0;
        for (int i = 0; i < rs->nphrase; i++) {
            if (i > 0 && rs->slot[i] != rs->slot[i - 1])
                all += best_all, got += best_got, best_all = best_got = 0;
            best_all = rs->idf[i] > best_all ? rs->idf[i] : best_all;
            if (rs->tf[i])
                best_got = rs->idf[i] > best_got ? rs->idf[i] : best_got;
        }
        all += best_all, got += best_got;
        if (all > 0)
            score *= pow(got / all, rs->coord);
    }
    return score;
}

/* lair_bm25(table [, k [, k1, b [, pair [, weights]]]]): BM25 of the row
 * for the MATCH query, higher is better, plus a bonus when the words of
 * consecutive question words stand next to each other in the row ("titre de
 * séjour"); each phrase's part is scaled by its weight (fts.h). With k, rows that
 * cannot be among the k best get SCORE_PRUNED without reading their length:
 * their score, bounded by the shortest possible document, is below the k-th
 * best seen so far. That skips most %_docsize lookups, which dominate the
 * cost of FTS5's own bm25(). The whole row counts as one field. */
static void rank_bm25(const Fts5ExtensionApi *api, Fts5Context *fts, sqlite3_context *ctx, int argc,
                      sqlite3_value **argv)
{
    struct rank_state *rs = api->xGetAuxdata(fts, 0);
    if (!rs) {
        int k = argc >= 1 ? sqlite3_value_int(argv[0]) : 0;
        double k1 = argc >= 3 ? sqlite3_value_double(argv[1]) : FTS_BM25_K1;
        double b = argc >= 3 ? sqlite3_value_double(argv[2]) : FTS_BM25_B;
        double pair = argc >= 4 ? sqlite3_value_double(argv[3]) : FTS_BM25_PAIR;
        rs = rank_state_new(api, fts, k > 0 && k <= 10000 ? k : 0, k1, b, pair,
                            argc >= 5 ? argv[4] : NULL);
        if (!rs || api->xSetAuxdata(fts, rs, sqlite3_free) != SQLITE_OK) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    double bound = read_row(rs, api, fts);
    if (rs->k && rs->nheap == rs->k && bound <= rs->heap[0]) {
        sqlite3_result_double(ctx, SCORE_PRUNED);
        return;
    }
    int dl = 0;
    if (api->xColumnSize(fts, -1, &dl) != SQLITE_OK)
        dl = 0;
    double score = row_score(rs, dl);
    if (rs->k)
        heap_push(rs, score);
    sqlite3_result_double(ctx, score);
}

static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    return api;
}

/* Per connection: its spelling snapshot, behind a mutex (a tenant's
 * connection is shared by threads). Found from the sqlite3 handle through a
 * short list; the entry leaves the list when SQLite closes the connection
 * (the destructor of lair_bm25's user data). */
struct fts_conn {
    struct fts_conn *next;
    sqlite3 *db;
    pthread_mutex_t mu;
    struct spell *spell;
};

static pthread_mutex_t conns_mu = PTHREAD_MUTEX_INITIALIZER;
static struct fts_conn *conns;

static void conn_free(void *p)
{
    struct fts_conn *c = p;
    pthread_mutex_lock(&conns_mu);
    for (struct fts_conn **at = &conns; *at; at = &(*at)->next)
        if (*at == c) {
            *at = c->next;
            break;
        }
    pthread_mutex_unlock(&conns_mu);
    pthread_mutex_destroy(&c->mu);
    spell_free(c->spell);
    free(c);
}

static struct fts_conn *conn_of(sqlite3 *db)
{
    struct fts_conn *c;
    pthread_mutex_lock(&conns_mu);
    for (c = conns; c && c->db != db; c = c->next)
        ;
    pthread_mutex_unlock(&conns_mu);
    return c;
}

enum lair_err fts_register(sqlite3 *db)
{
    fts5_api *api = fts5_api_of(db);
    if (!api || api->iVersion < 2)
        return LAIR_EDB;
    struct fts_conn *c = calloc(1, sizeof(*c));
    if (!c || spell_new(&c->spell) != LAIR_OK) {
        free(c);
        return LAIR_ENOMEM;
    }
    c->db = db;
    pthread_mutex_init(&c->mu, NULL);
    fts5_tokenizer tok = {tok_create, tok_delete, tok_tokenize};
    /* once lair_bm25 is registered, SQLite owns c and frees it on close
     * (FTS5 calls no destructor when a registration fails) */
    if (api->xCreateTokenizer(api, FTS_TOKENIZER, NULL, &tok, NULL) != SQLITE_OK ||
        api->xCreateFunction(api, FTS_RANK, c, rank_bm25, conn_free) != SQLITE_OK) {
        conn_free(c);
        return LAIR_EDB;
    }
    pthread_mutex_lock(&conns_mu);
    c->next = conns;
    conns = c;
    pthread_mutex_unlock(&conns_mu);
    return LAIR_OK;
}

/* Appends word as an FTS5 string: double quotes around, inner ones doubled.
 * The analyzer's words never hold a quote; doubling keeps that true by
 * construction rather than by reasoning. */
static enum lair_err put_quoted(struct buf *out, const char *w, size_t n)
{
    enum lair_err e = buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && e == LAIR_OK; i++)
        e = w[i] == '"' ? buf_append(out, "\"\"", 2) : buf_append(out, w + i, 1);
    return e ? e : buf_append(out, "\"", 1);
}

void fts_query_init(struct fts_query *q)
{
    *q = (struct fts_query){0};
    buf_init(&q->expr, 1 << 16);
    buf_init(&q->weights, 1 << 16);
    buf_init(&q->terms, 1 << 16);
    q->rowid_hi = INT64_MAX;
}

void fts_query_release(struct fts_query *q)
{
    buf_release(&q->expr);
    buf_release(&q->weights);
    buf_release(&q->terms);
}

/* Records an index term that q searches. */
static enum lair_err add_term(struct fts_query *q, const char *t, size_t n)
{
    enum lair_err e = buf_append(&q->terms, t, n);
    return e ? e : buf_append(&q->terms, "", 1);
}

static bool has_term(const struct fts_query *q, const char *t, size_t n)
{
    for (size_t i = 0; i < q->terms.len;) {
        size_t m = strlen(q->terms.ptr + i);
        if (m == n && !memcmp(q->terms.ptr + i, t, n))
            return true;
        i += m + 1;
    }
    return false;
}

/* One distinct word of the question: its term, its alternative (or ""),
 * where the user wrote it, and its corrections. */
struct word {
    char term[ANALYZER_TERM_MAX + 1], alt[ANALYZER_TERM_MAX + 1];
    size_t len, alt_len, start, end;
    struct spell_cand fix[FTS_SPELL_CANDS];
    size_t n_fix;
};

static enum lair_err put_phrase(struct fts_query *q, const char *w, size_t n, bool verbatim,
                                double weight, size_t slot)
{
    double v[2] = {weight, (double)slot};
    enum lair_err e = q->expr.len ? buf_append(&q->expr, " OR ", 4) : LAIR_OK;
    if (!e && verbatim)
        e = buf_append(&q->expr, "\"" FTS_VERBATIM, 1 + strlen(FTS_VERBATIM));
    if (!e)
        e = verbatim ? buf_append(&q->expr, w, n) : put_quoted(&q->expr, w, n);
    if (!e && verbatim)
        e = buf_append(&q->expr, "\"", 1);
    if (!e)
        e = buf_append(&q->weights, (const char *)v, sizeof(v));
    if (!e)
        q->n_phrases++;
    return e;
}

static size_t utf8_chars(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static bool env_off(const char *name)
{
    const char *v = getenv(name);
    return v && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0);
}

static bool spelling_off(void)
{
    const char *v = getenv("LIBREAIR_SPELL");
    return v && (strcmp(v, "off") == 0 || strcmp(v, "0") == 0);
}

/* Looks up the corrections of the words that the index of table does not
 * hold (neither their term nor its alternative). */
static enum lair_err correct(struct analyzer *a, sqlite3 *db, const char *table,
                             struct str question, struct word *words, size_t n)
{
    size_t wanted = 0;
    for (size_t i = 0; i < n; i++)
        wanted += spell_max_dist(
                      utf8_chars(question.ptr + words[i].start, words[i].end - words[i].start)) > 0;
    struct fts_conn *c = wanted ? conn_of(db) : NULL;
    if (!c)
        return LAIR_OK;
    pthread_mutex_lock(&c->mu);
    enum lair_err e = spell_sync(c->spell, db, table);
    size_t typed_tries = 0;
    for (size_t i = 0, fixed = 0; !e && i < n && fixed < FTS_SPELL_WORDS_MAX; i++) {
        struct word *w = &words[i];
        unsigned d = spell_max_dist(utf8_chars(question.ptr + w->start, w->end - w->start));
        bool digit = false;
        for (size_t j = 0; j < w->len; j++)
            digit |= w->term[j] >= '0' && w->term[j] <= '9';
        if (!d || digit || spell_df(c->spell, w->term, w->len) ||
            (w->alt_len && spell_df(c->spell, w->alt, w->alt_len)))
            continue;
        /* the typed word's one-edit variants first, then the term's
         * neighbours in the vocabulary (spell.h) */
        struct str typed = {question.ptr + w->start, w->end - w->start};
        w->n_fix = 0;
        if (typed_tries < FTS_SPELL_TYPED_MAX && !env_off("LIBREAIR_SPELL_WORD")) {
            typed_tries++;
            w->n_fix = spell_suggest_word(c->spell, a, typed, w->fix, FTS_SPELL_CANDS);
        }
        if (w->n_fix < FTS_SPELL_CANDS) {
            struct spell_cand more[FTS_SPELL_CANDS];
            size_t m = spell_suggest(c->spell, w->term, w->len, d, more, FTS_SPELL_CANDS);
            for (size_t j = 0; j < m && w->n_fix < FTS_SPELL_CANDS; j++) {
                bool seen = false;
                for (size_t x = 0; x < w->n_fix && !seen; x++)
                    seen = w->fix[x].len == more[j].len &&
                           memcmp(w->fix[x].term, more[j].term, more[j].len) == 0;
                if (!seen)
                    w->fix[w->n_fix++] = more[j];
            }
        }
        fixed += w->n_fix > 0;
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}

/* Whether expression x's words stand in a row in seq[0..n) (the question's
 * words, as indexes into words). */
static bool expr_in(const struct syn_expr *x, const struct word *words, const size_t *seq, size_t n,
                    size_t *last, size_t *first)
{
    for (size_t i = 0; i + x->n_terms <= n; i++) {
        size_t j = 0;
        while (j < x->n_terms && !strcmp(words[seq[i + j]].term, x->terms[j]))
            j++;
        if (j == x->n_terms) {
            *last = seq[i + j - 1];
            *first = seq[i];
            return true;
        }
    }
    return false;
}

/* The synonym phrases of the question: per slot (question word), the
 * expressions to add after it. */
struct syn_add {
    const struct syn_expr *x, *matched;
    size_t slot, first; /* the matched expression's last and first words */
};

static size_t find_synonyms(const struct syn_set *syn, const struct word *words, const size_t *seq,
                            size_t n_seq, struct syn_add *add)
{
    size_t n = 0;
    for (size_t g = 0; syn && g < syn->n_groups && n < SYN_QUERY_PHRASES_MAX; g++) {
        size_t lo = syn->first[g], hi = syn->first[g + 1], slot = 0, first = 0, hit = hi;
        for (size_t m = lo; m < hi && hit == hi; m++)
            if (expr_in(&syn->exprs[m], words, seq, n_seq, &slot, &first))
                hit = m;
        for (size_t m = lo; hit < hi && m < hi && n < SYN_QUERY_PHRASES_MAX; m++) {
            size_t ig1, ig2;
            if (m != hit && !expr_in(&syn->exprs[m], words, seq, n_seq, &ig1, &ig2))
                add[n++] = (struct syn_add){&syn->exprs[m], &syn->exprs[hit], slot, first};
        }
    }
    return n;
}

/* Keeps the synonyms whose matched expression is in no passage of the
 * searched rows (q->rowid_lo..hi: one knowledge base): equivalences bridge
 * the citizen's words to a base that does not use them. When the base
 * speaks the question's words already, adding their equivalents only
 * brings passages that share one word with the question (measured,
 * bench/rag/README.md). */
static enum lair_err keep_gaps(sqlite3 *db, const char *table, const struct fts_query *q,
                               struct syn_add *add, size_t *n)
{
    struct buf sql, expr;
    buf_init(&sql, 0);
    buf_init(&expr, 0);
    sqlite3_stmt *st = NULL;
    enum lair_err e = buf_printf(&sql,
                                 "SELECT 1 FROM \"%s\" WHERE \"%s\" MATCH ?1"
                                 " AND rowid BETWEEN ?2 AND ?3 LIMIT 1",
                                 table, table);
    if (!e && sqlite3_prepare_v2(db, sql.ptr, -1, &st, NULL) != SQLITE_OK)
        e = LAIR_EDB;
    size_t kept = 0;
    for (size_t i = 0; i < *n && !e; i++) {
        const struct syn_expr *m = add[i].matched;
        bool gap = i > 0 && add[i - 1].matched == m ? !!kept && add[kept - 1].matched == m : true;
        if (i == 0 || add[i - 1].matched != m) {
            buf_reset(&expr);
            if ((e = put_quoted(&expr, m->text, strlen(m->text))))
                break;
            sqlite3_bind_text(st, 1, expr.ptr, (int)expr.len, SQLITE_STATIC);
            sqlite3_bind_int64(st, 2, q->rowid_lo);
            sqlite3_bind_int64(st, 3, q->rowid_hi);
            int rc = sqlite3_step(st);
            gap = rc == SQLITE_DONE;
            if (rc != SQLITE_DONE && rc != SQLITE_ROW)
                e = LAIR_EDB;
            sqlite3_reset(st);
        }
        if (gap)
            add[kept++] = add[i];
    }
    sqlite3_finalize(st);
    buf_release(&sql);
    buf_release(&expr);
    *n = e ? 0 : kept;
    return e;
}

_Static_assert(FTS_EXPLAIN_SYN_MAX >= SYN_QUERY_PHRASES_MAX, "explanations hold every synonym");
_Static_assert(FTS_EXPLAIN_EXPR_MAX >= SYN_EXPR_MAX, "explanations hold an expression");
_Static_assert(FTS_EXPLAIN_EXPR_WORDS >= SYN_EXPR_WORDS_MAX, "explanations hold its words");

/* Copies into ex what a question was searched with (fts.h: fts_explain). */
static void record(struct fts_explain *ex, struct str question, const struct word *words, size_t n,
                   const struct syn_add *add, size_t n_add)
{
    ex->question = question;
    ex->n_words = n;
    for (size_t i = 0; i < n; i++) {
        struct fts_explain_word *w = &ex->words[i];
        w->start = words[i].start;
        w->end = words[i].end;
        memcpy(w->term, words[i].term, words[i].len + 1);
        memcpy(w->alt, words[i].alt, words[i].alt_len);
        w->alt[words[i].alt_len] = 0;
        w->n_fix = words[i].n_fix;
        for (size_t j = 0; j < w->n_fix; j++) {
            memcpy(w->fix[j], words[i].fix[j].term, words[i].fix[j].len);
            w->fix[j][words[i].fix[j].len] = 0;
        }
    }
    ex->n_syn = n_add;
    for (size_t i = 0; i < n_add; i++) {
        struct fts_explain_syn *y = &ex->syn[i];
        size_t a = words[add[i].first].start, b = words[add[i].slot].end;
        y->start = a < b ? a : words[add[i].slot].start; /* a repeated word */
        y->end = b;
        snprintf(y->text, sizeof(y->text), "%s", add[i].x->text);
        y->n_terms = add[i].x->n_terms;
        for (size_t j = 0; j < y->n_terms; j++)
            snprintf(y->terms[j], sizeof(y->terms[j]), "%s", add[i].x->terms[j]);
    }
}

enum lair_err fts_query_build(struct analyzer *a, sqlite3 *db, const char *table,
                              struct str question, struct fts_query *q)
{
    return fts_query_build_syn(a, db, table, question, NULL, q);
}

#define SEQ_MAX 64

enum lair_err fts_query_build_syn(struct analyzer *a, sqlite3 *db, const char *table,
                                  struct str question, const struct syn_set *syn,
                                  struct fts_query *q)
{
    struct word *words = malloc(FTS_QUERY_TERMS_MAX * sizeof(*words));
    if (!words)
        return LAIR_ENOMEM;
    size_t n = 0, seq[SEQ_MAX], n_seq = 0;
    struct analyzer_term t;
    enum lair_err e = LAIR_OK;
    buf_reset(&q->expr);
    buf_reset(&q->weights);
    buf_reset(&q->terms);
    q->n_phrases = q->n_corrected = q->n_slots = q->n_synonyms = q->n_expanded = 0;
    /* question words ("comment", "peut-on"…) are neutral: dropped
     * (LIBREAIR_QWORDS=off keeps them, to measure what that brings) */
    analyzer_start(a, question,
                   (env_off("LIBREAIR_QWORDS") ? 0 : ANALYZER_QUESTION) | ANALYZER_ALTERNATIVES);
    bool last_new = false;
    while (analyzer_next(a, &t)) {
        if (t.colocated) {
            if (last_new) {
                memcpy(words[n - 1].alt, t.ptr, t.len + 1);
                words[n - 1].alt_len = t.len;
            }
            continue;
        }
        bool dup = false;
        size_t at = n;
        for (size_t i = 0; i < n && !dup; i++)
            if ((dup = words[i].len == t.len && memcmp(words[i].term, t.ptr, t.len) == 0))
                at = i;
        if (n_seq < SEQ_MAX && at < FTS_QUERY_TERMS_MAX)
            seq[n_seq++] = at;
        last_new = !dup && n < FTS_QUERY_TERMS_MAX;
        if (!last_new) {
            if (n == FTS_QUERY_TERMS_MAX)
                break;
            continue;
        }
        struct word *w = &words[n++];
        memcpy(w->term, t.ptr, t.len + 1);
        w->len = t.len;
        w->alt_len = w->n_fix = 0;
        w->start = t.start;
        w->end = t.end;
    }
    if (db && table && n && !spelling_off())
        e = correct(a, db, table, question, words, n);
    struct syn_add add[SYN_QUERY_PHRASES_MAX];
    size_t n_add =
        syn && !env_off("LIBREAIR_SYNONYMS") ? find_synonyms(syn, words, seq, n_seq, add) : 0;
    if (n_add && db && table && !env_off("LIBREAIR_SYN_GAPS"))
        e = keep_gaps(db, table, q, add, &n_add);
    double syn_w = fts_knob("LIBREAIR_SYN_WEIGHT", SYN_WEIGHT);
    for (size_t i = 0; i < n && !e; i++) {
        e = put_phrase(q, question.ptr + words[i].start, words[i].end - words[i].start, false, 1,
                       i);
        if (!e)
            e = add_term(q, words[i].term, words[i].len);
        if (!e && words[i].alt_len)
            e = add_term(q, words[i].alt, words[i].alt_len);
        for (size_t j = 0; j < words[i].n_fix && !e; j++) {
            e = put_phrase(q, words[i].fix[j].term, words[i].fix[j].len, true, FTS_SPELL_WEIGHT, i);
            if (!e)
                e = add_term(q, words[i].fix[j].term, words[i].fix[j].len);
        }
        q->n_corrected += words[i].n_fix > 0;
        for (size_t j = 0; j < n_add && !e; j++) {
            if (add[j].slot != i)
                continue;
            e = put_phrase(q, add[j].x->text, strlen(add[j].x->text), false, syn_w, i);
            for (size_t w = 0; w < add[j].x->n_terms && !e; w++)
                e = add_term(q, add[j].x->terms[w], strlen(add[j].x->terms[w]));
            q->n_synonyms++;
        }
    }
    q->n_slots = n;
    if (!e && q->explain)
        record(q->explain, question, words, n, add, n_add);
    free(words);
    return e;
}

/* One candidate term of the feedback passages and its weight. */
struct prf_term {
    char term[ANALYZER_TERM_MAX + 1];
    size_t len, ndocs;
    double w;
};

static int cmp_prf(const void *a, const void *b)
{
    const struct prf_term *x = a, *y = b;
    return x->w > y->w ? -1 : x->w < y->w ? 1 : strcmp(x->term, y->term);
}

#define PRF_CAND_MAX 4096

/* RM3 (Lavrenko and Croft's relevance model, with the original query kept):
 * P(t|R) = sum over the passages D of P(D|Q) P(t|D), P(D|Q) taken as the
 * passage's share of the scores and P(t|D) = tf / |D|; the terms that are
 * in at least two passages only (a term of one passage is its topic, not
 * the question's), stop words left out by the question analysis. */
enum lair_err fts_query_expand(struct fts_query *q, struct analyzer *a, const struct str *texts,
                               const double *scores, size_t n, double weight)
{
    if (n < 2 || weight <= 0 || !q->n_phrases)
        return LAIR_OK;
    struct prf_term *c = malloc(PRF_CAND_MAX * sizeof(*c));
    int *seen = malloc(PRF_CAND_MAX * sizeof(*seen));
    if (!c || !seen) {
        free(c);
        free(seen);
        return LAIR_ENOMEM;
    }
    size_t nc = 0;
    double total = 0;
    for (size_t d = 0; d < n; d++)
        total += scores[d] > 0 ? scores[d] : 0;
    for (size_t d = 0; d < n && total > 0; d++) {
        struct analyzer_term t;
        size_t dl = 0;
        analyzer_start(a, texts[d], ANALYZER_QUESTION);
        while (analyzer_next(a, &t))
            dl += !t.colocated;
        if (!dl || scores[d] <= 0)
            continue;
        double share = scores[d] / total / (double)dl;
        analyzer_start(a, texts[d], ANALYZER_QUESTION);
        while (analyzer_next(a, &t)) {
            if (t.colocated || t.len < 3)
                continue;
            size_t i = 0;
            while (i < nc && !(c[i].len == t.len && !memcmp(c[i].term, t.ptr, t.len)))
                i++;
            if (i == nc) {
                if (nc == PRF_CAND_MAX)
                    continue;
                memcpy(c[nc].term, t.ptr, t.len);
                c[nc].term[t.len] = 0;
                c[nc].len = t.len;
                c[nc].w = 0;
                c[nc].ndocs = 0;
                seen[nc++] = 0;
            }
            c[i].w += share;
            if (seen[i] >= 0 && (size_t)seen[i] != d + 1)
                c[i].ndocs++, seen[i] = (int)d + 1;
        }
    }
    free(seen);
    for (size_t i = 0; i < nc; i++)
        if (c[i].ndocs < 2)
            c[i].w = 0;
    if (nc)
        qsort(c, nc, sizeof(*c), cmp_prf);
    double top = 0;
    enum lair_err e = LAIR_OK;
    size_t slot = q->n_slots + 1;
    for (size_t i = 0; i < nc && q->n_expanded < FTS_PRF_TERMS && !e; i++) {
        if (c[i].w <= 0)
            break;
        if (has_term(q, c[i].term, c[i].len))
            continue;
        if (top == 0)
            top = c[i].w;
        /* slots two apart: no pair bonus between expansion terms */
        e = put_phrase(q, c[i].term, c[i].len, true, weight * c[i].w / top, slot);
        slot += 2;
        if (!e)
            e = add_term(q, c[i].term, c[i].len);
        q->n_expanded++;
    }
    q->n_slots = slot;
    free(c);
    return e;
}

enum lair_err fts_match_expr(struct analyzer *a, struct str question, struct buf *out)
{
    struct fts_query q;
    fts_query_init(&q);
    enum lair_err e = fts_query_build(a, NULL, NULL, question, &q);
    buf_reset(out);
    if (!e)
        e = buf_append(out, q.expr.ptr ? q.expr.ptr : "", q.expr.len);
    fts_query_release(&q);
    return e;
}

struct fts_search {
    sqlite3 *db;
    sqlite3_stmt *st, *text_st;
    struct analyzer *an;
    struct fts_query q;
    const struct syn_set *syn;
    char table[65];
};

static bool valid_table_name(const char *name)
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

enum lair_err fts_search_new(sqlite3 *db, const char *table, struct fts_search **out)
{
    *out = NULL;
    if (!valid_table_name(table))
        return LAIR_EINVAL;
    struct fts_search *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    s->db = db;
    fts_query_init(&s->q);
    memcpy(s->table, table, strlen(table) + 1);
    struct buf sql;
    buf_init(&sql, 0);
    /* The table name cannot be bound; it was checked to be a plain
     * identifier above and is quoted here. The question is bound. */
    enum lair_err e = buf_printf(&sql,
                                 "SELECT rowid, " FTS_RANK "(\"%s\", ?2, %.17g, %.17g, %.17g, ?3)"
                                 " AS score FROM \"%s\" "
                                 "WHERE \"%s\" MATCH ?1 ORDER BY score DESC LIMIT ?2",
                                 table, FTS_BM25_K1, FTS_BM25_B, FTS_BM25_PAIR, table, table);
    if (e == LAIR_OK)
        e = analyzer_new(&s->an);
    if (e == LAIR_OK &&
        sqlite3_prepare_v3(db, sql.ptr, -1, SQLITE_PREPARE_PERSISTENT, &s->st, NULL) != SQLITE_OK)
        e = LAIR_EDB;
    if (e == LAIR_OK) {
        buf_reset(&sql);
        e = buf_printf(&sql, "SELECT text FROM \"%s\" WHERE rowid = ?1", table);
    }
    if (e == LAIR_OK && sqlite3_prepare_v3(db, sql.ptr, -1, SQLITE_PREPARE_PERSISTENT, &s->text_st,
                                           NULL) != SQLITE_OK)
        e = LAIR_EDB;
    buf_release(&sql);
    if (e != LAIR_OK) {
        fts_search_free(s);
        return e;
    }
    *out = s;
    return LAIR_OK;
}

void fts_search_free(struct fts_search *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->st);
    sqlite3_finalize(s->text_st);
    analyzer_free(s->an);
    fts_query_release(&s->q);
    free(s);
}

static enum lair_err run_query(struct fts_search *s, size_t k, struct fts_hit *hits, size_t *n)
{
    sqlite3_stmt *st = s->st;
    *n = 0;
    sqlite3_bind_text(st, 1, s->q.expr.ptr, (int)s->q.expr.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, k > INT64_MAX ? INT64_MAX : (sqlite3_int64)k);
    sqlite3_bind_blob(st, 3, s->q.weights.ptr, (int)s->q.weights.len, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        double score = sqlite3_column_double(st, 1);
        if (score <= SCORE_PRUNED)
            continue;
        hits[*n].rowid = sqlite3_column_int64(st, 0);
        hits[*n].score = score;
        (*n)++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? LAIR_OK : LAIR_EDB;
}

double fts_prf_weight(void)
{
    double w = fts_knob("LIBREAIR_PRF", FTS_PRF_WEIGHT);
    return w > 0 && w <= 1 ? w : 0;
}

/* The second search of pseudo-relevance feedback, on the passages of the
 * first. */
static enum lair_err expand(struct fts_search *s, size_t k, struct fts_hit *hits, size_t *n)
{
    struct fts_hit fb[FTS_PRF_DOCS];
    size_t nfb = 0;
    enum lair_err e = run_query(s, FTS_PRF_DOCS, fb, &nfb);
    struct str texts[FTS_PRF_DOCS];
    double scores[FTS_PRF_DOCS];
    char *owned[FTS_PRF_DOCS] = {0};
    size_t nt = 0;
    for (size_t i = 0; i < nfb && !e; i++) {
        sqlite3_bind_int64(s->text_st, 1, fb[i].rowid);
        if (sqlite3_step(s->text_st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(s->text_st, 0);
            size_t len = (size_t)sqlite3_column_bytes(s->text_st, 0);
            if (t && (owned[nt] = malloc(len + 1))) {
                memcpy(owned[nt], t, len + 1);
                texts[nt] = (struct str){owned[nt], len};
                scores[nt++] = fb[i].score;
            }
        }
        sqlite3_reset(s->text_st);
    }
    if (!e)
        e = fts_query_expand(&s->q, s->an, texts, scores, nt, fts_prf_weight());
    for (size_t i = 0; i < nt; i++)
        free(owned[i]);
    return e ? e : run_query(s, k, hits, n);
}

enum lair_err fts_search_run(struct fts_search *s, struct str question, size_t k,
                             struct fts_hit *hits, size_t *n)
{
    *n = 0;
    enum lair_err e = fts_query_build_syn(s->an, s->db, s->table, question, s->syn, &s->q);
    if (e != LAIR_OK || s->q.expr.len == 0 || k == 0)
        return e;
    if (fts_prf_weight() > 0)
        return expand(s, k, hits, n);
    return run_query(s, k, hits, n);
}

void fts_search_set_synonyms(struct fts_search *s, const struct syn_set *syn)
{
    s->syn = syn;
}

/* ---- explanations ---- */

const char *fts_match_as_name(enum fts_match_as as)
{
    static const char *const names[] = {"exact", "stemmed", "corrected", "synonym"};
    return (unsigned)as < sizeof(names) / sizeof(names[0]) ? names[as] : "exact";
}

/* One word of a passage as the index holds it. */
struct ptok {
    char term[ANALYZER_TERM_MAX + 1], alt[ANALYZER_TERM_MAX + 1];
    size_t start, end;
};

static bool tok_has(const struct ptok *t, const char *term)
{
    return term[0] && (!strcmp(t->term, term) || (t->alt[0] && !strcmp(t->alt, term)));
}

/* The passage's words, as the tokenizer gives them to the index. OWNED. */
static struct ptok *passage_terms(struct analyzer *a, struct str text, size_t *n)
{
    size_t cap = 64;
    struct ptok *v = malloc(cap * sizeof(*v)), *grown;
    struct analyzer_term t;
    *n = 0;
    analyzer_start(a, text, ANALYZER_ALTERNATIVES);
    while (v && analyzer_next(a, &t)) {
        if (t.colocated) {
            if (*n) {
                memcpy(v[*n - 1].alt, t.ptr, t.len);
                v[*n - 1].alt[t.len] = 0;
            }
            continue;
        }
        if (*n == cap) {
            grown = realloc(v, (cap *= 2) * sizeof(*v));
            if (!grown)
                free(v);
            if (!(v = grown))
                break;
        }
        struct ptok *p = &v[(*n)++];
        memcpy(p->term, t.ptr, t.len);
        p->term[t.len] = 0;
        p->alt[0] = 0;
        p->start = t.start;
        p->end = t.end;
    }
    return v;
}

/* How word w matched the passage's words p[0..np): the best way, with the
 * passage word it matched; false when it did not. */
static bool word_match(struct analyzer *a, const struct fts_explain *ex,
                       const struct fts_explain_word *w, struct str text, const struct ptok *p,
                       size_t np, struct fts_match *m)
{
    char typed[ANALYZER_TERM_MAX + 1], seen[ANALYZER_TERM_MAX + 1];
    struct str tw = {ex->question.ptr + w->start, w->end - w->start};
    size_t first = np;
    analyzer_term_of(a, tw, ANALYZER_PREFIX, typed, sizeof(typed));
    for (size_t i = 0; i < np; i++) {
        if (!tok_has(&p[i], w->term) && !(w->alt[0] && tok_has(&p[i], w->alt)))
            continue;
        struct str pw = {text.ptr + p[i].start, p[i].end - p[i].start};
        if (first == np)
            first = i;
        /* the surface forms, folded but not stemmed: "Écoles" is "ecoles" */
        analyzer_term_of(a, pw, ANALYZER_PREFIX, seen, sizeof(seen));
        if (typed[0] && !strcmp(typed, seen)) {
            *m = (struct fts_match){tw, FTS_MATCH_EXACT, pw};
            return true;
        }
    }
    if (first < np) {
        *m = (struct fts_match){
            tw, FTS_MATCH_STEMMED, {text.ptr + p[first].start, p[first].end - p[first].start}};
        return true;
    }
    for (size_t j = 0; j < w->n_fix; j++)
        for (size_t i = 0; i < np; i++)
            if (tok_has(&p[i], w->fix[j])) {
                *m = (struct fts_match){
                    tw, FTS_MATCH_CORRECTED, {text.ptr + p[i].start, p[i].end - p[i].start}};
                return true;
            }
    return false;
}

/* Whether the synonym's words stand in a row among p[0..np). */
static bool syn_match(const struct fts_explain_syn *y, const struct ptok *p, size_t np)
{
    for (size_t i = 0; y->n_terms && i + y->n_terms <= np; i++) {
        size_t j = 0;
        while (j < y->n_terms && tok_has(&p[i + j], y->terms[j]))
            j++;
        if (j == y->n_terms)
            return true;
    }
    return false;
}

enum lair_err fts_explain_passage(struct analyzer *a, const struct fts_explain *ex, struct str text,
                                  struct fts_match *out, size_t max, size_t *n)
{
    *n = 0;
    size_t np;
    struct ptok *p = passage_terms(a, text, &np);
    if (!p)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < ex->n_words && *n < max; i++)
        *n += word_match(a, ex, &ex->words[i], text, p, np, &out[*n]);
    for (size_t i = 0; i < ex->n_syn && *n < max; i++) {
        const struct fts_explain_syn *y = &ex->syn[i];
        if (!syn_match(y, p, np))
            continue;
        /* two synonyms of one expression, both present: the first tells it */
        bool dup = false;
        for (size_t j = 0; j < *n && !dup; j++)
            dup = out[j].as == FTS_MATCH_SYNONYM && out[j].term.ptr == ex->question.ptr + y->start;
        if (!dup)
            out[(*n)++] = (struct fts_match){{ex->question.ptr + y->start, y->end - y->start},
                                             FTS_MATCH_SYNONYM,
                                             {y->text, strlen(y->text)}};
    }
    free(p);
    return LAIR_OK;
}
