/* Tests of document extraction (src/doc/): every extractor on small documents
 * this file writes at run time (DOCX and ODT assembled with libzip from XML
 * strings, a two-page PDF written byte by byte with its xref table, HTML,
 * Markdown and text strings), then hostile input: zip bombs (honest and lying
 * headers), 10,000-deep XML and HTML, external entities aimed at /etc/passwd,
 * billion laughs, truncated and broken PDFs, random bytes, empty and huge
 * files, unsafe and duplicate zip entry names, foreign character sets.
 * Nothing comes from outside the test. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <zip.h>

#include "doc/doc.h"

#include "core/banned.h"

/* ---- helpers ----------------------------------------------------------------------- */

static void dump(const struct doc *d)
{
    print_message("format %s, title \"%s\", %zu blocks\n", doc_format_name(d->format),
                  d->title ? d->title : "(none)", d->nblocks);
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        print_message("  %2zu p%u %-9s %u [%s] %s\n", i, b->page, doc_block_kind_name(b->kind),
                      b->level, b->heading_path, b->text);
    }
}

/* Every block is well-formed: valid UTF-8, len matches, a path, no stray
 * whitespace. */
static void check_doc(const struct doc *d)
{
    size_t total = 0;
    assert_true(d->nblocks > 0);
    for (size_t i = 0; i < d->nblocks; i++) {
        const struct doc_block *b = &d->blocks[i];
        assert_non_null(b->text);
        assert_non_null(b->heading_path);
        assert_int_equal(strlen(b->text), b->len);
        assert_true(b->len > 0);
        assert_true(utf8_valid(b->text, b->len));
        assert_true(utf8_valid(b->heading_path, strlen(b->heading_path)));
        assert_true(b->text[0] != ' ' && b->text[b->len - 1] != ' ');
        if (!strchr(b->text, '\n')) /* preformatted text keeps its spaces */
            assert_null(strstr(b->text, "  "));
        total += b->len;
    }
    assert_int_equal(total, d->text_bytes);
}

static enum lair_err extract(const void *data, size_t len, const char *hint,
                             const struct doc_limits *lim, struct doc *d, char *msg)
{
    enum lair_err e = doc_extract(data, len, hint, lim, d, msg, 256);
    if (e == LAIR_OK)
        check_doc(d);
    else
        assert_int_equal(d->nblocks, 0);
    return e;
}

static void expect_ok(const void *data, size_t len, const char *hint, struct doc *d)
{
    char msg[256];
    enum lair_err e = extract(data, len, hint, NULL, d, msg);
    if (e)
        print_error("unexpected error %s: %s\n", lair_err_name(e), msg);
    assert_int_equal(e, LAIR_OK);
}

static void expect_err(const void *data, size_t len, const char *hint, const struct doc_limits *lim,
                       enum lair_err want, const char *needle)
{
    char msg[256];
    struct doc d;
    enum lair_err e = extract(data, len, hint, lim, &d, msg);
    if (e != want || !strstr(msg, needle)) {
        print_error("want %s containing \"%s\", got %s: \"%s\"\n", lair_err_name(want), needle,
                    lair_err_name(e), msg);
        if (!e)
            dump(&d);
    }
    doc_release(&d);
    assert_int_equal(e, want);
    assert_non_null(strstr(msg, needle));
}

static void expect_block(const struct doc *d, size_t i, enum doc_block_kind kind, unsigned level,
                         unsigned page, const char *text, const char *path)
{
    if (i >= d->nblocks || d->blocks[i].kind != kind || d->blocks[i].level != level ||
        d->blocks[i].page != page || strcmp(d->blocks[i].text, text) ||
        strcmp(d->blocks[i].heading_path, path)) {
        print_error("block %zu: want p%u %s %u [%s] %s\n", i, page, doc_block_kind_name(kind),
                    level, path, text);
        dump(d);
    }
    assert_true(i < d->nblocks);
    assert_int_equal(d->blocks[i].kind, kind);
    assert_int_equal(d->blocks[i].level, level);
    assert_int_equal(d->blocks[i].page, page);
    assert_string_equal(d->blocks[i].text, text);
    assert_string_equal(d->blocks[i].heading_path, path);
}

/* No block, path or title holds needle. */
static void expect_absent(const struct doc *d, const char *needle)
{
    for (size_t i = 0; i < d->nblocks; i++) {
        if (strstr(d->blocks[i].text, needle) || strstr(d->blocks[i].heading_path, needle)) {
            print_error("\"%s\" found in block %zu\n", needle, i);
            dump(d);
        }
        assert_null(strstr(d->blocks[i].text, needle));
        assert_null(strstr(d->blocks[i].heading_path, needle));
    }
    if (d->title)
        assert_null(strstr(d->title, needle));
}

static size_t count_containing(const struct doc *d, const char *needle)
{
    size_t n = 0;
    for (size_t i = 0; i < d->nblocks; i++)
        n += strstr(d->blocks[i].text, needle) != NULL;
    return n;
}

/* Rewrites every occurrence of from (in local headers and the central
 * directory alike) with to, of the same length: makes archives libzip would
 * refuse to write. Returns the count. */
