/* SQLite access for the whole program: opening databases with the settings
 * every LibreAIr database shares (WAL, foreign keys, secure_delete, busy
 * timeout) and running versioned migrations. Only src/store/ speaks SQL. */
#ifndef LAIR_DB_H
#define LAIR_DB_H

#include <sqlite3.h>

#include "core/err.h"

/* One migration: the SQL that takes a database from version (index) to
 * version (index + 1). Migrations are append-only: never edit a released one. */
struct db_migration {
    const char *sql;
};

/* Opens (creating if needed) path with the shared settings, then applies the
 * migrations the file has not seen yet, each in its own transaction, recording
 * the version in PRAGMA user_version. OUT: *out OWNED, close with db_close.
 * Errors: LAIR_EDB (also when the file is newer than this program). */
enum lair_err db_open(const char *path, const struct db_migration *migs, int n_migs,
                      sqlite3 **out);
/* Like db_open, with setup(db) run on the new connection after the shared
 * settings and before the migrations: for what a schema needs on every
 * connection, such as an FTS5 tokenizer (the tenant schema's "lair_fr").
 * setup may be NULL; its failure closes the connection and is returned. */
enum lair_err db_open_ex(const char *path, const struct db_migration *migs, int n_migs,
                         enum lair_err (*setup)(sqlite3 *db), sqlite3 **out);
void db_close(sqlite3 *db);
/* Current PRAGMA user_version. */
int db_version(sqlite3 *db);

/* The error that SQLite result code rc (primary or extended) stands for:
 * LAIR_ESTORAGE when there is no room to write (SQLITE_FULL: the disk, a
 * quota or the database's page limit is full; or an I/O error whose system
 * errno on db is ENOSPC or EDQUOT), LAIR_OK for SQLITE_OK, SQLITE_ROW and
 * SQLITE_DONE, else LAIR_EDB. db may be NULL. Every store module translates
 * SQLite failures with it, so that a full disk reaches the client as 507
 * (which it can act on) instead of a bare 500. Call it before any other use
 * of db (a ROLLBACK resets the system errno). */
enum lair_err db_err(sqlite3 *db, int rc);
/* The same for a failed file write (write, fsync, mkdir, rename): errnum
 * ENOSPC or EDQUOT gives LAIR_ESTORAGE, anything else LAIR_EIO. */
enum lair_err db_file_err(int errnum);

#endif
