/* Knowledge bases' synonyms and search, the read side of kb.h: the query
 * through the full-text index, its expansion by the base's synonyms, the
 * chunks and vectors a search returns. Split from kb.c (which writes what
 * this reads); shares its statement helpers through kb_int.h. */
#include "store/kb.h"
#include "store/kb_int.h"
#include "store/vcache.h"

#include <pthread.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "rag/analyzer.h"
#include "rag/fts.h"
#include "rag/synonyms.h"
#include "core/banned.h"

/* ---- synonyms ---- */

enum lair_err kb_synonyms_get(struct tenant_db *db, const char *slug, char **json,
                              int64_t *updated_at)
{
    *json = NULL;
    *updated_at = 0;
    sqlite3 *h = tenant_db_handle(db);
    enum lair_err e = kbi_find_h(h, slug);
    sqlite3_stmt *st;
    if (e || (e = kbi_prep(h, "SELECT groups, updated_at FROM kb_synonyms WHERE kb = ?1", &st)))
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = (const char *)sqlite3_column_text(st, 0);
        *json = strdup(t ? t : "[]");
        *updated_at = sqlite3_column_int64(st, 1);
        e = *json ? LAIR_OK : LAIR_ENOMEM;
    } else if (rc != SQLITE_DONE) {
        e = db_err(h, rc);
    }
    kbi_finalize(st);
    return e;
}

enum lair_err kb_synonyms_set(struct tenant_db *db, const char *slug, const char *json)
{
    sqlite3 *h = tenant_db_handle(db);
    enum lair_err e = kbi_find_h(h, slug);
    sqlite3_stmt *st;
    if (e || (e = kbi_prep(h,
                           json ? "INSERT OR REPLACE INTO kb_synonyms (kb, groups, updated_at)"
                                  " VALUES (?1, ?2, ?3)"
                                : "DELETE FROM kb_synonyms WHERE kb = ?1",
                           &st)))
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    if (json) {
        sqlite3_bind_text(st, 2, json, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, kbi_now());
    }
    int rc = sqlite3_step(st);
    e = db_err(h, rc);
    kbi_finalize(st);
    return e;
}

/* Compiled vocabularies, kept across searches: compiling a stored one runs
 * the analyzer over every expression (about 6 ms for 1,000 groups), which
 * every search did before. An entry is found by the tenant, the base and a
 * digest of the stored text, so that a change applies at the next search
 * and no entry ever serves another tenant (not even as a faster answer: a
 * tenant's search cannot hit another's entry). At most SYN_CACHE_MAX
 * entries, the least recently used leaving first; one in use when it leaves
 * is freed by its last user. */
#define SYN_CACHE_MAX 32

struct syn_entry {
    char tenant[SLUG_MAX + 1], kb[SLUG_MAX + 1];
    unsigned char digest[crypto_generichash_BYTES];
    struct syn_set *set;
    unsigned users; /* searches using it now */
    bool gone;      /* out of the table */
    uint64_t used;  /* syn_clock when last taken */
};

static pthread_mutex_t syn_mu = PTHREAD_MUTEX_INITIALIZER;
static struct syn_entry *syn_tab[SYN_CACHE_MAX];
static uint64_t syn_clock;

static bool syn_key(const struct syn_entry *x, const char *tenant, const char *kb,
                    const unsigned char *digest)
{
    return !strcmp(x->tenant, tenant) && !strcmp(x->kb, kb) &&
           !memcmp(x->digest, digest, sizeof(x->digest));
}

/* The entry for the key, taken (users + 1); NULL when absent. Under syn_mu. */
static struct syn_entry *syn_take(const char *tenant, const char *kb, const unsigned char *digest)
{
    for (size_t i = 0; i < SYN_CACHE_MAX; i++)
        if (syn_tab[i] && syn_key(syn_tab[i], tenant, kb, digest)) {
            syn_tab[i]->users++;
            syn_tab[i]->used = ++syn_clock;
            return syn_tab[i];
        }
    return NULL;
}

