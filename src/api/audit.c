/* The audit log over HTTP: recording management actions and denied
 * requests, reading a log (GET /api/v1/audit) and verifying its chain
 * (GET /api/v1/audit/verify). A tenant's admin reads its tenant's log; the
 * operator reads the operator's log (system.db), never a tenant's.
 *
 * Recording never fails the request it records: a failed append is logged
 * and counted (audit_failures, for /metrics). */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/app.h"
#include "audit/audit.h"
#include "core/log.h"
#include "core/banned.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000

/* The checkpoint key, derived once per data directory. */
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    char dir[4096];
    unsigned char key[AUDIT_KEY_LEN];
    bool loaded;
} key_cache;

static enum lair_err app_key(const struct app *app, unsigned char key[AUDIT_KEY_LEN])
{
    enum lair_err e = LAIR_OK;
    pthread_mutex_lock(&key_mu);
    if (!key_cache.loaded || strcmp(key_cache.dir, app->data_dir)) {
        key_cache.loaded = false;
        e = audit_key_load(app->data_dir, key_cache.key);
        if (!e) {
            snprintf(key_cache.dir, sizeof(key_cache.dir), "%s", app->data_dir);
            key_cache.loaded = true;
        }
    }
    if (!e)
        memcpy(key, key_cache.key, AUDIT_KEY_LEN);
    pthread_mutex_unlock(&key_mu);
    return e;
}

/* The log of the request's tenant (tenant true) or the operator's. */
static enum lair_err open_log(struct http_req *rq, bool tenant, struct audit_log *l)
{
    struct app *app = http_app(rq);
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e = app_key(app, key);
    if (e) {
        log_error("audit", "cannot read the audit key from %s/pepper: %s", app->data_dir,
                  lair_err_msg(e));
        return e;
    }
    struct tenant_db *tdb = NULL;
    if (tenant && (e = api_tenant_db(rq, &tdb)) == LAIR_OK)
        audit_log_tenant(l, tdb, key);
    else if (!tenant)
        audit_log_system(l, app->sys, key);
    sodium_memzero(key, sizeof(key));
    return e;
}

static void record(struct http_req *rq, const struct audit_event *ev)
{
    const struct principal *p = http_authenticated(rq) ? http_principal(rq) : NULL;
    bool tenant = p && p->tenant[0];
    struct audit_log l;
    enum lair_err e = open_log(rq, tenant, &l);
    char detail[AUDIT_DETAIL_MAX + 1];
    struct audit_event fallback = *ev;
    if (e && tenant) {
        /* the tenant is being deleted: keep the event, in the operator's log */
        snprintf(detail, sizeof(detail), "%s tenant:%s", ev->detail ? ev->detail : "", p->tenant);
        fallback.detail = detail;
        e = open_log(rq, false, &l);
    }
    if (e) {
        audit_failure_count();
        log_error("audit", "cannot record %s: %s", ev->action, lair_err_msg(e));
        return;
    }
    audit_append(&l, &fallback, NULL); /* logs and counts its own failures */
    audit_log_release(&l);
}

void api_audit(struct http_req *rq, const char *action, const char *target, const char *outcome)
{
    const struct principal *p = http_authenticated(rq) ? http_principal(rq) : NULL;
    char detail[64];
    snprintf(detail, sizeof(detail), "method:%s", http_method(rq));
    struct audit_event ev = {.actor = p ? p->key_id : "anonymous",
                             .action = action,
                             .target = target,
                             .outcome = outcome,
                             .detail = detail};
    record(rq, &ev);
}

void api_audit_detail(struct http_req *rq, const char *action, const char *target,
                      const char *detail)
{
    const struct principal *p = http_authenticated(rq) ? http_principal(rq) : NULL;
    char d[AUDIT_DETAIL_MAX + 1];
    snprintf(d, sizeof(d), "method:%s %s", http_method(rq), detail);
    struct audit_event ev = {.actor = p ? p->key_id : "anonymous",
                             .action = action,
                             .target = target,
                             .outcome = "ok",
                             .detail = d};
    record(rq, &ev);
}

