/* Tenant export and import (ops/move.h). */
#include "ops/move.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "gdpr/erase.h"
#include "ops/tar.h"
#include "store/people.h"
#include "store/snapshot.h"
#include "store/tenant.h"
#include "core/banned.h"

#define PATH_N (OPS_PATH_MAX + 512)
#define JSON_MAX (64u << 20)
#define KEYS_MAX 100000

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static json_int_t jint(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

/* ---- export ---- */

static bool key_json(void *ctx, const struct snapshot_key *k)
{
    char hash[2 * sizeof(k->hash) + 1];
    sodium_bin2hex(hash, sizeof(hash), k->hash, sizeof(k->hash));
    json_array_append_new(
        ctx, json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I}", "id", k->id,
                       "hash", hash, "role", k->role, "name", k->name, "assistants", k->assistants,
                       "created_at", (json_int_t)k->created_at, "expires_at",
                       (json_int_t)k->expires_at, "revoked_at", (json_int_t)k->revoked_at,
                       "last_used_at", (json_int_t)k->last_used_at, "rpm_limit",
                       (json_int_t)k->rpm_limit, "tokens_per_day", (json_int_t)k->tokens_per_day));
    if (k->member[0]) /* a personal key: its member travels in people.json */
        json_object_set_new(json_array_get(ctx, json_array_size(ctx) - 1), "member",
                            json_string(k->member));
    return true;
}

/* Verifies the audit chain of the copy at path with the source's key.
 * OUT: the verified head in out. */
static enum lair_err verify_copy(const char *path, const char *scope,
                                 const unsigned char key[AUDIT_KEY_LEN], struct audit_report *rep,
                                 struct ops_error *err)
{
    sqlite3 *c;
    enum lair_err e = snapshot_open(path, false, &c);
    if (e)
        return ops_fail(err, e, "cannot open %s", path);
    struct audit_log l;
    audit_log_conn(&l, c, scope, key);
    e = audit_verify(&l, rep);
    audit_log_release(&l);
    snapshot_close(c);
    if (e)
        return ops_fail(err, e, "cannot read the audit log of %s", path);
    return LAIR_OK;
}

static json_t *export_manifest(const struct tenant_row *t, const char *pid, int schema,
                               const struct audit_report *rep, size_t keys,
                               const struct ops_files *files)
{
    char now[32], hh[OPS_SHA256_HEX] = "";
    ops_format_ms(ops_now_ms(), now);
    if (rep->events)
        sodium_bin2hex(hh, sizeof(hh), rep->head_hash, AUDIT_HASH_LEN);
    json_t *fl = json_array();
    for (size_t i = 0; fl && i < files->n; i++)
        json_array_append_new(fl, json_pack("{s:s, s:I, s:s}", "path", files->v[i].path, "size",
                                            (json_int_t)files->v[i].size, "sha256",
                                            files->v[i].sha256));
    return json_pack("{s:s, s:i, s:s, s:s, s:{s:s, s:s, s:I, s:I, s:I, s:I, s:s}, s:s, s:i, "
                     "s:{s:I, s:I, s:s}, s:I, s:o}",
                     "format", MOVE_FORMAT, "format_version", MOVE_FORMAT_VERSION,
                     "libreair_version", LAIR_VERSION, "created_at", now, "tenant", "slug", t->slug,
                     "name", t->name, "created_at", (json_int_t)t->created_at, "rpm_limit",
                     (json_int_t)t->rpm_limit, "tokens_per_day", (json_int_t)t->tokens_per_day,
                     "retention_days", (json_int_t)t->retention_days, "allowed_models",
                     t->allowed_models, "pepper_id", pid, "schema_version", schema, "audit",
                     "events", (json_int_t)rep->events, "head_seq",
                     (json_int_t)(rep->events ? rep->head_seq : 0), "head_hash", hh, "keys",
                     (json_int_t)keys, "files", fl);
}

/* The archive: manifest.json, keys.json, people.json, then the files of
 * stage. */
