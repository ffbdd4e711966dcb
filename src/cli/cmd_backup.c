/* libreair backup --to DIR | backup verify DIR; libreair restore --from DIR:
 * online backups of a whole data directory, their verification, and
 * restores into a new data directory that replay the erasures made since
 * the backup (src/ops/backup.h, docs/operations.md). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "ops/backup.h"
#include "core/banned.h"

static void usage_backup(FILE *f)
{
    fprintf(f, "usage: libreair backup --to DIR [--data DATA]\n"
               "       libreair backup verify DIR\n\n"
               "backup  copies the data directory into DIR (absent or empty) while the server\n"
               "        serves and writes: system.db and every tenant's database as one\n"
               "        consistent state each, the pepper, the erasure journals and the uploads\n"
               "        of pending ingestion jobs, with manifest.json and SHA256SUMS. DIR holds\n"
               "        the pepper and every tenant's data: protect it as DATA itself.\n"
               "verify  checks DIR: the manifest, every file's SHA-256, no unlisted file,\n"
               "        PRAGMA integrity_check of every database.\n\n"
               "DATA defaults to $LIBREAIR_DATA, then ./data. Exit status: 0 done (verify:\n"
               "intact), 1 failed (verify: a problem found, each one said on stderr), 2 usage\n"
               "error. See docs/operations.md.\n");
}

static void usage_restore(FILE *f)
{
    fprintf(f, "usage: libreair restore --from DIR [--data NEWDATA]\n"
               "                        [--journal-from LIVEDATA | --no-replay]\n\n"
               "Verifies the backup in DIR, then restores it into NEWDATA, which must be absent\n"
               "or empty. Erasures made since the backup are replayed: the restore reads the\n"
               "erasure journals (tenants/<slug>/erasures.journal) of the data directory the\n"
               "backup was taken from (recorded in its manifest), or of LIVEDATA, and erases\n"
               "those subjects again. It refuses when the journals cannot be read or do not\n"
               "continue the backup's; --no-replay restores without them (say why elsewhere).\n\n"
               "NEWDATA defaults to $LIBREAIR_DATA, then ./data. Exit status: 0 restored,\n"
               "1 refused or failed, 2 usage error. See docs/operations.md.\n");
}

static void print_note(void *ctx, const char *text)
{
    fprintf(stderr, "%s: %s\n", (const char *)ctx, text);
}

static int do_verify(int argc, char **argv)
{
    if (argc != 2 || cli_is_help(argv[1])) {
        usage_backup(argc == 2 ? stdout : stderr);
        return argc == 2 ? 0 : 2;
    }
    struct ops_error err = {{0}};
    json_t *m = NULL;
    enum lair_err e = backup_verify(argv[1], print_note, "libreair backup verify", &m, &err);
    if (e == LAIR_OK) {
        printf("%s: ok (%zu files, %zu databases, started %s)\n", argv[1],
               json_array_size(json_object_get(m, "files")),
               json_array_size(json_object_get(m, "databases")),
               json_string_value(json_object_get(m, "started_at")));
    } else if (e != LAIR_ECHECKSUM) { /* problems were printed one by one */
        fprintf(stderr, "libreair backup verify: %s\n", err.text);
    } else {
        fprintf(stderr, "libreair backup verify: %s does not verify\n", argv[1]);
    }
    json_decref(m);
    return e ? 1 : 0;
}

int cmd_backup(int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return do_verify(argc - 1, argv + 1);
    const char *data = NULL, *to = NULL;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"to", required_argument, NULL, 't'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 't': to = optarg; break;
        case 'h': usage_backup(stdout); return 0;
        default: usage_backup(stderr); return 2;
        }
    }
    if (!to || optind < argc) {
        usage_backup(stderr);
        return 2;
    }
    data = cli_data_dir(data);
    struct ops_error err = {{0}};
    struct backup_report r;
    if (backup_create(data, to, &r, &err)) {
        fprintf(stderr, "libreair backup: %s\n", err.text);
        return 1;
    }
    printf("Backup of %s written to %s: %d tenants, %zu files, %llu bytes (started %s).\n"
           "It holds the pepper and every tenant's data: keep it as you keep %s.\n",
           data, to, r.tenants, r.files, (unsigned long long)r.bytes, r.started_at, data);
    return 0;
}

int cmd_restore(int argc, char **argv)
{
    struct restore_opts o = {0};
    const char *data = NULL;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"from", required_argument, NULL, 'f'},
                                         {"journal-from", required_argument, NULL, 'j'},
                                         {"no-replay", no_argument, NULL, 'n'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:f:j:nh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': data = optarg; break;
        case 'f': o.from = optarg; break;
        case 'j': o.journal_from = optarg; break;
        case 'n': o.no_replay = true; break;
        case 'h': usage_restore(stdout); return 0;
        default: usage_restore(stderr); return 2;
        }
    }
    if (!o.from || optind < argc || (o.no_replay && o.journal_from)) {
        usage_restore(stderr);
        return 2;
    }
    o.to = cli_data_dir(data);
    struct ops_error err = {{0}};
    struct restore_report r;
    if (backup_restore(&o, print_note, "libreair restore", &r, &err)) {
        fprintf(stderr, "libreair restore: %s\n", err.text);
        return 1;
    }
    printf("Restored %s into %s: %d tenants.\n", o.from, o.to, r.tenants);
    if (o.no_replay)
        printf("Erasures since the backup: not replayed (--no-replay).\n");
    else
        printf("Erasures since the backup: %d journal entries read from %s, %d subjects erased "
               "again.\n",
               r.journal_entries, r.journal_from, r.erasures_replayed);
    if (r.erasures_completed)
        printf("Erasures pending in the backup, completed: %d.\n", r.erasures_completed);
    return 0;
}
