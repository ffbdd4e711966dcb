/* Strict multipart/form-data parsing and file-name checks. See multipart.h. */
#include "http/multipart.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <utf8proc.h>

#include "core/banned.h"

#define BOUNDARY_MAX 70

static enum lair_err fail(enum lair_err e, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum lair_err fail(enum lair_err e, char *msg, size_t msglen, const char *fmt, ...)
{
    if (msg && msglen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, msglen, fmt, ap);
        va_end(ap);
    }
    return e;
}

/* ---- header values: token, quoted-string and parameters ---- */

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void skip_ows(struct str *s)
{
    while (s->len && (*s->ptr == ' ' || *s->ptr == '\t'))
        s->ptr++, s->len--;
}

/* Reads a token; false when there is none. */
static bool take_token(struct str *s, struct str *out)
{
    size_t i = 0;
    while (i < s->len && is_tchar((unsigned char)s->ptr[i]))
        i++;
    *out = (struct str){s->ptr, i};
    s->ptr += i;
    s->len -= i;
    return i > 0;
}

/* Reads a quoted-string into out (a NUL-terminated arena copy, escapes
 * removed: \" gives ", \\ gives \; any other backslash stays as it is, as
 * browsers send it). false when unterminated. */
static bool take_quoted(struct str *s, struct arena *a, struct str *out, bool *nomem)
{
    if (!s->len || *s->ptr != '"')
        return false;
    char *buf = arena_alloc(a, s->len);
    if (!buf) {
        *nomem = true;
        return false;
    }
    size_t n = 0;
    for (size_t i = 1; i < s->len; i++) {
        char c = s->ptr[i];
        if (c == '"') {
            buf[n] = 0;
            *out = (struct str){buf, n};
            s->ptr += i + 1;
            s->len -= i + 1;
            return true;
        }
        if (c == '\\' && i + 1 < s->len && (s->ptr[i + 1] == '"' || s->ptr[i + 1] == '\\'))
            c = s->ptr[++i];
        buf[n++] = c;
    }
    return false;
}

struct param {
    struct str name, value;
};

/* Parses "; name=value" parameters (value a token or a quoted-string) into
 * p[0..*n). false when malformed or more than max. */
static bool take_params(struct str s, struct arena *a, struct param *p, size_t max, size_t *n,
                        bool *nomem)
{
    *n = 0;
    for (;;) {
        skip_ows(&s);
        if (!s.len)
            return true;
        if (*s.ptr != ';' || *n == max)
            return false;
        s.ptr++, s.len--;
        skip_ows(&s);
        struct param *q = &p[*n];
        if (!take_token(&s, &q->name))
            return false;
        skip_ows(&s);
        if (!s.len || *s.ptr != '=')
            return false;
        s.ptr++, s.len--;
        skip_ows(&s);
        if (s.len && *s.ptr == '"') {
            if (!take_quoted(&s, a, &q->value, nomem))
                return false;
        } else if (!take_token(&s, &q->value)) {
            return false;
        }
        for (size_t i = 0; i < *n; i++)
            if (p[i].name.len == q->name.len &&
                !strncasecmp(p[i].name.ptr, q->name.ptr, q->name.len))
                return false; /* a parameter given twice */
        (*n)++;
    }
}

static const struct param *find_param(const struct param *p, size_t n, const char *name)
{
    size_t len = strlen(name);
    for (size_t i = 0; i < n; i++)
        if (p[i].name.len == len && !strncasecmp(p[i].name.ptr, name, len))
            return &p[i];
    return NULL;
}

static bool starts_ci(struct str s, const char *prefix)
{
    size_t n = strlen(prefix);
    return s.len >= n && !strncasecmp(s.ptr, prefix, n);
}

/* ---- boundary ---- */

static bool bchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("'()+_,-./:=? ", c));
}

static enum lair_err boundary_of(const char *content_type, struct arena *a, struct str *out,
                                 char *msg, size_t msglen)
{
    static const char want[] = "multipart/form-data";
    struct str s = str_c(content_type);
    skip_ows(&s);
    if (!starts_ci(s, want))
        return fail(LAIR_EINVAL, msg, msglen,
                    "the body must be multipart/form-data (Content-Type: multipart/form-data; "
                    "boundary=...) with one part named 'file' per file");
    s.ptr += sizeof(want) - 1;
    s.len -= sizeof(want) - 1;
    struct param p[8];
    size_t n;
    bool nomem = false;
    if (!take_params(s, a, p, 8, &n, &nomem))
        return nomem ? LAIR_ENOMEM
                     : fail(LAIR_EINVAL, msg, msglen, "malformed Content-Type parameters");
    const struct param *b = find_param(p, n, "boundary");
    if (!b)
        return fail(LAIR_EINVAL, msg, msglen, "the Content-Type has no boundary parameter");
    bool ok =
        b->value.len >= 1 && b->value.len <= BOUNDARY_MAX && b->value.ptr[b->value.len - 1] != ' ';
    for (size_t i = 0; ok && i < b->value.len; i++)
        ok = bchar((unsigned char)b->value.ptr[i]);
    if (!ok)
        return fail(LAIR_EINVAL, msg, msglen,
                    "the multipart boundary must be 1 to 70 letters, digits or '()+_,-./:=? "
                    "characters");
    *out = b->value;
    return LAIR_OK;
}

