/* The evaluation suite file: strict validation with the JSON path of the
 * first offending field, and the canonical form that is stored (fixed key
 * order, defaults filled in, "question" written as its one-turn
 * "messages"), so that export then apply changes nothing. */
#include "eval/suite.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/str.h"
#include "core/banned.h"

struct parser {
    struct eval_error *err;
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

bool eval_name_valid(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > EVAL_NAME_MAX || s[0] == '-' || s[0] == '_')
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

static void join(char *out, size_t n, const char *parent, const char *key)
{
    char k[64];
    str_printable(k, sizeof(k), key);
    int r = parent && *parent ? snprintf(out, n, "%s.%s", parent, k) : snprintf(out, n, "%s", k);
    if (r < 0)
        out[0] = 0; /* a path too long is cut: it only names the field */
}

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
                             "unknown field '%s'; see docs/evaluation.md for the fields", path);
        }
    }
    return LAIR_OK;
}

static json_t *field(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_null(v) ? NULL : v;
}

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
    if (len < min || len > max)
        return fail(p, path, "'%s' must have %zu to %zu bytes (it has %zu)", path, min, max, len);
    return LAIR_OK;
}

static enum lair_err check_name(struct parser *p, json_t *v, const char *path)
{
    if (!json_is_string(v) || !eval_name_valid(json_string_value(v)))
        return fail(p, path,
                    "'%s' must be 1 to %d characters among a-z, 0-9, '-' and '_', not starting "
                    "with '-' or '_'",
                    path, EVAL_NAME_MAX);
    return LAIR_OK;
}

/* An optional array of 1..max-byte strings, at most n items, no duplicates;
 * OUT: *out a new array (empty when absent). */
static enum lair_err string_list(struct parser *p, json_t *obj, const char *key, const char *parent,
                                 size_t n, size_t max, json_t **out)
{
    char path[128];
    join(path, sizeof(path), parent, key);
    json_t *v = field(obj, key);
    *out = json_array();
    if (!*out)
        return LAIR_ENOMEM;
    if (!v)
        return LAIR_OK;
    if (!json_is_array(v) || json_array_size(v) > n) {
        json_decref(*out);
        return fail(p, path, "'%s' must be an array of at most %zu strings", path, n);
    }
    size_t i;
    json_t *it;
    json_array_foreach(v, i, it)
    {
        char ip[160];
        snprintf(ip, sizeof(ip), "%s[%zu]", path, i);
        enum lair_err e = check_string(p, it, ip, 1, max);
        for (size_t j = 0; !e && j < i; j++)
            if (json_equal(json_array_get(v, j), it))
                e = fail(p, ip, "'%s' repeats an earlier item", ip);
        if (e || json_array_append(*out, it)) {
            json_decref(*out);
            return e ? e : LAIR_ENOMEM;
        }
    }
    return LAIR_OK;
}

/* "question" or "messages" of case c at path, as canonical messages. */
static enum lair_err parse_turns(struct parser *p, json_t *c, const char *path, json_t **out)
{
    char fp[160];
    json_t *q = field(c, "question"), *m = field(c, "messages");
    *out = NULL;
    if (q && m) {
        join(fp, sizeof(fp), path, "messages");
        return fail(p, fp, "a case has either 'question' or 'messages', not both");
    }
    if (!q && !m) {
        join(fp, sizeof(fp), path, "question");
        return fail_code(p, "missing_field", fp, "'%s' is required (or 'messages')", fp);
    }
    if (q) {
        join(fp, sizeof(fp), path, "question");
        enum lair_err e = check_string(p, q, fp, 1, EVAL_TEXT_MAX);
        if (e)
            return e;
        *out = json_pack("[{s:s,s:O}]", "role", "user", "content", q);
        return *out ? LAIR_OK : LAIR_ENOMEM;
    }
    join(fp, sizeof(fp), path, "messages");
    if (!json_is_array(m) || json_array_size(m) < 1 || json_array_size(m) > EVAL_MAX_TURNS)
        return fail(p, fp, "'%s' must be an array of 1 to %d messages", fp, EVAL_MAX_TURNS);
    if (!(*out = json_array()))
        return LAIR_ENOMEM;
    size_t i;
    json_t *t;
    json_array_foreach(m, i, t)
    {
        char tp[192], rp[200], cp[200];
        snprintf(tp, sizeof(tp), "%s[%zu]", fp, i);
        enum lair_err e = LAIR_OK;
        static const char *const keys[] = {"role", "content", NULL};
        if (!json_is_object(t))
            e = fail(p, tp, "'%s' must be an object {\"role\", \"content\"}", tp);
        else if (!(e = known_keys(p, t, tp, keys))) {
            join(rp, sizeof(rp), tp, "role");
            join(cp, sizeof(cp), tp, "content");
            const char *role = json_string_value(field(t, "role"));
            bool last = i + 1 == json_array_size(m);
            if (!role || (strcmp(role, "user") && strcmp(role, "assistant")))
                e = fail(p, rp, "'%s' must be \"user\" or \"assistant\"", rp);
            else if (last && strcmp(role, "user"))
                e = fail(p, rp, "the last message of a case must be the user's");
            else if (!field(t, "content"))
                e = fail_code(p, "missing_field", cp, "'%s' is required", cp);
            else
                e = check_string(p, field(t, "content"), cp, 1, EVAL_TEXT_MAX);
            if (!e && json_array_append_new(*out, json_pack("{s:s,s:O}", "role", role, "content",
                                                            field(t, "content"))))
                e = LAIR_ENOMEM;
        }
        if (e) {
            json_decref(*out);
            *out = NULL;
            return e;
        }
    }
    return LAIR_OK;
}