static size_t patch_all(char *z, size_t n, const char *from, const char *to)
{
    size_t k = strlen(from), count = 0;
    assert_int_equal(strlen(to), k);
    for (size_t i = 0; i + k <= n; i++)
        if (!memcmp(z + i, from, k))
            memcpy(z + i, to, k), count++;
    return count;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The first line of /etc/passwd: what an XXE would leak. */
static const char *passwd_line(void)
{
    static char line[256];
    FILE *f = fopen("/etc/passwd", "r");
    assert_non_null(f);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    line[strcspn(line, "\n")] = 0;
    assert_true(strlen(line) > 5);
    return line;
}

/* ---- zip building ------------------------------------------------------------------- */

struct zent {
    const char *name;
    const char *data; /* NUL-terminated, unless zeros */
    uint64_t zeros;   /* when non-zero: that many zero bytes instead of data */
    bool store;       /* no compression (ODT's mimetype) */
};

struct zeros {
    uint64_t size, pos;
};

static zip_int64_t zeros_cb(void *ud, void *data, zip_uint64_t len, zip_source_cmd_t cmd)
{
    struct zeros *z = ud;
    switch (cmd) {
    case ZIP_SOURCE_OPEN: z->pos = 0; return 0;
    case ZIP_SOURCE_READ: {
        zip_uint64_t n = z->size - z->pos < len ? z->size - z->pos : len;
        memset(data, 0, n);
        z->pos += n;
        return (zip_int64_t)n;
    }
    case ZIP_SOURCE_CLOSE: return 0;
    case ZIP_SOURCE_STAT: {
        zip_stat_t *st = data;
        zip_stat_init(st);
        st->size = z->size;
        st->valid |= ZIP_STAT_SIZE;
        return sizeof *st;
    }
    case ZIP_SOURCE_ERROR: return 0;
    case ZIP_SOURCE_FREE: free(z); return 0;
    case ZIP_SOURCE_SUPPORTS:
        return zip_source_make_command_bitmap(ZIP_SOURCE_OPEN, ZIP_SOURCE_READ, ZIP_SOURCE_CLOSE,
                                              ZIP_SOURCE_STAT, ZIP_SOURCE_ERROR, ZIP_SOURCE_FREE,
                                              -1);
    default: return -1;
    }
}

/* OWNED: the bytes of a zip archive holding the entries, in order. */
static char *zip_build(const struct zent *e, size_t n, size_t *len)
{
    char path[] = "/tmp/lair-test-doc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_EXCL, &err);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        zip_source_t *src;
        if (e[i].zeros) {
            struct zeros *z = calloc(1, sizeof *z);
            assert_non_null(z);
            z->size = e[i].zeros;
            src = zip_source_function(za, zeros_cb, z);
        } else {
            src = zip_source_buffer(za, e[i].data, strlen(e[i].data), 0);
        }
        assert_non_null(src);
        zip_int64_t idx = zip_file_add(za, e[i].name, src, ZIP_FL_ENC_UTF_8);
        assert_true(idx >= 0);
        if (e[i].store)
            assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
    }
    assert_int_equal(zip_close(za), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    unlink(path);
    *len = (size_t)size;
    return buf;
}

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""
#define CT_XML                                                                                     \
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"                                \
    "<Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\">"               \
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"                                 \
    "<Override PartName=\"/word/document.xml\" ContentType=\"application/"                         \
    "vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>"

/* A DOCX with this document.xml (and styles.xml, core.xml when not NULL). */
static char *docx_build(const char *document, const char *styles, const char *core, size_t *len)
{
    struct zent e[5] = {{"[Content_Types].xml", CT_XML, 0, false}};
    size_t n = 1;
    e[n++] = (struct zent){"_rels/.rels",
                           "<?xml version=\"1.0\"?><Relationships xmlns=\"http://"
                           "schemas.openxmlformats.org/package/2006/"
                           "relationships\"/>",
                           0, false};
    if (document)
        e[n++] = (struct zent){"word/document.xml", document, 0, false};
    if (styles)
        e[n++] = (struct zent){"word/styles.xml", styles, 0, false};
    if (core)
        e[n++] = (struct zent){"docProps/core.xml", core, 0, false};
    return zip_build(e, n, len);
}

#define ODT_MIME "application/vnd.oasis.opendocument.text"
#define ODT_NS                                                                                     \
    "xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "                           \
    "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" "                               \
    "xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" "                             \
    "xmlns:style=\"urn:oasis:names:tc:opendocument:xmlns:style:1.0\" "                             \
    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" office:version=\"1.3\""

static char *odt_build(const char *content, const char *meta, size_t *len)
{
    struct zent e[4] = {{"mimetype", ODT_MIME, 0, true}};
    size_t n = 1;
    if (content)
        e[n++] = (struct zent){"content.xml", content, 0, false};
    if (meta)
        e[n++] = (struct zent){"meta.xml", meta, 0, false};
    e[n++] = (struct zent){"META-INF/manifest.xml",
                           "<?xml version=\"1.0\"?><manifest:manifest xmlns:manifest=\"urn:oasis:"
                           "names:tc:opendocument:xmlns:manifest:1.0\"/>",
                           0, false};
    return zip_build(e, n, len);
}

/* ---- PDF building ------------------------------------------------------------------- */

/* OWNED: a PDF with one page per content stream, Helvetica (WinAnsi) as /F1,
 * the title in its Info dictionary, and an exact xref table. */
static char *pdf_build(const char *const *contents, int npages, const char *title, size_t *len)
{
    struct buf b;
    buf_init(&b, 0);
    size_t off[64];
    int nobj = 4 + 2 * npages;
    assert_true(nobj < 64);
    buf_puts(&b, "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    off[1] = b.len;
    buf_puts(&b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = b.len;
    buf_puts(&b, "2 0 obj\n<< /Type /Pages /Kids [");
    for (int i = 0; i < npages; i++)
        buf_printf(&b, "%d 0 R ", 5 + 2 * i);
    buf_printf(&b, "] /Count %d >>\nendobj\n", npages);
    off[3] = b.len;
    buf_puts(&b, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                 "/Encoding /WinAnsiEncoding >>\nendobj\n");
    off[4] = b.len;
    buf_printf(&b, "4 0 obj\n<< /Title (%s) /Producer (test_doc) >>\nendobj\n", title);
    for (int i = 0; i < npages; i++) {
        off[5 + 2 * i] = b.len;
        buf_printf(&b,
                   "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                   "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n",
                   5 + 2 * i, 6 + 2 * i);
        off[6 + 2 * i] = b.len;
        buf_printf(&b, "%d 0 obj\n<< /Length %zu >>\nstream\n%s\nendstream\nendobj\n", 6 + 2 * i,
                   strlen(contents[i]), contents[i]);
    }
    size_t xref = b.len;
    buf_printf(&b, "xref\n0 %d\n0000000000 65535 f \n", nobj + 1);
    for (int i = 1; i <= nobj; i++)
        buf_printf(&b, "%010zu 00000 n \n", off[i]);
    buf_printf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
               nobj + 1, xref);
    return buf_detach(&b, len);
}

static const char *const pdf_pages[] = {
    "BT /F1 24 Tf 72 760 Td (Rapport annuel) Tj ET\n"
    "BT /F1 11 Tf 72 700 Td (La mairie de Cr\\351cy publie son rapport annuel sur les "
    "services.) Tj 0 -14 Td (Il couvre l'\\351cole, la cantine et la voirie.) Tj ET\n"
    "BT /F1 11 Tf 72 600 Td (Le budget total s'\\351l\\350ve \\340 12 000 \\200 pour "
    "l'\\234uvre.) Tj ET\n"
    "BT /F1 11 Tf 72 560 Td (Annexe . . . . . . . . . . 4) Tj ET\n"
    "BT /F1 9 Tf 72 810 Td (Mairie de Cr\351cy \227 rapport 2024, page 1) Tj ET\n"
    "BT /F1 9 Tf 290 30 Td (1) Tj ET\n",
    "BT /F1 16 Tf 72 760 Td (Section deux) Tj ET\n"
    "BT /F1 11 Tf 72 700 Td (Les horaires de la m\\351diath\\350que changent en septembre "
    "prochain.) Tj ET\n"
    "BT /F1 9 Tf 280 30 Td (Page 2 sur 2) Tj ET\n"
    "BT /F1 9 Tf 72 810 Td (Mairie de Cr\351cy \227 rapport 2024, page 2) Tj ET\n",
};

/* ---- detection ---------------------------------------------------------------------- */

static void test_detect(void **state)
{
    size_t n;
    char *pdf = pdf_build(pdf_pages, 2, "T", &n);
    assert_int_equal(doc_detect(pdf, n, "x.txt"), DOC_FORMAT_PDF);
    free(pdf);
    char *docx = docx_build("<w:document " W_NS "/>", NULL, NULL, &n);
    assert_int_equal(doc_detect(docx, n, NULL), DOC_FORMAT_DOCX);
    free(docx);
    char *odt = odt_build("<office:document-content " ODT_NS "/>", NULL, &n);
    assert_int_equal(doc_detect(odt, n, "x.docx"), DOC_FORMAT_ODT);
    free(odt);
    assert_int_equal(doc_detect(S("<!DOCTYPE html><p>x").ptr, 19, NULL), DOC_FORMAT_HTML);
    assert_int_equal(doc_detect("  <HTML><body>x", 15, "a.txt"), DOC_FORMAT_HTML);
    assert_int_equal(doc_detect("<p>x</p>", 8, "page.htm"), DOC_FORMAT_HTML);
    assert_int_equal(doc_detect("# Titre\n", 8, "notes.md"), DOC_FORMAT_MARKDOWN);
    assert_int_equal(doc_detect("# Titre\n", 8, "dir.md/notes.txt"), DOC_FORMAT_TEXT);
    assert_int_equal(doc_detect("# Titre\n", 8, NULL), DOC_FORMAT_TEXT);
    static const char mention[] = "Un fichier PDF commence par %PDF-1.7 puis ses objets.";
    assert_int_equal(doc_detect(mention, sizeof mention - 1, NULL), DOC_FORMAT_TEXT);
    assert_int_equal(doc_detect("\x89PNG\r\n\x1a\n", 8, "x.md"), DOC_FORMAT_UNKNOWN);
    assert_int_equal(doc_detect("", 0, NULL), DOC_FORMAT_UNKNOWN);
    assert_string_equal(doc_format_name(DOC_FORMAT_ODT), "odt");
    assert_string_equal(doc_block_kind_name(DOC_TABLE_ROW), "table_row");
}

/* ---- plain text --------------------------------------------------------------------- */

static void test_text(void **state)
{
    static const char t[] = "Premier paragraphe\r\nsur deux   lignes.\n\n\n"
                            "  Second\tparagraphe.\x01\f"
                            "Page deux.\n";
    struct doc d;
    expect_ok(t, sizeof t - 1, "notes.txt", &d);
    assert_int_equal(d.format, DOC_FORMAT_TEXT);
    assert_null(d.title);
    assert_int_equal(d.nblocks, 3);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 1, "Premier paragraphe sur deux lignes.", "");
    expect_block(&d, 1, DOC_PARAGRAPH, 0, 1, "Second paragraphe.", "");
    expect_block(&d, 2, DOC_PARAGRAPH, 0, 2, "Page deux.", "");
    doc_release(&d);

    /* No form feed: no pages. */
    expect_ok("Bonjour.\n", 9, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "Bonjour.", "");
    doc_release(&d);
}

static void test_text_encodings(void **state)
{
    struct doc d;
    /* Not UTF-8: read as windows-1252. */
    static const char cp[] = "Cr\xe9"
                             "cy : l'\x9cuvre co\xfbte 5 \x80, \x93guillemets\x94.";
    expect_ok(cp, sizeof cp - 1, "a.txt", &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0,
                 "Crécy : l'œuvre coûte 5 €, \xe2\x80\x9cguillemets\xe2\x80\x9d.", "");
    doc_release(&d);
    /* UTF-8 with a byte-order mark. */
    expect_ok("\xEF\xBB\xBF"
              "\xC3\xA9t\xC3\xA9",
              8, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "été", "");
    doc_release(&d);
    /* UTF-16LE with a byte-order mark. */
    static const char u16[] = "\xFF\xFE"
                              "\xE9\0t\0\xE9\0\n\0\n\0"
                              "O\0K\0";
    expect_ok(u16, sizeof u16 - 1, NULL, &d);
    assert_int_equal(d.nblocks, 2);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "été", "");
    expect_block(&d, 1, DOC_PARAGRAPH, 0, 0, "OK", "");
    doc_release(&d);
    /* Invalid UTF-8 in the middle of otherwise valid text: windows-1252 for all. */
    static const char mixed[] = "caf\xC3\xA9 et th\xE9";
    expect_ok(mixed, sizeof mixed - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "caf\xC3\x83\xC2\xA9 et th\xC3\xA9", "");
    doc_release(&d);
    /* Controls and zero-width characters vanish; U+2028 is a space. */
    expect_ok("a\x02"
              "b\xE2\x80\x8B"
              "c\xE2\x80\xA8"
              "d\xC2\xAD"
              "e",
              14, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "abc de", "");
    doc_release(&d);
}

