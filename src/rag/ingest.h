/* Ingestion: from uploaded files to indexed chunks, as jobs that survive a
 * crash.
 *
 * A job is recorded before anyone is told about it: the API writes each
 * uploaded file under <tenant>/kb/<kb>/uploads/ and fsyncs it (and the
 * directory), then commits the job row (ingest_job_upload); only then does
 * it answer {"job_id"}. The CLI records a job over files read in place
 * (ingest_job_paths).
 *
 * A job runs one file per step (ingest_job_step): the file is extracted
 * (src/doc), chunked (chunk.h), embedded when an embedding model is given,
 * and stored with its job bookkeeping in one transaction
 * (kb_document_put). So a crash at any moment leaves each document either
 * fully indexed or as it was before, and the job's pending files are exactly
 * the ones still to do: running the job again resumes it. A file that two
 * attempts could not finish (the process died while reading it) is marked
 * failed rather than tried forever. An unchanged file (same name and
 * content) is not processed again; a broken or unsupported one gets its own
 * error and the others go on.
 *
 * The server runs every job through one background worker (struct ingest):
 * a bounded queue of (tenant, job), served in turn — one file of a job, then
 * the next job — so that a large upload of one tenant does not hold up the
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
/* Attempts at one file before it is marked failed. */
#define INGEST_MAX_ATTEMPTS 2
/* Uploaded files older than this that no pending job refers to are removed
 * when the worker starts (seconds). */
#define INGEST_ORPHAN_AGE 3600

struct ingest_opts {
    struct llm_model *embed;         /* embedding model (LLM_CAN_EMBED); NULL: no vectors */
    struct llm_model *tokenizer;     /* sizes chunks in its tokens; NULL: embed's, else estimated */
    const struct doc_limits *limits; /* NULL: doc_limits_default() */
    int chunk_tokens;                /* 0: CHUNK_TARGET_TOKENS */
    int retry_seq; /* the file whose last step ended with out->retry: its new attempt is not
                      counted (kb_job_claim); 0 when none */
};

struct ingest_upload {
    const char *name; /* the document's name (already checked: multipart.h) */
    struct str data;  /* BORROWED for the call */
};

/* Writes files[0..n) durably under the knowledge base's uploads directory,
 * then records a job over them, with hook (may be NULL: what must commit
 * with the job, such as its audit events) in the job's transaction. On
 * LAIR_OK the job, its files and the hook's writes survive a crash; on error
 * nothing is left. LAIR_ENOTFOUND when kb does not exist, LAIR_ESTORAGE
 * when the disk is full, LAIR_EIO when a file cannot be written otherwise,
 * the hook's error when it fails. */
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
    /* the file this step processed (seq 0 when none) */
    int seq;
    char name[KB_DOC_NAME_MAX + 1];
    char file_state[KB_STATE_MAX]; /* indexed, unchanged, failed (pending: not recorded) */
    char error[256];               /* when failed: one line for the user */
    size_t chunks;                 /* the document's chunks, when indexed */
    bool retry; /* the step failed on a transient error (a full disk) after taking file seq:
                   pass seq as opts.retry_seq to the next step of the job */
};

/* Processes the job's next pending file, or ends the job when none is left
 * (out->finished). LAIR_ENOTFOUND when the job does not exist; a file's own
 * failure is not an error of the step (it is in out->file_state/error).
 * When the file's outcome cannot be recorded (LAIR_ESTORAGE: the disk is
 * full), the file stays pending with its upload, the step returns that
 * error, and the job is to be run again later: nothing is lost, and a full
 * disk never marks a file failed. */
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
/* Stops the thread after the file in progress (its transaction commits or
 * never starts) and frees the worker. NULL is fine. */
void ingest_free(struct ingest *w);

#endif
