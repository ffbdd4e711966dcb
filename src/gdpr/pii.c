/* Personal-data detection: one left-to-right pass over UTF-8 text.
 *
 * The scanner stops only where a match can begin: an ASCII letter, digit or
 * '+' that is not glued to the word before it. From there a few cheap byte
 * tests pick the detectors worth running; each reads ahead on its own and
 * accepts only what its checksum or structure allows. Numbers are read as a
 * "run": alphanumeric characters with the separators people type between
 * groups (spaces, no-break spaces, dots, dashes), remembering where the groups
 * break, so that one reading serves every numeric detector and a candidate
 * must end where a group ends. When nothing matches, the whole run is skipped:
 * a number is not searched for identifiers hidden in its middle.
 *
 * Context words only arbitrate what a checksum cannot: a bare 9-digit
 * Luhn-valid number is a SIREN only when introduced as one (one random
 * number in ten passes), a bare 14-digit one passing both SIRET checks (one
 * in a hundred) is a SIRET unless introduced as something else, and a
 * Luhn-only identifier introduced as an order, invoice or reference number is
 * taken for what the text says it is. */
#include "gdpr/pii.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/banned.h"

static const char *const type_names[PII_TYPE_COUNT] = {
    [PII_NIR] = "nir",     [PII_IBAN] = "iban",           [PII_RIB] = "rib",
    [PII_SIREN] = "siren", [PII_SIRET] = "siret",         [PII_VAT] = "vat",
    [PII_CARD] = "card",   [PII_PHONE] = "phone",         [PII_EMAIL] = "email",
    [PII_PLATE] = "plate", [PII_BIRTHDATE] = "birthdate",
};

static const char *const type_tags[PII_TYPE_COUNT] = {
    [PII_NIR] = "NIR",     [PII_IBAN] = "IBAN",           [PII_RIB] = "RIB",
    [PII_SIREN] = "SIREN", [PII_SIRET] = "SIRET",         [PII_VAT] = "VAT",
    [PII_CARD] = "CARD",   [PII_PHONE] = "PHONE",         [PII_EMAIL] = "EMAIL",
    [PII_PLATE] = "PLATE", [PII_BIRTHDATE] = "BIRTHDATE",
};

const char *pii_type_name(enum pii_type t)
{
    return (unsigned)t < PII_TYPE_COUNT ? type_names[t] : "unknown";
}

enum lair_err pii_type_parse(struct str s, enum pii_type *out)
{
    for (int t = 0; t < PII_TYPE_COUNT; t++)
        if (str_eq_c(s, type_names[t])) {
            *out = (enum pii_type)t;
            return LAIR_OK;
        }
    return LAIR_EINVAL;
}

/* ---- characters -------------------------------------------------------------- */

static inline bool is_digit(unsigned c)
{
    return c - '0' < 10u;
}
static inline bool is_upper(unsigned c)
{
    return c - 'A' < 26u;
}
static inline bool is_lower(unsigned c)
{
    return c - 'a' < 26u;
}
static inline bool is_alpha(unsigned c)
{
    return is_upper(c) || is_lower(c);
}
static inline bool is_alnum(unsigned c)
{
    return is_digit(c) || is_alpha(c);
}
static inline unsigned char to_upper(unsigned c)
{
    return (unsigned char)(is_lower(c) ? c - 32 : c);
}

/* Bytes where a match may start: ASCII letters, digits and '+'. */
#define START(c) ((unsigned)((c) - '0') < 10u || (unsigned)(((c) | 0x20) - 'a') < 26u || (c) == '+')
#define START4(c) START(c), START((c) + 1), START((c) + 2), START((c) + 3)
#define START16(c) START4(c), START4((c) + 4), START4((c) + 8), START4((c) + 12)
static const bool start_byte[256] = {START16(0),  START16(16), START16(32), START16(48),
                                     START16(64), START16(80), START16(96), START16(112)};

/* ASCII letters and digits. */
#define WORD(c) (START(c) && (c) != '+')
#define WORD4(c) WORD(c), WORD((c) + 1), WORD((c) + 2), WORD((c) + 3)
#define WORD16(c) WORD4(c), WORD4((c) + 4), WORD4((c) + 8), WORD4((c) + 12)
static const bool word_byte[256] = {WORD16(0),  WORD16(16), WORD16(32), WORD16(48),
                                    WORD16(64), WORD16(80), WORD16(96), WORD16(112)};

/* Length of the UTF-8 sequence that lead byte c announces (1 for stray bytes). */
static inline size_t utf8_len(unsigned c)
{
    return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
}

/* Code point at p[i] (U+FFFD when malformed). */
static uint32_t cp_at(const unsigned char *p, size_t len, size_t i)
{
    unsigned c = p[i];
    size_t n = utf8_len(c);
    if (n == 1)
        return c < 0x80 ? c : 0xFFFD;
    if (i + n > len)
        return 0xFFFD;
    uint32_t v = c & (0x7F >> n);
    for (size_t k = 1; k < n; k++) {
        if ((p[i + k] & 0xC0) != 0x80)
            return 0xFFFD;
        v = (v << 6) | (p[i + k] & 0x3F);
    }
    return v;
}

/* Code point that ends just before p[i] (i > 0). */
static uint32_t cp_before(const unsigned char *p, size_t len, size_t i)
{
    size_t j = i - 1;
    while (j > 0 && i - j < 4 && (p[j] & 0xC0) == 0x80)
        j--;
    if (j + utf8_len(p[j]) != i)
        return 0xFFFD;
    return cp_at(p, len, j);
}

/* Whether a code point belongs to a word (letters and digits of any script),
 * as opposed to spaces, punctuation and symbols. Coarse by design: it only
 * decides whether a number is glued to a word. */
static bool cp_is_word(uint32_t c)
{
    if (c < 0x80)
        return is_alnum(c);
    if (c < 0xC0 || c == 0xD7 || c == 0xF7)
        return false;
    if ((c >= 0x2000 && c < 0x2C00) || (c >= 0x3000 && c < 0x3040) || (c >= 0xFE00 && c < 0xFE70) ||
        c == 0xFEFF || c == 0xFFFD)
        return false;
    return true;
}

/* Byte length of a space that may sit inside a typed number: space, no-break
 * space U+00A0, narrow no-break space U+202F, thin space U+2009, figure space
 * U+2007. 0 when there is none at p[i]. */
static size_t space_at(const unsigned char *p, size_t len, size_t i)
{
    if (i >= len)
        return 0;
    if (p[i] == ' ')
        return 1;
    if (p[i] == 0xC2 && i + 1 < len && p[i + 1] == 0xA0)
        return 2;
    if (p[i] == 0xE2 && i + 2 < len && p[i + 1] == 0x80 &&
        (p[i + 2] == 0xAF || p[i + 2] == 0x89 || p[i + 2] == 0x87))
        return 3;
    return 0;
}

/* A separator between two groups of a number: up to three units among
 * spaces and at most one '.' or '-' (" - " included). *kind is that '.' or
 * '-', else ' '. Returns the bytes it spans (0: none). */
static size_t sep_at(const unsigned char *p, size_t len, size_t i, unsigned char *kind)
{
    size_t j = i;
    int units = 0;
    bool punct = false;
    *kind = ' ';
    while (j < len && units < 3) {
        size_t s = space_at(p, len, j);
        if (s) {
            j += s;
        } else if ((p[j] == '.' || p[j] == '-') && !punct) {
            punct = true;
            *kind = p[j];
            j++;
        } else {
            break;
        }
        units++;
    }
    return j - i;
}

/* True when nothing word-like follows p[i]: the end of a match may be here. */
static bool right_ok(const unsigned char *p, size_t len, size_t i)
{
    if (i >= len)
        return true;
    if (p[i] < 0x80)
        return !is_alnum(p[i]);
    return !cp_is_word(cp_at(p, len, i));
}

/* True when a match may start at p[i]: not glued to the word before it, nor
 * the continuation of a compound token such as "FAC-0612345678", "2024/123",
 * "3,14159" or "12.0612345678". */
static bool left_ok(const unsigned char *p, size_t len, size_t i)
{
    if (i == 0)
        return true;
    unsigned b = p[i - 1];
    if (b >= 0x80)
        return !cp_is_word(cp_before(p, len, i));
    if (is_alnum(b))
        return false;
    unsigned a = i >= 2 ? p[i - 2] : ' ';
    switch (b) {
    case '/':
    case '_':
    case ',':
    case '-':
    case '\\': return !is_alnum(a);
    case '.': return !is_digit(a);
    case '+':
    case '@':
    case '&':
    case '=': return false;
    default: return true;
    }
}