/* ---- Markdown ----------------------------------------------------------------------- */

static void test_markdown(void **state)
{
    static const char md[] =
        "---\n"
        "title: \"Guide des démarches\"\n"
        "author: x\n"
        "---\n"
        "# Guide #\n"
        "\n"
        "Intro *importante* avec un [lien](http://exemple.fr/a_b) et `code_x`.\n"
        "Suite de la **ligne** ![logo](logo.png) <span>fin</span> &amp; \\*étoile\\*.\n"
        "\n"
        "Sous-titre\n"
        "----------\n"
        "\n"
        "- Premier\n"
        "- [x] Second\n"
        "  - Imbriqué\n"
        "1. Numéro un\n"
        "\n"
        "| Col A | Col B |\n"
        "|-------|:-----:|\n"
        "| a1    | `b|1` |\n"
        "\n"
        "```c\n"
        "int x = 1;\n"
        "  return x;\n"
        "```\n"
        "\n"
        "> Citation *ici*\n"
        "\n"
        "[ref]: http://exemple.fr\n"
        "<!-- commentaire\n"
        "sur deux lignes -->\n"
        "***\n"
        "snake_case reste, 2 * 3 reste, ~~barré~~.\n"
        "### Trois\n"
        "Texte <http://exemple.fr/x>.\n";
    struct doc d;
    expect_ok(md, sizeof md - 1, "guide.md", &d);
    assert_int_equal(d.format, DOC_FORMAT_MARKDOWN);
    assert_string_equal(d.title, "Guide des démarches");
    size_t i = 0;
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Guide", "Guide");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0,
                 "Intro importante avec un lien et code_x. Suite de la ligne logo fin & *étoile*.",
                 "Guide");
    expect_block(&d, i++, DOC_HEADING, 2, 0, "Sous-titre", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Premier", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Second", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_LIST_ITEM, 2, 0, "Imbriqué", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Numéro un", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_TABLE_ROW, 1, 0, "Col A | Col B", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_TABLE_ROW, 2, 0, "a1 | b|1", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "int x = 1;\n  return x;", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Citation ici", "Guide > Sous-titre");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "snake_case reste, 2 * 3 reste, barré.",
                 "Guide > Sous-titre");
    expect_block(&d, i++, DOC_HEADING, 3, 0, "Trois", "Guide > Sous-titre > Trois");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Texte http://exemple.fr/x.",
                 "Guide > Sous-titre > Trois");
    assert_int_equal(d.nblocks, i);
    expect_absent(&d, "commentaire");
    expect_absent(&d, "author");
    doc_release(&d);

    /* Without front matter, the first level-1 heading is the title. */
    static const char md2[] = "Texte.\n\n# Le titre\n## Sous\n# Autre\n";
    expect_ok(md2, sizeof md2 - 1, "a.markdown", &d);
    assert_string_equal(d.title, "Le titre");
    expect_block(&d, 3, DOC_HEADING, 1, 0, "Autre", "Autre");
    doc_release(&d);
}

static void test_markdown_hostile(void **state)
{
    /* Unbalanced brackets and backticks over a long line stay linear and
     * nested link texts stay within the stack. */
    size_t n = 2 << 20;
    char *md = malloc(n + 1);
    assert_non_null(md);
    for (size_t i = 0; i < n; i++)
        md[i] = "[`*_(<&"[i % 7];
    md[n] = 0;
    struct doc d;
    double t0 = now();
    expect_ok(md, n, "x.md", &d);
    doc_release(&d);
    for (size_t i = 0; i < n / 2; i++)
        md[i] = '[';
    for (size_t i = n / 2; i < n; i++)
        md[i] = i % 2 ? ']' : '(';
    expect_ok(md, n, "x.md", &d);
    doc_release(&d);
    assert_true(now() - t0 < 60); /* quadratic would be hours; this only catches that */
    free(md);
}

/* ---- HTML --------------------------------------------------------------------------- */

static void test_html(void **state)
{
    static const char html[] =
        "<!DOCTYPE html><html lang=\"fr\"><head><meta charset=\"utf-8\">"
        "<title>Mairie de Crécy \xe2\x80\x93 Accueil</title><style>body{color:red}</style>"
        "<script>var secret = \"SCRIPT\";</script></head>"
        "<body><header><nav><a href=\"/\">Accueil</a> <a>Menu</a></nav><div>Bandeau site</div>"
        "</header><div class=\"fr-breadcrumb fr-mt-2w\">Vous êtes ici</div>"
        "<main><h1>Démarches</h1><p>Pour obtenir un <b>acte</b> de\nnaissance&nbsp;: "
        "<a href=\"x\">cliquez</a>.</p>"
        "<div aria-hidden=\"true\">Caché1</div><div hidden>Caché2</div>"
        "<div role=\"navigation\">Caché3</div>"
        "<h2>Pièces <small>à fournir</small></h2><ul><li>Carte d'identité</li>"
        "<li>Justificatif<ul><li>Facture</li></ul>de domicile</li></ul>"
        "<table><caption>Tarifs</caption><tr><th>Acte</th><th>Prix</th></tr>"
        "<tr><td>Naissance</td><td></td><td>Gratuit</td></tr>"
        "<tr><td><table><tr><td>in</td><td>ner</td></tr></table></td><td>x</td></tr></table>"
        "<pre>ligne 1\n  ligne 2</pre>"
        "<noscript>Activez JS</noscript><svg><title>Icône</title><text>SVG</text></svg>"
        "<article><header><h3>Article</h3></header><p>Texte<br>suite</p>"
        "<footer>Publié le 3 mars</footer></article>"
        "</main><footer>Mentions légales</footer></body></html>";
    struct doc d;
    expect_ok(html, sizeof html - 1, NULL, &d);
    assert_int_equal(d.format, DOC_FORMAT_HTML);
    assert_string_equal(d.title, "Mairie de Crécy \xe2\x80\x93 Accueil");
    size_t i = 0;
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Démarches", "Démarches");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0,
                 "Pour obtenir un acte de naissance\xc2\xa0: cliquez.", "Démarches");
    expect_block(&d, i++, DOC_HEADING, 2, 0, "Pièces à fournir", "Démarches > Pièces à fournir");
    const char *p2 = "Démarches > Pièces à fournir";
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Carte d'identité", p2);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Justificatif", p2);
    expect_block(&d, i++, DOC_LIST_ITEM, 2, 0, "Facture", p2);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "de domicile", p2);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Tarifs", p2);
    expect_block(&d, i++, DOC_TABLE_ROW, 1, 0, "Acte | Prix", p2);
    expect_block(&d, i++, DOC_TABLE_ROW, 2, 0, "Naissance | | Gratuit", p2);
    expect_block(&d, i++, DOC_TABLE_ROW, 3, 0, "in ner | x", p2);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "ligne 1\n  ligne 2", p2);
    expect_block(&d, i++, DOC_HEADING, 3, 0, "Article", "Démarches > Pièces à fournir > Article");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Texte suite",
                 "Démarches > Pièces à fournir > Article");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Publié le 3 mars",
                 "Démarches > Pièces à fournir > Article");
    assert_int_equal(d.nblocks, i);
    static const char *const gone[] = {"SCRIPT",  "color",     "Accueil", "Menu",
                                       "Bandeau", "Vous êtes", "Caché",   "Activez",
                                       "Icône",   "SVG",       "Mentions"};
    for (size_t k = 0; k < sizeof gone / sizeof *gone; k++)
        if (strcmp(gone[k], "Accueil"))
            expect_absent(&d, gone[k]);
    assert_int_equal(count_containing(&d, "Accueil"), 0);
    doc_release(&d);
}

