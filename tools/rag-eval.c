/* rag-eval: measures the French analyzer and FTS5 search on the shared
 * evaluation sets. Each set's corpus goes into an FTS5 table with the
 * "lair_fr" tokenizer (in memory unless --db), then each dev question is
 * searched and scored: R@1, R@5, R@10, MRR@10, search latency p50/p99 and
 * indexing throughput. This is the tuning tool of docs/internals/analyzer.md,
 * not the product benchmark (that one goes through the ingestion path).
 *
 * usage: rag-eval [--shared DIR] [--set spf|piaf] [--db FILE] [--misses N]
 *                 [--bm25 K1,B,PAIR] [--and] [--dump FILE]
 *   --shared  the shared/ folder (default $LAIR_SHARED, else ../shared)
 *   --set     only this set (default: spf then piaf)
 *   --db      index into this SQLite file (removed first) instead of memory
 *   --misses  print up to N questions whose gold passage is not in the top 5
 *   --bm25    rank with these lair_bm25 parameters instead of the defaults
 *   --and     require every question term (AND) instead of any (OR)
 *   --dump    write each question's 100 best, "id<TAB>passage:score,...",
 *             to FILE (for fusion experiments; R@k still from the first 10)
 * Without --bm25 and --and, questions go through fts_search_run, the helper
 * the product uses; with them, through the same MATCH expression and a
 * statement of this tool's own.
 */
#include <errno.h>
#include <stdbool.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/str.h"
#include "rag/analyzer.h"
#include "rag/fts.h"
#include "rag/synonyms.h"

#include "core/banned.h"

#define TOP_K 10
/* --dump: how many results per question are written */
#define DUMP_K 100

struct corpus {
    char **ids; /* OWNED: ids[rowid - 1] */
    size_t n, cap;
    size_t bytes;
};

struct opts {
    const char *shared;
    const char *set;
    const char *db;
    long misses;
    bool custom; /* --bm25 or --and */
    bool and;
    double k1, b, pair;
    FILE *dump; /* --dump: each question's DUMP_K best, "id<TAB>passage:score,..." */
};

/* Runs questions either through fts_search or, to try other settings,
 * through the same MATCH expression and a statement of our own. */
struct searcher {
    const struct opts *o;
    struct fts_search *search;
    struct analyzer *an;
    sqlite3_stmt *st;
    struct buf expr;
};

static int searcher_init(struct searcher *s, sqlite3 *db, const struct opts *o)
{
    *s = (struct searcher){.o = o};
    buf_init(&s->expr, 0);
    if (!o->custom) {
        /* the product's default vocabulary (LIBREAIR_SYNONYMS=off: none) */
        if (fts_search_new(db, "passages", &s->search) != LAIR_OK)
            return -1;
        fts_search_set_synonyms(s->search, syn_default());
        return 0;
    }
    if (analyzer_new(&s->an) != LAIR_OK ||
        sqlite3_prepare_v2(db,
                           "SELECT rowid, lair_bm25(passages, ?2, ?3, ?4, ?5) AS score "
                           "FROM passages WHERE passages MATCH ?1 ORDER BY score DESC LIMIT ?2",
                           -1, &s->st, NULL) != SQLITE_OK)
        return -1;
    return 0;
}

static void searcher_release(struct searcher *s)
{
    fts_search_free(s->search);
    analyzer_free(s->an);
    sqlite3_finalize(s->st);
    buf_release(&s->expr);
}

/* The OR expression with each " OR " turned into " AND ". */
static enum lair_err to_and(struct buf *expr)
{
    struct buf out;
    buf_init(&out, 0);
    struct str rest = buf_str(expr);
    enum lair_err e = LAIR_OK;
    long at;
    while (e == LAIR_OK && (at = str_find(rest, S(" OR "))) >= 0) {
        e = buf_append(&out, rest.ptr, (size_t)at);
        if (e == LAIR_OK)
            e = buf_puts(&out, " AND ");
        rest.ptr += at + 4;
        rest.len -= (size_t)at + 4;
    }
    if (e == LAIR_OK)
        e = buf_append(&out, rest.ptr, rest.len);
    buf_release(expr);
    *expr = out;
    return e;
}

