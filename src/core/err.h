/* One list of error codes for the whole program: the enum, its message and the
 * HTTP status and OpenAI error type each maps to are generated from it, so a
 * code never disagrees with what a client sees. Codes are never renumbered:
 * append new ones at the end. 0 is success. */
#ifndef LAIR_ERR_H
#define LAIR_ERR_H

/* X(name, value, http status, openai type, default message, default error.code:
 *   the stable code a client sees when the handler gives none) */
#define LAIR_ERR_LIST(X)                                                                           \
    X(LAIR_OK, 0, 200, "", "ok", "")                                                               \
    X(LAIR_ENOMEM, 1, 500, "server_error", "out of memory", "out_of_memory")                       \
    X(LAIR_EINVAL, 2, 400, "invalid_request_error", "invalid request", "invalid_request")          \
    X(LAIR_EJSON, 3, 400, "invalid_request_error", "malformed JSON", "invalid_json")               \
    X(LAIR_EUTF8, 4, 400, "invalid_request_error", "invalid UTF-8", "invalid_utf8")                \
    X(LAIR_ETOOBIG, 5, 413, "invalid_request_error", "request body too large",                     \
      "request_too_large")                                                                         \
    X(LAIR_EAUTH, 6, 401, "authentication_error", "missing or invalid API key", "invalid_api_key") \
    X(LAIR_EPERM, 7, 403, "permission_error", "this key may not do that", "forbidden")             \
    X(LAIR_ENOTFOUND, 8, 404, "not_found_error", "not found", "not_found")                         \
    X(LAIR_ECONFLICT, 9, 409, "conflict_error", "already exists", "conflict")                      \
    X(LAIR_EUNPROC, 10, 422, "invalid_request_error", "invalid value", "invalid_value")            \
    X(LAIR_ERATE, 11, 429, "rate_limit_error", "rate limit reached", "rate_limit_exceeded")        \
    X(LAIR_EBUSY, 12, 503, "server_error", "server busy, retry later", "server_busy")              \
    X(LAIR_EIO, 13, 500, "server_error", "input/output error", "io_error")                         \
    X(LAIR_EDB, 14, 500, "server_error", "database error", "database_error")                       \
    X(LAIR_EMODEL, 15, 500, "server_error", "model error", "model_error")                          \
    X(LAIR_ECTX, 16, 400, "invalid_request_error", "prompt does not fit the model's context",      \
      "context_length_exceeded")                                                                   \
    X(LAIR_ECANCEL, 17, 499, "server_error", "request cancelled", "cancelled")                     \
    X(LAIR_EINTERNAL, 18, 500, "server_error", "internal error", "internal_error")                 \
    X(LAIR_EMETHOD, 19, 405, "invalid_request_error", "method not allowed", "method_not_allowed")  \
    X(LAIR_ENET, 20, 502, "server_error", "network error", "upstream_unreachable")                 \
    X(LAIR_ECHECKSUM, 21, 500, "server_error", "checksum mismatch", "checksum_mismatch")           \
    X(LAIR_EUNSUPPORTED, 22, 415, "invalid_request_error", "unsupported format",                   \
      "unsupported_format")                                                                        \
    X(LAIR_ELIMIT, 23, 422, "invalid_request_error", "a safety limit was exceeded",                \
      "limit_exceeded")                                                                            \
    X(LAIR_ESTORAGE, 24, 507, "server_error", "storage full: the server has no room to write",     \
      "storage_full")

enum lair_err {
#define LAIR_X(name, val, status, type, msg, code) name = val,
    LAIR_ERR_LIST(LAIR_X)
#undef LAIR_X
};

/* Static English message for a code. Never NULL. */
const char *lair_err_msg(enum lair_err e);
/* HTTP status for a code (200 for LAIR_OK). */
int lair_err_status(enum lair_err e);
/* OpenAI error "type" for a code ("" for LAIR_OK). */
const char *lair_err_type(enum lair_err e);
/* Stable error.code for a code ("not_found"; "" for LAIR_OK): what an API
 * error carries when its handler names no more precise one, so that every
 * error a client sees has a code (the console translates them). */
const char *lair_err_code(enum lair_err e);
/* Symbolic name, e.g. "LAIR_ENOTFOUND". */
const char *lair_err_name(enum lair_err e);

#endif
