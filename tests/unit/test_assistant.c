/* Unit tests for src/assist/assistant.c (validation of every field of the
 * assistant file, canonical form) and src/store/assistants.c (versions,
 * publish, restore, delete, concurrent edits) on a real tenant database. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/assistant.h"
#include "store/assistants.h"
#include "store/system.h"
#include "store/tenant.h"

/* ---- validation ---- */

static bool model_ok(void *arg, const char *name)
{
    (void)arg;
    return !strcmp(name, "default") || !strcmp(name, "stories");
}

static bool kb_ok(void *arg, const char *slug)
{
    (void)arg;
    return !strcmp(slug, "demarches") || !strcmp(slug, "urbanisme");
}

static const struct assistant_ctx ctx = {.model_exists = model_ok, .kb_exists = kb_ok};

static const char *design_example =
    "{\"slug\": \"etat-civil\", \"name\": \"Assistant \xc3\xa9tat civil\","
    " \"instructions\": \"Tu r\xc3\xa9ponds aux questions des habitants sur l'\xc3\xa9tat civil\","
    " \"model\": \"default\", \"params\": {\"temperature\": 0.2, \"max_tokens\": 512},"
    " \"knowledge_bases\": [\"demarches\"], \"retrieval\": {\"top_k\": 5, \"min_score\": 0},"
    " \"citations\": \"required\","
    " \"guardrails\": {\"refusal\": \"Je ne peux r\xc3\xa9pondre qu'aux questions d'\xc3\xa9tat "
    "civil.\", \"pii\": \"mask\"},"
    " \"welcome\": \"Bonjour !\", \"starters\": [\"Comment obtenir un acte de naissance ?\"],"
    " \"visibility\": \"internal\", \"retention_days\": 90}";

static json_t *load(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &je);
    if (!v)
        fail_msg("test JSON does not parse: %s: %s", je.text, text);
    return v;
}

static void test_design_example(void **state)
{
    (void)state;
    json_t *spec = load(design_example);
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    assert_string_equal(a.slug, "etat-civil");
    assert_string_equal(a.name, "Assistant \xc3\xa9tat civil");
    assert_string_equal(a.model, "default");
    assert_true(fabs(a.temperature - 0.2) < 1e-12);
    assert_true(isnan(a.top_p));
    assert_int_equal(a.max_tokens, 512);
    assert_int_equal(a.n_knowledge_bases, 1);
    assert_string_equal(a.knowledge_bases[0], "demarches");
    assert_int_equal(a.top_k, 5);
    assert_true(a.min_score == 0);
    assert_int_equal(a.citations, CITATIONS_REQUIRED);
    assert_non_null(a.refusal);
    assert_int_equal(a.pii, PII_MASK);
    assert_string_equal(a.welcome, "Bonjour !");
    assert_int_equal(a.n_starters, 1);
    assert_int_equal(a.visibility, VIS_INTERNAL);
    assert_int_equal(a.retention_days, 90);
    /* the input is not modified and the result owns its own copy */
    json_decref(spec);
    assert_string_equal(a.slug, "etat-civil");
    assistant_release(&a);
    assert_null(a.spec);
}

