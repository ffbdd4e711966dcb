/* libreair serve: loads the configuration and the models, then serves HTTP
 * until SIGINT or SIGTERM. The listener starts before the models load, so
 * that /healthz answers at once and /readyz tells when models are ready. */
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "api/auth_api.h"
#include "auth/oidc.h"
#include "assist/assistant.h"
#include "api/web.h"
#include "api/kb_api.h"
#include "api/evals_api.h"
#include "audit/audit.h"
#include "audit/headexport.h"
#include "cli/cli.h"
#include "core/log.h"
#include "gdpr/retention.h"
#include "llm/llm.h"
#include "store/tenant.h"
#include "store/vcache.h"
#include "core/banned.h"

#define MAX_MODELS CLI_MAX_MODELS

struct serve_opts {
    const char *data, *listen, *config;
    struct llm_model_opts models[MAX_MODELS];
    char *owned[MAX_MODELS * 2];
    int n_models, n_owned;
    int slots, ctx, threads, queue, batch, gpu_layers, gpu_layers_set;
    int prompt_cache, prompt_cache_set; /* MiB, 0 = off */
    int vector_cache, vector_cache_set; /* MiB, 0 = off */
    int tenant_raw_models;
    struct http_limits limits;
    const char *metrics_token_file;
    char metrics_token[256];
    const char *tls_cert, *tls_key, *trusted_proxies;
    int insecure_http;
    int allow_missing_models; /* serve without the models that cannot be loaded */
    int backup_retention_days, backup_retention_set; /* declared in the register */
    json_t *gate_flags;  /* OWNED: --publish-gate, as requirement objects */
    json_t *gate_file;   /* BORROWED from the configuration: "publish_gate" */
    json_t *publish_gate; /* OWNED: the canonical operator gate (NULL: none) */
    const char *eval_judge; /* --eval-judge: the model that grades rubrics; NULL: none */
    bool skip[MAX_MODELS];    /* models[i] dropped by check_model_files */
    const char *audit_heads_file; /* where the audit chains' heads are also written */
    int audit_heads_syslog;       /* 1 on (default), 0 off, -1 unset */
    struct cli_pools *pools; /* upstreams and fallbacks of models[] */
    const char *public_url;  /* --public-url / "public_url": the server's external URL */
    json_t *oidc;            /* OWNED: the configuration's "oidc" (docs/oidc.md); NULL: keys only */
    int session_idle_min, session_max_hours; /* "sessions"; 0 = defaults */
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: libreair serve [--data DIR] [--listen HOST:PORT] [--config FILE]\n"
            "                      [--model NAME=PATH.gguf]... [--slots N] [--ctx N]\n"
            "                      [--threads N] [--queue N] [--batch N] [--prompt-cache MIB]\n"
            "                      [--vector-cache MIB] [--header-timeout S] [--drain-timeout S]\n"
            "                      [--max-client-connections N] [--max-body-memory MIB]\n"
            "                      [--metrics-token-file FILE]\n"
            "                      [--upstream NAME=URL[,model=M][,zone=local|remote][,weight=W]"
            "[,max=N]\n"
            "                                      [,key_file=F][,key_env=V][,ca_file=F]]...\n"
            "                      [--fallback NAME=OTHER[,OTHER...]]...\n"
            "                      [--tls-cert FILE --tls-key FILE | --insecure-http]\n"
            "                      [--trusted-proxy ADDR[,ADDR...]]\n\n"
            "  --data DIR        data directory (default $LIBREAIR_DATA, then ./data)\n"
            "  --listen H:P      address to listen on (default $LIBREAIR_LISTEN, then\n"
            "                    127.0.0.1:8080; port 0 picks a free port)\n"
            "  --config FILE     JSON configuration (docs/configuration.md)\n"
            "  --public-url URL  the server's external URL, for sign-in redirects and\n"
            "                    enrollment links (default: from --listen)\n"
            "  --model N=P       serve the GGUF file P under the name N (repeatable);\n"
            "                    $LIBREAIR_MODEL=P adds 'default'\n"
            "  --slots N         requests decoded together per model (default 4)\n"
            "  --ctx N           context tokens per request (default: 4096 or the model's)\n"
            "  --threads N       CPU threads per model (default: all cores)\n"
            "  --queue N         requests waiting beyond the slots before 503 (default 64)\n"
            "  --batch N         prompt batch size (default 512)\n"
            "  --gpu-layers N    layers offloaded to the GPU (builds with make GPU=cuda;\n"
            "                    default 0; 999 = all)\n"
            "  --prompt-cache MIB  host memory per model for computed prompt prefixes\n"
            "                    evicted from the KV cache (default 1024, 0 = off)\n"
            "  --vector-cache MIB  memory for knowledge bases' vectors kept for searches,\n"
            "                    all tenants together (default 512, 0 = off)\n"
            "  --tenant-raw-models  let tenant keys call raw models by name (default:\n"
            "                    tenants use models only through their assistants)\n"
            "  --header-timeout S  a request's headers must arrive within S seconds; also\n"
            "                    how long a kept-alive connection may stay idle (default 15)\n"
            "  --max-client-connections N  connections one client address may hold\n"
            "                    (default 128; raise it behind a reverse proxy)\n"
            "  --max-body-memory MIB  request bodies held in memory at once, all clients\n"
            "                    together; beyond it 503 (default 256)\n"
            "  --drain-timeout S  on SIGTERM, how long requests under way may take to\n"
            "                    finish before streams are ended with an error (default 30)\n"
            "  --metrics-token-file FILE  /metrics then requires 'Authorization: Bearer'\n"
            "                    with the token in FILE (default: /metrics is open)\n"
            "  --upstream NAME=URL,...  serve NAME through an OpenAI-compatible server\n"
            "                    (repeat NAME for a pool); docs/upstreams.md\n"
            "  --fallback NAME=OTHER,...  models to try when NAME cannot answer\n"
            "  --tls-cert FILE --tls-key FILE  HTTPS (PEM files; read again on SIGHUP)\n"
            "  --insecure-http   listen in clear on an address other than loopback\n"
            "                    (refused otherwise: keys would cross the network in clear)\n"
            "  --trusted-proxy A  reverse proxies whose X-Forwarded-For names the client\n"
            "  --audit-heads-file FILE  also append the audit chains' heads to FILE (another\n"
            "                    volume); they always go to the system log unless\n"
            "                    --no-audit-heads-syslog (docs/audit.md)\n"
            "  --allow-missing-models  serve without a model file that is missing or not a\n"
            "                    GGUF model (refused otherwise: the server would answer\n"
            "                    404 for it), or that fails to load\n"
            "  --backup-retention-days N  how long backups are kept (libreair backup): the\n"
            "                    processing register states it (docs/operations.md)\n"
            "  --publish-gate pack=NAME|suite=NAME[,min=RATE]  publishing any assistant of\n"
            "                    any tenant needs a passing run of it (docs/evaluation.md)\n"
            "  --eval-judge MODEL  the served model that grades evaluation rubrics\n\n"
            "Prints 'listening on http://HOST:PORT' once the socket is bound, then\n"
            "'ready' once every model is loaded.\n");
}

