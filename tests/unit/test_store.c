/* Unit tests for src/store: data directory creation, migrations, API keys
 * stored as keyed hashes and verified in constant time. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/db.h"
#include "rag/fts.h"
#include "store/system.h"
#include "store/tenant.h"

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-store-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    return sysdb_init_dir(data) == LAIR_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void test_init_twice(void **state)
{
    (void)state;
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    assert_int_equal(sysdb_init_dir(data), LAIR_ECONFLICT);
    struct stat st;
    assert_int_equal(stat(data, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    char pepper[320];
    snprintf(pepper, sizeof(pepper), "%s/pepper", data);
    assert_int_equal(stat(pepper, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
}

static void test_open_missing(void **state)
{
    (void)state;
    struct sysdb *s;
    assert_int_equal(sysdb_open("/nonexistent/lair", &s), LAIR_ENOTFOUND);
}

static void test_keys(void **state)
{
    (void)state;
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    assert_int_equal(sysdb_key_create(s, ROLE_OPERATOR, NULL, 0, key, id), LAIR_OK);
    assert_true(strncmp(key, "lair_", 5) == 0);
    struct principal p;
    assert_int_equal(sysdb_key_check(s, str_c(key), &p), LAIR_OK);
    assert_string_equal(p.key_id, id);
    assert_int_equal(p.role, ROLE_OPERATOR);
    /* one changed character of the secret */
    char bad[KEY_TEXT_MAX];
    snprintf(bad, sizeof(bad), "%s", key);
    bad[strlen(bad) - 1] = bad[strlen(bad) - 1] == 'A' ? 'B' : 'A';
    assert_int_equal(sysdb_key_check(s, str_c(bad), &p), LAIR_EAUTH);
    assert_int_equal(sysdb_key_check(s, S(""), &p), LAIR_EAUTH);
    assert_int_equal(sysdb_key_check(s, S("lair_zzzzzzzzzzzz_x"), &p), LAIR_EAUTH);
    assert_int_equal(sysdb_key_check(s, S("lair_0123456789ab_unknown"), &p), LAIR_EAUTH);
    /* expired */
    assert_int_equal(sysdb_tenant_insert(s, "ville", "Ville"), LAIR_OK);
    char k2[KEY_TEXT_MAX], id2[KEY_ID_LEN + 1];
    assert_int_equal(sysdb_key_create(s, ROLE_USER, "ville", 1, k2, id2), LAIR_OK);
    assert_int_equal(sysdb_key_check(s, str_c(k2), &p), LAIR_EAUTH);
    sysdb_free(s);

    /* the secret never reaches the database file */
    char path[320];
    snprintf(path, sizeof(path), "%s/system.db", data);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char content[1 << 20];
    size_t n = fread(content, 1, sizeof(content), f);
    fclose(f);
    const char *secret = key + 6 + KEY_ID_LEN;
    assert_null(memmem(content, n, secret, strlen(secret)));
}

static const struct db_migration v2[] = {
    {"CREATE TABLE t(a INTEGER);"},
    {"ALTER TABLE t ADD COLUMN b TEXT;"},
};

static void test_migrations(void **state)
{
    (void)state;
    char path[300];
    snprintf(path, sizeof(path), "%s/m.db", dir);
    sqlite3 *db;
    /* from an empty file to v1, then from v1 to v2 */
    assert_int_equal(db_open(path, v2, 1, &db), LAIR_OK);
    assert_int_equal(db_version(db), 1);
    db_close(db);
    assert_int_equal(db_open(path, v2, 2, &db), LAIR_OK);
    assert_int_equal(db_version(db), 2);
    assert_int_equal(sqlite3_exec(db, "INSERT INTO t(a, b) VALUES (1, 'x')", NULL, NULL, NULL),
                     SQLITE_OK);
    db_close(db);
    /* a file newer than the program is refused */
    assert_int_equal(db_open(path, v2, 1, &db), LAIR_EDB);
    /* a failing migration leaves the version unchanged */
    static const struct db_migration broken[] = {
        {"CREATE TABLE t(a INTEGER);"},
        {"ALTER TABLE t ADD COLUMN b TEXT;"},
        {"CREATE TABLE u(x); SELECT nonsense FROM nowhere;"},
    };
    assert_int_equal(db_open(path, broken, 3, &db), LAIR_EDB);
    assert_int_equal(db_open(path, v2, 2, &db), LAIR_OK);
    assert_int_equal(db_version(db), 2);
    assert_int_not_equal(sqlite3_exec(db, "SELECT * FROM u", NULL, NULL, NULL), SQLITE_OK);
    db_close(db);
}

/* A system.db left at every earlier version migrates to the current one and
 * keeps its keys working. */
