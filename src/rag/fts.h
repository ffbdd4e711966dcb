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
 * FTS_SPELL_WORDS_MAX words of a question are corrected. The corrections
 * of the typed word (spell_suggest_word) come first; they are looked for
 * in the first FTS_SPELL_TYPED_MAX unknown words only (each costs about a
 * millisecond: a question of gibberish stays cheap), the term's neighbours
 * (spell_suggest) fill the rest. Setting the environment variable
 * LIBREAIR_SPELL=off turns corrections off, LIBREAIR_SPELL_WORD=off only
 * the typed word's (for measurements). */
#define FTS_SPELL_CANDS 3
#define FTS_SPELL_WEIGHT 0.7
#define FTS_SPELL_WORDS_MAX 8
#define FTS_SPELL_TYPED_MAX 4
/* Ranking techniques measured for issue 18 (bench/rag/README.md, the
 * ablation table) and left at their neutral values, since none helped both
 * dev sets: BM25F weight of a heading-path word (column 1 of chunks_fts)
 * against a body word (the dev passages have no headings; on the spf
 * fiches rebuilt with theirs, bench/rag/headings.sh, weights 0.5 to 3 move
 * R@5 by a question or two either way and lower MRR@10 as they grow); the
 * proximity window of the pair bonus (1: only "a b" side by side counts;
 * more: a and b up to that many words apart count 1 / (1 + distance); 2 to
 * 8 cost spf 0.3 point of R@5; LIBREAIR_PROX_REVERSE also counts "b a" with
 * that weight: 0.5 gives spf +0.3, piaf nothing); and RM3-style
 * pseudo-relevance feedback: the FTS_PRF_TERMS terms most probable in the
 * FTS_PRF_DOCS best passages (P(t|D) weighted by each passage's share of
 * the scores, terms of two passages or more), added with at most
 * FTS_PRF_WEIGHT of a question word's weight, and a second search (0.05 to
 * 0.2 cost spf 1.2 to 3.3 points and several milliseconds). Measured later
 * and left neutral too: a coordination factor (the score times the share
 * of the question's IDF that the row matches, to the power
 * LIBREAIR_COORD: 0.25 to 1 move R@5 by -1.2 to +0.1 point), IDF raised to
 * the power LIBREAIR_IDF_POW (rarer words weigh more: 1.3 and 1.6 cost spf
 * 0.9 and 2.1 points) and a lead weight (a word among the row's first
 * LIBREAIR_LEAD_N counts LIBREAIR_LEAD times: spf +0.6 to +0.9, piaf -0.2
 * to -0.4: it rewards the dev passages' layout, not a question's words). The
 * environment variables LIBREAIR_HEAD_WEIGHT, LIBREAIR_PROX_WINDOW,
 * LIBREAIR_PRF (the weight; "off" or 0 disables), LIBREAIR_COORD,
 * LIBREAIR_IDF_POW, LIBREAIR_LEAD and LIBREAIR_LEAD_N set them for
 * measurements. */
#define FTS_HEAD_WEIGHT 1.0
#define FTS_PROX_WINDOW 1
#define FTS_PRF_DOCS 10
#define FTS_PRF_TERMS 10
#define FTS_PRF_WEIGHT 0.0

/* The value of environment variable name as a number; def when it is unset
 * or not a number, 0 when it is "off". */
double fts_knob(const char *name, double def);

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

/* ---- explanations: how each question word matched a passage ---- */

/* Most synonym expressions an explanation records (SYN_QUERY_PHRASES_MAX). */
#define FTS_EXPLAIN_SYN_MAX 16
#define FTS_EXPLAIN_EXPR_MAX 120 /* SYN_EXPR_MAX */
#define FTS_EXPLAIN_EXPR_WORDS 8 /* SYN_EXPR_WORDS_MAX */

/* What fts_query_build searched for one question: each distinct word (where
 * the user typed it, its terms, its corrections) and each synonym
 * expression added (the question's words it stands for and the
 * expression's terms). Filled by fts_query_build when q->explain is set;
 * copies only, so it outlives the vocabulary it was built with. */
struct fts_explain {
    struct str question; /* BORROWED: the question it was built from */
    size_t n_words, n_syn;
    struct fts_explain_word {
        size_t start, end; /* the word in question */
        char term[ANALYZER_TERM_MAX + 1], alt[ANALYZER_TERM_MAX + 1];
        char fix[FTS_SPELL_CANDS][ANALYZER_TERM_MAX + 1]; /* corrections */
        size_t n_fix;
    } words[FTS_QUERY_TERMS_MAX];
    struct fts_explain_syn {
        size_t start, end;                   /* the matched expression in question */
        char text[FTS_EXPLAIN_EXPR_MAX + 1]; /* the synonym, as the vocabulary writes it */
        char terms[FTS_EXPLAIN_EXPR_WORDS][ANALYZER_TERM_MAX + 1];
        size_t n_terms;
    } syn[FTS_EXPLAIN_SYN_MAX];
};

