/* Knowledge bases in the tenant database: the bases, their documents and
 * chunks, the full-text index over the chunks, vectors, and ingestion jobs.
 * The interface of the knowledge-base module: writes in kb.c, reads
 * (search, synonyms, chunks, vectors) in kb_search.c (schema v2, v5, v7 and
 * v10 in tenant.c; docs/knowledge-bases.md, docs/internals/store.md).
 *
 * A chunk's id is (knowledge base id << KB_CHUNK_SHIFT) + n, so that a
 * search of one knowledge base is a rowid range of the tenant's one FTS5
 * index (chunks_fts, tokenizer lair_fr, ranking lair_bm25): only the rows of
 * that base are ranked. Ids are never reused.
 *
 * Identical chunks (same heading path and text, hence same hash) are stored
 * once per knowledge base: the first document that has one owns it, the
 * others are listed in chunk_refs. When the owner drops the chunk (deleted
 * or replaced), another holder takes it over, so no document loses text
 * that it still has.
 *
 * Deletions leave no trace: the FTS5 index is optimised in the same
 * transaction (its segments would otherwise keep deleted terms until a
 * merge), secure_delete zeroes freed pages and the write-ahead log is
 * checkpointed and truncated afterwards. */
#ifndef LAIR_STORE_KB_H
#define LAIR_STORE_KB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "store/system.h"
#include "store/tenant.h"

#define KB_NAME_MAX 200     /* bytes of a knowledge base's display name */
#define KB_DOC_NAME_MAX 255 /* bytes of a document's (file) name */
#define KB_HASH_BYTES 32    /* chunk hash: SHA-256 */
#define KB_CHUNK_SHIFT 32
/* Longest state name of a job or job file, with its NUL. */
#define KB_STATE_MAX 12

/* ---- knowledge bases ---- */

struct kb_info {
    int64_t id;
    char slug[SLUG_MAX + 1];
    char name[KB_NAME_MAX + 1];
    int64_t created_at;
    int64_t documents, chunks; /* counts (chunks stored once each) */
};

/* Creates a knowledge base. name NULL or "" takes the slug. LAIR_EINVAL for a
 * bad slug or a name that is not 1..KB_NAME_MAX bytes of UTF-8 without
 * control characters; LAIR_ECONFLICT when the slug is taken. */
enum lair_err kb_create(struct tenant_db *db, const char *slug, const char *name);
/* OUT: *out (may be NULL: existence check). LAIR_ENOTFOUND. */
enum lair_err kb_find(struct tenant_db *db, const char *slug, struct kb_info *out);
/* Calls fn for each knowledge base, by slug. */
enum lair_err kb_list(struct tenant_db *db, void (*fn)(void *arg, const struct kb_info *kb),
                      void *arg);
/* Deletes the knowledge base with its documents, chunks, index entries,
 * vectors, jobs and files (its directory). LAIR_ENOTFOUND. */
enum lair_err kb_delete(struct tenant_db *db, const char *slug);
/* The directory of the knowledge base's files: <tenant dir>/kb/<slug>. */
void kb_dir(struct tenant_db *db, const char *slug, char *out, size_t n);
/* Folders of deleted knowledge bases, in <tenant dir>/kb/, are renamed with
 * this prefix before they are removed. */
#define KB_DELETED_PREFIX ".deleted-"
/* Removes a folder and everything in it (links are removed, not followed). */
void kb_remove_tree(const char *dir);

/* ---- documents ---- */

struct kb_document {
    int64_t id;
    const char *name;   /* BORROWED for the callback */
    const char *sha256; /* 64 hex digits of the file's SHA-256 */
    const char *format; /* doc_format_name */
    const char *title;  /* NULL when none */
    int64_t size;
    int pages;
    int64_t chunks; /* chunks it holds, shared ones included */
    int64_t created_at, updated_at;
};

/* Calls fn for each document of the knowledge base, by name.
 * LAIR_ENOTFOUND when the knowledge base does not exist. */
enum lair_err kb_documents_list(struct tenant_db *db, const char *kb,
                                void (*fn)(void *arg, const struct kb_document *d), void *arg);
/* Calls fn for each distinct heading path ("Titre > Sous-titre", never "")
 * of document id's chunks, shared ones included, in the document's order:
 * what the assistant generator (assist/generate.h) turns into questions. */
enum lair_err kb_document_headings(struct tenant_db *db, int64_t id,
                                   void (*fn)(void *arg, const char *heading_path), void *arg);
/* The start of document id's text, its first chunk (shared ones included),
 * cut to at most cap - 1 bytes on a UTF-8 boundary, into out[cap]; "" when
 * it has none: what the assistant generator reads of a document that has
 * neither headings nor title. */
