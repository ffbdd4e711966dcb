/* Unit tests for backups, restores and tenant moves (src/ops/,
 * docs/operations.md): the erasure journal; the tar container; a backup
 * that verifies, and verification that finds a changed byte, a missing and
 * an unlisted file; a restore that refuses a non-empty directory and
 * brings back conversations, a pending upload and intact audit logs; the
 * erasure canary (a subject erased after the backup is nowhere in the
 * restored files), the refusal of a journal that does not continue the
 * backup's, and an erasure pending in the backup completed at restore; a
 * tenant moved to another data directory (keys reissued, audit chain
 * resealed and verified, conversations and assistants as they were), to
 * one that shares the pepper (keys carried and working), under another
 * slug, and a damaged archive refused; its members (removed ones
 * included) and access rules moved with it, not when their ids are taken
 * here, and people.json checked field by field (people_import) or the
 * whole import refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "assist/assistant.h"
#include "audit/audit.h"
#include "gdpr/erase.h"
#include "gdpr/journal.h"
#include "gdpr/register.h"
#include "gdpr/subject.h"
#include "ops/backup.h"
#include "ops/move.h"
#include "ops/tar.h"
#include "rag/ingest.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "store/gdpr_store.h"
#include "store/kb.h"
#include "store/people.h"
#include "store/snapshot.h"

/* ---- fixtures ---- */

static char root[64];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof(root), "/tmp/lair-backup-XXXXXX");
    assert_non_null(mkdtemp(root));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

static void at(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", root, name);
}

/* An open data directory with one tenant. */
struct env {
    char data[160];
    struct sysdb *sys;
    struct tenants *tenants;
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
};

static void env_open(struct env *v, const char *name, const char *tenant)
{
    at(v->data, sizeof(v->data), name);
    assert_int_equal(sysdb_open(v->data, &v->sys), LAIR_OK);
    assert_int_equal(tenants_new(v->data, v->sys, &v->tenants), LAIR_OK);
    v->db = NULL;
    if (tenant)
        assert_int_equal(tenants_get(v->tenants, tenant, &v->db), LAIR_OK);
    assert_int_equal(audit_key_load(v->data, v->key), LAIR_OK);
}

static void env_create(struct env *v, const char *name, const char *tenant)
{
    at(v->data, sizeof(v->data), name);
    assert_int_equal(sysdb_init_dir(v->data), LAIR_OK);
    assert_int_equal(sysdb_open(v->data, &v->sys), LAIR_OK);
    assert_int_equal(tenants_new(v->data, v->sys, &v->tenants), LAIR_OK);
    assert_int_equal(tenants_create(v->tenants, tenant, "Ville A"), LAIR_OK);
    sysdb_free(v->sys);
    tenants_free(v->tenants);
    env_open(v, name, tenant);
}

static void env_close(struct env *v)
{
    tenant_db_put(v->db);
    tenants_free(v->tenants);
    sysdb_free(v->sys);
    memset(v, 0, sizeof(*v));
}

static void make_conv(struct tenant_db *db, const char *subject, const char *text,
                      char id[CONV_ID_LEN + 1])
{
    struct conv_row row = {0};
    conv_new_id(row.id);
    snprintf(row.assistant, sizeof(row.assistant), "conte");
    snprintf(row.subject, sizeof(row.subject), "%s", subject);
    snprintf(row.key_id, sizeof(row.key_id), "0123456789ab");
    struct conv_exchange x = {.id = row.id,
                              .create = &row,
                              .user_text = str_c(text),
                              .answer_text = S("une réponse"),
                              .prompt_tokens = 3,
                              .completion_tokens = 2};
    assert_int_equal(conv_append(db, &x), LAIR_OK);
    if (id)
        memcpy(id, row.id, sizeof(row.id));
}

static bool conv_exists(struct tenant_db *db, const char *id)
{
    struct conv_row r;
    return conv_get(db, id, NULL, &r) == LAIR_OK;
}

static void audit_event(struct env *v, const char *action)
{
    struct audit_event ev = {.actor = "cli", .action = action, .target = "x:1", .outcome = "ok"};
    assert_int_equal(audit_record(v->data, v->sys, v->db, &ev), LAIR_OK);
}

static void audit_ok(struct env *v)
{
    struct audit_log l;
    struct audit_report r;
    audit_log_system(&l, v->sys, v->key);
    assert_int_equal(audit_verify(&l, &r), LAIR_OK);
    assert_true(r.ok);
    audit_log_release(&l);
    if (v->db) {
        audit_log_tenant(&l, v->db, v->key);
        assert_int_equal(audit_verify(&l, &r), LAIR_OK);
        if (!r.ok)
            fprintf(stderr, "tenant log: %s\n", r.message);
        assert_true(r.ok);
        audit_log_release(&l);
    }
}

/* ---- byte-level search ---- */

static const char *needle;
static size_t hits;

static int grep_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || sb->st_size == 0)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, (size_t)sb->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    const char *s = p, *end = s + sb->st_size;
    while (s < end && (s = memmem(s, (size_t)(end - s), needle, strlen(needle)))) {
        hits++;
        s++;
    }
    munmap(p, (size_t)sb->st_size);
    return 0;
}

static size_t grep_dir(const char *dir, const char *what)
{
    needle = what;
    hits = 0;
    nftw(dir, grep_entry, 16, FTW_PHYS);
    return hits;
}

static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    unsigned char c;
    assert_int_equal(pread(fd, &c, 1, off), 1);
    c ^= 0x5a;
    assert_int_equal(pwrite(fd, &c, 1, off), 1);
    close(fd);
}

static void note_quiet(void *ctx, const char *text)
{
    int *n = ctx;
    (*n)++;
    (void)text;
}

/* ---- the erasure journal ---- */

static bool count_entry(void *ctx, const struct gdpr_journal_entry *e)
{
    int *n = ctx;
    (*n)++;
    assert_int_equal(strlen(e->token), 35);
    return true;
}

