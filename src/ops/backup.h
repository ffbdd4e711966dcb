/* Backups of a whole data directory, taken while the server serves and
 * writes; their verification; and restores into a new data directory that
 * replay the erasures made since the backup (docs/operations.md).
 *
 * A backup is a folder:
 *
 *   manifest.json       what it holds (below)
 *   SHA256SUMS          `sha256sum -c` checks every file, the manifest too
 *   pepper              the data directory's secret (0600): key hashes, audit
 *                       seals and subject tokens are keyed with it
 *   system.db           a consistent copy (store/snapshot.h)
 *   tenants/<slug>/tenant.db                the tenant's consistent copy
 *   tenants/<slug>/erasures.journal         the erasure journal as it was
 *                                           when the tenant was copied
 *   tenants/<slug>/kb/<kb>/uploads/u-…      uploads of pending ingestion jobs
 *
 * manifest.json: {"format": "libreair-backup", "format_version": 1,
 * "libreair_version", "started_at", "started_at_ms", "finished_at",
 * "source" (the data directory, absolute), "pepper_id" (a keyed hash that
 * tells whether two data directories share a pepper, and nothing of it),
 * "databases": [{"path", "kind": "system"|"tenant", "tenant"?,
 * "schema_version"}], "journals": [{"tenant", "path", "length"}],
 * "files": [{"path", "size", "sha256"}]}.
 *
 * Consistency. system.db is copied first, then each tenant that its copy
 * lists: the tenants' audit high-water marks in the system.db copy never
 * run ahead of their logs (docs/audit.md), and a tenant created meanwhile
 * is simply not in the backup. Each tenant's erasure journal length is
 * read before its database is copied (gdpr/journal.h says why that order
 * makes replay complete). Uploads that a copied pending job needs are
 * copied after the database; an upload that is gone by then was processed
 * in between, so the tenant is copied again (at most 5 times). */
#ifndef LAIR_OPS_BACKUP_H
#define LAIR_OPS_BACKUP_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "core/err.h"
#include "ops/files.h"

#define BACKUP_FORMAT "libreair-backup"
#define BACKUP_FORMAT_VERSION 1
#define OPS_PEPPER_ID_HEX 33

/* Receives each problem found (one sentence), or a warning. */
typedef void (*ops_note_fn)(void *ctx, const char *text);

/* The pepper id of a data directory: 16 bytes of BLAKE2b keyed with its
 * audit key (derived from the pepper), in hex. Equal ids: same pepper. */
enum lair_err ops_pepper_id(const char *data_dir, char out[OPS_PEPPER_ID_HEX]);

/* Records an operator action (actor "cli") in the operator's audit log of
 * data_dir; a failure is logged by the audit module. */
void ops_audit_operator(const char *data_dir, const char *action, const char *target,
                        const char *detail);

/* Copies the tenant whose directory is src_dir into dst_dir (created), as
 * a backup does: its erasure journal's complete lines first when journal
 * is set (OUT: *journal_len), then its database, then the uploads its
 * pending jobs need, copying again when one went missing meanwhile. Each
 * file is added to files with its path prefixed by prefix. OUT:
 * *schema_version. LAIR_ENOTFOUND when the tenant's database is gone. */
enum lair_err ops_tenant_copy(const char *src_dir, const char *dst_dir, const char *prefix,
                              bool journal, struct ops_files *files, int *schema_version,
                              uint64_t *journal_len, struct ops_error *err);

struct backup_report {
    int tenants;
    size_t files;
    uint64_t bytes;
    char started_at[32];
};

/* Backs up data_dir into to_dir, which must be absent or an empty folder
 * (LAIR_ECONFLICT otherwise). The backup is written beside it first and
 * renamed into place when complete, so to_dir holds a whole backup or
 * nothing. Records "backup.create" in the operator's audit log. */
enum lair_err backup_create(const char *data_dir, const char *to_dir, struct backup_report *out,
                            struct ops_error *err);

/* Checks the backup in dir: the manifest, every file's size and SHA-256
 * (and SHA256SUMS), no file the manifest does not list, PRAGMA
 * integrity_check and the schema version of every database, that
 * system.db's tenants are the tenant databases present, and that the
 * pepper is there and is the one pepper_id names. Each problem goes
 * to note. LAIR_OK when all is well, LAIR_ECHECKSUM when a problem was
 * found (err has the first one), other errors when the folder cannot be
 * read. OUT (may be NULL): *manifest OWNED (json_decref), when it parsed. */
enum lair_err backup_verify(const char *dir, ops_note_fn note, void *ctx, json_t **manifest,
                            struct ops_error *err);

struct restore_opts {
    const char *from;         /* the backup */
    const char *to;           /* the new data directory: absent or empty */
    const char *journal_from; /* where the live erasure journals are; NULL: the manifest's source */
    bool no_replay;           /* restore without replaying erasures (the operator says why) */
};

struct restore_report {
    int tenants;
    int journal_entries;     /* lines read past the backup's journals */
    int erasures_replayed;   /* subjects found in the backup and erased */
    int erasures_completed;  /* erasures pending in the backup, completed */
    char journal_from[1024]; /* "" when nothing was replayed */
};

/* Verifies the backup, then restores it into o->to: the files are copied
 * beside it, the erasures recorded in the live journals after the backup
 * are replayed and those pending in the copy completed (then the tenants'
 * databases are scrubbed), "backup.restore" is recorded in the operator's
 * audit log, and the folder is renamed into place. Refuses (before
 * writing anything) when o->to is not empty (LAIR_ECONFLICT), when the
 * backup does not verify (LAIR_ECHECKSUM), when it is newer than this
 * program, and, unless o->no_replay, when a tenant's live journal cannot
 * be read or is not the continuation of the one in the backup. Warnings
 * (a tenant gone from the live directory) go to note. */
enum lair_err backup_restore(const struct restore_opts *o, ops_note_fn note, void *ctx,
                             struct restore_report *out, struct ops_error *err);

#endif
