/* The French analyzer (src/rag/analyzer.c) and its FTS5 glue (src/rag/fts.c):
 * the terms it gives for French edge cases, and search end to end on a real
 * in-memory SQLite, including questions written to break FTS5 syntax. */
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

#include "core/banned.h"

/* ---- analyzer ------------------------------------------------------------ */

static int setup_analyzer(void **state)
{
    struct analyzer *a = NULL;
    if (analyzer_new(&a) != LAIR_OK)
        return -1;
    *state = a;
    return 0;
}

static int teardown_analyzer(void **state)
{
    analyzer_free(*state);
    return 0;
}

/* The terms of text[0..len), space separated, alternatives as "|term". */
static const char *terms_n(struct analyzer *a, const char *text, size_t len, unsigned flags)
{
    static char out[16384];
    size_t n = 0;
    struct analyzer_term t;
    out[0] = 0;
    analyzer_start(a, (struct str){text, len}, flags);
    while (analyzer_next(a, &t)) {
        assert_true(t.len >= 1 && t.len <= ANALYZER_TERM_MAX);
        assert_int_equal(strlen(t.ptr), t.len);
        assert_true(t.start < t.end && t.end <= len);
        int w = snprintf(out + n, sizeof(out) - n, "%s%s%s", n ? " " : "", t.colocated ? "|" : "",
                         t.ptr);
        assert_true(w > 0 && (size_t)w < sizeof(out) - n);
        n += (size_t)w;
    }
    return out;
}

static const char *terms(struct analyzer *a, const char *text, unsigned flags)
{
    return terms_n(a, text, strlen(text), flags);
}

/* The single term of word, as a fresh string (static buffer, one of two). */
static const char *term(struct analyzer *a, const char *word)
{
    static char bufs[2][ANALYZER_TERM_MAX + 1];
    static int which;
    char *out = bufs[which ^= 1];
    analyzer_term_of(a, str_c(word), 0, out, sizeof(bufs[0]));
    return out;
}

static void test_elision_accents_case(void **state)
{
    struct analyzer *a = *state;
    assert_string_equal(terms(a, "l'école", 0), "ecol");
    assert_string_equal(terms(a, "L’École", 0), "ecol");
    assert_string_equal(terms(a, "ecoles", 0), "ecol");
    assert_string_equal(terms(a, "ÉCOLES", 0), "ecol");
    assert_string_equal(terms(a, "d'état civil", 0), "etat civil");
    assert_string_equal(terms(a, "D’ÉTAT CIVIL", 0), "etat civil");
    assert_string_equal(terms(a, "etat-civil", 0), "etat civil");
    /* Every elided word, with the straight, typographic and modifier
     * apostrophes; what remains is a stop word or a content word. */
    assert_string_equal(terms(a,
                              "l'arrêté d'office j'habite m'inscrire n'importe s'inscrire "
                              "t'appelle c'est qu'il jusqu'au lorsqu'on puisqu'elle quelqu'un",
                              0),
                        "arret offic habit inscrir import inscrir appel");
    assert_string_equal(terms(a, "l’arrêté d’office qu’il jusqu’au lorsqu’on", 0), "arret offic");
    assert_string_equal(terms(a, "lʼarrêté", 0), "arret");
    /* An apostrophe that is no elision joins the word. */
    assert_string_equal(terms(a, "aujourd'hui", 0), "aujourdhui");
    assert_string_equal(terms(a, "aujourd’hui", 0), "aujourdhui");
    assert_string_equal(terms(a, "conseil de prud'hommes", 0), "conseil prudhomm");
    /* An apostrophe used as a quote mark is a separator. */
    assert_string_equal(terms(a, "'mairie' l' école", 0), "mair ecol");
}

