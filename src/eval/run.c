/* The evaluation runner: a few worker threads take the next case, run it
 * through the chat pipeline against the pinned assistant version (with the
 * suite's planted knowledge base added for the run), check it, and add its
 * result to the report under one lock. */
#include "eval/run.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/check.h"
#include "eval/judge.h"
#include "rag/ingest.h"
#include "core/banned.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void request_init(const struct eval_run_opts *o, int version, struct chat_request *r)
{
    chat_request_init(r);
    r->who = o->who;
    r->target = str_c(o->assistant);
    r->version = version;
    r->ephemeral = true;
    r->sampling.temperature = 0; /* greedy: the same versions give the same answers */
    r->has_temperature = true;
    r->sampling.has_seed = true;
    r->sampling.seed = 1;
}

enum lair_err eval_resolve(const struct eval_run_opts *o, int *version, char model[129],
                           struct chat_error *err)
{
    struct chat_request req;
    request_init(o, o->version, &req);
    struct chat_target t;
    memset(err, 0, sizeof(*err));
    enum lair_err e = chat_resolve(o->ctx, &req, &t, err);
    if (e)
        return e;
    if (!t.is_assistant) { /* a raw model of the same name */
        chat_target_release(&t);
        err->code = "assistant_not_found";
        snprintf(err->message, sizeof(err->message), "no assistant '%s' in this tenant",
                 o->assistant);
        return LAIR_ENOTFOUND;
    }
    *version = t.assistant.version;
    snprintf(model, 129, "%s", t.assistant.model ? t.assistant.model : "");
    chat_target_release(&t);
    return LAIR_OK;
}

struct runner {
    const struct eval_run_opts *o;
    const struct eval_suite *s;
    int version;
    char refusal[ASSISTANT_TEXT_MAX + 1];
    char *instructions; /* OWNED */
    pthread_mutex_t lock;
    size_t next, done, passed;
    json_t **results; /* per case, NULL until run */
};

static const char *mode_name(enum chat_mode m)
{
    return m == CHAT_REFUSAL ? "refusal" : m == CHAT_DEGRADED ? "degraded" : "generated";
}

/* The answer's sources, reduced to what a report needs. */
static json_t *brief_sources(json_t *src)
{
    json_t *out = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(src, i, v)
    {
        json_t *page = json_object_get(v, "page");
        json_array_append_new(out,
                              json_pack("{s:O?,s:O}", "document", json_object_get(v, "document"),
                                        "page", page ? page : json_null()));
    }
    return out;
}

/* Adds the planted knowledge base to t's assistant for this run only. */
static void plant(struct chat_target *t, const char *kb)
{
    struct assistant *a = &t->assistant;
    if (!kb || !*kb || !t->is_assistant)
        return;
    for (int i = 0; i < a->n_knowledge_bases; i++)
        if (!strcmp(a->knowledge_bases[i], kb))
            return;
    if (a->n_knowledge_bases < ASSISTANT_MAX_KB)
        a->knowledge_bases[a->n_knowledge_bases++] = kb;
}

/* Runs case i. OUT: the answer (text in *text, OWNED; sources in *sources,
 * OWNED), or the error in err. */
