/* In-memory snapshots of knowledge bases' vectors. See vcache.h.
 *
 * One mutex covers the list and the reference counts; it is never held
 * while SQLite is read, so a slow load blocks no other search. Two searches
 * that miss at once may both load; the second to finish takes the first's
 * snapshot and frees its own. The list holds a handful of entries per
 * tenant: lookups are a linear walk. */
#include "store/vcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/kb.h"

#include "core/banned.h"

#define MODEL_MAX 128

struct snap {
    struct vec_set set; /* first: the public view */
    struct snap *next;  /* in the cache's list, when cached */
    const struct tenant_db *owner;
    int64_t kb_id, gen;
    char model[MODEL_MAX];
    size_t bytes;
    uint64_t last_used;
    int refs; /* users holding it (vcache_get without vcache_put) */
    bool cached;
    int64_t *ids; /* OWNED */
    float *vecs;  /* OWNED */
};

struct vcache {
    pthread_mutex_t mu;
    struct snap *list;
    size_t bytes, entries, budget;
    uint64_t clock, hits, loads, evictions;
};

static size_t snap_bytes(size_t n, size_t dim)
{
    return sizeof(struct snap) + n * (sizeof(int64_t) + dim * sizeof(float));
}

static void snap_free(struct snap *s)
{
    free(s->ids);
    free(s->vecs);
    free(s);
}

enum lair_err vcache_new(size_t budget_bytes, struct vcache **out)
{
    struct vcache *c = calloc(1, sizeof(*c));
    if (!c)
        return LAIR_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->budget = budget_bytes;
    *out = c;
    return LAIR_OK;
}

/* Takes s out of the list (under mu); frees it unless someone still uses it. */
static void unlink_snap(struct vcache *c, struct snap **pp)
{
    struct snap *s = *pp;
    *pp = s->next;
    s->next = NULL;
    s->cached = false;
    c->bytes -= s->bytes;
    c->entries--;
    if (s->refs == 0)
        snap_free(s);
}

void vcache_free(struct vcache *c)
{
    if (!c)
        return;
    while (c->list)
        unlink_snap(c, &c->list);
    pthread_mutex_destroy(&c->mu);
    free(c);
}


static bool same_key(const struct snap *s, const struct tenant_db *db, int64_t kb_id,
                     const char *model)
{
    return s->owner == db && s->kb_id == kb_id && !strcmp(s->model, model);
}

/* Where the key's snapshot is linked in the list (under mu), or NULL. */
static struct snap **find(struct vcache *c, const struct tenant_db *db, int64_t kb_id,
                          const char *model)
{
    for (struct snap **pp = &c->list; *pp; pp = &(*pp)->next)
        if (same_key(*pp, db, kb_id, model))
            return pp;
    return NULL;
}

/* Evicts least recently used snapshots until `need` more bytes fit (under mu). */
static void make_room(struct vcache *c, size_t need)
{
    while (c->list && c->bytes + need > c->budget) {
        struct snap **oldest = &c->list;
        for (struct snap **pp = &c->list; *pp; pp = &(*pp)->next)
            if ((*pp)->last_used < (*oldest)->last_used)
                oldest = pp;
        unlink_snap(c, oldest);
        c->evictions++;
    }
}

void vcache_set_budget(struct vcache *c, size_t bytes)
{
    pthread_mutex_lock(&c->mu);
    c->budget = bytes;
    make_room(c, 0);
    pthread_mutex_unlock(&c->mu);
}

static enum lair_err load(struct tenant_db *db, const char *kb, const char *model, int64_t kb_id,
                          int64_t gen, struct snap **out)
{
    struct snap *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    size_t n = 0, dim = 0;
    enum lair_err e = kb_id ? kb_vectors(db, kb, model, &s->ids, &s->vecs, &n, &dim) : LAIR_OK;
    if (e) {
        free(s);
        return e;
    }
    s->set = (struct vec_set){s->ids, s->vecs, n, dim};
    s->kb_id = kb_id;
    s->gen = gen;
    s->owner = db;
    snprintf(s->model, sizeof(s->model), "%s", model);
    s->bytes = snap_bytes(n, dim);
    *out = s;
    return LAIR_OK;
}

enum lair_err vcache_get(struct vcache *c, struct tenant_db *db, const char *kb,
                         const char *model, const struct vec_set **out)
{
    *out = NULL;
    if (!model)
        model = "";
    int64_t kb_id = 0, gen = 0;
    /* the stamp first: vectors read after it are at least as new */
    enum lair_err e = kb_vector_stamp(db, kb, &kb_id, &gen);
    if (e == LAIR_ENOTFOUND)
        kb_id = 0, e = LAIR_OK; /* no such base: an empty set, not cached */
    if (e)
        return e;
    bool cacheable = kb_id != 0 && strlen(model) < MODEL_MAX;
    pthread_mutex_lock(&c->mu);
    struct snap **pp = cacheable ? find(c, db, kb_id, model) : NULL, *s = NULL;
    if (pp && (*pp)->gen == gen) {
        s = *pp;
        s->refs++;
        s->last_used = ++c->clock;
        c->hits++;
        pthread_mutex_unlock(&c->mu);
        *out = &s->set;
        return LAIR_OK;
    }
    if (pp && (*pp)->gen < gen)
        unlink_snap(c, pp); /* stale */
    pthread_mutex_unlock(&c->mu);

    struct snap *fresh;
    if ((e = load(db, kb, model, kb_id, gen, &fresh)))
        return e;
    pthread_mutex_lock(&c->mu);
    c->loads++;
    pp = cacheable ? find(c, db, kb_id, model) : NULL;
    if (pp && (*pp)->gen == gen) { /* another search loaded the same meanwhile */
        snap_free(fresh);
        s = *pp;
    } else {
        s = fresh;
        if (pp && (*pp)->gen < gen)
            unlink_snap(c, pp);
        else if (pp)
            cacheable = false; /* a newer one is cached already: ours serves this search only */
        if (cacheable && s->bytes <= c->budget) {
            make_room(c, s->bytes);
            s->next = c->list;
            c->list = s;
            s->cached = true;
            c->bytes += s->bytes;
            c->entries++;
        }
    }
    s->refs++;
    s->last_used = ++c->clock;
    pthread_mutex_unlock(&c->mu);
    *out = &s->set;
    return LAIR_OK;
}

void vcache_put(struct vcache *c, const struct vec_set *set)
{
    if (!set)
        return;
    struct snap *s = (struct snap *)set; /* set is the first member */
    pthread_mutex_lock(&c->mu);
    bool last = --s->refs == 0 && !s->cached;
    pthread_mutex_unlock(&c->mu);
    if (last)
        snap_free(s);
}

void vcache_forget(struct vcache *c, const struct tenant_db *db)
{
    pthread_mutex_lock(&c->mu);
    for (struct snap **pp = &c->list; *pp;) {
        if ((*pp)->owner == db)
            unlink_snap(c, pp);
        else
            pp = &(*pp)->next;
    }
    pthread_mutex_unlock(&c->mu);
}

void vcache_get_stats(struct vcache *c, struct vcache_stats *out)
{
    pthread_mutex_lock(&c->mu);
    *out = (struct vcache_stats){.hits = c->hits,
                                 .loads = c->loads,
                                 .evictions = c->evictions,
                                 .bytes = c->bytes,
                                 .entries = c->entries,
                                 .budget = c->budget};
    pthread_mutex_unlock(&c->mu);
}
