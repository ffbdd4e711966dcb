/* Evaluation suites and runs over HTTP. A run takes minutes with a real
 * model (each case is a full generation), longer than a client should hold
 * a request open, so POST starts it on a thread of its own and answers 202
 * with the run's id at once; the run row is written before the answer, its
 * progress after each case, its report at the end (GET .../eval-runs/{id}).
 * At most API_EVAL_RUNS_MAX run at once; a server that stops lets each
 * finish its current cases and stores it "interrupted". */
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/evals_api.h"
#include "core/json.h"
#include "core/log.h"
#include "eval/chart.h"
#include "eval/run.h"
#include "eval/suite.h"
#include "store/assistants.h"
#include "store/evals.h"
#include "core/banned.h"

/* ---- the background runs ---- */

static struct {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    int running;
    int cancel; /* read atomically by the runners */
} runs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0};

struct job {
    struct app *app;
    struct chat_ctx ctx;
    struct principal who;
    char assistant[SLUG_MAX + 1];
    struct eval_suite suite;
    struct eval_run_opts o;
    struct eval_record rec;
};

static void *job_main(void *arg)
{
    struct job *j = arg;
    struct tenant_db *db;
    if (tenants_get(j->app->tenants, j->who.tenant, &db) == LAIR_OK) {
        json_t *report = NULL;
        enum lair_err e = eval_complete(db, &j->o, &j->suite, &j->rec, &report);
        if (e)
            log_error("eval", "run %lld: %s", (long long)j->rec.id, lair_err_msg(e));
        json_decref(report);
        tenant_db_put(db);
    }
    eval_suite_release(&j->suite);
    free(j);
    pthread_mutex_lock(&runs.lock);
    if (--runs.running == 0)
        pthread_cond_broadcast(&runs.idle);
    pthread_mutex_unlock(&runs.lock);
    return NULL;
}

void api_evals_stop(void)
{
    __atomic_store_n(&runs.cancel, 1, __ATOMIC_RELEASE);
    pthread_mutex_lock(&runs.lock);
    while (runs.running > 0)
        pthread_cond_wait(&runs.idle, &runs.lock);
    pthread_mutex_unlock(&runs.lock);
}

/* ---- helpers ---- */

static enum lair_err path_slug(struct http_req *rq, int i, char out[SLUG_MAX + 1])
{
    struct str p = http_param(rq, i);
    if (p.len > SLUG_MAX || !slug_valid(p))
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "assistant_not_found",
                         "no such assistant in this tenant");
    memcpy(out, p.ptr, p.len);
    out[p.len] = 0;
    return LAIR_OK;
}

/* The assistant of the path (which must exist) and the tenant's db. */
static enum lair_err assistant_of(struct http_req *rq, char slug[SLUG_MAX + 1],
                                  struct tenant_db **db)
{
    enum lair_err e = path_slug(rq, 0, slug);
    if (e || (e = api_tenant_db(rq, db)))
        return e;
    char *spec = NULL;
    e = assistants_get(*db, slug, ASSISTANT_DRAFT, &spec, NULL, NULL);
    free(spec);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "assistant_not_found",
                         "no assistant '%s' in this tenant", slug);
    return e;
}

static enum lair_err run_id(struct http_req *rq, int i, int64_t *id)
{
    struct str p = http_param(rq, i);
    char buf[24];
    char *end = buf; /* not a number: *end is its first character */
    long long v = 0;
    if (p.len > 0 && p.len < sizeof(buf)) {
        memcpy(buf, p.ptr, p.len);
        buf[p.len] = 0;
        v = buf[0] >= '0' && buf[0] <= '9' ? strtoll(buf, &end, 10) : 0;
        if (*end)
            v = 0;
    }
    if (v <= 0)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "run_not_found", "no such evaluation run");
    *id = v;
    return LAIR_OK;
}

static json_t *run_json(const struct eval_run_info *r)
{
    return json_pack("{s:I,s:s,s:s,s:i,s:s,s:s,s:i,s:s,s:i,s:i,s:i,s:s,s:I,s:o}", "id",
                     (json_int_t)r->id, "object", "eval.run", "assistant", r->assistant,
                     "assistant_version", r->assistant_version, "kind", r->kind, "suite", r->suite,
                     "suite_version", r->suite_version, "state", r->state, "done", r->done, "total",
                     r->total, "passed", r->passed, "author", r->author, "created_at",
                     (json_int_t)r->created_at, "finished_at",
                     r->finished_at ? json_integer(r->finished_at) : json_null());
}

