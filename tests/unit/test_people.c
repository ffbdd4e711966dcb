/* Unit tests for src/store/people.c: who may enter which tenant (rules,
 * named members, removal as a veto), the last admin, sessions (idle and
 * absolute timeouts, removal and role changes seen at once), sign-ins under
 * way (replay, another browser, expiry), enrollment links and personal keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/people.h"
#include "store/system.h"

#define SIRET "21750001600019"

static char dir[256], data[300];
static struct sysdb *sys;

static void exec(const char *sql)
{
    assert_int_equal(sqlite3_exec(sysdb_handle(sys), sql, NULL, NULL, NULL), SQLITE_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-people-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys))
        return -1;
    if (sysdb_tenant_insert(sys, "ville", "Ville") || sysdb_tenant_insert(sys, "autre", "Autre"))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sysdb_free(sys);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static struct identity person(const char *sub, const char *email, const char *siret)
{
    return (struct identity){
        .provider = "pc", .sub = sub, .email = email, .name = sub, .siret = siret};
}

static size_t entries(const struct identity *id, struct entry *out)
{
    size_t n = 99;
    assert_int_equal(people_entries(sys, id, out, PEOPLE_MAX_ENTRIES, &n), LAIR_OK);
    return n;
}

static void test_validation(void **state)
{
    (void)state;
    assert_true(access_value_valid(ACCESS_SIRET, SIRET));
    assert_false(access_value_valid(ACCESS_SIRET, "21750001600018")); /* Luhn key */
    assert_false(access_value_valid(ACCESS_SIRET, "2175000160001"));
    assert_false(access_value_valid(ACCESS_SIRET, "2175000160001a"));
    assert_true(access_value_valid(ACCESS_DOMAIN, "mairie-exemple.fr"));
    assert_false(access_value_valid(ACCESS_DOMAIN, "Mairie.fr"));
    assert_false(access_value_valid(ACCESS_DOMAIN, "fr"));
    assert_false(access_value_valid(ACCESS_DOMAIN, "-a.fr"));
    assert_true(access_value_valid(ACCESS_GROUP, "urbanisme"));
    assert_false(access_value_valid(ACCESS_GROUP, ""));
    assert_false(access_value_valid(ACCESS_GROUP, "a\nb"));
    assert_true(people_email_valid("marie.dupont@mairie-exemple.fr"));
    assert_false(people_email_valid("Marie@mairie.fr"));
    assert_false(people_email_valid("marie@@mairie.fr"));
    assert_false(people_email_valid("marie"));
    assert_false(people_email_valid("marie dupont@mairie.fr"));
}

