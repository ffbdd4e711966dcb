/* A minimal ustar writer and reader (ops/tar.h). */
#include "ops/tar.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "core/banned.h"

#define BLOCK 512
#define CHUNK (1 << 20)
#define OCTAL_SIZE_MAX 077777777777ULL /* 11 octal digits */
#define SIZE_SANE_MAX ((uint64_t)1 << 50)

/* ---- writing ---- */

static enum lair_err put(struct tar_writer *w, const void *p, size_t n)
{
    const char *c = p;
    while (n) {
        ssize_t k = write(w->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return db_file_err(k < 0 ? errno : ENOSPC);
        ops_sha256_update(&w->sha, c, (size_t)k);
        c += k;
        n -= (size_t)k;
    }
    return LAIR_OK;
}

enum lair_err tar_write_open(struct tar_writer *w, const char *path)
{
    memset(w, 0, sizeof(*w));
    w->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (w->fd < 0)
        return db_file_err(errno);
    ops_sha256_init(&w->sha);
    return LAIR_OK;
}

static void octal(char *field, size_t width, uint64_t v)
{
    /* width - 1 digits and a NUL */
    snprintf(field, width, "%0*llo", (int)(width - 1), (unsigned long long)v);
}

static enum lair_err header(struct tar_writer *w, const char *name, uint64_t size)
{
    size_t nl = strlen(name);
    if (nl == 0 || nl > 100)
        return LAIR_EINVAL;
    unsigned char h[BLOCK];
    memset(h, 0, sizeof(h));
    memcpy(h, name, nl);
    octal((char *)h + 100, 8, 0600);
    octal((char *)h + 108, 8, 0);
    octal((char *)h + 116, 8, 0);
    if (size <= OCTAL_SIZE_MAX) {
        octal((char *)h + 124, 12, size);
    } else { /* base-256: the high bit of the first byte, then big-endian */
        h[124] = 0x80;
        for (int i = 0; i < 8; i++)
            h[135 - i] = (unsigned char)(size >> (8 * i));
    }
    octal((char *)h + 136, 12, (uint64_t)time(NULL));
    memset(h + 148, ' ', 8);
    h[156] = '0';
    memcpy(h + 257, "ustar", 6);
    memcpy(h + 263, "00", 2);
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += h[i];
    snprintf((char *)h + 148, 8, "%06o", sum);
    h[155] = ' ';
    return put(w, h, sizeof(h));
}

static enum lair_err pad(struct tar_writer *w, uint64_t size)
{
    static const unsigned char zeros[BLOCK];
    size_t r = (size_t)(size % BLOCK);
    return r ? put(w, zeros, BLOCK - r) : LAIR_OK;
}

enum lair_err tar_write_bytes(struct tar_writer *w, const char *name, const void *p, size_t n)
{
    enum lair_err e = header(w, name, n);
    if (!e)
        e = put(w, p, n);
    if (!e)
        e = pad(w, n);
    return e;
}

enum lair_err tar_write_file(struct tar_writer *w, const char *name, const char *src)
{
    int fd = open(src, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    off_t size = lseek(fd, 0, SEEK_END);
    if (size < 0 || lseek(fd, 0, SEEK_SET) != 0) {
        close(fd);
        return LAIR_EIO;
    }
    enum lair_err e = header(w, name, (uint64_t)size);
    char *b = e ? NULL : malloc(CHUNK);
    if (!e && !b)
        e = LAIR_ENOMEM;
    uint64_t left = (uint64_t)size;
    while (!e && left) {
        ssize_t r = read(fd, b, left < CHUNK ? (size_t)left : CHUNK);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) /* the file shrank under us, or cannot be read */
            e = LAIR_EIO;
        else {
            e = put(w, b, (size_t)r);
            left -= (uint64_t)r;
        }
    }
    free(b);
    close(fd);
    if (!e)
        e = pad(w, (uint64_t)size);
    return e;
}

enum lair_err tar_write_finish(struct tar_writer *w, char hex[OPS_SHA256_HEX])
{
    static const unsigned char zeros[2 * BLOCK];
    enum lair_err e = put(w, zeros, sizeof(zeros));
    if (!e && fsync(w->fd) != 0)
        e = db_file_err(errno);
    if (close(w->fd) != 0 && !e)
        e = db_file_err(errno);
    w->fd = -1;
    if (!e)
        ops_sha256_final(&w->sha, hex);
    return e;
}

void tar_write_abort(struct tar_writer *w)
{
    if (w->fd >= 0)
        close(w->fd);
    w->fd = -1;
}

/* ---- reading ---- */

enum lair_err tar_read_open(struct tar_reader *r, const char *path)
{
    memset(r, 0, sizeof(*r));
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0)
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    return LAIR_OK;
}

void tar_read_close(struct tar_reader *r)
{
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
}

