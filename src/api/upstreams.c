/* GET /api/v1/upstreams (operator): every model, what serves it and, for an
 * upstream pool, each upstream's zone, health and traffic, as the running
 * server sees them (the console's model page and `libreair upstream` read
 * it). Never a key. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "api/app.h"
#include "core/json.h"

#include "core/banned.h"

/* The upstreams of model m as a JSON array (BORROWED from nobody: OWNED,
 * json_decref). */
static json_t *upstreams_of(struct llm_model *m)
{
    struct buf b;
    buf_init(&b, 0);
    llm_model_upstreams_json(m, &b);
    json_error_t je;
    json_t *ups = json_loadb(b.ptr ? b.ptr : "[]", b.len, 0, &je);
    buf_release(&b);
    return ups ? ups : json_array();
}

size_t api_destinations(struct app *app, const char *model, char (*out)[API_DESTINATION_MAX],
                        size_t n, size_t max)
{
    struct llm_model *m = __atomic_load_n(&app->ready, __ATOMIC_ACQUIRE)
                              ? llm_registry_find(app->models, str_c(model))
                              : NULL;
    if (!m)
        return n;
    json_t *ups = upstreams_of(m);
    size_t i;
    json_t *u;
    json_array_foreach(ups, i, u)
    {
        char line[API_DESTINATION_MAX];
        const char *zone = json_string_value(json_object_get(u, "zone"));
        bool remote = zone && !strcmp(zone, "remote");
        snprintf(line, sizeof(line), "%s (modèle « %s », zone %s%s)",
                 json_string_value(json_object_get(u, "url")), model, remote ? "distante" : "locale",
                 remote ? " : données personnelles remplacées par des marqueurs avant envoi" : "");
        bool seen = false;
        for (size_t k = 0; k < n && !seen; k++)
            seen = !strcmp(out[k], line);
        if (!seen && n < max)
            snprintf(out[n++], API_DESTINATION_MAX, "%s", line);
    }
    json_decref(ups);
    return n;
}

enum lair_err api_upstreams_list(struct http_req *rq)
{
    struct app *app = http_app(rq);
    json_t *models = json_array();
    if (!models)
        return LAIR_ENOMEM;
    for (size_t i = 0; __atomic_load_n(&app->ready, __ATOMIC_ACQUIRE) &&
                       i < llm_registry_count(app->models);
         i++) {
        struct llm_model *m = llm_registry_at(app->models, i);
        struct llm_model_info info;
        llm_model_get_info(m, &info);
        json_t *ups = upstreams_of(m);
        json_array_append_new(models, json_pack("{s:s, s:s, s:b, s:o*}", "name", llm_model_name(m),
                                                "kind", info.upstream ? "upstream" : "gguf",
                                                "remote", info.remote, "upstreams", ups));
    }
    return api_respond_json(rq, 200, json_pack("{s:o}", "models", models));
}