static enum lair_err parse_expect(struct parser *p, json_t *x, const char *path, json_t *cx)
{
    static const char *const keys[] = {"sources",        "contains", "not_contains",
                                       "refusal",        "no_pii",   "no_instructions",
                                       "max_latency_ms", "rubric",   NULL};
    char ep[160], fp[192];
    join(ep, sizeof(ep), path, "expect");
    if (!x)
        return fail_code(p, "missing_field", ep, "'%s' is required: what the answer must do", ep);
    if (!json_is_object(x))
        return fail(p, ep, "'%s' must be an object", ep);
    enum lair_err e = known_keys(p, x, ep, keys);
    if (e)
        return e;
    static const char *const lists[] = {"sources", "contains", "not_contains"};
    size_t checks = 0;
    for (size_t i = 0; i < 3; i++) {
        json_t *l;
        if ((e = string_list(p, x, lists[i], ep, EVAL_MAX_EXPECT, EVAL_EXPECT_MAX, &l)))
            return e;
        checks += json_array_size(l);
        json_object_set_new(cx, lists[i], l);
    }
    json_t *r = field(x, "refusal");
    join(fp, sizeof(fp), ep, "refusal");
    if (r && !json_is_boolean(r))
        return fail(p, fp, "'%s' must be true, false or null (not checked)", fp);
    json_object_set(cx, "refusal", r ? r : json_null());
    checks += r != NULL;
    json_t *np = field(x, "no_pii");
    join(fp, sizeof(fp), ep, "no_pii");
    if (np && !json_is_boolean(np))
        return fail(p, fp, "'%s' must be true or false", fp);
    json_object_set_new(cx, "no_pii", json_boolean(np && json_is_true(np)));
    checks += np && json_is_true(np);
    json_t *ni = field(x, "no_instructions");
    join(fp, sizeof(fp), ep, "no_instructions");
    if (ni && !json_is_boolean(ni))
        return fail(p, fp, "'%s' must be true or false", fp);
    json_object_set_new(cx, "no_instructions", json_boolean(ni && json_is_true(ni)));
    checks += ni && json_is_true(ni);
    json_t *lat = field(x, "max_latency_ms");
    join(fp, sizeof(fp), ep, "max_latency_ms");
    if (lat && (!json_is_integer(lat) || json_integer_value(lat) < 1 ||
                json_integer_value(lat) > EVAL_LATENCY_MAX))
        return fail(p, fp, "'%s' must be an integer from 1 to %d (milliseconds)", fp,
                    EVAL_LATENCY_MAX);
    json_object_set_new(cx, "max_latency_ms",
                        lat ? json_integer(json_integer_value(lat)) : json_null());
    checks += lat != NULL;
    /* stored only when given, so that suites written before rubrics keep their canonical bytes */
    json_t *rub = field(x, "rubric");
    join(fp, sizeof(fp), ep, "rubric");
    if (rub && !json_is_null(rub)) {
        if (!json_is_string(rub) || !json_string_length(rub) ||
            json_string_length(rub) > EVAL_RUBRIC_MAX)
            return fail(p, fp, "'%s' must be a text of 1 to %d bytes: what a good answer does", fp,
                        EVAL_RUBRIC_MAX);
        json_object_set(cx, "rubric", rub);
        checks++;
    }
    if (!checks)
        return fail(p, ep, "'%s' checks nothing: give at least one expectation", ep);
    return LAIR_OK;
}