/* ---- file names ---- */

/* Decodes RFC 8187 ext-value "UTF-8''percent%20encoded" into out (arena). */
static bool decode_ext_value(struct str v, struct arena *a, struct str *out)
{
    static const char charset[] = "utf-8''";
    if (!starts_ci(v, charset))
        return false;
    v.ptr += sizeof(charset) - 1;
    v.len -= sizeof(charset) - 1;
    char *buf = arena_alloc(a, v.len + 1);
    if (!buf)
        return false;
    size_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        char c = v.ptr[i];
        if (c == '%') {
            unsigned hi, lo;
            if (i + 2 >= v.len)
                return false;
            char h = v.ptr[i + 1], l = v.ptr[i + 2];
            hi = h >= '0' && h <= '9' ? (unsigned)(h - '0') : ((unsigned)(h | 0x20) - 'a' + 10);
            lo = l >= '0' && l <= '9' ? (unsigned)(l - '0') : ((unsigned)(l | 0x20) - 'a' + 10);
            if (hi > 15 || lo > 15)
                return false;
            c = (char)(hi << 4 | lo);
            i += 2;
        }
        buf[n++] = c;
    }
    buf[n] = 0;
    *out = (struct str){buf, n};
    return true;
}

/* Code points that make a name display as something else (bidirectional
 * overrides and isolates), or that are invisible controls. */
static bool spoofing(utf8proc_int32_t cp)
{
    return (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
           cp == 0x200F || cp == 0x061C || cp == 0xFEFF;
}

enum lair_err multipart_filename(struct str raw, struct arena *a, const char **out, char *msg,
                                 size_t msglen)
{
    *out = NULL;
    struct str s = raw;
    while (s.len && s.ptr[0] == ' ')
        s.ptr++, s.len--;
    while (s.len && s.ptr[s.len - 1] == ' ')
        s.len--;
    if (s.len == 0)
        return fail(LAIR_EUNPROC, msg, msglen, "a file has an empty name");
    if (!utf8_valid(s.ptr, s.len))
        return fail(LAIR_EUNPROC, msg, msglen, "a file name is not valid UTF-8");
    bool dots = true;
    for (size_t i = 0; i < s.len;) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t k = utf8proc_iterate((const utf8proc_uint8_t *)s.ptr + i,
                                              (utf8proc_ssize_t)(s.len - i), &cp);
        if (k <= 0)
            return fail(LAIR_EUNPROC, msg, msglen, "a file name is not valid UTF-8");
        if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
            return fail(LAIR_EUNPROC, msg, msglen,
                        "a file name holds a control character (or a NUL byte)");
        if (cp == '/' || cp == '\\')
            return fail(LAIR_EUNPROC, msg, msglen,
                        "a file name holds a path separator ('/' or '\\'): send the file's "
                        "name alone, without folders");
        if (spoofing(cp))
            return fail(LAIR_EUNPROC, msg, msglen,
                        "a file name holds an invisible or bidirectional-override character");
        dots = dots && cp == '.';
        i += (size_t)k;
    }
    if (dots)
        return fail(LAIR_EUNPROC, msg, msglen, "a file name cannot be made of dots only");
    char *tmp = arena_strndup(a, s.ptr, s.len);
    if (!tmp)
        return LAIR_ENOMEM;
    char *nfc = (char *)utf8proc_NFC((const utf8proc_uint8_t *)tmp);
    if (!nfc)
        return LAIR_ENOMEM;
    size_t n = strlen(nfc);
    if (n > MULTIPART_FILENAME_MAX) {
        free(nfc);
        return fail(LAIR_EUNPROC, msg, msglen, "a file name is longer than %d bytes",
                    MULTIPART_FILENAME_MAX);
    }
    *out = arena_strndup(a, nfc, n);
    free(nfc);
    return *out ? LAIR_OK : LAIR_ENOMEM;
}

/* ---- parts ---- */

