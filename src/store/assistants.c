/* Assistant versions in the tenant database: append-only versions, a draft
 * pointer and a published pointer, changed only inside transactions. */
#include "store/assistants.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/banned.h"

static enum lair_err prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("store", "assistants: %s", sqlite3_errmsg(db));
        return LAIR_EDB;
    }
    return LAIR_OK;
}

/* Steps a statement that returns no row, then finalizes it. */
static enum lair_err run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_DONE)
        return LAIR_OK;
    if ((rc & 0xff) == SQLITE_CONSTRAINT)
        return LAIR_ECONFLICT;
    return LAIR_EDB;
}

static void text(char *out, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", s ? (const char *)s : "");
}

static char *text_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

/* ---- writes (each inside tenant_db_tx) ---- */

struct write {
    const char *slug, *spec, *author;
    int base, from; /* update: base version; publish/restore: the version */
    int version;    /* OUT */
    enum assistant_apply_outcome outcome;
    int64_t now;
};

/* The assistant's draft number; LAIR_ENOTFOUND when it does not exist. */
static enum lair_err draft_of(sqlite3 *db, const char *slug, int *draft)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(db, "SELECT draft_version FROM assistants WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *draft = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

static enum lair_err insert_version(sqlite3 *db, struct write *w, int version, const char *spec)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prep(db,
             "INSERT INTO assistant_versions (slug, version, spec, created_at, author)"
             " VALUES (?1, ?2, ?3, ?4, ?5)",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_text(st, 3, spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, w->now);
    sqlite3_bind_text(st, 5, w->author ? w->author : "", -1, SQLITE_STATIC);
    return run(st);
}

/* Appends spec as the next version and makes it the draft. */
static enum lair_err append(sqlite3 *db, struct write *w, const char *spec)
{
    sqlite3_stmt *st;
    enum lair_err e = prep(
        db, "SELECT COALESCE(MAX(version), 0) + 1 FROM assistant_versions WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    int next = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_finalize(st);
    if (next <= 0)
        return LAIR_EDB;
    if ((e = insert_version(db, w, next, spec)))
        return e == LAIR_ECONFLICT ? LAIR_EDB : e;
    if ((e = prep(db, "UPDATE assistants SET draft_version = ?2, updated_at = ?3 WHERE slug = ?1",
                  &st)))
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, next);
    sqlite3_bind_int64(st, 3, w->now);
    if ((e = run(st)))
        return e;
    w->version = next;
    return LAIR_OK;
}

static enum lair_err tx_create(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    sqlite3_stmt *st;
    enum lair_err e = prep(db,
                           "INSERT INTO assistants (slug, draft_version, published_version,"
                           " created_at, updated_at) VALUES (?1, 1, NULL, ?2, ?2)",
                           &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, w->now);
    if ((e = run(st)))
        return e;
    if ((e = insert_version(db, w, 1, w->spec)))
        return e == LAIR_ECONFLICT ? LAIR_EDB : e; /* leftover versions of a deleted assistant */
    w->version = 1;
    w->outcome = ASSISTANT_CREATED;
    return LAIR_OK;
}

static enum lair_err tx_update(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    int draft;
    enum lair_err e = draft_of(db, w->slug, &draft);
    if (e)
        return e;
    if (w->base > 0 && w->base != draft) {
        w->version = draft;
        return LAIR_ECONFLICT;
    }
    w->outcome = ASSISTANT_UPDATED;
    return append(db, w, w->spec);
}

static enum lair_err tx_apply(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    sqlite3_stmt *st;
    enum lair_err e = prep(db,
                           "SELECT a.draft_version, v.spec FROM assistants a"
                           " JOIN assistant_versions v ON v.slug = a.slug"
                           " AND v.version = a.draft_version WHERE a.slug = ?1",
                           &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return tx_create(db, w);
    }
    if (rc != SQLITE_ROW) {
        sqlite3_finalize(st);
        return LAIR_EDB;
    }
    int draft = sqlite3_column_int(st, 0);
    const char *cur = (const char *)sqlite3_column_text(st, 1);
    bool same = cur && !strcmp(cur, w->spec);
    sqlite3_finalize(st);
    if (same) {
        w->version = draft;
        w->outcome = ASSISTANT_UNCHANGED;
        return LAIR_OK;
    }
    w->outcome = ASSISTANT_UPDATED;
    return append(db, w, w->spec);
}

/* The spec of one version (OWNED). */
static enum lair_err version_spec(sqlite3 *db, const char *slug, int version, char **spec)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prep(db, "SELECT spec FROM assistant_versions WHERE slug = ?1 AND version = ?2", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st);
    *spec = rc == SQLITE_ROW ? text_dup(st, 0) : NULL;
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return *spec ? LAIR_OK : LAIR_ENOMEM;
    return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

static enum lair_err tx_publish(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    int draft;
    enum lair_err e = draft_of(db, w->slug, &draft);
    if (e)
        return e;
    int v = w->from == ASSISTANT_DRAFT ? draft : w->from;
    if (v <= 0 || v > draft)
        return LAIR_ENOTFOUND;
    sqlite3_stmt *st;
    if ((e = prep(db,
                  "UPDATE assistants SET published_version = ?2, updated_at = ?3 WHERE slug = ?1",
                  &st)))
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, v);
    sqlite3_bind_int64(st, 3, w->now);
    if ((e = run(st)))
        return e;
    w->version = v;
    return LAIR_OK;
}

