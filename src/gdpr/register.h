/* The processing register (registre des traitements, GDPR art. 30) of one
 * tenant, generated from the live configuration: one processing per
 * assistant, with its purpose, the categories of data and of people, the
 * retention (and that of backups), the recipients and the security
 * measures in force. Nothing in
 * it is typed by hand; what the program cannot know (legal basis, the
 * DPO's contact) is marked "à compléter". docs/gdpr.md shows an example.
 *
 * The JSON form is the source; Markdown and HTML are renderings of it. Text
 * meant for the register's readers is in French, keys in English. */
#ifndef LAIR_GDPR_REGISTER_H
#define LAIR_GDPR_REGISTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "assist/assistant.h"
#include "core/err.h"
#include "core/str.h"

struct gdpr_register_assistant {
    const struct assistant *a; /* BORROWED: the published version, else the draft */
    bool published;
};

struct gdpr_register_in {
    const char *tenant, *tenant_name;
    int64_t tenant_retention_days; /* 0: no default limit */
    const struct gdpr_register_assistant *assistants;
    size_t n;
    unsigned purge_interval_s;   /* 0: purged at server start only */
    const char *const *outbound; /* destinations the configuration allows (none today) */
    size_t n_outbound;
    const char *version; /* LibreAIr's */
    /* how long the operator keeps backups (libreair backup,
     * docs/operations.md); 0: not declared, the register says "à compléter" */
    int64_t backup_retention_days;
};

/* OWNED (json_decref); NULL when out of memory. */
json_t *gdpr_register_json(const struct gdpr_register_in *in);
/* Appends the register as Markdown / as a standalone HTML page. */
enum lair_err gdpr_register_markdown(const json_t *reg, struct buf *out);
enum lair_err gdpr_register_html(const json_t *reg, struct buf *out);

/* The first sentence of text (up to ". ", "! ", "? ", a line break or the
 * end), at most max bytes cut on a character boundary, written to out.
 * Returns its length (0 when text has none). */
size_t gdpr_first_sentence(const char *text, char *out, size_t max);

#endif