static enum lair_err write_archive(const char *file, const char *stage, const char *manifest,
                                   const char *keys, const char *people,
                                   const struct ops_files *files, char hex[OPS_SHA256_HEX],
                                   struct ops_error *err)
{
    char part[PATH_N];
    ops_pathf(part, sizeof(part), "%s.partial-%ld", file, (long)getpid());
    unlink(part);
    struct tar_writer w;
    enum lair_err e = tar_write_open(&w, part);
    if (e)
        return ops_fail(err, e, "cannot create %s: %s", part, lair_err_msg(e));
    e = tar_write_bytes(&w, "manifest.json", manifest, strlen(manifest));
    if (!e)
        e = tar_write_bytes(&w, "keys.json", keys, strlen(keys));
    if (!e)
        e = tar_write_bytes(&w, "people.json", people, strlen(people));
    for (size_t i = 0; i < files->n && !e; i++) {
        if (!strcmp(files->v[i].path, "keys.json") || !strcmp(files->v[i].path, "people.json"))
            continue;
        char src[PATH_N];
        ops_pathf(src, sizeof(src), "%s/%s", stage, files->v[i].path);
        e = tar_write_file(&w, files->v[i].path, src);
    }
    if (e)
        tar_write_abort(&w);
    else
        e = tar_write_finish(&w, hex);
    if (!e && rename(part, file) != 0)
        e = LAIR_EIO;
    if (e) {
        unlink(part);
        return ops_fail(err, e, "cannot write %s: %s", file, lair_err_msg(e));
    }
    char sums[PATH_N], line[PATH_N + 80], parent[PATH_N];
    const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
    ops_pathf(sums, sizeof(sums), "%s.sha256", file);
    ops_textf(line, sizeof(line), "%s  %s\n", hex, base);
    unlink(sums);
    if ((e = ops_write_file(sums, line, strlen(line))))
        return ops_fail(err, e, "cannot write %s", sums);
    ops_parent(file, parent, sizeof(parent));
    return ops_sync_dir(parent);
}

/* Records the move in the tenant's log (tdb) and the operator's. */
static void audit_move(const char *data, struct sysdb *sys, struct tenant_db *tdb,
                       const char *action, const char *detail)
{
    char target[100];
    ops_textf(target, sizeof(target), "tenant:%s", tenant_db_slug(tdb));
    struct audit_event ev = {
        .actor = "cli", .action = action, .target = target, .outcome = "ok", .detail = detail};
    audit_record(data, sys, tdb, &ev);
    audit_record(data, sys, NULL, &ev);
}

/* Lists a member of the archive written from text (its size and SHA-256). */
static enum lair_err text_listed(struct ops_files *files, const char *name, const char *text)
{
    char hex[OPS_SHA256_HEX];
    struct ops_sha256 h;
    ops_sha256_init(&h);
    ops_sha256_update(&h, text, strlen(text));
    ops_sha256_final(&h, hex);
    return ops_files_add(files, name, strlen(text), hex);
}

/* The members and rules a people.json holds, into the report; its form
 * only (people_import checks every field). LAIR_ECHECKSUM when it is not
 * {"members": [...], "rules": [...]}. */
static enum lair_err people_count(const char *text, struct move_report *out)
{
    json_t *p = json_loads(text, 0, NULL);
    const json_t *m = json_object_get(p, "members"), *r = json_object_get(p, "rules");
    enum lair_err e = json_is_array(m) && json_is_array(r) ? LAIR_OK : LAIR_ECHECKSUM;
    out->people = !e;
    out->members = e ? 0 : (int)json_array_size(m);
    out->rules = e ? 0 : (int)json_array_size(r);
    json_decref(p);
    return e;
}

struct export_ctx {
    const char *data, *slug, *file;
    struct sysdb *sys;
    unsigned char key[AUDIT_KEY_LEN];
    char pid[OPS_PEPPER_ID_HEX];
    struct tenant_row row;
    char stage[PATH_N];
};