static void test_rules_and_members(void **state)
{
    (void)state;
    struct access_rule rules[] = {
        {.kind = ACCESS_SIRET, .value = SIRET, .role = ROLE_EDITOR, .provider = "pc"},
        {.kind = ACCESS_DOMAIN, .value = "mairie-exemple.fr", .role = ROLE_USER},
    };
    assert_int_equal(people_rules_set(sys, "ville", rules, 2), LAIR_OK);
    struct access_rule bad = {.kind = ACCESS_SIRET, .value = "123", .role = ROLE_USER};
    assert_int_equal(people_rules_set(sys, "ville", &bad, 1), LAIR_EINVAL);
    struct access_rule got[8];
    size_t n;
    assert_int_equal(people_rules_list(sys, "ville", got, 8, &n), LAIR_OK);
    assert_int_equal(n, 2); /* the bad set changed nothing */

    struct entry en[PEOPLE_MAX_ENTRIES];
    /* the SIRET rule (editor) wins over the domain rule (user) */
    struct identity marie = person("agent-1", "marie@mairie-exemple.fr", SIRET);
    assert_int_equal(entries(&marie, en), 1);
    assert_string_equal(en[0].tenant, "ville");
    assert_int_equal(en[0].role, ROLE_EDITOR);
    /* a rule for another provider does not match */
    struct identity other = marie;
    other.provider = "keycloak";
    assert_int_equal(entries(&other, en), 1);
    assert_int_equal(en[0].role, ROLE_USER); /* the domain rule, any provider */
    /* nobody */
    struct identity paul = person("agent-9", "paul@ailleurs.fr", "21971000100013");
    assert_int_equal(entries(&paul, en), 0);
    char m[MEMBER_ID_LEN + 1];
    assert_int_equal(people_enter(sys, &paul, "ville", m), LAIR_EPERM);

    /* marie enters: a member row; she is then found by provider+sub */
    char mid[MEMBER_ID_LEN + 1];
    assert_int_equal(people_enter(sys, &marie, "ville", mid), LAIR_OK);
    assert_int_equal(entries(&marie, en), 1);
    assert_string_equal(en[0].member, mid);

    /* a named person, by email, before signing in: admin of "autre" */
    char named[MEMBER_ID_LEN + 1];
    assert_int_equal(
        people_member_add(sys, "autre", "marie@mairie-exemple.fr", ROLE_ADMIN, "t", named),
        LAIR_OK);
    assert_int_equal(
        people_member_add(sys, "autre", "marie@mairie-exemple.fr", ROLE_USER, "t", NULL),
        LAIR_ECONFLICT);
    assert_int_equal(people_member_add(sys, "nulle-part", "x@y.fr", ROLE_USER, "t", NULL),
                     LAIR_ENOTFOUND);
    assert_int_equal(entries(&marie, en), 2);
    char got_id[MEMBER_ID_LEN + 1];
    assert_int_equal(people_enter(sys, &marie, "autre", got_id), LAIR_OK);
    assert_string_equal(got_id, named); /* the named row is bound, not a new one */
    struct member_row row;
    assert_int_equal(people_member_get(sys, "autre", named, &row), LAIR_OK);
    assert_string_equal(row.sub, "agent-1");
    assert_true(row.last_login > 0);
    /* another tenant's id answers not found */
    assert_int_equal(people_member_get(sys, "ville", named, &row), LAIR_ENOTFOUND);

    /* removal is a veto: the SIRET rule no longer lets her into ville */
    assert_int_equal(people_member_remove(sys, "ville", mid), LAIR_OK);
    assert_int_equal(entries(&marie, en), 1);
    assert_string_equal(en[0].tenant, "autre");
    assert_int_equal(people_enter(sys, &marie, "ville", m), LAIR_EPERM);
    /* named again, she is back */
    assert_int_equal(
        people_member_add(sys, "ville", "marie@mairie-exemple.fr", ROLE_USER, "t", NULL), LAIR_OK);
    assert_int_equal(entries(&marie, en), 2);
}

static void test_named_by_subject(void **state)
{
    (void)state;
    char id[MEMBER_ID_LEN + 1], got[MEMBER_ID_LEN + 1];
    assert_int_equal(people_member_add_subject(sys, "autre", "kc", "f3a9-77", ROLE_EDITOR, "t", id),
                     LAIR_OK);
    assert_int_equal(people_member_add_subject(sys, "autre", "kc", "f3a9-77", ROLE_USER, "t", NULL),
                     LAIR_ECONFLICT);
    assert_int_equal(people_member_add_subject(sys, "autre", "K C", "x", ROLE_USER, "t", NULL),
                     LAIR_EINVAL);
    assert_int_equal(people_member_add_subject(sys, "autre", "kc", "", ROLE_USER, "t", NULL),
                     LAIR_EINVAL);
    /* the person signs in through that provider, with no email at all */
    struct identity k = {.provider = "kc", .sub = "f3a9-77", .email = "", .name = "K"};
    struct entry en[PEOPLE_MAX_ENTRIES];
    assert_int_equal(entries(&k, en), 1);
    assert_int_equal(en[0].role, ROLE_EDITOR);
    assert_int_equal(people_enter(sys, &k, "autre", got), LAIR_OK);
    assert_string_equal(got, id);
    /* the same subject at another provider is someone else */
    k.provider = "pc";
    assert_int_equal(entries(&k, en), 0);
}

