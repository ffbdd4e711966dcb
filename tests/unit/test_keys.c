/* Unit tests for the keys of src/store/system.c that the hardening review
 * asked for: lifetimes that cannot overflow, assistant restrictions only on
 * user keys (and what becomes of older restricted editor/admin keys), and
 * the last usable admin key of a tenant, which cannot be revoked, even by
 * two revocations racing on two connections. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/system.h"

static char dir[256], data[300];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-keys-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
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

/* Runs sql on system.db through a connection of its own (what an older
 * version of the program, or someone with the file, could have written). */
static void raw_sql(const char *sql)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/system.db", data);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg ? msg : "?");
    sqlite3_close(db);
}

static void make_key(struct sysdb *s, enum key_role role, const char *tenant, int64_t expires,
                     char key[KEY_TEXT_MAX], char id[KEY_ID_LEN + 1])
{
    struct key_spec spec = {.role = role, .tenant = tenant, .expires_at = expires};
    assert_int_equal(sysdb_key_create_spec(s, &spec, key, id), LAIR_OK);
}

static void test_duration_parse(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int64_t want; /* 0: refused */
    } cases[] = {
        {"30d", 30 * 86400},
        {"12h", 12 * 3600},
        {"15m", 900},
        {"90s", 90},
        {"90", 90},
        {"1", 1},
        {"36500d", KEY_EXPIRES_IN_MAX},
        {"3153600000", KEY_EXPIRES_IN_MAX},
        {"3153600001", 0},
        {"36501d", 0},
        {"876001h", 0},
        {"9223372036854775807", 0}, /* the review's value: expired in the past */
        {"9223372036854775807d", 0},
        {"99999999999999999999999999", 0},
        {"106751991167301d", 0}, /* * 86400 wraps to a small positive number */
        {"0", 0},
        {"0d", 0},
        {"-5", 0},
        {"+5", 0},
        {" 5", 0},
        {"5 ", 0},
        {"5x", 0},
        {"d", 0},
        {"", 0},
        {"5dd", 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int64_t got = -1;
        enum lair_err e = key_duration_parse(cases[i].in, &got);
        if (cases[i].want) {
            if (e != LAIR_OK || got != cases[i].want)
                fail_msg("'%s': got %d, %lld", cases[i].in, e, (long long)got);
        } else if (e != LAIR_EINVAL || got != 0) {
            fail_msg("'%s' accepted as %lld", cases[i].in, (long long)got);
        }
    }
    assert_int_equal(key_duration_parse(NULL, &(int64_t){0}), LAIR_EINVAL);
}

static void test_spec_bounds(void **state)
{
    (void)state;
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville", "Ville"), LAIR_OK);
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    int64_t now = (int64_t)time(NULL);
    struct key_spec ok = {.role = ROLE_USER, .tenant = "ville", .assistants = "accueil"};
    assert_int_equal(sysdb_key_create_spec(s, &ok, key, id), LAIR_OK);
    /* a restriction binds only user keys */
    const enum key_role staff[] = {ROLE_EDITOR, ROLE_ADMIN};
    for (size_t i = 0; i < 2; i++) {
        struct key_spec bad = {.role = staff[i], .tenant = "ville", .assistants = "accueil"};
        assert_int_equal(sysdb_key_create_spec(s, &bad, key, id), LAIR_EINVAL);
        bad.assistants = ""; /* "" = every assistant: fine */
        assert_int_equal(sysdb_key_create_spec(s, &bad, key, id), LAIR_OK);
    }
    struct key_spec op = {.role = ROLE_OPERATOR, .assistants = "accueil"};
    assert_int_equal(sysdb_key_create_spec(s, &op, key, id), LAIR_EINVAL);
    assert_false(key_role_restrictable(ROLE_EDITOR));
    assert_false(key_role_restrictable(ROLE_ADMIN));
    assert_true(key_role_restrictable(ROLE_USER));
    /* expiry and limits within bounds */
    struct key_spec t = {.role = ROLE_USER, .tenant = "ville"};
    t.expires_at = -1;
    assert_int_equal(sysdb_key_create_spec(s, &t, key, id), LAIR_EINVAL);
    t.expires_at = now + KEY_EXPIRES_IN_MAX + 3600;
    assert_int_equal(sysdb_key_create_spec(s, &t, key, id), LAIR_EINVAL);
    t.expires_at = now + KEY_EXPIRES_IN_MAX;
    assert_int_equal(sysdb_key_create_spec(s, &t, key, id), LAIR_OK);
    t.expires_at = 0;
    t.rpm_limit = LIMIT_MAX + 1;
    assert_int_equal(sysdb_key_create_spec(s, &t, key, id), LAIR_EINVAL);
    t.rpm_limit = 0;
    t.tokens_per_day = -1;
    assert_int_equal(sysdb_key_create_spec(s, &t, key, id), LAIR_EINVAL);
    /* tenant limits */
    assert_int_equal(sysdb_tenant_set_limits(s, "ville", -1, -1, RETENTION_DAYS_MAX), LAIR_OK);
    assert_int_equal(sysdb_tenant_set_limits(s, "ville", -1, -1, RETENTION_DAYS_MAX + 1),
                     LAIR_EINVAL);
    assert_int_equal(sysdb_tenant_set_limits(s, "ville", LIMIT_MAX + 1, -1, -1), LAIR_EINVAL);
    assert_int_equal(sysdb_tenant_set_limits(s, "ville", -1, INT64_MAX, -1), LAIR_EINVAL);
    sysdb_free(s);
}

