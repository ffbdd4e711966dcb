/* Evaluation runs: every case of a suite through the real chat pipeline
 * (assist/chat.h: resolution, retrieval, packing, generation), in process,
 * against one version of an assistant (the draft included), a few cases at
 * a time; then the checks (eval/check.h) and a report. The CLI (`libreair
 * eval run`) and the API (POST /api/v1/assistants/{slug}/eval-runs) call
 * the same code; src/store/evals.h stores what it returns.
 *
 * Cases run greedily (temperature 0, a fixed seed) and store nothing
 * (ephemeral chats, no conversation, no subject), so that two runs of the
 * same versions give the same answers and a comparison means something. */
#ifndef LAIR_EVAL_RUN_H
#define LAIR_EVAL_RUN_H

#include <jansson.h>
#include <stdbool.h>

#include "assist/chat.h"
#include "eval/suite.h"
#include "store/tenant.h"

#define EVAL_PARALLEL_DEFAULT 2
#define EVAL_PARALLEL_MAX 8

struct eval_run_opts {
    const struct chat_ctx *ctx;  /* BORROWED */
    const struct principal *who; /* BORROWED: an editor or admin of the tenant */
    const char *assistant;       /* slug */
    int version;                 /* CHAT_PUBLISHED, CHAT_DRAFT or N */
    const char *plant_kb;        /* a knowledge base added to the assistant's for this run (the
                                    suite's planted documents: eval_plant); NULL: none */
    int parallel;                /* cases at a time, 1..EVAL_PARALLEL_MAX; 0: the default */
    const char *judge;           /* the model (served in ctx) that grades rubrics (eval/judge.h);
                                    NULL: none, a case with a rubric fails "not graded" */
    const int *cancel;           /* read atomically: non-zero stops taking cases; may be NULL */
    /* Called after each case (from the worker threads, one at a time) with
     * its result object; may be NULL. */
    void (*progress)(void *arg, size_t done, size_t passed, size_t total, json_t *result);
    void *arg;
};

/* Resolves the assistant version opts asks for (so that every case runs that
 * one even when the draft moves meanwhile). Errors as chat_resolve's. OUT:
 * *version the version number, *model its model's name (max 128 bytes). */
enum lair_err eval_resolve(const struct eval_run_opts *o, int *version, char model[129],
                           struct chat_error *err);

/* Runs every case of s. The report (OWNED):
 *   {"assistant","assistant_version","model","suite","revision","parallel",
 *    "state":"done"|"interrupted","started_at","finished_at","duration_ms",
 *    "total","passed","pass_rate",
 *    "categories":[{"category","total","passed","pass_rate"}],
 *    "cases":[{"id","category","question","passed","reasons":[…],"answer",
 *              "answer_mode","sources":[{"document","page"}],"latency_ms",
 *              "judge":{"model","verdict","reason"} (cases with a rubric)}]}
 * A case whose chat fails fails with the reason; the run goes on. Errors
 * (nothing is run then): eval_resolve's, LAIR_ENOMEM. */
enum lair_err eval_run(const struct eval_run_opts *o, const struct eval_suite *s, json_t **report,
                       struct chat_error *err);

/* Puts the suite's documents in the knowledge base "eval-<suite name>" of db
 * (created when absent; unchanged documents are not indexed again), for
 * eval_run_opts.plant_kb. Nothing to do (*kb = "") when the suite has none.
 * OUT: kb. Errors: the ingestion's (LAIR_ESTORAGE, LAIR_EDB…). */
enum lair_err eval_plant(struct tenant_db *db, const struct eval_suite *s, char kb[SLUG_MAX + 1]);

/* Compares two reports case by case (by case id): {"a":{run fields},"b":…,
 * "better":[ids passing in b only],"regressed":[ids passing in a only],
 * "unchanged_pass":N,"unchanged_fail":N,"only_a":[…],"only_b":[…],
 * "categories":[{"category","a_pass_rate","b_pass_rate"}]}. OWNED. */
json_t *eval_compare(json_t *a, json_t *b);

/* ---- recorded runs (record.c): what the CLI and the API do ---- */

/* Loads the assistant's stored suite name (newest version) or, when pack is
 * set, the shipped pack. LAIR_ENOTFOUND when there is none. OUT: *out
 * (eval_suite_release), *suite_version (the stored version; the pack's
 * revision). */
enum lair_err eval_load(struct tenant_db *db, const char *assistant, const char *suite,
                        const char *pack, struct eval_suite *out, int *suite_version);

/* A run being recorded. */
struct eval_record {
    int64_t id;
    const char *kind; /* "suite" or "pack" (static) */
    int suite_version;
    char plant_kb[SLUG_MAX + 1];
    int assistant_version;
};

/* Starts recording a run of s: resolves and pins the assistant version
 * (o->version is set to it), plants the suite's documents (o->plant_kb
 * points into rec), stores the run as "running". Errors: eval_resolve's
 * (err filled in), the store's. OUT: *rec. */
enum lair_err eval_begin(struct tenant_db *db, struct eval_run_opts *o, const struct eval_suite *s,
                         const char *kind, int suite_version, const char *author,
                         struct eval_record *rec, struct chat_error *err);
/* Runs the cases (eval_run; progress stored as it goes, then o->progress),
 * and stores the report with state "done", "interrupted" (cancelled) or
 * "failed". OUT: *report OWNED (may be NULL). */
enum lair_err eval_complete(struct tenant_db *db, struct eval_run_opts *o,
                            const struct eval_suite *s, const struct eval_record *rec,
                            json_t **report);

#endif
