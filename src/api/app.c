/* Helpers every handler shares: reaching the caller's tenant, JSON in and
 * out, and the end-of-request hook. */
#include <stdio.h>
#include <stdlib.h>

#include "api/app.h"
#include "core/json.h"
#include "core/banned.h"

struct req_state {
    struct tenant_db *tdb;
};

static struct req_state *state(struct http_req *rq)
{
    struct req_state *s = http_user(rq);
    if (!s) {
        s = arena_alloc(http_arena(rq), sizeof(*s));
        http_set_user(rq, s);
    }
    return s;
}

enum lair_err api_tenant_db(struct http_req *rq, struct tenant_db **out)
{
    const struct principal *p = http_principal(rq);
    *out = NULL;
    if (!http_authenticated(rq) || !p->tenant[0])
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden",
                         "this needs a key of a tenant; the operator key cannot use tenant data");
    struct req_state *s = state(rq);
    if (!s)
        return LAIR_ENOMEM;
    if (!s->tdb) {
        struct app *app = http_app(rq);
        /* the tenant of an authenticated key exists unless it is being deleted */
        if (tenants_get(app->tenants, p->tenant, &s->tdb) != LAIR_OK)
            return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                             "invalid, revoked or expired API key");
    }
    *out = s->tdb;
    return LAIR_OK;
}

void api_on_done(void *app, struct http_req *rq, int status)
{
    (void)app;
    if (status == 401 || status == 403 || status == 404 || status == 429)
        api_audit_denied(rq, status);
    struct req_state *s = http_user(rq);
    if (s && s->tdb) {
        tenant_db_put(s->tdb);
        s->tdb = NULL;
    }
}

enum lair_err api_respond_json(struct http_req *rq, int status, json_t *v)
{
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = v ? json_dump_buf(v, &b) : LAIR_ENOMEM;
    json_decref(v);
    if (!e)
        e = http_respond_json(rq, status, &b);
    buf_release(&b);
    return e;
}

enum lair_err api_parse_body(struct http_req *rq, json_t **out)
{
    char msg[256];
    enum lair_err e = json_parse_object(http_body(rq), out, msg, sizeof(msg));
    if (e)
        return http_fail(rq, e, NULL, "invalid_json", "%s", msg);
    return LAIR_OK;
}