/* ---- suites ---- */

static void suite_one(void *arg, const struct eval_suite_info *s)
{
    json_array_append_new(arg,
                          json_pack("{s:s,s:i,s:i,s:I,s:I}", "name", s->name, "version", s->version,
                                    "cases", s->cases, "created_at", (json_int_t)s->created_at,
                                    "updated_at", (json_int_t)s->updated_at));
}

enum lair_err api_eval_suites_list(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e)
        return e;
    json_t *data = json_array(), *packs = json_array();
    if ((e = evals_suite_list(db, slug, suite_one, data))) {
        json_decref(data);
        json_decref(packs);
        return e;
    }
    for (size_t i = 0; i < eval_packs_count(); i++) {
        struct eval_suite p;
        if (eval_pack_load(eval_pack_name(i), &p))
            continue;
        json_array_append_new(packs,
                              json_pack("{s:s,s:i,s:i,s:s}", "name", p.name, "revision", p.revision,
                                        "cases", (int)p.n_cases, "description", p.description));
        eval_suite_release(&p);
    }
    return api_respond_json(rq, 200,
                            json_pack("{s:s,s:s,s:o,s:o}", "object", "list", "assistant", slug,
                                      "data", data, "packs", packs));
}

static enum lair_err suite_name(struct http_req *rq, char out[EVAL_NAME_MAX + 1])
{
    struct str p = http_param(rq, 1);
    if (p.len > EVAL_NAME_MAX)
        p.len = 0;
    memcpy(out, p.ptr, p.len);
    out[p.len] = 0;
    if (!eval_name_valid(out))
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "suite_not_found", "no such suite");
    return LAIR_OK;
}

enum lair_err api_eval_suite_get(struct http_req *rq)
{
    char slug[SLUG_MAX + 1], name[EVAL_NAME_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e || (e = suite_name(rq, name)))
        return e;
    char *spec = NULL;
    int version = 0;
    const char *v = http_query(rq, "version");
    int want = v ? (int)strtol(v, NULL, 10) : 0;
    e = evals_suite_get(db, slug, name, want > 0 ? want : 0, &spec, &version);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "suite_not_found",
                         "the assistant '%s' has no suite '%s'", slug, name);
    if (e)
        return e;
    json_t *o = json_loads(spec, 0, NULL);
    free(spec);
    if (!o)
        return LAIR_EINTERNAL;
    json_object_set_new(o, "version", json_integer(version));
    return api_respond_json(rq, 200, o);
}

enum lair_err api_eval_suite_put(struct http_req *rq)
{
    char slug[SLUG_MAX + 1], name[EVAL_NAME_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e || (e = suite_name(rq, name)))
        return e;
    json_t *body;
    if ((e = api_parse_body(rq, &body)))
        return e;
    json_t *n = json_object_get(body, "name");
    if (n && !(json_is_string(n) && !strcmp(json_string_value(n), name))) {
        json_decref(body);
        return http_fail(rq, LAIR_EUNPROC, "name", "invalid_value",
                         "'name' must be the suite's name in the path ('%s') or left out", name);
    }
    json_object_set_new(body, "name", json_string(name));
    json_object_del(body, "version"); /* what GET returned: not part of the file */
    struct eval_suite s;
    struct eval_error err;
    e = eval_suite_parse(body, &s, &err);
    json_decref(body);
    if (e == LAIR_EUNPROC) {
        const char *param =
            err.field[0] ? arena_strndup(http_arena(rq), err.field, strlen(err.field)) : NULL;
        return http_fail(rq, e, param, err.code, "%s", err.msg);
    }
    if (e)
        return e;
    char *text = eval_suite_dump(&s);
    int version = 0;
    enum eval_apply_outcome outcome = EVAL_SUITE_UNCHANGED;
    e = text ? evals_suite_apply(db, slug, name, text, http_principal(rq)->key_id, &version,
                                 &outcome)
             : LAIR_ENOMEM;
    free(text);
    size_t n_cases = s.n_cases;
    eval_suite_release(&s);
    if (e)
        return e;
    if (outcome != EVAL_SUITE_UNCHANGED) {
        char target[SLUG_MAX + 16], detail[96];
        snprintf(target, sizeof(target), "assistant:%s", slug);
        snprintf(detail, sizeof(detail), "suite:%s version:%d", name, version);
        api_audit_detail(rq, "eval.suite.apply", target, detail);
    }
    return api_respond_json(rq, outcome == EVAL_SUITE_CREATED ? 201 : 200,
                            json_pack("{s:s,s:s,s:i,s:i,s:s}", "assistant", slug, "name", name,
                                      "version", version, "cases", (int)n_cases, "outcome",
                                      outcome == EVAL_SUITE_CREATED   ? "created"
                                      : outcome == EVAL_SUITE_UPDATED ? "updated"
                                                                      : "unchanged"));
}

