/* Retention (GDPR art. 5(1)(e)): conversations are kept for a limited time,
 * then deleted by a background job in the server and by `libreair gdpr
 * purge` on demand (docs/gdpr.md).
 *
 * The limit of a conversation is its assistant's retention_days (in the
 * published version of the assistant's spec) when set, else the tenant's
 * default (retention_days of its row in system.db); 0 at the tenant means
 * no limit. A conversation whose last exchange (updated_at) is older than
 * its limit is deleted with its messages and pseudonym mappings; the
 * database is then scrubbed (gdpr_store_scrub) so no copy survives in free
 * space or in the write-ahead log. Each run also completes erasures a
 * crash left pending and scrubs databases marked since the last run (a
 * conversation or a document deleted on its own): gdpr_recover. Purges
 * that deleted something are audited as "gdpr.purge" (actor "retention",
 * target "tenant:<slug>", counts in the detail). */
#ifndef LAIR_GDPR_RETENTION_H
#define LAIR_GDPR_RETENTION_H

#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "core/err.h"
#include "store/gdpr_store.h"
#include "store/system.h"
#include "store/tenant.h"

#define GDPR_PURGE_INTERVAL_DEFAULT 3600 /* seconds */
#define GDPR_DAY 86400

/* What one tenant's run did. */
struct gdpr_purge_report {
    char tenant[SLUG_MAX + 1];
    struct gdpr_counts counts;
    int erasures_resumed;
    int rules;     /* assistants with a retention of their own */
    bool scrubbed; /* the database was rewritten */
    enum lair_err err;
};

/* The time purges count from: time(NULL), unless $LIBREAIR_GDPR_TEST_NOW
 * holds a unix time. That variable exists for the end-to-end tests only
 * (they age conversations by moving the purge's clock); never set it in
 * production: it makes purges delete early or never. */
int64_t gdpr_now(void);

/* One tenant: resumes pending erasures, deletes what is older than its
 * limits at time now, audits, scrubs. tenant_days: the tenant's default
 * (0: none). OUT: *out. */
enum lair_err gdpr_purge_tenant(struct tenant_db *db, int64_t tenant_days,
                                const unsigned char key[AUDIT_KEY_LEN], int64_t now,
                                struct gdpr_purge_report *out);

/* Every tenant of sys, one after the other; fn (may be NULL) receives each
 * tenant's report, failures included (a failing tenant does not stop the
 * others). Returns the first error met. */
enum lair_err gdpr_purge_all(struct sysdb *sys, struct tenants *tenants, const char *data_dir,
                             int64_t now, void (*fn)(void *ctx, const struct gdpr_purge_report *r),
                             void *ctx);

/* ---- the server's background job ---- */

struct gdpr_purger;

/* Starts a thread that runs gdpr_purge_all at once (so erasures a crash
 * interrupted complete at start), then every $LIBREAIR_PURGE_INTERVAL
 * seconds (default 3600; 0 runs it only once, at start). All three are
 * BORROWED until gdpr_purge_stop. OUT: OWNED, gdpr_purge_stop. */
enum lair_err gdpr_purge_start(struct sysdb *sys, struct tenants *tenants, const char *data_dir,
                               struct gdpr_purger **out);
/* Wakes the thread, waits for a run in progress to end, joins it. NULL is
 * fine. */
void gdpr_purge_stop(struct gdpr_purger *p);
/* The interval in force ($LIBREAIR_PURGE_INTERVAL or the default), for the
 * processing register. */
unsigned gdpr_purge_interval(void);

#endif
