/* Transactions whose ROLLBACK is prepared in advance. See tx.h. */
#include "store/tx.h"

#include <stddef.h>

#include "store/db.h"

#include "core/banned.h"

enum lair_err tx_begin(sqlite3 *db, const char *begin_sql, sqlite3_stmt **rb)
{
    *rb = NULL;
    int rc = sqlite3_prepare_v2(db, "ROLLBACK", -1, rb, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, begin_sql, NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        return LAIR_OK;
    enum lair_err e = db_err(db, rc);
    sqlite3_finalize(*rb);
    *rb = NULL;
    return e;
}

enum lair_err tx_end(sqlite3 *db, enum lair_err e, sqlite3_stmt *rb)
{
    int rc;
    if (!e && (rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
        e = db_err(db, rc);
    /* an error may have ended the transaction already (SQLite rolls back
     * by itself on some); a ROLLBACK re-prepared because the schema
     * changed may fail like any statement, hence the second try */
    if (e && !sqlite3_get_autocommit(db) && sqlite3_step(rb) != SQLITE_DONE &&
        !sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    sqlite3_finalize(rb);
    return e;
}
