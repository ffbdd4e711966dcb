/* libreair key create|list|revoke: API keys of a tenant (or operator keys
 * with --operator), working directly on the data directory. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "store/tenant.h"
#include "store/system.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair key create (--tenant SLUG --role admin|editor|user | --operator)\n"
            "                           [--assistant SLUG]... [--expires 30d|12h|15m]\n"
            "                           [--name TEXT] [--rpm N] [--tokens-per-day N] [--data DIR]\n"
            "       libreair key list (--tenant SLUG | --operator) [--data DIR]\n"
            "       libreair key revoke (--tenant SLUG | --operator) ID [--data DIR]\n\n"
            "create prints the key alone on the last line: it is shown once, only its keyed\n"
            "hash is stored. --assistant restricts a user key to the named assistants (editor\n"
            "and admin keys reach every assistant). --expires: 1 second to 36500d.\n"
            "revoke refuses the last usable admin key of a tenant (or operator key).\n");
}

/* --rpm, --tokens-per-day: 0 to LIMIT_MAX, digits only (as the API). */
static bool parse_limit(const char *s, int64_t *out)
{
    int64_t n = 0;
    if (!*s)
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        n = n * 10 + (*s - '0');
        if (n > LIMIT_MAX)
            return false;
    }
    *out = n;
    return true;
}

struct key_opts {
    const char *data, *tenant, *role, *name;
    char assistants[512];
    size_t alen;
    int operator_key;
    int64_t expires, rpm, tpd;
};

static int parse(int argc, char **argv, struct key_opts *o)
{
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'},    {"tenant", required_argument, NULL, 't'},
        {"role", required_argument, NULL, 'r'},    {"assistant", required_argument, NULL, 'a'},
        {"expires", required_argument, NULL, 'e'}, {"name", required_argument, NULL, 'n'},
        {"rpm", required_argument, NULL, 'p'},     {"tokens-per-day", required_argument, NULL, 'k'},
        {"operator", no_argument, NULL, 'o'},      {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:t:r:a:e:n:p:k:oh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 'r': o->role = optarg; break;
        case 'n': o->name = optarg; break;
        case 'o': o->operator_key = 1; break;
        case 'p':
        case 'k':
            if (!parse_limit(optarg, c == 'p' ? &o->rpm : &o->tpd)) {
                fprintf(stderr, "libreair key: --%s wants an integer from 0 to %lld\n",
                        c == 'p' ? "rpm" : "tokens-per-day", (long long)LIMIT_MAX);
                return 2;
            }
            break;
        case 'a':
            if (!slug_valid(str_c(optarg)) ||
                o->alen + strlen(optarg) + 2 > sizeof(o->assistants)) {
                fprintf(stderr, "libreair key: invalid assistant slug '%s'\n", optarg);
                return 2;
            }
            o->alen += (size_t)snprintf(o->assistants + o->alen, sizeof(o->assistants) - o->alen,
                                        "%s%s", o->alen ? "," : "", optarg);
            break;
        case 'e':
            if (key_duration_parse(optarg, &o->expires) != LAIR_OK) {
                fprintf(stderr, "libreair key: --expires wants 30d, 12h, 15m, 90s or a number of "
                                "seconds, from 1 second to 36500d (100 years)\n");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (!!o->tenant == !!o->operator_key) {
        fprintf(stderr, "libreair key: give --tenant SLUG or --operator\n");
        return 2;
    }
    return 0;
}

/* Key actions from the command line go to the tenant's audit log (the
 * operator's for operator keys). */
static void audit_cli(const char *data, struct sysdb *s, const char *tenant, const char *action,
                      const char *id)
{
    char target[64];
    snprintf(target, sizeof(target), "key:%s", id);
    struct audit_event ev = {.actor = "cli", .action = action, .target = target, .outcome = "ok"};
    struct tenants *ts = NULL;
    struct tenant_db *tdb = NULL;
    if (tenant && tenants_new(data, s, &ts) == LAIR_OK)
        tenants_get(ts, tenant, &tdb);
    audit_record(data, s, tdb, &ev);
    tenant_db_put(tdb);
    tenants_free(ts);
}

static int do_create(struct sysdb *s, struct key_opts *o)
{
    struct key_spec spec = {.tenant = o->tenant, .name = o->name, .assistants = o->assistants,
                            .rpm_limit = o->rpm, .tokens_per_day = o->tpd};
    if (o->operator_key)
        spec.role = ROLE_OPERATOR;
    else if (o->role && !strcmp(o->role, "admin"))
        spec.role = ROLE_ADMIN;
    else if (o->role && !strcmp(o->role, "editor"))
        spec.role = ROLE_EDITOR;
    else if (o->role && !strcmp(o->role, "user"))
        spec.role = ROLE_USER;
    else {
        fprintf(stderr, "libreair key: --role must be admin, editor or user\n");
        return 2;
    }
    if (o->assistants[0] && !key_role_restrictable(spec.role)) {
        fprintf(stderr, "libreair key: --assistant restricts only user keys; editor and admin "
                        "keys manage every assistant, knowledge base and conversation of their "
                        "tenant (docs/roles.md)\n");
        return 2;
    }
    if (o->expires) /* at most KEY_EXPIRES_IN_MAX: no overflow */
        spec.expires_at = (int64_t)time(NULL) + o->expires;
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    enum lair_err e = sysdb_key_create_spec(s, &spec, key, id);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr, "libreair key: no tenant '%s'\n", o->tenant);
        return 1;
    }
    if (e) {
        fprintf(stderr, "libreair key: %s\n", lair_err_msg(e));
        return 1;
    }
    audit_cli(cli_data_dir(o->data), s, o->tenant, "key.create", id);
    printf("Key %s created (role %s). Shown once:\n%s\n", id, key_role_name(spec.role), key);
    sodium_memzero(key, sizeof(key)); /* as tenant create does: the secret lives no longer */
    return 0;
}

