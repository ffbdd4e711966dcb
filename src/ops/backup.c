/* Backups, their verification and restores (ops/backup.h). */
#include "ops/backup.h"

#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "gdpr/erase.h"
#include "gdpr/journal.h"
#include "gdpr/subject.h"
#include "store/snapshot.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

#define COPY_TRIES 5
#define MANIFEST_MAX (64u << 20)
#define PATH_N (OPS_PATH_MAX + 512)

enum lair_err ops_pepper_id(const char *data_dir, char out[OPS_PEPPER_ID_HEX])
{
    static const unsigned char label[] = "LibreAIr data directory id v1";
    unsigned char key[AUDIT_KEY_LEN], id[16];
    enum lair_err e = audit_key_load(data_dir, key);
    if (e)
        return e;
    crypto_generichash(id, sizeof(id), label, sizeof(label), key, sizeof(key));
    sodium_memzero(key, sizeof(key));
    sodium_bin2hex(out, OPS_PEPPER_ID_HEX, id, sizeof(id));
    return LAIR_OK;
}

/* ---- copying one tenant ---- */

struct uploads {
    char (*rel)[256];
    size_t n, cap;
    bool bad;
};

static void collect_upload(void *ctx, const char *rel)
{
    struct uploads *u = ctx;
    if (!ops_relpath_safe(rel)) {
        u->bad = true;
        return;
    }
    if (u->n == u->cap) {
        size_t cap = u->cap ? 2 * u->cap : 16;
        char(*v)[256] = realloc(u->rel, cap * sizeof(*v));
        if (!v) {
            u->bad = true;
            return;
        }
        u->rel = v;
        u->cap = cap;
    }
    snprintf(u->rel[u->n++], 256, "%s", rel);
}

/* Copies src_dir/rel to dst_dir/rel (its folders created) and lists it. */
static enum lair_err copy_rel(const char *src_dir, const char *dst_dir, const char *rel,
                              uint64_t limit, const char *prefix, struct ops_files *files)
{
    char src[PATH_N], dst[PATH_N], parent[PATH_N], name[PATH_N], hex[OPS_SHA256_HEX];
    uint64_t size;
    ops_pathf(src, sizeof(src), "%s/%s", src_dir, rel);
    ops_pathf(dst, sizeof(dst), "%s/%s", dst_dir, rel);
    ops_parent(dst, parent, sizeof(parent));
    enum lair_err e = ops_mkdirs(parent);
    if (!e)
        e = ops_copy_file(src, dst, limit, hex, &size);
    if (!e) {
        ops_pathf(name, sizeof(name), "%s%s", prefix, rel);
        e = ops_files_add(files, name, size, hex);
    }
    return e;
}

/* One attempt; *retry when an upload went missing. */
static enum lair_err tenant_copy_once(const char *src_dir, const char *dst_dir, const char *prefix,
                                      bool journal, struct ops_files *files, int *schema,
                                      uint64_t *journal_len, bool *retry, struct ops_error *err)
{
    char src[PATH_N], dst[PATH_N];
    *retry = false;
    enum lair_err e = ops_mkdirs(dst_dir);
    if (e)
        return ops_fail(err, e, "cannot create %s", dst_dir);
    if (journal) {
        ops_pathf(src, sizeof(src), "%s/" GDPR_JOURNAL_NAME, src_dir);
        if ((e = gdpr_journal_length(src, journal_len)))
            return ops_fail(err, e, "cannot read %s", src);
        if (*journal_len &&
            (e = copy_rel(src_dir, dst_dir, GDPR_JOURNAL_NAME, *journal_len, prefix, files)))
            return ops_fail(err, e, "cannot copy %s: %s", src, lair_err_msg(e));
    }
    ops_pathf(src, sizeof(src), "%s/tenant.db", src_dir);
    ops_pathf(dst, sizeof(dst), "%s/tenant.db", dst_dir);
    if ((e = snapshot_db(src, dst, schema)))
        return ops_fail(err, e, "cannot copy %s: %s", src,
                        e == LAIR_ENOTFOUND ? "it is gone (the tenant was deleted meanwhile?)"
                                            : lair_err_msg(e));
    char name[PATH_N], hex[OPS_SHA256_HEX];
    uint64_t size;
    ops_pathf(name, sizeof(name), "%stenant.db", prefix);
    if ((e = ops_file_sha256(dst, hex, &size)) || (e = ops_files_add(files, name, size, hex)))
        return ops_fail(err, e, "cannot read %s", dst);
    struct uploads u = {0};
    if ((e = snapshot_pending_uploads(dst, collect_upload, &u)) || u.bad) {
        free(u.rel);
        return ops_fail(err, e ? e : LAIR_EINVAL, "cannot list the pending uploads of %s", src);
    }
    for (size_t i = 0; i < u.n && !e; i++) {
        e = copy_rel(src_dir, dst_dir, u.rel[i], UINT64_MAX, prefix, files);
        if (e == LAIR_ENOTFOUND) { /* processed since the copy: copy again */
            *retry = true;
            e = LAIR_OK;
            break;
        }
        if (e)
            ops_fail(err, e, "cannot copy %s/%s: %s", src_dir, u.rel[i], lair_err_msg(e));
    }
    free(u.rel);
    return e;
}