static int searcher_run(struct searcher *s, const char *question, struct fts_hit *hits, size_t k,
                        size_t *n)
{
    if (s->search)
        return fts_search_run(s->search, str_c(question), k, hits, n) == LAIR_OK ? 0 : -1;
    *n = 0;
    if (fts_match_expr(s->an, str_c(question), &s->expr) != LAIR_OK ||
        (s->o->and &&to_and(&s->expr) != LAIR_OK))
        return -1;
    if (s->expr.len == 0)
        return 0;
    sqlite3_bind_text(s->st, 1, s->expr.ptr, (int)s->expr.len, SQLITE_STATIC);
    sqlite3_bind_int(s->st, 2, (int)k);
    sqlite3_bind_double(s->st, 3, s->o->k1);
    sqlite3_bind_double(s->st, 4, s->o->b);
    sqlite3_bind_double(s->st, 5, s->o->pair);
    int rc;
    while ((rc = sqlite3_step(s->st)) == SQLITE_ROW && *n < k) {
        hits[*n].rowid = sqlite3_column_int64(s->st, 0);
        hits[*n].score = sqlite3_column_double(s->st, 1);
        (*n)++;
    }
    sqlite3_reset(s->st);
    return rc == SQLITE_DONE ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static const char *json_str(json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

static int add_id(struct corpus *c, const char *id)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 1024;
        char **p = realloc(c->ids, cap * sizeof(*p));
        if (!p)
            return -1;
        c->ids = p;
        c->cap = cap;
    }
    c->ids[c->n] = strdup(id);
    return c->ids[c->n++] ? 0 : -1;
}

static void corpus_release(struct corpus *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->ids[i]);
    free(c->ids);
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "rag-eval: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* Loads path (JSON Lines of {"id","text"}) into table passages, rowid = line
 * number from 1. */
static int index_corpus(sqlite3 *db, const char *path, struct corpus *c)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rag-eval: %s: %s\n", path, strerror(errno));
        return -1;
    }
    sqlite3_stmt *st = NULL;
    if (exec(db, "CREATE VIRTUAL TABLE passages USING fts5(text, tokenize = 'lair_fr')") ||
        sqlite3_prepare_v2(db, "INSERT INTO passages(rowid, text) VALUES (?1, ?2)", -1, &st,
                           NULL) != SQLITE_OK ||
        exec(db, "BEGIN")) {
        sqlite3_finalize(st);
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        json_t *o = json_loads(line, 0, NULL);
        if (!o)
            continue;
        const char *text = json_str(o, "text");
        rc = add_id(c, json_str(o, "id"));
        sqlite3_bind_int64(st, 1, (sqlite3_int64)c->n);
        sqlite3_bind_text(st, 2, text, -1, SQLITE_STATIC);
        if (rc == 0 && sqlite3_step(st) != SQLITE_DONE) {
            fprintf(stderr, "rag-eval: insert: %s\n", sqlite3_errmsg(db));
            rc = -1;
        }
        sqlite3_reset(st);
        c->bytes += strlen(text);
        json_decref(o);
    }
    free(line);
    fclose(f);
    sqlite3_finalize(st);
    return rc ? rc : exec(db, "COMMIT");
}

static bool is_gold(json_t *gold, const char *id)
{
    size_t i;
    json_t *v;
    json_array_foreach(gold, i, v)
    {
        const char *g = json_string_value(v);
        if (g && strcmp(g, id) == 0)
            return true;
    }
    return false;
}

struct scores {
    size_t n, r1, r5, r10;
    double mrr;
    double *lat; /* OWNED: milliseconds per question */
};

static int run_questions(sqlite3 *db, const char *path, const struct corpus *c,
                         const struct opts *o, struct scores *sc)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "rag-eval: %s: %s\n", path, strerror(errno));
        return -1;
    }
    struct searcher s;
    if (searcher_init(&s, db, o)) {
        fprintf(stderr, "rag-eval: cannot prepare the search: %s\n", sqlite3_errmsg(db));
        searcher_release(&s);
        fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, lat_cap = 0;
    long shown = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) > 0) {
        json_t *q = json_loads(line, 0, NULL);
        if (!q)
            continue;
        struct fts_hit hits[DUMP_K];
        size_t n = 0;
        const char *question = json_str(q, "question");
        double t0 = now_s();
        if (searcher_run(&s, question, hits, o->dump ? DUMP_K : TOP_K, &n)) {
            fprintf(stderr, "rag-eval: search failed: %s\n", sqlite3_errmsg(db));
            rc = -1;
        }
        double ms = (now_s() - t0) * 1e3;
        if (sc->n == lat_cap) {
            lat_cap = lat_cap ? lat_cap * 2 : 1024;
            double *p = realloc(sc->lat, lat_cap * sizeof(*p));
            if (!p)
                rc = -1;
            else
                sc->lat = p;
        }
        if (rc == 0) {
            sc->lat[sc->n++] = ms;
            size_t rank = 0;
            json_t *gold = json_object_get(q, "gold_ids");
            if (o->dump) {
                fprintf(o->dump, "%s\t", json_str(q, "id"));
                for (size_t i = 0; i < n; i++)
                    fprintf(o->dump, "%s%s:%.4f", i ? "," : "", c->ids[hits[i].rowid - 1],
                            hits[i].score);
                fputc('\n', o->dump);
            }
            for (size_t i = 0; i < n && i < TOP_K && !rank; i++)
                if (hits[i].rowid >= 1 && (size_t)hits[i].rowid <= c->n &&
                    is_gold(gold, c->ids[hits[i].rowid - 1]))
                    rank = i + 1;
            sc->r1 += rank == 1;
            sc->r5 += rank && rank <= 5;
            sc->r10 += rank != 0;
            sc->mrr += rank ? 1.0 / (double)rank : 0;
            if ((rank == 0 || rank > 5) && shown < o->misses) {
                shown++;
                printf("  miss (rank %zu): %s -> %s | gold %s\n", rank, question,
                       n ? c->ids[hits[0].rowid - 1] : "-",
                       json_string_value(json_array_get(gold, 0)));
            }
        }
        json_decref(q);
    }
    free(line);
    fclose(f);
    searcher_release(&s);
    return rc;
}

