/* Members, access rules, sessions, sign-ins under way and enrollment links,
 * in system.db (schema v6; v7 adds sessions.sid). See store/people.h and docs/oidc.md. */
#include "store/people.h"

#include <ctype.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/db.h"
#include "store/tx.h"
#include "core/banned.h"

#define LOGIN_TTL 600 /* seconds a sign-in may take at the provider */

static const char *const kind_names[] = {"siret", "domain", "group"};

const char *access_kind_name(enum access_kind k)
{
    return (unsigned)k < 3 ? kind_names[k] : "?";
}

enum lair_err access_kind_parse(const char *s, enum access_kind *out)
{
    for (int i = 0; s && i < 3; i++)
        if (!strcmp(s, kind_names[i])) {
            *out = (enum access_kind)i;
            return LAIR_OK;
        }
    return LAIR_EINVAL;
}

/* Luhn over the 14 digits (INSEE's rule for SIREN and SIRET; La Poste's
 * establishments, SIREN 356000000, follow another rule and are accepted). */
static bool siret_valid(const char *v)
{
    if (strlen(v) != 14)
        return false;
    int sum = 0;
    for (int i = 0; i < 14; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        int d = v[i] - '0';
        if (i % 2 == 0) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum += d;
    }
    return sum % 10 == 0 || !strncmp(v, "356000000", 9);
}

static bool domain_valid(const char *v)
{
    size_t n = strlen(v), label = 0;
    if (n < 3 || n > 253 || v[0] == '.' || v[n - 1] == '.' || !strchr(v, '.'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = v[i];
        if (c == '.') {
            if (label == 0 || v[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && label > 0)))
            return false;
        if (++label > 63)
            return false;
    }
    return true;
}

bool access_value_valid(enum access_kind kind, const char *value)
{
    if (!value)
        return false;
    switch (kind) {
    case ACCESS_SIRET: return siret_valid(value);
    case ACCESS_DOMAIN: return domain_valid(value);
    case ACCESS_GROUP: {
        size_t n = strlen(value);
        if (n == 0 || n > ACCESS_VALUE_MAX)
            return false;
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
                return false;
        return true;
    }
    }
    return false;
}

bool people_email_valid(const char *email)
{
    if (!email)
        return false;
    size_t n = strlen(email);
    const char *at = strchr(email, '@');
    if (n < 3 || n > PEOPLE_EMAIL_MAX || !at || at == email || strchr(at + 1, '@'))
        return false;
    for (const char *p = email; p < at; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f || (*p >= 'A' && *p <= 'Z') || *p == '"' ||
            *p == ',' || *p == '<' || *p == '>')
            return false;
    return domain_valid(at + 1);
}

static void copy_col(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

static enum key_role role_of(const char *s)
{
    if (s && !strcmp(s, "admin"))
        return ROLE_ADMIN;
    if (s && !strcmp(s, "editor"))
        return ROLE_EDITOR;
    return ROLE_USER;
}

static void random_token(char *out, size_t cap)
{
    unsigned char b[32];
    randombytes_buf(b, sizeof(b));
    sodium_bin2base64(out, cap, b, sizeof(b), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(b, sizeof(b));
}

static void random_id(char out[MEMBER_ID_LEN + 1])
{
    unsigned char b[MEMBER_ID_LEN / 2];
    randombytes_buf(b, sizeof(b));
    sodium_bin2hex(out, MEMBER_ID_LEN + 1, b, sizeof(b));
}

/* A transaction on system.db's shared connection, under its lock. */
static enum lair_err begin(struct sysdb *s, sqlite3_stmt **rb)
{
    sysdb_lock(s);
    enum lair_err e = tx_begin(sysdb_handle(s), "BEGIN IMMEDIATE", rb);
    if (e)
        sysdb_unlock(s);
    return e;
}

static enum lair_err end(struct sysdb *s, enum lair_err e, sqlite3_stmt *rb)
{
    e = tx_end(sysdb_handle(s), e, rb);
    sysdb_unlock(s);
    return e;
}

static enum lair_err prep(struct sysdb *s, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(sysdb_handle(s), sql, -1, st, NULL) == SQLITE_OK ? LAIR_OK : LAIR_EDB;
}

/* Steps a statement that returns no row and finalizes it. */
static enum lair_err run(struct sysdb *s, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum lair_err e = rc == SQLITE_DONE ? LAIR_OK : db_err(sysdb_handle(s), rc);
    sqlite3_finalize(st);
    return e;
}

/* ---- access rules ---- */

enum lair_err people_rules_set(struct sysdb *s, const char *tenant, const struct access_rule *rules,
                               size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!access_value_valid(rules[i].kind, rules[i].value) || rules[i].role < ROLE_USER ||
            rules[i].role > ROLE_ADMIN)
            return LAIR_EINVAL;
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s, "DELETE FROM access_rules WHERE tenant = ?1", &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        e = run(s, st);
    }
    for (size_t i = 0; !e && i < n; i++) {
        e = prep(s,
                 "INSERT OR REPLACE INTO access_rules(tenant, kind, value, role, provider) "
                 "VALUES (?1, ?2, ?3, ?4, ?5)",
                 &st);
        if (e)
            break;
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, access_kind_name(rules[i].kind), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, rules[i].value, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, key_role_name(rules[i].role), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, rules[i].provider, -1, SQLITE_STATIC);
        e = run(s, st);
    }
    return end(s, e, rb);
}

