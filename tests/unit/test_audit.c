/* Unit tests for the audit log (src/audit, src/store/audit_store.c): many
 * threads appending at once keep the chain whole; tampering with the
 * database file through SQL (modified, deleted, inserted, reordered,
 * truncated, rewritten events, a removed or foreign checkpoint, an older
 * copy of the tenant's database put back, which system.db's high-water mark
 * tells) is detected at the right event; stored fields are bounded and carry
 * no secret. */
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

#include "audit/audit.h"
#include "store/audit_store.h"
#include "store/system.h"
#include "store/tenant.h"

#define N_EVENTS 20

static char dir[256], data[300];
static struct sysdb *sys;
static struct tenants *tenants;
static unsigned char key[AUDIT_KEY_LEN];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-audit-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        audit_key_load(data, key))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tenants_free(tenants);
    sysdb_free(sys);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

/* ---- helpers ---- */

struct fixture {
    char slug[64];
    char path[512]; /* the tenant's database file */
    struct tenant_db *db;
    struct audit_log log;
};

static void event_n(int i, struct audit_event *ev, char *target, size_t n)
{
    snprintf(target, n, "key:%012d", i);
    *ev = (struct audit_event){.actor = "0123456789ab",
                               .action = i % 2 ? "key.create" : "key.revoke",
                               .target = target,
                               .outcome = "ok",
                               .detail = "method:POST"};
}

/* A new tenant whose log holds n events. */
static void fixture_open(struct fixture *f, const char *slug, int n)
{
    snprintf(f->slug, sizeof(f->slug), "%s", slug);
    snprintf(f->path, sizeof(f->path), "%s/tenants/%s/tenant.db", data, slug);
    assert_int_equal(tenants_create(tenants, slug, NULL), LAIR_OK);
    assert_int_equal(tenants_get(tenants, slug, &f->db), LAIR_OK);
    audit_log_tenant(&f->log, f->db, key);
    for (int i = 1; i <= n; i++) {
        char target[64];
        struct audit_event ev;
        event_n(i, &ev, target, sizeof(target));
        int64_t seq = 0;
        assert_int_equal(audit_append(&f->log, &ev, &seq), LAIR_OK);
        assert_int_equal(seq, i);
    }
}

static void fixture_close(struct fixture *f)
{
    audit_log_release(&f->log);
    tenant_db_put(f->db);
    assert_int_equal(tenants_delete(tenants, f->slug), LAIR_OK);
}

/* Runs SQL on the database file through a connection of its own, as an
 * intruder with write access would. */
static void tamper(const char *path, const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fail_msg("%s: %s", sql, msg);
    sqlite3_close(db);
}

static const char *sys_path(void)
{
    static char path[400];
    snprintf(path, sizeof(path), "%s/system.db", data);
    return path;
}

static void expect_broken(struct audit_log *l, enum audit_reason why, int64_t at)
{
    struct audit_report r;
    assert_int_equal(audit_verify(l, &r), LAIR_OK);
    if (r.ok || r.reason != why || r.broken_at != at)
        fail_msg("want %s at %lld, got ok=%d %s at %lld: %s", audit_reason_name(why), (long long)at,
                 r.ok, audit_reason_name(r.reason), (long long)r.broken_at, r.message);
    assert_true(r.message[0] != 0);
}

static void expect_ok(struct audit_log *l, int64_t events)
{
    struct audit_report r;
    assert_int_equal(audit_verify(l, &r), LAIR_OK);
    if (!r.ok)
        fail_msg("want ok, got %s at %lld: %s", audit_reason_name(r.reason), (long long)r.broken_at,
                 r.message);
    assert_int_equal(r.events, events);
    assert_int_equal(r.head_seq, events);
}

/* Reads one stored event (text fields copied into the caller's buffers). */
struct one {
    struct audit_row row;
    char text[5][600];
};

static bool keep_one(void *ctx, const struct audit_row *r)
{
    struct one *o = ctx;
    o->row = *r;
    struct str *f[5] = {&o->row.actor, &o->row.action, &o->row.target, &o->row.outcome,
                        &o->row.detail};
    for (int i = 0; i < 5; i++) {
        snprintf(o->text[i], sizeof(o->text[i]), "%.*s", (int)f[i]->len, f[i]->ptr);
        f[i]->ptr = o->text[i];
    }
    return false;
}

