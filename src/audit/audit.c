/* The audit chain: canonical encoding and hashing of events, the sealed head
 * (checkpoint), appends, and the verification walk that says where and how a
 * log was tampered with. Storage is src/store/audit_store.c. */
#include "audit/audit.h"
#include "audit/headexport.h"

#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/banned.h"

#define PEPPER_LEN 32
/* Most seqs tried when looking for the position a moved event was written
 * at (a diagnosis of a log already known to be broken). */
#define SEARCH_MAX 5000000

static uint64_t failures;

uint64_t audit_failures(void)
{
    return __atomic_load_n(&failures, __ATOMIC_RELAXED);
}

void audit_failure_count(void)
{
    __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
}

/* ---- time ---- */

/* n decimal digits at *p, advancing it; -1 when they are not there. */
static int digits(const char **p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    return v;
}

static bool parse_zone(const char *p, long *offset)
{
    *offset = 0;
    if (!*p || ((*p == 'Z' || *p == 'z') && !p[1]))
        return true;
    if (*p != '+' && *p != '-')
        return false;
    int sign = *p++ == '-' ? -1 : 1;
    int h = digits(&p, 2);
    if (*p == ':')
        p++;
    int m = digits(&p, 2);
    if (h < 0 || h > 23 || m < 0 || m > 59 || *p)
        return false;
    *offset = sign * (h * 3600L + m * 60L);
    return true;
}

bool audit_parse_time(const char *s, int64_t *out)
{
    size_t n = strlen(s), nd = strspn(s, "0123456789");
    if (n > 0 && nd == n) {
        if (n > 12)
            return false;
        *out = strtoll(s, NULL, 10);
        return true;
    }
    const char *p = s;
    struct tm tm = {0};
    int y = digits(&p, 4), mo = -1, d = -1, h = 0, mi = -1, sec = 0;
    if (y >= 0 && *p == '-') {
        p++;
        mo = digits(&p, 2);
    }
    if (mo >= 0 && *p == '-') {
        p++;
        d = digits(&p, 2);
    }
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31)
        return false;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        p++;
        h = digits(&p, 2);
        if (h >= 0 && *p == ':') {
            p++;
            mi = digits(&p, 2);
        }
        if (mi >= 0 && *p == ':') {
            p++;
            sec = digits(&p, 2);
            if (*p == '.')
                for (p++; *p >= '0' && *p <= '9'; p++)
                    ;
        }
        if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
            return false;
    } else {
        mi = 0;
    }
    long offset;
    if (!parse_zone(p, &offset))
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    time_t t = timegm(&tm);
    struct tm back;
    if (t == (time_t)-1 || !gmtime_r(&t, &back) || back.tm_mday != d) /* 2024-02-30 */
        return false;
    *out = (int64_t)t - offset;
    return true;
}

void audit_format_time(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm) || !strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm))
        snprintf(out, 32, "%" PRId64, t);
}

/* ---- keys and logs ---- */

enum lair_err audit_key_load(const char *data_dir, unsigned char key[AUDIT_KEY_LEN])
{
    static const unsigned char label[] = "LibreAIr audit checkpoint key v1";
    char path[4200];
    unsigned char pepper[PEPPER_LEN];
    int n = snprintf(path, sizeof(path), "%s/pepper", data_dir);
    if (n < 0 || (size_t)n >= sizeof(path))
        return LAIR_EINVAL;
    if (sodium_init() < 0)
        return LAIR_EINTERNAL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    ssize_t r = read(fd, pepper, sizeof(pepper));
    close(fd);
    if (r != (ssize_t)sizeof(pepper)) {
        sodium_memzero(pepper, sizeof(pepper));
        return LAIR_EIO;
    }
    /* a key of its own, so that the checkpoint MAC and the key hashes never
     * share one */
    crypto_generichash(key, AUDIT_KEY_LEN, label, sizeof(label), pepper, sizeof(pepper));
    sodium_memzero(pepper, sizeof(pepper));
    return LAIR_OK;
}