static enum lair_err export_staged(struct export_ctx *x, struct move_report *out,
                                   struct ops_error *err)
{
    char src[PATH_N], path[PATH_N], scope[96];
    struct ops_files files = {0};
    int schema;
    uint64_t jlen;
    ops_pathf(src, sizeof(src), "%s/tenants/%s", x->data, x->slug);
    enum lair_err e = ops_tenant_copy(src, x->stage, "", false, &files, &schema, &jlen, err);
    struct audit_report rep;
    ops_pathf(path, sizeof(path), "%s/tenant.db", x->stage);
    ops_textf(scope, sizeof(scope), "tenant:%s", x->slug);
    if (!e)
        e = verify_copy(path, scope, x->key, &rep, err);
    if (!e && !rep.ok)
        e = ops_fail(err, LAIR_ECHECKSUM,
                     "the audit log of tenant %s does not verify (%s at event %lld: %s); "
                     "'libreair audit verify --tenant %s' tells more: a move would hide it",
                     x->slug, audit_reason_name(rep.reason), (long long)rep.broken_at, rep.message,
                     x->slug);
    json_t *keys = json_array();
    if (!e && (!keys || snapshot_keys_read(x->sys, x->slug, key_json, keys)))
        e = ops_fail(err, LAIR_EDB, "cannot read the keys of tenant %s", x->slug);
    char *keys_text = e ? NULL : json_dumps(keys, JSON_INDENT(1));
    if (!e && !keys_text)
        e = ops_fail(err, LAIR_ENOMEM, "out of memory");
    if (!e && (e = text_listed(&files, "keys.json", keys_text)))
        ops_fail(err, e, "out of memory");
    char *people_text = NULL;
    if (!e && (e = people_export(x->sys, x->slug, &people_text)))
        ops_fail(err, e, "cannot read the members and access rules of tenant %s: %s", x->slug,
                 lair_err_msg(e));
    if (!e && (e = people_count(people_text, out)))
        ops_fail(err, e, "cannot count the members of tenant %s", x->slug);
    if (!e && (e = text_listed(&files, "people.json", people_text)))
        ops_fail(err, e, "out of memory");
    json_t *m =
        e ? NULL : export_manifest(&x->row, x->pid, schema, &rep, json_array_size(keys), &files);
    char *mtext = m ? json_dumps(m, JSON_INDENT(1) | JSON_SORT_KEYS) : NULL;
    if (!e && !mtext)
        e = ops_fail(err, LAIR_ENOMEM, "out of memory");
    if (!e)
        e = write_archive(x->file, x->stage, mtext, keys_text, people_text, &files, out->sha256,
                          err);
    if (!e) {
        out->events = rep.events;
        out->head_seq = rep.events ? rep.head_seq : 0;
        if (rep.events)
            sodium_bin2hex(out->head_hash, sizeof(out->head_hash), rep.head_hash, AUDIT_HASH_LEN);
        out->keys = (int)json_array_size(keys);
    }
    free(mtext);
    json_decref(m);
    free(keys_text);
    if (people_text) {
        sodium_memzero(people_text, strlen(people_text));
        free(people_text);
    }
    json_decref(keys);
    ops_files_release(&files);
    return e;
}

enum lair_err move_export(const char *data_dir, const char *slug, const char *file,
                          struct move_report *out, struct ops_error *err)
{
    memset(out, 0, sizeof(*out));
    struct export_ctx x = {.data = data_dir, .slug = slug, .file = file};
    snprintf(out->slug, sizeof(out->slug), "%s", slug);
    enum lair_err e = sysdb_open(data_dir, &x.sys);
    if (e)
        return ops_fail(err, e, "%s is not a data directory", data_dir);
    if ((e = sysdb_tenant_get(x.sys, slug, &x.row)))
        ops_fail(err, e, "no tenant '%s' in %s", slug, data_dir);
    else if ((e = audit_key_load(data_dir, x.key)) || (e = ops_pepper_id(data_dir, x.pid)))
        ops_fail(err, e, "cannot read %s/pepper", data_dir);
    else if (access(file, F_OK) == 0)
        e = ops_fail(err, LAIR_ECONFLICT, "%s exists already", file);
    else if ((e = ops_stage_beside(file, "export", x.stage, sizeof(x.stage))))
        ops_fail(err, e, "cannot create a folder beside %s", file);
    if (!e) {
        e = export_staged(&x, out, err);
        ops_remove_tree(x.stage);
    }
    if (!e) {
        struct tenants *ts;
        struct tenant_db *tdb;
        if (!tenants_new(data_dir, x.sys, &ts)) {
            if (!tenants_get(ts, slug, &tdb)) {
                char detail[200];
                ops_textf(detail, sizeof(detail), "head:%lld sha256:%s keys:%d members:%d rules:%d",
                          (long long)out->head_seq, out->sha256, out->keys, out->members,
                          out->rules);
                audit_move(data_dir, x.sys, tdb, "tenant.export", detail);
                tenant_db_put(tdb);
            }
            tenants_free(ts);
        }
    }
    sodium_memzero(x.key, sizeof(x.key));
    sysdb_free(x.sys);
    return e;
}

/* ---- import ---- */