static void read_event(struct audit_log *l, int64_t seq, struct one *o)
{
    memset(o, 0, sizeof(*o));
    assert_int_equal(audit_store_list(l->db, 0, seq - 1, 1, keep_one, o), LAIR_OK);
    assert_int_equal(o->row.seq, seq);
}

/* Writes a row with every column given, through the intruder's connection. */
static void forge(const char *path, const struct audit_row *r)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO audit(seq, ts, actor, action, target, "
                                        "outcome, detail, prev, hash) VALUES "
                                        "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, r->seq);
    sqlite3_bind_int64(st, 2, r->ts);
    const struct str *f[5] = {&r->actor, &r->action, &r->target, &r->outcome, &r->detail};
    for (int i = 0; i < 5; i++)
        sqlite3_bind_text(st, 3 + i, f[i]->ptr, (int)f[i]->len, SQLITE_STATIC);
    sqlite3_bind_blob(st, 8, r->prev, AUDIT_HASH_LEN, SQLITE_STATIC);
    sqlite3_bind_blob(st, 9, r->hash, AUDIT_HASH_LEN, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* A forged event at seq that links to the stored event prev_seq, with a hash
 * computed exactly as the server would (the construction is public). */
static void forge_linked(struct fixture *f, int64_t seq, int64_t prev_seq)
{
    struct one prev;
    read_event(&f->log, prev_seq, &prev);
    struct audit_row r = {.seq = seq,
                          .ts = prev.row.ts,
                          .actor = S("0123456789ab"),
                          .action = S("key.create"),
                          .target = S("key:forged000000"),
                          .outcome = S("ok"),
                          .detail = S("method:POST")};
    memcpy(r.prev, prev.row.hash, AUDIT_HASH_LEN);
    audit_hash(&r, seq, r.hash);
    forge(f->path, &r);
}

/* ---- concurrency ---- */

struct worker {
    struct audit_log log;
    sqlite3 *own; /* a connection of its own (another process, in effect) */
    int n;
    enum lair_err err;
};

static void *append_many(void *p)
{
    struct worker *w = p;
    for (int i = 0; i < w->n && !w->err; i++) {
        char target[64];
        struct audit_event ev;
        event_n(i, &ev, target, sizeof(target));
        w->err = audit_append(&w->log, &ev, NULL);
    }
    return NULL;
}

static void test_concurrent_tenant(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "conc", 0);
    enum { SHARED = 6, OWN = 2, PER = 60 };
    struct worker w[SHARED + OWN];
    pthread_t th[SHARED + OWN];
    for (int i = 0; i < SHARED + OWN; i++) {
        w[i] = (struct worker){.n = PER};
        if (i < SHARED) {
            audit_log_tenant(&w[i].log, f.db, key);
        } else {
            assert_int_equal(sqlite3_open_v2(f.path, &w[i].own,
                                             SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL),
                             SQLITE_OK);
            sqlite3_busy_timeout(w[i].own, 10000);
            audit_log_conn(&w[i].log, w[i].own, "tenant:conc", key);
        }
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &w[i]), 0);
    }
    for (int i = 0; i < SHARED + OWN; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(w[i].err, LAIR_OK);
        sqlite3_close(w[i].own);
    }
    expect_ok(&f.log, (SHARED + OWN) * PER);
    fixture_close(&f);
}

/* Tenants created and deleted meanwhile: system.c runs its own transactions
 * on the connection the operator's log shares. */
static void *tenant_churn(void *p)
{
    int *err = p;
    for (int i = 0; i < 15 && !*err; i++) {
        char slug[32];
        snprintf(slug, sizeof(slug), "churn-%d", i);
        *err = tenants_create(tenants, slug, NULL);
        if (!*err)
            *err = tenants_delete(tenants, slug);
    }
    return NULL;
}

