/* model_pull: one libcurl easy handle, a DEST.part file that only grows while
 * its bytes match what the server sends, and a SHA-256 state that always covers
 * exactly the bytes in DEST.part. A resume asks for "Range: bytes=N-" and
 * accepts the answer only when it is a 206 whose Content-Range starts at N; a
 * 200 means the server ignored the range, so the part is emptied and the body
 * taken from the start. The digest is checked before the rename, so DEST
 * never names a file that is incomplete or corrupt. */
#include "llm/pull.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/banned.h"

#ifndef LAIR_VERSION
#define LAIR_VERSION "dev"
#endif

#define MB 1e6
#define MAX_RESTARTS 2

/* ---- progress on stderr ---- */

struct progress {
    enum pull_progress mode; /* BAR, LINES or NONE once resolved */
    const char *label;
    double t0, last_draw;
    uint64_t base;      /* bytes already present when timing started */
    int next_decile;    /* LINES: next 10% step to report */
    uint64_t next_mark; /* LINES with an unknown size: next byte count to report */
    bool drawn;         /* BAR: a bar is on the current line */
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void progress_init(struct progress *p, enum pull_progress mode, const char *label)
{
    if (mode == PULL_PROGRESS_AUTO)
        mode = isatty(STDERR_FILENO) ? PULL_PROGRESS_BAR : PULL_PROGRESS_LINES;
    *p = (struct progress){.mode = mode,
                           .label = label,
                           .t0 = now_s(),
                           .next_decile = 1,
                           .next_mark = (uint64_t)(100 * MB)};
}

/* Where the bytes of this run start: rates count only what this call fetched. */
static void progress_rebase(struct progress *p, uint64_t have, int64_t total)
{
    p->base = have;
    p->t0 = now_s();
    p->last_draw = 0;
    p->next_decile = total > 0 ? (int)(have * 10 / (uint64_t)total) + 1 : 1;
    p->next_mark = have + (uint64_t)(100 * MB);
}

static void progress_clear(struct progress *p)
{
    if (p->mode == PULL_PROGRESS_BAR && p->drawn) {
        fputs("\r\033[K", stderr);
        p->drawn = false;
    }
}

static void notice(struct progress *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(struct progress *p, const char *fmt, ...)
{
    if (p->mode == PULL_PROGRESS_NONE)
        return;
    progress_clear(p);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void fmt_eta(char *out, size_t n, double secs)
{
    if (!(secs >= 0) || secs > 99 * 3600) {
        snprintf(out, n, "--:--");
        return;
    }
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%ld:%02ld", s / 60, s % 60);
}

static void fmt_rate(char *out, size_t n, double rate)
{
    if (rate < 0)
        snprintf(out, n, "-- MB/s");
    else
        snprintf(out, n, "%.1f MB/s", rate / MB);
}

static void progress_draw_bar(struct progress *p, uint64_t have, int64_t total, double rate)
{
    char line[200], speed[32];
    fmt_rate(speed, sizeof(speed), rate);
    if (total > 0) {
        double frac = (double)have / (double)total;
        if (frac > 1)
            frac = 1;
        char bar[25];
        int fill = (int)(frac * (double)(sizeof(bar) - 1));
        for (int i = 0; i < (int)sizeof(bar) - 1; i++)
            bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
        bar[sizeof(bar) - 1] = 0;
        char eta[32];
        uint64_t left = have < (uint64_t)total ? (uint64_t)total - have : 0;
        fmt_eta(eta, sizeof(eta), rate > 0 ? (double)left / rate : -1);
        snprintf(line, sizeof(line), "%-20.20s [%s] %3d%% %.1f/%.1f MB %s ETA %s", p->label, bar,
                 (int)(frac * 100), (double)have / MB, (double)total / MB, speed, eta);
    } else {
        snprintf(line, sizeof(line), "%-20.20s %.1f MB %s", p->label, (double)have / MB, speed);
    }
    fprintf(stderr, "\r%s\033[K", line);
    p->drawn = true;
}

static void progress_lines(struct progress *p, uint64_t have, int64_t total, double rate)
{
    char speed[32];
    fmt_rate(speed, sizeof(speed), rate);
    if (total > 0) {
        int decile = (int)(have * 10 / (uint64_t)total);
        if (decile > 10)
            decile = 10;
        if (decile < p->next_decile)
            return;
        p->next_decile = decile + 1;
        fprintf(stderr, "%s: %d%% (%.1f/%.1f MB, %s)\n", p->label, decile * 10, (double)have / MB,
                (double)total / MB, speed);
    } else if (have >= p->next_mark) {
        p->next_mark = have + (uint64_t)(100 * MB);
        fprintf(stderr, "%s: %.1f MB (%s)\n", p->label, (double)have / MB, speed);
    }
}

static void progress_update(struct progress *p, uint64_t have, int64_t total, bool final)
{
    if (p->mode == PULL_PROGRESS_NONE)
        return;
    double t = now_s();
    if (!final && p->mode == PULL_PROGRESS_BAR && t - p->last_draw < 0.2)
        return;
    p->last_draw = t;
    /* Below half a second the rate says more about buffering than about the link. */
    double elapsed = t - p->t0;
    double rate = elapsed >= 0.5 && have > p->base ? (double)(have - p->base) / elapsed : -1;
    if (p->mode == PULL_PROGRESS_BAR)
        progress_draw_bar(p, have, total, rate);
    else
        progress_lines(p, have, total, rate);
    if (final && p->mode == PULL_PROGRESS_BAR) {
        fputc('\n', stderr);
        p->drawn = false;
    }
    fflush(stderr);
}

/* ---- one download ---- */

enum stop {
    STOP_NONE,
    STOP_STATUS,    /* the final response is not 200/206: its body is not written */
    STOP_BAD_RANGE, /* a 206 that does not start where the part ends */
};

struct dl {
    const struct pull_opts *o;
    CURL *curl;
    int fd;
    const char *part;
    uint64_t offset; /* bytes in the part file; the hash covers exactly these */
    int64_t total;   /* expected final size; -1 when unknown */
    crypto_hash_sha256_state sha;
    bool started; /* the current response's body has begun */
    bool resumed;
    enum stop stop;
    int write_errno;
    uint64_t attempt_bytes, fetched;
    /* Content-Range of the latest response: "bytes START-END/TOTAL" or "bytes
     * * /TOTAL"; total -1 when "*". */
    bool has_range;
    uint64_t range_start;
    int64_t range_total;
    struct progress pr;
    char reason[64]; /* reason phrase of the latest status line */
    char errbuf[CURL_ERROR_SIZE];
};

static enum lair_err say(struct buf *msg, enum lair_err e, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static enum lair_err say(struct buf *msg, enum lair_err e, const char *fmt, ...)
{
    if (msg) {
        buf_reset(msg);
        va_list ap;
        va_start(ap, fmt);
        buf_vprintf(msg, fmt, ap);
        va_end(ap);
    }
    return e;
}

static bool parse_u64(const char *s, char **end, uint64_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, end, 10);
    if (errno || v > INT64_MAX)
        return false;
    *out = v;
    return true;
}

/* Reads "Content-Range: bytes A-B/T" or "bytes * /T" (no space) into d. */
static void parse_content_range(struct dl *d, const char *val, size_t len)
{
    char s[128];
    if (len >= sizeof(s))
        return;
    memcpy(s, val, len);
    s[len] = 0;
    char *p = s;
    while (*p == ' ' || *p == '\t')
        p++;
    if (strncasecmp(p, "bytes", 5) != 0)
        return;
    p += 5;
    while (*p == ' ' || *p == '\t')
        p++;
    uint64_t start = 0, end = 0, total = 0;
    if (*p == '*') {
        p++;
    } else {
        if (!parse_u64(p, &p, &start) || *p != '-' || !parse_u64(p + 1, &p, &end) || end < start)
            return;
    }
    if (*p++ != '/')
        return;
    int64_t t = -1;
    if (*p != '*') {
        if (!parse_u64(p, &p, &total))
            return;
        t = (int64_t)total;
    }
    d->has_range = true;
    d->range_start = start;
    d->range_total = t;
}

static size_t on_header(char *data, size_t size, size_t n, void *ud)
{
    struct dl *d = ud;
    size_t len = size * n;
    static const char cr[] = "content-range:";
    /* A status line starts each response of a redirect chain: forget the last one's headers. */
    if (len >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        d->has_range = false;
        d->reason[0] = 0;
        /* "HTTP/1.1 404 Not Found": keep the reason phrase for error messages. */
        const char *sp = memchr(data, ' ', len);
        sp = sp ? memchr(sp + 1, ' ', len - (size_t)(sp + 1 - data)) : NULL;
        if (sp) {
            size_t rlen = len - (size_t)(sp + 1 - data);
            while (rlen && (sp[rlen] == '\r' || sp[rlen] == '\n'))
                rlen--;
            if (rlen >= sizeof(d->reason))
                rlen = sizeof(d->reason) - 1;
            for (size_t i = 0; i < rlen; i++) {
                unsigned char c = (unsigned char)sp[1 + i];
                d->reason[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
            }
            d->reason[rlen] = 0;
        }
    } else if (len > sizeof(cr) - 1 && strncasecmp(data, cr, sizeof(cr) - 1) == 0) {
        size_t vlen = len - (sizeof(cr) - 1);
        const char *v = data + sizeof(cr) - 1;
        while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n'))
            vlen--;
        parse_content_range(d, v, vlen);
    }
    return len;
}

/* Empties the part: the server will send the whole file. */
static bool part_reset(struct dl *d)
{
    if (ftruncate(d->fd, 0) != 0 || lseek(d->fd, 0, SEEK_SET) != 0) {
        d->write_errno = errno;
        return false;
    }
    d->offset = 0;
    d->resumed = false;
    crypto_hash_sha256_init(&d->sha);
    return true;
}

/* Decides, once per response, whether its body continues the part. */
static bool body_begins(struct dl *d)
{
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code == 206) {
        if (!d->has_range || d->range_start != d->offset) {
            d->stop = STOP_BAD_RANGE;
            return false;
        }
        d->total = d->range_total;
    } else if (code == 200) {
        if (d->offset > 0) {
            notice(&d->pr, "%s: the server does not support resuming; starting over", d->pr.label);
            if (!part_reset(d))
                return false;
        }
        curl_off_t cl = -1;
        curl_easy_getinfo(d->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &cl);
        d->total = cl >= 0 ? (int64_t)cl : -1;
    } else {
        d->stop = STOP_STATUS;
        return false;
    }
    progress_rebase(&d->pr, d->offset, d->total);
    return true;
}

static bool write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        len -= (size_t)w;
    }
    return true;
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    struct dl *d = ud;
    size_t len = size * n;
    if (!d->started) {
        d->started = true;
        if (!body_begins(d))
            return 0;
    }
    if (d->stop != STOP_NONE)
        return 0;
    if (!write_all(d->fd, data, len)) {
        d->write_errno = errno ? errno : EIO;
        return 0;
    }
    crypto_hash_sha256_update(&d->sha, (const unsigned char *)data, len);
    d->offset += len;
    d->attempt_bytes += len;
    d->fetched += len;
    progress_update(&d->pr, d->offset, d->total, false);
    return len;
}

enum outcome {
    OUT_DONE,
    OUT_RETRY,   /* the connection dropped: resume from the part */
    OUT_RESTART, /* the part cannot be continued: start over from zero */
    OUT_FAIL,
};

static bool transient(CURLcode rc)
{
    switch (rc) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return true;
    default: return false;
    }
}