static void test_system_from_every_version(void **state)
{
    (void)state;
    int n;
    const struct db_migration *m = sysdb_schema(&n);
    for (int v = 1; v < n; v++) {
        char data[320], path[340];
        snprintf(data, sizeof(data), "%s/old%d", dir, v);
        assert_int_equal(sysdb_init_dir(data), LAIR_OK);
        snprintf(path, sizeof(path), "%s/system.db", data);
        /* rebuild the database at version v */
        unlink(path);
        sqlite3 *db;
        assert_int_equal(db_open(path, m, v, &db), LAIR_OK);
        assert_int_equal(db_version(db), v);
        db_close(db);
        struct sysdb *s;
        assert_int_equal(sysdb_open(data, &s), LAIR_OK); /* migrates */
        char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
        assert_int_equal(sysdb_tenant_insert(s, "ville", "Ville"), LAIR_OK);
        assert_int_equal(sysdb_key_create(s, ROLE_USER, "ville", 0, key, id), LAIR_OK);
        struct principal p;
        assert_int_equal(sysdb_key_check(s, str_c(key), &p), LAIR_OK);
        assert_string_equal(p.tenant, "ville");
        sysdb_free(s);
        assert_int_equal(db_open(path, m, n, &db), LAIR_OK);
        assert_int_equal(db_version(db), n);
        db_close(db);
    }
}

/* A tenant database left at every earlier version migrates to the current
 * one when the tenant is opened, keeping what it held. */
static void test_tenant_from_every_version(void **state)
{
    (void)state;
    int n;
    const struct db_migration *m = tenant_schema(&n);
    for (int v = 1; v < n; v++) {
        char data[320], slug[32], path[400];
        snprintf(data, sizeof(data), "%s/tv%d", dir, v);
        snprintf(slug, sizeof(slug), "ville-%d", v);
        assert_int_equal(sysdb_init_dir(data), LAIR_OK);
        struct sysdb *s;
        struct tenants *ts;
        assert_int_equal(sysdb_open(data, &s), LAIR_OK);
        assert_int_equal(tenants_new(data, s, &ts), LAIR_OK);
        assert_int_equal(tenants_create(ts, slug, "V"), LAIR_OK);
        tenants_free(ts);
        /* rebuild its database at version v, with one conversation in it */
        snprintf(path, sizeof(path), "%s/tenants/%s/tenant.db", data, slug);
        unlink(path);
        sqlite3 *db;
        assert_int_equal(db_open_ex(path, m, v, fts_register, &db), LAIR_OK);
        assert_int_equal(db_version(db), v);
        assert_int_equal(sqlite3_exec(db,
                                      "INSERT INTO conversations(id, assistant, subject, key_id, "
                                      "created_at, updated_at) VALUES ('conv_x', 'a', 's', 'k', 1, 1)",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        db_close(db);
        assert_int_equal(tenants_new(data, s, &ts), LAIR_OK);
        struct tenant_db *tdb;
        assert_int_equal(tenants_get(ts, slug, &tdb), LAIR_OK); /* migrates */
        sqlite3 *h = tenant_db_handle(tdb);
        assert_int_equal(db_version(h), n);
        sqlite3_stmt *st;
        assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM conversations", -1, &st, NULL),
                         SQLITE_OK);
        assert_int_equal(sqlite3_step(st), SQLITE_ROW);
        assert_int_equal(sqlite3_column_int(st, 0), 1);
        sqlite3_finalize(st);
        tenant_db_put(tdb);
        tenants_free(ts);
        sysdb_free(s);
    }
}

static void test_tenants_and_revocation(void **state)
{
    (void)state;
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville-a", "A"), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville-a", "A"), LAIR_ECONFLICT);
    assert_int_equal(sysdb_tenant_insert(s, "Ville", "A"), LAIR_EINVAL);
    assert_int_equal(sysdb_tenant_insert(s, "-x", "A"), LAIR_EINVAL);
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    /* a restriction binds user keys only (test_keys.c has the rest) */
    struct key_spec spec = {.role = ROLE_USER, .tenant = "ville-a", .assistants = "a,b"};
    assert_int_equal(sysdb_key_create_spec(s, &spec, key, id), LAIR_OK);
    spec.tenant = "nope";
    char k2[KEY_TEXT_MAX], id2[KEY_ID_LEN + 1];
    assert_int_equal(sysdb_key_create_spec(s, &spec, k2, id2), LAIR_ENOTFOUND);
    struct principal p;
    assert_int_equal(sysdb_key_check(s, str_c(key), &p), LAIR_OK);
    assert_string_equal(p.assistants, "a,b");
    assert_int_equal(p.role, ROLE_USER);
    /* another tenant cannot revoke it; its own can, once, with effect at once */
    assert_int_equal(sysdb_key_revoke(s, "ville-b", id), LAIR_ENOTFOUND);
    assert_int_equal(sysdb_key_revoke(s, NULL, id), LAIR_ENOTFOUND);
    assert_int_equal(sysdb_key_revoke(s, "ville-a", id), LAIR_OK);
    assert_int_equal(sysdb_key_revoke(s, "ville-a", id), LAIR_ENOTFOUND);
    assert_int_equal(sysdb_key_check(s, str_c(key), &p), LAIR_EAUTH);
    /* deleting the tenant deletes its keys */
    spec.tenant = "ville-a";
    assert_int_equal(sysdb_key_create_spec(s, &spec, key, id), LAIR_OK);
    assert_int_equal(sysdb_tenant_delete(s, "ville-a"), LAIR_OK);
    assert_int_equal(sysdb_key_check(s, str_c(key), &p), LAIR_EAUTH);
    assert_int_equal(sysdb_tenant_delete(s, "ville-a"), LAIR_ENOTFOUND);
    sysdb_free(s);
}

