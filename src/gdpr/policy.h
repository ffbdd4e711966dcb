/* What an assistant's "pii" setting (guardrails.pii: keep | mask |
 * pseudonymise) makes of a text before it is stored in a conversation, and
 * the log filter that masks personal data in every log line whatever the
 * setting (docs/gdpr.md).
 *
 * pseudonymise replaces each value by a placeholder that is stable within
 * the conversation ("[PHONE_1]" every time that number appears, however it
 * is typed) and keeps the mapping in the tenant's pseudonyms table, where
 * the tenant admin can reveal it (GET /api/v1/conversations/{id}/pseudonyms)
 * and where erasure and retention delete it with the conversation.
 *
 * The same call applies to a prompt before it leaves for a remote upstream
 * (when such upstreams exist): pass the conversation the prompt belongs to,
 * send the output, and the answer's placeholders can be mapped back with
 * gdpr_store_pseudonyms_list. */
#ifndef LAIR_GDPR_POLICY_H
#define LAIR_GDPR_POLICY_H

#include <stddef.h>

#include "assist/assistant.h"
#include "core/err.h"
#include "core/str.h"
#include "store/tenant.h"

/* Appends text to out as mode says. For PII_PSEUDONYMISE, db,
 * conversation_id and subject (the conversation's; "" when none) say where
 * the mapping lives; they are not used otherwise (db may then be NULL).
 * The conversation need not exist yet: a new one's mapping is stored just
 * before its first exchange creates it (gdpr_policy_discard removes it if
 * that exchange is not stored). Never fails open: when the mapping cannot
 * be kept (database error, more than 4096 distinct values in the
 * conversation) the text is masked instead ("[PHONE]") and LAIR_OK is
 * returned. Errors (LAIR_ENOMEM, LAIR_ETOOBIG from out): out must not be
 * stored; it never holds an unmasked value. */
enum lair_err gdpr_apply_policy(struct tenant_db *db, enum pii_mode mode,
                                const char *conversation_id, const char *subject, struct str text,
                                struct buf *out);

/* After an exchange could not be stored: removes the pseudonyms kept for
 * conversation_id if that conversation does not exist. */
enum lair_err gdpr_policy_discard(struct tenant_db *db, const char *conversation_id);

/* The placeholder of a stored pseudonym: "[PHONE_1]" for ("phone", 1).
 * Writes at most cap - 1 bytes and a NUL. */
void gdpr_placeholder(const char *type, unsigned n, char *out, size_t cap);

/* A log_filter_fn (core/log.h) that masks identifiers with pii_mask_to.
 * Install it once in main(): log_set_filter(gdpr_log_filter). */
size_t gdpr_log_filter(const char *msg, size_t len, char *out, size_t cap);

#endif
