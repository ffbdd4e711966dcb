/* The spelling suggester: corrections, taken from a full-text index's own
 * vocabulary, for the words of a question that the index does not hold
 * ("naissence" → "naissance", "inscripsion" → "inscription").
 *
 * A struct spell is a snapshot of the terms of one FTS5 table (as the
 * "lair_fr" analyzer made them: stemmed, lower case, accents folded) with the
 * number of rows that hold each. It is read through an fts5vocab table and
 * kept until the index changes: spell_sync compares the index's structure
 * record (one row, written by FTS5 on every change, whichever process wrote)
 * with the one the snapshot was read under, and reloads only then.
 *
 * Corrections are the vocabulary's terms within a few edits of the
 * question's term, counted as the optimal string alignment distance
 * (Damerau–Levenshtein where a transposed pair is not edited again): a letter
 * dropped, added, replaced, or two neighbours swapped each cost one. Closest
 * first, then the most frequent. A correction keeps the word's first letter
 * (a changed first letter mostly makes another word: "tarte", "carte"). The
 * candidates scanned are only the terms with that first letter whose length
 * is within the distance of the query term's, and the distance
 * stops as soon as it exceeds its bound, so a suggestion costs a fraction of
 * a millisecond on a vocabulary of tens of thousands of terms.
 *
 * Not thread-safe: the caller serialises (src/rag/fts.c keeps one per
 * connection behind a mutex). docs/knowledge-bases.md, "Typos and accents",
 * says how searches use it. */
#ifndef LAIR_RAG_SPELL_H
#define LAIR_RAG_SPELL_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "rag/analyzer.h"

/* Words shorter than this (in characters, as the user wrote them) are never
 * corrected: "cafe" has too many neighbours at one edit to guess. */
#define SPELL_MIN_CHARS 4
/* From this length on, a word may be two edits away; shorter ones, one. */
#define SPELL_LONG_CHARS 8
/* Most edits ever allowed (the bound spell_suggest accepts). */
#define SPELL_MAX_DIST 2

struct spell;

struct spell_cand {
    char term[ANALYZER_TERM_MAX + 1];
    size_t len;
    unsigned dist; /* edits from the query term, 1..SPELL_MAX_DIST */
    uint32_t df;   /* rows of the index that hold it */
};

/* An empty snapshot. OUT: *out, OWNED (free with spell_free). */
enum lair_err spell_new(struct spell **out);
void spell_free(struct spell *sp);

/* Makes sp the vocabulary of the FTS5 table (a plain identifier; the table
 * in the main schema of db) as it is now: a no-op when the index has not
 * changed since the last load. Creates the fts5vocab table
 * temp.<table>_lair_vocab on first use (temp: per connection, never
 * written to the file). LAIR_EINVAL for a bad table name, LAIR_ENOMEM,
 * LAIR_EDB (no such table). On error sp is left empty, not stale. */
enum lair_err spell_sync(struct spell *sp, sqlite3 *db, const char *table);

/* Number of distinct terms in the snapshot. */
size_t spell_size(const struct spell *sp);

/* How many rows hold term (len bytes); 0 when the index has no such term. */
uint32_t spell_df(const struct spell *sp, const char *term, size_t len);

/* The edit bound for a word of chars characters: 0 (never corrected) below
 * SPELL_MIN_CHARS, 1 below SPELL_LONG_CHARS, 2 from there on. */
unsigned spell_max_dist(size_t chars);

/* Up to max corrections of term within max_dist (<= SPELL_MAX_DIST) edits
 * that begin with term's first byte, closest first, then the most frequent,
 * then in byte order. Terms holding a digit are never offered, nor term
 * itself. OUT: out[0..return). */
size_t spell_suggest(const struct spell *sp, const char *term, size_t len, unsigned max_dist,
                     struct spell_cand *out, size_t max);

/* Up to max corrections of the word as the user typed it (word: UTF-8, at
 * most SPELL_WORD_MAX characters), found before stemming: each of its
 * one-edit variants (a letter dropped, inserted or replaced, two neighbours
 * swapped) is turned into its term by a (the index's pipeline), and kept
 * when the index holds that term. A typo in a word's ending leaves an
 * ending the stemmer does not strip ("anticipaion"), so the typed word's
 * term can be far from the index's ("anticip") though the word is one
 * letter from "anticipation": this finds it. The edits fall in the word's
 * last SPELL_WORD_TAIL characters, where the stemmer's suffixes are (a typo
 * before them changes the stem by one letter, which spell_suggest finds),
 * never on the first letter; inserted and replacing letters come from the
 * French alphabet, accented ones included: at most about 520 variants, a
 * millisecond or so. Most frequent first, then in byte order; dist is 1. Not
 * the word's own term. Uses a (restarted: not in the middle of an
 * iteration). */
#define SPELL_WORD_MAX 24
#define SPELL_WORD_TAIL 6
size_t spell_suggest_word(const struct spell *sp, struct analyzer *a, struct str word,
                          struct spell_cand *out, size_t max);

/* The optimal string alignment distance between a and b (bytes), or
 * bound + 1 as soon as it is known to exceed bound. */
unsigned spell_distance(const char *a, size_t na, const char *b, size_t nb, unsigned bound);

#endif
