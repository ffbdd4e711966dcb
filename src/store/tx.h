/* Transactions that always end. A ROLLBACK run with sqlite3_exec is
 * prepared like any statement, so it fails when memory does (SQLITE_NOMEM),
 * and the connection stays inside the transaction: holding the write lock
 * that every other writer then waits for, and taking every later statement
 * on that (shared) connection into a transaction that nothing commits, so
 * that writes acknowledged afterwards are lost when it closes. tx_begin
 * prepares the ROLLBACK before the transaction starts; stepping a prepared
 * ROLLBACK needs no memory (tests/unit/test_torture.c fails allocations to
 * check it). */
#ifndef LAIR_TX_H
#define LAIR_TX_H

#include <sqlite3.h>

#include "core/err.h"

/* Prepares the ROLLBACK, then runs begin_sql ("BEGIN", "BEGIN IMMEDIATE").
 * OUT: *rb, for tx_end (NULL on error). Errors as db_err (db.h); nothing
 * is begun then. */
enum lair_err tx_begin(sqlite3 *db, const char *begin_sql, sqlite3_stmt **rb);

/* Ends the transaction: COMMIT when e is LAIR_OK, else (or when the COMMIT
 * fails) rolls back with rb, and finalizes rb. Returns e, or the COMMIT's
 * error (as db_err, read before the rollback resets the system errno). */
enum lair_err tx_end(sqlite3 *db, enum lair_err e, sqlite3_stmt *rb);

#endif
