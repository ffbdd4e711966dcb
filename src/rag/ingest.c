/* Ingestion jobs and the server's ingestion worker. See ingest.h. */
#include "rag/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "rag/chunk.h"
#include "core/banned.h"

_Static_assert(KB_HASH_BYTES == CHUNK_HASH_BYTES, "chunk hashes are stored as they are made");

/* Arena for one document's chunks: texts with their overlap. */
#define CHUNK_ARENA_BYTES ((size_t)128 << 20)
/* Most tenants scanned for unfinished jobs. */
#define SCAN_TENANTS_MAX 100000

/* ---- files ---- */

/* File errors are LAIR_ESTORAGE when the disk is full (db_file_err), else
 * LAIR_EIO; the errno is logged where it happens. */
static enum lair_err file_err(const char *what)
{
    int err = errno;
    log_error("ingest", "cannot %s: %s", what, strerror(err));
    return db_file_err(err);
}

static enum lair_err fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_DIRECTORY);
    if (fd < 0)
        return file_err("open a directory to sync it");
    if (fsync(fd) != 0) {
        enum lair_err e = file_err("sync a directory");
        close(fd);
        return e;
    }
    close(fd);
    return LAIR_OK;
}

/* mkdir that makes the new entry durable (fsync of the parent). */
static enum lair_err mkdir_durable(const char *dir, const char *parent)
{
    if (mkdir(dir, 0700) == 0)
        return fsync_path(parent);
    return errno == EEXIST ? LAIR_OK : file_err("create a directory");
}

/* <tenant>/kb/<kb>/uploads, created durably. */
static enum lair_err uploads_dir(struct tenant_db *db, const char *kb, char *out, size_t n)
{
    char kbs[4300], kbd[4400];
    snprintf(kbs, sizeof(kbs), "%s/kb", tenant_db_dir(db));
    kb_dir(db, kb, kbd, sizeof(kbd));
    snprintf(out, n, "%s/uploads", kbd);
    enum lair_err e = mkdir_durable(kbs, tenant_db_dir(db));
    if (!e)
        e = mkdir_durable(kbd, kbs);
    if (!e)
        e = mkdir_durable(out, kbd);
    return e;
}

static enum lair_err write_all(int fd, struct str data)
{
    size_t off = 0;
    while (off < data.len) {
        ssize_t w = write(fd, data.ptr + off, data.len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC; /* a write that makes no progress: no room */
            return file_err("write an upload file");
        }
        off += (size_t)w;
    }
    return LAIR_OK;
}

/* Writes the files one after the other into a new file at path, and
 * syncs it: one creation and one sync for a whole upload. */
static enum lair_err write_durable(const char *path, const struct ingest_upload *files, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return file_err("create an upload file");
    enum lair_err e = LAIR_OK;
    for (size_t i = 0; i < n && !e; i++)
        e = write_all(fd, files[i].data);
    if (!e && fsync(fd) != 0)
        e = file_err("sync an upload file");
    if (close(fd) != 0 && !e)
        e = file_err("close an upload file");
    if (e)
        unlink(path);
    return e;
}

/* A stored path: relative to the tenant directory, or absolute. */
static void resolve(struct tenant_db *db, const char *path, char *out, size_t n)
{
    if (path[0] == '/')
        snprintf(out, n, "%s", path);
    else
        snprintf(out, n, "%s/%s", tenant_db_dir(db), path);
}

enum lair_err ingest_job_upload(struct tenant_db *db, const char *kb,
                                const struct ingest_upload *files, size_t n,
                                const struct kb_job_hook *hook, int64_t *job_id)
{
    *job_id = 0;
    if (n == 0)
        return LAIR_EINVAL;
    enum lair_err e = kb_find(db, kb, NULL);
    if (e)
        return e;
    if (sodium_init() < 0)
        return LAIR_EINTERNAL;
    char dir[4500];
    if ((e = uploads_dir(db, kb, dir, sizeof(dir))))
        return e;
    struct kb_job_file_in *in = calloc(n, sizeof(*in));
    if (!in)
        return LAIR_ENOMEM;
    unsigned char rnd[8];
    randombytes_buf(rnd, sizeof(rnd));
    char hex[2 * sizeof(rnd) + 1], rel[128], path[4700];
    sodium_bin2hex(hex, sizeof(hex), rnd, sizeof(rnd));
    snprintf(rel, sizeof(rel), "kb/%s/uploads/u-%s", kb, hex);
    resolve(db, rel, path, sizeof(path));
    int64_t off = 0;
    for (size_t i = 0; i < n; i++) {
        in[i] = (struct kb_job_file_in){.name = files[i].name,
                                        .path = rel,
                                        .owned = true,
                                        .size = (int64_t)files[i].data.len,
                                        .offset = off};
        off += (int64_t)files[i].data.len;
    }
    /* the file, its directory entry, then the job that refers to it */
    if (!(e = write_durable(path, files, n))) {
        e = fsync_path(dir);
        if (!e)
            e = kb_job_create(db, kb, in, n, hook, job_id);
        if (e)
            unlink(path);
    }
    free(in);
    return e;
}

