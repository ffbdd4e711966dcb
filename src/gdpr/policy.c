/* The PII policy applied to stored text, and the log filter. */
#include "gdpr/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "gdpr/pii.h"
#include "store/gdpr_store.h"
#include "core/banned.h"

/* assist/assistant.h and gdpr/pii.h name the same three policies. */
_Static_assert((int)PII_KEEP == (int)PII_POLICY_KEEP && (int)PII_MASK == (int)PII_POLICY_MASK &&
                   (int)PII_PSEUDONYMISE == (int)PII_POLICY_PSEUDONYMISE,
               "enum pii_mode and enum pii_policy must agree");

struct pseudo_ctx {
    struct pii_pseudonyms ps;
    size_t loaded;
    struct str text;
    struct buf *out;
    size_t out_start;
    struct gdpr_pseudonym *add; /* OWNED */
};

static enum lair_err load_cb(void *ctx, const struct gdpr_pseudonym *p)
{
    struct pseudo_ctx *c = ctx;
    enum pii_type t;
    if (pii_type_parse(str_c(p->type), &t) || p->n == 0)
        return LAIR_OK; /* a type this program does not know: cannot collide with ours */
    return pii_pseudonyms_add(&c->ps, t, p->value, p->n);
}

static enum lair_err work_cb(void *ctx, const struct gdpr_pseudonym **add, size_t *n)
{
    struct pseudo_ctx *c = ctx;
    c->loaded = c->ps.count;
    enum lair_err e = pii_apply(PII_POLICY_PSEUDONYMISE, c->text, c->out, &c->ps);
    if (e)
        return e;
    size_t k = c->ps.count - c->loaded;
    if (k) {
        c->add = calloc(k, sizeof(*c->add));
        if (!c->add)
            return LAIR_ENOMEM;
        for (size_t i = 0; i < k; i++) {
            const struct pii_pseudonym *it = &c->ps.items[c->loaded + i];
            c->add[i] = (struct gdpr_pseudonym){.type = pii_type_name(it->type),
                                                .n = it->n,
                                                .value = pii_pseudonym_value(&c->ps, it)};
        }
    }
    *add = c->add;
    *n = k;
    return LAIR_OK;
}

static enum lair_err pseudonymise(struct tenant_db *db, const char *conversation_id,
                                  const char *subject, struct str text, struct buf *out)
{
    struct pseudo_ctx c = {.text = text, .out = out, .out_start = out->len};
    pii_pseudonyms_init(&c.ps, 0);
    enum lair_err e =
        db && conversation_id && *conversation_id
            ? gdpr_store_pseudonyms_update(db, conversation_id, subject, load_cb, work_cb, &c)
            : LAIR_EINVAL;
    free(c.add);
    pii_pseudonyms_release(&c.ps);
    if (e == LAIR_OK || e == LAIR_ENOMEM || e == LAIR_ETOOBIG)
        return e;
    /* the mapping cannot be kept: mask rather than store a value */
    log_warn("gdpr", "pseudonyms of conversation %s not stored (%s): text masked instead",
             conversation_id ? conversation_id : "(none)", lair_err_msg(e));
    out->len = c.out_start;
    if (out->ptr)
        out->ptr[out->len] = 0;
    return pii_mask(text, out);
}

enum lair_err gdpr_apply_policy(struct tenant_db *db, enum pii_mode mode,
                                const char *conversation_id, const char *subject, struct str text,
                                struct buf *out)
{
    switch (mode) {
    case PII_KEEP: return buf_append(out, text.ptr, text.len);
    case PII_MASK: return pii_mask(text, out);
    case PII_PSEUDONYMISE:
        return pseudonymise(db, conversation_id, subject ? subject : "", text, out);
    }
    return pii_mask(text, out); /* an unknown mode never stores values */
}

enum lair_err gdpr_policy_discard(struct tenant_db *db, const char *conversation_id)
{
    return gdpr_store_pseudonyms_discard(db, conversation_id);
}

void gdpr_placeholder(const char *type, unsigned n, char *out, size_t cap)
{
    char upper[32];
    size_t i = 0;
    for (; type[i] && i < sizeof(upper) - 1; i++)
        upper[i] = (char)(type[i] >= 'a' && type[i] <= 'z' ? type[i] - 32 : type[i]);
    upper[i] = 0;
    snprintf(out, cap, "[%s_%u]", upper, n);
}

size_t gdpr_log_filter(const char *msg, size_t len, char *out, size_t cap)
{
    return pii_mask_to((struct str){msg, len}, out, cap);
}
