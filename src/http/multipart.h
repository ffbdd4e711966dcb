/* multipart/form-data (RFC 7578, RFC 2046 §5.1) over a buffered request
 * body: what file uploads arrive as. The parser is strict, since the body
 * comes from anyone with a key: CRLF line ends, a boundary of 1..70 allowed
 * characters taken from the Content-Type header, a Content-Disposition of
 * type form-data with a name in every part, no folded header lines, no
 * transfer encoding but 7bit/8bit/binary, and limits on the number of parts
 * and the size of each part's headers. Part contents are not copied: they
 * point into the body.
 *
 * File names are checked, not repaired (multipart_filename): a name is
 * refused when it holds a path separator ('/' or '\'), is "." or "..", holds
 * a control character, a NUL, a bidirectional override (which makes a name
 * display as another) or invalid UTF-8, or is longer than 255 bytes. So a
 * file is known by its base name only, and a name is never used to build a
 * path (stored files get random names). Names are put in Unicode NFC, so
 * that a name typed on macOS (NFD) and on Windows (NFC) is the same. */
#ifndef LAIR_HTTP_MULTIPART_H
#define LAIR_HTTP_MULTIPART_H

#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"

#define MULTIPART_MAX_PARTS 256
#define MULTIPART_MAX_HEADER_BYTES 8192 /* one part's header lines, together */
#define MULTIPART_FILENAME_MAX 255      /* bytes, after NFC */

struct multipart_limits {
    size_t max_parts;        /* 0 = MULTIPART_MAX_PARTS */
    size_t max_header_bytes; /* 0 = MULTIPART_MAX_HEADER_BYTES */
};

struct multipart_part {
    const char *name;        /* ARENA: the form field's name */
    const char *filename;    /* ARENA: the checked file name, NULL when the part has none */
    struct str content_type; /* BORROWED from the body; empty when the part has none */
    struct str data;         /* BORROWED from the body */
};

/* Parses body as multipart/form-data with the boundary of content_type (the
 * request's Content-Type header). lim may be NULL. OUT: *parts (ARENA: a)
 * in body order, *n >= 1. On error msg (msglen bytes) says what is wrong:
 *   LAIR_EINVAL   not multipart/form-data, no or bad boundary, malformed or
 *                 truncated body, no part
 *   LAIR_ELIMIT   too many parts, or a part's headers too long
 *   LAIR_EUNPROC  a file name refused (see above)
 *   LAIR_ENOMEM   the arena is full */
enum lair_err multipart_parse(const char *content_type, struct str body,
                              const struct multipart_limits *lim, struct arena *a,
                              struct multipart_part **parts, size_t *n, char *msg, size_t msglen);

/* Checks a file name as received and returns it in NFC. OUT: *out ARENA.
 * LAIR_EUNPROC with msg when refused, LAIR_ENOMEM. */
enum lair_err multipart_filename(struct str raw, struct arena *a, const char **out, char *msg,
                                 size_t msglen);

#endif