enum lair_err ingest_job_paths(struct tenant_db *db, const char *kb, const char *const *paths,
                               const char *const *names, size_t n, int64_t *job_id)
{
    *job_id = 0;
    struct kb_job_file_in *in = calloc(n ? n : 1, sizeof(*in));
    char **abs = calloc(n ? n : 1, sizeof(*abs));
    enum lair_err e = in && abs ? LAIR_OK : LAIR_ENOMEM;
    for (size_t i = 0; i < n && !e; i++) {
        struct stat st;
        abs[i] = realpath(paths[i], NULL);
        if (!abs[i] || stat(abs[i], &st) != 0 || !S_ISREG(st.st_mode)) {
            e = LAIR_EIO;
            break;
        }
        in[i] = (struct kb_job_file_in){
            .name = names[i], .path = abs[i], .owned = false, .size = (int64_t)st.st_size};
    }
    if (!e)
        e = kb_job_create(db, kb, in, n, NULL, job_id);
    for (size_t i = 0; abs && i < n; i++)
        free(abs[i]);
    free(abs);
    free(in);
    return e;
}

/* Reads a regular file of at most max bytes, or (size >= 0) the size bytes
 * from offset of one (an upload's part). OUT: *data OWNED (free()). */
static enum lair_err read_file(const char *path, int64_t offset, int64_t size, size_t max,
                               char **data, size_t *len, bool *too_big)
{
    *data = NULL;
    *len = 0;
    *too_big = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ELOOP) /* a file given to the CLI may be a link */
        fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || offset < 0 ||
        (size >= 0 && (offset > st.st_size || size > st.st_size - offset))) {
        close(fd);
        return LAIR_EIO;
    }
    uint64_t want = size >= 0 ? (uint64_t)size : (uint64_t)st.st_size;
    if (want > max) {
        close(fd);
        *too_big = true;
        return LAIR_ELIMIT;
    }
    size_t n = (size_t)want;
    char *p = malloc(n ? n : 1);
    if (!p) {
        close(fd);
        return LAIR_ENOMEM;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t r = pread(fd, p + off, n - off, (off_t)(offset + (int64_t)off));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        off += (size_t)r;
    }
    close(fd);
    if (off != n) {
        free(p);
        return LAIR_EIO;
    }
    *data = p;
    *len = n;
    return LAIR_OK;
}

static void sha256_hex(const char *data, size_t len, char out[65])
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, (const unsigned char *)data, len);
    sodium_bin2hex(out, 65, h, sizeof(h));
}

/* ---- one file ---- */

static int count_tokens(void *arg, struct str text)
{
    int n = 0;
    return llm_count_tokens(arg, text, &n) == LAIR_OK ? n : -1;
}

/* What the embedding model reads of a chunk: its heading path, then its
 * text, so that a passage is placed in its section. OUT: ARENA. */
static struct str embed_text(struct arena *a, const struct chunk *c)
{
    if (!c->heading_path[0])
        return (struct str){c->text, c->len};
    char *s = arena_printf(a, "%s\n%s", c->heading_path, c->text);
    return s ? str_c(s) : (struct str){c->text, c->len};
}

/* Embeds the chunks that the knowledge base has no vector for yet (by this
 * model), in batches. OUT: *vecs OWNED (n * dim floats), has[i] whether
 * chunk i got one. Failures leave chunks without a vector (logged): search
 * falls back to BM25 for them. */
