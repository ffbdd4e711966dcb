/* The public widget API (docs/web.md): what a citizen's browser calls, from
 * the widget on a site its assistant allows, without any key.
 *
 *   GET     /public/v1/assistants/{id}        name, welcome text, starters
 *   POST    /public/v1/assistants/{id}/chat   a chat answer, streamed as SSE
 *   OPTIONS /public/v1/assistants/{id}[/chat] the CORS preflight
 *
 * {id} is the assistant's public id "<tenant>.<assistant>": both slugs,
 * which are not secrets, joined by a dot (a slug has none). Only an
 * assistant whose *published* version has "visibility": "public" answers;
 * any other id — unknown tenant, unknown, unpublished or internal
 * assistant — answers the same 404. A request must come from a browser on
 * one of the assistant's allowed_origins (its Origin header): anything else
 * gets 403 without CORS headers, so the browser keeps the answer from the
 * page. Chat requests are rate-limited per client (address and canonical
 * origin, assistant_origin_canonical), in memory, in a table of bounded
 * size; the tenant's own quotas apply on top.
 * No cookie is read or set. A chat runs through the chat pipeline
 * (assist/chat.h) under a principal of the tenant (key id "widget", role
 * user, restricted to this assistant), so it is grounded, recorded as a
 * conversation (with a pseudonymous subject "widget-<random>" per
 * conversation), admitted against the tenant's quotas and counted like any
 * other, and answered like the OpenAI chat endpoint. */
#ifndef LAIR_API_PUBLIC_H
#define LAIR_API_PUBLIC_H

#include "http/http.h"

/* The key id the widget's chats are recorded and counted under. */
#define PUBLIC_KEY_ID "widget"

/* Chat requests a client may send at once, and how many it gets back per
 * minute. */
#define PUBLIC_RATE_BURST 8
#define PUBLIC_RATE_PER_MIN 8

enum lair_err api_public_assistant(struct http_req *rq);
enum lair_err api_public_chat(struct http_req *rq);
enum lair_err api_public_preflight(struct http_req *rq);
/* POST /public/v1/assistants/{id}/feedback: see api/feedback_api.h. */
enum lair_err api_public_feedback(struct http_req *rq);

#endif
