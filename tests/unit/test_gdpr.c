/* Unit tests for the GDPR module: erasure (gone from the tables and from
 * every byte of the data directory, audited by token, idempotent), a crash
 * at a random point of an erasure (fork + SIGKILL, then recovery: complete,
 * never half done), retention purges per assistant and per tenant, the PII
 * policy of stored text with its pseudonym table, the export document, the
 * subject token, the log filter, the processing register, document
 * deletion in a knowledge base against the same byte-level check, and an
 * erasure on a full disk (an SQLite VFS that refuses to grow files). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "audit/audit.h"
#include "gdpr/erase.h"
#include "gdpr/export.h"
#include "gdpr/pii.h"
#include "gdpr/policy.h"
#include "gdpr/register.h"
#include "gdpr/retention.h"
#include "gdpr/subject.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "store/gdpr_store.h"
#include "store/kb.h"

#include "full_vfs.h"

/* ---- a data directory with one tenant ---- */

struct env {
    char root[64], data[192];
    struct sysdb *sys;
    struct tenants *tenants;
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
};

static void env_open(struct env *v)
{
    assert_int_equal(sysdb_open(v->data, &v->sys), LAIR_OK);
    assert_int_equal(tenants_new(v->data, v->sys, &v->tenants), LAIR_OK);
    assert_int_equal(tenants_get(v->tenants, "ville-a", &v->db), LAIR_OK);
    assert_int_equal(audit_key_load(v->data, v->key), LAIR_OK);
}

static void env_close(struct env *v)
{
    tenant_db_put(v->db);
    tenants_free(v->tenants);
    sysdb_free(v->sys);
    v->db = NULL;
    v->tenants = NULL;
    v->sys = NULL;
}

