/* The SQL of the GDPR module (src/gdpr/, docs/gdpr.md) on a tenant's
 * database: what is held about a subject (read for an export, deleted for
 * an erasure), retention purges, the journal of pending erasures, the
 * pseudonym mappings of conversations, and the scrub that leaves no copy of
 * deleted rows in the database file or its write-ahead log.
 *
 * Tables (tenant schema v3 in store/tenant.c): pseudonyms(conversation_id,
 * subject, type, n, value, created_at), gdpr_pending(id, subject, token,
 * actor, requested_at, audit_after, erased, counts), and the settings key
 * "gdpr.scrub" ("1" while deleted rows may still have copies in free space
 * or in the log; set here, and by the v4 triggers whenever a conversation or
 * a document is deleted). Conversations and messages are the tables of
 * store/conversations.c; this file only reads and deletes them.
 *
 * Every function takes a borrowed tenant database. Changes run in one
 * transaction each (tenant_db_tx). Errors: LAIR_ESTORAGE when the disk is
 * full (nothing of the failed call is written), LAIR_EDB for other SQLite failures,
 * LAIR_EINVAL for arguments out of shape, errors of callbacks as returned. */
#ifndef LAIR_STORE_GDPR_STORE_H
#define LAIR_STORE_GDPR_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "store/conversations.h"
#include "store/tenant.h"

#define GDPR_TOKEN_MAX 64 /* bytes of an audit token, NUL included */
#define GDPR_ACTOR_MAX 64 /* bytes of an actor (key id, "cli"), NUL included */

/* What a deletion removed. */
struct gdpr_counts {
    int64_t conversations, messages, pseudonyms;
};

/* ---- reading what is held about a subject ---- */

struct gdpr_conv {
    const char *id, *assistant, *key_id; /* BORROWED for the callback */
    int64_t created_at, updated_at;
    const char *title; /* BORROWED; the first question, or what the person renamed it to */
};

struct gdpr_message {
    const char *role; /* BORROWED for the callback */
    struct str content;
    int64_t created_at;
    int prompt_tokens, completion_tokens, cached_tokens;
};

struct gdpr_pseudonym {
    const char *conversation_id; /* BORROWED for the callback */
    const char *type;            /* pii_type_name: "phone", "email"... */
    unsigned n;                  /* the number in [TYPE_n] */
    struct str value;            /* the canonical value */
};

/* A thumbs up or down the subject gave an answer (table feedback, tenant
 * schema v9; store/feedback.h). */
struct gdpr_feedback {
    const char *conversation_id, *rating; /* BORROWED for the callback */
    int64_t message_id, created_at;
    struct str comment;
};

/* Callbacks of gdpr_store_subject_visit; each may be NULL. They run inside
 * a read transaction holding the connection: they must not use db. */
struct gdpr_visitor {
    enum lair_err (*conversation)(void *ctx, const struct gdpr_conv *c);
    enum lair_err (*message)(void *ctx, const struct gdpr_message *m);
    enum lair_err (*pseudonym)(void *ctx, const struct gdpr_pseudonym *p);
    void *ctx;
    enum lair_err (*feedback)(void *ctx, const struct gdpr_feedback *f);
};

/* In one consistent read: each conversation of subject, oldest first,
 * followed by its messages (in order), its feedback and its pseudonyms; then pseudonyms
 * kept for subject whose conversation does not exist (conversation_id is
 * then the id they were stored under). A non-OK callback return stops the
 * walk and is returned. An unknown subject visits nothing. */
enum lair_err gdpr_store_subject_visit(struct tenant_db *db, const char *subject,
                                       const struct gdpr_visitor *v);

/* ---- finding a subject (a person's request quotes a reference) ---- */

struct gdpr_subject_summary {
    int64_t conversations, messages;
    int64_t first_at, last_at; /* of the conversations (0 when none) */
};

/* The subject of the conversation id: LAIR_ENOTFOUND when the tenant has no
 * such conversation. OUT: subject (n bytes; "" when it has none). */
enum lair_err gdpr_store_subject_of(struct tenant_db *db, const char *conversation_id,
                                    char *subject, size_t n);
/* How many conversations and messages subject has, and when. */
enum lair_err gdpr_store_subject_summary(struct tenant_db *db, const char *subject,
                                         struct gdpr_subject_summary *out);

/* ---- erasure journal ---- */

