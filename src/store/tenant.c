/* Tenant directories, their databases and the schema every tenant shares. */
#include "store/tenant.h"

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "rag/fts.h"
#include "store/db.h"
#include "store/tx.h"
#include "store/vcache.h"
#include "core/banned.h"

/* Append-only: never edit a released entry; add a new one. */
static const struct db_migration migrations[] = {
    /* v1: assistants and their versions, conversations, usage, audit, settings */
    {"CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL) STRICT;"
     "CREATE TABLE assistants ("
     "  slug TEXT PRIMARY KEY,"
     "  draft_version INTEGER NOT NULL,"
     "  published_version INTEGER,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE assistant_versions ("
     "  slug TEXT NOT NULL REFERENCES assistants(slug) ON DELETE CASCADE,"
     "  version INTEGER NOT NULL,"
     "  spec TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  author TEXT NOT NULL,"
     "  PRIMARY KEY (slug, version)"
     ") STRICT;"
     "CREATE TABLE conversations ("
     "  id TEXT PRIMARY KEY,"
     "  assistant TEXT NOT NULL,"
     "  subject TEXT NOT NULL DEFAULT '',"
     "  key_id TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE INDEX conversations_subject ON conversations(subject);"
     "CREATE INDEX conversations_updated ON conversations(updated_at);"
     "CREATE TABLE messages ("
     "  id INTEGER PRIMARY KEY,"
     "  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
     "  role TEXT NOT NULL,"
     "  content TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  prompt_tokens INTEGER NOT NULL DEFAULT 0,"
     "  completion_tokens INTEGER NOT NULL DEFAULT 0,"
     "  cached_tokens INTEGER NOT NULL DEFAULT 0,"
     "  queue_ms REAL NOT NULL DEFAULT 0,"
     "  prompt_ms REAL NOT NULL DEFAULT 0,"
     "  gen_ms REAL NOT NULL DEFAULT 0"
     ") STRICT;"
     "CREATE INDEX messages_conversation ON messages(conversation_id, id);"
     "CREATE TABLE usage_daily ("
     "  day TEXT NOT NULL,"
     "  key_id TEXT NOT NULL,"
     "  requests INTEGER NOT NULL DEFAULT 0,"
     "  tokens INTEGER NOT NULL DEFAULT 0,"
     "  PRIMARY KEY (day, key_id)"
     ") STRICT;"
     "CREATE TABLE audit ("
     "  seq INTEGER PRIMARY KEY,"
     "  ts INTEGER NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  action TEXT NOT NULL,"
     "  target TEXT NOT NULL,"
     "  outcome TEXT NOT NULL,"
     "  detail TEXT NOT NULL DEFAULT '',"
     "  prev BLOB NOT NULL,"
     "  hash BLOB NOT NULL"
     ") STRICT;"},
    /* v2: knowledge bases (src/store/kb.c, docs/knowledge-bases.md). A chunk's
     * id is (knowledge base id << 32) + n, so that a search of one knowledge
     * base is a rowid range of the shared FTS5 index. Identical chunks
     * (same heading path and text) are stored once per knowledge base; the
     * other documents that hold one are listed in chunk_refs. The FTS5 table
     * indexes chunks' text and heading path with the French analyzer
     * (lair_fr, registered on every connection); the triggers keep it in
     * step, so that a deleted chunk leaves the index in the same
     * transaction. */
    {"CREATE TABLE knowledge_bases ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  slug TEXT NOT NULL UNIQUE,"
     "  name TEXT NOT NULL,"
     "  next_chunk INTEGER NOT NULL DEFAULT 1,"
     "  created_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE TABLE documents ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  kb TEXT NOT NULL REFERENCES knowledge_bases(slug) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  sha256 TEXT NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  format TEXT NOT NULL,"
     "  title TEXT,"
     "  pages INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL,"
     "  UNIQUE (kb, name)"
     ") STRICT;"
     "CREATE TABLE chunks ("
     "  id INTEGER PRIMARY KEY,"
     "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
     "  kb TEXT NOT NULL,"
     "  seq INTEGER NOT NULL,"
     "  text TEXT NOT NULL,"
     "  heading_path TEXT NOT NULL,"
     "  page INTEGER NOT NULL,"
     "  tokens INTEGER NOT NULL,"
     "  hash BLOB NOT NULL,"
     "  embedding BLOB,"
     "  embed_model TEXT"
     ") STRICT;"
     "CREATE INDEX chunks_document ON chunks(document_id, seq);"
     "CREATE UNIQUE INDEX chunks_hash ON chunks(kb, hash);"
     "CREATE TABLE chunk_refs ("
     "  chunk_id INTEGER NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,"
     "  document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,"
     "  seq INTEGER NOT NULL,"
     "  page INTEGER NOT NULL,"
     "  PRIMARY KEY (chunk_id, document_id)"
     ") STRICT, WITHOUT ROWID;"
     "CREATE INDEX chunk_refs_document ON chunk_refs(document_id);"
     "CREATE VIRTUAL TABLE chunks_fts USING fts5(text, heading_path, content='chunks',"
     "  content_rowid='id', tokenize='lair_fr');"
     "CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN"
     "  INSERT INTO chunks_fts(rowid, text, heading_path)"
     "    VALUES (new.id, new.text, new.heading_path);"
     "END;"
     "CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN"
     "  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading_path)"
     "    VALUES ('delete', old.id, old.text, old.heading_path);"
     "END;"
     "CREATE TRIGGER chunks_fts_update AFTER UPDATE OF text, heading_path ON chunks BEGIN"
     "  INSERT INTO chunks_fts(chunks_fts, rowid, text, heading_path)"
     "    VALUES ('delete', old.id, old.text, old.heading_path);"
     "  INSERT INTO chunks_fts(rowid, text, heading_path)"
     "    VALUES (new.id, new.text, new.heading_path);"
     "END;"
     "CREATE TABLE jobs ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  kb TEXT NOT NULL REFERENCES knowledge_bases(slug) ON DELETE CASCADE,"
     "  state TEXT NOT NULL DEFAULT 'queued'"
     "    CHECK (state IN ('queued', 'running', 'done', 'failed')),"
     "  done INTEGER NOT NULL DEFAULT 0,"
     "  total INTEGER NOT NULL,"
     "  purge INTEGER NOT NULL DEFAULT 0,"
     "  created_at INTEGER NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE INDEX jobs_state ON jobs(state);"
     "CREATE TABLE job_files ("
     "  job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,"
     "  seq INTEGER NOT NULL,"
     "  name TEXT NOT NULL,"
     "  path TEXT NOT NULL,"
     "  owned INTEGER NOT NULL,"
     "  size INTEGER NOT NULL,"
     "  state TEXT NOT NULL DEFAULT 'pending'"
     "    CHECK (state IN ('pending', 'indexed', 'unchanged', 'failed')),"
     "  attempts INTEGER NOT NULL DEFAULT 0,"
     "  error TEXT,"
     "  document_id INTEGER,"
     "  PRIMARY KEY (job_id, seq)"
     ") STRICT;"},
    /* v3: GDPR (src/store/gdpr_store.c, docs/gdpr.md). pseudonyms: the values
     * that an assistant with "pii": "pseudonymise" replaced by [TYPE_n] in a
     * conversation, for the tenant admin to reveal. No foreign key: a new
     * conversation's values are stored just before its first exchange
     * creates it; the trigger removes them with their conversation, however
     * it is deleted, and the subject column lets erasure find any that were
     * left without one. gdpr_pending: erasures requested and not yet
     * complete, replayed at start (src/gdpr/erase.c). */
    {"CREATE TABLE pseudonyms ("
     "  conversation_id TEXT NOT NULL,"
     "  subject TEXT NOT NULL DEFAULT '',"
     "  type TEXT NOT NULL,"
     "  n INTEGER NOT NULL,"
     "  value TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  PRIMARY KEY (conversation_id, type, n),"
     "  UNIQUE (conversation_id, type, value)"
     ") STRICT;"
     "CREATE INDEX pseudonyms_subject ON pseudonyms(subject);"
     "CREATE TRIGGER conversations_pseudonyms_delete AFTER DELETE ON conversations BEGIN"
     "  DELETE FROM pseudonyms WHERE conversation_id = old.id;"
     "END;"
     "CREATE TABLE gdpr_pending ("
     "  id INTEGER PRIMARY KEY,"
     "  subject TEXT NOT NULL UNIQUE,"
     "  token TEXT NOT NULL,"
     "  actor TEXT NOT NULL,"
     "  requested_at INTEGER NOT NULL,"
     "  audit_after INTEGER NOT NULL,"
     "  erased INTEGER NOT NULL DEFAULT 0,"
     "  conversations INTEGER NOT NULL DEFAULT 0,"
     "  messages INTEGER NOT NULL DEFAULT 0,"
     "  pseudonyms INTEGER NOT NULL DEFAULT 0"
     ") STRICT;"},
    /* v4: whoever deletes a conversation or a document (the conversations
     * API, knowledge-base management), the settings key "gdpr.scrub" marks
     * the database, so that the next retention run rewrites the file and
     * truncates the write-ahead log: no copy of deleted text outlives the
     * hour (src/store/gdpr_store.c, docs/gdpr.md). */
    {"CREATE TRIGGER conversations_gdpr_scrub AFTER DELETE ON conversations BEGIN"
     "  INSERT OR REPLACE INTO settings(key, value) VALUES ('gdpr.scrub', '1');"
     "END;"
     "CREATE TRIGGER documents_gdpr_scrub AFTER DELETE ON documents BEGIN"
     "  INSERT OR REPLACE INTO settings(key, value) VALUES ('gdpr.scrub', '1');"
     "END;"},
    /* v5: a knowledge base's vector generation, moved by every change to a
     * chunk's vector, so that the in-memory vector snapshots of searches
     * (src/store/vcache.c) know when they are stale, whichever process
     * wrote. */
    {"ALTER TABLE knowledge_bases ADD COLUMN vec_gen INTEGER NOT NULL DEFAULT 0;"
     "CREATE TRIGGER chunks_vec_insert AFTER INSERT ON chunks"
     "  WHEN new.embedding IS NOT NULL BEGIN"
     "  UPDATE knowledge_bases SET vec_gen = vec_gen + 1 WHERE slug = new.kb;"
     "END;"
     "CREATE TRIGGER chunks_vec_delete AFTER DELETE ON chunks"
     "  WHEN old.embedding IS NOT NULL BEGIN"
     "  UPDATE knowledge_bases SET vec_gen = vec_gen + 1 WHERE slug = old.kb;"
     "END;"
     "CREATE TRIGGER chunks_vec_update AFTER UPDATE OF embedding, embed_model, kb ON chunks BEGIN"
     "  UPDATE knowledge_bases SET vec_gen = vec_gen + 1 WHERE slug IN (old.kb, new.kb);"
     "END;"},
    /* v6: a conversation's title, made from its first question when it is
     * created (store/conversations.c, conv_title_from) and changed by its
     * owner (PATCH /api/v1/conversations/{id}); earlier conversations take
     * the first 60 characters of their first question. */
    {"ALTER TABLE conversations ADD COLUMN title TEXT NOT NULL DEFAULT '';"
     "UPDATE conversations SET title = coalesce((SELECT substr(trim(replace(replace(replace("
     "  m.content, char(13), ' '), char(10), ' '), char(9), ' ')), 1, 60) FROM messages m"
     "  WHERE m.conversation_id = conversations.id AND m.role = 'user' ORDER BY m.id LIMIT 1),"
     "  '');"},
    /* v7: a knowledge base's vocabulary of equivalences (src/rag/synonyms.h),
     * the JSON array of groups that the tenant set; no row: the project's
     * default vocabulary applies. */
    {"CREATE TABLE kb_synonyms ("
     "  kb TEXT PRIMARY KEY REFERENCES knowledge_bases(slug) ON DELETE CASCADE,"
     "  groups TEXT NOT NULL,"
     "  updated_at INTEGER NOT NULL"
     ") STRICT;"},
    /* v8: evaluation (src/store/evals.c, docs/evaluation.md): an assistant's
     * suites, append-only versions of their canonical file, and its runs,
     * each with its stored report; both go with the assistant. */
    {"CREATE TABLE eval_suites ("
     "  assistant TEXT NOT NULL REFERENCES assistants(slug) ON DELETE CASCADE,"
     "  name TEXT NOT NULL,"
     "  version INTEGER NOT NULL,"
     "  spec TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  author TEXT NOT NULL,"
     "  PRIMARY KEY (assistant, name, version)"
     ") STRICT;"
     "CREATE TABLE eval_runs ("
     "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
     "  assistant TEXT NOT NULL REFERENCES assistants(slug) ON DELETE CASCADE,"
     "  assistant_version INTEGER NOT NULL,"
     "  suite TEXT NOT NULL,"
     "  kind TEXT NOT NULL,"
     "  suite_version INTEGER NOT NULL,"
     "  state TEXT NOT NULL,"
     "  done INTEGER NOT NULL DEFAULT 0,"
     "  total INTEGER NOT NULL,"
     "  passed INTEGER NOT NULL DEFAULT 0,"
     "  author TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL,"
     "  finished_at INTEGER,"
     "  report TEXT"
     ") STRICT;"
     "CREATE INDEX eval_runs_by_assistant ON eval_runs(assistant, id);"},
    /* v9: what the dashboard shows (src/store/feedback.c, docs/web.md).
     * An answer's mode ("generated", "refused", "degraded"; "" before v9)
     * and its number of sources (NULL: no retrieval ran), so that the
     * questions refused or answered without sources can be found; and the
     * thumbs up/down that a person gives an answer, with an optional
     * comment. Feedback goes with its answer and its conversation (ON
     * DELETE CASCADE): erasure, retention and deletion remove it. */
    {"ALTER TABLE messages ADD COLUMN answer_mode TEXT NOT NULL DEFAULT '';"
     "ALTER TABLE messages ADD COLUMN sources INTEGER;"
     "CREATE INDEX messages_created ON messages(created_at);"
     "CREATE TABLE feedback ("
     "  id INTEGER PRIMARY KEY,"
     "  conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,"
     "  message_id INTEGER NOT NULL UNIQUE REFERENCES messages(id) ON DELETE CASCADE,"
     "  rating TEXT NOT NULL CHECK (rating IN ('up', 'down')),"
     "  comment TEXT NOT NULL DEFAULT '',"
     "  key_id TEXT NOT NULL,"
     "  created_at INTEGER NOT NULL"
     ") STRICT;"
     "CREATE INDEX feedback_conversation ON feedback(conversation_id);"
     "CREATE INDEX feedback_created ON feedback(created_at);"},
    /* v10: batched ingestion (src/rag/ingest.h). An upload request's files
     * are written into one file (fewer creations and syncs): a job file is
     * the size bytes of path from data_offset (0 for the files of earlier
     * versions, which are whole files). New chunks enter the full-text
     * index from kb.c, one statement per transaction, no longer by a
     * trigger per row: FTS5 writes its pending terms out as a new segment
     * at every statement that opens a savepoint, so the trigger made one
     * segment (and merges) per chunk; deletions and updates keep theirs. */
    {"ALTER TABLE job_files ADD COLUMN data_offset INTEGER NOT NULL DEFAULT 0;"
     "DROP TRIGGER chunks_fts_insert;"},
};
#define N_MIGRATIONS ((int)(sizeof(migrations) / sizeof(migrations[0])))

