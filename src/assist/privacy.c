/* The privacy filter (privacy.h): one placeholder vault per request, the
 * masked messages kept with it until the model layer lets go. */
#include "assist/privacy.h"

#include <stdlib.h>

#include "gdpr/placeholder.h"

#include "core/banned.h"

struct filter {
    struct placeholder_vault *vault;
    struct placeholder_stream stream;
    struct llm_message *msgs; /* the masked messages, contents in texts[] */
    struct buf *texts;
    size_t n;
};

static void release_masked(struct filter *f)
{
    for (size_t i = 0; i < f->n; i++)
        buf_release(&f->texts[i]);
    free(f->texts);
    free(f->msgs);
    f->texts = NULL;
    f->msgs = NULL;
    f->n = 0;
}

/* Masks every message with the one vault, so that a value has the same
 * placeholder in the instructions, the sources, the history and the
 * question. A failure sends nothing: the pool then keeps the request from
 * the remote zone. */
static enum lair_err mask(void *ctx, const struct llm_message *in, size_t n,
                          const struct llm_message **out)
{
    struct filter *f = ctx;
    release_masked(f);
    f->msgs = calloc(n ? n : 1, sizeof(*f->msgs));
    f->texts = calloc(n ? n : 1, sizeof(*f->texts));
    if (!f->msgs || !f->texts) {
        release_masked(f);
        return LAIR_ENOMEM;
    }
    f->n = n;
    for (size_t i = 0; i < n; i++) {
        buf_init(&f->texts[i], 0);
        enum lair_err e = placeholder_mask(f->vault, in[i].content, &f->texts[i]);
        if (e) {
            release_masked(f);
            return e;
        }
        f->msgs[i] = (struct llm_message){in[i].role, buf_str(&f->texts[i])};
    }
    *out = f->msgs;
    return LAIR_OK;
}

static enum lair_err unmask(void *ctx, const char *text, size_t len, bool final, struct buf *out)
{
    struct filter *f = ctx;
    enum lair_err e = placeholder_stream_feed(&f->stream, (struct str){text, len}, out);
    if (!e && final)
        e = placeholder_stream_finish(&f->stream, out);
    return e;
}

static void filter_free(void *ctx)
{
    struct filter *f = ctx;
    release_masked(f);
    placeholder_vault_free(f->vault);
    free(f);
}

static const struct llm_privacy_ops ops = {.mask = mask, .unmask = unmask, .free = filter_free};

enum lair_err assist_privacy_new(bool forbid_remote, struct llm_privacy *out)
{
    struct filter *f = calloc(1, sizeof(*f));
    if (f && !(f->vault = placeholder_vault_new(0))) {
        free(f);
        f = NULL;
    }
    if (!f)
        return LAIR_ENOMEM;
    placeholder_stream_init(&f->stream, f->vault);
    *out = (struct llm_privacy){.ops = &ops, .ctx = f, .forbid_remote = forbid_remote};
    return LAIR_OK;
}