void audit_log_conn(struct audit_log *l, sqlite3 *db, const char *scope,
                    const unsigned char key[AUDIT_KEY_LEN])
{
    memset(l, 0, sizeof(*l));
    l->db.conn = db;
    snprintf(l->scope, sizeof(l->scope), "%s", scope);
    memcpy(l->key, key, AUDIT_KEY_LEN);
}

void audit_log_tenant(struct audit_log *l, struct tenant_db *db,
                      const unsigned char key[AUDIT_KEY_LEN])
{
    memset(l, 0, sizeof(*l));
    l->db.tenant = db;
    snprintf(l->scope, sizeof(l->scope), "tenant:%s", tenant_db_slug(db));
    memcpy(l->key, key, AUDIT_KEY_LEN);
}

void audit_log_system(struct audit_log *l, struct sysdb *sys,
                      const unsigned char key[AUDIT_KEY_LEN])
{
    audit_log_conn(l, sysdb_handle(sys), "system", key);
}

void audit_log_release(struct audit_log *l)
{
    sodium_memzero(l->key, sizeof(l->key));
}

/* ---- encoding and hashing ---- */

static void put_be64(crypto_generichash_state *s, uint64_t x)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(x >> (56 - 8 * i));
    crypto_generichash_update(s, b, sizeof(b));
}

static void put_lp(crypto_generichash_state *s, struct str x)
{
    unsigned char b[4];
    uint32_t n = (uint32_t)x.len;
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(n >> (24 - 8 * i));
    crypto_generichash_update(s, b, sizeof(b));
    if (x.len)
        crypto_generichash_update(s, (const unsigned char *)x.ptr, x.len);
}

/* Everything but the seq, which comes last so that a diagnosis can try many
 * seqs from one copy of this state. */
static void hash_prefix(const struct audit_row *r, crypto_generichash_state *s)
{
    static const unsigned char tag[] = "LibreAIr audit event v1";
    crypto_generichash_init(s, NULL, 0, AUDIT_HASH_LEN);
    crypto_generichash_update(s, tag, sizeof(tag));
    put_be64(s, (uint64_t)r->ts);
    put_lp(s, r->actor);
    put_lp(s, r->action);
    put_lp(s, r->target);
    put_lp(s, r->outcome);
    put_lp(s, r->detail);
    crypto_generichash_update(s, r->prev, AUDIT_HASH_LEN);
}

static void hash_finish(const crypto_generichash_state *prefix, int64_t seq,
                        unsigned char out[AUDIT_HASH_LEN])
{
    crypto_generichash_state s = *prefix;
    put_be64(&s, (uint64_t)seq);
    crypto_generichash_final(&s, out, AUDIT_HASH_LEN);
}

void audit_hash(const struct audit_row *r, int64_t seq, unsigned char out[AUDIT_HASH_LEN])
{
    crypto_generichash_state s;
    hash_prefix(r, &s);
    hash_finish(&s, seq, out);
}

/* ---- the sealed head ---- */

static void head_mac(const struct audit_log *l, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], unsigned char mac[AUDIT_HASH_LEN])
{
    static const unsigned char tag[] = "LibreAIr audit head v1";
    crypto_generichash_state s;
    crypto_generichash_init(&s, l->key, AUDIT_KEY_LEN, AUDIT_HASH_LEN);
    crypto_generichash_update(&s, tag, sizeof(tag));
    put_lp(&s, str_c(l->scope));
    put_be64(&s, (uint64_t)seq);
    crypto_generichash_update(&s, hash, AUDIT_HASH_LEN);
    crypto_generichash_final(&s, mac, AUDIT_HASH_LEN);
}

