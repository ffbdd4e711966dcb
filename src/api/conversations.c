/* Conversations: the management endpoints (list and search, get with
 * messages, rename, take back the last exchange, delete),
 * and the HTTP form of the chat pipeline's calls that continue a
 * conversation and record an exchange (api/conversations_api.h; the
 * pipeline's own are in assist/chat_conv.c).
 *
 * Every lookup goes through a filter built from the authenticating key, so a
 * conversation a key may not see answers exactly like one that does not
 * exist: the same 404, the same message. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/conversations_api.h"
#include "core/banned.h"

#define LIST_DEFAULT 20
#define LIST_MAX 100
/* A conversation's messages are gathered in their own arena for GET; this
 * bounds the memory one response may take. */
#define GET_ARENA_CAP ((size_t)64 << 20)

/* The filter that a key's role implies: `user` keys see their own
 * conversations only, editors and admins the whole tenant's. */
static struct conv_filter key_filter(const struct principal *p)
{
    struct conv_filter f = {0};
    if (p->role < ROLE_EDITOR)
        f.key_id = p->key_id;
    return f;
}

static enum lair_err not_found(struct http_req *rq, const char *param)
{
    return http_fail(rq, LAIR_ENOTFOUND, param, "conversation_not_found", "conversation not found");
}

/* ---- the pipeline's calls, in their HTTP form ---- */

enum lair_err api_conversation_begin(struct http_req *rq, struct str id, const char *assistant,
                                     struct str subject, struct api_conversation *out)
{
    struct chat_ctx ctx;
    api_chat_ctx(http_app(rq), &ctx);
    struct chat_conversation c;
    struct chat_error err = {0};
    enum lair_err e = chat_conversation_begin(&ctx, http_principal(rq), id, assistant, subject,
                                              http_arena(rq), &c, &err);
    memset(out, 0, sizeof(*out));
    if (e)
        return api_chat_fail(rq, e, &err);
    memcpy(out->id, c.id, sizeof(out->id));
    memcpy(out->assistant, c.assistant, sizeof(out->assistant));
    memcpy(out->subject, c.subject, sizeof(out->subject));
    out->is_new = c.is_new;
    out->history = c.history;
    out->n_history = c.n_history;
    return LAIR_OK;
}

enum lair_err api_conversation_record_as(struct app *app, const struct principal *p,
                                         const struct api_conversation *c, struct str user_text,
                                         struct str answer_text, const struct llm_result *res)
{
    struct chat_ctx ctx;
    api_chat_ctx(app, &ctx);
    struct chat_conversation cc = {.is_new = c->is_new};
    memcpy(cc.id, c->id, sizeof(cc.id));
    memcpy(cc.assistant, c->assistant, sizeof(cc.assistant));
    memcpy(cc.subject, c->subject, sizeof(cc.subject));
    return chat_conversation_record(&ctx, p, PII_KEEP, &cc, user_text, answer_text, res);
}

enum lair_err api_conversation_record(struct http_req *rq, const struct api_conversation *c,
                                      struct str user_text, struct str answer_text,
                                      const struct llm_result *res)
{
    return api_conversation_record_as(http_app(rq), http_principal(rq), c, user_text, answer_text,
                                      res);
}

/* ---- endpoints ---- */

static json_t *conv_json(const struct conv_row *c)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}", "id", c->id, "object",
                     "conversation", "title", c->title, "assistant", c->assistant, "subject",
                     c->subject, "key_id", c->key_id, "created_at", (json_int_t)c->created_at,
                     "updated_at", (json_int_t)c->updated_at, "message_count",
                     (json_int_t)c->n_messages);
}

static json_t *message_json(const struct conv_message *m)
{
    json_t *v = json_pack("{s:s%, s:s%, s:I}", "role", m->role.ptr, m->role.len, "content",
                          m->content.ptr, m->content.len, "created_at", (json_int_t)m->created_at);
    if (v && str_eq_c(m->role, "assistant")) {
        json_object_set_new(v, "usage",
                            json_pack("{s:i, s:i, s:i, s:{s:i}}", "prompt_tokens", m->prompt_tokens,
                                      "completion_tokens", m->completion_tokens, "total_tokens",
                                      m->prompt_tokens + m->completion_tokens,
                                      "prompt_tokens_details", "cached_tokens", m->cached_tokens));
        json_object_set_new(v, "timings",
                            json_pack("{s:f, s:f, s:f}", "queue_ms", m->queue_ms, "prompt_ms",
                                      m->prompt_ms, "gen_ms", m->gen_ms));
    }
    return v;
}