static void test_html_charsets(void **state)
{
    struct doc d;
    /* windows-1252 declared by <meta charset>. */
    static const char w[] = "<html><head><meta charset=\"windows-1252\"><title>Caf\xe9</title>"
                            "</head><body><p>L'\x9cuvre co\xfbte 5 \x80.</p></body></html>";
    expect_ok(w, sizeof w - 1, NULL, &d);
    assert_string_equal(d.title, "Café");
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "L'œuvre coûte 5 €.", "");
    doc_release(&d);
    /* ISO-8859-1 by http-equiv: read as windows-1252, as browsers do. */
    static const char l1[] = "<html><head><meta http-equiv=\"Content-Type\" "
                             "content=\"text/html; charset=ISO-8859-1\"></head>"
                             "<body><h1>\xc9t\xe9</h1><p>Prix\xa0: 3 \x80</p></body></html>";
    expect_ok(l1, sizeof l1 - 1, NULL, &d);
    expect_block(&d, 0, DOC_HEADING, 1, 0, "Été", "Été");
    expect_block(&d, 1, DOC_PARAGRAPH, 0, 0, "Prix\xc2\xa0: 3 €", "Été");
    doc_release(&d);
    /* ISO-8859-15 goes through iconv: 0xA4 is the euro sign there. */
    static const char l9[] = "<html><head><meta charset='iso-8859-15'></head>"
                             "<body><p>5 \xa4 \xbd</p></body></html>";
    expect_ok(l9, sizeof l9 - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "5 € œ", "");
    doc_release(&d);
    /* No declaration and not UTF-8: windows-1252. */
    static const char none[] = "<html><body><p>D\xe9j\xe0 vu</p></body></html>";
    expect_ok(none, sizeof none - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "Déjà vu", "");
    doc_release(&d);
    /* Declared UTF-8 but a stray byte: U+FFFD, the rest intact. */
    static const char bad[] = "<html><head><meta charset=utf-8></head>"
                              "<body><p>\xc3\xa9t\xe9 ok</p></body></html>";
    expect_ok(bad, sizeof bad - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "ét\xef\xbf\xbd ok", "");
    doc_release(&d);
    /* The declaration is ignored by the parser once we converted: a page that
     * says windows-1252 in a second meta keeps its first reading. */
    static const char twice[] = "<html><head><meta charset=\"utf-8\">"
                                "<meta http-equiv=\"Content-Type\" content=\"text/html; "
                                "charset=windows-1252\"></head><body><p>\xc3\xa9t\xc3\xa9</p>"
                                "</body></html>";
    expect_ok(twice, sizeof twice - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "été", "");
    doc_release(&d);
    /* An unknown label falls back to guessing. */
    static const char unk[] = "<html><head><meta charset=\"x-martian//TRANSLIT\"></head>"
                              "<body><p>\xc3\xa9t\xc3\xa9</p></body></html>";
    expect_ok(unk, sizeof unk - 1, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "été", "");
    doc_release(&d);
}

static void test_html_hostile(void **state)
{
    const char *pw = passwd_line();
    struct doc d;
    /* External entities and billion laughs mean nothing to the HTML parser. */
    static const char xxe[] =
        "<!DOCTYPE html [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">"
        "<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<html><body><p>A &xxe; B &lol3; C</p>"
        "<iframe src=\"file:///etc/passwd\"></iframe><img src=\"file:///etc/passwd\">"
        "</body></html>";
    expect_ok(xxe, sizeof xxe - 1, NULL, &d);
    expect_absent(&d, pw);
    expect_absent(&d, "root:");
    expect_absent(&d, "lollol");
    assert_int_equal(count_containing(&d, "C"), 1);
    doc_release(&d);

    /* 10,000 nested elements: refused at max_xml_depth. */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<html><body>");
    for (int i = 0; i < 10000; i++)
        buf_puts(&b, "<div>");
    buf_puts(&b, "profond");
    expect_err(b.ptr, b.len, NULL, NULL, LAIR_ELIMIT, "max_xml_depth");
    /* Within a raised limit it is read. */
    struct doc_limits lim = {.max_xml_depth = 20000};
    char msg[256];
    assert_int_equal(extract(b.ptr, b.len, NULL, &lim, &d, msg), LAIR_OK);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "profond", "");
    doc_release(&d);
    /* Unclosed inline tags nest too. */
    buf_reset(&b);
    for (int i = 0; i < 10000; i++)
        buf_puts(&b, "<b>");
    buf_puts(&b, "gras");
    expect_err(b.ptr, b.len, "x.html", NULL, LAIR_ELIMIT, "max_xml_depth");
    buf_release(&b);

    /* Only navigation and scripts: no text, a clear error. */
    static const char empty[] = "<html><body><nav>Menu</nav><script>x()</script></body></html>";
    expect_err(empty, sizeof empty - 1, NULL, NULL, LAIR_EINVAL, "no text found in this HTML");
}

/* ---- DOCX --------------------------------------------------------------------------- */

