/* A tenant's own settings: the rows of its database's settings table that
 * its admins set through the API (GET/PATCH /api/v1/settings), as opposed
 * to the limits the operator sets in system.db. One key, one text value.
 * Keys the program reads: "remote_inference" ("masked", the default, or
 * "forbidden": the tenant's requests never go to a remote upstream). */
#ifndef LAIR_STORE_SETTINGS_H
#define LAIR_STORE_SETTINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "core/err.h"
#include "store/tenant.h"

/* OUT: out (NUL-terminated, at most cap - 1 bytes), *found. LAIR_EDB. */
enum lair_err tenant_setting_get(struct tenant_db *db, const char *key, char *out, size_t cap,
                                 bool *found);
/* Sets (or replaces) key. LAIR_EDB, LAIR_ESTORAGE. */
enum lair_err tenant_setting_set(struct tenant_db *db, const char *key, const char *value);

/* True when the tenant forbids remote inference (missing setting: false). */
bool tenant_forbids_remote(struct tenant_db *db);

#endif
