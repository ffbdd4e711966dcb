/* HTML: libxml2's forgiving HTML parser in streaming (SAX) mode, so that a
 * page never becomes a tree and nesting is checked as it opens.
 *
 * Kept: h1-h6 as headings, p/div/section… as paragraphs, li/dt/dd as list
 * items (nesting depth of ul/ol/dl), tr as table rows (cells joined by " | ";
 * a table inside a cell is flattened into that cell), pre with its line
 * breaks, <title> as the title. Dropped with their whole content: script,
 * style, noscript, template, nav, svg, math, iframe, object, forms' select
 * and button, elements marked hidden, aria-hidden or with a navigation role,
 * breadcrumbs, and header/footer outside article/main/section (the site's
 * banner and footer, not an article's).
 *
 * Character set: a byte-order mark, else <meta charset> or <meta
 * http-equiv=Content-Type> or the XML declaration in the first 4 KiB, else
 * UTF-8 when the bytes are valid UTF-8, else windows-1252 (what browsers do
 * for French pages). The page is converted to UTF-8 before parsing and the
 * parser is told to ignore the declarations. */
#include "doc/doc_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>

#include "core/banned.h"

enum hkind {
    H_INLINE,
    H_BLOCK,
    H_SECTION, /* article, main, section: a block that owns its header/footer */
    H_HEADFOOT,
    H_SKIP,
    H_HEAD,
    H_TITLE,
    H_HEADING,
    H_LIST,
    H_ITEM,
    H_TABLE,
    H_ROW,
    H_CELL,
    H_CAPTION,
    H_BR,
    H_PRE,
};

struct tag {
    const char *name;
    enum hkind kind;
};

/* Sorted by name (bsearch). */
static const struct tag tags[] = {
    {"address", H_BLOCK},    {"article", H_SECTION}, {"aside", H_BLOCK},     {"audio", H_SKIP},
    {"blockquote", H_BLOCK}, {"body", H_BLOCK},      {"br", H_BR},           {"button", H_SKIP},
    {"canvas", H_SKIP},      {"caption", H_CAPTION}, {"center", H_BLOCK},    {"dd", H_ITEM},
    {"details", H_BLOCK},    {"dialog", H_BLOCK},    {"dir", H_LIST},        {"div", H_BLOCK},
    {"dl", H_LIST},          {"dt", H_ITEM},         {"embed", H_SKIP},      {"fieldset", H_BLOCK},
    {"figcaption", H_BLOCK}, {"figure", H_BLOCK},    {"footer", H_HEADFOOT}, {"form", H_BLOCK},
    {"frameset", H_SKIP},    {"h1", H_HEADING},      {"h2", H_HEADING},      {"h3", H_HEADING},
    {"h4", H_HEADING},       {"h5", H_HEADING},      {"h6", H_HEADING},      {"head", H_HEAD},
    {"header", H_HEADFOOT},  {"hgroup", H_BLOCK},    {"hr", H_BLOCK},        {"html", H_BLOCK},
    {"iframe", H_SKIP},      {"legend", H_BLOCK},    {"li", H_ITEM},         {"main", H_SECTION},
    {"map", H_SKIP},         {"math", H_SKIP},       {"menu", H_LIST},       {"nav", H_SKIP},
    {"noembed", H_SKIP},     {"noframes", H_SKIP},   {"noscript", H_SKIP},   {"object", H_SKIP},
    {"ol", H_LIST},          {"option", H_SKIP},     {"p", H_BLOCK},         {"pre", H_PRE},
    {"script", H_SKIP},      {"section", H_SECTION}, {"select", H_SKIP},     {"style", H_SKIP},
    {"summary", H_BLOCK},    {"svg", H_SKIP},        {"table", H_TABLE},     {"tbody", H_INLINE},
    {"td", H_CELL},          {"template", H_SKIP},   {"textarea", H_SKIP},   {"tfoot", H_INLINE},
    {"th", H_CELL},          {"thead", H_INLINE},    {"title", H_TITLE},     {"tr", H_ROW},
    {"ul", H_LIST},          {"video", H_SKIP},      {"xmp", H_PRE},
};

