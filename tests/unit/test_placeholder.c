/* Tests of the placeholders for remote upstreams (src/gdpr/placeholder.c):
 * the form, masking of every type in the labelled set tests/data/pii/pii.tsv,
 * stability across the texts of a request, restoration of a whole answer and
 * of a stream cut at every place, mangled and user-written placeholders,
 * UTF-8, the vault's limits, failing allocations and the wiping of values.
 *
 * The module's source is included below with its allocator calls routed to
 * a counting allocator that can fail the Nth call and that checks every
 * block it frees for a person's value (the project's torture allocator
 * needs the --wrap link that only test_torture has). The library's copy of
 * the module is then not linked: these are the module's own functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "core/str.h"
#include "gdpr/pii.h"

/* ---- a counting allocator for the module ------------------------------------------- */

#define LIVE_MAX 256

static struct {
    unsigned long count, fail_at; /* fail_at: 1-based; 0 = none fails */
    struct {
        void *p;
        size_t size;
    } live[LIVE_MAX];
    size_t nlive;
    const char *secrets[4]; /* values no freed block may still hold */
    bool secret_freed;
} ta;

static bool ta_fails(void)
{
    return ++ta.count == ta.fail_at;
}

static void ta_track(void *p, size_t size)
{
    if (!p)
        return;
    if (ta.nlive == LIVE_MAX)
        abort();
    ta.live[ta.nlive].p = p;
    ta.live[ta.nlive++].size = size;
}

/* Forgets p; checks its bytes hold none of the secrets. */
static void ta_untrack(void *p)
{
    for (size_t i = 0; i < ta.nlive; i++) {
        if (ta.live[i].p != p)
            continue;
        for (size_t k = 0; k < 4 && ta.secrets[k]; k++)
            if (memmem(p, ta.live[i].size, ta.secrets[k], strlen(ta.secrets[k])))
                ta.secret_freed = true;
        ta.live[i] = ta.live[--ta.nlive];
        return;
    }
    if (p)
        abort(); /* not one of the module's blocks */
}

static void *t_malloc(size_t n)
{
    void *p = ta_fails() ? NULL : malloc(n);
    ta_track(p, n);
    return p;
}

static void *t_calloc(size_t m, size_t n)
{
    void *p = ta_fails() ? NULL : calloc(m, n);
    ta_track(p, m * n);
    return p;
}

static void *t_realloc(void *p, size_t n)
{
    if (ta_fails())
        return NULL;
    void *q = realloc(p, n);
    if (q) {
        for (size_t i = 0; p && i < ta.nlive; i++)
            if (ta.live[i].p == p)
                ta.live[i] = ta.live[--ta.nlive];
        ta_track(q, n);
    }
    return q;
}

static void t_free(void *p)
{
    ta_untrack(p);
    free(p);
}

static void ta_reset(unsigned long fail_at)
{
    ta.count = 0;
    ta.fail_at = fail_at;
}

#define malloc(n) t_malloc(n)
#define calloc(m, n) t_calloc(m, n)
#define realloc(p, n) t_realloc(p, n)
#define free(p) t_free(p)
#include "gdpr/placeholder.c"
#undef malloc
#undef calloc
#undef realloc
#undef free

/* ---- helpers --------------------------------------------------------------------------- */

/* The labels are the contract with the prompt: one per detector type. */
static const char *const want_label[PII_TYPE_COUNT] = {
    "NIR", "IBAN", "RIB", "SIREN", "SIRET", "TVA", "CARTE", "TEL", "EMAIL", "PLAQUE", "NAISSANCE",
};

/* OWNED (free with free()): text masked with v; fails the test on error. */
static char *mask(struct placeholder_vault *v, const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(placeholder_mask(v, str_c(text), &b), LAIR_OK);
    return buf_detach(&b, NULL);
}

static char *unmask(const struct placeholder_vault *v, const char *text)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(placeholder_unmask(v, str_c(text), &b), LAIR_OK);
    return buf_detach(&b, NULL);
}

static void check_mask(struct placeholder_vault *v, const char *text, const char *want)
{
    char *got = mask(v, text);
    assert_string_equal(got, want);
    free(got);
}