static enum lair_err tx_restore(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    char *spec = NULL;
    enum lair_err e = version_spec(db, w->slug, w->from, &spec);
    if (!e)
        e = append(db, w, spec);
    free(spec);
    return e;
}

static enum lair_err tx_delete(sqlite3 *db, void *arg)
{
    struct write *w = arg;
    sqlite3_stmt *st;
    enum lair_err e = prep(db, "DELETE FROM assistants WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    if ((e = run(st)))
        return e;
    /* the connection's mutex is held for the whole transaction: changes()
     * counts this statement only */
    if (sqlite3_changes(db) == 0)
        return LAIR_ENOTFOUND;
    /* versions go with the row (ON DELETE CASCADE); also said explicitly so
     * that nothing depends on the foreign_keys pragma */
    if ((e = prep(db, "DELETE FROM assistant_versions WHERE slug = ?1", &st)))
        return e;
    sqlite3_bind_text(st, 1, w->slug, -1, SQLITE_STATIC);
    return run(st);
}

static struct write write_of(const char *slug, const char *spec, const char *author)
{
    return (struct write){.slug = slug, .spec = spec, .author = author, .now = (int64_t)time(NULL)};
}

enum lair_err assistants_create(struct tenant_db *db, const char *slug, const char *spec,
                                const char *author, int *version)
{
    struct write w = write_of(slug, spec, author);
    enum lair_err e = tenant_db_tx(db, tx_create, &w);
    if (!e && version)
        *version = w.version;
    return e;
}

enum lair_err assistants_update(struct tenant_db *db, const char *slug, const char *spec,
                                const char *author, int base_version, int *version)
{
    struct write w = write_of(slug, spec, author);
    w.base = base_version;
    enum lair_err e = tenant_db_tx(db, tx_update, &w);
    if ((!e || e == LAIR_ECONFLICT) && version)
        *version = w.version;
    return e;
}

enum lair_err assistants_apply(struct tenant_db *db, const char *slug, const char *spec,
                               const char *author, int *version,
                               enum assistant_apply_outcome *outcome)
{
    struct write w = write_of(slug, spec, author);
    enum lair_err e = tenant_db_tx(db, tx_apply, &w);
    if (!e) {
        if (version)
            *version = w.version;
        if (outcome)
            *outcome = w.outcome;
    }
    return e;
}

enum lair_err assistants_publish(struct tenant_db *db, const char *slug, int version,
                                 int *published)
{
    if (version < 0)
        return LAIR_ENOTFOUND;
    struct write w = write_of(slug, NULL, NULL);
    w.from = version;
    enum lair_err e = tenant_db_tx(db, tx_publish, &w);
    if (!e && published)
        *published = w.version;
    return e;
}

enum lair_err assistants_restore(struct tenant_db *db, const char *slug, int from,
                                 const char *author, int *version)
{
    if (from <= 0)
        return LAIR_ENOTFOUND;
    struct write w = write_of(slug, NULL, author);
    w.from = from;
    enum lair_err e = tenant_db_tx(db, tx_restore, &w);
    if (!e && version)
        *version = w.version;
    return e;
}

enum lair_err assistants_delete(struct tenant_db *db, const char *slug)
{
    struct write w = write_of(slug, NULL, NULL);
    return tenant_db_tx(db, tx_delete, &w);
}

/* ---- reads: one statement each, so each is one consistent snapshot ---- */

enum lair_err assistants_get(struct tenant_db *db, const char *slug, int version, char **spec,
                             int *got, struct assistant_info *info)
{
    sqlite3_stmt *st;
    *spec = NULL;
    enum lair_err e =
        prep(tenant_db_handle(db),
             "SELECT v.version, v.spec, a.draft_version, COALESCE(a.published_version, 0),"
             " a.created_at, a.updated_at, json_extract(v.spec, '$.name')"
             " FROM assistants a JOIN assistant_versions v ON v.slug = a.slug"
             " WHERE a.slug = ?1 AND v.version = CASE ?2 WHEN 0 THEN a.draft_version"
             " WHEN -1 THEN a.published_version ELSE ?2 END",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (got)
            *got = sqlite3_column_int(st, 0);
        *spec = text_dup(st, 1);
        if (info) {
            memset(info, 0, sizeof(*info));
            snprintf(info->slug, sizeof(info->slug), "%s", slug);
            info->version = sqlite3_column_int(st, 2);
            info->published_version = sqlite3_column_int(st, 3);
            info->created_at = sqlite3_column_int64(st, 4);
            info->updated_at = sqlite3_column_int64(st, 5);
            text(info->name, sizeof(info->name), st, 6);
        }
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return *spec ? LAIR_OK : LAIR_ENOMEM;
    return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err assistants_list(struct tenant_db *db, bool published_only,
                              void (*fn)(void *arg, const struct assistant_info *a), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prep(tenant_db_handle(db),
             "SELECT a.slug, json_extract(v.spec, '$.name'), a.draft_version,"
             " COALESCE(a.published_version, 0), a.created_at, a.updated_at"
             " FROM assistants a JOIN assistant_versions v ON v.slug = a.slug"
             " AND v.version = CASE WHEN ?1 THEN a.published_version ELSE a.draft_version END"
             " ORDER BY a.slug",
             &st);
    if (e)
        return e;
    sqlite3_bind_int(st, 1, published_only);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct assistant_info a = {0};
        text(a.slug, sizeof(a.slug), st, 0);
        text(a.name, sizeof(a.name), st, 1);
        a.version = sqlite3_column_int(st, 2);
        a.published_version = sqlite3_column_int(st, 3);
        a.created_at = sqlite3_column_int64(st, 4);
        a.updated_at = sqlite3_column_int64(st, 5);
        fn(arg, &a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err assistants_using(struct tenant_db *db, const char *kb, const char *allowed,
                               void (*fn)(void *arg, const struct assistant_info *a), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prep(tenant_db_handle(db),
             "SELECT a.slug, json_extract(v.spec, '$.name'), a.draft_version,"
             " a.published_version, a.created_at, a.updated_at,"
             " json_extract(v.spec, '$.model'),"
             " ?1 IS NOT NULL AND EXISTS (SELECT 1 FROM"
             "   json_each(v.spec, '$.knowledge_bases') k WHERE k.value = ?1)"
             " FROM assistants a JOIN assistant_versions v ON v.slug = a.slug"
             " AND v.version = a.published_version ORDER BY a.slug",
             &st);
    if (e)
        return e;
    if (kb)
        sqlite3_bind_text(st, 1, kb, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *model = sqlite3_column_text(st, 6);
        bool uses_kb = sqlite3_column_int(st, 7) != 0;
        bool outside = allowed && model &&
                       !tenant_model_allowed(allowed, str_c((const char *)model));
        if (!uses_kb && !outside)
            continue;
        struct assistant_info a = {0};
        text(a.slug, sizeof(a.slug), st, 0);
        text(a.name, sizeof(a.name), st, 1);
        a.version = sqlite3_column_int(st, 2);
        a.published_version = sqlite3_column_int(st, 3);
        a.created_at = sqlite3_column_int64(st, 4);
        a.updated_at = sqlite3_column_int64(st, 5);
        fn(arg, &a);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err assistants_versions(struct tenant_db *db, const char *slug,
                                  void (*fn)(void *arg, const struct assistant_version_info *v),
                                  void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prep(tenant_db_handle(db),
             "SELECT v.version, v.created_at, v.author, json_extract(v.spec, '$.name'),"
             " a.draft_version, COALESCE(a.published_version, 0)"
             " FROM assistant_versions v JOIN assistants a ON a.slug = v.slug"
             " WHERE v.slug = ?1 ORDER BY v.version",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    int rc, n = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct assistant_version_info v = {0};
        v.version = sqlite3_column_int(st, 0);
        v.created_at = sqlite3_column_int64(st, 1);
        text(v.author, sizeof(v.author), st, 2);
        text(v.name, sizeof(v.name), st, 3);
        v.draft = v.version == sqlite3_column_int(st, 4);
        v.published = v.version == sqlite3_column_int(st, 5);
        fn(arg, &v);
        n++;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    return n ? LAIR_OK : LAIR_ENOTFOUND;
}