static const char *find(const char *hay, size_t hlen, const char *needle, size_t nlen)
{
    return nlen <= hlen ? memmem(hay, hlen, needle, nlen) : NULL;
}

/* Parses a Content-Disposition value: form-data with name and maybe a file
 * name. */
static enum lair_err disposition(struct str v, struct arena *a, struct multipart_part *p, char *msg,
                                 size_t msglen)
{
    skip_ows(&v);
    struct str type;
    if (!take_token(&v, &type) || type.len != 9 || strncasecmp(type.ptr, "form-data", 9))
        return fail(LAIR_EINVAL, msg, msglen,
                    "each part needs 'Content-Disposition: form-data; name=\"...\"'");
    struct param prm[8];
    size_t n;
    bool nomem = false;
    if (!take_params(v, a, prm, 8, &n, &nomem))
        return nomem ? LAIR_ENOMEM
                     : fail(LAIR_EINVAL, msg, msglen, "malformed Content-Disposition parameters");
    const struct param *name = find_param(prm, n, "name"), *file = find_param(prm, n, "filename"),
                       *ext = find_param(prm, n, "filename*");
    if (!name || !name->value.len)
        return fail(LAIR_EINVAL, msg, msglen, "a part's Content-Disposition has no name");
    if (!(p->name = arena_strndup(a, name->value.ptr, name->value.len)))
        return LAIR_ENOMEM;
    struct str raw;
    if (ext) {
        if (!decode_ext_value(ext->value, a, &raw))
            return fail(LAIR_EUNPROC, msg, msglen,
                        "a filename* parameter must be UTF-8''percent-encoded");
    } else if (file) {
        raw = file->value;
    } else {
        return LAIR_OK;
    }
    return multipart_filename(raw, a, &p->filename, msg, msglen);
}

/* Parses the header lines of one part (hdr, without the blank line). */
static enum lair_err part_headers(struct str hdr, struct arena *a, struct multipart_part *p,
                                  char *msg, size_t msglen)
{
    bool have_cd = false, have_ct = false;
    if (find(hdr.ptr, hdr.len, "\r\n ", 3) || find(hdr.ptr, hdr.len, "\r\n\t", 3) ||
        (hdr.len && (hdr.ptr[0] == ' ' || hdr.ptr[0] == '\t')))
        return fail(LAIR_EINVAL, msg, msglen, "folded part header lines are not accepted");
    while (hdr.len) {
        const char *eol = find(hdr.ptr, hdr.len, "\r\n", 2);
        struct str line = {hdr.ptr, eol ? (size_t)(eol - hdr.ptr) : hdr.len};
        hdr.ptr += line.len + (eol ? 2 : 0);
        hdr.len -= line.len + (eol ? 2 : 0);
        for (size_t i = 0; i < line.len; i++)
            if (line.ptr[i] == '\r' || line.ptr[i] == '\n' || line.ptr[i] == 0)
                return fail(LAIR_EINVAL, msg, msglen, "a part header holds a stray CR, LF or NUL");
        struct str name;
        if (!take_token(&line, &name) || !line.len || *line.ptr != ':')
            return fail(LAIR_EINVAL, msg, msglen,
                        "malformed part header (folded lines are not accepted)");
        line.ptr++, line.len--;
        skip_ows(&line);
        while (line.len && (line.ptr[line.len - 1] == ' ' || line.ptr[line.len - 1] == '\t'))
            line.len--;
        if (name.len == 19 && !strncasecmp(name.ptr, "Content-Disposition", 19)) {
            if (have_cd)
                return fail(LAIR_EINVAL, msg, msglen, "a part has two Content-Disposition headers");
            have_cd = true;
            enum lair_err e = disposition(line, a, p, msg, msglen);
            if (e)
                return e;
        } else if (name.len == 12 && !strncasecmp(name.ptr, "Content-Type", 12)) {
            if (have_ct)
                return fail(LAIR_EINVAL, msg, msglen, "a part has two Content-Type headers");
            have_ct = true;
            p->content_type = line;
        } else if (name.len == 25 && !strncasecmp(name.ptr, "Content-Transfer-Encoding", 25)) {
            if (!(line.len == 6 && !strncasecmp(line.ptr, "binary", 6)) &&
                !(line.len == 4 && !strncasecmp(line.ptr, "8bit", 4)) &&
                !(line.len == 4 && !strncasecmp(line.ptr, "7bit", 4)))
                return fail(LAIR_EINVAL, msg, msglen,
                            "parts must be sent as they are (no Content-Transfer-Encoding)");
        }
    }
    if (!have_cd)
        return fail(LAIR_EINVAL, msg, msglen, "a part has no Content-Disposition header");
    return LAIR_OK;
}

