/* The container of a tenant archive (`libreair tenant export`): a POSIX
 * ustar file of regular files only, so that an operator can look inside
 * with `tar tvf` and take one member out with `tar xOf FILE manifest.json`.
 * Sizes of 8 GiB and more use the base-256 size field (GNU tar and
 * bsdtar read it).
 *
 * The reader accepts regular files only and checks each header's checksum;
 * member names come back as written, and the caller checks them against
 * its manifest (ops_relpath_safe) before it writes anything. */
#ifndef LAIR_OPS_TAR_H
#define LAIR_OPS_TAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "ops/files.h"

#define TAR_NAME_MAX 256

struct tar_writer {
    int fd;
    struct ops_sha256 sha; /* of every byte written: the archive's checksum */
};

/* Creates path (0600; it must not exist). */
enum lair_err tar_write_open(struct tar_writer *w, const char *path);
/* Appends a member named name (at most 100 bytes) with the content of the
 * file at src. */
enum lair_err tar_write_file(struct tar_writer *w, const char *name, const char *src);
/* Appends a member with the n bytes at p. */
enum lair_err tar_write_bytes(struct tar_writer *w, const char *name, const void *p, size_t n);
/* Writes the end of the archive, fsyncs and closes it. OUT: the archive's
 * SHA-256. On error the file is closed (the caller removes it). */
enum lair_err tar_write_finish(struct tar_writer *w, char hex[OPS_SHA256_HEX]);
/* Closes without finishing (after an error). */
void tar_write_abort(struct tar_writer *w);

struct tar_reader {
    int fd;
    uint64_t left;    /* bytes of the current member not read yet */
    uint64_t padding; /* bytes after it up to the next header */
};

enum lair_err tar_read_open(struct tar_reader *r, const char *path);
/* The next member's header. OUT: name, *size. LAIR_ENOTFOUND at the end of
 * the archive; LAIR_EUNSUPPORTED for a member that is not a regular file;
 * LAIR_ECHECKSUM for a damaged header; LAIR_EIO when truncated. The
 * content of the previous member, if not read, is skipped. */
enum lair_err tar_read_next(struct tar_reader *r, char name[TAR_NAME_MAX], uint64_t *size);
/* Writes the current member's content to dst (0600; must not exist),
 * fsynced. OUT: its SHA-256. */
enum lair_err tar_read_extract(struct tar_reader *r, const char *dst, char hex[OPS_SHA256_HEX]);
/* Reads the current member into memory when it is at most max bytes.
 * OUT: *out OWNED (free()), NUL-terminated. LAIR_ETOOBIG when larger. */
enum lair_err tar_read_bytes(struct tar_reader *r, size_t max, char **out, size_t *n);
void tar_read_close(struct tar_reader *r);

#endif
