/* The spelling suggester (src/rag/spell.h) and the searches that use it
 * (fts_query_build, fts_search_run): a misspelled word finds its passage, an
 * exact word ranks above a corrected one, a word of the vocabulary is never
 * corrected, candidates are bounded, and the snapshot follows the index. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "rag/analyzer.h"
#include "rag/fts.h"
#include "rag/spell.h"
#include "core/banned.h"

static const char *const docs[] = {
    /* 1 */ "Demander un acte de naissance à la mairie du lieu de naissance.",
    /* 2 */ "Inscription à la cantine scolaire : les pièces justificatives à fournir.",
    /* 3 */ "La carte grise, ou certificat d'immatriculation, se demande en ligne.",
    /* 4 */ "Le mariage civil est célébré à la mairie.",
    /* 5 */ "La naissence du projet : un document qui écrit mal ce mot, une fois.",
    /* 6 */
    "Rembourser son crédit immobilier par anticipation : les indemnités, "
    "la scolarité.",
};

struct fixture {
    sqlite3 *db;
    sqlite3_stmt *ins;
    struct fts_search *search;
    struct spell *spell;
    struct analyzer *an;
};

static int add_doc(struct fixture *f, int64_t id, const char *text)
{
    sqlite3_bind_int64(f->ins, 1, id);
    sqlite3_bind_text(f->ins, 2, text, -1, SQLITE_STATIC);
    int rc = sqlite3_step(f->ins);
    sqlite3_reset(f->ins);
    return rc == SQLITE_DONE ? 0 : -1;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    if (!f || sqlite3_open(":memory:", &f->db) != SQLITE_OK || fts_register(f->db) != LAIR_OK ||
        sqlite3_exec(f->db, "CREATE VIRTUAL TABLE docs USING fts5(text, tokenize = 'lair_fr')",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(f->db, "INSERT INTO docs(rowid, text) VALUES (?1, ?2)", -1, &f->ins,
                           NULL) != SQLITE_OK)
        return -1;
    /* doc 5 only in the test that needs a word that is in the index twice */
    for (size_t i = 0; i < 4; i++)
        if (add_doc(f, (int64_t)i + 1, docs[i]))
            return -1;
    if (fts_search_new(f->db, "docs", &f->search) != LAIR_OK || spell_new(&f->spell) != LAIR_OK ||
        analyzer_new(&f->an) != LAIR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    fts_search_free(f->search);
    spell_free(f->spell);
    analyzer_free(f->an);
    sqlite3_finalize(f->ins);
    sqlite3_close(f->db);
    free(f);
    return 0;
}

/* The hits of question, best first. */
static size_t search(struct fixture *f, const char *question, struct fts_hit *hits, size_t k)
{
    size_t n = 99;
    assert_int_equal(fts_search_run(f->search, str_c(question), k, hits, &n), LAIR_OK);
    assert_true(n <= k);
    for (size_t i = 1; i < n; i++)
        assert_true(hits[i - 1].score >= hits[i].score);
    return n;
}

static int64_t best(struct fixture *f, const char *question)
{
    struct fts_hit hits[5];
    return search(f, question, hits, 5) ? hits[0].rowid : 0;
}

static char *term(struct fixture *f, const char *word, char *out)
{
    assert_true(analyzer_term_of(f->an, str_c(word), 0, out, ANALYZER_TERM_MAX + 1) > 0);
    return out;
}

static void test_distance(void **state)
{
    (void)state;
    assert_int_equal(spell_distance("naissanc", 8, "naissanc", 8, 2), 0);
    assert_int_equal(spell_distance("naissanc", 8, "naissenc", 8, 2), 1);  /* replaced */
    assert_int_equal(spell_distance("naissanc", 8, "naisanc", 7, 2), 1);   /* dropped */
    assert_int_equal(spell_distance("naissanc", 8, "naisssanc", 9, 2), 1); /* doubled */
    assert_int_equal(spell_distance("mariag", 6, "mairag", 6, 2), 1);      /* swapped */
    assert_int_equal(spell_distance("abcdef", 6, "badcfe", 6, 3), 3);
    /* over the bound: bound + 1, whatever the true distance */
    assert_int_equal(spell_distance("naissanc", 8, "mariag", 6, 1), 2);
    assert_int_equal(spell_distance("a", 1, "abcd", 4, 2), 3);
    assert_int_equal(spell_max_dist(3), 0);
    assert_int_equal(spell_max_dist(4), 1);
    assert_int_equal(spell_max_dist(7), 1);
    assert_int_equal(spell_max_dist(8), 2);
}

static void test_misspelled_word_finds_passage(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(best(f, "acte de naissence"), 1);
    assert_int_equal(best(f, "inscripsion cantine"), 2);
    assert_int_equal(best(f, "carte grisse"), 3);
    assert_int_equal(best(f, "mairage"), 4);
    /* the whole question misspelled: still found, through corrections only */
    assert_int_equal(best(f, "naissence"), 1);
    /* with corrections off, the misspelled word alone finds nothing */
    setenv("LIBREAIR_SPELL", "off", 1);
    assert_int_equal(best(f, "naissence"), 0);
    unsetenv("LIBREAIR_SPELL");
}

static void test_exact_ranks_above_corrected(void **state)
{
    struct fixture *f = *state;
    /* doc 5 holds the misspelling itself: the question's exact word */
    assert_int_equal(add_doc(f, 5, docs[4]), 0);
    struct fts_hit hits[5];
    size_t n = search(f, "naissence", hits, 5);
    /* present in the index: not corrected, so only the exact match */
    assert_int_equal(n, 1);
    assert_int_equal(hits[0].rowid, 5);
    /* a question with an exact word and a corrected one, each in one
     * passage: the passage with the exact word ranks first */
    n = search(f, "grisse mariage", hits, 5);
    assert_int_equal(n, 2);
    assert_int_equal(hits[0].rowid, 4);
    assert_int_equal(hits[1].rowid, 3);
    struct fts_query q;
    fts_query_init(&q);
    assert_int_equal(fts_query_build(f->an, f->db, "docs", str_c("carte grisse"), &q), LAIR_OK);
    assert_int_equal(q.n_corrected, 1);
    assert_true(q.n_phrases >= 3);
    /* weights: the question's words 1, the corrections below, same slot */
    const double *w = (const double *)q.weights.ptr;
    assert_int_equal(q.weights.len, q.n_phrases * 2 * sizeof(double));
    assert_true(w[0] == 1 && w[1] == 0);
    assert_true(w[2] == 1 && w[3] == 1);
    for (size_t i = 2; i < q.n_phrases; i++) {
        assert_true(w[2 * i] < 1);
        assert_true(w[2 * i + 1] == 1);
    }
    /* the corrected passage scores below what the exact word gives */
    struct fts_hit exact[5], fixed[5];
    assert_true(search(f, "carte grise", exact, 5) >= 1);
    assert_true(search(f, "carte grisse", fixed, 5) >= 1);
    assert_int_equal(exact[0].rowid, 3);
    assert_int_equal(fixed[0].rowid, 3);
    assert_true(exact[0].score > fixed[0].score);
    fts_query_release(&q);
}

static void test_no_correction_for_known_words(void **state)
{
    struct fixture *f = *state;
    struct fts_query q;
    fts_query_init(&q);
    assert_int_equal(
        fts_query_build(f->an, f->db, "docs", str_c("acte de naissance à la mairie"), &q), LAIR_OK);
    assert_int_equal(q.n_corrected, 0);
    assert_int_equal(q.n_phrases, 3);
    assert_null(strchr(q.expr.ptr, FTS_VERBATIM[0]));
    /* short words (< SPELL_MIN_CHARS) and words with digits are left alone */
    assert_int_equal(fts_query_build(f->an, f->db, "docs", str_c("act L2121-29 zzz"), &q), LAIR_OK);
    assert_int_equal(q.n_corrected, 0);
    /* without a table, no correction at all (fts_match_expr) */
    assert_int_equal(fts_query_build(f->an, NULL, NULL, str_c("naissence"), &q), LAIR_OK);
    assert_int_equal(q.n_corrected, 0);
    assert_int_equal(q.n_phrases, 1);
    fts_query_release(&q);

    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    char t[ANALYZER_TERM_MAX + 1];
    struct spell_cand c[4];
    term(f, "naissance", t);
    assert_true(spell_df(f->spell, t, strlen(t)) == 1);
    /* the term itself is never its own correction */
    size_t n = spell_suggest(f->spell, t, strlen(t), 2, c, 4);
    for (size_t i = 0; i < n; i++)
        assert_false(strcmp(c[i].term, t) == 0);
}

static void test_bounded_candidates(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    assert_true(spell_size(f->spell) > 10);
    char t[ANALYZER_TERM_MAX + 1], want[ANALYZER_TERM_MAX + 1];
    struct spell_cand c[8];
    term(f, "naissence", t);
    term(f, "naissance", want);
    size_t n = spell_suggest(f->spell, t, strlen(t), 2, c, 8);
    assert_true(n >= 1);
    assert_string_equal(c[0].term, want);
    assert_int_equal(c[0].dist, 1);
    /* every candidate within the bound, closest first, at most max */
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i].dist >= 1 && c[i].dist <= 2);
        assert_int_equal(spell_distance(t, strlen(t), c[i].term, c[i].len, 2), c[i].dist);
        if (i)
            assert_true(c[i - 1].dist <= c[i].dist);
    }
    assert_int_equal(spell_suggest(f->spell, t, strlen(t), 2, c, 1), 1);
    assert_int_equal(spell_suggest(f->spell, t, strlen(t), 2, c, 0), 0);
    /* bound 0 or a word far from everything: nothing */
    assert_int_equal(spell_suggest(f->spell, t, strlen(t), 0, c, 8), 0);
    assert_int_equal(spell_suggest(f->spell, "zzzzzzzz", 8, 2, c, 8), 0);
    /* a bound above SPELL_MAX_DIST is clamped */
    n = spell_suggest(f->spell, t, strlen(t), 9, c, 8);
    for (size_t i = 0; i < n; i++)
        assert_true(c[i].dist <= SPELL_MAX_DIST);
    /* a query corrects at most FTS_SPELL_CANDS candidates per word and
     * FTS_SPELL_WORDS_MAX words */
    struct fts_query q;
    fts_query_init(&q);
    assert_int_equal(
        fts_query_build(f->an, f->db, "docs",
                        str_c("naissence mairrie cantinne mairage grisse justificatvies "
                              "immatriculatoin scolaiire civill celebre demandee"),
                        &q),
        LAIR_OK);
    assert_true(q.n_corrected >= 5);
    assert_true(q.n_corrected <= FTS_SPELL_WORDS_MAX);
    assert_true(q.n_phrases <= 11 + FTS_SPELL_WORDS_MAX * FTS_SPELL_CANDS);
    fts_query_release(&q);
    /* a bad table name is refused, an unknown table is a database error */
    assert_int_equal(spell_sync(f->spell, f->db, "docs; DROP TABLE docs"), LAIR_EINVAL);
    assert_int_equal(spell_sync(f->spell, f->db, "nope"), LAIR_EDB);
    assert_int_equal(spell_size(f->spell), 0);
}

