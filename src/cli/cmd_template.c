/* libreair assistant generate: a draft assistant and its evaluation suite
 * from knowledge bases (assist/generate.h), written as two files for review;
 * libreair template list|show|publish|delete: the shared assistant
 * templates (assist/templates.h, docs/templates.md). Both work on the data
 * directory directly. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/assistant.h"
#include "assist/generate.h"
#include "assist/templates.h"
#include "cli/cli.h"
#include "eval/suite.h"
#include "core/banned.h"

static void gen_usage(FILE *f)
{
    fprintf(f,
            "usage: libreair assistant generate --tenant SLUG --kb KB [--kb KB2]... [--data DIR]\n"
            "                                   [--name NAME] [--template NAME] [--model NAME]\n"
            "                                   [--out DIR]\n\n"
            "Proposes a draft assistant from the documents of the knowledge bases: name,\n"
            "instructions (from --template, or the built-in ones), welcome text, starter\n"
            "questions from the documents' titles and headings, and an evaluation suite\n"
            "'documents' whose questions each expect their document among the sources.\n"
            "Nothing is stored: with --out, writes DIR/SLUG.json and DIR/SLUG.suite.json\n"
            "(review them, then 'assistant apply' and 'eval apply'); without, prints\n"
            "{\"assistant\": …, \"suite\": …}. --model names the spec's model (default\n"
            "'default'). Exit status: 0 done, 1 failed, 2 usage error.\n");
}

static int write_json(const char *dir, const char *slug, const char *suffix, json_t *v)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s%s", dir, slug, suffix);
    if (json_dump_file(v, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
        fprintf(stderr, "libreair assistant generate: cannot write %s\n", path);
        return 1;
    }
    printf("%s\n", path);
    return 0;
}

int cmd_assistant_generate(int argc, char **argv)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"kb", required_argument, NULL, 'k'},
                                             {"name", required_argument, NULL, 'n'},
                                             {"template", required_argument, NULL, 'T'},
                                             {"model", required_argument, NULL, 'm'},
                                             {"out", required_argument, NULL, 'o'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    const char *data = NULL, *tenant = NULL, *name = NULL, *tname = NULL, *model = NULL,
               *out = NULL;
    const char *kbs[GEN_MAX_KBS];
    size_t n = 0;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:t:k:n:T:m:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 't': tenant = optarg; break;
        case 'k':
            if (n == GEN_MAX_KBS) {
                fprintf(stderr, "libreair assistant generate: at most %d --kb\n", GEN_MAX_KBS);
                return 2;
            }
            kbs[n++] = optarg;
            break;
        case 'n': name = optarg; break;
        case 'T': tname = optarg; break;
        case 'm': model = optarg; break;
        case 'o': out = optarg; break;
        case 'h': gen_usage(stdout); return 0;
        default: gen_usage(stderr); return 2;
        }
    }
    if (!tenant || !n || optind != argc) {
        fprintf(stderr, "libreair assistant generate: --tenant and at least one --kb are "
                        "required\n");
        return 2;
    }
    struct cli_tenant h;
    if (cli_tenant_open("libreair assistant generate", data, tenant, true, &h))
        return 1;
    json_t *tmpl = NULL, *spec = NULL, *suite = NULL;
    int rc = 1;
    if (tname && template_get(h.data, tname, &tmpl, NULL)) {
        fprintf(stderr,
                "libreair assistant generate: no template '%s' (libreair template "
                "list)\n",
                tname);
        goto out;
    }
    struct gen_opts go = {.kbs = kbs,
                          .n_kbs = n,
                          .name = name,
                          .model = model,
                          .tmpl = tmpl ? json_object_get(tmpl, "assistant") : NULL};
    struct gen_error gerr;
    enum lair_err e = gen_assistant(h.db, &go, &spec, &suite, &gerr);
    if (e == LAIR_EUNPROC) {
        fprintf(stderr, "libreair assistant generate: %s\n", gerr.msg);
        goto out;
    }
    if (e) {
        fprintf(stderr, "libreair assistant generate: %s\n", lair_err_msg(e));
        goto out;
    }
    struct assistant a;
    struct assistant_error ae;
    struct eval_suite s;
    struct eval_error ee;
    if (assistant_parse(spec, NULL, &a, &ae)) {
        fprintf(stderr, "libreair assistant generate: generated an invalid draft: %s: %s\n",
                ae.field, ae.msg);
        goto out;
    }
    if (eval_suite_parse(suite, &s, &ee)) {
        fprintf(stderr, "libreair assistant generate: generated an invalid suite: %s: %s\n",
                ee.field, ee.msg);
        assistant_release(&a);
        goto out;
    }
    if (out) {
        rc = write_json(out, a.slug, ".json", a.spec) ||
             write_json(out, a.slug, ".suite.json", s.spec);
    } else {
        json_t *both = json_pack("{s:O, s:O}", "assistant", a.spec, "suite", s.spec);
        rc = !both || json_dumpf(both, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(both);
    }
    fprintf(stderr, "%s: draft with %zu starter(s), suite 'documents' with %zu case(s)%s\n", a.slug,
            json_array_size(json_object_get(a.spec, "starters")), s.n_cases,
            out ? "; review, then 'assistant apply' and 'eval apply'" : "");
    assistant_release(&a);
    eval_suite_release(&s);
out:
    json_decref(tmpl);
    json_decref(spec);
    json_decref(suite);
    cli_tenant_close(&h);
    return rc;
}

/* ---- libreair template ---- */

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair template list    [--data DIR]\n"
               "       libreair template show    [--data DIR] NAME\n"
               "       libreair template publish [--data DIR] FILE.json\n"
               "       libreair template delete  [--data DIR] NAME\n\n"
               "Assistant templates every tenant can instantiate: instructions, settings and\n"
               "an evaluation suite, never any data. Some ship with LibreAIr; the operator\n"
               "publishes others (stored in DIR/templates/). Exit status: 0 done, 1 failed\n"
               "(an invalid file names the field), 2 usage error.\n");
}