static void check_unmask(const struct placeholder_vault *v, const char *text, const char *want)
{
    char *got = unmask(v, text);
    assert_string_equal(got, want);
    free(got);
}

/* ---- the form -------------------------------------------------------------------------- */

static const char *const NIR = "1 80 08 07 683 024 93";

static void test_form(void **state)
{
    struct placeholder_vault *v = placeholder_vault_new(0);
    assert_non_null(v);
    check_mask(v,
               "Bonjour, je suis née le 10/08/1976 à Besançon ; sécurité sociale "
               "1 80 08 07 683 024 93, téléphone 07 90 75 49 82, courriel "
               "karim.lambert@courriel.exemple.net, IBAN FR76 6297 0773 1782 9107 7272 047, "
               "véhicule FZ-146-EC, SIRET 404 833 048 00006, TVA FR83404833048, "
               "carte 4970 1012 3456 7893, RIB 20041 01005 0500013M026 06.",
               "Bonjour, je suis née le [NAISSANCE_1] à Besançon ; sécurité sociale "
               "[NIR_1], téléphone [TEL_1], courriel [EMAIL_1], IBAN [IBAN_1], "
               "véhicule [PLAQUE_1], SIRET [SIRET_1], TVA [TVA_1], carte [CARTE_1], "
               "RIB [RIB_1].");
    check_mask(v, "SIREN 404 833 048.", "SIREN [SIREN_1].");
    assert_int_equal(placeholder_count(v), 11);
    check_mask(v, "", "");
    check_mask(v, "Rien de personnel ici : 14 mars, 2024, 75001.",
               "Rien de personnel ici : 14 mars, 2024, 75001.");
    placeholder_vault_free(v);
    placeholder_vault_free(NULL);
}

/* The same value gets the same placeholder in every text of the request,
 * however it is typed; a new value of a kind the next number. */
static void test_stable(void **state)
{
    struct placeholder_vault *v = placeholder_vault_new(0);
    check_mask(v, "Agent d'accueil : 07 90 75 49 82.", "Agent d'accueil : [TEL_1].");
    check_mask(v,
               "Source : appeler le 0790754982 ou le +33 7 90 75 49 82, écrire à "
               "Karim.Lambert@courriel.exemple.net",
               "Source : appeler le [TEL_1] ou le [TEL_1], écrire à [EMAIL_1]");
    check_mask(v, "Historique : mon numéro est 06 12 34 56 78.",
               "Historique : mon numéro est [TEL_2].");
    check_mask(v,
               "Question : 06.12.34.56.78 ou 07 90 75 49 82 ? karim.lambert@courriel.exemple.net",
               "Question : [TEL_2] ou [TEL_1] ? [EMAIL_1]");
    assert_int_equal(placeholder_count(v), 3);
    /* restored as first typed */
    check_unmask(v, "[TEL_1] [TEL_2] [EMAIL_1]",
                 "07 90 75 49 82 06 12 34 56 78 Karim.Lambert@courriel.exemple.net");
    placeholder_vault_free(v);
}

/* ---- the labelled set -------------------------------------------------------------------- */

static FILE *open_set(void)
{
    const char *src = getenv("LAIR_SRC");
    char path[4096];
    if (src && *src) {
        snprintf(path, sizeof path, "%s/tests/data/pii/pii.tsv", src);
    } else {
        snprintf(path, sizeof path, "%s", __FILE__);
        char *cut = strstr(path, "tests/unit/test_placeholder.c");
        if (!cut)
            return NULL;
        snprintf(cut, sizeof path - (size_t)(cut - path), "tests/data/pii/pii.tsv");
    }
    FILE *f = fopen(path, "r");
    if (!f)
        print_error("cannot open %s (set LAIR_SRC)\n", path);
    return f;
}

/* True when two matches of text have one canonical value typed two ways:
 * unmask then gives the first typing for both. */
