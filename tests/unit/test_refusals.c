/* Unit tests for src/audit/refusals.c: the first refusal of a kind is
 * written at once, the next ones are counted and come out as one aggregate
 * when their period ends (or all at shutdown); a full table sends new kinds
 * to one "other clients" aggregate; every refusal is accounted for once. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/refusals.h"

#define T0 1717156800

static struct refusal anon(const char *client, const char *outcome)
{
    return (struct refusal){.log = "",
                            .actor = "anonymous",
                            .client = client,
                            .action = "access.denied",
                            .target = "route:keys",
                            .outcome = outcome,
                            .detail = "method:GET credential:missing",
                            .addr = "192.0.2.1"};
}

/* Sum of the counts of v[0..n). */
static uint64_t counted(const struct refusal_agg *v, size_t n)
{
    uint64_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += v[i].count;
    return c;
}

static void test_first_then_counted(void **state)
{
    (void)state;
    struct refusals *r;
    assert_int_equal(refusals_new(16, 60, &r), LAIR_OK);
    assert_int_equal(refusals_next_end(r), INT64_MAX);
    struct refusal a = anon("c1", "401"), b = anon("c1", "403"), c = anon("c2", "401");
    assert_true(refusals_note(r, &a, T0));
    for (int i = 1; i <= 50; i++)
        assert_false(refusals_note(r, &a, T0 + i / 2));
    assert_true(refusals_note(r, &b, T0 + 5));  /* another status: another kind */
    assert_true(refusals_note(r, &c, T0 + 10)); /* another client */
    assert_int_equal(refusals_next_end(r), T0 + 60);

    struct refusal_agg *v;
    size_t n;
    assert_int_equal(refusals_take(r, T0 + 59, false, &v, &n), LAIR_OK);
    assert_int_equal(n, 0); /* the period has not ended */
    assert_null(v);
    assert_int_equal(refusals_take(r, T0 + 65, false, &v, &n), LAIR_OK);
    assert_int_equal(n, 1); /* a's; b's period ended with nothing counted: no aggregate */
    assert_false(v[0].other);
    assert_int_equal(v[0].count, 50);
    assert_int_equal(v[0].first, T0);
    assert_int_equal(v[0].last, T0 + 25);
    assert_string_equal(v[0].client, "c1");
    assert_string_equal(v[0].outcome, "401");
    assert_string_equal(v[0].detail, "method:GET credential:missing");
    assert_string_equal(v[0].addr, "192.0.2.1");
    free(v);
    assert_int_equal(refusals_next_end(r), T0 + 70); /* c's */
    /* a new period for a: written at once again */
    assert_true(refusals_note(r, &a, T0 + 66));
    assert_false(refusals_note(r, &c, T0 + 67));
    assert_int_equal(refusals_take(r, T0 + 67, true, &v, &n), LAIR_OK); /* shutdown */
    assert_int_equal(n, 1);
    assert_string_equal(v[0].client, "c2");
    assert_int_equal(v[0].count, 1);
    free(v);
    assert_int_equal(refusals_next_end(r), INT64_MAX);

    struct refusals_stats s;
    refusals_get_stats(r, &s);
    assert_int_equal(s.noted, 55);
    assert_int_equal(s.written, 4);
    assert_int_equal(s.counted, 51);
    assert_int_equal(s.overflowed, 0);
    assert_int_equal(s.kinds, 0);
    refusals_free(r);
}

/* A flood from many addresses: bounded kinds, bounded events, and the
 * counts add up. */
