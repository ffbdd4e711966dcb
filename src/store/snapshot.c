/* Database copies and the rows that backups and tenant moves touch
 * (store/snapshot.h). */
#include "store/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "rag/fts.h"
#include "store/db.h"
#include "store/tx.h"
#include "core/banned.h"

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

static enum lair_err open_file(const char *path, int flags, sqlite3 **out)
{
    *out = NULL;
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        enum lair_err e = access(path, F_OK) != 0 ? LAIR_ENOTFOUND : LAIR_EDB;
        if (e != LAIR_ENOTFOUND)
            log_error("store", "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return e;
    }
    sqlite3_busy_timeout(db, 10000);
    *out = db;
    return LAIR_OK;
}

static enum lair_err fsync_file(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return db_file_err(errno);
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    return rc == 0 ? LAIR_OK : db_file_err(err);
}

enum lair_err snapshot_db(const char *src, const char *dst, int *schema_version)
{
    *schema_version = -1;
    if (access(src, F_OK) != 0)
        return LAIR_ENOTFOUND;
    sqlite3 *db;
    /* read-write so that a database in WAL mode can be read whether or not
     * the server has its shared-memory file open; nothing is written */
    enum lair_err e = open_file(src, SQLITE_OPEN_READWRITE, &db);
    if (e)
        return e;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "VACUUM INTO ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, dst, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    e = db_err(db, rc);
    if (e)
        log_error("store", "cannot copy %s: %s", src, sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (e)
        return e;
    /* one self-contained file: rollback journal, not WAL */
    if ((e = open_file(dst, SQLITE_OPEN_READWRITE, &db)))
        return e == LAIR_ENOTFOUND ? LAIR_EDB : e;
    rc = sqlite3_exec(db, "PRAGMA journal_mode=DELETE", NULL, NULL, NULL);
    e = db_err(db, rc);
    if (!e)
        *schema_version = db_version(db);
    sqlite3_close(db);
    if (!e)
        e = fsync_file(dst);
    return e;
}

enum lair_err snapshot_check(const char *path, bool *ok, char *msg, size_t n, int *schema_version)
{
    *ok = false;
    *schema_version = -1;
    snprintf(msg, n, "not checked");
    sqlite3 *db;
    enum lair_err e = open_file(path, SQLITE_OPEN_READONLY, &db);
    if (e) {
        snprintf(msg, n, "cannot open it as a database");
        return e;
    }
    if ((e = fts_register(db))) {
        snprintf(msg, n, "cannot register the full-text tokenizer");
        sqlite3_close(db);
        return e;
    }
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
    if (rc != SQLITE_OK) {
        snprintf(msg, n, "%s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return LAIR_EDB;
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        copy_text(st, 0, msg, n);
        *ok = !strcmp(msg, "ok");
        e = LAIR_OK;
    } else {
        snprintf(msg, n, "%s", sqlite3_errmsg(db));
        e = LAIR_EDB;
    }
    sqlite3_finalize(st);
    if (!e)
        *schema_version = db_version(db);
    sqlite3_close(db);
    return e;
}

/* Runs sql on the database file at path, handing each row's first column
 * as text to fn, in one read transaction. */
static enum lair_err each_text(const char *path, const char *sql,
                               void (*fn)(void *ctx, const char *text), void *ctx)
{
    sqlite3 *db;
    enum lair_err e = open_file(path, SQLITE_OPEN_READONLY, &db);
    if (e)
        return e;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK) {
        log_error("store", "%s: %s", path, sqlite3_errmsg(db));
        sqlite3_close(db);
        return LAIR_EDB;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t)
            fn(ctx, (const char *)t);
    }
    e = db_err(db, rc);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return e;
}

enum lair_err snapshot_tenants(const char *system_db, void (*fn)(void *ctx, const char *slug),
                               void *ctx)
{
    return each_text(system_db, "SELECT slug FROM tenants ORDER BY slug", fn, ctx);
}

enum lair_err snapshot_pending_uploads(const char *tenant_db,
                                       void (*fn)(void *ctx, const char *rel), void *ctx)
{
    /* absolute paths are the files a command line ingestion reads where
     * they are (not the server's): they are not part of the data; the parts
     * of one upload share its file, listed once */
    return each_text(tenant_db,
                     "SELECT f.path FROM job_files f JOIN jobs j ON j.id = f.job_id "
                     "WHERE f.owned = 1 AND f.state = 'pending' AND substr(f.path, 1, 1) <> '/' "
                     "GROUP BY f.path ORDER BY min(f.job_id), min(f.seq)",
                     fn, ctx);
}