enum lair_err kb_document_opening(struct tenant_db *db, int64_t id, char *out, size_t cap);
/* The id and content hash of document `name`. LAIR_ENOTFOUND. */
enum lair_err kb_document_lookup(struct tenant_db *db, const char *kb, const char *name,
                                 int64_t *id, char sha256[65]);
/* Deletes a document: its row, its text and index entries, vectors and
 * shares of identical chunks. OUT: name (may be NULL) gets its name.
 * LAIR_ENOTFOUND when the knowledge base has no such document. */
enum lair_err kb_document_delete(struct tenant_db *db, const char *kb, int64_t id,
                                 char name[KB_DOC_NAME_MAX + 1]);

struct kb_doc_in {
    const char *name;   /* KB_DOC_NAME_MAX bytes at most */
    const char *sha256; /* 64 hex digits */
    int64_t size;
    const char *format;
    const char *title; /* may be NULL */
    int pages;
};

struct kb_chunk_in {
    struct str text;
    const char *heading_path;
    unsigned page;
    int tokens;
    const unsigned char *hash; /* KB_HASH_BYTES */
    const float *embedding;    /* embed_dim floats, or NULL */
};

struct kb_put_result {
    int64_t document_id;
    bool unchanged; /* the same name and content was there already: nothing written */
    bool replaced;  /* an earlier version was replaced */
    size_t stored;  /* chunks written */
    size_t kept;    /* chunks of the earlier version kept as they were */
    size_t shared;  /* chunks already stored for another document */
    size_t removed; /* chunks of the earlier version gone */
};

/* Creates or replaces document d->name of kb with chunks[0..n), in one
 * transaction: a reader sees the old version or the new one, never a mix,
 * and a crash leaves one or the other. Chunks the earlier version also had
 * keep their id (and vector). embed_model names the model that made the
 * chunks' embeddings (embed_dim floats each), NULL when none.
 * With job_id > 0, file seq of that job is marked indexed (or unchanged) and
 * counted done in the same transaction; LAIR_ECONFLICT (nothing written) when
 * that file is no longer pending — the job was deleted or another process
 * got there first. LAIR_ENOTFOUND when the knowledge base is gone. */
enum lair_err kb_document_put(struct tenant_db *db, const char *kb, const struct kb_doc_in *d,
                              const struct kb_chunk_in *chunks, size_t n, const char *embed_model,
                              int embed_dim, int64_t job_id, int seq, struct kb_put_result *out);

/* True when kb already has a chunk with this hash whose vector was made by
 * model (so ingestion need not embed it again). */
bool kb_chunk_embedded(struct tenant_db *db, const char *kb, const unsigned char *hash,
                       const char *model);

/* ---- search ---- */

struct kb_hit {
    int64_t chunk_id;
    double score; /* BM25 (lair_bm25), higher is better */
};

/* The k best chunks for question over the knowledge bases kbs[0..n_kbs)
 * (unknown slugs are skipped), by BM25 with the French analyzer, best first,
 * with spelling corrections, each base's synonyms (kb_synonyms_get; the
 * default vocabulary when it has none) and, when fts_prf_weight() > 0,
 * pseudo-relevance feedback (src/rag/fts.h).
 * OUT: hits[0..*n), *n <= k. A question without a searchable word gives
 * *n == 0. */
enum lair_err kb_search(struct tenant_db *db, const char *const *kbs, size_t n_kbs,
                        struct str question, size_t k, struct kb_hit *hits, size_t *n);

struct fts_explain;

/* What kb_search searches base slug with for question: its words, their
 * spelling corrections and the base's synonyms (src/rag/fts.h:
 * fts_explain, then fts_explain_passage per result). ex->question borrows
 * question. LAIR_ENOTFOUND when there is no such base, LAIR_ENOMEM,
 * LAIR_EDB. */
enum lair_err kb_explain(struct tenant_db *db, const char *slug, struct str question,
                         struct fts_explain *ex);

/* ---- synonyms (src/rag/synonyms.h) ---- */

/* The vocabulary the tenant set for knowledge base slug. OUT: *json, the
 * JSON array of groups, OWNED (free()), NULL when none was set (the default
 * vocabulary applies); *updated_at its time (0 when none). LAIR_ENOTFOUND
 * when there is no such base. */
enum lair_err kb_synonyms_get(struct tenant_db *db, const char *slug, char **json,
                              int64_t *updated_at);

/* Sets the vocabulary of base slug to json (validated by the caller with
 * syn_set_from_json), or back to the default when json is NULL.
 * LAIR_ENOTFOUND, LAIR_ESTORAGE, LAIR_EDB. */
