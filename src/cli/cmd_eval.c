/* libreair eval: evaluation suites and the shipped red-team packs, run in
 * this process through the server's chat pipeline (cli_chat_*, cli.h;
 * eval/run.h), stored in the tenant's database with their reports
 * (docs/evaluation.md).
 *
 *   apply    FILE.json as the assistant's suite (declarative: unchanged when equal)
 *   export   a suite's canonical file
 *   suites   the assistant's suites and the shipped packs
 *   run      a suite or pack against a version of the assistant; prints the report
 *   list     the runs, newest first
 *   show     one run's report
 *   compare  two runs case by case: better, regressed */
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "eval/run.h"
#include "eval/suite.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "store/evals.h"
#include "core/banned.h"

#define MAX_FILE (4 * 1024 * 1024)
#define MAX_MODELS 16

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair eval apply   --tenant SLUG --assistant SLUG [--data DIR] FILE.json\n"
            "       libreair eval export  --tenant SLUG (--assistant SLUG SUITE | --pack NAME)\n"
            "       libreair eval suites  --tenant SLUG [--assistant SLUG] [--data DIR]\n"
            "       libreair eval run     --tenant SLUG --assistant SLUG [--data DIR]\n"
            "                             [--version N | --draft] (--suite NAME | --pack NAME)\n"
            "                             [--parallel N] [--model NAME=PATH.gguf]...\n"
            "                             [--judge NAME=PATH.gguf] [--json]\n"
            "       libreair eval list    --tenant SLUG [--assistant SLUG] [--data DIR]\n"
            "       libreair eval show    --tenant SLUG [--data DIR] [--json] RUN\n"
            "       libreair eval compare --tenant SLUG [--data DIR] [--json] RUN1 RUN2\n\n"
            "apply    stores FILE.json ('-': stdin) as the assistant's suite, a new version\n"
            "         when it differs from the stored one.\n"
            "run      runs every case of the suite (or shipped pack) through the chat\n"
            "         pipeline, --parallel at a time (default 2, at most 8), against the\n"
            "         published version (or --draft, or --version N), stores the run and\n"
            "         prints its report. --model loads a GGUF model (default\n"
            "         $LIBREAIR_MODEL as 'default'); without one, assistants with knowledge\n"
            "         bases answer in degraded mode. --judge loads the model that grades\n"
            "         the cases' rubrics (without it they fail, not graded).\n"
            "compare  what RUN2 does better and worse than RUN1, case by case.\n\n"
            "Exit status: 0 done (run: every case passed), 1 failed, 2 usage error,\n"
            "3 (run) the run finished and some cases failed.\n");
}

struct opts {
    const char *data, *tenant, *assistant, *suite, *pack;
    const char *models[MAX_MODELS];
    size_t n_models;
    int version, parallel;
    bool json;
    char judge[129]; /* --judge's model name; "": none */
};