static void env_init(struct env *v)
{
    memset(v, 0, sizeof(*v));
    snprintf(v->root, sizeof(v->root), "/tmp/lair-gdpr-XXXXXX");
    assert_non_null(mkdtemp(v->root));
    snprintf(v->data, sizeof(v->data), "%s/data", v->root);
    assert_int_equal(sysdb_init_dir(v->data), LAIR_OK);
    assert_int_equal(sysdb_open(v->data, &v->sys), LAIR_OK);
    assert_int_equal(tenants_new(v->data, v->sys, &v->tenants), LAIR_OK);
    assert_int_equal(tenants_create(v->tenants, "ville-a", "Ville A"), LAIR_OK);
    assert_int_equal(tenants_get(v->tenants, "ville-a", &v->db), LAIR_OK);
    assert_int_equal(audit_key_load(v->data, v->key), LAIR_OK);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static void env_free(struct env *v)
{
    env_close(v);
    nftw(v->root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- the byte-level check: how many times needle occurs in the files ---- */

static const char *grep_needle;
static size_t grep_hits;

static int grep_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)ftw;
    if (flag != FTW_F || sb->st_size == 0)
        return 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return 0;
    void *p = mmap(NULL, (size_t)sb->st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (p == MAP_FAILED)
        return 0;
    const char *s = p, *end = s + sb->st_size;
    size_t n = strlen(grep_needle);
    while (s < end && (s = memmem(s, (size_t)(end - s), grep_needle, n))) {
        grep_hits++;
        s += n;
    }
    munmap(p, (size_t)sb->st_size);
    return 0;
}

static size_t grep_dir(const char *dir, const char *needle)
{
    grep_needle = needle;
    grep_hits = 0;
    nftw(dir, grep_entry, 16, FTW_PHYS);
    return grep_hits;
}

/* ---- making conversations ---- */

static void fast_writes(struct env *v)
{
    sqlite3_exec(tenant_db_handle(v->db), "PRAGMA synchronous=OFF", NULL, NULL, NULL);
}

/* A conversation of subject with `exchanges` exchanges whose text holds tag. */
static void make_conv(struct env *v, const char *assistant, const char *subject, const char *tag,
                      int exchanges, size_t pad, char id_out[CONV_ID_LEN + 1])
{
    struct conv_row row = {0};
    conv_new_id(row.id);
    snprintf(row.assistant, sizeof(row.assistant), "%s", assistant);
    snprintf(row.subject, sizeof(row.subject), "%s", subject);
    snprintf(row.key_id, sizeof(row.key_id), "0123456789ab");
    char *text = malloc(pad + 200), *answer = malloc(pad + 200);
    assert_non_null(text);
    assert_non_null(answer);
    for (int i = 0; i < exchanges; i++) {
        int n = snprintf(text, 200, "question %d %s ", i, tag);
        memset(text + n, 'q', pad);
        text[n + (int)pad] = 0;
        snprintf(answer, pad + 200, "answer %d about %s", i, tag);
        struct conv_exchange x = {.id = row.id,
                                  .create = i == 0 ? &row : NULL,
                                  .user_text = str_c(text),
                                  .answer_text = str_c(answer),
                                  .prompt_tokens = 10,
                                  .completion_tokens = 5};
        assert_int_equal(conv_append(v->db, &x), LAIR_OK);
    }
    free(text);
    free(answer);
    if (id_out)
        memcpy(id_out, row.id, sizeof(row.id));
}

static size_t count_subject(struct env *v, const char *subject)
{
    struct conv_row *rows = calloc(1000, sizeof(*rows));
    size_t n = 0;
    bool more;
    struct conv_filter f = {.subject = subject};
    assert_non_null(rows);
    assert_int_equal(conv_list(v->db, &f, NULL, rows, 1000, &n, &more), LAIR_OK);
    free(rows);
    return n;
}

static void random_tag(char *out, size_t n, const char *prefix)
{
    unsigned char r[8];
    char hex[17];
    randombytes_buf(r, sizeof(r));
    sodium_bin2hex(hex, sizeof(hex), r, sizeof(r));
    snprintf(out, n, "%s%s", prefix, hex);
}

/* ---- audit helpers ---- */

struct audit_count {
    const char *action;
    int n;
    bool names_raw; /* some event's target or detail holds the raw subject */
    const char *raw;
};

static bool count_event(void *ctx, const struct audit_row *r)
{
    struct audit_count *c = ctx;
    if (str_eq_c(r->action, c->action))
        c->n++;
    if (c->raw &&
        (str_find(r->target, str_c(c->raw)) >= 0 || str_find(r->detail, str_c(c->raw)) >= 0))
        c->names_raw = true;
    return true;
}

static int audit_events(struct env *v, const char *action, const char *raw, bool *names_raw)
{
    struct audit_count c = {action, 0, false, raw};
    struct audit_db adb = {.tenant = v->db};
    assert_int_equal(audit_store_list(adb, 0, 0, 100000, count_event, &c), LAIR_OK);
    if (names_raw)
        *names_raw = c.names_raw;
    return c.n;
}

static void assert_chain_ok(struct env *v)
{
    struct audit_log l;
    struct audit_report rep;
    audit_log_tenant(&l, v->db, v->key);
    assert_int_equal(audit_verify(&l, &rep), LAIR_OK);
    audit_log_release(&l);
    assert_true(rep.ok);
}

/* ---- erasure ---- */

static void test_erase_leaves_nothing(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    char canary[64], subject[64], other[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    random_tag(subject, sizeof(subject), "citizen-");
    random_tag(other, sizeof(other), "other-");
    /* interleaved with another subject's, of varied sizes, so that b-tree
     * pages are shared and rebalanced */
    for (int i = 0; i < 120; i++) {
        make_conv(&v, "etat-civil", subject, canary, 1 + i % 3, (size_t)(i * 37) % 1500, NULL);
        make_conv(&v, "etat-civil", other, "kept", 1 + i % 2, (size_t)(i * 53) % 1500, NULL);
    }
    assert_int_equal(count_subject(&v, subject), 120);
    assert_true(grep_dir(v.data, canary) > 0);
    assert_true(grep_dir(v.data, subject) > 0);

    struct gdpr_erasure r;
    assert_int_equal(gdpr_erase(v.db, v.key, subject, "0123456789ab", &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 120);
    assert_int_equal(r.counts.messages, 2 * (40 * 1 + 40 * 2 + 40 * 3));
    assert_true(r.scrubbed);
    assert_int_equal(count_subject(&v, subject), 0);
    assert_int_equal(count_subject(&v, other), 120);
    /* not a byte left anywhere: tables, free pages, the log */
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_int_equal(grep_dir(v.data, subject), 0);
    assert_true(grep_dir(v.data, "kept") > 0);

    /* audited once, by token, never by id */
    bool raw;
    assert_int_equal(audit_events(&v, "gdpr.erase", subject, &raw), 1);
    assert_false(raw);
    char token[GDPR_TOKEN_MAX];
    gdpr_subject_token(v.key, "ville-a", str_c(subject), token);
    assert_string_equal(token, r.token);
    assert_int_equal(strlen(token), 3 + 32);

    /* idempotent: nothing more to delete, one more event */
    assert_int_equal(gdpr_erase(v.db, v.key, subject, "cli", &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 0);
    assert_int_equal(r.counts.messages, 0);
    assert_int_equal(audit_events(&v, "gdpr.erase", NULL, NULL), 2);
    assert_chain_ok(&v);

    /* bad subjects */
    assert_int_equal(gdpr_erase(v.db, v.key, "", "cli", &r), LAIR_EINVAL);
    char big[GDPR_SUBJECT_MAX + 2];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    assert_int_equal(gdpr_erase(v.db, v.key, big, "cli", &r), LAIR_EINVAL);
    env_free(&v);
}

/* Why erasure rewrites the file: rows deleted with secure_delete on and the
 * log truncated can still leave stale copies in pages that a rebalance
 * rebuilt. Measured (printed, since it depends on page layout), then the
 * scrub must leave none. */
static void test_secure_delete_alone(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    char canary[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    size_t left = 0;
    for (int round = 0; round < 3; round++) {
        char(*ids)[CONV_ID_LEN + 1] = calloc(150, sizeof(*ids));
        char(*others)[CONV_ID_LEN + 1] = calloc(150, sizeof(*others));
        assert_non_null(ids);
        assert_non_null(others);
        for (int i = 0; i < 150; i++) {
            make_conv(&v, "a", "victim", canary, 1 + i % 3, (size_t)(i * 37 + round) % 1500,
                      ids[i]);
            make_conv(&v, "a", "other", "kept", 1 + i % 2, (size_t)(i * 53) % 1500, others[i]);
        }
        /* other deletions first: underfull pages merge, moving live cells */
        for (int i = 0; i < 150; i += 2)
            assert_int_equal(conv_delete(v.db, others[i], NULL), LAIR_OK);
        for (int i = 0; i < 150; i++)
            assert_int_equal(conv_delete(v.db, ids[i], NULL), LAIR_OK);
        free(ids);
        free(others);
        sqlite3_wal_checkpoint_v2(tenant_db_handle(v.db), NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                  NULL);
        left += grep_dir(v.data, canary);
    }
    print_message("secure_delete and a truncated log alone left %zu stale copies\n", left);
    assert_int_equal(gdpr_store_scrub(v.db), LAIR_OK);
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_true(grep_dir(v.data, "kept") > 0);
    env_free(&v);
}

/* ---- a crash at a random point of an erasure ---- */

#define CRASH_SUBJECT_CONVS 150

/* Child: erases and exits; killed somewhere on the way. */
static void crash_child(const char *data, const char *subject)
{
    struct sysdb *sys;
    struct tenants *t;
    struct tenant_db *db;
    unsigned char key[AUDIT_KEY_LEN];
    if (sysdb_open(data, &sys) || tenants_new(data, sys, &t) || tenants_get(t, "ville-a", &db) ||
        audit_key_load(data, key))
        _exit(3);
    struct gdpr_erasure r;
    _exit(gdpr_erase(db, key, subject, "cli", &r) ? 4 : 0);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Runs the child on a copy of the template, kills it after delay_ms (< 0:
 * lets it finish); returns its wait status. */
static int run_child(const char *data, const char *subject, double delay_ms)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        crash_child(data, subject);
    if (delay_ms >= 0) {
        struct timespec ts = {(time_t)(delay_ms / 1e3),
                              (long)((delay_ms - (double)(time_t)(delay_ms / 1e3) * 1e3) * 1e6)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

static void copy_tree(const char *from, const char *to)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
    assert_int_equal(system(cmd), 0);
}

static void test_erase_crash(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    char canary[64], subject[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    random_tag(subject, sizeof(subject), "citizen-");
    for (int i = 0; i < CRASH_SUBJECT_CONVS; i++) {
        make_conv(&v, "etat-civil", subject, canary, 2, (size_t)(i * 41) % 1200, NULL);
        make_conv(&v, "etat-civil", "someone-else", "kept", 2, (size_t)(i * 29) % 1200, NULL);
    }
    env_close(&v); /* no connection may cross a fork */
    char template[160], work[160];
    snprintf(template, sizeof(template), "%s/template", v.root);
    snprintf(work, sizeof(work), "%s/work", v.root);
    copy_tree(v.data, template);

    /* how long an uninterrupted erasure takes in a child */
    copy_tree(template, work);
    double t0 = now_ms();
    int st = run_child(work, subject, -1);
    double span = now_ms() - t0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    int outcomes[3] = {0}; /* not started, interrupted and resumed, finished */
    for (int round = 0; round < 16; round++) {
        copy_tree(template, work);
        double delay = span * 1.2 * (double)randombytes_uniform(1000) / 1000.0;
        run_child(work, subject, delay);

        struct env w = v;
        snprintf(w.data, sizeof(w.data), "%s", work);
        env_open(&w);
        size_t left = count_subject(&w, subject);
        struct gdpr_pending pend[4];
        size_t n_pend;
        assert_int_equal(gdpr_store_pending_list(w.db, pend, 4, &n_pend), LAIR_OK);
        /* one transaction: never half the conversations */
        assert_true(left == 0 || left == CRASH_SUBJECT_CONVS);
        bool started = n_pend > 0 || left == 0;
        int resumed = 0;
        assert_int_equal(gdpr_recover(w.db, w.key, &resumed, NULL), LAIR_OK);
        assert_int_equal(resumed, (int)n_pend);
        assert_int_equal(count_subject(&w, subject), started ? 0 : CRASH_SUBJECT_CONVS);
        assert_int_equal(count_subject(&w, "someone-else"), CRASH_SUBJECT_CONVS);
        assert_int_equal(gdpr_store_pending_list(w.db, pend, 4, &n_pend), LAIR_OK);
        assert_int_equal(n_pend, 0);
        assert_int_equal(audit_events(&w, "gdpr.erase", NULL, NULL), started ? 1 : 0);
        assert_chain_ok(&w);
        env_close(&w);
        if (started) {
            assert_int_equal(grep_dir(work, canary), 0);
            assert_int_equal(grep_dir(work, subject), 0);
        }
        outcomes[!started ? 0 : resumed ? 1 : 2]++;
    }
    print_message(
        "crash rounds: %d before the journal, %d resumed, %d finished (erasure %.0f ms)\n",
        outcomes[0], outcomes[1], outcomes[2], span);
    env_free(&v);
}

/* ---- retention ---- */

static void publish(struct env *v, const char *slug, int days)
{
    char spec[256];
    int version;
    snprintf(spec, sizeof(spec), "{\"slug\":\"%s\",\"name\":\"%s\",\"retention_days\":%d}", slug,
             slug, days);
    assert_int_equal(assistants_create(v->db, slug, spec, "cli", &version), LAIR_OK);
    assert_int_equal(assistants_publish(v->db, slug, ASSISTANT_DRAFT, NULL), LAIR_OK);
}

static void test_purge(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    publish(&v, "court", 5);  /* its own retention: 5 days */
    publish(&v, "defaut", 0); /* the tenant's */
    char canary[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    make_conv(&v, "court", "s1", canary, 2, 100, NULL);
    make_conv(&v, "defaut", "s2", "default-text", 2, 100, NULL);
    make_conv(&v, "raw-model", "s3", "raw-text", 1, 100, NULL);
    /* a pseudonym whose conversation never came to exist */
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(gdpr_apply_policy(v.db, PII_PSEUDONYMISE, "conv_orphanorphanorphanorpha", "s9",
                                       S("tel 06 12 34 56 78"), &b),
                     LAIR_OK);
    buf_release(&b);

    int64_t now = (int64_t)time(NULL);
    struct gdpr_purge_report r;
    /* tenant without a default: only "court" has a limit; the orphan
     * pseudonym goes once it is a day old */
    assert_true(grep_dir(v.data, "0612345678") > 0);
    assert_int_equal(gdpr_purge_tenant(v.db, 0, v.key, now + 4 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 0);
    assert_int_equal(r.counts.pseudonyms, 1);
    assert_int_equal(r.rules, 1);
    assert_true(r.scrubbed);
    assert_int_equal(grep_dir(v.data, "0612345678"), 0);
    assert_int_equal(count_subject(&v, "s1"), 1);
    assert_int_equal(gdpr_purge_tenant(v.db, 0, v.key, now + 6 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 1);
    assert_int_equal(r.counts.messages, 4);
    assert_int_equal(r.counts.pseudonyms, 0);
    assert_true(r.scrubbed);
    assert_int_equal(count_subject(&v, "s1"), 0);
    assert_int_equal(count_subject(&v, "s2"), 1);
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_int_equal(audit_events(&v, "gdpr.purge", NULL, NULL), 2);

    /* a tenant default of 30 days takes the others, raw models included */
    assert_int_equal(gdpr_purge_tenant(v.db, 30, v.key, now + 29 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 0);
    assert_int_equal(gdpr_purge_tenant(v.db, 30, v.key, now + 31 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 2);
    assert_int_equal(count_subject(&v, "s2") + count_subject(&v, "s3"), 0);
    assert_int_equal(grep_dir(v.data, "default-text"), 0);
    assert_int_equal(grep_dir(v.data, "raw-text"), 0);
    /* nothing left: no event, no scrub */
    assert_int_equal(gdpr_purge_tenant(v.db, 30, v.key, now + 40 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 0);
    assert_false(r.scrubbed);
    assert_int_equal(audit_events(&v, "gdpr.purge", NULL, NULL), 3);
    assert_chain_ok(&v);

    /* a conversation deleted by anyone else marks the database: the next
     * run scrubs it */
    char cid[CONV_ID_LEN + 1];
    random_tag(canary, sizeof(canary), "CANARY-");
    make_conv(&v, "defaut", "s5", canary, 1, 10, cid);
    assert_int_equal(conv_delete(v.db, cid, NULL), LAIR_OK);
    bool needed = false;
    assert_int_equal(gdpr_store_scrub_needed(v.db, &needed), LAIR_OK);
    assert_true(needed);
    assert_true(grep_dir(v.data, canary) > 0); /* in the log until the scrub */
    assert_int_equal(gdpr_purge_tenant(v.db, 30, v.key, now + 41 * GDPR_DAY, &r), LAIR_OK);
    assert_int_equal(r.counts.conversations, 0);
    assert_true(r.scrubbed);
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_int_equal(gdpr_store_scrub_needed(v.db, &needed), LAIR_OK);
    assert_false(needed);

    /* gdpr_purge_all reads the tenant's default from system.db */
    make_conv(&v, "defaut", "s4", "later", 1, 10, NULL);
    assert_int_equal(sysdb_tenant_set_limits(v.sys, "ville-a", -1, -1, 2), LAIR_OK);
    assert_int_equal(gdpr_purge_all(v.sys, v.tenants, v.data, now + 3 * GDPR_DAY, NULL, NULL),
                     LAIR_OK);
    assert_int_equal(count_subject(&v, "s4"), 0);
    env_free(&v);
}

/* ---- policy and pseudonyms ---- */

struct ps_list {
    char text[512];
};

static enum lair_err list_cb(void *ctx, const struct gdpr_pseudonym *p)
{
    struct ps_list *l = ctx;
    size_t n = strlen(l->text);
    snprintf(l->text + n, sizeof(l->text) - n, "%s%u=%.*s;", p->type, p->n, (int)p->value.len,
             p->value.ptr);
    return LAIR_OK;
}

static void test_policy(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    struct buf b;
    buf_init(&b, 0);
    const char *t1 = "Appelez-moi au 06 12 34 56 78 ou jean.dupont@mairie.fr";
    assert_int_equal(gdpr_apply_policy(NULL, PII_KEEP, NULL, NULL, str_c(t1), &b), LAIR_OK);
    assert_string_equal(b.ptr, t1);
    buf_reset(&b);
    assert_int_equal(gdpr_apply_policy(NULL, PII_MASK, NULL, NULL, str_c(t1), &b), LAIR_OK);
    assert_string_equal(b.ptr, "Appelez-moi au [PHONE] ou [EMAIL]");

    /* pseudonymise: stable across the conversation's texts, however typed */
    char id[CONV_ID_LEN + 1];
    conv_new_id(id);
    buf_reset(&b);
    assert_int_equal(gdpr_apply_policy(v.db, PII_PSEUDONYMISE, id, "subj", str_c(t1), &b), LAIR_OK);
    assert_string_equal(b.ptr, "Appelez-moi au [PHONE_1] ou [EMAIL_1]");
    buf_reset(&b);
    assert_int_equal(gdpr_apply_policy(v.db, PII_PSEUDONYMISE, id, "subj",
                                       S("Le +33 6 12 34 56 78, ou le 07 00 00 00 01 ?"), &b),
                     LAIR_OK);
    assert_string_equal(b.ptr, "Le [PHONE_1], ou le [PHONE_2] ?");
    struct ps_list l = {""};
    assert_int_equal(gdpr_store_pseudonyms_list(v.db, id, list_cb, &l), LAIR_OK);
    assert_string_equal(l.text,
                        "email1=jean.dupont@mairie.fr;phone1=0612345678;phone2=0700000001;");

    /* the exchange could not be stored: its conversation does not exist */
    assert_int_equal(gdpr_policy_discard(v.db, id), LAIR_OK);
    l.text[0] = 0;
    assert_int_equal(gdpr_store_pseudonyms_list(v.db, id, list_cb, &l), LAIR_OK);
    assert_string_equal(l.text, "");

    /* once the conversation exists, discard keeps them and deletion takes them */
    struct conv_row row = {0};
    snprintf(row.id, sizeof(row.id), "%s", id);
    snprintf(row.assistant, sizeof(row.assistant), "a");
    snprintf(row.subject, sizeof(row.subject), "subj");
    snprintf(row.key_id, sizeof(row.key_id), "0123456789ab");
    buf_reset(&b);
    assert_int_equal(gdpr_apply_policy(v.db, PII_PSEUDONYMISE, id, "subj", str_c(t1), &b), LAIR_OK);
    struct conv_exchange x = {
        .id = id, .create = &row, .user_text = buf_str(&b), .answer_text = S("ok")};
    assert_int_equal(conv_append(v.db, &x), LAIR_OK);
    assert_int_equal(gdpr_policy_discard(v.db, id), LAIR_OK);
    l.text[0] = 0;
    assert_int_equal(gdpr_store_pseudonyms_list(v.db, id, list_cb, &l), LAIR_OK);
    assert_string_equal(l.text, "email1=jean.dupont@mairie.fr;phone1=0612345678;");
    assert_int_equal(conv_delete(v.db, id, NULL), LAIR_OK);
    l.text[0] = 0;
    assert_int_equal(gdpr_store_pseudonyms_list(v.db, id, list_cb, &l), LAIR_OK);
    assert_string_equal(l.text, "");

    /* no table to keep them in: masked, never stored as typed */
    buf_reset(&b);
    assert_int_equal(gdpr_apply_policy(NULL, PII_PSEUDONYMISE, id, "subj", str_c(t1), &b), LAIR_OK);
    assert_string_equal(b.ptr, "Appelez-moi au [PHONE] ou [EMAIL]");
    buf_release(&b);
    env_free(&v);
}

/* ---- export ---- */

static enum lair_err to_buf(void *ctx, const char *p, size_t n)
{
    return buf_append(ctx, p, n);
}

static json_t *export_json(struct env *v, const char *subject)
{
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(gdpr_export(v->db, v->key, subject, to_buf, &b), LAIR_OK);
    json_error_t je;
    json_t *doc = json_loadb(b.ptr, b.len, 0, &je);
    if (!doc)
        fail_msg("export is not JSON: %s: %.300s", je.text, b.ptr);
    buf_release(&b);
    return doc;
}

static void test_export(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    char id[CONV_ID_LEN + 1];
    make_conv(&v, "etat-civil", "alice@example.fr", "first", 2, 5, id);
    make_conv(&v, "etat-civil", "alice@example.fr", "second", 1, 5, NULL);
    make_conv(&v, "etat-civil", "bob", "bob's", 1, 5, NULL);
    struct buf b;
    buf_init(&b, 0);
    assert_int_equal(gdpr_apply_policy(v.db, PII_PSEUDONYMISE, id, "alice@example.fr",
                                       S("iban FR76 3000 6000 0112 3456 7890 189"), &b),
                     LAIR_OK);
    buf_release(&b);

    json_t *doc = export_json(&v, "alice@example.fr");
    assert_string_equal(json_string_value(json_object_get(doc, "object")), "gdpr.export");
    assert_string_equal(json_string_value(json_object_get(doc, "subject")), "alice@example.fr");
    json_t *convs = json_object_get(doc, "conversations");
    assert_int_equal(json_array_size(convs), 2);
    json_t *c0 = json_array_get(convs, 0);
    assert_string_equal(json_string_value(json_object_get(c0, "id")), id);
    json_t *msgs = json_object_get(c0, "messages");
    assert_int_equal(json_array_size(msgs), 4);
    assert_non_null(
        strstr(json_string_value(json_object_get(json_array_get(msgs, 0), "content")), "first"));
    json_t *ps = json_object_get(c0, "pseudonyms");
    assert_int_equal(json_array_size(ps), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(ps, 0), "placeholder")),
                        "[IBAN_1]");
    json_t *usage = json_object_get(doc, "usage");
    assert_int_equal(json_integer_value(json_object_get(usage, "conversations")), 2);
    assert_int_equal(json_integer_value(json_object_get(usage, "messages")), 6);
    assert_int_equal(json_integer_value(json_object_get(usage, "prompt_tokens")), 30);
    char *all = json_dumps(doc, 0);
    assert_non_null(all);
    assert_null(strstr(all, "bob's"));
    free(all);
    json_decref(doc);

    /* after erasure: empty, and the audit shows the erasure by token */
    struct gdpr_erasure r;
    assert_int_equal(gdpr_erase(v.db, v.key, "alice@example.fr", "0123456789ab", &r), LAIR_OK);
    doc = export_json(&v, "alice@example.fr");
    assert_int_equal(json_array_size(json_object_get(doc, "conversations")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "pseudonyms_without_conversation")), 0);
    json_t *audit = json_object_get(doc, "audit");
    assert_int_equal(json_array_size(audit), 1);
    json_t *ev = json_array_get(audit, 0);
    assert_string_equal(json_string_value(json_object_get(ev, "action")), "gdpr.erase");
    char target[80];
    snprintf(target, sizeof(target), "subject:%s", r.token);
    assert_string_equal(json_string_value(json_object_get(ev, "target")), target);
    assert_false(json_is_true(json_object_get(doc, "erasure_pending")));
    json_decref(doc);

    /* a pending erasure is reported however many others wait before it
     * (the export used to look at the first 16 only) */
    struct gdpr_pending pend;
    for (int i = 0; i < 20; i++) {
        char who[32];
        snprintf(who, sizeof(who), "waiting-%02d", i);
        assert_int_equal(gdpr_store_pending_add(v.db, who, "sh_x", "0123456789ab", &pend), LAIR_OK);
    }
    doc = export_json(&v, "waiting-19");
    assert_true(json_is_true(json_object_get(doc, "erasure_pending")));
    json_decref(doc);
    doc = export_json(&v, "waiting-20");
    assert_false(json_is_true(json_object_get(doc, "erasure_pending")));
    json_decref(doc);

    /* an unknown subject: an empty document, not an error */
    doc = export_json(&v, "nobody");
    assert_int_equal(json_array_size(json_object_get(doc, "conversations")), 0);
    assert_int_equal(json_array_size(json_object_get(doc, "audit")), 0);
    json_decref(doc);
    assert_int_equal(gdpr_export(v.db, v.key, "", to_buf, NULL), LAIR_EINVAL);
    env_free(&v);
}

/* ---- token, log filter, register ---- */

static void test_token_and_log(void **state)
{
    (void)state;
    unsigned char k1[AUDIT_KEY_LEN] = {1}, k2[AUDIT_KEY_LEN] = {2};
    char a[GDPR_TOKEN_MAX], b[GDPR_TOKEN_MAX], c[GDPR_TOKEN_MAX], d[GDPR_TOKEN_MAX];
    gdpr_subject_token(k1, "ville-a", S("jean@x.fr"), a);
    gdpr_subject_token(k1, "ville-a", S("jean@x.fr"), b);
    gdpr_subject_token(k2, "ville-a", S("jean@x.fr"), c);
    gdpr_subject_token(k1, "ville-b", S("jean@x.fr"), d);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_string_not_equal(a, d);
    assert_memory_equal(a, "sh_", 3);
    assert_false(gdpr_subject_valid(S("")));
    assert_false(gdpr_subject_valid((struct str){"a\0b", 3}));
    assert_false(gdpr_subject_valid(S("\xff")));
    assert_true(gdpr_subject_valid(S("Jean Dupont")));

    char out[64];
    const char *line = "user 06 12 34 56 78 wrote";
    size_t n = gdpr_log_filter(line, strlen(line), out, sizeof(out));
    assert_string_equal(out, "user [PHONE] wrote");
    assert_int_equal(n, strlen(out));
    /* cut short: never a partial value */
    n = gdpr_log_filter(line, strlen(line), out, 12);
    assert_int_equal(n, 11);
    assert_string_equal(out, "user [PHONE");
    n = gdpr_log_filter(line, strlen(line), out, 8);
    assert_string_equal(out, "user [P");
    assert_null(strstr(out, "06"));
}

static void test_register(void **state)
{
    (void)state;
    json_t *spec = json_loads("{\"slug\":\"etat-civil\",\"name\":\"Assistant état civil\","
                              "\"instructions\":\"Tu réponds aux questions sur l'état civil. Sois "
                              "bref.\",\"model\":\"default\",\"guardrails\":{\"pii\":\"mask\"},"
                              "\"visibility\":\"public\",\"allowed_origins\":"
                              "[\"https://www.ville.fr\"],\"retention_days\":90}",
                              0, NULL);
    struct assistant a;
    struct assistant_error err;
    assert_int_equal(assistant_parse(spec, NULL, &a, &err), LAIR_OK);
    a.version = 3;
    struct gdpr_register_assistant ra = {&a, true};
    struct gdpr_register_in in = {.tenant = "ville-a",
                                  .tenant_name = "Ville <A>",
                                  .assistants = &ra,
                                  .n = 1,
                                  .purge_interval_s = 3600};
    json_t *reg = gdpr_register_json(&in);
    assert_non_null(reg);
    json_t *p = json_array_get(json_object_get(reg, "processings"), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(p, "purpose"), "text")),
                        "Tu réponds aux questions sur l'état civil.");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(p, "retention"), "days")),
                     90);
    assert_int_equal(json_array_size(json_object_get(p, "recipients")), 0);
    assert_string_equal(json_string_value(json_object_get(p, "pii_policy")), "mask");
    struct buf md, html;
    buf_init(&md, 0);
    buf_init(&html, 0);
    assert_int_equal(gdpr_register_markdown(reg, &md), LAIR_OK);
    assert_int_equal(gdpr_register_html(reg, &html), LAIR_OK);
    assert_non_null(strstr(md.ptr, "| Finalité | Tu réponds aux questions sur l'état civil. |"));
    assert_non_null(strstr(md.ptr, "https://www.ville.fr"));
    assert_non_null(strstr(html.ptr, "Ville &lt;A&gt;"));
    assert_null(strstr(html.ptr, "Ville <A>"));
    buf_release(&md);
    buf_release(&html);
    json_decref(reg);
    /* never published: the purge follows the organisation's retention (it
     * reads published versions only), and the register says so */
    ra.published = false;
    in.tenant_retention_days = 30;
    reg = gdpr_register_json(&in);
    p = json_array_get(json_object_get(reg, "processings"), 0);
    json_t *r = json_object_get(p, "retention");
    assert_int_equal(json_integer_value(json_object_get(r, "days")), 30);
    assert_string_equal(json_string_value(json_object_get(r, "source")), "tenant");
    assert_non_null(
        strstr(json_string_value(json_object_get(r, "text")), "à sa publication, 90 jours"));
    json_decref(reg);
    in.tenant_retention_days = 0;
    reg = gdpr_register_json(&in);
    r = json_object_get(
        json_object_get(json_array_get(json_object_get(reg, "processings"), 0), "retention"),
        "days");
    assert_true(json_is_null(r));
    json_decref(reg);
    assistant_release(&a);
    json_decref(spec);

    char s[16];
    assert_int_equal(gdpr_first_sentence("  Une phrase! Deux.", s, sizeof(s)), 11);
    assert_string_equal(s, "Une phrase!");
    assert_int_equal(gdpr_first_sentence("", s, sizeof(s)), 0);
    gdpr_first_sentence("ééééééééééééééééé", s, sizeof(s)); /* cut on a character */
    assert_int_equal(strlen(s), 14);
}

/* ---- knowledge bases: document deletion against the byte-level check ---- */

static void put_doc(struct env *v, const char *name, const char *tag, int chunks)
{
    struct kb_chunk_in *c = calloc((size_t)chunks, sizeof(*c));
    char(*text)[700] = calloc((size_t)chunks, sizeof(*text));
    unsigned char(*hash)[KB_HASH_BYTES] = calloc((size_t)chunks, sizeof(*hash));
    assert_non_null(c);
    assert_non_null(text);
    assert_non_null(hash);
    for (int i = 0; i < chunks; i++) {
        snprintf(text[i], sizeof(text[i]), "Paragraphe %d du document %s : %s. %.*s", i, name, tag,
                 300 + (i * 97) % 300,
                 "Les demandes d'acte de naissance se font en ligne ou au guichet de la mairie, "
                 "du lundi au vendredi, sur présentation d'une pièce d'identité et d'un "
                 "justificatif de domicile de moins de trois mois. Les délais de traitement "
                 "varient selon la période de l'année et le nombre de demandes en attente. "
                 "Pour les mariages, un dossier complet doit être déposé au moins un mois avant "
                 "la date choisie, avec les actes de naissance des deux futurs époux et la liste "
                 "des témoins. Les agents vous accompagnent dans chaque démarche.");
        crypto_hash_sha256(hash[i], (const unsigned char *)text[i], strlen(text[i]));
        c[i] = (struct kb_chunk_in){.text = str_c(text[i]),
                                    .heading_path = "Démarches",
                                    .page = 0,
                                    .tokens = 100,
                                    .hash = hash[i]};
    }
    struct kb_doc_in d = {.name = name,
                          .sha256 =
                              "0000000000000000000000000000000000000000000000000000000000000000",
                          .size = 1000,
                          .format = "txt",
                          .pages = 0};
    struct kb_put_result r;
    assert_int_equal(kb_document_put(v->db, "demarches", &d, c, (size_t)chunks, NULL, 0, 0, 0, &r),
                     LAIR_OK);
    free(c);
    free(text);
    free(hash);
}

static int64_t doc_id(struct env *v, const char *name)
{
    int64_t id;
    char sha[65];
    assert_int_equal(kb_document_lookup(v->db, "demarches", name, &id, sha), LAIR_OK);
    return id;
}

static void test_kb_document_delete(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    assert_int_equal(kb_create(v.db, "demarches", "Démarches"), LAIR_OK);
    char canary[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    char name[32];
    for (int i = 0; i < 60; i++) {
        snprintf(name, sizeof(name), "doc-%02d.txt", i);
        put_doc(&v, name, i % 5 == 2 ? canary : "ordinaire", 4 + i % 9);
    }
    assert_true(grep_dir(v.data, canary) > 0);
    /* other deletions first: underfull pages merge, moving live cells */
    for (int i = 0; i < 60; i += 3) {
        if (i % 5 == 2)
            continue;
        snprintf(name, sizeof(name), "doc-%02d.txt", i);
        assert_int_equal(kb_document_delete(v.db, "demarches", doc_id(&v, name), NULL), LAIR_OK);
    }
    for (int i = 2; i < 60; i += 5) {
        snprintf(name, sizeof(name), "doc-%02d.txt", i);
        assert_int_equal(kb_document_delete(v.db, "demarches", doc_id(&v, name), NULL), LAIR_OK);
    }
    size_t after_delete = grep_dir(v.data, canary);
    /* kb_document_delete zeroes freed cells and truncates the log; a page
     * rebuilt by a rebalance can still hold stale bytes, which the scrub
     * removes */
    print_message("knowledge base: %zu copies of a deleted document's text left by "
                  "kb_document_delete alone\n",
                  after_delete);
    assert_int_equal(gdpr_store_scrub(v.db), LAIR_OK);
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_true(grep_dir(v.data, "ordinaire") > 0);
    env_free(&v);
}

/* ---- a full disk ---- */

/* Moves the tenant's log into its file and cuts it to zero bytes, so that
 * the next writes make the log grow (which a full disk refuses). */
static void truncate_wal(struct env *v)
{
    assert_int_equal(sqlite3_wal_checkpoint_v2(tenant_db_handle(v->db), NULL,
                                               SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL),
                     SQLITE_OK);
}

static void assert_integrity(struct env *v)
{
    sqlite3_stmt *st;
    assert_int_equal(
        sqlite3_prepare_v2(tenant_db_handle(v->db), "PRAGMA integrity_check", -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* A full disk during an erasure: with no room, nothing is erased and the
 * error is LAIR_ESTORAGE (507), not a database error; with room for the
 * deletion but not for the scrub's copy of the file, the erasure succeeds
 * with scrubbed false (the rows are gone; a 500 there would have the DPO
 * retry what was done), and the next purge run scrubs once there is room. */
static void test_erase_disk_full(void **state)
{
    (void)state;
    struct env v;
    env_init(&v);
    fast_writes(&v);
    char canary[64], subject[64];
    random_tag(canary, sizeof(canary), "CANARY-");
    random_tag(subject, sizeof(subject), "citizen-");
    for (int i = 0; i < 200; i++)
        make_conv(&v, "etat-civil", "someone-else", "kept", 2, 1500, NULL);
    for (int i = 0; i < 3; i++)
        make_conv(&v, "etat-civil", subject, canary, 2, 200, NULL);
    struct gdpr_erasure r;
    struct gdpr_pending pend[2];
    size_t n_pend;
    bool needed, scrubbed;

    truncate_wal(&v);
    full_vfs_budget(0);
    assert_int_equal(gdpr_erase(v.db, v.key, subject, "0123456789ab", &r), LAIR_ESTORAGE);
    assert_true(full_vfs_refused > 0);
    full_vfs_budget(-1);
    assert_int_equal(count_subject(&v, subject), 3);
    assert_int_equal(gdpr_store_pending_list(v.db, pend, 2, &n_pend), LAIR_OK);
    assert_int_equal(n_pend, 0);
    assert_int_equal(audit_events(&v, "gdpr.erase", NULL, NULL), 0);

    truncate_wal(&v);
    full_vfs_budget(192 << 10);
    assert_int_equal(gdpr_erase(v.db, v.key, subject, "0123456789ab", &r), LAIR_OK);
    print_message("erasure on a full disk: %lld writes refused\n", full_vfs_refused);
    assert_true(full_vfs_refused > 0);
    assert_false(r.scrubbed);
    assert_int_equal(r.counts.conversations, 3);
    assert_int_equal(r.counts.messages, 12);
    assert_int_equal(count_subject(&v, subject), 0);
    assert_int_equal(audit_events(&v, "gdpr.erase", NULL, NULL), 1);
    assert_int_equal(gdpr_store_scrub_needed(v.db, &needed), LAIR_OK);
    assert_true(needed);
    /* a purge run while the disk is still full defers the scrub again */
    assert_int_equal(gdpr_recover(v.db, v.key, NULL, &scrubbed), LAIR_OK);
    assert_false(scrubbed);
    full_vfs_budget(-1);

    assert_int_equal(gdpr_recover(v.db, v.key, NULL, &scrubbed), LAIR_OK);
    assert_true(scrubbed);
    assert_int_equal(gdpr_store_scrub_needed(v.db, &needed), LAIR_OK);
    assert_false(needed);
    assert_int_equal(grep_dir(v.data, canary), 0);
    assert_int_equal(grep_dir(v.data, subject), 0);
    assert_int_equal(count_subject(&v, "someone-else"), 200);
    assert_integrity(&v);
    assert_chain_ok(&v);
    env_free(&v);
}

int main(void)
{
    full_vfs_install();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_erase_leaves_nothing),
        cmocka_unit_test(test_secure_delete_alone),
        cmocka_unit_test(test_erase_crash),
        cmocka_unit_test(test_purge),
        cmocka_unit_test(test_policy),
        cmocka_unit_test(test_export),
        cmocka_unit_test(test_token_and_log),
        cmocka_unit_test(test_register),
        cmocka_unit_test(test_kb_document_delete),
        cmocka_unit_test(test_erase_disk_full),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