static void test_offsets(void **state)
{
    struct analyzer *a = *state;
    struct analyzer_term t;
    const char *text = "L’État, c'est nous";
    analyzer_start(a, str_c(text), 0);
    assert_true(analyzer_next(a, &t));
    assert_string_equal(t.ptr, "etat");
    assert_int_equal(t.start, 4); /* after "L’", which is 4 bytes */
    assert_int_equal(t.end, 9);
    assert_memory_equal(text + t.start, "État", t.end - t.start);
    assert_false(analyzer_next(a, &t)); /* c'est, nous: stop words */
    assert_false(analyzer_next(a, &t));
}

static void test_plurals_and_conjugations(void **state)
{
    struct analyzer *a = *state;
    assert_string_equal(term(a, "enfants"), term(a, "enfant"));
    assert_string_equal(term(a, "allocations"), term(a, "allocation"));
    assert_string_equal(term(a, "nationaux"), term(a, "national"));
    assert_string_equal(term(a, "salariés"), term(a, "salarié"));
    assert_string_equal(term(a, "mariés"), term(a, "marié"));
    assert_string_equal(term(a, "inscrire"), "inscrir");
    assert_string_equal(term(a, "s'inscrire"), "inscrir");
    assert_string_equal(term(a, "inscrits"), term(a, "inscrit"));
    assert_string_equal(term(a, "payer"), term(a, "paiement"));
    assert_string_equal(term(a, "payé"), "pai");
    /* What Snowball does not do, asserted so that a change is noticed:
     * "inscription" is not "inscrire", "travail" is not "travailler". */
    assert_string_equal(term(a, "inscription"), "inscript");
    assert_string_not_equal(term(a, "inscription"), term(a, "inscrire"));
    assert_string_not_equal(term(a, "travail"), term(a, "travailler"));
    /* Snowball keeps the -s of "revenus" and the -ent of "refusent": with
     * ANALYZER_ALTERNATIVES the word also gives the singular's stem. */
    assert_string_equal(terms(a, "revenus", 0), "revenus");
    assert_string_equal(terms(a, "revenus", ANALYZER_ALTERNATIVES), "revenus |revenu");
    assert_string_equal(terms(a, "emplois jeux", ANALYZER_ALTERNATIVES),
                        "emplois |emploi jeux |jeu");
    assert_string_equal(terms(a, "ils refusent", ANALYZER_ALTERNATIVES), "refusent |refus");
    assert_string_equal(term(a, "refuser"), "refus");
    /* No alternative where Snowball already did the work, nor for a stop
     * word ("mois" would give "moi"). */
    assert_string_equal(terms(a, "droits parents mois", ANALYZER_ALTERNATIVES),
                        "droit parent mois");
}

static void test_ligatures_and_compat(void **state)
{
    struct analyzer *a = *state;
    assert_string_equal(terms(a, "sœur SŒUR soeur", 0), "soeur soeur soeur");
    assert_string_equal(terms(a, "cœur œuvre", 0), "coeur oeuvr");
    assert_string_equal(terms(a, "ex æquo Lætitia", 0), "ex aequo laetiti");
    assert_string_equal(terms(a, "ﬁnancement", 0), term(a, "financement"));
    assert_string_equal(terms(a, "ＥＣＯＬＥ", 0), "ecol"); /* fullwidth */
    assert_string_equal(terms(a, "straße STRASSE", 0), "strass strass");
    assert_string_equal(terms(a, "naïve Noël garçon", 0), "naiv noel garcon");
    /* Decomposed input (e + combining acute) folds like composed input. */
    assert_string_equal(terms(a,
                              "e\xcc\x81"
                              "cole",
                              0),
                        "ecol");
    assert_string_equal(terms(a, "É À Ç Œ", 0), "e oe"); /* "a" and "c" are stop words */
}

