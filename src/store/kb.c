/* Knowledge bases, documents, chunks, the full-text index and ingestion
 * jobs in the tenant database. See kb.h; schema v2 in tenant.c. */
#include "store/kb.h"
#include "store/vcache.h"
#include "store/kb_int.h"

#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"
#include "rag/analyzer.h"
#include "rag/fts.h"
#include "rag/synonyms.h"
#include "core/banned.h"

/* ---- helpers ---- */

/* The statements of one batch (kb_batch_begin, kb_job_commit), each
 * prepared once for the whole batch rather than once per document: parsing
 * SQL was a fifth of an ingestion's time. Keyed by the SQL text's address
 * (a literal at its call site); one in use is prepared afresh for a nested
 * use. Only the thread that runs the batch sees it. So a statement from
 * kbi_prep() is always let go with kbi_finalize(), never sqlite3_finalize(). */
#define STMT_CACHE_MAX 48
struct stmt_cache {
    sqlite3 *h;
    size_t n;
    struct cached_stmt {
        const char *sql;
        sqlite3_stmt *st;
        bool busy;
    } e[STMT_CACHE_MAX];
};
static _Thread_local struct stmt_cache *stmt_cache;

static void stmt_cache_release(struct stmt_cache *c)
{
    for (size_t i = 0; i < c->n; i++)
        sqlite3_finalize(c->e[i].st);
    c->n = 0;
}

void kb_batch_begin(struct tenant_db *db)
{
    if (stmt_cache)
        return;
    stmt_cache = calloc(1, sizeof(*stmt_cache));
    if (stmt_cache)
        stmt_cache->h = tenant_db_handle(db);
}

void kb_batch_end(void)
{
    if (!stmt_cache)
        return;
    stmt_cache_release(stmt_cache);
    free(stmt_cache);
    stmt_cache = NULL;
}

enum lair_err kbi_prep(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    struct stmt_cache *c = stmt_cache && stmt_cache->h == db ? stmt_cache : NULL;
    for (size_t i = 0; c && i < c->n; i++) {
        if (c->e[i].sql == sql && !c->e[i].busy) {
            c->e[i].busy = true;
            *st = c->e[i].st;
            return LAIR_OK;
        }
    }
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        log_error("kb", "prepare: %s", sqlite3_errmsg(db));
        *st = NULL;
        return LAIR_EDB;
    }
    if (c && c->n < STMT_CACHE_MAX)
        c->e[c->n++] = (struct cached_stmt){sql, *st, true};
    return LAIR_OK;
}

/* sqlite3_finalize, or back to the batch's cache (reset, unbound). */
void kbi_finalize(sqlite3_stmt *st)
{
    struct stmt_cache *c = stmt_cache;
    for (size_t i = 0; c && st && i < c->n; i++) {
        if (c->e[i].st == st) {
            sqlite3_reset(st);
            sqlite3_clear_bindings(st);
            c->e[i].busy = false;
            return;
        }
    }
    sqlite3_finalize(st);
}

/* Steps a statement that returns no row and finalizes it. A full disk is
 * LAIR_ESTORAGE (db_err), which callers treat as transient. */
static enum lair_err run(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum lair_err e = db_err(db, rc);
    if (e)
        log_error("kb", "step: %s", sqlite3_errmsg(db));
    kbi_finalize(st);
    return e;
}

static enum lair_err exec(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(db, sql, &st);
    return e ? e : run(db, st);
}

int64_t kbi_now(void)
{
    return (int64_t)time(NULL);
}

const char *kbi_col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* A display name: UTF-8, 1..max bytes, no control character. */
static bool name_ok(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > max || !utf8_valid(s, n))
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* Rebuilds the FTS5 index into one segment, dropping the entries of deleted
 * rows that its older segments still hold. */
static enum lair_err purge_index(sqlite3 *db)
{
    return exec(db, "INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')");
}

/* After a deletion: moves the write-ahead log into the database file (where
 * secure_delete has zeroed the freed pages) and truncates it. Best effort:
 * a busy reader only delays it to a later checkpoint. */
static void checkpoint(sqlite3 *db)
{
    int rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    if (rc != SQLITE_OK)
        log_warn("kb", "checkpoint after a deletion deferred: %s", sqlite3_errstr(rc));
}

/* After a deletion in this process: the vector snapshots of the tenant's
 * searches leave memory at once rather than at the next search (deleted
 * means gone, docs/gdpr.md). Another process's deletions are seen by the
 * next search, which reads the base's vector generation first. */
static void forget_vectors(struct tenant_db *db)
{
    vcache_forget(tenant_db_vectors(db), db);
}

/* ---- knowledge bases ---- */

void kb_dir(struct tenant_db *db, const char *slug, char *out, size_t n)
{
    snprintf(out, n, "%s/kb/%s", tenant_db_dir(db), slug);
}

enum lair_err kb_create(struct tenant_db *db, const char *slug, const char *name)
{
    if (!slug || strlen(slug) > SLUG_MAX || !slug_valid(str_c(slug)))
        return LAIR_EINVAL;
    if (!name || !*name)
        name = slug;
    if (!name_ok(name, KB_NAME_MAX))
        return LAIR_EINVAL;
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(
        h, "INSERT INTO knowledge_bases (slug, name, created_at) VALUES (?1, ?2, ?3)", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, kbi_now());
    int rc = sqlite3_step(st);
    enum lair_err e2 = rc == SQLITE_CONSTRAINT ? LAIR_ECONFLICT : db_err(h, rc);
    kbi_finalize(st);
    return e2;
}

#define KB_SELECT                                                                                  \
    "SELECT k.id, k.slug, k.name, k.created_at,"                                                   \
    " (SELECT count(*) FROM documents d WHERE d.kb = k.slug),"                                     \
    " (SELECT count(*) FROM chunks c WHERE c.kb = k.slug) FROM knowledge_bases k"

static void kb_row(sqlite3_stmt *st, struct kb_info *out)
{
    out->id = sqlite3_column_int64(st, 0);
    copy_str(out->slug, sizeof(out->slug), kbi_col_text(st, 1));
    copy_str(out->name, sizeof(out->name), kbi_col_text(st, 2));
    out->created_at = sqlite3_column_int64(st, 3);
    out->documents = sqlite3_column_int64(st, 4);
    out->chunks = sqlite3_column_int64(st, 5);
}