/* ---- runs ---- */

/* {"suite": NAME | "pack": NAME, "version": N | "draft" | "published", "parallel": N} */
struct run_body {
    const char *suite, *pack;
    int version, parallel;
};

static enum lair_err parse_run_body(struct http_req *rq, json_t *o, struct run_body *b)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "suite") && strcmp(key, "pack") && strcmp(key, "version") &&
            strcmp(key, "parallel"))
            return http_fail(rq, LAIR_EUNPROC, arena_strndup(http_arena(rq), key, strlen(key)),
                             "unknown_field",
                             "unknown field; the body is {\"suite\" or \"pack\", \"version\", "
                             "\"parallel\"}");
    }
    b->suite = json_string_value(json_object_get(o, "suite"));
    b->pack = json_string_value(json_object_get(o, "pack"));
    if (!b->suite == !b->pack)
        return http_fail(rq, LAIR_EUNPROC, "suite", "missing_field",
                         "give either \"suite\" (a suite of the assistant) or \"pack\" (a "
                         "shipped red-team pack)");
    json_t *ver = json_object_get(o, "version");
    b->version = CHAT_PUBLISHED;
    if (json_is_string(ver) && !strcmp(json_string_value(ver), "draft"))
        b->version = CHAT_DRAFT;
    else if (json_is_integer(ver) && json_integer_value(ver) >= 1 &&
             json_integer_value(ver) <= INT_MAX)
        b->version = (int)json_integer_value(ver);
    else if (ver && !json_is_null(ver) &&
             !(json_is_string(ver) && !strcmp(json_string_value(ver), "published")))
        return http_fail(rq, LAIR_EUNPROC, "version", "invalid_value",
                         "'version' must be a version number, \"draft\" or \"published\"");
    json_t *par = json_object_get(o, "parallel");
    b->parallel = EVAL_PARALLEL_DEFAULT;
    if (par && !json_is_null(par)) {
        if (!json_is_integer(par) || json_integer_value(par) < 1 ||
            json_integer_value(par) > EVAL_PARALLEL_MAX)
            return http_fail(rq, LAIR_EUNPROC, "parallel", "invalid_value",
                             "'parallel' must be an integer from 1 to %d", EVAL_PARALLEL_MAX);
        b->parallel = (int)json_integer_value(par);
    }
    return LAIR_OK;
}

/* Takes a place among the background runs; false when they are all taken. */
static bool take_slot(void)
{
    pthread_mutex_lock(&runs.lock);
    bool ok = runs.running < API_EVAL_RUNS_MAX && !__atomic_load_n(&runs.cancel, __ATOMIC_ACQUIRE);
    if (ok)
        runs.running++;
    pthread_mutex_unlock(&runs.lock);
    return ok;
}

static void give_slot(void)
{
    pthread_mutex_lock(&runs.lock);
    if (--runs.running == 0)
        pthread_cond_broadcast(&runs.idle);
    pthread_mutex_unlock(&runs.lock);
}