static enum lair_err parse_case(struct parser *p, json_t *c, size_t idx, json_t *ids, json_t **out)
{
    static const char *const keys[] = {"id", "category", "question", "messages", "expect", NULL};
    char path[64], fp[96];
    snprintf(path, sizeof(path), "cases[%zu]", idx);
    if (!json_is_object(c))
        return fail(p, path, "'%s' must be an object", path);
    enum lair_err e = known_keys(p, c, path, keys);
    if (e)
        return e;
    json_t *id = field(c, "id");
    join(fp, sizeof(fp), path, "id");
    if (!id)
        return fail_code(p, "missing_field", fp, "'%s' is required", fp);
    if ((e = check_name(p, id, fp)))
        return e;
    if (json_object_get(ids, json_string_value(id)))
        return fail(p, fp, "'%s': another case has the id '%s'", fp, json_string_value(id));
    json_object_set_new(ids, json_string_value(id), json_true());
    json_t *cat = field(c, "category");
    join(fp, sizeof(fp), path, "category");
    if (cat && (e = check_name(p, cat, fp)))
        return e;
    json_t *turns;
    if ((e = parse_turns(p, c, path, &turns)))
        return e;
    json_t *cx = json_object();
    *out = json_pack("{s:O,s:s,s:o,s:o}", "id", id, "category",
                     cat ? json_string_value(cat) : "general", "messages", turns, "expect", cx);
    if (!*out)
        return LAIR_ENOMEM;
    if ((e = parse_expect(p, field(c, "expect"), path, cx))) {
        json_decref(*out);
        *out = NULL;
    }
    return e;
}

/* eval_name_valid allows '.' nowhere; document names need it. */
static bool doc_name_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 5 || n > EVAL_NAME_MAX || strcmp(s + n - 4, ".txt"))
        return false;
    char base[EVAL_NAME_MAX + 1];
    snprintf(base, sizeof(base), "%.*s", (int)(n - 4), s);
    return eval_name_valid(base);
}

static enum lair_err parse_documents(struct parser *p, json_t *v, json_t **out)
{
    *out = json_array();
    if (!*out)
        return LAIR_ENOMEM;
    if (!v)
        return LAIR_OK;
    if (!json_is_array(v) || json_array_size(v) > EVAL_MAX_DOCUMENTS)
        return fail(p, "documents", "'documents' must be an array of at most %d objects",
                    EVAL_MAX_DOCUMENTS);
    size_t i;
    json_t *d;
    json_array_foreach(v, i, d)
    {
        static const char *const keys[] = {"name", "text", NULL};
        char dp[64], np[96], tp[96];
        snprintf(dp, sizeof(dp), "documents[%zu]", i);
        join(np, sizeof(np), dp, "name");
        join(tp, sizeof(tp), dp, "text");
        enum lair_err e;
        if (!json_is_object(d))
            return fail(p, dp, "'%s' must be an object {\"name\", \"text\"}", dp);
        if ((e = known_keys(p, d, dp, keys)))
            return e;
        json_t *name = field(d, "name"), *text = field(d, "text");
        if (!name)
            return fail_code(p, "missing_field", np, "'%s' is required", np);
        const char *n = json_string_value(name);
        if (!json_is_string(name) || !doc_name_valid(n))
            return fail(p, np,
                        "'%s' must be a file name like \"avis-travaux.txt\" (a-z, 0-9, '-', "
                        "'_', ending in .txt)",
                        np);
        for (size_t j = 0; j < i; j++)
            if (json_equal(json_object_get(json_array_get(*out, j), "name"), name))
                return fail(p, np, "'%s' repeats an earlier document's name", np);
        if (!text)
            return fail_code(p, "missing_field", tp, "'%s' is required", tp);
        if ((e = check_string(p, text, tp, 1, EVAL_DOC_MAX)))
            return e;
        json_array_append_new(*out, json_pack("{s:O,s:O}", "name", name, "text", text));
    }
    return LAIR_OK;
}

