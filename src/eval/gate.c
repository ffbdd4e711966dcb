/* The publish gate (eval/gate.h): requirements against stored runs. */
#include "eval/gate.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/run.h"
#include "eval/suite.h"
#include "store/evals.h"
#include "core/banned.h"

void eval_gate_describe(json_t *req, char *out, size_t n)
{
    const char *kind = json_object_get(req, "suite") ? "suite" : "pack";
    const char *name = json_string_value(json_object_get(req, kind));
    double min = json_number_value(json_object_get(req, "min_pass_rate"));
    snprintf(out, n, "%s %s >= %.0f%%", kind, name ? name : "?", min * 100);
}

struct newest {
    const char *kind, *name;
    int version;
    int suite_version; /* the suite's current version, the pack's revision */
    int64_t id;        /* 0 until found */
};

/* The list is newest first: the first finished run of the suite as it is
 * now against the version is the one that counts (a run of an earlier
 * version of the suite, before cases were added, does not). */
static void find_run(void *arg, const struct eval_run_info *r)
{
    struct newest *w = arg;
    if (!w->id && r->assistant_version == w->version && !strcmp(r->kind, w->kind) &&
        !strcmp(r->suite, w->name) && r->suite_version == w->suite_version &&
        !strcmp(r->state, "done"))
        w->id = r->id;
}

/* The current version of the suite (the pack's revision). LAIR_ENOTFOUND
 * when there is none. */
static enum lair_err current_version(struct tenant_db *db, const char *assistant,
                                     const struct newest *w, int *version)
{
    if (!strcmp(w->kind, "pack")) {
        struct eval_suite s;
        enum lair_err e = eval_load(db, assistant, NULL, w->name, &s, version);
        if (!e)
            eval_suite_release(&s);
        return e;
    }
    char *spec = NULL;
    enum lair_err e = evals_suite_get(db, assistant, w->name, 0, &spec, version);
    free(spec);
    return e;
}

static json_t *failure(const char *what, const char *reason, int64_t run)
{
    return json_pack("{s:s, s:s, s:o, s:[]}", "requirement", what, "reason", reason, "run",
                     run ? json_integer(run) : json_null(), "cases");
}

/* Checks one requirement. OUT: *fail (OWNED) when it is not met. */
static enum lair_err check_one(struct tenant_db *db, const char *assistant, int version,
                               json_t *req, json_t *runs, json_t **fail)
{
    char what[128], reason[256];
    eval_gate_describe(req, what, sizeof(what));
    struct newest w = {.kind = json_object_get(req, "suite") ? "suite" : "pack", .version = version};
    w.name = json_string_value(json_object_get(req, w.kind));
    *fail = NULL;
    if (!w.name)
        return LAIR_EINVAL;
    enum lair_err e = current_version(db, assistant, &w, &w.suite_version);
    if (e == LAIR_ENOTFOUND) {
        snprintf(reason, sizeof(reason), "the %s %s does not exist: write it, or change the gate",
                 w.kind, w.name);
        *fail = failure(what, reason, 0);
        return *fail ? LAIR_OK : LAIR_ENOMEM;
    }
    if (e || (e = evals_run_list(db, assistant, 0, find_run, &w)))
        return e;
    if (!w.id) {
        snprintf(reason, sizeof(reason),
                 "no finished run of %s %s (version %d, its current one) against version %d: run "
                 "it (libreair eval run, or POST /api/v1/assistants/%s/eval-runs)",
                 w.kind, w.name, w.suite_version, version, assistant);
        *fail = failure(what, reason, 0);
        return *fail ? LAIR_OK : LAIR_ENOMEM;
    }
    struct eval_run_info info;
    char *text = NULL;
    if ((e = evals_run_get(db, assistant, w.id, &info, &text)))
        return e;
    json_t *report = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (!report)
        return LAIR_EINTERNAL;
    double rate = json_number_value(json_object_get(report, "pass_rate"));
    double min = json_number_value(json_object_get(req, "min_pass_rate"));
    reason[0] = 0;
    if (rate + 1e-9 < min)
        snprintf(reason, sizeof(reason), "run %lld passed %.0f%% of its cases, below %.0f%%",
                 (long long)w.id, rate * 100, min * 100);
    /* per category: a category the run lacks counts as failed */
    const char *cat;
    json_t *cmin;
    json_object_foreach(json_object_get(req, "categories"), cat, cmin)
    {
        double got = -1;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(report, "categories"), i, c)
        {
            if (!strcmp(json_string_value(json_object_get(c, "category")), cat))
                got = json_number_value(json_object_get(c, "pass_rate"));
        }
        if (got + 1e-9 < json_number_value(cmin) && !reason[0]) {
            if (got < 0)
                snprintf(reason, sizeof(reason), "run %lld has no case of category %s",
                         (long long)w.id, cat);
            else
                snprintf(reason, sizeof(reason),
                         "run %lld passed %.0f%% of category %s, below %.0f%%", (long long)w.id,
                         got * 100, cat, json_number_value(cmin) * 100);
        }
    }
    if (!reason[0]) {
        json_decref(report);
        return json_array_append_new(runs, json_integer(w.id)) ? LAIR_ENOMEM : LAIR_OK;
    }
    json_t *f = failure(what, reason, w.id), *cases = f ? json_object_get(f, "cases") : NULL;
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "cases"), i, c)
    {
        if (!cases || json_is_true(json_object_get(c, "passed")) ||
            json_array_size(cases) >= EVAL_GATE_CASES_SHOWN)
            continue;
        json_array_append_new(cases, json_pack("{s:O?, s:O?, s:O?}", "id", json_object_get(c, "id"),
                                               "category", json_object_get(c, "category"),
                                               "reasons", json_object_get(c, "reasons")));
    }
    json_decref(report);
    *fail = f;
    return f ? LAIR_OK : LAIR_ENOMEM;
}

enum lair_err eval_gate_check(struct tenant_db *db, const char *assistant, int version,
                              json_t *gate, json_t *operator_gate, bool *passed, json_t **report)
{
    json_t *runs = json_array(), *failures = json_array();
    enum lair_err e = runs && failures ? LAIR_OK : LAIR_ENOMEM;
    json_t *gates[2] = {operator_gate, gate};
    for (int g = 0; g < 2 && !e; g++) {
        size_t i;
        json_t *req;
        json_array_foreach(gates[g], i, req)
        {
            json_t *fail;
            if ((e = check_one(db, assistant, version, req, runs, &fail)))
                break;
            if (fail)
                json_array_append_new(failures, fail);
        }
    }
    if (e) {
        json_decref(runs);
        json_decref(failures);
        return e;
    }
    *passed = json_array_size(failures) == 0;
    *report = json_pack("{s:b, s:o, s:o}", "passed", *passed, "runs", runs, "failures", failures);
    return *report ? LAIR_OK : LAIR_ENOMEM;
}
