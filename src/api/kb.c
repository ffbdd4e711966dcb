/* Knowledge bases over HTTP (docs/knowledge-bases.md): create, list, read
 * and delete bases; upload documents (multipart/form-data, one part named
 * "file" per file) as an ingestion job answered 202 {"job_id"} once the
 * files and the job are durable; list and delete documents; search; and
 * read a job's progress.
 *
 * Every handler reaches the knowledge bases of the tenant whose key
 * authenticated the request and nothing else: another tenant's base,
 * document or job answers exactly like a missing one. The routes need an
 * editor or admin key, search included: a user key reaches a base's content
 * only through the assistants it may use. */
#include <inttypes.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/kb_api.h"
#include "audit/audit.h"
#include "core/json.h"
#include "core/log.h"
#include "http/multipart.h"
#include "rag/fts.h"
#include "rag/search.h"
#include "rag/synonyms.h"
#include "store/kb.h"
#include "core/banned.h"

#define QUERY_MAX 4000
#define TOP_K_DEFAULT 5
#define TOP_K_MAX SEARCH_TOP_K_MAX

static _Atomic(struct ingest *) worker;

void api_kb_set_ingest(struct ingest *w)
{
    atomic_store(&worker, w);
}

/* ---- helpers ---- */

static enum lair_err no_kb(struct http_req *rq, const char *slug)
{
    if (!slug)
        return http_fail(rq, LAIR_ENOTFOUND, NULL, "knowledge_base_not_found",
                         "no such knowledge base in this tenant");
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "knowledge_base_not_found",
                     "no knowledge base '%s' in this tenant", slug);
}

/* The {} slug of the path; a 404 when it cannot be one. */
static enum lair_err path_slug(struct http_req *rq, char out[SLUG_MAX + 1])
{
    struct str p = http_param(rq, 0);
    if (p.len == 0 || p.len > SLUG_MAX || !slug_valid(p))
        return no_kb(rq, NULL);
    memcpy(out, p.ptr, p.len);
    out[p.len] = 0;
    return LAIR_OK;
}

/* A positive id from the path; 0 when it is not one. */
static int64_t path_id(struct http_req *rq, int i)
{
    struct str p = http_param(rq, i);
    int64_t v = 0;
    if (p.len == 0 || p.len > 18)
        return 0;
    for (size_t k = 0; k < p.len; k++) {
        if (p.ptr[k] < '0' || p.ptr[k] > '9')
            return 0;
        v = v * 10 + (p.ptr[k] - '0');
    }
    return v;
}

/* The slug and the tenant database, with a 404 when the base is missing. */
static enum lair_err open_kb(struct http_req *rq, char slug[SLUG_MAX + 1], struct tenant_db **db)
{
    enum lair_err e = path_slug(rq, slug);
    if (!e)
        e = api_tenant_db(rq, db);
    if (!e && (e = kb_find(*db, slug, NULL)) == LAIR_ENOTFOUND)
        e = no_kb(rq, slug);
    return e;
}

/* An audit target "<kind>:<slug>[/<name>]": names only, cut to the audit
 * log's limit on a character boundary. */
static void audit_target(char target[AUDIT_TARGET_MAX], const char *kind, const char *slug,
                         const char *name)
{
    int n = name ? snprintf(target, AUDIT_TARGET_MAX, "%s:%s/%s", kind, slug, name)
                 : snprintf(target, AUDIT_TARGET_MAX, "%s:%s", kind, slug);
    if (n >= AUDIT_TARGET_MAX)
        target[utf8_complete_prefix(target, strlen(target))] = 0;
}

/* Audits an action on target "<kind>:<slug>[/<name>]". */
static void audit(struct http_req *rq, const char *action, const char *kind, const char *slug,
                  const char *name)
{
    char target[AUDIT_TARGET_MAX];
    audit_target(target, kind, slug, name);
    api_audit(rq, action, target, "ok");
}

/* 507 with what the client can do about it. */
static enum lair_err storage_full(struct http_req *rq, const char *what)
{
    return http_fail(rq, LAIR_ESTORAGE, NULL, "storage_full",
                     "the server's disk is full: %s; retry once space has been freed", what);
}

