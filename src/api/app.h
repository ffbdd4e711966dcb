/* What every handler shares: the system database, the models and the
 * server's settings. One instance per running server, built by cmd_serve. */
#ifndef LAIR_APP_H
#define LAIR_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <jansson.h>

#include "assist/chat.h"
#include "audit/audit.h"
#include "http/http.h"
#include "llm/llm.h"
#include "store/people.h"
#include "store/system.h"
#include "store/tenant.h"

struct audit_event;
struct oidc_rp;
struct quota_state;
struct refusal_flusher;

struct app {
    struct sysdb *sys;           /* BORROWED */
    struct llm_registry *models; /* BORROWED */
    struct tenants *tenants;     /* BORROWED */
    struct quota_state *quotas;  /* OWNED by api/quota.c: quota_state_new/free */
    /* OWNED by api/denials.c (api_refusals_start/stop); NULL: each refusal is
     * written on its own */
    struct refusal_flusher *refusals;
    const char *data_dir;
    time_t started;
    int ready;                   /* set (atomically) once every configured model is loaded */
    bool tenant_raw_models;      /* tenant keys may call raw models by name */
    int n_models_configured;
    int64_t backup_retention_days; /* the operator's statement (serve --backup-retention-days) */
    json_t *publish_gate; /* BORROWED: the operator's gate for every tenant (eval/gate.h); NULL */
    const char *eval_judge; /* BORROWED: the model that grades evaluation rubrics; NULL: none */
    const char *public_url; /* BORROWED: the server's external URL ("https://ia.mairie.fr"), for links */
    struct oidc_rp *oidc;   /* BORROWED: OpenID Connect providers (auth/oidc.h); NULL: keys only */
    struct session_limits sessions; /* sign-in sessions' timeouts (store/people.h) */
};

/* The routing table and its size. */
extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Appends model and engine metrics (Prometheus text) for /metrics. */
void api_metrics_extra(void *app, struct buf *out);

/* ---- shared by handlers (app.c) ---- */

/* The database of the tenant whose key authenticated rq (borrowed until the
 * request ends: released by api_on_done). LAIR_EPERM for the operator key. */
enum lair_err api_tenant_db(struct http_req *rq, struct tenant_db **out);
/* The http_config.on_done hook: audits denials, releases the tenant db. */
void api_on_done(void *app, struct http_req *rq, int status);
/* Responds with a jansson value (takes the reference). */
enum lair_err api_respond_json(struct http_req *rq, int status, json_t *v);
/* Parses the body as a JSON object; on error records a 400 and returns it. */
enum lair_err api_parse_body(struct http_req *rq, json_t **out);
/* Guards a change that would break published assistants of db: deleting the
 * knowledge base kb, or restricting the tenant's models to allowed (see
 * assistants_using). Unless the request's query says force=true, when some
 * published assistant would break, answers 409 "in_use" with their slugs in
 * error.assistants, audits action on target as denied, and sets *answered. */
enum lair_err api_refuse_in_use(struct http_req *rq, struct tenant_db *db, const char *kb,
                                const char *allowed, const char *action, const char *target,
                                bool *answered);

/* ---- audit (api/audit.c) ---- */

/* Appends an event to the audit log of the request's tenant (the operator's,
 * in system.db, for operator keys and failed authentications): actor = key
 * id, action like "assistant.publish", target like "assistant:etat-civil",
 * outcome "ok" / "denied" / "error". Never message text or secrets. */
void api_audit(struct http_req *rq, const char *action, const char *target, const char *outcome);
/* api_audit with outcome "ok" and detail (no content, no secret) after the
 * method. */
void api_audit_detail(struct http_req *rq, const char *action, const char *target,
                      const char *detail);
/* Appends the same event to the log of tenant slug, which the request's
 * operator key acted on (actor "operator:<key id>"): a tenant's admin sees
 * in its own log what the operator changed of its settings. */
void api_audit_for_tenant(struct http_req *rq, const char *slug, const char *action,
                          const char *target, const char *detail);
/* Appends ev to the log of tenant slug (NULL or "": the operator's),
 * whoever authenticated rq (the enrollment link's user has no key yet). */
void api_audit_to(struct http_req *rq, const char *slug, const struct audit_event *ev);
/* The audit chains' checkpoint key of app's data directory (cached). */
enum lair_err api_audit_key(struct app *app, unsigned char key[AUDIT_KEY_LEN]);
/* Audits a denied request (401, 403, 404 on another tenant's ids, 429):
 * the first of its kind in a period at once, the next ones counted into
 * one event (api/denials.c). */
void api_audit_denied(struct http_req *rq, int status);

/* ---- refusals, aggregated (api/denials.c, docs/audit.md) ---- */

/* Starts aggregating refusals for app (app->refusals) and the thread that
 * writes each aggregate when its period ends. Period and table size from
 * $LIBREAIR_AUDIT_REFUSAL_PERIOD_S (default 60) and
 * $LIBREAIR_AUDIT_REFUSAL_KINDS (default 1024). */
enum lair_err api_refusals_start(struct app *app);
/* Stops the thread and writes every aggregate still open. Call after the
 * last request (http_stop) and before the tenants are freed. */
