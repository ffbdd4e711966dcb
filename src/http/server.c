/* libmicrohttpd glue: request lifecycle, routing, auth, limits, errors and
 * streaming.
 *
 * Thread-per-connection mode is chosen on purpose: a handler that waits for a
 * model blocks its own thread in poll() on two descriptors (the model's stream
 * and the client socket), which costs no CPU, notices a disconnect at once and
 * keeps the code straight-line.
 *
 * What a client can hold without a key is bounded (docs/internals/http.md):
 * the key is checked on the headers, before any body is read; bodies in
 * memory have a global budget; connections have a per-address limit, and a
 * watchdog closes connections whose headers are late (or idle kept-alive
 * ones), and under pressure the oldest connections still waiting for
 * headers, so that the last eighth of the connection limit stays free for
 * clients with a request under way and for new ones. */
#include "http/http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "http/metrics.h"
#include "http/tls.h"
#include "core/banned.h"

#define MAX_PARAMS 4
#define MAX_EXTRA_HEADERS 8
#define DISCARD_MAX ((unsigned long long)64 << 20)
#define DEFAULT_MAX_CONNECTIONS 2048u
#define DEFAULT_HEADER_TIMEOUT 15
#define DEFAULT_CLIENT_CONNECTIONS 128
#define DEFAULT_BODY_MEMORY ((size_t)256 << 20)
#define DEFAULT_DRAIN_TIMEOUT 30
#define SHED_GRACE_S 1.0  /* a connection this young is not shed: its headers are on the way */
#define WATCH_PERIOD_MS 250
#define TRIM_PERIOD_S 5.0

/* One per TCP connection, from MHD's connection notifications: what the
 * watchdog needs to close a connection whose headers are late. */
struct conn_guard {
    struct conn_guard *prev, *next;
    int fd;
    bool waiting; /* for a request's headers: a new or kept-alive connection */
    bool closing; /* shut down by the watchdog; MHD closes it next */
    double since; /* when it started waiting */
};

struct http_server {
    struct MHD_Daemon *d;
    struct http_config cfg;
    struct metrics *metrics;
    const char **names, **methods;
    int port;
    unsigned header_timeout_s, max_conns, reserve, idle_timeout_s;
    size_t body_cap;
    /* the connection guard: under gmu */
    pthread_mutex_t gmu;
    pthread_cond_t gcv;
    pthread_t watchdog;
    bool watchdog_started, stopping;
    struct conn_guard *conns;
    /* atomics */
    size_t body_bytes;        /* request bodies held now */
    int in_flight;            /* requests between their headers and their completion */
    bool draining;            /* new requests get 503 */
    uint64_t header_timeouts; /* connections closed for late headers or idleness */
    uint64_t shed;            /* connections closed to keep the reserve free */
    uint64_t body_refusals;   /* 503s for the body budget */
    uint64_t completed;       /* requests completed */
    uint64_t trimmed_at;      /* watchdog: completed at the last malloc_trim */
    double last_trim;         /* watchdog */
    int drain_fd;             /* eventfd: readable once the drain's grace period is over */
    int quiesced_fd;          /* the listening socket after http_drain */
    struct http_tls *tls;     /* NULL: plain HTTP */
    char proxies[8][INET6_ADDRSTRLEN]; /* trusted proxies, numeric */
    int n_proxies;
};

struct http_req {
    struct http_server *srv;
    struct MHD_Connection *conn;
    const struct route *route;
    size_t route_idx;
    const char *method, *url;
    struct str params[MAX_PARAMS];
    int n_params;
    struct buf body;
    bool body_too_big;
    unsigned long long received;
    size_t reserved; /* bytes of the body budget this request holds */
    struct arena arena;
    struct principal who;
    bool authed;
    bool via_session; /* authenticated by a sign-in session (http_config.session) */
    void *user;
    double t0;
    int status;
    bool responded;
    bool streaming;
    /* error details for the OpenAI-shaped body */
    char err_msg[512];
    const char *err_param, *err_code;
    int retry_after;
    /* headers a handler added with http_set_header (ARENA) */
    const char *extra[MAX_EXTRA_HEADERS][2];
    int n_extra;
};

struct stream_state {
    struct http_req *rq; /* valid until the request completes */
    struct http_server *srv;
    size_t route_idx;
    double t0;
    const struct http_stream_ops *ops;
    void *ctx;
    struct buf pending;
    size_t sent;
    bool done, failed, released;
    int client_fd, drain_fd;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- accessors ---- */

void *http_app(struct http_req *rq) { return rq->srv->cfg.app; }
struct arena *http_arena(struct http_req *rq) { return &rq->arena; }
struct str http_body(struct http_req *rq) { return buf_str(&rq->body); }
const struct principal *http_principal(struct http_req *rq) { return &rq->who; }
bool http_authenticated(struct http_req *rq) { return rq->authed; }
bool http_via_session(struct http_req *rq) { return rq->via_session; }
const char *http_method(struct http_req *rq) { return rq->method; }
const char *http_path(struct http_req *rq) { return rq->url; }
void *http_user(struct http_req *rq) { return rq->user; }
void http_set_user(struct http_req *rq, void *p) { rq->user = p; }

const char *http_route_name(struct http_req *rq)
{
    return rq->route ? rq->srv->names[rq->route_idx] : "unmatched";
}

struct str http_param(struct http_req *rq, int i)
{
    return i >= 0 && i < rq->n_params ? rq->params[i] : (struct str){"", 0};
}

const char *http_query(struct http_req *rq, const char *key)
{
    return MHD_lookup_connection_value(rq->conn, MHD_GET_ARGUMENT_KIND, key);
}

const char *http_header(struct http_req *rq, const char *name)
{
    return MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, name);
}