static void test_journal(void **state)
{
    (void)state;
    char dir[128], path[200];
    at(dir, sizeof(dir), "journal");
    mkdir(dir, 0700);
    snprintf(path, sizeof(path), "%s/" GDPR_JOURNAL_NAME, dir);
    uint64_t len;
    assert_int_equal(gdpr_journal_length(path, &len), LAIR_OK);
    assert_int_equal(len, 0);
    const char *t1 = "sh_0123456789abcdef0123456789abcdef",
               *t2 = "sh_ffffffffffffffffffffffffffffffff";
    assert_int_equal(gdpr_journal_append(dir, "subject-in-clear", 1), LAIR_EINVAL);
    assert_int_equal(gdpr_journal_append(dir, t1, 1700000000), LAIR_OK);
    assert_int_equal(gdpr_journal_length(path, &len), LAIR_OK);
    uint64_t first = len;
    assert_true(first > 0);
    assert_int_equal(gdpr_journal_append(dir, t2, 1700000001), LAIR_OK);
    /* a damaged line and an unfinished one */
    FILE *f = fopen(path, "a");
    fputs("garbage line\nv1 17", f);
    fclose(f);
    int n = 0, bad = 0;
    assert_int_equal(gdpr_journal_read(path, 0, count_entry, &n, &bad), LAIR_OK);
    assert_int_equal(n, 2);
    assert_int_equal(bad, 1);
    n = 0;
    assert_int_equal(gdpr_journal_read(path, first, count_entry, &n, NULL), LAIR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(gdpr_journal_length(path, &len), LAIR_OK);
    struct stat st;
    stat(path, &st);
    assert_int_equal(len, (uint64_t)st.st_size - 5); /* up to the last newline */
    assert_true((st.st_mode & 0777) == 0600);
}

/* ---- tar ---- */

static void test_tar(void **state)
{
    (void)state;
    char path[128], src[128], out[160], hex[OPS_SHA256_HEX], hex2[OPS_SHA256_HEX];
    at(path, sizeof(path), "a.tar");
    at(src, sizeof(src), "src.bin");
    char big[3000];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)(i * 7);
    assert_int_equal(ops_write_file(src, big, sizeof(big)), LAIR_OK);
    struct tar_writer w;
    assert_int_equal(tar_write_open(&w, path), LAIR_OK);
    assert_int_equal(tar_write_bytes(&w, "manifest.json", "{}", 2), LAIR_OK);
    assert_int_equal(tar_write_file(&w, "kb/docs/uploads/u-1", src), LAIR_OK);
    assert_int_equal(tar_write_finish(&w, hex), LAIR_OK);
    assert_int_equal(ops_file_sha256(path, hex2, NULL), LAIR_OK);
    assert_string_equal(hex, hex2);

    struct tar_reader r;
    char name[TAR_NAME_MAX], *text;
    uint64_t size;
    size_t n;
    assert_int_equal(tar_read_open(&r, path), LAIR_OK);
    assert_int_equal(tar_read_next(&r, name, &size), LAIR_OK);
    assert_string_equal(name, "manifest.json");
    assert_int_equal(tar_read_bytes(&r, 100, &text, &n), LAIR_OK);
    assert_string_equal(text, "{}");
    free(text);
    assert_int_equal(tar_read_next(&r, name, &size), LAIR_OK);
    assert_string_equal(name, "kb/docs/uploads/u-1");
    assert_int_equal(size, sizeof(big));
    at(out, sizeof(out), "extracted.bin");
    assert_int_equal(tar_read_extract(&r, out, hex), LAIR_OK);
    assert_int_equal(ops_file_sha256(src, hex2, NULL), LAIR_OK);
    assert_string_equal(hex, hex2);
    assert_int_equal(tar_read_next(&r, name, &size), LAIR_ENOTFOUND);
    tar_read_close(&r);

    /* a damaged header is refused; the system's tar reads ours */
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "tar tf %s >/dev/null 2>&1", path);
    assert_int_equal(system(cmd), 0);
    flip_byte(path, 10);
    assert_int_equal(tar_read_open(&r, path), LAIR_OK);
    assert_int_equal(tar_read_next(&r, name, &size), LAIR_ECHECKSUM);
    tar_read_close(&r);
}

static void test_relpath(void **state)
{
    (void)state;
    assert_true(ops_relpath_safe("tenants/ville-a/tenant.db"));
    assert_true(ops_relpath_safe("kb/docs/uploads/u-0123abcd"));
    assert_false(ops_relpath_safe("../pepper"));
    assert_false(ops_relpath_safe("/etc/passwd"));
    assert_false(ops_relpath_safe("a//b"));
    assert_false(ops_relpath_safe("a/./b"));
    assert_false(ops_relpath_safe("a/"));
    assert_false(ops_relpath_safe(""));
    assert_false(ops_relpath_safe("a b"));
    assert_false(ops_relpath_safe("tenants/x/.."));
}

/* ---- backup, verify, restore ---- */