static int parse_int(const char *s, int min, int max, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < min || v > max)
        return -1;
    *out = (int)v;
    return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"assistant", required_argument, NULL, 'a'},
                                             {"suite", required_argument, NULL, 's'},
                                             {"pack", required_argument, NULL, 'p'},
                                             {"version", required_argument, NULL, 'v'},
                                             {"draft", no_argument, NULL, 'D'},
                                             {"parallel", required_argument, NULL, 'j'},
                                             {"model", required_argument, NULL, 'm'},
                                             {"judge", required_argument, NULL, 'g'},
                                             {"json", no_argument, NULL, 'J'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:t:a:s:p:v:j:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 'a': o->assistant = optarg; break;
        case 's': o->suite = optarg; break;
        case 'p': o->pack = optarg; break;
        case 'D': o->version = CHAT_DRAFT; break;
        case 'J': o->json = true; break;
        case 'v':
            if (parse_int(optarg, 1, INT_MAX, &o->version)) {
                fprintf(stderr, "libreair eval: --version wants a version number\n");
                return 2;
            }
            break;
        case 'j':
            if (parse_int(optarg, 1, EVAL_PARALLEL_MAX, &o->parallel)) {
                fprintf(stderr, "libreair eval: --parallel wants 1 to %d\n", EVAL_PARALLEL_MAX);
                return 2;
            }
            break;
        case 'g': {
            const char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg || !eq[1] || eq - optarg > 128) {
                fprintf(stderr, "libreair eval: --judge wants NAME=PATH.gguf\n");
                return 2;
            }
            snprintf(o->judge, sizeof(o->judge), "%.*s", (int)(eq - optarg), optarg);
        }
            __attribute__((fallthrough)); /* the judge is one more model to load */
        case 'm':
            if (o->n_models == MAX_MODELS) {
                fprintf(stderr, "libreair eval: at most %d --model\n", MAX_MODELS);
                return 2;
            }
            o->models[o->n_models++] = optarg;
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o->tenant) {
        fprintf(stderr, "libreair eval %s: --tenant SLUG is required\n", argv[0]);
        return 2;
    }
    return -1;
}

static int need_assistant(const char *cmd, const struct opts *o)
{
    if (o->assistant)
        return 0;
    fprintf(stderr, "libreair eval %s: --assistant SLUG is required\n", cmd);
    return 2;
}

static json_t *read_file(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "libreair eval apply: cannot open %s\n", path);
        return NULL;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!buf || n > MAX_FILE) {
        fprintf(stderr, "libreair eval apply: %s: %s\n", path,
                buf ? "larger than 4 MiB" : "out of memory");
        free(buf);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!v)
        fprintf(stderr, "libreair eval apply: %s:%d:%d: malformed JSON: %s\n", path, je.line,
                je.column, je.text);
    return v;
}

static void audit(struct cli_tenant *h, const char *action, const char *assistant,
                  const char *detail)
{
    char target[SLUG_MAX + 16];
    snprintf(target, sizeof(target), "assistant:%s", assistant);
    struct audit_event ev = {
        .actor = "cli", .action = action, .target = target, .outcome = "ok", .detail = detail};
    if (audit_record(h->data, h->sys, h->db, &ev))
        fprintf(stderr, "libreair eval: warning: could not append '%s' to the audit log\n", action);
}

static void print_json(json_t *v);

/* ---- apply, export, suites ---- */

static int cmd_apply(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = need_assistant("apply", &o)))
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "libreair eval apply: one FILE.json expected\n");
        return 2;
    }
    const char *path = argv[optind];
    json_t *spec = read_file(path);
    if (!spec)
        return 1;
    struct eval_suite s;
    struct eval_error err;
    enum lair_err e = eval_suite_parse(spec, &s, &err);
    json_decref(spec);
    if (e) {
        if (e == LAIR_EUNPROC)
            fprintf(stderr, "libreair eval apply: %s: invalid field '%s': %s\n", path,
                    err.field[0] ? err.field : "(file)", err.msg);
        else
            fprintf(stderr, "libreair eval apply: %s\n", lair_err_msg(e));
        return 1;
    }
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval apply", o.data, o.tenant, true, &h)) {
        eval_suite_release(&s);
        return 1;
    }
    char *text = eval_suite_dump(&s);
    int version = 0;
    enum eval_apply_outcome outcome;
    e = text ? evals_suite_apply(h.db, o.assistant, s.name, text, "cli", &version, &outcome)
             : LAIR_ENOMEM;
    if (e == LAIR_ENOTFOUND)
        fprintf(stderr, "libreair eval apply: no assistant '%s' in tenant '%s'\n", o.assistant,
                o.tenant);
    else if (e)
        fprintf(stderr, "libreair eval apply: %s\n", lair_err_msg(e));
    else {
        if (outcome != EVAL_SUITE_UNCHANGED) {
            char detail[96];
            snprintf(detail, sizeof(detail), "suite=%s version=%d", s.name, version);
            audit(&h, "eval.suite.apply", o.assistant, detail);
        }
        printf("%s/%s: %s, version %d (%zu cases)\n", o.assistant, s.name,
               outcome == EVAL_SUITE_CREATED   ? "created"
               : outcome == EVAL_SUITE_UPDATED ? "updated"
                                               : "unchanged",
               version, s.n_cases);
    }
    free(text);
    eval_suite_release(&s);
    cli_tenant_close(&h);
    return e ? 1 : 0;
}

