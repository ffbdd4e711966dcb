/* The assistant generator and shared assistant templates over HTTP
 * (api/templates.c, docs/templates.md). */
#ifndef LAIR_API_TEMPLATES_H
#define LAIR_API_TEMPLATES_H

#include "core/err.h"
#include "http/http.h"

enum lair_err api_assistants_generate(struct http_req *rq);
enum lair_err api_assistants_from_template(struct http_req *rq);
enum lair_err api_templates_list(struct http_req *rq);
enum lair_err api_template_get(struct http_req *rq);
enum lair_err api_templates_publish(struct http_req *rq);
enum lair_err api_template_delete(struct http_req *rq);

#endif