/* ---- responses ---- */

static void add_common_headers(struct MHD_Response *r, const char *content_type)
{
    if (content_type)
        MHD_add_response_header(r, "Content-Type", content_type);
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(r, "Cache-Control", "no-store");
}

static enum lair_err queue(struct http_req *rq, int status, struct MHD_Response *r)
{
    if (!r)
        return LAIR_ENOMEM;
    if (rq->retry_after > 0) {
        char v[16];
        snprintf(v, sizeof(v), "%d", rq->retry_after);
        MHD_add_response_header(r, "Retry-After", v);
    }
    for (int i = 0; i < rq->n_extra; i++)
        MHD_add_response_header(r, rq->extra[i][0], rq->extra[i][1]);
    if (rq->srv->tls) /* browsers then never try this host in clear */
        MHD_add_response_header(r, "Strict-Transport-Security", "max-age=31536000");
    enum MHD_Result ok = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    rq->status = status;
    rq->responded = true;
    return ok == MHD_YES ? LAIR_OK : LAIR_EIO;
}

enum lair_err http_respond(struct http_req *rq, int status, const char *ct, const void *body,
                           size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r)
        add_common_headers(r, ct);
    return queue(rq, status, r);
}

enum lair_err http_respond_json(struct http_req *rq, int status, struct buf *json)
{
    size_t len;
    char *p = buf_detach(json, &len);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, p, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(p);
        return LAIR_ENOMEM;
    }
    add_common_headers(r, "application/json");
    return queue(rq, status, r);
}

/* Writes s inside a JSON string. A message may quote what a client sent (a
 * path, a method, a field), and http_fail cuts it wherever its buffer ends:
 * each byte that does not start a well-formed UTF-8 sequence is written as
 * U+FFFD, so that the body stays JSON for strict clients. */
static void json_escape(struct buf *out, const char *s)
{
    size_t len = strlen(s);
    for (size_t i = 0; i < len;) {
        unsigned char c = (unsigned char)s[i];
        size_t n = c < 0x80 ? 1 : c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
        if (c == '"' || c == '\\')
            buf_printf(out, "\\%c", c);
        else if (c < 0x20)
            buf_printf(out, "\\u%04x", c);
        else if (n && i + n <= len && utf8_valid(s + i, n))
            buf_append(out, s + i, n);
        else {
            buf_puts(out, "\\ufffd");
            n = 1;
        }
        i += n;
    }
}

void http_error_json(enum lair_err e, const char *msg, const char *param, const char *code,
                     struct buf *out)
{
    buf_puts(out, "{\"error\":{\"message\":\"");
    json_escape(out, msg && *msg ? msg : lair_err_msg(e));
    buf_puts(out, "\",\"type\":\"");
    json_escape(out, lair_err_type(e));
    buf_puts(out, "\",\"param\":");
    if (param) {
        buf_puts(out, "\"");
        json_escape(out, param);
        buf_puts(out, "\"");
    } else {
        buf_puts(out, "null");
    }
    buf_puts(out, ",\"code\":");
    if (!code || !*code)
        code = e != LAIR_OK ? lair_err_code(e) : NULL; /* every error has a code */
    if (code) {
        buf_puts(out, "\"");
        json_escape(out, code);
        buf_puts(out, "\"");
    } else {
        buf_puts(out, "null");
    }
    buf_puts(out, "}}");
}

enum lair_err http_fail(struct http_req *rq, enum lair_err e, const char *param, const char *code,
                        const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rq->err_msg, sizeof(rq->err_msg), fmt, ap);
    va_end(ap);
    /* handlers name fields of a body they free before the error is written
     * (an unknown key of a jansson object): keep a copy */
    rq->err_param = param ? arena_strndup(&rq->arena, param, strlen(param)) : NULL;
    rq->err_code = code;
    return e;
}

void http_retry_after(struct http_req *rq, int seconds) { rq->retry_after = seconds; }

enum lair_err http_set_header(struct http_req *rq, const char *name, const char *value)
{
    if (rq->n_extra >= MAX_EXTRA_HEADERS)
        return LAIR_ELIMIT;
    const char *n = arena_strndup(&rq->arena, name, strlen(name));
    const char *v = arena_strndup(&rq->arena, value, strlen(value));
    if (!n || !v)
        return LAIR_ENOMEM;
    rq->extra[rq->n_extra][0] = n;
    rq->extra[rq->n_extra][1] = v;
    rq->n_extra++;
    return LAIR_OK;
}

static bool peer_addr(struct http_req *rq, char *out, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (!ci || !ci->client_addr || n == 0)
        return false;
    socklen_t len = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                           : sizeof(struct sockaddr_in);
    return getnameinfo(ci->client_addr, len, out, (socklen_t)n, NULL, 0, NI_NUMERICHOST) == 0;
}

/* The numeric form of an address written in text, false when it is not one. */
static bool numeric_addr(struct str a, char out[INET6_ADDRSTRLEN])
{
    char in[INET6_ADDRSTRLEN];
    unsigned char bin[sizeof(struct in6_addr)];
    if (a.len == 0 || a.len >= sizeof(in))
        return false;
    memcpy(in, a.ptr, a.len);
    in[a.len] = 0;
    if (inet_pton(AF_INET, in, bin) == 1)
        return inet_ntop(AF_INET, bin, out, INET6_ADDRSTRLEN) != NULL;
    if (inet_pton(AF_INET6, in, bin) == 1)
        return inet_ntop(AF_INET6, bin, out, INET6_ADDRSTRLEN) != NULL;
    return false;
}

