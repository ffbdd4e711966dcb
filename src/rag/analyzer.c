/* The French analyzer: segmentation, elision, normalisation, stop words,
 * Snowball stemming and accent folding, one word at a time into fixed
 * buffers. See analyzer.h for the contract and docs/internals/analyzer.md
 * for why each step is the way it is. */
#include "rag/analyzer.h"

#include <libstemmer.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "core/banned.h"

/* Code points kept per word after decomposition; a word with more (long, or
 * heavy with combining marks) is cut like one too long once folded. */
#define CP_MAX (ANALYZER_TERM_MAX * 2)
/* The composed form keeps its accents: up to 4 bytes a code point. */
#define COMP_MAX (CP_MAX * 4)
/* Longest decomposition of one code point (U+FDFA gives 18). */
#define DECOMP_MAX 24

enum cls { C_SEP, C_ALPHA, C_DIGIT, C_MARK, C_APOS, C_HYPHEN, C_IGNORE };

/* What a word is made of, gathered while scanning it. */
enum word_flags {
    W_DIGIT = 1 << 0,    /* holds a digit: kept whole, never stemmed */
    W_NONASCII = 1 << 1, /* needs the Unicode path */
};

struct analyzer {
    struct sb_stemmer *stemmer;
    const uint8_t *text;
    size_t len, pos;
    unsigned flags;
    int32_t cp[CP_MAX];
    int32_t cp2[CP_MAX];
    size_t ncp;
    bool cut; /* the word was longer than a term may be */
    char fold[ANALYZER_TERM_MAX + 1];
    size_t fold_len;
    char comp[COMP_MAX + 1];
    size_t comp_len;
    char term[ANALYZER_TERM_MAX + 1];
    char alt[ANALYZER_TERM_MAX + 1];
    size_t alt_len, alt_start, alt_end; /* a pending alternative term */
};

/* Function words, in their folded form, dropped from documents and
 * questions alike. Sorted (binary search). */
static const char *const stop_words[] = {
    "a",      "ai",       "aie",     "aient",  "aies",   "ait",   "as",     "au",      "aura",
    "aurai",  "auraient", "aurais",  "aurait", "auras",  "aurez", "auriez", "aurions", "aurons",
    "auront", "aux",      "avaient", "avais",  "avait",  "avec",  "avez",   "aviez",   "avions",
    "avons",  "ayant",    "ayez",    "ayons",  "c",      "ca",    "ce",     "ceci",    "cela",
    "celle",  "celles",   "celui",   "ces",    "cet",    "cette", "ceux",   "d",       "dans",
    "de",     "des",      "dont",    "du",     "elle",   "elles", "en",     "es",      "est",
    "et",     "etaient",  "etais",   "etait",  "etant",  "ete",   "etes",   "etiez",   "etions",
    "etre",   "eu",       "eue",     "eues",   "eus",    "eux",   "fut",    "il",      "ils",
    "j",      "je",       "l",       "la",     "le",     "les",   "leur",   "leurs",   "lui",
    "m",      "ma",       "mais",    "me",     "meme",   "mes",   "moi",    "mon",     "n",
    "ne",     "ni",       "nos",     "notre",  "nous",   "on",    "ont",    "ou",      "par",
    "pas",    "pour",     "qu",      "que",    "qui",    "s",     "sa",     "se",      "sera",
    "serai",  "seraient", "serais",  "serait", "seras",  "serez", "seriez", "serions", "serons",
    "seront", "ses",      "si",      "soi",    "soient", "sois",  "soit",   "sommes",  "son",
    "sont",   "soyez",    "soyons",  "suis",   "sur",    "t",     "ta",     "te",      "tes",
    "toi",    "ton",      "tu",      "un",     "une",    "vos",   "votre",  "vous",    "y",
};

