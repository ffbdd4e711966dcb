/* The public widget API: public ids, the origin allow-list (CORS), the
 * per-client rate limit, and a checked chat run by the chat pipeline
 * (assist/chat.h) and answered like the OpenAI surface's. The contract is
 * in public.h and docs/web.md. */
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api/app.h"
#include "api/feedback_api.h"
#include "api/gdpr_api.h"
#include "api/public.h"
#include "assist/assistant.h"
#include "core/json.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "core/banned.h"

#define PUBLIC_MAX_MESSAGES 16
#define PUBLIC_MAX_TEXT 4000 /* bytes per message */
#define ADDR_MAX 64

/* ---- public ids ---- */

/* Splits "<tenant>.<assistant>" into its two slugs; false when it is not
 * one. */
static bool public_id_parse(struct str id, char tenant[SLUG_MAX + 1], char slug[SLUG_MAX + 1])
{
    const char *dot = memchr(id.ptr, '.', id.len);
    if (!dot)
        return false;
    struct str t = {id.ptr, (size_t)(dot - id.ptr)};
    struct str s = {dot + 1, id.len - t.len - 1};
    if (t.len > SLUG_MAX || s.len > SLUG_MAX || !slug_valid(t) || !slug_valid(s))
        return false;
    memcpy(tenant, t.ptr, t.len);
    tenant[t.len] = 0;
    memcpy(slug, s.ptr, s.len);
    slug[s.len] = 0;
    return true;
}

static enum lair_err no_assistant(struct http_req *rq)
{
    return http_fail(rq, LAIR_ENOTFOUND, NULL, "assistant_not_found",
                     "no public assistant with this id");
}

/* The published version of the public assistant named by the path, read
 * from its tenant's database (released before returning). Every kind of
 * absence answers the same 404. OUT: *a OWNED (assistant_release), tenant. */
static enum lair_err public_find(struct http_req *rq, char tenant[SLUG_MAX + 1],
                                 struct assistant *a)
{
    struct app *app = http_app(rq);
    char slug[SLUG_MAX + 1];
    memset(a, 0, sizeof(*a));
    if (!public_id_parse(http_param(rq, 0), tenant, slug))
        return no_assistant(rq);
    struct tenant_db *db;
    enum lair_err e = tenants_get(app->tenants, tenant, &db);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq) : e;
    char *text = NULL;
    int version = 0;
    e = assistants_get(db, slug, ASSISTANT_PUBLISHED, &text, &version, NULL);
    tenant_db_put(db);
    if (e)
        return e == LAIR_ENOTFOUND ? no_assistant(rq) : e;
    json_error_t jerr;
    json_t *spec = json_loads(text, 0, &jerr);
    free(text);
    if (!spec)
        return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "a stored assistant is invalid");
    struct assistant_error err;
    e = assistant_parse(spec, NULL, a, &err);
    json_decref(spec);
    if (e)
        return http_fail(rq, LAIR_EINTERNAL, NULL, NULL, "a stored assistant is invalid");
    a->version = version;
    if (a->visibility != VIS_PUBLIC) {
        assistant_release(a);
        return no_assistant(rq);
    }
    return LAIR_OK;
}

/* ---- origins (CORS) ---- */

/* Lets the browser show the answer to a page of an allowed origin; anything
 * else is refused without CORS headers, so the page cannot read it. The
 * origin is taken in its canonical form (assistant_origin_canonical), which
 * is what the allow-list holds, what Access-Control-Allow-Origin repeats and
 * what the rate limit counts: respelling it ("HTTPS://Ville.fr:0443") gives
 * a client no other bucket. OUT: canon. */
static enum lair_err check_origin(struct http_req *rq, const struct assistant *a,
                                  char canon[ASSISTANT_ORIGIN_MAX + 1])
{
    http_set_header(rq, "Vary", "Origin");
    const char *origin = http_header(rq, "Origin");
    if (!origin)
        return http_fail(rq, LAIR_EPERM, NULL, "origin_required",
                         "this API answers the widget on the sites its assistant allows; the "
                         "request has no Origin header");
    if (!assistant_origin_canonical(str_c(origin), canon) ||
        !assistant_origin_allowed(a, str_c(canon)))
        return http_fail(rq, LAIR_EPERM, NULL, "origin_not_allowed",
                         "this site is not in the assistant's allowed_origins");
    http_set_header(rq, "Access-Control-Allow-Origin", canon);
    http_set_header(rq, "Access-Control-Expose-Headers", "Retry-After, X-Conversation-Reference");
    return LAIR_OK;
}

/* ---- per-client rate limit ---- */

