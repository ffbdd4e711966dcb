/* system.db: schema, key creation and verification. */
#include "store/system.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/db.h"
#include "store/tx.h"
#include "core/banned.h"

#define PEPPER_LEN 32
#define SECRET_LEN 32

static const struct db_migration migrations[] = {
    {"CREATE TABLE api_keys ("
     "  id TEXT PRIMARY KEY,"
     "  hash BLOB NOT NULL,"
     "  role TEXT NOT NULL,"
     "  tenant TEXT,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL DEFAULT 0,"
     "  revoked_at INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"},
    /* v2: tenants, key options and the operator's audit log */
    {"CREATE TABLE tenants ("
     "  slug TEXT PRIMARY KEY,"
     "  name TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  rpm_limit INTEGER NOT NULL DEFAULT 0,"
     "  tokens_per_day INTEGER NOT NULL DEFAULT 0,"
     "  retention_days INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     "ALTER TABLE api_keys ADD COLUMN name TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE api_keys ADD COLUMN assistants TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE api_keys ADD COLUMN rpm_limit INTEGER NOT NULL DEFAULT 0;"
     "ALTER TABLE api_keys ADD COLUMN tokens_per_day INTEGER NOT NULL DEFAULT 0;"
     "CREATE INDEX api_keys_tenant ON api_keys(tenant);"
     "CREATE TABLE audit ("
     "  seq INTEGER PRIMARY KEY,"
     "  ts INTEGER NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  action TEXT NOT NULL,"
     "  target TEXT NOT NULL,"
     "  outcome TEXT NOT NULL,"
     "  detail TEXT NOT NULL DEFAULT '',"
     "  prev BLOB NOT NULL,"
     "  hash BLOB NOT NULL"
     ") STRICT;"},
    /* v3: settings (the audit chain's keyed head checkpoint lives here) */
    {"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;"},
    /* v4: the high-water mark of each tenant's audit log (src/store/audit_store.c), so that
     * restoring a tenant's database from an older copy is detected; it goes with the tenant */
    {"CREATE TABLE audit_marks ("
     "  scope TEXT PRIMARY KEY,"
     "  seq INTEGER NOT NULL,"
     "  head TEXT NOT NULL"
     ") STRICT;"
     "CREATE TRIGGER tenants_delete_audit_mark AFTER DELETE ON tenants BEGIN"
     "  DELETE FROM audit_marks WHERE scope = 'tenant:' || old.slug;"
     "END;"},
    /* v5: the models a tenant may use ('*': every model the server serves) */
    {"ALTER TABLE tenants ADD COLUMN allowed_models TEXT NOT NULL DEFAULT '*';"},
    /* v6: people who sign in with OpenID Connect (src/store/people.c, docs/oidc.md):
     * members, access rules, sessions, sign-ins under way, enrollment links, and
     * personal keys (api_keys.member) that die with their membership */
    {"CREATE TABLE members ("
     "  id TEXT PRIMARY KEY,"
     "  tenant TEXT NOT NULL REFERENCES tenants(slug) ON DELETE CASCADE,"
     "  email TEXT NOT NULL DEFAULT '',"
     "  name TEXT NOT NULL DEFAULT '',"
     "  provider TEXT NOT NULL DEFAULT '',"
     "  sub TEXT NOT NULL DEFAULT '',"
     "  role TEXT NOT NULL,"
     "  source TEXT NOT NULL,"
     "  removed INTEGER NOT NULL DEFAULT 0,"
     "  added_by TEXT NOT NULL DEFAULT '',"
     "  created_at INTEGER NOT NULL,"
     "  last_login INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"
     "CREATE UNIQUE INDEX members_email ON members(tenant, email) WHERE email <> '';"
     "CREATE UNIQUE INDEX members_sub ON members(tenant, provider, sub) WHERE sub <> '';"
     "CREATE INDEX members_person ON members(provider, sub);"
     "CREATE TABLE access_rules ("
     "  tenant TEXT NOT NULL REFERENCES tenants(slug) ON DELETE CASCADE,"
     "  kind TEXT NOT NULL,"
     "  value TEXT NOT NULL,"
     "  role TEXT NOT NULL,"
     "  provider TEXT NOT NULL DEFAULT '',"
     "  PRIMARY KEY (tenant, kind, value, provider)"
     ") STRICT;"
     "CREATE INDEX access_rules_value ON access_rules(kind, value);"
     "CREATE TABLE sessions ("
     "  id_hash BLOB PRIMARY KEY,"
     "  provider TEXT NOT NULL,"
     "  sub TEXT NOT NULL,"
     "  email TEXT NOT NULL DEFAULT '',"
     "  name TEXT NOT NULL DEFAULT '',"
     "  member TEXT NOT NULL DEFAULT '',"
     "  csrf TEXT NOT NULL,"
     "  id_token TEXT NOT NULL DEFAULT '',"
     "  claims TEXT NOT NULL DEFAULT '{}',"
     "  created_at INTEGER NOT NULL,"
     "  last_seen INTEGER NOT NULL"
     ") STRICT;"
     "CREATE INDEX sessions_person ON sessions(provider, sub);"
     "CREATE INDEX sessions_member ON sessions(member);"
     "CREATE TABLE oidc_pending ("
     "  state_hash BLOB PRIMARY KEY,"
     "  binding_hash BLOB NOT NULL,"
     "  provider TEXT NOT NULL,"
     "  nonce TEXT NOT NULL,"
     "  verifier TEXT NOT NULL,"
     "  next TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE enrollments ("
     "  token_hash BLOB PRIMARY KEY,"
     "  id TEXT NOT NULL UNIQUE,"
     "  tenant TEXT NOT NULL REFERENCES tenants(slug) ON DELETE CASCADE,"
     "  created_by TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  expires_at INTEGER NOT NULL,"
     "  used_at INTEGER NOT NULL DEFAULT 0,"
     "  key_id TEXT NOT NULL DEFAULT ''"
     ") STRICT;"
     "ALTER TABLE api_keys ADD COLUMN member TEXT NOT NULL DEFAULT '';"
     "CREATE TRIGGER tenants_delete_sessions BEFORE DELETE ON tenants BEGIN"
     "  DELETE FROM sessions WHERE member IN (SELECT id FROM members WHERE tenant = old.slug);"
     "END;"},
    /* v7: the provider's session id (the ID token's sid), so that a
     * back-channel logout naming only the sid finds its sessions */
    {"ALTER TABLE sessions ADD COLUMN sid TEXT NOT NULL DEFAULT '';"
     "CREATE INDEX sessions_sid ON sessions(provider, sid);"},
};

