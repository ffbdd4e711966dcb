/* GDPR endpoints: subject export and erasure, pseudonym reveal, the
 * processing register and the sovereignty statement. (The policy step in
 * front of every stored exchange is the chat pipeline's:
 * assist/chat_conv.c.)
 *
 * Everything reaches the caller's tenant only through api_tenant_db. The
 * subject id comes from the body of a POST, never from a URL, so that it
 * stays out of access logs and proxies' logs; in the audit log it appears
 * only as its token (gdpr/subject.h). */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/gdpr_api.h"
#include "assist/assistant.h"
#include "core/log.h"
#include "gdpr/erase.h"
#include "gdpr/export.h"
#include "gdpr/policy.h"
#include "gdpr/register.h"
#include "gdpr/retention.h"
#include "gdpr/subject.h"
#include "store/gdpr_store.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "core/banned.h"

/* The largest export answered over HTTP; the CLI streams any size. */
#define EXPORT_MAX ((size_t)256 << 20)
#define REGISTER_MAX_ASSISTANTS 1000

/* ---- request helpers ---- */

/* The body {"subject": "..."} and nothing else. OUT: *out (BORROWED from
 * *body, which the caller releases). */
static enum lair_err parse_subject(struct http_req *rq, json_t **body, const char **out)
{
    enum lair_err e = api_parse_body(rq, body);
    if (e)
        return e;
    const char *key;
    json_t *v;
    json_object_foreach(*body, key, v)
    {
        if (strcmp(key, "subject") != 0) {
            /* http_fail keeps the pointer: the name must outlive the body */
            const char *name = arena_strndup(http_arena(rq), key, strlen(key));
            return http_fail(rq, LAIR_EUNPROC, name ? name : "body", "unknown_field",
                             "unknown field '%s': the body is {\"subject\": \"...\"}", key);
        }
    }
    json_t *s = json_object_get(*body, "subject");
    if (!json_is_string(s))
        return http_fail(rq, LAIR_EUNPROC, "subject", "invalid_value",
                         "'subject' is required: the subject id, as sent in the 'user' field "
                         "of chat requests");
    if (!gdpr_subject_valid((struct str){json_string_value(s), json_string_length(s)}))
        return http_fail(rq, LAIR_EUNPROC, "subject", "invalid_value",
                         "'subject' must be 1 to %d bytes without NUL", GDPR_SUBJECT_MAX);
    *out = json_string_value(s);
    return LAIR_OK;
}

static enum lair_err load_key(struct http_req *rq, unsigned char key[AUDIT_KEY_LEN])
{
    struct app *app = http_app(rq);
    enum lair_err e = audit_key_load(app->data_dir, key);
    if (e)
        log_error("gdpr", "cannot read the audit key from %s/pepper: %s", app->data_dir,
                  lair_err_msg(e));
    return e;
}

/* ---- export ---- */

static enum lair_err to_buf(void *ctx, const char *p, size_t n)
{
    return buf_append(ctx, p, n);
}

enum lair_err api_gdpr_export(struct http_req *rq)
{
    json_t *body = NULL;
    const char *subject;
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e;
    if ((e = parse_subject(rq, &body, &subject)) || (e = api_tenant_db(rq, &db)) ||
        (e = load_key(rq, key))) {
        json_decref(body);
        return e;
    }
    struct buf out;
    buf_init(&out, EXPORT_MAX);
    e = gdpr_export(db, key, subject, to_buf, &out);
    char token[GDPR_TOKEN_MAX], target[GDPR_TOKEN_MAX + 16];
    gdpr_subject_token(key, tenant_db_slug(db), str_c(subject), token);
    sodium_memzero(key, sizeof(key));
    json_decref(body);
    if (e == LAIR_ETOOBIG)
        e = http_fail(rq, e, "subject", "export_too_large",
                      "this subject's export is larger than %zu MiB; use 'libreair gdpr export' "
                      "on the server",
                      EXPORT_MAX >> 20);
    snprintf(target, sizeof(target), "subject:%s", token);
    api_audit(rq, "gdpr.export", target, e ? "error" : "ok");
    if (!e)
        e = http_respond_json(rq, 200, &out);
    buf_release(&out);
    return e;
}

