/* libreair kb create|list|ingest|search|documents|delete: knowledge bases
 * straight on the data directory (docs/knowledge-bases.md).
 *
 * ingest records one job over the files and folders given (walked
 * recursively, hidden entries skipped) and runs it in this process with
 * the server's own code (rag/ingest.h): files are read where they are, one
 * at a time, each document committed in one transaction. If the command is
 * stopped, the job is left running and the server resumes it at its next
 * start. */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli/cli.h"
#include "store/assistants.h"
#include "llm/llm.h"
#include "rag/ingest.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"
#include "core/banned.h"

/* Folders deeper than this are not walked (a loop of bind mounts). */
#define WALK_DEPTH_MAX 32
#define FILES_MAX 100000
#define SEARCH_TOP_K_MAX 50

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair kb create    --tenant SLUG [--data DIR] [--name \"...\"] KB\n"
            "       libreair kb list      --tenant SLUG [--data DIR]\n"
            "       libreair kb ingest    --tenant SLUG --kb KB [--data DIR]\n"
            "                             [--embed-model NAME=PATH.gguf] PATH...\n"
            "       libreair kb documents --tenant SLUG --kb KB [--data DIR]\n"
            "       libreair kb search    --tenant SLUG --kb KB [--data DIR] [--top-k N] QUERY...\n"
            "       libreair kb delete    --tenant SLUG [--data DIR] [--force] KB\n\n"
            "create     creates a knowledge base (KB: a-z, 0-9, '-').\n"
            "list       prints the tenant's knowledge bases with their documents and chunks.\n"
            "ingest     indexes files and folders (recursively; hidden entries skipped) as one\n"
            "           job, with a progress bar on a terminal, else one line per file. A file\n"
            "           is named by its path under the folder given (or its own name when\n"
            "           given directly); an unchanged file is skipped, a changed one replaces\n"
            "           its earlier version. --embed-model loads that embedding model to store\n"
            "           vectors; NAME must be the name the server serves it under, or search\n"
            "           will not use them. If stopped, the server resumes the job at its next\n"
            "           start.\n"
            "documents  prints the documents of a knowledge base.\n"
            "search     prints the best passages for QUERY (default 5).\n"
            "delete     deletes a knowledge base with its documents and files; refused while a\n"
            "           published assistant uses it, unless --force.\n\n"
            "DIR defaults to $LIBREAIR_DATA, then ./data. Exit status: 0 done, 1 failed (for\n"
            "ingest: a file could not be indexed), 2 usage error.\n");
}

struct opts {
    const char *data, *tenant, *kb, *name, *embed;
    int top_k;
    bool force;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, 'd'},
                                             {"tenant", required_argument, NULL, 't'},
                                             {"kb", required_argument, NULL, 'k'},
                                             {"name", required_argument, NULL, 'n'},
                                             {"embed-model", required_argument, NULL, 'e'},
                                             {"top-k", required_argument, NULL, 'K'},
                                             {"force", no_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {0}};
    int c;
    o->top_k = 5;
    optind = 0;
    while ((c = getopt_long(argc, argv, "d:t:k:n:e:K:fh", longopts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 't': o->tenant = optarg; break;
        case 'k': o->kb = optarg; break;
        case 'n': o->name = optarg; break;
        case 'e': o->embed = optarg; break;
        case 'f': o->force = true; break;
        case 'K': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > SEARCH_TOP_K_MAX) {
                fprintf(stderr, "libreair kb: --top-k wants 1 to %d\n", SEARCH_TOP_K_MAX);
                return 2;
            }
            o->top_k = (int)v;
            break;
        }
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (!o->tenant) {
        fprintf(stderr, "libreair kb %s: --tenant SLUG is required\n", argv[0]);
        return 2;
    }
    return -1;
}

static int open_tenant(const char *cmd, const struct opts *o, struct cli_tenant *h)
{
    char prog[64];
    snprintf(prog, sizeof(prog), "libreair %s %s", "kb", cmd);
    return cli_tenant_open(prog, o->data, o->tenant, true, h);
}

static void close_tenant(struct cli_tenant *h) { cli_tenant_close(h); }

static void audit(struct cli_tenant *h, const char *action, const char *kind, const char *kb,
                  const char *name)
{
    char target[AUDIT_TARGET_MAX];
    int n = name ? snprintf(target, sizeof(target), "%s:%s/%s", kind, kb, name)
                 : snprintf(target, sizeof(target), "%s:%s", kind, kb);
    if (n >= (int)sizeof(target))
        target[utf8_complete_prefix(target, strlen(target))] = 0;
    struct audit_event ev = {.actor = "cli", .action = action, .target = target, .outcome = "ok"};
    if (audit_record(h->data, h->sys, h->db, &ev))
        fprintf(stderr, "libreair kb: warning: could not append '%s' to the audit log\n", action);
}

