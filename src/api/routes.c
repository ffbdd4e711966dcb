/* The one routing table: adding an endpoint is one row here and one
 * function. Auth, limits and metrics labels are applied from these rows. */
#include "api/app.h"

#define KiB (size_t)1024
#define MiB (KiB * 1024)

const struct route api_routes[] = {
    {"GET", "/healthz", api_healthz, 0, 0, "healthz"},
    {"GET", "/readyz", api_readyz, 0, 0, "readyz"},
    {"GET", "/v1/models", api_models_list, R_AUTH, 0, "models"},
    {"GET", "/v1/models/{}", api_models_get, R_AUTH, 0, "model"},
    {"POST", "/v1/chat/completions", api_chat_completions, R_AUTH | R_STREAM, 4 * MiB,
     "chat_completions"},
    {"POST", "/v1/completions", api_completions, R_AUTH | R_STREAM, 4 * MiB, "completions"},
    {"POST", "/v1/embeddings", api_embeddings, R_AUTH, 8 * MiB, "embeddings"},
};

const size_t api_routes_count = sizeof(api_routes) / sizeof(api_routes[0]);