static enum lair_err parse(struct parser *p, json_t *spec, json_t *c)
{
    static const char *const keys[] = {"name",      "description", "revision",
                                       "documents", "cases",       NULL};
    if (!json_is_object(spec))
        return fail(p, "", "a suite is a JSON object; see docs/evaluation.md");
    enum lair_err e = known_keys(p, spec, "", keys);
    if (e)
        return e;
    json_t *name = field(spec, "name");
    if (!name)
        return fail_code(p, "missing_field", "name", "'name' is required");
    if ((e = check_name(p, name, "name")))
        return e;
    json_object_set(c, "name", name);
    json_t *d = field(spec, "description");
    if (d && (e = check_string(p, d, "description", 0, EVAL_DESCRIPTION_MAX)))
        return e;
    json_object_set_new(c, "description", json_string(d ? json_string_value(d) : ""));
    json_t *rev = field(spec, "revision");
    if (rev &&
        (!json_is_integer(rev) || json_integer_value(rev) < 1 || json_integer_value(rev) > 1000000))
        return fail(p, "revision", "'revision' must be an integer from 1 to 1000000");
    json_object_set_new(c, "revision", json_integer(rev ? json_integer_value(rev) : 1));
    json_t *docs = NULL;
    e = parse_documents(p, field(spec, "documents"), &docs);
    json_object_set_new(c, "documents", docs ? docs : json_array());
    if (e)
        return e;
    json_t *cases = field(spec, "cases");
    if (!cases)
        return fail_code(p, "missing_field", "cases", "'cases' is required");
    if (!json_is_array(cases) || json_array_size(cases) < 1 ||
        json_array_size(cases) > EVAL_MAX_CASES)
        return fail(p, "cases", "'cases' must be an array of 1 to %d cases", EVAL_MAX_CASES);
    json_t *out = json_array(), *ids = json_object();
    json_object_set_new(c, "cases", out);
    size_t i;
    json_t *it;
    json_array_foreach(cases, i, it)
    {
        json_t *cc = NULL;
        if ((e = parse_case(p, it, i, ids, &cc)))
            break;
        json_array_append_new(out, cc);
    }
    json_decref(ids);
    return e;
}

static void bind_cases(struct eval_suite *s)
{
    json_t *cases = json_object_get(s->spec, "cases");
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        json_t *x = json_object_get(c, "expect");
        json_t *r = json_object_get(x, "refusal");
        s->cases[i] = (struct eval_case){
            .id = json_string_value(json_object_get(c, "id")),
            .category = json_string_value(json_object_get(c, "category")),
            .messages = json_object_get(c, "messages"),
            .sources = json_object_get(x, "sources"),
            .contains = json_object_get(x, "contains"),
            .not_contains = json_object_get(x, "not_contains"),
            .refusal = json_is_true(r)    ? EVAL_REFUSAL_YES
                       : json_is_false(r) ? EVAL_REFUSAL_NO
                                          : EVAL_REFUSAL_ANY,
            .no_pii = json_is_true(json_object_get(x, "no_pii")),
            .no_instructions = json_is_true(json_object_get(x, "no_instructions")),
            .max_latency = json_integer_value(json_object_get(x, "max_latency_ms")),
            .rubric = json_string_value(json_object_get(x, "rubric")),
        };
    }
}

enum lair_err eval_suite_parse(json_t *spec, struct eval_suite *out, struct eval_error *err)
{
    memset(out, 0, sizeof(*out));
    memset(err, 0, sizeof(*err));
    struct parser p = {.err = err};
    json_t *c = json_object();
    if (!c)
        return LAIR_ENOMEM;
    enum lair_err e = parse(&p, spec, c);
    if (e) {
        json_decref(c);
        return e;
    }
    out->spec = c;
    out->name = json_string_value(json_object_get(c, "name"));
    out->description = json_string_value(json_object_get(c, "description"));
    out->revision = (int)json_integer_value(json_object_get(c, "revision"));
    out->documents = json_object_get(c, "documents");
    out->n_cases = json_array_size(json_object_get(c, "cases"));
    out->cases = calloc(out->n_cases, sizeof(*out->cases));
    if (!out->cases) {
        eval_suite_release(out);
        return LAIR_ENOMEM;
    }
    bind_cases(out);
    return LAIR_OK;
}

void eval_suite_release(struct eval_suite *s)
{
    json_decref(s->spec);
    free(s->cases);
    memset(s, 0, sizeof(*s));
}

char *eval_suite_dump(const struct eval_suite *s)
{
    return json_dumps(s->spec, JSON_COMPACT | JSON_PRESERVE_ORDER);
}
