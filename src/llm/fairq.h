/* The queue every backend's requests wait in before they run (the embedded
 * engine's slots, an upstream pool's connections), fair between fairness
 * keys (tenants) and bounded.
 *
 * Fair queuing by tags: an entry's tag is one more than the latest tag of its
 * key still queued, and never below the round being served; the lowest tag
 * goes first, arrival order among equals. So a key with sixteen queued
 * requests takes one turn per round, and a key that arrives later joins the
 * current round instead of waiting behind them.
 *
 * Not thread-safe: its owner holds its own lock around every call. */
#ifndef LAIR_LLM_FAIRQ_H
#define LAIR_LLM_FAIRQ_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"

struct llm_stream;

struct fairq_entry {
    void *item;                      /* BORROWED: the backend's request */
    const struct llm_stream *stream; /* BORROWED: the request's stream */
    struct str key;                  /* BORROWED: the fairness key, alive as long as item */
    uint64_t tag, arrival;
};

struct fairq {
    struct fairq_entry *v;
    int n, cap;
    uint64_t round, arrivals;
};

/* A queue of at most cap entries. Errors: LAIR_ENOMEM. */
enum lair_err fairq_init(struct fairq *q, int cap);
void fairq_release(struct fairq *q);

/* Appends item under key. False when the queue holds cap entries already. */
bool fairq_push(struct fairq *q, void *item, const struct llm_stream *stream, struct str key);

/* The index of the entry served next (lowest tag, then arrival), -1 when
 * empty. */
int fairq_next(const struct fairq *q);

/* Removes the entry served next and returns its item (NULL when empty); the
 * round moves on to its tag. */
void *fairq_pop(struct fairq *q);

/* Removes entry i out of turn and returns its item; the round stays. */
void *fairq_take(struct fairq *q, int i);

/* 1 + the number of entries served before stream's, 0 when it is not queued. */
int fairq_position(const struct fairq *q, const struct llm_stream *stream);

/* True when a and b have the same fairness key. */
bool fairq_same_key(struct str a, struct str b);

#endif