static enum lair_err unknown_fields(struct http_req *rq, json_t *o, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = !strcmp(key, allowed[i]);
        if (!ok)
            return http_fail(rq, LAIR_EUNPROC, arena_strndup(http_arena(rq), key, strlen(key)),
                             "unknown_field", "unknown field '%s'", key);
    }
    return LAIR_OK;
}

static json_t *kb_json(const struct kb_info *k)
{
    return json_pack("{s:s, s:s, s:I, s:I, s:I}", "slug", k->slug, "name", k->name, "documents",
                     (json_int_t)k->documents, "chunks", (json_int_t)k->chunks, "created_at",
                     (json_int_t)k->created_at);
}

/* ---- knowledge bases ---- */

static void list_kb(void *arg, const struct kb_info *k)
{
    json_array_append_new(arg, kb_json(k));
}

enum lair_err api_kbs_list(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    if ((e = kb_list(db, list_kb, data))) {
        json_decref(data);
        return e;
    }
    return api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum lair_err api_kbs_create(struct http_req *rq)
{
    static const char *const allowed[] = {"slug", "name", NULL};
    struct tenant_db *db;
    json_t *o;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e || (e = api_parse_body(rq, &o)))
        return e;
    if ((e = unknown_fields(rq, o, allowed)))
        goto out;
    json_t *slug = json_object_get(o, "slug"), *name = json_object_get(o, "name");
    if (!json_is_string(slug) || json_string_length(slug) > SLUG_MAX ||
        !slug_valid(str_c(json_string_value(slug)))) {
        e = http_fail(rq, LAIR_EUNPROC, "slug", "invalid_value",
                      "'slug' must be 1 to 63 characters among a-z, 0-9 and '-' (not first)");
        goto out;
    }
    if (name && !json_is_null(name) &&
        (!json_is_string(name) || json_string_length(name) > KB_NAME_MAX)) {
        e = http_fail(rq, LAIR_EUNPROC, "name", "invalid_value",
                      "'name' must be a string of at most %d bytes", KB_NAME_MAX);
        goto out;
    }
    const char *s = json_string_value(slug);
    e = kb_create(db, s, json_is_string(name) ? json_string_value(name) : NULL);
    if (e == LAIR_ECONFLICT) {
        e = http_fail(rq, e, "slug", "knowledge_base_exists",
                      "a knowledge base '%s' already exists in this tenant", s);
    } else if (e == LAIR_EINVAL) {
        e = http_fail(rq, LAIR_EUNPROC, "name", "invalid_value",
                      "'name' must be text without control characters");
    } else if (e == LAIR_ESTORAGE) {
        e = storage_full(rq, "the knowledge base was not created");
    } else if (!e) {
        struct kb_info k;
        if (!(e = kb_find(db, s, &k))) {
            audit(rq, "kb.create", "kb", s, NULL);
            e = api_respond_json(rq, 201, kb_json(&k));
        }
    }
out:
    json_decref(o);
    return e;
}

enum lair_err api_kb_get(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = path_slug(rq, slug);
    if (e || (e = api_tenant_db(rq, &db)))
        return e;
    struct kb_info k;
    if ((e = kb_find(db, slug, &k)))
        return e == LAIR_ENOTFOUND ? no_kb(rq, slug) : e;
    return api_respond_json(rq, 200, kb_json(&k));
}

enum lair_err api_kb_delete(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = path_slug(rq, slug);
    if (e || (e = api_tenant_db(rq, &db)))
        return e;
    bool answered;
    char target[80];
    snprintf(target, sizeof(target), "kb:%s", slug);
    if ((e = api_refuse_in_use(rq, db, slug, NULL, "kb.delete", target, &answered)) || answered)
        return e;
    if ((e = kb_delete(db, slug))) {
        if (e == LAIR_ESTORAGE)
            return storage_full(rq, "the knowledge base was not deleted");
        return e == LAIR_ENOTFOUND ? no_kb(rq, slug) : e;
    }
    audit(rq, "kb.delete", "kb", slug, NULL);
    return api_respond_json(rq, 200, json_pack("{s:s, s:b}", "slug", slug, "deleted", 1));
}

/* ---- documents ---- */

