/* Document text extraction: turns an uploaded file (plain text, Markdown,
 * HTML, PDF, DOCX, ODT) into a list of blocks that keep the document's
 * structure — headings with their level, paragraphs, list items, table rows —
 * each with its page (PDF) and the path of headings above it, so that the
 * chunker can cite "page 3, Titre > Sous-titre".
 *
 * The format is found by content, not by name: the file name only chooses
 * between plain text and Markdown, and catches a ".pdf" that is not a PDF.
 * Every input is treated as hostile: each extraction runs under limits (file
 * size, decompressed size, pages, XML depth, text size, PDF memory) and never
 * loads a DTD, an external entity or anything from the network. A file that is
 * broken, unsupported or over a limit gives an error code and a one-line
 * message for that file alone; nothing global is touched, so extractions can
 * run in parallel threads. See docs/internals/doc.md. */
#ifndef LAIR_DOC_H
#define LAIR_DOC_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"

enum doc_format {
    DOC_FORMAT_UNKNOWN = 0,
    DOC_FORMAT_TEXT,
    DOC_FORMAT_MARKDOWN,
    DOC_FORMAT_HTML,
    DOC_FORMAT_PDF,
    DOC_FORMAT_DOCX,
    DOC_FORMAT_ODT,
};

enum doc_block_kind {
    DOC_HEADING,
    DOC_PARAGRAPH,
    DOC_LIST_ITEM,
    DOC_TABLE_ROW,
};

/* Deepest heading level kept (DOCX and ODT have 9 and 10 outline levels). */
#define DOC_HEADING_MAX 10

struct doc_block {
    enum doc_block_kind kind;
    /* heading: 1 (top) .. DOC_HEADING_MAX; list item: nesting depth from 1;
     * table row: row number in its table from 1 (row 1 is usually the
     * header); paragraph: 0. */
    unsigned level;
    unsigned page;    /* 1-based page; 0 when the format has no pages */
    const char *text; /* ARENA (the doc's): UTF-8, NUL-terminated, never empty; table cells
                         are joined by " | ", whitespace runs are one space (newlines are
                         kept only in preformatted text) */
    size_t len;
    /* ARENA: the headings above this block joined by " > " ("Titre > Sous-titre"),
     * "" before the first heading. A heading's own path ends with itself. Blocks
     * under the same heading share one string. */
    const char *heading_path;
};

struct doc {
    enum doc_format format;
    const char *title;        /* ARENA: from the metadata or <title>; NULL when none */
    struct doc_block *blocks; /* OWNED by the doc */
    size_t nblocks;
    unsigned npages;    /* PDF: pages in the file; 0 for the other formats */
    size_t text_bytes;  /* sum of the blocks' len */
    struct arena arena; /* owns title, texts and paths */
};

/* Safety limits. A field left at 0 takes its default (doc_limits_default). */
struct doc_limits {
    size_t max_file_bytes;     /* the file as given: 64 MiB */
    size_t max_unzipped_bytes; /* DOCX/ODT: all parts read, decompressed: 128 MiB */
    size_t max_zip_entries;    /* DOCX/ODT: entries in the archive: 10000 */
    size_t max_text_bytes;     /* extracted text, all blocks: 32 MiB */
    size_t max_blocks;         /* blocks: 500000 */
    unsigned max_pages;        /* PDF pages: 2000 */
    unsigned max_xml_depth;    /* element nesting in HTML and XML: 256 */
    size_t max_pdf_memory;     /* memory MuPDF may hold for one PDF: 512 MiB */
};

struct doc_limits doc_limits_default(void);

/* Stable lower-case name: "text", "markdown", "html", "pdf", "docx", "odt",
 * "unknown". */
const char *doc_format_name(enum doc_format f);
const char *doc_block_kind_name(enum doc_block_kind k);

/* The format of data by its content; filename_hint (may be NULL) only picks
 * Markdown (.md, .markdown) over plain text and lets .html/.htm name HTML that
 * has no tell-tale tag. Opens a zip archive to tell DOCX from ODT. Returns
 * DOC_FORMAT_UNKNOWN for binary data of another kind. */
enum doc_format doc_detect(const void *data, size_t len, const char *filename_hint);

/* Extracts data (len bytes, BORROWED for the call) into out, which the call
 * initialises. lim may be NULL for the defaults. On success out holds at
 * least one block; release it with doc_release. On error out is left empty
 * (doc_release is still safe) and errmsg (errlen bytes, may be NULL) holds a
 * one-line English message for this file:
 *   LAIR_EUNSUPPORTED  not a format we read (legacy .doc, image, scanned PDF
 *                      without text, password-protected file…)
 *   LAIR_ELIMIT        a safety limit was hit; the message names it
 *   LAIR_EINVAL        broken or empty file, no text in it, unsafe zip entry
 *                      names, a DTD in an Office part
 *   LAIR_ENOMEM        out of memory
 * Thread-safe: extractions share nothing. */
enum lair_err doc_extract(const void *data, size_t len, const char *filename_hint,
                          const struct doc_limits *lim, struct doc *out, char *errmsg,
                          size_t errlen);

/* Reads the regular file at path (refusing it before reading when it is larger
 * than max_file_bytes) and extracts it as doc_extract does, its name serving
 * as the hint. LAIR_EIO when it cannot be read. */
enum lair_err doc_extract_file(const char *path, const struct doc_limits *lim, struct doc *out,
                               char *errmsg, size_t errlen);

/* Frees everything out holds and leaves it empty. */
void doc_release(struct doc *doc);

#endif