/* LAIR_OK when the knowledge base exists, else LAIR_ENOTFOUND. */
enum lair_err kbi_find_h(sqlite3 *h, const char *slug)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "SELECT 1 FROM knowledge_bases WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug ? slug : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    kbi_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err kb_find(struct tenant_db *db, const char *slug, struct kb_info *out)
{
    if (!out)
        return kbi_find_h(tenant_db_handle(db), slug);
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db), KB_SELECT " WHERE k.slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, slug ? slug : "", -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        kb_row(st, out);
    kbi_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err kb_list(struct tenant_db *db, void (*fn)(void *arg, const struct kb_info *kb),
                      void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db), KB_SELECT " ORDER BY k.slug", &st);
    if (e)
        return e;
    int rc;
    struct kb_info row;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        kb_row(st, &row);
        fn(arg, &row);
    }
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    if (remove(path) != 0 && errno != ENOENT)
        log_warn("kb", "cannot remove a file of a deleted knowledge base: %s", strerror(errno));
    return 0;
}

static enum lair_err delete_kb_tx(sqlite3 *h, void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "DELETE FROM knowledge_bases WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, arg, -1, SQLITE_STATIC);
    if ((e = run(h, st)))
        return e;
    if (sqlite3_changes(h) == 0)
        return LAIR_ENOTFOUND;
    return purge_index(h);
}

enum lair_err kb_delete(struct tenant_db *db, const char *slug)
{
    if (!slug || !slug_valid(str_c(slug)))
        return LAIR_ENOTFOUND;
    /* The folder is moved aside first, so that a base created again under
     * the same slug right after the commit cannot lose its new files to the
     * removal; a crash leaves a KB_DELETED_PREFIX folder that the ingestion
     * worker removes at start. */
    char dir[4400], aside[4500];
    kb_dir(db, slug, dir, sizeof(dir));
    snprintf(aside, sizeof(aside), "%s/kb/" KB_DELETED_PREFIX "%s-%lld", tenant_db_dir(db), slug,
             (long long)kbi_now());
    bool moved = rename(dir, aside) == 0;
    /* documents, chunks (and through the triggers their index entries),
     * chunk_refs, jobs and job_files go by ON DELETE CASCADE */
    enum lair_err e = tenant_db_tx(db, delete_kb_tx, (void *)slug);
    if (e) {
        if (moved && rename(aside, dir) != 0)
            log_error("kb", "cannot move the folder of a knowledge base back: %s", strerror(errno));
        return e;
    }
    checkpoint(tenant_db_handle(db));
    forget_vectors(db);
    if (moved)
        kb_remove_tree(aside);
    return LAIR_OK;
}

void kb_remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- documents ---- */

