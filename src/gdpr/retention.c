/* Retention purges: per tenant, per assistant, and the background job. */
#include "gdpr/retention.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "gdpr/erase.h"
#include "store/assistants.h"
#include "core/banned.h"

/* Pseudonyms stored for a conversation that never came to exist (its first
 * exchange failed) are dropped after this long. */
#define ORPHAN_GRACE GDPR_DAY
#define MAX_TENANTS 100000

int64_t gdpr_now(void)
{
    const char *v = getenv("LIBREAIR_GDPR_TEST_NOW");
    if (v && *v) {
        char *end;
        long long t = strtoll(v, &end, 10);
        if (!*end && t > 0)
            return t;
    }
    return (int64_t)time(NULL);
}

unsigned gdpr_purge_interval(void)
{
    const char *v = getenv("LIBREAIR_PURGE_INTERVAL");
    if (v && *v) {
        char *end;
        long s = strtol(v, &end, 10);
        if (!*end && s >= 0 && s <= 366L * GDPR_DAY)
            return (unsigned)s;
        log_warn("gdpr", "LIBREAIR_PURGE_INTERVAL='%s' is not 0 to 31622400 seconds; using %d", v,
                 GDPR_PURGE_INTERVAL_DEFAULT);
    }
    return GDPR_PURGE_INTERVAL_DEFAULT;
}

/* ---- one tenant ---- */

struct slugs {
    char (*v)[SLUG_MAX + 1];
    size_t n, cap;
    bool oom;
};

static void add_slug(void *arg, const struct assistant_info *a)
{
    struct slugs *s = arg;
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        void *v = realloc(s->v, cap * sizeof(*s->v));
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], SLUG_MAX + 1, "%s", a->slug);
}

/* retention_days of the published version of slug; 0 when unset. */
static int64_t assistant_days(struct tenant_db *db, const char *slug)
{
    char *spec = NULL;
    int got;
    if (assistants_get(db, slug, ASSISTANT_PUBLISHED, &spec, &got, NULL))
        return 0;
    json_t *v = json_loads(spec, 0, NULL);
    free(spec);
    json_t *d = json_object_get(v, "retention_days");
    int64_t days = json_is_integer(d) && json_integer_value(d) > 0 ? json_integer_value(d) : 0;
    json_decref(v);
    return days;
}

/* The assistants with a retention of their own. OUT: *rules OWNED (free),
 * slugs in *names OWNED (free). */
static enum lair_err build_rules(struct tenant_db *db, int64_t now, struct gdpr_rule **rules,
                                 size_t *n, struct slugs *names)
{
    *rules = NULL;
    *n = 0;
    enum lair_err e = assistants_list(db, true, add_slug, names);
    if (!e && names->oom)
        e = LAIR_ENOMEM;
    if (e || !names->n)
        return e;
    struct gdpr_rule *r = calloc(names->n, sizeof(*r));
    if (!r)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < names->n; i++) {
        int64_t days = assistant_days(db, names->v[i]);
        if (days > 0)
            r[(*n)++] = (struct gdpr_rule){names->v[i], now - days * GDPR_DAY};
    }
    *rules = r;
    return LAIR_OK;
}

static void audit_purge(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                        const struct gdpr_counts *c)
{
    char target[SLUG_MAX + 8], detail[128];
    snprintf(target, sizeof(target), "tenant:%s", tenant_db_slug(db));
    snprintf(detail, sizeof(detail), "conversations:%lld messages:%lld pseudonyms:%lld",
             (long long)c->conversations, (long long)c->messages, (long long)c->pseudonyms);
    struct audit_log l;
    audit_log_tenant(&l, db, key);
    struct audit_event ev = {.actor = "retention",
                             .action = "gdpr.purge",
                             .target = target,
                             .outcome = "ok",
                             .detail = detail};
    audit_append(&l, &ev, NULL); /* failures are logged and counted by audit_append */
    audit_log_release(&l);
}

enum lair_err gdpr_purge_tenant(struct tenant_db *db, int64_t tenant_days,
                                const unsigned char key[AUDIT_KEY_LEN], int64_t now,
                                struct gdpr_purge_report *out)
{
    memset(out, 0, sizeof(*out));
    snprintf(out->tenant, sizeof(out->tenant), "%s", tenant_db_slug(db));
    enum lair_err e = gdpr_recover(db, key, &out->erasures_resumed, &out->scrubbed);
    struct gdpr_rule *rules = NULL;
    size_t n = 0;
    struct slugs names = {0};
    if (!e)
        e = build_rules(db, now, &rules, &n, &names);
    if (!e)
        e = gdpr_store_purge(db, rules, n, tenant_days > 0 ? now - tenant_days * GDPR_DAY : 0,
                             now - ORPHAN_GRACE, &out->counts);
    out->rules = (int)n;
    free(rules);
    free(names.v);
    const struct gdpr_counts *c = &out->counts;
    if (!e && (c->conversations || c->messages || c->pseudonyms))
        audit_purge(db, key, c);
    bool needed = false;
    if (!e && !(e = gdpr_store_scrub_needed(db, &needed)) && needed) {
        e = gdpr_store_scrub(db);
        out->scrubbed |= e == LAIR_OK;
        /* a reader holds the database, or no room for the copy: the mark
         * stays and the next run tries again (as gdpr_recover does) */
        if (e == LAIR_EBUSY || e == LAIR_ESTORAGE)
            e = LAIR_OK;
    }
    out->err = e;
    return e;
}