/* ---- finding a subject ---- */

#define WIDGET_SUBJECT "widget-" /* api/public.c's subjects: "widget-" and 16 hex digits */
#define REFERENCE_DIGITS 16

bool api_gdpr_reference(const char *subject, char out[20])
{
    size_t n = strlen(WIDGET_SUBJECT);
    if (strncmp(subject, WIDGET_SUBJECT, n) || strlen(subject) != n + REFERENCE_DIGITS)
        return false;
    size_t j = 0;
    for (size_t i = 0; i < REFERENCE_DIGITS; i++) {
        char c = subject[n + i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
        if (i && i % 4 == 0)
            out[j++] = '-';
        out[j++] = c >= 'a' ? (char)(c - 'a' + 'A') : c;
    }
    out[j] = 0;
    return true;
}

/* The widget subject of a quoted reference: 16 hex digits, in any case,
 * grouped by dashes or spaces as the person wrote them. */
static bool reference_subject(const char *q, char out[32])
{
    char hex[REFERENCE_DIGITS + 1];
    size_t n = 0;
    for (const char *p = q; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) || n == REFERENCE_DIGITS)
            return false;
        hex[n++] = c;
    }
    hex[n] = 0;
    if (n != REFERENCE_DIGITS)
        return false;
    snprintf(out, 32, WIDGET_SUBJECT "%s", hex);
    return true;
}

enum lair_err api_gdpr_find(struct http_req *rq)
{
    json_t *body = NULL;
    struct tenant_db *db;
    enum lair_err e = api_parse_body(rq, &body);
    if (e)
        return e;
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (strcmp(key, "q") != 0) {
            const char *name = arena_strndup(http_arena(rq), key, strlen(key));
            e = http_fail(rq, LAIR_EUNPROC, name ? name : "body", "unknown_field",
                          "unknown field '%s': the body is {\"q\": \"...\"}", key);
            goto out;
        }
    }
    json_t *q = json_object_get(body, "q");
    /* what the person quoted, without the spaces around it */
    char text[GDPR_SUBJECT_MAX + 1];
    const char *s = json_string_value(q);
    size_t len = s ? json_string_length(q) : 0;
    while (len && (*s == ' ' || *s == '\t' || *s == '\n'))
        s++, len--;
    while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '\n'))
        len--;
    if (!s || len == 0 || len > GDPR_SUBJECT_MAX ||
        !gdpr_subject_valid((struct str){s, len})) {
        e = http_fail(rq, LAIR_EUNPROC, "q", "invalid_value",
                      "'q' is required: a conversation reference, a conversation id or a user "
                      "id (1 to %d bytes)",
                      GDPR_SUBJECT_MAX);
        goto out;
    }
    memcpy(text, s, len);
    text[len] = 0;
    if ((e = api_tenant_db(rq, &db)))
        goto out;
    char subject[GDPR_SUBJECT_MAX + 1];
    const char *found_by = "user";
    if (!strncmp(text, CONV_ID_PREFIX, strlen(CONV_ID_PREFIX)) && len == CONV_ID_LEN) {
        found_by = "conversation";
        e = gdpr_store_subject_of(db, text, subject, sizeof(subject));
        if (e == LAIR_ENOTFOUND) {
            e = http_fail(rq, e, "q", "conversation_not_found",
                          "this organisation has no conversation %s", text);
            goto out;
        }
        if (!e && !subject[0]) {
            e = http_fail(rq, LAIR_ENOTFOUND, "q", "subject_not_found",
                          "the conversation %s names no person (no 'user' field): delete it "
                          "with DELETE /api/v1/conversations/%s",
                          text, text);
            goto out;
        }
    } else if (reference_subject(text, subject)) {
        found_by = "reference";
    } else {
        snprintf(subject, sizeof(subject), "%s", text);
    }
    struct gdpr_subject_summary sum;
    if (e || (e = gdpr_store_subject_summary(db, subject, &sum)))
        goto out;
    unsigned char akey[AUDIT_KEY_LEN];
    if ((e = load_key(rq, akey)))
        goto out;
    char token[GDPR_TOKEN_MAX], target[GDPR_TOKEN_MAX + 16];
    gdpr_subject_token(akey, tenant_db_slug(db), str_c(subject), token);
    sodium_memzero(akey, sizeof(akey));
    snprintf(target, sizeof(target), "subject:%s", token);
    api_audit(rq, "gdpr.find", target, "ok");
    char ref[20];
    json_t *r = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I}", "object", "gdpr.subject",
                          "subject", subject, "found_by", found_by, "conversations",
                          (json_int_t)sum.conversations, "messages", (json_int_t)sum.messages,
                          "first_at", (json_int_t)sum.first_at, "last_at",
                          (json_int_t)sum.last_at);
    if (r && api_gdpr_reference(subject, ref))
        json_object_set_new(r, "reference", json_string(ref));
    e = api_respond_json(rq, 200, r);