enum lair_err kb_documents_list(struct tenant_db *db, const char *kb,
                                void (*fn)(void *arg, const struct kb_document *d), void *arg)
{
    enum lair_err e = kb_find(db, kb, NULL);
    if (e)
        return e;
    sqlite3_stmt *st;
    e = kbi_prep(tenant_db_handle(db),
                 "SELECT d.id, d.name, d.sha256, d.format, d.title, d.size, d.pages,"
                 " (SELECT count(*) FROM chunks c WHERE c.document_id = d.id)"
                 " + (SELECT count(*) FROM chunk_refs r WHERE r.document_id = d.id),"
                 " d.created_at, d.updated_at FROM documents d WHERE d.kb = ?1 ORDER BY d.name",
                 &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, kb, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct kb_document d = {
            .id = sqlite3_column_int64(st, 0),
            .name = kbi_col_text(st, 1),
            .sha256 = kbi_col_text(st, 2),
            .format = kbi_col_text(st, 3),
            .title = (const char *)sqlite3_column_text(st, 4),
            .size = sqlite3_column_int64(st, 5),
            .pages = sqlite3_column_int(st, 6),
            .chunks = sqlite3_column_int64(st, 7),
            .created_at = sqlite3_column_int64(st, 8),
            .updated_at = sqlite3_column_int64(st, 9),
        };
        fn(arg, &d);
    }
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err kb_document_headings(struct tenant_db *db, int64_t id,
                                   void (*fn)(void *arg, const char *heading_path), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(tenant_db_handle(db),
                               "SELECT heading_path FROM (SELECT heading_path, seq FROM chunks"
                               " WHERE document_id = ?1 UNION ALL SELECT c.heading_path, r.seq"
                               " FROM chunk_refs r JOIN chunks c ON c.id = r.chunk_id"
                               " WHERE r.document_id = ?1) WHERE heading_path <> ''"
                               " GROUP BY heading_path ORDER BY min(seq)",
                               &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, kbi_col_text(st, 0));
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

enum lair_err kb_document_opening(struct tenant_db *db, int64_t id, char *out, size_t cap)
{
    sqlite3_stmt *st;
    out[0] = 0;
    enum lair_err e =
        kbi_prep(tenant_db_handle(db),
                 "SELECT text FROM (SELECT text, seq FROM chunks WHERE document_id = ?1"
                 " UNION ALL SELECT c.text, r.seq FROM chunk_refs r"
                 " JOIN chunks c ON c.id = r.chunk_id WHERE r.document_id = ?1)"
                 " ORDER BY seq LIMIT 1",
                 &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *t = kbi_col_text(st, 0);
        size_t n = utf8_complete_prefix(t, strlen(t) < cap ? strlen(t) : cap - 1);
        memcpy(out, t, n);
        out[n] = 0;
    }
    kbi_finalize(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

static enum lair_err lookup(sqlite3 *h, const char *kb, const char *name, int64_t *id,
                            char sha256[65])
{
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(h, "SELECT id, sha256 FROM documents WHERE kb = ?1 AND name = ?2", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, kb, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(st, 0);
        if (sha256)
            copy_str(sha256, 65, kbi_col_text(st, 1));
    }
    kbi_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

enum lair_err kb_document_lookup(struct tenant_db *db, const char *kb, const char *name,
                                 int64_t *id, char sha256[65])
{
    return lookup(tenant_db_handle(db), kb, name, id, sha256);
}

/* The statements that move or remove the chunks a document drops. */
struct dropper {
    sqlite3 *h;
    sqlite3_stmt *heir, *move, *unref, *del;
};

static enum lair_err dropper_init(struct dropper *d, sqlite3 *h)
{
    *d = (struct dropper){.h = h};
    enum lair_err e = kbi_prep(h,
                               "SELECT document_id, seq, page FROM chunk_refs WHERE chunk_id = ?1"
                               " ORDER BY document_id LIMIT 1",
                               &d->heir);
    if (!e)
        e = kbi_prep(h, "UPDATE chunks SET document_id = ?2, seq = ?3, page = ?4 WHERE id = ?1",
                     &d->move);
    if (!e)
        e = kbi_prep(h, "DELETE FROM chunk_refs WHERE chunk_id = ?1 AND document_id = ?2",
                     &d->unref);
    if (!e)
        e = kbi_prep(h, "DELETE FROM chunks WHERE id = ?1", &d->del);
    return e;
}

static void dropper_release(struct dropper *d)
{
    kbi_finalize(d->heir);
    kbi_finalize(d->move);
    kbi_finalize(d->unref);
    kbi_finalize(d->del);
}

static enum lair_err step_reset(sqlite3 *h, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    enum lair_err e = db_err(h, rc);
    if (e)
        log_error("kb", "step: %s", sqlite3_errmsg(h));
    sqlite3_reset(st);
    return e;
}

/* Chunk id leaves its owner: another document that holds the same chunk
 * takes it over, or it is deleted (and leaves the index, by trigger). */
static enum lair_err drop_chunk(struct dropper *d, int64_t id)
{
    sqlite3_bind_int64(d->heir, 1, id);
    int rc = sqlite3_step(d->heir);
    if (rc == SQLITE_ROW) {
        int64_t doc = sqlite3_column_int64(d->heir, 0);
        sqlite3_bind_int64(d->move, 1, id);
        sqlite3_bind_int64(d->move, 2, doc);
        sqlite3_bind_int64(d->move, 3, sqlite3_column_int64(d->heir, 1));
        sqlite3_bind_int64(d->move, 4, sqlite3_column_int64(d->heir, 2));
        sqlite3_reset(d->heir);
        sqlite3_bind_int64(d->unref, 1, id);
        sqlite3_bind_int64(d->unref, 2, doc);
        enum lair_err e = step_reset(d->h, d->move);
        return e ? e : step_reset(d->h, d->unref);
    }
    sqlite3_reset(d->heir);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    sqlite3_bind_int64(d->del, 1, id);
    return step_reset(d->h, d->del);
}

static enum lair_err unref_document(sqlite3 *h, int64_t doc)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "DELETE FROM chunk_refs WHERE document_id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, doc);
    return run(h, st);
}

/* The ids and hashes of the chunks doc owns. OUT: OWNED arrays. */
static enum lair_err owned_chunks(sqlite3 *h, int64_t doc, int64_t **ids,
                                  unsigned char (**hashes)[KB_HASH_BYTES], size_t *n)
{
    *ids = NULL;
    *hashes = NULL;
    *n = 0;
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "SELECT id, hash FROM chunks WHERE document_id = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, doc);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            int64_t *ni = realloc(*ids, cap * sizeof(**ids));
            if (ni)
                *ids = ni;
            unsigned char(*nh)[KB_HASH_BYTES] = realloc(*hashes, cap * sizeof(**hashes));
            if (nh)
                *hashes = nh;
            if (!ni || !nh) {
                e = LAIR_ENOMEM;
                break;
            }
        }
        (*ids)[*n] = sqlite3_column_int64(st, 0);
        memset((*hashes)[*n], 0, KB_HASH_BYTES);
        if (sqlite3_column_bytes(st, 1) == KB_HASH_BYTES)
            memcpy((*hashes)[*n], sqlite3_column_blob(st, 1), KB_HASH_BYTES);
        (*n)++;
    }
    kbi_finalize(st);
    if (!e && rc != SQLITE_DONE)
        e = LAIR_EDB;
    if (e) {
        free(*ids);
        free(*hashes);
        *ids = NULL;
        *hashes = NULL;
        *n = 0;
    }
    return e;
}

static int cmp_hash(const void *a, const void *b)
{
    return memcmp(a, b, KB_HASH_BYTES);
}

struct chunk_stmts {
    sqlite3_stmt *find, *keep, *vec, *ref, *insert;
};

struct fts_range {
    int64_t from, to;
};

struct put_ctx {
    const char *kb;
    const struct kb_doc_in *d;
    const struct kb_chunk_in *chunks;
    size_t n;
    const char *model;
    int dim;
    int64_t job_id;
    int seq;
    struct kb_put_result *out;
    bool *dup; /* [n]: an earlier chunk of the document has the same hash */
    unsigned char (*sorted)[KB_HASH_BYTES]; /* the new chunks' hashes, sorted */
    struct chunk_stmts *stmts; /* prepared once for a batch (kb_job_commit); NULL: per call */
    /* kb_job_commit: the batch's new chunks, ids [from, to), that the
     * full-text index does not have yet (fts_add, once for the batch); NULL:
     * each put indexes its own */
    struct fts_range *later;
};

/* Indexes the chunks of ids [from, to) (new ones: the index has none of
 * them) in one statement: FTS5 turns its pending terms into a segment at
 * each statement that opens a savepoint, so one statement per transaction
 * makes one segment where a row at a time made one per chunk. */
static enum lair_err fts_add(sqlite3 *h, int64_t from, int64_t to)
{
    if (from >= to)
        return LAIR_OK;
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h,
                               "INSERT INTO chunks_fts(rowid, text, heading_path)"
                               " SELECT id, text, heading_path FROM chunks"
                               " WHERE id >= ?1 AND id < ?2",
                               &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, from);
    sqlite3_bind_int64(st, 2, to);
    return run(h, st);
}

/* Marks the job's file done (state) in the transaction; LAIR_ECONFLICT when
 * it is no longer pending. */
static enum lair_err job_file_done(sqlite3 *h, int64_t job, int seq, const char *state,
                                   const char *error, int64_t doc, bool purge)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h,
                               "UPDATE job_files SET state = ?3, error = ?4, document_id = ?5,"
                               " attempts = abs(attempts)" /* -1: started once, with others */
                               " WHERE job_id = ?1 AND seq = ?2 AND state = 'pending'",
                               &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int(st, 2, seq);
    sqlite3_bind_text(st, 3, state, -1, SQLITE_STATIC);
    if (error)
        sqlite3_bind_text(st, 4, error, -1, SQLITE_STATIC);
    if (doc > 0)
        sqlite3_bind_int64(st, 5, doc);
    if ((e = run(h, st)))
        return e;
    if (sqlite3_changes(h) == 0)
        return LAIR_ECONFLICT;
    if ((e = kbi_prep(h,
                      "UPDATE jobs SET done = done + 1, updated_at = ?2, purge = purge OR ?3"
                      " WHERE id = ?1",
                      &st)))
        return e;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int64(st, 2, kbi_now());
    sqlite3_bind_int(st, 3, purge);
    return run(h, st);
}

