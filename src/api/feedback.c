/* Feedback on answers and the tenant's dashboard. See feedback_api.h. */
#include "api/feedback_api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gdpr/pii.h"
#include "store/feedback.h"
#include "core/banned.h"

#define FEEDBACK_LIST_DEFAULT 50
#define FEEDBACK_LIST_MAX 200
#define DASHBOARD_DAYS_DEFAULT 30
#define DASHBOARD_DAYS_MAX 366
#define GAPS_SCANNED 2000 /* gap answers read, newest first */
#define GAPS_SHOWN 50     /* groups answered */
#define GAP_KEY_MAX 256   /* bytes of a grouping key */

static enum lair_err invalid(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

static enum lair_err conversation_not_found(struct http_req *rq)
{
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "conversation_not_found", "conversation not found");
}

/* text with personal data masked, as a JSON string (NULL on failure). */
static json_t *masked(struct str text)
{
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = pii_mask(text, &b);
    struct str s = buf_str(&b);
    json_t *v = e ? NULL : json_stringn(s.ptr, s.len);
    buf_release(&b);
    return v;
}

/* ---- giving feedback ---- */

enum lair_err api_feedback_check(struct http_req *rq, json_t *o, bool with_conversation)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "message_id") && strcmp(key, "rating") && strcmp(key, "comment") &&
            (!with_conversation || strcmp(key, "conversation_id")))
            return http_fail(rq, LAIR_EUNPROC, arena_strndup(http_arena(rq), key, strlen(key)),
                             "unknown_field", "unknown field '%.64s'", key);
    }
    json_t *c = json_object_get(o, "conversation_id");
    if (with_conversation && !c)
        return http_fail(rq, LAIR_EUNPROC, "conversation_id", "missing_field",
                         "'conversation_id' is required");
    if (with_conversation && !json_is_string(c))
        return invalid(rq, "conversation_id", "'conversation_id' must be a string");
    json_t *r = json_object_get(o, "rating");
    if (!r)
        return http_fail(rq, LAIR_EUNPROC, "rating", "missing_field",
                         "'rating' is required: \"up\" or \"down\"");
    const char *rs = json_string_value(r);
    if (!rs || (strcmp(rs, "up") && strcmp(rs, "down")))
        return invalid(rq, "rating", "'rating' must be \"up\" or \"down\"");
    json_t *m = json_object_get(o, "message_id");
    if (m && !json_is_null(m) && (!json_is_integer(m) || json_integer_value(m) < 1))
        return invalid(rq, "message_id", "'message_id' must be a positive integer");
    json_t *cm = json_object_get(o, "comment");
    if (cm && !json_is_null(cm) &&
        (!json_is_string(cm) || json_string_length(cm) > FEEDBACK_COMMENT_MAX))
        return invalid(rq, "comment", "'comment' must be text of at most 2000 bytes");
    if (cm && json_is_string(cm) && memchr(json_string_value(cm), 0, json_string_length(cm)))
        return invalid(rq, "comment", "'comment' must not contain NUL characters");
    return LAIR_OK;
}

enum lair_err api_feedback_give(struct http_req *rq, struct tenant_db *db, const char *id,
                                json_t *o, const char *key_id, bool with_conversation)
{
    enum lair_err e = api_feedback_check(rq, o, with_conversation);
    if (e)
        return e;
    json_t *m = json_object_get(o, "message_id"), *cm = json_object_get(o, "comment");
    struct feedback_new f = {
        .conversation_id = id,
        .message_id = json_is_integer(m) ? json_integer_value(m) : 0,
        .rating = json_string_value(json_object_get(o, "rating")),
        .comment = json_is_string(cm) ? (struct str){json_string_value(cm), json_string_length(cm)}
                                      : (struct str){"", 0},
        .key_id = key_id};
    int64_t fid = 0, mid = 0;
    e = feedback_put(db, &f, &fid, &mid);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, LAIR_ENOTFOUND, "message_id", "message_not_found",
                         "'message_id' is not an answer of this conversation");
    if (e == LAIR_ECONFLICT)
        return http_fail(rq, LAIR_ECONFLICT, NULL, "nothing_to_rate",
                         "this conversation has no answer to rate yet");
    char target[64];
    snprintf(target, sizeof(target), "conversation:%s", id);
    if (e) {
        api_audit(rq, "feedback.give", target, "error");
        return e;
    }
    /* the rating, never the comment: it may quote a person */
    char detail[32];
    snprintf(detail, sizeof(detail), "rating:%s", f.rating);
    api_audit_detail(rq, "feedback.give", target, detail);
    return api_respond_json(rq, 200,
                            json_pack("{s:I, s:s, s:s, s:I, s:s, s:b}", "id", (json_int_t)fid,
                                      "object", "feedback", "conversation_id", id, "message_id",
                                      (json_int_t)mid, "rating", f.rating, "has_comment",
                                      f.comment.len > 0));
}