enum lair_err ops_tenant_copy(const char *src_dir, const char *dst_dir, const char *prefix,
                              bool journal, struct ops_files *files, int *schema_version,
                              uint64_t *journal_len, struct ops_error *err)
{
    *journal_len = 0;
    for (int attempt = 0; attempt < COPY_TRIES; attempt++) {
        size_t mark = files->n;
        bool retry;
        enum lair_err e = tenant_copy_once(src_dir, dst_dir, prefix, journal, files, schema_version,
                                           journal_len, &retry, err);
        if (e || !retry)
            return e;
        files->n = mark;
        ops_remove_tree(dst_dir);
    }
    return ops_fail(err, LAIR_EBUSY,
                    "the uploads of %s kept changing during %d copies; run the backup again",
                    src_dir, COPY_TRIES);
}

/* ---- writing a backup ---- */

struct slugs {
    char (*v)[SLUG_MAX + 1];
    size_t n, cap;
    bool oom;
};

static void collect_slug(void *ctx, const char *slug)
{
    struct slugs *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 16;
        char(*v)[SLUG_MAX + 1] = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            s->oom = true;
            return;
        }
        s->v = v;
        s->cap = cap;
    }
    snprintf(s->v[s->n++], SLUG_MAX + 1, "%s", slug);
}

static json_t *files_json(const struct ops_files *files)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < files->n; i++)
        json_array_append_new(a, json_pack("{s:s, s:I, s:s}", "path", files->v[i].path, "size",
                                           (json_int_t)files->v[i].size, "sha256",
                                           files->v[i].sha256));
    return a;
}

/* manifest.json, then SHA256SUMS (every file and the manifest). */
static enum lair_err write_manifest(const char *dir, json_t *m, const struct ops_files *files,
                                    struct ops_error *err)
{
    char path[PATH_N], hex[OPS_SHA256_HEX];
    json_object_set_new(m, "files", files_json(files));
    char *text = json_dumps(m, JSON_INDENT(1) | JSON_SORT_KEYS);
    if (!text)
        return ops_fail(err, LAIR_ENOMEM, "out of memory writing the manifest");
    ops_pathf(path, sizeof(path), "%s/manifest.json", dir);
    enum lair_err e = ops_write_file(path, text, strlen(text));
    free(text);
    if (!e)
        e = ops_file_sha256(path, hex, NULL);
    if (e)
        return ops_fail(err, e, "cannot write %s", path);
    struct buf sums;
    buf_init(&sums, 0);
    for (size_t i = 0; i < files->n && !e; i++)
        e = buf_printf(&sums, "%s  %s\n", files->v[i].sha256, files->v[i].path);
    if (!e)
        e = buf_printf(&sums, "%s  manifest.json\n", hex);
    ops_pathf(path, sizeof(path), "%s/SHA256SUMS", dir);
    if (!e)
        e = ops_write_file(path, sums.ptr, sums.len);
    buf_release(&sums);
    return e ? ops_fail(err, e, "cannot write %s", path) : LAIR_OK;
}

static int sync_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    return flag == FTW_D || flag == FTW_DP ? (ops_sync_dir(path) ? 1 : 0) : 0;
}

/* Makes every folder entry under dir durable, renames dir to to (an
 * absent or empty folder) and syncs the folder that holds it. */
static enum lair_err publish(const char *dir, const char *to, struct ops_error *err)
{
    char parent[PATH_N];
    if (nftw(dir, sync_entry, 16, FTW_PHYS) != 0)
        return ops_fail(err, LAIR_EIO, "cannot sync %s", dir);
    if (rename(dir, to) != 0)
        return ops_fail(err, LAIR_EIO, "cannot rename %s to %s: %s", dir, to, strerror(errno));
    ops_parent(to, parent, sizeof(parent));
    return ops_sync_dir(parent);
}

/* Checks that to is absent or an empty folder, and makes the folder
 * beside it (stage) that the work is done in. */
static enum lair_err prepare_target(const char *to, const char *what, char *stage, size_t n,
                                    struct ops_error *err)
{
    bool exists, empty;
    enum lair_err e = ops_dir_state(to, &exists, &empty);
    if (e == LAIR_EINVAL || (exists && !empty))
        return ops_fail(err, LAIR_ECONFLICT, "%s exists and is not an empty folder", to);
    if (e)
        return ops_fail(err, e, "cannot read %s", to);
    if ((e = ops_stage_beside(to, what, stage, n)))
        return ops_fail(err, e, "cannot create a folder beside %s", to);
    return LAIR_OK;
}

