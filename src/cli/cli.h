/* One entry point per command (git's builtin/): main.c dispatches on argv[1]
 * and passes the remaining arguments, argv[0] being the command's name.
 * Each returns the process exit status: 0 on success, 1 on failure, 2 on a
 * usage error. A command that creates a secret prints it alone on the last
 * line of stdout. Errors go to stderr. */
#ifndef LAIR_CLI_H
#define LAIR_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "assist/chat.h"
#include "llm/llm.h"

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
int cmd_tenant_settings(int argc, char **argv); /* tenant set|show (cmd_tenant_set.c) */
void cli_usage_tenant(FILE *f);                 /* libreair tenant's usage text */
int cmd_backup(int argc, char **argv);    /* backup --to DIR | backup verify DIR */
int cmd_restore(int argc, char **argv);   /* restore --from DIR */
int cmd_eval(int argc, char **argv); /* eval apply|export|suites|run|list|show|compare */
int cmd_template(int argc, char **argv); /* template list|show|publish|delete (cmd_template.c) */
int cmd_assistant_generate(int argc, char **argv); /* assistant generate (cmd_template.c) */

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

/* ---- chat in process (cmd_chat.c): libreair chat --tenant, evaluation ---- */

/* A tenant's assistants run in this process through the server's chat
 * pipeline (assist/chat.h), as the tenant's admin (key id "cli"): drafts
 * and earlier versions may be addressed, raw models by name, nothing is
 * stored and no quota counted (libreair eval run sets ctx.usage to charge
 * the tenant). */
struct cli_chat {
    struct cli_tenant t;
    struct llm_registry *models; /* OWNED */
    struct chat_ctx ctx;         /* over t and models */
    struct principal who;
};
/* Opens the data directory and the tenant, and loads models[0..n)
 * ("NAME=PATH.gguf", one slot each; none: assistants with knowledge bases
 * answer in degraded mode). Prints errors prefixed with prog; 1 on failure
 * (nothing to close), 0 on success. */
int cli_chat_open(const char *prog, const char *data_flag, const char *tenant,
                  const char *const *models, size_t n, struct cli_chat *s);
/* The same with n_slots slots per model (requests it generates at once, in
 * one batch): the evaluation runner's parallel cases. */
int cli_chat_open_slots(const char *prog, const char *data_flag, const char *tenant,
                        const char *const *models, size_t n, int n_slots, struct cli_chat *s);
void cli_chat_close(struct cli_chat *s);
/* Runs req (its who and ephemeral set here) and writes the answer to out as
 * it is generated, then, on lines of their own, the answer mode of a fixed
 * answer and the sources. The answer is appended to answer. 0, or 1 with
 * the error on stderr. */
int cli_chat_ask(struct cli_chat *s, struct chat_request *req, FILE *out, struct buf *answer);

/* ---- upstream pools (cli_upstream.c), for serve and upstream ---- */

#define CLI_MAX_MODELS 16
#define CLI_MAX_UPSTREAMS 16
#define CLI_MAX_FALLBACK 8

/* Storage for the pools of models[] (index for index): upstreams, fallback
 * names, and the strings they point to (API keys wiped on release). */
struct cli_pools {
    struct llm_upstream_opts ups[CLI_MAX_MODELS][CLI_MAX_UPSTREAMS];
    size_t n_ups[CLI_MAX_MODELS];
    const char *fallback[CLI_MAX_MODELS][CLI_MAX_FALLBACK];
    size_t n_fallback[CLI_MAX_MODELS];
    char *owned[1024];
    bool secret[1024];
    int n_owned;
};

/* --upstream NAME=URL[,model=M][,zone=local|remote][,weight=W][,max=N]
 * [,key_file=F][,key_env=V][,ca_file=F]: one more upstream for the pool
 * NAME of models[] (added when absent). -1 (said on stderr) on error. */
int cli_upstream_flag(struct cli_pools *cp, struct llm_model_opts *models, int *n_models,
                      const char *arg);
/* --fallback NAME=OTHER[,OTHER…] for a model of models[]. */
int cli_fallback_flag(struct cli_pools *cp, struct llm_model_opts *models, int n_models,
                      const char *arg);
/* A model object of the configuration file with "upstreams" (and
 * "fallback", "ctx", "queue", "health_interval_s", "embeddings",
 * "dimensions"): added to models[]. */
int cli_upstream_config(struct cli_pools *cp, struct llm_model_opts *models, int *n_models,
                        json_t *m, const char *file);
void cli_pools_release(struct cli_pools *cp);

int cmd_upstream(int argc, char **argv); /* upstream list|check */

/* --data DIR, else $LIBREAIR_DATA, else ./data. BORROWED. */
const char *cli_data_dir(const char *flag);
/* True when arg is -h, --help or help. */
int cli_is_help(const char *arg);

#endif
