/* libreair init: creates the data directory and prints the operator key once
 * (or, with --key-file, writes it to a new file only its owner may read). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "store/system.h"
#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair init [--data DIR] [--key-file FILE]\n\n"
               "Creates DIR (default $LIBREAIR_DATA, then ./data) with its system database,\n"
               "and prints the operator key alone on the last line. The key is shown once:\n"
               "only its keyed hash is stored.\n\n"
               "  --key-file FILE  write the key to FILE instead (created with mode 0600, owned\n"
               "                   by the user running init; an existing FILE is refused and\n"
               "                   nothing is initialised). The key is then printed nowhere.\n");
}

/* Writes all of key and a newline to fd, then flushes it to disk. The copy
 * of the key made here is wiped on the way out. */
static int write_key(int fd, const char *key)
{
    char line[KEY_TEXT_MAX + 2];
    int n = snprintf(line, sizeof(line), "%s\n", key), rc = 0;
    if (n < 0 || (size_t)n >= sizeof(line)) {
        rc = -1;
        errno = EOVERFLOW; /* the caller reports errno */
    }
    for (size_t off = 0; rc == 0 && off < (size_t)n;) {
        ssize_t w = write(fd, line + off, (size_t)n - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            rc = -1;
        else
            off += (size_t)w;
    }
    int saved = errno;
    sodium_memzero(line, sizeof(line));
    errno = saved;
    return rc ? rc : fsync(fd);
}

int cmd_init(int argc, char **argv)
{
    const char *data = NULL, *key_file = NULL;
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"key-file", required_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:k:h", opts, NULL)) != -1) {
        if (c == 'd') {
            data = optarg;
        } else if (c == 'k') {
            key_file = optarg;
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
    if (key_file && !*key_file) {
        fprintf(stderr, "libreair init: --key-file wants a file name\n");
        return 2;
    }
    data = cli_data_dir(data);
    /* The key file is created first, so that a refusal (it exists, its folder
     * is missing or not writable) leaves nothing initialised. O_EXCL never
     * follows a link nor truncates a file that is there. */
    int kfd = -1;
    if (key_file) {
        kfd = open(key_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (kfd < 0) {
            fprintf(stderr, "libreair init: cannot create the key file %s: %s%s\n", key_file,
                    strerror(errno),
                    errno == EEXIST ? " (an existing file is never overwritten)" : "");
            return 1;
        }
        if (fchmod(kfd, 0600) != 0) { /* whatever the umask */
            fprintf(stderr, "libreair init: %s: %s\n", key_file, strerror(errno));
            close(kfd);
            unlink(key_file);
            return 1;
        }
    }
    enum lair_err e = sysdb_init_dir(data);
    if (e == LAIR_ECONFLICT) {
        fprintf(stderr,
                "libreair init: %s is already initialised (its operator key was shown when it "
                "was created)\n",
                data);
        goto fail;
    }
    if (e) {
        fprintf(stderr, "libreair init: cannot initialise %s: %s\n", data, lair_err_msg(e));
        goto fail;
    }
    struct sysdb *s;
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    if ((e = sysdb_open(data, &s))) {
        fprintf(stderr, "libreair init: %s\n", lair_err_msg(e));
        goto fail;
    }
    e = sysdb_key_create(s, ROLE_OPERATOR, NULL, 0, key, id);
    sysdb_free(s);
    if (e) {
        fprintf(stderr, "libreair init: %s\n", lair_err_msg(e));
        goto fail;
    }
    if (kfd < 0) {
        printf("Initialised %s.\nOperator key (shown once; keep it safe):\n%s\n", data, key);
        fflush(stdout);
        sodium_memzero(key, sizeof(key));
        return 0;
    }
    int werr = write_key(kfd, key) ? errno : 0;
    sodium_memzero(key, sizeof(key));
    if (close(kfd) != 0 && !werr)
        werr = errno;
    kfd = -1;
    if (werr) {
        unlink(key_file);
        fprintf(stderr,
                "libreair init: cannot write the key file %s: %s; %s now holds an operator key "
                "that nobody has: remove it and run init again\n",
                key_file, strerror(werr), data);
        return 1;
    }
    printf("Initialised %s.\nOperator key written to %s (readable by its owner only; shown "
           "nowhere else).\n",
           data, key_file);
    return 0;
fail:
    if (kfd >= 0) {
        close(kfd);
        unlink(key_file);
    }
    return 1;
}