struct sysdb {
    sqlite3 *db;
    pthread_mutex_t mu;
    uint64_t tenants_changed; /* writes to tenants through this handle (under mu) */
    sqlite3_stmt *find_key;
    unsigned char pepper[PEPPER_LEN];
};

const char *key_role_name(enum key_role r)
{
    switch (r) {
    case ROLE_USER: return "user";
    case ROLE_EDITOR: return "editor";
    case ROLE_ADMIN: return "admin";
    case ROLE_OPERATOR: return "operator";
    }
    return "?";
}

static enum key_role role_parse(const char *s)
{
    if (!s)
        return ROLE_USER;
    if (!strcmp(s, "operator"))
        return ROLE_OPERATOR;
    if (!strcmp(s, "admin"))
        return ROLE_ADMIN;
    if (!strcmp(s, "editor"))
        return ROLE_EDITOR;
    return ROLE_USER;
}

bool key_role_restrictable(enum key_role role)
{
    return role == ROLE_USER;
}

/* The role a stored key acts with: an editor or admin key restricted to
 * assistants acts as a user key (rows written before such restrictions were
 * refused; docs/roles.md). The operator has no assistants: a restriction
 * there never meant anything. */
static enum key_role role_effective(const char *role, const char *assistants)
{
    enum key_role r = role_parse(role);
    bool staff = r == ROLE_ADMIN || r == ROLE_EDITOR;
    return staff && assistants && assistants[0] ? ROLE_USER : r;
}

