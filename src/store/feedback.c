/* Feedback on answers and the dashboard's aggregates. See feedback.h. */
#include "store/feedback.h"

#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <utf8proc.h>

#include "core/log.h"
#include "core/banned.h"

static enum lair_err prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("store", "feedback: %s", sqlite3_errmsg(db));
        return LAIR_EDB;
    }
    return LAIR_OK;
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

/* ---- feedback ---- */

struct put {
    const struct feedback_new *f;
    int64_t id, message_id;
};

/* The answer f names, or the conversation's last one. */
static enum lair_err find_answer(sqlite3 *h, struct put *p)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(
        h,
        p->f->message_id > 0 ? "SELECT id FROM messages WHERE conversation_id = ?1 AND id = ?2 "
                               "AND role = 'assistant'"
                             : "SELECT max(id) FROM messages WHERE conversation_id = ?1 "
                               "AND role = 'assistant'",
        &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, p->f->conversation_id, -1, SQLITE_STATIC);
    if (p->f->message_id > 0)
        sqlite3_bind_int64(st, 2, p->f->message_id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        p->message_id = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_ROW || rc == SQLITE_DONE)
        e = p->f->message_id > 0 ? LAIR_ENOTFOUND : LAIR_ECONFLICT;
    else
        e = LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

static enum lair_err put_tx(sqlite3 *h, void *arg)
{
    struct put *p = arg;
    enum lair_err e = find_answer(h, p);
    if (e)
        return e;
    sqlite3_stmt *st;
    if ((e = prepare(h,
                     "INSERT INTO feedback(conversation_id, message_id, rating, comment, key_id, "
                     "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(message_id) DO "
                     "UPDATE SET rating = excluded.rating, comment = excluded.comment, "
                     "key_id = excluded.key_id, created_at = excluded.created_at RETURNING id",
                     &st)))
        return e;
    const struct feedback_new *f = p->f;
    sqlite3_bind_text(st, 1, f->conversation_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, p->message_id);
    sqlite3_bind_text(st, 3, f->rating, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, f->comment.len ? f->comment.ptr : "", (int)f->comment.len,
                      SQLITE_STATIC);
    sqlite3_bind_text(st, 5, f->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (int64_t)time(NULL));
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        p->id = sqlite3_column_int64(st, 0);
    else
        e = LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

enum lair_err feedback_put(struct tenant_db *db, const struct feedback_new *f, int64_t *id,
                           int64_t *message_id)
{
    if (f->comment.len > FEEDBACK_COMMENT_MAX)
        return LAIR_EINVAL;
    struct put p = {.f = f};
    enum lair_err e = tenant_db_tx(db, put_tx, &p);
    if (!e) {
        *id = p.id;
        *message_id = p.message_id;
    }
    return e;
}

#define ITEM_COLS                                                                                  \
    "SELECT f.id, f.message_id, f.created_at, f.conversation_id, c.assistant, f.key_id, "          \
    "f.rating, f.comment, (SELECT u.content FROM messages u WHERE u.conversation_id = "            \
    "f.conversation_id AND u.id < f.message_id AND u.role = 'user' ORDER BY u.id DESC LIMIT 1), "  \
    "m.content FROM feedback f JOIN conversations c ON c.id = f.conversation_id "                  \
    "JOIN messages m ON m.id = f.message_id "

static enum lair_err walk_items(sqlite3_stmt *st, size_t max,
                                enum lair_err (*fn)(void *, const struct feedback_item *),
                                void *ctx, bool *has_more)
{
    int rc = SQLITE_DONE;
    enum lair_err e = LAIR_OK;
    size_t n = 0;
    if (has_more)
        *has_more = false;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (max && n == max) {
            if (has_more)
                *has_more = true;
            rc = SQLITE_DONE;
            break;
        }
        struct feedback_item it = {.id = sqlite3_column_int64(st, 0),
                                   .message_id = sqlite3_column_int64(st, 1),
                                   .created_at = sqlite3_column_int64(st, 2),
                                   .conversation_id = col_text(st, 3),
                                   .assistant = col_text(st, 4),
                                   .key_id = col_text(st, 5),
                                   .rating = col_text(st, 6),
                                   .comment = col_str(st, 7),
                                   .question = col_str(st, 8),
                                   .answer = col_str(st, 9)};
        e = fn(ctx, &it);
        n++;
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

enum lair_err feedback_list(struct tenant_db *db, const char *rating, int64_t before, size_t max,
                            enum lair_err (*fn)(void *ctx, const struct feedback_item *it),
                            void *ctx, bool *has_more)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(tenant_db_handle(db),
                              ITEM_COLS "WHERE (?1 IS NULL OR f.rating = ?1) AND (?2 <= 0 OR "
                                        "f.id < ?2) ORDER BY f.id DESC LIMIT ?3",
                              &st);
    if (e)
        return e;
    if (rating)
        sqlite3_bind_text(st, 1, rating, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, before);
    sqlite3_bind_int64(st, 3, (int64_t)max + 1);
    return walk_items(st, max, fn, ctx, has_more);
}

enum lair_err
feedback_of_conversation(struct tenant_db *db, const char *conversation_id,
                         enum lair_err (*fn)(void *ctx, const struct feedback_item *it), void *ctx)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(tenant_db_handle(db), ITEM_COLS "WHERE f.conversation_id = ?1 ORDER BY f.id", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, conversation_id, -1, SQLITE_STATIC);
    return walk_items(st, 0, fn, ctx, NULL);
}

