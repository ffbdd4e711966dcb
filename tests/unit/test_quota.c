/* Unit tests for quotas (src/api/quota.c) over real HTTP on an in-process
 * server with the real routing table and admit hook, and no model: an
 * admitted /v1/chat/completions request then fails later (503 while no
 * model is loaded, or 404), a refused one is a 429. So "not 429" means
 * admitted.
 *
 * Requests-per-minute use the default 60 s window: every burst here takes far
 * less than the 1/rpm of a minute that would refill a request. One case
 * shortens the window with LIBREAIR_QUOTA_WINDOW_S to see a bucket refill. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "api/app.h"
#include "api/conversations_api.h"
#include "store/conversations.h"

static char dir[64];
static struct sysdb *sys;
static struct app app;
static struct http_server *srv;
static char url[64];

struct tkey {
    char text[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
};

static int setup(void **state)
{
    (void)state;
    unsetenv("LIBREAIR_QUOTA_WINDOW_S");
    snprintf(dir, sizeof(dir), "/tmp/lair-quota-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char data[128];
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys))
        return -1;
    app.sys = sys;
    app.data_dir = strdup(data);
    app.models = llm_registry_new();
    app.quotas = quota_state_new();
    if (tenants_new(data, sys, &app.tenants))
        return -1;
    struct http_config hc = {.listen = "127.0.0.1:0",
                             .routes = api_routes,
                             .n_routes = api_routes_count,
                             .sys = sys,
                             .app = &app,
                             .admit = api_admit,
                             .on_done = api_on_done};
    if (http_start(&hc, &srv))
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_port(srv));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_stop(srv);
    quota_state_free(app.quotas);
    llm_registry_free(app.models);
    tenants_free(app.tenants);
    sysdb_free(sys);
    free((char *)app.data_dir);
    curl_global_cleanup();
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd);
}

static void make_tenant(const char *slug, int64_t rpm, int64_t tpd)
{
    assert_int_equal(tenants_create(app.tenants, slug, slug), LAIR_OK);
    assert_int_equal(sysdb_tenant_set_limits(sys, slug, rpm, tpd, -1), LAIR_OK);
}

static void make_key(const char *tenant, enum key_role role, int64_t rpm, int64_t tpd,
                     struct tkey *k)
{
    struct key_spec spec = {
        .role = role, .tenant = tenant, .rpm_limit = rpm, .tokens_per_day = tpd};
    assert_int_equal(sysdb_key_create_spec(sys, &spec, k->text, k->id), LAIR_OK);
}

struct answer {
    long status;
    int retry_after;
    char message[256], code[64], type[64];
};

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct answer *a = ud;
    if (size * n > 12 && !strncasecmp(p, "Retry-After:", 12))
        a->retry_after = (int)strtol(p + 12, NULL, 10);
    return size * n;
}

/* One chat request with key. */
static struct answer chat(const char *key)
{
    struct answer a = {0};
    CURL *c = curl_easy_init();
    char u[128], auth[128];
    snprintf(u, sizeof(u), "%s/v1/chat/completions", url);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    struct curl_slist *h = curl_slist_append(NULL, auth);
    h = curl_slist_append(h, "Content-Type: application/json");
    struct buf b;
    buf_init(&b, 0);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS,
                     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &a);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a.status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *o = json_loadb(b.ptr ? b.ptr : "", b.len, 0, NULL);
    json_t *err = json_object_get(o, "error");
    const char *m = json_string_value(json_object_get(err, "message"));
    const char *code = json_string_value(json_object_get(err, "code"));
    const char *type = json_string_value(json_object_get(err, "type"));
    snprintf(a.message, sizeof(a.message), "%s", m ? m : "");
    snprintf(a.code, sizeof(a.code), "%s", code ? code : "");
    snprintf(a.type, sizeof(a.type), "%s", type ? type : "");
    json_decref(o);
    buf_release(&b);
    return a;
}

static void admitted(const char *key)
{
    struct answer a = chat(key);
    if (a.status == 429)
        fail_msg("refused: %s", a.message);
    assert_true(a.status == 503 || a.status == 404 || a.status == 200);
}

static struct answer refused(const char *key)
{
    struct answer a = chat(key);
    if (a.status != 429)
        fail_msg("admitted (%ld) where a 429 was due", a.status);
    assert_string_equal(a.type, "rate_limit_error");
    assert_true(a.retry_after >= 1);
    return a;
}