static enum lair_err invalid_query(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

/* ?limit=: 1 to LIST_MAX, LIST_DEFAULT when absent. */
static enum lair_err parse_limit(struct http_req *rq, size_t *out)
{
    const char *s = http_query(rq, "limit");
    *out = LIST_DEFAULT;
    if (!s)
        return LAIR_OK;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < 1 || v > LIST_MAX)
        return invalid_query(rq, "limit", "'limit' must be an integer from 1 to 100");
    *out = (size_t)v;
    return LAIR_OK;
}

enum lair_err api_conversations_list(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    size_t limit;
    if ((e = parse_limit(rq, &limit)))
        return e;
    struct conv_filter f = key_filter(http_principal(rq));
    const char *subject = http_query(rq, "subject");
    if (subject) {
        size_t len = strlen(subject);
        if (len > CONV_SUBJECT_MAX || !utf8_valid(subject, len))
            return invalid_query(rq, "subject",
                                 "'subject' must be UTF-8 text of at most 256 bytes");
        f.subject = subject;
    }
    /* ?mine=true: the caller's own only, whatever its role (the chat page's
     * list). ?q=: a search in titles and messages, always of the caller's
     * own conversations only: reading others' messages by searching them is
     * not what a chat page is for (an admin answering a person's request
     * has ?subject= and the GDPR export). */
    const char *mine = http_query(rq, "mine");
    if (mine && strcmp(mine, "true") && strcmp(mine, "false"))
        return invalid_query(rq, "mine", "'mine' must be true or false");
    const char *q = http_query(rq, "q");
    if (q && *q) {
        size_t len = strlen(q);
        if (len > CONV_QUERY_MAX || !utf8_valid(q, len))
            return invalid_query(rq, "q", "'q' must be UTF-8 text of at most 200 bytes");
        f.q = q;
    }
    if (f.q || (mine && !strcmp(mine, "true")))
        f.key_id = http_principal(rq)->key_id;
    const char *after = http_query(rq, "after");
    if (after && !conv_id_valid(str_c(after)))
        return invalid_query(rq, "after", "'after' must be the id of a listed conversation");
    struct conv_row *rows = arena_alloc(http_arena(rq), limit * sizeof(*rows));
    if (!rows)
        return LAIR_ENOMEM;
    size_t n = 0;
    bool more = false;
    e = conv_list(db, &f, after, rows, limit, &n, &more);
    if (e == LAIR_ENOTFOUND)
        return invalid_query(rq, "after", "'after' must be the id of a listed conversation");
    if (e)
        return e;
    json_t *data = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(data, conv_json(&rows[i]));
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:o, s:s?, s:s?, s:b}", "object", "list", "data", data,
                                      "first_id", n ? rows[0].id : NULL, "last_id",
                                      n ? rows[n - 1].id : NULL, "has_more", more));
}

/* The path's conversation, when the key may see it; else a 404. */
static enum lair_err find(struct http_req *rq, struct tenant_db **db, struct conv_row *row)
{
    enum lair_err e = api_tenant_db(rq, db);
    if (e)
        return e;
    struct str id = http_param(rq, 0);
    if (!conv_id_valid(id))
        return not_found(rq, NULL);
    char cid[CONV_ID_LEN + 1];
    snprintf(cid, sizeof(cid), "%.*s", (int)id.len, id.ptr);
    struct conv_filter f = key_filter(http_principal(rq));
    e = conv_get(*db, cid, &f, row);
    return e == LAIR_ENOTFOUND ? not_found(rq, NULL) : e;
}

enum lair_err api_conversation_get(struct http_req *rq)
{
    struct tenant_db *db;
    struct conv_row row;
    enum lair_err e = find(rq, &db, &row);
    if (e)
        return e;
    struct arena a;
    arena_init(&a, GET_ARENA_CAP);
    struct conv_message *m;
    size_t n;
    e = conv_messages(db, row.id, 0, &a, &m, &n);
    if (e == LAIR_ENOMEM)
        e = http_fail(rq, LAIR_ETOOBIG, NULL, "conversation_too_large",
                      "this conversation is too large to return at once");
    if (!e) {
        json_t *v = conv_json(&row), *msgs = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(msgs, message_json(&m[i]));
        arena_release(&a);
        if (v)
            json_object_set_new(v, "messages", msgs);
        else
            json_decref(msgs);
        return api_respond_json(rq, 200, v);
    }
    arena_release(&a);
    return e;
}