static void test_concurrent_system(void **state)
{
    (void)state;
    struct audit_log l;
    audit_log_system(&l, sys, key);
    struct audit_report before;
    assert_int_equal(audit_verify(&l, &before), LAIR_OK);
    assert_true(before.ok);
    enum { N = 4, PER = 40 };
    struct worker w[N];
    pthread_t th[N + 1];
    int churn_err = 0;
    for (int i = 0; i < N; i++) {
        w[i] = (struct worker){.n = PER};
        audit_log_system(&w[i].log, sys, key);
        assert_int_equal(pthread_create(&th[i], NULL, append_many, &w[i]), 0);
    }
    assert_int_equal(pthread_create(&th[N], NULL, tenant_churn, &churn_err), 0);
    for (int i = 0; i <= N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        assert_int_equal(w[i].err, LAIR_OK);
    assert_int_equal(churn_err, 0);
    expect_ok(&l, before.events + N * PER);
    assert_int_equal(audit_failures(), 0);
    audit_log_release(&l);
}

/* ---- tampering ---- */

static void test_intact(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "intact", N_EVENTS);
    expect_ok(&f.log, N_EVENTS);
    /* the first event starts the chain; each links to the one before */
    struct one a, b;
    read_event(&f.log, 1, &a);
    read_event(&f.log, 2, &b);
    static const unsigned char zero[AUDIT_HASH_LEN];
    assert_memory_equal(a.row.prev, zero, AUDIT_HASH_LEN);
    assert_memory_equal(b.row.prev, a.row.hash, AUDIT_HASH_LEN);
    json_t *j = NULL;
    struct audit_report r;
    assert_int_equal(audit_verify(&f.log, &r), LAIR_OK);
    j = audit_report_json(&r);
    assert_non_null(j);
    assert_true(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(j, "events")), N_EVENTS);
    json_decref(j);
    fixture_close(&f);
}

static void test_empty(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "empty", 0);
    expect_ok(&f.log, 0);
    fixture_close(&f);
}

static void test_modified(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "modified", N_EVENTS);
    tamper(f.path, "UPDATE audit SET outcome = 'error' WHERE seq = 7");
    expect_broken(&f.log, AUDIT_MODIFIED, 7);
    struct audit_report r;
    audit_verify(&f.log, &r);
    assert_int_equal(r.checked, 6);
    json_t *j = audit_report_json(&r);
    assert_false(json_is_true(json_object_get(j, "ok")));
    assert_int_equal(json_integer_value(json_object_get(j, "broken_at")), 7);
    assert_int_equal(json_integer_value(json_object_get(j, "events_checked")), 6);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "modified");
    json_decref(j);
    fixture_close(&f);
}

static void test_modified_time(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "modified-ts", N_EVENTS);
    tamper(f.path, "UPDATE audit SET ts = ts - 86400 WHERE seq = 12");
    expect_broken(&f.log, AUDIT_MODIFIED, 12);
    fixture_close(&f);
}

static void test_malformed_hash(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "malformed", N_EVENTS);
    tamper(f.path, "UPDATE audit SET prev = X'' WHERE seq = 1");
    expect_broken(&f.log, AUDIT_MODIFIED, 1);
    fixture_close(&f);
}

static void test_deleted_middle(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "deleted", N_EVENTS);
    tamper(f.path, "DELETE FROM audit WHERE seq = 7");
    expect_broken(&f.log, AUDIT_DELETED, 7);
    fixture_close(&f);
}

static void test_deleted_first(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "deleted-first", N_EVENTS);
    tamper(f.path, "DELETE FROM audit WHERE seq <= 2");
    expect_broken(&f.log, AUDIT_DELETED, 1);
    fixture_close(&f);
}

static void test_deleted_renumbered(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "renumbered", N_EVENTS);
    /* remove event 7 and close the gap */
    tamper(f.path, "DELETE FROM audit WHERE seq = 7;"
                   "UPDATE audit SET seq = -(seq - 1) WHERE seq > 7;"
                   "UPDATE audit SET seq = -seq WHERE seq < 0;");
    expect_broken(&f.log, AUDIT_DELETED, 7);
    fixture_close(&f);
}