static void test_defaults_and_canonical(void **state)
{
    (void)state;
    json_t *spec = load("{\"model\": \"stories\", \"slug\": \"mini\", \"params\": null}");
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    char *text = assistant_dump(&a);
    assert_string_equal(
        text, "{\"slug\":\"mini\",\"name\":\"mini\",\"instructions\":\"\",\"model\":\"stories\","
              "\"params\":{},\"knowledge_bases\":[],\"retrieval\":{\"top_k\":5,\"min_score\":0.0},"
              "\"citations\":\"optional\","
              "\"guardrails\":{\"refusal\":\"\",\"pii\":\"keep\",\"remote\":\"masked\"},"
              "\"welcome\":\"\",\"starters\":[],\"visibility\":\"internal\","
              "\"allowed_origins\":[],\"retention_days\":0,"
              "\"widget\":{\"color\":\"#1d3f8f\",\"position\":\"bottom-right\",\"title\":\"\","
              "\"launcher_label\":\"\"}}");
    assert_true(isnan(a.temperature) && isnan(a.top_p));
    assert_int_equal(a.max_tokens, -1);
    assert_null(a.refusal);
    assert_int_equal(a.citations, CITATIONS_OPTIONAL);
    assert_int_equal(a.pii, PII_KEEP);
    assistant_release(&a);

    /* dump → parse → dump is stable (apply of an export changes nothing), also
     * for reals that have no exact binary form, and whatever the key order */
    spec = load("{\"retention_days\": 30, \"params\": {\"top_p\": 0.9, \"temperature\": 0.7},"
                " \"model\": \"default\", \"slug\": \"b\"}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    char *t1 = assistant_dump(&a);
    assistant_release(&a);
    assert_non_null(strstr(t1, "\"params\":{\"temperature\":0.7,\"top_p\":0.9}"));
    spec = load(t1);
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    char *t2 = assistant_dump(&a);
    assistant_release(&a);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
    free(text);

    /* retrieval.fencing: on by default and then not written (files written
     * before the setting keep their canonical form); false is kept */
    spec = load("{\"slug\": \"f\", \"model\": \"default\", \"retrieval\": {\"fencing\": true}}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_false(a.unfenced);
    t1 = assistant_dump(&a);
    assistant_release(&a);
    assert_non_null(strstr(t1, "\"retrieval\":{\"top_k\":5,\"min_score\":0.0},"));
    free(t1);
    spec = load("{\"slug\": \"f\", \"model\": \"default\", \"retrieval\": {\"fencing\": false}}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_true(a.unfenced);
    t1 = assistant_dump(&a);
    assistant_release(&a);
    assert_non_null(strstr(t1, "\"retrieval\":{\"top_k\":5,\"min_score\":0.0,\"fencing\":false},"));
    spec = load(t1);
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_true(a.unfenced);
    t2 = assistant_dump(&a);
    assistant_release(&a);
    assert_string_equal(t1, t2);
    free(t1);
    free(t2);
}

struct bad_case {
    const char *json; /* the fields after "slug" and "model" (or a whole object) */
    const char *field, *code;
};

static void expect_bad(const char *whole, const char *field, const char *code)
{
    json_t *spec = load(whole);
    struct assistant a;
    struct assistant_error err;
    enum lair_err e = assistant_parse(spec, &ctx, &a, &err);
    json_decref(spec);
    if (e != LAIR_EUNPROC)
        fail_msg("accepted (%d): %.300s", e, whole);
    if (strcmp(err.field, field))
        fail_msg("field '%s' named instead of '%s' (%s) for %.300s", err.field, field, err.msg,
                 whole);
    if (code && strcmp(err.code, code))
        fail_msg("code '%s' instead of '%s' for %.300s", err.code, code, whole);
    assert_true(strlen(err.msg) > 10);
    assert_null(a.spec);
}

static void test_bad_fields(void **state)
{
    (void)state;
    static const struct bad_case cases[] = {
        {"\"extra\": 1", "extra", "unknown_field"},
        {"\"temperature\": 0.2", "temperature", "unknown_field"},
        {"\"name\": \"\"", "name", NULL},
        {"\"name\": 5", "name", NULL},
        {"\"instructions\": [\"x\"]", "instructions", NULL},
        {"\"instructions\": \"a\\u0000b\"", "instructions", NULL},
        {"\"params\": \"hot\"", "params", NULL},
        {"\"params\": {\"temprature\": 0.2}", "params.temprature", "unknown_field"},
        {"\"params\": {\"top_k\": 3}", "params.top_k", "unknown_field"},
        {"\"params\": {\"temperature\": 2.5}", "params.temperature", "invalid_value"},
        {"\"params\": {\"temperature\": -0.1}", "params.temperature", NULL},
        {"\"params\": {\"temperature\": \"hot\"}", "params.temperature", NULL},
        {"\"params\": {\"temperature\": true}", "params.temperature", NULL},
        {"\"params\": {\"top_p\": 1.01}", "params.top_p", NULL},
        {"\"params\": {\"max_tokens\": 0}", "params.max_tokens", NULL},
        {"\"params\": {\"max_tokens\": 32769}", "params.max_tokens", NULL},
        {"\"params\": {\"max_tokens\": 1.5}", "params.max_tokens", NULL},
        {"\"knowledge_bases\": \"demarches\"", "knowledge_bases", NULL},
        {"\"knowledge_bases\": [\"demarches\", \"inconnue\"]", "knowledge_bases[1]",
         "unknown_knowledge_base"},
        {"\"knowledge_bases\": [\"Bad Slug\"]", "knowledge_bases[0]", NULL},
        {"\"knowledge_bases\": [\"demarches\", \"demarches\"]", "knowledge_bases[1]", NULL},
        {"\"knowledge_bases\": [\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\",\"a\","
         "\"a\",\"a\",\"a\",\"a\",\"a\",\"a\"]",
         "knowledge_bases", NULL},
        {"\"retrieval\": 5", "retrieval", NULL},
        {"\"retrieval\": {\"top_k\": 0}", "retrieval.top_k", NULL},
        {"\"retrieval\": {\"top_k\": 51}", "retrieval.top_k", NULL},
        {"\"retrieval\": {\"min_score\": -1}", "retrieval.min_score", NULL},
        {"\"retrieval\": {\"topk\": 5}", "retrieval.topk", "unknown_field"},
        {"\"retrieval\": {\"fencing\": \"off\"}", "retrieval.fencing", "invalid_value"},
        {"\"retrieval\": {\"fencing\": 0}", "retrieval.fencing", "invalid_value"},
        {"\"citations\": \"always\"", "citations", NULL},
        {"\"citations\": true", "citations", NULL},
        {"\"guardrails\": {\"pii\": \"hide\"}", "guardrails.pii", NULL},
        {"\"guardrails\": {\"remote\": \"allowed\"}", "guardrails.remote", NULL},
        {"\"guardrails\": {\"scope\": \"x\"}", "guardrails.scope", "unknown_field"},
        {"\"guardrails\": []", "guardrails", NULL},
        {"\"welcome\": 1", "welcome", NULL},
        {"\"starters\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\"]", "starters", NULL},
        {"\"starters\": [\"ok\", \"\"]", "starters[1]", NULL},
        {"\"starters\": [1]", "starters[0]", NULL},
        {"\"starters\": \"one\"", "starters", NULL},
        {"\"visibility\": \"private\"", "visibility", NULL},
        {"\"allowed_origins\": [\"https://www.ville.fr\"]", "allowed_origins", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"ftp://ville.fr\"]",
         "allowed_origins[0]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"https://ville.fr\", "
         "\"https://ville.fr/contact\"]",
         "allowed_origins[1]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"https://\"]", "allowed_origins[0]",
         NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"https://a..fr\"]",
         "allowed_origins[0]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"https://ville.fr:70000\"]",
         "allowed_origins[0]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"https://user@ville.fr\"]",
         "allowed_origins[0]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": [\"*\"]", "allowed_origins[0]", NULL},
        {"\"visibility\": \"public\", \"allowed_origins\": \"https://ville.fr\"", "allowed_origins",
         NULL},
        {"\"retention_days\": -1", "retention_days", NULL},
        {"\"retention_days\": 3651", "retention_days", NULL},
        {"\"retention_days\": \"90\"", "retention_days", NULL},
        {"\"temp\xc3\xa9rature\": 1", "temp??rature", "unknown_field"},
        {"\"widget\": \"blue\"", "widget", NULL},
        {"\"widget\": {\"colour\": \"#000000\"}", "widget.colour", "unknown_field"},
        {"\"widget\": {\"color\": \"blue\"}", "widget.color", "invalid_value"},
        {"\"widget\": {\"color\": \"#12345\"}", "widget.color", "invalid_value"},
        {"\"widget\": {\"color\": \"#12345g\"}", "widget.color", "invalid_value"},
        {"\"widget\": {\"color\": \"1d3f8f\"}", "widget.color", "invalid_value"},
        {"\"widget\": {\"color\": 1942415}", "widget.color", "invalid_value"},
        {"\"widget\": {\"color\": \"#ffcc00\"}", "widget.color", "insufficient_contrast"},
        {"\"widget\": {\"color\": \"#fff\"}", "widget.color", "insufficient_contrast"},
        {"\"widget\": {\"color\": \"#777777\"}", "widget.color", "insufficient_contrast"},
        {"\"widget\": {\"position\": \"top-left\"}", "widget.position", "invalid_value"},
        {"\"widget\": {\"title\": 3}", "widget.title", "invalid_value"},
        {"\"widget\": {\"launcher_label\": \"0123456789012345678901234567890123456789"
         "012345678901234567890\"}",
         "widget.launcher_label", "invalid_value"},
    };
    char buf[1024];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        snprintf(buf, sizeof(buf), "{\"slug\": \"a\", \"model\": \"default\", %s}", cases[i].json);
        expect_bad(buf, cases[i].field, cases[i].code);
    }
    /* slug and model themselves */
    expect_bad("{\"model\": \"default\"}", "slug", "missing_field");
    expect_bad("{\"slug\": \"Etat Civil\", \"model\": \"default\"}", "slug", NULL);
    expect_bad("{\"slug\": \"-a\", \"model\": \"default\"}", "slug", NULL);
    expect_bad("{\"slug\": \"\", \"model\": \"default\"}", "slug", NULL);
    expect_bad("{\"slug\": 5, \"model\": \"default\"}", "slug", NULL);
    expect_bad("{\"slug\": \"a/../b\", \"model\": \"default\"}", "slug", NULL);
    expect_bad("{\"slug\": \"a\"}", "model", "missing_field");
    expect_bad("{\"slug\": \"a\", \"model\": \"nope\"}", "model", "unknown_model");
    expect_bad("{\"slug\": \"a\", \"model\": \"\"}", "model", NULL);
    expect_bad("{\"slug\": \"a\", \"model\": 7}", "model", NULL);
    expect_bad("[1, 2]", "", NULL);
}

/* Size limits, at the limit and one byte past it. */
static void test_lengths(void **state)
{
    (void)state;
    static const struct {
        const char *key;
        size_t max;
        const char *field;
    } limits[] = {{"slug", SLUG_MAX, "slug"},
                  {"name", ASSISTANT_NAME_MAX, "name"},
                  {"instructions", ASSISTANT_INSTRUCTIONS_MAX, "instructions"},
                  {"welcome", ASSISTANT_TEXT_MAX, "welcome"},
                  {"refusal", ASSISTANT_TEXT_MAX, "guardrails.refusal"},
                  {"starter", ASSISTANT_STARTER_MAX, "starters[0]"},
                  {"model", ASSISTANT_MODEL_MAX, "model"}};
    for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
        for (size_t n = limits[i].max; n <= limits[i].max + 1; n++) {
            char *s = malloc(n + 1);
            memset(s, 'a', n);
            s[n] = 0;
            json_t *spec = json_pack("{s:s, s:s}", "slug", "a", "model", "default");
            if (!strcmp(limits[i].key, "refusal"))
                json_object_set_new(spec, "guardrails", json_pack("{s:s}", "refusal", s));
            else if (!strcmp(limits[i].key, "starter"))
                json_object_set_new(spec, "starters", json_pack("[s]", s));
            else
                json_object_set_new(spec, limits[i].key, json_string(s));
            struct assistant_ctx any_model = {.model_exists = NULL};
            struct assistant a;
            struct assistant_error err;
            enum lair_err e = assistant_parse(spec, &any_model, &a, &err);
            if (n == limits[i].max) {
                if (e != LAIR_OK)
                    fail_msg("%s of %zu bytes refused: %s", limits[i].key, n, err.msg);
                assistant_release(&a);
            } else {
                assert_int_equal(e, LAIR_EUNPROC);
                assert_string_equal(err.field, limits[i].field);
            }
            json_decref(spec);
            free(s);
        }
    }
}

static void test_ranges_at_bounds(void **state)
{
    (void)state;
    json_t *spec = load("{\"slug\": \"a\", \"model\": \"default\","
                        " \"params\": {\"temperature\": 2, \"top_p\": 0, \"max_tokens\": 32768},"
                        " \"retrieval\": {\"top_k\": 50, \"min_score\": 12.5},"
                        " \"retention_days\": 3650, \"citations\": \"off\","
                        " \"guardrails\": {\"pii\": \"pseudonymise\"}}");
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_true(a.temperature == 2 && a.top_p == 0);
    assert_int_equal(a.max_tokens, 32768);
    assert_int_equal(a.top_k, 50);
    assert_true(a.min_score == 12.5);
    assert_int_equal(a.retention_days, 3650);
    assert_int_equal(a.citations, CITATIONS_OFF);
    assert_int_equal(a.pii, PII_PSEUDONYMISE);
    assistant_release(&a);
}

static void test_origins(void **state)
{
    (void)state;
    json_t *spec = load("{\"slug\": \"pub\", \"model\": \"default\", \"visibility\": \"public\","
                        " \"allowed_origins\": [\"HTTPS://WWW.Ville.FR:443\","
                        " \"http://localhost:8080\", \"https://www.ville.fr\","
                        " \"http://[::1]:3000\", \"http://mairie.fr:80\"]}");
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_int_equal(a.visibility, VIS_PUBLIC);
    assert_int_equal(json_array_size(a.allowed_origins), 4);
    assert_string_equal(json_string_value(json_array_get(a.allowed_origins, 0)),
                        "https://www.ville.fr");
    assert_string_equal(json_string_value(json_array_get(a.allowed_origins, 3)),
                        "http://mairie.fr");
    assert_true(assistant_origin_allowed(&a, S("https://www.ville.fr")));
    assert_true(assistant_origin_allowed(&a, S("https://www.ville.fr:443")));
    assert_true(assistant_origin_allowed(&a, S("http://localhost:8080")));
    assert_true(assistant_origin_allowed(&a, S("http://[::1]:3000")));
    assert_false(assistant_origin_allowed(&a, S("http://www.ville.fr")));
    assert_false(assistant_origin_allowed(&a, S("https://www.ville.fr.evil.com")));
    assert_false(assistant_origin_allowed(&a, S("http://localhost:8081")));
    assert_false(assistant_origin_allowed(&a, S("null")));
    assert_false(assistant_origin_allowed(&a, S("")));
    assistant_release(&a);

    spec = load("{\"slug\": \"int\", \"model\": \"default\"}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_false(assistant_origin_allowed(&a, S("https://www.ville.fr")));
    assistant_release(&a);
}

/* The WCAG 2 contrast ratio, against published values, and the widget's
 * theme: canonical colour, the ratio named when a colour is refused. */
static void test_widget_theme(void **state)
{
    (void)state;
    assert_true(fabs(assistant_contrast_ratio(0x000000, 0xffffff) - 21.0) < 1e-9);
    assert_true(fabs(assistant_contrast_ratio(0xffffff, 0x000000) - 21.0) < 1e-9);
    assert_true(fabs(assistant_contrast_ratio(0x123456, 0x123456) - 1.0) < 1e-9);
    /* WebAIM's checker: #767676 on white 4.54:1 (the lightest grey that
     * passes AA), #777777 4.48:1, #0000ff 8.59:1, #ff0000 4.0:1,
     * #1d3f8f (the default) 9.72:1 */
    assert_true(fabs(assistant_contrast_ratio(0x767676, 0xffffff) - 4.54) < 0.01);
    assert_true(fabs(assistant_contrast_ratio(0x777777, 0xffffff) - 4.48) < 0.01);
    assert_true(fabs(assistant_contrast_ratio(0x0000ff, 0xffffff) - 8.59) < 0.01);
    assert_true(fabs(assistant_contrast_ratio(0xff0000, 0xffffff) - 4.0) < 0.01);
    assert_true(fabs(assistant_contrast_ratio(0x1d3f8f, 0xffffff) - 9.72) < 0.01);

    json_t *spec = load("{\"slug\": \"pub\", \"model\": \"default\", \"widget\": "
                        "{\"color\": \"#767676\", \"position\": \"bottom-left\", "
                        "\"title\": \"Mairie de Lyon\", \"launcher_label\": \"Une question ?\"}}");
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_string_equal(a.widget_color, "#767676");
    assert_string_equal(a.widget_position, "bottom-left");
    assert_string_equal(a.widget_title, "Mairie de Lyon");
    assert_string_equal(a.widget_launcher_label, "Une question ?");
    assistant_release(&a);
    /* "#rgb" and upper case are stored as "#rrggbb", lower case */
    spec = load("{\"slug\": \"pub\", \"model\": \"default\", \"widget\": {\"color\": \"#A0C\"}}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_string_equal(a.widget_color, "#aa00cc");
    assert_string_equal(a.widget_position, "bottom-right");
    assert_string_equal(a.widget_title, "");
    assistant_release(&a);
    /* refused with the ratio, floored (never rounded up to the bar) */
    spec =
        load("{\"slug\": \"pub\", \"model\": \"default\", \"widget\": {\"color\": \"#777777\"}}");
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_EUNPROC);
    json_decref(spec);
    assert_string_equal(err.code, "insufficient_contrast");
    assert_string_equal(err.field, "widget.color");
    assert_non_null(strstr(err.msg, "4.47:1")); /* 4.478 */
    assert_non_null(strstr(err.msg, "4.5:1"));
}

/* Every spelling of one origin that passes the allow-list has one canonical
 * form, the one the public API keys its rate limit on: respelling the
 * Origin header must give no other bucket. */
static void test_origin_canonical(void **state)
{
    (void)state;
    static const char *const same[][2] = {
        {"https://www.ville.fr", "https://www.ville.fr"},
        {"HTTPS://WWW.VILLE.FR", "https://www.ville.fr"},
        {"hTtPs://www.Ville.fr", "https://www.ville.fr"},
        {"https://www.ville.fr:443", "https://www.ville.fr"},
        {"https://www.ville.fr:0443", "https://www.ville.fr"},
        {"https://www.ville.fr:00000443", "https://www.ville.fr"},
        {"http://mairie.fr:80", "http://mairie.fr"},
        {"http://mairie.fr:080", "http://mairie.fr"},
        {"https://mairie.fr:80", "https://mairie.fr:80"},
        {"http://mairie.fr:443", "http://mairie.fr:443"},
        {"http://127.0.0.1:08765", "http://127.0.0.1:8765"},
        {"http://127.1:8765", "http://127.0.0.1:8765"},
        {"http://0x7f.0.0.1:8765", "http://127.0.0.1:8765"},
        {"http://0177.0.0.1:8765", "http://127.0.0.1:8765"},
        {"http://2130706433:8765", "http://127.0.0.1:8765"},
        {"http://127.000.000.001:8765", "http://127.0.0.1:8765"},
        {"http://[::1]:3000", "http://[::1]:3000"},
        {"http://[0:0:0:0:0:0:0:1]:3000", "http://[::1]:3000"},
        {"http://[0000::0001]:3000", "http://[::1]:3000"},
        {"http://[2001:DB8:0:0:1:0:0:1]", "http://[2001:db8::1:0:0:1]"},
        {"http://[::ffff:192.0.2.1]", "http://[::ffff:c000:201]"},
        {"http://[1::]", "http://[1::]"},
        {"http://[1:0:2:3:4:5:6:7]", "http://[1:0:2:3:4:5:6:7]"},
        {"https://XN--VILL-BPA.FR", "https://xn--vill-bpa.fr"},
    };
    char out[ASSISTANT_ORIGIN_MAX + 1], again[ASSISTANT_ORIGIN_MAX + 1];
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
        if (!assistant_origin_canonical(str_c(same[i][0]), out))
            fail_msg("'%s' has no canonical form", same[i][0]);
        if (strcmp(out, same[i][1]))
            fail_msg("'%s' gives '%s', not '%s'", same[i][0], out, same[i][1]);
        assert_true(assistant_origin_canonical(str_c(out), again));
        assert_string_equal(again, out);
    }
    static const char *const refused[] = {
        "null",
        "",
        "https://",
        "https://www.ville.fr/",
        "https://www.ville.fr/chemin",
        "https://www.ville.fr?q",
        "https://www.ville.fr#x",
        "https://user@www.ville.fr",
        "https://user:pw@www.ville.fr",
        "https://www.ville.fr.",
        "https://www.ville.fr..",
        "https://.www.ville.fr",
        "https://www.ville.fr:",
        "https://www.ville.fr:0",
        "https://www.ville.fr:65536",
        "https://www.ville.fr:99999999999999999999",
        "https://www.ville.fr:+443",
        "https://www.ville.fr:44 3",
        " https://www.ville.fr",
        "https://www.ville.fr ",
        "https://www.vill\xc3\xa9.fr",
        "https://www.ville%2efr",
        "https://www.ville.fr\\",
        "ftp://www.ville.fr",
        "https:/www.ville.fr",
        "https:www.ville.fr",
        "//www.ville.fr",
        "*",
        "http://256.0.0.1",
        "http://1.2.3.4.5",
        "http://0x100000000",
        "http://1.2.3.08",
        "http://1..2",
        "http://[::1",
        "http://::1",
        "http://[::1]x",
        "http://[fe80::1%25eth0]",
        "http://[1:2:3:4:5:6:7:8:9]",
        "http://[g::1]",
        "http://[]",
    };
    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
        if (assistant_origin_canonical(str_c(refused[i]), out))
            fail_msg("'%s' was taken as '%s'", refused[i], out);
    char nul[] = "https://www.ville.fr\0.evil";
    assert_false(assistant_origin_canonical((struct str){nul, sizeof(nul) - 1}, out));
    char big[ASSISTANT_ORIGIN_MAX + 2];
    memset(big, 'a', sizeof(big));
    memcpy(big, "https://", 8);
    assert_false(assistant_origin_canonical((struct str){big, sizeof(big)}, out));

    /* the allow-list takes and answers the same forms */
    json_t *spec = load("{\"slug\": \"pub\", \"model\": \"default\", \"visibility\": \"public\","
                        " \"allowed_origins\": [\"http://127.1:8765\", \"https://[::0:1]\"]}");
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, &ctx, &a, &err), LAIR_OK);
    json_decref(spec);
    assert_string_equal(json_string_value(json_array_get(a.allowed_origins, 0)),
                        "http://127.0.0.1:8765");
    assert_string_equal(json_string_value(json_array_get(a.allowed_origins, 1)), "https://[::1]");
    assert_true(assistant_origin_allowed(&a, S("HTTP://127.0.0.1:008765")));
    assert_true(assistant_origin_allowed(&a, S("https://[0::1]:443")));
    assert_false(assistant_origin_allowed(&a, S("http://127.0.0.1:8765/")));
    assert_false(assistant_origin_allowed(&a, S("http://127.0.0.2:8765")));
    assistant_release(&a);
}