/* ---- dashboard ---- */

enum lair_err dashboard_days(struct tenant_db *db, int64_t since,
                             enum lair_err (*fn)(void *ctx, const struct dash_day *d), void *ctx)
{
    /* answers and feedback, each grouped by assistant and day, then joined:
     * a day may have feedback on older answers and no answer */
    sqlite3_stmt *st;
    enum lair_err e = prepare(
        tenant_db_handle(db),
        "WITH a AS (SELECT c.assistant AS assistant, date(m.created_at, 'unixepoch') AS day, "
        "  count(DISTINCT m.conversation_id) AS convs, count(*) AS answers, "
        "  sum(m.prompt_tokens) AS pt, sum(m.completion_tokens) AS ct "
        "  FROM messages m JOIN conversations c ON c.id = m.conversation_id "
        "  WHERE m.role = 'assistant' AND m.created_at >= ?1 GROUP BY 1, 2), "
        "f AS (SELECT c.assistant AS assistant, date(f.created_at, 'unixepoch') AS day, "
        "  sum(f.rating = 'up') AS up, sum(f.rating = 'down') AS down "
        "  FROM feedback f JOIN conversations c ON c.id = f.conversation_id "
        "  WHERE f.created_at >= ?1 GROUP BY 1, 2), "
        "k AS (SELECT assistant, day FROM a UNION SELECT assistant, day FROM f) "
        "SELECT k.assistant, k.day, coalesce(a.convs, 0), coalesce(a.answers, 0), "
        "  coalesce(a.pt, 0), coalesce(a.ct, 0), coalesce(f.up, 0), coalesce(f.down, 0) "
        "FROM k LEFT JOIN a ON a.assistant = k.assistant AND a.day = k.day "
        "LEFT JOIN f ON f.assistant = k.assistant AND f.day = k.day ORDER BY k.day, k.assistant",
        &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, since);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct dash_day d = {col_text(st, 0),
                             col_text(st, 1),
                             sqlite3_column_int64(st, 2),
                             sqlite3_column_int64(st, 3),
                             sqlite3_column_int64(st, 4),
                             sqlite3_column_int64(st, 5),
                             sqlite3_column_int64(st, 6),
                             sqlite3_column_int64(st, 7)};
        e = fn(ctx, &d);
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

enum lair_err dashboard_gaps(struct tenant_db *db, int64_t since, size_t max,
                             enum lair_err (*fn)(void *ctx, const struct dash_gap *g), void *ctx)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(tenant_db_handle(db),
                "SELECT c.assistant, CASE WHEN m.answer_mode = 'refused' THEN 'refused' "
                "  ELSE 'no_sources' END, m.conversation_id, m.created_at, "
                "  (SELECT u.content FROM messages u WHERE u.conversation_id = m.conversation_id "
                "   AND u.id < m.id AND u.role = 'user' ORDER BY u.id DESC LIMIT 1) "
                "FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "WHERE m.role = 'assistant' AND m.created_at >= ?1 "
                "AND (m.answer_mode = 'refused' OR m.sources = 0) ORDER BY m.id DESC LIMIT ?2",
                &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, since);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct dash_gap g = {col_text(st, 0), col_text(st, 1), col_text(st, 2), col_str(st, 4),
                             sqlite3_column_int64(st, 3)};
        e = fn(ctx, &g);
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

size_t dashboard_question_key(struct str q, char *out, size_t cap)
{
    size_t n = 0;
    if (!cap)
        return 0;
    bool space = false;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)q.ptr;
    utf8proc_ssize_t left = (utf8proc_ssize_t)q.len;
    while (left > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t used = utf8proc_iterate(p, left, &cp);
        if (used <= 0) { /* invalid byte: a separator */
            used = 1;
            cp = ' ';
        }
        p += used;
        left -= used;
        utf8proc_int32_t dec[8];
        int opts = UTF8PROC_DECOMPOSE | UTF8PROC_CASEFOLD | UTF8PROC_STRIPMARK;
        utf8proc_ssize_t nd = utf8proc_decompose_char(cp, dec, 8, (utf8proc_option_t)opts, NULL);
        for (utf8proc_ssize_t i = 0; i < nd && i < 8; i++) {
            utf8proc_category_t c = utf8proc_category(dec[i]);
            bool word = (c >= UTF8PROC_CATEGORY_LU && c <= UTF8PROC_CATEGORY_LO) ||
                        c == UTF8PROC_CATEGORY_ND;
            if (!word) {
                space = n > 0;
                continue;
            }
            utf8proc_uint8_t enc[4];
            utf8proc_ssize_t len = utf8proc_encode_char(dec[i], enc);
            if (n + (space ? 1 : 0) + (size_t)len + 1 > cap) {
                out[n] = 0;
                return n;
            }
            if (space)
                out[n++] = ' ';
            space = false;
            memcpy(out + n, enc, (size_t)len);
            n += (size_t)len;
        }
    }
    out[n] = 0;
    return n;
}