static bool typed_two_ways(const char *text, const struct pii_match *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            struct str a = {text + m[i].off, m[i].len}, b = {text + m[j].off, m[j].len};
            struct buf ca, cb;
            buf_init(&ca, 0);
            buf_init(&cb, 0);
            bool same = m[i].type == m[j].type && !str_eq(a, b) &&
                        pii_canonical(m[i].type, a, &ca) == LAIR_OK &&
                        pii_canonical(m[j].type, b, &cb) == LAIR_OK &&
                        str_eq(buf_str(&ca), buf_str(&cb));
            buf_release(&ca);
            buf_release(&cb);
            if (same)
                return true;
        }
    return false;
}

/* One line of the set: nothing the detector finds is left, no value is
 * left as typed, each value found has its kind's placeholder, and unmask
 * gives the text back. OUT: seen[type] counts the values masked. */
static void check_line(const char *text, size_t seen[PII_TYPE_COUNT])
{
    struct pii_match m[16];
    size_t n = pii_scan(str_c(text), m, 16);
    assert_true(n <= 16);
    struct placeholder_vault *v = placeholder_vault_new(0);
    char *masked = mask(v, text);
    assert_int_equal(pii_scan(str_c(masked), NULL, 0), 0);
    for (size_t i = 0; i < n; i++) {
        char value[256], label[32];
        snprintf(value, sizeof value, "%.*s", (int)m[i].len, text + m[i].off);
        if (m[i].len >= 6 && strstr(masked, value))
            fail_msg("%s left in \"%s\"", value, masked);
        snprintf(label, sizeof label, "[%s_", want_label[m[i].type]);
        assert_non_null(strstr(masked, label));
        seen[m[i].type]++;
    }
    if (!strchr(text, '[') && n == 0)
        assert_string_equal(masked, text);
    if (!typed_two_ways(text, m, n)) {
        char *back = unmask(v, masked);
        assert_string_equal(back, text);
        free(back);
    }
    free(masked);
    placeholder_vault_free(v);
}

static void test_labelled_set(void **state)
{
    FILE *f = open_set();
    assert_non_null(f);
    static char line[8192];
    size_t seen[PII_TYPE_COUNT] = {0}, lines = 0;
    while (fgets(line, sizeof line, f)) {
        size_t n = strlen(line);
        if (line[0] == '#' || strncmp(line, "info\t", 5) == 0)
            continue;
        if (n && line[n - 1] == '\n')
            line[--n] = 0;
        char *text = strchr(line, '\t');
        for (int field = 0; field < 2 && text; field++)
            text = strchr(text + 1, '\t');
        assert_non_null(text);
        check_line(text + 1, seen);
        lines++;
    }
    fclose(f);
    assert_true(lines > 6000);
    for (int t = 0; t < PII_TYPE_COUNT; t++)
        if (seen[t] < 200)
            fail_msg("only %zu values of type %s masked", seen[t], pii_type_name(t));
}

/* ---- restoring ---------------------------------------------------------------------------- */

/* A vault holding TEL_1, EMAIL_1 (accented), IBAN_1, NIR_1, NAISSANCE_1 and
 * TEXTE_1 (a user's "[TEL_2]"). */
static struct placeholder_vault *sample_vault(void)
{
    struct placeholder_vault *v = placeholder_vault_new(0);
    assert_non_null(v);
    check_mask(v,
               "Tél. 07 90 75 49 82, élodie.hélène@exemple.fr, IBAN FR76 6297 0773 1782 9107 "
               "7272 047, NIR 1 80 08 07 683 024 93, né le 3 mars 1985. Que veut dire [TEL_2] ?",
               "Tél. [TEL_1], [EMAIL_1], IBAN [IBAN_1], NIR [NIR_1], né le [NAISSANCE_1]. Que "
               "veut dire [TEXTE_1] ?");
    return v;
}

static const char ANSWER[] = "Bonjour ! Votre numéro [TEL_1] et votre courriel [EMAIL_1] — "
                             "c'est noté.[IBAN_1][TEL_1] «[TEXTE_1]» [TEL_9] [tel_1] [TEL_1 "
                             "[[NIR_1]] 🙂 né le [NAISSANCE_1]\xc3\xa9t[NAISSANCE_9999] fin [TE";