/* ---- store ---- */

static char dir[256], data[300];
static struct sysdb *sys;
static struct tenants *tenants;
static struct tenant_db *tdb;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-assistant-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        tenants_create(tenants, "ville-a", "A") || tenants_create(tenants, "ville-b", "B") ||
        tenants_get(tenants, "ville-a", &tdb))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tenant_db_put(tdb);
    tenants_free(tenants);
    sysdb_free(sys);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static char *get(const char *slug, int version, int *got)
{
    char *spec = NULL;
    enum lair_err e = assistants_get(tdb, slug, version, &spec, got, NULL);
    return e ? NULL : spec;
}

static void expect_spec(const char *slug, int version, const char *want, int want_version)
{
    int got = 0;
    char *s = get(slug, version, &got);
    if (!s)
        fail_msg("no version %d of %s", version, slug);
    assert_string_equal(s, want);
    assert_int_equal(got, want_version);
    free(s);
}

struct collect {
    int n;
    struct assistant_version_info v[16];
    struct assistant_info a[16];
};

static void collect_version(void *arg, const struct assistant_version_info *v)
{
    struct collect *c = arg;
    if (c->n < 16)
        c->v[c->n] = *v;
    c->n++;
}

static void collect_assistant(void *arg, const struct assistant_info *a)
{
    struct collect *c = arg;
    if (c->n < 16)
        c->a[c->n] = *a;
    c->n++;
}