static sqlite3 *open_db(const char *path)
{
    sqlite3 *db = NULL;
    if (path)
        unlink(path);
    if (sqlite3_open(path ? path : ":memory:", &db) != SQLITE_OK || fts_register(db) != LAIR_OK) {
        fprintf(stderr, "rag-eval: cannot open SQLite with FTS5: %s\n",
                db ? sqlite3_errmsg(db) : "?");
        sqlite3_close(db);
        return NULL;
    }
    if (path && exec(db, "PRAGMA journal_mode = WAL")) {
        sqlite3_close(db);
        return NULL;
    }
    return db;
}

static int eval_set(const struct opts *o, const char *set)
{
    char corpus_path[4096], questions_path[4096];
    snprintf(corpus_path, sizeof(corpus_path), "%s/data/%s/corpus.jsonl", o->shared, set);
    snprintf(questions_path, sizeof(questions_path), "%s/data/%s/questions-dev.jsonl", o->shared,
             set);
    sqlite3 *db = open_db(o->db);
    if (!db)
        return -1;
    struct corpus c = {0};
    struct scores sc = {0};
    double t0 = now_s();
    int rc = index_corpus(db, corpus_path, &c);
    double secs = now_s() - t0;
    if (rc == 0) {
        printf("%s: %zu passages, %.1f MB indexed in %.2f s (%.2f MB/s)\n", set, c.n,
               (double)c.bytes / 1e6, secs, (double)c.bytes / 1e6 / secs);
        rc = run_questions(db, questions_path, &c, o, &sc);
    }
    if (rc == 0 && sc.n) {
        qsort(sc.lat, sc.n, sizeof(double), cmp_double);
        double n = (double)sc.n;
        size_t p99 = (sc.n * 99) / 100;
        printf("%s: %zu questions  R@1 %.3f  R@5 %.3f  R@10 %.3f  MRR@10 %.3f  "
               "search p50 %.2f ms  p99 %.2f ms\n",
               set, sc.n, (double)sc.r1 / n, (double)sc.r5 / n, (double)sc.r10 / n, sc.mrr / n,
               sc.lat[sc.n / 2], sc.lat[p99 < sc.n ? p99 : sc.n - 1]);
    }
    free(sc.lat);
    corpus_release(&c);
    sqlite3_close(db);
    return rc;
}

static bool parse_bm25(const char *v, struct opts *o)
{
    char *end;
    o->k1 = strtod(v, &end);
    if (*end != ',')
        return false;
    o->b = strtod(end + 1, &end);
    if (*end != ',')
        return false;
    o->pair = strtod(end + 1, &end);
    return *end == 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: rag-eval [--shared DIR] [--set spf|piaf] [--db FILE] [--misses N] "
                    "[--bm25 K1,B,PAIR] [--and] [--dump FILE]\n");
    return 2;
}

int main(int argc, char **argv)
{
    struct opts o = {
        .shared = getenv("LAIR_SHARED"), .k1 = FTS_BM25_K1, .b = FTS_BM25_B, .pair = FTS_BM25_PAIR};
    if (!o.shared || !*o.shared)
        o.shared = "../shared";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--and") == 0) {
            o.custom = o.and = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            return usage();
        if (strcmp(argv[i], "--shared") == 0)
            o.shared = v;
        else if (strcmp(argv[i], "--set") == 0)
            o.set = v;
        else if (strcmp(argv[i], "--db") == 0)
            o.db = v;
        else if (strcmp(argv[i], "--dump") == 0) {
            if (o.dump)
                fclose(o.dump);
            if (!(o.dump = fopen(v, "w"))) {
                fprintf(stderr, "rag-eval: %s: %s\n", v, strerror(errno));
                return 1;
            }
        } else if (strcmp(argv[i], "--misses") == 0)
            o.misses = strtol(v, NULL, 10);
        else if (strcmp(argv[i], "--bm25") == 0 && parse_bm25(v, &o))
            o.custom = true;
        else
            return usage();
        i++;
    }
    static const char *const sets[] = {"spf", "piaf"};
    int rc = 0;
    for (size_t i = 0; i < sizeof(sets) / sizeof(sets[0]) && rc == 0; i++)
        if (!o.set || strcmp(o.set, sets[i]) == 0)
            rc = eval_set(&o, sets[i]);
    if (o.dump && fclose(o.dump) != 0)
        rc = 1;
    return rc ? 1 : 0;
}
