/* What the chat pipeline's files share (chat.c builds a chat, chat_stream.c
 * reads and records it, chat_conv.c keeps conversations): the chat itself
 * and the error helper. Not for use outside src/assist/. */
#ifndef LAIR_ASSIST_CHAT_INT_H
#define LAIR_ASSIST_CHAT_INT_H

#include "assist/chat.h"

struct chat {
    struct chat_ctx ctx;           /* copied: its pointers BORROWED */
    struct principal who;          /* copied from the request */
    struct chat_conversation conv; /* history not kept: it lived in chat_start's arena */
    bool keep;                     /* store the exchange in conv */
    enum pii_mode pii;             /* the assistant's policy for what is stored */
    char *question;                /* OWNED: the last user turn, stored with the answer */
    size_t question_len;
    enum chat_mode mode;
    char *model_name;          /* OWNED: the assistant's slug or the raw model's name */
    struct llm_model *model;   /* BORROWED; NULL for a fixed answer without a model */
    struct llm_stream *stream; /* OWNED; NULL for a fixed answer */
    char *fixed;               /* OWNED: a fixed answer's text (refusal, degraded) */
    size_t fixed_len;
    char *degraded; /* OWNED: the excerpts answer, for a model that fails before any text */
    size_t degraded_len;
    json_t *sources;        /* OWNED reference; NULL when none */
    struct buf answer;      /* the whole answer taken so far */
    bool ended;             /* the end was taken (or cut): recorded */
    struct chat_result end; /* what chat_take said at the end */
};

/* Fills err (message formatted) and returns e. */
enum lair_err chat_fail(struct chat_error *err, enum lair_err e, const char *param,
                        const char *code, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

/* The tenant's database for p, as an authenticated key reaches it; a tenant
 * gone meanwhile answers like a revoked key (LAIR_EAUTH). OUT: *out (put
 * back with tenant_db_put). */
enum lair_err chat_tenant_db(const struct chat_ctx *ctx, const struct principal *p,
                             struct tenant_db **out, struct chat_error *err);

#endif