bool http_client_addr(struct http_req *rq, char *out, size_t n)
{
    if (!peer_addr(rq, out, n))
        return false;
    bool trusted = false;
    for (int i = 0; i < rq->srv->n_proxies && !trusted; i++)
        trusted = !strcmp(out, rq->srv->proxies[i]);
    const char *xff = trusted ? http_header(rq, "X-Forwarded-For") : NULL;
    if (!xff)
        return true;
    const char *last = strrchr(xff, ',');
    char client[INET6_ADDRSTRLEN];
    if (numeric_addr(str_trim(str_c(last ? last + 1 : xff)), client))
        snprintf(out, n, "%s", client);
    return true;
}

/* Parses the trusted proxies (comma-separated numeric addresses). */
static enum lair_err parse_proxies(struct http_server *s, const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (s->n_proxies == 8 || !numeric_addr(str_trim((struct str){p, len}),
                                                s->proxies[s->n_proxies])) {
            log_error("http", "trusted proxies: '%.*s' is not an IP address (8 at most)", (int)len,
                      p);
            return LAIR_EINVAL;
        }
        s->n_proxies++;
        p += len + (p[len] == ',');
    }
    return LAIR_OK;
}

void http_set_principal(struct http_req *rq, const struct principal *p)
{
    rq->who = *p;
    rq->authed = true;
}

static void respond_error(struct http_req *rq, enum lair_err e)
{
    struct buf b;
    buf_init(&b, 0);
    http_error_json(e, rq->err_msg, rq->err_param, rq->err_code, &b);
    int status = lair_err_status(e);
    bool gone = status == 499; /* the client is gone: what is sent does not matter */
    if (gone)
        status = 400;
    if ((status == 429 || status == 503) && rq->retry_after <= 0)
        rq->retry_after = 1;
    http_respond_json(rq, status, &b);
    if (gone)
        rq->status = 499; /* metrics and the audit log tell what happened */
    buf_release(&b);
}

/* ---- client liveness ---- */

static int client_fd(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    return ci ? ci->connect_fd : -1;
}

enum wait_result { WAIT_READY, WAIT_GONE, WAIT_DRAIN, WAIT_IDLE };

/* Waits for fd, a hangup on the client socket cfd (< 0: none), the end of
 * the drain's grace period (dfd) or timeout_ms (< 0: none). */
static enum wait_result wait_any(int fd, int cfd, int dfd, int timeout_ms)
{
    struct pollfd p[3] = {{.fd = fd, .events = POLLIN},
                          {.fd = dfd, .events = POLLIN},
                          {.fd = cfd, .events = POLLRDHUP}};
    for (;;) {
        int n = poll(p, cfd >= 0 ? 3 : 2, timeout_ms);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return WAIT_GONE;
        if (n == 0)
            return WAIT_IDLE;
        if (cfd >= 0 && (p[2].revents & (POLLRDHUP | POLLHUP | POLLERR | POLLNVAL)))
            return WAIT_GONE;
        if (p[1].revents)
            return WAIT_DRAIN;
        if (p[0].revents)
            return WAIT_READY;
    }
}

int http_wait(struct http_req *rq, int fd)
{
    switch (wait_any(fd, client_fd(rq->conn), rq->srv->drain_fd, -1)) {
    case WAIT_READY:
        return 1;
    case WAIT_DRAIN:
        return -1;
    default:
        return 0;
    }
}

/* ---- streaming ---- */