static void embed_chunks(struct tenant_db *db, const char *kb, struct llm_model *m,
                         const struct chunk *chunks, size_t n, struct arena *a, float **vecs,
                         bool *has, int *dim)
{
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    *vecs = NULL;
    *dim = info.n_embd;
    if (info.n_embd <= 0 || !(*vecs = malloc(n * (size_t)info.n_embd * sizeof(float))))
        return;
    const char *model = llm_model_name(m);
    size_t todo[INGEST_EMBED_BATCH];
    struct str texts[INGEST_EMBED_BATCH];
    size_t i = 0;
    while (i < n) {
        size_t k = 0;
        for (; i < n && k < INGEST_EMBED_BATCH; i++) {
            if (kb_chunk_embedded(db, kb, chunks[i].hash, model))
                continue;
            todo[k] = i;
            texts[k++] = embed_text(a, &chunks[i]);
        }
        if (k == 0)
            continue;
        float *tmp = malloc(k * (size_t)info.n_embd * sizeof(float));
        if (!tmp)
            break;
        enum lair_err e = llm_embed(m, texts, k, tmp, NULL);
        for (size_t j = 0; j < k; j++) {
            /* a batch refused (one text too long): one by one */
            if (e && llm_embed(m, &texts[j], 1, tmp + j * (size_t)info.n_embd, NULL) != LAIR_OK)
                continue;
            memcpy(*vecs + todo[j] * (size_t)info.n_embd, tmp + j * (size_t)info.n_embd,
                   (size_t)info.n_embd * sizeof(float));
            has[todo[j]] = true;
        }
        if (e)
            log_warn("ingest",
                     "embedding a batch of %zu chunks with '%s' failed (%s): retried "
                     "one by one",
                     k, model, lair_err_msg(e));
        free(tmp);
    }
}

/* One claimed file on its way to its batch's commit: what processing found,
 * held until the transaction that records it. */
struct pending {
    const struct kb_job_file *f;
    struct kb_job_item *item;
    struct kb_doc_in d;
    char sha[65];
    char error[256];
    struct arena a; /* the document's chunks */
    struct chunk *chunks;
    struct kb_chunk_in *in;
    float *vecs;
    bool *has;
};

struct file_ctx {
    struct tenant_db *db;
    const struct kb_job *job;
    const struct ingest_opts *o;
    struct pending *p;
};

/* A storage error that waiting cures: the file is tried again, not failed. */
static bool transient(enum lair_err e)
{
    return e == LAIR_ESTORAGE || e == LAIR_EBUSY;
}

static void fail_file(struct file_ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_file(struct file_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->p->error, sizeof(c->p->error), fmt, ap);
    va_end(ap);
    c->p->item->state = "failed";
    c->p->item->error = c->p->error;
}

/* Chunks and embeds an extracted document, for the batch to store. */
static void store_doc(struct file_ctx *c, const struct doc *doc, size_t size)
{
    const struct ingest_opts *o = c->o;
    struct pending *p = c->p;
    struct llm_model *tok = o->tokenizer ? o->tokenizer : o->embed;
    struct chunk_opts copts = {.target_tokens = o->chunk_tokens};
    if (tok) {
        copts.count = count_tokens;
        copts.arg = tok;
    }
    if (o->embed) { /* chunks must fit the embedding model with their heading */
        struct llm_model_info info;
        llm_model_get_info(o->embed, &info);
        int room = info.n_ctx_slot > 0 ? info.n_ctx_slot * 3 / 4 : 0;
        int target = copts.target_tokens > 0 ? copts.target_tokens : CHUNK_TARGET_TOKENS;
        if (room > 0 && room < target)
            copts.target_tokens = room;
    }
    size_t n = 0;
    enum lair_err e = chunk_doc(doc, &copts, &p->a, &p->chunks, &n);
    if (e) {
        fail_file(c, "the document is too large to index (out of memory while cutting it)");
        return;
    }
    if (n == 0) {
        fail_file(c, "the document has no text to index");
        return;
    }
    int dim = 0;
    p->has = calloc(n, sizeof(*p->has));
    p->in = calloc(n, sizeof(*p->in));
    if (!p->has || !p->in) {
        fail_file(c, "out of memory");
        return;
    }
    if (o->embed)
        embed_chunks(c->db, c->job->kb, o->embed, p->chunks, n, &p->a, &p->vecs, p->has, &dim);
    /* the doc is released before the batch commits: the chunks' heading
     * paths, which it holds, are copied (once each run of chunks under one) */
    const char *from = NULL, *copy = "";
    for (size_t i = 0; i < n; i++) {
        if (p->chunks[i].heading_path != from) {
            from = p->chunks[i].heading_path;
            copy = arena_strndup(&p->a, from, strlen(from));
            if (!copy) {
                fail_file(c, "the document is too large to index (out of memory while cutting it)");
                return;
            }
        }
        p->in[i] = (struct kb_chunk_in){
            .text = {p->chunks[i].text, p->chunks[i].len},
            .heading_path = copy,
            .page = p->chunks[i].page,
            .tokens = p->chunks[i].tokens,
            .hash = p->chunks[i].hash,
            .embedding = p->vecs && p->has[i] ? p->vecs + i * (size_t)dim : NULL};
    }
    p->d = (struct kb_doc_in){.name = p->f->name,
                              .sha256 = p->sha,
                              .size = (int64_t)size,
                              .format = doc_format_name(doc->format),
                              .title = NULL,
                              .pages = (int)doc->npages};
    if (doc->title) /* the doc is released before the commit */
        p->d.title = arena_strndup(&p->a, doc->title, strlen(doc->title));
    *p->item = (struct kb_job_item){.seq = p->f->seq,
                                    .d = &p->d,
                                    .chunks = p->in,
                                    .n = n,
                                    .embed_model = p->vecs ? llm_model_name(o->embed) : NULL,
                                    .embed_dim = dim};
}

