/* The deterministic checks of one evaluation case against one answer:
 * expected sources, text that must or must not appear (case-insensitive,
 * accents kept: "Mairie" matches "mairie", "é" is not "e"), refusal or not,
 * no personal data (gdpr/pii.h's scanner), no sentence of the assistant's
 * instructions, latency. No judge model. */
#ifndef LAIR_EVAL_CHECK_H
#define LAIR_EVAL_CHECK_H

#include <jansson.h>
#include <stdbool.h>

#include "core/str.h"
#include "eval/suite.h"

/* What the pipeline answered to a case. */
struct eval_answer {
    struct str text;      /* the whole answer (a fixed answer's text included) */
    const char *mode;     /* "generated", "refusal", "degraded" or "error" */
    json_t *sources;      /* BORROWED: the answer's "sources" array; NULL: none */
    long long latency_ms; /* from the request to the last byte */
    const char *error;    /* the chat failed: why (mode "error"); NULL otherwise */
};

/* Runs every check of c on a; refusal is the assistant's refusal text (NULL
 * or "": only the grounding refusal, mode "refusal", counts as one);
 * instructions its instructions (for no_instructions: no sentence of 24
 * bytes or more of them may appear in the answer).
 * Appends one English sentence per failed check to reasons (a JSON array)
 * and returns true when none failed. A failed chat fails the case. */
bool eval_check(const struct eval_case *c, const struct eval_answer *a, const char *refusal,
                const char *instructions, json_t *reasons);

/* True when needle occurs in hay, compared after Unicode case folding (NFC).
 * An empty needle is always found. */
bool eval_contains(struct str hay, struct str needle);

#endif
