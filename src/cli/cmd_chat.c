/* libreair chat: a streaming terminal chat, against a running server
 * through the same OpenAI endpoint every client uses, or, with --tenant, in
 * this process through the server's own chat pipeline (assist/chat.h:
 * resolution, retrieval, packing, generation), which is also what the
 * evaluation runner calls (cli_chat_*, cli.h). Each line typed is a user
 * turn; the answer is printed as it is generated. /reset starts over, /quit
 * ends. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/str.h"
#include "core/banned.h"

#define MAX_MODELS 16

struct chat_opts {
    const char *url, *key, *model, *system;
    int max_tokens;
    double temperature;
    /* in process (--tenant) */
    const char *tenant, *data;
    const char *models[MAX_MODELS];
    size_t n_models;
    int version; /* CHAT_PUBLISHED, CHAT_DRAFT or N */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair chat [--url URL] [--key KEY] [--system TEXT]\n"
            "                     [--max-tokens N] [--temperature T] MODEL\n"
            "       libreair chat --tenant SLUG [--data DIR] [--model NAME=PATH.gguf]...\n"
            "                     [--draft | --version N] [--max-tokens N] [--temperature T]\n"
            "                     ASSISTANT\n\n"
            "Chats with MODEL (a model or assistant name) on a running server.\n"
            "  --url URL   server address (default $LIBREAIR_URL, then http://127.0.0.1:8080)\n"
            "  --key KEY   API key (default $LIBREAIR_KEY)\n"
            "With --tenant, chats with the tenant's ASSISTANT in this process, through the\n"
            "server's own pipeline (sources, refusal, degraded mode); nothing is stored.\n"
            "  --data DIR         data directory (default $LIBREAIR_DATA, then ./data)\n"
            "  --model N=P        load the GGUF file P as the model N (repeatable; default\n"
            "                     $LIBREAIR_MODEL as 'default'); without one, assistants with\n"
            "                     knowledge bases answer in degraded mode\n"
            "  --draft            the assistant's current draft instead of its published version\n"
            "  --version N        its version N\n"
            "Type a message and Enter; /reset forgets the conversation, /quit ends.\n");
}

struct sse_parser {
    struct buf line;
    struct buf answer;
    int done, error;
};

/* Handles one complete SSE line: prints content deltas as they come. */
static void sse_line(struct sse_parser *p, const char *line, size_t len)
{
    if (len < 6 || strncmp(line, "data: ", 6) != 0)
        return;
    line += 6, len -= 6;
    if (len == 6 && !strncmp(line, "[DONE]", 6)) {
        p->done = 1;
        return;
    }
    json_t *v = json_loadb(line, len, 0, NULL);
    if (!v)
        return;
    json_t *err = json_object_get(v, "error");
    if (err) {
        fprintf(stderr, "\nerror: %s\n", json_string_value(json_object_get(err, "message")));
        p->error = 1;
    }
    json_t *delta = json_object_get(json_array_get(json_object_get(v, "choices"), 0), "delta");
    json_t *content = json_object_get(delta, "content");
    if (json_is_string(content)) {
        fwrite(json_string_value(content), 1, json_string_length(content), stdout);
        fflush(stdout);
        buf_append(&p->answer, json_string_value(content), json_string_length(content));
    }
    json_decref(v);
}

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct sse_parser *p = ud;
    size_t n = size * nmemb;
    for (size_t i = 0; i < n; i++) {
        if (ptr[i] == '\n') {
            sse_line(p, p->line.ptr ? p->line.ptr : "", p->line.len);
            buf_reset(&p->line);
        } else if (buf_append(&p->line, ptr + i, 1) != LAIR_OK) {
            return 0;
        }
    }
    return n;
}