static void test_inserted_at_end(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "inserted-end", N_EVENTS);
    forge_linked(&f, N_EVENTS + 1, N_EVENTS);
    expect_broken(&f.log, AUDIT_INSERTED, N_EVENTS + 1);
    /* the server keeps appending: the forged event stays outside the chain */
    struct audit_event ev = {.actor = "0123456789ab", .action = "key.create", .outcome = "ok"};
    int64_t seq;
    assert_int_equal(audit_append(&f.log, &ev, &seq), LAIR_OK);
    assert_int_equal(seq, N_EVENTS + 2);
    expect_broken(&f.log, AUDIT_INSERTED, N_EVENTS + 1);
    fixture_close(&f);
}

static void test_inserted_middle(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "inserted-mid", N_EVENTS);
    /* make room after event 7, then forge event 8 linked to event 7 */
    tamper(f.path, "UPDATE audit SET seq = -(seq + 1) WHERE seq > 7;"
                   "UPDATE audit SET seq = -seq WHERE seq < 0;");
    forge_linked(&f, 8, 7);
    expect_broken(&f.log, AUDIT_INSERTED, 8);
    fixture_close(&f);
}

static void test_inserted_random_hash(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "inserted-rand", N_EVENTS);
    tamper(f.path, "UPDATE audit SET seq = -(seq + 1) WHERE seq > 4;"
                   "UPDATE audit SET seq = -seq WHERE seq < 0;"
                   "INSERT INTO audit VALUES (5, 1700000000, '0123456789ab', 'key.create', "
                   "'key:x', 'ok', '', randomblob(32), randomblob(32));");
    struct audit_report r;
    assert_int_equal(audit_verify(&f.log, &r), LAIR_OK);
    assert_false(r.ok);
    assert_int_equal(r.broken_at, 5);
    fixture_close(&f);
}

static void test_reordered(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "reordered", N_EVENTS);
    tamper(f.path, "UPDATE audit SET seq = -1 WHERE seq = 5;"
                   "UPDATE audit SET seq = 5 WHERE seq = 9;"
                   "UPDATE audit SET seq = 9 WHERE seq = -1;");
    expect_broken(&f.log, AUDIT_REORDERED, 5);
    fixture_close(&f);
}

static void test_reordered_adjacent(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "swapped", N_EVENTS);
    tamper(f.path, "UPDATE audit SET seq = -1 WHERE seq = 11;"
                   "UPDATE audit SET seq = 11 WHERE seq = 12;"
                   "UPDATE audit SET seq = 12 WHERE seq = -1;");
    expect_broken(&f.log, AUDIT_REORDERED, 11);
    fixture_close(&f);
}

static void test_truncated(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "truncated", N_EVENTS);
    tamper(f.path, "DELETE FROM audit WHERE seq = 20");
    expect_broken(&f.log, AUDIT_TRUNCATED, 20);
    tamper(f.path, "DELETE FROM audit WHERE seq > 16");
    expect_broken(&f.log, AUDIT_TRUNCATED, 17);
    /* the next append does not hide it: it chains from the sealed head */
    struct audit_event ev = {.actor = "0123456789ab", .action = "key.create", .outcome = "ok"};
    int64_t seq;
    assert_int_equal(audit_append(&f.log, &ev, &seq), LAIR_OK);
    assert_int_equal(seq, N_EVENTS + 1);
    expect_broken(&f.log, AUDIT_DELETED, 17);
    fixture_close(&f);
}

static void test_truncated_all(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "truncated-all", N_EVENTS);
    tamper(f.path, "DELETE FROM audit");
    expect_broken(&f.log, AUDIT_TRUNCATED, 1);
    fixture_close(&f);
}

static void test_checkpoint_removed(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "no-head", N_EVENTS);
    tamper(f.path, "DELETE FROM settings WHERE key = 'audit.head'");
    expect_broken(&f.log, AUDIT_CHECKPOINT, N_EVENTS);
    /* appends go on but never seal over the evidence */
    struct audit_event ev = {.actor = "0123456789ab", .action = "key.create", .outcome = "ok"};
    assert_int_equal(audit_append(&f.log, &ev, NULL), LAIR_OK);
    expect_broken(&f.log, AUDIT_CHECKPOINT, N_EVENTS + 1);
    fixture_close(&f);
}