static void test_backup_restore(void **state)
{
    (void)state;
    struct env v;
    env_create(&v, "live", "ville-a");
    char c1[CONV_ID_LEN + 1], c2[CONV_ID_LEN + 1];
    make_conv(v.db, "habitant-1", "bonjour", c1);
    make_conv(v.db, "", "sans sujet", c2);
    audit_event(&v, "test.one");
    assert_int_equal(kb_create(v.db, "docs", "Docs"), LAIR_OK);
    struct ingest_upload up = {"horaires.txt", S("La mairie ouvre à 9 h.")};
    int64_t job;
    assert_int_equal(ingest_job_upload(v.db, "docs", &up, 1, NULL, &job), LAIR_OK);

    char bk[128], bk2[128], restored[128], path[300];
    at(bk, sizeof(bk), "bk");
    struct ops_error err = {{0}};
    struct backup_report rep;
    assert_int_equal(backup_create(v.data, bk, &rep, &err), LAIR_OK);
    assert_int_equal(rep.tenants, 1);
    /* a second backup into the same folder is refused */
    assert_int_equal(backup_create(v.data, bk, &rep, &err), LAIR_ECONFLICT);
    /* written after the backup: not in it */
    char c3[CONV_ID_LEN + 1];
    make_conv(v.db, "habitant-1", "plus tard", c3);

    int notes = 0;
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_verify(bk, note_quiet, &notes, NULL, &err), LAIR_OK);
    assert_int_equal(notes, 0);
    snprintf(path, sizeof(path), "%s/pepper", bk);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_true((st.st_mode & 0777) == 0600);
    assert_int_equal(stat(bk, &st), 0);
    assert_true((st.st_mode & 0777) == 0700);

    /* damage: a changed byte, an unlisted file, a missing file */
    at(bk2, sizeof(bk2), "bk-damaged");
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "cp -a %s %s", bk, bk2);
    assert_int_equal(system(cmd), 0);
    snprintf(path, sizeof(path), "%s/tenants/ville-a/tenant.db", bk2);
    flip_byte(path, 5000);
    notes = 0;
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_verify(bk2, note_quiet, &notes, NULL, &err), LAIR_ECHECKSUM);
    assert_non_null(strstr(err.text, "tenants/ville-a/tenant.db"));
    flip_byte(path, 5000);
    snprintf(path, sizeof(path), "%s/extra", bk2);
    assert_int_equal(ops_write_file(path, "x", 1), LAIR_OK);
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_verify(bk2, note_quiet, &notes, NULL, &err), LAIR_ECHECKSUM);
    assert_non_null(strstr(err.text, "extra"));
    unlink(path);
    snprintf(path, sizeof(path), "%s/pepper", bk2);
    unlink(path);
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_verify(bk2, note_quiet, &notes, NULL, &err), LAIR_ECHECKSUM);
    /* a restore verifies first */
    at(restored, sizeof(restored), "restored-damaged");
    struct restore_opts o = {.from = bk2, .to = restored, .no_replay = true};
    struct restore_report rr;
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_ECHECKSUM);
    assert_int_equal(access(restored, F_OK), -1);

    /* a non-empty target is refused */
    o = (struct restore_opts){.from = bk, .to = v.data};
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_ECONFLICT);

    /* restore into an empty folder */
    at(restored, sizeof(restored), "restored");
    mkdir(restored, 0700);
    o = (struct restore_opts){.from = bk, .to = restored};
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_OK);
    assert_string_equal(err.text, "");
    assert_int_equal(rr.tenants, 1);
    env_close(&v);

    struct env r;
    env_open(&r, "restored", "ville-a");
    assert_true(conv_exists(r.db, c1));
    assert_true(conv_exists(r.db, c2));
    assert_false(conv_exists(r.db, c3));
    struct kb_job j;
    assert_int_equal(kb_job_get(r.db, job, &j), LAIR_OK);
    snprintf(path, sizeof(path), "%s/tenants/ville-a/kb/docs/uploads", r.data);
    snprintf(cmd, sizeof(cmd), "test \"$(ls %s | wc -l)\" = 1", path);
    assert_int_equal(system(cmd), 0); /* the pending upload came with its job */
    audit_ok(&r);
    env_close(&r);
}

/* ---- erasure replay ---- */

static void test_erasure_replay(void **state)
{
    (void)state;
    struct env v;
    env_create(&v, "live2", "ville-a");
    const char *canary = "CANARY-7f3a9c2e51", *subject = "citoyen-canari-42";
    char keep[CONV_ID_LEN + 1], gone[CONV_ID_LEN + 1];
    make_conv(v.db, subject, canary, gone);
    make_conv(v.db, subject, canary, NULL);
    make_conv(v.db, "autre", "rien à voir", keep);
    /* an erasure before the backup: its journal line is in the backup */
    struct gdpr_erasure er;
    assert_int_equal(gdpr_erase(v.db, v.key, "deja-parti", "cli", &er), LAIR_OK);

    char bk[128], restored[128], plain[128], other[128], path[300];
    at(bk, sizeof(bk), "bk2");
    struct ops_error err = {{0}};
    struct backup_report rep;
    assert_int_equal(backup_create(v.data, bk, &rep, &err), LAIR_OK);
    assert_true(grep_dir(bk, canary) > 0);

    /* after the backup: the subject is erased */
    assert_int_equal(gdpr_erase(v.db, v.key, subject, "cli", &er), LAIR_OK);
    assert_int_equal(er.counts.conversations, 2);
    assert_int_equal(grep_dir(v.data, canary), 0);
    env_close(&v);

    /* --no-replay brings it back (what the replay is for) */
    int notes = 0;
    at(plain, sizeof(plain), "restored-plain");
    struct restore_opts o = {.from = bk, .to = plain, .no_replay = true};
    struct restore_report rr;
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_OK);
    assert_true(grep_dir(plain, canary) > 0);

    /* the replay: the canary is nowhere in the restored files */
    at(restored, sizeof(restored), "restored2");
    o = (struct restore_opts){.from = bk, .to = restored};
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_OK);
    assert_int_equal(rr.journal_entries, 1);
    assert_int_equal(rr.erasures_replayed, 1);
    assert_int_equal(grep_dir(restored, canary), 0);
    assert_int_equal(grep_dir(restored, subject), 0);
    struct env r;
    env_open(&r, "restored2", "ville-a");
    assert_false(conv_exists(r.db, gone));
    assert_true(conv_exists(r.db, keep));
    audit_ok(&r);
    env_close(&r);
    snprintf(path, sizeof(path), "%s/tenants/ville-a/" GDPR_JOURNAL_NAME, restored);
    assert_int_equal(access(path, F_OK), 0);

    /* a journal that does not continue the backup's is refused */
    at(other, sizeof(other), "live2/tenants/ville-a/" GDPR_JOURNAL_NAME);
    flip_byte(other, 10);
    at(restored, sizeof(restored), "restored3");
    o = (struct restore_opts){.from = bk, .to = restored};
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_ECONFLICT);
    assert_non_null(strstr(err.text, "continuation"));
    assert_int_equal(access(restored, F_OK), -1);
    flip_byte(other, 10);
    /* and so is a source whose journals are gone */
    char live[128];
    at(live, sizeof(live), "live2");
    unlink(other);
    o = (struct restore_opts){.from = bk, .to = restored, .journal_from = live};
    memset(&err, 0, sizeof(err));
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_ECONFLICT);
    assert_non_null(strstr(err.text, "gone"));
}

/* An erasure that was pending (its row committed, the deletion not yet)
 * when the backup was taken is completed by the restore. */
