/* The table of refusals being counted (refusals.h): a fixed array of kinds
 * scanned in order (each entry's hash compared first), one mutex, no
 * allocation after refusals_new. */
#include "audit/refusals.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct kind {
    uint64_t hash;
    struct refusal_agg a;
};

struct refusals {
    pthread_mutex_t mu;
    int64_t period;
    size_t cap, n; /* kinds: cap - 1 slots, the last one is "other" */
    struct kind *kinds;
    struct refusal_agg other;
    bool other_open; /* other holds refusals */
    struct refusals_stats stats;
};

enum lair_err refusals_new(size_t cap, int64_t period, struct refusals **out)
{
    *out = NULL;
    if (cap < 2 || period < 1)
        return LAIR_EINVAL;
    struct refusals *r = calloc(1, sizeof(*r));
    if (!r)
        return LAIR_ENOMEM;
    r->kinds = calloc(cap - 1, sizeof(*r->kinds));
    if (!r->kinds) {
        free(r);
        return LAIR_ENOMEM;
    }
    pthread_mutex_init(&r->mu, NULL);
    r->cap = cap;
    r->period = period;
    *out = r;
    return LAIR_OK;
}

void refusals_free(struct refusals *r)
{
    if (!r)
        return;
    pthread_mutex_destroy(&r->mu);
    free(r->kinds);
    free(r);
}

static void set(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* The kind of x as stored (cut to the field sizes), and its hash. */
static uint64_t kind_of(const struct refusal *x, struct refusal_agg *k)
{
    memset(k, 0, sizeof(*k));
    set(k->log, sizeof(k->log), x->log);
    set(k->actor, sizeof(k->actor), x->actor);
    set(k->client, sizeof(k->client), x->client);
    set(k->action, sizeof(k->action), x->action);
    set(k->target, sizeof(k->target), x->target);
    set(k->outcome, sizeof(k->outcome), x->outcome);
    set(k->detail, sizeof(k->detail), x->detail);
    const char *fields[] = {k->log,    k->actor,   k->client, k->action,
                            k->target, k->outcome, k->detail};
    uint64_t h = 1469598103934665603u; /* FNV-1a, fields separated by a 0 byte */
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        for (const char *p = fields[i]; *p; p++)
            h = (h ^ (unsigned char)*p) * 1099511628211u;
        h *= 1099511628211u;
    }
    return h;
}

static bool same_kind(const struct refusal_agg *a, const struct refusal_agg *b)
{
    return !strcmp(a->log, b->log) && !strcmp(a->actor, b->actor) &&
           !strcmp(a->client, b->client) && !strcmp(a->action, b->action) &&
           !strcmp(a->target, b->target) && !strcmp(a->outcome, b->outcome) &&
           !strcmp(a->detail, b->detail);
}

static void count(struct refusal_agg *a, int64_t now)
{
    if (!a->count)
        a->first = now;
    a->count++;
    a->last = now;
}

static int status_slot(const char *outcome)
{
    static const char *const st[] = {"401", "403", "404", "429"};
    for (int i = 0; i < 4; i++)
        if (!strcmp(outcome, st[i]))
            return i;
    return -1;
}

bool refusals_note(struct refusals *r, const struct refusal *x, int64_t now)
{
    struct refusal_agg k;
    uint64_t h = kind_of(x, &k);
    bool first = false;
    pthread_mutex_lock(&r->mu);
    r->stats.noted++;
    struct kind *found = NULL;
    for (size_t i = 0; i < r->n && !found; i++)
        if (r->kinds[i].hash == h && same_kind(&r->kinds[i].a, &k))
            found = &r->kinds[i];
    if (found) {
        count(&found->a, now);
        set(found->a.addr, sizeof(found->a.addr), x->addr); /* the latest, for the log line */
        r->stats.counted++;
    } else if (r->n < r->cap - 1) {
        struct kind *nk = &r->kinds[r->n++];
        nk->hash = h;
        nk->a = k;
        set(nk->a.addr, sizeof(nk->a.addr), x->addr);
        nk->a.started = now;
        r->stats.written++;
        first = true;
    } else {
        /* table full: no event and no memory per new client */
        if (!r->other_open) {
            memset(&r->other, 0, sizeof(r->other));
            r->other.other = true;
            r->other.started = now;
            r->other_open = true;
        }
        count(&r->other, now);
        int s = status_slot(k.outcome);
        if (s >= 0)
            r->other.by_status[s]++;
        r->stats.counted++;
        r->stats.overflowed++;
    }
    pthread_mutex_unlock(&r->mu);
    return first;
}

enum lair_err refusals_take(struct refusals *r, int64_t now, bool all, struct refusal_agg **out,
                            size_t *n)
{
    *out = NULL;
    *n = 0;
    pthread_mutex_lock(&r->mu);
    size_t due = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->kinds[i].a.count && (all || now >= r->kinds[i].a.started + r->period))
            due++;
    bool other_due = r->other_open && (all || now >= r->other.started + r->period);
    due += other_due;
    struct refusal_agg *v = due ? malloc(due * sizeof(*v)) : NULL;
    if (due && !v) {
        pthread_mutex_unlock(&r->mu);
        return LAIR_ENOMEM; /* nothing taken: tried again at the next tick */
    }
    size_t k = 0;
    for (size_t i = 0; i < r->n;) {
        struct kind *x = &r->kinds[i];
        if (!all && now < x->a.started + r->period) {
            i++;
            continue;
        }
        if (x->a.count)
            v[k++] = x->a;
        r->kinds[i] = r->kinds[--r->n]; /* order does not matter */
    }
    if (other_due) {
        v[k++] = r->other;
        r->other_open = false;
    }
    pthread_mutex_unlock(&r->mu);
    *out = v;
    *n = k;
    return LAIR_OK;
}

int64_t refusals_next_end(struct refusals *r)
{
    int64_t end = INT64_MAX;
    pthread_mutex_lock(&r->mu);
    for (size_t i = 0; i < r->n; i++)
        if (r->kinds[i].a.started + r->period < end)
            end = r->kinds[i].a.started + r->period;
    if (r->other_open && r->other.started + r->period < end)
        end = r->other.started + r->period;
    pthread_mutex_unlock(&r->mu);
    return end;
}

void refusals_get_stats(struct refusals *r, struct refusals_stats *out)
{
    pthread_mutex_lock(&r->mu);
    *out = r->stats;
    out->kinds = r->n + (r->other_open ? 1 : 0);
    out->cap = r->cap;
    pthread_mutex_unlock(&r->mu);
}