/* Words that shape a question rather than say what it is about. Sorted. */
static const char *const question_words[] = {
    "combien", "comment",    "dois",     "doit",    "doivent", "faire", "faut",     "laquelle",
    "lequel",  "lesquelles", "lesquels", "peut",    "peuvent", "peux",  "pourquoi", "puis",
    "quand",   "quel",       "quelle",   "quelles", "quels",   "quoi",
};

/* Elided words, matched before an apostrophe without regard to case. */
static const char *const elisions[] = {
    "c", "d", "j", "l", "m", "n", "s", "t", "qu", "jusqu", "lorsqu", "puisqu", "quelqu", "quoiqu",
};

/* Compares the n bytes at w with the C string lit, like strcmp. */
static int cmp_word(const char *w, size_t n, const char *lit)
{
    size_t i = 0;
    for (; i < n && lit[i]; i++)
        if (w[i] != lit[i])
            return (unsigned char)w[i] - (unsigned char)lit[i];
    return i < n ? 1 : lit[i] ? -1 : 0;
}

static bool in_list(const char *const *list, size_t count, const char *w, size_t n)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = cmp_word(w, n, list[mid]);
        if (c == 0)
            return true;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return false;
}

#define IN_LIST(list, w, n) in_list((list), sizeof(list) / sizeof((list)[0]), (w), (n))

static bool is_elision(const uint8_t *w, size_t n)
{
    for (size_t i = 0; i < sizeof(elisions) / sizeof(elisions[0]); i++) {
        const char *e = elisions[i];
        size_t j = 0;
        while (j < n && e[j] && (w[j] | 0x20) == (uint8_t)e[j])
            j++;
        if (j == n && e[j] == 0)
            return true;
    }
    return false;
}

static enum cls classify(int32_t c)
{
    if (c < 0)
        return C_SEP;
    if (c < 0x80) {
        if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            return C_ALPHA;
        if (c >= '0' && c <= '9')
            return C_DIGIT;
        return c == '\'' ? C_APOS : c == '-' ? C_HYPHEN : C_SEP;
    }
    switch (c) {
    case 0x2019: /* right single quotation mark, the typographic apostrophe */
    case 0x2018:
    case 0x02BC: /* modifier letter apostrophe */
    case 0xFF07: return C_APOS;
    case 0x2010:
    case 0x2011: return C_HYPHEN;
    case 0x00AD: /* soft hyphen, zero-width (non-)joiners: inside words */
    case 0x200C:
    case 0x200D: return C_IGNORE;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return C_ALPHA;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME: return C_MARK;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return C_DIGIT;
    default: return C_SEP;
    }
}

/* The code point at s (n > 0 bytes left) and its length in *adv; -1 with
 * *adv = 1 for a byte that does not start a well-formed sequence. */
static int32_t decode(const uint8_t *s, size_t n, size_t *adv)
{
    if (s[0] < 0x80) {
        *adv = 1;
        return s[0];
    }
    utf8proc_int32_t c;
    utf8proc_ssize_t k = utf8proc_iterate(s, n < 4 ? (utf8proc_ssize_t)n : 4, &c);
    if (k <= 0 || c < 0) {
        *adv = 1;
        return -1;
    }
    *adv = (size_t)k;
    return c;
}

static enum cls class_at(const struct analyzer *a, size_t p, size_t *adv)
{
    if (p >= a->len) {
        *adv = 0;
        return C_SEP;
    }
    return classify(decode(a->text + p, a->len - p, adv));
}

/* Finds the next word from a->pos. OUT: its byte span and enum word_flags.
 * An elided article before an apostrophe is skipped; an apostrophe inside a
 * word ("aujourd'hui") and a hyphen between digits ("2121-29") are kept. */
