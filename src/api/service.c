/* Service endpoints (health, readiness) and engine metrics. */
#include <stdio.h>

#include "api/app.h"
#include "audit/audit.h"
#include "audit/headexport.h"
#include "store/tenant.h"
#include "store/vcache.h"
#include "core/banned.h"

enum lair_err api_healthz(struct http_req *rq)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    return http_respond(rq, 200, "application/json", ok, sizeof(ok) - 1);
}

bool api_require_ready(struct http_req *rq)
{
    struct app *app = http_app(rq);
    if (__atomic_load_n(&app->ready, __ATOMIC_ACQUIRE))
        return true;
    http_retry_after(rq, 2);
    http_fail(rq, LAIR_EBUSY, NULL, "models_loading", "models are still loading; retry shortly");
    return false;
}

enum lair_err api_readyz(struct http_req *rq)
{
    struct app *app = http_app(rq);
    struct buf b;
    buf_init(&b, 0);
    int ready = __atomic_load_n(&app->ready, __ATOMIC_ACQUIRE);
    size_t n = ready ? llm_registry_count(app->models) : 0;
    buf_printf(&b, "{\"status\":\"%s\",\"models_loaded\":%zu,\"models_configured\":%d}",
               ready ? "ready" : "loading", n, app->n_models_configured);
    enum lair_err e = http_respond_json(rq, ready ? 200 : 503, &b);
    buf_release(&b);
    return e;
}

void api_metrics_extra(void *p, struct buf *out)
{
    struct app *app = p;
    buf_printf(out,
               "# TYPE libreair_audit_append_failures_total counter\n"
               "libreair_audit_append_failures_total %llu\n"
               "# TYPE libreair_audit_head_export_failures_total counter\n"
               "libreair_audit_head_export_failures_total %llu\n",
               (unsigned long long)audit_failures(), (unsigned long long)audit_head_failures());
    api_refusals_metrics(app, out);
    if (app->tenants) {
        struct vcache_stats v;
        vcache_get_stats(tenants_vectors(app->tenants), &v);
        buf_printf(out,
                   "# TYPE libreair_vector_cache_bytes gauge\n"
                   "libreair_vector_cache_bytes %zu\n"
                   "# TYPE libreair_vector_cache_budget_bytes gauge\n"
                   "libreair_vector_cache_budget_bytes %zu\n"
                   "# TYPE libreair_vector_cache_entries gauge\n"
                   "libreair_vector_cache_entries %zu\n"
                   "# TYPE libreair_vector_cache_hits_total counter\n"
                   "libreair_vector_cache_hits_total %llu\n"
                   "# TYPE libreair_vector_cache_loads_total counter\n"
                   "libreair_vector_cache_loads_total %llu\n"
                   "# TYPE libreair_vector_cache_evictions_total counter\n"
                   "libreair_vector_cache_evictions_total %llu\n",
                   v.bytes, v.budget, v.entries, (unsigned long long)v.hits,
                   (unsigned long long)v.loads, (unsigned long long)v.evictions);
    }
    if (!__atomic_load_n(&app->ready, __ATOMIC_ACQUIRE))
        return;
    static const char *const help = "# TYPE libreair_prompt_tokens_total counter\n"
                                    "# TYPE libreair_cached_prompt_tokens_total counter\n"
                                    "# TYPE libreair_generated_tokens_total counter\n"
                                    "# TYPE libreair_generation_requests_total counter\n"
                                    "# TYPE libreair_generation_tokens_per_second gauge\n"
                                    "# TYPE libreair_prompt_tokens_per_second gauge\n"
                                    "# TYPE libreair_queue_depth gauge\n"
                                    "# TYPE libreair_busy_slots gauge\n"
                                    "# TYPE libreair_slots gauge\n"
                                    "# TYPE libreair_prompt_cache_bytes gauge\n"
                                    "# TYPE libreair_prompt_cache_entries gauge\n"
                                    "# TYPE libreair_prompt_cache_saves_total counter\n"
                                    "# TYPE libreair_prompt_cache_restores_total counter\n"
                                    "# TYPE libreair_prompt_cache_evictions_total counter\n";
    buf_puts(out, help);
    for (size_t i = 0; i < llm_registry_count(app->models); i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        struct llm_stats s;
        llm_model_get_stats(m, &s);
        const char *name = llm_model_name(m);
        buf_printf(out, "libreair_prompt_tokens_total{model=\"%s\"} %llu\n", name,
                   (unsigned long long)s.prompt_tokens);
        buf_printf(out, "libreair_cached_prompt_tokens_total{model=\"%s\"} %llu\n", name,
                   (unsigned long long)s.cached_tokens);
        buf_printf(out, "libreair_generated_tokens_total{model=\"%s\"} %llu\n", name,
                   (unsigned long long)s.generated_tokens);
        buf_printf(out, "libreair_generation_requests_total{model=\"%s\"} %llu\n", name,
                   (unsigned long long)s.requests);
        buf_printf(out, "libreair_generation_tokens_per_second{model=\"%s\"} %.3f\n", name,
                   s.gen_seconds > 0 ? (double)s.generated_tokens / s.gen_seconds : 0.0);
        buf_printf(out, "libreair_prompt_tokens_per_second{model=\"%s\"} %.3f\n", name,
                   s.prompt_seconds > 0 ? (double)s.prompt_tokens / s.prompt_seconds : 0.0);
        buf_printf(out, "libreair_queue_depth{model=\"%s\"} %d\n", name, s.queue_depth);
        buf_printf(out, "libreair_busy_slots{model=\"%s\"} %d\n", name, s.busy_slots);
        buf_printf(out, "libreair_slots{model=\"%s\"} %d\n", name, s.n_slots);
        const struct {
            const char *metric;
            uint64_t v;
        } pc[] = {{"prompt_cache_bytes", s.pcache_bytes},
                  {"prompt_cache_entries", s.pcache_entries},
                  {"prompt_cache_saves_total", s.pcache_saves},
                  {"prompt_cache_restores_total", s.pcache_restores},
                  {"prompt_cache_evictions_total", s.pcache_evictions}};
        for (size_t k = 0; k < sizeof(pc) / sizeof(pc[0]); k++)
            buf_printf(out, "libreair_%s{model=\"%s\"} %llu\n", pc[k].metric, name,
                       (unsigned long long)pc[k].v);
        llm_model_metrics(m, out); /* an upstream pool's series */
    }
}
