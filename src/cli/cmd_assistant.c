/* libreair assistant apply|export|list: declarative management of a
 * tenant's assistants straight on the data directory (docs/assistants.md).
 *
 * The command does not know which models a server loads, so apply checks
 * the model name only when --models lists the served ones. */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assist/assistant.h"
#include "audit/audit.h"
#include "cli/cli.h"
#include "store/assistants.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"
#include "eval/gate.h"
#include "core/banned.h"

#define MAX_FILE (1024 * 1024)

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair assistant apply  --tenant SLUG [--data DIR] [--publish]\n"
               "                                 [--models NAME,...] FILE.json\n"
               "       libreair assistant export --tenant SLUG [--data DIR]\n"
               "                                 [--version N|draft|published] ASSISTANT\n"
               "       libreair assistant list   --tenant SLUG [--data DIR]\n"
               "       libreair assistant generate --tenant SLUG --kb KB... [--out DIR] (--help)\n\n"
               "apply   creates the assistant described by FILE.json ('-' reads stdin), or\n"
               "        makes it a new draft version when it differs from the current draft,\n"
               "        and prints the draft's version. --publish also publishes it. The\n"
               "        model name is checked only against --models (the names the server\n"
               "        serves): this command cannot know which models a server loads.\n"
               "export  prints an assistant's file (the draft unless --version says which);\n"
               "        apply takes it back unchanged.\n"
               "list    prints the tenant's assistants with their draft and published versions.\n\n"
               "DIR defaults to $LIBREAIR_DATA, then ./data. Exit status: 0 done, 1 failed\n"
               "(an invalid file names the field), 2 usage error.\n");
}

struct opts {
    const char *data, *tenant, *models, *version;
    bool publish;
};

/* Parses the options of a subcommand; positional arguments are left from
 * argv[optind]. Returns -1 to go on, else the exit status. */
static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"models", required_argument, NULL, 'm'},
                                             {"version", required_argument, NULL, 'v'},
                                             {"publish", no_argument, NULL, 'p'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    int c;
    optind = 0; /* glibc: full re-initialisation */
    while ((c = getopt_long(argc, argv, "d:t:m:v:ph", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 'm': o->models = optarg; break;
        case 'v': o->version = optarg; break;
        case 'p': o->publish = true; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o->tenant) {
        fprintf(stderr, "libreair assistant %s: --tenant SLUG is required\n", argv[0]);
        return 2;
    }
    return -1;
}

static int open_tenant(const char *cmd, const struct opts *o, struct cli_tenant *h)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "libreair %s %s", "assistant", cmd);
    return cli_tenant_open(prog, o->data, o->tenant, true, h);
}

/* Appends to the tenant's audit log, as the API does for the same action. */
static void audit(struct cli_tenant *h, const char *action, const char *slug)
{
    char target[SLUG_MAX + 16];
    snprintf(target, sizeof(target), "assistant:%s", slug);
    struct audit_event ev = {.actor = "cli", .action = action, .target = target, .outcome = "ok"};
    if (audit_record(h->data, h->sys, h->db, &ev))
        fprintf(stderr, "libreair assistant: warning: could not append '%s' to the audit log\n",
                action);
}

static void close_tenant(struct cli_tenant *h) { cli_tenant_close(h); }

/* What apply checks names against: --models, and the tenant's knowledge
 * bases. */
struct apply_check {
    const char *models;
    struct tenant_db *db;
};

/* --models "a,b": is name one of them? */
static bool listed_model(void *arg, const char *name)
{
    const char *s = ((const struct apply_check *)arg)->models;
    size_t n = strlen(name);
    for (;;) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        if (len == n && !strncmp(s, name, n))
            return true;
        if (!comma)
            return false;
        s = comma + 1;
    }
}

static bool tenant_kb(void *arg, const char *slug)
{
    return kb_find(((const struct apply_check *)arg)->db, slug, NULL) == LAIR_OK;
}

static json_t *read_file(const char *path)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    if (!f) {
        fprintf(stderr, "libreair assistant apply: cannot open %s\n", path);
        return NULL;
    }
    char *buf = malloc(MAX_FILE + 1);
    size_t n = buf ? fread(buf, 1, MAX_FILE + 1, f) : 0;
    if (f != stdin)
        fclose(f);
    if (!buf || n > MAX_FILE) {
        fprintf(stderr, "libreair assistant apply: %s: %s\n", path,
                buf ? "larger than 1 MiB" : "out of memory");
        free(buf);
        return NULL;
    }
    json_error_t je;
    json_t *v = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!v)
        fprintf(stderr, "libreair assistant apply: %s:%d:%d: malformed JSON: %s\n", path, je.line,
                je.column, je.text);
    return v;
}

