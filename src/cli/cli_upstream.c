/* Upstream pools and fallbacks as the operator declares them: the
 * `--upstream` and `--fallback` flags and the "upstreams" and "fallback"
 * fields of a model in the configuration file (docs/upstreams.md), for
 * `serve` and `upstream`. API keys are read here from their file or the
 * environment, kept in memory only, and wiped on release. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "cli/cli.h"

#include "core/banned.h"

static char *own(struct cli_pools *cp, const char *s, size_t n, bool secret)
{
    if (cp->n_owned >= (int)(sizeof(cp->owned) / sizeof(cp->owned[0])))
        return NULL;
    char *p = strndup(s, n);
    if (p) {
        cp->owned[cp->n_owned] = p;
        cp->secret[cp->n_owned] = secret;
        cp->n_owned++;
    }
    return p;
}

void cli_pools_release(struct cli_pools *cp)
{
    for (int i = 0; i < cp->n_owned; i++) {
        if (cp->secret[i])
            sodium_memzero(cp->owned[i], strlen(cp->owned[i]));
        free(cp->owned[i]);
    }
    cp->n_owned = 0;
}

/* Reads an API key: the first line of file, or the environment variable.
 * Never printed. */
static const char *read_key(struct cli_pools *cp, const char *file, const char *env,
                            const char *where)
{
    if (env) {
        const char *v = getenv(env);
        if (!v || !*v) {
            fprintf(stderr, "libreair: %s: the environment variable %s is empty\n", where, env);
            return NULL;
        }
        return own(cp, v, strlen(v), true);
    }
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "libreair: %s: cannot read the key file %s: %s\n", where, file,
                strerror(errno));
        return NULL;
    }
    char line[1024];
    char *got = fgets(line, sizeof(line), f);
    fclose(f);
    size_t n = got ? strcspn(line, "\r\n") : 0;
    const char *k = n ? own(cp, line, n, true) : NULL;
    sodium_memzero(line, sizeof(line));
    if (!k)
        fprintf(stderr, "libreair: %s: the key file %s is empty\n", where, file);
    return k;
}

/* The model named name in models[], added (with no GGUF path) when absent.
 * -1 when there is no room, or the name is an embedded model's. */
static int pool_model(struct llm_model_opts *models, int *n_models, const char *name, size_t nlen,
                      struct cli_pools *cp)
{
    for (int i = 0; i < *n_models; i++) {
        if (strlen(models[i].name) != nlen || strncmp(models[i].name, name, nlen))
            continue;
        if (models[i].path) {
            fprintf(stderr, "libreair: '%.*s' is a GGUF model: it cannot also have upstreams\n",
                    (int)nlen, name);
            return -1;
        }
        return i;
    }
    if (*n_models >= CLI_MAX_MODELS) {
        fprintf(stderr, "libreair: at most %d models\n", CLI_MAX_MODELS);
        return -1;
    }
    struct llm_model_opts *m = &models[*n_models];
    memset(m, 0, sizeof(*m));
    if (!(m->name = own(cp, name, nlen, false)))
        return -1;
    m->kind = "upstream";
    return (*n_models)++;
}

static struct llm_upstream_opts *new_upstream(struct cli_pools *cp, struct llm_model_opts *models,
                                              int i)
{
    if (cp->n_ups[i] >= CLI_MAX_UPSTREAMS) {
        fprintf(stderr, "libreair: model '%s': at most %d upstreams\n", models[i].name,
                CLI_MAX_UPSTREAMS);
        return NULL;
    }
    struct llm_upstream_opts *u = &cp->ups[i][cp->n_ups[i]++];
    memset(u, 0, sizeof(*u));
    models[i].upstreams = cp->ups[i];
    models[i].n_upstreams = cp->n_ups[i];
    return u;
}

static bool url_ok(const char *u)
{
    return !strncmp(u, "http://", 7) || !strncmp(u, "https://", 8);
}

static int set_zone(struct llm_upstream_opts *u, const char *z, size_t n, const char *where)
{
    if (n == 5 && !strncmp(z, "local", 5))
        u->remote = false;
    else if (n == 6 && !strncmp(z, "remote", 6))
        u->remote = true;
    else {
        fprintf(stderr, "libreair: %s: zone must be local or remote\n", where);
        return -1;
    }
    return 0;
}

static int parse_count(const char *v, size_t n, int lo, int hi, int *out, const char *what,
                       const char *where)
{
    char buf[32];
    char *end;
    if (n == 0 || n >= sizeof(buf))
        goto bad;
    memcpy(buf, v, n);
    buf[n] = 0;
    long x = strtol(buf, &end, 10);
    if (*end || x < lo || x > hi)
        goto bad;
    *out = (int)x;
    return 0;
bad:
    fprintf(stderr, "libreair: %s: %s must be an integer from %d to %d\n", where, what, lo, hi);
    return -1;
}

