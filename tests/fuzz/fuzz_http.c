/* Fuzz target: the HTTP surface as a client meets it — request parsing
 * (libmicrohttpd), routing, headers, authentication and roles, body limits,
 * and the JSON body of every route family (tenants, keys, assistants,
 * knowledge bases and uploads, search, conversations, GDPR, OpenAI chat and
 * completions, the public widget), through the real server.
 *
 * The handlers parse their bodies in static functions behind the routing
 * table, so the honest way to reach them is the way a client does: the
 * target starts the real server once (http_start with api_routes, assembled
 * as cmd_serve does, on 127.0.0.1 and a fresh data directory), with a tenant
 * "demo" holding a knowledge base "docs" of two indexed documents and two
 * published assistants ("accueil", internal; "widget", public for
 * https://www.ville.fr). Instead of a language model, two test backends
 * (llm/backend.h) are registered: "default" answers at once by echoing the
 * end of its prompt through a real generation stream (so stop strings, SSE,
 * usage and conversation records all run) and embeds by byte counts (so
 * ingestion stores vectors and searches are hybrid); "busy" refuses every
 * request as a saturated engine does, so the widget's assistant answers in
 * degraded mode from its knowledge base. Each input is written as raw bytes
 * to a new loopback connection, which is then half-closed, and the answer is
 * read to the end.
 *
 * In the input, "@OP@", "@ADMIN@", "@EDITOR@" and "@USER@" stand for the
 * operator key and the tenant's admin, editor and user keys, and "@LEN@" for
 * the length of the body that follows (from the next blank line to "@END@"
 * or the end of the input): a Content-Length that stays right while the body
 * mutates, one per request of a pipelined input.
 *
 * Checked, for every response: it is HTTP, its status is not a 5xx other
 * than 503 (saturation), 501 and 505 (a method or an HTTP version
 * libmicrohttpd does not speak): nothing a client sends may break the
 * server; a JSON error body
 * has the OpenAI shape; the server answers within 10 seconds; and the
 * fixture still works afterwards (when an input deleted the tenant or its
 * assistants, which a client with those keys may do, the fixture is built
 * again). tests/fuzz/http.dict holds the routes and header names. */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "api/kb_api.h"
#include "api/web.h"
#include "core/log.h"
#include "fuzz.h"
#include "llm/backend.h"
#include "rag/ingest.h"
#include "store/assistants.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"

#include "core/banned.h"

#define ANSWER_TIMEOUT_MS 10000
#define REBUILD_EVERY 20000 /* inputs: bounds what the data directory gathers */

enum { K_OP, K_ADMIN, K_EDITOR, K_USER, K_COUNT };
static const char *const key_names[K_COUNT] = {"@OP@", "@ADMIN@", "@EDITOR@", "@USER@"};

static struct {
    char root[256], data[300];
    struct sysdb *sys;
    struct app app;
    struct ingest *ingest;
    struct http_server *srv;
    int port;
    char key[K_COUNT][KEY_TEXT_MAX];
    unsigned long inputs, builds;
} fx;

/* ---- one exchange over a loopback connection ---- */

/* Writes req, half-closes, and reads the whole answer into out. False when
 * the server did not finish answering in time. */
static bool exchange(const char *req, size_t len, struct buf *out)
{
    buf_reset(out);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        abort();
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)fx.port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        fprintf(stderr, "fuzz_http: connect: %s\n", strerror(errno));
        abort();
    }
    size_t sent = 0;
    bool writing = true, done = false;
    if (len == 0) {
        shutdown(fd, SHUT_WR);
        writing = false;
    }
    while (!done) {
        struct pollfd p = {.fd = fd, .events = (short)(POLLIN | (writing ? POLLOUT : 0))};
        int r = poll(&p, 1, ANSWER_TIMEOUT_MS);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (writing && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t w = send(fd, req + sent, len - sent, MSG_NOSIGNAL);
            if (w > 0)
                sent += (size_t)w;
            if (w < 0 || sent == len) { /* an early answer may close the socket */
                shutdown(fd, SHUT_WR);
                writing = false;
            }
        }
        if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
            char tmp[16384];
            ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
            if (n > 0)
                buf_append(out, tmp, (size_t)n);
            else if (n == 0 || errno != EINTR)
                done = true;
        }
    }
    close(fd);
    return done;
}

