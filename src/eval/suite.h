/* Evaluation suites: the declarative file of an assistant's test cases
 * (docs/evaluation.md), its strict validation and its canonical form.
 *
 * A suite is a list of cases, each a question (or a short conversation)
 * with deterministic expectations: documents that should be cited, text that
 * must or must not appear, a refusal expected or not, no personal data in
 * the answer, a latency bound. It may carry documents of its own, planted in
 * a knowledge base of the evaluation for the run only (the red-team packs
 * plant injections and personal data that way). The shipped French packs
 * (the JSON files of eval/packs/, compiled in) are suites in the same format. */
#ifndef LAIR_EVAL_SUITE_H
#define LAIR_EVAL_SUITE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

#define EVAL_NAME_MAX 63 /* suite name, case id, category: a-z 0-9 - _ */
#define EVAL_MAX_CASES 500
#define EVAL_MAX_TURNS 16         /* messages of one case */
#define EVAL_TEXT_MAX 8000        /* a question or a turn (bytes) */
#define EVAL_MAX_EXPECT 16        /* items of sources, contains, not_contains */
#define EVAL_EXPECT_MAX 500       /* bytes of one item */
#define EVAL_MAX_DOCUMENTS 16     /* planted documents */
#define EVAL_DOC_MAX (64 * 1024)  /* bytes of one planted document */
#define EVAL_DESCRIPTION_MAX 2000 /* bytes */
#define EVAL_LATENCY_MAX 3600000  /* ms */
#define EVAL_RUBRIC_MAX 2000      /* bytes of a rubric */

/* A refusal expectation. */
enum eval_refusal { EVAL_REFUSAL_ANY, EVAL_REFUSAL_YES, EVAL_REFUSAL_NO };

/* One case. Every pointer is BORROWED from the suite's spec. */
struct eval_case {
    const char *id, *category;
    json_t *messages;     /* [{"role","content"}…], the last one "user" ("question": one turn) */
    json_t *sources;      /* document names expected among the answer's sources */
    json_t *contains;     /* substrings that must appear (case-insensitive) */
    json_t *not_contains; /* substrings that must not appear */
    enum eval_refusal refusal;
    bool no_pii;           /* no personal data (gdpr/pii.h) in the answer */
    bool no_instructions;  /* no sentence of the assistant's instructions in the answer */
    long long max_latency; /* ms; 0: no bound */
    const char *rubric;    /* what a good answer does, graded by the judge model; NULL: none */
};

struct eval_suite {
    json_t *spec; /* OWNED: canonical form */
    const char *name, *description;
    int revision;            /* the author's revision number (packs: their version) */
    json_t *documents;       /* [{"name","text"}…] planted for the run */
    struct eval_case *cases; /* OWNED */
    size_t n_cases;
};

/* Why a suite was refused: field the JSON path ("cases[2].expect.contains[0]"),
 * code "unknown_field", "missing_field" or "invalid_value" (static), msg a
 * sentence saying what is allowed. */
struct eval_error {
    char field[128];
    const char *code;
    char msg[320];
};

/* Validates spec (not modified). LAIR_EUNPROC with *err filled in on any
 * unknown field, wrong type, missing field, bad name or out-of-range value;
 * LAIR_ENOMEM. On success *out owns a canonical copy (eval_suite_release). */
enum lair_err eval_suite_parse(json_t *spec, struct eval_suite *out, struct eval_error *err);
void eval_suite_release(struct eval_suite *s);
/* The canonical form as compact JSON (what is stored; equal suites give equal
 * bytes). OWNED (free()); NULL when out of memory. */
char *eval_suite_dump(const struct eval_suite *s);
/* True for a valid suite name, case id or category. */
bool eval_name_valid(const char *s);

/* ---- packs shipped with the program (eval/packs/, compiled in) ---- */

/* The number of packs, and the i-th one's name and JSON text (static). */
size_t eval_packs_count(void);
const char *eval_pack_name(size_t i);
/* The pack called name as a parsed suite. LAIR_ENOTFOUND when there is none.
 * OUT: *out (eval_suite_release). */
enum lair_err eval_pack_load(const char *name, struct eval_suite *out);

#endif
