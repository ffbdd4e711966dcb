/* STUB (being written): conversations API. */
#include "api/app.h"

#define TODO(fn)                                                                                   \
    enum lair_err fn(struct http_req *rq)                                                          \
    {                                                                                              \
        return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "not implemented yet");                   \
    }
TODO(api_conversations_list)
TODO(api_conversation_get)
TODO(api_conversation_delete)