static const char docx_styles[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?><w:styles " W_NS ">"
    "<w:style w:type=\"paragraph\" w:default=\"1\" w:styleId=\"Normal\"><w:name w:val=\"Normal\"/>"
    "</w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Titre1\"><w:name w:val=\"heading 1\"/>"
    "<w:basedOn w:val=\"Normal\"/><w:pPr><w:outlineLvl w:val=\"0\"/></w:pPr></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Titre2\"><w:name w:val=\"heading 2\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Titre\"><w:name w:val=\"Title\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"MonTitre\"><w:name w:val=\"Mon titre\"/>"
    "<w:basedOn w:val=\"Titre2\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"TM1\"><w:name w:val=\"toc 1\"/></w:style>"
    "<w:style w:type=\"paragraph\" w:styleId=\"Listepuces\"><w:name w:val=\"List Bullet\"/>"
    "<w:pPr><w:numPr><w:numId w:val=\"3\"/></w:numPr></w:pPr></w:style>"
    "</w:styles>";

#define WP(style, text)                                                                            \
    "<w:p><w:pPr><w:pStyle w:val=\"" style "\"/></w:pPr><w:r><w:t>" text "</w:t></w:r></w:p>"
#define WLI(lvl, text)                                                                             \
    "<w:p><w:pPr><w:numPr><w:ilvl w:val=\"" lvl "\"/><w:numId w:val=\"1\"/></w:numPr>"             \
    "<w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>"                               \
    "<w:r><w:t>" text "</w:t></w:r></w:p>"
#define WTC(text) "<w:tc><w:p><w:r><w:t xml:space=\"preserve\">" text "</w:t></w:r></w:p></w:tc>"

static const char docx_document[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"
    "<w:document " W_NS " xmlns:mc=\"http://schemas.openxmlformats.org/markup-compatibility/2006\">"
    "<w:body>" WP("Titre", "Conseil municipal") WP("TM1", "Sommaire 1") WP(
        "Titre1",
        "Ordre du jour") "<w:p><w:r><w:t xml:space=\"preserve\">Le conseil s'est réuni </w:t></w:r>"
                         "<w:r><w:rPr><w:b/></w:rPr><w:t>le 3 mars</w:t></w:r>"
                         "<w:del><w:r><w:delText>SUPPRIMÉ</w:delText></w:r></w:del>"
                         "<w:r><w:instrText> PAGE </w:instrText></w:r>"
                         "<w:r><w:t>.</w:t><w:tab/><w:t>Fin</w:t></w:r></w:p>" WLI(
                             "0", "Budget") WLI("1", "Investissements")
                             WP("Listepuces",
                                "Puce par style") "<w:p><w:pPr><w:pStyle "
                                                  "w:val=\"Listepuces\"/><w:numPr><w:numId "
                                                  "w:val=\"0\"/></w:numPr>"
                                                  "</w:pPr><w:r><w:t>Plus une "
                                                  "puce</w:t></w:r></w:p>" WP(
                                                      "MonTitre",
                                                      "Tarifs") "<w:tbl><w:tblPr/><w:tr>" WTC("Serv"
                                                                                              "ice")
                                                      WTC("Prix") "</w:tr>"
                                                                  "<w:tr>" WTC("Cantine") WTC(
                                                                      "") "<w:tc><w:p><w:r><w:t>3,"
                                                                          "50</w:t></w:r>"
                                                                          "<w:r><w:t "
                                                                          "xml:space=\"preserve\"> "
                                                                          "€</w:t></w:r></w:p></"
                                                                          "w:tc></w:tr></w:tbl>"
                                                                          "<w:p><w:r><w:t>Avant</"
                                                                          "w:t></"
                                                                          "w:r><w:r><mc:"
                                                                          "AlternateContent><mc:"
                                                                          "Choice Requires=\"wps\">"
                                                                          "<w:drawing><w:"
                                                                          "txbxContent><w:p><w:r><"
                                                                          "w:t>Encadré</w:t></"
                                                                          "w:r></w:p></"
                                                                          "w:txbxContent>"
                                                                          "</w:drawing></"
                                                                          "mc:Choice><mc:Fallback><"
                                                                          "w:pict><w:txbxContent><"
                                                                          "w:p><w:r><w:t>Encadré</"
                                                                          "w:t>"
                                                                          "</w:r></w:p></"
                                                                          "w:txbxContent></"
                                                                          "w:pict></mc:Fallback></"
                                                                          "mc:AlternateContent></"
                                                                          "w:r>"
                                                                          "<w:r><w:t>après</w:t></"
                                                                          "w:r></w:p>"
                                                                          "<w:p><w:pPr><w:"
                                                                          "outlineLvl "
                                                                          "w:val=\"2\"/></"
                                                                          "w:pPr><w:r><w:t>Niveau "
                                                                          "direct</w:t></w:r></w:p>"
                                                                          "<w:p><w:pPr><w:pStyle "
                                                                          "w:val=\"Titre1\"/"
                                                                          "><w:pPrChange><w:pPr><w:"
                                                                          "pStyle "
                                                                          "w:val=\"Normal\"/>"
                                                                          "</w:pPr></w:pPrChange></"
                                                                          "w:pPr><w:r><w:t>"
                                                                          "Questions &amp; "
                                                                          "r&#233;ponses</w:t></"
                                                                          "w:r></w:p>"
                                                                          "<w:sectPr><w:pgSz "
                                                                          "w:w=\"11906\" "
                                                                          "w:h=\"16838\"/></"
                                                                          "w:sectPr>"
                                                                          "</w:body></w:document>";

static const char docx_core[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><cp:coreProperties "
    "xmlns:cp=\"http://schemas.openxmlformats.org/package/2006/metadata/core-properties\" "
    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\"><dc:title>Titre des métadonnées</dc:title>"
    "<dc:creator>Jean</dc:creator></cp:coreProperties>";

static void test_docx(void **state)
{
    size_t n;
    char *z = docx_build(docx_document, docx_styles, docx_core, &n);
    struct doc d;
    expect_ok(z, n, "cr.docx", &d);
    assert_int_equal(d.format, DOC_FORMAT_DOCX);
    assert_string_equal(d.title, "Conseil municipal");
    const char *oj = "Ordre du jour", *ta = "Ordre du jour > Tarifs";
    size_t i = 0;
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Conseil municipal", "");
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Ordre du jour", oj);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Le conseil s'est réuni le 3 mars. Fin", oj);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Budget", oj);
    expect_block(&d, i++, DOC_LIST_ITEM, 2, 0, "Investissements", oj);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Puce par style", oj);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Plus une puce", oj);
    expect_block(&d, i++, DOC_HEADING, 2, 0, "Tarifs", ta);
    expect_block(&d, i++, DOC_TABLE_ROW, 1, 0, "Service | Prix", ta);
    expect_block(&d, i++, DOC_TABLE_ROW, 2, 0, "Cantine | | 3,50 €", ta);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Avant", ta);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Encadré", ta);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "après", ta);
    expect_block(&d, i++, DOC_HEADING, 3, 0, "Niveau direct",
                 "Ordre du jour > Tarifs > Niveau direct");
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Questions & réponses", "Questions & réponses");
    assert_int_equal(d.nblocks, i);
    expect_absent(&d, "SUPPRIMÉ");
    expect_absent(&d, "Sommaire");
    expect_absent(&d, "PAGE");
    assert_int_equal(count_containing(&d, "Encadré"), 1);
    doc_release(&d);
    free(z);

    /* No Title paragraph: the metadata title; no styles.xml: built-in ids. */
    static const char doc2[] = "<w:document " W_NS "><w:body>" WP("Heading2", "Deux")
        WP("Titre3", "Trois") "</w:body></w:document>";
    z = docx_build(doc2, NULL, docx_core, &n);
    expect_ok(z, n, NULL, &d);
    assert_string_equal(d.title, "Titre des métadonnées");
    expect_block(&d, 0, DOC_HEADING, 2, 0, "Deux", "Deux");
    expect_block(&d, 1, DOC_HEADING, 3, 0, "Trois", "Deux > Trois");
    doc_release(&d);
    free(z);

    /* An XML part declared in ISO-8859-1 is decoded by its declaration. */
    static const char latin[] =
        "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><w:document " W_NS
        "><w:body><w:p><w:r><w:t>\xe9t\xe9</w:t></w:r></w:p></w:body></w:document>";
    z = docx_build(latin, NULL, NULL, &n);
    expect_ok(z, n, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "été", "");
    doc_release(&d);
    free(z);
}

/* ---- ODT ---------------------------------------------------------------------------- */

static const char odt_content[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content " ODT_NS ">"
    "<office:automatic-styles><style:style style:name=\"P1\" style:family=\"paragraph\" "
    "style:parent-style-name=\"Title\"/></office:automatic-styles>"
    "<office:body><office:text>"
    "<text:sequence-decls><text:sequence-decl text:name=\"Illustration\"/></text:sequence-decls>"
    "<text:p text:style-name=\"P1\">Bulletin municipal</text:p>"
    "<text:table-of-content><text:index-body><text:p>Sommaire TOC</text:p></text:index-body>"
    "</text:table-of-content>"
    "<text:h text:outline-level=\"1\">Vie locale</text:h>"
    "<text:p>La fête<text:s/>du <text:span>village</text:span><text:note text:note-class="
    "\"footnote\"><text:note-citation>1</text:note-citation><text:note-body><text:p>Note cachée"
    "</text:p></text:note-body></text:note> aura<text:line-break/>lieu.</text:p>"
    "<text:list><text:list-item><text:p>Marché</text:p><text:list><text:list-item>"
    "<text:p>Fruits</text:p></text:list-item></text:list></text:list-item>"
    "<text:list-item><text:p>Brocante</text:p></text:list-item></text:list>"
    "<text:h text:outline-level=\"2\">Horaires</text:h>"
    "<table:table><table:table-column table:number-columns-repeated=\"3\"/>"
    "<table:table-header-rows><table:table-row><table:table-cell><text:p>Jour</text:p>"
    "</table:table-cell><table:table-cell><text:p>Heure</text:p></table:table-cell>"
    "</table:table-row></table:table-header-rows>"
    "<table:table-row table:number-rows-repeated=\"1000000\"><table:table-cell "
    "table:number-columns-spanned=\"2\"><text:p>Fermé</text:p></table:table-cell>"
    "<table:covered-table-cell/><table:table-cell><text:p>x</text:p></table:table-cell>"
    "</table:table-row></table:table>"
    "<text:p>Fin<office:annotation><dc:creator>Jean</dc:creator><text:p>Commentaire</text:p>"
    "</office:annotation></text:p>"
    "<text:h text:outline-level=\"1\">Retour</text:h>"
    "</office:text></office:body></office:document-content>";

static const char odt_meta[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-meta " ODT_NS "><office:meta>"
    "<dc:title>Titre méta</dc:title></office:meta></office:document-meta>";

static void test_odt(void **state)
{
    size_t n;
    char *z = odt_build(odt_content, odt_meta, &n);
    struct doc d;
    expect_ok(z, n, "bulletin.odt", &d);
    assert_int_equal(d.format, DOC_FORMAT_ODT);
    assert_string_equal(d.title, "Bulletin municipal");
    const char *vl = "Vie locale", *ho = "Vie locale > Horaires";
    size_t i = 0;
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Bulletin municipal", "");
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Vie locale", vl);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "La fête du village aura lieu.", vl);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Marché", vl);
    expect_block(&d, i++, DOC_LIST_ITEM, 2, 0, "Fruits", vl);
    expect_block(&d, i++, DOC_LIST_ITEM, 1, 0, "Brocante", vl);
    expect_block(&d, i++, DOC_HEADING, 2, 0, "Horaires", ho);
    expect_block(&d, i++, DOC_TABLE_ROW, 1, 0, "Jour | Heure", ho);
    expect_block(&d, i++, DOC_TABLE_ROW, 2, 0, "Fermé | | x", ho);
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 0, "Fin", ho);
    expect_block(&d, i++, DOC_HEADING, 1, 0, "Retour", "Retour");
    assert_int_equal(d.nblocks, i);
    expect_absent(&d, "Note cachée");
    expect_absent(&d, "Commentaire");
    expect_absent(&d, "Sommaire");
    expect_absent(&d, "Jean");
    doc_release(&d);
    free(z);

    /* No Title paragraph: meta.xml's title. */
    static const char c2[] = "<office:document-content " ODT_NS "><office:body><office:text>"
                             "<text:p>Seul</text:p></office:text></office:body>"
                             "</office:document-content>";
    z = odt_build(c2, odt_meta, &n);
    expect_ok(z, n, NULL, &d);
    assert_string_equal(d.title, "Titre méta");
    doc_release(&d);
    free(z);
}

