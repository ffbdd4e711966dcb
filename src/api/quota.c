/* Quotas for the generation routes (R_QUOTA): requests per minute and tokens
 * per day, per key (from the key's row, read at authentication) and per
 * tenant (from the tenant's row in system.db, cached while
 * sysdb_tenants_version says no tenant row changed, so a change made
 * through the API or the CLI rules the very next request).
 * docs/quotas.md is the user's view.
 *
 * Requests per minute are token buckets kept in memory: a bucket holds up to
 * `rpm` requests and refills at rpm per window (60 s), so a key may burst up
 * to its limit and then goes at the limit's pace; Retry-After is the exact
 * time until the bucket holds one request again. A bucket left alone for one
 * window is full, the same as a new one, so idle buckets are dropped without
 * changing any outcome: memory follows the keys active in the last minute.
 *
 * Tokens per day are counted in usage_daily (store/conversations.h) by
 * api_usage_record, with today's counters cached here. One mutex (usage_mu)
 * covers both the database write and the cached counter, so that a counter
 * loaded from the database never misses or doubles a write in flight. The
 * request that crosses the daily quota is served (its size is not known in
 * advance); the next one is refused until UTC midnight.
 *
 * Operator keys have no quota. */
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/conversations_api.h"
#include "core/log.h"
#include "store/conversations.h"
#include "core/banned.h"

#define N_BUCKETS 256
#define LIMITS_TTL_S 60.0   /* unused tenant limits are dropped (re-read on demand) */
#define TOKENS_IDLE_S 600.0 /* unused daily counters are dropped (reloaded on demand) */
#define SWEEP_EVERY_S 10.0
#define DEFAULT_WINDOW_S 60.0

struct qentry {
    struct qentry *next;
    double last_used;            /* monotonic seconds */
    char name[2 + SLUG_MAX + 1]; /* "k:<key id>" or "t:<tenant>" */
    double level, at;            /* rates: requests in the bucket, at time `at` (0 = new) */
    int64_t rpm, tpd;            /* limits: the tenant's row, */
    double fetched;              /* read at `fetched` */
    uint64_t version;            /* sysdb_tenants_version when read */
    int64_t day, tokens;         /* tokens: used on UTC day `day` (-1 = not loaded) */
};

struct qtable {
    struct qentry *b[N_BUCKETS];
    size_t n;
    double idle_max, last_sweep;
};

struct quota_state {
    pthread_mutex_t mu;       /* rates and limits */
    pthread_mutex_t usage_mu; /* tokens: held across usage_daily reads and writes */
    double window_s;
    struct qtable rates, limits, tokens;
};

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- a small hash table of named entries ---- */

static size_t hash_name(const char *s)
{
    size_t h = 1469598103934665603u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211u;
    return h % N_BUCKETS;
}

static void table_free(struct qtable *t)
{
    for (size_t i = 0; i < N_BUCKETS; i++)
        for (struct qentry *x = t->b[i], *next; x; x = next) {
            next = x->next;
            free(x);
        }
}

/* Drops entries unused for idle_max seconds, at most every SWEEP_EVERY_S. */
static void table_sweep(struct qtable *t, double now)
{
    if (now - t->last_sweep < SWEEP_EVERY_S)
        return;
    t->last_sweep = now;
    for (size_t i = 0; i < N_BUCKETS; i++)
        for (struct qentry **pp = &t->b[i]; *pp;) {
            struct qentry *x = *pp;
            if (now - x->last_used >= t->idle_max) {
                *pp = x->next;
                free(x);
                t->n--;
            } else {
                pp = &x->next;
            }
        }
}

