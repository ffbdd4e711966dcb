/* File helpers shared by backups and tenant moves (src/ops/): SHA-256 of
 * files, durable copies, folders, the relative paths a manifest may name,
 * and the one-sentence errors that the commands print.
 *
 * Every file these helpers create is mode 0600 and every folder 0700: a
 * backup holds the pepper and every tenant's data (docs/operations.md). */
#ifndef LAIR_OPS_FILES_H
#define LAIR_OPS_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "core/err.h"

#define OPS_SHA256_HEX 65 /* 64 hex digits and the NUL */
#define OPS_PATH_MAX 4096

/* What went wrong, for a person: one sentence that names the file or the
 * tenant. The first failure recorded wins. */
struct ops_error {
    char text[1024];
};

/* snprintf for paths: a path that does not fit in n bytes comes out as ""
 * (which nothing opens) rather than cut to another path. Returns false
 * then. */
bool ops_pathf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* snprintf for text, cut when it does not fit. */
void ops_textf(char *out, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Records the sentence (unless one is recorded already) and returns e. */
enum lair_err ops_fail(struct ops_error *err, enum lair_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A running SHA-256. */
struct ops_sha256 {
    crypto_hash_sha256_state st;
};
void ops_sha256_init(struct ops_sha256 *h);
void ops_sha256_update(struct ops_sha256 *h, const void *p, size_t n);
void ops_sha256_final(struct ops_sha256 *h, char hex[OPS_SHA256_HEX]);

/* The SHA-256 and size of the file at path. LAIR_ENOTFOUND when missing,
 * LAIR_EIO when unreadable. */
enum lair_err ops_file_sha256(const char *path, char hex[OPS_SHA256_HEX], uint64_t *size);

/* Copies the first `limit` bytes of src (UINT64_MAX: all of it) to dst,
 * which must not exist (created 0600, fsynced). OUT (may be NULL): the
 * copy's SHA-256 and size. LAIR_ENOTFOUND when src is missing,
 * LAIR_ESTORAGE when the disk is full, LAIR_EIO otherwise; a failed copy
 * leaves no dst. */
enum lair_err ops_copy_file(const char *src, const char *dst, uint64_t limit,
                            char hex[OPS_SHA256_HEX], uint64_t *size);

/* Makes the folder beside target (target.<what>-<pid>) that work is done
 * in before it is renamed to target, removing a leftover of a crashed run
 * with the same pid; the folders above it are created. */
enum lair_err ops_stage_beside(const char *target, const char *what, char *stage, size_t n);

/* Creates dir and its missing parents (0700). */
enum lair_err ops_mkdirs(const char *dir);
/* fsync of a folder, so that the entries created in it last. */
enum lair_err ops_sync_dir(const char *dir);
/* Removes dir with everything in it (no error when it is absent). */
void ops_remove_tree(const char *dir);
/* OUT: *exists, and *empty (no entry but . and ..) when it is a folder.
 * LAIR_EINVAL when path exists and is not a folder. */
enum lair_err ops_dir_state(const char *path, bool *exists, bool *empty);
/* The folder that holds path (a copy into out, n bytes): "." for a bare
 * name. */
void ops_parent(const char *path, char *out, size_t n);

/* True when rel is a path a manifest may name: relative, made of
 * components of [A-Za-z0-9._-] that are not "." or "..", at most 255
 * bytes. Nothing outside the folder it is joined to can be reached. */
bool ops_relpath_safe(const char *rel);

/* Writes the n bytes at p to path (created 0600, must not exist), fsynced. */
enum lair_err ops_write_file(const char *path, const void *p, size_t n);
/* Reads the whole file at path, at most max bytes. OUT: *out OWNED (free()),
 * NUL-terminated, *n. LAIR_ETOOBIG when larger than max. */
enum lair_err ops_read_file(const char *path, size_t max, char **out, size_t *n);

/* The files a manifest lists: path relative to its folder, size, SHA-256. */
struct ops_file {
    char path[OPS_PATH_MAX / 8];
    uint64_t size;
    char sha256[OPS_SHA256_HEX];
};

struct ops_files {
    struct ops_file *v; /* OWNED: ops_files_release */
    size_t n, cap;
};

enum lair_err ops_files_add(struct ops_files *l, const char *path, uint64_t size,
                            const char sha256[OPS_SHA256_HEX]);
/* Adds the file at dir/rel, hashing it. */
enum lair_err ops_files_add_hashed(struct ops_files *l, const char *dir, const char *rel);
/* The entry for path, or NULL. */
const struct ops_file *ops_files_find(const struct ops_files *l, const char *path);
void ops_files_release(struct ops_files *l);

/* Current time in milliseconds since the epoch, and as
 * "2025-05-31T12:00:00.123Z". */
int64_t ops_now_ms(void);
void ops_format_ms(int64_t ms, char out[32]);

#endif
