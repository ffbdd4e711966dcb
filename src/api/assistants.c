/* STUB (being written): assistants management API. */
#include "api/app.h"

#define TODO(fn)                                                                                   \
    enum lair_err fn(struct http_req *rq)                                                          \
    {                                                                                              \
        return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "not implemented yet");                   \
    }
TODO(api_assistants_list)
TODO(api_assistants_create)
TODO(api_assistant_get)
TODO(api_assistant_put)
TODO(api_assistant_delete)
TODO(api_assistant_publish)
TODO(api_assistant_versions)
TODO(api_assistant_restore)