/* The entry prefix+name, created when missing. NULL when out of memory. */
static struct qentry *table_get(struct qtable *t, char prefix, const char *name, double now)
{
    table_sweep(t, now);
    char key[sizeof(((struct qentry *)0)->name)];
    snprintf(key, sizeof(key), "%c:%s", prefix, name);
    size_t h = hash_name(key);
    for (struct qentry *x = t->b[h]; x; x = x->next)
        if (!strcmp(x->name, key)) {
            x->last_used = now;
            return x;
        }
    struct qentry *x = calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    memcpy(x->name, key, sizeof(key));
    x->day = -1;
    x->last_used = now;
    x->next = t->b[h];
    t->b[h] = x;
    t->n++;
    return x;
}

static struct qentry *table_find(struct qtable *t, char prefix, const char *name)
{
    char key[sizeof(((struct qentry *)0)->name)];
    snprintf(key, sizeof(key), "%c:%s", prefix, name);
    for (struct qentry *x = t->b[hash_name(key)]; x; x = x->next)
        if (!strcmp(x->name, key))
            return x;
    return NULL;
}

/* ---- lifecycle ---- */

/* LIBREAIR_QUOTA_WINDOW_S (a test knob, docs/quotas.md): the length of the
 * "minute" of requests-per-minute limits, in seconds. */
static double window_from_env(void)
{
    const char *s = getenv("LIBREAIR_QUOTA_WINDOW_S");
    if (!s || !*s)
        return DEFAULT_WINDOW_S;
    char *end;
    double w = strtod(s, &end);
    if (*end || !(w >= 0.01 && w <= 86400)) {
        log_warn("quota", "LIBREAIR_QUOTA_WINDOW_S='%s' is not 0.01 to 86400 seconds; using 60", s);
        return DEFAULT_WINDOW_S;
    }
    return w;
}

struct quota_state *quota_state_new(void)
{
    struct quota_state *q = calloc(1, sizeof(*q));
    if (!q)
        return NULL;
    pthread_mutex_init(&q->mu, NULL);
    pthread_mutex_init(&q->usage_mu, NULL);
    q->window_s = window_from_env();
    q->rates.idle_max = q->window_s; /* a bucket idle for a window is full: same as new */
    q->limits.idle_max = LIMITS_TTL_S;
    q->tokens.idle_max = TOKENS_IDLE_S;
    return q;
}

void quota_state_free(struct quota_state *q)
{
    if (!q)
        return;
    table_free(&q->rates);
    table_free(&q->limits);
    table_free(&q->tokens);
    pthread_mutex_destroy(&q->usage_mu);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

/* ---- tenant limits, cached ---- */

static enum lair_err tenant_limits(struct quota_state *q, struct app *app, struct http_req *rq,
                                   const char *slug, int64_t *rpm, int64_t *tpd)
{
    double now = mono_s();
    uint64_t version = sysdb_tenants_version(app->sys);
    pthread_mutex_lock(&q->mu);
    struct qentry *x = table_find(&q->limits, 't', slug);
    bool fresh = x && x->version == version && now - x->fetched < LIMITS_TTL_S;
    if (fresh) {
        *rpm = x->rpm;
        *tpd = x->tpd;
    }
    pthread_mutex_unlock(&q->mu);
    if (fresh)
        return LAIR_OK;
    struct tenant_row row;
    enum lair_err e = sysdb_tenant_get(app->sys, slug, &row);
    if (e == LAIR_ENOTFOUND) /* deleted since the key was checked */
        return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                         "invalid, revoked or expired API key");
    if (e)
        return e;
    *rpm = row.rpm_limit;
    *tpd = row.tokens_per_day;
    pthread_mutex_lock(&q->mu);
    x = table_get(&q->limits, 't', slug, now);
    if (x) {
        x->rpm = row.rpm_limit;
        x->tpd = row.tokens_per_day;
        x->fetched = now;
        x->version = version;
    }
    pthread_mutex_unlock(&q->mu);
    return LAIR_OK;
}

/* ---- requests per minute ---- */

/* Refills the bucket to now; returns the seconds until it holds one request
 * (0: one is there). */