void api_audit_for_tenant(struct http_req *rq, const char *slug, const char *action,
                          const char *target, const char *detail)
{
    struct app *app = http_app(rq);
    const struct principal *p = http_principal(rq);
    unsigned char key[AUDIT_KEY_LEN];
    struct tenant_db *tdb = NULL;
    enum lair_err e = app_key(app, key);
    if (!e)
        e = tenants_get(app->tenants, slug, &tdb);
    if (e) {
        sodium_memzero(key, sizeof(key));
        audit_failure_count();
        log_error("audit", "cannot record %s in tenant %s's log: %s", action, slug,
                  lair_err_msg(e));
        return;
    }
    struct audit_log l;
    audit_log_tenant(&l, tdb, key);
    sodium_memzero(key, sizeof(key));
    char actor[KEY_ID_LEN + 16], d[AUDIT_DETAIL_MAX + 1];
    snprintf(actor, sizeof(actor), "operator:%s", p->key_id);
    snprintf(d, sizeof(d), "method:%s %s", http_method(rq), detail);
    struct audit_event ev = {
        .actor = actor, .action = action, .target = target, .outcome = "ok", .detail = d};
    audit_append(&l, &ev, NULL);
    audit_log_release(&l);
    tenant_db_put(tdb);
}

void api_audit_to(struct http_req *rq, const char *slug, const struct audit_event *ev)
{
    struct app *app = http_app(rq);
    unsigned char key[AUDIT_KEY_LEN];
    struct tenant_db *tdb = NULL;
    enum lair_err e = app_key(app, key);
    if (!e && slug && slug[0])
        e = tenants_get(app->tenants, slug, &tdb);
    if (e) {
        sodium_memzero(key, sizeof(key));
        audit_failure_count();
        log_error("audit", "cannot record %s: %s", ev->action, lair_err_msg(e));
        return;
    }
    struct audit_log l;
    if (tdb)
        audit_log_tenant(&l, tdb, key);
    else
        audit_log_system(&l, app->sys, key);
    sodium_memzero(key, sizeof(key));
    audit_append(&l, ev, NULL);
    audit_log_release(&l);
    if (tdb)
        tenant_db_put(tdb);
}

enum lair_err api_audit_key(struct app *app, unsigned char key[AUDIT_KEY_LEN])
{
    return app_key(app, key);
}

void api_audit_denied(struct http_req *rq, int status)
{
    const struct principal *p = http_authenticated(rq) ? http_principal(rq) : NULL;
    const char *action;
    switch (status) {
    case 401:
    case 403: action = "access.denied"; break;
    case 429: action = "quota.refused"; break;
    case 404:
        /* probing a tenant's management ids; the OpenAI surface's 404s
         * (unknown models) are ordinary traffic */
        if (!p || !p->tenant[0] || strncmp(http_path(rq), "/api/v1/", 8) != 0 ||
            !strcmp(http_route_name(rq), "unmatched"))
            return;
        action = "access.notfound";
        break;
    default: return;
    }
    char target[96], outcome[16], detail[128];
    snprintf(target, sizeof(target), "route:%s", http_route_name(rq));
    snprintf(outcome, sizeof(outcome), "%d", status);
    /* no key material: only whether a credential came at all */
    if (status == 401 && !p)
        snprintf(detail, sizeof(detail), "method:%s credential:%s", http_method(rq),
                 http_header(rq, "Authorization") ? "invalid" : "missing");
    else
        snprintf(detail, sizeof(detail), "method:%s", http_method(rq));
    struct audit_event ev = {.actor = p ? p->key_id : "anonymous",
                             .action = action,
                             .target = target,
                             .outcome = outcome,
                             .detail = detail};
    if (api_refusal_note(rq, &ev, detail, sizeof(detail))) /* else counted (api/denials.c) */
        record(rq, &ev);
}

/* ---- reading ---- */

