/* The assistant file: strict validation of every field, with the JSON path
 * of the first offending one, and the canonical form that is stored (fixed
 * key order, defaults filled in) so that what GET or export returns is what
 * the server applies. */
#include "assist/assistant.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/json.h"
#include "store/system.h"
#include "core/str.h"
#include "core/banned.h"

#define DEFAULT_TOP_K 5

struct parser {
    const struct assistant_ctx *ctx;
    struct assistant_error *err;
};

static enum lair_err fail_code(struct parser *p, const char *code, const char *field,
                               const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static enum lair_err fail_code(struct parser *p, const char *code, const char *field,
                               const char *fmt, ...)
{
    str_printable(p->err->field, sizeof(p->err->field), field);
    p->err->code = code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    return LAIR_EUNPROC;
}

#define fail(p, ...) fail_code(p, "invalid_value", __VA_ARGS__)

/* "parent.key" or "key" at the top level. */
static void join(char *out, size_t n, const char *parent, const char *key)
{
    char k[64];
    str_printable(k, sizeof(k), key);
    if (parent && *parent)
        snprintf(out, n, "%s.%s", parent, k);
    else
        snprintf(out, n, "%s", k);
}

/* Every key of obj must be in allowed (NULL-terminated). */
static enum lair_err known_keys(struct parser *p, json_t *obj, const char *parent,
                                const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        size_t i = 0;
        while (allowed[i] && strcmp(allowed[i], key))
            i++;
        if (!allowed[i]) {
            char path[128];
            join(path, sizeof(path), parent, key);
            return fail_code(p, "unknown_field", path,
                             "unknown field '%s'; see docs/assistants.md for the fields", path);
        }
    }
    return LAIR_OK;
}

/* Present and not null. */
static json_t *field(json_t *obj, const char *key)
{
    json_t *v = obj ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

/* A string of min..max bytes, valid UTF-8 without NUL. */
static enum lair_err check_string(struct parser *p, json_t *v, const char *path, size_t min,
                                  size_t max)
{
    if (!json_is_string(v))
        return fail(p, path, "'%s' must be a string", path);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (strlen(s) != len)
        return fail(p, path, "'%s' must not contain NUL characters", path);
    if (!utf8_valid(s, len))
        return fail(p, path, "'%s' must be valid UTF-8", path);
    if (len < min || len > max) {
        if (min > 0)
            return fail(p, path, "'%s' must have %zu to %zu bytes (it has %zu)", path, min, max,
                        len);
        return fail(p, path, "'%s' must have at most %zu bytes (it has %zu)", path, max, len);
    }
    return LAIR_OK;
}

/* Optional string field copied to the canonical object c, def when absent. */
static enum lair_err opt_string(struct parser *p, json_t *obj, const char *key, const char *parent,
                                size_t min, size_t max, const char *def, json_t *c)
{
    json_t *v = field(obj, key);
    char path[128];
    join(path, sizeof(path), parent, key);
    if (!v)
        return json_object_set_new(c, key, json_string(def)) ? LAIR_ENOMEM : LAIR_OK;
    enum lair_err e = check_string(p, v, path, min, max);
    if (e)
        return e;
    return json_object_set(c, key, v) ? LAIR_ENOMEM : LAIR_OK;
}

/* One of choices (NULL-terminated), def when absent. */
static enum lair_err opt_enum(struct parser *p, json_t *obj, const char *key, const char *parent,
                              const char *const *choices, const char *def, json_t *c)
{
    json_t *v = field(obj, key);
    char path[128];
    join(path, sizeof(path), parent, key);
    const char *s = def;
    if (v) {
        size_t i = 0;
        if (json_is_string(v))
            while (choices[i] && strcmp(choices[i], json_string_value(v)))
                i++;
        if (!json_is_string(v) || !choices[i]) {
            char list[128] = "";
            size_t len = 0;
            for (i = 0; choices[i]; i++)
                len += (size_t)snprintf(list + len, sizeof(list) - len, "%s\"%s\"",
                                        i == 0           ? ""
                                        : choices[i + 1] ? ", "
                                                         : " or ",
                                        choices[i]);
            return fail(p, path, "'%s' must be %s", path, list);
        }
        s = choices[i];
    }
    return json_object_set_new(c, key, json_string(s)) ? LAIR_ENOMEM : LAIR_OK;
}

/* Optional number in [min, max]; stored as a real. *set tells if present. */
static enum lair_err opt_number(struct parser *p, json_t *obj, const char *key, const char *parent,
                                double min, double max, double *out, bool *set)
{
    json_t *v = field(obj, key);
    char path[128];
    join(path, sizeof(path), parent, key);
    *set = false;
    if (!v)
        return LAIR_OK;
    if (!json_is_number(v))
        return fail(p, path, "'%s' must be a number", path);
    double d = json_number_value(v);
    if (!isfinite(d) || d < min || d > max) {
        if (isinf(max))
            return fail(p, path, "'%s' must be at least %g", path, min);
        return fail(p, path, "'%s' must be between %g and %g", path, min, max);
    }
    *out = d;
    *set = true;
    return LAIR_OK;
}

/* Optional integer in [min, max] (an integral real like 5.0 is accepted). */
static enum lair_err opt_int(struct parser *p, json_t *obj, const char *key, const char *parent,
                             long long min, long long max, long long *out, bool *set)
{
    json_t *v = field(obj, key);
    char path[128];
    join(path, sizeof(path), parent, key);
    *set = false;
    if (!v)
        return LAIR_OK;
    long long n;
    if (json_is_integer(v))
        n = (long long)json_integer_value(v);
    else if (json_is_real(v) && json_real_value(v) == floor(json_real_value(v)) &&
             fabs(json_real_value(v)) < 1e15)
        n = (long long)json_real_value(v);
    else
        return fail(p, path, "'%s' must be an integer", path);
    if (n < min || n > max)
        return fail(p, path, "'%s' must be between %lld and %lld", path, min, max);
    *out = n;
    *set = true;
    return LAIR_OK;
}

/* An optional object field; NULL (and OK) when absent. */
static enum lair_err opt_object(struct parser *p, json_t *obj, const char *key, json_t **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v && !json_is_object(v))
        return fail(p, key, "'%s' must be an object", key);
    *out = v;
    return LAIR_OK;
}