static char *keep(struct serve_opts *o, const char *s, size_t n)
{
    if (o->n_owned >= (int)(sizeof(o->owned) / sizeof(o->owned[0])))
        return NULL;
    char *p = strndup(s, n);
    if (p)
        o->owned[o->n_owned++] = p;
    return p;
}

static int add_model(struct serve_opts *o, const char *name, size_t nlen, const char *path)
{
    if (o->n_models >= MAX_MODELS) {
        fprintf(stderr, "libreair serve: at most %d models\n", MAX_MODELS);
        return -1;
    }
    for (int i = 0; i < o->n_models; i++)
        if (strlen(o->models[i].name) == nlen && !strncmp(o->models[i].name, name, nlen)) {
            fprintf(stderr, "libreair serve: model name '%.*s' given twice\n", (int)nlen, name);
            return -1;
        }
    struct llm_model_opts *m = &o->models[o->n_models];
    memset(m, 0, sizeof(*m));
    m->name = keep(o, name, nlen);
    m->path = keep(o, path, strlen(path));
    if (!m->name || !m->path)
        return -1;
    o->n_models++;
    return 0;
}

static int parse_model_flag(struct serve_opts *o, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg || !eq[1]) {
        fprintf(stderr, "libreair serve: --model wants NAME=PATH.gguf, got '%s'\n", arg);
        return -1;
    }
    return add_model(o, arg, (size_t)(eq - arg), eq + 1);
}