static const char RESTORED[] = "Bonjour ! Votre numéro 07 90 75 49 82 et votre courriel "
                               "élodie.hélène@exemple.fr — c'est noté.FR76 6297 0773 1782 "
                               "9107 7272 04707 90 75 49 82 «[TEL_2]» [TEL_9] [tel_1] [TEL_1 "
                               "[1 80 08 07 683 024 93] 🙂 né le 3 mars 1985\xc3\xa9t"
                               "[NAISSANCE_9999] fin [TE";

static void test_unmask(void **state)
{
    struct placeholder_vault *v = sample_vault();
    check_unmask(v, ANSWER, RESTORED);
    check_unmask(v, "", "");
    check_unmask(v, "[TEL_1]", "07 90 75 49 82");
    /* another request's vault restores nothing of this one */
    struct placeholder_vault *other = placeholder_vault_new(0);
    check_unmask(other, "[TEL_1] [EMAIL_1]", "[TEL_1] [EMAIL_1]");
    placeholder_vault_free(other);
    placeholder_vault_free(v);
}

/* Placeholders the model mangles are left as they are. */
static void test_mangled(void **state)
{
    struct placeholder_vault *v = sample_vault();
    static const char *const same[] = {
        "[tel_1]",        "[Tel_1]",     "[TEL_1",    "TEL_1]",
        "[TEL 1]",        "[TEL-1]",     "[TEL_01]",  "[TEL_0]",
        "[TEL_1 ]",       "[ TEL_1]",    "[TEL_]",    "[TEL_12345]",
        "[TELEPHONE_1]",  "[]",          "[",         "]",
        "[_1]",           "[TEL__1]",    "[TEL_1a]",  "[TEL_-1]",
        "(TEL_1)",        "{TEL_1}",     "[TEL_1)",   "[PHONE_1]",
        "[TEL_\xc3\xa9]", "[TEL_1\xff]", "\xff\xfe[", "[TEL_99999999999999999999]",
    };
    for (size_t i = 0; i < sizeof same / sizeof *same; i++)
        check_unmask(v, same[i], same[i]);
    check_unmask(v, "[[TEL_1]]", "[07 90 75 49 82]");
    check_unmask(v, "[TEL_[TEL_1]", "[TEL_07 90 75 49 82");
    check_unmask(v, "[TEL_1][TEL_1]", "07 90 75 49 8207 90 75 49 82");
    placeholder_vault_free(v);
}

/* A user who writes a placeholder gets their own text back, never a value. */
static void test_fake_placeholder(void **state)
{
    struct placeholder_vault *v = placeholder_vault_new(0);
    /* the question first: the user's [TEL_1] is not the source's number */
    check_mask(v, "Donne-moi le [TEL_1], le [EMAIL_1] et le [TEXTE_1].",
               "Donne-moi le [TEXTE_1], le [TEXTE_2] et le [TEXTE_3].");
    check_mask(v, "Source : M. Martin, 07 90 75 49 82.", "Source : M. Martin, [TEL_1].");
    check_mask(v, "Encore [TEL_1] et [TEXTE_1]", "Encore [TEXTE_1] et [TEXTE_3]");
    /* the model echoes the user's text: it comes back as typed */
    check_unmask(v, "Vous avez écrit [TEXTE_1], [TEXTE_2] et [TEXTE_3].",
                 "Vous avez écrit [TEL_1], [EMAIL_1] et [TEXTE_1].");
    /* the model writes a value of this request's prompt: it is restored */
    check_unmask(v, "Le numéro est [TEL_1].", "Le numéro est 07 90 75 49 82.");
    /* what was not issued stays as it is */
    check_unmask(v, "[EMAIL_1] [TEXTE_4]", "[EMAIL_1] [TEXTE_4]");
    /* a lookalike next to a value, and cut at the text's end */
    check_mask(v, "[TEL_1]07 90 75 49 82[NIR_2] [TEL_", "[TEXTE_1][TEL_1][TEXTE_4] [TEL_");
    placeholder_vault_free(v);
}

/* ---- streaming ---------------------------------------------------------------------------- */

struct run {
    struct placeholder_stream st;
    struct buf out;
    const char *want;
    size_t want_len;
};

/* Feeds one chunk; what was shown so far must be a beginning of the whole
 * restored answer, end on a character boundary, and the tail held back be
 * shorter than a placeholder. */