static int do_list(struct sysdb *s, struct key_opts *o)
{
    static struct key_row rows[1000];
    size_t n = 0;
    if (sysdb_key_list(s, o->tenant, rows, 1000, &n)) {
        fprintf(stderr, "libreair key: cannot list keys\n");
        return 1;
    }
    printf("%-13s %-9s %-8s %-20s %s\n", "ID", "ROLE", "STATE", "NAME", "ASSISTANTS");
    time_t now = time(NULL);
    for (size_t i = 0; i < n; i++) {
        const struct key_row *r = &rows[i];
        const char *state = r->revoked_at ? "revoked"
                            : (r->expires_at && r->expires_at <= now) ? "expired"
                                                                       : "active";
        printf("%-13s %-9s %-8s %-20s %s\n", r->id, r->role, state, r->name,
               r->assistants[0] ? r->assistants : "(all)");
    }
    return 0;
}

int cmd_key(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "create") && strcmp(verb, "list") && strcmp(verb, "revoke")) {
        fprintf(stderr, "libreair key: unknown action '%s'\n", verb);
        return 2;
    }
    struct key_opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    int want = !strcmp(verb, "revoke") ? 1 : 0;
    if (argc - optind != want) {
        usage(stderr);
        return 2;
    }
    struct sysdb *s;
    const char *data = cli_data_dir(o.data);
    enum lair_err e = sysdb_open(data, &s);
    if (e) {
        fprintf(stderr, "libreair key: cannot open %s: %s\n", data, lair_err_msg(e));
        return 1;
    }
    if (!strcmp(verb, "create")) {
        rc = do_create(s, &o);
    } else if (!strcmp(verb, "list")) {
        rc = do_list(s, &o);
    } else {
        e = sysdb_key_revoke(s, o.tenant, argv[optind]);
        if (e == LAIR_ECONFLICT && o.tenant)
            fprintf(stderr,
                    "libreair key: %s is the last usable admin key of tenant %s: create another "
                    "first (libreair key create --tenant %s --role admin), then revoke this one\n",
                    argv[optind], o.tenant, o.tenant);
        else if (e == LAIR_ECONFLICT)
            fprintf(stderr,
                    "libreair key: %s is the last usable operator key: create another first "
                    "(libreair key create --operator), then revoke this one\n",
                    argv[optind]);
        else if (e)
            fprintf(stderr, "libreair key: %s\n",
                    e == LAIR_ENOTFOUND ? "no such active key" : lair_err_msg(e));
        else {
            audit_cli(data, s, o.tenant, "key.revoke", argv[optind]);
            printf("Key %s revoked.\n", argv[optind]);
        }
        rc = e ? 1 : 0;
    }
    sysdb_free(s);
    return rc;
}
