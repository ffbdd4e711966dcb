/* Allocation-failure ("torture") tests: each scenario over the store, the
 * document extractors, knowledge-base ingestion and search, multipart and
 * JSON parsing, the audit log and the PII scanner is run once to count its
 * allocations N, then again with allocation k failing, for k = 1..N (with a
 * stride on the long ones), and again with every allocation from k on
 * failing. Each run must end without a crash, without a leak (every block
 * it made is freed: torture_alloc.h tracks them, and LeakSanitizer checks
 * again under make asan), and either with an error code or with exactly the
 * result of the run without failures; afterwards, with allocations working
 * again, the databases must pass PRAGMA integrity_check and hold every write
 * that was acknowledged and no half of one.
 *
 * The allocator is in torture_alloc.h; cmake/torture.cmake links this test
 * with --wrap for malloc and friends. docs/testing.md describes the figures.
 *
 * Environment: LAIR_TORTURE_ONLY=name runs one scenario (a prefix: "doc_"),
 * LAIR_TORTURE_K=k replays one failing allocation (LAIR_TORTURE_STICKY=1: k
 * and every later one), LAIR_TORTURE_STRIDE=n overrides every stride (1:
 * every k), LAIR_TORTURE_VERBOSE=1 prints each run and the logs,
 * LAIR_TORTURE_BACKTRACE=1 adds call stacks to the reports (slow). */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libxml/HTMLparser.h>
#include <zip.h>

#include "torture_alloc.h"

#include "assist/assistant.h"
#include "audit/audit.h"
#include "core/arena.h"
#include "core/json.h"
#include "core/log.h"
#include "core/str.h"
#include "doc/doc.h"
#include "gdpr/pii.h"
#include "http/multipart.h"
#include "rag/ingest.h"
#include "rag/search.h"
#include "store/assistants.h"
#include "store/conversations.h"
#include "store/kb.h"
#include "store/system.h"
#include "store/tenant.h"

#include "core/banned.h"

static char base[256], data[300], adata[300];
static bool verbose;

/* ---- results ---------------------------------------------------------------------- */

/* What a run produced, as text: a run that succeeds under a failing
 * allocation must produce exactly what the run without failures did. Built
 * with snprintf into a fixed array, so that it allocates nothing. */
static char sig[16384];
static size_t sig_len;

static void sig_reset(void)
{
    sig_len = 0;
    sig[0] = 0;
}