static void test_pending_in_backup(void **state)
{
    (void)state;
    struct env v;
    env_create(&v, "live3", "ville-a");
    const char *canary = "CANARY-pending-5512";
    make_conv(v.db, "en-cours", canary, NULL);
    char token[GDPR_TOKEN_MAX];
    gdpr_subject_token(v.key, "ville-a", str_c("en-cours"), token);
    struct gdpr_pending p;
    assert_int_equal(gdpr_store_pending_add(v.db, "en-cours", token, "cli", &p), LAIR_OK);
    assert_int_equal(gdpr_journal_append(tenant_db_dir(v.db), token, p.requested_at), LAIR_OK);
    char bk[128], restored[128];
    at(bk, sizeof(bk), "bk3");
    struct ops_error err = {{0}};
    struct backup_report rep;
    assert_int_equal(backup_create(v.data, bk, &rep, &err), LAIR_OK);
    env_close(&v);
    at(restored, sizeof(restored), "restored4");
    struct restore_opts o = {.from = bk, .to = restored, .no_replay = true};
    struct restore_report rr;
    int notes = 0;
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_OK);
    assert_int_equal(rr.erasures_completed, 1);
    assert_int_equal(grep_dir(restored, canary), 0);
    assert_int_equal(grep_dir(restored, "en-cours"), 0);
}

/* ---- members and access rules (people.json) ---- */