static void test_checkpoint_forged(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "forged-head", N_EVENTS);
    tamper(f.path, "DELETE FROM audit WHERE seq > 15;"
                   "UPDATE settings SET value = 'v1 15 ' || hex(randomblob(32)) || ' ' || "
                   "hex(randomblob(32)) WHERE key = 'audit.head'");
    expect_broken(&f.log, AUDIT_CHECKPOINT, 15);
    fixture_close(&f);
}

/* Changed, then every later hash recomputed: only the sealed head tells. */
static void test_rewritten(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "rewritten", N_EVENTS);
    unsigned char prev[AUDIT_HASH_LEN];
    struct one e;
    read_event(&f.log, 6, &e);
    memcpy(prev, e.row.hash, AUDIT_HASH_LEN);
    char sql[512];
    for (int64_t s = 7; s <= N_EVENTS; s++) {
        read_event(&f.log, s, &e);
        if (s == 7)
            e.row.outcome = S("error");
        memcpy(e.row.prev, prev, AUDIT_HASH_LEN);
        audit_hash(&e.row, s, e.row.hash);
        snprintf(sql, sizeof(sql), "DELETE FROM audit WHERE seq = %lld", (long long)s);
        tamper(f.path, sql);
        forge(f.path, &e.row);
        memcpy(prev, e.row.hash, AUDIT_HASH_LEN);
        /* the stored strings live in e.text; re-read for the next */
    }
    expect_broken(&f.log, AUDIT_REWRITTEN, N_EVENTS);
    fixture_close(&f);
}

/* A whole log copied from another tenant (rows and head) does not verify:
 * the head is bound to its log. */
static void test_foreign_log(void **state)
{
    (void)state;
    struct fixture a, b;
    fixture_open(&a, "copy-a", N_EVENTS);
    fixture_open(&b, "copy-b", 3);
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "ATTACH '%s' AS a; DELETE FROM audit; INSERT INTO audit SELECT * FROM a.audit;"
             "UPDATE settings SET value = (SELECT value FROM a.settings WHERE key = 'audit.head')"
             " WHERE key = 'audit.head';",
             a.path);
    tamper(b.path, sql);
    expect_broken(&b.log, AUDIT_CHECKPOINT, N_EVENTS);
    fixture_close(&a);
    fixture_close(&b);
}

static void test_other_pepper(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "pepper", N_EVENTS);
    unsigned char other[AUDIT_KEY_LEN];
    memcpy(other, key, sizeof(other));
    other[0] ^= 1;
    struct audit_log l;
    audit_log_tenant(&l, f.db, other);
    expect_broken(&l, AUDIT_CHECKPOINT, N_EVENTS);
    audit_log_release(&l);
    fixture_close(&f);
}

/* ---- the high-water mark in system.db ---- */

/* Appends n events, each unlike any other (the same events written again
 * in the same second after the same head would rebuild the same chain). */
static void append_n(struct audit_log *l, int n)
{
    static int count;
    for (int i = 0; i < n; i++) {
        char target[32];
        snprintf(target, sizeof(target), "key:%012d", ++count);
        struct audit_event ev = {
            .actor = "0123456789ab", .action = "key.create", .target = target, .outcome = "ok"};
        assert_int_equal(audit_append(l, &ev, NULL), LAIR_OK);
    }
}

static int64_t mark_seq(struct fixture *f)
{
    struct audit_mark m;
    assert_int_equal(audit_store_mark_get(f->log.db, f->log.scope, &m), LAIR_OK);
    return m.has ? m.seq : -1;
}

/* Puts back the log of an older copy of the tenant's database (its rows and
 * its sealed head), as restoring the file would. */
static void restore_copy(struct fixture *f, const char *copy)
{
    char sql[1024];
    snprintf(sql, sizeof(sql),
             "ATTACH '%s' AS o; DELETE FROM audit; INSERT INTO audit SELECT * FROM o.audit;"
             "UPDATE settings SET value = (SELECT value FROM o.settings WHERE key = 'audit.head')"
             " WHERE key = 'audit.head';",
             copy);
    tamper(f->path, sql);
}