static void stream_release(struct stream_state *st, bool gone)
{
    if (st->released)
        return;
    st->released = true;
    st->ops->release(st->ctx, gone);
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
    struct stream_state *st = cls;
    (void)pos;
    for (;;) {
        if (st->sent < st->pending.len) {
            size_t n = st->pending.len - st->sent;
            if (n > max)
                n = max;
            memcpy(out, st->pending.ptr + st->sent, n);
            st->sent += n;
            if (st->sent == st->pending.len) {
                buf_reset(&st->pending);
                st->sent = 0;
            }
            return (ssize_t)n;
        }
        if (st->done)
            return MHD_CONTENT_READER_END_OF_STREAM;
        enum lair_err e = st->ops->produce(st->ctx, &st->pending, &st->done);
        if (e) {
            st->failed = true;
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (st->pending.len || st->done)
            continue;
        switch (wait_any(st->ops->fd(st->ctx), st->client_fd, st->drain_fd,
                         st->ops->idle ? HTTP_STREAM_IDLE_MS : -1)) {
        case WAIT_READY:
            break;
        case WAIT_IDLE:
            st->ops->idle(st->ctx, &st->pending);
            break;
        case WAIT_DRAIN: /* the server is going: say so and end the stream properly */
            if (!st->ops->abort) {
                st->failed = true;
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            st->ops->abort(st->ctx, &st->pending);
            st->done = true;
            break;
        case WAIT_GONE:
            st->failed = true;
            stream_release(st, true);
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
    }
}

static void stream_free(void *cls)
{
    struct stream_state *st = cls;
    stream_release(st, !st->done);
    metrics_observe(st->srv->metrics, st->route_idx, st->failed ? 499 : 200, now_s() - st->t0);
    buf_release(&st->pending);
    free(st);
}

enum lair_err http_respond_stream(struct http_req *rq, const char *ct,
                                  const struct http_stream_ops *ops, void *ctx)
{
    struct stream_state *st = calloc(1, sizeof(*st));
    if (!st) {
        ops->release(ctx, false);
        return LAIR_ENOMEM;
    }
    st->srv = rq->srv;
    st->route_idx = rq->route_idx;
    st->t0 = rq->t0;
    st->ops = ops;
    st->ctx = ctx;
    st->client_fd = client_fd(rq->conn);
    st->drain_fd = rq->srv->drain_fd;
    buf_init(&st->pending, 0);
    struct MHD_Response *r =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader, st, stream_free);
    if (!r) {
        stream_free(st);
        return LAIR_ENOMEM;
    }
    add_common_headers(r, ct);
    MHD_add_response_header(r, "X-Accel-Buffering", "no");
    /* A stream may wait in the model's queue longer than the idle timeout;
     * its client's departure is noticed by poll() on the socket instead.
     * on_completed puts the timeout back for the connection's next request. */
    MHD_set_connection_option(rq->conn, MHD_CONNECTION_OPTION_TIMEOUT, 0u);
    rq->streaming = true;
    return queue(rq, 200, r);
}

/* ---- the connection guard ---- */

static struct conn_guard *guard_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? ci->socket_context : NULL;
}

/* The connection has its headers (waiting false), or waits for the next
 * request's (true). */
static void guard_mark(struct http_server *s, struct MHD_Connection *c, bool waiting)
{
    struct conn_guard *g = guard_of(c);
    if (!g)
        return;
    pthread_mutex_lock(&s->gmu);
    g->waiting = waiting;
    g->since = now_s();
    pthread_mutex_unlock(&s->gmu);
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_guard *g = calloc(1, sizeof(*g));
        *socket_context = g;
        if (!g)
            return; /* unguarded: only the MHD timeouts apply */
        g->fd = client_fd(c);
        g->waiting = true;
        g->since = now_s();
        pthread_mutex_lock(&s->gmu);
        g->next = s->conns;
        if (s->conns)
            s->conns->prev = g;
        s->conns = g;
        pthread_mutex_unlock(&s->gmu);
        return;
    }
    /* closed: MHD closes the socket after this returns, so the watchdog
     * never shuts down a descriptor that has been reused */
    struct conn_guard *g = *socket_context;
    if (!g)
        return;
    pthread_mutex_lock(&s->gmu);
    if (g->prev)
        g->prev->next = g->next;
    else
        s->conns = g->next;
    if (g->next)
        g->next->prev = g->prev;
    pthread_mutex_unlock(&s->gmu);
    free(g);
    *socket_context = NULL;
}

/* Under gmu. The connection's thread sees its socket end and MHD closes it. */
static void guard_close(struct conn_guard *g)
{
    g->closing = true;
    shutdown(g->fd, SHUT_RDWR);
}

/* Under gmu: closes the connections whose headers are late or that were
 * kept alive idle too long; then, while the connections open eat into the
 * reserve, the oldest of those still waiting for headers. */
static void guard_sweep(struct http_server *s, double now)
{
    unsigned open = 0;
    for (struct conn_guard *g = s->conns; g; g = g->next) {
        if (g->closing)
            continue;
        if (g->waiting && now - g->since > s->header_timeout_s) {
            guard_close(g);
            __atomic_add_fetch(&s->header_timeouts, 1, __ATOMIC_RELAXED);
            continue;
        }
        open++;
    }
    while (open > s->max_conns - s->reserve) {
        struct conn_guard *oldest = NULL;
        for (struct conn_guard *g = s->conns; g; g = g->next)
            if (!g->closing && g->waiting && now - g->since >= SHED_GRACE_S &&
                (!oldest || g->since < oldest->since))
                oldest = g;
        if (!oldest)
            break;
        guard_close(oldest);
        __atomic_add_fetch(&s->shed, 1, __ATOMIC_RELAXED);
        open--;
    }
}

/* Under gmu: once the server has been idle (no request under way) for a
 * moment after some work, gives the memory freed by the connections' threads
 * back to the system. glibc keeps what a thread's arena freed mapped (only
 * the top of a heap is trimmed on its own), so a burst of connections left
 * tens of MB behind for good; malloc_trim releases the free pages of every
 * arena. Costs a few milliseconds, at most once per TRIM_PERIOD_S. */
static void maybe_trim(struct http_server *s, double now)
{
    uint64_t served = __atomic_load_n(&s->completed, __ATOMIC_RELAXED);
    if (served == s->trimmed_at || now - s->last_trim < TRIM_PERIOD_S ||
        __atomic_load_n(&s->in_flight, __ATOMIC_ACQUIRE) > 0)
        return;
    s->trimmed_at = served;
    s->last_trim = now;
    malloc_trim(0);
}

static void *watchdog(void *arg)
{
    struct http_server *s = arg;
    pthread_mutex_lock(&s->gmu);
    while (!s->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
        ts.tv_sec += ts.tv_nsec / 1000000000L;
        ts.tv_nsec %= 1000000000L;
        pthread_cond_timedwait(&s->gcv, &s->gmu, &ts);
        if (!s->stopping)
            guard_sweep(s, now_s());
        if (!s->stopping)
            maybe_trim(s, now_s());
    }
    pthread_mutex_unlock(&s->gmu);
    return NULL;
}

/* ---- the body budget ---- */

/* Takes n more bytes of the budget for rq; false (nothing taken) when the
 * bodies held would then exceed it. */
static bool body_reserve(struct http_req *rq, size_t n)
{
    struct http_server *s = rq->srv;
    size_t now = __atomic_add_fetch(&s->body_bytes, n, __ATOMIC_RELAXED);
    if (now > s->body_cap) {
        __atomic_sub_fetch(&s->body_bytes, n, __ATOMIC_RELAXED);
        return false;
    }
    rq->reserved += n;
    return true;
}

