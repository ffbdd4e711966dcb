/* Unit tests for the host-memory prompt cache (src/llm/prompt_cache.c):
 * longest-prefix lookup, redundant entries, the byte cap with least recently
 * used eviction, and ownership of the state it is handed (ASan checks that
 * nothing leaks or is freed twice). The engine's use of it, with real
 * llama.cpp states, is in test_llm.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm/prompt_cache.h"

#include "core/banned.h"

/* The tag of the tests that are not about isolation: one scope, one owner. */
static const struct pcache_tag T0;

/* A state blob of size bytes whose content names it. */
static void *blob(size_t size, int tag)
{
    unsigned char *p = malloc(size);
    assert_non_null(p);
    memset(p, tag, size);
    return p;
}

/* toks[i] = base + i for i < n */
static void seq(int32_t *toks, int n, int base)
{
    for (int i = 0; i < n; i++)
        toks[i] = base + i;
}

static void test_longest_prefix(void **state)
{
    struct pcache *c = pcache_new(1 << 20);
    int32_t a[100], b[100], q[120];
    seq(a, 100, 0);
    seq(b, 100, 0);
    for (int i = 40; i < 100; i++)
        b[i] = 1000 + i; /* b shares 40 tokens with a */
    assert_int_equal(pcache_put(c, &T0, a, 100, blob(64, 'a'), 64), LAIR_OK);
    assert_int_equal(pcache_put(c, &T0, b, 100, blob(64, 'b'), 64), LAIR_OK);

    int common;
    seq(q, 120, 0); /* starts with all of a */
    const struct pcache_entry *e = pcache_best(c, &T0, q, 120, &common);
    assert_non_null(e);
    assert_int_equal(common, 100);
    assert_int_equal(((unsigned char *)e->state)[0], 'a');
    assert_int_equal(pcache_cover(c, &T0, q, 120), 100);

    memcpy(q, b, 60 * sizeof(*q)); /* 60 tokens of b, then a's continuation */
    e = pcache_best(c, &T0, q, 120, &common);
    assert_int_equal(common, 60);
    assert_int_equal(((unsigned char *)e->state)[0], 'b');

    q[0] = -5; /* shares nothing */
    assert_null(pcache_best(c, &T0, q, 120, &common));
    assert_int_equal(common, 0);
    assert_int_equal(pcache_cover(c, &T0, q, 120), 0);
    pcache_free(c);
}

static void test_redundant_entries(void **state)
{
    struct pcache *c = pcache_new(1 << 20);
    int32_t t[200];
    seq(t, 200, 7);
    assert_int_equal(pcache_put(c, &T0, t, 100, blob(32, 1), 32), LAIR_OK);
    /* a longer entry that starts with the first replaces it */
    assert_int_equal(pcache_put(c, &T0, t, 200, blob(32, 2), 32), LAIR_OK);
    struct pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    /* a shorter one that an entry already begins with adds nothing */
    assert_int_equal(pcache_put(c, &T0, t, 150, blob(32, 3), 32), LAIR_ECONFLICT);
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 1);
    assert_int_equal(st.saves, 2);
    int common;
    const struct pcache_entry *e = pcache_best(c, &T0, t, 200, &common);
    assert_int_equal(e->n_toks, 200);
    assert_int_equal(((unsigned char *)e->state)[31], 2);
    assert_int_equal(pcache_put(c, &T0, t, 0, blob(8, 4), 8), LAIR_EINVAL);
    pcache_free(c);
}

static void test_cap_and_lru(void **state)
{
    const size_t each = 10000;
    /* room for three entries of 10,000 bytes plus their tokens, not four */
    struct pcache *c = pcache_new(3 * each + 3 * 1024);
    int32_t t[4][50];
    for (int k = 0; k < 4; k++)
        seq(t[k], 50, 100 * k);
    for (int k = 0; k < 3; k++)
        assert_int_equal(pcache_put(c, &T0, t[k], 50, blob(each, k), each), LAIR_OK);
    int common;
    assert_non_null(pcache_best(c, &T0, t[0], 50, &common)); /* 0 is now the most recent */
    assert_int_equal(pcache_put(c, &T0, t[3], 50, blob(each, 3), each), LAIR_OK);
    struct pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.evictions, 1);
    assert_true(st.bytes <= st.cap);
    /* 1 was the least recently used: gone; 0, 2 and 3 stay */
    assert_int_equal(pcache_cover(c, &T0, t[1], 50), 0);
    assert_int_equal(pcache_cover(c, &T0, t[0], 50), 50);
    assert_int_equal(pcache_cover(c, &T0, t[2], 50), 50);
    assert_int_equal(pcache_cover(c, &T0, t[3], 50), 50);

    /* an entry larger than the whole cache is refused and changes nothing */
    assert_int_equal(pcache_put(c, &T0, t[1], 50, blob(4 * each, 9), 4 * each), LAIR_ETOOBIG);
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    pcache_free(c);

    /* cap 0: a cache that holds nothing */
    c = pcache_new(0);
    assert_int_equal(pcache_put(c, &T0, t[0], 50, blob(1, 0), 1), LAIR_ETOOBIG);
    assert_null(pcache_best(c, &T0, t[0], 50, &common));
    pcache_free(c);
    pcache_free(NULL);
}

