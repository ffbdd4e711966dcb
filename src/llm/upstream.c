/* The upstream backend (upstream.h): a pool of OpenAI-compatible servers
 * behind one model name.
 *
 * Requests wait in the pool's fair queue (fairq.h) until an upstream can
 * take them. The worker thread chooses the upstream (least outstanding
 * requests per unit of weight, with affinity: a conversation, or an
 * assistant's instructions, goes back where it went recently while that
 * upstream's load stays within a bound of the least loaded one), sends a
 * streamed chat completion, parses the server-sent events as they come and
 * feeds the text into the request's stream. A failure before the first
 * token reached the client is retried elsewhere, invisibly; a stream that
 * breaks mid-answer is continued on another upstream, the text already sent
 * becoming the start of the assistant's turn, or ends with an error; an
 * upstream's 429 or 503 is honoured with its Retry-After. Errors and
 * timeouts eject an upstream for a cooldown that doubles on each failed
 * half-open probe; active health checks (GET /models) run beside. When no
 * upstream can serve a request before its first token, the model's
 * fallbacks are tried in order and their stream relayed. A request bound
 * for a `remote` upstream has its messages masked by the caller's privacy
 * filter and the answer unmasked before it reaches the stream. */
#include "llm/upstream.h"

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/json.h"
#include "core/log.h"
#include "llm/fairq.h"

#include "core/banned.h"

enum {
    MAX_UPSTREAMS = 32,
    DEFAULT_CONCURRENT = 16,
    DEFAULT_QUEUE = 64,
    DEFAULT_CTX = 8192,
    DEFAULT_HEALTH_S = 10,
    DEFAULT_CONNECT_MS = 5000,
    DEFAULT_FIRST_BYTE_MS = 120000,
    DEFAULT_IDLE_MS = 60000,
    EJECT_AFTER = 3,         /* consecutive failures */
    MAX_CONTINUATIONS = 2,   /* a broken stream is continued this often at most */
    ERROR_BODY_MAX = 4096,   /* what is kept of an upstream's error answer */
    SSE_MAX = 1 << 20,       /* one event */
    AFFINITY_SLOTS = 4096,
    AFFINITY_TTL_S = 600,
    EMBED_BATCH = 64,
    N_TTFB = 12,
};

static const double ttfb_buckets[N_TTFB] = {0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                            1,    2.5,   5,    10,  30,   60};
#define COOLDOWN_MIN_S 5.0
#define COOLDOWN_MAX_S 60.0
#define AFFINITY_SLACK 1.0 /* requests per unit of weight above the least loaded */

/* ---- structures ---- */

struct upstream {
    int idx;
    char *url, *chat_url, *text_url, *embed_url, *models_url;
    char *model;
    char *label; /* the URL without user info, for metrics and logs */
    char *ca_file, *pinned, *cert, *key;
    struct curl_slist *headers; /* JSON content type and the bearer key */
    bool remote;
    double weight;
    int max_concurrent;
    long connect_ms, first_byte_ms, idle_ms;
    /* under the pool's mu */
    int in_flight;
    int fails;            /* consecutive */
    bool ejected;         /* out of rotation until eject_until, then half-open */
    bool probing;         /* half-open: one request or check is under way */
    double eject_until, cooldown;
    double retry_until; /* an answered 429/503's Retry-After */
    bool checking;      /* an active health check is under way */
    double next_check;
    /* statistics, under mu */
    uint64_t requests, failures, ejections, retries, continuations;
    uint64_t ttfb[N_TTFB + 1];
    double ttfb_sum;
    uint64_t ttfb_count;
};

struct pool;

/* One request, from submission to its end (several transfers when it is
 * retried or continued). */
struct pjob {
    struct pool *p;
    struct llm_stream *stream;
    json_t *messages; /* OWNED: the chat as the client's side sent it; NULL for a raw prompt */
    json_t *masked;   /* OWNED: the same, masked for the remote zone (made when needed) */
    char *prompt;     /* OWNED: a raw prompt */
    json_t *params;   /* OWNED: sampling, stop, max_tokens for the upstream */
    int max_tokens;
    char *key; /* OWNED: fairness key */
    size_t key_len;
    uint64_t aff_conv, aff_instr;
    struct llm_privacy privacy;
    bool tried[MAX_UPSTREAMS];
    int attempts, continuations;
    /* the transfer under way */
    struct upstream *up;
    CURL *easy;
    struct curl_slist *hdr; /* not owned: the upstream's */
    long status;
    int retry_after;
    bool remote;       /* this transfer's upstream is remote: the answer is unmasked */
    bool done_event;   /* [DONE] or a finish_reason came */
    bool error_event;  /* an error event came in the stream */
    struct buf sse;    /* bytes of the event being received */
    struct buf errbody;
    double t_transfer; /* when the transfer started */
    double t_last_byte;
    bool got_byte;     /* this transfer answered something */
    /* the whole request */
    struct buf sent;   /* the answer as the upstream wrote it (masked): for a continuation */
    struct buf plain;  /* scratch: unmasked text */
    bool first_token;  /* some text reached the stream */
    enum llm_finish finish;
    int prompt_tokens, completion_tokens, cached_tokens, done_tokens;
    double t_submit, t_start, t_first;
    struct llm_stream *relay; /* a fallback model's stream we relay, consumer side */
    int fallback_next;        /* the next fallback to try */
    struct pjob *next;
};

struct check {
    struct upstream *up;
    CURL *easy;
};