/* An older copy of a tenant's database, head included, verifies on its own;
 * the mark that system.db kept says that the log went back, and goes on
 * saying it after the server appends again from the restored head. */
static void test_rolled_back(void **state)
{
    (void)state;
    struct fixture f;
    char copy[400], sql[500];
    snprintf(copy, sizeof(copy), "%s/rollback-old.db", dir);
    fixture_open(&f, "rollback", 10);
    assert_int_equal(mark_seq(&f), 10);
    snprintf(sql, sizeof(sql), "VACUUM INTO '%s'", copy);
    tamper(f.path, sql);
    append_n(&f.log, 5);
    assert_int_equal(mark_seq(&f), 15);
    expect_ok(&f.log, 15);

    restore_copy(&f, copy);
    expect_broken(&f.log, AUDIT_ROLLED_BACK, 11);
    /* appends chain from the restored head; the mark stays as evidence */
    append_n(&f.log, 3);
    assert_int_equal(mark_seq(&f), 15);
    expect_broken(&f.log, AUDIT_ROLLED_BACK, 14);
    append_n(&f.log, 4);
    assert_int_equal(mark_seq(&f), 15);
    expect_broken(&f.log, AUDIT_ROLLED_BACK, 15);
    /* emptied, head and all */
    tamper(f.path, "DELETE FROM audit; DELETE FROM settings WHERE key = 'audit.head'");
    expect_broken(&f.log, AUDIT_ROLLED_BACK, 1);
    fixture_close(&f);
}

/* A mark that does not verify (forged, or of another log) is reported; one
 * that was never recorded (a log written before marks existed, or whose
 * mark was removed) is not, and the next append records it. */
static void test_mark_forged_or_missing(void **state)
{
    (void)state;
    struct fixture f, g;
    char sql[600];
    fixture_open(&f, "mark-a", 6);
    fixture_open(&g, "mark-b", 9);
    /* another tenant's mark, however genuine, is not this log's */
    snprintf(sql, sizeof(sql),
             "UPDATE audit_marks SET seq = 9, head = (SELECT head FROM audit_marks WHERE scope = "
             "'tenant:mark-b') WHERE scope = 'tenant:mark-a'");
    tamper(sys_path(), sql);
    expect_broken(&f.log, AUDIT_CHECKPOINT, 6);
    tamper(sys_path(), "UPDATE audit_marks SET seq = 1000000 WHERE scope = 'tenant:mark-b'");
    expect_broken(&g.log, AUDIT_CHECKPOINT, 9);

    tamper(sys_path(), "DELETE FROM audit_marks");
    expect_ok(&f.log, 6);
    assert_int_equal(mark_seq(&f), -1);
    append_n(&f.log, 1);
    assert_int_equal(mark_seq(&f), 7);
    expect_ok(&f.log, 7);
    fixture_close(&f);
    fixture_close(&g);
}

/* The mark goes with the tenant: a tenant made again under the same slug
 * starts a new log, which verifies. */
static void test_mark_deleted_with_tenant(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "again", 8);
    fixture_close(&f);
    fixture_open(&f, "again", 2);
    assert_int_equal(mark_seq(&f), 2);
    expect_ok(&f.log, 2);
    fixture_close(&f);
}

/* ---- content ---- */

static bool has(const char *s, size_t n, const char *needle)
{
    return memmem(s, n, needle, strlen(needle)) != NULL;
}