/* Reads, extracts, chunks and embeds one claimed file: its item says what
 * the batch's transaction is to record. */
static void process_file(struct file_ctx *c)
{
    const struct kb_job_file *f = c->p->f;
    if (f->attempts > INGEST_MAX_ATTEMPTS) {
        fail_file(c,
                  "indexing this file was interrupted %d times (the server stopped while "
                  "reading it); upload it again",
                  f->attempts - 1);
        return;
    }
    struct doc_limits lim = c->o->limits ? *c->o->limits : doc_limits_default();
    if (!lim.max_file_bytes)
        lim.max_file_bytes = doc_limits_default().max_file_bytes;
    char path[4700];
    resolve(c->db, f->path, path, sizeof(path));
    char *data;
    size_t len;
    bool too_big;
    /* an upload is its part of the request's file; the CLI's, the whole file
     * as it is now */
    enum lair_err e = read_file(path, f->owned ? f->offset : 0, f->owned ? f->size : -1,
                                lim.max_file_bytes, &data, &len, &too_big);
    if (e) {
        if (too_big)
            fail_file(c, "the file is larger than the limit of %zu bytes", lim.max_file_bytes);
        else if (e == LAIR_ENOMEM)
            fail_file(c, "out of memory while reading the file");
        else
            fail_file(c, "the file cannot be read (it was moved or deleted)");
        return;
    }
    char old[65];
    int64_t id;
    sha256_hex(data, len, c->p->sha);
    if (kb_document_lookup(c->db, c->job->kb, f->name, &id, old) == LAIR_OK &&
        !strcmp(c->p->sha, old)) {
        free(data);
        c->p->item->state = "unchanged";
        c->p->item->document_id = id;
        return;
    }
    struct doc doc;
    char msg[200];
    e = doc_extract(data, len, f->name, &lim, &doc, msg, sizeof(msg));
    free(data);
    if (e) {
        fail_file(c, "%s", msg[0] ? msg : lair_err_msg(e));
        doc_release(&doc);
        return;
    }
    store_doc(c, &doc, len);
    doc_release(&doc);
}

static void pending_release(struct pending *p)
{
    arena_release(&p->a);
    free(p->chunks);
    free(p->in);
    free(p->vecs);
    free(p->has);
}

/* Removes the job's own copies of processed files (at the job's end). */
static void remove_owned(void *arg, const struct kb_job_file *f)
{
    struct tenant_db *db = arg;
    if (!f->owned || !strcmp(f->state, "pending"))
        return;
    char path[4700];
    resolve(db, f->path, path, sizeof(path));
    if (unlink(path) != 0 && errno != ENOENT)
        log_warn("ingest", "cannot remove an uploaded file: %s", strerror(errno));
}

/* After a batch's commit: removes the uploads of fs[0..n) that no pending
 * file of the job still needs (the parts of one upload share its file). */