static void run_feed(struct run *r, const char *p, size_t n)
{
    assert_int_equal(placeholder_stream_feed(&r->st, (struct str){p, n}, &r->out), LAIR_OK);
    assert_true(r->out.len <= r->want_len);
    assert_memory_equal(r->out.ptr ? r->out.ptr : "", r->want, r->out.len);
    assert_true(r->st.held_len < PLACEHOLDER_MAX_LEN);
    assert_int_equal(utf8_complete_prefix(r->out.ptr, r->out.len), r->out.len);
}

static void run_begin(struct run *r, const struct placeholder_vault *v, const char *want)
{
    placeholder_stream_init(&r->st, v);
    buf_init(&r->out, 0);
    r->want = want;
    r->want_len = strlen(want);
}

static void run_end(struct run *r)
{
    assert_int_equal(placeholder_stream_finish(&r->st, &r->out), LAIR_OK);
    assert_int_equal(r->st.held_len, 0);
    assert_int_equal(r->out.len, r->want_len);
    assert_memory_equal(r->out.ptr, r->want, r->want_len);
    buf_release(&r->out);
}

/* The answer cut in two and in three at every place, and one byte at a time. */
static void check_every_split(const struct placeholder_vault *v, const char *in, const char *want)
{
    size_t n = strlen(in);
    struct run r;
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            run_begin(&r, v, want);
            run_feed(&r, in, i);
            run_feed(&r, in + i, j - i);
            run_feed(&r, in + j, n - j);
            run_end(&r);
        }
    run_begin(&r, v, want);
    for (size_t i = 0; i < n; i++)
        run_feed(&r, in + i, 1);
    run_end(&r);
}

static void test_stream_every_split(void **state)
{
    struct placeholder_vault *v = sample_vault();
    check_every_split(v, ANSWER, RESTORED);
    check_every_split(v, "[TEL_1]", "07 90 75 49 82");
    check_every_split(v, "[[[[TEL_1]]]", "[[[07 90 75 49 82]]");
    check_every_split(v, "[NAISSANCE_999[NAISSANCE_1]", "[NAISSANCE_9993 mars 1985");
    check_every_split(v, "\xf0\x9f\x99\x82[EMAIL_1]\xc3\xa9",
                      "🙂élodie.hélène@exemple.fr\xc3\xa9");
    check_every_split(v, "", "");
    placeholder_vault_free(v);
}

/* What cannot start a placeholder is shown at once; what can is held, at
 * most PLACEHOLDER_MAX_LEN - 1 bytes, and released unchanged when it is not
 * one. */
static void test_stream_hold(void **state)
{
    struct placeholder_vault *v = sample_vault();
    struct placeholder_stream st;
    struct buf out;
    buf_init(&out, 0);
    placeholder_stream_init(&st, v);
    assert_int_equal(placeholder_stream_feed(&st, S("abc [X"), &out), LAIR_OK);
    assert_string_equal(out.ptr, "abc [X");
    assert_int_equal(st.held_len, 0);
    assert_int_equal(placeholder_stream_feed(&st, S(" [TEL"), &out), LAIR_OK);
    assert_string_equal(out.ptr, "abc [X ");
    assert_int_equal(st.held_len, 4);
    assert_int_equal(placeholder_stream_feed(&st, S("EPHONE_1]"), &out), LAIR_OK);
    assert_string_equal(out.ptr, "abc [X [TELEPHONE_1]");
    assert_int_equal(placeholder_stream_feed(&st, S("[NAISSANCE_999"), &out), LAIR_OK);
    assert_int_equal(st.held_len, PLACEHOLDER_MAX_LEN - 2);
    assert_int_equal(placeholder_stream_feed(&st, S("9"), &out), LAIR_OK);
    assert_int_equal(st.held_len, PLACEHOLDER_MAX_LEN - 1);
    assert_int_equal(placeholder_stream_feed(&st, S("9"), &out), LAIR_OK);
    assert_int_equal(st.held_len, 0);
    assert_string_equal(out.ptr, "abc [X [TELEPHONE_1][NAISSANCE_99999");
    /* an accented letter cut in two is held until whole */
    assert_int_equal(placeholder_stream_feed(&st, S("\xc3"), &out), LAIR_OK);
    assert_int_equal(st.held_len, 1);
    assert_int_equal(placeholder_stream_feed(&st, S("\xa9[NIR_1"), &out), LAIR_OK);
    assert_string_equal(out.ptr, "abc [X [TELEPHONE_1][NAISSANCE_99999é");
    assert_int_equal(placeholder_stream_finish(&st, &out), LAIR_OK);
    assert_string_equal(out.ptr, "abc [X [TELEPHONE_1][NAISSANCE_99999é[NIR_1");
    /* a stream can be reused after finish */
    placeholder_stream_init(&st, v);
    buf_reset(&out);
    assert_int_equal(placeholder_stream_feed(&st, S("[NIR_1]"), &out), LAIR_OK);
    assert_int_equal(placeholder_stream_finish(&st, &out), LAIR_OK);
    assert_string_equal(out.ptr, NIR);
    buf_release(&out);
    placeholder_vault_free(v);
}