enum lair_err key_duration_parse(const char *text, int64_t *seconds)
{
    static const struct {
        const char *suffix;
        int64_t mult;
    } units[] = {{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    *seconds = 0;
    if (!text || text[0] < '0' || text[0] > '9') /* no sign, no space */
        return LAIR_EINVAL;
    int64_t n = 0;
    const char *p = text;
    for (; *p >= '0' && *p <= '9'; p++) {
        n = n * 10 + (*p - '0');
        if (n > KEY_EXPIRES_IN_MAX)
            return LAIR_EINVAL;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].suffix))
            continue;
        /* n <= KEY_EXPIRES_IN_MAX: compare before multiplying */
        if (n < 1 || n > KEY_EXPIRES_IN_MAX / units[i].mult)
            return LAIR_EINVAL;
        *seconds = n * units[i].mult;
        return LAIR_OK;
    }
    return LAIR_EINVAL;
}

static int path_join(char *out, size_t n, const char *dir, const char *name)
{
    int r = snprintf(out, n, "%s/%s", dir, name);
    return r < 0 || (size_t)r >= n ? -1 : 0;
}

static enum lair_err write_pepper(const char *path)
{
    unsigned char p[PEPPER_LEN];
    randombytes_buf(p, sizeof(p));
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return LAIR_EIO;
    ssize_t w = write(fd, p, sizeof(p));
    int ok = w == (ssize_t)sizeof(p) && fsync(fd) == 0;
    close(fd);
    sodium_memzero(p, sizeof(p));
    return ok ? LAIR_OK : LAIR_EIO;
}

static enum lair_err read_pepper(const char *path, unsigned char out[PEPPER_LEN])
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    ssize_t r = read(fd, out, PEPPER_LEN);
    close(fd);
    return r == PEPPER_LEN ? LAIR_OK : LAIR_EIO;
}

/* Creates the folders above dir that are missing (0755, like mkdir -p). */
static void make_parents(const char *dir)
{
    char p[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(p))
        return;
    memcpy(p, dir, n + 1);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        mkdir(p, 0755); /* an existing folder is fine; a real error shows below */
        *q = '/';
    }
}

enum lair_err sysdb_init_dir(const char *dir)
{
    char path[4096];
    if (sodium_init() < 0)
        return LAIR_EINTERNAL;
    make_parents(dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        log_error("store", "cannot create %s: %s", dir, strerror(errno));
        return LAIR_EIO;
    }
    if (path_join(path, sizeof(path), dir, "system.db"))
        return LAIR_EINVAL;
    if (access(path, F_OK) == 0)
        return LAIR_ECONFLICT;
    char pepper[4096];
    if (path_join(pepper, sizeof(pepper), dir, "pepper"))
        return LAIR_EINVAL;
    unlink(pepper); /* a pepper without a database protects nothing */
    enum lair_err e = write_pepper(pepper);
    if (e)
        return e;
    sqlite3 *db;
    e = db_open(path, migrations, (int)(sizeof(migrations) / sizeof(migrations[0])), &db);
    if (e)
        return e;
    db_close(db);
    return LAIR_OK;
}

/* Keys restricted to assistants on a role that cannot hold a restriction
 * (created before such keys were refused) become user keys with the same
 * restriction: they keep the chat their restriction promised and lose the
 * management routes that ignored it. Each one is logged. */
static enum lair_err downgrade_restricted_keys(sqlite3 *db)
{
#define RESTRICTED_STAFF "FROM api_keys WHERE role IN ('admin', 'editor') AND assistants <> ''"
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT id, role, IFNULL(tenant, ''), assistants " RESTRICTED_STAFF,
                           -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        found++;
        log_warn("store",
                 "key %s of tenant %s (role %s, restricted to assistants %s) is now a user key "
                 "with that restriction: editor and admin keys cannot be restricted "
                 "(docs/roles.md)",
                 (const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 2),
                 (const char *)sqlite3_column_text(st, 1),
                 (const char *)sqlite3_column_text(st, 3));
    }
    sqlite3_finalize(st);
    if (!found) /* the usual case: no write at open */
        return LAIR_OK;
    static const char update[] =
        "UPDATE api_keys SET role = 'user' WHERE rowid IN (SELECT rowid " RESTRICTED_STAFF ")";
    return sqlite3_exec(db, update, NULL, NULL, NULL) == SQLITE_OK ? LAIR_OK : LAIR_EDB;
#undef RESTRICTED_STAFF
}