static enum lair_err backup_tenants(const char *data, const char *stage, json_t *dbs,
                                    json_t *journals, struct ops_files *files,
                                    struct backup_report *out, struct ops_error *err)
{
    char path[PATH_N];
    ops_pathf(path, sizeof(path), "%s/system.db", stage);
    struct slugs s = {0};
    enum lair_err e = snapshot_tenants(path, collect_slug, &s);
    if (!e && s.oom)
        e = LAIR_ENOMEM;
    if (e)
        ops_fail(err, e, "cannot list the tenants of %s", path);
    for (size_t i = 0; i < s.n && !e; i++) {
        char src[PATH_N], dst[PATH_N], prefix[128];
        ops_pathf(src, sizeof(src), "%s/tenants/%s", data, s.v[i]);
        ops_pathf(dst, sizeof(dst), "%s/tenants/%s", stage, s.v[i]);
        ops_pathf(prefix, sizeof(prefix), "tenants/%s/", s.v[i]);
        int schema;
        uint64_t jlen;
        e = ops_tenant_copy(src, dst, prefix, true, files, &schema, &jlen, err);
        if (e)
            break;
        char rel[128];
        ops_pathf(rel, sizeof(rel), "%stenant.db", prefix);
        json_array_append_new(dbs, json_pack("{s:s, s:s, s:s, s:i}", "path", rel, "kind", "tenant",
                                             "tenant", s.v[i], "schema_version", schema));
        ops_pathf(rel, sizeof(rel), "%s" GDPR_JOURNAL_NAME, prefix);
        json_array_append_new(journals, json_pack("{s:s, s:s, s:I}", "tenant", s.v[i], "path", rel,
                                                  "length", (json_int_t)jlen));
        out->tenants++;
    }
    free(s.v);
    return e;
}

static enum lair_err backup_into(const char *data, const char *stage, json_t *m,
                                 struct ops_files *files, struct backup_report *out,
                                 struct ops_error *err)
{
    char src[PATH_N], dst[PATH_N];
    ops_pathf(src, sizeof(src), "%s/pepper", data);
    ops_pathf(dst, sizeof(dst), "%s/pepper", stage);
    char hex[OPS_SHA256_HEX];
    uint64_t size;
    enum lair_err e = ops_copy_file(src, dst, UINT64_MAX, hex, &size);
    if (!e)
        e = ops_files_add(files, "pepper", size, hex);
    if (e)
        return ops_fail(err, e, "cannot copy %s", src);
    ops_pathf(src, sizeof(src), "%s/system.db", data);
    ops_pathf(dst, sizeof(dst), "%s/system.db", stage);
    int schema;
    if ((e = snapshot_db(src, dst, &schema)) ||
        (e = ops_files_add_hashed(files, stage, "system.db")))
        return ops_fail(err, e, "cannot copy %s: %s", src, lair_err_msg(e));
    json_t *dbs = json_array(), *journals = json_array();
    json_object_set_new(m, "databases", dbs);
    json_object_set_new(m, "journals", journals);
    json_array_append_new(dbs, json_pack("{s:s, s:s, s:i}", "path", "system.db", "kind", "system",
                                         "schema_version", schema));
    return backup_tenants(data, stage, dbs, journals, files, out, err);
}

void ops_audit_operator(const char *data_dir, const char *action, const char *target,
                        const char *detail)
{
    struct sysdb *sys;
    if (sysdb_open(data_dir, &sys))
        return;
    struct audit_event ev = {
        .actor = "cli", .action = action, .target = target, .outcome = "ok", .detail = detail};
    audit_record(data_dir, sys, NULL, &ev);
    sysdb_free(sys);
}

enum lair_err backup_create(const char *data_dir, const char *to_dir, struct backup_report *out,
                            struct ops_error *err)
{
    memset(out, 0, sizeof(*out));
    char path[PATH_N], source[PATH_MAX], stage[PATH_N], pid[OPS_PEPPER_ID_HEX];
    ops_pathf(path, sizeof(path), "%s/system.db", data_dir);
    if (access(path, F_OK) != 0 || !realpath(data_dir, source))
        return ops_fail(err, LAIR_ENOTFOUND, "%s is not a data directory", data_dir);
    if (ops_pepper_id(data_dir, pid))
        return ops_fail(err, LAIR_EIO, "cannot read %s/pepper", data_dir);
    enum lair_err e = prepare_target(to_dir, "partial", stage, sizeof(stage), err);
    if (e)
        return e;
    int64_t started = ops_now_ms();
    ops_format_ms(started, out->started_at);
    json_t *m = json_pack("{s:s, s:i, s:s, s:s, s:I, s:s, s:s}", "format", BACKUP_FORMAT,
                          "format_version", BACKUP_FORMAT_VERSION, "libreair_version", LAIR_VERSION,
                          "started_at", out->started_at, "started_at_ms", (json_int_t)started,
                          "source", source, "pepper_id", pid);
    struct ops_files files = {0};
    e = m ? backup_into(data_dir, stage, m, &files, out, err)
          : ops_fail(err, LAIR_ENOMEM, "out of memory");
    if (!e) {
        char fin[32];
        ops_format_ms(ops_now_ms(), fin);
        json_object_set_new(m, "finished_at", json_string(fin));
        e = write_manifest(stage, m, &files, err);
    }
    if (!e)
        e = publish(stage, to_dir, err);
    if (e) {
        ops_remove_tree(stage);
    } else {
        out->files = files.n + 2;
        for (size_t i = 0; i < files.n; i++)
            out->bytes += files.v[i].size;
        char detail[160];
        ops_textf(detail, sizeof(detail), "tenants:%d files:%zu bytes:%llu", out->tenants,
                  out->files, (unsigned long long)out->bytes);
        ops_audit_operator(data_dir, "backup.create", "backup:*", detail);
    }
    ops_files_release(&files);
    json_decref(m);
    return e;
}

