/* Tests of knowledge bases: chunking (src/rag/chunk.c), the store
 * (src/store/kb.c) and ingestion jobs (src/rag/ingest.c) on a temporary data
 * directory with real files: French search through the lair_fr index, an
 * unchanged re-ingest that does nothing, a changed file that replaces its
 * chunks at once, a deletion that leaves no trace in the chunks, the FTS5
 * shadow tables nor the database file's bytes, identical chunks stored once
 * and handed over, per-file errors, the upload path and the background
 * worker (resuming jobs at start, removing orphan uploads), vectors from a
 * tiny generated embedding model, a crash in the middle of a job: a
 * child process that ingests is killed with SIGKILL again and again, and
 * after each kill every document is fully indexed or absent; a full disk
 * while a job runs (files wait with their uploads, never fail, are never
 * counted as interrupted); and audit events written in the upload's job
 * transaction. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit/audit.h"
#include "rag/chunk.h"
#include "rag/ingest.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"

#include "core/banned.h"

static char dir[256], data[300], files[300];
static struct sysdb *sys;
static struct tenants *tenants;
static struct tenant_db *db;

/* ---- helpers ---- */

static void open_all(void)
{
    assert_int_equal(sysdb_open(data, &sys), LAIR_OK);
    assert_int_equal(tenants_new(data, sys, &tenants), LAIR_OK);
    assert_int_equal(tenants_get(tenants, "ville", &db), LAIR_OK);
}

static void close_all(void)
{
    tenant_db_put(db);
    tenants_free(tenants);
    sysdb_free(sys);
    db = NULL;
    tenants = NULL;
    sys = NULL;
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-kb-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(files, sizeof(files), "%s/files", dir);
    if (sysdb_init_dir(data) || mkdir(files, 0700))
        return -1;
    if (sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        tenants_create(tenants, "ville", "Ville") || tenants_get(tenants, "ville", &db))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    close_all();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void write_file(const char *name, const char *content, size_t len)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/%s", files, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void write_text(const char *name, const char *content)
{
    write_file(name, content, strlen(content));
}

static int64_t sql_int(const char *sql, const char *arg)
{
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tenant_db_handle(db), sql, -1, &st, NULL), SQLITE_OK);
    if (arg)
        sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

static void sql_exec(const char *sql)
{
    char *err = NULL;
    int rc = sqlite3_exec(tenant_db_handle(db), sql, NULL, NULL, &err);
    if (rc != SQLITE_OK)
        print_error("%s: %s\n", sql, err ? err : "?");
    sqlite3_free(err);
    assert_int_equal(rc, SQLITE_OK);
}

/* Rows of the full-text index that match word (through lair_fr). */
static int64_t fts_count(const char *word)
{
    return sql_int("SELECT count(*) FROM chunks_fts WHERE chunks_fts MATCH ?1", word);
}

/* The FTS5 index agrees with the chunks table, and the file is sound. */
static void check_integrity(void)
{
    sql_exec("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)");
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(tenant_db_handle(db), "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    assert_int_equal(sql_int("SELECT count(*) FROM pragma_foreign_key_check", NULL), 0);
}

/* Runs a job to its end in this process. OUT: the last step. */
static void run_job(int64_t job, const struct ingest_opts *o, struct ingest_step *last)
{
    for (int i = 0; i < 10000; i++) {
        assert_int_equal(ingest_job_step(db, job, o, last), LAIR_OK);
        if (last->finished)
            return;
    }
    fail_msg("job %lld does not end", (long long)job);
}

/* Ingests files[0..n) (in the files folder, named as they are) into kb. */
static int64_t ingest(const char *kb, const char *const *names, size_t n,
                      const struct ingest_opts *o, struct ingest_step *last)
{
    char **paths = calloc(n, sizeof(*paths));
    assert_non_null(paths);
    for (size_t i = 0; i < n; i++) {
        paths[i] = malloc(700);
        snprintf(paths[i], 700, "%s/%s", files, names[i]);
    }
    int64_t job;
    assert_int_equal(ingest_job_paths(db, kb, (const char *const *)paths, names, n, &job), LAIR_OK);
    for (size_t i = 0; i < n; i++)
        free(paths[i]);
    free(paths);
    struct ingest_step s;
    run_job(job, o, last ? last : &s);
    return job;
}

static const char *file_state(int64_t job, int seq, char *error, size_t cap);

struct file_states {
    int seq;
    char state[KB_STATE_MAX];
    char error[256];
};

static void one_state(void *arg, const struct kb_job_file *f)
{
    struct file_states *s = arg;
    if (f->seq != s->seq)
        return;
    snprintf(s->state, sizeof(s->state), "%s", f->state);
    snprintf(s->error, sizeof(s->error), "%s", f->error ? f->error : "");
}

static const char *file_state(int64_t job, int seq, char *error, size_t cap)
{
    static struct file_states s;
    memset(&s, 0, sizeof(s));
    s.seq = seq;
    assert_int_equal(kb_job_files(db, job, one_state, &s), LAIR_OK);
    if (error)
        snprintf(error, cap, "%s", s.error);
    return s.state;
}

/* Best hit of question in kb: its document's name (static), or "" when none. */
static const char *best(const char *kb, const char *question)
{
    static char name[KB_DOC_NAME_MAX + 1];
    struct kb_hit hits[5];
    size_t n;
    const char *kbs[1] = {kb};
    assert_int_equal(kb_search(db, kbs, 1, str_c(question), 5, hits, &n), LAIR_OK);
    name[0] = 0;
    if (n == 0)
        return name;
    struct arena a;
    arena_init(&a, 0);
    struct kb_chunk c;
    size_t got;
    assert_int_equal(kb_chunks_get(db, &hits[0].chunk_id, 1, &a, &c, &got), LAIR_OK);
    assert_int_equal(got, 1);
    snprintf(name, sizeof(name), "%s", c.document);
    arena_release(&a);
    return name;
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    size_t cap = 1 << 20, len = 0;
    char *buf = malloc(cap);
    size_t r;
    while (buf && (r = fread(buf + len, 1, cap - len, f)) > 0) {
        len += r;
        if (len == cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb)
                break;
            buf = nb;
        }
    }
    fclose(f);
    bool found = buf && memmem(buf, len, needle, strlen(needle)) != NULL;
    free(buf);
    return found;
}

/* The tenant database file, or its WAL, holds needle. */
static bool db_has(const char *needle)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/tenant.db", tenant_db_dir(db));
    bool found = file_has(path, needle);
    snprintf(path, sizeof(path), "%s/tenant.db-wal", tenant_db_dir(db));
    return found || file_has(path, needle);
}