struct import_ctx {
    const char *data, *file;
    char slug[SLUG_MAX + 1];
    struct sysdb *sys;
    struct tenants *tenants;
    unsigned char key[AUDIT_KEY_LEN];
    char pid[OPS_PEPPER_ID_HEX];
    json_t *manifest;
    char *keys_text;
    char *people_text; /* NULL: an archive written before people.json */
    char stage[PATH_N];
    bool created; /* the tenant's row exists: a failure deletes the tenant */
};

/* The archive's SHA-256 against what the operator gave and FILE.sha256. */
static enum lair_err check_archive(const char *file, const char *want, struct move_report *out,
                                   struct ops_error *err)
{
    enum lair_err e = ops_file_sha256(file, out->sha256, NULL);
    if (e)
        return ops_fail(err, e, "cannot read %s", file);
    if (want && strcasecmp(want, out->sha256))
        return ops_fail(err, LAIR_ECHECKSUM, "%s: SHA-256 %s, not the %s expected", file,
                        out->sha256, want);
    char sums[PATH_N], *text;
    size_t n;
    ops_pathf(sums, sizeof(sums), "%s.sha256", file);
    e = ops_read_file(sums, 4096, &text, &n);
    if (e == LAIR_ENOTFOUND)
        return LAIR_OK;
    if (e)
        return ops_fail(err, e, "cannot read %s", sums);
    bool ok = n >= 64 && !strncasecmp(text, out->sha256, 64);
    free(text);
    return ok ? LAIR_OK
              : ops_fail(err, LAIR_ECHECKSUM, "%s: its SHA-256 is not the one %s records", file,
                         sums);
}

static const json_t *listed(const json_t *m, const char *name)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        if (!strcmp(jstr(f, "path"), name))
            return f;
    }
    return NULL;
}

/* The members an export writes: keys.json, people.json, tenant.db and uploads
 * (kb/<kb>/uploads/<file>). Anything else (a -wal beside the database, a
 * journal, a path that climbs out) is refused, even when the manifest
 * lists it. */
static bool member_allowed(const char *name)
{
    if (!ops_relpath_safe(name))
        return false;
    if (!strcmp(name, "keys.json") || !strcmp(name, "people.json") || !strcmp(name, "tenant.db"))
        return true;
    if (strncmp(name, "kb/", 3))
        return false;
    const char *kb = name + 3, *up = strchr(kb, '/');
    if (!up || up == kb || strncmp(up, "/uploads/", 9))
        return false;
    const char *file = up + 9;
    return *file && !strchr(file, '/') && slug_valid((struct str){kb, (size_t)(up - kb)});
}

/* Every member but the manifest, into stage, checked against the manifest. */
static enum lair_err extract_members(struct import_ctx *x, struct tar_reader *r,
                                     struct ops_error *err)
{
    char name[TAR_NAME_MAX];
    uint64_t size;
    size_t seen = 0;
    enum lair_err e;
    while (!(e = tar_read_next(r, name, &size))) {
        if (!member_allowed(name))
            return ops_fail(err, LAIR_ECHECKSUM,
                            "%s: member '%s' is not one a tenant export writes (refused)", x->file,
                            name);
        const json_t *f = listed(x->manifest, name);
        if (!f)
            return ops_fail(err, LAIR_ECHECKSUM, "%s: member %s is not in its manifest", x->file,
                            name);
        if (size != (uint64_t)jint(f, "size"))
            return ops_fail(err, LAIR_ECHECKSUM, "%s: member %s has the wrong size", x->file, name);
        char path[PATH_N], parent[PATH_N], hex[OPS_SHA256_HEX];
        ops_pathf(path, sizeof(path), "%s/%s", x->stage, name);
        ops_parent(path, parent, sizeof(parent));
        if ((e = ops_mkdirs(parent)) || (e = tar_read_extract(r, path, hex)))
            return ops_fail(err, e, "%s: cannot extract %s (listed twice?): %s", x->file, name,
                            lair_err_msg(e));
        if (strcmp(hex, jstr(f, "sha256")))
            return ops_fail(err, LAIR_ECHECKSUM, "%s: member %s is damaged (SHA-256 mismatch)",
                            x->file, name);
        seen++;
    }
    if (e != LAIR_ENOTFOUND)
        return ops_fail(err, e, "%s: damaged archive: %s", x->file, lair_err_msg(e));
    if (seen != json_array_size(json_object_get(x->manifest, "files")))
        return ops_fail(err, LAIR_ECHECKSUM, "%s: members are missing", x->file);
    char path[PATH_N];
    size_t n;
    ops_pathf(path, sizeof(path), "%s/keys.json", x->stage);
    if ((e = ops_read_file(path, JSON_MAX, &x->keys_text, &n)))
        return ops_fail(err, e, "%s: no keys.json", x->file);
    unlink(path); /* not part of the tenant's directory */
    ops_pathf(path, sizeof(path), "%s/people.json", x->stage);
    if (listed(x->manifest, "people.json")) {
        if ((e = ops_read_file(path, JSON_MAX, &x->people_text, &n)))
            return ops_fail(err, e, "%s: cannot read people.json", x->file);
        unlink(path); /* in system.db, not in the tenant's directory */
        if (strlen(x->people_text) != n)
            return ops_fail(err, LAIR_ECHECKSUM, "%s: people.json is malformed", x->file);
    }
    ops_pathf(path, sizeof(path), "%s/tenant.db", x->stage);
    if (access(path, F_OK) != 0)
        return ops_fail(err, LAIR_ECHECKSUM, "%s: no tenant.db", x->file);
    return LAIR_OK;
}

