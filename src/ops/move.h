/* A tenant moves from one data directory (one server) to another:
 * `libreair tenant export` writes one file, `libreair tenant import` takes
 * it in (docs/operations.md).
 *
 * The file is a ustar archive (ops/tar.h) whose members are, in order:
 *
 *   manifest.json   {"format": "libreair-tenant", "format_version": 1,
 *                   "libreair_version", "created_at", "tenant": {"slug",
 *                   "name", "created_at", "rpm_limit", "tokens_per_day",
 *                   "retention_days", "allowed_models"}, "pepper_id",
 *                   "schema_version",
 *                   "audit": {"events", "head_seq", "head_hash"},
 *                   "keys": N, "files": [{"path", "size", "sha256"}]}
 *   keys.json       the tenant's API keys as stored: ids, roles, limits and
 *                   the keyed hashes of their secrets (never a secret)
 *   people.json     its members (removed ones included) and access rules
 *                   (store/people.h: people_export); never their sessions.
 *                   Archives written before it existed have none
 *   tenant.db       a consistent copy of the tenant's database (assistants,
 *                   knowledge bases with documents, chunks and vectors,
 *                   conversations, pseudonyms, usage, the audit log)
 *   kb/<kb>/uploads/u-…   uploads of pending ingestion jobs
 *
 * and FILE.sha256 beside it holds the archive's SHA-256 (`sha256sum -c`).
 *
 * What the pepper means for a move. Key hashes, the audit log's sealed
 * head and subject tokens are keyed with the source data directory's
 * pepper, which the archive does not carry (it keys every other tenant of
 * the source too). So:
 *   - the audit chain itself is not keyed: the export verifies it with the
 *     source's key and writes the verified head (seq and hash) into the
 *     manifest; the import checks that the copied chain still ends exactly
 *     there, then seals that head again under its own key and the tenant's
 *     (new) slug, so `libreair audit verify` holds on the new server;
 *   - keys are carried, hashes and all, only when both data directories
 *     share a pepper (equal pepper_id) and no key id is taken there: they
 *     keep working. Otherwise no key comes over (a hash keyed with another
 *     pepper can never match) and the import creates one new admin key,
 *     printed once, with which the tenant's admins make their keys again;
 *   - members and access rules are not keyed: they come over whatever
 *     the pepper, removed members included (a removal vetoes the access
 *     rules for that person). A member id is the principal that owns the
 *     person's conversations, so it is kept: when one is taken here
 *     (the tenant was imported here before), no member comes over, the
 *     rules do, and the report says so. Sessions never move: people sign
 *     in again;
 *   - subject tokens in earlier audit events stay those of the source: a
 *     GDPR export on the new server does not find a subject's events from
 *     before the move (they are still in the log).
 * The erasure journal is not carried: its tokens are the source's, and
 * the copy holds no data of the subjects it names. */
#ifndef LAIR_OPS_MOVE_H
#define LAIR_OPS_MOVE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"
#include "ops/backup.h"
#include "ops/files.h"
#include "store/system.h"

#define MOVE_FORMAT "libreair-tenant"
#define MOVE_FORMAT_VERSION 1

struct move_report {
    char slug[SLUG_MAX + 1];
    char sha256[OPS_SHA256_HEX]; /* of the archive */
    int64_t events;              /* audit events carried */
    int64_t head_seq;
    char head_hash[OPS_SHA256_HEX];
    int keys;           /* keys in the archive */
    bool keys_carried;  /* import: they were taken as they are */
    bool keys_reissued; /* import: a new admin key was made (new_key) */
    char new_key[KEY_TEXT_MAX];
    int erasures_completed; /* import: erasures pending in the copy, completed */
    bool people;            /* the archive has people.json */
    int members, rules;     /* in people.json: members (removed ones included), access rules */
    bool members_taken;     /* import: a member id is taken here, no member was carried (the
                               rules were) */
};

/* Writes the tenant slug of data_dir to file (which must not exist) and
 * file.sha256. Refuses (LAIR_ECHECKSUM) when the tenant's audit chain does
 * not verify. Records "tenant.export" in the tenant's and the operator's
 * logs. OUT: *out. */
enum lair_err move_export(const char *data_dir, const char *slug, const char *file,
                          struct move_report *out, struct ops_error *err);

/* Takes the tenant in file into data_dir, under as_slug when set (else its
 * own slug). Checks, before the tenant exists: the archive's SHA-256
 * against want_sha256 when set and against file.sha256 when present, the
 * tenant's settings (limits, retention, allowed models), every member
 * against the manifest (only keys.json, people.json, tenant.db and
 * kb/<kb>/uploads/<file> are accepted), the database's integrity and schema
 * version, and the audit chain against the exported head. LAIR_ECONFLICT
 * when the slug is taken. On a failure after the tenant was created it is
 * deleted again. Records "tenant.import" in both logs. OUT: *out (new_key
 * set when keys_reissued; the caller prints it once and wipes it). */
enum lair_err move_import(const char *data_dir, const char *file, const char *as_slug,
                          const char *want_sha256, struct move_report *out, struct ops_error *err);

#endif
