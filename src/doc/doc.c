/* Format detection, dispatch to the extractors, and what they share: the
 * block sink (whitespace, limits, heading paths), character-set conversion,
 * safe zip reading and safe streaming XML parsing. */
#include "doc/doc_int.h"

#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libxml/parserInternals.h>

#include "core/banned.h"

/* A heading longer than this is cut in heading paths (not in its own block):
 * a whole paragraph styled as a heading must not make every path huge. */
#define PATH_PART_MAX 160

/* ---- limits and names ---------------------------------------------------------------- */

struct doc_limits doc_limits_default(void)
{
    return (struct doc_limits){
        .max_file_bytes = (size_t)64 << 20,
        .max_unzipped_bytes = (size_t)128 << 20,
        .max_zip_entries = 10000,
        .max_text_bytes = (size_t)32 << 20,
        .max_blocks = 500000,
        .max_pages = 2000,
        .max_xml_depth = 256,
        .max_pdf_memory = (size_t)512 << 20,
    };
}

static struct doc_limits limits_resolve(const struct doc_limits *lim)
{
    struct doc_limits d = doc_limits_default();
    if (!lim)
        return d;
    struct doc_limits r = *lim;
#define DEF(f)                                                                                     \
    if (!r.f)                                                                                      \
    r.f = d.f
    DEF(max_file_bytes);
    DEF(max_unzipped_bytes);
    DEF(max_zip_entries);
    DEF(max_text_bytes);
    DEF(max_blocks);
    DEF(max_pages);
    DEF(max_xml_depth);
    DEF(max_pdf_memory);
#undef DEF
    return r;
}

const char *doc_format_name(enum doc_format f)
{
    switch (f) {
    case DOC_FORMAT_TEXT: return "text";
    case DOC_FORMAT_MARKDOWN: return "markdown";
    case DOC_FORMAT_HTML: return "html";
    case DOC_FORMAT_PDF: return "pdf";
    case DOC_FORMAT_DOCX: return "docx";
    case DOC_FORMAT_ODT: return "odt";
    case DOC_FORMAT_UNKNOWN: break;
    }
    return "unknown";
}

const char *doc_block_kind_name(enum doc_block_kind k)
{
    switch (k) {
    case DOC_HEADING: return "heading";
    case DOC_PARAGRAPH: return "paragraph";
    case DOC_LIST_ITEM: return "list_item";
    case DOC_TABLE_ROW: return "table_row";
    }
    return "?";
}

static const char *format_what(enum doc_format f)
{
    switch (f) {
    case DOC_FORMAT_TEXT: return "text file";
    case DOC_FORMAT_MARKDOWN: return "Markdown file";
    case DOC_FORMAT_HTML: return "HTML page";
    case DOC_FORMAT_PDF: return "PDF";
    case DOC_FORMAT_DOCX: return "DOCX document";
    case DOC_FORMAT_ODT: return "ODT document";
    case DOC_FORMAT_UNKNOWN: break;
    }
    return "file";
}

const char *doc_size_str(size_t n, char *out, size_t outlen)
{
    static const char *const unit[] = {"bytes", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4)
        v /= 1024, u++;
    if (u == 0)
        snprintf(out, outlen, "%zu bytes", n);
    else if (v == (double)(uint64_t)v)
        snprintf(out, outlen, "%.0f %s", v, unit[u]);
    else
        snprintf(out, outlen, "%.1f %s", v, unit[u]);
    return out;
}

/* ---- the sink ------------------------------------------------------------------------ */

enum lair_err sink_fail(struct doc_sink *s, enum lair_err e, const char *fmt, ...)
{
    if (s->err)
        return s->err;
    s->err = e;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->msg, sizeof s->msg, fmt, ap);
    va_end(ap);
    return e;
}

static void fail_text_limit(struct doc_sink *s)
{
    char a[32];
    sink_fail(s, LAIR_ELIMIT, "the extracted text exceeds %s (max_text_bytes)",
              doc_size_str(s->lim.max_text_bytes, a, sizeof a));
}

static void put(struct doc_sink *s, const char *p, size_t n)
{
    if (s->err)
        return;
    bool sep = s->space && s->text.len && s->text.ptr[s->text.len - 1] != ' ' &&
               s->text.ptr[s->text.len - 1] != '\n';
    s->space = false;
    if (s->doc->text_bytes + s->text.len + n + sep > s->lim.max_text_bytes) {
        fail_text_limit(s);
        return;
    }
    enum lair_err e = (sep ? buf_append(&s->text, " ", 1) : LAIR_OK);
    if (!e)
        e = buf_append(&s->text, p, n);
    if (e == LAIR_ETOOBIG)
        fail_text_limit(s);
    else if (e)
        sink_fail(s, e, "out of memory");
}

/* Length of the well-formed UTF-8 sequence at p (n bytes available) and its
 * code point; 0 when the bytes are not one. */
