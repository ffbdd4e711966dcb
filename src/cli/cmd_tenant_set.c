/* libreair tenant set|show: a tenant's live settings from the command line,
 * the same change as PATCH /api/v1/tenants/{slug} (src/api/limits.c). A
 * running server sees it on its next request (sysdb_tenants_version);
 * a shorter retention purges the tenant's expired conversations at once.
 * Audited in the operator's log and in the tenant's (actor "cli"). */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "gdpr/retention.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

static const char *const PROG = "libreair tenant";

/* A count from 0 to max, else -2 (the caller reports it). */
static int64_t parse_count(const char *s, int64_t max)
{
    if (!s || *s < '0' || *s > '9')
        return -2;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    return *end || v > (unsigned long long)max ? -2 : (int64_t)v;
}

static void print_settings(const struct tenant_row *t)
{
    printf("tenant          %s (%s)\n", t->slug, t->name);
    printf("rpm             %lld%s\n", (long long)t->rpm_limit, t->rpm_limit ? "" : " (no limit)");
    printf("tokens_per_day  %lld%s\n", (long long)t->tokens_per_day,
           t->tokens_per_day ? "" : " (no limit)");
    printf("retention_days  %lld%s\n", (long long)t->retention_days,
           t->retention_days ? "" : " (no limit but the assistants' own)");
    printf("allowed_models  %s\n", !strcmp(t->allowed_models, TENANT_MODELS_ALL) ? "* (every model)"
                                   : t->allowed_models[0]                       ? t->allowed_models
                                                                                : "(none)");
}

/* The event in the operator's log and in the tenant's. */
static void audit_both(struct cli_tenant *h, const char *slug, const char *detail)
{
    unsigned char key[AUDIT_KEY_LEN];
    char target[100];
    snprintf(target, sizeof(target), "tenant:%s", slug);
    struct audit_event ev = {.actor = "cli",
                             .action = "tenant.update",
                             .target = target,
                             .outcome = "ok",
                             .detail = detail};
    audit_record(h->data, h->sys, NULL, &ev);
    if (audit_key_load(h->data, key) == LAIR_OK) {
        struct audit_log l;
        audit_log_tenant(&l, h->db, key);
        audit_append(&l, &ev, NULL);
        audit_log_release(&l);
    }
    sodium_memzero(key, sizeof(key));
}

static void add_user(void *arg, const struct assistant_info *a)
{
    struct buf *b = arg;
    buf_printf(b, "%s%s", b->len ? ", " : "", a->slug);
}

/* Withdrawing a model that published assistants answer with breaks them:
 * refused unless forced, as PATCH /api/v1/tenants refuses it (409). */
static int refuse_in_use(struct cli_tenant *h, const char *slug, const char *allowed)
{
    struct buf users;
    buf_init(&users, 0);
    enum lair_err e = assistants_using(h->db, NULL, allowed, add_user, &users);
    int rc = 0;
    if (e) {
        fprintf(stderr, "%s set: cannot read the assistants of '%s': %s\n", PROG, slug,
                lair_err_msg(e));
        rc = 1;
    } else if (users.len) {
        fprintf(stderr,
                "%s set: published assistants of '%s' answer with a model this list withdraws: "
                "%s; change them first, or repeat with --force\n",
                PROG, slug, users.ptr);
        rc = 1;
    }
    buf_release(&users);
    return rc;
}

static int do_set(struct cli_tenant *h, const char *slug, const struct tenant_update *u,
                  bool force)
{
    struct tenant_row before, after;
    if (!force && u->allowed_models && strcmp(u->allowed_models, TENANT_MODELS_ALL) &&
        refuse_in_use(h, slug, u->allowed_models))
        return 1;
    enum lair_err e = sysdb_tenant_get(h->sys, slug, &before);
    if (!e)
        e = sysdb_tenant_update(h->sys, slug, u, &after);
    if (e) {
        fprintf(stderr, "%s set: cannot change '%s': %s\n", PROG, slug, lair_err_msg(e));
        return 1;
    }
    char detail[AUDIT_DETAIL_MAX - 32];
    size_t len = 0;
    detail[0] = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        int w = snprintf(detail + len, sizeof(detail) - len, __VA_ARGS__);                         \
        if (w > 0 && (size_t)w < sizeof(detail) - len)                                             \
            len += (size_t)w;                                                                      \
    } while (0)
    if (before.rpm_limit != after.rpm_limit)
        ADD("%srpm:%lld", len ? " " : "", (long long)after.rpm_limit);
    if (before.tokens_per_day != after.tokens_per_day)
        ADD("%stokens_per_day:%lld", len ? " " : "", (long long)after.tokens_per_day);
    if (before.retention_days != after.retention_days)
        ADD("%sretention_days:%lld", len ? " " : "", (long long)after.retention_days);
    if (strcmp(before.name, after.name))
        ADD("%sname", len ? " " : "");
    if (strcmp(before.allowed_models, after.allowed_models))
        ADD("%sallowed_models:%s", len ? " " : "", after.allowed_models);
