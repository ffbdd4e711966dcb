/* The web console, the chat page and the widget: files under web/ compiled
 * into the binary (scripts/embed.sh), served without authentication, and
 * what the pages ask the server about the key they were given. */
#ifndef LAIR_API_WEB_H
#define LAIR_API_WEB_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http.h"

/* The http_config.static_file hook: the embedded file for path ("/" is the
 * console, "/chat" the chat page, "/widget.js" the widget, "/assets/…"
 * their parts). OUT: *data, *len BORROWED (static), *content_type static.
 * False when there is no such file. */
bool api_static_file(const char *path, const unsigned char **data, size_t *len,
                     const char **content_type);

/* GET /api/v1/me: the role, tenant and assistant restriction of the key
 * that authenticated the request (never its secret), so that the console
 * shows what that key may do without probing endpoints (each refused probe
 * would be an audit event). */
enum lair_err api_me(struct http_req *rq);

#endif
