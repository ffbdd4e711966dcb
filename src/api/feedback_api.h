/* Feedback on answers and the tenant's dashboard over HTTP (api/feedback.c;
 * docs/api.md, "Feedback" and "Dashboard"; the SQL in store/feedback.h).
 *
 * Feedback is given by whoever holds the conversation: the key that
 * created it (POST /api/v1/conversations/{id}/feedback; every role, an
 * admin included, rates only its own conversations, so that nobody speaks
 * for someone else), or the widget, for a conversation that the widget
 * created for that public assistant (POST /public/v1/assistants/{id}/feedback,
 * in api/public.c). Any other conversation answers 404
 * conversation_not_found, as if it did not exist. Editors and admins list
 * feedback and read the dashboard, with personal data masked
 * (gdpr/pii.h, pii_mask). */
#ifndef LAIR_API_FEEDBACK_API_H
#define LAIR_API_FEEDBACK_API_H

#include <jansson.h>

#include "api/app.h"

/* Checks a feedback body {"message_id"?, "rating", "comment"?}, plus
 * "conversation_id" when with_conversation (the widget's), and stores it
 * for conversation id of db rated by key_id, whose ownership the caller
 * checked; audits "feedback.give" and answers 200 with the feedback. Errors
 * are recorded with http_fail (422 naming the field; 404
 * message_not_found; 409 nothing_to_rate). */
enum lair_err api_feedback_give(struct http_req *rq, struct tenant_db *db, const char *id,
                                json_t *body, const char *key_id, bool with_conversation);

/* Checks a feedback body's fields only (see api_feedback_give). */
enum lair_err api_feedback_check(struct http_req *rq, json_t *body, bool with_conversation);

enum lair_err api_conversation_feedback(struct http_req *rq); /* POST .../feedback */
enum lair_err api_feedback_list(struct http_req *rq);         /* GET /api/v1/feedback */
enum lair_err api_dashboard(struct http_req *rq);             /* GET /api/v1/dashboard */

#endif