static size_t utf8_decode(const unsigned char *p, size_t n, uint32_t *cp)
{
    unsigned char c = p[0];
    size_t k;
    uint32_t v, min;
    if (c < 0x80) {
        *cp = c;
        return 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
        k = 2, v = c & 0x1F, min = 0x80;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3, v = c & 0x0F, min = 0x800;
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    for (size_t i = 1; i < k; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (p[i] & 0x3F);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    *cp = v;
    return k;
}

static bool is_ascii_space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

void sink_text(struct doc_sink *s, const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n && !s->err) {
        /* A run of printable ASCII goes in at once: most text is that. */
        size_t j = i;
        while (j < n && u[j] > 0x20 && u[j] < 0x7F)
            j++;
        if (j > i) {
            put(s, p + i, j - i);
            i = j;
            continue;
        }
        unsigned char c = u[i];
        if (c < 0x80) {
            if (c == '\n' && s->pre) {
                s->space = false;
                if (s->text.len)
                    put(s, "\n", 1);
            } else if ((c == ' ' || c == '\t') && s->pre) {
                s->space = false;
                if (s->text.len)
                    put(s, p + i, 1); /* indentation is part of preformatted text */
            } else if (is_ascii_space(c)) {
                s->space = true;
            } /* other C0 controls and DEL are dropped */
            i++;
            continue;
        }
        uint32_t cp;
        size_t k = utf8_decode(u + i, n - i, &cp);
        if (!k) {
            put(s, "\xEF\xBF\xBD", 3); /* U+FFFD: the sink only ever holds valid UTF-8 */
            i++;
            continue;
        }
        if (cp == 0x85 || cp == 0x2028 || cp == 0x2029)
            s->space = true;
        else if ((cp >= 0x80 && cp <= 0x9F) || cp == 0xAD || cp == 0x200B || cp == 0x2060 ||
                 cp == 0xFEFF)
            ; /* C1 controls, soft hyphen, zero-width spaces (not the joiners scripts need) */
        else
            put(s, p + i, k);
        i += k;
    }
}

void sink_space(struct doc_sink *s)
{
    s->space = true;
}

void sink_newline(struct doc_sink *s)
{
    if (s->pre && !s->err) {
        s->space = false;
        if (s->text.len)
            put(s, "\n", 1);
    } else {
        s->space = true;
    }
}

void sink_cell(struct doc_sink *s)
{
    if (s->err)
        return;
    bool ends_space = s->text.len && s->text.ptr[s->text.len - 1] == ' ';
    s->space = false;
    put(s, ends_space ? "| " : " | ", ends_space ? 2 : 3);
}

bool sink_empty(const struct doc_sink *s)
{
    for (size_t i = 0; i < s->text.len; i++)
        if (!is_ascii_space((unsigned char)s->text.ptr[i]) && s->text.ptr[i] != '|')
            return false;
    return true;
}

void sink_discard(struct doc_sink *s)
{
    buf_reset(&s->text);
    s->space = false;
}

/* ARENA: n + 1 zeroed bytes. */
static char *arena_get(struct doc_sink *s, size_t n)
{
    struct arena *ar = &s->doc->arena;
    char *c = arena_alloc(ar, n + 1);
    if (!c && ((n + 1 + 15) & ~(size_t)15) <= ar->cap - ar->used) {
        sink_fail(s, LAIR_ENOMEM, "out of memory"); /* under the cap: malloc failed */
    } else if (!c) {
        char a[32];
        sink_fail(s, LAIR_ELIMIT, "the extracted text and headings exceed %s (max_text_bytes)",
                  doc_size_str(ar->cap, a, sizeof a));
    }
    return c;
}

static char *arena_copy(struct doc_sink *s, const char *p, size_t n)
{
    char *c = arena_get(s, n);
    if (c && n)
        memcpy(c, p, n);
    return c;
}

/* Rebuilds s->path from the open headings. */
static void path_rebuild(struct doc_sink *s)
{
    size_t n = 0;
    for (int l = 1; l <= DOC_HEADING_MAX; l++)
        if (s->heads[l])
            n += strlen(s->heads[l]) + 3;
    char *p = arena_get(s, n);
    if (!p)
        return;
    size_t w = 0;
    for (int l = 1; l <= DOC_HEADING_MAX; l++) {
        if (!s->heads[l])
            continue;
        if (w) {
            memcpy(p + w, " > ", 3);
            w += 3;
        }
        size_t k = strlen(s->heads[l]);
        memcpy(p + w, s->heads[l], k);
        w += k;
    }
    p[w] = 0;
    s->path = p;
}

static void heading_push(struct doc_sink *s, unsigned level, const char *text, size_t len)
{
    const char *part;
    if (len > PATH_PART_MAX) {
        size_t k = utf8_complete_prefix(text, PATH_PART_MAX);
        char *c = arena_get(s, k + 3);
        if (!c)
            return;
        memcpy(c, text, k);
        memcpy(c + k, "\xE2\x80\xA6", 3); /* … */
        part = c;
    } else {
        part = text; /* the block's own text, already in the arena */
    }
    s->heads[level] = part;
    for (unsigned l = level + 1; l <= DOC_HEADING_MAX; l++)
        s->heads[l] = NULL;
    path_rebuild(s);
}

void sink_emit(struct doc_sink *s, enum doc_block_kind kind, unsigned level)
{
    if (s->err)
        return;
    struct str t = str_trim(buf_str(&s->text));
    if (kind == DOC_TABLE_ROW) {
        while (t.len && (t.ptr[t.len - 1] == '|' || t.ptr[t.len - 1] == ' '))
            t.len--; /* trailing empty cells */
        if (sink_empty(s))
            t.len = 0;
    }
    if (!t.len) {
        sink_discard(s);
        return;
    }
    struct doc *d = s->doc;
    if (d->nblocks == s->lim.max_blocks) {
        sink_fail(s, LAIR_ELIMIT, "the document has more than %zu blocks (max_blocks)",
                  s->lim.max_blocks);
        return;
    }
    if (d->nblocks == s->blocks_cap) {
        size_t cap = s->blocks_cap ? s->blocks_cap * 2 : 64;
        struct doc_block *b = realloc(d->blocks, cap * sizeof *b);
        if (!b) {
            sink_fail(s, LAIR_ENOMEM, "out of memory");
            return;
        }
        d->blocks = b;
        s->blocks_cap = cap;
    }
    char *text = arena_copy(s, t.ptr, t.len);
    if (!text)
        return;
    if (kind == DOC_HEADING) {
        level = level < 1 ? 1 : level > DOC_HEADING_MAX ? DOC_HEADING_MAX : level;
        heading_push(s, level, text, t.len);
        if (s->err)
            return;
    } else if (kind == DOC_PARAGRAPH) {
        level = 0;
    } else if (level < 1) {
        level = 1;
    }
    d->blocks[d->nblocks++] = (struct doc_block){
        .kind = kind,
        .level = level,
        .page = s->page,
        .text = text,
        .len = t.len,
        .heading_path = s->path,
    };
    d->text_bytes += t.len;
    sink_discard(s);
}

void sink_title(struct doc_sink *s, const char *p, size_t n)
{
    if (s->err || s->doc->title)
        return;
    /* Normalise through the block buffer, which must be empty here or be
     * saved around the call. */
    struct buf saved = s->text;
    bool space = s->space, pre = s->pre;
    buf_init(&s->text, s->lim.max_text_bytes + 16);
    s->space = s->pre = false;
    sink_text(s, p, n);
    struct str t = str_trim(buf_str(&s->text));
    if (t.len && !s->err)
        s->doc->title = arena_copy(s, t.ptr, t.len);
    buf_release(&s->text);
    s->text = saved;
    s->space = space;
    s->pre = pre;
}

/* ---- character sets ------------------------------------------------------------------ */

/* windows-1252 0x80..0x9F; the five unassigned bytes become U+FFFD. */
static const uint16_t cp1252_high[32] = {
    0x20AC, 0xFFFD, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0xFFFD, 0x017D, 0xFFFD, 0xFFFD, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0xFFFD, 0x017E, 0x0178,
};

size_t doc_utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    } else if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    } else if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static char *from_cp1252(const unsigned char *p, size_t n, size_t *outlen)
{
    char *o = malloc(n * 3 + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = p[i];
        uint32_t cp = c < 0x80 ? c : c < 0xA0 ? cp1252_high[c - 0x80] : c;
        w += doc_utf8_encode(cp, w);
    }
    *w = 0;
    *outlen = (size_t)(w - o);
    return o;
}

