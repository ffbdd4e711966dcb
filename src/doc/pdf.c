/* PDF with MuPDF: the text of each page in the order MuPDF's structured-text
 * device gives (the content stream's order, grouped into blocks of lines,
 * which is reading order for what word processors produce), one paragraph
 * per block, with its page number.
 *
 * Headings are guessed from font size, since few PDFs carry tags: the body
 * size is the size most characters have; a short block (at most 3 lines, 200
 * bytes) set at least 15% larger is a heading, its level given by the rank of
 * its size among the heading sizes (largest = 1). Blocks that are only a page
 * number ("3", "- 3 -", "Page 3 sur 10", "iv") in the top or bottom tenth
 * of the page are dropped, and so are running headers and footers (margin
 * text that comes back on 3 pages or more, digits aside) and table of
 * contents lines (dot leaders, then a number): they would repeat in every
 * chunk or duplicate the headings. The title comes from the document
 * information dictionary.
 *
 * Each extraction has its own fz_context, whose allocator counts bytes and
 * refuses to go past max_pdf_memory, so a hostile PDF fails with a limit
 * error instead of exhausting the server; MuPDF's own messages are captured,
 * never printed. Only the PDF handler is reachable (no XPS, EPUB or SVG), and
 * JavaScript is never enabled. */
#include "doc/doc_int.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mupdf/fitz.h>
#include <mupdf/pdf.h>

#include "core/banned.h"

#define SIZE_BUCKETS 2001 /* font sizes by half points, 0 .. 1000 pt */
/* MuPDF's context alone takes about 300 KiB; below this, refusing at once
 * spares a failed start (whose message MuPDF would print before our
 * callbacks are in place). */
#define MEMORY_MIN (384u << 10)

/* Every block MuPDF holds is on a list, so that what it forgets to free
 * (MuPDF 1.21 leaks fonts on some broken content streams) is freed when
 * the extraction ends: a hostile PDF cannot make a server grow. 32 bytes
 * keep malloc's 16-byte alignment. */
struct mblock {
    struct mblock *prev, *next;
    size_t n;
    size_t pad;
};

struct pdf_mem {
    size_t used, cap;
    bool hit; /* an allocation was refused for the cap */
    /* malloc or realloc failed: MuPDF swallows some of those (an object
     * that cannot be loaded is skipped), so the text may miss parts */
    bool failed;
    struct mblock *live;
};

static void m_link(struct pdf_mem *m, struct mblock *b)
{
    b->prev = NULL;
    b->next = m->live;
    if (m->live)
        m->live->prev = b;
    m->live = b;
}

static void m_unlink(struct pdf_mem *m, struct mblock *b)
{
    if (b->prev)
        b->prev->next = b->next;
    else
        m->live = b->next;
    if (b->next)
        b->next->prev = b->prev;
}

static void *m_malloc(void *u, size_t n)
{
    struct pdf_mem *m = u;
    if (n > m->cap - m->used) {
        m->hit = true;
        return NULL;
    }
    struct mblock *b = malloc(sizeof(*b) + n);
    if (!b) {
        m->failed = true;
        return NULL;
    }
    b->n = n;
    m_link(m, b);
    m->used += n;
    return b + 1;
}

static void m_free(void *u, void *ptr)
{
    struct pdf_mem *m = u;
    if (!ptr)
        return;
    struct mblock *b = (struct mblock *)ptr - 1;
    m_unlink(m, b);
    m->used -= b->n;
    free(b);
}

static void *m_realloc(void *u, void *ptr, size_t n)
{
    struct pdf_mem *m = u;
    if (!ptr)
        return m_malloc(u, n);
    if (!n) {
        m_free(u, ptr);
        return NULL;
    }
    struct mblock *b = (struct mblock *)ptr - 1;
    size_t was = b->n;
    if (n > was && n - was > m->cap - m->used) {
        m->hit = true;
        return NULL;
    }
    m_unlink(m, b);
    struct mblock *q = realloc(b, sizeof(*q) + n);
    if (!q) {
        m_link(m, b); /* still valid, still MuPDF's */
        m->failed = true;
        return NULL;
    }
    q->n = n;
    m_link(m, q);
    m->used = m->used - was + n;
    return q + 1;
}