enum lair_err people_rules_list(struct sysdb *s, const char *tenant, struct access_rule *out,
                                size_t max, size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    sysdb_lock(s);
    enum lair_err e = prep(s,
                           "SELECT kind, value, role, provider FROM access_rules WHERE tenant = ?1 "
                           "ORDER BY kind, value",
                           &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max) {
            struct access_rule *r = &out[(*n)++];
            if (access_kind_parse((const char *)sqlite3_column_text(st, 0), &r->kind))
                r->kind = ACCESS_GROUP;
            copy_col(st, 1, r->value, sizeof(r->value));
            r->role = role_of((const char *)sqlite3_column_text(st, 2));
            copy_col(st, 3, r->provider, sizeof(r->provider));
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    sysdb_unlock(s);
    return e;
}

/* ---- members ---- */

#define MEMBER_COLS                                                                                \
    "id, tenant, email, name, provider, sub, role, source, removed, created_at, last_login"

static void member_from_row(sqlite3_stmt *st, struct member_row *m)
{
    copy_col(st, 0, m->id, sizeof(m->id));
    copy_col(st, 1, m->tenant, sizeof(m->tenant));
    copy_col(st, 2, m->email, sizeof(m->email));
    copy_col(st, 3, m->name, sizeof(m->name));
    copy_col(st, 4, m->provider, sizeof(m->provider));
    copy_col(st, 5, m->sub, sizeof(m->sub));
    m->role = role_of((const char *)sqlite3_column_text(st, 6));
    copy_col(st, 7, m->source, sizeof(m->source));
    m->removed = sqlite3_column_int(st, 8) != 0;
    m->created_at = sqlite3_column_int64(st, 9);
    m->last_login = sqlite3_column_int64(st, 10);
}

/* Names a person in tenant: by email (provider and sub ""), or by provider
 * and subject (email ""). An active row for them: LAIR_ECONFLICT; a removed
 * one comes back with the new role. */
static enum lair_err member_name(struct sysdb *s, const char *tenant, const char *email,
                                 const char *provider, const char *sub, enum key_role role,
                                 const char *added_by, char id[MEMBER_ID_LEN + 1])
{
    char newid[MEMBER_ID_LEN + 1];
    random_id(newid);
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s,
             email[0] ? "SELECT id, removed FROM members WHERE tenant = ?1 AND email = ?2"
                      : "SELECT id, removed FROM members WHERE tenant = ?1 AND provider = ?3 "
                        "AND sub = ?4",
             &st);
    bool exists = false, removed = false;
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        if (email[0])
            sqlite3_bind_text(st, 2, email, -1, SQLITE_STATIC);
        else {
            sqlite3_bind_text(st, 3, provider, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, sub, -1, SQLITE_STATIC);
        }
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            exists = true;
            copy_col(st, 0, newid, sizeof(newid));
            removed = sqlite3_column_int(st, 1) != 0;
        } else if (rc != SQLITE_DONE)
            e = db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    if (!e && exists && !removed)
        e = LAIR_ECONFLICT;
    else if (!e && exists) {
        e = prep(s,
                 "UPDATE members SET removed = 0, role = ?2, source = 'named', added_by = ?3 "
                 "WHERE id = ?1",
                 &st);
        if (!e) {
            sqlite3_bind_text(st, 1, newid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, key_role_name(role), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, added_by ? added_by : "", -1, SQLITE_STATIC);
            e = run(s, st);
        }
    } else if (!e) {
        e = prep(s,
                 "INSERT INTO members(id, tenant, email, provider, sub, role, source, added_by, "
                 "created_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6, 'named', ?7, ?8 WHERE EXISTS "
                 "(SELECT 1 FROM tenants WHERE slug = ?2)",
                 &st);
        if (!e) {
            sqlite3_bind_text(st, 1, newid, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, tenant, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 3, email, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 4, provider, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 5, sub, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, key_role_name(role), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, added_by ? added_by : "", -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, (int64_t)time(NULL));
            e = run(s, st);
            if (!e && sqlite3_changes(sysdb_handle(s)) != 1)
                e = LAIR_ENOTFOUND;
        }
    }
    e = end(s, e, rb);
    if (!e && id)
        memcpy(id, newid, sizeof(newid));
    return e;
}

enum lair_err people_member_add(struct sysdb *s, const char *tenant, const char *email,
                                enum key_role role, const char *added_by,
                                char id[MEMBER_ID_LEN + 1])
{
    if (!people_email_valid(email) || role < ROLE_USER || role > ROLE_ADMIN)
        return LAIR_EINVAL;
    return member_name(s, tenant, email, "", "", role, added_by, id);
}

static bool provider_id_valid(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0 || n > PEOPLE_PROVIDER_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
            return false;
    return true;
}

enum lair_err people_member_add_subject(struct sysdb *s, const char *tenant, const char *provider,
                                        const char *sub, enum key_role role, const char *added_by,
                                        char id[MEMBER_ID_LEN + 1])
{
    size_t sl = sub ? strlen(sub) : 0;
    if (!provider_id_valid(provider) || sl == 0 || sl > PEOPLE_SUB_MAX || role < ROLE_USER ||
        role > ROLE_ADMIN)
        return LAIR_EINVAL;
    for (size_t i = 0; i < sl; i++)
        if ((unsigned char)sub[i] < 0x20 || sub[i] == 0x7f)
            return LAIR_EINVAL;
    return member_name(s, tenant, "", provider, sub, role, added_by, id);
}