struct pool {
    struct llm_backend base;
    struct llm_registry *reg;
    char *name;
    struct llm_model_info info;
    struct upstream *ups;
    int n_ups;
    char **fallback;
    int n_fallback;
    int health_s;
    bool affinity_on;
    CURLM *multi;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    /* under mu */
    bool stop;
    struct fairq queue;
    int queue_max;
    struct pjob *active; /* transfers and relays under way (worker's list, read under mu) */
    struct check checks[MAX_UPSTREAMS];
    struct {
        uint64_t hash;
        int up;
        double t;
    } affinity[AFFINITY_SLOTS];
    struct llm_stats st;
    uint64_t fallbacks, failed_before_first;
    /* what a reload replaced, kept until the pool ends: jobs in flight and
     * health checks still point into them */
    struct retired {
        struct upstream *ups;
        int n_ups;
        char **fallback;
        int n_fallback;
        struct retired *next;
    } *retired;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t fnv(uint64_t h, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

/* ---- health ---- */

/* Under mu: can up take a request now (ignoring its concurrency)? */
static bool usable(struct upstream *up, double now)
{
    if (now < up->retry_until)
        return false;
    if (!up->ejected)
        return true;
    return now >= up->eject_until && !up->probing; /* half-open: one probe */
}

static void note_success(struct upstream *up)
{
    if (up->ejected)
        log_info("upstream", "%s is back in rotation", up->label);
    up->fails = 0;
    up->ejected = false;
    up->probing = false;
    up->cooldown = 0;
}

static void note_failure(struct upstream *up, double now, const char *why)
{
    up->failures++;
    up->fails++;
    bool was_probe = up->ejected && up->probing;
    up->probing = false;
    if (was_probe || (!up->ejected && up->fails >= EJECT_AFTER)) {
        up->cooldown = up->cooldown > 0 ? fmin(up->cooldown * 2, COOLDOWN_MAX_S) : COOLDOWN_MIN_S;
        up->eject_until = now + up->cooldown;
        if (!up->ejected)
            up->ejections++;
        up->ejected = true;
        log_warn("upstream", "%s out of rotation for %.0f s (%s)", up->label, up->cooldown, why);
    }
}

/* ---- routing ---- */

static bool zone_allowed(const struct pjob *j, const struct upstream *up)
{
    return !up->remote || (j->privacy.ops && !j->privacy.forbid_remote);
}

static int affinity_get(struct pool *p, uint64_t h, double now)
{
    if (!h)
        return -1;
    size_t i = h % AFFINITY_SLOTS;
    return p->affinity[i].hash == h && now - p->affinity[i].t < AFFINITY_TTL_S ? p->affinity[i].up
                                                                             : -1;
}

static void affinity_set(struct pool *p, uint64_t h, int up, double now)
{
    if (!h)
        return;
    size_t i = h % AFFINITY_SLOTS;
    p->affinity[i].hash = h;
    p->affinity[i].up = up;
    p->affinity[i].t = now;
}

/* Under mu: a prefix's home is where it went first; it moves only when
 * its home cannot serve any more (ejected or gone), not when it was merely
 * busy: a request that overflowed elsewhere must not move the prefix, or
 * every upstream's cache would be thrashed by turns. */
static void affinity_home(struct pool *p, uint64_t h, const struct upstream *up, double now)
{
    int home = affinity_get(p, h, now);
    if (home < 0 || home >= p->n_ups || p->ups[home].ejected)
        affinity_set(p, h, up->idx, now);
    else if (home == up->idx)
        affinity_set(p, h, up->idx, now); /* refreshes its age */
}

static double load(const struct upstream *up)
{
    return up->in_flight / up->weight;
}

static bool candidate(const struct pjob *j, struct upstream *up, double now)
{
    return !j->tried[up->idx] && up->in_flight < up->max_concurrent && zone_allowed(j, up) &&
           usable(up, now);
}

/* Under mu: the upstream for j, NULL when none can take it now. */
static struct upstream *route(struct pool *p, struct pjob *j, double now)
{
    struct upstream *least = NULL;
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        if (candidate(j, up, now) && (!least || load(up) < load(least)))
            least = up;
    }
    if (!least || !p->affinity_on)
        return least;
    uint64_t keys[2] = {j->aff_conv, j->aff_instr};
    for (int k = 0; k < 2; k++) {
        int a = affinity_get(p, keys[k], now);
        if (a < 0)
            continue;
        struct upstream *up = &p->ups[a];
        if (candidate(j, up, now) && load(up) <= load(least) + AFFINITY_SLACK / up->weight)
            return up;
        break; /* the conversation's upstream is busy: not its instructions' either */
    }
    return least;
}

/* Under mu: true when no upstream could ever take j now or after a wait
 * in the queue (all tried, ejected, cooling, or out of its zone): it goes
 * to the fallbacks instead of waiting. */
static bool unroutable(struct pool *p, const struct pjob *j, double now)
{
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        if (!j->tried[i] && zone_allowed(j, up) && usable(up, now))
            return false;
    }
    return true;
}

/* ---- request bodies ---- */

static json_t *messages_json(const struct llm_message *m, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        json_t *o = json_pack("{s:s%, s:s%}", "role", m[i].role.ptr ? m[i].role.ptr : "",
                              m[i].role.len, "content", m[i].content.ptr ? m[i].content.ptr : "",
                              m[i].content.len);
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The chat as llm_message views into the JSON array (valid while it is). */
static struct llm_message *messages_view(json_t *a, size_t *n)
{
    *n = json_array_size(a);
    struct llm_message *m = calloc(*n ? *n : 1, sizeof(*m));
    for (size_t i = 0; m && i < *n; i++) {
        json_t *o = json_array_get(a, i), *r = json_object_get(o, "role"),
               *c = json_object_get(o, "content");
        m[i].role = (struct str){json_string_value(r), json_string_length(r)};
        m[i].content = (struct str){json_string_value(c), json_string_length(c)};
    }
    return m;
}

/* The messages for a remote upstream, masked once per request. */
static json_t *masked_messages(struct pjob *j)
{
    if (j->masked)
        return j->masked;
    size_t n;
    struct llm_message *m = messages_view(j->messages, &n);
    const struct llm_message *out = NULL;
    if (m && j->privacy.ops->mask(j->privacy.ctx, m, n, &out) == LAIR_OK)
        j->masked = messages_json(out, n);
    free(m);
    return j->masked;
}

static json_t *sampling_json(const struct llm_request *r)
{
    const struct llm_sampling *s = &r->sampling;
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "temperature", json_real(s->temperature));
    if (s->top_p > 0 && s->top_p < 1)
        json_object_set_new(o, "top_p", json_real(s->top_p));
    if (s->top_k > 0)
        json_object_set_new(o, "top_k", json_integer(s->top_k));
    if (s->min_p > 0)
        json_object_set_new(o, "min_p", json_real(s->min_p));
    if (s->frequency_penalty != 0)
        json_object_set_new(o, "frequency_penalty", json_real(s->frequency_penalty));
    if (s->presence_penalty != 0)
        json_object_set_new(o, "presence_penalty", json_real(s->presence_penalty));
    if (s->repeat_penalty > 0 && s->repeat_penalty != 1.0f)
        json_object_set_new(o, "repeat_penalty", json_real(s->repeat_penalty));
    if (s->has_seed)
        json_object_set_new(o, "seed", json_integer((json_int_t)(s->seed & 0x7fffffffffffffffull)));
    if (r->ignore_eos)
        json_object_set_new(o, "ignore_eos", json_true());
    if (r->n_stop) {
        json_t *st = json_array();
        for (size_t i = 0; i < r->n_stop; i++)
            json_array_append_new(st, json_stringn(r->stop[i].ptr, r->stop[i].len));
        json_object_set_new(o, "stop", st);
    }
    return o;
}

/* The body of this transfer: the chat (masked for a remote upstream),
 * followed, for a continuation, by the answer so far as the start of the
 * assistant's turn. */
static char *request_body(struct pjob *j, struct upstream *up)
{
    json_t *b = json_deep_copy(j->params);
    if (!b)
        return NULL;
    json_object_set_new(b, "model", json_string(up->model));
    json_object_set_new(b, "stream", json_true());
    json_object_set_new(b, "stream_options", json_pack("{s:b}", "include_usage", 1));
    int left = j->max_tokens > 0 ? j->max_tokens - j->done_tokens : 0;
    if (j->max_tokens > 0)
        json_object_set_new(b, "max_tokens", json_integer(left > 1 ? left : 1));
    if (j->messages) {
        json_t *msgs = up->remote ? masked_messages(j) : j->messages;
        msgs = msgs ? json_deep_copy(msgs) : NULL;
        if (msgs && j->sent.len) {
            json_array_append_new(msgs, json_pack("{s:s, s:s%}", "role", "assistant", "content",
                                                  j->sent.ptr, j->sent.len));
            /* vLLM's names for "continue this turn"; llama-server continues
             * a final assistant message by itself */
            json_object_set_new(b, "continue_final_message", json_true());
            json_object_set_new(b, "add_generation_prompt", json_false());
        }
        if (!msgs) {
            json_decref(b);
            return NULL;
        }
        json_object_set_new(b, "messages", msgs);
    } else {
        size_t plen = strlen(j->prompt);
        char *p = malloc(plen + j->sent.len + 1);
        if (!p) {
            json_decref(b);
            return NULL;
        }
        memcpy(p, j->prompt, plen);
        if (j->sent.len)
            memcpy(p + plen, j->sent.ptr, j->sent.len);
        json_object_set_new(b, "prompt", json_stringn(p, plen + j->sent.len));
        free(p);
    }
    char *out = json_dumps(b, JSON_COMPACT);
    json_decref(b);
    return out;
}

/* ---- feeding the stream ---- */

/* Appends answer text from the upstream: kept as sent (for a continuation),
 * unmasked when it came from the remote zone, then fed to the stream. */