/* UTF-8 with each ill-formed byte replaced by U+FFFD. */
static char *utf8_repair(const unsigned char *p, size_t n, size_t *outlen)
{
    char *o = malloc(n * 3 + 1), *w = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(p + i, n - i, &cp);
        if (k) {
            memcpy(w, p + i, k);
            w += k, i += k;
        } else {
            memcpy(w, "\xEF\xBF\xBD", 3);
            w += 3, i++;
        }
    }
    *w = 0;
    *outlen = (size_t)(w - o);
    return o;
}

static char *from_iconv(iconv_t cd, const char *p, size_t n, size_t *outlen)
{
    size_t cap = n * 4 + 16;
    char *o = malloc(cap);
    if (!o)
        return NULL;
    char *in = (char *)p, *w = o;
    size_t inleft = n, outleft = cap - 1;
    while (inleft) {
        if (iconv(cd, &in, &inleft, &w, &outleft) != (size_t)-1)
            break;
        if (errno == EILSEQ && outleft >= 3) { /* skip the bad byte */
            memcpy(w, "\xEF\xBF\xBD", 3);
            w += 3, outleft -= 3;
            in++, inleft--;
        } else {
            break; /* an incomplete sequence at the end, or no room (cannot happen) */
        }
    }
    *w = 0;
    *outlen = (size_t)(w - o);
    return o;
}

static bool label_in(const char *label, const char *const *list)
{
    for (; *list; list++)
        if (!strcasecmp(label, *list))
            return true;
    return false;
}