static bool int_in(const json_t *o, const char *k, json_int_t max)
{
    const json_t *v = json_object_get(o, k);
    return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
}

/* The tenant's settings in the manifest, checked before anything is
 * written, so that a bad archive changes nothing. An archive without
 * allowed_models (written before it existed) keeps this server's default. */
static enum lair_err check_settings(struct import_ctx *x, struct ops_error *err)
{
    const json_t *t = json_object_get(x->manifest, "tenant");
    const json_t *models = json_object_get(t, "allowed_models");
    size_t nl = strlen(jstr(t, "name"));
    if (!json_is_object(t) || nl > 200 || !int_in(t, "rpm_limit", LIMIT_MAX) ||
        !int_in(t, "tokens_per_day", LIMIT_MAX) ||
        !int_in(t, "retention_days", RETENTION_DAYS_MAX) ||
        (models && (!json_is_string(models) || !tenant_models_valid(json_string_value(models)))))
        return ops_fail(err, LAIR_ECHECKSUM,
                        "%s: the tenant's settings in its manifest are malformed (name, limits, "
                        "retention or allowed models)",
                        x->file);
    return LAIR_OK;
}

static enum lair_err read_manifest(struct import_ctx *x, struct tar_reader *r,
                                   struct ops_error *err)
{
    char name[TAR_NAME_MAX], *text;
    uint64_t size;
    size_t n;
    enum lair_err e = tar_read_next(r, name, &size);
    if (e || strcmp(name, "manifest.json"))
        return ops_fail(err, LAIR_ECHECKSUM, "%s: not a LibreAIr tenant archive", x->file);
    if ((e = tar_read_bytes(r, JSON_MAX, &text, &n)))
        return ops_fail(err, e, "%s: cannot read its manifest", x->file);
    x->manifest = json_loadb(text, n, 0, NULL);
    free(text);
    if (!x->manifest || strcmp(jstr(x->manifest, "format"), MOVE_FORMAT))
        return ops_fail(err, LAIR_ECHECKSUM, "%s: not a LibreAIr tenant archive", x->file);
    json_int_t v = jint(x->manifest, "format_version");
    if (v < 1 || v > MOVE_FORMAT_VERSION)
        return ops_fail(err, LAIR_EUNSUPPORTED,
                        "%s: archive format %lld; this program reads version %d", x->file,
                        (long long)v, MOVE_FORMAT_VERSION);
    return check_settings(x, err);
}

/* The copy's integrity, schema version, and its audit chain against the
 * exported head, which is then sealed under this directory's key and the
 * tenant's slug here. */