/* ---- PDF ---------------------------------------------------------------------------- */

static void test_pdf(void **state)
{
    size_t n;
    char *pdf = pdf_build(pdf_pages, 2, "Rapport 2024 de la commune", &n);
    struct doc d;
    expect_ok(pdf, n, "rapport.pdf", &d);
    assert_int_equal(d.format, DOC_FORMAT_PDF);
    assert_int_equal(d.npages, 2);
    assert_string_equal(d.title, "Rapport 2024 de la commune");
    size_t i = 0;
    expect_block(&d, i++, DOC_HEADING, 1, 1, "Rapport annuel", "Rapport annuel");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 1,
                 "La mairie de Crécy publie son rapport annuel sur les services. Il couvre "
                 "l'école, la cantine et la voirie.",
                 "Rapport annuel");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 1, "Le budget total s'élève à 12 000 € pour l'œuvre.",
                 "Rapport annuel");
    expect_block(&d, i++, DOC_HEADING, 2, 2, "Section deux", "Rapport annuel > Section deux");
    expect_block(&d, i++, DOC_PARAGRAPH, 0, 2,
                 "Les horaires de la médiathèque changent en septembre prochain.",
                 "Rapport annuel > Section deux");
    /* Gone: the page numbers, the running header, the table of contents line. */
    assert_int_equal(d.nblocks, i);
    expect_absent(&d, "Annexe");
    expect_absent(&d, "page 1");
    doc_release(&d);

    /* Too many pages. */
    struct doc_limits lim = {.max_pages = 1};
    expect_err(pdf, n, NULL, &lim, LAIR_ELIMIT, "max_pages");
    /* Too little memory for MuPDF: to start, and to read this file. */
    lim = (struct doc_limits){.max_pdf_memory = 200 << 10};
    expect_err(pdf, n, NULL, &lim, LAIR_ELIMIT, "max_pdf_memory");
    lim = (struct doc_limits){.max_pdf_memory = 420000};
    expect_err(pdf, n, NULL, &lim, LAIR_ELIMIT, "reading this PDF needs more than");
    free(pdf);

    /* A page without text: nothing to read, said as such. */
    static const char *const blank[] = {"0 0 m 100 100 l S\n"};
    pdf = pdf_build(blank, 1, "Vide", &n);
    expect_err(pdf, n, NULL, NULL, LAIR_EUNSUPPORTED, "no text layer");
    free(pdf);
}

static void test_pdf_broken(void **state)
{
    size_t n;
    char *pdf = pdf_build(pdf_pages, 2, "T", &n);
    /* Cut everywhere: never a crash, never garbage; a clean error or the text
     * MuPDF could repair. */
    size_t ok = 0;
    for (size_t cut = 1; cut < n; cut += 7) {
        struct doc d;
        char msg[256];
        enum lair_err e = extract(pdf, cut, "t.pdf", NULL, &d, msg);
        if (e == LAIR_OK) {
            ok++;
            for (size_t i = 0; i < d.nblocks; i++)
                assert_true(d.blocks[i].page >= 1 && d.blocks[i].page <= 2);
        } else {
            assert_true(e == LAIR_EINVAL || e == LAIR_EUNSUPPORTED);
            assert_true(msg[0] != 0);
        }
        doc_release(&d);
    }
    print_message("truncated PDFs: %zu of %zu cuts still readable\n", ok, (n - 1) / 7 + 1);
    /* Cut right after the first object: nothing to read. */
    expect_err(pdf, 80, "t.pdf", NULL, LAIR_EINVAL, "PDF");
    free(pdf);

    /* A header and garbage. */
    char junk[4096];
    uint64_t x = 88172645463325252u;
    memcpy(junk, "%PDF-1.7\n", 9);
    for (size_t i = 9; i < sizeof junk; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        junk[i] = (char)(x & 0xFF);
    }
    expect_err(junk, sizeof junk, NULL, NULL, LAIR_EINVAL, "broken PDF");
    expect_err("%PDF-1.4\n", 9, NULL, NULL, LAIR_EINVAL, "PDF");
    /* An object that references itself and a page tree that loops. */
    static const char *const loop_pages[] = {"BT /F1 12 Tf 72 700 Td (Boucle) Tj ET"};
    pdf = pdf_build(loop_pages, 1, "T", &n);
    char *k = strstr(pdf, "/Kids [5 0 R ]");
    assert_non_null(k);
    memcpy(k, "/Kids [2 0 R ]", 14); /* the Pages node is its own kid */
    struct doc d;
    char msg[256];
    enum lair_err e = extract(pdf, n, NULL, NULL, &d, msg);
    assert_true(e == LAIR_EINVAL || e == LAIR_EUNSUPPORTED);
    doc_release(&d);
    free(pdf);
}

/* ---- hostile containers ------------------------------------------------------------- */

static void test_zip_bomb(void **state)
{
    /* 200 MB of zeros in word/document.xml, compressed to a few hundred KB. */
    struct zent e[] = {{"[Content_Types].xml", CT_XML, 0, false},
                       {"word/document.xml", NULL, 200u << 20, false}};
    size_t n;
    char *z = zip_build(e, 2, &n);
    assert_true(n < (2u << 20));
    double t0 = now();
    expect_err(z, n, NULL, NULL, LAIR_ELIMIT, "max_unzipped_bytes");
    assert_true(now() - t0 < 5); /* refused on its declared size, not inflated */

    /* The same with a lying header (it claims 1000 bytes): counted as it
     * inflates, refused at the limit. */
    uint32_t small = 1000;
    size_t patched = 0;
    for (size_t i = 0; i + 46 < n; i++) {
        if (!memcmp(z + i, "PK\x03\x04", 4) && !memcmp(z + i + 30, "word/document.xml", 17)) {
            memcpy(z + i + 22, &small, 4);
            patched++;
        }
        if (!memcmp(z + i, "PK\x01\x02", 4) && !memcmp(z + i + 46, "word/document.xml", 17)) {
            memcpy(z + i + 24, &small, 4);
            patched++;
        }
    }
    assert_int_equal(patched, 2);
    struct doc_limits lim = {.max_unzipped_bytes = 8u << 20};
    expect_err(z, n, NULL, &lim, LAIR_ELIMIT, "max_unzipped_bytes");
    free(z);

    /* Many small parts: the total counts, not each part. */
    lim = (struct doc_limits){.max_unzipped_bytes = 100000};
    struct buf styles;
    buf_init(&styles, 0);
    buf_puts(&styles, "<w:styles " W_NS ">");
    for (int i = 0; i < 6000; i++)
        buf_puts(&styles, "          ");
    buf_puts(&styles, "</w:styles>");
    struct zent e2[] = {{"[Content_Types].xml", CT_XML, 0, false},
                        {"word/styles.xml", styles.ptr, 0, false},
                        {"word/document.xml", NULL, 60000, false}};
    z = zip_build(e2, 3, &n);
    expect_err(z, n, NULL, &lim, LAIR_ELIMIT, "word/document.xml decompresses to more than");
    free(z);
    buf_release(&styles);
}