static void syn_release(struct syn_entry *x)
{
    if (!x)
        return;
    pthread_mutex_lock(&syn_mu);
    bool free_it = --x->users == 0 && x->gone;
    pthread_mutex_unlock(&syn_mu);
    if (free_it) {
        syn_set_free(x->set);
        free(x);
    }
}

/* Puts x (taken once) in the table, in place of the least recently used
 * entry when it is full. Under syn_mu. */
static void syn_insert(struct syn_entry *x)
{
    size_t at = 0;
    for (size_t i = 0; i < SYN_CACHE_MAX; i++) {
        if (!syn_tab[i]) {
            at = i;
            break;
        }
        if (syn_tab[i]->used < syn_tab[at]->used)
            at = i;
    }
    struct syn_entry *old = syn_tab[at];
    if (old) {
        old->gone = true;
        if (old->users == 0) {
            syn_set_free(old->set);
            free(old);
        }
    }
    x->users = 1;
    x->used = ++syn_clock;
    syn_tab[at] = x;
}

/* The vocabulary of base slug, compiled: the tenant's (held through *hold,
 * to give back with syn_release), or the default one (*hold NULL). A stored
 * vocabulary that no longer compiles (written by a later version) falls back
 * to the default. */
static const struct syn_set *kb_syn(struct tenant_db *db, struct analyzer *an, const char *slug,
                                    struct syn_entry **hold)
{
    *hold = NULL;
    char *json = NULL;
    int64_t at;
    if (kb_synonyms_get(db, slug, &json, &at) || !json)
        return syn_default();
    const char *tenant = tenant_db_slug(db);
    unsigned char digest[crypto_generichash_BYTES];
    crypto_generichash(digest, sizeof(digest), (const unsigned char *)json, strlen(json), NULL, 0);
    pthread_mutex_lock(&syn_mu);
    struct syn_entry *x = syn_take(tenant, slug, digest);
    pthread_mutex_unlock(&syn_mu);
    if (x) {
        free(json);
        *hold = x;
        return x->set;
    }
    json_t *v = json_loads(json, 0, NULL);
    free(json);
    char where[64], why[200] = "";
    struct syn_set *set = NULL;
    if (!v || syn_set_from_json(v, an, &set, where, sizeof(where), why, sizeof(why))) {
        log_error("kb", "synonyms of '%s' unreadable (%s); default vocabulary used", slug, why);
        json_decref(v);
        return syn_default();
    }
    json_decref(v);
    if (!(x = calloc(1, sizeof(*x)))) { /* no room to keep it: no vocabulary of its own */
        syn_set_free(set);
        return syn_default();
    }
    snprintf(x->tenant, sizeof(x->tenant), "%s", tenant);
    snprintf(x->kb, sizeof(x->kb), "%s", slug);
    memcpy(x->digest, digest, sizeof(digest));
    x->set = set;
    pthread_mutex_lock(&syn_mu);
    struct syn_entry *other = syn_take(tenant, slug, digest); /* compiled meanwhile */
    if (!other)
        syn_insert(x);
    pthread_mutex_unlock(&syn_mu);
    if (other) {
        syn_set_free(x->set);
        free(x);
        x = other;
    }
    *hold = x;
    return x->set;
}

/* ---- search ---- */

static int cmp_hit(const void *a, const void *b)
{
    const struct kb_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->chunk_id < y->chunk_id ? -1 : x->chunk_id > y->chunk_id;
}

/* Scores at or below this were pruned by lair_bm25 (not in the top k). */
#define PRUNED_SCORE -1e299

/* The k best of one knowledge base (chunk ids in its rowid range), appended
 * to hits[*n..]. */
