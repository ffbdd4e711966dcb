/* The host-memory prompt cache (see prompt_cache.h): a small array of
 * entries scanned linearly. A model holds at most a few hundred of them (each
 * is a prefix of thousands of tokens worth megabytes), and a scan compares
 * tokens only up to the first difference, so a lookup costs microseconds next
 * to the milliseconds a restore takes. */
#include "llm/prompt_cache.h"

#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct pcache {
    struct pcache_entry **v;
    size_t n, cap_slots;
    size_t bytes, cap;
    uint64_t clock;
    uint64_t saves, restores, evictions;
};

static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb)
{
    int n = na < nb ? na : nb, i = 0;
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

int pcache_tag_limit(const struct pcache_tag *a, const struct pcache_tag *b)
{
    if (memcmp(a->scope, b->scope, sizeof(a->scope)) != 0)
        return 0;
    if (memcmp(a->owner, b->owner, sizeof(a->owner)) == 0)
        return INT_MAX;
    return a->n_shared < b->n_shared ? a->n_shared : b->n_shared;
}

static bool same_tag(const struct pcache_tag *a, const struct pcache_tag *b)
{
    return a->n_shared == b->n_shared && memcmp(a->scope, b->scope, sizeof(a->scope)) == 0 &&
           memcmp(a->owner, b->owner, sizeof(a->owner)) == 0;
}

/* The prefix of toks that entry e holds and tag may reuse. The tag is
 * checked first: an entry of another scope is not even compared with. */
static int reusable(const struct pcache_entry *e, const struct pcache_tag *tag,
                    const int32_t *toks, int n)
{
    int limit = pcache_tag_limit(tag, &e->tag);
    if (limit <= 0)
        return 0;
    return common_prefix(e->toks, e->n_toks < limit ? e->n_toks : limit, toks, n);
}

/* What an entry counts against the cap: its state and its tokens. */
static size_t entry_bytes(const struct pcache_entry *e)
{
    return e->size + (size_t)e->n_toks * sizeof(*e->toks) + sizeof(*e);
}

struct pcache *pcache_new(size_t cap)
{
    struct pcache *c = calloc(1, sizeof(*c));
    if (c)
        c->cap = cap;
    return c;
}

static void entry_free(struct pcache_entry *e)
{
    free(e->toks);
    free(e->state);
    free(e);
}

/* Removes entry i (order is not kept: lookups do not depend on it). */
static void drop(struct pcache *c, size_t i)
{
    c->bytes -= entry_bytes(c->v[i]);
    entry_free(c->v[i]);
    c->v[i] = c->v[--c->n];
}

void pcache_free(struct pcache *c)
{
    if (!c)
        return;
    while (c->n)
        drop(c, c->n - 1);
    free(c->v);
    free(c);
}

int pcache_cover(const struct pcache *c, const struct pcache_tag *tag, const int32_t *toks, int n)
{
    int best = 0;
    for (size_t i = 0; i < c->n; i++) {
        int l = reusable(c->v[i], tag, toks, n);
        if (l > best)
            best = l;
    }
    return best;
}

const struct pcache_entry *pcache_best(struct pcache *c, const struct pcache_tag *tag,
                                       const int32_t *toks, int n, int *common)
{
    struct pcache_entry *best = NULL;
    int best_l = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct pcache_entry *e = c->v[i];
        int l = reusable(e, tag, toks, n);
        if (l > best_l || (l == best_l && l > 0 && e->used > best->used))
            best = e, best_l = l;
    }
    if (best)
        best->used = ++c->clock;
    *common = best_l;
    return best;
}

static size_t lru(const struct pcache *c)
{
    size_t v = 0;
    for (size_t i = 1; i < c->n; i++)
        if (c->v[i]->used < c->v[v]->used)
            v = i;
    return v;
}

enum lair_err pcache_put(struct pcache *c, const struct pcache_tag *tag, const int32_t *toks,
                         int n, void *state, size_t size)
{
    if (n <= 0) {
        free(state);
        return LAIR_EINVAL;
    }
    struct pcache_entry probe = {.n_toks = n, .size = size};
    size_t need = entry_bytes(&probe);
    if (need > c->cap) {
        free(state);
        return LAIR_ETOOBIG;
    }
    for (size_t i = 0; i < c->n; i++) {
        if (same_tag(&c->v[i]->tag, tag) && c->v[i]->n_toks >= n &&
            common_prefix(c->v[i]->toks, n, toks, n) == n) {
            c->v[i]->used = ++c->clock; /* still wanted: keep it longer */
            free(state);
            return LAIR_ECONFLICT;
        }
    }
    struct pcache_entry *e = calloc(1, sizeof(*e));
    int32_t *t = malloc((size_t)n * sizeof(*t));
    if (c->n == c->cap_slots) {
        size_t slots = c->cap_slots ? 2 * c->cap_slots : 8;
        struct pcache_entry **g = realloc(c->v, slots * sizeof(*g));
        if (g) {
            c->v = g;
            c->cap_slots = slots;
        }
    }
    if (!e || !t || c->n == c->cap_slots) {
        free(e);
        free(t);
        free(state);
        return LAIR_ENOMEM;
    }
    memcpy(t, toks, (size_t)n * sizeof(*t));
    *e = (struct pcache_entry){
        .tag = *tag, .toks = t, .n_toks = n, .state = state, .size = size};
    /* Entries of the same tag that this one extends are redundant now. */
    for (size_t i = 0; i < c->n;) {
        const struct pcache_entry *o = c->v[i];
        if (same_tag(&o->tag, tag) && o->n_toks < n &&
            common_prefix(o->toks, o->n_toks, toks, n) == o->n_toks)
            drop(c, i);
        else
            i++;
    }
    while (c->n > 0 && c->bytes + need > c->cap) {
        drop(c, lru(c));
        c->evictions++;
    }
    e->used = ++c->clock;
    c->v[c->n++] = e;
    c->bytes += need;
    c->saves++;
    return LAIR_OK;
}

void pcache_note_restore(struct pcache *c)
{
    c->restores++;
}

void pcache_get_stats(const struct pcache *c, struct pcache_stats *out)
{
    *out = (struct pcache_stats){.entries = c->n,
                                 .bytes = c->bytes,
                                 .cap = c->cap,
                                 .saves = c->saves,
                                 .restores = c->restores,
                                 .evictions = c->evictions};
}
