/* libreair tenant create|list|delete|export|import: the operator's view of
 * tenants, working directly on the data directory (the server may be
 * running: SQLite's WAL lets both work at once). export and import move a
 * tenant between data directories (src/ops/move.h). */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "ops/move.h"
#include "store/people.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair tenant create SLUG [--name \"...\"] [--admin-email EMAIL]\n"
               "                              [--admin-key] [--public-url URL] [--data DIR]\n"
               "       libreair tenant list [--data DIR]\n"
               "       libreair tenant delete SLUG [--data DIR]\n"
               "       libreair tenant set SLUG [--rpm N] [--tokens-per-day N] [--retention-days N]\n"
               "                               [--allowed-models '*'|''|M1,M2 [--force]] [--name \"...\"]\n"
               "       libreair tenant show SLUG [--data DIR]\n"
               "       libreair tenant export --tenant SLUG --to FILE [--data DIR]\n"
               "       libreair tenant import FILE [--as SLUG] [--sha256 HEX] [--data DIR]\n\n"
               "create names the tenant's first admin: --admin-email EMAIL (they sign in with\n"
               "       OpenID Connect), or else prints a one-time enrollment link, valid 72 hours,\n"
               "       alone on the last line, for the tenant's admin to create their own key\n"
               "       (with --public-url, a full URL). --admin-key (emergency) prints an admin\n"
               "       key instead, alone on the last line; the tenant's audit log shows it to\n"
               "       its admins (docs/oidc.md).\n"
               "delete removes the tenant's directory and every key of the tenant.\n"
               "set    changes limits (0: none), retention and the models the tenant may use;\n"
               "       a running server applies it to its next request (docs/quotas.md).\n"
               "       Withdrawing a model that published assistants use needs --force.\n"
               "show   prints the tenant's settings and its usage of the last 31 days.\n"
               "export writes the tenant (assistants, knowledge bases, conversations, keys,\n"
               "       members and access rules, audit log) to FILE, one archive, and\n"
               "       FILE.sha256; the server may run.\n"
               "import takes such a file into DIR (as SLUG when given), checking it first.\n"
               "       Keys work here only if DIR shares the source's pepper; otherwise a new\n"
               "       admin key is printed alone on the last line (shown once).\n"
               "SLUG: 1 to 63 characters among a-z, 0-9 and '-' (not first).\n"
               "See docs/operations.md.\n");
}

