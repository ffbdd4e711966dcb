/* A tenant's evaluation suites and runs, in its database (tables
 * eval_suites and eval_runs of tenant.c's schema, migration v8).
 *
 * A suite belongs to an assistant and is named; its versions are
 * append-only canonical files (src/eval/suite.c made them), numbered 1, 2…
 * per (assistant, name); the newest is the suite. A run records which
 * version of the assistant and of the suite (or pack) it ran, its progress,
 * and at its end its whole report (JSON: per-case answers, sources, pass or
 * fail and reasons; pass rates per category). Both go with the assistant
 * when it is deleted. */
#ifndef LAIR_STORE_EVALS_H
#define LAIR_STORE_EVALS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/tenant.h"

#define EVAL_STORE_NAME_MAX 63
#define EVAL_STATE_MAX 16

struct eval_suite_info {
    char assistant[SLUG_MAX + 1];
    char name[EVAL_STORE_NAME_MAX + 1];
    int version;                    /* the newest */
    int64_t created_at, updated_at; /* first and newest versions */
    int cases;                      /* of the newest version */
};

enum eval_apply_outcome { EVAL_SUITE_CREATED, EVAL_SUITE_UPDATED, EVAL_SUITE_UNCHANGED };

/* Stores spec as the newest version of the assistant's suite name, unless
 * it equals the newest byte for byte. LAIR_ENOTFOUND when the assistant does
 * not exist. OUT: *version the newest afterwards, *outcome. */
enum lair_err evals_suite_apply(struct tenant_db *db, const char *assistant, const char *name,
                                const char *spec, const char *author, int *version,
                                enum eval_apply_outcome *outcome);
/* Reads version (0: the newest) of a suite. LAIR_ENOTFOUND when absent. OUT:
 * *spec OWNED (free()), *got the version read. */
enum lair_err evals_suite_get(struct tenant_db *db, const char *assistant, const char *name,
                              int version, char **spec, int *got);
/* Calls fn for each suite of the assistant (NULL: of every assistant), by
 * assistant and name. fn must not use db. */
enum lair_err evals_suite_list(struct tenant_db *db, const char *assistant,
                               void (*fn)(void *arg, const struct eval_suite_info *s), void *arg);
/* Removes every version of a suite. LAIR_ENOTFOUND when absent. */
enum lair_err evals_suite_delete(struct tenant_db *db, const char *assistant, const char *name);

struct eval_run_info {
    int64_t id;
    char assistant[SLUG_MAX + 1];
    int assistant_version;
    char suite[EVAL_STORE_NAME_MAX + 1];
    char kind[8]; /* "suite" or "pack" */
    int suite_version;
    char state[EVAL_STATE_MAX]; /* running, done, failed, interrupted */
    int done, total, passed;
    char author[64];
    int64_t created_at, finished_at; /* finished_at 0 while running */
};

/* Records a run that starts (state "running"). LAIR_ENOTFOUND when the
 * assistant does not exist. OUT: *id. */
enum lair_err evals_run_create(struct tenant_db *db, const struct eval_run_info *r, int64_t *id);
/* Moves a running run's progress. */
enum lair_err evals_run_progress(struct tenant_db *db, int64_t id, int done, int passed);
/* Ends a run: its state, counts and report (compact JSON; may be NULL). */
enum lair_err evals_run_finish(struct tenant_db *db, int64_t id, const char *state, int done,
                               int passed, const char *report);
/* Reads a run (of the assistant when assistant is not NULL). LAIR_ENOTFOUND
 * when absent. OUT: *info; *report OWNED (free(); NULL while running) when
 * report is not NULL. */
enum lair_err evals_run_get(struct tenant_db *db, const char *assistant, int64_t id,
                            struct eval_run_info *info, char **report);
/* Calls fn for each run of the assistant (NULL: every assistant), newest
 * first, at most limit (0: all). fn must not use db. */
enum lair_err evals_run_list(struct tenant_db *db, const char *assistant, int limit,
                             void (*fn)(void *arg, const struct eval_run_info *r), void *arg);
#endif