static void test_hyphens_and_numbers(void **state)
{
    struct analyzer *a = *state;
    assert_string_equal(terms(a, "peut-être", 0), "peut");
    assert_string_equal(terms(a, "Saint-Étienne", 0), "saint etien");
    assert_string_equal(terms(a, "saint etienne", 0), "saint etien");
    assert_string_equal(terms(a, "article L2121-29 du CGCT", 0), "articl l2121-29 cgct");
    assert_string_equal(terms(a, "l'article L. 2121-29", 0), "articl 2121-29");
    assert_string_equal(terms(a, "en 2020, le 1er janvier", 0), "2020 1er janvi");
    assert_string_equal(terms(a, "Covid-19 A1 B2 CD2I", 0), "covid 19 a1 b2 cd2i");
    assert_string_equal(terms(a, "3,5 %", 0), "3 5");
    assert_string_equal(terms(a, "x²", 0), "x2");
}

static void test_stop_and_question_words(void **state)
{
    struct analyzer *a = *state;
    /* The first, last and some middle entries of the sorted stop list. */
    assert_string_equal(terms(a, "a y vous ceux dont meme même été", 0), "");
    assert_string_equal(terms(a, "Qu'est-ce que c'est ?", 0), "");
    const char *q = "Comment faire une demande de passeport ?";
    assert_string_equal(terms(a, q, ANALYZER_QUESTION), "demand passeport");
    assert_string_equal(terms(a, q, 0), "comment fair demand passeport");
    assert_string_equal(terms(a, "Peut-on changer le nom d'un enfant mineur ?", ANALYZER_QUESTION),
                        "chang nom enfant mineur");
    assert_string_equal(
        terms(a, "Quelles sont les règles ? Quel délai ? Pourquoi ?", ANALYZER_QUESTION),
        "regl del");
}

static void test_prefix(void **state)
{
    struct analyzer *a = *state;
    /* Only the last word is a prefix: left unstemmed, kept if a stop word. */
    assert_string_equal(terms(a, "conseils municip", ANALYZER_PREFIX), "conseil municip");
    assert_string_equal(terms(a, "l'éc", ANALYZER_PREFIX), "ec");
    assert_string_equal(terms(a, "le", ANALYZER_PREFIX), "le");
    assert_string_equal(terms(a, "inscriptions", ANALYZER_PREFIX), "inscriptions");
    assert_string_equal(terms(a, "les inscriptions ", ANALYZER_PREFIX), "inscriptions");
}

static void test_invalid_utf8_and_empty(void **state)
{
    struct analyzer *a = *state;
    struct analyzer_term t;
    /* Truncated sequences, stray continuation bytes, an overlong '/', a
     * surrogate, a code point above U+10FFFF: all separators. */
    const char bad[] = "caf\xc3 \xff\xfe\xc3\xa9"
                       "cole \xc0\xaf mai\xed\xa0\x80rie "
                       "\xf4\x90\x80\x80zut fin\xc3";
    assert_string_equal(terms_n(a, bad, sizeof(bad) - 1, 0), "caf ecol mai ri zut fin");
    assert_string_equal(terms_n(a, "\xe2\x80", 2, 0), "");
    assert_string_equal(terms_n(a, "\x80\x80\x80", 3, 0), "");
    /* A NUL byte inside the text is a separator, not the end. */
    assert_string_equal(terms_n(a, "mairie\0école", 13, 0), "mair ecol");
    assert_string_equal(terms(a, "", 0), "");
    assert_string_equal(terms(a, " \t\n.,;!?«»—", 0), "");
    analyzer_start(a, (struct str){NULL, 0}, 0);
    assert_false(analyzer_next(a, &t));
    char out[ANALYZER_TERM_MAX + 1];
    assert_int_equal(analyzer_term_of(a, S("les"), 0, out, sizeof(out)), 0);
    assert_string_equal(out, "");
}