static size_t skip_word(const unsigned char *p, size_t len, size_t i)
{
    while (i < len && word_byte[p[i]])
        i++;
    return i;
}

/* Compares the text at p[i] with w (lower case, UTF-8), folding ASCII and
 * Latin-1 upper-case letters ("É" matches "é"). Returns the bytes matched or
 * 0. */
static size_t match_ci(const unsigned char *p, size_t len, size_t i, const char *w)
{
    const unsigned char *q = (const unsigned char *)w;
    size_t k = 0;
    for (; q[k]; k++) {
        if (i + k >= len)
            return 0;
        unsigned a = p[i + k];
        if (is_upper(a))
            a += 32;
        else if (k > 0 && p[i + k - 1] == 0xC3 && a >= 0x80 && a <= 0x9E && a != 0x97)
            a += 0x20;
        if (a != q[k])
            return 0;
    }
    return k;
}

/* match_ci of a whole word: what follows is not part of a word. */
static size_t word_at(const unsigned char *p, size_t len, size_t i, const char *w)
{
    size_t n = match_ci(p, len, i, w);
    return n && right_ok(p, len, i + n) ? n : 0;
}

static size_t skip_spaces(const unsigned char *p, size_t len, size_t i)
{
    size_t s;
    while ((s = space_at(p, len, i)) != 0 || (i < len && p[i] == '\t'))
        i += s ? s : 1;
    return i;
}

/* ---- checksums ----------------------------------------------------------------- */