static int cmd_export(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.pack) { /* a shipped pack, as a starting point for a suite */
        struct eval_suite p;
        if (eval_pack_load(o.pack, &p)) {
            fprintf(stderr, "libreair eval export: no pack '%s'\n", o.pack);
            return 1;
        }
        print_json(p.spec);
        eval_suite_release(&p);
        return 0;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "libreair eval export: one SUITE expected\n");
        return 2;
    }
    if (!o.assistant) {
        fprintf(stderr, "libreair eval export: --assistant SLUG is required\n");
        return 2;
    }
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval export", o.data, o.tenant, true, &h))
        return 1;
    char *spec = NULL;
    enum lair_err e = evals_suite_get(h.db, o.assistant, argv[optind], 0, &spec, NULL);
    if (e == LAIR_ENOTFOUND)
        fprintf(stderr, "libreair eval export: assistant '%s' has no suite '%s'\n", o.assistant,
                argv[optind]);
    else if (e)
        fprintf(stderr, "libreair eval export: %s\n", lair_err_msg(e));
    else {
        json_t *v = json_loads(spec, 0, NULL);
        char *pretty = v ? json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        printf("%s\n", pretty ? pretty : spec);
        free(pretty);
        json_decref(v);
    }
    free(spec);
    cli_tenant_close(&h);
    return e ? 1 : 0;
}

static void print_suite(void *arg, const struct eval_suite_info *s)
{
    printf("%-24s %-24s suite  version %-3d %3d cases\n", s->assistant, s->name, s->version,
           s->cases);
}

static int cmd_suites(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval suites", o.data, o.tenant, true, &h))
        return 1;
    enum lair_err e = evals_suite_list(h.db, o.assistant, print_suite, NULL);
    for (size_t i = 0; !e && i < eval_packs_count(); i++) {
        struct eval_suite s;
        if (eval_pack_load(eval_pack_name(i), &s))
            continue;
        printf("%-24s %-24s pack   revision %-2d %3zu cases\n", "(shipped)", s.name, s.revision,
               s.n_cases);
        eval_suite_release(&s);
    }
    if (e)
        fprintf(stderr, "libreair eval suites: %s\n", lair_err_msg(e));
    cli_tenant_close(&h);
    return e ? 1 : 0;
}

/* ---- reports ---- */