enum lair_err people_member_list(struct sysdb *s, const char *tenant, struct member_row *out,
                                 size_t max, size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    sysdb_lock(s);
    enum lair_err e = prep(s,
                           "SELECT " MEMBER_COLS " FROM members WHERE tenant = ?1 AND removed = 0 "
                           "ORDER BY email, name, id",
                           &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
            member_from_row(st, &out[(*n)++]);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    sysdb_unlock(s);
    return e;
}

enum lair_err people_member_get(struct sysdb *s, const char *tenant, const char *id,
                                struct member_row *out)
{
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e = prep(s,
                           "SELECT " MEMBER_COLS " FROM members WHERE tenant = ?1 AND id = ?2 "
                           "AND removed = 0",
                           &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            member_from_row(st, out);
        else
            e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    sysdb_unlock(s);
    return e;
}

/* LAIR_ECONFLICT when, without member id as an admin, tenant would have no
 * admin left: no other active admin member and no usable admin key. */
static enum lair_err check_admin_left(struct sysdb *s, const char *tenant, const char *id)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(
        s,
        "SELECT (SELECT COUNT(*) FROM members WHERE tenant = ?1 AND id <> ?2 AND removed = 0 "
        "AND role = 'admin') + (SELECT COUNT(*) FROM api_keys WHERE tenant = ?1 AND role = "
        "'admin' AND revoked_at = 0 AND (expires_at = 0 OR expires_at > ?3) AND assistants = '' "
        "AND member <> ?2), "
        "(SELECT role = 'admin' FROM members WHERE tenant = ?1 AND id = ?2)",
        &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)time(NULL));
    e = LAIR_EDB;
    if (sqlite3_step(st) == SQLITE_ROW)
        e = sqlite3_column_int(st, 1) && sqlite3_column_int64(st, 0) == 0 ? LAIR_ECONFLICT
                                                                          : LAIR_OK;
    sqlite3_finalize(st);
    return e;
}

static enum lair_err member_change(struct sysdb *s, const char *tenant, const char *id,
                                   enum key_role role, bool remove)
{
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s, "SELECT 1 FROM members WHERE tenant = ?1 AND id = ?2 AND removed = 0", &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        e = rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
        sqlite3_finalize(st);
    }
    if (!e && (remove || role != ROLE_ADMIN))
        e = check_admin_left(s, tenant, id);
    if (!e && remove) {
        /* the person's sessions end and their personal keys die with the membership */
        static const char *const sql[] = {
            "UPDATE members SET removed = 1 WHERE id = ?1",
            "DELETE FROM sessions WHERE member = ?1",
            "UPDATE api_keys SET revoked_at = ?2 WHERE member = ?1 AND revoked_at = 0",
        };
        for (size_t i = 0; !e && i < 3; i++) {
            e = prep(s, sql[i], &st);
            if (!e) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                if (i == 2)
                    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
                e = run(s, st);
            }
        }
    } else if (!e) {
        /* personal keys never act above the member's role */
        static const char *const sql[] = {
            "UPDATE members SET role = ?2 WHERE id = ?1",
            "UPDATE api_keys SET role = ?2 WHERE member = ?1 AND (CASE role WHEN 'admin' THEN 3 "
            "WHEN 'editor' THEN 2 ELSE 1 END) > (CASE ?2 WHEN 'admin' THEN 3 WHEN 'editor' THEN 2 "
            "ELSE 1 END)",
        };
        for (size_t i = 0; !e && i < 2; i++) {
            e = prep(s, sql[i], &st);
            if (!e) {
                sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
                sqlite3_bind_text(st, 2, key_role_name(role), -1, SQLITE_STATIC);
                e = run(s, st);
            }
        }
    }
    return end(s, e, rb);
}

enum lair_err people_member_set_role(struct sysdb *s, const char *tenant, const char *id,
                                     enum key_role role)
{
    if (role < ROLE_USER || role > ROLE_ADMIN)
        return LAIR_EINVAL;
    return member_change(s, tenant, id, role, false);
}

enum lair_err people_member_remove(struct sysdb *s, const char *tenant, const char *id)
{
    return member_change(s, tenant, id, ROLE_USER, true);
}

/* ---- signing in ---- */

static const char *email_domain(const char *email)
{
    const char *at = email ? strchr(email, '@') : NULL;
    return at ? at + 1 : "";
}

/* Adds (tenant, role, member, source) to out unless the tenant is there
 * already (the first entry found wins: members before rules, and among
 * rules the highest role, as the query orders them). */
static void entry_add(struct entry *out, size_t max, size_t *n, sqlite3_stmt *st)
{
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if (!t)
        return;
    for (size_t i = 0; i < *n; i++)
        if (!strcmp(out[i].tenant, t))
            return;
    if (*n >= max)
        return;
    struct entry *en = &out[(*n)++];
    snprintf(en->tenant, sizeof(en->tenant), "%s", t);
    copy_col(st, 1, en->tenant_name, sizeof(en->tenant_name));
    en->role = role_of((const char *)sqlite3_column_text(st, 2));
    copy_col(st, 3, en->member, sizeof(en->member));
    copy_col(st, 4, en->source, sizeof(en->source));
}

/* Entries from rules, in a temporary table of the person's claims. The
 * removed flag of a row for the same person in that tenant vetoes a rule. */