#define SPEC(n) "{\"slug\":\"etat-civil\",\"name\":\"" n "\"}"

static void test_store_versions(void **state)
{
    (void)state;
    int v = 0, pub = 0;
    assert_int_equal(assistants_create(tdb, "etat-civil", SPEC("v1"), "k1", &v), LAIR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(assistants_create(tdb, "etat-civil", SPEC("other"), "k1", &v), LAIR_ECONFLICT);
    expect_spec("etat-civil", ASSISTANT_DRAFT, SPEC("v1"), 1);
    assert_null(get("etat-civil", ASSISTANT_PUBLISHED, NULL));

    assert_int_equal(assistants_update(tdb, "etat-civil", SPEC("v2"), "k2", 0, &v), LAIR_OK);
    assert_int_equal(v, 2);
    /* based on version 1, but the draft is at 2 */
    assert_int_equal(assistants_update(tdb, "etat-civil", SPEC("stale"), "k2", 1, &v),
                     LAIR_ECONFLICT);
    assert_int_equal(v, 2);
    assert_int_equal(assistants_update(tdb, "etat-civil", SPEC("v3"), "k2", 2, &v), LAIR_OK);
    assert_int_equal(v, 3);
    assert_int_equal(assistants_update(tdb, "nope", SPEC("x"), "k2", 0, &v), LAIR_ENOTFOUND);

    /* publish a given version, then the draft */
    assert_int_equal(assistants_publish(tdb, "etat-civil", 2, &pub), LAIR_OK);
    assert_int_equal(pub, 2);
    expect_spec("etat-civil", ASSISTANT_PUBLISHED, SPEC("v2"), 2);
    expect_spec("etat-civil", ASSISTANT_DRAFT, SPEC("v3"), 3);
    assert_int_equal(assistants_publish(tdb, "etat-civil", ASSISTANT_DRAFT, &pub), LAIR_OK);
    assert_int_equal(pub, 3);
    assert_int_equal(assistants_publish(tdb, "etat-civil", 9, &pub), LAIR_ENOTFOUND);
    assert_int_equal(assistants_publish(tdb, "nope", ASSISTANT_DRAFT, &pub), LAIR_ENOTFOUND);
    expect_spec("etat-civil", ASSISTANT_PUBLISHED, SPEC("v3"), 3);

    /* restore 1: a new draft (4) with 1's spec; the published one stays 3 */
    assert_int_equal(assistants_restore(tdb, "etat-civil", 1, "k3", &v), LAIR_OK);
    assert_int_equal(v, 4);
    expect_spec("etat-civil", ASSISTANT_DRAFT, SPEC("v1"), 4);
    expect_spec("etat-civil", ASSISTANT_PUBLISHED, SPEC("v3"), 3);
    expect_spec("etat-civil", 2, SPEC("v2"), 2);
    assert_int_equal(assistants_restore(tdb, "etat-civil", 7, "k3", &v), LAIR_ENOTFOUND);
    assert_null(get("etat-civil", 5, NULL));

    struct collect c = {0};
    assert_int_equal(assistants_versions(tdb, "etat-civil", collect_version, &c), LAIR_OK);
    assert_int_equal(c.n, 4);
    for (int i = 0; i < 4; i++)
        assert_int_equal(c.v[i].version, i + 1);
    assert_string_equal(c.v[0].author, "k1");
    assert_string_equal(c.v[3].author, "k3");
    assert_string_equal(c.v[1].name, "v2");
    assert_true(c.v[3].draft && !c.v[3].published);
    assert_true(c.v[2].published && !c.v[2].draft);

    struct assistant_info info;
    char *s = NULL;
    assert_int_equal(assistants_get(tdb, "etat-civil", ASSISTANT_DRAFT, &s, NULL, &info), LAIR_OK);
    free(s);
    assert_int_equal(info.version, 4);
    assert_int_equal(info.published_version, 3);
    assert_string_equal(info.name, "v1");

    /* listings: the draft's name; published only: the published version's */
    assert_int_equal(assistants_create(tdb, "brouillon", "{\"name\":\"B\"}", "k1", &v), LAIR_OK);
    c = (struct collect){0};
    assert_int_equal(assistants_list(tdb, false, collect_assistant, &c), LAIR_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.a[0].slug, "brouillon");
    assert_int_equal(c.a[0].published_version, 0);
    assert_string_equal(c.a[1].slug, "etat-civil");
    assert_string_equal(c.a[1].name, "v1");
    assert_int_equal(c.a[1].version, 4);
    assert_int_equal(c.a[1].published_version, 3);
    c = (struct collect){0};
    assert_int_equal(assistants_list(tdb, true, collect_assistant, &c), LAIR_OK);
    assert_int_equal(c.n, 1);
    assert_string_equal(c.a[0].name, "v3");

    /* apply: unchanged when equal to the draft, else a new version */
    enum assistant_apply_outcome out;
    assert_int_equal(assistants_apply(tdb, "etat-civil", SPEC("v1"), "cli", &v, &out), LAIR_OK);
    assert_int_equal(out, ASSISTANT_UNCHANGED);
    assert_int_equal(v, 4);
    assert_int_equal(assistants_apply(tdb, "etat-civil", SPEC("v5"), "cli", &v, &out), LAIR_OK);
    assert_int_equal(out, ASSISTANT_UPDATED);
    assert_int_equal(v, 5);
    assert_int_equal(assistants_apply(tdb, "nouveau", "{\"name\":\"N\"}", "cli", &v, &out),
                     LAIR_OK);
    assert_int_equal(out, ASSISTANT_CREATED);
    assert_int_equal(v, 1);

    /* another tenant sees none of it */
    struct tenant_db *b;
    assert_int_equal(tenants_get(tenants, "ville-b", &b), LAIR_OK);
    assert_int_equal(assistants_get(b, "etat-civil", ASSISTANT_DRAFT, &s, NULL, NULL),
                     LAIR_ENOTFOUND);
    c = (struct collect){0};
    assert_int_equal(assistants_list(b, false, collect_assistant, &c), LAIR_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(assistants_delete(b, "etat-civil"), LAIR_ENOTFOUND);
    tenant_db_put(b);

    /* delete removes the versions; the slug can start a fresh history */
    assert_int_equal(assistants_delete(tdb, "etat-civil"), LAIR_OK);
    assert_int_equal(assistants_delete(tdb, "etat-civil"), LAIR_ENOTFOUND);
    assert_null(get("etat-civil", 2, NULL));
    c = (struct collect){0};
    assert_int_equal(assistants_versions(tdb, "etat-civil", collect_version, &c), LAIR_ENOTFOUND);
    assert_int_equal(assistants_create(tdb, "etat-civil", SPEC("again"), "k1", &v), LAIR_OK);
    assert_int_equal(v, 1);
    assert_int_equal(assistants_delete(tdb, "etat-civil"), LAIR_OK);
    assert_int_equal(assistants_delete(tdb, "brouillon"), LAIR_OK);
    assert_int_equal(assistants_delete(tdb, "nouveau"), LAIR_OK);
}

/* ---- concurrency ---- */

#define THREADS 4
#define UPDATES 25

struct worker {
    struct tenant_db *db;
    int id, ok;
    pthread_barrier_t *start;
};

static void *update_many(void *arg)
{
    struct worker *w = arg;
    pthread_barrier_wait(w->start);
    for (int j = 0; j < UPDATES; j++) {
        char spec[64];
        snprintf(spec, sizeof(spec), "{\"slug\":\"conc\",\"name\":\"t%d-%d\"}", w->id, j);
        int v;
        if (assistants_update(w->db, "conc", spec, "k", 0, &v) == LAIR_OK)
            w->ok++;
    }
    return NULL;
}

static void check_names(void *arg, const struct assistant_version_info *v)
{
    /* every update is present exactly once: count by name */
    int *seen = arg;
    int t, j;
    if (sscanf(v->name, "t%d-%d", &t, &j) == 2 && t >= 0 && t < 2 * THREADS && j >= 0 &&
        j < UPDATES)
        seen[t * UPDATES + j]++;
    seen[2 * THREADS * UPDATES] =
        v->version > seen[2 * THREADS * UPDATES] ? v->version : seen[2 * THREADS * UPDATES];
    seen[2 * THREADS * UPDATES + 1]++;
}

/* Writers on the server's shared connection and on a second connection (as
 * the CLI has) at once: every update becomes its own version, none lost. */
static void test_concurrent_updates(void **state)
{
    (void)state;
    int v;
    assert_int_equal(assistants_create(tdb, "conc", "{\"name\":\"base\"}", "k", &v), LAIR_OK);
    struct tenants *other;
    struct tenant_db *odb;
    assert_int_equal(tenants_new(data, sys, &other), LAIR_OK);
    assert_int_equal(tenants_get(other, "ville-a", &odb), LAIR_OK);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, 2 * THREADS);
    pthread_t th[2 * THREADS];
    struct worker w[2 * THREADS];
    for (int i = 0; i < 2 * THREADS; i++) {
        w[i] = (struct worker){.db = i < THREADS ? tdb : odb, .id = i, .start = &start};
        pthread_create(&th[i], NULL, update_many, &w[i]);
    }
    for (int i = 0; i < 2 * THREADS; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].ok, UPDATES);
    }
    pthread_barrier_destroy(&start);

    static int seen[2 * THREADS * UPDATES + 2];
    memset(seen, 0, sizeof(seen));
    assert_int_equal(assistants_versions(tdb, "conc", check_names, seen), LAIR_OK);
    for (int i = 0; i < 2 * THREADS * UPDATES; i++)
        if (seen[i] != 1)
            fail_msg("update %d appears %d times", i, seen[i]);
    int total = 1 + 2 * THREADS * UPDATES;
    assert_int_equal(seen[2 * THREADS * UPDATES + 1], total); /* versions listed */
    assert_int_equal(seen[2 * THREADS * UPDATES], total);     /* numbered 1..total */
    char *s = get("conc", ASSISTANT_DRAFT, &v);
    assert_non_null(s);
    assert_int_equal(v, total);
    free(s);

    tenant_db_put(odb);
    tenants_free(other);
    assert_int_equal(assistants_delete(tdb, "conc"), LAIR_OK);
}