static void checkpoint(void)
{
    assert_int_equal(sqlite3_wal_checkpoint_v2(tenant_db_handle(db), NULL,
                                               SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                     SQLITE_OK);
}

/* A paragraph of French prose that mentions tag, about n bytes. */
static void prose(struct buf *b, const char *tag, size_t n)
{
    static const char *const s[] = {
        "Les demandes sont instruites par le service compétent de la mairie dans un délai "
        "de deux mois.",
        "Le dossier complet comprend une pièce d'identité et un justificatif de domicile "
        "récent.",
        "Les horaires d'ouverture au public sont affichés à l'entrée de l'hôtel de ville.",
        "Toute réclamation peut être adressée par écrit au maire ou déposée à l'accueil.",
    };
    size_t start = b->len;
    for (int i = 0; b->len - start < n; i++)
        buf_printf(b, "%s %s%d. ", s[i % 4], tag, i);
    b->len--; /* no trailing space */
    b->ptr[b->len] = 0;
}

/* ---- chunking ---- */

static struct doc extract_md(const char *text)
{
    struct doc d;
    char msg[200];
    enum lair_err e = doc_extract(text, strlen(text), "x.md", NULL, &d, msg, sizeof(msg));
    if (e)
        fail_msg("extract: %s", msg);
    return d;
}

static bool word_in(const char *source, const char *w, size_t n)
{
    for (const char *p = source; (p = memmem(p, strlen(p), w, n)); p++) {
        bool start = p == source || p[-1] == ' ' || p[-1] == '\n';
        bool end = p[n] == 0 || p[n] == ' ' || p[n] == '\n';
        if (start && end)
            return true;
    }
    return false;
}

static int bytes_half(void *arg, struct str text)
{
    (void)arg;
    return (int)(text.len + 1) / 2;
}

static void test_chunking(void **state)
{
    (void)state;
    struct buf md, para;
    buf_init(&md, 0);
    buf_init(&para, 0);
    prose(&para, "mot", 6000);
    buf_printf(&md,
               "# Inscriptions scolaires\n\n%s\n\n## Cantine\n\n- le menu\n- les tarifs\n\n"
               "| Jour | Menu du jour servi |\n|---|---|\n",
               para.ptr);
    for (int i = 0; i < 120; i++)
        buf_printf(&md, "| jour%d | plat numéro %d avec légumes de saison |\n", i, i);
    struct doc d = extract_md(md.ptr);
    struct arena a;
    arena_init(&a, 0);
    struct chunk *c;
    size_t n;
    assert_int_equal(chunk_doc(&d, NULL, &a, &c, &n), LAIR_OK);
    assert_true(n > 8);
    size_t prose_chunks = 0, table_chunks = 0;
    for (size_t i = 0; i < n; i++) {
        assert_true(c[i].len > 0 && strlen(c[i].text) == c[i].len);
        assert_true(utf8_valid(c[i].text, c[i].len));
        assert_true(c[i].tokens <= CHUNK_TARGET_TOKENS + 8);
        assert_int_equal(c[i].tokens, chunk_estimate_tokens((struct str){c[i].text, c[i].len}));
        if (!strcmp(c[i].heading_path, "Inscriptions scolaires")) {
            prose_chunks++;
            /* every word of the chunk is a whole word of the source */
            char *copy = strdup(c[i].text), *save = NULL;
            for (char *w = strtok_r(copy, " \n", &save); w; w = strtok_r(NULL, " \n", &save))
                if (!word_in(para.ptr, w, strlen(w)))
                    fail_msg("chunk %zu cuts a word: '%s'", i, w);
            free(copy);
            /* the next chunk of the section opens with the end of this one */
            if (i + 1 < n && !strcmp(c[i + 1].heading_path, c[i].heading_path)) {
                char head[24];
                snprintf(head, sizeof(head), "%.20s", c[i + 1].text);
                const char *at = strstr(c[i].text, head);
                assert_non_null(at);
                assert_true(at > c[i].text + c[i].len / 2);
                /* and starts at a sentence */
                assert_true(at[-2] == '.' || at == c[i].text);
            }
        } else {
            assert_string_equal(c[i].heading_path, "Inscriptions scolaires > Cantine");
            if (strstr(c[i].text, "jour"))
                table_chunks++;
            /* a table cut across chunks repeats its header row */
            if (strstr(c[i].text, "| plat") && !strstr(c[i].text, "le menu"))
                assert_true(!strncmp(c[i].text, "Jour | Menu du jour servi\n", 26));
        }
    }
    assert_true(prose_chunks >= 5);
    assert_true(table_chunks >= 2);
    assert_non_null(strstr(c[prose_chunks].text, "- le menu\n- les tarifs"));
    free(c);

    /* sized by a tokenizer (here: two bytes a token): more, smaller chunks */
    struct chunk_opts o = {.count = bytes_half};
    size_t n2;
    assert_int_equal(chunk_doc(&d, &o, &a, &c, &n2), LAIR_OK);
    assert_true(n2 > n);
    for (size_t i = 0; i < n2; i++)
        assert_true(c[i].tokens <= CHUNK_TARGET_TOKENS + 4);
    free(c);
    doc_release(&d);

    /* a word longer than a chunk is cut, and nothing else is */
    buf_reset(&md);
    buf_puts(&md, "Début ");
    for (int i = 0; i < 3000; i++)
        buf_append(&md, "x", 1);
    buf_puts(&md, " fin.");
    d = extract_md(md.ptr);
    assert_int_equal(chunk_doc(&d, NULL, &a, &c, &n), LAIR_OK);
    assert_true(n >= 3);
    for (size_t i = 0; i < n; i++)
        assert_true(c[i].tokens <= CHUNK_TARGET_TOKENS);
    free(c);
    doc_release(&d);

    /* pages (form feeds in text) and headings only */
    static const char paged[] = "Page un, premier paragraphe.\fPage deux.\fPage trois.";
    char msg[200];
    assert_int_equal(doc_extract(paged, sizeof(paged) - 1, "p.txt", NULL, &d, msg, sizeof(msg)),
                     LAIR_OK);
    assert_int_equal(chunk_doc(&d, NULL, &a, &c, &n), LAIR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(c[0].page, 1);
    free(c);
    doc_release(&d);
    d = extract_md("# Titre seul\n\n## Autre titre\n");
    assert_int_equal(chunk_doc(&d, NULL, &a, &c, &n), LAIR_OK);
    assert_true(n >= 1);
    free(c);
    doc_release(&d);

    /* hashes: the same text under another heading is another chunk */
    unsigned char h1[CHUNK_HASH_BYTES], h2[CHUNK_HASH_BYTES], h3[CHUNK_HASH_BYTES];
    chunk_hash(S("Mairie"), S("Ouvert de 9 h à 12 h."), h1);
    chunk_hash(S("Mairie"), S("Ouvert de 9 h à 12 h."), h2);
    chunk_hash(S("Bibliothèque"), S("Ouvert de 9 h à 12 h."), h3);
    assert_memory_equal(h1, h2, sizeof(h1));
    assert_memory_not_equal(h1, h3, sizeof(h1));
    arena_release(&a);
    buf_release(&md);
    buf_release(&para);
}

/* ---- store ---- */

struct counted {
    int n;
    struct kb_info last;
};

static void count_kb(void *arg, const struct kb_info *k)
{
    struct counted *c = arg;
    c->n++;
    c->last = *k;
}

static void test_kb_crud(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "demarches", "Démarches"), LAIR_OK);
    assert_int_equal(kb_create(db, "demarches", NULL), LAIR_ECONFLICT);
    assert_int_equal(kb_create(db, "Bad Slug", NULL), LAIR_EINVAL);
    assert_int_equal(kb_create(db, "x", "tab\there"), LAIR_EINVAL);
    assert_int_equal(kb_create(db, "zz-temp", ""), LAIR_OK);
    struct kb_info k;
    assert_int_equal(kb_find(db, "zz-temp", &k), LAIR_OK);
    assert_string_equal(k.name, "zz-temp");
    assert_int_equal(kb_find(db, "demarches", &k), LAIR_OK);
    assert_string_equal(k.name, "Démarches");
    assert_int_equal(k.documents, 0);
    assert_int_equal(kb_find(db, "nope", NULL), LAIR_ENOTFOUND);
    struct counted c = {0};
    assert_int_equal(kb_list(db, count_kb, &c), LAIR_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.last.slug, "zz-temp");
    assert_int_equal(kb_delete(db, "zz-temp"), LAIR_OK);
    assert_int_equal(kb_delete(db, "zz-temp"), LAIR_ENOTFOUND);
    assert_int_equal(kb_create(db, "zz-temp", NULL), LAIR_OK); /* the slug is free again */
    struct kb_info again;
    assert_int_equal(kb_find(db, "zz-temp", &again), LAIR_OK);
    assert_true(again.id > k.id); /* ids are never reused */
    assert_int_equal(kb_delete(db, "zz-temp"), LAIR_OK);
}

/* ---- ingestion and search ---- */