enum lair_err snapshot_subjects(struct tenant_db *db, bool (*fn)(void *ctx, const char *subject),
                                void *ctx)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(h,
                                "SELECT subject FROM conversations WHERE subject <> '' "
                                "UNION SELECT subject FROM pseudonyms WHERE subject <> '' "
                                "UNION SELECT subject FROM gdpr_pending",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_mutex_leave(m);
        return LAIR_EDB;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        if (t && !fn(ctx, (const char *)t)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    enum lair_err e = db_err(h, rc);
    sqlite3_finalize(st);
    sqlite3_mutex_leave(m);
    return e;
}

/* ---- keys ---- */

enum lair_err snapshot_keys_read(struct sysdb *s, const char *tenant,
                                 bool (*fn)(void *ctx, const struct snapshot_key *k), void *ctx)
{
    sqlite3 *h = sysdb_handle(s);
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(h,
                                "SELECT id, hash, role, name, assistants, created_at, expires_at, "
                                "revoked_at, last_used_at, rpm_limit, tokens_per_day, member "
                                "FROM api_keys "
                                "WHERE tenant = ?1 ORDER BY created_at, id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_mutex_leave(m);
        return LAIR_EDB;
    }
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    enum lair_err e = LAIR_OK;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct snapshot_key k;
        memset(&k, 0, sizeof(k));
        copy_text(st, 0, k.id, sizeof(k.id));
        if (sqlite3_column_bytes(st, 1) != (int)sizeof(k.hash)) {
            log_error("store", "key %s has a hash of the wrong size", k.id);
            e = LAIR_EDB;
            break;
        }
        memcpy(k.hash, sqlite3_column_blob(st, 1), sizeof(k.hash));
        copy_text(st, 2, k.role, sizeof(k.role));
        copy_text(st, 3, k.name, sizeof(k.name));
        copy_text(st, 4, k.assistants, sizeof(k.assistants));
        k.created_at = sqlite3_column_int64(st, 5);
        k.expires_at = sqlite3_column_int64(st, 6);
        k.revoked_at = sqlite3_column_int64(st, 7);
        k.last_used_at = sqlite3_column_int64(st, 8);
        k.rpm_limit = sqlite3_column_int64(st, 9);
        k.tokens_per_day = sqlite3_column_int64(st, 10);
        copy_text(st, 11, k.member, sizeof(k.member));
        if (!fn(ctx, &k)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    if (!e)
        e = db_err(h, rc);
    sqlite3_finalize(st);
    sqlite3_mutex_leave(m);
    return e;
}

enum lair_err snapshot_key_exists(struct sysdb *s, const char *id, bool *out)
{
    *out = false;
    sqlite3 *h = sysdb_handle(s);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, "SELECT 1 FROM api_keys WHERE id = ?1", -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW;
    enum lair_err e = db_err(h, rc);
    sqlite3_finalize(st);
    return e;
}

static enum lair_err insert_key(sqlite3 *h, const char *tenant, const struct snapshot_key *k)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h,
                           "INSERT INTO api_keys(id, hash, role, tenant, created_at, expires_at, "
                           "revoked_at, name, assistants, last_used_at, rpm_limit, tokens_per_day, "
                           "member) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                           -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, k->id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, k->hash, sizeof(k->hash), SQLITE_STATIC);
    sqlite3_bind_text(st, 3, k->role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, k->created_at);
    sqlite3_bind_int64(st, 6, k->expires_at);
    sqlite3_bind_int64(st, 7, k->revoked_at);
    sqlite3_bind_text(st, 8, k->name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, k->assistants, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 10, k->last_used_at);
    sqlite3_bind_int64(st, 11, k->rpm_limit);
    sqlite3_bind_int64(st, 12, k->tokens_per_day);
    sqlite3_bind_text(st, 13, k->member, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum lair_err e = rc == SQLITE_DONE                  ? LAIR_OK
                      : (rc & 0xff) == SQLITE_CONSTRAINT ? LAIR_ECONFLICT
                                                         : db_err(h, rc);
    sqlite3_finalize(st);
    return e;
}

enum lair_err snapshot_keys_insert(struct sysdb *s, const char *tenant,
                                   const struct snapshot_key *keys, size_t n)
{
    sqlite3 *h = sysdb_handle(s);
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    sqlite3_stmt *rb;
    enum lair_err e = tx_begin(h, "BEGIN IMMEDIATE", &rb);
    if (e) {
        sqlite3_mutex_leave(m);
        return e;
    }
    for (size_t i = 0; i < n && !e; i++)
        e = insert_key(h, tenant, &keys[i]);
    e = tx_end(h, e, rb);
    sqlite3_mutex_leave(m);
    return e;
}

enum lair_err snapshot_audit_head_set(const char *path, const char *head)
{
    sqlite3 *db;
    enum lair_err e = open_file(path, SQLITE_OPEN_READWRITE, &db);
    if (e)
        return e;
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(
        db, "INSERT OR REPLACE INTO settings(key, value) VALUES ('audit.head', ?1)", -1, &st,
        NULL); /* the key store/audit_store.c keeps the head under */
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, head, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_finalize(st);
    }
    e = db_err(db, rc);
    sqlite3_close(db);
    return e;
}

enum lair_err snapshot_open(const char *path, bool write, sqlite3 **out)
{
    return open_file(path, write ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY, out);
}

void snapshot_close(sqlite3 *db)
{
    sqlite3_close(db);
}
