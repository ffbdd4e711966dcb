/* The subject-access export, written as a stream of JSON pieces. */
#include "gdpr/export.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gdpr/policy.h"
#include "gdpr/subject.h"
#include "store/gdpr_store.h"
#include "core/banned.h"

struct exporter {
    gdpr_sink sink;
    void *ctx;
    json_t *conv;     /* the conversation being gathered; written when the next begins */
    json_t *messages; /* BORROWED from conv */
    json_t *pseudonyms;
    json_t *feedback; /* BORROWED from conv */
    json_t *orphans; /* pseudonyms without a conversation */
    int64_t n_conv, n_msg, prompt, completion, cached;
    int64_t c_prompt, c_completion, c_cached;
};

static enum lair_err put(struct exporter *x, const char *s)
{
    return x->sink(x->ctx, s, strlen(s));
}

/* Writes v (taking the reference) as compact JSON. */
static enum lair_err put_json(struct exporter *x, json_t *v)
{
    if (!v)
        return LAIR_ENOMEM;
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    json_decref(v);
    if (!s)
        return LAIR_ENOMEM;
    enum lair_err e = put(x, s);
    free(s);
    return e;
}

static json_t *placeholder(const struct gdpr_pseudonym *p)
{
    char tag[64];
    gdpr_placeholder(p->type, p->n, tag, sizeof(tag));
    return json_string(tag);
}

static json_t *pseudonym_json(const struct gdpr_pseudonym *p)
{
    return json_pack("{s:o, s:s, s:s%}", "placeholder", placeholder(p), "type", p->type, "value",
                     p->value.ptr, p->value.len);
}

/* Writes the conversation gathered so far, with its usage. */
static enum lair_err flush_conv(struct exporter *x)
{
    if (!x->conv)
        return LAIR_OK;
    json_t *c = x->conv;
    x->conv = NULL;
    json_object_set_new(c, "usage",
                        json_pack("{s:I, s:I, s:I}", "prompt_tokens", (json_int_t)x->c_prompt,
                                  "completion_tokens", (json_int_t)x->c_completion, "cached_tokens",
                                  (json_int_t)x->c_cached));
    enum lair_err e = x->n_conv > 1 ? put(x, ",") : LAIR_OK;
    return e ? (json_decref(c), e) : put_json(x, c);
}

static enum lair_err on_conv(void *ctx, const struct gdpr_conv *c)
{
    struct exporter *x = ctx;
    enum lair_err e = flush_conv(x);
    if (e)
        return e;
    x->n_conv++;
    x->c_prompt = x->c_completion = x->c_cached = 0;
    x->messages = json_array();
    x->pseudonyms = json_array();
    x->feedback = json_array();
    x->conv = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o}", "id", c->id, "title",
                        c->title ? c->title : "", "assistant", c->assistant, "key_id", c->key_id,
                        "created_at", (json_int_t)c->created_at, "updated_at",
                        (json_int_t)c->updated_at, "messages", x->messages, "pseudonyms",
                        x->pseudonyms, "feedback", x->feedback);
    return x->conv ? LAIR_OK : LAIR_ENOMEM;
}

static enum lair_err on_message(void *ctx, const struct gdpr_message *m)
{
    struct exporter *x = ctx;
    json_t *v = json_pack("{s:s, s:s%, s:I}", "role", m->role, "content", m->content.ptr,
                          m->content.len, "created_at", (json_int_t)m->created_at);
    if (!v)
        return LAIR_ENOMEM;
    if (!strcmp(m->role, "assistant"))
        json_object_set_new(v, "usage",
                            json_pack("{s:i, s:i, s:i}", "prompt_tokens", m->prompt_tokens,
                                      "completion_tokens", m->completion_tokens, "cached_tokens",
                                      m->cached_tokens));
    x->n_msg++;
    x->prompt += m->prompt_tokens;
    x->completion += m->completion_tokens;
    x->cached += m->cached_tokens;
    x->c_prompt += m->prompt_tokens;
    x->c_completion += m->completion_tokens;
    x->c_cached += m->cached_tokens;
    return json_array_append_new(x->messages, v) ? LAIR_ENOMEM : LAIR_OK;
}

/* The subject's thumbs up or down on an answer, with their comment. */
static enum lair_err on_feedback(void *ctx, const struct gdpr_feedback *f)
{
    struct exporter *x = ctx;
    json_t *v = json_pack("{s:I, s:s, s:s%, s:I}", "message_id", (json_int_t)f->message_id,
                          "rating", f->rating, "comment", f->comment.ptr, f->comment.len,
                          "created_at", (json_int_t)f->created_at);
    if (!v || !x->feedback)
        return json_decref(v), LAIR_ENOMEM;
    return json_array_append_new(x->feedback, v) ? LAIR_ENOMEM : LAIR_OK;
}

static enum lair_err on_pseudonym(void *ctx, const struct gdpr_pseudonym *p)
{
    struct exporter *x = ctx;
    json_t *v = pseudonym_json(p);
    if (!v)
        return LAIR_ENOMEM;
    if (x->conv && !strcmp(p->conversation_id, json_string_value(json_object_get(x->conv, "id"))))
        return json_array_append_new(x->pseudonyms, v) ? LAIR_ENOMEM : LAIR_OK;
    json_object_set_new(v, "conversation_id", json_string(p->conversation_id));
    return json_array_append_new(x->orphans, v) ? LAIR_ENOMEM : LAIR_OK;
}

