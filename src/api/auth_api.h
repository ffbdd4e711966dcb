/* Signing in with OpenID Connect and the browser sessions that follow
 * (api/auth.c; docs/oidc.md). The protocol is in auth/oidc.h, the rows in
 * store/people.h; here are the routes, the cookies and the CSRF check.
 *
 * Cookies: "__Host-lair_session" (the session; HttpOnly, Secure,
 * SameSite=Lax, Path=/) and "__Host-lair_login" (binds a sign-in under way
 * to the browser that started it, 10 minutes). A request authenticated by
 * the session cookie that changes state (any method but GET, HEAD and
 * OPTIONS) must carry the session's CSRF token in "X-CSRF-Token"; a
 * cross-site one (Sec-Fetch-Site: cross-site) is refused outright. */
#ifndef LAIR_API_AUTH_API_H
#define LAIR_API_AUTH_API_H

#include "api/app.h"

/* The http_config.session hook. */
enum lair_err api_session_auth(void *app, struct http_req *rq, struct principal *who);

enum lair_err api_auth_providers(struct http_req *rq);  /* GET /auth/providers */
enum lair_err api_auth_login(struct http_req *rq);      /* GET /auth/login */
enum lair_err api_auth_callback(struct http_req *rq);   /* GET /auth/callback */
enum lair_err api_auth_me(struct http_req *rq);         /* GET /auth/me */
enum lair_err api_auth_choose(struct http_req *rq);     /* POST /auth/choose */
enum lair_err api_auth_logout(struct http_req *rq);     /* POST /auth/logout */
enum lair_err api_auth_logout_all(struct http_req *rq); /* POST /auth/logout-all */
enum lair_err api_auth_signed_out(struct http_req *rq); /* GET /auth/signed-out */
/* POST /auth/backchannel-logout/{provider}: the provider's logout token
 * (OpenID Connect Back-Channel Logout 1.0) ends the person's sessions. */
enum lair_err api_auth_backchannel_logout(struct http_req *rq);
enum lair_err api_enroll_page(struct http_req *rq); /* GET /enroll/{token} */
enum lair_err api_enroll_use(struct http_req *rq);  /* POST /enroll/{token} */

#endif
