/* Conversations, their messages and daily usage in a tenant's database
 * (tables conversations, messages and usage_daily of the tenant schema in
 * store/tenant.c).
 *
 * A conversation belongs to one assistant (or raw model name), one subject
 * (the pseudonymous end-user id: the OpenAI `user` field, "" when absent) and
 * the API key that created it. Its messages are appended one exchange at a
 * time (the user's turn and the answer) in one transaction, so a crash never
 * leaves a question without its answer. Deleting a conversation deletes its
 * messages (ON DELETE CASCADE).
 *
 * Usage is counted per UTC day ("YYYY-MM-DD") and key id; the tenant's total
 * is kept under the key id "*" (CONV_USAGE_TENANT) in the same transaction.
 *
 * Every function takes a borrowed tenant database (tenants_get /
 * api_tenant_db). Errors: LAIR_EDB for SQLite failures, LAIR_ENOTFOUND as
 * documented, LAIR_ENOMEM when an arena is full. */
#ifndef LAIR_STORE_CONVERSATIONS_H
#define LAIR_STORE_CONVERSATIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "store/system.h"
#include "store/tenant.h"

#define CONV_ID_PREFIX "conv_"
#define CONV_ID_RANDOM 24                /* [a-z0-9] characters after the prefix */
#define CONV_ID_LEN (5 + CONV_ID_RANDOM) /* "conv_" + 24 */
#define CONV_SUBJECT_MAX 256             /* bytes */
#define CONV_ASSISTANT_MAX 128           /* bytes: a slug or a raw model name */
#define CONV_USAGE_TENANT "*"            /* usage_daily key id of the tenant total */
#define CONV_TITLE_MAX 200               /* bytes of a title (PATCH) */
#define CONV_TITLE_AUTO 60               /* characters of a title made from the first question */
#define CONV_QUERY_MAX 200               /* bytes of a search text */

struct conv_row {
    char id[CONV_ID_LEN + 1];
    char assistant[CONV_ASSISTANT_MAX + 1];
    char subject[CONV_SUBJECT_MAX + 1];
    char key_id[KEY_ID_LEN + 1];
    char title[CONV_TITLE_MAX + 1]; /* "" when none: conv_append makes one from the
                                       first question */
    int64_t created_at, updated_at; /* unix seconds */
    int64_t n_messages;             /* filled by conv_get and conv_list */
};

struct conv_message {
    struct str role, content; /* ARENA */
    int64_t created_at;
    int prompt_tokens, completion_tokens, cached_tokens;
    double queue_ms, prompt_ms, gen_ms;
};

/* One exchange to append: the user's turn and the answer. The answer's
 * message carries the exchange's token counts and timings; the user's
 * carries none. */
struct conv_exchange {
    const char *id;                /* the conversation */
    const struct conv_row *create; /* non-NULL: insert this conversation first (same
                                      transaction); its id must equal id */
    struct str user_text, answer_text;
    int prompt_tokens, completion_tokens, cached_tokens;
    double queue_ms, prompt_ms, gen_ms;
    /* What the dashboard reads of the answer (messages.answer_mode and
     * .sources, tenant schema v9): its mode ("generated", "refused",
     * "degraded"; NULL: ""), and, when retrieval ran (grounded), how many
     * sources it had; otherwise sources is stored as NULL. */
    const char *answer_mode;
    bool grounded;
    int sources;
};

/* Who may see what: NULL fields do not filter. */
struct conv_filter {
    const char *key_id;    /* only conversations created by this key */
    const char *subject;   /* only this subject ("" = conversations without one) */
    const char *assistant; /* only this assistant */
    const char *q;         /* only those whose title or one of whose messages contains
                              this text (ASCII letters in any case; at most
                              CONV_QUERY_MAX bytes; "%", "_" and "\\" are literal) */
};

/* A fresh random id: "conv_" + 24 characters of [a-z0-9] (libsodium). */
void conv_new_id(char out[CONV_ID_LEN + 1]);
/* True when s has the shape of a conversation id (cheap check before SQL). */
bool conv_id_valid(struct str s);