/* ---- verification ---- */

struct verify {
    const char *dir;
    ops_note_fn note;
    void *ctx;
    struct ops_error *err;
    int problems;
    struct ops_files listed; /* from the manifest */
};

static void problem(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct verify *v, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    v->problems++;
    ops_fail(v->err, LAIR_ECHECKSUM, "%s", text);
    if (v->note)
        v->note(v->ctx, text);
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The manifest's file list into v->listed, each path checked. */
static void read_listed(struct verify *v, const json_t *m)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        const char *p = jstr(f, "path"), *h = jstr(f, "sha256");
        json_t *size = json_object_get(f, "size");
        if (!ops_relpath_safe(p) || !json_is_integer(size) || json_integer_value(size) < 0 ||
            strlen(h) != 64 || !strcmp(p, "manifest.json") || !strcmp(p, "SHA256SUMS")) {
            problem(v, "manifest.json: file entry %zu is malformed", i);
            continue;
        }
        if (ops_files_find(&v->listed, p)) {
            problem(v, "manifest.json: %s is listed twice", p);
            continue;
        }
        if (ops_files_add(&v->listed, p, (uint64_t)json_integer_value(size), h))
            problem(v, "manifest.json: cannot keep entry %s", p);
    }
}

static void check_files(struct verify *v)
{
    for (size_t i = 0; i < v->listed.n; i++) {
        const struct ops_file *f = &v->listed.v[i];
        char path[PATH_N], hex[OPS_SHA256_HEX];
        uint64_t size;
        ops_pathf(path, sizeof(path), "%s/%s", v->dir, f->path);
        enum lair_err e = ops_file_sha256(path, hex, &size);
        if (e == LAIR_ENOTFOUND)
            problem(v, "%s: missing", f->path);
        else if (e)
            problem(v, "%s: cannot be read", f->path);
        else if (size != f->size)
            problem(v, "%s: %llu bytes, the manifest says %llu", f->path, (unsigned long long)size,
                    (unsigned long long)f->size);
        else if (strcmp(hex, f->sha256))
            problem(v, "%s: SHA-256 mismatch (the file was changed or damaged)", f->path);
    }
}

/* SHA256SUMS agrees with the manifest and with manifest.json's bytes. */
static void check_sums(struct verify *v)
{
    char path[PATH_N], mhex[OPS_SHA256_HEX], *text;
    size_t n;
    ops_pathf(path, sizeof(path), "%s/manifest.json", v->dir);
    if (ops_file_sha256(path, mhex, NULL))
        mhex[0] = 0;
    ops_pathf(path, sizeof(path), "%s/SHA256SUMS", v->dir);
    if (ops_read_file(path, MANIFEST_MAX, &text, &n)) {
        problem(v, "SHA256SUMS: missing or unreadable");
        return;
    }
    size_t seen = 0;
    bool manifest_seen = false;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        if (strlen(line) < 67 || line[64] != ' ' || line[65] != ' ') {
            problem(v, "SHA256SUMS: a line is malformed");
            continue;
        }
        line[64] = 0;
        const char *name = line + 66;
        const struct ops_file *f = ops_files_find(&v->listed, name);
        if (!strcmp(name, "manifest.json")) {
            manifest_seen = true;
            if (strcmp(line, mhex))
                problem(v, "manifest.json: SHA-256 mismatch with SHA256SUMS (the manifest was "
                           "changed)");
        } else if (!f) {
            problem(v, "SHA256SUMS: lists %s, which the manifest does not", name);
        } else {
            seen++;
            if (strcmp(line, f->sha256))
                problem(v, "SHA256SUMS: %s disagrees with the manifest", name);
        }
    }
    free(text);
    if (!manifest_seen)
        problem(v, "SHA256SUMS: does not list manifest.json");
    if (seen != v->listed.n)
        problem(v, "SHA256SUMS: lists %zu files, the manifest %zu", seen, v->listed.n);
}

static struct verify *walk_v;