static void test_full_table(void **state)
{
    (void)state;
    struct refusals *r;
    assert_int_equal(refusals_new(4, 60, &r), LAIR_OK); /* 3 kinds + "other" */
    uint64_t written = 0, total = 0;
    for (int i = 0; i < 1000; i++) {
        char client[16];
        snprintf(client, sizeof(client), "c%d", i);
        struct refusal x = anon(client, i % 7 == 0 ? "429" : "401");
        for (int k = 0; k < 3; k++) {
            written += refusals_note(r, &x, T0 + k);
            total++;
        }
    }
    assert_int_equal(written, 3);
    struct refusals_stats s;
    refusals_get_stats(r, &s);
    assert_int_equal(s.kinds, 4);
    assert_int_equal(s.overflowed, 997 * 3);
    struct refusal_agg *v;
    size_t n;
    assert_int_equal(refusals_take(r, T0 + 60, false, &v, &n), LAIR_OK);
    assert_int_equal(n, 4);
    assert_int_equal(written + counted(v, n), total);
    const struct refusal_agg *other = NULL;
    for (size_t i = 0; i < n; i++)
        if (v[i].other)
            other = &v[i];
    assert_non_null(other);
    assert_int_equal(other->count, 997 * 3);
    assert_int_equal(other->by_status[0] + other->by_status[3], other->count);
    assert_int_equal(other->by_status[3], 142 * 3); /* i % 7 == 0 among 3..999 */
    assert_string_equal(other->client, "");
    free(v);
    /* room again */
    struct refusal x = anon("c-late", "401");
    assert_true(refusals_note(r, &x, T0 + 61));
    refusals_free(r);
}

struct worker {
    struct refusals *r;
    int id;
    uint64_t written;
};

static void *work(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 2000; i++) {
        char client[16];
        snprintf(client, sizeof(client), "c%d", (i * 7 + w->id) % 40);
        struct refusal x = anon(client, "401");
        w->written += refusals_note(w->r, &x, T0 + i / 100);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    struct refusals *r;
    assert_int_equal(refusals_new(32, 5, &r), LAIR_OK);
    struct worker w[4];
    pthread_t t[4];
    for (int i = 0; i < 4; i++) {
        w[i] = (struct worker){r, i, 0};
        pthread_create(&t[i], NULL, work, &w[i]);
    }
    uint64_t taken = 0;
    for (int k = 0; k < 50; k++) { /* a flusher running meanwhile */
        struct refusal_agg *v;
        size_t n;
        assert_int_equal(refusals_take(r, T0 + k, false, &v, &n), LAIR_OK);
        taken += counted(v, n);
        free(v);
    }
    uint64_t written = 0;
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        written += w[i].written;
    }
    struct refusal_agg *v;
    size_t n;
    assert_int_equal(refusals_take(r, 0, true, &v, &n), LAIR_OK);
    taken += counted(v, n);
    free(v);
    assert_int_equal(written + taken, 4 * 2000);
    struct refusals_stats s;
    refusals_get_stats(r, &s);
    assert_int_equal(s.noted, 8000);
    assert_int_equal(s.written + s.counted, 8000);
    refusals_free(r);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    struct refusals *r;
    assert_int_equal(refusals_new(1, 60, &r), LAIR_EINVAL);
    assert_null(r);
    assert_int_equal(refusals_new(8, 0, &r), LAIR_EINVAL);
    refusals_free(NULL);
    /* long fields are cut, consistently */
    assert_int_equal(refusals_new(8, 60, &r), LAIR_OK);
    char longdetail[1000];
    memset(longdetail, 'x', sizeof(longdetail) - 1);
    longdetail[sizeof(longdetail) - 1] = 0;
    struct refusal x = anon("c1", "401");
    x.detail = longdetail;
    x.log = NULL;
    assert_true(refusals_note(r, &x, T0));
    assert_false(refusals_note(r, &x, T0));
    struct refusal_agg *v;
    size_t n;
    assert_int_equal(refusals_take(r, T0, true, &v, &n), LAIR_OK);
    assert_int_equal(n, 1);
    assert_int_equal(strlen(v[0].detail), sizeof(v[0].detail) - 1);
    free(v);
    refusals_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_then_counted),
        cmocka_unit_test(test_full_table),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