static void deliver(struct pjob *j, const char *text, size_t len, bool final)
{
    if (len)
        buf_append(&j->sent, text, len);
    const char *out = text;
    size_t n = len;
    if (j->remote && j->privacy.ops) {
        buf_reset(&j->plain);
        j->privacy.ops->unmask(j->privacy.ctx, text, len, final, &j->plain);
        out = j->plain.ptr;
        n = j->plain.len;
    }
    if (n == 0)
        return;
    if (!j->first_token) {
        j->first_token = true;
        j->t_first = now_s();
    }
    if (llm_stream_feed(j->stream, out, n))
        j->finish = LLM_FINISH_STOP; /* a stop string: the answer ends here */
}

static void on_event(struct pjob *j, const char *data, size_t len)
{
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        j->done_event = true;
        return;
    }
    json_error_t je;
    json_t *v = json_loadb(data, len, 0, &je);
    if (!v)
        return; /* not ours to judge: the end of the transfer tells */
    if (json_object_get(v, "error")) {
        j->error_event = true;
        json_decref(v);
        return;
    }
    json_t *c = json_array_get(json_object_get(v, "choices"), 0);
    json_t *text = json_object_get(json_object_get(c, "delta"), "content");
    if (!text)
        text = json_object_get(c, "text");
    if (json_is_string(text) && j->finish == LLM_RUNNING)
        deliver(j, json_string_value(text), json_string_length(text), false);
    json_t *fr = json_object_get(c, "finish_reason");
    if (json_is_string(fr)) {
        j->done_event = true;
        if (j->finish == LLM_RUNNING)
            j->finish = !strcmp(json_string_value(fr), "length") ? LLM_FINISH_LENGTH
                                                                  : LLM_FINISH_STOP;
    }
    json_t *u = json_object_get(v, "usage");
    if (json_is_object(u)) {
        json_t *pt = json_object_get(u, "prompt_tokens"), *ct = json_object_get(u, "completion_tokens");
        json_t *cached = json_object_get(json_object_get(u, "prompt_tokens_details"), "cached_tokens");
        if (json_is_integer(pt) && j->continuations == 0)
            j->prompt_tokens = (int)json_integer_value(pt);
        if (json_is_integer(ct))
            j->completion_tokens = j->done_tokens + (int)json_integer_value(ct);
        if (json_is_integer(cached) && j->continuations == 0)
            j->cached_tokens = (int)json_integer_value(cached);
    }
    json_decref(v);
    llm_stream_progress(j->stream, j->prompt_tokens, j->completion_tokens);
}

/* Splits the received bytes into server-sent events. */
static void parse_sse(struct pjob *j)
{
    for (;;) {
        char *s = j->sse.ptr;
        if (!s)
            return;
        char *end = strstr(s, "\n\n");
        size_t skip = 2;
        char *crlf = strstr(s, "\r\n\r\n");
        if (crlf && (!end || crlf < end))
            end = crlf, skip = 4;
        if (!end) {
            if (j->sse.len > SSE_MAX)
                buf_reset(&j->sse); /* a runaway event: dropped */
            return;
        }
        for (char *line = s; line < end;) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            char *le = nl ? nl : end;
            size_t ll = (size_t)(le - line);
            if (ll && line[ll - 1] == '\r')
                ll--;
            if (ll >= 5 && !memcmp(line, "data:", 5)) {
                const char *d = line + 5;
                size_t dl = ll - 5;
                while (dl && *d == ' ')
                    d++, dl--;
                on_event(j, d, dl);
            }
            line = nl ? nl + 1 : end;
        }
        size_t used = (size_t)(end - s) + skip;
        memmove(s, s + used, j->sse.len - used);
        j->sse.len -= used;
        s[j->sse.len] = 0;
    }
}

static void observe_ttfb(struct upstream *up, double s)
{
    int b = 0;
    while (b < N_TTFB && s > ttfb_buckets[b])
        b++;
    up->ttfb[b]++;
    up->ttfb_sum += s;
    up->ttfb_count++;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    struct pjob *j = arg;
    size_t len = size * n;
    double now = now_s();
    if (!j->got_byte)
        observe_ttfb(j->up, now - j->t_transfer);
    j->got_byte = true;
    j->t_last_byte = now;
    if (j->status == 0)
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    if (j->status != 200) {
        size_t room = ERROR_BODY_MAX > j->errbody.len ? ERROR_BODY_MAX - j->errbody.len : 0;
        buf_append(&j->errbody, data, len < room ? len : room);
        return len;
    }
    if (llm_stream_cancelled(j->stream))
        return 0; /* aborts the transfer */
    buf_append(&j->sse, data, len);
    parse_sse(j);
    return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
    struct pjob *j = arg;
    size_t len = size * n;
    if (len > 12 && !strncasecmp(data, "Retry-After:", 12)) {
        long v = strtol(data + 12, NULL, 10);
        j->retry_after = v > 0 && v < 3600 ? (int)v : 0;
    }
    return len;
}

/* ---- transfers ---- */

static void setup_tls(CURL *c, const struct upstream *up)
{
    if (up->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, up->ca_file);
    if (up->pinned)
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, up->pinned);
    if (up->cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, up->cert);
    if (up->key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, up->key);
}

static CURL *easy_for(const struct upstream *up, const char *url)
{
    CURL *c = curl_easy_init();
    if (!c)
        return NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, up->connect_ms);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "libreair/" LAIR_VERSION);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, up->headers);
    setup_tls(c, up);
    return c;
}

/* Under mu (the worker): starts j's next transfer on up. */
static enum lair_err transfer_start(struct pool *p, struct pjob *j, struct upstream *up)
{
    char *body = request_body(j, up);
    CURL *c = body ? easy_for(up, j->messages ? up->chat_url : up->text_url) : NULL;
    if (!c) {
        free(body);
        return LAIR_ENOMEM;
    }
    curl_easy_setopt(c, CURLOPT_COPYPOSTFIELDS, body);
    free(body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, j);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, j);
    curl_easy_setopt(c, CURLOPT_PRIVATE, j);
    j->easy = c;
    j->up = up;
    j->remote = up->remote;
    j->status = 0;
    j->retry_after = 0;
    j->done_event = j->error_event = j->got_byte = false;
    buf_reset(&j->sse);
    buf_reset(&j->errbody);
    j->tried[up->idx] = true;
    j->attempts++;
    j->t_transfer = now_s();
    up->in_flight++;
    up->requests++;
    if (up->ejected)
        up->probing = true;
    if (curl_multi_add_handle(p->multi, c) != CURLM_OK) {
        up->in_flight--;
        curl_easy_cleanup(c);
        j->easy = NULL;
        return LAIR_ENOMEM;
    }
    return LAIR_OK;
}

/* Under mu: ends j's transfer (the handle leaves the multi). */
static void transfer_end(struct pool *p, struct pjob *j)
{
    if (!j->easy)
        return;
    curl_multi_remove_handle(p->multi, j->easy);
    curl_easy_cleanup(j->easy);
    j->easy = NULL;
    j->up->in_flight--;
}

/* ---- the end of a request ---- */

static void active_remove(struct pool *p, struct pjob *j)
{
    for (struct pjob **q = &p->active; *q; q = &(*q)->next)
        if (*q == j) {
            *q = j->next;
            return;
        }
}

static void job_free(struct pjob *j)
{
    json_decref(j->messages);
    json_decref(j->masked);
    json_decref(j->params);
    free(j->prompt);
    free(j->key);
    buf_release(&j->sse);
    buf_release(&j->errbody);
    buf_release(&j->sent);
    buf_release(&j->plain);
    llm_stream_free(j->relay);
    llm_privacy_release(&j->privacy);
    free(j);
}