/* A typo in a word's ending ("anticipaion") leaves an ending the stemmer
 * does not strip: the typed word's term is far from the index's, and only
 * the typed word's one-edit variants (spell_suggest_word) find it. */
static void test_typed_word_corrections(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(add_doc(f, 6, docs[5]), 0);
    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    char typo[ANALYZER_TERM_MAX + 1], want[ANALYZER_TERM_MAX + 1];
    term(f, "anticipaion", typo);
    term(f, "anticipation", want);
    assert_true(strlen(typo) > strlen(want) + 2); /* "anticipaion" keeps its ending */
    struct spell_cand c[FTS_SPELL_CANDS];
    size_t n = spell_suggest(f->spell, typo, strlen(typo), 2, c, FTS_SPELL_CANDS);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(c[i].term, want);
    n = spell_suggest_word(f->spell, f->an, str_c("anticipaion"), c, FTS_SPELL_CANDS);
    assert_int_equal(n, 1);
    assert_string_equal(c[0].term, want);
    assert_int_equal(c[0].dist, 1);
    assert_int_equal(c[0].df, 1);
    /* through a search, and not without it */
    assert_int_equal(best(f, "remboursement par anticipaion"), 6);
    assert_int_equal(best(f, "anticipaion"), 6);
    setenv("LIBREAIR_SPELL_WORD", "off", 1);
    assert_int_equal(best(f, "anticipaion"), 0);
    unsetenv("LIBREAIR_SPELL_WORD");
    /* an accent restored, a letter doubled, neighbours swapped: each in the
     * ending; a typo before it is spell_suggest's ("imatriculation") */
    static const char *const fixes[][2] = {{"scolarite", "scolarité"},
                                           {"immatriculatoin", "immatriculation"},
                                           {"cantinne", "cantine"},
                                           {"justificatvies", "justificatives"}};
    for (size_t i = 0; i < sizeof(fixes) / sizeof(fixes[0]); i++) {
        n = spell_suggest_word(f->spell, f->an, str_c(fixes[i][0]), c, FTS_SPELL_CANDS);
        assert_true(n >= 1);
        assert_string_equal(c[0].term, term(f, fixes[i][1], want));
    }
    n = spell_suggest_word(f->spell, f->an, str_c("imatriculation"), c, FTS_SPELL_CANDS);
    assert_int_equal(n, 0);
    /* the first letter is left alone: "tarte" is not "carte" */
    n = spell_suggest_word(f->spell, f->an, str_c("tarte"), c, FTS_SPELL_CANDS);
    term(f, "carte", want);
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(c[i].term, want);
    /* never the word's own term, at most max, most frequent first */
    n = spell_suggest_word(f->spell, f->an, str_c("naissance"), c, FTS_SPELL_CANDS);
    term(f, "naissance", want);
    for (size_t i = 0; i < n; i++) {
        assert_string_not_equal(c[i].term, want);
        assert_int_equal(c[i].dist, 1);
        if (i)
            assert_true(c[i - 1].df >= c[i].df);
    }
    assert_int_equal(spell_suggest_word(f->spell, f->an, str_c("anticipaion"), c, 0), 0);
    /* too long, too short, not UTF-8: nothing */
    assert_int_equal(
        spell_suggest_word(f->spell, f->an, str_c("anticipaionanticipaionanticipaion"), c, 3), 0);
    assert_int_equal(spell_suggest_word(f->spell, f->an, str_c("a"), c, 3), 0);
    assert_int_equal(spell_suggest_word(f->spell, f->an, (struct str){"ant\xff\xfeion", 9}, c, 3),
                     0);
}

static void test_snapshot_follows_index(void **state)
{
    struct fixture *f = *state;
    char t[ANALYZER_TERM_MAX + 1];
    term(f, "préfecture", t);
    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    size_t before = spell_size(f->spell);
    assert_int_equal(spell_df(f->spell, t, strlen(t)), 0);
    assert_int_equal(best(f, "prefectrue"), 0);
    assert_int_equal(add_doc(f, 9, "Les horaires de la préfecture."), 0);
    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    assert_true(spell_size(f->spell) > before);
    assert_int_equal(spell_df(f->spell, t, strlen(t)), 1);
    /* the search's own snapshot (per connection) follows too */
    assert_int_equal(best(f, "prefectrue"), 9);
    assert_int_equal(sqlite3_exec(f->db, "DELETE FROM docs WHERE rowid = 9", NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(spell_sync(f->spell, f->db, "docs"), LAIR_OK);
    assert_int_equal(spell_df(f->spell, t, strlen(t)), 0);
    assert_int_equal(best(f, "prefectrue"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance),
        cmocka_unit_test_setup_teardown(test_misspelled_word_finds_passage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_ranks_above_corrected, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_correction_for_known_words, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounded_candidates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_typed_word_corrections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_follows_index, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
