/* Retrieval: the chunks of a tenant's knowledge bases that best answer a
 * question. This is what grounded chat (src/assist/grounding.h) and the
 * search API (POST /api/v1/knowledge-bases/{slug}/search) both run, so that
 * what an editor tests in the console is what an assistant gets.
 *
 * Two rankings, fused:
 * - lexical: BM25 over the FTS5 index with the French analyzer (lair_fr and
 *   lair_bm25, src/rag/fts.h), always;
 * - semantic: cosine similarity between the question's embedding and the
 *   chunks' stored vectors, when an embedding model is given and the
 *   knowledge base has vectors made by that model.
 * With both, the lists are merged by reciprocal rank fusion (RRF): a chunk's
 * fused score is the sum over the lists it is in of 1 / (SEARCH_RRF_K +
 * rank), rank counted from 1. RRF needs no calibration between a BM25 score
 * (unbounded) and a cosine (-1..1), which is why it is used.
 *
 * Scores. hit.bm25 is the lexical score (0 when the chunk was found by its
 * vector only) and hit.cosine the similarity (NAN without vectors). hit.score
 * is what the results are ordered by: bm25 when the search was lexical only,
 * the fused RRF score otherwise. min_score is compared with bm25, the one
 * score whose scale does not depend on which embedding model is configured;
 * a chunk found by its vector only is kept when its cosine is at least
 * SEARCH_COSINE_MIN. Lexical matches far below the best one
 * (SEARCH_BM25_RELATIVE_FLOOR) are dropped in every case. docs/grounding.md
 * gives the details. */
#ifndef LAIR_RAG_SEARCH_H
#define LAIR_RAG_SEARCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

struct llm_model;
struct tenant_db;

#define SEARCH_TOP_K_MAX 50
/* RRF constant: the usual 60 (Cormack et al., 2009) damps the head of
 * each list so that agreement between the lists counts more than one
 * list's first place. */
#define SEARCH_RRF_K 60
/* Each ranking contributes this many times top_k candidates to the fusion
 * (at least SEARCH_CANDIDATES_MIN). */
#define SEARCH_CANDIDATES_FACTOR 4
#define SEARCH_CANDIDATES_MIN 20
/* A lexical match scoring under this fraction of the best match's score is
 * dropped, whatever min_score says: words found in half the indexed chunks
 * or more get an IDF of about zero (floored at 1e-6 per word, as in FTS5),
 * so a chunk that shares only such words with the question matched on
 * noise. Relative, not absolute: in a base of one or two documents every
 * word is that frequent, and the best match is still the answer. */
#define SEARCH_BM25_RELATIVE_FLOOR 1e-3
/* Least cosine for a chunk that only the vector ranking found. */
#define SEARCH_COSINE_MIN 0.35f
/* Most knowledge bases searched at once (an assistant has at most 16). */
#define SEARCH_MAX_KB 16

struct search_query {
    struct str text;         /* the question, BORROWED */
    const char *const *kbs;  /* knowledge-base slugs of the tenant, BORROWED */
    size_t n_kbs;            /* 1..SEARCH_MAX_KB; unknown slugs are skipped */
    size_t top_k;            /* 1..SEARCH_TOP_K_MAX */
    double min_score;        /* least bm25 (see above); 0 keeps every match */
    struct llm_model *embed; /* embedding model, BORROWED; NULL = lexical only */
};

struct search_hit {
    int64_t chunk_id;
    int64_t document_id;
    const char *document; /* ARENA: the uploaded file name */
    const char *kb;       /* ARENA: the knowledge base's slug */
    int page;             /* 1-based; 0 when the document has no pages */
    const char *heading;  /* ARENA: heading path, "Titre > Sous-titre"; "" when none */
    const char *text;     /* ARENA: the chunk's text, NUL-terminated */
    size_t text_len;
    double score; /* what hits are ordered by (see above) */
    double bm25;  /* lexical score; 0 when not a lexical match */
    float cosine; /* NAN when the hit has no vector score: none compared, or
                   * below SEARCH_COSINE_MIN or outside the candidates */
};

/* Searches q over the tenant's knowledge bases. OUT: *hits (ARENA: out),
 * best first, *n <= top_k. A question with no searchable word, or knowledge
 * bases without a match, give *n == 0 and LAIR_OK. Errors: LAIR_EINVAL
 * (top_k or n_kbs out of range), LAIR_ENOMEM (the arena is full), LAIR_EDB.
 * When the embedding model fails, the search goes on lexically (logged). */
enum lair_err search_run(struct tenant_db *db, const struct search_query *q, struct arena *out,
                         struct search_hit **hits, size_t *n);

/* ---- the pieces, exposed for tests and benchmarks ---- */

/* One entry of a ranked list: a chunk and its score in that list. */
struct search_cand {
    int64_t id;
    double score;
};

/* Dot product of two float vectors of dim elements: the cosine of two
 * L2-normalised vectors (llm_embed normalises). A plain loop written so
 * that GCC vectorises it (-O2 with -march=native or the default SSE2). */
float search_dot(const float *a, const float *b, size_t dim);

/* The k rows of mat (n_rows x dim, row-major) most similar to q, best
 * first, with ids[i] the id of row i. OUT: out[0..*n_out), *n_out <= k;
 * rows below min_cos are skipped. */
void search_vec_topk(const float *q, const float *mat, const int64_t *ids, size_t n_rows,
                     size_t dim, float min_cos, size_t k, struct search_cand *out, size_t *n_out);

/* Reciprocal rank fusion of two ranked lists (best first; either may be
 * empty; an id appears at most once per list). OUT: out[0..return) best
 * first, the fused score in .score, at most k entries; ties keep the order
 * of list a, then b. Returns 0 for non-empty lists only when out of
 * memory. */
size_t search_rrf(const struct search_cand *a, size_t na, const struct search_cand *b, size_t nb,
                  size_t k, struct search_cand *out);

#endif