out:
    json_decref(body);
    return e;
}

/* ---- erasure ---- */

enum lair_err api_gdpr_erase(struct http_req *rq)
{
    json_t *body = NULL;
    const char *subject;
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e;
    if ((e = parse_subject(rq, &body, &subject)) || (e = api_tenant_db(rq, &db)) ||
        (e = load_key(rq, key))) {
        json_decref(body);
        return e;
    }
    struct gdpr_erasure r;
    e = gdpr_erase(db, key, subject, http_principal(rq)->key_id, &r);
    sodium_memzero(key, sizeof(key));
    json_decref(body);
    if (e) {
        log_error("gdpr",
                  "tenant %s: erasure %s failed: %s (it completes at the next purge "
                  "run or server start)",
                  tenant_db_slug(db), r.token, lair_err_msg(e));
        if (e == LAIR_ESTORAGE)
            return http_fail(rq, e, NULL, "storage_full",
                             "the server's disk is full: the erasure could not be completed; "
                             "retry once space has been freed (erasing again is safe)");
        return e;
    }
    return api_respond_json(rq, 200,
                            json_pack("{s:s, s:s, s:{s:I, s:I, s:I}, s:b}", "object",
                                      "gdpr.erasure", "subject_token", r.token, "deleted",
                                      "conversations", (json_int_t)r.counts.conversations,
                                      "messages", (json_int_t)r.counts.messages, "pseudonyms",
                                      (json_int_t)r.counts.pseudonyms, "scrubbed", r.scrubbed));
}

/* ---- pseudonyms of a conversation ---- */

static enum lair_err add_pseudonym(void *ctx, const struct gdpr_pseudonym *p)
{
    char tag[64];
    gdpr_placeholder(p->type, p->n, tag, sizeof(tag));
    json_t *v = json_pack("{s:s, s:s, s:s%}", "placeholder", tag, "type", p->type, "value",
                          p->value.ptr, p->value.len);
    return v && !json_array_append_new(ctx, v) ? LAIR_OK : LAIR_ENOMEM;
}

enum lair_err api_gdpr_pseudonyms(struct http_req *rq)
{
    struct tenant_db *db;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e)
        return e;
    struct str id = http_param(rq, 0);
    struct conv_row row;
    char cid[CONV_ID_LEN + 1];
    if (conv_id_valid(id)) {
        snprintf(cid, sizeof(cid), "%.*s", (int)id.len, id.ptr);
        e = conv_get(db, cid, NULL, &row);
    } else {
        e = LAIR_ENOTFOUND;
    }
    if (e == LAIR_ENOTFOUND)
        return http_fail(rq, e, NULL, "conversation_not_found", "conversation not found");
    if (e)
        return e;
    json_t *data = json_array();
    if (!data)
        return LAIR_ENOMEM;
    if ((e = gdpr_store_pseudonyms_list(db, row.id, add_pseudonym, data))) {
        json_decref(data);
        return e;
    }
    char target[64];
    snprintf(target, sizeof(target), "conversation:%s", row.id);
    api_audit(rq, "gdpr.reveal", target, "ok");
    return api_respond_json(
        rq, 200,
        json_pack("{s:s, s:s, s:o}", "object", "list", "conversation_id", row.id, "data", data));
}

