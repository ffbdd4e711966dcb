/* Tests of the assistant generator's structural fallback (src/assist/generate.c)
 * and of template validation (src/assist/templates.c): headings become
 * "Comment … ?" / "Où … ?" / "Quels sont les … ?" questions, each case of the
 * suite expects the document its heading came from, documents without
 * headings fall back on their title, the same bases give the same bytes, an
 * unknown or empty base is refused naming the field; a template carrying a
 * tenant's data is refused, the shipped ones parse. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "assist/generate.h"
#include "assist/templates.h"
#include "rag/chunk.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"

#include "core/banned.h"

static char dir[256], data[300];
static struct sysdb *sys;
static struct tenants *tenants;
static struct tenant_db *db;

static void put(const char *doc, const char *title, const char *const *headings, size_t n)
{
    struct kb_chunk_in in[8];
    unsigned char hash[8][KB_HASH_BYTES];
    for (size_t i = 0; i < n; i++) {
        chunk_hash(str_c(headings[i]), str_c(doc), hash[i]);
        in[i] = (struct kb_chunk_in){
            .text = str_c(doc), .heading_path = headings[i], .tokens = 4, .hash = hash[i]};
    }
    struct kb_doc_in d = {.name = doc,
                          .sha256 =
                              "0000000000000000000000000000000000000000000000000000000000000000",
                          .size = 10,
                          .format = "markdown",
                          .title = title};
    struct kb_put_result res;
    assert_int_equal(kb_document_put(db, "demarches", &d, in, n, NULL, 0, 0, 0, &res), LAIR_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-gen-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        tenants_create(tenants, "ville", "Ville") || tenants_get(tenants, "ville", &db))
        return -1;
    if (kb_create(db, "demarches", "Démarches") || kb_create(db, "vide", NULL))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tenant_db_put(db);
    tenants_free(tenants);
    sysdb_free(sys);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void questions(void **state)
{
    (void)state;
    char q[GEN_QUESTION_MAX + 1];
    gen_question("Demander un acte de naissance", q, sizeof(q));
    assert_string_equal(q, "Comment demander un acte de naissance ?");
    gen_question("S'inscrire sur les listes électorales", q, sizeof(q));
    assert_string_equal(q, "Comment s'inscrire sur les listes électorales ?");
    gen_question("Adresse de la mairie annexe", q, sizeof(q));
    assert_string_equal(q, "Où trouver « Adresse de la mairie annexe » ?");
    gen_question("Horaires d'ouverture", q, sizeof(q));
    assert_string_equal(q, "Quels sont les horaires d'ouverture ?");
    gen_question("Élections municipales", q, sizeof(q));
    assert_string_equal(q, "Que faut-il savoir sur « Élections municipales » ?");
    gen_question("Comment payer la cantine", q, sizeof(q));
    assert_string_equal(q, "Comment payer la cantine ?");
    gen_question("Qui peut voter ?", q, sizeof(q));
    assert_string_equal(q, "Qui peut voter ?");
    gen_question("", q, sizeof(q));
    assert_string_equal(q, "");
    char slug[64];
    gen_slug("Assistant État civil – Mairie d'Œuilly", slug);
    assert_string_equal(slug, "assistant-etat-civil-mairie-d-oeuilly");
    gen_slug("« »", slug);
    assert_string_equal(slug, "assistant");
}

static void generate_from_headings(void **state)
{
    (void)state;
    const char *const a[] = {"Acte de naissance > 1. Demander un acte de naissance",
                             "Acte de naissance > Horaires du service"};
    const char *const b[] = {"Déchets > Déchetterie du Moulin :", "Déchets > Trier ses emballages"};
    const char *const none[] = {""};
    put("naissance.md", "Acte de naissance", a, 2);
    put("dechets.md", NULL, b, 2);
    put("plan-velo_2024.txt", NULL, none, 1);
    const char *kbs[] = {"demarches"};
    struct gen_opts o = {.kbs = kbs, .n_kbs = 1};
    json_t *spec, *suite;
    struct gen_error err;
    assert_int_equal(gen_assistant(db, &o, &spec, &suite, &err), LAIR_OK);
    assert_string_equal(json_string_value(json_object_get(spec, "name")), "Assistant Démarches");
    assert_string_equal(json_string_value(json_object_get(spec, "slug")), "assistant-demarches");
    assert_string_equal(json_string_value(json_object_get(spec, "model")), "default");
    assert_string_equal(json_string_value(json_object_get(spec, "citations")), "required");
    /* documents in turn: every document once before any twice (by name) */
    json_t *cases = json_object_get(suite, "cases");
    assert_int_equal(json_array_size(cases), 5);
    static const char *const want[][2] = {
        {"Où trouver « Déchetterie du Moulin » ?", "dechets.md"},
        {"Comment demander un acte de naissance ?", "naissance.md"},
        {"Que faut-il savoir sur « plan velo 2024 » ?", "plan-velo_2024.txt"},
        {"Comment trier ses emballages ?", "dechets.md"},
        {"Quels sont les horaires du service ?", "naissance.md"},
    };
    for (size_t i = 0; i < 5; i++) {
        json_t *c = json_array_get(cases, i);
        assert_string_equal(json_string_value(json_object_get(c, "question")), want[i][0]);
        json_t *src = json_object_get(json_object_get(c, "expect"), "sources");
        assert_int_equal(json_array_size(src), 1);
        assert_string_equal(json_string_value(json_array_get(src, 0)), want[i][1]);
        assert_string_equal(json_string_value(json_object_get(c, "category")), "demarches");
    }
    json_t *starters = json_object_get(spec, "starters");
    assert_int_equal(json_array_size(starters), GEN_MAX_STARTERS);
    assert_string_equal(json_string_value(json_array_get(starters, 1)),
                        "Comment demander un acte de naissance ?");
    /* deterministic */
    json_t *spec2, *suite2;
    assert_int_equal(gen_assistant(db, &o, &spec2, &suite2, &err), LAIR_OK);
    assert_true(json_equal(spec, spec2) && json_equal(suite, suite2));
    json_decref(spec2);
    json_decref(suite2);
    json_decref(spec);
    json_decref(suite);
}