/* ---- audit events ---- */

struct audit_pick {
    json_t *events; /* by seq, as an object: two searches may find one event */
};

static json_t *field(struct str s)
{
    return json_stringn(s.ptr ? s.ptr : "", s.len);
}

static bool pick_event(void *ctx, const struct audit_row *r)
{
    struct audit_pick *a = ctx;
    char key[24], when[32];
    snprintf(key, sizeof(key), "%020lld", (long long)r->seq); /* sorts as numbers */
    audit_format_time(r->ts, when);
    json_t *v =
        json_pack("{s:I, s:s, s:o, s:o, s:o, s:o, s:o}", "seq", (json_int_t)r->seq, "time", when,
                  "actor", field(r->actor), "action", field(r->action), "target", field(r->target),
                  "outcome", field(r->outcome), "detail", field(r->detail));
    return v && json_object_set_new(a->events, key, v) == 0;
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The events naming the subject by token, or by id where an id can be a
 * token (no space). */
static enum lair_err audit_events(struct tenant_db *db, const char *token, const char *subject,
                                  json_t **out)
{
    struct audit_pick a = {json_object()};
    struct audit_db adb = {.tenant = db};
    if (!a.events)
        return LAIR_ENOMEM;
    enum lair_err e = audit_store_find_subject(adb, token, pick_event, &a);
    if (!e && !strchr(subject, ' ') && strcmp(subject, token) != 0) {
        e = audit_store_find_subject(adb, subject, pick_event, &a);
        if (e == LAIR_EINVAL) /* an id too long to be a token */
            e = LAIR_OK;
    }
    json_t *list = json_array();
    const char **keys = NULL;
    size_t n = json_object_size(a.events), i = 0;
    if (!e && list && n && !(keys = calloc(n, sizeof(*keys))))
        e = LAIR_ENOMEM;
    const char *k;
    json_t *v;
    if (!e && keys) {
        json_object_foreach(a.events, k, v) keys[i++] = k;
        qsort(keys, n, sizeof(*keys), cmp_keys);
        for (i = 0; i < n; i++)
            json_array_append(list, json_object_get(a.events, keys[i]));
    }
    free(keys);
    json_decref(a.events);
    if (e || !list) {
        json_decref(list);
        return e ? e : LAIR_ENOMEM;
    }
    *out = list;
    return LAIR_OK;
}

static enum lair_err write_head(struct exporter *x, struct tenant_db *db, const char *subject,
                                const char *token)
{
    char when[32];
    audit_format_time((int64_t)time(NULL), when);
    json_t *head = json_pack("{s:s, s:s, s:s, s:s, s:s}", "object", "gdpr.export", "tenant",
                             tenant_db_slug(db), "subject", subject, "subject_token", token,
                             "generated_at", when);
    if (!head)
        return LAIR_ENOMEM;
    char *s = json_dumps(head, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(head);
    if (!s)
        return LAIR_ENOMEM;
    s[strlen(s) - 1] = 0; /* open: the lists follow */
    enum lair_err e = put(x, s);
    free(s);
    return e ? e : put(x, ",\"conversations\":[");
}

static enum lair_err write_tail(struct exporter *x, struct tenant_db *db, const char *subject,
                                const char *token)
{
    enum lair_err e;
    json_t *events = NULL;
    bool pending = false;
    if ((e = put(x, "],\"pseudonyms_without_conversation\":")) ||
        (e = put_json(x, json_incref(x->orphans))) || (e = put(x, ",\"usage\":")) ||
        (e = put_json(x, json_pack("{s:I, s:I, s:I, s:I, s:I}", "conversations",
                                   (json_int_t)x->n_conv, "messages", (json_int_t)x->n_msg,
                                   "prompt_tokens", (json_int_t)x->prompt, "completion_tokens",
                                   (json_int_t)x->completion, "cached_tokens",
                                   (json_int_t)x->cached))) ||
        (e = audit_events(db, token, subject, &events)) || (e = put(x, ",\"audit\":")) ||
        (e = put_json(x, events)) || (e = gdpr_store_pending_has(db, subject, &pending)))
        return e;
    return put(x, pending ? ",\"erasure_pending\":true}" : ",\"erasure_pending\":false}");
}

enum lair_err gdpr_export(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                          const char *subject, gdpr_sink sink, void *ctx)
{
    if (!subject || !gdpr_subject_valid(str_c(subject)))
        return LAIR_EINVAL;
    char token[GDPR_TOKEN_MAX];
    gdpr_subject_token(key, tenant_db_slug(db), str_c(subject), token);
    struct exporter x = {.sink = sink, .ctx = ctx, .orphans = json_array()};
    if (!x.orphans)
        return LAIR_ENOMEM;
    struct gdpr_visitor v = {on_conv, on_message, on_pseudonym, &x, on_feedback};
    enum lair_err e = write_head(&x, db, subject, token);
    if (!e)
        e = gdpr_store_subject_visit(db, subject, &v);
    if (!e)
        e = flush_conv(&x);
    if (!e)
        e = write_tail(&x, db, subject, token);
    json_decref(x.conv);
    json_decref(x.orphans);
    return e;
}
