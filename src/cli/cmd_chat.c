/* libreair chat: a streaming terminal chat against a running server, through
 * the same OpenAI endpoint every client uses. Each line typed is a user turn;
 * the answer is printed as it is generated. /reset starts over, /quit ends. */
#include <curl/curl.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/json.h"
#include "core/str.h"
#include "core/banned.h"

struct chat_opts {
    const char *url, *key, *model, *system;
    int max_tokens;
    double temperature;
};

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair chat [--url URL] [--key KEY] [--system TEXT]\n"
               "                     [--max-tokens N] [--temperature T] MODEL\n\n"
               "Chats with MODEL (a model or assistant name) on a running server.\n"
               "  --url URL   server address (default $LIBREAIR_URL, then http://127.0.0.1:8080)\n"
               "  --key KEY   API key (default $LIBREAIR_KEY)\n"
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

static void reset_history(json_t *messages, const char *system)
{
    json_array_clear(messages);
    if (system)
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "system", "content", system));
}

int cmd_chat(int argc, char **argv)
{
    struct chat_opts o = {.url = getenv("LIBREAIR_URL"), .key = getenv("LIBREAIR_KEY"),
                          .temperature = 0.7};
    static const struct option opts[] = {
        {"url", required_argument, NULL, 'u'},        {"key", required_argument, NULL, 'k'},
        {"system", required_argument, NULL, 's'},     {"max-tokens", required_argument, NULL, 'n'},
        {"temperature", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "u:k:s:n:t:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': o.url = optarg; break;
        case 'k': o.key = optarg; break;
        case 's': o.system = optarg; break;
        case 'n': o.max_tokens = (int)strtol(optarg, NULL, 10); break;
        case 't': o.temperature = strtod(optarg, NULL); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind != argc - 1) {
        usage(stderr);
        return 2;
    }
    o.model = argv[optind];
    if (!o.url || !*o.url)
        o.url = "http://127.0.0.1:8080";
    if (!o.key || !*o.key) {
        fprintf(stderr, "libreair chat: no API key: pass --key or set LIBREAIR_KEY\n");
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
    json_t *messages = json_array();
    reset_history(messages, o.system);
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
        if (!strcmp(line, "/reset")) {
            reset_history(messages, o.system);
            continue;
        }
        json_array_append_new(messages, json_pack("{s:s, s:s}", "role", "user", "content", line));
        struct buf answer;
        buf_init(&answer, 0);
        if (send_turn(curl, &o, messages, &answer) == 0) {
            json_array_append_new(messages, json_pack("{s:s, s:s%}", "role", "assistant",
                                                      "content", answer.ptr ? answer.ptr : "",
                                                      answer.len));
        } else {
            json_array_remove(messages, json_array_size(messages) - 1);
            failed = 1;
        }
        buf_release(&answer);
    }
    free(line);
    json_decref(messages);
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    return failed ? 1 : 0;
}
