/* The tamper-evident audit log: who did what to what, when, and how it
 * ended. Each tenant has its log in its database; the operator's (tenant
 * management, operator keys, failed authentications) is in system.db.
 *
 * Chain. Event n is stored with prev = hash(n-1) (32 zero bytes for the
 * first) and hash(n) = BLAKE2b-256 over an unambiguous encoding of its fields:
 *   "LibreAIr audit event v1\0" || be64(ts) || lp(actor) || lp(action)
 *   || lp(target) || lp(outcome) || lp(detail) || prev || be64(seq)
 * where lp(x) = be32(length) || bytes. Changing, removing, adding or moving
 * an event breaks the chain where it happened.
 *
 * Head. Removing the last events leaves a valid, shorter chain; so each
 * append also stores a checkpoint "v1 <seq> <hash> <mac>" of the new head,
 * MACed with a key derived from DATA/pepper and bound to the log's scope
 * ("system" or "tenant:<slug>"). Someone who can write the database but does
 * not hold the pepper can neither truncate the log nor rebuild the chain
 * without verification saying so.
 *
 * High-water mark. Restoring a tenant's database file from an older copy
 * brings back an older head that is still valid. So each append to a
 * tenant's log also records the new head in system.db (audit_store.h), and
 * verification reports a log that ends before that mark, or holds another
 * event at its seq (AUDIT_ROLLED_BACK). Restoring system.db along with it,
 * or removing the mark, is not detected on the machine: see docs/audit.md
 * for what this proves and what it does not.
 *
 * Content. Fields are identifiers (key ids, slugs, route names, statuses),
 * never message or document text or secrets. Appends clean every field:
 * bounded length (cut on a character boundary), valid UTF-8, no control
 * characters, and anything shaped like an API key has its secret replaced
 * by "***". */
#ifndef LAIR_AUDIT_H
#define LAIR_AUDIT_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/audit_store.h"
#include "store/system.h"
#include "store/tenant.h"

#define AUDIT_KEY_LEN 32
/* Field limits in bytes (longer values are cut). */
#define AUDIT_ACTOR_MAX 64
#define AUDIT_ACTION_MAX 64
#define AUDIT_TARGET_MAX 256
#define AUDIT_OUTCOME_MAX 32
#define AUDIT_DETAIL_MAX 512

/* What happened. NULL fields are stored as "". */
struct audit_event {
    int64_t ts;          /* unix time; 0 = now */
    const char *actor;   /* key id, "anonymous", "cli" */
    const char *action;  /* "key.create", "access.denied", ... */
    const char *target;  /* "key:0123456789ab", "route:keys", ... */
    const char *outcome; /* "ok", "403", ... */
    const char *detail;  /* space-separated tokens, e.g. "method:DELETE" */
};

/* One log: where it lives, its scope and the checkpoint key. Plain value:
 * fill with audit_log_tenant/_system/_conn, wipe with audit_log_release. */
struct audit_log {
    struct audit_db db;
    char scope[96];
    unsigned char key[AUDIT_KEY_LEN];
};

/* Derives the checkpoint key from DATA/pepper. LAIR_EIO when unreadable. */
enum lair_err audit_key_load(const char *data_dir, unsigned char key[AUDIT_KEY_LEN]);

/* The log of a tenant (BORROWED db), of the operator (system.db), or on a
 * connection of one's own with the scope its checkpoint is bound to. */
void audit_log_tenant(struct audit_log *l, struct tenant_db *db,
                      const unsigned char key[AUDIT_KEY_LEN]);
void audit_log_system(struct audit_log *l, struct sysdb *sys,
                      const unsigned char key[AUDIT_KEY_LEN]);
void audit_log_conn(struct audit_log *l, sqlite3 *db, const char *scope,
                    const unsigned char key[AUDIT_KEY_LEN]);
/* Wipes the key. */
void audit_log_release(struct audit_log *l);

/* Appends an event (fields cleaned as described above). OUT: *seq, the
 * event's number (may be NULL). Safe from many threads at once. Every
 * failure is logged and counted (audit_failures). */
