/* The SQL of backups and tenant moves (src/ops/, docs/operations.md):
 * consistent copies of live databases, checks of copies, and the few rows
 * that a backup, a restore or a move reads or writes outside the modules
 * that own them.
 *
 * Copies are made with VACUUM INTO through a connection of their own: in
 * WAL mode it reads one committed state of the database while the server
 * goes on writing (nobody waits for it, it waits for nobody), and the copy
 * is rebuilt from the live rows only, so that it carries no free pages and
 * no stale bytes of deleted rows (docs/gdpr.md, "Deleted means gone"). The
 * copy is then switched to rollback-journal mode, so that it is one
 * self-contained file that a read-only check creates nothing beside, and
 * fsynced. */
#ifndef LAIR_STORE_SNAPSHOT_H
#define LAIR_STORE_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "store/system.h"
#include "store/tenant.h"

/* Copies the database at src (which must exist; it is not created or
 * migrated) to dst, which must not exist. OUT: *schema_version, the copy's
 * PRAGMA user_version. LAIR_ENOTFOUND when src does not exist, LAIR_ESTORAGE
 * when the disk is full, LAIR_EDB otherwise. */
enum lair_err snapshot_db(const char *src, const char *dst, int *schema_version);

/* PRAGMA integrity_check of the database file at path, opened read-only
 * (with the French tokenizer registered, which the tenant schema's
 * full-text index needs). OUT: *ok, the first problem in msg (n bytes), and
 * *schema_version. An error only when the file cannot be opened or read as
 * a database at all (then *ok is false and msg says why). */
enum lair_err snapshot_check(const char *path, bool *ok, char *msg, size_t n, int *schema_version);

/* The tenants of a system.db copy (or of a live one, read in one
 * transaction): fn(ctx, slug) for each, in slug order. */
enum lair_err snapshot_tenants(const char *system_db, void (*fn)(void *ctx, const char *slug),
                               void *ctx);

/* The uploads that a tenant database copy still needs: files of ingestion
 * jobs that are pending and that the server owns (stored under the tenant's
 * directory, paths relative to it). fn(ctx, path) for each. */
enum lair_err snapshot_pending_uploads(const char *tenant_db,
                                       void (*fn)(void *ctx, const char *rel), void *ctx);

/* Every subject id the tenant holds data about (conversations, pseudonym
 * mappings, pending erasures), each once. fn returns false to stop. For a
 * restore, which finds the subjects erased since a backup by their tokens. */
enum lair_err snapshot_subjects(struct tenant_db *db, bool (*fn)(void *ctx, const char *subject),
                                void *ctx);

/* One row of api_keys as stored: what a tenant move carries. */
struct snapshot_key {
    char id[KEY_ID_LEN + 1];
    unsigned char hash[32]; /* keyed with the data directory's pepper */
    char role[16];          /* as stored (store/system.c) */
    char name[128];
    char assistants[512];
    int64_t created_at, expires_at, revoked_at, last_used_at, rpm_limit, tokens_per_day;
    char member[KEY_ID_LEN + 1]; /* a personal key's member (store/people.h); "" none */
};

/* The tenant's keys (revoked ones too), oldest first. fn returns false to stop. */
enum lair_err snapshot_keys_read(struct sysdb *s, const char *tenant,
                                 bool (*fn)(void *ctx, const struct snapshot_key *k), void *ctx);
/* Whether a key with this id exists in s (any tenant). */
enum lair_err snapshot_key_exists(struct sysdb *s, const char *id, bool *out);
/* Inserts keys[0..n) as keys of tenant, all or none (one transaction).
 * LAIR_ECONFLICT when an id exists already. */
enum lair_err snapshot_keys_insert(struct sysdb *s, const char *tenant,
                                   const struct snapshot_key *keys, size_t n);

/* A connection of one's own to the database file at path (read-only
 * unless write), for the audit functions that take a connection
 * (audit_log_conn). OUT: *out OWNED, snapshot_close. */
enum lair_err snapshot_open(const char *path, bool write, sqlite3 **out);
void snapshot_close(sqlite3 *db);

/* Stores head as the audit log's sealed head (settings "audit.head") of the
 * database file at path, which no one else has open: for an imported
 * tenant, whose head is sealed again under its new data directory's key
 * and scope (docs/operations.md). */
enum lair_err snapshot_audit_head_set(const char *path, const char *head);

#endif
