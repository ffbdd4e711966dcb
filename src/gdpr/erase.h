/* Erasure of a data subject (GDPR art. 17), crash-safe, and the recovery
 * that completes erasures a crash interrupted (docs/gdpr.md).
 *
 * What a tenant holds about a subject lives in its one database: the
 * conversations whose subject it is, their messages and pseudonym
 * mappings. An erasure is journalled so that, once requested, it ends
 * complete even across a crash:
 *   1. a gdpr_pending row records the request (durable before anything is
 *      deleted), then a line of the erasure journal (gdpr/journal.h) its
 *      token, for the restores of earlier backups;
 *   2. one transaction deletes the subject's conversations, messages and
 *      pseudonyms and marks the row erased (all or nothing);
 *   3. the erasure is appended to the audit log as "gdpr.erase" with target
 *      "subject:<token>" (gdpr/subject.h) and counts in the detail, never
 *      the subject id or any content; a replay finds the event it already
 *      wrote (seq after the row's audit_after) and does not write it twice;
 *   4. one transaction removes the row (which held the id) and marks the
 *      database for a scrub;
 *   5. the scrub (gdpr_store_scrub) rewrites the file and truncates the
 *      write-ahead log, so no copy survives in free space or in the log.
 * gdpr_recover, run at server start and by `libreair gdpr purge`, resumes
 * every step that a crash left undone. The audit log itself is never
 * changed: its events hold tokens, not ids (docs/audit.md). */
#ifndef LAIR_GDPR_ERASE_H
#define LAIR_GDPR_ERASE_H

#include <stdbool.h>

#include "audit/audit.h"
#include "core/err.h"
#include "store/gdpr_store.h"

struct gdpr_erasure {
    char token[GDPR_TOKEN_MAX]; /* the subject's audit token */
    struct gdpr_counts counts;  /* what was deleted (zeros for an unknown subject) */
    bool scrubbed;              /* false: the scrub is deferred to the next purge run */
};

/* Erases subject (gdpr_subject_valid) from the tenant: the steps above.
 * key is the audit key (audit_key_load); actor the key id or "cli".
 * Idempotent: erasing again, or an unknown subject, deletes nothing and
 * records one more "gdpr.erase" event. LAIR_EINVAL for an invalid subject.
 * OUT: *out. A scrub that a reader in another process holds back is not an
 * error (out->scrubbed false): the rows are gone, the mark stays. */
enum lair_err gdpr_erase(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                         const char *subject, const char *actor, struct gdpr_erasure *out);

/* Completes the erasures pending in the tenant's database and the scrub it
 * is marked for (by an erasure, a purge, or any deletion of a conversation
 * or a document). OUT (each may be NULL): *resumed, erasures completed;
 * *scrubbed, whether the database was scrubbed. */
enum lair_err gdpr_recover(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                           int *resumed, bool *scrubbed);

#endif
