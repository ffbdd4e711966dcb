/* GDPR over HTTP (src/api/gdpr.c, docs/gdpr.md): subject access and erasure,
 * the pseudonyms of a conversation, the processing register and the
 * sovereignty statement; and the call the chat endpoint makes to store an
 * exchange as the assistant's PII policy says. */
#ifndef LAIR_API_GDPR_H
#define LAIR_API_GDPR_H

#include "api/app.h"
#include "api/conversations_api.h"
#include "assist/assistant.h"

/* POST /api/v1/gdpr/export {"subject"} (admin): everything held about the
 * subject in the caller's tenant, as one JSON document (gdpr/export.h).
 * Unknown subject: the same document with empty lists. Audited as
 * "gdpr.export", target "subject:<token>". */
enum lair_err api_gdpr_export(struct http_req *rq);
/* POST /api/v1/gdpr/erase {"subject"} (admin): erases it (gdpr/erase.h);
 * idempotent; audited as "gdpr.erase", target "subject:<token>". Answers
 * {"object":"gdpr.erasure","subject_token","deleted":{"conversations",
 * "messages","pseudonyms"},"scrubbed"}. */
enum lair_err api_gdpr_erase(struct http_req *rq);
/* GET /api/v1/conversations/{id}/pseudonyms (admin): reveals the values
 * behind a conversation's placeholders. Audited as "gdpr.reveal". */
enum lair_err api_gdpr_pseudonyms(struct http_req *rq);
/* GET /api/v1/register[?format=json|md|html] (admin): the tenant's
 * processing register, generated from the live configuration. */
enum lair_err api_register(struct http_req *rq);
/* GET /api/v1/sovereignty (any key): every outbound destination the
 * configuration allows (none by default). */
enum lair_err api_sovereignty(struct http_req *rq);

/* Stores one exchange of conversation c for the key p, with the user's text
 * and the answer passed through the assistant's PII policy first
 * (gdpr_apply_policy: keep, mask, or pseudonymise with the mapping kept for
 * the conversation), then api_conversation_record_as. When the exchange
 * cannot be stored, pseudonyms kept for a conversation that was not created
 * are removed again. Nothing is stored when the policy step fails (the text
 * is never stored unmasked against the policy). Failures are logged without
 * content and returned; the client already has its answer. */
enum lair_err api_gdpr_record_exchange(struct app *app, const struct principal *p,
                                       enum pii_mode pii, const struct api_conversation *c,
                                       struct str user_text, struct str answer_text,
                                       const struct llm_result *res);

#endif
