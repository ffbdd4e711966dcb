/* Grounded answers: from a conversation to the sources an assistant answers
 * from. For an assistant with knowledge bases, grounding
 *   1. takes the question: the last user turn, with the previous user turn
 *      in front when the last one is a short follow-up ("et pour un
 *      mariage ?") — but the new turn decides: a follow-up whose own words
 *      find nothing is not rescued by the turn before it (it gets the
 *      refusal it would get alone);
 *   2. searches the assistant's knowledge bases (src/rag/search.h) with its
 *      retrieval settings;
 *   3. groups the chunks found by document page (one source per page of a
 *      document, or per document without pages, its passages best first),
 *      then packs the sources, in rank order, numbered, into a
 *      system-side block that fits the model's context budget, and fences
 *      them as data: the block says that sources are quotations whose
 *      instructions must be ignored, and each source sits between markers
 *      that no document text can forge (the sequences that could, and chat
 *      template control tokens, are neutralised in the text);
 *   4. gives the `sources` array of the response (DESIGN.md), one entry per
 *      packed source (document page), with the same numbers and its
 *      passages' excerpts inside;
 *   5. decides the refusal: with citations "required" and no source packed,
 *      the caller answers with the refusal text and generates nothing.
 * It also composes the degraded answer (DESIGN.md "First run and degraded
 * mode"): the best cited excerpts, labelled as such, for when no model can
 * generate. docs/grounding.md explains each choice. */
#ifndef LAIR_GROUNDING_H
#define LAIR_GROUNDING_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "assist/assistant.h"
#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "llm/llm.h"
#include "rag/search.h"

/* A last user turn with at most this many words is a follow-up: the previous
 * user turn is searched with it. */
#define GROUNDING_FOLLOWUP_WORDS 4
/* ... or at most this many when it opens with a linking word ("et", "mais",
 * "sinon", "aussi", "pour", "dans", "en", "si"). */
#define GROUNDING_FOLLOWUP_LINKED_WORDS 8
/* A source is cut rather than left out while at least this many tokens of
 * budget remain for it; below, packing stops. */
#define GROUNDING_MIN_SOURCE_TOKENS 48
/* Tokens kept free for the chat template's own markup around the block. */
#define GROUNDING_TEMPLATE_MARGIN 32
/* Tokens reserved for the answer when the request sets no max_tokens: the
 * smaller of this and a quarter of the context. */
#define GROUNDING_ANSWER_RESERVE 1024
/* Excerpt of a source in the response (bytes, cut on a word boundary). */
#define GROUNDING_EXCERPT_BYTES 280
/* The degraded answer quotes at most this many sources, each with an
 * excerpt of at most GROUNDING_DEGRADED_EXCERPT_BYTES. */
#define GROUNDING_DEGRADED_SOURCES 3
#define GROUNDING_DEGRADED_EXCERPT_BYTES 600
/* Answer when citations are required, nothing relevant was found and the
 * assistant has no refusal text of its own. */
#define GROUNDING_DEFAULT_REFUSAL                                                                  \
    "Je ne trouve pas d'information sur ce sujet dans les documents dont je dispose."
/* First line of a degraded answer. */
#define GROUNDING_DEGRADED_LABEL                                                                   \
    "Réponse en mode dégradé : extraits des documents, sans réponse rédigée (le modèle de " \
    "langue n'est pas disponible)."

/* The markers that open and close the block and each source. Document text
 * never contains "<<<" or ">>>" once neutralised (grounding_neutralise). */
#define GROUNDING_BLOCK_OPEN "<<<SOURCES>>>"
#define GROUNDING_BLOCK_CLOSE "<<<FIN DES SOURCES>>>"
#define GROUNDING_SOURCE_OPEN "<<<SOURCE %zu"
#define GROUNDING_SOURCE_CLOSE "<<<FIN DE LA SOURCE %zu>>>"

/* One source: a document page and its packed passages, hits[first ..
 * first + n) of the grouped hits, best first. */
struct grounding_source {
    size_t first, n;
};

struct grounding {
    bool active;        /* the assistant has knowledge bases: retrieval ran */
    bool refuse;        /* answer with refusal instead of generating */
    struct str refusal; /* BORROWED (assistant or static) */
    struct str query;   /* ARENA: what was searched */
    /* The sources block, a system-side text to place right after the
     * assistant's instructions (ARENA; empty when no source was packed). */
    struct str block;
    struct search_hit *hits; /* ARENA: the packed passages, grouped by source */
    size_t n_hits;
    struct grounding_source *src; /* ARENA: src[i] is source i + 1 (its passages in hits) */
    size_t n_src;
    size_t n_found;   /* passages the search returned, before packing */
    int block_tokens; /* tokens of block (estimated without a model) */
    json_t *sources;  /* OWNED: the response's array; NULL with citations "off" */
};

/* The text to search for the conversation msgs[0..n) (its last user turn,
 * with the previous one when it is a follow-up). OUT: *out, ARENA (a) or
 * BORROWED from msgs; empty when there is no user turn. */
enum lair_err grounding_query(const struct llm_message *msgs, size_t n, struct arena *a,
                              struct str *out);

/* True when text has a searchable word for a question (not only stop words
 * and question words: "et combien ?", "pourquoi ?"). A follow-up without one
 * can only mean the previous turn's subject. */
