/* An allocator that fails the Nth allocation, for tests/unit/test_torture.c
 * (curl's torture tests, SQLite's malloc tests).
 *
 * The test executable is linked with -Wl,--wrap=malloc,calloc,realloc,free,
 * strdup,strndup (cmake/torture.cmake), so every call that the project's
 * code (the static library lair) and the static archives (MuPDF) make to
 * those functions lands here. The shared libraries that offer a hook are
 * routed here too (torture_install: SQLite's SQLITE_CONFIG_MALLOC and
 * libxml2's xmlMemSetup; jansson's go through malloc already, since
 * src/core/json.c installs json_set_alloc_funcs hooks that call it);
 * libzip, utf8proc and libstemmer have none and are left alone.
 *
 * While a run is active (torture_begin .. torture_end, on the thread that
 * began it) each allocation is counted, and allocation number fail_at fails
 * (returns NULL), or every one from fail_at on in sticky mode. Every live
 * block is also kept in a hash table with the run that made it, so that a
 * block a run leaves behind is found at the end of that run (torture_leaks),
 * in any build, with its size and the code that asked for it. The pointers
 * are stored masked so that LeakSanitizer (make asan) does not take the
 * table for a reference and still reports what the project leaks. */
#ifndef LAIR_TEST_TORTURE_ALLOC_H
#define LAIR_TEST_TORTURE_ALLOC_H

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <jansson.h>
#include <libxml/parser.h>
#include <libxml/xmlmemory.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

void *__real_malloc(size_t n);
void *__real_calloc(size_t m, size_t n);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t m, size_t n);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);

static struct {
    bool active, sticky;
    pthread_t owner;
    unsigned long count;   /* allocations seen in this run */
    unsigned long fail_at; /* 0: none fails */
    unsigned long fired;   /* allocations refused in this run */
    unsigned run;          /* tag of the blocks made in this run (0: outside runs) */
    long run_live;         /* blocks of this run still live */
    /* the library call running now (set by the test's wrappers of a few
     * library entry points), and the one that was running when the first
     * allocation of the run was refused (NULL: none) */
    const char *in_lib, *refused_in;
    /* set inside library calls that cannot survive a failure of their own
     * allocations (they hang): those are counted, not refused; the
     * project's own allocations made meanwhile (in callbacks) still are */
    bool spare_lib;
    unsigned long spared; /* allocations spared so in this run */
} torture;

#define TA_FRAMES 8

struct ta_entry {
    uintptr_t key; /* pointer ^ TA_MASK; 0: empty slot */
    size_t size;
    const void *site; /* the caller of the allocator */
    unsigned run;
    bool lib;      /* allocated by a library through its hook (not by the project's code) */
    void **frames; /* with torture_backtraces: the call stack (TA_FRAMES), else NULL */
};

/* Set (LAIR_TORTURE_BACKTRACE=1) to keep each block's call stack, and the
 * stack of each refused allocation, for the reports. Slow. */
static bool torture_backtraces;
static void *ta_fired_frames[TA_FRAMES];
static int ta_fired_n;

#define TA_MASK ((uintptr_t)0xa5a5a5a5a5a5a5a5ull)
static struct ta_entry *ta_tab;
static size_t ta_cap, ta_len; /* ta_cap: a power of two */
static pthread_mutex_t ta_mu = PTHREAD_MUTEX_INITIALIZER;

static size_t ta_slot(uintptr_t key)
{
    return (size_t)((key * (uintptr_t)0x9e3779b97f4a7c15ull) >> 20) & (ta_cap - 1);
}

static void ta_put(struct ta_entry e)
{
    size_t i = ta_slot(e.key);
    while (ta_tab[i].key)
        i = (i + 1) & (ta_cap - 1);
    ta_tab[i] = e;
    ta_len++;
}

/* Doubles the table. False when there is no memory for it: the block then
 * goes untracked (never the case in practice). */