/* ---- limits and failures ------------------------------------------------------------------- */

/* A vault that is full, or an output that is: an error, and what was
 * written so far is a prefix of the result with no value left in it. */
static void test_limits(void **state)
{
    const char *text = "07 90 75 49 82, 06 12 34 56 78, 01 23 45 67 89, 05 17 45 35 65 et "
                       "karim.lambert@courriel.exemple.net.";
    struct placeholder_vault *big = placeholder_vault_new(0);
    char *full = mask(big, text);
    struct placeholder_vault *v = placeholder_vault_new(2 * (sizeof(struct entry) + 24));
    struct buf out;
    buf_init(&out, 0);
    assert_int_equal(placeholder_mask(v, str_c(text), &out), LAIR_ELIMIT);
    assert_int_equal(placeholder_count(v), 2);
    assert_memory_equal(out.ptr, full, out.len);
    assert_int_equal(pii_scan(buf_str(&out), NULL, 0), 0);
    check_unmask(v, "[TEL_2] [TEL_3]", "06 12 34 56 78 [TEL_3]");
    check_mask(v, "07 90 75 49 82", "[TEL_1]"); /* still usable for known values */
    buf_release(&out);
    placeholder_vault_free(v);

    for (size_t max = 1; max < strlen(full); max += 3) {
        v = placeholder_vault_new(0);
        buf_init(&out, max);
        assert_int_equal(placeholder_mask(v, str_c(text), &out), LAIR_ETOOBIG);
        assert_memory_equal(out.ptr ? out.ptr : "", full, out.len);
        assert_int_equal(pii_scan(buf_str(&out), NULL, 0), 0);
        buf_release(&out);
        placeholder_vault_free(v);
    }
    free(full);
    placeholder_vault_free(big);
}

/* Each kind is numbered up to 9999: the longest placeholder. */
static void test_many_values(void **state)
{
    struct buf text, out;
    buf_init(&text, 0);
    buf_init(&out, 0);
    for (unsigned i = 0; i < 10000; i++)
        assert_int_equal(buf_printf(&text, "06 %02u %02u 00 00, ", i / 100, i % 100), LAIR_OK);
    struct placeholder_vault *v = placeholder_vault_new(0);
    assert_int_equal(placeholder_mask(v, buf_str(&text), &out), LAIR_ELIMIT);
    assert_int_equal(placeholder_count(v), 9999);
    assert_true(out.len > 20 && memcmp(out.ptr + out.len - 12, "[TEL_9999], ", 12) == 0);
    check_unmask(v, "[TEL_9999]", "06 99 98 00 00");
    check_every_split(v, "a[TEL_9999]b", "a06 99 98 00 00b");
    check_mask(v, "Et 06 00 01 00 00 ?", "Et [TEL_2] ?"); /* a known value still masks */
    buf_reset(&out);
    assert_int_equal(placeholder_mask(v, S("Et 03 00 00 00 00 ?"), &out), LAIR_ELIMIT);
    assert_string_equal(out.ptr, "Et ");
    buf_release(&text);
    buf_release(&out);
    placeholder_vault_free(v);
}