static enum lair_err entries_locked(struct sysdb *s, const struct identity *id, struct entry *out,
                                    size_t max, size_t *n)
{
    sqlite3_stmt *st;
    *n = 0;
    /* 1. member rows of this person (by provider+sub), then named by email */
    enum lair_err e =
        prep(s,
             "SELECT m.tenant, t.name, m.role, m.id, m.source, m.removed FROM members m "
             "JOIN tenants t ON t.slug = m.tenant WHERE (m.provider = ?1 AND m.sub = ?2) "
             "OR (?3 <> '' AND m.email = ?3 AND m.sub = '') "
             "ORDER BY m.sub = '' , m.tenant",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id->sub, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, id->email ? id->email : "", -1, SQLITE_STATIC);
    /* removed rows are collected too, as vetoes: kept in a side list */
    char vetoed[PEOPLE_MAX_ENTRIES][SLUG_MAX + 1];
    size_t nv = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_int(st, 5)) {
            if (nv < PEOPLE_MAX_ENTRIES)
                copy_col(st, 0, vetoed[nv++], sizeof(vetoed[0]));
            continue;
        }
        bool veto = false;
        for (size_t i = 0; i < nv; i++)
            veto |= !strcmp(vetoed[i], (const char *)sqlite3_column_text(st, 0));
        if (!veto)
            entry_add(out, max, n, st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    /* 2. rules matching the claims; the groups go in as one JSON array */
    char groups[4096];
    size_t gl = 0;
    groups[gl++] = '[';
    for (size_t i = 0; i < id->n_groups; i++) {
        sqlite3_stmt *q;
        if (prep(s, "SELECT json_quote(?1)", &q))
            return LAIR_EDB;
        sqlite3_bind_text(q, 1, id->groups[i], -1, SQLITE_STATIC);
        if (sqlite3_step(q) == SQLITE_ROW) {
            const char *j = (const char *)sqlite3_column_text(q, 0);
            size_t jl = j ? strlen(j) : 0;
            if (j && gl + jl + 3 < sizeof(groups)) {
                if (gl > 1)
                    groups[gl++] = ',';
                memcpy(groups + gl, j, jl);
                gl += jl;
            }
        }
        sqlite3_finalize(q);
    }
    groups[gl++] = ']';
    groups[gl] = 0;
    e = prep(s,
             "SELECT r.tenant, t.name, r.role, '', r.kind FROM access_rules r "
             "JOIN tenants t ON t.slug = r.tenant WHERE (r.provider = '' OR r.provider = ?1) "
             "AND ((r.kind = 'siret' AND ?2 <> '' AND r.value = ?2) "
             "OR (r.kind = 'domain' AND ?3 <> '' AND r.value = ?3) "
             "OR (r.kind = 'group' AND r.value IN (SELECT value FROM json_each(?4)))) "
             "ORDER BY r.tenant, CASE r.role WHEN 'admin' THEN 0 WHEN 'editor' THEN 1 ELSE 2 END",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id->provider, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, id->siret ? id->siret : "", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, email_domain(id->email), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, groups, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        bool veto = false;
        for (size_t i = 0; i < nv; i++)
            veto |= !strcmp(vetoed[i], (const char *)sqlite3_column_text(st, 0));
        if (!veto)
            entry_add(out, max, n, st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err people_entries(struct sysdb *s, const struct identity *id, struct entry *out,
                             size_t max, size_t *n)
{
    sysdb_lock(s);
    enum lair_err e = entries_locked(s, id, out, max, n);
    sysdb_unlock(s);
    return e;
}

enum lair_err people_enter(struct sysdb *s, const struct identity *id, const char *tenant,
                           char member[MEMBER_ID_LEN + 1])
{
    struct entry entries[PEOPLE_MAX_ENTRIES];
    size_t n = 0;
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = entries_locked(s, id, entries, PEOPLE_MAX_ENTRIES, &n);
    const struct entry *en = NULL;
    for (size_t i = 0; !e && i < n; i++)
        if (!strcmp(entries[i].tenant, tenant))
            en = &entries[i];
    if (!e && !en)
        e = LAIR_EPERM;
    int64_t now = (int64_t)time(NULL);
    char mid[MEMBER_ID_LEN + 1];
    if (!e && en->member[0]) {
        snprintf(mid, sizeof(mid), "%s", en->member);
        e = prep(s,
                 "UPDATE members SET provider = ?2, sub = ?3, name = ?4, "
                 "email = CASE WHEN email = '' AND NOT EXISTS (SELECT 1 FROM members o "
                 "WHERE o.tenant = members.tenant AND o.email = ?5) THEN ?5 ELSE email END, "
                 "last_login = ?6 "
                 "WHERE id = ?1",
                 &st);
    } else if (!e) {
        random_id(mid);
        e = prep(s,
                 "INSERT INTO members(id, provider, sub, name, email, last_login, tenant, role, "
                 "source, created_at) VALUES (?1, ?2, ?3, ?4, "
                 "CASE WHEN EXISTS (SELECT 1 FROM members WHERE tenant = ?7 AND email = ?5) "
                 "THEN '' ELSE ?5 END, ?6, ?7, ?8, ?9, ?6)",
                 &st);
    }
    if (!e) {
        sqlite3_bind_text(st, 1, mid, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id->sub, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, id->name ? id->name : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, id->email ? id->email : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now);
        if (!en->member[0]) {
            sqlite3_bind_text(st, 7, tenant, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 8, key_role_name(en->role), -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 9, en->source, -1, SQLITE_STATIC);
        }
        e = run(s, st);
    }
    e = end(s, e, rb);
    if (!e)
        memcpy(member, mid, sizeof(mid));
    return e;
}

/* ---- sign-ins under way ---- */

enum lair_err people_login_put(struct sysdb *s, const char *state, const char *binding,
                               const struct pending_login *p)
{
    unsigned char sh[32], bh[32];
    sysdb_secret_hash(s, state, strlen(state), sh);
    sysdb_secret_hash(s, binding, strlen(binding), bh);
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s, "DELETE FROM oidc_pending WHERE created_at < ?1", &st);
    if (!e) {
        sqlite3_bind_int64(st, 1, now - LOGIN_TTL);
        e = run(s, st);
    }
    if (!e)
        e = prep(s,
                 "INSERT INTO oidc_pending(state_hash, binding_hash, provider, nonce, verifier, "
                 "next, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                 &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, sh, 32, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, bh, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, p->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, p->nonce, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, p->verifier, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, p->next, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, now);
        e = run(s, st);
    }
    return end(s, e, rb);
}

enum lair_err people_login_take(struct sysdb *s, const char *state, const char *binding,
                                struct pending_login *out)
{
    unsigned char sh[32], bh[32];
    sysdb_secret_hash(s, state, strlen(state), sh);
    sysdb_secret_hash(s, binding ? binding : "", binding ? strlen(binding) : 0, bh);
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s,
             "SELECT binding_hash, provider, nonce, verifier, next, created_at FROM oidc_pending "
             "WHERE state_hash = ?1",
             &st);
    enum lair_err found = LAIR_ENOTFOUND;
    if (!e) {
        sqlite3_bind_blob(st, 1, sh, 32, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW) {
            const void *b = sqlite3_column_blob(st, 0);
            if (sqlite3_column_int64(st, 5) < now - LOGIN_TTL)
                found = LAIR_ENOTFOUND;
            else if (sqlite3_column_bytes(st, 0) != 32 || sodium_memcmp(b, bh, 32) != 0)
                found = LAIR_EAUTH;
            else {
                copy_col(st, 1, out->provider, sizeof(out->provider));
                copy_col(st, 2, out->nonce, sizeof(out->nonce));
                copy_col(st, 3, out->verifier, sizeof(out->verifier));
                copy_col(st, 4, out->next, sizeof(out->next));
                found = LAIR_OK;
            }
        }
        sqlite3_finalize(st);
    }
    if (!e)
        e = prep(s, "DELETE FROM oidc_pending WHERE state_hash = ?1", &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, sh, 32, SQLITE_STATIC);
        e = run(s, st);
    }
    e = end(s, e, rb);
    return e ? e : found;
}