/* A request for the fixture: status and JSON body (NULL when not JSON). */
static int call(const char *method, const char *path, const char *key, const char *ctype,
                const char *body, size_t blen, json_t **json)
{
    struct buf req, resp;
    buf_init(&req, 0);
    buf_init(&resp, 0);
    buf_printf(&req,
               "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
               "Content-Type: %s\r\nContent-Length: %zu\r\n",
               method, path, ctype, blen);
    if (key)
        buf_printf(&req, "Authorization: Bearer %s\r\n", key);
    buf_append(&req, "\r\n", 2);
    buf_append(&req, body, blen);
    int status = 0;
    if (exchange(req.ptr, req.len, &resp) && resp.len > 12)
        status = (int)strtol(resp.ptr + 9, NULL, 10);
    const char *b = resp.ptr ? strstr(resp.ptr, "\r\n\r\n") : NULL;
    if (json)
        *json = b ? json_loads(b + 4, 0, NULL) : NULL;
    if (status < 200 || status > 299)
        fprintf(stderr, "fuzz_http: %s %s: %s\n", method, path, b ? b + 4 : "no answer");
    buf_release(&req);
    buf_release(&resp);
    return status;
}

static void must(int status, int want, const char *what)
{
    if (status != want) {
        fprintf(stderr, "fuzz_http: setting up: %s answered %d, want %d\n", what, status, want);
        abort();
    }
}

static void take_key(json_t *j, const char *field, char out[KEY_TEXT_MAX])
{
    const char *k = json_string_value(json_object_get(j, field));
    if (!k || strlen(k) >= KEY_TEXT_MAX)
        abort();
    snprintf(out, KEY_TEXT_MAX, "%s", k);
    json_decref(j);
}

/* ---- test backends: "default" echoes, "busy" is saturated ---- */

#define ECHO_EMBD 8
#define ECHO_CTX 4096

struct echo {
    struct llm_backend base;
    bool busy;
};

static int echo_tokens(struct str t)
{
    return (int)(t.len / 4) + 1;
}

/* Generates at once: the end of the prompt (ChatML for a chat), fed to the
 * stream in pieces of 1 to 5 bytes, at most 4 bytes per max_tokens. */
static enum lair_err echo_submit(struct llm_backend *b, const struct llm_request *req,
                                 struct llm_stream **out)
{
    /* nothing leaves the process: the privacy filter is not needed (the
     * backend owns it from here on, as llama_engine.c does) */
    struct llm_privacy privacy = req->privacy;
    llm_privacy_release(&privacy);
    if (((struct echo *)b)->busy)
        return LAIR_EBUSY;
    struct buf prompt;
    buf_init(&prompt, 0);
    enum lair_err e = req->n_messages
                          ? llm_chatml_format(req->messages, req->n_messages, true, &prompt)
                          : buf_append(&prompt, req->prompt.ptr, req->prompt.len);
    int used = echo_tokens(buf_str(&prompt));
    if (!e && used > ECHO_CTX)
        e = LAIR_ECTX;
    struct llm_stream *s = NULL;
    if (!e)
        e = llm_stream_new(req->stop, req->n_stop, NULL, NULL, &s);
    if (e) {
        buf_release(&prompt);
        return e;
    }
    size_t most = req->max_tokens > 0 ? (size_t)req->max_tokens * 4 : 256;
    size_t len = prompt.len < most ? prompt.len : most, at = prompt.len - len, n = 0;
    bool stop = false;
    for (size_t i = at; i < prompt.len && !stop; i += n, len -= n) {
        n = 1 + i % 5 < len ? 1 + i % 5 : len;
        stop = llm_stream_feed(s, prompt.ptr + i, n);
    }
    struct llm_result res = {.finish = stop || !most ? LLM_FINISH_STOP : LLM_FINISH_LENGTH,
                             .prompt_tokens = used,
                             .completion_tokens = echo_tokens(buf_str(&prompt)) / 4};
    llm_stream_progress(s, res.prompt_tokens, res.completion_tokens);
    llm_stream_finish(s, &res);
    buf_release(&prompt);
    *out = s;
    return LAIR_OK;
}