static bool next_word(struct analyzer *a, size_t *ws, size_t *we, unsigned *wf)
{
    size_t p = a->pos, adv, adv2;
    enum cls k;
    for (;;) {
        if (p >= a->len) {
            a->pos = a->len;
            return false;
        }
        k = class_at(a, p, &adv);
        if (k == C_ALPHA || k == C_DIGIT || k == C_MARK)
            break;
        p += adv;
    }
    size_t start = p;
    unsigned f = 0;
    while (p < a->len) {
        k = class_at(a, p, &adv);
        if (a->text[p] >= 0x80 && k != C_SEP)
            f |= W_NONASCII;
        if (k == C_ALPHA || k == C_MARK || k == C_IGNORE) {
            p += adv;
        } else if (k == C_DIGIT) {
            f |= W_DIGIT;
            p += adv;
        } else if (k == C_APOS && class_at(a, p + adv, &adv2) == C_ALPHA) {
            if (is_elision(a->text + start, p - start)) {
                start = p + adv;
                f = 0;
            } else if (f & W_DIGIT) {
                break;
            }
            p += adv;
        } else if (k == C_HYPHEN && (f & W_DIGIT) && class_at(a, p + adv, &adv2) == C_DIGIT) {
            p += adv;
        } else {
            break;
        }
    }
    a->pos = p;
    *ws = start;
    *we = p;
    *wf = f;
    return true;
}

/* œ, æ and the Latin letters that have no decomposition, as plain letters.
 * Returns how many code points it wrote to out (room for 2). */
static int expand_letter(int32_t c, int32_t *out)
{
    switch (c) {
    case 0x0153: /* œ */ out[0] = 'o', out[1] = 'e'; return 2;
    case 0x00E6: /* æ */ out[0] = 'a', out[1] = 'e'; return 2;
    case 0x00F8: /* ø */ out[0] = 'o'; return 1;
    case 0x0142: /* ł */ out[0] = 'l'; return 1;
    case 0x0111: /* đ */ out[0] = 'd'; return 1;
    case 0x0131: /* dotless ı */ out[0] = 'i'; return 1;
    default: out[0] = c; return 1;
    }
}

static bool is_mark(int32_t c)
{
    utf8proc_category_t k = utf8proc_category(c);
    return k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC || k == UTF8PROC_CATEGORY_ME;
}

/* Appends the UTF-8 of c to out (cap bytes) unless it does not fit. */
static bool put_cp(char *out, size_t cap, size_t *len, int32_t c)
{
    uint8_t tmp[4];
    utf8proc_ssize_t k = utf8proc_encode_char(c, tmp);
    if (k <= 0 || *len + (size_t)k > cap)
        return false;
    memcpy(out + *len, tmp, (size_t)k);
    *len += (size_t)k;
    return true;
}

/* The word's code points, decomposed (NFKD), case folded, ligatures
 * expanded, into a->cp; apostrophes dropped, hyphens kept as '-'. */
static void decompose_word(struct analyzer *a, const uint8_t *w, size_t n)
{
    const utf8proc_option_t opt =
        UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD | UTF8PROC_IGNORE;
    utf8proc_int32_t tmp[DECOMP_MAX];
    size_t adv;
    a->ncp = 0;
    for (size_t i = 0; i < n; i += adv) {
        int32_t c = decode(w + i, n - i, &adv);
        enum cls k = classify(c);
        if (k == C_APOS)
            continue;
        utf8proc_ssize_t got = 1;
        if (k == C_HYPHEN)
            tmp[0] = '-';
        else
            got = utf8proc_decompose_char(c, tmp, DECOMP_MAX, opt, NULL);
        for (utf8proc_ssize_t j = 0; j < got && got <= DECOMP_MAX; j++) {
            int32_t two[2];
            int m = expand_letter(tmp[j], two);
            if (a->ncp + (size_t)m > CP_MAX) {
                a->cut = true;
                return;
            }
            for (int x = 0; x < m; x++)
                a->cp[a->ncp++] = two[x];
        }
    }
}

/* Fills a->fold (lower case, no accents) and, for a word that may be
 * stemmed, a->comp (lower case, composed, accents kept: what Snowball
 * expects). */