/* ---- register ---- */

struct names {
    char (*slug)[SLUG_MAX + 1];
    size_t n, cap;
};

static void add_name(void *arg, const struct assistant_info *a)
{
    struct names *s = arg;
    if (s->n < s->cap)
        snprintf(s->slug[s->n++], SLUG_MAX + 1, "%s", a->slug);
}

/* The published version of slug, else its draft. */
static enum lair_err load_assistant(struct tenant_db *db, const char *slug, struct assistant *a,
                                    bool *published)
{
    char *spec = NULL;
    int got = 0;
    enum lair_err e = assistants_get(db, slug, ASSISTANT_PUBLISHED, &spec, &got, NULL);
    *published = e == LAIR_OK;
    if (e == LAIR_ENOTFOUND)
        e = assistants_get(db, slug, ASSISTANT_DRAFT, &spec, &got, NULL);
    if (e)
        return e;
    json_t *v = json_loads(spec, 0, NULL);
    free(spec);
    struct assistant_error err;
    e = v ? assistant_parse(v, NULL, a, &err) : LAIR_EDB;
    json_decref(v);
    if (!e)
        a->version = got;
    return e;
}

static enum lair_err build_register(struct http_req *rq, struct tenant_db *db, json_t **out)
{
    struct app *app = http_app(rq);
    struct tenant_row t;
    enum lair_err e = sysdb_tenant_get(app->sys, http_principal(rq)->tenant, &t);
    if (e)
        return e;
    struct names names = {calloc(REGISTER_MAX_ASSISTANTS, sizeof(*names.slug)), 0,
                          REGISTER_MAX_ASSISTANTS};
    struct assistant *as = calloc(REGISTER_MAX_ASSISTANTS, sizeof(*as));
    struct gdpr_register_assistant *ra = calloc(REGISTER_MAX_ASSISTANTS, sizeof(*ra));
    size_t n = 0;
    if (!names.slug || !as || !ra)
        e = LAIR_ENOMEM;
    if (!e)
        e = assistants_list(db, false, add_name, &names);
    for (size_t i = 0; !e && i < names.n; i++) {
        bool published;
        enum lair_err le = load_assistant(db, names.slug[i], &as[n], &published);
        if (le == LAIR_ENOTFOUND) /* deleted meanwhile */
            continue;
        if (le) {
            log_warn("gdpr", "register: assistant %s of tenant %s cannot be read: %s",
                     names.slug[i], t.slug, lair_err_msg(le));
            continue;
        }
        ra[n] = (struct gdpr_register_assistant){&as[n], published};
        n++;
    }
    /* where the assistants' requests may go: their models' upstreams */
    enum { MAX_DEST = 64 };
    char(*dest)[API_DESTINATION_MAX] = calloc(MAX_DEST, sizeof(*dest));
    const char *dest_v[MAX_DEST];
    size_t n_dest = 0;
    if (!dest)
        e = LAIR_ENOMEM;
    for (size_t i = 0; !e && i < n; i++)
        n_dest = api_destinations(app, as[i].model, dest, n_dest, MAX_DEST);
    for (size_t i = 0; i < n_dest; i++)
        dest_v[i] = dest[i];
    if (!e) {
        struct gdpr_register_in in = {.tenant = t.slug,
                                      .outbound = dest_v,
                                      .n_outbound = n_dest,
                                      .tenant_name = t.name,
                                      .tenant_retention_days = t.retention_days,
                                      .assistants = ra,
                                      .n = n,
                                      .purge_interval_s = gdpr_purge_interval(),
                                      .backup_retention_days = app->backup_retention_days,
                                      .version = "LibreAIr " LAIR_VERSION};
        *out = gdpr_register_json(&in);
        if (!*out)
            e = LAIR_ENOMEM;
    }
    for (size_t i = 0; as && i < n; i++)
        assistant_release(&as[i]);
    free(dest);
    free(as);
    free(ra);
    free(names.slug);
    return e;
}