/* A unit vector from the text's byte counts. */
static enum lair_err echo_embed(struct llm_backend *b, const struct str *texts, size_t n,
                                float *out, int *n_tokens)
{
    if (((struct echo *)b)->busy)
        return LAIR_EBUSY;
    int tokens = 0;
    for (size_t i = 0; i < n; i++) {
        float *v = out + i * ECHO_EMBD, norm = 0;
        memset(v, 0, ECHO_EMBD * sizeof(*v));
        for (size_t k = 0; k < texts[i].len; k++)
            v[(unsigned char)texts[i].ptr[k] % ECHO_EMBD] += 1;
        v[0] += 1;
        for (int k = 0; k < ECHO_EMBD; k++)
            norm += v[k] * v[k];
        for (int k = 0; k < ECHO_EMBD; k++)
            v[k] /= sqrtf(norm);
        tokens += echo_tokens(texts[i]);
    }
    if (n_tokens)
        *n_tokens = tokens;
    return LAIR_OK;
}

static enum lair_err echo_count(struct llm_backend *b, struct str text, int *out)
{
    (void)b;
    *out = echo_tokens(text);
    return LAIR_OK;
}

static void echo_info(struct llm_backend *b, struct llm_model_info *out)
{
    out->kind = LLM_CAN_CHAT | LLM_CAN_EMBED;
    out->n_ctx_train = ECHO_CTX;
    out->n_ctx_slot = ECHO_CTX;
    out->n_embd = ECHO_EMBD;
    out->n_params = 1;
    snprintf(out->arch, sizeof(out->arch), "echo");
    snprintf(out->desc, sizeof(out->desc), "%s test backend",
             ((struct echo *)b)->busy ? "busy" : "echo");
}

static void echo_stats(struct llm_backend *b, struct llm_stats *out)
{
    (void)b;
    (void)out;
}

static void echo_free(struct llm_backend *b)
{
    free(b);
}

static const struct llm_backend_ops echo_ops = {.submit = echo_submit,
                                                .embed = echo_embed,
                                                .count_tokens = echo_count,
                                                .info = echo_info,
                                                .stats = echo_stats,
                                                .free = echo_free};

static void add_backend(const char *name, bool busy)
{
    struct echo *e = calloc(1, sizeof(*e));
    if (!e)
        abort();
    e->base.ops = &echo_ops;
    e->busy = busy;
    if (llm_registry_add(fx.app.models, name, &e->base) != LAIR_OK)
        abort();
}

/* ---- the fixture ---- */

static const char doc_md[] =
    "# Démarches d'état civil\n\n"
    "## Acte de naissance\n\n"
    "L'acte de naissance se demande à la mairie du lieu de naissance. La demande est "
    "gratuite. Délai : 3 jours ouvrés.\n\n"
    "## Mariage\n\n"
    "Le dossier de mariage se dépose en mairie au moins un mois avant la date.\n\n"
    "| pièce | où |\n|---|---|\n| justificatif de domicile | mairie |\n";
static const char doc_html[] =
    "<html><head><title>Horaires</title></head><body><h1>Horaires de la mairie</h1>"
    "<p>La mairie est ouverte du lundi au vendredi, de 8 h 30 à 17 h.</p>"
    "<ul><li>Samedi : 9 h - 12 h</li></ul></body></html>";
static const char assistant_accueil[] =
    "{\"slug\":\"accueil\",\"name\":\"Accueil\",\"model\":\"default\","
    "\"instructions\":\"Réponds aux habitants.\",\"knowledge_bases\":[\"docs\"],"
    "\"citations\":\"optional\",\"guardrails\":{\"pii\":\"pseudonymise\"}}";
static const char assistant_widget[] =
    "{\"slug\":\"widget\",\"name\":\"Widget\",\"model\":\"busy\","
    "\"knowledge_bases\":[\"docs\"],\"citations\":\"required\",\"visibility\":\"public\","
    "\"allowed_origins\":[\"https://www.ville.fr\"],\"guardrails\":{\"pii\":\"mask\"}}";