static void body_release(struct http_req *rq)
{
    __atomic_sub_fetch(&rq->srv->body_bytes, rq->reserved, __ATOMIC_RELAXED);
    rq->reserved = 0;
}

static enum lair_err body_busy(struct http_req *rq)
{
    __atomic_add_fetch(&rq->srv->body_refusals, 1, __ATOMIC_RELAXED);
    http_retry_after(rq, 2);
    return http_fail(rq, LAIR_EBUSY, NULL, "server_busy",
                     "too many request bodies are being received at once; retry shortly");
}

/* ---- routing ---- */

/* Matches a path against a pattern; {} takes one non-empty segment. */
static bool route_match(const char *pat, const char *path, struct http_req *rq)
{
    int n = 0;
    while (*pat && *path) {
        if (pat[0] == '{' && pat[1] == '}') {
            const char *end = strchr(path, '/');
            size_t len = end ? (size_t)(end - path) : strlen(path);
            if (len == 0 || n >= MAX_PARAMS)
                return false;
            rq->params[n++] = (struct str){path, len};
            path += len;
            pat += 2;
            continue;
        }
        if (*pat != *path)
            return false;
        pat++, path++;
    }
    if (*pat || *path)
        return false;
    rq->n_params = n;
    return true;
}

/* Returns the route for method+path; *method_ok is false when only the
 * method differs (405). */
static const struct route *route_find(struct http_server *s, struct http_req *rq, bool *path_ok)
{
    *path_ok = false;
    for (size_t i = 0; i < s->cfg.n_routes; i++) {
        const struct route *r = &s->cfg.routes[i];
        if (!route_match(r->pattern, rq->url, rq))
            continue;
        *path_ok = true;
        if (!strcmp(r->method, rq->method)) {
            rq->route_idx = i;
            return r;
        }
    }
    rq->n_params = 0;
    return NULL;
}

static enum lair_err authenticate(struct http_req *rq)
{
    const char *h = http_header(rq, "Authorization");
    if (!h && rq->srv->cfg.session && http_header(rq, "Cookie")) {
        /* a person signed in with a browser session (the hook checks CSRF) */
        enum lair_err e = rq->srv->cfg.session(rq->srv->cfg.app, rq, &rq->who);
        if (e)
            return e;
        rq->via_session = true;
    } else {
        if (!h || strncasecmp(h, "Bearer ", 7) != 0)
            return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                             "missing API key: send 'Authorization: Bearer <key>'");
        struct str key = str_trim(str_c(h + 7));
        if (sysdb_key_check(rq->srv->cfg.sys, key, &rq->who) != LAIR_OK)
            return http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                             "invalid, revoked or expired API key");
    }
    rq->authed = true;
    unsigned f = rq->route->flags;
    enum key_role role = rq->who.role;
    if ((f & R_OPERATOR) && role != ROLE_OPERATOR)
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden", "this endpoint needs the operator key");
    if ((f & (R_TENANT | R_EDITOR | R_ADMIN)) && role == ROLE_OPERATOR)
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden",
                         "the operator key manages tenants but cannot use a tenant's content; "
                         "use a key of that tenant");
    if ((f & R_ADMIN) && role < ROLE_ADMIN)
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden", "this endpoint needs an admin key");
    if ((f & R_EDITOR) && role < ROLE_EDITOR)
        return http_fail(rq, LAIR_EPERM, NULL, "forbidden",
                         "this endpoint needs an editor or admin key");
    if ((f & R_QUOTA) && rq->srv->cfg.admit)
        return rq->srv->cfg.admit(rq->srv->cfg.app, rq);
    return LAIR_OK;
}

static bool needs_key(const struct route *r)
{
    return (r->flags & (R_AUTH | R_OPERATOR | R_TENANT | R_EDITOR | R_ADMIN)) != 0;
}

/* The whole request is in (authenticated on its headers already). */
static void dispatch(struct http_req *rq)
{
    enum lair_err e = LAIR_OK;
    if (rq->body_too_big)
        e = http_fail(rq, LAIR_ETOOBIG, NULL, "request_too_large",
                      "request body too large: at most %zu bytes here", rq->route->max_body);
    if (!e && rq->body.len && !utf8_valid(rq->body.ptr, rq->body.len)) {
        const char *ct = http_header(rq, "Content-Type");
        if (!ct || !strncmp(ct, "application/json", 16))
            e = http_fail(rq, LAIR_EUTF8, NULL, "invalid_utf8", "the request body is not valid UTF-8");
    }
    if (!e)
        e = rq->route->fn(rq);
    if (e && !rq->responded)
        respond_error(rq, e);
    else if (!rq->responded)
        http_respond(rq, 204, NULL, "", 0);
}

/* True when /metrics is open or the request bears its token. */
static bool metrics_allowed(struct http_req *rq)
{
    const char *want = rq->srv->cfg.metrics_token;
    if (!want)
        return true;
    const char *h = http_header(rq, "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    struct str got = str_trim(str_c(h + 7));
    return got.len == strlen(want) && sodium_memcmp(got.ptr, want, got.len) == 0;
}

/* The process's resident memory (bytes), 0 when unknown: /metrics shows it
 * beside the bounded caches, so that what they hold can be told apart from
 * the rest. */
static unsigned long long resident_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long long size = 0, pages = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%llu %llu", &size, &pages) != 2)
        pages = 0;
    fclose(f);
    long page = sysconf(_SC_PAGESIZE);
    return pages * (unsigned long long)(page > 0 ? page : 4096);
}