/* ---- sessions ---- */

enum lair_err people_session_create(struct sysdb *s, const struct identity *id, const char *member,
                                    const char *id_token, const char *claims,
                                    char token[SESSION_TOKEN_LEN + 1],
                                    char csrf[CSRF_TOKEN_LEN + 1])
{
    random_token(token, SESSION_TOKEN_LEN + 1);
    random_token(csrf, CSRF_TOKEN_LEN + 1);
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    int64_t now = (int64_t)time(NULL);
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e =
        prep(s,
             "INSERT INTO sessions(id_hash, provider, sub, email, name, member, csrf, "
             "id_token, created_at, last_seen, claims, sid) "
             "VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?9,?10,?11)",
             &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id->provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, id->sub, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, id->email ? id->email : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, id->name ? id->name : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, member ? member : "", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, csrf, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 8, id_token ? id_token : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 9, now);
        sqlite3_bind_text(st, 10, claims ? claims : "{}", -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 11, id->sid ? id->sid : "", -1, SQLITE_STATIC);
        e = run(s, st);
    }
    sysdb_unlock(s);
    return e;
}

static enum lair_err session_delete_hash(struct sysdb *s, const unsigned char h[32])
{
    sqlite3_stmt *st;
    enum lair_err e = prep(s, "DELETE FROM sessions WHERE id_hash = ?1", &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        e = run(s, st);
    }
    return e;
}

enum lair_err people_session_get(struct sysdb *s, const char *token,
                                 const struct session_limits *lim, struct session_view *out)
{
    if (!token || strlen(token) != SESSION_TOKEN_LEN)
        return LAIR_EAUTH;
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    int64_t now = (int64_t)time(NULL);
    int64_t idle = lim && lim->idle > 0 ? lim->idle : 30 * 60;
    int64_t absolute = lim && lim->absolute > 0 ? lim->absolute : 12 * 3600;
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e = prep(
        s,
        "SELECT s.provider, s.sub, s.email, s.name, s.member, s.csrf, s.created_at, s.last_seen, "
        "m.tenant, m.role, m.removed, s.claims FROM sessions s "
        "LEFT JOIN members m ON m.id = s.member "
        "WHERE s.id_hash = ?1",
        &st);
    bool expired = false, touch = false;
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            copy_col(st, 0, out->provider, sizeof(out->provider));
            copy_col(st, 1, out->sub, sizeof(out->sub));
            copy_col(st, 2, out->email, sizeof(out->email));
            copy_col(st, 3, out->name, sizeof(out->name));
            copy_col(st, 5, out->csrf, sizeof(out->csrf));
            out->created_at = sqlite3_column_int64(st, 6);
            out->last_seen = sqlite3_column_int64(st, 7);
            copy_col(st, 11, out->claims, sizeof(out->claims));
            const char *member = (const char *)sqlite3_column_text(st, 4);
            bool has_member = member && member[0];
            expired = out->created_at + absolute <= now || out->last_seen + idle <= now;
            if (has_member) {
                /* a member removed (or its tenant deleted): the session is over */
                if (sqlite3_column_type(st, 8) == SQLITE_NULL || sqlite3_column_int(st, 10))
                    expired = true;
                else {
                    out->chosen = true;
                    snprintf(out->who.key_id, sizeof(out->who.key_id), "%s", member);
                    copy_col(st, 8, out->who.tenant, sizeof(out->who.tenant));
                    out->who.role = role_of((const char *)sqlite3_column_text(st, 9));
                }
            }
            e = expired ? LAIR_EAUTH : LAIR_OK;
            touch = !expired && out->last_seen < now - 60;
        } else
            e = rc == SQLITE_DONE ? LAIR_EAUTH : db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    if (expired)
        (void)session_delete_hash(s, h);
    if (touch && !prep(s, "UPDATE sessions SET last_seen = ?2 WHERE id_hash = ?1", &st)) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        (void)run(s, st); /* best effort: a failed touch shortens the idle time */
    }
    sysdb_unlock(s);
    return e;
}