int cli_upstream_flag(struct cli_pools *cp, struct llm_model_opts *models, int *n_models,
                      const char *arg)
{
    const char *eq = strchr(arg, '='), *where = "--upstream";
    if (!eq || eq == arg) {
        fprintf(stderr, "libreair: --upstream wants NAME=URL[,model=M][,zone=local|remote]"
                        "[,weight=W][,max=N][,key_file=F][,key_env=V][,ca_file=F], got '%s'\n",
                arg);
        return -1;
    }
    int i = pool_model(models, n_models, arg, (size_t)(eq - arg), cp);
    struct llm_upstream_opts *u = i >= 0 ? new_upstream(cp, models, i) : NULL;
    if (!u)
        return -1;
    const char *p = eq + 1, *key_file = NULL, *key_env = NULL;
    size_t url_len = strcspn(p, ",");
    if (!(u->url = own(cp, p, url_len, false)) || !url_ok(u->url)) {
        fprintf(stderr, "libreair: --upstream: '%.*s' is not an http:// or https:// URL\n",
                (int)url_len, p);
        return -1;
    }
    for (p += url_len; *p == ',';) {
        p++;
        size_t len = strcspn(p, ","), kl = strcspn(p, "=");
        if (kl >= len) {
            fprintf(stderr, "libreair: --upstream: '%.*s' is not KEY=VALUE\n", (int)len, p);
            return -1;
        }
        const char *v = p + kl + 1;
        size_t vl = len - kl - 1;
        int rc = 0;
#define IS(k) (kl == sizeof(k) - 1 && !strncmp(p, k, kl))
        if (IS("model"))
            rc = (u->model = own(cp, v, vl, false)) ? 0 : -1;
        else if (IS("zone"))
            rc = set_zone(u, v, vl, where);
        else if (IS("weight"))
            rc = parse_count(v, vl, 1, 1000, &u->weight, "weight", where);
        else if (IS("max"))
            rc = parse_count(v, vl, 1, 100000, &u->max_concurrent, "max", where);
        else if (IS("key_file"))
            rc = (key_file = own(cp, v, vl, false)) ? 0 : -1;
        else if (IS("key_env"))
            rc = (key_env = own(cp, v, vl, false)) ? 0 : -1;
        else if (IS("ca_file"))
            rc = (u->ca_file = own(cp, v, vl, false)) ? 0 : -1;
        else {
            fprintf(stderr, "libreair: --upstream: unknown option '%.*s'\n", (int)kl, p);
            rc = -1;
        }
#undef IS
        if (rc)
            return -1;
        p += len;
    }
    if ((key_file || key_env) && !(u->api_key = read_key(cp, key_file, key_env, where)))
        return -1;
    return 0;
}

int cli_fallback_flag(struct cli_pools *cp, struct llm_model_opts *models, int n_models,
                      const char *arg)
{
    const char *eq = strchr(arg, '=');
    int i = -1;
    for (int k = 0; eq && k < n_models; k++)
        if (strlen(models[k].name) == (size_t)(eq - arg) &&
            !strncmp(models[k].name, arg, (size_t)(eq - arg)))
            i = k;
    if (i < 0 || !eq[1]) {
        fprintf(stderr, "libreair: --fallback wants NAME=OTHER[,OTHER…] for a model declared "
                        "before it, got '%s'\n",
                arg);
        return -1;
    }
    for (const char *p = eq + 1; *p;) {
        size_t len = strcspn(p, ",");
        if (cp->n_fallback[i] >= CLI_MAX_FALLBACK || len == 0)
            return -1;
        if (!(cp->fallback[i][cp->n_fallback[i]++] = own(cp, p, len, false)))
            return -1;
        p += len + (p[len] == ',');
    }
    models[i].fallback = cp->fallback[i];
    models[i].n_fallback = cp->n_fallback[i];
    return 0;
}

static int str_opt(struct cli_pools *cp, json_t *o, const char *key, const char **out,
                   const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_string(v)) {
        fprintf(stderr, "libreair: %s: '%s' must be a string\n", where, key);
        return -1;
    }
    return (*out = own(cp, json_string_value(v), json_string_length(v), false)) ? 0 : -1;
}

static int int_opt(json_t *o, const char *key, int lo, int hi, int *out, const char *where)
{
    json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi) {
        fprintf(stderr, "libreair: %s: '%s' must be an integer from %d to %d\n", where, key, lo,
                hi);
        return -1;
    }
    *out = (int)json_integer_value(v);
    return 0;
}

static const char *const upstream_fields[] = {
    "url",       "model",      "api_key_file", "api_key_env",           "zone",
    "weight",    "max_concurrent",             "connect_timeout_ms",    "first_byte_timeout_ms",
    "idle_timeout_ms",         "ca_file",      "pinned_public_key",     "client_cert",
    "client_key", NULL};