static enum lair_err search_one(sqlite3 *h, sqlite3_stmt *st, int64_t kb_id,
                                const struct fts_query *q, size_t k, struct kb_hit *hits, size_t *n)
{
    sqlite3_bind_text(st, 1, q->expr.ptr, (int)q->expr.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)k);
    sqlite3_bind_int64(st, 3, kb_id << KB_CHUNK_SHIFT);
    sqlite3_bind_int64(st, 4, ((kb_id + 1) << KB_CHUNK_SHIFT) - 1);
    sqlite3_bind_double(st, 5, FTS_BM25_K1);
    sqlite3_bind_double(st, 6, FTS_BM25_B);
    sqlite3_bind_double(st, 7, FTS_BM25_PAIR);
    sqlite3_bind_blob(st, 8, q->weights.ptr, (int)q->weights.len, SQLITE_STATIC);
    int rc;
    size_t got = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && got < k) {
        double score = sqlite3_column_double(st, 1);
        if (score <= PRUNED_SCORE)
            continue;
        hits[*n + got].chunk_id = sqlite3_column_int64(st, 0);
        hits[*n + got].score = score;
        got++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    *n += got;
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        log_error("kb", "search: %s", sqlite3_errmsg(h));
        return LAIR_EDB;
    }
    return LAIR_OK;
}

/* The base's id; 0 when there is none, -1 when it cannot be read (which
 * must not pass for "no such base": the search would find nothing). */
static int64_t kb_id_of(sqlite3 *h, sqlite3_stmt *st, const char *slug)
{
    sqlite3_bind_text(st, 1, slug ? slug : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : rc == SQLITE_DONE ? 0 : -1;
    sqlite3_reset(st);
    (void)h;
    return id;
}

/* Pseudo-relevance feedback on the first search's hits[0..n): adds the
 * expansion terms to q (src/rag/fts.h: fts_query_expand). */
static enum lair_err kb_expand(sqlite3 *h, struct analyzer *an, const struct kb_hit *hits, size_t n,
                               struct fts_query *q)
{
    struct str texts[FTS_PRF_DOCS];
    double scores[FTS_PRF_DOCS];
    char *owned[FTS_PRF_DOCS] = {0};
    size_t nt = 0;
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "SELECT text FROM chunks WHERE id = ?1", &st);
    for (size_t i = 0; i < n && i < FTS_PRF_DOCS && !e; i++) {
        sqlite3_bind_int64(st, 1, hits[i].chunk_id);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const char *t = (const char *)sqlite3_column_text(st, 0);
            size_t len = (size_t)sqlite3_column_bytes(st, 0);
            if (t && (owned[nt] = malloc(len + 1))) {
                memcpy(owned[nt], t, len + 1);
                texts[nt] = (struct str){owned[nt], len};
                scores[nt++] = hits[i].score;
            }
        }
        sqlite3_reset(st);
    }
    if (!e) {
        kbi_finalize(st);
        e = fts_query_expand(q, an, texts, scores, nt, fts_prf_weight());
    }
    for (size_t i = 0; i < nt; i++)
        free(owned[i]);
    return e;
}

/* The k best of one base for question, with its vocabulary and feedback. */
static enum lair_err search_kb(struct tenant_db *db, sqlite3_stmt *st, struct analyzer *an,
                               const char *slug, int64_t id, struct str question, size_t k,
                               struct fts_query *q, struct kb_hit *hits, size_t *n)
{
    sqlite3 *h = tenant_db_handle(db);
    struct syn_entry *hold;
    const struct syn_set *syn = kb_syn(db, an, slug, &hold);
    q->rowid_lo = id << KB_CHUNK_SHIFT;
    q->rowid_hi = ((id + 1) << KB_CHUNK_SHIFT) - 1;
    enum lair_err e = fts_query_build_syn(an, h, "chunks_fts", question, syn, q);
    syn_release(hold);
    if (e || q->expr.len == 0)
        return e;
    if (fts_prf_weight() <= 0)
        return search_one(h, st, id, q, k, hits, n);
    size_t first = *n;
    if ((e = search_one(h, st, id, q, FTS_PRF_DOCS, hits, n)))
        return e;
    e = kb_expand(h, an, hits + first, *n - first, q);
    *n = first;
    return e ? e : search_one(h, st, id, q, k, hits, n);
}

