/* Per-tenant storage: every organisation owns DATA/tenants/<slug>/ with its
 * own SQLite database (tenant.db) and files. A handler reaches a tenant's
 * database only through the principal that authenticated the request
 * (api_tenant_db in src/api/), never from a slug in the path or the body.
 *
 * struct tenants keeps one open connection per tenant, opened on first use
 * and closed when the tenant is deleted. Every module that stores tenant data
 * (assistants, conversations, audit, knowledge bases) adds its tables to the
 * migration list in tenant.c and its statements in its own store file. */
#ifndef LAIR_TENANT_H
#define LAIR_TENANT_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/db.h"
#include "store/system.h"

struct tenants;
struct tenant_db;
struct vcache;

/* OWNED: tenants_free. */
enum lair_err tenants_new(const char *data_dir, struct sysdb *sys, struct tenants **out);
void tenants_free(struct tenants *t);

/* Creates the tenant: row in system.db, directory (0700) and migrated
 * database. LAIR_ECONFLICT if it exists, LAIR_EINVAL for a bad slug. On
 * failure nothing is left behind. */
enum lair_err tenants_create(struct tenants *t, const char *slug, const char *name);
/* Deletes the tenant: revokes (deletes) its keys, closes its database once
 * no request uses it, and removes its directory with everything in it. */
enum lair_err tenants_delete(struct tenants *t, const char *slug);

/* Borrows the tenant's database; release with tenant_db_put. LAIR_ENOTFOUND
 * when the tenant does not exist (or is being deleted). */
enum lair_err tenants_get(struct tenants *t, const char *slug, struct tenant_db **out);
void tenant_db_put(struct tenant_db *db);

/* For src/store/ modules only: the connection (FULLMUTEX, shared by threads)
 * and the tenant's slug and directory. */
sqlite3 *tenant_db_handle(struct tenant_db *db);
const char *tenant_db_slug(const struct tenant_db *db);
const char *tenant_db_dir(const struct tenant_db *db);
/* The system database the tenant was opened through (BORROWED; NULL when
 * tenants_new was given none): it keeps the tenant's audit high-water mark. */
struct sysdb *tenant_db_sysdb(struct tenant_db *db);
/* The vector snapshots of searches (store/vcache.h), shared by all tenants
 * of t, with its byte budget (VCACHE_DEFAULT_MIB until set). BORROWED. */
struct vcache *tenants_vectors(struct tenants *t);
struct vcache *tenant_db_vectors(struct tenant_db *db);

/* Runs fn inside BEGIN IMMEDIATE ... COMMIT (ROLLBACK when fn fails). */
enum lair_err tenant_db_tx(struct tenant_db *db, enum lair_err (*fn)(sqlite3 *, void *), void *arg);

/* The tenant schema's version count (for migration tests). */
int tenant_schema_version(void);
/* The migration list (for tests that migrate from every earlier version). */
const struct db_migration *tenant_schema(int *n);

#endif
