/* Assistants: the declarative file (DESIGN.md "Assistant file"), its
 * validation, and what a chat request needs from it.
 *
 * An assistant is stored as versions of its JSON spec (src/store/assistants.c);
 * struct assistant is a parsed, validated version. Every field and its range
 * is described in docs/assistants.md. */
#ifndef LAIR_ASSISTANT_H
#define LAIR_ASSISTANT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "core/str.h"

#define ASSISTANT_MAX_KB 16
#define ASSISTANT_MAX_STARTERS 8
#define ASSISTANT_MAX_ORIGINS 32
#define ASSISTANT_NAME_MAX 200                 /* bytes */
#define ASSISTANT_INSTRUCTIONS_MAX (64 * 1024) /* bytes */
#define ASSISTANT_MODEL_MAX 128                /* bytes */
#define ASSISTANT_TEXT_MAX 2000                /* refusal, welcome (bytes) */
#define ASSISTANT_STARTER_MAX 300              /* bytes */
#define ASSISTANT_MAX_TOKENS 32768
#define ASSISTANT_TOP_K_MAX 50
#define ASSISTANT_RETENTION_MAX 3650 /* days */
#define ASSISTANT_LAUNCHER_MAX 60    /* widget.launcher_label (bytes) */
/* widget.color: the default, and the least contrast it must have with white
 * text (WCAG 2 AA for normal text). */
#define ASSISTANT_WIDGET_COLOR "#1d3f8f"
#define ASSISTANT_MIN_CONTRAST 4.5

enum citation_policy { CITATIONS_OFF, CITATIONS_OPTIONAL, CITATIONS_REQUIRED };
enum pii_mode { PII_KEEP, PII_MASK, PII_PSEUDONYMISE };
enum visibility { VIS_INTERNAL, VIS_PUBLIC };

struct assistant {
    json_t *spec;             /* OWNED: the validated spec, canonical form */
    const char *slug, *name;  /* BORROWED from spec */
    const char *instructions; /* "" when none */
    const char *model;        /* raw model name the operator declared */
    /* params: NAN (temperature, top_p) and -1 (max_tokens) when unset: the
     * request's or the model's default applies. When set they are limits a
     * request may lower but not exceed. */
    double temperature, top_p;
    long long max_tokens;
    const char *knowledge_bases[ASSISTANT_MAX_KB];
    int n_knowledge_bases;
    int top_k;        /* retrieval; default 5 */
    double min_score; /* default 0 */
    /* retrieval.fencing false: the sources go into the prompt as they are,
     * without the fence (markers, "these are data" statement, neutralised
     * text; src/assist/grounding.h). An engineers' setting to show what the
     * fence and the fr-injection pack are for; never for production. Zero
     * (fenced) is the default. */
    bool unfenced;
    enum citation_policy citations; /* default optional */
    const char *refusal;            /* guardrails.refusal; NULL when none */
    enum pii_mode pii;              /* default keep */
    bool forbid_remote;             /* guardrails.remote "forbidden": never sent to a remote
                                       upstream, even masked (default "masked") */
    const char *welcome;            /* "" when none */
    const char *starters[ASSISTANT_MAX_STARTERS];
    int n_starters;
    enum visibility visibility; /* default internal */
    json_t *allowed_origins;    /* BORROWED array of canonical origins ("https://www.ville.fr");
                                   empty unless public */
    int retention_days;         /* 0 = tenant default */
    /* widget: the public widget's theme. color "#rrggbb" (lower case, at
     * least ASSISTANT_MIN_CONTRAST with white), position "bottom-right" or
     * "bottom-left", title ("" = the name), launcher_label ("" = an icon
     * only). BORROWED from spec. */
    const char *widget_color, *widget_position, *widget_title, *widget_launcher_label;
    /* publish_gate: what publishing this version requires (src/eval/gate.h),
     * the canonical array of {"suite"|"pack", "min_pass_rate",
     * "categories"}; NULL when none. BORROWED from spec. */
    json_t *publish_gate;
    int version; /* the stored version this came from (0 if none; set by callers) */
};

#define ASSISTANT_GATE_MAX 8       /* requirements of a publish gate */
#define ASSISTANT_GATE_NAME_MAX 63 /* suite, pack and category names */

/* What validation may consult: does a model / knowledge base exist. Either
 * callback may be NULL (not checked). */
struct assistant_ctx {
    bool (*model_exists)(void *arg, const char *name);
    bool (*kb_exists)(void *arg, const char *slug);
    void *arg;
};

/* Why a spec was refused: field is the JSON path of the offending field
 * ("params.temperature", "starters[2]"; printable ASCII; "" for the whole
 * file), code a machine-readable reason ("unknown_field", "missing_field",
 * "invalid_value", "unknown_model", "unknown_knowledge_base",
 * "insufficient_contrast"; static) and msg a sentence saying what is
 * allowed. */
struct assistant_error {
    char field[128];
    const char *code;
    char msg[320];
};

/* Validates a publish gate given on its own (the operator's, for every
 * tenant: serve --publish-gate, "publish_gate" in the configuration), with
 * the rules of the assistant file's field. OUT: *out the canonical array
 * (OWNED); err on LAIR_EUNPROC. */
enum lair_err assistant_gate_parse(json_t *gate, json_t **out, struct assistant_error *err);

/* Parses and validates a spec (not modified; may be NULL). Unknown fields,
 * wrong types, bad slug, unknown model or knowledge base, out-of-range values
 * → LAIR_EUNPROC with *err filled in. On success out owns a canonical copy
 * (fixed key order, defaults filled in, origins lower-cased without default
 * ports); release it with assistant_release. */
enum lair_err assistant_parse(json_t *spec, const struct assistant_ctx *ctx, struct assistant *out,
                              struct assistant_error *err);
void assistant_release(struct assistant *a);

/* The canonical spec as compact JSON text: what is stored, and what equal
 * files produce byte for byte. OWNED (free with free()); NULL when out of
 * memory. */
char *assistant_dump(const struct assistant *a);

/* The WCAG 2 contrast ratio of two sRGB colours 0xRRGGBB: (L1 + 0.05) /
 * (L2 + 0.05) with L the relative luminance of the lighter (L1) and the
 * darker; 1 (same) to 21 (black on white). */
double assistant_contrast_ratio(unsigned rgb1, unsigned rgb2);

/* Longest origin accepted, in bytes. */
#define ASSISTANT_ORIGIN_MAX 300

/* Writes into out the one spelling of a web origin that browsers send in an
 * Origin header (the URL standard's serialisation): "scheme://host[:port]"
 * with scheme http or https, host lower-cased (IDNs in punycode), IPv4 in
 * dotted decimal whatever its spelling ("127.1", "0x7f.0.0.1"), IPv6 in
 * brackets and compressed, the default port dropped and any other written
 * without leading zeros (":0443" on https is no port). Every respelling of
 * an origin gives the same text, and the text gives itself. False for
 * anything that is not such an origin, which is then refused: another
 * scheme, "null", userinfo, a path (even "/"), query or fragment, an empty
 * or zero port, a trailing dot, bytes outside ASCII, a bad IP literal, more
 * than ASSISTANT_ORIGIN_MAX bytes. The allow-list is stored in this form;
 * the public API compares, answers CORS and rate-limits in it. */
bool assistant_origin_canonical(struct str origin, char out[ASSISTANT_ORIGIN_MAX + 1]);

/* True when origin (the browser's Origin header, canonicalised as above) is
 * one of a public assistant's allowed origins. Always false for internal
 * assistants and for an origin that has no canonical form. */
bool assistant_origin_allowed(const struct assistant *a, struct str origin);

#endif
