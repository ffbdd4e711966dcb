/* The system database (DATA/system.db): API keys as keyed hashes, tenants
 * and their limits, and the operator's data (people and sessions:
 * store/people.h; schema versions: the migration list in system.c).
 *
 * A key reads "lair_<id>_<secret>": the id (12 hex digits) finds the row, the
 * secret (32 random bytes, base64url) is checked against a BLAKE2b hash keyed
 * with DATA/pepper, in constant time. The secret itself is never stored. */
#ifndef LAIR_SYSTEM_H
#define LAIR_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "store/db.h"

struct sysdb;

#define KEY_ID_LEN 12
#define KEY_TEXT_MAX 80

enum key_role { ROLE_USER = 1, ROLE_EDITOR = 2, ROLE_ADMIN = 3, ROLE_OPERATOR = 4 };

#define SLUG_MAX 63

struct principal {
    char key_id[KEY_ID_LEN + 1];
    enum key_role role;
    char tenant[SLUG_MAX + 1]; /* "" for the operator */
    char assistants[512];      /* comma-separated allowed assistant slugs; "" = all */
    int64_t rpm_limit;         /* requests per minute for this key; 0 = none */
    int64_t tokens_per_day;    /* tokens per day for this key; 0 = none */
};

struct key_spec {
    enum key_role role;
    const char *tenant;     /* NULL for an operator key */
    const char *name;       /* label shown in listings; may be NULL */
    const char *assistants; /* comma-separated slugs; NULL or "" = all; user keys only */
    int64_t expires_at;     /* unix time; 0 = never */
    int64_t rpm_limit, tokens_per_day;
    const char *member; /* a personal key: revoked with this member (store/people.h); NULL: none */
};

/* Bounds on what a client may ask for, so that adding them to a time or
 * multiplying them never overflows (docs/roles.md, docs/quotas.md). */
#define KEY_EXPIRES_IN_MAX ((int64_t)36500 * 86400) /* 100 years, in seconds */
#define LIMIT_MAX ((int64_t)1 << 40)                /* rpm, tokens per day */
#define RETENTION_DAYS_MAX 3650                     /* a tenant's default retention */

/* Parses a key lifetime: "30d", "12h", "15m", "90s" or a number of seconds,
 * from 1 second to KEY_EXPIRES_IN_MAX. LAIR_EINVAL otherwise (bad shape,
 * zero, negative, too long: nothing is ever added to a time unchecked). */
enum lair_err key_duration_parse(const char *text, int64_t *seconds);
/* True when a key of this role may be restricted to some assistants: only
 * user keys. An editor or admin key reaches every assistant, knowledge base
 * and conversation of its tenant through the management API (and an admin
 * makes keys), so a restriction on it would promise what it cannot hold. */
bool key_role_restrictable(enum key_role role);

struct key_row {
    char id[KEY_ID_LEN + 1];
    char role[16];
    char tenant[SLUG_MAX + 1];
    char name[128];
    char assistants[512];
    int64_t created_at, expires_at, revoked_at, last_used_at, rpm_limit, tokens_per_day;
};

#define TENANT_MODELS_MAX 512 /* the allowed models, comma-separated, with the NUL */
#define TENANT_MODELS_ALL "*"  /* allowed_models of a tenant the operator never restricted */

struct tenant_row {
    char slug[SLUG_MAX + 1];
    char name[256];
    int64_t created_at, rpm_limit, tokens_per_day, retention_days;
    /* the models the tenant's assistants and keys may use: TENANT_MODELS_ALL,
     * or names separated by commas ("" = none) */
    char allowed_models[TENANT_MODELS_MAX];
};

/* Creates DATA (mode 0700), system.db and the pepper. Fails with LAIR_ECONFLICT
 * when DATA already holds a system.db. */
enum lair_err sysdb_init_dir(const char *data_dir);
/* Opens an initialised data directory (migrating it). OUT: OWNED, sysdb_free.
 * LAIR_ENOTFOUND when the directory was never initialised. */
enum lair_err sysdb_open(const char *data_dir, struct sysdb **out);
void sysdb_free(struct sysdb *s);

/* Creates a key. tenant NULL for an operator key. expires_at 0 = never.
 * OUT: key_text (the secret, shown once) and key_id. */
enum lair_err sysdb_key_create(struct sysdb *s, enum key_role role, const char *tenant,
                               int64_t expires_at, char key_text[KEY_TEXT_MAX],
                               char key_id[KEY_ID_LEN + 1]);
/* Same with every option. LAIR_ENOTFOUND when the tenant does not exist;
 * LAIR_EINVAL when assistants is set on a role that cannot be restricted
 * (key_role_restrictable), expires_at is negative or further than
 * KEY_EXPIRES_IN_MAX from now, or a limit is outside 0..LIMIT_MAX. */