/* Frees what MuPDF left once its context is gone. */
static void m_free_all(struct pdf_mem *m)
{
    while (m->live)
        m_free(m, m->live + 1);
}

struct pblock {
    size_t off, len; /* in pdfx.text */
    unsigned page, lines;
    float size;     /* the size most of its characters have, rounded to 0.5 pt */
    bool margin;    /* in the top or bottom tenth of its page */
    bool furniture; /* page number, running header or footer, table of contents line */
    uint64_t key;   /* margin blocks: hash of the text without digits, case or spaces */
};

struct pdfx {
    struct doc_sink *s;
    struct buf text;
    struct pblock *blocks;
    size_t nblocks, cap;
    uint32_t *sizes; /* characters per size bucket, whole document */
    char warning[160];
    unsigned warnings;
};

static void on_warning(void *user, const char *msg)
{
    struct pdfx *x = user;
    if (!x->warnings++)
        snprintf(x->warning, sizeof x->warning, "%s", msg);
}

static void on_error(void *user, const char *msg)
{
}

static unsigned bucket(float size)
{
    if (!(size > 0))
        return 0;
    float b = roundf(size * 2);
    return b >= SIZE_BUCKETS ? SIZE_BUCKETS - 1 : (unsigned)b;
}

static void put_rune(struct pdfx *x, int c)
{
    char u[4];
    uint32_t cp = c < 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF) ? 0xFFFD : (uint32_t)c;
    size_t k = doc_utf8_encode(cp, u);
    enum lair_err e = buf_append(&x->text, u, k);
    if (e == LAIR_ENOMEM && !x->s->err) {
        sink_fail(x->s, LAIR_ENOMEM, "out of memory");
    } else if (e && !x->s->err) {
        char a[32];
        sink_fail(x->s, LAIR_ELIMIT, "the extracted text exceeds %s (max_text_bytes)",
                  doc_size_str(x->s->lim.max_text_bytes, a, sizeof a));
    }
}

static bool is_roman(struct str t)
{
    if (!t.len || t.len > 8)
        return false;
    for (size_t i = 0; i < t.len; i++)
        if (!strchr("ivxlcdmIVXLCDM", t.ptr[i]))
            return false;
    return true;
}

/* "12", "- 12 -", "Page 12", "p. 12", "12/40", "Page 12 sur 40", "iv". */
static bool is_page_number(const char *p, size_t n)
{
    struct str t = str_trim((struct str){p, n});
    if (is_roman(t))
        return true;
    size_t i = 0, digits = 0, letters = 0;
    for (; i < t.len; i++) {
        char c = t.ptr[i];
        if (c >= '0' && c <= '9')
            digits++;
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z')
            letters++;
        else if (!strchr(" -/.|\xE2\x80\x93\x94", c))
            return false;
    }
    if (!digits || t.len > 24)
        return false;
    /* The only words allowed: page, p, sur, of. */
    for (i = 0; i < t.len;) {
        if ((t.ptr[i] | 0x20) < 'a' || (t.ptr[i] | 0x20) > 'z') {
            i++;
            continue;
        }
        size_t j = i;
        while (j < t.len && (t.ptr[j] | 0x20) >= 'a' && (t.ptr[j] | 0x20) <= 'z')
            j++;
        struct str w = {t.ptr + i, j - i};
        if (!(w.len == 4 && !strncasecmp(w.ptr, "page", 4)) &&
            !(w.len == 1 && (w.ptr[0] | 0x20) == 'p') &&
            !(w.len == 3 && !strncasecmp(w.ptr, "sur", 3)) &&
            !(w.len == 2 && !strncasecmp(w.ptr, "of", 2)))
            return false;
        i = j;
    }
    return true;
}

