/* Feedback on answers and the dashboard's aggregates, in a tenant's
 * database (table feedback and columns messages.answer_mode and
 * messages.sources of tenant schema v9, store/tenant.c; docs/web.md,
 * "Dashboard").
 *
 * Feedback is a thumbs up or down that a person gives one answer of a
 * conversation, with an optional comment; one per answer (giving another
 * replaces it). It goes with its answer and its conversation (ON DELETE
 * CASCADE), so erasure, retention and deletion remove it with them.
 *
 * The dashboard reads the stored conversations: what retention has purged
 * is no longer counted. Gaps are the answers that were refused, or given
 * without a source by an assistant with knowledge bases, with the question
 * they answered.
 *
 * Every function takes a borrowed tenant database. Errors: LAIR_EDB for
 * SQLite failures, LAIR_ENOTFOUND / LAIR_ECONFLICT as documented,
 * errors of callbacks as returned. */
#ifndef LAIR_STORE_FEEDBACK_H
#define LAIR_STORE_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "store/conversations.h"
#include "store/tenant.h"

#define FEEDBACK_COMMENT_MAX 2000 /* bytes */

/* A feedback to store: rating "up" or "down" (the caller validates it and
 * the comment). message_id 0: the conversation's last answer. */
struct feedback_new {
    const char *conversation_id;
    int64_t message_id;
    const char *rating;
    struct str comment;
    const char *key_id; /* who gave it ("widget" for the widget) */
};

/* Stores f, replacing an earlier feedback on the same answer.
 * OUT: *id (the feedback's), *message_id (the answer's).
 * LAIR_ENOTFOUND when message_id is not an answer (a message of role
 * "assistant") of the conversation; LAIR_ECONFLICT when message_id is 0 and
 * the conversation has no answer yet. The caller has checked that the
 * conversation exists and may be rated by this caller. */
enum lair_err feedback_put(struct tenant_db *db, const struct feedback_new *f, int64_t *id,
                           int64_t *message_id);

/* One feedback as editors list it. Texts BORROWED for the callback. */
struct feedback_item {
    int64_t id, message_id, created_at;
    const char *conversation_id, *assistant, *key_id, *rating;
    struct str comment, question, answer; /* the answer rated and the question before it */
};

/* Feedback newest first, only rating's when not NULL, only those with id
 * below `before` when it is > 0, at most max (then *has_more says whether
 * more follow). A non-OK callback return stops the walk and is returned. */
enum lair_err feedback_list(struct tenant_db *db, const char *rating, int64_t before, size_t max,
                            enum lair_err (*fn)(void *ctx, const struct feedback_item *it),
                            void *ctx, bool *has_more);

/* The feedback of a conversation, oldest first (for a GDPR export). */
enum lair_err
feedback_of_conversation(struct tenant_db *db, const char *conversation_id,
                         enum lair_err (*fn)(void *ctx, const struct feedback_item *it), void *ctx);

/* ---- dashboard ---- */

/* One assistant's activity on one UTC day ("YYYY-MM-DD"): the
 * conversations with at least one answer that day, the answers, their
 * tokens, and the feedback given that day. */
struct dash_day {
    const char *assistant, *day; /* BORROWED for the callback */
    int64_t conversations, answers, prompt_tokens, completion_tokens;
    int64_t up, down;
};

/* Activity from unix time since on, by day then assistant. */
enum lair_err dashboard_days(struct tenant_db *db, int64_t since,
                             enum lair_err (*fn)(void *ctx, const struct dash_day *d), void *ctx);

/* An answer that shows a gap: refused ("refused"), or given without a
 * source by an assistant whose retrieval ran ("no_sources"). */
struct dash_gap {
    const char *assistant, *kind, *conversation_id; /* BORROWED for the callback */
    struct str question;                            /* the question it answered */
    int64_t created_at;
};

/* Gaps from unix time since on, newest first, at most max. */
enum lair_err dashboard_gaps(struct tenant_db *db, int64_t since, size_t max,
                             enum lair_err (*fn)(void *ctx, const struct dash_gap *g), void *ctx);

/* The key that groups questions asked in different words: case folded,
 * accents removed, every run of characters other than letters and digits
 * made one space, trimmed; "Horaires de la Mairie ?" and "horaires de la
 * mairie" have the same. At most cap - 1 bytes (cut at a character) and a
 * NUL. Returns the length. */
size_t dashboard_question_key(struct str question, char *out, size_t cap);

#endif