static void head_format(const struct audit_log *l, int64_t seq,
                        const unsigned char hash[AUDIT_HASH_LEN], char out[AUDIT_HEAD_MAX])
{
    unsigned char mac[AUDIT_HASH_LEN];
    char hh[2 * AUDIT_HASH_LEN + 1], mh[2 * AUDIT_HASH_LEN + 1];
    head_mac(l, seq, hash, mac);
    sodium_bin2hex(hh, sizeof(hh), hash, AUDIT_HASH_LEN);
    sodium_bin2hex(mh, sizeof(mh), mac, AUDIT_HASH_LEN);
    snprintf(out, AUDIT_HEAD_MAX, "v1 %" PRId64 " %s %s", seq, hh, mh);
}

void audit_head_text(const struct audit_log *l, int64_t seq,
                     const unsigned char hash[AUDIT_HASH_LEN], char out[AUDIT_HEAD_MAX])
{
    head_format(l, seq, hash, out);
}

static bool hex32(const char *s, unsigned char out[AUDIT_HASH_LEN])
{
    size_t bin_len = 0;
    const char *end = NULL;
    return sodium_hex2bin(out, AUDIT_HASH_LEN, s, 2 * AUDIT_HASH_LEN, NULL, &bin_len, &end) == 0 &&
           bin_len == AUDIT_HASH_LEN && end == s + 2 * AUDIT_HASH_LEN;
}

/* True when text is a well-formed checkpoint of this log with a good MAC. */
static bool head_parse(const struct audit_log *l, const char *text, int64_t *seq,
                       unsigned char hash[AUDIT_HASH_LEN])
{
    if (strncmp(text, "v1 ", 3) != 0)
        return false;
    char *end;
    long long n = strtoll(text + 3, &end, 10);
    if (end == text + 3 || *end != ' ' || n <= 0)
        return false;
    const char *h = end + 1, *m = h + 2 * AUDIT_HASH_LEN + 1;
    unsigned char mac[AUDIT_HASH_LEN], want[AUDIT_HASH_LEN];
    if (strlen(h) != 4 * AUDIT_HASH_LEN + 1 || h[2 * AUDIT_HASH_LEN] != ' ' || !hex32(h, hash) ||
        !hex32(m, mac))
        return false;
    head_mac(l, n, hash, want);
    *seq = n;
    return sodium_memcmp(mac, want, AUDIT_HASH_LEN) == 0;
}

/* ---- cleaning ---- */

struct out {
    char *p;
    size_t n, cap;
    bool full;
};