static int tag_cmp(const void *key, const void *elem)
{
    return strcmp(key, *(const char *const *)elem);
}

static enum hkind classify(const char *name)
{
    const void *t = bsearch(name, tags, sizeof tags / sizeof *tags, sizeof *tags, tag_cmp);
    return t ? ((const struct tag *)t)->kind : H_INLINE;
}

struct html {
    struct doc_sink *s;
    htmlParserCtxtPtr ctxt;
    unsigned depth;
    unsigned skip_at, head_at, title_at, heading_at, caption_at;
    unsigned heading; /* level of the open heading */
    unsigned lists, items, tables, sections, pres;
    unsigned row, cell;
    struct buf title;
};

static bool attr_is(const xmlChar **atts, const char *name, const char *const *values)
{
    for (; atts && atts[0]; atts += 2) {
        if (strcasecmp((const char *)atts[0], name))
            continue;
        if (!values)
            return true;
        const char *v = atts[1] ? (const char *)atts[1] : "";
        for (const char *const *x = values; *x; x++)
            if (!strcasecmp(v, *x))
                return true;
    }
    return false;
}

/* A space-separated token of attribute name ends with suffix
 * ("fr-breadcrumb" and "breadcrumb" for "breadcrumb"). */
static bool attr_token(const xmlChar **atts, const char *name, const char *suffix)
{
    size_t k = strlen(suffix);
    for (; atts && atts[0]; atts += 2) {
        if (strcasecmp((const char *)atts[0], name) || !atts[1])
            continue;
        for (const char *p = (const char *)atts[1]; *p;) {
            size_t n = strcspn(p, " \t\n\r\f");
            if (n >= k && !strncasecmp(p + n - k, suffix, k))
                return true;
            p += n;
            p += strspn(p, " \t\n\r\f");
        }
    }
    return false;
}

/* Hidden or navigational, whatever the tag. */
static bool hidden(const xmlChar **atts)
{
    static const char *const yes[] = {"true", NULL};
    static const char *const roles[] = {"navigation", "banner",  "contentinfo", "search",
                                        "menu",       "menubar", "toolbar",     NULL};
    return attr_is(atts, "hidden", NULL) || attr_is(atts, "aria-hidden", yes) ||
           attr_is(atts, "role", roles) || attr_token(atts, "class", "breadcrumb") ||
           attr_token(atts, "class", "breadcrumbs") || attr_token(atts, "id", "breadcrumb");
}

/* The text gathered so far ends here (outside tables and headings). */
static void flush(struct html *h)
{
    if (h->tables || h->heading)
        return;
    if (h->items)
        sink_emit(h->s, DOC_LIST_ITEM, h->lists ? h->lists : 1);
    else
        sink_emit(h->s, DOC_PARAGRAPH, 0);
}

/* A block starts or ends: a boundary between paragraphs, or a word boundary
 * where the text belongs to a larger unit (a cell, a heading, a list item). */
static void boundary(struct html *h)
{
    if (h->tables || h->heading || h->items)
        sink_space(h->s);
    else
        flush(h);
}

