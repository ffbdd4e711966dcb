/* Unit tests for conversations: the store (src/store/conversations.c), the
 * management endpoints and the begin/record calls of the chat endpoint
 * (src/api/conversations.c), the endpoints driven over real HTTP on an
 * in-process server (no model needed: conversations are made through the
 * store, and through a test route that calls api_conversation_begin/record
 * as the chat endpoint does). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/app.h"
#include "api/conversations_api.h"
#include "store/conversations.h"

/* ---- an in-process server with the real routing table ---- */

static char dir[64];
static struct sysdb *sys;
static struct app app;
static struct http_server *srv;
static struct route *routes;
static char url[64];
static char op_key[KEY_TEXT_MAX];

struct tkey {
    char text[KEY_TEXT_MAX], id[KEY_ID_LEN + 1];
};
static struct tkey a_admin, a_editor, a_user1, a_user2, b_admin;

static enum lair_err test_exchange(struct http_req *rq);

static void make_key(const char *tenant, enum key_role role, struct tkey *k)
{
    struct key_spec spec = {.role = role, .tenant = tenant};
    assert_int_equal(sysdb_key_create_spec(sys, &spec, k->text, k->id), LAIR_OK);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-conv-XXXXXX");
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
    char id[KEY_ID_LEN + 1];
    if (sysdb_key_create(sys, ROLE_OPERATOR, NULL, 0, op_key, id))
        return -1;
    if (tenants_create(app.tenants, "ville-a", "A") || tenants_create(app.tenants, "ville-b", "B"))
        return -1;
    make_key("ville-a", ROLE_ADMIN, &a_admin);
    make_key("ville-a", ROLE_EDITOR, &a_editor);
    make_key("ville-a", ROLE_USER, &a_user1);
    make_key("ville-a", ROLE_USER, &a_user2);
    make_key("ville-b", ROLE_ADMIN, &b_admin);

    routes = calloc(api_routes_count + 1, sizeof(*routes));
    memcpy(routes, api_routes, api_routes_count * sizeof(*routes));
    routes[api_routes_count] =
        (struct route){"POST", "/test/exchange", test_exchange, R_AUTH, 64 * 1024, "test"};
    struct http_config hc = {.listen = "127.0.0.1:0",
                             .routes = routes,
                             .n_routes = api_routes_count + 1,
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
    free(routes);
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

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    buf_append(ud, p, size * n);
    return size * n;
}

/* METHOD path with key (NULL: none) and body (NULL: none). OUT: the parsed
 * JSON answer (json_decref it); returns the status. */
static long call(const char *method, const char *path, const char *key, const char *body,
                 json_t **out)
{
    CURL *c = curl_easy_init();
    char u[512], auth[128];
    snprintf(u, sizeof(u), "%s%s", url, path);
    struct curl_slist *h = NULL;
    if (key) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
        h = curl_slist_append(h, auth);
    }
    if (body) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    struct buf b;
    buf_init(&b, 0);
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_error_t je;
    *out = json_loadb(b.ptr ? b.ptr : "", b.len, 0, &je);
    if (!*out)
        *out = json_object();
    buf_release(&b);
    return status;
}

static const char *sfield(json_t *o, const char *path)
{
    /* "a.b" */
    char tmp[64];
    snprintf(tmp, sizeof(tmp), "%s", path);
    char *dot = strchr(tmp, '.');
    if (dot) {
        *dot = 0;
        o = json_object_get(o, tmp);
        path = path + (dot - tmp) + 1;
    }
    json_t *v = json_object_get(o, path);
    return json_is_string(v) ? json_string_value(v) : "";
}

static struct tenant_db *tdb(const char *slug)
{
    struct tenant_db *db;
    assert_int_equal(tenants_get(app.tenants, slug, &db), LAIR_OK);
    return db;
}

