/* SQLite FTS5 glue for the French analyzer: the "lair_fr" tokenizer, the
 * safe translation of a user's question into a MATCH expression, and a
 * top-k BM25 search over one FTS5 table.
 *
 * A table uses the analyzer with
 *     CREATE VIRTUAL TABLE t USING fts5(text, tokenize = 'lair_fr');
 * once fts_register has run on the connection. Documents and query phrases go
 * through the same pipeline (analyzer.h); FTS5 prefix queries ("ecol"*) leave
 * their last word unstemmed. */
#ifndef LAIR_RAG_FTS_H
#define LAIR_RAG_FTS_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "rag/analyzer.h"

/* Names of the tokenizer and of the ranking function that fts_register adds.
 * FTS_RANK is an FTS5 auxiliary function, lair_bm25(table [, k [, k1, b
 * [, pair [, weights]]]]): the row's BM25 score for the MATCH query, higher
 * is better, with a bonus when the words of two consecutive question words
 * stand side by side in the row (weight pair). weights is the blob of
 * fts_query_build: per phrase, two doubles, its weight (0..1, scaling its
 * IDF) and its slot (the question word it stands for; a correction shares
 * its word's slot); without it every phrase weighs 1 and is its own slot.
 * With k, rows that cannot be among the k best score -1e300 instead and cost
 * less: sort on it with a LIMIT of k. The whole row is one field; the table
 * needs detail=full (the default). */
#define FTS_TOKENIZER "lair_fr"
#define FTS_RANK "lair_bm25"
/* lair_bm25's defaults, chosen on the dev questions
 * (docs/internals/analyzer.md). */
#define FTS_BM25_K1 1.2
#define FTS_BM25_B 0.3
#define FTS_BM25_PAIR 0.3
/* Most distinct terms of a question that a search uses; the rest is
 * ignored, which bounds the cost of a pasted page. */
#define FTS_QUERY_TERMS_MAX 32
/* Spelling (src/rag/spell.h): a question word that the index does not hold
 * is searched with up to FTS_SPELL_CANDS corrections from the index's
 * vocabulary, each weighing FTS_SPELL_WEIGHT of an exact word (chosen on the
 * dev questions with typos, bench/rag/README.md: 1 or 2 candidates, or
 * weights 0.3, 0.5 and 1, did no better; correcting rare words that the
 * index does hold, as well as absent ones, did not help either); at most
 * FTS_SPELL_WORDS_MAX words of a question are corrected. Setting the
 * environment variable LIBREAIR_SPELL=off turns corrections off (for
 * measurements). */
#define FTS_SPELL_CANDS 3
#define FTS_SPELL_WEIGHT 0.7
#define FTS_SPELL_WORDS_MAX 8
/* A query phrase starting with this byte is a term of the index, given to
 * the tokenizer as it is (a correction); a user's words never start with it. */
#define FTS_VERBATIM "\x01"

/* Registers the "lair_fr" tokenizer and the lair_bm25 function on db, for
 * the life of the connection. Each FTS5 table that uses the tokenizer gets
 * its own analyzer. LAIR_EDB when the SQLite library has no FTS5. */
enum lair_err fts_register(sqlite3 *db);

/* Writes into out (reset first) the FTS5 MATCH expression for a user's
 * question: the distinct terms of the question (question words and stop
 * words dropped) OR-ed together, each as a double-quoted string holding the
 * word as the user wrote it, so that nothing in the question can act as FTS5
 * syntax. out is empty when the question has no searchable word; FTS5
 * rejects an empty expression, so do not run it. a is the caller's analyzer
 * (its iteration is restarted). */
enum lair_err fts_match_expr(struct analyzer *a, struct str question, struct buf *out);

/* A question as FTS5 searches it: the MATCH expression and lair_bm25's
 * weights. Reusable: fts_query_build resets it. */
struct fts_query {
    struct buf expr;    /* empty when the question has no searchable word */
    struct buf weights; /* lair_bm25's weights argument, bind as a blob */
    size_t n_phrases;   /* phrases in expr */
    size_t n_corrected; /* question words searched with corrections */
};

void fts_query_init(struct fts_query *q);
void fts_query_release(struct fts_query *q);

/* Builds q from a user's question: fts_match_expr's expression (each word
 * weight 1) and, when db and table are given (the FTS5 table searched, a
 * plain identifier), the corrections of each word of SPELL_MIN_CHARS letters
 * or more that the table's index does not hold, right after their word, as
 * verbatim index terms of weight FTS_SPELL_WEIGHT. a is the caller's
 * analyzer (its iteration is restarted). LAIR_ENOMEM; LAIR_EDB when the
 * table's vocabulary cannot be read. */
enum lair_err fts_query_build(struct analyzer *a, sqlite3 *db, const char *table,
                              struct str question, struct fts_query *q);

struct fts_hit {
    int64_t rowid;
    double score; /* BM25 relevance (lair_bm25), higher is better */
};

/* A prepared top-k search on one FTS5 table; like a sqlite3_stmt, use it from
 * one thread at a time. */
struct fts_search;

/* Prepares the search of table (an FTS5 table on db, name made of ASCII
 * letters, digits and '_'). db is BORROWED and must outlive the search. OUT:
 * *out, OWNED (free with fts_search_free). LAIR_EINVAL for a bad table
 * name, LAIR_EDB when SQLite refuses the statement (no such table). */
enum lair_err fts_search_new(sqlite3 *db, const char *table, struct fts_search **out);
void fts_search_free(struct fts_search *s);

/* Runs question against the table, with spelling corrections
 * (fts_query_build). OUT: hits[0..*n) best first, *n <= k.
 * A question without a searchable word gives *n == 0 and LAIR_OK.
 * LAIR_EDB on an SQLite error (the table has no "lair_fr" tokenizer, I/O). */
enum lair_err fts_search_run(struct fts_search *s, struct str question, size_t k,
                             struct fts_hit *hits, size_t *n);

#endif
