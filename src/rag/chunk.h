/* Chunking: cuts an extracted document (doc/doc.h) into the passages that a
 * knowledge base indexes, searches and cites.
 *
 * Structure-aware: a chunk never spans two sections (a change of heading
 * path starts a new chunk), keeps the heading path and the page of its first
 * block, and holds whole blocks while they fit. A block too long for one
 * chunk is cut between sentences, a sentence too long between words; a word
 * is never cut, unless it is itself longer than a chunk (a pasted hash or
 * URL), which is cut on a character boundary. Consecutive chunks of one
 * section overlap by about 15 % (the end of one opens the next, from a
 * sentence start when there is one nearby). A table cut across chunks
 * repeats its header row (row 1) at the top of each continuation instead of
 * the overlap.
 *
 * Sizes are in tokens of a model's tokenizer when the caller gives one (a
 * callback: the chunks then fit that model's context), else estimated at
 * four characters per token. Heading blocks give no text of their own: they
 * are in the heading path of the blocks under them (a document made of
 * headings only is chunked from its headings). docs/knowledge-bases.md
 * explains the choices. */
#ifndef LAIR_RAG_CHUNK_H
#define LAIR_RAG_CHUNK_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "doc/doc.h"

#define CHUNK_TARGET_TOKENS 300
#define CHUNK_OVERLAP_PERCENT 15
#define CHUNK_HASH_BYTES 32

/* Tokens of text for a model, or a negative value when it cannot tell (the
 * estimate is used for that text). */
typedef int (*chunk_count_fn)(void *arg, struct str text);

struct chunk_opts {
    int target_tokens;    /* most tokens of a chunk; 0 = CHUNK_TARGET_TOKENS */
    int overlap_tokens;   /* 0 = CHUNK_OVERLAP_PERCENT of target; < 0 = no overlap */
    chunk_count_fn count; /* NULL: estimate */
    void *arg;            /* for count */
};

struct chunk {
    const char *text; /* ARENA: UTF-8, NUL-terminated, never empty */
    size_t len;
    const char *heading_path; /* BORROWED from the doc: "Titre > Sous-titre", "" when none */
    unsigned page;            /* page of the first block; 0 when the format has no pages */
    int tokens;               /* of text, by count (or the estimate) */
    /* SHA-256 of heading_path, a NUL byte and text: identical chunks, which
     * a knowledge base stores once, have the same hash. */
    unsigned char hash[CHUNK_HASH_BYTES];
};

/* Chunks doc. opts may be NULL (defaults). OUT: *chunks, OWNED (free with
 * free()), *n of them, in document order; their texts live in out. A
 * document without any text gives *n == 0. LAIR_ENOMEM when memory or the
 * arena's cap runs out. */
enum lair_err chunk_doc(const struct doc *doc, const struct chunk_opts *opts, struct arena *out,
                        struct chunk **chunks, size_t *n);

/* The estimate used without a tokenizer: a token per four characters
 * (code points), at least one for non-empty text. */
int chunk_estimate_tokens(struct str text);

/* The hash chunk_doc gives a chunk of that heading path and text. */
void chunk_hash(struct str heading_path, struct str text, unsigned char out[CHUNK_HASH_BYTES]);

#endif
