/* struct str helpers, the capped growing buffer and UTF-8 validation. */
#include "core/str.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct str str_c(const char *s) { return s ? (struct str){s, strlen(s)} : (struct str){"", 0}; }

bool str_eq(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool str_eq_c(struct str a, const char *b) { return str_eq(a, str_c(b)); }

bool str_starts(struct str s, struct str p)
{
    return s.len >= p.len && (p.len == 0 || memcmp(s.ptr, p.ptr, p.len) == 0);
}

long str_find(struct str s, struct str n)
{
    if (n.len == 0)
        return 0;
    if (n.len > s.len)
        return -1;
    for (size_t i = 0; i + n.len <= s.len; i++)
        if (s.ptr[i] == n.ptr[0] && memcmp(s.ptr + i, n.ptr, n.len) == 0)
            return (long)i;
    return -1;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

struct str str_trim(struct str s)
{
    while (s.len && is_space(s.ptr[0]))
        s.ptr++, s.len--;
    while (s.len && is_space(s.ptr[s.len - 1]))
        s.len--;
    return s;
}

void buf_init(struct buf *b, size_t max)
{
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->max = max ? max : (size_t)64 << 20;
}

void buf_release(struct buf *b)
{
    free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->ptr)
        b->ptr[0] = 0;
}

static enum lair_err buf_reserve(struct buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return LAIR_ETOOBIG;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return LAIR_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->ptr, cap);
    if (!p)
        return LAIR_ENOMEM;
    b->ptr = p;
    b->cap = cap;
    return LAIR_OK;
}

enum lair_err buf_append(struct buf *b, const void *data, size_t len)
{
    enum lair_err e = buf_reserve(b, len);
    if (e)
        return e;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = 0;
    return LAIR_OK;
}

enum lair_err buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

enum lair_err buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return LAIR_EINVAL;
    enum lair_err e = buf_reserve(b, (size_t)n);
    if (e)
        return e;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return LAIR_OK;
}

enum lair_err buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    enum lair_err e = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return e;
}

char *buf_detach(struct buf *b, size_t *len)
{
    if (!b->ptr && buf_reserve(b, 0) == LAIR_OK)
        b->ptr[0] = 0;
    char *p = b->ptr;
    if (len)
        *len = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

/* Length of the UTF-8 sequence starting at s[0] if well-formed, else 0. */
static size_t utf8_seq(const unsigned char *s, size_t len)
{
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned min;
    if ((c & 0xE0) == 0xC0)
        n = 2, min = 0x80, c &= 0x1F;
    else if ((c & 0xF0) == 0xE0)
        n = 3, min = 0x800, c &= 0x0F;
    else if ((c & 0xF8) == 0xF0)
        n = 4, min = 0x10000, c &= 0x07;
    else
        return 0;
    if (len < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
        return 0;
    return n;
}

bool utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t n = utf8_seq(p + i, len - i);
        if (!n)
            return false;
        i += n;
    }
    return true;
}

size_t utf8_complete_prefix(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    /* Look back over at most 4 continuation bytes for the start of a
     * sequence (a character has 3 at most: a 4th shows an invalid run). */
    size_t back = 0;
    while (back < 4 && back < len && (p[len - 1 - back] & 0xC0) == 0x80)
        back++;
    if (back == len)
        return back == 0 ? 0 : len; /* only continuation bytes: invalid, pass through */
    size_t start = len - 1 - back;
    unsigned c = p[start];
    size_t need = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 1;
    return (back + 1 < need) ? start : len;
}

enum lair_err buf_html(struct buf *b, const char *s)
{
    enum lair_err e = LAIR_OK;
    for (; !e && s && *s; s++) {
        switch (*s) {
        case '&': e = buf_puts(b, "&amp;"); break;
        case '<': e = buf_puts(b, "&lt;"); break;
        case '>': e = buf_puts(b, "&gt;"); break;
        case '"': e = buf_puts(b, "&quot;"); break;
        case '\'': e = buf_puts(b, "&#39;"); break;
        default: e = buf_append(b, s, 1);
        }
    }
    return e;
}

void str_printable(char *out, size_t n, const char *s)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++)
        out[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
    out[i] = 0;
}