static void h_start(void *ctx, const xmlChar *xname, const xmlChar **atts)
{
    struct html *h = ctx;
    struct doc_sink *s = h->s;
    if (s->err)
        return;
    if (++h->depth > s->lim.max_xml_depth) {
        sink_fail(s, LAIR_ELIMIT,
                  "the HTML nests elements deeper than %u levels "
                  "(max_xml_depth)",
                  s->lim.max_xml_depth);
        xmlStopParser(h->ctxt);
        return;
    }
    if (h->skip_at)
        return;
    const char *name = (const char *)xname;
    enum hkind k = classify(name);
    if (h->head_at) {
        if (k == H_TITLE && !h->title_at)
            h->title_at = h->depth;
        return;
    }
    if (k == H_HEAD) {
        h->head_at = h->depth;
        return;
    }
    /* html and body are never dropped, whatever their attributes say. */
    bool root = !strcmp(name, "html") || !strcmp(name, "body");
    if (k == H_SKIP || (k == H_HEADFOOT && !h->sections) || (!root && hidden(atts))) {
        h->skip_at = h->depth;
        return;
    }
    switch (k) {
    case H_TITLE: /* a <title> outside <head> (svg is skipped): ignored */
    case H_INLINE: break;
    case H_SECTION: h->sections++; /* fall through */
    case H_HEADFOOT:
    case H_BLOCK: boundary(h); break;
    case H_HEADING:
        if (h->tables || h->heading) {
            sink_space(s);
        } else {
            flush(h);
            h->heading = (unsigned)(name[1] - '0');
            h->heading_at = h->depth;
            s->pre = false; /* a heading is one line, even inside <pre> */
        }
        break;
    case H_LIST:
        if (h->tables)
            sink_space(s);
        else
            flush(h), h->lists++;
        break;
    case H_ITEM:
        if (h->tables)
            sink_space(s);
        else
            flush(h), h->items++;
        break;
    case H_TABLE:
        if (!h->tables) {
            flush(h);
            h->row = 0;
        } else {
            sink_space(s);
        }
        h->tables++;
        break;
    case H_ROW:
        if (h->tables == 1) {
            sink_emit(s, DOC_PARAGRAPH, 0); /* stray text between rows */
            h->row++;
            h->cell = 0;
        } else {
            sink_space(s);
        }
        break;
    case H_CELL:
        if (h->tables == 1 && h->cell++)
            sink_cell(s);
        else
            sink_space(s);
        break;
    case H_CAPTION:
        if (h->tables == 1 && !h->caption_at) {
            sink_emit(s, DOC_PARAGRAPH, 0);
            h->caption_at = h->depth;
        }
        break;
    case H_BR: sink_newline(s); break;
    case H_PRE:
        boundary(h);
        h->pres++;
        s->pre = !h->heading;
        break;
    case H_SKIP:
    case H_HEAD: break;
    }
}

static void h_end(void *ctx, const xmlChar *xname)
{
    struct html *h = ctx;
    struct doc_sink *s = h->s;
    if (s->err || !h->depth)
        return;
    unsigned d = h->depth--;
    if (h->skip_at) {
        if (d == h->skip_at)
            h->skip_at = 0;
        return;
    }
    if (h->head_at) {
        if (d == h->title_at)
            h->title_at = 0;
        if (d == h->head_at)
            h->head_at = 0;
        return;
    }
    const char *name = (const char *)xname;
    switch (classify(name)) {
    case H_TITLE:
    case H_INLINE:
    case H_BR:
    case H_SKIP:
    case H_HEAD: break;
    case H_SECTION:
        if (h->sections)
            h->sections--;
        /* fall through */
    case H_HEADFOOT:
    case H_BLOCK: boundary(h); break;
    case H_HEADING:
        if (d == h->heading_at) {
            sink_emit(s, DOC_HEADING, h->heading);
            h->heading = h->heading_at = 0;
            s->pre = h->pres > 0;
        } else {
            sink_space(s);
        }
        break;
    case H_LIST:
        if (!h->tables) {
            flush(h);
            if (h->lists)
                h->lists--;
        }
        break;
    case H_ITEM:
        if (!h->tables) {
            flush(h);
            if (h->items)
                h->items--;
        }
        break;
    case H_TABLE:
        if (h->tables == 1)
            sink_emit(s, DOC_PARAGRAPH, 0);
        if (h->tables)
            h->tables--;
        break;
    case H_ROW:
        if (h->tables == 1)
            sink_emit(s, DOC_TABLE_ROW, h->row);
        break;
    case H_CELL: sink_space(s); break;
    case H_CAPTION:
        if (d == h->caption_at) {
            sink_emit(s, DOC_PARAGRAPH, 0);
            h->caption_at = 0;
        }
        break;
    case H_PRE:
        if (h->pres)
            h->pres--;
        s->pre = h->pres > 0 && !h->heading;
        boundary(h);
        break;
    }
}

static void h_text(void *ctx, const xmlChar *p, int n)
{
    struct html *h = ctx;
    if (h->s->err || n <= 0 || h->skip_at)
        return;
    if (h->head_at) {
        if (h->title_at && buf_append(&h->title, p, (size_t)n) == LAIR_ENOMEM)
            sink_fail(h->s, LAIR_ENOMEM, "out of memory");
        return;
    }
    sink_text(h->s, (const char *)p, (size_t)n);
    if (h->s->err)
        xmlStopParser(h->ctxt);
}