static void sig_add(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sig_add(const char *fmt, ...)
{
    if (sig_len >= sizeof(sig) - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(sig + sig_len, sizeof(sig) - sig_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        sig_len += (size_t)n < sizeof(sig) - sig_len ? (size_t)n : sizeof(sig) - 1 - sig_len;
}

/* ---- the driver ----------------------------------------------------------------------- */

struct scenario {
    const char *name;
    unsigned stride;        /* k steps by this much (1: every allocation) */
    unsigned sticky_stride; /* the same for the sticky pass; 0: no sticky pass */
    bool enomem_only;       /* the input is valid: the only error allowed is LAIR_ENOMEM */
    /* The part whose allocations are counted and failed. Returns its first
     * error; fills sig. */
    enum lair_err (*run)(void);
    /* After each run, allocations working: e is what the run returned.
     * Reports what is wrong with CHECK. */
    void (*check)(enum lair_err e, bool sticky);
};

#define N_ERRS 32

struct figures {
    unsigned long allocs;  /* allocations of the run without failures */
    unsigned long runs;    /* runs with a failing allocation */
    unsigned long refused; /* allocations refused in them */
    unsigned long errors;  /* ... runs that returned an error */
    unsigned long ok;      /* ... runs that succeeded with the full result */
    unsigned long library; /* ... runs where a library's own defect showed (see below) */
    unsigned long spared;  /* allocations not refused inside a library call that hangs */
    unsigned long problems;
    unsigned long errs[N_ERRS]; /* errors by code */
};

/* Defects of the Debian 12 libraries themselves, shown when an allocation
 * inside one of these calls fails (the test wraps them to know it: see
 * cmake/torture.cmake). They are counted and reported, not failed: the
 * project cannot repair them. Any leak of a block that the project's code
 * allocated, or a wrong result after a failure outside these calls, is
 * still a failure. */
struct lib_defect {
    const char *call;
    bool leaks, wrong; /* leaks its own blocks; returns a wrong result */
    const char *what;
    unsigned long seen;
};
static struct lib_defect lib_defects[] = {
    {"htmlCreatePushParserCtxt", true, false,
     "libxml2 2.9.14 leaks the parser context it was building when an allocation fails in it", 0},
    {"xmlCreatePushParserCtxt", true, false,
     "libxml2 2.9.14 leaks the parser context it was building when an allocation fails in it", 0},
};

static struct lib_defect *lib_defect(const char *call, bool leak)
{
    for (size_t i = 0; call && i < sizeof(lib_defects) / sizeof(lib_defects[0]); i++)
        if (!strcmp(lib_defects[i].call, call) &&
            (leak ? lib_defects[i].leaks : lib_defects[i].wrong))
            return &lib_defects[i];
    return NULL;
}

static const char *where = "";
static char where_buf[160];
static struct figures *cur; /* the scenario's, for problem() */
static struct sigaction old_segv, old_abrt, old_bus;

/* Says which run crashed, then lets the previous handler (cmocka's, or
 * AddressSanitizer's) report it. */
static void on_crash(int sig_no)
{
    static const char head[] = "\ntest_torture: crashed in ";
    ssize_t w = write(STDERR_FILENO, head, sizeof(head) - 1);
    w = write(STDERR_FILENO, where, strlen(where));
    w = write(STDERR_FILENO, "\n", 1);
    (void)w;
    struct sigaction *old = sig_no == SIGSEGV ? &old_segv : sig_no == SIGBUS ? &old_bus : &old_abrt;
    sigaction(sig_no, old, NULL);
    raise(sig_no);
}

static void crash_handlers(void)
{
    static bool installed;
    if (installed)
        return;
    installed = true;
    struct sigaction sa = {0};
    sa.sa_handler = on_crash;
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGSEGV, &sa, &old_segv);
    sigaction(SIGBUS, &sa, &old_bus);
    sigaction(SIGABRT, &sa, &old_abrt);
}

static unsigned long env_ul(const char *name, unsigned long dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoul(v, NULL, 10) : dflt;
}

static unsigned long total_runs, total_refused, total_problems;

/* Most problems printed per scenario (all are counted). */
#define SHOW_PROBLEMS 8

static void problem(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void problem(const char *fmt, ...)
{
    if (cur->problems++ >= SHOW_PROBLEMS)
        return;
    va_list ap;
    va_start(ap, fmt);
    char line[1024];
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    print_error("%s: %s\n", where, line);
    torture_print_refused();
}

/* In a check: reports the failed condition and leaves through `out`. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            problem("%s:%d: %s", __func__, __LINE__, #cond);                                       \
            goto out;                                                                              \
        }                                                                                          \
    } while (0)

/* A library defect that showed: counted; described the first time. */
static void library(struct lib_defect *d)
{
    cur->library++;
    if (!d->seen++)
        fprintf(stderr, "[torture] library defect (counted, not failed), first seen in %s: %s\n",
                where_buf, d->what);
}

/* One run with allocation k failing (0: none); returns what the run did. */
static enum lair_err one_run(const struct scenario *s, unsigned long k, bool sticky,
                             const char *ref)
{
    snprintf(where_buf, sizeof(where_buf), "scenario %s, allocation %lu failing%s", s->name, k,
             sticky ? " and every later one" : "");
    where = where_buf;
    if (verbose)
        fprintf(stderr, "[torture] %s\n", where_buf);
    sig_reset();
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    torture_begin(k, sticky);
    enum lair_err e = s->run();
    unsigned long n = torture_end();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* a run waits only when a lock was left held (busy_timeout is 5 s) */
    if (secs > 2)
        problem("the run took %.1f s (returned %s): waiting for a lock left held?", secs,
                lair_err_name(e));
    /* libxml2 keeps a copy of the last error per thread, replaced by the
     * next one: bounded, not a leak of the run */
    xmlResetLastError();
    long ours;
    long leaked = torture_leaks(0, &ours);
    cur->spared += torture.spared;
    if (!k) {
        cur->allocs = n;
        if (leaked) {
            torture_leaks(20, &ours);
            problem("the run without failures leaks %ld blocks (listed above)", leaked);
        }
        return e;
    }
    if (!torture.fired)
        return e;
    cur->runs++;
    cur->refused += torture.fired;
    total_runs++;
    total_refused += torture.fired;
    bool lib = false;
    if (leaked) {
        struct lib_defect *d = ours ? NULL : lib_defect(torture.refused_in, true);
        if (d) {
            library(d);
            lib = true;
            torture_forgive_leaks();
        } else {
            if (cur->problems < SHOW_PROBLEMS)
                torture_leaks(20, &ours);
            problem("%ld blocks leaked (%ld by the project's code; listed above)", leaked, ours);
        }
    }
    if (e) {
        cur->errors++;
        cur->errs[(unsigned)e < N_ERRS ? (unsigned)e : N_ERRS - 1]++;
        if (s->enomem_only && e != LAIR_ENOMEM)
            problem("an allocation failure reported as %s (%s)", lair_err_name(e), lair_err_msg(e));
    } else if (strcmp(sig, ref) != 0) {
        struct lib_defect *d = lib_defect(torture.refused_in, false);
        if (d) {
            if (!lib)
                library(d);
        } else {
            problem("succeeded with another result:\n  want: %.400s\n  got:  %.400s", ref, sig);
        }
    } else {
        cur->ok++;
    }
    s->check(e, sticky);
    return e;
}

static bool selected(const char *name)
{
    const char *only = getenv("LAIR_TORTURE_ONLY");
    return !only || !*only || !strncmp(name, only, strlen(only));
}

/* Runs a scenario; returns how many problems it found. */
static unsigned long torture_run(const struct scenario *s)
{
    if (!selected(s->name))
        return 0;
    crash_handlers();
    struct figures f = {0}, warm = {0};
    static char ref[sizeof(sig)];
    /* a first run warms up what is made once per process (SQLite's and
     * libxml2's globals), then the reference run counts the allocations */
    cur = &warm;
    enum lair_err e = one_run(s, 0, false, NULL);
    cur = &f;
    if (!e)
        e = one_run(s, 0, false, NULL);
    if (e)
        print_error("%s: the run without failures returned %s\n", s->name, lair_err_name(e));
    assert_int_equal(e, LAIR_OK);
    memcpy(ref, sig, sig_len + 1);
    s->check(LAIR_OK, false);
    unsigned long only_k = env_ul("LAIR_TORTURE_K", 0);
    unsigned long stride = env_ul("LAIR_TORTURE_STRIDE", 0);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (only_k) {
        one_run(s, only_k, env_ul("LAIR_TORTURE_STICKY", 0) != 0, ref);
    } else {
        for (int pass = 0; pass < 2; pass++) {
            bool sticky = pass == 1;
            unsigned long step = stride ? stride : sticky ? s->sticky_stride : s->stride;
            if (!step)
                continue;
            /* until a run ends before its failing allocation; the bound only
             * stops a scenario whose count would grow without end */
            for (unsigned long k = 1; k <= 4 * f.allocs + 100; k += step) {
                one_run(s, k, sticky, ref);
                if (!torture.fired)
                    break;
            }
        }
    }
    where = "";
    clock_gettime(CLOCK_MONOTONIC, &t1);
    char codes[256] = "";
    size_t cl = 0;
    for (unsigned i = 1; i < N_ERRS && cl < sizeof(codes) - 40; i++)
        if (f.errs[i])
            cl += (size_t)snprintf(codes + cl, sizeof(codes) - cl, " %s:%lu",
                                   lair_err_name((enum lair_err)i) + 5, f.errs[i]);
    fprintf(stderr,
            "[torture] %-13s %5lu allocations, stride %u/%u: %5lu runs, %5lu refused; %5lu "
            "errors (%s), %4lu complete, %3lu library, %4lu spared; %lu problems; %.1f s\n",
            s->name, f.allocs, stride ? (unsigned)stride : s->stride,
            stride ? (unsigned)stride : s->sticky_stride, f.runs, f.refused, f.errors,
            codes[0] ? codes + 1 : "-", f.ok, f.library, f.spared, f.problems,
            (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    total_problems += f.problems;
    return f.problems;
}

/* ---- database checks (allocations working) ------------------------------------------ */

/* PRAGMA integrity_check and foreign_key_check pass. */
static bool db_sound(sqlite3 *db, const char *what)
{
    sqlite3_stmt *st = NULL;
    bool ok = false;
    if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        problem("%s: integrity_check cannot run: %s", what, sqlite3_errmsg(db));
        goto out;
    }
    const char *r = (const char *)sqlite3_column_text(st, 0);
    if (!r || strcmp(r, "ok") != 0) {
        problem("%s: integrity_check: %s", what, r ? r : "(null)");
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st, NULL) != SQLITE_OK) {
        problem("%s: foreign_key_check cannot run", what);
        goto out;
    }
    if (sqlite3_step(st) == SQLITE_ROW) {
        problem("%s: foreign_key_check: a row of %s", what, sqlite3_column_text(st, 0));
        goto out;
    }
    ok = true;
out:
    sqlite3_finalize(st);
    return ok;
}

/* The first column of the first row, or -1. */
static int64_t sql_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st;
    int64_t v = -1;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

struct opened {
    struct sysdb *sys;
    struct tenants *tenants;
    struct tenant_db *db;
};

/* Opens the data directory dir and its tenant "ville". Returns the first
 * error. */
static enum lair_err open_all(const char *dir, struct opened *o)
{
    *o = (struct opened){0};
    enum lair_err e = sysdb_open(dir, &o->sys);
    if (!e)
        e = tenants_new(dir, o->sys, &o->tenants);
    if (!e)
        e = tenants_get(o->tenants, "ville", &o->db);
    return e;
}

static void close_all(struct opened *o)
{
    tenant_db_put(o->db);
    tenants_free(o->tenants);
    sysdb_free(o->sys);
    *o = (struct opened){0};
}

static void remove_dir(const char *dir)
{
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

/* A new data directory dir with the tenant "ville". */
static void make_data(const char *dir)
{
    struct opened o;
    assert_int_equal(sysdb_init_dir(dir), LAIR_OK);
    assert_int_equal(sysdb_open(dir, &o.sys), LAIR_OK);
    assert_int_equal(tenants_new(dir, o.sys, &o.tenants), LAIR_OK);
    assert_int_equal(tenants_create(o.tenants, "ville", "Ville"), LAIR_OK);
    o.db = NULL;
    close_all(&o);
}

/* ---- library entry points, wrapped (cmake/torture.cmake) --------------------------------- */

/* Each marks the time spent inside the call, so that a refused allocation
 * is known to have happened there (lib_defects). */
#define LIB_CALL(name, call)                                                                       \
    do {                                                                                           \
        const char *prev_ = torture.in_lib;                                                        \
        torture.in_lib = name;                                                                     \
        call;                                                                                      \
        torture.in_lib = prev_;                                                                    \
    } while (0)

/* The same for a call whose own allocations must not fail (it would hang):
 * they are counted and spared (lib_spared), the callbacks' still fail. */
#define LIB_CALL_SPARED(name, call)                                                                \
    do {                                                                                           \
        bool spare_ = torture.spare_lib;                                                           \
        torture.spare_lib = true;                                                                  \
        LIB_CALL(name, call);                                                                      \
        torture.spare_lib = spare_;                                                                \
    } while (0)

/* libxml2 2.9.14's HTML push parser loops forever when one of its own
 * allocations fails inside htmlParseChunk (the 14th of the HTML sample,
 * reproduced without the project's code): those are spared. */
int __real_htmlParseChunk(htmlParserCtxtPtr ctxt, const char *chunk, int size, int terminate);
int __wrap_htmlParseChunk(htmlParserCtxtPtr ctxt, const char *chunk, int size, int terminate);
int __wrap_htmlParseChunk(htmlParserCtxtPtr ctxt, const char *chunk, int size, int terminate)
{
    int rc;
    LIB_CALL_SPARED("htmlParseChunk", rc = __real_htmlParseChunk(ctxt, chunk, size, terminate));
    return rc;
}

htmlParserCtxtPtr __real_htmlCreatePushParserCtxt(htmlSAXHandlerPtr sax, void *user_data,
                                                  const char *chunk, int size, const char *filename,
                                                  xmlCharEncoding enc);
htmlParserCtxtPtr __wrap_htmlCreatePushParserCtxt(htmlSAXHandlerPtr sax, void *user_data,
                                                  const char *chunk, int size, const char *filename,
                                                  xmlCharEncoding enc);
htmlParserCtxtPtr __wrap_htmlCreatePushParserCtxt(htmlSAXHandlerPtr sax, void *user_data,
                                                  const char *chunk, int size, const char *filename,
                                                  xmlCharEncoding enc)
{
    htmlParserCtxtPtr c;
    LIB_CALL("htmlCreatePushParserCtxt",
             c = __real_htmlCreatePushParserCtxt(sax, user_data, chunk, size, filename, enc));
    return c;
}

xmlParserCtxtPtr __real_xmlCreatePushParserCtxt(xmlSAXHandlerPtr sax, void *user_data,
                                                const char *chunk, int size, const char *filename);
xmlParserCtxtPtr __wrap_xmlCreatePushParserCtxt(xmlSAXHandlerPtr sax, void *user_data,
                                                const char *chunk, int size, const char *filename);
xmlParserCtxtPtr __wrap_xmlCreatePushParserCtxt(xmlSAXHandlerPtr sax, void *user_data,
                                                const char *chunk, int size, const char *filename)
{
    xmlParserCtxtPtr c;
    LIB_CALL("xmlCreatePushParserCtxt",
             c = __real_xmlCreatePushParserCtxt(sax, user_data, chunk, size, filename));
    return c;
}

/* ---- fixtures --------------------------------------------------------------------- */

static const char assistant_json[] =
    "{\"slug\":\"base\",\"name\":\"Accueil\",\"instructions\":\"Tu r\xc3\xa9ponds aux "
    "habitants.\",\"model\":\"default\",\"params\":{\"temperature\":0.2,\"max_tokens\":256},"
    "\"knowledge_bases\":[\"docs\"],\"retrieval\":{\"top_k\":4},\"citations\":\"required\","
    "\"guardrails\":{\"refusal\":\"Je ne peux pas r\xc3\xa9pondre.\",\"pii\":\"mask\"},"
    "\"welcome\":\"Bonjour !\",\"starters\":[\"Horaires ?\",\"Cantine ?\"],"
    "\"visibility\":\"public\",\"allowed_origins\":[\"HTTPS://www.Ville.fr:443\"],"
    "\"retention_days\":90}";

static char kb_slug[32] = "docs-1"; /* the knowledge base of the kb scenario */

static int setup(void **state)
{
    (void)state;
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    snprintf(base, sizeof(base), "%s/lair-torture-XXXXXX", tmp);
    if (!mkdtemp(base))
        return -1;
    snprintf(data, sizeof(data), "%s/data", base);
    snprintf(adata, sizeof(adata), "%s/audit", base);
    make_data(data);
    make_data(adata);
    struct opened o;
    int v;
    if (open_all(data, &o) || kb_create(o.db, kb_slug, "Documents") ||
        assistants_create(o.db, "base", assistant_json, "cli", &v) ||
        assistants_publish(o.db, "base", ASSISTANT_DRAFT, NULL))
        return -1;
    close_all(&o);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    remove_dir(base);
    return 0;
}

static unsigned run_no; /* a new name for what each run creates */

static void check_nothing(enum lair_err e, bool sticky)
{
    (void)e, (void)sticky;
}

/* ---- scenario: creating a tenant (its directory, database and migrations) ------------ */

static char tc_slug[32];

static enum lair_err run_tenant_create(void)
{
    snprintf(tc_slug, sizeof(tc_slug), "t%u", ++run_no);
    struct sysdb *sys;
    struct tenants *t;
    enum lair_err e = sysdb_open(data, &sys);
    if (e)
        return e;
    e = tenants_new(data, sys, &t);
    if (!e) {
        e = tenants_create(t, tc_slug, "Commune");
        tenants_free(t);
    }
    sysdb_free(sys);
    sig_add("created");
    return e;
}

static void check_tenant_create(enum lair_err e, bool sticky)
{
    struct opened o = {0};
    CHECK(sysdb_open(data, &o.sys) == LAIR_OK);
    CHECK(db_sound(sysdb_handle(o.sys), "system.db"));
    struct tenant_row row;
    enum lair_err got = sysdb_tenant_get(o.sys, tc_slug, &row);
    CHECK(got == LAIR_OK || got == LAIR_ENOTFOUND);
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/tenants/%s", data, tc_slug);
    struct stat st;
    /* "on failure nothing is left behind" (unless the clean-up's own
     * allocations fail too, in the sticky pass) */
    if (e && !sticky) {
        CHECK(got == LAIR_ENOTFOUND);
        CHECK(stat(dir, &st) != 0);
    }
    if (got == LAIR_OK) {
        /* a tenant that exists opens, fully migrated and sound */
        CHECK(tenants_new(data, o.sys, &o.tenants) == LAIR_OK);
        enum lair_err oe = tenants_get(o.tenants, tc_slug, &o.db);
        if (oe)
            problem("tenant %s (creation returned %s) does not open: %s", tc_slug, lair_err_name(e),
                    lair_err_name(oe));
        CHECK(oe == LAIR_OK);
        CHECK(db_sound(tenant_db_handle(o.db), tc_slug));
        CHECK(db_version(tenant_db_handle(o.db)) == tenant_schema_version());
        tenant_db_put(o.db);
        o.db = NULL;
        CHECK(tenants_delete(o.tenants, tc_slug) == LAIR_OK);
    }
out:
    close_all(&o);
}

static void test_tenant_create(void **state)
{
    (void)state;
    static const struct scenario s = {"tenant_create",    9, 29, false, run_tenant_create,
                                      check_tenant_create};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: assistants, keys, conversations of an existing tenant -------------------- */

static char st_slug[32], st_conv[CONV_ID_LEN + 1];
static char st_key_id[KEY_ID_LEN + 1];

static enum lair_err store_ops(struct opened *o)
{
    /* an assistant from its declarative file: parsed, stored, published, read */
    char msg[200];
    json_t *spec = NULL;
    enum lair_err e = json_parse_object(S(assistant_json), &spec, msg, sizeof(msg));
    if (e)
        return e;
    if (json_object_set_new(spec, "slug", json_string(st_slug)) != 0) {
        json_decref(spec);
        return LAIR_ENOMEM;
    }
    struct assistant a;
    struct assistant_error aerr;
    e = assistant_parse(spec, NULL, &a, &aerr);
    json_decref(spec);
    if (e)
        return e;
    char *canon = assistant_dump(&a);
    assistant_release(&a);
    if (!canon)
        return LAIR_ENOMEM;
    int version = 0, published = 0;
    e = assistants_create(o->db, st_slug, canon, "cli", &version);
    if (!e)
        e = assistants_publish(o->db, st_slug, ASSISTANT_DRAFT, &published);
    char *got = NULL;
    int got_v = 0;
    if (!e)
        e = assistants_get(o->db, st_slug, ASSISTANT_PUBLISHED, &got, &got_v, NULL);
    if (!e)
        sig_add("assistant v%d/%d/%d same:%d\n", version, published, got_v, !strcmp(got, canon));
    free(got);
    free(canon);
    if (e)
        return e;

    /* a user key of the tenant, then its use */
    struct key_spec ks = {
        .role = ROLE_USER, .tenant = "ville", .name = "torture", .assistants = st_slug};
    char key[KEY_TEXT_MAX];
    if ((e = sysdb_key_create_spec(o->sys, &ks, key, st_key_id)))
        return e;
    struct principal p;
    if ((e = sysdb_key_check(o->sys, str_c(key), &p)))
        return e;
    sig_add("key %s %s %s\n", key_role_name(p.role), p.tenant,
            !strcmp(p.assistants, st_slug) ? "restricted" : p.assistants);

    /* a conversation: created with its first exchange, then read back */
    conv_new_id(st_conv);
    struct conv_row row = {0};
    snprintf(row.id, sizeof(row.id), "%s", st_conv);
    snprintf(row.assistant, sizeof(row.assistant), "%s", st_slug);
    snprintf(row.subject, sizeof(row.subject), "habitant-42");
    snprintf(row.key_id, sizeof(row.key_id), "%s", st_key_id);
    struct conv_exchange x = {.id = st_conv,
                              .create = &row,
                              .user_text = S("Quels sont les horaires de la mairie ?"),
                              .answer_text = S("La mairie ouvre de 8 h 30 \xc3\xa0 17 h."),
                              .prompt_tokens = 12,
                              .completion_tokens = 9};
    if ((e = conv_append(o->db, &x)))
        return e;
    struct arena ar;
    arena_init(&ar, 1 << 20);
    struct conv_message *m = NULL;
    size_t n = 0;
    e = conv_messages(o->db, st_conv, 0, &ar, &m, &n);
    for (size_t i = 0; !e && i < n; i++)
        sig_add("%.*s: %.*s\n", STR_ARG(m[i].role), STR_ARG(m[i].content));
    arena_release(&ar);
    if (e)
        return e;
    struct conv_filter f = {.subject = "habitant-42"};
    struct conv_row got_row;
    if ((e = conv_get(o->db, st_conv, &f, &got_row)))
        return e;
    sig_add("conversation %s %lld messages\n", strcmp(got_row.assistant, st_slug) ? "?" : "found",
            (long long)got_row.n_messages);
    char day[11];
    conv_usage_day(time(NULL), day);
    if ((e = conv_usage_add(o->db, day, st_key_id, 1, 21)))
        return e;
    int64_t req = 0, tok = 0;
    if ((e = conv_usage_get(o->db, day, st_key_id, &req, &tok)))
        return e;
    sig_add("usage %lld %lld\n", (long long)req, (long long)tok);
    return LAIR_OK;
}

static enum lair_err run_store(void)
{
    snprintf(st_slug, sizeof(st_slug), "a%u", ++run_no);
    st_conv[0] = st_key_id[0] = 0;
    struct opened o;
    enum lair_err e = open_all(data, &o);
    if (!e)
        e = store_ops(&o);
    close_all(&o);
    return e;
}

static void check_store(enum lair_err e, bool sticky)
{
    (void)sticky;
    struct opened o;
    char *spec = NULL;
    CHECK(open_all(data, &o) == LAIR_OK);
    CHECK(db_sound(sysdb_handle(o.sys), "system.db"));
    sqlite3 *db = tenant_db_handle(o.db);
    CHECK(db_sound(db, "ville"));
    /* what was there before is still there */
    int v = 0;
    CHECK(assistants_get(o.db, "base", ASSISTANT_PUBLISHED, &spec, &v, NULL) == LAIR_OK);
    CHECK(!strcmp(spec, assistant_json));
    /* an exchange is written whole or not at all; an assistant has its draft */
    CHECK(sql_int(db, "SELECT count(*) FROM conversations c WHERE (SELECT count(*) FROM messages "
                      "m WHERE m.conversation_id = c.id) <> 2") == 0);
    CHECK(sql_int(db, "SELECT count(*) FROM assistants a WHERE NOT EXISTS (SELECT 1 FROM "
                      "assistant_versions v WHERE v.slug = a.slug AND v.version = "
                      "a.draft_version)") == 0);
    if (!e) { /* what was acknowledged is there */
        char *got = NULL;
        CHECK(assistants_get(o.db, st_slug, ASSISTANT_PUBLISHED, &got, &v, NULL) == LAIR_OK);
        free(got);
        struct conv_row row;
        CHECK(conv_get(o.db, st_conv, NULL, &row) == LAIR_OK);
        CHECK(row.n_messages == 2);
    }
out:
    free(spec);
    close_all(&o);
}

static void test_store(void **state)
{
    (void)state;
    static const struct scenario s = {"store", 3, 13, false, run_store, check_store};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: extracting each document format ------------------------------------------ */

/* OWNED: the bytes of a zip archive holding the (name, text) entries; the
 * first one stored (ODT's mimetype) when store_first. libzip allocates
 * outside the tracked functions, and this runs outside the counted runs. */
static char *zip_build(const char *const *entries, size_t n, bool store_first, size_t *len)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/zip-XXXXXX", base);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    int err = 0;
    zip_t *za = zip_open(path, ZIP_CREATE | ZIP_EXCL, &err);
    assert_non_null(za);
    for (size_t i = 0; i < n; i++) {
        const char *name = entries[2 * i], *text = entries[2 * i + 1];
        zip_source_t *src = zip_source_buffer(za, text, strlen(text), 0);
        assert_non_null(src);
        zip_int64_t idx = zip_file_add(za, name, src, ZIP_FL_ENC_UTF_8);
        assert_true(idx >= 0);
        if (i == 0 && store_first)
            assert_int_equal(zip_set_file_compression(za, (zip_uint64_t)idx, ZIP_CM_STORE, 0), 0);
    }
    assert_int_equal(zip_close(za), 0);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)size);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)size, f), (size_t)size);
    fclose(f);
    unlink(path);
    *len = (size_t)size;
    return buf;
}