/* A conversation made through the store, with n exchanges. */
static void make_conv(struct tenant_db *db, const char *assistant, const char *subject,
                      const char *key_id, int n, char id[CONV_ID_LEN + 1])
{
    struct conv_row row = {0};
    conv_new_id(row.id);
    snprintf(row.assistant, sizeof(row.assistant), "%s", assistant);
    snprintf(row.subject, sizeof(row.subject), "%s", subject);
    snprintf(row.key_id, sizeof(row.key_id), "%s", key_id);
    for (int i = 0; i < n; i++) {
        char q[32], a[32];
        snprintf(q, sizeof(q), "question %d", i);
        snprintf(a, sizeof(a), "answer %d", i);
        struct conv_exchange x = {.id = row.id,
                                  .create = i == 0 ? &row : NULL,
                                  .user_text = str_c(q),
                                  .answer_text = str_c(a),
                                  .prompt_tokens = 10 + i,
                                  .completion_tokens = 5,
                                  .cached_tokens = i,
                                  .queue_ms = 1.5,
                                  .prompt_ms = 2.5,
                                  .gen_ms = 3.5};
        assert_int_equal(conv_append(db, &x), LAIR_OK);
    }
    if (n == 0)
        assert_int_equal(conv_create(db, &row), LAIR_OK);
    memcpy(id, row.id, CONV_ID_LEN + 1);
}

/* ---- store ---- */

static void test_ids(void **state)
{
    (void)state;
    char a[CONV_ID_LEN + 1], b[CONV_ID_LEN + 1];
    conv_new_id(a);
    conv_new_id(b);
    assert_int_equal(strlen(a), CONV_ID_LEN);
    assert_true(strncmp(a, "conv_", 5) == 0);
    assert_string_not_equal(a, b);
    assert_true(conv_id_valid(str_c(a)));
    assert_false(conv_id_valid(S("conv_")));
    assert_false(conv_id_valid(S("conv_ABCDEFGHIJKLMNOPQRSTUVWX")));
    assert_false(conv_id_valid(S("chat_abcdefghijklmnopqrstuvwx")));
    assert_false(conv_id_valid(S("conv_abcdefghijklmnopqrstuvw'")));
    char day[11];
    conv_usage_day(0, day);
    assert_string_equal(day, "1970-01-01");
    conv_usage_day(1700000000, day);
    assert_string_equal(day, "2023-11-14");
}

/* Titles from a first question: blanks collapsed, controls dropped, cut at
 * a word with an ellipsis, never inside a UTF-8 sequence. */
static void test_titles(void **state)
{
    (void)state;
    char t[CONV_TITLE_MAX + 1];
    conv_title_from(str_c("  Bonjour\n\t le  monde \x01 "), t);
    assert_string_equal(t, "Bonjour le monde");
    conv_title_from(str_c(" \n "), t);
    assert_string_equal(t, "");
    conv_title_from(str_c("Comment obtenir un acte de naissance pour mon fils n\xc3\xa9 \xc3\xa0 "
                          "Lyon en 2019 quand on habite ailleurs ?"),
                    t);
    assert_string_equal(t, "Comment obtenir un acte de naissance pour mon fils n\xc3\xa9 \xc3\xa0"
                           "\xe2\x80\xa6");
    /* one long word: cut inside it, on a character */
    char word[400];
    for (int i = 0; i < 100; i++)
        memcpy(word + 2 * i, "\xc3\xa9", 2);
    conv_title_from((struct str){word, 200}, t);
    assert_int_equal(strlen(t), 60 * 2 + 3);
    assert_true(utf8_valid(t, strlen(t)));
    /* four-byte characters: the byte cap comes first */
    for (int i = 0; i < 100; i++)
        memcpy(word + 4 * i, "\xf0\x9f\x98\x80", 4);
    conv_title_from((struct str){word, 400}, t);
    assert_true(strlen(t) <= CONV_TITLE_MAX);
    assert_true(utf8_valid(t, strlen(t)));
}

