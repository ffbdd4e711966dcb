/* The host-memory prompt cache: computed prompt prefixes that no longer fit
 * in a model's KV cache, kept as token sequences with the opaque state a
 * backend saved for each (for llama.cpp, llama_state_seq_get_data), so that a
 * later request starting with one of them restores it instead of decoding it
 * again. Bounded in bytes; the least recently used entry goes first.
 *
 * An entry whose tokens begin another entry's is redundant (the longer one
 * restores it too) and is dropped when the longer one arrives; an entry is
 * not added when an existing one already begins with its tokens.
 *
 * Not thread-safe: one owner (the engine's scheduler thread). Tokens are
 * int32_t (llama_token) so that this file does not need llama.h. */
#ifndef LAIR_LLM_PROMPT_CACHE_H
#define LAIR_LLM_PROMPT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct pcache;

/* Read-only to callers; valid until the next pcache_put or pcache_free. */
struct pcache_entry {
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

/* The longest common prefix any entry shares with toks[0..n), 0 when none. */
int pcache_cover(const struct pcache *c, const int32_t *toks, int n);

/* The entry sharing the longest prefix with toks[0..n) (the most recently used
 * among equals), marked used; OUT: *common gets that prefix length. NULL (and
 * *common 0) when no entry shares a token. BORROWED. */
const struct pcache_entry *pcache_best(struct pcache *c, const int32_t *toks, int n, int *common);

/* Adds an entry for toks[0..n) and takes ownership of state (malloc'd; freed
 * here whatever the outcome). Entries that are prefixes of toks are dropped,
 * then the least recently used ones until it fits. Errors: LAIR_ETOOBIG (the
 * entry alone exceeds the cap), LAIR_ECONFLICT (an entry already begins with
 * toks: nothing to add), LAIR_ENOMEM, LAIR_EINVAL (n <= 0). */
enum lair_err pcache_put(struct pcache *c, const int32_t *toks, int n, void *state, size_t size);

/* Counts one restore (for the stats). */
void pcache_note_restore(struct pcache *c);

void pcache_get_stats(const struct pcache *c, struct pcache_stats *out);

#endif
