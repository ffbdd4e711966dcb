/* Markdown (CommonMark and the GitHub table extension, read line by line):
 * ATX and setext headings, paragraphs, bullet and numbered lists (nesting by
 * indentation), pipe tables, block quotes (kept as paragraphs), fenced code
 * (kept as preformatted paragraphs), YAML front matter (its "title:" becomes
 * the title; else the first level-1 heading does). Inline markup is removed:
 * emphasis markers, code backticks, link and image syntax (their text stays,
 * URLs go), HTML tags and comments, backslash escapes; common entities are
 * decoded. Every scan that looks ahead is bounded, so a hostile line cannot
 * make the work quadratic, and nesting is capped, so it cannot exhaust the
 * stack. */
#include "doc/doc_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

#define LOOKAHEAD 4096 /* bytes scanned for a closing bracket or backtick run */
/* Lookahead a line may spend in all, per byte of the line and in bulk: past
 * it, brackets and backticks are left as they are, so a line made of
 * thousands of unclosed brackets costs linear time, not quadratic. */
#define BUDGET_PER_BYTE 16
#define BUDGET_BASE 65536
#define INLINE_DEPTH 8 /* nested link texts */
#define LIST_DEPTH 10

enum md_block { MD_NONE, MD_PARA, MD_ITEM };

struct md {
    struct doc_sink *s;
    enum md_block cur;
    unsigned item_level;
    unsigned row;            /* rows of the current table so far */
    int indents[LIST_DEPTH]; /* indentation of the open list levels */
    int nindents;
    bool seen_heading1;
};

static bool is_punct(unsigned char c)
{
    return (c >= 0x21 && c <= 0x2F) || (c >= 0x3A && c <= 0x40) || (c >= 0x5B && c <= 0x60) ||
           (c >= 0x7B && c <= 0x7E);
}

static bool is_word(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c >= 0x80;
}

