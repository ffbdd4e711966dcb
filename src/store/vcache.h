/* In-memory snapshots of knowledge bases' vectors, so that a search compares
 * the question's vector with a base's vectors without reading them from
 * SQLite each time (a base of 9,000 chunks holds 14 MB of vectors at 384
 * dimensions, spread over the chunks' rows).
 *
 * A snapshot belongs to one open tenant database, one knowledge base (by its
 * id, so a base deleted and created again under the same slug is another
 * base) and one embedding model. It is valid while the base's vector
 * generation (knowledge_bases.vec_gen, bumped by triggers whenever a chunk
 * with a vector is added, removed or re-embedded, in any process) has not
 * moved: each lookup reads the generation first (one indexed row), then
 * either shares the cached snapshot or loads a new one. Snapshots are
 * immutable and reference-counted, so a search keeps using the one it got
 * while a newer one replaces it.
 *
 * The cache holds at most a byte budget; past it, the least recently used
 * snapshots leave (those still in use are freed by their last user). A
 * snapshot larger than the whole budget is loaded for its search and not
 * kept. Budget 0 turns the cache off. */
#ifndef LAIR_STORE_VCACHE_H
#define LAIR_STORE_VCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct tenant_db;
struct vcache;

/* n rows of dim floats (row-major), with the chunk ids in ids. */
struct vec_set {
    const int64_t *ids;
    const float *vecs;
    size_t n, dim;
};

struct vcache_stats {
    uint64_t hits, loads, evictions;
    size_t bytes, entries, budget;
};

#define VCACHE_DEFAULT_MIB 512

/* OUT: *out OWNED (free with vcache_free). */
enum lair_err vcache_new(size_t budget_bytes, struct vcache **out);
/* Every snapshot must have been given back (vcache_put). NULL is fine. */
void vcache_free(struct vcache *c);
/* Evicts down to the new budget at once. */
void vcache_set_budget(struct vcache *c, size_t bytes);

/* The vectors of kb's chunks made by model. OUT: *out, BORROWED until
 * vcache_put; a set with n == 0 when there are none (or no such base). */
enum lair_err vcache_get(struct vcache *c, struct tenant_db *db, const char *kb,
                         const char *model, const struct vec_set **out);
void vcache_put(struct vcache *c, const struct vec_set *s);

/* Drops db's snapshots: called before db is closed. */
void vcache_forget(struct vcache *c, const struct tenant_db *db);

void vcache_get_stats(struct vcache *c, struct vcache_stats *out);

#endif
