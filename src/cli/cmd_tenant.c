/* libreair tenant create|list|delete: the operator's view of tenants, working
 * directly on the data directory (the server may be running: SQLite's WAL
 * lets both work at once). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair tenant create SLUG [--name \"...\"] [--data DIR]\n"
               "       libreair tenant list [--data DIR]\n"
               "       libreair tenant delete SLUG [--data DIR]\n\n"
               "create prints the tenant's first admin key alone on the last line (shown once).\n"
               "delete removes the tenant's directory and every key of the tenant.\n"
               "SLUG: 1 to 63 characters among a-z, 0-9 and '-' (not first).\n");
}

struct handles {
    const char *data;
    struct sysdb *sys;
    struct tenants *tenants;
};

/* Operator actions from the command line go to the operator's audit log. */
static void audit_cli(struct handles *h, const char *action, const char *slug)
{
    char target[100];
    snprintf(target, sizeof(target), "tenant:%s", slug);
    struct audit_event ev = {.actor = "cli", .action = action, .target = target, .outcome = "ok"};
    audit_record(h->data, h->sys, NULL, &ev);
}

static int open_all(const char *data, struct handles *h)
{
    h->data = data;
    enum lair_err e = sysdb_open(data, &h->sys);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr, "libreair tenant: %s is not a data directory (run 'libreair init')\n", data);
        return 1;
    }
    if (e || (e = tenants_new(data, h->sys, &h->tenants))) {
        fprintf(stderr, "libreair tenant: cannot open %s: %s\n", data, lair_err_msg(e));
        sysdb_free(h->sys);
        return 1;
    }
    return 0;
}

static void close_all(struct handles *h)
{
    tenants_free(h->tenants);
    sysdb_free(h->sys);
}

static int do_create(struct handles *h, const char *slug, const char *name)
{
    enum lair_err e = tenants_create(h->tenants, slug, name);
    if (e == LAIR_EINVAL) {
        fprintf(stderr, "libreair tenant: invalid slug '%s' (a-z, 0-9, '-', at most 63)\n", slug);
        return 2;
    }
    if (e == LAIR_ECONFLICT) {
        fprintf(stderr, "libreair tenant: tenant '%s' already exists\n", slug);
        return 1;
    }
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    struct key_spec spec = {.role = ROLE_ADMIN, .tenant = slug, .name = "first admin key"};
    if (e || (e = sysdb_key_create_spec(h->sys, &spec, key, id))) {
        fprintf(stderr, "libreair tenant: cannot create '%s': %s\n", slug, lair_err_msg(e));
        return 1;
    }
    audit_cli(h, "tenant.create", slug);
    printf("Tenant '%s' created. Its first admin key (shown once):\n%s\n", slug, key);
    return 0;
}

static int do_list(struct handles *h)
{
    static struct tenant_row rows[1000];
    size_t n = 0;
    if (sysdb_tenant_list(h->sys, rows, 1000, &n)) {
        fprintf(stderr, "libreair tenant: cannot list tenants\n");
        return 1;
    }
    printf("%-24s %-32s %s\n", "SLUG", "NAME", "CREATED");
    for (size_t i = 0; i < n; i++) {
        char when[32];
        time_t t = (time_t)rows[i].created_at;
        struct tm tm;
        strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime_r(&t, &tm));
        printf("%-24s %-32s %s\n", rows[i].slug, rows[i].name, when);
    }
    return 0;
}

static int do_delete(struct handles *h, const char *slug)
{
    enum lair_err e = tenants_delete(h->tenants, slug);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr, "libreair tenant: no tenant '%s'\n", slug);
        return 1;
    }
    if (e) {
        fprintf(stderr, "libreair tenant: cannot delete '%s': %s\n", slug, lair_err_msg(e));
        return 1;
    }
    audit_cli(h, "tenant.delete", slug);
    printf("Tenant '%s' deleted (keys revoked, data removed).\n", slug);
    return 0;
}

int cmd_tenant(int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:n:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'n': name = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int rest = argc - optind;
    bool needs_slug = strcmp(verb, "list") != 0;
    if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "delete")) {
        fprintf(stderr, "libreair tenant: unknown action '%s'\n", verb);
        usage(stderr);
        return 2;
    }
    if (rest != (needs_slug ? 1 : 0)) {
        usage(stderr);
        return 2;
    }
    struct handles h;
    if (open_all(cli_data_dir(data), &h))
        return 1;
    int rc = !strcmp(verb, "create") ? do_create(&h, argv[optind], name)
             : !strcmp(verb, "list") ? do_list(&h)
                                     : do_delete(&h, argv[optind]);
    close_all(&h);
    return rc;
}