static void test_ingest_search(void **state)
{
    (void)state;
    write_text("ecoles.md", "# Inscriptions\n\nL'inscription à l'école maternelle se fait à la "
                            "mairie, avec le livret de famille et un justificatif de domicile.\n");
    write_text("etat-civil.txt", "Pour obtenir un acte de naissance, adressez-vous au service "
                                 "de l'état civil de la commune où l'enfant est né.\n");
    write_text("broken.pdf", "%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage");
    static const char exe[] = "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
                              "This program cannot be run in DOS mode.";
    write_file("setup.exe", exe, sizeof(exe) - 1);
    const char *names[] = {"ecoles.md", "etat-civil.txt", "broken.pdf", "setup.exe"};
    struct ingest_step s;
    int64_t job = ingest("demarches", names, 4, NULL, &s);
    assert_true(s.finished);
    assert_string_equal(s.state, "done");
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_int_equal(j.done, 4);
    assert_int_equal(j.total, 4);
    assert_string_equal(file_state(job, 1, NULL, 0), "indexed");
    assert_string_equal(file_state(job, 2, NULL, 0), "indexed");
    char err[256];
    assert_string_equal(file_state(job, 3, err, sizeof(err)), "failed");
    assert_true(strlen(err) > 10);
    assert_string_equal(file_state(job, 4, err, sizeof(err)), "failed");
    assert_true(strlen(err) > 10);
    /* French variants: plural, no accent, elision, case */
    assert_string_equal(best("demarches", "écoles maternelles"), "ecoles.md");
    assert_string_equal(best("demarches", "ecole"), "ecoles.md");
    assert_string_equal(best("demarches", "L'École ?"), "ecoles.md");
    assert_string_equal(best("demarches", "inscriptions"), "ecoles.md");
    assert_string_equal(best("demarches", "naissances"), "etat-civil.txt");
    assert_string_equal(best("demarches", "Etat-Civil"), "etat-civil.txt");
    assert_string_equal(best("demarches", "le la les"), "");       /* stop words only */
    assert_string_equal(best("demarches", "\"NEAR( * ^col:"), ""); /* no FTS5 syntax */
    /* the hit carries its heading and document */
    struct kb_hit hits[2];
    size_t n;
    const char *kbs[1] = {"demarches"};
    assert_int_equal(kb_search(db, kbs, 1, S("livret de famille"), 2, hits, &n), LAIR_OK);
    assert_int_equal(n, 1);
    assert_true(hits[0].score > 0);
    struct arena a;
    arena_init(&a, 0);
    struct kb_chunk c;
    size_t got;
    assert_int_equal(kb_chunks_get(db, &hits[0].chunk_id, 1, &a, &c, &got), LAIR_OK);
    assert_string_equal(c.heading_path, "Inscriptions");
    assert_string_equal(c.kb, "demarches");
    assert_int_equal(c.page, 0);
    assert_non_null(strstr(c.text, "livret de famille"));
    arena_release(&a);
    /* files given to a job in place are not removed */
    char path[600];
    snprintf(path, sizeof(path), "%s/ecoles.md", files);
    assert_int_equal(access(path, F_OK), 0);
    check_integrity();
}

static void test_search_isolation(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "autre", NULL), LAIR_OK);
    write_text("autre.md", "# Piscine\n\nLa piscine municipale ouvre en juin. L'école de "
                           "natation accueille les enfants.\n");
    const char *names[] = {"autre.md"};
    ingest("autre", names, 1, NULL, NULL);
    struct kb_info a, d;
    assert_int_equal(kb_find(db, "autre", &a), LAIR_OK);
    assert_int_equal(kb_find(db, "demarches", &d), LAIR_OK);
    struct kb_hit hits[10];
    size_t n;
    const char *one[1] = {"demarches"};
    assert_int_equal(kb_search(db, one, 1, S("école"), 10, hits, &n), LAIR_OK);
    assert_true(n >= 1);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(hits[i].chunk_id >> KB_CHUNK_SHIFT, d.id);
    const char *both[3] = {"demarches", "inconnue", "autre"};
    assert_int_equal(kb_search(db, both, 3, S("école"), 10, hits, &n), LAIR_OK);
    bool seen_a = false, seen_d = false;
    for (size_t i = 0; i < n; i++) {
        seen_a |= hits[i].chunk_id >> KB_CHUNK_SHIFT == a.id;
        seen_d |= hits[i].chunk_id >> KB_CHUNK_SHIFT == d.id;
        if (i)
            assert_true(hits[i - 1].score >= hits[i].score);
    }
    assert_true(seen_a && seen_d);
    assert_int_equal(kb_search(db, both, 3, S("école"), 1, hits, &n), LAIR_OK);
    assert_int_equal(n, 1);
}

struct id_list {
    int64_t ids[64];
    int n;
};