/* Under mu: finishes j's stream and frees it. */
static void job_finish(struct pool *p, struct pjob *j, enum llm_finish f, enum lair_err err)
{
    transfer_end(p, j);
    active_remove(p, j);
    if (j->remote && j->privacy.ops && f != LLM_FINISH_ERROR)
        deliver(j, "", 0, true); /* what the unmasker held back */
    double now = now_s();
    struct llm_result res = {
        .finish = f,
        .err = err,
        .prompt_tokens = j->prompt_tokens,
        .cached_tokens = j->cached_tokens,
        .completion_tokens = j->completion_tokens,
        .queue_ms = ((j->t_start > 0 ? j->t_start : now) - j->t_submit) * 1e3,
        .prompt_ms = j->t_first > 0 && j->t_start > 0 ? (j->t_first - j->t_start) * 1e3 : 0,
        .gen_ms = j->t_first > 0 ? (now - j->t_first) * 1e3 : 0,
    };
    p->st.busy_slots--;
    p->st.prompt_tokens += (uint64_t)res.prompt_tokens;
    p->st.cached_tokens += (uint64_t)res.cached_tokens;
    p->st.generated_tokens += (uint64_t)res.completion_tokens;
    p->st.prompt_seconds += res.prompt_ms / 1e3;
    p->st.gen_seconds += res.gen_ms / 1e3;
    llm_stream_finish(j->stream, &res);
    job_free(j);
}

static enum lair_err fallback_start(struct pool *p, struct pjob *j);

/* Under mu: j could not be served here before its first token. */
static void give_up(struct pool *p, struct pjob *j, enum lair_err err)
{
    transfer_end(p, j);
    p->failed_before_first++;
    if (fallback_start(p, j) == LAIR_OK)
        return;
    job_finish(p, j, LLM_FINISH_ERROR, err);
}

/* Under mu: a transfer failed; retry elsewhere, continue the answer, or end. */
static void transfer_failed(struct pool *p, struct pjob *j, enum lair_err err, double now)
{
    transfer_end(p, j);
    if (llm_stream_cancelled(j->stream)) {
        job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_OK);
        return;
    }
    struct upstream *next = route(p, j, now);
    if (!j->first_token && j->sent.len == 0) {
        if (next) {
            next->retries++;
            if (transfer_start(p, j, next) == LAIR_OK)
                return;
        }
        if (!next && !unroutable(p, j, now))
            return; /* sweep resumes it when an upstream can take it */
        give_up(p, j, err);
        return;
    }
    /* mid-answer: continue on another upstream (any but the one that just
     * failed: one tried before the first token may well be fine now), the
     * text so far as the start of the assistant's turn, or say that the
     * answer was cut */
    int failed = j->up ? j->up->idx : -1;
    memset(j->tried, 0, sizeof(j->tried));
    if (failed >= 0)
        j->tried[failed] = true;
    next = route(p, j, now);
    if (next && j->continuations < MAX_CONTINUATIONS) {
        j->continuations++;
        j->done_tokens = j->completion_tokens;
        next->continuations++;
        if (transfer_start(p, j, next) == LAIR_OK)
            return;
    }
    job_finish(p, j, LLM_FINISH_ERROR, LAIR_ENET);
}

/* Under mu: a transfer completed (CURLMSG_DONE). */
static void transfer_done(struct pool *p, struct pjob *j, CURLcode rc, double now)
{
    struct upstream *up = j->up;
    if (rc == CURLE_OK && j->status == 0)
        curl_easy_getinfo(j->easy, CURLINFO_RESPONSE_CODE, &j->status);
    if (j->finish == LLM_FINISH_STOP && rc == CURLE_WRITE_ERROR)
        rc = CURLE_OK; /* a stop string ended it on our side */
    bool ok = rc == CURLE_OK && j->status == 200 && !j->error_event &&
              (j->done_event || j->finish != LLM_RUNNING);
    if (ok) {
        note_success(up);
        job_finish(p, j, j->finish != LLM_RUNNING ? j->finish : LLM_FINISH_STOP, LAIR_OK);
        return;
    }
    if (llm_stream_cancelled(j->stream)) {
        job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_OK);
        return;
    }
    if (j->status == 429 || j->status == 503) {
        up->retry_until = now + (j->retry_after > 0 ? j->retry_after : 1);
        transfer_failed(p, j, LAIR_EBUSY, now);
        return;
    }
    if (j->status >= 400 && j->status < 500 && j->status != 408) {
        /* the request itself was refused: another upstream would too */
        enum lair_err e = strstr(j->errbody.ptr ? j->errbody.ptr : "", "context") ? LAIR_ECTX
                                                                                 : LAIR_EINVAL;
        log_warn("upstream", "%s refused a request: HTTP %ld", up->label, j->status);
        note_success(up);
        job_finish(p, j, LLM_FINISH_ERROR, e);
        return;
    }
    char why[96];
    if (rc != CURLE_OK)
        snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
    else if (j->status != 200)
        snprintf(why, sizeof(why), "HTTP %ld", j->status);
    else
        snprintf(why, sizeof(why), "the stream broke off");
    note_failure(up, now, why);
    transfer_failed(p, j, LAIR_ENET, now);
}

/* ---- fallbacks ---- */

/* Under mu: submits j's request to the next fallback model and relays its
 * stream. LAIR_ENOTFOUND when there is none left. */
static enum lair_err fallback_start(struct pool *p, struct pjob *j)
{
    while (j->fallback_next < p->n_fallback) {
        const char *name = p->fallback[j->fallback_next++];
        struct llm_model *m = llm_registry_find(p->reg, str_c(name));
        if (!m)
            continue;
        size_t n = 0;
        struct llm_message *msgs = j->messages ? messages_view(j->messages, &n) : NULL;
        struct llm_request r = {.messages = msgs, .n_messages = n, .max_tokens = j->max_tokens};
        if (!j->messages)
            r.prompt = str_c(j->prompt);
        llm_sampling_defaults(&r.sampling);
        json_t *t = json_object_get(j->params, "temperature");
        r.sampling.temperature = json_is_number(t) ? (float)json_number_value(t) : 0.8f;
        r.fair_key = (struct str){j->key, j->key_len};
        struct llm_stream *s = NULL;
        /* without our lock: the fallback may be a pool whose worker falls
         * back on this one. Only this worker touches an active job. */
        pthread_mutex_unlock(&p->mu);
        enum lair_err e = llm_submit(m, &r, &s);
        pthread_mutex_lock(&p->mu);
        free(msgs);
        if (e)
            continue;
        j->relay = s;
        p->fallbacks++;
        log_info("upstream", "%s: request relayed to the fallback model '%s'", p->name, name);
        return LAIR_OK;
    }
    return LAIR_ENOTFOUND;
}

/* Under mu: moves what the fallback's stream has into j's. */
static void relay_pump(struct pool *p, struct pjob *j)
{
    struct buf got;
    buf_init(&got, 0);
    struct llm_result res;
    bool fin = llm_stream_take(j->relay, &got, &res);
    if (got.len) {
        if (!j->first_token) {
            j->first_token = true;
            j->t_first = now_s();
        }
        llm_stream_feed(j->stream, got.ptr, got.len);
    }
    buf_release(&got);
    if (fin) {
        j->prompt_tokens = res.prompt_tokens;
        j->completion_tokens = res.completion_tokens;
        job_finish(p, j, res.finish, res.err);
    } else if (llm_stream_cancelled(j->stream)) {
        job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_OK);
    }
}

/* ---- health checks ---- */