/* The knowledge base of --kb, checked. */
static int need_kb(const char *cmd, const struct opts *o, struct cli_tenant *h)
{
    if (!o->kb) {
        fprintf(stderr, "libreair kb %s: --kb KB is required\n", cmd);
        return 2;
    }
    enum lair_err e = kb_find(h->db, o->kb, NULL);
    if (e == LAIR_ENOTFOUND)
        fprintf(stderr,
                "libreair kb %s: no knowledge base '%s' in tenant '%s' (libreair kb create)\n", cmd,
                o->kb, o->tenant);
    else if (e)
        fprintf(stderr, "libreair kb %s: %s\n", cmd, lair_err_msg(e));
    return e ? 1 : 0;
}

/* ---- create, list, documents, delete ---- */

static int cmd_create(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "libreair kb create: one KB slug expected\n");
        return 2;
    }
    const char *slug = argv[optind];
    struct cli_tenant h;
    if (open_tenant("create", &o, &h))
        return 1;
    enum lair_err e = kb_create(h.db, slug, o.name);
    if (e == LAIR_ECONFLICT)
        fprintf(stderr, "libreair kb create: '%s' already exists in tenant '%s'\n", slug, o.tenant);
    else if (e == LAIR_EINVAL)
        fprintf(stderr,
                "libreair kb create: the slug must be 1 to 63 characters among a-z, 0-9 and '-' "
                "(not first), the name at most %d bytes of text\n",
                KB_NAME_MAX);
    else if (e)
        fprintf(stderr, "libreair kb create: %s\n", lair_err_msg(e));
    else {
        audit(&h, "kb.create", "kb", slug, NULL);
        printf("%s: created\n", slug);
    }
    close_tenant(&h);
    return e ? 1 : 0;
}

static void print_kb(void *arg, const struct kb_info *k)
{
    (void)arg;
    printf("%-24s %9lld %9lld  %s\n", k->slug, (long long)k->documents, (long long)k->chunks,
           k->name);
}

static int cmd_list(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct cli_tenant h;
    if (open_tenant("list", &o, &h))
        return 1;
    printf("%-24s %9s %9s  %s\n", "KB", "DOCUMENTS", "CHUNKS", "NAME");
    enum lair_err e = kb_list(h.db, print_kb, NULL);
    if (e)
        fprintf(stderr, "libreair kb list: %s\n", lair_err_msg(e));
    close_tenant(&h);
    return e ? 1 : 0;
}

static void print_doc(void *arg, const struct kb_document *d)
{
    (void)arg;
    printf("%-8lld %-9s %7lld %6lld  %s\n", (long long)d->id, d->format, (long long)d->size,
           (long long)d->chunks, d->name);
}

static int cmd_documents(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    struct cli_tenant h;
    if (open_tenant("documents", &o, &h))
        return 1;
    if ((rc = need_kb("documents", &o, &h))) {
        close_tenant(&h);
        return rc;
    }
    printf("%-8s %-9s %7s %6s  %s\n", "ID", "FORMAT", "BYTES", "CHUNKS", "NAME");
    enum lair_err e = kb_documents_list(h.db, o.kb, print_doc, NULL);
    if (e)
        fprintf(stderr, "libreair kb documents: %s\n", lair_err_msg(e));
    close_tenant(&h);
    return e ? 1 : 0;
}

static void add_user(void *arg, const struct assistant_info *a)
{
    struct buf *b = arg;
    buf_printf(b, "%s%s", b->len ? ", " : "", a->slug);
}

static int cmd_delete(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (argc - optind != 1) {
        fprintf(stderr, "libreair kb delete: one KB slug expected\n");
        return 2;
    }
    const char *slug = argv[optind];
    struct cli_tenant h;
    if (open_tenant("delete", &o, &h))
        return 1;
    struct buf users;
    buf_init(&users, 0);
    enum lair_err e = o.force ? LAIR_OK : assistants_using(h.db, slug, NULL, add_user, &users);
    if (!e && users.len) {
        fprintf(stderr,
                "libreair kb delete: published assistants use '%s': %s; change them first, "
                "or delete with --force\n",
                slug, users.ptr);
        buf_release(&users);
        close_tenant(&h);
        return 1;
    }
    buf_release(&users);
    if (!e)
        e = kb_delete(h.db, slug);
    if (e == LAIR_ENOTFOUND)
        fprintf(stderr, "libreair kb delete: no knowledge base '%s' in tenant '%s'\n", slug,
                o.tenant);
    else if (e)
        fprintf(stderr, "libreair kb delete: %s\n", lair_err_msg(e));
    else {
        audit(&h, "kb.delete", "kb", slug, NULL);
        printf("%s: deleted\n", slug);
    }
    close_tenant(&h);
    return e ? 1 : 0;
}

