/* A run from its start to its stored report: the suite or pack loaded, the
 * assistant version pinned, the planted documents indexed, the row written
 * before the first case (so that the API can show progress), the report at
 * the end. Shared by `libreair eval run` and the API. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval/run.h"
#include "store/evals.h"
#include "core/banned.h"

enum lair_err eval_load(struct tenant_db *db, const char *assistant, const char *suite,
                        const char *pack, struct eval_suite *out, int *suite_version)
{
    if (pack) {
        enum lair_err e = eval_pack_load(pack, out);
        if (!e)
            *suite_version = out->revision;
        return e;
    }
    char *spec = NULL;
    enum lair_err e = evals_suite_get(db, assistant, suite, 0, &spec, suite_version);
    if (e)
        return e;
    json_error_t je;
    json_t *v = json_loads(spec, JSON_REJECT_DUPLICATES, &je);
    free(spec);
    if (!v)
        return LAIR_EINTERNAL;
    struct eval_error err;
    e = eval_suite_parse(v, out, &err);
    json_decref(v);
    return e == LAIR_EUNPROC ? LAIR_EINTERNAL : e;
}

enum lair_err eval_begin(struct tenant_db *db, struct eval_run_opts *o, const struct eval_suite *s,
                         const char *kind, int suite_version, const char *author,
                         struct eval_record *rec, struct chat_error *err)
{
    memset(rec, 0, sizeof(*rec));
    memset(err, 0, sizeof(*err));
    char model[129];
    enum lair_err e = eval_resolve(o, &rec->assistant_version, model, err);
    if (e)
        return e;
    o->version = rec->assistant_version;
    if ((e = eval_plant(db, s, rec->plant_kb)))
        return e;
    o->plant_kb = rec->plant_kb[0] ? rec->plant_kb : NULL;
    rec->kind = kind;
    rec->suite_version = suite_version;
    struct eval_run_info r = {.assistant_version = rec->assistant_version,
                              .suite_version = suite_version,
                              .total = (int)s->n_cases};
    snprintf(r.assistant, sizeof(r.assistant), "%s", o->assistant);
    snprintf(r.suite, sizeof(r.suite), "%s", s->name);
    snprintf(r.kind, sizeof(r.kind), "%s", kind);
    snprintf(r.author, sizeof(r.author), "%s", author ? author : "");
    return evals_run_create(db, &r, &rec->id);
}

struct progress {
    struct tenant_db *db;
    int64_t id;
    const struct eval_run_opts *o;
};

static void on_progress(void *arg, size_t done, size_t passed, size_t total, json_t *result)
{
    struct progress *p = arg;
    evals_run_progress(p->db, p->id, (int)done, (int)passed);
    if (p->o->progress)
        p->o->progress(p->o->arg, done, passed, total, result);
}

enum lair_err eval_complete(struct tenant_db *db, struct eval_run_opts *o,
                            const struct eval_suite *s, const struct eval_record *rec,
                            json_t **report)
{
    struct progress pg = {db, rec->id, o};
    struct eval_run_opts ro = *o;
    ro.progress = on_progress;
    ro.arg = &pg;
    struct chat_error err;
    *report = NULL;
    enum lair_err e = eval_run(&ro, s, report, &err);
    if (e) {
        evals_run_finish(db, rec->id, "failed", 0, 0, NULL);
        return e;
    }
    json_object_set_new(*report, "id", json_integer(rec->id));
    json_object_set_new(*report, "kind", json_string(rec->kind));
    json_object_set_new(*report, "suite_version", json_integer(rec->suite_version));
    char *text = json_dumps(*report, JSON_COMPACT);
    if (!text)
        return LAIR_ENOMEM;
    e = evals_run_finish(db, rec->id, json_string_value(json_object_get(*report, "state")),
                         (int)json_array_size(json_object_get(*report, "cases")),
                         (int)json_integer_value(json_object_get(*report, "passed")), text);
    free(text);
    return e;
}