/* The connection guard's figures, for /metrics. */
static void guard_metrics(struct http_server *s, struct buf *b)
{
    unsigned open = 0, waiting = 0;
    pthread_mutex_lock(&s->gmu);
    for (struct conn_guard *g = s->conns; g; g = g->next) {
        open++;
        waiting += g->waiting;
    }
    pthread_mutex_unlock(&s->gmu);
    buf_printf(b,
               "# HELP libreair_http_connections Open client connections.\n"
               "# TYPE libreair_http_connections gauge\n"
               "libreair_http_connections %u\n"
               "# HELP libreair_http_connections_waiting Connections waiting for a request's "
               "headers.\n"
               "# TYPE libreair_http_connections_waiting gauge\n"
               "libreair_http_connections_waiting %u\n"
               "# HELP libreair_http_requests_in_flight Requests received and not yet answered "
               "to the end.\n"
               "# TYPE libreair_http_requests_in_flight gauge\n"
               "libreair_http_requests_in_flight %d\n"
               "# HELP libreair_http_body_bytes Request bodies held in memory.\n"
               "# TYPE libreair_http_body_bytes gauge\n"
               "libreair_http_body_bytes %zu\n"
               "# HELP libreair_http_body_budget_bytes Most request-body bytes held at once.\n"
               "# TYPE libreair_http_body_budget_bytes gauge\n"
               "libreair_http_body_budget_bytes %zu\n"
               "# HELP libreair_http_body_refusals_total Requests refused (503) for the body "
               "budget.\n"
               "# TYPE libreair_http_body_refusals_total counter\n"
               "libreair_http_body_refusals_total %llu\n"
               "# HELP libreair_http_connections_closed_total Connections the server closed: "
               "headers late or idle too long, or shed to keep the reserve free.\n"
               "# TYPE libreair_http_connections_closed_total counter\n"
               "libreair_http_connections_closed_total{reason=\"header_timeout\"} %llu\n"
               "libreair_http_connections_closed_total{reason=\"shed\"} %llu\n"
               "# HELP libreair_process_resident_memory_bytes Resident memory of the process "
               "(the prompt and vector caches are part of it: libreair_prompt_cache_bytes, "
               "libreair_vector_cache_bytes).\n"
               "# TYPE libreair_process_resident_memory_bytes gauge\n"
               "libreair_process_resident_memory_bytes %llu\n",
               open, waiting, __atomic_load_n(&s->in_flight, __ATOMIC_RELAXED),
               __atomic_load_n(&s->body_bytes, __ATOMIC_RELAXED), s->body_cap,
               (unsigned long long)__atomic_load_n(&s->body_refusals, __ATOMIC_RELAXED),
               (unsigned long long)__atomic_load_n(&s->header_timeouts, __ATOMIC_RELAXED),
               (unsigned long long)__atomic_load_n(&s->shed, __ATOMIC_RELAXED),
               resident_bytes());
}

