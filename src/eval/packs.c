/* The red-team packs shipped with the program: the JSON files of eval/packs/ compiled
 * in by cmake/evalpacks.cmake (scripts/embed.sh), parsed on demand. */
#include <pthread.h>
#include <string.h>

#include "eval/suite.h"
#include "core/banned.h"

struct eval_pack_file {
    const char *path; /* "/fr-injection.json" */
    const unsigned char *data;
    size_t len;
};
extern const struct eval_pack_file eval_pack_files[];

size_t eval_packs_count(void)
{
    size_t n = 0;
    while (eval_pack_files[n].path)
        n++;
    return n;
}

#define MAX_PACKS 64
static char names[MAX_PACKS][EVAL_NAME_MAX + 1];
static pthread_once_t names_once = PTHREAD_ONCE_INIT;

/* "fr-injection" for "/fr-injection.json", for every pack, once. */
static void names_init(void)
{
    for (size_t i = 0; i < MAX_PACKS && eval_pack_files[i].path; i++) {
        const char *p = eval_pack_files[i].path + 1;
        size_t n = strlen(p);
        if (n > 5 && !strcmp(p + n - 5, ".json"))
            n -= 5;
        if (n > EVAL_NAME_MAX)
            n = EVAL_NAME_MAX;
        memcpy(names[i], p, n);
        names[i][n] = 0;
    }
}

const char *eval_pack_name(size_t i)
{
    pthread_once(&names_once, names_init);
    if (i >= MAX_PACKS || i >= eval_packs_count())
        return NULL;
    return names[i];
}

enum lair_err eval_pack_load(const char *name, struct eval_suite *out)
{
    for (size_t i = 0; i < eval_packs_count(); i++) {
        if (strcmp(eval_pack_name(i), name))
            continue;
        json_error_t je;
        json_t *v = json_loadb((const char *)eval_pack_files[i].data, eval_pack_files[i].len,
                               JSON_REJECT_DUPLICATES, &je);
        if (!v)
            return LAIR_EINTERNAL;
        struct eval_error err;
        enum lair_err e = eval_suite_parse(v, out, &err);
        json_decref(v);
        return e == LAIR_EUNPROC ? LAIR_EINTERNAL : e;
    }
    return LAIR_ENOTFOUND;
}
