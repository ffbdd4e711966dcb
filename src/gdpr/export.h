/* Subject access (GDPR art. 15): everything a tenant holds about a subject,
 * as one JSON document (docs/gdpr.md gives its shape):
 *
 *   {"object":"gdpr.export","tenant","subject","subject_token","generated_at",
 *    "conversations":[{"id","title","assistant","key_id","created_at","updated_at",
 *        "messages":[{"role","content","created_at","usage"?}],
 *        "pseudonyms":[{"placeholder","type","value"}],
 *        "feedback":[{"message_id","rating","comment","created_at"}],
 *        "usage":{"prompt_tokens","completion_tokens","cached_tokens"}}],
 *    "pseudonyms_without_conversation":[{"conversation_id","placeholder","type","value"}],
 *    "usage":{"conversations","messages","prompt_tokens","completion_tokens","cached_tokens"},
 *    "audit":[{"seq","time","actor","action","target","outcome","detail"}],
 *    "erasure_pending":bool}
 *
 * An unknown subject gives the same document with empty lists. Audit events
 * are those whose target or detail names the subject, by its token or by
 * its id as given. The document is written piece by piece (one conversation
 * at a time), so memory does not grow with the number of conversations. */
#ifndef LAIR_GDPR_EXPORT_H
#define LAIR_GDPR_EXPORT_H

#include <stddef.h>

#include "audit/audit.h"
#include "core/err.h"
#include "store/tenant.h"

/* Receives the document's bytes in order; a non-OK return stops the export
 * and is returned. */
typedef enum lair_err (*gdpr_sink)(void *ctx, const char *p, size_t n);

/* Writes the export of subject (gdpr_subject_valid; LAIR_EINVAL otherwise)
 * to sink. key: the audit key, for the subject's token. */
enum lair_err gdpr_export(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                          const char *subject, gdpr_sink sink, void *ctx);

#endif