struct racer {
    struct tenant_db *db;
    int base;
    enum lair_err e;
    pthread_barrier_t *start;
    const char *spec;
};

static void *race_one(void *arg)
{
    struct racer *r = arg;
    int v;
    pthread_barrier_wait(r->start);
    r->e = assistants_update(r->db, "race", r->spec, "k", r->base, &v);
    return NULL;
}

/* Two edits based on the same version: exactly one wins, the other gets
 * LAIR_ECONFLICT and writes nothing. */
static void test_base_version_race(void **state)
{
    (void)state;
    int v;
    assert_int_equal(assistants_create(tdb, "race", "{\"name\":\"0\"}", "k", &v), LAIR_OK);
    struct tenants *other;
    struct tenant_db *odb;
    assert_int_equal(tenants_new(data, sys, &other), LAIR_OK);
    assert_int_equal(tenants_get(other, "ville-a", &odb), LAIR_OK);
    for (int round = 0; round < 20; round++) {
        char *s = get("race", ASSISTANT_DRAFT, &v);
        free(s);
        pthread_barrier_t start;
        pthread_barrier_init(&start, NULL, 2);
        struct racer r[2] = {
            {.db = tdb, .base = v, .start = &start, .spec = "{\"name\":\"A\"}"},
            {.db = round % 2 ? odb : tdb, .base = v, .start = &start, .spec = "{\"name\":\"B\"}"},
        };
        pthread_t th[2];
        for (int i = 0; i < 2; i++)
            pthread_create(&th[i], NULL, race_one, &r[i]);
        for (int i = 0; i < 2; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&start);
        assert_true((r[0].e == LAIR_OK && r[1].e == LAIR_ECONFLICT) ||
                    (r[1].e == LAIR_OK && r[0].e == LAIR_ECONFLICT));
        int after;
        s = get("race", ASSISTANT_DRAFT, &after);
        assert_int_equal(after, v + 1);
        /* the draft is the winner's */
        assert_string_equal(s, r[0].e == LAIR_OK ? r[0].spec : r[1].spec);
        free(s);
    }
    tenant_db_put(odb);
    tenants_free(other);
    assert_int_equal(assistants_delete(tdb, "race"), LAIR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_example),     cmocka_unit_test(test_defaults_and_canonical),
        cmocka_unit_test(test_bad_fields),         cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_ranges_at_bounds),   cmocka_unit_test(test_origins),
        cmocka_unit_test(test_origin_canonical),   cmocka_unit_test(test_store_versions),
        cmocka_unit_test(test_concurrent_updates), cmocka_unit_test(test_base_version_race),
        cmocka_unit_test(test_widget_theme),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
