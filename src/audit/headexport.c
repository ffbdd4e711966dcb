/* The head writer (headexport.h): a small table of chains, the latest head
 * of each, and a thread that writes those that changed. */
#include "audit/headexport.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "store/audit_store.h"

#include "core/banned.h"

/* headsyslog.c */
void audit_head_syslog_open(void);
void audit_head_syslog(const char *line);
void audit_head_syslog_close(void);

#define MAX_SCOPES 4096
#define PERIOD_MS 1000

struct head {
    char scope[96];
    int64_t seq;
    unsigned char hash[AUDIT_HASH_LEN];
    bool dirty;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thread;
    bool running, stop;
    bool syslog;
    int fd;
    struct head *heads;
    size_t n;
    uint64_t failures;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER, .fd = -1};

void audit_head_note(const char *scope, int64_t seq, const unsigned char hash[AUDIT_HASH_LEN])
{
    pthread_mutex_lock(&W.mu);
    if (!W.running) {
        pthread_mutex_unlock(&W.mu);
        return;
    }
    size_t i = 0;
    while (i < W.n && strcmp(W.heads[i].scope, scope))
        i++;
    if (i == W.n && W.n < MAX_SCOPES)
        snprintf(W.heads[W.n++].scope, sizeof(W.heads[0].scope), "%s", scope);
    if (i < W.n && seq >= W.heads[i].seq) { /* appends finishing out of order */
        W.heads[i].seq = seq;
        memcpy(W.heads[i].hash, hash, AUDIT_HASH_LEN);
        W.heads[i].dirty = true;
    } else if (i == W.n) {
        /* a table that full is a bug; said once by the counter */
        __atomic_add_fetch(&W.failures, 1, __ATOMIC_RELAXED);
    }
    pthread_mutex_unlock(&W.mu);
}

uint64_t audit_head_failures(void)
{
    return __atomic_load_n(&W.failures, __ATOMIC_RELAXED);
}

/* Outside the lock: writes one head line to every destination. */
static bool write_head(const struct head *h)
{
    char hex[2 * AUDIT_HASH_LEN + 1], line[256], when[32];
    sodium_bin2hex(hex, sizeof(hex), h->hash, AUDIT_HASH_LEN);
    snprintf(line, sizeof(line), "audit-head %s %" PRId64 " %s", h->scope, h->seq, hex);
    if (W.syslog)
        audit_head_syslog(line);
    if (W.fd < 0)
        return true;
    audit_format_time((int64_t)time(NULL), when);
    char out[300];
    int n = snprintf(out, sizeof(out), "%s %s\n", when, line);
    return n > 0 && write(W.fd, out, (size_t)n) == n;
}

/* Writes the heads that changed; true when all were written. */
static bool flush(void)
{
    struct head batch[64];
    bool ok = true;
    for (;;) {
        size_t k = 0;
        pthread_mutex_lock(&W.mu);
        for (size_t i = 0; i < W.n && k < 64; i++)
            if (W.heads[i].dirty) {
                batch[k++] = W.heads[i];
                W.heads[i].dirty = false;
            }
        pthread_mutex_unlock(&W.mu);
        if (k == 0)
            break;
        for (size_t i = 0; i < k; i++)
            ok = write_head(&batch[i]) && ok;
    }
    if (W.fd >= 0 && fdatasync(W.fd) != 0 && errno != EINVAL)
        ok = false;
    if (!ok) {
        __atomic_add_fetch(&W.failures, 1, __ATOMIC_RELAXED);
        log_error("audit", "cannot write the audit heads to their destination: %s",
                  strerror(errno));
    }
    return ok;
}

static void *writer(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&W.mu);
    while (!W.stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += PERIOD_MS / 1000;
        pthread_cond_timedwait(&W.cv, &W.mu, &ts);
        pthread_mutex_unlock(&W.mu);
        flush();
        pthread_mutex_lock(&W.mu);
    }
    pthread_mutex_unlock(&W.mu);
    return NULL;
}