static int cmd_apply(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.version) {
        fprintf(stderr, "libreair assistant apply: --version is for export\n");
        return 2;
    }
    if (argc - optind != 1) {
        fprintf(stderr, "libreair assistant apply: one FILE.json expected\n");
        return 2;
    }
    const char *path = argv[optind];
    json_t *spec = read_file(path);
    if (!spec)
        return 1;
    struct cli_tenant h;
    if (open_tenant("apply", &o, &h)) {
        json_decref(spec);
        return 1;
    }
    struct apply_check check = {o.models, h.db};
    struct assistant_ctx ctx = {.model_exists = o.models ? listed_model : NULL,
                                .kb_exists = tenant_kb,
                                .arg = &check};
    struct assistant a;
    struct assistant_error err;
    enum lair_err e = assistant_parse(spec, &ctx, &a, &err);
    json_decref(spec);
    if (e == LAIR_EUNPROC) {
        fprintf(stderr, "libreair assistant apply: %s: invalid field '%s': %s\n", path,
                err.field[0] ? err.field : "(file)", err.msg);
        close_tenant(&h);
        return 1;
    }
    if (e) {
        fprintf(stderr, "libreair assistant apply: %s\n", lair_err_msg(e));
        close_tenant(&h);
        return 1;
    }
    char *text = assistant_dump(&a);
    if (!text) {
        assistant_release(&a);
        close_tenant(&h);
        return 1;
    }
    int version = 0, published = 0;
    enum assistant_apply_outcome outcome;
    e = assistants_apply(h.db, a.slug, text, "cli", &version, &outcome);
    if (!e && outcome != ASSISTANT_UNCHANGED)
        audit(&h, outcome == ASSISTANT_CREATED ? "assistant.create" : "assistant.update", a.slug);
    if (!e) {
        printf("%s: %s, draft version %d\n", a.slug,
               outcome == ASSISTANT_CREATED   ? "created"
               : outcome == ASSISTANT_UPDATED ? "updated"
                                              : "unchanged",
               version);
        bool passed = true;
        json_t *gate = NULL;
        /* the assistant's own publish gate holds on the CLI too (the
         * operator's is the server's: serve --publish-gate) */
        if (o.publish && a.publish_gate &&
            !(e = eval_gate_check(h.db, a.slug, version, a.publish_gate, NULL, &passed, &gate)) &&
            !passed) {
            json_t *f = json_array_get(json_object_get(gate, "failures"), 0);
            fprintf(stderr, "libreair assistant apply: %s: version %d not published: %s: %s\n",
                    a.slug, version, json_string_value(json_object_get(f, "requirement")),
                    json_string_value(json_object_get(f, "reason")));
            e = LAIR_ECONFLICT;
        }
        json_decref(gate);
        if (o.publish && passed && !e &&
            !(e = assistants_publish(h.db, a.slug, version, &published))) {
            audit(&h, "assistant.publish", a.slug);
            printf("%s: published version %d\n", a.slug, published);
        }
    }
    if (e && e != LAIR_ECONFLICT)
        fprintf(stderr, "libreair assistant apply: %s: %s\n", a.slug, lair_err_msg(e));
    else if (!o.models)
        fprintf(stderr,
                "libreair assistant apply: note: the model '%s' was not checked (pass "
                "--models with the names the server serves to check it)\n",
                a.model);
    free(text);
    assistant_release(&a);
    close_tenant(&h);
    return e ? 1 : 0;
}

static int version_of(const char *s, int *out)
{
    if (!s || !strcmp(s, "draft")) {
        *out = ASSISTANT_DRAFT;
        return 0;
    }
    if (!strcmp(s, "published")) {
        *out = ASSISTANT_PUBLISHED;
        return 0;
    }
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < 1 || v > 1000000000)
        return -1;
    *out = (int)v;
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o), version;
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "libreair assistant export: one ASSISTANT slug expected\n");
        return 2;
    }
    if (version_of(o.version, &version)) {
        fprintf(stderr, "libreair assistant export: --version takes N, draft or published\n");
        return 2;
    }
    const char *slug = argv[optind];
    struct cli_tenant h;
    if (open_tenant("export", &o, &h))
        return 1;
    char *text = NULL;
    struct assistant_info info;
    int got = 0;
    enum lair_err e = slug_valid(str_c(slug))
                          ? assistants_get(h.db, slug, version, &text, &got, &info)
                          : LAIR_ENOTFOUND;
    json_error_t je;
    json_t *spec = e ? NULL : json_loads(text, 0, &je);
    char *pretty = spec ? json_dumps(spec, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) : NULL;
    if (pretty)
        printf("%s\n", pretty);
    else if (e == LAIR_ENOTFOUND && version != ASSISTANT_DRAFT &&
             assistants_get(h.db, slug, ASSISTANT_DRAFT, &text, NULL, NULL) == LAIR_ENOTFOUND)
        fprintf(stderr, "libreair assistant export: no assistant '%s' in tenant '%s'\n", slug,
                o.tenant);
    else if (e == LAIR_ENOTFOUND)
        fprintf(stderr, "libreair assistant export: no %s of '%s' in tenant '%s'\n",
                version == ASSISTANT_PUBLISHED ? "published version"
                : version == ASSISTANT_DRAFT   ? "assistant"
                                               : "such version",
                slug, o.tenant);
    else
        fprintf(stderr, "libreair assistant export: %s\n", lair_err_msg(e ? e : LAIR_EINTERNAL));
    rc = pretty ? 0 : 1;
    free(pretty);
    json_decref(spec);
    free(text);
    close_tenant(&h);
    return rc;
}

static void print_row(void *arg, const struct assistant_info *a)
{
    (void)arg;
    char pub[16] = "-";
    if (a->published_version > 0)
        snprintf(pub, sizeof(pub), "%d", a->published_version);
    printf("%-24s %-6d %-9s %s\n", a->slug, a->version, pub, a->name);
}

static int cmd_list(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc != optind) {
        fprintf(stderr, "libreair assistant list: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    struct cli_tenant h;
    if (open_tenant("list", &o, &h))
        return 1;
    printf("%-24s %-6s %-9s %s\n", "SLUG", "DRAFT", "PUBLISHED", "NAME");
    enum lair_err e = assistants_list(h.db, false, print_row, NULL);
    if (e)
        fprintf(stderr, "libreair assistant list: %s\n", lair_err_msg(e));
    close_tenant(&h);
    return e ? 1 : 0;
}

int cmd_assistant(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "apply"))
        return cmd_apply(argc - 1, argv + 1);
    if (!strcmp(argv[1], "export"))
        return cmd_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(argv[1], "generate"))
        return cmd_assistant_generate(argc - 1, argv + 1);
    fprintf(stderr, "libreair assistant: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