static void ask(struct runner *r, const struct eval_case *c, struct buf *text, const char **mode,
                json_t **sources, char *error, size_t errlen)
{
    size_t n = json_array_size(c->messages);
    struct llm_message msgs[EVAL_MAX_TURNS];
    for (size_t i = 0; i < n && i < EVAL_MAX_TURNS; i++) {
        json_t *m = json_array_get(c->messages, i);
        msgs[i].role = str_c(json_string_value(json_object_get(m, "role")));
        json_t *content = json_object_get(m, "content");
        msgs[i].content = (struct str){json_string_value(content), json_string_length(content)};
    }
    struct chat_request req;
    request_init(r->o, r->version, &req);
    req.messages = msgs;
    req.n_messages = n;
    struct chat_target t;
    struct chat_error err;
    memset(&err, 0, sizeof(err));
    struct chat *ch = NULL;
    enum lair_err e = chat_resolve(r->o->ctx, &req, &t, &err);
    if (!e) {
        plant(&t, r->o->plant_kb);
        e = chat_start(r->o->ctx, &req, &t, &ch, &err);
    }
    *mode = "error";
    *sources = NULL;
    if (e) {
        snprintf(error, errlen, "%s", err.message[0] ? err.message : lair_err_msg(e));
        return;
    }
    struct chat_result res;
    chat_collect(ch, text, &res);
    if (res.llm.finish == LLM_FINISH_ERROR) {
        chat_generation_error(ch, res.llm.err, &err);
        snprintf(error, errlen, "%s", err.message[0] ? err.message : lair_err_msg(res.llm.err));
    } else {
        *mode = mode_name(chat_mode(ch));
        *sources = brief_sources(chat_sources(ch));
    }
    chat_free(ch);
}

/* Asks the judge model about case c's answer. OUT: its verdict and reason
 * (or, unreadable, an excerpt of what it said). Runs as the operator: the
 * judge is the operator's model, not one of the tenant's. */
static enum eval_verdict judge_ask(struct runner *r, const struct eval_case *c, struct str question,
                                   struct str answer, char *reason, size_t n)
{
    char *prompt = eval_judge_prompt(question, answer, c->rubric);
    if (!prompt) {
        snprintf(reason, n, "judge: out of memory");
        return EVAL_VERDICT_UNREADABLE;
    }
    struct llm_message msgs[2] = {{S("system"), str_c(eval_judge_system())},
                                  {S("user"), str_c(prompt)}};
    struct principal op = {.role = ROLE_OPERATOR};
    struct chat_request req;
    chat_request_fixed(&req, &op, str_c(r->o->judge), msgs, 2, EVAL_JUDGE_MAX_TOKENS);
    struct chat_error err;
    memset(&err, 0, sizeof(err));
    struct chat *ch = NULL;
    enum lair_err e = chat_run(r->o->ctx, &req, &ch, &err);
    free(prompt);
    if (e) {
        snprintf(reason, n, "judge unavailable: %s",
                 err.message[0] ? err.message : lair_err_msg(e));
        return EVAL_VERDICT_UNREADABLE;
    }
    struct buf text;
    buf_init(&text, 0);
    struct chat_result res;
    chat_collect(ch, &text, &res);
    enum eval_verdict v;
    if (res.llm.finish == LLM_FINISH_ERROR) {
        chat_generation_error(ch, res.llm.err, &err);
        snprintf(reason, n, "judge unavailable: %s",
                 err.message[0] ? err.message : lair_err_msg(res.llm.err));
        v = EVAL_VERDICT_UNREADABLE;
    } else if ((v = eval_judge_parse(buf_str(&text), reason, n)) == EVAL_VERDICT_UNREADABLE) {
        struct str t = str_trim(buf_str(&text));
        size_t len = utf8_complete_prefix(t.ptr, t.len > 80 ? 80 : t.len);
        char excerpt[96];
        snprintf(excerpt, sizeof(excerpt), "%.*s", (int)len, t.ptr);
        for (char *p = excerpt; *p; p++)
            if (*p == '\n' || *p == '\r' || *p == '\t')
                *p = ' ';
        snprintf(reason, n,
                 "judge answer unreadable (expected OUI or NON on the first line): \"%s\"",
                 excerpt);
    }
    chat_free(ch);
    buf_release(&text);
    return v;
}

/* The rubric of c, graded when the deterministic checks passed (*ok).
 * Returns the result's "judge" object (OWNED; NULL: no rubric). */