enum lair_err audit_head_start(const struct audit_head_opts *o)
{
    if (W.running)
        return LAIR_ECONFLICT;
    W.heads = calloc(MAX_SCOPES, sizeof(*W.heads));
    if (!W.heads)
        return LAIR_ENOMEM;
    if (o->file) {
        W.fd = open(o->file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
        if (W.fd < 0) {
            log_error("audit", "cannot open %s to append the audit heads: %s", o->file,
                      strerror(errno));
            free(W.heads);
            W.heads = NULL;
            return LAIR_EIO;
        }
    }
    W.syslog = o->syslog;
    if (W.syslog)
        audit_head_syslog_open();
    W.n = 0;
    W.stop = false;
    W.running = true;
    if (pthread_create(&W.thread, NULL, writer, NULL) != 0) {
        W.running = false;
        audit_head_stop();
        return LAIR_ENOMEM;
    }
    return LAIR_OK;
}

void audit_head_stop(void)
{
    pthread_mutex_lock(&W.mu);
    bool was = W.running;
    W.stop = true;
    pthread_cond_signal(&W.cv);
    pthread_mutex_unlock(&W.mu);
    if (was && W.thread)
        pthread_join(W.thread, NULL);
    if (was)
        flush();
    pthread_mutex_lock(&W.mu);
    W.running = false;
    pthread_mutex_unlock(&W.mu);
    if (W.fd >= 0)
        close(W.fd);
    W.fd = -1;
    if (W.syslog)
        audit_head_syslog_close();
    free(W.heads);
    W.heads = NULL;
    W.n = 0;
}

/* ---- reading heads back, and comparing ---- */

/* Parses "audit-head SCOPE SEQ HEX" anywhere in line. */
static bool parse_line(const char *line, struct audit_head *h)
{
    const char *p = strstr(line, "audit-head ");
    char hex[2 * AUDIT_HASH_LEN + 2];
    long long seq;
    if (!p || sscanf(p + 11, "%95s %lld %65s", h->scope, &seq, hex) != 3 || seq < 1 ||
        strlen(hex) != 2 * AUDIT_HASH_LEN)
        return false;
    size_t got;
    if (sodium_hex2bin(h->hash, AUDIT_HASH_LEN, hex, strlen(hex), NULL, &got, NULL) != 0 ||
        got != AUDIT_HASH_LEN)
        return false;
    h->seq = seq;
    return true;
}

enum lair_err audit_heads_read(const char *path, const char *scope, struct audit_head **out,
                               size_t *n)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return LAIR_EIO;
    size_t cap = 0;
    char line[512];
    enum lair_err e = LAIR_OK;
    while (!e && fgets(line, sizeof(line), f)) {
        struct audit_head h;
        if (!parse_line(line, &h) || strcmp(h.scope, scope))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 64;
            struct audit_head *g = realloc(*out, cap * sizeof(*g));
            if (!g) {
                e = LAIR_ENOMEM;
                break;
            }
            *out = g;
        }
        (*out)[(*n)++] = h;
    }
    fclose(f);
    if (e) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return e;
}

enum lair_err audit_verify_heads(struct audit_log *l, const struct audit_head *heads, size_t n,
                                 struct audit_report *rep)
{
    for (size_t i = 0; i < n; i++) {
        const struct audit_head *h = &heads[i];
        bool found;
        unsigned char hash[AUDIT_HASH_LEN];
        enum lair_err e = audit_store_hash_at(l->db, h->seq, &found, hash);
        if (e)
            return e;
        if (found && !memcmp(hash, h->hash, AUDIT_HASH_LEN))
            continue;
        rep->ok = false;
        rep->broken_at = h->seq;
        rep->reason = found ? AUDIT_REWRITTEN : AUDIT_ROLLED_BACK;
        snprintf(rep->message, sizeof(rep->message),
                 found ? "event %" PRId64 " is not the one whose head was written outside the "
                         "data directory: the chain was rewritten and sealed again"
                       : "the log ends before event %" PRId64
                         ", whose head was written outside the data directory: events were "
                         "removed, or the log restored from an older copy",
                 h->seq);
        return LAIR_OK;
    }
    return LAIR_OK;
}
