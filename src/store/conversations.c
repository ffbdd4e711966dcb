/* SQL on the conversations, messages and usage_daily tables of a tenant's
 * database. Every statement is prepared and bound; optional filters are bound
 * as NULL ("?1 IS NULL OR col = ?1") rather than spliced into the text.
 *
 * Listing order is the table's rowid, descending: a new row always takes a
 * rowid above every existing one, so rowid order is creation order, needs no
 * extra index, and never changes (unlike updated_at), which keeps `after`
 * cursors stable while conversations grow. */
#include "store/conversations.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/banned.h"

static const char id_alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

void conv_new_id(char out[CONV_ID_LEN + 1])
{
    memcpy(out, CONV_ID_PREFIX, 5);
    for (size_t i = 0; i < CONV_ID_RANDOM; i++)
        out[5 + i] = id_alphabet[randombytes_uniform(sizeof(id_alphabet) - 1)];
    out[CONV_ID_LEN] = 0;
}

bool conv_id_valid(struct str s)
{
    if (s.len != CONV_ID_LEN || memcmp(s.ptr, CONV_ID_PREFIX, 5) != 0)
        return false;
    for (size_t i = 5; i < s.len; i++)
        if (!memchr(id_alphabet, s.ptr[i], sizeof(id_alphabet) - 1))
            return false;
    return true;
}

static int64_t now_s(void)
{
    return (int64_t)time(NULL);
}

static void copy_text(sqlite3_stmt *st, int col, char *out, size_t n)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, n, "%s", t ? (const char *)t : "");
}

static enum lair_err prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("store", "conversations: %s", sqlite3_errmsg(db));
        return LAIR_EDB;
    }
    return LAIR_OK;
}