static void chunk_ids(const char *kb, const char *name, struct id_list *out)
{
    int64_t doc;
    assert_int_equal(kb_document_lookup(db, kb, name, &doc, NULL), LAIR_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tenant_db_handle(db),
                                        "SELECT id FROM chunks WHERE document_id = ?1 ORDER BY id",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, doc);
    out->n = 0;
    while (sqlite3_step(st) == SQLITE_ROW && out->n < 64)
        out->ids[out->n++] = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

static void test_unchanged_and_replace(void **state)
{
    (void)state;
    static const char v1[] = "# Cimetière\n\nLes concessions funéraires sont accordées pour "
                             "quinze ou trente ans.\n\n# Voirie\n\nLes nids-de-poule se signalent "
                             "en ligne.\n\n# Marché\n\nLe marché se tient le samedi matin, place "
                             "de la fontaine aubergine.\n";
    write_text("guide.md", v1);
    const char *names[] = {"guide.md"};
    struct ingest_step s;
    ingest("demarches", names, 1, NULL, &s);
    assert_string_equal(s.state, "done");
    struct id_list before, after;
    chunk_ids("demarches", "guide.md", &before);
    assert_int_equal(before.n, 3);
    int64_t updated = sql_int("SELECT updated_at FROM documents WHERE name = 'guide.md'", NULL);
    int64_t docs = sql_int("SELECT count(*) FROM documents", NULL);

    /* unchanged: nothing is written */
    int64_t changes = sqlite3_total_changes(tenant_db_handle(db));
    int64_t job = ingest("demarches", names, 1, NULL, &s);
    assert_string_equal(file_state(job, 1, NULL, 0), "unchanged");
    assert_string_equal(s.state, "done");
    chunk_ids("demarches", "guide.md", &after);
    assert_int_equal(after.n, 3);
    assert_memory_equal(after.ids, before.ids, sizeof(int64_t) * 3);
    assert_int_equal(sql_int("SELECT updated_at FROM documents WHERE name = 'guide.md'", NULL),
                     updated);
    (void)changes;

    /* changed: the market section only; the others keep their chunks */
    static const char v2[] = "# Cimetière\n\nLes concessions funéraires sont accordées pour "
                             "quinze ou trente ans.\n\n# Voirie\n\nLes nids-de-poule se signalent "
                             "en ligne.\n\n# Marché\n\nLe marché se tient le dimanche, place du "
                             "kiosque framboise.\n";
    write_text("guide.md", v2);
    assert_int_equal(fts_count("aubergine"), 1);
    job = ingest("demarches", names, 1, NULL, &s);
    assert_string_equal(file_state(job, 1, NULL, 0), "indexed");
    chunk_ids("demarches", "guide.md", &after);
    assert_int_equal(after.n, 3);
    assert_int_equal(after.ids[0], before.ids[0]);
    assert_int_equal(after.ids[1], before.ids[1]);
    assert_true(after.ids[2] > before.ids[2]);
    assert_int_equal(fts_count("aubergine"), 0);
    assert_int_equal(fts_count("framboise"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM documents", NULL), docs);

    /* a replacement whose bookkeeping fails at the end rolls back whole */
    static const char v3[] = "# Marché\n\nLe marché est supprimé, place de la mandarine.\n";
    write_text("guide.md", v3);
    const char *path_names[] = {"guide.md"};
    char path[600];
    snprintf(path, sizeof(path), "%s/guide.md", files);
    const char *paths[] = {path};
    assert_int_equal(ingest_job_paths(db, "demarches", paths, path_names, 1, &job), LAIR_OK);
    assert_int_equal(kb_job_file_set(db, job, 1, "failed", "cancelled", 0), LAIR_OK);
    unsigned char hash[KB_HASH_BYTES];
    chunk_hash(S("Marché"), S("Le marché est supprimé, place de la mandarine."), hash);
    struct kb_chunk_in in = {.text = S("Le marché est supprimé, place de la mandarine."),
                             .heading_path = "Marché",
                             .tokens = 12,
                             .hash = hash};
    struct kb_doc_in d = {.name = "guide.md",
                          .sha256 =
                              "0000000000000000000000000000000000000000000000000000000000000000",
                          .size = 10,
                          .format = "markdown"};
    struct kb_put_result res;
    assert_int_equal(kb_document_put(db, "demarches", &d, &in, 1, NULL, 0, job, 1, &res),
                     LAIR_ECONFLICT);
    assert_int_equal(fts_count("mandarine"), 0);
    assert_int_equal(fts_count("framboise"), 1);
    chunk_ids("demarches", "guide.md", &before);
    assert_int_equal(before.n, 3);
    assert_memory_equal(after.ids, before.ids, sizeof(int64_t) * 3);
    /* without a job, the same call replaces the document */
    assert_int_equal(kb_document_put(db, "demarches", &d, &in, 1, NULL, 0, 0, 0, &res), LAIR_OK);
    assert_true(res.replaced);
    assert_int_equal(res.removed, 3);
    assert_int_equal(fts_count("mandarine"), 1);
    assert_int_equal(fts_count("framboise"), 0);
    assert_int_equal(fts_count("concessions"), 0);
    check_integrity();
}

static void test_shared_chunks(void **state)
{
    (void)state;
    static const char text[] = "# Horaires\n\nLa médiathèque ouvre le mercredi de 10 h à 18 h "
                               "et le samedi matin, rue des capucines.\n";
    write_text("v1.md", text);
    write_text("v2.md", text);
    const char *names[] = {"v1.md", "v2.md"};
    int64_t job = ingest("demarches", names, 2, NULL, NULL);
    assert_string_equal(file_state(job, 2, NULL, 0), "indexed");
    /* stored once, held by both */
    assert_int_equal(fts_count("capucines"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM chunk_refs", NULL), 1);
    int64_t v1, v2;
    assert_int_equal(kb_document_lookup(db, "demarches", "v1.md", &v1, NULL), LAIR_OK);
    assert_int_equal(kb_document_lookup(db, "demarches", "v2.md", &v2, NULL), LAIR_OK);
    /* the owner goes: the other document takes the chunk over */
    char name[KB_DOC_NAME_MAX + 1];
    assert_int_equal(kb_document_delete(db, "demarches", v1, name), LAIR_OK);
    assert_string_equal(name, "v1.md");
    assert_int_equal(kb_document_delete(db, "demarches", v1, NULL), LAIR_ENOTFOUND);
    assert_int_equal(fts_count("capucines"), 1);
    assert_string_equal(best("demarches", "médiathèque capucines"), "v2.md");
    assert_int_equal(sql_int("SELECT count(*) FROM chunk_refs", NULL), 0);
    /* and loses it when it changes */
    write_text("v2.md", "# Horaires\n\nLa médiathèque est fermée en août, rue des glycines.\n");
    const char *one[] = {"v2.md"};
    ingest("demarches", one, 1, NULL, NULL);
    assert_int_equal(fts_count("capucines"), 0);
    assert_int_equal(fts_count("glycines"), 1);
    /* another knowledge base's document cannot be deleted through this one */
    assert_int_equal(kb_document_lookup(db, "demarches", "v2.md", &v2, NULL), LAIR_OK);
    assert_int_equal(kb_document_delete(db, "autre", v2, NULL), LAIR_ENOTFOUND);
    check_integrity();
}

static void test_delete_leaves_no_trace(void **state)
{
    (void)state;
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "# Dossier\n\n");
    prose(&b, "zorglubophone", 4000);
    write_text("secret.md", b.ptr);
    write_text("public.md", "# Public\n\nLe conseil municipal se réunit chaque mois.\n");
    const char *names[] = {"secret.md", "public.md"};
    ingest("demarches", names, 2, NULL, NULL);
    assert_true(fts_count("zorglubophone0") >= 1);
    checkpoint();
    assert_true(db_has("zorglub")); /* the scan sees it while it is there */

    int64_t id;
    assert_int_equal(kb_document_lookup(db, "demarches", "secret.md", &id, NULL), LAIR_OK);
    assert_int_equal(kb_document_delete(db, "demarches", id, NULL), LAIR_OK);
    assert_int_equal(fts_count("zorglubophone0"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM chunks WHERE text LIKE '%zorglub%'", NULL), 0);
    checkpoint();
    assert_false(db_has("zorglub"));
    assert_string_equal(best("demarches", "conseil municipal"), "public.md");

    /* the control: rows deleted without the index being optimised leave
     * their terms in the FTS5 segments, which the scan finds */
    buf_reset(&b);
    buf_puts(&b, "# Témoin\n\n");
    prose(&b, "xylocarpe", 2000);
    write_text("temoin.md", b.ptr);
    const char *one[] = {"temoin.md"};
    ingest("demarches", one, 1, NULL, NULL);
    sql_exec("DELETE FROM chunks WHERE text LIKE '%xylocarpe%'");
    assert_int_equal(fts_count("xylocarpe0"), 0);
    checkpoint();
    assert_true(db_has("xylocarp"));
    sql_exec("INSERT INTO chunks_fts(chunks_fts) VALUES ('optimize')");
    checkpoint();
    assert_false(db_has("xylocarp"));
    sql_exec("DELETE FROM documents WHERE name = 'temoin.md'");
    check_integrity();
    buf_release(&b);
}

static void test_attempts(void **state)
{
    (void)state;
    write_text("lourd.md", "# Lourd\n\nUn fichier dont la lecture a fait tomber le serveur.\n");
    char path[600];
    snprintf(path, sizeof(path), "%s/lourd.md", files);
    const char *paths[] = {path}, *names[] = {"lourd.md"};
    int64_t job;
    assert_int_equal(ingest_job_paths(db, "demarches", paths, names, 1, &job), LAIR_OK);
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_string_equal(j.state, "queued");
    /* two processes took it and died */
    struct arena a;
    arena_init(&a, 0);
    struct kb_job_file f;
    assert_int_equal(kb_job_claim(db, job, 0, &a, &f), LAIR_OK);
    assert_int_equal(f.attempts, 1);
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_string_equal(j.state, "running");
    assert_int_equal(kb_job_claim(db, job, 0, &a, &f), LAIR_OK);
    assert_int_equal(f.attempts, 2);
    arena_release(&a);
    struct ingest_step s;
    assert_int_equal(ingest_job_step(db, job, NULL, &s), LAIR_OK);
    assert_string_equal(s.file_state, "failed");
    assert_non_null(strstr(s.error, "interrupted"));
    run_job(job, NULL, &s);
    assert_string_equal(s.state, "failed");
    assert_int_equal(kb_job_finish(db, job, s.state), LAIR_OK); /* idempotent */
    assert_string_equal(s.state, "failed");
    assert_int_equal(ingest_job_step(db, 999999, NULL, &s), LAIR_ENOTFOUND);
}

/* ---- uploads and the worker ---- */

static int count_dir(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_upload_and_worker(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "uploads", NULL), LAIR_OK);
    struct ingest_upload up[2] = {
        {"a.md", S("# Eau\n\nLa facture d'eau se paie en ligne ou au guichet.\n")},
        {"b.txt", S("Le ramassage des encombrants a lieu le premier lundi du mois.\n")},
    };
    int64_t job;
    assert_int_equal(ingest_job_upload(db, "nope", up, 2, NULL, &job), LAIR_ENOTFOUND);
    assert_int_equal(ingest_job_upload(db, "uploads", up, 2, NULL, &job), LAIR_OK);
    char updir[600];
    snprintf(updir, sizeof(updir), "%s/kb/uploads/uploads", tenant_db_dir(db));
    assert_int_equal(count_dir(updir), 1); /* one file for the request's two */
    /* an orphan from a crash long ago, and one being written now */
    char old[700], fresh[700];
    snprintf(old, sizeof(old), "%s/u-00000000deadbeef", updir);
    snprintf(fresh, sizeof(fresh), "%s/u-00000000cafebabe", updir);
    FILE *f = fopen(old, "w");
    assert_non_null(f);
    fclose(f);
    f = fopen(fresh, "w");
    assert_non_null(f);
    fclose(f);
    struct timeval tv[2] = {{time(NULL) - 2 * INGEST_ORPHAN_AGE, 0},
                            {time(NULL) - 2 * INGEST_ORPHAN_AGE, 0}};
    assert_int_equal(utimes(old, tv), 0);

    /* the folder of a deletion that a crash interrupted */
    char stale[700];
    snprintf(stale, sizeof(stale), "%s/kb/" KB_DELETED_PREFIX "old-1", tenant_db_dir(db));
    assert_int_equal(mkdir(stale, 0700), 0);
    char stale_file[800];
    snprintf(stale_file, sizeof(stale_file), "%s/u-1", stale);
    f = fopen(stale_file, "w");
    assert_non_null(f);
    fclose(f);

    /* the worker resumes the queued job at start */
    struct ingest *w;
    struct ingest_config cfg = {.sys = sys, .tenants = tenants};
    assert_int_equal(ingest_new(&cfg, &w), LAIR_OK);
    assert_int_equal(ingest_start(w), LAIR_OK);
    ingest_wait_idle(w);
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_string_equal(j.state, "done");
    assert_int_equal(j.done, 2);
    assert_string_equal(best("uploads", "factures d'eau"), "a.md");
    assert_int_equal(access(old, F_OK), -1);  /* orphan removed */
    assert_int_equal(access(fresh, F_OK), 0); /* too young to be an orphan */
    assert_int_equal(count_dir(updir), 1);    /* the job's copies are gone */
    assert_int_equal(access(stale, F_OK), -1);
    unlink(fresh);

    /* a job notified while the worker runs */
    struct ingest_upload up2[1] = {{"c.md", S("# Sport\n\nLe gymnase est réservé aux clubs.\n")}};
    assert_int_equal(ingest_job_upload(db, "uploads", up2, 1, NULL, &job), LAIR_OK);
    ingest_notify(w, "ville", job);
    ingest_notify(w, "ville", job); /* twice: queued once */
    ingest_notify(w, "nobody", 1);  /* unknown tenant: dropped */
    ingest_wait_idle(w);
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_string_equal(j.state, "done");
    assert_string_equal(best("uploads", "gymnases"), "c.md");
    assert_int_equal(count_dir(updir), 0);
    ingest_free(w);

    /* deleting the knowledge base takes everything with it */
    assert_int_equal(ingest_job_upload(db, "uploads", up2, 1, NULL, &job), LAIR_OK);
    assert_int_equal(kb_delete(db, "uploads"), LAIR_OK);
    assert_int_equal(kb_job_get(db, job, &j), LAIR_ENOTFOUND);
    assert_int_equal(fts_count("gymnase"), 0);
    assert_int_equal(sql_int("SELECT count(*) FROM chunks WHERE kb = 'uploads'", NULL), 0);
    char kbdir[600];
    snprintf(kbdir, sizeof(kbdir), "%s/kb/uploads", tenant_db_dir(db));
    assert_int_equal(access(kbdir, F_OK), -1);
    snprintf(kbdir, sizeof(kbdir), "%s/kb", tenant_db_dir(db));
    DIR *d = opendir(kbdir);
    assert_non_null(d);
    for (struct dirent *ent; (ent = readdir(d));)
        assert_true(strncmp(ent->d_name, KB_DELETED_PREFIX, strlen(KB_DELETED_PREFIX)) != 0);
    closedir(d);
    check_integrity();
}

/* ---- a crash in the middle of a job ---- */

#define CRASH_FILES 10

/* The chunk hashes a file should have once indexed. */
static size_t expected_hashes(const char *name, unsigned char (*out)[CHUNK_HASH_BYTES], size_t cap)
{
    char path[600], msg[200];
    snprintf(path, sizeof(path), "%s/%s", files, name);
    struct doc d;
    assert_int_equal(doc_extract_file(path, NULL, &d, msg, sizeof(msg)), LAIR_OK);
    struct arena a;
    arena_init(&a, 0);
    struct chunk *c;
    size_t n, k = 0;
    assert_int_equal(chunk_doc(&d, NULL, &a, &c, &n), LAIR_OK);
    for (size_t i = 0; i < n; i++) {
        bool dup = false;
        for (size_t j = 0; j < k && !dup; j++)
            dup = !memcmp(out[j], c[i].hash, CHUNK_HASH_BYTES);
        if (!dup && k < cap)
            memcpy(out[k++], c[i].hash, CHUNK_HASH_BYTES);
    }
    free(c);
    arena_release(&a);
    doc_release(&d);
    return k;
}

/* Each document is complete (exactly its file's chunks) and each file of the
 * job is indexed if and only if its document exists. */
static int check_consistent(int64_t job, const char (*names)[32], size_t n_files)
{
    check_integrity();
    int indexed = 0;
    unsigned char(*want)[CHUNK_HASH_BYTES] = malloc(4096 * CHUNK_HASH_BYTES);
    assert_non_null(want);
    for (size_t i = 0; i < n_files; i++) {
        int64_t doc;
        enum lair_err e = kb_document_lookup(db, "crash", names[i], &doc, NULL);
        const char *st = file_state(job, (int)i + 1, NULL, 0);
        if (e == LAIR_ENOTFOUND) {
            assert_string_equal(st, "pending");
            continue;
        }
        assert_int_equal(e, LAIR_OK);
        assert_string_equal(st, "indexed");
        indexed++;
        size_t k = expected_hashes(names[i], want, 4096);
        sqlite3_stmt *q;
        assert_int_equal(sqlite3_prepare_v2(tenant_db_handle(db),
                                            "SELECT hash FROM chunks WHERE document_id = ?1", -1,
                                            &q, NULL),
                         SQLITE_OK);
        sqlite3_bind_int64(q, 1, doc);
        size_t got = 0;
        while (sqlite3_step(q) == SQLITE_ROW) {
            bool found = false;
            for (size_t j = 0; j < k && !found; j++)
                found = !memcmp(want[j], sqlite3_column_blob(q, 0), CHUNK_HASH_BYTES);
            assert_true(found);
            got++;
        }
        sqlite3_finalize(q);
        assert_int_equal(got, k);
    }
    free(want);
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_int_equal(j.done, indexed);
    return indexed;
}

/* The child: resumes the job, batch files a step, writing a byte to fd
 * after each step. */
static void child_ingest(int64_t job, int fd, size_t batch)
{
    struct ingest_opts o = {.batch_files = batch};
    struct sysdb *s;
    struct tenants *t;
    struct tenant_db *d;
    if (sysdb_open(data, &s) || tenants_new(data, s, &t) || tenants_get(t, "ville", &d))
        _exit(3);
    for (;;) {
        struct ingest_step st;
        if (ingest_job_step(d, job, &o, &st) != LAIR_OK)
            _exit(4);
        if (st.finished)
            _exit(0);
        if (write(fd, "x", 1) != 1)
            _exit(5);
    }
}

/* A process killed (-9) at any point of a job, one file a step or batch
 * files a step (one transaction each): each document is whole or absent,
 * each file indexed exactly when its document is there, and the job ends
 * when resumed. */
static void crash_mid_job(size_t batch)
{
    if (kb_find(db, "crash", NULL) == LAIR_OK)
        assert_int_equal(kb_delete(db, "crash"), LAIR_OK);
    assert_int_equal(kb_create(db, "crash", NULL), LAIR_OK);
    char names[CRASH_FILES][32];
    char *paths[CRASH_FILES];
    struct buf b;
    buf_init(&b, 0);
    for (int i = 0; i < CRASH_FILES; i++) {
        snprintf(names[i], sizeof(names[i]), "doc%02d.md", i);
        buf_reset(&b);
        for (int s = 0; s < 12; s++) {
            char tag[32];
            snprintf(tag, sizeof(tag), "d%02ds%02dw", i, s);
            buf_printf(&b, "# Section %d du document %d\n\n", s, i);
            prose(&b, tag, 3000);
            buf_puts(&b, "\n\n");
        }
        write_text(names[i], b.ptr);
        paths[i] = malloc(700);
        snprintf(paths[i], 700, "%s/%s", files, names[i]);
    }
    buf_release(&b);
    const char *nm[CRASH_FILES];
    for (int i = 0; i < CRASH_FILES; i++)
        nm[i] = names[i];
    int64_t job;
    assert_int_equal(
        ingest_job_paths(db, "crash", (const char *const *)paths, nm, CRASH_FILES, &job), LAIR_OK);
    for (int i = 0; i < CRASH_FILES; i++)
        free(paths[i]);
    int kills = 0, finished = 0;
    for (int round = 0; round < 4 * CRASH_FILES && !finished; round++) {
        /* no connection crosses the fork */
        close_all();
        int fds[2];
        assert_int_equal(pipe(fds), 0);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            close(fds[0]);
            child_ingest(job, fds[1], batch);
        }
        close(fds[1]);
        /* let it finish 1 to 2 documents, then kill it in the next one */
        int want = 1 + round % 2, got = 0;
        char c;
        while (got < want && read(fds[0], &c, 1) == 1)
            got++;
        if (got == want) {
            kill(pid, SIGKILL);
            kills++;
        }
        close(fds[0]);
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        if (WIFEXITED(status)) {
            assert_int_equal(WEXITSTATUS(status), 0);
            finished = 1;
        } else {
            assert_true(WIFSIGNALED(status));
        }
        open_all();
        check_consistent(job, (const char(*)[32])names, CRASH_FILES);
    }
    assert_true(kills >= (batch > 1 ? 2 : 3));
    struct ingest_step s;
    run_job(job, NULL, &s);
    assert_string_equal(s.state, "done");
    assert_int_equal(check_consistent(job, (const char(*)[32])names, CRASH_FILES), CRASH_FILES);
    assert_string_equal(best("crash", "d07s03w5"), "doc07.md");
    sql_exec("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)");
}

static void test_crash_mid_job(void **state)
{
    (void)state;
    crash_mid_job(1);
}

static void test_crash_mid_batch(void **state)
{
    (void)state;
    crash_mid_job(3);
}

/* ---- vectors ---- */

static int gen_bert(const char *out)
{
    const char *build = getenv("LAIR_BUILD"), *src = getenv("LAIR_SRC");
    if (!build || !src)
        return -1;
    char cmd[PATH_MAX * 3];
    snprintf(cmd, sizeof(cmd),
             "v=$(%s/scripts/llama.sh src)/models && %s/gguf-gen tiny-bert --vocab-dir \"$v\" "
             "-o %s 2>/dev/null",
             src, build, out);
    return system(cmd);
}

struct model_count {
    char model[64];
    int64_t n;
};

static void vector_model(void *arg, const char *model, int64_t n)
{
    struct model_count *m = arg;
    snprintf(m->model, sizeof(m->model), "%s", model);
    m->n = n;
}

static void test_vectors(void **state)
{
    (void)state;
    char path[600];
    snprintf(path, sizeof(path), "%s/bert.gguf", dir);
    if (gen_bert(path) != 0) {
        print_message("skipped: cannot generate tiny-bert (LAIR_BUILD and LAIR_SRC unset?)\n");
        skip();
    }
    struct llm_registry *reg = llm_registry_new();
    assert_non_null(reg);
    struct llm_model_opts mo = {.name = "embed", .path = path, .n_slots = 1};
    assert_int_equal(llm_registry_load(reg, &mo), LAIR_OK);
    struct llm_model *m = llm_registry_find(reg, S("embed"));
    struct llm_model_info info;
    llm_model_get_info(m, &info);
    assert_true(info.kind & LLM_CAN_EMBED);
    assert_int_equal(kb_create(db, "vecteurs", NULL), LAIR_OK);
    struct buf b;
    buf_init(&b, 0);
    buf_puts(&b, "# Vecteurs\n\n");
    prose(&b, "vec", 5000);
    write_text("vec.md", b.ptr);
    buf_release(&b);
    const char *names[] = {"vec.md"};
    struct ingest_opts o = {.embed = m};
    struct ingest_step s;
    ingest("vecteurs", names, 1, &o, &s);
    assert_string_equal(s.state, "done");
    int64_t chunks = sql_int("SELECT count(*) FROM chunks WHERE kb = 'vecteurs'", NULL);
    assert_true(chunks >= 3);
    int64_t *ids;
    float *vecs;
    size_t n, dim;
    assert_int_equal(kb_vectors(db, "vecteurs", "embed", &ids, &vecs, &n, &dim), LAIR_OK);
    assert_int_equal(n, chunks);
    assert_int_equal(dim, info.n_embd);
    double norm = 0;
    for (size_t i = 0; i < dim; i++)
        norm += (double)vecs[i] * vecs[i];
    assert_true(norm > 0.98 && norm < 1.02); /* llm_embed normalises */
    free(ids);
    free(vecs);
    assert_int_equal(kb_vectors(db, "vecteurs", "other", &ids, &vecs, &n, &dim), LAIR_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    struct model_count mc = {0};
    assert_int_equal(kb_vector_models(db, "vecteurs", vector_model, &mc), LAIR_OK);
    assert_string_equal(mc.model, "embed");
    assert_int_equal(mc.n, chunks);
    /* chunks carry their token count by the model's tokenizer */
    assert_true(sql_int("SELECT max(tokens) FROM chunks WHERE kb = 'vecteurs'", NULL) <=
                CHUNK_TARGET_TOKENS + 8);
    llm_registry_free(reg);
}

/* ---- a full disk ---- */

/* The tenant database can no longer grow, or can again: with
 * max_page_count at its size, SQLite answers SQLITE_FULL to any write that
 * needs a new page, as when the disk is full, while writes in place (a job
 * file's counters) still succeed, as they may on a real full disk. */
static void disk_full(bool full)
{
    char sql[80];
    snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld",
             full ? (long long)sql_int("PRAGMA page_count", NULL) : 4294967294LL);
    sql_exec(sql);
}

static int attempts(int64_t job, int seq)
{
    char sql[120];
    snprintf(sql, sizeof(sql), "SELECT attempts FROM job_files WHERE job_id = %lld AND seq = %d",
             (long long)job, seq);
    return (int)sql_int(sql, NULL);
}

/* A long Markdown document about word: its chunks need new pages. */
static void long_doc(struct buf *b, const char *word)
{
    buf_init(b, 0);
    for (int i = 0; i < 12; i++) {
        buf_printf(b, "# Section %d\n\n", i);
        prose(b, word, 900);
        buf_printf(b, "\n\n");
    }
}

static const char exe[] = "MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00"
                          "This program cannot be run in DOS mode.";

/* One step after another on a full disk: the document that cannot be
 * stored and the failure that cannot be recorded leave their file pending
 * with its upload (the step says LAIR_ESTORAGE and retry), a retry does not
 * count an attempt, and once there is room the same files end as they
 * should: indexed, or failed for their own reason. */
static void test_disk_full_steps(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "plein", NULL), LAIR_OK);
    struct buf a;
    long_doc(&a, "aqueduc ");
    struct ingest_upload up[2] = {{"aqueduc.md", {a.ptr, a.len}},
                                  {"setup.exe", {exe, sizeof(exe) - 1}}};
    int64_t job;
    assert_int_equal(ingest_job_upload(db, "plein", up, 2, NULL, &job), LAIR_OK);
    char updir[600];
    snprintf(updir, sizeof(updir), "%s/kb/plein/uploads", tenant_db_dir(db));
    assert_int_equal(count_dir(updir), 1);

    struct ingest_opts o = {0};
    struct ingest_step s;
    disk_full(true);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_ESTORAGE);
        assert_true(s.retry);
        assert_int_equal(s.seq, 1);
        o.retry_seq = s.seq;
        assert_string_equal(file_state(job, 1, NULL, 0), "pending");
        assert_int_equal(attempts(job, 1), 1);
        assert_int_equal(count_dir(updir), 1);
    }
    disk_full(false);
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_OK);
    assert_string_equal(s.file_state, "indexed");
    assert_int_equal(attempts(job, 1), 1);
    assert_int_equal(count_dir(updir), 1); /* the upload's file: the second is pending */
    assert_string_equal(best("plein", "aqueducs"), "aqueduc.md");

    /* the executable fails, but its failure cannot be written: any change
     * of a file's state needs a new page (a trigger on this connection) */
    sql_exec(
        "CREATE TEMP TRIGGER grow AFTER UPDATE OF state ON job_files BEGIN"
        " INSERT OR REPLACE INTO settings(key, value) VALUES ('test.grow', hex(zeroblob(32768)));"
        " END");
    disk_full(true);
    o.retry_seq = 0;
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_ESTORAGE);
    assert_true(s.retry);
    assert_int_equal(s.seq, 2);
    assert_string_equal(file_state(job, 2, NULL, 0), "pending");
    assert_int_equal(count_dir(updir), 1); /* kept: it is tried again */
    o.retry_seq = s.seq;
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_ESTORAGE);
    assert_int_equal(attempts(job, 2), 1);
    sql_exec("DROP TRIGGER temp.grow");
    disk_full(false);
    char error[256];
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_OK);
    assert_string_equal(s.file_state, "failed");
    assert_string_equal(file_state(job, 2, error, sizeof(error)), "failed");
    assert_non_null(strstr(error, "executable"));
    assert_int_equal(count_dir(updir), 0);
    o.retry_seq = 0;
    run_job(job, &o, &s);
    assert_string_equal(s.state, "done");
    check_integrity();
    buf_release(&a);
}