/* A title made from a question: white space collapsed to single spaces and
 * trimmed, other control characters dropped, cut to CONV_TITLE_AUTO
 * characters (at a word boundary when one is near, with "…"). Never splits
 * a UTF-8 sequence. OUT: out (NUL-terminated, "" for a blank question). */
void conv_title_from(struct str text, char out[CONV_TITLE_MAX + 1]);

/* Inserts c (id, assistant, subject, key_id; the times are set to now).
 * LAIR_ECONFLICT when the id exists. */
enum lair_err conv_create(struct tenant_db *db, const struct conv_row *c);

/* The conversation id when f lets it through. OUT: *out. LAIR_ENOTFOUND
 * when it does not exist or f filters it out: the two are indistinguishable. */
enum lair_err conv_get(struct tenant_db *db, const char *id, const struct conv_filter *f,
                       struct conv_row *out);

/* The last `last` messages of conversation id in order (oldest first); 0 =
 * all. OUT: *out ARENA (from a), *n. An unknown id gives no messages. */
enum lair_err conv_messages(struct tenant_db *db, const char *id, size_t last, struct arena *a,
                            struct conv_message **out, size_t *n);

/* Appends an exchange (and creates the conversation when x->create) in one
 * transaction, and moves the conversation's updated_at to now.
 * LAIR_ENOTFOUND when the conversation does not exist (e.g. deleted since):
 * nothing is written. */
enum lair_err conv_append(struct tenant_db *db, const struct conv_exchange *x);

/* Conversations that f lets through, newest first (by creation, then by
 * insertion order), at most max of them, starting after the conversation
 * `after` (NULL: from the newest). OUT: out[0..*n), *has_more when more
 * follow. LAIR_ENOTFOUND when `after` is not one f lets through. */
enum lair_err conv_list(struct tenant_db *db, const struct conv_filter *f, const char *after,
                        struct conv_row *out, size_t max, size_t *n, bool *has_more);

/* Deletes the conversation and its messages when f lets it through;
 * LAIR_ENOTFOUND otherwise. */
enum lair_err conv_delete(struct tenant_db *db, const char *id, const struct conv_filter *f);

/* Sets the title of the conversation when f lets it through (updated_at is
 * left alone: renaming is not activity); LAIR_ENOTFOUND otherwise. The
 * caller validates the title. */
enum lair_err conv_rename(struct tenant_db *db, const char *id, const struct conv_filter *f,
                          const char *title);

/* Deletes the conversation's last exchange (its last question and the
 * answer after it), in one transaction that also marks the database for
 * scrubbing (gdpr.scrub), when f lets the conversation through.
 * OUT: *question ARENA (from a): the deleted question's stored text.
 * LAIR_ENOTFOUND when f filters it out; LAIR_ECONFLICT when it does not end
 * with a question and its answer (no messages). */
enum lair_err conv_delete_last(struct tenant_db *db, const char *id, const struct conv_filter *f,
                               struct arena *a, struct str *question);

/* ---- usage ---- */

/* The UTC day of t as "YYYY-MM-DD". */
void conv_usage_day(time_t t, char out[11]);
/* Adds requests and tokens to day's usage of key_id and of the tenant total
 * (CONV_USAGE_TENANT), in one transaction. */
enum lair_err conv_usage_add(struct tenant_db *db, const char *day, const char *key_id,
                             int64_t requests, int64_t tokens);
/* day's usage of key_id (CONV_USAGE_TENANT for the tenant); zeros when
 * nothing was recorded. */
enum lair_err conv_usage_get(struct tenant_db *db, const char *day, const char *key_id,
                             int64_t *requests, int64_t *tokens);

struct conv_usage_day {
    char day[11];
    int64_t requests, tokens;
};
/* key_id's usage (CONV_USAGE_TENANT: the tenant's) on each day from `since`
 * ("YYYY-MM-DD") on, oldest first, at most max days; days without use are
 * absent. */
enum lair_err conv_usage_since(struct tenant_db *db, const char *since, const char *key_id,
                               struct conv_usage_day *out, size_t max, size_t *n);

#endif