static int walk_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)ftw;
    struct verify *v = walk_v;
    size_t at = strlen(v->dir);
    const char *rel = path[at] == '/' ? path + at + 1 : path + at;
    if (flag == FTW_D || !*rel)
        return 0;
    if (flag != FTW_F) {
        problem(v, "%s: not a regular file", rel);
        return 0;
    }
    if (strcmp(rel, "manifest.json") && strcmp(rel, "SHA256SUMS") &&
        !ops_files_find(&v->listed, rel))
        problem(v, "%s: not listed in the manifest", rel);
    return 0;
}

static void check_unlisted(struct verify *v)
{
    walk_v = v;
    nftw(v->dir, walk_entry, 16, FTW_PHYS);
    walk_v = NULL;
}

static void check_databases(struct verify *v, const json_t *m)
{
    size_t i, tenants = 0;
    json_t *d;
    bool system = false;
    struct slugs in_system = {0};
    json_array_foreach(json_object_get(m, "databases"), i, d)
    {
        const char *p = jstr(d, "path"), *kind = jstr(d, "kind");
        char path[PATH_N], msg[512];
        if (!ops_files_find(&v->listed, p)) {
            problem(v, "manifest.json: database %s is not among the files", p);
            continue;
        }
        ops_pathf(path, sizeof(path), "%s/%s", v->dir, p);
        bool ok;
        int schema;
        if (snapshot_check(path, &ok, msg, sizeof(msg), &schema) || !ok)
            problem(v, "%s: integrity check failed: %s", p, msg);
        else if (schema != (int)json_integer_value(json_object_get(d, "schema_version")))
            problem(v, "%s: schema version %d, the manifest says %d", p, schema,
                    (int)json_integer_value(json_object_get(d, "schema_version")));
        if (!strcmp(kind, "system")) {
            system = !strcmp(p, "system.db");
            if (system && ok)
                snapshot_tenants(path, collect_slug, &in_system);
        } else {
            char want[128];
            ops_pathf(want, sizeof(want), "tenants/%s/tenant.db", jstr(d, "tenant"));
            if (strcmp(kind, "tenant") || strcmp(p, want))
                problem(v, "manifest.json: database %s is malformed", p);
            tenants++;
        }
    }
    if (!system)
        problem(v, "manifest.json: no system.db");
    for (i = 0; i < in_system.n; i++) {
        char p[128];
        ops_pathf(p, sizeof(p), "tenants/%s/tenant.db", in_system.v[i]);
        if (!ops_files_find(&v->listed, p))
            problem(v, "system.db: tenant %s has no database in the backup", in_system.v[i]);
    }
    if (system && in_system.n != tenants)
        problem(v, "system.db lists %zu tenants, the backup holds %zu databases", in_system.n,
                tenants);
    free(in_system.v);
}

/* The pepper is in the backup and is the one the manifest names: a backup
 * restored with another pepper would hold keys, seals and tokens that
 * nothing matches. */
static void check_pepper(struct verify *v, const json_t *m)
{
    char pid[OPS_PEPPER_ID_HEX];
    if (!ops_files_find(&v->listed, "pepper"))
        problem(v, "manifest.json: the pepper is not among the files");
    else if (ops_pepper_id(v->dir, pid) == LAIR_OK && strcmp(pid, jstr(m, "pepper_id")))
        problem(v, "pepper: not the one the manifest names (pepper_id differs)");
}

enum lair_err backup_verify(const char *dir, ops_note_fn note, void *ctx, json_t **manifest,
                            struct ops_error *err)
{
    if (manifest)
        *manifest = NULL;
    struct verify v = {.dir = dir, .note = note, .ctx = ctx, .err = err};
    char path[PATH_N], *text;
    size_t n;
    ops_pathf(path, sizeof(path), "%s/manifest.json", dir);
    enum lair_err e = ops_read_file(path, MANIFEST_MAX, &text, &n);
    if (e)
        return ops_fail(err, e == LAIR_ENOTFOUND ? LAIR_ENOTFOUND : LAIR_EIO,
                        "%s: %s (is it a backup?)", path,
                        e == LAIR_ENOTFOUND ? "missing" : "unreadable");
    json_error_t je;
    json_t *m = json_loadb(text, n, 0, &je);
    free(text);
    if (!m || strcmp(jstr(m, "format"), BACKUP_FORMAT)) {
        json_decref(m);
        problem(&v, "%s: not a LibreAIr backup manifest", path); /* noted, like the others */
        return LAIR_ECHECKSUM;
    }
    json_int_t fv = json_integer_value(json_object_get(m, "format_version"));
    if (fv < 1 || fv > BACKUP_FORMAT_VERSION) {
        json_decref(m);
        return ops_fail(err, LAIR_EUNSUPPORTED,
                        "%s: format version %lld; this program reads version %d", path,
                        (long long)fv, BACKUP_FORMAT_VERSION);
    }
    read_listed(&v, m);
    check_sums(&v);
    check_files(&v);
    check_unlisted(&v);
    check_databases(&v, m);
    check_pepper(&v, m);
    ops_files_release(&v.listed);
    if (manifest)
        *manifest = m;
    else
        json_decref(m);
    return v.problems ? LAIR_ECHECKSUM : LAIR_OK;
}