enum lair_err doc_to_utf8(struct doc_sink *s, const char *data, size_t len, const char *charset,
                          const char **out, size_t *outlen, char **owned, const char **label_used)
{
    static const char *const utf8[] = {
        "utf-8", "utf8", "unicode-1-1-utf-8", "utf-16", "utf-16le", "utf-16be", NULL};
    static const char *const latin[] = {
        "windows-1252", "cp1252",   "x-cp1252", "iso-8859-1", "iso8859-1", "iso_8859-1", "latin1",
        "l1",           "us-ascii", "ascii",    "cp819",      "ibm819",    NULL};
    const unsigned char *u = (const unsigned char *)data;
    const char *iconv_from = NULL;
    *owned = NULL;
    *out = data;
    *outlen = len;

    if (len >= 3 && u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF) {
        data += 3, len -= 3, u += 3;
        charset = "utf-8";
    } else if (len >= 2 && ((u[0] == 0xFF && u[1] == 0xFE) || (u[0] == 0xFE && u[1] == 0xFF))) {
        iconv_from = u[0] == 0xFF ? "UTF-16LE" : "UTF-16BE";
        data += 2, len -= 2;
    }
    /* Labels go to iconv_open: only plain names, never "//TRANSLIT" and the like. */
    if (charset && (strlen(charset) > 40 || strspn(charset, "abcdefghijklmnopqrstuvwxyz"
                                                            "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                            "0123456789._:-") != strlen(charset)))
        charset = NULL;
    char *o = NULL;
    if (iconv_from || (charset && !label_in(charset, utf8) && !label_in(charset, latin))) {
        iconv_t cd = iconv_open("UTF-8", iconv_from ? iconv_from : charset);
        if (cd != (iconv_t)-1) {
            o = from_iconv(cd, data, len, outlen);
            iconv_close(cd);
            *label_used = iconv_from ? iconv_from : charset;
            goto done;
        }
        charset = NULL; /* unknown label: guess */
    }
    if (charset && label_in(charset, utf8)) {
        *label_used = "utf-8";
        if (utf8_valid(data, len)) {
            *out = data, *outlen = len;
            return LAIR_OK;
        }
        o = utf8_repair((const unsigned char *)data, len, outlen);
    } else if (!charset && utf8_valid(data, len)) {
        *label_used = "utf-8";
        *out = data, *outlen = len;
        return LAIR_OK;
    } else {
        *label_used = "windows-1252";
        o = from_cp1252((const unsigned char *)data, len, outlen);
    }
done:
    if (!o)
        return sink_fail(s, LAIR_ENOMEM, "out of memory");
    *owned = o;
    *out = o;
    return LAIR_OK;
}

/* ---- zip ----------------------------------------------------------------------------- */

/* A printable, bounded copy of an untrusted name for a message. */
static const char *safe_name(const char *name, char *out, size_t outlen)
{
    size_t w = 0;
    for (const char *p = name; *p && w + 4 < outlen; p++)
        out[w++] = ((unsigned char)*p < 0x20 || *p == 0x7F || *p == '"') ? '?' : *p;
    if (name[w] && w + 4 >= outlen)
        memcpy(out + w, "...", 3), w += 3;
    out[w] = 0;
    return out;
}

static bool unsafe_entry_name(const char *name)
{
    if (!*name || name[0] == '/' || (name[0] && name[1] == ':'))
        return true;
    for (const char *p = name; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7F || *p == '\\')
            return true;
    for (const char *p = name; *p;) {
        const char *e = strchr(p, '/');
        size_t k = e ? (size_t)(e - p) : strlen(p);
        if (k == 2 && p[0] == '.' && p[1] == '.')
            return true;
        p += k + (e ? 1 : 0);
    }
    return false;
}

enum lair_err doc_zip_open(struct doc_sink *s, const void *data, size_t len, zip_t **out)
{
    zip_error_t ze;
    zip_error_init(&ze);
    *out = NULL;
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    if (!src) {
        zip_error_fini(&ze);
        return sink_fail(s, LAIR_ENOMEM, "out of memory");
    }
    zip_t *za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!za) {
        zip_source_free(src);
        sink_fail(s, LAIR_EINVAL, "broken %s: not a readable zip archive (%s)", s->what,
                  zip_error_strerror(&ze));
        zip_error_fini(&ze);
        return s->err;
    }
    zip_error_fini(&ze);
    zip_int64_t n = zip_get_num_entries(za, 0);
    if (n < 0 || (uint64_t)n > s->lim.max_zip_entries) {
        zip_discard(za);
        return sink_fail(s, LAIR_ELIMIT,
                         "the archive has %lld entries; the limit is %zu "
                         "(max_zip_entries)",
                         (long long)n, s->lim.max_zip_entries);
    }
    for (zip_int64_t i = 0; i < n; i++) {
        const char *name = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        if (!name || unsafe_entry_name(name)) {
            char nb[96];
            sink_fail(s, LAIR_EINVAL,
                      "unsafe entry name \"%s\" in the archive: absolute "
                      "paths, \"..\" and backslashes are refused",
                      safe_name(name ? name : "", nb, sizeof nb));
            zip_discard(za); /* after: it owns name */
            return s->err;
        }
    }
    *out = za;
    return LAIR_OK;
}

static enum lair_err zip_err_code(int ze)
{
    switch (ze) {
    case ZIP_ER_NOPASSWD:
    case ZIP_ER_WRONGPASSWD:
    case ZIP_ER_ENCRNOTSUPP:
    case ZIP_ER_COMPNOTSUPP: return LAIR_EUNSUPPORTED;
    case ZIP_ER_MEMORY: return LAIR_ENOMEM;
    default: return LAIR_EINVAL;
    }
}

static enum lair_err zip_bomb(struct doc_sink *s, const char *name)
{
    char a[32];
    return sink_fail(s, LAIR_ELIMIT,
                     "%s decompresses to more than %s (max_unzipped_bytes): "
                     "refused as a possible zip bomb",
                     name, doc_size_str(s->lim.max_unzipped_bytes, a, sizeof a));
}

enum lair_err doc_zip_read(struct doc_sink *s, zip_t *za, const char *name, char **data,
                           size_t *len)
{
    *data = NULL;
    *len = 0;
    if (s->err)
        return s->err;
    zip_int64_t idx = zip_name_locate(za, name, ZIP_FL_ENC_RAW);
    if (idx < 0)
        return LAIR_ENOTFOUND;
    /* Two entries of one name would let a checker and a reader see different
     * parts: refuse. */
    zip_int64_t n = zip_get_num_entries(za, 0), seen = 0;
    for (zip_int64_t i = 0; i < n; i++) {
        const char *nm = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
        seen += nm && !strcmp(nm, name);
    }
    if (seen > 1)
        return sink_fail(s, LAIR_EINVAL, "the archive has %lld entries named %s", (long long)seen,
                         name);
    size_t room = s->lim.max_unzipped_bytes - s->unzipped;
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za, (zip_uint64_t)idx, 0, &st) == 0) {
        if ((st.valid & ZIP_STAT_SIZE) && st.size > room)
            return zip_bomb(s, name); /* as declared: refused before inflating anything */
        if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
            return sink_fail(s, LAIR_EUNSUPPORTED, "%s is password-protected", s->what);
    }
    zip_file_t *zf = zip_fopen_index(za, (zip_uint64_t)idx, 0);
    if (!zf) {
        zip_error_t *ze = zip_get_error(za);
        return sink_fail(s, zip_err_code(zip_error_code_zip(ze)), "cannot read %s in the %s: %s",
                         name, s->what, zip_error_strerror(ze));
    }
    /* The header may lie: count what actually comes out. */
    struct buf b;
    buf_init(&b, room + (64 << 10) + 1);
    char chunk[64 << 10];
    for (;;) {
        zip_int64_t got = zip_fread(zf, chunk, sizeof chunk);
        if (got < 0) {
            zip_error_t *ze = zip_file_get_error(zf);
            sink_fail(s, zip_err_code(zip_error_code_zip(ze)), "%s in the %s is corrupt: %s", name,
                      s->what, zip_error_strerror(ze));
            break;
        }
        if (got == 0)
            break;
        if (b.len + (size_t)got > room) {
            zip_bomb(s, name);
            break;
        }
        if (buf_append(&b, chunk, (size_t)got)) {
            sink_fail(s, LAIR_ENOMEM, "out of memory");
            break;
        }
    }
    zip_fclose(zf);
    if (s->err) {
        buf_release(&b);
        return s->err;
    }
    s->unzipped += b.len;
    *len = b.len;
    *data = buf_detach(&b, NULL);
    if (!*data) { /* an empty entry */
        *data = calloc(1, 1);
        if (!*data)
            return sink_fail(s, LAIR_ENOMEM, "out of memory");
    }
    return LAIR_OK;
}

/* ---- XML ----------------------------------------------------------------------------- */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;

/* libxml2 2.9 does not always report an allocation failure: a name it
 * cannot store in its dictionary is dropped (an element, a title) and the
 * parse goes on as if the document were so. Its allocations go through
 * these, which note a failure for the thread, on top of the functions that
 * were installed before (libc's). */
static xmlFreeFunc xml_free;
static xmlMallocFunc xml_malloc;
static xmlReallocFunc xml_realloc;
static xmlStrdupFunc xml_strdup;
static _Thread_local bool xml_failed;