enum lair_err sysdb_open(const char *dir, struct sysdb **out)
{
    char path[4096], pepper[4096];
    *out = NULL;
    if (sodium_init() < 0)
        return LAIR_EINTERNAL;
    if (path_join(path, sizeof(path), dir, "system.db") ||
        path_join(pepper, sizeof(pepper), dir, "pepper"))
        return LAIR_EINVAL;
    if (access(path, F_OK) != 0)
        return LAIR_ENOTFOUND;
    struct sysdb *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    pthread_mutex_init(&s->mu, NULL);
    enum lair_err e = read_pepper(pepper, s->pepper);
    if (!e)
        e = db_open(path, migrations, (int)(sizeof(migrations) / sizeof(migrations[0])), &s->db);
    if (!e)
        e = downgrade_restricted_keys(s->db);
    if (!e && sqlite3_prepare_v3(s->db,
                                 "SELECT hash, role, tenant, expires_at, revoked_at, assistants, "
                                 "rpm_limit, tokens_per_day, last_used_at "
                                 "FROM api_keys WHERE id = ?1",
                                 -1, SQLITE_PREPARE_PERSISTENT, &s->find_key, NULL) != SQLITE_OK)
        e = LAIR_EDB;
    if (e) {
        sysdb_free(s);
        return e;
    }
    *out = s;
    return LAIR_OK;
}

void sysdb_free(struct sysdb *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->find_key);
    db_close(s->db);
    sodium_memzero(s->pepper, sizeof(s->pepper));
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static void hash_secret(const struct sysdb *s, const unsigned char *secret, size_t len,
                        unsigned char out[32])
{
    crypto_generichash(out, 32, secret, len, s->pepper, PEPPER_LEN);
}

enum lair_err sysdb_key_create(struct sysdb *s, enum key_role role, const char *tenant,
                               int64_t expires_at, char key_text[KEY_TEXT_MAX],
                               char key_id[KEY_ID_LEN + 1])
{
    struct key_spec spec = {.role = role, .tenant = tenant, .expires_at = expires_at};
    return sysdb_key_create_spec(s, &spec, key_text, key_id);
}

static bool tenant_exists(struct sysdb *s, const char *slug)
{
    sqlite3_stmt *st;
    bool found = false;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM tenants WHERE slug = ?1", -1, &st, NULL) ==
        SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        found = sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
    }
    return found;
}

/* What every caller (API, CLI) must have checked already, checked again
 * where the row is written. */
static bool spec_valid(const struct key_spec *spec)
{
    int64_t now = (int64_t)time(NULL);
    if (spec->assistants && spec->assistants[0] && !key_role_restrictable(spec->role))
        return false;
    if (spec->expires_at < 0 || spec->expires_at > now + KEY_EXPIRES_IN_MAX + 60)
        return false;
    return spec->rpm_limit >= 0 && spec->rpm_limit <= LIMIT_MAX && spec->tokens_per_day >= 0 &&
           spec->tokens_per_day <= LIMIT_MAX;
}