/* A table of contents line: dot leaders, then a page number. */
static bool is_toc_line(const char *p, size_t n)
{
    struct str t = str_trim((struct str){p, n});
    if (!t.len || t.ptr[t.len - 1] < '0' || t.ptr[t.len - 1] > '9')
        return false;
    return memmem(t.ptr, t.len, ". . . .", 7) || memmem(t.ptr, t.len, ".....", 5) ||
           memmem(t.ptr, t.len, "\xE2\x80\xA6\xE2\x80\xA6", 6); /* …… */
}

/* What stays the same in a running header from page to page. */
static uint64_t margin_key(const char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325u;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c >= '0' && c <= '9') || c == ' ')
            continue;
        if (c >= 'A' && c <= 'Z')
            c |= 0x20;
        h = (h ^ c) * 0x100000001b3u;
    }
    return h;
}

static void collect(struct pdfx *x, fz_stext_page *st, unsigned pageno)
{
    float top = st->mediabox.y0, height = st->mediabox.y1 - st->mediabox.y0;
    for (fz_stext_block *b = st->first_block; b && !x->s->err; b = b->next) {
        if (b->type != FZ_STEXT_BLOCK_TEXT)
            continue;
        struct pblock pb = {.off = x->text.len, .page = pageno};
        uint32_t local[8] = {0};
        unsigned lsize[8] = {0}, nl = 0;
        for (fz_stext_line *l = b->u.t.first_line; l; l = l->next) {
            if (pb.lines++)
                put_rune(x, ' ');
            for (fz_stext_char *c = l->first_char; c; c = c->next) {
                put_rune(x, c->c);
                unsigned k = bucket(c->size);
                x->sizes[k]++;
                unsigned j = 0;
                while (j < nl && lsize[j] != k)
                    j++;
                if (j == nl && nl < 8)
                    lsize[nl++] = k;
                if (j < nl)
                    local[j]++;
            }
        }
        pb.len = x->text.len - pb.off;
        unsigned best = 0;
        for (unsigned j = 1; j < nl; j++)
            if (local[j] > local[best])
                best = j;
        pb.size = nl ? (float)lsize[best] / 2 : 0;
        if (height > 0) {
            float y0 = (b->bbox.y0 - top) / height, y1 = (b->bbox.y1 - top) / height;
            pb.margin = y1 < 0.1f || y0 > 0.9f;
        }
        const char *t = x->text.ptr + pb.off;
        pb.furniture = (pb.margin && is_page_number(t, pb.len)) || is_toc_line(t, pb.len);
        if (pb.margin)
            pb.key = margin_key(t, pb.len);
        if (!pb.len)
            continue;
        if (x->nblocks == x->cap) {
            size_t cap = x->cap ? x->cap * 2 : 256;
            struct pblock *nb = realloc(x->blocks, cap * sizeof *nb);
            if (!nb) {
                sink_fail(x->s, LAIR_ENOMEM, "out of memory");
                return;
            }
            x->blocks = nb;
            x->cap = cap;
        }
        x->blocks[x->nblocks++] = pb;
    }
}

static void do_page(fz_context *ctx, fz_document *doc, int i, struct pdfx *x)
{
    fz_page *page = NULL;
    fz_stext_page *st = NULL;
    fz_stext_options opts = {.flags = FZ_STEXT_DEHYPHENATE | FZ_STEXT_MEDIABOX_CLIP};
    fz_var(page);
    fz_var(st);
    fz_try(ctx)
    {
        page = fz_load_page(ctx, doc, i);
        st = fz_new_stext_page_from_page(ctx, page, &opts);
        collect(x, st, (unsigned)i + 1);
    }
    fz_always(ctx)
    {
        fz_drop_stext_page(ctx, st);
        fz_drop_page(ctx, page);
    }
    fz_catch(ctx)
    {
        fz_rethrow(ctx);
    }
}

struct mref {
    uint64_t key;
    unsigned page;
    size_t block;
};

static int mref_cmp(const void *a, const void *b)
{
    const struct mref *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->page < y->page ? -1 : x->page > y->page;
}

/* Running headers and footers: margin text that comes back, page numbers
 * aside, on at least 3 pages (or on both pages of a 2-page document). */