/* ---- restore ---- */

struct replay {
    char slug[SLUG_MAX + 1];
    char (*tokens)[GDPR_TOKEN_MAX];
    size_t n, cap;
    uint64_t live_len; /* complete lines of the live journal (0: none) */
    bool oom;
};

static bool collect_token(void *ctx, const struct gdpr_journal_entry *e)
{
    struct replay *r = ctx;
    if (r->n == r->cap) {
        size_t cap = r->cap ? 2 * r->cap : 16;
        char(*v)[GDPR_TOKEN_MAX] = realloc(r->tokens, cap * sizeof(*v));
        if (!v) {
            r->oom = true;
            return false;
        }
        r->tokens = v;
        r->cap = cap;
    }
    memcpy(r->tokens[r->n++], e->token, GDPR_TOKEN_MAX);
    return true;
}

static bool replay_has(const struct replay *r, const char *token)
{
    for (size_t i = 0; i < r->n; i++)
        if (!strcmp(r->tokens[i], token))
            return true;
    return false;
}

/* The manifest's SHA-256 of the file at rel ("" when not listed). */
static const char *file_sha256(const json_t *m, const char *rel)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        if (!strcmp(jstr(f, "path"), rel))
            return jstr(f, "sha256");
    }
    return "";
}

/* The sha256 of the first len bytes of path. */
static enum lair_err prefix_sha256(const char *path, uint64_t len, char hex[OPS_SHA256_HEX])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return LAIR_EIO;
    struct ops_sha256 h;
    ops_sha256_init(&h);
    char b[65536];
    uint64_t left = len;
    while (left) {
        size_t want = left < sizeof(b) ? (size_t)left : sizeof(b);
        size_t got = fread(b, 1, want, f);
        if (got == 0)
            break;
        ops_sha256_update(&h, b, got);
        left -= got;
    }
    fclose(f);
    if (left)
        return LAIR_EIO;
    ops_sha256_final(&h, hex);
    return LAIR_OK;
}

/* What the live journal of one tenant adds to the backup's (r->tokens). */
static enum lair_err plan_tenant(const char *jdir, const json_t *journal, const json_t *m,
                                 struct replay *r, ops_note_fn note, void *ctx,
                                 struct ops_error *err)
{
    char live[PATH_N], tdir[PATH_N];
    uint64_t backed = (uint64_t)json_integer_value(json_object_get(journal, "length"));
    ops_pathf(tdir, sizeof(tdir), "%s/tenants/%s", jdir, r->slug);
    ops_pathf(live, sizeof(live), "%s/" GDPR_JOURNAL_NAME, tdir);
    enum lair_err e = gdpr_journal_length(live, &r->live_len);
    if (e)
        return ops_fail(err, e, "cannot read %s", live);
    if (access(live, F_OK) != 0) {
        if (backed)
            return ops_fail(err, LAIR_ECONFLICT,
                            "tenant %s: the erasure journal %s is gone (the backup holds %llu "
                            "bytes of it): erasures made since the backup cannot be known",
                            r->slug, live, (unsigned long long)backed);
        if (access(tdir, F_OK) != 0 && note) {
            char text[PATH_N + 256];
            ops_textf(text, sizeof(text),
                      "warning: tenant %s is not in %s any more (deleted since the backup?): it "
                      "is restored as the backup holds it; delete it again if it was deleted",
                      r->slug, jdir);
            note(ctx, text);
        }
        return LAIR_OK;
    }
    if (r->live_len < backed)
        return ops_fail(err, LAIR_ECONFLICT,
                        "tenant %s: %s is shorter than the journal in the backup: it is not "
                        "the continuation of the backed-up data directory",
                        r->slug, live);
    if (backed) {
        char got[OPS_SHA256_HEX];
        const char *want = file_sha256(m, jstr(journal, "path"));
        if ((e = prefix_sha256(live, backed, got)) || strcmp(want, got))
            return ops_fail(err, LAIR_ECONFLICT,
                            "tenant %s: %s does not begin with the journal in the backup: it "
                            "is not the continuation of the backed-up data directory",
                            r->slug, live);
    }
    int bad = 0;
    if ((e = gdpr_journal_read(live, backed, collect_token, r, &bad)) || r->oom)
        return ops_fail(err, e ? e : LAIR_ENOMEM, "cannot read %s", live);
    if (bad && note) {
        char text[PATH_N + 128];
        ops_textf(text, sizeof(text), "warning: %s: %d malformed lines skipped", live, bad);
        note(ctx, text);
    }
    return LAIR_OK;
}

static void replays_free(struct replay *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(r[i].tokens);
    free(r);
}

/* One entry per tenant journal of the manifest, with the tokens to replay
 * (none when o->no_replay). */
