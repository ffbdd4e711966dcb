/* Shared database settings and the migration runner. */
#include "store/db.h"

#include <errno.h>
#include <stdio.h>

#include "core/log.h"
#include "core/banned.h"

int db_version(sqlite3 *db)
{
    sqlite3_stmt *st;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int(st, 0);
        sqlite3_finalize(st);
    }
    return v;
}

enum lair_err db_file_err(int errnum)
{
#ifdef EDQUOT
    if (errnum == EDQUOT)
        return LAIR_ESTORAGE;
#endif
    return errnum == ENOSPC ? LAIR_ESTORAGE : LAIR_EIO;
}

enum lair_err db_err(sqlite3 *db, int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE: return LAIR_OK;
    case SQLITE_FULL: return LAIR_ESTORAGE;
    case SQLITE_IOERR:
        /* a short write is SQLITE_FULL already; an fsync or a truncate that
         * runs out of room shows as an I/O error with the errno kept */
        return db && db_file_err(sqlite3_system_errno(db)) == LAIR_ESTORAGE ? LAIR_ESTORAGE
                                                                            : LAIR_EDB;
    default: return LAIR_EDB;
    }
}

static enum lair_err exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK) {
        enum lair_err e = db_err(db, rc);
        log_error("store", "%s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        return e;
    }
    return LAIR_OK;
}

static enum lair_err migrate(sqlite3 *db, const struct db_migration *migs, int n)
{
    int v = db_version(db);
    if (v < 0)
        return LAIR_EDB;
    if (v > n) {
        log_error("store", "database version %d is newer than this program (%d)", v, n);
        return LAIR_EDB;
    }
    for (; v < n; v++) {
        char pragma[64];
        snprintf(pragma, sizeof(pragma), "PRAGMA user_version=%d", v + 1);
        enum lair_err e = exec(db, "BEGIN IMMEDIATE");
        if (e)
            return e;
        if ((e = exec(db, migs[v].sql)) || (e = exec(db, pragma))) {
            exec(db, "ROLLBACK");
            return e;
        }
        if ((e = exec(db, "COMMIT")))
            return e;
    }
    return LAIR_OK;
}

enum lair_err db_open(const char *path, const struct db_migration *migs, int n_migs,
                      sqlite3 **out)
{
    return db_open_ex(path, migs, n_migs, NULL, out);
}

enum lair_err db_open_ex(const char *path, const struct db_migration *migs, int n_migs,
                         enum lair_err (*setup)(sqlite3 *db), sqlite3 **out)
{
    sqlite3 *db = NULL;
    *out = NULL;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        log_error("store", "cannot open %s: %s", path, db ? sqlite3_errmsg(db) : "no memory");
        sqlite3_close(db);
        return LAIR_EDB;
    }
    sqlite3_busy_timeout(db, 5000);
    /* WAL for concurrent readers; synchronous=FULL so an acknowledged write
     * survives power loss; secure_delete so erased data leaves no trace in
     * free pages (GDPR erasure). */
    enum lair_err e = exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                               "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;");
    if (!e && setup && (e = setup(db)) != LAIR_OK)
        log_error("store", "cannot set up the connection to %s: %s", path, lair_err_msg(e));
    if (!e)
        e = migrate(db, migs, n_migs);
    if (e) {
        sqlite3_close(db);
        return e;
    }
    *out = db;
    return LAIR_OK;
}

void db_close(sqlite3 *db) { sqlite3_close(db); }