/* Rows of table for tenant in v's system.db (removed members included). */
static int people_rows(struct env *v, const char *table, const char *tenant)
{
    char sql[200];
    snprintf(sql, sizeof(sql), "SELECT COUNT(*) FROM %s WHERE tenant = ?1", table);
    sqlite3_stmt *st;
    sysdb_lock(v->sys);
    assert_int_equal(sqlite3_prepare_v2(sysdb_handle(v->sys), sql, -1, &st, NULL), SQLITE_OK);
    sqlite3_bind_text(st, 1, tenant, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sysdb_unlock(v->sys);
    return n;
}

/* The removed flag of member id, -1 when there is no such row. */
static int member_removed(struct env *v, const char *id)
{
    sqlite3_stmt *st;
    sysdb_lock(v->sys);
    assert_int_equal(sqlite3_prepare_v2(sysdb_handle(v->sys),
                                        "SELECT removed FROM members WHERE id = ?1", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int r = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    sqlite3_finalize(st);
    sysdb_unlock(v->sys);
    return r;
}

/* In v's tenant: alice (admin, signed in with a provider), bob (removed:
 * a veto that must move too), a SIRET rule and a group rule for one
 * provider. OUT: their ids. */
static void make_people(struct env *v, const char *tenant, char alice[MEMBER_ID_LEN + 1],
                        char bob[MEMBER_ID_LEN + 1])
{
    assert_int_equal(
        people_member_add(v->sys, tenant, "alice@mairie.fr", ROLE_ADMIN, "operator", alice),
        LAIR_OK);
    assert_int_equal(people_member_add(v->sys, tenant, "bob@mairie.fr", ROLE_USER, alice, bob),
                     LAIR_OK);
    assert_int_equal(people_member_remove(v->sys, tenant, bob), LAIR_OK);
    struct identity id = {.provider = "proconnect",
                          .sub = "sub-alice",
                          .email = "alice@mairie.fr",
                          .name = "Alice Martin",
                          .siret = ""};
    char entered[MEMBER_ID_LEN + 1];
    assert_int_equal(people_enter(v->sys, &id, tenant, entered), LAIR_OK);
    assert_string_equal(entered, alice);
    struct access_rule rules[2] = {
        {.kind = ACCESS_SIRET, .value = "21750001600019", .role = ROLE_EDITOR},
        {.kind = ACCESS_GROUP, .value = "agents", .role = ROLE_USER, .provider = "keycloak"},
    };
    assert_int_equal(people_rules_set(v->sys, tenant, rules, 2), LAIR_OK);
}

/* people.json with field of list[i] set to value (removed when NULL) is
 * refused, and nothing is inserted. */
static void people_bad(struct env *v, const json_t *base, const char *list, size_t i,
                       const char *field, json_t *value)
{
    json_t *j = json_deep_copy(base);
    json_t *o = list ? json_array_get(json_object_get(j, list), i) : j;
    assert_non_null(o);
    if (value)
        json_object_set_new(o, field, value);
    else
        json_object_del(o, field);
    char *text = json_dumps(j, 0);
    int nm = -1, nr = -1;
    bool taken = true;
    enum lair_err e = people_import(v->sys, "dest", text, &nm, &nr, &taken);
    if (e != LAIR_EINVAL)
        fprintf(stderr, "people.json with %s.%s changed: %s\n", list ? list : "-", field,
                lair_err_name(e));
    assert_int_equal(e, LAIR_EINVAL);
    assert_int_equal(nm, 0);
    assert_int_equal(nr, 0);
    assert_false(taken);
    assert_int_equal(people_rows(v, "members", "dest"), 0);
    assert_int_equal(people_rows(v, "access_rules", "dest"), 0);
    free(text);
    json_decref(j);
}

static json_t *long_string(size_t n, char c)
{
    char *b = malloc(n + 1);
    memset(b, c, n);
    b[n] = 0;
    json_t *s = json_string(b);
    free(b);
    return s;
}

static void test_people_import(void **state)
{
    (void)state;
    struct env v;
    env_create(&v, "people", "ville-a");
    assert_int_equal(tenants_create(v.tenants, "dest", "Destination"), LAIR_OK);
    char alice[MEMBER_ID_LEN + 1], bob[MEMBER_ID_LEN + 1];
    make_people(&v, "ville-a", alice, bob);
    char *text;
    assert_int_equal(people_export(v.sys, "ville-a", &text), LAIR_OK);
    json_t *base = json_loads(text, 0, NULL);
    assert_non_null(base);
    assert_int_equal(json_array_size(json_object_get(base, "members")), 2);
    assert_int_equal(json_array_size(json_object_get(base, "rules")), 2);
    json_t *members = json_object_get(base, "members");
    const char *first = json_string_value(json_object_get(json_array_get(members, 0), "id"));
    size_t ia = strcmp(first, alice) ? 1 : 0;
    json_t *m0 = json_array_get(members, ia), *m1 = json_array_get(members, 1 - ia);
    assert_string_equal(json_string_value(json_object_get(m0, "id")), alice);
    assert_string_equal(json_string_value(json_object_get(m0, "sub")), "sub-alice");
    assert_string_equal(json_string_value(json_object_get(m0, "provider")), "proconnect");
    assert_string_equal(json_string_value(json_object_get(m0, "added_by")), "operator");
    assert_true(json_integer_value(json_object_get(m0, "last_login")) > 0);
    assert_string_equal(json_string_value(json_object_get(m1, "id")), bob);
    assert_int_equal(json_integer_value(json_object_get(m0, "removed")), 0);
    json_t *r1 = json_array_get(json_object_get(base, "rules"), 1);
    assert_string_equal(json_string_value(json_object_get(r1, "kind")), "siret");
    assert_int_equal(json_integer_value(json_object_get(m1, "removed")), 1);
    assert_null(strstr(text, "csrf")); /* no session in it */

    /* every malformed field refused, nothing inserted */
    people_bad(&v, base, "members", 0, "id", json_string("ABCDEF012345"));
    people_bad(&v, base, "members", 0, "id", json_string("0123456789a"));
    people_bad(&v, base, "members", 0, "id", json_string("0123456789abc"));
    people_bad(&v, base, "members", 0, "id", json_integer(12));
    people_bad(&v, base, "members", 0, "email", json_string("Alice@mairie.fr"));
    people_bad(&v, base, "members", 0, "email", json_string("alice"));
    people_bad(&v, base, "members", 0, "role", json_string("owner"));
    people_bad(&v, base, "members", 0, "role", json_string("ADMIN"));
    people_bad(&v, base, "members", 0, "source", json_string("invited"));
    people_bad(&v, base, "members", 0, "provider", json_string("Pro_Connect"));
    people_bad(&v, base, "members", 0, "provider", long_string(64, 'a'));
    people_bad(&v, base, "members", 0, "sub", long_string(256, 's'));
    people_bad(&v, base, "members", 0, "name", long_string(201, 'n'));
    people_bad(&v, base, "members", 0, "added_by", long_string(65, 'k'));
    people_bad(&v, base, "members", 0, "removed", json_integer(-1));
    people_bad(&v, base, "members", 0, "removed", json_integer(2));
    people_bad(&v, base, "members", 0, "removed", json_true());
    people_bad(&v, base, "members", 0, "created_at", json_integer(-5));
    people_bad(&v, base, "members", 0, "last_login", json_string("0"));
    people_bad(&v, base, "members", 0, "tenant", json_string("autre")); /* unknown field */
    people_bad(&v, base, "members", 0, "sub", NULL);                    /* missing field */
    people_bad(&v, base, "rules", 0, "kind", json_string("email"));
    people_bad(&v, base, "rules", 1, "value", json_string("21750001600018")); /* bad Luhn key */
    people_bad(&v, base, "rules", 0, "value", json_string(""));
    people_bad(&v, base, "rules", 0, "kind", json_string("domain")); /* "agents" is no domain */
    people_bad(&v, base, "rules", 0, "role", json_string("root"));
    people_bad(&v, base, "rules", 0, "provider", json_string("Keycloak"));
    people_bad(&v, base, "rules", 0, "extra", json_integer(1));
    people_bad(&v, base, NULL, 0, "sessions", json_array());
    people_bad(&v, base, NULL, 0, "rules", json_object());
    people_bad(&v, base, NULL, 0, "members", NULL);
    int nm, nr;
    bool taken;
    assert_int_equal(people_import(v.sys, "dest", "not json", &nm, &nr, &taken), LAIR_EINVAL);
    assert_int_equal(
        people_import(v.sys, "nowhere", "{\"members\":[],\"rules\":[]}", &nm, &nr, &taken),
        LAIR_ENOTFOUND);

    /* the ids are taken here (same system.db): no member, the rules still */
    assert_int_equal(people_import(v.sys, "dest", text, &nm, &nr, &taken), LAIR_OK);
    assert_true(taken);
    assert_int_equal(nm, 0);
    assert_int_equal(nr, 2);
    assert_int_equal(people_rows(&v, "members", "dest"), 0);
    assert_int_equal(people_rows(&v, "access_rules", "dest"), 2);
    free(text);
    json_decref(base);
    env_close(&v);

    /* another system.db: every row, ids kept, the removal a veto still */
    struct env w;
    env_create(&w, "people-w", "ville-a");
    assert_int_equal(tenants_create(w.tenants, "dest", "Destination"), LAIR_OK);
    env_close(&w);
    env_open(&v, "people", NULL);
    assert_int_equal(people_export(v.sys, "ville-a", &text), LAIR_OK);
    env_close(&v);
    env_open(&w, "people-w", NULL);
    /* two members with one email: they collide, nothing is kept */
    json_t *twice = json_loads(text, 0, NULL);
    json_t *dup = json_deep_copy(json_array_get(json_object_get(twice, "members"), 1));
    json_object_set_new(dup, "id", json_string("00000000000f"));
    json_object_set_new(dup, "email", json_string("alice@mairie.fr"));
    json_array_append_new(json_object_get(twice, "members"), dup);
    char *dup_text = json_dumps(twice, 0);
    assert_int_equal(people_import(w.sys, "dest", dup_text, &nm, &nr, &taken), LAIR_EINVAL);
    assert_int_equal(people_rows(&w, "members", "dest"), 0);
    assert_int_equal(people_rows(&w, "access_rules", "dest"), 0);
    free(dup_text);
    json_decref(twice);
    assert_int_equal(people_import(w.sys, "dest", text, &nm, &nr, &taken), LAIR_OK);
    assert_false(taken);
    assert_int_equal(nm, 2);
    assert_int_equal(nr, 2);
    struct member_row row;
    assert_int_equal(people_member_get(w.sys, "dest", alice, &row), LAIR_OK);
    assert_int_equal(row.role, ROLE_ADMIN);
    assert_string_equal(row.sub, "sub-alice");
    assert_int_equal(people_member_get(w.sys, "dest", bob, &row), LAIR_ENOTFOUND);
    assert_int_equal(member_removed(&w, bob), 1);
    struct identity who = {.provider = "proconnect",
                           .sub = "sub-bob",
                           .email = "bob@mairie.fr",
                           .name = "Bob",
                           .siret = "21750001600019"};
    struct entry entries[PEOPLE_MAX_ENTRIES];
    size_t ne;
    assert_int_equal(people_entries(w.sys, &who, entries, PEOPLE_MAX_ENTRIES, &ne), LAIR_OK);
    assert_int_equal(ne, 0); /* bob's removal vetoes the SIRET rule */
    who.email = "carole@mairie.fr";
    assert_int_equal(people_entries(w.sys, &who, entries, PEOPLE_MAX_ENTRIES, &ne), LAIR_OK);
    assert_int_equal(ne, 1);
    assert_string_equal(entries[0].tenant, "dest");
    assert_int_equal(entries[0].role, ROLE_EDITOR);
    free(text);
    env_close(&w);
}

/* ---- tenant moves ---- */

static void test_move(void **state)
{
    (void)state;
    struct env a;
    env_create(&a, "srv-a", "ville-a");
    char conv[CONV_ID_LEN + 1], key_text[KEY_TEXT_MAX], key_id[KEY_ID_LEN + 1];
    make_conv(a.db, "habitant-9", "question de l'habitant", conv);
    struct tenant_update tu = TENANT_UPDATE_NONE;
    tu.rpm = 7;
    tu.retention_days = 30;
    tu.allowed_models = "stories,mistral-small";
    assert_int_equal(sysdb_tenant_update(a.sys, "ville-a", &tu, NULL), LAIR_OK);
    assert_int_equal(sysdb_key_create(a.sys, ROLE_ADMIN, "ville-a", 0, key_text, key_id), LAIR_OK);
    audit_event(&a, "test.before-move");
    struct principal who;
    assert_int_equal(sysdb_key_check(a.sys, str_c(key_text), &who), LAIR_OK);
    char alice[MEMBER_ID_LEN + 1], bob[MEMBER_ID_LEN + 1];
    make_people(&a, "ville-a", alice, bob);

    char file[128], path[300];
    at(file, sizeof(file), "ville-a.tar");
    struct ops_error err = {{0}};
    struct move_report mr;
    assert_int_equal(move_export(a.data, "ville-a", file, &mr, &err), LAIR_OK);
    assert_true(mr.events >= 1);
    assert_int_equal(mr.keys, 1);
    assert_true(mr.people);
    assert_int_equal(mr.members, 2);
    assert_int_equal(mr.rules, 2);
    char sha[OPS_SHA256_HEX];
    snprintf(sha, sizeof(sha), "%s", mr.sha256);
    /* an export onto an existing file is refused */
    assert_int_equal(move_export(a.data, "ville-a", file, &mr, &err), LAIR_ECONFLICT);

    /* another server: another pepper, so the keys are reissued */
    struct env b;
    env_create(&b, "srv-b", "autre");
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, file, NULL, sha, &mr, &err), LAIR_OK);
    assert_string_equal(err.text, "");
    assert_false(mr.keys_carried);
    assert_true(mr.keys_reissued);
    assert_int_equal(sysdb_key_check(b.sys, str_c(key_text), &who), LAIR_EAUTH);
    assert_int_equal(sysdb_key_check(b.sys, str_c(mr.new_key), &who), LAIR_OK);
    assert_string_equal(who.tenant, "ville-a");
    assert_int_equal(who.role, ROLE_ADMIN);
    struct tenant_row moved;
    assert_int_equal(sysdb_tenant_get(b.sys, "ville-a", &moved), LAIR_OK);
    assert_string_equal(moved.allowed_models, "stories,mistral-small");
    assert_int_equal(moved.rpm_limit, 7);
    assert_int_equal(moved.retention_days, 30);
    assert_string_equal(moved.name, "Ville A");
    /* members (bob still removed) and rules came over, ids kept */
    assert_true(mr.people);
    assert_false(mr.members_taken);
    assert_int_equal(people_rows(&b, "members", "ville-a"), 2);
    assert_int_equal(people_rows(&b, "access_rules", "ville-a"), 2);
    struct member_row mrow;
    assert_int_equal(people_member_get(b.sys, "ville-a", alice, &mrow), LAIR_OK);
    assert_int_equal(mrow.role, ROLE_ADMIN);
    assert_int_equal(member_removed(&b, bob), 1);
    tenant_db_put(b.db);
    assert_int_equal(tenants_get(b.tenants, "ville-a", &b.db), LAIR_OK);
    assert_true(conv_exists(b.db, conv));
    audit_ok(&b);
    /* the same tenant again: refused; under another slug: resealed for it */
    assert_int_equal(move_import(b.data, file, NULL, NULL, &mr, &err), LAIR_ECONFLICT);
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, file, "ville-a-copie", NULL, &mr, &err), LAIR_OK);
    /* the member ids are taken by ville-a: no member, the rules still */
    assert_true(mr.members_taken);
    assert_int_equal(people_rows(&b, "members", "ville-a-copie"), 0);
    assert_int_equal(people_rows(&b, "access_rules", "ville-a-copie"), 2);
    tenant_db_put(b.db);
    assert_int_equal(tenants_get(b.tenants, "ville-a-copie", &b.db), LAIR_OK);
    assert_true(conv_exists(b.db, conv));
    audit_ok(&b);
    /* a wrong checksum, and a damaged archive, are refused */
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, file, "x1", "00", &mr, &err), LAIR_ECHECKSUM);
    char damaged[128], cmd[400];
    at(damaged, sizeof(damaged), "damaged.tar");
    snprintf(cmd, sizeof(cmd), "cp %s %s", file, damaged);
    assert_int_equal(system(cmd), 0);
    flip_byte(damaged, 16384); /* inside tenant.db, past keys.json and people.json */
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, damaged, "x2", NULL, &mr, &err), LAIR_ECHECKSUM);
    struct tenant_row row;
    assert_int_equal(sysdb_tenant_get(b.sys, "x2", &row), LAIR_ENOTFOUND);
    snprintf(path, sizeof(path), "%s/tenants/x2", b.data);
    assert_int_equal(access(path, F_OK), -1);
    env_close(&b);

    /* a server that shares the pepper (here: a restored backup of A whose
     * tenant was deleted): the keys are carried and work */
    char bk[128], c[128];
    at(bk, sizeof(bk), "bk-a");
    at(c, sizeof(c), "srv-c");
    struct backup_report br;
    assert_int_equal(backup_create(a.data, bk, &br, &err), LAIR_OK);
    env_close(&a);
    struct restore_opts o = {.from = bk, .to = c, .no_replay = true};
    struct restore_report rr;
    int notes = 0;
    assert_int_equal(backup_restore(&o, note_quiet, &notes, &rr, &err), LAIR_OK);
    struct env cc;
    env_open(&cc, "srv-c", NULL);
    assert_int_equal(tenants_delete(cc.tenants, "ville-a"), LAIR_OK);
    assert_int_equal(sysdb_key_check(cc.sys, str_c(key_text), &who), LAIR_EAUTH);
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(cc.data, file, NULL, NULL, &mr, &err), LAIR_OK);
    assert_true(mr.keys_carried);
    assert_false(mr.keys_reissued);
    assert_int_equal(sysdb_key_check(cc.sys, str_c(key_text), &who), LAIR_OK);
    assert_string_equal(who.tenant, "ville-a");
    assert_int_equal(tenants_get(cc.tenants, "ville-a", &cc.db), LAIR_OK);
    audit_ok(&cc);
    env_close(&cc);
    sodium_memzero(key_text, sizeof(key_text));
}