/* One request: a vault, three texts, an answer whole and streamed. */
static enum lair_err request(struct buf *sig)
{
    struct placeholder_vault *v = placeholder_vault_new(0);
    if (!v)
        return LAIR_ENOMEM;
    enum lair_err e = LAIR_OK;
    static const char *const texts[] = {
        "Instructions : l'accueil répond au 07 90 75 49 82.",
        "Source : IBAN FR76 6297 0773 1782 9107 7272 047, karim.lambert@courriel.exemple.net",
        "Question : et le [TEL_1] de 1 80 08 07 683 024 93 ?",
    };
    for (size_t i = 0; i < 3 && !e; i++)
        e = placeholder_mask(v, str_c(texts[i]), sig);
    if (!e)
        e = placeholder_unmask(v, S("[TEL_1] [IBAN_1] [EMAIL_1] [TEXTE_1] [NIR_1]"), sig);
    struct placeholder_stream st;
    placeholder_stream_init(&st, v);
    if (!e)
        e = placeholder_stream_feed(&st, S("x [EMAIL"), sig);
    if (!e)
        e = placeholder_stream_feed(&st, S("_1] y"), sig);
    if (!e)
        e = placeholder_stream_finish(&st, sig);
    placeholder_vault_free(v);
    return e;
}

/* Allocation k fails, for every k of a request: the error is LAIR_ENOMEM,
 * no block is left, no masked text holds a value, and a request that
 * succeeds gives exactly what it gives without failures. */
static void test_alloc_failure(void **state)
{
    struct buf want, got;
    buf_init(&want, 0);
    ta_reset(0);
    assert_int_equal(request(&want), LAIR_OK);
    unsigned long n = ta.count;
    assert_true(n >= 3);
    assert_int_equal(ta.nlive, 0);
    for (unsigned long k = 1; k <= n + 1; k++) {
        buf_init(&got, 0);
        ta_reset(k);
        enum lair_err e = request(&got);
        ta_reset(0);
        assert_int_equal(ta.nlive, 0);
        if (e == LAIR_OK) {
            assert_true(k > n);
            assert_string_equal(got.ptr, want.ptr);
        } else {
            assert_int_equal(e, LAIR_ENOMEM);
            assert_memory_equal(got.ptr ? got.ptr : "", want.ptr, got.len);
            assert_null(strstr(got.ptr ? got.ptr : "", "07 90"));
        }
        buf_release(&got);
    }
    buf_release(&want);
}

/* No block the vault frees still holds a value: not the vault's store when
 * it grows, not the store or the scratch array when the vault is freed. */
static void test_wiped(void **state)
{
    ta.secrets[0] = "07 90 75 49 82";
    ta.secrets[1] = "0790754982"; /* the canonical form */
    ta.secrets[2] = "karim.lambert@courriel.exemple.net";
    ta.secret_freed = false;
    struct placeholder_vault *v = placeholder_vault_new(0);
    char *m = mask(v, "07 90 75 49 82 karim.lambert@courriel.exemple.net");
    free(m);
    struct buf text;
    buf_init(&text, 0);
    for (unsigned i = 0; i < 300; i++) /* enough to grow the store several times */
        assert_int_equal(buf_printf(&text, "06 %02u %02u 00 00, ", i / 100, i % 100), LAIR_OK);
    m = mask(v, text.ptr);
    free(m);
    buf_release(&text);
    m = mask(v, "07 90 75 49 82"); /* its canonical form is in the scratch array */
    free(m);
    assert_false(ta.secret_freed);
    placeholder_vault_free(v);
    assert_false(ta.secret_freed);
    assert_int_equal(ta.nlive, 0);
    memset(ta.secrets, 0, sizeof ta.secrets);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form),
        cmocka_unit_test(test_stable),
        cmocka_unit_test(test_labelled_set),
        cmocka_unit_test(test_unmask),
        cmocka_unit_test(test_mangled),
        cmocka_unit_test(test_fake_placeholder),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_hold),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_many_values),
        cmocka_unit_test(test_alloc_failure),
        cmocka_unit_test(test_wiped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