/* A tenant's admin reads its tenant's log; the operator its own. */
static enum lair_err reader_log(struct http_req *rq, struct audit_log *l)
{
    const struct principal *p = http_principal(rq);
    if (p->role == ROLE_OPERATOR)
        return open_log(rq, false, l);
    if (p->role != ROLE_ADMIN || !p->tenant[0])
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden",
                         "the audit log is read with a tenant's admin key or the operator key");
    return open_log(rq, true, l);
}

static json_t *text(struct str s)
{
    char b[AUDIT_DETAIL_MAX + 1];
    size_t n = audit_clean(s, b, sizeof(b)); /* a tampered row may hold anything */
    return json_stringn(b, n);
}

static json_t *hex(const unsigned char h[AUDIT_HASH_LEN])
{
    char b[2 * AUDIT_HASH_LEN + 1];
    sodium_bin2hex(b, sizeof(b), h, AUDIT_HASH_LEN);
    return json_string(b);
}

static json_t *event_json(const struct audit_row *r)
{
    char when[32];
    audit_format_time(r->ts, when);
    return json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "seq",
                     (json_int_t)r->seq, "ts", (json_int_t)r->ts, "time", when, "actor",
                     text(r->actor), "action", text(r->action), "target", text(r->target),
                     "outcome", text(r->outcome), "detail", text(r->detail), "prev", hex(r->prev),
                     "hash", hex(r->hash));
}

struct listing {
    json_t *data;
    int64_t limit, n;
    bool more, oom;
};

static bool list_row(void *ctx, const struct audit_row *r)
{
    struct listing *ls = ctx;
    if (ls->n == ls->limit) {
        ls->more = true;
        return false;
    }
    json_t *ev = event_json(r);
    if (!ev || json_array_append_new(ls->data, ev)) {
        ls->oom = true;
        return false;
    }
    ls->n++;
    return true;
}

static enum lair_err query_int(struct http_req *rq, const char *name, int64_t min, int64_t max,
                               int64_t *out)
{
    const char *v = http_query(rq, name);
    if (!v)
        return LAIR_OK;
    char *end;
    long long n = strtoll(v, &end, 10);
    if (!*v || *end || n < min || n > max)
        return http_fail(rq, LAIR_EUNPROC, name, "invalid_value",
                         "'%s' must be an integer from %lld to %lld", name, (long long)min,
                         (long long)max);
    *out = n;
    return LAIR_OK;
}

enum lair_err api_audit_list(struct http_req *rq)
{
    int64_t since = 0, after = 0, limit = LIST_DEFAULT;
    const char *s = http_query(rq, "since");
    if (s && !audit_parse_time(s, &since))
        return http_fail(rq, LAIR_EUNPROC, "since", "invalid_value",
                         "'since' must be a unix time or an ISO 8601 date such as 2024-05-31 or "
                         "2024-05-31T12:00:00Z");
    enum lair_err e;
    if ((e = query_int(rq, "limit", 1, LIST_MAX, &limit)) ||
        (e = query_int(rq, "after", 0, INT64_MAX, &after)))
        return e;
    struct audit_log l;
    if ((e = reader_log(rq, &l)))
        return e;
    struct listing ls = {.data = json_array(), .limit = limit};
    if (!ls.data) {
        audit_log_release(&l);
        return LAIR_ENOMEM;
    }
    e = audit_store_list(l.db, since, after, limit + 1, list_row, &ls);
    audit_log_release(&l);
    if (!e && ls.oom)
        e = LAIR_ENOMEM;
    if (e) {
        json_decref(ls.data);
        return e;
    }
    return api_respond_json(
        rq, 200,
        json_pack("{s:s, s:o, s:b}", "object", "list", "data", ls.data, "has_more", ls.more));
}

enum lair_err api_audit_verify(struct http_req *rq)
{
    struct audit_log l;
    enum lair_err e = reader_log(rq, &l);
    if (e)
        return e;
    struct audit_report rep;
    e = audit_verify(&l, &rep);
    audit_log_release(&l);
    if (e)
        return e;
    if (!rep.ok)
        log_warn("audit", "%s log: broken at event %lld (%s)", l.scope, (long long)rep.broken_at,
                 audit_reason_name(rep.reason));
    return api_respond_json(rq, 200, audit_report_json(&rep));
}
