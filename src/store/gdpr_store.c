/* SQL of the GDPR module on a tenant's database. Every statement is fixed
 * text, prepared and bound. Deletions count what they remove statement by
 * statement (messages, then pseudonyms, then conversations) inside one
 * transaction, rather than relying on cascades whose rows SQLite does not
 * count. */
#include "store/gdpr_store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "store/tx.h"
#include "core/banned.h"

#define SCRUB_KEY "gdpr.scrub"

static enum lair_err prepare(sqlite3 *h, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(h, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("gdpr", "prepare: %s", sqlite3_errmsg(h));
        return LAIR_EDB;
    }
    return LAIR_OK;
}

/* Steps a statement that returns no row, then finalizes it. A full disk
 * is LAIR_ESTORAGE (db_err). */
static enum lair_err run(sqlite3 *h, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum lair_err e = rc == SQLITE_ROW ? LAIR_EDB : db_err(h, rc);
    if (e)
        log_error("gdpr", "step: %s", sqlite3_errmsg(h));
    sqlite3_finalize(st);
    return e;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? (const char *)t : "";
}

static struct str col_str(sqlite3_stmt *st, int i)
{
    const char *t = col_text(st, i);
    return (struct str){t, (size_t)sqlite3_column_bytes(st, i)};
}

static void copy_col(sqlite3_stmt *st, int i, char *out, size_t n)
{
    snprintf(out, n, "%s", col_text(st, i));
}

static enum lair_err exec(sqlite3 *h, const char *sql)
{
    int rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        enum lair_err e = db_err(h, rc);
        log_error("gdpr", "%s", sqlite3_errmsg(h));
        return e;
    }
    return LAIR_OK;
}

/* Runs fn(h, arg) inside a read transaction holding the connection, so that
 * no other thread's statement lands inside it and every read sees one
 * snapshot. */
static enum lair_err with_read(struct tenant_db *db, enum lair_err (*fn)(sqlite3 *, void *),
                               void *arg)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    sqlite3_stmt *rb; /* a rollback that cannot fail for want of memory (store/tx.h) */
    enum lair_err e = tx_begin(h, "BEGIN", &rb);
    if (!e)
        e = tx_end(h, fn(h, arg), rb);
    sqlite3_mutex_leave(m);
    return e;
}

/* A deletion with a text parameter ?1 (unbound when text is NULL) and an
 * integer ?2 (when the statement has one), run for its changes. OUT:
 * *changes += the rows it deleted (changes may be NULL). */
static enum lair_err delete_count(sqlite3 *h, const char *sql, const char *text, int64_t num,
                                  int64_t *changes)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(h, sql, &st);
    if (e)
        return e;
    if (text)
        sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_int64(st, 2, num);
    if ((e = run(h, st)))
        return e;
    if (changes)
        *changes += sqlite3_changes64(h);
    return LAIR_OK;
}

static enum lair_err mark_scrub(sqlite3 *h)
{
    return exec(h, "INSERT INTO settings(key, value) VALUES ('" SCRUB_KEY "', '1') "
                   "ON CONFLICT(key) DO UPDATE SET value = '1'");
}

/* ---- reading what is held about a subject ---- */

struct visit {
    const char *subject;
    const struct gdpr_visitor *v;
};

static enum lair_err visit_pseudonyms(sqlite3_stmt *st, const struct gdpr_visitor *v)
{
    int rc = SQLITE_DONE;
    enum lair_err e = LAIR_OK;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct gdpr_pseudonym p = {col_text(st, 0), col_text(st, 1),
                                   (unsigned)sqlite3_column_int64(st, 2), col_str(st, 3)};
        if (v->pseudonym)
            e = v->pseudonym(v->ctx, &p);
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_reset(st);
    return e;
}

static enum lair_err visit_messages(sqlite3_stmt *st, const struct gdpr_visitor *v)
{
    int rc = SQLITE_DONE;
    enum lair_err e = LAIR_OK;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct gdpr_message m = {.role = col_text(st, 0),
                                 .content = col_str(st, 1),
                                 .created_at = sqlite3_column_int64(st, 2),
                                 .prompt_tokens = sqlite3_column_int(st, 3),
                                 .completion_tokens = sqlite3_column_int(st, 4),
                                 .cached_tokens = sqlite3_column_int(st, 5)};
        if (v->message)
            e = v->message(v->ctx, &m);
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_reset(st);
    return e;
}

