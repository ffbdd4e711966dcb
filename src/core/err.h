/* One list of error codes for the whole program: the enum, its message and the
 * HTTP status and OpenAI error type each maps to are generated from it, so a
 * code never disagrees with what a client sees. Codes are never renumbered:
 * append new ones at the end. 0 is success. */
#ifndef LAIR_ERR_H
#define LAIR_ERR_H

/* X(name, value, http status, openai type, default message) */
#define LAIR_ERR_LIST(X)                                                                           \
    X(LAIR_OK, 0, 200, "", "ok")                                                                   \
    X(LAIR_ENOMEM, 1, 500, "server_error", "out of memory")                                        \
    X(LAIR_EINVAL, 2, 400, "invalid_request_error", "invalid request")                             \
    X(LAIR_EJSON, 3, 400, "invalid_request_error", "malformed JSON")                               \
    X(LAIR_EUTF8, 4, 400, "invalid_request_error", "invalid UTF-8")                                \
    X(LAIR_ETOOBIG, 5, 413, "invalid_request_error", "request body too large")                     \
    X(LAIR_EAUTH, 6, 401, "authentication_error", "missing or invalid API key")                    \
    X(LAIR_EPERM, 7, 403, "permission_error", "this key may not do that")                          \
    X(LAIR_ENOTFOUND, 8, 404, "not_found_error", "not found")                                      \
    X(LAIR_ECONFLICT, 9, 409, "conflict_error", "already exists")                                  \
    X(LAIR_EUNPROC, 10, 422, "invalid_request_error", "invalid value")                             \
    X(LAIR_ERATE, 11, 429, "rate_limit_error", "rate limit reached")                               \
    X(LAIR_EBUSY, 12, 503, "server_error", "server busy, retry later")                             \
    X(LAIR_EIO, 13, 500, "server_error", "input/output error")                                     \
    X(LAIR_EDB, 14, 500, "server_error", "database error")                                         \
    X(LAIR_EMODEL, 15, 500, "server_error", "model error")                                         \
    X(LAIR_ECTX, 16, 400, "invalid_request_error", "prompt does not fit the model's context")      \
    X(LAIR_ECANCEL, 17, 499, "server_error", "request cancelled")                                  \
    X(LAIR_EINTERNAL, 18, 500, "server_error", "internal error")                                   \
    X(LAIR_EMETHOD, 19, 405, "invalid_request_error", "method not allowed")                        \
    X(LAIR_ENET, 20, 502, "server_error", "network error")                                         \
    X(LAIR_ECHECKSUM, 21, 500, "server_error", "checksum mismatch")                                \
    X(LAIR_EUNSUPPORTED, 22, 415, "invalid_request_error", "unsupported format")                   \
    X(LAIR_ELIMIT, 23, 422, "invalid_request_error", "a safety limit was exceeded")               \
    X(LAIR_ESTORAGE, 24, 507, "server_error", "storage full: the server has no room to write")

enum lair_err {
#define LAIR_X(name, val, status, type, msg) name = val,
    LAIR_ERR_LIST(LAIR_X)
#undef LAIR_X
};

/* Static English message for a code. Never NULL. */
const char *lair_err_msg(enum lair_err e);
/* HTTP status for a code (200 for LAIR_OK). */
int lair_err_status(enum lair_err e);
/* OpenAI error "type" for a code ("" for LAIR_OK). */
const char *lair_err_type(enum lair_err e);
/* Symbolic name, e.g. "LAIR_ENOTFOUND". */
const char *lair_err_name(enum lair_err e);

#endif