/* A document named by a code, without headings or title, in a base of
 * its own. */
static void put_coded(const char *name, const char *text)
{
    unsigned char hash[KB_HASH_BYTES];
    chunk_hash(str_c(""), str_c(text), hash);
    struct kb_chunk_in in = {.text = str_c(text), .heading_path = "", .tokens = 4, .hash = hash};
    struct kb_doc_in d = {.name = name,
                          .sha256 =
                              "1111111111111111111111111111111111111111111111111111111111111111",
                          .size = 10,
                          .format = "text"};
    struct kb_put_result res;
    assert_int_equal(kb_document_put(db, "codes", &d, &in, 1, NULL, 0, 0, 0, &res), LAIR_OK);
}

/* A file name without words (F1234.txt) says nothing: the question comes
 * from the text's opening, its title line (a thin label such as "Oui"
 * passed over) or its first sentence cut after 12 words. */
static void generate_from_openings(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "codes", "Codes"), LAIR_OK);
    put_coded("F1.txt", "Carte grise d'un véhicule d'occasion\nLe vendeur remet la carte.");
    put_coded("F2.txt", "Le propriétaire d'un logement soumis à la loi de 1948 peut décider de "
                        "vendre, de louer ou de reprendre son bien. Suite.");
    put_coded("F3.txt", "Oui\nLa déclaration de naissance est obligatoire.");
    put_coded("F4.txt", "");
    const char *kbs[] = {"codes"};
    struct gen_opts o = {.kbs = kbs, .n_kbs = 1};
    json_t *spec, *suite;
    struct gen_error err;
    assert_int_equal(gen_assistant(db, &o, &spec, &suite, &err), LAIR_OK);
    static const char *const want[] = {
        "Que faut-il savoir sur « Carte grise d'un véhicule d'occasion » ?",
        "Que faut-il savoir sur « Le propriétaire d'un logement soumis à la loi de 1948 peut "
        "décider… » ?",
        "Que faut-il savoir sur « La déclaration de naissance est obligatoire » ?",
        "Que faut-il savoir sur « F4 » ?",
    };
    json_t *cases = json_object_get(suite, "cases");
    assert_int_equal(json_array_size(cases), 4);
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(cases, i), "question")), want[i]);
    json_decref(spec);
    json_decref(suite);
}