static enum outcome attempt(struct dl *d, enum lair_err *err, struct buf *msg)
{
    char range[32];
    d->started = false;
    d->stop = STOP_NONE;
    d->has_range = false;
    d->reason[0] = 0;
    d->attempt_bytes = 0;
    d->errbuf[0] = 0;
    if (d->offset > 0) {
        snprintf(range, sizeof(range), "%" PRIu64 "-", d->offset);
        curl_easy_setopt(d->curl, CURLOPT_RANGE, range);
    } else {
        curl_easy_setopt(d->curl, CURLOPT_RANGE, (char *)NULL);
    }
    CURLcode rc = curl_easy_perform(d->curl);
    long code = 0;
    curl_easy_getinfo(d->curl, CURLINFO_RESPONSE_CODE, &code);

    if (d->write_errno) {
        *err = say(msg, LAIR_EIO, "cannot write %s: %s", d->part, strerror(d->write_errno));
        return OUT_FAIL;
    }
    if (code == 416) {
        /* Nothing left past our offset: either the part is already whole, or it is
         * longer than the file (which changed on the server). */
        if (d->offset > 0 && d->has_range && d->range_total == (int64_t)d->offset) {
            d->total = d->range_total;
            return OUT_DONE;
        }
        return OUT_RESTART;
    }
    if (d->stop == STOP_BAD_RANGE)
        return OUT_RESTART;
    if (rc == CURLE_OK && !d->started && (code == 200 || code == 206)) {
        /* An empty body: the write callback never ran. */
        if (!body_begins(d)) {
            if (d->write_errno) {
                *err = say(msg, LAIR_EIO, "cannot write %s: %s", d->part, strerror(d->write_errno));
                return OUT_FAIL;
            }
            return OUT_RESTART;
        }
    }
    if (d->stop == STOP_STATUS || (rc == CURLE_OK && code != 200 && code != 206)) {
        char *eff = NULL;
        curl_easy_getinfo(d->curl, CURLINFO_EFFECTIVE_URL, &eff);
        *err = say(msg, LAIR_ENET, "HTTP %ld%s%s from %s", code, d->reason[0] ? " " : "", d->reason,
                   eff ? eff : d->o->url);
        return OUT_FAIL;
    }
    if (rc != CURLE_OK) {
        const char *why = d->errbuf[0] ? d->errbuf : curl_easy_strerror(rc);
        if (transient(rc) || (d->attempt_bytes > 0 && rc == CURLE_OPERATION_TIMEDOUT)) {
            *err = say(msg, LAIR_ENET, "%s", why);
            return OUT_RETRY;
        }
        if (rc == CURLE_UNSUPPORTED_PROTOCOL)
            *err = say(msg, LAIR_ENET, "%s redirects to a URL that is not http(s); refused",
                       d->o->url);
        else
            *err = say(msg, LAIR_ENET, "cannot download %s: %s", d->o->url, why);
        return OUT_FAIL;
    }
    if (d->total >= 0 && d->offset != (uint64_t)d->total) {
        *err = say(msg, LAIR_ENET,
                   "the server closed the connection at %" PRIu64 " of %" PRId64 " bytes",
                   d->offset, d->total);
        return OUT_RETRY;
    }
    return OUT_DONE;
}

