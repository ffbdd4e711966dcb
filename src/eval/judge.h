/* The judge of an evaluation rubric: a model the operator designates
 * (`serve --eval-judge MODEL`, `libreair eval run --judge NAME=PATH.gguf`)
 * reads the question, the assistant's answer and the case's rubric (what a
 * good answer does) and says whether the answer meets it.
 *
 * It is asked to answer in a strict format, first line "OUI" or "NON" alone,
 * then one line of reason, and its answer is read strictly: anything else is
 * "unreadable" and the case fails. A small or confused judge thus fails
 * cases rather than passing them. The runner (eval/run.c) asks the judge
 * only for a case whose deterministic checks passed. */
#ifndef LAIR_EVAL_JUDGE_H
#define LAIR_EVAL_JUDGE_H

#include <stddef.h>

#include "core/str.h"

#define EVAL_JUDGE_REASON_MAX 300 /* bytes of the reason kept */
#define EVAL_JUDGE_MAX_TOKENS 160

enum eval_verdict { EVAL_VERDICT_PASS, EVAL_VERDICT_FAIL, EVAL_VERDICT_UNREADABLE };

/* The judge's system message (static). */
const char *eval_judge_system(void);

/* The judge's user message for one case. OWNED (free()); NULL when out of
 * memory. */
char *eval_judge_prompt(struct str question, struct str answer, const char *rubric);

/* Reads the judge's answer: after leading blank space, a first line that is
 * exactly "OUI" or "NON" (trailing spaces allowed), then the reason (the
 * rest, blank space collapsed, cut to EVAL_JUDGE_REASON_MAX bytes at a
 * character boundary; may be empty). Anything else is
 * EVAL_VERDICT_UNREADABLE (reason: ""). OUT: reason (n bytes, NUL-ended). */
enum eval_verdict eval_judge_parse(struct str text, char *reason, size_t n);

/* "pass", "fail", "unreadable" (static). */
const char *eval_verdict_name(enum eval_verdict v);

#endif
