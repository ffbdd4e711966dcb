/* Strings as pointer + length, and one growing byte buffer with a size cap.
 *
 * struct str is passed by value and never owns its bytes. struct buf owns its
 * storage (free with buf_release), is always NUL-terminated so that its ptr can
 * go to C APIs, and refuses to grow past its cap (LAIR_ETOOBIG). */
#ifndef LAIR_STR_H
#define LAIR_STR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"

struct str {
    const char *ptr;
    size_t len;
};

#define S(lit) ((struct str){(lit), sizeof(lit) - 1})
#define STR_FMT "%.*s"
#define STR_ARG(s) (int)(s).len, (s).ptr

/* A str over a NUL-terminated C string (NULL gives the empty string). */
struct str str_c(const char *s);
bool str_eq(struct str a, struct str b);
bool str_eq_c(struct str a, const char *b);
bool str_starts(struct str s, struct str prefix);
/* Index of the first occurrence of needle in s, or -1. */
long str_find(struct str s, struct str needle);
/* s without leading and trailing ASCII whitespace. */
struct str str_trim(struct str s);

struct buf {
    char *ptr; /* OWNED: NUL-terminated when non-NULL */
    size_t len, cap, max;
};

/* A buffer that will not grow past max bytes (0 means 64 MiB). */
void buf_init(struct buf *b, size_t max);
void buf_release(struct buf *b);
void buf_reset(struct buf *b);
enum lair_err buf_append(struct buf *b, const void *data, size_t len);
enum lair_err buf_puts(struct buf *b, const char *s);
enum lair_err buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
enum lair_err buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Hands the storage to the caller (OWNED, free with free()); b is emptied. */
char *buf_detach(struct buf *b, size_t *len);
/* Copies s into out[n] with anything but printable ASCII replaced by '?', so
 * that a client's text (a field name) can be quoted in an error message
 * without breaking its JSON. */
void str_printable(char *out, size_t n, const char *s);
/* Appends s with &, <, >, " and ' written as HTML character references. */
enum lair_err buf_html(struct buf *b, const char *s);
static inline struct str buf_str(const struct buf *b)
{
    return (struct str){b->ptr ? b->ptr : "", b->len};
}

/* True when the bytes are well-formed UTF-8 (no overlongs, no surrogates). */
bool utf8_valid(const char *s, size_t len);
/* Length of the longest prefix of s that does not end inside a UTF-8
 * sequence: lets a stream emit only whole characters. */
size_t utf8_complete_prefix(const char *s, size_t len);

#endif