static void test_store_exchange(void **state)
{
    (void)state;
    struct tenant_db *db = tdb("ville-a");
    char id[CONV_ID_LEN + 1];
    make_conv(db, "etat-civil", "citoyen-1", a_user1.id, 3, id);
    struct conv_row row;
    assert_int_equal(conv_get(db, id, NULL, &row), LAIR_OK);
    assert_string_equal(row.assistant, "etat-civil");
    assert_string_equal(row.subject, "citoyen-1");
    assert_string_equal(row.key_id, a_user1.id);
    assert_int_equal(row.n_messages, 6);
    assert_true(row.updated_at >= row.created_at && row.created_at > 0);

    struct arena a;
    arena_init(&a, 0);
    struct conv_message *m;
    size_t n;
    assert_int_equal(conv_messages(db, id, 0, &a, &m, &n), LAIR_OK);
    assert_int_equal(n, 6);
    assert_true(str_eq_c(m[0].role, "user") && str_eq_c(m[0].content, "question 0"));
    assert_true(str_eq_c(m[1].role, "assistant") && str_eq_c(m[1].content, "answer 0"));
    assert_true(str_eq_c(m[5].content, "answer 2"));
    assert_int_equal(m[0].prompt_tokens, 0); /* usage is on the answer */
    assert_int_equal(m[5].prompt_tokens, 12);
    assert_int_equal(m[5].completion_tokens, 5);
    assert_int_equal(m[5].cached_tokens, 2);
    assert_true(m[5].gen_ms == 3.5 && m[5].queue_ms == 1.5 && m[5].prompt_ms == 2.5);
    /* the last 3, oldest first */
    assert_int_equal(conv_messages(db, id, 3, &a, &m, &n), LAIR_OK);
    assert_int_equal(n, 3);
    assert_true(str_eq_c(m[0].content, "answer 1") && str_eq_c(m[2].content, "answer 2"));
    arena_release(&a);

    /* an exchange for an unknown conversation writes nothing */
    struct conv_exchange x = {
        .id = "conv_aaaaaaaaaaaaaaaaaaaaaaaa", .user_text = S("q"), .answer_text = S("a")};
    assert_int_equal(conv_append(db, &x), LAIR_ENOTFOUND);
    /* creating an existing id fails as a whole: no message is added */
    struct conv_row dup = row;
    x.id = id;
    x.create = &dup;
    assert_int_equal(conv_append(db, &x), LAIR_ECONFLICT);
    assert_int_equal(conv_get(db, id, NULL, &row), LAIR_OK);
    assert_int_equal(row.n_messages, 6);
    /* filters */
    struct conv_filter f = {.key_id = a_user2.id};
    assert_int_equal(conv_get(db, id, &f, &row), LAIR_ENOTFOUND);
    f = (struct conv_filter){.key_id = a_user1.id, .assistant = "autre"};
    assert_int_equal(conv_get(db, id, &f, &row), LAIR_ENOTFOUND);
    f = (struct conv_filter){.subject = "citoyen-2"};
    assert_int_equal(conv_get(db, id, &f, &row), LAIR_ENOTFOUND);
    f = (struct conv_filter){
        .key_id = a_user1.id, .assistant = "etat-civil", .subject = "citoyen-1"};
    assert_int_equal(conv_get(db, id, &f, &row), LAIR_OK);
    /* delete: the filter holds, then the messages go with it */
    f = (struct conv_filter){.key_id = a_user2.id};
    assert_int_equal(conv_delete(db, id, &f), LAIR_ENOTFOUND);
    assert_int_equal(conv_get(db, id, NULL, &row), LAIR_OK);
    assert_int_equal(conv_delete(db, id, NULL), LAIR_OK);
    assert_int_equal(conv_delete(db, id, NULL), LAIR_ENOTFOUND);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(tenant_db_handle(db),
                                        "SELECT count(*) FROM messages WHERE conversation_id = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 0);
    sqlite3_finalize(st);
    tenant_db_put(db);
}

static void test_store_list(void **state)
{
    (void)state;
    struct tenant_db *db = tdb("ville-b");
    char ids[7][CONV_ID_LEN + 1];
    for (int i = 0; i < 7; i++)
        make_conv(db, "urbanisme", i % 2 ? "odd" : "even", b_admin.id, i % 3, ids[i]);
    struct conv_row rows[10];
    size_t n;
    bool more;
    /* newest first, in pages of 3 */
    assert_int_equal(conv_list(db, NULL, NULL, rows, 3, &n, &more), LAIR_OK);
    assert_int_equal(n, 3);
    assert_true(more);
    assert_string_equal(rows[0].id, ids[6]);
    assert_string_equal(rows[2].id, ids[4]);
    assert_int_equal(rows[0].n_messages, 0);
    assert_int_equal(rows[1].n_messages, 4);
    assert_int_equal(conv_list(db, NULL, ids[4], rows, 3, &n, &more), LAIR_OK);
    assert_int_equal(n, 3);
    assert_true(more);
    assert_string_equal(rows[0].id, ids[3]);
    assert_int_equal(conv_list(db, NULL, ids[1], rows, 3, &n, &more), LAIR_OK);
    assert_int_equal(n, 1);
    assert_false(more);
    assert_string_equal(rows[0].id, ids[0]);
    /* exactly a page: no more */
    assert_int_equal(conv_list(db, NULL, ids[3], rows, 3, &n, &more), LAIR_OK);
    assert_int_equal(n, 3);
    assert_false(more);
    /* by subject */
    struct conv_filter f = {.subject = "odd"};
    assert_int_equal(conv_list(db, &f, NULL, rows, 10, &n, &more), LAIR_OK);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(rows[i].subject, "odd");
    assert_string_equal(rows[0].id, ids[5]);
    assert_int_equal(conv_list(db, &f, ids[5], rows, 1, &n, &more), LAIR_OK);
    assert_string_equal(rows[0].id, ids[3]);
    assert_true(more);
    /* a cursor the filter does not let through */
    assert_int_equal(conv_list(db, &f, ids[4], rows, 3, &n, &more), LAIR_ENOTFOUND);
    f = (struct conv_filter){.key_id = a_user1.id};
    assert_int_equal(conv_list(db, &f, NULL, rows, 10, &n, &more), LAIR_OK);
    assert_int_equal(n, 0);
    for (int i = 0; i < 7; i++)
        assert_int_equal(conv_delete(db, ids[i], NULL), LAIR_OK);
    tenant_db_put(db);
}

static void test_store_usage(void **state)
{
    (void)state;
    struct tenant_db *db = tdb("ville-b");
    int64_t r, t;
    assert_int_equal(conv_usage_get(db, "2030-01-01", "k1", &r, &t), LAIR_OK);
    assert_true(r == 0 && t == 0);
    assert_int_equal(conv_usage_add(db, "2030-01-01", "k1", 1, 100), LAIR_OK);
    assert_int_equal(conv_usage_add(db, "2030-01-01", "k1", 1, 50), LAIR_OK);
    assert_int_equal(conv_usage_add(db, "2030-01-01", "k2", 1, 7), LAIR_OK);
    assert_int_equal(conv_usage_add(db, "2030-01-02", "k1", 1, 1), LAIR_OK);
    assert_int_equal(conv_usage_get(db, "2030-01-01", "k1", &r, &t), LAIR_OK);
    assert_true(r == 2 && t == 150);
    assert_int_equal(conv_usage_get(db, "2030-01-01", CONV_USAGE_TENANT, &r, &t), LAIR_OK);
    assert_true(r == 3 && t == 157);
    assert_int_equal(conv_usage_get(db, "2030-01-02", CONV_USAGE_TENANT, &r, &t), LAIR_OK);
    assert_true(r == 1 && t == 1);
    tenant_db_put(db);
}

/* ---- HTTP: list, get, delete ---- */

static size_t count_ids(json_t *list, const char *const *ids, size_t n_ids)
{
    size_t found = 0, i;
    json_t *v;
    json_array_foreach(json_object_get(list, "data"), i, v)
    {
        for (size_t j = 0; j < n_ids; j++)
            if (!strcmp(sfield(v, "id"), ids[j]))
                found++;
    }
    return found;
}

static void test_http_endpoints(void **state)
{
    (void)state;
    struct tenant_db *da = tdb("ville-a"), *dbb = tdb("ville-b");
    char u1a[CONV_ID_LEN + 1], u1b[CONV_ID_LEN + 1], u2a[CONV_ID_LEN + 1], ba[CONV_ID_LEN + 1];
    make_conv(da, "etat-civil", "sujet-x", a_user1.id, 2, u1a);
    make_conv(da, "etat-civil", "sujet-y", a_user1.id, 1, u1b);
    make_conv(da, "urbanisme", "sujet-x", a_user2.id, 1, u2a);
    make_conv(dbb, "etat-civil", "sujet-x", b_admin.id, 1, ba);
    const char *all_a[] = {u1a, u1b, u2a}, *own1[] = {u1a, u1b}, *bs[] = {ba};
    json_t *r;

    /* admins and editors see the tenant's, user keys their own */
    assert_int_equal(call("GET", "/api/v1/conversations", a_admin.text, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 3);
    assert_int_equal(count_ids(r, all_a, 3), 3);
    assert_int_equal(count_ids(r, bs, 1), 0);
    assert_string_equal(sfield(r, "object"), "list");
    assert_string_equal(sfield(r, "first_id"), u2a); /* newest first */
    assert_true(json_is_false(json_object_get(r, "has_more")));
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations", a_editor.text, NULL, &r), 200);
    assert_int_equal(count_ids(r, all_a, 3), 3);
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations", a_user1.text, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 2);
    assert_int_equal(count_ids(r, own1, 2), 2);
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations", b_admin.text, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    assert_int_equal(count_ids(r, bs, 1), 1);
    json_decref(r);
    /* the operator never reads a tenant's conversations */
    assert_int_equal(call("GET", "/api/v1/conversations", op_key, NULL, &r), 403);
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations", NULL, NULL, &r), 401);
    json_decref(r);

    /* ?subject=, ?limit=, ?after= */
    assert_int_equal(call("GET", "/api/v1/conversations?subject=sujet-x", a_admin.text, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 2);
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations?subject=sujet-x", a_user1.text, NULL, &r),
                     200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    assert_string_equal(sfield(json_array_get(json_object_get(r, "data"), 0), "id"), u1a);
    json_decref(r);
    assert_int_equal(call("GET", "/api/v1/conversations?limit=2", a_admin.text, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 2);
    assert_true(json_is_true(json_object_get(r, "has_more")));
    char path[200];
    snprintf(path, sizeof(path), "/api/v1/conversations?limit=2&after=%s", sfield(r, "last_id"));
    json_decref(r);
    assert_int_equal(call("GET", path, a_admin.text, NULL, &r), 200);
    assert_int_equal(json_array_size(json_object_get(r, "data")), 1);
    assert_string_equal(sfield(r, "first_id"), u1a);
    assert_true(json_is_false(json_object_get(r, "has_more")));
    json_decref(r);
    const char *bad[] = {"?limit=0", "?limit=101", "?limit=abc", "?limit=", "?after=nope"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(path, sizeof(path), "/api/v1/conversations%s", bad[i]);
        assert_int_equal(call("GET", path, a_admin.text, NULL, &r), 422);
        assert_string_equal(sfield(r, "error.param"), bad[i][1] == 'l' ? "limit" : "after");
        json_decref(r);
    }
    /* a cursor from another tenant is as unknown as a made-up one */
    snprintf(path, sizeof(path), "/api/v1/conversations?after=%s", ba);
    assert_int_equal(call("GET", path, a_admin.text, NULL, &r), 422);
    json_decref(r);

    /* get with messages */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", u1a);
    assert_int_equal(call("GET", path, a_user1.text, NULL, &r), 200);
    assert_string_equal(sfield(r, "id"), u1a);
    assert_string_equal(sfield(r, "assistant"), "etat-civil");
    assert_string_equal(sfield(r, "subject"), "sujet-x");
    json_t *msgs = json_object_get(r, "messages");
    assert_int_equal(json_array_size(msgs), 4);
    assert_string_equal(sfield(json_array_get(msgs, 0), "role"), "user");
    assert_string_equal(sfield(json_array_get(msgs, 0), "content"), "question 0");
    assert_string_equal(sfield(json_array_get(msgs, 3), "content"), "answer 1");
    json_t *usage = json_object_get(json_array_get(msgs, 3), "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 11);
    assert_int_equal(json_integer_value(json_object_get(usage, "completion_tokens")), 5);
    assert_null(json_object_get(json_array_get(msgs, 0), "usage"));
    json_decref(r);
    assert_int_equal(call("GET", path, a_admin.text, NULL, &r), 200);
    json_decref(r);

    /* not yours, another tenant's, unknown, malformed: the same 404 */
    json_t *ref;
    assert_int_equal(call("GET", "/api/v1/conversations/conv_zzzzzzzzzzzzzzzzzzzzzzzz",
                          a_admin.text, NULL, &ref),
                     404);
    assert_string_equal(sfield(ref, "error.code"), "conversation_not_found");
    const char *who[] = {a_user2.text, b_admin.text, a_admin.text};
    const char *what[] = {u1a, u1a, ba};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "/api/v1/conversations/%s", what[i]);
        assert_int_equal(call("GET", path, who[i], NULL, &r), 404);
        assert_true(json_equal(r, ref));
        json_decref(r);
        assert_int_equal(call("DELETE", path, who[i], NULL, &r), 404);
        assert_true(json_equal(r, ref));
        json_decref(r);
    }
    assert_int_equal(call("GET", "/api/v1/conversations/..%2Fsystem", a_admin.text, NULL, &r), 404);
    json_decref(r);
    json_decref(ref);

    /* nothing was deleted by the refused attempts */
    struct conv_row row;
    assert_int_equal(conv_get(da, u1a, NULL, &row), LAIR_OK);
    assert_int_equal(conv_get(dbb, ba, NULL, &row), LAIR_OK);
    /* delete: a user key its own, an admin any of its tenant */
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", u1a);
    assert_int_equal(call("DELETE", path, a_user1.text, NULL, &r), 200);
    assert_true(json_is_true(json_object_get(r, "deleted")));
    json_decref(r);
    assert_int_equal(call("GET", path, a_user1.text, NULL, &r), 404);
    json_decref(r);
    assert_int_equal(conv_get(da, u1a, NULL, &row), LAIR_ENOTFOUND);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", u2a);
    assert_int_equal(call("DELETE", path, a_admin.text, NULL, &r), 200);
    json_decref(r);
    assert_int_equal(conv_delete(da, u1b, NULL), LAIR_OK);
    assert_int_equal(conv_delete(dbb, ba, NULL), LAIR_OK);
    tenant_db_put(da);
    tenant_db_put(dbb);
}

/* ---- begin / record, as the chat endpoint calls them ---- */

/* POST /test/exchange {"conversation_id","model","user","text","answer"}:
 * begin, then record; answers the id and the history begin handed back. */
static enum lair_err test_exchange(struct http_req *rq)
{
    json_t *o;
    enum lair_err e = api_parse_body(rq, &o);
    if (e)
        return e;
    const char *cid = json_string_value(json_object_get(o, "conversation_id"));
    const char *user = json_string_value(json_object_get(o, "user"));
    struct api_conversation c;
    e = api_conversation_begin(rq, str_c(cid), json_string_value(json_object_get(o, "model")),
                               str_c(user), &c);
    if (!e) {
        struct llm_result res = {.prompt_tokens = 7, .completion_tokens = 3, .gen_ms = 12};
        e = api_conversation_record(rq, &c, str_c(json_string_value(json_object_get(o, "text"))),
                                    str_c(json_string_value(json_object_get(o, "answer"))), &res);
        if (e)
            e = http_fail(rq, e, NULL, "record_failed", "record: %s", lair_err_name(e));
    }
    if (!e) {
        json_t *h = json_array();
        for (size_t i = 0; i < c.n_history; i++)
            json_array_append_new(h, json_pack("{s:s%, s:s%}", "role", c.history[i].role.ptr,
                                               c.history[i].role.len, "content",
                                               c.history[i].content.ptr, c.history[i].content.len));
        e = api_respond_json(rq, 200,
                             json_pack("{s:s, s:b, s:s, s:o}", "id", c.id, "is_new", c.is_new,
                                       "subject", c.subject, "history", h));
    }
    json_decref(o);
    return e;
}

static long exchange(const char *key, const char *cid, const char *model, const char *user,
                     const char *text, json_t **out)
{
    json_t *b = json_pack("{s:s, s:s, s:s, s:s, s:s}", "conversation_id", cid, "model", model,
                          "user", user, "text", text, "answer", "réponse");
    char *s = json_dumps(b, 0);
    long st = call("POST", "/test/exchange", key, s, out);
    free(s);
    json_decref(b);
    return st;
}

static void test_begin_record(void **state)
{
    (void)state;
    json_t *r;
    /* a new conversation: created by its first record */
    assert_int_equal(exchange(a_user1.text, "", "etat-civil", "sujet-1", "bonjour", &r), 200);
    char id[CONV_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", sfield(r, "id"));
    assert_true(conv_id_valid(str_c(id)));
    assert_true(json_is_true(json_object_get(r, "is_new")));
    assert_int_equal(json_array_size(json_object_get(r, "history")), 0);
    json_decref(r);
    struct tenant_db *da = tdb("ville-a");
    struct conv_row row;
    assert_int_equal(conv_get(da, id, NULL, &row), LAIR_OK);
    assert_string_equal(row.key_id, a_user1.id);
    assert_string_equal(row.subject, "sujet-1");
    assert_string_equal(row.assistant, "etat-civil");
    assert_int_equal(row.n_messages, 2);

    /* continued: the earlier messages come back in order */
    assert_int_equal(exchange(a_user1.text, id, "etat-civil", "sujet-1", "et ensuite ?", &r), 200);
    assert_string_equal(sfield(r, "id"), id);
    assert_true(json_is_false(json_object_get(r, "is_new")));
    json_t *h = json_object_get(r, "history");
    assert_int_equal(json_array_size(h), 2);
    assert_string_equal(sfield(json_array_get(h, 0), "role"), "user");
    assert_string_equal(sfield(json_array_get(h, 0), "content"), "bonjour");
    assert_string_equal(sfield(json_array_get(h, 1), "role"), "assistant");
    assert_string_equal(sfield(json_array_get(h, 1), "content"), "réponse");
    json_decref(r);
    /* without a subject the conversation's is kept */
    assert_int_equal(exchange(a_user1.text, id, "etat-civil", "", "encore", &r), 200);
    assert_string_equal(sfield(r, "subject"), "sujet-1");
    assert_int_equal(json_array_size(json_object_get(r, "history")), 4);
    json_decref(r);
    /* an admin of the tenant may continue it */
    assert_int_equal(exchange(a_admin.text, id, "etat-civil", "", "admin", &r), 200);
    json_decref(r);
    assert_int_equal(conv_get(da, id, NULL, &row), LAIR_OK);
    assert_int_equal(row.n_messages, 8);

    /* another assistant, another subject, another user key, another tenant,
     * unknown, malformed: the same 404, nothing written */
    struct {
        const char *key, *cid, *model, *user;
    } no[] = {
        {a_user1.text, id, "urbanisme", "sujet-1"},
        {a_user1.text, id, "etat-civil", "sujet-2"},
        {a_user2.text, id, "etat-civil", "sujet-1"},
        {b_admin.text, id, "etat-civil", "sujet-1"},
        {a_admin.text, "conv_000000000000000000000000", "etat-civil", ""},
        {a_admin.text, "x'; DROP TABLE messages; --", "etat-civil", ""},
        {op_key, id, "etat-civil", ""},
    };
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        assert_int_equal(exchange(no[i].key, no[i].cid, no[i].model, no[i].user, "x", &r), 404);
        assert_string_equal(sfield(r, "error.code"), "conversation_not_found");
        assert_string_equal(sfield(r, "error.message"), "conversation not found");
        assert_string_equal(sfield(r, "error.param"), "conversation_id");
        json_decref(r);
    }
    assert_int_equal(conv_get(da, id, NULL, &row), LAIR_OK);
    assert_int_equal(row.n_messages, 8);

    /* the operator keeps no conversation */
    assert_int_equal(exchange(op_key, "", "stories", "", "x", &r), 200);
    assert_string_equal(sfield(r, "id"), "");
    json_decref(r);
    /* a subject too long */
    char longs[CONV_SUBJECT_MAX + 2];
    memset(longs, 's', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = 0;
    assert_int_equal(exchange(a_user1.text, "", "etat-civil", longs, "x", &r), 422);
    assert_string_equal(sfield(r, "error.param"), "user");
    json_decref(r);

    /* usage and timings land on the answer */
    struct arena a;
    arena_init(&a, 0);
    struct conv_message *m;
    size_t n;
    assert_int_equal(conv_messages(da, id, 0, &a, &m, &n), LAIR_OK);
    assert_int_equal(n, 8);
    assert_int_equal(m[1].prompt_tokens, 7);
    assert_int_equal(m[1].completion_tokens, 3);
    assert_true(m[1].gen_ms == 12);
    arena_release(&a);

    /* deleted between begin and record: the record fails, nothing is written */
    assert_int_equal(conv_delete(da, id, NULL), LAIR_OK);
    assert_int_equal(exchange(a_user1.text, id, "etat-civil", "", "x", &r), 404);
    json_decref(r);
    struct api_conversation c = {.is_new = false};
    snprintf(c.id, sizeof(c.id), "%s", id);
    struct principal p = {.role = ROLE_USER};
    snprintf(p.tenant, sizeof(p.tenant), "ville-a");
    snprintf(p.key_id, sizeof(p.key_id), "%s", a_user1.id);
    assert_int_equal(api_conversation_record_as(&app, &p, &c, S("q"), S("a"), NULL),
                     LAIR_ENOTFOUND);
    assert_int_equal(conv_get(da, id, NULL, &row), LAIR_ENOTFOUND);
    tenant_db_put(da);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids),
        cmocka_unit_test(test_titles),
        cmocka_unit_test(test_store_exchange),
        cmocka_unit_test(test_store_list),
        cmocka_unit_test(test_store_usage),
        cmocka_unit_test(test_http_endpoints),
        cmocka_unit_test(test_begin_record),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