enum lair_err people_session_choose(struct sysdb *s, const char *token, const char *member)
{
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e = prep(s, "UPDATE sessions SET member = ?2 WHERE id_hash = ?1", &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, member, -1, SQLITE_STATIC);
        e = run(s, st);
        if (!e && sqlite3_changes(sysdb_handle(s)) != 1)
            e = LAIR_EAUTH;
    }
    sysdb_unlock(s);
    return e;
}

enum lair_err people_session_end(struct sysdb *s, const char *token, char *id_token, size_t cap)
{
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    if (id_token && cap)
        id_token[0] = 0;
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e = LAIR_OK;
    if (id_token && !prep(s, "SELECT id_token FROM sessions WHERE id_hash = ?1", &st)) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            copy_col(st, 0, id_token, cap);
        sqlite3_finalize(st);
    }
    e = session_delete_hash(s, h);
    sysdb_unlock(s);
    return e;
}

enum lair_err people_session_end_all(struct sysdb *s, const char *provider, const char *sub, int *n)
{
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e = prep(s, "DELETE FROM sessions WHERE provider = ?1 AND sub = ?2", &st);
    if (!e) {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, sub, -1, SQLITE_STATIC);
        e = run(s, st);
        if (n)
            *n = e ? 0 : sqlite3_changes(sysdb_handle(s));
    }
    sysdb_unlock(s);
    return e;
}

enum lair_err people_personal_keys_revoke(struct sysdb *s, const char *tenant, int *n)
{
    sqlite3_stmt *st;
    *n = 0;
    sysdb_lock(s);
    enum lair_err e = prep(s,
                           "UPDATE api_keys SET revoked_at = ?2 WHERE tenant = ?1 AND member <> '' "
                           "AND revoked_at = 0",
                           &st);
    if (!e) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
        e = run(s, st);
        if (!e)
            *n = sqlite3_changes(sysdb_handle(s));
    }
    sysdb_unlock(s);
    return e;
}

/* ---- enrollment links ---- */

enum lair_err people_enroll_create(struct sysdb *s, const char *tenant, const char *created_by,
                                   int64_t ttl, char token[ENROLL_TOKEN_LEN + 1],
                                   char id[MEMBER_ID_LEN + 1], int64_t *expires_at)
{
    if (ttl <= 0 || ttl > 30 * 86400)
        return LAIR_EINVAL;
    random_token(token, ENROLL_TOKEN_LEN + 1);
    random_id(id);
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    int64_t now = (int64_t)time(NULL);
    *expires_at = now + ttl;
    sqlite3_stmt *st;
    sysdb_lock(s);
    enum lair_err e =
        prep(s,
             "INSERT INTO enrollments(token_hash, id, tenant, created_by, created_at, "
             "expires_at) SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS "
             "(SELECT 1 FROM tenants WHERE slug = ?3)",
             &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, tenant, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, created_by ? created_by : "", -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, now);
        sqlite3_bind_int64(st, 6, *expires_at);
        e = run(s, st);
        if (!e && sqlite3_changes(sysdb_handle(s)) != 1)
            e = LAIR_ENOTFOUND;
    }
    sysdb_unlock(s);
    return e;
}

enum lair_err people_enroll_use(struct sysdb *s, const char *token, char tenant[SLUG_MAX + 1],
                                char id[MEMBER_ID_LEN + 1], char key_text[KEY_TEXT_MAX],
                                char key_id[KEY_ID_LEN + 1])
{
    if (!token || strlen(token) != ENROLL_TOKEN_LEN)
        return LAIR_ENOTFOUND;
    unsigned char h[32];
    sysdb_secret_hash(s, token, strlen(token), h);
    int64_t now = (int64_t)time(NULL);
    tenant[0] = id[0] = 0;
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s, "SELECT tenant, id, expires_at, used_at FROM enrollments WHERE token_hash = ?1",
             &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            copy_col(st, 0, tenant, SLUG_MAX + 1);
            copy_col(st, 1, id, MEMBER_ID_LEN + 1);
            if (sqlite3_column_int64(st, 3))
                e = LAIR_ECONFLICT;
            else if (sqlite3_column_int64(st, 2) <= now)
                e = LAIR_EPERM;
        } else
            e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
        sqlite3_finalize(st);
    }
    if (!e)
        e = prep(s, "UPDATE enrollments SET used_at = ?2 WHERE token_hash = ?1 AND used_at = 0",
                 &st);
    if (!e) {
        sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        e = run(s, st);
    }
    e = end(s, e, rb);
    if (e)
        return e;
    /* the link is spent; the key is created after (a failure here leaves a
     * spent link and no key: the operator issues another link) */
    struct key_spec spec = {.role = ROLE_ADMIN, .tenant = tenant, .name = "enrollment"};
    e = sysdb_key_create_spec(s, &spec, key_text, key_id);
    if (!e) {
        sysdb_lock(s);
        if (!prep(s, "UPDATE enrollments SET key_id = ?2 WHERE token_hash = ?1", &st)) {
            sqlite3_bind_blob(st, 1, h, 32, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
            (void)run(s, st);
        }
        sysdb_unlock(s);
    } else
        log_error("people", "enrollment link %s used but its key could not be created", id);
    return e;
}

/* ---- tenant moves (ops/move.c) ---- */

#include <jansson.h>
#include <stdlib.h>

#define MOVE_ROWS_MAX 100000 /* members, and rules, in one people.json */
#define ADDED_BY_MAX 64      /* "operator", "operator:cli" or a principal id */

static const char *const move_member_fields[] = {
    "id",     "email",   "name",     "provider",   "sub",        "role",
    "source", "removed", "added_by", "created_at", "last_login",
};
static const char *const move_rule_fields[] = {"kind", "value", "role", "provider"};
#define N_MEMBER_FIELDS (sizeof(move_member_fields) / sizeof(move_member_fields[0]))
#define N_RULE_FIELDS (sizeof(move_rule_fields) / sizeof(move_rule_fields[0]))