static void remove_done_uploads(struct tenant_db *db, int64_t job, const struct kb_job_file *fs,
                                size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!fs[i].owned || (i + 1 < n && !strcmp(fs[i].path, fs[i + 1].path)))
            continue; /* the last of a run of parts decides */
        if (kb_job_upload_pending(db, job, fs[i].path))
            continue;
        struct kb_job_file done = fs[i];
        snprintf(done.state, sizeof(done.state), "done");
        remove_owned(db, &done);
    }
}

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)(t.tv_sec - t0->tv_sec) * 1e3 + (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

/* Processes the claimed files fs[0..n) into items, while the batch's
 * memory and time allow: the files left over stay pending, their attempt
 * uncounted (items without outcome). */
static void process_batch(struct tenant_db *db, const struct kb_job *job,
                          const struct ingest_opts *o, const struct kb_job_file *fs,
                          struct pending *ps, struct kb_job_item *items, size_t n)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t held = 0;
    for (size_t i = 0; i < n; i++) {
        struct pending *p = &ps[i];
        p->f = &fs[i];
        p->item = &items[i];
        items[i] = (struct kb_job_item){.seq = fs[i].seq};
        arena_init(&p->a, CHUNK_ARENA_BYTES);
        if (i > 0 && (held > INGEST_BATCH_MEMORY || elapsed_ms(&t0) > INGEST_BATCH_MS)) {
            items[i].uncount = fs[i].counted;
            continue;
        }
        struct file_ctx c = {db, job, o, p};
        process_file(&c);
        held += p->a.used + (p->vecs ? items[i].n * (size_t)items[i].embed_dim * sizeof(float) : 0);
    }
}

/* Tells what the batch's commit made of each processed file. */
static void report_batch(const struct ingest_opts *o, const struct kb_job_file *fs,
                         const struct kb_job_item *items, size_t n, struct ingest_step *out)
{
    for (size_t i = 0; i < n; i++) {
        const struct kb_job_item *it = &items[i];
        if (!it->d && !it->state)
            continue; /* left for a later step */
        struct ingest_file r = {.seq = fs[i].seq, .name = fs[i].name, .error = ""};
        if (it->err == LAIR_ECONFLICT || it->err == LAIR_ENOTFOUND) {
            /* the job or the knowledge base was deleted meanwhile, or
             * another process recorded this file: nothing was recorded */
            r.state = "skipped";
        } else if (it->err || (!it->d && !strcmp(it->state, "failed"))) {
            r.state = "failed";
            r.error = it->error ? it->error : "";
        } else if (it->d) {
            r.state = it->res.unchanged ? "unchanged" : "indexed";
            r.chunks = it->n;
        } else {
            r.state = it->state;
        }
        out->files++;
        out->seq = r.seq;
        snprintf(out->name, sizeof(out->name), "%s", r.name);
        snprintf(out->file_state, sizeof(out->file_state), "%s", r.state);
        snprintf(out->error, sizeof(out->error), "%s", r.error);
        out->chunks = r.chunks;
        if (o->on_file)
            o->on_file(o->on_file_arg, &r);
    }
}

/* Claims the job's next files, processes them and commits their outcomes
 * in one transaction. */
static enum lair_err run_batch(struct tenant_db *db, const struct kb_job *job,
                               const struct ingest_opts *o, struct ingest_step *out)
{
    size_t max = o->batch_files > 1 ? o->batch_files : 1;
    if (max > INGEST_BATCH_FILES_MAX)
        max = INGEST_BATCH_FILES_MAX;
    struct kb_claim cl = {.max_files = max,
                          .max_bytes = o->batch_bytes ? (int64_t)o->batch_bytes
                                                      : (int64_t)INGEST_BATCH_BYTES,
                          .retry_seq = o->retry_seq,
                          .retry_last = o->retry_last};
    struct kb_job_file *fs = calloc(max, sizeof(*fs));
    struct pending *ps = calloc(max, sizeof(*ps));
    struct kb_job_item *items = calloc(max, sizeof(*items));
    struct arena a;
    arena_init(&a, CHUNK_ARENA_BYTES);
    size_t n = 0;
    enum lair_err e =
        fs && ps && items ? kb_job_claim_batch(db, job->id, &cl, &a, fs, &n) : LAIR_ENOMEM;
    if (!e) {
        kb_batch_begin(db);
        process_batch(db, job, o, fs, ps, items, n);
        e = kb_job_commit(db, job->kb, job->id, items, n);
        kb_batch_end();
        if (e) {
            /* every file stays pending, with its upload, for a later step */
            log_error("ingest", "cannot record the outcome of files %d to %d of job %lld: %s%s",
                      fs[0].seq, fs[n - 1].seq, (long long)job->id, lair_err_msg(e),
                      transient(e) ? " (they stay pending and are tried again)" : "");
            out->seq = fs[0].seq;
            out->retry_last = fs[n - 1].seq;
            out->retry = transient(e);
            snprintf(out->name, sizeof(out->name), "%s", fs[0].name);
            snprintf(out->file_state, sizeof(out->file_state), "pending");
        } else {
            report_batch(o, fs, items, n, out);
            /* an upload goes once its files' outcomes are committed */
            remove_done_uploads(db, job->id, fs, n);
        }
        for (size_t i = 0; i < n; i++)
            pending_release(&ps[i]);
    }
    arena_release(&a);
    free(items);
    free(ps);
    free(fs);
    return e;
}