/* The server's worker on a full disk: the job waits (steps fail and are
 * retried after the pause) as long as it takes, with no file failed and no
 * attempt counted twice, then ends done once room is back. */
static void test_disk_full_worker(void **state)
{
    (void)state;
    disk_full(false); /* whatever a failed test before left */
    sql_exec("DROP TRIGGER IF EXISTS temp.grow");
    assert_int_equal(kb_create(db, "attente", NULL), LAIR_OK);
    struct buf a, b;
    long_doc(&a, "viaduc ");
    long_doc(&b, "passerelle ");
    struct ingest_upload up[2] = {{"viaduc.md", {a.ptr, a.len}},
                                  {"passerelle.md", {b.ptr, b.len}}};
    int64_t job;
    assert_int_equal(ingest_job_upload(db, "attente", up, 2, NULL, &job), LAIR_OK);
    disk_full(true);
    struct ingest *w;
    struct ingest_config cfg = {.sys = sys, .tenants = tenants, .retry_ms = 5};
    assert_int_equal(ingest_new(&cfg, &w), LAIR_OK);
    assert_int_equal(ingest_start(w), LAIR_OK);
    ingest_notify(w, "ville", job);
    /* polls, bounded: the worker tries again and again, and no file ends */
    char error[256];
    for (int i = 0; i < 2000 && ingest_retries(w) < 6; i++) {
        if (strcmp(file_state(job, 1, error, sizeof(error)), "pending"))
            fail_msg("file 1 left pending on a full disk: %s", error);
        nanosleep(&(struct timespec){.tv_nsec = 5000000}, NULL);
    }
    assert_true(ingest_retries(w) >= 6);
    assert_string_equal(file_state(job, 1, NULL, 0), "pending");
    assert_string_equal(file_state(job, 2, NULL, 0), "pending");
    assert_true(attempts(job, 1) <= 1);
    disk_full(false);
    ingest_wait_idle(w);
    ingest_free(w);
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_string_equal(j.state, "done");
    assert_string_equal(file_state(job, 1, NULL, 0), "indexed");
    assert_string_equal(file_state(job, 2, NULL, 0), "indexed");
    assert_int_equal(attempts(job, 1), 1);
    assert_int_equal(attempts(job, 2), 1);
    char updir[600];
    snprintf(updir, sizeof(updir), "%s/kb/attente/uploads", tenant_db_dir(db));
    assert_int_equal(count_dir(updir), 0);
    assert_string_equal(best("attente", "passerelles"), "passerelle.md");
    check_integrity();
    buf_release(&a);
    buf_release(&b);
}