static void hex32(const unsigned char *h, char out[65])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = digits[h[i] >> 4];
        out[2 * i + 1] = digits[h[i] & 15];
    }
    out[64] = 0;
}

bool pull_sha256_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')))
            return false;
    }
    return i == 64;
}

static bool hex_eq(const char *a, const char *b)
{
    for (int i = 0; i < 64; i++) {
        char x = a[i], y = b[i];
        if (x >= 'A' && x <= 'F')
            x = (char)(x - 'A' + 'a');
        if (y >= 'A' && y <= 'F')
            y = (char)(y - 'A' + 'a');
        if (x != y)
            return false;
    }
    return true;
}

/* Feeds the first len bytes of fd to the hash. */
static bool hash_fd(int fd, uint64_t len, crypto_hash_sha256_state *st)
{
    enum { CHUNK = 1 << 20 };
    unsigned char *chunk = malloc(CHUNK);
    if (!chunk || lseek(fd, 0, SEEK_SET) != 0) {
        free(chunk);
        return false;
    }
    while (len) {
        size_t want = len < CHUNK ? (size_t)len : CHUNK;
        ssize_t r = read(fd, chunk, want);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0)
                errno = EIO; /* the file shrank under us */
            free(chunk);
            return false;
        }
        crypto_hash_sha256_update(st, chunk, (size_t)r);
        len -= (uint64_t)r;
    }
    free(chunk);
    return true;
}