enum lair_err api_eval_runs_create(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e)
        return e;
    if (!api_require_ready(rq))
        return LAIR_EBUSY;
    json_t *body;
    if ((e = api_parse_body(rq, &body)))
        return e;
    struct run_body b = {0};
    e = parse_run_body(rq, body, &b);
    struct job *j = e ? NULL : calloc(1, sizeof(*j));
    if (!e && !j)
        e = LAIR_ENOMEM;
    int suite_version = 0;
    if (!e) {
        e = eval_load(db, slug, b.suite, b.pack, &j->suite, &suite_version);
        if (e == LAIR_ENOTFOUND)
            e = b.pack ? http_fail(rq, e, "pack", "pack_not_found",
                                   "no shipped pack '%s' (GET .../eval-suites lists them)", b.pack)
                       : http_fail(rq, e, "suite", "suite_not_found",
                                   "the assistant '%s' has no suite '%s'", slug, b.suite);
    }
    json_decref(body); /* b's strings are not used past here */
    if (e) {
        free(j);
        return e;
    }
    if (!take_slot()) {
        eval_suite_release(&j->suite);
        free(j);
        http_retry_after(rq, 30);
        return http_fail(rq, LAIR_EBUSY, NULL, "evaluation_busy",
                         "%d evaluation runs are under way on this server; retry later",
                         API_EVAL_RUNS_MAX);
    }
    j->app = http_app(rq);
    api_chat_ctx(j->app, &j->ctx);
    j->who = *http_principal(rq);
    snprintf(j->assistant, sizeof(j->assistant), "%s", slug);
    j->o = (struct eval_run_opts){.ctx = &j->ctx,
                                  .who = &j->who,
                                  .assistant = j->assistant,
                                  .version = b.version,
                                  .parallel = b.parallel,
                                  .judge = j->app->eval_judge,
                                  .cancel = &runs.cancel};
    struct chat_error err;
    e = eval_begin(db, &j->o, &j->suite, b.pack ? "pack" : "suite", suite_version, j->who.key_id,
                   &j->rec, &err);
    int64_t id = j->rec.id;
    char target[SLUG_MAX + 16], detail[128];
    snprintf(target, sizeof(target), "assistant:%s", slug);
    snprintf(detail, sizeof(detail), "run:%lld version:%d %s:%s", (long long)id,
             j->rec.assistant_version, b.pack ? "pack" : "suite", j->suite.name);
    pthread_t th;
    if (!e && pthread_create(&th, NULL, job_main, j)) /* j is the thread's from here */
        e = LAIR_ENOMEM;
    if (e) {
        if (id)
            evals_run_finish(db, id, "failed", 0, 0, NULL);
        eval_suite_release(&j->suite);
        free(j);
        give_slot();
        return err.code || err.message[0] ? api_chat_fail(rq, e, &err) : e;
    }
    pthread_detach(th);
    api_audit_detail(rq, "eval.run", target, detail);
    struct eval_run_info info;
    if ((e = evals_run_get(db, slug, id, &info, NULL)))
        return e;
    return api_respond_json(rq, 202, run_json(&info));
}

static void run_one(void *arg, const struct eval_run_info *r)
{
    json_array_append_new(arg, run_json(r));
}

enum lair_err api_eval_runs_list(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e)
        return e;
    const char *l = http_query(rq, "limit");
    int limit = l ? (int)strtol(l, NULL, 10) : 100;
    json_t *data = json_array();
    if ((e = evals_run_list(db, slug, limit > 0 && limit <= 1000 ? limit : 100, run_one, data))) {
        json_decref(data);
        return e;
    }
    return api_respond_json(
        rq, 200, json_pack("{s:s,s:s,s:o}", "object", "list", "assistant", slug, "data", data));
}

/* The run's stored report (with its row's fields), or its row while it
 * runs. OUT: *out OWNED, *finished. */
static enum lair_err load_run(struct http_req *rq, struct tenant_db *db, const char *slug, int i,
                              json_t **out, bool *finished)
{
    int64_t id = 0;
    enum lair_err e = run_id(rq, i, &id);
    if (e)
        return e;
    struct eval_run_info info;
    char *report = NULL;
    e = evals_run_get(db, slug, id, &info, &report);
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "run_not_found",
                         "the assistant '%s' has no evaluation run %lld", slug, (long long)id);
    if (e)
        return e;
    json_t *row = run_json(&info);
    *finished = report != NULL;
    if (report) {
        json_t *r = json_loads(report, 0, NULL);
        free(report);
        if (!r) {
            json_decref(row);
            return LAIR_EINTERNAL;
        }
        json_object_update_missing(r, row); /* object, done, author, created_at… */
        json_object_set(r, "state", json_object_get(row, "state"));
        json_decref(row);
        row = r;
    }
    *out = row;
    return LAIR_OK;
}

enum lair_err api_eval_run_get(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e)
        return e;
    json_t *r;
    bool finished;
    if ((e = load_run(rq, db, slug, 1, &r, &finished)))
        return e;
    return api_respond_json(rq, 200, r);
}

