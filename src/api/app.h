/* What every handler shares: the system database, the models and the
 * server's settings. One instance per running server, built by cmd_serve. */
#ifndef LAIR_APP_H
#define LAIR_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "http/http.h"
#include "llm/llm.h"
#include "store/system.h"

struct app {
    struct sysdb *sys;           /* BORROWED */
    struct llm_registry *models; /* BORROWED */
    const char *data_dir;
    time_t started;
    int ready;                   /* set (atomically) once every configured model is loaded */
    int n_models_configured;
};

/* The routing table and its size. */
extern const struct route api_routes[];
extern const size_t api_routes_count;

/* Appends model and engine metrics (Prometheus text) for /metrics. */
void api_metrics_extra(void *app, struct buf *out);

/* Handlers, grouped by file. */
enum lair_err api_healthz(struct http_req *rq);
enum lair_err api_readyz(struct http_req *rq);
enum lair_err api_models_list(struct http_req *rq);
enum lair_err api_models_get(struct http_req *rq);
enum lair_err api_chat_completions(struct http_req *rq);
enum lair_err api_completions(struct http_req *rq);
enum lair_err api_embeddings(struct http_req *rq);

/* True once models are loaded; otherwise records a 503 for rq. */
bool api_require_ready(struct http_req *rq);

#endif