static void test_long_tokens(void **state)
{
    struct analyzer *a = *state;
    size_t n = 100000;
    char *s = malloc(2 * n + 8);
    assert_non_null(s);
    /* A 100,000-letter word is cut to ANALYZER_TERM_MAX bytes, unstemmed. */
    memset(s, 'a', n);
    memcpy(s + n, " fin", 4);
    const char *got = terms_n(a, s, n + 4, 0);
    assert_int_equal(strlen(got), ANALYZER_TERM_MAX + 4);
    assert_memory_equal(got + ANALYZER_TERM_MAX, " fin", 4);
    /* Same with two-byte letters: cut on a character boundary, folded. */
    for (size_t i = 0; i < n; i++)
        memcpy(s + 2 * i, "\xc3\xa9", 2);
    got = terms_n(a, s, 2 * n, 0);
    assert_int_equal(strlen(got), ANALYZER_TERM_MAX);
    assert_int_equal(strspn(got, "e"), ANALYZER_TERM_MAX);
    /* A long word gives the same term wherever it comes from. */
    char first[ANALYZER_TERM_MAX + 1];
    snprintf(first, sizeof(first), "%s", terms_n(a, s, 2 * 80, 0));
    assert_string_equal(terms_n(a, s, 2 * 90, ANALYZER_QUESTION), first);
    /* A long run of digits and hyphens, and of combining marks. */
    for (size_t i = 0; i < n; i++)
        s[i] = (i % 3 == 2) ? '-' : '7';
    assert_int_equal(strlen(terms_n(a, s, n, 0)), ANALYZER_TERM_MAX);
    for (size_t i = 0; i < n / 2; i++)
        memcpy(s + 2 * i, "\xcc\x81", 2);
    assert_string_equal(terms_n(a, s, n, 0), "");
    free(s);
}

/* ---- FTS5 ---------------------------------------------------------------- */

static const char *const docs[] = {
    "L'école primaire accueille les élèves de six à onze ans.",
    "La mairie délivre les actes d'état civil : naissance, mariage, décès.",
    "Le conseil municipal se réunit au moins une fois par trimestre (article L2121-7 du CGCT).",
    "Les revenus fonciers sont déclarés chaque année au printemps.",
    "Les assistantes maternelles doivent être agréées par le département.",
    "Pour vous inscrire sur les listes électorales, présentez un justificatif de domicile.",
    "Saint-Étienne et Besançon ont signé une convention de jumelage.",
    "Les sœurs et les frères d'un enfant placé peuvent demander à le voir.",
    "Les associations refusent parfois les dons anonymes.",
};

struct fts_fixture {
    sqlite3 *db;
    struct fts_search *search;
};