enum lair_err api_register(struct http_req *rq)
{
    const char *format = http_query(rq, "format");
    if (format && strcmp(format, "json") && strcmp(format, "md") && strcmp(format, "html"))
        return http_fail(rq, LAIR_EUNPROC, "format", "invalid_value",
                         "'format' must be json, md or html");
    struct tenant_db *db;
    json_t *reg = NULL;
    enum lair_err e = api_tenant_db(rq, &db);
    if (e || (e = build_register(rq, db, &reg)))
        return e;
    if (!format || !strcmp(format, "json"))
        return api_respond_json(rq, 200, reg);
    struct buf out;
    buf_init(&out, 0);
    bool md = !strcmp(format, "md");
    e = md ? gdpr_register_markdown(reg, &out) : gdpr_register_html(reg, &out);
    json_decref(reg);
    if (!e)
        e = http_respond(rq, 200, md ? "text/markdown; charset=utf-8" : "text/html; charset=utf-8",
                         out.ptr, out.len);
    buf_release(&out);
    return e;
}

/* ---- sovereignty ---- */

enum lair_err api_sovereignty(struct http_req *rq)
{
    struct app *app = http_app(rq);
    json_t *models = json_array(), *outbound = json_array();
    bool remote = false;
    for (size_t i = 0; models && i < llm_registry_count(app->models); i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        json_array_append_new(models, json_pack("{s:s, s:s}", "name", llm_model_name(m), "runs",
                                                info.upstream ? "upstream" : "local"));
        remote |= info.remote;
        struct buf b;
        buf_init(&b, 0);
        llm_model_upstreams_json(m, &b);
        json_error_t je;
        json_t *ups = json_loadb(b.ptr ? b.ptr : "[]", b.len, 0, &je);
        buf_release(&b);
        size_t k;
        json_t *u;
        json_array_foreach(ups, k, u)
        {
            const char *zone = json_string_value(json_object_get(u, "zone"));
            bool far = zone && !strcmp(zone, "remote");
            json_array_append_new(outbound,
                                  json_pack("{s:s, s:O, s:s, s:s}", "model", llm_model_name(m),
                                            "url", json_object_get(u, "url"), "zone",
                                            far ? "remote" : "local", "personal_data",
                                            far ? "masked" : "sent"));
        }
        json_decref(ups);
    }
    const char *statement =
        json_array_size(outbound) == 0
            ? "This server opens no outbound connection: no upstream is configured, models "
              "run in this process, and nothing is reported anywhere. Model files are "
              "downloaded only by 'libreair model pull URL', a command an operator runs, "
              "from the URL they give; the server never downloads."
        : remote ? "This server sends prompts only to the upstreams listed in 'outbound', all "
                   "configured by its operator. Those of the remote zone receive prompts whose "
                   "personal data the detector finds is replaced by placeholders (put back in "
                   "the answer here); an assistant can forbid them altogether. Nothing else "
                   "leaves, and nothing is reported anywhere."
                 : "This server sends prompts only to the upstreams listed in 'outbound', all "
                   "configured by its operator, in its local zone. Nothing else leaves, and "
                   "nothing is reported anywhere.";
    return api_respond_json(
        rq, 200,
        json_pack("{s:s, s:o, s:o, s:{s:s, s:b, s:[]}, s:b, s:s}", "object", "sovereignty",
                  "outbound", outbound, "models", models, "model_downloads", "used_by", "cli",
                  "server", 0, "sources", "telemetry", 0, "statement", statement));
}