/* Each row of st as an object of its columns (integers as integers, the
 * rest as text), appended to out. */
static enum lair_err rows_json(sqlite3 *db, sqlite3_stmt *st, json_t *out)
{
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        json_t *o = json_object();
        if (!o || json_array_append_new(out, o))
            return LAIR_ENOMEM;
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            json_t *v = sqlite3_column_type(st, c) == SQLITE_INTEGER
                            ? json_integer(sqlite3_column_int64(st, c))
                            : json_string((const char *)sqlite3_column_text(st, c));
            if (!v || json_object_set_new(o, sqlite3_column_name(st, c), v))
                return v ? LAIR_ENOMEM : LAIR_EUTF8;
        }
    }
    return rc == SQLITE_DONE ? LAIR_OK : db_err(db, rc);
}

static enum lair_err export_table(struct sysdb *s, const char *sql, const char *tenant, json_t *out)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(s, sql, &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    e = rows_json(sysdb_handle(s), st, out);
    sqlite3_finalize(st);
    return e;
}

enum lair_err people_export(struct sysdb *s, const char *tenant, char **json)
{
    *json = NULL;
    json_t *members = json_array(), *rules = json_array();
    json_t *root = json_pack("{s:o, s:o}", "members", members, "rules", rules);
    if (!root)
        return LAIR_ENOMEM;
    /* one read transaction: members and rules as of one moment */
    sqlite3_stmt *rb;
    sysdb_lock(s);
    enum lair_err e = tx_begin(sysdb_handle(s), "BEGIN", &rb);
    if (!e) {
        e = export_table(s,
                         "SELECT id, email, name, provider, sub, role, source, removed, added_by, "
                         "created_at, last_login FROM members WHERE tenant = ?1 "
                         "ORDER BY created_at, id",
                         tenant, members);
        if (!e)
            e = export_table(s,
                             "SELECT kind, value, role, provider FROM access_rules "
                             "WHERE tenant = ?1 ORDER BY kind, value, provider",
                             tenant, rules);
        e = tx_end(sysdb_handle(s), e, rb);
    }
    sysdb_unlock(s);
    if (!e && !(*json = json_dumps(root, JSON_INDENT(1))))
        e = LAIR_ENOMEM;
    json_decref(root);
    return e;
}

/* o has exactly the fields names[0..n), no other. */
static bool fields_exactly(const json_t *o, const char *const *names, size_t n)
{
    if (!json_is_object(o) || json_object_size(o) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, names[i]))
            return false;
    return true;
}

/* The string field k of o when it holds at most max bytes, else NULL. */
static const char *move_text(const json_t *o, const char *k, size_t max)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) && json_string_length(v) <= max ? json_string_value(v) : NULL;
}

static bool move_int(const json_t *o, const char *k, json_int_t max)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
}

static bool move_role(const char *r)
{
    return r && (!strcmp(r, "user") || !strcmp(r, "editor") || !strcmp(r, "admin"));
}

/* "" (any provider) or [a-z0-9-]{1,63}. */
static bool move_provider(const char *p)
{
    if (!p || strlen(p) > PEOPLE_PROVIDER_MAX)
        return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return false;
    return true;
}

static bool move_member_valid(const json_t *m)
{
    static const char *const sources[] = {"named", "siret", "domain", "group", "enrollment"};
    if (!fields_exactly(m, move_member_fields, N_MEMBER_FIELDS))
        return false;
    const char *id = move_text(m, "id", MEMBER_ID_LEN), *email = move_text(m, "email", 1000);
    const char *source = move_text(m, "source", 16);
    bool known = false;
    for (size_t i = 0; source && i < sizeof(sources) / sizeof(sources[0]); i++)
        known |= !strcmp(source, sources[i]);
    if (!id || strlen(id) != MEMBER_ID_LEN || !email || (email[0] && !people_email_valid(email)))
        return false;
    for (const char *c = id; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return known && move_text(m, "name", PEOPLE_NAME_MAX) &&
           move_provider(move_text(m, "provider", PEOPLE_PROVIDER_MAX)) &&
           move_text(m, "sub", PEOPLE_SUB_MAX) && move_role(move_text(m, "role", 8)) &&
           move_int(m, "removed", 1) && move_text(m, "added_by", ADDED_BY_MAX) &&
           move_int(m, "created_at", INT64_MAX) && move_int(m, "last_login", INT64_MAX);
}

static bool move_rule_valid(const json_t *r)
{
    enum access_kind kind;
    return fields_exactly(r, move_rule_fields, N_RULE_FIELDS) &&
           !access_kind_parse(move_text(r, "kind", 16), &kind) &&
           access_value_valid(kind, move_text(r, "value", ACCESS_VALUE_MAX)) &&
           move_role(move_text(r, "role", 8)) &&
           move_provider(move_text(r, "provider", PEOPLE_PROVIDER_MAX));
}

/* Binds the fields of o named names[0..n) to ?first.. of st. */
static void bind_fields(sqlite3_stmt *st, int first, const json_t *o, const char *const *names,
                        size_t n)
{
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_object_get(o, names[i]);
        if (json_is_integer(v))
            sqlite3_bind_int64(st, first + (int)i, json_integer_value(v));
        else
            sqlite3_bind_text(st, first + (int)i, json_string_value(v), -1, SQLITE_STATIC);
    }
}

/* Inserts each object of rows with st (tenant bound to ?1, the fields
 * after it); rows that collide with each other make the text malformed. */
