/* libreair: one binary, one command per verb (git's builtin/ layout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/log.h"
#include "gdpr/policy.h"
#include "core/banned.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"init", cmd_init, "create a data directory and print the operator key"},
    {"serve", cmd_serve, "run the HTTP server"},
    {"chat", cmd_chat, "chat with a model or assistant from the terminal (streaming)"},
    {"model", cmd_model, "inspect (info) or download (pull) a GGUF model"},
    {"tenant", cmd_tenant, "create, list, show, set, delete, export or import tenants"},
    {"key", cmd_key, "create, list or revoke API keys"},
    {"audit", cmd_audit, "verify or list the tamper-evident audit log"},
    {"assistant", cmd_assistant, "create or update (apply), export and list assistants"},
    {"gdpr", cmd_gdpr, "export or erase a data subject's data; purge expired conversations"},
    {"kb", cmd_kb, "knowledge bases: create, ingest files and folders, search, list"},
    {"upstream", cmd_upstream, "list or check the upstream servers that serve models"},
    {"backup", cmd_backup, "back up the data directory while it serves, or verify a backup"},
    {"restore", cmd_restore, "restore a backup into a new data directory, replaying erasures"},
    {"eval", cmd_eval, "evaluation suites and red-team packs: apply, run, list, show, compare"},
    {"template", cmd_template, "assistant templates shared between organisations: list, publish"},
};

int cli_is_help(const char *arg)
{
    return arg && (!strcmp(arg, "-h") || !strcmp(arg, "--help") || !strcmp(arg, "help"));
}

const char *cli_data_dir(const char *flag)
{
    if (flag && *flag)
        return flag;
    const char *env = getenv("LIBREAIR_DATA");
    return env && *env ? env : "./data";
}

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n'libreair <command> --help' tells more. Version %s.\n", LAIR_VERSION);
}

int main(int argc, char **argv)
{
    log_init();
    log_set_filter(gdpr_log_filter); /* identifiers never reach a log line */
    umask(077); /* data, keys and logs are for this user only */
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (cli_is_help(argv[1])) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("libreair %s\n", LAIR_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "libreair: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}