/* The upload's "document.upload" events, one per file, written in the
 * job's transaction (kb_job_hook): an acknowledged upload always has its
 * events, even after a crash right after the commit, and an upload whose
 * events cannot be written is not recorded at all. */
struct upload_audit {
    struct http_req *rq;
    struct tenant_db *db;
    const char *slug;
    const struct ingest_upload *files;
    size_t n;
    unsigned char key[AUDIT_KEY_LEN];
};

static enum lair_err audit_upload_tx(void *arg, sqlite3 *tx, int64_t job)
{
    struct upload_audit *u = arg;
    struct audit_log l;
    audit_log_tenant(&l, u->db, u->key);
    l.db.tx = tx;
    char detail[64], target[AUDIT_TARGET_MAX];
    snprintf(detail, sizeof(detail), "method:%s job:%" PRId64, http_method(u->rq), job);
    enum lair_err e = LAIR_OK;
    for (size_t i = 0; i < u->n && !e; i++) {
        audit_target(target, "document", u->slug, u->files[i].name);
        struct audit_event ev = {.actor = http_principal(u->rq)->key_id,
                                 .action = "document.upload",
                                 .target = target,
                                 .outcome = "ok",
                                 .detail = detail};
        e = audit_append(&l, &ev, NULL);
    }
    audit_log_release(&l);
    return e;
}

/* Checks the parts of an upload: only parts named "file", each with a file
 * name, no name twice. OUT: files[0..n) (ARENA). */
static enum lair_err upload_files(struct http_req *rq, const struct multipart_part *parts, size_t n,
                                  struct ingest_upload **files)
{
    struct ingest_upload *f = arena_alloc(http_arena(rq), n * sizeof(*f));
    if (!f)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(parts[i].name, "file"))
            return http_fail(rq, LAIR_EUNPROC, parts[i].name, "unknown_field",
                             "unexpected part '%s': send each file in a part named 'file'",
                             parts[i].name);
        if (!parts[i].filename)
            return http_fail(rq, LAIR_EUNPROC, "file", "missing_filename",
                             "part %zu named 'file' has no filename in its Content-Disposition",
                             i + 1);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(f[j].name, parts[i].filename))
                return http_fail(rq, LAIR_EUNPROC, "file", "duplicate_file",
                                 "two files named '%s' in one upload", parts[i].filename);
        f[i] = (struct ingest_upload){.name = parts[i].filename, .data = parts[i].data};
    }
    *files = f;
    return LAIR_OK;
}

enum lair_err api_kb_documents_upload(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = open_kb(rq, slug, &db);
    if (e)
        return e;
    struct multipart_part *parts;
    size_t n;
    char msg[256];
    e = multipart_parse(http_header(rq, "Content-Type"), http_body(rq), NULL, http_arena(rq),
                        &parts, &n, msg, sizeof(msg));
    if (e == LAIR_EUNPROC)
        return http_fail(rq, e, "file", "invalid_file_name", "%s", msg);
    if (e == LAIR_ELIMIT)
        return http_fail(rq, e, "file", "too_many_parts", "%s", msg);
    if (e == LAIR_EINVAL)
        return http_fail(rq, e, NULL, "invalid_multipart", "%s", msg);
    if (e)
        return e;
    struct ingest_upload *files = NULL;
    if ((e = upload_files(rq, parts, n, &files)))
        return e;
    struct app *app = http_app(rq);
    struct upload_audit ua = {.rq = rq, .db = db, .slug = slug, .files = files, .n = n};
    if ((e = audit_key_load(app->data_dir, ua.key))) {
        log_error("kb", "cannot read the audit key: %s; the upload is refused", lair_err_msg(e));
        return e;
    }
    struct kb_job_hook hook = {audit_upload_tx, &ua};
    int64_t job;
    e = ingest_job_upload(db, slug, files, n, &hook, &job);
    sodium_memzero(ua.key, sizeof(ua.key));
    if (e == LAIR_ENOTFOUND)
        return no_kb(rq, slug);
    if (e == LAIR_ESTORAGE)
        return storage_full(rq, "the files were not stored and no job was created");
    if (e == LAIR_EIO)
        return http_fail(rq, e, NULL, "storage_error",
                         "the files could not be stored; nothing was kept");
    if (e)
        return e;
    ingest_notify(atomic_load(&worker), http_principal(rq)->tenant, job);
    json_t *names = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(names, json_string(files[i].name));
    return api_respond_json(rq, 202,
                            json_pack("{s:I, s:s, s:s, s:I, s:o}", "job_id", (json_int_t)job,
                                      "knowledge_base", slug, "state", "queued", "total",
                                      (json_int_t)n, "files", names));
}

