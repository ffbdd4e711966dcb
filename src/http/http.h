/* The HTTP server: libmicrohttpd in thread-per-connection mode, one routing
 * table, authentication, body and header limits, OpenAI-shaped errors, SSE
 * streaming and per-route metrics.
 *
 * Routing, auth and limits are applied from the table (struct route); a
 * handler only parses its input and fills the response. Each request owns an
 * arena that dies with it. A handler that waits (for a model) uses http_wait(),
 * which also notices when the client has gone, so that its work can be
 * cancelled at once. Streams are produced by a callback polled on a file
 * descriptor: a waiting stream costs no CPU. */
#ifndef LAIR_HTTP_H
#define LAIR_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"
#include "core/err.h"
#include "core/str.h"
#include "store/system.h"

struct http_req;
struct http_server;

typedef enum lair_err (*http_handler)(struct http_req *rq);

enum route_flags {
    R_AUTH = 1 << 0,     /* needs a valid bearer key (any role) */
    R_OPERATOR = 1 << 1, /* needs the operator key */
    R_STREAM = 1 << 2,   /* may answer with a stream */
    R_TENANT = 1 << 3,   /* needs a tenant key: the operator gets 403 (it never reads a
                            tenant's content) */
    R_EDITOR = 1 << 4,   /* tenant key with role editor or admin */
    R_ADMIN = 1 << 5,    /* tenant key with role admin */
    R_QUOTA = 1 << 6,    /* counts against rate limits: http_config.admit is called */
};

struct route {
    const char *method;  /* "GET", "POST", ... */
    const char *pattern; /* "/v1/models", "/api/v1/keys/{}" ({} matches one segment) */
    http_handler fn;
    unsigned flags;      /* enum route_flags */
    size_t max_body;     /* bytes; 0 = no body accepted */
    const char *name;    /* metrics label */
};

struct http_limits {
    size_t max_header_bytes;  /* per connection memory for headers; default 32 KiB */
    unsigned idle_timeout_s;  /* close a connection silent this long mid-request; default 60 */
    unsigned max_connections; /* default 2048; the last eighth is kept for clients with a
                                 request under way: connections still waiting for headers
                                 are closed, oldest first, to keep it free */
    unsigned header_timeout_s;        /* a request's headers must be in within this, and a kept-
                                         alive connection is closed after this long idle
                                         (after a stream too); default 15 */
    unsigned max_client_connections;  /* per client address (MHD's per-IP limit): 0 = 128 */
    size_t max_body_memory;           /* request bodies held in memory at once, all clients:
                                         beyond it 503; 0 = 256 MiB */
    unsigned drain_timeout_s;         /* http_drain: how long requests under way may take to
                                         finish before streams are ended; 0 = 30 */
};

struct http_stream_ops {
    /* File descriptor that is readable when produce() has something to say. */
    int (*fd)(void *ctx);
    /* Appends bytes to out (possibly none); sets *done when nothing will follow. */
    enum lair_err (*produce)(void *ctx, struct buf *out, bool *done);
    /* Called once when the response ends; client_gone when the client left early. */
    void (*release)(void *ctx, bool client_gone);
    /* Optional: after HTTP_STREAM_IDLE_MS without anything to send, appends
     * something that keeps the client and the proxies in between from giving
     * up (an SSE comment). */
    void (*idle)(void *ctx, struct buf *out);
    /* Optional: the server is shutting down and the drain's grace period is
     * over: appends the stream's last words (an error event) and ends it. */
    void (*abort)(void *ctx, struct buf *out);
};

#define HTTP_STREAM_IDLE_MS 5000

struct http_config {
    const char *listen;               /* "HOST:PORT"; PORT 0 picks a free port */
    const struct route *routes;       /* BORROWED for the server's life */
    size_t n_routes;
    struct sysdb *sys;                /* BORROWED: key verification */
    void *app;                        /* BORROWED: handed to handlers via http_app() */
    struct http_limits limits;
    /* Extra metrics appended to /metrics output (models, queues). May be NULL. */
    void (*metrics_extra)(void *app, struct buf *out);
    /* For R_QUOTA routes, after authentication: non-OK refuses the request
     * (the hook sets the message and Retry-After with http_fail and
     * http_retry_after). May be NULL. */
    enum lair_err (*admit)(void *app, struct http_req *rq);
    /* Called once per request once its status is known (denials are audited
     * here). May be NULL. */
    void (*on_done)(void *app, struct http_req *rq, int status);
    /* HTTPS: the certificate chain and its key (PEM files), read again by
     * http_reload_tls; NULL: plain HTTP. */
    const char *tls_cert, *tls_key;
    /* Comma-separated addresses of reverse proxies whose X-Forwarded-For is
     * believed (http_client_addr); NULL: none. */
    const char *trusted_proxies;
    /* A bearer token that /metrics then requires (compared in constant time);
     * NULL: /metrics is open. BORROWED for the server's life. */
    const char *metrics_token;
    /* A request to a keyed route that has no Authorization header but has
     * a Cookie: the application's sign-in sessions (api/auth.c). Fills who
     * and returns LAIR_OK, or records the refusal with http_fail (it checks
     * CSRF on requests that change state). May be NULL: keys only. */
    enum lair_err (*session)(void *app, struct http_req *rq, struct principal *who);
    /* Static files: lookup by path; NULL when none. */
    bool (*static_file)(const char *path, const unsigned char **data, size_t *len,
                        const char **content_type);
};