static int setup_fts(void **state)
{
    struct fts_fixture *f = calloc(1, sizeof(*f));
    sqlite3_stmt *st = NULL;
    if (!f || sqlite3_open(":memory:", &f->db) != SQLITE_OK || fts_register(f->db) != LAIR_OK ||
        sqlite3_exec(f->db, "CREATE VIRTUAL TABLE docs USING fts5(text, tokenize = 'lair_fr')",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(f->db, "INSERT INTO docs(rowid, text) VALUES (?1, ?2)", -1, &st, NULL) !=
            SQLITE_OK)
        return -1;
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        sqlite3_bind_int64(st, 1, (sqlite3_int64)i + 1);
        sqlite3_bind_text(st, 2, docs[i], -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE)
            return -1;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (fts_search_new(f->db, "docs", &f->search) != LAIR_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown_fts(void **state)
{
    struct fts_fixture *f = *state;
    fts_search_free(f->search);
    sqlite3_close(f->db);
    free(f);
    return 0;
}

/* The rowid of the best hit for question, 0 when none. */
static int64_t best(struct fts_fixture *f, const char *question)
{
    struct fts_hit hits[5];
    size_t n = 99;
    assert_int_equal(fts_search_run(f->search, str_c(question), 5, hits, &n), LAIR_OK);
    assert_true(n <= 5);
    for (size_t i = 1; i < n; i++)
        assert_true(hits[i - 1].score >= hits[i].score);
    return n ? hits[0].rowid : 0;
}

static void test_fts_finds_variants(void **state)
{
    struct fts_fixture *f = *state;
    assert_int_equal(best(f, "ECOLES"), 1);
    assert_int_equal(best(f, "Quelle école pour un élève ?"), 1);
    assert_int_equal(best(f, "Où demander un acte d’État-Civil ?"), 2);
    assert_int_equal(best(f, "etat civil"), 2);
    assert_int_equal(best(f, "Quand se réunissent les conseils municipaux ?"), 3);
    assert_int_equal(best(f, "L2121-7"), 3);
    assert_int_equal(best(f, "Comment déclarer un revenu foncier ?"), 4);
    assert_int_equal(best(f, "assistante maternelle agréée"), 5);
    assert_int_equal(best(f, "Comment s'inscrire sur une liste électorale ?"), 6);
    assert_int_equal(best(f, "saint etienne"), 7);
    assert_int_equal(best(f, "Mon SŒUR peut-elle voir l'enfant ?"), 8);
    assert_int_equal(best(f, "soeur"), 8);
    assert_int_equal(best(f, "Une association peut-elle refuser un don ?"), 9);
    /* Only question and stop words: no search, no error. */
    assert_int_equal(best(f, "Comment ? Quel est le ... ?"), 0);
    assert_int_equal(best(f, ""), 0);
    assert_int_equal(best(f, "zygomatique"), 0);
}

/* The tokenizer under FTS5's own query syntax, prefix queries and the
 * offsets that highlight() uses. */
static void test_fts_sql(void **state)
{
    struct fts_fixture *f = *state;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT rowid, highlight(docs, 0, '[', ']') FROM docs "
                                        "WHERE docs MATCH ?1 ORDER BY rowid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    static const struct {
        const char *match;
        int64_t rowid;
        const char *highlight;
    } cases[] = {
        {"\"écoles\"", 1, "L'[école] primaire accueille les élèves de six à onze ans."},
        {"ecol*", 1, "L'[école] primaire accueille les élèves de six à onze ans."},
        {"\"l'éc\"*", 1, "L'[école] primaire accueille les élèves de six à onze ans."},
        {"\"conseils municip\"*", 3,
         "Le [conseil municipal] se réunit au moins une fois par trimestre (article L2121-7 du "
         "CGCT)."},
        {"\"etat civil\"", 2,
         "La mairie délivre les actes d'[état civil] : naissance, mariage, décès."},
        {"\"revenu\"", 4, "Les [revenus] fonciers sont déclarés chaque année au printemps."},
        {"\"refuse\"", 9, "Les associations [refusent] parfois les dons anonymes."},
        {"\"SŒURS\"", 8, "Les [sœurs] et les frères d'un enfant placé peuvent demander à le voir."},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sqlite3_bind_text(st, 1, cases[i].match, -1, SQLITE_STATIC);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int64(st, 0), cases[i].rowid);
        assert_string_equal((const char *)sqlite3_column_text(st, 1), cases[i].highlight);
        assert_int_equal(sqlite3_step(st), SQLITE_DONE);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    /* The tokenizer takes no options. */
    assert_int_not_equal(sqlite3_exec(f->db,
                                      "CREATE VIRTUAL TABLE bad USING fts5(x, tokenize = "
                                      "'lair_fr unknown')",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
}

static void test_fts_match_expr(void **state)
{
    struct analyzer *a = NULL;
    struct buf b;
    assert_int_equal(analyzer_new(&a), LAIR_OK);
    buf_init(&b, 0);
    assert_int_equal(fts_match_expr(a, S("Comment inscrire l'école ? Les écoles, l’École !"), &b),
                     LAIR_OK);
    assert_string_equal(b.ptr, "\"inscrire\" OR \"école\"");
    assert_int_equal(fts_match_expr(a, S("NEAR(mairie \"acte\") AND text:naissance^ OR *"), &b),
                     LAIR_OK);
    assert_string_equal(b.ptr, "\"NEAR\" OR \"mairie\" OR \"acte\" OR \"AND\" OR \"text\" OR "
                               "\"naissance\" OR \"OR\"");
    assert_int_equal(fts_match_expr(a, S("le la les ? ! \"\""), &b), LAIR_OK);
    assert_int_equal(b.len, 0);
    buf_release(&b);
    analyzer_free(a);
}

static void test_fts_terms_cap(void **state)
{
    struct analyzer *a = NULL;
    struct buf b, q;
    assert_int_equal(analyzer_new(&a), LAIR_OK);
    buf_init(&b, 0);
    buf_init(&q, 0);
    for (int i = 0; i < 200; i++)
        assert_int_equal(buf_printf(&q, "mot%d ", i), LAIR_OK);
    assert_int_equal(fts_match_expr(a, buf_str(&q), &b), LAIR_OK);
    size_t quotes = 0;
    for (size_t i = 0; i < b.len; i++)
        quotes += b.ptr[i] == '"';
    assert_int_equal(quotes, 2 * FTS_QUERY_TERMS_MAX);
    buf_release(&q);
    buf_release(&b);
    analyzer_free(a);
}

static void test_fts_hostile_questions(void **state)
{
    struct fts_fixture *f = *state;
    static const char *const hostile[] = {
        "\"",
        "\"\"",
        "\"unbalanced école",
        "école\"",
        "(",
        ")",
        "((école)",
        "école AND",
        "AND OR NOT",
        "NOT école",
        "NEAR(école mairie, 2)",
        "NEAR(",
        "*",
        "école*",
        "^école",
        "text: école",
        "text:école",
        "{text}: école",
        "- école",
        "-text: école",
        "+ école",
        "école + mairie",
        "'; DROP TABLE docs; --",
        "\"); DELETE FROM docs; --",
        "docs MATCH 'x'",
        "rank:bm25(10.0)",
        "école:*",
        "\\\"école\\\"",
        "\xff\xfe école \xc3",
        "l'\"école\"",
        "d’\"état",
        "«école» – “mairie”",
    };
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        struct fts_hit hits[5];
        size_t n = 0;
        assert_int_equal(fts_search_run(f->search, str_c(hostile[i]), 5, hits, &n), LAIR_OK);
        assert_true(n <= 5);
        if (strstr(hostile[i], "école") && !strstr(hostile[i], "mairie"))
            assert_true(n >= 1 && hits[0].rowid == 1);
    }
    /* A NUL byte inside the question. */
    struct fts_hit hits[5];
    size_t n = 0;
    assert_int_equal(fts_search_run(f->search, (struct str){"\"\0école", 8}, 5, hits, &n), LAIR_OK);
    assert_int_equal(n, 1);
    /* A pasted page: thousands of words, quotes and parentheses. */
    struct buf big;
    buf_init(&big, 0);
    for (int i = 0; i < 5000; i++)
        assert_int_equal(buf_printf(&big, "(\"mot%d\" NEAR école) ", i), LAIR_OK);
    assert_int_equal(fts_search_run(f->search, buf_str(&big), 5, hits, &n), LAIR_OK);
    buf_release(&big);
    /* k = 0 and the table is intact. */
    assert_int_equal(fts_search_run(f->search, S("école"), 0, hits, &n), LAIR_OK);
    assert_int_equal(n, 0);
    assert_int_equal(best(f, "mairie"), 2);
}

static void test_fts_search_errors(void **state)
{
    struct fts_fixture *f = *state;
    struct fts_search *s = (struct fts_search *)&s;
    assert_int_equal(fts_search_new(f->db, "docs; DROP TABLE docs", &s), LAIR_EINVAL);
    assert_null(s);
    assert_int_equal(fts_search_new(f->db, "\"docs\"", &s), LAIR_EINVAL);
    assert_int_equal(fts_search_new(f->db, "", &s), LAIR_EINVAL);
    assert_int_equal(fts_search_new(f->db, NULL, &s), LAIR_EINVAL);
    assert_int_equal(fts_search_new(f->db, "no_such_table", &s), LAIR_EDB);
    assert_null(s);
    /* A table with another tokenizer: searching it works, without the
     * French analysis on its side. */
    assert_int_equal(
        sqlite3_exec(f->db, "CREATE VIRTUAL TABLE plain USING fts5(text)", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(fts_search_new(f->db, "plain", &s), LAIR_OK);
    struct fts_hit hits[2];
    size_t n = 9;
    assert_int_equal(fts_search_run(s, S("école"), 2, hits, &n), LAIR_OK);
    assert_int_equal(n, 0);
    fts_search_free(s);
    fts_search_free(NULL);
}

/* The pruned top-k of lair_bm25 gives the same order as scoring every row. */
static void test_fts_rank_pruning(void **state)
{
    struct fts_fixture *f = *state;
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_exec(f->db,
                     "CREATE VIRTUAL TABLE many USING fts5(text, tokenize = 'lair_fr');"
                     "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
                     "WHERE i < 3000) INSERT INTO many(rowid, text) SELECT i, "
                     "'mairie ' || substr('école école école école ', 1, 7 * (i % 5)) "
                     "|| substr('remplissage long texte ', 1, (i * 7) % 23) || "
                     "' dossier ' || (i % 97) FROM n",
                     NULL, NULL, NULL),
        SQLITE_OK);
    const char *sql[] = {
        "SELECT rowid FROM many WHERE many MATCH ?1 ORDER BY lair_bm25(many) DESC, rowid LIMIT 10",
        "SELECT rowid FROM many WHERE many MATCH ?1 ORDER BY lair_bm25(many, 10) DESC, rowid "
        "LIMIT 10",
    };
    int64_t got[2][10];
    for (int k = 0; k < 2; k++) {
        assert_int_equal(sqlite3_prepare_v2(f->db, sql[k], -1, &st, NULL), SQLITE_OK);
        sqlite3_bind_text(st, 1, "\"école\" OR \"dossier\" OR \"42\" OR \"mairie\"", -1,
                          SQLITE_STATIC);
        for (int i = 0; i < 10; i++) {
            assert_int_equal(sqlite3_step(st), SQLITE_ROW);
            got[k][i] = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    assert_memory_equal(got[0], got[1], sizeof(got[0]));
    /* and it did skip rows. */
    assert_int_equal(sqlite3_prepare_v2(f->db,
                                        "SELECT count(*) FROM (SELECT lair_bm25(many, 10) AS s "
                                        "FROM many WHERE many MATCH ?1) WHERE s < -1e299",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, "\"école\" OR \"dossier\" OR \"42\" OR \"mairie\"", -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_true(sqlite3_column_int(st, 0) > 1000);
    sqlite3_finalize(st);
    assert_int_equal(sqlite3_exec(f->db, "DROP TABLE many", NULL, NULL, NULL), SQLITE_OK);
}

int main(void)
{
    const struct CMUnitTest analyzer_tests[] = {
        cmocka_unit_test(test_elision_accents_case),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_plurals_and_conjugations),
        cmocka_unit_test(test_ligatures_and_compat),
        cmocka_unit_test(test_hyphens_and_numbers),
        cmocka_unit_test(test_stop_and_question_words),
        cmocka_unit_test(test_prefix),
        cmocka_unit_test(test_invalid_utf8_and_empty),
        cmocka_unit_test(test_long_tokens),
    };
    const struct CMUnitTest fts_tests[] = {
        cmocka_unit_test(test_fts_finds_variants),    cmocka_unit_test(test_fts_sql),
        cmocka_unit_test(test_fts_match_expr),        cmocka_unit_test(test_fts_terms_cap),
        cmocka_unit_test(test_fts_hostile_questions), cmocka_unit_test(test_fts_search_errors),
        cmocka_unit_test(test_fts_rank_pruning),
    };
    int failed =
        cmocka_run_group_tests_name("analyzer", analyzer_tests, setup_analyzer, teardown_analyzer);
    failed += cmocka_run_group_tests_name("fts", fts_tests, setup_fts, teardown_fts);
    return failed ? 1 : 0;
}
