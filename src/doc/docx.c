/* DOCX (Office Open XML, transitional and strict): word/document.xml read as
 * a stream, with word/styles.xml to know which paragraph styles are headings.
 *
 * A paragraph is a heading when its outline level says so, directly or
 * through its style and the styles it is based on, or when its style is one of
 * Word's built-in "heading N" (whatever the language: French Word names the
 * style "Titre1" but keeps the built-in name "heading 1"). It is a list item
 * when it has a numbering (directly or through its style), its level the
 * numbering level + 1. Table rows become one block each, cells joined by
 * " | "; nested tables are flattened into their cell. A paragraph in the
 * "Title" style gives the title (else docProps/core.xml's dc:title does) and
 * stays a paragraph. Table-of-contents paragraphs ("toc N" styles) are
 * dropped: they repeat the headings. So are deleted and moved-away text
 * (tracked changes), field codes, and the fallback copy of text boxes that
 * mc:AlternateContent carries. Headers, footers, footnotes and comments live
 * in other parts and are not read. DOCX has no page numbers to offer (page
 * breaks are computed by the word processor), so page is 0. */
#include "doc/doc_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/banned.h"

#define NS_W "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
#define NS_W_STRICT "http://purl.oclc.org/ooxml/wordprocessingml/main"
#define NS_MC "http://schemas.openxmlformats.org/markup-compatibility/2006"

#define ID_MAX 64
#define STYLES_MAX 20000
#define PARA_NEST 4

enum { ROLE_NONE = 0, ROLE_TITLE = -1, ROLE_TOC = -2 };

struct dstyle {
    char id[ID_MAX], based[ID_MAX];
    int role;    /* 1..9: heading level; ROLE_TITLE, ROLE_TOC, or ROLE_NONE */
    int outline; /* w:outlineLvl, -1 when absent */
    int numid;   /* w:numId, -1 when absent */
};

struct styles {
    struct dstyle *v;
    size_t n, cap;
    struct dstyle *cur; /* being read */
    unsigned ppr;       /* inside the current style's w:pPr */
};

static bool is_w(const char *uri)
{
    return uri && (!strcmp(uri, NS_W) || !strcmp(uri, NS_W_STRICT));
}

static void copy_id(char *dst, struct str v)
{
    size_t k = v.len < ID_MAX - 1 ? v.len : ID_MAX - 1;
    if (v.ptr)
        memcpy(dst, v.ptr, k);
    else
        k = 0;
    dst[k] = 0;
}

static int str_int(struct str v, int dflt)
{
    if (!v.ptr || !v.len || v.len > 9)
        return dflt;
    int n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return dflt;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n;
}

/* "heading 3" → 3, "title" → ROLE_TITLE, "toc 2" → ROLE_TOC. */
static int role_of_name(struct str name)
{
    if (name.len == 9 && !strncasecmp(name.ptr, "heading ", 8) && name.ptr[8] >= '1' &&
        name.ptr[8] <= '9')
        return name.ptr[8] - '0';
    if (name.len == 5 && !strncasecmp(name.ptr, "title", 5))
        return ROLE_TITLE;
    if (name.len >= 5 && !strncasecmp(name.ptr, "toc ", 4))
        return ROLE_TOC;
    return ROLE_NONE;
}

/* Style ids of the built-in styles when styles.xml does not name them. */
static int role_of_id(const char *id)
{
    static const char *const heads[] = {"Heading", "Titre", "berschrift", NULL};
    for (const char *const *h = heads; *h; h++) {
        size_t k = strlen(*h);
        if (!strncmp(id, *h, k) && id[k] >= '1' && id[k] <= '9' && !id[k + 1])
            return id[k] - '0';
    }
    if (!strcmp(id, "Title") || !strcmp(id, "Titre"))
        return ROLE_TITLE;
    if (!strncasecmp(id, "TOC", 3) || !strncasecmp(id, "TM", 2))
        return id[strlen(id) - 1] >= '1' && id[strlen(id) - 1] <= '9' ? ROLE_TOC : ROLE_NONE;
    return ROLE_NONE;
}

struct st_ctx {
    struct doc_sink *s;
    struct styles *st;
};