enum lair_err ingest_job_step(struct tenant_db *db, int64_t job_id, const struct ingest_opts *o,
                              struct ingest_step *out)
{
    static const struct ingest_opts none = {0};
    memset(out, 0, sizeof(*out));
    if (!o)
        o = &none;
    struct kb_job job;
    enum lair_err e = kb_job_get(db, job_id, &job);
    if (e)
        return e;
    e = run_batch(db, &job, o, out);
    if (e == LAIR_ENOTFOUND) {
        e = kb_job_finish(db, job_id, out->state);
        if (e == LAIR_EBUSY) { /* another process holds the last file */
            e = LAIR_OK;
        } else if (!e) {
            out->finished = true;
            kb_job_files(db, job_id, remove_owned, db);
        }
    }
    /* the progress the step reports; what it did is committed whatever
     * happens here, and running the step again is harmless */
    struct kb_job now;
    enum lair_err g = kb_job_get(db, job_id, &now);
    if (!g) {
        out->done = now.done;
        out->total = now.total;
        if (!out->state[0])
            snprintf(out->state, sizeof(out->state), "%s", now.state);
    } else if (!e && g != LAIR_ENOTFOUND) {
        e = g; /* not a made-up "0 of 0 files" */
    }
    return e;
}

/* ---- the worker ---- */

struct qitem {
    char tenant[SLUG_MAX + 1];
    int64_t job;
    int retry_seq, retry_last;  /* the batch whose last step ended on a transient error */
    struct timespec not_before; /* after an error: the job waits (CLOCK_REALTIME) */
};

struct ingest {
    struct ingest_config cfg;
    pthread_mutex_t mu;
    pthread_cond_t wake, idle;
    struct qitem *q;
    size_t head, len;
    bool rescan, stop, busy, started, cleaned;
    uint64_t retries; /* steps that failed on an error, to be run again */
    pthread_t thread;
};

/* Pause before a job whose step failed on a storage error (disk full, a
 * lock held too long) runs again, unless the configuration gives one. */
#define RETRY_MS 5000

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* With w->mu held. state (NULL: a new job) carries a retry's file and
 * pause; a job already queued keeps its place and takes them. */
static void push_locked(struct ingest *w, const char *tenant, int64_t job,
                        const struct qitem *state)
{
    for (size_t i = 0; i < w->len; i++) {
        struct qitem *it = &w->q[(w->head + i) % w->cfg.queue_max];
        if (it->job == job && !strcmp(it->tenant, tenant)) {
            if (state && state->retry_seq) {
                it->retry_seq = state->retry_seq;
                it->retry_last = state->retry_last;
            }
            if (state && before(&it->not_before, &state->not_before))
                it->not_before = state->not_before;
            return;
        }
    }
    if (w->len == w->cfg.queue_max) {
        w->rescan = true; /* found again in the database */
        return;
    }
    struct qitem *it = &w->q[(w->head + w->len++) % w->cfg.queue_max];
    if (state) {
        *it = *state;
    } else {
        *it = (struct qitem){.job = job};
        snprintf(it->tenant, sizeof(it->tenant), "%s", tenant);
    }
}

/* With w->mu held: takes the first job of the queue that is not pausing
 * (those before it go to the back, so jobs keep taking turns). false when
 * every queued job pauses; *until is then when the first pause ends. */
static bool take_due_locked(struct ingest *w, struct qitem *out, struct timespec *until)
{
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    for (size_t i = 0; i < w->len; i++) {
        struct qitem *it = &w->q[w->head];
        if (!before(&now, &it->not_before)) {
            *out = *it;
            w->head = (w->head + 1) % w->cfg.queue_max;
            w->len--;
            return true;
        }
        if (i == 0 || before(&it->not_before, until))
            *until = it->not_before;
        w->q[(w->head + w->len) % w->cfg.queue_max] = *it; /* to the back */
        w->head = (w->head + 1) % w->cfg.queue_max;
    }
    return false;
}

void ingest_notify(struct ingest *w, const char *tenant, int64_t job_id)
{
    if (!w || !tenant)
        return;
    pthread_mutex_lock(&w->mu);
    push_locked(w, tenant, job_id, NULL);
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->mu);
}