static size_t discard(char *d, size_t s, size_t n, void *a)
{
    (void)d;
    (void)a;
    return s * n;
}

static void checks_start(struct pool *p, double now)
{
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        if (up->checking || now < up->next_check)
            continue;
        if (up->ejected && now < up->eject_until)
            continue; /* its cooldown first */
        CURL *c = easy_for(up, up->models_url);
        if (!c)
            continue;
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, up->connect_ms + 5000L);
        curl_easy_setopt(c, CURLOPT_PRIVATE, NULL);
        p->checks[i] = (struct check){up, c};
        if (curl_multi_add_handle(p->multi, c) != CURLM_OK) {
            curl_easy_cleanup(c);
            p->checks[i].easy = NULL;
            continue;
        }
        up->checking = true;
        if (up->ejected)
            up->probing = true;
        up->next_check = now + p->health_s;
    }
}

static bool check_done(struct pool *p, CURL *c, CURLcode rc, double now)
{
    for (int i = 0; i < MAX_UPSTREAMS; i++) { /* a reload may have shrunk the pool */
        if (p->checks[i].easy != c)
            continue;
        struct upstream *up = p->checks[i].up;
        long status = 0;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        curl_multi_remove_handle(p->multi, c);
        curl_easy_cleanup(c);
        p->checks[i].easy = NULL;
        up->checking = false;
        if (rc == CURLE_OK && status == 200)
            note_success(up);
        else
            note_failure(up, now, rc != CURLE_OK ? curl_easy_strerror(rc) : "health check");
        return true;
    }
    return false;
}

/* ---- the worker ---- */

/* Under mu: starts the queued requests an upstream can take now, in fair
 * order; those no upstream could ever take go to the fallbacks. */
static void dispatch(struct pool *p, double now)
{
    for (;;) {
        int i = fairq_next(&p->queue);
        if (i < 0)
            return;
        struct pjob *j = p->queue.v[i].item;
        if (llm_stream_cancelled(j->stream)) {
            fairq_take(&p->queue, i);
            p->st.busy_slots++; /* job_finish counts it down */
            job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_OK);
            continue;
        }
        struct upstream *up = route(p, j, now);
        bool stuck = !up && unroutable(p, j, now);
        if (!up && !stuck)
            return; /* every usable upstream is full: wait */
        fairq_pop(&p->queue);
        p->st.queue_depth = p->queue.n;
        p->st.busy_slots++;
        j->t_start = now;
        j->next = p->active;
        p->active = j;
        if (stuck) {
            give_up(p, j, LAIR_EBUSY);
            continue;
        }
        affinity_home(p, j->aff_conv, up, now);
        affinity_home(p, j->aff_instr, up, now);
        if (transfer_start(p, j, up) != LAIR_OK)
            job_finish(p, j, LLM_FINISH_ERROR, LAIR_ENOMEM);
    }
}

/* Under mu: a request between two transfers (every upstream it may use
 * was busy when its transfer failed) starts again when one can take it. */
static void resume(struct pool *p, struct pjob *j, double now)
{
    struct upstream *up = route(p, j, now);
    if (up) {
        up->retries++;
        if (transfer_start(p, j, up) != LAIR_OK)
            job_finish(p, j, LLM_FINISH_ERROR, LAIR_ENOMEM);
    } else if (unroutable(p, j, now)) {
        if (j->sent.len)
            job_finish(p, j, LLM_FINISH_ERROR, LAIR_ENET);
        else
            give_up(p, j, LAIR_EBUSY);
    }
}

/* Under mu: the deadlines libcurl does not keep (the first byte; the
 * silence between two chunks, which must not count the prompt's
 * processing), cancellations, requests between transfers, and the relays. */
static void sweep(struct pool *p, double now)
{
    for (struct pjob *j = p->active, *next; j; j = next) {
        next = j->next;
        if (j->relay) {
            relay_pump(p, j);
            continue;
        }
        if (llm_stream_cancelled(j->stream)) {
            job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_OK);
            continue;
        }
        if (!j->easy) {
            resume(p, j, now);
            continue;
        }
        const char *late = NULL;
        if (!j->got_byte && now - j->t_transfer > j->up->first_byte_ms / 1e3)
            late = "no first byte in time";
        else if (j->got_byte && now - j->t_last_byte > j->up->idle_ms / 1e3)
            late = "the stream stalled";
        if (late) {
            note_failure(j->up, now, late);
            transfer_failed(p, j, LAIR_ENET, now);
        }
    }
}

static void collect(struct pool *p, double now)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(p->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        CURL *c = m->easy_handle;
        CURLcode rc = m->data.result;
        if (check_done(p, c, rc, now))
            continue;
        struct pjob *j = NULL;
        curl_easy_getinfo(c, CURLINFO_PRIVATE, (char **)&j);
        if (j)
            transfer_done(p, j, rc, now);
    }
}

static void *worker(void *arg)
{
    struct pool *p = arg;
    struct pollfd extra[64];
    for (;;) {
        pthread_mutex_lock(&p->mu);
        if (p->stop) {
            pthread_mutex_unlock(&p->mu);
            break;
        }
        double now = now_s();
        dispatch(p, now);
        checks_start(p, now);
        int running;
        curl_multi_perform(p->multi, &running);
        collect(p, now_s());
        sweep(p, now_s());
        dispatch(p, now_s());
        unsigned n_extra = 0;
        for (struct pjob *j = p->active; j && n_extra < 64; j = j->next)
            if (j->relay)
                extra[n_extra++] = (struct pollfd){.fd = llm_stream_fd(j->relay), .events = POLLIN};
        pthread_mutex_unlock(&p->mu);
        struct curl_waitfd w[64];
        for (unsigned i = 0; i < n_extra; i++)
            w[i] = (struct curl_waitfd){.fd = extra[i].fd, .events = CURL_WAIT_POLLIN};
        curl_multi_poll(p->multi, w, n_extra, 250, NULL);
    }
    return NULL;
}

/* ---- submission (caller's thread) ---- */

static void pool_wake(void *arg)
{
    curl_multi_wakeup(((struct pool *)arg)->multi);
}

static void affinity_keys(struct pjob *j, const struct llm_request *r)
{
    const struct llm_cache_key *k = &r->cache;
    uint64_t h = fnv(1469598103934665603ull, k->scope.ptr ? k->scope.ptr : "", k->scope.len);
    h = fnv(h, "\0", 1);
    j->aff_conv = k->owner.len ? fnv(h, k->owner.ptr, k->owner.len) : 0;
    if (r->n_messages && str_eq(r->messages[0].role, S("system")))
        j->aff_instr = fnv(h, r->messages[0].content.ptr, r->messages[0].content.len);
}

static enum lair_err job_new(struct pool *p, const struct llm_request *r, struct pjob **out)
{
    struct pjob *j = calloc(1, sizeof(*j));
    if (!j)
        return LAIR_ENOMEM;
    j->p = p;
    j->privacy = r->privacy;
    buf_init(&j->sse, 0);
    buf_init(&j->errbody, 0);
    buf_init(&j->sent, 0);
    buf_init(&j->plain, 0);
    j->max_tokens = r->max_tokens;
    j->params = sampling_json(r);
    if (r->n_messages)
        j->messages = messages_json(r->messages, r->n_messages);
    else
        j->prompt = strndup(r->prompt.ptr ? r->prompt.ptr : "", r->prompt.len);
    if (r->fair_key.len && (j->key = malloc(r->fair_key.len))) {
        memcpy(j->key, r->fair_key.ptr, r->fair_key.len);
        j->key_len = r->fair_key.len;
    }
    affinity_keys(j, r);
    j->t_submit = now_s();
    if (!j->params || (r->n_messages ? !j->messages : !j->prompt) ||
        (r->fair_key.len && !j->key)) {
        job_free(j);
        return LAIR_ENOMEM;
    }
    *out = j;
    return LAIR_OK;
}