enum lair_err sysdb_key_create_spec(struct sysdb *s, const struct key_spec *spec,
                                    char key_text[KEY_TEXT_MAX], char key_id[KEY_ID_LEN + 1]);
/* Keys of one tenant (tenant NULL: operator keys), oldest first, at most max.
 * Revoked keys are listed with revoked_at set. */
enum lair_err sysdb_key_list(struct sysdb *s, const char *tenant, struct key_row *out, size_t max,
                             size_t *n);
/* Revokes a key of that tenant (NULL: operator keys); LAIR_ENOTFOUND when
 * the id is unknown there or already revoked. Takes effect at once.
 * LAIR_ECONFLICT, revoking nothing, when it is the last usable admin key of
 * its tenant (or the last usable operator key): usable = not revoked, not
 * expired, not restricted. The check and the revocation are one
 * transaction (BEGIN IMMEDIATE), so two revocations racing, from this
 * process or another, cannot both remove the last two. */
enum lair_err sysdb_key_revoke(struct sysdb *s, const char *tenant, const char *key_id);
/* Records use, at most once a minute per key (no write per request). */
void sysdb_key_touch(struct sysdb *s, const char *key_id);

/* ---- tenants ---- */

/* True when slug matches [a-z0-9][a-z0-9-]{0,62}. */
bool slug_valid(struct str slug);
/* LAIR_ECONFLICT when it exists, LAIR_EINVAL for a bad slug. */
enum lair_err sysdb_tenant_insert(struct sysdb *s, const char *slug, const char *name);
enum lair_err sysdb_tenant_get(struct sysdb *s, const char *slug, struct tenant_row *out);
enum lair_err sysdb_tenant_list(struct sysdb *s, struct tenant_row *out, size_t max, size_t *n);
/* Deletes the row and every key of the tenant, in one transaction. */
enum lair_err sysdb_tenant_delete(struct sysdb *s, const char *slug);
/* Sets quotas (negative = unchanged). LAIR_EINVAL when rpm or tokens per
 * day exceed LIMIT_MAX or retention_days RETENTION_DAYS_MAX. */
enum lair_err sysdb_tenant_set_limits(struct sysdb *s, const char *slug, int64_t rpm,
                                      int64_t tokens_per_day, int64_t retention_days);

/* A change of a tenant's settings: negative numbers and NULL strings are
 * left as they are. */
struct tenant_update {
    int64_t rpm, tokens_per_day, retention_days;
    const char *name;           /* 1 to 200 bytes */
    const char *allowed_models; /* TENANT_MODELS_ALL, or names separated by commas ("" = none) */
};
#define TENANT_UPDATE_NONE {.rpm = -1, .tokens_per_day = -1, .retention_days = -1}
/* Applies u in one statement (all or nothing). LAIR_EINVAL when a value is
 * out of range or the model list is malformed (tenant_models_valid),
 * LAIR_ENOTFOUND when the tenant does not exist. OUT: *after (may be NULL),
 * the row as it now stands. */
enum lair_err sysdb_tenant_update(struct sysdb *s, const char *slug, const struct tenant_update *u,
                                  struct tenant_row *after);
/* True when models is TENANT_MODELS_ALL, "" or names of 1 to 127 printable
 * ASCII characters other than ',', '*' and space, separated by single commas,
 * shorter than TENANT_MODELS_MAX in all. */
bool tenant_models_valid(const char *models);
/* True when the list (a tenant_row's allowed_models) lets the tenant use the
 * model called name. */
bool tenant_model_allowed(const char *models, struct str name);
/* A number that changes whenever a tenant's row may have changed, by this
 * handle or by another process (PRAGMA data_version): caches of a tenant's
 * settings compare it to stay exact without re-reading the row. */
uint64_t sysdb_tenants_version(struct sysdb *s);

/* The migration list (for tests that migrate from every earlier version). */
const struct db_migration *sysdb_schema(int *n);

/* The system database handle, for src/store/ modules (audit, people,
 * snapshot) and the audit log's connection (src/audit/audit.c). */
struct sqlite3 *sysdb_handle(struct sysdb *s);
/* The lock that orders this process's use of the handle (store/ modules that
 * run transactions on it: people.c). */
void sysdb_lock(struct sysdb *s);
void sysdb_unlock(struct sysdb *s);
/* The data directory's keyed hash of a secret (keys, sessions, links). */
void sysdb_secret_hash(const struct sysdb *s, const void *secret, size_t len, unsigned char out[32]);
/* Checks a bearer secret. LAIR_EAUTH when unknown, revoked, expired or wrong.
 * An editor or admin key restricted to assistants (written before such
 * restrictions were refused) authenticates as a user key with the same
 * restriction; sysdb_open also rewrites such rows to role user, and logs it. */
enum lair_err sysdb_key_check(struct sysdb *s, struct str bearer, struct principal *out);

const char *key_role_name(enum key_role r);

#endif