/* ---- what commits with an upload's job ---- */

struct hook_ctx {
    unsigned char key[AUDIT_KEY_LEN];
    int events; /* appended before failing; -1: never fails */
};

static enum lair_err audit_hook(void *arg, sqlite3 *tx, int64_t job)
{
    struct hook_ctx *h = arg;
    struct audit_log l;
    audit_log_tenant(&l, db, h->key);
    l.db.tx = tx;
    char detail[64];
    snprintf(detail, sizeof(detail), "job:%lld", (long long)job);
    enum lair_err e = LAIR_OK;
    for (int i = 0; i < 2 && !e; i++) {
        if (i == h->events)
            e = LAIR_EIO;
        struct audit_event ev = {.actor = "test",
                                 .action = "document.upload",
                                 .target = i ? "document:hook/b.md" : "document:hook/a.md",
                                 .outcome = "ok",
                                 .detail = detail};
        if (!e)
            e = audit_append(&l, &ev, NULL);
    }
    audit_log_release(&l);
    return e;
}

static int64_t upload_events(void)
{
    return sql_int("SELECT count(*) FROM audit WHERE action = 'document.upload'", NULL);
}

/* The events of an upload are written in its job's transaction: a job
 * exists with all its events or not at all (the server's kill -9 between
 * the two left indexed documents without their events), and on a full disk
 * neither the job, nor its events, nor its files are left. */