static int send_turn(CURL *curl, const struct chat_opts *o, json_t *messages, struct buf *answer)
{
    char url[1024], auth[256];
    snprintf(url, sizeof(url), "%s/v1/chat/completions", o->url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", o->key);
    json_t *req = json_pack("{s:s, s:O, s:b, s:f}", "model", o->model, "messages", messages,
                            "stream", 1, "temperature", o->temperature);
    if (o->max_tokens > 0)
        json_object_set_new(req, "max_tokens", json_integer(o->max_tokens));
    char *body = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, auth);
    struct sse_parser p;
    buf_init(&p.line, 1 << 20);
    buf_init(&p.answer, 0);
    p.done = p.error = 0;
    curl_easy_reset(curl);
    curl_easy_setopt(curl, CURLOPT_URL, url);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &p);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    if (p.line.len) /* an error body is one JSON line without SSE framing */
        sse_line(&p, p.line.ptr, p.line.len);
    int ok = rc == CURLE_OK && status == 200 && !p.error;
    if (rc != CURLE_OK)
        fprintf(stderr, "\nlibreair chat: %s: %s\n", o->url, curl_easy_strerror(rc));
    else if (status != 200) {
        json_t *v = json_loadb(p.line.ptr ? p.line.ptr : "", p.line.len, 0, NULL);
        const char *m = json_string_value(json_object_get(json_object_get(v, "error"), "message"));
        fprintf(stderr, "\nlibreair chat: HTTP %ld: %s\n", status, m ? m : "error");
        json_decref(v);
    }
    printf("\n");
    fflush(stdout);
    buf_append(answer, p.answer.ptr ? p.answer.ptr : "", p.answer.len);
    buf_release(&p.line);
    buf_release(&p.answer);
    curl_slist_free_all(h);
    free(body);
    return ok ? 0 : -1;
}

/* ---- the terminal loop ---- */

/* One way of answering a turn: over HTTP or in process. */
struct turns {
    int (*ask)(void *arg, const char *line); /* 0: answered (and kept in the history) */
    void (*reset)(void *arg);
    void *arg;
};

/* Reads turns from stdin until its end or /quit. 1 when a turn failed. */
static int repl(const struct turns *t)
{
    int tty = isatty(STDIN_FILENO), failed = 0;
    char *line = NULL;
    size_t cap = 0;
    for (;;) {
        if (tty) {
            printf("> ");
            fflush(stdout);
        }
        ssize_t n = getline(&line, &cap, stdin);
        if (n < 0)
            break;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = 0;
        if (n == 0)
            continue;
        if (!strcmp(line, "/quit") || !strcmp(line, "/exit"))
            break;
        if (!strcmp(line, "/reset"))
            t->reset(t->arg);
        else if (t->ask(t->arg, line))
            failed = 1;
    }
    free(line);
    return failed;
}

/* ---- over HTTP ---- */

struct remote {
    const struct chat_opts *o;
    CURL *curl;
    json_t *messages;
};

static void remote_reset(void *arg)
{
    struct remote *r = arg;
    json_array_clear(r->messages);
    if (r->o->system)
        json_array_append_new(r->messages,
                              json_pack("{s:s, s:s}", "role", "system", "content", r->o->system));
}

static int remote_ask(void *arg, const char *line)
{
    struct remote *r = arg;
    json_array_append_new(r->messages, json_pack("{s:s, s:s}", "role", "user", "content", line));
    struct buf answer;
    buf_init(&answer, 0);
    int rc = send_turn(r->curl, r->o, r->messages, &answer);
    if (rc == 0)
        json_array_append_new(r->messages, json_pack("{s:s, s:s%}", "role", "assistant", "content",
                                                     answer.ptr ? answer.ptr : "", answer.len));
    else
        json_array_remove(r->messages, json_array_size(r->messages) - 1);
    buf_release(&answer);
    return rc;
}

