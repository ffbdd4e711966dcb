/* Unit tests for feedback on answers and the dashboard's aggregates
 * (src/store/feedback.c): one feedback per answer, its cascade with its
 * answer and its conversation (deletion, GDPR erasure, retention purge),
 * its place in the subject's export, the activity per assistant and day,
 * the gaps (refused answers, answers without sources) and the key that
 * groups questions. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/conversations.h"
#include "store/feedback.h"
#include "store/gdpr_store.h"
#include "store/system.h"
#include "store/tenant.h"

static char dir[64];
static struct sysdb *sys;
static struct tenants *tenants;
static struct tenant_db *db;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-fb-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    char data[128];
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        tenants_create(tenants, "ville", "Ville") || tenants_get(tenants, "ville", &db))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tenant_db_put(db);
    tenants_free(tenants);
    sysdb_free(sys);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* A conversation of subject with one exchange; mode and sources as the
 * pipeline records them (grounded = sources >= 0). OUT: id. */
static void exchange(const char *id, const char *assistant, const char *subject, const char *q,
                     const char *mode, int sources, bool create)
{
    struct conv_row row = {0};
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.assistant, sizeof(row.assistant), "%s", assistant);
    snprintf(row.subject, sizeof(row.subject), "%s", subject);
    snprintf(row.key_id, sizeof(row.key_id), "k1");
    struct conv_exchange x = {.id = id,
                              .create = create ? &row : NULL,
                              .user_text = str_c(q),
                              .answer_text = str_c("une réponse"),
                              .prompt_tokens = 10,
                              .completion_tokens = 5,
                              .answer_mode = mode,
                              .grounded = sources >= 0,
                              .sources = sources >= 0 ? sources : 0};
    assert_int_equal(conv_append(db, &x), LAIR_OK);
}

static int64_t count(const char *sql)
{
    sqlite3 *h = tenant_db_handle(db);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return n;
}

static int64_t rate(const char *conv, int64_t message_id, const char *rating, const char *comment)
{
    struct feedback_new f = {conv, message_id, rating, str_c(comment), "k1"};
    int64_t id = 0, mid = 0;
    assert_int_equal(feedback_put(db, &f, &id, &mid), LAIR_OK);
    assert_true(mid > 0);
    return mid;
}

static enum lair_err collect(void *ctx, const struct feedback_item *it)
{
    char *out = ctx;
    size_t n = strlen(out);
    snprintf(out + n, 512 - n, "%s:%s:%.*s|%.*s;", it->assistant, it->rating, (int)it->comment.len,
             it->comment.ptr, (int)it->question.len, it->question.ptr);
    return LAIR_OK;
}

static void test_feedback_put_and_list(void **state)
{
    (void)state;
    exchange("conv_aaaaaaaaaaaaaaaaaaaaaaaa", "mairie", "s1", "Horaires ?", "generated", 2, true);
    exchange("conv_aaaaaaaaaaaaaaaaaaaaaaaa", "mairie", "s1", "Et samedi ?", "generated", 1, false);
    /* no message id: the last answer; another rating on it replaces it */
    int64_t last = rate("conv_aaaaaaaaaaaaaaaaaaaaaaaa", 0, "up", "");
    assert_int_equal(rate("conv_aaaaaaaaaaaaaaaaaaaaaaaa", 0, "down", "faux"), last);
    assert_int_equal(count("SELECT count(*) FROM feedback"), 1);
    /* the first answer by its id */
    int64_t first = count("SELECT min(id) FROM messages WHERE role = 'assistant'");
    assert_int_equal(rate("conv_aaaaaaaaaaaaaaaaaaaaaaaa", first, "up", ""), first);
    /* a question is not an answer; an answer of another conversation neither */
    struct feedback_new f = {"conv_aaaaaaaaaaaaaaaaaaaaaaaa", first - 1, "up", str_c(""), "k1"};
    int64_t id, mid;
    assert_int_equal(feedback_put(db, &f, &id, &mid), LAIR_ENOTFOUND);
    exchange("conv_bbbbbbbbbbbbbbbbbbbbbbbb", "mairie", "s2", "Piscine ?", "generated", 1, true);
    f.message_id = count("SELECT max(id) FROM messages");
    assert_int_equal(feedback_put(db, &f, &id, &mid), LAIR_ENOTFOUND);
    /* a conversation without an answer has nothing to rate */
    struct conv_row row = {
        .id = "conv_cccccccccccccccccccccccc", .assistant = "mairie", .key_id = "k1"};
    assert_int_equal(conv_create(db, &row), LAIR_OK);
    f = (struct feedback_new){row.id, 0, "up", str_c(""), "k1"};
    assert_int_equal(feedback_put(db, &f, &id, &mid), LAIR_ECONFLICT);
    char out[512] = "";
    bool more;
    assert_int_equal(feedback_list(db, "down", 0, 10, collect, out, &more), LAIR_OK);
    assert_string_equal(out, "mairie:down:faux|Et samedi ?;");
    out[0] = 0;
    assert_int_equal(feedback_list(db, NULL, 0, 1, collect, out, &more), LAIR_OK);
    assert_true(more);
    /* regenerate: the last exchange goes, its feedback with it */
    struct arena a;
    arena_init(&a, 0);
    struct str q;
    assert_int_equal(
        conv_delete_last(db, "conv_aaaaaaaaaaaaaaaaaaaaaaaa", &(struct conv_filter){0}, &a, &q),
        LAIR_OK);
    arena_release(&a);
    assert_int_equal(count("SELECT count(*) FROM feedback WHERE rating = 'down'"), 0);
    assert_int_equal(count("SELECT count(*) FROM feedback"), 1);
    /* deleting the conversation takes the rest */
    assert_int_equal(conv_delete(db, "conv_aaaaaaaaaaaaaaaaaaaaaaaa", &(struct conv_filter){0}),
                     LAIR_OK);
    assert_int_equal(count("SELECT count(*) FROM feedback"), 0);
}

