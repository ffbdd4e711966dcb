/* Audit log storage: the append transaction and the reads. Reads of a log
 * kept in a file go through a private read-only connection, so that a long
 * verification neither blocks writers nor holds the shared connection (whose
 * mutex also guards key checks on system.db). */
#include "store/audit_store.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/system.h"
#include "store/tx.h"
#include "core/banned.h"

#define HEAD_KEY "audit.head"
#define ROW_COLS "seq, ts, actor, action, target, outcome, detail, prev, hash"

typedef enum lair_err (*tx_fn)(sqlite3 *, void *);

/* Runs fn inside begin_sql ... COMMIT on a connection that other threads may
 * share: its mutex is held throughout. Code elsewhere (system.c) runs
 * transactions under its own lock and releases the connection's mutex
 * between statements; such a transaction shows as autocommit off, and we
 * wait for it to end rather than starting ours inside it. */
static enum lair_err locked_tx(sqlite3 *db, const char *begin_sql, tx_fn fn, void *arg)
{
    sqlite3_mutex *m = sqlite3_db_mutex(db); /* NULL (no-op) for a private connection */
    for (int tries = 0;; tries++) {
        sqlite3_mutex_enter(m);
        if (sqlite3_get_autocommit(db))
            break;
        sqlite3_mutex_leave(m);
        if (tries >= 10000) {
            log_error("audit", "a transaction on the connection did not end in 10 s");
            return LAIR_EBUSY;
        }
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
    sqlite3_stmt *rb; /* a rollback that cannot fail for want of memory (store/tx.h) */
    if (tx_begin(db, begin_sql, &rb)) {
        log_error("audit", "%s: %s", begin_sql, sqlite3_errmsg(db));
        sqlite3_mutex_leave(m);
        return LAIR_EDB;
    }
    enum lair_err e = tx_end(db, fn(db, arg), rb); /* a full disk: LAIR_ESTORAGE */
    sqlite3_mutex_leave(m);
    return e;
}

static sqlite3 *shared_handle(struct audit_db db)
{
    return db.tenant ? tenant_db_handle(db.tenant) : db.conn;
}

/* A read transaction over a snapshot of the log. */
static enum lair_err with_read(struct audit_db db, tx_fn fn, void *arg)
{
    sqlite3 *shared = shared_handle(db);
    const char *path = sqlite3_db_filename(shared, "main");
    if (!path || !*path) /* in-memory: only the shared connection sees it */
        return locked_tx(shared, "BEGIN", fn, arg);
    sqlite3 *c = NULL;
    if (sqlite3_open_v2(path, &c, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        log_error("audit", "cannot open the log for reading: %s",
                  c ? sqlite3_errmsg(c) : "no memory");
        sqlite3_close(c);
        return LAIR_EDB;
    }
    sqlite3_busy_timeout(c, 5000);
    enum lair_err e = locked_tx(c, "BEGIN", fn, arg);
    sqlite3_close(c);
    return e;
}

static enum lair_err prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK)
        return LAIR_OK;
    log_error("audit", "prepare: %s", sqlite3_errmsg(db));
    return LAIR_EDB;
}

static struct str col_str(sqlite3_stmt *st, int col)
{
    const char *p = (const char *)sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    return p ? (struct str){p, n} : S("");
}

/* Copies a 32-byte blob; false when the column is not exactly that. */
static bool col_hash(sqlite3_stmt *st, int col, unsigned char out[AUDIT_HASH_LEN])
{
    const void *p = sqlite3_column_blob(st, col);
    int n = sqlite3_column_bytes(st, col);
    memset(out, 0, AUDIT_HASH_LEN);
    if (!p || n != AUDIT_HASH_LEN) {
        if (p && n > 0)
            memcpy(out, p, n < AUDIT_HASH_LEN ? (size_t)n : AUDIT_HASH_LEN);
        return false;
    }
    memcpy(out, p, AUDIT_HASH_LEN);
    return true;
}