static double num(json_t *o, const char *k)
{
    return json_number_value(json_object_get(o, k));
}
static const char *txt(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* At most n bytes of s on one line, whole UTF-8 characters. */
static void print_excerpt(const char *s, size_t n)
{
    size_t len = strlen(s);
    if (len > n)
        len = utf8_complete_prefix(s, n);
    for (size_t i = 0; i < len; i++)
        putchar(s[i] == '\n' || s[i] == '\r' || s[i] == '\t' ? ' ' : s[i]);
    if (strlen(s) > len)
        fputs("…", stdout);
}

static void print_report(json_t *r)
{
    printf("run %lld: %s version %lld (model %s), %s %s (version %lld), %s\n",
           (long long)num(r, "id"), txt(r, "assistant"), (long long)num(r, "assistant_version"),
           txt(r, "model"), txt(r, "kind"), txt(r, "suite"), (long long)num(r, "suite_version"),
           txt(r, "state"));
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(r, "cases"), i, c)
    {
        bool ok = json_is_true(json_object_get(c, "passed"));
        printf("\n%s %-28s [%s] %lld ms, %s\n", ok ? "PASS" : "FAIL", txt(c, "id"),
               txt(c, "category"), (long long)num(c, "latency_ms"), txt(c, "answer_mode"));
        printf("  question: ");
        print_excerpt(txt(c, "question"), 160);
        printf("\n  answer:   ");
        print_excerpt(txt(c, "answer"), 240);
        putchar('\n');
        size_t j;
        json_t *v;
        if (json_array_size(json_object_get(c, "sources"))) {
            printf("  sources: ");
            json_array_foreach(json_object_get(c, "sources"), j, v)
                printf("%s%s", j ? ", " : "", txt(v, "document"));
            putchar('\n');
        }
        json_array_foreach(json_object_get(c, "reasons"), j, v)
            printf("  - %s\n", json_string_value(v));
    }
    printf("\ncategory                 passed  rate\n");
    json_array_foreach(json_object_get(r, "categories"), i, c)
        printf("%-24s %3lld/%-3lld %5.1f %%\n", txt(c, "category"), (long long)num(c, "passed"),
               (long long)num(c, "total"), 100 * num(c, "pass_rate"));
    printf("%-24s %3lld/%-3lld %5.1f %%   (%lld ms, %lld at a time)\n", "all",
           (long long)num(r, "passed"), (long long)num(r, "total"), 100 * num(r, "pass_rate"),
           (long long)num(r, "duration_ms"), (long long)num(r, "parallel"));
}

static void print_json(json_t *v)
{
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s)
        printf("%s\n", s);
    free(s);
}

/* ---- run ---- */

static void on_case(void *arg, size_t done, size_t passed, size_t total, json_t *result)
{
    fprintf(stderr, "[%zu/%zu] %s %s (%lld ms)\n", done, total,
            json_is_true(json_object_get(result, "passed")) ? "pass" : "FAIL", txt(result, "id"),
            (long long)num(result, "latency_ms"));
}

/* The run's usage goes to the tenant's daily usage (key id "cli"), as an
 * API run's goes to its key's: chat_ctx.usage, called from the worker
 * threads. */
static pthread_mutex_t usage_mu = PTHREAD_MUTEX_INITIALIZER;

static void charge(void *arg, const struct principal *p, int tokens)
{
    struct cli_chat *s = arg;
    char day[11];
    conv_usage_day(time(NULL), day);
    pthread_mutex_lock(&usage_mu);
    enum lair_err e = conv_usage_add(s->t.db, day, p->key_id, 1, tokens > 0 ? tokens : 0);
    pthread_mutex_unlock(&usage_mu);
    if (e)
        fprintf(stderr, "libreair eval run: usage not recorded: %s\n", lair_err_msg(e));
}

/* Refuses a run when the tenant's daily token quota is used up, as the
 * API's admission does; 0 when it may run. */
static int quota_left(struct cli_chat *s, const char *tenant)
{
    struct tenant_row row;
    int64_t requests, tokens;
    char day[11];
    conv_usage_day(time(NULL), day);
    if (sysdb_tenant_get(s->t.sys, tenant, &row) || row.tokens_per_day <= 0 ||
        conv_usage_get(s->t.db, day, CONV_USAGE_TENANT, &requests, &tokens) ||
        tokens < row.tokens_per_day)
        return 0;
    fprintf(stderr,
            "libreair eval run: the daily token quota of %lld tokens for tenant %s is used up "
            "(it starts again at 00:00 UTC; 'libreair tenant set' changes it)\n",
            (long long)row.tokens_per_day, tenant);
    return 1;
}