enum lair_err kb_search(struct tenant_db *db, const char *const *kbs, size_t n_kbs,
                        struct str question, size_t k, struct kb_hit *hits, size_t *n)
{
    *n = 0;
    if (k == 0 || n_kbs == 0)
        return LAIR_OK;
    sqlite3 *h = tenant_db_handle(db);
    struct analyzer *an;
    enum lair_err e = analyzer_new(&an);
    if (e)
        return e;
    struct fts_query q;
    fts_query_init(&q);
    sqlite3_stmt *ids = NULL, *st = NULL;
    struct kb_hit *all = NULL;
    size_t per = k > FTS_PRF_DOCS ? k : FTS_PRF_DOCS;
    if ((e = kbi_prep(h, "SELECT id FROM knowledge_bases WHERE slug = ?1", &ids)) ||
        (e = kbi_prep(h,
                      "SELECT rowid, " FTS_RANK "(chunks_fts, ?2, ?5, ?6, ?7, ?8) AS score"
                      " FROM chunks_fts WHERE chunks_fts MATCH ?1 AND rowid BETWEEN ?3 AND ?4"
                      " ORDER BY score DESC LIMIT ?2",
                      &st)))
        goto out;
    /* each base's k best (its own vocabulary: the query is built per base),
     * then the k best of those: one FTS5 table, so the scores compare */
    all = malloc(n_kbs * per * sizeof(*all));
    if (!all) {
        e = LAIR_ENOMEM;
        goto out;
    }
    size_t got = 0;
    for (size_t i = 0; i < n_kbs && !e; i++) {
        int64_t id = kb_id_of(h, ids, kbs[i]);
        if (id < 0)
            e = LAIR_EDB;
        else if (id > 0)
            e = search_kb(db, st, an, kbs[i], id, question, k, &q, all, &got);
    }
    if (!e) {
        if (n_kbs > 1) /* one base: SQLite's order, ties included */
            qsort(all, got, sizeof(*all), cmp_hit);
        if (got > k)
            got = k;
        memcpy(hits, all, got * sizeof(*hits));
        *n = got;
    }
out:
    free(all);
    analyzer_free(an);
    kbi_finalize(ids);
    kbi_finalize(st);
    fts_query_release(&q);
    return e;
}

enum lair_err kb_explain(struct tenant_db *db, const char *slug, struct str question,
                         struct fts_explain *ex)
{
    sqlite3 *h = tenant_db_handle(db);
    *ex = (struct fts_explain){.question = question};
    struct analyzer *an;
    enum lair_err e = analyzer_new(&an);
    if (e)
        return e;
    struct fts_query q;
    fts_query_init(&q);
    q.explain = ex;
    sqlite3_stmt *ids = NULL;
    int64_t id = 0;
    if (!(e = kbi_prep(h, "SELECT id FROM knowledge_bases WHERE slug = ?1", &ids))) {
        id = kb_id_of(h, ids, slug);
        e = id < 0 ? LAIR_EDB : id == 0 ? LAIR_ENOTFOUND : LAIR_OK;
    }
    if (!e) {
        /* the same query as search_kb's, feedback aside */
        struct syn_entry *hold;
        const struct syn_set *syn = kb_syn(db, an, slug, &hold);
        q.rowid_lo = id << KB_CHUNK_SHIFT;
        q.rowid_hi = ((id + 1) << KB_CHUNK_SHIFT) - 1;
        e = fts_query_build_syn(an, h, "chunks_fts", question, syn, &q);
        syn_release(hold);
    }
    kbi_finalize(ids);
    fts_query_release(&q);
    analyzer_free(an);
    return e;
}