static int int_field(json_t *obj, const char *key, int *out, const char *file)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 1 << 24) {
        fprintf(stderr, "libreair serve: %s: '%s' must be a non-negative integer\n", file, key);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

/* Reads the JSON configuration file; flags given on the command line win. */
static int load_config(struct serve_opts *o, const char *file)
{
    json_error_t je;
    json_t *root = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        fprintf(stderr, "libreair serve: %s:%d:%d: %s\n", file, je.line, je.column, je.text);
        return -1;
    }
    int rc = -1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        if (strcmp(key, "listen") && strcmp(key, "models") && strcmp(key, "limits") &&
            strcmp(key, "data") && strcmp(key, "tenant_raw_models") &&
            strcmp(key, "vector_cache_mib") && strcmp(key, "metrics_token_file") &&
            strcmp(key, "tls") && strcmp(key, "insecure_http") && strcmp(key, "trusted_proxies") &&
            strcmp(key, "audit_heads") && strcmp(key, "allow_missing_models") &&
            strcmp(key, "backup_retention_days") && strcmp(key, "publish_gate") &&
            strcmp(key, "public_url") && strcmp(key, "oidc") && strcmp(key, "sessions")) {
            fprintf(stderr, "libreair serve: %s: unknown setting '%s'\n", file, key);
            goto out;
        }
    }
    json_t *listen = json_object_get(root, "listen");
    if (listen && !o->listen) {
        if (!json_is_string(listen))
            goto bad_type;
        o->listen = keep(o, json_string_value(listen), json_string_length(listen));
    }
    json_t *missing = json_object_get(root, "allow_missing_models");
    if (missing && !json_is_boolean(missing))
        goto bad_type;
    if (json_is_true(missing))
        o->allow_missing_models = 1;
    json_t *pub = json_object_get(root, "public_url");
    if (pub && !o->public_url) {
        if (!json_is_string(pub))
            goto bad_type;
        o->public_url = keep(o, json_string_value(pub), json_string_length(pub));
    }
    json_t *oidc = json_object_get(root, "oidc");
    if (oidc) {
        json_decref(o->oidc);
        o->oidc = json_deep_copy(oidc); /* checked by oidc_rp_new */
    }
    json_t *sess = json_object_get(root, "sessions");
    if (sess) {
        const char *sk;
        json_t *sv;
        json_object_foreach(sess, sk, sv) {
            if (strcmp(sk, "idle_minutes") && strcmp(sk, "max_hours")) {
                fprintf(stderr,
                        "libreair serve: %s: 'sessions' takes idle_minutes and max_hours\n",
                        file);
                goto out;
            }
        }
        if ((json_object_get(sess, "idle_minutes") &&
             int_field(sess, "idle_minutes", &o->session_idle_min, file)) ||
            (json_object_get(sess, "max_hours") &&
             int_field(sess, "max_hours", &o->session_max_hours, file)))
            goto out;
        if (o->session_idle_min < 0 || o->session_idle_min > 24 * 60 ||
            o->session_max_hours < 0 || o->session_max_hours > 24 * 30) {
            fprintf(stderr,
                    "libreair serve: %s: sessions.idle_minutes is 1 to 1440, max_hours 1 to "
                    "720\n",
                    file);
            goto out;
        }
    }
    json_t *gate = json_object_get(root, "publish_gate");
    if (gate && !o->gate_flags) { /* flags win; checked with them in check_gate */
        json_decref(o->gate_file);
        o->gate_file = json_incref(gate);
    }
    if (!o->backup_retention_set && json_object_get(root, "backup_retention_days")) {
        if (int_field(root, "backup_retention_days", &o->backup_retention_days, file))
            goto out;
        o->backup_retention_set = 1;
    }
    json_t *raw = json_object_get(root, "tenant_raw_models");
    if (raw) {
        if (!json_is_boolean(raw))
            goto bad_type;
        if (json_is_true(raw))
            o->tenant_raw_models = 1;
    }
    if (json_object_get(root, "vector_cache_mib") && !o->vector_cache_set) {
        if (int_field(root, "vector_cache_mib", &o->vector_cache, file))
            goto out;
        o->vector_cache_set = 1;
    }
    json_t *tls = json_object_get(root, "tls"), *cert = json_object_get(tls, "cert"),
           *tkey = json_object_get(tls, "key");
    if (tls && (!json_is_object(tls) || !json_is_string(cert) || !json_is_string(tkey) ||
                json_object_size(tls) != 2)) {
        fprintf(stderr, "libreair serve: %s: 'tls' must be {\"cert\": FILE, \"key\": FILE}\n",
                file);
        goto out;
    }
    if (tls && !o->tls_cert) {
        o->tls_cert = keep(o, json_string_value(cert), json_string_length(cert));
        o->tls_key = keep(o, json_string_value(tkey), json_string_length(tkey));
    }
    json_t *insecure = json_object_get(root, "insecure_http");
    if (insecure && !json_is_boolean(insecure))
        goto bad_type;
    if (json_is_true(insecure))
        o->insecure_http = 1;
    json_t *tp = json_object_get(root, "trusted_proxies");
    if (tp && !o->trusted_proxies) {
        if (!json_is_string(tp))
            goto bad_type;
        o->trusted_proxies = keep(o, json_string_value(tp), json_string_length(tp));
    }
    json_t *ah = json_object_get(root, "audit_heads");
    if (ah) {
        json_t *ahf = json_object_get(ah, "file"), *ahs = json_object_get(ah, "syslog");
        if (!json_is_object(ah) || (ahf && !json_is_string(ahf)) || (ahs && !json_is_boolean(ahs)))
            goto bad_type;
        if (ahf && !o->audit_heads_file)
            o->audit_heads_file = keep(o, json_string_value(ahf), json_string_length(ahf));
        if (ahs && o->audit_heads_syslog < 0)
            o->audit_heads_syslog = json_is_true(ahs);
    }
    json_t *mtf = json_object_get(root, "metrics_token_file");
    if (mtf && !o->metrics_token_file) {
        if (!json_is_string(mtf))
            goto bad_type;
        o->metrics_token_file = keep(o, json_string_value(mtf), json_string_length(mtf));
    }
    json_t *data = json_object_get(root, "data");
    if (data && !o->data) {
        if (!json_is_string(data))
            goto bad_type;
        o->data = keep(o, json_string_value(data), json_string_length(data));
    }
    json_t *models = json_object_get(root, "models");
    if (models) {
        if (!json_is_array(models))
            goto bad_type;
        size_t i;
        json_t *m;
        json_array_foreach(models, i, m)
        {
            if (json_object_get(m, "upstreams")) {
                if (cli_upstream_config(o->pools, o->models, &o->n_models, m, file))
                    goto out;
                continue;
            }
            json_t *name = json_object_get(m, "name"), *path = json_object_get(m, "path");
            if (!json_is_string(name) || !json_is_string(path)) {
                fprintf(stderr, "libreair serve: %s: models[%zu] needs string 'name' and 'path'\n",
                        file, i);
                goto out;
            }
            if (add_model(o, json_string_value(name), json_string_length(name),
                          json_string_value(path)))
                goto out;
            struct llm_model_opts *mo = &o->models[o->n_models - 1];
            if (int_field(m, "slots", &mo->n_slots, file) ||
                int_field(m, "ctx", &mo->n_ctx, file) ||
                int_field(m, "threads", &mo->n_threads, file) ||
                int_field(m, "queue", &mo->queue_max, file) ||
                int_field(m, "batch", &mo->n_batch, file) ||
                int_field(m, "gpu_layers", &mo->n_gpu_layers, file))
                goto out;
            if (json_object_get(m, "prompt_cache_mib")) {
                int mib = 0;
                if (int_field(m, "prompt_cache_mib", &mib, file))
                    goto out;
                mo->prompt_cache_mib = mib ? mib : -1;
            }
            if (mo->n_ctx) /* per request in the file, total in the engine */
                mo->n_ctx *= mo->n_slots ? mo->n_slots : 4;
        }
    }
    json_t *lim = json_object_get(root, "limits");
    if (lim) {
        int hdr = 0, idle = 0, conns = 0, htime = 0, per_client = 0, body_mib = 0, drain = 0;
        if (!json_is_object(lim) || int_field(lim, "max_header_bytes", &hdr, file) ||
            int_field(lim, "idle_timeout_s", &idle, file) ||
            int_field(lim, "max_connections", &conns, file) ||
            int_field(lim, "header_timeout_s", &htime, file) ||
            int_field(lim, "max_client_connections", &per_client, file) ||
            int_field(lim, "max_body_memory_mib", &body_mib, file) ||
            int_field(lim, "drain_timeout_s", &drain, file))
            goto out;
        struct http_limits *l = &o->limits; /* flags given on the command line win */
        l->max_header_bytes = (size_t)hdr;
        l->idle_timeout_s = (unsigned)idle;
        l->max_connections = (unsigned)conns;
        if (!l->header_timeout_s)
            l->header_timeout_s = (unsigned)htime;
        if (!l->max_client_connections)
            l->max_client_connections = (unsigned)per_client;
        if (!l->max_body_memory)
            l->max_body_memory = (size_t)body_mib << 20;
        if (!l->drain_timeout_s)
            l->drain_timeout_s = (unsigned)drain;
    }
    rc = 0;
    goto out;
