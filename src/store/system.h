/* The system database (DATA/system.db): API keys as keyed hashes, and the
 * operator's data. Tenants come in a later migration.
 *
 * A key reads "lair_<id>_<secret>": the id (12 hex digits) finds the row, the
 * secret (32 random bytes, base64url) is checked against a BLAKE2b hash keyed
 * with DATA/pepper, in constant time. The secret itself is never stored. */
#ifndef LAIR_SYSTEM_H
#define LAIR_SYSTEM_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"

struct sysdb;

#define KEY_ID_LEN 12
#define KEY_TEXT_MAX 80

enum key_role { ROLE_USER = 1, ROLE_EDITOR = 2, ROLE_ADMIN = 3, ROLE_OPERATOR = 4 };

struct principal {
    char key_id[KEY_ID_LEN + 1];
    enum key_role role;
    char tenant[64]; /* "" for the operator */
};

/* Creates DATA (mode 0700), system.db and the pepper. Fails with LAIR_ECONFLICT
 * when DATA already holds a system.db. */
enum lair_err sysdb_init_dir(const char *data_dir);
/* Opens an initialised data directory (migrating it). OUT: OWNED, sysdb_free.
 * LAIR_ENOTFOUND when the directory was never initialised. */
enum lair_err sysdb_open(const char *data_dir, struct sysdb **out);
void sysdb_free(struct sysdb *s);

/* Creates a key. tenant NULL for an operator key. expires_at 0 = never.
 * OUT: key_text (the secret, shown once) and key_id. */
enum lair_err sysdb_key_create(struct sysdb *s, enum key_role role, const char *tenant,
                               int64_t expires_at, char key_text[KEY_TEXT_MAX],
                               char key_id[KEY_ID_LEN + 1]);
/* Checks a bearer secret. LAIR_EAUTH when unknown, revoked, expired or wrong. */
enum lair_err sysdb_key_check(struct sysdb *s, struct str bearer, struct principal *out);

const char *key_role_name(enum key_role r);

#endif