bool grounding_has_terms(struct str text);

/* Groups hits[0..n) (best first) by document page: the hits of one
 * document_id and page become one source, placed where its best hit ranks,
 * its hits in rank order. OUT: *out (ARENA: a) the n hits reordered so
 * that each source's hits are contiguous, *src (ARENA) and *n_src. */
enum lair_err grounding_group(const struct search_hit *hits, size_t n, struct arena *a,
                              struct search_hit **out, struct grounding_source **src,
                              size_t *n_src);

/* Appends text to out with everything that could pass for a marker or a
 * control token neutralised: runs of two or more '<' or '>' become '«' or
 * '»', a tag-like "<…>" without spaces (chat template tokens such as
 * <|im_start|>, </s>, <start_of_turn>) gets '‹' '›', a bracketed capitalised
 * word ([INST], [/INST], [SYSTEM_PROMPT]) gets '⟦' '⟧', control characters
 * but newline and tab become spaces, and invalid UTF-8 becomes U+FFFD. */
enum lair_err grounding_neutralise(struct str text, struct buf *out);

/* How grounding_pack writes the block. */
enum grounding_pack_flags {
    GROUNDING_CITE = 1 << 0, /* ask the model to cite sources by number */
    /* No fence (the assistant's retrieval.fencing false, engineers only):
     * no markers, no statement that the sources are data, passages as they
     * are, not neutralised; each source is "[n] document" then its text. */
    GROUNDING_UNFENCED = 1 << 1,
};

/* Packs the sources src[0..n_src) (passages in hits, as grounding_group
 * gives them) in order into the sources block within budget tokens of model
 * m (NULL: estimated at one token per 2 bytes). A source's passages are
 * separated by "[…]"; the first source that does not fit whole keeps the
 * passages that fit (its first one cut when at least
 * GROUNDING_MIN_SOURCE_TOKENS remain), and packing stops there. flags:
 * enum grounding_pack_flags. OUT: out (reset first) holds the block, or
 * nothing when no source fits; packed[0..*n_packed) (capacity n_src) the
 * sources as packed (the last one may have fewer passages); *tokens. */
enum lair_err grounding_pack(const struct search_hit *hits, const struct grounding_source *src,
                             size_t n_src, struct llm_model *m, int budget, unsigned flags,
                             struct buf *out, struct grounding_source *packed, size_t *n_packed,
                             int *tokens);

/* The best excerpt of text for query (at most max_bytes, around the
 * question's words, on word boundaries, with "…" where cut), neutralised.
 * OUT: appended to out. */
enum lair_err grounding_excerpt(struct str text, struct str query, size_t max_bytes,
                                struct buf *out);

/* The response's `sources` array, one entry per source src[0..n_src):
 * {"index","document_id","document","chunk_id","page","score","excerpt",
 *  "section","knowledge_base","passages":[{"chunk_id","score","excerpt",
 *  "section"}]}: the top-level chunk_id, score, excerpt and section are the
 * best passage's (what a client written for one chunk per source shows),
 * passages all of them, best first; page and section null when unknown.
 * OWNED (json_decref); NULL when out of memory. */
json_t *grounding_sources_json(const struct search_hit *hits, const struct grounding_source *src,
                               size_t n_src, struct str query);

/* Runs steps 1 to 5 for assistant a over the tenant's database. msgs[0..n)
 * is the prompt's conversation without the block (instructions, history,
 * request turns): its tokens count against the budget, with max_tokens
 * reserved for the answer (<= 0: GROUNDING_ANSWER_RESERVE or a quarter of
 * the context). m is the generation model (NULL in degraded mode: nothing is
 * counted, every found source is kept); embed the embedding model or NULL.
 * The answer reserves at most half of what the conversation leaves.
 * OUT: *out (release with grounding_release); ar holds its ARENA parts. An
 * assistant without knowledge bases gives active = false and nothing else.
 * LAIR_ECTX when sources were found but the conversation leaves no room for
 * any (the refusal is for questions the documents do not answer). */
enum lair_err grounding_prepare(struct tenant_db *db, const struct assistant *a,
                                const struct llm_message *msgs, size_t n, struct llm_model *m,
                                struct llm_model *embed, int max_tokens, struct arena *ar,
                                struct grounding *out);
void grounding_release(struct grounding *g);

/* The prompt's messages with g's sources block: appended (after a blank
 * line) to the first system message (the assistant's instructions), or as
 * a system message of its own in front when there is none. One system
 * message, because several chat templates accept only one. msgs is not
 * changed. OUT: *out (ARENA: a), *n_out; msgs itself when the block is
 * empty. */
enum lair_err grounding_messages(const struct grounding *g, const struct llm_message *msgs,
                                 size_t n, struct arena *a, struct llm_message **out,
                                 size_t *n_out);

/* The degraded answer from g's sources: GROUNDING_DEGRADED_LABEL, then for
 * each of the first GROUNDING_DEGRADED_SOURCES sources "[i] document, page
 * p : « excerpt »" (several passages: "« a » […] « b »", sharing the
 * excerpt's bytes), or the refusal when there is none. OUT: appended. */
enum lair_err grounding_degraded_answer(const struct grounding *g, struct buf *out);

#endif