static enum lair_err on_fb(void *ctx, const struct gdpr_feedback *f)
{
    snprintf(ctx, 64, "%s:%.*s", f->rating, (int)f->comment.len, f->comment.ptr);
    return LAIR_OK;
}

static void test_feedback_erasure_and_purge(void **state)
{
    (void)state;
    exchange("conv_dddddddddddddddddddddddd", "mairie", "erase-me", "Ma facture ?", "generated", 1,
             true);
    exchange("conv_eeeeeeeeeeeeeeeeeeeeeeee", "mairie", "keep-me", "Ma facture ?", "generated", 1,
             true);
    rate("conv_dddddddddddddddddddddddd", 0, "down", "mon commentaire");
    rate("conv_eeeeeeeeeeeeeeeeeeeeeeee", 0, "up", "");
    /* the subject's export holds their feedback */
    char seen[64] = "";
    struct gdpr_visitor v = {.ctx = seen, .feedback = on_fb};
    assert_int_equal(gdpr_store_subject_visit(db, "erase-me", &v), LAIR_OK);
    assert_string_equal(seen, "down:mon commentaire");
    /* erasure removes it, and only theirs */
    struct gdpr_pending p;
    assert_int_equal(gdpr_store_pending_add(db, "erase-me", "tok", "cli", &p), LAIR_OK);
    assert_int_equal(gdpr_store_erase(db, &p), LAIR_OK);
    assert_int_equal(count("SELECT count(*) FROM feedback WHERE comment = 'mon commentaire'"), 0);
    assert_int_equal(count("SELECT count(*) FROM feedback"), 1);
    /* the retention purge removes what is left with its conversation */
    struct gdpr_counts c;
    assert_int_equal(gdpr_store_purge(db, NULL, 0, (int64_t)time(NULL) + 10, 0, &c), LAIR_OK);
    assert_true(c.conversations >= 1);
    assert_int_equal(count("SELECT count(*) FROM feedback"), 0);
}

struct days {
    char text[512];
};

static enum lair_err on_day(void *ctx, const struct dash_day *d)
{
    struct days *x = ctx;
    size_t n = strlen(x->text);
    snprintf(x->text + n, sizeof(x->text) - n, "%s:%lld/%lld/%lld/%lld/%lld;", d->assistant,
             (long long)d->conversations, (long long)d->answers,
             (long long)(d->prompt_tokens + d->completion_tokens), (long long)d->up,
             (long long)d->down);
    return LAIR_OK;
}

static enum lair_err on_gap(void *ctx, const struct dash_gap *g)
{
    struct days *x = ctx;
    size_t n = strlen(x->text);
    snprintf(x->text + n, sizeof(x->text) - n, "%s:%s:%.*s;", g->assistant, g->kind,
             (int)g->question.len, g->question.ptr);
    return LAIR_OK;
}

static void test_dashboard(void **state)
{
    (void)state;
    exchange("conv_ffffffffffffffffffffffff", "mairie", "s1", "Horaires ?", "generated", 2, true);
    exchange("conv_ffffffffffffffffffffffff", "mairie", "s1", "Le maire ?", "refused", 0, false);
    exchange("conv_gggggggggggggggggggggggg", "mairie", "s2", "Cantine ?", "generated", 0, true);
    exchange("conv_hhhhhhhhhhhhhhhhhhhhhhhh", "ecole", "s3", "Bonjour", "generated", -1, true);
    rate("conv_gggggggggggggggggggggggg", 0, "down", "");
    struct days d = {""};
    assert_int_equal(dashboard_days(db, (int64_t)time(NULL) - 3600, on_day, &d), LAIR_OK);
    /* today: ecole 1 conversation, 1 answer, 15 tokens; mairie 2, 3, 45,
     * one thumbs down */
    assert_string_equal(d.text, "ecole:1/1/15/0/0;mairie:2/3/45/0/1;");
    d.text[0] = 0;
    assert_int_equal(dashboard_days(db, (int64_t)time(NULL) + 3600, on_day, &d), LAIR_OK);
    assert_string_equal(d.text, "");
    /* gaps: the refusal and the answer without sources, newest first; an
     * assistant without retrieval (sources NULL) has none */
    assert_int_equal(dashboard_gaps(db, 0, 10, on_gap, &d), LAIR_OK);
    assert_string_equal(d.text, "mairie:no_sources:Cantine ?;mairie:refused:Le maire ?;");
}

static void test_question_key(void **state)
{
    (void)state;
    char a[64], b[64];
    dashboard_question_key(str_c("  Où est la MAIRIE ?!"), a, sizeof(a));
    dashboard_question_key(str_c("où est la mairie"), b, sizeof(b));
    assert_string_equal(a, "ou est la mairie");
    assert_string_equal(a, b);
    assert_int_equal(dashboard_question_key(str_c("?!"), a, sizeof(a)), 0);
    assert_string_equal(a, "");
    /* cut at a character, never inside one */
    assert_int_equal(dashboard_question_key(str_c("abc déf"), a, 6), 5);
    assert_string_equal(a, "abc d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_feedback_put_and_list),
        cmocka_unit_test(test_feedback_erasure_and_purge),
        cmocka_unit_test(test_dashboard),
        cmocka_unit_test(test_question_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
