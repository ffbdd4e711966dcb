/* Retrieval over a tenant's knowledge bases: BM25, vectors, fusion. See
 * search.h. */
#include "rag/search.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "llm/llm.h"
#include "store/kb.h"
#include "store/tenant.h"
#include "store/vcache.h"

#include "core/banned.h"

/* ---- vectors ---- */

float search_dot(const float *restrict a, const float *restrict b, size_t dim)
{
    /* Eight independent partial sums: the loop has no carried dependency
     * between lanes, so GCC turns it into packed multiply-adds (SSE2 by
     * default, AVX2/FMA with -march=native) without -ffast-math. */
    float s[8] = {0};
    size_t i = 0;
    for (; i + 8 <= dim; i += 8)
        for (size_t j = 0; j < 8; j++)
            s[j] += a[i + j] * b[i + j];
    float t = ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7]));
    for (; i < dim; i++)
        t += a[i] * b[i];
    return t;
}

/* Keeps the k best of a stream of candidates in out[0..*n), best first
 * (insertion: k is small). */
static void keep_best(struct search_cand *out, size_t *n, size_t k, int64_t id, double score)
{
    if (*n == k && score <= out[k - 1].score)
        return;
    size_t i = *n < k ? (*n)++ : k - 1;
    while (i > 0 && out[i - 1].score < score) {
        out[i] = out[i - 1];
        i--;
    }
    out[i] = (struct search_cand){id, score};
}

void search_vec_topk(const float *q, const float *mat, const int64_t *ids, size_t n_rows,
                     size_t dim, float min_cos, size_t k, struct search_cand *out, size_t *n_out)
{
    *n_out = 0;
    if (k == 0)
        return;
    for (size_t r = 0; r < n_rows; r++) {
        float c = search_dot(q, mat + r * dim, dim);
        if (c >= min_cos)
            keep_best(out, n_out, k, ids[r], c);
    }
}

/* ---- fusion ---- */

struct fused {
    int64_t id;
    double score;
    size_t first; /* position of first appearance: a's order, then b's */
};

static int cmp_fused(const void *x, const void *y)
{
    const struct fused *a = x, *b = y;
    if (a->score != b->score)
        return a->score < b->score ? 1 : -1;
    return (a->first > b->first) - (a->first < b->first);
}

size_t search_rrf(const struct search_cand *a, size_t na, const struct search_cand *b, size_t nb,
                  size_t k, struct search_cand *out)
{
    /* The lists hold a few hundred entries at most: a linear lookup per
     * entry of b costs less than building a hash table. */
    size_t n = 0;
    struct fused *all = malloc((na + nb + 1) * sizeof(*all));
    if (!all)
        return 0;
    for (size_t i = 0; i < na; i++, n++)
        all[n] = (struct fused){a[i].id, 1.0 / (SEARCH_RRF_K + (double)(i + 1)), n};
    for (size_t i = 0; i < nb; i++) {
        double s = 1.0 / (SEARCH_RRF_K + (double)(i + 1));
        size_t j = 0;
        while (j < na && all[j].id != b[i].id)
            j++;
        if (j < na) {
            all[j].score += s;
        } else {
            all[n] = (struct fused){b[i].id, s, n};
            n++;
        }
    }
    qsort(all, n, sizeof(*all), cmp_fused);
    size_t m = n < k ? n : k;
    for (size_t i = 0; i < m; i++)
        out[i] = (struct search_cand){all[i].id, all[i].score};
    free(all);
    return m;
}

/* ---- the search ---- */

static size_t candidates_for(size_t top_k)
{
    size_t c = top_k * SEARCH_CANDIDATES_FACTOR;
    return c < SEARCH_CANDIDATES_MIN ? SEARCH_CANDIDATES_MIN : c;
}

/* The question's vector, or NULL (logged) when the model cannot embed it.
 * OWNED (free()). */
static float *embed_question(struct llm_model *m, struct str text, size_t *dim)
{
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    if (!(info.kind & LLM_CAN_EMBED) || info.n_embd <= 0)
        return NULL;
    float *v = malloc((size_t)info.n_embd * sizeof(*v));
    if (!v)
        return NULL;
    enum lair_err e = llm_embed(m, &text, 1, v, NULL);
    if (e) {
        log_warn("search", "embedding the question with %s failed (%s): lexical search only",
                 llm_model_name(m), lair_err_name(e));
        free(v);
        return NULL;
    }
    *dim = (size_t)info.n_embd;
    return v;
}

/* The k chunks of kbs whose vectors (made by m) are closest to qv, best
 * first, merged over the knowledge bases. */