static json_t *grade(struct runner *r, const struct eval_case *c, struct str question,
                     struct str answer, bool *ok, json_t *reasons)
{
    if (!c->rubric)
        return NULL;
    if (!*ok)
        return json_pack("{s:n,s:s,s:s}", "model", "verdict", "not_asked", "reason",
                         "the deterministic checks failed first");
    if (!r->o->judge || !*r->o->judge) {
        *ok = false;
        json_array_append_new(
            reasons, json_string("the rubric was not graded: no judge model is configured "
                                 "(serve --eval-judge MODEL, eval run --judge NAME=PATH)"));
        return json_pack("{s:n,s:s,s:s}", "model", "verdict", "not_graded", "reason",
                         "no judge model is configured");
    }
    char reason[640];
    enum eval_verdict v = judge_ask(r, c, question, answer, reason, sizeof(reason));
    if (v != EVAL_VERDICT_PASS) {
        *ok = false;
        char line[sizeof(reason) + 64];
        if (v == EVAL_VERDICT_FAIL)
            snprintf(line, sizeof(line), "the judge says the rubric is not met: %s", reason);
        else
            snprintf(line, sizeof(line), "%s", reason);
        json_array_append_new(reasons, json_string(line));
    }
    return json_pack("{s:s,s:s,s:s}", "model", r->o->judge, "verdict", eval_verdict_name(v),
                     "reason", reason);
}

static json_t *run_case(struct runner *r, const struct eval_case *c)
{
    struct buf text;
    buf_init(&text, 0);
    const char *mode;
    json_t *sources;
    char error[600] = "";
    int64_t t0 = now_ms();
    ask(r, c, &text, &mode, &sources, error, sizeof(error));
    struct eval_answer a = {.text = buf_str(&text),
                            .mode = mode,
                            .sources = sources,
                            .latency_ms = now_ms() - t0,
                            .error = error[0] ? error : NULL};
    json_t *reasons = json_array();
    bool ok = eval_check(c, &a, r->refusal, r->instructions, reasons);
    json_t *last = json_array_get(c->messages, json_array_size(c->messages) - 1);
    json_t *lc = json_object_get(last, "content");
    json_t *verdict = grade(r, c, (struct str){json_string_value(lc), json_string_length(lc)},
                            a.text, &ok, reasons);
    json_t *out =
        json_pack("{s:s,s:s,s:O,s:b,s:o,s:s%,s:s,s:o,s:I}", "id", c->id, "category", c->category,
                  "question", json_object_get(last, "content"), "passed", ok, "reasons", reasons,
                  "answer", a.text.ptr, a.text.len, "answer_mode", mode, "sources",
                  sources ? sources : json_array(), "latency_ms", (json_int_t)a.latency_ms);
    if (out && verdict)
        json_object_set_new(out, "judge", verdict);
    else
        json_decref(verdict);
    buf_release(&text);
    return out;
}

static void *worker(void *arg)
{
    struct runner *r = arg;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        size_t i = r->next;
        bool stop =
            i >= r->s->n_cases || (r->o->cancel && __atomic_load_n(r->o->cancel, __ATOMIC_ACQUIRE));
        if (!stop)
            r->next++;
        pthread_mutex_unlock(&r->lock);
        if (stop)
            return NULL;
        json_t *res = run_case(r, &r->s->cases[i]);
        pthread_mutex_lock(&r->lock);
        r->results[i] = res;
        r->done++;
        if (res && json_is_true(json_object_get(res, "passed")))
            r->passed++;
        if (r->o->progress)
            r->o->progress(r->o->arg, r->done, r->passed, r->s->n_cases, res);
        pthread_mutex_unlock(&r->lock);
    }
}

static json_t *rate(size_t passed, size_t total)
{
    return json_real(total ? (double)passed / (double)total : 0.0);
}

/* {"category","total","passed","pass_rate"} in order of first appearance. */
static json_t *categories(json_t *cases)
{
    json_t *out = json_array(), *idx = json_object();
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "category"));
        json_t *cat = json_object_get(idx, name);
        if (!cat) {
            cat = json_pack("{s:s,s:i,s:i}", "category", name, "total", 0, "passed", 0);
            json_array_append_new(out, cat);
            json_object_set(idx, name, cat);
        }
        json_object_set_new(cat, "total",
                            json_integer(json_integer_value(json_object_get(cat, "total")) + 1));
        if (json_is_true(json_object_get(c, "passed")))
            json_object_set_new(
                cat, "passed",
                json_integer(json_integer_value(json_object_get(cat, "passed")) + 1));
    }
    json_array_foreach(out, i, c)
    {
        json_object_set_new(c, "pass_rate",
                            rate((size_t)json_integer_value(json_object_get(c, "passed")),
                                 (size_t)json_integer_value(json_object_get(c, "total"))));
    }
    json_decref(idx);
    return out;
}