static enum lair_err plan_replay(const struct restore_opts *o, const json_t *m, struct replay **out,
                                 size_t *n, struct restore_report *rep, ops_note_fn note, void *ctx,
                                 struct ops_error *err)
{
    const json_t *js = json_object_get(m, "journals");
    *n = json_array_size(js);
    *out = calloc(*n ? *n : 1, sizeof(**out));
    if (!*out)
        return LAIR_ENOMEM;
    const char *jdir = o->journal_from ? o->journal_from : jstr(m, "source");
    char tenants[PATH_N];
    ops_pathf(tenants, sizeof(tenants), "%s/tenants", jdir);
    struct stat st;
    if (!o->no_replay && (stat(tenants, &st) != 0 || !S_ISDIR(st.st_mode)))
        return ops_fail(err, LAIR_ECONFLICT,
                        "%s holds no tenants/ folder: the erasure journals of the backed-up data "
                        "directory are needed to replay the erasures made since the backup; give "
                        "their location with --journal-from DIR, or --no-replay if none was made",
                        jdir);
    if (!o->no_replay)
        snprintf(rep->journal_from, sizeof(rep->journal_from), "%s", jdir);
    for (size_t i = 0; i < *n; i++) {
        const json_t *j = json_array_get(js, i);
        struct replay *r = &(*out)[i];
        snprintf(r->slug, sizeof(r->slug), "%s", jstr(j, "tenant"));
        if (!slug_valid(str_c(r->slug)))
            return ops_fail(err, LAIR_ECHECKSUM, "manifest.json: a journal's tenant is malformed");
        if (o->no_replay)
            continue;
        enum lair_err e = plan_tenant(jdir, j, m, r, note, ctx, err);
        if (e)
            return e;
        rep->journal_entries += (int)r->n;
    }
    return LAIR_OK;
}

/* Copies every file of the backup into stage, checking each one's
 * SHA-256 again (the backup may change between verification and copy). */
static enum lair_err copy_backup(const char *from, const char *stage, const json_t *m,
                                 struct ops_error *err)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(m, "files"), i, f)
    {
        const char *rel = jstr(f, "path");
        char src[PATH_N], dst[PATH_N], parent[PATH_N], hex[OPS_SHA256_HEX];
        ops_pathf(src, sizeof(src), "%s/%s", from, rel);
        ops_pathf(dst, sizeof(dst), "%s/%s", stage, rel);
        ops_parent(dst, parent, sizeof(parent));
        enum lair_err e = ops_mkdirs(parent);
        if (!e)
            e = ops_copy_file(src, dst, UINT64_MAX, hex, NULL);
        if (e)
            return ops_fail(err, e, "cannot copy %s: %s", src, lair_err_msg(e));
        if (strcmp(hex, jstr(f, "sha256")))
            return ops_fail(err, LAIR_ECHECKSUM, "%s changed during the restore", src);
    }
    return LAIR_OK;
}

/* The restored journal is the live one (the backup's and what followed),
 * so that a backup of the restored directory replays correctly too. */
static enum lair_err take_live_journal(const char *jdir, const char *stage, const struct replay *r,
                                       struct ops_error *err)
{
    if (!r->live_len)
        return LAIR_OK;
    char src[PATH_N], dst[PATH_N];
    ops_pathf(src, sizeof(src), "%s/tenants/%s/" GDPR_JOURNAL_NAME, jdir, r->slug);
    ops_pathf(dst, sizeof(dst), "%s/tenants/%s/" GDPR_JOURNAL_NAME, stage, r->slug);
    unlink(dst);
    enum lair_err e = ops_copy_file(src, dst, r->live_len, NULL, NULL);
    return e ? ops_fail(err, e, "cannot copy %s", src) : LAIR_OK;
}

struct subjects {
    char **v;
    size_t n, cap;
    bool oom;
};

static bool collect_subject(void *ctx, const char *subject)
{
    struct subjects *s = ctx;
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **v = realloc(s->v, cap * sizeof(*v));
        if (!v) {
            s->oom = true;
            return false;
        }
        s->v = v;
        s->cap = cap;
    }
    if (!(s->v[s->n] = strdup(subject))) {
        s->oom = true;
        return false;
    }
    s->n++;
    return true;
}

static void subjects_free(struct subjects *s)
{
    for (size_t i = 0; i < s->n; i++) {
        sodium_memzero(s->v[i], strlen(s->v[i]));
        free(s->v[i]);
    }
    free(s->v);
}

/* Erases, in one restored tenant, the subjects whose tokens r holds, then
 * completes the erasures pending in the copy (and scrubs). */
