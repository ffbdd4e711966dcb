/* Unit tests for src/eval/judge.c (the strict reading of the judge's
 * verdict, its prompt) and src/eval/chart.c (the SVG: escaping of every
 * text, an inert document with a title and a description). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/chart.h"
#include "eval/judge.h"

static enum eval_verdict parse(const char *s, char *reason, size_t n)
{
    return eval_judge_parse(str_c(s), reason, n);
}

static void test_parse(void **state)
{
    (void)state;
    char r[EVAL_JUDGE_REASON_MAX + 1];
    assert_int_equal(parse("OUI\nbonne réponse", r, sizeof(r)), EVAL_VERDICT_PASS);
    assert_string_equal(r, "bonne réponse");
    assert_int_equal(parse("  \n NON  \r\n  il manque\n\tla mairie  \n", r, sizeof(r)),
                     EVAL_VERDICT_FAIL);
    assert_string_equal(r, "il manque la mairie");
    assert_int_equal(parse("OUI", r, sizeof(r)), EVAL_VERDICT_PASS);
    assert_string_equal(r, "");
    /* anything else is unreadable: no guessing */
    const char *bad[] = {"",           "oui\nok",  "Oui\nok",      "OUI, bien sûr\nok",
                         "OUIOUI\nok", "NON.\nok", "Je pense OUI", "Once upon a time OUI\n",
                         "\n\n",       "OU\nI",    "NONE\nx",      "YES\nfine"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        strcpy(r, "x");
        assert_int_equal(parse(bad[i], r, sizeof(r)), EVAL_VERDICT_UNREADABLE);
        assert_string_equal(r, "");
    }
    /* the reason is cut at a character boundary, to the cap */
    char big[1200];
    size_t len = 0;
    len += (size_t)snprintf(big, sizeof(big), "NON\n");
    while (len + 2 < sizeof(big))
        len += (size_t)snprintf(big + len, sizeof(big) - len, "é");
    assert_int_equal(parse(big, r, sizeof(r)), EVAL_VERDICT_FAIL);
    assert_true(strlen(r) <= EVAL_JUDGE_REASON_MAX);
    assert_true(strlen(r) % 2 == 0); /* whole "é"s only */
    char small[6];
    assert_int_equal(parse("OUI\nabcdefgh", small, sizeof(small)), EVAL_VERDICT_PASS);
    assert_string_equal(small, "abcde");
    assert_string_equal(eval_verdict_name(EVAL_VERDICT_UNREADABLE), "unreadable");
}

static void test_prompt(void **state)
{
    (void)state;
    char *p = eval_judge_prompt(S("Où ?"), S("À la mairie."), "Cite la mairie.");
    assert_non_null(p);
    assert_non_null(strstr(p, "<question>\nOù ?\n</question>"));
    assert_non_null(strstr(p, "<reponse>\nÀ la mairie.\n</reponse>"));
    assert_non_null(strstr(p, "<critere>\nCite la mairie.\n</critere>"));
    free(p);
    assert_non_null(strstr(eval_judge_system(), "OUI ou NON"));
}

static char *chart(const char *series, const char *lang)
{
    json_t *s = json_loads(series, 0, NULL);
    assert_non_null(s);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(eval_chart_svg(s, "etat<civil>", lang, &b), LAIR_OK);
    json_decref(s);
    return buf_detach(&b, NULL);
}

static void test_chart_escaping(void **state)
{
    (void)state;
    /* a category name with < & " ' > comes out escaped everywhere */
    char *svg = chart("[{\"version\":1,\"categories\":[{\"category\":\"a<b & \\\"c\\\" 'd'>\","
                      "\"pass_rate\":0.5}]},{\"version\":2,\"published\":true,\"categories\":"
                      "[{\"category\":\"a<b & \\\"c\\\" 'd'>\",\"pass_rate\":1}]}]",
                      "fr");
    assert_non_null(strstr(svg, "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;"));
    assert_null(strstr(svg, "a<b"));
    assert_null(strstr(svg, "\"c\""));
    assert_non_null(strstr(svg, "etat&lt;civil&gt;"));
    /* inert: no script, no event handler, no link, no style */
    assert_null(strstr(svg, "<script"));
    assert_null(strstr(svg, " on"));
    assert_null(strstr(svg, "href"));
    assert_null(strstr(svg, "style"));
    assert_non_null(strstr(svg, "<title id=\"eval-chart-title\">Taux de réussite"));
    assert_non_null(strstr(svg, "<desc id=\"eval-chart-desc\">version 1 : a&lt;b &amp; "
                                "&quot;c&quot; &#39;d&#39;&gt; 50 % ; version 2 : "));
    assert_non_null(strstr(svg, "version 2 (publiée)"));
    assert_non_null(strstr(svg, "role=\"img\""));
    /* well-formed enough: every < opens a known element or closes one */
    for (const char *p = strchr(svg, '<'); p; p = strchr(p + 1, '<'))
        assert_true(strchr("/stdrlg", p[1]) != NULL);
    free(svg);
}

static void test_chart_cases(void **state)
{
    (void)state;
    char *svg = chart("[]", "en");
    assert_non_null(strstr(svg, "<desc id=\"eval-chart-desc\">No finished evaluation run yet."));
    assert_non_null(strstr(svg, "</svg>"));
    free(svg);
    /* a category a version lacks is said, not drawn; control characters dropped */
    svg = chart("[{\"version\":3,\"categories\":[{\"category\":\"x\\u0001y\",\"pass_rate\":0}]},"
                "{\"version\":4,\"categories\":[{\"category\":\"z\",\"pass_rate\":0.25}]}]",
                "en");
    assert_non_null(strstr(svg, "version 3: xy 0 %, z not run; version 4: xy not run, z 25 %."));
    assert_null(strchr(svg, '\x01'));
    free(svg);
    /* only the newest versions are drawn */
    char big[4096];
    size_t len = (size_t)snprintf(big, sizeof(big), "[");
    for (int v = 1; v <= EVAL_CHART_MAX_VERSIONS + 3; v++)
        len += (size_t)snprintf(big + len, sizeof(big) - len,
                                "%s{\"version\":%d,\"categories\":[{\"category\":\"c\","
                                "\"pass_rate\":1}]}",
                                v > 1 ? "," : "", v);
    snprintf(big + len, sizeof(big) - len, "]");
    svg = chart(big, "fr");
    assert_null(strstr(svg, "version 3 :"));
    assert_non_null(strstr(svg, "version 4 :"));
    assert_non_null(strstr(svg, "version 11 :"));
    free(svg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_prompt),
        cmocka_unit_test(test_chart_escaping),
        cmocka_unit_test(test_chart_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