static enum lair_err pool_submit(struct llm_backend *b, const struct llm_request *req,
                                 struct llm_stream **out)
{
    struct pool *p = (struct pool *)b;
    if (!(p->info.kind & LLM_CAN_CHAT)) {
        struct llm_privacy pr = req->privacy;
        llm_privacy_release(&pr);
        return LAIR_EUNSUPPORTED;
    }
    struct pjob *j;
    enum lair_err e = job_new(p, req, &j); /* j owns the privacy filter from here */
    if (e) {
        struct llm_privacy pr = req->privacy;
        llm_privacy_release(&pr);
        return e;
    }
    e = llm_stream_new(req->stop, req->n_stop, pool_wake, p, &j->stream);
    if (e) {
        job_free(j);
        return e;
    }
    struct llm_stream *s = j->stream;
    pthread_mutex_lock(&p->mu);
    bool queued = !p->stop && p->queue.n < p->queue_max &&
                  fairq_push(&p->queue, j, s, (struct str){j->key, j->key_len});
    if (queued) {
        p->st.queue_depth = p->queue.n;
        p->st.requests++;
    }
    pthread_mutex_unlock(&p->mu);
    if (!queued) {
        struct llm_result res = {.finish = LLM_FINISH_ERROR, .err = LAIR_EBUSY};
        llm_stream_finish(s, &res);
        j->stream = NULL;
        llm_stream_free(s);
        job_free(j);
        return LAIR_EBUSY;
    }
    curl_multi_wakeup(p->multi);
    *out = s;
    return LAIR_OK;
}

/* ---- embeddings (caller's thread, blocking) ---- */

static size_t collect_body(char *d, size_t s, size_t n, void *arg)
{
    struct buf *b = arg;
    return buf_append(b, d, s * n) == LAIR_OK ? s * n : 0;
}

static void l2_normalise(float *v, int n)
{
    double sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)v[i] * v[i];
    float scale = sum > 0 ? (float)(1.0 / sqrt(sum)) : 0.0f;
    for (int i = 0; i < n; i++)
        v[i] *= scale;
}

/* Parses an /embeddings answer into out (count vectors of dim floats). */
static enum lair_err embed_parse(struct buf *body, size_t count, int dim, float *out, int *tokens)
{
    json_error_t je;
    json_t *v = json_loadb(body->ptr ? body->ptr : "", body->len, 0, &je);
    json_t *data = json_object_get(v, "data");
    enum lair_err e = json_array_size(data) == count ? LAIR_OK : LAIR_EMODEL;
    for (size_t i = 0; !e && i < count; i++) {
        json_t *item = json_array_get(data, i), *idx = json_object_get(item, "index");
        json_t *emb = json_object_get(item, "embedding");
        size_t at = json_is_integer(idx) ? (size_t)json_integer_value(idx) : i;
        if (at >= count || (int)json_array_size(emb) != dim) {
            e = LAIR_EMODEL;
            break;
        }
        for (int k = 0; k < dim; k++)
            out[at * (size_t)dim + (size_t)k] = (float)json_number_value(json_array_get(emb, k));
        l2_normalise(out + at * (size_t)dim, dim);
    }
    json_t *pt = json_object_get(json_object_get(v, "usage"), "prompt_tokens");
    if (!e && tokens && json_is_integer(pt))
        *tokens += (int)json_integer_value(pt);
    json_decref(v);
    return e;
}

/* One batch on one upstream. */
static enum lair_err embed_on(struct upstream *up, const struct str *texts, size_t count, int dim,
                              float *out, int *tokens, long *status)
{
    json_t *in = json_array();
    for (size_t i = 0; i < count; i++)
        json_array_append_new(in, json_stringn(texts[i].ptr, texts[i].len));
    json_t *b = json_pack("{s:s, s:o}", "model", up->model, "input", in);
    char *body = b ? json_dumps(b, JSON_COMPACT) : NULL;
    json_decref(b);
    CURL *c = body ? easy_for(up, up->embed_url) : NULL;
    struct buf resp;
    buf_init(&resp, 0);
    enum lair_err e = c ? LAIR_OK : LAIR_ENOMEM;
    if (c) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, up->first_byte_ms + up->idle_ms);
        CURLcode rc = curl_easy_perform(c);
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        e = rc != CURLE_OK ? LAIR_ENET : *status != 200 ? LAIR_ENET : LAIR_OK;
        if (!e)
            e = embed_parse(&resp, count, dim, out, tokens);
        curl_easy_cleanup(c);
    }
    free(body);
    buf_release(&resp);
    return e;
}

/* Under mu: the least loaded upstream an embedding batch may use (local
 * zone only: there is no unmasking an embedding), not yet tried. */
static struct upstream *embed_route(struct pool *p, const bool *tried, double now)
{
    struct upstream *best = NULL;
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        if (tried[i] || up->remote || !usable(up, now))
            continue;
        if (!best || load(up) < load(best))
            best = up;
    }
    return best;
}

static enum lair_err pool_embed(struct llm_backend *b, const struct str *texts, size_t n,
                                float *out, int *n_tokens)
{
    struct pool *p = (struct pool *)b;
    if (!(p->info.kind & LLM_CAN_EMBED))
        return LAIR_EUNSUPPORTED;
    int tokens = 0;
    for (size_t i = 0; i < n; i += EMBED_BATCH) {
        size_t count = n - i < EMBED_BATCH ? n - i : EMBED_BATCH;
        bool tried[MAX_UPSTREAMS] = {0};
        enum lair_err e = LAIR_EBUSY;
        for (;;) {
            pthread_mutex_lock(&p->mu);
            struct upstream *up = embed_route(p, tried, now_s());
            if (up) {
                tried[up->idx] = true;
                up->in_flight++;
                up->requests++;
            }
            pthread_mutex_unlock(&p->mu);
            if (!up)
                break;
            long status = 0;
            e = embed_on(up, texts + i, count, p->info.n_embd, out + i * (size_t)p->info.n_embd,
                         &tokens, &status);
            pthread_mutex_lock(&p->mu);
            up->in_flight--;
            if (!e)
                note_success(up);
            else if (status == 429 || status == 503)
                up->retry_until = now_s() + 1;
            else if (!(status >= 400 && status < 500))
                note_failure(up, now_s(), "embeddings");
            pthread_mutex_unlock(&p->mu);
            if (!e || (status >= 400 && status < 500 && status != 429))
                break;
        }
        if (e)
            return e;
    }
    if (n_tokens)
        *n_tokens = tokens;
    return LAIR_OK;
}

/* ---- info, stats, metrics ---- */

/* Token counts without the model's tokenizer: at most one token per three
 * bytes for the French and English text these models see (their tokenizers
 * average about four), so that grounding budgets err on the short side. */
static enum lair_err pool_count_tokens(struct llm_backend *b, struct str text, int *out)
{
    (void)b;
    *out = (int)((text.len + 2) / 3);
    return LAIR_OK;
}

static void pool_info(struct llm_backend *b, struct llm_model_info *out)
{
    *out = ((struct pool *)b)->info;
}

static void pool_stats(struct llm_backend *b, struct llm_stats *out)
{
    struct pool *p = (struct pool *)b;
    pthread_mutex_lock(&p->mu);
    *out = p->st;
    pthread_mutex_unlock(&p->mu);
}