static enum lair_err check_copy(struct import_ctx *x, struct move_report *out,
                                struct ops_error *err)
{
    char path[PATH_N], msg[512], scope[96];
    ops_pathf(path, sizeof(path), "%s/tenant.db", x->stage);
    bool ok;
    int schema;
    if (snapshot_check(path, &ok, msg, sizeof(msg), &schema) || !ok)
        return ops_fail(err, LAIR_ECHECKSUM, "%s: its database fails the integrity check: %s",
                        x->file, msg);
    if (schema > tenant_schema_version())
        return ops_fail(err, LAIR_EUNSUPPORTED,
                        "%s: schema version %d; this program knows up to %d: import it with a "
                        "newer LibreAIr (%s)",
                        x->file, schema, tenant_schema_version(),
                        jstr(x->manifest, "libreair_version"));
    const json_t *a = json_object_get(x->manifest, "audit");
    out->events = jint(a, "events");
    out->head_seq = jint(a, "head_seq");
    snprintf(out->head_hash, sizeof(out->head_hash), "%s", jstr(a, "head_hash"));
    ops_textf(scope, sizeof(scope), "tenant:%s", x->slug);
    struct audit_log l;
    audit_log_conn(&l, NULL, scope, x->key);
    enum lair_err e = LAIR_OK;
    if (out->events > 0) {
        unsigned char hash[AUDIT_HASH_LEN];
        char head[AUDIT_HEAD_MAX];
        size_t bl = 0;
        if (sodium_hex2bin(hash, sizeof(hash), out->head_hash, strlen(out->head_hash), NULL, &bl,
                           NULL) != 0 ||
            bl != sizeof(hash) || out->head_seq < 1)
            e = ops_fail(err, LAIR_ECHECKSUM, "%s: its audit head is malformed", x->file);
        if (!e) {
            audit_head_text(&l, out->head_seq, hash, head);
            if ((e = snapshot_audit_head_set(path, head)))
                ops_fail(err, e, "cannot seal the audit head of %s", path);
        }
    }
    audit_log_release(&l);
    struct audit_report rep;
    if (!e)
        e = verify_copy(path, scope, x->key, &rep, err);
    if (!e &&
        (!rep.ok || rep.events != out->events || (rep.events && rep.head_seq != out->head_seq)))
        e = ops_fail(err, LAIR_ECHECKSUM,
                     "%s: the audit log in the archive does not end at the head its export "
                     "verified (%s: %s)",
                     x->file, audit_reason_name(rep.reason), rep.message);
    return e;
}