static int chat_remote(const struct chat_opts *o)
{
    if (!o->key || !*o->key) {
        fprintf(stderr, "libreair chat: no API key: pass --key or set LIBREAIR_KEY\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct remote r = {.o = o, .curl = curl_easy_init(), .messages = json_array()};
    remote_reset(&r);
    int failed = repl(&(struct turns){remote_ask, remote_reset, &r});
    json_decref(r.messages);
    curl_easy_cleanup(r.curl);
    curl_global_cleanup();
    return failed ? 1 : 0;
}

/* ---- in process ---- */

int cli_chat_open(const char *prog, const char *data_flag, const char *tenant,
                  const char *const *models, size_t n, struct cli_chat *s)
{
    return cli_chat_open_slots(prog, data_flag, tenant, models, n, 1, s);
}

int cli_chat_open_slots(const char *prog, const char *data_flag, const char *tenant,
                        const char *const *models, size_t n, int n_slots, struct cli_chat *s)
{
    memset(s, 0, sizeof(*s));
    if (cli_tenant_open(prog, data_flag, tenant, true, &s->t))
        return 1;
    llm_global_init();
    s->models = llm_registry_new();
    enum lair_err e = s->models ? LAIR_OK : LAIR_ENOMEM;
    for (size_t i = 0; !e && i < n; i++) {
        const char *eq = strchr(models[i], '=');
        char name[128];
        if (!eq || eq == models[i] || !eq[1] || (size_t)(eq - models[i]) >= sizeof(name)) {
            fprintf(stderr, "%s: --model wants NAME=PATH.gguf, got '%s'\n", prog, models[i]);
            cli_chat_close(s);
            return 1;
        }
        snprintf(name, sizeof(name), "%.*s", (int)(eq - models[i]), models[i]);
        struct llm_model_opts mo = {.name = name, .path = eq + 1,
                                    .n_slots = n_slots > 0 ? n_slots : 1};
        if ((e = llm_registry_load(s->models, &mo)))
            fprintf(stderr, "%s: cannot load %s: %s\n", prog, eq + 1, lair_err_msg(e));
    }
    if (e) {
        cli_chat_close(s);
        return 1;
    }
    s->ctx =
        (struct chat_ctx){.tenants = s->t.tenants, .models = s->models, .tenant_raw_models = true,
                          .sys = s->t.sys};
    s->who = (struct principal){.role = ROLE_ADMIN};
    snprintf(s->who.key_id, sizeof(s->who.key_id), "cli");
    snprintf(s->who.tenant, sizeof(s->who.tenant), "%s", tenant);
    return 0;
}

void cli_chat_close(struct cli_chat *s)
{
    llm_registry_free(s->models);
    cli_tenant_close(&s->t);
    memset(s, 0, sizeof(*s));
}

/* "[1] document, page 3" for each source. */
static void print_sources(FILE *out, json_t *sources)
{
    size_t i;
    json_t *v;
    json_array_foreach(sources, i, v)
    {
        json_t *page = json_object_get(v, "page");
        fprintf(out, "[%lld] %s", (long long)json_integer_value(json_object_get(v, "index")),
                json_string_value(json_object_get(v, "document")));
        if (json_is_integer(page))
            fprintf(out, ", page %lld", (long long)json_integer_value(page));
        fputc('\n', out);
    }
}

/* Writes c's text to out as it comes (and to answer). */
static void stream_answer(struct chat *c, FILE *out, struct buf *answer, struct chat_result *res)
{
    struct buf piece;
    buf_init(&piece, 0);
    for (;;) {
        buf_reset(&piece);
        bool fin = chat_take(c, &piece, res);
        if (fin && res->fallback.len)
            buf_append(&piece, res->fallback.ptr, res->fallback.len);
        fwrite(piece.ptr ? piece.ptr : "", 1, piece.len, out);
        fflush(out);
        buf_append(answer, piece.ptr ? piece.ptr : "", piece.len);
        if (fin)
            break;
        struct pollfd p = {.fd = chat_fd(c), .events = POLLIN};
        poll(&p, 1, -1);
    }
    buf_release(&piece);
}

int cli_chat_ask(struct cli_chat *s, struct chat_request *req, FILE *out, struct buf *answer)
{
    req->who = &s->who;
    req->ephemeral = true;
    struct chat *c;
    struct chat_error err;
    enum lair_err e = chat_run(&s->ctx, req, &c, &err);
    if (e) {
        fprintf(stderr, "libreair chat: %s\n", err.message[0] ? err.message : lair_err_msg(e));
        return 1;
    }
    struct chat_result res;
    stream_answer(c, out, answer, &res);
    fputc('\n', out);
    int rc = 0;
    if (res.llm.finish == LLM_FINISH_ERROR) {
        chat_generation_error(c, res.llm.err, &err);
        fprintf(stderr, "libreair chat: %s\n", err.message);
        rc = 1;
    } else {
        if (chat_mode(c) != CHAT_GENERATED)
            fprintf(out, "(answer_mode: %s)\n",
                    chat_mode(c) == CHAT_REFUSAL ? "refusal" : "degraded");
        print_sources(out, chat_sources(c));
    }
    fflush(out);
    chat_free(c);
    return rc;
}

/* The conversation so far, kept here: nothing is stored in process. */
struct local {
    const struct chat_opts *o;
    struct cli_chat s;
    struct llm_message *m; /* contents OWNED */
    size_t n, cap;
};

static int local_add(struct local *l, struct str role, const char *text, size_t len)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        struct llm_message *m = realloc(l->m, cap * sizeof(*m));
        if (!m)
            return -1;
        l->m = m;
        l->cap = cap;
    }
    char *p = strndup(text, len);
    if (!p)
        return -1;
    l->m[l->n++] = (struct llm_message){role, {p, len}};
    return 0;
}