enum lair_err api_conversation_feedback(struct http_req *rq)
{
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    struct tenant_db *db;
    struct str id = http_param(rq, 0);
    if ((e = api_feedback_check(rq, o, false)) || (e = api_tenant_db(rq, &db)))
        goto out;
    if (!conv_id_valid(id)) {
        e = conversation_not_found(rq);
        goto out;
    }
    char cid[CONV_ID_LEN + 1];
    snprintf(cid, sizeof(cid), "%.*s", (int)id.len, id.ptr);
    /* only the key that holds the conversation rates its answers */
    const struct principal *p = http_principal(rq);
    struct conv_filter f = {.key_id = p->key_id};
    struct conv_row row;
    e = conv_get(db, cid, &f, &row);
    if (e == LAIR_ENOTFOUND)
        e = conversation_not_found(rq);
    if (!e)
        e = api_feedback_give(rq, db, cid, o, p->key_id, false);
out:
    json_decref(o);
    return e;
}

/* ---- listing feedback ---- */

struct list {
    json_t *data;
    int64_t last;
};

static enum lair_err on_item(void *ctx, const struct feedback_item *it)
{
    struct list *l = ctx;
    json_t *v =
        json_pack("{s:I, s:s, s:s, s:I, s:s, s:s, s:s, s:I}", "id", (json_int_t)it->id, "object",
                  "feedback", "conversation_id", it->conversation_id, "message_id",
                  (json_int_t)it->message_id, "assistant", it->assistant, "key_id", it->key_id,
                  "rating", it->rating, "created_at", (json_int_t)it->created_at);
    if (!v)
        return LAIR_ENOMEM;
    json_object_set_new(v, "comment", masked(it->comment));
    json_object_set_new(v, "question", masked(it->question));
    json_object_set_new(v, "answer", masked(it->answer));
    l->last = it->id;
    return json_array_append_new(l->data, v) ? LAIR_ENOMEM : LAIR_OK;
}

/* ?name= as an integer in [lo, hi], def when absent. */
static enum lair_err int_query(struct http_req *rq, const char *name, long lo, long hi, long def,
                               const char *msg, long *out)
{
    const char *s = http_query(rq, name);
    *out = def;
    if (!s)
        return LAIR_OK;
    char *end;
    long v = strtol(s, &end, 10);
    if (!*s || *end || v < lo || v > hi)
        return invalid(rq, name, msg);
    *out = v;
    return LAIR_OK;
}

enum lair_err api_feedback_list(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    long limit, before;
    if (e ||
        (e = int_query(rq, "limit", 1, FEEDBACK_LIST_MAX, FEEDBACK_LIST_DEFAULT,
                       "'limit' must be an integer from 1 to 200", &limit)) ||
        (e = int_query(rq, "before", 1, INT32_MAX, 0,
                       "'before' must be the id of a listed feedback", &before)))
        return e;
    const char *rating = http_query(rq, "rating");
    if (rating && strcmp(rating, "up") && strcmp(rating, "down"))
        return invalid(rq, "rating", "'rating' must be \"up\" or \"down\"");
    struct list l = {json_array(), 0};
    bool more = false;
    e = feedback_list(db, rating, before, (size_t)limit, on_item, &l, &more);
    if (e) {
        json_decref(l.data);
        return e;
    }
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:o, s:b, s:o}", "object", "list", "data", l.data,
                                      "has_more", more, "last_id",
                                      l.last ? json_integer(l.last) : json_null()));
}

/* ---- dashboard ---- */

struct dash {
    json_t *days;   /* [{day, assistant, conversations, ...}] */
    json_t *totals; /* assistant -> totals */
    json_t *groups; /* question key -> group */
    json_t *order;  /* the groups in the order first met (newest) */
    int64_t n_gaps;
};

static void add_int(json_t *o, const char *k, int64_t n)
{
    json_object_set_new(o, k, json_integer(json_integer_value(json_object_get(o, k)) + n));
}