enum lair_err kb_chunks_get(struct tenant_db *db, const int64_t *ids, size_t n, struct arena *a,
                            struct kb_chunk *out, size_t *n_out)
{
    *n_out = 0;
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h,
                               "SELECT c.document_id, c.kb, d.name, c.heading_path, c.text, c.page,"
                               " c.tokens FROM chunks c JOIN documents d ON d.id = c.document_id"
                               " WHERE c.id = ?1",
                               &st);
    if (e)
        return e;
    for (size_t i = 0; i < n && !e; i++) {
        sqlite3_bind_int64(st, 1, ids[i]);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            struct kb_chunk *c = &out[*n_out];
            c->id = ids[i];
            c->document_id = sqlite3_column_int64(st, 0);
            const char *kb = kbi_col_text(st, 1), *doc = kbi_col_text(st, 2),
                       *hp = kbi_col_text(st, 3);
            const char *text = kbi_col_text(st, 4);
            size_t tl = (size_t)sqlite3_column_bytes(st, 4);
            c->kb = arena_strndup(a, kb, strlen(kb));
            c->document = arena_strndup(a, doc, strlen(doc));
            c->heading_path = arena_strndup(a, hp, strlen(hp));
            c->text = arena_strndup(a, text, tl);
            c->text_len = tl;
            c->page = (unsigned)sqlite3_column_int64(st, 5);
            c->tokens = sqlite3_column_int(st, 6);
            if (!c->kb || !c->document || !c->heading_path || !c->text)
                e = LAIR_ENOMEM;
            else
                (*n_out)++;
        } else if (rc != SQLITE_DONE) {
            e = LAIR_EDB;
        }
        sqlite3_reset(st);
    }
    kbi_finalize(st);
    return e;
}

enum lair_err kb_vectors(struct tenant_db *db, const char *kb, const char *model, int64_t **ids,
                         float **vecs, size_t *n, size_t *dim)
{
    *ids = NULL;
    *vecs = NULL;
    *n = 0;
    *dim = 0;
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db),
                               "SELECT id, embedding FROM chunks WHERE kb = ?1 AND embed_model = ?2"
                               " AND embedding IS NOT NULL ORDER BY id",
                               &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, kb ? kb : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, model ? model : "", -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t bytes = (size_t)sqlite3_column_bytes(st, 1);
        if (*dim == 0 && bytes >= sizeof(float) && bytes % sizeof(float) == 0)
            *dim = bytes / sizeof(float);
        if (*dim == 0 || bytes != *dim * sizeof(float))
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 256;
            int64_t *ni = realloc(*ids, cap * sizeof(**ids));
            if (ni)
                *ids = ni;
            float *nv = realloc(*vecs, cap * *dim * sizeof(float));
            if (nv)
                *vecs = nv;
            if (!ni || !nv) {
                e = LAIR_ENOMEM;
                break;
            }
        }
        (*ids)[*n] = sqlite3_column_int64(st, 0);
        memcpy(*vecs + *n * *dim, sqlite3_column_blob(st, 1), bytes);
        (*n)++;
    }
    kbi_finalize(st);
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    if (e || *n == 0) {
        free(*ids);
        free(*vecs);
        *ids = NULL;
        *vecs = NULL;
        *n = 0;
        if (e)
            *dim = 0;
    }
    return e;
}

enum lair_err kb_vector_stamp(struct tenant_db *db, const char *kb, int64_t *kb_id, int64_t *gen)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db),
                               "SELECT id, vec_gen FROM knowledge_bases WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, kb ? kb : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *kb_id = sqlite3_column_int64(st, 0);
        *gen = sqlite3_column_int64(st, 1);
    }
    kbi_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err kb_vector_models(struct tenant_db *db, const char *kb,
                               void (*fn)(void *arg, const char *model, int64_t count), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db),
                               "SELECT embed_model, count(*) FROM chunks WHERE kb = ?1"
                               " AND embedding IS NOT NULL GROUP BY embed_model ORDER BY 2 DESC",
                               &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, kb ? kb : "", -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, kbi_col_text(st, 0), sqlite3_column_int64(st, 1));
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}