/* An optional array field of at most max items; NULL (and OK) when absent. */
static enum lair_err opt_array(struct parser *p, json_t *obj, const char *key, size_t max,
                               json_t **out)
{
    json_t *v = field(obj, key);
    *out = NULL;
    if (v && !json_is_array(v))
        return fail(p, key, "'%s' must be an array", key);
    if (v && json_array_size(v) > max)
        return fail(p, key, "'%s' takes at most %zu items", key, max);
    *out = v;
    return LAIR_OK;
}

static bool array_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *x;
    json_array_foreach(arr, i, x)
    {
        if (!strcmp(json_string_value(x), s))
            return true;
    }
    return false;
}

/* ---- fields ---- */

static enum lair_err parse_identity(struct parser *p, json_t *spec, json_t *c)
{
    json_t *slug = json_object_get(spec, "slug");
    if (!slug)
        return fail_code(p, "missing_field", "slug", "'slug' is required");
    if (!json_is_string(slug) || !slug_valid(str_c(json_string_value(slug))) ||
        strlen(json_string_value(slug)) != json_string_length(slug))
        return fail(p, "slug",
                    "'slug' must be 1 to %d characters among a-z, 0-9 and '-' (not first)",
                    SLUG_MAX);
    if (json_object_set(c, "slug", slug))
        return LAIR_ENOMEM;
    enum lair_err e =
        opt_string(p, spec, "name", NULL, 1, ASSISTANT_NAME_MAX, json_string_value(slug), c);
    if (!e)
        e = opt_string(p, spec, "instructions", NULL, 0, ASSISTANT_INSTRUCTIONS_MAX, "", c);
    if (e)
        return e;
    json_t *model = json_object_get(spec, "model");
    if (!model || json_is_null(model))
        return fail_code(p, "missing_field", "model",
                         "'model' is required: the name of a model the server serves");
    if ((e = check_string(p, model, "model", 1, ASSISTANT_MODEL_MAX)))
        return e;
    if (p->ctx && p->ctx->model_exists &&
        !p->ctx->model_exists(p->ctx->arg, json_string_value(model))) {
        char name[80];
        str_printable(name, sizeof(name), json_string_value(model));
        return fail_code(p, "unknown_model", "model",
                         "unknown model '%s': 'model' must name a chat model this server serves "
                         "and the operator allows this tenant (GET /api/v1/usage lists them)",
                         name);
    }
    return json_object_set(c, "model", model) ? LAIR_ENOMEM : LAIR_OK;
}