static double bucket_wait(struct qentry *x, int64_t limit, double window, double now)
{
    double cap = (double)limit, rate = cap / window;
    if (x->at <= 0) {
        x->level = cap;
    } else {
        x->level += (now - x->at) * rate;
        if (x->level > cap)
            x->level = cap;
    }
    x->at = now;
    return x->level >= 1 - 1e-9 ? 0 : (1 - x->level) / rate;
}

static void window_words(double window, char *out, size_t n)
{
    if (window == 60)
        snprintf(out, n, "per minute");
    else
        snprintf(out, n, "per %g s", window);
}

static int retry_seconds(double wait)
{
    double s = ceil(wait);
    return s < 1 ? 1 : s > 86400 ? 86400 : (int)s;
}

static enum lair_err check_rate(struct quota_state *q, struct http_req *rq,
                                const struct principal *p, int64_t tenant_rpm)
{
    double now = mono_s(), wk = 0, wt = 0;
    bool oom = false;
    pthread_mutex_lock(&q->mu);
    struct qentry *k = p->rpm_limit > 0 ? table_get(&q->rates, 'k', p->key_id, now) : NULL;
    struct qentry *t = tenant_rpm > 0 ? table_get(&q->rates, 't', p->tenant, now) : NULL;
    if ((p->rpm_limit > 0 && !k) || (tenant_rpm > 0 && !t)) {
        oom = true;
    } else {
        if (k)
            wk = bucket_wait(k, p->rpm_limit, q->window_s, now);
        if (t)
            wt = bucket_wait(t, tenant_rpm, q->window_s, now);
        if (wk == 0 && wt == 0) { /* both admit: take one request from each */
            if (k)
                k->level -= 1;
            if (t)
                t->level -= 1;
        }
    }
    pthread_mutex_unlock(&q->mu);
    if (oom)
        return LAIR_ENOMEM;
    if (wk == 0 && wt == 0)
        return LAIR_OK;
    char per[48];
    window_words(q->window_s, per, sizeof(per));
    http_retry_after(rq, retry_seconds(wk > wt ? wk : wt));
    if (wk >= wt)
        return http_fail(rq, LAIR_ERATE, NULL, "rate_limit_exceeded",
                         "rate limit of %lld requests %s for this key reached",
                         (long long)p->rpm_limit, per);
    return http_fail(rq, LAIR_ERATE, NULL, "rate_limit_exceeded",
                     "rate limit of %lld requests %s for tenant %s reached", (long long)tenant_rpm,
                     per, p->tenant);
}

/* ---- tokens per day ---- */

static int64_t utc_day(time_t t)
{
    return (int64_t)t / 86400;
}

/* Today's counter of prefix:name, loaded from usage_daily when needed.
 * Under usage_mu. */
/* The tenant's database, opened when a counter must be loaded. */
struct usage_db {
    struct tenants *tenants;
    const char *tenant;
    struct tenant_db *db; /* NULL until needed; put back by the caller */
};

static enum lair_err day_tokens(struct quota_state *q, struct usage_db *u, char prefix,
                                const char *name, const char *usage_key, int64_t day,
                                const char *daystr, int64_t *out)
{
    struct qentry *x = table_get(&q->tokens, prefix, name, mono_s());
    if (!x)
        return LAIR_ENOMEM;
    if (x->day != day) {
        int64_t requests, tokens;
        if (!u->db && tenants_get(u->tenants, u->tenant, &u->db) != LAIR_OK)
            return LAIR_EAUTH;
        enum lair_err e = conv_usage_get(u->db, daystr, usage_key, &requests, &tokens);
        if (e)
            return e;
        x->day = day;
        x->tokens = tokens;
    }
    *out = x->tokens;
    return LAIR_OK;
}