bad_type:
    fprintf(stderr, "libreair serve: %s: wrong type for a setting\n", file);
out:
    json_decref(root);
    return rc;
}

static int parse_int(const char *s, const char *flag, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || v < 0 || v > 1 << 24) {
        fprintf(stderr, "libreair serve: %s wants a non-negative integer\n", flag);
        return -1;
    }
    *out = (int)v;
    return 0;
}

/* --publish-gate pack=NAME|suite=NAME[,min=RATE]: one requirement of the
 * operator's gate (validated with the configuration's in check_gate). */
static int gate_flag(struct serve_opts *o, const char *arg)
{
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", arg);
    json_t *req = json_object();
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); req && tok; tok = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(tok, '=');
        if (!eq)
            break;
        *eq = 0;
        if (!strcmp(tok, "min")) {
            char *end;
            double d = strtod(eq + 1, &end);
            if (*end || end == eq + 1)
                break;
            json_object_set_new(req, "min_pass_rate", json_real(d));
        } else if (!strcmp(tok, "pack") || !strcmp(tok, "suite")) {
            json_object_set_new(req, tok, json_string(eq + 1));
        } else {
            break;
        }
        *eq = '=';
    }
    if (!req || json_object_size(req) == 0 ||
        (!json_object_get(req, "pack") && !json_object_get(req, "suite"))) {
        fprintf(stderr, "libreair serve: --publish-gate wants pack=NAME or suite=NAME, then "
                        "optionally ,min=RATE (0 to 1); got '%s'\n",
                arg);
        json_decref(req);
        return -1;
    }
    if (!o->gate_flags)
        o->gate_flags = json_array();
    json_array_append_new(o->gate_flags, req);
    return 0;
}