enum lair_err api_eval_compare(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e)
        return e;
    json_t *a = NULL, *b = NULL;
    bool fa = false, fb = false;
    if ((e = load_run(rq, db, slug, 1, &a, &fa)) || (e = load_run(rq, db, slug, 2, &b, &fb))) {
        json_decref(a);
        return e;
    }
    if (!fa || !fb) {
        json_decref(a);
        json_decref(b);
        return http_fail(rq, LAIR_ECONFLICT, NULL, "run_not_finished",
                         "both runs must have finished to be compared");
    }
    json_t *c = eval_compare(a, b);
    json_decref(a);
    json_decref(b);
    return c ? api_respond_json(rq, 200, c) : LAIR_ENOMEM;
}

/* ---- the chart: pass rate per category across versions ---- */

static void run_done(void *arg, const struct eval_run_info *r)
{
    if (!strcmp(r->state, "done"))
        json_array_append_new(arg, json_pack("{s:I,s:i,s:s}", "id", (json_int_t)r->id, "version",
                                             r->assistant_version, "suite", r->suite));
}

/* For each version of the assistant that has a finished run (of the suite
 * or pack ?suite= names, when given), its newest one: [{"version","run",
 * "suite","published","categories":[{"category","passed","total",
 * "pass_rate"}]}], oldest version first. OUT: *out OWNED. */
static enum lair_err chart_series(struct http_req *rq, struct tenant_db *db, const char *slug,
                                  json_t **out)
{
    const char *only = http_query(rq, "suite");
    json_t *done = json_array();
    enum lair_err e = evals_run_list(db, slug, 1000, run_done, done); /* newest first */
    struct assistant_info ai = {0};
    char *spec = NULL;
    if (!e)
        e = assistants_get(db, slug, ASSISTANT_DRAFT, &spec, NULL, &ai);
    free(spec);
    json_t *byver = json_object(), *series = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(done, i, r)
    {
        if (e)
            break;
        char ver[16];
        snprintf(ver, sizeof(ver), "%lld",
                 (long long)json_integer_value(json_object_get(r, "version")));
        if (json_object_get(byver, ver) ||
            (only && strcmp(only, json_string_value(json_object_get(r, "suite")))))
            continue;
        struct eval_run_info info;
        char *report = NULL;
        if ((e = evals_run_get(db, slug, json_integer_value(json_object_get(r, "id")), &info,
                               &report)))
            break;
        json_t *rep = report ? json_loads(report, 0, NULL) : NULL;
        free(report);
        if (!rep)
            continue;
        json_t *cats = json_array();
        size_t j;
        json_t *c;
        json_array_foreach(json_object_get(rep, "categories"), j, c)
        {
            json_array_append_new(cats, json_pack("{s:O,s:O,s:O,s:O}", "category",
                                                  json_object_get(c, "category"), "passed",
                                                  json_object_get(c, "passed"), "total",
                                                  json_object_get(c, "total"), "pass_rate",
                                                  json_object_get(c, "pass_rate")));
        }
        json_decref(rep);
        json_object_set_new(
            byver, ver,
            json_pack("{s:i,s:I,s:s,s:s,s:b,s:o}", "version", info.assistant_version, "run",
                      (json_int_t)info.id, "suite", info.suite, "kind", info.kind, "published",
                      info.assistant_version == ai.published_version, "categories", cats));
    }
    json_decref(done);
    /* oldest version first */
    for (int v = 1; !e && v <= ai.version; v++) {
        char ver[16];
        snprintf(ver, sizeof(ver), "%d", v);
        json_t *x = json_object_get(byver, ver);
        if (x)
            json_array_append(series, x);
    }
    json_decref(byver);
    if (e) {
        json_decref(series);
        return e;
    }
    *out = series;
    return LAIR_OK;
}

enum lair_err api_eval_chart_json(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    json_t *series;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e || (e = chart_series(rq, db, slug, &series)))
        return e;
    return api_respond_json(
        rq, 200,
        json_pack("{s:s,s:s,s:o}", "object", "eval.chart", "assistant", slug, "versions", series));
}

enum lair_err api_eval_chart_svg(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    json_t *series;
    enum lair_err e = assistant_of(rq, slug, &db);
    if (e || (e = chart_series(rq, db, slug, &series)))
        return e;
    struct buf svg;
    buf_init(&svg, 1024 * 1024);
    e = eval_chart_svg(series, slug, http_query(rq, "lang"), &svg);
    json_decref(series);
    if (!e)
        e = http_respond(rq, 200, "image/svg+xml; charset=utf-8", svg.ptr, svg.len);
    buf_release(&svg);
    return e;
}
