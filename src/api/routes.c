/* The one routing table: adding an endpoint is one row here and one
 * function. Auth, limits and metrics labels are applied from these rows. */
#include "api/app.h"
#include "api/auth_api.h"
#include "api/gdpr_api.h"
#include "api/public.h"
#include "api/web.h"
#include "api/kb_api.h"
#include "api/members_api.h"
#include "api/evals_api.h"
#include "api/feedback_api.h"
#include "api/templates_api.h"

#define KiB (size_t)1024
#define MiB (KiB * 1024)

const struct route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, 0, "healthz"},
    {"GET", "/readyz", api_readyz, 0, 0, "readyz"},
    {"GET", "/v1/models", api_models_list, R_AUTH, 0, "models"},
    {"GET", "/v1/models/{}", api_models_get, R_AUTH, 0, "model"},
    {"POST", "/v1/chat/completions", api_chat_completions, R_AUTH | R_STREAM | R_QUOTA, 4 * MiB,
     "chat_completions"},
    {"POST", "/v1/completions", api_completions, R_AUTH | R_STREAM | R_QUOTA, 4 * MiB, "completions"},
    {"POST", "/v1/embeddings", api_embeddings, R_AUTH | R_QUOTA, 8 * MiB, "embeddings"},

    /* the tenant's own settings */
    {"GET", "/api/v1/settings", api_settings_get, R_EDITOR, 0, "settings"},
    {"PATCH", "/api/v1/settings", api_settings_patch, R_ADMIN, 64 * KiB, "settings"},
    /* management: models served elsewhere (operator only) */
    {"GET", "/api/v1/upstreams", api_upstreams_list, R_OPERATOR, 0, "upstreams"},
    /* management: tenants (operator only) */
    {"GET", "/api/v1/tenants", api_tenants_list, R_OPERATOR, 0, "tenants"},
    {"POST", "/api/v1/tenants", api_tenants_create, R_OPERATOR, 64 * KiB, "tenants"},
    {"PATCH", "/api/v1/tenants/{}", api_tenants_update, R_OPERATOR, 64 * KiB, "tenant"},
    {"DELETE", "/api/v1/tenants/{}", api_tenants_delete, R_OPERATOR, 0, "tenant"},
    /* keys: a tenant admin manages its tenant's keys; the operator its own */
    {"GET", "/api/v1/keys", api_keys_list, R_AUTH, 0, "keys"},
    {"POST", "/api/v1/keys", api_keys_create, R_AUTH, 64 * KiB, "keys"},
    {"DELETE", "/api/v1/keys/{}", api_keys_delete, R_AUTH, 0, "key"},
    /* members and access rules: the tenant's admins (api/members.c, docs/oidc.md) */
    {"GET", "/api/v1/members", api_members_list, R_ADMIN, 0, "members"},
    {"POST", "/api/v1/members", api_members_add, R_ADMIN, 16 * KiB, "members"},
    {"PATCH", "/api/v1/members/{}", api_member_patch, R_ADMIN, 16 * KiB, "member"},
    {"DELETE", "/api/v1/members/{}", api_member_delete, R_ADMIN, 0, "member"},
    {"GET", "/api/v1/access", api_access_get, R_ADMIN, 0, "access"},
    {"PUT", "/api/v1/access", api_access_put, R_ADMIN, 256 * KiB, "access"},
    /* assistants */
    {"GET", "/api/v1/assistants", api_assistants_list, R_EDITOR, 0, "assistants"},
    {"GET", "/api/v1/assistant-models", api_assistant_models, R_EDITOR, 0, "assistant_models"},
    {"POST", "/api/v1/assistants", api_assistants_create, R_EDITOR, 1 * MiB, "assistants"},
    /* the generator and shared templates (api/templates.c, docs/templates.md) */
    {"POST", "/api/v1/assistants/generate", api_assistants_generate, R_EDITOR, 64 * KiB,
     "assistants_generate"},
    {"POST", "/api/v1/assistants/from-template", api_assistants_from_template, R_EDITOR,
     64 * KiB, "assistants_from_template"},
    {"GET", "/api/v1/templates", api_templates_list, R_AUTH, 0, "templates"},
    {"GET", "/api/v1/templates/{}", api_template_get, R_AUTH, 0, "template"},
    {"POST", "/api/v1/templates", api_templates_publish, R_OPERATOR, 1 * MiB, "templates"},
    {"DELETE", "/api/v1/templates/{}", api_template_delete, R_OPERATOR, 0, "template"},
    {"GET", "/api/v1/assistants/{}", api_assistant_get, R_EDITOR, 0, "assistant"},
    {"PUT", "/api/v1/assistants/{}", api_assistant_put, R_EDITOR, 1 * MiB, "assistant"},
    {"DELETE", "/api/v1/assistants/{}", api_assistant_delete, R_EDITOR, 0, "assistant"},
    {"POST", "/api/v1/assistants/{}/publish", api_assistant_publish, R_EDITOR, 64 * KiB,
     "assistant_publish"},
    {"GET", "/api/v1/assistants/{}/versions", api_assistant_versions, R_EDITOR, 0,
     "assistant_versions"},
    {"POST", "/api/v1/assistants/{}/versions/{}/restore", api_assistant_restore, R_EDITOR,
     64 * KiB, "assistant_restore"},
    /* evaluation (api/evals.c, docs/evaluation.md) */
    {"GET", "/api/v1/assistants/{}/eval-suites", api_eval_suites_list, R_EDITOR, 0, "eval_suites"},
    {"GET", "/api/v1/assistants/{}/eval-suites/{}", api_eval_suite_get, R_EDITOR, 0, "eval_suite"},
    {"PUT", "/api/v1/assistants/{}/eval-suites/{}", api_eval_suite_put, R_EDITOR, 4 * MiB,
     "eval_suite"},
    {"POST", "/api/v1/assistants/{}/eval-runs", api_eval_runs_create, R_EDITOR, 64 * KiB,
     "eval_runs"},
    {"GET", "/api/v1/assistants/{}/eval-runs", api_eval_runs_list, R_EDITOR, 0, "eval_runs"},
    {"GET", "/api/v1/assistants/{}/eval-runs/{}", api_eval_run_get, R_EDITOR, 0, "eval_run"},
    {"GET", "/api/v1/assistants/{}/eval-runs/{}/compare/{}", api_eval_compare, R_EDITOR, 0,
     "eval_compare"},
    {"GET", "/api/v1/assistants/{}/eval-chart.svg", api_eval_chart_svg, R_EDITOR, 0, "eval_chart"},
    {"GET", "/api/v1/assistants/{}/eval-chart.json", api_eval_chart_json, R_EDITOR, 0,
     "eval_chart"},
    /* conversations */
    {"GET", "/api/v1/conversations", api_conversations_list, R_TENANT, 0, "conversations"},
    {"GET", "/api/v1/conversations/{}", api_conversation_get, R_TENANT, 0, "conversation"},
    {"DELETE", "/api/v1/conversations/{}", api_conversation_delete, R_TENANT, 0,
     "conversation"},
    {"PATCH", "/api/v1/conversations/{}", api_conversation_patch, R_TENANT, 4 * KiB,
     "conversation"},
    {"POST", "/api/v1/conversations/{}/feedback", api_conversation_feedback, R_TENANT, 8 * KiB,
     "conversation_feedback"},
    /* feedback and the dashboard (api/feedback.c) */
    {"GET", "/api/v1/feedback", api_feedback_list, R_EDITOR, 0, "feedback"},
    {"GET", "/api/v1/dashboard", api_dashboard, R_EDITOR, 0, "dashboard"},
    {"DELETE", "/api/v1/conversations/{}/last-exchange", api_conversation_delete_last, R_TENANT,
     0, "conversation_last_exchange"},
    /* knowledge bases (api/kb.c): editor or admin keys, search included */
    {"GET", "/api/v1/knowledge-bases", api_kbs_list, R_EDITOR, 0, "knowledge_bases"},
    {"POST", "/api/v1/knowledge-bases", api_kbs_create, R_EDITOR, 64 * KiB, "knowledge_bases"},
    {"GET", "/api/v1/knowledge-bases/{}", api_kb_get, R_EDITOR, 0, "knowledge_base"},
    {"DELETE", "/api/v1/knowledge-bases/{}", api_kb_delete, R_EDITOR, 0, "knowledge_base"},
    {"POST", "/api/v1/knowledge-bases/{}/documents", api_kb_documents_upload, R_EDITOR, 64 * MiB,
     "kb_documents"},
    {"GET", "/api/v1/knowledge-bases/{}/documents", api_kb_documents_list, R_EDITOR, 0,
     "kb_documents"},
    {"DELETE", "/api/v1/knowledge-bases/{}/documents/{}", api_kb_document_delete, R_EDITOR, 0,
     "kb_document"},
    {"POST", "/api/v1/knowledge-bases/{}/search", api_kb_search, R_EDITOR, 64 * KiB, "kb_search"},
    {"GET", "/api/v1/knowledge-bases/{}/synonyms", api_kb_synonyms_get, R_EDITOR, 0, "kb_synonyms"},
    {"PUT", "/api/v1/knowledge-bases/{}/synonyms", api_kb_synonyms_put, R_EDITOR, 256 * KiB,
     "kb_synonyms"},
    {"DELETE", "/api/v1/knowledge-bases/{}/synonyms", api_kb_synonyms_delete, R_EDITOR, 0,
     "kb_synonyms"},
    {"GET", "/api/v1/jobs/{}", api_job_get, R_EDITOR, 0, "job"},
    /* audit */
    {"GET", "/api/v1/audit", api_audit_list, R_AUTH, 0, "audit"},
    {"GET", "/api/v1/audit/verify", api_audit_verify, R_AUTH, 0, "audit_verify"},
    /* GDPR (api/gdpr.c, docs/gdpr.md) */
    {"POST", "/api/v1/gdpr/export", api_gdpr_export, R_ADMIN, 64 * KiB, "gdpr_export"},
    {"POST", "/api/v1/gdpr/erase", api_gdpr_erase, R_ADMIN, 64 * KiB, "gdpr_erase"},
    {"POST", "/api/v1/gdpr/find", api_gdpr_find, R_ADMIN, 64 * KiB, "gdpr_find"},
    {"GET", "/api/v1/conversations/{}/pseudonyms", api_gdpr_pseudonyms, R_ADMIN, 0,
     "conversation_pseudonyms"},
    {"GET", "/api/v1/register", api_register, R_ADMIN, 0, "register"},
    {"GET", "/api/v1/sovereignty", api_sovereignty, R_AUTH, 0, "sovereignty"},
    /* the console's view of its key (api/web.c) */
    {"GET", "/api/v1/me", api_me, R_AUTH, 0, "me"},
    {"GET", "/api/v1/usage", api_usage_get, R_AUTH, 0, "usage"},
    /* signing in with OpenID Connect, sessions, enrollment links (api/auth.c, docs/oidc.md) */
    {"GET", "/auth/providers", api_auth_providers, 0, 0, "auth_providers"},
    {"GET", "/auth/login", api_auth_login, 0, 0, "auth_login"},
    {"GET", "/auth/callback", api_auth_callback, 0, 0, "auth_callback"},
    {"GET", "/auth/me", api_auth_me, 0, 0, "auth_me"},
    {"POST", "/auth/choose", api_auth_choose, 0, 4 * KiB, "auth_choose"},
    {"POST", "/auth/logout", api_auth_logout, 0, 4 * KiB, "auth_logout"},
    {"POST", "/auth/logout-all", api_auth_logout_all, 0, 4 * KiB, "auth_logout_all"},
    {"GET", "/auth/signed-out", api_auth_signed_out, 0, 0, "auth_signed_out"},
    {"POST", "/auth/backchannel-logout/{}", api_auth_backchannel_logout, 0, 32 * KiB,
     "auth_backchannel_logout"},
    {"GET", "/enroll/{}", api_enroll_page, 0, 0, "enroll_page"},
    {"POST", "/enroll/{}", api_enroll_use, 0, 4 * KiB, "enroll_use"},
    /* public widget API (api/public.c): no key; origin-checked, rate-limited */
    {"GET", "/public/v1/assistants/{}", api_public_assistant, 0, 0, "public_assistant"},
    {"OPTIONS", "/public/v1/assistants/{}", api_public_preflight, 0, 0, "public_preflight"},
    {"POST", "/public/v1/assistants/{}/chat", api_public_chat, R_STREAM, 64 * KiB, "public_chat"},
    {"OPTIONS", "/public/v1/assistants/{}/chat", api_public_preflight, 0, 0, "public_preflight"},
    {"POST", "/public/v1/assistants/{}/feedback", api_public_feedback, 0, 8 * KiB,
     "public_feedback"},
    {"OPTIONS", "/public/v1/assistants/{}/feedback", api_public_preflight, 0, 0,
     "public_preflight"},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
