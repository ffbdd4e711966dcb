/* A tenant's assistants and their versions, in its database (tables
 * assistants and assistant_versions of tenant.c's schema).
 *
 * A version's spec is the canonical JSON text that src/assist/assistant.c
 * produced; this module looks inside it only for the display name ($.name)
 * in listings. Versions are append-only and numbered 1, 2, 3... per
 * assistant; the draft is the newest one; publishing points
 * published_version at one of them. Every change runs in one transaction
 * (tenant_db_tx), so a failure leaves nothing half-written, and concurrent
 * writers serialize: every update becomes its own version. */
#ifndef LAIR_STORE_ASSISTANTS_H
#define LAIR_STORE_ASSISTANTS_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "store/system.h"
#include "store/tenant.h"

/* Special "version" arguments. */
#define ASSISTANT_DRAFT 0      /* the current draft (the newest version) */
#define ASSISTANT_PUBLISHED -1 /* the published version */

#define ASSISTANT_AUTHOR_MAX 63

struct assistant_info {
    char slug[SLUG_MAX + 1];
    char name[256];        /* of the draft (of the published version in published listings) */
    int version;           /* the draft's number */
    int published_version; /* 0 when not published */
    int64_t created_at, updated_at;
};

struct assistant_version_info {
    int version;
    int64_t created_at;
    char author[ASSISTANT_AUTHOR_MAX + 1]; /* key id, or "cli" */
    char name[256];
    bool draft, published;
};

enum assistant_apply_outcome { ASSISTANT_CREATED, ASSISTANT_UPDATED, ASSISTANT_UNCHANGED };

/* Creates the assistant with spec as version 1 (the draft, unpublished).
 * LAIR_ECONFLICT when the slug is taken. OUT: *version = 1. */
enum lair_err assistants_create(struct tenant_db *db, const char *slug, const char *spec,
                                const char *author, int *version);

/* Appends spec as a new draft version. base_version > 0 is the version the
 * edit started from: LAIR_ECONFLICT when the draft has moved past it (OUT:
 * *version = the current draft then); 0 = no check. LAIR_ENOTFOUND when the
 * assistant does not exist. OUT: *version = the new draft's number. */
enum lair_err assistants_update(struct tenant_db *db, const char *slug, const char *spec,
                                const char *author, int base_version, int *version);

/* Declarative apply: creates the assistant, or appends spec as a new draft
 * unless it equals the current draft byte for byte. OUT: *version = the
 * draft's number afterwards, *outcome what happened. */
enum lair_err assistants_apply(struct tenant_db *db, const char *slug, const char *spec,
                               const char *author, int *version,
                               enum assistant_apply_outcome *outcome);

/* Makes version (> 0, or ASSISTANT_DRAFT) the published one. LAIR_ENOTFOUND
 * when the assistant or that version does not exist. OUT: *published = the
 * version now published (may be NULL). */
enum lair_err assistants_publish(struct tenant_db *db, const char *slug, int version,
                                 int *published);

/* Appends a copy of version from's spec as a new draft (publish it to make it
 * live). LAIR_ENOTFOUND when the assistant or the version does not exist.
 * OUT: *version = the new draft's number. */
enum lair_err assistants_restore(struct tenant_db *db, const char *slug, int from,
                                 const char *author, int *version);

/* Reads one version (> 0, ASSISTANT_DRAFT or ASSISTANT_PUBLISHED) in one
 * consistent read. LAIR_ENOTFOUND when the assistant, the version, or (for
 * ASSISTANT_PUBLISHED) a published version does not exist. OUT: *spec OWNED
 * (free with free()), *got = the version read, *info the assistant's draft
 * and published numbers (info may be NULL). */
enum lair_err assistants_get(struct tenant_db *db, const char *slug, int version, char **spec,
                             int *got, struct assistant_info *info);

/* Calls fn for each assistant, by slug; published_only: only those with a
 * published version, named after it. fn must not use db. */
enum lair_err assistants_list(struct tenant_db *db, bool published_only,
                              void (*fn)(void *arg, const struct assistant_info *a), void *arg);

/* Calls fn for each version of the assistant, oldest first. LAIR_ENOTFOUND
 * when it does not exist. fn must not use db. */
enum lair_err assistants_versions(struct tenant_db *db, const char *slug,
                                  void (*fn)(void *arg, const struct assistant_version_info *v),
                                  void *arg);

/* Calls fn for each assistant whose published version uses the knowledge
 * base kb (kb != NULL), or names a model that the list allowed (a tenant's
 * allowed_models) does not allow (allowed != NULL), by slug: what deleting
 * the base or withdrawing models would break for the people using them.
 * fn must not use db. */
enum lair_err assistants_using(struct tenant_db *db, const char *kb, const char *allowed,
                               void (*fn)(void *arg, const struct assistant_info *a), void *arg);

/* Removes the assistant and all its versions. LAIR_ENOTFOUND when absent. */
enum lair_err assistants_delete(struct tenant_db *db, const char *slug);

#endif