int tenant_schema_version(void) { return N_MIGRATIONS; }

const struct db_migration *tenant_schema(int *n)
{
    *n = N_MIGRATIONS;
    return migrations;
}

struct tenant_db {
    struct tenant_db *next;
    struct tenants *owner;
    sqlite3 *db;
    char slug[SLUG_MAX + 1];
    char dir[4200];
    int refs;
    bool doomed; /* being deleted: no new borrowers */
};

struct tenants {
    char data_dir[4096];
    struct sysdb *sys;
    pthread_mutex_t mu;
    pthread_cond_t released;
    struct tenant_db *open;
    struct vcache *vectors; /* the searches' vector snapshots, for every tenant */
};

enum lair_err tenants_new(const char *data_dir, struct sysdb *sys, struct tenants **out)
{
    struct tenants *t = calloc(1, sizeof(*t));
    if (!t)
        return LAIR_ENOMEM;
    snprintf(t->data_dir, sizeof(t->data_dir), "%s", data_dir);
    t->sys = sys;
    if (vcache_new((size_t)VCACHE_DEFAULT_MIB << 20, &t->vectors)) {
        free(t);
        return LAIR_ENOMEM;
    }
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->released, NULL);
    char dir[4200];
    snprintf(dir, sizeof(dir), "%.4000s/tenants", data_dir);
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        tenants_free(t);
        return LAIR_EIO;
    }
    *out = t;
    return LAIR_OK;
}

