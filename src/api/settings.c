/* GET and PATCH /api/v1/settings: what a tenant's admins decide for their
 * organisation (store/settings.h). Today: "remote_inference", "masked" (the
 * default: a prompt may go to a remote upstream with its personal data
 * replaced by placeholders) or "forbidden" (never: local upstreams and the
 * embedded engine only). Changes are audited. */
#include <jansson.h>
#include <string.h>

#include "api/app.h"
#include "store/settings.h"

#include "core/banned.h"

static enum lair_err respond(struct http_req *rq, struct tenant_db *db)
{
    return api_respond_json(rq, 200,
                            json_pack("{s:s}", "remote_inference",
                                      tenant_forbids_remote(db) ? "forbidden" : "masked"));
}

enum lair_err api_settings_get(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    return e ? e : respond(rq, db);
}

enum lair_err api_settings_patch(struct http_req *rq)
{
    json_t *o;
    struct tenant_db *db;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "remote_inference")) {
            e = http_fail(rq, LAIR_EUNPROC, key, "unknown_field",
                          "unknown setting '%s' (known: remote_inference)", key);
            goto out;
        }
    }
    json_t *ri = json_object_get(o, "remote_inference");
    const char *val = json_string_value(ri);
    if (ri && (!val || (strcmp(val, "masked") && strcmp(val, "forbidden")))) {
        e = http_fail(rq, LAIR_EUNPROC, "remote_inference", "invalid_value",
                      "'remote_inference' must be \"masked\" or \"forbidden\"");
        goto out;
    }
    if ((e = api_tenant_db(rq, &db)))
        goto out;
    if (val && (e = tenant_setting_set(db, "remote_inference", val))) {
        api_audit(rq, "settings.update", "setting:remote_inference", "error");
        goto out;
    }
    if (val)
        api_audit(rq, "settings.update", "setting:remote_inference", "ok");
    e = respond(rq, db);
out:
    json_decref(o);
    return e;
}
