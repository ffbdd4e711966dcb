/* Fuzz target: a question as a search reads it (src/rag/fts.c and
 * src/rag/spell.c): the analyzer's words, the spelling corrections of the
 * words the index does not hold (the typed word's one-edit variants, then
 * the term's neighbours), the FTS5 MATCH expression built from them and the
 * ranked search over a small index of French passages.
 *
 * Input: a flags byte (bit 0: also ask spell_suggest_word for the whole
 * text as one word), then the question, any bytes. Checked: the search
 * succeeds (a question never makes an expression FTS5 refuses) with at most
 * k hits, best first; the query's phrases stay within their bound; every
 * correction is a term of the index, one edit from the typed word, not the
 * word's own term, most frequent first. */
#include <sqlite3.h>
#include <string.h>

#include "fuzz.h"
#include "rag/analyzer.h"
#include "rag/fts.h"
#include "rag/spell.h"

#include "core/banned.h"

static sqlite3 *db;
static struct fts_search *search;
static struct analyzer *an;
static struct spell *sp;

static const char *const passages[] = {
    "Demander un acte de naissance à la mairie du lieu de naissance.",
    "Inscription à la cantine scolaire : les pièces justificatives à fournir.",
    "La carte grise, ou certificat d'immatriculation, se demande en ligne.",
    "Rembourser son crédit immobilier par anticipation : indemnités et délais.",
    "Le mariage civil est célébré à la mairie ; l'article L2121-29 s'applique.",
};

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (sqlite3_open(":memory:", &db) != SQLITE_OK || fts_register(db) != LAIR_OK ||
        sqlite3_exec(db, "CREATE VIRTUAL TABLE docs USING fts5(text, tokenize = 'lair_fr')", NULL,
                     NULL, NULL) != SQLITE_OK)
        abort();
    for (size_t i = 0; i < sizeof(passages) / sizeof(passages[0]); i++) {
        char *sql = sqlite3_mprintf("INSERT INTO docs(text) VALUES (%Q)", passages[i]);
        if (!sql || sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
            abort();
        sqlite3_free(sql);
    }
    if (fts_search_new(db, "docs", &search) != LAIR_OK || analyzer_new(&an) != LAIR_OK ||
        spell_new(&sp) != LAIR_OK || spell_sync(sp, db, "docs") != LAIR_OK)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_u8(&in);
    struct str q = {(const char *)in.p, in.n};

    struct fts_hit hits[5];
    size_t n = 99;
    FUZZ_CHECK(fts_search_run(search, q, 5, hits, &n) == LAIR_OK, "search failed: %s",
               sqlite3_errmsg(db));
    FUZZ_CHECK(n <= 5, "%zu hits for k 5", n);
    for (size_t i = 1; i < n; i++)
        FUZZ_CHECK(hits[i - 1].score >= hits[i].score, "hits not best first");

    struct fts_query fq;
    fts_query_init(&fq);
    FUZZ_CHECK(fts_query_build(an, db, "docs", q, &fq) == LAIR_OK, "query build failed");
    FUZZ_CHECK(fq.n_phrases <= FTS_QUERY_TERMS_MAX * (1 + FTS_SPELL_CANDS), "%zu phrases",
               fq.n_phrases);
    FUZZ_CHECK(fq.n_corrected <= FTS_SPELL_WORDS_MAX, "%zu words corrected", fq.n_corrected);
    fts_query_release(&fq);

    if (flags & 1) {
        struct spell_cand c[FTS_SPELL_CANDS];
        char own[ANALYZER_TERM_MAX + 1];
        size_t own_len = analyzer_term_of(an, q, 0, own, sizeof(own));
        size_t m = spell_suggest_word(sp, an, q, c, FTS_SPELL_CANDS);
        FUZZ_CHECK(m <= FTS_SPELL_CANDS, "%zu candidates", m);
        for (size_t i = 0; i < m; i++) {
            FUZZ_CHECK(c[i].len >= 1 && c[i].len <= ANALYZER_TERM_MAX && c[i].term[c[i].len] == 0,
                       "candidate of %zu bytes", c[i].len);
            FUZZ_CHECK(spell_df(sp, c[i].term, c[i].len) == c[i].df && c[i].df > 0,
                       "candidate '%s' not in the index", c[i].term);
            FUZZ_CHECK(c[i].dist == 1, "candidate '%s' at %u edits", c[i].term, c[i].dist);
            FUZZ_CHECK(!(c[i].len == own_len && memcmp(c[i].term, own, own_len) == 0),
                       "the word's own term '%s' offered", own);
            FUZZ_CHECK(i == 0 || c[i - 1].df >= c[i].df, "candidates not most frequent first");
        }
    }
    return 0;
}