enum lair_err audit_append(struct audit_log *l, const struct audit_event *ev, int64_t *seq);

/* One-shot append for commands: loads the key from data_dir and appends to
 * the tenant's log when tdb is set, else to the operator's. */
enum lair_err audit_record(const char *data_dir, struct sysdb *sys, struct tenant_db *tdb,
                           const struct audit_event *ev);

/* Hands l's current sealed head (when valid) to the head writer
 * (headexport.h): the server writes every chain's head once at start. */
void audit_head_export_current(struct audit_log *l);

/* Appends that failed since the process started (for /metrics). */
uint64_t audit_failures(void);
/* Counts a failure that happened before an append could be tried (no key,
 * no database); the caller logs it. */
void audit_failure_count(void);

/* Unix time from "1717171717", "2024-05-31", "2024-05-31T12:00",
 * "2024-05-31T12:00:00Z", "2024-05-31T14:00:00+02:00" (no zone: UTC). */
bool audit_parse_time(const char *s, int64_t *out);
/* "2024-05-31T12:00:00Z" into out. */
void audit_format_time(int64_t t, char out[32]);

/* ---- verification ---- */

enum audit_reason {
    AUDIT_INTACT,
    AUDIT_MODIFIED,    /* an event's content no longer matches its hash */
    AUDIT_DELETED,     /* events are missing before the break */
    AUDIT_INSERTED,    /* events that are not part of the chain were added */
    AUDIT_REORDERED,   /* genuine events were moved to other positions */
    AUDIT_TRUNCATED,   /* the last events were removed */
    AUDIT_REWRITTEN,   /* the chain is consistent but is not the sealed one */
    AUDIT_CHECKPOINT,  /* the sealed head (or the high-water mark) is missing or forged */
    AUDIT_ROLLED_BACK, /* the log ends before, or does not hold, the event its high-water
                          mark in system.db names: restored from an older copy */
};

/* "modified", "deleted", ... ("ok" for AUDIT_INTACT). */
const char *audit_reason_name(enum audit_reason r);

struct audit_report {
    bool ok;
    int64_t events;    /* events in the log */
    int64_t checked;   /* events verified before the break (= events when ok) */
    int64_t broken_at; /* seq where the chain breaks (when !ok) */
    enum audit_reason reason;
    int64_t head_seq; /* the verified head (when ok and events > 0) */
    unsigned char head_hash[AUDIT_HASH_LEN];
    char message[256]; /* one sentence saying what is wrong */
};

/* Walks the log in seq order, checking every hash and link, then the sealed
 * head. LAIR_OK with out->ok false when the log is damaged; an error only
 * when the log could not be read. */
enum lair_err audit_verify(struct audit_log *l, struct audit_report *out);

/* {"ok":true,"events":N,"head":{"seq":N,"hash":HEX}} or
 * {"ok":false,"events_checked":k,"broken_at":seq,"reason":R,"message":M}.
 * OWNED (json_decref); NULL on no memory. */
json_t *audit_report_json(const struct audit_report *r);

/* ---- building blocks (exposed for tests and tools) ---- */

/* hash(r) as if r were stored at seq (its fields and prev as they are). */
void audit_hash(const struct audit_row *r, int64_t seq, unsigned char out[AUDIT_HASH_LEN]);
/* The checkpoint text that an append seals for event seq with hash, under
 * l's scope and key ("v1 <seq> <hash> <mac>"). For a tenant import
 * (src/ops/move.c), which seals a moved log's head again under its new
 * data directory's key and slug once the chain is checked against the
 * head the export carried. */
void audit_head_text(const struct audit_log *l, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], char out[AUDIT_HEAD_MAX]);
/* Cleans in into out (cap bytes, NUL included): valid UTF-8, control
 * characters as '?', API-key secrets as "***", cut on a character boundary.
 * Returns the length written. */
size_t audit_clean(struct str in, char *out, size_t cap);

#endif