#define W_NS "xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\""
#define WP(style, text)                                                                            \
    "<w:p><w:pPr><w:pStyle w:val=\"" style "\"/></w:pPr><w:r><w:t>" text "</w:t></w:r></w:p>"

static char *docx_sample(size_t *len)
{
    static const char *const e[] = {
        "[Content_Types].xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Types xmlns=\"http://schemas.openxmlformats."
        "org/package/2006/content-types\"><Default Extension=\"xml\" ContentType=\"application/"
        "xml\"/><Override PartName=\"/word/document.xml\" ContentType=\"application/vnd."
        "openxmlformats-officedocument.wordprocessingml.document.main+xml\"/></Types>",
        "_rels/.rels",
        "<?xml version=\"1.0\"?><Relationships xmlns=\"http://schemas.openxmlformats.org/"
        "package/2006/relationships\"/>",
        "word/document.xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><w:document " W_NS
        "><w:body>" WP("Heading1", "Cantine scolaire")
            WP("Normal", "Les repas sont servis \xc3\xa0 midi.")
                WP("ListParagraph",
                   "Inscription en mairie") "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Jour</w:t></w:r></"
                                            "w:p></w:tc><w:tc><w:p><w:r>"
                                            "<w:t>Menu</w:t></w:r></w:p></w:tc></"
                                            "w:tr><w:tr><w:tc><w:p><w:r><w:t>Lundi</w:t>"
                                            "</w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Gratin</w:t></"
                                            "w:r></w:p></w:tc></w:tr>"
                                            "</w:tbl>" WP("Heading2", "Tarifs")
                                                WP("Normal",
                                                   "Le repas co\xc3\xbbte 3 euros.") "</w:body></"
                                                                                     "w:document>",
        "word/styles.xml",
        "<?xml version=\"1.0\"?><w:styles " W_NS "><w:style w:type=\"paragraph\" "
        "w:styleId=\"Heading1\"><w:name w:val=\"heading 1\"/></w:style><w:style "
        "w:type=\"paragraph\" w:styleId=\"Heading2\"><w:name w:val=\"heading 2\"/></w:style>"
        "</w:styles>",
        "docProps/core.xml",
        "<?xml version=\"1.0\"?><cp:coreProperties xmlns:cp=\"http://schemas.openxmlformats.org/"
        "package/2006/metadata/core-properties\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\">"
        "<dc:title>Guide de la cantine</dc:title></cp:coreProperties>",
    };
    return zip_build(e, sizeof(e) / sizeof(e[0]) / 2, false, len);
}

