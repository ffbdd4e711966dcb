/* The assistant generator ("Nouvel assistant depuis mes documents", issue
 * 17 item 6): from knowledge bases of a tenant, a complete draft for an
 * editor to review — name and slug, instructions from a template, welcome
 * text, starter questions, and an evaluation suite whose questions come from
 * the documents' titles and headings, each expecting its document as a
 * source. Nothing is stored: the caller returns or writes the two files.
 *
 * Without a model the questions come from the documents' structure alone,
 * deterministically (same documents, same draft): a heading starting with a
 * verb becomes "Comment … ?", a place "Où trouver « … » ?", opening hours
 * or fees "Quels sont les … ?", anything else "Que faut-il savoir sur
 * « … » ?". A caller that serves a model may rephrase the starters through
 * gen_opts.phrase; the suite's questions stay structural so that they keep
 * the heading's words, which retrieval needs. */
#ifndef LAIR_ASSIST_GENERATE_H
#define LAIR_ASSIST_GENERATE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "store/tenant.h"

#define GEN_MAX_KBS 16
#define GEN_MAX_CASES 40     /* questions of the generated suite */
#define GEN_MAX_STARTERS 4   /* starter questions of the draft */
#define GEN_QUESTION_MAX 300 /* bytes of a generated question */

struct gen_opts {
    const char *const *kbs; /* knowledge-base slugs of the tenant, 1..GEN_MAX_KBS */
    size_t n_kbs;
    const char *name;  /* the assistant's name; NULL: from the bases and titles */
    const char *model; /* the spec's model; NULL: "default" */
    /* a template's "assistant" object (assist/templates.h): its instructions,
     * settings and welcome are used; NULL: the built-in one. BORROWED */
    json_t *tmpl;
    /* Optional: rephrases a starter (the structural question q about
     * document doc) into out[cap]; false keeps q. Called only for starters. */
    bool (*phrase)(void *arg, const char *q, const char *doc, char *out, size_t cap);
    void *arg;
};

/* Why generation failed: field ("knowledge_bases[1]"), code
 * ("unknown_knowledge_base", "no_documents"; static) and a sentence. */
struct gen_error {
    char field[64];
    const char *code;
    char msg[320];
};

/* Builds the draft. OUT: *spec (an assistant file, docs/assistants.md) and
 * *suite (an evaluation suite named "documents", docs/evaluation.md), both
 * OWNED (json_decref); neither is validated here beyond construction.
 * LAIR_EUNPROC with *err when a base is unknown or the bases hold no
 * document; LAIR_EDB, LAIR_ENOMEM. */
enum lair_err gen_assistant(struct tenant_db *db, const struct gen_opts *o, json_t **spec,
                            json_t **suite, struct gen_error *err);

/* The structural question for a heading (or title) topic, into out[cap]
 * (deterministic; "" for an empty topic). Exposed for tests. */
void gen_question(const char *topic, char *out, size_t cap);
/* A slug (a-z 0-9 -, at most 63 bytes, accents folded) for name into
 * out[64]; "assistant" when nothing is left. */
void gen_slug(const char *name, char out[64]);

#endif
