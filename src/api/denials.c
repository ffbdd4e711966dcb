/* Refused requests in the audit log, aggregated (docs/audit.md,
 * "Refusals"): api_audit_denied asks api_refusal_note whether a refusal is
 * the first of its kind in its period (written at once) or one more of a
 * kind already written (counted). A flusher thread writes each kind's count
 * as one event when its period ends; api_refusals_stop writes the rest at
 * shutdown. The table itself is audit/refusals.c.
 *
 * Clients are named in the audit log by a pseudonymous token, a keyed hash
 * of their address (key derived from DATA/pepper, so stable across
 * restarts): the log is append-only and kept for good, an IP address is
 * personal data. The server's log, kept for a short time, says which
 * address a token stands for when it writes an aggregate. */
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "audit/audit.h"
#include "audit/refusals.h"
#include "core/log.h"
#include "core/banned.h"

struct refusal_flusher {
    struct app *app;
    struct refusals *table;
    int64_t period;
    size_t cap;
    unsigned char audit_key[AUDIT_KEY_LEN];
    unsigned char token_key[crypto_generichash_KEYBYTES];
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
};

/* A knob from the environment (docs/audit.md), def when unset or invalid. */
static int64_t env_knob(const char *name, int64_t def, int64_t min, int64_t max)
{
    const char *s = getenv(name);
    if (!s || !*s)
        return def;
    char *end;
    long long v = strtoll(s, &end, 10);
    if (*end || v < min || v > max) {
        log_warn("audit", "%s='%s' is not an integer from %lld to %lld; using %lld", name, s,
                 (long long)min, (long long)max, (long long)def);
        return def;
    }
    return v;
}

/* ---- writing ---- */

/* Appends ev to the log of tenant ("": the operator's); a tenant deleted
 * since keeps its event in the operator's log, as api/audit.c does. */
static void write_event(struct refusal_flusher *f, const char *tenant, const struct audit_event *ev)
{
    struct app *app = f->app;
    struct tenant_db *tdb = NULL;
    struct audit_event e = *ev;
    char detail[AUDIT_DETAIL_MAX + 1];
    if (tenant[0] && (!app->tenants || tenants_get(app->tenants, tenant, &tdb) != LAIR_OK)) {
        tdb = NULL;
        snprintf(detail, sizeof(detail), "%s tenant:%s", ev->detail, tenant);
        e.detail = detail;
    }
    struct audit_log l;
    if (tdb)
        audit_log_tenant(&l, tdb, f->audit_key);
    else
        audit_log_system(&l, app->sys, f->audit_key);
    audit_append(&l, &e, NULL); /* logs and counts its own failures */
    audit_log_release(&l);
    tenant_db_put(tdb);
}

static void write_aggregate(struct refusal_flusher *f, const struct refusal_agg *a)
{
    char first[32], last[32], detail[AUDIT_DETAIL_MAX + 1];
    audit_format_time(a->first, first);
    audit_format_time(a->last, last);
    if (a->other) {
        snprintf(detail, sizeof(detail),
                 "clients:other count:%llu 401:%llu 403:%llu 404:%llu 429:%llu first:%s last:%s",
                 (unsigned long long)a->count, (unsigned long long)a->by_status[0],
                 (unsigned long long)a->by_status[1], (unsigned long long)a->by_status[2],
                 (unsigned long long)a->by_status[3], first, last);
        struct audit_event ev = {.actor = "various",
                                 .action = "access.refused",
                                 .target = "route:*",
                                 .outcome = "refused",
                                 .detail = detail};
        write_event(f, "", &ev);
        log_warn("audit",
                 "%llu refusals from clients beyond the %zu followed one by one, between %s and %s "
                 "(a scan or a flood from many addresses?)",
                 (unsigned long long)a->count, f->cap - 1, first, last);
        return;
    }
    snprintf(detail, sizeof(detail), "%s%sclient:%s count:%llu first:%s last:%s", a->detail,
             a->detail[0] ? " " : "", a->client, (unsigned long long)a->count, first, last);
    struct audit_event ev = {.actor = a->actor,
                             .action = a->action,
                             .target = a->target,
                             .outcome = a->outcome,
                             .detail = detail};
    write_event(f, a->log, &ev);
    log_warn("audit",
             "%llu more refusals (%s %s %s, actor %s) from client %s (address %s) "
             "between %s and %s",
             (unsigned long long)a->count, a->action, a->target, a->outcome, a->actor, a->client,
             a->addr[0] ? a->addr : "unknown", first, last);
}

/* Writes the aggregates due at now (all of them when all). */
static enum lair_err flush(struct refusal_flusher *f, int64_t now, bool all)
{
    struct refusal_agg *v;
    size_t n;
    enum lair_err e = refusals_take(f->table, now, all, &v, &n);
    if (e) {
        log_error("audit", "cannot take the refusals to write: %s", lair_err_msg(e));
        return e;
    }
    for (size_t i = 0; i < n; i++)
        write_aggregate(f, &v[i]);
    free(v);
    return LAIR_OK;
}

static void wait_s(struct refusal_flusher *f, int64_t seconds)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += (time_t)seconds;
    pthread_cond_timedwait(&f->cv, &f->mu, &ts);
}

