/* Data subjects: who a conversation is about (the OpenAI `user` field of a
 * chat request, docs/gdpr.md) and how the audit log names one.
 *
 * The audit log cannot lose events (docs/audit.md), so it must not hold a
 * subject id that could be personal data (clients send e-mail addresses as
 * often as opaque ids). Events about a subject name it by a token instead:
 * "sh_" and 32 hex digits of a BLAKE2b-128 keyed with the audit key (derived
 * from DATA/pepper) over the tenant and the id. Without the pepper a token
 * cannot be reversed, even by trying every e-mail address; with it, the
 * server finds a subject's events again for an export. The tenant is in the
 * hash so that one person's tokens in two organisations do not match. */
#ifndef LAIR_GDPR_SUBJECT_H
#define LAIR_GDPR_SUBJECT_H

#include <stdbool.h>

#include "audit/audit.h"
#include "core/str.h"
#include "store/gdpr_store.h"

#define GDPR_SUBJECT_MAX CONV_SUBJECT_MAX /* bytes */

/* True when s can be a subject id: 1 to GDPR_SUBJECT_MAX bytes of UTF-8
 * without NUL (what the chat endpoint accepts in `user`). */
bool gdpr_subject_valid(struct str s);

/* The subject's token ("sh_" + 32 hex digits) in tenant's log. */
void gdpr_subject_token(const unsigned char key[AUDIT_KEY_LEN], const char *tenant,
                        struct str subject, char out[GDPR_TOKEN_MAX]);

#endif