static void test_content_cleaned(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "content", 0);
    char big[10000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    char accents[700] = "";
    for (int i = 0; i < 300; i++)
        memcpy(accents + 2 * i, "\xc3\xa9", 3); /* é, and the NUL after the last */
    struct audit_event ev = {.actor = "lair_0123456789ab_S3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3cr3tS3c",
                             .action = "key.create\n\x01injected",
                             .target = accents,
                             .outcome = "ok\xff\xfe",
                             .detail =
                                 "Authorization: Bearer lair_0123456789ab_S3cr3tS3cr3t and more"};
    assert_int_equal(audit_append(&f.log, &ev, NULL), LAIR_OK);
    ev = (struct audit_event){
        .actor = big, .action = big, .target = big, .outcome = big, .detail = big};
    assert_int_equal(audit_append(&f.log, &ev, NULL), LAIR_OK);
    struct one o;
    read_event(&f.log, 1, &o);
    const struct audit_row *r = &o.row;
    assert_string_equal(o.text[0], "lair_0123456789ab_***");
    assert_string_equal(o.text[1], "key.create??injected");
    assert_true(r->target.len <= AUDIT_TARGET_MAX && r->target.len % 2 == 0);
    assert_true(utf8_valid(r->target.ptr, r->target.len));
    assert_string_equal(o.text[3], "ok??");
    assert_false(has(r->detail.ptr, r->detail.len, "S3cr3t"));
    assert_string_equal(o.text[4], "Authorization: Bearer *** and more");
    read_event(&f.log, 2, &o);
    assert_int_equal(o.row.actor.len, AUDIT_ACTOR_MAX);
    assert_int_equal(o.row.action.len, AUDIT_ACTION_MAX);
    assert_int_equal(o.row.target.len, AUDIT_TARGET_MAX);
    assert_int_equal(o.row.outcome.len, AUDIT_OUTCOME_MAX);
    assert_int_equal(o.row.detail.len, AUDIT_DETAIL_MAX);
    expect_ok(&f.log, 2);
    /* nothing secret-looking anywhere in the database or its journal */
    bool seen = false;
    for (int k = 0; k < 2; k++) {
        char path[600];
        snprintf(path, sizeof(path), "%s%s", f.path, k ? "-wal" : "");
        FILE *fp = fopen(path, "rb");
        if (!fp)
            continue;
        static char file[4 << 20];
        size_t n = fread(file, 1, sizeof(file), fp);
        fclose(fp);
        assert_false(has(file, n, "S3cr3t"));
        seen = seen || has(file, n, "lair_0123456789ab_***");
    }
    assert_true(seen);
    fixture_close(&f);
}

struct bounds {
    int64_t n;
    bool ok;
};

static bool check_bounds(void *ctx, const struct audit_row *r)
{
    struct bounds *b = ctx;
    b->n++;
    const struct str f[5] = {r->actor, r->action, r->target, r->outcome, r->detail};
    const size_t max[5] = {AUDIT_ACTOR_MAX, AUDIT_ACTION_MAX, AUDIT_TARGET_MAX, AUDIT_OUTCOME_MAX,
                           AUDIT_DETAIL_MAX};
    for (int i = 0; i < 5; i++) {
        if (f[i].len > max[i] || !utf8_valid(f[i].ptr, f[i].len))
            b->ok = false;
        for (size_t k = 0; k + 5 + KEY_ID_LEN + 2 <= f[i].len; k++)
            if (!memcmp(f[i].ptr + k, "lair_", 5) && f[i].ptr[k + 5 + KEY_ID_LEN] == '_' &&
                f[i].ptr[k + 6 + KEY_ID_LEN] != '*')
                b->ok = false;
    }
    return true;
}

static void test_bounds_everywhere(void **state)
{
    (void)state;
    struct audit_log l;
    audit_log_system(&l, sys, key);
    struct bounds b = {0, true};
    assert_int_equal(audit_store_list(l.db, 0, 0, INT64_MAX, check_bounds, &b), LAIR_OK);
    assert_true(b.n > 0);
    assert_true(b.ok);
    audit_log_release(&l);
}

/* ---- reading ---- */

struct count {
    int64_t n, first, last;
};

static bool count_rows(void *ctx, const struct audit_row *r)
{
    struct count *c = ctx;
    if (!c->n)
        c->first = r->seq;
    c->last = r->seq;
    c->n++;
    return true;
}

