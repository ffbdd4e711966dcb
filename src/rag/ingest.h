/* Ingestion: from uploaded files to indexed chunks, as jobs that survive a
 * crash.
 *
 * A job is recorded before anyone is told about it: the API writes the
 * uploaded files one after the other into one file under
 * <tenant>/kb/<kb>/uploads/ and fsyncs it (and the directory), then commits
 * the job row, each file being its part of that file (ingest_job_upload);
 * only then does it answer {"job_id"}. That file goes once none of its
 * parts is pending. The CLI records a job over files read in place
 * (ingest_job_paths).
 *
 * A job runs a batch of files per step (ingest_job_step): up to
 * opts.batch_files of its next files (bounded in bytes, and in memory and
 * time while they are processed) are claimed together, each is extracted
 * (src/doc), chunked (chunk.h) and embedded when an embedding model is
 * given, then all their outcomes are stored with the job's bookkeeping in
 * one transaction (kb_job_commit): one durable commit for the batch rather
 * than two per file, which is what makes ingestion fast (a commit's fsync,
 * and each commit's new full-text segment). Each document is still all or
 * nothing, and nothing is reported done before its commit. So a crash at
 * any moment leaves each document either fully indexed or as it was
 * before, and the job's pending files are exactly the ones still to do:
 * running the job again resumes it. A file that two attempts could not
 * finish (the process died while reading it) is marked failed rather than
 * tried forever; a file that an attempt left pending is only ever taken
 * alone, so that a file that kills the process does not get the others of
 * its batch marked. An unchanged file (same name and content) is not
 * processed again; a broken or unsupported one, or one that cannot be
 * stored, gets its own error and the others of its batch go on.
 *
 * The server runs every job through one background worker (struct ingest):
 * a bounded queue of (tenant, job), served in turn — one batch of a job,
 * then the next job — so that a large upload of one tenant does not hold up the
 * others. At start the worker finds the jobs that a stop or a crash left
 * queued or running in every tenant and resumes them; it also removes
 * uploaded files that no job refers to (a crash between the write and the
 * commit). A step that cannot record its file's outcome (the disk is full)
 * leaves the file pending with its upload; the job pauses a few seconds and
 * tries again, without counting the retry as an interruption, until there
 * is room. The CLI runs the same steps in its own process. */
#ifndef LAIR_RAG_INGEST_H
#define LAIR_RAG_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/str.h"
#include "doc/doc.h"
#include "llm/llm.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"

/* Texts embedded per llm_embed call. */
#define INGEST_EMBED_BATCH 16
/* Files per step of the server's worker and the CLI (one transaction). */
#define INGEST_BATCH_FILES 256
/* Most files a step takes, whatever ingest_opts.batch_files says. */
#define INGEST_BATCH_FILES_MAX 1024
/* Bytes of files a batch takes beyond its first file (a larger file goes
 * alone). */
#define INGEST_BATCH_BYTES ((size_t)8 << 20)
/* A batch stops processing files (the rest stay pending, for the next step)
 * once its chunks and vectors hold this much memory, or after this long. */
#define INGEST_BATCH_MEMORY ((size_t)64 << 20)
#define INGEST_BATCH_MS 2000
/* Attempts at one file before it is marked failed. */
#define INGEST_MAX_ATTEMPTS 2
/* Uploaded files older than this that no pending job refers to are removed
 * when the worker starts (seconds). */
#define INGEST_ORPHAN_AGE 3600

/* A file's committed outcome (ingest_opts.on_file). */
struct ingest_file {
    int seq;
    const char *name;  /* BORROWED for the call */
    const char *state; /* indexed, unchanged, failed, skipped (another process or a deletion
                          got there first: nothing recorded) */
    const char *error; /* when failed: one line for the user; else "" */
    size_t chunks;     /* the document's chunks, when indexed */
};

struct ingest_opts {
    struct llm_model *embed;         /* embedding model (LLM_CAN_EMBED); NULL: no vectors */
    struct llm_model *tokenizer;     /* sizes chunks in its tokens; NULL: embed's, else estimated */
    const struct doc_limits *limits; /* NULL: doc_limits_default() */
    int chunk_tokens;                /* 0: CHUNK_TARGET_TOKENS */
    /* the files whose last step ended with out->retry, retry_seq to retry_last (0: retry_seq
     * alone): their new attempt is not counted (kb_job_claim_batch); 0 when none */
    int retry_seq, retry_last;
    size_t batch_files; /* files per step, committed together; 0 or 1: one */
    size_t batch_bytes; /* their sizes together beyond the first; 0: INGEST_BATCH_BYTES */
    /* Called for each file whose outcome a step committed, in order (may
     * be NULL). */
    void (*on_file)(void *arg, const struct ingest_file *f);
    void *on_file_arg;
};