static void test_zip_names(void **state)
{
    /* Each archive is written with a harmless name of the same length, then
     * patched: libzip itself refuses to write some of these. */
    static const char *const bad[] = {"../../evil.txt",
                                      "/etc/cron.d/x",
                                      "word\\..\\x.xml",
                                      "word/../../x.xml",
                                      "C:/x.xml",
                                      "a/\x01.xml",
                                      ".."};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char name[32];
        memset(name, 'Q', strlen(bad[i]));
        name[strlen(bad[i])] = 0;
        struct zent e[] = {{"[Content_Types].xml", CT_XML, 0, false},
                           {"word/document.xml", "<w:document " W_NS "/>", 0, false},
                           {name, "x", 0, false}};
        size_t n;
        char *z = zip_build(e, 3, &n);
        assert_int_equal(patch_all(z, n, name, bad[i]), 2);
        expect_err(z, n, NULL, NULL, LAIR_EINVAL, "unsafe entry name");
        free(z);
        /* The same trick in an ODT. */
        struct zent o[] = {{"mimetype", ODT_MIME, 0, true},
                           {"content.xml", "<office:document-content " ODT_NS "/>", 0, false},
                           {name, "x", 0, false}};
        z = zip_build(o, 3, &n);
        assert_int_equal(patch_all(z, n, name, bad[i]), 2);
        expect_err(z, n, NULL, NULL, LAIR_EINVAL, "unsafe entry name");
        free(z);
    }
    /* "..." and "a..b" are names, not tricks. */
    struct zent fine[] = {{"[Content_Types].xml", CT_XML, 0, false},
                          {"word/document.xml",
                           "<w:document " W_NS "><w:body><w:p><w:r><w:t>ok"
                           "</w:t></w:r></w:p></w:body></w:document>",
                           0, false},
                          {"media/a..b/...png", "x", 0, false}};
    size_t n;
    char *z = zip_build(fine, 3, &n);
    struct doc d;
    expect_ok(z, n, NULL, &d);
    expect_block(&d, 0, DOC_PARAGRAPH, 0, 0, "ok", "");
    doc_release(&d);
    free(z);

    /* Two entries named word/document.xml (made by renaming one after the
     * fact): which one a reader sees is ambiguous, so refused. */
    struct zent dup[] = {{"[Content_Types].xml", CT_XML, 0, false},
                         {"word/document.xml",
                          "<w:document " W_NS "><w:body><w:p><w:r><w:t>"
                          "un</w:t></w:r></w:p></w:body></w:document>",
                          0, false},
                         {"word/document.xmX",
                          "<w:document " W_NS "><w:body><w:p><w:r><w:t>"
                          "deux</w:t></w:r></w:p></w:body></w:document>",
                          0, false}};
    z = zip_build(dup, 3, &n);
    assert_int_equal(patch_all(z, n, "word/document.xmX", "word/document.xml"), 2);
    char msg[256];
    enum lair_err e = extract(z, n, NULL, NULL, &d, msg);
    if (e != LAIR_EINVAL)
        print_error("duplicate entries: %s %s\n", lair_err_name(e), msg);
    assert_int_equal(e, LAIR_EINVAL);
    free(z);
}

static void test_docx_broken(void **state)
{
    size_t n;
    /* No word/document.xml. */
    char *z = docx_build(NULL, docx_styles, NULL, &n);
    expect_err(z, n, "x.docx", NULL, LAIR_EINVAL, "word/document.xml is missing");
    free(z);
    /* Not well-formed. */
    z = docx_build("<w:document " W_NS "><w:body><w:p>", NULL, NULL, &n);
    expect_err(z, n, NULL, NULL, LAIR_EINVAL, "not well-formed XML");
    free(z);
    /* Invalid UTF-8 in a part that says UTF-8. */
    z = docx_build("<w:document " W_NS "><w:body><w:p><w:r><w:t>\xe9t\xe9</w:t></w:r></w:p>"
                   "</w:body></w:document>",
                   NULL, NULL, &n);
    expect_err(z, n, NULL, NULL, LAIR_EINVAL, "word/document.xml");
    free(z);
    /* A truncated archive. */
    z = docx_build(docx_document, docx_styles, NULL, &n);
    expect_err(z, n / 2, NULL, NULL, LAIR_EINVAL, "zip");
    free(z);
    /* A zip that is something else. */
    struct zent x[] = {{"[Content_Types].xml", CT_XML, 0, false},
                       {"xl/workbook.xml", "<workbook/>", 0, false}};
    z = zip_build(x, 2, &n);
    expect_err(z, n, NULL, NULL, LAIR_EUNSUPPORTED, "Excel");
    free(z);
    struct zent ods[] = {{"mimetype", "application/vnd.oasis.opendocument.spreadsheet", 0, true}};
    z = zip_build(ods, 1, &n);
    expect_err(z, n, NULL, NULL, LAIR_EUNSUPPORTED, "spreadsheet");
    free(z);
    /* An ODT without content.xml. */
    z = odt_build(NULL, odt_meta, &n);
    expect_err(z, n, NULL, NULL, LAIR_EINVAL, "content.xml is missing");
    free(z);
}

/* A DOCX and an ODT whose main part is this XML. */
static void expect_xml_err(const char *docx_xml, const char *odt_xml, enum lair_err want,
                           const char *needle)
{
    size_t n;
    char *z = docx_build(docx_xml, NULL, NULL, &n);
    expect_err(z, n, NULL, NULL, want, needle);
    free(z);
    z = odt_build(odt_xml, NULL, &n);
    expect_err(z, n, NULL, NULL, want, needle);
    free(z);
}

static void test_xml_hostile(void **state)
{
    const char *pw = passwd_line();
    /* An external entity aimed at /etc/passwd. */
    static const char xxe_w[] =
        "<?xml version=\"1.0\"?><!DOCTYPE w:document [<!ENTITY xxe SYSTEM "
        "\"file:///etc/passwd\">]><w:document " W_NS "><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r>"
        "</w:p></w:body></w:document>";
    static const char xxe_o[] =
        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY xxe SYSTEM \"/etc/passwd\">]>"
        "<office:document-content " ODT_NS "><office:body><office:text><text:p>&xxe;</text:p>"
        "</office:text></office:body></office:document-content>";
    expect_xml_err(xxe_w, xxe_o, LAIR_EINVAL, "DTD");
    /* And the error message never carries the file either. */
    size_t n;
    char *z = docx_build(xxe_w, NULL, NULL, &n);
    struct doc d;
    char msg[256];
    assert_int_equal(extract(z, n, NULL, NULL, &d, msg), LAIR_EINVAL);
    assert_null(strstr(msg, pw));
    assert_null(strstr(msg, "root:"));
    free(z);
    /* Parameter entities and an external DTD. */
    static const char pe[] =
        "<?xml version=\"1.0\"?><!DOCTYPE w:document SYSTEM \"file:///etc/passwd\" "
        "[<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]><w:document " W_NS "/>";
    expect_xml_err(pe, pe, LAIR_EINVAL, "DTD");
    /* Billion laughs. */
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">");
    buf_puts(&b, "<!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">");
    for (int i = 2; i <= 9; i++) {
        buf_printf(&b, "<!ENTITY lol%d \"", i);
        for (int k = 0; k < 10; k++)
            buf_printf(&b, "&lol%d;", i - 1);
        buf_puts(&b, "\">");
    }
    buf_puts(&b, "]><w:document " W_NS "><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
                 "</w:body></w:document>");
    double t0 = now();
    expect_xml_err(b.ptr, b.ptr, LAIR_EINVAL, "DTD");
    assert_true(now() - t0 < 5);
    /* An undeclared entity without any DTD: not well-formed, not expanded. */
    expect_xml_err("<w:document " W_NS "><w:body><w:p><w:r><w:t>&lol9;</w:t></w:r></w:p>"
                   "</w:body></w:document>",
                   "<office:document-content " ODT_NS "><office:body><office:text><text:p>&xxe;"
                   "</text:p></office:text></office:body></office:document-content>",
                   LAIR_EINVAL, "not well-formed");
    /* 10,000 nested elements. */
    buf_reset(&b);
    buf_puts(&b, "<w:document " W_NS "><w:body>");
    for (int i = 0; i < 10000; i++)
        buf_puts(&b, "<w:sdt>");
    struct buf o;
    buf_init(&o, 0);
    buf_puts(&o, "<office:document-content " ODT_NS "><office:body><office:text>");
    for (int i = 0; i < 10000; i++)
        buf_puts(&o, "<text:span>");
    expect_xml_err(b.ptr, o.ptr, LAIR_ELIMIT, "max_xml_depth");
    buf_release(&b);
    buf_release(&o);
}

