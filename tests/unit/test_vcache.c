/* Tests of the vector snapshots of searches (src/store/vcache.c) on a real
 * tenant database: a second lookup shares the first's snapshot; adding,
 * deleting or re-embedding chunks (also through another connection, as
 * another process would) gives a fresh one with the same rows as SQLite;
 * a snapshot in use survives its replacement; the byte budget evicts the
 * least recently used and a budget of 0 keeps nothing; a deleted tenant's
 * snapshots go with it; searches and writers in several threads at once.
 * Vectors are synthetic: no model is needed. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"
#include "store/vcache.h"

#include "core/banned.h"

#define DIM 16

static char dir[256], data[300];
static struct sysdb *sys;
static struct tenants *tenants;
static struct tenant_db *db;
static struct vcache *vc;
static int doc_seq;

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/lair-vcache-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(data, sizeof(data), "%s/data", dir);
    if (sysdb_init_dir(data) || sysdb_open(data, &sys) || tenants_new(data, sys, &tenants) ||
        tenants_create(tenants, "ville", "Ville") || tenants_get(tenants, "ville", &db) ||
        kb_create(db, "a", NULL) || kb_create(db, "b", NULL))
        return -1;
    vc = tenants_vectors(tenants);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tenant_db_put(db);
    tenants_free(tenants);
    sysdb_free(sys);
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

/* Puts a document of n chunks in kb, each with its own text and a vector
 * whose first component is `mark`. Returns the document id. */
static int64_t put_doc(const char *kb, int n, float mark)
{
    struct kb_chunk_in in[8];
    unsigned char hash[8][KB_HASH_BYTES];
    char text[8][64];
    float vec[8][DIM];
    assert_true(n <= 8);
    int d = ++doc_seq;
    for (int i = 0; i < n; i++) {
        snprintf(text[i], sizeof(text[i]), "document %d, passage %d", d, i);
        memset(hash[i], 0, KB_HASH_BYTES);
        memcpy(hash[i], &d, sizeof(d));
        memcpy(hash[i] + 8, &i, sizeof(i));
        for (int k = 0; k < DIM; k++)
            vec[i][k] = k == 0 ? mark : (float)(d * 100 + i) / 1000.0f;
        in[i] = (struct kb_chunk_in){.text = {text[i], strlen(text[i])},
                                     .heading_path = "",
                                     .tokens = 5,
                                     .hash = hash[i],
                                     .embedding = vec[i]};
    }
    char name[32], sha[65];
    snprintf(name, sizeof(name), "doc%d.txt", d);
    snprintf(sha, sizeof(sha), "%064d", d);
    struct kb_doc_in doc = {.name = name, .sha256 = sha, .size = 10, .format = "text"};
    struct kb_put_result r;
    assert_int_equal(kb_document_put(db, kb, &doc, in, (size_t)n, "m", DIM, 0, 0, &r), LAIR_OK);
    return r.document_id;
}

/* The set equals what SQLite holds now. */
static void assert_matches_db(const struct vec_set *s, const char *kb)
{
    int64_t *ids;
    float *vecs;
    size_t n, dim;
    assert_int_equal(kb_vectors(db, kb, "m", &ids, &vecs, &n, &dim), LAIR_OK);
    assert_int_equal(s->n, n);
    if (n) {
        assert_int_equal(s->dim, dim);
        assert_memory_equal(s->ids, ids, n * sizeof(*ids));
        assert_memory_equal(s->vecs, vecs, n * dim * sizeof(*vecs));
    }
    free(ids);
    free(vecs);
}

static struct vcache_stats stats(void)
{
    struct vcache_stats s;
    vcache_get_stats(vc, &s);
    return s;
}

