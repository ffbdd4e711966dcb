/* Opening a tenant's database straight from the data directory, for the
 * commands that work on one tenant (assistant, kb, gdpr, eval, chat --tenant):
 * one place for the messages a user sees when the directory or the tenant is
 * wrong. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "core/banned.h"

int cli_tenant_open(const char *prog, const char *data_flag, const char *tenant, bool need_tenant,
                    struct cli_tenant *h)
{
    const char *data = cli_data_dir(data_flag);
    memset(h, 0, sizeof(*h));
    h->data = data;
    enum lair_err e = sysdb_open(data, &h->sys);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr, "%s: %s is not a data directory (run libreair init)\n", prog, data);
        return 1;
    }
    if (!e)
        e = tenants_new(data, h->sys, &h->tenants);
    if (!e && (tenant || need_tenant)) {
        e = tenant ? tenants_get(h->tenants, tenant, &h->db) : LAIR_ENOTFOUND;
        if (e == LAIR_ENOTFOUND) {
            fprintf(stderr, "%s: no tenant '%s' in %s\n", prog, tenant ? tenant : "", data);
            cli_tenant_close(h);
            return 1;
        }
    }
    if (e) {
        fprintf(stderr, "%s: cannot open %s: %s\n", prog, data, lair_err_msg(e));
        cli_tenant_close(h);
        return 1;
    }
    return 0;
}

void cli_tenant_close(struct cli_tenant *h)
{
    tenant_db_put(h->db);
    tenants_free(h->tenants);
    sysdb_free(h->sys);
    memset(h, 0, sizeof(*h));
}