/* The operator's gate, flags or configuration, in canonical form. */
static int check_gate(struct serve_opts *o)
{
    json_t *g = o->gate_flags ? o->gate_flags : o->gate_file;
    if (!g)
        return 0;
    struct assistant_error err;
    if (assistant_gate_parse(g, &o->publish_gate, &err)) {
        fprintf(stderr, "libreair serve: publish gate: %s (%s)\n", err.msg, err.field);
        return -1;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct serve_opts *o)
{
    static const struct option opts[] = {{"data", required_argument, NULL, 'd'},
                                         {"listen", required_argument, NULL, 'l'},
                                         {"config", required_argument, NULL, 'c'},
                                         {"model", required_argument, NULL, 'm'},
                                         {"slots", required_argument, NULL, 's'},
                                         {"ctx", required_argument, NULL, 'x'},
                                         {"threads", required_argument, NULL, 't'},
                                         {"queue", required_argument, NULL, 'q'},
                                         {"batch", required_argument, NULL, 'b'},
                                         {"help", no_argument, NULL, 'h'},
                                         {"tenant-raw-models", no_argument, NULL, 'R'},
                                         {"prompt-cache", required_argument, NULL, 'P'},
                                         {"vector-cache", required_argument, NULL, 'V'},
                                         {"header-timeout", required_argument, NULL, 'H'},
                                         {"max-client-connections", required_argument, NULL, 'C'},
                                         {"max-body-memory", required_argument, NULL, 'B'},
                                         {"drain-timeout", required_argument, NULL, 'D'},
                                         {"metrics-token-file", required_argument, NULL, 'M'},
                                         {"upstream", required_argument, NULL, 'U'},
                                         {"gpu-layers", required_argument, NULL, 'G'},
                                         {"tls-cert", required_argument, NULL, 'T'},
                                         {"tls-key", required_argument, NULL, 'K'},
                                         {"insecure-http", no_argument, NULL, 'I'},
                                         {"trusted-proxy", required_argument, NULL, 'X'},
                                         {"audit-heads-file", required_argument, NULL, 'A'},
                                         {"no-audit-heads-syslog", no_argument, NULL, 'N'},
                                         {"fallback", required_argument, NULL, 'F'},
                                         {"allow-missing-models", no_argument, NULL, 'O'},
                                         {"backup-retention-days", required_argument, NULL, 'Y'},
                                         {"publish-gate", required_argument, NULL, 'W'},
                                         {"eval-judge", required_argument, NULL, 1001},
                                         {"public-url", required_argument, NULL, 1002},
                                         {0}};
    int v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "d:l:c:m:s:x:t:q:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o->data = optarg; break;
        case 'l': o->listen = optarg; break;
        case 'c': o->config = optarg; break;
        case 'm':
            if (parse_model_flag(o, optarg))
                return 2;
            break;
        case 's':
            if (parse_int(optarg, "--slots", &o->slots))
                return 2;
            break;
        case 'x':
            if (parse_int(optarg, "--ctx", &o->ctx))
                return 2;
            break;
        case 't':
            if (parse_int(optarg, "--threads", &o->threads))
                return 2;
            break;
        case 'q':
            if (parse_int(optarg, "--queue", &o->queue))
                return 2;
            break;
        case 'b':
            if (parse_int(optarg, "--batch", &o->batch))
                return 2;
            break;
        case 'R': o->tenant_raw_models = 1; break;
        case 'P':
            if (parse_int(optarg, "--prompt-cache", &o->prompt_cache))
                return 2;
            o->prompt_cache_set = 1;
            break;
        case 'V':
            if (parse_int(optarg, "--vector-cache", &o->vector_cache))
                return 2;
            o->vector_cache_set = 1;
            break;
        case 'H':
        case 'C':
        case 'B':
        case 'D':
            if (parse_int(optarg, c == 'H'   ? "--header-timeout"
                                  : c == 'C' ? "--max-client-connections"
                                  : c == 'B' ? "--max-body-memory"
                                             : "--drain-timeout",
                          &v))
                return 2;
            if (v == 0) {
                fprintf(stderr, "libreair serve: these limits must be at least 1\n");
                return 2;
            }
            if (c == 'H')
                o->limits.header_timeout_s = (unsigned)v;
            else if (c == 'C')
                o->limits.max_client_connections = (unsigned)v;
            else if (c == 'B')
                o->limits.max_body_memory = (size_t)v << 20;
            else
                o->limits.drain_timeout_s = (unsigned)v;
            break;
        case 'M': o->metrics_token_file = optarg; break;
        case 'T': o->tls_cert = optarg; break;
        case 'K': o->tls_key = optarg; break;
        case 'I': o->insecure_http = 1; break;
        case 'X': o->trusted_proxies = optarg; break;
        case 'A': o->audit_heads_file = optarg; break;
        case 'N': o->audit_heads_syslog = 0; break;
        case 'O': o->allow_missing_models = 1; break;
        case 'Y':
            if (parse_int(optarg, "--backup-retention-days", &o->backup_retention_days))
                return 2;
            o->backup_retention_set = 1;
            break;
        case 'W':
            if (gate_flag(o, optarg))
                return 2;
            break;
        case 1001: o->eval_judge = optarg; break;
        case 1002: o->public_url = optarg; break;
        case 'G':
            if (parse_int(optarg, "--gpu-layers", &o->gpu_layers))
                return 2;
            o->gpu_layers_set = 1;
            break;
        case 'U':
            if (cli_upstream_flag(o->pools, o->models, &o->n_models, optarg))
                return 2;
            break;
        case 'F':
            if (cli_fallback_flag(o->pools, o->models, o->n_models, optarg))
                return 2;
            break;
        case 'h': usage(stdout); return 1;
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "libreair serve: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    return 0;
}

struct loader {
    struct app *app;
    struct serve_opts *o;
    int failed;
    struct ingest *ingest; /* started once the models are loaded, so resumed jobs get vectors */
};

/* Loads every model, then marks the app ready. Runs beside the listener. */
static void *load_models(void *p)
{
    struct loader *l = p;
    for (int i = 0; i < l->o->n_models; i++) {
        struct llm_model_opts *m = &l->o->models[i];
        if (l->o->skip[i])
            continue;
        if (l->o->slots)
            m->n_slots = l->o->slots;
        int slots = m->n_slots ? m->n_slots : 4;
        if (l->o->ctx)
            m->n_ctx = m->n_upstreams ? l->o->ctx : l->o->ctx * slots; /* pools: per request */
        if (l->o->threads)
            m->n_threads = l->o->threads;
        if (l->o->queue)
            m->queue_max = l->o->queue;
        if (l->o->batch)
            m->n_batch = l->o->batch;
        if (l->o->gpu_layers_set)
            m->n_gpu_layers = l->o->gpu_layers;
        if (l->o->prompt_cache_set)
            m->prompt_cache_mib = l->o->prompt_cache ? l->o->prompt_cache : -1;
        double t0 = (double)clock();
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (m->path)
            log_info("serve", "loading model '%s' from %s", m->name, m->path);
        else
            log_info("serve", "model '%s': a pool of %zu upstream%s", m->name, m->n_upstreams,
                     m->n_upstreams > 1 ? "s" : "");
        enum lair_err e = llm_registry_load(l->app->models, m);
        clock_gettime(CLOCK_MONOTONIC, &b);
        (void)t0;
        if (e) {
            log_error("serve", "cannot load model '%s' (%s): %s", m->name, m->path,
                      lair_err_msg(e));
            l->failed = 1;
            continue;
        }
        log_info("serve", "model '%s' loaded in %.2f s", m->name,
                 (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9);
    }
    if (l->failed && !l->o->allow_missing_models) {
        /* a model passed the file check but could not be loaded (memory,
         * a tensor llama.cpp refuses): stop rather than serve without it */
        fprintf(stderr, "libreair serve: a model could not be loaded (above); stopping. "
                        "--allow-missing-models serves without it\n");
        kill(getpid(), SIGTERM);
        return NULL;
    }
    __atomic_store_n(&l->app->ready, 1, __ATOMIC_RELEASE);
    if (l->ingest && ingest_start(l->ingest) != LAIR_OK)
        log_error("serve", "cannot start the ingestion worker");
    printf("libreair: ready (%zu model%s)\n", llm_registry_count(l->app->models),
           llm_registry_count(l->app->models) == 1 ? "" : "s");
    fflush(stdout);
    return NULL;
}

/* Every local model file must exist and be a GGUF model before the server
 * binds: a typo in a path would otherwise leave a server "ready" that
 * answers 404 for the model everyone expects. Its metadata is read, not its
 * weights (cheap). With --allow-missing-models the models that fail are
 * dropped with a warning. Returns nonzero (message printed) to stop. */
static int check_model_files(struct serve_opts *o)
{
    int bad = 0;
    for (int i = 0; i < o->n_models; i++) {
        struct llm_model_opts *m = &o->models[i];
        if (!m->path)
            continue; /* a pool of upstreams */
        struct buf info;
        buf_init(&info, 0);
        enum lair_err e = llm_gguf_info_json(m->path, &info);
        buf_release(&info);
        if (!e)
            continue;
        const char *why = e == LAIR_EIO ? "cannot be read (missing, or no permission)"
                                        : "is not a GGUF model llama.cpp can read";
        if (o->allow_missing_models) {
            log_warn("serve", "model '%s': %s %s: served without it (--allow-missing-models)",
                     m->name, m->path, why);
            o->skip[i] = true;
            continue;
        }
        fprintf(stderr, "libreair serve: model '%s': %s %s\n", m->name, m->path, why);
        bad++;
    }
    if (bad)
        fprintf(stderr, "libreair serve: not started. Fix the path (libreair model info PATH "
                        "checks a file), or give --allow-missing-models to serve without it\n");
    return bad;
}

/* True when listen ("HOST:PORT") names a loopback address (or localhost):
 * nothing but this machine can reach it. */
static bool loopback_listen(const char *listen)
{
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    char host[256];
    if (n >= sizeof(host))
        return false;
    memcpy(host, listen, n);
    host[n] = 0;
    return !strncmp(host, "127.", 4) || !strcmp(host, "[::1]") || !strcmp(host, "::1") ||
           !strcmp(host, "localhost");
}

/* Reads the /metrics token: the file's first line, 16 to 255 printable
 * characters. */
static int read_metrics_token(struct serve_opts *o)
{
    FILE *f = fopen(o->metrics_token_file, "r");
    if (!f) {
        fprintf(stderr, "libreair serve: cannot read the metrics token file %s\n",
                o->metrics_token_file);
        return -1;
    }
    char *got = fgets(o->metrics_token, sizeof(o->metrics_token), f);
    fclose(f);
    size_t n = got ? strcspn(o->metrics_token, "\r\n") : 0;
    o->metrics_token[n] = 0;
    bool printable = true;
    for (size_t i = 0; i < n; i++)
        printable = printable && o->metrics_token[i] > ' ' && o->metrics_token[i] < 127;
    if (n < 16 || n >= sizeof(o->metrics_token) - 1 || !printable) {
        fprintf(stderr,
                "libreair serve: %s: the metrics token must be one line of 16 to 254 printable "
                "characters without spaces (for instance: head -c 24 /dev/urandom | base64)\n",
                o->metrics_token_file);
        return -1;
    }
    return 0;
}

/* Hands every chain's current head to the head writer, so that the place
 * outside the data directory holds one from the start, changes or not. */
static void export_heads(const char *data, struct sysdb *sys, struct tenants *tenants)
{
    unsigned char key[AUDIT_KEY_LEN];
    if (audit_key_load(data, key) != LAIR_OK)
        return;
    struct audit_log l;
    audit_log_system(&l, sys, key);
    audit_head_export_current(&l);
    audit_log_release(&l);
    enum { MAX_T = 4096 };
    struct tenant_row *rows = calloc(MAX_T, sizeof(*rows));
    size_t n = 0;
    if (rows && sysdb_tenant_list(sys, rows, MAX_T, &n) != LAIR_OK)
        n = 0;
    for (size_t i = 0; i < n; i++) {
        struct tenant_db *db;
        if (tenants_get(tenants, rows[i].slug, &db) != LAIR_OK)
            continue;
        audit_log_tenant(&l, db, key);
        audit_head_export_current(&l);
        audit_log_release(&l);
        tenant_db_put(db);
    }
    free(rows);
    sodium_memzero(key, sizeof(key));
}

/* Writes to the operator's audit log where models' requests may go: every
 * upstream with its zone (configuration changes are audited). */
static void audit_upstreams(const char *data, struct sysdb *sys, const char *action,
                            const char *source, const struct llm_model_opts *models, int n)
{
    char detail[AUDIT_DETAIL_MAX + 1] = "";
    size_t len = 0, count = 0;
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < models[i].n_upstreams; k++) {
            const struct llm_upstream_opts *u = &models[i].upstreams[k];
            int w = snprintf(detail + len, sizeof(detail) - len, "%s%s:%s:%s", len ? " " : "",
                             models[i].name, u->remote ? "remote" : "local", u->url);
            if (w > 0 && (size_t)w < sizeof(detail) - len)
                len += (size_t)w;
            count++;
        }
    if (count == 0 && strcmp(action, "upstreams.reload"))
        return;
    char target[300];
    snprintf(target, sizeof(target), "config:%s", source);
    struct audit_event ev = {
        .actor = "serve", .action = action, .target = target, .outcome = "ok", .detail = detail};
    if (audit_record(data, sys, NULL, &ev) != LAIR_OK)
        log_error("serve", "cannot audit the upstream configuration");
}

/* SIGHUP: reads the configuration file's pools again and replaces each
 * pool's upstreams and fallbacks (requests in flight finish where they
 * are); a pool that is new is added. Upstreams given by flags stay. */
static void reload_upstreams(struct app *app, struct serve_opts *o, const char *data,
                             struct sysdb *sys)
{
    if (!o->config) {
        log_info("serve", "SIGHUP: no --config file to read upstreams from; nothing changed");
        return;
    }
    struct cli_pools *cp = calloc(1, sizeof(*cp));
    struct llm_model_opts *models = calloc(CLI_MAX_MODELS, sizeof(*models));
    int n = 0, changed = 0, failed = 0;
    json_error_t je;
    json_t *root = cp && models ? json_load_file(o->config, JSON_REJECT_DUPLICATES, &je) : NULL;
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(root, "models"), i, m)
    {
        if (json_object_get(m, "upstreams") && cli_upstream_config(cp, models, &n, m, o->config))
            failed = 1;
    }
    if (!root || failed) {
        log_error("serve", "SIGHUP: %s cannot be read as it is; the upstreams are unchanged",
                  o->config);
        n = 0;
    }
    for (int k = 0; k < n; k++) {
        enum lair_err e = llm_registry_reload(app->models, &models[k]);
        if (e == LAIR_ENOTFOUND)
            e = llm_registry_load(app->models, &models[k]);
        if (e)
            log_error("serve", "SIGHUP: model '%s': %s", models[k].name, lair_err_msg(e));
        else
            changed++;
    }
    if (n)
        log_info("serve", "SIGHUP: upstreams of %d model%s reloaded from %s", changed,
                 changed == 1 ? "" : "s", o->config);
    if (changed)
        audit_upstreams(data, sys, "upstreams.reload", o->config, models, n);
    json_decref(root);
    if (cp)
        cli_pools_release(cp);
    free(cp);
    free(models);
}

