/* Tables generated from LAIR_ERR_LIST. */
#include "core/err.h"

#include <stddef.h>

struct err_info {
    int status;
    const char *type, *msg, *name, *code;
};

static const struct err_info infos[] = {
#define LAIR_X(name, val, status, type, msg, code) [val] = {status, type, msg, #name, code},
    LAIR_ERR_LIST(LAIR_X)
#undef LAIR_X
};

static const struct err_info *info(enum lair_err e)
{
    if ((size_t)e >= sizeof(infos) / sizeof(infos[0]) || !infos[e].msg)
        return &infos[LAIR_EINTERNAL];
    return &infos[e];
}

const char *lair_err_msg(enum lair_err e) { return info(e)->msg; }
int lair_err_status(enum lair_err e) { return info(e)->status; }
const char *lair_err_type(enum lair_err e) { return info(e)->type; }
const char *lair_err_name(enum lair_err e) { return info(e)->name; }
const char *lair_err_code(enum lair_err e) { return info(e)->code; }