struct ingest_upload {
    const char *name; /* the document's name (already checked: multipart.h) */
    struct str data;  /* BORROWED for the call */
};

/* Writes files[0..n) durably into one file under the knowledge base's
 * uploads directory (one creation and one sync), then records a job over
 * them, with hook (may be NULL: what must commit with the job, such as its
 * audit events) in the job's transaction. On LAIR_OK the job, its files
 * and the hook's writes survive a crash; on error nothing is left.
 * LAIR_ENOTFOUND when kb does not exist, LAIR_ESTORAGE when the disk is
 * full, LAIR_EIO when a file cannot be written otherwise, the hook's error
 * when it fails. */
enum lair_err ingest_job_upload(struct tenant_db *db, const char *kb,
                                const struct ingest_upload *files, size_t n,
                                const struct kb_job_hook *hook, int64_t *job_id);

/* Records a job over files read where they are: paths[i] (made absolute)
 * under the name names[i]. The files are not copied, nor removed. */
enum lair_err ingest_job_paths(struct tenant_db *db, const char *kb, const char *const *paths,
                               const char *const *names, size_t n, int64_t *job_id);

struct ingest_step {
    bool finished;            /* the job has ended; state says how */
    char state[KB_STATE_MAX]; /* the job's: queued, running, done, failed */
    int64_t done, total;      /* files processed, files in the job */
    size_t files;             /* files whose outcome the step committed (on_file tells each) */
    /* the last file this step processed (seq 0 when none); after a batch
     * that could not be recorded, its first */
    int seq;
    char name[KB_DOC_NAME_MAX + 1];
    char file_state[KB_STATE_MAX]; /* indexed, unchanged, failed (pending: not recorded) */
    char error[256];               /* when failed: one line for the user */
    size_t chunks;                 /* the document's chunks, when indexed */
    bool retry; /* the step failed on a transient error (a full disk) after taking files
                   seq..retry_last: pass them as opts.retry_seq and retry_last to the next
                   step of the job */
    int retry_last;
};

/* Processes the job's next pending files (a batch: opts.batch_files), or
 * ends the job when none is left (out->finished). LAIR_ENOTFOUND when the job does not exist; a
 * file's own failure is not an error of the step (it is in out->file_state/error, and on_file's).
 * When the batch's outcomes cannot be recorded (LAIR_ESTORAGE: the disk is full), its files stay
 * pending with their uploads, the step returns that error, and the job is to be run again later:
 * nothing is lost, and a full disk never marks a file failed. */
enum lair_err ingest_job_step(struct tenant_db *db, int64_t job_id, const struct ingest_opts *o,
                              struct ingest_step *out);

/* ---- the server's worker ---- */

struct ingest;

struct ingest_config {
    struct sysdb *sys;           /* BORROWED: the list of tenants */
    struct tenants *tenants;     /* BORROWED */
    struct llm_registry *models; /* BORROWED, may be NULL: the first model that can embed
                                    gives vectors; chunks are sized with its tokenizer, else
                                    with the first chat model's */
    size_t queue_max;            /* jobs waiting; 0 = 1024 (beyond, they are found again by a
                                    rescan of the databases) */
    unsigned retry_ms;           /* pause after a step failed on a storage error (a full disk,
                                    a lock held too long) before jobs run again; 0 = 5000 */
    size_t batch_files;          /* files per step (one transaction); 0: the environment's
                                    LIBREAIR_INGEST_BATCH, else INGEST_BATCH_FILES */
};

/* A worker that does not run yet: jobs can be notified (they wait). OUT:
 * OWNED (ingest_free). */
enum lair_err ingest_new(const struct ingest_config *cfg, struct ingest **out);
/* Starts the thread, which first resumes the unfinished jobs of every
 * tenant. Call it once the models are loaded, so that resumed jobs get
 * vectors. */
enum lair_err ingest_start(struct ingest *w);
/* Tells the worker about a new job. Never blocks; a full queue makes the
 * worker rescan the databases. */
void ingest_notify(struct ingest *w, const char *tenant, int64_t job_id);
/* Blocks until nothing is queued and the worker is idle (tests, tools); a
 * job waiting for room on a full disk keeps it waiting. */
void ingest_wait_idle(struct ingest *w);
/* Job steps that failed on an error (a full disk) and wait to run again,
 * since the worker started. */
uint64_t ingest_retries(struct ingest *w);
/* Stops the thread after the batch in progress (its files are processed and
 * its transaction commits, or it never starts) and frees the worker. NULL is
 * fine. */
void ingest_free(struct ingest *w);

#endif
