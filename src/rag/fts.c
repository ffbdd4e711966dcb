/* The "lair_fr" FTS5 tokenizer and the BM25 search helper. See fts.h. */
#include "rag/fts.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/banned.h"

struct tokenizer {
    struct analyzer *an;
};

static int tok_create(void *ctx, const char **argv, int argc, Fts5Tokenizer **out)
{
    *out = NULL;
    if (argc != 0)
        return SQLITE_ERROR; /* lair_fr takes no options */
    struct tokenizer *t = calloc(1, sizeof(*t));
    if (!t)
        return SQLITE_NOMEM;
    if (analyzer_new(&t->an) != LAIR_OK) {
        free(t);
        return SQLITE_NOMEM;
    }
    *out = (Fts5Tokenizer *)t;
    return SQLITE_OK;
}

static void tok_delete(Fts5Tokenizer *p)
{
    struct tokenizer *t = (struct tokenizer *)p;
    if (!t)
        return;
    analyzer_free(t->an);
    free(t);
}

/* Documents and query phrases go through the same pipeline, so that a
 * quoted question word finds the document words it stems like; only the
 * last word of a prefix query stays whole. */
static int tok_tokenize(Fts5Tokenizer *p, void *ctx, int flags, const char *text, int len,
                        int (*emit)(void *, int, const char *, int, int, int))
{
    struct tokenizer *t = (struct tokenizer *)p;
    unsigned af = 0;
    if ((flags & FTS5_TOKENIZE_QUERY) && (flags & FTS5_TOKENIZE_PREFIX))
        af |= ANALYZER_PREFIX;
    struct str s = {text ? text : "", text && len > 0 ? (size_t)len : 0};
    struct analyzer_term term;
    analyzer_start(t->an, s, af);
    while (analyzer_next(t->an, &term)) {
        int rc = emit(ctx, 0, term.ptr, (int)term.len, (int)term.start, (int)term.end);
        if (rc != SQLITE_OK)
            return rc;
    }
    return SQLITE_OK;
}

static fts5_api *fts5_api_of(sqlite3 *db)
{
    fts5_api *api = NULL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &st, NULL) != SQLITE_OK)
        return NULL;
    sqlite3_bind_pointer(st, 1, (void *)&api, "fts5_api_ptr", NULL);
    sqlite3_step(st);
    sqlite3_finalize(st);
    return api;
}

enum lair_err fts_register(sqlite3 *db)
{
    fts5_api *api = fts5_api_of(db);
    if (!api || api->iVersion < 2)
        return LAIR_EDB;
    fts5_tokenizer tok = {tok_create, tok_delete, tok_tokenize};
    if (api->xCreateTokenizer(api, FTS_TOKENIZER, NULL, &tok, NULL) != SQLITE_OK)
        return LAIR_EDB;
    return LAIR_OK;
}

/* Appends word as an FTS5 string: double quotes around, inner ones doubled.
 * The analyzer's words never hold a quote; doubling keeps that true by
 * construction rather than by reasoning. */
static enum lair_err put_quoted(struct buf *out, const char *w, size_t n)
{
    enum lair_err e = buf_append(out, "\"", 1);
    for (size_t i = 0; i < n && e == LAIR_OK; i++)
        e = w[i] == '"' ? buf_append(out, "\"\"", 2) : buf_append(out, w + i, 1);
    return e ? e : buf_append(out, "\"", 1);
}

enum lair_err fts_match_expr(struct analyzer *a, struct str question, struct buf *out)
{
    char seen[FTS_QUERY_TERMS_MAX][ANALYZER_TERM_MAX + 1];
    size_t nseen = 0;
    struct analyzer_term t;
    enum lair_err e = LAIR_OK;
    buf_reset(out);
    analyzer_start(a, question, ANALYZER_QUESTION);
    while (nseen < FTS_QUERY_TERMS_MAX && e == LAIR_OK && analyzer_next(a, &t)) {
        bool dup = false;
        for (size_t i = 0; i < nseen && !dup; i++)
            dup = strcmp(seen[i], t.ptr) == 0;
        if (dup)
            continue;
        memcpy(seen[nseen++], t.ptr, t.len + 1);
        if (out->len)
            e = buf_append(out, " OR ", 4);
        if (e == LAIR_OK)
            e = put_quoted(out, question.ptr + t.start, t.end - t.start);
    }
    return e;
}

struct fts_search {
    sqlite3 *db;
    sqlite3_stmt *st;
    struct analyzer *an;
    struct buf expr;
};

static bool valid_table_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 64 || (name[0] >= '0' && name[0] <= '9'))
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') && !(c >= '0' && c <= '9') && c != '_')
            return false;
    }
    return true;
}

enum lair_err fts_search_new(sqlite3 *db, const char *table, struct fts_search **out)
{
    *out = NULL;
    if (!valid_table_name(table))
        return LAIR_EINVAL;
    struct fts_search *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    s->db = db;
    buf_init(&s->expr, 1 << 16);
    struct buf sql;
    buf_init(&sql, 0);
    /* The table name cannot be bound; it was checked to be a plain
     * identifier above and is quoted here. The question is bound. */
    enum lair_err e = buf_printf(&sql,
                                 "SELECT rowid, bm25(\"%s\") FROM \"%s\" WHERE \"%s\" MATCH ?1 "
                                 "ORDER BY bm25(\"%s\") LIMIT ?2",
                                 table, table, table, table);
    if (e == LAIR_OK)
        e = analyzer_new(&s->an);
    if (e == LAIR_OK && sqlite3_prepare_v3(db, sql.ptr, -1, SQLITE_PREPARE_PERSISTENT, &s->st,
                                           NULL) != SQLITE_OK)
        e = LAIR_EDB;
    buf_release(&sql);
    if (e != LAIR_OK) {
        fts_search_free(s);
        return e;
    }
    *out = s;
    return LAIR_OK;
}

void fts_search_free(struct fts_search *s)
{
    if (!s)
        return;
    sqlite3_finalize(s->st);
    analyzer_free(s->an);
    buf_release(&s->expr);
    free(s);
}

enum lair_err fts_search_run(struct fts_search *s, struct str question, size_t k,
                             struct fts_hit *hits, size_t *n)
{
    *n = 0;
    enum lair_err e = fts_match_expr(s->an, question, &s->expr);
    if (e != LAIR_OK || s->expr.len == 0 || k == 0)
        return e;
    sqlite3_stmt *st = s->st;
    sqlite3_bind_text(st, 1, s->expr.ptr, (int)s->expr.len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, k > INT64_MAX ? INT64_MAX : (sqlite3_int64)k);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && *n < k) {
        hits[*n].rowid = sqlite3_column_int64(st, 0);
        hits[*n].score = -sqlite3_column_double(st, 1);
        (*n)++;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? LAIR_OK : LAIR_EDB;
}
