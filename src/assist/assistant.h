/* Assistants: the declarative file (DESIGN.md "Assistant file"), its
 * validation, and what a chat request needs from it.
 *
 * An assistant is stored as versions of its JSON spec (src/store/assistants.c);
 * struct assistant is a parsed, validated version. */
#ifndef LAIR_ASSISTANT_H
#define LAIR_ASSISTANT_H

#include <jansson.h>
#include <stdbool.h>

#include "core/err.h"
#include "core/str.h"

#define ASSISTANT_MAX_KB 16
#define ASSISTANT_MAX_STARTERS 8

enum citation_policy { CITATIONS_OFF, CITATIONS_OPTIONAL, CITATIONS_REQUIRED };
enum pii_mode { PII_KEEP, PII_MASK, PII_PSEUDONYMISE };
enum visibility { VIS_INTERNAL, VIS_PUBLIC };

struct assistant {
    json_t *spec;            /* OWNED: the validated spec, canonical form */
    const char *slug, *name; /* BORROWED from spec */
    const char *instructions;
    const char *model;       /* raw model name the operator declared */
    /* params: -1 / NAN when unset (the request's or the model's default applies) */
    double temperature, top_p;
    long long max_tokens;
    const char *knowledge_bases[ASSISTANT_MAX_KB];
    int n_knowledge_bases;
    int top_k;               /* retrieval */
    double min_score;
    enum citation_policy citations;
    const char *refusal;     /* guardrails.refusal; may be NULL */
    enum pii_mode pii;
    const char *welcome;
    const char *starters[ASSISTANT_MAX_STARTERS];
    int n_starters;
    enum visibility visibility;
    json_t *allowed_origins; /* BORROWED array of strings (public widget), may be NULL */
    int retention_days;      /* 0 = tenant default */
    int version;             /* the stored version this came from (0 if none) */
};

/* What validation may consult: does a model / knowledge base exist. Either
 * callback may be NULL (not checked). */
struct assistant_ctx {
    bool (*model_exists)(void *arg, const char *name);
    bool (*kb_exists)(void *arg, const char *slug);
    void *arg;
};

/* Parses and validates a spec. Unknown fields, bad slug, unknown model or
 * knowledge base, out-of-range parameters → LAIR_EUNPROC with *field set to
 * the JSON path of the offending field (static or inside spec) and msg a
 * sentence. On success out owns a canonical copy (defaults filled in). */
enum lair_err assistant_parse(json_t *spec, const struct assistant_ctx *ctx, struct assistant *out,
                              const char **field, char *msg, size_t msglen);
void assistant_release(struct assistant *a);

#endif