static void test_key_rpm(void **state)
{
    (void)state;
    struct tkey k, other;
    make_tenant("ville-a", 0, 0);
    make_key("ville-a", ROLE_USER, 3, 0, &k);
    make_key("ville-a", ROLE_USER, 0, 0, &other);
    for (int i = 0; i < 3; i++)
        admitted(k.text);
    struct answer a = refused(k.text);
    assert_string_equal(a.message, "rate limit of 3 requests per minute for this key reached");
    assert_string_equal(a.code, "rate_limit_exceeded");
    assert_true(a.retry_after <= 20); /* one request comes back every 20 s */
    refused(k.text);
    /* another key of the same tenant is not held back */
    for (int i = 0; i < 5; i++)
        admitted(other.text);
}

static void test_tenant_rpm(void **state)
{
    (void)state;
    struct tkey b1, b2, c1;
    make_tenant("ville-b", 4, 0);
    make_tenant("ville-c", 0, 0);
    make_key("ville-b", ROLE_USER, 0, 0, &b1);
    make_key("ville-b", ROLE_ADMIN, 0, 0, &b2);
    make_key("ville-c", ROLE_USER, 0, 0, &c1);
    admitted(b1.text);
    admitted(b2.text);
    admitted(b1.text);
    admitted(b2.text);
    struct answer a = refused(b1.text);
    assert_string_equal(a.message,
                        "rate limit of 4 requests per minute for tenant ville-b reached");
    assert_true(a.retry_after <= 15);
    a = refused(b2.text);
    assert_string_equal(a.message,
                        "rate limit of 4 requests per minute for tenant ville-b reached");
    /* another tenant is not held back */
    for (int i = 0; i < 6; i++)
        admitted(c1.text);
}

/* A request refused by one limit takes nothing from the other. */
static void test_refusals_take_nothing(void **state)
{
    (void)state;
    struct tkey d1, d2;
    make_tenant("ville-d", 5, 0);
    make_key("ville-d", ROLE_USER, 2, 0, &d1);
    make_key("ville-d", ROLE_USER, 0, 0, &d2);
    admitted(d1.text);
    admitted(d1.text);
    for (int i = 0; i < 3; i++) {
        struct answer a = refused(d1.text);
        assert_string_equal(a.message, "rate limit of 2 requests per minute for this key reached");
    }
    /* the tenant's bucket lost 2, not 5 */
    admitted(d2.text);
    admitted(d2.text);
    admitted(d2.text);
    struct answer a = refused(d2.text);
    assert_string_equal(a.message,
                        "rate limit of 5 requests per minute for tenant ville-d reached");
    /* both empty: the longer wait is the one told */
    a = refused(d1.text);
    assert_true(a.retry_after >= 1 && a.retry_after <= 30);
}

static void principal_of(const struct tkey *k, struct principal *p)
{
    assert_int_equal(sysdb_key_check(sys, str_c(k->text), p), LAIR_OK);
}

static int seconds_to_midnight(void)
{
    return (int)(86400 - time(NULL) % 86400);
}

static void test_tokens_per_day(void **state)
{
    (void)state;
    struct tkey e1, e2, f1, f2;
    make_tenant("ville-e", 0, 0);
    make_key("ville-e", ROLE_USER, 0, 100, &e1);
    make_key("ville-e", ROLE_USER, 0, 0, &e2);
    struct principal p1, p2;
    principal_of(&e1, &p1);
    principal_of(&e2, &p2);
    admitted(e1.text);
    api_usage_add(&app, &p1, 60);
    admitted(e1.text);
    api_usage_add(&app, &p1, 39);
    admitted(e1.text); /* 99 of 100 */
    api_usage_add(&app, &p1, 5);
    struct answer a = refused(e1.text);
    assert_string_equal(a.message, "daily token quota of 100 tokens for this key used up");
    assert_string_equal(a.code, "daily_quota_exceeded");
    int mid = seconds_to_midnight();
    assert_true(a.retry_after >= mid - 5 && a.retry_after <= mid + 5);
    admitted(e2.text); /* the tenant has no daily quota */
    api_usage_add(&app, &p2, 1000);
    admitted(e2.text);

    /* stored in usage_daily, per key and for the tenant */
    struct tenant_db *db;
    assert_int_equal(tenants_get(app.tenants, "ville-e", &db), LAIR_OK);
    char day[11];
    conv_usage_day(time(NULL), day);
    int64_t r, t;
    assert_int_equal(conv_usage_get(db, day, e1.id, &r, &t), LAIR_OK);
    assert_true(r == 3 && t == 104);
    assert_int_equal(conv_usage_get(db, day, CONV_USAGE_TENANT, &r, &t), LAIR_OK);
    assert_true(r == 4 && t == 1104);
    tenant_db_put(db);

    /* a tenant's daily quota holds across its keys */
    make_tenant("ville-f", 0, 50);
    make_key("ville-f", ROLE_USER, 0, 0, &f1);
    make_key("ville-f", ROLE_EDITOR, 0, 0, &f2);
    struct principal pf2;
    principal_of(&f2, &pf2);
    admitted(f1.text);
    api_usage_add(&app, &pf2, 50);
    a = refused(f1.text);
    assert_string_equal(a.message, "daily token quota of 50 tokens for tenant ville-f used up");
    refused(f2.text);

    /* counters come back from usage_daily after a restart */
    quota_state_free(app.quotas);
    app.quotas = quota_state_new();
    a = refused(f1.text);
    assert_string_equal(a.message, "daily token quota of 50 tokens for tenant ville-f used up");
    a = refused(e1.text);
    assert_string_equal(a.message, "daily token quota of 100 tokens for this key used up");
    admitted(e2.text);
}