static void upload_docs(void)
{
    static const char b[] = "fuzzboundary";
    struct buf body;
    buf_init(&body, 0);
    buf_printf(&body,
               "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
               "filename=\"etat-civil.md\"\r\nContent-Type: text/markdown\r\n\r\n%s\r\n"
               "--%s\r\nContent-Disposition: form-data; name=\"file\"; "
               "filename=\"horaires.html\"\r\nContent-Type: text/html\r\n\r\n%s\r\n--%s--\r\n",
               b, doc_md, b, doc_html, b);
    must(call("POST", "/api/v1/knowledge-bases/docs/documents", fx.key[K_EDITOR],
              "multipart/form-data; boundary=fuzzboundary", body.ptr, body.len, NULL),
         202, "upload");
    buf_release(&body);
    ingest_wait_idle(fx.ingest);
}

static void add_assistant(const char *spec, const char *slug)
{
    char path[128];
    must(call("POST", "/api/v1/assistants", fx.key[K_EDITOR], "application/json", spec,
              strlen(spec), NULL),
         201, "assistant");
    snprintf(path, sizeof(path), "/api/v1/assistants/%s/publish", slug);
    must(call("POST", path, fx.key[K_EDITOR], "application/json", "{}", 2, NULL), 200, "publish");
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void fixture_down(void)
{
    if (!fx.srv)
        return;
    http_stop(fx.srv);
    api_kb_set_ingest(NULL);
    ingest_free(fx.ingest);
    llm_registry_free(fx.app.models);
    quota_state_free(fx.app.quotas);
    tenants_free(fx.app.tenants);
    sysdb_free(fx.sys);
    nftw(fx.root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    fx.srv = NULL;
}

static const char *tmp_dir(void)
{
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    return tmp;
}

/* Removes the data directories that crashed runs left (named after their
 * process, which is gone). */
static void remove_stale(void)
{
    DIR *d = opendir(tmp_dir());
    struct dirent *e;
    while (d && (e = readdir(d))) {
        long pid = 0;
        if (sscanf(e->d_name, "lair-fuzz-http-%ld-", &pid) != 1 || pid <= 0 ||
            kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue;
        char path[512];
        snprintf(path, sizeof(path), "%s/%s", tmp_dir(), e->d_name);
        nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    }
    if (d)
        closedir(d);
}

static void fixture_up(void)
{
    snprintf(fx.root, sizeof(fx.root), "%s/lair-fuzz-http-%ld-XXXXXX", tmp_dir(), (long)getpid());
    if (!mkdtemp(fx.root))
        abort();
    snprintf(fx.data, sizeof(fx.data), "%s/data", fx.root);
    char id[KEY_ID_LEN + 1];
    if (sysdb_init_dir(fx.data) || sysdb_open(fx.data, &fx.sys) ||
        sysdb_key_create(fx.sys, ROLE_OPERATOR, NULL, 0, fx.key[K_OP], id))
        abort();
    memset(&fx.app, 0, sizeof(fx.app));
    fx.app.sys = fx.sys;
    fx.app.data_dir = fx.data;
    fx.app.started = time(NULL);
    fx.app.ready = 1; /* the test backends need no loading */
    fx.app.models = llm_registry_new();
    fx.app.quotas = quota_state_new();
    if (!fx.app.models || !fx.app.quotas || tenants_new(fx.data, fx.sys, &fx.app.tenants))
        abort();
    add_backend("default", false);
    add_backend("busy", true);
    fx.app.n_models_configured = 2;
    struct ingest_config ic = {.sys = fx.sys, .tenants = fx.app.tenants, .models = fx.app.models};
    if (ingest_new(&ic, &fx.ingest) || ingest_start(fx.ingest))
        abort();
    api_kb_set_ingest(fx.ingest);
    struct http_config hc = {.listen = "127.0.0.1:0",
                             .routes = api_routes,
                             .n_routes = api_routes_count,
                             .sys = fx.sys,
                             .app = &fx.app,
                             .metrics_extra = api_metrics_extra,
                             .admit = api_admit,
                             .on_done = api_on_done,
                             .static_file = api_static_file};
    if (http_start(&hc, &fx.srv))
        abort();
    fx.port = http_port(fx.srv);

    json_t *j;
    static const char tenant[] = "{\"admin_key\":true,\"slug\":\"demo\",\"name\":\"Commune de démonstration\"}";
    must(call("POST", "/api/v1/tenants", fx.key[K_OP], "application/json", tenant,
              sizeof(tenant) - 1, &j),
         201, "tenant");
    take_key(j, "admin_key", fx.key[K_ADMIN]);
    static const char *const roles[] = {"{\"role\":\"editor\"}", "{\"role\":\"user\"}"};
    for (int i = 0; i < 2; i++) {
        must(call("POST", "/api/v1/keys", fx.key[K_ADMIN], "application/json", roles[i],
                  strlen(roles[i]), &j),
             201, "key");
        take_key(j, "key", fx.key[K_EDITOR + i]);
    }
    static const char kb[] = "{\"slug\":\"docs\",\"name\":\"Démarches\"}";
    must(call("POST", "/api/v1/knowledge-bases", fx.key[K_EDITOR], "application/json", kb,
              sizeof(kb) - 1, NULL),
         201, "knowledge base");
    upload_docs();
    add_assistant(assistant_accueil, "accueil");
    add_assistant(assistant_widget, "widget");
    fx.builds++;
}

/* Whether the fixture is whole: the keys work, the tenant, its knowledge
 * base and its published assistants exist. */
static bool fixture_ok(void)
{
    struct principal p;
    for (int i = 0; i < K_COUNT; i++)
        if (sysdb_key_check(fx.sys, str_c(fx.key[i]), &p) != LAIR_OK)
            return false;
    struct tenant_db *db;
    if (tenants_get(fx.app.tenants, "demo", &db) != LAIR_OK)
        return false;
    bool ok = kb_find(db, "docs", NULL) == LAIR_OK;
    static const char *const slugs[] = {"accueil", "widget"};
    for (int i = 0; i < 2 && ok; i++) {
        char *spec = NULL;
        int v;
        ok = assistants_get(db, slugs[i], ASSISTANT_PUBLISHED, &spec, &v, NULL) == LAIR_OK;
        free(spec);
    }
    tenant_db_put(db);
    return ok;
}

static void at_exit(void)
{
    fixture_down();
    fprintf(stderr, "fuzz_http: %lu inputs, fixture built %lu times\n", fx.inputs, fx.builds);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    signal(SIGPIPE, SIG_IGN);
    log_init();
    if (!getenv("LIBREAIR_LOG"))
        log_set_level(LOG_ERROR);
    remove_stale();
    fixture_up();
    atexit(at_exit);
    return 0;
}

/* ---- the input ---- */

/* Appends the input to out with its placeholders replaced: the keys, and
 * each "@LEN@" by the length of the body that starts after the next blank
 * line and ends at the next "@END@" (removed) or at the end of the input. */
static void expand(const uint8_t *data, size_t size, struct buf *out)
{
    buf_reset(out);
    size_t len_at = SIZE_MAX; /* where the pending @LEN@ is in out */
    for (size_t i = 0; i <= size;) {
        bool end = i == size || (size - i >= 5 && !memcmp(data + i, "@END@", 5));
        if (end && len_at != SIZE_MAX) {
            const char *blank = memmem(out->ptr + len_at, out->len - len_at, "\r\n\r\n", 4);
            size_t body = blank ? out->len - (size_t)(blank + 4 - out->ptr) : 0;
            char num[24];
            int n = snprintf(num, sizeof(num), "%zu", body);
            struct buf fixed;
            buf_init(&fixed, 0);
            buf_append(&fixed, out->ptr, len_at);
            buf_append(&fixed, num, (size_t)n);
            buf_append(&fixed, out->ptr + len_at + 5, out->len - len_at - 5);
            buf_release(out);
            *out = fixed;
            len_at = SIZE_MAX;
        }
        if (i == size)
            break;
        if (end) {
            i += 5;
            continue;
        }
        bool hit = false;
        for (int k = 0; k < K_COUNT && !hit && data[i] == '@'; k++) {
            size_t n = strlen(key_names[k]);
            if (size - i >= n && !memcmp(data + i, key_names[k], n)) {
                buf_puts(out, fx.key[k]);
                i += n;
                hit = true;
            }
        }
        if (!hit && len_at == SIZE_MAX && size - i >= 5 && !memcmp(data + i, "@LEN@", 5)) {
            len_at = out->len;
            buf_append(out, "@LEN@", 5);
            i += 5;
            hit = true;
        }
        if (!hit)
            buf_append(out, data + i++, 1);
    }
}

/* The value of header name in the header block [h, end), or NULL. */
static const char *header(const char *h, const char *end, const char *name, size_t *len)
{
    size_t n = strlen(name);
    for (const char *p = h; p < end;) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            eol = end;
        if ((size_t)(eol - p) > n && p[n] == ':' && !strncasecmp(p, name, n)) {
            const char *v = p + n + 1;
            while (v < eol && *v == ' ')
                v++;
            *len = (size_t)(eol - v);
            return v;
        }
        p = eol + 2;
    }
    return NULL;
}

/* Checks each response of the answer (several when requests were
 * pipelined). */
static void check_answer(const struct buf *a)
{
    if (!a->len)
        return; /* the server may close at once on bytes that are not HTTP */
    const char *p = a->ptr, *end = a->ptr + a->len;
    while (p < end) {
        FUZZ_CHECK(end - p >= 12 && !memcmp(p, "HTTP/1.", 7), "the answer is not HTTP: %.40s", p);
        int status = (int)strtol(p + 9, NULL, 10);
        FUZZ_CHECK(status >= 100 && status <= 599, "status %d", status);
        /* 501 and 505 are libmicrohttpd's answers to methods and versions
         * it does not speak; 503 is a full server */
        FUZZ_CHECK(status < 500 || status == 501 || status == 503 || status == 505,
                   "status %d: %.*s", status, (int)(end - p < 600 ? end - p : 600), p);
        const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
        if (!hend)
            return; /* cut short: the server closed after an error */
        const char *body = hend + 4;
        size_t cl_len, ct_len, te_len;
        const char *cl = header(p, hend, "Content-Length", &cl_len);
        const char *ct = header(p, hend, "Content-Type", &ct_len);
        const char *te = header(p, hend, "Transfer-Encoding", &te_len);
        size_t conn_len;
        const char *conn = header(p, hend, "Connection", &conn_len);
        /* after "Connection: close" nothing counts: libmicrohttpd 0.9.75
         * sends the header block of some of its own 400 answers twice */
        bool last = conn && conn_len >= 5 && !strncasecmp(conn, "close", 5);
        if (!cl || te)
            return; /* a stream or a body to the end: the last response */
        size_t blen = (size_t)strtoull(cl, NULL, 10);
        if (blen > (size_t)(end - body))
            return; /* a HEAD answer or a response cut short */
        if (status >= 400 && ct && ct_len >= 16 && !strncmp(ct, "application/json", 16)) {
            json_t *j = json_loadb(body, blen, 0, NULL);
            json_t *err = json_object_get(j, "error");
            FUZZ_CHECK(json_is_object(err) && json_is_string(json_object_get(err, "message")) &&
                           json_is_string(json_object_get(err, "type")),
                       "status %d: the error body is not OpenAI-shaped: %.*s", status, (int)blen,
                       body);
            json_decref(j);
        }
        p = last ? end : body + blen;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct buf req, answer;
    buf_init(&req, 0);
    buf_init(&answer, 0);
    expand(data, size, &req);
    bool answered = exchange(req.ptr ? req.ptr : "", req.len, &answer);
    FUZZ_CHECK(answered, "no complete answer within %d ms", ANSWER_TIMEOUT_MS);
    if (getenv("LAIR_FUZZ_VERBOSE")) /* to see what a seed reaches */
        fprintf(stderr, "%.*s\n", (int)answer.len, answer.ptr ? answer.ptr : "");
    check_answer(&answer);
    /* an upload is indexed before the next input, so that each input is
     * judged on its own */
    ingest_wait_idle(fx.ingest);
    buf_release(&req);
    buf_release(&answer);
    if (++fx.inputs % REBUILD_EVERY == 0 || !fixture_ok()) {
        fixture_down();
        fixture_up();
    }
    return 0;
}