void api_refusals_stop(struct app *app);
/* For api_audit_denied: counts the refusal ev of rq. True when it is the
 * first of its kind in its period: the caller writes it, and detail (the
 * buffer ev->detail points to, cap bytes) gets the client's token appended.
 * False: counted, written later as part of an aggregate. True when
 * aggregation is not started. */
bool api_refusal_note(struct http_req *rq, const struct audit_event *ev, char *detail, size_t cap);
/* Appends the aggregation's counters (Prometheus text) for /metrics. */
void api_refusals_metrics(struct app *app, struct buf *out);

/* ---- quotas (api/quota.c) ---- */

struct quota_state *quota_state_new(void);
void quota_state_free(struct quota_state *q);
/* The http_config.admit hook: requests per minute and tokens per day, per
 * tenant and per key. */
enum lair_err api_admit(void *app, struct http_req *rq);
/* api_admit for p, which need not be the principal rq authenticated (the
 * widget's chats count against their tenant's quotas like a key's):
 * refusals are recorded on rq with http_fail and http_retry_after. */
enum lair_err api_admit_as(struct app *app, struct http_req *rq, const struct principal *p);
/* Adds tokens used by the request to today's usage of its key and tenant. */
void api_usage_record(struct http_req *rq, int tokens);

/* ---- the chat pipeline over HTTP (openai.c) ---- */

/* What the pipeline (assist/chat.h) needs from app: its tenants, models,
 * readiness, raw-model setting, and api_usage_add as the usage hook. */
void api_chat_ctx(struct app *app, struct chat_ctx *out);
/* Records err (message, param, code, Retry-After) for rq's error response
 * with http_fail; an empty message leaves the code's default. Returns e. */
enum lair_err api_chat_fail(struct http_req *rq, enum lair_err e, const struct chat_error *err);

/* How a chat's answer is written back. */
struct api_answer_opts {
    bool stream;        /* SSE (api/sse.c), else one JSON object */
    bool include_usage; /* stream_options.include_usage: a last chunk with the usage */
};

/* Runs req (chat_start with the resolved target t, taken over; t NULL:
 * chat_run) and answers rq: a chat.completion (text_completion for
 * req->completion) object, an SSE stream, or the fixed answer of a refusal
 * or of degraded mode. Errors are recorded with http_fail. */
enum lair_err api_chat_answer(struct http_req *rq, const struct chat_request *req,
                              struct chat_target *t, const struct api_answer_opts *o);

/* Handlers, grouped by file. */
enum lair_err api_healthz(struct http_req *rq);
enum lair_err api_readyz(struct http_req *rq);
enum lair_err api_models_list(struct http_req *rq);
enum lair_err api_models_get(struct http_req *rq);
enum lair_err api_upstreams_list(struct http_req *rq); /* api/upstreams.c */
enum lair_err api_settings_get(struct http_req *rq);   /* api/settings.c */
enum lair_err api_settings_patch(struct http_req *rq);
/* The places model's requests may go (its upstreams: URL, zone), in French
 * for the processing register, appended to out[n..max) without repeats;
 * returns the new count. None for an embedded model. */
#define API_DESTINATION_MAX 400
size_t api_destinations(struct app *app, const char *model, char (*out)[API_DESTINATION_MAX],
                        size_t n, size_t max);
enum lair_err api_chat_completions(struct http_req *rq);
enum lair_err api_completions(struct http_req *rq);
enum lair_err api_embeddings(struct http_req *rq);
/* admin.c */
enum lair_err api_tenants_list(struct http_req *rq);
enum lair_err api_tenants_create(struct http_req *rq);
enum lair_err api_tenants_delete(struct http_req *rq);
/* api/limits.c: a tenant's settings, changed by the operator and read by
 * the tenant */
enum lair_err api_tenants_update(struct http_req *rq);
enum lair_err api_usage_get(struct http_req *rq);
json_t *api_tenant_json(const struct tenant_row *t);
enum lair_err api_keys_list(struct http_req *rq);
enum lair_err api_keys_create(struct http_req *rq);
enum lair_err api_keys_delete(struct http_req *rq);
/* assistants.c */
enum lair_err api_assistants_list(struct http_req *rq);
/* GET /api/v1/assistant-models: the chat models the tenant's assistants may use. */
enum lair_err api_assistant_models(struct http_req *rq);
enum lair_err api_assistants_create(struct http_req *rq);
enum lair_err api_assistant_get(struct http_req *rq);
enum lair_err api_assistant_put(struct http_req *rq);
enum lair_err api_assistant_delete(struct http_req *rq);
enum lair_err api_assistant_publish(struct http_req *rq);
enum lair_err api_assistant_versions(struct http_req *rq);
enum lair_err api_assistant_restore(struct http_req *rq);
/* conversations.c */
enum lair_err api_conversations_list(struct http_req *rq);
enum lair_err api_conversation_get(struct http_req *rq);
enum lair_err api_conversation_delete(struct http_req *rq);
enum lair_err api_conversation_patch(struct http_req *rq);
enum lair_err api_conversation_delete_last(struct http_req *rq);
/* audit.c */
enum lair_err api_audit_list(struct http_req *rq);
enum lair_err api_audit_verify(struct http_req *rq);

/* True once models are loaded; otherwise records a 503 for rq. */
bool api_require_ready(struct http_req *rq);

#endif