static void *x_malloc(size_t n)
{
    void *p = xml_malloc(n);
    xml_failed |= !p;
    return p;
}

static void *x_realloc(void *q, size_t n)
{
    void *p = xml_realloc(q, n);
    xml_failed |= !p && n;
    return p;
}

static char *x_strdup(const char *str)
{
    char *p = xml_strdup(str);
    xml_failed |= !p;
    return p;
}

static void xml_setup(void)
{
    if (xmlMemGet(&xml_free, &xml_malloc, &xml_realloc, &xml_strdup) == 0)
        xmlMemSetup(xml_free, x_malloc, x_realloc, x_strdup);
    xmlInitParser();
}

/* libxml2 must be initialised once before threads use it. */
void doc_xml_init(void)
{
    pthread_once(&xml_once, xml_setup);
}

void doc_xml_alloc_reset(void)
{
    xml_failed = false;
}

bool doc_xml_alloc_failed(void)
{
    return xml_failed;
}

static void x_stop(struct doc_xml *x)
{
    if (x->ctxt)
        xmlStopParser(x->ctxt);
}

static void x_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                    int nns, const xmlChar **ns, int nattr, int ndefaulted, const xmlChar **attrs)
{
    struct doc_xml *x = ctx;
    if (x->sink->err)
        return;
    if (++x->depth > x->sink->lim.max_xml_depth) {
        sink_fail(x->sink, LAIR_ELIMIT,
                  "%s nests XML elements deeper than %u levels "
                  "(max_xml_depth)",
                  x->part, x->sink->lim.max_xml_depth);
        x_stop(x);
        return;
    }
    if (x->start)
        x->start(x->user, (const char *)local, (const char *)uri, nattr, attrs);
    if (x->sink->err)
        x_stop(x);
}

static void x_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    struct doc_xml *x = ctx;
    if (x->sink->err)
        return;
    x->depth--;
    if (x->end)
        x->end(x->user, (const char *)local, (const char *)uri);
    if (x->sink->err)
        x_stop(x);
}

static void x_text(void *ctx, const xmlChar *p, int n)
{
    struct doc_xml *x = ctx;
    if (x->sink->err || n <= 0)
        return;
    if (x->text)
        x->text(x->user, (const char *)p, (size_t)n);
    if (x->sink->err)
        x_stop(x);
}

static void x_dtd(void *ctx, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
    struct doc_xml *x = ctx;
    x->dtd = true;
    sink_fail(x->sink, LAIR_EINVAL,
              "%s in the %s has a DTD (<!DOCTYPE>), which Office "
              "documents never have: refused, since DTDs carry entity bombs and external "
              "entities",
              x->part, x->sink->what);
    x_stop(x);
}

/* Never resolve an entity: only the five predefined ones (handled by the
 * parser itself) and character references exist. */
static xmlEntityPtr x_entity(void *ctx, const xmlChar *name)
{
    return NULL;
}

static xmlParserInputPtr x_resolve(void *ctx, const xmlChar *pub, const xmlChar *sys)
{
    return NULL;
}

static void x_error(void *ctx, xmlErrorPtr err)
{
    struct doc_xml *x = ctx;
    if (!err || err->level < XML_ERR_ERROR || x->xmlerr[0])
        return;
    snprintf(x->xmlerr, sizeof x->xmlerr, "line %d: %s", err->line,
             err->message ? err->message : "error");
    size_t k = strlen(x->xmlerr);
    while (k && (x->xmlerr[k - 1] == '\n' || x->xmlerr[k - 1] == ' '))
        x->xmlerr[--k] = 0;
}

struct str doc_xml_attr(int nattr, const xmlChar **attrs, const char *local, const char *uri)
{
    for (int i = 0; i < nattr; i++) {
        const xmlChar **a = attrs + 5 * i;
        if (strcmp((const char *)a[0], local))
            continue;
        if (uri && (!a[2] || strcmp((const char *)a[2], uri)))
            continue;
        return (struct str){(const char *)a[3], (size_t)(a[4] - a[3])};
    }
    return (struct str){NULL, 0};
}

enum lair_err doc_xml_parse(struct doc_xml *x, const char *data, size_t len)
{
    struct doc_sink *s = x->sink;
    if (s->err)
        return s->err;
    doc_xml_init();
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof sax);
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = x_start;
    sax.endElementNs = x_end;
    sax.characters = x_text;
    sax.cdataBlock = x_text;
    sax.internalSubset = x_dtd;
    sax.getEntity = x_entity;
    sax.getParameterEntity = x_entity;
    sax.resolveEntity = x_resolve;
    sax.serror = x_error;
    x->depth = 0;
    x->dtd = false;
    x->xmlerr[0] = 0;
    doc_xml_alloc_reset();
    x->ctxt = xmlCreatePushParserCtxt(&sax, x, NULL, 0, NULL);
    if (!x->ctxt)
        return sink_fail(s, LAIR_ENOMEM, "out of memory");
    /* No NOENT (entity substitution), no DTDLOAD/DTDATTR/DTDVALID, no XINCLUDE. */
    xmlCtxtUseOptions(x->ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING);
    /* The context starts from libxml2's process-wide defaults, which other
     * code in the process could have changed: pin the ones that matter. */
    x->ctxt->replaceEntities = 0;
    x->ctxt->loadsubset = 0;
    x->ctxt->validate = 0;
    /* Fed in slices so that a stop (limit, DTD) takes effect early. */
    const size_t step = 256 << 10;
    size_t off = 0;
    int rc = 0;
    while (!s->err && !rc && off < len) {
        size_t k = len - off < step ? len - off : step;
        rc = xmlParseChunk(x->ctxt, data + off, (int)k, 0);
        off += k;
    }
    if (!s->err && !rc)
        rc = xmlParseChunk(x->ctxt, NULL, 0, 1);
    /* libxml2 2.9 stops at an allocation failure without clearing
     * wellFormed or returning an error, or drops what it could not store
     * and goes on: the text would miss parts */
    if (!s->err && (x->ctxt->errNo == XML_ERR_NO_MEMORY || doc_xml_alloc_failed()))
        sink_fail(s, LAIR_ENOMEM, "out of memory while reading %s", x->part);
    if (!s->err && (rc || !x->ctxt->wellFormed))
        sink_fail(s, LAIR_EINVAL, "broken %s: %s is not well-formed XML (%s)", s->what, x->part,
                  x->xmlerr[0] ? x->xmlerr : "parse error");
    if (x->ctxt->myDoc)
        xmlFreeDoc(x->ctxt->myDoc);
    xmlFreeParserCtxt(x->ctxt);
    x->ctxt = NULL;
    return s->err;
}

