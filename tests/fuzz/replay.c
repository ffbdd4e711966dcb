/* Replays fuzz inputs without libFuzzer: runs LLVMFuzzerTestOneInput once
 * on every regular file of the folders (or files) named on the command line,
 * in name order, each in a buffer of exactly its size so that AddressSanitizer
 * sees any read past its end. This is how CI, which has no clang fuzzing run,
 * keeps each target's corpus and every past finding passing: ctest runs it as
 * fuzz/<name> over tests/fuzz/corpus/<name> and tests/fuzz/regressions/<name>.
 * A folder that does not exist is skipped; no input at all is an error. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

#include "core/banned.h"

__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    return 0;
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return -1;
    }
    size_t n = (size_t)st.st_size;
    uint8_t *data = malloc(n ? n : 1);
    if (!data || fread(data, 1, n, f) != n) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        free(data);
        fclose(f);
        return -1;
    }
    fclose(f);
    fprintf(stderr, "replay: %s (%zu bytes)\n", path, n);
    LLVMFuzzerTestOneInput(data, n);
    free(data);
    return 0;
}

static int is_input(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* Runs every file of dir; returns how many, or -1 on error. */
static long run_dir(const char *dir)
{
    struct dirent **names;
    int n = scandir(dir, &names, is_input, alphasort);
    if (n < 0)
        return errno == ENOENT ? 0 : -1;
    long count = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (count >= 0 && stat(path, &st) == 0 && S_ISREG(st.st_mode))
            count = run_file(path) == 0 ? count + 1 : -1;
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    LLVMFuzzerInitialize(&argc, &argv);
    long total = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        long n = stat(argv[i], &st) == 0 && S_ISREG(st.st_mode) ? (run_file(argv[i]) == 0 ? 1 : -1)
                                                                : run_dir(argv[i]);
        if (n < 0) {
            fprintf(stderr, "replay: cannot read %s\n", argv[i]);
            return 1;
        }
        total += n;
    }
    if (total == 0) {
        fprintf(stderr, "replay: no input found (want folders of inputs)\n");
        return 1;
    }
    fprintf(stderr, "replay: %ld inputs, no failure\n", total);
    return 0;
}