static bool ta_grow(void)
{
    size_t cap = ta_cap ? ta_cap * 2 : 1 << 16;
    struct ta_entry *old = ta_tab, *tab = __real_calloc(cap, sizeof(*tab));
    if (!tab)
        return false;
    size_t old_cap = ta_cap;
    ta_tab = tab;
    ta_cap = cap;
    ta_len = 0;
    for (size_t i = 0; i < old_cap; i++)
        if (old[i].key)
            ta_put(old[i]);
    __real_free(old);
    return true;
}

static void ta_track_from(void *p, size_t size, const void *site, bool lib)
{
    if (!p)
        return;
    unsigned run = torture.active ? torture.run : 0;
    void **frames = NULL;
    if (run && torture_backtraces && (frames = __real_calloc(TA_FRAMES, sizeof(void *))))
        backtrace(frames, TA_FRAMES);
    pthread_mutex_lock(&ta_mu);
    if ((ta_len + 1) * 2 <= ta_cap || ta_grow()) {
        ta_put((struct ta_entry){(uintptr_t)p ^ TA_MASK, size, site, run, lib, frames});
        if (run)
            torture.run_live++;
        frames = NULL;
    }
    pthread_mutex_unlock(&ta_mu);
    __real_free(frames);
}

static void ta_track(void *p, size_t size, const void *site)
{
    ta_track_from(p, size, site, false);
}

/* Removes p (backward-shift deletion, no tombstones); false when unknown. */
static bool ta_untrack(void *p)
{
    if (!p)
        return false;
    bool found = false;
    pthread_mutex_lock(&ta_mu);
    uintptr_t key = (uintptr_t)p ^ TA_MASK;
    size_t i = ta_cap ? ta_slot(key) : 0;
    while (ta_cap && ta_tab[i].key) {
        if (ta_tab[i].key == key) {
            found = true;
            break;
        }
        i = (i + 1) & (ta_cap - 1);
    }
    if (found) {
        if (ta_tab[i].run && ta_tab[i].run == torture.run)
            torture.run_live--;
        __real_free(ta_tab[i].frames);
        ta_tab[i].key = 0;
        ta_len--;
        size_t j = i;
        for (;;) {
            j = (j + 1) & (ta_cap - 1);
            if (!ta_tab[j].key)
                break;
            size_t home = ta_slot(ta_tab[j].key);
            /* move j back into the hole at i unless its home lies in (i, j] */
            if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
                ta_tab[i] = ta_tab[j];
                ta_tab[j].key = 0;
                i = j;
            }
        }
    }
    pthread_mutex_unlock(&ta_mu);
    return found;
}

/* Where an allocation is refused: a place for a debugger's breakpoint
 * (gdb -ex 'break torture_refused'). */
__attribute__((noinline)) void torture_refused(unsigned long n);
__attribute__((noinline)) void torture_refused(unsigned long n)
{
    __asm__ volatile("" : : "r"(n) : "memory");
}

/* Counts an allocation of the active run; true when it must fail. lib:
 * the allocation comes through a library's hook. */
static bool ta_fail_from(bool lib)
{
    if (!torture.active || !pthread_equal(pthread_self(), torture.owner))
        return false;
    unsigned long n = ++torture.count;
    if (torture.fail_at && (n == torture.fail_at || (torture.sticky && n > torture.fail_at))) {
        if (lib && torture.spare_lib) {
            torture.spared++;
            return false;
        }
        if (!torture.fired++) {
            torture.refused_in = torture.in_lib;
            if (torture_backtraces)
                ta_fired_n = backtrace(ta_fired_frames, TA_FRAMES);
        }
        torture_refused(n);
        errno = ENOMEM;
        return true;
    }
    return false;
}

static bool ta_fail(void)
{
    return ta_fail_from(false);
}

static void *ta_malloc_from(size_t n, const void *site, bool lib)
{
    if (ta_fail_from(lib))
        return NULL;
    void *p = __real_malloc(n);
    ta_track_from(p, n, site, lib);
    return p;
}

