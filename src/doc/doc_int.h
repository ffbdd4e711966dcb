/* Private to src/doc/: the block sink every extractor writes into, and the
 * zip, XML and character-set helpers that several extractors share.
 *
 * An extractor never builds struct doc itself: it pushes text into the sink
 * (which collapses whitespace, drops control characters and enforces the
 * text limits) and says where a block ends and what kind it is; the sink keeps
 * the heading stack and gives each block its heading path and page. The first
 * error is sticky: once set, every sink call is a no-op, so SAX callbacks need
 * not check after each call. */
#ifndef LAIR_DOC_INT_H
#define LAIR_DOC_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libxml/parser.h>
#include <zip.h>

#include "core/str.h"
#include "doc/doc.h"

struct doc_sink {
    struct doc *doc;
    struct doc_limits lim; /* resolved: no zero field */
    const char *what;      /* "DOCX document", for messages */
    size_t blocks_cap;
    struct buf text;                        /* the block being built */
    bool space;                             /* whitespace seen since the last character kept */
    bool pre;                               /* preformatted: keep newlines */
    unsigned page;                          /* page given to the blocks emitted now */
    const char *heads[DOC_HEADING_MAX + 1]; /* ARENA: the open headings, [0] unused */
    const char *path;                       /* ARENA: heads joined by " > " */
    size_t unzipped;                        /* bytes decompressed so far (DOCX, ODT) */
    enum lair_err err;
    char msg[256];
};

/* Appends text (UTF-8): whitespace runs become one space (or keep their
 * newlines when s->pre), control characters, soft hyphens and zero-width
 * characters are dropped. */
void sink_text(struct doc_sink *s, const char *p, size_t n);
/* A word boundary (a space unless the block is empty or already ends with one). */
void sink_space(struct doc_sink *s);
/* A line break in preformatted text; a space otherwise. */
void sink_newline(struct doc_sink *s);
/* The " | " between two table cells (kept even around an empty cell). */
void sink_cell(struct doc_sink *s);
/* Ends the current block: when its text is not empty, it becomes a block of
 * this kind and level (see struct doc_block); a heading also updates the
 * heading path. The text is then cleared either way. */
void sink_emit(struct doc_sink *s, enum doc_block_kind kind, unsigned level);
/* Drops the current block's text. */
void sink_discard(struct doc_sink *s);
bool sink_empty(const struct doc_sink *s);
/* Sets the document title (normalised like block text) unless it is set. */
void sink_title(struct doc_sink *s, const char *p, size_t n);
/* Records the first error with a message and returns it (later calls return
 * the first). */
enum lair_err sink_fail(struct doc_sink *s, enum lair_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline bool sink_ok(const struct doc_sink *s)
{
    return s->err == LAIR_OK;
}

/* Writes code point cp (a valid scalar value) as UTF-8 into out (4 bytes of
 * room); returns the length. */
size_t doc_utf8_encode(uint32_t cp, char *out);

/* "12 MiB", "1.5 GiB": sizes in messages. */
const char *doc_size_str(size_t n, char *out, size_t outlen);

/* ---- character sets ----------------------------------------------------------------- */

/* The bytes as UTF-8. charset is a label ("windows-1252", "ISO-8859-15",
 * "utf-8"…) or NULL to guess. A byte-order mark always wins. Without a label,
 * valid UTF-8 stays as it is and anything else is read as windows-1252 (the
 * superset of ISO-8859-1 that French Windows files use). With the label
 * "utf-8", invalid sequences become U+FFFD. A label that iconv does not know is
 * treated as no label. OUT: *out is data itself or an OWNED copy in *owned
 * (free with free()); *label_used says what was applied. */
enum lair_err doc_to_utf8(struct doc_sink *s, const char *data, size_t len, const char *charset,
                          const char **out, size_t *outlen, char **owned, const char **label_used);

/* ---- zip ----------------------------------------------------------------------------- */

/* Opens an in-memory zip archive (data BORROWED while it is open), refusing
 * archives with more than max_zip_entries entries or with entry names that
 * are absolute, hold "..", backslashes or control characters. */
enum lair_err doc_zip_open(struct doc_sink *s, const void *data, size_t len, zip_t **out);
/* Reads the entry named name, counting its decompressed bytes against
 * max_unzipped_bytes (whatever its header claims). LAIR_ENOTFOUND, without
 * recording an error, when there is no such entry. OUT: *data OWNED (free with
 * free()), NUL-terminated. */
enum lair_err doc_zip_read(struct doc_sink *s, zip_t *za, const char *name, char **data,
                           size_t *len);

/* ---- XML ----------------------------------------------------------------------------- */

/* A streaming (SAX2) parse of one XML part with the safety settings every
 * Office part gets: no network, no DTD (a DOCTYPE is refused outright: Office
 * parts never have one, and refusing it rules out entity expansion and
 * external entities), no entity substitution, nesting capped at
 * max_xml_depth. The callbacks get user; they may call sink_fail, which stops
 * the parse. Attributes come as libxml2's SAX2 quintuples. */
struct doc_xml {
    struct doc_sink *sink;
    const char *part; /* entry name, for messages */
    void *user;
    void (*start)(void *user, const char *local, const char *uri, int nattr, const xmlChar **attrs);
    void (*end)(void *user, const char *local, const char *uri);
    void (*text)(void *user, const char *p, size_t n);
    /* private */
    xmlParserCtxtPtr ctxt;
    unsigned depth;
    bool dtd;
    char xmlerr[160];
};

enum lair_err doc_xml_parse(struct doc_xml *x, const char *data, size_t len);
/* The value of the attribute local (in namespace uri, or any when uri is
 * NULL); {NULL, 0} when absent. */
struct str doc_xml_attr(int nattr, const xmlChar **attrs, const char *local, const char *uri);
/* One-time libxml2 initialisation (safe from any thread). */
void doc_xml_init(void);
/* Whether one of libxml2's allocations failed on this thread since the
 * last reset: libxml2 2.9 does not always say so itself (doc_xml_init
 * installs the allocators that note it). */
void doc_xml_alloc_reset(void);
bool doc_xml_alloc_failed(void);
/* Sets the title from the dc:title of a metadata part (DOCX docProps/core.xml,
 * ODT meta.xml), unless a title is set or the part is absent. */
void doc_dc_title(struct doc_sink *s, zip_t *za, const char *part);

/* ---- the extractors ------------------------------------------------------------------ */

enum lair_err doc_txt_extract(struct doc_sink *s, const char *data, size_t len);
enum lair_err doc_md_extract(struct doc_sink *s, const char *data, size_t len);
enum lair_err doc_html_extract(struct doc_sink *s, const char *data, size_t len);
enum lair_err doc_pdf_extract(struct doc_sink *s, const char *data, size_t len);
enum lair_err doc_docx_extract(struct doc_sink *s, const char *data, size_t len);
enum lair_err doc_odt_extract(struct doc_sink *s, const char *data, size_t len);

#endif