/* Reads a row selected with ROW_COLS. */
static void row_from(sqlite3_stmt *st, struct audit_row *r)
{
    r->seq = sqlite3_column_int64(st, 0);
    r->ts = sqlite3_column_int64(st, 1);
    r->actor = col_str(st, 2);
    r->action = col_str(st, 3);
    r->target = col_str(st, 4);
    r->outcome = col_str(st, 5);
    r->detail = col_str(st, 6);
    bool ok_prev = col_hash(st, 7, r->prev);
    bool ok_hash = col_hash(st, 8, r->hash);
    r->malformed = !ok_prev || !ok_hash;
}

static enum lair_err read_head(sqlite3 *db, bool *has, char out[AUDIT_HEAD_MAX])
{
    sqlite3_stmt *st;
    *has = false;
    out[0] = 0;
    if (prepare(db, "SELECT value FROM settings WHERE key = '" HEAD_KEY "'", &st))
        return LAIR_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct str v = col_str(st, 0);
        /* an over-long value cannot be a checkpoint: keep it truncated so
         * that it fails to verify rather than passing for a missing one */
        size_t n = v.len < AUDIT_HEAD_MAX - 1 ? v.len : AUDIT_HEAD_MAX - 1;
        memcpy(out, v.ptr, n);
        out[n] = 0;
        *has = true;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

/* ---- append ---- */

struct append_call {
    struct audit_row *row;
    audit_seal_fn seal;
    void *ctx;
};

static enum lair_err read_tail(sqlite3 *db, struct audit_tail *t)
{
    sqlite3_stmt *st;
    memset(t, 0, sizeof(*t));
    if (prepare(db, "SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", &st))
        return LAIR_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        t->last_seq = sqlite3_column_int64(st, 0);
        col_hash(st, 1, t->last_hash);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return LAIR_EDB;
    return read_head(db, &t->has_head, t->head);
}

static void bind_str(sqlite3_stmt *st, int i, struct str s)
{
    sqlite3_bind_text(st, i, s.ptr ? s.ptr : "", (int)s.len, SQLITE_STATIC);
}

static enum lair_err append_tx(sqlite3 *db, void *arg)
{
    struct append_call *a = arg;
    struct audit_tail tail;
    char head[AUDIT_HEAD_MAX] = "";
    enum lair_err e = read_tail(db, &tail);
    if (!e)
        e = a->seal(a->ctx, &tail, a->row, head);
    if (e)
        return e;
    sqlite3_stmt *st;
    if (prepare(db, "INSERT INTO audit(" ROW_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                &st))
        return LAIR_EDB;
    const struct audit_row *r = a->row;
    sqlite3_bind_int64(st, 1, r->seq);
    sqlite3_bind_int64(st, 2, r->ts);
    bind_str(st, 3, r->actor);
    bind_str(st, 4, r->action);
    bind_str(st, 5, r->target);
    bind_str(st, 6, r->outcome);
    bind_str(st, 7, r->detail);
    sqlite3_bind_blob(st, 8, r->prev, AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, r->hash, AUDIT_HASH_LEN, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    enum lair_err ins = db_err(db, rc);
    if (ins)
        log_error("audit", "insert: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    if (ins)
        return ins;
    if (!head[0])
        return LAIR_OK;
    if (prepare(db,
                "INSERT INTO settings(key, value) VALUES ('" HEAD_KEY "', ?1) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                &st))
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, head, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    ins = db_err(db, rc);
    if (ins)
        log_error("audit", "checkpoint: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return ins;
}

enum lair_err audit_store_append(struct audit_db db, struct audit_row *row, audit_seal_fn seal,
                                 void *ctx)
{
    struct append_call a = {row, seal, ctx};
    if (db.tx) /* the caller's transaction, whose mutex it holds */
        return append_tx(db.tx, &a);
    if (db.tenant)
        return tenant_db_tx(db.tenant, append_tx, &a);
    return locked_tx(db.conn, "BEGIN IMMEDIATE", append_tx, &a);
}

/* ---- reads ---- */

struct each_call {
    const char *sql;
    int64_t a, b, c;  /* bound as ?1..?3 when the sql has them */
    const char *text; /* bound as ?1 instead, when set */
    audit_row_fn fn;
    void *ctx;
};

static enum lair_err each_tx(sqlite3 *db, void *arg)
{
    struct each_call *q = arg;
    sqlite3_stmt *st;
    if (prepare(db, q->sql, &st))
        return LAIR_EDB;
    if (q->text) {
        sqlite3_bind_text(st, 1, q->text, -1, SQLITE_STATIC);
    } else {
        sqlite3_bind_int64(st, 1, q->a);
        sqlite3_bind_int64(st, 2, q->b);
        sqlite3_bind_int64(st, 3, q->c);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_row r;
        row_from(st, &r);
        if (!q->fn(q->ctx, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err audit_store_list(struct audit_db db, int64_t since, int64_t after, int64_t limit,
                               audit_row_fn fn, void *ctx)
{
    struct each_call q = {.sql = "SELECT " ROW_COLS
                                 " FROM audit WHERE ts >= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                          .a = since,
                          .b = after,
                          .c = limit,
                          .fn = fn,
                          .ctx = ctx};
    return with_read(db, each_tx, &q);
}

enum lair_err audit_store_find_subject(struct audit_db db, const char *subject_id, audit_row_fn fn,
                                       void *ctx)
{
    char token[600];
    int n = snprintf(token, sizeof(token), " subject:%s ", subject_id);
    if (n < 0 || (size_t)n >= sizeof(token) || !subject_id[0] || strchr(subject_id, ' '))
        return LAIR_EINVAL;
    struct each_call q = {.sql = "SELECT " ROW_COLS " FROM audit "
                                 "WHERE instr(' ' || target || ' ', ?1) > 0 "
                                 "OR instr(' ' || detail || ' ', ?1) > 0 ORDER BY seq",
                          .text = token,
                          .fn = fn,
                          .ctx = ctx};
    return with_read(db, each_tx, &q);
}

/* ---- scan ---- */

struct audit_scan {
    sqlite3 *db;
    sqlite3_stmt *find;
};

struct scan_call {
    void (*begin)(void *ctx, struct audit_scan *sc, const struct audit_scan_info *info);
    bool (*row)(void *ctx, struct audit_scan *sc, const struct audit_row *r);
    void *ctx;
};

static enum lair_err scan_info(sqlite3 *db, struct audit_scan_info *info)
{
    memset(info, 0, sizeof(*info));
    enum lair_err e = read_head(db, &info->has_head, info->head);
    if (e)
        return e;
    sqlite3_stmt *st;
    if (prepare(db, "SELECT COALESCE(MAX(seq), 0), COUNT(*) FROM audit", &st))
        return LAIR_EDB;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        info->max_seq = sqlite3_column_int64(st, 0);
        info->count = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : LAIR_EDB;
}

static enum lair_err scan_tx(sqlite3 *db, void *arg)
{
    struct scan_call *q = arg;
    struct audit_scan sc = {.db = db};
    struct audit_scan_info info;
    sqlite3_stmt *st = NULL;
    enum lair_err e = scan_info(db, &info);
    if (!e)
        e = prepare(db, "SELECT " ROW_COLS " FROM audit ORDER BY seq", &st);
    if (e)
        return e;
    q->begin(q->ctx, &sc, &info);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct audit_row r;
        row_from(st, &r);
        if (!q->row(q->ctx, &sc, &r)) {
            rc = SQLITE_DONE;
            break;
        }
    }
    sqlite3_finalize(st);
    sqlite3_finalize(sc.find);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err audit_store_scan(
    struct audit_db db,
    void (*begin)(void *ctx, struct audit_scan *sc, const struct audit_scan_info *info),
    bool (*row)(void *ctx, struct audit_scan *sc, const struct audit_row *r), void *ctx)
{
    struct scan_call q = {begin, row, ctx};
    return with_read(db, scan_tx, &q);
}

bool audit_scan_find_hash(struct audit_scan *sc, const unsigned char h[AUDIT_HASH_LEN],
                          int64_t *seq)
{
    if (!sc->find &&
        prepare(sc->db, "SELECT seq FROM audit WHERE hash = ?1 ORDER BY seq LIMIT 1", &sc->find))
        return false;
    sqlite3_reset(sc->find);
    sqlite3_bind_blob(sc->find, 1, h, AUDIT_HASH_LEN, SQLITE_TRANSIENT);
    bool found = sqlite3_step(sc->find) == SQLITE_ROW;
    if (found)
        *seq = sqlite3_column_int64(sc->find, 0);
    sqlite3_reset(sc->find);
    return found;
}

/* ---- the high-water mark (system.db) ---- */

static sqlite3 *marks_handle(struct audit_db db)
{
    struct sysdb *sys = db.tenant ? tenant_db_sysdb(db.tenant) : NULL;
    return sys ? sysdb_handle(sys) : NULL;
}

bool audit_store_has_marks(struct audit_db db)
{
    return marks_handle(db) != NULL;
}

struct mark_call {
    const char *scope;
    struct audit_mark *m; /* get */
    int64_t seq;          /* advance */
    const char *head;     /* advance */
};

static enum lair_err mark_get_tx(sqlite3 *db, void *arg)
{
    struct mark_call *q = arg;
    sqlite3_stmt *st;
    if (prepare(db, "SELECT seq, head FROM audit_marks WHERE scope = ?1", &st))
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, q->scope, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        struct str v = col_str(st, 1);
        /* an over-long value is no checkpoint: kept cut, it fails to verify */
        size_t n = v.len < AUDIT_HEAD_MAX - 1 ? v.len : AUDIT_HEAD_MAX - 1;
        q->m->has = true;
        q->m->seq = sqlite3_column_int64(st, 0);
        memcpy(q->m->head, v.ptr, n);
        q->m->head[n] = 0;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err audit_store_mark_get(struct audit_db db, const char *scope, struct audit_mark *m)
{
    memset(m, 0, sizeof(*m));
    sqlite3 *sys = marks_handle(db);
    struct mark_call q = {.scope = scope, .m = m};
    return sys ? locked_tx(sys, "BEGIN", mark_get_tx, &q) : LAIR_OK;
}

static enum lair_err mark_advance_tx(sqlite3 *db, void *arg)
{
    struct mark_call *q = arg;
    sqlite3_stmt *st;
    if (prepare(db,
                "INSERT INTO audit_marks(scope, seq, head) VALUES (?1, ?2, ?3) "
                "ON CONFLICT(scope) DO UPDATE SET seq = excluded.seq, head = excluded.head "
                "WHERE excluded.seq > audit_marks.seq",
                &st))
        return LAIR_EDB;
    sqlite3_bind_text(st, 1, q->scope, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, q->seq);
    sqlite3_bind_text(st, 3, q->head, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        log_error("audit", "high-water mark: %s", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err audit_store_mark_advance(struct audit_db db, const char *scope, int64_t seq,
                                       const char *head)
{
    sqlite3 *sys = marks_handle(db);
    struct mark_call q = {.scope = scope, .seq = seq, .head = head};
    return sys ? locked_tx(sys, "BEGIN IMMEDIATE", mark_advance_tx, &q) : LAIR_OK;
}

struct hash_call {
    int64_t seq;
    bool *found;
    unsigned char *hash;
};

static enum lair_err hash_at_tx(sqlite3 *db, void *arg)
{
    struct hash_call *q = arg;
    sqlite3_stmt *st;
    if (prepare(db, "SELECT hash FROM audit WHERE seq = ?1", &st))
        return LAIR_EDB;
    sqlite3_bind_int64(st, 1, q->seq);
    int rc = sqlite3_step(st);
    *q->found = rc == SQLITE_ROW && col_hash(st, 0, q->hash);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err audit_store_hash_at(struct audit_db db, int64_t seq, bool *found,
                                  unsigned char hash[AUDIT_HASH_LEN])
{
    struct hash_call q = {seq, found, hash};
    *found = false;
    return locked_tx(shared_handle(db), "BEGIN", hash_at_tx, &q);
}
