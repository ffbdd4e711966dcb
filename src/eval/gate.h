/* The publish gate: publishing a version of an assistant may require a
 * passing evaluation run of that very version, per the assistant's own
 * "publish_gate" (docs/assistants.md) and the operator's, which binds every
 * tenant (serve --publish-gate). Each requirement names a suite of the
 * assistant or a red-team pack, a minimum pass rate (default 1) and
 * optional minimums per category; it is met by the newest finished run
 * ("done") of that suite or pack, at its current version (a pack: its
 * revision), against the version being published.
 * docs/evaluation.md says how an editor meets it. */
#ifndef LAIR_EVAL_GATE_H
#define LAIR_EVAL_GATE_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "store/tenant.h"

#define EVAL_GATE_CASES_SHOWN 20 /* failing cases listed per requirement */

/* Checks both gates (canonical arrays from the assistant file and from the
 * operator's configuration; each may be NULL) for version of assistant.
 * OUT: *passed; *report OWNED: {"passed", "runs": [the run ids that met a
 * requirement], "failures": [{"requirement", "reason", "run" (or null),
 * "cases": [{"id", "category", "reasons"}]}]}. */
enum lair_err eval_gate_check(struct tenant_db *db, const char *assistant, int version,
                              json_t *gate, json_t *operator_gate, bool *passed,
                              json_t **report);

/* "pack fr-injection >= 100%" for messages: the requirement in words. */
void eval_gate_describe(json_t *req, char *out, size_t n);

#endif