static void drop_running(struct pdfx *x, unsigned npages)
{
    size_t n = 0;
    for (size_t i = 0; i < x->nblocks; i++)
        n += x->blocks[i].margin && !x->blocks[i].furniture;
    if (n < 2)
        return;
    struct mref *m = malloc(n * sizeof *m);
    if (!m)
        return; /* only a refinement: without it the text is all there */
    n = 0;
    for (size_t i = 0; i < x->nblocks; i++)
        if (x->blocks[i].margin && !x->blocks[i].furniture)
            m[n++] = (struct mref){x->blocks[i].key, x->blocks[i].page, i};
    qsort(m, n, sizeof *m, mref_cmp);
    unsigned need = npages == 2 ? 2 : 3;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        unsigned pages = 0;
        for (; j < n && m[j].key == m[i].key; j++)
            pages += j == i || m[j].page != m[j - 1].page;
        if (pages >= need)
            for (size_t k = i; k < j; k++)
                x->blocks[m[k].block].furniture = true;
        i = j;
    }
    free(m);
}

static bool has_letter(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z') || (unsigned char)p[i] >= 0xC0)
            return true;
    return false;
}

/* Blocks to the sink, with headings found by size. */
static void emit(struct pdfx *x)
{
    unsigned body = 0;
    for (unsigned k = 1; k < SIZE_BUCKETS; k++)
        if (x->sizes[k] > x->sizes[body])
            body = k;
    float bodysize = (float)body / 2;
    /* Distinct heading sizes, largest first. */
    float hs[DOC_HEADING_MAX];
    unsigned nhs = 0;
    for (size_t i = 0; i < x->nblocks; i++) {
        struct pblock *b = &x->blocks[i];
        if (b->furniture)
            continue;
        bool heading = bodysize > 0 && b->size >= bodysize * 1.15f && b->lines <= 3 &&
                       b->len <= 200 && has_letter(x->text.ptr + b->off, b->len);
        if (!heading) {
            b->size = -b->size; /* marks "not a heading" for the loop below */
            continue;
        }
        unsigned j = 0;
        while (j < nhs && hs[j] != b->size)
            j++;
        if (j == nhs && nhs < DOC_HEADING_MAX)
            hs[nhs++] = b->size;
    }
    for (unsigned i = 1; i < nhs; i++) /* insertion sort, descending */
        for (unsigned j = i; j > 0 && hs[j] > hs[j - 1]; j--) {
            float t = hs[j];
            hs[j] = hs[j - 1];
            hs[j - 1] = t;
        }
    struct doc_sink *s = x->s;
    for (size_t i = 0; i < x->nblocks && !s->err; i++) {
        struct pblock *b = &x->blocks[i];
        if (b->furniture)
            continue;
        s->page = b->page;
        sink_text(s, x->text.ptr + b->off, b->len);
        unsigned level = 0;
        for (unsigned j = 0; b->size > 0 && j < nhs; j++)
            if (hs[j] <= b->size) {
                level = j + 1;
                break;
            }
        if (b->size > 0 && !level)
            level = nhs; /* a size past the DOC_HEADING_MAX largest ones */
        if (level)
            sink_emit(s, DOC_HEADING, level);
        else
            sink_emit(s, DOC_PARAGRAPH, 0);
    }
}

enum lair_err doc_pdf_extract(struct doc_sink *s, const char *data, size_t len)
{
    char a[32];
    if (s->lim.max_pdf_memory < MEMORY_MIN)
        return sink_fail(s, LAIR_ELIMIT,
                         "max_pdf_memory (%s) is below the %u KiB MuPDF needs "
                         "to start",
                         doc_size_str(s->lim.max_pdf_memory, a, sizeof a), MEMORY_MIN >> 10);
    struct pdf_mem mem = {.cap = s->lim.max_pdf_memory};
    fz_alloc_context alloc = {&mem, m_malloc, m_realloc, m_free};
    size_t store = s->lim.max_pdf_memory / 4;
    fz_context *ctx = fz_new_context(&alloc, NULL, store < (64u << 20) ? store : (64u << 20));
    if (!ctx) {
        m_free_all(&mem);
        if (mem.hit)
            return sink_fail(s, LAIR_ELIMIT, "max_pdf_memory (%s) is too small to read a PDF",
                             doc_size_str(mem.cap, a, sizeof a));
        return sink_fail(s, LAIR_ENOMEM, "out of memory");
    }
    struct pdfx x = {.s = s};
    buf_init(&x.text, s->lim.max_text_bytes);
    x.sizes = calloc(SIZE_BUCKETS, sizeof *x.sizes);
    fz_set_warning_callback(ctx, on_warning, &x);
    fz_set_error_callback(ctx, on_error, &x);