/* A refused request does not count as a request in the per-minute buckets
 * even when its daily quota refused it. */
static void test_daily_refusal_takes_no_request(void **state)
{
    (void)state;
    struct tkey g1, g2;
    make_tenant("ville-g", 2, 0);
    make_key("ville-g", ROLE_USER, 0, 10, &g1);
    make_key("ville-g", ROLE_USER, 0, 0, &g2);
    struct principal p;
    principal_of(&g1, &p);
    api_usage_add(&app, &p, 10);
    for (int i = 0; i < 3; i++)
        refused(g1.text);
    admitted(g2.text);
    admitted(g2.text);
    refused(g2.text);
}

static void test_operator_has_no_quota(void **state)
{
    (void)state;
    char key[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
    struct key_spec spec = {.role = ROLE_OPERATOR, .rpm_limit = 1, .tokens_per_day = 1};
    assert_int_equal(sysdb_key_create_spec(sys, &spec, key, id), LAIR_OK);
    for (int i = 0; i < 4; i++)
        admitted(key);
}

struct burst {
    const char *key;
    int ok, no;
};

static void *burst_thread(void *arg)
{
    struct burst *b = arg;
    for (int i = 0; i < 5; i++) {
        struct answer a = chat(b->key);
        if (a.status == 429)
            __atomic_add_fetch(&b->no, 1, __ATOMIC_RELAXED);
        else
            __atomic_add_fetch(&b->ok, 1, __ATOMIC_RELAXED);
    }
    return NULL;
}

/* 40 concurrent requests against a limit of 12: exactly 12 pass. */
static void test_concurrent(void **state)
{
    (void)state;
    struct tkey k;
    make_tenant("ville-h", 0, 0);
    make_key("ville-h", ROLE_USER, 12, 0, &k);
    struct burst b = {k.text, 0, 0};
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        pthread_create(&th[i], NULL, burst_thread, &b);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(b.ok, 12);
    assert_int_equal(b.no, 28);
}

/* With a 1-second window (the test knob), a bucket refills: after the
 * Retry-After the server gave, the key is admitted again. */
static void test_window_knob(void **state)
{
    (void)state;
    setenv("LIBREAIR_QUOTA_WINDOW_S", "1", 1);
    quota_state_free(app.quotas);
    app.quotas = quota_state_new();
    unsetenv("LIBREAIR_QUOTA_WINDOW_S");
    struct tkey k;
    make_tenant("ville-i", 0, 0);
    make_key("ville-i", ROLE_USER, 2, 0, &k);
    admitted(k.text);
    admitted(k.text);
    struct answer a = refused(k.text);
    assert_string_equal(a.message, "rate limit of 2 requests per 1 s for this key reached");
    assert_int_equal(a.retry_after, 1);
    /* waiting is what Retry-After asks for: the behaviour under test is time */
    struct timespec ts = {a.retry_after, 0};
    nanosleep(&ts, NULL);
    admitted(k.text);
    quota_state_free(app.quotas);
    app.quotas = quota_state_new();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_rpm),
        cmocka_unit_test(test_tenant_rpm),
        cmocka_unit_test(test_refusals_take_nothing),
        cmocka_unit_test(test_tokens_per_day),
        cmocka_unit_test(test_daily_refusal_takes_no_request),
        cmocka_unit_test(test_operator_has_no_quota),
        cmocka_unit_test(test_concurrent),
        cmocka_unit_test(test_window_knob),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