static void emit(struct out *o, const char *s, size_t n)
{
    if (o->full || o->n + n + 1 > o->cap) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static bool is_secret_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* Length of "lair_<12 hex>_" at p, or 0. */
static size_t key_prefix(const char *p, size_t n)
{
    if (n < 5 + KEY_ID_LEN + 1 || memcmp(p, "lair_", 5) != 0 || p[5 + KEY_ID_LEN] != '_')
        return 0;
    for (size_t i = 5; i < 5 + KEY_ID_LEN; i++)
        if (!is_lower_hex(p[i]))
            return 0;
    return 5 + KEY_ID_LEN + 1;
}

/* Bytes of the UTF-8 character at p, or 0 when it is not a valid one. */
static size_t utf8_char(const char *p, size_t n)
{
    unsigned char c = (unsigned char)p[0];
    size_t k = c < 0x80                 ? 1
               : c >= 0xC2 && c <= 0xDF ? 2
               : c >= 0xE0 && c <= 0xEF ? 3
               : c >= 0xF0 && c <= 0xF4 ? 4
                                        : 0;
    return k && k <= n && utf8_valid(p, k) ? k : 0;
}

size_t audit_clean(struct str in, char *out, size_t cap)
{
    struct out o = {out, 0, cap, cap == 0};
    size_t i = 0;
    while (i < in.len && !o.full) {
        const char *p = in.ptr + i;
        size_t left = in.len - i, k;
        if ((k = key_prefix(p, left))) { /* an API key: keep its id, hide its secret */
            emit(&o, p, k);
            emit(&o, "***", 3);
            for (i += k; i < in.len && is_secret_char(in.ptr[i]); i++)
                ;
        } else if (left >= 7 && !strncasecmp(p, "bearer ", 7)) {
            emit(&o, "Bearer ***", 10);
            for (i += 7; i < in.len && in.ptr[i] == ' '; i++)
                ;
            for (; i < in.len && is_secret_char(in.ptr[i]); i++)
                ;
        } else if ((k = utf8_char(p, left)) == 0) {
            emit(&o, "?", 1);
            i++;
        } else if (k == 1 && ((unsigned char)*p < 0x20 || *p == 0x7f)) {
            emit(&o, "?", 1);
            i++;
        } else {
            emit(&o, p, k);
            i += k;
        }
    }
    if (cap)
        out[o.n] = 0;
    return o.n;
}

/* ---- append ---- */

struct seal_ctx {
    const struct audit_log *log;
    const char *anomaly;         /* set when the stored end of the log disagrees with its head */
    char sealed[AUDIT_HEAD_MAX]; /* the checkpoint written ("" when none was) */
};

static enum lair_err seal(void *ctx, const struct audit_tail *t, struct audit_row *row,
                          char new_head[AUDIT_HEAD_MAX])
{
    struct seal_ctx *sc = ctx;
    int64_t head_seq = 0;
    unsigned char head_hash[AUDIT_HASH_LEN];
    bool valid = t->has_head && head_parse(sc->log, t->head, &head_seq, head_hash);
    bool write_head = true;
    if (valid) {
        /* Chain from the sealed head, not from the last row: if events were
         * removed from the end, the gap stays visible; if some were added
         * behind the server's back, they stay outside the chain. */
        row->seq = (t->last_seq > head_seq ? t->last_seq : head_seq) + 1;
        memcpy(row->prev, head_hash, AUDIT_HASH_LEN);
        if (t->last_seq != head_seq || memcmp(t->last_hash, head_hash, AUDIT_HASH_LEN))
            sc->anomaly = "the last stored event is not the sealed head";
    } else if (!t->has_head && t->last_seq == 0) {
        row->seq = 1;
        memset(row->prev, 0, AUDIT_HASH_LEN);
    } else {
        /* Events but no valid head: the head was removed or forged. Keep
         * appending, but never seal over the evidence. */
        row->seq = t->last_seq + 1;
        memcpy(row->prev, t->last_hash, AUDIT_HASH_LEN);
        write_head = false;
        sc->anomaly = t->has_head ? "the sealed head is invalid" : "the sealed head is missing";
    }
    audit_hash(row, row->seq, row->hash);
    sc->sealed[0] = 0;
    if (write_head) {
        head_format(sc->log, row->seq, row->hash, new_head);
        memcpy(sc->sealed, new_head, AUDIT_HEAD_MAX);
    }
    return LAIR_OK;
}

/* Moves the log's high-water mark in system.db to the head just sealed,
 * unless the log no longer holds the event that the mark names: then the
 * mark stays where it is, as evidence, and the anomaly is logged. */
static void mark_advance(const struct audit_log *l, int64_t seq, const char *head)
{
    if (!audit_store_has_marks(l->db))
        return;
    struct audit_mark m;
    enum lair_err e = audit_store_mark_get(l->db, l->scope, &m);
    if (!e && m.has) {
        int64_t mseq;
        unsigned char mhash[AUDIT_HASH_LEN], h[AUDIT_HASH_LEN];
        bool found = false;
        if (!head_parse(l, m.head, &mseq, mhash)) {
            log_error("audit",
                      "%s log: its high-water mark in system.db is invalid; 'libreair "
                      "audit verify' tells more",
                      l->scope);
            return;
        }
        e = audit_store_hash_at(l->db, mseq, &found, h);
        if (!e && (!found || memcmp(h, mhash, AUDIT_HASH_LEN))) {
            log_error("audit",
                      "%s log: it does not hold event %" PRId64
                      " as system.db recorded it: the database was restored from an older copy "
                      "or rewritten; 'libreair audit verify' tells where",
                      l->scope, mseq);
            return;
        }
        if (!e && mseq >= seq) /* an append that finished first went further */
            return;
    }
    if (!e)
        e = audit_store_mark_advance(l->db, l->scope, seq, head);
    if (e) {
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        log_error("audit", "cannot record the high-water mark of the %s log: %s", l->scope,
                  lair_err_msg(e));
    }
}

#define CLEAN(field, max)                                                                          \
    char field##_b[(max) + 1];                                                                     \
    row.field = (struct str)                                                                       \
    {                                                                                              \
        field##_b, audit_clean(str_c(ev->field), field##_b, sizeof(field##_b))                     \
    }

enum lair_err audit_append(struct audit_log *l, const struct audit_event *ev, int64_t *seq)
{
    struct audit_row row = {0};
    row.ts = ev->ts ? ev->ts : (int64_t)time(NULL);
    CLEAN(actor, AUDIT_ACTOR_MAX);
    CLEAN(action, AUDIT_ACTION_MAX);
    CLEAN(target, AUDIT_TARGET_MAX);
    CLEAN(outcome, AUDIT_OUTCOME_MAX);
    CLEAN(detail, AUDIT_DETAIL_MAX);
    struct seal_ctx sc = {.log = l};
    enum lair_err e = audit_store_append(l->db, &row, seal, &sc);
    if (sc.anomaly)
        log_error("audit", "%s log: %s; 'libreair audit verify' tells where it breaks", l->scope,
                  sc.anomaly);
    if (e) {
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        log_error("audit", "cannot append %s to the %s log: %s", action_b, l->scope,
                  lair_err_msg(e));
        return e;
    }
    /* an append that joined its caller's transaction (l->db.tx) is not
     * committed yet: the mark must not run ahead of the log, so the next
     * append after the commit moves it */
    if (sc.sealed[0] && !l->db.tx) {
        mark_advance(l, row.seq, sc.sealed);
        audit_head_note(l->scope, row.seq, row.hash); /* written outside, by its thread */
    }
    if (seq)
        *seq = row.seq;
    return LAIR_OK;
}

struct head_peek {
    const struct audit_log *log;
    bool ok;
    int64_t seq;
    unsigned char hash[AUDIT_HASH_LEN];
};

static void peek_begin(void *ctx, struct audit_scan *sc, const struct audit_scan_info *info)
{
    (void)sc;
    struct head_peek *h = ctx;
    h->ok = info->has_head && head_parse(h->log, info->head, &h->seq, h->hash);
}

static bool peek_row(void *ctx, struct audit_scan *sc, const struct audit_row *r)
{
    (void)ctx, (void)sc, (void)r;
    return false; /* the checkpoint is all we want */
}

void audit_head_export_current(struct audit_log *l)
{
    struct head_peek h = {.log = l};
    if (audit_store_scan(l->db, peek_begin, peek_row, &h) == LAIR_OK && h.ok)
        audit_head_note(l->scope, h.seq, h.hash);
}

enum lair_err audit_record(const char *data_dir, struct sysdb *sys, struct tenant_db *tdb,
                           const struct audit_event *ev)
{
    unsigned char key[AUDIT_KEY_LEN];
    enum lair_err e = audit_key_load(data_dir, key);
    if (e) {
        __atomic_add_fetch(&failures, 1, __ATOMIC_RELAXED);
        log_error("audit", "cannot read the audit key from %s/pepper: %s", data_dir,
                  lair_err_msg(e));
        return e;
    }
    struct audit_log l;
    if (tdb)
        audit_log_tenant(&l, tdb, key);
    else
        audit_log_system(&l, sys, key);
    sodium_memzero(key, sizeof(key));
    e = audit_append(&l, ev, NULL);
    audit_log_release(&l);
    return e;
}

/* ---- verification ---- */

const char *audit_reason_name(enum audit_reason r)
{
    switch (r) {
    case AUDIT_INTACT: return "ok";
    case AUDIT_MODIFIED: return "modified";
    case AUDIT_DELETED: return "deleted";
    case AUDIT_INSERTED: return "inserted";
    case AUDIT_REORDERED: return "reordered";
    case AUDIT_TRUNCATED: return "truncated";
    case AUDIT_REWRITTEN: return "rewritten";
    case AUDIT_CHECKPOINT: return "checkpoint";
    case AUDIT_ROLLED_BACK: return "rolled_back";
    }
    return "?";
}

struct verifier {
    const struct audit_log *log;
    struct audit_report *rep;
    bool head_present, head_valid;
    int64_t head_seq;
    unsigned char head_hash[AUDIT_HASH_LEN];
    int64_t search_hi;                       /* largest seq an event may have been written at */
    int64_t last_seq;                        /* last verified event; 0 before the first */
    unsigned char last_hash[AUDIT_HASH_LEN]; /* its hash; zeros before the first */
    bool broken;
    /* the high-water mark in system.db, read before the log */
    bool mark_present, mark_valid, mark_reached;
    int64_t mark_seq;
    unsigned char mark_hash[AUDIT_HASH_LEN];
    unsigned char mark_stored[AUDIT_HASH_LEN]; /* the log's hash of event mark_seq, once reached */
};

static bool mark_broken(struct verifier *v, enum audit_reason why, int64_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool mark_broken(struct verifier *v, enum audit_reason why, int64_t at, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->rep->message, sizeof(v->rep->message), fmt, ap);
    va_end(ap);
    v->rep->ok = false;
    v->rep->reason = why;
    v->rep->broken_at = at;
    v->broken = true;
    return false;
}

static void v_begin(void *ctx, struct audit_scan *sc, const struct audit_scan_info *info)
{
    (void)sc;
    struct verifier *v = ctx;
    v->rep->events = info->count;
    v->head_present = info->has_head;
    v->head_valid = info->has_head && head_parse(v->log, info->head, &v->head_seq, v->head_hash);
    v->search_hi = info->max_seq;
    if (v->head_valid && v->head_seq > v->search_hi)
        v->search_hi = v->head_seq;
    if (v->search_hi > SEARCH_MAX)
        v->search_hi = SEARCH_MAX;
}

/* The seq at which r's hash was computed, when it is not where it is. */
static bool written_at(const struct verifier *v, const struct audit_row *r, int64_t *seq)
{
    crypto_generichash_state prefix;
    unsigned char h[AUDIT_HASH_LEN];
    hash_prefix(r, &prefix);
    for (int64_t s = 1; s <= v->search_hi + 1; s++) {
        if (s == r->seq)
            continue;
        hash_finish(&prefix, s, h);
        if (!memcmp(h, r->hash, AUDIT_HASH_LEN)) {
            *seq = s;
            return true;
        }
    }
    return false;
}

/* r does not link to the event before it: say what most likely happened. */
static bool diagnose(struct verifier *v, struct audit_scan *sc, const struct audit_row *r,
                     bool self_ok)
{
    int64_t q = 0, s = 0, n = r->seq;
    bool found = audit_scan_find_hash(sc, r->prev, &q);
    if (self_ok) { /* r is where it was written; what comes before it is wrong */
        if (found && q < n - 1)
            return mark_broken(v, AUDIT_INSERTED, q + 1,
                               "events %" PRId64 " to %" PRId64
                               " are not part of the chain: event %" PRId64
                               " follows event %" PRId64,
                               q + 1, n - 1, n, q);
        if (found)
            return mark_broken(v, AUDIT_REORDERED, n,
                               "event %" PRId64 " follows event %" PRId64 ", stored after it", n,
                               q);
        if (n == 1)
            return mark_broken(
                v, AUDIT_DELETED, 1,
                "the log does not begin with its first event: earlier events were removed");
        return mark_broken(v, AUDIT_MODIFIED, n - 1,
                           "event %" PRId64 " is not the event that event %" PRId64
                           " followed: it was "
                           "replaced",
                           n - 1, n);
    }
    if (written_at(v, r, &s)) {
        if (s < n)
            return mark_broken(v, AUDIT_INSERTED, s,
                               "the event stored as %" PRId64 " was written as %" PRId64
                               ": events were inserted before it",
                               n, s);
        if (found)
            return mark_broken(v, AUDIT_REORDERED, n,
                               "the event stored as %" PRId64 " was written as %" PRId64
                               ": events were reordered",
                               n, s);
        return mark_broken(v, AUDIT_DELETED, n,
                           "the event stored as %" PRId64 " was written as %" PRId64
                           " and the event before it is gone: events were removed and the rest "
                           "renumbered",
                           n, s);
    }
    return mark_broken(v, AUDIT_MODIFIED, n,
                       "event %" PRId64 " was modified: it matches neither its hash nor the event "
                       "before it",
                       n);
}

static bool v_row(void *ctx, struct audit_scan *sc, const struct audit_row *r)
{
    struct verifier *v = ctx;
    int64_t expect = v->last_seq + 1;
    if (r->seq < expect)
        return mark_broken(v, AUDIT_INSERTED, r->seq,
                           "event %" PRId64 " is numbered before the first event", r->seq);
    if (r->seq > expect) {
        if (r->seq == expect + 1)
            return mark_broken(v, AUDIT_DELETED, expect, "event %" PRId64 " is missing", expect);
        return mark_broken(v, AUDIT_DELETED, expect,
                           "events %" PRId64 " to %" PRId64 " are missing", expect, r->seq - 1);
    }
    if (v->head_valid && r->seq > v->head_seq)
        return mark_broken(v, AUDIT_INSERTED, r->seq,
                           "event %" PRId64 " comes after the sealed head (event %" PRId64
                           "): it was not written by the server",
                           r->seq, v->head_seq);
    if (r->malformed)
        return mark_broken(v, AUDIT_MODIFIED, r->seq,
                           "event %" PRId64 " has a damaged hash or link field", r->seq);
    unsigned char h[AUDIT_HASH_LEN];
    audit_hash(r, r->seq, h);
    bool self_ok = !memcmp(h, r->hash, AUDIT_HASH_LEN);
    bool linked = !memcmp(r->prev, v->last_hash, AUDIT_HASH_LEN);
    if (self_ok && linked) {
        v->last_seq = r->seq;
        memcpy(v->last_hash, r->hash, AUDIT_HASH_LEN);
        if (v->mark_valid && r->seq == v->mark_seq) {
            v->mark_reached = true;
            memcpy(v->mark_stored, r->hash, AUDIT_HASH_LEN);
        }
        v->rep->checked++;
        return true;
    }
    if (linked)
        return mark_broken(v, AUDIT_MODIFIED, r->seq,
                           "event %" PRId64 " was modified: its content no longer matches its hash",
                           r->seq);
    return diagnose(v, sc, r, self_ok);
}

/* After a whole, well-linked chain: does it end where the server sealed it? */
static void v_finish(struct verifier *v)
{
    int64_t n = v->last_seq;
    if (!v->head_present) {
        if (n > 0)
            mark_broken(v, AUDIT_CHECKPOINT, n,
                        "the sealed head is missing: the end of the log cannot be vouched for");
        return;
    }
    if (!v->head_valid) {
        mark_broken(
            v, AUDIT_CHECKPOINT, n > 0 ? n : 1,
            "the sealed head is forged or damaged (or the data directory's pepper changed)");
        return;
    }
    if (v->head_seq > n) {
        if (v->head_seq == n + 1)
            mark_broken(v, AUDIT_TRUNCATED, n + 1, "event %" PRId64 ", the last one, was removed",
                        n + 1);
        else
            mark_broken(v, AUDIT_TRUNCATED, n + 1,
                        "events %" PRId64 " to %" PRId64 ", the end of the log, were removed",
                        n + 1, v->head_seq);
        return;
    }
    if (memcmp(v->head_hash, v->last_hash, AUDIT_HASH_LEN))
        mark_broken(
            v, AUDIT_REWRITTEN, n,
            "the chain is consistent but does not end in its sealed head: events up to %" PRId64
            " were rewritten and rehashed",
            n);
}

/* After a whole chain that ends in its sealed head: does it still hold the
 * event that system.db recorded as written? A tenant's database restored
 * from an older copy ends before it, or holds another event there. */
static void v_mark(struct verifier *v)
{
    int64_t n = v->last_seq;
    if (!v->mark_present)
        return;
    if (!v->mark_valid) {
        mark_broken(v, AUDIT_CHECKPOINT, n > 0 ? n : 1,
                    "the high-water mark recorded in system.db is forged or damaged (or the data "
                    "directory's pepper changed)");
        return;
    }
    if (v->mark_seq > n)
        mark_broken(v, AUDIT_ROLLED_BACK, n + 1,
                    "the log ends at event %" PRId64 " but system.db recorded event %" PRId64
                    " as written: the database was restored from an older copy",
                    n, v->mark_seq);
    else if (!v->mark_reached || memcmp(v->mark_stored, v->mark_hash, AUDIT_HASH_LEN))
        mark_broken(v, AUDIT_ROLLED_BACK, v->mark_seq,
                    "event %" PRId64 " is not the one system.db recorded as written: the "
                    "database was restored from an older copy and written to since",
                    v->mark_seq);
}

/* Reads the log's high-water mark, before the log itself: a mark read after
 * the log's snapshot could name an event appended since. */
static enum lair_err v_read_mark(struct verifier *v)
{
    struct audit_mark m;
    enum lair_err e = audit_store_mark_get(v->log->db, v->log->scope, &m);
    if (e || !m.has)
        return e;
    v->mark_present = true;
    v->mark_valid = head_parse(v->log, m.head, &v->mark_seq, v->mark_hash) && m.seq == v->mark_seq;
    return LAIR_OK;
}

enum lair_err audit_verify(struct audit_log *l, struct audit_report *out)
{
    memset(out, 0, sizeof(*out));
    out->ok = true;
    struct verifier v = {.log = l, .rep = out};
    enum lair_err e = v_read_mark(&v);
    if (!e)
        e = audit_store_scan(l->db, v_begin, v_row, &v);
    if (e) {
        log_error("audit", "cannot read the %s log: %s", l->scope, lair_err_msg(e));
        out->ok = false;
        return e;
    }
    if (!v.broken)
        v_finish(&v);
    if (!v.broken)
        v_mark(&v);
    if (!v.broken) {
        out->reason = AUDIT_INTACT;
        out->checked = v.rep->checked;
        out->head_seq = v.last_seq;
        memcpy(out->head_hash, v.last_hash, AUDIT_HASH_LEN);
    }
    return LAIR_OK;
}

json_t *audit_report_json(const struct audit_report *r)
{
    if (!r->ok)
        return json_pack("{s:b, s:I, s:I, s:s, s:s}", "ok", 0, "events_checked",
                         (json_int_t)r->checked, "broken_at", (json_int_t)r->broken_at, "reason",
                         audit_reason_name(r->reason), "message", r->message);
    json_t *head = json_null();
    if (r->head_seq > 0) {
        char hex[2 * AUDIT_HASH_LEN + 1];
        sodium_bin2hex(hex, sizeof(hex), r->head_hash, AUDIT_HASH_LEN);
        head = json_pack("{s:I, s:s}", "seq", (json_int_t)r->head_seq, "hash", hex);
    }
    return json_pack("{s:b, s:I, s:o*}", "ok", 1, "events", (json_int_t)r->events, "head", head);
}