/* A token bucket per client, in a fixed table: a client is found among
 * RL_PROBE slots from its hash; a new one takes a free slot there or the
 * one used least recently. Keys are keyed SipHash values, so a client
 * cannot aim at another's slot. Memory never grows. */
#define RL_SLOTS 4096
#define RL_PROBE 8

struct rl_slot {
    uint64_t key; /* 0 = free */
    double tokens, last;
};

static struct {
    pthread_mutex_t mu;
    pthread_once_t once;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    struct rl_slot slot[RL_SLOTS];
} rl = {.mu = PTHREAD_MUTEX_INITIALIZER, .once = PTHREAD_ONCE_INIT};

static void rl_init(void)
{
    randombytes_buf(rl.hkey, sizeof(rl.hkey));
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Takes one request from client's bucket; false with *wait (seconds) when
 * it is empty. */
static bool rl_take(const char *client, size_t len, int *wait)
{
    pthread_once(&rl.once, rl_init);
    uint64_t key;
    crypto_shorthash((unsigned char *)&key, (const unsigned char *)client, len, rl.hkey);
    key |= 1; /* never 0 */
    double t = now_s(), rate = PUBLIC_RATE_PER_MIN / 60.0;
    pthread_mutex_lock(&rl.mu);
    struct rl_slot *s = NULL, *victim = NULL;
    for (size_t i = 0; i < RL_PROBE && !s; i++) {
        struct rl_slot *c = &rl.slot[(key + i) % RL_SLOTS];
        if (c->key == key)
            s = c;
        else if (!victim || !c->key || (victim->key && c->last < victim->last))
            victim = c;
    }
    if (!s) {
        s = victim;
        *s = (struct rl_slot){.key = key, .tokens = PUBLIC_RATE_BURST, .last = t};
    }
    s->tokens = fmin(PUBLIC_RATE_BURST, s->tokens + (t - s->last) * rate);
    s->last = t;
    bool ok = s->tokens >= 1;
    if (ok)
        s->tokens -= 1;
    else
        *wait = (int)ceil((1 - s->tokens) / rate);
    pthread_mutex_unlock(&rl.mu);
    return ok;
}

/* The client's address: the TCP peer's, or behind a trusted reverse proxy
 * (--trusted-proxy) the one it names (http_client_addr). */
static void client_addr(struct http_req *rq, char out[ADDR_MAX])
{
    if (!http_client_addr(rq, out, ADDR_MAX))
        snprintf(out, ADDR_MAX, "?");
}

/* One bucket per client address and canonical origin. */
static enum lair_err rate_limit(struct http_req *rq, const char *origin)
{
    char addr[ADDR_MAX], client[ADDR_MAX + ASSISTANT_ORIGIN_MAX + 2];
    client_addr(rq, addr);
    int n = snprintf(client, sizeof(client), "%s\n%s", addr, origin);
    int wait = 1;
    if (rl_take(client, n < (int)sizeof(client) ? (size_t)n : sizeof(client) - 1, &wait))
        return LAIR_OK;
    http_retry_after(rq, wait);
    return http_fail(rq, LAIR_ERATE, NULL, "rate_limit_exceeded",
                     "too many questions in a short time; retry in %d seconds", wait);
}

/* ---- handlers ---- */

enum lair_err api_public_assistant(struct http_req *rq)
{
    char tenant[SLUG_MAX + 1];
    struct assistant a;
    enum lair_err e = public_find(rq, tenant, &a);
    if (e)
        return e;
    char origin[ASSISTANT_ORIGIN_MAX + 1];
    if (!(e = check_origin(rq, &a, origin))) {
        json_t *starters = json_array();
        for (int i = 0; i < a.n_starters; i++)
            json_array_append_new(starters, json_string(a.starters[i]));
        char id[2 * SLUG_MAX + 2];
        snprintf(id, sizeof(id), "%s.%s", tenant, a.slug);
        /* the theme, with the title resolved: "" stands for the name */
        json_t *widget = json_pack(
            "{s:s, s:s, s:s, s:s}", "color", a.widget_color, "position", a.widget_position, "title",
            *a.widget_title ? a.widget_title : a.name, "launcher_label", a.widget_launcher_label);
        e = api_respond_json(
            rq, 200,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:b, s:o}", "object", "public_assistant", "id", id,
                      "name", a.name, "welcome", a.welcome ? a.welcome : "", "starters", starters,
                      "citations", a.citations != CITATIONS_OFF, "widget", widget));
    }
    assistant_release(&a);
    return e;
}

