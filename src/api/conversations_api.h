/* The conversation calls of the chat pipeline (assist/chat.h:
 * chat_conversation_begin and _record) for an HTTP request, and the usage
 * count its end makes (api/quota.c). The pipeline itself calls the assist
 * functions; these are their HTTP form, errors recorded with http_fail.
 *
 * Visibility (docs/roles.md): a key with role `user` continues and sees only
 * the conversations it created; `editor` and `admin` keys those of the whole
 * tenant. A request that names a subject (`user`) continues only that
 * subject's conversations. Another tenant's id, another assistant's, another
 * key's (for `user` keys), another subject's, or an unknown one: 404
 * "conversation not found", all alike. */
#ifndef LAIR_API_CONVERSATIONS_API_H
#define LAIR_API_CONVERSATIONS_API_H

#include <stdbool.h>
#include <stddef.h>

#include "api/app.h"
#include "assist/chat.h"
#include "store/conversations.h"

/* The most earlier messages begin hands back (the newest ones); the caller
 * still has to fit them into the model's context. */
#define API_CONV_HISTORY_MAX CHAT_HISTORY_MAX

struct api_conversation {
    char id[CONV_ID_LEN + 1]; /* "" for operator keys: no conversation is kept */
    char assistant[CONV_ASSISTANT_MAX + 1];
    char subject[CONV_SUBJECT_MAX + 1];
    bool is_new;                       /* created by the first api_conversation_record */
    const struct llm_message *history; /* ARENA (the request's): oldest first */
    size_t n_history;
};

/* chat_conversation_begin for the request's key. id: the request's
 * "conversation_id" (empty: a new conversation). assistant: the assistant
 * slug (or raw model name) the request addresses. subject: the request's
 * "user" field (empty when absent; at most CONV_SUBJECT_MAX bytes, else 422
 * on param "user"). When continuing with an empty subject, the
 * conversation's subject is kept. Errors are recorded with http_fail (404
 * param "conversation_id", code "conversation_not_found"). OUT: *out, its
 * history in the request's arena. */
enum lair_err api_conversation_begin(struct http_req *rq, struct str id, const char *assistant,
                                     struct str subject, struct api_conversation *out);

/* Stores one exchange (the user's text and the answer, with res's token
 * counts and timings on the answer) in one transaction. Nothing happens for
 * an empty c->id. LAIR_ENOTFOUND when the conversation was deleted since
 * begin. Does not respond: the caller has usually answered already. */
enum lair_err api_conversation_record(struct http_req *rq, const struct api_conversation *c,
                                      struct str user_text, struct str answer_text,
                                      const struct llm_result *res);

/* The same for the end of a stream, when the request may be gone: app and
 * the principal (copied at submit time) are enough. Stores as it is
 * (chat_conversation_record with PII_KEEP). */
enum lair_err api_conversation_record_as(struct app *app, const struct principal *p,
                                         const struct api_conversation *c, struct str user_text,
                                         struct str answer_text, const struct llm_result *res);

/* api_usage_record for the end of a chat (api/quota.c; the pipeline's
 * chat_ctx.usage): adds one request and tokens to today's usage of p's key
 * and tenant. Nothing for operator keys. */
void api_usage_add(struct app *app, const struct principal *p, int tokens);

#endif