static bool hex_ok(const char *s, size_t n)
{
    if (strlen(s) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* keys.json into rows; LAIR_ECHECKSUM for a malformed one. */
static enum lair_err parse_keys(const char *text, struct snapshot_key **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    json_t *a = json_loads(text, 0, NULL);
    if (!json_is_array(a) || json_array_size(a) > KEYS_MAX) {
        json_decref(a);
        return LAIR_ECHECKSUM;
    }
    struct snapshot_key *v = calloc(json_array_size(a) + 1, sizeof(*v));
    if (!v) {
        json_decref(a);
        return LAIR_ENOMEM;
    }
    size_t i;
    json_t *k;
    enum lair_err e = LAIR_OK;
    json_array_foreach(a, i, k)
    {
        struct snapshot_key *r = &v[i];
        const char *role = jstr(k, "role");
        if (!hex_ok(jstr(k, "id"), KEY_ID_LEN) || !hex_ok(jstr(k, "hash"), 64) ||
            (strcmp(role, "admin") && strcmp(role, "editor") && strcmp(role, "user"))) {
            e = LAIR_ECHECKSUM;
            break;
        }
        snprintf(r->id, sizeof(r->id), "%s", jstr(k, "id"));
        sodium_hex2bin(r->hash, sizeof(r->hash), jstr(k, "hash"), 64, NULL, NULL, NULL);
        snprintf(r->role, sizeof(r->role), "%s", role);
        snprintf(r->name, sizeof(r->name), "%s", jstr(k, "name"));
        snprintf(r->assistants, sizeof(r->assistants), "%s", jstr(k, "assistants"));
        r->created_at = jint(k, "created_at");
        r->expires_at = jint(k, "expires_at");
        r->revoked_at = jint(k, "revoked_at");
        r->last_used_at = jint(k, "last_used_at");
        r->rpm_limit = jint(k, "rpm_limit");
        r->tokens_per_day = jint(k, "tokens_per_day");
        const json_t *mem = json_object_get(k, "member"); /* archives before v6: none */
        if (mem && (!json_is_string(mem) || !hex_ok(json_string_value(mem), KEY_ID_LEN))) {
            e = LAIR_ECHECKSUM;
            break;
        }
        if (mem)
            snprintf(r->member, sizeof(r->member), "%s", json_string_value(mem));
    }
    if (!e) {
        *out = v;
        *n = json_array_size(a);
    } else {
        free(v);
    }
    json_decref(a);
    return e;
}

/* Carries the keys when this directory shares the source's pepper and
 * none of their ids is taken; else makes one new admin key. */
static enum lair_err import_keys(struct import_ctx *x, struct move_report *out,
                                 struct ops_error *err)
{
    struct snapshot_key *keys;
    size_t n;
    enum lair_err e = parse_keys(x->keys_text, &keys, &n);
    if (e)
        return ops_fail(err, e, "%s: keys.json is malformed", x->file);
    out->keys = (int)n;
    bool carry = n > 0 && !strcmp(x->pid, jstr(x->manifest, "pepper_id"));
    for (size_t i = 0; i < n && carry && !e; i++) {
        bool taken;
        e = snapshot_key_exists(x->sys, keys[i].id, &taken);
        carry = !taken;
    }
    if (!e && carry && !(e = snapshot_keys_insert(x->sys, x->slug, keys, n)))
        out->keys_carried = true;
    sodium_memzero(keys, (n + 1) * sizeof(*keys));
    free(keys);
    if (e)
        return ops_fail(err, e, "cannot store the tenant's keys: %s", lair_err_msg(e));
    if (out->keys_carried)
        return LAIR_OK;
    char id[KEY_ID_LEN + 1];
    struct key_spec spec = {.role = ROLE_ADMIN, .tenant = x->slug, .name = "import admin key"};
    if ((e = sysdb_key_create_spec(x->sys, &spec, out->new_key, id)))
        return ops_fail(err, e, "cannot create the tenant's admin key: %s", lair_err_msg(e));
    out->keys_reissued = true;
    return LAIR_OK;
}

/* The members and access rules of people.json, when the archive has one,
 * all or none: a malformed one fails the import (the tenant is deleted
 * again). Members whose ids are taken here are not carried; the rules are. */
static enum lair_err import_people(struct import_ctx *x, struct move_report *out,
                                   struct ops_error *err)
{
    if (!x->people_text)
        return LAIR_OK;
    int members, rules;
    bool taken;
    enum lair_err e = people_count(x->people_text, out);
    if (!e)
        e = people_import(x->sys, x->slug, x->people_text, &members, &rules, &taken);
    if (e == LAIR_EINVAL || e == LAIR_ECHECKSUM)
        return ops_fail(err, LAIR_ECHECKSUM,
                        "%s: people.json is malformed (a field of a member or an access rule is "
                        "invalid, or two collide)",
                        x->file);
    if (e)
        return ops_fail(err, e, "cannot store the tenant's members and access rules: %s",
                        lair_err_msg(e));
    out->members_taken = taken;
    int revoked = 0;
    if (taken && (e = people_personal_keys_revoke(x->sys, x->slug, &revoked)))
        return ops_fail(err, e, "cannot revoke the personal keys of members not carried");
    return LAIR_OK;
}

/* The tenant's row and limits, its directory moved into place, its keys,
 * members and access rules, then its pending erasures completed and the
 * move recorded. */
static enum lair_err import_tenant(struct import_ctx *x, struct move_report *out,
                                   struct ops_error *err)
{
    const json_t *t = json_object_get(x->manifest, "tenant");
    enum lair_err e = sysdb_tenant_insert(x->sys, x->slug, jstr(t, "name"));
    if (e)
        return ops_fail(err, e, "cannot create tenant '%s': %s", x->slug,
                        e == LAIR_ECONFLICT ? "it exists already" : lair_err_msg(e));
    x->created = true;
    struct tenant_update u = {.rpm = jint(t, "rpm_limit"),
                              .tokens_per_day = jint(t, "tokens_per_day"),
                              .retention_days = jint(t, "retention_days"),
                              .allowed_models =
                                  json_string_value(json_object_get(t, "allowed_models"))};
    if ((e = sysdb_tenant_update(x->sys, x->slug, &u, NULL)))
        return ops_fail(err, e, "cannot set the limits and allowed models of tenant '%s': %s",
                        x->slug, lair_err_msg(e));
    char dir[PATH_N], tenants[PATH_N];
    ops_pathf(tenants, sizeof(tenants), "%s/tenants", x->data);
    ops_pathf(dir, sizeof(dir), "%s/%s", tenants, x->slug);
    if (rename(x->stage, dir) != 0)
        return ops_fail(err, LAIR_EIO, "cannot move %s to %s: %s", x->stage, dir, strerror(errno));
    x->stage[0] = 0;
    if ((e = ops_sync_dir(tenants)) || (e = import_keys(x, out, err)) ||
        (e = import_people(x, out, err)))
        return ops_fail(err, e, "cannot finish the import of %s", x->slug);
    struct tenant_db *tdb;
    if ((e = tenants_get(x->tenants, x->slug, &tdb)))
        return ops_fail(err, e, "cannot open the imported tenant: %s", lair_err_msg(e));
    e = gdpr_recover(tdb, x->key, &out->erasures_completed, NULL);
    if (e)
        ops_fail(err, e, "cannot complete the erasures pending in the archive");
    if (!e) {
        char detail[400];
        ops_textf(detail, sizeof(detail),
                  "from:%s source:%.12s moved_head:%lld%s%s keys:%s members:%d%s rules:%d",
                  jstr(t, "slug"), jstr(x->manifest, "pepper_id"), (long long)out->head_seq,
                  out->head_seq ? ":" : "", out->head_hash,
                  out->keys_carried ? "carried" : "reissued", out->members_taken ? 0 : out->members,
                  out->members_taken ? ":ids-taken" : "", out->rules);
        audit_move(x->data, x->sys, tdb, "tenant.import", detail);
    }
    tenant_db_put(tdb);
    return e;
}

static enum lair_err import_open(struct import_ctx *x, const char *as, struct ops_error *err)
{
    enum lair_err e = sysdb_open(x->data, &x->sys);
    if (e)
        return ops_fail(err, e, "%s is not a data directory", x->data);
    if ((e = tenants_new(x->data, x->sys, &x->tenants)))
        return ops_fail(err, e, "cannot open %s", x->data);
    if ((e = audit_key_load(x->data, x->key)) || (e = ops_pepper_id(x->data, x->pid)))
        return ops_fail(err, e, "cannot read %s/pepper", x->data);
    const char *slug = as ? as : jstr(json_object_get(x->manifest, "tenant"), "slug");
    if (!slug_valid(str_c(slug)))
        return ops_fail(err, LAIR_EINVAL, "invalid slug '%s' (a-z, 0-9, '-', at most 63)", slug);
    snprintf(x->slug, sizeof(x->slug), "%s", slug);
    struct tenant_row row;
    char dir[PATH_N];
    ops_pathf(dir, sizeof(dir), "%s/tenants/%s", x->data, slug);
    if (sysdb_tenant_get(x->sys, slug, &row) == LAIR_OK || access(dir, F_OK) == 0)
        return ops_fail(err, LAIR_ECONFLICT,
                        "tenant '%s' exists already in %s (import it under another slug with "
                        "--as)",
                        slug, x->data);
    ops_pathf(x->stage, sizeof(x->stage), "%s/tenants/.import-XXXXXX", x->data);
    if (!mkdtemp(x->stage)) {
        x->stage[0] = 0;
        return ops_fail(err, LAIR_EIO, "cannot create a folder in %s/tenants", x->data);
    }
    return LAIR_OK;
}

enum lair_err move_import(const char *data_dir, const char *file, const char *as_slug,
                          const char *want_sha256, struct move_report *out, struct ops_error *err)
{
    memset(out, 0, sizeof(*out));
    struct import_ctx x = {.data = data_dir, .file = file};
    struct tar_reader r = {.fd = -1};
    enum lair_err e = check_archive(file, want_sha256, out, err);
    if (!e && (e = tar_read_open(&r, file)))
        ops_fail(err, e, "cannot read %s", file);
    if (!e)
        e = read_manifest(&x, &r, err);
    if (!e)
        e = import_open(&x, as_slug, err);
    if (!e)
        e = extract_members(&x, &r, err);
    tar_read_close(&r);
    if (!e)
        e = check_copy(&x, out, err);
    if (!e)
        e = import_tenant(&x, out, err);
    snprintf(out->slug, sizeof(out->slug), "%s", x.slug);
    if (e && x.created)
        tenants_delete(x.tenants, x.slug);
    if (x.stage[0])
        ops_remove_tree(x.stage);
    if (e)
        sodium_memzero(out->new_key, sizeof(out->new_key));
    if (x.keys_text) {
        sodium_memzero(x.keys_text, strlen(x.keys_text));
        free(x.keys_text);
    }
    if (x.people_text) {
        sodium_memzero(x.people_text, strlen(x.people_text));
        free(x.people_text);
    }
    json_decref(x.manifest);
    sodium_memzero(x.key, sizeof(x.key));
    tenants_free(x.tenants);
    sysdb_free(x.sys);
    return e;
}