static enum lair_err insert_rows(struct sysdb *s, sqlite3_stmt *st, const json_t *rows,
                                 const char *const *names, size_t n, int *count)
{
    size_t i;
    const json_t *o;
    json_array_foreach(rows, i, o)
    {
        sqlite3_reset(st);
        bind_fields(st, 2, o, names, n);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE)
            return (rc & 0xff) == SQLITE_CONSTRAINT ? LAIR_EINVAL : db_err(sysdb_handle(s), rc);
        ++*count;
    }
    return LAIR_OK;
}

/* OUT: *taken when one of the members' ids exists in system.db. */
static enum lair_err member_ids_taken(struct sysdb *s, const json_t *members, bool *taken)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(s, "SELECT 1 FROM members WHERE id = ?1", &st);
    size_t i;
    const json_t *m;
    json_array_foreach(members, i, m)
    {
        if (e || *taken)
            break;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, json_string_value(json_object_get(m, "id")), -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            *taken = true;
        else if (rc != SQLITE_DONE)
            e = db_err(sysdb_handle(s), rc);
    }
    sqlite3_finalize(st);
    return e;
}

static enum lair_err import_locked(struct sysdb *s, const char *tenant, const json_t *members,
                                   const json_t *rules, int *n_members, int *n_rules,
                                   bool *ids_taken)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(s, "SELECT 1 FROM tenants WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    e = rc == SQLITE_ROW    ? LAIR_OK
        : rc == SQLITE_DONE ? LAIR_ENOTFOUND
                            : db_err(sysdb_handle(s), rc);
    sqlite3_finalize(st);
    if (!e)
        e = member_ids_taken(s, members, ids_taken);
    if (!e && !*ids_taken &&
        !(e = prep(s,
                   "INSERT INTO members(tenant, id, email, name, provider, sub, role, source, "
                   "removed, added_by, created_at, last_login) "
                   "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                   &st))) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        e = insert_rows(s, st, members, move_member_fields, N_MEMBER_FIELDS, n_members);
        sqlite3_finalize(st);
    }
    if (!e && !(e = prep(s,
                         "INSERT INTO access_rules(tenant, kind, value, role, provider) "
                         "VALUES (?1, ?2, ?3, ?4, ?5)",
                         &st))) {
        sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
        e = insert_rows(s, st, rules, move_rule_fields, N_RULE_FIELDS, n_rules);
        sqlite3_finalize(st);
    }
    return e;
}

enum lair_err people_import(struct sysdb *s, const char *tenant, const char *json, int *n_members,
                            int *n_rules, bool *ids_taken)
{
    *n_members = *n_rules = 0;
    *ids_taken = false;
    json_t *root = json_loads(json, JSON_REJECT_DUPLICATES, NULL);
    const json_t *members = json_object_get(root, "members"),
                 *rules = json_object_get(root, "rules");
    static const char *const top[] = {"members", "rules"};
    bool ok = fields_exactly(root, top, 2) && json_is_array(members) && json_is_array(rules) &&
              json_array_size(members) <= MOVE_ROWS_MAX && json_array_size(rules) <= MOVE_ROWS_MAX;
    size_t i;
    const json_t *o;
    json_array_foreach(members, i, o)
    {
        ok = ok && move_member_valid(o);
    }
    json_array_foreach(rules, i, o)
    {
        ok = ok && move_rule_valid(o);
    }
    sqlite3_stmt *rb;
    enum lair_err e = ok ? begin(s, &rb) : LAIR_EINVAL;
    if (!e) {
        e = import_locked(s, tenant, members, rules, n_members, n_rules, ids_taken);
        e = end(s, e, rb);
    }
    if (e) {
        *n_members = *n_rules = 0;
        *ids_taken = false;
    }
    json_decref(root);
    return e;
}

/* ---- back-channel logout ---- */

enum lair_err people_session_end_logout(struct sysdb *s, const char *provider, const char *sub,
                                        const char *sid, struct session_ended *out, size_t max,
                                        size_t *n_members, int *n_sessions)
{
    *n_members = 0;
    *n_sessions = 0;
    bool by_sub = sub && sub[0];
    if (!by_sub && !(sid && sid[0]))
        return LAIR_EINVAL;
    /* (a session without a sid is never named by an empty one: sid is not "") */
    const char *list_sql =
        by_sub ? "SELECT DISTINCT m.tenant, s.member FROM sessions s JOIN members m "
                 "ON m.id = s.member WHERE s.provider = ?1 AND s.sub = ?2"
               : "SELECT DISTINCT m.tenant, s.member FROM sessions s JOIN members m "
                 "ON m.id = s.member WHERE s.provider = ?1 AND s.sid = ?2";
    const char *del_sql = by_sub ? "DELETE FROM sessions WHERE provider = ?1 AND sub = ?2"
                                 : "DELETE FROM sessions WHERE provider = ?1 AND sid = ?2";
    sqlite3_stmt *rb, *st;
    enum lair_err e = begin(s, &rb);
    if (e)
        return e;
    e = prep(s, list_sql, &st);
    if (!e) {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, by_sub ? sub : sid, -1, SQLITE_STATIC);
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n_members < max) {
            copy_col(st, 0, out[*n_members].tenant, sizeof(out[*n_members].tenant));
            copy_col(st, 1, out[*n_members].member, sizeof(out[*n_members].member));
            (*n_members)++;
        }
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            e = db_err(sysdb_handle(s), rc);
        sqlite3_finalize(st);
    }
    if (!e)
        e = prep(s, del_sql, &st);
    if (!e) {
        sqlite3_bind_text(st, 1, provider, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, by_sub ? sub : sid, -1, SQLITE_STATIC);
        e = run(s, st);
        if (!e)
            *n_sessions = sqlite3_changes(sysdb_handle(s));
    }
    e = end(s, e, rb);
    if (e) {
        *n_members = 0;
        *n_sessions = 0;
    }
    return e;
}