enum lair_err kb_synonyms_set(struct tenant_db *db, const char *slug, const char *json);

struct kb_chunk {
    int64_t id, document_id;
    const char *kb;           /* ARENA: slug */
    const char *document;     /* ARENA: the document's (uploaded file) name */
    const char *heading_path; /* ARENA */
    const char *text;         /* ARENA, NUL-terminated */
    size_t text_len;
    unsigned page; /* 0 when the format has no pages */
    int tokens;
};

/* The chunks ids[0..n) in that order, skipping ids that do not exist (any
 * more). OUT: out[0..*n_out), strings in a. LAIR_ENOMEM when a is full. */
enum lair_err kb_chunks_get(struct tenant_db *db, const int64_t *ids, size_t n, struct arena *a,
                            struct kb_chunk *out, size_t *n_out);

/* The vectors of kb's chunks made by model: *n rows of *dim floats
 * (row-major in *vecs) with the chunk ids in *ids. OUT: *ids and *vecs OWNED
 * (free with free()), NULL with *n == 0 when there are none. Rows whose size
 * differs from the first one's are skipped. */
enum lair_err kb_vectors(struct tenant_db *db, const char *kb, const char *model, int64_t **ids,
                         float **vecs, size_t *n, size_t *dim);
/* What identifies the current state of kb's vectors: the base's id and its
 * vector generation, which every change to a chunk's vector moves (schema
 * v5 triggers, whichever connection writes). Read it before the vectors:
 * vectors read after a stamp are at least as new as it. LAIR_ENOTFOUND when
 * kb does not exist. */
enum lair_err kb_vector_stamp(struct tenant_db *db, const char *kb, int64_t *kb_id, int64_t *gen);
/* Names of the models that made kb's vectors, with counts, for tools:
 * fn(arg, model, count). */
enum lair_err kb_vector_models(struct tenant_db *db, const char *kb,
                               void (*fn)(void *arg, const char *model, int64_t count), void *arg);

/* ---- ingestion jobs ---- */

struct kb_job_file_in {
    const char *name; /* document name */
    const char *path; /* relative to the tenant directory, or absolute (CLI) */
    bool owned;       /* the job's copy: removed once the job has finished */
    int64_t size;
    int64_t offset; /* owned: where its size bytes start in path (several files share one) */
};

/* Writes that must commit or roll back with a job (its audit events): fn
 * runs inside kb_job_create's transaction, after the job's rows, with the
 * connection the transaction is open on and the new job's id. A non-OK
 * return rolls the job back and is returned. */
struct kb_job_hook {
    enum lair_err (*fn)(void *arg, sqlite3 *tx, int64_t job_id);
    void *arg;
};

/* Records a job over files[0..n) (queued, each file pending), and runs hook
 * (may be NULL), in one transaction. LAIR_ENOTFOUND when kb does not exist,
 * LAIR_ESTORAGE when the disk is full (nothing is recorded). */
enum lair_err kb_job_create(struct tenant_db *db, const char *kb,
                            const struct kb_job_file_in *files, size_t n,
                            const struct kb_job_hook *hook, int64_t *job_id);

struct kb_job {
    int64_t id;
    char kb[SLUG_MAX + 1];
    char state[KB_STATE_MAX]; /* queued, running, done, failed */
    int64_t done, total;
    int64_t created_at, updated_at;
    bool purge; /* a file replaced a document: the index is optimised at the end */
};

struct kb_job_file {
    int seq;
    const char *name, *path; /* BORROWED for the callback, or ARENA (kb_job_claim) */
    bool owned;
    int64_t size;
    int64_t offset;           /* owned: the file is the size bytes of path from there */
    char state[KB_STATE_MAX]; /* pending, indexed, unchanged, failed */
    const char *error;        /* NULL unless failed */
    int attempts;             /* times a process started on it alone; -1: once, with others */
    int64_t document_id;      /* 0 when none */
    bool counted;             /* kb_job_claim_batch counted this attempt (not a retry) */
};

enum lair_err kb_job_get(struct tenant_db *db, int64_t id, struct kb_job *out);
/* Calls fn for each file of the job, in upload order. */
enum lair_err kb_job_files(struct tenant_db *db, int64_t id,
                           void (*fn)(void *arg, const struct kb_job_file *f), void *arg);
/* Takes the job's next pending file: counts an attempt on it and marks the
 * job running, in one transaction. retry_seq (0: none) is a file of the job
 * whose last attempt ended on a transient error (a full disk), not on a
 * crash: when it is the file taken, no attempt is counted again, so that
 * waiting for room never marks a file as interrupted. OUT: *out, strings
 * in a. LAIR_ENOTFOUND when no file is pending (or the job is gone). */