/* Many puts through a small cache: the byte count never exceeds the cap and
 * always equals what the entries hold (checked through eviction of all). */
static void test_churn(void **state)
{
    struct pcache *c = pcache_new(64 * 1024);
    int32_t t[300];
    unsigned r = 12345;
    for (int round = 0; round < 2000; round++) {
        r = r * 1103515245u + 12345u;
        int n = 1 + (int)(r % 300);
        int base = (int)((r >> 8) % 7);
        seq(t, n, base);
        size_t size = (r >> 12) % 9000;
        enum lair_err e = pcache_put(c, &T0, t, n, blob(size + 1, round & 0xff), size + 1);
        assert_true(e == LAIR_OK || e == LAIR_ECONFLICT || e == LAIR_ETOOBIG);
        struct pcache_stats st;
        pcache_get_stats(c, &st);
        assert_true(st.bytes <= st.cap);
        assert_true(st.entries <= 7); /* at most one entry per base: others are prefixes */
    }
    pcache_free(c);
}

static struct pcache_tag tag_of(int scope, int owner, int n_shared)
{
    struct pcache_tag t = {.n_shared = n_shared};
    t.scope[0] = (uint8_t)scope;
    t.owner[0] = (uint8_t)owner;
    return t;
}

/* The isolation rule: nothing across scopes, the shared part across owners
 * of a scope, everything for the same owner. */
static void test_tag_limit(void **state)
{
    struct pcache_tag a1 = tag_of(1, 1, 40), a2 = tag_of(1, 2, 30), b1 = tag_of(2, 1, 40);
    assert_int_equal(pcache_tag_limit(&a1, &b1), 0);
    assert_int_equal(pcache_tag_limit(&b1, &a1), 0);
    assert_int_equal(pcache_tag_limit(&a1, &a2), 30);
    assert_int_equal(pcache_tag_limit(&a2, &a1), 30);
    assert_true(pcache_tag_limit(&a1, &a1) >= 1000000);
    struct pcache_tag a1_other_shared = tag_of(1, 1, 5);
    assert_true(pcache_tag_limit(&a1, &a1_other_shared) >= 1000000); /* same owner */
}

/* An entry is looked up only as far as the requester's tag may reuse it:
 * another scope sees nothing of it (not even through pcache_cover), another
 * owner of the same scope its shared part, and the owner all of it. */
static void test_tag_isolation(void **state)
{
    struct pcache *c = pcache_new(1 << 20);
    int32_t t[100];
    seq(t, 100, 0);
    struct pcache_tag owner = tag_of(1, 1, 40), peer = tag_of(1, 2, 40), peer_short = tag_of(1, 3, 10),
                      stranger = tag_of(2, 1, 40);
    assert_int_equal(pcache_put(c, &owner, t, 100, blob(64, 'o'), 64), LAIR_OK);
    int common;
    assert_non_null(pcache_best(c, &owner, t, 100, &common));
    assert_int_equal(common, 100);
    assert_non_null(pcache_best(c, &peer, t, 100, &common));
    assert_int_equal(common, 40);
    assert_non_null(pcache_best(c, &peer_short, t, 100, &common));
    assert_int_equal(common, 10);
    assert_null(pcache_best(c, &stranger, t, 100, &common));
    assert_int_equal(common, 0);
    assert_int_equal(pcache_cover(c, &stranger, t, 100), 0);
    assert_int_equal(pcache_cover(c, &peer, t, 100), 40);
    assert_int_equal(pcache_cover(c, &owner, t, 100), 100);

    /* The same tokens under another scope are an entry of their own: the
     * first does not make the second redundant, nor the other way round. */
    assert_int_equal(pcache_put(c, &stranger, t, 100, blob(64, 's'), 64), LAIR_OK);
    assert_int_equal(pcache_put(c, &stranger, t, 60, blob(64, 'x'), 64), LAIR_ECONFLICT);
    struct pcache_stats st;
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 2);
    const struct pcache_entry *e = pcache_best(c, &stranger, t, 100, &common);
    assert_int_equal(((unsigned char *)e->state)[0], 's');
    e = pcache_best(c, &owner, t, 100, &common);
    assert_int_equal(((unsigned char *)e->state)[0], 'o');
    /* a longer entry of another owner does not replace the owner's */
    int32_t longer[150];
    seq(longer, 150, 0);
    assert_int_equal(pcache_put(c, &peer, longer, 150, blob(64, 'p'), 64), LAIR_OK);
    pcache_get_stats(c, &st);
    assert_int_equal(st.entries, 3);
    e = pcache_best(c, &owner, longer, 150, &common);
    assert_int_equal(((unsigned char *)e->state)[0], 'o');
    assert_int_equal(common, 100);
    pcache_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_longest_prefix),
        cmocka_unit_test(test_redundant_entries),
        cmocka_unit_test(test_cap_and_lru),
        cmocka_unit_test(test_churn),
        cmocka_unit_test(test_tag_limit),
        cmocka_unit_test(test_tag_isolation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
