/* Fuzz target: the PII scanner (src/gdpr/pii.c), which every stored message
 * and every log line goes through: detection of each identifier type,
 * masking, pseudonymisation and canonical forms.
 *
 * Input: a byte that sizes pii_mask_to's buffer, then the text (any bytes).
 * Checked: pii.h's promises — matches in order, not overlapping, inside the
 * text, on character boundaries of valid UTF-8, the same from pii_scan and
 * pii_next; pii_mask is the text with exactly those matches replaced by
 * "[TYPE]", and pii_mask_to a prefix of it whatever the buffer; every match
 * has a canonical form; pseudonymisation gives one entry per distinct
 * canonical value, and the same text pseudonymised again with the same table
 * gives the same result. */
#include <string.h>

#include "fuzz.h"
#include "gdpr/pii.h"

#include "core/banned.h"

#define MAX_MATCHES 4096

static struct pii_match matches[MAX_MATCHES];

static void upper(const char *s, struct buf *out)
{
    for (; *s; s++) {
        char c = *s >= 'a' && *s <= 'z' ? (char)(*s - 'a' + 'A') : *s;
        buf_append(out, &c, 1);
    }
}

static bool boundary(struct str t, size_t off)
{
    return off == t.len || ((unsigned char)t.ptr[off] & 0xC0) != 0x80;
}

static void check_pseudonyms(struct str text, size_t n)
{
    struct pii_pseudonyms ps;
    pii_pseudonyms_init(&ps, 0);
    struct buf out, again, canon;
    buf_init(&out, 0);
    buf_init(&again, 0);
    buf_init(&canon, 0);
    enum lair_err e = pii_apply(PII_POLICY_PSEUDONYMISE, text, &out, &ps);
    FUZZ_CHECK(e == LAIR_OK, "pseudonymise: %s", lair_err_name(e));
    /* distinct (type, canonical value) pairs among the matches */
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        buf_reset(&canon);
        struct str v = {text.ptr + matches[i].off, matches[i].len};
        enum lair_err ce = pii_canonical(matches[i].type, v, &canon);
        FUZZ_CHECK(ce == LAIR_OK, "match %zu (%s '%.*s') has no canonical form", i,
                   pii_type_name(matches[i].type), (int)v.len, v.ptr);
        bool seen = false;
        for (size_t j = 0; j < ps.count && !seen; j++)
            seen = ps.items[j].type == matches[i].type &&
                   str_eq(pii_pseudonym_value(&ps, &ps.items[j]), buf_str(&canon));
        FUZZ_CHECK(seen, "match %zu (%s) is not in the pseudonym table", i,
                   pii_type_name(matches[i].type));
        bool before = false;
        for (size_t j = 0; j < i && !before; j++) {
            struct buf c2;
            buf_init(&c2, 0);
            struct str w = {text.ptr + matches[j].off, matches[j].len};
            pii_canonical(matches[j].type, w, &c2); /* checked when i was j */
            before = matches[j].type == matches[i].type && str_eq(buf_str(&c2), buf_str(&canon));
            buf_release(&c2);
        }
        distinct += !before;
    }
    FUZZ_CHECK(ps.count == distinct, "%zu pseudonyms for %zu distinct values", ps.count, distinct);
    size_t count = ps.count;
    e = pii_apply(PII_POLICY_PSEUDONYMISE, text, &again, &ps);
    FUZZ_CHECK(e == LAIR_OK && str_eq(buf_str(&out), buf_str(&again)) && ps.count == count,
               "pseudonymising the same text twice differs");
    buf_release(&out);
    buf_release(&again);
    buf_release(&canon);
    pii_pseudonyms_release(&ps);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    size_t cap = fuzz_u8(&in);
    struct str text = {(const char *)in.p, in.n};
    size_t n = pii_scan(text, matches, MAX_MATCHES);
    if (n > MAX_MATCHES)
        return 0;
    bool valid = utf8_valid(text.ptr, text.len);
    struct pii_scanner sc;
    pii_scanner_init(&sc, text);
    struct pii_match m;
    size_t k = 0;
    for (; pii_next(&sc, &m); k++) {
        FUZZ_CHECK(k < n, "pii_next gives more matches than pii_scan (%zu)", n);
        FUZZ_CHECK(m.type == matches[k].type && m.off == matches[k].off && m.len == matches[k].len,
                   "pii_next and pii_scan differ at match %zu", k);
        FUZZ_CHECK((unsigned)m.type < PII_TYPE_COUNT, "type %d", (int)m.type);
        FUZZ_CHECK(m.len >= 1 && m.off + m.len <= text.len, "match [%zu, +%zu) of %zu", m.off,
                   m.len, text.len);
        FUZZ_CHECK(k == 0 || m.off >= matches[k - 1].off + matches[k - 1].len,
                   "match %zu overlaps or precedes the one before", k);
        if (valid)
            FUZZ_CHECK(boundary(text, m.off) && boundary(text, m.off + m.len),
                       "match %zu cuts a character", k);
    }
    FUZZ_CHECK(k == n, "pii_next gives %zu matches, pii_scan %zu", k, n);

    /* the masked text, built here from the matches */
    struct buf want, got;
    buf_init(&want, 0);
    buf_init(&got, 0);
    size_t last = 0;
    for (size_t i = 0; i < n; i++) {
        buf_append(&want, text.ptr + last, matches[i].off - last);
        buf_append(&want, "[", 1);
        upper(pii_type_name(matches[i].type), &want);
        buf_append(&want, "]", 1);
        last = matches[i].off + matches[i].len;
    }
    buf_append(&want, text.ptr + last, text.len - last);
    FUZZ_CHECK(pii_mask(text, &got) == LAIR_OK, "pii_mask failed");
    FUZZ_CHECK(str_eq(buf_str(&got), buf_str(&want)), "pii_mask differs from its matches");
    char *small = malloc(cap + 1);
    if (small) {
        size_t len = pii_mask_to(text, small, cap);
        FUZZ_CHECK(cap == 0 ? len == 0 : len < cap && small[len] == 0, "pii_mask_to: %zu of %zu",
                   len, cap);
        FUZZ_CHECK(len <= want.len && !memcmp(small, want.ptr ? want.ptr : "", len),
                   "pii_mask_to is not a prefix of the masked text");
        free(small);
    }
    buf_release(&want);
    buf_release(&got);
    if (n <= 200) /* the check is quadratic in the matches */
        check_pseudonyms(text, n);
    return 0;
}