/* ---- hostile archives ---- */

/* Unpacks the tenant archive src into dir, lets edit change the files and
 * the manifest, and packs it again into dst with every checksum of the
 * manifest brought up to date, plus a member named extra (when set) that
 * the manifest lists: what someone rewriting an archive would do. */
static void repack(const char *src, const char *dir, const char *dst,
                   void (*edit)(const char *dir, json_t *m), const char *extra)
{
    assert_int_equal(ops_mkdirs(dir), LAIR_OK);
    struct tar_reader r;
    char name[TAR_NAME_MAX], path[400], parent[400], hex[OPS_SHA256_HEX];
    uint64_t size;
    json_t *m = NULL;
    assert_int_equal(tar_read_open(&r, src), LAIR_OK);
    while (tar_read_next(&r, name, &size) == LAIR_OK) {
        if (!strcmp(name, "manifest.json")) {
            char *text;
            size_t n;
            assert_int_equal(tar_read_bytes(&r, 1 << 20, &text, &n), LAIR_OK);
            m = json_loadb(text, n, 0, NULL);
            free(text);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, name);
        ops_parent(path, parent, sizeof(parent));
        assert_int_equal(ops_mkdirs(parent), LAIR_OK);
        assert_int_equal(tar_read_extract(&r, path, hex), LAIR_OK);
    }
    tar_read_close(&r);
    assert_non_null(m);
    if (edit)
        edit(dir, m);
    json_t *files = json_object_get(m, "files"), *f;
    size_t i;
    json_array_foreach(files, i, f)
    {
        snprintf(path, sizeof(path), "%s/%s", dir, json_string_value(json_object_get(f, "path")));
        assert_int_equal(ops_file_sha256(path, hex, &size), LAIR_OK);
        json_object_set_new(f, "sha256", json_string(hex));
        json_object_set_new(f, "size", json_integer((json_int_t)size));
    }
    if (extra) {
        struct ops_sha256 h;
        ops_sha256_init(&h);
        ops_sha256_update(&h, "x", 1);
        ops_sha256_final(&h, hex);
        json_array_append_new(
            files, json_pack("{s:s, s:i, s:s}", "path", extra, "size", 1, "sha256", hex));
    }
    char *text = json_dumps(m, 0);
    struct tar_writer w;
    assert_int_equal(tar_write_open(&w, dst), LAIR_OK);
    assert_int_equal(tar_write_bytes(&w, "manifest.json", text, strlen(text)), LAIR_OK);
    json_array_foreach(files, i, f)
    {
        const char *p = json_string_value(json_object_get(f, "path"));
        if (extra && !strcmp(p, extra)) {
            assert_int_equal(tar_write_bytes(&w, p, "x", 1), LAIR_OK);
            continue;
        }
        snprintf(path, sizeof(path), "%s/%s", dir, p);
        assert_int_equal(tar_write_file(&w, p, path), LAIR_OK);
    }
    assert_int_equal(tar_write_finish(&w, hex), LAIR_OK);
    free(text);
    json_decref(m);
}

