/* File helpers of backups and tenant moves (ops/files.h). */
#include "ops/files.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/db.h"
#include "core/banned.h"

#define CHUNK (1 << 20)

enum lair_err ops_fail(struct ops_error *err, enum lair_err e, const char *fmt, ...)
{
    if (err && !err->text[0]) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->text, sizeof(err->text), fmt, ap);
        va_end(ap);
    }
    return e;
}

bool ops_pathf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(out, n, fmt, ap);
    va_end(ap);
    if (r < 0 || (size_t)r >= n) {
        if (n)
            out[0] = 0;
        return false;
    }
    return true;
}

void ops_textf(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

void ops_sha256_init(struct ops_sha256 *h)
{
    crypto_hash_sha256_init(&h->st);
}

void ops_sha256_update(struct ops_sha256 *h, const void *p, size_t n)
{
    crypto_hash_sha256_update(&h->st, p, n);
}

void ops_sha256_final(struct ops_sha256 *h, char hex[OPS_SHA256_HEX])
{
    unsigned char d[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_final(&h->st, d);
    sodium_bin2hex(hex, OPS_SHA256_HEX, d, sizeof(d));
}

static ssize_t read_full(int fd, char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

static int write_full(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            if (w == 0)
                errno = ENOSPC;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

enum lair_err ops_file_sha256(const char *path, char hex[OPS_SHA256_HEX], uint64_t *size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    char *b = malloc(CHUNK);
    if (!b) {
        close(fd);
        return LAIR_ENOMEM;
    }
    struct ops_sha256 h;
    ops_sha256_init(&h);
    uint64_t total = 0;
    ssize_t r;
    while ((r = read_full(fd, b, CHUNK)) > 0) {
        ops_sha256_update(&h, b, (size_t)r);
        total += (uint64_t)r;
    }
    free(b);
    close(fd);
    if (r < 0)
        return LAIR_EIO;
    ops_sha256_final(&h, hex);
    if (size)
        *size = total;
    return LAIR_OK;
}

enum lair_err ops_copy_file(const char *src, const char *dst, uint64_t limit,
                            char hex[OPS_SHA256_HEX], uint64_t *size)
{
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    int out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (out < 0) {
        enum lair_err e = db_file_err(errno);
        close(in);
        return e;
    }
    char *b = malloc(CHUNK);
    enum lair_err e = b ? LAIR_OK : LAIR_ENOMEM;
    struct ops_sha256 h;
    ops_sha256_init(&h);
    uint64_t total = 0;
    while (!e && total < limit) {
        size_t want = limit - total < CHUNK ? (size_t)(limit - total) : CHUNK;
        ssize_t r = read_full(in, b, want);
        if (r < 0)
            e = LAIR_EIO;
        else if (r == 0)
            break;
        else if (write_full(out, b, (size_t)r) != 0)
            e = db_file_err(errno);
        else {
            ops_sha256_update(&h, b, (size_t)r);
            total += (uint64_t)r;
        }
    }
    free(b);
    close(in);
    if (!e && fsync(out) != 0)
        e = db_file_err(errno);
    if (close(out) != 0 && !e)
        e = db_file_err(errno);
    if (e) {
        unlink(dst);
        return e;
    }
    if (hex)
        ops_sha256_final(&h, hex);
    if (size)
        *size = total;
    return LAIR_OK;
}

enum lair_err ops_mkdirs(const char *dir)
{
    char p[OPS_PATH_MAX];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(p))
        return LAIR_EINVAL;
    memcpy(p, dir, n + 1);
    for (char *q = p + 1; *q; q++) {
        if (*q != '/')
            continue;
        *q = 0;
        if (mkdir(p, 0700) != 0 && errno != EEXIST)
            return db_file_err(errno);
        *q = '/';
    }
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return db_file_err(errno);
    return LAIR_OK;
}

enum lair_err ops_sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return LAIR_EIO;
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    return rc == 0 ? LAIR_OK : db_file_err(err);
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void ops_remove_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

enum lair_err ops_dir_state(const char *path, bool *exists, bool *empty)
{
    *exists = *empty = false;
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? LAIR_OK : LAIR_EIO;
    *exists = true;
    if (!S_ISDIR(st.st_mode))
        return LAIR_EINVAL;
    DIR *d = opendir(path);
    if (!d)
        return LAIR_EIO;
    struct dirent *ent;
    *empty = true;
    while ((ent = readdir(d)))
        if (strcmp(ent->d_name, ".") && strcmp(ent->d_name, "..")) {
            *empty = false;
            break;
        }
    closedir(d);
    return LAIR_OK;
}

void ops_parent(const char *path, char *out, size_t n)
{
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(out, n, ".");
    else if (slash == path)
        snprintf(out, n, "/");
    else
        snprintf(out, n, "%.*s", (int)(slash - path), path);
}

bool ops_relpath_safe(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > 255 || rel[0] == '/')
        return false;
    const char *p = rel;
    while (*p) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        for (size_t i = 0; i < len; i++) {
            char c = p[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-'))
                return false;
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return rel[n - 1] != '/';
}

enum lair_err ops_write_file(const char *path, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return db_file_err(errno);
    enum lair_err e = write_full(fd, p, n) == 0 ? LAIR_OK : db_file_err(errno);
    if (!e && fsync(fd) != 0)
        e = db_file_err(errno);
    if (close(fd) != 0 && !e)
        e = db_file_err(errno);
    if (e)
        unlink(path);
    return e;
}

enum lair_err ops_read_file(const char *path, size_t max, char **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? LAIR_ENOTFOUND : LAIR_EIO;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return LAIR_EIO;
    }
    if ((uint64_t)st.st_size > max) {
        close(fd);
        return LAIR_ETOOBIG;
    }
    char *b = malloc((size_t)st.st_size + 1);
    if (!b) {
        close(fd);
        return LAIR_ENOMEM;
    }
    ssize_t r = read_full(fd, b, (size_t)st.st_size);
    close(fd);
    if (r != (ssize_t)st.st_size) {
        free(b);
        return LAIR_EIO;
    }
    b[r] = 0;
    *out = b;
    *n = (size_t)r;
    return LAIR_OK;
}

int64_t ops_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ops_format_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    char s[24];
    if (!gmtime_r(&t, &tm) || !strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm))
        snprintf(s, sizeof(s), "%lld", (long long)t);
    snprintf(out, 32, "%s.%03dZ", s, (int)(ms % 1000));
}

enum lair_err ops_files_add(struct ops_files *l, const char *path, uint64_t size,
                            const char sha256[OPS_SHA256_HEX])
{
    if (strlen(path) >= sizeof(l->v[0].path))
        return LAIR_EINVAL;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct ops_file *v = realloc(l->v, cap * sizeof(*v));
        if (!v)
            return LAIR_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct ops_file *f = &l->v[l->n++];
    snprintf(f->path, sizeof(f->path), "%s", path);
    f->size = size;
    memcpy(f->sha256, sha256, OPS_SHA256_HEX);
    return LAIR_OK;
}

enum lair_err ops_files_add_hashed(struct ops_files *l, const char *dir, const char *rel)
{
    char path[OPS_PATH_MAX + 512], hex[OPS_SHA256_HEX];
    uint64_t size;
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    enum lair_err e = ops_file_sha256(path, hex, &size);
    return e ? e : ops_files_add(l, rel, size, hex);
}

const struct ops_file *ops_files_find(const struct ops_files *l, const char *path)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].path, path))
            return &l->v[i];
    return NULL;
}

void ops_files_release(struct ops_files *l)
{
    free(l->v);
    memset(l, 0, sizeof(*l));
}

enum lair_err ops_stage_beside(const char *target, const char *what, char *stage, size_t n)
{
    char parent[OPS_PATH_MAX];
    ops_parent(target, parent, sizeof(parent));
    enum lair_err e = ops_mkdirs(parent);
    if (e)
        return e;
    size_t len = strlen(target);
    while (len > 1 && target[len - 1] == '/')
        len--;
    if (!ops_pathf(stage, n, "%.*s.%s-%ld", (int)len, target, what, (long)getpid()))
        return LAIR_EINVAL;
    ops_remove_tree(stage);
    return ops_mkdirs(stage);
}