enum lair_err api_public_preflight(struct http_req *rq)
{
    char tenant[SLUG_MAX + 1];
    struct assistant a;
    enum lair_err e = public_find(rq, tenant, &a);
    if (e)
        return e;
    char origin[ASSISTANT_ORIGIN_MAX + 1];
    e = check_origin(rq, &a, origin);
    assistant_release(&a);
    if (e)
        return e;
    const char *m = http_header(rq, "Access-Control-Request-Method");
    if (m && strcmp(m, "GET") && strcmp(m, "POST"))
        return http_fail(rq, LAIR_EMETHOD, NULL, "method_not_allowed",
                         "the public API takes GET and POST only");
    http_set_header(rq, "Access-Control-Allow-Methods", "GET, POST");
    http_set_header(rq, "Access-Control-Allow-Headers", "Content-Type");
    http_set_header(rq, "Access-Control-Max-Age", "600");
    return http_respond(rq, 204, NULL, "", 0);
}

static enum lair_err invalid(struct http_req *rq, const char *param, const char *msg)
{
    return http_fail(rq, LAIR_EUNPROC, param, "invalid_value", "%s", msg);
}

/* Checks the widget's request: {"messages":[{"role","content"}…],
 * "conversation_id"?, "stream"?} with user and assistant turns only, the
 * last one the user's, and nothing else (no sampling parameters: the
 * assistant's apply). */
static enum lair_err check_body(struct http_req *rq, json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (strcmp(key, "messages") && strcmp(key, "conversation_id") && strcmp(key, "stream"))
            return http_fail(rq, LAIR_EUNPROC, arena_strndup(http_arena(rq), key, strlen(key)),
                             "unknown_field", "unknown field '%s'", key);
    }
    json_t *msgs = json_object_get(o, "messages");
    size_t n = json_array_size(msgs);
    if (!json_is_array(msgs) || n == 0 || n > PUBLIC_MAX_MESSAGES)
        return invalid(rq, "messages", "'messages' must be an array of 1 to 16 messages");
    size_t i;
    json_array_foreach(msgs, i, v)
    {
        json_t *role = json_object_get(v, "role"), *content = json_object_get(v, "content");
        const char *r = json_string_value(role);
        if (!json_is_object(v) || json_object_size(v) != 2 || !r ||
            (strcmp(r, "user") && strcmp(r, "assistant")) || !json_is_string(content))
            return invalid(rq, "messages",
                           "each message must be {\"role\": \"user\" or \"assistant\", "
                           "\"content\": text}");
        size_t len = json_string_length(content);
        if (len == 0 || len > PUBLIC_MAX_TEXT)
            return invalid(rq, "messages", "each message must have 1 to 4000 bytes of text");
        if (i == n - 1 && strcmp(r, "user"))
            return invalid(rq, "messages", "the last message must be the user's");
    }
    json_t *c = json_object_get(o, "conversation_id"), *s = json_object_get(o, "stream");
    if (c && !json_is_null(c) && !json_is_string(c))
        return invalid(rq, "conversation_id", "'conversation_id' must be a string");
    if (s && !json_is_boolean(s))
        return invalid(rq, "stream", "'stream' must be true or false");
    return LAIR_OK;
}

/* The widget's turns, as the pipeline takes them (check_body vetted them:
 * user and assistant turns of text). OUT: ARENA (the request's). */
static enum lair_err widget_messages(struct http_req *rq, json_t *o, struct chat_request *req)
{
    json_t *msgs = json_object_get(o, "messages");
    size_t n = json_array_size(msgs);
    struct llm_message *m = arena_alloc(http_arena(rq), n * sizeof(*m));
    if (!m)
        return LAIR_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(msgs, i), *content = json_object_get(v, "content");
        m[i] = (struct llm_message){
            str_c(json_string_value(json_object_get(v, "role"))),
            (struct str){json_string_value(content), json_string_length(content)}};
    }
    req->messages = m;
    req->n_messages = n;
    return LAIR_OK;
}

/* The chat request of a checked widget body: the assistant, the widget's
 * turns, the conversation to continue, or, for a new one, a new
 * pseudonymous subject "widget-<16 hex>" (subject: its storage). No
 * sampling parameters: the assistant's apply. */