static void test_upload_hook(void **state)
{
    (void)state;
    disk_full(false);
    sql_exec("DROP TRIGGER IF EXISTS temp.grow");
    assert_int_equal(kb_create(db, "hook", NULL), LAIR_OK);
    struct hook_ctx h = {.events = -1};
    assert_int_equal(audit_key_load(data, h.key), LAIR_OK);
    struct kb_job_hook hook = {audit_hook, &h};
    struct ingest_upload up[2] = {{"a.md", S("# Pont\n\nLe pont levant est ouvert.\n")},
                                  {"b.md", S("# Quai\n\nLe quai est fermé.\n")}};
    char updir[600];
    snprintf(updir, sizeof(updir), "%s/kb/hook/uploads", tenant_db_dir(db));
    int64_t before = upload_events(), job;
    assert_int_equal(ingest_job_upload(db, "hook", up, 2, &hook, &job), LAIR_OK);
    assert_int_equal(upload_events(), before + 2);
    char detail[64];
    snprintf(detail, sizeof(detail), "job:%lld", (long long)job);
    assert_int_equal(sql_int("SELECT count(*) FROM audit WHERE detail = ?1", detail), 2);
    assert_int_equal(count_dir(updir), 1);

    /* the second event fails: the job and the first event roll back */
    h.events = 1;
    int64_t jobs = sql_int("SELECT count(*) FROM jobs", NULL);
    assert_int_equal(ingest_job_upload(db, "hook", up, 2, &hook, &job), LAIR_EIO);
    assert_int_equal(upload_events(), before + 2);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs", NULL), jobs);
    assert_int_equal(count_dir(updir), 1);

    /* a full disk: 507, nothing left */
    h.events = -1;
    struct ingest_upload many[200];
    char names[200][16];
    for (int i = 0; i < 200; i++) {
        snprintf(names[i], sizeof(names[i]), "f%03d.md", i);
        many[i] = (struct ingest_upload){names[i], S("# Fichier\n\nUn fichier parmi d'autres.\n")};
    }
    disk_full(true);
    assert_int_equal(ingest_job_upload(db, "hook", many, 200, &hook, &job), LAIR_ESTORAGE);
    disk_full(false);
    assert_int_equal(upload_events(), before + 2);
    assert_int_equal(sql_int("SELECT count(*) FROM jobs", NULL), jobs);
    assert_int_equal(count_dir(updir), 1);

    struct audit_log l;
    struct audit_report rep;
    audit_log_tenant(&l, db, h.key);
    assert_int_equal(audit_verify(&l, &rep), LAIR_OK);
    audit_log_release(&l);
    assert_true(rep.ok);
    check_integrity();
    sodium_memzero(h.key, sizeof(h.key));
}

/* ---- batches ---- */

struct outcomes {
    int n;
    char name[16][32];
    char state[16][KB_STATE_MAX];
    char error[16][256];
};

static void on_outcome(void *arg, const struct ingest_file *f)
{
    struct outcomes *o = arg;
    assert_true(o->n < 16);
    snprintf(o->name[o->n], sizeof(o->name[0]), "%s", f->name);
    snprintf(o->state[o->n], sizeof(o->state[0]), "%s", f->state);
    snprintf(o->error[o->n], sizeof(o->error[0]), "%s", f->error);
    o->n++;
}

