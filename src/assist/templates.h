/* Assistant templates shared between organisations (issue 17 item 7,
 * docs/templates.md): an assistant's instructions, settings and evaluation
 * suite, never any data (no knowledge base, no origin, no gate), that every
 * tenant can instantiate as a new draft. Some ship with the program (the
 * JSON files of templates/, compiled in by cmake/templates.cmake); the
 * operator publishes others, stored as <data>/templates/<name>.json.
 *
 * The template file:
 *   {"name": "etat-civil", "title": "État civil", "description": "…",
 *    "revision": 1, "assistant": {instructions, params, …}, "suite": {…}}
 * "assistant" takes the fields of an assistant file except slug, model,
 * knowledge_bases, allowed_origins and publish_gate; "suite" is an
 * evaluation suite (docs/evaluation.md) or null. */
#ifndef LAIR_ASSIST_TEMPLATES_H
#define LAIR_ASSIST_TEMPLATES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

#define TEMPLATE_NAME_MAX 63
#define TEMPLATE_TITLE_MAX 200
#define TEMPLATE_DESCRIPTION_MAX 2000
#define TEMPLATE_MAX_OPERATOR 200 /* operator templates in a data directory */

/* Why a template was refused: field its JSON path ("assistant.params.top_p",
 * "suite.cases[0].id"), code "unknown_field", "missing_field" or
 * "invalid_value" (static), msg a sentence. */
struct template_error {
    char field[160];
    const char *code;
    char msg[360];
};

/* Validates in (not modified). OUT: *out the canonical template (OWNED),
 * every key present. LAIR_EUNPROC with *err; LAIR_ENOMEM. */
enum lair_err template_parse(json_t *in, json_t **out, struct template_error *err);

struct template_info {
    const char *name, *title, *description; /* BORROWED for the callback */
    int revision;
    int cases; /* of its suite; 0 when none */
    bool shipped;
};

/* Calls fn for each template: the shipped ones, then the operator's in
 * data_dir (may be NULL: shipped only), each by name. Unreadable files are
 * skipped (logged). */
enum lair_err template_list(const char *data_dir,
                            void (*fn)(void *arg, const struct template_info *t), void *arg);
/* The template called name. OUT: *out OWNED, *shipped (may be NULL).
 * LAIR_ENOTFOUND. */
enum lair_err template_get(const char *data_dir, const char *name, json_t **out, bool *shipped);
/* Stores the canonical template t (template_parse) in data_dir, replacing
 * the operator's template of that name. LAIR_ECONFLICT when a shipped
 * template has the name; LAIR_ELIMIT past TEMPLATE_MAX_OPERATOR;
 * LAIR_ESTORAGE or LAIR_EIO on write errors. OUT:
 * *replaced (may be NULL). */
enum lair_err template_publish(const char *data_dir, json_t *t, bool *replaced);
/* Removes the operator's template name. LAIR_ENOTFOUND; LAIR_ECONFLICT for
 * a shipped one (it cannot be removed). */
enum lair_err template_delete(const char *data_dir, const char *name);

/* A new assistant file from template t: its "assistant" fields, with slug,
 * name (NULL: the template's assistant name, else its title), model and
 * knowledge_bases (NULL: none). OWNED; NULL when out of memory. */
json_t *template_instantiate(json_t *t, const char *slug, const char *name, const char *model,
                             json_t *knowledge_bases);

#endif