/* ---- generic hostile input and limits ---------------------------------------------- */

static void test_garbage(void **state)
{
    expect_err("", 0, NULL, NULL, LAIR_EINVAL, "empty");
    expect_err("\n \n\t\n", 5, "x.txt", NULL, LAIR_EINVAL, "no text found in this text file");
    expect_err("\n\n", 2, "x.md", NULL, LAIR_EINVAL, "no text found in this Markdown file");

    size_t n = 1 << 16;
    unsigned char *r = malloc(n);
    assert_non_null(r);
    uint64_t x = 0x9E3779B97F4A7C15u;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        r[i] = (unsigned char)(x >> 24);
    }
    expect_err(r, n, "random.bin", NULL, LAIR_EUNSUPPORTED, "binary");
    expect_err(r, n, "random.pdf", NULL, LAIR_EUNSUPPORTED, "not a PDF");
    memcpy(r, "PK\x03\x04", 4);
    expect_err(r, n, "random.docx", NULL, LAIR_EINVAL, "zip");
    free(r);

    expect_err("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\0\0\0", 11, "old.doc", NULL, LAIR_EUNSUPPORTED,
               "Office 97-2003");
    expect_err("\x89PNG\r\n\x1a\n\0\0", 10, "scan.png", NULL, LAIR_EUNSUPPORTED, "image");
    expect_err("{\\rtf1\\ansi Bonjour}", 19, "a.rtf", NULL, LAIR_EUNSUPPORTED, "RTF");
    expect_err("juste du texte", 14, "rapport.pdf", NULL, LAIR_EINVAL, "named .pdf");
    expect_err("juste du texte", 14, "rapport.docx", NULL, LAIR_EINVAL, "named .docx");
    expect_err("PK\x05\x06\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 22, NULL, NULL, LAIR_EINVAL,
               "zip");
}

static void test_limits(void **state)
{
    /* The file itself. */
    char *big = malloc(4000);
    assert_non_null(big);
    memset(big, 'a', 4000);
    struct doc_limits lim = {.max_file_bytes = 1000};
    expect_err(big, 4000, NULL, &lim, LAIR_ELIMIT, "max_file_bytes");
    /* Extracted text. */
    for (size_t i = 0; i < 4000; i += 10)
        memcpy(big + i, "mot mot.\n\n", 10);
    lim = (struct doc_limits){.max_text_bytes = 1000};
    expect_err(big, 4000, NULL, &lim, LAIR_ELIMIT, "max_text_bytes");
    lim = (struct doc_limits){.max_blocks = 10};
    expect_err(big, 4000, NULL, &lim, LAIR_ELIMIT, "max_blocks");
    struct doc d;
    expect_ok(big, 4000, NULL, &d);
    assert_int_equal(d.nblocks, 400);
    doc_release(&d);
    free(big);
    /* Archive entries. */
    struct zent e[] = {{"[Content_Types].xml", CT_XML, 0, false},
                       {"word/document.xml", "<w:document " W_NS "/>", 0, false},
                       {"a", "x", 0, false},
                       {"b", "x", 0, false}};
    size_t n;
    char *z = zip_build(e, 4, &n);
    lim = (struct doc_limits){.max_zip_entries = 3};
    expect_err(z, n, NULL, &lim, LAIR_ELIMIT, "max_zip_entries");
    /* An end record that claims 60000 entries is refused before libzip
     * allocates anything for them. */
    assert_true(n > 22 && !memcmp(z + n - 22, "PK\x05\x06", 4));
    memcpy(z + n - 22 + 8, "\x60\xEA\x60\xEA", 4);
    expect_err(z, n, NULL, NULL, LAIR_ELIMIT, "60000 entries");
    free(z);
    /* Long headings are cut in paths, not in their block. */
    char head[1200] = "# ";
    for (int i = 0; i < 100; i++)
        memcpy(head + 2 + 10 * i, "Titre long", 10);
    memcpy(head + 1002, "\n\ntexte\n", 9);
    expect_ok(head, strlen(head), "x.md", &d);
    assert_int_equal(d.blocks[0].len, 1000);
    assert_true(strlen(d.blocks[1].heading_path) < 200);
    assert_true(utf8_valid(d.blocks[1].heading_path, strlen(d.blocks[1].heading_path)));
    doc_release(&d);
}

static void test_extract_file(void **state)
{
    char path[] = "/tmp/lair-test-doc-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    static const char t[] = "# Titre\n\nCorps.\n";
    assert_int_equal(write(fd, t, sizeof t - 1), (ssize_t)(sizeof t - 1));
    close(fd);
    char md[64];
    snprintf(md, sizeof md, "%s.md", path);
    assert_int_equal(rename(path, md), 0);
    struct doc d;
    char msg[256];
    assert_int_equal(doc_extract_file(md, NULL, &d, msg, sizeof msg), LAIR_OK);
    assert_int_equal(d.format, DOC_FORMAT_MARKDOWN);
    expect_block(&d, 1, DOC_PARAGRAPH, 0, 0, "Corps.", "Titre");
    doc_release(&d);
    /* A 100 MB (sparse) file is refused before being read. */
    assert_int_equal(truncate(md, 100 << 20), 0);
    double t0 = now();
    assert_int_equal(doc_extract_file(md, NULL, &d, msg, sizeof msg), LAIR_ELIMIT);
    assert_non_null(strstr(msg, "100 MiB"));
    assert_non_null(strstr(msg, "max_file_bytes"));
    assert_true(now() - t0 < 1);
    unlink(md);
    assert_int_equal(doc_extract_file(md, NULL, &d, msg, sizeof msg), LAIR_EIO);
    assert_int_equal(doc_extract_file("/tmp", NULL, &d, msg, sizeof msg), LAIR_EINVAL);
    assert_non_null(strstr(msg, "regular"));
    /* A FIFO is refused without waiting for a writer. */
    assert_int_equal(mkfifo(md, 0600), 0);
    assert_int_equal(doc_extract_file(md, NULL, &d, msg, sizeof msg), LAIR_EINVAL);
    unlink(md);
}

/* ---- threads ------------------------------------------------------------------------ */

struct job {
    const char *data;
    size_t len;
    size_t want_blocks;
    int failures;
};

static void *worker(void *arg)
{
    struct job *j = arg;
    for (int i = 0; i < 15; i++) {
        struct doc d;
        char msg[256];
        if (doc_extract(j->data, j->len, NULL, NULL, &d, msg, sizeof msg) != LAIR_OK ||
            d.nblocks != j->want_blocks)
            j->failures++;
        doc_release(&d);
    }
    return NULL;
}

static void test_threads(void **state)
{
    size_t np, nd, no;
    char *pdf = pdf_build(pdf_pages, 2, "T", &np);
    char *docx = docx_build(docx_document, docx_styles, NULL, &nd);
    char *odt = odt_build(odt_content, NULL, &no);
    static const char html[] = "<html><body><h1>A</h1><p>b</p><ul><li>c</li></ul></body></html>";
    struct job jobs[] = {{pdf, np, 5, 0},  {docx, nd, 15, 0},
                         {odt, no, 11, 0}, {html, sizeof html - 1, 3, 0},
                         {pdf, np, 5, 0},  {docx, nd, 15, 0}};
    pthread_t th[sizeof jobs / sizeof *jobs];
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; i++)
        assert_int_equal(pthread_create(&th[i], NULL, worker, &jobs[i]), 0);
    for (size_t i = 0; i < sizeof jobs / sizeof *jobs; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(jobs[i].failures, 0);
    }
    free(pdf);
    free(docx);
    free(odt);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_text),
        cmocka_unit_test(test_text_encodings),
        cmocka_unit_test(test_markdown),
        cmocka_unit_test(test_markdown_hostile),
        cmocka_unit_test(test_html),
        cmocka_unit_test(test_html_charsets),
        cmocka_unit_test(test_html_hostile),
        cmocka_unit_test(test_docx),
        cmocka_unit_test(test_odt),
        cmocka_unit_test(test_pdf),
        cmocka_unit_test(test_pdf_broken),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_zip_names),
        cmocka_unit_test(test_docx_broken),
        cmocka_unit_test(test_xml_hostile),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_extract_file),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
