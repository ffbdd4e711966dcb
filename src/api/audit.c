/* STUB (being written): audit API. */
#include "api/app.h"

void api_audit(struct http_req *rq, const char *action, const char *target, const char *outcome) {}
void api_audit_denied(struct http_req *rq, int status) {}
enum lair_err api_audit_list(struct http_req *rq)
{
    return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "not implemented yet");
}
enum lair_err api_audit_verify(struct http_req *rq)
{
    return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "not implemented yet");
}
