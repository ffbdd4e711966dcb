/* Fuzz target: the chunker (src/rag/chunk.c) over documents of every shape
 * the Markdown extractor can make (headings, lists, tables, long sentences,
 * words longer than a chunk).
 *
 * Input: two option bytes (the target size in tokens, 1 to 128, and the
 * overlap and counting mode), then a Markdown document. Tokens are counted
 * with the estimate, or with a counter that stands in for a tokenizer (a
 * token per 3 bytes and per space), or with one that sometimes cannot tell
 * (-1). Checked: chunk.h's promises — every chunk a non-empty NUL-terminated
 * valid UTF-8 text, with the heading path and page of a block of the
 * document, its token count and hash what count and chunk_hash give, pages
 * in order — and that together the chunks keep all the text of the blocks
 * they come from (see check_kept). */
#include <string.h>

#include "fuzz_doc.h"
#include "rag/chunk.h"

#include "core/banned.h"

static int count_bytes(void *arg, struct str text)
{
    (void)arg;
    int n = (int)(text.len / 3);
    for (size_t i = 0; i < text.len; i++)
        n += text.ptr[i] == ' ';
    return n + (text.len > 0);
}

static int count_unsure(void *arg, struct str text)
{
    return text.len % 5 == 0 ? -1 : count_bytes(arg, text);
}

static bool path_of_doc(const struct doc *d, const char *path)
{
    for (size_t i = 0; i < d->nblocks; i++)
        if (d->blocks[i].heading_path == path)
            return true;
    return false;
}

static bool is_blank(char ch)
{
    return ch == ' ' || ch == '\n' || ch == '\t';
}

static size_t nonblank(const char *p, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += !is_blank(p[i]);
    return k;
}

/* Nothing of the blocks that give text is lost: the chunks hold at least as
 * many non-blank bytes, and the words start, in order, in the chunks (a word
 * may be cut, so only its first character is looked for, from where the
 * previous word's was found, in the same chunk or a later one). */
static void check_kept(const struct doc *d, const struct chunk *c, size_t n, bool headings)
{
    size_t k = 0, in_blocks = 0, in_chunks = 0;
    const char *at = c[0].text;
    for (size_t i = 0; i < n; i++)
        in_chunks += nonblank(c[i].text, c[i].len);
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        if (b->kind == DOC_HEADING && !headings)
            continue;
        in_blocks += nonblank(b->text, b->len);
        for (const char *p = b->text, *end = b->text + b->len; p < end;) {
            while (p < end && is_blank(*p))
                p++;
            if (p == end)
                break;
            size_t wl = 1;
            while (p + wl < end && ((unsigned char)p[wl] & 0xC0) == 0x80)
                wl++;
            const char *hit = NULL;
            while (!hit) {
                hit = memmem(at, c[k].len - (size_t)(at - c[k].text), p, wl);
                if (hit || k + 1 == n)
                    break;
                at = c[++k].text;
            }
            FUZZ_CHECK(hit,
                       "block %zu: the word at '%.20s' starts in no chunk after the "
                       "previous word",
                       i, p);
            at = hit + wl;
            while (p < end && !is_blank(*p))
                p++;
        }
    }
    FUZZ_CHECK(in_chunks >= in_blocks, "the chunks hold %zu non-blank bytes, the blocks %zu",
               in_chunks, in_blocks);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_in in = {data, size};
    uint8_t target = fuzz_u8(&in), mode = fuzz_u8(&in);
    struct doc d;
    if (fuzz_extract(in.p, in.n, "notes.md", &d) != LAIR_OK)
        return 0;
    struct chunk_opts o = {.target_tokens = 1 + target % 128};
    switch (mode & 3) {
    case 0: o.overlap_tokens = 0; break; /* the default share */
    case 1: o.overlap_tokens = -1; break;
    default: o.overlap_tokens = (mode >> 2) % 64; break;
    }
    o.count = (mode & 0x80) ? ((mode & 0x40) ? count_unsure : count_bytes) : NULL;
    struct arena a;
    arena_init(&a, 0);
    struct chunk *c;
    size_t n;
    enum lair_err e = chunk_doc(&d, &o, &a, &c, &n);
    FUZZ_CHECK(e == LAIR_OK, "chunk_doc failed: %s", lair_err_name(e));
    FUZZ_CHECK(n >= 1, "a document with text gave no chunk");
    bool only_headings = true;
    for (size_t i = 0; i < d.nblocks; i++)
        only_headings = only_headings && d.blocks[i].kind == DOC_HEADING;
    for (size_t i = 0; i < n; i++) {
        fuzz_check_text("chunk", c[i].text, c[i].len, true);
        FUZZ_CHECK(c[i].len >= 1, "chunk %zu is empty", i);
        FUZZ_CHECK(path_of_doc(&d, c[i].heading_path), "chunk %zu: heading path not the doc's", i);
        FUZZ_CHECK(i == 0 || c[i].page >= c[i - 1].page, "chunk %zu goes back a page", i);
        struct str t = {c[i].text, c[i].len};
        int want = t.len == 0 ? 0 : o.count ? o.count(NULL, t) : -1;
        if (want < 0)
            want = chunk_estimate_tokens(t);
        FUZZ_CHECK(c[i].tokens == want, "chunk %zu: %d tokens, count says %d", i, c[i].tokens,
                   want);
        unsigned char h[CHUNK_HASH_BYTES];
        chunk_hash(str_c(c[i].heading_path), t, h);
        FUZZ_CHECK(!memcmp(h, c[i].hash, sizeof(h)), "chunk %zu: wrong hash", i);
    }
    check_kept(&d, c, n, only_headings);
    free(c);
    arena_release(&a);
    doc_release(&d);
    return 0;
}
