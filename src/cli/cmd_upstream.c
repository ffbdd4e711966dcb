/* libreair upstream list|check: the upstream pools the configuration file
 * and the flags declare, and a probe of each (GET /models over the same
 * TLS settings the server uses), so that an operator sees what `serve`
 * would reach before starting it. The running server's own view, with
 * health and traffic, is GET /api/v1/upstreams and /metrics. */
#include <curl/curl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"
#include "core/str.h"

#include "core/banned.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: libreair upstream list|check [--config FILE] [--upstream NAME=URL,...]...\n"
               "\n"
               "  list    the pools of upstream servers the configuration and flags declare\n"
               "  check   probe each upstream (GET URL/models): reachable, TLS, the model "
               "served\n"
               "          exit status 1 when one is not usable\n");
}

static int read_config(struct cli_pools *cp, struct llm_model_opts *models, int *n,
                       const char *file)
{
    json_error_t je;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fprintf(stderr, "libreair upstream: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
        return -1;
    }
    int rc = 0;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "models"), i, m)
    {
        if (json_object_get(m, "upstreams") && cli_upstream_config(cp, models, n, m, file)) {
            rc = -1;
            break;
        }
    }
    json_decref(root);
    return rc;
}

static size_t keep_body(char *d, size_t s, size_t n, void *arg)
{
    struct buf *b = arg;
    if (b->len < 65536)
        buf_append(b, d, s * n);
    return s * n;
}

/* Probes one upstream; prints a line; true when usable. */
static bool probe(const struct llm_model_opts *m, const struct llm_upstream_opts *u)
{
    char url[2048];
    size_t n = strlen(u->url);
    while (n && u->url[n - 1] == '/')
        n--;
    snprintf(url, sizeof(url), "%.*s/models", (int)n, u->url);
    CURL *c = curl_easy_init();
    struct buf body;
    buf_init(&body, 0);
    struct curl_slist *h = NULL;
    char auth[1100];
    if (u->api_key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", u->api_key);
        h = curl_slist_append(h, auth);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, keep_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    if (u->ca_file)
        curl_easy_setopt(c, CURLOPT_CAINFO, u->ca_file);
    if (u->pinned_pubkey)
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, u->pinned_pubkey);
    if (u->client_cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, u->client_cert);
    if (u->client_key)
        curl_easy_setopt(c, CURLOPT_SSLKEY, u->client_key);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    double secs = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &secs);
    const char *want = u->model ? u->model : m->name;
    bool listed = body.ptr && strstr(body.ptr, want) != NULL;
    bool ok = rc == CURLE_OK && status == 200;
    printf("%-16s %-6s %-40s %s", m->name, u->remote ? "remote" : "local", u->url,
           rc != CURLE_OK ? curl_easy_strerror(rc) : status == 200 ? "ok" : "HTTP error");
    if (rc == CURLE_OK)
        printf(" (HTTP %ld, %.0f ms)", status, secs * 1e3);
    if (ok && !listed)
        printf("; model '%s' not in its /models", want);
    printf("\n");
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_release(&body);
    return ok;
}

int cmd_upstream(int argc, char **argv)
{
    if (argc < 2 || cli_is_help(argv[1])) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "list") && strcmp(verb, "check")) {
        fprintf(stderr, "libreair upstream: unknown command '%s'\n", verb);
        usage(stderr);
        return 2;
    }
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"upstream", required_argument, NULL, 'U'},
                                         {"fallback", required_argument, NULL, 'F'},
                                         {"help", no_argument, NULL, 'h'},
                                         {0}};
    struct cli_pools *cp = calloc(1, sizeof(*cp));
    struct llm_model_opts models[CLI_MAX_MODELS];
    int n = 0, c, rc = 0;
    if (!cp)
        return 1;
    optind = 1;
    while (rc == 0 && (c = getopt_long(argc - 1, argv + 1, "c:h", opts, NULL)) != -1) {
        if (c == 'c')
            rc = read_config(cp, models, &n, optarg) ? 2 : 0;
        else if (c == 'U')
            rc = cli_upstream_flag(cp, models, &n, optarg) ? 2 : 0;
        else if (c == 'F')
            rc = cli_fallback_flag(cp, models, n, optarg) ? 2 : 0;
        else if (c == 'h') {
            usage(stdout);
            rc = -1;
        } else
            rc = 2;
    }
    if (rc == 0 && n == 0) {
        fprintf(stderr, "libreair upstream: no upstream declared (--config FILE or --upstream)\n");
        rc = 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    for (int i = 0; rc == 0 && i < n; i++) {
        const struct llm_model_opts *m = &models[i];
        for (size_t k = 0; k < m->n_upstreams; k++) {
            const struct llm_upstream_opts *u = &m->upstreams[k];
            if (!strcmp(verb, "check")) {
                if (!probe(m, u))
                    rc = 1;
                continue;
            }
            printf("%-16s %-6s %-40s model=%s weight=%d max=%d%s\n", m->name,
                   u->remote ? "remote" : "local", u->url, u->model ? u->model : m->name,
                   u->weight ? u->weight : 1, u->max_concurrent ? u->max_concurrent : 16,
                   u->api_key ? " key=(set)" : "");
        }
        if (!strcmp(verb, "list") && m->n_fallback) {
            printf("%-16s fallback:", m->name);
            for (size_t k = 0; k < m->n_fallback; k++)
                printf(" %s", m->fallback[k]);
            printf("\n");
        }
    }
    curl_global_cleanup();
    cli_pools_release(cp);
    free(cp);
    return rc < 0 ? 0 : rc;
}