/* Live settings (PATCH /api/v1/tenants/{slug}, tenant set): one statement,
 * all or nothing, and a version number that moves with every change. */
static void test_tenant_update(void **state)
{
    (void)state;
    char data[300];
    snprintf(data, sizeof(data), "%s/data", dir);
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville-u", "U"), LAIR_OK);
    struct tenant_row r;
    assert_int_equal(sysdb_tenant_get(s, "ville-u", &r), LAIR_OK);
    assert_string_equal(r.allowed_models, TENANT_MODELS_ALL);

    /* the model lists the column accepts */
    assert_true(tenant_models_valid("*"));
    assert_true(tenant_models_valid(""));
    assert_true(tenant_models_valid("qwen2,mistral-7b.Q4"));
    assert_false(tenant_models_valid("a,,b"));
    assert_false(tenant_models_valid(",a"));
    assert_false(tenant_models_valid("a,"));
    assert_false(tenant_models_valid("a b"));
    assert_false(tenant_models_valid("a,*"));
    assert_false(tenant_models_valid("caf\xc3\xa9"));
    char longname[200];
    memset(longname, 'm', 128);
    longname[128] = 0;
    assert_false(tenant_models_valid(longname));
    longname[127] = 0;
    assert_true(tenant_models_valid(longname));
    assert_true(tenant_model_allowed("*", str_c("any")));
    assert_false(tenant_model_allowed("", str_c("any")));
    assert_true(tenant_model_allowed("a,bb,c", str_c("bb")));
    assert_false(tenant_model_allowed("a,bb,c", str_c("b")));
    assert_false(tenant_model_allowed("a,bb,c", str_c("bb,c")));

    uint64_t v0 = sysdb_tenants_version(s);
    struct tenant_update u = TENANT_UPDATE_NONE;
    u.rpm = 30;
    u.allowed_models = "qwen2";
    u.name = "Ville U";
    struct tenant_row after;
    assert_int_equal(sysdb_tenant_update(s, "ville-u", &u, &after), LAIR_OK);
    assert_int_equal(after.rpm_limit, 30);
    assert_int_equal(after.tokens_per_day, r.tokens_per_day);
    assert_int_equal(after.retention_days, r.retention_days);
    assert_string_equal(after.allowed_models, "qwen2");
    assert_string_equal(after.name, "Ville U");
    assert_true(sysdb_tenants_version(s) != v0);

    /* a bad value changes nothing, not even the fields that were right */
    uint64_t v1 = sysdb_tenants_version(s);
    struct tenant_update bad = TENANT_UPDATE_NONE;
    bad.rpm = 5;
    bad.allowed_models = "a,,b";
    assert_int_equal(sysdb_tenant_update(s, "ville-u", &bad, NULL), LAIR_EINVAL);
    bad.allowed_models = NULL;
    bad.retention_days = RETENTION_DAYS_MAX + 1;
    assert_int_equal(sysdb_tenant_update(s, "ville-u", &bad, NULL), LAIR_EINVAL);
    bad.retention_days = -1;
    bad.name = "";
    assert_int_equal(sysdb_tenant_update(s, "ville-u", &bad, NULL), LAIR_EINVAL);
    assert_int_equal(sysdb_tenant_update(s, "nope", &u, NULL), LAIR_ENOTFOUND);
    assert_int_equal(sysdb_tenant_get(s, "ville-u", &r), LAIR_OK);
    assert_int_equal(r.rpm_limit, 30);
    assert_string_equal(r.allowed_models, "qwen2");
    assert_string_equal(r.name, "Ville U");
    assert_true(sysdb_tenants_version(s) == v1);

    /* another handle (another process: the CLI) sees the change, and the
     * version moves for it too */
    struct sysdb *s2;
    assert_int_equal(sysdb_open(data, &s2), LAIR_OK);
    uint64_t w0 = sysdb_tenants_version(s2);
    struct tenant_update back = TENANT_UPDATE_NONE;
    back.allowed_models = TENANT_MODELS_ALL;
    assert_int_equal(sysdb_tenant_update(s, "ville-u", &back, NULL), LAIR_OK);
    assert_true(sysdb_tenants_version(s2) != w0);
    assert_int_equal(sysdb_tenant_get(s2, "ville-u", &r), LAIR_OK);
    assert_string_equal(r.allowed_models, TENANT_MODELS_ALL);
    sysdb_free(s2);
    sysdb_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_twice),
        cmocka_unit_test(test_open_missing),
        cmocka_unit_test(test_keys),
        cmocka_unit_test(test_migrations),
        cmocka_unit_test(test_system_from_every_version),
        cmocka_unit_test(test_tenants_and_revocation),
        cmocka_unit_test(test_tenant_from_every_version),
        cmocka_unit_test(test_tenant_update),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