static int cmd_run(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = need_assistant("run", &o)))
        return rc;
    if (!o.suite == !o.pack || argc != optind) {
        fprintf(stderr, "libreair eval run: one of --suite NAME or --pack NAME is expected\n");
        return 2;
    }
    const char *env_model = getenv("LIBREAIR_MODEL");
    static char default_model[PATH_MAX + 16];
    if (o.n_models == 0 && env_model && *env_model) {
        snprintf(default_model, sizeof(default_model), "default=%s", env_model);
        o.models[o.n_models++] = default_model;
    }
    int par = o.parallel ? o.parallel : EVAL_PARALLEL_DEFAULT;
    struct cli_chat s;
    if (cli_chat_open_slots("libreair eval run", o.data, o.tenant, o.models, o.n_models, par, &s))
        return 1;
    if (quota_left(&s, o.tenant)) {
        cli_chat_close(&s);
        return 1;
    }
    s.ctx.usage = charge;
    s.ctx.usage_arg = &s;
    struct eval_suite suite;
    int suite_version = 0;
    enum lair_err e = eval_load(s.t.db, o.assistant, o.suite, o.pack, &suite, &suite_version);
    if (e) {
        if (e == LAIR_ENOTFOUND && o.pack)
            fprintf(stderr, "libreair eval run: no pack '%s' ('libreair eval suites' lists them)\n",
                    o.pack);
        else if (e == LAIR_ENOTFOUND)
            fprintf(stderr, "libreair eval run: assistant '%s' has no suite '%s'\n", o.assistant,
                    o.suite);
        else
            fprintf(stderr, "libreair eval run: %s\n", lair_err_msg(e));
        cli_chat_close(&s);
        return 1;
    }
    struct eval_run_opts ro = {.ctx = &s.ctx,
                               .who = &s.who,
                               .assistant = o.assistant,
                               .version = o.version,
                               .parallel = par,
                               .judge = o.judge[0] ? o.judge : NULL,
                               .progress = on_case};
    struct eval_record rec;
    struct chat_error err;
    json_t *report = NULL;
    e = eval_begin(s.t.db, &ro, &suite, o.pack ? "pack" : "suite", suite_version, "cli", &rec,
                   &err);
    if (e)
        fprintf(stderr, "libreair eval run: %s\n", err.message[0] ? err.message : lair_err_msg(e));
    else {
        fprintf(stderr, "run %lld: %zu cases of %s against %s version %d\n", (long long)rec.id,
                suite.n_cases, suite.name, o.assistant, rec.assistant_version);
        e = eval_complete(s.t.db, &ro, &suite, &rec, &report);
        if (e)
            fprintf(stderr, "libreair eval run: %s\n", lair_err_msg(e));
    }
    if (report) {
        char detail[128];
        snprintf(detail, sizeof(detail), "run=%lld %s=%s passed=%lld/%lld", (long long)rec.id,
                 rec.kind, suite.name, (long long)num(report, "passed"),
                 (long long)num(report, "total"));
        audit(&s.t, "eval.run", o.assistant, detail);
        if (o.json)
            print_json(report);
        else
            print_report(report);
    }
    rc = e ? 1 : num(report, "passed") == num(report, "total") ? 0 : 3;
    json_decref(report);
    eval_suite_release(&suite);
    cli_chat_close(&s);
    return rc;
}

/* ---- list, show, compare ---- */

static void print_run(void *arg, const struct eval_run_info *r)
{
    printf("%-5lld %-20s v%-4d %-5s %-24s %-11s %3d/%-3d", (long long)r->id, r->assistant,
           r->assistant_version, r->kind, r->suite, r->state, r->passed, r->total);
    if (strcmp(r->state, "running"))
        printf("  %d done", r->done);
    putchar('\n');
}

static int cmd_list(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval list", o.data, o.tenant, true, &h))
        return 1;
    printf("%-5s %-20s %-5s %-5s %-24s %-11s %s\n", "run", "assistant", "ver", "kind", "suite",
           "state", "passed");
    enum lair_err e = evals_run_list(h.db, o.assistant, 0, print_run, NULL);
    if (e)
        fprintf(stderr, "libreair eval list: %s\n", lair_err_msg(e));
    cli_tenant_close(&h);
    return e ? 1 : 0;
}

