/* A tenant's own settings (settings.h), in its database's settings table. */
#include "store/settings.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#include "store/db.h"

#include "core/banned.h"

enum lair_err tenant_setting_get(struct tenant_db *db, const char *key, char *out, size_t cap,
                                 bool *found)
{
    sqlite3_stmt *st;
    *found = false;
    if (cap)
        out[0] = 0;
    if (sqlite3_prepare_v2(tenant_db_handle(db), "SELECT value FROM settings WHERE key = ?1", -1,
                           &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *found = true;
        snprintf(out, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err tenant_setting_set(struct tenant_db *db, const char *key, const char *value)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(h, "INSERT INTO settings (key, value) VALUES (?1, ?2) "
                              "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                           -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum lair_err e = db_err(h, rc);
    sqlite3_finalize(st);
    return e;
}

bool tenant_forbids_remote(struct tenant_db *db)
{
    char v[32];
    bool found;
    return tenant_setting_get(db, "remote_inference", v, sizeof(v), &found) == LAIR_OK && found &&
           !strcmp(v, "forbidden");
}
