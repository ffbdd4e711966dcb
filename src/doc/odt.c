/* ODT (OpenDocument Text, what LibreOffice writes): content.xml read as a
 * stream. text:h is a heading at its text:outline-level; text:p a paragraph,
 * or a list item when inside text:list (level = list nesting); a table row is
 * one block, cells joined by " | ", covered (merged) cells kept empty so that
 * columns stay aligned, nested tables flattened into their cell. A paragraph
 * in the "Title" style (or an automatic style derived from it) gives the
 * title, else meta.xml's dc:title does. Dropped: footnotes and endnotes (they
 * would cut their sentence in two), comments, tracked deletions, generated
 * indexes (table of contents…), image descriptions. Repeated rows and columns
 * (table:number-rows-repeated) are read once: expanding them would let a tiny
 * file claim millions of rows. Page is 0: page breaks are the word
 * processor's business. */
#include "doc/doc_int.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define NS_TEXT "urn:oasis:names:tc:opendocument:xmlns:text:1.0"
#define NS_TABLE "urn:oasis:names:tc:opendocument:xmlns:table:1.0"
#define NS_OFFICE "urn:oasis:names:tc:opendocument:xmlns:office:1.0"
#define NS_STYLE "urn:oasis:names:tc:opendocument:xmlns:style:1.0"
#define NS_SVG "urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0"

#define PARA_NEST 4
#define TITLE_STYLES 32
#define STYLE_NAME_MAX 64

struct opara {
    bool heading, title;
    unsigned level;
};

struct odt {
    struct doc_sink *s;
    unsigned depth, skip_at;
    bool body; /* inside office:text */
    unsigned lists, items;
    unsigned tbl, row, cell;
    int np;
    struct opara stack[PARA_NEST];
    char titles[TITLE_STYLES][STYLE_NAME_MAX]; /* automatic styles derived from "Title" */
    unsigned ntitles;
};

static bool ns(const char *uri, const char *want)
{
    return uri && !strcmp(uri, want);
}

static bool is_title_style(const struct odt *o, struct str name)
{
    if (!name.ptr)
        return false;
    if (str_eq_c(name, "Title"))
        return true;
    for (unsigned i = 0; i < o->ntitles; i++)
        if (str_eq_c(name, o->titles[i]))
            return true;
    return false;
}

static bool skipped(const char *local, const char *uri)
{
    static const char *const text[] = {"note",
                                       "tracked-changes",
                                       "table-of-content",
                                       "alphabetical-index",
                                       "illustration-index",
                                       "table-index",
                                       "object-index",
                                       "user-index",
                                       "bibliography",
                                       "sequence-decls",
                                       "variable-decls",
                                       "user-field-decls",
                                       NULL};
    if (ns(uri, NS_OFFICE))
        return !strcmp(local, "annotation") || !strcmp(local, "forms");
    if (ns(uri, NS_SVG))
        return !strcmp(local, "desc") || !strcmp(local, "title");
    if (!ns(uri, NS_TEXT))
        return false;
    for (const char *const *x = text; *x; x++)
        if (!strcmp(local, *x))
            return true;
    return false;
}

static struct opara *otop(struct odt *o)
{
    return o->np > 0 && o->np <= PARA_NEST ? &o->stack[o->np - 1] : NULL;
}

static void para_emit(struct odt *o, const struct opara *p)
{
    struct doc_sink *s = o->s;
    if (p && p->heading) {
        sink_emit(s, DOC_HEADING, p->level);
    } else if (p && p->title) {
        if (!sink_empty(s))
            sink_title(s, s->text.ptr, s->text.len);
        sink_emit(s, DOC_PARAGRAPH, 0);
    } else if (o->items) {
        sink_emit(s, DOC_LIST_ITEM, o->lists ? o->lists : 1);
    } else {
        sink_emit(s, DOC_PARAGRAPH, 0);
    }
}