static enum lair_err get(struct tar_reader *r, void *p, size_t n)
{
    char *c = p;
    while (n) {
        ssize_t k = read(r->fd, c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return LAIR_EIO; /* truncated */
        c += k;
        n -= (size_t)k;
    }
    return LAIR_OK;
}

static enum lair_err skip(struct tar_reader *r, uint64_t n)
{
    if (n && lseek(r->fd, (off_t)n, SEEK_CUR) < 0)
        return LAIR_EIO;
    return LAIR_OK;
}

static bool parse_octal(const unsigned char *f, size_t width, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    while (i < width && f[i] == ' ')
        i++;
    size_t digits = 0;
    for (; i < width && f[i] >= '0' && f[i] <= '7'; i++, digits++) {
        if (v > (UINT64_MAX >> 3))
            return false;
        v = (v << 3) | (uint64_t)(f[i] - '0');
    }
    for (; i < width; i++)
        if (f[i] != 0 && f[i] != ' ')
            return false;
    *out = v;
    return digits > 0;
}

static bool parse_size(const unsigned char *f, uint64_t *out)
{
    if (!(f[0] & 0x80))
        return parse_octal(f, 12, out);
    if (f[0] != 0x80 || f[1] || f[2] || f[3])
        return false; /* negative, or more than 64 bits */
    uint64_t v = 0;
    for (int i = 4; i < 12; i++)
        v = (v << 8) | f[i];
    *out = v;
    return true;
}

enum lair_err tar_read_next(struct tar_reader *r, char name[TAR_NAME_MAX], uint64_t *size)
{
    enum lair_err e = skip(r, r->left + r->padding);
    r->left = r->padding = 0;
    if (e)
        return e;
    unsigned char h[BLOCK];
    if ((e = get(r, h, sizeof(h))))
        return e;
    bool zero = true;
    for (size_t i = 0; i < BLOCK && zero; i++)
        zero = h[i] == 0;
    if (zero)
        return LAIR_ENOTFOUND;
    uint64_t want;
    if (!parse_octal(h + 148, 8, &want))
        return LAIR_ECHECKSUM;
    unsigned sum = 0;
    for (size_t i = 0; i < BLOCK; i++)
        sum += i >= 148 && i < 156 ? ' ' : h[i];
    if (sum != want)
        return LAIR_ECHECKSUM;
    if (h[156] != '0' && h[156] != 0)
        return LAIR_EUNSUPPORTED;
    uint64_t n;
    if (!parse_size(h + 124, &n) || n > SIZE_SANE_MAX)
        return LAIR_ECHECKSUM;
    char base[101], prefix[156];
    memcpy(base, h, 100);
    base[100] = 0;
    memcpy(prefix, h + 345, 155);
    prefix[155] = 0;
    if (prefix[0] && !memcmp(h + 257, "ustar", 5))
        ops_textf(name, TAR_NAME_MAX, "%s/%s", prefix, base);
    else
        ops_textf(name, TAR_NAME_MAX, "%s", base);
    *size = n;
    r->left = n;
    r->padding = n % BLOCK ? BLOCK - n % BLOCK : 0;
    return LAIR_OK;
}

enum lair_err tar_read_extract(struct tar_reader *r, const char *dst, char hex[OPS_SHA256_HEX])
{
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0)
        return db_file_err(errno);
    char *b = malloc(CHUNK);
    enum lair_err e = b ? LAIR_OK : LAIR_ENOMEM;
    struct ops_sha256 h;
    ops_sha256_init(&h);
    while (!e && r->left) {
        size_t n = r->left < CHUNK ? (size_t)r->left : CHUNK;
        if ((e = get(r, b, n)))
            break;
        r->left -= n;
        ops_sha256_update(&h, b, n);
        const char *p = b;
        while (n && !e) {
            ssize_t k = write(out, p, n);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                e = db_file_err(k < 0 ? errno : ENOSPC);
            else {
                p += k;
                n -= (size_t)k;
            }
        }
    }
    free(b);
    if (!e && fsync(out) != 0)
        e = db_file_err(errno);
    if (close(out) != 0 && !e)
        e = db_file_err(errno);
    if (e) {
        unlink(dst);
        return e;
    }
    ops_sha256_final(&h, hex);
    return LAIR_OK;
}

enum lair_err tar_read_bytes(struct tar_reader *r, size_t max, char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (r->left > max)
        return LAIR_ETOOBIG;
    char *b = malloc((size_t)r->left + 1);
    if (!b)
        return LAIR_ENOMEM;
    enum lair_err e = get(r, b, (size_t)r->left);
    if (e) {
        free(b);
        return e;
    }
    *n = (size_t)r->left;
    b[*n] = 0;
    r->left = 0;
    *out = b;
    return LAIR_OK;
}