static void pick_models(struct llm_registry *r, struct ingest_opts *o)
{
    struct llm_model *chat = NULL;
    for (size_t i = 0; r; i++) {
        struct llm_model *m = llm_registry_at(r, i);
        if (!m)
            break;
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        if ((info.kind & LLM_CAN_EMBED) && !o->embed)
            o->embed = m;
        if ((info.kind & LLM_CAN_CHAT) && !chat)
            chat = m;
    }
    o->tokenizer = o->embed ? o->embed : chat;
}

/* Removes uploaded files that no pending job refers to: what a crash
 * between writing an upload and committing its job left. Only old ones, so
 * that an upload being written now is left alone. */
static void clean_orphans(struct tenant_db *db)
{
    char kbs[4300];
    snprintf(kbs, sizeof(kbs), "%s/kb", tenant_db_dir(db));
    DIR *top = opendir(kbs);
    if (!top)
        return;
    struct dirent *k;
    time_t old = time(NULL) - INGEST_ORPHAN_AGE;
    while ((k = readdir(top))) {
        if (!strncmp(k->d_name, KB_DELETED_PREFIX, strlen(KB_DELETED_PREFIX))) {
            char gone[4600];
            snprintf(gone, sizeof(gone), "%s/%s", kbs, k->d_name);
            kb_remove_tree(gone); /* a deletion that a crash interrupted */
            continue;
        }
        if (!slug_valid(str_c(k->d_name)))
            continue;
        char rel[600], dir[4600];
        snprintf(dir, sizeof(dir), "%s/%s/uploads", kbs, k->d_name);
        DIR *d = opendir(dir);
        struct dirent *u;
        while (d && (u = readdir(d))) {
            if (strncmp(u->d_name, "u-", 2))
                continue;
            snprintf(rel, sizeof(rel), "kb/%s/uploads/%s", k->d_name, u->d_name);
            char path[4700];
            resolve(db, rel, path, sizeof(path));
            struct stat st;
            if (lstat(path, &st) == 0 && st.st_mtime < old && !kb_upload_pending(db, rel) &&
                unlink(path) == 0)
                log_info("ingest", "removed an upload that no job refers to (tenant %s)",
                         tenant_db_slug(db));
        }
        if (d)
            closedir(d);
    }
    closedir(top);
}

static void queue_job(void *arg, int64_t id)
{
    void **p = arg;
    struct ingest *w = p[0];
    pthread_mutex_lock(&w->mu);
    push_locked(w, p[1], id, NULL);
    pthread_mutex_unlock(&w->mu);
}

/* Queues the unfinished jobs of every tenant. */
static void scan_all(struct ingest *w)
{
    size_t cap = 1024, n = 0;
    struct tenant_row *rows = NULL;
    for (;;) { /* the list may be longer than the buffer */
        free(rows);
        rows = malloc(cap * sizeof(*rows));
        if (!rows || sysdb_tenant_list(w->cfg.sys, rows, cap, &n) != LAIR_OK) {
            log_error("ingest", "cannot list the tenants to resume their jobs");
            free(rows);
            return;
        }
        if (n < cap || cap >= SCAN_TENANTS_MAX)
            break;
        cap *= 4;
    }
    for (size_t i = 0; i < n; i++) {
        struct tenant_db *db;
        if (tenants_get(w->cfg.tenants, rows[i].slug, &db) != LAIR_OK)
            continue;
        void *arg[2] = {w, rows[i].slug};
        if (kb_jobs_unfinished(db, queue_job, arg) != LAIR_OK)
            log_error("ingest", "cannot read the jobs of tenant %s", rows[i].slug);
        if (!w->cleaned)
            clean_orphans(db);
        tenant_db_put(db);
    }
    w->cleaned = true;
    free(rows);
}

/* One step of a job; true when the job has more to do. A step that fails
 * on an error leaves its job queued, pausing for the retry delay, with the
 * file that waits for room (it->retry_seq): a full disk is waited out,
 * never turned into failed files. */