static enum lair_err on_day(void *ctx, const struct dash_day *d)
{
    struct dash *x = ctx;
    json_t *v =
        json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "day", d->day, "assistant",
                  d->assistant, "conversations", (json_int_t)d->conversations, "answers",
                  (json_int_t)d->answers, "prompt_tokens", (json_int_t)d->prompt_tokens,
                  "completion_tokens", (json_int_t)d->completion_tokens, "tokens",
                  (json_int_t)(d->prompt_tokens + d->completion_tokens), "up", (json_int_t)d->up,
                  "down", (json_int_t)d->down);
    if (!v || json_array_append_new(x->days, v))
        return LAIR_ENOMEM;
    json_t *t = json_object_get(x->totals, d->assistant);
    if (!t) {
        t = json_object();
        if (!t || json_object_set_new(x->totals, d->assistant, t))
            return LAIR_ENOMEM;
    }
    add_int(t, "conversations", d->conversations);
    add_int(t, "answers", d->answers);
    add_int(t, "tokens", d->prompt_tokens + d->completion_tokens);
    add_int(t, "up", d->up);
    add_int(t, "down", d->down);
    return LAIR_OK;
}

/* A gap joins the group of its question's key (dashboard_question_key):
 * the first one met, the newest, gives the group's example question. */
static enum lair_err on_gap(void *ctx, const struct dash_gap *g)
{
    struct dash *x = ctx;
    char key[GAP_KEY_MAX];
    if (!dashboard_question_key(g->question, key, sizeof(key)))
        snprintf(key, sizeof(key), "%s", "?");
    x->n_gaps++;
    json_t *grp = json_object_get(x->groups, key);
    if (!grp) {
        if (json_array_size(x->order) >= GAPS_SHOWN * 4)
            return LAIR_OK; /* enough distinct questions kept */
        grp = json_pack("{s:s, s:o, s:I, s:I, s:I, s:I, s:[]}", "key", key, "question",
                        masked(g->question), "count", (json_int_t)0, "refused", (json_int_t)0,
                        "no_sources", (json_int_t)0, "last_at", (json_int_t)g->created_at,
                        "assistants");
        if (!grp || json_object_set(x->groups, key, grp) || json_array_append_new(x->order, grp))
            return LAIR_ENOMEM;
    }
    add_int(grp, "count", 1);
    add_int(grp, g->kind, 1);
    json_t *as = json_object_get(grp, "assistants");
    size_t i;
    json_t *v;
    json_array_foreach(as, i, v) if (!strcmp(json_string_value(v), g->assistant)) return LAIR_OK;
    return json_array_append_new(as, json_string(g->assistant)) ? LAIR_ENOMEM : LAIR_OK;
}

static int by_count(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "count"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "count"));
    return x < y ? 1 : x > y ? -1 : 0; /* qsort is not stable: ties keep no order */
}

/* The groups, most asked first, at most GAPS_SHOWN. */
static json_t *gap_list(json_t *order)
{
    size_t n = json_array_size(order);
    json_t **g = n ? calloc(n, sizeof(*g)) : NULL;
    json_t *out = json_array();
    if (n && !g)
        return out;
    for (size_t i = 0; i < n; i++)
        g[i] = json_array_get(order, i);
    if (n) /* no gap: no array (qsort wants one) */
        qsort(g, n, sizeof(*g), by_count);
    for (size_t i = 0; i < n && i < GAPS_SHOWN; i++)
        json_array_append(out, g[i]);
    free(g);
    return out;
}

enum lair_err api_dashboard(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    long days;
    if (e || (e = int_query(rq, "days", 1, DASHBOARD_DAYS_MAX, DASHBOARD_DAYS_DEFAULT,
                            "'days' must be an integer from 1 to 366", &days)))
        return e;
    /* from the start of the UTC day days - 1 days ago, so that "7" is the
     * last seven calendar days, today included */
    time_t now = time(NULL);
    int64_t since = (int64_t)(now - now % 86400) - (int64_t)(days - 1) * 86400;
    char from[11];
    conv_usage_day((time_t)since, from);
    struct dash x = {json_array(), json_object(), json_object(), json_array(), 0};
    e = dashboard_days(db, since, on_day, &x);
    if (!e)
        e = dashboard_gaps(db, since, GAPS_SCANNED, on_gap, &x);
    json_t *gaps = e ? NULL : gap_list(x.order);
    json_decref(x.groups);
    json_decref(x.order);
    if (e) {
        json_decref(x.days);
        json_decref(x.totals);
        return e;
    }
    json_t *assistants = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(x.totals, k, v)
    {
        json_object_set_new(v, "assistant", json_string(k));
        json_array_append(assistants, v);
    }
    json_decref(x.totals);
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:i, s:s, s:o, s:o, s:{s:I, s:o}}", "object",
                                      "dashboard", "days", (int)days, "since", from, "assistants",
                                      assistants, "by_day", x.days, "gaps", "answers",
                                      (json_int_t)x.n_gaps, "groups", gaps));
}