static void release_opts(struct serve_opts *o)
{
    json_decref(o->gate_flags);
    json_decref(o->gate_file);
    json_decref(o->publish_gate);
    json_decref(o->oidc);
    for (int i = 0; i < o->n_owned; i++)
        free(o->owned[i]);
    if (o->pools) {
        cli_pools_release(o->pools);
        free(o->pools);
    }
}

int cmd_serve(int argc, char **argv)
{
    struct serve_opts o = {.audit_heads_syslog = -1};
    if (!(o.pools = calloc(1, sizeof(*o.pools)))) {
        fprintf(stderr, "libreair serve: out of memory\n");
        return 1;
    }
    int rc = parse_args(argc, argv, &o);
    if (rc) {
        release_opts(&o);
        return rc == 1 ? 0 : rc;
    }
    if (o.config && load_config(&o, o.config)) {
        release_opts(&o);
        return 1;
    }
    const char *env_model = getenv("LIBREAIR_MODEL");
    if (env_model && *env_model && o.n_models == 0 && add_model(&o, "default", 7, env_model)) {
        release_opts(&o);
        return 1;
    }
    if (!o.listen)
        o.listen = getenv("LIBREAIR_LISTEN") ? getenv("LIBREAIR_LISTEN") : "127.0.0.1:8080";
    if (!o.tls_cert != !o.tls_key) {
        fprintf(stderr, "libreair serve: --tls-cert and --tls-key go together\n");
        release_opts(&o);
        return 2;
    }
    if (!o.tls_cert && !o.insecure_http && !loopback_listen(o.listen)) {
        fprintf(stderr,
                "libreair serve: %s is not a loopback address: give --tls-cert and --tls-key "
                "(keys must not cross the network in clear), put a TLS reverse proxy in front "
                "and listen on 127.0.0.1, or say --insecure-http\n",
                o.listen);
        release_opts(&o);
        return 2;
    }
    if (check_gate(&o)) {
        release_opts(&o);
        return 2;
    }
    if (check_model_files(&o)) {
        release_opts(&o);
        return 1;
    }
    if (o.audit_heads_file) { /* a destination that cannot be written is an error now */
        FILE *f = fopen(o.audit_heads_file, "a");
        if (!f) {
            fprintf(stderr, "libreair serve: cannot append to %s (--audit-heads-file)\n",
                    o.audit_heads_file);
            release_opts(&o);
            return 1;
        }
        fclose(f);
    }
    if (o.metrics_token_file && read_metrics_token(&o)) {
        release_opts(&o);
        return 1;
    }
    const char *data = cli_data_dir(o.data);

    struct sysdb *sys = NULL;
    enum lair_err e = sysdb_open(data, &sys);
    if (e == LAIR_ENOTFOUND) {
        fprintf(stderr,
                "libreair serve: %s is not a data directory; run 'libreair init --data %s'\n", data,
                data);
        release_opts(&o);
        return 1;
    }
    if (e) {
        fprintf(stderr, "libreair serve: cannot open %s: %s\n", data, lair_err_msg(e));
        release_opts(&o);
        return 1;
    }

    /* Signals are taken synchronously by this thread; every other thread
     * inherits the blocked mask. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);

    llm_global_init();
    struct app app = {.sys = sys,
                      .data_dir = data,
                      .started = time(NULL),
                      .n_models_configured = o.n_models,
                      .tenant_raw_models = o.tenant_raw_models != 0,
                      .backup_retention_days = o.backup_retention_days,
                      .publish_gate = o.publish_gate,
                      .eval_judge = o.eval_judge,
                      .sessions = {.idle = (int64_t)o.session_idle_min * 60,
                                   .absolute = (int64_t)o.session_max_hours * 3600}};
    char public_url[512];
    if (o.public_url)
        snprintf(public_url, sizeof(public_url), "%s", o.public_url);
    else
        snprintf(public_url, sizeof(public_url), "%s://%s", o.tls_cert ? "https" : "http",
                 o.listen);
    app.public_url = public_url;
    struct oidc_rp *oidc = NULL;
    if (o.oidc) {
        char why[300] = "";
        if (!json_object_get(o.oidc, "public_url") && json_is_object(o.oidc))
            json_object_set_new(o.oidc, "public_url", json_string(public_url));
        if (oidc_rp_new(o.oidc, &oidc, why, sizeof(why)) != LAIR_OK) {
            fprintf(stderr, "libreair serve: %s: %s\n", o.config ? o.config : "oidc", why);
            release_opts(&o);
            sysdb_free(sys);
            return 2;
        }
        app.oidc = oidc;
        log_info("serve", "sign-in with OpenID Connect: %zu provider%s, redirect URI %s/auth/callback",
                 oidc_rp_count(oidc), oidc_rp_count(oidc) == 1 ? "" : "s",
                 oidc_rp_public_url(oidc));
    }
    app.models = llm_registry_new();
    app.quotas = quota_state_new();
    if (tenants_new(data, sys, &app.tenants) != LAIR_OK)
        app.tenants = NULL;
    if (app.tenants && o.vector_cache_set)
        vcache_set_budget(tenants_vectors(app.tenants), (size_t)o.vector_cache << 20);
    struct http_config hc = {.listen = o.listen,
                             .routes = api_routes,
                             .n_routes = api_routes_count,
                             .sys = sys,
                             .app = &app,
                             .limits = o.limits,
                             .metrics_extra = api_metrics_extra,
                             .admit = api_admit,
                             .on_done = api_on_done,
                             .metrics_token = o.metrics_token_file ? o.metrics_token : NULL,
                             .tls_cert = o.tls_cert,
                             .tls_key = o.tls_key,
                             .trusted_proxies = o.trusted_proxies,
                             .session = api_session_auth,
                             .static_file = api_static_file};
    struct http_server *srv = NULL;
    struct ingest *ingest = NULL;
    struct ingest_config ic = {.sys = sys, .tenants = app.tenants, .models = app.models};
    if (app.tenants && app.models && ingest_new(&ic, &ingest) == LAIR_OK)
        api_kb_set_ingest(ingest);
    /* repeated refusals are counted, not written one by one (docs/audit.md) */
    if (api_refusals_start(&app) != LAIR_OK)
        log_error("serve", "cannot aggregate refusals: each one is audited on its own");
    if (!app.models || !app.quotas || !app.tenants || !ingest || (e = http_start(&hc, &srv))) {
        fprintf(stderr, "libreair serve: cannot listen on %s\n", o.listen);
        api_refusals_stop(&app);
        api_kb_set_ingest(NULL);
        ingest_free(ingest);
        llm_registry_free(app.models);
        quota_state_free(app.quotas);
        tenants_free(app.tenants);
        oidc_rp_free(oidc);
        sysdb_free(sys);
        release_opts(&o);
        return 1;
    }
    char host[256];
    const char *colon = strrchr(o.listen, ':');
    snprintf(host, sizeof(host), "%.*s", (int)(colon - o.listen), o.listen);
    printf("libreair: listening on %s://%s:%d\n", http_tls(srv) ? "https" : "http",
           *host ? host : "0.0.0.0", http_port(srv));
    fflush(stdout);

    struct loader l = {&app, &o, 0, ingest};
    pthread_t loader;
    pthread_create(&loader, NULL, load_models, &l);
    /* retention purges; the first run completes erasures a crash interrupted */
    struct gdpr_purger *purger = NULL;
    if (gdpr_purge_start(sys, app.tenants, data, &purger) != LAIR_OK)
        log_error("serve", "cannot start the retention purge");
    struct audit_head_opts aho = {.syslog = o.audit_heads_syslog != 0, .file = o.audit_heads_file};
    if (audit_head_start(&aho) != LAIR_OK)
        log_error("serve", "the audit heads are not written outside the data directory");
    else
        export_heads(data, sys, app.tenants);
    audit_upstreams(data, sys, "upstreams.configure", o.config ? o.config : "flags", o.models,
                    o.n_models);
    int sig = 0;
    while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP) {
        reload_upstreams(&app, &o, data, sys);
        if (http_tls(srv) && http_reload_tls(srv) != LAIR_OK)
            log_error("serve", "SIGHUP: the certificate or key cannot be used; the old ones stay");
    }
    /* Drain: no new connection, requests under way finish (or, past the
     * grace period, streams end with an error event and what was said is
     * stored); then everything stops. */
    log_info("serve", "signal %d: shutting down (finishing the requests under way)", sig);
    int cut = http_drain(srv);
    if (cut > 0)
        log_info("serve", "%d request(s) cut short by the shutdown", cut);
    pthread_join(loader, NULL);
    gdpr_purge_stop(purger);
    http_stop(srv);
    api_evals_stop();        /* evaluation runs: before the models and the tenants */
    api_refusals_stop(&app); /* after the last request, before the tenants */
    audit_head_stop();        /* after the last append */
    api_kb_set_ingest(NULL);
    ingest_free(ingest); /* after the last request, before the models and databases it uses */
    llm_registry_free(app.models);
    quota_state_free(app.quotas);
    tenants_free(app.tenants);
    oidc_rp_free(oidc);
    sysdb_free(sys);
    bool failed = l.failed && !o.allow_missing_models;
    release_opts(&o);
    return failed ? 1 : 0;
}