static int upstream_json(struct cli_pools *cp, struct llm_upstream_opts *u, json_t *o,
                         const char *where)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        int k = 0;
        while (upstream_fields[k] && strcmp(upstream_fields[k], key))
            k++;
        if (!upstream_fields[k]) {
            fprintf(stderr, "libreair: %s: unknown upstream setting '%s'\n", where, key);
            return -1;
        }
    }
    const char *zone = NULL, *key_file = NULL, *key_env = NULL;
    if (str_opt(cp, o, "url", &u->url, where) || str_opt(cp, o, "model", &u->model, where) ||
        str_opt(cp, o, "zone", &zone, where) || str_opt(cp, o, "api_key_file", &key_file, where) ||
        str_opt(cp, o, "api_key_env", &key_env, where) ||
        str_opt(cp, o, "ca_file", &u->ca_file, where) ||
        str_opt(cp, o, "pinned_public_key", &u->pinned_pubkey, where) ||
        str_opt(cp, o, "client_cert", &u->client_cert, where) ||
        str_opt(cp, o, "client_key", &u->client_key, where) ||
        int_opt(o, "weight", 1, 1000, &u->weight, where) ||
        int_opt(o, "max_concurrent", 1, 100000, &u->max_concurrent, where) ||
        int_opt(o, "connect_timeout_ms", 1, 600000, &u->connect_timeout_ms, where) ||
        int_opt(o, "first_byte_timeout_ms", 1, 3600000, &u->first_byte_timeout_ms, where) ||
        int_opt(o, "idle_timeout_ms", 1, 3600000, &u->idle_timeout_ms, where))
        return -1;
    if (!u->url || !url_ok(u->url)) {
        fprintf(stderr, "libreair: %s: 'url' must be an http:// or https:// URL\n", where);
        return -1;
    }
    if (zone && set_zone(u, zone, strlen(zone), where))
        return -1;
    if ((key_file || key_env) && !(u->api_key = read_key(cp, key_file, key_env, where)))
        return -1;
    return 0;
}

int cli_upstream_config(struct cli_pools *cp, struct llm_model_opts *models, int *n_models,
                        json_t *m, const char *file)
{
    json_t *name = json_object_get(m, "name"), *ups = json_object_get(m, "upstreams");
    char where[256];
    snprintf(where, sizeof(where), "%s: model '%s'", file,
             json_is_string(name) ? json_string_value(name) : "?");
    if (!json_is_string(name) || !json_is_array(ups) || json_array_size(ups) == 0) {
        fprintf(stderr, "libreair: %s: a pool needs a string 'name' and a non-empty array "
                        "'upstreams'\n",
                where);
        return -1;
    }
    int i = pool_model(models, n_models, json_string_value(name), json_string_length(name), cp);
    if (i < 0)
        return -1;
    size_t k;
    json_t *u;
    json_array_foreach(ups, k, u)
    {
        struct llm_upstream_opts *o = json_is_object(u) ? new_upstream(cp, models, i) : NULL;
        if (!o || upstream_json(cp, o, u, where))
            return -1;
    }
    json_t *fb = json_object_get(m, "fallback");
    json_t *f;
    json_array_foreach(fb, k, f)
    {
        if (!json_is_string(f) || cp->n_fallback[i] >= CLI_MAX_FALLBACK) {
            fprintf(stderr, "libreair: %s: 'fallback' must list at most %d model names\n", where,
                    CLI_MAX_FALLBACK);
            return -1;
        }
        cp->fallback[i][cp->n_fallback[i]++] =
            own(cp, json_string_value(f), json_string_length(f), false);
    }
    struct llm_model_opts *mo = &models[i];
    mo->fallback = cp->fallback[i];
    mo->n_fallback = cp->n_fallback[i];
    json_t *emb = json_object_get(m, "embeddings"), *routing = json_object_get(m, "routing");
    mo->embeddings = json_is_true(emb);
    if (routing && (!json_is_string(routing) || (strcmp(json_string_value(routing), "affinity") &&
                                                 strcmp(json_string_value(routing), "least_busy")))) {
        fprintf(stderr, "libreair: %s: 'routing' must be \"affinity\" or \"least_busy\"\n", where);
        return -1;
    }
    mo->no_affinity = routing && !strcmp(json_string_value(routing), "least_busy");
    if (int_opt(m, "dimensions", 1, 65536, &mo->n_embd, where) ||
        int_opt(m, "ctx", 1, 1 << 22, &mo->n_ctx, where) ||
        int_opt(m, "queue", 1, 1 << 20, &mo->queue_max, where) ||
        int_opt(m, "health_interval_s", 1, 3600, &mo->health_interval_s, where))
        return -1;
    if (mo->embeddings && mo->n_embd == 0) {
        fprintf(stderr, "libreair: %s: an embedding pool needs 'dimensions' (the vectors' size)\n",
                where);
        return -1;
    }
    return 0;
}