enum fts_match_as {
    FTS_MATCH_EXACT,     /* the passage has the word itself (case and accents aside) */
    FTS_MATCH_STEMMED,   /* another form of it: same stem ("naissances", "naissance") */
    FTS_MATCH_CORRECTED, /* a spelling correction of it ("naissence" → "naissance") */
    FTS_MATCH_SYNONYM,   /* an equivalent expression ("carte grise" → "certificat…") */
};

/* One question word (or expression) found in a passage. */
struct fts_match {
    struct str term; /* BORROWED: as typed, a slice of ex->question */
    enum fts_match_as as;
    struct str matched; /* BORROWED: the passage's word (a slice of the text), or the
                         * synonym expression (in ex) */
};

/* "exact", "stemmed", "corrected", "synonym". */
const char *fts_match_as_name(enum fts_match_as as);

/* Which words of ex's question occur in text (a passage of the searched
 * index) and how: re-analyses text as the index did (a is the caller's
 * analyzer, restarted) and compares terms. A word matches at most once, by
 * its best way (exact, then stemmed, then corrected); synonyms follow the
 * words. Words absent from text give nothing. OUT: out[0..*n), *n <= max.
 * LAIR_ENOMEM. Costs one analysis of the passage: only for explanations. */
enum lair_err fts_explain_passage(struct analyzer *a, const struct fts_explain *ex, struct str text,
                                  struct fts_match *out, size_t max, size_t *n);

/* A question as FTS5 searches it: the MATCH expression and lair_bm25's
 * weights. Reusable: fts_query_build resets it. */
struct fts_query {
    struct buf expr;    /* empty when the question has no searchable word */
    struct buf weights; /* lair_bm25's weights argument, bind as a blob */
    size_t n_phrases;   /* phrases in expr */
    size_t n_corrected; /* question words searched with corrections */
    size_t n_slots;     /* slots used (question words, synonyms, expansions) */
    size_t n_synonyms;  /* phrases added from the synonyms */
    size_t n_expanded;  /* terms added by fts_query_expand */
    struct buf terms;   /* the index terms searched, each NUL-terminated */
    /* rows that the search covers (one knowledge base's), for the synonyms'
     * test; set by the caller, kept by fts_query_build (init: all) */
    int64_t rowid_lo, rowid_hi;
    /* BORROWED; NULL (init) unless the caller wants fts_query_build to
     * record what it searched (fts_explain_passage); kept across builds */
    struct fts_explain *explain;
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

struct syn_set;

/* fts_query_build, and then for each group of syn (src/rag/synonyms.h, may
 * be NULL) one of whose expressions the question holds (its words in a
 * row, stop words aside) and no row of q->rowid_lo..rowid_hi holds (when db
 * and table are given), the group's other expressions as phrases of
 * weight SYN_WEIGHT, in the slot of the matched expression's last word.
 * At most SYN_QUERY_PHRASES_MAX such phrases. For measurements:
 * LIBREAIR_SYNONYMS=off turns them off, LIBREAIR_SYN_GAPS=off applies them
 * even when the rows hold the matched expression, LIBREAIR_SYN_WEIGHT sets
 * their weight. */
enum lair_err fts_query_build_syn(struct analyzer *a, sqlite3 *db, const char *table,
                                  struct str question, const struct syn_set *syn,
                                  struct fts_query *q);

/* Pseudo-relevance feedback: adds to q up to FTS_PRF_TERMS index terms
 * from texts[0..n) (the best passages of a first search, with their scores,
 * best first), each of weight at most `weight`, that q does not search yet.
 * a is the caller's analyzer. LAIR_ENOMEM. */
enum lair_err fts_query_expand(struct fts_query *q, struct analyzer *a, const struct str *texts,
                               const double *scores, size_t n, double weight);

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
 * (fts_query_build), the synonyms given to fts_search_set_synonyms and, when
 * fts_prf_weight() > 0, pseudo-relevance feedback (a second search). OUT: hits[0..*n) best first,
 * *n <= k. A question without a searchable word gives *n == 0 and LAIR_OK. LAIR_EDB on an SQLite
 * error (the table has no "lair_fr" tokenizer, I/O). */
enum lair_err fts_search_run(struct fts_search *s, struct str question, size_t k,
                             struct fts_hit *hits, size_t *n);

/* The vocabulary that fts_search_run applies (BORROWED: must outlive the
 * search); NULL, the default, applies none. */
void fts_search_set_synonyms(struct fts_search *s, const struct syn_set *syn);

/* The weight of pseudo-relevance feedback: FTS_PRF_WEIGHT, or
 * LIBREAIR_PRF's; 0 when off. */
double fts_prf_weight(void);

#endif