/* The charset a page declares in its first bytes, into out ("" when none). */
static void declared_charset(const char *p, size_t n, char *out, size_t outlen)
{
    size_t lim = n < 4096 ? n : 4096;
    out[0] = 0;
    const char *key = NULL;
    if (lim >= 5 && !memcmp(p, "<?xml", 5)) {
        const char *e = memmem(p, lim, "?>", 2);
        const char *k = memmem(p, e ? (size_t)(e - p) : lim, "encoding", 8);
        if (k)
            key = k + 8;
    }
    for (size_t i = 0; !key && i + 5 <= lim; i++) {
        if (strncasecmp(p + i, "<meta", 5))
            continue;
        const char *e = memchr(p + i, '>', lim - i);
        size_t tl = e ? (size_t)(e - (p + i)) : lim - i;
        for (size_t j = 5; j + 7 <= tl; j++)
            if (!strncasecmp(p + i + j, "charset", 7)) {
                key = p + i + j + 7;
                break;
            }
    }
    if (!key)
        return;
    const char *end = p + lim;
    while (key < end && (*key == ' ' || *key == '\t'))
        key++;
    if (key >= end || *key != '=')
        return;
    key++;
    while (key < end && (*key == ' ' || *key == '\t' || *key == '"' || *key == '\''))
        key++;
    size_t k = 0;
    while (key + k < end && k + 1 < outlen &&
           strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-", key[k]) &&
           key[k])
        k++;
    memcpy(out, key, k);
    out[k] = 0;
}

enum lair_err doc_html_extract(struct doc_sink *s, const char *data, size_t len)
{
    char label[48];
    declared_charset(data, len, label, sizeof label);
    const char *text, *used;
    size_t n;
    char *owned;
    if (doc_to_utf8(s, data, len, label[0] ? label : NULL, &text, &n, &owned, &used))
        return s->err;
    doc_xml_init();
    struct html h = {.s = s};
    buf_init(&h.title, 64 << 10);
    htmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.startElement = h_start;
    sax.endElement = h_end;
    sax.characters = h_text;
    sax.ignorableWhitespace = h_text;
    sax.cdataBlock = NULL; /* script and style bodies: never wanted */
    doc_xml_alloc_reset();
    h.ctxt = htmlCreatePushParserCtxt(&sax, &h, NULL, 0, NULL, XML_CHAR_ENCODING_UTF8);
    if (!h.ctxt) {
        free(owned);
        buf_release(&h.title);
        return sink_fail(s, LAIR_ENOMEM, "out of memory");
    }
    htmlCtxtUseOptions(h.ctxt, HTML_PARSE_RECOVER | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                                   HTML_PARSE_NONET | HTML_PARSE_IGNORE_ENC);
    const size_t step = 256 << 10;
    for (size_t off = 0; off < n && !s->err;) {
        size_t k = n - off < step ? n - off : step;
        htmlParseChunk(h.ctxt, text + off, (int)k, 0);
        off += k;
    }
    if (!s->err)
        htmlParseChunk(h.ctxt, NULL, 0, 1);
    /* libxml2 goes on after an allocation failure: the text may miss parts */
    if (!s->err && (h.ctxt->errNo == XML_ERR_NO_MEMORY || doc_xml_alloc_failed()))
        sink_fail(s, LAIR_ENOMEM, "out of memory");
    /* What an unclosed last element left. */
    if (h.heading)
        sink_emit(s, DOC_HEADING, h.heading);
    else
        sink_emit(s, h.items ? DOC_LIST_ITEM : DOC_PARAGRAPH, h.lists ? h.lists : 1);
    if (h.title.len)
        sink_title(s, h.title.ptr, h.title.len);
    if (h.ctxt->myDoc)
        xmlFreeDoc(h.ctxt->myDoc);
    htmlFreeParserCtxt(h.ctxt);
    buf_release(&h.title);
    free(owned);
    return s->err;
}
