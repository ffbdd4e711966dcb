/* A tenant's members and access rules over HTTP (api/members.c; docs/oidc.md,
 * the rows in store/people.h). Admins of the tenant only (R_ADMIN): the
 * tenant is the principal's, never taken from the path or the body, and a
 * member id of another tenant answers 404 member_not_found like an unknown
 * one.
 *
 *   GET    /api/v1/members        the active members
 *   POST   /api/v1/members        {"email", "role"}: names a person (201)
 *   PATCH  /api/v1/members/{id}   {"role"}
 *   DELETE /api/v1/members/{id}   their sessions end, their personal keys die
 *   GET    /api/v1/access         {"rules": [{kind, value, role, provider}]}
 *   PUT    /api/v1/access         replaces the rules (at most API_RULES_MAX)
 *
 * Every change is audited in the tenant's log (target "member:<id>" or
 * "access_rules"), without the person's email or name. Errors: 422 naming
 * the field ("email", "role", "rules[3].value"; unknown fields:
 * unknown_field), 409 member_exists, 409 last_admin (the change would leave
 * the tenant with no admin: no other admin member and no usable admin key
 * other than the member's own). */
#ifndef LAIR_API_MEMBERS_API_H
#define LAIR_API_MEMBERS_API_H

#include "api/app.h"

#define API_RULES_MAX 100
#define API_MEMBERS_MAX 5000 /* rows in one listing (then "has_more": true) */

enum lair_err api_members_list(struct http_req *rq);  /* GET /api/v1/members */
enum lair_err api_members_add(struct http_req *rq);   /* POST /api/v1/members */
enum lair_err api_member_patch(struct http_req *rq);  /* PATCH /api/v1/members/{id} */
enum lair_err api_member_delete(struct http_req *rq); /* DELETE /api/v1/members/{id} */
enum lair_err api_access_get(struct http_req *rq);    /* GET /api/v1/access */
enum lair_err api_access_put(struct http_req *rq);    /* PUT /api/v1/access */

#endif
