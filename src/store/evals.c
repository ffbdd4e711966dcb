/* Evaluation suites (append-only versions) and runs in the tenant database. */
#include "store/evals.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "core/banned.h"

static enum lair_err prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("store", "evals: %s", sqlite3_errmsg(db));
        return LAIR_EDB;
    }
    return LAIR_OK;
}

static enum lair_err done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum lair_err e = rc == SQLITE_DONE ? LAIR_OK : db_err(db, rc);
    if (rc != SQLITE_DONE && (rc & 0xff) == SQLITE_CONSTRAINT)
        e = LAIR_ENOTFOUND; /* the assistant's foreign key */
    sqlite3_finalize(st);
    return e;
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

static void text(char *out, size_t n, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", s ? (const char *)s : "");
}

/* ---- suites ---- */

struct apply {
    const char *assistant, *name, *spec, *author;
    int version;
    enum eval_apply_outcome outcome;
};

static enum lair_err tx_apply(sqlite3 *db, void *arg)
{
    struct apply *a = arg;
    sqlite3_stmt *st;
    enum lair_err e = prep(db,
                           "SELECT version, spec FROM eval_suites WHERE assistant = ?1 AND"
                           " name = ?2 ORDER BY version DESC LIMIT 1",
                           &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, a->assistant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st), last = 0;
    if (rc == SQLITE_ROW) {
        last = sqlite3_column_int(st, 0);
        const char *cur = (const char *)sqlite3_column_text(st, 1);
        if (cur && !strcmp(cur, a->spec)) {
            sqlite3_finalize(st);
            a->version = last;
            a->outcome = EVAL_SUITE_UNCHANGED;
            return LAIR_OK;
        }
    } else if (rc != SQLITE_DONE) {
        e = db_err(db, rc);
        sqlite3_finalize(st);
        return e;
    }
    sqlite3_finalize(st);
    if ((e = prep(db,
                  "INSERT INTO eval_suites (assistant, name, version, spec, created_at, author)"
                  " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                  &st)))
        return e;
    sqlite3_bind_text(st, 1, a->assistant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, last + 1);
    sqlite3_bind_text(st, 4, a->spec, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    sqlite3_bind_text(st, 6, a->author ? a->author : "", -1, SQLITE_STATIC);
    if ((e = done(db, st)))
        return e;
    a->version = last + 1;
    a->outcome = last ? EVAL_SUITE_UPDATED : EVAL_SUITE_CREATED;
    return LAIR_OK;
}

enum lair_err evals_suite_apply(struct tenant_db *db, const char *assistant, const char *name,
                                const char *spec, const char *author, int *version,
                                enum eval_apply_outcome *outcome)
{
    struct apply a = {assistant, name, spec, author, 0, EVAL_SUITE_UNCHANGED};
    enum lair_err e = tenant_db_tx(db, tx_apply, &a);
    if (!e) {
        *version = a.version;
        *outcome = a.outcome;
    }
    return e;
}

enum lair_err evals_suite_get(struct tenant_db *db, const char *assistant, const char *name,
                              int version, char **spec, int *got)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h,
                           "SELECT version, spec FROM eval_suites WHERE assistant = ?1 AND"
                           " name = ?2 AND (?3 = 0 OR version = ?3)"
                           " ORDER BY version DESC LIMIT 1",
                           &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, assistant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, version);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (got)
            *got = sqlite3_column_int(st, 0);
        *spec = text_dup(st, 1);
        e = *spec ? LAIR_OK : LAIR_ENOMEM;
    } else {
        e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : db_err(h, rc);
    }
    sqlite3_finalize(st);
    return e;
}

enum lair_err evals_suite_list(struct tenant_db *db, const char *assistant,
                               void (*fn)(void *arg, const struct eval_suite_info *s), void *arg)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e =
        prep(h,
             "SELECT s.assistant, s.name, s.version, s.created_at,"
             " (SELECT min(created_at) FROM eval_suites f WHERE f.assistant = s.assistant"
             "  AND f.name = s.name), json_array_length(s.spec, '$.cases')"
             " FROM eval_suites s WHERE (?1 IS NULL OR s.assistant = ?1) AND s.version ="
             " (SELECT max(version) FROM eval_suites m WHERE m.assistant = s.assistant"
             "  AND m.name = s.name) ORDER BY s.assistant, s.name",
             &st);
    if (e)
        return e;
    if (assistant)
        sqlite3_bind_text(st, 1, assistant, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct eval_suite_info i = {0};
        text(i.assistant, sizeof(i.assistant), st, 0);
        text(i.name, sizeof(i.name), st, 1);
        i.version = sqlite3_column_int(st, 2);
        i.updated_at = sqlite3_column_int64(st, 3);
        i.created_at = sqlite3_column_int64(st, 4);
        i.cases = sqlite3_column_int(st, 5);
        fn(arg, &i);
    }
    e = rc == SQLITE_DONE ? LAIR_OK : db_err(h, rc);
    sqlite3_finalize(st);
    return e;
}