/* ---- search ---- */

static int cmd_search(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "libreair kb search: a QUERY is expected\n");
        return 2;
    }
    struct buf q;
    buf_init(&q, 1 << 16);
    for (int i = optind; i < argc; i++)
        if ((i > optind && buf_append(&q, " ", 1)) || buf_puts(&q, argv[i])) {
            fprintf(stderr, "libreair kb search: the query is too long\n");
            buf_release(&q);
            return 2;
        }
    struct cli_tenant h;
    if (open_tenant("search", &o, &h)) {
        buf_release(&q);
        return 1;
    }
    if ((rc = need_kb("search", &o, &h))) {
        close_tenant(&h);
        buf_release(&q);
        return rc;
    }
    struct kb_hit hits[SEARCH_TOP_K_MAX];
    int64_t ids[SEARCH_TOP_K_MAX];
    struct kb_chunk chunks[SEARCH_TOP_K_MAX];
    size_t n = 0, got = 0;
    const char *kbs[1] = {o.kb};
    struct arena a;
    arena_init(&a, 0);
    enum lair_err e = kb_search(h.db, kbs, 1, buf_str(&q), (size_t)o.top_k, hits, &n);
    for (size_t i = 0; i < n; i++)
        ids[i] = hits[i].chunk_id;
    if (!e)
        e = kb_chunks_get(h.db, ids, n, &a, chunks, &got);
    for (size_t i = 0, j = 0; !e && i < n && j < got; i++) {
        if (chunks[j].id != hits[i].chunk_id)
            continue;
        const struct kb_chunk *c = &chunks[j++];
        printf("%zu. %.4g  %s", j, hits[i].score, c->document);
        if (c->page)
            printf(", page %u", c->page);
        if (c->heading_path[0])
            printf(" — %s", c->heading_path);
        printf("\n   %s\n", c->text);
    }
    if (!e && n == 0)
        fprintf(stderr, "libreair kb search: nothing found\n");
    if (e)
        fprintf(stderr, "libreair kb search: %s\n", lair_err_msg(e));
    arena_release(&a);
    close_tenant(&h);
    buf_release(&q);
    return e ? 1 : 0;
}

/* ---- ingest ---- */

struct file_list {
    char **paths, **names;
    size_t n, cap;
    int bad;
};

static int add_file(struct file_list *l, const char *path, const char *name)
{
    if (l->n == FILES_MAX) {
        fprintf(stderr, "libreair kb ingest: more than %d files: ingest them in several runs\n",
                FILES_MAX);
        return -1;
    }
    size_t len = strlen(name);
    bool ok = len > 0 && len <= KB_DOC_NAME_MAX && utf8_valid(name, len);
    for (size_t i = 0; ok && i < len; i++)
        ok = (unsigned char)name[i] >= 0x20 && name[i] != 0x7f;
    if (!ok) {
        fprintf(stderr,
                "libreair kb ingest: skipped %s: its name is not printable UTF-8 of at "
                "most %d bytes\n",
                path, KB_DOC_NAME_MAX);
        l->bad++;
        return 0;
    }
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->names[i], name)) {
            fprintf(stderr,
                    "libreair kb ingest: skipped %s: a file named '%s' is already in "
                    "this run\n",
                    path, name);
            l->bad++;
            return 0;
        }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, cap * sizeof(*p));
        if (p)
            l->paths = p;
        char **q = realloc(l->names, cap * sizeof(*q));
        if (q)
            l->names = q;
        if (!p || !q)
            return -1;
        l->cap = cap;
    }
    l->paths[l->n] = strdup(path);
    l->names[l->n] = strdup(name);
    if (!l->paths[l->n] || !l->names[l->n]) {
        free(l->paths[l->n]);
        free(l->names[l->n]);
        return -1;
    }
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walks dir (its files named rel/...), in name order, hidden entries and
 * links skipped. */
