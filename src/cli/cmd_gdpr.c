/* libreair gdpr export|erase|purge: subject access, erasure and retention
 * straight on the data directory (docs/gdpr.md). Safe while the server
 * runs: both go through SQLite's locking, and an erasure interrupted by a
 * crash of either completes at the next run. */
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "gdpr/erase.h"
#include "gdpr/export.h"
#include "gdpr/retention.h"
#include "gdpr/subject.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair gdpr export --tenant SLUG --subject ID [--data DIR] [--output FILE]\n"
            "       libreair gdpr erase  --tenant SLUG --subject ID [--data DIR]\n"
            "       libreair gdpr purge  [--tenant SLUG] [--data DIR]\n\n"
            "export  prints everything the tenant holds about the subject (the 'user' id of\n"
            "        chat requests) as one JSON document: conversations, messages, usage,\n"
            "        pseudonyms, audit events that name it. An unknown subject gives empty\n"
            "        lists.\n"
            "erase   deletes all of it, leaving no copy in the database files, and records\n"
            "        the erasure in the audit log (by a pseudonymous token, not the id).\n"
            "        Erasing again is harmless.\n"
            "purge   deletes the conversations older than their retention (the assistant's\n"
            "        retention_days, else the tenant's), in every tenant or one, and\n"
            "        completes erasures that a crash interrupted.\n\n"
            "DIR defaults to $LIBREAIR_DATA, then ./data. Exit status: 0 done, 1 failed,\n"
            "2 usage error. See docs/gdpr.md.\n");
}

struct opts {
    const char *data, *tenant, *subject, *output;
};

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {
        {"data", required_argument, NULL, 'd'},    {"tenant", required_argument, NULL, 't'},
        {"subject", required_argument, NULL, 's'}, {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},          {0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:t:s:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 's': o->subject = optarg; break;
        case 'o': o->output = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "libreair gdpr %s: unexpected argument '%s'\n", argv[0], argv[optind]);
        return 2;
    }
    return -1;
}

struct handle {
    const char *data;
    struct sysdb *sys;
    struct tenants *tenants;
    struct tenant_db *db; /* when a tenant was named */
    unsigned char key[AUDIT_KEY_LEN];
};

static void close_handle(struct handle *h)
{
    tenant_db_put(h->db);
    tenants_free(h->tenants);
    sysdb_free(h->sys);
    sodium_memzero(h->key, sizeof(h->key));
}

static int open_handle(const char *cmd, const struct opts *o, struct handle *h)
{
    char prog[64];
    struct cli_tenant t;
    memset(h, 0, sizeof(*h));
    snprintf(prog, sizeof(prog), "libreair gdpr %s", cmd);
    if (cli_tenant_open(prog, o->data, o->tenant, false, &t))
        return 1;
    h->data = t.data;
    h->sys = t.sys;
    h->tenants = t.tenants;
    h->db = t.db;
    enum lair_err e = audit_key_load(h->data, h->key);
    if (e) {
        fprintf(stderr, "%s: cannot read the key of %s: %s\n", prog, h->data, lair_err_msg(e));
        close_handle(h);
        return 1;
    }
    return 0;
}

/* Options every subject command needs. */
static int need_subject(const char *cmd, const struct opts *o)
{
    if (!o->tenant || !o->subject) {
        fprintf(stderr, "libreair gdpr %s: --tenant SLUG and --subject ID are required\n", cmd);
        return 2;
    }
    if (!gdpr_subject_valid(str_c(o->subject))) {
        fprintf(stderr, "libreair gdpr %s: --subject must be 1 to %d bytes of UTF-8\n", cmd,
                GDPR_SUBJECT_MAX);
        return 2;
    }
    return 0;
}

static enum lair_err to_file(void *ctx, const char *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? LAIR_OK : LAIR_EIO;
}

static void audit_cli(struct handle *h, const char *action, const char *subject)
{
    char token[GDPR_TOKEN_MAX], target[GDPR_TOKEN_MAX + 16];
    gdpr_subject_token(h->key, tenant_db_slug(h->db), str_c(subject), token);
    snprintf(target, sizeof(target), "subject:%s", token);
    struct audit_event ev = {.actor = "cli", .action = action, .target = target, .outcome = "ok"};
    if (audit_record(h->data, h->sys, h->db, &ev))
        fprintf(stderr, "libreair gdpr: warning: the audit log could not record this\n");
}