static int pool_queue_position(struct llm_backend *b, const struct llm_stream *s)
{
    struct pool *p = (struct pool *)b;
    pthread_mutex_lock(&p->mu);
    int pos = fairq_position(&p->queue, s);
    pthread_mutex_unlock(&p->mu);
    return pos;
}

static const char *health_name(const struct upstream *up, double now)
{
    if (up->ejected)
        return now >= up->eject_until ? "probing" : "ejected";
    return now < up->retry_until ? "throttled" : "healthy";
}

static void pool_metrics(struct llm_backend *b, const char *name, struct buf *out)
{
    struct pool *p = (struct pool *)b;
    pthread_mutex_lock(&p->mu);
    double now = now_s();
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        char l[512];
        snprintf(l, sizeof(l), "model=\"%s\",upstream=\"%s\",zone=\"%s\"", name, up->label,
                 up->remote ? "remote" : "local");
        buf_printf(out,
                   "libreair_upstream_up{%s} %d\nlibreair_upstream_in_flight{%s} %d\n"
                   "libreair_upstream_requests_total{%s} %llu\n"
                   "libreair_upstream_failures_total{%s} %llu\n"
                   "libreair_upstream_ejections_total{%s} %llu\n"
                   "libreair_upstream_retries_total{%s} %llu\n"
                   "libreair_upstream_continuations_total{%s} %llu\n",
                   l, !strcmp(health_name(up, now), "healthy"), l, up->in_flight, l,
                   (unsigned long long)up->requests, l, (unsigned long long)up->failures, l,
                   (unsigned long long)up->ejections, l, (unsigned long long)up->retries, l,
                   (unsigned long long)up->continuations);
        uint64_t cum = 0;
        for (int k = 0; k <= N_TTFB; k++) {
            cum += up->ttfb[k];
            if (k < N_TTFB)
                buf_printf(out, "libreair_upstream_first_byte_seconds_bucket{%s,le=\"%g\"} %llu\n",
                           l, ttfb_buckets[k], (unsigned long long)cum);
            else
                buf_printf(out, "libreair_upstream_first_byte_seconds_bucket{%s,le=\"+Inf\"} %llu\n",
                           l, (unsigned long long)cum);
        }
        buf_printf(out,
                   "libreair_upstream_first_byte_seconds_sum{%s} %.6f\n"
                   "libreair_upstream_first_byte_seconds_count{%s} %llu\n",
                   l, up->ttfb_sum, l, (unsigned long long)up->ttfb_count);
    }
    buf_printf(out,
               "libreair_model_fallbacks_total{model=\"%s\"} %llu\n"
               "libreair_model_failed_before_first_token_total{model=\"%s\"} %llu\n",
               name, (unsigned long long)p->fallbacks, name,
               (unsigned long long)p->failed_before_first);
    pthread_mutex_unlock(&p->mu);
}

static void pool_describe(struct llm_backend *b, struct buf *out)
{
    struct pool *p = (struct pool *)b;
    json_t *a = json_array();
    pthread_mutex_lock(&p->mu);
    double now = now_s();
    for (int i = 0; i < p->n_ups; i++) {
        struct upstream *up = &p->ups[i];
        json_array_append_new(
            a, json_pack("{s:s, s:s, s:s, s:s, s:f, s:i, s:i, s:I, s:I, s:I, s:f}", "url",
                         up->label, "model", up->model, "zone", up->remote ? "remote" : "local",
                         "health", health_name(up, now), "weight", up->weight, "max_concurrent",
                         up->max_concurrent, "in_flight", up->in_flight, "requests",
                         (json_int_t)up->requests, "failures", (json_int_t)up->failures,
                         "ejections", (json_int_t)up->ejections, "first_byte_mean_s",
                         up->ttfb_count ? up->ttfb_sum / (double)up->ttfb_count : 0.0));
    }
    pthread_mutex_unlock(&p->mu);
    json_dump_buf(a, out);
    json_decref(a);
}

/* ---- lifecycle ---- */

static void upstream_release(struct upstream *up)
{
    free(up->url);
    free(up->chat_url);
    free(up->text_url);
    free(up->embed_url);
    free(up->models_url);
    free(up->model);
    free(up->label);
    free(up->ca_file);
    free(up->pinned);
    free(up->cert);
    free(up->key);
    curl_slist_free_all(up->headers);
}

static void pool_free(struct llm_backend *b)
{
    struct pool *p = (struct pool *)b;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->stop = true;
        pthread_mutex_unlock(&p->mu);
        curl_multi_wakeup(p->multi);
        pthread_join(p->thread, NULL);
    }
    while (p->active)
        job_finish(p, p->active, LLM_FINISH_CANCELLED, LAIR_ECANCEL);
    while (p->queue.n > 0) {
        struct pjob *j = fairq_take(&p->queue, p->queue.n - 1);
        p->st.busy_slots++;
        job_finish(p, j, LLM_FINISH_CANCELLED, LAIR_ECANCEL);
    }
    for (int i = 0; i < MAX_UPSTREAMS; i++)
        if (p->checks[i].easy) {
            curl_multi_remove_handle(p->multi, p->checks[i].easy);
            curl_easy_cleanup(p->checks[i].easy);
        }
    for (int i = 0; i < p->n_ups; i++)
        upstream_release(&p->ups[i]);
    while (p->retired) {
        struct retired *r = p->retired;
        p->retired = r->next;
        for (int i = 0; i < r->n_ups; i++)
            upstream_release(&r->ups[i]);
        free(r->ups);
        for (int i = 0; i < r->n_fallback; i++)
            free(r->fallback[i]);
        free(r->fallback);
        free(r);
    }
    if (p->multi)
        curl_multi_cleanup(p->multi);
    for (int i = 0; i < p->n_fallback; i++)
        free(p->fallback[i]);
    free(p->fallback);
    fairq_release(&p->queue);
    free(p->ups);
    free(p->name);
    pthread_mutex_destroy(&p->mu);
    free(p);
}

static enum lair_err pool_reload(struct llm_backend *b, const struct llm_model_opts *o);

static const struct llm_backend_ops pool_ops = {
    .submit = pool_submit,
    .embed = pool_embed,
    .count_tokens = pool_count_tokens,
    .info = pool_info,
    .stats = pool_stats,
    .metrics = pool_metrics,
    .describe = pool_describe,
    .queue_position = pool_queue_position,
    .reload = pool_reload,
    .free = pool_free,
};

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    size_t len = n + strlen(path) + 1;
    char *u = malloc(len);
    if (u) {
        memcpy(u, base, n);
        memcpy(u + n, path, strlen(path) + 1);
    }
    return u;
}

/* The URL as shown: scheme, host, port and path, never user info. */
static char *url_label(const char *url)
{
    const char *s = strstr(url, "://");
    const char *host = s ? s + 3 : url;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    if (at && (!slash || at < slash))
        host = at + 1;
    size_t scheme = s ? (size_t)(s + 3 - url) : 0;
    size_t len = scheme + strlen(host) + 1;
    char *l = malloc(len);
    if (l) {
        memcpy(l, url, scheme);
        memcpy(l + scheme, host, strlen(host) + 1);
    }
    return l;
}