static bool run_item(struct ingest *w, struct qitem *it)
{
    struct tenant_db *db;
    if (tenants_get(w->cfg.tenants, it->tenant, &db) != LAIR_OK)
        return false; /* the tenant was deleted */
    struct ingest_opts o = {.retry_seq = it->retry_seq,
                            .retry_last = it->retry_last,
                            .batch_files = w->cfg.batch_files};
    pick_models(w->cfg.models, &o);
    struct ingest_step s;
    enum lair_err e = ingest_job_step(db, it->job, &o, &s);
    tenant_db_put(db);
    if (e == LAIR_ENOTFOUND)
        return false;
    if (e) {
        unsigned ms = w->cfg.retry_ms ? w->cfg.retry_ms : RETRY_MS;
        log_error("ingest", "job %lld of tenant %s: %s (tried again in %u ms)", (long long)it->job,
                  it->tenant, lair_err_msg(e), ms);
        if (s.retry) {
            it->retry_seq = s.seq;
            it->retry_last = s.retry_last;
        }
        clock_gettime(CLOCK_REALTIME, &it->not_before);
        it->not_before.tv_sec += ms / 1000;
        it->not_before.tv_nsec += (long)(ms % 1000) * 1000000L;
        if (it->not_before.tv_nsec >= 1000000000L) {
            it->not_before.tv_sec++;
            it->not_before.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w->mu);
        w->retries++;
        pthread_mutex_unlock(&w->mu);
        return true;
    }
    it->retry_seq = it->retry_last = 0;
    if (s.finished)
        log_info("ingest", "job %lld of tenant %s %s: %lld of %lld files", (long long)it->job,
                 it->tenant, s.state, (long long)s.done, (long long)s.total);
    return !s.finished && s.seq > 0;
}

static void *worker(void *arg)
{
    struct ingest *w = arg;
    pthread_mutex_lock(&w->mu);
    w->rescan = true;
    for (;;) {
        while (!w->stop && w->len == 0 && !w->rescan) {
            w->busy = false;
            pthread_cond_broadcast(&w->idle);
            pthread_cond_wait(&w->wake, &w->mu);
        }
        if (w->stop)
            break;
        w->busy = true;
        if (w->len == 0) {
            w->rescan = false;
            pthread_mutex_unlock(&w->mu);
            scan_all(w);
            pthread_mutex_lock(&w->mu);
            continue;
        }
        struct qitem it;
        struct timespec until;
        if (!take_due_locked(w, &it, &until)) { /* a notify or stop wakes it early */
            pthread_cond_timedwait(&w->wake, &w->mu, &until);
            continue;
        }
        pthread_mutex_unlock(&w->mu);
        bool more = run_item(w, &it);
        pthread_mutex_lock(&w->mu);
        if (more) /* to the back of the queue: jobs take turns */
            push_locked(w, it.tenant, it.job, &it);
    }
    w->busy = false;
    pthread_cond_broadcast(&w->idle);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

enum lair_err ingest_new(const struct ingest_config *cfg, struct ingest **out)
{
    *out = NULL;
    if (!cfg || !cfg->sys || !cfg->tenants)
        return LAIR_EINVAL;
    struct ingest *w = calloc(1, sizeof(*w));
    if (!w)
        return LAIR_ENOMEM;
    w->cfg = *cfg;
    if (!w->cfg.queue_max)
        w->cfg.queue_max = 1024;
    if (!w->cfg.batch_files) {
        const char *v = getenv("LIBREAIR_INGEST_BATCH");
        long n = v ? strtol(v, NULL, 10) : 0;
        w->cfg.batch_files = n > 0 ? (size_t)n : INGEST_BATCH_FILES;
    }
    w->q = calloc(w->cfg.queue_max, sizeof(*w->q));
    if (!w->q) {
        free(w);
        return LAIR_ENOMEM;
    }
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->idle, NULL);
    *out = w;
    return LAIR_OK;
}

enum lair_err ingest_start(struct ingest *w)
{
    pthread_mutex_lock(&w->mu);
    if (w->started) {
        pthread_mutex_unlock(&w->mu);
        return LAIR_OK;
    }
    w->busy = true; /* until the first scan is done */
    int rc = pthread_create(&w->thread, NULL, worker, w);
    w->started = rc == 0;
    if (rc)
        w->busy = false;
    pthread_mutex_unlock(&w->mu);
    return rc == 0 ? LAIR_OK : LAIR_ENOMEM;
}

void ingest_wait_idle(struct ingest *w)
{
    pthread_mutex_lock(&w->mu);
    while (w->started && (w->busy || w->len > 0 || w->rescan))
        pthread_cond_wait(&w->idle, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

uint64_t ingest_retries(struct ingest *w)
{
    pthread_mutex_lock(&w->mu);
    uint64_t n = w->retries;
    pthread_mutex_unlock(&w->mu);
    return n;
}

void ingest_free(struct ingest *w)
{
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_broadcast(&w->wake);
    bool started = w->started;
    pthread_mutex_unlock(&w->mu);
    if (started)
        pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->idle);
    pthread_cond_destroy(&w->wake);
    pthread_mutex_destroy(&w->mu);
    free(w->q);
    free(w);
}