void tenants_free(struct tenants *t)
{
    if (!t)
        return;
    struct tenant_db *d = t->open;
    while (d) {
        struct tenant_db *n = d->next;
        vcache_forget(t->vectors, d);
        db_close(d->db);
        free(d);
        d = n;
    }
    vcache_free(t->vectors);
    pthread_cond_destroy(&t->released);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

static void tenant_dir(const struct tenants *t, const char *slug, char *out, size_t n)
{
    snprintf(out, n, "%s/tenants/%s", t->data_dir, slug);
}

static enum lair_err open_db(struct tenants *t, const char *slug, struct tenant_db **out)
{
    struct tenant_db *d = calloc(1, sizeof(*d));
    if (!d)
        return LAIR_ENOMEM;
    d->owner = t;
    snprintf(d->slug, sizeof(d->slug), "%s", slug);
    tenant_dir(t, slug, d->dir, sizeof(d->dir));
    char path[4300];
    snprintf(path, sizeof(path), "%s/tenant.db", d->dir);
    /* a tenant whose creation stopped between its row and its directory (a
     * crash, or a clean-up that failed in turn) opens empty, as it was */
    if (mkdir(d->dir, 0700) != 0 && errno != EEXIST) {
        enum lair_err e = db_file_err(errno);
        free(d);
        return e;
    }
    /* the v2 schema's full-text index needs the lair_fr tokenizer on every
     * connection, before the migrations run */
    enum lair_err e = db_open_ex(path, migrations, N_MIGRATIONS, fts_register, &d->db);
    if (e) {
        free(d);
        return e;
    }
    *out = d;
    return LAIR_OK;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void remove_tree(const char *dir) { nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

enum lair_err tenants_create(struct tenants *t, const char *slug, const char *name)
{
    enum lair_err e = sysdb_tenant_insert(t->sys, slug, name);
    if (e)
        return e;
    char dir[4200];
    tenant_dir(t, slug, dir, sizeof(dir));
    remove_tree(dir); /* leftovers of a crash between rmdir and the row delete */
    struct tenant_db *d = NULL;
    if (mkdir(dir, 0700) != 0)
        e = db_file_err(errno);
    else
        e = open_db(t, slug, &d);
    if (e) {
        remove_tree(dir);
        sysdb_tenant_delete(t->sys, slug);
        return e;
    }
    pthread_mutex_lock(&t->mu);
    d->next = t->open;
    t->open = d;
    pthread_mutex_unlock(&t->mu);
    return LAIR_OK;
}

enum lair_err tenants_get(struct tenants *t, const char *slug, struct tenant_db **out)
{
    *out = NULL;
    if (!slug_valid(str_c(slug)))
        return LAIR_ENOTFOUND;
    pthread_mutex_lock(&t->mu);
    for (struct tenant_db *d = t->open; d; d = d->next)
        if (!strcmp(d->slug, slug)) {
            if (d->doomed) {
                pthread_mutex_unlock(&t->mu);
                return LAIR_ENOTFOUND;
            }
            d->refs++;
            *out = d;
            pthread_mutex_unlock(&t->mu);
            return LAIR_OK;
        }
    struct tenant_row row;
    enum lair_err e = sysdb_tenant_get(t->sys, slug, &row);
    struct tenant_db *d = NULL;
    if (!e)
        e = open_db(t, slug, &d);
    if (!e) {
        d->refs = 1;
        d->next = t->open;
        t->open = d;
        *out = d;
    }
    pthread_mutex_unlock(&t->mu);
    return e;
}

void tenant_db_put(struct tenant_db *d)
{
    if (!d)
        return;
    struct tenants *t = d->owner;
    pthread_mutex_lock(&t->mu);
    d->refs--;
    if (d->refs == 0)
        pthread_cond_broadcast(&t->released);
    pthread_mutex_unlock(&t->mu);
}

enum lair_err tenants_delete(struct tenants *t, const char *slug)
{
    if (!slug_valid(str_c(slug)))
        return LAIR_ENOTFOUND;
    /* Keys first: from this moment no request of the tenant authenticates. */
    enum lair_err e = sysdb_tenant_delete(t->sys, slug);
    if (e)
        return e;
    pthread_mutex_lock(&t->mu);
    struct tenant_db **pp = &t->open, *d = NULL;
    for (; *pp; pp = &(*pp)->next)
        if (!strcmp((*pp)->slug, slug)) {
            d = *pp;
            break;
        }
    if (d) {
        d->doomed = true;
        while (d->refs > 0)
            pthread_cond_wait(&t->released, &t->mu);
        *pp = d->next;
    }
    pthread_mutex_unlock(&t->mu);
    if (d) {
        vcache_forget(t->vectors, d);
        db_close(d->db);
        free(d);
    }
    char dir[4200];
    tenant_dir(t, slug, dir, sizeof(dir));
    remove_tree(dir);
    return LAIR_OK;
}

sqlite3 *tenant_db_handle(struct tenant_db *db) { return db->db; }
struct vcache *tenants_vectors(struct tenants *t) { return t->vectors; }
struct vcache *tenant_db_vectors(struct tenant_db *db) { return db->owner->vectors; }
const char *tenant_db_slug(const struct tenant_db *db) { return db->slug; }
const char *tenant_db_dir(const struct tenant_db *db) { return db->dir; }
struct sysdb *tenant_db_sysdb(struct tenant_db *db) { return db->owner->sys; }

enum lair_err tenant_db_tx(struct tenant_db *db, enum lair_err (*fn)(sqlite3 *, void *), void *arg)
{
    /* A FULLMUTEX connection is shared by threads: hold its mutex across the
     * whole transaction so that no other thread's statement lands inside it. */
    sqlite3_mutex *m = sqlite3_db_mutex(db->db);
    sqlite3_mutex_enter(m);
    sqlite3_stmt *rb; /* a rollback that cannot fail for want of memory (store/tx.h) */
    enum lair_err e = tx_begin(db->db, "BEGIN IMMEDIATE", &rb);
    if (e) {
        sqlite3_mutex_leave(m);
        return e;
    }
    e = fn(db->db, arg);
    /* a statement of fn that ran out of room reports a database error:
     * the connection still holds its code (our mutex is held) */
    if (e == LAIR_EDB && db_err(db->db, sqlite3_extended_errcode(db->db)) == LAIR_ESTORAGE)
        e = LAIR_ESTORAGE;
    e = tx_end(db->db, e, rb);
    sqlite3_mutex_leave(m);
    return e;
}
