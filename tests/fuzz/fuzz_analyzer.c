/* Fuzz target: the French analyzer (src/rag/analyzer.c): segmentation,
 * elision, normalisation and case folding (utf8proc), stop words, Snowball
 * stemming, accent folding, prefixes and alternative terms — what every
 * indexed chunk and every question goes through.
 *
 * Input: a flags byte (enum analyzer_flags), then the text, which may be any
 * bytes. Checked: analyzer.h's promises — every term 1 to ANALYZER_TERM_MAX
 * bytes of valid UTF-8, NUL-terminated, with no upper-case ASCII letter; its
 * word's offsets inside the text, on character boundaries, in text order;
 * colocated terms only with ANALYZER_ALTERNATIVES, right after a term of the
 * same word — and that analyzer_term_of gives, for the text of each word, the
 * term the iteration gave (the same pipeline both ways). */
#include <string.h>

#include "fuzz.h"
#include "rag/analyzer.h"

#include "core/banned.h"

static struct analyzer *an, *an2;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    if (analyzer_new(&an) != LAIR_OK || analyzer_new(&an2) != LAIR_OK)
        abort();
    return 0;
}

static bool boundary(const uint8_t *t, size_t n, size_t off)
{
    return off == 0 || off == n || (t[off] & 0xC0) != 0x80;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    unsigned flags = fuzz_u8(&in) & (ANALYZER_QUESTION | ANALYZER_PREFIX | ANALYZER_ALTERNATIVES);
    struct str text = {(const char *)in.p, in.n};
    bool valid = utf8_valid(text.ptr, text.len);
    analyzer_start(an, text, flags);
    struct analyzer_term t;
    size_t last_start = 0, last_end = 0, count = 0;
    while (analyzer_next(an, &t)) {
        FUZZ_CHECK(t.len >= 1 && t.len <= ANALYZER_TERM_MAX, "term of %zu bytes", t.len);
        FUZZ_CHECK(t.ptr[t.len] == 0, "term not NUL-terminated");
        FUZZ_CHECK(utf8_valid(t.ptr, t.len), "term '%.*s' is not valid UTF-8", (int)t.len, t.ptr);
        for (size_t i = 0; i < t.len; i++)
            FUZZ_CHECK(!(t.ptr[i] >= 'A' && t.ptr[i] <= 'Z'), "term '%s' has upper case", t.ptr);
        FUZZ_CHECK(t.start < t.end && t.end <= text.len, "word at [%zu, %zu) of %zu", t.start,
                   t.end, text.len);
        if (valid)
            FUZZ_CHECK(boundary(in.p, in.n, t.start) && boundary(in.p, in.n, t.end),
                       "word at [%zu, %zu) cuts a character", t.start, t.end);
        if (t.colocated) {
            FUZZ_CHECK(flags & ANALYZER_ALTERNATIVES, "a colocated term without alternatives");
            FUZZ_CHECK(count > 0 && t.start == last_start && t.end == last_end,
                       "a colocated term for another word");
        } else {
            FUZZ_CHECK(t.start >= last_end, "word at %zu before the end of the last (%zu)", t.start,
                       last_end);
            /* The same word alone gives the same term (a prefix only when it
             * is the last word, so not checked under ANALYZER_PREFIX). */
            if (!(flags & ANALYZER_PREFIX)) {
                char term[ANALYZER_TERM_MAX + 1];
                size_t n = analyzer_term_of(an2, (struct str){text.ptr + t.start, t.end - t.start},
                                            flags, term, sizeof(term));
                FUZZ_CHECK(n == t.len && !memcmp(term, t.ptr, n),
                           "word '%.*s': term '%.*s' in the text, '%s' alone",
                           (int)(t.end - t.start), text.ptr + t.start, (int)t.len, t.ptr, term);
            }
        }
        last_start = t.start;
        last_end = t.end;
        count++;
    }
    FUZZ_CHECK(!analyzer_next(an, &t), "terms after the end");
    return 0;
}