static void sty_start(void *u, const char *local, const char *uri, int nattr, const xmlChar **attrs)
{
    struct st_ctx *c = u;
    struct styles *st = c->st;
    if (!is_w(uri))
        return;
    if (!strcmp(local, "style")) {
        if (st->n == st->cap) {
            if (st->cap >= STYLES_MAX) {
                st->cur = NULL;
                return;
            }
            size_t cap = st->cap ? st->cap * 2 : 64;
            struct dstyle *v = realloc(st->v, cap * sizeof *v);
            if (!v) {
                sink_fail(c->s, LAIR_ENOMEM, "out of memory");
                return;
            }
            st->v = v;
            st->cap = cap;
        }
        st->cur = &st->v[st->n++];
        memset(st->cur, 0, sizeof *st->cur);
        st->cur->outline = st->cur->numid = -1;
        copy_id(st->cur->id, doc_xml_attr(nattr, attrs, "styleId", NULL));
        st->ppr = 0;
        return;
    }
    if (!st->cur)
        return;
    if (!strcmp(local, "name"))
        st->cur->role = role_of_name(doc_xml_attr(nattr, attrs, "val", NULL));
    else if (!strcmp(local, "basedOn"))
        copy_id(st->cur->based, doc_xml_attr(nattr, attrs, "val", NULL));
    else if (!strcmp(local, "pPr"))
        st->ppr++;
    else if (st->ppr && !strcmp(local, "outlineLvl"))
        st->cur->outline = str_int(doc_xml_attr(nattr, attrs, "val", NULL), -1);
    else if (st->ppr && !strcmp(local, "numId"))
        st->cur->numid = str_int(doc_xml_attr(nattr, attrs, "val", NULL), -1);
}

static void sty_end(void *u, const char *local, const char *uri)
{
    struct st_ctx *c = u;
    if (!is_w(uri))
        return;
    if (!strcmp(local, "style"))
        c->st->cur = NULL;
    else if (!strcmp(local, "pPr") && c->st->ppr)
        c->st->ppr--;
}

static int style_cmp(const void *a, const void *b)
{
    return strcmp(((const struct dstyle *)a)->id, ((const struct dstyle *)b)->id);
}

/* Sorted by id once read, so that a lookup per paragraph stays cheap even
 * with thousands of styles. */
static void styles_sort(struct styles *st)
{
    if (st->n)
        qsort(st->v, st->n, sizeof *st->v, style_cmp);
}

static const struct dstyle *style_find(const struct styles *st, const char *id)
{
    struct dstyle key;
    size_t k = strlen(id);
    if (!st->n || k >= ID_MAX)
        return NULL;
    memcpy(key.id, id, k + 1);
    return bsearch(&key, st->v, st->n, sizeof *st->v, style_cmp);
}

/* The role, outline level and numbering a style gives, following basedOn. */
static void style_resolve(const struct styles *st, const char *id, int *role, int *outline,
                          int *numid)
{
    *role = ROLE_NONE;
    *outline = *numid = -1;
    bool role_set = false;
    for (int hop = 0; id && *id && hop < 16; hop++) {
        const struct dstyle *d = style_find(st, id);
        if (!d) {
            if (!role_set)
                *role = role_of_id(id), role_set = *role != ROLE_NONE;
            break;
        }
        if (!role_set && d->role != ROLE_NONE)
            *role = d->role, role_set = true;
        if (*outline < 0)
            *outline = d->outline;
        if (*numid < 0)
            *numid = d->numid;
        id = d->based;
    }
}

/* ---- word/document.xml --------------------------------------------------------------- */

struct para {
    char style[ID_MAX];
    int outline, ilvl, numid;
};

struct docx {
    struct doc_sink *s;
    const struct styles *st;
    struct para stack[PARA_NEST];
    int np;       /* open paragraphs (text boxes nest them); may exceed PARA_NEST */
    unsigned ppr; /* inside a paragraph's w:pPr */
    unsigned depth, skip_at;
    unsigned tbl, row, cell;
    bool in_t;
};

static struct para *top(struct docx *d)
{
    return d->np > 0 && d->np <= PARA_NEST ? &d->stack[d->np - 1] : NULL;
}

/* Emits the text gathered for paragraph p (outside tables). */
static void para_emit(struct docx *d, const struct para *p)
{
    struct doc_sink *s = d->s;
    int role, outline, numid;
    style_resolve(d->st, p ? p->style : "", &role, &outline, &numid);
    if (p && p->outline >= 0)
        outline = p->outline;
    if (p && p->numid >= 0)
        numid = p->numid;
    if (role == ROLE_TOC) {
        sink_discard(s);
        return;
    }
    if (role == ROLE_TITLE) {
        if (!sink_empty(s))
            sink_title(s, s->text.ptr, s->text.len);
        sink_emit(s, DOC_PARAGRAPH, 0);
        return;
    }
    int level = outline >= 0 && outline < 9 ? outline + 1 : role > 0 ? role : 0;
    if (level)
        sink_emit(s, DOC_HEADING, (unsigned)level);
    else if (numid > 0)
        sink_emit(s, DOC_LIST_ITEM, (unsigned)((p && p->ilvl > 0 ? p->ilvl : 0) + 1));
    else
        sink_emit(s, DOC_PARAGRAPH, 0);
}

static bool skipped(const char *local, const char *uri)
{
    static const char *const w[] = {"moveFrom", "pPrChange", "rPrChange",   "delText", "instrText",
                                    "fldData",  "sectPr",    "tblPrChange", NULL};
    if (uri && !strcmp(uri, NS_MC))
        return !strcmp(local, "Fallback");
    if (!is_w(uri))
        return false;
    for (const char *const *x = w; *x; x++)
        if (!strcmp(local, *x))
            return true;
    return false;
}