/* The document row: the existing one updated, or a new one. */
static enum lair_err upsert_document(sqlite3 *h, struct put_ctx *c, int64_t *doc)
{
    const struct kb_doc_in *d = c->d;
    sqlite3_stmt *st;
    enum lair_err e;
    if (*doc > 0) {
        e = kbi_prep(h,
                     "UPDATE documents SET sha256 = ?2, size = ?3, format = ?4, title = ?5,"
                     " pages = ?6, updated_at = ?7 WHERE id = ?1",
                     &st);
        if (e)
            return e;
        sqlite3_bind_int64(st, 1, *doc);
    } else {
        e = kbi_prep(h,
                     "INSERT INTO documents (kb, name, sha256, size, format, title, pages,"
                     " created_at, updated_at) VALUES (?8, ?9, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
                     &st);
        if (e)
            return e;
        sqlite3_bind_text(st, 8, c->kb, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 9, d->name, -1, SQLITE_STATIC);
    }
    sqlite3_bind_text(st, 2, d->sha256, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, d->size);
    sqlite3_bind_text(st, 4, d->format ? d->format : "unknown", -1, SQLITE_STATIC);
    if (d->title && *d->title)
        sqlite3_bind_text(st, 5, d->title, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, d->pages);
    sqlite3_bind_int64(st, 7, kbi_now());
    if ((e = run(h, st)))
        return e;
    if (*doc <= 0)
        *doc = sqlite3_last_insert_rowid(h);
    return LAIR_OK;
}

/* Drops the chunks of the earlier version that the new one does not have. */
static enum lair_err drop_old(sqlite3 *h, struct put_ctx *c, int64_t doc)
{
    int64_t *ids;
    unsigned char(*hashes)[KB_HASH_BYTES];
    size_t n;
    enum lair_err e = owned_chunks(h, doc, &ids, &hashes, &n);
    if (e)
        return e;
    struct dropper dr;
    if (n && !(e = dropper_init(&dr, h))) {
        for (size_t i = 0; i < n && !e; i++) {
            if (c->n && bsearch(hashes[i], c->sorted, c->n, KB_HASH_BYTES, cmp_hash))
                continue;
            e = drop_chunk(&dr, ids[i]);
            c->out->removed++;
        }
    }
    if (n)
        dropper_release(&dr);
    free(ids);
    free(hashes);
    return e;
}

static enum lair_err chunk_stmts_init(sqlite3 *h, struct chunk_stmts *s)
{
    *s = (struct chunk_stmts){0};
    enum lair_err e = kbi_prep(
        h, "SELECT id, document_id, embed_model FROM chunks WHERE kb = ?1 AND hash = ?2", &s->find);
    if (!e)
        e = kbi_prep(h, "UPDATE chunks SET seq = ?2, page = ?3 WHERE id = ?1", &s->keep);
    if (!e)
        e = kbi_prep(h, "UPDATE chunks SET embedding = ?2, embed_model = ?3 WHERE id = ?1",
                     &s->vec);
    if (!e)
        e = kbi_prep(h,
                     "INSERT OR IGNORE INTO chunk_refs (chunk_id, document_id, seq, page)"
                     " VALUES (?1, ?2, ?3, ?4)",
                     &s->ref);
    if (!e)
        e = kbi_prep(
            h,
            "INSERT INTO chunks (id, document_id, kb, seq, text, heading_path, page, tokens,"
            " hash, embedding, embed_model) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10,"
            " ?11)",
            &s->insert);
    return e;
}

static void chunk_stmts_release(struct chunk_stmts *s)
{
    kbi_finalize(s->find);
    kbi_finalize(s->keep);
    kbi_finalize(s->vec);
    kbi_finalize(s->ref);
    kbi_finalize(s->insert);
}

static void bind_vector(sqlite3_stmt *st, int col, const struct put_ctx *c,
                        const struct kb_chunk_in *k)
{
    if (k->embedding && c->model && c->dim > 0) {
        sqlite3_bind_blob(st, col, k->embedding, c->dim * (int)sizeof(float), SQLITE_STATIC);
        sqlite3_bind_text(st, col + 1, c->model, -1, SQLITE_STATIC);
    }
}

/* Stores chunk i of the new version: kept when the document already had
 * it, shared when another document has it, else inserted with id *next. */
static enum lair_err put_chunk(sqlite3 *h, struct put_ctx *c, struct chunk_stmts *s, int64_t doc,
                               int64_t kb_id, int64_t *next, size_t i)
{
    const struct kb_chunk_in *k = &c->chunks[i];
    sqlite3_bind_text(s->find, 1, c->kb, -1, SQLITE_STATIC);
    sqlite3_bind_blob(s->find, 2, k->hash, KB_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(s->find);
    if (rc == SQLITE_ROW) {
        int64_t id = sqlite3_column_int64(s->find, 0), owner = sqlite3_column_int64(s->find, 1);
        const char *model = (const char *)sqlite3_column_text(s->find, 2);
        bool revector = k->embedding && c->model && (!model || strcmp(model, c->model));
        sqlite3_reset(s->find);
        sqlite3_stmt *st = owner == doc ? s->keep : s->ref;
        sqlite3_bind_int64(st, 1, id);
        int col = 2;
        if (owner != doc)
            sqlite3_bind_int64(st, col++, doc);
        sqlite3_bind_int64(st, col++, (int64_t)i);
        sqlite3_bind_int64(st, col, (int64_t)k->page);
        enum lair_err e = step_reset(h, st);
        if (owner == doc)
            c->out->kept++;
        else
            c->out->shared++;
        if (!e && revector) {
            sqlite3_bind_int64(s->vec, 1, id);
            bind_vector(s->vec, 2, c, k);
            e = step_reset(h, s->vec);
            sqlite3_clear_bindings(s->vec);
        }
        return e;
    }
    sqlite3_reset(s->find);
    if (rc != SQLITE_DONE)
        return LAIR_EDB;
    if (*next >= ((int64_t)1 << KB_CHUNK_SHIFT))
        return LAIR_ELIMIT;
    sqlite3_stmt *st = s->insert;
    sqlite3_bind_int64(st, 1, (kb_id << KB_CHUNK_SHIFT) + (*next)++);
    sqlite3_bind_int64(st, 2, doc);
    sqlite3_bind_text(st, 3, c->kb, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)i);
    sqlite3_bind_text(st, 5, k->text.ptr, (int)k->text.len, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, k->heading_path ? k->heading_path : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, (int64_t)k->page);
    sqlite3_bind_int(st, 8, k->tokens);
    sqlite3_bind_blob(st, 9, k->hash, KB_HASH_BYTES, SQLITE_STATIC);
    bind_vector(st, 10, c, k);
    enum lair_err e = step_reset(h, st);
    sqlite3_clear_bindings(st);
    c->out->stored++;
    return e;
}