static enum lair_err check_tokens(struct quota_state *q, struct app *app, struct http_req *rq,
                                  const struct principal *p, int64_t tenant_tpd)
{
    time_t now = time(NULL);
    int64_t day = utc_day(now), used_k = 0, used_t = 0;
    char daystr[11];
    conv_usage_day(now, daystr);
    /* p's tenant, as its key reaches it (p may be the widget's principal,
     * which authenticated nothing on rq) */
    struct usage_db u = {.tenants = app->tenants, .tenant = p->tenant};
    enum lair_err e = LAIR_OK;
    pthread_mutex_lock(&q->usage_mu);
    if (p->tokens_per_day > 0)
        e = day_tokens(q, &u, 'k', p->key_id, p->key_id, day, daystr, &used_k);
    if (!e && tenant_tpd > 0)
        e = day_tokens(q, &u, 't', p->tenant, CONV_USAGE_TENANT, day, daystr, &used_t);
    pthread_mutex_unlock(&q->usage_mu);
    tenant_db_put(u.db);
    if (e == LAIR_EAUTH) /* the tenant is being deleted */
        return http_fail(rq, e, NULL, "invalid_api_key", "invalid, revoked or expired API key");
    if (e)
        return e;
    bool key_out = p->tokens_per_day > 0 && used_k >= p->tokens_per_day;
    bool tenant_out = tenant_tpd > 0 && used_t >= tenant_tpd;
    if (!key_out && !tenant_out)
        return LAIR_OK;
    http_retry_after(rq, retry_seconds((double)(86400 - now % 86400)));
    if (key_out)
        return http_fail(rq, LAIR_ERATE, NULL, "daily_quota_exceeded",
                         "daily token quota of %lld tokens for this key used up",
                         (long long)p->tokens_per_day);
    return http_fail(rq, LAIR_ERATE, NULL, "daily_quota_exceeded",
                     "daily token quota of %lld tokens for tenant %s used up",
                     (long long)tenant_tpd, p->tenant);
}

/* ---- the hooks ---- */

enum lair_err api_admit_as(struct app *app, struct http_req *rq, const struct principal *p)
{
    struct quota_state *q = app->quotas;
    if (!q || p->role == ROLE_OPERATOR || !p->tenant[0])
        return LAIR_OK;
    int64_t rpm = 0, tpd = 0;
    enum lair_err e = tenant_limits(q, app, rq, p->tenant, &rpm, &tpd);
    /* tokens first: a request refused for its daily quota takes no request
     * from the per-minute buckets */
    if (!e && (p->tokens_per_day > 0 || tpd > 0))
        e = check_tokens(q, app, rq, p, tpd);
    if (!e && (p->rpm_limit > 0 || rpm > 0))
        e = check_rate(q, rq, p, rpm);
    return e;
}

enum lair_err api_admit(void *app, struct http_req *rq)
{
    return api_admit_as(app, rq, http_principal(rq));
}

void api_usage_add(struct app *app, const struct principal *p, int tokens)
{
    struct quota_state *q = app->quotas;
    if (!q || p->role == ROLE_OPERATOR || !p->tenant[0])
        return;
    if (tokens < 0)
        tokens = 0;
    time_t now = time(NULL);
    int64_t day = utc_day(now);
    char daystr[11];
    conv_usage_day(now, daystr);
    pthread_mutex_lock(&q->usage_mu);
    struct tenant_db *db;
    enum lair_err e = tenants_get(app->tenants, p->tenant, &db);
    if (!e) {
        e = conv_usage_add(db, daystr, p->key_id, 1, tokens);
        tenant_db_put(db);
    }
    if (!e) {
        struct qentry *k = table_find(&q->tokens, 'k', p->key_id);
        struct qentry *t = table_find(&q->tokens, 't', p->tenant);
        if (k && k->day == day)
            k->tokens += tokens;
        if (t && t->day == day)
            t->tokens += tokens;
    } else if (e != LAIR_ENOTFOUND) { /* ENOTFOUND: the tenant was deleted meanwhile */
        log_warn("quota", "usage of key %s not recorded: %s", p->key_id, lair_err_msg(e));
    }
    pthread_mutex_unlock(&q->usage_mu);
}

void api_usage_record(struct http_req *rq, int tokens)
{
    api_usage_add(http_app(rq), http_principal(rq), tokens);
}