/* Binds a C string, or NULL when s is NULL. */
static void bind_opt(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* ---- conversations ---- */

static enum lair_err insert_conv(sqlite3 *db, const struct conv_row *c, int64_t now)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(db,
                              "INSERT INTO conversations(id, assistant, subject, key_id, "
                              "created_at, updated_at, title) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->assistant, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, c->subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, c->key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 5, now);
    sqlite3_bind_text(st, 6, c->title, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return LAIR_ECONFLICT;
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err conv_create(struct tenant_db *db, const struct conv_row *c)
{
    return insert_conv(tenant_db_handle(db), c, now_s());
}

#define CONV_COLS                                                                                  \
    "c.id, c.assistant, c.subject, c.key_id, c.created_at, c.updated_at, "                         \
    "(SELECT count(*) FROM messages m WHERE m.conversation_id = c.id), c.title"
/* ?6: a LIKE pattern (see like_pattern) matched against the title and every
 * message of the conversation; the scan is bounded by the other filters
 * (a user key's own conversations) and by the listing's LIMIT. */
#define CONV_FILTER                                                                                \
    "(?2 IS NULL OR c.key_id = ?2) AND (?3 IS NULL OR c.subject = ?3) AND "                        \
    "(?4 IS NULL OR c.assistant = ?4) AND (?6 IS NULL OR c.title LIKE ?6 ESCAPE '\\' OR "          \
    "EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id AND "                         \
    "m.content LIKE ?6 ESCAPE '\\'))"

static void conv_from_row(sqlite3_stmt *st, struct conv_row *c)
{
    copy_text(st, 0, c->id, sizeof(c->id));
    copy_text(st, 1, c->assistant, sizeof(c->assistant));
    copy_text(st, 2, c->subject, sizeof(c->subject));
    copy_text(st, 3, c->key_id, sizeof(c->key_id));
    c->created_at = sqlite3_column_int64(st, 4);
    c->updated_at = sqlite3_column_int64(st, 5);
    c->n_messages = sqlite3_column_int64(st, 6);
    copy_text(st, 7, c->title, sizeof(c->title));
}

/* "%text%" with LIKE's wildcards and the escape character itself escaped,
 * so that the text is matched literally. */
static void like_pattern(const char *q, char out[2 * CONV_QUERY_MAX + 3])
{
    size_t o = 0;
    out[o++] = '%';
    for (size_t i = 0; q[i] && i < CONV_QUERY_MAX; i++) {
        if (q[i] == '%' || q[i] == '_' || q[i] == '\\')
            out[o++] = '\\';
        out[o++] = q[i];
    }
    out[o++] = '%';
    out[o] = 0;
}

static void bind_filter(sqlite3_stmt *st, const struct conv_filter *f)
{
    bind_opt(st, 2, f ? f->key_id : NULL);
    bind_opt(st, 3, f ? f->subject : NULL);
    bind_opt(st, 4, f ? f->assistant : NULL);
    if (f && f->q) {
        char pat[2 * CONV_QUERY_MAX + 3];
        like_pattern(f->q, pat);
        sqlite3_bind_text(st, 6, pat, -1, SQLITE_TRANSIENT);
    } else {
        sqlite3_bind_null(st, 6);
    }
}

/* ---- titles ---- */

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Bytes of the UTF-8 sequence that starts with c; 0 for a stray byte. */
static size_t seq_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if ((c >> 5) == 6)
        return 2;
    if ((c >> 4) == 14)
        return 3;
    if ((c >> 3) == 30)
        return 4;
    return 0;
}

void conv_title_from(struct str text, char out[CONV_TITLE_MAX + 1])
{
    static const char ellipsis[] = "\xe2\x80\xa6"; /* "…" */
    size_t o = 0, chars = 0, space_at = 0, space_chars = 0;
    bool space = false, cut = false;
    for (size_t i = 0; i < text.len;) {
        unsigned char c = (unsigned char)text.ptr[i];
        size_t n = seq_len(c);
        if (is_blank(c)) {
            space = o > 0;
            i++;
            continue;
        }
        if (!n || c < 0x20 || c == 0x7f || i + n > text.len || !utf8_valid(text.ptr + i, n)) {
            i++; /* a control character or a broken sequence: dropped */
            continue;
        }
        size_t need = n + (space ? 1 : 0);
        if (chars + (space ? 1 : 0) + 1 > CONV_TITLE_AUTO ||
            o + need + sizeof(ellipsis) - 1 > CONV_TITLE_MAX) {
            cut = true;
            break;
        }
        if (space) {
            space_at = o;
            space_chars = chars;
            out[o++] = ' ';
            chars++;
            space = false;
        }
        memcpy(out + o, text.ptr + i, n);
        o += n;
        i += n;
        chars++;
    }
    if (cut) {
        if (space_at && chars - space_chars <= 20) /* the last word whole, not half */
            o = space_at;
        memcpy(out + o, ellipsis, sizeof(ellipsis) - 1);
        o += sizeof(ellipsis) - 1;
    }
    out[o] = 0;
}

enum lair_err conv_get(struct tenant_db *db, const char *id, const struct conv_filter *f,
                       struct conv_row *out)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(tenant_db_handle(db),
                "SELECT " CONV_COLS " FROM conversations c WHERE c.id = ?1 AND " CONV_FILTER, &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bind_filter(st, f);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        conv_from_row(st, out);
        e = LAIR_OK;
    } else {
        e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    }
    sqlite3_finalize(st);
    return e;
}

/* Copies a text column into the arena as a str. */
static enum lair_err column_str(sqlite3_stmt *st, int col, struct arena *a, struct str *out)
{
    const char *t = (const char *)sqlite3_column_text(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    char *p = arena_strndup(a, t ? t : "", t ? n : 0);
    if (!p)
        return LAIR_ENOMEM;
    *out = (struct str){p, t ? n : 0};
    return LAIR_OK;
}

enum lair_err conv_messages(struct tenant_db *db, const char *id, size_t last, struct arena *a,
                            struct conv_message **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    /* the newest `last` by id, handed back oldest first */
    enum lair_err e = prepare(h,
                              "SELECT role, content, created_at, prompt_tokens, "
                              "completion_tokens, cached_tokens, queue_ms, prompt_ms, gen_ms "
                              "FROM (SELECT * FROM messages WHERE conversation_id = ?1 "
                              "ORDER BY id DESC LIMIT ?2) ORDER BY id",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, last ? (sqlite3_int64)last : -1);
    size_t cap = 0;
    struct conv_message *m = NULL;
    int rc = SQLITE_DONE;
    while (!e && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) { /* grow by doubling; the old copy stays in the arena */
            size_t ncap = cap ? cap * 2 : 16;
            struct conv_message *nm = arena_alloc(a, ncap * sizeof(*nm));
            if (!nm) {
                e = LAIR_ENOMEM;
                break;
            }
            if (*n)
                memcpy(nm, m, *n * sizeof(*nm));
            m = nm;
            cap = ncap;
        }
        struct conv_message *x = &m[*n];
        if ((e = column_str(st, 0, a, &x->role)) || (e = column_str(st, 1, a, &x->content)))
            break;
        x->created_at = sqlite3_column_int64(st, 2);
        x->prompt_tokens = sqlite3_column_int(st, 3);
        x->completion_tokens = sqlite3_column_int(st, 4);
        x->cached_tokens = sqlite3_column_int(st, 5);
        x->queue_ms = sqlite3_column_double(st, 6);
        x->prompt_ms = sqlite3_column_double(st, 7);
        x->gen_ms = sqlite3_column_double(st, 8);
        (*n)++;
    }
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    sqlite3_finalize(st);
    if (e)
        *n = 0;
    else
        *out = m;
    return e;
}

static enum lair_err insert_message(sqlite3 *db, const char *id, const char *role, struct str text,
                                    const struct conv_exchange *x, int64_t now)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(db,
                              "INSERT INTO messages(conversation_id, role, content, created_at, "
                              "prompt_tokens, completion_tokens, cached_tokens, queue_ms, "
                              "prompt_ms, gen_ms, answer_mode, sources) "
                              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, role, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, text.len ? text.ptr : "", (int)text.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    sqlite3_bind_int(st, 5, x ? x->prompt_tokens : 0);
    sqlite3_bind_int(st, 6, x ? x->completion_tokens : 0);
    sqlite3_bind_int(st, 7, x ? x->cached_tokens : 0);
    sqlite3_bind_double(st, 8, x ? x->queue_ms : 0);
    sqlite3_bind_double(st, 9, x ? x->prompt_ms : 0);
    sqlite3_bind_double(st, 10, x ? x->gen_ms : 0);
    sqlite3_bind_text(st, 11, x && x->answer_mode ? x->answer_mode : "", -1, SQLITE_STATIC);
    if (x && x->grounded)
        sqlite3_bind_int(st, 12, x->sources);
    else
        sqlite3_bind_null(st, 12);
    e = sqlite3_step(st) == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

static enum lair_err append_tx(sqlite3 *db, void *arg)
{
    const struct conv_exchange *x = arg;
    int64_t now = now_s();
    enum lair_err e;
    if (x->create) {
        struct conv_row c = *x->create;
        if (!c.title[0]) /* titled from its first question, as stored */
            conv_title_from(x->user_text, c.title);
        if ((e = insert_conv(db, &c, now)))
            return e;
    }
    sqlite3_stmt *st;
    if ((e = prepare(db, "UPDATE conversations SET updated_at = ?2 WHERE id = ?1", &st)))
        return e;
    sqlite3_bind_text(st, 1, x->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    if (sqlite3_changes(db) == 0)
        return LAIR_ENOTFOUND;
    if ((e = insert_message(db, x->id, "user", x->user_text, NULL, now)))
        return e;
    return insert_message(db, x->id, "assistant", x->answer_text, x, now);
}

enum lair_err conv_append(struct tenant_db *db, const struct conv_exchange *x)
{
    if (x->create && strcmp(x->create->id, x->id) != 0)
        return LAIR_EINVAL;
    if (x->user_text.len > INT32_MAX || x->answer_text.len > INT32_MAX)
        return LAIR_ETOOBIG;
    return tenant_db_tx(db, append_tx, (void *)x);
}

/* The rowid of `after` when f lets it through. */
static enum lair_err cursor_rowid(sqlite3 *h, const char *after, const struct conv_filter *f,
                                  sqlite3_int64 *out)
{
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(h, "SELECT c.rowid FROM conversations c WHERE c.id = ?1 AND " CONV_FILTER, &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    bind_filter(st, f);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *out = sqlite3_column_int64(st, 0);
    e = rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

enum lair_err conv_list(struct tenant_db *db, const struct conv_filter *f, const char *after,
                        struct conv_row *out, size_t max, size_t *n, bool *has_more)
{
    sqlite3 *h = tenant_db_handle(db);
    *n = 0;
    *has_more = false;
    sqlite3_int64 below = INT64_MAX;
    enum lair_err e;
    if (after && (e = cursor_rowid(h, after, f, &below)))
        return e;
    /* With a subject the subject index finds the rows; without one the
     * table is walked backwards by rowid. Both statements are fixed text. */
    const char *sql = f && f->subject
                          ? "SELECT " CONV_COLS " FROM conversations c WHERE c.subject = ?3 "
                            "AND c.rowid < ?1 AND " CONV_FILTER " ORDER BY c.rowid DESC LIMIT ?5"
                          : "SELECT " CONV_COLS
                            " FROM conversations c WHERE c.rowid < ?1 AND " CONV_FILTER
                            " ORDER BY c.rowid DESC LIMIT ?5";
    sqlite3_stmt *st;
    if ((e = prepare(h, sql, &st)))
        return e;
    sqlite3_bind_int64(st, 1, below);
    bind_filter(st, f);
    sqlite3_bind_int64(st, 5, (sqlite3_int64)max + 1); /* one more tells whether more follow */
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == max) {
            *has_more = true;
            rc = SQLITE_DONE;
            break;
        }
        conv_from_row(st, &out[(*n)++]);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err conv_delete(struct tenant_db *db, const char *id, const struct conv_filter *f)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(h,
                "DELETE FROM conversations WHERE rowid IN (SELECT c.rowid FROM conversations c "
                "WHERE c.id = ?1 AND " CONV_FILTER ")",
                &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bind_filter(st, f);
    /* sqlite3_changes is per connection: hold the connection's mutex so that
     * another thread's statement cannot land between the step and the read. */
    sqlite3_mutex *m = sqlite3_db_mutex(h);
    sqlite3_mutex_enter(m);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(h);
    enum lair_err fail = rc == SQLITE_DONE ? LAIR_OK : db_err(h, rc); /* a full disk: 507 */
    sqlite3_mutex_leave(m);
    sqlite3_finalize(st);
    if (fail)
        return fail;
    return changed ? LAIR_OK : LAIR_ENOTFOUND;
}

enum lair_err conv_rename(struct tenant_db *db, const char *id, const struct conv_filter *f,
                          const char *title)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(h,
                "UPDATE conversations SET title = ?5 WHERE rowid IN (SELECT c.rowid FROM "
                "conversations c WHERE c.id = ?1 AND " CONV_FILTER ")",
                &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    bind_filter(st, f);
    sqlite3_bind_text(st, 5, title, -1, SQLITE_STATIC);
    sqlite3_mutex *m = sqlite3_db_mutex(h); /* as in conv_delete */
    sqlite3_mutex_enter(m);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(h);
    enum lair_err fail = rc == SQLITE_DONE ? LAIR_OK : db_err(h, rc); /* a full disk: 507 */
    sqlite3_mutex_leave(m);
    sqlite3_finalize(st);
    if (fail)
        return fail;
    return changed ? LAIR_OK : LAIR_ENOTFOUND;
}

struct delete_last {
    const char *id;
    const struct conv_filter *f;
    struct arena *a;
    struct str *question;
};

static enum lair_err delete_last_tx(sqlite3 *h, void *arg)
{
    struct delete_last *d = arg;
    sqlite3_stmt *st;
    enum lair_err e =
        prepare(h, "SELECT 1 FROM conversations c WHERE c.id = ?1 AND " CONV_FILTER, &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    bind_filter(st, d->f);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    /* the two newest messages: an exchange is always stored whole */
    if ((e = prepare(h,
                     "SELECT id, role, content FROM messages WHERE conversation_id = ?1 "
                     "ORDER BY id DESC LIMIT 2",
                     &st)))
        return e;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    bool answer = false, question = false;
    sqlite3_int64 from = 0;
    if ((rc = sqlite3_step(st)) == SQLITE_ROW)
        answer = !strcmp((const char *)sqlite3_column_text(st, 1), "assistant");
    if (answer && (rc = sqlite3_step(st)) == SQLITE_ROW &&
        !strcmp((const char *)sqlite3_column_text(st, 1), "user")) {
        question = true;
        from = sqlite3_column_int64(st, 0);
        e = column_str(st, 2, d->a, d->question);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return LAIR_EDB;
    if (e)
        return e;
    if (!question)
        return LAIR_ECONFLICT;
    if ((e = prepare(h, "DELETE FROM messages WHERE conversation_id = ?1 AND id >= ?2", &st)))
        return e;
    sqlite3_bind_text(st, 1, d->id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, from);
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    /* deleted text must not outlive the hour in free pages or the WAL (v4) */
    if ((e = prepare(h, "INSERT OR REPLACE INTO settings(key, value) VALUES ('gdpr.scrub', '1')",
                     &st)))
        return e;
    rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err conv_delete_last(struct tenant_db *db, const char *id, const struct conv_filter *f,
                               struct arena *a, struct str *question)
{
    *question = (struct str){"", 0};
    struct delete_last d = {id, f, a, question};
    return tenant_db_tx(db, delete_last_tx, &d);
}

/* ---- usage ---- */

void conv_usage_day(time_t t, char out[11])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    if (strftime(out, 11, "%Y-%m-%d", &tm) != 10) /* years past 9999 */
        memcpy(out, "9999-12-31", 11);
}

struct usage_add {
    const char *day, *key_id;
    int64_t requests, tokens;
};

static enum lair_err upsert_usage(sqlite3 *db, const struct usage_add *u, const char *key_id)
{
    sqlite3_stmt *st;
    enum lair_err e = prepare(db,
                              "INSERT INTO usage_daily(day, key_id, requests, tokens) "
                              "VALUES (?1, ?2, ?3, ?4) ON CONFLICT(day, key_id) DO UPDATE SET "
                              "requests = requests + excluded.requests, "
                              "tokens = tokens + excluded.tokens",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, u->day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, u->requests);
    sqlite3_bind_int64(st, 4, u->tokens);
    e = sqlite3_step(st) == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
    sqlite3_finalize(st);
    return e;
}

static enum lair_err usage_tx(sqlite3 *db, void *arg)
{
    const struct usage_add *u = arg;
    enum lair_err e = upsert_usage(db, u, u->key_id);
    if (!e && strcmp(u->key_id, CONV_USAGE_TENANT) != 0)
        e = upsert_usage(db, u, CONV_USAGE_TENANT);
    return e;
}

enum lair_err conv_usage_add(struct tenant_db *db, const char *day, const char *key_id,
                             int64_t requests, int64_t tokens)
{
    struct usage_add u = {day, key_id, requests, tokens};
    return tenant_db_tx(db, usage_tx, &u);
}

enum lair_err conv_usage_get(struct tenant_db *db, const char *day, const char *key_id,
                             int64_t *requests, int64_t *tokens)
{
    *requests = *tokens = 0;
    sqlite3_stmt *st;
    enum lair_err e = prepare(tenant_db_handle(db),
                              "SELECT requests, tokens FROM usage_daily WHERE day = ?1 AND "
                              "key_id = ?2",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, day, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *requests = sqlite3_column_int64(st, 0);
        *tokens = sqlite3_column_int64(st, 1);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err conv_usage_since(struct tenant_db *db, const char *since, const char *key_id,
                               struct conv_usage_day *out, size_t max, size_t *n)
{
    *n = 0;
    sqlite3_stmt *st;
    enum lair_err e = prepare(tenant_db_handle(db),
                              "SELECT day, requests, tokens FROM usage_daily WHERE key_id = ?1 "
                              "AND day >= ?2 ORDER BY day LIMIT ?3",
                              &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, since, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *d = sqlite3_column_text(st, 0);
        snprintf(out[*n].day, sizeof(out[*n].day), "%s", d ? (const char *)d : "");
        out[*n].requests = sqlite3_column_int64(st, 1);
        out[*n].tokens = sqlite3_column_int64(st, 2);
        (*n)++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}
