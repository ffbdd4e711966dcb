/* STUB (being written): quotas. */
#include <stdlib.h>

#include "api/app.h"

struct quota_state {
    int unused;
};
struct quota_state *quota_state_new(void) { return calloc(1, sizeof(struct quota_state)); }
void quota_state_free(struct quota_state *q) { free(q); }
enum lair_err api_admit(void *app, struct http_req *rq) { return LAIR_OK; }
void api_usage_record(struct http_req *rq, int tokens) {}
