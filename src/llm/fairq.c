/* The fair queue (fairq.h): an array scanned linearly. It holds at most a
 * model's queue limit plus its slots (tens of entries), and is touched once
 * per submission and admission, next to milliseconds of inference. */
#include "llm/fairq.h"

#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

enum lair_err fairq_init(struct fairq *q, int cap)
{
    memset(q, 0, sizeof(*q));
    q->v = calloc((size_t)(cap > 0 ? cap : 1), sizeof(*q->v));
    q->cap = cap;
    return q->v ? LAIR_OK : LAIR_ENOMEM;
}

void fairq_release(struct fairq *q)
{
    free(q->v);
    memset(q, 0, sizeof(*q));
}

bool fairq_same_key(struct str a, struct str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

bool fairq_push(struct fairq *q, void *item, const struct llm_stream *stream, struct str key)
{
    if (q->n >= q->cap)
        return false;
    uint64_t tag = q->round;
    for (int i = 0; i < q->n; i++)
        if (q->v[i].tag > tag && fairq_same_key(q->v[i].key, key))
            tag = q->v[i].tag;
    q->v[q->n++] = (struct fairq_entry){
        .item = item, .stream = stream, .key = key, .tag = tag + 1, .arrival = q->arrivals++};
    return true;
}

static bool before(const struct fairq_entry *a, const struct fairq_entry *b)
{
    return a->tag < b->tag || (a->tag == b->tag && a->arrival < b->arrival);
}

int fairq_next(const struct fairq *q)
{
    int best = q->n ? 0 : -1;
    for (int i = 1; i < q->n; i++)
        if (before(&q->v[i], &q->v[best]))
            best = i;
    return best;
}

void *fairq_take(struct fairq *q, int i)
{
    void *item = q->v[i].item;
    memmove(q->v + i, q->v + i + 1, (size_t)(q->n - i - 1) * sizeof(*q->v));
    q->n--;
    return item;
}

void *fairq_pop(struct fairq *q)
{
    int i = fairq_next(q);
    if (i < 0)
        return NULL;
    if (q->v[i].tag > q->round)
        q->round = q->v[i].tag;
    return fairq_take(q, i);
}

int fairq_position(const struct fairq *q, const struct llm_stream *stream)
{
    const struct fairq_entry *mine = NULL;
    for (int i = 0; i < q->n && !mine; i++)
        if (q->v[i].stream == stream)
            mine = &q->v[i];
    int pos = 0;
    for (int i = 0; mine && i < q->n; i++)
        pos += &q->v[i] == mine || before(&q->v[i], mine);
    return pos;
}