static enum lair_err replay_tenant(struct tenant_db *db, const unsigned char key[AUDIT_KEY_LEN],
                                   const struct replay *r, struct restore_report *rep,
                                   struct ops_error *err)
{
    struct subjects s = {0};
    enum lair_err e = r->n ? snapshot_subjects(db, collect_subject, &s) : LAIR_OK;
    if (!e && s.oom)
        e = LAIR_ENOMEM;
    for (size_t i = 0; i < s.n && !e; i++) {
        char token[GDPR_TOKEN_MAX];
        gdpr_subject_token(key, r->slug, str_c(s.v[i]), token);
        if (!replay_has(r, token))
            continue;
        struct gdpr_erasure out;
        if (!(e = gdpr_erase(db, key, s.v[i], "restore", &out)))
            rep->erasures_replayed++;
    }
    subjects_free(&s);
    int resumed = 0;
    if (!e)
        e = gdpr_recover(db, key, &resumed, NULL);
    rep->erasures_completed += resumed;
    return e ? ops_fail(err, e, "tenant %s: cannot replay the erasures: %s", r->slug,
                        lair_err_msg(e))
             : LAIR_OK;
}

static enum lair_err replay_all(const char *stage, const struct replay *rs, size_t n,
                                struct restore_report *rep, const char *detail_in,
                                struct ops_error *err)
{
    struct sysdb *sys;
    struct tenants *ts;
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e = sysdb_open(stage, &sys);
    if (e)
        return ops_fail(err, e, "cannot open the restored system.db: %s", lair_err_msg(e));
    if ((e = tenants_new(stage, sys, &ts))) {
        sysdb_free(sys);
        return ops_fail(err, e, "cannot open the restored tenants");
    }
    if ((e = audit_key_load(stage, key)))
        ops_fail(err, e, "cannot read the restored pepper");
    for (size_t i = 0; i < n && !e; i++) {
        struct tenant_db *db;
        if ((e = tenants_get(ts, rs[i].slug, &db))) {
            ops_fail(err, e, "cannot open the restored tenant %s: %s", rs[i].slug, lair_err_msg(e));
            break;
        }
        e = replay_tenant(db, key, &rs[i], rep, err);
        tenant_db_put(db);
    }
    if (!e) {
        char detail[512];
        ops_textf(detail, sizeof(detail), "%s tenants:%d replayed:%d completed:%d", detail_in,
                  rep->tenants, rep->erasures_replayed, rep->erasures_completed);
        struct audit_event ev = {.actor = "cli",
                                 .action = "backup.restore",
                                 .target = "backup:*",
                                 .outcome = "ok",
                                 .detail = detail};
        audit_record(stage, sys, NULL, &ev);
    }
    sodium_memzero(key, sizeof(key));
    tenants_free(ts);
    sysdb_free(sys);
    return e;
}

static enum lair_err check_versions(const json_t *m, struct ops_error *err)
{
    int sys_n;
    sysdb_schema(&sys_n);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(m, "databases"), i, d)
    {
        int v = (int)json_integer_value(json_object_get(d, "schema_version"));
        int max = !strcmp(jstr(d, "kind"), "system") ? sys_n : tenant_schema_version();
        if (v > max)
            return ops_fail(err, LAIR_EUNSUPPORTED,
                            "%s has schema version %d; this program knows up to %d: restore "
                            "it with a newer LibreAIr (%s)",
                            jstr(d, "path"), v, max, jstr(m, "libreair_version"));
    }
    return LAIR_OK;
}

enum lair_err backup_restore(const struct restore_opts *o, ops_note_fn note, void *ctx,
                             struct restore_report *out, struct ops_error *err)
{
    memset(out, 0, sizeof(*out));
    bool exists, empty;
    enum lair_err e = ops_dir_state(o->to, &exists, &empty);
    if (e == LAIR_EINVAL || (!e && exists && !empty))
        return ops_fail(err, LAIR_ECONFLICT,
                        "%s is not empty: restore into a new (or empty) data directory", o->to);
    json_t *m = NULL;
    if ((e = backup_verify(o->from, note, ctx, &m, err))) {
        json_decref(m);
        return e;
    }
    struct replay *rs = NULL;
    size_t n = 0;
    char stage[PATH_N];
    if (!(e = check_versions(m, err)))
        e = plan_replay(o, m, &rs, &n, out, note, ctx, err);
    if (!e)
        e = prepare_target(o->to, "restoring", stage, sizeof(stage), err);
    if (e) {
        if (rs)
            replays_free(rs, n);
        json_decref(m);
        return e;
    }
    out->tenants = (int)n;
    e = copy_backup(o->from, stage, m, err);
    for (size_t i = 0; i < n && !e && !o->no_replay; i++)
        e = take_live_journal(out->journal_from, stage, &rs[i], err);
    if (!e) {
        char detail[200];
        ops_textf(detail, sizeof(detail), "backup:%s replay:%s", jstr(m, "started_at"),
                  o->no_replay ? "none" : "journal");
        e = replay_all(stage, rs, n, out, detail, err);
    }
    if (!e)
        e = publish(stage, o->to, err);
    if (e)
        ops_remove_tree(stage);
    replays_free(rs, n);
    json_decref(m);
    return e;
}