static void test_shared_then_fresh(void **state)
{
    (void)state;
    int64_t d1 = put_doc("a", 3, 1.0f);
    struct vcache_stats s0 = stats();
    const struct vec_set *x, *y;
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 3);
    assert_int_equal(x->dim, DIM);
    assert_matches_db(x, "a");
    assert_int_equal(vcache_get(vc, db, "a", "m", &y), LAIR_OK);
    assert_ptr_equal(x, y); /* the same snapshot, not read again */
    struct vcache_stats s1 = stats();
    assert_int_equal(s1.loads - s0.loads, 1);
    assert_int_equal(s1.hits - s0.hits, 1);
    vcache_put(vc, x);
    vcache_put(vc, y);

    /* a new document: the next lookup loads the five rows */
    int64_t d2 = put_doc("a", 2, 2.0f);
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 5);
    assert_matches_db(x, "a");
    vcache_put(vc, x);
    assert_int_equal(stats().loads - s0.loads, 2);
    assert_int_equal(stats().entries, s1.entries); /* replaced, not added */

    /* a deleted document: its vectors leave memory with it, and the next
     * snapshot is without them */
    char name[KB_DOC_NAME_MAX + 1];
    assert_true(stats().entries >= 1);
    assert_int_equal(kb_document_delete(db, "a", d1, name), LAIR_OK);
    assert_int_equal(stats().entries, 0);
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 2);
    assert_matches_db(x, "a");
    vcache_put(vc, x);

    /* another model's vectors, or no such base: empty sets */
    assert_int_equal(vcache_get(vc, db, "a", "other", &x), LAIR_OK);
    assert_int_equal(x->n, 0);
    vcache_put(vc, x);
    size_t entries = stats().entries;
    assert_int_equal(vcache_get(vc, db, "absente", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 0);
    vcache_put(vc, x);
    assert_int_equal(stats().entries, entries); /* not cached */
    assert_int_equal(kb_document_delete(db, "a", d2, name), LAIR_OK);
}

/* Another connection (another process: `libreair kb ingest` beside the
 * server) re-embeds a chunk: the triggers move the generation, and the
 * next lookup reads the new vector. */