static void test_last_admin(void **state)
{
    (void)state;
    char a[MEMBER_ID_LEN + 1], b[MEMBER_ID_LEN + 1];
    assert_int_equal(sysdb_tenant_insert(sys, "seule", "Seule"), LAIR_OK);
    assert_int_equal(people_member_add(sys, "seule", "a@seule.fr", ROLE_ADMIN, "t", a), LAIR_OK);
    assert_int_equal(people_member_add(sys, "seule", "b@seule.fr", ROLE_EDITOR, "t", b), LAIR_OK);
    assert_int_equal(people_member_remove(sys, "seule", a), LAIR_ECONFLICT);
    assert_int_equal(people_member_set_role(sys, "seule", a, ROLE_USER), LAIR_ECONFLICT);
    assert_int_equal(people_member_set_role(sys, "seule", b, ROLE_ADMIN), LAIR_OK);
    assert_int_equal(people_member_remove(sys, "seule", a), LAIR_OK);
    assert_int_equal(people_member_remove(sys, "seule", a), LAIR_ENOTFOUND);
    /* an admin key counts as an admin */
    char k[KEY_TEXT_MAX], kid[KEY_ID_LEN + 1];
    assert_int_equal(sysdb_key_create(sys, ROLE_ADMIN, "seule", 0, k, kid), LAIR_OK);
    assert_int_equal(people_member_set_role(sys, "seule", b, ROLE_USER), LAIR_OK);
}