static enum lair_err hash_file(const char *path, char hex[65], struct buf *msg)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return say(msg, LAIR_EIO, "cannot read %s: %s", path, strerror(e));
    }
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    bool ok = hash_fd(fd, (uint64_t)sb.st_size, &st);
    int e = errno;
    close(fd);
    if (!ok)
        return say(msg, LAIR_EIO, "cannot read %s: %s", path, strerror(e ? e : EIO));
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&st, h);
    hex32(h, hex);
    return LAIR_OK;
}

/* Makes the rename durable: the directory entry, not only the data. */
static void sync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    struct buf dir;
    buf_init(&dir, 0);
    if (!slash)
        buf_puts(&dir, ".");
    else if (slash == path)
        buf_puts(&dir, "/");
    else
        buf_append(&dir, path, (size_t)(slash - path));
    if (dir.ptr) {
        int fd = open(dir.ptr, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0) {
            fsync(fd);
            close(fd);
        }
    }
    buf_release(&dir);
}

static void curl_setup(struct dl *d)
{
    const struct pull_opts *o = d->o;
    CURL *c = d->curl;
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, o->max_redirects > 0 ? o->max_redirects : 10L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT,
                     o->connect_timeout_s > 0 ? o->connect_timeout_s : 30L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                     o->low_speed_time_s > 0 ? o->low_speed_time_s : 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "libreair/" LAIR_VERSION);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, d->errbuf);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, d);
}