static void *ta_malloc_at(size_t n, const void *site)
{
    return ta_malloc_from(n, site, false);
}

void *__wrap_malloc(size_t n)
{
    return ta_malloc_at(n, __builtin_return_address(0));
}

void *__wrap_calloc(size_t m, size_t n)
{
    if (ta_fail())
        return NULL;
    void *p = __real_calloc(m, n);
    ta_track(p, m * n, __builtin_return_address(0));
    return p;
}

static void *ta_realloc_from(void *p, size_t n, const void *site, bool lib)
{
    if (!p)
        return ta_malloc_from(n, site, lib);
    if (n && ta_fail_from(lib))
        return NULL;
    void *q = __real_realloc(p, n);
    if (q || !n) {
        ta_untrack(p);
        ta_track_from(q, n, site, lib);
    }
    return q;
}

void *__wrap_realloc(void *p, size_t n)
{
    return ta_realloc_from(p, n, __builtin_return_address(0), false);
}

void __wrap_free(void *p)
{
    ta_untrack(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ta_malloc_at(n, __builtin_return_address(0));
    if (p)
        memcpy(p, s, n);
    return p;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = ta_malloc_at(len + 1, __builtin_return_address(0));
    if (p) {
        memcpy(p, s, len);
        p[len] = 0;
    }
    return p;
}

/* ---- the libraries' hooks ---- */

/* SQLite wants each block's size back: it is kept in a 16-byte header. */
#define TA_SQ_HDR 16

static void *ta_sq_malloc(int n)
{
    if (n <= 0 || ta_fail_from(true))
        return NULL;
    unsigned char *b = __real_malloc((size_t)n + TA_SQ_HDR);
    if (!b)
        return NULL;
    memcpy(b, &(size_t){(size_t)n}, sizeof(size_t));
    ta_track_from(b, (size_t)n, __builtin_return_address(0), true);
    return b + TA_SQ_HDR;
}

static void ta_sq_free(void *p)
{
    if (!p)
        return;
    unsigned char *b = (unsigned char *)p - TA_SQ_HDR;
    ta_untrack(b);
    __real_free(b);
}

static void *ta_sq_realloc(void *p, int n)
{
    if (n <= 0 || ta_fail_from(true))
        return NULL;
    unsigned char *b = (unsigned char *)p - TA_SQ_HDR;
    unsigned char *q = __real_realloc(b, (size_t)n + TA_SQ_HDR);
    if (!q)
        return NULL;
    ta_untrack(b);
    memcpy(q, &(size_t){(size_t)n}, sizeof(size_t));
    ta_track_from(q, (size_t)n, __builtin_return_address(0), true);
    return q + TA_SQ_HDR;
}

static int ta_sq_size(void *p)
{
    size_t n = 0;
    if (p)
        memcpy(&n, (unsigned char *)p - TA_SQ_HDR, sizeof(n));
    return (int)n;
}

static int ta_sq_roundup(int n)
{
    return (n + 7) & ~7;
}
static int ta_sq_init(void *arg)
{
    return (void)arg, SQLITE_OK;
}
static void ta_sq_shutdown(void *arg)
{
    (void)arg;
}

static void *ta_lib_malloc(size_t n)
{
    return ta_malloc_from(n, __builtin_return_address(0), true);
}
static void *ta_lib_realloc(void *p, size_t n)
{
    return ta_realloc_from(p, n, __builtin_return_address(0), true);
}
static char *ta_lib_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ta_malloc_from(n, __builtin_return_address(0), true);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Routes SQLite's, jansson's and libxml2's allocations here. Call it first
 * in main, before any of them is used. */
static int torture_install(void)
{
    static const sqlite3_mem_methods sq = {ta_sq_malloc,  ta_sq_free, ta_sq_realloc,  ta_sq_size,
                                           ta_sq_roundup, ta_sq_init, ta_sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq) != SQLITE_OK || sqlite3_initialize() != SQLITE_OK)
        return -1;
    /* jansson: src/core/json.c routes its allocations through malloc (to
     * notice failures jansson does not report), which is wrapped here */
    if (xmlMemSetup(__wrap_free, ta_lib_malloc, ta_lib_realloc, ta_lib_strdup) != 0)
        return -1;
    xmlInitParser();
    return 0;
}

