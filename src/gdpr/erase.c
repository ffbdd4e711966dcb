/* Journalled erasure of a subject and its recovery after a crash. */
#include "gdpr/erase.h"

#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "gdpr/journal.h"
#include "gdpr/subject.h"
#include "core/banned.h"

#define PENDING_BATCH 32

struct find_event {
    int64_t after;
    bool found;
};

static bool is_erase_event(void *ctx, const struct audit_row *r)
{
    struct find_event *f = ctx;
    if (r->seq > f->after && str_eq_c(r->action, "gdpr.erase"))
        f->found = true;
    return !f->found;
}

/* Step 3: the audit event, unless a run before a crash wrote it. */
static enum lair_err audit_erasure(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                                   const struct gdpr_pending *p, bool resumed)
{
    struct audit_log l;
    audit_log_tenant(&l, db, key);
    struct find_event f = {p->audit_after, false};
    struct audit_db adb = {.tenant = db};
    enum lair_err e = audit_store_find_subject(adb, p->token, is_erase_event, &f);
    if (!e && !f.found) {
        char target[GDPR_TOKEN_MAX + 16], detail[160];
        snprintf(target, sizeof(target), "subject:%s", p->token);
        snprintf(detail, sizeof(detail), "conversations:%lld messages:%lld pseudonyms:%lld%s",
                 (long long)p->counts.conversations, (long long)p->counts.messages,
                 (long long)p->counts.pseudonyms, resumed ? " resumed:1" : "");
        struct audit_event ev = {.ts = p->requested_at,
                                 .actor = p->actor,
                                 .action = "gdpr.erase",
                                 .target = target,
                                 .outcome = "ok",
                                 .detail = detail};
        e = audit_append(&l, &ev, NULL);
    }
    audit_log_release(&l);
    return e;
}

/* Steps 2 to 4 for one pending erasure, and step 5 when scrubbed is set
 * (recovery scrubs once after all of them). Once step 2 has committed the
 * subject's rows are gone: for a request (scrubbed set), what a full disk
 * or a busy reader holds back afterwards is deferred to the next purge run
 * (which resumes the journal) rather than reported as a failure that a
 * retry could not change. */
static enum lair_err complete(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                              struct gdpr_pending *p, bool resumed, bool *scrubbed)
{
    enum lair_err e;
    if ((e = gdpr_store_erase(db, p)))
        return e;
    if ((e = audit_erasure(db, key, p, resumed)) || (e = gdpr_store_pending_done(db, p->id))) {
        if (!scrubbed || e != LAIR_ESTORAGE)
            return e;
        log_warn("gdpr",
                 "tenant %s: the disk is full; an erasure's rows are deleted, its audit event "
                 "and its scrub are left to the next purge run",
                 tenant_db_slug(db));
        *scrubbed = false;
        return LAIR_OK;
    }
    if (!scrubbed)
        return LAIR_OK;
    e = gdpr_store_scrub(db);
    *scrubbed = e == LAIR_OK;
    if (e) {
        /* the mark stays: the next purge run scrubs */
        if (e == LAIR_EBUSY || e == LAIR_ESTORAGE)
            log_warn("gdpr",
                     "tenant %s: scrub after an erasure deferred to the next purge run (%s)",
                     tenant_db_slug(db), lair_err_msg(e));
        else
            log_error("gdpr",
                      "tenant %s: scrub after an erasure failed (%s); the next purge run "
                      "tries again",
                      tenant_db_slug(db), lair_err_msg(e));
        e = LAIR_OK;
    }
    return e;
}

/* The erasure journal's line (gdpr/journal.h), for backups: after the
 * pending row has committed, before anything is deleted; written again by
 * recovery, since a crash may have come between the two. Without it the
 * erasure waits (its row stays pending) rather than go unrecorded. */
static enum lair_err journal(struct tenant_db *db, const struct gdpr_pending *p)
{
    enum lair_err e = gdpr_journal_append(tenant_db_dir(db), p->token, p->requested_at);
    if (e)
        log_error("gdpr",
                  "tenant %s: cannot append to the erasure journal (%s); the erasure stays "
                  "pending until the next purge run",
                  tenant_db_slug(db), lair_err_msg(e));
    return e;
}

enum lair_err gdpr_erase(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                         const char *subject, const char *actor, struct gdpr_erasure *out)
{
    memset(out, 0, sizeof(*out));
    if (!subject || !gdpr_subject_valid(str_c(subject)))
        return LAIR_EINVAL;
    gdpr_subject_token(key, tenant_db_slug(db), str_c(subject), out->token);
    struct gdpr_pending p;
    enum lair_err e = gdpr_store_pending_add(db, subject, out->token, actor ? actor : "", &p);
    if (e)
        return e;
    if (!(e = journal(db, &p)))
        e = complete(db, key, &p, false, &out->scrubbed);
    out->counts = p.counts;
    memset(&p, 0, sizeof(p));
    return e;
}

enum lair_err gdpr_recover(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                           int *resumed, bool *scrubbed)
{
    if (resumed)
        *resumed = 0;
    if (scrubbed)
        *scrubbed = false;
    struct gdpr_pending rows[PENDING_BATCH];
    size_t n;
    enum lair_err e;
    do {
        if ((e = gdpr_store_pending_list(db, rows, PENDING_BATCH, &n)))
            break;
        for (size_t i = 0; i < n && !e; i++) {
            e = journal(db, &rows[i]);
            if (!e)
                e = complete(db, key, &rows[i], true, NULL);
            if (!e && resumed)
                (*resumed)++;
        }
    } while (!e && n == PENDING_BATCH);
    memset(rows, 0, sizeof(rows));
    if (e)
        return e;
    bool needed;
    if ((e = gdpr_store_scrub_needed(db, &needed)) || !needed)
        return e;
    e = gdpr_store_scrub(db);
    if (!e && scrubbed)
        *scrubbed = true;
    if (e == LAIR_ESTORAGE)
        log_warn("gdpr", "tenant %s: scrub deferred: the disk has no room for the copy it writes",
                 tenant_db_slug(db));
    return e == LAIR_EBUSY || e == LAIR_ESTORAGE ? LAIR_OK : e;
}
