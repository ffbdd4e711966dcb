/* The SQL of the audit log. Both databases carry the same table,
 * audit(seq, ts, actor, action, target, outcome, detail, prev, hash), and the
 * log's sealed head (the checkpoint) as one row of their settings table under
 * the key "audit.head". This file only stores and reads: hashing, sealing and
 * verification live in src/audit/audit.c, which hands the store a callback
 * that fills the new event inside the append transaction.
 *
 * A log lives either in a tenant's database (transactions go through
 * tenant_db_tx) or on a plain connection: system.db through sysdb_handle(),
 * or a connection of one's own (the CLI, tests). A connection shared by
 * threads (SQLITE_OPEN_FULLMUTEX) has its mutex held across each transaction,
 * so that no other thread's statement lands inside it. */
#ifndef LAIR_AUDIT_STORE_H
#define LAIR_AUDIT_STORE_H

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "store/tenant.h"

#define AUDIT_HASH_LEN 32
/* Longest stored checkpoint text, NUL included. */
#define AUDIT_HEAD_MAX 256

/* Where a log lives: tenant when set, else conn. */
struct audit_db {
    struct tenant_db *tenant; /* BORROWED */
    sqlite3 *conn;            /* BORROWED */
    /* BORROWED, NULL unless set: a connection to the log's database with a
     * write transaction its caller holds open (a tenant_db_tx callback's).
     * Appends then run inside that transaction, so that the events commit
     * or roll back with the caller's writes; reads are unchanged. */
    sqlite3 *tx;
};

/* One event. For reads, the strings are BORROWED from the statement and valid
 * only during the callback that receives the row; for an append, from the
 * caller. */
struct audit_row {
    int64_t seq, ts;
    struct str actor, action, target, outcome, detail;
    unsigned char prev[AUDIT_HASH_LEN], hash[AUDIT_HASH_LEN];
    bool malformed; /* read back with a prev or hash that is not 32 bytes */
};

/* The end of the log as an append finds it. */
struct audit_tail {
    int64_t last_seq;                        /* largest seq stored; 0 when empty */
    unsigned char last_hash[AUDIT_HASH_LEN]; /* that event's hash (zeros when empty) */
    bool has_head;                           /* a checkpoint is stored */
    char head[AUDIT_HEAD_MAX];               /* the checkpoint text, verbatim */
};

/* Called inside the append transaction: fills row->seq, prev and hash from
 * tail, and the checkpoint to store in new_head (new_head[0] == 0: leave the
 * stored one as it is). A non-OK return rolls the append back. */
typedef enum lair_err (*audit_seal_fn)(void *ctx, const struct audit_tail *tail,
                                       struct audit_row *row, char new_head[AUDIT_HEAD_MAX]);

/* Appends row atomically: reads the tail, calls seal, inserts the row and
 * stores the new checkpoint, all in one BEGIN IMMEDIATE transaction (or in
 * db.tx's), so that concurrent appends (threads sharing the connection, or
 * other processes) keep the chain whole. LAIR_EDB on a database error,
 * LAIR_ESTORAGE when the disk is full. */
enum lair_err audit_store_append(struct audit_db db, struct audit_row *row, audit_seal_fn seal,
                                 void *ctx);

/* Receives rows; returns false to stop. */
typedef bool (*audit_row_fn)(void *ctx, const struct audit_row *r);

/* Rows with ts >= since and seq > after, in seq order, at most limit. */
enum lair_err audit_store_list(struct audit_db db, int64_t since, int64_t after, int64_t limit,
                               audit_row_fn fn, void *ctx);

/* Rows whose target or detail holds the token "subject:<id>" (tokens are
 * separated by spaces), in seq order. For the GDPR export. */
enum lair_err audit_store_find_subject(struct audit_db db, const char *subject_id, audit_row_fn fn,
                                       void *ctx);

/* ---- verification ---- */

/* A read of the whole log in one transaction (rows and checkpoint agree). */
struct audit_scan;

struct audit_scan_info {
    bool has_head;
    char head[AUDIT_HEAD_MAX];
    int64_t max_seq; /* largest seq stored; 0 when empty */
    int64_t count;   /* rows stored */
};

/* Reads the checkpoint, then hands every row in seq order to row(ctx, scan, r)
 * until it returns false; begin(ctx, scan, info) is called first. Both may
 * call audit_scan_find_hash with the scan they receive. */
enum lair_err audit_store_scan(
    struct audit_db db,
    void (*begin)(void *ctx, struct audit_scan *sc, const struct audit_scan_info *info),
    bool (*row)(void *ctx, struct audit_scan *sc, const struct audit_row *r), void *ctx);
/* During a scan: the seq of a stored event whose hash is h (the smallest if
 * several); false when none. */
bool audit_scan_find_hash(struct audit_scan *sc, const unsigned char h[AUDIT_HASH_LEN],
                          int64_t *seq);

/* ---- the high-water mark ----
 * A tenant's log lives in the tenant's own database file: restoring that
 * file alone from an older copy leaves a shorter chain whose sealed head is
 * valid. So every append to a tenant's log also records its new sealed head
 * in system.db (table audit_marks, one row per log scope, deleted with the
 * tenant's row), after the tenant's transaction has committed, and only
 * forward: the mark never runs ahead of the log and never moves back. The
 * operator's log, kept in system.db itself, has none. */

struct audit_mark {
    bool has;                  /* a mark is recorded */
    int64_t seq;               /* the event it names, as stored beside the text */
    char head[AUDIT_HEAD_MAX]; /* the checkpoint text, verbatim */
};

/* Whether db's log has a place for a mark: a tenant's log opened through
 * tenants_new with a system database. */
bool audit_store_has_marks(struct audit_db db);
/* The mark of the log with this scope. OUT: *m (m->has false when none is
 * recorded, or the log has no place for one). LAIR_EDB on a database error. */
enum lair_err audit_store_mark_get(struct audit_db db, const char *scope, struct audit_mark *m);
/* Records head, the checkpoint of event seq, as the mark of scope, unless
 * the recorded one is already at seq or beyond (appends that finish out of
 * order, in this process or another, never move it back). Does nothing for
 * a log without a place for marks. LAIR_EDB on a database error. */
enum lair_err audit_store_mark_advance(struct audit_db db, const char *scope, int64_t seq,
                                       const char *head);
/* The stored hash of event seq. OUT: *found, hash. */
enum lair_err audit_store_hash_at(struct audit_db db, int64_t seq, bool *found,
                                  unsigned char hash[AUDIT_HASH_LEN]);

#endif
