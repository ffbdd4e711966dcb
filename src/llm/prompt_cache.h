/* The host-memory prompt cache: computed prompt prefixes that no longer fit
 * in a model's KV cache, kept as token sequences with the opaque state a
 * backend saved for each (for llama.cpp, llama_state_seq_get_data), so that a
 * later request starting with one of them restores it instead of decoding it
 * again. Bounded in bytes; the least recently used entry goes first.
 *
 * Every entry carries the tag of whoever computed it (struct pcache_tag), and
 * a lookup only ever sees the part of an entry its own tag may reuse: nothing
 * across scopes (tenants), and within a scope only the shared part (an
 * assistant's instructions and sources) across owners (conversations). This
 * rule, pcache_tag_limit, is also the engine's for the sequences resident in
 * its KV cache: a prompt cache that answers faster for a right guess of
 * another tenant's prompt would leak it, whether or not it says how many
 * tokens it reused.
 *
 * An entry whose tokens begin another entry's of the same tag is redundant
 * (the longer one restores it too) and is dropped when the longer one
 * arrives; an entry is not added when an existing one of the same tag
 * already begins with its tokens.
 *
 * Not thread-safe: one owner (the engine's scheduler thread). Tokens are
 * int32_t (llama_token) so that this file does not need llama.h. */
#ifndef LAIR_LLM_PROMPT_CACHE_H
#define LAIR_LLM_PROMPT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct pcache;

/* Who computed a prefix. Digests, not names: the engine keeps no tenant's
 * name and compares fixed-size values. */
struct pcache_tag {
    uint8_t scope[16]; /* what nothing crosses: a tenant (and its assistant or key) */
    uint8_t owner[16]; /* whose private turns follow the shared part: a conversation */
    int n_shared;      /* leading tokens any owner of the scope may reuse */
};

/* How many leading tokens a request tagged a may reuse from a prefix computed
 * under b (symmetric): 0 across scopes, every one for the same owner, else
 * the shared part both have (the smaller n_shared). */
int pcache_tag_limit(const struct pcache_tag *a, const struct pcache_tag *b);

/* Read-only to callers; valid until the next pcache_put or pcache_free. */
struct pcache_entry {
    struct pcache_tag tag;
    int32_t *toks; /* the prefix this state holds, positions 0..n_toks-1 */
    int n_toks;
    void *state; /* the backend's saved state */
    size_t size; /* bytes of state */
    uint64_t used;
};

struct pcache_stats {
    size_t entries, bytes, cap;
    uint64_t saves, restores, evictions;
};

/* A cache holding at most cap bytes of state and tokens. cap 0 gives a cache
 * that refuses everything. OWNED: free with pcache_free. NULL on ENOMEM. */
struct pcache *pcache_new(size_t cap);
void pcache_free(struct pcache *c);

/* The longest prefix of toks[0..n) that an entry holds and tag may reuse
 * (pcache_tag_limit), 0 when none. */
int pcache_cover(const struct pcache *c, const struct pcache_tag *tag, const int32_t *toks, int n);

/* The entry holding the longest prefix of toks[0..n) that tag may reuse (the
 * most recently used among equals), marked used; OUT: *common gets that
 * prefix length. NULL (and *common 0) when there is none. BORROWED. */
const struct pcache_entry *pcache_best(struct pcache *c, const struct pcache_tag *tag,
                                       const int32_t *toks, int n, int *common);

/* Adds an entry for toks[0..n) computed under tag and takes ownership of
 * state (malloc'd; freed here whatever the outcome). Entries of the same tag
 * that are prefixes of toks are dropped, then the least recently used ones
 * until it fits. Errors: LAIR_ETOOBIG (the entry alone exceeds the cap),
 * LAIR_ECONFLICT (an entry of the same tag already begins with toks: nothing
 * to add), LAIR_ENOMEM, LAIR_EINVAL (n <= 0). */
enum lair_err pcache_put(struct pcache *c, const struct pcache_tag *tag, const int32_t *toks,
                         int n, void *state, size_t size);

/* Counts one restore (for the stats). */
void pcache_note_restore(struct pcache *c);

void pcache_get_stats(const struct pcache *c, struct pcache_stats *out);

#endif