#define ODT_NS                                                                                     \
    "xmlns:office=\"urn:oasis:names:tc:opendocument:xmlns:office:1.0\" "                           \
    "xmlns:text=\"urn:oasis:names:tc:opendocument:xmlns:text:1.0\" "                               \
    "xmlns:table=\"urn:oasis:names:tc:opendocument:xmlns:table:1.0\" "                             \
    "xmlns:dc=\"http://purl.org/dc/elements/1.1/\" office:version=\"1.3\""

static char *odt_sample(size_t *len)
{
    static const char *const e[] = {
        "mimetype",
        "application/vnd.oasis.opendocument.text",
        "content.xml",
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><office:document-content " ODT_NS
        "><office:body><office:text><text:h text:outline-level=\"1\">Conseil municipal</text:h>"
        "<text:p>S\xc3\xa9"
        "ance du 12 mars.</text:p><text:list><text:list-item><text:p>Budget</text:p>"
        "</text:list-item><text:list-item><text:p>Voirie</text:p></text:list-item></text:list>"
        "<table:table><table:table-row><table:table-cell><text:p>Vote</text:p></table:table-cell>"
        "<table:table-cell><text:p>Pour</text:p></table:table-cell></table:table-row>"
        "</table:table><text:h text:outline-level=\"2\">Questions</text:h><text:p>Aucune "
        "question.</text:p></office:text></office:body></office:document-content>",
        "meta.xml",
        "<?xml version=\"1.0\"?><office:document-meta " ODT_NS "><office:meta><dc:title>Compte "
        "rendu</dc:title></office:meta></office:document-meta>",
        "META-INF/manifest.xml",
        "<?xml version=\"1.0\"?><manifest:manifest xmlns:manifest=\"urn:oasis:names:tc:"
        "opendocument:xmlns:manifest:1.0\"/>",
    };
    return zip_build(e, sizeof(e) / sizeof(e[0]) / 2, true, len);
}

