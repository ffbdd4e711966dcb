/* Conversations for the chat pipeline: continuing one (with the
 * visibility rules of docs/roles.md) and storing an exchange as the
 * assistant's PII policy says. See chat.h.
 *
 * A conversation a key may not see answers exactly like one that does not
 * exist: the same 404, the same message. A new conversation is created by
 * its first stored exchange, so a generation that fails leaves no empty
 * conversation behind. */
#include <stdio.h>
#include <string.h>

#include "assist/chat.h"
#include "assist/chat_int.h"
#include "core/log.h"
#include "gdpr/policy.h"

#include "core/banned.h"

/* The filter that a key's role implies: `user` keys see their own
 * conversations only, editors and admins the whole tenant's. */
static struct conv_filter key_filter(const struct principal *p)
{
    struct conv_filter f = {0};
    if (p->role < ROLE_EDITOR)
        f.key_id = p->key_id;
    return f;
}

static enum lair_err not_found(struct chat_error *err)
{
    return chat_fail(err, LAIR_ENOTFOUND, "conversation_id", "conversation_not_found",
                     "conversation not found");
}

/* The conversation's stored messages, newest CHAT_HISTORY_MAX, into a. */
static enum lair_err load_history(struct tenant_db *db, const char *id, struct arena *a,
                                  struct chat_conversation *out)
{
    struct conv_message *m;
    size_t n;
    enum lair_err e = conv_messages(db, id, CHAT_HISTORY_MAX, a, &m, &n);
    if (e)
        return e;
    struct llm_message *h = n ? arena_alloc(a, n * sizeof(*h)) : NULL;
    if (n && !h)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < n; i++)
        h[i] = (struct llm_message){m[i].role, m[i].content};
    out->history = h;
    out->n_history = n;
    return LAIR_OK;
}

/* Continues conversation id when p may see it. */
static enum lair_err continue_one(const struct chat_ctx *ctx, const struct principal *p,
                                  struct str id, struct str subject, struct arena *a,
                                  struct chat_conversation *out, struct chat_error *err)
{
    if (!conv_id_valid(id))
        return not_found(err);
    struct tenant_db *db;
    enum lair_err e = chat_tenant_db(ctx, p, &db, err);
    if (e)
        return e;
    char cid[CONV_ID_LEN + 1];
    snprintf(cid, sizeof(cid), "%.*s", (int)id.len, id.ptr);
    struct conv_filter f = key_filter(p);
    f.assistant = out->assistant;
    if (subject.len)
        f.subject = out->subject;
    struct conv_row row;
    e = conv_get(db, cid, &f, &row);
    if (e == LAIR_ENOTFOUND)
        e = not_found(err);
    if (!e) {
        snprintf(out->id, sizeof(out->id), "%s", row.id);
        snprintf(out->subject, sizeof(out->subject), "%s", row.subject);
        e = load_history(db, cid, a, out);
    }
    tenant_db_put(db);
    return e;
}

enum lair_err chat_conversation_begin(const struct chat_ctx *ctx, const struct principal *p,
                                      struct str id, const char *assistant, struct str subject,
                                      struct arena *a, struct chat_conversation *out,
                                      struct chat_error *err)
{
    memset(out, 0, sizeof(*out));
    if (subject.len > CONV_SUBJECT_MAX || (subject.len && memchr(subject.ptr, 0, subject.len)))
        return chat_fail(err, LAIR_EUNPROC, "user", "invalid_value",
                         "'user' (the subject id) must be text of at most %d bytes",
                         CONV_SUBJECT_MAX);
    if (strlen(assistant) > CONV_ASSISTANT_MAX)
        return chat_fail(err, LAIR_EUNPROC, "model", "invalid_value",
                         "'model' must have at most %d bytes to keep a conversation",
                         CONV_ASSISTANT_MAX);
    if (!p->tenant[0]) /* the operator keeps no conversations */
        return id.len ? not_found(err) : LAIR_OK;
    snprintf(out->assistant, sizeof(out->assistant), "%s", assistant);
    snprintf(out->subject, sizeof(out->subject), "%.*s", (int)subject.len, subject.ptr);
    if (id.len)
        return continue_one(ctx, p, id, subject, a, out, err);
    conv_new_id(out->id);
    out->is_new = true;
    return LAIR_OK;
}

/* ---- storing an exchange ---- */

/* One exchange, as it is, in one transaction. */
static enum lair_err store(struct tenant_db *db, const struct principal *p,
                           const struct chat_conversation *c, struct str user_text,
                           struct str answer_text, const struct llm_result *res)
{
    struct conv_row row = {0};
    if (c->is_new) {
        snprintf(row.id, sizeof(row.id), "%s", c->id);
        snprintf(row.assistant, sizeof(row.assistant), "%s", c->assistant);
        snprintf(row.subject, sizeof(row.subject), "%s", c->subject);
        snprintf(row.key_id, sizeof(row.key_id), "%s", p->key_id);
    }
    struct conv_exchange x = {.id = c->id,
                              .create = c->is_new ? &row : NULL,
                              .user_text = user_text,
                              .answer_text = answer_text,
                              .answer_mode = c->answer_mode,
                              .grounded = c->grounded,
                              .sources = c->sources};
    if (res) {
        x.prompt_tokens = res->prompt_tokens;
        x.completion_tokens = res->completion_tokens;
        x.cached_tokens = res->cached_tokens;
        x.queue_ms = res->queue_ms;
        x.prompt_ms = res->prompt_ms;
        x.gen_ms = res->gen_ms;
    }
    return conv_append(db, &x);
}

/* The exchange through the policy (mask, pseudonymise), then stored. */
static enum lair_err store_with_policy(struct tenant_db *db, const struct principal *p,
                                       enum pii_mode pii, const struct chat_conversation *c,
                                       struct str user_text, struct str answer_text,
                                       const struct llm_result *res)
{
    struct tenant_db *pdb = pii == PII_PSEUDONYMISE ? db : NULL;
    struct buf u, a;
    buf_init(&u, 0);
    buf_init(&a, 0);
    enum lair_err e = gdpr_apply_policy(pdb, pii, c->id, c->subject, user_text, &u);
    if (!e)
        e = gdpr_apply_policy(pdb, pii, c->id, c->subject, answer_text, &a);
    if (!e)
        e = store(db, p, c, buf_str(&u), buf_str(&a), res);
    if (e && pdb) /* pseudonyms kept for a conversation that was not created */
        gdpr_policy_discard(pdb, c->id);
    buf_release(&u);
    buf_release(&a);
    return e;
}

enum lair_err chat_conversation_record(const struct chat_ctx *ctx, const struct principal *p,
                                       enum pii_mode pii, const struct chat_conversation *c,
                                       struct str user_text, struct str answer_text,
                                       const struct llm_result *res)
{
    if (!c->id[0] || !p->tenant[0])
        return LAIR_OK;
    /* the tenant is the principal's, as its key authenticated it; reached
     * here directly because a stream may end after its request */
    struct tenant_db *db;
    enum lair_err e = tenants_get(ctx->tenants, p->tenant, &db);
    if (!e) {
        e = pii == PII_KEEP ? store(db, p, c, user_text, answer_text, res)
                            : store_with_policy(db, p, pii, c, user_text, answer_text, res);
        tenant_db_put(db);
    }
    if (e && pii != PII_KEEP)
        log_warn("gdpr", "tenant %s: exchange of conversation %s not stored: %s", p->tenant, c->id,
                 lair_err_msg(e));
    return e;
}