static void edit_models(const char *dir, json_t *m)
{
    (void)dir;
    json_object_set_new(json_object_get(m, "tenant"), "allowed_models", json_string("a,,b"));
}

/* An audit event rewritten in the copy (its detail), the manifest's
 * checksums recomputed: the chain no longer verifies up to the head. */
static void edit_audit(const char *dir, json_t *m)
{
    (void)m;
    char path[400];
    snprintf(path, sizeof(path), "%s/tenant.db", dir);
    sqlite3 *c;
    assert_int_equal(snapshot_open(path, true, &c), LAIR_OK);
    assert_int_equal(
        sqlite3_exec(c, "UPDATE audit SET detail = 'rewritten' WHERE seq = 1", NULL, NULL, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_changes(c), 1);
    snapshot_close(c);
}

/* people.json rewritten: a member's role that does not exist. */
static void edit_people(const char *dir, json_t *m)
{
    (void)m;
    char path[400];
    snprintf(path, sizeof(path), "%s/people.json", dir);
    json_t *p = json_load_file(path, 0, NULL);
    assert_non_null(p);
    json_object_set_new(json_array_get(json_object_get(p, "members"), 0), "role",
                        json_string("owner"));
    assert_int_equal(json_dump_file(p, path, 0), 0);
    json_decref(p);
}

/* An archive written before people.json existed. */
static void drop_people(const char *dir, json_t *m)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/people.json", dir);
    assert_int_equal(unlink(path), 0);
    json_t *files = json_object_get(m, "files"), *f;
    size_t i;
    json_array_foreach(files, i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "path")), "people.json")) {
            json_array_remove(files, i);
            return;
        }
    }
    fail_msg("people.json is not in the manifest");
}