static void list_doc(void *arg, const struct kb_document *d)
{
    json_array_append_new(
        arg,
        json_pack("{s:I, s:s, s:s, s:s, s:o, s:I, s:o, s:I, s:I, s:I}", "id", (json_int_t)d->id,
                  "name", d->name, "format", d->format, "sha256", d->sha256, "title",
                  d->title ? json_string(d->title) : json_null(), "size", (json_int_t)d->size,
                  "pages", d->pages > 0 ? json_integer(d->pages) : json_null(), "chunks",
                  (json_int_t)d->chunks, "created_at", (json_int_t)d->created_at, "updated_at",
                  (json_int_t)d->updated_at));
}

enum lair_err api_kb_documents_list(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = path_slug(rq, slug);
    if (e || (e = api_tenant_db(rq, &db)))
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    if ((e = kb_documents_list(db, slug, list_doc, data))) {
        json_decref(data);
        return e == LAIR_ENOTFOUND ? no_kb(rq, slug) : e;
    }
    return api_respond_json(rq, 200, json_pack("{s:s, s:o}", "object", "list", "data", data));
}

enum lair_err api_kb_document_delete(struct http_req *rq)
{
    char slug[SLUG_MAX + 1], name[KB_DOC_NAME_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = open_kb(rq, slug, &db);
    if (e)
        return e;
    int64_t id = path_id(rq, 1);
    e = id > 0 ? kb_document_delete(db, slug, id, name) : LAIR_ENOTFOUND;
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "document_not_found",
                         "no such document in the knowledge base '%s'", slug);
    if (e == LAIR_ESTORAGE)
        return storage_full(rq, "the document was not deleted");
    if (e)
        return e;
    audit(rq, "document.delete", "document", slug, name);
    return api_respond_json(
        rq, 200, json_pack("{s:I, s:s, s:b}", "id", (json_int_t)id, "name", name, "deleted", 1));
}

/* ---- search ---- */

static enum lair_err search_args(struct http_req *rq, json_t *o, struct str *query, size_t *k,
                                 bool *explain)
{
    static const char *const allowed[] = {"query", "top_k", "explain", NULL};
    enum lair_err e = unknown_fields(rq, o, allowed);
    if (e)
        return e;
    json_t *q = json_object_get(o, "query");
    if (!json_is_string(q) || json_string_length(q) == 0 || json_string_length(q) > QUERY_MAX)
        return http_fail(rq, LAIR_EUNPROC, "query", "invalid_value",
                         "'query' must be a non-empty string of at most %d bytes", QUERY_MAX);
    *query = (struct str){json_string_value(q), json_string_length(q)};
    char msg[200];
    long long top = TOP_K_DEFAULT;
    if (json_opt_int(o, "top_k", 1, TOP_K_MAX, &top, msg, sizeof(msg)))
        return http_fail(rq, LAIR_EUNPROC, "top_k", "invalid_value", "%s", msg);
    *k = (size_t)top;
    json_t *x = json_object_get(o, "explain");
    if (x && !json_is_boolean(x))
        return http_fail(rq, LAIR_EUNPROC, "explain", "invalid_value",
                         "'explain' must be true or false");
    *explain = json_is_true(x);
    return LAIR_OK;
}

static json_t *result_json(const struct search_hit *h)
{
    return json_pack("{s:I, s:I, s:s, s:s%, s:f, s:o, s:s}", "chunk_id", (json_int_t)h->chunk_id,
                     "document_id", (json_int_t)h->document_id, "document", h->document, "text",
                     h->text, h->text_len, "score", h->score, "page",
                     h->page > 0 ? json_integer(h->page) : json_null(), "heading", h->heading);
}

/* Most matches of one result: every question word and every synonym. */
#define MATCHES_MAX (FTS_QUERY_TERMS_MAX + FTS_EXPLAIN_SYN_MAX)