/* OWNED: a two-page PDF with Helvetica text and an exact xref table. */
static char *pdf_sample(size_t *len)
{
    static const char *const pages[] = {
        "BT /F1 24 Tf 72 760 Td (Rapport annuel) Tj ET\n"
        "BT /F1 11 Tf 72 700 Td (La mairie de Cr\\351cy publie son rapport.) Tj 0 -14 Td "
        "(Il couvre l'\\351cole et la voirie.) Tj ET\n",
        "BT /F1 16 Tf 72 760 Td (Section deux) Tj ET\n"
        "BT /F1 11 Tf 72 700 Td (Les horaires de la m\\351diath\\350que changent.) Tj ET\n",
    };
    struct buf b;
    buf_init(&b, 0);
    size_t off[16];
    int npages = 2, nobj = 4 + 2 * npages;
    buf_puts(&b, "%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    off[1] = b.len;
    buf_puts(&b, "1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n");
    off[2] = b.len;
    buf_puts(&b, "2 0 obj\n<< /Type /Pages /Kids [5 0 R 7 0 R] /Count 2 >>\nendobj\n");
    off[3] = b.len;
    buf_puts(&b, "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
                 "/Encoding /WinAnsiEncoding >>\nendobj\n");
    off[4] = b.len;
    buf_puts(&b, "4 0 obj\n<< /Title (Rapport 2024) /Producer (test_torture) >>\nendobj\n");
    for (int i = 0; i < npages; i++) {
        off[5 + 2 * i] = b.len;
        buf_printf(&b,
                   "%d 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                   "/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>\nendobj\n",
                   5 + 2 * i, 6 + 2 * i);
        off[6 + 2 * i] = b.len;
        buf_printf(&b, "%d 0 obj\n<< /Length %zu >>\nstream\n%s\nendstream\nendobj\n", 6 + 2 * i,
                   strlen(pages[i]), pages[i]);
    }
    size_t xref = b.len;
    buf_printf(&b, "xref\n0 %d\n0000000000 65535 f \n", nobj + 1);
    for (int i = 1; i <= nobj; i++)
        buf_printf(&b, "%010zu 00000 n \n", off[i]);
    buf_printf(&b, "trailer\n<< /Size %d /Root 1 0 R /Info 4 0 R >>\nstartxref\n%zu\n%%%%EOF\n",
               nobj + 1, xref);
    assert_non_null(b.ptr);
    return buf_detach(&b, len);
}

static const char txt_sample[] = "Horaires d'ouverture\n\nLa mairie ouvre du lundi au vendredi,\n"
                                 "de 8 h 30 \xc3\xa0 17 h.\n\nLe samedi matin : permanence.\n";
static const char md_sample[] =
    "# Guide des d\xc3\xa9marches\n\nIntroduction *en italique* et **gras**.\n\n"
    "## Carte d'identit\xc3\xa9\n\n- Prendre rendez-vous\n- Apporter une photo\n  - r\xc3\xa9"
    "cente\n\n| Pi\xc3\xa8"
    "ce | D\xc3\xa9lai |\n|---|---|\n| CNI | 3 semaines |\n\n```\ncode  gard\xc3\xa9\n```\n\n"
    "## Passeport\n\nVoir [le site](https://example.fr).\n";
static const char html_sample[] =
    "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>Accueil de la "
    "mairie</title><style>p{color:red}</style></head><body><nav>Menu</nav><h1>Services</h1>"
    "<p>La <b>m\xc3\xa9"
    "diath\xc3\xa8que</b> est ouverte.</p><ul><li>Lundi</li><li>Mardi</li></ul><table><tr>"
    "<th>Service</th><th>T\xc3\xa9l\xc3\xa9phone</th></tr><tr><td>Accueil</td><td>01 02</td>"
    "</tr></table><h2>Contact</h2><p>\xc3\x89"
    "crire &agrave; la mairie.</p><script>x()</script></body></html>";

struct sample {
    const char *name; /* the file name given as a hint */
    char *data;
    size_t len;
};
static struct sample samples[6];

static void samples_make(void)
{
    if (samples[0].data)
        return;
    samples[0] = (struct sample){"horaires.txt", strdup(txt_sample), strlen(txt_sample)};
    samples[1] = (struct sample){"guide.md", strdup(md_sample), strlen(md_sample)};
    samples[2] = (struct sample){"accueil.html", strdup(html_sample), strlen(html_sample)};
    samples[3].name = "cantine.docx";
    samples[3].data = docx_sample(&samples[3].len);
    samples[4].name = "conseil.odt";
    samples[4].data = odt_sample(&samples[4].len);
    samples[5].name = "rapport.pdf";
    samples[5].data = pdf_sample(&samples[5].len);
    for (int i = 0; i < 6; i++)
        assert_non_null(samples[i].data);
}

static const struct sample *doc_cur;

static enum lair_err run_doc(void)
{
    enum doc_format fmt = doc_detect(doc_cur->data, doc_cur->len, doc_cur->name);
    struct doc d;
    char msg[200] = "";
    enum lair_err e =
        doc_extract(doc_cur->data, doc_cur->len, doc_cur->name, NULL, &d, msg, sizeof(msg));
    sig_add("%s/%s title:%s pages:%u\n", doc_format_name(fmt), doc_format_name(d.format),
            d.title ? d.title : "-", d.npages);
    for (size_t i = 0; !e && i < d.nblocks; i++) {
        const struct doc_block *b = &d.blocks[i];
        sig_add("%s %u p%u [%s] %s\n", doc_block_kind_name(b->kind), b->level, b->page,
                b->heading_path, b->text);
    }
    if (e && !msg[0])
        problem("doc_extract returned %s without a message", lair_err_name(e));
    doc_release(&d);
    return e;
}

static void test_doc(void **state)
{
    (void)state;
    samples_make();
    unsigned long problems = 0;
    static const char *const names[6] = {"doc_txt",  "doc_md",  "doc_html",
                                         "doc_docx", "doc_odt", "doc_pdf"};
    for (int i = 0; i < 6; i++) {
        doc_cur = &samples[i];
        struct scenario s = {names[i], 1, 7, true, run_doc, check_nothing};
        problems += torture_run(&s);
    }
    assert_int_equal(problems, 0);
}

/* ---- scenario: a document uploaded, chunked, indexed in a knowledge base, searched ------ */

static int64_t kb_job;
static char kb_word[32], kb_name[64];
static unsigned kb_runs, kb_gen = 1;

/* A word new for each run, that the French stemmer keeps whole (a suffix
 * it strips would make two runs' words one). */
static void kb_new_word(unsigned n)
{
    char w[16];
    size_t i = 0;
    do {
        w[i++] = (char)('a' + n % 26);
        n /= 26;
    } while (n && i < sizeof(w) - 1);
    w[i] = 0;
    snprintf(kb_word, sizeof(kb_word), "zorg%sblub", w);
}

static enum lair_err kb_ops(struct opened *o)
{
    char text[1024];
    snprintf(text, sizeof(text),
             "# Guide pratique\n\n## Horaires\n\nLa m\xc3\xa9"
             "diath\xc3\xa8que ouvre le mardi. Mot rare : %s.\n\n## Inscriptions\n\n"
             "Les inscriptions \xc3\xa0 la cantine se font en mairie avant le 1er septembre.\n",
             kb_word);
    struct ingest_upload up = {kb_name, str_c(text)};
    enum lair_err e = ingest_job_upload(o->db, kb_slug, &up, 1, NULL, &kb_job);
    if (e)
        return e;
    struct ingest_step step = {0};
    for (int i = 0; i < 8 && !step.finished; i++) {
        if ((e = ingest_job_step(o->db, kb_job, NULL, &step)))
            return e;
        if (step.seq)
            sig_add("file %s %s %zu chunks %s\n", strcmp(step.name, kb_name) ? "?" : "1",
                    step.file_state, step.chunks, step.error);
    }
    sig_add("job %s %lld/%lld\n", step.state, (long long)step.done, (long long)step.total);
    if (!step.finished || strcmp(step.state, "done") != 0)
        return LAIR_EINTERNAL; /* a clean error: the failure is recorded in the job */
    const char *kbs[] = {kb_slug};
    struct search_query q = {.text = str_c(kb_word), .kbs = kbs, .n_kbs = 1, .top_k = 3};
    struct arena a;
    arena_init(&a, 1 << 20);
    struct search_hit *hits = NULL;
    size_t n = 0;
    e = search_run(o->db, &q, &a, &hits, &n);
    if (!e) {
        sig_add("%zu hits\n", n);
        for (size_t i = 0; i < n; i++)
            sig_add("%s %s p%d [%s] %.40s\n", !strcmp(hits[i].document, kb_name) ? "ours" : "other",
                    strcmp(hits[i].kb, kb_slug) ? "?" : "kb", hits[i].page, hits[i].heading,
                    strstr(hits[i].text, kb_word) ? "has the word" : hits[i].text);
    }
    arena_release(&a);
    return e;
}

static enum lair_err run_kb(void)
{
    kb_new_word(++run_no);
    snprintf(kb_name, sizeof(kb_name), "guide-%u.md", run_no);
    kb_job = 0;
    struct opened o;
    enum lair_err e = open_all(data, &o);
    if (!e)
        e = kb_ops(&o);
    close_all(&o);
    return e;
}

static bool resume_ok;

static void resume_job(void *arg, int64_t id)
{
    struct tenant_db *db = arg;
    struct ingest_step step = {0};
    enum lair_err e = LAIR_OK;
    for (int i = 0; i < 8 && !e && !step.finished; i++)
        e = ingest_job_step(db, id, NULL, &step);
    if (e || !step.finished) {
        problem("job %lld does not resume: %s", (long long)id, lair_err_name(e));
        resume_ok = false;
    }
}

struct file_seen {
    int files, pending, failed_without_reason, indexed;
};

static void job_file_seen(void *arg, const struct kb_job_file *f)
{
    struct file_seen *s = arg;
    s->files++;
    if (!strcmp(f->state, "pending"))
        s->pending++;
    if (!strcmp(f->state, "failed") && (!f->error || !*f->error))
        s->failed_without_reason++;
    if (!strcmp(f->state, "indexed") || !strcmp(f->state, "unchanged"))
        s->indexed++;
}

static void check_kb(enum lair_err e, bool sticky)
{
    (void)sticky;
    struct opened o;
    CHECK(open_all(data, &o) == LAIR_OK);
    sqlite3 *db = tenant_db_handle(o.db);
    CHECK(db_sound(db, "ville"));
    CHECK(sqlite3_exec(db, "INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('integrity-check', 1)",
                       NULL, NULL, NULL) == SQLITE_OK);
    /* a job that a failure stopped resumes and ends, each file with an outcome */
    resume_ok = true;
    CHECK(kb_jobs_unfinished(o.db, resume_job, o.db) == LAIR_OK);
    CHECK(resume_ok);
    if (kb_job) {
        struct kb_job job;
        CHECK(kb_job_get(o.db, kb_job, &job) == LAIR_OK);
        struct file_seen seen = {0};
        CHECK(kb_job_files(o.db, kb_job, job_file_seen, &seen) == LAIR_OK);
        CHECK(seen.files == 1);
        CHECK(seen.pending == 0);
        CHECK(seen.failed_without_reason == 0);
        int64_t id;
        char sha[65];
        bool present = kb_document_lookup(o.db, kb_slug, kb_name, &id, sha) == LAIR_OK;
        /* indexed means stored; failed means absent, with its reason */
        CHECK(present == (seen.indexed == 1));
        if (!e)
            CHECK(present);
    }
    /* every document holds chunks; no upload is left without its job */
    CHECK(sql_int(db, "SELECT count(*) FROM documents d WHERE NOT EXISTS (SELECT 1 FROM chunks c "
                      "WHERE c.document_id = d.id) AND NOT EXISTS (SELECT 1 FROM chunk_refs r "
                      "WHERE r.document_id = d.id)") == 0);
    char up[400];
    snprintf(up, sizeof(up), "%s/tenants/ville/kb/%s/uploads", data, kb_slug);
    DIR *d = opendir(up);
    if (d) {
        struct dirent *de;
        int left = 0;
        while ((de = readdir(d)))
            left += de->d_name[0] != '.';
        closedir(d);
        CHECK(left == 0);
    }
    /* a fresh knowledge base now and then, so that runs keep their cost */
    if (++kb_runs % 100 == 0) {
        CHECK(kb_delete(o.db, kb_slug) == LAIR_OK);
        snprintf(kb_slug, sizeof(kb_slug), "docs-%u", ++kb_gen);
        CHECK(kb_create(o.db, kb_slug, "Documents") == LAIR_OK);
    }
out:
    close_all(&o);
}

static void test_kb(void **state)
{
    (void)state;
    static const struct scenario s = {"kb", 5, 17, false, run_kb, check_kb};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: a multipart upload body ----------------------------------------------- */

static const char mp_body[] =
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"note\"\r\n"
    "\r\n"
    "bonjour\r\n"
    "--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"e\xcc\x81t\xc3\xa9.txt\"\r\n"
    "Content-Type: text/plain\r\n"
    "\r\n"
    "Premier fichier\r\n--XyZ\r\n"
    "Content-Disposition: form-data; name=\"file\"; filename=\"compte-rendu.md\"\r\n"
    "\r\n"
    "# Titre\r\n\r\nTexte.\r\n--XyZ--\r\n";

static enum lair_err run_multipart(void)
{
    struct arena a;
    arena_init(&a, 1 << 20);
    struct multipart_part *parts = NULL;
    size_t n = 0;
    char msg[200];
    enum lair_err e = multipart_parse("multipart/form-data; boundary=XyZ", S(mp_body), NULL, &a,
                                      &parts, &n, msg, sizeof(msg));
    for (size_t i = 0; !e && i < n; i++)
        sig_add("%s %s [%.*s] %.*s\n", parts[i].name, parts[i].filename ? parts[i].filename : "-",
                STR_ARG(parts[i].content_type), STR_ARG(parts[i].data));
    arena_release(&a);
    return e;
}

static void test_multipart(void **state)
{
    (void)state;
    static const struct scenario s = {"multipart", 1, 1, true, run_multipart, check_nothing};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: JSON request bodies and the assistant file --------------------------------- */

static const char chat_json[] =
    "{\"model\":\"accueil\",\"messages\":[{\"role\":\"system\",\"content\":\"Sois bref.\"},"
    "{\"role\":\"user\",\"content\":\"Bonjour \\u00e9t\\u00e9 \\ud83d\\ude00\"}],"
    "\"temperature\":0.5,\"top_p\":0.9,\"max_tokens\":64,\"stream\":true,\"user\":\"u-1\","
    "\"stop\":[\"\\n\\n\",\"FIN\"],\"seed\":42,\"metadata\":{\"a\":[1,2.5,null,true]}}";

static enum lair_err run_json(void)
{
    char msg[200];
    json_t *v = NULL;
    enum lair_err e = json_parse_object(S(chat_json), &v, msg, sizeof(msg));
    if (e)
        return e;
    double t = 0;
    long long max = 0;
    bool stream = false;
    struct str user = {0};
    if ((e = json_opt_number(v, "temperature", 0, 2, &t, msg, sizeof(msg))) ||
        (e = json_opt_int(v, "max_tokens", 1, 4096, &max, msg, sizeof(msg))) ||
        (e = json_opt_bool(v, "stream", &stream, msg, sizeof(msg))) ||
        (e = json_opt_string(v, "user", &user, msg, sizeof(msg)))) {
        json_decref(v);
        return e;
    }
    sig_add("t=%g max=%lld stream=%d user=%.*s\n", t, max, stream, STR_ARG(user));
    struct buf b;
    buf_init(&b, 0);
    e = json_dump_buf(v, &b);
    json_decref(v);
    if (!e)
        sig_add("%s\n", b.ptr);
    buf_release(&b);
    if (e)
        return e;
    /* the declarative assistant file: parsed, validated, canonical */
    if ((e = json_parse_object(S(assistant_json), &v, msg, sizeof(msg))))
        return e;
    struct assistant a;
    struct assistant_error aerr;
    e = assistant_parse(v, NULL, &a, &aerr);
    json_decref(v);
    if (e)
        return e;
    char *canon = assistant_dump(&a);
    if (canon)
        sig_add("%s\n", canon);
    else
        e = LAIR_ENOMEM;
    free(canon);
    assistant_release(&a);
    return e;
}

static void test_json(void **state)
{
    (void)state;
    static const struct scenario s = {"json", 1, 1, true, run_json, check_nothing};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: the audit log: appends to a tenant's and the operator's, verification ------ */

static int acked_tenant, acked_system; /* appends that returned LAIR_OK */
static int64_t events_tenant = -1, events_system = -1;
static unsigned audit_runs;

static enum lair_err audit_ops(struct opened *o)
{
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e = audit_key_load(adata, key);
    if (e)
        return e;
    struct audit_log lt, ls;
    audit_log_tenant(&lt, o->db, key);
    audit_log_system(&ls, o->sys, key);
    static const struct audit_event evs[] = {
        {0, "0123456789ab", "assistant.publish", "assistant:accueil", "ok", "version:3"},
        {0, "0123456789ab", "kb.upload", "kb:docs", "ok", "files:2 bytes:1234"},
        {0, "cli", "gdpr.erase", "subject:habitant-42", "ok", "lair_0123456789ab_secret"},
    };
    for (size_t i = 0; i < 3 && !e; i++) {
        int64_t seq;
        if (!(e = audit_append(&lt, &evs[i], &seq)))
            acked_tenant++;
    }
    struct audit_event op = {0, "operator", "tenant.create", "tenant:ville", "ok", ""};
    if (!e && !(e = audit_append(&ls, &op, NULL)))
        acked_system++;
    struct audit_report r;
    if (!e && !(e = audit_verify(&lt, &r))) {
        sig_add("tenant ok:%d %s\n", r.ok, audit_reason_name(r.reason));
        if (!e && !(e = audit_verify(&ls, &r)))
            sig_add("system ok:%d %s\n", r.ok, audit_reason_name(r.reason));
        if (!e) {
            json_t *j = audit_report_json(&r);
            if (!j)
                e = LAIR_ENOMEM;
            else
                sig_add("json ok:%d\n", json_is_true(json_object_get(j, "ok")));
            json_decref(j);
        }
    }
    audit_log_release(&lt);
    audit_log_release(&ls);
    return e;
}

static enum lair_err run_audit(void)
{
    struct opened o;
    enum lair_err e = open_all(adata, &o);
    if (!e)
        e = audit_ops(&o);
    close_all(&o);
    return e;
}

static void check_audit(enum lair_err e, bool sticky)
{
    (void)e, (void)sticky;
    struct opened o;
    struct audit_log lt = {0}, ls = {0};
    CHECK(open_all(adata, &o) == LAIR_OK);
    CHECK(db_sound(sysdb_handle(o.sys), "system.db"));
    CHECK(db_sound(tenant_db_handle(o.db), "ville"));
    unsigned char key[AUDIT_KEY_LEN];
    CHECK(audit_key_load(adata, key) == LAIR_OK);
    audit_log_tenant(&lt, o.db, key);
    audit_log_system(&ls, o.sys, key);
    struct audit_report rt, rs;
    CHECK(audit_verify(&lt, &rt) == LAIR_OK);
    CHECK(audit_verify(&ls, &rs) == LAIR_OK);
    if (!rt.ok || !rs.ok)
        problem("audit verify: tenant %s (%s), system %s (%s)", audit_reason_name(rt.reason),
                rt.message, audit_reason_name(rs.reason), rs.message);
    CHECK(rt.ok && rs.ok);
    /* every acknowledged append is there, and nothing else */
    if (events_tenant >= 0 &&
        (rt.events != events_tenant + acked_tenant || rs.events != events_system + acked_system))
        problem("%lld tenant events for %lld + %d acknowledged, %lld system events for %lld + %d",
                (long long)rt.events, (long long)events_tenant, acked_tenant, (long long)rs.events,
                (long long)events_system, acked_system);
    events_tenant = rt.events;
    events_system = rs.events;
out:
    acked_tenant = acked_system = 0;
    audit_log_release(&lt);
    audit_log_release(&ls);
    close_all(&o);
    /* verification reads the whole log: a fresh one now and then keeps runs short */
    if (++audit_runs % 100 == 0) {
        remove_dir(adata);
        make_data(adata);
        events_tenant = events_system = -1;
    }
}

static void test_audit(void **state)
{
    (void)state;
    static const struct scenario s = {"audit", 5, 11, false, run_audit, check_audit};
    assert_int_equal(torture_run(&s), 0);
}

/* ---- scenario: PII detection, masking and pseudonymisation ------------------------------- */

static const char pii_text[] =
    "Je suis n\xc3\xa9 le 3 mars 1985, NIR 1 85 03 75 116 001 42, IBAN FR76 3000 6000 0112 3456 "
    "7890 189. Appelez le 06 12 34 56 78 ou le +33 (0)6 12 34 56 78 ; \xc3\xa9"
    "crire \xc3\xa0 Jean.Dupont@Exemple.fr. SIRET 732 829 320 00074, plaque AB-123-CD.";

static enum lair_err run_pii(void)
{
    struct pii_match m[16];
    size_t n = pii_scan(S(pii_text), m, 16);
    for (size_t i = 0; i < n && i < 16; i++)
        sig_add("%s@%zu+%zu ", pii_type_name(m[i].type), m[i].off, m[i].len);
    sig_add("\n");
    struct buf b;
    buf_init(&b, 0);
    enum lair_err e = pii_mask(S(pii_text), &b);
    if (!e)
        sig_add("%s\n", b.ptr);
    buf_release(&b);
    if (e)
        return e;
    struct pii_pseudonyms ps;
    pii_pseudonyms_init(&ps, 0);
    buf_init(&b, 0);
    e = pii_apply(PII_POLICY_PSEUDONYMISE, S(pii_text), &b, &ps);
    if (!e) {
        sig_add("%s\n", b.ptr);
        buf_reset(&b);
        e = pii_apply(PII_POLICY_PSEUDONYMISE, S("Rappel : 06.12.34.56.78"), &b, &ps);
        if (!e)
            sig_add("%s %zu\n", b.ptr, ps.count);
    }
    buf_release(&b);
    pii_pseudonyms_release(&ps);
    char small[64];
    pii_mask_to(S(pii_text), small, sizeof(small));
    sig_add("%s\n", small);
    return e;
}

static void test_pii(void **state)
{
    (void)state;
    static const struct scenario s = {"pii", 1, 1, true, run_pii, check_nothing};
    assert_int_equal(torture_run(&s), 0);
}

static void test_totals(void **state)
{
    (void)state;
    fprintf(stderr,
            "[torture] total: %lu runs with a failing allocation, %lu allocations refused, "
            "%lu problems\n",
            total_runs, total_refused, total_problems);
    for (size_t i = 0; i < sizeof(lib_defects) / sizeof(lib_defects[0]); i++)
        if (lib_defects[i].seen)
            fprintf(stderr, "[torture] %lu runs showed: %s\n", lib_defects[i].seen,
                    lib_defects[i].what);
}

int main(void)
{
    if (torture_install() != 0) {
        fprintf(stderr, "test_torture: cannot install the allocation hooks\n");
        return 1;
    }
    verbose = env_ul("LAIR_TORTURE_VERBOSE", 0) != 0;
    torture_backtraces = env_ul("LAIR_TORTURE_BACKTRACE", 0) != 0;
    if (!verbose)
        log_set_level((enum log_level)(LOG_ERROR + 1)); /* thousands of expected errors */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_multipart), cmocka_unit_test(test_json),
        cmocka_unit_test(test_pii),       cmocka_unit_test(test_doc),
        cmocka_unit_test(test_store),     cmocka_unit_test(test_audit),
        cmocka_unit_test(test_kb),        cmocka_unit_test(test_tenant_create),
        cmocka_unit_test(test_totals),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