/* Starts a run: allocation fail_at (1-based; 0 = none) fails, and with
 * sticky every later one too. */
static void torture_begin(unsigned long fail_at, bool sticky)
{
    pthread_mutex_lock(&ta_mu);
    torture.run++;
    torture.run_live = 0;
    torture.count = 0;
    torture.fired = 0;
    torture.refused_in = NULL;
    torture.spared = 0;
    ta_fired_n = 0;
    torture.fail_at = fail_at;
    torture.sticky = sticky;
    torture.owner = pthread_self();
    torture.active = true;
    pthread_mutex_unlock(&ta_mu);
}

/* Ends the run. OUT: the allocations it counted. */
static unsigned long torture_end(void)
{
    torture.active = false;
    return torture.count;
}

/* Prints "module+offset" of a code address, for addr2line -e module. */
static void ta_print_addr(const char *prefix, const void *addr)
{
    Dl_info info = {0};
    const char *mod = "?", *sym = "";
    uintptr_t off = (uintptr_t)addr;
    if (dladdr(addr, &info) && info.dli_fname) {
        mod = info.dli_fname;
        off -= (uintptr_t)info.dli_fbase;
        sym = info.dli_sname ? info.dli_sname : "";
    }
    fprintf(stderr, "%s%s+0x%lx %s\n", prefix, mod, (unsigned long)off, sym);
}

/* Prints the call stack of the first allocation refused in the last run
 * (with torture_backtraces). */
static void torture_print_refused(void)
{
    for (int i = 1; i < ta_fired_n; i++)
        ta_print_addr("    refused in ", ta_fired_frames[i]);
}

/* The blocks the last run left behind. OUT: *ours, those that the
 * project's code allocated (the others were allocated by a library through
 * its hook, which the project may have wrapped: doc_xml_init's). Prints at most max of them when
 * max > 0, with the module and offset of the code that asked for each, for addr2line. Returns how
 * many there are. */
static long torture_leaks(int max, long *ours)
{
    *ours = 0;
    if (torture.run_live == 0)
        return 0;
    pthread_mutex_lock(&ta_mu);
    int shown = 0;
    for (size_t i = 0; i < ta_cap; i++) {
        if (!ta_tab[i].key || ta_tab[i].run != torture.run)
            continue;
        if (!ta_tab[i].lib)
            (*ours)++;
        if (shown >= max)
            continue;
        fprintf(stderr, "  leaked %zu bytes\n", ta_tab[i].size);
        ta_print_addr("    allocated by ", ta_tab[i].site);
        for (int f = 1; ta_tab[i].frames && f < TA_FRAMES && ta_tab[i].frames[f]; f++)
            ta_print_addr("      from ", ta_tab[i].frames[f]);
        shown++;
    }
    pthread_mutex_unlock(&ta_mu);
    return torture.run_live;
}

/* Forgives the blocks the last run left behind (a library's own leak,
 * counted by the test): they no longer count as the run's, and
 * LeakSanitizer is told to ignore them. */
static void torture_forgive_leaks(void)
{
    pthread_mutex_lock(&ta_mu);
    for (size_t i = 0; i < ta_cap; i++) {
        if (!ta_tab[i].key || ta_tab[i].run != torture.run)
            continue;
        ta_tab[i].run = 0;
#ifdef __SANITIZE_ADDRESS__
        __lsan_ignore_object((const void *)(ta_tab[i].key ^ TA_MASK));
#endif
    }
    torture.run_live = 0;
    pthread_mutex_unlock(&ta_mu);
}

#endif