/* ---- docProps/core.xml --------------------------------------------------------------- */

struct core {
    struct doc_sink *s;
    bool in_title;
    struct buf title;
};

static void core_start(void *u, const char *local, const char *uri, int nattr,
                       const xmlChar **attrs)
{
    struct core *c = u;
    c->in_title =
        uri && !strcmp(uri, "http://purl.org/dc/elements/1.1/") && !strcmp(local, "title");
}

static void core_end(void *u, const char *local, const char *uri)
{
    ((struct core *)u)->in_title = false;
}

static void core_text(void *u, const char *p, size_t n)
{
    struct core *c = u;
    if (c->in_title && buf_append(&c->title, p, n) == LAIR_ENOMEM)
        sink_fail(c->s, LAIR_ENOMEM, "out of memory");
}

void doc_dc_title(struct doc_sink *s, zip_t *za, const char *part)
{
    char *xml;
    size_t n;
    if (s->doc->title || doc_zip_read(s, za, part, &xml, &n))
        return;
    struct core c = {.s = s};
    buf_init(&c.title, 64 << 10);
    struct doc_xml x = {.sink = s,
                        .part = part,
                        .user = &c,
                        .start = core_start,
                        .end = core_end,
                        .text = core_text};
    if (!doc_xml_parse(&x, xml, n) && c.title.len)
        sink_title(s, c.title.ptr, c.title.len);
    buf_release(&c.title);
    free(xml);
}

/* ---- detection ----------------------------------------------------------------------- */

struct sniff {
    enum doc_format format;
    enum lair_err err; /* when format is UNKNOWN: EUNSUPPORTED or EINVAL */
    char msg[200];
};

static bool mem_has(const char *p, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    return n >= k && memmem(p, n, needle, k) != NULL;
}

static bool has_ext(const char *hint, const char *const *exts)
{
    if (!hint)
        return false;
    const char *slash = strrchr(hint, '/');
    const char *dot = strrchr(slash ? slash : hint, '.');
    return dot && label_in(dot + 1, exts);
}

static const char *const ext_md[] = {"md", "markdown", "mdown", "mkd", "mkdn", NULL};
static const char *const ext_html[] = {"html", "htm", "xhtml", "shtml", NULL};
static const char *const ext_pdf[] = {"pdf", NULL};
static const char *const ext_zip[] = {"docx", "odt", "docm", "dotx", "ott", NULL};

/* A zip archive: DOCX, ODT, or a named kind we do not read. */
static void sniff_zip(const char *data, size_t len, const char *hint, struct sniff *r)
{
    static const struct {
        const char *entry, *what;
    } other[] = {
        {"xl/workbook.xml", "an Excel workbook (XLSX)"},
        {"ppt/presentation.xml", "a PowerPoint presentation (PPTX)"},
        {"META-INF/container.xml", "an EPUB book"},
    };
    zip_error_t ze;
    zip_error_init(&ze);
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &ze);
    zip_t *za = src ? zip_open_from_source(src, ZIP_RDONLY, &ze) : NULL;
    if (!za) {
        r->err = src ? LAIR_EINVAL : LAIR_ENOMEM;
        snprintf(r->msg, sizeof r->msg, "broken zip archive (%s)", zip_error_strerror(&ze));
        if (src)
            zip_source_free(src);
        zip_error_fini(&ze);
        return;
    }
    zip_error_fini(&ze);
    char mime[128] = "";
    zip_int64_t mi = zip_name_locate(za, "mimetype", ZIP_FL_ENC_RAW);
    zip_file_t *zf = mi >= 0 ? zip_fopen_index(za, (zip_uint64_t)mi, 0) : NULL;
    if (zf) {
        zip_int64_t got = zip_fread(zf, mime, sizeof mime - 1);
        mime[got > 0 ? got : 0] = 0;
        zip_fclose(zf);
    }
    struct str m = str_trim(str_c(mime));
    if (str_eq_c(m, "application/vnd.oasis.opendocument.text") ||
        str_eq_c(m, "application/vnd.oasis.opendocument.text-template")) {
        r->format = DOC_FORMAT_ODT;
    } else if (zip_name_locate(za, "[Content_Types].xml", ZIP_FL_ENC_RAW) >= 0 &&
               zip_name_locate(za, "word/document.xml", ZIP_FL_ENC_RAW) >= 0) {
        r->format = DOC_FORMAT_DOCX;
    } else if (m.len) {
        r->err = LAIR_EUNSUPPORTED;
        snprintf(r->msg, sizeof r->msg,
                 "OpenDocument of type %.60s: only text documents (ODT) "
                 "are read",
                 str_starts(m, S("application/")) ? m.ptr + 12 : "unknown");
    } else {
        bool word = has_ext(hint, ext_zip);
        zip_int64_t n = zip_get_num_entries(za, 0);
        for (zip_int64_t i = 0; i < n && !word; i++) {
            const char *nm = zip_get_name(za, (zip_uint64_t)i, ZIP_FL_ENC_RAW);
            word = nm && !strncmp(nm, "word/", 5);
        }
        r->err = LAIR_EUNSUPPORTED;
        snprintf(r->msg, sizeof r->msg,
                 "a zip archive that is neither a DOCX nor an ODT "
                 "document");
        for (size_t i = 0; i < sizeof other / sizeof *other; i++)
            if (zip_name_locate(za, other[i].entry, ZIP_FL_ENC_RAW) >= 0)
                snprintf(r->msg, sizeof r->msg, "%s: not supported", other[i].what), word = false;
        if (word) {
            r->err = LAIR_EINVAL;
            snprintf(r->msg, sizeof r->msg, "broken DOCX document: word/document.xml is missing");
        }
    }
    zip_discard(za);
}