    fz_stream *stm = NULL;
    pdf_document *pdoc = NULL;
    int npages = 0;
    bool locked = false, too_many = false;
    char title[512] = "";
    fz_var(stm);
    fz_var(pdoc);
    fz_var(npages);
    fz_var(locked);
    fz_var(too_many);
    fz_try(ctx)
    {
        if (!x.sizes)
            fz_throw(ctx, FZ_ERROR_MEMORY, "out of memory");
        stm = fz_open_memory(ctx, (const unsigned char *)data, len);
        pdoc = pdf_open_document_with_stream(ctx, stm);
        fz_document *doc = &pdoc->super;
        if (fz_needs_password(ctx, doc) && !fz_authenticate_password(ctx, doc, "")) {
            locked = true;
        } else {
            npages = fz_count_pages(ctx, doc);
            if (npages < 0 || (unsigned)npages > s->lim.max_pages) {
                too_many = true;
            } else {
                if (fz_lookup_metadata(ctx, doc, FZ_META_INFO_TITLE, title, sizeof title) <= 0)
                    title[0] = 0;
                for (int i = 0; i < npages && !s->err; i++)
                    do_page(ctx, doc, i, &x);
            }
        }
    }
    fz_always(ctx)
    {
        if (pdoc)
            fz_drop_document(ctx, &pdoc->super);
        fz_drop_stream(ctx, stm);
    }
    fz_catch(ctx)
    {
        if (mem.failed) /* whatever MuPDF made of it */
            sink_fail(s, LAIR_ENOMEM, "out of memory");
        else if (mem.hit)
            sink_fail(s, LAIR_ELIMIT,
                      "reading this PDF needs more than %s of memory "
                      "(max_pdf_memory)",
                      doc_size_str(mem.cap, a, sizeof a));
        else if (fz_caught(ctx) == FZ_ERROR_MEMORY)
            sink_fail(s, LAIR_ENOMEM, "out of memory");
        else
            sink_fail(s, LAIR_EINVAL, "broken PDF: %s", fz_caught_message(ctx));
    }
    fz_drop_context(ctx);
    m_free_all(&mem);
    if (!s->err && mem.failed) /* swallowed by MuPDF: the text may miss parts */
        sink_fail(s, LAIR_ENOMEM, "out of memory");

    if (!s->err && locked)
        sink_fail(s, LAIR_EUNSUPPORTED, "the PDF is protected by a password");
    if (!s->err && too_many)
        sink_fail(s, LAIR_ELIMIT, "the PDF has %d pages; the limit is %u (max_pages)", npages,
                  s->lim.max_pages);
    if (!s->err) {
        s->doc->npages = (unsigned)npages;
        if (title[0])
            sink_title(s, title, strlen(title));
        drop_running(&x, (unsigned)npages);
        emit(&x);
        s->page = 0;
        if (!s->err && !s->doc->nblocks) {
            if (npages > 0)
                sink_fail(s, LAIR_EUNSUPPORTED,
                          "the PDF has no text layer (scanned pages?): "
                          "text in images is not read");
            else
                sink_fail(s, LAIR_EINVAL, "broken PDF: no pages%s%s", x.warnings ? ": " : "",
                          x.warning);
        }
    }
    buf_release(&x.text);
    free(x.blocks);
    free(x.sizes);
    return s->err;
}