enum lair_err sysdb_key_create_spec(struct sysdb *s, const struct key_spec *spec,
                                    char key_text[KEY_TEXT_MAX], char key_id[KEY_ID_LEN + 1])
{
    if (!spec_valid(spec))
        return LAIR_EINVAL;
    unsigned char idb[KEY_ID_LEN / 2], secret[SECRET_LEN], h[32];
    char secret_b64[sodium_base64_ENCODED_LEN(SECRET_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];
    randombytes_buf(idb, sizeof(idb));
    randombytes_buf(secret, sizeof(secret));
    sodium_bin2hex(key_id, KEY_ID_LEN + 1, idb, sizeof(idb));
    sodium_bin2base64(secret_b64, sizeof(secret_b64), secret, sizeof(secret),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    snprintf(key_text, KEY_TEXT_MAX, "lair_%s_%s", key_id, secret_b64);
    hash_secret(s, (const unsigned char *)secret_b64, strlen(secret_b64), h);
    sodium_memzero(secret, sizeof(secret));
    sodium_memzero(secret_b64, sizeof(secret_b64));

    sqlite3_stmt *st;
    enum lair_err e = LAIR_EDB;
    pthread_mutex_lock(&s->mu);
    if (spec->tenant && !tenant_exists(s, spec->tenant)) {
        pthread_mutex_unlock(&s->mu);
        return LAIR_ENOTFOUND;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO api_keys(id, hash, role, tenant, created_at, expires_at, "
                           "name, assistants, rpm_limit, tokens_per_day, member) "
                           "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, h, sizeof(h), SQLITE_STATIC);
        sqlite3_bind_text(st, 3, key_role_name(spec->role), -1, SQLITE_STATIC);
        if (spec->tenant)
            sqlite3_bind_text(st, 4, spec->tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, (sqlite3_int64)time(NULL));
        sqlite3_bind_int64(st, 6, spec->expires_at);
        sqlite3_bind_text(st, 7, spec->name ? spec->name : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, spec->assistants ? spec->assistants : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, spec->rpm_limit);
        sqlite3_bind_int64(st, 10, spec->tokens_per_day);
        sqlite3_bind_text(st, 11, spec->member ? spec->member : "", -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        e = rc == SQLITE_DONE ? LAIR_OK : db_err(s->db, rc); /* a full disk: 507 */
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

enum lair_err sysdb_key_list(struct sysdb *s, const char *tenant, struct key_row *out, size_t max,
                             size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    int rc = sqlite3_prepare_v2(s->db,
                                "SELECT id, role, tenant, name, assistants, created_at, expires_at, "
                                "revoked_at, last_used_at, rpm_limit, tokens_per_day FROM api_keys "
                                "WHERE tenant IS ?1 ORDER BY created_at, id",
                                -1, &st, NULL);
    if (rc != SQLITE_OK) {
        pthread_mutex_unlock(&s->mu);
        return LAIR_EDB;
    }
    if (tenant)
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    while (*n < max && sqlite3_step(st) == SQLITE_ROW) {
        struct key_row *r = &out[(*n)++];
        copy_col(st, 0, r->id, sizeof(r->id));
        copy_col(st, 2, r->tenant, sizeof(r->tenant));
        copy_col(st, 3, r->name, sizeof(r->name));
        copy_col(st, 4, r->assistants, sizeof(r->assistants));
        const char *stored = (const char *)sqlite3_column_text(st, 1);
        snprintf(r->role, sizeof(r->role), "%s",
                 key_role_name(role_effective(stored, r->assistants)));
        r->created_at = sqlite3_column_int64(st, 5);
        r->expires_at = sqlite3_column_int64(st, 6);
        r->revoked_at = sqlite3_column_int64(st, 7);
        r->last_used_at = sqlite3_column_int64(st, 8);
        r->rpm_limit = sqlite3_column_int64(st, 9);
        r->tokens_per_day = sqlite3_column_int64(st, 10);
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return LAIR_OK;
}

/* A key that can manage its tenant (or the deployment): an admin (or
 * operator) key, not revoked, not expired, not restricted. */
#define USABLE_ADMIN                                                                               \
    "revoked_at = 0 AND (expires_at = 0 OR expires_at > ?3) AND assistants = '' AND "              \
    "role = (CASE WHEN ?2 IS NULL THEN 'operator' ELSE 'admin' END)"

/* LAIR_ECONFLICT when key_id is a usable admin key and no other one exists.
 * Inside the revocation's transaction. */
static enum lair_err check_not_last_admin(sqlite3 *db, const char *tenant, const char *key_id,
                                          int64_t now)
{
    sqlite3_stmt *st;
    static const char sql[] =
        "SELECT EXISTS (SELECT 1 FROM api_keys WHERE id = ?1 AND tenant IS ?2 AND " USABLE_ADMIN
        "), (SELECT COUNT(*) FROM api_keys WHERE id <> ?1 AND tenant IS ?2 AND " USABLE_ADMIN ")";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    if (tenant)
        sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, now);
    enum lair_err e = LAIR_EDB;
    if (sqlite3_step(st) == SQLITE_ROW)
        e = sqlite3_column_int(st, 0) && sqlite3_column_int64(st, 1) == 0 ? LAIR_ECONFLICT
                                                                          : LAIR_OK;
    sqlite3_finalize(st);
    return e;
}

enum lair_err sysdb_key_revoke(struct sysdb *s, const char *tenant, const char *key_id)
{
    sqlite3_stmt *st;
    int64_t now = (int64_t)time(NULL);
    pthread_mutex_lock(&s->mu);
    /* IMMEDIATE: the write lock is taken before the check, so a revocation
     * in another process waits for this one to commit and then sees it */
    sqlite3_stmt *rb; /* a rollback that cannot fail for want of memory (store/tx.h) */
    if (tx_begin(s->db, "BEGIN IMMEDIATE", &rb) != LAIR_OK) {
        pthread_mutex_unlock(&s->mu);
        return LAIR_EDB;
    }
    enum lair_err e = check_not_last_admin(s->db, tenant, key_id, now);
    if (!e) {
        e = LAIR_EDB;
        if (sqlite3_prepare_v2(s->db,
                               "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND tenant IS ?2 "
                               "AND revoked_at = 0",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
            if (tenant)
                sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, now);
            if (sqlite3_step(st) == SQLITE_DONE)
                e = sqlite3_changes(s->db) == 1 ? LAIR_OK : LAIR_ENOTFOUND;
            sqlite3_finalize(st);
        }
    }
    e = tx_end(s->db, e, rb);
    pthread_mutex_unlock(&s->mu);
    return e;
}

void sysdb_key_touch(struct sysdb *s, const char *key_id)
{
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1 "
                           "AND last_used_at < ?2 - 60",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL));
        sqlite3_step(st);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- tenants ---- */

bool slug_valid(struct str slug)
{
    if (slug.len == 0 || slug.len > SLUG_MAX)
        return false;
    for (size_t i = 0; i < slug.len; i++) {
        char c = slug.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return false;
    }
    return true;
}

enum lair_err sysdb_tenant_insert(struct sysdb *s, const char *slug, const char *name)
{
    if (!slug_valid(str_c(slug)))
        return LAIR_EINVAL;
    sqlite3_stmt *st;
    enum lair_err e = LAIR_EDB;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO tenants(slug, name, created_at) VALUES (?1, ?2, ?3)", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, name && *name ? name : slug, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)time(NULL));
        int rc = sqlite3_step(st);
        s->tenants_changed++;
        e = rc == SQLITE_DONE ? LAIR_OK
            : (rc & 0xff) == SQLITE_CONSTRAINT ? LAIR_ECONFLICT
                                                : db_err(s->db, rc);
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

static void tenant_from_row(sqlite3_stmt *st, struct tenant_row *t)
{
    copy_col(st, 0, t->slug, sizeof(t->slug));
    copy_col(st, 1, t->name, sizeof(t->name));
    t->created_at = sqlite3_column_int64(st, 2);
    t->rpm_limit = sqlite3_column_int64(st, 3);
    t->tokens_per_day = sqlite3_column_int64(st, 4);
    t->retention_days = sqlite3_column_int64(st, 5);
    copy_col(st, 6, t->allowed_models, sizeof(t->allowed_models));
}

#define TENANT_COLS                                                                                \
    "slug, name, created_at, rpm_limit, tokens_per_day, retention_days, allowed_models"

enum lair_err sysdb_tenant_get(struct sysdb *s, const char *slug, struct tenant_row *out)
{
    sqlite3_stmt *st;
    enum lair_err e = LAIR_EDB;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT " TENANT_COLS " FROM tenants WHERE slug = ?1", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            tenant_from_row(st, out);
            e = LAIR_OK;
        } else {
            e = LAIR_ENOTFOUND;
        }
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

enum lair_err sysdb_tenant_list(struct sysdb *s, struct tenant_row *out, size_t max, size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db, "SELECT " TENANT_COLS " FROM tenants ORDER BY slug", -1, &st,
                           NULL) != SQLITE_OK) {
        pthread_mutex_unlock(&s->mu);
        return LAIR_EDB;
    }
    while (*n < max && sqlite3_step(st) == SQLITE_ROW)
        tenant_from_row(st, &out[(*n)++]);
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return LAIR_OK;
}

static enum lair_err exec_bound(sqlite3 *db, const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum lair_err e = db_err(db, rc);
    sqlite3_finalize(st);
    return e;
}

enum lair_err sysdb_tenant_delete(struct sysdb *s, const char *slug)
{
    enum lair_err e;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *rb; /* a rollback that cannot fail for want of memory (store/tx.h) */
    if (tx_begin(s->db, "BEGIN IMMEDIATE", &rb) != LAIR_OK) {
        pthread_mutex_unlock(&s->mu);
        return LAIR_EDB;
    }
    e = exec_bound(s->db, "DELETE FROM tenants WHERE slug = ?1", slug);
    int changed = sqlite3_changes(s->db);
    s->tenants_changed++;
    if (!e)
        e = exec_bound(s->db, "DELETE FROM api_keys WHERE tenant = ?1", slug);
    if (!e && !changed)
        e = LAIR_ENOTFOUND;
    /* not deleted when the commit fails: say so (a full disk refuses it) */
    e = tx_end(s->db, e, rb);
    pthread_mutex_unlock(&s->mu);
    return e;
}

enum lair_err sysdb_tenant_set_limits(struct sysdb *s, const char *slug, int64_t rpm,
                                      int64_t tokens_per_day, int64_t retention_days)
{
    if (rpm > LIMIT_MAX || tokens_per_day > LIMIT_MAX || retention_days > RETENTION_DAYS_MAX)
        return LAIR_EINVAL;
    sqlite3_stmt *st;
    enum lair_err e = LAIR_EDB;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE tenants SET "
                           "rpm_limit = CASE WHEN ?2 < 0 THEN rpm_limit ELSE ?2 END, "
                           "tokens_per_day = CASE WHEN ?3 < 0 THEN tokens_per_day ELSE ?3 END, "
                           "retention_days = CASE WHEN ?4 < 0 THEN retention_days ELSE ?4 END "
                           "WHERE slug = ?1",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, rpm);
        sqlite3_bind_int64(st, 3, tokens_per_day);
        sqlite3_bind_int64(st, 4, retention_days);
        int rc = sqlite3_step(st);
        s->tenants_changed++;
        e = rc != SQLITE_DONE ? db_err(s->db, rc)
            : sqlite3_changes(s->db) ? LAIR_OK
                                     : LAIR_ENOTFOUND;
        sqlite3_finalize(st);
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

bool tenant_models_valid(const char *models)
{
    if (!models || strlen(models) >= TENANT_MODELS_MAX)
        return false;
    if (!strcmp(models, TENANT_MODELS_ALL) || !models[0])
        return true;
    size_t len = 0;
    for (const char *p = models;; p++) {
        if (*p == ',' || !*p) {
            if (len == 0 || len > 127) /* an empty name: ",," or a trailing comma */
                return false;
            if (!*p)
                return true;
            len = 0;
        } else if (*p <= ' ' || *p > '~' || *p == '*') { /* "*" means all, alone */
            return false;
        } else {
            len++;
        }
    }
}

bool tenant_model_allowed(const char *models, struct str name)
{
    if (!strcmp(models, TENANT_MODELS_ALL))
        return true;
    for (const char *p = models; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        if (n == name.len && !memcmp(p, name.ptr, n))
            return true;
        if (!comma)
            break;
        p = comma + 1;
    }
    return false;
}

enum lair_err sysdb_tenant_update(struct sysdb *s, const char *slug, const struct tenant_update *u,
                                  struct tenant_row *after)
{
    if (u->rpm > LIMIT_MAX || u->tokens_per_day > LIMIT_MAX ||
        u->retention_days > RETENTION_DAYS_MAX ||
        (u->allowed_models && !tenant_models_valid(u->allowed_models)) ||
        (u->name && (!u->name[0] || strlen(u->name) > 200)))
        return LAIR_EINVAL;
    sqlite3_stmt *st;
    enum lair_err e = LAIR_EDB;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_prepare_v2(s->db,
                           "UPDATE tenants SET "
                           "rpm_limit = CASE WHEN ?2 < 0 THEN rpm_limit ELSE ?2 END, "
                           "tokens_per_day = CASE WHEN ?3 < 0 THEN tokens_per_day ELSE ?3 END, "
                           "retention_days = CASE WHEN ?4 < 0 THEN retention_days ELSE ?4 END, "
                           "name = coalesce(?5, name), "
                           "allowed_models = coalesce(?6, allowed_models) "
                           "WHERE slug = ?1 RETURNING " TENANT_COLS,
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, u->rpm);
        sqlite3_bind_int64(st, 3, u->tokens_per_day);
        sqlite3_bind_int64(st, 4, u->retention_days);
        if (u->name)
            sqlite3_bind_text(st, 5, u->name, -1, SQLITE_STATIC);
        if (u->allowed_models)
            sqlite3_bind_text(st, 6, u->allowed_models, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        bool found = rc == SQLITE_ROW;
        if (found) {
            if (after)
                tenant_from_row(st, after);
            rc = sqlite3_step(st); /* the statement commits when it is done */
        }
        e = rc != SQLITE_DONE ? db_err(s->db, rc) : found ? LAIR_OK : LAIR_ENOTFOUND;
        sqlite3_finalize(st);
        if (e == LAIR_OK)
            s->tenants_changed++;
    }
    pthread_mutex_unlock(&s->mu);
    return e;
}

uint64_t sysdb_tenants_version(struct sysdb *s)
{
    uint64_t v = 0;
    sqlite3_stmt *st;
    pthread_mutex_lock(&s->mu);
    /* data_version moves when another connection (the CLI, another
     * process) committed to system.db; this handle's own writes are
     * counted in tenants_changed. Without the pragma (no memory), every
     * call differs from the last: caches re-read, never serve stale rows. */
    if (sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW)
            v = (uint64_t)sqlite3_column_int64(st, 0) << 32;
        else
            s->tenants_changed++;
        sqlite3_finalize(st);
    } else {
        s->tenants_changed++;
    }
    v ^= s->tenants_changed;
    pthread_mutex_unlock(&s->mu);
    return v;
}

struct sqlite3 *sysdb_handle(struct sysdb *s) { return s->db; }

void sysdb_lock(struct sysdb *s) { pthread_mutex_lock(&s->mu); }
void sysdb_unlock(struct sysdb *s) { pthread_mutex_unlock(&s->mu); }
void sysdb_secret_hash(const struct sysdb *s, const void *secret, size_t len, unsigned char out[32])
{
    hash_secret(s, secret, len, out);
}

const struct db_migration *sysdb_schema(int *n)
{
    *n = (int)(sizeof(migrations) / sizeof(migrations[0]));
    return migrations;
}

/* Splits "lair_<id>_<secret>"; false when the shape is wrong. */
static bool key_split(struct str k, struct str *id, struct str *secret)
{
    if (k.len < 5 + KEY_ID_LEN + 2 || k.len >= KEY_TEXT_MAX || memcmp(k.ptr, "lair_", 5) != 0 ||
        k.ptr[5 + KEY_ID_LEN] != '_')
        return false;
    *id = (struct str){k.ptr + 5, KEY_ID_LEN};
    *secret = (struct str){k.ptr + 6 + KEY_ID_LEN, k.len - 6 - KEY_ID_LEN};
    for (size_t i = 0; i < id->len; i++) {
        char c = id->ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

enum lair_err sysdb_key_check(struct sysdb *s, struct str bearer, struct principal *out)
{
    struct str id, secret;
    unsigned char h[32];
    if (!key_split(bearer, &id, &secret))
        return LAIR_EAUTH;
    hash_secret(s, (const unsigned char *)secret.ptr, secret.len, h);

    enum lair_err e = LAIR_EAUTH;
    bool touch = false;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = s->find_key;
    sqlite3_bind_text(st, 1, id.ptr, (int)id.len, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        const void *stored = sqlite3_column_blob(st, 0);
        int n = sqlite3_column_bytes(st, 0);
        int64_t expires = sqlite3_column_int64(st, 3), revoked = sqlite3_column_int64(st, 4);
        int64_t now = (int64_t)time(NULL);
        if (n == 32 && sodium_memcmp(stored, h, 32) == 0 && revoked == 0 &&
            (expires == 0 || expires > now)) {
            memcpy(out->key_id, id.ptr, KEY_ID_LEN);
            out->key_id[KEY_ID_LEN] = 0;
            copy_col(st, 2, out->tenant, sizeof(out->tenant));
            copy_col(st, 5, out->assistants, sizeof(out->assistants));
            out->role = role_effective((const char *)sqlite3_column_text(st, 1), out->assistants);
            out->rpm_limit = sqlite3_column_int64(st, 6);
            out->tokens_per_day = sqlite3_column_int64(st, 7);
            touch = sqlite3_column_int64(st, 8) < now - 60;
            e = LAIR_OK;
        }
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    pthread_mutex_unlock(&s->mu);
    if (touch) /* last-used time, written at most once a minute per key */
        sysdb_key_touch(s, out->key_id);
    return e;
}