/* Binary signatures we can name, to say what a file is when we refuse it. */
static const char *binary_kind(const unsigned char *p, size_t n)
{
    static const struct {
        const char *magic;
        size_t len;
        const char *what;
    } sig[] = {
        {"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", 8,
         "a legacy Office 97-2003 file (.doc, .xls, .ppt) or a password-protected Office "
         "document: save it as DOCX, ODT or PDF"},
        {"{\\rtf", 5, "an RTF document: save it as DOCX, ODT or PDF"},
        {"\x89PNG", 4, "a PNG image (text in images is not read)"},
        {"\xFF\xD8\xFF", 3, "a JPEG image (text in images is not read)"},
        {"GIF8", 4, "a GIF image (text in images is not read)"},
        {"II*\0", 4, "a TIFF image (text in images is not read)"},
        {"MM\0*", 4, "a TIFF image (text in images is not read)"},
        {"\x1F\x8B", 2, "a gzip archive"},
        {"7z\xBC\xAF", 4, "a 7-Zip archive"},
        {"Rar!", 4, "a RAR archive"},
        {"\x7F"
         "ELF",
         4, "an executable"},
        {"MZ", 2, "a Windows executable"},
        {"AT&TFORM", 8, "a DjVu document"},
    };
    for (size_t i = 0; i < sizeof sig / sizeof *sig; i++)
        if (n >= sig[i].len && !memcmp(p, sig[i].magic, sig[i].len))
            return sig[i].what;
    return NULL;
}

static bool looks_binary(const unsigned char *p, size_t n)
{
    if (n >= 2 && ((p[0] == 0xFF && p[1] == 0xFE) || (p[0] == 0xFE && p[1] == 0xFF)))
        return false; /* UTF-16 with a byte-order mark */
    size_t m = n < 8192 ? n : 8192, ctl = 0;
    for (size_t i = 0; i < m; i++) {
        if (p[i] == 0)
            return true;
        ctl += p[i] < 0x20 && !is_ascii_space(p[i]) && p[i] != 0x1B;
    }
    return ctl * 10 > m; /* more than 10% control characters */
}

static bool looks_html(const char *data, size_t len)
{
    const char *p = data, *end = data + (len < 4096 ? len : 4096);
    if (end - p >= 3 && !memcmp(p, "\xEF\xBB\xBF", 3))
        p += 3;
    for (;;) {
        while (p < end && is_ascii_space((unsigned char)*p))
            p++;
        if (end - p >= 4 && !memcmp(p, "<!--", 4)) {
            const char *e = memmem(p, (size_t)(end - p), "-->", 3);
            if (!e)
                return false;
            p = e + 3;
        } else if (end - p >= 5 && !memcmp(p, "<?xml", 5)) {
            const char *e = memmem(p, (size_t)(end - p), "?>", 2);
            if (!e)
                return false;
            p = e + 2;
        } else {
            break;
        }
    }
    if (p >= end || *p != '<')
        return false;
    static const char *const tags[] = {"<!doctype html", "<html", "<head",
                                       "<body",          "<meta", "<title"};
    for (size_t i = 0; i < sizeof tags / sizeof *tags; i++) {
        size_t k = strlen(tags[i]);
        for (const char *q = p; q + k <= end; q++)
            if (!strncasecmp(q, tags[i], k))
                return true;
    }
    return false;
}

/* A PDF starts with %PDF-; readers also accept junk before it within the
 * first KiB, but then we want the file to end like a PDF too, so that a text
 * that merely mentions "%PDF-" stays text. */
static bool looks_pdf(const char *data, size_t len)
{
    if (len >= 5 && !memcmp(data, "%PDF-", 5))
        return true;
    size_t head = len < 1024 ? len : 1024, tail = len < 2048 ? len : 2048;
    return mem_has(data, head, "%PDF-") && mem_has(data + len - tail, tail, "%%EOF");
}

static uint64_t le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* The number of entries a zip archive's end record declares (zip64
 * included), read before libzip allocates a structure per entry; 0 when the
 * record is not found (libzip will then say what is wrong). */
static uint64_t zip_declared_entries(const unsigned char *p, size_t len)
{
    if (len < 22)
        return 0;
    size_t lo = len > 65557 ? len - 65557 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;) {
        if (memcmp(p + i, "PK\x05\x06", 4))
            continue;
        uint64_t n = le(p + i + 10, 2);
        if (n == 0xFFFF && i >= 20 && !memcmp(p + i - 20, "PK\x06\x07", 4)) {
            uint64_t off = le(p + i - 20 + 8, 8);
            if (off + 56 <= len && !memcmp(p + off, "PK\x06\x06", 4))
                n = le(p + off + 32, 8);
        }
        return n;
    }
    return 0;
}