struct gdpr_pending {
    int64_t id;
    char subject[CONV_SUBJECT_MAX + 1];
    char token[GDPR_TOKEN_MAX];
    char actor[GDPR_ACTOR_MAX];
    int64_t requested_at;
    int64_t audit_after; /* largest audit seq when requested: the erasure's event comes after */
    bool erased;         /* the rows are gone (counts tells how many) */
    struct gdpr_counts counts;
};

/* Records that subject is to be erased (durably, before anything is
 * deleted), or finds the erasure already pending for subject. OUT: *out. */
enum lair_err gdpr_store_pending_add(struct tenant_db *db, const char *subject, const char *token,
                                     const char *actor, struct gdpr_pending *out);
/* Pending erasures, oldest first, at most max. OUT: out[0..*n). */
enum lair_err gdpr_store_pending_list(struct tenant_db *db, struct gdpr_pending *out, size_t max,
                                      size_t *n);
/* Whether an erasure of subject is pending, however many others are.
 * OUT: *pending. */
enum lair_err gdpr_store_pending_has(struct tenant_db *db, const char *subject, bool *pending);
/* Deletes, in one transaction, every conversation of p->subject with its
 * messages, feedback (ON DELETE CASCADE) and pseudonyms (and the subject's
 * pseudonyms left without a conversation), and marks p erased with the counts. Nothing happens when p
 * is already erased. OUT: p->erased, p->counts. */
enum lair_err gdpr_store_erase(struct tenant_db *db, struct gdpr_pending *p);
/* Ends pending erasure id: removes its row and, in the same transaction,
 * marks the database for a scrub (the row held the subject's id). */
enum lair_err gdpr_store_pending_done(struct tenant_db *db, int64_t id);

/* ---- retention ---- */

/* Conversations of assistant (slug) last updated before cutoff (unix
 * seconds) are deleted. */
struct gdpr_rule {
    const char *assistant;
    int64_t cutoff;
};

/* In one transaction: for each rule, deletes its assistant's conversations
 * older than its cutoff; when default_cutoff > 0, deletes the other
 * conversations (of assistants without a rule, deleted assistants and raw
 * models) older than it; and deletes pseudonyms without a conversation
 * stored before orphan_cutoff. Messages, feedback and pseudonyms go with
 * their conversations. Marks the database for a scrub when anything was deleted.
 * OUT: *out. */
enum lair_err gdpr_store_purge(struct tenant_db *db, const struct gdpr_rule *rules, size_t n,
                               int64_t default_cutoff, int64_t orphan_cutoff,
                               struct gdpr_counts *out);

/* ---- scrub ---- */

/* True when deleted rows may still have copies in the file or the log. */
enum lair_err gdpr_store_scrub_needed(struct tenant_db *db, bool *out);
/* Leaves no copy of deleted rows: rebuilds the database (VACUUM: secure_delete
 * zeroes freed cells, but a b-tree page rebuilt by a rebalance can keep
 * stale bytes of rows that lived on it, and the free pages and log hold
 * older page images), then checkpoints the write-ahead log into the file
 * and truncates it to zero bytes, then clears the scrub mark. Retries while
 * another thread's statement is running on the connection; LAIR_EBUSY (the
 * mark stays, for a later try) when a reader in another process keeps the
 * log from being truncated, LAIR_ESTORAGE (the mark stays too) when the disk
 * has no room for the copy VACUUM writes. Cost: a rewrite of the whole file,
 * and as much free space. */
enum lair_err gdpr_store_scrub(struct tenant_db *db);

/* ---- pseudonyms of a conversation ---- */

/* In one transaction: hands each stored pseudonym of conversation_id to
 * load, then calls work, which returns the new ones to store (*add[0..*n),
 * BORROWED until work's caller returns), and stores them under subject. So
 * two exchanges of one conversation never number two values alike. */
enum lair_err gdpr_store_pseudonyms_update(
    struct tenant_db *db, const char *conversation_id, const char *subject,
    enum lair_err (*load)(void *ctx, const struct gdpr_pseudonym *p),
    enum lair_err (*work)(void *ctx, const struct gdpr_pseudonym **add, size_t *n), void *ctx);
/* Removes the pseudonyms of conversation_id when that conversation does not
 * exist (its first exchange could not be stored). */
enum lair_err gdpr_store_pseudonyms_discard(struct tenant_db *db, const char *conversation_id);
/* The pseudonyms of conversation_id, by type then number. */
enum lair_err gdpr_store_pseudonyms_list(struct tenant_db *db, const char *conversation_id,
                                         enum lair_err (*fn)(void *ctx,
                                                             const struct gdpr_pseudonym *p),
                                         void *ctx);

#endif
