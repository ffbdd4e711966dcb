/* What the OpenAI surface (openai.c) needs from assistants: resolving the
 * "model" of a chat request to the caller's published assistant, and listing
 * the published assistants a key may use for GET /v1/models. */
#ifndef LAIR_API_ASSISTANTS_H
#define LAIR_API_ASSISTANTS_H

#include <jansson.h>

#include "assist/assistant.h"
#include "core/err.h"
#include "core/str.h"
#include "http/http.h"

/* The published version of the assistant slug of the caller's tenant. The
 * key's assistant restriction applies. LAIR_ENOTFOUND, with a 404
 * model_not_found recorded by http_fail (param "model"), when the caller is
 * the operator, the slug is unknown, unpublished, or not allowed for this
 * key: all answer alike. OUT: *out OWNED (assistant_release), out->version
 * = the published version. The assistant's model is not checked here: the
 * caller looks it up and reports its absence. */
enum lair_err api_assistant_resolve(struct http_req *rq, struct str slug, struct assistant *out);

/* Appends to data_array an OpenAI model object
 * {"id":slug,"object":"model","created":…,"owned_by":tenant,"name":…} for
 * each published assistant the key may use. Appends nothing for the
 * operator key. */
enum lair_err api_assistant_list_published(struct http_req *rq, json_t *data_array);

#endif