/* Each refused import leaves no tenant, no directory and no file behind. */
static void refused(struct env *b, const char *file, const char *slug, const char *why)
{
    struct ops_error err = {{0}};
    struct move_report mr;
    char path[300];
    assert_int_equal(move_import(b->data, file, slug, NULL, &mr, &err), LAIR_ECHECKSUM);
    if (!strstr(err.text, why))
        fprintf(stderr, "import refused, but: %s\n", err.text);
    assert_non_null(strstr(err.text, why));
    struct tenant_row row;
    assert_int_equal(sysdb_tenant_get(b->sys, slug, &row), LAIR_ENOTFOUND);
    snprintf(path, sizeof(path), "%s/tenants/%s", b->data, slug);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "%s/tenants/evil", b->data);
    assert_int_equal(access(path, F_OK), -1);
    snprintf(path, sizeof(path), "test \"$(ls -A %s/tenants | wc -l)\" = 1", b->data);
    assert_int_equal(system(path), 0); /* only the tenant that was there: no stage left */
}

static void test_import_hostile(void **state)
{
    (void)state;
    struct env a;
    env_create(&a, "hostile-a", "ville-a");
    make_conv(a.db, "habitant-1", "bonjour", NULL);
    char alice[MEMBER_ID_LEN + 1], bob[MEMBER_ID_LEN + 1];
    make_people(&a, "ville-a", alice, bob);
    audit_event(&a, "test.one");
    audit_event(&a, "test.two");
    char file[128], dir[128], bad[128];
    at(file, sizeof(file), "hostile.tar");
    struct ops_error err = {{0}};
    struct move_report mr;
    assert_int_equal(move_export(a.data, "ville-a", file, &mr, &err), LAIR_OK);
    env_close(&a);
    struct env b;
    env_create(&b, "hostile-b", "autre");

    /* a member that climbs out of the tenant's folder */
    at(dir, sizeof(dir), "hostile-1");
    at(bad, sizeof(bad), "climb.tar");
    repack(file, dir, bad, NULL, "../evil");
    refused(&b, bad, "t1", "is not one a tenant export writes");
    /* a member the export never writes, consistent with the manifest */
    at(dir, sizeof(dir), "hostile-2");
    at(bad, sizeof(bad), "wal.tar");
    repack(file, dir, bad, NULL, "tenant.db-wal");
    refused(&b, bad, "t2", "is not one a tenant export writes");
    /* malformed settings */
    at(dir, sizeof(dir), "hostile-3");
    at(bad, sizeof(bad), "models.tar");
    repack(file, dir, bad, edit_models, NULL);
    refused(&b, bad, "t3", "settings");
    /* a rewritten audit event, every checksum of the manifest recomputed */
    at(dir, sizeof(dir), "hostile-4");
    at(bad, sizeof(bad), "audit.tar");
    repack(file, dir, bad, edit_audit, NULL);
    refused(&b, bad, "t4", "audit");
    /* people.json rewritten (a role that does not exist): refused, and no
     * member or rule of it stays behind */
    at(dir, sizeof(dir), "hostile-6");
    at(bad, sizeof(bad), "people.tar");
    repack(file, dir, bad, edit_people, NULL);
    refused(&b, bad, "t6", "people.json is malformed");
    assert_int_equal(member_removed(&b, alice), -1);
    assert_int_equal(people_rows(&b, "access_rules", "t6"), 0);
    /* an archive without people.json (written before it existed) is taken */
    at(dir, sizeof(dir), "hostile-7");
    at(bad, sizeof(bad), "old.tar");
    repack(file, dir, bad, drop_people, NULL);
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, bad, "t7", NULL, &mr, &err), LAIR_OK);
    assert_false(mr.people);
    assert_int_equal(people_rows(&b, "members", "t7"), 0);
    /* the untouched archive, repacked the same way, is taken */
    at(dir, sizeof(dir), "hostile-5");
    at(bad, sizeof(bad), "same.tar");
    repack(file, dir, bad, NULL, NULL);
    memset(&err, 0, sizeof(err));
    assert_int_equal(move_import(b.data, bad, "t5", NULL, &mr, &err), LAIR_OK);
    env_close(&b);
}

/* ---- the register says how long backups are kept ---- */

static void test_register_backups(void **state)
{
    (void)state;
    json_t *spec = json_loads("{\"slug\":\"conte\",\"name\":\"Conte\",\"instructions\":\"Raconte."
                              "\",\"model\":\"default\"}",
                              0, NULL);
    struct assistant a;
    struct assistant_error aerr;
    assert_int_equal(assistant_parse(spec, NULL, &a, &aerr), LAIR_OK);
    struct gdpr_register_assistant ra = {&a, true};
    struct gdpr_register_in in = {.tenant = "ville-a", .assistants = &ra, .n = 1};
    for (int declared = 0; declared < 2; declared++) {
        in.backup_retention_days = declared ? 35 : 0;
        json_t *reg = gdpr_register_json(&in);
        assert_non_null(reg);
        json_t *bk =
            json_object_get(json_array_get(json_object_get(reg, "processings"), 0), "backups");
        const char *text = json_string_value(json_object_get(bk, "text"));
        assert_non_null(text);
        assert_non_null(strstr(text, "rejoués"));
        assert_non_null(strstr(text, declared ? "35 jours" : "à compléter"));
        struct buf md;
        buf_init(&md, 0);
        assert_int_equal(gdpr_register_markdown(reg, &md), LAIR_OK);
        assert_non_null(strstr(md.ptr, "| Sauvegardes | "));
        buf_release(&md);
        json_decref(reg);
    }
    assistant_release(&a);
    json_decref(spec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal),
        cmocka_unit_test(test_tar),
        cmocka_unit_test(test_relpath),
        cmocka_unit_test(test_backup_restore),
        cmocka_unit_test(test_erasure_replay),
        cmocka_unit_test(test_pending_in_backup),
        cmocka_unit_test(test_people_import),
        cmocka_unit_test(test_move),
        cmocka_unit_test(test_import_hostile),
        cmocka_unit_test(test_register_backups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