static int walk(struct file_list *l, const char *dir, const char *rel, int depth)
{
    if (depth > WALK_DEPTH_MAX) {
        fprintf(stderr, "libreair kb ingest: skipped %s: folders nested too deep\n", dir);
        return 0;
    }
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "libreair kb ingest: cannot read %s: %s\n", dir, strerror(errno));
        l->bad++;
        return 0;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    struct dirent *ent;
    int rc = 0;
    while ((ent = readdir(d))) {
        if (ent->d_name[0] == '.')
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 32;
            char **p = realloc(names, cap * sizeof(*p));
            if (!p) {
                rc = -1;
                break;
            }
            names = p;
        }
        if (!(names[n] = strdup(ent->d_name))) {
            rc = -1;
            break;
        }
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), cmp_names);
    for (size_t i = 0; i < n && !rc; i++) {
        char path[8192], name[8192];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (*rel)
            snprintf(name, sizeof(name), "%s/%s", rel, names[i]);
        else
            snprintf(name, sizeof(name), "%s", names[i]);
        struct stat st;
        if (lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            rc = walk(l, path, name, depth + 1);
        else if (S_ISREG(st.st_mode))
            rc = add_file(l, path, name);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

static int collect(struct file_list *l, char **args, int n)
{
    for (int i = 0; i < n; i++) {
        struct stat st;
        if (stat(args[i], &st) != 0) {
            fprintf(stderr, "libreair kb ingest: %s: %s\n", args[i], strerror(errno));
            return -1;
        }
        int rc;
        if (S_ISDIR(st.st_mode)) {
            rc = walk(l, args[i], "", 0);
        } else if (S_ISREG(st.st_mode)) {
            const char *slash = strrchr(args[i], '/');
            rc = add_file(l, args[i], slash ? slash + 1 : args[i]);
        } else {
            fprintf(stderr, "libreair kb ingest: %s: not a file or folder\n", args[i]);
            return -1;
        }
        if (rc)
            return rc;
    }
    return 0;
}

static void free_list(struct file_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->paths[i]);
        free(l->names[i]);
    }
    free(l->paths);
    free(l->names);
}

/* Loads NAME=PATH.gguf as the embedding model. */
static int load_embed(const char *spec, struct llm_registry **reg, struct llm_model **m)
{
    const char *eq = strchr(spec, '=');
    if (!eq || eq == spec || !eq[1]) {
        fprintf(stderr, "libreair kb ingest: --embed-model wants NAME=PATH.gguf\n");
        return 2;
    }
    char name[128];
    snprintf(name, sizeof(name), "%.*s", (int)(eq - spec), spec);
    llm_global_init();
    *reg = llm_registry_new();
    struct llm_model_opts mo = {.name = name, .path = eq + 1, .n_slots = 1};
    enum lair_err e = *reg ? llm_registry_load(*reg, &mo) : LAIR_ENOMEM;
    *m = e ? NULL : llm_registry_find(*reg, str_c(name));
    struct llm_model_info info;
    if (*m)
        llm_model_get_info(*m, &info);
    if (e || !*m || !(info.kind & LLM_CAN_EMBED)) {
        fprintf(stderr, "libreair kb ingest: %s: %s\n", eq + 1,
                e ? lair_err_msg(e) : "not an embedding model");
        return 1;
    }
    return 0;
}

/* The progress line on a terminal: a bar, the count and the file's name. */
static void draw_bar(const struct ingest_step *s)
{
    enum { WIDTH = 30 };
    int filled = s->total > 0 ? (int)(WIDTH * s->done / s->total) : 0;
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = 0;
    fprintf(stderr, "\r\033[K[%s] %lld/%lld %.50s", bar, (long long)s->done, (long long)s->total,
            s->name);
    fflush(stderr);
}

struct tally {
    long long indexed, unchanged, failed;
};

struct run_ctx {
    struct cli_tenant *h;
    const char *kb;
    struct tally *t;
    bool tty;
    int64_t done, total; /* before the step, for the per-file lines */
};

/* Each file of a step, once its outcome is committed. */
static void on_file(void *arg, const struct ingest_file *f)
{
    struct run_ctx *r = arg;
    r->done++;
    if (!strcmp(f->state, "indexed")) {
        r->t->indexed++;
        audit(r->h, "document.upload", "document", r->kb, f->name);
    } else if (!strcmp(f->state, "unchanged")) {
        r->t->unchanged++;
    } else if (!strcmp(f->state, "failed")) {
        r->t->failed++;
    }
    if (r->tty && !strcmp(f->state, "failed"))
        fprintf(stderr, "\r\033[Kfailed     %s: %s\n", f->name, f->error);
    else if (r->tty)
        return;
    else if (!strcmp(f->state, "failed"))
        fprintf(stderr, "[%lld/%lld] failed     %s: %s\n", (long long)r->done, (long long)r->total,
                f->name, f->error);
    else if (!strcmp(f->state, "indexed"))
        fprintf(stderr, "[%lld/%lld] indexed    %s (%zu chunks)\n", (long long)r->done,
                (long long)r->total, f->name, f->chunks);
    else
        fprintf(stderr, "[%lld/%lld] %-10s %s\n", (long long)r->done, (long long)r->total, f->state,
                f->name);
}