static void *flusher_main(void *arg)
{
    struct refusal_flusher *f = arg;
    pthread_mutex_lock(&f->mu);
    while (!f->stop) {
        int64_t now = (int64_t)time(NULL), end = refusals_next_end(f->table);
        if (end == INT64_MAX || end > now) {
            wait_s(f, end == INT64_MAX ? f->period : end - now);
            continue;
        }
        pthread_mutex_unlock(&f->mu);
        enum lair_err e = flush(f, now, false);
        pthread_mutex_lock(&f->mu);
        if (e && !f->stop)
            wait_s(f, 1); /* no memory: retry shortly rather than spin */
    }
    pthread_mutex_unlock(&f->mu);
    return NULL;
}

/* ---- lifecycle ---- */

enum lair_err api_refusals_start(struct app *app)
{
    struct refusal_flusher *f = calloc(1, sizeof(*f));
    if (!f)
        return LAIR_ENOMEM;
    f->app = app;
    f->period = env_knob("LIBREAIR_AUDIT_REFUSAL_PERIOD_S", REFUSALS_PERIOD_DEFAULT, 1, 86400);
    int64_t cap = env_knob("LIBREAIR_AUDIT_REFUSAL_KINDS", REFUSALS_CAP_DEFAULT, 2, 1 << 20);
    enum lair_err e = audit_key_load(app->data_dir, f->audit_key);
    f->cap = (size_t)cap;
    if (!e)
        e = refusals_new(f->cap, f->period, &f->table);
    if (e) {
        sodium_memzero(f->audit_key, sizeof(f->audit_key));
        free(f);
        return e;
    }
    static const unsigned char label[] = "LibreAIr audit client token v1";
    crypto_generichash(f->token_key, sizeof(f->token_key), label, sizeof(label), f->audit_key,
                       sizeof(f->audit_key));
    pthread_mutex_init(&f->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&f->thread, NULL, flusher_main, f) != 0) {
        pthread_cond_destroy(&f->cv);
        pthread_mutex_destroy(&f->mu);
        refusals_free(f->table);
        sodium_memzero(f, sizeof(*f));
        free(f);
        return LAIR_EINTERNAL;
    }
    app->refusals = f;
    return LAIR_OK;
}

void api_refusals_stop(struct app *app)
{
    struct refusal_flusher *f = app->refusals;
    if (!f)
        return;
    pthread_mutex_lock(&f->mu);
    f->stop = true;
    pthread_cond_signal(&f->cv);
    pthread_mutex_unlock(&f->mu);
    pthread_join(f->thread, NULL);
    flush(f, (int64_t)time(NULL), true);
    app->refusals = NULL;
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
    refusals_free(f->table);
    sodium_memzero(f, sizeof(*f));
    free(f);
}

/* ---- for api_audit_denied ---- */

/* The client's pseudonymous token (12 hex digits) and address. */
static void client_of(struct refusal_flusher *f, struct http_req *rq, char token[13], char addr[64])
{
    if (!http_client_addr(rq, addr, 64)) {
        addr[0] = 0;
        snprintf(token, 13, "unknown");
        return;
    }
    unsigned char h[crypto_generichash_BYTES_MIN];
    crypto_generichash(h, sizeof(h), (const unsigned char *)addr, strlen(addr), f->token_key,
                       sizeof(f->token_key));
    sodium_bin2hex(token, 13, h, 6);
}

bool api_refusal_note(struct http_req *rq, const struct audit_event *ev, char *detail, size_t cap)
{
    struct app *app = http_app(rq);
    struct refusal_flusher *f = app ? app->refusals : NULL;
    if (!f)
        return true;
    const struct principal *p = http_authenticated(rq) ? http_principal(rq) : NULL;
    char token[13], addr[64];
    client_of(f, rq, token, addr);
    struct refusal x = {.log = p && p->tenant[0] ? p->tenant : "",
                        .actor = ev->actor,
                        .client = token,
                        .action = ev->action,
                        .target = ev->target,
                        .outcome = ev->outcome,
                        .detail = ev->detail,
                        .addr = addr};
    bool first = refusals_note(f->table, &x, (int64_t)time(NULL));
    if (first) {
        size_t len = strlen(detail);
        snprintf(detail + len, cap - len, "%sclient:%s", len ? " " : "", token);
    }
    return first;
}

void api_refusals_metrics(struct app *app, struct buf *out)
{
    struct refusal_flusher *f = app->refusals;
    if (!f)
        return;
    struct refusals_stats s;
    refusals_get_stats(f->table, &s);
    buf_printf(out,
               "# TYPE libreair_audit_refusals_total counter\n"
               "libreair_audit_refusals_total %llu\n"
               "# TYPE libreair_audit_refusals_aggregated_total counter\n"
               "libreair_audit_refusals_aggregated_total %llu\n"
               "# TYPE libreair_audit_refusals_other_clients_total counter\n"
               "libreair_audit_refusals_other_clients_total %llu\n"
               "# TYPE libreair_audit_refusal_kinds gauge\n"
               "libreair_audit_refusal_kinds %zu\n"
               "# TYPE libreair_audit_refusal_kinds_max gauge\n"
               "libreair_audit_refusal_kinds_max %zu\n",
               (unsigned long long)s.noted, (unsigned long long)s.counted,
               (unsigned long long)s.overflowed, s.kinds, s.cap);
}
