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
 * [, pair]]]): the row's BM25 score for the MATCH query, higher is better,
 * with a bonus when the words of two consecutive phrases stand side by side
 * in the row (weight pair). With k, rows that cannot be among the k best
 * score -1e300 instead and cost less: sort on it with a LIMIT of k. The
 * whole row is one field; the table needs detail=full (the default). */
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

/* Runs question against the table. OUT: hits[0..*n) best first, *n <= k.
 * A question without a searchable word gives *n == 0 and LAIR_OK.
 * LAIR_EDB on an SQLite error (the table has no "lair_fr" tokenizer, I/O). */
enum lair_err fts_search_run(struct fts_search *s, struct str question, size_t k,
                             struct fts_hit *hits, size_t *n);

#endif
