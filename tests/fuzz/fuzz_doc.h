/* Shared by the extractor targets (fuzz_txt, fuzz_md, fuzz_html, fuzz_pdf,
 * fuzz_docx, fuzz_odt) and the chunker's: runs doc_extract on an input and
 * checks what doc.h promises of a struct doc that extracted: at least one
 * block, each a non-empty NUL-terminated valid UTF-8 text without control
 * characters (newlines and tabs only in preformatted text), a level in the
 * range of its kind, pages in order and within the document's, a heading path;
 * text_bytes their sum; the limits held. One input in four is extracted under tight
 * limits (by its length), so that every limit is reached too. */
#ifndef LAIR_FUZZ_DOC_H
#define LAIR_FUZZ_DOC_H

#include <string.h>

#include "doc/doc.h"
#include "fuzz.h"

static inline void fuzz_check_text(const char *what, const char *t, size_t len, bool newlines)
{
    FUZZ_CHECK(t != NULL, "%s: NULL", what);
    FUZZ_CHECK(strlen(t) == len, "%s: %zu bytes but a NUL at %zu", what, len, strlen(t));
    FUZZ_CHECK(utf8_valid(t, len), "%s: not valid UTF-8", what);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        FUZZ_CHECK(c >= 0x20 || (newlines && (c == '\n' || c == '\t')),
                   "%s: control character 0x%02x at %zu", what, c, i);
        FUZZ_CHECK(c != 0x7F, "%s: DEL at %zu", what, i);
    }
}

static inline void fuzz_check_doc(const struct doc *d, const struct doc_limits *lim)
{
    FUZZ_CHECK(d->nblocks >= 1 && d->blocks, "an extracted document has no block");
    FUZZ_CHECK(d->nblocks <= lim->max_blocks, "%zu blocks, limit %zu", d->nblocks, lim->max_blocks);
    FUZZ_CHECK(d->text_bytes <= lim->max_text_bytes, "%zu bytes of text, limit %zu", d->text_bytes,
               lim->max_text_bytes);
    FUZZ_CHECK((d->format == DOC_FORMAT_PDF) || d->npages == 0, "pages in a %s",
               doc_format_name(d->format));
    FUZZ_CHECK(d->npages <= lim->max_pages, "%u pages, limit %u", d->npages, lim->max_pages);
    if (d->title)
        fuzz_check_text("title", d->title, strlen(d->title), false);
    size_t sum = 0;
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        FUZZ_CHECK(b->len >= 1, "block %zu is empty", i);
        fuzz_check_text("block text", b->text, b->len, true);
        FUZZ_CHECK(b->heading_path != NULL, "block %zu has no heading path", i);
        fuzz_check_text("heading path", b->heading_path, strlen(b->heading_path), false);
        switch (b->kind) {
        case DOC_HEADING:
            FUZZ_CHECK(b->level >= 1 && b->level <= DOC_HEADING_MAX, "heading level %u", b->level);
            FUZZ_CHECK(*b->heading_path, "a heading with an empty heading path");
            break;
        case DOC_PARAGRAPH: FUZZ_CHECK(b->level == 0, "paragraph level %u", b->level); break;
        case DOC_LIST_ITEM: FUZZ_CHECK(b->level >= 1, "list item level %u", b->level); break;
        case DOC_TABLE_ROW: FUZZ_CHECK(b->level >= 1, "table row number %u", b->level); break;
        default: FUZZ_CHECK(0, "block %zu has kind %d", i, (int)b->kind);
        }
        /* PDF pages come from the file; text files count form feeds. */
        if (d->format == DOC_FORMAT_PDF)
            FUZZ_CHECK(b->page >= 1 && b->page <= d->npages, "page %u of %u", b->page, d->npages);
        else if (d->format != DOC_FORMAT_TEXT)
            FUZZ_CHECK(b->page == 0, "page %u in a %s", b->page, doc_format_name(d->format));
        FUZZ_CHECK(i == 0 || b->page >= b[-1].page, "block %zu goes back to page %u", i, b->page);
        sum += b->len;
    }
    FUZZ_CHECK(sum == d->text_bytes, "text_bytes %zu, blocks hold %zu", d->text_bytes, sum);
}

/* The limits an input is extracted under: the defaults, or tight ones for
 * one input in four. */
static inline struct doc_limits fuzz_doc_limits(size_t size)
{
    struct doc_limits l = doc_limits_default();
    if (size % 4 == 3) {
        l.max_unzipped_bytes = 64 << 10;
        l.max_zip_entries = 8;
        l.max_text_bytes = 2048;
        l.max_blocks = 24;
        l.max_pages = 3;
        l.max_xml_depth = 12;
        l.max_pdf_memory = 32 << 20;
    }
    return l;
}

/* Extracts data as a file named hint would be, and checks the result. On
 * success *out holds the document (doc_release it); returns the error. */
static inline enum lair_err fuzz_extract(const void *data, size_t size, const char *hint,
                                         struct doc *out)
{
    struct doc_limits lim = fuzz_doc_limits(size);
    char msg[256];
    memset(msg, 'x', sizeof(msg));
    enum lair_err e = doc_extract(data, size, hint, &lim, out, msg, sizeof(msg));
    FUZZ_CHECK(memchr(msg, 0, sizeof(msg)) != NULL, "the message is not NUL-terminated");
    if (e == LAIR_OK) {
        fuzz_check_doc(out, &lim);
    } else {
        FUZZ_CHECK(e == LAIR_EUNSUPPORTED || e == LAIR_ELIMIT || e == LAIR_EINVAL ||
                       e == LAIR_ENOMEM,
                   "doc_extract gave %s, which doc.h does not list", lair_err_name(e));
        FUZZ_CHECK(*msg, "an error without a message");
        FUZZ_CHECK(out->nblocks == 0 && out->blocks == NULL, "an error left blocks");
    }
    return e;
}

#endif
