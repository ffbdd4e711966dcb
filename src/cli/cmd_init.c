/* libreair init: creates the data directory and prints the operator key once. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "store/system.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair init [--data DIR]\n\n"
               "Creates DIR (default $LIBREAIR_DATA, then ./data) with its system database,\n"
               "and prints the operator key alone on the last line. The key is shown once:\n"
               "only its keyed hash is stored.\n");
}

int cmd_init(int argc, char **argv)
{
    const char *data = NULL;
    static const struct option opts[] = {
        {"data", required_argument, NULL, 'd'}, {"help", no_argument, NULL, 'h'}, {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:h", opts, NULL)) != -1) {
        if (c == 'd') {
            data = optarg;
        } else if (c == 'h') {
            usage(stdout);
            return 0;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "libreair init: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    data = cli_data_dir(data);
    enum lair_err e = sysdb_init_dir(data);
    if (e == LAIR_ECONFLICT) {
        fprintf(stderr,
                "libreair init: %s is already initialised (its operator key was shown when it "
                "was created)\n",
                data);
        return 1;
    }
    if (e) {
        fprintf(stderr, "libreair init: cannot initialise %s: %s\n", data, lair_err_msg(e));
        return 1;
    }
    struct sysdb *s;
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    if ((e = sysdb_open(data, &s)) || (e = sysdb_key_create(s, ROLE_OPERATOR, NULL, 0, key, id))) {
        fprintf(stderr, "libreair init: %s\n", lair_err_msg(e));
        return 1;
    }
    sysdb_free(s);
    printf("Initialised %s.\nOperator key (shown once; keep it safe):\n%s\n", data, key);
    return 0;
}