enum lair_err eval_run(const struct eval_run_opts *o, const struct eval_suite *s, json_t **report,
                       struct chat_error *err)
{
    struct runner r = {.o = o, .s = s};
    char model[129];
    enum lair_err e = eval_resolve(o, &r.version, model, err);
    if (e)
        return e;
    /* the refusal text of the pinned version */
    struct chat_request req;
    request_init(o, r.version, &req);
    struct chat_target t;
    if ((e = chat_resolve(o->ctx, &req, &t, err)))
        return e;
    snprintf(r.refusal, sizeof(r.refusal), "%s", t.assistant.refusal ? t.assistant.refusal : "");
    r.instructions = strdup(t.assistant.instructions ? t.assistant.instructions : "");
    chat_target_release(&t);
    if (!r.instructions)
        return LAIR_ENOMEM;

    if (!(r.results = calloc(s->n_cases ? s->n_cases : 1, sizeof(*r.results)))) {
        free(r.instructions);
        return LAIR_ENOMEM;
    }
    pthread_mutex_init(&r.lock, NULL);
    int par = o->parallel > 0 ? o->parallel : EVAL_PARALLEL_DEFAULT;
    if (par > EVAL_PARALLEL_MAX)
        par = EVAL_PARALLEL_MAX;
    if ((size_t)par > s->n_cases)
        par = s->n_cases ? (int)s->n_cases : 1;
    time_t started = time(NULL);
    int64_t t0 = now_ms();
    pthread_t th[EVAL_PARALLEL_MAX];
    int n_th = 0;
    for (int i = 1; i < par; i++)
        if (!pthread_create(&th[n_th], NULL, worker, &r))
            n_th++;
    worker(&r); /* this thread is one of the workers */
    for (int i = 0; i < n_th; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&r.lock);

    json_t *cases = json_array();
    for (size_t i = 0; i < s->n_cases; i++)
        if (r.results[i])
            json_array_append_new(cases, r.results[i]);
    free(r.results);
    free(r.instructions);
    bool complete = r.done == s->n_cases;
    *report = json_pack(
        "{s:s,s:i,s:s,s:s,s:i,s:i,s:s,s:I,s:I,s:I,s:i,s:i,s:o,s:o,s:o}", "assistant", o->assistant,
        "assistant_version", r.version, "model", model, "suite", s->name, "revision", s->revision,
        "parallel", par, "state", complete ? "done" : "interrupted", "started_at",
        (json_int_t)started, "finished_at", (json_int_t)time(NULL), "duration_ms",
        (json_int_t)(now_ms() - t0), "total", (int)s->n_cases, "passed", (int)r.passed, "pass_rate",
        rate(r.passed, s->n_cases), "categories", categories(cases), "cases", cases);
    return *report ? LAIR_OK : LAIR_ENOMEM;
}

/* ---- planted documents ---- */