enum lair_err evals_suite_delete(struct tenant_db *db, const char *assistant, const char *name)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h, "DELETE FROM eval_suites WHERE assistant = ?1 AND name = ?2", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, assistant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    if ((e = done(h, st)))
        return e;
    return sqlite3_changes(h) > 0 ? LAIR_OK : LAIR_ENOTFOUND;
}

/* ---- runs ---- */

enum lair_err evals_run_create(struct tenant_db *db, const struct eval_run_info *r, int64_t *id)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e =
        prep(h,
             "INSERT INTO eval_runs (assistant, assistant_version, suite, kind, suite_version,"
             " state, total, author, created_at) VALUES (?1, ?2, ?3, ?4, ?5, 'running', ?6, ?7,"
             " ?8) RETURNING id",
             &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, r->assistant, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, r->assistant_version);
    sqlite3_bind_text(st, 3, r->suite, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, r->kind, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 5, r->suite_version);
    sqlite3_bind_int(st, 6, r->total);
    sqlite3_bind_text(st, 7, r->author, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 8, r->created_at ? r->created_at : (int64_t)time(NULL));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        e = LAIR_OK;
    } else {
        e = (rc & 0xff) == SQLITE_CONSTRAINT ? LAIR_ENOTFOUND : db_err(h, rc);
    }
    sqlite3_finalize(st);
    return e;
}

enum lair_err evals_run_progress(struct tenant_db *db, int64_t id, int n_done, int passed)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h, "UPDATE eval_runs SET done = ?2, passed = ?3 WHERE id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, n_done);
    sqlite3_bind_int(st, 3, passed);
    return done(h, st);
}

enum lair_err evals_run_finish(struct tenant_db *db, int64_t id, const char *state, int n_done,
                               int passed, const char *report)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h,
                           "UPDATE eval_runs SET state = ?2, done = ?3, passed = ?4,"
                           " finished_at = ?5, report = ?6 WHERE id = ?1",
                           &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 3, n_done);
    sqlite3_bind_int(st, 4, passed);
    sqlite3_bind_int64(st, 5, (int64_t)time(NULL));
    if (report)
        sqlite3_bind_text(st, 6, report, -1, SQLITE_STATIC);
    return done(h, st);
}

#define RUN_COLS                                                                                   \
    "id, assistant, assistant_version, suite, kind, suite_version, state, done, total, passed,"    \
    " author, created_at, coalesce(finished_at, 0)"

static void run_row(sqlite3_stmt *st, struct eval_run_info *r)
{
    memset(r, 0, sizeof(*r));
    r->id = sqlite3_column_int64(st, 0);
    text(r->assistant, sizeof(r->assistant), st, 1);
    r->assistant_version = sqlite3_column_int(st, 2);
    text(r->suite, sizeof(r->suite), st, 3);
    text(r->kind, sizeof(r->kind), st, 4);
    r->suite_version = sqlite3_column_int(st, 5);
    text(r->state, sizeof(r->state), st, 6);
    r->done = sqlite3_column_int(st, 7);
    r->total = sqlite3_column_int(st, 8);
    r->passed = sqlite3_column_int(st, 9);
    text(r->author, sizeof(r->author), st, 10);
    r->created_at = sqlite3_column_int64(st, 11);
    r->finished_at = sqlite3_column_int64(st, 12);
}

enum lair_err evals_run_get(struct tenant_db *db, const char *assistant, int64_t id,
                            struct eval_run_info *info, char **report)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h,
                           "SELECT " RUN_COLS ", report FROM eval_runs WHERE id = ?1 AND"
                           " (?2 IS NULL OR assistant = ?2)",
                           &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    if (assistant)
        sqlite3_bind_text(st, 2, assistant, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        run_row(st, info);
        if (report) {
            *report = NULL;
            if (sqlite3_column_type(st, 13) != SQLITE_NULL && !(*report = text_dup(st, 13)))
                e = LAIR_ENOMEM;
        }
    } else {
        e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : db_err(h, rc);
    }
    sqlite3_finalize(st);
    return e;
}

enum lair_err evals_run_list(struct tenant_db *db, const char *assistant, int limit,
                             void (*fn)(void *arg, const struct eval_run_info *r), void *arg)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prep(h,
                           "SELECT " RUN_COLS " FROM eval_runs WHERE (?1 IS NULL OR"
                           " assistant = ?1) ORDER BY id DESC LIMIT ?2",
                           &st);
    if (e)
        return e;
    if (assistant)
        sqlite3_bind_text(st, 1, assistant, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct eval_run_info r;
        run_row(st, &r);
        fn(arg, &r);
    }
    e = rc == SQLITE_DONE ? LAIR_OK : db_err(h, rc);
    sqlite3_finalize(st);
    return e;
}