static bool luhn(const char *d, int n)
{
    int sum = 0;
    for (int i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i & 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

static unsigned mod97_push(unsigned r, char c)
{
    if (is_digit((unsigned char)c))
        return (r * 10 + (unsigned)(c - '0')) % 97;
    return (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
}

static unsigned num(const char *d, int n)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

static bool all_digits(const char *d, int n)
{
    for (int i = 0; i < n; i++)
        if (!is_digit((unsigned char)d[i]))
            return false;
    return true;
}

/* The French RIB key over bank(5) branch(5) account(11) key(2), account
 * letters read as digits (A,J→1 B,K,S→2 … I,R,Z→9). */
static bool rib_key_ok(const char *c)
{
    if (!all_digits(c, 10) || !all_digits(c + 21, 2))
        return false;
    uint64_t acc = 0;
    for (int i = 10; i < 21; i++) {
        unsigned ch = (unsigned char)c[i];
        unsigned v = is_digit(ch) ? ch - '0' : (ch - 'A' + (ch >= 'S')) % 9 + 1;
        acc = acc * 10 + v;
    }
    uint64_t r = (89 * (uint64_t)num(c, 5) + 15 * (uint64_t)num(c + 5, 5) + 3 * acc) % 97;
    return 97 - r == num(c + 21, 2);
}

/* ---- runs ---------------------------------------------------------------------- */

#define RUN_MAX 40

/* Alphanumeric characters read from a start, across separators. */
struct run {
    int n;
    bool more;                  /* the run goes on past RUN_MAX characters */
    char c[RUN_MAX];            /* upper-cased */
    char raw[RUN_MAX];          /* as typed */
    unsigned char sep[RUN_MAX]; /* separator kind before c[k] (0: none) */
    size_t end[RUN_MAX];        /* byte offset just past c[k] */
};

static void run_read(const unsigned char *p, size_t len, size_t i, struct run *r)
{
    unsigned char kind = 0;
    r->n = 0;
    r->more = false;
    for (;;) {
        if (i < len && is_alnum(p[i])) {
            if (r->n == RUN_MAX) {
                r->more = true;
                return;
            }
            r->sep[r->n] = kind;
            r->raw[r->n] = (char)p[i];
            r->c[r->n] = (char)to_upper(p[i]);
            r->end[r->n] = i + 1;
            r->n++;
            i++;
            kind = 0;
            continue;
        }
        unsigned char k;
        size_t s = sep_at(p, len, i, &k);
        if (!s || i + s >= len || !is_alnum(p[i + s]))
            return;
        kind = k;
        i += s;
    }
}

/* Whether the first k characters of the run can be a whole candidate: a
 * group ends after them. */
static bool run_cut(const unsigned char *p, size_t len, const struct run *r, int k)
{
    if (k <= 0 || k > r->n)
        return false;
    if (k < r->n)
        return r->sep[k] != 0;
    return !r->more && right_ok(p, len, r->end[k - 1]);
}

/* Group sizes of the first k characters; returns their count (0 if > max). */
static int run_groups(const struct run *r, int k, int *g, int max)
{
    int ng = 0;
    for (int i = 0; i < k; i++) {
        if (i == 0 || r->sep[i]) {
            if (ng == max)
                return 0;
            g[ng++] = 0;
        }
        g[ng - 1]++;
    }
    return ng;
}

static bool groups_are(const int *g, int ng, const int *want, int nw)
{
    return ng == nw && memcmp(g, want, (size_t)nw * sizeof *g) == 0;
}

#define GROUPS(...)                                                                                \
    (const int[]){__VA_ARGS__}, (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int))

/* All separators among the first k characters are of one kind. */
static bool run_one_sep(const struct run *r, int k)
{
    unsigned char kind = 0;
    for (int i = 1; i < k; i++)
        if (r->sep[i]) {
            if (kind && r->sep[i] != kind)
                return false;
            kind = r->sep[i];
        }
    return true;
}

/* Where scanning resumes after a digit run that matched nothing: past its
 * digit-only groups, so that "12 FR76…" still finds the IBAN. */
static size_t run_skip(const unsigned char *p, size_t len, size_t start, const struct run *r)
{
    int last_digit_group_end = -1;
    for (int i = 0; i < r->n; i++) {
        if (i > 0 && r->sep[i])
            last_digit_group_end = i - 1;
        if (!is_digit((unsigned char)r->c[i]))
            return last_digit_group_end >= 0 ? r->end[last_digit_group_end]
                                             : skip_word(p, len, start);
    }
    return r->n ? r->end[r->n - 1] : start + 1;
}

/* ---- context ----------------------------------------------------------------- */

enum ctx { CTX_NONE, CTX_POS, CTX_NEG };

#define CTX_WINDOW 48

/* Words that say what a number is, folded to lower case; a trailing '*'
 * makes a prefix ("facture*" for "factures", not "ref" for "refus"). */
static const char *const ctx_pos[] = {"siren", "siret", "rcs", "immatricul*", NULL};
static const char *const ctx_neg[] = {
    "r\303\251f", "ref", "r\303\251f\303\251rence*", "reference*", "commande*", "cde", "facture*",
    "colis", "suivi", "ticket*", "dossier*", "devis", "bordereau*", "contrat*", "transaction*",
    "ordre", "sinistre*", "mod\303\250le*", "modele*", "produit*", "article*",
    /* what else is written with 14 digits: meter points, barcodes */
    "pdl", "prm", "pce", "compteur*", "ean", "gtin", NULL};

/* Length of keyword w at p[k] (before end), or 0. */
static size_t keyword_at(const unsigned char *p, size_t end, size_t k, const char *w)
{
    size_t n = strlen(w);
    bool prefix = w[n - 1] == '*';
    const unsigned char *q = (const unsigned char *)w;
    if (q[0] != (p[k] | 0x20))
        return 0;
    for (size_t i = 0; i < n - prefix; i++) {
        if (k + i >= end)
            return 0;
        unsigned a = p[k + i];
        if (is_upper(a))
            a += 32;
        else if (i > 0 && p[k + i - 1] == 0xC3 && a >= 0x80 && a <= 0x9E)
            a += 0x20;
        if (a != q[i])
            return 0;
    }
    n -= prefix;
    return prefix || right_ok(p, end, k + n) ? n : 0;
}

/* What the few words before p[start] say the number is. The nearest keyword
 * wins. */
static enum ctx context_before(const unsigned char *p, size_t start)
{
    size_t from = start;
    /* The words since the previous number, line or sentence stop. */
    while (from > 0 && start - from < CTX_WINDOW && !is_digit(p[from - 1]) && p[from - 1] != '\n' &&
           p[from - 1] != ';' && p[from - 1] != '!' && p[from - 1] != '?')
        from--;
    long pos = -1, neg = -1;
    for (size_t k = from; k < start; k++) {
        if (!is_alpha(p[k]) ||
            (k > 0 && cp_is_word(p[k - 1] < 0x80 ? p[k - 1] : cp_before(p, start, k))))
            continue;
        for (const char *const *w = ctx_pos; *w; w++)
            if (keyword_at(p, start, k, *w))
                pos = (long)k;
        for (const char *const *w = ctx_neg; *w; w++)
            if (keyword_at(p, start, k, *w))
                neg = (long)k;
    }
    return pos > neg ? CTX_POS : neg > pos ? CTX_NEG : CTX_NONE;
}

/* An amount or a measure: the number is followed by a currency or a unit,
 * or by a decimal part. */
static bool unit_after(const unsigned char *p, size_t len, size_t i)
{
    if (i + 1 < len && p[i] == ',' && is_digit(p[i + 1]))
        return true;
    i = skip_spaces(p, len, i);
    if (i >= len || !strchr("\xe2\xc2$%kKmMeEhHtT", p[i]))
        return false;
    static const char *const units[] = {"\xe2\x82\xac",  "$", "\xc2\xa3", "%", "k\xe2\x82\xac",
                                        "m\xe2\x82\xac", NULL};
    for (const char *const *u = units; *u; u++)
        if (match_ci(p, len, i, *u))
            return true;
    static const char *const words[] = {"eur", "euro", "euros", "habitants", "hab",    "km",
                                        "kg",  "ha",   "m2",    "m\xc2\xb2", "tonnes", NULL};
    for (const char *const *w = words; *w; w++)
        if (word_at(p, len, i, *w))
            return true;
    return false;
}

/* ---- numeric identifiers -------------------------------------------------------- */

struct cand {
    const unsigned char *p;
    size_t len, start;
    const struct run *r;
    enum ctx ctx; /* computed on first use */
    bool ctx_done;
};

static enum ctx cand_ctx(struct cand *c)
{
    if (!c->ctx_done) {
        c->ctx = context_before(c->p, c->start);
        c->ctx_done = true;
    }
    return c->ctx;
}

static bool emit(struct pii_match *m, enum pii_type t, size_t start, size_t end)
{
    m->type = t;
    m->off = start;
    m->len = end - start;
    return true;
}

/* A candidate of k characters of the run ends where a group ends and is not
 * an amount. */
static bool cand_cut(struct cand *c, int k)
{
    return run_cut(c->p, c->len, c->r, k) && !unit_after(c->p, c->len, c->r->end[k - 1]);
}

/* The same, and no group of digits follows: a Luhn-only identifier must be
 * the whole number ("404 833 048 00007" is a mistyped SIRET, not a SIREN). */
static bool cand_whole(struct cand *c, int k)
{
    return cand_cut(c, k) && (k == c->r->n || !is_digit((unsigned char)c->r->c[k]));
}

/* NIR: sex, year, month, department (2A/2B in Corsica, 97x overseas, 99
 * abroad), commune, order number, and key = 97 - (the 13 digits mod 97),
 * with 2A read as 19 and 2B as 18. */
static bool det_nir(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    const char *d = r->c;
    if (r->n < 15 || !cand_whole(c, 15))
        return false;
    /* Groups break between fields only: 1 85 03 75 123 456 41 (or 971 05). */
    for (int i = 1; i < 15; i++)
        if (r->sep[i] && i != 1 && i != 3 && i != 5 && i != 7 && i != 8 && i != 10 && i != 13)
            return false;
    if (!strchr("1278", d[0]) || !all_digits(d, 5) || !all_digits(d + 7, 8))
        return false;
    unsigned month = num(d + 3, 2);
    if (!((month >= 1 && month <= 12) || (month >= 20 && month <= 42) || month >= 50))
        return false;
    char dept[2] = {d[5], d[6]};
    if (d[5] == '2' && (d[6] == 'A' || d[6] == 'B'))
        dept[0] = '1', dept[1] = d[6] == 'A' ? '9' : '8';
    else if (!all_digits(d + 5, 2) || num(d + 5, 2) == 0)
        return false;
    if (num(d + 7, 3) == 0 || num(d + 10, 3) == 0)
        return false;
    unsigned r97 = 0;
    for (int i = 0; i < 13; i++)
        r97 = mod97_push(r97, i == 5 ? dept[0] : i == 6 ? dept[1] : d[i]);
    if (97 - r97 != num(d + 13, 2))
        return false;
    return emit(m, PII_NIR, c->start, r->end[14]);
}

/* RIB: bank(5) branch(5) account(11, may hold letters) key(2), typed as
 * "30004 00550 00012345678 06" or in one piece. */
static bool det_rib(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    int g[8];
    if (r->n < 23 || !cand_whole(c, 23))
        return false;
    int ng = run_groups(r, 23, g, 8);
    if (!groups_are(g, ng, GROUPS(23)) && !groups_are(g, ng, GROUPS(5, 5, 11, 2)))
        return false;
    if (!rib_key_ok(r->c))
        return false;
    return emit(m, PII_RIB, c->start, r->end[22]);
}

static bool siret_valid(const char *d)
{
    if (memcmp(d, "356000000", 9) == 0) {
        /* La Poste: one SIREN, too many establishments for Luhn; the rule is
         * that the digit sum is a multiple of 5. */
        int sum = 0;
        for (int i = 0; i < 14; i++)
            sum += d[i] - '0';
        return sum % 5 == 0;
    }
    return luhn(d, 9) && luhn(d, 14);
}

/* 14 digits that read as a date and time, YYYYMMDDhhmmss (1900-2099): a
 * timestamp. Few SIRETs read so (one in 15,000), and those few start with
 * 19 or 20, the SIRENs of public bodies. */
static bool compact_datetime(const char *d)
{
    unsigned y = num(d, 4), mo = num(d + 4, 2), day = num(d + 6, 2);
    return y >= 1900 && y <= 2099 && mo >= 1 && mo <= 12 && day >= 1 && day <= 31 &&
           num(d + 8, 2) <= 23 && num(d + 10, 2) <= 59 && num(d + 12, 2) <= 59;
}

/* SIRET: Luhn over the 14 digits and over the SIREN they start with (La
 * Poste aside). Grouped as 3-3-3-5 (or 3-3-3-3-2, 9-5) or in one piece:
 * both checks pass for one random 14-digit number in a hundred, and a SIRET
 * is often pasted in one piece from a form or a register, so masking wins
 * unless the words before say it is something else (an order, a contract,
 * a meter point…) or, not introduced as a SIRET, it reads as a timestamp. */
static bool det_siret(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    int g[8];
    if (r->n < 14 || !all_digits(r->c, 14) || !cand_whole(c, 14) || !siret_valid(r->c))
        return false;
    int ng = run_groups(r, 14, g, 8);
    bool grouped = groups_are(g, ng, GROUPS(3, 3, 3, 5)) ||
                   groups_are(g, ng, GROUPS(3, 3, 3, 3, 2)) || groups_are(g, ng, GROUPS(9, 5));
    grouped = grouped && run_one_sep(r, 14);
    if (!grouped && !groups_are(g, ng, GROUPS(14)))
        return false;
    enum ctx x = cand_ctx(c);
    if (x == CTX_NEG || (!grouped && x != CTX_POS && compact_datetime(r->c)))
        return false;
    return emit(m, PII_SIRET, c->start, r->end[13]);
}

/* SIREN: 9 digits, Luhn; printed 3 3 3, or otherwise when introduced. */
static bool det_siren(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    int g[4];
    if (r->n < 9 || !all_digits(r->c, 9) || !cand_whole(c, 9) || !luhn(r->c, 9))
        return false;
    int ng = run_groups(r, 9, g, 4);
    bool by3 = groups_are(g, ng, GROUPS(3, 3, 3)) && run_one_sep(r, 9);
    if (!by3 && ng != 1)
        return false;
    /* "404 833 048" is how SIRENs are printed; in one piece, or with dots or
     * dashes, the number could as well be an amount or a reference. */
    bool printed = by3 && r->sep[3] == ' ';
    enum ctx x = cand_ctx(c);
    if (x == CTX_NEG || (!printed && x != CTX_POS))
        return false;
    return emit(m, PII_SIREN, c->start, r->end[8]);
}

static bool in_range(const char *d, int digits, unsigned lo, unsigned hi)
{
    unsigned v = num(d, digits);
    return v >= lo && v <= hi;
}

/* Issuer prefixes (IIN) and the lengths each network issues. */
static bool card_iin(const char *d, int n)
{
    switch (d[0]) {
    case '4': /* Visa */ return n == 13 || n == 16 || n == 19;
    case '5':
        if (in_range(d, 2, 51, 55)) /* Mastercard */
            return n == 16;
        /* Maestro */
        return (d[1] == '0' || in_range(d, 2, 56, 58)) && n >= 16;
    case '2':
        if (in_range(d, 4, 2221, 2720)) /* Mastercard 2-series */
            return n == 16;
        return in_range(d, 4, 2200, 2204) && n >= 16; /* Mir */
    case '3':
        if (d[1] == '4' || d[1] == '7') /* American Express */
            return n == 15;
        if (in_range(d, 4, 3528, 3589)) /* JCB */
            return n >= 16;
        if (in_range(d, 3, 300, 305) || in_range(d, 4, 3095, 3095) || d[1] == '6' || d[1] == '8' ||
            d[1] == '9') /* Diners Club */
            return n >= 14;
        return false;
    case '6':
        if (in_range(d, 4, 6011, 6011) || in_range(d, 3, 644, 649) || d[1] == '5' || d[1] == '2')
            return n >= 16; /* Discover, UnionPay */
        if (in_range(d, 4, 6304, 6304) || in_range(d, 4, 6759, 6759) || in_range(d, 4, 6761, 6763))
            return n >= 16; /* Maestro */
        return false;
    default: return false;
    }
}

/* How card numbers are printed: in one piece, by fours, or 4-6-5 / 4-6-4
 * (American Express, Diners). */
static bool card_groups(const int *g, int ng)
{
    if (ng == 1)
        return g[0] != 14; /* 14 digits in one piece: a SIRET, rarely a Diners card */
    if (groups_are(g, ng, GROUPS(4, 6, 5)) || groups_are(g, ng, GROUPS(4, 6, 4)))
        return true;
    for (int i = 0; i < ng - 1; i++)
        if (g[i] != 4)
            return false;
    return g[ng - 1] >= 1 && g[ng - 1] <= 4;
}

static bool det_card(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    int g[8];
    for (int k = r->n < 19 ? r->n : 19; k >= 13; k--) {
        if (!all_digits(r->c, k) || !cand_whole(c, k))
            continue;
        int ng = run_groups(r, k, g, 8);
        if (!ng || !card_groups(g, ng) || !run_one_sep(r, k) || !card_iin(r->c, k) ||
            !luhn(r->c, k))
            continue;
        if (cand_ctx(c) == CTX_NEG)
            return false;
        return emit(m, PII_CARD, c->start, r->end[k - 1]);
    }
    return false;
}

/* Reads exactly want digits from p[i], with a separator allowed between any
 * two; they must end the number. OUT: d (want digits), *end, *gaps (bit k
 * set when a separator comes before digit k). */
static bool read_digits(const unsigned char *p, size_t len, size_t i, int want, char *d,
                        size_t *end, unsigned *gaps)
{
    *gaps = 0;
    for (int k = 0; k < want; k++) {
        if (k > 0 && !(i < len && is_digit(p[i]))) {
            unsigned char kind;
            size_t s = sep_at(p, len, i, &kind);
            if (!s)
                return false;
            i += s;
            *gaps |= 1u << k;
        }
        if (i >= len || !is_digit(p[i]))
            return false;
        d[k] = (char)p[i++];
    }
    *end = i;
    return right_ok(p, len, i) && !unit_after(p, len, i);
}

#define BIT(k) (1u << (k))
#define EVEN_GAPS (BIT(2) | BIT(4) | BIT(6) | BIT(8))

/* How French numbers are grouped: in pairs (06 12 34 56 78), or in pairs
 * merged (0612 34 56 78, 06 1234 5678), or 0612 345 678, or in one piece.
 * off is 1 for the nine digits after +33, whose pairs start at digit 1. */
static bool phone_groups_ok(unsigned gaps, int off)
{
    if (off)
        gaps <<= 1;
    return (gaps & ~EVEN_GAPS) == 0 || gaps == (BIT(4) | BIT(7));
}

/* The 9 national digits of a French number, given the n digits that follow
 * its country code 33 (a 0 typed before them is tolerated); NULL when they
 * are not a French number. */
static const char *phone_fr_national(const char *d, size_t n)
{
    if (n == 10 && d[0] == '0')
        return d + 1;
    return n == 9 ? d : NULL;
}

/* After "+33" or "0033": an optional "(0)", then the 9 national digits
 * (a 0 typed before them is tolerated). */
static bool phone_fr_intl(const unsigned char *p, size_t len, size_t start, size_t i,
                          struct pii_match *m)
{
    char d[10];
    size_t end;
    unsigned gaps;
    unsigned char kind;
    if (i < len && p[i] == ')' && start > 0 && p[start - 1] == '(')
        i++, start--; /* "(+33) 6 …": the parentheses go with the number */
    i += sep_at(p, len, i, &kind);
    if (i + 2 < len && p[i] == '(' && p[i + 1] == '0' && p[i + 2] == ')')
        i = skip_spaces(p, len, i + 3);
    if (i < len && p[i] == '0') {
        if (read_digits(p, len, i, 10, d, &end, &gaps) && d[1] != '0' && phone_groups_ok(gaps, 0))
            return emit(m, PII_PHONE, start, end);
        return false;
    }
    if (read_digits(p, len, i, 9, d, &end, &gaps) && phone_groups_ok(gaps, 1))
        return emit(m, PII_PHONE, start, end);
    return false;
}

/* French numbers: 0, then 1-9, then 8 digits; "0033 …". */
static bool det_phone_fr(struct cand *c, struct pii_match *m)
{
    const unsigned char *p = c->p;
    size_t i = c->start, end;
    char d[10];
    unsigned gaps;
    if (p[i] != '0')
        return false;
    if (i + 4 <= c->len && memcmp(p + i, "0033", 4) == 0)
        return phone_fr_intl(p, c->len, i, i + 4, m);
    if (!read_digits(p, c->len, i, 10, d, &end, &gaps) || d[1] == '0' || !phone_groups_ok(gaps, 0))
        return false;
    /* A bare ten-digit block introduced as a file or order number is one. */
    if (!gaps && cand_ctx(c) == CTX_NEG)
        return false;
    return emit(m, PII_PHONE, i, end);
}

/* "+CC …": French numbers as above, others by E.164 length (8-15 digits),
 * "(0)" allowed once between groups ("+44 (0)20 …"). */
static bool det_phone_plus(const unsigned char *p, size_t len, size_t i, struct pii_match *m)
{
    size_t j = i + 1;
    if (j + 1 < len && p[j] == '3' && p[j + 1] == '3')
        return phone_fr_intl(p, len, i, j + 2, m);
    if (j >= len || !is_digit(p[j]) || p[j] == '0')
        return false;
    char d[16];
    int digits = 0;
    bool trunk = false;
    size_t end = j;
    for (;;) {
        for (; j < len && is_digit(p[j]); j++, digits++)
            if (digits < (int)sizeof d)
                d[digits] = (char)p[j];
        end = j;
        unsigned char kind;
        size_t k = j + sep_at(p, len, j, &kind);
        if (!trunk && k + 2 < len && p[k] == '(' && p[k + 1] == '0' && p[k + 2] == ')') {
            trunk = true;
            k = skip_spaces(p, len, k + 3);
        }
        if (k == j || k >= len || !is_digit(p[k]))
            break;
        j = k;
    }
    if (digits < 8 || digits > 15 || !right_ok(p, len, end) || unit_after(p, len, end))
        return false;
    /* The country code is in the digits, not in the spacing: "+3 3 6 12 34 56
     * 78" is French (and pii_canonical reads it so), "+3 31 51 82 221 4141"
     * no number at all. */
    if (d[0] == '3' && d[1] == '3' && !phone_fr_national(d + 2, (size_t)digits - 2))
        return false;
    return emit(m, PII_PHONE, i, end);
}

static bool plate_letter_ok(unsigned c)
{
    return is_upper(c) && c != 'I' && c != 'O' && c != 'U';
}

/* Old FNI plates: number (1-9999, no leading zero), 1-3 letters (1-999
 * with three), department (01-95, 2A, 2B, 971-976), separated by spaces or
 * dashes, letters in upper case. */
static bool det_plate_fni(const unsigned char *p, size_t len, size_t i, struct pii_match *m)
{
    size_t j = i;
    while (j < len && is_digit(p[j]) && j - i < 5)
        j++;
    size_t nd = j - i;
    if (nd < 1 || nd > 4 || p[i] == '0' || j >= len || (p[j] != ' ' && p[j] != '-'))
        return false;
    unsigned char sep = p[j++];
    size_t l0 = j;
    while (j < len && plate_letter_ok(p[j]) && j - l0 < 4)
        j++;
    size_t nl = j - l0;
    if (nl < 1 || nl > 3 || (nl == 3 && nd > 3) || (nl == 2 && p[l0] == 'S' && p[l0 + 1] == 'S'))
        return false;
    if (j >= len || p[j] != sep)
        return false;
    j++;
    if (j + 1 >= len)
        return false;
    if (p[j] == '2' && (p[j + 1] == 'A' || p[j + 1] == 'B')) {
        j += 2;
    } else if (is_digit(p[j]) && is_digit(p[j + 1])) {
        unsigned dept = (p[j] - '0') * 10u + (p[j + 1] - '0');
        if (dept == 97 && j + 2 < len && p[j + 2] >= '1' && p[j + 2] <= '6')
            j += 3;
        else if (dept >= 1 && dept <= 95)
            j += 2;
        else
            return false;
    } else {
        return false;
    }
    if (!right_ok(p, len, j))
        return false;
    return emit(m, PII_PLATE, i, j);
}

static bool det_digits(const unsigned char *p, size_t len, size_t i, struct pii_match *m,
                       size_t *skip)
{
    /* Most numbers in prose are short and stand alone ("2024", "69002") or
     * count words ("14 mars", "12 rue"): a match needs 9 digits in one piece,
     * or another group of digits, or the upper-case letters of an old plate. */
    size_t j = i;
    while (j < len && is_digit(p[j]))
        j++;
    if (j - i < 9 && !(j < len && is_alpha(p[j]))) { /* "2A" of a Corsican NIR */
        unsigned char kind;
        size_t s = sep_at(p, len, j, &kind);
        if (!s || j + s >= len || !(is_digit(p[j + s]) || is_upper(p[j + s]))) {
            *skip = skip_word(p, len, i);
            return false;
        }
    }
    struct run r;
    run_read(p, len, i, &r);
    *skip = run_skip(p, len, i, &r);
    struct cand c = {.p = p, .len = len, .start = i, .r = &r};
    return det_nir(&c, m) || det_rib(&c, m) || det_siret(&c, m) || det_siren(&c, m) ||
           det_card(&c, m) || det_phone_fr(&c, m) || det_plate_fni(p, len, i, m);
}

/* ---- identifiers that start with letters ------------------------------------------ */

struct iban_country {
    char cc[3];
    unsigned char len;
};

/* SWIFT IBAN registry lengths (the French overseas codes use France's). */
static const struct iban_country iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AX", 18}, {"AZ", 28}, {"BA", 20}, {"BE", 16},
    {"BG", 22}, {"BH", 22}, {"BI", 27}, {"BL", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22},
    {"CY", 28}, {"CZ", 24}, {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29},
    {"ES", 24}, {"FI", 18}, {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GF", 27},
    {"GG", 22}, {"GI", 23}, {"GL", 18}, {"GP", 27}, {"GR", 27}, {"GT", 28}, {"HN", 28}, {"HR", 21},
    {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IM", 22}, {"IQ", 23}, {"IS", 26}, {"IT", 27}, {"JE", 22},
    {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20}, {"LU", 20},
    {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MF", 27}, {"MK", 19}, {"MN", 20},
    {"MQ", 27}, {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NC", 27}, {"NI", 28}, {"NL", 18}, {"NO", 15},
    {"OM", 23}, {"PF", 27}, {"PK", 24}, {"PL", 28}, {"PM", 27}, {"PS", 29}, {"PT", 25}, {"QA", 29},
    {"RE", 27}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24}, {"SC", 31}, {"SD", 18}, {"SE", 24},
    {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25}, {"SV", 28}, {"TF", 27}, {"TL", 23},
    {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"WF", 27}, {"XK", 20}, {"YT", 27},
};

/* Countries whose BBAN is a French RIB, with its key. */
static const char rib_countries[] = "FR MC GF GP MQ RE PF TF YT NC BL MF PM WF";

static int iban_length(const char *cc)
{
    for (size_t i = 0; i < sizeof iban_countries / sizeof *iban_countries; i++)
        if (iban_countries[i].cc[0] == cc[0] && iban_countries[i].cc[1] == cc[1])
            return iban_countries[i].len;
    return 0;
}

static bool is_rib_country(const char *cc)
{
    for (const char *s = rib_countries; *s; s += s[2] ? 3 : 2)
        if (s[0] == cc[0] && s[1] == cc[1])
            return true;
    return false;
}

/* IBANs are typed in one piece or by fours; French ones also as "FR76"
 * followed by the RIB's own groups (5 5 11 2). */
static bool iban_groups(const struct run *r, int n)
{
    int g[12];
    int ng = run_groups(r, n, g, 12);
    if (ng == 1)
        return true;
    if (ng == 5 && g[0] == 4 && g[1] == 5 && g[2] == 5 && g[3] == 11 && g[4] == 2)
        return true;
    for (int i = 0; i < ng - 1; i++)
        if (g[i] != 4)
            return false;
    return ng > 1 && g[ng - 1] <= 4;
}

/* IBAN: country, two check digits, BBAN of the registry length; the whole
 * string, moved so that it starts with the BBAN, is 1 mod 97. French BBANs
 * must also carry a valid RIB key. */
static bool det_iban(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    const char *d = r->c;
    if (r->n < 15 || !is_upper((unsigned char)d[0]) || !is_upper((unsigned char)d[1]) ||
        !all_digits(d + 2, 2) || r->sep[1] || r->sep[2] || r->sep[3] ||
        is_lower((unsigned char)r->raw[0]) != is_lower((unsigned char)r->raw[1]))
        return false;
    int n = iban_length(d);
    if (!n || r->n < n || !run_cut(c->p, c->len, r, n) || !iban_groups(r, n))
        return false;
    unsigned r97 = 0;
    for (int i = 4; i < n; i++)
        r97 = mod97_push(r97, d[i]);
    for (int i = 0; i < 4; i++)
        r97 = mod97_push(r97, d[i]);
    if (r97 != 1)
        return false;
    if (is_rib_country(d) && !rib_key_ok(d + 4))
        return false;
    return emit(m, PII_IBAN, c->start, r->end[n - 1]);
}

/* French VAT: FR, key = (12 + 3 × (SIREN mod 97)) mod 97, SIREN (Luhn). */
static bool det_vat(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    const char *d = r->c;
    if (r->n < 13 || d[0] != 'F' || d[1] != 'R' || r->sep[1] || !all_digits(d + 2, 11) ||
        !run_cut(c->p, c->len, r, 13))
        return false;
    if (!luhn(d + 4, 9) || (12 + 3 * (num(d + 4, 9) % 97)) % 97 != num(d + 2, 2))
        return false;
    return emit(m, PII_VAT, c->start, r->end[12]);
}

/* SIV plates: AA-123-AA, no I, O or U, no SS, 001-999; dashes, spaces or
 * nothing between the blocks. Lower case only with dashes or in one piece
 * ("de 123 la" is prose). */
static bool det_plate_siv(struct cand *c, struct pii_match *m)
{
    const struct run *r = c->r;
    const char *d = r->c, *raw = r->raw;
    if (r->n < 7 || !run_cut(c->p, c->len, r, 7))
        return false;
    for (int i = 0; i < 7; i++) {
        bool letter = i < 2 || i > 4;
        if (letter ? !plate_letter_ok((unsigned char)d[i]) : !is_digit((unsigned char)d[i]))
            return false;
    }
    if (r->sep[1] || r->sep[3] || r->sep[4] || r->sep[6] || r->sep[2] != r->sep[5] ||
        r->sep[2] == '.')
        return false;
    if ((d[0] == 'S' && d[1] == 'S') || (d[5] == 'S' && d[6] == 'S') || num(d + 2, 3) == 0)
        return false;
    int lower = 0;
    for (int i = 0; i < 7; i++)
        lower += is_lower((unsigned char)raw[i]);
    if (lower == 4 && r->sep[2] == ' ')
        return false;
    if (lower != 0 && lower != 4)
        return false;
    if (!r->sep[2] && cand_ctx(c) == CTX_NEG) /* "Réf. AB123CD" */
        return false;
    return emit(m, PII_PLATE, c->start, r->end[6]);
}

/* ---- dates of birth ----------------------------------------------------------------- */

struct date {
    int y, mo, d, ydigits;
};

static size_t read_int(const unsigned char *p, size_t len, size_t i, int max, int *v)
{
    size_t k = 0;
    *v = 0;
    while (i + k < len && is_digit(p[i + k])) {
        if ((int)k == max)
            return 0;
        *v = *v * 10 + (p[i + k] - '0');
        k++;
    }
    return k;
}

static const struct {
    const char *name;
    int month;
} month_names[] = {
    {"janvier", 1},     {"janv", 1},
    {"jan", 1},         {"f\303\251vrier", 2},
    {"fevrier", 2},     {"f\303\251vr", 2},
    {"fevr", 2},        {"f\303\251v", 2},
    {"fev", 2},         {"mars", 3},
    {"avril", 4},       {"avr", 4},
    {"mai", 5},         {"juin", 6},
    {"juillet", 7},     {"juil", 7},
    {"ao\303\273t", 8}, {"aout", 8},
    {"septembre", 9},   {"sept", 9},
    {"sep", 9},         {"octobre", 10},
    {"oct", 10},        {"novembre", 11},
    {"nov", 11},        {"d\303\251cembre", 12},
    {"decembre", 12},   {"d\303\251c", 12},
    {"dec", 12},
};

static size_t read_month(const unsigned char *p, size_t len, size_t i, int *month)
{
    for (size_t k = 0; k < sizeof month_names / sizeof *month_names; k++) {
        size_t n = word_at(p, len, i, month_names[k].name);
        if (n) {
            *month = month_names[k].month;
            if (i + n < len && p[i + n] == '.')
                n++;
            return n;
        }
    }
    return 0;
}

static bool date_valid(const struct date *dt)
{
    static const int dim[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (dt->mo < 1 || dt->mo > 12 || dt->d < 1 || dt->d > dim[dt->mo - 1])
        return false;
    if (dt->ydigits == 4) {
        if (dt->y < 1880 || dt->y > 2099)
            return false;
        bool leap = (dt->y % 4 == 0 && dt->y % 100 != 0) || dt->y % 400 == 0;
        if (dt->mo == 2 && dt->d == 29 && !leap)
            return false;
    } else if (dt->ydigits != 2) {
        return false;
    }
    return true;
}

/* 12/03/1985, 12.03.85, 12-03-1985, 3 mars 1985, 1er mars 85, 1985-03-12. */
static bool parse_date(const unsigned char *p, size_t len, size_t i, size_t *end, struct date *dt)
{
    int a, b, y;
    size_t na = read_int(p, len, i, 4, &a), j = i + na, n;
    if (na == 4) {
        if (j >= len || (p[j] != '-' && p[j] != '/' && p[j] != '.'))
            return false;
        unsigned char s = p[j++];
        if (!(n = read_int(p, len, j, 2, &b)) || j + n >= len || p[j + n] != s)
            return false;
        j += n + 1;
        int dd;
        if (!(n = read_int(p, len, j, 2, &dd)))
            return false;
        j += n;
        *dt = (struct date){a, b, dd, 4};
    } else if (na >= 1 && na <= 2) {
        if (a == 1 && match_ci(p, len, j, "er"))
            j += 2;
        if (j < len && (p[j] == '/' || p[j] == '.' || p[j] == '-')) {
            unsigned char s = p[j++];
            if (!(n = read_int(p, len, j, 2, &b)) || j + n >= len || p[j + n] != s)
                return false;
            j += n + 1;
            if ((n = read_int(p, len, j, 4, &y)) != 2 && n != 4)
                return false;
            j += n;
            *dt = (struct date){y, b, a, (int)n};
        } else {
            size_t k = skip_spaces(p, len, j);
            if (k == j || !(n = read_month(p, len, k, &b)))
                return false;
            j = skip_spaces(p, len, k + n);
            if ((n = read_int(p, len, j, 4, &y)) != 4 && n != 2)
                return false;
            j += n;
            *dt = (struct date){y, b, a, (int)n};
        }
    } else {
        return false;
    }
    if (!date_valid(dt) || !right_ok(p, len, j))
        return false;
    *end = j;
    return true;
}

/* What may sit between "le" and the date: "né le : 3 mars", "né le mardi
 * 3 mars". */
static size_t after_le(const unsigned char *p, size_t len, size_t j)
{
    static const char *const days[] = {"lundi",    "mardi",  "mercredi", "jeudi",
                                       "vendredi", "samedi", "dimanche", NULL};
    j = skip_spaces(p, len, j);
    if (j < len && p[j] == ':')
        j = skip_spaces(p, len, j + 1);
    for (const char *const *d = days; *d; d++) {
        size_t n = word_at(p, len, j, *d);
        if (n)
            return skip_spaces(p, len, j + n);
    }
    return j;
}

/* Where the date starts after a word that announces a date of birth ("né
 * le", "née à Lyon le", "date de naissance :", "DDN"), or 0. */
static size_t birth_trigger(const unsigned char *p, size_t len, size_t i)
{
    size_t n, j;
    if ((n = word_at(p, len, i, "ddn")) || (n = word_at(p, len, i, "dob")) ||
        (n = word_at(p, len, i, "naissance"))) {
        j = skip_spaces(p, len, i + n);
        if (j < len && (p[j] == ':' || p[j] == '-'))
            j = skip_spaces(p, len, j + 1);
        if ((n = word_at(p, len, j, "le")))
            j = after_le(p, len, j + n);
        return j;
    }
    static const char *const born[] = {"n\303\251es", "n\303\251e", "n\303\251s", "n\303\251",
                                       "nees",        "nee",        "ne",         NULL};
    n = 0;
    for (const char *const *w = born; *w && !n; w++)
        n = match_ci(p, len, i, *w);
    if (!n)
        return 0;
    j = i + n;
    if ((n = match_ci(p, len, j, "(e)")) || (n = match_ci(p, len, j, "(es)")) ||
        (n = match_ci(p, len, j, "\302\267e"))) /* "né·e" */
        j += n;
    if (!right_ok(p, len, j))
        return 0;
    size_t k = skip_spaces(p, len, j);
    if (k == j)
        return 0;
    if ((n = word_at(p, len, k, "le")))
        return after_le(p, len, k + n);
    if ((n = word_at(p, len, k, "\xc3\xa0")) || (n = word_at(p, len, k, "a"))) {
        /* "né à Saint-Étienne le …": the place, then "le" on the same line. */
        for (size_t q = k + n; q < len && q < k + 64 && p[q] != '\n'; q++)
            if (p[q] == ' ' && (n = word_at(p, len, q + 1, "le")))
                return after_le(p, len, q + 1 + n);
    }
    return 0;
}

static bool det_birthdate(const unsigned char *p, size_t len, size_t i, struct pii_match *m)
{
    size_t j = birth_trigger(p, len, i), end;
    struct date dt;
    if (!j || j >= len || !parse_date(p, len, j, &end, &dt))
        return false;
    return emit(m, PII_BIRTHDATE, j, end);
}

/* ---- e-mail ------------------------------------------------------------------- */

static bool is_local_char(unsigned c)
{
    return is_alnum(c) || (c && strchr("._%+-", (int)c));
}

/* Bytes of the local-part character at p[k]: ASCII ones, and letters of any
 * script ("élodie"); 0 for anything else. */
static size_t local_len(const unsigned char *p, size_t len, size_t k)
{
    if (p[k] < 0x80)
        return is_local_char(p[k]) ? 1 : 0;
    return cp_is_word(cp_at(p, len, k)) ? utf8_len(p[k]) : 0;
}

/* local@domain.tld, starting at p[i]; at is the '@'. */
static bool det_email(const unsigned char *p, size_t len, size_t i, size_t at, struct pii_match *m)
{
    for (size_t k = i, n; k < at; k += n)
        if (!(n = local_len(p, len, k)) || (p[k] == '.' && p[k + 1] == '.'))
            return false;
    if (p[at - 1] == '.')
        return false;
    size_t j = at + 1, end = 0;
    int labels = 0;
    bool tld_alpha = false;
    for (;;) {
        size_t s = j;
        while (j < len && (is_alnum(p[j]) || p[j] == '-'))
            j++;
        if (j == s || p[s] == '-' || p[j - 1] == '-' || j - s > 63)
            break;
        labels++;
        end = j;
        tld_alpha = j - s >= 2;
        for (size_t q = s; q < j; q++)
            tld_alpha = tld_alpha && is_alpha(p[q]);
        if (j + 1 < len && p[j] == '.' && is_alnum(p[j + 1]) && j - at < 250) {
            j++;
            continue;
        }
        break;
    }
    if (labels < 2 || !tld_alpha || !right_ok(p, len, end))
        return false;
    return emit(m, PII_EMAIL, i, end);
}

/* ---- the scanner --------------------------------------------------------------- */

void pii_scanner_init(struct pii_scanner *sc, struct str text)
{
    sc->text = text;
    sc->pos = 0;
    sc->next_at = SIZE_MAX;
}

/* Whether an '@' comes within 64 bytes of p[i]; the position of the next
 * one is kept, so that text without '@' costs one memchr. */
static inline bool email_near(struct pii_scanner *sc, size_t i)
{
    const unsigned char *p = (const unsigned char *)sc->text.ptr;
    size_t len = sc->text.len;
    if (sc->next_at == SIZE_MAX || sc->next_at < i) {
        const void *q = memchr(p + i, '@', len - i);
        sc->next_at = q ? (size_t)((const unsigned char *)q - p) : len;
    }
    return sc->next_at < len && sc->next_at - i <= 64;
}

/* The '@' of an e-mail address starting at p[i], or 0. */
static size_t email_at(struct pii_scanner *sc, size_t i)
{
    const unsigned char *p = (const unsigned char *)sc->text.ptr;
    size_t len = sc->text.len, at;
    if (!email_near(sc, i) || (at = sc->next_at) == i)
        return 0;
    for (size_t k = i, n; k < at; k += n)
        if (!(n = local_len(p, len, k)))
            return 0;
    return at;
}

/* The local part may hold accented letters ("élodie.martin@"): it starts
 * before the ASCII letter where the scanner stopped, but not before floor. */
static size_t email_start(const unsigned char *p, size_t len, size_t floor, size_t i)
{
    while (i > floor) {
        if (is_local_char(p[i - 1])) {
            i--;
            continue;
        }
        if (p[i - 1] < 0x80 || !cp_is_word(cp_before(p, len, i)))
            break;
        size_t j = i - 1;
        while (j > floor && (p[j] & 0xC0) == 0x80)
            j--;
        if (j + utf8_len(p[j]) != i)
            break;
        i = j;
    }
    return i;
}

/* Two letters then digits, as IBANs ("FR76"), VAT numbers ("FR 83") and
 * plates ("AB-123", "ab123", not "de 123") begin. */
static bool letters_then_digits(const unsigned char *p, size_t len, size_t i)
{
    if (i + 3 >= len || !is_alpha(p[i + 1]))
        return false;
    if (is_digit(p[i + 2]))
        return true;
    unsigned char kind;
    size_t s = sep_at(p, len, i + 2, &kind);
    if (!s || i + 2 + s >= len || !is_digit(p[i + 2 + s]))
        return false;
    bool vat = (p[i] | 0x20) == 'f' && (p[i + 1] | 0x20) == 'r';
    bool plate = is_upper(p[i]) || kind == '-';
    return vat || plate;
}

/* A word of letters p[i..e) can only start an e-mail address, a date of
 * birth's announcement ("né", "naissance", "DDN") or two letters followed
 * by digits (IBAN, VAT, plate): most words are dismissed on these bytes. */
static bool letters_worth_a_look(struct pii_scanner *sc, const unsigned char *p, size_t len,
                                 size_t i, size_t e)
{
    if (email_near(sc, i))
        return true;
    unsigned c1 = i + 1 < len ? p[i + 1] : 0, l1 = c1 | 0x20;
    switch (p[i] | 0x20) {
    case 'd':
        if (l1 == 'd' || l1 == 'o')
            return true;
        break;
    case 'n':
        if (l1 == 'a' || l1 == 'e' || c1 == 0xC3)
            return true;
        break;
    }
    if (e == i + 2)
        return letters_then_digits(p, len, i);
    return e > i + 2 && is_alpha(c1) && is_digit(p[i + 2]);
}

/* Runs the detectors that may match at p[i], a word start. OUT: *skip, where
 * to resume when none does. */
static bool detect(struct pii_scanner *sc, size_t floor, size_t i, struct pii_match *m,
                   size_t *skip)
{
    const unsigned char *p = (const unsigned char *)sc->text.ptr;
    size_t len = sc->text.len, at;
    unsigned c = p[i];
    if ((at = email_at(sc, i)) && det_email(p, len, i, at, m)) {
        size_t from = email_start(p, len, floor, i);
        m->len += m->off - from;
        m->off = from;
        return true;
    }
    if (is_digit(c))
        return det_digits(p, len, i, m, skip);
    unsigned lc = c | 0x20;
    if ((lc == 'n' || lc == 'd') && det_birthdate(p, len, i, m))
        return true;
    if (!letters_then_digits(p, len, i))
        return false;
    struct run r;
    run_read(p, len, i, &r);
    struct cand cd = {.p = p, .len = len, .start = i, .r = &r};
    if (det_iban(&cd, m) || det_vat(&cd, m) || det_plate_siv(&cd, m))
        return true;
    /* A broken IBAN is one token: no card number is looked for inside. */
    if (r.n >= 12 && !r.sep[1] && all_digits(r.c + 2, 2) && iban_length(r.c))
        *skip = r.end[r.n - 1];
    return false;
}

bool pii_next(struct pii_scanner *sc, struct pii_match *m)
{
    const unsigned char *p = (const unsigned char *)sc->text.ptr;
    size_t len = sc->text.len, i = sc->pos;
    for (;;) {
        while (i < len && !start_byte[p[i]])
            i++;
        if (i >= len)
            break;
        if (p[i] == '+') {
            if (left_ok(p, len, i) && det_phone_plus(p, len, i, m)) {
                sc->pos = m->off + m->len;
                return true;
            }
            i++;
            continue;
        }
        size_t e = skip_word(p, len, i), skip = e;
        if ((!is_digit(p[i]) && !letters_worth_a_look(sc, p, len, i, e)) || !left_ok(p, len, i)) {
            i = e;
            continue;
        }
        if (detect(sc, sc->pos, i, m, &skip)) {
            sc->pos = m->off + m->len;
            return true;
        }
        i = skip > i ? skip : e;
    }
    sc->pos = len;
    return false;
}

size_t pii_scan(struct str text, struct pii_match *out, size_t max)
{
    struct pii_scanner sc;
    struct pii_match m;
    size_t n = 0;
    pii_scanner_init(&sc, text);
    while (pii_next(&sc, &m)) {
        if (n < max)
            out[n] = m;
        n++;
    }
    return n;
}

/* ---- replacement ----------------------------------------------------------------- */

enum lair_err pii_replace(struct str text, struct buf *out,
                          enum lair_err (*fn)(void *ctx, enum pii_type type, struct str value,
                                              struct buf *out),
                          void *ctx)
{
    struct pii_scanner sc;
    struct pii_match m;
    size_t last = 0;
    enum lair_err e;
    pii_scanner_init(&sc, text);
    while (pii_next(&sc, &m)) {
        if ((e = buf_append(out, text.ptr + last, m.off - last)) != LAIR_OK)
            return e;
        if ((e = fn(ctx, m.type, (struct str){text.ptr + m.off, m.len}, out)) != LAIR_OK)
            return e;
        last = m.off + m.len;
    }
    return buf_append(out, text.ptr + last, text.len - last);
}

static const char *const mask_tags[PII_TYPE_COUNT] = {
    [PII_NIR] = "[NIR]",     [PII_IBAN] = "[IBAN]",           [PII_RIB] = "[RIB]",
    [PII_SIREN] = "[SIREN]", [PII_SIRET] = "[SIRET]",         [PII_VAT] = "[VAT]",
    [PII_CARD] = "[CARD]",   [PII_PHONE] = "[PHONE]",         [PII_EMAIL] = "[EMAIL]",
    [PII_PLATE] = "[PLATE]", [PII_BIRTHDATE] = "[BIRTHDATE]",
};

static enum lair_err mask_cb(void *ctx, enum pii_type type, struct str value, struct buf *out)
{
    return buf_puts(out, mask_tags[type]);
}

enum lair_err pii_mask(struct str text, struct buf *out)
{
    return pii_replace(text, out, mask_cb, NULL);
}

/* Copies at most n bytes of p into out[*len..cap - 1). False when cut. */
static bool put_bounded(char *out, size_t cap, size_t *len, const char *p, size_t n)
{
    size_t room = cap - 1 - *len;
    bool whole = n <= room;
    if (!whole)
        n = room;
    memcpy(out + *len, p, n);
    *len += n;
    return whole;
}

size_t pii_mask_to(struct str text, char *out, size_t cap)
{
    if (!cap)
        return 0;
    struct pii_scanner sc;
    struct pii_match m;
    size_t last = 0, len = 0;
    pii_scanner_init(&sc, text);
    while (pii_next(&sc, &m)) {
        if (!put_bounded(out, cap, &len, text.ptr + last, m.off - last) ||
            !put_bounded(out, cap, &len, mask_tags[m.type], strlen(mask_tags[m.type]))) {
            out[len] = 0;
            return len;
        }
        last = m.off + m.len;
    }
    put_bounded(out, cap, &len, text.ptr + last, text.len - last);
    out[len] = 0;
    return len;
}

static enum lair_err canonical_phone(struct str v, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)v.ptr;
    char d[20];
    size_t n = 0;
    /* "(+33) 6 …": the parenthesis opened before the "+" is in the match */
    bool plus = v.len && (p[0] == '+' || (p[0] == '(' && v.len > 1 && p[1] == '+'));
    for (size_t i = 0; i < v.len; i++) {
        if (p[i] == '(' && i + 2 < v.len && p[i + 1] == '0' && p[i + 2] == ')') {
            i += 2;
            continue;
        }
        if (is_digit(p[i]) && n < sizeof d)
            d[n++] = (char)p[i];
    }
    size_t skip = 0;
    if (plus && n >= 2 && d[0] == '3' && d[1] == '3')
        skip = 2, plus = false;
    else if (!plus && n >= 4 && memcmp(d, "0033", 4) == 0)
        skip = 4;
    if (skip) {
        const char *national = phone_fr_national(d + skip, n - skip);
        if (!national)
            return LAIR_EINVAL;
        enum lair_err e = buf_append(out, "0", 1);
        return e ? e : buf_append(out, national, 9);
    }
    if (plus) {
        enum lair_err e = buf_append(out, "+", 1);
        return e ? e : buf_append(out, d, n);
    }
    return n == 10 ? buf_append(out, d, n) : LAIR_EINVAL;
}

/* Two-digit years of birth: this century when not in the future. */
static int full_year(int yy)
{
    time_t now = time(NULL);
    struct tm tm;
    int cur = gmtime_r(&now, &tm) ? tm.tm_year + 1900 : 2025;
    return 2000 + yy <= cur ? 2000 + yy : 1900 + yy;
}

enum lair_err pii_canonical(enum pii_type type, struct str value, struct buf *out)
{
    const unsigned char *p = (const unsigned char *)value.ptr;
    switch (type) {
    case PII_PHONE: return canonical_phone(value, out);
    case PII_EMAIL:
        for (size_t i = 0; i < value.len; i++) {
            char ch = (char)(is_upper(p[i]) ? p[i] + 32 : p[i]);
            enum lair_err e = buf_append(out, &ch, 1);
            if (e)
                return e;
        }
        return LAIR_OK;
    case PII_BIRTHDATE: {
        struct date dt;
        size_t end;
        if (!parse_date(p, value.len, 0, &end, &dt) || end != value.len)
            return LAIR_EINVAL;
        int y = dt.ydigits == 2 ? full_year(dt.y) : dt.y;
        return buf_printf(out, "%04d-%02d-%02d", y, dt.mo, dt.d);
    }
    default:
        if ((unsigned)type >= PII_TYPE_COUNT)
            return LAIR_EINVAL;
        for (size_t i = 0; i < value.len; i++) {
            if (!is_alnum(p[i]))
                continue;
            char ch = (char)to_upper(p[i]);
            enum lair_err e = buf_append(out, &ch, 1);
            if (e)
                return e;
        }
        return LAIR_OK;
    }
}

/* ---- policy and pseudonyms --------------------------------------------------------- */

static const char *const policy_names[] = {"keep", "mask", "pseudonymise"};

const char *pii_policy_name(enum pii_policy p)
{
    return (unsigned)p < 3 ? policy_names[p] : "unknown";
}

enum lair_err pii_policy_parse(struct str s, enum pii_policy *out)
{
    for (int i = 0; i < 3; i++)
        if (str_eq_c(s, policy_names[i])) {
            *out = (enum pii_policy)i;
            return LAIR_OK;
        }
    if (str_eq_c(s, "pseudonymize")) {
        *out = PII_POLICY_PSEUDONYMISE;
        return LAIR_OK;
    }
    return LAIR_EINVAL;
}

void pii_pseudonyms_init(struct pii_pseudonyms *ps, size_t max)
{
    memset(ps, 0, sizeof *ps);
    ps->max = max ? max : 4096;
    buf_init(&ps->values, 0);
}

void pii_pseudonyms_release(struct pii_pseudonyms *ps)
{
    free(ps->items);
    buf_release(&ps->values);
    memset(ps, 0, sizeof *ps);
}

struct str pii_pseudonym_value(const struct pii_pseudonyms *ps, const struct pii_pseudonym *e)
{
    return (struct str){ps->values.ptr + e->off, e->len};
}

static void values_truncate(struct pii_pseudonyms *ps, size_t len)
{
    ps->values.len = len;
    if (ps->values.ptr)
        ps->values.ptr[len] = 0;
}

static enum lair_err grow_items(struct pii_pseudonyms *ps)
{
    if (ps->count < ps->cap)
        return LAIR_OK;
    size_t cap = ps->cap ? ps->cap * 2 : 16;
    struct pii_pseudonym *items = realloc(ps->items, cap * sizeof *items);
    if (!items)
        return LAIR_ENOMEM;
    ps->items = items;
    ps->cap = cap;
    return LAIR_OK;
}

/* Finds or adds the canonical value; OUT: *n, its number. The value is
 * written at the end of ps->values first and dropped again when known. */
static enum lair_err pseudonym_lookup(struct pii_pseudonyms *ps, enum pii_type type,
                                      struct str value, unsigned *n)
{
    size_t off = ps->values.len;
    enum lair_err e = pii_canonical(type, value, &ps->values);
    if (e == LAIR_EINVAL) {
        /* Not a value the scanner would match (a caller's own): as given. */
        values_truncate(ps, off);
        e = buf_append(&ps->values, value.ptr, value.len);
    }
    if (e) {
        values_truncate(ps, off);
        return e;
    }
    struct str canon = {ps->values.ptr + off, ps->values.len - off};
    for (size_t i = 0; i < ps->count; i++) {
        const struct pii_pseudonym *it = &ps->items[i];
        if (it->type == type && str_eq(pii_pseudonym_value(ps, it), canon)) {
            values_truncate(ps, off);
            *n = it->n;
            return LAIR_OK;
        }
    }
    if (ps->count == ps->max) {
        values_truncate(ps, off);
        return LAIR_ELIMIT;
    }
    if ((e = grow_items(ps)) != LAIR_OK) {
        values_truncate(ps, off);
        return e;
    }
    *n = ++ps->next[type];
    ps->items[ps->count++] = (struct pii_pseudonym){type, *n, off, canon.len};
    return LAIR_OK;
}

enum lair_err pii_pseudonyms_add(struct pii_pseudonyms *ps, enum pii_type type, struct str value,
                                 unsigned n)
{
    if ((unsigned)type >= PII_TYPE_COUNT || n == 0)
        return LAIR_EINVAL;
    if (ps->count == ps->max)
        return LAIR_ELIMIT;
    enum lair_err e = grow_items(ps);
    size_t off = ps->values.len;
    if (e || (e = buf_append(&ps->values, value.ptr, value.len)))
        return e;
    ps->items[ps->count++] = (struct pii_pseudonym){type, n, off, value.len};
    if (n > ps->next[type])
        ps->next[type] = n;
    return LAIR_OK;
}

enum lair_err pii_pseudonymise_cb(void *ctx, enum pii_type type, struct str value, struct buf *out)
{
    struct pii_pseudonyms *ps = ctx;
    unsigned n;
    if ((unsigned)type >= PII_TYPE_COUNT)
        return LAIR_EINVAL;
    enum lair_err e = pseudonym_lookup(ps, type, value, &n);
    return e ? e : buf_printf(out, "[%s_%u]", type_tags[type], n);
}

enum lair_err pii_apply(enum pii_policy p, struct str text, struct buf *out,
                        struct pii_pseudonyms *ps)
{
    switch (p) {
    case PII_POLICY_KEEP: return buf_append(out, text.ptr, text.len);
    case PII_POLICY_MASK: return pii_mask(text, out);
    case PII_POLICY_PSEUDONYMISE:
        return ps ? pii_replace(text, out, pii_pseudonymise_cb, ps) : LAIR_EINVAL;
    }
    return LAIR_EINVAL;
}