static void list_one(void *arg, const struct template_info *t)
{
    printf("%-24s %-8s rev %-3d %2d case(s)  %s\n", t->name, t->shipped ? "shipped" : "operator",
           t->revision, t->cases, t->title);
}

int cmd_template(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1], *data = NULL;
    int c;
    optind = 0;
    while ((c = getopt_long(argc - 1, argv + 1, "d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int pos = optind + 1, npos = argc - pos;
    const char *dir = cli_data_dir(data);
    if (!strcmp(sub, "list") && npos == 0)
        return template_list(dir, list_one, NULL) ? 1 : 0;
    if (!strcmp(sub, "show") && npos == 1) {
        json_t *t;
        if (template_get(dir, argv[pos], &t, NULL)) {
            fprintf(stderr, "libreair template show: no template '%s'\n", argv[pos]);
            return 1;
        }
        json_dumpf(t, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        printf("\n");
        json_decref(t);
        return 0;
    }
    if (!strcmp(sub, "publish") && npos == 1) {
        json_error_t je;
        json_t *in = json_load_file(argv[pos], JSON_REJECT_DUPLICATES, &je), *t;
        if (!in) {
            fprintf(stderr, "libreair template publish: %s:%d:%d: %s\n", argv[pos], je.line,
                    je.column, je.text);
            return 1;
        }
        struct template_error err;
        enum lair_err e = template_parse(in, &t, &err);
        json_decref(in);
        if (e) {
            fprintf(stderr, "libreair template publish: %s: invalid field '%s': %s\n", argv[pos],
                    err.field, err.msg);
            return 1;
        }
        bool replaced = false;
        e = template_publish(dir, t, &replaced);
        const char *name = json_string_value(json_object_get(t, "name"));
        if (e == LAIR_ECONFLICT)
            fprintf(stderr,
                    "libreair template publish: '%s' is shipped with LibreAIr: use "
                    "another name\n",
                    name);
        else if (e)
            fprintf(stderr, "libreair template publish: %s\n", lair_err_msg(e));
        else
            printf("%s: %s\n", name, replaced ? "replaced" : "published");
        json_decref(t);
        return e ? 1 : 0;
    }
    if (!strcmp(sub, "delete") && npos == 1) {
        enum lair_err e = template_delete(dir, argv[pos]);
        if (e == LAIR_ECONFLICT)
            fprintf(stderr, "libreair template delete: '%s' is shipped and cannot be deleted\n",
                    argv[pos]);
        else if (e == LAIR_ENOTFOUND)
            fprintf(stderr, "libreair template delete: no template '%s'\n", argv[pos]);
        else if (e)
            fprintf(stderr, "libreair template delete: %s\n", lair_err_msg(e));
        else
            printf("%s: deleted\n", argv[pos]);
        return e ? 1 : 0;
    }
    usage(stderr);
    return 2;
}