static enum lair_err vector_ranking(struct tenant_db *db, const struct search_query *q,
                                    const float *qv, size_t dim, size_t k, struct search_cand *out,
                                    size_t *n_out)
{
    *n_out = 0;
    struct search_cand *one = malloc(k * sizeof(*one));
    if (!one)
        return LAIR_ENOMEM;
    enum lair_err e = LAIR_OK;
    struct vcache *vc = tenant_db_vectors(db);
    for (size_t i = 0; i < q->n_kbs && !e; i++) {
        const struct vec_set *vs;
        size_t got = 0;
        e = vcache_get(vc, db, q->kbs[i], llm_model_name(q->embed), &vs);
        if (!e && vs->n && vs->dim == dim) {
            search_vec_topk(qv, vs->vecs, vs->ids, vs->n, dim, SEARCH_COSINE_MIN, k, one, &got);
            for (size_t j = 0; j < got; j++)
                keep_best(out, n_out, k, one[j].id, one[j].score);
        }
        if (!e)
            vcache_put(vc, vs);
    }
    free(one);
    return e;
}

/* Looks up in list[0..n) the score of id; NAN when absent. */
static double score_of(const struct search_cand *list, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++)
        if (list[i].id == id)
            return list[i].score;
    return NAN;
}

/* Fills hits from the chunks of the ranked ids. */
static enum lair_err fill_hits(struct tenant_db *db, const struct search_cand *ranked, size_t n,
                               const struct search_cand *lex, size_t nl,
                               const struct search_cand *vec, size_t nv, struct arena *out,
                               struct search_hit **hits, size_t *n_hits)
{
    int64_t ids[SEARCH_TOP_K_MAX];
    struct kb_chunk ch[SEARCH_TOP_K_MAX];
    size_t got = 0;
    for (size_t i = 0; i < n; i++)
        ids[i] = ranked[i].id;
    enum lair_err e = kb_chunks_get(db, ids, n, out, ch, &got);
    if (e)
        return e;
    struct search_hit *h = arena_alloc(out, (got ? got : 1) * sizeof(*h));
    if (!h)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < got; i++) {
        double bm = score_of(lex, nl, ch[i].id), cs = score_of(vec, nv, ch[i].id);
        h[i] = (struct search_hit){
            .chunk_id = ch[i].id,
            .document_id = ch[i].document_id,
            .document = ch[i].document,
            .kb = ch[i].kb,
            .page = (int)ch[i].page,
            .heading = ch[i].heading_path ? ch[i].heading_path : "",
            .text = ch[i].text,
            .text_len = ch[i].text_len,
            .score = score_of(ranked, n, ch[i].id),
            .bm25 = isnan(bm) ? 0 : bm,
            .cosine = (float)cs,
        };
    }
    *hits = h;
    *n_hits = got;
    return LAIR_OK;
}

enum lair_err search_run(struct tenant_db *db, const struct search_query *q, struct arena *out,
                         struct search_hit **hits, size_t *n)
{
    *hits = NULL;
    *n = 0;
    if (q->top_k < 1 || q->top_k > SEARCH_TOP_K_MAX || q->n_kbs < 1 || q->n_kbs > SEARCH_MAX_KB)
        return LAIR_EINVAL;
    size_t cand = candidates_for(q->top_k);
    struct search_cand *lex = calloc(cand, sizeof(*lex)), *vec = NULL, *fused = NULL;
    struct kb_hit *kh = calloc(cand, sizeof(*kh));
    float *qv = NULL;
    size_t nl = 0, nv = 0, nf = 0, dim = 0;
    enum lair_err e = lex && kh ? LAIR_OK : LAIR_ENOMEM;
    /* lexical: only matches at or above min_score take part */
    if (!e)
        e = kb_search(db, q->kbs, q->n_kbs, q->text, q->embed ? cand : q->top_k, kh, &nl);
    size_t kept = 0;
    double noise = nl ? kh[0].score * SEARCH_BM25_RELATIVE_FLOOR : 0; /* kh is best first */
    for (size_t i = 0; !e && i < nl; i++)
        if (kh[i].score >= q->min_score && kh[i].score >= noise)
            lex[kept++] = (struct search_cand){kh[i].chunk_id, kh[i].score};
    nl = kept;
    if (!e && q->embed && (qv = embed_question(q->embed, q->text, &dim)) != NULL) {
        vec = calloc(cand, sizeof(*vec));
        e = vec ? vector_ranking(db, q, qv, dim, cand, vec, &nv) : LAIR_ENOMEM;
    }
    if (!e && nv) {
        fused = calloc(nl + nv, sizeof(*fused));
        e = fused ? LAIR_OK : LAIR_ENOMEM;
        if (!e)
            nf = search_rrf(lex, nl, vec, nv, q->top_k, fused);
        if (!e && nf == 0 && nl + nv > 0)
            e = LAIR_ENOMEM;
        if (!e)
            e = fill_hits(db, fused, nf, lex, nl, vec, nv, out, hits, n);
    } else if (!e && nl) {
        e = fill_hits(db, lex, nl < q->top_k ? nl : q->top_k, lex, nl, NULL, 0, out, hits, n);
    }
    free(lex);
    free(kh);
    free(vec);
    free(fused);
    free(qv);
    return e;
}