static void od_start(void *u, const char *local, const char *uri, int nattr, const xmlChar **attrs)
{
    struct odt *o = u;
    struct doc_sink *s = o->s;
    o->depth++;
    if (o->skip_at)
        return;
    if (skipped(local, uri)) {
        o->skip_at = o->depth;
        return;
    }
    if (ns(uri, NS_STYLE) && !strcmp(local, "style")) {
        struct str parent = doc_xml_attr(nattr, attrs, "parent-style-name", NS_STYLE);
        struct str name = doc_xml_attr(nattr, attrs, "name", NS_STYLE);
        if (is_title_style(o, parent) && name.ptr && name.len < STYLE_NAME_MAX &&
            o->ntitles < TITLE_STYLES) {
            memcpy(o->titles[o->ntitles], name.ptr, name.len);
            o->titles[o->ntitles++][name.len] = 0;
        }
        return;
    }
    if (ns(uri, NS_OFFICE) && !strcmp(local, "text")) {
        o->body = true;
        return;
    }
    if (!o->body)
        return;
    if (ns(uri, NS_TEXT)) {
        struct opara *p = otop(o);
        if (!strcmp(local, "p") || !strcmp(local, "h")) {
            if (p && !o->tbl)
                para_emit(o, p); /* a text frame inside a paragraph */
            o->np++;
            if ((p = otop(o))) {
                memset(p, 0, sizeof *p);
                p->heading = local[0] == 'h';
                int lv = 0;
                struct str v = doc_xml_attr(nattr, attrs, "outline-level", NS_TEXT);
                for (size_t i = 0;
                     v.ptr && i < v.len && i < 3 && v.ptr[i] >= '0' && v.ptr[i] <= '9'; i++)
                    lv = lv * 10 + (v.ptr[i] - '0');
                p->level = lv > 0 ? (unsigned)lv : 1;
                p->title = is_title_style(o, doc_xml_attr(nattr, attrs, "style-name", NS_TEXT));
            }
        } else if (!strcmp(local, "list")) {
            if (!o->tbl)
                o->lists++;
        } else if (!strcmp(local, "list-item") || !strcmp(local, "list-header")) {
            if (!o->tbl)
                o->items++;
        } else if (!strcmp(local, "s") || !strcmp(local, "tab") || !strcmp(local, "line-break")) {
            sink_space(s);
        }
    } else if (ns(uri, NS_TABLE)) {
        if (!strcmp(local, "table")) {
            if (!o->tbl++) {
                struct opara *p = otop(o);
                if (p)
                    para_emit(o, p);
                o->row = 0;
            } else {
                sink_space(s);
            }
        } else if (!strcmp(local, "table-row") && o->tbl == 1) {
            sink_discard(s);
            o->row++;
            o->cell = 0;
        } else if ((!strcmp(local, "table-cell") || !strcmp(local, "covered-table-cell")) &&
                   o->tbl == 1) {
            if (o->cell++)
                sink_cell(s);
        }
    }
}

static void od_end(void *u, const char *local, const char *uri)
{
    struct odt *o = u;
    struct doc_sink *s = o->s;
    unsigned depth = o->depth--;
    if (o->skip_at) {
        if (depth == o->skip_at)
            o->skip_at = 0;
        return;
    }
    if (ns(uri, NS_OFFICE) && !strcmp(local, "text")) {
        o->body = false;
        return;
    }
    if (!o->body)
        return;
    if (ns(uri, NS_TEXT)) {
        if (!strcmp(local, "p") || !strcmp(local, "h")) {
            if (o->tbl)
                sink_space(s);
            else
                para_emit(o, otop(o));
            if (o->np)
                o->np--;
        } else if (!strcmp(local, "list")) {
            if (!o->tbl && o->lists)
                o->lists--;
        } else if (!strcmp(local, "list-item") || !strcmp(local, "list-header")) {
            if (!o->tbl && o->items)
                o->items--;
        }
    } else if (ns(uri, NS_TABLE)) {
        if (!strcmp(local, "table")) {
            if (o->tbl)
                o->tbl--;
        } else if (!strcmp(local, "table-row") && o->tbl == 1) {
            sink_emit(s, DOC_TABLE_ROW, o->row);
        } else if (!strcmp(local, "table-cell") && o->tbl > 1) {
            sink_space(s);
        }
    }
}

static void od_text(void *u, const char *p, size_t n)
{
    struct odt *o = u;
    if (o->body && o->np > 0 && !o->skip_at)
        sink_text(o->s, p, n);
}

enum lair_err doc_odt_extract(struct doc_sink *s, const char *data, size_t len)
{
    zip_t *za;
    if (doc_zip_open(s, data, len, &za))
        return s->err;
    char *xml = NULL;
    size_t n;
    enum lair_err e = doc_zip_read(s, za, "content.xml", &xml, &n);
    if (e == LAIR_ENOTFOUND)
        sink_fail(s, LAIR_EINVAL, "broken ODT document: content.xml is missing");
    if (!s->err) {
        struct odt *o = calloc(1, sizeof *o);
        if (!o) {
            sink_fail(s, LAIR_ENOMEM, "out of memory");
        } else {
            o->s = s;
            struct doc_xml x = {.sink = s,
                                .part = "content.xml",
                                .user = o,
                                .start = od_start,
                                .end = od_end,
                                .text = od_text};
            doc_xml_parse(&x, xml, n);
            free(o);
        }
    }
    free(xml);
    if (!s->err)
        doc_dc_title(s, za, "meta.xml");
    zip_discard(za);
    return s->err;
}