enum lair_err api_conversation_delete(struct http_req *rq)
{
    struct tenant_db *db;
    struct conv_row row;
    enum lair_err e = find(rq, &db, &row);
    if (e)
        return e;
    struct conv_filter f = key_filter(http_principal(rq));
    e = conv_delete(db, row.id, &f);
    if (e == LAIR_ENOTFOUND) /* deleted by someone else meanwhile */
        return not_found(rq, NULL);
    if (e)
        return e;
    char target[64];
    snprintf(target, sizeof(target), "conversation:%s", row.id);
    api_audit(rq, "conversation.delete", target, "ok");
    return api_respond_json(
        rq, 200,
        json_pack("{s:s, s:s, s:b}", "id", row.id, "object", "conversation.deleted", "deleted", 1));
}

/* A title as PATCH takes it: trimmed of white space at both ends, then 1 to
 * CONV_TITLE_MAX bytes of UTF-8 (jansson checked it) on one line. OUT: out. */
static bool title_valid(const char *s, size_t len, char out[CONV_TITLE_MAX + 1])
{
    while (len && (*s == ' ' || *s == '\t'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (!len || len > CONV_TITLE_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    memcpy(out, s, len);
    out[len] = 0;
    return true;
}

/* PATCH /api/v1/conversations/{id} {"title"}: renames a conversation the key
 * may see (its own for a user key). */
enum lair_err api_conversation_patch(struct http_req *rq)
{
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "title")) {
            e = http_fail(rq, LAIR_EUNPROC, key, "unknown_field",
                          "unknown field '%.64s' (a conversation's only changeable field is "
                          "'title')",
                          key);
            goto out;
        }
    }
    json_t *tv = json_object_get(o, "title");
    char title[CONV_TITLE_MAX + 1];
    if (!tv) {
        e = http_fail(rq, LAIR_EUNPROC, "title", "missing_field", "'title' is required");
        goto out;
    }
    if (!json_is_string(tv) || !title_valid(json_string_value(tv), json_string_length(tv), title)) {
        e = http_fail(rq, LAIR_EUNPROC, "title", "invalid_title",
                      "'title' must be text of 1 to %d bytes on one line", CONV_TITLE_MAX);
        goto out;
    }
    struct tenant_db *db;
    struct conv_row row;
    if ((e = find(rq, &db, &row)))
        goto out;
    struct conv_filter f = key_filter(http_principal(rq));
    char target[64];
    snprintf(target, sizeof(target), "conversation:%s", row.id);
    e = conv_rename(db, row.id, &f, title);
    if (e == LAIR_ENOTFOUND) { /* deleted meanwhile */
        e = not_found(rq, NULL);
        goto out;
    }
    if (e) {
        api_audit(rq, "conversation.rename", target, "error");
        goto out;
    }
    /* the title itself stays out of the audit log: it may quote a person */
    api_audit(rq, "conversation.rename", target, "ok");
    snprintf(row.title, sizeof(row.title), "%s", title);
    e = api_respond_json(rq, 200, conv_json(&row));
out:
    json_decref(o);
    return e;
}

/* DELETE /api/v1/conversations/{id}/last-exchange: takes back the last
 * question and its answer, so that the question can be asked again in its
 * place (the chat page's "regenerate"); answers the question's text. */
enum lair_err api_conversation_delete_last(struct http_req *rq)
{
    struct tenant_db *db;
    struct conv_row row;
    enum lair_err e = find(rq, &db, &row);
    if (e)
        return e;
    struct conv_filter f = key_filter(http_principal(rq));
    struct str question;
    e = conv_delete_last(db, row.id, &f, http_arena(rq), &question);
    if (e == LAIR_ENOTFOUND)
        return not_found(rq, NULL);
    if (e == LAIR_ECONFLICT)
        return http_fail(rq, LAIR_ECONFLICT, NULL, "conversation_empty",
                         "this conversation has no question and answer to take back");
    char target[64];
    snprintf(target, sizeof(target), "conversation:%s", row.id);
    api_audit(rq, "conversation.exchange.delete", target, e ? "error" : "ok");
    if (e)
        return e;
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:s, s:b, s:s%}", "id", row.id, "object",
                                      "conversation.exchange.deleted", "deleted", 1, "question",
                                      question.ptr, question.len));
}