enum lair_err eval_plant(struct tenant_db *db, const struct eval_suite *s, char kb[SLUG_MAX + 1])
{
    kb[0] = 0;
    size_t n = json_array_size(s->documents);
    if (!n)
        return LAIR_OK;
    char slug[SLUG_MAX + 1];
    snprintf(slug, sizeof(slug), "eval-%s", s->name);
    for (char *p = slug; *p; p++)
        if (*p == '_')
            *p = '-';
    size_t len = strlen(slug);
    while (len && slug[len - 1] == '-')
        slug[--len] = 0;
    enum lair_err e = kb_find(db, slug, NULL);
    if (e == LAIR_ENOTFOUND) {
        char name[KB_NAME_MAX + 1];
        snprintf(name, sizeof(name), "Évaluation : documents de « %s »", s->name);
        e = kb_create(db, slug, name);
        if (e == LAIR_ECONFLICT) /* created meanwhile */
            e = LAIR_OK;
    }
    if (e)
        return e;
    struct ingest_upload up[EVAL_MAX_DOCUMENTS];
    for (size_t i = 0; i < n && i < EVAL_MAX_DOCUMENTS; i++) {
        json_t *d = json_array_get(s->documents, i);
        json_t *text = json_object_get(d, "text");
        up[i] = (struct ingest_upload){json_string_value(json_object_get(d, "name")),
                                       {json_string_value(text), json_string_length(text)}};
    }
    int64_t job;
    if ((e = ingest_job_upload(db, slug, up, n, NULL, &job)))
        return e;
    struct ingest_opts io = {0};
    struct ingest_step step;
    do {
        memset(&step, 0, sizeof(step));
        if ((e = ingest_job_step(db, job, &io, &step)))
            return e;
    } while (!step.finished);
    snprintf(kb, SLUG_MAX + 1, "%s", slug);
    return LAIR_OK;
}

/* ---- comparison ---- */

static json_t *run_fields(json_t *r)
{
    json_t *out = json_object();
    static const char *const keys[] = {
        "id",     "assistant", "assistant_version", "model", "suite", "kind", "suite_version",
        "passed", "total",     "pass_rate",         NULL};
    for (size_t i = 0; keys[i]; i++) {
        json_t *v = json_object_get(r, keys[i]);
        if (v)
            json_object_set(out, keys[i], v);
    }
    return out;
}

static json_t *find_case(json_t *cases, const char *id)
{
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "id")), id))
            return c;
    }
    return NULL;
}

static json_t *category_rate(json_t *report, const char *name)
{
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(report, "categories"), i, c)
    {
        if (!strcmp(json_string_value(json_object_get(c, "category")), name))
            return json_incref(json_object_get(c, "pass_rate"));
    }
    return json_null();
}

json_t *eval_compare(json_t *a, json_t *b)
{
    json_t *ca = json_object_get(a, "cases"), *cb = json_object_get(b, "cases");
    json_t *better = json_array(), *regressed = json_array(), *only_a = json_array(),
           *only_b = json_array();
    int same_pass = 0, same_fail = 0;
    size_t i;
    json_t *c;
    json_array_foreach(ca, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        json_t *d = find_case(cb, id);
        if (!d) {
            json_array_append_new(only_a, json_string(id));
            continue;
        }
        bool pa = json_is_true(json_object_get(c, "passed"));
        bool pb = json_is_true(json_object_get(d, "passed"));
        if (pa && !pb)
            json_array_append_new(regressed, json_string(id));
        else if (!pa && pb)
            json_array_append_new(better, json_string(id));
        else if (pa)
            same_pass++;
        else
            same_fail++;
    }
    json_array_foreach(cb, i, c)
    {
        const char *id = json_string_value(json_object_get(c, "id"));
        if (!find_case(ca, id))
            json_array_append_new(only_b, json_string(id));
    }
    json_t *cats = json_array(), *seen = json_object();
    json_t *reports[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        json_array_foreach(json_object_get(reports[k], "categories"), i, c)
        {
            const char *name = json_string_value(json_object_get(c, "category"));
            if (json_object_get(seen, name))
                continue;
            json_object_set_new(seen, name, json_true());
            json_array_append_new(cats, json_pack("{s:s,s:o,s:o}", "category", name, "a_pass_rate",
                                                  category_rate(a, name), "b_pass_rate",
                                                  category_rate(b, name)));
        }
    }
    json_decref(seen);
    return json_pack("{s:o,s:o,s:o,s:o,s:i,s:i,s:o,s:o,s:o}", "a", run_fields(a), "b",
                     run_fields(b), "better", better, "regressed", regressed, "unchanged_pass",
                     same_pass, "unchanged_fail", same_fail, "only_a", only_a, "only_b", only_b,
                     "categories", cats);
}