/* "matches": which words of the question the passage holds, and how
 * (src/rag/fts.h: fts_explain_passage). */
static enum lair_err add_matches(json_t *result, struct analyzer *an, const struct fts_explain *ex,
                                 const struct search_hit *h)
{
    struct fts_match m[MATCHES_MAX];
    size_t n = 0;
    enum lair_err e =
        fts_explain_passage(an, ex, (struct str){h->text, h->text_len}, m, MATCHES_MAX, &n);
    json_t *arr = json_array();
    for (size_t i = 0; i < n && !e; i++)
        json_array_append_new(arr, json_pack("{s:s%, s:s, s:s%}", "term", m[i].term.ptr,
                                             m[i].term.len, "as", fts_match_as_name(m[i].as),
                                             "matched", m[i].matched.ptr, m[i].matched.len));
    json_object_set_new(result, "matches", arr);
    return e;
}

/* The results array, with each result's matches when explain is set. */
static enum lair_err results_json(struct tenant_db *db, const char *slug, struct str query,
                                  const struct search_hit *hits, size_t n, bool explain,
                                  struct arena *ar, json_t **out)
{
    json_t *results = json_array();
    struct fts_explain *ex = explain ? arena_alloc(ar, sizeof(*ex)) : NULL;
    struct analyzer *an = NULL;
    enum lair_err e = explain && !ex ? LAIR_ENOMEM : LAIR_OK;
    if (!e && explain && !(e = kb_explain(db, slug, query, ex)))
        e = analyzer_new(&an);
    for (size_t i = 0; i < n && !e; i++) {
        json_t *r = result_json(&hits[i]);
        if (explain)
            e = add_matches(r, an, ex, &hits[i]);
        json_array_append_new(results, r);
    }
    analyzer_free(an);
    if (e)
        json_decref(results);
    *out = e ? NULL : results;
    return e;
}

/* The server's first embedding model, or NULL: search is then lexical. */
static struct llm_model *embedding_model(struct http_req *rq)
{
    struct app *app = http_app(rq);
    for (size_t i = 0; app->models; i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        if (!m)
            break;
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        if (info.kind & LLM_CAN_EMBED)
            return m;
    }
    return NULL;
}

/* The same retrieval as grounded chat (rag/search.h), so that what an
 * editor tries here is what an assistant gets. */
enum lair_err api_kb_search(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = open_kb(rq, slug, &db);
    json_t *o = NULL;
    if (e || (e = api_parse_body(rq, &o)))
        return e;
    struct str query = {NULL, 0};
    size_t k = TOP_K_DEFAULT;
    const char *kbs[1] = {slug};
    struct search_hit *hits = NULL;
    size_t n = 0;
    bool explain = false;
    if (!(e = search_args(rq, o, &query, &k, &explain))) {
        struct search_query q = {
            .text = query, .kbs = kbs, .n_kbs = 1, .top_k = k, .embed = embedding_model(rq)};
        e = search_run(db, &q, http_arena(rq), &hits, &n);
    }
    json_t *results = NULL;
    if (!e)
        e = results_json(db, slug, query, hits, n, explain, http_arena(rq), &results);
    if (!e)
        e = api_respond_json(rq, 200, json_pack("{s:o}", "results", results));
    json_decref(o);
    return e;
}

/* ---- synonyms ---- */

/* {"object": "kb.synonyms", "kb", "default": whether the project's
 * vocabulary applies, "updated_at", "synonyms": the groups}. */
static enum lair_err synonyms_respond(struct http_req *rq, struct tenant_db *db, const char *slug)
{
    char *json = NULL;
    int64_t at = 0;
    enum lair_err e = kb_synonyms_get(db, slug, &json, &at);
    if (e)
        return e == LAIR_ENOTFOUND ? no_kb(rq, slug) : e;
    json_t *groups = json ? json_loads(json, 0, NULL) : syn_default_json();
    free(json);
    if (!groups)
        return LAIR_ENOMEM;
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:s, s:b, s:o, s:o}", "object", "kb.synonyms", "kb",
                                      slug, "default", json == NULL, "updated_at",
                                      at ? json_integer(at) : json_null(), "synonyms", groups));
}

enum lair_err api_kb_synonyms_get(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = open_kb(rq, slug, &db);
    return e ? e : synonyms_respond(rq, db, slug);
}