enum lair_err kb_job_claim(struct tenant_db *db, int64_t id, int retry_seq, struct arena *a,
                           struct kb_job_file *out);

struct kb_claim {
    size_t max_files;  /* files taken at most (at least one) */
    int64_t max_bytes; /* their sizes together, beyond the first file */
    /* files retry_seq..retry_last (0: none; retry_last 0: retry_seq alone)
     * whose last attempt ended on a transient error: not counted again */
    int retry_seq, retry_last;
};

/* kb_job_claim for several files at once, in upload order, in one
 * transaction: the next pending file, then the following ones while they
 * fit o's bounds and were never started. Files taken together get attempts
 * -1, not a count: a file that an earlier attempt left pending without a
 * transient error (the process died while on it, alone or with others) is
 * only ever taken alone, and only attempts alone count, so that a file
 * that kills the process cannot get the files around it marked
 * interrupted. OUT: out[0..*n) (room for
 * o->max_files), strings in a. LAIR_ENOTFOUND when no file is pending. */
enum lair_err kb_job_claim_batch(struct tenant_db *db, int64_t id, const struct kb_claim *o,
                                 struct arena *a, struct kb_job_file *out, size_t *n);

/* One claimed file's outcome for kb_job_commit. */
struct kb_job_item {
    int seq;
    /* d non-NULL: the document to store (as kb_document_put). Else state:
     * "unchanged" (with document_id) or "failed" (with error) is recorded
     * as kb_job_file_set does; NULL leaves the file pending, its attempt
     * uncounted when uncount (claimed, then not processed). */
    const struct kb_doc_in *d;
    const struct kb_chunk_in *chunks;
    size_t n;
    const char *embed_model;
    int embed_dim;
    const char *state, *error;
    int64_t document_id;
    bool uncount;
    /* OUT: LAIR_OK: committed (res for a document). LAIR_ECONFLICT or
     * LAIR_ENOTFOUND: nothing written (the file is no longer pending, the
     * knowledge base is gone). Another error: the document could not be
     * stored; the file is recorded failed with error (a static message). */
    enum lair_err err;
    struct kb_put_result res;
};

/* Between kb_batch_begin and kb_batch_end, the statements that this
 * module's calls of this thread run on db are prepared once and kept
 * (reset) for the next call, rather than parsed again each time: what a
 * batch's per-file calls (kb_document_lookup, kb_job_commit) gain. A
 * begin while one is open does nothing; end before db is released. */
void kb_batch_begin(struct tenant_db *db);
void kb_batch_end(void);

/* Commits the outcomes of files of job job_id (of knowledge base kb) in
 * one transaction: one durable write for the whole batch, each document
 * still all or nothing (a reader sees it fully or not at all). A document
 * that cannot be stored (too many chunks, a database error) does not take
 * the others with it: the transaction starts again without it, recording
 * it failed (up to 4 such documents; past that, LAIR_EDB). On error
 * (LAIR_ESTORAGE when the disk is full, LAIR_EBUSY, LAIR_ENOMEM) nothing is
 * written and every file stays pending. */
enum lair_err kb_job_commit(struct tenant_db *db, const char *kb, int64_t job_id,
                            struct kb_job_item *items, size_t n);
/* Records the outcome of a pending file that kb_document_put did not store:
 * state "unchanged" (with its document) or "failed" (with error, one line),
 * and counts it done. LAIR_ECONFLICT when the file is no longer pending;
 * LAIR_ESTORAGE when the disk is full (the file stays pending). */
enum lair_err kb_job_file_set(struct tenant_db *db, int64_t id, int seq, const char *state,
                              const char *error, int64_t document_id);
/* Ends a job whose files are all processed: done when at least one was
 * indexed or unchanged, else failed; optimises the index when a document was
 * replaced; forgets jobs finished more than KB_JOB_KEEP_DAYS ago. Idempotent.
 * OUT: state. LAIR_EBUSY while a file is pending, LAIR_ENOTFOUND. */
enum lair_err kb_job_finish(struct tenant_db *db, int64_t id, char state[KB_STATE_MAX]);
#define KB_JOB_KEEP_DAYS 30
/* Calls fn with each queued or running job, oldest first. */
enum lair_err kb_jobs_unfinished(struct tenant_db *db, void (*fn)(void *arg, int64_t id),
                                 void *arg);
/* True when path (as stored) belongs to a pending file of some job. */
bool kb_upload_pending(struct tenant_db *db, const char *path);
/* The same for the files of job id only (what a step needs: fast). */
bool kb_job_upload_pending(struct tenant_db *db, int64_t id, const char *path);

#endif