static void test_other_connection(void **state)
{
    (void)state;
    put_doc("b", 2, 3.0f);
    const struct vec_set *x;
    assert_int_equal(vcache_get(vc, db, "b", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 2);
    int64_t id = x->ids[0];
    assert_true(x->vecs[0] == 3.0f);
    vcache_put(vc, x);

    char path[600];
    snprintf(path, sizeof(path), "%s/tenant.db", tenant_db_dir(db));
    sqlite3 *other;
    assert_int_equal(sqlite3_open(path, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 5000);
    float v[DIM] = {9.0f};
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(other, "UPDATE chunks SET embedding = ?1 WHERE id = ?2", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_blob(st, 1, v, sizeof(v), SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, id);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(other);

    assert_int_equal(vcache_get(vc, db, "b", "m", &x), LAIR_OK);
    assert_int_equal(x->ids[0], id);
    assert_true(x->vecs[0] == 9.0f);
    assert_matches_db(x, "b");
    vcache_put(vc, x);
}

/* A search keeps the snapshot it got while a newer one replaces it. */
static void test_held_snapshot_survives(void **state)
{
    (void)state;
    const struct vec_set *old, *now;
    assert_int_equal(vcache_get(vc, db, "b", "m", &old), LAIR_OK);
    size_t n = old->n;
    float first = old->vecs[0];
    put_doc("b", 1, 4.0f);
    assert_int_equal(vcache_get(vc, db, "b", "m", &now), LAIR_OK);
    assert_ptr_not_equal(old, now);
    assert_int_equal(now->n, n + 1);
    assert_int_equal(old->n, n); /* still whole (ASan: still allocated) */
    assert_true(old->vecs[0] == first);
    vcache_put(vc, old); /* the last user of a replaced snapshot frees it */
    vcache_put(vc, now);
}

static void test_budget(void **state)
{
    (void)state;
    const struct vec_set *x;
    vcache_set_budget(vc, 0); /* evicts everything at once */
    struct vcache_stats s = stats();
    assert_int_equal(s.entries, 0);
    assert_int_equal(s.bytes, 0);
    put_doc("a", 4, 5.0f);
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK); /* served, not kept */
    assert_matches_db(x, "a");
    vcache_put(vc, x);
    assert_int_equal(stats().entries, 0);

    /* each base's snapshot size, alone in the cache */
    size_t size[2];
    const char *kbs[2] = {"a", "b"};
    for (int i = 0; i < 2; i++) {
        vcache_set_budget(vc, 0);
        vcache_forget(vc, db);
        vcache_set_budget(vc, 1 << 20);
        assert_int_equal(vcache_get(vc, db, kbs[i], "m", &x), LAIR_OK);
        vcache_put(vc, x);
        size[i] = stats().bytes;
        assert_true(size[i] > 0);
    }
    /* room for either, not both: b is cached; a then takes its place */
    vcache_set_budget(vc, (size[0] > size[1] ? size[0] : size[1]) + 8);
    s = stats();
    assert_int_equal(s.entries, 1);
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    vcache_put(vc, x);
    struct vcache_stats t = stats();
    assert_int_equal(t.entries, 1);
    assert_int_equal(t.bytes, size[0]);
    assert_int_equal(t.evictions - s.evictions, 1);
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    vcache_put(vc, x);
    assert_int_equal(stats().hits - t.hits, 1);
    assert_int_equal(vcache_get(vc, db, "b", "m", &x), LAIR_OK); /* b was evicted: loaded */
    vcache_put(vc, x);
    assert_int_equal(stats().loads - t.loads, 1);
    assert_int_equal(stats().hits - t.hits, 1);
    vcache_set_budget(vc, (size_t)VCACHE_DEFAULT_MIB << 20);
}

static void test_deleted_tenant(void **state)
{
    (void)state;
    struct tenant_db *other;
    assert_int_equal(tenants_create(tenants, "autre", "Autre"), LAIR_OK);
    assert_int_equal(tenants_get(tenants, "autre", &other), LAIR_OK);
    assert_int_equal(kb_create(other, "a", NULL), LAIR_OK);
    struct tenant_db *keep = db;
    db = other;
    put_doc("a", 2, 6.0f);
    db = keep;
    size_t before = stats().entries;
    const struct vec_set *x;
    assert_int_equal(vcache_get(vc, other, "a", "m", &x), LAIR_OK);
    assert_int_equal(x->n, 2);
    vcache_put(vc, x);
    assert_int_equal(stats().entries, before + 1);
    /* same slug, same base id, another tenant: never mixed up */
    assert_int_equal(vcache_get(vc, db, "a", "m", &x), LAIR_OK);
    assert_matches_db(x, "a");
    vcache_put(vc, x);
    size_t with = stats().entries;
    tenant_db_put(other);
    assert_int_equal(tenants_delete(tenants, "autre"), LAIR_OK);
    assert_int_equal(stats().entries, with - 1);
}

/* Readers and a writer at once: every snapshot a reader gets is whole (its
 * rows are those of one moment: the count of a base that only grows is
 * never below what the reader saw before), and nothing leaks (ASan). */
struct reader {
    int rounds;
    int errors;
};

static void *read_loop(void *p)
{
    struct reader *r = p;
    size_t last = 0;
    for (int i = 0; i < r->rounds; i++) {
        const struct vec_set *x;
        if (vcache_get(vc, db, "b", "m", &x) != LAIR_OK) {
            r->errors++;
            continue;
        }
        float sum = 0;
        for (size_t k = 0; k < x->n * x->dim; k++)
            sum += x->vecs[k];
        if (x->n < last || (x->n && !(sum > 0)))
            r->errors++;
        last = x->n;
        vcache_put(vc, x);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    enum { N = 4 };
    pthread_t th[N];
    struct reader r[N];
    for (int i = 0; i < N; i++) {
        r[i] = (struct reader){.rounds = 300};
        assert_int_equal(pthread_create(&th[i], NULL, read_loop, &r[i]), 0);
    }
    for (int i = 0; i < 20; i++)
        put_doc("b", 2, 7.0f);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].errors, 0);
    }
    const struct vec_set *x;
    assert_int_equal(vcache_get(vc, db, "b", "m", &x), LAIR_OK);
    assert_matches_db(x, "b");
    vcache_put(vc, x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_shared_then_fresh),
        cmocka_unit_test(test_other_connection),
        cmocka_unit_test(test_held_snapshot_survives),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_deleted_tenant),
        cmocka_unit_test(test_threads),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
