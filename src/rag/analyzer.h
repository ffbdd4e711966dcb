/* The French text analyzer: turns UTF-8 text into the search terms that the
 * full-text index stores and that questions are matched with.
 *
 * Pipeline, per word: segmentation on Unicode letters and digits (invalid
 * UTF-8 bytes count as separators), elision removal (l', d', qu', jusqu'…,
 * with ' or ’), compatibility normalisation and case folding (utf8proc),
 * ligature expansion (œ → oe, æ → ae), stop-word removal, Snowball French
 * stemming (libstemmer) of the accented form, then accent folding of the
 * stem (é → e, ç → c). Words that hold a
 * digit are kept whole and not stemmed: "L2121-29", "2020", "A1". Hyphens
 * split words ("peut-être" gives two terms) except between digits of an
 * article number. docs/internals/analyzer.md explains each choice and the
 * measurements behind it.
 *
 * An analyzer owns a Snowball stemmer, which is not thread-safe: use one
 * analyzer per thread (or per FTS5 tokenizer instance). Iterating allocates
 * nothing. */
#ifndef LAIR_RAG_ANALYZER_H
#define LAIR_RAG_ANALYZER_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

/* Longest term, in bytes. Longer words are cut (on a character boundary) and
 * left unstemmed, the same way on both sides, so they still match. */
#define ANALYZER_TERM_MAX 64

enum analyzer_flags {
    /* The text is a user's question: also drop the words that only shape a
     * question ("comment", "quel", "peut-on"…). */
    ANALYZER_QUESTION = 1 << 0,
    /* The text's last word is only the start of a word (an FTS5 prefix
     * query): it is normalised and folded but neither stemmed nor dropped as
     * a stop word, so that it is a prefix of the terms it should match. */
    ANALYZER_PREFIX = 1 << 1,
    /* Also give alternative terms, marked colocated (FTS5 synonyms), where
     * Snowball leaves an inflection: "revenus" gives "revenus" then
     * "revenu", "refusent" gives "refusent" then "refus". */
    ANALYZER_ALTERNATIVES = 1 << 2,
};

struct analyzer_term {
    const char *ptr; /* BORROWED: valid until the next analyzer_next/_start */
    size_t len;      /* 1..ANALYZER_TERM_MAX */
    /* Byte offsets in the text of the word the term comes from, elided
     * article excluded: "l'école" gives the offsets of "école". */
    size_t start, end;
    /* An alternative to the previous term, for the same word (only with
     * ANALYZER_ALTERNATIVES): a match on either counts. */
    bool colocated;
};

struct analyzer;

/* A new analyzer with its French stemmer. OUT: *out, OWNED (free with
 * analyzer_free). LAIR_ENOMEM when memory or the stemmer is missing. */
enum lair_err analyzer_new(struct analyzer **out);
void analyzer_free(struct analyzer *a);

/* Starts iterating the terms of text (BORROWED: must outlive the
 * iteration). flags: enum analyzer_flags. */
void analyzer_start(struct analyzer *a, struct str text, unsigned flags);
/* The next term, in text order. false at the end of the text. */
bool analyzer_next(struct analyzer *a, struct analyzer_term *out);

/* The term of one word as a NUL-terminated string in out (cap bytes, at least
 * ANALYZER_TERM_MAX + 1). flags as for analyzer_start. Returns its length, or
 * 0 when the word gives no term (stop word, punctuation). Meant for tests and
 * tools: it runs the same pipeline as analyzer_next. */
size_t analyzer_term_of(struct analyzer *a, struct str word, unsigned flags, char *out, size_t cap);

#endif