/* Replaces the vocabulary: validated whole (syn_set_from_json) before
 * anything is written, so that a refused request changes nothing. */
enum lair_err api_kb_synonyms_put(struct http_req *rq)
{
    static const char *const allowed[] = {"synonyms", NULL};
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    json_t *o = NULL;
    enum lair_err e = open_kb(rq, slug, &db);
    if (e || (e = api_parse_body(rq, &o)))
        return e;
    struct analyzer *an = NULL;
    struct syn_set *set = NULL;
    char *text = NULL, where[64], why[200];
    if ((e = unknown_fields(rq, o, allowed)))
        goto out;
    if ((e = analyzer_new(&an)))
        goto out;
    e = syn_set_from_json(json_object_get(o, "synonyms"), an, &set, where, sizeof(where), why,
                          sizeof(why));
    if (e == LAIR_EINVAL) {
        e = http_fail(rq, LAIR_EUNPROC, arena_strndup(http_arena(rq), where, strlen(where)),
                      "invalid_synonyms", "%s: %s", where, why);
        goto out;
    }
    if (e)
        goto out;
    if (!(text = json_dumps(json_object_get(o, "synonyms"), JSON_COMPACT))) {
        e = LAIR_ENOMEM;
        goto out;
    }
    if ((e = kb_synonyms_set(db, slug, text))) {
        e = e == LAIR_ESTORAGE    ? storage_full(rq, "the synonyms were not changed")
            : e == LAIR_ENOTFOUND ? no_kb(rq, slug)
                                  : e;
        goto out;
    }
    char detail[32];
    snprintf(detail, sizeof(detail), "groups=%zu", set->n_groups);
    char target[AUDIT_TARGET_MAX];
    audit_target(target, "kb", slug, NULL);
    api_audit_detail(rq, "kb.synonyms.update", target, detail);
    e = synonyms_respond(rq, db, slug);
out:
    free(text);
    syn_set_free(set);
    analyzer_free(an);
    json_decref(o);
    return e;
}

enum lair_err api_kb_synonyms_delete(struct http_req *rq)
{
    char slug[SLUG_MAX + 1];
    struct tenant_db *db;
    enum lair_err e = open_kb(rq, slug, &db);
    if (e)
        return e;
    if ((e = kb_synonyms_set(db, slug, NULL)))
        return e == LAIR_ESTORAGE ? storage_full(rq, "the synonyms were not changed") : e;
    audit(rq, "kb.synonyms.reset", "kb", slug, NULL);
    return synonyms_respond(rq, db, slug);
}

/* ---- jobs ---- */

struct job_json {
    json_t *errors, *files;
};

static void job_file(void *arg, const struct kb_job_file *f)
{
    struct job_json *j = arg;
    json_t *file = json_pack("{s:s, s:s}", "name", f->name, "state", f->state);
    if (f->document_id > 0)
        json_object_set_new(file, "document_id", json_integer(f->document_id));
    if (f->error) {
        json_object_set_new(file, "error", json_string(f->error));
        json_array_append_new(j->errors,
                              json_pack("{s:s, s:s}", "file", f->name, "error", f->error));
    }
    json_array_append_new(j->files, file);
}

enum lair_err api_job_get(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    int64_t id = path_id(rq, 0);
    struct kb_job job;
    e = id > 0 ? kb_job_get(db, id, &job) : LAIR_ENOTFOUND;
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "job_not_found", "no such job in this tenant");
    if (e)
        return e;
    struct job_json j = {json_array(), json_array()};
    if ((e = kb_job_files(db, id, job_file, &j))) {
        json_decref(j.errors);
        json_decref(j.files);
        return e;
    }
    return api_respond_json(rq, 200,
                            json_pack("{s:I, s:s, s:s, s:I, s:I, s:o, s:o, s:I, s:I}", "id",
                                      (json_int_t)job.id, "knowledge_base", job.kb, "state",
                                      job.state, "done", (json_int_t)job.done, "total",
                                      (json_int_t)job.total, "errors", j.errors, "files", j.files,
                                      "created_at", (json_int_t)job.created_at, "updated_at",
                                      (json_int_t)job.updated_at));
}
