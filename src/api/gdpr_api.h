/* GDPR over HTTP (src/api/gdpr.c, docs/gdpr.md): subject access and erasure,
 * the pseudonyms of a conversation, the processing register and the
 * sovereignty statement. An exchange is stored as the assistant's PII
 * policy says by the chat pipeline (chat_conversation_record,
 * assist/chat.h). */
#ifndef LAIR_API_GDPR_H
#define LAIR_API_GDPR_H

#include "api/app.h"

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
/* POST /api/v1/gdpr/find {"q"} (admin): the subject a person's request
 * names, from what they can quote: the reference the widget showed them
 * ("3F9A-1C2B-44D0-9E7A", for the subject "widget-3f9a1c2b44d09e7a"), a
 * conversation id, or the 'user' field an application sends as it is.
 * Answers {"object":"gdpr.subject","subject","found_by":"reference"|
 * "conversation"|"user","conversations","messages","first_at","last_at"};
 * 404 conversation_not_found, 404 subject_not_found for a conversation
 * that has no subject. Audited as "gdpr.find". */
enum lair_err api_gdpr_find(struct http_req *rq);
/* The widget's reference for a widget subject ("widget-" and 16 hex
 * digits): the digits in upper case, in groups of four. OUT: out[20]; false
 * for another subject. */
bool api_gdpr_reference(const char *subject, char out[20]);
/* GET /api/v1/conversations/{id}/pseudonyms (admin): reveals the values
 * behind a conversation's placeholders. Audited as "gdpr.reveal". */
enum lair_err api_gdpr_pseudonyms(struct http_req *rq);
/* GET /api/v1/register[?format=json|md|html] (admin): the tenant's
 * processing register, generated from the live configuration. */
enum lair_err api_register(struct http_req *rq);
/* GET /api/v1/sovereignty (any key): every outbound destination the
 * configuration allows (none by default). */
enum lair_err api_sovereignty(struct http_req *rq);

#endif