static void test_list_and_subject(void **state)
{
    (void)state;
    struct fixture f;
    fixture_open(&f, "listing", 0);
    const int64_t t0 = 1700000000;
    for (int i = 0; i < 10; i++) {
        char detail[64];
        snprintf(detail, sizeof(detail), "method:DELETE subject:%s", i % 3 ? "user-1" : "user-10");
        struct audit_event ev = {.ts = t0 + i * 60,
                                 .actor = "0123456789ab",
                                 .action = "conversation.delete",
                                 .target = "conversation:x",
                                 .outcome = "ok",
                                 .detail = detail};
        assert_int_equal(audit_append(&f.log, &ev, NULL), LAIR_OK);
    }
    struct count c = {0};
    assert_int_equal(audit_store_list(f.log.db, t0 + 300, 0, 100, count_rows, &c), LAIR_OK);
    assert_int_equal(c.n, 5);
    assert_int_equal(c.first, 6);
    c = (struct count){0};
    assert_int_equal(audit_store_list(f.log.db, 0, 3, 4, count_rows, &c), LAIR_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(c.first, 4);
    assert_int_equal(c.last, 7);
    c = (struct count){0};
    assert_int_equal(audit_store_find_subject(f.log.db, "user-1", count_rows, &c), LAIR_OK);
    assert_int_equal(c.n, 6); /* not user-10's */
    c = (struct count){0};
    assert_int_equal(audit_store_find_subject(f.log.db, "user-10", count_rows, &c), LAIR_OK);
    assert_int_equal(c.n, 4);
    assert_int_equal(audit_store_find_subject(f.log.db, "a b", count_rows, &c), LAIR_EINVAL);
    fixture_close(&f);
}

static void test_parse_time(void **state)
{
    (void)state;
    int64_t t;
    assert_true(audit_parse_time("1717171717", &t));
    assert_int_equal(t, 1717171717);
    assert_true(audit_parse_time("2024-05-31", &t));
    assert_int_equal(t, 1717113600);
    assert_true(audit_parse_time("2024-05-31T12:00:00Z", &t));
    assert_int_equal(t, 1717156800);
    assert_true(audit_parse_time("2024-05-31T14:00:00+02:00", &t));
    assert_int_equal(t, 1717156800);
    assert_true(audit_parse_time("2024-05-31T12:00", &t));
    assert_int_equal(t, 1717156800);
    assert_true(audit_parse_time("2024-05-31T12:00:00.250Z", &t));
    assert_int_equal(t, 1717156800);
    const char *bad[] = {"",
                         "yesterday",
                         "2024-02-30",
                         "2024-13-01",
                         "2024-05-31T25:00",
                         "2024-05-31T12",
                         "2024-05-31Z1",
                         "-5",
                         "99999999999999"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (audit_parse_time(bad[i], &t))
            fail_msg("'%s' parsed", bad[i]);
    char s[32];
    audit_format_time(1717156800, s);
    assert_string_equal(s, "2024-05-31T12:00:00Z");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intact),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_concurrent_tenant),
        cmocka_unit_test(test_concurrent_system),
        cmocka_unit_test(test_modified),
        cmocka_unit_test(test_modified_time),
        cmocka_unit_test(test_malformed_hash),
        cmocka_unit_test(test_deleted_middle),
        cmocka_unit_test(test_deleted_first),
        cmocka_unit_test(test_deleted_renumbered),
        cmocka_unit_test(test_inserted_at_end),
        cmocka_unit_test(test_inserted_middle),
        cmocka_unit_test(test_inserted_random_hash),
        cmocka_unit_test(test_reordered),
        cmocka_unit_test(test_reordered_adjacent),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_truncated_all),
        cmocka_unit_test(test_checkpoint_removed),
        cmocka_unit_test(test_checkpoint_forged),
        cmocka_unit_test(test_rewritten),
        cmocka_unit_test(test_foreign_log),
        cmocka_unit_test(test_other_pepper),
        cmocka_unit_test(test_rolled_back),
        cmocka_unit_test(test_mark_forged_or_missing),
        cmocka_unit_test(test_mark_deleted_with_tenant),
        cmocka_unit_test(test_content_cleaned),
        cmocka_unit_test(test_bounds_everywhere),
        cmocka_unit_test(test_list_and_subject),
        cmocka_unit_test(test_parse_time),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