static void local_reset(void *arg)
{
    struct local *l = arg;
    for (size_t i = 0; i < l->n; i++)
        free((char *)l->m[i].content.ptr);
    l->n = 0;
    if (l->o->system)
        local_add(l, S("system"), l->o->system, strlen(l->o->system));
}

static int local_ask(void *arg, const char *line)
{
    struct local *l = arg;
    if (local_add(l, S("user"), line, strlen(line)))
        return 1;
    struct chat_request req;
    chat_request_init(&req);
    req.target = str_c(l->o->model);
    req.version = l->o->version;
    req.messages = l->m;
    req.n_messages = l->n;
    req.sampling.temperature = (float)l->o->temperature;
    req.has_temperature = true;
    req.max_tokens = l->o->max_tokens;
    struct buf answer;
    buf_init(&answer, 0);
    int rc = cli_chat_ask(&l->s, &req, stdout, &answer);
    if (rc == 0 && local_add(l, S("assistant"), answer.ptr ? answer.ptr : "", answer.len))
        rc = 1;
    if (rc) { /* the turn is forgotten */
        while (l->n > 0 && !str_eq(l->m[l->n - 1].role, S("user")))
            free((char *)l->m[--l->n].content.ptr);
        if (l->n > 0)
            free((char *)l->m[--l->n].content.ptr);
    }
    buf_release(&answer);
    return rc;
}

static int chat_local(const struct chat_opts *o)
{
    struct local l = {.o = o};
    if (cli_chat_open("libreair chat", o->data, o->tenant, o->models, o->n_models, &l.s))
        return 1;
    local_reset(&l);
    int failed = repl(&(struct turns){local_ask, local_reset, &l});
    for (size_t i = 0; i < l.n; i++)
        free((char *)l.m[i].content.ptr);
    free(l.m);
    cli_chat_close(&l.s);
    return failed ? 1 : 0;
}

/* ---- the command ---- */

static int parse_version(const char *s, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s < '0' || *s > '9' || *end || v < 1 || v > INT_MAX) {
        fprintf(stderr, "libreair chat: --version wants a version number, got '%s'\n", s);
        return -1;
    }
    *out = (int)v;
    return 0;
}

static int parse_args(int argc, char **argv, struct chat_opts *o)
{
    static const struct option opts[] = {{"url", required_argument, NULL, 'u'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"system", required_argument, NULL, 's'},
                                         {"max-tokens", required_argument, NULL, 'n'},
                                         {"temperature", required_argument, NULL, 't'},
                                         {"tenant", required_argument, NULL, 'T'},
                                         {"data", required_argument, NULL, 'd'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"draft", no_argument, NULL, 'D'},
                                         {"version", required_argument, NULL, 'V'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:s:n:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': o->url = optarg; break;
        case 'k': o->key = optarg; break;
        case 's': o->system = optarg; break;
        case 'n': o->max_tokens = (int)strtol(optarg, NULL, 10); break;
        case 't': o->temperature = strtod(optarg, NULL); break;
        case 'T': o->tenant = optarg; break;
        case 'd': o->data = optarg; break;
        case 'D': o->version = CHAT_DRAFT; break;
        case 'V':
            if (parse_version(optarg, &o->version))
                return 2;
            break;
        case 'm':
            if (o->n_models == MAX_MODELS) {
                fprintf(stderr, "libreair chat: at most %d --model\n", MAX_MODELS);
                return 2;
            }
            o->models[o->n_models++] = optarg;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    o->model = argv[optind];
    return 0;
}

int cmd_chat(int argc, char **argv)
{
    struct chat_opts o = {
        .url = getenv("LIBREAIR_URL"), .key = getenv("LIBREAIR_KEY"), .temperature = 0.7};
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (!o.tenant && (o.n_models || o.version != CHAT_PUBLISHED || o.data)) {
        fprintf(stderr, "libreair chat: --data, --model, --draft and --version go with --tenant\n");
        return 2;
    }
    if (o.tenant) {
        const char *env_model = getenv("LIBREAIR_MODEL");
        static char default_model[PATH_MAX + 16];
        if (o.n_models == 0 && env_model && *env_model) {
            snprintf(default_model, sizeof(default_model), "default=%s", env_model);
            o.models[o.n_models++] = default_model;
        }
        return chat_local(&o);
    }
    if (!o.url || !*o.url)
        o.url = "http://127.0.0.1:8080";
    return chat_remote(&o);
}