/* After a delimiter at s[i..): "--" (the last one: *last) or optional
 * spaces and CRLF. Returns the offset after it, or 0 when malformed. */
static size_t after_delimiter(struct str s, size_t i, bool *last)
{
    *last = false;
    if (i + 2 <= s.len && s.ptr[i] == '-' && s.ptr[i + 1] == '-') {
        *last = true;
        return i + 2;
    }
    while (i < s.len && (s.ptr[i] == ' ' || s.ptr[i] == '\t'))
        i++;
    if (i + 2 <= s.len && s.ptr[i] == '\r' && s.ptr[i + 1] == '\n')
        return i + 2;
    return 0;
}

enum lair_err multipart_parse(const char *content_type, struct str body,
                              const struct multipart_limits *lim, struct arena *a,
                              struct multipart_part **parts, size_t *n, char *msg, size_t msglen)
{
    *parts = NULL;
    *n = 0;
    size_t max_parts = lim && lim->max_parts ? lim->max_parts : MULTIPART_MAX_PARTS;
    size_t max_hdr =
        lim && lim->max_header_bytes ? lim->max_header_bytes : MULTIPART_MAX_HEADER_BYTES;
    if (!content_type)
        return fail(LAIR_EINVAL, msg, msglen,
                    "the body must be multipart/form-data with one part named 'file' per file");
    struct str boundary = {NULL, 0};
    enum lair_err e = boundary_of(content_type, a, &boundary, msg, msglen);
    if (e)
        return e;
    /* "\r\n--" boundary: the body is searched with the CRLF in front, the
     * first delimiter may also open the body */
    char delim[BOUNDARY_MAX + 5];
    size_t dlen = 4 + boundary.len;
    memcpy(delim, "\r\n--", 4);
    memcpy(delim + 4, boundary.ptr, boundary.len);
    size_t pos;
    if (body.len >= dlen - 2 && !memcmp(body.ptr, delim + 2, dlen - 2)) {
        pos = dlen - 2;
    } else {
        const char *d = find(body.ptr, body.len, delim, dlen);
        if (!d)
            return fail(LAIR_EINVAL, msg, msglen, "the body holds no multipart boundary");
        pos = (size_t)(d - body.ptr) + dlen;
    }
    struct multipart_part *v = arena_alloc(a, max_parts * sizeof(*v));
    if (!v)
        return LAIR_ENOMEM;
    for (;;) {
        bool last;
        pos = after_delimiter(body, pos, &last);
        if (!pos)
            return fail(LAIR_EINVAL, msg, msglen, "malformed multipart delimiter line");
        if (last)
            break;
        if (*n == max_parts)
            return fail(LAIR_ELIMIT, msg, msglen, "more than %zu parts in one upload", max_parts);
        struct str rest = {body.ptr + pos, body.len - pos};
        const char *hend;
        if (rest.len >= 2 && rest.ptr[0] == '\r' && rest.ptr[1] == '\n')
            hend = rest.ptr; /* a part without headers: refused below */
        else
            hend = find(rest.ptr, rest.len < max_hdr + 4 ? rest.len : max_hdr + 4, "\r\n\r\n", 4);
        if (!hend)
            return rest.len > max_hdr
                       ? fail(LAIR_ELIMIT, msg, msglen,
                              "a part's headers are longer than %zu bytes", max_hdr)
                       : fail(LAIR_EINVAL, msg, msglen, "the body ends inside a part's headers");
        struct multipart_part *p = &v[*n];
        memset(p, 0, sizeof(*p));
        size_t hlen = (size_t)(hend - rest.ptr);
        if (hlen > max_hdr)
            return fail(LAIR_ELIMIT, msg, msglen, "a part's headers are longer than %zu bytes",
                        max_hdr);
        if ((e = part_headers((struct str){rest.ptr, hlen}, a, p, msg, msglen)))
            return e;
        size_t data_at = pos + hlen + (hend == rest.ptr ? 2 : 4);
        const char *d = find(body.ptr + data_at, body.len - data_at, delim, dlen);
        if (!d)
            return fail(LAIR_EINVAL, msg, msglen,
                        "the body ends inside a part (no closing boundary): was it cut?");
        p->data = (struct str){body.ptr + data_at, (size_t)(d - body.ptr) - data_at};
        (*n)++;
        pos = (size_t)(d - body.ptr) + dlen;
    }
    if (*n == 0)
        return fail(LAIR_EINVAL, msg, msglen, "the multipart body has no part");
    *parts = v;
    return LAIR_OK;
}
