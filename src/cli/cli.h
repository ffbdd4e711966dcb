/* One entry point per command (git's builtin/): main.c dispatches on argv[1]
 * and passes the remaining arguments, argv[0] being the command's name.
 * Each returns the process exit status: 0 on success, 1 on failure, 2 on a
 * usage error. A command that creates a secret prints it alone on the last
 * line of stdout. Errors go to stderr. */
#ifndef LAIR_CLI_H
#define LAIR_CLI_H

#include <stdbool.h>

#include "store/system.h"
#include "store/tenant.h"

int cmd_init(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_model(int argc, char **argv); /* model info PATH | model pull URL [--sha256 HEX] [-o PATH] */
int cmd_tenant(int argc, char **argv);
int cmd_key(int argc, char **argv);
int cmd_audit(int argc, char **argv); /* audit verify|list */
int cmd_assistant(int argc, char **argv); /* assistant apply|export|list */
int cmd_gdpr(int argc, char **argv);      /* gdpr export|erase|purge */
int cmd_kb(int argc, char **argv);        /* kb create|list|ingest|documents|search|delete */

/* A tenant opened from the data directory by a command. */
struct cli_tenant {
    const char *data;        /* BORROWED */
    struct sysdb *sys;       /* OWNED */
    struct tenants *tenants; /* OWNED */
    struct tenant_db *db;    /* BORROWED from tenants; NULL when no tenant was asked */
};
/* Opens the data directory and, when tenant is given (required when
 * need_tenant), that tenant's database. Prints the error prefixed with prog
 * and returns 1 on failure (nothing to close then), 0 on success. */
int cli_tenant_open(const char *prog, const char *data_flag, const char *tenant, bool need_tenant,
                    struct cli_tenant *h);
void cli_tenant_close(struct cli_tenant *h);

/* --data DIR, else $LIBREAIR_DATA, else ./data. BORROWED. */
const char *cli_data_dir(const char *flag);
/* True when arg is -h or --help. */
int cli_is_help(const char *arg);

#endif