void cli_usage_tenant(FILE *f)
{
    usage(f);
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

struct create_opts {
    const char *name, *admin_email, *public_url;
    bool admin_key;
};

/* An operator's action inside the tenant, in the tenant's own log. */
static void audit_in_tenant(struct handles *h, const char *slug, const char *action,
                            const char *target, const char *detail)
{
    struct tenant_db *tdb = NULL;
    if (tenants_get(h->tenants, slug, &tdb))
        return;
    struct audit_event ev = {.actor = "operator:cli", .action = action, .target = target,
                             .outcome = "ok", .detail = detail};
    audit_record(h->data, h->sys, tdb, &ev);
    tenant_db_put(tdb);
}

static int do_create(struct handles *h, const char *slug, const struct create_opts *co)
{
    const char *name = co->name;
    char email[PEOPLE_EMAIL_MAX + 1] = "";
    if (co->admin_email) {
        size_t n = strlen(co->admin_email);
        for (size_t i = 0; i < n && i < PEOPLE_EMAIL_MAX; i++) {
            char c = co->admin_email[i];
            email[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
        }
        if (n > PEOPLE_EMAIL_MAX || !people_email_valid(email)) {
            fprintf(stderr, "libreair tenant: --admin-email '%s' is not an email address\n",
                    co->admin_email);
            return 2;
        }
    }
    enum lair_err e = tenants_create(h->tenants, slug, name);
    if (e == LAIR_EINVAL) {
        fprintf(stderr, "libreair tenant: invalid slug '%s' (a-z, 0-9, '-', at most 63)\n", slug);
        return 2;
    }
    if (e == LAIR_ECONFLICT) {
        fprintf(stderr, "libreair tenant: tenant '%s' already exists\n", slug);
        return 1;
    }
    char key[KEY_TEXT_MAX] = "", id[KEY_ID_LEN + 1] = "", member[MEMBER_ID_LEN + 1] = "";
    char link[ENROLL_TOKEN_LEN + 1] = "", link_id[MEMBER_ID_LEN + 1] = "";
    int64_t expires = 0;
    struct key_spec spec = {.role = ROLE_ADMIN, .tenant = slug,
                            .name = "emergency admin key (operator)"};
    if (!e && co->admin_key)
        e = sysdb_key_create_spec(h->sys, &spec, key, id);
    if (!e && email[0])
        e = people_member_add(h->sys, slug, email, ROLE_ADMIN, "operator:cli", member);
    if (!e && !co->admin_key && !email[0])
        e = people_enroll_create(h->sys, slug, "operator:cli", 72 * 3600, link, link_id, &expires);
    if (e) {
        fprintf(stderr, "libreair tenant: cannot create '%s': %s\n", slug, lair_err_msg(e));
        tenants_delete(h->tenants, slug);
        return 1;
    }
    audit_cli(h, "tenant.create", slug);
    char target[64];
    if (member[0]) {
        snprintf(target, sizeof(target), "member:%s", member);
        audit_in_tenant(h, slug, "member.add", target, "role:admin");
        printf("Tenant '%s' created. Its first admin, %s, signs in with OpenID Connect.\n", slug,
               email);
    }
    if (link[0]) {
        snprintf(target, sizeof(target), "enrollment:%s", link_id);
        audit_in_tenant(h, slug, "enrollment.create", target, "role:admin");
        printf("Tenant '%s' created. Give this one-time link to its admin (valid 72 hours;\n"
               "it creates their own admin key, which you never see):\n%s/enroll/%s\n",
               slug, co->public_url ? co->public_url : "", link);
    }
    if (key[0]) {
        snprintf(target, sizeof(target), "key:%s", id);
        audit_in_tenant(h, slug, "operator.key_mint", target, "role:admin");
        printf("Tenant '%s' created. Emergency admin key (shown once; the tenant's audit log "
               "shows its admins that you made it):\n%s\n",
               slug, key);
    }
    sodium_memzero(key, sizeof(key));
    sodium_memzero(link, sizeof(link));
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

static int do_export(const char *data, const char *slug, const char *to)
{
    struct ops_error err = {{0}};
    struct move_report r;
    if (move_export(data, slug, to, &r, &err)) {
        fprintf(stderr, "libreair tenant export: %s\n", err.text);
        return 1;
    }
    printf("Tenant '%s' exported to %s: %lld audit events (verified; head %lld %s), %d keys, "
           "%d members (removed ones included), %d access rules.\n"
           "Check it on arrival: libreair tenant import %s --sha256 %s\n%s  %s\n",
           slug, to, (long long)r.events, (long long)r.head_seq, r.head_seq ? r.head_hash : "-",
           r.keys, r.members, r.rules, to, r.sha256, r.sha256, to);
    return 0;
}

/* What became of the archive's members and access rules (people.json). */
static void print_people(const struct move_report *r)
{
    if (!r->people)
        printf("The archive holds no members or access rules (written before they existed).\n");
    else if (r->members_taken)
        printf("Its %d access rules were carried, but not its %d members: a member id is taken "
               "in this data directory (the tenant was imported here before); its admins name "
               "them again.\n",
               r->rules, r->members);
    else
        printf("Its %d members (removed ones included) and %d access rules were carried; people "
               "sign in again (sessions do not move).\n",
               r->members, r->rules);
}

static int do_import(const char *data, const char *file, const char *as, const char *sha)
{
    struct ops_error err = {{0}};
    struct move_report r;
    char sums[4200];
    int n = snprintf(sums, sizeof(sums), "%s.sha256", file);
    if (!sha && n > 0 && (size_t)n < sizeof(sums) && access(file, F_OK) == 0 &&
        access(sums, F_OK) != 0)
        fprintf(stderr,
                "libreair tenant import: warning: no --sha256 given and no %s: the archive is "
                "checked against its own manifest only; give the SHA-256 the export printed to "
                "detect a rewritten archive\n",
                sums);
    if (move_import(data, file, as, sha, &r, &err)) {
        fprintf(stderr, "libreair tenant import: %s\n", err.text);
        return 1;
    }
    printf("Tenant '%s' imported from %s (sha256 %s): %lld audit events, verified up to event "
           "%lld and sealed under this data directory's key.\n",
           r.slug, file, r.sha256, (long long)r.events, (long long)r.head_seq);
    if (r.erasures_completed)
        printf("Erasures pending in the archive, completed: %d.\n", r.erasures_completed);
    print_people(&r);
    if (r.keys_carried) {
        printf("Its %d keys were carried: this data directory shares the source's pepper, they "
               "work here as they did there (revoke them on the source).\n",
               r.keys);
        return 0;
    }
    printf("Its %d keys were not carried: their hashes are keyed with the source's pepper and "
           "cannot match here. A new admin key (shown once); the tenant's admins make their "
           "keys again with it:\n%s\n",
           r.keys, r.new_key);
    sodium_memzero(r.new_key, sizeof(r.new_key));
    return 0;
}

/* export and import take options of their own. */
static int cmd_move(int argc, char **argv)
{
    const char *data = NULL, *tenant = NULL, *to = NULL, *as = NULL, *sha = NULL;
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"tenant", required_argument, NULL, 't'},
        {"to", required_argument, NULL, 'o'},   {"as", required_argument, NULL, 'a'},
        {"sha256", required_argument, NULL, 's'}, {"help", no_argument, NULL, 'h'},
        {0}};
    bool export = !strcmp(argv[1], "export");
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:t:o:a:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 't': tenant = optarg; break;
        case 'o': to = optarg; break;
        case 'a': as = optarg; break;
        case 's': sha = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    int rest = argc - optind;
    bool ok = export ? tenant && to && !as && !sha && rest == 0 : !tenant && !to && rest == 1;
    if (!ok) {
        usage(stderr);
        return 2;
    }
    data = cli_data_dir(data);
    return export ? do_export(data, tenant, to) : do_import(data, argv[optind], as, sha);
}

int cmd_tenant(int argc, char **argv)
{
    const char *data = NULL, *name = NULL;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"admin-email", required_argument, NULL, 'e'},
                                         {"admin-key", no_argument, NULL, 'k'},
                                         {"public-url", required_argument, NULL, 'u'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct create_opts co = {0};
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (!strcmp(verb, "export") || !strcmp(verb, "import"))
        return cmd_move(argc, argv);
    if (!strcmp(verb, "set") || !strcmp(verb, "show"))
        return cmd_tenant_settings(argc, argv);
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:n:e:ku:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'n': name = optarg; break;
        case 'e': co.admin_email = optarg; break;
        case 'k': co.admin_key = true; break;
        case 'u': co.public_url = optarg; break;
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
    co.name = name;
    int rc = !strcmp(verb, "create") ? do_create(&h, argv[optind], &co)
             : !strcmp(verb, "list") ? do_list(&h)
                                     : do_delete(&h, argv[optind]);
    close_all(&h);
    return rc;
}