/* Starts listening. OUT: OWNED, stop with http_stop. */
enum lair_err http_start(const struct http_config *cfg, struct http_server **out);
/* The bound port (useful with port 0). */
int http_port(const struct http_server *s);
/* True when the server speaks HTTPS. */
bool http_tls(const struct http_server *s);
/* Reads the certificate and key files again (SIGHUP): new connections get
 * them, open ones keep theirs. On error the old ones stay (logged).
 * LAIR_EINVAL when the server has no TLS. */
enum lair_err http_reload_tls(struct http_server *s);
/* Graceful shutdown, first step: stops accepting connections, answers new
 * requests on open ones with 503, and waits until the requests under way
 * (streams included) have finished or limits.drain_timeout_s has passed;
 * then the remaining streams end with their abort() words and waiting
 * handlers get http_wait() == -1. Returns the number of requests that had to
 * be cut short. Call http_stop afterwards. */
int http_drain(struct http_server *s);
void http_stop(struct http_server *s);

/* ---- for handlers ---- */

void *http_app(struct http_req *rq);
struct arena *http_arena(struct http_req *rq);
struct str http_body(struct http_req *rq);
/* i-th {} segment of the matched pattern (URL-decoded). */
struct str http_param(struct http_req *rq, int i);
/* Query string argument, or NULL. BORROWED. */
const char *http_query(struct http_req *rq, const char *key);
const char *http_header(struct http_req *rq, const char *name);
/* The authenticated key (only for R_AUTH routes). */
const struct principal *http_principal(struct http_req *rq);
/* True when a key was presented and verified. */
bool http_authenticated(struct http_req *rq);
/* True when the request was authenticated by a sign-in session's cookie. */
bool http_via_session(struct http_req *rq);
const char *http_method(struct http_req *rq);
const char *http_path(struct http_req *rq);
/* The matched route's metrics name, or "unmatched". */
const char *http_route_name(struct http_req *rq);
/* Per-request slot for the application (freed by nobody: use the arena). */
void *http_user(struct http_req *rq);
void http_set_user(struct http_req *rq, void *p);

/* Response with a body (copied). */
enum lair_err http_respond(struct http_req *rq, int status, const char *content_type,
                           const void *body, size_t len);
/* Response whose body is a JSON text produced by the caller (OWNED buffer
 * is taken over). */
enum lair_err http_respond_json(struct http_req *rq, int status, struct buf *json);
/* Starts a streamed response (text/event-stream for SSE). ctx is released
 * through ops->release in every case, even when this fails. */
enum lair_err http_respond_stream(struct http_req *rq, const char *content_type,
                                  const struct http_stream_ops *ops, void *ctx);

/* Records the details of the error the handler is about to return, for the
 * OpenAI-shaped error body. param and code may be NULL. Returns e. */
enum lair_err http_fail(struct http_req *rq, enum lair_err e, const char *param, const char *code,
                        const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Seconds for a Retry-After header on 429/503. */
void http_retry_after(struct http_req *rq, int seconds);
/* Adds a header to the response rq will get, error responses included (for
 * CORS). Copied; at most 8 per request (LAIR_ELIMIT after). */
enum lair_err http_set_header(struct http_req *rq, const char *name, const char *value);
/* The client's numeric address ("127.0.0.1", "::1") into out: the TCP
 * peer's, or, when the peer is a trusted proxy (http_config.
 * trusted_proxies), the last address it appended to X-Forwarded-For (the
 * one the client cannot forge). False when unknown. */
bool http_client_addr(struct http_req *rq, char *out, size_t n);
/* Makes rq count as authenticated by p (copied) from now on: the public
 * widget API, once it has checked a request, runs it under a principal of
 * the assistant's tenant, so that its quotas and the audit of its refusals
 * are the tenant's. */
void http_set_principal(struct http_req *rq, const struct principal *p);

/* Blocks until fd is readable (1), the client has disconnected (0) or the
 * server's drain ran out of time (-1: answer with what there is, or 503). */
int http_wait(struct http_req *rq, int fd);

/* Writes the OpenAI error JSON for e into out. */
void http_error_json(enum lair_err e, const char *msg, const char *param, const char *code,
                     struct buf *out);

#endif