static bool url_allowed(const char *url)
{
    return strncasecmp(url, "http://", 7) == 0 || strncasecmp(url, "https://", 8) == 0;
}

static const char *base_name(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

/* Runs attempts until the part is whole or it is time to give up. */
static enum lair_err fetch(struct dl *d, struct buf *msg)
{
    int retries = d->o->retries == 0 ? 5 : (d->o->retries < 0 ? 0 : d->o->retries);
    int restarts = 0, idle = 0;
    for (int tries = 0;;) {
        enum lair_err err = LAIR_OK;
        enum outcome out = attempt(d, &err, msg);
        if (out == OUT_DONE)
            return LAIR_OK;
        if (out == OUT_FAIL)
            return err;
        if (out == OUT_RESTART) {
            if (++restarts > MAX_RESTARTS)
                return say(msg, LAIR_ENET, "the server keeps answering with the wrong range");
            notice(&d->pr,
                   "%s: the partial download does not match the server's file; "
                   "starting over",
                   d->pr.label);
            if (!part_reset(d))
                return say(msg, LAIR_EIO, "cannot write %s: %s", d->part, strerror(d->write_errno));
            continue;
        }
        if (tries++ >= retries) {
            if (d->offset > 0 && msg)
                buf_printf(msg, "; %.1f MB kept in %s, run the same command again to resume",
                           (double)d->offset / MB, d->part);
            return err;
        }
        idle = d->attempt_bytes > 0 ? 0 : idle + 1;
        unsigned delay = 1u << (idle < 5 ? idle : 5);
        notice(&d->pr, "%s: %s; resuming at %.1f MB in %u s (retry %d of %d)", d->pr.label,
               msg ? msg->ptr : "connection lost", (double)d->offset / MB, delay, tries, retries);
        sleep(delay);
    }
}

/* DEST is already there: nothing to fetch, but a digest must still hold. */
static enum lair_err check_existing(const struct pull_opts *o, struct pull_result *res,
                                    struct buf *msg)
{
    struct stat sb;
    if (stat(o->dest, &sb) != 0)
        return say(msg, LAIR_EIO, "cannot read %s: %s", o->dest, strerror(errno));
    res->size = (uint64_t)sb.st_size;
    res->already = true;
    if (!o->sha256)
        return LAIR_OK;
    enum lair_err e = hash_file(o->dest, res->sha256, msg);
    if (e)
        return e;
    if (!hex_eq(res->sha256, o->sha256))
        return say(msg, LAIR_ECONFLICT,
                   "%s already exists with sha256 %s, not %s; remove it or choose another "
                   "destination",
                   o->dest, res->sha256, o->sha256);
    return LAIR_OK;
}

static enum lair_err open_part(struct dl *d, struct buf *msg)
{
    d->fd = open(d->part, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (d->fd < 0)
        return say(msg, LAIR_EIO, "cannot open %s: %s", d->part, strerror(errno));
    if (flock(d->fd, LOCK_EX | LOCK_NB) != 0)
        return say(msg, errno == EWOULDBLOCK ? LAIR_EBUSY : LAIR_EIO,
                   "%s is being written by another download", d->part);
    struct stat sb;
    if (fstat(d->fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return say(msg, LAIR_EIO, "%s is not a regular file", d->part);
    crypto_hash_sha256_init(&d->sha);
    d->offset = (uint64_t)sb.st_size;
    /* The digest of a resumed file covers the bytes already there. */
    if (d->offset > 0 && !hash_fd(d->fd, d->offset, &d->sha))
        return say(msg, LAIR_EIO, "cannot read %s: %s", d->part, strerror(errno ? errno : EIO));
    if (lseek(d->fd, (off_t)d->offset, SEEK_SET) < 0)
        return say(msg, LAIR_EIO, "cannot seek %s: %s", d->part, strerror(errno));
    d->resumed = d->offset > 0;
    return LAIR_OK;
}

/* The part is whole: check its digest, make it durable, give it its name. */
static enum lair_err finish(struct dl *d, struct pull_result *res, struct buf *msg)
{
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&d->sha, h);
    hex32(h, res->sha256);
    res->size = d->offset;
    if (d->o->sha256 && !hex_eq(res->sha256, d->o->sha256)) {
        unlink(d->part);
        return say(msg, LAIR_ECHECKSUM,
                   "sha256 mismatch: expected %s, got %s; the download was deleted", d->o->sha256,
                   res->sha256);
    }
    if (fsync(d->fd) != 0)
        return say(msg, LAIR_EIO, "cannot write %s: %s", d->part, strerror(errno));
    if (rename(d->part, d->o->dest) != 0)
        return say(msg, LAIR_EIO, "cannot rename %s to %s: %s", d->part, d->o->dest,
                   strerror(errno));
    sync_parent_dir(d->o->dest);
    return LAIR_OK;
}

enum lair_err model_pull(const struct pull_opts *o, struct pull_result *res, struct buf *msg)
{
    struct pull_result local;
    if (!res)
        res = &local;
    *res = (struct pull_result){0};
    if (!o || !o->url || !o->dest || !*o->dest)
        return say(msg, LAIR_EINVAL, "a URL and a destination are required");
    if (!url_allowed(o->url))
        return say(msg, LAIR_EINVAL, "only http:// and https:// URLs can be downloaded");
    if (o->sha256 && !pull_sha256_valid(o->sha256))
        return say(msg, LAIR_EINVAL, "a sha256 digest is 64 hexadecimal digits");
    if (sodium_init() < 0)
        return say(msg, LAIR_EINTERNAL, "libsodium failed to initialise");
    if (access(o->dest, F_OK) == 0)
        return check_existing(o, res, msg);

    struct buf part;
    buf_init(&part, 0);
    if (buf_printf(&part, "%s.part", o->dest) != LAIR_OK) {
        buf_release(&part);
        return say(msg, LAIR_ENOMEM, "out of memory");
    }
    struct dl d = {.o = o, .fd = -1, .part = part.ptr, .total = -1};
    progress_init(&d.pr, o->progress, base_name(o->dest));

    enum lair_err e = open_part(&d, msg);
    if (e == LAIR_OK && curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        e = say(msg, LAIR_EINTERNAL, "libcurl failed to initialise");
    else if (e == LAIR_OK) {
        d.curl = curl_easy_init();
        if (!d.curl) {
            e = say(msg, LAIR_ENOMEM, "libcurl could not create a handle");
        } else {
            curl_setup(&d);
            notice(&d.pr, "%s: downloading %s", d.pr.label, o->url);
            if (d.resumed)
                notice(&d.pr, "%s: resuming at %.1f MB", d.pr.label, (double)d.offset / MB);
            e = fetch(&d, msg);
            if (e == LAIR_OK)
                progress_update(&d.pr, d.offset, d.total, true);
            else
                progress_clear(&d.pr);
            res->resumed = d.resumed;
            res->fetched = d.fetched;
            if (e == LAIR_OK)
                e = finish(&d, res, msg);
            else if (d.offset == 0)
                unlink(d.part); /* nothing worth resuming: leave no litter */
            curl_easy_cleanup(d.curl);
        }
        curl_global_cleanup();
    }
    if (d.fd >= 0)
        close(d.fd);
    buf_release(&part);
    return e;
}