static int count_commit(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void fts_integrity(void)
{
    sql_exec("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)");
}

/* One batch: files that fail for their own reason (a broken PDF, an
 * executable) or whose document cannot be stored (the database refuses it)
 * do not take the others with them: the others are committed in the
 * batch's one transaction, and each failure is recorded and reported for
 * its file. */
static void test_batch_with_failures(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "lot", NULL), LAIR_OK);
    struct ingest_upload up[6] = {
        {"a.md", S("# Piscine\n\nLa piscine municipale ouvre le samedi matin.\n")},
        {"broken.pdf", S("%PDF-1.7\n1 0 obj << /Type /Catalog >> garbage")},
        {"b.txt", S("Le marché couvert accueille les producteurs locaux le jeudi.\n")},
        {"c.md", S("# Cimetière\n\nLes concessions funéraires se renouvellent en mairie.\n")},
        {"setup.exe", {exe, sizeof(exe) - 1}},
        {"d.md", S("# Bibliothèque\n\nLa bibliothèque prête des liseuses numériques.\n")},
    };
    int64_t job;
    assert_int_equal(ingest_job_upload(db, "lot", up, 6, NULL, &job), LAIR_OK);
    sql_exec("CREATE TEMP TRIGGER refuse BEFORE INSERT ON documents WHEN new.name = 'c.md'"
             " BEGIN SELECT RAISE(ABORT, 'refused'); END");
    struct outcomes out = {0};
    struct ingest_opts o = {.batch_files = 16, .on_file = on_outcome, .on_file_arg = &out};
    struct ingest_step s;
    int commits = 0;
    sqlite3_commit_hook(tenant_db_handle(db), count_commit, &commits);
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_OK);
    sqlite3_commit_hook(tenant_db_handle(db), NULL, NULL);
    sql_exec("DROP TRIGGER temp.refuse");
    assert_int_equal(commits, 2); /* the claim, then the whole batch */
    assert_int_equal(s.files, 6);
    assert_int_equal(out.n, 6);
    static const char *const want[6][2] = {{"a.md", "indexed"},     {"broken.pdf", "failed"},
                                           {"b.txt", "indexed"},    {"c.md", "failed"},
                                           {"setup.exe", "failed"}, {"d.md", "indexed"}};
    char error[256];
    for (int i = 0; i < 6; i++) {
        assert_string_equal(out.name[i], want[i][0]);
        assert_string_equal(out.state[i], want[i][1]);
        assert_string_equal(file_state(job, i + 1, error, sizeof(error)), want[i][1]);
        if (!strcmp(want[i][1], "failed")) {
            assert_string_equal(out.error[i], error);
            assert_true(strlen(error) > 10);
        }
    }
    assert_non_null(strstr(out.error[3], "could not be stored"));
    assert_non_null(strstr(out.error[4], "executable"));
    struct kb_job j;
    assert_int_equal(kb_job_get(db, job, &j), LAIR_OK);
    assert_int_equal(j.done, 6);
    assert_string_equal(best("lot", "piscines"), "a.md");
    assert_string_equal(best("lot", "producteurs"), "b.txt");
    assert_string_equal(best("lot", "liseuses"), "d.md");
    assert_string_equal(best("lot", "concessions"), ""); /* rolled back whole */
    assert_int_equal(sql_int("SELECT count(*) FROM documents WHERE kb = 'lot'", NULL), 3);
    run_job(job, &o, &s);
    assert_string_equal(s.state, "done");
    char updir[600];
    snprintf(updir, sizeof(updir), "%s/kb/lot/uploads", tenant_db_dir(db));
    assert_int_equal(count_dir(updir), 0);
    check_integrity();
    fts_integrity();
}

/* A document replaced twice within one batch: the index holds the last
 * version only (its chunks enter the index once for the batch, and those
 * of the version it replaces must be in before they can leave). */
static void test_batch_replaces(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "remplace", NULL), LAIR_OK);
    struct ingest_upload first[1] = {{"e.md", S("# Voirie\n\nLes nids-de-poule se signalent.\n")}};
    int64_t job;
    struct ingest_opts o = {.batch_files = 16};
    struct ingest_step s;
    assert_int_equal(ingest_job_upload(db, "remplace", first, 1, NULL, &job), LAIR_OK);
    run_job(job, &o, &s);
    struct ingest_upload up[3] = {
        {"e.md", S("# Voirie\n\nLes trottoirs sont déneigés par la commune.\n")},
        {"f.md", S("# Eclairage\n\nLes lampadaires s'éteignent à minuit.\n")},
        {"e.md", S("# Voirie\n\nLes poubelles débordantes se signalent en ligne.\n")},
    };
    assert_int_equal(ingest_job_upload(db, "remplace", up, 3, NULL, &job), LAIR_OK);
    assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_OK);
    assert_int_equal(s.files, 3);
    run_job(job, &o, &s);
    assert_string_equal(s.state, "done");
    assert_string_equal(best("remplace", "poubelles"), "e.md");
    assert_string_equal(best("remplace", "lampadaires"), "f.md");
    assert_string_equal(best("remplace", "trottoirs"), "");
    assert_string_equal(best("remplace", "nids-de-poule"), "");
    check_integrity();
    fts_integrity();
}

/* A batch that a process left (it died on it) is not taken as a batch
 * again: each of its files goes alone, so that the file that killed the
 * process cannot get the others marked interrupted; they end indexed. A
 * batch that failed on a transient error is retried whole, uncounted. */
static void test_batch_interrupted(void **state)
{
    (void)state;
    assert_int_equal(kb_create(db, "repris", NULL), LAIR_OK);
    struct ingest_upload up[3] = {
        {"g.md", S("# Parc\n\nLe parc ferme au coucher du soleil.\n")},
        {"h.md", S("# Stade\n\nLe stade accueille le tournoi.\n")},
        {"i.md", S("# Port\n\nLe port de plaisance loue des anneaux.\n")}};
    int64_t job;
    assert_int_equal(ingest_job_upload(db, "repris", up, 3, NULL, &job), LAIR_OK);
    struct arena a;
    arena_init(&a, 0);
    struct kb_job_file fs[8];
    size_t n;
    struct kb_claim cl = {.max_files = 8, .max_bytes = 1 << 20};
    assert_int_equal(kb_job_claim_batch(db, job, &cl, &a, fs, &n), LAIR_OK); /* then died */
    assert_int_equal(n, 3);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(attempts(job, i), -1); /* started with others */
    /* a retry of that batch after a full disk takes it whole, uncounted */
    cl.retry_seq = 1;
    cl.retry_last = 3;
    assert_int_equal(kb_job_claim_batch(db, job, &cl, &a, fs, &n), LAIR_OK);
    assert_int_equal(n, 3);
    for (int i = 1; i <= 3; i++)
        assert_int_equal(attempts(job, i), -1);
    arena_release(&a);
    struct ingest_opts o = {.batch_files = 16};
    struct ingest_step s;
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(ingest_job_step(db, job, &o, &s), LAIR_OK);
        assert_int_equal(s.files, 1);
        assert_int_equal(s.seq, i);
        assert_string_equal(s.file_state, "indexed");
        assert_int_equal(attempts(job, i), 1); /* the batch's attempt does not count */
    }
    run_job(job, &o, &s);
    assert_string_equal(s.state, "done");
    assert_string_equal(best("repris", "anneaux"), "i.md");
    check_integrity();
    fts_integrity();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunking),
        cmocka_unit_test(test_kb_crud),
        cmocka_unit_test(test_ingest_search),
        cmocka_unit_test(test_search_isolation),
        cmocka_unit_test(test_unchanged_and_replace),
        cmocka_unit_test(test_shared_chunks),
        cmocka_unit_test(test_delete_leaves_no_trace),
        cmocka_unit_test(test_attempts),
        cmocka_unit_test(test_upload_and_worker),
        cmocka_unit_test(test_crash_mid_job),
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_disk_full_steps),
        cmocka_unit_test(test_disk_full_worker),
        cmocka_unit_test(test_upload_hook),
        cmocka_unit_test(test_crash_mid_batch),
        cmocka_unit_test(test_batch_with_failures),
        cmocka_unit_test(test_batch_replaces),
        cmocka_unit_test(test_batch_interrupted),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