static void refusals(void **state)
{
    (void)state;
    const char *kbs[] = {"demarches", "nope"};
    struct gen_opts o = {.kbs = kbs, .n_kbs = 2};
    json_t *spec, *suite;
    struct gen_error err;
    assert_int_equal(gen_assistant(db, &o, &spec, &suite, &err), LAIR_EUNPROC);
    assert_string_equal(err.field, "knowledge_bases[1]");
    assert_string_equal(err.code, "unknown_knowledge_base");
    assert_null(spec);
    const char *empty[] = {"vide"};
    o = (struct gen_opts){.kbs = empty, .n_kbs = 1};
    assert_int_equal(gen_assistant(db, &o, &spec, &suite, &err), LAIR_EUNPROC);
    assert_string_equal(err.code, "no_documents");
}

static void templates(void **state)
{
    (void)state;
    json_t *t, *out;
    bool shipped;
    assert_int_equal(template_get(data, "etat-civil", &t, &shipped), LAIR_OK);
    assert_true(shipped);
    assert_int_equal(json_array_size(json_object_get(json_object_get(t, "suite"), "cases")), 3);
    json_t *spec = template_instantiate(t, "ec", NULL, "default", NULL);
    assert_string_equal(json_string_value(json_object_get(spec, "name")), "Assistant état civil");
    json_decref(spec);
    json_decref(t);
    struct template_error err;
    json_t *bad = json_pack("{s:s, s:{s:[s]}}", "name", "x", "assistant", "knowledge_bases", "k");
    assert_int_equal(template_parse(bad, &out, &err), LAIR_EUNPROC);
    assert_string_equal(err.field, "assistant.knowledge_bases");
    json_decref(bad);
    bad = json_pack("{s:s, s:{}, s:{s:s, s:[]}}", "name", "x", "assistant", "suite", "name", "s",
                    "cases");
    assert_int_equal(template_parse(bad, &out, &err), LAIR_EUNPROC);
    assert_string_equal(err.field, "suite.cases");
    json_decref(bad);
    json_t *ok = json_pack("{s:s, s:{s:s}}", "name", "piscine", "assistant", "instructions", "x");
    assert_int_equal(template_parse(ok, &out, &err), LAIR_OK);
    assert_int_equal(template_publish(data, out, NULL), LAIR_OK);
    json_decref(out);
    json_object_set_new(ok, "name", json_string("urbanisme"));
    assert_int_equal(template_parse(ok, &out, &err), LAIR_OK);
    assert_int_equal(template_publish(data, out, NULL), LAIR_ECONFLICT);
    json_decref(out);
    json_decref(ok);
    assert_int_equal(template_get(data, "piscine", &t, &shipped), LAIR_OK);
    assert_false(shipped);
    json_decref(t);
    assert_int_equal(template_delete(data, "urbanisme"), LAIR_ECONFLICT);
    assert_int_equal(template_delete(data, "piscine"), LAIR_OK);
    assert_int_equal(template_delete(data, "piscine"), LAIR_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(questions),
        cmocka_unit_test(generate_from_headings),
        cmocka_unit_test(generate_from_openings),
        cmocka_unit_test(refusals),
        cmocka_unit_test(templates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
