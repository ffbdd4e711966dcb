/* Region allocator with a byte cap: everything a request allocates for its
 * response comes from its arena and is released at once with it. Hitting the
 * cap returns NULL (the caller reports LAIR_ENOMEM), never aborts. */
#ifndef LAIR_ARENA_H
#define LAIR_ARENA_H

#include <stddef.h>

#include "core/str.h"

struct arena_block;

struct arena {
    struct arena_block *head;
    size_t used, cap; /* bytes handed out so far, and the most allowed */
};

void arena_init(struct arena *a, size_t cap);
/* Frees every block. */
void arena_release(struct arena *a);
/* ARENA: 16-byte aligned, zeroed. NULL when the cap would be exceeded. */
void *arena_alloc(struct arena *a, size_t n);
/* ARENA: a NUL-terminated copy. */
char *arena_strndup(struct arena *a, const char *s, size_t n);
/* ARENA: printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
