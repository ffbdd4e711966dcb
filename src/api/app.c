/* Helpers every handler shares: reaching the caller's tenant, JSON in and
 * out, and the end-of-request hook. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "core/json.h"
#include "store/assistants.h"
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

static void add_slug(void *arg, const struct assistant_info *a)
{
    json_array_append_new(arg, json_string(a->slug));
}

enum lair_err api_refuse_in_use(struct http_req *rq, struct tenant_db *db, const char *kb,
                                const char *allowed, const char *action, const char *target,
                                bool *answered)
{
    *answered = false;
    const char *force = http_query(rq, "force");
    if (force && !strcmp(force, "true"))
        return LAIR_OK;
    json_t *users = json_array();
    if (!users)
        return LAIR_ENOMEM;
    enum lair_err e = assistants_using(db, kb, allowed, add_slug, users);
    if (e || json_array_size(users) == 0) {
        json_decref(users);
        return e;
    }
    struct buf list;
    buf_init(&list, 0);
    size_t i;
    json_t *v;
    json_array_foreach(users, i, v) buf_printf(&list, "%s%s", i ? ", " : "", json_string_value(v));
    char msg[700];
    if (kb)
        snprintf(msg, sizeof(msg),
                 "published assistants answer from the knowledge base '%s': %.*s; change them "
                 "first, or delete with ?force=true",
                 kb, list.len > 400 ? 400 : (int)list.len, list.ptr ? list.ptr : "");
    else
        snprintf(msg, sizeof(msg),
                 "published assistants answer with a model this change withdraws: %.*s; change "
                 "them first, or repeat with ?force=true",
                 list.len > 400 ? 400 : (int)list.len, list.ptr ? list.ptr : "");
    buf_release(&list);
    *answered = true;
    api_audit(rq, action, target, "denied");
    return api_respond_json(rq, 409,
                            json_pack("{s:{s:s, s:s, s:n, s:s, s:o}}", "error", "message", msg,
                                      "type", lair_err_type(LAIR_ECONFLICT), "param", "code",
                                      "in_use", "assistants", users));
}

enum lair_err api_parse_body(struct http_req *rq, json_t **out)
{
    char msg[256];
    enum lair_err e = json_parse_object(http_body(rq), out, msg, sizeof(msg));
    if (e == LAIR_ENOMEM) /* keeps its own code: a 500, not the client's fault */
        return http_fail(rq, e, NULL, NULL, "%s", msg);
    if (e)
        return http_fail(rq, e, NULL, "invalid_json", "%s", msg);
    return LAIR_OK;
}