static void dx_start(void *u, const char *local, const char *uri, int nattr, const xmlChar **attrs)
{
    struct docx *d = u;
    struct doc_sink *s = d->s;
    d->depth++;
    if (d->skip_at)
        return;
    if (skipped(local, uri)) {
        d->skip_at = d->depth;
        return;
    }
    if (!is_w(uri))
        return;
    struct para *p = top(d);
    if (!strcmp(local, "p")) {
        if (p && !d->tbl)
            para_emit(d, p); /* a text box inside a paragraph: what came before is done */
        d->np++;
        if ((p = top(d))) {
            memset(p, 0, sizeof *p);
            p->outline = p->numid = -1;
        }
    } else if (!strcmp(local, "pPr")) {
        d->ppr++;
    } else if (d->ppr) {
        if (!p)
            return;
        if (!strcmp(local, "pStyle"))
            copy_id(p->style, doc_xml_attr(nattr, attrs, "val", NULL));
        else if (!strcmp(local, "outlineLvl"))
            p->outline = str_int(doc_xml_attr(nattr, attrs, "val", NULL), -1);
        else if (!strcmp(local, "ilvl"))
            p->ilvl = str_int(doc_xml_attr(nattr, attrs, "val", NULL), 0);
        else if (!strcmp(local, "numId"))
            p->numid = str_int(doc_xml_attr(nattr, attrs, "val", NULL), -1);
    } else if (!strcmp(local, "t")) {
        d->in_t = true;
    } else if (!strcmp(local, "tab") || !strcmp(local, "br") || !strcmp(local, "cr")) {
        sink_space(s);
    } else if (!strcmp(local, "noBreakHyphen")) {
        sink_text(s, "-", 1);
    } else if (!strcmp(local, "tbl")) {
        if (!d->tbl++) {
            if (p)
                para_emit(d, p);
            d->row = 0;
        } else {
            sink_space(s);
        }
    } else if (!strcmp(local, "tr") && d->tbl == 1) {
        sink_discard(s);
        d->row++;
        d->cell = 0;
    } else if (!strcmp(local, "tc") && d->tbl == 1) {
        if (d->cell++)
            sink_cell(s);
    }
}

static void dx_end(void *u, const char *local, const char *uri)
{
    struct docx *d = u;
    struct doc_sink *s = d->s;
    unsigned depth = d->depth--;
    if (d->skip_at) {
        if (depth == d->skip_at)
            d->skip_at = 0;
        return;
    }
    if (!is_w(uri))
        return;
    if (!strcmp(local, "p")) {
        if (d->tbl)
            sink_space(s);
        else
            para_emit(d, top(d));
        if (d->np)
            d->np--;
    } else if (!strcmp(local, "pPr")) {
        if (d->ppr)
            d->ppr--;
    } else if (!strcmp(local, "t")) {
        d->in_t = false;
    } else if (!strcmp(local, "tbl")) {
        if (d->tbl)
            d->tbl--;
    } else if (!strcmp(local, "tr") && d->tbl == 1) {
        sink_emit(s, DOC_TABLE_ROW, d->row);
    } else if (!strcmp(local, "tc") && d->tbl > 1) {
        sink_space(s);
    }
}

static void dx_text(void *u, const char *p, size_t n)
{
    struct docx *d = u;
    if (d->in_t && !d->skip_at)
        sink_text(d->s, p, n);
}

enum lair_err doc_docx_extract(struct doc_sink *s, const char *data, size_t len)
{
    zip_t *za;
    if (doc_zip_open(s, data, len, &za))
        return s->err;
    struct styles st = {0};
    char *xml = NULL;
    size_t n;
    enum lair_err e = doc_zip_read(s, za, "word/styles.xml", &xml, &n);
    if (!e) {
        struct st_ctx c = {s, &st};
        struct doc_xml x = {
            .sink = s, .part = "word/styles.xml", .user = &c, .start = sty_start, .end = sty_end};
        doc_xml_parse(&x, xml, n);
        free(xml);
        xml = NULL;
        styles_sort(&st);
    }
    if (!s->err) {
        e = doc_zip_read(s, za, "word/document.xml", &xml, &n);
        if (e == LAIR_ENOTFOUND)
            sink_fail(s, LAIR_EINVAL, "broken DOCX document: word/document.xml is missing");
    }
    if (!s->err) {
        struct docx d = {.s = s, .st = &st};
        struct doc_xml x = {.sink = s,
                            .part = "word/document.xml",
                            .user = &d,
                            .start = dx_start,
                            .end = dx_end,
                            .text = dx_text};
        doc_xml_parse(&x, xml, n);
    }
    free(xml);
    if (!s->err)
        doc_dc_title(s, za, "docProps/core.xml");
    free(st.v);
    zip_discard(za);
    return s->err;
}