static int cmd_export(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = need_subject("export", &o)))
        return rc;
    struct handle h;
    if (open_handle("export", &o, &h))
        return 1;
    FILE *f = stdout;
    if (o.output && !(f = fopen(o.output, "w"))) {
        fprintf(stderr, "libreair gdpr export: cannot write %s\n", o.output);
        close_handle(&h);
        return 1;
    }
    enum lair_err e = gdpr_export(h.db, h.key, o.subject, to_file, f);
    if (!e && (fputc('\n', f) == EOF || fflush(f) != 0))
        e = LAIR_EIO;
    if (f != stdout && fclose(f) != 0 && !e)
        e = LAIR_EIO;
    if (e)
        fprintf(stderr, "libreair gdpr export: %s\n", lair_err_msg(e));
    else
        audit_cli(&h, "gdpr.export", o.subject);
    close_handle(&h);
    return e ? 1 : 0;
}

static int cmd_erase(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if ((rc = need_subject("erase", &o)))
        return rc;
    struct handle h;
    if (open_handle("erase", &o, &h))
        return 1;
    struct gdpr_erasure r;
    enum lair_err e = gdpr_erase(h.db, h.key, o.subject, "cli", &r);
    if (e)
        fprintf(stderr,
                "libreair gdpr erase: %s (the erasure is recorded and completes at the next "
                "'libreair gdpr purge' or server start)\n",
                lair_err_msg(e));
    else
        printf("erased: %lld conversations, %lld messages, %lld pseudonyms (audit token %s)%s\n",
               (long long)r.counts.conversations, (long long)r.counts.messages,
               (long long)r.counts.pseudonyms, r.token,
               r.scrubbed ? ""
                          : "; scrub deferred (a reader holds the database, or no room to "
                            "write): run 'libreair gdpr purge' later");
    close_handle(&h);
    return e ? 1 : 0;
}

static void print_report(void *ctx, const struct gdpr_purge_report *r)
{
    int *failed = ctx;
    if (r->err) {
        fprintf(stderr, "libreair gdpr purge: tenant %s: %s\n", r->tenant, lair_err_msg(r->err));
        *failed = 1;
        return;
    }
    printf("%s: %lld conversations, %lld messages, %lld pseudonyms deleted; %d interrupted "
           "erasures completed%s\n",
           r->tenant, (long long)r->counts.conversations, (long long)r->counts.messages,
           (long long)r->counts.pseudonyms, r->erasures_resumed,
           r->scrubbed ? "; database scrubbed" : "");
}

static int cmd_purge(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (o.subject) {
        fprintf(stderr, "libreair gdpr purge: --subject is for export and erase\n");
        return 2;
    }
    struct handle h;
    if (open_handle("purge", &o, &h))
        return 1;
    int failed = 0;
    enum lair_err e;
    if (h.db) {
        struct tenant_row t;
        struct gdpr_purge_report r;
        e = sysdb_tenant_get(h.sys, o.tenant, &t);
        if (!e)
            gdpr_purge_tenant(h.db, t.retention_days, h.key, gdpr_now(), &r);
        else
            r = (struct gdpr_purge_report){.err = e};
        snprintf(r.tenant, sizeof(r.tenant), "%s", o.tenant);
        print_report(&failed, &r);
    } else {
        e = gdpr_purge_all(h.sys, h.tenants, h.data, gdpr_now(), print_report, &failed);
        if (e && !failed) {
            fprintf(stderr, "libreair gdpr purge: %s\n", lair_err_msg(e));
            failed = 1;
        }
    }
    close_handle(&h);
    return failed || fflush(stdout) != 0 ? 1 : 0;
}

int cmd_gdpr(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "export"))
        return cmd_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "erase"))
        return cmd_erase(argc - 1, argv + 1);
    if (!strcmp(argv[1], "purge"))
        return cmd_purge(argc - 1, argv + 1);
    fprintf(stderr, "libreair gdpr: unknown subcommand '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