static enum lair_err put_chunks(sqlite3 *h, struct put_ctx *c, int64_t doc)
{
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(h, "SELECT id, next_chunk FROM knowledge_bases WHERE slug = ?1", &st);
    if (e)
        return e;
    sqlite3_bind_text(st, 1, c->kb, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t kb_id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    int64_t next = rc == SQLITE_ROW ? sqlite3_column_int64(st, 1) : 0;
    kbi_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    int64_t first = (kb_id << KB_CHUNK_SHIFT) + next;
    struct chunk_stmts own, *s = c->stmts;
    if (!s) {
        s = &own;
        e = chunk_stmts_init(h, s);
    }
    for (size_t i = 0; i < c->n && !e; i++)
        if (!c->dup[i])
            e = put_chunk(h, c, s, doc, kb_id, &next, i);
    if (s == &own)
        chunk_stmts_release(s);
    int64_t end = (kb_id << KB_CHUNK_SHIFT) + next;
    if (!e && !c->later)
        e = fts_add(h, first, end);
    if (!e && c->later && end > first) { /* a batch's ids follow one another */
        if (c->later->to <= c->later->from)
            c->later->from = first;
        c->later->to = end;
    }
    if (e)
        return e;
    if ((e = kbi_prep(h, "UPDATE knowledge_bases SET next_chunk = ?2 WHERE id = ?1", &st)))
        return e;
    sqlite3_bind_int64(st, 1, kb_id);
    sqlite3_bind_int64(st, 2, next);
    return run(h, st);
}

static enum lair_err put_tx(sqlite3 *h, void *arg)
{
    struct put_ctx *c = arg;
    struct kb_put_result *out = c->out;
    int64_t doc = 0;
    char sha[65] = "";
    enum lair_err e = lookup(h, c->kb, c->d->name, &doc, sha);
    if (e == LAIR_ENOTFOUND) {
        if ((e = kbi_find_h(h, c->kb)))
            return e;
        doc = 0;
    } else if (e) {
        return e;
    }
    if (doc > 0 && !strcmp(sha, c->d->sha256)) {
        out->document_id = doc;
        out->unchanged = true;
        return c->job_id > 0 ? job_file_done(h, c->job_id, c->seq, "unchanged", NULL, doc, false)
                             : LAIR_OK;
    }
    out->replaced = doc > 0;
    /* a chunk leaves the index with the values it entered with: the
     * batch's must be in before any can be dropped */
    if (out->replaced && c->later && (e = fts_add(h, c->later->from, c->later->to)))
        return e;
    if (out->replaced && c->later)
        *c->later = (struct fts_range){0};
    if ((e = upsert_document(h, c, &doc)) || (e = unref_document(h, doc)) ||
        (out->replaced && (e = drop_old(h, c, doc))) || (e = put_chunks(h, c, doc)))
        return e;
    out->document_id = doc;
    if (c->job_id > 0)
        return job_file_done(h, c->job_id, c->seq, "indexed", NULL, doc, out->removed > 0);
    return out->removed > 0 ? purge_index(h) : LAIR_OK;
}

static bool doc_in_ok(const char *kb, const struct kb_doc_in *d)
{
    return kb && d && d->name && d->sha256 && strlen(d->sha256) == 64 &&
           strlen(d->name) <= KB_DOC_NAME_MAX && *d->name;
}

/* The hashes of c->chunks sorted, and which chunks repeat an earlier one.
 * OUT: c->dup and c->sorted OWNED (put_ctx_release). */
static enum lair_err put_ctx_prepare(struct put_ctx *c)
{
    size_t n = c->n;
    const struct kb_chunk_in *chunks = c->chunks;
    c->dup = calloc(n ? n : 1, sizeof(*c->dup));
    c->sorted = malloc((n ? n : 1) * sizeof(*c->sorted));
    if (!c->dup || !c->sorted) {
        free(c->dup);
        free(c->sorted);
        c->dup = NULL;
        c->sorted = NULL;
        return LAIR_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(c->sorted[i], chunks[i].hash, KB_HASH_BYTES);
    qsort(c->sorted, n, KB_HASH_BYTES, cmp_hash);
    /* a chunk is a duplicate when an earlier chunk of the document has its
     * hash: quadratic only among equal hashes, which are rare */
    for (size_t i = 1; i < n; i++) {
        if (!memcmp(c->sorted[i], c->sorted[i - 1], KB_HASH_BYTES)) {
            size_t first = n;
            for (size_t j = 0; j < n; j++)
                if (!memcmp(chunks[j].hash, c->sorted[i], KB_HASH_BYTES)) {
                    if (first == n)
                        first = j;
                    else
                        c->dup[j] = true;
                }
        }
    }
    return LAIR_OK;
}

static void put_ctx_release(struct put_ctx *c)
{
    free(c->dup);
    free(c->sorted);
    c->dup = NULL;
    c->sorted = NULL;
}

enum lair_err kb_document_put(struct tenant_db *db, const char *kb, const struct kb_doc_in *d,
                              const struct kb_chunk_in *chunks, size_t n, const char *embed_model,
                              int embed_dim, int64_t job_id, int seq, struct kb_put_result *out)
{
    *out = (struct kb_put_result){0};
    if (!doc_in_ok(kb, d))
        return LAIR_EINVAL;
    struct put_ctx c = {.kb = kb,
                        .d = d,
                        .chunks = chunks,
                        .n = n,
                        .model = embed_model,
                        .dim = embed_dim,
                        .job_id = job_id,
                        .seq = seq,
                        .out = out};
    enum lair_err e = put_ctx_prepare(&c);
    if (e)
        return e;
    e = tenant_db_tx(db, put_tx, &c);
    put_ctx_release(&c);
    if (e) {
        struct kb_put_result none = {0};
        *out = none;
    } else if (out->removed > 0) {
        forget_vectors(db);
    }
    return e;
}

struct delete_ctx {
    const char *kb;
    int64_t id;
    char *name;
};

static enum lair_err delete_doc_tx(sqlite3 *h, void *arg)
{
    struct delete_ctx *c = arg;
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h, "SELECT name FROM documents WHERE id = ?1 AND kb = ?2", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_text(st, 2, c->kb, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW && c->name)
        copy_str(c->name, KB_DOC_NAME_MAX + 1, kbi_col_text(st, 0));
    kbi_finalize(st);
    if (rc != SQLITE_ROW)
        return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    if ((e = unref_document(h, c->id)))
        return e;
    int64_t *ids;
    unsigned char(*hashes)[KB_HASH_BYTES];
    size_t n;
    if ((e = owned_chunks(h, c->id, &ids, &hashes, &n)))
        return e;
    struct dropper dr;
    if (!(e = dropper_init(&dr, h)))
        for (size_t i = 0; i < n && !e; i++)
            e = drop_chunk(&dr, ids[i]);
    dropper_release(&dr);
    free(ids);
    free(hashes);
    if (e || (e = kbi_prep(h, "DELETE FROM documents WHERE id = ?1", &st)))
        return e;
    sqlite3_bind_int64(st, 1, c->id);
    if ((e = run(h, st)))
        return e;
    return purge_index(h);
}

enum lair_err kb_document_delete(struct tenant_db *db, const char *kb, int64_t id,
                                 char name[KB_DOC_NAME_MAX + 1])
{
    struct delete_ctx c = {kb, id, name};
    enum lair_err e = tenant_db_tx(db, delete_doc_tx, &c);
    if (!e) {
        checkpoint(tenant_db_handle(db));
        forget_vectors(db);
    }
    return e;
}

bool kb_chunk_embedded(struct tenant_db *db, const char *kb, const unsigned char *hash,
                       const char *model)
{
    sqlite3_stmt *st;
    if (!model || kbi_prep(tenant_db_handle(db),
                           "SELECT 1 FROM chunks WHERE kb = ?1 AND hash = ?2 AND embed_model = ?3"
                           " AND embedding IS NOT NULL",
                           &st))
        return false;
    sqlite3_bind_text(st, 1, kb, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, hash, KB_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, model, -1, SQLITE_STATIC);
    bool found = sqlite3_step(st) == SQLITE_ROW;
    kbi_finalize(st);
    return found;
}

/* ---- jobs ---- */

struct job_create_ctx {
    const char *kb;
    const struct kb_job_file_in *files;
    size_t n;
    const struct kb_job_hook *hook;
    int64_t id;
};

static enum lair_err job_create_tx(sqlite3 *h, void *arg)
{
    struct job_create_ctx *c = arg;
    enum lair_err e = kbi_find_h(h, c->kb);
    sqlite3_stmt *st;
    if (e || (e = kbi_prep(
                  h, "INSERT INTO jobs (kb, total, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
                  &st)))
        return e;
    sqlite3_bind_text(st, 1, c->kb, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (int64_t)c->n);
    sqlite3_bind_int64(st, 3, kbi_now());
    if ((e = run(h, st)))
        return e;
    c->id = sqlite3_last_insert_rowid(h);
    if ((e = kbi_prep(h,
                      "INSERT INTO job_files (job_id, seq, name, path, owned, size, data_offset)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &st)))
        return e;
    for (size_t i = 0; i < c->n && !e; i++) {
        const struct kb_job_file_in *f = &c->files[i];
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_int64(st, 2, (int64_t)i + 1);
        sqlite3_bind_text(st, 3, f->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, f->path, -1, SQLITE_STATIC);
        sqlite3_bind_int(st, 5, f->owned);
        sqlite3_bind_int64(st, 6, f->size);
        sqlite3_bind_int64(st, 7, f->owned ? f->offset : 0);
        e = step_reset(h, st);
    }
    kbi_finalize(st);
    if (!e && c->hook && c->hook->fn)
        e = c->hook->fn(c->hook->arg, h, c->id);
    return e;
}

enum lair_err kb_job_create(struct tenant_db *db, const char *kb,
                            const struct kb_job_file_in *files, size_t n,
                            const struct kb_job_hook *hook, int64_t *job_id)
{
    *job_id = 0;
    if (n == 0)
        return LAIR_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!files[i].name || !*files[i].name || strlen(files[i].name) > KB_DOC_NAME_MAX ||
            !files[i].path || !*files[i].path)
            return LAIR_EINVAL;
    struct job_create_ctx c = {kb, files, n, hook, 0};
    enum lair_err e = tenant_db_tx(db, job_create_tx, &c);
    if (!e)
        *job_id = c.id;
    return e;
}

enum lair_err kb_job_get(struct tenant_db *db, int64_t id, struct kb_job *out)
{
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(tenant_db_handle(db),
                 "SELECT kb, state, done, total, created_at, updated_at, purge FROM jobs"
                 " WHERE id = ?1",
                 &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->id = id;
        copy_str(out->kb, sizeof(out->kb), kbi_col_text(st, 0));
        copy_str(out->state, sizeof(out->state), kbi_col_text(st, 1));
        out->done = sqlite3_column_int64(st, 2);
        out->total = sqlite3_column_int64(st, 3);
        out->created_at = sqlite3_column_int64(st, 4);
        out->updated_at = sqlite3_column_int64(st, 5);
        out->purge = sqlite3_column_int(st, 6) != 0;
    }
    kbi_finalize(st);
    return rc == SQLITE_ROW ? LAIR_OK : rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
}

#define JOB_FILE_COLS                                                                              \
    "seq, name, path, owned, size, state, error, attempts, document_id, data_offset"

static void job_file_row(sqlite3_stmt *st, struct kb_job_file *f)
{
    f->seq = sqlite3_column_int(st, 0);
    f->name = kbi_col_text(st, 1);
    f->path = kbi_col_text(st, 2);
    f->owned = sqlite3_column_int(st, 3) != 0;
    f->size = sqlite3_column_int64(st, 4);
    copy_str(f->state, sizeof(f->state), kbi_col_text(st, 5));
    f->error = (const char *)sqlite3_column_text(st, 6);
    f->attempts = sqlite3_column_int(st, 7);
    f->document_id = sqlite3_column_int64(st, 8);
    f->offset = sqlite3_column_int64(st, 9);
    f->counted = false;
}

enum lair_err kb_job_files(struct tenant_db *db, int64_t id,
                           void (*fn)(void *arg, const struct kb_job_file *f), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(tenant_db_handle(db),
                 "SELECT " JOB_FILE_COLS " FROM job_files WHERE job_id = ?1 ORDER BY seq", &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, id);
    int rc;
    struct kb_job_file f;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        job_file_row(st, &f);
        fn(arg, &f);
    }
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

struct claim_ctx {
    int64_t id;
    const struct kb_claim *o;
    struct arena *a;
    struct kb_job_file *out;
    size_t n;
};

static bool claim_retry(const struct kb_claim *o, const struct kb_job_file *f)
{
    int last = o->retry_last > o->retry_seq ? o->retry_last : o->retry_seq;
    return o->retry_seq > 0 && f->seq >= o->retry_seq && f->seq <= last && f->attempts != 0;
}

/* Reads the files to take into c->out. */
static enum lair_err claim_select(sqlite3 *h, struct claim_ctx *c)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h,
                               "SELECT " JOB_FILE_COLS " FROM job_files WHERE job_id = ?1"
                               " AND state = 'pending' ORDER BY seq LIMIT ?2",
                               &st);
    if (e)
        return e;
    size_t max = c->o->max_files ? c->o->max_files : 1;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_int64(st, 2, (int64_t)max);
    int64_t bytes = 0;
    int rc = SQLITE_DONE;
    while (!e && c->n < max && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct kb_job_file *f = &c->out[c->n];
        job_file_row(st, f);
        f->counted = !claim_retry(c->o, f);
        /* a file that was interrupted goes alone */
        if (c->n > 0 && ((f->counted && f->attempts != 0) || bytes + f->size > c->o->max_bytes))
            break;
        bytes += f->size;
        f->name = arena_strndup(c->a, f->name, strlen(f->name));
        f->path = arena_strndup(c->a, f->path, strlen(f->path));
        f->error = NULL;
        if (!f->name || !f->path)
            e = LAIR_ENOMEM;
        c->n++;
        if (f->counted && f->attempts != 0)
            break;
    }
    if (!e && c->n == 0)
        e = rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    kbi_finalize(st);
    return e;
}

static enum lair_err claim_tx(sqlite3 *h, void *arg)
{
    struct claim_ctx *c = arg;
    c->n = 0;
    enum lair_err e = claim_select(h, c);
    if (e)
        return e;
    /* a retry after a transient error writes nothing here (the disk may
     * still be full): its attempt was counted when it started. A file
     * taken with others is marked -1: if the process dies, each of them is
     * then taken alone, and only attempts alone count towards failing it
     * (a batch cannot tell which file killed it) */
    sqlite3_stmt *st;
    if ((e = kbi_prep(h, "UPDATE job_files SET attempts = ?3 WHERE job_id = ?1 AND seq = ?2", &st)))
        return e;
    for (size_t i = 0; i < c->n && !e; i++) {
        struct kb_job_file *f = &c->out[i];
        if (!f->counted)
            continue;
        f->attempts = c->n > 1 ? -1 : (f->attempts > 0 ? f->attempts : 0) + 1;
        sqlite3_bind_int64(st, 1, c->id);
        sqlite3_bind_int(st, 2, f->seq);
        sqlite3_bind_int(st, 3, f->attempts);
        e = step_reset(h, st);
    }
    kbi_finalize(st);
    if (e)
        return e;
    if ((e = kbi_prep(h,
                      "UPDATE jobs SET state = 'running', updated_at = ?2 WHERE id = ?1"
                      " AND state = 'queued'",
                      &st)))
        return e;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_int64(st, 2, kbi_now());
    return run(h, st);
}

enum lair_err kb_job_claim_batch(struct tenant_db *db, int64_t id, const struct kb_claim *o,
                                 struct arena *a, struct kb_job_file *out, size_t *n)
{
    struct claim_ctx c = {id, o, a, out, 0};
    size_t max = o->max_files ? o->max_files : 1;
    memset(out, 0, max * sizeof(*out));
    enum lair_err e = tenant_db_tx(db, claim_tx, &c);
    *n = e ? 0 : c.n;
    return e;
}

enum lair_err kb_job_claim(struct tenant_db *db, int64_t id, int retry_seq, struct arena *a,
                           struct kb_job_file *out)
{
    struct kb_claim o = {.max_files = 1, .retry_seq = retry_seq};
    size_t n;
    return kb_job_claim_batch(db, id, &o, a, out, &n);
}

/* ---- a batch's outcomes ---- */

struct commit_ctx {
    const char *kb;
    int64_t job;
    struct kb_job_item *items;
    struct put_ctx *puts; /* [n], prepared */
    size_t n;
    bool restart;           /* an item failed on its own: the transaction starts again without it */
    struct fts_range later; /* the new chunks not indexed yet */
};

/* Items of a batch that may fail on their own before the batch fails. */
#define COMMIT_ROUNDS_MAX 4

/* The message recorded for a document that could not be stored. */
static const char *put_fail_msg(enum lair_err e)
{
    return e == LAIR_ELIMIT ? "the knowledge base has too many chunks"
                            : "the document could not be stored (database error)";
}

static enum lair_err uncount(sqlite3 *h, int64_t job, int seq)
{
    sqlite3_stmt *st;
    enum lair_err e = kbi_prep(h,
                               "UPDATE job_files SET attempts = 0 WHERE job_id = ?1"
                               " AND seq = ?2 AND state = 'pending' AND attempts = -1",
                               &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, job);
    sqlite3_bind_int(st, 2, seq);
    return run(h, st);
}

/* One item in the batch's transaction. A document's own failure sets
 * it->err and asks for a restart; the others are the batch's errors. */
static enum lair_err commit_item(sqlite3 *h, struct commit_ctx *c, size_t i, struct chunk_stmts *s)
{
    struct kb_job_item *it = &c->items[i];
    if (it->err == LAIR_ECONFLICT || it->err == LAIR_ENOTFOUND)
        return LAIR_OK; /* nothing to write for it */
    if (it->err) {      /* failed in an earlier round: recorded as such */
        it->res = (struct kb_put_result){0};
        enum lair_err e = job_file_done(h, c->job, it->seq, "failed", it->error, 0, false);
        if (e == LAIR_ECONFLICT)
            it->err = e;
        return e == LAIR_ECONFLICT ? LAIR_OK : e;
    }
    if (!it->d && !it->state)
        return it->uncount ? uncount(h, c->job, it->seq) : LAIR_OK;
    enum lair_err e;
    if (!it->d) {
        e = job_file_done(h, c->job, it->seq, it->state, it->error, it->document_id, false);
    } else {
        struct put_ctx *p = &c->puts[i];
        it->res = (struct kb_put_result){0};
        p->stmts = s;
        p->later = &c->later;
        e = put_tx(h, p);
    }
    if (e == LAIR_EDB && db_err(h, sqlite3_extended_errcode(h)) == LAIR_ESTORAGE)
        e = LAIR_ESTORAGE;
    if (e == LAIR_ESTORAGE || e == LAIR_EBUSY || e == LAIR_ENOMEM)
        return e; /* the batch's: all of it waits */
    if (e && !it->d && (e == LAIR_ECONFLICT || e == LAIR_ENOTFOUND)) {
        it->err = e; /* nothing was written */
        return LAIR_OK;
    }
    if (e && it->d) {
        it->err = e;
        if (e != LAIR_ECONFLICT && e != LAIR_ENOTFOUND) {
            log_error("kb", "cannot store file %d of job %lld: %s", it->seq, (long long)c->job,
                      lair_err_msg(e));
            it->error = put_fail_msg(e);
        }
        c->restart = true; /* what it wrote goes with the rollback */
        return LAIR_ECONFLICT;
    }
    return e;
}

static enum lair_err commit_tx(sqlite3 *h, void *arg)
{
    struct commit_ctx *c = arg;
    c->later = (struct fts_range){0};
    struct stmt_cache cache = {.h = h}, *outer = stmt_cache;
    if (!outer || outer->h != h)
        stmt_cache = &cache;
    struct chunk_stmts s;
    enum lair_err e = chunk_stmts_init(h, &s);
    for (size_t i = 0; i < c->n && !e; i++)
        e = commit_item(h, c, i, &s);
    chunk_stmts_release(&s);
    if (!e)
        e = fts_add(h, c->later.from, c->later.to);
    stmt_cache = outer;
    stmt_cache_release(&cache);
    return e;
}

enum lair_err kb_job_commit(struct tenant_db *db, const char *kb, int64_t job_id,
                            struct kb_job_item *items, size_t n)
{
    struct put_ctx *puts = calloc(n ? n : 1, sizeof(*puts));
    if (!puts)
        return LAIR_ENOMEM;
    enum lair_err e = LAIR_OK;
    for (size_t i = 0; i < n && !e; i++) {
        struct kb_job_item *it = &items[i];
        it->err = LAIR_OK;
        it->res = (struct kb_put_result){0};
        if (!it->d)
            continue;
        if (!doc_in_ok(kb, it->d)) {
            it->err = LAIR_EINVAL;
            it->error = put_fail_msg(LAIR_EINVAL);
            continue;
        }
        puts[i] = (struct put_ctx){.kb = kb,
                                   .d = it->d,
                                   .chunks = it->chunks,
                                   .n = it->n,
                                   .model = it->embed_model,
                                   .dim = it->embed_dim,
                                   .job_id = job_id,
                                   .seq = it->seq,
                                   .out = &it->res};
        e = put_ctx_prepare(&puts[i]);
    }
    struct commit_ctx c = {kb, job_id, items, puts, n, false, {0, 0}};
    /* each round either commits or takes one more item out of it; past a
     * few, the database is more likely at fault than the documents: the
     * batch fails, and its files are then taken one at a time */
    for (size_t round = 0; !e; round++) {
        c.restart = false;
        e = tenant_db_tx(db, commit_tx, &c);
        if (!(e && c.restart))
            break;
        e = round < COMMIT_ROUNDS_MAX ? LAIR_OK : LAIR_EDB;
    }
    bool removed = false;
    for (size_t i = 0; i < n; i++) {
        put_ctx_release(&puts[i]);
        if (e)
            items[i].res = (struct kb_put_result){0};
        removed |= items[i].res.removed > 0;
    }
    free(puts);
    if (!e && removed)
        forget_vectors(db);
    return e;
}

struct file_set_ctx {
    int64_t id;
    int seq;
    const char *state, *error;
    int64_t doc;
};

static enum lair_err file_set_tx(sqlite3 *h, void *arg)
{
    struct file_set_ctx *c = arg;
    return job_file_done(h, c->id, c->seq, c->state, c->error, c->doc, false);
}

enum lair_err kb_job_file_set(struct tenant_db *db, int64_t id, int seq, const char *state,
                              const char *error, int64_t document_id)
{
    if (!state || (strcmp(state, "unchanged") && strcmp(state, "failed")))
        return LAIR_EINVAL;
    struct file_set_ctx c = {id, seq, state, error, document_id};
    return tenant_db_tx(db, file_set_tx, &c);
}

struct finish_ctx {
    int64_t id;
    char *state;
};

static enum lair_err finish_tx(sqlite3 *h, void *arg)
{
    struct finish_ctx *c = arg;
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(h,
                 "SELECT state, purge,"
                 " (SELECT count(*) FROM job_files WHERE job_id = ?1 AND state = 'pending'),"
                 " (SELECT count(*) FROM job_files WHERE job_id = ?1"
                 "   AND state IN ('indexed', 'unchanged'))"
                 " FROM jobs WHERE id = ?1",
                 &st);
    if (e)
        return e;
    sqlite3_bind_int64(st, 1, c->id);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        kbi_finalize(st);
        return rc == SQLITE_DONE ? LAIR_ENOTFOUND : LAIR_EDB;
    }
    copy_str(c->state, KB_STATE_MAX, kbi_col_text(st, 0));
    bool purge = sqlite3_column_int(st, 1) != 0;
    int64_t pending = sqlite3_column_int64(st, 2), good = sqlite3_column_int64(st, 3);
    kbi_finalize(st);
    if (!strcmp(c->state, "done") || !strcmp(c->state, "failed"))
        return LAIR_OK;
    if (pending > 0)
        return LAIR_EBUSY;
    copy_str(c->state, KB_STATE_MAX, good > 0 ? "done" : "failed");
    if ((e = kbi_prep(h, "UPDATE jobs SET state = ?2, updated_at = ?3, purge = 0 WHERE id = ?1",
                      &st)))
        return e;
    sqlite3_bind_int64(st, 1, c->id);
    sqlite3_bind_text(st, 2, c->state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, kbi_now());
    if ((e = run(h, st)))
        return e;
    if (purge && (e = purge_index(h)))
        return e;
    if ((e = kbi_prep(h, "DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < ?1",
                      &st)))
        return e;
    sqlite3_bind_int64(st, 1, kbi_now() - (int64_t)KB_JOB_KEEP_DAYS * 86400);
    return run(h, st);
}

enum lair_err kb_job_finish(struct tenant_db *db, int64_t id, char state[KB_STATE_MAX])
{
    struct finish_ctx c = {id, state};
    state[0] = 0;
    return tenant_db_tx(db, finish_tx, &c);
}

enum lair_err kb_jobs_unfinished(struct tenant_db *db, void (*fn)(void *arg, int64_t id), void *arg)
{
    sqlite3_stmt *st;
    enum lair_err e =
        kbi_prep(tenant_db_handle(db),
                 "SELECT id FROM jobs WHERE state IN ('queued', 'running') ORDER BY id", &st);
    if (e)
        return e;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        fn(arg, sqlite3_column_int64(st, 0));
    kbi_finalize(st);
    return rc == SQLITE_DONE ? LAIR_OK : LAIR_EDB;
}

bool kb_upload_pending(struct tenant_db *db, const char *path)
{
    sqlite3_stmt *st;
    if (kbi_prep(tenant_db_handle(db),
                 "SELECT 1 FROM job_files WHERE path = ?1 AND state = 'pending' LIMIT 1", &st))
        return true; /* when in doubt, keep the file */
    sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    kbi_finalize(st);
    return rc != SQLITE_DONE;
}

bool kb_job_upload_pending(struct tenant_db *db, int64_t id, const char *path)
{
    sqlite3_stmt *st;
    if (kbi_prep(tenant_db_handle(db),
                 "SELECT 1 FROM job_files WHERE job_id = ?1 AND path = ?2 AND state = 'pending'"
                 " LIMIT 1",
                 &st))
        return true; /* when in doubt, keep the file */
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_text(st, 2, path, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    kbi_finalize(st);
    return rc != SQLITE_DONE;
}