static int run_job(struct cli_tenant *h, const char *kb, int64_t job, struct llm_model *embed,
                   struct tally *t)
{
    struct run_ctx r = {h, kb, t, isatty(STDERR_FILENO), 0, 0};
    struct kb_job j;
    if (kb_job_get(h->db, job, &j) == LAIR_OK) {
        r.done = j.done;
        r.total = j.total;
    }
    /* files in batches, one transaction each: what makes ingestion fast */
    struct ingest_opts io = {
        .embed = embed, .batch_files = INGEST_BATCH_FILES, .on_file = on_file, .on_file_arg = &r};
    for (;;) {
        struct ingest_step s;
        enum lair_err e = ingest_job_step(h->db, job, &io, &s);
        if (e) {
            fprintf(stderr, "%slibreair kb ingest: job %lld: %s\n", r.tty ? "\n" : "",
                    (long long)job, lair_err_msg(e));
            return 1;
        }
        if (s.finished || s.seq == 0) {
            if (r.tty)
                fprintf(stderr, "\r\033[K");
            return 0;
        }
        r.done = s.done; /* another process may have done some too */
        r.total = s.total;
        if (r.tty)
            draw_bar(&s);
    }
}

static int cmd_ingest(int argc, char **argv)
{
    struct opts o = {0};
    int rc = parse_opts(argc, argv, &o);
    if (rc >= 0)
        return rc;
    if (optind >= argc) {
        fprintf(stderr, "libreair kb ingest: at least one PATH (file or folder) is expected\n");
        return 2;
    }
    if (!o.kb) {
        fprintf(stderr, "libreair kb ingest: --kb KB is required\n");
        return 2;
    }
    struct file_list l = {0};
    if (collect(&l, argv + optind, argc - optind)) {
        free_list(&l);
        return 1;
    }
    if (l.n == 0) {
        fprintf(stderr, "libreair kb ingest: no file to ingest\n");
        free_list(&l);
        return 1;
    }
    struct llm_registry *reg = NULL;
    struct llm_model *embed = NULL;
    struct cli_tenant h;
    if (o.embed && (rc = load_embed(o.embed, &reg, &embed))) {
        llm_registry_free(reg);
        free_list(&l);
        return rc;
    }
    if (open_tenant("ingest", &o, &h)) {
        llm_registry_free(reg);
        free_list(&l);
        return 1;
    }
    int64_t job = 0;
    struct tally t = {0};
    if (!(rc = need_kb("ingest", &o, &h))) {
        enum lair_err e = ingest_job_paths(h.db, o.kb, (const char *const *)l.paths,
                                           (const char *const *)l.names, l.n, &job);
        if (e) {
            fprintf(stderr, "libreair kb ingest: cannot record the job: %s\n", lair_err_msg(e));
            rc = 1;
        } else {
            fprintf(stderr, "libreair kb ingest: job %lld, %zu file%s\n", (long long)job, l.n,
                    l.n == 1 ? "" : "s");
            rc = run_job(&h, o.kb, job, embed, &t);
        }
    }
    if (job) {
        struct kb_job j;
        if (kb_job_get(h.db, job, &j) == LAIR_OK)
            printf("job %lld %s: %lld indexed, %lld unchanged, %lld failed\n", (long long)job,
                   j.state, t.indexed, t.unchanged, t.failed);
    }
    if (!rc && (t.failed || l.bad))
        rc = 1;
    close_tenant(&h);
    llm_registry_free(reg);
    free_list(&l);
    return rc;
}

int cmd_kb(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "create"))
        return cmd_create(argc - 1, argv + 1);
    if (!strcmp(sub, "list"))
        return cmd_list(argc - 1, argv + 1);
    if (!strcmp(sub, "ingest"))
        return cmd_ingest(argc - 1, argv + 1);
    if (!strcmp(sub, "documents"))
        return cmd_documents(argc - 1, argv + 1);
    if (!strcmp(sub, "search"))
        return cmd_search(argc - 1, argv + 1);
    if (!strcmp(sub, "delete"))
        return cmd_delete(argc - 1, argv + 1);
    fprintf(stderr, "libreair kb: unknown subcommand '%s'\n", sub);
    usage(stderr);
    return 2;
}