/* The stored report of run id (or its row while it runs). OWNED. */
static json_t *load_run(const char *prog, struct tenant_db *db, const char *arg)
{
    int id;
    if (parse_int(arg, 1, INT_MAX, &id)) {
        fprintf(stderr, "%s: '%s' is not a run number\n", prog, arg);
        return NULL;
    }
    struct eval_run_info info;
    char *report = NULL;
    enum lair_err e = evals_run_get(db, NULL, id, &info, &report);
    if (e) {
        fprintf(stderr, "%s: %s\n", prog, e == LAIR_ENOTFOUND ? "no such run" : lair_err_msg(e));
        return NULL;
    }
    json_t *v = report ? json_loads(report, 0, NULL) : NULL;
    free(report);
    if (!v)
        fprintf(stderr, "%s: run %d is %s and has no report yet\n", prog, id, info.state);
    return v;
}

static int cmd_show(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "libreair eval show: one RUN expected\n");
        return 2;
    }
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval show", o.data, o.tenant, true, &h))
        return 1;
    json_t *r = load_run("libreair eval show", h.db, argv[optind]);
    if (r && o.json)
        print_json(r);
    else if (r)
        print_report(r);
    json_decref(r);
    cli_tenant_close(&h);
    return r ? 0 : 1;
}

static void print_ids(const char *label, json_t *ids)
{
    printf("%-10s %zu", label, json_array_size(ids));
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) printf("%s%s", i ? ", " : ": ", json_string_value(v));
    putchar('\n');
}

static int cmd_compare(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 2) {
        fprintf(stderr, "libreair eval compare: two RUNs expected\n");
        return 2;
    }
    struct cli_tenant h;
    if (cli_tenant_open("libreair eval compare", o.data, o.tenant, true, &h))
        return 1;
    json_t *a = load_run("libreair eval compare", h.db, argv[optind]);
    json_t *b = a ? load_run("libreair eval compare", h.db, argv[optind + 1]) : NULL;
    json_t *c = a && b ? eval_compare(a, b) : NULL;
    if (c && o.json)
        print_json(c);
    else if (c) {
        json_t *ra = json_object_get(c, "a"), *rb = json_object_get(c, "b");
        printf("run %lld (%s v%lld, %s) -> run %lld (%s v%lld, %s)\n", (long long)num(ra, "id"),
               txt(ra, "assistant"), (long long)num(ra, "assistant_version"), txt(ra, "suite"),
               (long long)num(rb, "id"), txt(rb, "assistant"),
               (long long)num(rb, "assistant_version"), txt(rb, "suite"));
        print_ids("better", json_object_get(c, "better"));
        print_ids("regressed", json_object_get(c, "regressed"));
        printf("%-10s %lld pass, %lld fail\n", "unchanged", (long long)num(c, "unchanged_pass"),
               (long long)num(c, "unchanged_fail"));
        size_t i;
        json_t *v;
        json_array_foreach(json_object_get(c, "categories"), i, v)
        {
            json_t *x = json_object_get(v, "a_pass_rate"), *y = json_object_get(v, "b_pass_rate");
            printf("  %-24s ", txt(v, "category"));
            x ? printf("%5.1f %%", 100 * json_number_value(x)) : printf("    - ");
            printf(" -> ");
            y ? printf("%5.1f %%\n", 100 * json_number_value(y)) : printf("    -\n");
        }
    }
    json_decref(a);
    json_decref(b);
    json_decref(c);
    cli_tenant_close(&h);
    return c ? 0 : 1;
}

int cmd_eval(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } subs[] = {{"apply", cmd_apply},    {"export", cmd_export}, {"suites", cmd_suites},
                {"run", cmd_run},        {"list", cmd_list},     {"show", cmd_show},
                {"compare", cmd_compare}};
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
        if (!strcmp(argv[1], subs[i].name))
            return subs[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "libreair eval: unknown subcommand '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