static void sniff(const char *data, size_t len, const char *hint, size_t max_entries,
                  struct sniff *r)
{
    const unsigned char *u = (const unsigned char *)data;
    memset(r, 0, sizeof *r);
    if (looks_pdf(data, len)) {
        r->format = DOC_FORMAT_PDF;
        return;
    }
    if (len >= 4 && !memcmp(data, "PK\x03\x04", 4)) {
        uint64_t n = zip_declared_entries(u, len);
        if (n > max_entries) {
            r->err = LAIR_ELIMIT;
            snprintf(r->msg, sizeof r->msg,
                     "the archive has %llu entries; the limit is %zu "
                     "(max_zip_entries)",
                     (unsigned long long)n, max_entries);
            return;
        }
        sniff_zip(data, len, hint, r);
        return;
    }
    if (len >= 4 && (!memcmp(data, "PK\x05\x06", 4) || !memcmp(data, "PK\x07\x08", 4))) {
        r->err = LAIR_EINVAL;
        snprintf(r->msg, sizeof r->msg, "an empty or split zip archive");
        return;
    }
    const char *kind = binary_kind(u, len);
    if (kind || looks_binary(u, len)) {
        r->err = LAIR_EUNSUPPORTED;
        snprintf(r->msg, sizeof r->msg, "%s", kind ? kind : "a binary file of an unknown format");
        if (!kind && has_ext(hint, ext_pdf))
            snprintf(r->msg, sizeof r->msg,
                     "named .pdf but has no %%PDF- header: a broken PDF "
                     "or not a PDF");
        return;
    }
    if (has_ext(hint, ext_pdf) || has_ext(hint, ext_zip)) {
        r->err = LAIR_EINVAL;
        snprintf(r->msg, sizeof r->msg, "named %s but is text: a broken file or a wrong name",
                 strrchr(hint, '.'));
        return;
    }
    if (looks_html(data, len) || has_ext(hint, ext_html))
        r->format = DOC_FORMAT_HTML;
    else if (has_ext(hint, ext_md))
        r->format = DOC_FORMAT_MARKDOWN;
    else
        r->format = DOC_FORMAT_TEXT;
}

enum doc_format doc_detect(const void *data, size_t len, const char *filename_hint)
{
    struct sniff r;
    if (!len)
        return DOC_FORMAT_UNKNOWN;
    sniff(data, len, filename_hint, doc_limits_default().max_zip_entries, &r);
    return r.format;
}

/* ---- extraction ---------------------------------------------------------------------- */

static void set_msg(char *errmsg, size_t errlen, const char *msg)
{
    if (errmsg && errlen)
        snprintf(errmsg, errlen, "%s", msg);
}

void doc_release(struct doc *doc)
{
    if (!doc)
        return;
    free(doc->blocks);
    arena_release(&doc->arena);
    memset(doc, 0, sizeof *doc);
}

enum lair_err doc_extract(const void *data, size_t len, const char *filename_hint,
                          const struct doc_limits *lim, struct doc *out, char *errmsg,
                          size_t errlen)
{
    struct doc_limits l = limits_resolve(lim);
    memset(out, 0, sizeof *out);
    set_msg(errmsg, errlen, "");
    char a[32], b[32];
    if (!data || !len) {
        set_msg(errmsg, errlen, "the file is empty");
        return LAIR_EINVAL;
    }
    if (len > l.max_file_bytes) {
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "the file is %s; the limit is %s (max_file_bytes)",
                     doc_size_str(len, a, sizeof a), doc_size_str(l.max_file_bytes, b, sizeof b));
        return LAIR_ELIMIT;
    }
    struct sniff r;
    sniff(data, len, filename_hint, l.max_zip_entries, &r);
    if (r.format == DOC_FORMAT_UNKNOWN) {
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "%s%s",
                     r.err == LAIR_EUNSUPPORTED ? "unsupported format: " : "", r.msg);
        return r.err ? r.err : LAIR_EUNSUPPORTED;
    }
    /* Texts, paths and the title; paths can at most double what the text holds. */
    size_t cap = l.max_text_bytes > SIZE_MAX / 3 ? SIZE_MAX / 2 : l.max_text_bytes * 2 + (1 << 20);
    arena_init(&out->arena, cap);
    out->format = r.format;
    struct doc_sink s;
    memset(&s, 0, sizeof s);
    s.doc = out;
    s.lim = l;
    s.what = format_what(r.format);
    s.path = "";
    buf_init(&s.text, l.max_text_bytes + 16);
    enum lair_err e = LAIR_OK;
    switch (r.format) {
    case DOC_FORMAT_TEXT: e = doc_txt_extract(&s, data, len); break;
    case DOC_FORMAT_MARKDOWN: e = doc_md_extract(&s, data, len); break;
    case DOC_FORMAT_HTML: e = doc_html_extract(&s, data, len); break;
    case DOC_FORMAT_PDF: e = doc_pdf_extract(&s, data, len); break;
    case DOC_FORMAT_DOCX: e = doc_docx_extract(&s, data, len); break;
    case DOC_FORMAT_ODT: e = doc_odt_extract(&s, data, len); break;
    case DOC_FORMAT_UNKNOWN: break;
    }
    if (!e && s.err)
        e = s.err;
    if (e && !s.err)
        sink_fail(&s, e, "%s", lair_err_msg(e));
    if (!e && out->nblocks == 0)
        e = sink_fail(&s, LAIR_EINVAL, "no text found in this %s", s.what);
    buf_release(&s.text);
    if (e) {
        set_msg(errmsg, errlen, s.msg);
        doc_release(out);
        return e;
    }
    return LAIR_OK;
}

enum lair_err doc_extract_file(const char *path, const struct doc_limits *lim, struct doc *out,
                               char *errmsg, size_t errlen)
{
    struct doc_limits l = limits_resolve(lim);
    char a[32], b[32];
    memset(out, 0, sizeof *out);
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below). */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "cannot open: %s", strerror(errno));
        if (fd >= 0)
            close(fd);
        return LAIR_EIO;
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        set_msg(errmsg, errlen, "not a regular file");
        return LAIR_EINVAL;
    }
    if ((uint64_t)st.st_size > l.max_file_bytes) {
        close(fd);
        if (errmsg && errlen)
            snprintf(errmsg, errlen, "the file is %s; the limit is %s (max_file_bytes)",
                     doc_size_str((size_t)st.st_size, a, sizeof a),
                     doc_size_str(l.max_file_bytes, b, sizeof b));
        return LAIR_ELIMIT;
    }
    size_t n = (size_t)st.st_size, got = 0;
    char *data = malloc(n + 1);
    if (!data) {
        close(fd);
        set_msg(errmsg, errlen, "out of memory");
        return LAIR_ENOMEM;
    }
    while (got < n) {
        ssize_t k = read(fd, data + got, n - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    if (got != n) {
        free(data);
        set_msg(errmsg, errlen, "read error or the file changed while read");
        return LAIR_EIO;
    }
    enum lair_err e = doc_extract(data, n, path, &l, out, errmsg, errlen);
    free(data);
    return e;
}