static bool serve_builtin(struct http_req *rq)
{
    struct http_server *s = rq->srv;
    if (!strcmp(rq->method, "GET") && !strcmp(rq->url, "/metrics")) {
        if (!metrics_allowed(rq)) {
            respond_error(rq, http_fail(rq, LAIR_EAUTH, NULL, "invalid_api_key",
                                        "/metrics needs the metrics token: send "
                                        "'Authorization: Bearer <token>'"));
            return true;
        }
        struct buf b;
        buf_init(&b, 0);
        metrics_render(s->metrics, &b);
        guard_metrics(s, &b);
        if (s->cfg.metrics_extra)
            s->cfg.metrics_extra(s->cfg.app, &b);
        http_respond(rq, 200, "text/plain; version=0.0.4; charset=utf-8", b.ptr ? b.ptr : "",
                     b.len);
        buf_release(&b);
        return true;
    }
    if ((!strcmp(rq->method, "GET") || !strcmp(rq->method, "HEAD")) && s->cfg.static_file) {
        const unsigned char *data;
        size_t len;
        const char *ct;
        if (s->cfg.static_file(rq->url, &data, &len, &ct)) {
            struct MHD_Response *r =
                MHD_create_response_from_buffer(len, (void *)data, MHD_RESPMEM_PERSISTENT);
            if (r) {
                add_common_headers(r, ct);
                /* the console's pages run only their own files: no inline
                 * script or style, no other origin, never in a frame */
                MHD_add_response_header(r, "Content-Security-Policy",
                                        "default-src 'self'; base-uri 'none'; form-action 'self'; "
                                        "object-src 'none'; frame-ancestors 'none'");
                MHD_add_response_header(r, "X-Frame-Options", "DENY");
                MHD_add_response_header(r, "Cross-Origin-Opener-Policy", "same-origin");
            }
            queue(rq, 200, r);
            return true;
        }
    }
    return false;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size, void **con_cls)
{
    struct http_server *s = cls;
    struct http_req *rq = *con_cls;
    if (!rq) {
        rq = calloc(1, sizeof(*rq));
        if (!rq)
            return MHD_NO;
        *con_cls = rq;
        rq->srv = s;
        rq->conn = conn;
        rq->method = method;
        rq->url = url;
        rq->t0 = now_s();
        rq->route_idx = s->cfg.n_routes;
        arena_init(&rq->arena, 0);
        guard_mark(s, conn, false);
        __atomic_add_fetch(&s->in_flight, 1, __ATOMIC_RELAXED);
        if (__atomic_load_n(&s->draining, __ATOMIC_ACQUIRE)) {
            http_retry_after(rq, 5);
            http_set_header(rq, "Connection", "close");
            respond_error(rq, http_fail(rq, LAIR_EBUSY, NULL, "shutting_down",
                                        "the server is shutting down; retry shortly"));
            return MHD_YES;
        }
        bool path_ok;
        rq->route = route_find(s, rq, &path_ok);
        if (!rq->route) {
            if (serve_builtin(rq))
                return MHD_YES;
            if (path_ok)
                respond_error(rq, http_fail(rq, LAIR_EMETHOD, NULL, "method_not_allowed",
                                            "method %s is not allowed on %s", method, url));
            else
                respond_error(rq, http_fail(rq, LAIR_ENOTFOUND, NULL, "not_found",
                                            "no endpoint %s %s", method, url));
            return MHD_YES;
        }
        buf_init(&rq->body, rq->route->max_body ? rq->route->max_body : 1);
        const char *cl = http_header(rq, "Content-Length");
        if (cl) {
            char *end;
            unsigned long long n = strtoull(cl, &end, 10);
            /* A modestly oversized body is read and discarded so that the
             * client, still sending, can read the 413; a huge one is answered
             * at once and the connection closed. */
            if (*end || n > DISCARD_MAX) {
                respond_error(rq, http_fail(rq, LAIR_ETOOBIG, NULL, "request_too_large",
                                            "request body too large: at most %zu bytes here",
                                            rq->route->max_body));
                return MHD_YES;
            }
            if (n > rq->route->max_body)
                rq->body_too_big = true;
        }
        /* The key is checked on the headers: nobody without one gets a byte
         * of body read or kept (MHD stops reading a request answered now). */
        enum lair_err e = needs_key(rq->route) ? authenticate(rq) : LAIR_OK;
        if (!e && cl && !rq->body_too_big) {
            size_t n = (size_t)strtoull(cl, NULL, 10);
            if (n && !body_reserve(rq, n))
                e = body_busy(rq);
        }
        if (e)
            respond_error(rq, e);
        return MHD_YES;
    }
    if (rq->responded) { /* early answer: discard any remaining upload */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        rq->received += *upload_size;
        /* a chunked body (no Content-Length) takes its budget as it comes */
        if (!rq->body_too_big && rq->body.len + *upload_size > rq->reserved &&
            !body_reserve(rq, rq->body.len + *upload_size - rq->reserved)) {
            *upload_size = 0;
            respond_error(rq, body_busy(rq));
            return MHD_YES;
        }
        if (!rq->body_too_big && buf_append(&rq->body, upload_data, *upload_size) != LAIR_OK)
            rq->body_too_big = true;
        *upload_size = 0;
        if (rq->received > DISCARD_MAX) {
            respond_error(rq, http_fail(rq, LAIR_ETOOBIG, NULL, "request_too_large",
                                        "request body too large: at most %zu bytes here",
                                        rq->route->max_body));
        }
        return MHD_YES;
    }
    dispatch(rq);
    return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http_server *s = cls;
    struct http_req *rq = *con_cls;
    if (!rq)
        return;
    int status = rq->status ? rq->status : 499;
    if (s->cfg.on_done)
        s->cfg.on_done(s->cfg.app, rq, status);
    if (!rq->streaming)
        metrics_observe(s->metrics, rq->route_idx, status, now_s() - rq->t0);
    /* the connection may be kept alive: it waits for its next request's
     * headers, under the header timeout (a stream had lifted the idle one) */
    if (rq->streaming)
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, s->idle_timeout_s);
    guard_mark(s, conn, true);
    body_release(rq);
    buf_release(&rq->body);
    arena_release(&rq->arena);
    free(rq);
    *con_cls = NULL;
    __atomic_add_fetch(&s->completed, 1, __ATOMIC_RELAXED);
    __atomic_sub_fetch(&s->in_flight, 1, __ATOMIC_RELEASE);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char line[512];
    vsnprintf(line, sizeof(line), fmt, ap);
    size_t n = strlen(line);
    while (n && line[n - 1] == '\n')
        line[--n] = 0;
    log_debug("http", "%s", line);
}

static enum lair_err parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[256];
    const char *colon = strrchr(listen, ':');
    if (!colon)
        return LAIR_EINVAL;
    size_t hl = (size_t)(colon - listen);
    if (hl >= sizeof(host))
        return LAIR_EINVAL;
    memcpy(host, listen, hl);
    host[hl] = 0;
    char *h = host;
    if (h[0] == '[' && hl > 1 && h[hl - 1] == ']') {
        h[hl - 1] = 0;
        h++;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICSERV | AI_PASSIVE};
    struct addrinfo *ai;
    if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0)
        return LAIR_EINVAL;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return LAIR_OK;
}

/* Each connection takes a descriptor (and the databases, models and
 * eventfds some more): raises the soft open-files limit to fit, as far as
 * the hard limit allows (systemd's default soft limit is 1024). */
static void fit_fd_limit(unsigned max_conns)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_conns + 512;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("http", "the open-files limit (%llu) is below the %u connections allowed plus "
                 "512: raise LimitNOFILE",
                 (unsigned long long)rl.rlim_cur, max_conns);
}

static enum lair_err guard_start(struct http_server *s)
{
    const struct http_limits *lim = &s->cfg.limits;
    s->header_timeout_s = lim->header_timeout_s ? lim->header_timeout_s : DEFAULT_HEADER_TIMEOUT;
    s->idle_timeout_s = lim->idle_timeout_s ? lim->idle_timeout_s : 60u;
    s->max_conns = lim->max_connections ? lim->max_connections : DEFAULT_MAX_CONNECTIONS;
    s->reserve = s->max_conns / 8;
    fit_fd_limit(s->max_conns);
    s->body_cap = lim->max_body_memory ? lim->max_body_memory : DEFAULT_BODY_MEMORY;
    s->drain_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->drain_fd < 0)
        return LAIR_EIO;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->gcv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&s->gmu, NULL);
    if (pthread_create(&s->watchdog, NULL, watchdog, s) != 0)
        return LAIR_ENOMEM;
    s->watchdog_started = true;
    return LAIR_OK;
}

