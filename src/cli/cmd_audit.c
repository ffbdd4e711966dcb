/* libreair audit: verify or list the operator's audit log (system.db) or a
 * tenant's. Works while the server runs: reads go through their own
 * connection and see a consistent snapshot. */
#include <getopt.h>
#include <jansson.h>
#include <sodium.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "audit/headexport.h"
#include "cli/cli.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair audit verify [--data DIR] [--tenant SLUG] [--against FILE] [--json]\n"
               "       libreair audit list   [--data DIR] [--tenant SLUG] [--since TIME]\n"
               "                             [--after SEQ] [--limit N] [--json]\n\n"
               "verify  checks the hash chain of the operator's audit log (or of the tenant's\n"
               "        with --tenant) and its sealed head. Prints 'ok: N events' and exits 0\n"
               "        when intact; otherwise says at which event the log breaks and how\n"
               "        (modified, deleted, inserted, reordered, truncated, rewritten or\n"
               "        checkpoint) and exits 1. --against FILE also checks the chain against\n"
               "        the heads the server wrote outside the data directory (a head file,\n"
               "        or `journalctl -t libreair-audit -o cat`): a chain rewritten and sealed\n"
               "        again by someone holding the data directory and its pepper fails there.\n"
               "list    prints events, oldest first, one per line (tab-separated: seq, time,\n"
               "        actor, action, target, outcome, detail), or JSON lines with --json.\n"
               "        --since takes a unix time or an ISO 8601 date (2024-05-31,\n"
               "        2024-05-31T12:00:00Z); --after SEQ lists events after that one.\n\n"
               "--data defaults to $LIBREAIR_DATA, then ./data. See docs/audit.md.\n");
}

struct opts {
    const char *data, *tenant, *since, *against;
    int64_t after, limit;
    bool json;
};