/* ---- every tenant ---- */

enum lair_err gdpr_purge_all(struct sysdb *sys, struct tenants *tenants, const char *data_dir,
                             int64_t now, void (*fn)(void *ctx, const struct gdpr_purge_report *r),
                             void *ctx)
{
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e = audit_key_load(data_dir, key);
    if (e) {
        log_error("gdpr", "cannot read the audit key from %s/pepper: %s", data_dir,
                  lair_err_msg(e));
        return e;
    }
    size_t cap = 64, n = 0;
    struct tenant_row *rows = NULL;
    for (;;) { /* grow until the list fits */
        free(rows);
        if (!(rows = malloc(cap * sizeof(*rows)))) {
            e = LAIR_ENOMEM;
            break;
        }
        if ((e = sysdb_tenant_list(sys, rows, cap, &n)) || n < cap || cap >= MAX_TENANTS)
            break;
        cap *= 4;
    }
    enum lair_err first = e;
    for (size_t i = 0; !e && i < n; i++) {
        struct gdpr_purge_report r = {0};
        struct tenant_db *db;
        snprintf(r.tenant, sizeof(r.tenant), "%s", rows[i].slug);
        r.err = tenants_get(tenants, rows[i].slug, &db);
        if (r.err == LAIR_ENOTFOUND) /* deleted meanwhile */
            continue;
        if (!r.err) {
            gdpr_purge_tenant(db, rows[i].retention_days, key, now, &r);
            tenant_db_put(db);
        }
        if (r.err && !first)
            first = r.err;
        if (fn)
            fn(ctx, &r);
    }
    free(rows);
    sodium_memzero(key, sizeof(key));
    return first;
}

/* ---- background job ---- */

struct gdpr_purger {
    struct sysdb *sys;
    struct tenants *tenants;
    const char *data_dir;
    unsigned interval_s;
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t wake;
    bool stop;
};

static void log_report(void *ctx, const struct gdpr_purge_report *r)
{
    (void)ctx;
    if (r->err)
        log_error("gdpr", "retention: tenant %s: %s", r->tenant, lair_err_msg(r->err));
    else if (r->counts.conversations || r->erasures_resumed || r->counts.pseudonyms)
        log_info("gdpr",
                 "retention: tenant %s: %lld conversations (%lld messages, %lld pseudonyms) "
                 "deleted, %d interrupted erasures completed%s",
                 r->tenant, (long long)r->counts.conversations, (long long)r->counts.messages,
                 (long long)r->counts.pseudonyms, r->erasures_resumed,
                 r->scrubbed ? ", database scrubbed" : "");
}

static void *purge_loop(void *arg)
{
    struct gdpr_purger *p = arg;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        pthread_mutex_unlock(&p->mu);
        gdpr_purge_all(p->sys, p->tenants, p->data_dir, gdpr_now(), log_report, NULL);
        pthread_mutex_lock(&p->mu);
        if (p->stop || p->interval_s == 0)
            break;
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += p->interval_s;
        while (!p->stop && pthread_cond_timedwait(&p->wake, &p->mu, &until) != ETIMEDOUT)
            ;
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

enum lair_err gdpr_purge_start(struct sysdb *sys, struct tenants *tenants, const char *data_dir,
                               struct gdpr_purger **out)
{
    *out = NULL;
    struct gdpr_purger *p = calloc(1, sizeof(*p));
    if (!p)
        return LAIR_ENOMEM;
    *p = (struct gdpr_purger){
        .sys = sys, .tenants = tenants, .data_dir = data_dir, .interval_s = gdpr_purge_interval()};
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->wake, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, purge_loop, p) != 0) {
        pthread_cond_destroy(&p->wake);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return LAIR_ENOMEM;
    }
    if (p->interval_s)
        log_info("gdpr", "retention purge every %u s", p->interval_s);
    else
        log_info("gdpr", "retention purge once, at start (LIBREAIR_PURGE_INTERVAL=0)");
    *out = p;
    return LAIR_OK;
}

void gdpr_purge_stop(struct gdpr_purger *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
