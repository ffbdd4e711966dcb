/* What the OpenAI surface (openai.c) needs from assistants: listing the
 * published assistants a key may use for GET /v1/models. (A chat request's
 * "model" is resolved by the chat pipeline: chat_resolve, assist/chat.h.) */
#ifndef LAIR_API_ASSISTANTS_H
#define LAIR_API_ASSISTANTS_H

#include <jansson.h>

#include "assist/assistant.h"
#include "core/err.h"
#include "core/str.h"
#include "http/http.h"

/* Appends to data_array an OpenAI model object
 * {"id":slug,"object":"model","created":…,"owned_by":tenant,"name":…} for
 * each published assistant the key may use. Appends nothing for the
 * operator key. */
enum lair_err api_assistant_list_published(struct http_req *rq, json_t *data_array);

/* Validates an assistant file against the server's models and the caller's
 * knowledge bases; on refusal records the 422 naming the field, its message
 * after prefix (may be NULL). OUT: *a OWNED (assistant_release). */
enum lair_err api_assistant_validate(struct http_req *rq, json_t *spec, struct assistant *a,
                                     const char *prefix);

#endif