#undef ADD
    audit_both(h, slug, len ? detail : "unchanged");
    print_settings(&after);
    bool shorter = after.retention_days > 0 &&
                   (before.retention_days == 0 || after.retention_days < before.retention_days);
    if (!shorter)
        return 0;
    unsigned char key[AUDIT_KEY_LEN];
    struct gdpr_purge_report r = {0};
    e = audit_key_load(h->data, key);
    if (!e)
        e = gdpr_purge_tenant(h->db, after.retention_days, key, gdpr_now(), &r);
    sodium_memzero(key, sizeof(key));
    if (e) {
        fprintf(stderr, "%s set: the new retention stands, but the purge failed: %s (the server "
                        "retries; 'libreair gdpr purge --tenant %s' too)\n",
                PROG, lair_err_msg(e), slug);
        return 1;
    }
    printf("purged          %lld conversations, %lld messages past the new retention\n",
           (long long)r.counts.conversations, (long long)r.counts.messages);
    return 0;
}

static int do_show(struct cli_tenant *h, const char *slug)
{
    struct tenant_row t;
    enum lair_err e = sysdb_tenant_get(h->sys, slug, &t);
    if (e) {
        fprintf(stderr, "%s show: '%s': %s\n", PROG, slug, lair_err_msg(e));
        return 1;
    }
    print_settings(&t);
    struct conv_usage_day days[31];
    size_t n = 0;
    char since[11];
    conv_usage_day(time(NULL) - 30 * 86400, since);
    if ((e = conv_usage_since(h->db, since, CONV_USAGE_TENANT, days, 31, &n))) {
        fprintf(stderr, "%s show: cannot read the usage of '%s': %s\n", PROG, slug,
                lair_err_msg(e));
        return 1;
    }
    printf("\n%-12s %10s %12s\n", "DAY (UTC)", "REQUESTS", "TOKENS");
    for (size_t i = 0; i < n; i++)
        printf("%-12s %10lld %12lld\n", days[i].day, (long long)days[i].requests,
               (long long)days[i].tokens);
    return 0;
}

int cmd_tenant_settings(int argc, char **argv)
{
    const char *data = NULL;
    struct tenant_update u = TENANT_UPDATE_NONE;
    bool set = !strcmp(argv[1], "set"), any = false, force = false;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"rpm", required_argument, NULL, 'r'},
                                         {"tokens-per-day", required_argument, NULL, 't'},
                                         {"retention-days", required_argument, NULL, 'k'},
                                         {"allowed-models", required_argument, NULL, 'm'},
                                         {"name", required_argument, NULL, 'n'},
                                         {"force", no_argument, NULL, 'f'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        int64_t *dst = c == 'r' ? &u.rpm : c == 't' ? &u.tokens_per_day
                                       : c == 'k' ? &u.retention_days
                                                  : NULL;
        if (dst) {
            *dst = parse_count(optarg, c == 'k' ? RETENTION_DAYS_MAX : LIMIT_MAX);
            if (*dst < 0) {
                fprintf(stderr, "%s set: --%s wants an integer from 0 to %lld (0: no limit)\n",
                        PROG, c == 'r' ? "rpm" : c == 't' ? "tokens-per-day" : "retention-days",
                        (long long)(c == 'k' ? RETENTION_DAYS_MAX : LIMIT_MAX));
                return 2;
            }
            any = true;
            continue;
        }
        switch (c) {
        case 'd': data = optarg; break;
        case 'f': force = true; break;
        case 'm':
            if (!tenant_models_valid(optarg)) {
                fprintf(stderr,
                        "%s set: --allowed-models wants '*' (every model), '' (none) or model "
                        "names separated by commas\n",
                        PROG);
                return 2;
            }
            u.allowed_models = optarg;
            any = true;
            break;
        case 'n':
            if (!optarg[0] || strlen(optarg) > 200) {
                fprintf(stderr, "%s set: --name wants 1 to 200 bytes\n", PROG);
                return 2;
            }
            u.name = optarg;
            any = true;
            break;
        case 'h': return cli_usage_tenant(stdout), 0;
        default: return cli_usage_tenant(stderr), 2;
        }
    }
    if (argc - optind != 1 || (set && !any) || (!set && any)) {
        if (set && !any)
            fprintf(stderr, "%s set: nothing to change (--rpm, --tokens-per-day, "
                            "--retention-days, --allowed-models, --name)\n",
                    PROG);
        cli_usage_tenant(stderr);
        return 2;
    }
    const char *slug = argv[optind];
    struct cli_tenant h;
    if (cli_tenant_open(PROG, data, slug, true, &h))
        return 1;
    int rc = set ? do_set(&h, slug, &u, force) : do_show(&h, slug);
    cli_tenant_close(&h);
    return rc;
}