static enum lair_err upstream_init(struct upstream *up, int idx, const struct llm_upstream_opts *o,
                                   const char *pool_name)
{
    if (!o->url || (strncmp(o->url, "http://", 7) && strncmp(o->url, "https://", 8)))
        return LAIR_EINVAL;
    up->idx = idx;
    up->url = strdup(o->url);
    up->chat_url = join_url(o->url, "/chat/completions");
    up->text_url = join_url(o->url, "/completions");
    up->embed_url = join_url(o->url, "/embeddings");
    up->models_url = join_url(o->url, "/models");
    up->model = strdup(o->model ? o->model : pool_name);
    up->label = url_label(o->url);
    up->ca_file = dup_or_null(o->ca_file);
    up->pinned = dup_or_null(o->pinned_pubkey);
    up->cert = dup_or_null(o->client_cert);
    up->key = dup_or_null(o->client_key);
    up->remote = o->remote;
    up->weight = o->weight > 0 ? o->weight : 1;
    up->max_concurrent = o->max_concurrent > 0 ? o->max_concurrent : DEFAULT_CONCURRENT;
    up->connect_ms = o->connect_timeout_ms > 0 ? o->connect_timeout_ms : DEFAULT_CONNECT_MS;
    up->first_byte_ms = o->first_byte_timeout_ms > 0 ? o->first_byte_timeout_ms
                                                     : DEFAULT_FIRST_BYTE_MS;
    up->idle_ms = o->idle_timeout_ms > 0 ? o->idle_timeout_ms : DEFAULT_IDLE_MS;
    up->headers = curl_slist_append(NULL, "Content-Type: application/json");
    if (o->api_key && *o->api_key) {
        size_t n = strlen(o->api_key) + 32;
        char *h = malloc(n);
        if (h) {
            snprintf(h, n, "Authorization: Bearer %s", o->api_key);
            struct curl_slist *l = curl_slist_append(up->headers, h);
            sodium_memzero(h, n);
            free(h);
            if (l)
                up->headers = l;
        }
    }
    if (!up->url || !up->chat_url || !up->text_url || !up->embed_url || !up->models_url ||
        !up->model || !up->label || !up->headers || (o->ca_file && !up->ca_file))
        return LAIR_ENOMEM;
    return LAIR_OK;
}

/* The new upstreams and fallbacks of o, outside the lock. */
static enum lair_err build_upstreams(const struct llm_model_opts *o, struct upstream **ups,
                                     char ***fallback)
{
    *ups = calloc(o->n_upstreams, sizeof(**ups));
    *fallback = o->n_fallback ? calloc(o->n_fallback, sizeof(char *)) : NULL;
    enum lair_err e = *ups && (!o->n_fallback || *fallback) ? LAIR_OK : LAIR_ENOMEM;
    for (size_t i = 0; !e && i < o->n_upstreams; i++)
        e = upstream_init(&(*ups)[i], (int)i, &o->upstreams[i], o->name);
    for (size_t i = 0; !e && i < o->n_fallback; i++)
        if (!((*fallback)[i] = strdup(o->fallback[i])))
            e = LAIR_ENOMEM;
    if (e) {
        for (size_t i = 0; *ups && i < o->n_upstreams; i++)
            upstream_release(&(*ups)[i]);
        for (size_t i = 0; *fallback && i < o->n_fallback; i++)
            free((*fallback)[i]);
        free(*ups);
        free(*fallback);
    }
    return e;
}

/* Carries an upstream's health and figures over a reload. */
static void carry_over(struct upstream *to, const struct upstream *from)
{
    to->fails = from->fails;
    to->ejected = from->ejected;
    to->eject_until = from->eject_until;
    to->cooldown = from->cooldown;
    to->retry_until = from->retry_until;
    to->requests = from->requests;
    to->failures = from->failures;
    to->ejections = from->ejections;
    to->retries = from->retries;
    to->continuations = from->continuations;
    memcpy(to->ttfb, from->ttfb, sizeof(to->ttfb));
    to->ttfb_sum = from->ttfb_sum;
    to->ttfb_count = from->ttfb_count;
}

static enum lair_err pool_reload(struct llm_backend *b, const struct llm_model_opts *o)
{
    struct pool *p = (struct pool *)b;
    if (o->n_upstreams == 0 || o->n_upstreams > MAX_UPSTREAMS)
        return LAIR_EINVAL;
    struct upstream *ups;
    char **fallback;
    struct retired *r = calloc(1, sizeof(*r));
    enum lair_err e = r ? build_upstreams(o, &ups, &fallback) : LAIR_ENOMEM;
    if (e) {
        free(r);
        return e;
    }
    pthread_mutex_lock(&p->mu);
    for (size_t i = 0; i < o->n_upstreams; i++)
        for (int k = 0; k < p->n_ups; k++)
            if (!strcmp(ups[i].url, p->ups[k].url) && !strcmp(ups[i].model, p->ups[k].model))
                carry_over(&ups[i], &p->ups[k]);
    *r = (struct retired){p->ups, p->n_ups, p->fallback, p->n_fallback, p->retired};
    p->retired = r;
    p->ups = ups;
    p->n_ups = (int)o->n_upstreams;
    p->fallback = fallback;
    p->n_fallback = (int)o->n_fallback;
    memset(p->affinity, 0, sizeof(p->affinity));
    p->info.remote = false;
    p->st.n_slots = 0;
    for (int i = 0; i < p->n_ups; i++) {
        p->info.remote |= p->ups[i].remote;
        p->st.n_slots += p->ups[i].max_concurrent;
    }
    pthread_mutex_unlock(&p->mu);
    curl_multi_wakeup(p->multi);
    log_info("upstream", "%s: %d upstream%s after a reload", p->name, p->n_ups,
             p->n_ups > 1 ? "s" : "");
    return LAIR_OK;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void) { curl_global_init(CURL_GLOBAL_DEFAULT); }

enum lair_err upstream_pool_open(struct llm_registry *r, const struct llm_model_opts *o,
                                 struct llm_backend **out)
{
    if (o->n_upstreams == 0 || o->n_upstreams > MAX_UPSTREAMS || (o->embeddings && o->n_embd <= 0))
        return LAIR_EINVAL;
    pthread_once(&curl_once, curl_init_once);
    struct pool *p = calloc(1, sizeof(*p));
    if (!p)
        return LAIR_ENOMEM;
    p->base.ops = &pool_ops;
    p->reg = r;
    pthread_mutex_init(&p->mu, NULL);
    p->name = strdup(o->name);
    p->queue_max = o->queue_max > 0 ? o->queue_max : DEFAULT_QUEUE;
    p->health_s = o->health_interval_s > 0 ? o->health_interval_s : DEFAULT_HEALTH_S;
    p->affinity_on = !o->no_affinity;
    p->multi = curl_multi_init();
    enum lair_err e = p->name && p->multi ? fairq_init(&p->queue, p->queue_max) : LAIR_ENOMEM;
    if (!e)
        e = build_upstreams(o, &p->ups, &p->fallback);
    if (!e) {
        p->n_ups = (int)o->n_upstreams;
        p->n_fallback = (int)o->n_fallback;
        for (int i = 0; i < p->n_ups; i++)
            p->info.remote |= p->ups[i].remote;
    }
    if (e) {
        pool_free(&p->base);
        return e;
    }
    p->info.upstream = true;
    p->info.kind = o->embeddings ? LLM_CAN_EMBED : LLM_CAN_CHAT;
    p->info.n_embd = o->n_embd;
    p->info.n_ctx_slot = o->n_ctx > 0 ? o->n_ctx : DEFAULT_CTX;
    p->info.n_ctx_train = p->info.n_ctx_slot;
    snprintf(p->info.arch, sizeof(p->info.arch), "upstream");
    snprintf(p->info.desc, sizeof(p->info.desc), "%d upstream%s", p->n_ups,
             p->n_ups > 1 ? "s" : "");
    p->st.n_slots = 0;
    for (int i = 0; i < p->n_ups; i++)
        p->st.n_slots += p->ups[i].max_concurrent;
    if (pthread_create(&p->thread, NULL, worker, p) != 0) {
        pool_free(&p->base);
        return LAIR_ENOMEM;
    }
    p->started = true;
    *out = &p->base;
    return LAIR_OK;
}