static void test_sessions(void **state)
{
    (void)state;
    struct identity jean = person("agent-2", "jean@mairie-exemple.fr", SIRET);
    char mid[MEMBER_ID_LEN + 1];
    assert_int_equal(
        people_member_add(sys, "ville", "jean@mairie-exemple.fr", ROLE_EDITOR, "t", NULL), LAIR_OK);
    assert_int_equal(people_enter(sys, &jean, "ville", mid), LAIR_OK);
    char tok[SESSION_TOKEN_LEN + 1], csrf[CSRF_TOKEN_LEN + 1];
    assert_int_equal(people_session_create(sys, &jean, mid, "id.token.x", "{}", tok, csrf),
                     LAIR_OK);
    struct session_view v;
    struct session_limits lim = {0};
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_OK);
    assert_true(v.chosen);
    assert_string_equal(v.who.tenant, "ville");
    assert_string_equal(v.who.key_id, mid);
    assert_int_equal(v.who.role, ROLE_EDITOR);
    assert_string_equal(v.csrf, csrf);
    /* the token is not stored: the table holds no column equal to it */
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(sysdb_handle(sys),
                                        "SELECT count(*) FROM sessions WHERE id_hash = ?1", -1, &st,
                                        NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, tok, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    /* a role change is seen at once */
    assert_int_equal(people_member_set_role(sys, "ville", mid, ROLE_USER), LAIR_OK);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_OK);
    assert_int_equal(v.who.role, ROLE_USER);
    /* idle: 30 minutes by default */
    exec("UPDATE sessions SET last_seen = last_seen - 1801");
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_EAUTH); /* deleted */
    /* absolute: 12 hours by default, even when active */
    assert_int_equal(people_session_create(sys, &jean, mid, "", "{}", tok, csrf), LAIR_OK);
    exec("UPDATE sessions SET created_at = created_at - 43201");
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_EAUTH);
    /* configured limits */
    struct session_limits shortl = {.idle = 10, .absolute = 100};
    assert_int_equal(people_session_create(sys, &jean, mid, "", "{}", tok, csrf), LAIR_OK);
    exec("UPDATE sessions SET last_seen = last_seen - 11");
    assert_int_equal(people_session_get(sys, tok, &shortl, &v), LAIR_EAUTH);
    /* removal ends the session */
    assert_int_equal(people_session_create(sys, &jean, mid, "", "{}", tok, csrf), LAIR_OK);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_OK);
    assert_int_equal(people_member_remove(sys, "ville", mid), LAIR_OK);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_EAUTH);
    /* not chosen: signed in, no principal */
    assert_int_equal(people_session_create(sys, &jean, "", "", "{\"siret\":\"x\"}", tok, csrf),
                     LAIR_OK);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_OK);
    assert_false(v.chosen);
    assert_string_equal(v.claims, "{\"siret\":\"x\"}");
    /* end, end everywhere */
    char t2[SESSION_TOKEN_LEN + 1];
    assert_int_equal(people_session_create(sys, &jean, "", "tok-id", "{}", t2, csrf), LAIR_OK);
    char idt[64];
    assert_int_equal(people_session_end(sys, t2, idt, sizeof(idt)), LAIR_OK);
    assert_string_equal(idt, "tok-id");
    assert_int_equal(people_session_get(sys, t2, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_create(sys, &jean, "", "", "{}", t2, csrf), LAIR_OK);
    int n = 0;
    assert_int_equal(people_session_end_all(sys, "pc", "agent-2", &n), LAIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(people_session_get(sys, tok, &lim, &v), LAIR_EAUTH);
    /* junk tokens */
    assert_int_equal(people_session_get(sys, "", &lim, &v), LAIR_EAUTH);
    assert_int_equal(
        people_session_get(sys, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", &lim, &v),
        LAIR_EAUTH);
}

static void test_pending_logins(void **state)
{
    (void)state;
    struct pending_login p = {.provider = "pc", .nonce = "n", .verifier = "v", .next = "/chat"};
    struct pending_login out;
    assert_int_equal(people_login_put(sys, "state-1", "browser-1", &p), LAIR_OK);
    assert_int_equal(people_login_take(sys, "state-1", "browser-2", &out), LAIR_EAUTH);
    /* the attempt with another browser spent it */
    assert_int_equal(people_login_take(sys, "state-1", "browser-1", &out), LAIR_ENOTFOUND);
    assert_int_equal(people_login_put(sys, "state-2", "browser-1", &p), LAIR_OK);
    assert_int_equal(people_login_take(sys, "state-2", "browser-1", &out), LAIR_OK);
    assert_string_equal(out.next, "/chat");
    assert_string_equal(out.nonce, "n");
    assert_int_equal(people_login_take(sys, "state-2", "browser-1", &out), LAIR_ENOTFOUND);
    assert_int_equal(people_login_put(sys, "state-3", "browser-1", &p), LAIR_OK);
    exec("UPDATE oidc_pending SET created_at = created_at - 601");
    assert_int_equal(people_login_take(sys, "state-3", "browser-1", &out), LAIR_ENOTFOUND);
}

static void test_enrollment_and_personal_keys(void **state)
{
    (void)state;
    char tok[ENROLL_TOKEN_LEN + 1], id[MEMBER_ID_LEN + 1];
    int64_t exp;
    assert_int_equal(people_enroll_create(sys, "ville", "op", 3600, tok, id, &exp), LAIR_OK);
    assert_int_equal(people_enroll_create(sys, "nulle-part", "op", 3600, tok, id, &exp),
                     LAIR_ENOTFOUND);
    assert_int_equal(people_enroll_create(sys, "ville", "op", 3600, tok, id, &exp), LAIR_OK);
    char tenant[SLUG_MAX + 1], lid[MEMBER_ID_LEN + 1], key[KEY_TEXT_MAX], kid[KEY_ID_LEN + 1];
    assert_int_equal(people_enroll_use(sys, tok, tenant, lid, key, kid), LAIR_OK);
    assert_string_equal(tenant, "ville");
    assert_string_equal(lid, id);
    struct principal p;
    assert_int_equal(sysdb_key_check(sys, str_c(key), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_ADMIN);
    assert_string_equal(p.tenant, "ville");
    assert_int_equal(people_enroll_use(sys, tok, tenant, lid, key, kid), LAIR_ECONFLICT);
    assert_string_equal(tenant, "ville"); /* reported to that tenant */
    assert_int_equal(people_enroll_create(sys, "ville", "op", 3600, tok, id, &exp), LAIR_OK);
    exec("UPDATE enrollments SET expires_at = 1 WHERE used_at = 0");
    assert_int_equal(people_enroll_use(sys, tok, tenant, lid, key, kid), LAIR_EPERM);
    assert_int_equal(people_enroll_use(sys, "nope", tenant, lid, key, kid), LAIR_ENOTFOUND);

    /* a personal key follows its member's role down and dies with them */
    struct identity sophie = person("agent-3", "sophie@mairie-exemple.fr", "");
    char mid[MEMBER_ID_LEN + 1];
    assert_int_equal(
        people_member_add(sys, "ville", "sophie@mairie-exemple.fr", ROLE_ADMIN, "t", NULL),
        LAIR_OK);
    assert_int_equal(people_enter(sys, &sophie, "ville", mid), LAIR_OK);
    struct key_spec spec = {.role = ROLE_EDITOR, .tenant = "ville", .member = mid};
    assert_int_equal(sysdb_key_create_spec(sys, &spec, key, kid), LAIR_OK);
    assert_int_equal(people_member_set_role(sys, "ville", mid, ROLE_USER), LAIR_OK);
    assert_int_equal(sysdb_key_check(sys, str_c(key), &p), LAIR_OK);
    assert_int_equal(p.role, ROLE_USER);
    assert_int_equal(people_member_remove(sys, "ville", mid), LAIR_OK);
    assert_int_equal(sysdb_key_check(sys, str_c(key), &p), LAIR_EAUTH);
}

/* A provider's back-channel logout: by sub, every session of the person;
 * by sid alone, the sessions of that provider session; members listed for
 * their tenants' logs. */
static void test_backchannel_logout(void **state)
{
    (void)state;
    struct identity paul = person("agent-7", "paul@mairie-exemple.fr", SIRET);
    char mid[MEMBER_ID_LEN + 1];
    assert_int_equal(
        people_member_add(sys, "autre", "paul@mairie-exemple.fr", ROLE_USER, "t", NULL), LAIR_OK);
    assert_int_equal(people_enter(sys, &paul, "autre", mid), LAIR_OK);
    char a[SESSION_TOKEN_LEN + 1], b[SESSION_TOKEN_LEN + 1], c[SESSION_TOKEN_LEN + 1];
    char other[SESSION_TOKEN_LEN + 1], csrf[CSRF_TOKEN_LEN + 1];
    paul.sid = "op-session-1";
    assert_int_equal(people_session_create(sys, &paul, mid, "", "{}", a, csrf), LAIR_OK);
    assert_int_equal(people_session_create(sys, &paul, "", "", "{}", b, csrf), LAIR_OK);
    paul.sid = "op-session-2";
    assert_int_equal(people_session_create(sys, &paul, mid, "", "{}", c, csrf), LAIR_OK);
    struct identity anne = person("agent-8", "anne@mairie-exemple.fr", SIRET);
    anne.sid = "op-session-1"; /* the same sid under another provider does not count */
    anne.provider = "kc";
    assert_int_equal(people_session_create(sys, &anne, "", "", "{}", other, csrf), LAIR_OK);
    struct session_ended ended[4];
    size_t nm = 9;
    int n = 9;
    assert_int_equal(people_session_end_logout(sys, "pc", NULL, "", ended, 4, &nm, &n),
                     LAIR_EINVAL);
    assert_int_equal(nm, 0);
    /* by sid: a and b (b not chosen: no member), not c */
    assert_int_equal(people_session_end_logout(sys, "pc", "", "op-session-1", ended, 4, &nm, &n),
                     LAIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(nm, 1);
    assert_string_equal(ended[0].tenant, "autre");
    assert_string_equal(ended[0].member, mid);
    struct session_view v;
    struct session_limits lim = {0};
    assert_int_equal(people_session_get(sys, a, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_get(sys, b, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_get(sys, c, &lim, &v), LAIR_OK);
    assert_int_equal(people_session_get(sys, other, &lim, &v), LAIR_OK);
    /* a sid no session has, an empty one: nothing */
    assert_int_equal(people_session_end_logout(sys, "pc", NULL, "op-session-9", ended, 4, &nm, &n),
                     LAIR_OK);
    assert_int_equal(n, 0);
    /* by sub (whatever the sid): every session of the person at that provider */
    paul.sid = NULL;
    assert_int_equal(people_session_create(sys, &paul, mid, "", "{}", a, csrf), LAIR_OK);
    assert_int_equal(
        people_session_end_logout(sys, "pc", "agent-7", "op-session-9", ended, 4, &nm, &n),
        LAIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(nm, 1);
    assert_int_equal(people_session_get(sys, a, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_get(sys, c, &lim, &v), LAIR_EAUTH);
    assert_int_equal(people_session_get(sys, other, &lim, &v), LAIR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validation),
        cmocka_unit_test(test_rules_and_members),
        cmocka_unit_test(test_named_by_subject),
        cmocka_unit_test(test_last_admin),
        cmocka_unit_test(test_sessions),
        cmocka_unit_test(test_pending_logins),
        cmocka_unit_test(test_enrollment_and_personal_keys),
        cmocka_unit_test(test_backchannel_logout),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
