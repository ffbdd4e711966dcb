/* The erasure journal: an append-only file beside each tenant's database,
 * DATA/tenants/<slug>/erasures.journal, one line per erasure request:
 *
 *   v1 <unix time> sh_<32 hex digits>\n
 *
 * the subject's audit token (gdpr/subject.h), never the subject id. It
 * exists for backups (docs/operations.md): a backup copies the journal as
 * it is when the backup starts and records its length; a restore replays
 * the lines that the live journal gained since, so that a subject erased
 * after the backup stays erased in the restored data.
 *
 * Ordering. gdpr_erase appends the line after the erasure's gdpr_pending
 * row has committed and before anything is deleted, and recovery appends
 * it again for every pending row it resumes (a crash between the two left
 * none). So a line that a backup's recorded length covers belongs to an
 * erasure whose pending row was committed before the backup read the
 * database: the copy holds either that row (the restore completes it) or
 * nothing of the subject. Lines may repeat; replaying one twice is
 * harmless.
 *
 * Each append is one write() of the whole line on a descriptor opened with
 * O_APPEND, then fsync (and of the folder, when the file was created). */
#ifndef LAIR_GDPR_JOURNAL_H
#define LAIR_GDPR_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/gdpr_store.h"

#define GDPR_JOURNAL_NAME "erasures.journal"

/* Appends "v1 <ts> <token>" to tenant_dir/erasures.journal, durably.
 * LAIR_EINVAL for a token not of the form sh_<hex>; LAIR_ESTORAGE when the
 * disk is full; LAIR_EIO for other failures. */
enum lair_err gdpr_journal_append(const char *tenant_dir, const char *token, int64_t ts);

struct gdpr_journal_entry {
    int64_t ts;
    char token[GDPR_TOKEN_MAX];
};

/* Hands fn every well-formed entry of the journal file at path that starts
 * at byte `from` or later, in order (fn returns false to stop). A missing
 * file reads as empty. A last line without its newline (an append in
 * progress) is not read. Lines that are not well-formed are skipped and
 * counted in *bad (may be NULL). LAIR_EIO when the file cannot be read. */
enum lair_err gdpr_journal_read(const char *path, uint64_t from,
                                bool (*fn)(void *ctx, const struct gdpr_journal_entry *e),
                                void *ctx, int *bad);

/* The length of the journal's complete lines (up to and with its last
 * newline): what a backup copies. 0 for a missing file. */
enum lair_err gdpr_journal_length(const char *path, uint64_t *out);

#endif