static void normalise(struct analyzer *a, const uint8_t *w, size_t n, unsigned wf)
{
    a->cut = false;
    a->fold_len = 0;
    if (!(wf & W_NONASCII)) {
        for (size_t i = 0; i < n; i++) {
            uint8_t c = w[i];
            if (c == '\'')
                continue;
            if (a->fold_len == ANALYZER_TERM_MAX) {
                a->cut = true;
                break;
            }
            a->fold[a->fold_len++] = (char)(c >= 'A' && c <= 'Z' ? c | 0x20 : c);
        }
        memcpy(a->comp, a->fold, a->fold_len);
        a->comp_len = a->fold_len;
        return;
    }
    decompose_word(a, w, n);
    for (size_t i = 0; i < a->ncp; i++) {
        if (is_mark(a->cp[i]))
            continue;
        if (!put_cp(a->fold, ANALYZER_TERM_MAX, &a->fold_len, a->cp[i])) {
            a->cut = true;
            break;
        }
    }
    a->comp_len = 0;
    if (a->cut || (wf & W_DIGIT))
        return;
    memcpy(a->cp2, a->cp, a->ncp * sizeof(a->cp[0]));
    utf8proc_ssize_t m =
        utf8proc_normalize_utf32(a->cp2, (utf8proc_ssize_t)a->ncp, UTF8PROC_COMPOSE);
    for (utf8proc_ssize_t i = 0; i < m; i++)
        if (!put_cp(a->comp, COMP_MAX, &a->comp_len, a->cp2[i])) {
            a->cut = true;
            return;
        }
}

/* Accent-folds the stemmer's output into out (ANALYZER_TERM_MAX + 1). */
static size_t fold_stem(const uint8_t *s, size_t n, char *out)
{
    size_t len = 0, adv;
    utf8proc_int32_t tmp[DECOMP_MAX];
    for (size_t i = 0; i < n; i += adv) {
        int32_t c = decode(s + i, n - i, &adv);
        if (c < 0x80) {
            if (c < 0 || len == ANALYZER_TERM_MAX)
                break;
            out[len++] = (char)c;
            continue;
        }
        utf8proc_ssize_t got = utf8proc_decompose_char(
            c, tmp, DECOMP_MAX, UTF8PROC_DECOMPOSE | UTF8PROC_STRIPMARK, NULL);
        for (utf8proc_ssize_t j = 0; j < got && got <= DECOMP_MAX; j++)
            if (!put_cp(out, ANALYZER_TERM_MAX, &len, tmp[j]))
                return len;
    }
    return len;
}

/* Whether no word follows a->pos. */
static bool is_last_word(struct analyzer *a)
{
    size_t pos = a->pos, ws, we;
    unsigned wf;
    bool more = next_word(a, &ws, &we, &wf);
    a->pos = pos;
    return !more;
}

/* Where Snowball leaves an inflection that it cannot tell from the end of
 * other words, the word also gets, as an alternative term, the stem of the
 * word without it: the plural -s or -x after a vowel ("revenus", "emplois",
 * "jeux": Snowball keeps it) and the verb ending -ent ("refusent"; "parent"
 * ends alike). stem is Snowball's output for a->comp. Fills a->alt. */
static void alternative(struct analyzer *a, const uint8_t *stem, size_t sn)
{
    const char *w = a->comp;
    size_t n = a->comp_len, cut = 0;
    a->alt_len = 0;
    if (n >= 6 && sn >= 3 && memcmp(w + n - 3, "ent", 3) == 0 &&
        memcmp(stem + sn - 3, "ent", 3) == 0)
        cut = 2;
    else if (n >= 4 && (w[n - 1] == 's' || w[n - 1] == 'x') && stem[sn - 1] == (uint8_t)w[n - 1] &&
             strchr("aiou", w[n - 2]))
        cut = 1;
    if (!cut)
        return;
    const sb_symbol *s = sb_stemmer_stem(a->stemmer, (const sb_symbol *)w, (int)(n - cut));
    int len = s ? sb_stemmer_length(a->stemmer) : 0;
    if (len <= 0)
        return;
    a->alt_len = fold_stem(s, (size_t)len, a->alt);
    if (IN_LIST(stop_words, a->alt, a->alt_len))
        a->alt_len = 0;
}