static enum lair_err visit_feedback(sqlite3_stmt *st, const struct gdpr_visitor *v)
{
    int rc = SQLITE_DONE;
    enum lair_err e = LAIR_OK;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct gdpr_feedback f = {.conversation_id = col_text(st, 0),
                                  .rating = col_text(st, 1),
                                  .message_id = sqlite3_column_int64(st, 2),
                                  .created_at = sqlite3_column_int64(st, 3),
                                  .comment = col_str(st, 4)};
        if (v->feedback)
            e = v->feedback(v->ctx, &f);
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_reset(st);
    return e;
}

static enum lair_err visit_tx(sqlite3 *h, void *arg)
{
    const struct visit *x = arg;
    const struct gdpr_visitor *v = x->v;
    sqlite3_stmt *conv = NULL, *msgs = NULL, *ps = NULL, *orphans = NULL, *fb = NULL;
    enum lair_err e;
    if ((e = prepare(h,
                     "SELECT id, assistant, key_id, created_at, updated_at, title "
                     "FROM conversations WHERE subject = ?1 ORDER BY created_at, rowid",
                     &conv)) ||
        (e = prepare(h,
                     "SELECT role, content, created_at, prompt_tokens, completion_tokens, "
                     "cached_tokens FROM messages WHERE conversation_id = ?1 ORDER BY id",
                     &msgs)) ||
        (e = prepare(h,
                     "SELECT conversation_id, rating, message_id, created_at, comment "
                     "FROM feedback WHERE conversation_id = ?1 ORDER BY id",
                     &fb)) ||
        (e = prepare(h,
                     "SELECT conversation_id, type, n, value FROM pseudonyms "
                     "WHERE conversation_id = ?1 ORDER BY type, n",
                     &ps)) ||
        (e = prepare(
             h,
             "SELECT conversation_id, type, n, value FROM pseudonyms p WHERE subject = ?1 "
             "AND NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = p.conversation_id) "
             "ORDER BY conversation_id, type, n",
             &orphans)))
        goto out;
    sqlite3_bind_text(conv, 1, x->subject, -1, SQLITE_STATIC);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(conv)) == SQLITE_ROW) {
        struct gdpr_conv c = {col_text(conv, 0),
                              col_text(conv, 1),
                              col_text(conv, 2),
                              sqlite3_column_int64(conv, 3),
                              sqlite3_column_int64(conv, 4),
                              col_text(conv, 5)};
        if (v->conversation && (e = v->conversation(v->ctx, &c)))
            break;
        sqlite3_bind_text(msgs, 1, c.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ps, 1, c.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(fb, 1, c.id, -1, SQLITE_TRANSIENT);
        if ((e = visit_messages(msgs, v)) || (e = visit_feedback(fb, v)) ||
            (e = visit_pseudonyms(ps, v)))
            break;
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    if (!e) {
        sqlite3_bind_text(orphans, 1, x->subject, -1, SQLITE_STATIC);
        e = visit_pseudonyms(orphans, v);
    }
out:
    sqlite3_finalize(conv);
    sqlite3_finalize(msgs);
    sqlite3_finalize(ps);
    sqlite3_finalize(orphans);
    sqlite3_finalize(fb);
    return e;
}

enum lair_err gdpr_store_subject_visit(struct tenant_db *db, const char *subject,
                                       const struct gdpr_visitor *v)
{
    if (!subject || !*subject)
        return LAIR_EINVAL;
    struct visit x = {subject, v};
    return with_read(db, visit_tx, &x);
}

/* ---- erasure journal ---- */

#define PENDING_COLS                                                                               \
    "id, subject, token, actor, requested_at, audit_after, erased, conversations, messages, "      \
    "pseudonyms"

static void pending_from_row(sqlite3_stmt *st, struct gdpr_pending *p)
{
    memset(p, 0, sizeof(*p));
    p->id = sqlite3_column_int64(st, 0);
    copy_col(st, 1, p->subject, sizeof(p->subject));
    copy_col(st, 2, p->token, sizeof(p->token));
    copy_col(st, 3, p->actor, sizeof(p->actor));
    p->requested_at = sqlite3_column_int64(st, 4);
    p->audit_after = sqlite3_column_int64(st, 5);
    p->erased = sqlite3_column_int(st, 6) != 0;
    p->counts.conversations = sqlite3_column_int64(st, 7);
    p->counts.messages = sqlite3_column_int64(st, 8);
    p->counts.pseudonyms = sqlite3_column_int64(st, 9);
}

struct pending_add {
    const char *subject, *token, *actor;
    struct gdpr_pending *out;
};

static enum lair_err pending_add_tx(sqlite3 *h, void *arg)
{
    struct pending_add *a = arg;
    sqlite3_stmt *st;
    enum lair_err e = prepare(h,
                              "INSERT INTO gdpr_pending(subject, token, actor, requested_at, "
                              "audit_after) VALUES (?1, ?2, ?3, ?4, "
                              "(SELECT COALESCE(MAX(seq), 0) FROM audit)) "
                              "ON CONFLICT(subject) DO NOTHING",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, a->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->token, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->actor, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)time(NULL));
    if ((e = run(h, st)) ||
        (e = prepare(h, "SELECT " PENDING_COLS " FROM gdpr_pending WHERE subject = ?1", &st)))
        return e;
    sqlite3_bind_text(st, 1, a->subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        pending_from_row(st, a->out);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : LAIR_EDB;
}

enum lair_err gdpr_store_pending_add(struct tenant_db *db, const char *subject, const char *token,
                                     const char *actor, struct gdpr_pending *out)
{
    if (!subject || !*subject || strlen(subject) > CONV_SUBJECT_MAX ||
        strlen(token) >= GDPR_TOKEN_MAX || strlen(actor) >= GDPR_ACTOR_MAX)
        return LAIR_EINVAL;
    struct pending_add a = {subject, token, actor, out};
    return tenant_db_tx(db, pending_add_tx, &a);
}

enum lair_err gdpr_store_pending_list(struct tenant_db *db, struct gdpr_pending *out, size_t max,
                                      size_t *n)
{
    *n = 0;
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(h, "SELECT " PENDING_COLS " FROM gdpr_pending ORDER BY id LIMIT ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, (int64_t)max);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < max)
        pending_from_row(st, &out[(*n)++]);
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err gdpr_store_pending_has(struct tenant_db *db, const char *subject, bool *pending)
{
    *pending = false;
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(tenant_db_handle(db), "SELECT 1 FROM gdpr_pending WHERE subject = ?1 LIMIT 1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    *pending = rc == SQLITE_ROW;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

#define OF_SUBJECT "(SELECT id FROM conversations WHERE subject = ?1)"

static enum lair_err erase_tx(sqlite3 *h, void *arg)
{
    struct gdpr_pending *p = arg;
    sqlite3_stmt *st;
    enum lair_err e = prepare(h, "SELECT " PENDING_COLS " FROM gdpr_pending WHERE id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, p->id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        pending_from_row(st, p);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    if (p->erased)
        return LAIR_OK;
    struct gdpr_counts c = {0};
    if ((e = delete_count(h, "DELETE FROM messages WHERE conversation_id IN " OF_SUBJECT,
                          p->subject, 0, &c.messages)) ||
        (e = delete_count(
             h, "DELETE FROM pseudonyms WHERE subject = ?1 OR conversation_id IN " OF_SUBJECT,
             p->subject, 0, &c.pseudonyms)) ||
        (e = delete_count(h, "DELETE FROM conversations WHERE subject = ?1", p->subject, 0,
                          &c.conversations)))
        return e;
    if ((e = prepare(h,
                     "UPDATE gdpr_pending SET erased = 1, conversations = ?2, messages = ?3, "
                     "pseudonyms = ?4 WHERE id = ?1",
                     &st)))
        return e;
    sqlite3_bind_int64(st, 1, p->id);
    sqlite3_bind_int64(st, 2, c.conversations);
    sqlite3_bind_int64(st, 3, c.messages);
    sqlite3_bind_int64(st, 4, c.pseudonyms);
    if ((e = run(h, st)))
        return e;
    p->erased = true;
    p->counts = c;
    return LAIR_OK;
}

enum lair_err gdpr_store_erase(struct tenant_db *db, struct gdpr_pending *p)
{
    if (!p->subject[0])
        return LAIR_EINVAL;
    struct gdpr_pending work = *p;
    enum lair_err e = tenant_db_tx(db, erase_tx, &work);
    if (!e)
        *p = work;
    return e;
}

static enum lair_err pending_done_tx(sqlite3 *h, void *arg)
{
    const int64_t *id = arg;
    sqlite3_stmt *st;
    enum lair_err e = prepare(h, "DELETE FROM gdpr_pending WHERE id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, *id);
    if ((e = run(h, st)))
        return e;
    return mark_scrub(h);
}

enum lair_err gdpr_store_pending_done(struct tenant_db *db, int64_t id)
{
    return tenant_db_tx(db, pending_done_tx, &id);
}

/* ---- retention ---- */

#define OF_RULE "(SELECT id FROM conversations WHERE assistant = ?1 AND updated_at < ?2)"
/* ?1 is a JSON array of the assistants that have their own rule */
#define OF_DEFAULT                                                                                 \
    "(SELECT id FROM conversations WHERE updated_at < ?2 AND assistant NOT IN "                    \
    "(SELECT value FROM json_each(?1)))"

/* The three deletions of one selection of conversations: messages,
 * pseudonyms, then the conversations themselves. */
static const char *const purge_rule_sql[3] = {
    "DELETE FROM messages WHERE conversation_id IN " OF_RULE,
    "DELETE FROM pseudonyms WHERE conversation_id IN " OF_RULE,
    "DELETE FROM conversations WHERE id IN " OF_RULE,
};
static const char *const purge_default_sql[3] = {
    "DELETE FROM messages WHERE conversation_id IN " OF_DEFAULT,
    "DELETE FROM pseudonyms WHERE conversation_id IN " OF_DEFAULT,
    "DELETE FROM conversations WHERE id IN " OF_DEFAULT,
};

static enum lair_err purge_set(sqlite3 *h, const char *const sql[3], const char *text,
                               int64_t cutoff, struct gdpr_counts *c)
{
    enum lair_err e;
    if ((e = delete_count(h, sql[0], text, cutoff, &c->messages)) ||
        (e = delete_count(h, sql[1], text, cutoff, &c->pseudonyms)))
        return e;
    return delete_count(h, sql[2], text, cutoff, &c->conversations);
}

struct purge {
    const struct gdpr_rule *rules;
    size_t n;
    int64_t default_cutoff, orphan_cutoff;
    const char *excluded; /* JSON array of the rules' assistants */
    struct gdpr_counts counts;
};

static enum lair_err purge_tx(sqlite3 *h, void *arg)
{
    struct purge *p = arg;
    memset(&p->counts, 0, sizeof(p->counts));
    enum lair_err e = LAIR_OK;
    for (size_t i = 0; i < p->n && !e; i++)
        if (p->rules[i].cutoff > 0)
            e = purge_set(h, purge_rule_sql, p->rules[i].assistant, p->rules[i].cutoff, &p->counts);
    if (!e && p->default_cutoff > 0)
        e = purge_set(h, purge_default_sql, p->excluded, p->default_cutoff, &p->counts);
    if (!e && p->orphan_cutoff > 0)
        e = delete_count(h,
                         "DELETE FROM pseudonyms WHERE created_at < ?2 AND NOT EXISTS "
                         "(SELECT 1 FROM conversations c WHERE c.id = pseudonyms.conversation_id)",
                         NULL, p->orphan_cutoff, &p->counts.pseudonyms);
    if (!e && (p->counts.conversations || p->counts.messages || p->counts.pseudonyms))
        e = mark_scrub(h);
    return e;
}

enum lair_err gdpr_store_purge(struct tenant_db *db, const struct gdpr_rule *rules, size_t n,
                               int64_t default_cutoff, int64_t orphan_cutoff,
                               struct gdpr_counts *out)
{
    memset(out, 0, sizeof(*out));
    json_t *names = json_array();
    for (size_t i = 0; names && i < n; i++)
        if (json_array_append_new(names, json_string(rules[i].assistant))) {
            json_decref(names);
            names = NULL;
        }
    char *excluded = names ? json_dumps(names, JSON_COMPACT) : NULL;
    json_decref(names);
    if (!excluded)
        return LAIR_ENOMEM;
    struct purge p = {rules, n, default_cutoff, orphan_cutoff, excluded, {0}};
    enum lair_err e = tenant_db_tx(db, purge_tx, &p);
    free(excluded);
    if (!e)
        *out = p.counts;
    return e;
}

/* ---- scrub ---- */

enum lair_err gdpr_store_scrub_needed(struct tenant_db *db, bool *out)
{
    *out = false;
    sqlite3_stmt *st;
    enum lair_err e = prepare(tenant_db_handle(db),
                              "SELECT value FROM settings WHERE key = '" SCRUB_KEY "'", &st);
    if (e)
        return e;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = strcmp(col_text(st, 0), "1") == 0;
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

/* True when a statement of the connection is between its first step and its
 * reset: VACUUM refuses to run then. Called holding the connection's mutex. */
static bool statement_running(sqlite3 *h)
{
    for (sqlite3_stmt *st = sqlite3_next_stmt(h, NULL); st; st = sqlite3_next_stmt(h, st))
        if (sqlite3_stmt_busy(st))
            return true;
    return !sqlite3_get_autocommit(h);
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

#define SCRUB_TRIES 500 /* 10 ms apart: another thread's read finishes well within 5 s */

static enum lair_err vacuum(sqlite3 *h)
{
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    for (int i = 0; i < SCRUB_TRIES; i++) {
        sqlite3_mutex_enter(m);
        if (statement_running(h)) {
            sqlite3_mutex_leave(m);
            pause_ms(10);
            continue;
        }
        int rc = sqlite3_exec(h, "VACUUM", NULL, NULL, NULL);
        enum lair_err e = db_err(h, rc);
        if (rc != SQLITE_OK)
            log_warn("gdpr", "scrub: VACUUM: %s", sqlite3_errmsg(h));
        sqlite3_mutex_leave(m);
        if (rc == SQLITE_OK)
            return LAIR_OK;
        if (rc != SQLITE_BUSY && rc != SQLITE_LOCKED)
            return e; /* LAIR_ESTORAGE: the copy VACUUM writes needs room */
        pause_ms(10);
    }
    return LAIR_EBUSY;
}

/* Copies the log into the file and truncates it to zero bytes. */
static enum lair_err truncate_log(sqlite3 *h)
{
    int n_log = -1, n_done = -1;
    int rc = sqlite3_wal_checkpoint_v2(h, NULL, SQLITE_CHECKPOINT_TRUNCATE, &n_log, &n_done);
    if (rc == SQLITE_OK)
        return LAIR_OK;
    log_warn("gdpr", "scrub: checkpoint deferred: %s", sqlite3_errstr(rc));
    return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? LAIR_EBUSY : db_err(h, rc);
}

enum lair_err gdpr_store_scrub(struct tenant_db *db)
{
    sqlite3 *h = tenant_db_handle(db);
    enum lair_err e;
    if ((e = vacuum(h)) || (e = truncate_log(h)))
        return e;
    /* the mark's removal is one more frame in the log, of a clean page */
    if ((e = exec(h, "DELETE FROM settings WHERE key = '" SCRUB_KEY "'")))
        return e;
    truncate_log(h);
    return LAIR_OK;
}

/* ---- pseudonyms of a conversation ---- */

struct ps_update {
    const char *conversation_id, *subject;
    enum lair_err (*load)(void *ctx, const struct gdpr_pseudonym *p);
    enum lair_err (*work)(void *ctx, const struct gdpr_pseudonym **add, size_t *n);
    void *ctx;
};

static enum lair_err ps_update_tx(sqlite3 *h, void *arg)
{
    struct ps_update *u = arg;
    sqlite3_stmt *st;
    enum lair_err e = prepare(h,
                              "SELECT conversation_id, type, n, value FROM pseudonyms "
                              "WHERE conversation_id = ?1 ORDER BY type, n",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, u->conversation_id, -1, SQLITE_STATIC);
    struct gdpr_visitor v = {.pseudonym = u->load, .ctx = u->ctx};
    e = visit_pseudonyms(st, &v);
    sqlite3_finalize(st);
    const struct gdpr_pseudonym *add = NULL;
    size_t n = 0;
    if (e || (e = u->work(u->ctx, &add, &n)) || n == 0)
        return e;
    if ((e = prepare(h,
                     "INSERT INTO pseudonyms(conversation_id, subject, type, n, value, created_at) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     &st)))
        return e;
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n && !e; i++) {
        sqlite3_bind_text(st, 1, u->conversation_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, u->subject, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, add[i].type, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, add[i].n);
        sqlite3_bind_text(st, 5, add[i].value.ptr, (int)add[i].value.len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 6, now);
        int rc = sqlite3_step(st);
        if (rc != SQLITE_DONE) {
            e = rc == SQLITE_ROW ? LAIR_EDB : db_err(h, rc);
            log_error("gdpr", "pseudonyms: %s", sqlite3_errmsg(h));
        }
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return e;
}

enum lair_err gdpr_store_pseudonyms_update(
    struct tenant_db *db, const char *conversation_id, const char *subject,
    enum lair_err (*load)(void *ctx, const struct gdpr_pseudonym *p),
    enum lair_err (*work)(void *ctx, const struct gdpr_pseudonym **add, size_t *n), void *ctx)
{
    struct ps_update u = {conversation_id, subject ? subject : "", load, work, ctx};
    return tenant_db_tx(db, ps_update_tx, &u);
}

static enum lair_err discard_tx(sqlite3 *h, void *arg)
{
    int64_t changed = 0;
    sqlite3_stmt *st;
    enum lair_err e = prepare(h,
                              "DELETE FROM pseudonyms WHERE conversation_id = ?1 AND NOT EXISTS "
                              "(SELECT 1 FROM conversations WHERE id = ?1)",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if ((e = run(h, st)))
        return e;
    changed = sqlite3_changes64(h);
    return changed ? mark_scrub(h) : LAIR_OK;
}

enum lair_err gdpr_store_pseudonyms_discard(struct tenant_db *db, const char *conversation_id)
{
    return tenant_db_tx(db, discard_tx, (void *)conversation_id);
}

enum lair_err gdpr_store_pseudonyms_list(struct tenant_db *db, const char *conversation_id,
                                         enum lair_err (*fn)(void *ctx,
                                                             const struct gdpr_pseudonym *p),
                                         void *ctx)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = prepare(h,
                              "SELECT conversation_id, type, n, value FROM pseudonyms "
                              "WHERE conversation_id = ?1 ORDER BY type, n",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, conversation_id, -1, SQLITE_STATIC);
    /* hold the connection so that sqlite3_errmsg and the rows are ours */
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    struct gdpr_visitor v = {.pseudonym = fn, .ctx = ctx};
    e = visit_pseudonyms(st, &v);
    sqlite3_mutex_leave(m);
    sqlite3_finalize(st);
    return e;
}

/* ---- finding a subject ---- */

enum lair_err gdpr_store_subject_of(struct tenant_db *db, const char *conversation_id,
                                    char *subject, size_t n)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(tenant_db_handle(db),
                              "SELECT subject FROM conversations WHERE id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, conversation_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *v = sqlite3_column_text(st, 0);
        snprintf(subject, n, "%s", v ? (const char *)v : "");
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err gdpr_store_subject_summary(struct tenant_db *db, const char *subject,
                                         struct gdpr_subject_summary *out)
{
    *out = (struct gdpr_subject_summary){0};
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(tenant_db_handle(db),
                "SELECT count(*), coalesce(min(c.created_at), 0), coalesce(max(c.updated_at), 0),"
                " (SELECT count(*) FROM messages m JOIN conversations k ON k.id = m.conversation_id"
                "  WHERE k.subject = ?1)"
                " FROM conversations c WHERE c.subject = ?1",
                &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, subject, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->conversations = sqlite3_column_int64(st, 0);
        out->first_at = sqlite3_column_int64(st, 1);
        out->last_at = sqlite3_column_int64(st, 2);
        out->messages = sqlite3_column_int64(st, 3);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : LAIR_EDB;
}