static const char *listed_role(struct sysdb *s, const char *tenant, const char *id)
{
    static struct key_row rows[64];
    size_t n = 0;
    assert_int_equal(sysdb_key_list(s, tenant, rows, 64, &n), LAIR_OK);
    for (size_t i = 0; i < n; i++)
        if (!strcmp(rows[i].id, id))
            return rows[i].role;
    fail_msg("key %s not listed", id);
    return NULL;
}

/* Editor and admin keys restricted to assistants, as an earlier version
 * wrote them: they act as user keys with their restriction at once, and
 * are rewritten as such at the next open. */
static void test_legacy_restricted_staff(void **state)
{
    (void)state;
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville", "Ville"), LAIR_OK);
    char ke[KEY_TEXT_MAX], ie[KEY_ID_LEN + 1], ka[KEY_TEXT_MAX], ia[KEY_ID_LEN + 1];
    char kf[KEY_TEXT_MAX], idf[KEY_ID_LEN + 1];
    struct key_spec u = {.role = ROLE_USER, .tenant = "ville", .assistants = "accueil,urbanisme"};
    assert_int_equal(sysdb_key_create_spec(s, &u, ke, ie), LAIR_OK);
    assert_int_equal(sysdb_key_create_spec(s, &u, ka, ia), LAIR_OK);
    make_key(s, ROLE_EDITOR, "ville", 0, kf, idf); /* unrestricted: stays an editor */
    char sql[300];
    snprintf(sql, sizeof(sql),
             "UPDATE api_keys SET role = 'editor' WHERE id = '%s';"
             "UPDATE api_keys SET role = 'admin' WHERE id = '%s';",
             ie, ia);
    raw_sql(sql);

    struct principal p;
    assert_int_equal(sysdb_key_check(s, str_c(ke), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_USER);
    assert_string_equal(p.assistants, "accueil,urbanisme");
    assert_int_equal(sysdb_key_check(s, str_c(ka), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_USER);
    assert_string_equal(listed_role(s, "ville", ia), "user");
    assert_int_equal(sysdb_key_check(s, str_c(kf), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_EDITOR);
    sysdb_free(s);

    assert_int_equal(sysdb_open(data, &s), LAIR_OK); /* rewrites the rows */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(sysdb_handle(s),
                                        "SELECT COUNT(*) FROM api_keys WHERE role = 'user' AND "
                                        "assistants = 'accueil,urbanisme'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 2);
    sqlite3_finalize(st);
    assert_string_equal(listed_role(s, "ville", idf), "editor");
    assert_int_equal(sysdb_key_check(s, str_c(ke), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_USER);
    assert_string_equal(p.assistants, "accueil,urbanisme");
    sysdb_free(s);
}

static void test_last_admin(void **state)
{
    (void)state;
    struct sysdb *s;
    assert_int_equal(sysdb_open(data, &s), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "ville", "Ville"), LAIR_OK);
    assert_int_equal(sysdb_tenant_insert(s, "autre", "Autre"), LAIR_OK);
    char k1[KEY_TEXT_MAX], a1[KEY_ID_LEN + 1], k2[KEY_TEXT_MAX], a2[KEY_ID_LEN + 1];
    char k3[KEY_TEXT_MAX], a3[KEY_ID_LEN + 1], k4[KEY_TEXT_MAX], a4[KEY_ID_LEN + 1];
    char ke[KEY_TEXT_MAX], ie[KEY_ID_LEN + 1], ko[KEY_TEXT_MAX], io[KEY_ID_LEN + 1];
    struct principal p;
    int64_t now = (int64_t)time(NULL);

    make_key(s, ROLE_ADMIN, "ville", 0, k1, a1);
    make_key(s, ROLE_ADMIN, "autre", 0, k4, a4); /* another tenant's admin does not count */
    make_key(s, ROLE_EDITOR, "ville", 0, ke, ie);
    assert_int_equal(sysdb_key_revoke(s, "ville", a1), LAIR_ECONFLICT);
    assert_int_equal(sysdb_key_check(s, str_c(k1), &p), LAIR_OK); /* still works */
    assert_int_equal(sysdb_key_revoke(s, "ville", ie), LAIR_OK);  /* not an admin */

    /* an expired admin key does not count, and can itself be revoked */
    make_key(s, ROLE_ADMIN, "ville", now - 10, k3, a3);
    assert_int_equal(sysdb_key_revoke(s, "ville", a1), LAIR_ECONFLICT);
    /* nor does an admin key restricted to assistants (an older version's) */
    struct key_spec u = {.role = ROLE_USER, .tenant = "ville", .assistants = "accueil"};
    char kr[KEY_TEXT_MAX], ir[KEY_ID_LEN + 1];
    assert_int_equal(sysdb_key_create_spec(s, &u, kr, ir), LAIR_OK);
    char sql[200];
    snprintf(sql, sizeof(sql), "UPDATE api_keys SET role = 'admin' WHERE id = '%s'", ir);
    raw_sql(sql);
    assert_int_equal(sysdb_key_revoke(s, "ville", a1), LAIR_ECONFLICT);
    assert_int_equal(sysdb_key_revoke(s, "ville", a3), LAIR_OK);

    /* with a second usable admin key, either may go, not both */
    make_key(s, ROLE_ADMIN, "ville", now + 3600, k2, a2);
    assert_int_equal(sysdb_key_revoke(s, "ville", a1), LAIR_OK);
    assert_int_equal(sysdb_key_revoke(s, "ville", a2), LAIR_ECONFLICT);
    assert_int_equal(sysdb_key_check(s, str_c(k2), &p), LAIR_OK);
    assert_int_equal(sysdb_key_revoke(s, "ville", a1), LAIR_ENOTFOUND); /* already */
    assert_int_equal(sysdb_key_revoke(s, "ville", "0123456789ab"), LAIR_ENOTFOUND);
    assert_int_equal(sysdb_key_revoke(s, "autre", a2), LAIR_ENOTFOUND); /* not its tenant */

    /* the same for the operator's keys */
    make_key(s, ROLE_OPERATOR, NULL, 0, ko, io);
    assert_int_equal(sysdb_key_revoke(s, NULL, io), LAIR_ECONFLICT);
    char ko2[KEY_TEXT_MAX], io2[KEY_ID_LEN + 1];
    make_key(s, ROLE_OPERATOR, NULL, 0, ko2, io2);
    assert_int_equal(sysdb_key_revoke(s, NULL, io), LAIR_OK);
    assert_int_equal(sysdb_key_revoke(s, NULL, io2), LAIR_ECONFLICT);

    /* deleting the tenant still removes every key */
    assert_int_equal(sysdb_tenant_delete(s, "ville"), LAIR_OK);
    assert_int_equal(sysdb_key_check(s, str_c(k2), &p), LAIR_EAUTH);
    sysdb_free(s);
}

/* Two revocations of the last two admin keys, at once, each on a
 * connection of its own (as two processes, or two server threads, would):
 * exactly one succeeds. */
struct racer {
    struct sysdb *s;
    const char *tenant, *id;
    pthread_barrier_t *go;
    enum lair_err got;
};

static void *race(void *arg)
{
    struct racer *r = arg;
    pthread_barrier_wait(r->go);
    r->got = sysdb_key_revoke(r->s, r->tenant, r->id);
    return NULL;
}

static void test_last_admin_race(void **state)
{
    (void)state;
    struct sysdb *s1, *s2;
    assert_int_equal(sysdb_open(data, &s1), LAIR_OK);
    assert_int_equal(sysdb_open(data, &s2), LAIR_OK);
    pthread_barrier_t go;
    for (int round = 0; round < 60; round++) {
        char tenant[32];
        snprintf(tenant, sizeof(tenant), "ville-%d", round);
        assert_int_equal(sysdb_tenant_insert(s1, tenant, tenant), LAIR_OK);
        char ka[KEY_TEXT_MAX], ia[KEY_ID_LEN + 1], kb[KEY_TEXT_MAX], ib[KEY_ID_LEN + 1];
        make_key(s1, ROLE_ADMIN, tenant, 0, ka, ia);
        make_key(s1, ROLE_ADMIN, tenant, 0, kb, ib);
        pthread_barrier_init(&go, NULL, 2);
        struct racer r1 = {s1, tenant, ia, &go, -1}, r2 = {s2, tenant, ib, &go, -1};
        pthread_t t1, t2;
        pthread_create(&t1, NULL, race, &r1);
        pthread_create(&t2, NULL, race, &r2);
        pthread_join(t1, NULL);
        pthread_join(t2, NULL);
        pthread_barrier_destroy(&go);
        bool one_each = (r1.got == LAIR_OK && r2.got == LAIR_ECONFLICT) ||
                        (r1.got == LAIR_ECONFLICT && r2.got == LAIR_OK);
        if (!one_each)
            fail_msg("round %d: revocations answered %d and %d", round, r1.got, r2.got);
        struct principal p;
        int alive = (sysdb_key_check(s1, str_c(ka), &p) == LAIR_OK) +
                    (sysdb_key_check(s1, str_c(kb), &p) == LAIR_OK);
        assert_int_equal(alive, 1);
    }
    sysdb_free(s2);
    sysdb_free(s1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_duration_parse),
        cmocka_unit_test_setup_teardown(test_spec_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_legacy_restricted_staff, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_admin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_admin_race, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