static int parse(int argc, char **argv, struct opts *o)
{
    static const struct option long_opts[] = {
        {"data", required_argument, NULL, 'd'},  {"tenant", required_argument, NULL, 't'},
        {"since", required_argument, NULL, 's'}, {"after", required_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'n'}, {"json", no_argument, NULL, 'j'},
        {"against", required_argument, NULL, 'A'}, {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:t:s:a:n:jh", long_opts, NULL)) != -1) {
        char *end;
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 's': o->since = optarg; break;
        case 'A': o->against = optarg; break;
        case 'j': o->json = true; break;
        case 'a':
        case 'n':
            *(c == 'a' ? &o->after : &o->limit) = strtoll(optarg, &end, 10);
            if (!*optarg || *end || (c == 'a' ? o->after < 0 : o->limit < 1)) {
                fprintf(stderr, "libreair audit: --%s wants a %s integer\n",
                        c == 'a' ? "after" : "limit", c == 'a' ? "non-negative" : "positive");
                return 2;
            }
            break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "libreair audit: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return -1;
}

/* ---- list ---- */

static void print_field(struct str s, char sep)
{
    char b[AUDIT_DETAIL_MAX + 1];
    size_t n = audit_clean(s, b, sizeof(b));
    for (size_t i = 0; i < n; i++) /* keep one event per line and columns aligned */
        if (b[i] == '\t')
            b[i] = ' ';
    fwrite(b, 1, n, stdout);
    putchar(sep);
}

static json_t *field_json(struct str s)
{
    char b[AUDIT_DETAIL_MAX + 1];
    size_t n = audit_clean(s, b, sizeof(b));
    return json_stringn(b, n);
}

static bool print_row(void *ctx, const struct audit_row *r)
{
    const bool *json = ctx;
    char when[32], hash[2 * AUDIT_HASH_LEN + 1], prev[2 * AUDIT_HASH_LEN + 1];
    audit_format_time(r->ts, when);
    if (!*json) {
        printf("%lld\t%s\t", (long long)r->seq, when);
        print_field(r->actor, '\t');
        print_field(r->action, '\t');
        print_field(r->target, '\t');
        print_field(r->outcome, '\t');
        print_field(r->detail, '\n');
        return true;
    }
    sodium_bin2hex(hash, sizeof(hash), r->hash, AUDIT_HASH_LEN);
    sodium_bin2hex(prev, sizeof(prev), r->prev, AUDIT_HASH_LEN);
    json_t *v = json_pack("{s:I, s:I, s:s, s:o, s:o, s:o, s:o, s:o, s:s, s:s}", "seq",
                          (json_int_t)r->seq, "ts", (json_int_t)r->ts, "time", when, "actor",
                          field_json(r->actor), "action", field_json(r->action), "target",
                          field_json(r->target), "outcome", field_json(r->outcome), "detail",
                          field_json(r->detail), "prev", prev, "hash", hash);
    char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(v);
    return s != NULL;
}

static int do_list(struct audit_log *l, const struct opts *o)
{
    int64_t since = 0;
    if (o->since && !audit_parse_time(o->since, &since)) {
        fprintf(stderr, "libreair audit: --since wants a unix time or an ISO 8601 date such as "
                        "2024-05-31 or 2024-05-31T12:00:00Z\n");
        return 2;
    }
    bool json = o->json;
    enum lair_err e = audit_store_list(l->db, since, o->after, o->limit, print_row, &json);
    if (e) {
        fprintf(stderr, "libreair audit: cannot read the log: %s\n", lair_err_msg(e));
        return 1;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- verify ---- */

static int do_verify(struct audit_log *l, const struct opts *o, const char *what)
{
    struct audit_report rep;
    enum lair_err e = audit_verify(l, &rep);
    if (e) {
        fprintf(stderr, "libreair audit: cannot read the log: %s\n", lair_err_msg(e));
        return 1;
    }
    size_t n_heads = 0;
    if (rep.ok && o->against) {
        struct audit_head *heads = NULL;
        e = audit_heads_read(o->against, l->scope, &heads, &n_heads);
        if (!e)
            e = audit_verify_heads(l, heads, n_heads, &rep);
        free(heads);
        if (e) {
            fprintf(stderr, "libreair audit: cannot check against %s: %s\n", o->against,
                    lair_err_msg(e));
            return 1;
        }
        /* a check against nothing is no check: the wrong file, another
         * tenant's, or a server that never wrote this log's heads there */
        if (n_heads == 0 && rep.events > 0) {
            fprintf(stderr,
                    "libreair audit: %s holds no head of %s: nothing to check the chain against "
                    "(the server writes them with --audit-heads-file or to syslog)\n",
                    o->against, what);
            return 1;
        }
    }
    if (o->json) {
        json_t *v = audit_report_json(&rep);
        char *s = v ? json_dumps(v, JSON_COMPACT) : NULL;
        if (s)
            puts(s);
        free(s);
        json_decref(v);
    } else if (rep.ok) {
        char hash[2 * AUDIT_HASH_LEN + 1];
        sodium_bin2hex(hash, sizeof(hash), rep.head_hash, AUDIT_HASH_LEN);
        printf("ok: %lld events in %s", (long long)rep.events, what);
        if (rep.head_seq)
            printf(" (head: event %lld, hash %s)", (long long)rep.head_seq, hash);
        if (o->against)
            printf("; %zu head%s written outside match", n_heads, n_heads == 1 ? "" : "s");
        putchar('\n');
    } else {
        printf("BROKEN: %s breaks at event %lld (%s): %s. %lld event%s verified before it.\n", what,
               (long long)rep.broken_at, audit_reason_name(rep.reason), rep.message,
               (long long)rep.checked, rep.checked == 1 ? "" : "s");
    }
    return rep.ok ? 0 : 1;
}

int cmd_audit(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    bool verify = !strcmp(sub, "verify");
    if (!verify && strcmp(sub, "list")) {
        fprintf(stderr, "libreair audit: unknown subcommand '%s' (verify or list)\n", sub);
        return 2;
    }
    struct opts o = {.limit = INT64_MAX};
    int rc = parse(argc - 1, argv + 1, &o);
    if (rc >= 0)
        return rc;
    const char *data = cli_data_dir(o.data);
    struct sysdb *sys = NULL;
    struct tenants *ts = NULL;
    struct tenant_db *tdb = NULL;
    unsigned char key[AUDIT_KEY_LEN];
    char what[128];
    enum lair_err e = sysdb_open(data, &sys);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr, "libreair audit: %s is not a data directory (run 'libreair init')\n", data);
        return 1;
    }
    if (!e)
        e = audit_key_load(data, key);
    if (!e && o.tenant) {
        e = tenants_new(data, sys, &ts);
        if (!e)
            e = tenants_get(ts, o.tenant, &tdb);
        if (e == LAIR_ENOTFOUND) {
            fprintf(stderr, "libreair audit: no tenant '%s'\n", o.tenant);
            rc = 1;
            goto out;
        }
    }
    if (e) {
        fprintf(stderr, "libreair audit: cannot open %s: %s\n", data, lair_err_msg(e));
        rc = 1;
        goto out;
    }
    struct audit_log l;
    if (tdb) {
        audit_log_tenant(&l, tdb, key);
        snprintf(what, sizeof(what), "the audit log of tenant %s", o.tenant);
    } else {
        audit_log_system(&l, sys, key);
        snprintf(what, sizeof(what), "the operator's audit log");
    }
    rc = verify ? do_verify(&l, &o, what) : do_list(&l, &o);
    audit_log_release(&l);
out:
    sodium_memzero(key, sizeof(key));
    tenant_db_put(tdb);
    tenants_free(ts);
    sysdb_free(sys);
    return rc;
}