enum lair_err http_start(const struct http_config *cfg, struct http_server **out)
{
    *out = NULL;
    struct http_server *s = calloc(1, sizeof(*s));
    if (!s)
        return LAIR_ENOMEM;
    s->cfg = *cfg;
    s->drain_fd = -1;
    s->quiesced_fd = -1;
    if (guard_start(s) != LAIR_OK) {
        http_stop(s);
        return LAIR_ENOMEM;
    }
    s->names = calloc(cfg->n_routes + 1, sizeof(char *));
    s->methods = calloc(cfg->n_routes + 1, sizeof(char *));
    for (size_t i = 0; s->names && s->methods && i < cfg->n_routes; i++) {
        s->names[i] = cfg->routes[i].name ? cfg->routes[i].name : cfg->routes[i].pattern;
        s->methods[i] = cfg->routes[i].method;
    }
    if (s->names && s->methods)
        s->metrics = metrics_new(s->names, s->methods, cfg->n_routes);
    if (!s->metrics) {
        http_stop(s);
        return LAIR_ENOMEM;
    }

    struct sockaddr_storage ss;
    socklen_t sl;
    if (parse_listen(cfg->listen, &ss, &sl)) {
        log_error("http", "bad listen address '%s' (want HOST:PORT)", cfg->listen);
        http_stop(s);
        return LAIR_EINVAL;
    }
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | MHD_USE_ITC; /* ITC: for quiesce */
    if (ss.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (parse_proxies(s, cfg->trusted_proxies) != LAIR_OK) {
        http_stop(s);
        return LAIR_EINVAL;
    }
    if (cfg->tls_cert || cfg->tls_key) {
        enum lair_err te = cfg->tls_cert && cfg->tls_key
                               ? http_tls_new(cfg->tls_cert, cfg->tls_key, &s->tls)
                               : LAIR_EINVAL;
        if (te) {
            log_error("http", "cannot use the TLS certificate and key given");
            http_stop(s);
            return te;
        }
        flags |= MHD_USE_TLS;
    }
    struct http_limits lim = cfg->limits;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_CERT_CALLBACK, 0, http_tls_callback()},
        {MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES},
        {MHD_OPTION_END, 0, NULL},
    };
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_NOTIFY_CONNECTION,
        on_connection, s, MHD_OPTION_CONNECTION_TIMEOUT, s->idle_timeout_s,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        lim.max_header_bytes ? lim.max_header_bytes : (size_t)32 * 1024,
        MHD_OPTION_CONNECTION_LIMIT, s->max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        lim.max_client_connections ? lim.max_client_connections : DEFAULT_CLIENT_CONNECTIONS,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)2 << 20, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
        MHD_OPTION_ARRAY,
        s->tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    if (!s->d) {
        log_error("http", "cannot listen on %s: %s", cfg->listen, strerror(errno));
        http_stop(s);
        return LAIR_EIO;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : 0;
    *out = s;
    return LAIR_OK;
}

int http_port(const struct http_server *s) { return s->port; }

bool http_tls(const struct http_server *s) { return s->tls != NULL; }

enum lair_err http_reload_tls(struct http_server *s)
{
    return s->tls ? http_tls_reload(s->tls) : LAIR_EINVAL;
}

/* Waits (polling: shutdown only) until no request is under way or the
 * deadline; returns how many still are. */
static int wait_idle(struct http_server *s, double deadline)
{
    int left;
    while ((left = __atomic_load_n(&s->in_flight, __ATOMIC_ACQUIRE)) > 0 && now_s() < deadline) {
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return left;
}

int http_drain(struct http_server *s)
{
    __atomic_store_n(&s->draining, true, __ATOMIC_RELEASE);
    s->quiesced_fd = MHD_quiesce_daemon(s->d); /* closed after MHD_stop_daemon */
    unsigned grace = s->cfg.limits.drain_timeout_s ? s->cfg.limits.drain_timeout_s
                                                    : DEFAULT_DRAIN_TIMEOUT;
    int left = wait_idle(s, now_s() + grace);
    if (left > 0) {
        log_info("http", "drain: %d request(s) still under way after %u s; ending them", left,
                 grace);
        uint64_t one = 1;
        if (write(s->drain_fd, &one, sizeof(one)) != sizeof(one))
            log_error("http", "drain: cannot signal the requests under way");
        wait_idle(s, now_s() + 5); /* their last words */
    }
    return left;
}

void http_stop(struct http_server *s)
{
    if (!s)
        return;
    if (s->d)
        MHD_stop_daemon(s->d);
    if (s->quiesced_fd >= 0)
        close(s->quiesced_fd);
    if (s->watchdog_started) {
        pthread_mutex_lock(&s->gmu);
        s->stopping = true;
        pthread_cond_signal(&s->gcv);
        pthread_mutex_unlock(&s->gmu);
        pthread_join(s->watchdog, NULL);
        pthread_mutex_destroy(&s->gmu);
        pthread_cond_destroy(&s->gcv);
    }
    if (s->drain_fd >= 0)
        close(s->drain_fd);
    http_tls_free(s->tls); /* after the daemon: no handshake can ask for it */
    metrics_free(s->metrics);
    free(s->names);
    free(s->methods);
    free(s);
}