static enum lair_err parse_params(struct parser *p, json_t *spec, json_t *c)
{
    static const char *const keys[] = {"temperature", "top_p", "max_tokens", NULL};
    json_t *params, *out = json_object();
    enum lair_err e = out ? opt_object(p, spec, "params", &params) : LAIR_ENOMEM;
    if (!e && params)
        e = known_keys(p, params, "params", keys);
    double d;
    long long n;
    bool set;
    /* a value that cannot be added (no memory) must not vanish from the spec */
    if (!e && !(e = opt_number(p, params, "temperature", "params", 0, 2, &d, &set)) && set &&
        json_object_set_new(out, "temperature", json_real(d)))
        e = LAIR_ENOMEM;
    if (!e && !(e = opt_number(p, params, "top_p", "params", 0, 1, &d, &set)) && set &&
        json_object_set_new(out, "top_p", json_real(d)))
        e = LAIR_ENOMEM;
    if (!e &&
        !(e = opt_int(p, params, "max_tokens", "params", 1, ASSISTANT_MAX_TOKENS, &n, &set)) &&
        set && json_object_set_new(out, "max_tokens", json_integer(n)))
        e = LAIR_ENOMEM;
    if (!e && json_object_set(c, "params", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    return e;
}

static enum lair_err parse_knowledge(struct parser *p, json_t *spec, json_t *c)
{
    json_t *kbs, *out = json_array();
    enum lair_err e =
        out ? opt_array(p, spec, "knowledge_bases", ASSISTANT_MAX_KB, &kbs) : LAIR_ENOMEM;
    size_t i;
    json_t *v;
    if (!e && kbs)
        json_array_foreach(kbs, i, v)
        {
            char path[40];
            snprintf(path, sizeof(path), "knowledge_bases[%zu]", i);
            if (!json_is_string(v) || !slug_valid(str_c(json_string_value(v))) ||
                strlen(json_string_value(v)) != json_string_length(v)) {
                e = fail(p, path, "'%s' must be the slug of a knowledge base", path);
                break;
            }
            const char *s = json_string_value(v);
            if (array_has(out, s)) {
                e = fail(p, path, "'%s': the knowledge base '%s' is listed twice", path, s);
                break;
            }
            if (p->ctx && p->ctx->kb_exists && !p->ctx->kb_exists(p->ctx->arg, s)) {
                e = fail_code(p, "unknown_knowledge_base", path,
                              "'%s': no knowledge base '%s' in this tenant", path, s);
                break;
            }
            if (json_array_append(out, v)) {
                e = LAIR_ENOMEM;
                break;
            }
        }
    if (!e && json_object_set(c, "knowledge_bases", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    if (e)
        return e;

    static const char *const rkeys[] = {"top_k", "min_score", "fencing", NULL};
    json_t *r;
    if ((e = opt_object(p, spec, "retrieval", &r)) ||
        (r && (e = known_keys(p, r, "retrieval", rkeys))))
        return e;
    long long top_k = DEFAULT_TOP_K;
    double min_score = 0;
    bool set;
    if ((e = opt_int(p, r, "top_k", "retrieval", 1, ASSISTANT_TOP_K_MAX, &top_k, &set)) ||
        (e = opt_number(p, r, "min_score", "retrieval", 0, INFINITY, &min_score, &set)))
        return e;
    json_t *fencing = field(r, "fencing");
    if (fencing && !json_is_boolean(fencing))
        return fail(p, "retrieval.fencing",
                    "'retrieval.fencing' must be true (the default) or false (engineers only: "
                    "document text reaches the model unfenced)");
    json_t *rc = json_pack("{s:I, s:f}", "top_k", (json_int_t)top_k, "min_score", min_score);
    /* stored only when off, so that every file written before the setting
     * keeps its canonical form (apply again: unchanged) */
    if (rc && json_is_false(fencing) && json_object_set_new(rc, "fencing", json_false())) {
        json_decref(rc);
        return LAIR_ENOMEM;
    }
    if (json_object_set_new(c, "retrieval", rc))
        return LAIR_ENOMEM;
    static const char *const citations[] = {"required", "optional", "off", NULL};
    return opt_enum(p, spec, "citations", NULL, citations, "optional", c);
}

static enum lair_err parse_guardrails(struct parser *p, json_t *spec, json_t *c)
{
    static const char *const keys[] = {"refusal", "pii", "remote", NULL};
    static const char *const pii[] = {"keep", "mask", "pseudonymise", NULL};
    static const char *const remote[] = {"masked", "forbidden", NULL};
    json_t *g, *out = json_object();
    enum lair_err e = out ? opt_object(p, spec, "guardrails", &g) : LAIR_ENOMEM;
    if (!e && g)
        e = known_keys(p, g, "guardrails", keys);
    if (!e)
        e = opt_string(p, g, "refusal", "guardrails", 0, ASSISTANT_TEXT_MAX, "", out);
    if (!e)
        e = opt_enum(p, g, "pii", "guardrails", pii, "keep", out);
    if (!e)
        e = opt_enum(p, g, "remote", "guardrails", remote, "masked", out);
    if (!e && json_object_set(c, "guardrails", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    return e;
}

static enum lair_err parse_welcome(struct parser *p, json_t *spec, json_t *c)
{
    enum lair_err e = opt_string(p, spec, "welcome", NULL, 0, ASSISTANT_TEXT_MAX, "", c);
    json_t *st, *out = json_array();
    if (!e)
        e = out ? opt_array(p, spec, "starters", ASSISTANT_MAX_STARTERS, &st) : LAIR_ENOMEM;
    size_t i;
    json_t *v;
    if (!e && st)
        json_array_foreach(st, i, v)
        {
            char path[40];
            snprintf(path, sizeof(path), "starters[%zu]", i);
            if ((e = check_string(p, v, path, 1, ASSISTANT_STARTER_MAX)))
                break;
            if (json_array_append(out, v)) {
                e = LAIR_ENOMEM;
                break;
            }
        }
    if (!e && json_object_set(c, "starters", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    return e;
}

/* ---- widget theme ---- */

/* One sRGB channel (0..255) as linear light. */
static double linear(unsigned v)
{
    double c = v / 255.0;
    return c <= 0.04045 ? c / 12.92 : pow((c + 0.055) / 1.055, 2.4);
}

static double luminance(unsigned rgb)
{
    return 0.2126 * linear(rgb >> 16 & 255) + 0.7152 * linear(rgb >> 8 & 255) +
           0.0722 * linear(rgb & 255);
}

double assistant_contrast_ratio(unsigned rgb1, unsigned rgb2)
{
    double a = luminance(rgb1), b = luminance(rgb2);
    return a > b ? (a + 0.05) / (b + 0.05) : (b + 0.05) / (a + 0.05);
}

/* "#rgb" or "#rrggbb" (either case) as 0xRRGGBB; false for anything else. */
static bool hex_color(const char *s, size_t len, unsigned *out)
{
    if ((len != 4 && len != 7) || s[0] != '#')
        return false;
    unsigned v = 0;
    for (size_t i = 1; i < len; i++) {
        if (!isxdigit((unsigned char)s[i]))
            return false;
        unsigned d = isdigit((unsigned char)s[i])
                         ? (unsigned)(s[i] - '0')
                         : (unsigned)(tolower((unsigned char)s[i]) - 'a' + 10);
        v = len == 4 ? v << 8 | d << 4 | d : v << 4 | d;
    }
    *out = v;
    return true;
}

/* widget.color: a hex colour under which white text is readable (WCAG AA),
 * stored as "#rrggbb". */
static enum lair_err widget_color(struct parser *p, json_t *w, json_t *out)
{
    json_t *v = field(w, "color");
    unsigned rgb;
    if (!v)
        return json_object_set_new(out, "color", json_string(ASSISTANT_WIDGET_COLOR)) ? LAIR_ENOMEM
                                                                                      : LAIR_OK;
    if (!json_is_string(v) || !hex_color(json_string_value(v), json_string_length(v), &rgb))
        return fail(p, "widget.color",
                    "'widget.color' must be a colour written \"#rrggbb\" or \"#rgb\" "
                    "(hexadecimal), like \"%s\"",
                    ASSISTANT_WIDGET_COLOR);
    double ratio = assistant_contrast_ratio(rgb, 0xffffff);
    if (ratio < ASSISTANT_MIN_CONTRAST)
        /* floored, so that 4.499 is not written 4.50 */
        return fail_code(p, "insufficient_contrast", "widget.color",
                         "'widget.color' #%06x has a contrast ratio of %.2f:1 with the widget's "
                         "white text; WCAG AA asks for at least %.1f:1: choose a darker colour",
                         rgb, floor(ratio * 100) / 100, ASSISTANT_MIN_CONTRAST);
    char canon[8];
    snprintf(canon, sizeof(canon), "#%06x", rgb);
    return json_object_set_new(out, "color", json_string(canon)) ? LAIR_ENOMEM : LAIR_OK;
}

static enum lair_err parse_widget(struct parser *p, json_t *spec, json_t *c)
{
    static const char *const keys[] = {"color", "position", "title", "launcher_label", NULL};
    static const char *const pos[] = {"bottom-right", "bottom-left", NULL};
    json_t *w, *out = json_object();
    enum lair_err e = out ? opt_object(p, spec, "widget", &w) : LAIR_ENOMEM;
    if (!e && w)
        e = known_keys(p, w, "widget", keys);
    if (!e)
        e = widget_color(p, w, out);
    if (!e)
        e = opt_enum(p, w, "position", "widget", pos, "bottom-right", out);
    if (!e)
        e = opt_string(p, w, "title", "widget", 0, ASSISTANT_NAME_MAX, "", out);
    if (!e)
        e = opt_string(p, w, "launcher_label", "widget", 0, ASSISTANT_LAUNCHER_MAX, "", out);
    if (!e && json_object_set(c, "widget", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    return e;
}

/* ---- the publish gate ---- */

/* A suite, pack or category name: 1 to ASSISTANT_GATE_NAME_MAX characters
 * among a-z 0-9 - _, not starting with - or _ (src/eval's names). */
static bool gate_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > ASSISTANT_GATE_NAME_MAX || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return false;
    return true;
}

/* A pass rate in [0, 1]; path names it. */
static enum lair_err gate_rate(struct parser *p, json_t *v, const char *path, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0 ||
        json_number_value(v) > 1)
        return fail(p, path, "'%s' must be a pass rate between 0 and 1", path);
    *out = json_number_value(v);
    return LAIR_OK;
}

/* One requirement of a gate: {"suite"|"pack": NAME, "min_pass_rate"?: 0..1
 * (default 1), "categories"?: {CATEGORY: 0..1}}. OUT: *out its canonical
 * form (OWNED). */
static enum lair_err gate_item(struct parser *p, json_t *item, const char *at, json_t **out)
{
    static const char *const keys[] = {"suite", "pack", "min_pass_rate", "categories", NULL};
    char path[128];
    *out = NULL;
    if (!json_is_object(item))
        return fail(p, at, "'%s' must be an object: {\"suite\" or \"pack\": name, "
                           "\"min_pass_rate\": 0..1, \"categories\": {…}}",
                    at);
    enum lair_err e = known_keys(p, item, at, keys);
    if (e)
        return e;
    json_t *suite = field(item, "suite"), *pack = field(item, "pack");
    if (!suite == !pack)
        return fail(p, at, "'%s' names exactly one of \"suite\" (the assistant's own) or "
                           "\"pack\" (a red-team pack)",
                    at);
    const char *kind = suite ? "suite" : "pack";
    json_t *name = suite ? suite : pack;
    join(path, sizeof(path), at, kind);
    if (!json_is_string(name) || !gate_name_valid(json_string_value(name)))
        return fail(p, path, "'%s' must be 1 to %d characters among a-z, 0-9, '-' and '_'", path,
                    ASSISTANT_GATE_NAME_MAX);
    double min = 1.0;
    json_t *m = field(item, "min_pass_rate");
    join(path, sizeof(path), at, "min_pass_rate");
    if (m && (e = gate_rate(p, m, path, &min)))
        return e;
    json_t *cats = json_object(), *cv;
    json_t *cin = field(item, "categories");
    const char *cname;
    join(path, sizeof(path), at, "categories");
    if (cin && !json_is_object(cin)) {
        json_decref(cats);
        return fail(p, path, "'%s' must be an object: {\"category\": minimum pass rate}", path);
    }
    json_object_foreach(cin, cname, cv)
    {
        char cpath[192];
        snprintf(cpath, sizeof(cpath), "%s.%.60s", path, cname);
        double r = 1.0;
        if (!gate_name_valid(cname)) {
            json_decref(cats);
            return fail(p, cpath, "'%s': a category is 1 to %d characters among a-z, 0-9, '-' "
                                  "and '_'",
                        cpath, ASSISTANT_GATE_NAME_MAX);
        }
        if ((e = gate_rate(p, cv, cpath, &r))) {
            json_decref(cats);
            return e;
        }
        json_object_set_new(cats, cname, json_real(r));
    }
    *out = json_pack("{s:s, s:f, s:o}", kind, json_string_value(name), "min_pass_rate", min,
                     "categories", cats);
    return *out ? LAIR_OK : LAIR_ENOMEM;
}

/* A gate: an array of at most ASSISTANT_GATE_MAX requirements. OUT: *out
 * the canonical array (OWNED). */
static enum lair_err gate_array(struct parser *p, json_t *g, const char *key, json_t **out)
{
    *out = NULL;
    if (!json_is_array(g))
        return fail(p, key, "'%s' must be an array of requirements", key);
    if (json_array_size(g) > ASSISTANT_GATE_MAX)
        return fail(p, key, "'%s' takes at most %d requirements", key, ASSISTANT_GATE_MAX);
    json_t *arr = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(g, i, item)
    {
        char at[64];
        snprintf(at, sizeof(at), "%s[%zu]", key, i);
        json_t *one;
        enum lair_err e = gate_item(p, item, at, &one);
        if (e || !arr || json_array_append_new(arr, one)) {
            json_decref(arr);
            return e ? e : LAIR_ENOMEM;
        }
    }
    *out = arr;
    return LAIR_OK;
}

/* "publish_gate": kept in the canonical form only when it is not empty, so
 * that files without one keep their form. */
static enum lair_err parse_gate(struct parser *p, json_t *spec, json_t *c)
{
    json_t *g = field(spec, "publish_gate"), *canon;
    if (!g)
        return LAIR_OK;
    enum lair_err e = gate_array(p, g, "publish_gate", &canon);
    if (e)
        return e;
    if (json_array_size(canon) == 0) {
        json_decref(canon);
        return LAIR_OK;
    }
    return json_object_set_new(c, "publish_gate", canon) ? LAIR_ENOMEM : LAIR_OK;
}

enum lair_err assistant_gate_parse(json_t *gate, json_t **out, struct assistant_error *err)
{
    struct parser p = {.err = err};
    memset(err, 0, sizeof(*err));
    return gate_array(&p, gate, "publish_gate", out);
}

/* ---- origins ---- */

/* A host name: labels of 1..63 letters, digits and '-' (not at either end)
 * between dots, at most 255 bytes; no trailing dot (browsers keep it, so
 * "ville.fr." is another origin). Lower-cased into out. IDNs arrive in
 * punycode ("xn--…"); any byte outside ASCII is refused. */
static bool hostname_canonical(const char *h, size_t len, char *out)
{
    if (len == 0 || len > 255)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch == '.') {
            if (label == 0 || h[i - 1] == '-')
                return false;
            label = 0;
        } else if (isalnum(ch) || ch == '-') {
            if ((label == 0 && ch == '-') || ++label > 63)
                return false;
        } else {
            return false;
        }
    }
    if (label == 0 || h[len - 1] == '-')
        return false;
    for (size_t i = 0; i < len; i++)
        out[i] = (char)tolower((unsigned char)h[i]);
    out[len] = 0;
    return true;
}

/* One part of an IPv4 address as the URL standard reads it: decimal, "0x"
 * hexadecimal, or octal with a leading 0. False when it is none of these or
 * exceeds 2^32. */
static bool ipv4_number(const char *s, size_t len, uint64_t *out)
{
    int base = 10;
    if (len >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
        base = 16, s += 2, len -= 2;
    else if (len >= 2 && s[0] == '0')
        base = 8, s++, len--;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        int d = isdigit((unsigned char)s[i])    ? s[i] - '0'
                : isxdigit((unsigned char)s[i]) ? tolower((unsigned char)s[i]) - 'a' + 10
                                                : 99;
        if (d >= base)
            return false;
        v = v * (uint64_t)base + (uint64_t)d;
        if (v > UINT32_MAX)
            return false;
    }
    *out = v;
    return true;
}

/* Whether the host's last label is a number, which makes the whole host an
 * IPv4 address for a browser ("127.1", "0x7f.0.0.1", "2130706433"). */
static bool ends_in_number(const char *h, size_t len)
{
    size_t i = len;
    while (i > 0 && h[i - 1] != '.')
        i--;
    const char *last = h + i;
    size_t n = len - i;
    if (n >= 2 && last[0] == '0' && (last[1] == 'x' || last[1] == 'X')) {
        for (size_t k = 2; k < n; k++)
            if (!isxdigit((unsigned char)last[k]))
                return false;
        return true;
    }
    for (size_t k = 0; k < n; k++)
        if (!isdigit((unsigned char)last[k]))
            return false;
    return n > 0;
}

/* An IPv4 address in any of the spellings a browser accepts, written back
 * in dotted decimal. */
static bool ipv4_canonical(const char *h, size_t len, char *out, size_t cap)
{
    uint64_t part[4];
    int n = 0;
    size_t from = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && h[i] != '.')
            continue;
        if (n == 4 || i == from || !ipv4_number(h + from, i - from, &part[n]))
            return false;
        n++;
        from = i + 1;
    }
    uint64_t v = 0;
    for (int i = 0; i < n - 1; i++) {
        if (part[i] > 255)
            return false;
        v = v << 8 | part[i];
    }
    if (part[n - 1] >= (uint64_t)1 << (8 * (5 - n)))
        return false;
    v = v << (8 * (5 - n)) | part[n - 1];
    snprintf(out, cap, "%u.%u.%u.%u", (unsigned)(v >> 24), (unsigned)(v >> 16 & 255),
             (unsigned)(v >> 8 & 255), (unsigned)(v & 255));
    return true;
}

/* A bracketed IPv6 address, written back as the URL standard serialises
 * it: lower-case hex without leading zeros, the first longest run of two or
 * more zero pieces as "::", an embedded IPv4 address in hex. No zone id. */
static bool ipv6_canonical(const char *h, size_t len, char *out, size_t cap)
{
    char text[INET6_ADDRSTRLEN];
    unsigned char a[16];
    if (len < 3 || h[0] != '[' || h[len - 1] != ']' || len - 2 >= sizeof(text))
        return false;
    memcpy(text, h + 1, len - 2);
    text[len - 2] = 0;
    if (inet_pton(AF_INET6, text, a) != 1)
        return false;
    unsigned piece[8];
    int best = -1, best_len = 1;
    for (int i = 0; i < 8; i++)
        piece[i] = (unsigned)a[2 * i] << 8 | a[2 * i + 1];
    for (int i = 0; i < 8;) {
        int j = i;
        while (j < 8 && piece[j] == 0)
            j++;
        if (j - i > best_len)
            best = i, best_len = j - i;
        i = j > i ? j : i + 1;
    }
    size_t w = 0;
    out[w++] = '[';
    for (int i = 0; i < 8; i++) {
        if (i == best) {
            w += (size_t)snprintf(out + w, cap - w, i == 0 ? "::" : ":");
            i += best_len - 1;
            continue;
        }
        w += (size_t)snprintf(out + w, cap - w, "%x%s", piece[i], i < 7 ? ":" : "");
    }
    snprintf(out + w, cap - w, "]");
    return true;
}

/* The host of an origin in canonical form. */
static bool host_canonical(const char *h, size_t len, char *out, size_t cap)
{
    if (len > 0 && h[0] == '[')
        return ipv6_canonical(h, len, out, cap);
    if (!hostname_canonical(h, len, out))
        return false;
    return !ends_in_number(out, len) || ipv4_canonical(out, len, out, cap);
}

bool assistant_origin_canonical(struct str o, char out[ASSISTANT_ORIGIN_MAX + 1])
{
    if (o.len > ASSISTANT_ORIGIN_MAX || memchr(o.ptr, 0, o.len))
        return false;
    size_t skip;
    const char *scheme;
    long def_port;
    if (o.len >= 8 && !strncasecmp(o.ptr, "https://", 8))
        skip = 8, scheme = "https", def_port = 443;
    else if (o.len >= 7 && !strncasecmp(o.ptr, "http://", 7))
        skip = 7, scheme = "http", def_port = 80;
    else
        return false;
    const char *h = o.ptr + skip;
    size_t rest = o.len - skip, hlen = rest;
    /* the port colon is the last one, after any IPv6 bracket */
    for (size_t i = rest; i > 0 && h[i - 1] != ']'; i--)
        if (h[i - 1] == ':') {
            hlen = i - 1;
            break;
        }
    long port = def_port;
    if (hlen < rest) {
        const char *digits = h + hlen + 1;
        size_t plen = rest - hlen - 1;
        port = 0;
        for (size_t i = 0; i < plen; i++) {
            if (!isdigit((unsigned char)digits[i]))
                return false;
            port = port * 10 + (digits[i] - '0');
            if (port > 65535)
                return false;
        }
        if (plen == 0 || port == 0)
            return false;
    }
    char host[256];
    if (!host_canonical(h, hlen, host, sizeof(host)))
        return false;
    if (port == def_port)
        snprintf(out, ASSISTANT_ORIGIN_MAX + 1, "%s://%s", scheme, host);
    else
        snprintf(out, ASSISTANT_ORIGIN_MAX + 1, "%s://%s:%ld", scheme, host, port);
    return true;
}

static enum lair_err parse_visibility(struct parser *p, json_t *spec, json_t *c)
{
    static const char *const vis[] = {"internal", "public", NULL};
    enum lair_err e = opt_enum(p, spec, "visibility", NULL, vis, "internal", c);
    if (e)
        return e;
    bool public = !strcmp(json_string_value(json_object_get(c, "visibility")), "public");
    json_t *origins, *out = json_array();
    e = out ? opt_array(p, spec, "allowed_origins", ASSISTANT_MAX_ORIGINS, &origins) : LAIR_ENOMEM;
    size_t i;
    json_t *v;
    if (!e && origins && json_array_size(origins) > 0 && !public)
        e = fail(p, "allowed_origins",
                 "'allowed_origins' is only for a public assistant: set \"visibility\": "
                 "\"public\" or remove it");
    if (!e && origins)
        json_array_foreach(origins, i, v)
        {
            char path[40], canon[ASSISTANT_ORIGIN_MAX + 1];
            snprintf(path, sizeof(path), "allowed_origins[%zu]", i);
            if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v) ||
                !assistant_origin_canonical(
                    (struct str){json_string_value(v), json_string_length(v)}, canon)) {
                e = fail(p, path,
                         "'%s' must be an origin like \"https://www.ville.fr\" (scheme, host "
                         "and optional port; no path)",
                         path);
                break;
            }
            if (!array_has(out, canon) && json_array_append_new(out, json_string(canon))) {
                e = LAIR_ENOMEM;
                break;
            }
        }
    if (!e && json_object_set(c, "allowed_origins", out))
        e = LAIR_ENOMEM;
    json_decref(out);
    if (e)
        return e;
    long long days = 0;
    bool set;
    if ((e = opt_int(p, spec, "retention_days", NULL, 0, ASSISTANT_RETENTION_MAX, &days, &set)))
        return e;
    return json_object_set_new(c, "retention_days", json_integer(days)) ? LAIR_ENOMEM : LAIR_OK;
}

/* ---- the struct view of a canonical spec ---- */

static const char *get_s(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static int choice(const char *s, const char *const *choices)
{
    int i = 0;
    while (choices[i] && strcmp(choices[i], s))
        i++;
    return i;
}

static void fill(struct assistant *a, json_t *c)
{
    a->spec = c;
    a->slug = get_s(c, "slug");
    a->name = get_s(c, "name");
    a->publish_gate = json_object_get(c, "publish_gate");
    a->instructions = get_s(c, "instructions");
    a->model = get_s(c, "model");
    json_t *params = json_object_get(c, "params"), *v;
    a->temperature = (v = json_object_get(params, "temperature")) ? json_real_value(v) : NAN;
    a->top_p = (v = json_object_get(params, "top_p")) ? json_real_value(v) : NAN;
    a->max_tokens = (v = json_object_get(params, "max_tokens")) ? json_integer_value(v) : -1;
    size_t i;
    json_array_foreach(json_object_get(c, "knowledge_bases"), i, v)
    {
        a->knowledge_bases[a->n_knowledge_bases++] = json_string_value(v);
    }
    json_t *r = json_object_get(c, "retrieval");
    a->top_k = (int)json_integer_value(json_object_get(r, "top_k"));
    a->min_score = json_real_value(json_object_get(r, "min_score"));
    a->unfenced = json_is_false(json_object_get(r, "fencing"));
    static const char *const cit[] = {"off", "optional", "required", NULL};
    a->citations = (enum citation_policy)choice(get_s(c, "citations"), cit);
    json_t *g = json_object_get(c, "guardrails");
    a->refusal = *get_s(g, "refusal") ? get_s(g, "refusal") : NULL;
    static const char *const pii[] = {"keep", "mask", "pseudonymise", NULL};
    a->pii = (enum pii_mode)choice(get_s(g, "pii"), pii);
    const char *remote = get_s(g, "remote"); /* absent from versions stored before it */
    a->forbid_remote = remote && !strcmp(remote, "forbidden");
    a->welcome = get_s(c, "welcome");
    json_array_foreach(json_object_get(c, "starters"), i, v)
    {
        a->starters[a->n_starters++] = json_string_value(v);
    }
    a->visibility = !strcmp(get_s(c, "visibility"), "public") ? VIS_PUBLIC : VIS_INTERNAL;
    a->allowed_origins = json_object_get(c, "allowed_origins");
    a->retention_days = (int)json_integer_value(json_object_get(c, "retention_days"));
    json_t *w = json_object_get(c, "widget");
    a->widget_color = get_s(w, "color");
    a->widget_position = get_s(w, "position");
    a->widget_title = get_s(w, "title");
    a->widget_launcher_label = get_s(w, "launcher_label");
}

enum lair_err assistant_parse(json_t *spec, const struct assistant_ctx *ctx, struct assistant *out,
                              struct assistant_error *err)
{
    static const char *const keys[] = {"slug",
                                       "name",
                                       "instructions",
                                       "model",
                                       "params",
                                       "knowledge_bases",
                                       "retrieval",
                                       "citations",
                                       "guardrails",
                                       "welcome",
                                       "starters",
                                       "visibility",
                                       "allowed_origins",
                                       "retention_days",
                                       "widget",
                                       "publish_gate",
                                       NULL};
    struct parser p = {.ctx = ctx, .err = err};
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    if (!json_is_object(spec))
        return fail(&p, "", "an assistant file is a JSON object");
    enum lair_err e = known_keys(&p, spec, NULL, keys);
    if (e)
        return e;
    json_t *c = json_object();
    if (!c)
        return LAIR_ENOMEM;
    if ((e = parse_identity(&p, spec, c)) || (e = parse_params(&p, spec, c)) ||
        (e = parse_knowledge(&p, spec, c)) || (e = parse_guardrails(&p, spec, c)) ||
        (e = parse_welcome(&p, spec, c)) || (e = parse_visibility(&p, spec, c)) ||
        (e = parse_widget(&p, spec, c)) || (e = parse_gate(&p, spec, c))) {
        json_decref(c);
        return e;
    }
    fill(out, c);
    return LAIR_OK;
}

void assistant_release(struct assistant *a)
{
    if (!a)
        return;
    json_decref(a->spec);
    memset(a, 0, sizeof(*a));
}

bool assistant_origin_allowed(const struct assistant *a, struct str origin)
{
    char canon[ASSISTANT_ORIGIN_MAX + 1];
    if (a->visibility != VIS_PUBLIC || !a->allowed_origins ||
        !assistant_origin_canonical(origin, canon))
        return false;
    return array_has(a->allowed_origins, canon);
}

char *assistant_dump(const struct assistant *a)
{
    /* 9 significant digits: 0.2 stays "0.2", and dumping a parsed dump gives
     * the same text again */
    return json_dumps_checked(a->spec, JSON_COMPACT | JSON_REAL_PRECISION(9));
}