/* The term of the word [ws, we) in a->term; 0 when it gives none. */
static size_t make_term(struct analyzer *a, size_t ws, size_t we, unsigned wf)
{
    normalise(a, a->text + ws, we - ws, wf);
    if (a->fold_len == 0)
        return 0;
    bool prefix = (a->flags & ANALYZER_PREFIX) && is_last_word(a);
    if (!prefix && !(wf & W_DIGIT)) {
        if (IN_LIST(stop_words, a->fold, a->fold_len))
            return 0;
        if ((a->flags & ANALYZER_QUESTION) && IN_LIST(question_words, a->fold, a->fold_len))
            return 0;
    }
    if (prefix || a->cut || (wf & W_DIGIT)) {
        memcpy(a->term, a->fold, a->fold_len);
        return a->fold_len;
    }
    const sb_symbol *s = sb_stemmer_stem(a->stemmer, (const sb_symbol *)a->comp, (int)a->comp_len);
    int sn = s ? sb_stemmer_length(a->stemmer) : 0;
    if (sn <= 0) {
        memcpy(a->term, a->fold, a->fold_len);
        return a->fold_len;
    }
    size_t len = fold_stem(s, (size_t)sn, a->term);
    if (a->flags & ANALYZER_ALTERNATIVES)
        alternative(a, s, (size_t)sn);
    return len;
}

enum lair_err analyzer_new(struct analyzer **out)
{
    *out = NULL;
    struct analyzer *a = calloc(1, sizeof(*a));
    if (!a)
        return LAIR_ENOMEM;
    a->stemmer = sb_stemmer_new("french", "UTF_8");
    if (!a->stemmer) {
        free(a);
        return LAIR_ENOMEM;
    }
    *out = a;
    return LAIR_OK;
}

void analyzer_free(struct analyzer *a)
{
    if (!a)
        return;
    sb_stemmer_delete(a->stemmer);
    free(a);
}

void analyzer_start(struct analyzer *a, struct str text, unsigned flags)
{
    a->text = (const uint8_t *)text.ptr;
    a->len = text.ptr ? text.len : 0;
    a->pos = 0;
    a->flags = flags;
    a->alt_len = 0;
}

bool analyzer_next(struct analyzer *a, struct analyzer_term *out)
{
    size_t ws, we;
    unsigned wf;
    if (a->alt_len) {
        memcpy(a->term, a->alt, a->alt_len);
        a->term[a->alt_len] = 0;
        *out = (struct analyzer_term){a->term, a->alt_len, a->alt_start, a->alt_end, true};
        a->alt_len = 0;
        return true;
    }
    while (next_word(a, &ws, &we, &wf)) {
        a->alt_len = 0;
        size_t n = make_term(a, ws, we, wf);
        if (n == 0)
            continue;
        a->term[n] = 0;
        if (a->alt_len == n && memcmp(a->alt, a->term, n) == 0)
            a->alt_len = 0;
        a->alt_start = ws;
        a->alt_end = we;
        *out = (struct analyzer_term){a->term, n, ws, we, false};
        return true;
    }
    return false;
}

size_t analyzer_term_of(struct analyzer *a, struct str word, unsigned flags, char *out, size_t cap)
{
    struct analyzer_term t;
    analyzer_start(a, word, flags);
    if (cap == 0 || !analyzer_next(a, &t) || t.len >= cap) {
        if (cap)
            out[0] = 0;
        return 0;
    }
    memcpy(out, t.ptr, t.len);
    out[t.len] = 0;
    return t.len;
}