static enum lair_err widget_request(struct http_req *rq, json_t *o, const struct principal *p,
                                    const char *slug, char subject[32], struct chat_request *req)
{
    chat_request_init(req);
    req->who = p;
    req->target = str_c(slug);
    req->max_tokens = -1;
    req->arena = http_arena(rq);
    json_t *c = json_object_get(o, "conversation_id");
    if (json_is_string(c) && json_string_length(c) > 0) {
        req->conversation_id = (struct str){json_string_value(c), json_string_length(c)};
    } else {
        unsigned char r[8];
        char hex[2 * sizeof(r) + 1];
        randombytes_buf(r, sizeof(r));
        sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
        snprintf(subject, 32, "widget-%s", hex);
        req->user = str_c(subject);
        /* the reference the widget shows the person, for their requests
         * (access, erasure): the DPO finds them with it (POST /api/v1/gdpr/find) */
        char ref[20];
        if (api_gdpr_reference(subject, ref))
            http_set_header(rq, "X-Conversation-Reference", ref);
    }
    return widget_messages(rq, o, req);
}

/* The principal a widget's chat runs as: the tenant's, key id "widget",
 * role user, restricted to this assistant. */
static void widget_principal(const char *tenant, const char *slug, struct principal *p)
{
    *p = (struct principal){.role = ROLE_USER};
    snprintf(p->key_id, sizeof(p->key_id), "%s", PUBLIC_KEY_ID);
    snprintf(p->tenant, sizeof(p->tenant), "%s", tenant);
    snprintf(p->assistants, sizeof(p->assistants), "%s", slug);
}

enum lair_err api_public_chat(struct http_req *rq)
{
    char tenant[SLUG_MAX + 1];
    struct assistant a;
    enum lair_err e = public_find(rq, tenant, &a);
    if (e)
        return e;
    json_t *o = NULL;
    char origin[ASSISTANT_ORIGIN_MAX + 1], subject[32];
    struct principal p;
    struct chat_request req;
    widget_principal(tenant, a.slug, &p);
    /* the chat counts against the tenant's quotas like a key's */
    if ((e = check_origin(rq, &a, origin)) || (e = rate_limit(rq, origin)) ||
        (e = api_parse_body(rq, &o)) || (e = check_body(rq, o)))
        goto out;
    /* from here the request is the tenant's: its quota refusals are
     * audited in the tenant's log, under the widget's name */
    http_set_principal(rq, &p);
    if ((e = api_admit_as(http_app(rq), rq, &p)) ||
        (e = widget_request(rq, o, &p, a.slug, subject, &req)))
        goto out;
    json_t *s = json_object_get(o, "stream");
    struct api_answer_opts ao = {.stream = s ? json_is_true(s) : true};
    e = api_chat_answer(rq, &req, NULL, &ao);
out:
    json_decref(o);
    assistant_release(&a);
    return e;
}

/* POST /public/v1/assistants/{id}/feedback {"conversation_id", "message_id"?,
 * "rating", "comment"?}: a citizen's thumbs up or down on an answer of a
 * conversation that the widget itself created for this assistant (the
 * check its chat makes for conversation_id); any other conversation
 * answers 404 conversation_not_found. */
enum lair_err api_public_feedback(struct http_req *rq)
{
    char tenant[SLUG_MAX + 1];
    struct assistant a;
    enum lair_err e = public_find(rq, tenant, &a);
    if (e)
        return e;
    json_t *o = NULL;
    char origin[ASSISTANT_ORIGIN_MAX + 1];
    struct principal p;
    struct tenant_db *db = NULL;
    widget_principal(tenant, a.slug, &p);
    if ((e = check_origin(rq, &a, origin)) || (e = rate_limit(rq, origin)) ||
        (e = api_parse_body(rq, &o)) || (e = api_feedback_check(rq, o, true)))
        goto out;
    http_set_principal(rq, &p); /* audited in the tenant's log, as the widget */
    json_t *c = json_object_get(o, "conversation_id");
    struct str id = {json_string_value(c), json_string_length(c)};
    struct conv_filter f = {.key_id = PUBLIC_KEY_ID, .assistant = a.slug};
    struct conv_row row;
    char cid[CONV_ID_LEN + 1];
    snprintf(cid, sizeof(cid), "%.*s", (int)(id.len < CONV_ID_LEN ? id.len : CONV_ID_LEN), id.ptr);
    if (conv_id_valid(id) && !(e = tenants_get(((struct app *)http_app(rq))->tenants, tenant, &db)))
        e = conv_get(db, cid, &f, &row);
    if (e && e != LAIR_ENOTFOUND)
        goto out;
    if (e || !conv_id_valid(id))
        e = http_fail(rq, LAIR_ENOTFOUND, "conversation_id", "conversation_not_found",
                      "conversation not found");
    else
        e = api_feedback_give(rq, db, cid, o, PUBLIC_KEY_ID, true);
out:
    if (db)
        tenant_db_put(db);
    json_decref(o);
    assistant_release(&a);
    return e;
}