static bool is_sp(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* Index of the byte that closes a bracket opened at p[0], or -1. */
/* How far a scan may look from here (n bytes left), charged to *budget. */
static size_t window(size_t n, size_t *budget)
{
    size_t lim = n < LOOKAHEAD ? n : LOOKAHEAD;
    lim = lim < *budget ? lim : *budget;
    *budget -= lim;
    return lim;
}

static size_t line_budget(size_t n)
{
    return BUDGET_PER_BYTE * n + BUDGET_BASE;
}

static long match_bracket(const char *p, size_t n, char open, char close, size_t *budget)
{
    int depth = 0;
    size_t lim = window(n, budget);
    for (size_t i = 0; i < lim; i++) {
        if (p[i] == '\\') {
            i++;
        } else if (p[i] == open) {
            depth++;
        } else if (p[i] == close && --depth == 0) {
            return (long)i;
        }
    }
    return -1;
}

/* An entity at p ("&amp;", "&#233;"): its UTF-8 in out, its length in *used. */
static size_t entity(const char *p, size_t n, char *out, size_t *used)
{
    static const struct {
        const char *name, *utf8;
    } named[] = {{"amp;", "&"},
                 {"lt;", "<"},
                 {"gt;", ">"},
                 {"quot;", "\""},
                 {"apos;", "'"},
                 {"nbsp;", "\xC2\xA0"},
                 {"eacute;", "\xC3\xA9"},
                 {"egrave;", "\xC3\xA8"},
                 {"agrave;", "\xC3\xA0"},
                 {"ccedil;", "\xC3\xA7"},
                 {"euro;", "\xE2\x82\xAC"},
                 {"hellip;", "\xE2\x80\xA6"}};
    for (size_t i = 0; i < sizeof named / sizeof *named; i++) {
        size_t k = strlen(named[i].name);
        if (n > k && !memcmp(p + 1, named[i].name, k)) {
            *used = k + 1;
            size_t m = strlen(named[i].utf8);
            memcpy(out, named[i].utf8, m);
            return m;
        }
    }
    if (n > 3 && p[1] == '#') {
        size_t i = 2;
        int base = 10;
        if (p[i] == 'x' || p[i] == 'X')
            base = 16, i++;
        uint32_t v = 0;
        size_t start = i;
        for (; i < n && i < start + 7; i++) {
            int d = (p[i] >= '0' && p[i] <= '9') ? p[i] - '0'
                    : base == 16 && (p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f'
                        ? (p[i] | 0x20) - 'a' + 10
                        : -1;
            if (d < 0)
                break;
            v = v * (uint32_t)base + (uint32_t)d;
        }
        if (i > start && i < n && p[i] == ';' && v > 0 && v <= 0x10FFFF &&
            !(v >= 0xD800 && v <= 0xDFFF)) {
            *used = i + 1;
            return doc_utf8_encode(v, out);
        }
    }
    return 0;
}

/* Length of an HTML tag or comment starting at p[0] == '<', or 0. */
static size_t html_tag(const char *p, size_t n, size_t *budget)
{
    size_t lim = window(n, budget);
    if (lim >= 4 && !memcmp(p, "<!--", 4)) {
        const char *e = memmem(p + 4, lim - 4, "-->", 3);
        return e ? (size_t)(e + 3 - p) : 0;
    }
    size_t i = 1;
    if (i < lim && p[i] == '/')
        i++;
    if (i >= lim || !((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'z'))
        return 0;
    while (i < lim && (is_word((unsigned char)p[i]) || p[i] == '-'))
        i++;
    if (i < lim && p[i] != '>' && p[i] != '/' && !is_sp((unsigned char)p[i]))
        return 0;
    const char *e = memchr(p + i, '>', lim - i);
    return e ? (size_t)(e + 1 - p) : 0;
}

/* Length of an autolink <https://…> or <a@b.fr> at p, or 0. */
static size_t autolink(const char *p, size_t n, size_t *budget)
{
    size_t lim = window(n < 512 ? n : 512, budget);
    size_t i = 1;
    bool colon = false, at = false;
    for (; i < lim && p[i] != '>'; i++) {
        if (p[i] == '<' || is_sp((unsigned char)p[i]))
            return 0;
        colon |= p[i] == ':';
        at |= p[i] == '@';
    }
    return i < lim && (colon || at) && i > 2 ? i + 1 : 0;
}

static void md_inline(struct doc_sink *s, const char *p, size_t n, int depth, size_t *budget)
{
    size_t run = 0, i = 0;
#define FLUSH()                                                                                    \
    do {                                                                                           \
        if (i > run)                                                                               \
            sink_text(s, p + run, i - run);                                                        \
    } while (0)
    while (i < n && !s->err) {
        unsigned char c = (unsigned char)p[i];
        if (c == '\\' && i + 1 < n && is_punct((unsigned char)p[i + 1])) {
            FLUSH();
            sink_text(s, p + i + 1, 1);
            run = i += 2;
        } else if (c == '`') {
            size_t k = 0;
            while (i + k < n && p[i + k] == '`')
                k++;
            /* The closing run of exactly k backticks. */
            size_t lim = window(n - i - k, budget), j = 0;
            const char *q = p + i + k;
            long close = -1;
            while (j < lim) {
                if (q[j] != '`') {
                    j++;
                    continue;
                }
                size_t m = 0;
                while (j + m < lim && q[j + m] == '`')
                    m++;
                if (m == k) {
                    close = (long)j;
                    break;
                }
                j += m;
            }
            FLUSH();
            if (close >= 0) {
                sink_text(s, q, (size_t)close);
                run = i = i + k + (size_t)close + k;
            } else {
                run = i;
                i += k;
            }
        } else if (c == '[' || (c == '!' && i + 1 < n && p[i + 1] == '[')) {
            size_t b = i + (c == '!');
            long close = depth < INLINE_DEPTH ? match_bracket(p + b, n - b, '[', ']', budget) : -1;
            if (close < 0) {
                i++;
                continue;
            }
            size_t after = b + (size_t)close + 1;
            long tail = 0;
            if (after < n && p[after] == '(')
                tail = match_bracket(p + after, n - after, '(', ')', budget);
            else if (after < n && p[after] == '[')
                tail = match_bracket(p + after, n - after, '[', ']', budget);
            else
                tail = -2; /* "[text]" alone: brackets dropped, text kept */
            if (tail == -1) {
                i++;
                continue;
            }
            FLUSH();
            /* Task list boxes "[ ]" and "[x]" vanish. */
            struct str inner = {p + b + 1, (size_t)close - 1};
            if (!(inner.len == 1 && (inner.ptr[0] == ' ' || (inner.ptr[0] | 0x20) == 'x')))
                md_inline(s, inner.ptr, inner.len, depth + 1, budget);
            run = i = after + (tail >= 0 ? (size_t)tail + 1 : 0);
        } else if (c == '<') {
            size_t k = autolink(p + i, n - i, budget);
            if (k) {
                FLUSH();
                sink_text(s, p + i + 1, k - 2);
                run = i += k;
                continue;
            }
            k = html_tag(p + i, n - i, budget);
            if (k) {
                FLUSH();
                sink_space(s);
                run = i += k;
                continue;
            }
            i++;
        } else if (c == '*' || c == '_' || c == '~') {
            size_t k = 0;
            while (i + k < n && p[i + k] == (char)c)
                k++;
            unsigned char before = i ? (unsigned char)p[i - 1] : ' ';
            unsigned char after = i + k < n ? (unsigned char)p[i + k] : ' ';
            bool drop;
            if (c == '*')
                drop = !(is_sp(before) && is_sp(after)); /* "2 * 3" stays */
            else if (c == '_')
                drop = !(is_word(before) && is_word(after)); /* snake_case stays */
            else
                drop = k == 2;
            if (drop) {
                FLUSH();
                run = i + k;
            }
            i += k;
        } else if (c == '&') {
            char out[8];
            size_t used = 0, m = entity(p + i, n - i, out, &used);
            if (m) {
                FLUSH();
                sink_text(s, out, m);
                run = i += used;
            } else {
                i++;
            }
        } else {
            i++;
        }
    }
    FLUSH();
#undef FLUSH
}

static void end_block(struct md *m)
{
    if (m->cur == MD_ITEM)
        sink_emit(m->s, DOC_LIST_ITEM, m->item_level);
    else if (m->cur == MD_PARA)
        sink_emit(m->s, DOC_PARAGRAPH, 0);
    m->cur = MD_NONE;
}

static int indent_of(const char *p, size_t n, size_t *skip)
{
    int ind = 0;
    size_t i = 0;
    for (; i < n && is_sp((unsigned char)p[i]); i++)
        ind += p[i] == '\t' ? 4 - ind % 4 : 1;
    *skip = i;
    return ind;
}

/* A run of 3+ '-', '*' or '_' (spaces allowed): a thematic break. */
static bool is_break(struct str r)
{
    if (!r.len || (r.ptr[0] != '-' && r.ptr[0] != '*' && r.ptr[0] != '_'))
        return false;
    int k = 0;
    for (size_t i = 0; i < r.len; i++) {
        if (r.ptr[i] == r.ptr[0])
            k++;
        else if (!is_sp((unsigned char)r.ptr[i]))
            return false;
    }
    return k >= 3;
}

static bool all_of(struct str r, char c)
{
    r = str_trim(r);
    if (!r.len)
        return false;
    for (size_t i = 0; i < r.len; i++)
        if (r.ptr[i] != c)
            return false;
    return true;
}

/* "|---|:--:|" */
static bool is_table_sep(struct str r)
{
    r = str_trim(r);
    bool dash = false, pipe = false;
    for (size_t i = 0; i < r.len; i++) {
        char c = r.ptr[i];
        if (c == '-')
            dash = true;
        else if (c == '|')
            pipe = true;
        else if (c != ':' && !is_sp((unsigned char)c))
            return false;
    }
    return dash && pipe;
}

static bool has_pipe(struct str r)
{
    return memchr(r.ptr, '|', r.len) != NULL;
}

static void table_row(struct md *m, struct str r)
{
    r = str_trim(r);
    if (r.len && r.ptr[0] == '|')
        r.ptr++, r.len--;
    if (r.len && r.ptr[r.len - 1] == '|' && (r.len < 2 || r.ptr[r.len - 2] != '\\'))
        r.len--;
    size_t start = 0, cell = 0;
    bool code = false;
    for (size_t i = 0; i <= r.len; i++) {
        if (i < r.len && r.ptr[i] == '\\') {
            i++;
            continue;
        }
        if (i < r.len && r.ptr[i] == '`')
            code = !code;
        if (i == r.len || (r.ptr[i] == '|' && !code)) {
            if (cell++)
                sink_cell(m->s);
            struct str c = str_trim((struct str){r.ptr + start, i - start});
            size_t budget = line_budget(c.len);
            md_inline(m->s, c.ptr, c.len, 0, &budget);
            start = i + 1;
        }
    }
    sink_emit(m->s, DOC_TABLE_ROW, ++m->row);
}

/* "- ", "* ", "+ ", "1. ", "12) ": the marker's length, or 0. */
static size_t list_marker(struct str r)
{
    size_t i = 0;
    if (r.len && (r.ptr[0] == '-' || r.ptr[0] == '*' || r.ptr[0] == '+')) {
        i = 1;
    } else {
        while (i < r.len && i < 9 && r.ptr[i] >= '0' && r.ptr[i] <= '9')
            i++;
        if (!i || i >= r.len || (r.ptr[i] != '.' && r.ptr[i] != ')'))
            return 0;
        i++;
    }
    if (i < r.len && !is_sp((unsigned char)r.ptr[i]))
        return 0;
    return i;
}

static unsigned list_level(struct md *m, int ind)
{
    while (m->nindents && m->indents[m->nindents - 1] > ind)
        m->nindents--;
    if (!m->nindents || m->indents[m->nindents - 1] < ind) {
        if (m->nindents < LIST_DEPTH)
            m->indents[m->nindents++] = ind;
    }
    return (unsigned)m->nindents;
}

static void heading(struct md *m, unsigned level, struct str t)
{
    end_block(m);
    t = str_trim(t);
    /* Closing hashes: "## Titre ##". */
    size_t e = t.len;
    while (e && t.ptr[e - 1] == '#')
        e--;
    if (e < t.len && (e == 0 || is_sp((unsigned char)t.ptr[e - 1])))
        t.len = e;
    size_t budget = line_budget(t.len);
    md_inline(m->s, t.ptr, t.len, 0, &budget);
    if (level == 1 && !m->seen_heading1 && !sink_empty(m->s)) {
        m->seen_heading1 = true;
        sink_title(m->s, m->s->text.ptr, m->s->text.len);
    }
    sink_emit(m->s, DOC_HEADING, level);
    m->nindents = 0;
}

static struct str next_line(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *eol = nl ? nl : end;
    struct str l = {*p, (size_t)(eol - *p)};
    if (l.len && l.ptr[l.len - 1] == '\r')
        l.len--;
    *p = nl ? nl + 1 : end;
    return l;
}

/* YAML front matter at the very start: its title, and where the body begins. */
static const char *front_matter(struct doc_sink *s, const char *p, const char *end)
{
    const char *q = p;
    struct str l = next_line(&q, end);
    if (!str_eq_c(str_trim(l), "---"))
        return p;
    struct str title = {NULL, 0};
    for (int i = 0; i < 200 && q < end; i++) {
        l = next_line(&q, end);
        struct str t = str_trim(l);
        if (str_eq_c(t, "---") || str_eq_c(t, "...")) {
            if (title.ptr)
                sink_title(s, title.ptr, title.len);
            return q;
        }
        if (str_starts(l, S("title:"))) {
            title = str_trim((struct str){l.ptr + 6, l.len - 6});
            if (title.len >= 2 && (title.ptr[0] == '"' || title.ptr[0] == '\'') &&
                title.ptr[title.len - 1] == title.ptr[0])
                title.ptr++, title.len -= 2;
        }
    }
    return p; /* no closing line: not front matter */
}

enum lair_err doc_md_extract(struct doc_sink *s, const char *data, size_t len)
{
    const char *text, *label;
    size_t n;
    char *owned;
    if (doc_to_utf8(s, data, len, NULL, &text, &n, &owned, &label))
        return s->err;
    struct md m = {.s = s};
    const char *p = text, *end = text + n;
    char fence = 0;
    size_t fence_len = 0;
    bool comment = false;
    p = front_matter(s, p, end);
    while (p < end && !s->err) {
        struct str line = next_line(&p, end);
        size_t skip;
        int ind = indent_of(line.ptr, line.len, &skip);
        struct str r = {line.ptr + skip, line.len - skip};
        if (fence) {
            size_t k = 0;
            while (k < r.len && r.ptr[k] == fence)
                k++;
            if (ind < 4 && k >= fence_len && !str_trim((struct str){r.ptr + k, r.len - k}).len) {
                sink_emit(s, DOC_PARAGRAPH, 0);
                s->pre = false;
                fence = 0;
            } else {
                sink_text(s, line.ptr, line.len);
                sink_newline(s);
            }
            continue;
        }
        if (comment) {
            const char *e = memmem(line.ptr, line.len, "-->", 3);
            comment = e == NULL;
            continue;
        }
        /* Block quotes read as their content. */
        while (ind < 4 && r.len && r.ptr[0] == '>') {
            r.ptr++, r.len--;
            ind = indent_of(r.ptr, r.len, &skip);
            r.ptr += skip, r.len -= skip;
        }
        if (!str_trim(r).len) {
            end_block(&m);
            m.row = 0;
            continue;
        }
        if (ind < 4) {
            size_t k = 0;
            while (k < r.len && k < 7 && r.ptr[k] == '#')
                k++;
            if (k >= 1 && k <= 6 && (k == r.len || is_sp((unsigned char)r.ptr[k]))) {
                heading(&m, (unsigned)k, (struct str){r.ptr + k, r.len - k});
                continue;
            }
            k = 0;
            while (k < r.len && (r.ptr[k] == '`' || r.ptr[k] == '~') && r.ptr[k] == r.ptr[0])
                k++;
            if (k >= 3 && !(r.ptr[0] == '`' && memchr(r.ptr + k, '`', r.len - k))) {
                end_block(&m);
                fence = r.ptr[0];
                fence_len = k;
                s->pre = true;
                continue;
            }
            if (str_starts(r, S("<!--"))) {
                end_block(&m);
                comment = memmem(r.ptr + 4, r.len - 4, "-->", 3) == NULL;
                continue;
            }
            if (m.cur == MD_PARA && (all_of(r, '=') || all_of(r, '-'))) {
                /* Setext: the paragraph above is a heading. */
                sink_emit(s, DOC_HEADING, r.ptr[0] == '=' ? 1 : 2);
                m.cur = MD_NONE;
                m.nindents = 0;
                continue;
            }
            if (is_break(r)) {
                end_block(&m);
                continue;
            }
            if (r.ptr[0] == '[') {
                size_t budget = LOOKAHEAD;
                long c = match_bracket(r.ptr, r.len, '[', ']', &budget);
                if (c > 0 && (size_t)c + 1 < r.len && r.ptr[c + 1] == ':')
                    continue; /* a link reference definition */
            }
        }
        const char *save = p;
        struct str next = p < end ? next_line(&save, end) : (struct str){"", 0};
        if (has_pipe(r) && (m.row || r.ptr[0] == '|' || is_table_sep(next))) {
            end_block(&m);
            if (!is_table_sep(r))
                table_row(&m, r);
            continue;
        }
        m.row = 0;
        size_t mk = list_marker(r);
        if (mk && (ind < 4 || m.nindents)) {
            end_block(&m);
            m.cur = MD_ITEM;
            m.item_level = list_level(&m, ind);
            struct str t = str_trim((struct str){r.ptr + mk, r.len - mk});
            size_t budget = line_budget(t.len);
            md_inline(s, t.ptr, t.len, 0, &budget);
            continue;
        }
        if (m.cur == MD_NONE) {
            if (m.nindents && ind >= 2) {
                m.cur = MD_ITEM; /* a later paragraph of a list item */
                m.item_level = (unsigned)m.nindents;
            } else {
                m.cur = MD_PARA;
                m.nindents = 0;
            }
        }
        sink_space(s);
        struct str t = str_trim(r);
        size_t budget = line_budget(t.len);
        md_inline(s, t.ptr, t.len, 0, &budget);
    }
    if (fence) {
        sink_emit(s, DOC_PARAGRAPH, 0);
        s->pre = false;
    }
    end_block(&m);
    free(owned);
    return s->err;
}
